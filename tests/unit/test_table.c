// SPDX-License-Identifier: MIT
/*
 * Unit tests of the ban table, written against include/ipwall/table.h only.
 *
 * Most rules are checked by scenarios: a table of steps (add, del, mode,
 * move the clock, check, get, purge), each with the result a reader of the
 * header expects, written out by hand. Every step is one TAP line, so a
 * failure names the scenario, the step and the input. A step expected to
 * fail also checks that the table did not change (a sorted copy of its
 * snapshot, taken before and after). Rules that do not fit a step list
 * (purge batches, the entry cap and eviction, metadata limits, hit counters,
 * snapshots, statistics, argument errors) have a function each.
 * ipw_table_put() has a table of cases of its own (one put each, after an
 * optional setup, with its result, its read-back and a check), then a
 * function per rule: expiry, eviction, prefixes and statistics against a
 * table built by add, metadata, and put_batch against put one by one.
 *
 * Time is a fake clock (opts.clock): scenarios start at T0 + 100 and move it
 * with TICK steps. Expiry values in the tables are offsets from T0 (0 is
 * permanent), so "expires 100" at the start of a scenario is "now".
 */
#include <inttypes.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <ipwall/addr.h>
#include <ipwall/table.h>

#include "../../src/lib/hash.h"
#include "tap.h"

#define T0	 INT64_C(1700000000)
#define NELEM(a) (sizeof(a) / sizeof((a)[0]))

static int64_t now_s;

static int64_t fake_clock(void *ctx)
{
	(void)ctx;
	return now_s;
}

static void bail(const char *what)
{
	printf("Bail out! %s\n", what);
	fflush(stdout);
	exit(2);
}

static struct ipw_addr addr(const char *s)
{
	struct ipw_addr a;
	int rc = ipw_addr_parse_str(s, 0, &a);

	if (rc) {
		printf("# cannot parse \"%s\": %s\n", s, ipw_errname(rc));
		bail("test bug: bad address literal");
	}
	return a;
}

/* Text of an address, from a small ring of buffers (for messages). */
static const char *fmt(const struct ipw_addr *a)
{
	static char bufs[8][IPW_ADDR_STRLEN + 32];
	static unsigned n;
	char *b = bufs[n++ % 8];

	if (ipw_addr_format(a, b, IPW_ADDR_STRLEN) < 0)
		snprintf(b, sizeof(bufs[0]), "(invalid family=%u plen=%u)",
			 a->family, a->plen);
	return b;
}

static const char *change_str(int c)
{
	static const char *const names[] = {
		"0?",	   "ADDED",  "EXTENDED", "UNCHANGED",
		"REMOVED", "ABSENT", "MODE",
	};

	return c >= 0 && c < (int)NELEM(names) ? names[c] : "?";
}

static const char *reason_str(int r)
{
	static const char *const names[] = {
		"NO_MATCH",
		"BANNED",
		"ALLOWED",
		"NOT_ALLOWED",
	};

	return r >= 0 && r < (int)NELEM(names) ? names[r] : "?";
}

static const char *list_str(int l)
{
	return l == IPW_LIST_BAN ? "ban" : l == IPW_LIST_ALLOW ? "allow" : "?";
}

/* An expiry offset from T0 as text: "permanent" or "T0+n". */
static const char *when_str(int64_t offset)
{
	static char bufs[4][32];
	static unsigned n;
	char *b = bufs[n++ % 4];

	if (offset == 0)
		return "permanent";
	snprintf(b, sizeof(bufs[0]), "T0%+lld", (long long)offset);
	return b;
}

static struct ipw_table *new_table(uint32_t max_entries)
{
	struct ipw_table_opts o;
	struct ipw_table *t = NULL;
	int rc;

	memset(&o, 0, sizeof(o));
	o.max_entries = max_entries;
	o.clock = fake_clock;
	o.hash_key[0] = UINT64_C(0x0123456789abcdef);
	o.hash_key[1] = UINT64_C(0xfedcba9876543210);
	o.hit_sample = 1; /* exact hit counts */
	rc = ipw_table_new(&t, &o);
	if (rc || !t) {
		printf("# ipw_table_new: %s\n", ipw_errname(rc));
		bail("cannot create a table");
	}
	return t;
}

static struct ipw_entry_spec spec_of(enum ipw_list list, const char *target,
				     int64_t expires, uint32_t score,
				     unsigned flags)
{
	struct ipw_entry_spec s;

	memset(&s, 0, sizeof(s));
	s.target = addr(target);
	s.list = list;
	s.expires = expires;
	s.score = score;
	s.flags = flags;
	return s;
}

/* Add with absolute expiry; returns the error code, *what the change. */
static int add(struct ipw_table *t, enum ipw_list list, const char *target,
	       int64_t expires, uint32_t score, unsigned flags,
	       enum ipw_change *what)
{
	struct ipw_entry_spec s = spec_of(list, target, expires, score, flags);

	return ipw_table_add(t, &s, what, NULL, NULL);
}

/* ---- a sorted copy of the whole table, to prove "unchanged" ---- */

struct digest {
	size_t n;
	struct ipw_entry_info *e;
	enum ipw_mode mode;
};

static int info_cmp(const void *pa, const void *pb)
{
	const struct ipw_entry_info *a = pa, *b = pb;

	if (a->list != b->list)
		return a->list < b->list ? -1 : 1;
	return ipw_addr_cmp(&a->target, &b->target);
}

static void digest_take(struct ipw_table *t, struct digest *d)
{
	struct ipw_snapshot *s = NULL;

	if (ipw_table_snapshot(t, &s) || !s)
		bail("ipw_table_snapshot failed");
	d->n = ipw_snapshot_count(s);
	d->e = calloc(d->n + 1, sizeof(*d->e));
	if (!d->e)
		bail("out of memory");
	for (size_t i = 0; i < d->n; i++)
		ipw_snapshot_get(s, i, &d->e[i]);
	ipw_snapshot_free(s);
	qsort(d->e, d->n, sizeof(*d->e), info_cmp);
	d->mode = ipw_table_mode(t);
}

/* Same entries with the same fields (hit counters aside), same mode. */
static bool info_same(const struct ipw_entry_info *a,
		      const struct ipw_entry_info *b)
{
	return a->list == b->list && ipw_addr_equal(&a->target, &b->target) &&
	       a->expires == b->expires && a->created == b->created &&
	       a->score == b->score && a->flags == b->flags &&
	       strcmp(a->reason, b->reason) == 0 &&
	       strcmp(a->actor, b->actor) == 0 &&
	       strcmp(a->source, b->source) == 0;
}

static bool digest_same(const struct digest *a, const struct digest *b)
{
	if (a->n != b->n || a->mode != b->mode)
		return false;
	for (size_t i = 0; i < a->n; i++)
		if (!info_same(&a->e[i], &b->e[i]))
			return false;
	return true;
}

static void digest_free(struct digest *d)
{
	free(d->e);
	d->e = NULL;
	d->n = 0;
}

/* ---- scenarios ---- */

enum step_op {
	S_END = 0,
	S_ADD,
	S_DEL,
	S_MODE,
	S_TICK,
	S_CHECK,
	S_CHECK_AT,
	S_GET,
	S_PURGE,
};

struct step {
	enum step_op op;
	enum ipw_list list;
	const char *target; /* ADD/DEL/GET target, CHECK address */
	int64_t exp;	    /* offset from T0, 0 = permanent; TICK: seconds */
	uint32_t score;
	int rc;		/* expected return code */
	int want;	/* ipw_change, verdict reason, or purge count */
	bool blocked;	/* CHECK */
	const char *by; /* CHECK: the deciding entry, NULL if none */
	enum ipw_list bylist;
	int64_t at;   /* CHECK_AT: time, offset from T0 */
	int mode;     /* MODE */
	unsigned max; /* PURGE */
};

#define BAN(tg, ex, sc, r, w)                                      \
	{                                                          \
		.op = S_ADD, .list = IPW_LIST_BAN, .target = (tg), \
		.exp = (ex), .score = (sc), .rc = (r), .want = (w) \
	}
#define ALLOW(tg, ex, sc, r, w)                                      \
	{                                                            \
		.op = S_ADD, .list = IPW_LIST_ALLOW, .target = (tg), \
		.exp = (ex), .score = (sc), .rc = (r), .want = (w)   \
	}
#define UNBAN(tg, w)                                                           \
	{                                                                      \
		.op = S_DEL, .list = IPW_LIST_BAN, .target = (tg), .want = (w) \
	}
#define DISALLOW(tg, w)                                              \
	{                                                            \
		.op = S_DEL, .list = IPW_LIST_ALLOW, .target = (tg), \
		.want = (w)                                          \
	}
#define BANNED_BY(ip, entry, ex)                                \
	{                                                       \
		.op = S_CHECK, .target = (ip), .blocked = true, \
		.want = IPW_VERDICT_BANNED, .by = (entry),      \
		.bylist = IPW_LIST_BAN, .exp = (ex)             \
	}
#define ALLOWED_BY(ip, entry, ex)                                \
	{                                                        \
		.op = S_CHECK, .target = (ip), .blocked = false, \
		.want = IPW_VERDICT_ALLOWED, .by = (entry),      \
		.bylist = IPW_LIST_ALLOW, .exp = (ex)            \
	}
#define NO_MATCH(ip)                                             \
	{                                                        \
		.op = S_CHECK, .target = (ip), .blocked = false, \
		.want = IPW_VERDICT_NO_MATCH                     \
	}
#define NOT_ALLOWED(ip)                                         \
	{                                                       \
		.op = S_CHECK, .target = (ip), .blocked = true, \
		.want = IPW_VERDICT_NOT_ALLOWED                 \
	}
#define BANNED_AT(ip, when, entry, ex)                                      \
	{                                                                   \
		.op = S_CHECK_AT, .target = (ip), .at = (when),             \
		.blocked = true, .want = IPW_VERDICT_BANNED, .by = (entry), \
		.bylist = IPW_LIST_BAN, .exp = (ex)                         \
	}
#define ALLOWED_AT(ip, when, entry, ex)                                       \
	{                                                                     \
		.op = S_CHECK_AT, .target = (ip), .at = (when),               \
		.blocked = false, .want = IPW_VERDICT_ALLOWED, .by = (entry), \
		.bylist = IPW_LIST_ALLOW, .exp = (ex)                         \
	}
#define NO_MATCH_AT(ip, when)                                   \
	{                                                       \
		.op = S_CHECK_AT, .target = (ip), .at = (when), \
		.blocked = false, .want = IPW_VERDICT_NO_MATCH  \
	}
#define MODE(m, r, w)                                             \
	{                                                         \
		.op = S_MODE, .mode = (m), .rc = (r), .want = (w) \
	}
#define TICK(d)                          \
	{                                \
		.op = S_TICK, .exp = (d) \
	}
#define GET(l, tg, r, ex, sc)                                        \
	{                                                            \
		.op = S_GET, .list = (l), .target = (tg), .rc = (r), \
		.exp = (ex), .score = (sc)                           \
	}
#define PURGE(mx, n)                                    \
	{                                               \
		.op = S_PURGE, .max = (mx), .want = (n) \
	}

#define B	  IPW_LIST_BAN
#define A	  IPW_LIST_ALLOW
#define ADDED	  IPW_CHANGE_ADDED
#define EXTENDED  IPW_CHANGE_EXTENDED
#define UNCHANGED IPW_CHANGE_UNCHANGED
#define REMOVED	  IPW_CHANGE_REMOVED
#define ABSENT	  IPW_CHANGE_ABSENT
#define COVERED	  IPW_ETABLE_COVERED
#define EXPIRED	  IPW_ETABLE_EXPIRED

/* clang-format off */

/* One address of each family: add, allow over it, remove both. */
static const struct step s_exact_v4[] = {
	BAN("192.0.2.7", 0, 0, 0, ADDED),
	BANNED_BY("192.0.2.7", "192.0.2.7", 0),
	NO_MATCH("192.0.2.8"),
	NO_MATCH("192.0.2.6"),
	NO_MATCH("::ffff:192.0.2.8"),
	BAN("192.0.2.7", 0, 0, 0, UNCHANGED),
	ALLOW("192.0.2.7", 0, 0, 0, ADDED),
	ALLOWED_BY("192.0.2.7", "192.0.2.7", 0),
	/* the existing ban is now wholly covered: re-banning is refused */
	BAN("192.0.2.7", 0, 0, COVERED, 0),
	GET(B, "192.0.2.7", 0, 0, 0),
	DISALLOW("192.0.2.7", REMOVED),
	BANNED_BY("192.0.2.7", "192.0.2.7", 0),
	DISALLOW("192.0.2.7", ABSENT),
	UNBAN("192.0.2.7", REMOVED),
	UNBAN("192.0.2.7", ABSENT),
	NO_MATCH("192.0.2.7"),
	GET(B, "192.0.2.7", IPW_ENOENT, 0, 0),
	{ .op = S_END },
};

static const struct step s_exact_v6[] = {
	BAN("2001:db8::7", 0, 0, 0, ADDED),
	BANNED_BY("2001:db8::7", "2001:db8::7", 0),
	NO_MATCH("2001:db8::8"),
	NO_MATCH("2001:db8::6"),
	NO_MATCH("2001:db8:0:1::7"),
	/* the same low 32 bits in the other family are another address */
	BAN("::c000:207", 0, 0, 0, ADDED),
	NO_MATCH("192.0.2.7"),
	BANNED_BY("::c000:207", "::c000:207", 0),
	ALLOW("2001:db8::7", 0, 0, 0, ADDED),
	ALLOWED_BY("2001:db8::7", "2001:db8::7", 0),
	DISALLOW("2001:db8::7", REMOVED),
	BANNED_BY("2001:db8::7", "2001:db8::7", 0),
	UNBAN("2001:db8::7", REMOVED),
	UNBAN("2001:db8::7", ABSENT),
	NO_MATCH("2001:db8::7"),
	BANNED_BY("::c000:207", "::c000:207", 0),
	{ .op = S_END },
};

/* Nested IPv4 prefixes: the most specific entry decides; allow wins. */
static const struct step s_nested_v4[] = {
	BAN("10.0.0.0/8", 0, 0, 0, ADDED),
	ALLOW("10.1.0.0/16", 0, 0, 0, ADDED),
	BAN("10.1.2.3", 0, 0, COVERED, 0),
	BAN("10.1.0.0/16", 0, 0, COVERED, 0),
	BAN("10.1.2.0/24", 200, 0, COVERED, 0),
	GET(B, "10.1.2.3", IPW_ENOENT, 0, 0),
	GET(B, "10.1.0.0/16", IPW_ENOENT, 0, 0),
	BAN("10.0.0.0/15", 300, 0, 0, ADDED), /* overlaps the allow */
	BAN("10.2.0.0/16", 200, 0, 0, ADDED),
	BAN("10.2.3.0/24", 0, 0, 0, ADDED),
	ALLOWED_BY("10.1.2.3", "10.1.0.0/16", 0),
	ALLOWED_BY("10.1.255.255", "10.1.0.0/16", 0),
	ALLOWED_BY("10.1.0.0", "10.1.0.0/16", 0),
	BANNED_BY("10.0.9.9", "10.0.0.0/15", 300),
	BANNED_BY("10.2.3.4", "10.2.3.0/24", 0),
	BANNED_BY("10.2.4.4", "10.2.0.0/16", 200),
	BANNED_BY("10.200.0.1", "10.0.0.0/8", 0),
	BANNED_BY("10.255.255.255", "10.0.0.0/8", 0),
	NO_MATCH("11.0.0.1"),
	NO_MATCH("9.255.255.255"),
	ALLOW("10.1.2.0/24", 150, 0, 0, ADDED),
	ALLOWED_BY("10.1.2.3", "10.1.2.0/24", 150),
	ALLOWED_BY("10.1.3.3", "10.1.0.0/16", 0),
	/* a single allowed address inside a banned range */
	ALLOW("10.2.3.4", 0, 0, 0, ADDED),
	ALLOWED_BY("10.2.3.4", "10.2.3.4", 0),
	BANNED_BY("10.2.3.5", "10.2.3.0/24", 0),
	UNBAN("10.2.3.0/24", REMOVED),
	BANNED_BY("10.2.3.5", "10.2.0.0/16", 200),
	DISALLOW("10.1.0.0/16", REMOVED),
	BANNED_BY("10.1.9.9", "10.0.0.0/15", 300),
	ALLOWED_BY("10.1.2.3", "10.1.2.0/24", 150),
	BAN("10.1.0.0/16", 200, 0, 0, ADDED), /* no longer covered */
	BANNED_BY("10.1.9.9", "10.1.0.0/16", 200),
	/* deletion is exact: neither a containing nor a contained target */
	UNBAN("10.0.0.0/16", ABSENT),
	UNBAN("10.1.2.3", ABSENT),
	UNBAN("10.0.0.0/7", ABSENT),
	BANNED_BY("10.0.9.9", "10.0.0.0/15", 300),
	BANNED_BY("10.200.0.1", "10.0.0.0/8", 0),
	{ .op = S_END },
};

/* IPv4 boundary lengths /0 /1 /31 /32, and allow beating a longer ban. */
static const struct step s_bounds_v4[] = {
	BAN("0.0.0.0/0", 0, 0, 0, ADDED),
	BANNED_BY("0.0.0.0", "0.0.0.0/0", 0),
	BANNED_BY("255.255.255.255", "0.0.0.0/0", 0),
	NO_MATCH("2001:db8::1"),
	NO_MATCH("::1"),
	NO_MATCH("::"),
	BAN("128.0.0.0/1", 500, 0, 0, ADDED),
	BANNED_BY("127.255.255.255", "0.0.0.0/0", 0),
	BANNED_BY("128.0.0.0", "128.0.0.0/1", 500),
	BAN("203.0.113.254/31", 0, 0, 0, ADDED),
	BANNED_BY("203.0.113.254", "203.0.113.254/31", 0),
	BANNED_BY("203.0.113.255", "203.0.113.254/31", 0),
	BANNED_BY("203.0.113.253", "128.0.0.0/1", 500),
	BAN("203.0.113.255/32", 0, 0, 0, ADDED),
	BANNED_BY("203.0.113.255", "203.0.113.255", 0),
	BANNED_BY("203.0.113.254", "203.0.113.254/31", 0),
	ALLOW("203.0.113.254", 0, 0, 0, ADDED),
	ALLOWED_BY("203.0.113.254", "203.0.113.254", 0),
	BANNED_BY("203.0.113.255", "203.0.113.255", 0),
	BAN("203.0.113.254/31", 0, 0, 0, UNCHANGED), /* partly covered */
	ALLOW("128.0.0.0/1", 0, 0, 0, ADDED),
	ALLOWED_BY("200.1.1.1", "128.0.0.0/1", 0),
	/* a short allow beats a longer, more specific ban */
	ALLOWED_BY("203.0.113.255", "128.0.0.0/1", 0),
	ALLOWED_BY("203.0.113.254", "203.0.113.254", 0),
	BANNED_BY("1.2.3.4", "0.0.0.0/0", 0),
	BANNED_BY("127.255.255.255", "0.0.0.0/0", 0),
	BAN("192.0.2.0/24", 0, 0, COVERED, 0),
	BAN("0.0.0.0/0", 0, 0, 0, UNCHANGED),
	ALLOW("0.0.0.0/0", 0, 0, 0, ADDED),
	ALLOWED_BY("1.2.3.4", "0.0.0.0/0", 0),
	ALLOWED_BY("200.1.1.1", "128.0.0.0/1", 0),
	ALLOWED_BY("203.0.113.254", "203.0.113.254", 0),
	BAN("0.0.0.0/0", 0, 0, COVERED, 0),
	BAN("1.2.3.4", 0, 0, COVERED, 0),
	/* an IPv4 allow covers no IPv6 ban */
	BAN("2001:db8::/32", 0, 0, 0, ADDED),
	BANNED_BY("2001:db8::1", "2001:db8::/32", 0),
	{ .op = S_END },
};

