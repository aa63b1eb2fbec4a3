/* SPDX-License-Identifier: MIT */
/*
 * Unit tests of the history queries (src/daemon/history.c) on a real
 * store file: ops recorded with ipwd_store_record() (as the write path
 * does), then read through the read-only history connection.
 *
 * A hand-made history checks the documented rows one by one (an address:
 * its own ops and those of every prefix containing it; a prefix: those
 * and every target inside it), the filters, the counts (IPv4 /24, IPv6
 * /64, a prefix). A random history of a few thousand ops is then compared
 * with a reference that looks at every op (ipw_addr_contains), for many
 * targets, filters and page sizes, walking all pages by cursor: same rows,
 * newest first, no duplicate, no gap. EXPLAIN QUERY PLAN shows that no
 * statement scans the ops table.
 */
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <ipwall/addr.h>
#include <ipwall/errcode.h>

#include "oplog/history.h"
#include "oplog/store.h"
#include "tap.h"

static char dir[] = "/tmp/ipwall-test-history-XXXXXX";
static char path[256];

/* What the test recorded, for the reference. */
struct made {
	char id[IPWD_OPID_LEN];
	int64_t time;
	enum ipwd_action action;
	int change;
	struct ipw_addr target;
	enum ipw_list list;
};

#define MADE_MAX 5000
static struct made made[MADE_MAX];
static size_t nmade;
static uint32_t seq;

static struct ipw_addr addr(const char *s)
{
	struct ipw_addr a;

	if (ipw_addr_parse_str(s, 0, &a) != 0) {
		fprintf(stderr, "bad test address %s\n", s);
		abort();
	}
	return a;
}

/* Record one op at @time. Its id is the time, then a sequence number:
 * ids sort like (time, recording order), as the write path's do. */
static void op(struct ipwd_store *s, int64_t time, enum ipwd_action a,
	       int change, const char *target, enum ipw_list list,
	       const char *reason)
{
	struct ipw_entry_info before, after;
	struct ipwd_oprec r;
	struct made *m = &made[nmade];

	if (nmade == MADE_MAX)
		abort();
	memset(&r, 0, sizeof(r));
	memset(&before, 0, sizeof(before));
	memset(&after, 0, sizeof(after));
	snprintf(m->id, sizeof(m->id), "%08x-0000-7000-8000-%012x",
		 (unsigned)time, (unsigned)++seq);
	m->time = time;
	m->action = a;
	m->change = change;
	m->target = addr(target);
	m->list = list;
	after.target = before.target = m->target;
	after.list = before.list = list;
	after.expires = time + 600;
	after.score = 5;
	before.expires = time + 60;
	before.score = 1;
	snprintf(after.reason, sizeof(after.reason), "%s", reason);
	snprintf(before.reason, sizeof(before.reason), "old %s", reason);
	r.id = m->id;
	r.time = time;
	r.actor = "token:admin";
	r.node = "node-a";
	r.action = a;
	r.list = list;
	r.target = m->target;
	r.change = change;
	switch (change) {
	case IPW_CHANGE_ADDED:
		r.after = &after;
		break;
	case IPW_CHANGE_EXTENDED:
	case IPW_CHANGE_UNCHANGED:
		r.before = &before;
		r.after = &after;
		break;
	case IPW_CHANGE_REMOVED:
		r.before = &before;
		break;
	default:
		break;
	}
	if (ipwd_store_record(s, &r) != 0)
		abort();
	nmade++;
}

static void mode_op(struct ipwd_store *s, int64_t time)
{
	struct ipwd_oprec r;

	memset(&r, 0, sizeof(r));
	snprintf(made[nmade].id, IPWD_OPID_LEN, "%08x-0000-7000-8000-%012x",
		 (unsigned)time, (unsigned)++seq);
	r.id = made[nmade].id; /* not in the reference: no target */
	r.time = time;
	r.actor = "token:admin";
	r.node = "node-a";
	r.action = IPWD_ACT_MODE;
	r.change = IPW_CHANGE_MODE;
	r.mode = IPW_MODE_ALLOWLIST;
	if (ipwd_store_record(s, &r) != 0)
		abort();
}

