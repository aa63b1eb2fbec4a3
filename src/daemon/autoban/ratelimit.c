// SPDX-License-Identifier: MIT
/*
 * Rate limits on the check path (ratelimit.h): GCRA over a fixed array of
 * slots, lock-free and allocation-free.
 *
 * GCRA. Each key has a theoretical arrival time (TAT, nanoseconds). With
 * the emission interval T = 1 s / rate and tau = burst * T, a request at
 * time now is admitted iff max(TAT, now) + T - now <= tau, and then TAT
 * becomes max(TAT, now) + T. So `burst` requests pass at once after a quiet
 * period and then one per T; a limited request leaves TAT alone and learns
 * how long to wait: max(TAT, now) + T - now - tau. A key whose TAT is in
 * the past is indistinguishable from a key never seen: this is what lets
 * slots be reused without losing anything.
 *
 * Slots. Buckets of 8 slots, chosen by a keyed hash of the key (attackers
 * choose addresses: src/lib/hash.h); a bucket is three cache lines, tags,
 * TATs and the sustained-overage words, so a check reads the tag line and
 * one TAT line. A slot is {tag: the 64-bit hash with the low bit set, 0 =
 * never used; TAT; over}. A key finds its slot by tag (a 64-bit tag
 * collision, two keys sharing one limit, needs ~2^32 keys in one bucket
 * and is ignored), or claims one by compare-and-swap on the tag of an
 * empty slot or of one whose TAT is not after now (an idle key, which
 * loses nothing). When all eight hold active keys, the request is admitted
 * untracked and counted (stats.untracked): under a flood of more active
 * keys than slots, the excess is not limited rather than evicting keys
 * that are limited (an attacker could otherwise free its own slot by
 * flooding its bucket). Size the budget for the active keys expected:
 * an active key occupies its slot only for its burst (tau) after its
 * last request.
 *
 * Concurrency. All accesses are relaxed atomics. The bound "at most
 * burst + rate * (t1 - t0) admissions for one key" holds because the TAT
 * moves only by compare-and-swap, from a value read, by at least T per
 * admission, and starts at or after t0: every atomic's modification order
 * is total, so no ordering with other memory is needed. Two benign races,
 * both bounded: (1) a thread of key X that read its slot's tag just before
 * key Y took the slot over (X idle, its TAT past) charges its one request
 * to Y's TAT (Y loses one request, X's request passes as it would have);
 * (2) two threads of a new key racing for slots while a third slot
 * expires between their scans may give the key two slots, so one extra
 * burst once. The sustained-overage word is a heuristic written with
 * plain relaxed stores; a lost update delays the signal by one request.
 *
 * Cost. One hash, one tag line, one TAT line and one CAS when admitted;
 * no CAS when limited, and the overage word is written once a second at
 * most. Counters are relaxed atomic adds in one of 8 cache lines per
 * thread (round-robin), touched only when limited, claiming or untracked.
 */
#include <math.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "autoban/ratelimit.h"
#include "../../lib/hash.h"

#define SLOTS	8
#define STRIPES 8

struct bucket {
	_Atomic uint64_t tag[SLOTS];
	_Atomic uint64_t tat[SLOTS];
	_Atomic uint64_t over[SLOTS]; /* since_s << 32 | (last_s + 1) */
};

struct stripe {
	_Atomic uint64_t limited, sustained, untracked, claims;
	char pad[64 - 4 * sizeof(uint64_t)];
};

struct ipwd_rl {
	struct bucket *b;
	uint32_t nb;
	uint64_t interval_ns; /* T */
	uint64_t tau_ns;      /* burst * T */
	unsigned plen_v4, plen_v6;
	uint32_t sustain_s;
	uint64_t key[2];
	size_t bytes;
	struct stripe st[STRIPES] __attribute__((aligned(64)));
};

_Static_assert(sizeof(struct bucket) == 192, "three cache lines");
_Static_assert(sizeof(struct stripe) == 64, "one cache line");

