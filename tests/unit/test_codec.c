// SPDX-License-Identifier: MIT
/*
 * Unit tests of the op record codec (src/daemon/oplog/codec.h):
 *
 *   - a golden record: the bytes of one ban, written out here, so the
 *     format cannot change by accident (other nodes read it)
 *   - every kind of op (each action with each result it can have, both
 *     families, prefixes, mode ops, strings at their longest, negative and
 *     huge numbers) encodes, decodes to the same record, and re-encodes to
 *     the same bytes
 *   - 20,000 random records do the same
 *   - each malformed input (one per rule: version, flags, action, result,
 *     entries against the result, id, overlong and oversized varints, a
 *     long or empty node, a NUL in a string, a list, a family, host bits,
 *     a mapped address, a score, an entry flag, a string past the end,
 *     every truncation, a byte too many) is refused with its reason and
 *     the offset it is about
 *   - the encoder refuses the records the decoder would refuse, and says
 *     when the buffer is too small
 *   - groups: encoded (the buffer grown as needed, records both under
 *     and over 127 bytes) and walked back, count and lengths checked
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <ipwall/addr.h>
#include <ipwall/errcode.h>

#include "oplog/codec.h"
#include "tap.h"

/* ---- building records ---- */

struct rec {
	struct ipwd_oprec r;
	char id[IPWD_OPID_LEN];
	struct ipw_entry_info before, after;
};

static void mkrec(struct rec *x, enum ipwd_action a, int change,
		  const char *target, const char *node, const char *actor)
{
	memset(x, 0, sizeof(*x));
	snprintf(x->id, sizeof(x->id), "0190f5e2-7c3a-7abc-8def-0123456789ab");
	x->r.id = x->id;
	x->r.seq = 42;
	x->r.time = 1764000000;
	x->r.node = node;
	x->r.actor = actor;
	x->r.action = a;
	x->r.change = change;
	if (a == IPWD_ACT_MODE) {
		x->r.mode = IPW_MODE_ALLOWLIST;
		x->r.mode_before = IPW_MODE_DENYLIST;
		return;
	}
	x->r.list = ipwd_action_list(a);
	if (ipw_addr_parse_str(target, 0, &x->r.target) != 0)
		abort();
	x->before.target = x->after.target = x->r.target;
	x->before.list = x->after.list = x->r.list;
	x->before.expires = 1764000600;
	x->before.created = 1763990000;
	x->before.score = 3;
	snprintf(x->before.reason, sizeof(x->before.reason), "before");
	snprintf(x->before.actor, sizeof(x->before.actor), "token:a");
	x->after = x->before;
	x->after.expires = 1764003600;
	x->after.score = 5;
	x->after.flags = IPW_ENTRY_AUTO;
	x->after.hits = 1234567;
	x->after.last_hit = 1764000001;
	snprintf(x->after.reason, sizeof(x->after.reason), "after: ssh");
	snprintf(x->after.source, sizeof(x->after.source), "sshd");
	switch (change) {
	case IPW_CHANGE_ADDED:
		x->r.after = &x->after;
		break;
	case IPW_CHANGE_EXTENDED:
	case IPW_CHANGE_UNCHANGED:
		x->r.before = &x->before;
		x->r.after = &x->after;
		break;
	case IPW_CHANGE_REMOVED:
		x->r.before = &x->before;
		break;
	}
}

static bool entry_eq(const struct ipw_entry_info *a,
		     const struct ipw_entry_info *b)
{
	if (a == NULL || b == NULL)
		return a == b;
	return memcmp(&a->target, &b->target, sizeof(a->target)) == 0 &&
	       a->list == b->list && a->expires == b->expires &&
	       a->created == b->created && a->score == b->score &&
	       a->flags == b->flags && a->hits == b->hits &&
	       a->last_hit == b->last_hit &&
	       strcmp(a->reason, b->reason) == 0 &&
	       strcmp(a->actor, b->actor) == 0 &&
	       strcmp(a->source, b->source) == 0;
}

