/* SPDX-License-Identifier: MIT */
/*
 * The durable store (see store.h).
 *
 * Keys. A target is stored as (family, address bytes, prefix length): 4 or
 * 16 bytes in network order, so the rows of every target inside a prefix
 * are one contiguous range of the (family, addr) index, and "how often was
 * this /24 banned" is a range scan, not a table scan.
 *
 * Statements are prepared once at open and reset after each use. Both
 * tables are WITHOUT ROWID, clustered on their key: entries on (list,
 * target), ops on the op id as 16 bytes. A UUIDv7 starts with its
 * millisecond timestamp, so the ops are stored in time order and a time
 * range is an id range, with no index of its own; recording an op twice
 * (a replay) hits the primary key and is ignored. One secondary index,
 * ops_by_target, answers questions about a target or a prefix. So an op
 * costs two B-tree inserts in ops and one in entries.
 *
 * Failure: a record or commit that fails with SQLITE_FULL reports
 * IPW_ENOSPC, anything else IPW_EIO; the caller rolls back (the
 * transaction and its in-memory effects) and answers 503. SQLite's message
 * for the failure is kept (a ROLLBACK would reset sqlite3_errmsg() to "not
 * an error") for ipwd_store_errmsg(). Reads at start that meet
 * SQLITE_CORRUPT / SQLITE_NOTADB refuse the start with a hint, and so does
 * a store this process may read but not write (a read-only file, or a
 * directory where the -wal file cannot be made): it would otherwise start
 * and refuse every write with 503 for ever.
 */
#include <errno.h>
#include <pthread.h>
#include <fcntl.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <ipwall/addr.h>
#include <ipwall/errcode.h>

#include "base/log.h"
#include "oplog/codec.h"
#include "oplog/journal.h"
#include "oplog/sqlerr.h"
#include "oplog/store.h"

#define SCHEMA_VERSION 2
#define LOAD_BATCH     8192

/* Version 2, as a new store is made. */
static const char schema[] =
	"CREATE TABLE IF NOT EXISTS meta("
	" key TEXT PRIMARY KEY, value) WITHOUT ROWID;"
	"CREATE TABLE IF NOT EXISTS entries("
	" list INTEGER NOT NULL, family INTEGER NOT NULL, addr BLOB NOT NULL,"
	" plen INTEGER NOT NULL, expires INTEGER NOT NULL,"
	" created INTEGER NOT NULL, score INTEGER NOT NULL,"
	" flags INTEGER NOT NULL, hits INTEGER NOT NULL,"
	" last_hit INTEGER NOT NULL, reason TEXT, actor TEXT, source TEXT,"
	" PRIMARY KEY (list, family, addr, plen)) WITHOUT ROWID;"
	"CREATE TABLE IF NOT EXISTS ops("
	" id BLOB PRIMARY KEY, time INTEGER NOT NULL, actor TEXT, node TEXT,"
	" action TEXT NOT NULL, result TEXT, list INTEGER, family INTEGER,"
	" addr BLOB, plen INTEGER, target TEXT, expires INTEGER,"
	" score INTEGER, reason TEXT, mode TEXT, prev_expires INTEGER,"
	" prev_score INTEGER, prev_reason TEXT, prev_mode TEXT,"
	" seq INTEGER, flags INTEGER, source TEXT, created INTEGER,"
	" entry_actor TEXT, prev_flags INTEGER) WITHOUT ROWID;"
	"CREATE INDEX IF NOT EXISTS ops_by_target ON ops(family, addr, time)"
	" WHERE addr IS NOT NULL;"
	"CREATE TABLE IF NOT EXISTS origins("
	" node TEXT PRIMARY KEY, last_id BLOB NOT NULL, seq INTEGER NOT NULL)"
	" WITHOUT ROWID;";

/*
 * Version 1 to 2, in one transaction: the history's new columns (what a
 * replay needs: the entry's flags, source, creation time and actor, the
 * flags before), the origins' cursors, and a sequence for the ops
 * already there: one group per op, in op id order (which is the order
 * they were made in: a version-1 store has only this node's ops), so the
 * sequence goes on from their count without a gap.
 */
static const char migrate_1_2[] =
	"ALTER TABLE ops ADD COLUMN seq INTEGER;"
	"ALTER TABLE ops ADD COLUMN flags INTEGER;"
	"ALTER TABLE ops ADD COLUMN source TEXT;"
	"ALTER TABLE ops ADD COLUMN created INTEGER;"
	"ALTER TABLE ops ADD COLUMN entry_actor TEXT;"
	"ALTER TABLE ops ADD COLUMN prev_flags INTEGER;"
	"CREATE TABLE origins("
	" node TEXT PRIMARY KEY, last_id BLOB NOT NULL, seq INTEGER NOT NULL)"
	" WITHOUT ROWID;"
	"UPDATE ops SET seq = r.n FROM (SELECT id, row_number() OVER"
	" (ORDER BY id) AS n FROM ops) AS r WHERE ops.id = r.id;"
	"INSERT OR REPLACE INTO meta(key, value)"
	" SELECT 'seq', count(*) FROM ops;"
	"INSERT INTO origins(node, last_id, seq)"
	" SELECT node, max(id), max(seq) FROM ops WHERE node IS NOT NULL"
	" GROUP BY node;"
	"PRAGMA user_version = 2;";

enum stmt {
	ST_BEGIN,
	ST_COMMIT,
	ST_ROLLBACK,
	ST_OP,
	ST_PUT,
	ST_DEL,
	ST_MODE,
	ST_COUNT_OPS,
	ST_PRUNE,
	ST_ORIGIN,
	ST_SEQ,
	ST_N
};

static const char *const stmt_sql[ST_N] = {
	[ST_BEGIN] = "BEGIN IMMEDIATE",
	[ST_COMMIT] = "COMMIT",
	[ST_ROLLBACK] = "ROLLBACK",
	[ST_OP] = "INSERT OR IGNORE INTO ops(id, time, actor, node, action,"
		  " result, list, family, addr, plen, target, expires, score,"
		  " reason, mode, prev_expires, prev_score, prev_reason,"
		  " prev_mode, seq, flags, source, created, entry_actor,"
		  " prev_flags) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9,"
		  " ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, ?19, ?20, ?21,"
		  " ?22, ?23, ?24, ?25)",
	[ST_PUT] = "INSERT OR REPLACE INTO entries(list, family, addr, plen,"
		   " expires, created, score, flags, hits, last_hit, reason,"
		   " actor, source) VALUES"
		   " (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)",
	[ST_DEL] = "DELETE FROM entries WHERE list = ?1 AND family = ?2 AND"
		   " addr = ?3 AND plen = ?4",
	[ST_MODE] = "INSERT OR REPLACE INTO meta(key, value) VALUES"
		    " ('mode', ?1)",
	[ST_COUNT_OPS] = "SELECT count(*) FROM ops",
	/* the oldest ops first, by id (= time), up to ?2 of them */
	[ST_PRUNE] = "DELETE FROM ops WHERE id IN (SELECT id FROM ops WHERE"
		     " id < ?1 ORDER BY id LIMIT ?2)",
	[ST_ORIGIN] = "INSERT OR REPLACE INTO origins(node, last_id, seq)"
		      " VALUES (?1, ?2, ?3)",
	[ST_SEQ] = "INSERT OR REPLACE INTO meta(key, value) VALUES ('seq', ?1)",
};