int ipwd_rl_new(struct ipwd_rl **out, const struct ipwd_rl_opts *opts)
{
	struct ipwd_rl *rl;
	double t;
	size_t nb;
	void *mem;

	if (!out || !opts)
		return IPW_EINVAL;
	if (!(opts->rate_per_s > 0) || !isfinite(opts->rate_per_s) ||
	    opts->burst == 0)
		return IPW_EAB_RATE;
	if (opts->plen_v4 > 32 || opts->plen_v6 > 128)
		return IPW_EADDR_PREFIX_RANGE;
	nb = opts->budget_bytes / sizeof(struct bucket);
	if (nb == 0 || nb > UINT32_MAX)
		return IPW_EAB_BUDGET;
	t = 1e9 / opts->rate_per_s;
	if (t < 1)
		t = 1; /* a billion per second: as good as no limit */
	if (t * opts->burst > 1e18)
		return IPW_EAB_RATE; /* tau would not fit the clock */

	if (posix_memalign((void **)&rl, 64, sizeof(*rl)))
		return IPW_ENOMEM;
	memset(rl, 0, sizeof(*rl));
	if (posix_memalign(&mem, 64, nb * sizeof(struct bucket))) {
		free(rl);
		return IPW_ENOMEM;
	}
	memset(mem, 0, nb * sizeof(struct bucket));
	rl->b = mem;
	rl->nb = (uint32_t)nb;
	rl->interval_ns = (uint64_t)t;
	rl->tau_ns = rl->interval_ns * opts->burst;
	rl->plen_v4 = opts->plen_v4 ? opts->plen_v4 : 32;
	rl->plen_v6 = opts->plen_v6 ? opts->plen_v6 : 64;
	rl->sustain_s = opts->sustain_s;
	rl->bytes = sizeof(*rl) + nb * sizeof(struct bucket);
	if (opts->hash_key[0] || opts->hash_key[1]) {
		rl->key[0] = opts->hash_key[0];
		rl->key[1] = opts->hash_key[1];
	} else if (getrandom(rl->key, sizeof(rl->key), 0) != sizeof(rl->key)) {
		free(rl->b);
		free(rl);
		return IPW_EIO;
	}
	*out = rl;
	return 0;
}

void ipwd_rl_free(struct ipwd_rl *rl)
{
	if (!rl)
		return;
	free(rl->b);
	free(rl);
}

size_t ipwd_rl_memory(const struct ipwd_rl *rl)
{
	return rl->bytes;
}

void ipwd_rl_stats(const struct ipwd_rl *rl, struct ipwd_rl_stats *o)
{
	memset(o, 0, sizeof(*o));
	for (int i = 0; i < STRIPES; i++) {
		const struct stripe *s = &rl->st[i];

		o->limited +=
			atomic_load_explicit(&s->limited, memory_order_relaxed);
		o->sustained += atomic_load_explicit(&s->sustained,
						     memory_order_relaxed);
		o->untracked += atomic_load_explicit(&s->untracked,
						     memory_order_relaxed);
		o->claims +=
			atomic_load_explicit(&s->claims, memory_order_relaxed);
	}
	o->slots = (uint64_t)rl->nb * SLOTS;
	o->bytes = rl->bytes;
}

/* Each thread counts in its own stripe (round-robin at first use), so
 * threads do not bounce counter lines between them. */
static atomic_uint next_stripe;
static _Thread_local unsigned my_stripe = ~0u;

static inline unsigned stripe_of_thread(void)
{
	if (my_stripe == ~0u)
		my_stripe = atomic_fetch_add_explicit(&next_stripe, 1,
						      memory_order_relaxed) %
			    STRIPES;
	return my_stripe;
}

static inline void add(_Atomic uint64_t *c)
{
	atomic_fetch_add_explicit(c, 1, memory_order_relaxed);
}

