/* SPDX-License-Identifier: MIT */
/*
 * The op record codec (see codec.h for the format).
 *
 * One set of rules, checked on both sides: the encoder refuses what the
 * decoder would refuse, so nothing this node writes is unreadable to
 * another. Canonical form is what makes round trips exact: varints of
 * minimal length, no flag bit without a meaning, an address with its host
 * bits clear and an IPv4-mapped IPv6 address written as IPv4 (as the
 * parser folds it), entries present exactly when the result says there is
 * an entry before or after the op.
 *
 * Cost: a ban with a short reason is about 60 bytes; encoding and
 * decoding are a few hundred nanoseconds, far below the table write.
 */
#include <stdlib.h>
#include <string.h>

#include <ipwall/addr.h>
#include <ipwall/errcode.h>

#include "oplog/codec.h"

#define F_BEFORE 1u
#define F_AFTER	 2u

/* Which entries an op with result @change has: F_BEFORE and/or F_AFTER. */
static unsigned entries_of(enum ipwd_action a, int change)
{
	if (a == IPWD_ACT_MODE)
		return 0;
	switch (change) {
	case IPW_CHANGE_ADDED:
		return F_AFTER;
	case IPW_CHANGE_EXTENDED:
	case IPW_CHANGE_UNCHANGED:
		return F_BEFORE | F_AFTER;
	case IPW_CHANGE_REMOVED:
		return F_BEFORE;
	default:
		return 0;
	}
}

/* Is @l the list action @a may act on? (Expiries and evictions remove
 * entries of either list.) */
static bool list_ok(enum ipwd_action a, int l)
{
	if (l != IPW_LIST_BAN && l != IPW_LIST_ALLOW)
		return false;
	if (a == IPWD_ACT_EXPIRE || a == IPWD_ACT_EVICT)
		return true;
	return (enum ipw_list)l == ipwd_action_list(a);
}

static bool uuid7(const uint8_t id[16])
{
	return (id[6] >> 4) == 7 && (id[8] >> 6) == 2;
}

/* ---- writing ---- */

struct out {
	uint8_t *p;
	size_t n, size;
	bool full;
};

static void put_u8(struct out *o, uint8_t v)
{
	if (o->n < o->size)
		o->p[o->n] = v;
	else
		o->full = true;
	o->n++;
}

static void put_bytes(struct out *o, const void *b, size_t n)
{
	if (o->n + n > o->size)
		o->full = true;
	else if (n)
		memcpy(o->p + o->n, b, n);
	o->n += n;
}

static void put_uv(struct out *o, uint64_t v)
{
	while (v >= 0x80) {
		put_u8(o, (uint8_t)(v | 0x80));
		v >>= 7;
	}
	put_u8(o, (uint8_t)v);
}

static void put_sv(struct out *o, int64_t v)
{
	put_uv(o, ((uint64_t)v << 1) ^ (v < 0 ? UINT64_MAX : 0));
}

/* A string of at most @max bytes without a NUL (a C string cannot hold
 * one; the check is its length). */
static int put_str(struct out *o, const char *s, size_t max)
{
	size_t n = s ? strnlen(s, max + 1) : 0;

	if (n > max)
		return -1;
	put_uv(o, n);
	put_bytes(o, s, n);
	return 0;
}

static int put_entry(struct out *o, const struct ipw_entry_info *e)
{
	if (e->flags & ~(unsigned)IPW_ENTRY_AUTO)
		return -1;
	put_sv(o, e->expires);
	put_sv(o, e->created);
	put_uv(o, e->score);
	put_uv(o, e->flags);
	put_uv(o, e->hits);
	put_sv(o, e->last_hit);
	if (put_str(o, e->reason, IPW_REASON_MAX - 1) ||
	    put_str(o, e->actor, IPW_ACTOR_MAX - 1) ||
	    put_str(o, e->source, IPW_SOURCE_MAX - 1))
		return -1;
	return 0;
}

/* Is @a in canonical form (what the parser would have made of it)? */
static bool target_ok(const struct ipw_addr *a)
{
	struct ipw_addr c;
	int rc;

	if (a->family == IPW_AF_INET)
		rc = ipw_addr_from_v4(&c,
				      (uint32_t)a->bytes[0] << 24 |
					      (uint32_t)a->bytes[1] << 16 |
					      (uint32_t)a->bytes[2] << 8 |
					      a->bytes[3],
				      a->plen);
	else if (a->family == IPW_AF_INET6)
		rc = ipw_addr_from_v6(&c, a->bytes, a->plen);
	else
		return false;
	return rc == 0 && memcmp(&c, a, sizeof(c)) == 0;
}