struct ipwd_store {
	sqlite3 *db;
	sqlite3_stmt *st[ST_N];
	bool in_tx;
	char errmsg[256]; /* SQLite's message for the last failure */
	char *path;
	/* the history's reader (ops_after, seq_of): a read-only connection
	 * of its own, opened on first use */
	sqlite3 *rdb;
	pthread_mutex_t rlock; /* rdb: one reader at a time */
	/* db: the index (its subscriber's thread) and history pruning
	 * (the main thread) take turns */
	pthread_mutex_t wlock;
	/* the op log's journal, beside the store (journal.h) */
	struct ipwd_journal *j;
	struct ipwd_indexer *ix;
};

/* The history's read-only connection, opened on first use (rlock held).
 * An SQLite result code. */
static int reader(struct ipwd_store *s)
{
	int rc;

	if (s->rdb)
		return SQLITE_OK;
	rc = sqlite3_open_v2(s->path, &s->rdb, SQLITE_OPEN_READONLY, NULL);
	if (rc == SQLITE_OK)
		sqlite3_busy_timeout(s->rdb, 5000);
	else {
		sqlite3_close(s->rdb);
		s->rdb = NULL;
	}
	return rc;
}

/* Run a prepared statement to completion. A failure's message is kept
 * (not a ROLLBACK's: it follows the failure that matters). */
static int run(struct ipwd_store *s, enum stmt i)
{
	int rc = sqlite3_step(s->st[i]);

	if (ipwd_sqlite_err(rc) != 0 && i != ST_ROLLBACK)
		snprintf(s->errmsg, sizeof(s->errmsg), "%s",
			 sqlite3_errmsg(s->db));
	sqlite3_reset(s->st[i]);
	sqlite3_clear_bindings(s->st[i]);
	return ipwd_sqlite_err(rc);
}

static int open_fail(struct ipwd_store *s, const char *path, const char *what,
		     int rc, char *err, size_t errlen)
{
	snprintf(err, errlen, "%s: %s: %s (%s); %s", path, what,
		 s->db ? sqlite3_errmsg(s->db) : sqlite3_errstr(rc),
		 sqlite3_errstr(rc), ipwd_sqlite_hint(rc));
	ipwd_store_close(s);
	return -1;
}

static uint32_t be32(const unsigned char *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 |
	       (uint32_t)p[2] << 8 | p[3];
}

/*
 * Is @path shorter than its own header says? The header's page count is
 * trusted (as SQLite does) when it is non-zero and its change counter
 * (offset 24) equals the version-valid-for number (offset 92). Only asked
 * when there is no -wal file with frames in it: a checkpoint that a crash
 * cut short may have written the new header before the pages that extend
 * the file, and the WAL then still holds them (SQLite finishes the
 * checkpoint). Returns true with @err set when the file is cut short.
 */
static bool truncated(const char *path, char *err, size_t errlen)
{
	unsigned char h[100];
	char wal[4096];
	struct stat st, ws;
	uint64_t psize, pages;
	int fd;

	snprintf(wal, sizeof(wal), "%s-wal", path);
	if (stat(wal, &ws) == 0 && ws.st_size > 32)
		return false;
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return false; /* SQLite says why */
	if (fstat(fd, &st) != 0 || pread(fd, h, sizeof(h), 0) != sizeof(h) ||
	    memcmp(h, "SQLite format 3", 16) != 0) {
		close(fd);
		return false; /* empty (new), or not SQLite: SQLite says */
	}
	close(fd);
	psize = (uint64_t)h[16] << 8 | h[17];
	if (psize == 1)
		psize = 65536;
	pages = be32(h + 28);
	if (pages == 0 || be32(h + 24) != be32(h + 92) ||
	    (uint64_t)st.st_size >= pages * psize)
		return false;
	snprintf(err, errlen,
		 "%s: the file is shorter than its header says (%lld of "
		 "%llu bytes): it was cut short; %s",
		 path, (long long)st.st_size,
		 (unsigned long long)pages * (unsigned long long)psize,
		 ipwd_sqlite_hint(SQLITE_CORRUPT));
	return true;
}

/*
 * Version 1 to 2. Nothing is rewritten without a copy: the file as it is
 * goes to PATH.v1-backup first (VACUUM INTO: a consistent copy, WAL
 * included), then the migration runs in one transaction, so a failure
 * leaves the file as it was.
 */
static int migrate(struct ipwd_store *s, const char *path, int version,
		   char *err, size_t errlen)
{
	char backup[4200], *sql, *msg = NULL;
	struct stat st;
	int rc, i;

	snprintf(backup, sizeof(backup), "%s.v%d-backup", path, version);
	for (i = 1; stat(backup, &st) == 0 && i < 100; i++)
		snprintf(backup, sizeof(backup), "%s.v%d-backup.%d", path,
			 version, i);
	sql = sqlite3_mprintf("VACUUM INTO %Q", backup);
	if (sql == NULL) {
		snprintf(err, errlen, "%s: out of memory", path);
		return -1;
	}
	rc = sqlite3_exec(s->db, sql, NULL, NULL, &msg);
	sqlite3_free(sql);
	if (rc != SQLITE_OK) {
		snprintf(err, errlen,
			 "%s: schema version %d needs a migration to %d, and "
			 "the copy kept before it cannot be made at %s: %s; "
			 "nothing was changed (%s)",
			 path, version, SCHEMA_VERSION, backup,
			 msg ? msg : sqlite3_errstr(rc), ipwd_sqlite_hint(rc));
		sqlite3_free(msg);
		return -1;
	}
	rc = sqlite3_exec(s->db, "BEGIN IMMEDIATE", NULL, NULL, NULL);
	if (rc == SQLITE_OK)
		rc = sqlite3_exec(s->db, migrate_1_2, NULL, NULL, &msg);
	if (rc == SQLITE_OK)
		rc = sqlite3_exec(s->db, "COMMIT", NULL, NULL, &msg);
	if (rc != SQLITE_OK) {
		snprintf(err, errlen,
			 "%s: cannot migrate schema version %d to %d: %s; the "
			 "file is as it was, and a copy is at %s (%s)",
			 path, version, SCHEMA_VERSION,
			 msg ? msg : sqlite3_errmsg(s->db), backup,
			 ipwd_sqlite_hint(rc));
		sqlite3_free(msg);
		sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
		return -1;
	}
	log_info("store %s: schema version %d migrated to %d; the file as it "
		 "was is kept at %s",
		 path, version, SCHEMA_VERSION, backup);
	return 0;
}

int ipwd_store_open(struct ipwd_store **out, const char *path,
		    enum ipwd_sync sync, char *err, size_t errlen)
{
	static const char *const sync_pragma[] = {"PRAGMA synchronous=FULL",
						  "PRAGMA synchronous=NORMAL",
						  "PRAGMA synchronous=OFF"};
	struct ipwd_store *s = calloc(1, sizeof(*s));
	sqlite3_stmt *q = NULL;
	int rc, version = 0, i;
	bool fresh;

	if (s == NULL) {
		snprintf(err, errlen, "%s: out of memory", path);
		return -1;
	}
	pthread_mutex_init(&s->rlock, NULL);
	pthread_mutex_init(&s->wlock, NULL);
	s->path = strdup(path);
	if (s->path == NULL) {
		free(s);
		snprintf(err, errlen, "%s: out of memory", path);
		return -1;
	}
	rc = sqlite3_open_v2(path, &s->db,
			     SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE |
				     SQLITE_OPEN_NOMUTEX,
			     NULL);
	if (rc != SQLITE_OK)
		return open_fail(s, path, "cannot open", rc, err, errlen);
	sqlite3_extended_result_codes(s->db, 1);
	sqlite3_busy_timeout(s->db, 5000);
	/* SQLite falls back to read-only when the file is write-protected.
	 * Asked before anything is read, so that no -wal or -shm file is made
	 * beside it (they would take the file's read-only mode). */
	if (sqlite3_db_readonly(s->db, "main") == 1) {
		snprintf(err, errlen,
			 "%s: cannot write: the file is read-only for this "
			 "user; %s",
			 path, ipwd_sqlite_hint(SQLITE_READONLY));
		ipwd_store_close(s);
		return -1;
	}

