/* SPDX-License-Identifier: MIT */
/*
 * Cluster mode through Redis (see cluster.h for what it does, and
 * docs/architecture.md for why a stream and a mirror).
 *
 * hiredis is used synchronously, one connection per thread: the sender's
 * (the op log's subscriber thread) and the receiver's. Every connection
 * has a socket timeout above the receiver's XREAD BLOCK, so a Redis that
 * stops answering is noticed within [cluster] timeout_ms (hiredis's
 * asynchronous adapters have open timeout bugs with blocking reads:
 * hiredis #892, #1286).
 *
 * Keys, all under one hash tag so a Redis Cluster keeps them in one slot:
 *   {S}:ops      the stream: entries {n: sender, k: "ops" | "state",
 *                o: a group of op records in the op log's codec,
 *                t: ops added to the stream so far, this entry's too}
 *   {S}:opcount  ops added to the stream (for the lag in ops)
 *   {S}:state    the mirror: field = list, family, prefix length and
 *                address bytes (or "mode"); value = the deciding op's id
 *                as 32 hex digits, then its record
 *   {S}:epoch    12 hex digits, set once by the first node that finds none
 *   {S}:members  node -> "seen_ms mode position lag_ops lag_ms backlog"
 */
#include <errno.h>
#include <fcntl.h>
#include <hiredis/hiredis.h>
#include <inttypes.h>
#include <limits.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include <ipwall/errcode.h>

#include "base/log.h"
#include "base/text.h"
#include "cluster/arbiter.h"
#include "cluster/cluster.h"
#include "oplog/codec.h"

#define POS_ORIGIN  "~stream"
#define READ_COUNT  16	 /* stream entries per XREAD (each up to batch ops) */
#define SCAN_COUNT  1000 /* mirror fields per HSCAN */
#define HORIZON_MS  (7ull * 24 * 3600 * 1000) /* tombstones kept */
#define MAX_MEMBERS 64

/*
 * The script that sends: the mirror takes each op that is later (by op
 * id, compared as four 32-bit numbers: no locale-dependent string
 * comparison) than the one it holds for the op's target, and the stream
 * takes the whole group as one entry. One script: a node that reads the
 * stream never sees an op the mirror has not.
 * KEYS: stream, mirror, op count. ARGV: sender, maxlen, kind, group, then
 * (field, id hex, record) for each op.
 */
static const char send_lua[] =
	"local function later(a, b)\n"
	"  for i = 1, 32, 8 do\n"
	"    local x = tonumber(string.sub(a, i, i + 7), 16)\n"
	"    local y = tonumber(string.sub(b, i, i + 7), 16)\n"
	"    if x ~= y then return x > y end\n"
	"  end\n"
	"  return false\n"
	"end\n"
	"local n = (#ARGV - 4) / 3\n"
	"local won = 0\n"
	"local best, val, order = {}, {}, {}\n"
	"for s = 1, n, 1000 do\n"
	"  local e = math.min(n, s + 999)\n"
	"  local f = {}\n"
	"  for i = s, e do f[#f + 1] = ARGV[2 + 3 * i] end\n"
	"  local cur = redis.call('HMGET', KEYS[2], unpack(f))\n"
	"  for i = s, e do\n"
	"    local fld, id = ARGV[2 + 3 * i], ARGV[3 + 3 * i]\n"
	"    local c = best[fld]\n"
	"    if not c and cur[i - s + 1] then\n"
	"      c = string.sub(cur[i - s + 1], 1, 32)\n"
	"    end\n"
	"    if (not c) or later(id, c) then\n"
	"      if not val[fld] then order[#order + 1] = fld end\n"
	"      best[fld] = id\n"
	"      val[fld] = id .. ARGV[4 + 3 * i]\n"
	"      won = won + 1\n"
	"    end\n"
	"  end\n"
	"end\n"
	"for s = 1, #order, 500 do\n"
	"  local set = {}\n"
	"  for i = s, math.min(#order, s + 499) do\n"
	"    set[#set + 1] = order[i]\n"
	"    set[#set + 1] = val[order[i]]\n"
	"  end\n"
	"  redis.call('HSET', KEYS[2], unpack(set))\n"
	"end\n"
	"local t = redis.call('INCRBY', KEYS[3], n)\n"
	"local id = redis.call('XADD', KEYS[1], 'MAXLEN', '~', ARGV[2], '*',\n"
	"  'n', ARGV[1], 'k', ARGV[3], 'o', ARGV[4], 't', t)\n"
	"return {id, won}\n";

/* A stream position: an entry id, and the epoch it was read under. */
struct pos {
	uint64_t ms, seq;
	uint8_t epoch[6];
	bool known;
};

/* Records waiting to be sent: encoded, each with its mirror field. */
struct outbox {
	uint8_t *buf; /* records, back to back */
	size_t len, cap;
	size_t *off, *rlen; /* each record's offset and length */
	uint8_t (*field)[20];
	uint8_t *flen;
	char (*idhex)[33];
	size_t n, capn;
	uint8_t *grp; /* the group as the stream takes it */
	size_t grplen, grpcap;
};

struct member {
	char node[IPWD_NODE_MAX];
	char mode[8];
	uint64_t seen_ms, lag_ops, lag_ms, backlog;
	char pos[48];
};

struct ipwd_cluster {
	int mode;
	char node[IPWD_NODE_MAX];
	char k_ops[96], k_state[96], k_epoch[96], k_members[96], k_count[96];
	struct ipwd_redis_url url;
	char url_text[400];
	unsigned block_ms, timeout_ms, batch, heartbeat_ms;
	uint64_t maxlen;
	char sent_path[PATH_MAX];

	struct ipwd_ops *ops;
	struct ipw_table *t;
	struct ipwd_store *store;
	struct ipwd_arbiter_state *arb;
	struct ipwd_subscriber sub;
	int stop; /* atomic */

	/* the sender (the subscriber's thread) */
	redisContext *wc;
	char wsha[41];
	struct outbox out;
	uint64_t pend_seq;  /* the last group apply() was handed */
	uint64_t sent_seq;  /* the last group all of whose ops Redis has */
	uint64_t sent_file; /* what cluster.sent says */
	bool sent_known;

	/* the receiver */
	pthread_t thread;
	bool running;
	pthread_mutex_t wait_lock; /* its pauses, cut short by a stop */
	pthread_cond_t wait_cv;
	redisContext *rc;
	char rsha[41];
	struct pos pos;
	uint8_t epoch[6];
	uint64_t pos_total;	    /* the stream's op count at the position */
	struct ipwd_oprec_buf *dec; /* decoded records */
	struct ipwd_oprec *flat;
	int *rcs;
	enum ipw_change *whats;
	size_t ndec, capdec;
	uint64_t last_beat_ms, last_prune_ms;
	int reseed; /* atomic: the sender lost ops to a trim */

	/* status (st_lock), for /metrics, /healthz, /v1/cluster */
	pthread_mutex_t st_lock;
	char last_error[256];
	int64_t last_error_time;
	struct member members[MAX_MEMBERS];
	size_t nmembers;
	uint64_t stream_len, stream_added;
	char stream_last[48], stream_first[48], stream_deleted[48];
	uint64_t lag_ops, lag_ms;
	uint64_t st_pos_ms, st_pos_seq; /* the position, at the heartbeat */
	/* atomics */
	int r_connected, w_connected;
	uint64_t sent_ops, sent_entries, recv_ops, applied_ops, superseded,
		duplicates, failed_ops, bad_entries, shadow_ops,
		shadow_disagree, seeds, seeded_states, errors;
	uint64_t reloads[3]; /* join, reset, gap */
	uint64_t reload_states;
};

static const char *const reload_reason[3] = {"join", "reset", "gap"};
enum { R_JOIN, R_RESET, R_GAP };

static inline void add(uint64_t *c, uint64_t n)
{
	__atomic_add_fetch(c, n, __ATOMIC_RELAXED);
}

static inline uint64_t get(const uint64_t *c)
{
	return __atomic_load_n(c, __ATOMIC_RELAXED);
}

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static bool stopping(struct ipwd_cluster *c)
{
	return __atomic_load_n(&c->stop, __ATOMIC_ACQUIRE) != 0;
}

/* Remember (and log, at most once a minute for the same text) a
 * failure. */
static void failed(struct ipwd_cluster *c, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
static void failed(struct ipwd_cluster *c, const char *fmt, ...)
{
	char msg[256];
	va_list ap;
	int64_t now = (int64_t)time(NULL);
	bool say;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	add(&c->errors, 1);
	pthread_mutex_lock(&c->st_lock);
	say = strcmp(msg, c->last_error) != 0 || now - c->last_error_time >= 60;
	snprintf(c->last_error, sizeof(c->last_error), "%s", msg);
	c->last_error_time = now;
	pthread_mutex_unlock(&c->st_lock);
	if (say)
		log_warn("cluster: %s", msg);
}

/* Wait @ms, or less if stopping. */
static void pause_ms(struct ipwd_cluster *c, unsigned ms)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_sec += ms / 1000;
	ts.tv_nsec += (long)(ms % 1000) * 1000000;
	if (ts.tv_nsec >= 1000000000) {
		ts.tv_sec++;
		ts.tv_nsec -= 1000000000;
	}
	pthread_mutex_lock(&c->wait_lock);
	if (!stopping(c))
		pthread_cond_timedwait(&c->wait_cv, &c->wait_lock, &ts);
	pthread_mutex_unlock(&c->wait_lock);
}