/* Does the history of @t hold op @m (history.h's rule)? */
static bool related(const struct ipw_addr *t, const struct made *m)
{
	return ipw_addr_contains(&m->target, t) ||
	       ipw_addr_contains(t, &m->target);
}

static bool wanted(const struct ipwd_history_query *q, const struct made *m)
{
	return related(&q->target, m) && m->time >= q->since &&
	       (!q->has_until || m->time < q->until) &&
	       (q->action < 0 || (int)m->action == q->action);
}

/* Every page of @q; the ids in *@got (malloc'd). -1 on an error. */
static long walk(struct ipwd_history *h, struct ipwd_history_query q,
		 char (**got)[IPWD_OPID_LEN], int *pages)
{
	size_t cap = 64, n = 0;

	*got = malloc(cap * IPWD_OPID_LEN);
	*pages = 0;
	for (;;) {
		struct ipwd_history_op *v;
		size_t k, i;
		bool more;
		int rc = ipwd_history_list(h, &q, &v, &k, &more);

		if (rc != 0) {
			diag("list: %s", ipw_strerror(rc));
			return -1;
		}
		++*pages;
		for (i = 0; i < k; i++) {
			if (n == cap) {
				cap *= 2;
				*got = realloc(*got, cap * IPWD_OPID_LEN);
			}
			memcpy((*got)[n++], v[i].id, IPWD_OPID_LEN);
		}
		if (!more) {
			free(v);
			break;
		}
		if (k == 0 || ipwd_opid_parse(v[k - 1].id, 36, q.cursor) != 0) {
			free(v);
			return -1;
		}
		q.has_cursor = true;
		free(v);
		if (*pages > 100000)
			return -1;
	}
	return (long)n;
}

/* The ids the reference expects for @q, newest first. */
static size_t reference(const struct ipwd_history_query *q,
			char (*want)[IPWD_OPID_LEN])
{
	size_t n = 0;

	/* made[] is in recording order, which is time then id order. */
	for (size_t i = nmade; i-- > 0;)
		if (wanted(q, &made[i]))
			memcpy(want[n++], made[i].id, IPWD_OPID_LEN);
	return n;
}

static struct ipwd_history_query query(const char *target)
{
	struct ipwd_history_query q;

	memset(&q, 0, sizeof(q));
	q.target = addr(target);
	q.action = -1;
	return q;
}

/* The ops of @q's first page, as "action target" words. */
static void page_text(struct ipwd_history *h,
		      const struct ipwd_history_query *q, char *buf,
		      size_t size)
{
	struct ipwd_history_op *v;
	size_t n, i, used = 0;
	bool more;
	int rc = ipwd_history_list(h, q, &v, &n, &more);

	buf[0] = '\0';
	if (rc != 0) {
		snprintf(buf, size, "error %s", ipw_strerror(rc));
		return;
	}
	for (i = 0; i < n; i++) {
		char t[IPW_ADDR_STRLEN];

		ipw_addr_format(&v[i].target, t, sizeof(t));
		used += (size_t)snprintf(buf + used, size - used, "%s%s %s",
					 i ? ", " : "", v[i].action, t);
		if (used >= size)
			break;
	}
	free(v);
}

