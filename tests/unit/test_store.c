/* SPDX-License-Identifier: MIT */
/*
 * Unit tests of the durable store (src/daemon/store.c) against real SQLite
 * files in a temporary directory: schema creation, recording ops (history
 * rows and the current state), loading back exactly, idempotent op ids,
 * the stored mode, the repeat-offender count by prefix, the refusal of
 * damaged, truncated, foreign and newer files (left as they were), of a
 * file this user may only read (as a user other than root), a full disk
 * (SQLite's max_page_count) reported as IPW_ENOSPC with nothing
 * half-applied, and SQLite's reason for a failed record kept across the
 * rollback.
 */
#include <fcntl.h>
#include <ftw.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <ipwall/addr.h>
#include <ipwall/errcode.h>

#include "oplog/audit.h"
#include "oplog/history.h"
#include "oplog/store.h"
#include "tap.h"

static char dir[] = "/tmp/ipwall-test-store-XXXXXX";
static char path[256];

struct loaded {
	struct ipw_entry_info v[64];
	size_t n;
	size_t calls;
};

static int collect(void *ctx, const struct ipw_entry_info *v, size_t n)
{
	struct loaded *l = ctx;

	l->calls++;
	for (size_t i = 0; i < n && l->n < 64; i++)
		l->v[l->n++] = v[i];
	return 0;
}

static struct ipw_entry_info entry(const char *target, enum ipw_list list,
				   int64_t expires, uint32_t score,
				   const char *reason)
{
	struct ipw_entry_info e;

	memset(&e, 0, sizeof(e));
	if (ipw_addr_parse_str(target, 0, &e.target) != 0)
		abort();
	e.list = list;
	e.expires = expires;
	e.created = 1790000000;
	e.score = score;
	e.hits = 7;
	e.last_hit = 1790000100;
	snprintf(e.reason, sizeof(e.reason), "%s", reason);
	snprintf(e.actor, sizeof(e.actor), "token:admin");
	snprintf(e.source, sizeof(e.source), "sshd");
	return e;
}

static struct ipwd_oprec rec(const char *id, enum ipwd_action a,
			     const struct ipw_entry_info *before,
			     const struct ipw_entry_info *after, int change)
{
	const struct ipw_entry_info *e = after ? after : before;
	struct ipwd_oprec r;

	memset(&r, 0, sizeof(r));
	r.id = id;
	r.time = 1790000000;
	r.actor = "token:admin";
	r.node = "node-a";
	r.action = a;
	if (e) {
		r.list = e->list;
		r.target = e->target;
	}
	r.change = change;
	r.before = before;
	r.after = after;
	return r;
}

static bool same_entry(const struct ipw_entry_info *a,
		       const struct ipw_entry_info *b)
{
	return ipw_addr_equal(&a->target, &b->target) && a->list == b->list &&
	       a->expires == b->expires && a->created == b->created &&
	       a->score == b->score && a->flags == b->flags &&
	       a->hits == b->hits && a->last_hit == b->last_hit &&
	       strcmp(a->reason, b->reason) == 0 &&
	       strcmp(a->actor, b->actor) == 0 &&
	       strcmp(a->source, b->source) == 0;
}

static int apply(struct ipwd_store *s, const struct ipwd_oprec *r, size_t n)
{
	int rc = ipwd_store_begin(s);

	for (size_t i = 0; rc == 0 && i < n; i++)
		rc = ipwd_store_record(s, &r[i]);
	if (rc == 0)
		rc = ipwd_store_commit(s);
	if (rc != 0)
		ipwd_store_rollback(s);
	return rc;
}

static void write_file(const char *p, const void *data, size_t len)
{
	FILE *f = fopen(p, "wb");

	if (f == NULL || fwrite(data, 1, len, f) != len)
		abort();
	fclose(f);
}

static char *read_file(const char *p, size_t *len)
{
	FILE *f = fopen(p, "rb");
	char *b;
	long n;

	if (f == NULL)
		return NULL;
	fseek(f, 0, SEEK_END);
	n = ftell(f);
	fseek(f, 0, SEEK_SET);
	b = malloc((size_t)n + 1);
	if (b == NULL || fread(b, 1, (size_t)n, f) != (size_t)n)
		abort();
	fclose(f);
	*len = (size_t)n;
	return b;
}