/* ---- Redis connections ---- */

static redisReply *cmd_argv(redisContext *r, int argc, const char **argv,
			    const size_t *len)
{
	return redisCommandArgv(r, argc, argv, len);
}

/* A command of plain string arguments (no NUL in them). */
static redisReply *cmd(redisContext *r, int argc, const char **argv)
{
	size_t len[16];
	int i;

	for (i = 0; i < argc && i < 16; i++)
		len[i] = strlen(argv[i]);
	return cmd_argv(r, argc, argv, len);
}

static bool reply_error(struct ipwd_cluster *c, redisContext *r,
			redisReply *rep, const char *what)
{
	if (rep == NULL) {
		failed(c, "%s: %s (Redis %s)", what,
		       r->errstr[0] ? r->errstr : "no reply", c->url_text);
		return true;
	}
	if (rep->type == REDIS_REPLY_ERROR) {
		failed(c, "%s: Redis said: %.*s", what, (int)rep->len,
		       rep->str);
		return true;
	}
	return false;
}

/* Connect, log in, select the database, load the script. NULL on
 * failure (said why). */
static redisContext *connect_redis(struct ipwd_cluster *c, char sha[41])
{
	struct timeval tv = {.tv_sec = c->timeout_ms / 1000,
			     .tv_usec = (c->timeout_ms % 1000) * 1000};
	redisContext *r;
	redisReply *rep;

	if (c->url.path[0])
		r = redisConnectUnixWithTimeout(c->url.path, tv);
	else
		r = redisConnectWithTimeout(c->url.host, (int)c->url.port, tv);
	if (r == NULL) {
		failed(c, "cannot connect to %s: out of memory", c->url_text);
		return NULL;
	}
	if (r->err) {
		failed(c, "cannot connect to %s: %s", c->url_text, r->errstr);
		redisFree(r);
		return NULL;
	}
	/* replies are waited for at most this long: above the BLOCK */
	if (redisSetTimeout(r, tv) != REDIS_OK) {
		failed(c, "cannot set a socket timeout: %s", r->errstr);
		redisFree(r);
		return NULL;
	}
	if (c->url.password[0]) {
		const char *a[3] = {"AUTH", c->url.user, c->url.password};

		if (c->url.user[0])
			rep = cmd(r, 3, a);
		else
			rep = cmd(r, 2,
				  (const char *[]){"AUTH", c->url.password});
		if (reply_error(c, r, rep, "AUTH")) {
			freeReplyObject(rep);
			redisFree(r);
			return NULL;
		}
		freeReplyObject(rep);
	}
	if (c->url.db) {
		char db[16];

		snprintf(db, sizeof(db), "%u", c->url.db);
		rep = cmd(r, 2, (const char *[]){"SELECT", db});
		if (reply_error(c, r, rep, "SELECT")) {
			freeReplyObject(rep);
			redisFree(r);
			return NULL;
		}
		freeReplyObject(rep);
	}
	rep = cmd(r, 3, (const char *[]){"SCRIPT", "LOAD", send_lua});
	if (reply_error(c, r, rep, "SCRIPT LOAD") ||
	    rep->type != REDIS_REPLY_STRING || rep->len != 40) {
		freeReplyObject(rep);
		redisFree(r);
		return NULL;
	}
	memcpy(sha, rep->str, 40);
	sha[40] = '\0';
	freeReplyObject(rep);
	return r;
}

/* ---- stream positions ---- */

static int parse_id(const char *s, size_t len, uint64_t *ms, uint64_t *seq)
{
	char buf[48], *end;

	if (len == 0 || len >= sizeof(buf))
		return -1;
	memcpy(buf, s, len);
	buf[len] = '\0';
	errno = 0;
	*ms = strtoull(buf, &end, 10);
	if (errno || end == buf || *end != '-')
		return -1;
	s = end + 1;
	*seq = strtoull(s, &end, 10);
	if (errno || end == s || *end != '\0')
		return -1;
	return 0;
}

static int cmp_id(uint64_t ams, uint64_t aseq, uint64_t bms, uint64_t bseq)
{
	if (ams != bms)
		return ams < bms ? -1 : 1;
	return aseq < bseq ? -1 : aseq > bseq;
}

/* The position as the op log keeps it: 6 bytes of milliseconds, 4 of
 * sequence, 6 of epoch. */
static void pos_to_origin(const struct pos *p, struct ipwd_origin *o)
{
	int i;

	memset(o, 0, sizeof(*o));
	snprintf(o->node, sizeof(o->node), "%s", POS_ORIGIN);
	for (i = 0; i < 6; i++)
		o->last_id[i] = (uint8_t)(p->ms >> (40 - 8 * i));
	for (i = 0; i < 4; i++)
		o->last_id[6 + i] = (uint8_t)(p->seq >> (24 - 8 * i));
	memcpy(o->last_id + 10, p->epoch, 6);
}

static void pos_of_origin(const struct ipwd_origin *o, struct pos *p)
{
	int i;

	memset(p, 0, sizeof(*p));
	for (i = 0; i < 6; i++)
		p->ms = p->ms << 8 | o->last_id[i];
	for (i = 0; i < 4; i++)
		p->seq = p->seq << 8 | o->last_id[6 + i];
	memcpy(p->epoch, o->last_id + 10, 6);
	p->known = true;
}

/* ---- the sender ---- */

static void outbox_clear(struct outbox *b)
{
	b->len = 0;
	b->n = 0;
}

static void outbox_free(struct outbox *b)
{
	free(b->buf);
	free(b->off);
	free(b->rlen);
	free(b->field);
	free(b->flen);
	free(b->idhex);
	free(b->grp);
	memset(b, 0, sizeof(*b));
}

/* The mirror's field of an op: "mode", or list, family, prefix length,
 * address bytes. Returns its length. */
static size_t field_of(const struct ipwd_oprec *r, uint8_t f[20])
{
	size_t n;

	if (r->action == IPWD_ACT_MODE) {
		memcpy(f, "mode", 4);
		return 4;
	}
	n = r->target.family == IPW_AF_INET6 ? 16 : 4;
	f[0] = (uint8_t)r->list;
	f[1] = r->target.family == IPW_AF_INET6 ? 6 : 4;
	f[2] = r->target.plen;
	memcpy(f + 3, r->target.bytes, n);
	return 3 + n;
}

static int outbox_grow(struct outbox *b, size_t need)
{
	if (b->n == b->capn) {
		size_t cap = b->capn ? b->capn * 2 : 256;
		void *v;

#define GROW(f)                                         \
	do {                                            \
		v = realloc(b->f, cap * sizeof(*b->f)); \
		if (v == NULL)                          \
			return IPW_ENOMEM;              \
		b->f = v;                               \
	} while (0)
		GROW(off);
		GROW(rlen);
		GROW(field);
		GROW(flen);
		GROW(idhex);
#undef GROW
		b->capn = cap;
	}
	if (b->len + need > b->cap) {
		size_t cap = b->cap ? b->cap : 65536;
		uint8_t *v;

		while (cap < b->len + need)
			cap *= 2;
		v = realloc(b->buf, cap);
		if (v == NULL)
			return IPW_ENOMEM;
		b->buf = v;
		b->cap = cap;
	}
	return 0;
}

/* Add @r to the outbox. 0, IPW_ENOMEM, or IPW_EINVAL (the codec refused
 * it: not sent, said). */
static int outbox_add(struct outbox *b, const struct ipwd_oprec *r)
{
	uint8_t id[16];
	int len, rc, i;

	rc = outbox_grow(b, IPWD_CODEC_RECORD_MAX);
	if (rc != 0)
		return rc;
	len = ipwd_codec_encode(r, b->buf + b->len, IPWD_CODEC_RECORD_MAX);
	if (len < 0)
		return IPW_EINVAL;
	if (ipwd_opid_parse(r->id, strlen(r->id), id) != 0)
		return IPW_EINVAL;
	for (i = 0; i < 16; i++)
		snprintf(b->idhex[b->n] + 2 * i, 3, "%02x", id[i]);
	b->off[b->n] = b->len;
	b->rlen[b->n] = (size_t)len;
	b->flen[b->n] = (uint8_t)field_of(r, b->field[b->n]);
	b->len += (size_t)len;
	b->n++;
	return 0;
}

static size_t put_varint(uint8_t *p, uint64_t v)
{
	size_t n = 0;

	while (v >= 0x80) {
		p[n++] = (uint8_t)(v | 0x80);
		v >>= 7;
	}
	p[n++] = (uint8_t)v;
	return n;
}

/* Records [from, to) of the outbox as one group (the codec's framing). */
static int group_of(struct outbox *b, size_t from, size_t to)
{
	size_t need = 10 + (to - from) * 10, i;

	for (i = from; i < to; i++)
		need += b->rlen[i];
	if (need > b->grpcap) {
		uint8_t *v = realloc(b->grp, need);

		if (v == NULL)
			return IPW_ENOMEM;
		b->grp = v;
		b->grpcap = need;
	}
	b->grplen = put_varint(b->grp, to - from);
	for (i = from; i < to; i++) {
		b->grplen += put_varint(b->grp + b->grplen, b->rlen[i]);
		memcpy(b->grp + b->grplen, b->buf + b->off[i], b->rlen[i]);
		b->grplen += b->rlen[i];
	}
	return 0;
}