/* IPv6 boundary lengths /0 /1 /64 /65 /127 /128. */
static const struct step s_bounds_v6[] = {
	BAN("::/0", 0, 0, 0, ADDED),
	BAN("8000::/1", 400, 0, 0, ADDED),
	BAN("2001:db8::/64", 0, 0, 0, ADDED),
	BAN("2001:db8::/127", 300, 0, 0, ADDED),
	BAN("2001:db8::1", 0, 0, 0, ADDED),
	BANNED_BY("2001:db8::1", "2001:db8::1", 0),
	BANNED_BY("2001:db8::", "2001:db8::/127", 300),
	BANNED_BY("2001:db8::2", "2001:db8::/64", 0),
	BANNED_BY("2001:db8::ffff:ffff:ffff:ffff", "2001:db8::/64", 0),
	BANNED_BY("2001:db8:0:1::1", "::/0", 0),
	BANNED_BY("ffff::1", "8000::/1", 400),
	BANNED_BY("8000::", "8000::/1", 400),
	BANNED_BY("7fff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", "::/0", 0),
	BANNED_BY("::", "::/0", 0),
	NO_MATCH("1.2.3.4"),
	NO_MATCH("::ffff:192.0.2.7"),
	ALLOW("2001:db8::/126", 0, 0, 0, ADDED),
	ALLOWED_BY("2001:db8::1", "2001:db8::/126", 0),
	ALLOWED_BY("2001:db8::3", "2001:db8::/126", 0),
	BANNED_BY("2001:db8::4", "2001:db8::/64", 0),
	BAN("2001:db8::2/127", 0, 0, COVERED, 0),
	BAN("2001:db8::3", 0, 0, COVERED, 0),
	BAN("2001:db8::/125", 300, 0, 0, ADDED),
	BANNED_BY("2001:db8::5", "2001:db8::/125", 300),
	BANNED_BY("2001:db8::8", "2001:db8::/64", 0),
	BAN("2001:db8:0:0:8000::/65", 0, 0, 0, ADDED),
	BANNED_BY("2001:db8::8000:0:0:1", "2001:db8:0:0:8000::/65", 0),
	BANNED_BY("2001:db8::7fff:0:0:1", "2001:db8::/64", 0),
	ALLOW("::/0", 0, 0, 0, ADDED),
	ALLOWED_BY("ffff::1", "::/0", 0),
	ALLOWED_BY("2001:db8::1", "2001:db8::/126", 0),
	/* an IPv6 allow covers no IPv4 address */
	NO_MATCH("1.2.3.4"),
	BAN("8000::/1", 400, 0, COVERED, 0),
	BAN("10.0.0.0/8", 0, 0, 0, ADDED),
	BANNED_BY("10.9.9.9", "10.0.0.0/8", 0),
	{ .op = S_END },
};

/* IPv4-mapped IPv6 addresses are IPv4 to the table. */
static const struct step s_mapped[] = {
	BAN("192.0.2.7", 0, 0, 0, ADDED),
	BANNED_BY("::ffff:192.0.2.7", "192.0.2.7", 0),
	BANNED_BY("::ffff:c000:207", "192.0.2.7", 0),
	BANNED_BY("0:0:0:0:0:ffff:192.0.2.7", "192.0.2.7", 0),
	NO_MATCH("::ffff:192.0.2.8"),
	BAN("::ffff:198.51.100.0/120", 0, 0, 0, ADDED),
	BANNED_BY("198.51.100.9", "198.51.100.0/24", 0),
	BAN("198.51.100.0/24", 0, 0, 0, UNCHANGED),
	NO_MATCH("::c000:207"),
	ALLOW("::ffff:192.0.2.0/124", 0, 0, 0, ADDED),
	ALLOWED_BY("192.0.2.7", "192.0.2.0/28", 0),
	DISALLOW("192.0.2.0/28", REMOVED),
	UNBAN("::ffff:192.0.2.7", REMOVED),
	NO_MATCH("192.0.2.7"),
	BANNED_BY("::ffff:198.51.100.200", "198.51.100.0/24", 0),
	{ .op = S_END },
};

/* Denylist and allowlist modes; set_mode is idempotent. */
static const struct step s_mode[] = {
	MODE(IPW_MODE_DENYLIST, 0, UNCHANGED),
	BAN("192.0.2.7", 0, 0, 0, ADDED),
	BAN("2001:db8::/64", 0, 0, 0, ADDED),
	ALLOW("192.0.2.0/28", 0, 0, 0, ADDED),
	ALLOW("2001:db8::1", 200, 0, 0, ADDED),
	ALLOWED_BY("192.0.2.7", "192.0.2.0/28", 0),
	NO_MATCH("192.0.2.100"),
	BANNED_BY("2001:db8::2", "2001:db8::/64", 0),
	ALLOWED_BY("2001:db8::1", "2001:db8::1", 200),
	MODE(IPW_MODE_ALLOWLIST, 0, IPW_CHANGE_MODE),
	MODE(IPW_MODE_ALLOWLIST, 0, UNCHANGED),
	ALLOWED_BY("192.0.2.7", "192.0.2.0/28", 0),
	ALLOWED_BY("192.0.2.15", "192.0.2.0/28", 0),
	NOT_ALLOWED("192.0.2.16"),
	NOT_ALLOWED("192.0.2.100"),
	NOT_ALLOWED("198.51.100.1"),
	ALLOWED_BY("2001:db8::1", "2001:db8::1", 200),
	NOT_ALLOWED("2001:db8::2"),
	NOT_ALLOWED("2001:db8:1::2"),
	TICK(100), /* the IPv6 allow expires */
	NOT_ALLOWED("2001:db8::1"),
	ALLOW("198.51.100.0/24", 300, 0, 0, ADDED),
	ALLOWED_BY("198.51.100.1", "198.51.100.0/24", 300),
	MODE(IPW_MODE_DENYLIST, 0, IPW_CHANGE_MODE),
	BANNED_BY("2001:db8::1", "2001:db8::/64", 0),
	NO_MATCH("192.0.2.100"),
	ALLOWED_BY("198.51.100.1", "198.51.100.0/24", 300),
	MODE(7, IPW_EINVAL, 0),
	MODE(IPW_MODE_DENYLIST, 0, UNCHANGED),
	{ .op = S_END },
};

/* Merging: later expiry (permanent latest), higher score. */
static const struct step s_merge[] = {
	BAN("192.0.2.9", 110, 5, 0, ADDED),
	GET(B, "192.0.2.9", 0, 110, 5),
	BAN("192.0.2.9", 105, 3, 0, UNCHANGED),
	GET(B, "192.0.2.9", 0, 110, 5),
	BAN("192.0.2.9", 110, 5, 0, UNCHANGED),
	BAN("192.0.2.9", 110, 4, 0, UNCHANGED),
	GET(B, "192.0.2.9", 0, 110, 5),
	BAN("192.0.2.9", 120, 1, 0, EXTENDED),
	GET(B, "192.0.2.9", 0, 120, 5),
	BAN("192.0.2.9", 115, 9, 0, EXTENDED),
	GET(B, "192.0.2.9", 0, 120, 9),
	BANNED_BY("192.0.2.9", "192.0.2.9", 120),
	BAN("192.0.2.9", 0, 0, 0, EXTENDED),
	GET(B, "192.0.2.9", 0, 0, 9),
	BAN("192.0.2.9", 500, 9, 0, UNCHANGED),
	BAN("192.0.2.9", 0, 9, 0, UNCHANGED),
	GET(B, "192.0.2.9", 0, 0, 9),
	BAN("192.0.2.9", 0, 10, 0, EXTENDED),
	GET(B, "192.0.2.9", 0, 0, 10),
	BANNED_BY("192.0.2.9", "192.0.2.9", 0),
	TICK(100),
	BANNED_BY("192.0.2.9", "192.0.2.9", 0),
	/* a permanent entry first, then an expiring one */
	BAN("2001:db8:1::/48", 0, 2, 0, ADDED),
	BAN("2001:db8:1::/48", 900, 2, 0, UNCHANGED),
	GET(B, "2001:db8:1::/48", 0, 0, 2),
	BAN("2001:db8:1::/48", 900, 3, 0, EXTENDED),
	GET(B, "2001:db8:1::/48", 0, 0, 3),
	/* the same rules for allows */
	ALLOW("198.51.100.0/24", 300, 1, 0, ADDED),
	ALLOW("198.51.100.0/24", 250, 1, 0, UNCHANGED),
	GET(A, "198.51.100.0/24", 0, 300, 1),
	ALLOW("198.51.100.0/24", 400, 0, 0, EXTENDED),
	GET(A, "198.51.100.0/24", 0, 400, 1),
	ALLOW("198.51.100.0/24", 0, 0, 0, EXTENDED),
	GET(A, "198.51.100.0/24", 0, 0, 1),
	ALLOWED_BY("198.51.100.3", "198.51.100.0/24", 0),
	/* a ban and an allow on the same target are two entries */
	GET(B, "198.51.100.0/24", IPW_ENOENT, 0, 0),
	{ .op = S_END },
};

/* TTL: expired entries never match, even before the purge. */
static const struct step s_ttl[] = {
	BAN("10.0.0.0/8", 200, 0, 0, ADDED),
	BAN("10.1.0.0/16", 105, 9, 0, ADDED),
	BAN("10.1.2.3", 103, 0, 0, ADDED),
	BANNED_BY("10.1.2.3", "10.1.2.3", 103),
	TICK(2),
	BANNED_BY("10.1.2.3", "10.1.2.3", 103),
	TICK(1), /* now == 103: the /32 no longer matches */
	BANNED_BY("10.1.2.3", "10.1.0.0/16", 105),
	TICK(2),
	BANNED_BY("10.1.2.3", "10.0.0.0/8", 200),
	BANNED_BY("10.1.9.9", "10.0.0.0/8", 200),
	GET(B, "10.1.0.0/16", 0, 105, 9),
	UNBAN("10.1.0.0/16", ABSENT), /* expired: the purger reports it */
	GET(B, "10.1.0.0/16", 0, 105, 9),
	/* an expired entry is replaced, not merged: the lower score stays */
	BAN("10.1.0.0/16", 106, 1, 0, ADDED),
	GET(B, "10.1.0.0/16", 0, 106, 1),
	BAN("10.1.2.3", 110, 0, 0, ADDED),
	BANNED_BY("10.1.2.3", "10.1.2.3", 110),
	BANNED_BY("10.1.9.9", "10.1.0.0/16", 106),
	TICK(95), /* now == 200: everything has expired */
	NO_MATCH("10.1.2.3"),
	NO_MATCH("10.200.0.1"),
	BAN("10.0.0.0/8", 201, 0, 0, ADDED),
	BANNED_BY("10.1.2.3", "10.0.0.0/8", 201),
	PURGE(0, 2),
	GET(B, "10.1.0.0/16", IPW_ENOENT, 0, 0),
	GET(B, "10.1.2.3", IPW_ENOENT, 0, 0),
	GET(B, "10.0.0.0/8", 0, 201, 0),
	PURGE(0, 0),
	TICK(1),
	PURGE(0, 1),
	GET(B, "10.0.0.0/8", IPW_ENOENT, 0, 0),
	/* IPv6 at the boundary second */
	BAN("2001:db8::/32", 203, 0, 0, ADDED),
	BANNED_BY("2001:db8::9", "2001:db8::/32", 203),
	TICK(1),
	BANNED_BY("2001:db8::9", "2001:db8::/32", 203),
	TICK(1),
	NO_MATCH("2001:db8::9"),
	{ .op = S_END },
};

/* An expired allow neither admits nor covers. */
static const struct step s_allow_ttl[] = {
	BAN("192.0.2.0/23", 0, 0, 0, ADDED),
	ALLOW("192.0.2.0/24", 110, 0, 0, ADDED),
	ALLOWED_BY("192.0.2.5", "192.0.2.0/24", 110),
	BANNED_BY("192.0.3.5", "192.0.2.0/23", 0),
	BAN("192.0.2.5", 0, 0, COVERED, 0),
	TICK(10),
	BANNED_BY("192.0.2.5", "192.0.2.0/23", 0),
	BAN("192.0.2.5", 0, 0, 0, ADDED),
	BANNED_BY("192.0.2.5", "192.0.2.5", 0),
	DISALLOW("192.0.2.0/24", ABSENT),
	ALLOW("192.0.2.0/24", 120, 0, 0, ADDED),
	ALLOWED_BY("192.0.2.5", "192.0.2.0/24", 120),
	MODE(IPW_MODE_ALLOWLIST, 0, IPW_CHANGE_MODE),
	ALLOWED_BY("192.0.2.5", "192.0.2.0/24", 120),
	TICK(10),
	NOT_ALLOWED("192.0.2.5"),
	{ .op = S_END },
};

/* Expiry in the past; check_at uses its own time, not the clock. */
static const struct step s_expiry_errors[] = {
	BAN("192.0.2.1", 100, 0, EXPIRED, 0), /* == now */
	BAN("192.0.2.1", 99, 0, EXPIRED, 0),
	BAN("192.0.2.1", 1, 0, EXPIRED, 0),
	BAN("2001:db8::1", 100, 0, EXPIRED, 0),
	ALLOW("192.0.2.1", 100, 0, EXPIRED, 0),
	GET(B, "192.0.2.1", IPW_ENOENT, 0, 0),
	GET(A, "192.0.2.1", IPW_ENOENT, 0, 0),
	BAN("192.0.2.1", 101, 0, 0, ADDED),
	BAN("192.0.2.1", 100, 0, EXPIRED, 0), /* merge refused too */
	GET(B, "192.0.2.1", 0, 101, 0),
	BANNED_AT("192.0.2.1", 100, "192.0.2.1", 101),
	NO_MATCH_AT("192.0.2.1", 101),
	NO_MATCH_AT("192.0.2.1", 5000),
	BANNED_AT("192.0.2.1", 50, "192.0.2.1", 101),
	BANNED_BY("192.0.2.1", "192.0.2.1", 101),
	ALLOW("192.0.2.0/24", 150, 0, 0, ADDED),
	ALLOWED_AT("192.0.2.1", 100, "192.0.2.0/24", 150),
	NO_MATCH_AT("192.0.2.1", 150),
	TICK(1),
	ALLOWED_BY("192.0.2.1", "192.0.2.0/24", 150),
	DISALLOW("192.0.2.0/24", REMOVED),
	NO_MATCH("192.0.2.1"),
	BAN("192.0.2.1", 101, 0, EXPIRED, 0),
	{ .op = S_END },
};

/* clang-format on */

struct scenario {
	const char *name;
	const struct step *steps;
};

static const struct scenario scenarios[] = {
	{"exact v4", s_exact_v4},
	{"exact v6", s_exact_v6},
	{"nested v4", s_nested_v4},
	{"bounds v4", s_bounds_v4},
	{"bounds v6", s_bounds_v6},
	{"mapped", s_mapped},
	{"mode", s_mode},
	{"merge", s_merge},
	{"ttl", s_ttl},
	{"allow ttl", s_allow_ttl},
	{"expiry errors", s_expiry_errors},
};

static int64_t abs_time(int64_t offset)
{
	return offset ? T0 + offset : 0;
}

static void count_cb(const struct ipw_entry_info *e, void *ctx)
{
	(void)e;
	(*(size_t *)ctx)++;
}

static void step_check(const char *where, struct ipw_table *t,
		       const struct step *s)
{
	struct ipw_addr ip = addr(s->target);
	struct ipw_verdict v;
	int64_t when = s->op == S_CHECK_AT ? T0 + s->at : now_s;
	bool decided =
		s->want == IPW_VERDICT_BANNED || s->want == IPW_VERDICT_ALLOWED;
	bool pass;
	int rc;

	memset(&v, 0xa5, sizeof(v));
	if (s->op == S_CHECK_AT)
		rc = ipw_table_check_at(t, &ip, when, &v);
	else
		rc = ipw_table_check(t, &ip, &v);
	pass = rc == 0 && v.blocked == s->blocked && v.reason == s->want;
	if (pass && decided) {
		struct ipw_addr by = addr(s->by);

		pass = v.list == s->bylist && ipw_addr_equal(&v.entry, &by) &&
		       v.expires == abs_time(s->exp);
	}
	ok(pass, "%s: check %s%s -> %s %s %s %s", where, s->target,
	   s->op == S_CHECK_AT ? " at a given time" : "",
	   s->blocked ? "blocked" : "admitted", reason_str(s->want),
	   decided ? list_str(s->bylist) : "", decided ? s->by : "");
	if (!pass) {
		if (rc)
			diag("  got error %s", ipw_errname(rc));
		else
			diag("  got %s %s, entry %s %s expires %lld (T0%+lld)",
			     v.blocked ? "blocked" : "admitted",
			     reason_str(v.reason), list_str(v.list),
			     fmt(&v.entry), (long long)v.expires,
			     (long long)(v.expires ? v.expires - T0 : 0));
		if (decided)
			diag("  want expires %lld",
			     (long long)abs_time(s->exp));
	}
}

static void run_step(const char *name, size_t i, struct ipw_table *t,
		     const struct step *s)
{
	char where[96];
	struct digest before = {0}, after = {0};
	enum ipw_change what = 0;
	int rc = 0;

	snprintf(where, sizeof(where), "%s #%zu", name, i);
	if (s->rc && (s->op == S_ADD || s->op == S_DEL || s->op == S_MODE))
		digest_take(t, &before);
	switch (s->op) {
	case S_ADD: {
		struct ipw_entry_spec sp = spec_of(
			s->list, s->target, abs_time(s->exp), s->score, 0);

		rc = ipw_table_add(t, &sp, &what, NULL, NULL);
		ok(rc == s->rc && (rc || what == (enum ipw_change)s->want),
		   "%s: %s %s expires %s score %u -> %s", where,
		   list_str(s->list), s->target, when_str(s->exp), s->score,
		   s->rc ? ipw_errname(s->rc) : change_str(s->want));
		if (rc != s->rc || (!rc && what != (enum ipw_change)s->want))
			diag("  got %s / %s", rc ? ipw_errname(rc) : "ok",
			     change_str((int)what));
		break;
	}
	case S_DEL: {
		struct ipw_addr a = addr(s->target);

		rc = ipw_table_del(t, s->list, &a, &what, NULL);
		ok(rc == s->rc && (rc || what == (enum ipw_change)s->want),
		   "%s: del %s %s -> %s", where, list_str(s->list), s->target,
		   s->rc ? ipw_errname(s->rc) : change_str(s->want));
		if (rc != s->rc || (!rc && what != (enum ipw_change)s->want))
			diag("  got %s / %s", rc ? ipw_errname(rc) : "ok",
			     change_str((int)what));
		break;
	}
	case S_MODE: {
		enum ipw_mode m0 = ipw_table_mode(t);

		rc = ipw_table_set_mode(t, (enum ipw_mode)s->mode, &what);
		ok(rc == s->rc && (rc || what == (enum ipw_change)s->want),
		   "%s: set mode %d -> %s", where, s->mode,
		   s->rc ? ipw_errname(s->rc) : change_str(s->want));
		if (rc != s->rc || (!rc && what != (enum ipw_change)s->want))
			diag("  got %s / %s", rc ? ipw_errname(rc) : "ok",
			     change_str((int)what));
		is_int(ipw_table_mode(t), s->rc ? (int)m0 : s->mode,
		       "%s: mode is now %d", where, s->rc ? (int)m0 : s->mode);
		break;
	}
	case S_TICK:
		now_s += s->exp;
		break;
	case S_CHECK:
	case S_CHECK_AT:
		step_check(where, t, s);
		break;
	case S_GET: {
		struct ipw_addr a = addr(s->target);
		struct ipw_entry_info e;

		memset(&e, 0, sizeof(e));
		rc = ipw_table_get(t, s->list, &a, &e);
		if (s->rc) {
			is_int(rc, s->rc, "%s: get %s %s -> %s", where,
			       list_str(s->list), s->target,
			       ipw_errname(s->rc));
			break;
		}
		ok(rc == 0 && e.list == s->list &&
			   ipw_addr_equal(&e.target, &a) &&
			   e.expires == abs_time(s->exp) && e.score == s->score,
		   "%s: get %s %s: expires %s score %u", where,
		   list_str(s->list), s->target, when_str(s->exp), s->score);
		if (rc)
			diag("  got %s", ipw_errname(rc));
		else if (e.expires != abs_time(s->exp) || e.score != s->score)
			diag("  got expires %lld score %u",
			     (long long)(e.expires ? e.expires - T0 : 0),
			     e.score);
		break;
	}
	case S_PURGE: {
		size_t calls = 0,
		       n = ipw_table_purge(t, s->max, count_cb, &calls);

		ok(n == (size_t)s->want && calls == n,
		   "%s: purge(max %u) removes %d", where, s->max, s->want);
		if (n != (size_t)s->want || calls != n)
			diag("  got %zu (callback called %zu times)", n, calls);
		break;
	}
	case S_END:
		break;
	}
	if (before.e) {
		digest_take(t, &after);
		ok(digest_same(&before, &after),
		   "%s: the error changed nothing", where);
		digest_free(&before);
		digest_free(&after);
	}
}

static void run_scenarios(void)
{
	for (size_t k = 0; k < NELEM(scenarios); k++) {
		struct ipw_table *t = new_table(0);
		size_t i = 0;

		now_s = T0 + 100;
		for (const struct step *s = scenarios[k].steps; s->op != S_END;
		     s++)
			run_step(scenarios[k].name, i++, t, s);
		ipw_table_free(t);
	}
}

/* ---- purge in batches ---- */

static uint64_t total(const struct ipw_table_stats *st)
{
	return st->entries[0][0] + st->entries[0][1] + st->entries[1][0] +
	       st->entries[1][1];
}

struct purge_log {
	size_t n;
	struct ipw_entry_info e[64];
};

static void log_cb(const struct ipw_entry_info *e, void *ctx)
{
	struct purge_log *l = ctx;

	if (l->n < NELEM(l->e))
		l->e[l->n] = *e;
	l->n++;
}

struct planned {
	enum ipw_list list;
	const char *target;
	int64_t exp; /* offset from T0, 0 = permanent */
};