static bool rec_eq(const struct ipwd_oprec *a, const struct ipwd_oprec *b)
{
	if (strcmp(a->id, b->id) != 0 || a->seq != b->seq ||
	    a->time != b->time || strcmp(a->node, b->node) != 0 ||
	    strcmp(a->actor ? a->actor : "", b->actor ? b->actor : "") != 0 ||
	    a->action != b->action || a->change != b->change)
		return false;
	if (a->action == IPWD_ACT_MODE)
		return a->mode == b->mode && a->mode_before == b->mode_before &&
		       !b->before && !b->after;
	return a->list == b->list &&
	       memcmp(&a->target, &b->target, sizeof(a->target)) == 0 &&
	       entry_eq(a->before, b->before) && entry_eq(a->after, b->after);
}

/* Encode, decode, compare, re-encode, compare bytes. */
static bool round_trip(const struct ipwd_oprec *r, const char *what)
{
	uint8_t b1[IPWD_CODEC_RECORD_MAX], b2[IPWD_CODEC_RECORD_MAX];
	struct ipwd_oprec_buf d;
	struct ipwd_codec_err e = {0};
	int n1, n2;

	n1 = ipwd_codec_encode(r, b1, sizeof(b1));
	if (n1 <= 0) {
		diag("%s: encode: %d", what, n1);
		return false;
	}
	if (ipwd_codec_decode(b1, (size_t)n1, &d, &e) != 0) {
		diag("%s: decode: %s at %zu", what, e.why, e.pos);
		return false;
	}
	if (!rec_eq(r, &d.r)) {
		diag("%s: decoded record differs", what);
		return false;
	}
	n2 = ipwd_codec_encode(&d.r, b2, sizeof(b2));
	if (n2 != n1 || memcmp(b1, b2, (size_t)n1) != 0) {
		diag("%s: re-encoded bytes differ", what);
		return false;
	}
	return true;
}

/* ---- the golden record ---- */

static void test_golden(void)
{
	/* ban 192.0.2.1 added, seq 42, time 1764000000, node "n1", actor
	 * "token:a", after: expires 1764003600, created 1763990000, score
	 * 5, auto, hits 1234567, last hit 1764000001, reason "after: ssh",
	 * actor "token:a", source "sshd" */
	static const uint8_t golden[] =
		{
			0x01, 0x02, 0x00, 0x01, /* v1, after, ban, added */
			0x01, 0x90, 0xf5, 0xe2, 0x7c,
			0x3a, 0x7a, 0xbc, /* id */
			0x8d, 0xef, 0x01, 0x23, 0x45,
			0x67, 0x89, 0xab, 0x2a,	      /* seq 42 */
			0x80, 0x84, 0xa4, 0x92, 0x0d, /* time (zigzag) */
			0x02, 'n',  '1',	      /* node */
			0x07, 't',  'o',  'k',	'e',
			'n',  ':',  'a', /* actor */
			0x00, 0x04, 0x20, 0xc0, 0x00,
			0x02, 0x01,		      /* bans, v4 /32 */
			0xa0, 0xbc, 0xa4, 0x92, 0x0d, /* expires */
			0xe0, 0xe7, 0xa2, 0x92, 0x0d, /* created */
			0x05, 0x01,		      /* score, flags */
			0x87, 0xad, 0x4b,	      /* hits */
			0x82, 0x84, 0xa4, 0x92, 0x0d, /* last hit */
			0x0a, 'a',  'f',  't',	'e',
			'r',  ':',  ' ',  's',	's',
			'h',  0x07, 't',  'o',	'k',
			'e',  'n',  ':',  'a',	     /* entry actor */
			0x04, 's',  's',  'h',	'd', /* source */
		};
	uint8_t b[IPWD_CODEC_RECORD_MAX];
	struct rec x;
	int n;

	mkrec(&x, IPWD_ACT_BAN, IPW_CHANGE_ADDED, "192.0.2.1", "n1", "token:a");
	n = ipwd_codec_encode(&x.r, b, sizeof(b));
	is_int(n, (int)sizeof(golden), "golden: the ban is %zu bytes",
	       sizeof(golden));
	ok(n == (int)sizeof(golden) && memcmp(b, golden, sizeof(golden)) == 0,
	   "golden: the bytes are the documented format");
	if (n > 0 && memcmp(b, golden, sizeof(golden)) != 0)
		for (int i = 0; i < n && i < (int)sizeof(golden); i++)
			if (b[i] != golden[i]) {
				diag("first difference at byte %d: 0x%02x, "
				     "expected 0x%02x",
				     i, b[i], golden[i]);
				break;
			}
}