	/* A file cut short (a copy that did not finish, a full disk during
	 * a copy) is refused before anything writes. The full check of
	 * every page (quick_check) is O(file) - 4 s at 1M bans - so it runs
	 * after the start, in the background (ipwd_store_verify()); what
	 * the start reads (meta, every entry) is read strictly, so damage
	 * there refuses the start too. */
	if (truncated(path, err, errlen)) {
		ipwd_store_close(s);
		return -1;
	}
	rc = sqlite3_prepare_v2(s->db, "PRAGMA user_version", -1, &q, NULL);
	if (rc == SQLITE_OK && sqlite3_step(q) == SQLITE_ROW)
		version = sqlite3_column_int(q, 0);
	sqlite3_finalize(q);
	rc = sqlite3_prepare_v2(s->db, "SELECT count(*) FROM sqlite_schema", -1,
				&q, NULL);
	if (rc == SQLITE_OK)
		rc = sqlite3_step(q);
	if (rc != SQLITE_ROW) {
		sqlite3_finalize(q);
		return open_fail(s, path, "cannot read", rc, err, errlen);
	}
	fresh = sqlite3_column_int(q, 0) == 0;
	sqlite3_finalize(q);
	/* Taking the write lock opens the -wal file for writing (a store in
	 * a directory this user may not write fails here), and writes
	 * nothing. */
	rc = sqlite3_exec(s->db, "BEGIN IMMEDIATE; COMMIT", NULL, NULL, NULL);
	if (rc != SQLITE_OK)
		return open_fail(s, path, "cannot write", rc, err, errlen);
	if (!fresh && version > SCHEMA_VERSION) {
		snprintf(err, errlen,
			 "%s: schema version %d, newer than the %d this "
			 "ipwalld knows: it was written by a newer ipwalld. "
			 "Nothing was changed; run that version, or start "
			 "this one on the copy a migration kept "
			 "(%s.v%d-backup) if there is one",
			 path, version, SCHEMA_VERSION, path, SCHEMA_VERSION);
		ipwd_store_close(s);
		return -1;
	}
	if (!fresh && version < 1) {
		snprintf(err, errlen,
			 "%s: schema version %d, this ipwalld knows 1 to %d "
			 "(a database of another program?); nothing was "
			 "changed",
			 path, version, SCHEMA_VERSION);
		ipwd_store_close(s);
		return -1;
	}

	rc = sqlite3_exec(s->db, "PRAGMA journal_mode=WAL", NULL, NULL, NULL);
	if (rc == SQLITE_OK)
		rc = sqlite3_exec(s->db, sync_pragma[sync], NULL, NULL, NULL);
	/* 64 MiB of page cache (SQLite's default is 2 MiB): bans arrive in
	 * random address order, so every op touches a random leaf of the
	 * entries table and of the ops index; with 2 MiB a store of 1M bans
	 * re-reads a page from the OS for nearly every op (measured 16.3
	 * us/op at 1M; see docs/benchmarks.md). */
	if (rc == SQLITE_OK)
		rc = sqlite3_exec(s->db, "PRAGMA cache_size=-65536", NULL, NULL,
				  NULL);
	if (rc == SQLITE_OK && !fresh && version < SCHEMA_VERSION) {
		if (migrate(s, path, version, err, errlen) != 0) {
			ipwd_store_close(s);
			return -1;
		}
	}
	if (rc == SQLITE_OK)
		rc = sqlite3_exec(s->db, schema, NULL, NULL, NULL);
	if (rc == SQLITE_OK && fresh) {
		char v[64];

		snprintf(v, sizeof(v), "PRAGMA user_version=%d",
			 SCHEMA_VERSION);
		rc = sqlite3_exec(s->db, v, NULL, NULL, NULL);
	}
	if (rc != SQLITE_OK)
		return open_fail(s, path, "cannot set up", rc, err, errlen);
	for (i = 0; i < ST_N; i++) {
		rc = sqlite3_prepare_v3(s->db, stmt_sql[i], -1,
					SQLITE_PREPARE_PERSISTENT, &s->st[i],
					NULL);
		if (rc != SQLITE_OK)
			return open_fail(s, path, "cannot prepare", rc, err,
					 errlen);
	}
	/* the op log's journal beside it (journal.h) */
	{
		char jpath[4200];

		snprintf(jpath, sizeof(jpath), "%s-oplog", path);
		if (ipwd_journal_open(&s->j, jpath, sync_pragma[sync], err,
				      errlen) != 0) {
			ipwd_store_close(s);
			return -1;
		}
	}
	*out = s;
	return 0;
}

void ipwd_store_close(struct ipwd_store *s)
{
	int i;

	if (s == NULL)
		return;
	if (s->in_tx)
		ipwd_store_rollback(s);
	/* the reader first, as in ipwd_journal_close() */
	sqlite3_close(s->rdb);
	for (i = 0; i < ST_N; i++)
		sqlite3_finalize(s->st[i]);
	sqlite3_close(s->db);
	ipwd_journal_close(s->j);
	pthread_mutex_destroy(&s->rlock);
	pthread_mutex_destroy(&s->wlock);
	free(s->ix);
	free(s->path);
	free(s);
}

const char *ipwd_store_errmsg(struct ipwd_store *s)
{
	return s->errmsg[0] ? s->errmsg : sqlite3_errmsg(s->db);
}

static void bind_key(sqlite3_stmt *q, int first, enum ipw_list list,
		     const struct ipw_addr *a)
{
	sqlite3_bind_int(q, first, (int)list);
	sqlite3_bind_int(q, first + 1, a->family);
	sqlite3_bind_blob(q, first + 2, a->bytes,
			  a->family == IPW_AF_INET ? 4 : 16, SQLITE_STATIC);
	sqlite3_bind_int(q, first + 3, a->plen);
}

static void bind_text(sqlite3_stmt *q, int i, const char *s)
{
	if (s && *s)
		sqlite3_bind_text(q, i, s, -1, SQLITE_STATIC);
	else
		sqlite3_bind_null(q, i);
}

int ipwd_store_begin(struct ipwd_store *s)
{
	int rc = run(s, ST_BEGIN);

	if (rc == 0)
		s->in_tx = true;
	return rc;
}

int ipwd_store_commit(struct ipwd_store *s)
{
	int rc = run(s, ST_COMMIT);

	if (rc == 0)
		s->in_tx = false;
	return rc;
}

void ipwd_store_rollback(struct ipwd_store *s)
{
	/* After SQLITE_FULL during COMMIT, SQLite may already have rolled
	 * back; a second ROLLBACK then fails harmlessly. */
	if (!sqlite3_get_autocommit(s->db))
		run(s, ST_ROLLBACK);
	s->in_tx = false;
}

/* The row of entry @e in entries, as it is. */
static int put_entry(struct ipwd_store *s, const struct ipw_entry_info *e)
{
	sqlite3_stmt *q = s->st[ST_PUT];

	bind_key(q, 1, e->list, &e->target);
	sqlite3_bind_int64(q, 5, e->expires);
	sqlite3_bind_int64(q, 6, e->created);
	sqlite3_bind_int64(q, 7, e->score);
	sqlite3_bind_int(q, 8, (int)e->flags);
	sqlite3_bind_int64(q, 9, (sqlite3_int64)e->hits);
	sqlite3_bind_int64(q, 10, e->last_hit);
	bind_text(q, 11, e->reason);
	bind_text(q, 12, e->actor);
	bind_text(q, 13, e->source);
	return run(s, ST_PUT);
}