/* Send the outbox on connection *@r (connected here if NULL) as entries
 * of kind @kind, at most c->batch records each. 0, or -1 (said; the
 * connection is dropped). */
static int send_outbox(struct ipwd_cluster *c, redisContext **r, char sha[41],
		       struct outbox *b, const char *kind)
{
	const char **argv = NULL;
	size_t *alen = NULL, from, to, k;
	char maxlen[24];
	int rc = -1, pass;

	if (b->n == 0)
		return 0;
	if (*r == NULL && (*r = connect_redis(c, sha)) == NULL)
		return -1;
	/* 10 fixed arguments (EVALSHA, sha, numkeys, 3 keys, sender,
	 * maxlen, kind, group), then 3 per record */
	argv = malloc((10 + 3 * (size_t)c->batch) * sizeof(*argv));
	alen = malloc((10 + 3 * (size_t)c->batch) * sizeof(*alen));
	if (argv == NULL || alen == NULL) {
		failed(c, "out of memory sending %zu ops", b->n);
		goto out;
	}
	snprintf(maxlen, sizeof(maxlen), "%" PRIu64, c->maxlen);
	for (from = 0; from < b->n; from = to) {
		redisReply *rep = NULL;
		size_t argc = 0;

		to = from + c->batch < b->n ? from + c->batch : b->n;
		if (group_of(b, from, to) != 0) {
			failed(c, "out of memory sending %zu ops", b->n);
			goto out;
		}
#define ARG(p, l)                   \
	do {                        \
		argv[argc] = (p);   \
		alen[argc++] = (l); \
	} while (0)
		ARG("EVALSHA", 7);
		ARG(sha, 40);
		ARG("3", 1);
		ARG(c->k_ops, strlen(c->k_ops));
		ARG(c->k_state, strlen(c->k_state));
		ARG(c->k_count, strlen(c->k_count));
		ARG(c->node, strlen(c->node));
		ARG(maxlen, strlen(maxlen));
		ARG(kind, strlen(kind));
		ARG((const char *)b->grp, b->grplen);
		for (k = from; k < to; k++) {
			ARG((const char *)b->field[k], b->flen[k]);
			ARG(b->idhex[k], 32);
			ARG((const char *)b->buf + b->off[k], b->rlen[k]);
		}
#undef ARG
		for (pass = 0; pass < 2; pass++) {
			rep = cmd_argv(*r, (int)argc, argv, alen);
			/* Redis restarted since the script was loaded */
			if (pass == 0 && rep &&
			    rep->type == REDIS_REPLY_ERROR &&
			    strncmp(rep->str, "NOSCRIPT", 8) == 0) {
				redisReply *l;

				freeReplyObject(rep);
				l = cmd(*r, 3,
					(const char *[]){"SCRIPT", "LOAD",
							 send_lua});
				freeReplyObject(l);
				continue;
			}
			break;
		}
		if (reply_error(c, *r, rep, "sending ops")) {
			freeReplyObject(rep);
			goto out;
		}
		freeReplyObject(rep);
		add(&c->sent_entries, 1);
		if (strcmp(kind, "ops") == 0)
			add(&c->sent_ops, to - from);
		else
			add(&c->seeded_states, to - from);
	}
	rc = 0;
out:
	free(argv);
	free(alen);
	if (rc != 0 && *r) {
		redisFree(*r);
		*r = NULL;
	}
	return rc;
}

/* Is @r an op this node made, of a kind other nodes take? */
static bool ours(const struct ipwd_cluster *c, const struct ipwd_oprec *r)
{
	if (r->node == NULL || strcmp(r->node, c->node) != 0)
		return false;
	switch (r->action) {
	case IPWD_ACT_BAN:
	case IPWD_ACT_UNBAN:
	case IPWD_ACT_ALLOW:
	case IPWD_ACT_DISALLOW:
	case IPWD_ACT_MODE:
		return true;
	default:
		return false; /* expiries and evictions are each node's */
	}
}

static int take_group(struct ipwd_cluster *c, const struct ipwd_group *g)
{
	size_t i;
	int rc;

	for (i = 0; i < g->n; i++) {
		if (!ours(c, &g->recs[i]))
			continue;
		rc = outbox_add(&c->out, &g->recs[i]);
		if (rc == IPW_EINVAL) {
			failed(c, "op %s cannot be encoded; not sent",
			       g->recs[i].id);
			continue;
		}
		if (rc != 0)
			return rc;
	}
	c->pend_seq = g->seq;
	return 0;
}

static int send_pending(struct ipwd_cluster *c)
{
	int rc;

	if (c->out.n == 0)
		return 0;
	if (stopping(c) && c->wc == NULL)
		return -1; /* no new connection at a stop */
	rc = send_outbox(c, &c->wc, c->wsha, &c->out, "ops");
	/* "connected" until a send fails: the sender connects when it has
	 * something to send */
	__atomic_store_n(&c->w_connected, rc == 0, __ATOMIC_RELAXED);
	if (rc != 0)
		return -1;
	outbox_clear(&c->out);
	return 0;
}

/* Remember the last group Redis has, in cluster.sent (not synced: a lost
 * write sends some ops twice, which the op ids make harmless). */
static void write_sent(struct ipwd_cluster *c)
{
	char tmp[PATH_MAX + 8], line[32];
	int fd, n;

	if (c->sent_path[0] == '\0' || c->sent_seq == c->sent_file)
		return;
	snprintf(tmp, sizeof(tmp), "%s.tmp", c->sent_path);
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0) {
		failed(c, "cannot write %s: %s", tmp, strerror(errno));
		return;
	}
	n = snprintf(line, sizeof(line), "%" PRIu64 "\n", c->sent_seq);
	if (write(fd, line, (size_t)n) != n || close(fd) != 0 ||
	    rename(tmp, c->sent_path) != 0) {
		failed(c, "cannot write %s: %s", c->sent_path, strerror(errno));
		unlink(tmp);
		return;
	}
	c->sent_file = c->sent_seq;
}

static uint64_t sub_position(void *ctx, bool *known)
{
	struct ipwd_cluster *c = ctx;
	char line[32] = "";
	FILE *f;

	*known = false;
	if (c->sent_path[0] == '\0')
		return 0;
	f = fopen(c->sent_path, "re");
	if (f == NULL)
		return 0; /* never sent: the receiver seeds this node's state */
	if (fgets(line, sizeof(line), f)) {
		char *end;
		uint64_t v = strtoull(line, &end, 10);

		if (end != line && (*end == '\n' || *end == '\0')) {
			c->sent_seq = c->sent_file = v;
			*known = true;
		}
	}
	fclose(f);
	if (!*known)
		log_warn("cluster: %s is unreadable; this node's state is "
			 "sent whole instead",
			 c->sent_path);
	c->sent_known = *known;
	return c->sent_seq;
}

static int sub_apply(void *ctx, const struct ipwd_group *g)
{
	struct ipwd_cluster *c = ctx;

	if (take_group(c, g) != 0)
		return -1;
	if (c->out.n >= c->batch && send_pending(c) != 0)
		return -1;
	return 0;
}

static int sub_flush(void *ctx)
{
	struct ipwd_cluster *c = ctx;

	if (send_pending(c) != 0)
		return -1;
	c->sent_seq = c->pend_seq;
	write_sent(c);
	return 0;
}

static int read_cb(void *ctx, const struct ipwd_group *g)
{
	struct ipwd_cluster *c = ctx;

	if (take_group(c, g) != 0)
		return IPW_ENOMEM;
	if (c->out.n >= c->batch && send_pending(c) != 0)
		return IPW_EIO;
	return 0;
}

/* Catch up: the groups (from, seq] read back from the store's op log. */
static int sub_resync(void *ctx, struct ipw_snapshot *snap, uint64_t from,
		      uint64_t seq)
{
	struct ipwd_cluster *c = ctx;
	int rc;

	(void)snap;
	outbox_clear(&c->out);
	if (stopping(c))
		return -1;
	if (c->wc == NULL) {
		/* Redis down: wait for it here a while (quietly) rather
		 * than fail back to the op log every second */
		unsigned waited = 0;

		while ((c->wc = connect_redis(c, c->wsha)) == NULL &&
		       !stopping(c) && waited < 5000) {
			pause_ms(c, 500);
			waited += 500;
		}
		__atomic_store_n(&c->w_connected, c->wc != NULL,
				 __ATOMIC_RELAXED);
		if (c->wc == NULL)
			return -1;
	}
	rc = from < seq ? ipwd_ops_read(c->ops, from, seq, read_cb, c) : 0;
	if (rc == IPW_ENOENT) {
		/* The op log no longer has them (cluster mode was off while
		 * it was trimmed): send the whole state instead. */
		log_warn("cluster: the ops after %" PRIu64 " are no longer in "
			 "the store's op log; this node's whole state is sent "
			 "instead",
			 from);
		outbox_clear(&c->out);
		__atomic_store_n(&c->reseed, 1, __ATOMIC_RELEASE);
		rc = 0;
	}
	if (rc != 0 || send_pending(c) != 0) {
		outbox_clear(&c->out);
		return -1;
	}
	c->sent_seq = c->pend_seq = seq;
	write_sent(c);
	return 0;
}

/* ---- the receiver ---- */