static void test_purge(void)
{
	/* clang-format off */
	static const struct planned plan[] = {
		/* expired at T0+200 */
		{ B, "192.0.2.1", 101 }, { B, "192.0.2.2", 102 },
		{ B, "198.51.100.0/24", 103 }, { B, "10.0.0.0/8", 104 },
		{ B, "2001:db8::1", 105 }, { B, "2001:db8::/64", 106 },
		{ B, "2001:db8:1::/48", 107 }, { B, "203.0.113.7", 108 },
		{ B, "::/0", 109 }, { B, "0.0.0.0/0", 110 },
		{ B, "192.0.2.200", 200 }, /* exactly now */
		{ A, "192.0.2.128/25", 105 },
		/* not expired at T0+200 */
		{ B, "192.0.2.3", 0 }, { B, "2001:db8::2", 0 },
		{ B, "203.0.113.0/24", 0 }, { B, "192.0.2.4", 500 },
		{ B, "2001:db8::3", 500 }, { A, "2001:db8:2::/48", 300 },
		{ A, "192.0.2.5", 201 },
	};
	/* clang-format on */
	const size_t n_expired = 12, n_plan = NELEM(plan);
	struct ipw_table *t = new_table(0);
	struct purge_log log = {0};
	struct ipw_table_stats st;
	size_t got[6], bad = 0, dup = 0;
	bool seen[NELEM(plan)] = {false};
	struct digest d1, d2;

	now_s = T0 + 100;
	for (size_t i = 0; i < n_plan; i++) {
		enum ipw_change what = 0;
		int rc = add(t, plan[i].list, plan[i].target,
			     abs_time(plan[i].exp), 0, 0, &what);

		if (rc || what != IPW_CHANGE_ADDED) {
			diag("setup: add %s: %s", plan[i].target,
			     ipw_errname(rc));
			bad++;
		}
	}
	is_int(bad, 0, "purge: %zu entries added", n_plan);
	is_int(ipw_table_purge(t, 0, log_cb, &log), 0,
	       "purge: nothing has expired yet");
	is_int(log.n, 0, "purge: and the callback was not called");

	now_s = T0 + 200;
	for (int k = 0; k < 6; k++)
		got[k] = ipw_table_purge(t, 5, log_cb, &log);
	ok(got[0] == 5 && got[1] == 5 && got[2] == 2 && got[3] == 0 &&
		   got[4] == 0,
	   "purge: batches of 5 remove 5, 5, 2, then 0 of 12 expired");
	if (got[0] != 5 || got[1] != 5 || got[2] != 2 || got[3] || got[4])
		diag("  got %zu %zu %zu %zu %zu", got[0], got[1], got[2],
		     got[3], got[4]);
	is_int(log.n, n_expired, "purge: the callback saw every removal");

	bad = 0;
	for (size_t i = 0; i < log.n && i < NELEM(log.e); i++) {
		const struct ipw_entry_info *e = &log.e[i];
		size_t k;

		for (k = 0; k < n_plan; k++) {
			struct ipw_addr a = addr(plan[k].target);

			if (plan[k].list == e->list &&
			    ipw_addr_equal(&a, &e->target))
				break;
		}
		if (k == n_plan || k >= n_expired ||
		    e->expires != abs_time(plan[k].exp) || e->expires == 0 ||
		    e->expires > now_s) {
			diag("  purged %s %s expires %lld: not an expired entry",
			     list_str(e->list), fmt(&e->target),
			     (long long)e->expires);
			bad++;
			continue;
		}
		dup += seen[k];
		seen[k] = true;
	}
	is_int(bad, 0,
	       "purge: every purged entry was expired, with its fields");
	is_int(dup, 0, "purge: no entry was purged twice");

	bad = 0;
	for (size_t k = 0; k < n_plan; k++) {
		struct ipw_addr a = addr(plan[k].target);
		struct ipw_entry_info e;
		int rc = ipw_table_get(t, plan[k].list, &a, &e);
		int want = k < n_expired ? IPW_ENOENT : 0;

		if (rc != want) {
			diag("  get %s %s: %s, want %s", list_str(plan[k].list),
			     plan[k].target, ipw_errname(rc),
			     ipw_errname(want));
			bad++;
		}
	}
	is_int(bad, 0, "purge: expired entries are gone, the others stay");
	ipw_table_stats(t, &st);
	is_int(st.entries[0][0] + st.entries[0][1] + st.entries[1][0] +
		       st.entries[1][1],
	       n_plan - n_expired, "purge: stats count what stays");

	digest_take(t, &d1);
	is_int(ipw_table_purge(t, 0, NULL, NULL), 0,
	       "purge: again removes nothing");
	digest_take(t, &d2);
	ok(digest_same(&d1, &d2), "purge: and changes nothing");
	digest_free(&d1);
	digest_free(&d2);

	now_s = T0 + 600;
	is_int(ipw_table_purge(t, 0, NULL, NULL), 4,
	       "purge: no limit and no callback removes all 4 expired");
	ipw_table_stats(t, &st);
	is_int(st.entries[0][0] + st.entries[0][1], 3,
	       "purge: the 3 permanent bans stay");
	is_int(st.entries[1][0] + st.entries[1][1], 0,
	       "purge: no allow is left");
	ipw_table_free(t);

	/*
	 * The wall clock can step back (NTP, an operator): an entry added
	 * after the step, expiring before the time the table had seen, is
	 * still purged once it expires.
	 */
	t = new_table(0);
	now_s = T0 + 1000;
	add(t, B, "192.0.2.1", T0 + 1001, 0, 0, NULL);
	now_s = T0 + 1002;
	is_int(ipw_table_purge(t, 0, NULL, NULL), 1, "purge: before the step");
	now_s = T0 + 100;
	add(t, B, "192.0.2.2", T0 + 101, 0, 0, NULL);
	add(t, B, "2001:db8::2", T0 + 102, 0, 0, NULL);
	now_s = T0 + 105;
	is_int(ipw_table_purge(t, 0, NULL, NULL), 2,
	       "purge: after the clock stepped back 900 s");
	ipw_table_stats(t, &st);
	is_int(total(&st), 0, "purge: nothing expired is left behind");
	ipw_table_free(t);
}

/* ---- the entry cap, and eviction of automatic bans ---- */

static int add_ev(struct ipw_table *t, enum ipw_list list, const char *target,
		  int64_t expires, unsigned flags, enum ipw_change *what,
		  struct ipw_entry_info *ev, bool *ev_set)
{
	struct ipw_entry_spec s = spec_of(list, target, expires, 0, flags);

	*ev_set = false;
	memset(ev, 0, sizeof(*ev));
	return ipw_table_add(t, &s, what, ev, ev_set);
}

static void test_cap(void)
{
	const unsigned AUTO = IPW_ENTRY_AUTO;
	struct ipw_table *t = new_table(4);
	struct ipw_table_stats st;
	struct ipw_entry_info ev, e;
	struct digest d1, d2;
	enum ipw_change what;
	bool ev_set;
	int rc;

	now_s = T0 + 100;
	ipw_table_stats(t, &st);
	is_int(st.max_entries, 4, "cap: stats report the cap");
	rc = add_ev(t, B, "192.0.2.1", T0 + 1000, AUTO, &what, &ev, &ev_set);
	ok(rc == 0 && !ev_set, "cap: auto ban 1 added");
	now_s++;
	rc = add_ev(t, B, "192.0.2.2", T0 + 1000, AUTO, &what, &ev, &ev_set);
	ok(rc == 0 && !ev_set, "cap: auto ban 2 added");
	now_s++;
	rc = add_ev(t, B, "192.0.2.3", 0, 0, &what, &ev, &ev_set);
	ok(rc == 0 && !ev_set, "cap: manual ban added");
	now_s++;
	rc = add_ev(t, B, "2001:db8::4", T0 + 1000, AUTO, &what, &ev, &ev_set);
	ok(rc == 0 && !ev_set, "cap: auto ban 3 added, the table is full");
	now_s++;

	digest_take(t, &d1);
	rc = add_ev(t, B, "192.0.2.5", T0 + 1000, AUTO, &what, &ev, &ev_set);
	is_int(rc, IPW_ETABLE_FULL, "cap: a new auto ban is refused when full");
	ok(!ev_set, "cap: and evicts nothing");
	digest_take(t, &d2);
	ok(digest_same(&d1, &d2), "cap: the refused auto ban changed nothing");
	digest_free(&d1);
	digest_free(&d2);

	rc = add_ev(t, B, "192.0.2.2", T0 + 2000, AUTO, &what, &ev, &ev_set);
	ok(rc == 0 && what == IPW_CHANGE_EXTENDED && !ev_set,
	   "cap: merging into an existing auto ban needs no room");

	rc = add_ev(t, B, "192.0.2.6", 0, 0, &what, &ev, &ev_set);
	ok(rc == 0 && what == IPW_CHANGE_ADDED,
	   "cap: a manual ban is added when full");
	ok(ev_set && ev.list == IPW_LIST_BAN &&
		   strcmp(fmt(&ev.target), "192.0.2.1") == 0 &&
		   (ev.flags & AUTO) && ev.created == T0 + 100,
	   "cap: by evicting the oldest automatic ban (192.0.2.1)");
	if (ev_set)
		diag("  evicted %s %s created T0%+lld", list_str(ev.list),
		     fmt(&ev.target), (long long)(ev.created - T0));
	{
		struct ipw_addr a = addr("192.0.2.1");
		struct ipw_verdict v;

		is_int(ipw_table_get(t, B, &a, &e), IPW_ENOENT,
		       "cap: the evicted ban is gone");
		ipw_table_check(t, &a, &v);
		ok(!v.blocked && v.reason == IPW_VERDICT_NO_MATCH,
		   "cap: and no longer blocks");
	}

	rc = add_ev(t, A, "198.51.100.0/24", 0, 0, &what, &ev, &ev_set);
	ok(rc == 0 && ev_set && strcmp(fmt(&ev.target), "192.0.2.2") == 0,
	   "cap: a manual allow evicts the next oldest auto ban (192.0.2.2)");
	if (rc || !ev_set)
		diag("  got %s, evicted_set %d", ipw_errname(rc), ev_set);
	rc = add_ev(t, B, "2001:db8::7", T0 + 900, 0, &what, &ev, &ev_set);
	ok(rc == 0 && ev_set && strcmp(fmt(&ev.target), "2001:db8::4") == 0,
	   "cap: a manual expiring ban evicts the last auto ban");

	digest_take(t, &d1);
	rc = add_ev(t, B, "192.0.2.8", 0, 0, &what, &ev, &ev_set);
	is_int(rc, IPW_ETABLE_FULL,
	       "cap: a manual ban is refused when only manual entries are left");
	rc = add_ev(t, A, "192.0.2.9", 0, 0, &what, &ev, &ev_set);
	is_int(rc, IPW_ETABLE_FULL, "cap: so is a manual allow");
	rc = add_ev(t, B, "192.0.2.10", T0 + 1000, AUTO, &what, &ev, &ev_set);
	is_int(rc, IPW_ETABLE_FULL, "cap: and an automatic ban");
	ok(!ev_set, "cap: no manual entry was evicted");
	digest_take(t, &d2);
	ok(digest_same(&d1, &d2) && d2.n == 4,
	   "cap: the refusals changed nothing");
	digest_free(&d1);
	digest_free(&d2);

	{
		struct ipw_addr a = addr("192.0.2.3");

		rc = ipw_table_del(t, B, &a, &what, NULL);
		ok(rc == 0 && what == IPW_CHANGE_REMOVED,
		   "cap: removing a ban makes room");
	}
	rc = add_ev(t, B, "192.0.2.10", T0 + 1000, AUTO, &what, &ev, &ev_set);
	ok(rc == 0 && what == IPW_CHANGE_ADDED && !ev_set,
	   "cap: then an automatic ban fits");
	ipw_table_free(t);

	/* A permanent automatic ban is never evicted, even when oldest. */
	t = new_table(3);
	now_s = T0 + 100;
	rc = add_ev(t, B, "192.0.2.1", 0, AUTO, &what, &ev, &ev_set);
	now_s++;
	rc |= add_ev(t, B, "192.0.2.2", T0 + 1000, AUTO, &what, &ev, &ev_set);
	now_s++;
	rc |= add_ev(t, B, "192.0.2.3", 0, 0, &what, &ev, &ev_set);
	now_s++;
	is_int(rc, 0, "cap: 3 entries fill a table of 3");
	rc = add_ev(t, B, "192.0.2.4", 0, 0, &what, &ev, &ev_set);
	ok(rc == 0 && ev_set && strcmp(fmt(&ev.target), "192.0.2.2") == 0,
	   "cap: the expiring auto ban is evicted, not the older permanent");
	if (ev_set)
		diag("  evicted %s", fmt(&ev.target));
	rc = add_ev(t, B, "192.0.2.5", 0, 0, &what, &ev, &ev_set);
	ok(rc == IPW_ETABLE_FULL && !ev_set,
	   "cap: with only a permanent auto ban left, a manual ban is refused");
	{
		struct ipw_addr a = addr("192.0.2.1");

		is_int(ipw_table_get(t, B, &a, &e), 0,
		       "cap: the permanent auto ban stays");
	}
	ipw_table_free(t);
}

/* ---- metadata ---- */

static bool utf8_valid(const char *s)
{
	const unsigned char *p = (const unsigned char *)s;

	while (*p) {
		int n = *p < 0x80	    ? 0 :
			(*p & 0xe0) == 0xc0 ? 1 :
			(*p & 0xf0) == 0xe0 ? 2 :
			(*p & 0xf8) == 0xf0 ? 3 :
					      -1;

		if (n < 0)
			return false;
		p++;
		for (; n > 0; n--, p++)
			if ((*p & 0xc0) != 0x80)
				return false;
	}
	return true;
}

static char *repeat(const char *unit, size_t times)
{
	size_t u = strlen(unit);
	char *s = malloc(u * times + 1);

	if (!s)
		bail("out of memory");
	for (size_t i = 0; i < times; i++)
		memcpy(s + i * u, unit, u);
	s[u * times] = '\0';
	return s;
}

static void test_metadata(void)
{
	struct ipw_table *t = new_table(0);
	struct ipw_entry_spec s;
	struct ipw_entry_info e;
	enum ipw_change what;
	char reason[32] = "ssh brute force", actor[16] = "rule:ssh";
	char *long_r, *long_a, *long_s, *fit, *over, *u2, *u3, *u4;
	int rc;

	now_s = T0 + 100;
	s = spec_of(B, "192.0.2.7", T0 + 500, 42, IPW_ENTRY_AUTO);
	s.reason = reason;
	s.actor = actor;
	s.source = "sshd";
	rc = ipw_table_add(t, &s, &what, NULL, NULL);
	is_int(rc, 0, "meta: add with metadata");
	/* the table keeps copies, not the caller's pointers */
	memset(reason, 'X', sizeof(reason) - 1);
	memset(actor, 'Y', sizeof(actor) - 1);
	memset(&e, 0x5a, sizeof(e));
	rc = ipw_table_get(t, B, &s.target, &e);
	ok(rc == 0 && e.list == IPW_LIST_BAN &&
		   strcmp(fmt(&e.target), "192.0.2.7") == 0 &&
		   e.expires == T0 + 500 && e.created == T0 + 100 &&
		   e.score == 42 && e.flags == IPW_ENTRY_AUTO,
	   "meta: get returns target, list, expiry, creation time, score, flags");
	is_str(e.reason, "ssh brute force", "meta: reason");
	is_str(e.actor, "rule:ssh", "meta: actor");
	is_str(e.source, "sshd", "meta: source");
	ok(e.hits == 0 && e.last_hit == 0, "meta: no hits yet");

	/* a merge that changes the entry replaces the non-NULL strings */
	now_s = T0 + 110;
	s = spec_of(B, "192.0.2.7", T0 + 600, 1, IPW_ENTRY_AUTO);
	s.reason = "again";
	s.source = "nginx";
	rc = ipw_table_add(t, &s, &what, NULL, NULL);
	ok(rc == 0 && what == IPW_CHANGE_EXTENDED, "meta: merge extends");
	ipw_table_get(t, B, &s.target, &e);
	is_str(e.reason, "again", "meta: a changing merge replaces the reason");
	is_str(e.actor, "rule:ssh", "meta: a NULL actor keeps the old one");
	is_str(e.source, "nginx", "meta: and the source is replaced");
	ok(e.expires == T0 + 600 && e.score == 42 && e.created == T0 + 100,
	   "meta: merged expiry and score; creation time kept");
	{
		struct ipw_entry_info e0 = e;

		s = spec_of(B, "192.0.2.7", T0 + 550, 3, IPW_ENTRY_AUTO);
		s.reason = "ignored";
		s.actor = "ignored";
		s.source = "ignored";
		rc = ipw_table_add(t, &s, &what, NULL, NULL);
		ok(rc == 0 && what == IPW_CHANGE_UNCHANGED,
		   "meta: merge unchanged");
		ipw_table_get(t, B, &s.target, &e);
		ok(strcmp(e.reason, e0.reason) == 0 &&
			   strcmp(e.actor, e0.actor) == 0 &&
			   strcmp(e.source, e0.source) == 0,
		   "meta: an unchanging merge keeps the metadata");
	}

	s = spec_of(B, "2001:db8::8", 0, 0, 0);
	rc = ipw_table_add(t, &s, &what, NULL, NULL);
	memset(&e, 0x5a, sizeof(e));
	rc |= ipw_table_get(t, B, &s.target, &e);
	ok(rc == 0 && e.reason[0] == 0 && e.actor[0] == 0 && e.source[0] == 0,
	   "meta: NULL strings are stored as empty strings");

	long_r = repeat("r", 1000);
	long_a = repeat("a", 200);
	long_s = repeat("s", 64);
	s = spec_of(A, "192.0.2.0/24", 0, 0, 0);
	s.reason = long_r;
	s.actor = long_a;
	s.source = long_s;
	rc = ipw_table_add(t, &s, &what, NULL, NULL);
	memset(&e, 0x5a, sizeof(e));
	rc |= ipw_table_get(t, A, &s.target, &e);
	is_int(rc, 0, "meta: long strings are accepted");
	ok(memchr(e.reason, 0, sizeof(e.reason)) &&
		   strlen(e.reason) == IPW_REASON_MAX - 1 &&
		   strncmp(e.reason, long_r, IPW_REASON_MAX - 1) == 0,
	   "meta: a 1000-byte reason is cut to %d bytes", IPW_REASON_MAX - 1);
	ok(memchr(e.actor, 0, sizeof(e.actor)) &&
		   strlen(e.actor) == IPW_ACTOR_MAX - 1 &&
		   strncmp(e.actor, long_a, IPW_ACTOR_MAX - 1) == 0,
	   "meta: a 200-byte actor is cut to %d bytes", IPW_ACTOR_MAX - 1);
	ok(memchr(e.source, 0, sizeof(e.source)) &&
		   strlen(e.source) == IPW_SOURCE_MAX - 1,
	   "meta: a 64-byte source is cut to %d bytes", IPW_SOURCE_MAX - 1);

	fit = repeat("f", IPW_REASON_MAX - 1);
	over = repeat("o", IPW_REASON_MAX);
	s = spec_of(B, "198.51.100.1", 0, 0, 0);
	s.reason = fit;
	rc = ipw_table_add(t, &s, &what, NULL, NULL);
	rc |= ipw_table_get(t, B, &s.target, &e);
	ok(rc == 0 && strcmp(e.reason, fit) == 0,
	   "meta: a reason of exactly %d bytes is kept whole",
	   IPW_REASON_MAX - 1);
	s = spec_of(B, "198.51.100.2", 0, 0, 0);
	s.reason = over;
	rc = ipw_table_add(t, &s, &what, NULL, NULL);
	rc |= ipw_table_get(t, B, &s.target, &e);
	ok(rc == 0 && strlen(e.reason) == IPW_REASON_MAX - 1,
	   "meta: a reason of %d bytes loses one", IPW_REASON_MAX);

	u2 = repeat("\xc3\xa9", 200);	     /* e-acute, 2 bytes */
	u3 = repeat("\xe2\x82\xac", 30);     /* euro sign, 3 bytes */
	u4 = repeat("\xf0\x9d\x84\x9e", 20); /* G clef, 4 bytes */
	s = spec_of(B, "2001:db8::/64", 0, 0, 0);
	s.reason = u2;
	s.actor = u3;
	s.source = u4;
	rc = ipw_table_add(t, &s, &what, NULL, NULL);
	rc |= ipw_table_get(t, B, &s.target, &e);
	is_int(rc, 0, "meta: UTF-8 strings accepted");
	ok(strlen(e.reason) == 254 && utf8_valid(e.reason) &&
		   strncmp(e.reason, u2, 254) == 0,
	   "meta: 2-byte characters cut at a boundary (254 bytes)");
	if (strlen(e.reason) != 254)
		diag("  reason is %zu bytes", strlen(e.reason));
	ok(strlen(e.actor) == 63 && utf8_valid(e.actor),
	   "meta: 3-byte characters: 21 fit in 63 bytes");
	ok(strlen(e.source) == 60 && utf8_valid(e.source) &&
		   strncmp(e.source, u4, 60) == 0,
	   "meta: 4-byte characters cut at a boundary (60 bytes)");
	if (strlen(e.source) != 60)
		diag("  source is %zu bytes", strlen(e.source));

	/* the snapshot carries the same metadata */
	{
		struct digest d;
		int found = 0;

		digest_take(t, &d);
		for (size_t i = 0; i < d.n; i++) {
			if (d.e[i].list == B &&
			    strcmp(fmt(&d.e[i].target), "2001:db8::/64") == 0)
				found += strcmp(d.e[i].reason, e.reason) == 0 &&
					 strcmp(d.e[i].actor, e.actor) == 0 &&
					 strcmp(d.e[i].source, e.source) == 0;
			if (d.e[i].list == B &&
			    strcmp(fmt(&d.e[i].target), "192.0.2.7") == 0)
				found +=
					strcmp(d.e[i].reason, "again") == 0 &&
					strcmp(d.e[i].actor, "rule:ssh") == 0 &&
					strcmp(d.e[i].source, "nginx") == 0 &&
					d.e[i].score == 42 &&
					d.e[i].created == T0 + 100;
		}
		is_int(found, 2, "meta: snapshots carry the metadata");
		digest_free(&d);
	}
	free(long_r);
	free(long_a);
	free(long_s);
	free(fit);
	free(over);
	free(u2);
	free(u3);
	free(u4);
	ipw_table_free(t);
}