static uint64_t hash_addr(const struct ipwd_rl *rl, const struct ipw_addr *a)
{
	if (a->family == IPW_AF_INET) {
		unsigned plen = rl->plen_v4 < a->plen ? rl->plen_v4 : a->plen;
		uint32_t v = ipw_addr_v4(a);

		v = plen ? v & ~(uint32_t)0 << (32 - plen) : 0;
		return ipw_hash_u64((uint64_t)plen << 32 | v, rl->key);
	}
	unsigned plen = rl->plen_v6 < a->plen ? rl->plen_v6 : a->plen;
	uint64_t hi = 0, lo = 0;

	for (int i = 0; i < 8; i++) {
		hi = hi << 8 | a->bytes[i];
		lo = lo << 8 | a->bytes[8 + i];
	}
	if (plen <= 64) {
		lo = 0;
		hi = plen ? hi & ~0ull << (64 - plen) : 0;
	} else if (plen < 128) {
		lo &= ~0ull << (128 - plen);
	}
	/* plen in the top byte keeps ::/0 and ::/64 apart */
	return ipw_hash_u128(hi, lo ^ (uint64_t)plen << 56 ^ 6, rl->key);
}

/* The slot of @tag in @b, claiming one if needed; -1 when all are busy. */
static int slot_of(struct bucket *b, uint64_t tag, uint64_t now,
		   struct stripe *st)
{
	for (int i = 0; i < SLOTS; i++)
		if (atomic_load_explicit(&b->tag[i], memory_order_relaxed) ==
		    tag)
			return i;
	for (int i = 0; i < SLOTS; i++) {
		uint64_t t =
			atomic_load_explicit(&b->tag[i], memory_order_relaxed);

		if (t == tag)
			return i; /* another thread claimed it for us */
		if (t != 0 && atomic_load_explicit(&b->tat[i],
						   memory_order_relaxed) > now)
			continue; /* an active key */
		if (atomic_compare_exchange_strong_explicit(
			    &b->tag[i], &t, tag, memory_order_relaxed,
			    memory_order_relaxed)) {
			atomic_store_explicit(&b->over[i], 0,
					      memory_order_relaxed);
			add(&st->claims);
			return i;
		}
		if (t == tag)
			return i;
		/* lost to another key: look further */
	}
	return -1;
}

bool ipwd_rl_check(struct ipwd_rl *rl, const struct ipw_addr *addr,
		   uint64_t now, struct ipwd_rl_result *res)
{
	struct ipwd_rl_result dummy;
	uint64_t h = hash_addr(rl, addr), tag = h | 1, tat, base, next;
	uint32_t bi = (uint32_t)(((h >> 32) * (uint64_t)rl->nb) >> 32);
	struct bucket *b = &rl->b[bi];
	struct stripe *st = &rl->st[stripe_of_thread()];
	int i;

	if (!res)
		res = &dummy;
	memset(res, 0, sizeof(*res));
	i = slot_of(b, tag, now, st);
	if (i < 0) {
		add(&st->untracked);
		res->untracked = true;
		return true;
	}
	tat = atomic_load_explicit(&b->tat[i], memory_order_relaxed);
	for (;;) {
		base = tat > now ? tat : now;
		next = base + rl->interval_ns;
		if (next - now > rl->tau_ns)
			break;
		if (atomic_compare_exchange_weak_explicit(
			    &b->tat[i], &tat, next, memory_order_relaxed,
			    memory_order_relaxed))
			return true;
	}

	/* limited */
	uint64_t wait = next - now - rl->tau_ns;
	uint64_t ms = (wait + 999999) / 1000000;
	uint32_t now_s = (uint32_t)(now / 1000000000u);
	uint64_t o = atomic_load_explicit(&b->over[i], memory_order_relaxed);
	uint32_t since = (uint32_t)(o >> 32), last = (uint32_t)o - 1;

	if (o == 0 || now_s - last > 1)
		since = now_s;
	/* changes once a second: no store (no line write) in between */
	if (o != ((uint64_t)since << 32 | (uint32_t)(now_s + 1)))
		atomic_store_explicit(&b->over[i],
				      (uint64_t)since << 32 |
					      (uint32_t)(now_s + 1),
				      memory_order_relaxed);
	res->limited = true;
	res->retry_after_ms = ms > UINT32_MAX ? UINT32_MAX : (uint32_t)ms;
	res->sustained = rl->sustain_s && now_s - since >= rl->sustain_s;
	add(&st->limited);
	if (res->sustained)
		add(&st->sustained);
	return false;
}