static void test_documented_rows(struct ipwd_history *h)
{
	struct ipwd_history_query q = query("192.0.2.7");
	struct ipwd_history_op *v = NULL;
	char buf[2048];
	size_t n;
	bool more;
	int rc;

	page_text(h, &q, buf, sizeof(buf));
	is_str(buf,
	       "expire 192.0.2.7, ban 0.0.0.0/0, ban 192.0.2.7, "
	       "unban 192.0.2.7, ban 192.0.2.7, ban 192.0.2.0/25, "
	       "allow 192.0.0.0/16, ban 192.0.2.0/24, ban 192.0.2.7",
	       "an address: its ops and those of every prefix containing "
	       "it, newest first");

	q = query("192.0.2.0/24");
	page_text(h, &q, buf, sizeof(buf));
	is_str(buf,
	       "expire 192.0.2.7, ban 0.0.0.0/0, ban 192.0.2.7, "
	       "ban 192.0.2.255, unban 192.0.2.7, ban 192.0.2.7, "
	       "ban 192.0.2.0/25, ban 192.0.2.8, allow 192.0.0.0/16, "
	       "ban 192.0.2.0/24, ban 192.0.2.7",
	       "a prefix: its ops, those of prefixes containing it, and "
	       "every target inside it (not 192.0.3.1, not 10/8)");

	q = query("192.0.2.0/24");
	q.since = 1100;
	q.has_until = true;
	q.until = 1300;
	page_text(h, &q, buf, sizeof(buf));
	is_str(buf,
	       "ban 0.0.0.0/0, ban 192.0.2.7, ban 192.0.2.255, "
	       "unban 192.0.2.7, ban 192.0.2.7",
	       "since is inclusive, until exclusive");

	q = query("192.0.2.7");
	q.action = IPWD_ACT_BAN;
	q.since = 1050;
	page_text(h, &q, buf, sizeof(buf));
	is_str(buf,
	       "ban 0.0.0.0/0, ban 192.0.2.7, ban 192.0.2.7, "
	       "ban 192.0.2.0/25, ban 192.0.2.0/24",
	       "action filter with since");

	q = query("0.0.0.0/0");
	q.action = IPWD_ACT_ALLOW;
	page_text(h, &q, buf, sizeof(buf));
	is_str(buf, "allow 192.0.0.0/16", "/0: every IPv4 target");

	q = query("2001:db8::1");
	page_text(h, &q, buf, sizeof(buf));
	is_str(buf,
	       "ban 2001:db8::1, ban 2001:db8::/32, ban 2001:db8::/64, "
	       "ban 2001:db8::1, ban 2001:db8::1",
	       "IPv6 address: own ops and covering prefixes, not ::2");

	q = query("2001:db9::1"); /* not even a /0 covers it */
	rc = ipwd_history_list(h, &q, &v, &n, &more);
	ok(rc == 0 && n == 0 && v == NULL && !more,
	   "no history: zero rows, no next page");

	/* The fields of one op. */
	q = query("192.0.2.7");
	q.limit = 1;
	q.action = IPWD_ACT_BAN;
	q.has_until = true;
	q.until = 1200;
	rc = ipwd_history_list(h, &q, &v, &n, &more);
	if (ok(rc == 0 && n == 1 && more, "limit 1: one row and more follow")) {
		is_str(v[0].action, "ban", "action");
		is_str(v[0].result, "extended", "result");
		is_str(v[0].actor, "token:admin", "actor");
		is_str(v[0].node, "node-a", "node");
		is_int(v[0].time, 1100, "time");
		ok(v[0].has_entry && v[0].expires == 1700 && v[0].score == 5,
		   "the entry after the op");
		is_str(v[0].reason, "second", "its reason");
		ok(v[0].has_before && v[0].prev_expires == 1160 &&
			   v[0].prev_score == 1,
		   "the entry before it");
		is_str(v[0].prev_reason, "old second", "its reason");
		is_int(v[0].list, IPW_LIST_BAN, "list");
	}
	free(v);
	q.action = IPWD_ACT_UNBAN;
	q.has_until = false;
	q.limit = 0;
	rc = ipwd_history_list(h, &q, &v, &n, &more);
	ok(rc == 0 && n == 1 && v[0].has_entry && v[0].has_before,
	   "an unban keeps the removed entry as its entry and before");
	free(v);

	/* Limits and bad queries. */
	q = query("192.0.2.7");
	q.limit = IPWD_HISTORY_LIMIT_MAX + 1;
	is_int(ipwd_history_list(h, &q, &v, &n, &more), IPW_EINVAL,
	       "a limit over the maximum is refused");
	q.limit = IPWD_HISTORY_LIMIT_MAX;
	is_int(ipwd_history_list(h, &q, &v, &n, &more), 0,
	       "the maximum limit is taken");
	is_int(n, 9, "... and returns every row");
	free(v);
	q.limit = 0;
	q.has_cursor = true;
	memset(q.cursor, 0x42, 16);
	is_int(ipwd_history_list(h, &q, &v, &n, &more), IPW_ENOENT,
	       "a cursor that is no op id of the store is refused");
}

