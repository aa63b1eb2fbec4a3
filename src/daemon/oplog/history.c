/* SPDX-License-Identifier: MIT */
/*
 * History queries (see history.h).
 *
 * Keys. The store keeps a target as (family, address bytes, plen), and its
 * index ops_by_target is (family, addr, time), with the op id appended (the
 * table is WITHOUT ROWID). So, for one (family, addr), the index yields the
 * ops in (time, id) order, and every target inside a prefix is one range of
 * addr.
 *
 * An address A has a covering prefix for each length p <= its width: the
 * bytes of A truncated to p bits, with plen p. Consecutive lengths give the
 * same bytes until the next 1 bit of A (10.0.0.0/8 and 10.0.0.0/16 share
 * the bytes 0a000000), so the lengths fall into runs, one per distinct
 * bytes value: one key (addr = X AND plen BETWEEN lo AND hi) per run, at
 * most 33 for IPv4 and 129 for IPv6, as many as A has 1 bits plus one. A
 * prefix P of length p is covered by the keys of lengths 0..p-1, and what
 * lies inside it is the range [P's first address, P's last] with
 * plen >= p: the two parts are disjoint, so no op appears twice.
 *
 * Merge. Each key is a statement of its own that walks the index
 * backwards from the upper bound (the cursor, or until), already newest
 * first; the range is a statement whose rows SQLite sorts (the range is in
 * address order). The page is a k-way merge of the streams by (time, id),
 * stopped after limit + 1 rows, so a page reads limit + 1 rows plus one
 * index seek per key (and for a prefix, the whole range once). The
 * streams run inside one read transaction (BEGIN ... COMMIT), so a page is
 * one snapshot of the store. Statements are prepared once, on first use,
 * and kept: the key statements form a pool of up to 129 copies of one SQL
 * text, since the streams are stepped side by side.
 *
 * Connection. One read-only SQLite connection per daemon, used under a
 * mutex: history is not a hot path. Opening a connection per query would
 * add an open, a schema read and the statements' preparation each time.
 * Measured (release build, 100k ops in the store, one address with 10k
 * of them): a page of 100 rows 0.14 ms on the kept connection, 0.6 to
 * 0.9 ms opening one per query; a page of 10 rows 0.04 ms. A prefix
 * reads every op inside it once per page: 0.11 s for a /16 holding 90k
 * ops; the count of an address with 10k bans 5 ms (a row lookup per op
 * for its action and result).
 *
 * Cursor. The cursor is the id of the last op of the previous page; its
 * time is looked up by primary key, and the next page starts strictly
 * below (time, id) of that op. An id the store does not hold is refused
 * (IPW_ENOENT), not taken as a position.
 */
#include <pthread.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <ipwall/duration.h>
#include <ipwall/errcode.h>

#include "oplog/history.h"

#define KEYS_MAX     129 /* covering keys of an IPv6 address: /0../128 */
#define TIME_MAX     INT64_C(253402300799) /* 9999-12-31T23:59:59Z */
#define BUSY_TIMEOUT 2000		   /* ms */

#define OP_COLS                                                             \
	"SELECT id, time, actor, node, action, result, list, family, addr," \
	" plen, expires, score, reason, prev_expires, prev_score,"          \
	" prev_reason FROM ops"

/* ?1 family, ?2 addr, ?3..?4 plen range, ?5 since, (?6, ?7) upper bound,
 * ?8 action or NULL, ?9 limit + 1 (no stream gives more to a page; it
 * also bounds the range's sorter to that many rows). */
static const char sql_key[] =
	OP_COLS " WHERE family = ?1 AND addr = ?2 AND plen BETWEEN ?3 AND ?4"
		" AND time >= ?5 AND (time, id) < (?6, ?7)"
		" AND (?8 IS NULL OR action = ?8)"
		" ORDER BY time DESC, id DESC LIMIT ?9";

/* ?1 family, ?2..?3 addr range, ?4 minimum plen, the rest as above. */
static const char sql_range[] =
	OP_COLS " WHERE family = ?1 AND addr >= ?2 AND addr <= ?3"
		" AND plen >= ?4 AND time >= ?5 AND (time, id) < (?6, ?7)"
		" AND (?8 IS NULL OR action = ?8)"
		" ORDER BY time DESC, id DESC LIMIT ?9";

