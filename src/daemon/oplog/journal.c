/* SPDX-License-Identifier: MIT */
/*
 * The op log's journal (see journal.h).
 *
 * A commit is one transaction of three small statements: the group's row
 * (the codec's bytes, encoded into a buffer kept between groups), an
 * upsert per origin the group moved, the sequence. The oplog table's key
 * is the sequence, so rows go to the right edge of its B-tree: a group of
 * 10,000 bans (about 600 KB) writes its overflow pages in order and
 * touches one leaf. Reads (a subscriber catching up, the start-up replay)
 * decode a row into records whose pointers point into an array the read
 * owns for the length of the callback.
 */
#include <pthread.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <ipwall/errcode.h>

#include "base/log.h"
#include "oplog/codec.h"
#include "oplog/journal.h"
#include "oplog/sqlerr.h"

#define JOURNAL_VERSION 1

static const char schema[] =
	"CREATE TABLE IF NOT EXISTS meta("
	" key TEXT PRIMARY KEY, value) WITHOUT ROWID;"
	"CREATE TABLE IF NOT EXISTS origins("
	" node TEXT PRIMARY KEY, last_id BLOB NOT NULL, seq INTEGER NOT NULL)"
	" WITHOUT ROWID;"
	"CREATE TABLE IF NOT EXISTS oplog("
	" seq INTEGER PRIMARY KEY, n INTEGER NOT NULL, ops BLOB NOT NULL);";

enum stmt {
	J_BEGIN,
	J_COMMIT,
	J_ROLLBACK,
	J_GROUP,
	J_ORIGIN,
	J_SEQ,
	J_TRIM,
	J_N
};

static const char *const stmt_sql[J_N] = {
	[J_BEGIN] = "BEGIN IMMEDIATE",
	[J_COMMIT] = "COMMIT",
	[J_ROLLBACK] = "ROLLBACK",
	[J_GROUP] = "INSERT INTO oplog(seq, n, ops) VALUES (?1, ?2, ?3)",
	[J_ORIGIN] = ("INSERT OR REPLACE INTO origins(node, last_id, seq)"
		      " VALUES (?1, ?2, ?3)"),
	[J_SEQ] = "INSERT OR REPLACE INTO meta(key, value) VALUES ('seq', ?1)",
	[J_TRIM] = "DELETE FROM oplog WHERE seq <= ?1",
};

struct ipwd_journal {
	sqlite3 *db;
	sqlite3_stmt *st[J_N];
	char *path;
	char errmsg[256];
	uint8_t *buf; /* the group being encoded */
	size_t cap;
	/* the reader */
	pthread_mutex_t rlock;
	sqlite3 *rdb;
	sqlite3_stmt *rq;
};

static int run(struct ipwd_journal *j, enum stmt i)
{
	int rc = sqlite3_step(j->st[i]);

	if (ipwd_sqlite_err(rc) != 0 && i != J_ROLLBACK)
		snprintf(j->errmsg, sizeof(j->errmsg), "%s",
			 sqlite3_errmsg(j->db));
	sqlite3_reset(j->st[i]);
	sqlite3_clear_bindings(j->st[i]);
	return ipwd_sqlite_err(rc);
}

static int open_fail(struct ipwd_journal *j, const char *path, const char *what,
		     int rc, char *err, size_t errlen)
{
	snprintf(err, errlen, "%s: %s: %s (%s); %s", path, what,
		 j->db ? sqlite3_errmsg(j->db) : sqlite3_errstr(rc),
		 sqlite3_errstr(rc), ipwd_sqlite_hint(rc));
	ipwd_journal_close(j);
	return -1;
}