static int dec_reserve(struct ipwd_cluster *c, size_t n)
{
	size_t cap, i;
	struct ipwd_oprec_buf *d;

	if (c->ndec + n <= c->capdec)
		return 0;
	cap = c->capdec ? c->capdec : 1024;
	while (cap < c->ndec + n)
		cap *= 2;
	d = realloc(c->dec, cap * sizeof(*d));
	if (d == NULL)
		return IPW_ENOMEM;
	c->dec = d;
	for (i = 0; i < c->ndec; i++)
		ipwd_oprec_buf_rebase(&c->dec[i]);
	c->capdec = cap;
	{
		struct ipwd_oprec *f = realloc(c->flat, cap * sizeof(*f));
		int *rcs;
		enum ipw_change *w;

		if (f == NULL)
			return IPW_ENOMEM;
		c->flat = f;
		rcs = realloc(c->rcs, cap * sizeof(*rcs));
		if (rcs == NULL)
			return IPW_ENOMEM;
		c->rcs = rcs;
		w = realloc(c->whats, cap * sizeof(*w));
		if (w == NULL)
			return IPW_ENOMEM;
		c->whats = w;
	}
	return 0;
}

/* In shadow mode: would op @r change this node's table? */
static bool disagrees(struct ipwd_cluster *c, const struct ipwd_oprec *r)
{
	struct ipw_entry_info e;
	bool have;

	if (r->action == IPWD_ACT_MODE)
		return ipw_table_mode(c->t) != r->mode;
	have = ipw_table_get(c->t, ipwd_action_list(r->action), &r->target,
			     &e) == 0 &&
	       (e.expires == 0 || e.expires > (int64_t)time(NULL));
	if (r->action == IPWD_ACT_BAN || r->action == IPWD_ACT_ALLOW)
		return !have || r->after == NULL ||
		       e.expires != r->after->expires;
	return have;
}

/* Hand the decoded records to the op log (mode on) or to the dry run
 * (shadow), with the position @at (may be NULL). 0 or -1. */
static int deliver(struct ipwd_cluster *c, bool state,
		   const struct ipwd_origin *at)
{
	size_t i, n = c->ndec;

	if (c->mode == IPWD_CLUSTER_SHADOW) {
		for (i = 0; i < n; i++) {
			add(&c->shadow_ops, 1);
			if (disagrees(c, &c->dec[i].r))
				add(&c->shadow_disagree, 1);
		}
		c->ndec = 0;
		return 0;
	}
	if (n == 0 && at == NULL)
		return 0;
	for (i = 0; i < n; i++)
		c->flat[i] = c->dec[i].r;
	ipwd_ops_submit_at(c->ops, c->flat, n, at, state, c->rcs, c->whats);
	for (i = 0; i < n; i++) {
		int rc = c->rcs[i];

		if (rc == 0)
			add(&c->applied_ops, 1);
		else if (rc == IPWD_SUPERSEDED)
			add(&c->superseded, 1);
		else if (rc == IPW_EEXIST)
			add(&c->duplicates, 1);
		else {
			add(&c->failed_ops, 1);
			if (rc == IPW_ENOSPC || rc == IPW_EIO ||
			    rc == IPW_ENOMEM) {
				failed(c,
				       "cannot apply ops from the stream: "
				       "%s; retried",
				       ipw_strerror(rc));
				c->ndec = 0;
				return -1;
			}
		}
	}
	c->ndec = 0;
	return 0;
}

/* Decode one group (a stream entry's "o", or a mirror value) into the
 * records waiting for deliver(). 0, or -1 (bad bytes: said, skipped). */
static int decode_group(struct ipwd_cluster *c, const uint8_t *p, size_t len)
{
	uint64_t count = 0, seen = 0;
	size_t pos = 0, start = c->ndec;
	struct ipwd_codec_err err = {0};
	int rc;

	for (;;) {
		if (dec_reserve(c, 1) != 0)
			return -1;
		rc = ipwd_codec_group_next(p, len, &pos, &count, &seen,
					   &c->dec[c->ndec], &err);
		if (rc == 1) {
			c->ndec++;
			continue;
		}
		if (rc == 0)
			return 0;
		c->ndec = start;
		add(&c->bad_entries, 1);
		failed(c,
		       "a stream entry does not decode (%s at byte %zu); "
		       "skipped",
		       err.why ? err.why : "?", err.pos);
		return -1;
	}
}

static const redisReply *field(const redisReply *kv, const char *name)
{
	size_t i;

	if (kv == NULL || kv->type != REDIS_REPLY_ARRAY)
		return NULL;
	for (i = 0; i + 1 < kv->elements; i += 2)
		if (kv->element[i]->type == REDIS_REPLY_STRING &&
		    strcmp(kv->element[i]->str, name) == 0)
			return kv->element[i + 1];
	return NULL;
}

/* Stream info: 0 (found), 1 (no stream yet), -1 (failed). */
struct sinfo {
	uint64_t len, added;
	uint64_t last_ms, last_seq, del_ms, del_seq, first_ms, first_seq;
	bool has_first;
};

static int stream_info(struct ipwd_cluster *c, struct sinfo *si)
{
	redisReply *rep;
	const redisReply *f;
	int rc = 0;

	memset(si, 0, sizeof(*si));
	rep = cmd(c->rc, 3, (const char *[]){"XINFO", "STREAM", c->k_ops});
	if (rep && rep->type == REDIS_REPLY_ERROR &&
	    strstr(rep->str, "no such key")) {
		freeReplyObject(rep);
		return 1;
	}
	if (reply_error(c, c->rc, rep, "XINFO STREAM")) {
		freeReplyObject(rep);
		return -1;
	}
	if ((f = field(rep, "length")) && f->type == REDIS_REPLY_INTEGER)
		si->len = (uint64_t)f->integer;
	if ((f = field(rep, "entries-added")) && f->type == REDIS_REPLY_INTEGER)
		si->added = (uint64_t)f->integer;
	f = field(rep, "last-generated-id");
	if (f == NULL || f->type != REDIS_REPLY_STRING ||
	    parse_id(f->str, f->len, &si->last_ms, &si->last_seq) != 0)
		rc = -1;
	f = field(rep, "max-deleted-entry-id");
	if (f && f->type == REDIS_REPLY_STRING)
		parse_id(f->str, f->len, &si->del_ms, &si->del_seq);
	f = field(rep, "first-entry");
	if (f && f->type == REDIS_REPLY_ARRAY && f->elements == 2 &&
	    f->element[0]->type == REDIS_REPLY_STRING &&
	    parse_id(f->element[0]->str, f->element[0]->len, &si->first_ms,
		     &si->first_seq) == 0)
		si->has_first = true;
	freeReplyObject(rep);
	if (rc != 0)
		failed(c, "XINFO STREAM: no last-generated-id (Redis 7 or "
			  "later is needed)");
	pthread_mutex_lock(&c->st_lock);
	c->stream_len = si->len;
	c->stream_added = si->added;
	snprintf(c->stream_last, sizeof(c->stream_last), "%" PRIu64 "-%" PRIu64,
		 si->last_ms, si->last_seq);
	snprintf(c->stream_deleted, sizeof(c->stream_deleted),
		 "%" PRIu64 "-%" PRIu64, si->del_ms, si->del_seq);
	if (si->has_first)
		snprintf(c->stream_first, sizeof(c->stream_first),
			 "%" PRIu64 "-%" PRIu64, si->first_ms, si->first_seq);
	else
		c->stream_first[0] = '\0';
	pthread_mutex_unlock(&c->st_lock);
	return rc;
}

/* The stream's op count ({S}:opcount; 0 before the first op). */
static int get_count(struct ipwd_cluster *c, uint64_t *n)
{
	redisReply *rep = cmd(c->rc, 2, (const char *[]){"GET", c->k_count});

	if (reply_error(c, c->rc, rep, "GET opcount")) {
		freeReplyObject(rep);
		return -1;
	}
	*n = rep->type == REDIS_REPLY_STRING ? strtoull(rep->str, NULL, 10) : 0;
	freeReplyObject(rep);
	return 0;
}

/* Were entries after position @p trimmed away? Redis 7.0 moves
 * max-deleted-entry-id on XDEL only, not when XADD MAXLEN or XTRIM trim,
 * so a first entry after the position counts too (when the entry at the
 * position itself was the last trimmed, that is a reload not needed:
 * never an op skipped). */
static bool gap(const struct sinfo *si, const struct pos *p)
{
	if (cmp_id(si->del_ms, si->del_seq, p->ms, p->seq) > 0)
		return true;
	return si->has_first &&
	       cmp_id(si->first_ms, si->first_seq, p->ms, p->seq) > 0;
}