static const char sql_count[] =
	"SELECT count(*) FROM ops WHERE family = ?1 AND addr >= ?2 AND"
	" addr <= ?3 AND plen >= ?4 AND time >= ?5 AND action = 'ban' AND"
	" result IN ('added', 'extended')";

static const char sql_cursor[] = "SELECT time FROM ops WHERE id = ?1";

struct ipwd_history {
	pthread_mutex_t lock;
	sqlite3 *db;
	sqlite3_stmt *key[KEYS_MAX];
	sqlite3_stmt *range, *count, *cursor, *begin, *end;
};

/* One source of rows, newest first. */
struct stream {
	sqlite3_stmt *st;
	bool live; /* st is on a row */
	int64_t time;
	uint8_t id[16];
};

static int map_rc(int rc)
{
	switch (rc & 0xff) {
	case SQLITE_OK:
	case SQLITE_ROW:
	case SQLITE_DONE:
		return 0;
	case SQLITE_NOMEM:
		return IPW_ENOMEM;
	default:
		return IPW_EIO;
	}
}

int ipwd_history_open(struct ipwd_history **out, const char *path, char *err,
		      size_t errlen)
{
	struct ipwd_history *h = calloc(1, sizeof(*h));
	int rc;

	if (h == NULL) {
		snprintf(err, errlen, "%s: out of memory", path);
		return -1;
	}
	pthread_mutex_init(&h->lock, NULL);
	rc = sqlite3_open_v2(path, &h->db,
			     SQLITE_OPEN_READONLY | SQLITE_OPEN_NOMUTEX, NULL);
	if (rc == SQLITE_OK) {
		sqlite3_extended_result_codes(h->db, 1);
		sqlite3_busy_timeout(h->db, BUSY_TIMEOUT);
		/* The statements a list and a count always need; preparing
		 * them reads the schema, so a file without the ops table is
		 * refused here rather than at the first query. */
		rc = sqlite3_prepare_v3(h->db, sql_range, -1,
					SQLITE_PREPARE_PERSISTENT, &h->range,
					NULL);
	}
	if (rc == SQLITE_OK)
		rc = sqlite3_prepare_v3(h->db, sql_count, -1,
					SQLITE_PREPARE_PERSISTENT, &h->count,
					NULL);
	if (rc == SQLITE_OK)
		rc = sqlite3_prepare_v3(h->db, sql_cursor, -1,
					SQLITE_PREPARE_PERSISTENT, &h->cursor,
					NULL);
	if (rc == SQLITE_OK)
		rc = sqlite3_prepare_v3(h->db, "BEGIN", -1,
					SQLITE_PREPARE_PERSISTENT, &h->begin,
					NULL);
	if (rc == SQLITE_OK)
		rc = sqlite3_prepare_v3(h->db, "COMMIT", -1,
					SQLITE_PREPARE_PERSISTENT, &h->end,
					NULL);
	if (rc != SQLITE_OK) {
		snprintf(err, errlen, "%s: cannot open for history queries: %s",
			 path,
			 h->db ? sqlite3_errmsg(h->db) : sqlite3_errstr(rc));
		ipwd_history_close(h);
		return -1;
	}
	*out = h;
	return 0;
}

void ipwd_history_close(struct ipwd_history *h)
{
	if (h == NULL)
		return;
	for (int i = 0; i < KEYS_MAX; i++)
		sqlite3_finalize(h->key[i]);
	sqlite3_finalize(h->range);
	sqlite3_finalize(h->count);
	sqlite3_finalize(h->cursor);
	sqlite3_finalize(h->begin);
	sqlite3_finalize(h->end);
	sqlite3_close(h->db);
	pthread_mutex_destroy(&h->lock);
	free(h);
}

static size_t addr_len(const struct ipw_addr *a)
{
	return a->family == IPW_AF_INET ? 4 : 16;
}

/* The first and last address bytes inside prefix @p. */
static void prefix_range(const struct ipw_addr *p, uint8_t lo[16],
			 uint8_t hi[16])
{
	size_t i, len = addr_len(p);

	for (i = 0; i < len; i++) {
		unsigned bits = p->plen >= 8 * (i + 1) ? 8 :
				p->plen > 8 * i	       ? p->plen - 8 * i :
							 0;
		uint8_t mask = (uint8_t)(0xff00u >> bits);

		lo[i] = p->bytes[i] & mask;
		hi[i] = (uint8_t)(lo[i] | (uint8_t)~mask);
	}
}