/* ---- every kind of op ---- */

static void test_kinds(void)
{
	static const char *const targets[] = {
		"192.0.2.1",   "198.51.100.0/24", "0.0.0.0/0",
		"2001:db8::1", "2001:db8::/32",	  "::/0",
		"10.0.0.0/8",
	};
	char longreason[IPW_REASON_MAX], longnode[IPWD_NODE_MAX],
		longactor[IPWD_ACTOR_MAX];
	struct rec x;
	int a, c, k = 0;
	size_t t;

	for (a = 0; a < IPWD_ACT_COUNT; a++)
		for (c = IPW_CHANGE_ADDED; c <= IPW_CHANGE_MODE; c++) {
			bool all = true;

			if (!ipwd_result_valid((enum ipwd_action)a, c))
				continue;
			for (t = 0; t < sizeof(targets) / sizeof(targets[0]);
			     t++) {
				mkrec(&x, (enum ipwd_action)a, c, targets[t],
				      "node-1", "unix:root");
				all &= round_trip(&x.r, targets[t]);
			}
			ok(all, "%s %s round-trips (every target)",
			   ipwd_action_name((enum ipwd_action)a),
			   ipwd_result_name((enum ipwd_action)a, c));
			k++;
		}
	is_int(k, 14, "14 (action, result) pairs");

	/* the longest of everything, and extreme numbers */
	memset(longreason, 'r', sizeof(longreason) - 1);
	longreason[sizeof(longreason) - 1] = '\0';
	memset(longnode, 'n', sizeof(longnode) - 1);
	longnode[sizeof(longnode) - 1] = '\0';
	memset(longactor, 'a', sizeof(longactor) - 1);
	longactor[sizeof(longactor) - 1] = '\0';
	mkrec(&x, IPWD_ACT_BAN, IPW_CHANGE_EXTENDED, "2001:db8::/127", longnode,
	      longactor);
	memcpy(x.after.reason, longreason, sizeof(longreason));
	memset(x.after.actor, 'b', IPW_ACTOR_MAX - 1);
	memset(x.after.source, 'c', IPW_SOURCE_MAX - 1);
	x.after.score = UINT32_MAX;
	x.after.hits = UINT64_MAX;
	x.after.expires = INT64_MAX;
	x.after.created = INT64_MIN;
	x.after.last_hit = -1;
	x.r.seq = UINT64_MAX;
	x.r.time = INT64_MIN;
	ok(round_trip(&x.r, "longest"),
	   "strings at their longest, numbers at their extremes");
	{
		uint8_t b[IPWD_CODEC_RECORD_MAX];
		int n = ipwd_codec_encode(&x.r, b, sizeof(b));

		ok(n > 0 && n <= IPWD_CODEC_RECORD_MAX,
		   "the longest record fits IPWD_CODEC_RECORD_MAX (%d bytes)",
		   n);
	}
	mkrec(&x, IPWD_ACT_UNBAN, IPW_CHANGE_ABSENT, "192.0.2.9", "n", "");
	ok(round_trip(&x.r, "empty actor"), "an empty actor");
	mkrec(&x, IPWD_ACT_UNBAN, IPW_CHANGE_ABSENT, "192.0.2.9", "n", NULL);
	{
		uint8_t b[IPWD_CODEC_RECORD_MAX];
		struct ipwd_oprec_buf d;
		int n = ipwd_codec_encode(&x.r, b, sizeof(b));

		ok(n > 0 && ipwd_codec_decode(b, (size_t)n, &d, NULL) == 0 &&
			   strcmp(d.r.actor, "") == 0,
		   "a NULL actor is written as empty");
	}
}

/* ---- random records ---- */

static uint64_t rnd_s = 0x9e3779b97f4a7c15ull;