static void test_roundtrip(void)
{
	struct ipw_entry_info a = entry("203.0.113.7", IPW_LIST_BAN, 1790003600,
					5, "ssh brute force");
	struct ipw_entry_info a2 = a, b = entry("2001:db8::/32", IPW_LIST_BAN,
						0, 0, "");
	struct ipw_entry_info c = entry("198.51.100.7", IPW_LIST_ALLOW, 0, 0,
					"office \"NAT\"\nline 2");
	struct ipwd_oprec r[6];
	struct ipwd_store *s = NULL;
	struct loaded l = {0};
	char err[512] = "";
	int mode = 99, rc;

	a2.expires = 1790007200;
	a2.score = 9;
	rc = ipwd_store_open(&s, path, IPWD_SYNC_FULL, err, sizeof(err));
	if (!ok(rc == 0 && s, "open creates %s", path))
		diag("%s", err);
	if (s == NULL)
		exit(1);
	is_int(ipwd_store_op_count(s), 0, "a new store has no ops");
	r[0] = rec("0190a000-0000-7000-8000-000000000001", IPWD_ACT_BAN, NULL,
		   &a, IPW_CHANGE_ADDED);
	r[1] = rec("0190a000-0000-7000-8000-000000000002", IPWD_ACT_BAN, &a,
		   &a2, IPW_CHANGE_EXTENDED);
	r[2] = rec("0190a000-0000-7000-8000-000000000003", IPWD_ACT_BAN, NULL,
		   &b, IPW_CHANGE_ADDED);
	r[3] = rec("0190a000-0000-7000-8000-000000000004", IPWD_ACT_ALLOW, NULL,
		   &c, IPW_CHANGE_ADDED);
	r[4] = rec("0190a000-0000-7000-8000-000000000005", IPWD_ACT_UNBAN, &b,
		   NULL, IPW_CHANGE_REMOVED);
	r[5] = rec("0190a000-0000-7000-8000-000000000006", IPWD_ACT_MODE, NULL,
		   NULL, IPW_CHANGE_MODE);
	r[5].mode = IPW_MODE_ALLOWLIST;
	is_int(apply(s, r, 6), 0, "six ops in one transaction commit");
	is_int(ipwd_store_op_count(s), 6, "six history rows");
	is_int(apply(s, r, 6), 0, "recording the same ops again succeeds");
	is_int(ipwd_store_op_count(s), 6,
	       "... and adds nothing (op ids are unique)");
	ipwd_store_close(s);
	s = NULL;

	rc = ipwd_store_open(&s, path, IPWD_SYNC_BATCH, err, sizeof(err));
	ok(rc == 0, "the file reopens (sync = batch)");
	if (s == NULL)
		exit(1);
	rc = ipwd_store_load(s, collect, &l, &mode, err, sizeof(err));
	is_int(rc, 0, "load succeeds");
	if (rc != 0)
		diag("%s", err);
	is_int(l.n, 2, "two entries are current (the IPv6 ban was removed)");
	is_int(mode, IPW_MODE_ALLOWLIST, "the stored mode is allowlist");
	{
		const struct ipw_entry_info *ga = NULL, *gc = NULL;

		for (size_t i = 0; i < l.n; i++) {
			if (ipw_addr_equal(&l.v[i].target, &a.target))
				ga = &l.v[i];
			if (ipw_addr_equal(&l.v[i].target, &c.target))
				gc = &l.v[i];
		}
		ok(ga && same_entry(ga, &a2),
		   "the ban loads as it was after the extension, every field");
		ok(gc && same_entry(gc, &c),
		   "the allow loads exactly (quotes and newline in reason)");
	}
	ipwd_store_close(s);

	/* the history rows, read with the sqlite3 API directly */
	{
		sqlite3 *db;
		sqlite3_stmt *q;
		int n = 0;

		sqlite3_open(path, &db);
		sqlite3_prepare_v2(
			db,
			"SELECT action, result, target, node, actor,"
			" prev_expires IS NOT NULL, coalesce(prev_expires, 0),"
			" expires, score, reason FROM ops ORDER BY"
			" id",
			-1, &q, NULL);
		while (sqlite3_step(q) == SQLITE_ROW) {
			static const char *const want[] = {
				"ban added 203.0.113.7 0 0 1790003600 5",
				"ban extended 203.0.113.7 1 1790003600 1790007200 9",
				"ban added 2001:db8::/32 0 0 0 0",
				"allow added 198.51.100.7 0 0 0 0",
				"unban removed 2001:db8::/32 1 0 0 0",
				"mode changed (null) 0 0 0 0",
			};
			char got[256];
			const unsigned char *t = sqlite3_column_text(q, 2);

			snprintf(got, sizeof(got), "%s %s %s %d %d %lld %lld",
				 sqlite3_column_text(q, 0),
				 sqlite3_column_text(q, 1),
				 t ? (const char *)t : "(null)",
				 sqlite3_column_int(q, 5),
				 sqlite3_column_int(q, 6),
				 sqlite3_column_int64(q, 7),
				 sqlite3_column_int64(q, 8));
			if (n < 6)
				is_str(got, want[n], "history row %d", n + 1);
			if (n == 0)
				is_str((const char *)sqlite3_column_text(q, 3),
				       "node-a",
				       "history keeps the origin node");
			n++;
		}
		is_int(n, 6, "six history rows, in commit order");
		sqlite3_finalize(q);
		sqlite3_close(db);
	}
}