/* Redis's epoch, created if there is none. 0 or -1. */
static int get_epoch(struct ipwd_cluster *c, uint8_t e[6])
{
	redisReply *rep;
	int pass, i;

	for (pass = 0; pass < 2; pass++) {
		rep = cmd(c->rc, 2, (const char *[]){"GET", c->k_epoch});
		if (reply_error(c, c->rc, rep, "GET epoch")) {
			freeReplyObject(rep);
			return -1;
		}
		if (rep->type == REDIS_REPLY_STRING && rep->len == 12) {
			for (i = 0; i < 6; i++) {
				int hi = ipwd_hexval(
					    (unsigned char)rep->str[2 * i]),
				    lo = ipwd_hexval(
					    (unsigned char)rep->str[2 * i + 1]);

				if (hi < 0 || lo < 0)
					break;
				e[i] = (uint8_t)(hi << 4 | lo);
			}
			freeReplyObject(rep);
			if (i == 6)
				return 0;
			failed(c, "%s holds no epoch ipwall wrote", c->k_epoch);
			return -1;
		}
		freeReplyObject(rep);
		if (pass == 0) {
			uint8_t r[6];
			char hex[13];

			if (getrandom(r, sizeof(r), 0) != (ssize_t)sizeof(r))
				return -1;
			for (i = 0; i < 6; i++)
				snprintf(hex + 2 * i, 3, "%02x", r[i]);
			rep = cmd(
				c->rc, 4,
				(const char *[]){"SET", c->k_epoch, hex, "NX"});
			if (reply_error(c, c->rc, rep, "SET epoch")) {
				freeReplyObject(rep);
				return -1;
			}
			freeReplyObject(rep);
		}
	}
	return -1;
}

/* A synthetic op id for an entry whose last op is not known (made before
 * cluster mode): its creation time, counter and random bits zero, so
 * every node that holds the same entry makes the same id. */
static void synthetic_id(int64_t created, uint8_t id[16])
{
	uint64_t ms = created > 0 ? (uint64_t)created * 1000 : 0;
	int i;

	memset(id, 0, 16);
	for (i = 0; i < 6; i++)
		id[i] = (uint8_t)(ms >> (40 - 8 * i));
	id[6] = 0x70;
	id[8] = 0x80;
}

/* Send this node's whole table (and mode) into the mirror and the stream
 * as states, so that nothing it holds is missing from the cluster (a new
 * node, or Redis lost its data). 0 or -1. */
static int seed(struct ipwd_cluster *c)
{
	struct ipw_snapshot *snap = NULL;
	struct outbox b = {0};
	struct ipw_entry_info e;
	char idtext[IPWD_OPID_LEN];
	uint64_t seq;
	size_t i, n, sent = 0;
	uint8_t id[16];
	bool present;
	int rc = 0;

	if (ipwd_ops_snapshot(c->ops, &snap, &seq) != 0) {
		failed(c, "out of memory for a snapshot to send");
		return -1;
	}
	n = ipw_snapshot_count(snap);
	for (i = 0; i <= n && rc == 0; i++) {
		struct ipwd_oprec r = {0};

		if (i == n) {
			/* the mode, if an op ever set it */
			if (!ipwd_arbiter_stamp(c->arb, -1, NULL, id, &present))
				break;
			r.action = IPWD_ACT_MODE;
			r.mode = r.mode_before = ipw_table_mode(c->t);
			r.change = IPW_CHANGE_UNCHANGED;
		} else {
			ipw_snapshot_get(snap, i, &e);
			if (e.expires != 0 && e.expires <= (int64_t)time(NULL))
				continue;
			if (!ipwd_arbiter_stamp(c->arb, (int)e.list, &e.target,
						id, &present) ||
			    !present)
				synthetic_id(e.created, id);
			r.action = e.list == IPW_LIST_BAN ? IPWD_ACT_BAN :
							    IPWD_ACT_ALLOW;
			r.list = e.list;
			r.target = e.target;
			r.change = IPW_CHANGE_ADDED;
			r.after = &e;
		}
		ipwd_opid_format(id, idtext);
		r.id = idtext;
		r.node = c->node;
		r.actor = "cluster:seed";
		r.time = (int64_t)(ipwd_opid_ms(id) / 1000);
		rc = outbox_add(&b, &r);
		if (rc == IPW_EINVAL)
			rc = 0; /* not encodable: not sent */
		if (rc == 0 && b.n >= 10u * c->batch) {
			sent += b.n;
			rc = send_outbox(c, &c->rc, c->rsha, &b, "state");
			outbox_clear(&b);
		}
	}
	if (rc == 0) {
		sent += b.n;
		rc = send_outbox(c, &c->rc, c->rsha, &b, "state");
	}
	ipw_snapshot_free(snap);
	outbox_free(&b);
	if (rc != 0)
		return -1;
	add(&c->seeds, 1);
	log_info("cluster: sent this node's %zu entries to %s as states", sent,
		 c->k_state);
	return 0;
}

/* Load the mirror: every state whose op is later than what this node
 * has is applied (the arbiter decides). The position becomes the
 * stream's last entry as it was before the scan. 0 or -1. */
static int reload(struct ipwd_cluster *c, int reason)
{
	struct sinfo si;
	struct ipwd_origin at;
	char cursor[32] = "0";
	uint64_t states = 0, t0 = now_ms(), total = 0;
	redisReply *rep = NULL;
	int rc;

	rc = stream_info(c, &si);
	if (rc < 0 || get_count(c, &total) != 0)
		return -1;
	do {
		const redisReply *v;
		size_t i;

		rep = cmd(c->rc, 5,
			  (const char *[]){"HSCAN", c->k_state, cursor, "COUNT",
					   "1000"});
		if (reply_error(c, c->rc, rep, "HSCAN") ||
		    rep->type != REDIS_REPLY_ARRAY || rep->elements != 2 ||
		    rep->element[0]->type != REDIS_REPLY_STRING ||
		    rep->element[0]->len >= sizeof(cursor)) {
			freeReplyObject(rep);
			return -1;
		}
		memcpy(cursor, rep->element[0]->str, rep->element[0]->len);
		cursor[rep->element[0]->len] = '\0';
		v = rep->element[1];
		for (i = 0; v->type == REDIS_REPLY_ARRAY && i + 1 < v->elements;
		     i += 2) {
			const redisReply *val = v->element[i + 1];
			size_t start = c->ndec;
			struct ipwd_codec_err err = {0};

			if (val->type != REDIS_REPLY_STRING || val->len <= 32 ||
			    dec_reserve(c, 1) != 0) {
				add(&c->bad_entries, 1);
				continue;
			}
			if (ipwd_codec_decode((const uint8_t *)val->str + 32,
					      val->len - 32, &c->dec[start],
					      &err) != 0) {
				add(&c->bad_entries, 1);
				failed(c,
				       "a state in %s does not decode (%s); "
				       "skipped",
				       c->k_state, err.why ? err.why : "?");
				continue;
			}
			c->ndec++;
			states++;
		}
		freeReplyObject(rep);
		if (c->ndec >= SCAN_COUNT && deliver(c, true, NULL) != 0)
			return -1;
	} while (strcmp(cursor, "0") != 0 && !stopping(c));
	if (stopping(c))
		return -1;
	c->pos.ms = si.last_ms;
	c->pos.seq = si.last_seq;
	memcpy(c->pos.epoch, c->epoch, 6);
	c->pos.known = true;
	c->pos_total = total;
	pos_to_origin(&c->pos, &at);
	if (deliver(c, true, &at) != 0)
		return -1;
	add(&c->reloads[reason], 1);
	add(&c->reload_states, states);
	log_info("cluster: loaded %" PRIu64 " states from %s (%s) in %" PRIu64
		 " ms; reading %s from %" PRIu64 "-%" PRIu64,
		 states, c->k_state, reload_reason[reason], now_ms() - t0,
		 c->k_ops, c->pos.ms, c->pos.seq);
	return 0;
}

/* After each connection: is the position still good? Seed and load as
 * needed. 0 or -1. */
static int sync_start(struct ipwd_cluster *c)
{
	struct sinfo si;
	uint8_t e[6];
	int rc;

	if (get_epoch(c, e) != 0)
		return -1;
	memcpy(c->epoch, e, 6);
	if (!c->pos.known || memcmp(c->pos.epoch, e, 6) != 0 ||
	    __atomic_exchange_n(&c->reseed, 0, __ATOMIC_ACQ_REL)) {
		int reason = c->pos.known ? R_RESET : R_JOIN;

		if (c->pos.known && memcmp(c->pos.epoch, e, 6) != 0)
			log_warn("cluster: %s has a new epoch (Redis lost its "
				 "data, or this node was pointed at another "
				 "Redis); sending this node's state and "
				 "loading the cluster's",
				 c->url_text);
		if (seed(c) != 0)
			return -1;
		if (c->mode == IPWD_CLUSTER_ON)
			return reload(c, reason);
		rc = stream_info(c, &si);
		if (rc < 0 || get_count(c, &c->pos_total) != 0)
			return -1;
		c->pos.ms = si.last_ms;
		c->pos.seq = si.last_seq;
		memcpy(c->pos.epoch, e, 6);
		c->pos.known = true;
		return 0;
	}
	rc = stream_info(c, &si);
	if (rc < 0)
		return -1;
	/* Entries after the position were trimmed away: never skip them
	 * silently. (The stream's key gone with the epoch kept is the
	 * same: its entries are not there.) */
	if ((rc == 1 && (c->pos.ms || c->pos.seq)) || gap(&si, &c->pos)) {
		log_warn("cluster: entries after this node's position "
			 "%" PRIu64 "-%" PRIu64 " were trimmed from %s "
			 "(max-deleted-entry-id %" PRIu64 "-%" PRIu64 "); "
			 "loading the state from %s",
			 c->pos.ms, c->pos.seq, c->k_ops, si.del_ms, si.del_seq,
			 c->k_state);
		if (c->mode == IPWD_CLUSTER_ON)
			return reload(c, R_GAP);
		add(&c->reloads[R_GAP], 1);
		c->pos.ms = si.last_ms;
		c->pos.seq = si.last_seq;
	}
	return 0;
}