int ipwd_store_record(struct ipwd_store *s, const struct ipwd_oprec *r)
{
	const struct ipw_entry_info *e = r->after ? r->after : r->before;
	char tgt[IPW_ADDR_STRLEN];
	sqlite3_stmt *q = s->st[ST_OP];
	uint8_t id[16];
	int rc;

	if (r->id == NULL || ipwd_opid_parse(r->id, strlen(r->id), id) != 0)
		return IPW_EINVAL;
	sqlite3_bind_blob(q, 1, id, 16, SQLITE_STATIC);
	sqlite3_bind_int64(q, 2, r->time);
	bind_text(q, 3, r->actor);
	bind_text(q, 4, r->node);
	sqlite3_bind_text(q, 5, ipwd_action_name(r->action), -1, SQLITE_STATIC);
	sqlite3_bind_text(q, 6, ipwd_result_name(r->action, r->change), -1,
			  SQLITE_STATIC);
	if (r->action == IPWD_ACT_MODE) {
		sqlite3_bind_text(q, 15, ipw_mode_name(r->mode), -1,
				  SQLITE_STATIC);
		sqlite3_bind_text(q, 19, ipw_mode_name(r->mode_before), -1,
				  SQLITE_STATIC);
	} else {
		bind_key(q, 7, r->list, &r->target);
		ipw_addr_format(&r->target, tgt, sizeof(tgt));
		sqlite3_bind_text(q, 11, tgt, -1, SQLITE_STATIC);
	}
	if (e) {
		sqlite3_bind_int64(q, 12, e->expires);
		sqlite3_bind_int64(q, 13, e->score);
		bind_text(q, 14, e->reason);
		sqlite3_bind_int(q, 21, (int)e->flags);
		bind_text(q, 22, e->source);
		sqlite3_bind_int64(q, 23, e->created);
		bind_text(q, 24, e->actor);
	}
	if (r->before) {
		sqlite3_bind_int64(q, 16, r->before->expires);
		sqlite3_bind_int64(q, 17, r->before->score);
		bind_text(q, 18, r->before->reason);
		sqlite3_bind_int(q, 25, (int)r->before->flags);
	}
	if (r->seq)
		sqlite3_bind_int64(q, 20, (sqlite3_int64)r->seq);
	rc = run(s, ST_OP);
	if (rc != 0 || sqlite3_changes(s->db) == 0)
		return rc; /* failed, or this op id is already recorded */

	/* The current state. */
	if (r->action == IPWD_ACT_MODE) {
		if (r->change != IPW_CHANGE_MODE)
			return 0;
		q = s->st[ST_MODE];
		sqlite3_bind_text(q, 1, ipw_mode_name(r->mode), -1,
				  SQLITE_STATIC);
		return run(s, ST_MODE);
	}
	if (r->after)
		return put_entry(s, r->after);
	if (r->before) {
		q = s->st[ST_DEL];
		bind_key(q, 1, r->list, &r->target);
		return run(s, ST_DEL);
	}
	return 0;
}

static void copy_col(sqlite3_stmt *q, int col, char *dst, size_t size)
{
	const unsigned char *t = sqlite3_column_text(q, col);
	size_t n = t ? (size_t)sqlite3_column_bytes(q, col) : 0;

	/* the table stored it, so it fits; a longer one (a store edited by
	 * hand) is cut, and the table cuts it again at a character */
	if (n > size - 1)
		n = size - 1;
	if (n)
		memcpy(dst, t, n);
	dst[n] = '\0';
}

/* One row of the entries query into @e; -1 (with @err) if malformed. */
static int row_entry(sqlite3_stmt *q, struct ipw_entry_info *e, char *err,
		     size_t errlen)
{
	const uint8_t *b = sqlite3_column_blob(q, 2);
	int fam = sqlite3_column_int(q, 1);
	int blen = sqlite3_column_bytes(q, 2);
	int plen = sqlite3_column_int(q, 3);
	int rc;

	memset(e, 0, sizeof(*e));
	e->list = (enum ipw_list)sqlite3_column_int(q, 0);
	rc = ipwd_target_of(fam, b, blen, plen, &e->target);
	if (rc != 0 || (e->list != IPW_LIST_BAN && e->list != IPW_LIST_ALLOW)) {
		snprintf(err, errlen,
			 "a stored entry is malformed (list %d, family %d, "
			 "%d address bytes, /%d); %s",
			 (int)e->list, fam, blen, plen,
			 ipwd_sqlite_hint(SQLITE_CORRUPT));
		return -1;
	}
	e->expires = sqlite3_column_int64(q, 4);
	e->created = sqlite3_column_int64(q, 5);
	e->score = (uint32_t)sqlite3_column_int64(q, 6);
	e->flags = (unsigned)sqlite3_column_int(q, 7);
	e->hits = (uint64_t)sqlite3_column_int64(q, 8);
	e->last_hit = sqlite3_column_int64(q, 9);
	copy_col(q, 10, e->reason, sizeof(e->reason));
	copy_col(q, 11, e->actor, sizeof(e->actor));
	copy_col(q, 12, e->source, sizeof(e->source));
	return 0;
}

int64_t ipwd_store_prune(struct ipwd_store *s, int64_t before, int limit)
{
	sqlite3_stmt *q = s->st[ST_PRUNE];
	uint64_t ms = before > 0 ? (uint64_t)before * 1000 : 0;
	uint8_t id[16] = {0};
	int i, rc;

	/* The smallest UUIDv7 of second @before: its 48-bit millisecond
	 * time, then zeros. */
	for (i = 0; i < 6; i++)
		id[i] = (uint8_t)(ms >> (40 - 8 * i));
	sqlite3_bind_blob(q, 1, id, 16, SQLITE_TRANSIENT);
	sqlite3_bind_int(q, 2, limit);
	rc = run(s, ST_PRUNE);
	if (rc != 0)
		return rc;
	return sqlite3_changes64(s->db);
}

/* The target of an ops row (columns @col: family, addr, plen) into @a;
 * -1 if malformed. */
static int row_target(sqlite3_stmt *q, int col, struct ipw_addr *a)
{
	return ipwd_target_of(sqlite3_column_int(q, col),
			      sqlite3_column_blob(q, col + 1),
			      sqlite3_column_bytes(q, col + 1),
			      sqlite3_column_int(q, col + 2), a);
}