int ipwd_journal_open(struct ipwd_journal **out, const char *path,
		      const char *sync_pragma, char *err, size_t errlen)
{
	struct ipwd_journal *j = calloc(1, sizeof(*j));
	sqlite3_stmt *q = NULL;
	int rc, version = 0, tables = 0, i;

	if (j == NULL || (j->path = strdup(path)) == NULL) {
		free(j);
		snprintf(err, errlen, "%s: out of memory", path);
		return -1;
	}
	pthread_mutex_init(&j->rlock, NULL);
	rc = sqlite3_open_v2(path, &j->db,
			     SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE |
				     SQLITE_OPEN_NOMUTEX,
			     NULL);
	if (rc != SQLITE_OK)
		return open_fail(j, path, "cannot open", rc, err, errlen);
	sqlite3_extended_result_codes(j->db, 1);
	sqlite3_busy_timeout(j->db, 5000);
	if (sqlite3_db_readonly(j->db, "main") == 1) {
		snprintf(err, errlen,
			 "%s: cannot write: the file is read-only for this "
			 "user; %s",
			 path, ipwd_sqlite_hint(SQLITE_READONLY));
		ipwd_journal_close(j);
		return -1;
	}
	rc = sqlite3_prepare_v2(j->db, "PRAGMA user_version", -1, &q, NULL);
	if (rc == SQLITE_OK && sqlite3_step(q) == SQLITE_ROW)
		version = sqlite3_column_int(q, 0);
	sqlite3_finalize(q);
	rc = sqlite3_prepare_v2(j->db, "SELECT count(*) FROM sqlite_schema", -1,
				&q, NULL);
	if (rc == SQLITE_OK)
		rc = sqlite3_step(q);
	if (rc != SQLITE_ROW) {
		sqlite3_finalize(q);
		return open_fail(j, path, "cannot read", rc, err, errlen);
	}
	tables = sqlite3_column_int(q, 0);
	sqlite3_finalize(q);
	if (tables > 0 && version != JOURNAL_VERSION) {
		snprintf(
			err, errlen,
			"%s: not an op log journal of version %d (it says %d); "
			"nothing was changed. It may hold acknowledged ops: "
			"keep it, and start the ipwalld that wrote it",
			path, JOURNAL_VERSION, version);
		ipwd_journal_close(j);
		return -1;
	}
	rc = sqlite3_exec(j->db, "PRAGMA journal_mode=WAL", NULL, NULL, NULL);
	if (rc == SQLITE_OK)
		rc = sqlite3_exec(j->db, sync_pragma, NULL, NULL, NULL);
	if (rc == SQLITE_OK)
		rc = sqlite3_exec(j->db, schema, NULL, NULL, NULL);
	if (rc == SQLITE_OK && tables == 0)
		rc = sqlite3_exec(j->db, "PRAGMA user_version = 1", NULL, NULL,
				  NULL);
	if (rc != SQLITE_OK)
		return open_fail(j, path, "cannot set up", rc, err, errlen);
	for (i = 0; i < J_N; i++) {
		rc = sqlite3_prepare_v3(j->db, stmt_sql[i], -1,
					SQLITE_PREPARE_PERSISTENT, &j->st[i],
					NULL);
		if (rc != SQLITE_OK)
			return open_fail(j, path, "cannot prepare", rc, err,
					 errlen);
	}
	*out = j;
	return 0;
}

void ipwd_journal_close(struct ipwd_journal *j)
{
	int i;

	if (j == NULL)
		return;
	/* the reader first: the last connection to close checkpoints the
	 * WAL into the file and removes it (a read-only one cannot), so
	 * the next start does not read the WAL back */
	sqlite3_finalize(j->rq);
	sqlite3_close(j->rdb);
	for (i = 0; i < J_N; i++)
		sqlite3_finalize(j->st[i]);
	sqlite3_close(j->db);
	pthread_mutex_destroy(&j->rlock);
	free(j->buf);
	free(j->path);
	free(j);
}

const char *ipwd_journal_errmsg(struct ipwd_journal *j)
{
	return j->errmsg[0] ? j->errmsg : sqlite3_errmsg(j->db);
}