static void test_ban_count(void)
{
	static const char *const targets[] = {
		"192.0.2.1",   "192.0.2.200", "192.0.3.1",
		"2001:db8::1", "2001:db8::2", "2001:db8:0:1::1",
	};
	struct ipw_entry_info e[6];
	struct ipwd_oprec r[7];
	struct ipwd_store *s = NULL;
	struct ipwd_history *h = NULL;
	struct ipw_addr w;
	char err[512], id[64], p[300];

	/* a store of its own: only these ops in the history, counted as
	 * the auto-ban engine will ask (history.h) */
	snprintf(p, sizeof(p), "%s/count.db", dir);
	if (ipwd_store_open(&s, p, IPWD_SYNC_OFF, err, sizeof(err)) != 0)
		exit(1);
	for (int i = 0; i < 6; i++) {
		e[i] = entry(targets[i], IPW_LIST_BAN, 0, 1, "x");
		snprintf(id, sizeof(id), "0190b000-0000-7000-8000-%012d", i);
		r[i] = rec(strdup(id), IPWD_ACT_BAN, NULL, &e[i],
			   IPW_CHANGE_ADDED);
		r[i].time = 1790000000 + i * 86400; /* one per day */
	}
	/* an unchanged ban does not count */
	r[6] = rec("0190b000-0000-7000-8000-999999999999", IPWD_ACT_BAN, &e[0],
		   &e[0], IPW_CHANGE_UNCHANGED);
	is_int(apply(s, r, 7), 0, "seven ban ops commit");
	/* a /8 ban: not a ban inside its /24s */
	{
		struct ipw_entry_info big =
			entry("192.0.0.0/8", IPW_LIST_BAN, 0, 1, "x");
		struct ipwd_oprec rb =
			rec("0190b000-0000-7000-8000-aaaaaaaaaaaa",
			    IPWD_ACT_BAN, NULL, &big, IPW_CHANGE_ADDED);

		is_int(apply(s, &rb, 1), 0, "a /8 ban commits");
	}
	if (ipwd_history_open(&h, p, err, sizeof(err)) != 0)
		exit(1);
	ipw_addr_parse_str("192.0.2.1", 0, &w);
	is_int(ipwd_history_ban_count(h, &w, 0), 1, "192.0.2.1: banned once");
	ipw_addr_parse_str("192.0.2.0/24", 0, &w);
	is_int(ipwd_history_ban_count(h, &w, 0), 2, "its /24: twice");
	is_int(ipwd_history_ban_count(h, &w, 1790000000 + 86400), 1,
	       "its /24 since day 2: once");
	ipw_addr_parse_str("192.0.0.0/16", 0, &w);
	is_int(ipwd_history_ban_count(h, &w, 0), 3,
	       "its /16: three times (the /8 that contains it is not counted)");
	ipw_addr_parse_str("2001:db8::/64", 0, &w);
	is_int(ipwd_history_ban_count(h, &w, 0), 2, "2001:db8::/64: twice");
	ipw_addr_parse_str("2001:db8::/32", 0, &w);
	is_int(ipwd_history_ban_count(h, &w, 0), 3, "2001:db8::/32: three");
	ipw_addr_parse_str("0.0.0.0/0", 0, &w);
	is_int(ipwd_history_ban_count(h, &w, 0), 4,
	       "0.0.0.0/0: the IPv4 ones only (the /8 is inside it)");
	for (int i = 0; i < 6; i++)
		free((void *)r[i].id);
	ipwd_history_close(h);
	ipwd_store_close(s);
}

/* Record @n ban ops with long reasons, numbered from @first. */
static int ban_group(struct ipwd_store *s, int first, int n)
{
	struct ipw_entry_info *e = calloc((size_t)n, sizeof(*e));
	struct ipwd_oprec *r = calloc((size_t)n, sizeof(*r));
	char(*ids)[40] = calloc((size_t)n, sizeof(*ids));
	int rc;

	if (!e || !r || !ids)
		abort();
	for (int i = 0; i < n; i++) {
		char t[32];

		snprintf(t, sizeof(t), "10.%d.%d.%d", (first + i) >> 16,
			 ((first + i) >> 8) & 255, (first + i) & 255);
		e[i] = entry(t, IPW_LIST_BAN, 0, 1, "");
		memset(e[i].reason, 'r', 200);
		e[i].reason[200] = '\0';
		snprintf(ids[i], sizeof(ids[i]),
			 "0190c000-0000-7000-8000-%012d", first + i);
		r[i] = rec(ids[i], IPWD_ACT_BAN, NULL, &e[i], IPW_CHANGE_ADDED);
	}
	rc = apply(s, r, (size_t)n);
	free(e);
	free(r);
	free(ids);
	return rc;
}