/* ---- hit counters ---- */

static void hit(struct ipw_table *t, const char *ip, int times)
{
	struct ipw_addr a = addr(ip);
	struct ipw_verdict v;

	for (int i = 0; i < times; i++)
		if (ipw_table_check(t, &a, &v))
			bail("check failed");
}

static void test_hits(void)
{
	/* clang-format off */
	static const struct {
		enum ipw_list list;
		const char *target;
		uint64_t hits;
		int64_t last; /* offset from T0 */
	} want[] = {
		{ B, "192.0.2.2", 9, 101 },
		{ A, "198.51.100.7", 7, 101 },
		{ B, "192.0.2.1", 5, 101 },
		{ B, "2001:db8::3", 2, 100 },
		{ B, "198.51.100.0/24", 1, 101 },
		{ B, "203.0.113.0/24", 0, 0 },
	};
	/* clang-format on */
	struct ipw_table *t = new_table(0);
	struct ipw_entry_info top[10];
	size_t n, bad = 0;

	now_s = T0 + 100;
	for (size_t i = NELEM(want); i-- > 0;)
		if (add(t, want[i].list, want[i].target, 0, 0, 0, NULL))
			bail("setup failed");
	hit(t, "192.0.2.1", 3);
	hit(t, "2001:db8::3", 2);
	now_s++;
	hit(t, "192.0.2.1", 2);
	hit(t, "192.0.2.2", 9);
	hit(t, "198.51.100.7", 7); /* allowed: the allow decides */
	hit(t, "198.51.100.8", 1);
	hit(t, "8.8.8.8", 50); /* no entry */
	hit(t, "2001:db8::4", 50);

	for (size_t i = 0; i < NELEM(want); i++) {
		struct ipw_addr a = addr(want[i].target);
		struct ipw_entry_info e;

		if (ipw_table_get(t, want[i].list, &a, &e) ||
		    e.hits != want[i].hits ||
		    e.last_hit != abs_time(want[i].last)) {
			diag("  %s %s: hits %llu last_hit T0%+lld, want %llu "
			     "T0%+lld",
			     list_str(want[i].list), want[i].target,
			     (unsigned long long)e.hits,
			     (long long)(e.last_hit ? e.last_hit - T0 : 0),
			     (unsigned long long)want[i].hits,
			     (long long)want[i].last);
			bad++;
		}
	}
	is_int(bad, 0, "hits: exact counts and last_hit with hit_sample 1");

	n = ipw_table_top(t, 3, top);
	bad = n != 3;
	for (size_t i = 0; i < n && i < 3; i++)
		bad += top[i].list != want[i].list ||
		       strcmp(fmt(&top[i].target), want[i].target) != 0 ||
		       top[i].hits != want[i].hits;
	is_int(bad, 0, "hits: top(3) is 192.0.2.2, 198.51.100.7, 192.0.2.1");
	if (bad)
		for (size_t i = 0; i < n && i < 3; i++)
			diag("  top[%zu] %s %s hits %llu", i,
			     list_str(top[i].list), fmt(&top[i].target),
			     (unsigned long long)top[i].hits);
	n = ipw_table_top(t, 10, top);
	bad = n < 5 || n > NELEM(want);
	for (size_t i = 0; i < 5 && i < n; i++)
		bad += top[i].list != want[i].list ||
		       strcmp(fmt(&top[i].target), want[i].target) != 0 ||
		       top[i].hits != want[i].hits;
	is_int(bad, 0, "hits: top(10) orders all %zu entries with hits (n=%zu)",
	       (size_t)5, n);
	is_int(ipw_table_top(t, 0, top), 0, "hits: top(0) writes nothing");
	ipw_table_free(t);
}

/* Default sampling: counts are estimates in multiples of hit_sample. */
static void test_hit_sampling(void)
{
	struct ipw_table_opts o;
	struct ipw_table *t = NULL;
	struct ipw_entry_info e, top[3];
	struct ipw_addr a = addr("192.0.2.1"), b = addr("2001:db8::2"),
			c = addr("192.0.2.3");
	size_t n;
	int rc;

	memset(&o, 0, sizeof(o));
	o.clock = fake_clock;
	o.hit_sample = 3;
	rc = ipw_table_new(&t, &o);
	is_int(rc, IPW_EINVAL, "sampling: hit_sample 3 (not a power of 2)");
	if (rc == 0)
		ipw_table_free(t);
	t = NULL;
	o.hit_sample = 1u << 17;
	rc = ipw_table_new(&t, &o);
	is_int(rc, IPW_EINVAL, "sampling: hit_sample 131072 (above 65536)");
	if (rc == 0)
		ipw_table_free(t);
	t = NULL;
	o.hit_sample = 1u << 16;
	rc = ipw_table_new(&t, &o);
	is_int(rc, 0, "sampling: hit_sample 65536");
	ipw_table_free(t);
	t = NULL;

	o.hit_sample = 0; /* 1 in 64 */
	now_s = T0 + 100;
	if (ipw_table_new(&t, &o))
		bail("cannot create a table");
	add(t, B, "192.0.2.1", 0, 0, 0, NULL);
	add(t, B, "2001:db8::2", 0, 0, 0, NULL);
	add(t, B, "192.0.2.3", 0, 0, 0, NULL);
	hit(t, "192.0.2.1", 64000);
	now_s++;
	hit(t, "2001:db8::2", 6400);
	ipw_table_get(t, B, &a, &e);
	/* 1000 expected samples, sd ~32: 20% is over 6 sd */
	ok(e.hits % 64 == 0 && e.hits >= 51200 && e.hits <= 76800,
	   "sampling: 64000 hits estimated within 20%% in steps of 64 "
	   "(%llu)",
	   (unsigned long long)e.hits);
	is_int(e.last_hit, T0 + 100, "sampling: last_hit is set");
	ipw_table_get(t, B, &b, &e);
	ok(e.hits % 64 == 0 && e.hits >= 3200 && e.hits <= 12800,
	   "sampling: 6400 hits estimated within 50%% (%llu)",
	   (unsigned long long)e.hits);
	is_int(e.last_hit, T0 + 101, "sampling: last_hit of the second entry");
	ipw_table_get(t, B, &c, &e);
	ok(e.hits == 0 && e.last_hit == 0,
	   "sampling: an entry never matched has no hits");
	n = ipw_table_top(t, 2, top);
	ok(n == 2 && ipw_addr_equal(&top[0].target, &a) &&
		   ipw_addr_equal(&top[1].target, &b),
	   "sampling: estimates still rank the entries");
	ipw_table_free(t);
}

/* ---- snapshots ---- */

static void test_snapshot(void)
{
	struct ipw_table *t = new_table(0);
	struct ipw_entry_spec specs[200];
	char reasons[200][24];
	struct ipw_snapshot *snap = NULL;
	struct ipw_table_stats st;
	size_t n = 0, bad = 0, missing = 0, count, keybad = 0;
	bool seen[200] = {false};
	enum ipw_change what;

	now_s = T0 + 100;
	ipw_table_snapshot(t, &snap);
	ok(snap && ipw_snapshot_count(snap) == 0,
	   "snapshot: an empty table has an empty snapshot");
	ipw_snapshot_free(snap);
	snap = NULL;

	for (int i = 0; i < 200; i++) {
		struct ipw_entry_spec *s = &specs[n];
		uint8_t b[16] = {0x20, 0x01, 0x0d, 0xb8};

		memset(s, 0, sizeof(*s));
		switch (i % 4) {
		case 0: /* IPv4 host bans */
			ipw_addr_from_v4(&s->target, 0x0a000001u + (i << 8),
					 32);
			s->list = B;
			break;
		case 1: /* IPv6 prefix bans */
			b[4] = (uint8_t)i;
			ipw_addr_from_v6(&s->target, b, 48);
			s->list = B;
			break;
		case 2: /* IPv4 host allows */
			ipw_addr_from_v4(&s->target, 0xc0000200u + i, 32);
			s->list = A;
			break;
		default: /* IPv6 prefix allows, outside the bans */
			b[3] = 0xb9;
			b[5] = (uint8_t)i;
			ipw_addr_from_v6(&s->target, b, 64);
			s->list = A;
			break;
		}
		s->expires = i % 3 == 0 ? 0 : T0 + 200 + i % 50;
		s->score = (uint32_t)i * 7;
		s->flags = (s->list == B && i % 5 == 0) ? IPW_ENTRY_AUTO : 0;
		snprintf(reasons[n], sizeof(reasons[n]), "reason %d", i);
		s->reason = reasons[n];
		s->actor = i % 2 ? "alice" : NULL;
		s->source = "test";
		if (ipw_table_add(t, s, &what, NULL, NULL) ||
		    what != IPW_CHANGE_ADDED) {
			diag("  setup add %s failed", fmt(&s->target));
			bad++;
		}
		n++;
		if (i % 10 == 0)
			now_s++;
	}
	is_int(bad, 0, "snapshot: 200 entries added");
	ipw_table_set_mode(t, IPW_MODE_ALLOWLIST, NULL);
	now_s = T0 + 230; /* some have expired: they are still listed */

	ipw_table_snapshot(t, &snap);
	count = snap ? ipw_snapshot_count(snap) : 0;
	is_int(count, n, "snapshot: every entry, expired ones included");
	bad = 0;
	for (size_t i = 0; i < count; i++) {
		struct ipw_entry_info e;
		struct ipw_entry_key key;
		size_t k;

		ipw_snapshot_get(snap, i, &e);
		ipw_snapshot_key(snap, i, &key);
		if (!ipw_addr_equal(&key.target, &e.target) ||
		    key.list != e.list || key.flags != e.flags ||
		    key.expires != e.expires) {
			diag("  %s: ipw_snapshot_key differs from _get",
			     fmt(&e.target));
			keybad++;
		}
		for (k = 0; k < n; k++)
			if (specs[k].list == e.list &&
			    ipw_addr_equal(&specs[k].target, &e.target))
				break;
		if (k == n) {
			bad++;
			continue;
		}
		if (seen[k]) {
			diag("  %s listed twice", fmt(&e.target));
			bad++;
		}
		seen[k] = true;
		if (e.expires != specs[k].expires ||
		    e.score != specs[k].score || e.flags != specs[k].flags ||
		    e.created != T0 + 100 + (int64_t)((k + 9) / 10) ||
		    strcmp(e.reason, specs[k].reason) != 0 ||
		    strcmp(e.actor, specs[k].actor ? specs[k].actor : "") !=
			    0 ||
		    strcmp(e.source, "test") != 0) {
			if (bad < 5)
				diag("  %s %s: fields differ (created T0%+lld)",
				     list_str(e.list), fmt(&e.target),
				     (long long)(e.created - T0));
			bad++;
		}
	}
	for (size_t k = 0; k < n; k++)
		missing += !seen[k];
	is_int(bad, 0, "snapshot: each entry once, with its fields");
	is_int(missing, 0, "snapshot: no entry missing");
	is_int(keybad, 0, "snapshot: ipw_snapshot_key agrees with _get");
	ipw_table_stats(t, &st);
	is_int(st.entries[0][0] + st.entries[0][1] + st.entries[1][0] +
		       st.entries[1][1],
	       count, "snapshot: count equals the stats count");

	/* the snapshot outlives changes to the table */
	ipw_table_clear(t);
	ipw_table_purge(t, 0, NULL, NULL);
	ipw_table_stats(t, &st);
	is_int(st.entries[0][0] + st.entries[0][1] + st.entries[1][0] +
		       st.entries[1][1],
	       0, "clear: no entries left");
	is_int(ipw_table_mode(t), IPW_MODE_ALLOWLIST, "clear: mode is kept");
	{
		struct ipw_snapshot *s2 = NULL;

		ipw_table_snapshot(t, &s2);
		ok(s2 && ipw_snapshot_count(s2) == 0,
		   "clear: an empty snapshot after");
		ipw_snapshot_free(s2);
	}
	bad = 0;
	for (size_t i = 0; i < count; i++) {
		struct ipw_entry_info e;
		char want[24];

		ipw_snapshot_get(snap, i, &e);
		snprintf(want, sizeof(want), "reason %d", (int)(e.score / 7));
		bad += strcmp(e.reason, want) != 0 ||
		       strcmp(e.source, "test") != 0;
	}
	is_int(bad, 0,
	       "snapshot: still readable, metadata intact, after clear");
	ipw_snapshot_free(snap);
	ipw_table_free(t);
}

/* ---- statistics ---- */

static void test_stats(void)
{
	/* clang-format off */
	static const struct planned plan[] = {
		{ B, "192.0.2.1", 0 }, { B, "192.0.2.2", 0 },
		{ B, "10.0.0.0/8", 0 },
		{ B, "2001:db8::/32", 0 }, { B, "2001:db8:1::/48", 0 },
		{ A, "198.51.100.0/24", 0 },
		{ A, "2001:db9::1", 0 }, { A, "2001:db9::2", 0 },
		{ A, "2001:db9::3", 0 }, { A, "2001:dba::/64", 0 },
	};
	/* clang-format on */
	struct ipw_table *t, *t2 = NULL;
	struct ipw_table_stats st, st0;
	uint64_t small_index = 0;
	size_t bad = 0;

	now_s = T0 + 100;
	t = new_table(1000);
	memset(&st0, 0xa5, sizeof(st0));
	ipw_table_stats(t, &st0);
	ok(total(&st0) == 0 && st0.prefixes[0][0] == 0 &&
		   st0.prefixes[0][1] == 0 && st0.prefixes[1][0] == 0 &&
		   st0.prefixes[1][1] == 0 && st0.max_entries == 1000,
	   "stats: an empty table of cap 1000");
	for (size_t i = 0; i < NELEM(plan); i++)
		bad += add(t, plan[i].list, plan[i].target, 0, 0, 0, NULL) != 0;
	is_int(bad, 0, "stats: setup");
	ipw_table_stats(t, &st);
	ok(st.entries[B][0] == 3 && st.entries[B][1] == 2 &&
		   st.entries[A][0] == 1 && st.entries[A][1] == 4,
	   "stats: entries per list and family (3 2 1 4)");
	ok(st.prefixes[B][0] == 1 && st.prefixes[B][1] == 2 &&
		   st.prefixes[A][0] == 1 && st.prefixes[A][1] == 1,
	   "stats: prefixes per list and family (1 2 1 1)");
	if (st.entries[B][0] != 3 || st.prefixes[B][1] != 2)
		diag("  got entries %llu %llu %llu %llu prefixes %llu %llu "
		     "%llu %llu",
		     (unsigned long long)st.entries[0][0],
		     (unsigned long long)st.entries[0][1],
		     (unsigned long long)st.entries[1][0],
		     (unsigned long long)st.entries[1][1],
		     (unsigned long long)st.prefixes[0][0],
		     (unsigned long long)st.prefixes[0][1],
		     (unsigned long long)st.prefixes[1][0],
		     (unsigned long long)st.prefixes[1][1]);
	ok(st.index_bytes > 0 && st.entry_bytes > 0,
	   "stats: the index and the entries use memory");

	add(t, B, "203.0.113.1", now_s + 1, 0, 0, NULL);
	now_s += 5;
	ipw_table_stats(t, &st);
	is_int(st.entries[B][0], 4, "stats: an expired entry still counts");
	ipw_table_purge(t, 0, NULL, NULL);
	ipw_table_stats(t, &st);
	is_int(st.entries[B][0], 3, "stats: until it is purged");

	ipw_table_free(t);
	t = new_table(0);
	ipw_table_stats(t, &st);
	is_int(st.max_entries, 16777216, "stats: the default cap is 2^24");
	for (uint32_t i = 0; i < 5000; i++) {
		if (i == 10) {
			ipw_table_stats(t, &st);
			small_index = st.index_bytes;
		}
		struct ipw_entry_spec s;
		uint8_t b[16] = {0x20, 0x01, 0x0d, 0xb8};

		memset(&s, 0, sizeof(s));
		s.list = B;
		ipw_addr_from_v4(&s.target, 0x0a000000u + i * 7, 32);
		bad += ipw_table_add(t, &s, NULL, NULL, NULL) != 0;
		b[14] = (uint8_t)(i >> 8);
		b[15] = (uint8_t)i;
		ipw_addr_from_v6(&s.target, b, 128);
		bad += ipw_table_add(t, &s, NULL, NULL, NULL) != 0;
	}
	is_int(bad, 0, "stats: 10000 bans added (with NULL out-parameters)");
	ipw_table_stats(t, &st);
	ok(st.entries[B][0] == 5000 && st.entries[B][1] == 5000 &&
		   st.prefixes[B][0] == 0 && st.prefixes[B][1] == 0,
	   "stats: 5000 + 5000 addresses, no prefixes");
	ok(st.index_bytes > small_index,
	   "stats: the index grows from 20 to 10000 addresses (%llu > %llu)",
	   (unsigned long long)st.index_bytes, (unsigned long long)small_index);
	ipw_table_free(t);

	/* default options: real clock, random key */
	is_int(ipw_table_new(&t2, NULL), 0, "new: NULL options");
	if (t2) {
		struct ipw_addr a = addr("192.0.2.1");
		struct ipw_verdict v;

		ipw_table_stats(t2, &st);
		ok(st.max_entries == 16777216 && total(&st) == 0 &&
			   ipw_table_mode(t2) == IPW_MODE_DENYLIST,
		   "new: empty, default cap, denylist");
		add(t2, B, "192.0.2.1", 0, 0, 0, NULL);
		ok(ipw_table_check(t2, &a, &v) == 0 && v.blocked &&
			   v.reason == IPW_VERDICT_BANNED,
		   "new: a permanent ban blocks with the real clock");
		ipw_table_free(t2);
	}
	ipw_table_free(NULL);
	ok(1, "free(NULL) is a no-op");
}

/* ---- argument errors leave the table unchanged ---- */