static void bind_common(sqlite3_stmt *st, const struct ipwd_history_query *q,
			int64_t up_time, const uint8_t *up_id, int up_len)
{
	sqlite3_bind_int64(st, 5, q->since);
	sqlite3_bind_int64(st, 9,
			   (sqlite3_int64)(q->limit ?
						   q->limit :
						   IPWD_HISTORY_LIMIT_DEFAULT) +
				   1);
	sqlite3_bind_int64(st, 6, up_time);
	sqlite3_bind_blob(st, 7, up_id, up_len, SQLITE_TRANSIENT);
	if (q->action >= 0)
		sqlite3_bind_text(st, 8,
				  ipwd_action_name((enum ipwd_action)q->action),
				  -1, SQLITE_STATIC);
	else
		sqlite3_bind_null(st, 8);
}

static void finish(sqlite3_stmt *st)
{
	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
}

/* Step @s to its next row. 0 (s->live tells whether there is one) or
 * IPW_E*. */
static int advance(struct stream *s)
{
	int rc = sqlite3_step(s->st);
	const void *id;

	s->live = false;
	if (rc == SQLITE_DONE)
		return 0;
	if (rc != SQLITE_ROW)
		return map_rc(rc);
	id = sqlite3_column_blob(s->st, 0);
	if (id == NULL || sqlite3_column_bytes(s->st, 0) != 16)
		return IPW_EIO; /* not a row the store writes */
	memcpy(s->id, id, 16);
	s->time = sqlite3_column_int64(s->st, 1);
	s->live = true;
	return 0;
}

static bool newer(const struct stream *a, const struct stream *b)
{
	return a->time != b->time ? a->time > b->time :
				    memcmp(a->id, b->id, 16) > 0;
}

static void copy_text(sqlite3_stmt *st, int col, char *dst, size_t size)
{
	const unsigned char *t = sqlite3_column_text(st, col);

	snprintf(dst, size, "%s", t ? (const char *)t : "");
}

/* The row @s is on into @o; IPW_EIO if it is not one the store writes. */
static int read_row(const struct stream *s, struct ipwd_history_op *o)
{
	sqlite3_stmt *st = s->st;

	memset(o, 0, sizeof(*o));
	ipwd_opid_format(s->id, o->id);
	o->time = s->time;
	copy_text(st, 2, o->actor, sizeof(o->actor));
	copy_text(st, 3, o->node, sizeof(o->node));
	copy_text(st, 4, o->action, sizeof(o->action));
	copy_text(st, 5, o->result, sizeof(o->result));
	o->list = sqlite3_column_int(st, 6) == IPW_LIST_ALLOW ? IPW_LIST_ALLOW :
								IPW_LIST_BAN;
	if (ipwd_target_of(sqlite3_column_int(st, 7),
			   sqlite3_column_blob(st, 8),
			   sqlite3_column_bytes(st, 8),
			   sqlite3_column_int(st, 9), &o->target) != 0)
		return IPW_EIO;
	o->has_entry = sqlite3_column_type(st, 11) != SQLITE_NULL;
	o->expires = sqlite3_column_int64(st, 10);
	o->score = sqlite3_column_int64(st, 11);
	copy_text(st, 12, o->reason, sizeof(o->reason));
	o->has_before = sqlite3_column_type(st, 14) != SQLITE_NULL;
	o->prev_expires = sqlite3_column_int64(st, 13);
	o->prev_score = sqlite3_column_int64(st, 14);
	copy_text(st, 15, o->prev_reason, sizeof(o->prev_reason));
	return 0;
}

static sqlite3_stmt *key_stmt(struct ipwd_history *h, size_t i)
{
	if (h->key[i] == NULL &&
	    sqlite3_prepare_v3(h->db, sql_key, -1, SQLITE_PREPARE_PERSISTENT,
			       &h->key[i], NULL) != SQLITE_OK)
		return NULL;
	return h->key[i];
}

/*
 * Bind one stream per covering key of @t of lengths 0..@last, and for a
 * prefix the range inside it. Returns the number of streams, or IPW_E*.
 */