int ipwd_store_ops_after(struct ipwd_store *s, const char *after_id,
			 int (*cb)(void *ctx, const struct ipwd_oprec *r),
			 void *ctx)
{
	struct ipw_entry_info before, after;
	struct ipwd_oprec r;
	sqlite3_stmt *q = NULL;
	uint8_t from[16];
	char id[IPWD_OPID_LEN];
	int rc, cbrc = 0;

	if (ipwd_opid_parse(after_id, strlen(after_id), from) != 0)
		return IPW_EINVAL;
	pthread_mutex_lock(&s->rlock);
	rc = reader(s);
	if (rc == SQLITE_OK)
		rc = sqlite3_prepare_v2(
			s->rdb,
			"SELECT id, time, actor, node, action, result, list,"
			" family, addr, plen, expires, score, reason, mode,"
			" prev_expires, prev_score, prev_reason, prev_mode,"
			" seq, flags, source, created, entry_actor, prev_flags"
			" FROM ops WHERE id > ?1 ORDER BY id",
			-1, &q, NULL);
	if (rc == SQLITE_OK)
		rc = sqlite3_bind_blob(q, 1, from, 16, SQLITE_STATIC);
	while (rc == SQLITE_OK || rc == SQLITE_ROW) {
		const uint8_t *b;
		const char *mode;
		int act, ch;

		rc = sqlite3_step(q);
		if (rc != SQLITE_ROW)
			break;
		b = sqlite3_column_blob(q, 0);
		if (b == NULL || sqlite3_column_bytes(q, 0) != 16)
			continue;
		ipwd_opid_format(b, id);
		act = ipwd_action_of((const char *)sqlite3_column_text(q, 4),
				     (size_t)sqlite3_column_bytes(q, 4));
		mode = (const char *)sqlite3_column_text(q, 13);
		ch = act < 0 ? -1 :
			       ipwd_result_of(
				       (enum ipwd_action)act,
				       (const char *)sqlite3_column_text(q, 5),
				       (size_t)sqlite3_column_bytes(q, 5));
		if (act < 0 || ch < 0)
			continue; /* not a row this ipwalld wrote */
		memset(&r, 0, sizeof(r));
		memset(&before, 0, sizeof(before));
		memset(&after, 0, sizeof(after));
		r.id = id;
		r.time = sqlite3_column_int64(q, 1);
		r.actor = (const char *)sqlite3_column_text(q, 2);
		r.node = (const char *)sqlite3_column_text(q, 3);
		r.action = (enum ipwd_action)act;
		r.change = ch;
		r.recovered = true;
		r.seq = (uint64_t)sqlite3_column_int64(q, 18);
		/* a version-1 row keeps less of the entries */
		r.partial = sqlite3_column_type(q, 21) == SQLITE_NULL &&
			    act != IPWD_ACT_MODE && ch != IPW_CHANGE_ABSENT;
		if (act == IPWD_ACT_MODE) {
			const char *pm =
				(const char *)sqlite3_column_text(q, 17);

			r.mode = mode && strcmp(mode, "allowlist") == 0 ?
					 IPW_MODE_ALLOWLIST :
					 IPW_MODE_DENYLIST;
			r.mode_before = pm && strcmp(pm, "allowlist") == 0 ?
						IPW_MODE_ALLOWLIST :
						IPW_MODE_DENYLIST;
		} else {
			if (row_target(q, 7, &r.target) != 0)
				continue;
			r.list = sqlite3_column_int(q, 6) == IPW_LIST_ALLOW ?
					 IPW_LIST_ALLOW :
					 IPW_LIST_BAN;
			/* expires, score, reason: the entry as the op left
			 * it, or as it was when the op removed it */
			after.target = before.target = r.target;
			after.list = before.list = r.list;
			after.expires = sqlite3_column_int64(q, 10);
			after.score = (uint32_t)sqlite3_column_int64(q, 11);
			copy_col(q, 12, after.reason, sizeof(after.reason));
			after.flags = (unsigned)sqlite3_column_int(q, 19);
			copy_col(q, 20, after.source, sizeof(after.source));
			after.created = sqlite3_column_int64(q, 21);
			copy_col(q, 22, after.actor, sizeof(after.actor));
			if (ch == IPW_CHANGE_REMOVED) {
				before = after;
				r.before = &before;
			} else if (ch != IPW_CHANGE_ABSENT) {
				r.after = &after;
				if (sqlite3_column_type(q, 14) != SQLITE_NULL) {
					before.expires =
						sqlite3_column_int64(q, 14);
					before.score =
						(uint32_t)sqlite3_column_int64(
							q, 15);
					copy_col(q, 16, before.reason,
						 sizeof(before.reason));
					before.flags =
						(unsigned)sqlite3_column_int(
							q, 23);
					r.before = &before;
				}
			}
		}
		cbrc = cb(ctx, &r);
		if (cbrc != 0)
			break;
	}
	sqlite3_finalize(q);
	pthread_mutex_unlock(&s->rlock);
	if (cbrc != 0)
		return cbrc;
	return rc == SQLITE_DONE   ? 0 :
	       ipwd_sqlite_err(rc) ? ipwd_sqlite_err(rc) :
				     IPW_EIO;
}

int64_t ipwd_store_seq_of(struct ipwd_store *s, const char *id)
{
	sqlite3_stmt *q = NULL;
	uint8_t b[16];
	int64_t seq = IPW_ENOENT;
	int rc;

	if (ipwd_opid_parse(id, strlen(id), b) != 0)
		return IPW_EINVAL;
	pthread_mutex_lock(&s->rlock);
	rc = reader(s);
	if (rc == SQLITE_OK)
		rc = sqlite3_prepare_v2(s->rdb,
					"SELECT seq FROM ops WHERE id = ?1", -1,
					&q, NULL);
	if (rc == SQLITE_OK)
		rc = sqlite3_bind_blob(q, 1, b, 16, SQLITE_STATIC);
	if (rc == SQLITE_OK && sqlite3_step(q) == SQLITE_ROW &&
	    sqlite3_column_type(q, 0) != SQLITE_NULL)
		seq = sqlite3_column_int64(q, 0);
	sqlite3_finalize(q);
	pthread_mutex_unlock(&s->rlock);
	return seq;
}

int ipwd_store_last_ops(struct ipwd_store *s,
			int (*cb)(void *ctx, int list,
				  const struct ipw_addr *target,
				  const uint8_t id[16], bool present),
			void *ctx)
{
	/* SQLite's max() makes the other columns those of the max row */
	static const char sql[] =
		"SELECT list, family, addr, plen, max(id), action FROM ops"
		" WHERE action IN ('ban', 'unban', 'allow', 'disallow')"
		" AND addr IS NOT NULL GROUP BY list, family, addr, plen"
		" UNION ALL SELECT -1, NULL, NULL, NULL, max(id), 'mode'"
		" FROM ops WHERE action = 'mode' HAVING max(id) IS NOT NULL";
	sqlite3_stmt *q = NULL;
	int rc, out = 0;

	pthread_mutex_lock(&s->rlock);
	rc = reader(s);
	if (rc == SQLITE_OK)
		rc = sqlite3_prepare_v2(s->rdb, sql, -1, &q, NULL);
	while (rc == SQLITE_OK && (rc = sqlite3_step(q)) == SQLITE_ROW) {
		struct ipw_addr t = {0};
		const void *id = sqlite3_column_blob(q, 4);
		const char *act = (const char *)sqlite3_column_text(q, 5);
		int list = sqlite3_column_int(q, 0);

		rc = SQLITE_OK;
		if (id == NULL || sqlite3_column_bytes(q, 4) != 16 ||
		    act == NULL)
			continue;
		if (list >= 0 &&
		    ipwd_target_of(sqlite3_column_int(q, 1),
				   sqlite3_column_blob(q, 2),
				   sqlite3_column_bytes(q, 2),
				   sqlite3_column_int(q, 3), &t) != 0)
			continue; /* a row no target reads from: skipped */
		out = cb(ctx, list < 0 ? -1 : list, &t, id,
			 strcmp(act, "ban") == 0 || strcmp(act, "allow") == 0 ||
				 strcmp(act, "mode") == 0);
		if (out != 0)
			break;
	}
	if (rc != SQLITE_DONE && rc != SQLITE_OK && out == 0)
		out = IPW_EIO;
	sqlite3_finalize(q);
	pthread_mutex_unlock(&s->rlock);
	return out;
}

