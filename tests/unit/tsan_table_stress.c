// SPDX-License-Identifier: MIT
/*
 * Concurrent stress of the ban table, meant to run under ThreadSanitizer.
 *
 * Threads: NREADERS readers checking addresses (one of them in batches),
 * NWRITERS writers adding and
 * removing bans and allows, one putter restoring entries with
 * ipw_table_put() and ipw_table_put_batch() (any expiry, past ones
 * included, any flags and hit counters) and removing some, and one purger
 * that advances the (fake, atomic) clock, purges in small batches and takes
 * snapshots, statistics and top-k lists. The run is bounded by a deadline
 * on CLOCK_MONOTONIC (IPW_STRESS_SECONDS, default 6) and by per-thread
 * operation caps, and stops by itself. Nothing here measures time: the
 * deadline only bounds the run.
 *
 * Invariants checked while the threads run (each violation is counted and
 * the first few are printed):
 *   - pinned bans (permanent, never deleted, never covered by an allow)
 *     always block; writers add and remove more specific bans inside them;
 *   - pinned allows always admit, with an allow deciding; writers try to
 *     ban inside them and must get IPW_ETABLE_COVERED every time;
 *   - every verdict is coherent: the reason matches blocked, the deciding
 *     entry contains the address, is on the right list, and had not
 *     expired when the check started (the clock only moves forward);
 *   - each writer owns a key range no one else touches: every write there
 *     reports exactly what the writer's own bookkeeping predicts, and its
 *     own check right after sees it;
 *   - score keys (permanent single-address bans both writers merge
 *     scores into, half the raises with a reason, merged under the writer
 *     lock, half without, merged lock-free): a raise to a score the
 *     writer already reached is UNCHANGED;
 *   - so does the putter (addresses and prefixes of both families, which
 *     readers check too): a get returns exactly what was put last (hit
 *     counters only grown by readers), or nothing once it expired and the
 *     purger may have taken it; a check right after a put is decided by
 *     the put entry iff it had not expired;
 *   - the purger is handed only expired entries; every concurrent snapshot
 *     lists each entry once and holds every pinned entry; top-k is sorted.
 * After all threads have joined:
 *   - every score key holds the highest score either writer sent (a
 *     merge lost to a race would leave a lower one);
 *   - the owned keys are exactly as their writers (and the putter) left
 *     them (get + check);
 *   - the snapshot count equals the statistics' count;
 *   - every check over the whole key space agrees with a verdict computed
 *     from the snapshot by a linear scan;
 *   - a final purge removes exactly the expired entries of the snapshot.
 * Readers call ipw_reader_register() first and ipw_reader_unregister()
 * last, as the concurrency contract says.
 */
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <ipwall/addr.h>
#include <ipwall/table.h>

#include "tap.h"

#define NREADERS   3
#define NWRITERS   2
#define OWN_KEYS   512 /* per writer and family */
#define PUT_HOSTS  256 /* the putter's: per family; then prefixes */
#define PUT_PFX	   16
#define PUT_KEYS   (2 * PUT_HOSTS + 2 * PUT_PFX)
#define PUT_BATCH  32
#define SCORE_KEYS 8 /* half IPv4, half IPv6: few, so writers meet */
#define READER_CAP 20000000UL
#define WRITER_CAP 5000000UL
#define NELEM(a)   (sizeof(a) / sizeof((a)[0]))

static struct ipw_table *tbl;
static _Atomic int64_t fake_now = INT64_C(1700000000);
static atomic_bool stop;

static int64_t stress_clock(void *ctx)
{
	(void)ctx;
	return atomic_load_explicit(&fake_now, memory_order_relaxed);
}

/* ---- violations ---- */

enum violation {
	V_PINNED_BAN,
	V_PINNED_ALLOW,
	V_VERDICT,
	V_EXPIRED_MATCH,
	V_OWN_WRITE,
	V_COVERED,
	V_WRITE_ERROR,
	V_PURGED_LIVE,
	V_SNAPSHOT,
	V_TOP,
	V_PUT,
	V_SCORE,
	V_N,
};

static const char *const v_names[V_N] = {
	"pinned ban not blocked",
	"pinned allow not admitted",
	"incoherent verdict",
	"deciding entry had expired",
	"own-range write misreported or not visible",
	"ban inside a pinned allow not refused as covered",
	"unexpected write error",
	"purged an entry that had not expired",
	"snapshot duplicate or pinned entry missing",
	"top-k not sorted",
	"put entry misreported, not visible, or visible when expired",
	"score merge misreported",
};

static atomic_ulong violations[V_N];
static pthread_mutex_t print_lock = PTHREAD_MUTEX_INITIALIZER;

__attribute__((format(printf, 2, 3))) static void violate(enum violation v,
							  const char *f, ...)
{
	unsigned long n = atomic_fetch_add(&violations[v], 1);
	va_list ap;

	if (n >= 3)
		return;
	pthread_mutex_lock(&print_lock);
	printf("# %s: ", v_names[v]);
	va_start(ap, f);
	vprintf(f, ap);
	va_end(ap);
	printf("\n");
	fflush(stdout);
	pthread_mutex_unlock(&print_lock);
}

static const char *fmt(const struct ipw_addr *a, char *buf)
{
	if (ipw_addr_format(a, buf, IPW_ADDR_STRLEN) < 0)
		snprintf(buf, IPW_ADDR_STRLEN, "(invalid)");
	return buf;
}

/* ---- per-thread randomness ---- */