static void test_full_disk(void)
{
	struct ipwd_store *s = NULL;
	struct loaded l = {0};
	int64_t ops_before;
	char err[512];
	int rc = 0, first = 0, mode;
	size_t entries_before;

	if (ipwd_store_open(&s, path, IPWD_SYNC_FULL, err, sizeof(err)) != 0)
		exit(1);
	ok(ipwd_store_limit_pages(s, 8) == 0,
	   "full disk: the database is capped 8 pages above its size");
	/* groups of 20 ops (~10 KiB) until one does not fit */
	for (int g = 0; g < 50 && rc == 0; g++) {
		ops_before = ipwd_store_op_count(s);
		rc = ban_group(s, first, 20);
		if (rc == 0)
			first += 20;
	}
	is_int(rc, IPW_ENOSPC, "a group that does not fit fails with ENOSPC");
	is_int(ipwd_store_op_count(s), ops_before,
	       "... and none of its ops is in the history");
	memset(&l, 0, sizeof(l));
	ipwd_store_load(s, collect, &l, &mode, err, sizeof(err));
	entries_before = l.n; /* collect keeps 64 at most */
	ok(entries_before > 0, "entries committed before are still there");
	ipwd_store_close(s);
	s = NULL;

	/* space returns: a new connection has no cap */
	if (ipwd_store_open(&s, path, IPWD_SYNC_FULL, err, sizeof(err)) != 0)
		exit(1);
	is_int(ban_group(s, first, 20), 0,
	       "when space returns, the same group commits");
	is_int(ipwd_store_op_count(s), ops_before + 20,
	       "... and its 20 ops are in the history once");
	ipwd_store_close(s);
}

/* A record that fails inside the transaction (here a trigger another
 * program added) is rolled back by the caller; ipwd_store_errmsg() must
 * still give SQLite's reason, which the write path logs after the
 * rollback (sqlite3_errmsg() would say "not an error" by then). */
static void test_errmsg_after_rollback(void)
{
	struct ipwd_store *s = NULL;
	char err[512], p[300];
	sqlite3 *db;
	int rc;

	snprintf(p, sizeof(p), "%s/trigger.db", dir);
	if (ipwd_store_open(&s, p, IPWD_SYNC_FULL, err, sizeof(err)) != 0)
		exit(1);
	ipwd_store_close(s);
	s = NULL;
	sqlite3_open(p, &db);
	sqlite3_exec(db,
		     "CREATE TRIGGER no_entries BEFORE INSERT ON entries"
		     " BEGIN SELECT RAISE(ABORT, 'no entries today'); END",
		     NULL, NULL, NULL);
	sqlite3_close(db);
	if (ipwd_store_open(&s, p, IPWD_SYNC_FULL, err, sizeof(err)) != 0)
		exit(1);
	rc = ban_group(s, 0, 1);
	is_int(rc, IPW_EIO, "a record that fails in the transaction: EIO");
	is_str(ipwd_store_errmsg(s), "no entries today",
	       "... and after the rollback errmsg still says why");
	is_int(ipwd_store_op_count(s), 0, "... and nothing was recorded");
	ipwd_store_close(s);
}