int ipwd_store_count_entries(struct ipwd_store *s, int64_t n[2][2])
{
	sqlite3_stmt *q = NULL;
	int rc;

	memset(n, 0, sizeof(int64_t[2][2]));
	rc = sqlite3_prepare_v2(s->db,
				"SELECT list, family, count(*) FROM entries"
				" GROUP BY list, family",
				-1, &q, NULL);
	if (rc == SQLITE_OK)
		rc = sqlite3_step(q);
	while (rc == SQLITE_ROW) {
		int l = sqlite3_column_int(q, 0), f = sqlite3_column_int(q, 1);

		if ((l == IPW_LIST_BAN || l == IPW_LIST_ALLOW) &&
		    (f == IPW_AF_INET || f == IPW_AF_INET6))
			n[l == IPW_LIST_ALLOW][f == IPW_AF_INET6] =
				sqlite3_column_int64(q, 2);
		rc = sqlite3_step(q);
	}
	sqlite3_finalize(q);
	return rc == SQLITE_DONE ? 0 : -1;
}

static int no_origin(void *ctx, const struct ipwd_origin *o)
{
	(void)ctx, (void)o;
	return 0;
}

/* meta (mode, the sequence indexed) and the origins' cursors as far as
 * indexed, read strictly: damage there refuses the start, as in
 * entries. */
static int store_meta(void *p, int *mode, uint64_t *seq,
		      int (*origin)(void *ctx, const struct ipwd_origin *o),
		      void *ctx, char *err, size_t errlen)
{
	struct ipwd_store *s = p;
	sqlite3_stmt *q = NULL;
	int rc, cbrc = 0;

	*mode = -1;
	*seq = 0;
	rc = sqlite3_prepare_v2(s->db, "SELECT key, value FROM meta", -1, &q,
				NULL);
	if (rc == SQLITE_OK)
		rc = sqlite3_step(q);
	while (rc == SQLITE_ROW) {
		const char *k = (const char *)sqlite3_column_text(q, 0);

		if (k && strcmp(k, "mode") == 0) {
			int m = ipwd_mode_of(
				(const char *)sqlite3_column_text(q, 1),
				(size_t)sqlite3_column_bytes(q, 1));

			if (m >= 0)
				*mode = m;
		} else if (k && strcmp(k, "seq") == 0) {
			sqlite3_int64 v = sqlite3_column_int64(q, 1);

			*seq = v > 0 ? (uint64_t)v : 0;
		}
		rc = sqlite3_step(q);
	}
	sqlite3_finalize(q);
	if (rc != SQLITE_DONE) {
		snprintf(err, errlen, "cannot read the stored mode: %s; %s",
			 sqlite3_errstr(rc), ipwd_sqlite_hint(rc));
		return -1;
	}
	rc = sqlite3_prepare_v2(s->db, "SELECT node, last_id, seq FROM origins",
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
				 "an origin's cursor is malformed; %s",
				 ipwd_sqlite_hint(SQLITE_CORRUPT));
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
			 "cannot read the origins' cursors: %s; %s",
			 sqlite3_errstr(rc), ipwd_sqlite_hint(rc));
		return -1;
	}
	return 0;
}

static int load_entries(void *p,
			int (*cb)(void *ctx, const struct ipw_entry_info *v,
				  size_t n),
			void *ctx, char *err, size_t errlen)
{
	struct ipwd_store *s = p;
	struct ipw_entry_info *v = malloc(LOAD_BATCH * sizeof(*v));
	sqlite3_stmt *q = NULL;
	bool malformed = false;
	size_t n = 0;
	int rc, cbrc = 0;

	if (v == NULL) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	/* Read the entries through a memory map of the file rather than a
	 * pread(2) and a copy per page (measured in bench_store); the map
	 * is dropped again after the load. */
	sqlite3_exec(s->db, "PRAGMA mmap_size=1099511627776", NULL, NULL, NULL);
	rc = sqlite3_prepare_v2(
		s->db,
		"SELECT list, family, addr, plen, expires, created, score,"
		" flags, hits, last_hit, reason, actor, source FROM entries",
		-1, &q, NULL);
	if (rc == SQLITE_OK)
		rc = sqlite3_step(q);
	while (rc == SQLITE_ROW) {
		if (row_entry(q, &v[n], err, errlen) != 0) {
			malformed = true;
			break;
		}
		if (++n == LOAD_BATCH) {
			cbrc = cb(ctx, v, n);
			n = 0;
			if (cbrc)
				break;
		}
		rc = sqlite3_step(q);
	}
	if (rc == SQLITE_DONE && n && cbrc == 0)
		cbrc = cb(ctx, v, n);
	if (!malformed && rc != SQLITE_DONE && rc != SQLITE_ROW)
		snprintf(err, errlen, "cannot read the stored entries: %s; %s",
			 sqlite3_errmsg(s->db), ipwd_sqlite_hint(rc));
	sqlite3_finalize(q);
	sqlite3_exec(s->db, "PRAGMA mmap_size=0", NULL, NULL, NULL);
	free(v);
	if (malformed)
		return -1;
	if (cbrc)
		return cbrc;
	return rc == SQLITE_DONE ? 0 : -1;
}

int ipwd_store_load(struct ipwd_store *s,
		    int (*cb)(void *ctx, const struct ipw_entry_info *v,
			      size_t n),
		    void *ctx, int *mode, char *err, size_t errlen)
{
	uint64_t seq;

	if (store_meta(s, mode, &seq, no_origin, NULL, err, errlen) != 0)
		return -1;
	return load_entries(s, cb, ctx, err, errlen);
}

int ipwd_store_limit_pages(struct ipwd_store *s, int extra)
{
	sqlite3_stmt *q;
	char sql[64];
	int pages = -1;

	if (sqlite3_prepare_v2(s->db, "PRAGMA page_count", -1, &q, NULL) ==
		    SQLITE_OK &&
	    sqlite3_step(q) == SQLITE_ROW)
		pages = sqlite3_column_int(q, 0);
	sqlite3_finalize(q);
	if (pages < 0)
		return -1;
	snprintf(sql, sizeof(sql), "PRAGMA max_page_count = %d", pages + extra);
	return sqlite3_exec(s->db, sql, NULL, NULL, NULL) == SQLITE_OK ? 0 : -1;
}

int64_t ipwd_store_op_count(struct ipwd_store *s)
{
	sqlite3_stmt *q = s->st[ST_COUNT_OPS];
	int64_t n = -1;

	if (sqlite3_step(q) == SQLITE_ROW)
		n = sqlite3_column_int64(q, 0);
	sqlite3_reset(q);
	return n;
}

/* ---- the store as the op log sees it (ops.h, ipwd_store_iface) ---- */

static int iface_commit(void *p, const struct ipwd_group *g,
			const struct ipwd_origin *cur, size_t ncur)
{
	return ipwd_journal_commit(((struct ipwd_store *)p)->j, g, cur, ncur);
}

static int iface_trim(void *p, uint64_t seq)
{
	return ipwd_journal_trim(((struct ipwd_store *)p)->j, seq);
}

static int iface_read(void *p, uint64_t from, uint64_t to,
		      int (*cb)(void *ctx, const struct ipwd_group *g),
		      void *ctx)
{
	return ipwd_journal_read(((struct ipwd_store *)p)->j, from, to, cb,
				 ctx);
}

static int iface_count(void *p, int64_t n[2][2])
{
	return ipwd_store_count_entries(p, n);
}

static const char *iface_errmsg(void *p)
{
	return ipwd_journal_errmsg(((struct ipwd_store *)p)->j);
}

/* The store's state (as far as indexed) and the journal's sequence and
 * cursors, which are ahead of it by what the index has yet to apply. */