static uint64_t rnd(void)
{
	rnd_s ^= rnd_s << 13;
	rnd_s ^= rnd_s >> 7;
	rnd_s ^= rnd_s << 17;
	return rnd_s;
}

static void rnd_str(char *s, size_t max)
{
	size_t n = rnd() % (max + 1), i;

	for (i = 0; i < n; i++)
		s[i] = (char)(1 + rnd() % 255); /* any byte but NUL */
	s[n] = '\0';
}

static void rnd_entry(struct ipw_entry_info *e)
{
	e->expires = (int64_t)rnd();
	e->created = (int64_t)(rnd() >> (rnd() % 64));
	e->score = (uint32_t)rnd();
	e->flags = (unsigned)(rnd() & IPW_ENTRY_AUTO);
	e->hits = rnd() >> (rnd() % 64);
	e->last_hit = -(int64_t)(rnd() % 1000);
	rnd_str(e->reason, IPW_REASON_MAX - 1);
	rnd_str(e->actor, IPW_ACTOR_MAX - 1);
	rnd_str(e->source, IPW_SOURCE_MAX - 1);
}

static void test_random(void)
{
	static char node[IPWD_NODE_MAX], actor[IPWD_ACTOR_MAX];
	int bad = 0, i;

	for (i = 0; i < 20000; i++) {
		struct rec x;
		uint8_t id[16];
		int a, c;

		do {
			a = (int)(rnd() % IPWD_ACT_COUNT);
			c = (int)(1 + rnd() % 6);
		} while (!ipwd_result_valid((enum ipwd_action)a, c));
		mkrec(&x, (enum ipwd_action)a, c, "192.0.2.1", node, actor);
		for (int j = 0; j < 16; j++)
			id[j] = (uint8_t)rnd();
		id[6] = (uint8_t)(0x70 | (id[6] & 15));
		id[8] = (uint8_t)(0x80 | (id[8] & 0x3f));
		ipwd_opid_format(id, x.id);
		do
			rnd_str(node, IPWD_NODE_MAX - 1);
		while (node[0] == '\0');
		rnd_str(actor, IPWD_ACTOR_MAX - 1);
		x.r.seq = rnd() >> (rnd() % 64);
		x.r.time = (int64_t)rnd();
		if (a != IPWD_ACT_MODE) {
			if (a == IPWD_ACT_EXPIRE || a == IPWD_ACT_EVICT)
				x.r.list = (enum ipw_list)(rnd() & 1);
			if (rnd() & 1) {
				uint8_t b[16];

				for (int j = 0; j < 16; j++)
					b[j] = (uint8_t)rnd();
				b[0] |= 0x20; /* never an IPv4-mapped one */
				ipw_addr_from_v6(&x.r.target, b,
						 (unsigned)(rnd() % 129));
			} else {
				ipw_addr_from_v4(&x.r.target, (uint32_t)rnd(),
						 (unsigned)(rnd() % 33));
			}
			x.before.target = x.after.target = x.r.target;
			x.before.list = x.after.list = x.r.list;
			rnd_entry(&x.before);
			rnd_entry(&x.after);
		} else {
			x.r.mode = (enum ipw_mode)(rnd() & 1);
			x.r.mode_before = (enum ipw_mode)(rnd() & 1);
		}
		if (!round_trip(&x.r, "random"))
			bad++;
	}
	is_int(bad, 0, "20,000 random records round-trip exactly");
}

/* ---- malformed input ---- */