int ipwd_codec_encode(const struct ipwd_oprec *r, uint8_t *buf, size_t size)
{
	struct out o = {.p = buf, .size = size};
	unsigned want, flags;
	uint8_t id[16];

	if ((unsigned)r->action >= IPWD_ACT_COUNT ||
	    !ipwd_result_valid(r->action, r->change) || r->id == NULL ||
	    ipwd_opid_parse(r->id, strlen(r->id), id) != 0 || !uuid7(id) ||
	    r->node == NULL || *r->node == '\0')
		return IPW_EINVAL;
	want = entries_of(r->action, r->change);
	flags = (r->before ? F_BEFORE : 0) | (r->after ? F_AFTER : 0);
	if (flags != want)
		return IPW_EINVAL;
	put_u8(&o, IPWD_CODEC_VERSION);
	put_u8(&o, (uint8_t)flags);
	put_u8(&o, (uint8_t)r->action);
	put_u8(&o, (uint8_t)r->change);
	put_bytes(&o, id, 16);
	put_uv(&o, r->seq);
	put_sv(&o, r->time);
	if (put_str(&o, r->node, IPWD_NODE_MAX - 1) ||
	    put_str(&o, r->actor, IPWD_ACTOR_MAX - 1))
		return IPW_EINVAL;
	if (r->action == IPWD_ACT_MODE) {
		if ((unsigned)r->mode > IPW_MODE_ALLOWLIST ||
		    (unsigned)r->mode_before > IPW_MODE_ALLOWLIST)
			return IPW_EINVAL;
		put_u8(&o, (uint8_t)r->mode);
		put_u8(&o, (uint8_t)r->mode_before);
	} else {
		if (!list_ok(r->action, (int)r->list) || !target_ok(&r->target))
			return IPW_EINVAL;
		put_u8(&o, (uint8_t)r->list);
		put_u8(&o, r->target.family);
		put_u8(&o, r->target.plen);
		put_bytes(&o, r->target.bytes,
			  r->target.family == IPW_AF_INET ? 4 : 16);
	}
	if (r->before && put_entry(&o, r->before))
		return IPW_EINVAL;
	if (r->after && put_entry(&o, r->after))
		return IPW_EINVAL;
	if (o.full)
		return IPW_EBUFSIZE;
	return (int)o.n;
}

/* Make room for @more bytes after @len in *@buf. */
static int grow(uint8_t **buf, size_t *cap, size_t len, size_t more)
{
	size_t c = *cap ? *cap : 4096;
	uint8_t *b;

	if (len + more <= *cap)
		return 0;
	while (c < len + more)
		c *= 2;
	b = realloc(*buf, c);
	if (b == NULL)
		return IPW_ENOMEM;
	*buf = b;
	*cap = c;
	return 0;
}

int64_t ipwd_codec_group_encode(const struct ipwd_oprec *recs, size_t n,
				uint8_t **buf, size_t *cap)
{
	uint8_t hdr[10] = {0};
	struct out h = {.p = hdr, .size = sizeof(hdr)};
	size_t len, i;
	int rc;

	put_uv(&h, n);
	rc = grow(buf, cap, 0, h.n + n * 64);
	if (rc)
		return rc;
	memcpy(*buf, hdr, h.n);
	len = h.n;
	for (i = 0; i < n; i++) {
		int k;

		/* the record after room for its length (2 bytes: it is
		 * under 16384), the length put in front once known */
		rc = grow(buf, cap, len, 2 + IPWD_CODEC_RECORD_MAX);
		if (rc)
			return rc;
		k = ipwd_codec_encode(&recs[i], *buf + len + 2,
				      IPWD_CODEC_RECORD_MAX);
		if (k < 0)
			return k;
		if (k < 128) {
			(*buf)[len] = (uint8_t)k;
			memmove(*buf + len + 1, *buf + len + 2, (size_t)k);
			len += 1 + (size_t)k;
		} else {
			(*buf)[len] = (uint8_t)(k | 0x80);
			(*buf)[len + 1] = (uint8_t)(k >> 7);
			len += 2 + (size_t)k;
		}
	}
	return (int64_t)len;
}

/* ---- reading ---- */

struct in {
	const uint8_t *p;
	size_t n, pos;
	struct ipwd_codec_err *err;
};