static void test_refusals(void)
{
	static const char garbage[] = "this is not a database\n";
	struct ipwd_store *s = NULL;
	char err[1024], p[300], *orig, *now;
	size_t olen, nlen;
	int rc;

	snprintf(p, sizeof(p), "%s/garbage.db", dir);
	write_file(p, garbage, sizeof(garbage) - 1);
	rc = ipwd_store_open(&s, p, IPWD_SYNC_FULL, err, sizeof(err));
	ok(rc == -1 && s == NULL, "a text file is refused");
	ok(strstr(err, p) && strstr(err, "recover"),
	   "... with the path and a recovery hint");
	diag("message: %s", err);
	now = read_file(p, &nlen);
	ok(now && nlen == sizeof(garbage) - 1 &&
		   memcmp(now, garbage, nlen) == 0,
	   "... and the file is left as it was");
	free(now);

	/* a real store, truncated to half */
	orig = read_file(path, &olen);
	if (orig == NULL)
		abort();
	snprintf(p, sizeof(p), "%s/truncated.db", dir);
	write_file(p, orig, olen / 2);
	rc = ipwd_store_open(&s, p, IPWD_SYNC_FULL, err, sizeof(err));
	ok(rc == -1 && s == NULL, "a store truncated to half is refused");
	diag("message: %s", err);
	now = read_file(p, &nlen);
	ok(now && nlen == olen / 2 && memcmp(now, orig, nlen) == 0,
	   "... and left as it was");
	free(now);

	/* a real store with a page overwritten by noise */
	snprintf(p, sizeof(p), "%s/corrupt.db", dir);
	if (olen > 8192) {
		for (size_t k = 4096; k < 8192; k++)
			orig[k] = (char)(k * 7 + 3);
	}
	write_file(p, orig, olen);
	/* open does not read every page (quick_check runs after the start,
	 * in the background); the start's strict reads of meta and entries
	 * meet the noise (page 2 is meta's) and refuse it */
	err[0] = '\0';
	rc = ipwd_store_open(&s, p, IPWD_SYNC_FULL, err, sizeof(err));
	if (rc == 0) {
		struct loaded l = {0};
		int mode;

		rc = ipwd_store_load(s, collect, &l, &mode, err, sizeof(err));
		ipwd_store_close(s);
		s = NULL;
	}
	ok(rc == -1 && strstr(err, "damaged"),
	   "a store with a page of noise is refused at start (open or load)");
	diag("message: %s", err);
	/* ... and the background check finds it too */
	{
		struct ipwd_store_check *c = ipwd_store_check_start(p);
		enum ipwd_check_state st = IPWD_CHECK_RUNNING;
		const char *msg = "";

		for (int w = 0; c && w < 3000; w++) {
			st = ipwd_store_check_state(c, &msg);
			if (st != IPWD_CHECK_RUNNING)
				break;
			usleep(10000);
		}
		ok(st == IPWD_CHECK_DAMAGED && strstr(msg, "quick_check") &&
			   strstr(msg, "recover"),
		   "the background check reports the damage with the hint: %s",
		   msg);
		ipwd_store_check_stop(c);
	}
	/* the good store passes the background check */
	{
		struct ipwd_store_check *c = ipwd_store_check_start(path);
		enum ipwd_check_state st = IPWD_CHECK_RUNNING;

		for (int w = 0; c && w < 3000; w++) {
			st = ipwd_store_check_state(c, NULL);
			if (st != IPWD_CHECK_RUNNING)
				break;
			usleep(10000);
		}
		ok(st == IPWD_CHECK_OK,
		   "the background check passes a good store");
		ipwd_store_check_stop(c);
	}
	free(orig);

	/* another program's SQLite database */
	{
		sqlite3 *db;

		snprintf(p, sizeof(p), "%s/other.db", dir);
		sqlite3_open(p, &db);
		sqlite3_exec(db, "CREATE TABLE t(x); PRAGMA user_version = 42;",
			     NULL, NULL, NULL);
		sqlite3_close(db);
	}
	rc = ipwd_store_open(&s, p, IPWD_SYNC_FULL, err, sizeof(err));
	ok(rc == -1 && s == NULL && strstr(err, "schema version 42"),
	   "a database of another schema is refused: %s", err);

	/* a readable store with a row no ipwalld wrote: load refuses */
	{
		struct loaded l = {0};
		sqlite3 *db;
		int mode;

		snprintf(p, sizeof(p), "%s/badrow.db", dir);
		rc = ipwd_store_open(&s, p, IPWD_SYNC_FULL, err, sizeof(err));
		ok(rc == 0, "a new store for the malformed-row case");
		ipwd_store_close(s);
		s = NULL;
		sqlite3_open(p, &db);
		sqlite3_exec(db,
			     "INSERT INTO entries VALUES (0, 4, x'c000', 32,"
			     " 0, 0, 0, 0, 0, 0, NULL, NULL, NULL)",
			     NULL, NULL, NULL);
		sqlite3_close(db);
		rc = ipwd_store_open(&s, p, IPWD_SYNC_FULL, err, sizeof(err));
		ok(rc == 0, "a store with a malformed row opens");
		rc = s ? ipwd_store_load(s, collect, &l, &mode, err,
					 sizeof(err)) :
			 0;
		ok(rc == -1 && strstr(err, "malformed"),
		   "... and its load is refused: %s", err);
		ipwd_store_close(s);
		s = NULL;
	}

	/* a store this user may read but not write: refused at open (it
	 * would refuse every write with 503), the file left as it was and
	 * no -wal or -shm made beside it */
	if (geteuid() != 0) {
		snprintf(p, sizeof(p), "%s/readonly.db", dir);
		if (ipwd_store_open(&s, p, IPWD_SYNC_FULL, err, sizeof(err)))
			exit(1);
		ipwd_store_close(s);
		s = NULL;
		orig = read_file(p, &olen);
		chmod(p, 0400);
		rc = ipwd_store_open(&s, p, IPWD_SYNC_FULL, err, sizeof(err));
		ok(rc == -1 && s == NULL && strstr(err, p) &&
			   strstr(err, "read-only"),
		   "a read-only store file is refused: %s", err);
		now = read_file(p, &nlen);
		ok(now && orig && nlen == olen && memcmp(now, orig, nlen) == 0,
		   "... and left as it was");
		free(now);
		free(orig);
		snprintf(p, sizeof(p), "%s/readonly.db-shm", dir);
		ok(access(p, F_OK) != 0,
		   "... with no -shm file made beside it");
	} else {
		printf("ok %d - a read-only store file is refused # SKIP root "
		       "writes any file (tests/integration/store_failures.sh "
		       "runs ipwalld as nobody)\n",
		       ++tap_n);
	}

	/* an unwritable directory */
	snprintf(p, sizeof(p), "%s/no/such/dir/ipwall.db", dir);
	rc = ipwd_store_open(&s, p, IPWD_SYNC_FULL, err, sizeof(err));
	ok(rc == -1 && s == NULL && strstr(err, "cannot open"),
	   "a path in a missing directory is refused: %s", err);
}

/* ---- the store as the op log uses it (ipwd_store_sqlite) ---- */

struct got_groups {
	uint64_t seqs[8];
	size_t n[8];
	char first_id[8][IPWD_OPID_LEN];
	char reason[8][IPW_REASON_MAX];
	size_t ng;
};

static int got_group(void *ctx, const struct ipwd_group *g)
{
	struct got_groups *gg = ctx;

	if (gg->ng == 8)
		return -1;
	gg->seqs[gg->ng] = g->seq;
	gg->n[gg->ng] = g->n;
	snprintf(gg->first_id[gg->ng], IPWD_OPID_LEN, "%s", g->recs[0].id);
	snprintf(gg->reason[gg->ng], IPW_REASON_MAX, "%s",
		 g->recs[0].after ? g->recs[0].after->reason : "");
	gg->ng++;
	return 0;
}