/* One XREAD: apply what it brings. 0, or -1 (connection dropped). */
static int read_once(struct ipwd_cluster *c)
{
	char from[48], block[16], count[16];
	redisReply *rep;
	const redisReply *entries;
	struct ipwd_origin at;
	struct pos npos;
	uint64_t total = c->pos_total;
	bool any = false;
	size_t i;
	int rc = 0;

	snprintf(from, sizeof(from), "%" PRIu64 "-%" PRIu64, c->pos.ms,
		 c->pos.seq);
	snprintf(block, sizeof(block), "%u", c->block_ms);
	snprintf(count, sizeof(count), "%d", READ_COUNT);
	rep = cmd(c->rc, 8,
		  (const char *[]){"XREAD", "COUNT", count, "BLOCK", block,
				   "STREAMS", c->k_ops, from});
	if (reply_error(c, c->rc, rep, "XREAD")) {
		freeReplyObject(rep);
		return -1;
	}
	if (rep->type == REDIS_REPLY_NIL) {
		freeReplyObject(rep);
		return 0; /* nothing within the BLOCK */
	}
	if (rep->type != REDIS_REPLY_ARRAY || rep->elements != 1 ||
	    rep->element[0]->type != REDIS_REPLY_ARRAY ||
	    rep->element[0]->elements != 2 ||
	    rep->element[0]->element[1]->type != REDIS_REPLY_ARRAY) {
		failed(c, "XREAD: a reply of an unexpected shape");
		freeReplyObject(rep);
		return -1;
	}
	entries = rep->element[0]->element[1];
	npos = c->pos;
	for (i = 0; i < entries->elements; i++) {
		const redisReply *en = entries->element[i], *n, *k, *o;
		uint64_t ms, seq;
		bool state;

		if (en->type != REDIS_REPLY_ARRAY || en->elements != 2 ||
		    en->element[0]->type != REDIS_REPLY_STRING ||
		    parse_id(en->element[0]->str, en->element[0]->len, &ms,
			     &seq) != 0) {
			add(&c->bad_entries, 1);
			continue;
		}
		npos.ms = ms;
		npos.seq = seq;
		any = true;
		if ((n = field(en->element[1], "t")) &&
		    n->type == REDIS_REPLY_STRING)
			total = strtoull(n->str, NULL, 10);
		n = field(en->element[1], "n");
		k = field(en->element[1], "k");
		o = field(en->element[1], "o");
		if (n == NULL || k == NULL || o == NULL ||
		    n->type != REDIS_REPLY_STRING ||
		    k->type != REDIS_REPLY_STRING ||
		    o->type != REDIS_REPLY_STRING) {
			add(&c->bad_entries, 1);
			failed(c,
			       "stream entry %" PRIu64 "-%" PRIu64
			       " lacks n, k or o; skipped",
			       ms, seq);
			continue;
		}
		if (strcmp(n->str, c->node) == 0)
			continue; /* ours: applied when it was made */
		state = strcmp(k->str, "state") == 0;
		if (!state && strcmp(k->str, "ops") != 0) {
			add(&c->bad_entries, 1);
			continue;
		}
		/* states and ops go in separate submissions */
		if (state && c->ndec && deliver(c, false, NULL) != 0)
			rc = -1;
		{
			size_t before = c->ndec;

			if (rc == 0 && decode_group(c, (const uint8_t *)o->str,
						    o->len) == 0) {
				add(&c->recv_ops, c->ndec - before);
				if (state && deliver(c, true, NULL) != 0)
					rc = -1;
			}
		}
		if (rc != 0)
			break;
	}
	freeReplyObject(rep);
	if (rc != 0) {
		/* not applied: read again from before them next time */
		c->ndec = 0;
		return -1;
	}
	if (!any)
		return 0;
	memcpy(npos.epoch, c->epoch, 6);
	pos_to_origin(&npos, &at);
	if (deliver(c, false, c->mode == IPWD_CLUSTER_ON ? &at : NULL) != 0)
		return -1;
	/* applied: the next read goes on after them */
	c->pos = npos;
	c->pos_total = total;
	return 0;
}

static void parse_member(const char *node, size_t nlen, const char *v,
			 size_t vlen, struct member *m)
{
	char buf[256], *f[6], *save = NULL, *p;
	int n = 0;

	memset(m, 0, sizeof(*m));
	snprintf(m->node, sizeof(m->node), "%.*s", (int)nlen, node);
	snprintf(buf, sizeof(buf), "%.*s", (int)vlen, v);
	for (p = strtok_r(buf, " ", &save); p && n < 6;
	     p = strtok_r(NULL, " ", &save))
		f[n++] = p;
	if (n != 6) {
		snprintf(m->mode, sizeof(m->mode), "?");
		return;
	}
	m->seen_ms = strtoull(f[0], NULL, 10);
	snprintf(m->mode, sizeof(m->mode), "%s", f[1]);
	snprintf(m->pos, sizeof(m->pos), "%s", f[2]);
	m->lag_ops = strtoull(f[3], NULL, 10);
	m->lag_ms = strtoull(f[4], NULL, 10);
	m->backlog = strtoull(f[5], NULL, 10);
}

/* The backlog: groups committed here that the sender has not sent. */
static uint64_t backlog(struct ipwd_cluster *c)
{
	struct ipwd_sub_status st[16];
	size_t ns = ipwd_ops_subscribers(c->ops, st, 16), i;
	uint64_t seq = ipwd_ops_seq(c->ops);

	for (i = 0; i < ns && i < 16; i++)
		if (strcmp(st[i].name, "cluster") == 0)
			return seq > st[i].applied ? seq - st[i].applied : 0;
	return 0;
}

/* Publish this node's place, read everyone's, check for a gap. */
static int heartbeat(struct ipwd_cluster *c)
{
	struct sinfo si;
	char val[256];
	uint64_t now = now_ms(), lag_e = 0, lag_ms = 0, bl = backlog(c), total;
	size_t i;
	redisReply *rep;
	int rc;

	rc = stream_info(c, &si);
	if (rc < 0)
		return -1;
	if (rc == 0 && gap(&si, &c->pos)) {
		/* trimmed past us while we were reading: reload */
		log_warn("cluster: entries after this node's position "
			 "%" PRIu64 "-%" PRIu64 " were trimmed from %s; "
			 "loading the state from %s",
			 c->pos.ms, c->pos.seq, c->k_ops, c->k_state);
		if (c->mode == IPWD_CLUSTER_ON) {
			if (reload(c, R_GAP) != 0)
				return -1;
		} else {
			add(&c->reloads[R_GAP], 1);
			c->pos.ms = si.last_ms;
			c->pos.seq = si.last_seq;
		}
	}
	if (get_count(c, &total) != 0)
		return -1;
	if (rc == 0 &&
	    cmp_id(si.last_ms, si.last_seq, c->pos.ms, c->pos.seq) > 0) {
		lag_ms = si.last_ms > c->pos.ms ? si.last_ms - c->pos.ms : 0;
		lag_e = total > c->pos_total ? total - c->pos_total : 1;
	}
	pthread_mutex_lock(&c->st_lock);
	c->lag_ops = lag_e;
	c->st_pos_ms = c->pos.ms;
	c->st_pos_seq = c->pos.seq;
	c->lag_ms = lag_ms;
	pthread_mutex_unlock(&c->st_lock);
	snprintf(val, sizeof(val),
		 "%" PRIu64 " %s %" PRIu64 "-%" PRIu64 " %" PRIu64 " %" PRIu64
		 " %" PRIu64,
		 now, c->mode == IPWD_CLUSTER_ON ? "on" : "shadow", c->pos.ms,
		 c->pos.seq, lag_e, lag_ms, bl);
	rep = cmd(c->rc, 4,
		  (const char *[]){"HSET", c->k_members, c->node, val});
	if (reply_error(c, c->rc, rep, "HSET members")) {
		freeReplyObject(rep);
		return -1;
	}
	freeReplyObject(rep);
	rep = cmd(c->rc, 2, (const char *[]){"HGETALL", c->k_members});
	if (reply_error(c, c->rc, rep, "HGETALL members")) {
		freeReplyObject(rep);
		return -1;
	}
	pthread_mutex_lock(&c->st_lock);
	c->nmembers = 0;
	for (i = 0; rep->type == REDIS_REPLY_ARRAY && i + 1 < rep->elements &&
		    c->nmembers < MAX_MEMBERS;
	     i += 2) {
		const redisReply *k = rep->element[i], *v = rep->element[i + 1];

		if (k->type != REDIS_REPLY_STRING ||
		    v->type != REDIS_REPLY_STRING)
			continue;
		parse_member(k->str, k->len, v->str, v->len,
			     &c->members[c->nmembers++]);
	}
	pthread_mutex_unlock(&c->st_lock);
	freeReplyObject(rep);
	if (now - c->last_prune_ms > 3600 * 1000) {
		ipwd_arbiter_prune(c->arb,
				   now > HORIZON_MS ? now - HORIZON_MS : 0);
		c->last_prune_ms = now;
	}
	return 0;
}