static int open_streams(struct ipwd_history *h,
			const struct ipwd_history_query *q, int64_t up_time,
			const uint8_t *up_id, int up_len, struct stream *s)
{
	const struct ipw_addr *t = &q->target;
	unsigned maxlen = ipw_addr_maxlen(t);
	bool host = t->plen == maxlen;
	/* Covering keys: lengths 0..plen for an address, 0..plen-1 for a
	 * prefix (the prefix itself is in the range below); none for /0. */
	unsigned top = host ? maxlen : t->plen - 1u;
	bool any = host || t->plen > 0;
	int len = (int)addr_len(t), n = 0;
	struct ipw_addr cur, next;
	unsigned p, lo;

	for (p = 0, lo = 0; any && p <= top; p++) {
		ipw_addr_truncate(&cur, t, p);
		if (p < top) {
			ipw_addr_truncate(&next, t, p + 1);
			if (memcmp(cur.bytes, next.bytes, 16) == 0)
				continue; /* the run goes on */
		}
		s[n].st = key_stmt(h, (size_t)n);
		if (s[n].st == NULL)
			return IPW_ENOMEM;
		sqlite3_bind_int(s[n].st, 1, t->family);
		sqlite3_bind_blob(s[n].st, 2, cur.bytes, len, SQLITE_TRANSIENT);
		sqlite3_bind_int(s[n].st, 3, (int)lo);
		sqlite3_bind_int(s[n].st, 4, (int)p);
		bind_common(s[n].st, q, up_time, up_id, up_len);
		n++;
		lo = p + 1;
	}
	if (!host) {
		uint8_t a[16], b[16];

		prefix_range(t, a, b);
		s[n].st = h->range;
		sqlite3_bind_int(s[n].st, 1, t->family);
		sqlite3_bind_blob(s[n].st, 2, a, len, SQLITE_TRANSIENT);
		sqlite3_bind_blob(s[n].st, 3, b, len, SQLITE_TRANSIENT);
		sqlite3_bind_int(s[n].st, 4, t->plen);
		bind_common(s[n].st, q, up_time, up_id, up_len);
		n++;
	}
	return n;
}

/* The upper bound of a page: below the cursor's op and below until. */
static int upper_bound(struct ipwd_history *h,
		       const struct ipwd_history_query *q, int64_t *time,
		       uint8_t id[16], int *idlen)
{
	int rc;

	*time = q->has_until ? q->until : INT64_MAX;
	*idlen = 0; /* (until, X''): every id at that second is above */
	if (!q->has_cursor) {
		if (!q->has_until) {
			memset(id, 0xff, 16); /* every id */
			*idlen = 16;
		}
		return 0;
	}
	sqlite3_bind_blob(h->cursor, 1, q->cursor, 16, SQLITE_STATIC);
	rc = sqlite3_step(h->cursor);
	if (rc == SQLITE_ROW) {
		int64_t ct = sqlite3_column_int64(h->cursor, 0);

		/* The lower of the two bounds. At equal times the until
		 * bound, (until, X''), is the lower: X'' sorts first. */
		if (ct < *time) {
			*time = ct;
			memcpy(id, q->cursor, 16);
			*idlen = 16;
		}
		rc = 0;
	} else {
		rc = rc == SQLITE_DONE ? IPW_ENOENT : map_rc(rc);
	}
	finish(h->cursor);
	return rc;
}

int ipwd_history_list(struct ipwd_history *h,
		      const struct ipwd_history_query *q,
		      struct ipwd_history_op **ops, size_t *n, bool *more)
{
	size_t limit = q->limit ? q->limit : IPWD_HISTORY_LIMIT_DEFAULT;
	struct stream s[KEYS_MAX + 1];
	struct ipwd_history_op *v;
	uint8_t up_id[16];
	int64_t up_time;
	int ns = 0, i, rc, up_len;
	size_t got = 0;

	*ops = NULL;
	*n = 0;
	*more = false;
	if (limit > IPWD_HISTORY_LIMIT_MAX || ipw_addr_maxlen(&q->target) == 0)
		return IPW_EINVAL;
	v = malloc(limit * sizeof(*v));
	if (v == NULL)
		return IPW_ENOMEM;
	memset(s, 0, sizeof(s));
	pthread_mutex_lock(&h->lock);
	rc = map_rc(sqlite3_step(h->begin));
	sqlite3_reset(h->begin);
	if (rc == 0)
		rc = upper_bound(h, q, &up_time, up_id, &up_len);
	if (rc == 0) {
		ns = open_streams(h, q, up_time, up_id, up_len, s);
		rc = ns < 0 ? ns : 0;
	}
	for (i = 0; rc == 0 && i < ns; i++)
		rc = advance(&s[i]);
	while (rc == 0) {
		struct stream *best = NULL;

		for (i = 0; i < ns; i++)
			if (s[i].live && (best == NULL || newer(&s[i], best)))
				best = &s[i];
		if (best == NULL)
			break;
		if (got == limit) {
			*more = true;
			break;
		}
		rc = read_row(best, &v[got]);
		if (rc == 0) {
			got++;
			rc = advance(best);
		}
	}
	for (i = 0; i < ns; i++)
		finish(s[i].st);
	sqlite3_step(h->end);
	sqlite3_reset(h->end);
	pthread_mutex_unlock(&h->lock);
	if (rc != 0 || got == 0) {
		free(v);
		*more = false;
		return rc;
	}
	*ops = v;
	*n = got;
	return 0;
}