static int fail(struct in *i, const char *why)
{
	if (i->err) {
		i->err->why = why;
		i->err->pos = i->pos;
	}
	return -1;
}

static int get_u8(struct in *i, uint8_t *v)
{
	if (i->pos >= i->n)
		return fail(i, "the record ends early");
	*v = i->p[i->pos++];
	return 0;
}

/* A varint of minimal length, at most 10 bytes, no more than 64 bits. */
static int get_uv(struct in *i, uint64_t *v)
{
	size_t start = i->pos;
	uint64_t x = 0;
	unsigned shift = 0;
	uint8_t b = 0;

	for (;;) {
		if (get_u8(i, &b))
			return -1;
		if (shift == 63 && b > 1) {
			i->pos = start;
			return fail(i, "a varint beyond 64 bits");
		}
		x |= (uint64_t)(b & 0x7f) << shift;
		if (!(b & 0x80))
			break;
		shift += 7;
	}
	if (b == 0 && i->pos - start > 1) {
		i->pos = start;
		return fail(i, "a varint longer than it needs to be");
	}
	*v = x;
	return 0;
}

static int get_sv(struct in *i, int64_t *v)
{
	uint64_t u;

	if (get_uv(i, &u))
		return -1;
	*v = (int64_t)(u >> 1) ^ -(int64_t)(u & 1);
	return 0;
}

/* A string of at most @max bytes, no NUL, into @dst (NUL-terminated). */
static int get_str(struct in *i, char *dst, size_t max, const char *what)
{
	uint64_t n;
	size_t start = i->pos;

	if (get_uv(i, &n))
		return -1;
	if (n > max) {
		i->pos = start;
		return fail(i, what);
	}
	if (n > i->n - i->pos)
		return fail(i, "a string runs past the end of the record");
	if (memchr(i->p + i->pos, '\0', (size_t)n)) {
		i->pos += (size_t)((const uint8_t *)memchr(i->p + i->pos, '\0',
							   (size_t)n) -
				   (i->p + i->pos));
		return fail(i, "a NUL byte inside a string");
	}
	memcpy(dst, i->p + i->pos, (size_t)n);
	dst[n] = '\0';
	i->pos += (size_t)n;
	return 0;
}

static int get_entry(struct in *i, struct ipw_entry_info *e)
{
	uint64_t score, flags, hits;

	if (get_sv(i, &e->expires) || get_sv(i, &e->created) ||
	    get_uv(i, &score))
		return -1;
	if (score > UINT32_MAX)
		return fail(i, "a score beyond 4294967295");
	if (get_uv(i, &flags))
		return -1;
	if (flags & ~(uint64_t)IPW_ENTRY_AUTO)
		return fail(i, "an entry flag this version does not know");
	if (get_uv(i, &hits) || get_sv(i, &e->last_hit) ||
	    get_str(i, e->reason, IPW_REASON_MAX - 1,
		    "a reason longer than 255 bytes") ||
	    get_str(i, e->actor, IPW_ACTOR_MAX - 1,
		    "an entry actor longer than 63 bytes") ||
	    get_str(i, e->source, IPW_SOURCE_MAX - 1,
		    "a source longer than 63 bytes"))
		return -1;
	e->score = (uint32_t)score;
	e->flags = (unsigned)flags;
	e->hits = hits;
	return 0;
}

void ipwd_oprec_buf_rebase(struct ipwd_oprec_buf *b)
{
	b->r.id = b->id;
	b->r.node = b->node;
	b->r.actor = b->actor;
	if (b->r.before)
		b->r.before = &b->before;
	if (b->r.after)
		b->r.after = &b->after;
}

int ipwd_codec_decode(const uint8_t *p, size_t len, struct ipwd_oprec_buf *out,
		      struct ipwd_codec_err *err)
{
	struct in i = {.p = p, .n = len, .err = err};
	struct ipwd_oprec *r = &out->r;
	uint8_t v, flags, action, result, list, fam, plen, id[16];
	size_t at;