static void test_counts(struct ipwd_history *h)
{
	struct ipw_addr a;

	a = addr("192.0.2.7");
	is_int(ipwd_history_ban_count(h, &a, 0), 3,
	       "192.0.2.7: banned 3 times (added, extended, added)");
	is_int(ipwd_history_ban_count(h, &a, 1100), 2, "since 1100: twice");
	is_int(ipwd_history_ban_count(h, &a, 1201), 0,
	       "since after the last: none");
	a = addr("192.0.2.0/24");
	is_int(ipwd_history_ban_count(h, &a, 0), 7,
	       "its /24: 7 (itself, the /25, .7 three times, .8, .255; not "
	       "the /16 allow, not /0)");
	a = addr("192.0.0.0/16");
	is_int(ipwd_history_ban_count(h, &a, 0), 8, "the /16: 192.0.3.1 too");
	a = addr("2001:db8::1");
	is_int(ipwd_history_ban_count(h, &a, 0), 3, "2001:db8::1: 3 times");
	a = addr("2001:db8::/64");
	is_int(ipwd_history_ban_count(h, &a, 0), 5,
	       "its /64: 5 (::1 three, ::2, the /64; not :1::1, not /32)");
	is_int(ipwd_history_ban_count(h, &a, 2003), 3, "its /64 since 2003");
	a = addr("2001:db8::/32");
	is_int(ipwd_history_ban_count(h, &a, 0), 7, "the /32: 7");
}

static void test_plan(struct ipwd_history *h)
{
	char plan[4096];
	int rc = ipwd_history_plan(h, plan, sizeof(plan));

	is_int(rc, 0, "EXPLAIN QUERY PLAN runs");
	for (const char *l = plan, *e; *l; l = e + 1) {
		e = strchr(l, '\n');
		if (e == NULL)
			break;
		diag("%.*s", (int)(e - l), l);
	}
	ok(strstr(plan, "SCAN") == NULL, "no statement scans a table");
	ok(strstr(plan, "key: SEARCH ops USING INDEX ops_by_target") != NULL,
	   "a covering key seeks ops_by_target");
	ok(strstr(plan, "key: USE TEMP B-TREE") == NULL,
	   "... and reads it in order (no sort)");
	ok(strstr(plan, "range: SEARCH ops USING INDEX ops_by_target") != NULL,
	   "a prefix's range uses ops_by_target");
	ok(strstr(plan, "count: SEARCH ops USING INDEX ops_by_target") != NULL,
	   "the count uses ops_by_target");
	ok(strstr(plan, "cursor: SEARCH ops USING PRIMARY KEY") != NULL,
	   "the cursor is found by primary key");
}

/* A random history over a small space of targets, so that covering
 * prefixes and targets inside prefixes are common. */