int64_t ipwd_history_ban_count(struct ipwd_history *h,
			       const struct ipw_addr *within, int64_t since)
{
	uint8_t lo[16], hi[16];
	int len = (int)addr_len(within), rc;
	int64_t count = 0;

	if (ipw_addr_maxlen(within) == 0)
		return IPW_EINVAL;
	prefix_range(within, lo, hi);
	pthread_mutex_lock(&h->lock);
	sqlite3_bind_int(h->count, 1, within->family);
	sqlite3_bind_blob(h->count, 2, lo, len, SQLITE_STATIC);
	sqlite3_bind_blob(h->count, 3, hi, len, SQLITE_STATIC);
	sqlite3_bind_int(h->count, 4, within->plen);
	sqlite3_bind_int64(h->count, 5, since);
	rc = sqlite3_step(h->count);
	if (rc == SQLITE_ROW)
		count = sqlite3_column_int64(h->count, 0);
	else
		count = map_rc(rc) ? map_rc(rc) : IPW_EIO;
	finish(h->count);
	pthread_mutex_unlock(&h->lock);
	return count;
}

static int plan_of(sqlite3 *db, const char *name, const char *sql, char *buf,
		   size_t size, size_t *used)
{
	char text[1024];
	sqlite3_stmt *st;
	int rc;

	snprintf(text, sizeof(text), "EXPLAIN QUERY PLAN %s", sql);
	rc = sqlite3_prepare_v2(db, text, -1, &st, NULL);
	if (rc != SQLITE_OK)
		return map_rc(rc) ? map_rc(rc) : IPW_EIO;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		const unsigned char *d = sqlite3_column_text(st, 3);
		int w = snprintf(buf + *used, size - *used, "%s: %s\n", name,
				 d ? (const char *)d : "?");

		if (w > 0)
			*used += (size_t)w < size - *used ? (size_t)w :
							    size - *used - 1;
	}
	sqlite3_finalize(st);
	return map_rc(rc);
}

int ipwd_history_plan(struct ipwd_history *h, char *buf, size_t size)
{
	size_t used = 0;
	int rc;

	if (size == 0)
		return IPW_EINVAL;
	buf[0] = '\0';
	pthread_mutex_lock(&h->lock);
	rc = plan_of(h->db, "key", sql_key, buf, size, &used);
	if (rc == 0)
		rc = plan_of(h->db, "range", sql_range, buf, size, &used);
	if (rc == 0)
		rc = plan_of(h->db, "count", sql_count, buf, size, &used);
	if (rc == 0)
		rc = plan_of(h->db, "cursor", sql_cursor, buf, size, &used);
	pthread_mutex_unlock(&h->lock);
	return rc;
}

/* ---------------------------------------------------------------- */
/* Query parameters */

int ipwd_history_parse_time(const char *s, size_t len, int64_t now,
			    int64_t *out)
{
	uint64_t secs = 0;
	size_t i;

	if (s == NULL || len == 0)
		return -1;
	for (i = 0; i < len && s[i] >= '0' && s[i] <= '9'; i++) {
		secs = secs * 10 + (uint64_t)(s[i] - '0');
		if (secs > (uint64_t)TIME_MAX)
			return -1;
	}
	if (i == len) { /* plain digits: a Unix time */
		*out = (int64_t)secs;
		return 0;
	}
	if (ipw_duration_parse(s, len, &secs, NULL) != 0)
		return -1;
	*out = now > 0 && (uint64_t)now > secs ? now - (int64_t)secs : 0;
	return 0;
}

int ipwd_history_parse_action(const char *s, size_t len, enum ipwd_action *out)
{
	int a = ipwd_action_of(s, len);

	if (a < 0 || a == IPWD_ACT_MODE)
		return -1; /* mode ops have no target */
	*out = (enum ipwd_action)a;
	return 0;
}