static void test_malformed(void)
{
	uint8_t good[IPWD_CODEC_RECORD_MAX], b[IPWD_CODEC_RECORD_MAX + 16];
	struct ipwd_codec_err e;
	struct ipwd_oprec_buf d;
	struct rec x;
	int n;
	size_t i;
	/* offsets in the ban record of mkrec() with node "n1", actor
	 * "token:a": 0 version, 1 flags, 2 action, 3 result, 4..19 id,
	 * 20 seq, 21..25 time, 26..28 node, 29..36 actor, 37 list,
	 * 38 family, 39 plen, 40..43 address, 44.. entry */
	static const struct {
		size_t at;
		uint8_t byte;
		const char *why;
		size_t pos;
	} one[] = {
		{0, 2, "a record version this ipwalld does not know", 0},
		{1, 6, "a flag this version does not know", 1},
		{1, 3, "the entries present do not match the result", 1},
		{1, 0, "the entries present do not match the result", 1},
		{2, 7, "an unknown action", 2},
		{3, 4, "a result this action cannot have", 3},
		{3, 0, "a result this action cannot have", 3},
		{10, 0x0a, "an op id that is not a UUIDv7", 4},
		{12, 0x0d, "an op id that is not a UUIDv7", 4},
		{26, 0x00, "an empty node name", 26},
		{26, 0x40, "a node name longer than 63 bytes", 26},
		{30, 0x00, "a NUL byte inside a string", 30},
		{37, 1, "a list this action does not act on", 37},
		{38, 5, "an address family other than 4 or 6", 38},
		{39, 33,
		 "a target not in canonical form (prefix length, host "
		 "bits or a mapped address)",
		 38},
		{39, 24,
		 "a target not in canonical form (prefix length, host "
		 "bits or a mapped address)",
		 38},
	};

	mkrec(&x, IPWD_ACT_BAN, IPW_CHANGE_ADDED, "192.0.2.1", "n1", "token:a");
	n = ipwd_codec_encode(&x.r, good, sizeof(good));
	if (n <= 0)
		abort();
	for (i = 0; i < sizeof(one) / sizeof(one[0]); i++) {
		memcpy(b, good, (size_t)n);
		b[one[i].at] = one[i].byte;
		memset(&e, 0, sizeof(e));
		ok(ipwd_codec_decode(b, (size_t)n, &d, &e) == -1 && e.why &&
			   strcmp(e.why, one[i].why) == 0 &&
			   e.pos == one[i].pos,
		   "byte %zu = 0x%02x: \"%s\" at %zu (got \"%s\" at %zu)",
		   one[i].at, one[i].byte, one[i].why, one[i].pos,
		   e.why ? e.why : "(accepted)", e.pos);
	}

	/* every truncation is refused */
	{
		size_t bad = 0;

		for (i = 0; i < (size_t)n; i++)
			if (ipwd_codec_decode(good, i, &d, &e) != -1)
				bad++;
		is_int(bad, 0, "each of the %d truncations is refused", n);
	}
	/* a byte too many */
	memcpy(b, good, (size_t)n);
	b[n] = 0;
	ok(ipwd_codec_decode(b, (size_t)n + 1, &d, &e) == -1 &&
		   strcmp(e.why, "bytes after the end of the record") == 0 &&
		   e.pos == (size_t)n,
	   "a byte after the record is refused at its offset");

	/* varints: overlong (seq 42 as 0xaa 0x00), beyond 64 bits */
	{
		uint8_t v[IPWD_CODEC_RECORD_MAX + 16];

		memcpy(v, good, 20);
		v[20] = 0xaa;
		v[21] = 0x00;
		memcpy(v + 22, good + 21, (size_t)n - 21);
		ok(ipwd_codec_decode(v, (size_t)n + 1, &d, &e) == -1 &&
			   strcmp(e.why, "a varint longer than it needs to "
					 "be") == 0 &&
			   e.pos == 20,
		   "an overlong varint is refused (got \"%s\")", e.why);
		memcpy(v, good, 20);
		memset(v + 20, 0xff, 9);
		v[29] = 0x02;
		memcpy(v + 30, good + 21, (size_t)n - 21);
		ok(ipwd_codec_decode(v, (size_t)n + 9, &d, &e) == -1 &&
			   strcmp(e.why, "a varint beyond 64 bits") == 0,
		   "a varint beyond 64 bits is refused (got \"%s\")", e.why);
	}
	/* a mapped IPv6 address written as IPv6 */
	{
		struct rec m;
		uint8_t v[IPWD_CODEC_RECORD_MAX];
		int k;

		mkrec(&m, IPWD_ACT_BAN, IPW_CHANGE_ADDED, "2001:db8::1", "n1",
		      "token:a");
		k = ipwd_codec_encode(&m.r, v, sizeof(v));
		memset(v + 40, 0, 10);
		v[50] = 0xff;
		v[51] = 0xff;
		ok(k > 0 && ipwd_codec_decode(v, (size_t)k, &d, &e) == -1 &&
			   e.pos == 38,
		   "an IPv4-mapped IPv6 target is refused (the parser folds "
		   "it to IPv4)");
	}
	/* the entry: score beyond 32 bits, unknown flag */
	{
		uint8_t v[IPWD_CODEC_RECORD_MAX + 16];
		size_t at = 44 + 5 + 5; /* expires, created: 5 bytes each */

		memcpy(v, good, at);
		v[at] = 0x80; /* 2^32 as a varint: 80 80 80 80 10 */
		v[at + 1] = 0x80;
		v[at + 2] = 0x80;
		v[at + 3] = 0x80;
		v[at + 4] = 0x10;
		memcpy(v + at + 5, good + at + 1, (size_t)n - at - 1);
		ok(ipwd_codec_decode(v, (size_t)n + 4, &d, &e) == -1 &&
			   strcmp(e.why, "a score beyond 4294967295") == 0,
		   "a score beyond 32 bits is refused");
		memcpy(v, good, (size_t)n);
		v[at + 1] = 0x02;
		ok(ipwd_codec_decode(v, (size_t)n, &d, &e) == -1 &&
			   strcmp(e.why, "an entry flag this version does not "
					 "know") == 0,
		   "an unknown entry flag is refused");
		memcpy(v, good, (size_t)n);
		v[at + 2 + 3 + 5] = 0x7f; /* the reason's length */
		ok(ipwd_codec_decode(v, (size_t)n, &d, &e) == -1 &&
			   strcmp(e.why, "a string runs past the end of the "
					 "record") == 0,
		   "a string longer than what is left is refused");
	}
	ok(ipwd_codec_decode(good, (size_t)n, &d, NULL) == 0,
	   "the good record still decodes (and @err may be NULL)");
}