int ipwd_journal_commit(struct ipwd_journal *j, const struct ipwd_group *g,
			const struct ipwd_origin *cur, size_t ncur)
{
	int64_t len;
	size_t i;
	int rc;

	len = ipwd_codec_group_encode(g->recs, g->n, &j->buf, &j->cap);
	if (len < 0) {
		snprintf(j->errmsg, sizeof(j->errmsg),
			 "an op of the group cannot be encoded (%s)",
			 ipw_strerror((int)len));
		return len == IPW_ENOMEM ? IPW_ENOMEM : IPW_EIO;
	}
	rc = run(j, J_BEGIN);
	if (rc == 0) {
		sqlite3_stmt *q = j->st[J_GROUP];

		sqlite3_bind_int64(q, 1, (sqlite3_int64)g->seq);
		sqlite3_bind_int64(q, 2, (sqlite3_int64)g->n);
		sqlite3_bind_blob64(q, 3, j->buf, (sqlite3_uint64)len,
				    SQLITE_STATIC);
		rc = run(j, J_GROUP);
	}
	for (i = 0; rc == 0 && i < ncur; i++) {
		sqlite3_stmt *q = j->st[J_ORIGIN];

		sqlite3_bind_text(q, 1, cur[i].node, -1, SQLITE_STATIC);
		sqlite3_bind_blob(q, 2, cur[i].last_id, 16, SQLITE_STATIC);
		sqlite3_bind_int64(q, 3, (sqlite3_int64)cur[i].seq);
		rc = run(j, J_ORIGIN);
	}
	if (rc == 0) {
		sqlite3_bind_int64(j->st[J_SEQ], 1, (sqlite3_int64)g->seq);
		rc = run(j, J_SEQ);
	}
	if (rc == 0)
		rc = run(j, J_COMMIT);
	if (rc != 0 && !sqlite3_get_autocommit(j->db))
		run(j, J_ROLLBACK);
	return rc;
}

int ipwd_journal_trim(struct ipwd_journal *j, uint64_t seq)
{
	sqlite3_bind_int64(j->st[J_TRIM], 1, (sqlite3_int64)seq);
	return run(j, J_TRIM);
}

int ipwd_journal_meta(struct ipwd_journal *j, uint64_t *seq,
		      int (*origin)(void *ctx, const struct ipwd_origin *o),
		      void *ctx, char *err, size_t errlen)
{
	sqlite3_stmt *q = NULL;
	int rc, cbrc = 0;

	*seq = 0;
	rc = sqlite3_prepare_v2(j->db,
				"SELECT value FROM meta WHERE key = 'seq'", -1,
				&q, NULL);
	if (rc == SQLITE_OK && (rc = sqlite3_step(q)) == SQLITE_ROW) {
		sqlite3_int64 v = sqlite3_column_int64(q, 0);

		*seq = v > 0 ? (uint64_t)v : 0;
		rc = SQLITE_DONE;
	}
	sqlite3_finalize(q);
	if (rc != SQLITE_DONE) {
		snprintf(err, errlen, "%s: cannot read the sequence: %s; %s",
			 j->path, sqlite3_errstr(rc), ipwd_sqlite_hint(rc));
		return -1;
	}
	rc = sqlite3_prepare_v2(j->db, "SELECT node, last_id, seq FROM origins",
				-1, &q, NULL);
	if (rc == SQLITE_OK)
		rc = sqlite3_step(q);
	while (rc == SQLITE_ROW && cbrc == 0) {
		const char *node = (const char *)sqlite3_column_text(q, 0);
		int nlen = sqlite3_column_bytes(q, 0);
		const void *id = sqlite3_column_blob(q, 1);
		struct ipwd_origin o = {0};

		if (node == NULL || nlen <= 0 || nlen >= IPWD_NODE_MAX ||
		    id == NULL || sqlite3_column_bytes(q, 1) != 16) {
			snprintf(err, errlen,
				 "%s: an origin's cursor is malformed; %s",
				 j->path, ipwd_sqlite_hint(SQLITE_CORRUPT));
			sqlite3_finalize(q);
			return -1;
		}
		memcpy(o.node, node, (size_t)nlen);
		memcpy(o.last_id, id, 16);
		o.seq = (uint64_t)sqlite3_column_int64(q, 2);
		cbrc = origin(ctx, &o);
		if (cbrc == 0)
			rc = sqlite3_step(q);
	}
	sqlite3_finalize(q);
	if (cbrc != 0) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	if (rc != SQLITE_DONE) {
		snprintf(err, errlen,
			 "%s: cannot read the origins' cursors: %s; %s",
			 j->path, sqlite3_errstr(rc), ipwd_sqlite_hint(rc));
		return -1;
	}
	return 0;
}