static void test_einval(void)
{
	struct ipw_table *t = new_table(0);
	struct ipw_addr zero, bad_plen, host_bits, bad_v6, fam5;
	struct ipw_entry_spec s;
	struct ipw_verdict v;
	enum ipw_change what;
	struct digest d1, d2;
	const char *prefixes[] = {"192.0.2.0/24", "0.0.0.0/0", "::/0",
				  "2001:db8::/127", "10.0.0.0/31"};

	now_s = T0 + 100;
	add(t, B, "192.0.2.0/24", 0, 0, 0, NULL);
	add(t, B, "2001:db8::/32", T0 + 500, 0, 0, NULL);
	add(t, A, "192.0.2.1", 0, 0, 0, NULL);
	digest_take(t, &d1);

	for (size_t i = 0; i < NELEM(prefixes); i++) {
		struct ipw_addr p = addr(prefixes[i]);

		is_int(ipw_table_check(t, &p, &v), IPW_EINVAL,
		       "einval: check of the prefix %s", prefixes[i]);
		is_int(ipw_table_check_at(t, &p, now_s, &v), IPW_EINVAL,
		       "einval: check_at of the prefix %s", prefixes[i]);
	}
	memset(&zero, 0, sizeof(zero));
	bad_plen = addr("192.0.2.7");
	bad_plen.plen = 33;
	host_bits = addr("192.0.2.7");
	host_bits.plen = 24;
	bad_v6 = addr("2001:db8::1");
	bad_v6.plen = 129;
	fam5 = addr("192.0.2.7");
	fam5.family = 5;
	is_int(ipw_table_check(t, &zero, &v), IPW_EINVAL,
	       "einval: check of a value with no family");
	is_int(ipw_table_check(t, &fam5, &v), IPW_EINVAL,
	       "einval: check of a value with family 5");
	is_int(ipw_table_check(t, &bad_plen, &v), IPW_EINVAL,
	       "einval: check of an IPv4 /33");

	s = spec_of(B, "198.51.100.1", 0, 0, 0);
	s.list = (enum ipw_list)2;
	is_int(ipw_table_add(t, &s, &what, NULL, NULL), IPW_EINVAL,
	       "einval: add to list 2");
	s.list = (enum ipw_list) - 1;
	is_int(ipw_table_add(t, &s, &what, NULL, NULL), IPW_EINVAL,
	       "einval: add to list -1");
	s.list = B;
	s.flags = 1u << 7;
	is_int(ipw_table_add(t, &s, &what, NULL, NULL), IPW_EINVAL,
	       "einval: add with an unknown flag");
	s.flags = 0;
	s.target = zero;
	is_int(ipw_table_add(t, &s, &what, NULL, NULL), IPW_EINVAL,
	       "einval: add of a target with no family");
	s.target = bad_plen;
	is_int(ipw_table_add(t, &s, &what, NULL, NULL), IPW_EINVAL,
	       "einval: add of an IPv4 /33");
	s.target = bad_v6;
	is_int(ipw_table_add(t, &s, &what, NULL, NULL), IPW_EINVAL,
	       "einval: add of an IPv6 /129");
	s.target = host_bits;
	is_int(ipw_table_add(t, &s, &what, NULL, NULL), IPW_EINVAL,
	       "einval: add of a prefix with host bits set");
	s.target = fam5;
	is_int(ipw_table_add(t, &s, &what, NULL, NULL), IPW_EINVAL,
	       "einval: add of a target of family 5");
	{
		struct ipw_addr a = addr("192.0.2.0/24");

		is_int(ipw_table_del(t, (enum ipw_list)2, &a, &what, NULL),
		       IPW_EINVAL, "einval: del from list 2");
		is_int(ipw_table_del(t, B, &zero, &what, NULL), IPW_EINVAL,
		       "einval: del of a target with no family");
		is_int(ipw_table_del(t, B, &bad_plen, &what, NULL), IPW_EINVAL,
		       "einval: del of an IPv4 /33");
	}
	is_int(ipw_table_set_mode(t, (enum ipw_mode)2, &what), IPW_EINVAL,
	       "einval: mode 2");
	s = spec_of(B, "198.51.100.1", -1, 0, 0);
	is_int(ipw_table_add(t, &s, &what, NULL, NULL), IPW_ETABLE_EXPIRED,
	       "expired: a negative expiry is in the past");
	s.expires = INT64_MIN;
	is_int(ipw_table_add(t, &s, &what, NULL, NULL), IPW_ETABLE_EXPIRED,
	       "expired: INT64_MIN is in the past");
	digest_take(t, &d2);
	ok(digest_same(&d1, &d2), "einval: none of these changed the table");
	digest_free(&d1);
	digest_free(&d2);

	/*
	 * Expiries are kept as unsigned 32-bit seconds: the last one accepted
	 * is 2106-02-07 06:28:15 UTC; one second later is IPW_ERANGE and
	 * changes nothing.
	 */
	s = spec_of(B, "198.51.100.9", INT64_C(4294967296), 0, 0);
	digest_take(t, &d1);
	is_int(ipw_table_add(t, &s, &what, NULL, NULL), IPW_ERANGE,
	       "expiry after 2106-02-07 is out of range");
	digest_take(t, &d2);
	ok(digest_same(&d1, &d2), "erange: the table is unchanged");
	digest_free(&d1);
	digest_free(&d2);
	s = spec_of(B, "198.51.100.9", INT64_C(4294967295), 0, 0);
	is_int(ipw_table_add(t, &s, &what, NULL, NULL), 0,
	       "the last representable expiry is accepted");
	{
		struct ipw_entry_info e;

		ok(ipw_table_get(t, B, &s.target, &e) == 0 &&
			   e.expires == INT64_C(4294967295),
		   "and kept as given");
		ok(ipw_table_check(t, &s.target, &v) == 0 && v.blocked &&
			   v.expires == INT64_C(4294967295),
		   "and blocks");
	}
	ipw_table_free(t);
}

static void test_names(void)
{
	const char *seen[8] = {0};
	int dup = 0, null = 0;

	for (int c = IPW_CHANGE_ADDED; c <= IPW_CHANGE_MODE; c++) {
		const char *n = ipw_change_name((enum ipw_change)c);

		null += n == NULL || !*n;
		for (int k = IPW_CHANGE_ADDED; k < c && n; k++)
			dup += seen[k] && strcmp(seen[k], n) == 0;
		seen[c] = n;
	}
	ok(!null && !dup, "names: every change has its own name");
	ok(ipw_mode_name(IPW_MODE_DENYLIST) &&
		   ipw_mode_name(IPW_MODE_ALLOWLIST) &&
		   strcmp(ipw_mode_name(IPW_MODE_DENYLIST),
			  ipw_mode_name(IPW_MODE_ALLOWLIST)) != 0,
	   "names: both modes have their own name");
}

/*
 * The expiry wheel's far levels: TTLs from seconds to years land in level
 * 0, level 1 and the overflow list, move down as time passes, and each
 * entry is purged in the purge that first runs at or after its expiry,
 * never before. Then an entry extended 100,000 times (stale references
 * pile up and force a rebuild) still expires exactly once, on time.
 */
struct wheel_case {
	int64_t ttl;
	int64_t exp;
	bool gone;
};

static void count_purged(const struct ipw_entry_info *e, void *ctx)
{
	(*(size_t *)ctx)++;
	(void)e;
}

static void test_wheel_levels(void)
{
	static const int64_t ttls[] = {
		1,
		2,
		4095,
		4096,
		4097,
		8191,
		8192,
		65536,
		86400,
		1000000,
		16773120,
		16777216,
		16781312,
		20000000,
		31536000,
		100000000,
		3 * 86400 + 7,
	};
	struct wheel_case c[NELEM(ttls)];
	struct ipw_table *t = new_table(0);
	int64_t steps[] = {1,	     1,	      4093, 1,	      1,	1,
			   4094,     1,	      1,    57344,    20864,	913600,
			   15773120, 3226880, 1,    11535999, 68463104, 894};
	size_t early = 0, late = 0, purged = 0;

	now_s = T0;
	for (size_t i = 0; i < NELEM(ttls); i++) {
		char target[32];

		snprintf(target, sizeof(target), "10.9.%zu.1", i);
		c[i].ttl = ttls[i];
		c[i].exp = T0 + ttls[i];
		c[i].gone = false;
		if (add(t, B, target, c[i].exp, 0, 0, NULL))
			early++;
	}
	for (size_t k = 0; k < NELEM(steps); k++) {
		size_t n = 0;

		now_s += steps[k];
		n = ipw_table_purge(t, 0, count_purged, &purged);
		(void)n;
		for (size_t i = 0; i < NELEM(ttls); i++) {
			char target[32];
			struct ipw_addr a;
			struct ipw_entry_info e;
			bool present;

			snprintf(target, sizeof(target), "10.9.%zu.1", i);
			ipw_addr_parse_str(target, 0, &a);
			present = ipw_table_get(t, B, &a, &e) == 0;
			if (present && c[i].exp <= now_s) {
				diag("ttl %lld: still there at T0%+lld",
				     (long long)c[i].ttl,
				     (long long)(now_s - T0));
				late++;
			}
			if (!present && c[i].exp > now_s && !c[i].gone) {
				diag("ttl %lld: purged early at T0%+lld",
				     (long long)c[i].ttl,
				     (long long)(now_s - T0));
				early++;
			}
			if (!present)
				c[i].gone = true;
		}
	}
	is_int(early, 0,
	       "wheel: no entry purged before its expiry (level 0, "
	       "level 1 and overflow TTLs)");
	is_int(late, 0,
	       "wheel: every entry purged in the first purge at or "
	       "after its expiry");
	is_int(purged, NELEM(ttls), "wheel: each entry purged exactly once");
	ipw_table_free(t);

	/* Many extensions of one entry, then expiry. */
	t = new_table(0);
	now_s = T0;
	purged = 0;
	for (int i = 1; i <= 100000; i++)
		add(t, B, "10.8.0.1", T0 + 10 + i, 0, 0, NULL);
	add(t, B, "10.8.0.2", T0 + 50, 0, 0, NULL);
	now_s = T0 + 60;
	is_int(ipw_table_purge(t, 0, count_purged, &purged), 1,
	       "wheel: after 100000 extensions only the other entry is due");
	now_s = T0 + 10 + 100000 - 1;
	is_int(ipw_table_purge(t, 0, count_purged, &purged), 0,
	       "wheel: the extended entry is not due a second early");
	now_s = T0 + 10 + 100000;
	is_int(ipw_table_purge(t, 0, count_purged, &purged), 1,
	       "wheel: it is purged exactly at its last expiry");
	is_int(purged, 2, "wheel: two entries purged in all, once each");
	ipw_table_free(t);
}

/*
 * HashDoS. Someone who knew the hash key could pick addresses that all
 * start probing in the same group, turning lookups into long scans. The
 * table's defence: an insert that meets a run of more than 32 groups
 * rebuilds the index with a fresh random key. Here the test plays the
 * attacker who knows the key (a fixed test key): 700 IPv4 addresses whose
 * probe starts in one group at the index's size for 700 entries. Every
 * one must still be stored and found, and the table must have rekeyed.
 */
static void test_hashdos(void)
{
	const uint64_t key[2] = {UINT64_C(0x0123456789abcdef),
				 UINT64_C(0xfedcba9876543210)};
	const uint64_t mask = 2048 - 1; /* capacity for 700 (x5/3 -> 2048) */
	uint32_t picked[700];
	size_t n = 0, missing = 0;
	struct ipw_table *t = new_table(0);
	struct ipw_table_stats st;
	struct ipw_verdict v;

	for (uint32_t x = 1; n < NELEM(picked); x++) {
		uint32_t a = x * 2654435761u;

		if ((((ipw_hash_u32(a, key) >> 7) & mask) >> 4) == 5)
			picked[n++] = a;
	}
	now_s = T0;
	for (size_t i = 0; i < n; i++) {
		struct ipw_entry_spec s;

		memset(&s, 0, sizeof(s));
		s.list = B;
		ipw_addr_from_v4(&s.target, picked[i], 32);
		if (ipw_table_add(t, &s, NULL, NULL, NULL) != 0)
			missing++;
	}
	for (size_t i = 0; i < n; i++) {
		struct ipw_addr a;

		ipw_addr_from_v4(&a, picked[i], 32);
		if (ipw_table_check(t, &a, &v) != 0 || !v.blocked)
			missing++;
	}
	ipw_table_stats(t, &st);
	is_int(missing, 0,
	       "hashdos: %zu colliding addresses all stored and "
	       "found",
	       n);
	ok(st.rekeys >= 1, "hashdos: the index rekeyed (%llu rekeys)",
	   (unsigned long long)st.rekeys);
	ipw_table_free(t);

	/* With default options the key comes from getrandom(): the set
	 * crafted for the test key is no attack on such a table. */
	{
		struct ipw_table *r;
		struct ipw_table_opts o;

		memset(&o, 0, sizeof(o));
		o.clock = fake_clock;
		if (ipw_table_new(&r, &o) != 0)
			bail("cannot create a table");
		for (size_t i = 0; i < n; i++) {
			struct ipw_entry_spec s;

			memset(&s, 0, sizeof(s));
			s.list = B;
			ipw_addr_from_v4(&s.target, picked[i], 32);
			ipw_table_add(r, &s, NULL, NULL, NULL);
		}
		ipw_table_stats(r, &st);
		is_int(st.rekeys, 0,
		       "hashdos: with a random key the same addresses are no "
		       "attack (no rekey)");
		ipw_table_free(r);
	}
}

/*
 * ipw_table_add_batch() must do exactly what the same ipw_table_add()
 * calls do one by one: the same return codes, the same changes, the same
 * table afterwards. 3000 specs mix new, repeated (extended / unchanged),
 * covered, expired, out-of-range and invalid ones, both families, exact
 * and prefixes, bans and allows.
 */
static void test_batch(void)
{
	enum { N = 3000 };
	static struct ipw_entry_spec specs[N];
	static int rc1[N], rc2[N];
	static enum ipw_change w1[N], w2[N];
	struct ipw_table *one = new_table(0), *many = new_table(0);
	struct digest d1, d2;
	uint64_t r = 12345;
	size_t bad_rc = 0, bad_what = 0, failed = 0;
	int failed_batch;

	now_s = T0;
	for (size_t i = 0; i < N; i++) {
		struct ipw_entry_spec *sp = &specs[i];
		uint32_t x;

		r = r * 6364136223846793005ull + 1442695040888963407ull;
		x = (uint32_t)(r >> 33);
		memset(sp, 0, sizeof(*sp));
		sp->list = (x % 7 == 0) ? A : B;
		sp->expires = (x % 5 == 0) ? 0 : T0 + 10 + (int64_t)(x % 50);
		sp->score = x % 4;
		if (x % 3 == 0) {
			uint8_t b[16] = {0x20, 0x01, 0x0d, 0xb8,      0, 0,
					 0,    0,    0,	   0,	      0, 0,
					 0,    0,    0,	   (uint8_t)x};

			b[8] = (uint8_t)(x >> 8) & 3;
			ipw_addr_from_v6(&sp->target, b, x % 2 ? 128 : 120);
		} else {
			ipw_addr_from_v4(&sp->target,
					 0xc6336400u | ((x >> 4) & 0x1ff),
					 x % 4 ? 32 : 28);
		}
		if (sp->list ==
		    A) /* allows of one address: some bans covered */
			sp->target.plen = (uint8_t)ipw_addr_maxlen(&sp->target);
		switch (x % 41) { /* a few bad ones */
		case 0:
			sp->expires = T0 - 5; /* expired */
			break;
		case 1:
			sp->target.plen = 40; /* invalid for IPv4 */
			break;
		case 2:
			sp->expires = INT64_C(1) << 40; /* out of range */
			break;
		default:
			break;
		}
	}
	for (size_t i = 0; i < N; i++) {
		rc1[i] = ipw_table_add(one, &specs[i], &w1[i], NULL, NULL);
		failed += rc1[i] != 0;
		if (rc1[i])
			w1[i] = 0;
	}
	failed_batch = ipw_table_add_batch(many, specs, N, rc2, w2, NULL, NULL);
	for (size_t i = 0; i < N; i++) {
		bad_rc += rc1[i] != rc2[i];
		bad_what += rc1[i] == 0 && w1[i] != w2[i];
	}
	is_int(bad_rc, 0, "batch: same return code as one by one for %d specs",
	       N);
	is_int(bad_what, 0, "batch: same change reported for every spec");
	is_int(failed_batch, failed, "batch: returns the number that failed");
	{
		int kinds[8] = {0};

		for (size_t i = 0; i < N; i++)
			kinds[rc1[i] == 0		   ? 0 :
			      rc1[i] == IPW_ETABLE_COVERED ? 1 :
			      rc1[i] == IPW_ETABLE_EXPIRED ? 2 :
			      rc1[i] == IPW_ERANGE	   ? 3 :
			      rc1[i] == IPW_EINVAL	   ? 4 :
							     5]++;
		diag("batch mix: ok %d covered %d expired %d erange %d einval "
		     "%d other %d",
		     kinds[0], kinds[1], kinds[2], kinds[3], kinds[4],
		     kinds[5]);
		ok(kinds[0] > N / 2 && kinds[1] && kinds[2] && kinds[3] &&
			   kinds[4] && !kinds[5],
		   "batch: the mix had successes and every kind of failure");
	}
	digest_take(one, &d1);
	digest_take(many, &d2);
	ok(digest_same(&d1, &d2), "batch: the two tables end up equal");
	digest_free(&d1);
	digest_free(&d2);
	ipw_table_free(one);
	ipw_table_free(many);
}

/* ipw_table_reserve(): after it, adding that many addresses rebuilds no
 * index (index_bytes stays the same) and every one is found. */
static void test_reserve(void)
{
	struct ipw_table *t = new_table(0);
	struct ipw_table_stats st0, st1;
	struct ipw_verdict v;
	size_t missing = 0;

	now_s = T0;
	is_int(ipw_table_reserve(t, (enum ipw_list)7, IPW_AF_INET, 10),
	       IPW_EINVAL, "reserve: bad list");
	is_int(ipw_table_reserve(t, B, IPW_AF_NONE, 10), IPW_EINVAL,
	       "reserve: bad family");
	is_int(ipw_table_reserve(t, B, IPW_AF_INET, 50000), 0,
	       "reserve: room for 50000 IPv4 bans");
	ipw_table_stats(t, &st0);
	for (uint32_t i = 0; i < 50000; i++) {
		struct ipw_entry_spec s;

		memset(&s, 0, sizeof(s));
		s.list = B;
		ipw_addr_from_v4(&s.target, 0x0a000000u + i * 7, 32);
		if (ipw_table_add(t, &s, NULL, NULL, NULL))
			missing++;
	}
	ipw_table_stats(t, &st1);
	for (uint32_t i = 0; i < 50000; i++) {
		struct ipw_addr a;

		ipw_addr_from_v4(&a, 0x0a000000u + i * 7, 32);
		if (ipw_table_check(t, &a, &v) || !v.blocked)
			missing++;
	}
	is_int(missing, 0, "reserve: all 50000 added and found");
	ok(st0.index_bytes > 0 && st1.index_bytes == st0.index_bytes,
	   "reserve: no index grew while adding them (%llu bytes)",
	   (unsigned long long)st1.index_bytes);
	ipw_table_free(t);
}

/* entry_bytes counts the metadata strings of live entries: up by at least
 * their length when an entry with a long reason comes, down again when it
 * goes, and a merge that replaces the reason moves it by the difference. */
static void test_meta_bytes(void)
{
	struct ipw_table *t = new_table(0);
	struct ipw_table_stats st0, st1, st2, st3;
	struct ipw_entry_spec s;
	char reason[201];
	struct ipw_addr a;

	now_s = T0;
	memset(reason, 'r', 200);
	reason[200] = '\0';
	add(t, B, "192.0.2.1", 0, 0, 0, NULL); /* the slab exists already */
	ipw_table_stats(t, &st0);
	memset(&s, 0, sizeof(s));
	s.list = B;
	s.reason = reason;
	s.score = 1;
	ipw_addr_parse_str("192.0.2.2", 0, &s.target);
	ipw_table_add(t, &s, NULL, NULL, NULL);
	ipw_table_stats(t, &st1);
	ok(st1.entry_bytes >= st0.entry_bytes + 200,
	   "meta bytes: a 200-byte reason is counted (%llu -> %llu)",
	   (unsigned long long)st0.entry_bytes,
	   (unsigned long long)st1.entry_bytes);
	s.reason = "short";
	s.score = 2; /* a change, so the reason is replaced */
	ipw_table_add(t, &s, NULL, NULL, NULL);
	ipw_table_stats(t, &st2);
	is_int(st1.entry_bytes - st2.entry_bytes, 195,
	       "meta bytes: replacing it by a 5-byte reason gives back 195");
	ipw_addr_parse_str("192.0.2.2", 0, &a);
	ipw_table_del(t, B, &a, NULL, NULL);
	ipw_table_stats(t, &st3);
	is_int(st3.entry_bytes, st0.entry_bytes,
	       "meta bytes: deleting the entry gives back all of it");
	ipw_table_free(t);
}

/* ---- ipw_table_put(): restoring known state ---- */

/* An entry as a store would hold it; strings empty. */
static struct ipw_entry_info put_info(enum ipw_list list, const char *target,
				      int64_t expires, int64_t created,
				      uint32_t score, unsigned flags,
				      uint64_t hits, int64_t last_hit)
{
	struct ipw_entry_info e;

	memset(&e, 0, sizeof(e));
	e.list = list;
	e.target = addr(target);
	e.expires = expires;
	e.created = created;
	e.score = score;
	e.flags = flags;
	e.hits = hits;
	e.last_hit = last_hit;
	return e;
}

static void put_strings(struct ipw_entry_info *e, const char *reason,
			const char *actor, const char *source)
{
	snprintf(e->reason, sizeof(e->reason), "%s", reason);
	snprintf(e->actor, sizeof(e->actor), "%s", actor);
	snprintf(e->source, sizeof(e->source), "%s", source);
}

/* Every field equal, hit counters included. */
static bool info_exact(const struct ipw_entry_info *a,
		       const struct ipw_entry_info *b)
{
	return info_same(a, b) && a->hits == b->hits &&
	       a->last_hit == b->last_hit;
}

static void diag_info(const char *who, const struct ipw_entry_info *e)
{
	diag("  %s: %s %s expires %lld created %lld score %u flags %u hits "
	     "%llu last_hit %lld reason \"%.30s\" actor \"%.30s\" source "
	     "\"%.30s\"",
	     who, list_str(e->list), fmt(&e->target), (long long)e->expires,
	     (long long)e->created, e->score, e->flags,
	     (unsigned long long)e->hits, (long long)e->last_hit, e->reason,
	     e->actor, e->source);
}

/* Same entries, every field equal (hit counters included), same mode. */
static bool digest_exact(const struct digest *a, const struct digest *b)
{
	if (!digest_same(a, b))
		return false;
	for (size_t i = 0; i < a->n; i++)
		if (!info_exact(&a->e[i], &b->e[i]))
			return false;
	return true;
}