static void drop_reader(struct ipwd_cluster *c)
{
	if (c->rc)
		redisFree(c->rc);
	c->rc = NULL;
	c->ndec = 0;
	__atomic_store_n(&c->r_connected, 0, __ATOMIC_RELAXED);
}

static void *reader_main(void *arg)
{
	struct ipwd_cluster *c = arg;
	unsigned backoff = 100;
	bool was_connected = false;

	pthread_setname_np(pthread_self(), "ipwd-cluster");
	while (!stopping(c)) {
		uint64_t now;

		if (c->rc == NULL) {
			c->rc = connect_redis(c, c->rsha);
			if (c->rc == NULL || sync_start(c) != 0) {
				drop_reader(c);
				pause_ms(c, backoff);
				backoff = backoff < 2000 ? backoff * 2 : 2000;
				continue;
			}
			backoff = 100;
			__atomic_store_n(&c->r_connected, 1, __ATOMIC_RELAXED);
			log_info("cluster: %s to %s, stream %s at %" PRIu64
				 "-%" PRIu64,
				 was_connected ? "connected again" :
						 "connected",
				 c->url_text, c->k_ops, c->pos.ms, c->pos.seq);
			was_connected = true;
			pthread_mutex_lock(&c->st_lock);
			c->last_error[0] = '\0';
			pthread_mutex_unlock(&c->st_lock);
			c->last_beat_ms = 0;
		}
		if (__atomic_load_n(&c->reseed, __ATOMIC_ACQUIRE) &&
		    sync_start(c) != 0) {
			drop_reader(c);
			continue;
		}
		now = now_ms();
		if (now - c->last_beat_ms >= c->heartbeat_ms) {
			if (heartbeat(c) != 0) {
				drop_reader(c);
				continue;
			}
			c->last_beat_ms = now;
		}
		if (read_once(c) != 0) {
			drop_reader(c);
			pause_ms(c, 100);
		}
	}
	drop_reader(c);
	return NULL;
}

/* ---- life ---- */

struct seeding {
	struct ipwd_arbiter_state *arb;
	uint8_t max[16];
};

static int seed_stamp(void *ctx, int list, const struct ipw_addr *t,
		      const uint8_t id[16], bool present)
{
	struct seeding *s = ctx;

	if (memcmp(id, s->max, 16) > 0)
		memcpy(s->max, id, 16);
	return ipwd_arbiter_seed(s->arb, list, t, id, present);
}

int ipwd_cluster_new(struct ipwd_cluster **out, const struct ipwd_config *cfg,
		     struct ipwd_ops *ops, struct ipwd_store *store)
{
	struct ipwd_cluster *c;

	*out = NULL;
	if (cfg->cluster_mode == IPWD_CLUSTER_OFF)
		return 0;
	c = calloc(1, sizeof(*c));
	if (c == NULL || ipwd_arbiter_new(&c->arb) != 0) {
		free(c);
		log_error("out of memory");
		return -1;
	}
	c->mode = cfg->cluster_mode;
	snprintf(c->node, sizeof(c->node), "%s", cfg->node);
	snprintf(c->k_ops, sizeof(c->k_ops), "{%s}:ops", cfg->cluster_stream);
	snprintf(c->k_state, sizeof(c->k_state), "{%s}:state",
		 cfg->cluster_stream);
	snprintf(c->k_epoch, sizeof(c->k_epoch), "{%s}:epoch",
		 cfg->cluster_stream);
	snprintf(c->k_members, sizeof(c->k_members), "{%s}:members",
		 cfg->cluster_stream);
	snprintf(c->k_count, sizeof(c->k_count), "{%s}:opcount",
		 cfg->cluster_stream);
	c->url = cfg->cluster_url;
	ipwd_redis_url_format(&c->url, c->url_text, sizeof(c->url_text));
	c->block_ms = cfg->cluster_block_ms;
	c->timeout_ms = cfg->cluster_timeout_ms;
	c->batch = cfg->cluster_batch;
	c->heartbeat_ms = cfg->cluster_heartbeat_ms;
	c->maxlen = cfg->cluster_maxlen;
	if (cfg->store_path && cfg->store_path[0] && cfg->data_dir)
		snprintf(c->sent_path, sizeof(c->sent_path), "%s/cluster.sent",
			 cfg->data_dir);
	c->ops = ops;
	c->t = ipwd_ops_table(ops);
	c->store = store;
	pthread_mutex_init(&c->st_lock, NULL);
	pthread_mutex_init(&c->wait_lock, NULL);
	pthread_cond_init(&c->wait_cv, NULL);
	c->w_connected = 1; /* until a send fails */
	c->sub.name = "cluster";
	c->sub.position = sub_position;
	c->sub.apply = sub_apply;
	c->sub.resync = sub_resync;
	c->sub.flush = sub_flush;
	if (ipwd_ops_subscribe(ops, &c->sub, c) != 0) {
		ipwd_cluster_free(c);
		log_error("out of memory");
		return -1;
	}
	/* in shadow mode too: no op from elsewhere is applied there, but the
	 * stamps of this node's own ops are what it sends when it seeds */
	ipwd_ops_set_arbiter(ops, &ipwd_arbiter_ops, c->arb);
	*out = c;
	return 0;
}

int ipwd_cluster_start(struct ipwd_cluster *c)
{
	struct ipwd_origin o;
	int rc;

	if (c == NULL)
		return 0;
	/* The stamps of what this node applied before: its history, once
	 * the store's index has caught up with the op log. */
	if (c->store) {
		uint64_t t0 = now_ms();

		if (ipwd_ops_wait(c->ops, "store", ipwd_ops_seq(c->ops),
				  60000) != 0)
			log_warn("cluster: the store's index is behind; stamps "
				 "learnt from what it has");
		struct seeding sd = {.arb = c->arb};

		rc = ipwd_store_last_ops(c->store, seed_stamp, &sd);
		/* the hybrid clock: past every op applied here, states from a
		 * reload included (they move no origin's cursor) */
		ipwd_ops_observe_id(c->ops, sd.max);
		if (rc != 0) {
			log_error(
				"cluster: cannot read the history's last ops: "
				"%s",
				ipw_strerror(rc));
			return -1;
		}
		{
			struct ipwd_arbiter_stats s;

			ipwd_arbiter_stats(c->arb, &s);
			log_info("cluster: %" PRIu64 " stamps from the history "
				 "in %" PRIu64 " ms",
				 s.stamps, now_ms() - t0);
		}
	}
	if (c->mode == IPWD_CLUSTER_ON &&
	    ipwd_ops_origin(c->ops, POS_ORIGIN, &o) == 0)
		pos_of_origin(&o, &c->pos);
	if (pthread_create(&c->thread, NULL, reader_main, c) != 0) {
		log_error("cluster: cannot start a thread");
		return -1;
	}
	c->running = true;
	log_info("cluster: mode %s, node %s, Redis %s, stream %s",
		 c->mode == IPWD_CLUSTER_ON ? "on" : "shadow", c->node,
		 c->url_text, c->k_ops);
	return 0;
}

void ipwd_cluster_stop(struct ipwd_cluster *c)
{
	if (c == NULL)
		return;
	pthread_mutex_lock(&c->wait_lock);
	__atomic_store_n(&c->stop, 1, __ATOMIC_RELEASE);
	pthread_cond_broadcast(&c->wait_cv);
	pthread_mutex_unlock(&c->wait_lock);
	if (c->running)
		pthread_join(c->thread, NULL);
	c->running = false;
}

void ipwd_cluster_free(struct ipwd_cluster *c)
{
	if (c == NULL)
		return;
	ipwd_cluster_stop(c);
	if (c->wc)
		redisFree(c->wc);
	outbox_free(&c->out);
	free(c->dec);
	free(c->flat);
	free(c->rcs);
	free(c->whats);
	ipwd_arbiter_free(c->arb);
	pthread_mutex_destroy(&c->st_lock);
	pthread_mutex_destroy(&c->wait_lock);
	pthread_cond_destroy(&c->wait_cv);
	free(c);
}

/* ---- status ---- */

static const char *mode_name(int m)
{
	return m == IPWD_CLUSTER_ON ? "on" : "shadow";
}

/* @s as a JSON string's inside (printable ASCII only; others as '?'). */
static void json_text(char *out, size_t size, const char *s)
{
	size_t n = 0;

	for (; *s && n + 3 < size; s++) {
		unsigned char ch = (unsigned char)*s;

		if (ch == '"' || ch == '\\') {
			out[n++] = '\\';
			out[n++] = (char)ch;
		} else {
			out[n++] = ch >= 0x20 && ch < 0x7f ? (char)ch : '?';
		}
	}
	out[n] = '\0';
}