/* One group's bytes decoded and handed to @cb. */
static int read_group(const struct ipwd_journal *j, uint64_t seq,
		      const uint8_t *b, size_t len,
		      int (*cb)(void *ctx, const struct ipwd_group *g),
		      void *ctx)
{
	struct ipwd_oprec_buf *v = NULL;
	struct ipwd_oprec *flat = NULL;
	struct ipwd_codec_err e;
	uint64_t count = 0, seen = 0;
	size_t pos = 0, i = 0, cap = 0;
	struct ipwd_group g;
	int rc;

	for (;;) {
		if (i == cap) {
			size_t c = cap ? cap * 2 : 64;
			struct ipwd_oprec_buf *nv = realloc(v, c * sizeof(*nv));

			if (nv == NULL) {
				rc = IPW_ENOMEM;
				goto out;
			}
			v = nv;
			cap = c;
		}
		rc = ipwd_codec_group_next(b, len, &pos, &count, &seen, &v[i],
					   &e);
		if (rc <= 0)
			break;
		i++;
	}
	if (rc < 0) {
		log_error("%s: the op log's group %llu is damaged (%s at byte "
			  "%zu); %s",
			  j->path, (unsigned long long)seq, e.why, e.pos,
			  ipwd_sqlite_hint(SQLITE_CORRUPT));
		rc = IPW_EIO;
		goto out;
	}
	flat = malloc((i ? i : 1) * sizeof(*flat));
	if (flat == NULL) {
		rc = IPW_ENOMEM;
		goto out;
	}
	for (pos = 0; pos < i; pos++) {
		/* the array may have moved since a record was decoded */
		ipwd_oprec_buf_rebase(&v[pos]);
		flat[pos] = v[pos].r;
		flat[pos].seq = seq;
	}
	g.seq = seq;
	g.n = i;
	g.recs = flat;
	rc = cb(ctx, &g);
out:
	free(flat);
	free(v);
	return rc;
}

/* The reader, opened on first use (rlock held): an SQLite code. */
static int reader(struct ipwd_journal *j)
{
	int rc;

	if (j->rdb)
		return SQLITE_OK;
	rc = sqlite3_open_v2(j->path, &j->rdb, SQLITE_OPEN_READONLY, NULL);
	if (rc == SQLITE_OK) {
		sqlite3_busy_timeout(j->rdb, 5000);
		rc = sqlite3_prepare_v3(j->rdb,
					"SELECT seq, ops FROM oplog WHERE seq >"
					" ?1 AND seq <= ?2 ORDER BY seq",
					-1, SQLITE_PREPARE_PERSISTENT, &j->rq,
					NULL);
	}
	if (rc != SQLITE_OK) {
		sqlite3_finalize(j->rq);
		j->rq = NULL;
		sqlite3_close(j->rdb);
		j->rdb = NULL;
	}
	return rc;
}

int ipwd_journal_read(struct ipwd_journal *j, uint64_t from, uint64_t to,
		      int (*cb)(void *ctx, const struct ipwd_group *g),
		      void *ctx)
{
	uint64_t expect = from + 1;
	int rc, cbrc = 0;

	if (to <= from)
		return 0;
	pthread_mutex_lock(&j->rlock);
	rc = reader(j);
	if (rc != SQLITE_OK) {
		pthread_mutex_unlock(&j->rlock);
		return ipwd_sqlite_err(rc) ? ipwd_sqlite_err(rc) : IPW_EIO;
	}
	sqlite3_bind_int64(j->rq, 1, (sqlite3_int64)from);
	sqlite3_bind_int64(j->rq, 2, (sqlite3_int64)to);
	while ((rc = sqlite3_step(j->rq)) == SQLITE_ROW) {
		uint64_t seq = (uint64_t)sqlite3_column_int64(j->rq, 0);
		const uint8_t *b = sqlite3_column_blob(j->rq, 1);
		size_t len = (size_t)sqlite3_column_bytes(j->rq, 1);

		if (seq != expect) {
			cbrc = IPW_ENOENT; /* trimmed (or a gap) */
			break;
		}
		cbrc = read_group(j, seq, b, len, cb, ctx);
		if (cbrc != 0)
			break;
		expect++;
	}
	sqlite3_reset(j->rq);
	pthread_mutex_unlock(&j->rlock);
	if (cbrc != 0)
		return cbrc;
	if (rc != SQLITE_DONE)
		return ipwd_sqlite_err(rc) ? ipwd_sqlite_err(rc) : IPW_EIO;
	return expect == to + 1 ? 0 : IPW_ENOENT;
}