static void random_history(struct ipwd_store *s, unsigned n)
{
	static const char *const bases[] = {"203.0.113.77", "203.0.113.200",
					    "203.0.112.1", "2001:db8:5::9",
					    "2001:db8:5:0:1::9"};
	static const enum ipwd_action acts[] = {
		IPWD_ACT_BAN,	   IPWD_ACT_UNBAN,  IPWD_ACT_ALLOW,
		IPWD_ACT_DISALLOW, IPWD_ACT_EXPIRE, IPWD_ACT_EVICT};
	int64_t t = 5000;

	if (ipwd_store_begin(s) != 0)
		abort();
	for (unsigned i = 0; i < n; i++) {
		struct ipw_addr b = addr(bases[rand() % 5]), p;
		unsigned max = ipw_addr_maxlen(&b), len;
		char text[IPW_ADDR_STRLEN];
		enum ipwd_action a = acts[rand() % 6];

		/* Mostly long prefixes, some short ones. */
		len = rand() % 4 == 0 ? (unsigned)rand() % (max + 1) :
					max - (unsigned)rand() % 9;
		ipw_addr_truncate(&p, &b, len);
		ipw_addr_format(&p, text, sizeof(text));
		t += rand() % 3; /* several ops in one second */
		op(s, t, a,
		   a == IPWD_ACT_BAN || a == IPWD_ACT_ALLOW ?
			   IPW_CHANGE_ADDED + rand() % 3 :
			   IPW_CHANGE_REMOVED,
		   text,
		   a == IPWD_ACT_ALLOW || a == IPWD_ACT_DISALLOW ?
			   IPW_LIST_ALLOW :
			   IPW_LIST_BAN,
		   "r");
	}
	if (ipwd_store_commit(s) != 0)
		abort();
}

static void test_random(struct ipwd_history *h)
{
	static const char *const targets[] = {
		"203.0.113.77",	  "203.0.113.200",	"203.0.113.0/24",
		"203.0.112.0/23", "203.0.113.64/26",	"0.0.0.0/0",
		"203.0.112.1",	  "2001:db8:5::9",	"2001:db8:5::/64",
		"2001:db8::/32",  "2001:db8:5:0:1::9",	"::/0",
		"203.0.113.76",	  "2001:db8:5:0:1::/80"};
	static const size_t limits[] = {3, 2, 7, 100, 1000};
	char(*want)[IPWD_OPID_LEN] = malloc(MADE_MAX * IPWD_OPID_LEN);
	unsigned bad = 0, cases = 0, multi = 0;

	for (size_t ti = 0; ti < sizeof(targets) / sizeof(targets[0]); ti++) {
		for (int f = 0; f < 8; f++) {
			struct ipwd_history_query q = query(targets[ti]);
			char(*got)[IPWD_OPID_LEN] = NULL;
			size_t nw;
			long ng;
			int pages;

			q.limit = limits[(ti + (size_t)f) % 5];
			if (f & 1)
				q.since = 5000 + rand() % 3000;
			if (f & 2) {
				q.has_until = true;
				q.until = 6000 + rand() % 3000;
			}
			if (f & 4)
				q.action = rand() % 6 == 4 ? IPWD_ACT_EXPIRE :
							     (int)(rand() % 4);
			nw = reference(&q, want);
			ng = walk(h, q, &got, &pages);
			cases++;
			if (pages > 1)
				multi++;
			if (ng != (long)nw ||
			    (nw &&
			     memcmp(got, want, nw * IPWD_OPID_LEN) != 0)) {
				if (bad++ < 5)
					diag("%s limit %zu since %lld until "
					     "%lld action %d: got %ld rows, "
					     "want %zu",
					     targets[ti], q.limit,
					     (long long)q.since,
					     (long long)(q.has_until ? q.until :
								       -1),
					     q.action, ng, nw);
			}
			free(got);
		}
	}
	is_int(bad, 0,
	       "%u random queries, walked page by page, give the "
	       "reference's rows in its order (no duplicate, no gap)",
	       cases);
	ok(multi > 20, "... %u of them over several pages", multi);
	free(want);
}