static int iface_load_meta(void *p, int *mode, uint64_t *indexed, uint64_t *seq,
			   int (*origin)(void *ctx,
					 const struct ipwd_origin *o),
			   void *ctx, char *err, size_t errlen)
{
	struct ipwd_store *s = p;
	uint64_t last;

	if (store_meta(s, mode, indexed, origin, ctx, err, errlen) != 0 ||
	    ipwd_journal_meta(s->j, &last, origin, ctx, err, errlen) != 0)
		return -1;
	*seq = last > *indexed ? last : *indexed;
	return 0;
}

const struct ipwd_store_iface ipwd_store_sqlite = {
	.commit = iface_commit,
	.trim = iface_trim,
	.load_meta = iface_load_meta,
	.count = iface_count,
	.load_entries = load_entries,
	.read = iface_read,
	.errmsg = iface_errmsg,
};

/* ---- the index: the store's subscriber ---- */

/*
 * The entries and the history are written behind the journal by a
 * subscriber of the op log ("store"), on its own thread and this
 * store's connection: each group's records go into one open transaction
 * (ipwd_store_record(): the history row, the entry), and the transaction
 * is committed when the subscriber's queue runs empty (flush) or when it
 * holds TX_OPS ops, with the sequence it reached in meta and the cursors
 * it saw in origins. So during a burst the index writes many groups per
 * transaction: a page of the entries table or of the target index that
 * many ops touch is written once, not once per small group. Its
 * position is that sequence: after a crash it goes on from there,
 * reading the groups after it back from the journal (resync), and the
 * journal keeps them until it has (trimming stops at the lowest
 * position). If the journal no longer holds them (it was lost), the
 * entries are rewritten from a snapshot of the table, and the history
 * misses those ops (said in the log).
 *
 * The transaction runs at synchronous=NORMAL: the journal's fsync made
 * the ops durable; a power loss can cost the index its last transactions,
 * which the journal replays.
 */
#define TX_OPS 262144

struct ipwd_indexer {
	struct ipwd_subscriber def;
	struct ipwd_store *s;
	struct ipwd_ops *o;
	bool in_tx;
	size_t tx_ops;
	uint64_t tx_seq;	   /* the last group in the open transaction */
	struct ipwd_origin cur[8]; /* cursors seen in it */
	size_t ncur;
};

static uint64_t ix_position(void *ctx, bool *known)
{
	struct ipwd_indexer *x = ctx;
	int mode;
	uint64_t seq = 0;
	char err[256];

	*known = store_meta(x->s, &mode, &seq, no_origin, NULL, err,
			    sizeof(err)) == 0;
	return seq;
}

/* Commit the open transaction (wlock held while it is open). */
static int ix_commit(struct ipwd_indexer *x)
{
	struct ipwd_store *s = x->s;
	size_t i;
	int rc = 0;

	if (!x->in_tx)
		return 0;
	for (i = 0; rc == 0 && i < x->ncur; i++) {
		sqlite3_stmt *q = s->st[ST_ORIGIN];

		sqlite3_bind_text(q, 1, x->cur[i].node, -1, SQLITE_STATIC);
		sqlite3_bind_blob(q, 2, x->cur[i].last_id, 16, SQLITE_STATIC);
		sqlite3_bind_int64(q, 3, (sqlite3_int64)x->cur[i].seq);
		rc = run(s, ST_ORIGIN);
	}
	if (rc == 0) {
		sqlite3_bind_int64(s->st[ST_SEQ], 1, (sqlite3_int64)x->tx_seq);
		rc = run(s, ST_SEQ);
	}
	if (rc == 0)
		rc = ipwd_store_commit(s);
	if (rc != 0)
		ipwd_store_rollback(s);
	x->in_tx = false;
	x->tx_ops = 0;
	x->ncur = 0;
	pthread_mutex_unlock(&s->wlock);
	return rc;
}

/* A record's node moved its cursor to its id (the highest so far: ids of
 * one node increase). */
static void ix_cursor(struct ipwd_indexer *x, const struct ipwd_oprec *r,
		      uint64_t seq)
{
	struct ipwd_origin *c = NULL;
	uint8_t id[16];
	size_t i;

	if (ipwd_opid_parse(r->id, strlen(r->id), id) != 0)
		return;
	for (i = 0; i < x->ncur; i++)
		if (strcmp(x->cur[i].node, r->node) == 0)
			c = &x->cur[i];
	if (c == NULL) {
		if (x->ncur == sizeof(x->cur) / sizeof(x->cur[0]))
			return; /* the journal has it; so will the next */
		c = &x->cur[x->ncur++];
		snprintf(c->node, sizeof(c->node), "%s", r->node);
		memset(c->last_id, 0, 16);
	}
	if (memcmp(id, c->last_id, 16) > 0) {
		memcpy(c->last_id, id, 16);
		c->seq = seq;
	}
}

static int ix_apply(void *ctx, const struct ipwd_group *g)
{
	struct ipwd_indexer *x = ctx;
	struct ipwd_store *s = x->s;
	size_t i;
	int rc = 0;

	if (!x->in_tx) {
		pthread_mutex_lock(&s->wlock);
		rc = ipwd_store_begin(s);
		if (rc != 0) {
			pthread_mutex_unlock(&s->wlock);
			return rc;
		}
		x->in_tx = true;
	}
	for (i = 0; rc == 0 && i < g->n; i++) {
		rc = ipwd_store_record(s, &g->recs[i]);
		ix_cursor(x, &g->recs[i], g->seq);
	}
	if (rc != 0) {
		ipwd_store_rollback(s);
		x->in_tx = false;
		x->tx_ops = 0;
		x->ncur = 0;
		pthread_mutex_unlock(&s->wlock);
		return rc;
	}
	x->tx_seq = g->seq;
	x->tx_ops += g->n;
	return x->tx_ops >= TX_OPS ? ix_commit(x) : 0;
}

static int ix_flush(void *ctx)
{
	return ix_commit(ctx);
}

/* The table at @seq as the whole entries table (the journal lost the
 * groups the index missed). */
static int ix_rewrite(struct ipwd_indexer *x, struct ipw_snapshot *snap,
		      uint64_t seq)
{
	struct ipwd_store *s = x->s;
	size_t i, n = ipw_snapshot_count(snap);
	int rc;

	pthread_mutex_lock(&s->wlock);
	rc = ipwd_store_begin(s);
	if (rc == 0)
		rc = sqlite3_exec(s->db, "DELETE FROM entries", NULL, NULL,
				  NULL) == SQLITE_OK ?
			     0 :
			     IPW_EIO;
	for (i = 0; rc == 0 && i < n; i++) {
		struct ipw_entry_info e;

		ipw_snapshot_get(snap, i, &e);
		rc = put_entry(s, &e);
	}
	if (rc == 0) {
		sqlite3_bind_int64(s->st[ST_SEQ], 1, (sqlite3_int64)seq);
		rc = run(s, ST_SEQ);
	}
	if (rc == 0)
		rc = ipwd_store_commit(s);
	if (rc != 0)
		ipwd_store_rollback(s);
	pthread_mutex_unlock(&s->wlock);
	return rc;
}