static uint64_t rnd(uint64_t *s)
{
	uint64_t z = (*s += UINT64_C(0x9e3779b97f4a7c15));

	z = (z ^ (z >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
	z = (z ^ (z >> 27)) * UINT64_C(0x94d049bb133111eb);
	return z ^ (z >> 31);
}

static uint32_t below(uint64_t *s, uint32_t n)
{
	return (uint32_t)(((rnd(s) >> 32) * n) >> 32);
}

/* ---- the key space ---- */

/*
 * Pinned bans (permanent): 198.51.100.0/24, 203.0.113.1..16,
 * 2001:db8:dead::/48, 2001:db8:beef::1..8; 192.0.2.0/24 and
 * 2001:db8:cafe::/48 are banned too, and inside them the pinned allows
 * 192.0.2.0/28 and 2001:db8:cafe::/64 admit.
 * Writer w owns 10.(w+1).0.0/23 hosts and 2001:db8:10:w::0..511 (bans only).
 * The putter owns 10.200.0.0/24 hosts, 2001:db8:20::0..255, the prefixes
 * 10.201.k.0/24 and 2001:db8:21:k::/64 (k < 16); every fifth key is an
 * allow, the others bans; nothing else covers them.
 * Shared: 10.9.0.0/24 (bans and allows of several lengths, TTLs), the TTL
 * range 172.16.w.0/24, and bans inside the pinned ranges.
 */
static void v4(struct ipw_addr *a, uint32_t x, unsigned plen)
{
	ipw_addr_from_v4(a, x, plen);
}

static void v6(struct ipw_addr *a, uint16_t g2, uint16_t g3, uint16_t last,
	       unsigned plen)
{
	uint8_t b[16] = {0x20, 0x01, 0x0d, 0xb8};

	b[4] = (uint8_t)(g2 >> 8);
	b[5] = (uint8_t)g2;
	b[6] = (uint8_t)(g3 >> 8);
	b[7] = (uint8_t)g3;
	b[14] = (uint8_t)(last >> 8);
	b[15] = (uint8_t)last;
	ipw_addr_from_v6(a, b, plen);
}

static void own_key(struct ipw_addr *a, int w, unsigned k)
{
	if (k < OWN_KEYS)
		v4(a, 0x0a000000u | (uint32_t)(w + 1) << 16 | k, 32);
	else
		v6(a, 0x10, (uint16_t)w, (uint16_t)(k - OWN_KEYS), 128);
}

/* Score key @k: 10.77.0.k or 2001:db8:77::k. */
static void score_key(struct ipw_addr *a, unsigned k)
{
	if (k < SCORE_KEYS / 2)
		v4(a, 0x0a4d0000u | k, 32);
	else
		v6(a, 0x77, 0, (uint16_t)k, 128);
}

/* The putter's key @k: its target (and list). */
static enum ipw_list put_key(struct ipw_addr *a, unsigned k)
{
	if (k < PUT_HOSTS)
		v4(a, 0x0ac80000u | k, 32); /* 10.200.0.k */
	else if (k < 2 * PUT_HOSTS)
		v6(a, 0x20, 0, (uint16_t)(k - PUT_HOSTS), 128);
	else if (k < 2 * PUT_HOSTS + PUT_PFX)
		v4(a, 0x0ac90000u | (k - 2 * PUT_HOSTS) << 8, 24);
	else
		v6(a, 0x21, (uint16_t)(k - 2 * PUT_HOSTS - PUT_PFX), 0, 64);
	return k % 5 == 4 ? IPW_LIST_ALLOW : IPW_LIST_BAN;
}

/* An address inside the putter's key @k. */
static void put_key_addr(struct ipw_addr *a, unsigned k, uint32_t low)
{
	if (k < 2 * PUT_HOSTS)
		put_key(a, k);
	else if (k < 2 * PUT_HOSTS + PUT_PFX)
		v4(a, 0x0ac90000u | (k - 2 * PUT_HOSTS) << 8 | (low & 255), 32);
	else
		v6(a, 0x21, (uint16_t)(k - 2 * PUT_HOSTS - PUT_PFX),
		   (uint16_t)low, 128);
}

struct pinned {
	enum ipw_list list;
	struct ipw_addr target;
};

static struct pinned pinned[64];
static size_t npinned;

static void pin(enum ipw_list list, const struct ipw_addr *a)
{
	struct ipw_entry_spec s;
	char buf[IPW_ADDR_STRLEN];

	memset(&s, 0, sizeof(s));
	s.list = list;
	s.target = *a;
	s.reason = "pinned";
	if (npinned == NELEM(pinned) ||
	    ipw_table_add(tbl, &s, NULL, NULL, NULL)) {
		printf("Bail out! cannot pin %s\n", fmt(a, buf));
		exit(2);
	}
	pinned[npinned].list = list;
	pinned[npinned++].target = *a;
}

static void setup_pinned(void)
{
	struct ipw_addr a;

	v4(&a, 0xc6336400, 24); /* 198.51.100.0/24 */
	pin(IPW_LIST_BAN, &a);
	for (unsigned k = 0; k < SCORE_KEYS; k++) {
		score_key(&a, k);
		pin(IPW_LIST_BAN, &a);
	}
	for (uint32_t i = 1; i <= 16; i++) {
		v4(&a, 0xcb007100 | i, 32); /* 203.0.113.i */
		pin(IPW_LIST_BAN, &a);
	}
	v6(&a, 0xdead, 0, 0, 48);
	pin(IPW_LIST_BAN, &a);
	for (uint16_t i = 1; i <= 8; i++) {
		v6(&a, 0xbeef, 0, i, 128);
		pin(IPW_LIST_BAN, &a);
	}
	v4(&a, 0xc0000200, 24); /* 192.0.2.0/24 */
	pin(IPW_LIST_BAN, &a);
	v6(&a, 0xcafe, 0, 0, 48);
	pin(IPW_LIST_BAN, &a);
	v4(&a, 0xc0000200, 28); /* 192.0.2.0/28 */
	pin(IPW_LIST_ALLOW, &a);
	v6(&a, 0xcafe, 0, 0, 64);
	pin(IPW_LIST_ALLOW, &a);
}

/* An address inside a pinned ban, outside every allow. */
static void pinned_ban_addr(uint64_t *r, struct ipw_addr *a)
{
	switch (below(r, 5)) {
	case 0:
		v4(a, 0xc6336400 | below(r, 256), 32);
		break;
	case 1:
		v4(a, 0xcb007100 | (1 + below(r, 16)), 32);
		break;
	case 2:
		v6(a, 0xdead, (uint16_t)below(r, 65536),
		   (uint16_t)below(r, 65536), 128);
		break;
	case 3:
		v6(a, 0xbeef, 0, (uint16_t)(1 + below(r, 8)), 128);
		break;
	default:
		v4(a, 0xc0000200 | (16 + below(r, 240)), 32);
		break;
	}
}

/* An address inside a pinned allow. */
static void pinned_allow_addr(uint64_t *r, struct ipw_addr *a)
{
	if (below(r, 2))
		v4(a, 0xc0000200 | below(r, 16), 32);
	else
		v6(a, 0xcafe, 0, (uint16_t)below(r, 65536), 128);
}

/* Anything the writers touch. */
static void shared_addr(uint64_t *r, struct ipw_addr *a)
{
	switch (below(r, 5)) {
	case 4:
		put_key_addr(a, below(r, PUT_KEYS), below(r, 65536));
		break;
	case 0:
		v4(a, 0x0a090000 | below(r, 256), 32); /* 10.9.0.x */
		break;
	case 1:
		own_key(a, (int)below(r, NWRITERS), below(r, 2 * OWN_KEYS));
		break;
	case 2:
		v4(a, 0xac100000 | below(r, NWRITERS) << 8 | below(r, 256),
		   32); /* 172.16.w.x */
		break;
	default:
		v6(a, 0x9, 0, (uint16_t)below(r, 256), 128);
		break;
	}
}

/* ---- verdict coherence ---- */

static void check_verdict(const struct ipw_addr *ip,
			  const struct ipw_verdict *v, int64_t before,
			  enum ipw_mode mode)
{
	char b1[IPW_ADDR_STRLEN], b2[IPW_ADDR_STRLEN];
	bool decided = v->reason == IPW_VERDICT_BANNED ||
		       v->reason == IPW_VERDICT_ALLOWED;
	bool want_blocked = v->reason == IPW_VERDICT_BANNED ||
			    v->reason == IPW_VERDICT_NOT_ALLOWED;

	if (v->reason > IPW_VERDICT_NOT_ALLOWED || v->blocked != want_blocked ||
	    (mode == IPW_MODE_DENYLIST &&
	     v->reason == IPW_VERDICT_NOT_ALLOWED) ||
	    (decided &&
	     (v->list != (v->reason == IPW_VERDICT_BANNED ? IPW_LIST_BAN :
							    IPW_LIST_ALLOW) ||
	      !ipw_addr_contains(&v->entry, ip)))) {
		violate(V_VERDICT, "%s: blocked %d reason %u by %d %s",
			fmt(ip, b1), v->blocked, v->reason, v->list,
			decided ? fmt(&v->entry, b2) : "-");
		return;
	}
	if (decided && v->expires != 0 && v->expires <= before)
		violate(V_EXPIRED_MATCH,
			"%s decided by %s expiring %" PRId64
			", clock was %" PRId64 " before the check",
			fmt(ip, b1), fmt(&v->entry, b2), v->expires, before);
}

/* ---- threads ---- */

struct counters {
	unsigned long ops, checks, writes, purged;
};

static struct counters totals[NREADERS + NWRITERS + 2]; /* + purger, putter */

struct reader_arg {
	int id;
};

/* The invariants of one verdict for @ip, an address of @kind (see
 * reader()), checked no earlier than @before. */
static void judge(uint32_t kind, const struct ipw_addr *ip,
		  const struct ipw_verdict *v, int64_t before)
{
	char buf[IPW_ADDR_STRLEN];

	check_verdict(ip, v, before, IPW_MODE_DENYLIST);
	if (kind < 3 && (!v->blocked || v->reason != IPW_VERDICT_BANNED))
		violate(V_PINNED_BAN, "%s: blocked %d reason %u", fmt(ip, buf),
			v->blocked, v->reason);
	if (kind >= 3 && kind < 5 &&
	    (v->blocked || v->reason != IPW_VERDICT_ALLOWED))
		violate(V_PINNED_ALLOW, "%s: blocked %d reason %u",
			fmt(ip, buf), v->blocked, v->reason);
}

/*
 * Readers check addresses inside pinned bans (kind 0-2), inside pinned
 * allows (3-4) and in the ranges writers change (5-9). The last reader
 * asks in batches of 1 to 40 (ipw_table_check_batch()), the others one
 * at a time.
 */
#define READER_BATCH 40

static void *reader(void *p)
{
	struct reader_arg *arg = p;
	struct counters *c = &totals[arg->id];
	uint64_t r = 0x1000 + (uint64_t)arg->id;
	bool batch = arg->id == NREADERS - 1;

	ipw_reader_register();
	while (c->ops < READER_CAP) {
		struct ipw_addr ip[READER_BATCH];
		struct ipw_verdict v[READER_BATCH];
		uint32_t kind[READER_BATCH];
		uint32_t n = batch ? 1 + below(&r, READER_BATCH) : 1;
		int64_t before;
		char buf[IPW_ADDR_STRLEN];
		int rc;

		if (atomic_load_explicit(&stop, memory_order_relaxed))
			break;
		c->ops += n;
		for (uint32_t i = 0; i < n; i++) {
			kind[i] = below(&r, 10);
			if (kind[i] < 3)
				pinned_ban_addr(&r, &ip[i]);
			else if (kind[i] < 5)
				pinned_allow_addr(&r, &ip[i]);
			else
				shared_addr(&r, &ip[i]);
		}
		before = stress_clock(NULL);
		rc = batch ? ipw_table_check_batch(tbl, ip, n, v) :
			     ipw_table_check(tbl, &ip[0], &v[0]);
		c->checks += n;
		if (rc) {
			violate(V_VERDICT, "check %s: %s", fmt(&ip[0], buf),
				ipw_errname(rc));
			continue;
		}
		for (uint32_t i = 0; i < n; i++)
			judge(kind[i], &ip[i], &v[i], before);
	}
	ipw_reader_unregister();
	return NULL;
}

struct writer_arg {
	int id;
	bool own[2 * OWN_KEYS]; /* final state of the owned keys: banned */
	uint32_t score_max[SCORE_KEYS]; /* highest score sent per score key */
	uint32_t score_ops;
};

static int64_t ttl(uint64_t *r, int64_t lo, int64_t hi)
{
	return stress_clock(NULL) + lo +
	       (int64_t)below(r, (uint32_t)(hi - lo + 1));
}

static void write_ok(int rc, const char *what, const struct ipw_addr *a)
{
	char buf[IPW_ADDR_STRLEN];

	/* EXPIRED: the purger moved the clock past a short TTL. COVERED: an
	 * allow of the other writer covers the target. */
	if (rc && rc != IPW_ETABLE_EXPIRED && rc != IPW_ETABLE_COVERED)
		violate(V_WRITE_ERROR, "%s %s: %s", what, fmt(a, buf),
			ipw_errname(rc));
}

static void own_op(struct writer_arg *arg, uint64_t *r)
{
	unsigned k = below(r, 2 * OWN_KEYS);
	struct ipw_addr a;
	struct ipw_verdict v;
	enum ipw_change what = 0, want;
	char buf[IPW_ADDR_STRLEN];
	int rc;

	own_key(&a, arg->id, k);
	if (below(r, 2)) {
		struct ipw_entry_spec s;

		memset(&s, 0, sizeof(s));
		s.list = IPW_LIST_BAN;
		s.target = a;
		s.actor = "writer";
		rc = ipw_table_add(tbl, &s, &what, NULL, NULL);
		want = arg->own[k] ? IPW_CHANGE_UNCHANGED : IPW_CHANGE_ADDED;
		arg->own[k] = true;
	} else {
		rc = ipw_table_del(tbl, IPW_LIST_BAN, &a, &what, NULL);
		want = arg->own[k] ? IPW_CHANGE_REMOVED : IPW_CHANGE_ABSENT;
		arg->own[k] = false;
	}
	if (rc || what != want)
		violate(V_OWN_WRITE, "writer %d key %s: %s/%d, want %d",
			arg->id, fmt(&a, buf), rc ? ipw_errname(rc) : "ok",
			(int)what, (int)want);
	rc = ipw_table_check(tbl, &a, &v);
	if (rc || v.blocked != arg->own[k] ||
	    (arg->own[k] && !ipw_addr_equal(&v.entry, &a)))
		violate(V_OWN_WRITE, "writer %d's own check of %s: blocked %d",
			arg->id, fmt(&a, buf), v.blocked);
}

static void score_op(struct writer_arg *arg, uint64_t *r)
{
	unsigned k = below(r, SCORE_KEYS);
	struct ipw_entry_spec s;
	enum ipw_change what = 0;
	char buf[IPW_ADDR_STRLEN];
	int rc;

	memset(&s, 0, sizeof(s));
	s.list = IPW_LIST_BAN;
	score_key(&s.target, k);
	/* Both writers' scores rise at about the same pace, so most sends
	 * raise the score, and each writer's raises race with the other's. */
	s.score = ++arg->score_ops + below(r, 64);
	if (below(r, 2))
		s.reason = "raised";
	rc = ipw_table_add(tbl, &s, &what, NULL, NULL);
	if (rc ||
	    (what != IPW_CHANGE_EXTENDED && what != IPW_CHANGE_UNCHANGED) ||
	    (s.score <= arg->score_max[k] && what != IPW_CHANGE_UNCHANGED))
		violate(V_SCORE,
			"writer %d key %s score %u (sent up to %u): %s",
			arg->id, fmt(&s.target, buf), s.score,
			arg->score_max[k],
			rc ? ipw_errname(rc) : ipw_change_name(what));
	if (s.score > arg->score_max[k])
		arg->score_max[k] = s.score;
}

static void shared_op(uint64_t *r)
{
	static const unsigned lens[] = {24, 25, 26, 28, 30, 32};
	struct ipw_entry_spec s;
	struct ipw_addr a;
	enum ipw_change what;
	uint32_t x = below(r, 256);

	memset(&s, 0, sizeof(s));
	s.score = below(r, 10);
	switch (below(r, 8)) {
	case 0: /* 10.9.0.0/24: bans */
		v4(&s.target, 0x0a090000 | x, lens[below(r, NELEM(lens))]);
		s.list = IPW_LIST_BAN;
		s.expires = below(r, 4) ? ttl(r, 1, 20) : 0;
		write_ok(ipw_table_add(tbl, &s, &what, NULL, NULL), "ban",
			 &s.target);
		break;
	case 1: /* 10.9.0.0/24: allows */
		v4(&s.target, 0x0a090000 | x, lens[2 + below(r, 4)]);
		s.list = IPW_LIST_ALLOW;
		s.expires = ttl(r, 1, 10);
		write_ok(ipw_table_add(tbl, &s, &what, NULL, NULL), "allow",
			 &s.target);
		break;
	case 2: /* 10.9.0.0/24 and 2001:db8:9::/120: removals */
		if (below(r, 2))
			v4(&a, 0x0a090000 | x, lens[below(r, NELEM(lens))]);
		else
			v6(&a, 0x9, 0, (uint16_t)x, 120 + below(r, 9));
		ipw_table_del(tbl, below(r, 3) ? IPW_LIST_BAN : IPW_LIST_ALLOW,
			      &a, &what, NULL);
		break;
	case 3: /* 2001:db8:9::/120: bans and allows */
		v6(&s.target, 0x9, 0, (uint16_t)x, 120 + below(r, 9));
		s.list = below(r, 4) ? IPW_LIST_BAN : IPW_LIST_ALLOW;
		s.expires = ttl(r, 1, 15);
		write_ok(ipw_table_add(tbl, &s, &what, NULL, NULL), "v6 add",
			 &s.target);
		break;
	case 4: /* work for the purger: 172.16.w.x, short TTLs */
	case 5:
		v4(&s.target, 0xac100000 | below(r, NWRITERS) << 8 | x, 32);
		s.list = IPW_LIST_BAN;
		s.expires = ttl(r, 1, 3);
		s.flags = IPW_ENTRY_AUTO;
		write_ok(ipw_table_add(tbl, &s, &what, NULL, NULL), "ttl ban",
			 &s.target);
		break;
	case 6: /* more specific bans inside pinned bans, and removals */
		if (below(r, 2))
			v4(&s.target, 0xc6336400 | x, 28 + below(r, 5));
		else
			v6(&s.target, 0xdead, (uint16_t)x, 0, 64);
		if (below(r, 2)) {
			s.list = IPW_LIST_BAN;
			s.expires = ttl(r, 1, 5);
			write_ok(ipw_table_add(tbl, &s, &what, NULL, NULL),
				 "inner ban", &s.target);
		} else {
			ipw_table_del(tbl, IPW_LIST_BAN, &s.target, &what,
				      NULL);
		}
		break;
	default: { /* bans inside pinned allows: always covered */
		char buf[IPW_ADDR_STRLEN];
		int rc;

		if (below(r, 2))
			v4(&s.target, 0xc0000200 | (x & 15), 28 + below(r, 5));
		else
			v6(&s.target, 0xcafe, 0, (uint16_t)x,
			   64 + below(r, 65));
		s.list = IPW_LIST_BAN;
		s.expires = below(r, 2) ? 0 : ttl(r, 5, 50);
		rc = ipw_table_add(tbl, &s, &what, NULL, NULL);
		/* The purger moves the clock: a TTL computed a moment ago can
		 * be in the past by now, and an expiry in the past is checked
		 * before coverage. */
		if (rc == IPW_ETABLE_EXPIRED && s.expires != 0 &&
		    s.expires <= stress_clock(NULL))
			break;
		if (rc != IPW_ETABLE_COVERED)
			violate(V_COVERED, "ban %s: %s", fmt(&s.target, buf),
				rc ? ipw_errname(rc) : ipw_change_name(what));
		break;
	}
	}
}

static void *writer(void *p)
{
	struct writer_arg *arg = p;
	struct counters *c = &totals[NREADERS + arg->id];
	uint64_t r = 0x2000 + (uint64_t)arg->id;

	ipw_reader_register(); /* writers check too */
	while (c->ops < WRITER_CAP) {
		if ((c->ops & 63) == 0 &&
		    atomic_load_explicit(&stop, memory_order_relaxed))
			break;
		c->ops++;
		uint32_t kind = below(&r, 10);

		if (kind < 4)
			own_op(arg, &r);
		else if (kind < 6)
			score_op(arg, &r);
		else
			shared_op(&r);
		c->writes++;
	}
	ipw_reader_unregister();
	return NULL;
}

/* ---- the putter ---- */

struct put_state {
	bool present;		 /* put last, not deleted since */
	struct ipw_entry_info e; /* what was put */
};

static struct put_state put_keys[PUT_KEYS];

static void make_put(uint64_t *r, unsigned k, struct ipw_entry_info *e)
{
	int64_t now = stress_clock(NULL);
	uint32_t x = below(r, 100);

	memset(e, 0, sizeof(*e));
	e->list = put_key(&e->target, k);
	e->expires = x < 15 ? 0 :
		     x < 30 ? now - (int64_t)below(r, 20) :
			      now + 1 + (int64_t)below(r, 30);
	e->created = now - (int64_t)below(r, 1000);
	e->score = below(r, 10);
	e->flags = below(r, 2) ? IPW_ENTRY_AUTO : 0;
	if (below(r, 2)) {
		e->hits = 1 + below(r, 1000);
		e->last_hit = now - (int64_t)below(r, 100);
	}
	snprintf(e->reason, sizeof(e->reason), "restored %u", below(r, 100));
	snprintf(e->actor, sizeof(e->actor), "%s", below(r, 2) ? "store" : "");
}

/* The table's entry for key @k against what was put last. */
static void put_verify(unsigned k, const char *when)
{
	const struct put_state *ps = &put_keys[k];
	struct ipw_entry_info got;
	struct ipw_addr a;
	enum ipw_list list = put_key(&a, k);
	char buf[IPW_ADDR_STRLEN];
	int rc = ipw_table_get(tbl, list, &a, &got);
	int64_t after = stress_clock(NULL);
	const struct ipw_entry_info *e = &ps->e;

	if (!ps->present) {
		if (rc != IPW_ENOENT)
			violate(V_PUT, "%s: get %s: %s, want ENOENT", when,
				fmt(&a, buf), ipw_errname(rc));
		return;
	}
	if (rc == IPW_ENOENT) {
		/* only the purger removes it, and only once expired */
		if (e->expires == 0 || e->expires > after)
			violate(V_PUT,
				"%s: get %s: gone, expires %" PRId64
				", now %" PRId64,
				when, fmt(&a, buf), e->expires, after);
		return;
	}
	if (rc || got.expires != e->expires || got.created != e->created ||
	    got.score != e->score || got.flags != e->flags ||
	    got.hits < e->hits || got.last_hit < e->last_hit ||
	    strcmp(got.reason, e->reason) != 0 ||
	    strcmp(got.actor, e->actor) != 0 || got.source[0])
		violate(V_PUT,
			"%s: get %s: %s expires %" PRId64 " created %" PRId64
			" score %u flags %u hits %" PRIu64
			"; put expires %" PRId64 " created %" PRId64
			" score %u flags %u hits %" PRIu64,
			when, fmt(&a, buf), ipw_errname(rc), got.expires,
			got.created, got.score, got.flags, got.hits, e->expires,
			e->created, e->score, e->flags, e->hits);
}

/* A check inside key @k right after its put: decided by it iff live. */
static void put_check_after(uint64_t *r, unsigned k, int64_t before)
{
	const struct ipw_entry_info *e = &put_keys[k].e;
	struct ipw_addr ip;
	struct ipw_verdict v;
	char b1[IPW_ADDR_STRLEN], b2[IPW_ADDR_STRLEN];
	int64_t after;
	bool by_it;

	put_key_addr(&ip, k, below(r, 65536));
	if (ipw_table_check(tbl, &ip, &v)) {
		violate(V_PUT, "check %s failed", fmt(&ip, b1));
		return;
	}
	after = stress_clock(NULL);
	by_it = (v.reason == IPW_VERDICT_BANNED ||
		 v.reason == IPW_VERDICT_ALLOWED) &&
		v.list == e->list && ipw_addr_equal(&v.entry, &e->target) &&
		v.expires == e->expires;
	if ((e->expires == 0 || e->expires > after) && !by_it)
		violate(V_PUT, "check %s after a live put: reason %u by %s",
			fmt(&ip, b1), v.reason, fmt(&v.entry, b2));
	if (e->expires != 0 && e->expires <= before &&
	    v.reason != IPW_VERDICT_NO_MATCH)
		violate(V_PUT,
			"check %s after an expired put: reason %u by %s "
			"expires %" PRId64,
			fmt(&ip, b1), v.reason, fmt(&v.entry, b2), v.expires);
}

static void *putter(void *p)
{
	struct counters *c = &totals[NREADERS + NWRITERS + 1];
	uint64_t r = 0x4000;
	struct ipw_entry_info batch[PUT_BATCH];
	unsigned keys[PUT_BATCH];
	int rcs[PUT_BATCH];

	(void)p;
	ipw_reader_register();
	while (c->ops < WRITER_CAP) {
		uint32_t kind = below(&r, 100);
		unsigned k = below(&r, PUT_KEYS);
		char buf[IPW_ADDR_STRLEN];
		int64_t before;
		int rc;

		if ((c->ops & 63) == 0 &&
		    atomic_load_explicit(&stop, memory_order_relaxed))
			break;
		c->ops++;
		if (kind < 40) { /* one put, then a check and a get */
			struct ipw_entry_info e;

			make_put(&r, k, &e);
			before = stress_clock(NULL);
			rc = ipw_table_put(tbl, &e);
			if (rc) {
				violate(V_PUT, "put %s: %s",
					fmt(&e.target, buf), ipw_errname(rc));
				continue;
			}
			put_keys[k].present = true;
			put_keys[k].e = e;
			c->writes++;
			put_check_after(&r, k, before);
			put_verify(k, "after put");
		} else if (kind < 60) { /* a batch, keys may repeat */
			unsigned n = 2 + below(&r, PUT_BATCH - 1);
			int failed;

			for (unsigned i = 0; i < n; i++) {
				keys[i] = below(&r, PUT_KEYS);
				make_put(&r, keys[i], &batch[i]);
				if (below(&r, 50) == 0)
					batch[i].flags = 2; /* EINVAL */
			}
			failed = ipw_table_put_batch(tbl, batch, n, rcs);
			for (unsigned i = 0; i < n; i++) {
				int want = batch[i].flags > 1 ? IPW_EINVAL : 0;

				if (rcs[i] != want) {
					violate(V_PUT, "put_batch #%u %s: %s",
						i, fmt(&batch[i].target, buf),
						ipw_errname(rcs[i]));
					failed--;
				}
				failed -= want != 0;
				if (rcs[i] == 0) {
					put_keys[keys[i]].present = true;
					put_keys[keys[i]].e = batch[i];
				}
			}
			if (failed != 0)
				violate(V_PUT, "put_batch miscounted failures");
			c->writes += n;
			for (unsigned i = 0; i < n; i++)
				put_verify(keys[i], "after put_batch");
		} else if (kind < 70) { /* removal */
			struct ipw_addr a;
			enum ipw_list list = put_key(&a, k);
			const struct ipw_entry_info *e = &put_keys[k].e;
			enum ipw_change what = 0;

			before = stress_clock(NULL);
			rc = ipw_table_del(tbl, list, &a, &what, NULL);
			/* REMOVED if it was there, live; ABSENT if not there,
			 * or expired (it stays for the purger) */
			if (rc ||
			    (what == IPW_CHANGE_REMOVED &&
			     (!put_keys[k].present ||
			      (e->expires && e->expires <= before))) ||
			    (what == IPW_CHANGE_ABSENT && put_keys[k].present &&
			     (e->expires == 0 ||
			      e->expires > stress_clock(NULL))))
				violate(V_PUT, "del %s: %s/%s", fmt(&a, buf),
					ipw_errname(rc), ipw_change_name(what));
			if (what == IPW_CHANGE_REMOVED)
				put_keys[k].present = false;
			c->writes++;
			put_verify(k, "after del");
		} else {
			put_verify(k, "later");
		}
	}
	ipw_reader_unregister();
	return NULL;
}

static void purge_cb(const struct ipw_entry_info *e, void *ctx)
{
	char buf[IPW_ADDR_STRLEN];

	(void)ctx;
	/* the clock only moves forward: expired at purge time is expired now */
	if (e->expires == 0 || e->expires > stress_clock(NULL))
		violate(V_PURGED_LIVE, "%s expires %" PRId64 ", now %" PRId64,
			fmt(&e->target, buf), e->expires, stress_clock(NULL));
}

static int info_cmp(const void *pa, const void *pb)
{
	const struct ipw_entry_info *a = pa, *b = pb;

	if (a->list != b->list)
		return a->list < b->list ? -1 : 1;
	return ipw_addr_cmp(&a->target, &b->target);
}

/* Sorted copy of a snapshot; returns the count. */
static size_t snapshot_sorted(struct ipw_entry_info **out)
{
	struct ipw_snapshot *s = NULL;
	size_t n;

	if (ipw_table_snapshot(tbl, &s) || !s) {
		printf("Bail out! snapshot failed\n");
		exit(2);
	}
	n = ipw_snapshot_count(s);
	*out = malloc((n + 1) * sizeof(**out));
	if (!*out) {
		printf("Bail out! out of memory\n");
		exit(2);
	}
	for (size_t i = 0; i < n; i++)
		ipw_snapshot_get(s, i, &(*out)[i]);
	ipw_snapshot_free(s);
	qsort(*out, n, sizeof(**out), info_cmp);
	return n;
}

static const struct ipw_entry_info *find_sorted(const struct ipw_entry_info *e,
						size_t n, enum ipw_list list,
						const struct ipw_addr *t)
{
	struct ipw_entry_info key;

	memset(&key, 0, sizeof(key));
	key.list = list;
	key.target = *t;
	return bsearch(&key, e, n, sizeof(*e), info_cmp);
}

static void check_snapshot_invariants(void)
{
	struct ipw_entry_info *e;
	size_t n = snapshot_sorted(&e);
	char buf[IPW_ADDR_STRLEN];

	for (size_t i = 1; i < n; i++)
		if (info_cmp(&e[i - 1], &e[i]) == 0)
			violate(V_SNAPSHOT, "%s listed twice",
				fmt(&e[i].target, buf));
	for (size_t i = 0; i < npinned; i++)
		if (!find_sorted(e, n, pinned[i].list, &pinned[i].target))
			violate(V_SNAPSHOT, "pinned %s missing",
				fmt(&pinned[i].target, buf));
	free(e);
}

static void *purger(void *p)
{
	struct counters *c = &totals[NREADERS + NWRITERS];
	uint64_t r = 0x3000;

	(void)p;
	ipw_reader_register();
	while (c->ops < WRITER_CAP &&
	       !atomic_load_explicit(&stop, memory_order_relaxed)) {
		struct timespec pause = {0, 200000};

		c->ops++;
		atomic_fetch_add_explicit(&fake_now, 1, memory_order_relaxed);
		c->purged +=
			ipw_table_purge(tbl, 1 + below(&r, 64), purge_cb, NULL);
		if (c->ops % 16 == 0)
			check_snapshot_invariants();
		if (c->ops % 16 == 8) {
			struct ipw_entry_info top[8];
			struct ipw_table_stats st;
			size_t n = ipw_table_top(tbl, NELEM(top), top);

			for (size_t i = 1; i < n && i < NELEM(top); i++)
				if (top[i].hits > top[i - 1].hits)
					violate(V_TOP,
						"top[%zu] has %" PRIu64
						" hits, top[%zu] %" PRIu64,
						i, top[i].hits, i - 1,
						top[i - 1].hits);
			ipw_table_stats(tbl, &st);
		}
		nanosleep(&pause, NULL);
	}
	ipw_reader_unregister();
	return NULL;
}

/* ---- final recomputation from a snapshot ---- */

static void recompute(const struct ipw_entry_info *e, size_t n,
		      const struct ipw_addr *ip, int64_t now,
		      enum ipw_mode mode, struct ipw_verdict *v)
{
	const struct ipw_entry_info *best[2] = {NULL, NULL};

	for (size_t i = 0; i < n; i++) {
		const struct ipw_entry_info *x = &e[i];

		if ((x->expires && x->expires <= now) ||
		    !ipw_addr_contains(&x->target, ip))
			continue;
		if (!best[x->list] ||
		    x->target.plen > best[x->list]->target.plen)
			best[x->list] = x;
	}
	memset(v, 0, sizeof(*v));
	if (best[IPW_LIST_ALLOW]) {
		v->reason = IPW_VERDICT_ALLOWED;
		v->list = IPW_LIST_ALLOW;
		v->entry = best[IPW_LIST_ALLOW]->target;
		v->expires = best[IPW_LIST_ALLOW]->expires;
	} else if (mode == IPW_MODE_ALLOWLIST) {
		v->blocked = true;
		v->reason = IPW_VERDICT_NOT_ALLOWED;
	} else if (best[IPW_LIST_BAN]) {
		v->blocked = true;
		v->reason = IPW_VERDICT_BANNED;
		v->list = IPW_LIST_BAN;
		v->entry = best[IPW_LIST_BAN]->target;
		v->expires = best[IPW_LIST_BAN]->expires;
	}
}

static size_t compare_all_checks(const struct ipw_entry_info *e, size_t n,
				 size_t *checked)
{
	size_t bad = 0;
	int64_t now = stress_clock(NULL);
	enum ipw_mode mode = ipw_table_mode(tbl);
	char b1[IPW_ADDR_STRLEN], b2[IPW_ADDR_STRLEN];

	*checked = 0;
	for (unsigned kind = 0; kind < 8; kind++) {
		unsigned count = kind == 0 ? 2 * OWN_KEYS * NWRITERS :
				 kind == 7 ? 4 * PUT_KEYS :
					     256;

		for (unsigned i = 0; i < count; i++) {
			struct ipw_addr ip;
			struct ipw_verdict v, w;
			bool same;

			switch (kind) {
			case 0:
				own_key(&ip, (int)(i / (2 * OWN_KEYS)),
					i % (2 * OWN_KEYS));
				break;
			case 1:
				v4(&ip, 0x0a090000 | i, 32);
				break;
			case 2:
				v6(&ip, 0x9, 0, (uint16_t)i, 128);
				break;
			case 3:
				v4(&ip, 0xac100000 | (i % NWRITERS) << 8 | i,
				   32);
				break;
			case 4:
				v4(&ip, 0xc6336400 | i, 32);
				break;
			case 5:
				v4(&ip, 0xc0000200 | i, 32);
				break;
			case 6:
				v6(&ip, i % 2 ? 0xdead : 0xcafe, (uint16_t)i, 0,
				   128);
				break;
			default:
				put_key_addr(&ip, i % PUT_KEYS,
					     i / PUT_KEYS * 77);
				break;
			}
			if (ipw_table_check(tbl, &ip, &v)) {
				bad++;
				continue;
			}
			recompute(e, n, &ip, now, mode, &w);
			same = v.blocked == w.blocked && v.reason == w.reason;
			if (same && (w.reason == IPW_VERDICT_BANNED ||
				     w.reason == IPW_VERDICT_ALLOWED))
				same = v.list == w.list &&
				       ipw_addr_equal(&v.entry, &w.entry) &&
				       v.expires == w.expires;
			if (!same && bad++ < 5)
				diag("  %s: table %s reason %u by %s, "
				     "snapshot says %s reason %u by %s",
				     fmt(&ip, b1),
				     v.blocked ? "blocked" : "admitted",
				     v.reason, fmt(&v.entry, b2),
				     w.blocked ? "blocked" : "admitted",
				     w.reason, fmt(&w.entry, b2));
			(*checked)++;
		}
	}
	return bad;
}

static double monotonic(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* First phase: the writers alone, score merges only, so that their
 * merges (locked and lock-free) really run at the same moments. */
#define SCORE_RACE_OPS	   100000u
#define SCORE_RACE_SECONDS 1.5

static double score_race_end;

static void *score_racer(void *p)
{
	struct writer_arg *arg = p;
	uint64_t r = 0x3000 + (uint64_t)arg->id;

	ipw_reader_register();
	for (unsigned i = 0; i < SCORE_RACE_OPS; i++) {
		if ((i & 255) == 0 && monotonic() > score_race_end)
			break;
		score_op(arg, &r);
	}
	ipw_reader_unregister();
	return NULL;
}

int main(void)
{
	static struct writer_arg wargs[NWRITERS];
	struct reader_arg rargs[NREADERS];
	pthread_t th[NREADERS + NWRITERS + 2];
	struct ipw_table_opts o;
	struct ipw_table_stats st;
	struct ipw_entry_info *snap;
	const char *env = getenv("IPW_STRESS_SECONDS");
	double seconds = env ? strtod(env, NULL) : 6.0, deadline;
	size_t n, bad, checked, expired;
	unsigned long total_checks = 0, total_writes = 0;
	int nth = 0, rc;

	if (seconds <= 0)
		seconds = 6.0;
	memset(&o, 0, sizeof(o));
	o.clock = stress_clock;
	o.max_entries = 1u << 20;
	rc = ipw_table_new(&tbl, &o);
	if (rc) {
		printf("Bail out! ipw_table_new: %s\n", ipw_errname(rc));
		return 2;
	}
	ipw_reader_register();
	setup_pinned();

	score_race_end = monotonic() + SCORE_RACE_SECONDS;
	for (int i = 0; i < NWRITERS; i++) {
		wargs[i].id = i;
		pthread_create(&th[i], NULL, score_racer, &wargs[i]);
	}
	for (int i = 0; i < NWRITERS; i++)
		pthread_join(th[i], NULL);
	is_int(atomic_load(&violations[V_SCORE]), 0,
	       "score race: every merge reported as the writer's own "
	       "scores predict");

	diag("%d readers, %d writers, 1 putter, 1 purger, for %.1f s "
	     "(IPW_STRESS_SECONDS)",
	     NREADERS, NWRITERS, seconds);

	deadline = monotonic() + seconds;
	for (int i = 0; i < NREADERS; i++) {
		rargs[i].id = i;
		pthread_create(&th[nth++], NULL, reader, &rargs[i]);
	}
	for (int i = 0; i < NWRITERS; i++) {
		wargs[i].id = i;
		pthread_create(&th[nth++], NULL, writer, &wargs[i]);
	}
	pthread_create(&th[nth++], NULL, purger, NULL);
	pthread_create(&th[nth++], NULL, putter, NULL);
	while (monotonic() < deadline) {
		struct timespec pause = {0, 20000000};

		nanosleep(&pause, NULL);
	}
	atomic_store(&stop, true);
	for (int i = 0; i < nth; i++)
		pthread_join(th[i], NULL);

	for (int i = 0; i < NREADERS; i++)
		total_checks += totals[i].checks;
	for (int i = 0; i < NWRITERS; i++)
		total_writes += totals[NREADERS + i].writes;
	diag("%lu checks, %lu writes, %lu puts and removals by the putter, "
	     "%lu purge calls removing %lu entries",
	     total_checks, total_writes, totals[NREADERS + NWRITERS + 1].writes,
	     totals[NREADERS + NWRITERS].ops,
	     totals[NREADERS + NWRITERS].purged);
	ok(total_checks > 0 && total_writes > 0 &&
		   totals[NREADERS + NWRITERS].purged > 0 &&
		   totals[NREADERS + NWRITERS + 1].writes > 0,
	   "every thread did work (checks, writes, puts, purges)");
	for (int v = 0; v < V_N; v++)
		is_int(atomic_load(&violations[v]), 0, "while running: no %s",
		       v_names[v]);

	/* The owned keys are as their writers left them. */
	bad = 0;
	for (int w = 0; w < NWRITERS; w++)
		for (unsigned k = 0; k < 2 * OWN_KEYS; k++) {
			struct ipw_addr a;
			struct ipw_entry_info e;
			struct ipw_verdict v;
			char buf[IPW_ADDR_STRLEN];
			int grc;

			own_key(&a, w, k);
			grc = ipw_table_get(tbl, IPW_LIST_BAN, &a, &e);
			rc = ipw_table_check(tbl, &a, &v);
			if ((grc == 0) != wargs[w].own[k] || rc ||
			    v.blocked != wargs[w].own[k]) {
				if (bad++ < 5)
					diag("  writer %d key %s: get %s, "
					     "blocked %d, want %s",
					     w, fmt(&a, buf), ipw_errname(grc),
					     v.blocked,
					     wargs[w].own[k] ? "banned" :
							       "absent");
			}
		}
	is_int(bad, 0, "after: every owned key is in its writer's final state");
	bad = 0;
	for (unsigned k = 0; k < SCORE_KEYS; k++) {
		struct ipw_addr a;
		struct ipw_entry_info e;
		uint32_t want = 0;
		char buf[IPW_ADDR_STRLEN];

		for (int w = 0; w < NWRITERS; w++)
			if (wargs[w].score_max[k] > want)
				want = wargs[w].score_max[k];
		score_key(&a, k);
		rc = ipw_table_get(tbl, IPW_LIST_BAN, &a, &e);
		if ((rc || e.score != want) && bad++ < 5)
			diag("  score key %s: %s score %u, want %u",
			     fmt(&a, buf), ipw_errname(rc), e.score, want);
	}
	is_int(bad, 0,
	       "after: every score key holds the highest score sent to it");
	{
		unsigned long before = atomic_load(&violations[V_PUT]);

		for (unsigned k = 0; k < PUT_KEYS; k++)
			put_verify(k, "after the run");
		is_int(atomic_load(&violations[V_PUT]) - before, 0,
		       "after: every put key holds what was put last (or "
		       "nothing, once expired)");
	}

	n = snapshot_sorted(&snap);
	ipw_table_stats(tbl, &st);
	is_int(n,
	       st.entries[0][0] + st.entries[0][1] + st.entries[1][0] +
		       st.entries[1][1],
	       "after: snapshot count equals the stats count");
	bad = 0;
	for (size_t i = 0; i < npinned; i++)
		bad += !find_sorted(snap, n, pinned[i].list, &pinned[i].target);
	is_int(bad, 0, "after: every pinned entry is present");
	bad = compare_all_checks(snap, n, &checked);
	is_int(bad, 0,
	       "after: %zu checks agree with a recomputation from the snapshot",
	       checked);

	expired = 0;
	for (size_t i = 0; i < n; i++)
		expired += snap[i].expires &&
			   snap[i].expires <= stress_clock(NULL);
	free(snap);
	is_int(ipw_table_purge(tbl, 0, purge_cb, NULL), expired,
	       "after: a final purge removes exactly the %zu expired entries",
	       expired);
	n = snapshot_sorted(&snap);
	bad = 0;
	for (size_t i = 0; i < n; i++)
		bad += snap[i].expires && snap[i].expires <= stress_clock(NULL);
	free(snap);
	is_int(bad, 0, "after: no expired entry is left");

	ipw_reader_unregister();
	ipw_table_free(tbl);
	return done_testing();
}