/* ---- the encoder's refusals ---- */

static void test_encode_refusals(void)
{
	uint8_t b[IPWD_CODEC_RECORD_MAX];
	struct rec x;
	char longnode[IPWD_NODE_MAX + 1];

	mkrec(&x, IPWD_ACT_BAN, IPW_CHANGE_REMOVED, "192.0.2.1", "n", "a");
	is_int(ipwd_codec_encode(&x.r, b, sizeof(b)), IPW_EINVAL,
	       "a ban cannot be \"removed\"");
	mkrec(&x, IPWD_ACT_BAN, IPW_CHANGE_ADDED, "192.0.2.1", "n", "a");
	x.r.before = &x.before;
	is_int(ipwd_codec_encode(&x.r, b, sizeof(b)), IPW_EINVAL,
	       "an added entry has no entry before it");
	mkrec(&x, IPWD_ACT_BAN, IPW_CHANGE_ADDED, "192.0.2.1", "", "a");
	is_int(ipwd_codec_encode(&x.r, b, sizeof(b)), IPW_EINVAL,
	       "an empty node is refused");
	memset(longnode, 'n', IPWD_NODE_MAX);
	longnode[IPWD_NODE_MAX] = '\0';
	mkrec(&x, IPWD_ACT_BAN, IPW_CHANGE_ADDED, "192.0.2.1", longnode, "a");
	is_int(ipwd_codec_encode(&x.r, b, sizeof(b)), IPW_EINVAL,
	       "a node of 64 bytes is refused");
	mkrec(&x, IPWD_ACT_BAN, IPW_CHANGE_ADDED, "192.0.2.1", "n", "a");
	x.id[14] = '4'; /* version 4, not 7 */
	is_int(ipwd_codec_encode(&x.r, b, sizeof(b)), IPW_EINVAL,
	       "an id that is not a UUIDv7 is refused");
	mkrec(&x, IPWD_ACT_ALLOW, IPW_CHANGE_ADDED, "192.0.2.1", "n", "a");
	x.r.list = IPW_LIST_BAN;
	is_int(ipwd_codec_encode(&x.r, b, sizeof(b)), IPW_EINVAL,
	       "an allow on the bans list is refused");
	mkrec(&x, IPWD_ACT_BAN, IPW_CHANGE_ADDED, "192.0.2.1", "n", "a");
	x.r.target.bytes[3] = 0xff;
	x.r.target.plen = 24;
	is_int(ipwd_codec_encode(&x.r, b, sizeof(b)), IPW_EINVAL,
	       "a target with host bits is refused");
	mkrec(&x, IPWD_ACT_BAN, IPW_CHANGE_ADDED, "192.0.2.1", "n", "a");
	x.after.flags = 8;
	is_int(ipwd_codec_encode(&x.r, b, sizeof(b)), IPW_EINVAL,
	       "an unknown entry flag is refused");
	mkrec(&x, IPWD_ACT_BAN, IPW_CHANGE_ADDED, "192.0.2.1", "n", "a");
	is_int(ipwd_codec_encode(&x.r, b, 20), IPW_EBUFSIZE,
	       "a buffer too small: IPW_EBUFSIZE");
}