static int remove_one(const char *p, const struct stat *st, int flag,
		      struct FTW *ftw)
{
	(void)st, (void)flag, (void)ftw;
	return remove(p);
}

static void test_parsers(void)
{
	uint8_t id[16];
	enum ipwd_action a;
	int64_t t;

	ok(ipwd_history_parse_time("1700000000", 10, 1800000000, &t) == 0 &&
		   t == 1700000000,
	   "since: digits are a Unix time");
	ok(ipwd_history_parse_time("600", 3, 1800000000, &t) == 0 && t == 600,
	   "... even a small one");
	ok(ipwd_history_parse_time("7d", 2, 1800000000, &t) == 0 &&
		   t == 1800000000 - 7 * 86400,
	   "a duration is back from now");
	ok(ipwd_history_parse_time("1h30m", 5, 1000, &t) == 0 && t == 0,
	   "a duration past the epoch gives 0");
	ok(ipwd_history_parse_time("253402300799", 12, 0, &t) == 0,
	   "the end of 9999 is taken");
	ok(ipwd_history_parse_time("253402300800", 12, 0, &t) != 0,
	   "a second later is refused");
	ok(ipwd_history_parse_time("99999999999999999999999", 23, 0, &t) != 0,
	   "a huge number is refused");
	ok(ipwd_history_parse_time("", 0, 0, &t) != 0, "empty is refused");
	ok(ipwd_history_parse_time("-5", 2, 0, &t) != 0 &&
		   ipwd_history_parse_time("7 d", 3, 0, &t) != 0 &&
		   ipwd_history_parse_time("7D", 2, 0, &t) != 0 &&
		   ipwd_history_parse_time("1.5", 3, 0, &t) != 0,
	   "signs, blanks, upper case and fractions are refused");
	ok(ipwd_opid_parse("0190a000-0000-7000-8000-00000000000A", 36, id) ==
			   0 &&
		   id[0] == 0x01 && id[15] == 0x0a,
	   "an op id parses, either case");
	ok(ipwd_opid_parse("0190a000-0000-7000-8000-00000000000", 35, id) !=
			   0 &&
		   ipwd_opid_parse("0190a0000-000-7000-8000-000000000000", 36,
				   id) != 0 &&
		   ipwd_opid_parse("0190a000-0000-7000-8000-00000000000g", 36,
				   id) != 0,
	   "short, misplaced dashes and non-hex are refused");
	ok(ipwd_history_parse_action("expire", 6, &a) == 0 &&
		   a == IPWD_ACT_EXPIRE,
	   "action expire");
	ok(ipwd_history_parse_action("mode", 4, &a) != 0 &&
		   ipwd_history_parse_action("batch", 5, &a) != 0 &&
		   ipwd_history_parse_action("ban ", 4, &a) != 0,
	   "mode, batch and near misses are refused");
}