/* ipw_table_get() of @want's list and target returns exactly @want. */
static bool get_exact(struct ipw_table *t, const struct ipw_entry_info *want)
{
	struct ipw_entry_info got;
	int rc;

	memset(&got, 0x5a, sizeof(got));
	rc = ipw_table_get(t, want->list, &want->target, &got);
	if (rc == 0 && info_exact(&got, want))
		return true;
	if (rc)
		diag("  get: %s", ipw_errname(rc));
	else
		diag_info("got ", &got);
	diag_info("want", want);
	return false;
}

/* The verdict for @ip: @reason, decided by @by (NULL: none) expiring at
 * @exp (absolute). */
static bool verdict_is(struct ipw_table *t, const char *ip, int reason,
		       const char *by, int64_t exp)
{
	struct ipw_addr a = addr(ip);
	struct ipw_verdict v;
	bool pass;

	memset(&v, 0xa5, sizeof(v));
	pass = ipw_table_check(t, &a, &v) == 0 && v.reason == reason;
	if (pass && by) {
		struct ipw_addr b = addr(by);

		pass = ipw_addr_equal(&v.entry, &b) && v.expires == exp;
	}
	if (!pass)
		diag("  check %s: %s by %s expires %lld; want %s by %s "
		     "expires %lld",
		     ip, reason_str(v.reason), fmt(&v.entry),
		     (long long)v.expires, reason_str(reason), by ? by : "-",
		     (long long)exp);
	return pass;
}

struct put_pre {
	enum ipw_list list;
	const char *target; /* NULL: none */
	int64_t exp;	    /* offset from T0, 0 = permanent */
	uint32_t score;
	unsigned flags;
};

enum put_mangle {
	PM_NONE = 0,
	PM_LIST2,
	PM_LIST_NEG,
	PM_FLAG7,
	PM_FLAG1,
	PM_PLEN33,
	PM_HOST_BITS,
	PM_FAMILY0,
};

struct put_case {
	const char *name;
	uint32_t cap;	       /* 0: default */
	struct put_pre pre[2]; /* added first, at T0+100 */
	int64_t tick;	       /* then the clock moves this far */
	enum ipw_list list;    /* the put */
	const char *target;
	int64_t exp, created; /* absolute */
	uint32_t score;
	unsigned flags;
	uint64_t hits;
	int64_t last_hit; /* absolute */
	enum put_mangle mangle;
	int rc;
	const char *probe; /* then a check of this address */
	int verdict;
	const char *by;
	int64_t byexp; /* absolute */
};

#define NOW	  (T0 + 100)
#define AUTO_F	  IPW_ENTRY_AUTO
#define V_BANNED  IPW_VERDICT_BANNED
#define V_ALLOWED IPW_VERDICT_ALLOWED
#define V_NONE	  IPW_VERDICT_NO_MATCH
#define U32_END	  INT64_C(4294967295)

/* clang-format off */
static const struct put_case put_cases[] = {
	/* new entries */
	{ .name = "new IPv4 address, every field", .list = B,
	  .target = "192.0.2.1", .exp = T0 + 500, .created = T0 + 7,
	  .score = 42, .flags = AUTO_F, .hits = 1234, .last_hit = T0 + 99,
	  .probe = "192.0.2.1", .verdict = V_BANNED, .by = "192.0.2.1",
	  .byexp = T0 + 500 },
	{ .name = "new IPv6 address, permanent", .list = B,
	  .target = "2001:db8::1", .exp = 0, .created = T0 + 1, .score = 3,
	  .probe = "2001:db8::1", .verdict = V_BANNED, .by = "2001:db8::1" },
	{ .name = "new allow", .list = A, .target = "198.51.100.7",
	  .exp = T0 + 300, .created = T0, .hits = 5, .last_hit = T0 + 50,
	  .probe = "198.51.100.7", .verdict = V_ALLOWED,
	  .by = "198.51.100.7", .byexp = T0 + 300 },
	{ .name = "created 0, no hits, hits at the top of their range",
	  .list = B, .target = "192.0.2.2", .exp = T0 + 400,
	  .hits = UINT64_MAX, .last_hit = U32_END, .probe = "192.0.2.2",
	  .verdict = V_BANNED, .by = "192.0.2.2", .byexp = T0 + 400 },
	{ .name = "the last representable expiry and creation time",
	  .list = B, .target = "192.0.2.3", .exp = U32_END,
	  .created = U32_END, .probe = "192.0.2.3", .verdict = V_BANNED,
	  .by = "192.0.2.3", .byexp = U32_END },

	/* replacing: no merge */
	{ .name = "replace: a lower expiry and score are kept",
	  .pre = {{ B, "192.0.2.1", 1000, 9, 0 }}, .list = B,
	  .target = "192.0.2.1", .exp = T0 + 300, .created = T0 + 20,
	  .score = 2, .hits = 77, .last_hit = T0 + 80,
	  .probe = "192.0.2.1", .verdict = V_BANNED, .by = "192.0.2.1",
	  .byexp = T0 + 300 },
	{ .name = "replace: permanent becomes expiring",
	  .pre = {{ B, "2001:db8::5", 0, 5, 0 }}, .list = B,
	  .target = "2001:db8::5", .exp = T0 + 200, .created = T0 + 1,
	  .probe = "2001:db8::5", .verdict = V_BANNED, .by = "2001:db8::5",
	  .byexp = T0 + 200 },
	{ .name = "replace: expiring becomes permanent, auto becomes manual",
	  .pre = {{ B, "192.0.2.1", 1000, 0, AUTO_F }}, .list = B,
	  .target = "192.0.2.1", .exp = 0, .created = T0 + 3,
	  .probe = "192.0.2.1", .verdict = V_BANNED, .by = "192.0.2.1" },
	{ .name = "replace: manual becomes auto",
	  .pre = {{ B, "192.0.2.1", 1000, 0, 0 }}, .list = B,
	  .target = "192.0.2.1", .exp = T0 + 900, .created = T0 + 3,
	  .flags = AUTO_F, .probe = "192.0.2.1", .verdict = V_BANNED,
	  .by = "192.0.2.1", .byexp = T0 + 900 },

	/* expired entries */
	{ .name = "new, already expired: stored, never matches", .list = B,
	  .target = "192.0.2.9", .exp = T0 + 40, .created = T0 + 10,
	  .probe = "192.0.2.9", .verdict = V_NONE },
	{ .name = "new, expiring exactly now", .list = B,
	  .target = "2001:db8::9", .exp = NOW, .created = T0,
	  .probe = "2001:db8::9", .verdict = V_NONE },
	{ .name = "replace a live entry by an expired one",
	  .pre = {{ B, "192.0.2.1", 1000, 0, 0 }}, .list = B,
	  .target = "192.0.2.1", .exp = NOW - 1, .created = T0,
	  .probe = "192.0.2.1", .verdict = V_NONE },
	{ .name = "over an expired entry not yet purged",
	  .pre = {{ B, "192.0.2.1", 110, 8, AUTO_F }}, .tick = 20, .list = B,
	  .target = "192.0.2.1", .exp = T0 + 900, .created = T0 + 3,
	  .score = 1, .hits = 9, .last_hit = T0 + 105,
	  .probe = "192.0.2.1", .verdict = V_BANNED, .by = "192.0.2.1",
	  .byexp = T0 + 900 },
	{ .name = "over an expired entry, expired again",
	  .pre = {{ B, "192.0.2.1", 110, 0, 0 }}, .tick = 20, .list = B,
	  .target = "192.0.2.1", .exp = T0 + 115, .created = T0 + 100,
	  .probe = "192.0.2.1", .verdict = V_NONE },

	/* no coverage check */
	{ .name = "a ban inside an allow is stored (never COVERED)",
	  .pre = {{ A, "192.0.2.0/24", 0, 0, 0 }}, .list = B,
	  .target = "192.0.2.7", .exp = T0 + 500, .created = T0,
	  .probe = "192.0.2.7", .verdict = V_ALLOWED, .by = "192.0.2.0/24" },

	/* prefixes */
	{ .name = "IPv4 /16 inside a /8", .pre = {{ B, "10.0.0.0/8", 0, 0, 0 }},
	  .list = B, .target = "10.1.0.0/16", .exp = T0 + 600,
	  .probe = "10.1.2.3", .verdict = V_BANNED, .by = "10.1.0.0/16",
	  .byexp = T0 + 600 },
	{ .name = "IPv4 /27 inside a /16",
	  .pre = {{ B, "10.1.0.0/16", 0, 0, 0 }}, .list = B,
	  .target = "10.1.2.0/27", .exp = T0 + 600, .probe = "10.1.2.17",
	  .verdict = V_BANNED, .by = "10.1.2.0/27", .byexp = T0 + 600 },
	{ .name = "IPv4 /16 expired: the /8 decides",
	  .pre = {{ B, "10.0.0.0/8", 0, 0, 0 }}, .list = B,
	  .target = "10.1.0.0/16", .exp = T0 + 50, .probe = "10.1.2.3",
	  .verdict = V_BANNED, .by = "10.0.0.0/8" },
	{ .name = "IPv4 /16 replaced by an expired one: the /8 decides",
	  .pre = {{ B, "10.0.0.0/8", 0, 0, 0 }, { B, "10.1.0.0/16", 0, 0, 0 }},
	  .list = B, .target = "10.1.0.0/16", .exp = T0 + 90,
	  .probe = "10.1.2.3", .verdict = V_BANNED, .by = "10.0.0.0/8" },
	{ .name = "IPv4 /0", .list = B, .target = "0.0.0.0/0",
	  .probe = "203.0.113.1", .verdict = V_BANNED, .by = "0.0.0.0/0" },
	{ .name = "IPv6 /48 inside a /32",
	  .pre = {{ B, "2001:db8::/32", 0, 0, 0 }}, .list = B,
	  .target = "2001:db8:1::/48", .exp = T0 + 600,
	  .probe = "2001:db8:1::5", .verdict = V_BANNED,
	  .by = "2001:db8:1::/48", .byexp = T0 + 600 },
	{ .name = "IPv6 /100 inside a /48",
	  .pre = {{ B, "2001:db8:1::/48", 0, 0, 0 }}, .list = B,
	  .target = "2001:db8:1:2::/100", .exp = T0 + 600,
	  .probe = "2001:db8:1:2::7", .verdict = V_BANNED,
	  .by = "2001:db8:1:2::/100", .byexp = T0 + 600 },
	{ .name = "IPv6 /0", .list = B, .target = "::/0", .exp = T0 + 600,
	  .probe = "2001:db8::99", .verdict = V_BANNED, .by = "::/0",
	  .byexp = T0 + 600 },
	{ .name = "IPv6 allow /64 over a ban /48",
	  .pre = {{ B, "2001:db8:1::/48", 0, 0, 0 }}, .list = A,
	  .target = "2001:db8:1:2::/64", .exp = T0 + 600,
	  .probe = "2001:db8:1:2::7", .verdict = V_ALLOWED,
	  .by = "2001:db8:1:2::/64", .byexp = T0 + 600 },

	/* the cap */
	{ .name = "full: replacing needs no room", .cap = 2,
	  .pre = {{ B, "192.0.2.1", 1000, 0, 0 }, { B, "192.0.2.2", 0, 0, 0 }},
	  .list = B, .target = "192.0.2.1", .exp = T0 + 200,
	  .probe = "192.0.2.1", .verdict = V_BANNED, .by = "192.0.2.1",
	  .byexp = T0 + 200 },
	{ .name = "full: a new entry is refused", .cap = 2,
	  .pre = {{ B, "192.0.2.1", 1000, 0, 0 }, { B, "192.0.2.2", 0, 0, 0 }},
	  .list = B, .target = "192.0.2.3", .rc = IPW_ETABLE_FULL },
	{ .name = "full: a manual put evicts no auto entry", .cap = 2,
	  .pre = {{ B, "192.0.2.1", 1000, 0, AUTO_F },
		  { B, "192.0.2.2", 1000, 0, AUTO_F }},
	  .list = A, .target = "10.0.0.0/8", .rc = IPW_ETABLE_FULL },

	/* errors */
	{ .name = "list 2", .list = B, .target = "192.0.2.1",
	  .mangle = PM_LIST2, .rc = IPW_EINVAL },
	{ .name = "list -1", .list = B, .target = "192.0.2.1",
	  .mangle = PM_LIST_NEG, .rc = IPW_EINVAL },
	{ .name = "an unknown flag (1 << 7)", .list = B, .target = "192.0.2.1",
	  .mangle = PM_FLAG7, .rc = IPW_EINVAL },
	{ .name = "an unknown flag (1 << 1) over an existing entry",
	  .pre = {{ B, "192.0.2.1", 1000, 0, 0 }}, .list = B,
	  .target = "192.0.2.1", .mangle = PM_FLAG1, .rc = IPW_EINVAL },
	{ .name = "an IPv4 /33", .list = B, .target = "192.0.2.1",
	  .mangle = PM_PLEN33, .rc = IPW_EINVAL },
	{ .name = "a prefix with host bits set", .list = B,
	  .target = "192.0.2.0/24", .mangle = PM_HOST_BITS, .rc = IPW_EINVAL },
	{ .name = "a target with no family", .list = B, .target = "192.0.2.1",
	  .mangle = PM_FAMILY0, .rc = IPW_EINVAL },
	{ .name = "expires -1", .list = B, .target = "192.0.2.1", .exp = -1,
	  .rc = IPW_ERANGE },
	{ .name = "expires INT64_MIN over an existing entry",
	  .pre = {{ B, "192.0.2.1", 1000, 0, 0 }}, .list = B,
	  .target = "192.0.2.1", .exp = INT64_MIN, .rc = IPW_ERANGE },
	{ .name = "expires after 2106", .list = B, .target = "192.0.2.1",
	  .exp = U32_END + 1, .rc = IPW_ERANGE },
	{ .name = "created -1", .list = B, .target = "192.0.2.1",
	  .created = -1, .rc = IPW_ERANGE },
	{ .name = "created after 2106 over an existing entry",
	  .pre = {{ B, "192.0.2.1", 1000, 0, 0 }}, .list = B,
	  .target = "192.0.2.1", .created = U32_END + 1, .rc = IPW_ERANGE },
	{ .name = "last_hit -1", .list = B, .target = "192.0.2.1",
	  .last_hit = -1, .rc = IPW_ERANGE },
	{ .name = "last_hit after 2106", .list = B, .target = "192.0.2.1",
	  .last_hit = U32_END + 1, .rc = IPW_ERANGE },
};
/* clang-format on */

static void run_put_case(const struct put_case *c)
{
	struct ipw_table *t = new_table(c->cap);
	struct ipw_entry_info e;
	struct digest d1, d2;
	int rc;

	now_s = NOW;
	for (size_t i = 0; i < NELEM(c->pre) && c->pre[i].target; i++) {
		const struct put_pre *p = &c->pre[i];

		if (add(t, p->list, p->target, abs_time(p->exp), p->score,
			p->flags, NULL))
			bail("put: a setup add failed");
	}
	now_s += c->tick;
	e = put_info(c->list, c->target, c->exp, c->created, c->score, c->flags,
		     c->hits, c->last_hit);
	put_strings(&e, c->name, "loader", "store");
	switch (c->mangle) {
	case PM_LIST2:
		e.list = (enum ipw_list)2;
		break;
	case PM_LIST_NEG:
		e.list = (enum ipw_list) - 1;
		break;
	case PM_FLAG7:
		e.flags = 1u << 7;
		break;
	case PM_FLAG1:
		e.flags = IPW_ENTRY_AUTO | 1u << 1;
		break;
	case PM_PLEN33:
		e.target.plen = 33;
		break;
	case PM_HOST_BITS:
		e.target.bytes[3] = 7;
		break;
	case PM_FAMILY0:
		e.target.family = 0;
		break;
	case PM_NONE:
		break;
	}
	digest_take(t, &d1);
	rc = ipw_table_put(t, &e);
	is_int(rc, c->rc, "put: %s -> %s", c->name,
	       c->rc ? ipw_errname(c->rc) : "ok");
	if (c->rc) {
		digest_take(t, &d2);
		ok(digest_exact(&d1, &d2), "put: %s: the table is unchanged",
		   c->name);
		digest_free(&d2);
	} else if (rc == 0) {
		ok(get_exact(t, &e), "put: %s: get returns every field as put",
		   c->name);
	}
	digest_free(&d1);
	if (c->probe)
		ok(verdict_is(t, c->probe, c->verdict, c->by, c->byexp),
		   "put: %s: check %s -> %s %s", c->name, c->probe,
		   reason_str(c->verdict), c->by ? c->by : "");
	ipw_table_free(t);
}

static void test_put_cases(void)
{
	for (size_t i = 0; i < NELEM(put_cases); i++)
		run_put_case(&put_cases[i]);
}

struct purge_rec {
	size_t n;
	struct ipw_entry_info e[16];
};

static void purge_rec_cb(const struct ipw_entry_info *e, void *ctx)
{
	struct purge_rec *r = ctx;

	if (r->n < NELEM(r->e))
		r->e[r->n] = *e;
	r->n++;
}

/*
 * Expiry of put entries: an expired put is removed and reported by the
 * next purge, even one in the same second as a purge that already ran;
 * a put that moves an expiry (far to near, near to far, across the wheel's
 * levels) is purged at its new expiry, never at the old one.
 */
static void test_put_expiry(void)
{
	struct ipw_table *t = new_table(0);
	struct ipw_entry_info e[4], far, near, gone;
	struct purge_rec rec = {0};
	size_t n, bad = 0;

	now_s = NOW;
	add(t, B, "192.0.2.100", 0, 0, 0, NULL);
	is_int(ipw_table_purge(t, 0, NULL, NULL), 0,
	       "put expiry: a first purge at now removes nothing");
	e[0] = put_info(B, "192.0.2.1", NOW - 30, T0, 1, 0, 10, T0 + 50);
	e[1] = put_info(B, "10.0.0.0/8", NOW, T0 + 1, 2, IPW_ENTRY_AUTO, 0, 0);
	e[2] = put_info(A, "2001:db8::/64", T0 + 1, T0 + 1, 3, 0, 64, T0 + 1);
	e[3] = put_info(B, "2001:db8::7", NOW - 1, T0 + 2, 4, 0, 0, 0);
	for (int i = 0; i < 4; i++) {
		put_strings(&e[i], "expired", "loader", "store");
		bad += ipw_table_put(t, &e[i]) != 0;
	}
	is_int(bad, 0,
	       "put expiry: 4 expired entries put (both families, "
	       "prefixes, an allow)");
	ok(verdict_is(t, "192.0.2.1", V_NONE, NULL, 0) &&
		   verdict_is(t, "10.1.2.3", V_NONE, NULL, 0) &&
		   verdict_is(t, "2001:db8::7", V_NONE, NULL, 0),
	   "put expiry: none of them matches");
	n = ipw_table_purge(t, 0, purge_rec_cb, &rec);
	is_int(n, 4,
	       "put expiry: a purge in the same second as the last one "
	       "removes all 4");
	is_int(rec.n, 4, "put expiry: and reports each through the callback");
	bad = 0;
	for (size_t i = 0; i < rec.n && i < NELEM(rec.e); i++) {
		int k;

		for (k = 0; k < 4; k++)
			if (info_exact(&rec.e[i], &e[k]))
				break;
		if (k == 4) {
			diag_info("reported", &rec.e[i]);
			bad++;
		}
	}
	is_int(bad, 0, "put expiry: with exactly the fields put");
	is_int(ipw_table_purge(t, 0, NULL, NULL), 0,
	       "put expiry: a second purge removes nothing more");
	{
		struct ipw_table_stats st;

		ipw_table_stats(t, &st);
		is_int(total(&st), 1,
		       "put expiry: only the permanent ban stays");
	}

	/* Moving expiries across the wheel's levels. */
	far = put_info(B, "192.0.2.10", NOW + 40000000, T0, 0, 0, 0, 0);
	near = put_info(B, "192.0.2.11", NOW + 5, T0, 0, IPW_ENTRY_AUTO, 0, 0);
	gone = put_info(B, "192.0.2.12", NOW + 3, T0, 0, 0, 0, 0);
	bad = ipw_table_put(t, &far) != 0;
	bad += ipw_table_put(t, &near) != 0;
	bad += ipw_table_put(t, &gone) != 0;
	now_s += 1;
	ipw_table_purge(t, 0, NULL, NULL);
	far.expires = NOW + 10;	   /* overflow -> level 0 */
	near.expires = NOW + 9000; /* level 0 -> level 1 */
	gone.expires = NOW - 50;   /* level 0 -> due now */
	bad += ipw_table_put(t, &far) != 0;
	bad += ipw_table_put(t, &near) != 0;
	bad += ipw_table_put(t, &gone) != 0;
	is_int(bad, 0,
	       "put expiry: 3 entries put, then put again with other "
	       "expiries");
	memset(&rec, 0, sizeof(rec));
	n = ipw_table_purge(t, 0, purge_rec_cb, &rec);
	ok(n == 1 && rec.n == 1 && info_exact(&rec.e[0], &gone),
	   "put expiry: the one put expired is purged at once");
	now_s = NOW + 9;
	is_int(ipw_table_purge(t, 0, NULL, NULL), 0,
	       "put expiry: nothing at NOW+9 (the old near expiry passed)");
	now_s = NOW + 10;
	memset(&rec, 0, sizeof(rec));
	n = ipw_table_purge(t, 0, purge_rec_cb, &rec);
	ok(n == 1 && info_exact(&rec.e[0], &far),
	   "put expiry: the far entry brought near is purged at its new "
	   "expiry");
	now_s = NOW + 8999;
	is_int(ipw_table_purge(t, 0, NULL, NULL), 0,
	       "put expiry: the near entry pushed out is not purged early");
	now_s = NOW + 9000;
	memset(&rec, 0, sizeof(rec));
	n = ipw_table_purge(t, 0, purge_rec_cb, &rec);
	ok(n == 1 && info_exact(&rec.e[0], &near),
	   "put expiry: it is purged at its new expiry (level 1)");
	ipw_table_free(t);

	/* Expired put over an expired entry not yet purged: one report. */
	t = new_table(0);
	now_s = NOW;
	add(t, B, "192.0.2.20", NOW + 5, 0, 0, NULL);
	now_s = NOW + 10;
	gone = put_info(B, "192.0.2.20", NOW + 7, T0 + 3, 5, 0, 1, T0 + 4);
	is_int(ipw_table_put(t, &gone), 0,
	       "put expiry: put over an expired entry, expired too");
	memset(&rec, 0, sizeof(rec));
	n = ipw_table_purge(t, 0, purge_rec_cb, &rec);
	ok(n == 1 && rec.n == 1 && info_exact(&rec.e[0], &gone),
	   "put expiry: purged once, reported with the put's fields");
	ipw_table_free(t);
}