static int got_origin(void *ctx, const struct ipwd_origin *o)
{
	struct ipwd_origin *out = ctx;

	if (strcmp(o->node, "node-b") == 0)
		*out = *o;
	return 0;
}

struct big_check {
	char (*ids)[IPWD_OPID_LEN];
	size_t n;
	int bad;
};

static int check_big(void *ctx, const struct ipwd_group *g)
{
	struct big_check *bc = ctx;
	size_t i;

	bc->n = g->n;
	for (i = 0; i < g->n && i < 300; i++) {
		char t[IPW_ADDR_STRLEN];

		ipw_addr_format(&g->recs[i].target, t, sizeof(t));
		if (strcmp(g->recs[i].id, bc->ids[i]) != 0 ||
		    strcmp(g->recs[i].after->reason, t) != 0 ||
		    g->recs[i].seq != 4)
			bc->bad++;
	}
	return 0;
}

static void test_iface(void)
{
	static const char *const ids[] = {
		"0190f5e2-7c3a-7abc-8def-00000000000a",
		"0190f5e2-7c3a-7abc-8def-00000000000b",
		"0190f5e2-7c3a-7abc-8def-00000000000c",
		"0190f5e2-7c3a-7abc-8def-00000000000d",
	};
	const struct ipwd_store_iface *si = &ipwd_store_sqlite;
	struct ipwd_store *s = NULL;
	struct ipw_entry_info e[4], bad;
	struct ipwd_oprec r[4];
	struct ipwd_origin cur = {.node = "node-b", .seq = 3}, got = {0};
	struct got_groups gg = {0};
	struct ipwd_group g;
	char p[300], err[512];
	uint64_t seq, indexed;
	int mode, k, rc;

	snprintf(p, sizeof(p), "%s/iface.db", dir);
	if (ipwd_store_open(&s, p, IPWD_SYNC_OFF, err, sizeof(err)) != 0)
		abort();
	for (k = 0; k < 4; k++) {
		char t[32], why[16];

		snprintf(t, sizeof(t), "192.0.2.%d", 10 + k);
		snprintf(why, sizeof(why), "r%d", k);
		e[k] = entry(t, IPW_LIST_BAN, 1790003600, 1, why);
		r[k] = rec(ids[k], IPWD_ACT_BAN, NULL, &e[k], IPW_CHANGE_ADDED);
	}
	/* groups 1 (one op), 2 (two ops), 3 (one op, with a cursor) */
	for (k = 0; k < 3; k++) {
		r[0].seq = 1;
		g = k == 0 ? (struct ipwd_group){1, 1, &r[0]} :
		    k == 1 ? (struct ipwd_group){2, 2, &r[1]} :
			     (struct ipwd_group){3, 1, &r[3]};
		for (size_t i = 0; i < g.n; i++)
			((struct ipwd_oprec *)g.recs)[i].seq = g.seq;
		memcpy(cur.last_id, "\x01\x90", 2);
		rc = si->commit(s, &g, k == 2 ? &cur : NULL, k == 2);
		if (rc != 0)
			break;
	}
	is_int(rc, 0, "three groups commit");
	is_int((int)ipwd_store_op_count(s), 0,
	       "they went to the journal: the history is the index's to "
	       "write");
	ok(si->load_meta(s, &mode, &indexed, &seq, got_origin, &got, err,
			 sizeof(err)) == 0 &&
		   seq == 3 && indexed == 0 && got.seq == 3 &&
		   memcmp(got.last_id, "\x01\x90", 2) == 0,
	   "load_meta(): sequence 3, nothing indexed, and node-b's cursor "
	   "saved with group 3");
	rc = si->read(s, 0, 3, got_group, &gg);
	ok(rc == 0 && gg.ng == 3 && gg.seqs[0] == 1 && gg.seqs[2] == 3 &&
		   gg.n[1] == 2 && strcmp(gg.first_id[1], ids[1]) == 0 &&
		   strcmp(gg.reason[2], "r3") == 0,
	   "read(0, 3): the three groups back from the op log, decoded "
	   "(group 2 holds 2 ops; group 3's ban says r3)");
	memset(&gg, 0, sizeof(gg));
	rc = si->read(s, 1, 2, got_group, &gg);
	ok(rc == 0 && gg.ng == 1 && gg.seqs[0] == 2, "read(1, 2): group 2");
	is_int(si->trim(s, 2), 0, "trim(2)");
	memset(&gg, 0, sizeof(gg));
	is_int(si->read(s, 0, 3, got_group, &gg), IPW_ENOENT,
	       "read(0, 3) after it: IPW_ENOENT (group 1 is gone)");
	memset(&gg, 0, sizeof(gg));
	ok(si->read(s, 2, 3, got_group, &gg) == 0 && gg.ng == 1,
	   "read(2, 3): group 3 is kept");
	is_int(si->read(s, 3, 4, got_group, &gg), IPW_ENOENT,
	       "read(3, 4): a group not committed yet is IPW_ENOENT");
	{
		char jp[320];
		sqlite3 *db;
		sqlite3_stmt *q;
		int rows = -1;

		snprintf(jp, sizeof(jp), "%s-oplog", p);
		if (sqlite3_open_v2(jp, &db, SQLITE_OPEN_READONLY, NULL) ==
			    SQLITE_OK &&
		    sqlite3_prepare_v2(db, "SELECT count(*) FROM oplog", -1, &q,
				       NULL) == SQLITE_OK) {
			if (sqlite3_step(q) == SQLITE_ROW)
				rows = sqlite3_column_int(q, 0);
			sqlite3_finalize(q);
		}
		sqlite3_close(db);
		is_int(rows, 1, "the journal (STORE-oplog) holds one row now");
	}
	/* a group the codec refuses (an entry flag it does not know):
	 * nothing of it is stored */
	bad = e[0];
	bad.flags = 8;
	r[0] = rec(ids[0], IPWD_ACT_BAN, NULL, &bad, IPW_CHANGE_ADDED);
	r[0].seq = 4;
	g = (struct ipwd_group){4, 1, &r[0]};
	rc = si->commit(s, &g, NULL, 0);
	ok(rc == IPW_EIO && strstr(si->errmsg(s), "cannot be encoded"),
	   "a group with an op the codec refuses fails (%s)", si->errmsg(s));
	ok(si->load_meta(s, &mode, &indexed, &seq, got_origin, &got, err,
			 sizeof(err)) == 0 &&
		   seq == 3,
	   "... and the sequence stays 3");
	r[2].seq = 2;
	is_int(apply(s, &r[2], 1), 0, "an op recorded in the history");
	is_int((int)ipwd_store_seq_of(s, ids[2]), 2,
	       "ipwd_store_seq_of(): the group of an op");
	{
		/* a group of 300 ops: its records outgrow the reader's first
		 * array (the pointers inside them must follow it) */
		struct ipw_entry_info *big = calloc(300, sizeof(*big));
		struct ipwd_oprec *br = calloc(300, sizeof(*br));
		char(*bid)[IPWD_OPID_LEN] = calloc(300, IPWD_OPID_LEN);
		struct big_check bc = {.ids = bid};

		for (k = 0; k < 300; k++) {
			char t[32];

			snprintf(t, sizeof(t), "198.51.%d.%d", k / 256,
				 k % 256);
			snprintf(bid[k], IPWD_OPID_LEN,
				 "0190f5e2-7c3a-7abc-8def-0000000%05d", k);
			big[k] = entry(t, IPW_LIST_BAN, 1790003600, 1, t);
			br[k] = rec(bid[k], IPWD_ACT_BAN, NULL, &big[k],
				    IPW_CHANGE_ADDED);
			br[k].seq = 4;
		}
		g = (struct ipwd_group){4, 300, br};
		is_int(si->commit(s, &g, NULL, 0), 0, "a group of 300 ops");
		ok(si->read(s, 3, 4, check_big, &bc) == 0 && bc.n == 300 &&
			   bc.bad == 0,
		   "read back whole: 300 records, each with its own id and "
		   "reason");
		free(big);
		free(br);
		free(bid);
	}
	is_int((int)ipwd_store_seq_of(s,
				      "0190f5e2-7c3a-7abc-8def-0000000000ff"),
	       IPW_ENOENT, "... IPW_ENOENT for an op not there");
	ipwd_store_close(s);
}