static int ix_resync(void *ctx, struct ipw_snapshot *snap, uint64_t from,
		     uint64_t seq)
{
	struct ipwd_indexer *x = ctx;
	uint64_t at;
	int rc;

	if (x->in_tx) {
		/* a failed flush or apply left nothing open; be sure */
		rc = ix_commit(x);
		if (rc != 0)
			return rc;
	}
	rc = ipwd_ops_read(x->o, from, seq, ix_apply, x);
	if (rc != IPW_ENOENT)
		return rc;
	/* what was applied from the journal before it ran out stays in the
	 * open transaction; the rewrite replaces the entries anyway */
	if (x->in_tx) {
		ipwd_store_rollback(x->s);
		x->in_tx = false;
		x->tx_ops = 0;
		x->ncur = 0;
		pthread_mutex_unlock(&x->s->wlock);
	}
	(void)snap;
	rc = ipwd_ops_snapshot(x->o, &snap, &at);
	if (rc != 0)
		return rc;
	log_error("store: the op log no longer holds ops %llu to %llu that "
		  "the store has not indexed; the entries are rewritten from "
		  "the table as of %llu, and the history misses those ops",
		  (unsigned long long)from + 1, (unsigned long long)seq,
		  (unsigned long long)at);
	/* the groups after @seq come again through apply(), each with the
	 * whole entries it leaves: the entries come back to @at and beyond */
	rc = ix_rewrite(x, snap, at);
	ipw_snapshot_free(snap);
	return rc;
}

int ipwd_store_subscribe(struct ipwd_store *s, struct ipwd_ops *o)
{
	struct ipwd_indexer *x = calloc(1, sizeof(*x));
	int rc;

	if (x == NULL)
		return IPW_ENOMEM;
	x->s = s;
	x->o = o;
	x->def.name = "store";
	x->def.position = ix_position;
	x->def.apply = ix_apply;
	x->def.resync = ix_resync;
	x->def.flush = ix_flush;
	/* the index falls behind in a burst (it writes 3 B-trees per op):
	 * then it reads the groups back from the journal, which the
	 * committer is not held up by, rather than hold them in memory */
	x->def.max_groups = 4096;
	x->def.max_bytes = 64u << 20;
	/* small groups one after another (single bans from many clients)
	 * share a transaction: one per 20 ms of quiet, or per 250 ms */
	x->def.flush_idle_ms = 20;
	x->def.flush_max_ms = 250;
	rc = ipwd_ops_subscribe(o, &x->def, x);
	if (rc != 0) {
		free(x);
		return rc;
	}
	s->ix = x;
	return 0;
}

int ipwd_store_set_cache(struct ipwd_store *s, uint64_t bytes)
{
	char sql[64];
	int rc;

	snprintf(sql, sizeof(sql), "PRAGMA cache_size=-%llu",
		 (unsigned long long)(bytes / 1024));
	pthread_mutex_lock(&s->wlock);
	rc = sqlite3_exec(s->db, sql, NULL, NULL, NULL);
	pthread_mutex_unlock(&s->wlock);
	return rc == SQLITE_OK ? 0 : IPW_EIO;
}

int64_t ipwd_store_release_memory(struct ipwd_store *s)
{
	int used0 = 0, used1 = 0, hi;

	if (pthread_mutex_trylock(&s->wlock) != 0)
		return IPW_EAGAIN;
	if (s->in_tx) {
		pthread_mutex_unlock(&s->wlock);
		return IPW_EAGAIN;
	}
	sqlite3_db_status(s->db, SQLITE_DBSTATUS_CACHE_USED, &used0, &hi, 0);
	sqlite3_db_release_memory(s->db);
	sqlite3_db_status(s->db, SQLITE_DBSTATUS_CACHE_USED, &used1, &hi, 0);
	pthread_mutex_unlock(&s->wlock);
	return used0 > used1 ? used0 - used1 : 0;
}

int64_t ipwd_store_prune_history(struct ipwd_store *s, int64_t before,
				 size_t max)
{
	int64_t n;
	int rc;

	/* the index's transaction may be long in a burst: not now, then */
	if (pthread_mutex_trylock(&s->wlock) != 0)
		return IPW_EAGAIN;
	rc = ipwd_store_begin(s);
	if (rc != 0) {
		pthread_mutex_unlock(&s->wlock);
		return rc;
	}
	n = ipwd_store_prune(s, before, max > INT32_MAX ? INT32_MAX : (int)max);
	if (n >= 0) {
		rc = ipwd_store_commit(s);
		if (rc != 0)
			n = rc;
	}
	if (n < 0)
		ipwd_store_rollback(s);
	pthread_mutex_unlock(&s->wlock);
	return n;
}

/* ---- the background check ---- */

struct ipwd_store_check {
	pthread_t thread;
	sqlite3 *db;
	char *path;
	int state; /* atomic: enum ipwd_check_state */
	char msg[1024];
};

static void *check_thread(void *arg)
{
	struct ipwd_store_check *c = arg;
	const unsigned char *res;
	sqlite3_stmt *q = NULL;
	int rc, state = IPWD_CHECK_FAILED;

	pthread_setname_np(pthread_self(), "ipwd-check");
	/* The lowest CPU priority for this thread only (Linux: a thread's
	 * nice value is its own): the check must not slow the service. */
	setpriority(PRIO_PROCESS, (id_t)gettid(), 19);
	rc = sqlite3_prepare_v2(c->db, "PRAGMA quick_check", -1, &q, NULL);
	if (rc == SQLITE_OK)
		rc = sqlite3_step(q);
	if (rc == SQLITE_ROW) {
		res = sqlite3_column_text(q, 0);
		if (res && strcmp((const char *)res, "ok") == 0) {
			state = IPWD_CHECK_OK;
		} else {
			char what[200], *nl;

			snprintf(what, sizeof(what), "%s",
				 res ? (const char *)res : "?");
			while ((nl = strchr(what, '\n')) != NULL)
				*nl = ' ';
			snprintf(c->msg, sizeof(c->msg),
				 "%s: the database fails SQLite's quick_check "
				 "(%s); %s",
				 c->path, what,
				 ipwd_sqlite_hint(SQLITE_CORRUPT));
			state = IPWD_CHECK_DAMAGED;
		}
	} else if ((rc & 0xff) == SQLITE_CORRUPT ||
		   (rc & 0xff) == SQLITE_NOTADB) {
		snprintf(c->msg, sizeof(c->msg), "%s: %s; %s", c->path,
			 sqlite3_errstr(rc), ipwd_sqlite_hint(rc));
		state = IPWD_CHECK_DAMAGED;
	} else {
		snprintf(c->msg, sizeof(c->msg), "%s: cannot check: %s",
			 c->path, sqlite3_errstr(rc));
	}
	sqlite3_finalize(q);
	__atomic_store_n(&c->state, state, __ATOMIC_RELEASE);
	return NULL;
}

struct ipwd_store_check *ipwd_store_check_start(const char *path)
{
	struct ipwd_store_check *c = calloc(1, sizeof(*c));

	if (c == NULL)
		return NULL;
	c->state = IPWD_CHECK_RUNNING;
	c->path = strdup(path);
	if (c->path == NULL ||
	    sqlite3_open_v2(path, &c->db, SQLITE_OPEN_READONLY, NULL) !=
		    SQLITE_OK ||
	    pthread_create(&c->thread, NULL, check_thread, c) != 0) {
		sqlite3_close(c->db);
		free(c->path);
		free(c);
		return NULL;
	}
	sqlite3_busy_timeout(c->db, 5000);
	return c;
}

enum ipwd_check_state ipwd_store_check_state(struct ipwd_store_check *c,
					     const char **msg)
{
	int st = c ? __atomic_load_n(&c->state, __ATOMIC_ACQUIRE) :
		     IPWD_CHECK_FAILED;

	if (msg)
		*msg = c && st != IPWD_CHECK_RUNNING ? c->msg : "";
	return (enum ipwd_check_state)st;
}

void ipwd_store_check_stop(struct ipwd_store_check *c)
{
	if (c == NULL)
		return;
	sqlite3_interrupt(c->db);
	pthread_join(c->thread, NULL);
	sqlite3_close(c->db);
	free(c->path);
	free(c);
}