int main(void)
{
	struct ipwd_store *s = NULL;
	struct ipwd_history *h = NULL;
	char err[512] = "";

	if (mkdtemp(dir) == NULL)
		return 1;
	snprintf(path, sizeof(path), "%s/ipwall.db", dir);
	ok(ipwd_history_open(&h, path, err, sizeof(err)) != 0 && h == NULL,
	   "history refuses a store that does not exist");
	if (ipwd_store_open(&s, path, IPWD_SYNC_OFF, err, sizeof(err)) != 0) {
		diag("%s", err);
		return 1;
	}
	if (!ok(ipwd_history_open(&h, path, err, sizeof(err)) == 0,
		"history opens the store read-only")) {
		diag("%s", err);
		return 1;
	}

	/* The hand-made history (times in seconds). */
	if (ipwd_store_begin(s) != 0)
		abort();
	op(s, 1000, IPWD_ACT_BAN, IPW_CHANGE_ADDED, "192.0.2.7", IPW_LIST_BAN,
	   "first");
	op(s, 1010, IPWD_ACT_BAN, IPW_CHANGE_ADDED, "10.0.0.0/8", IPW_LIST_BAN,
	   "other");
	op(s, 1020, IPWD_ACT_BAN, IPW_CHANGE_ADDED, "192.0.3.1", IPW_LIST_BAN,
	   "neighbour");
	op(s, 1050, IPWD_ACT_BAN, IPW_CHANGE_ADDED, "192.0.2.0/24",
	   IPW_LIST_BAN, "net");
	op(s, 1060, IPWD_ACT_ALLOW, IPW_CHANGE_ADDED, "192.0.0.0/16",
	   IPW_LIST_ALLOW, "office");
	mode_op(s, 1065);
	op(s, 1080, IPWD_ACT_BAN, IPW_CHANGE_ADDED, "192.0.2.8", IPW_LIST_BAN,
	   "next door");
	op(s, 1090, IPWD_ACT_BAN, IPW_CHANGE_ADDED, "192.0.2.0/25",
	   IPW_LIST_BAN, "half");
	op(s, 1100, IPWD_ACT_BAN, IPW_CHANGE_EXTENDED, "192.0.2.7",
	   IPW_LIST_BAN, "second");
	op(s, 1150, IPWD_ACT_UNBAN, IPW_CHANGE_REMOVED, "192.0.2.7",
	   IPW_LIST_BAN, "second");
	op(s, 1160, IPWD_ACT_BAN, IPW_CHANGE_ADDED, "192.0.2.255", IPW_LIST_BAN,
	   "top");
	op(s, 1200, IPWD_ACT_BAN, IPW_CHANGE_ADDED, "192.0.2.7", IPW_LIST_BAN,
	   "third");
	op(s, 1200, IPWD_ACT_BAN, IPW_CHANGE_ADDED, "0.0.0.0/0", IPW_LIST_BAN,
	   "everything");
	op(s, 1300, IPWD_ACT_EXPIRE, IPW_CHANGE_REMOVED, "192.0.2.7",
	   IPW_LIST_BAN, "third");
	op(s, 1400, IPWD_ACT_BAN, IPW_CHANGE_UNCHANGED, "192.0.3.1",
	   IPW_LIST_BAN, "again");
	op(s, 2000, IPWD_ACT_BAN, IPW_CHANGE_ADDED, "2001:db8::1", IPW_LIST_BAN,
	   "v6");
	op(s, 2001, IPWD_ACT_BAN, IPW_CHANGE_ADDED, "2001:db8::2", IPW_LIST_BAN,
	   "v6");
	op(s, 2002, IPWD_ACT_BAN, IPW_CHANGE_ADDED, "2001:db8:0:1::1",
	   IPW_LIST_BAN, "v6 next /64");
	op(s, 2003, IPWD_ACT_BAN, IPW_CHANGE_EXTENDED, "2001:db8::1",
	   IPW_LIST_BAN, "v6");
	op(s, 2004, IPWD_ACT_BAN, IPW_CHANGE_ADDED, "2001:db8::/64",
	   IPW_LIST_BAN, "v6 net");
	op(s, 2005, IPWD_ACT_BAN, IPW_CHANGE_ADDED, "2001:db8::/32",
	   IPW_LIST_BAN, "v6 big");
	op(s, 2006, IPWD_ACT_BAN, IPW_CHANGE_ADDED, "2001:db8::1", IPW_LIST_BAN,
	   "v6");
	if (ipwd_store_commit(s) != 0)
		abort();

	test_documented_rows(h);
	test_counts(h);
	test_plan(h);
	test_parsers();

	srand(12345);
	random_history(s, 2000);
	test_random(h);

	ipwd_history_close(h);
	ipwd_history_close(NULL);
	ipwd_store_close(s);
	if (nftw(dir, remove_one, 16, FTW_DEPTH | FTW_PHYS) != 0)
		diag("could not remove %s", dir);
	return done_testing();
}