/* ---- replay: the journal ahead of the store ---- */

static int64_t count_rows(const char *db, const char *sql)
{
	sqlite3 *h;
	sqlite3_stmt *q;
	int64_t n = -1;

	if (sqlite3_open_v2(db, &h, SQLITE_OPEN_READONLY, NULL) == SQLITE_OK &&
	    sqlite3_prepare_v2(h, sql, -1, &q, NULL) == SQLITE_OK) {
		if (sqlite3_step(q) == SQLITE_ROW)
			n = sqlite3_column_int64(q, 0);
		sqlite3_finalize(q);
	}
	sqlite3_close(h);
	return n;
}

/*
 * Groups committed to the journal and never indexed (ipwalld killed
 * before its index wrote them): a start replays them onto the table, and
 * the store's index writes them behind; a journal that lost them refuses
 * the start, naming the way out, and changes nothing.
 */
static void test_replay(void)
{
	static const char *const ids[] = {
		"0190f5e2-7c3a-7abc-8def-0000000000a1",
		"0190f5e2-7c3a-7abc-8def-0000000000a2",
		"0190f5e2-7c3a-7abc-8def-0000000000a3",
	};
	struct ipw_table_opts topts = {.max_entries = 1000};
	struct ipw_entry_info e[3];
	struct ipwd_oprec r[3];
	struct ipwd_store *s = NULL;
	struct ipw_table *t;
	struct ipwd_ops *o;
	struct ipwd_group g;
	struct ipw_addr a;
	struct ipw_entry_info got;
	size_t loaded, expired;
	char p[300], err[1024];
	int k, rc = 0;

	snprintf(p, sizeof(p), "%s/replay.db", dir);
	if (ipwd_store_open(&s, p, IPWD_SYNC_OFF, err, sizeof(err)) != 0)
		abort();
	/* group 1: two bans; group 2: the first one unbanned */
	e[0] = entry("203.0.113.1", IPW_LIST_BAN, 0, 4, "one");
	e[1] = entry("203.0.113.2", IPW_LIST_BAN, 0, 5, "two");
	e[2] = e[0];
	r[0] = rec(ids[0], IPWD_ACT_BAN, NULL, &e[0], IPW_CHANGE_ADDED);
	r[1] = rec(ids[1], IPWD_ACT_BAN, NULL, &e[1], IPW_CHANGE_ADDED);
	r[2] = rec(ids[2], IPWD_ACT_UNBAN, &e[2], NULL, IPW_CHANGE_REMOVED);
	r[0].seq = r[1].seq = 1;
	r[2].seq = 2;
	for (k = 0; rc == 0 && k < 2; k++) {
		g = k == 0 ? (struct ipwd_group){1, 2, &r[0]} :
			     (struct ipwd_group){2, 1, &r[2]};
		rc = ipwd_store_sqlite.commit(s, &g, NULL, 0);
	}
	is_int(rc, 0, "replay: two groups in the journal, none indexed");
	ipwd_store_close(s);

	/* a start: the table from the store (empty) and the journal */
	if (ipwd_store_open(&s, p, IPWD_SYNC_OFF, err, sizeof(err)) != 0 ||
	    ipw_table_new(&t, &topts) != 0 ||
	    ipwd_ops_new(&o, t, "node-a", &ipwd_store_sqlite, s) != 0 ||
	    ipwd_store_subscribe(s, o) != 0)
		abort();
	rc = ipwd_ops_load(o, &loaded, &expired, err, sizeof(err));
	is_int(rc, 0, "replay: the start works (%s)", rc ? err : "");
	ipw_addr_parse_str("203.0.113.2", 0, &a);
	ok(ipw_table_get(t, IPW_LIST_BAN, &a, &got) == 0 && got.score == 5 &&
		   strcmp(got.reason, "two") == 0,
	   "replay: the journal's ban is in the table, whole");
	ipw_addr_parse_str("203.0.113.1", 0, &a);
	ok(ipw_table_get(t, IPW_LIST_BAN, &a, &got) != 0,
	   "replay: the ban the journal removed later is not");
	is_int((int)ipwd_ops_seq(o), 2, "replay: the sequence goes on at 2");
	is_int(ipwd_ops_wait(o, "store", 2, 10000), 0,
	       "replay: the store's index catches up to 2");
	ipwd_ops_free(o);
	ipw_table_free(t);
	ipwd_store_close(s);
	is_int((int)count_rows(p, "SELECT count(*) FROM entries"), 1,
	       "replay: the index wrote the one entry left");
	is_int((int)count_rows(p, "SELECT count(*) FROM ops"), 3,
	       "replay: ... and the three ops of the history");
	is_int((int)count_rows(p, "SELECT value FROM meta WHERE key = 'seq'"),
	       2, "replay: ... and its position, 2");

	/* the index back at 0, the journal without the groups: refused */
	{
		sqlite3 *h;

		if (sqlite3_open(p, &h) != SQLITE_OK ||
		    sqlite3_exec(h,
				 "UPDATE meta SET value = 0 WHERE key = 'seq';"
				 "DELETE FROM entries; DELETE FROM ops",
				 NULL, NULL, NULL) != SQLITE_OK)
			abort();
		sqlite3_close(h);
	}
	if (ipwd_store_open(&s, p, IPWD_SYNC_OFF, err, sizeof(err)) != 0)
		abort();
	is_int(ipwd_store_sqlite.trim(s, 2), 0, "refusal: the journal trimmed");
	if (ipw_table_new(&t, &topts) != 0 ||
	    ipwd_ops_new(&o, t, "node-a", &ipwd_store_sqlite, s) != 0)
		abort();
	rc = ipwd_ops_load(o, &loaded, &expired, err, sizeof(err));
	ok(rc == -1 &&
		   strstr(err, "does not hold the ops after sequence 0 "
			       "up to 2") &&
		   strstr(err, "move the journal"),
	   "refusal: a journal without the groups the store lacks refuses "
	   "the start: %s",
	   err);
	ipwd_ops_free(o);
	ipw_table_free(t);
	ipwd_store_close(s);
}

static int remove_one(const char *p, const struct stat *st, int flag,
		      struct FTW *f)
{
	(void)st, (void)flag, (void)f;
	return remove(p);
}

int main(void)
{
	if (mkdtemp(dir) == NULL)
		return 1;
	snprintf(path, sizeof(path), "%s/ipwall.db", dir);
	test_roundtrip();
	test_ban_count();
	test_full_disk();
	test_errmsg_after_rollback();
	test_refusals();
	test_iface();
	test_replay();
	if (nftw(dir, remove_one, 16, FTW_DEPTH | FTW_PHYS) != 0)
		diag("could not remove %s", dir);
	return done_testing();
}