	memset(out, 0, sizeof(*out));
	if (get_u8(&i, &v))
		return -1;
	if (v != IPWD_CODEC_VERSION) {
		i.pos--;
		return fail(&i, "a record version this ipwalld does not know");
	}
	if (get_u8(&i, &flags))
		return -1;
	if (flags & ~(F_BEFORE | F_AFTER)) {
		i.pos--;
		return fail(&i, "a flag this version does not know");
	}
	if (get_u8(&i, &action))
		return -1;
	if (action >= IPWD_ACT_COUNT) {
		i.pos--;
		return fail(&i, "an unknown action");
	}
	if (get_u8(&i, &result))
		return -1;
	if (!ipwd_result_valid((enum ipwd_action)action, result)) {
		i.pos--;
		return fail(&i, "a result this action cannot have");
	}
	if (entries_of((enum ipwd_action)action, result) != flags) {
		i.pos = 1;
		return fail(&i, "the entries present do not match the result");
	}
	at = i.pos;
	if (len - i.pos < 16) {
		i.pos = len;
		return fail(&i, "the record ends early");
	}
	memcpy(id, p + i.pos, 16);
	i.pos += 16;
	if (!uuid7(id)) {
		i.pos = at;
		return fail(&i, "an op id that is not a UUIDv7");
	}
	ipwd_opid_format(id, out->id);
	if (get_uv(&i, &r->seq) || get_sv(&i, &r->time))
		return -1;
	at = i.pos;
	if (get_str(&i, out->node, IPWD_NODE_MAX - 1,
		    "a node name longer than 63 bytes"))
		return -1;
	if (out->node[0] == '\0') {
		i.pos = at;
		return fail(&i, "an empty node name");
	}
	if (get_str(&i, out->actor, IPWD_ACTOR_MAX - 1,
		    "an actor longer than 95 bytes"))
		return -1;
	r->id = out->id;
	r->node = out->node;
	r->actor = out->actor;
	r->action = (enum ipwd_action)action;
	r->change = result;
	if (action == IPWD_ACT_MODE) {
		uint8_t m, mb;

		if (get_u8(&i, &m) || get_u8(&i, &mb))
			return -1;
		if (m > IPW_MODE_ALLOWLIST || mb > IPW_MODE_ALLOWLIST) {
			i.pos -= 2;
			return fail(&i, "an unknown mode");
		}
		r->mode = (enum ipw_mode)m;
		r->mode_before = (enum ipw_mode)mb;
	} else {
		size_t n;

		if (get_u8(&i, &list))
			return -1;
		if (!list_ok((enum ipwd_action)action, list)) {
			i.pos--;
			return fail(&i, "a list this action does not act on");
		}
		at = i.pos;
		if (get_u8(&i, &fam) || get_u8(&i, &plen))
			return -1;
		if (fam != IPW_AF_INET && fam != IPW_AF_INET6) {
			i.pos = at;
			return fail(&i, "an address family other than 4 or 6");
		}
		n = fam == IPW_AF_INET ? 4 : 16;
		if (len - i.pos < n) {
			i.pos = len;
			return fail(&i, "the record ends early");
		}
		r->target.family = fam;
		r->target.plen = plen;
		memcpy(r->target.bytes, p + i.pos, n);
		if (!target_ok(&r->target)) {
			i.pos = at;
			return fail(&i,
				    "a target not in canonical form (prefix "
				    "length, host bits or a mapped address)");
		}
		i.pos += n;
		r->list = (enum ipw_list)list;
	}
	if (flags & F_BEFORE) {
		if (get_entry(&i, &out->before))
			return -1;
		out->before.target = r->target;
		out->before.list = r->list;
		r->before = &out->before;
	}
	if (flags & F_AFTER) {
		if (get_entry(&i, &out->after))
			return -1;
		out->after.target = r->target;
		out->after.list = r->list;
		r->after = &out->after;
	}
	if (i.pos != len)
		return fail(&i, "bytes after the end of the record");
	return 0;
}

int ipwd_codec_group_next(const uint8_t *p, size_t len, size_t *pos,
			  uint64_t *count, uint64_t *seen,
			  struct ipwd_oprec_buf *out,
			  struct ipwd_codec_err *err)
{
	struct in i = {.p = p, .n = len, .pos = *pos, .err = err};
	uint64_t n;

	if (*pos == 0) {
		if (get_uv(&i, count))
			return -1;
		*seen = 0;
	}
	if (*seen == *count) {
		if (i.pos != len)
			return fail(&i,
				    "bytes after the last record of a group");
		*pos = i.pos;
		return 0;
	}
	if (get_uv(&i, &n))
		return -1;
	if (n > len - i.pos)
		return fail(&i, "a record runs past the end of the group");
	if (ipwd_codec_decode(p + i.pos, (size_t)n, out, err) != 0) {
		if (err)
			err->pos += i.pos;
		return -1;
	}
	i.pos += (size_t)n;
	*pos = i.pos;
	(*seen)++;
	return 1;
}