static int add_manual(struct ipw_table *t, const char *target,
		      struct ipw_entry_info *ev, bool *ev_set)
{
	struct ipw_entry_spec s = spec_of(B, target, 0, 0, 0);

	*ev_set = false;
	memset(ev, 0, sizeof(*ev));
	return ipw_table_add(t, &s, NULL, ev, ev_set);
}

/* A manual add on a full table evicts @want (NULL: refused, nothing
 * evicted). */
static bool evicts(struct ipw_table *t, const char *target, const char *want)
{
	struct ipw_entry_info ev;
	bool ev_set;
	int rc = add_manual(t, target, &ev, &ev_set);

	if (!want && rc == IPW_ETABLE_FULL && !ev_set)
		return true;
	if (want && rc == 0 && ev_set && strcmp(fmt(&ev.target), want) == 0)
		return true;
	diag("  add %s: %s, evicted %s, want %s", target, ipw_errname(rc),
	     ev_set ? fmt(&ev.target) : "nothing", want ? want : "a refusal");
	return false;
}

static int put_simple(struct ipw_table *t, const char *target, int64_t expires,
		      unsigned flags)
{
	struct ipw_entry_info e =
		put_info(B, target, expires, now_s, 0, flags, 0, 0);

	return ipw_table_put(t, &e);
}

/*
 * Eviction of put entries: the FIFO holds a reference for a put automatic
 * expiring entry (new, or made so by a put: it goes last), none that
 * counts for one made manual or permanent, and an entry that stays
 * automatic and expiring keeps its place.
 */
static void test_put_evict(void)
{
	struct ipw_table *t = new_table(3);
	int rc;

	now_s = NOW;
	rc = put_simple(t, "192.0.2.1", NOW + 1000, IPW_ENTRY_AUTO);
	rc |= put_simple(t, "192.0.2.2", NOW + 1000, 0);
	rc |= put_simple(t, "192.0.2.3", NOW + 1000, IPW_ENTRY_AUTO);
	is_int(rc, 0, "put evict: auto, manual, auto put; the table is full");
	ok(evicts(t, "198.51.100.1", "192.0.2.1"),
	   "put evict: a manual add evicts the first auto put");
	ok(evicts(t, "198.51.100.2", "192.0.2.3"),
	   "put evict: then the second");
	ok(evicts(t, "198.51.100.3", NULL),
	   "put evict: then refuses (manual entries only)");
	ipw_table_free(t);

	/* auto -> manual by put: never evicted; manual -> auto: goes last */
	t = new_table(3);
	now_s = NOW;
	rc = add(t, B, "192.0.2.1", NOW + 1000, 0, IPW_ENTRY_AUTO, NULL);
	rc |= add(t, B, "192.0.2.2", NOW + 1000, 0, 0, NULL);
	rc |= add(t, B, "192.0.2.3", NOW + 1000, 0, IPW_ENTRY_AUTO, NULL);
	rc |= put_simple(t, "192.0.2.1", NOW + 1000, 0);
	rc |= put_simple(t, "192.0.2.2", NOW + 2000, IPW_ENTRY_AUTO);
	is_int(rc, 0,
	       "put evict: auto 1, manual 2, auto 3 added; put makes "
	       "1 manual and 2 auto");
	ok(evicts(t, "198.51.100.1", "192.0.2.3"),
	   "put evict: 3 goes first (1 is manual now, 2 went last)");
	ok(evicts(t, "198.51.100.2", "192.0.2.2"),
	   "put evict: then 2, the entry put made automatic");
	ok(evicts(t, "198.51.100.3", NULL),
	   "put evict: and the entry put made manual is never evicted");
	{
		struct ipw_addr a = addr("192.0.2.1");
		struct ipw_entry_info e;

		ok(ipw_table_get(t, B, &a, &e) == 0 && e.flags == 0,
		   "put evict: it is still there, manual");
	}
	ipw_table_free(t);

	/* permanent auto by put: never evicted; auto kept auto keeps its
	 * place; auto -> manual -> auto by put goes last */
	t = new_table(4);
	now_s = NOW;
	rc = put_simple(t, "192.0.2.1", NOW + 1000, IPW_ENTRY_AUTO);
	rc |= put_simple(t, "192.0.2.2", NOW + 1000, IPW_ENTRY_AUTO);
	rc |= put_simple(t, "192.0.2.3", NOW + 1000, IPW_ENTRY_AUTO);
	rc |= put_simple(t, "192.0.2.4", NOW + 1000, IPW_ENTRY_AUTO);
	rc |= put_simple(t, "192.0.2.1", 0, IPW_ENTRY_AUTO);
	rc |= put_simple(t, "192.0.2.2", NOW + 50, IPW_ENTRY_AUTO);
	rc |= put_simple(t, "192.0.2.3", NOW + 1000, 0);
	rc |= put_simple(t, "192.0.2.3", NOW + 1000, IPW_ENTRY_AUTO);
	is_int(rc, 0,
	       "put evict: 4 autos put; 1 made permanent, 2 put again "
	       "auto, 3 made manual and auto again");
	ok(evicts(t, "198.51.100.1", "192.0.2.2"),
	   "put evict: 2 kept its place: evicted first");
	ok(evicts(t, "198.51.100.2", "192.0.2.4"),
	   "put evict: then 4 (3 went last)");
	ok(evicts(t, "198.51.100.3", "192.0.2.3"), "put evict: then 3, once");
	ok(evicts(t, "198.51.100.4", NULL),
	   "put evict: the permanent auto entry is never evicted");
	ipw_table_free(t);

	/*
	 * Each time a put makes an entry automatic and expiring again it is
	 * referenced anew; the stale references are dropped as long as the
	 * table counts its evictable entries right, so 100,000 toggles leave
	 * the FIFO (counted in entry_bytes) about as big as it was.
	 */
	t = new_table(0);
	now_s = NOW;
	{
		struct ipw_table_stats st0, st1;

		rc = 0;
		for (uint32_t i = 0; i < 1000; i++) {
			char a[32];

			snprintf(a, sizeof(a), "10.7.%u.%u", i >> 8, i & 255);
			rc |= put_simple(t, a, NOW + 1000, IPW_ENTRY_AUTO);
		}
		ipw_table_stats(t, &st0);
		for (int i = 0; i < 100000; i++)
			rc |= put_simple(t, "10.7.0.1", NOW + 1000,
					 i % 2 ? IPW_ENTRY_AUTO : 0);
		ipw_table_stats(t, &st1);
		is_int(rc, 0,
		       "put evict: 1000 autos, then 100000 puts "
		       "toggling one of them");
		ok(st1.entry_bytes <= st0.entry_bytes + 64 * 1024,
		   "put evict: the FIFO stays bounded (entry_bytes %llu -> "
		   "%llu)",
		   (unsigned long long)st0.entry_bytes,
		   (unsigned long long)st1.entry_bytes);
	}
	ipw_table_free(t);
}

/* A set of entries of both families and lists, nested prefixes of many
 * lengths, as a store would hold them. */
static const char *const put_targets[] = {
	"10.0.0.0/8",	   "10.1.0.0/16",	 "10.1.2.0/24",
	"10.1.2.128/25",   "10.1.2.192/27",	 "10.1.2.200",
	"10.1.3.0/31",	   "10.2.0.0/15",	 "0.0.0.0/1",
	"198.51.100.0/24", "198.51.100.7",	 "2001:db8::/32",
	"2001:db8:1::/48", "2001:db8:1:2::/64",	 "2001:db8:1:2::/100",
	"2001:db8:1:2::1", "2001:db8:1:3::/127", "2000::/3",
	"2001:db8:2::/47", "2001:db8:1:2::abcd",
};

static const char *const put_probes[] = {
	"10.1.2.200",	      "10.1.2.201",	  "10.1.2.129",
	"10.1.2.5",	      "10.1.3.1",	  "10.1.3.2",
	"10.1.4.1",	      "10.2.0.1",	  "10.3.0.1",
	"10.0.0.1",	      "11.0.0.1",	  "127.0.0.1",
	"128.0.0.1",	      "198.51.100.7",	  "198.51.100.8",
	"2001:db8:1:2::1",    "2001:db8:1:2::2",  "2001:db8:1:2::abcd",
	"2001:db8:1:2:0:1::", "2001:db8:1:2:1::", "2001:db8:1:3::1",
	"2001:db8:1:4::",     "2001:db8:2::1",	  "2001:db8:3::1",
	"2001:db9::1",	      "3000::1",	  "fe80::1",
};

/* The same entry for target @i on either table (allows are every fifth). */
static struct ipw_entry_info put_set_entry(size_t i, int64_t now)
{
	struct ipw_entry_info e =
		put_info(i % 5 == 4 ? A : B, put_targets[i],
			 i % 3 ? now + 100 + (int64_t)i * 7 : 0, now,
			 (uint32_t)i, i % 2 ? IPW_ENTRY_AUTO : 0, 0, 0);

	if (i % 4)
		put_strings(&e, "restored", i % 8 ? "loader" : "", "store");
	return e;
}

static struct ipw_entry_spec spec_of_info(const struct ipw_entry_info *e)
{
	struct ipw_entry_spec s;

	memset(&s, 0, sizeof(s));
	s.target = e->target;
	s.list = e->list;
	s.expires = e->expires;
	s.score = e->score;
	s.flags = e->flags;
	s.reason = e->reason;
	s.actor = e->actor;
	s.source = e->source;
	return s;
}

/* Every probe gets the same verdict from both tables. */
static size_t verdicts_differ(struct ipw_table *a, struct ipw_table *b)
{
	size_t bad = 0;

	for (size_t i = 0; i < NELEM(put_probes); i++) {
		struct ipw_addr ip = addr(put_probes[i]);
		struct ipw_verdict va, vb;

		memset(&va, 0, sizeof(va));
		memset(&vb, 0, sizeof(vb));
		ipw_table_check(a, &ip, &va);
		ipw_table_check(b, &ip, &vb);
		if (va.blocked != vb.blocked || va.reason != vb.reason ||
		    va.list != vb.list ||
		    !ipw_addr_equal(&va.entry, &vb.entry) ||
		    va.expires != vb.expires) {
			diag("  %s: %s by %s / %s by %s", put_probes[i],
			     reason_str(va.reason), fmt(&va.entry),
			     reason_str(vb.reason), fmt(&vb.entry));
			bad++;
		}
	}
	return bad;
}

/*
 * Prefixes and statistics: a table filled by put (and one by put_batch)
 * holds what one filled by add does: the same snapshot (created = now,
 * no hits), the same verdicts for addresses in and around every prefix
 * (most specific first), the same counts of entries and prefixes and the
 * same entry_bytes. Then both lose some prefixes (del) and get some
 * expired (put / a later clock): verdicts still agree, so the prefix
 * summaries were kept for entries put as for entries added.
 */
static void test_put_prefixes(void)
{
	struct ipw_table *ta = new_table(0), *tp = new_table(0),
			 *tb = new_table(0);
	struct ipw_entry_info v[NELEM(put_targets)];
	struct ipw_table_stats sa, sp, sb;
	struct digest da, dp, db;
	size_t bad = 0;
	int failed;

	now_s = NOW;
	for (size_t i = 0; i < NELEM(put_targets); i++) {
		v[i] = put_set_entry(i, now_s);
		bad += ipw_table_put(tp, &v[i]) != 0;
	}
	/* add: the bans first, or an allow would cover some of them */
	for (int list = B; list <= A; list++)
		for (size_t i = 0; i < NELEM(put_targets); i++) {
			struct ipw_entry_spec s = spec_of_info(&v[i]);

			if (v[i].list == (enum ipw_list)list)
				bad += ipw_table_add(ta, &s, NULL, NULL,
						     NULL) != 0;
		}
	failed = ipw_table_put_batch(tb, v, NELEM(v), NULL);
	is_int(bad, 0, "put prefixes: %zu entries added and put",
	       NELEM(put_targets));
	is_int(failed, 0, "put prefixes: and put as one batch");
	digest_take(ta, &da);
	digest_take(tp, &dp);
	digest_take(tb, &db);
	ok(digest_exact(&da, &dp) && digest_exact(&da, &db),
	   "put prefixes: the three tables hold the same entries");
	digest_free(&da);
	digest_free(&dp);
	digest_free(&db);
	is_int(verdicts_differ(ta, tp) + verdicts_differ(ta, tb), 0,
	       "put prefixes: %zu probes get the same verdicts",
	       NELEM(put_probes));
	ok(verdict_is(tp, "10.1.2.200", V_ALLOWED, "10.1.2.192/27",
		      NOW + 100 + 4 * 7) &&
		   verdict_is(tp, "10.1.2.129", V_BANNED, "10.1.2.128/25", 0) &&
		   verdict_is(tp, "10.1.2.5", V_BANNED, "10.1.2.0/24",
			      NOW + 100 + 2 * 7) &&
		   verdict_is(tp, "10.3.0.1", V_BANNED, "10.2.0.0/15",
			      NOW + 100 + 7 * 7) &&
		   verdict_is(tp, "2001:db8:1:2::2", V_ALLOWED,
			      "2001:db8:1:2::/100", NOW + 100 + 14 * 7) &&
		   verdict_is(tp, "2001:db8:1:2:1::", V_BANNED,
			      "2001:db8:1:2::/64", NOW + 100 + 13 * 7),
	   "put prefixes: the most specific entry decides (spot checks)");
	ipw_table_stats(ta, &sa);
	ipw_table_stats(tp, &sp);
	ipw_table_stats(tb, &sb);
	ok(memcmp(sa.entries, sp.entries, sizeof(sa.entries)) == 0 &&
		   memcmp(sa.entries, sb.entries, sizeof(sa.entries)) == 0,
	   "put prefixes: same entry counts (%llu v4 bans)",
	   (unsigned long long)sp.entries[B][0]);
	ok(memcmp(sa.prefixes, sp.prefixes, sizeof(sa.prefixes)) == 0 &&
		   memcmp(sa.prefixes, sb.prefixes, sizeof(sa.prefixes)) == 0,
	   "put prefixes: same prefix counts (%llu v4 ban prefixes)",
	   (unsigned long long)sp.prefixes[B][0]);
	ok(sa.entry_bytes == sp.entry_bytes && sa.entry_bytes == sb.entry_bytes,
	   "put prefixes: same entry_bytes (%llu / %llu / %llu)",
	   (unsigned long long)sa.entry_bytes,
	   (unsigned long long)sp.entry_bytes,
	   (unsigned long long)sb.entry_bytes);

	/* Remove some prefixes from both, expire one by put in tp and by
	 * time in ta (tp's is put to expire at the same moment). */
	for (size_t i = 0; i < NELEM(put_targets); i += 3) {
		ipw_table_del(ta, v[i].list, &v[i].target, NULL, NULL);
		ipw_table_del(tp, v[i].list, &v[i].target, NULL, NULL);
	}
	{
		struct ipw_entry_info e = v[1]; /* 10.1.0.0/16, expiring */

		e.expires = NOW + 1;
		bad = ipw_table_put(tp, &e) != 0;
		e = v[13]; /* 2001:db8:1:2::/64 */
		e.expires = NOW + 1;
		bad += ipw_table_put(tp, &e) != 0;
		ipw_table_del(ta, v[1].list, &v[1].target, NULL, NULL);
		ipw_table_del(ta, v[13].list, &v[13].target, NULL, NULL);
		now_s = NOW + 1;
		is_int(bad, 0, "put prefixes: two prefixes put to expire now");
	}
	is_int(verdicts_differ(ta, tp), 0,
	       "put prefixes: after removals and expiry, the same verdicts");
	ok(verdict_is(tp, "10.1.3.1", V_BANNED, "0.0.0.0/1", NOW + 100 + 8 * 7),
	   "put prefixes: 10.1.3.1 falls back to 0.0.0.0/1");
	is_int(ipw_table_purge(tp, 0, NULL, NULL), 2,
	       "put prefixes: the purge removes the two");
	ipw_table_stats(ta, &sa);
	ipw_table_stats(tp, &sp);
	ok(memcmp(sa.entries, sp.entries, sizeof(sa.entries)) == 0 &&
		   memcmp(sa.prefixes, sp.prefixes, sizeof(sa.prefixes)) == 0 &&
		   verdicts_differ(ta, tp) == 0,
	   "put prefixes: then counts and verdicts agree");
	ipw_table_free(ta);
	ipw_table_free(tp);
	ipw_table_free(tb);
}

/*
 * Metadata of put entries: each string is read up to its array's size
 * less one byte (no NUL needed) and cut at a UTF-8 boundary; a string of
 * nothing but continuation bytes cuts to nothing (not an allocation
 * failure, for put nor for add); replacing the strings moves entry_bytes by
 * the difference.
 */
static void test_put_meta(void)
{
	struct ipw_table *t = new_table(0);
	struct ipw_entry_info e, got;
	struct ipw_table_stats st0, st1, st2;
	int rc;

	now_s = NOW;
	add(t, B, "192.0.2.200", 0, 0, 0, NULL); /* the slab exists */
	ipw_table_stats(t, &st0);
	e = put_info(B, "192.0.2.1", 0, T0, 0, 0, 0, 0);
	memset(e.reason, 'r', sizeof(e.reason)); /* no NUL */
	for (size_t i = 0; i + 1 < sizeof(e.actor); i += 2)
		memcpy(e.actor + i, "\xc3\xa9", 2); /* no NUL either */
	memset(e.source, 0x80, sizeof(e.source) - 1);
	e.source[sizeof(e.source) - 1] = 0x80;
	rc = ipw_table_put(t, &e);
	is_int(rc, 0, "put meta: unterminated strings accepted");
	memset(&got, 0, sizeof(got));
	ipw_table_get(t, B, &e.target, &got);
	ok(strlen(got.reason) == IPW_REASON_MAX - 1 &&
		   strspn(got.reason, "r") == IPW_REASON_MAX - 1,
	   "put meta: the reason array is read to %d bytes",
	   IPW_REASON_MAX - 1);
	ok(strlen(got.actor) == IPW_ACTOR_MAX - 2 && utf8_valid(got.actor),
	   "put meta: 2-byte characters cut at a boundary (%d bytes)",
	   IPW_ACTOR_MAX - 2);
	is_str(got.source, "",
	       "put meta: only continuation bytes cut to nothing");
	ipw_table_stats(t, &st1);
	ok(st1.entry_bytes >= st0.entry_bytes + IPW_REASON_MAX - 1,
	   "put meta: entry_bytes counts the strings");
	put_strings(&e, "short", "", "");
	rc = ipw_table_put(t, &e);
	ipw_table_stats(t, &st2);
	ok(rc == 0 && st1.entry_bytes - st2.entry_bytes ==
			      (IPW_REASON_MAX - 1 - 5) + (IPW_ACTOR_MAX - 2),
	   "put meta: replacing them gives back the difference (%llu)",
	   (unsigned long long)(st1.entry_bytes - st2.entry_bytes));
	memset(e.reason, 0, sizeof(e.reason));
	rc = ipw_table_put(t, &e);
	ipw_table_stats(t, &st2);
	ok(rc == 0 && st2.entry_bytes == st0.entry_bytes,
	   "put meta: no strings, no metadata bytes");
	e = put_info(B, "192.0.2.4", 0, T0, 0, 0, 0, 0);
	memset(e.reason, 0x80, sizeof(e.reason));
	rc = ipw_table_put(t, &e);
	memset(&got, 0x5a, sizeof(got));
	ipw_table_get(t, B, &e.target, &got);
	ok(rc == 0 && got.reason[0] == 0,
	   "put meta: a reason that cuts to nothing is no allocation "
	   "failure");
	{
		char *cont = repeat("\x80", 300);
		struct ipw_entry_spec s = spec_of(B, "192.0.2.2", 0, 0, 0);

		s.reason = cont;
		is_int(ipw_table_add(t, &s, NULL, NULL, NULL), 0,
		       "add meta: a reason of 300 continuation bytes is no "
		       "allocation failure");
		s = spec_of(B, "192.0.2.3", 0, 0, 0);
		s.actor = cont;
		now_s += 10;
		add(t, B, "192.0.2.3", NOW + 5, 0, 0, NULL);
		is_int(ipw_table_add(t, &s, NULL, NULL, NULL), 0,
		       "add meta: nor when replacing an expired entry");
		free(cont);
	}
	ipw_table_free(t);
}