/* ---- groups ---- */

static void test_group(void)
{
	struct rec x[5];
	struct ipwd_oprec flat[5];
	struct ipwd_oprec_buf d;
	struct ipwd_codec_err e;
	uint64_t count = 0, seen = 0;
	size_t cap = 0, pos = 0;
	uint8_t *buf = NULL;
	int64_t n;
	int rc, i = 0, bad = 0;

	mkrec(&x[0], IPWD_ACT_BAN, IPW_CHANGE_ADDED, "192.0.2.1", "n", "a");
	mkrec(&x[1], IPWD_ACT_UNBAN, IPW_CHANGE_REMOVED, "192.0.2.1", "n", "a");
	mkrec(&x[2], IPWD_ACT_MODE, IPW_CHANGE_MODE, NULL, "n", "a");
	mkrec(&x[3], IPWD_ACT_EXPIRE, IPW_CHANGE_REMOVED, "2001:db8::/48", "n",
	      "purger");
	mkrec(&x[4], IPWD_ACT_ALLOW, IPW_CHANGE_UNCHANGED, "10.0.0.0/8", "m",
	      "b");
	memset(x[4].after.reason, 'x', 200); /* a record over 127 bytes */
	x[4].after.reason[200] = '\0';
	for (i = 0; i < 5; i++)
		flat[i] = x[i].r;
	n = ipwd_codec_group_encode(flat, 5, &buf, &cap);
	ok(n > 0, "a group of 5 encodes (%lld bytes)", (long long)n);
	i = 0;
	while ((rc = ipwd_codec_group_next(buf, (size_t)n, &pos, &count, &seen,
					   &d, &e)) == 1) {
		if (i >= 5 || !rec_eq(&flat[i], &d.r))
			bad++;
		i++;
	}
	ok(rc == 0 && i == 5 && bad == 0 && count == 5,
	   "it walks back to the same 5 records");
	pos = 0;
	while ((rc = ipwd_codec_group_next(buf, (size_t)n - 1, &pos, &count,
					   &seen, &d, &e)) == 1)
		;
	is_int(rc, -1, "a group cut short is refused");
	buf[0] = 6; /* says 6 records */
	pos = 0;
	while ((rc = ipwd_codec_group_next(buf, (size_t)n, &pos, &count, &seen,
					   &d, &e)) == 1)
		;
	is_int(rc, -1, "a count above the records there is refused");
	buf[0] = 4;
	pos = 0;
	while ((rc = ipwd_codec_group_next(buf, (size_t)n, &pos, &count, &seen,
					   &d, &e)) == 1)
		;
	ok(rc == -1 && strcmp(e.why, "bytes after the last record of a "
				     "group") == 0,
	   "a count below the records there is refused");
	flat[2].change = IPW_CHANGE_ADDED; /* a mode op cannot be "added" */
	is_int(ipwd_codec_group_encode(flat, 5, &buf, &cap), IPW_EINVAL,
	       "a group with a record the codec refuses: IPW_EINVAL");
	free(buf);
}

int main(void)
{
	test_golden();
	test_kinds();
	test_random();
	test_malformed();
	test_encode_refusals();
	test_group();
	return done_testing();
}