size_t ipwd_cluster_metrics(void *ctx, char *buf, size_t size)
{
	struct ipwd_cluster *c = ctx;
	struct ipwd_arbiter_stats as;
	uint64_t lag_e, lag_ms, len;
	int64_t err_time;
	size_t n = 0;
	int i;

	ipwd_arbiter_stats(c->arb, &as);
	pthread_mutex_lock(&c->st_lock);
	lag_e = c->lag_ops;
	lag_ms = c->lag_ms;
	len = c->stream_len;
	err_time = c->last_error_time;
	pthread_mutex_unlock(&c->st_lock);
#define M(...) ipwd_appendf(buf, size, &n, __VA_ARGS__)
	M("# HELP ipwall_cluster_mode Cluster mode ([cluster] mode).\n"
	  "# TYPE ipwall_cluster_mode gauge\n"
	  "ipwall_cluster_mode{mode=\"%s\"} 1\n",
	  mode_name(c->mode));
	M("# HELP ipwall_cluster_connected Whether the receiver and the "
	  "sender have a Redis connection.\n"
	  "# TYPE ipwall_cluster_connected gauge\n"
	  "ipwall_cluster_connected{conn=\"receiver\"} %d\n"
	  "ipwall_cluster_connected{conn=\"sender\"} %d\n",
	  __atomic_load_n(&c->r_connected, __ATOMIC_RELAXED),
	  __atomic_load_n(&c->w_connected, __ATOMIC_RELAXED));
	M("# HELP ipwall_cluster_lag_ops Ops in the stream after this "
	  "node's position (at the last heartbeat).\n"
	  "# TYPE ipwall_cluster_lag_ops gauge\n"
	  "ipwall_cluster_lag_ops %" PRIu64 "\n"
	  "# HELP ipwall_cluster_lag_seconds Age of the stream's last entry "
	  "less that of this node's position.\n"
	  "# TYPE ipwall_cluster_lag_seconds gauge\n"
	  "ipwall_cluster_lag_seconds %.3f\n",
	  lag_e, (double)lag_ms / 1000.0);
	M("# HELP ipwall_cluster_stream_length Entries in the stream.\n"
	  "# TYPE ipwall_cluster_stream_length gauge\n"
	  "ipwall_cluster_stream_length %" PRIu64 "\n",
	  len);
	M("# HELP ipwall_cluster_ops_total Ops through the cluster, by what "
	  "happened to them.\n"
	  "# TYPE ipwall_cluster_ops_total counter\n"
	  "ipwall_cluster_ops_total{result=\"sent\"} %" PRIu64 "\n"
	  "ipwall_cluster_ops_total{result=\"received\"} %" PRIu64 "\n"
	  "ipwall_cluster_ops_total{result=\"applied\"} %" PRIu64 "\n"
	  "ipwall_cluster_ops_total{result=\"superseded\"} %" PRIu64 "\n"
	  "ipwall_cluster_ops_total{result=\"duplicate\"} %" PRIu64 "\n"
	  "ipwall_cluster_ops_total{result=\"failed\"} %" PRIu64 "\n",
	  get(&c->sent_ops), get(&c->recv_ops), get(&c->applied_ops),
	  get(&c->superseded), get(&c->duplicates), get(&c->failed_ops));
	M("# HELP ipwall_cluster_stream_entries_sent_total Stream entries "
	  "this node added.\n"
	  "# TYPE ipwall_cluster_stream_entries_sent_total counter\n"
	  "ipwall_cluster_stream_entries_sent_total %" PRIu64 "\n"
	  "# HELP ipwall_cluster_bad_entries_total Stream entries or states "
	  "that did not decode (skipped).\n"
	  "# TYPE ipwall_cluster_bad_entries_total counter\n"
	  "ipwall_cluster_bad_entries_total %" PRIu64 "\n",
	  get(&c->sent_entries), get(&c->bad_entries));
	M("# HELP ipwall_cluster_reloads_total Loads of the state from Redis, "
	  "by reason.\n"
	  "# TYPE ipwall_cluster_reloads_total counter\n");
	for (i = 0; i < 3; i++)
		M("ipwall_cluster_reloads_total{reason=\"%s\"} %" PRIu64 "\n",
		  reload_reason[i], get(&c->reloads[i]));
	M("# HELP ipwall_cluster_reload_states_total States loaded by those "
	  "reloads.\n"
	  "# TYPE ipwall_cluster_reload_states_total counter\n"
	  "ipwall_cluster_reload_states_total %" PRIu64 "\n"
	  "# HELP ipwall_cluster_seeds_total Times this node sent its whole "
	  "state.\n"
	  "# TYPE ipwall_cluster_seeds_total counter\n"
	  "ipwall_cluster_seeds_total %" PRIu64 "\n"
	  "# HELP ipwall_cluster_seeded_states_total States it sent.\n"
	  "# TYPE ipwall_cluster_seeded_states_total counter\n"
	  "ipwall_cluster_seeded_states_total %" PRIu64 "\n",
	  get(&c->reload_states), get(&c->seeds), get(&c->seeded_states));
	M("# HELP ipwall_cluster_shadow_ops_total Ops from other nodes the "
	  "shadow dry run compared.\n"
	  "# TYPE ipwall_cluster_shadow_ops_total counter\n"
	  "ipwall_cluster_shadow_ops_total %" PRIu64 "\n"
	  "# HELP ipwall_cluster_shadow_disagreements_total Of those, ops "
	  "that would have changed this node's table.\n"
	  "# TYPE ipwall_cluster_shadow_disagreements_total counter\n"
	  "ipwall_cluster_shadow_disagreements_total %" PRIu64 "\n",
	  get(&c->shadow_ops), get(&c->shadow_disagree));
	M("# HELP ipwall_cluster_errors_total Redis failures (connections, "
	  "replies).\n"
	  "# TYPE ipwall_cluster_errors_total counter\n"
	  "ipwall_cluster_errors_total %" PRIu64 "\n"
	  "# HELP ipwall_cluster_last_error_timestamp_seconds When the last "
	  "one happened (0: never).\n"
	  "# TYPE ipwall_cluster_last_error_timestamp_seconds gauge\n"
	  "ipwall_cluster_last_error_timestamp_seconds %lld\n",
	  get(&c->errors), (long long)err_time);
	M("# HELP ipwall_cluster_stamps Targets whose last op the arbiter "
	  "knows (tombstones included).\n"
	  "# TYPE ipwall_cluster_stamps gauge\n"
	  "ipwall_cluster_stamps %" PRIu64 "\n"
	  "# HELP ipwall_cluster_stamp_bytes Memory of those stamps.\n"
	  "# TYPE ipwall_cluster_stamp_bytes gauge\n"
	  "ipwall_cluster_stamp_bytes %" PRIu64 "\n",
	  as.stamps, as.bytes);
#undef M
	return n < size ? n : 0;
}

size_t ipwd_cluster_health(void *ctx, char *buf, size_t size)
{
	struct ipwd_cluster *c = ctx;
	char err[300];
	uint64_t lag_e, lag_ms;
	size_t n = 0;

	pthread_mutex_lock(&c->st_lock);
	json_text(err, sizeof(err), c->last_error);
	lag_e = c->lag_ops;
	lag_ms = c->lag_ms;
	pthread_mutex_unlock(&c->st_lock);
	ipwd_appendf(buf, size, &n,
		     "{\"mode\":\"%s\",\"connected\":%s,\"lag_ops\":%" PRIu64
		     ",\"lag_seconds\":%.3f,\"backlog\":%" PRIu64
		     ",\"last_error\":\"%s\"}",
		     mode_name(c->mode),
		     __atomic_load_n(&c->r_connected, __ATOMIC_RELAXED) &&
				     __atomic_load_n(&c->w_connected,
						     __ATOMIC_RELAXED) ?
			     "true" :
			     "false",
		     lag_e, (double)lag_ms / 1000.0, backlog(c), err);
	return n < size ? n : 0;
}

size_t ipwd_cluster_status(void *ctx, char *buf, size_t size)
{
	struct ipwd_cluster *c = ctx;
	uint64_t now = now_ms();
	char node[IPWD_NODE_MAX * 2];
	size_t n = 0, i;

	json_text(node, sizeof(node), c->node);
	ipwd_appendf(buf, size, &n, "{\"node\":\"%s\",\"health\":", node);
	n += ipwd_cluster_health(c, buf + n, size > n ? size - n : 0);
	pthread_mutex_lock(&c->st_lock);
	ipwd_appendf(buf, size, &n,
		     ",\"stream\":{\"key\":\"%s\",\"length\":%" PRIu64
		     ",\"entries_added\":%" PRIu64
		     ",\"first_id\":\"%s\",\"last_id\":\"%s\","
		     "\"max_deleted_id\":\"%s\"},\"position\":\"%" PRIu64
		     "-%" PRIu64 "\",\"members\":[",
		     c->k_ops, c->stream_len, c->stream_added, c->stream_first,
		     c->stream_last, c->stream_deleted, c->st_pos_ms,
		     c->st_pos_seq);
	for (i = 0; i < c->nmembers; i++) {
		const struct member *m = &c->members[i];
		char mn[IPWD_NODE_MAX * 2], mm[16], mp[96];

		json_text(mn, sizeof(mn), m->node);
		json_text(mm, sizeof(mm), m->mode);
		json_text(mp, sizeof(mp), m->pos);
		ipwd_appendf(
			buf, size, &n,
			"%s{\"node\":\"%s\",\"mode\":\"%s\","
			"\"seen_seconds_ago\":%.3f,\"position\":\"%s\","
			"\"lag_ops\":%" PRIu64
			",\"lag_seconds\":%.3f,\"backlog\":%" PRIu64 "}",
			i ? "," : "", mn, mm,
			now > m->seen_ms ? (double)(now - m->seen_ms) / 1000.0 :
					   0.0,
			mp, m->lag_ops, (double)m->lag_ms / 1000.0, m->backlog);
	}
	pthread_mutex_unlock(&c->st_lock);
	ipwd_appendf(buf, size, &n, "]}");
	return n < size ? n : 0;
}