/*
 * ipw_table_put_batch() does what the same ipw_table_put() calls do one by
 * one: same return codes, same table (every field, hit counters included),
 * same statistics. 3000 entries over a table that already holds some:
 * new, replacing (added ones and earlier ones of the batch), expired,
 * invalid, out of range, both families, prefixes, both lists; and a cap
 * reached half way.
 */
static void test_put_batch(void)
{
	enum { N = 3000 };
	static struct ipw_entry_info v[N];
	static int rc1[N], rc2[N];
	struct ipw_table *one = new_table(900), *many = new_table(900);
	struct ipw_table_stats s1, s2;
	struct digest d1, d2;
	uint64_t r = 424242;
	size_t bad_rc = 0, failed = 0;
	int kinds[6] = {0}, failed_batch;

	now_s = NOW;
	for (uint32_t i = 0; i < 200; i++) {
		struct ipw_entry_spec s;

		memset(&s, 0, sizeof(s));
		s.list = i % 4 ? B : A;
		s.expires = i % 3 ? NOW + 1000 : 0;
		s.flags = i % 2 ? IPW_ENTRY_AUTO : 0;
		s.reason = "before";
		ipw_addr_from_v4(&s.target, 0xc6336400u | i, 32);
		if (ipw_table_add(one, &s, NULL, NULL, NULL) ||
		    ipw_table_add(many, &s, NULL, NULL, NULL))
			bail("put batch: setup failed");
	}
	for (size_t i = 0; i < N; i++) {
		struct ipw_entry_info *e = &v[i];
		uint32_t x;

		r = r * 6364136223846793005ull + 1442695040888963407ull;
		x = (uint32_t)(r >> 33);
		memset(e, 0, sizeof(*e));
		e->list = x % 7 == 0 ? A : B;
		e->expires = x % 5 == 0 ? 0 : NOW - 20 + (int64_t)(x % 500);
		e->created = T0 + x % 100;
		e->score = x % 9;
		e->flags = x % 2 ? IPW_ENTRY_AUTO : 0;
		e->hits = x % 3 ? 0 : x % 1000;
		e->last_hit = e->hits ? T0 + x % 90 : 0;
		if (x % 3 == 0) {
			uint8_t b[16] = {0x20, 0x01, 0x0d, 0xb8};

			b[8] = (uint8_t)(x >> 8) & 3;
			b[15] = (uint8_t)x;
			ipw_addr_from_v6(&e->target, b, x % 2 ? 128 : 120);
		} else {
			ipw_addr_from_v4(&e->target,
					 0xc6336400u | ((x >> 4) & 0x1ff),
					 x % 4 ? 32 : 28);
		}
		if (x % 11 == 0)
			snprintf(e->reason, sizeof(e->reason), "batch %u",
				 x % 50);
		if (x % 13 == 0)
			snprintf(e->actor, sizeof(e->actor), "loader");
		switch (x % 43) { /* a few bad ones */
		case 0:
			e->target.plen = 40; /* invalid for IPv4 */
			break;
		case 1:
			e->expires = INT64_C(1) << 40;
			break;
		case 2:
			e->created = -5;
			break;
		case 3:
			e->flags = 4;
			break;
		default:
			break;
		}
	}
	for (size_t i = 0; i < N; i++) {
		rc1[i] = ipw_table_put(one, &v[i]);
		failed += rc1[i] != 0;
	}
	failed_batch = ipw_table_put_batch(many, v, N, rc2);
	for (size_t i = 0; i < N; i++) {
		bad_rc += rc1[i] != rc2[i];
		kinds[rc1[i] == 0		? 0 :
		      rc1[i] == IPW_EINVAL	? 1 :
		      rc1[i] == IPW_ERANGE	? 2 :
		      rc1[i] == IPW_ETABLE_FULL ? 3 :
						  4]++;
	}
	diag("put batch mix: ok %d einval %d erange %d full %d other %d",
	     kinds[0], kinds[1], kinds[2], kinds[3], kinds[4]);
	ok(kinds[0] > N / 2 && kinds[1] && kinds[2] && kinds[3] && !kinds[4],
	   "put batch: the mix had successes and every kind of failure");
	is_int(bad_rc, 0, "put batch: same return codes as one by one for %d",
	       N);
	is_int(failed_batch, failed, "put batch: returns the number failed");
	digest_take(one, &d1);
	digest_take(many, &d2);
	ok(d1.n > 800 && digest_exact(&d1, &d2),
	   "put batch: the two tables end up equal (%zu entries)", d1.n);
	for (size_t i = 0, shown = 0; i < d1.n && i < d2.n && shown < 3; i++)
		if (!info_exact(&d1.e[i], &d2.e[i])) {
			diag_info("one ", &d1.e[i]);
			diag_info("many", &d2.e[i]);
			shown++;
		}
	digest_free(&d1);
	digest_free(&d2);
	ipw_table_stats(one, &s1);
	ipw_table_stats(many, &s2);
	ok(memcmp(s1.entries, s2.entries, sizeof(s1.entries)) == 0 &&
		   memcmp(s1.prefixes, s2.prefixes, sizeof(s1.prefixes)) == 0 &&
		   s1.entry_bytes == s2.entry_bytes,
	   "put batch: same statistics");
	{
		size_t n1 = ipw_table_purge(one, 0, NULL, NULL);
		size_t n2 = ipw_table_purge(many, 0, NULL, NULL);

		ok(n1 == n2 && n1 > 0, "put batch: the same purge (%zu)", n1);
	}
	is_int(ipw_table_put_batch(many, v, 0, NULL), 0,
	       "put batch: an empty batch is a no-op");
	ipw_table_free(one);
	ipw_table_free(many);
}

static void test_put(void)
{
	test_put_cases();
	test_put_expiry();
	test_put_evict();
	test_put_prefixes();
	test_put_meta();
	test_put_batch();
}

/* Ban @target (list B) with @exp, @score, @flags and @reason, then read
 * the entry back into *e; the two return codes or'ed. */
static int ban_get(struct ipw_table *t, const char *target, int64_t exp,
		   uint32_t score, unsigned flags, const char *reason,
		   enum ipw_change *what, struct ipw_entry_info *e)
{
	struct ipw_entry_spec s = spec_of(B, target, exp, score, flags);

	s.reason = reason;
	return ipw_table_add(t, &s, what, NULL, NULL) |
	       ipw_table_get(t, B, &s.target, e);
}

/*
 * Merges into a live single address, both families. Most take no lock
 * (only the score can change); each case here is one the lock-free merge
 * must leave to the locked one (an allow over the target, metadata to
 * merge, an auto ban made manual, a later expiry, an expired entry), and
 * the result must be the same either way.
 */
static void test_merge_paths(void)
{
	static const char *const hosts[] = {"192.0.2.7", "2001:db8::7"};

	for (int f = 0; f < 2; f++) {
		struct ipw_table *t = new_table(0);
		const char *h = hosts[f];
		struct ipw_entry_spec s;
		struct ipw_entry_info e;
		enum ipw_change what;
		struct ipw_verdict v;
		int rc;

		now_s = T0;
		s = spec_of(B, h, T0 + 100, 5, IPW_ENTRY_AUTO);
		s.reason = "first";
		rc = ipw_table_add(t, &s, &what, NULL, NULL);
		ok(rc == 0 && what == IPW_CHANGE_ADDED, "merge %s: added", h);

		rc = ban_get(t, h, T0 + 100, 7, IPW_ENTRY_AUTO, NULL, &what,
			     &e);
		ok(rc == 0 && what == IPW_CHANGE_EXTENDED && e.score == 7 &&
			   e.expires == T0 + 100 && e.flags == IPW_ENTRY_AUTO &&
			   strcmp(e.reason, "first") == 0,
		   "merge %s: a higher score is taken, nothing else changes",
		   h);
		rc = ban_get(t, h, T0 + 50, 6, IPW_ENTRY_AUTO, "ignored", &what,
			     &e);
		ok(rc == 0 && what == IPW_CHANGE_UNCHANGED && e.score == 7 &&
			   e.expires == T0 + 100 &&
			   strcmp(e.reason, "first") == 0,
		   "merge %s: lower score and expiry: unchanged, reason kept",
		   h);

		rc = ban_get(t, h, T0 + 100, 8, IPW_ENTRY_AUTO, "second", &what,
			     &e);
		ok(rc == 0 && what == IPW_CHANGE_EXTENDED && e.score == 8 &&
			   strcmp(e.reason, "second") == 0,
		   "merge %s: a score raise with a reason replaces the reason",
		   h);

		rc = ban_get(t, h, T0 + 100, 1, 0, NULL, &what, &e);
		ok(rc == 0 && what == IPW_CHANGE_EXTENDED && e.flags == 0 &&
			   e.score == 8,
		   "merge %s: a manual add makes the automatic ban manual", h);
		rc = ban_get(t, h, T0 + 100, 1, IPW_ENTRY_AUTO, NULL, &what,
			     &e);
		ok(rc == 0 && what == IPW_CHANGE_UNCHANGED && e.flags == 0,
		   "merge %s: an automatic add leaves a manual ban manual", h);

		rc = ban_get(t, h, T0 + 200, 8, IPW_ENTRY_AUTO, NULL, &what,
			     &e);
		rc |= ipw_table_check(t, &s.target, &v);
		ok(rc == 0 && what == IPW_CHANGE_EXTENDED &&
			   e.expires == T0 + 200 && v.blocked &&
			   v.expires == T0 + 200,
		   "merge %s: a later expiry is taken, and checks see it", h);

		/* an allow over the live ban: re-banning is refused, even
		 * with a higher score, and the score stays */
		s = spec_of(A, f ? "2001:db8::/64" : "192.0.2.0/24", 0, 0, 0);
		rc = ipw_table_add(t, &s, &what, NULL, NULL);
		is_int(rc, 0, "merge %s: an allow over it", h);
		s = spec_of(B, h, T0 + 200, 99, IPW_ENTRY_AUTO);
		rc = ipw_table_add(t, &s, &what, NULL, NULL);
		is_int(rc, IPW_ETABLE_COVERED,
		       "merge %s: a higher score under an allow is refused", h);
		rc = ipw_table_get(t, B, &s.target, &e);
		ok(rc == 0 && e.score == 8, "merge %s: and the score stays", h);
		s = spec_of(A, f ? "2001:db8::/64" : "192.0.2.0/24", 0, 0, 0);
		rc = ipw_table_del(t, A, &s.target, &what, NULL);
		s = spec_of(A, h, 0, 0, 0);
		rc |= ipw_table_add(t, &s, &what, NULL, NULL);
		is_int(rc, 0,
		       "merge %s: the allow replaced by one of the "
		       "address",
		       h);
		s = spec_of(B, h, T0 + 200, 99, IPW_ENTRY_AUTO);
		is_int(ipw_table_add(t, &s, &what, NULL, NULL),
		       IPW_ETABLE_COVERED,
		       "merge %s: so it is under an allow of the address", h);
		s = spec_of(A, h, 0, 0, 0);
		ipw_table_del(t, A, &s.target, &what, NULL);

		/* expired, not purged: a new life, the old score is gone */
		now_s = T0 + 200;
		rc = ban_get(t, h, T0 + 300, 2, IPW_ENTRY_AUTO, NULL, &what,
			     &e);
		ok(rc == 0 && what == IPW_CHANGE_ADDED && e.score == 2 &&
			   e.expires == T0 + 300 && e.flags == IPW_ENTRY_AUTO &&
			   e.created == T0 + 200 && e.reason[0] == 0,
		   "merge %s: an expired entry is replaced, not merged", h);
		rc = ban_get(t, h, T0 + 300, 3, IPW_ENTRY_AUTO, NULL, &what,
			     &e);
		ok(rc == 0 && what == IPW_CHANGE_EXTENDED && e.score == 3,
		   "merge %s: and merges again after", h);

		/* removed, then added: a new entry */
		rc = ipw_table_del(t, B, &s.target, &what, &e);
		ok(rc == 0 && what == IPW_CHANGE_REMOVED && e.score == 3,
		   "merge %s: removal reports the merged score", h);
		rc = ban_get(t, h, T0 + 300, 1, IPW_ENTRY_AUTO, NULL, &what,
			     &e);
		ok(rc == 0 && what == IPW_CHANGE_ADDED && e.score == 1,
		   "merge %s: a removed target is added anew", h);
		ipw_table_free(t);
	}
}

/* Whether @v still holds the 0x5a filler: no verdict was written. */
static bool untouched(const struct ipw_verdict *v)
{
	const unsigned char *b = (const unsigned char *)v;

	for (size_t i = 0; i < sizeof(*v); i++)
		if (b[i] != 0x5a)
			return false;
	return true;
}

/* Whether two verdicts say the same: every field a check fills. */
static bool same_verdict(const struct ipw_verdict *a,
			 const struct ipw_verdict *b)
{
	return a->blocked == b->blocked && a->reason == b->reason &&
	       (a->reason == IPW_VERDICT_NO_MATCH ||
		a->reason == IPW_VERDICT_NOT_ALLOWED ||
		(a->list == b->list && ipw_addr_equal(&a->entry, &b->entry) &&
		 a->expires == b->expires));
}

/* The query addresses of test_check_batch(): some inside every entry of
 * the table it builds, and random ones of both families. */
static size_t batch_queries(struct ipw_addr *q, size_t max, uint64_t *r)
{
	static const char *const inside[] = {
		"192.0.2.7",	   "192.0.2.8",	       "198.51.100.1",
		"198.51.100.77",   "203.0.113.9",      "203.0.113.200",
		"10.1.2.3",	   "10.1.200.1",       "10.9.9.9",
		"2001:db8::7",	   "2001:db8::8",      "2001:db8:1::1",
		"2001:db8:1:2::3", "2001:db8:ffff::1", "::ffff:192.0.2.7",
		"198.18.0.7",	   "198.18.0.14",      "198.18.0.15",
	};
	size_t n = 0;

	for (size_t i = 0; i < sizeof(inside) / sizeof(inside[0]); i++)
		q[n++] = addr(inside[i]);
	while (n < max) {
		uint8_t b[16];

		*r ^= *r << 13;
		*r ^= *r >> 7;
		*r ^= *r << 17;
		memcpy(b, r, 8);
		memcpy(b + 8, r, 8);
		if (*r & 1) {
			/* IPv4, often inside 10.0.0.0/8 or 192.0.2.0/24 */
			uint32_t a = (uint32_t)(*r >> 8);

			if ((*r >> 1) % 3 == 0)
				a = 0x0a000000u | (a & 0x00ffffffu);
			else if ((*r >> 1) % 3 == 1)
				a = 0xc0000200u | (a & 0xffu);
			ipw_addr_from_v4(&q[n++], a, 32);
		} else {
			b[0] = 0x20, b[1] = 0x01, b[2] = 0x0d, b[3] = 0xb8;
			if ((*r >> 1) & 1)
				b[4] = b[5] = 0; /* inside 2001:db8::/32 ... */
			ipw_addr_from_v6(&q[n++], b, 128);
		}
	}
	return n;
}

/*
 * ipw_table_check_batch(): the same verdict as ipw_table_check() for every
 * address, whatever the table holds (exact and prefix entries of both
 * lists and families, expired ones, both modes) and whatever the batch's
 * size (none, one, more than one read-side section's run of 256).
 */
static void test_check_batch(void)
{
	static struct ipw_addr q[1100];
	static struct ipw_verdict one[1100], many[1100];
	/* entries of both lists and families; an expiry of 10 s lapses
	 * between the rounds below */
	static const struct {
		enum ipw_list list;
		const char *target;
		int64_t expires; /* from T0; 0: permanent */
	} entries[] = {
		{B, "192.0.2.7", 0},	      {B, "192.0.2.8", 10},
		{B, "198.51.100.0/24", 0},    {B, "203.0.113.0/25", 100},
		{B, "10.0.0.0/8", 0},	      {A, "10.1.0.0/17", 0},
		{B, "10.1.200.1", 0},	      {A, "10.9.9.9", 10},
		{B, "2001:db8::7", 0},	      {B, "2001:db8::/48", 100},
		{A, "2001:db8:1::/64", 0},    {B, "2001:db8:1:2::/64", 0},
		{B, "2001:db8:fffe::/47", 0},
	};
	struct ipw_table *t = new_table(0);
	struct ipw_entry_info e;
	enum ipw_change what;
	uint64_t r = 0x9e3779b97f4a7c15ull;
	size_t n, bad;
	int rc = 0;

	now_s = T0;
	for (size_t i = 0; i < sizeof(entries) / sizeof(entries[0]); i++)
		rc |= add(t, entries[i].list, entries[i].target,
			  entries[i].expires ? T0 + entries[i].expires : 0, 0,
			  0, &what);
	is_int(rc, 0, "batch: the table is built");
	for (int i = 0; i < 3000; i++) {
		char buf[32];

		snprintf(buf, sizeof(buf), "198.18.%d.%d", i / 256, i % 256);
		if (i % 7 == 0)
			add(t, B, buf, T0 + 5 + i % 20, 0, 0, &what);
	}
	n = batch_queries(q, 1100, &r);

	for (int round = 0; round < 4; round++) {
		int64_t when = T0 + (round % 2 ? 50 : 1);
		enum ipw_mode mode =
			round < 2 ? IPW_MODE_DENYLIST : IPW_MODE_ALLOWLIST;
		static const size_t sizes[] = {0, 1, 17, 256, 257, 1100};

		ipw_table_set_mode(t, mode, &what);
		for (size_t i = 0; i < n; i++)
			ipw_table_check_at(t, &q[i], when, &one[i]);
		for (size_t k = 0; k < sizeof(sizes) / sizeof(sizes[0]); k++) {
			size_t m = sizes[k];

			memset(many, 0x5a, sizeof(many));
			rc = ipw_table_check_batch_at(t, q, m, when, many);
			bad = 0;
			for (size_t i = 0; i < m; i++)
				bad += !same_verdict(&one[i], &many[i]);
			ok(rc == 0 && bad == 0 &&
				   (m == n || untouched(&many[m])),
			   "batch: %zu addresses, %s, %s: %zu verdicts like "
			   "single checks, none written past the end",
			   m, mode ? "allowlist" : "denylist",
			   round % 2 ? "after some expired" : "before",
			   m - bad);
		}
	}
	ipw_table_set_mode(t, IPW_MODE_DENYLIST, &what);

	/* the table's own clock: the 192.0.2.8 ban expires at T0 + 10 */
	now_s = T0 + 10;
	q[0] = addr("192.0.2.8");
	q[1] = addr("192.0.2.7");
	rc = ipw_table_check_batch(t, q, 2, many);
	ok(rc == 0 && many[0].reason == IPW_VERDICT_NO_MATCH &&
		   many[1].reason == IPW_VERDICT_BANNED,
	   "batch: ipw_table_check_batch() reads the table's clock");

	/* hits are counted as single checks count them */
	ipw_table_get(t, B, &q[1], &e);
	for (int i = 2; i < 40; i++)
		q[i] = q[1];
	rc = ipw_table_check_batch(t, q + 1, 39, many);
	{
		struct ipw_entry_info e2;

		ipw_table_get(t, B, &q[1], &e2);
		ok(rc == 0 && e2.hits == e.hits + 39,
		   "batch: 39 checks of one address count 39 hits (%" PRIu64
		   " -> %" PRIu64 ")",
		   e.hits, e2.hits);
	}

	/* one bad address: nothing is checked, no verdict written */
	q[0] = addr("192.0.2.7");
	q[1] = addr("192.0.2.0/24");
	memset(many, 0x5a, sizeof(many));
	ipw_table_get(t, B, &q[0], &e);
	rc = ipw_table_check_batch(t, q, 2, many);
	{
		struct ipw_entry_info e2;

		ipw_table_get(t, B, &q[0], &e2);
		ok(rc == IPW_EINVAL && untouched(&many[0]) && e2.hits == e.hits,
		   "batch: a prefix among the addresses: EINVAL, no verdict "
		   "written, no hit counted");
	}
	memset(&q[1], 0, sizeof(q[1]));
	q[1].family = 7;
	is_int(ipw_table_check_batch(t, q, 2, many), IPW_EINVAL,
	       "batch: an unknown family: EINVAL");
	ipw_table_free(t);
}

int main(void)
{
	run_scenarios();
	test_merge_paths();
	test_check_batch();
	test_purge();
	test_wheel_levels();
	test_hashdos();
	test_batch();
	test_reserve();
	test_meta_bytes();
	test_cap();
	test_metadata();
	test_hits();
	test_hit_sampling();
	test_snapshot();
	test_stats();
	test_einval();
	test_names();
	test_put();
	return done_testing();
}
