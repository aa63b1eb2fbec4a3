// SPDX-License-Identifier: MIT
/*
 * The auto-ban engine (engine.h): counts failure events per source and rule
 * and decides bans, in a fixed budget of memory, whatever arrives.
 *
 * Keys. An IPv4 source is counted per address; an IPv6 source per /64
 * (attackers rotate through a /64 in seconds). While the circuit breaker
 * is open, sources not already tracked are counted per /24 and per /48.
 * Offenders (sources a rule decided on) are also counted per /24 and /48
 * for aggregation (agg_v4, agg_v6).
 *
 * Counting is exact. Each tracked key of a rule with threshold N holds the
 * times of its last N-1 events (a ring of 32-bit millisecond offsets). An
 * event fires when, after dropping the events at least W old, N-1 remain:
 * this event is then the N-th of N events that all lie within W (the oldest
 * strictly less than W old). Never at N-1, and the window slides with every
 * event (fail2ban's findtime, not GCRA, which lets a brute-forcer doing
 * exactly N per W through, and not fixed buckets, which let 2N through
 * across a boundary). Firing frees the key: one burst, one decision. The
 * 32-bit offsets are safe because a key's ring is pruned at every event and
 * reset when the key was idle longer than W (checked on a 32-bit seconds
 * stamp): no kept offset is older than 2W + 2 s < 2^32 ms (W <= 24 days).
 *
 * The tracked set. Per rule, a fixed array of buckets chosen by a keyed
 * hash (src/lib/hash.h: attackers choose the addresses). A bucket is one
 * cache line of header (8 x {23-bit tag, 8-bit count}, 8 x last-seen
 * seconds) followed by 8 slots of 16 + 4(N-1) bytes. A new key takes, in
 * this order: an empty slot; a stale one (last event older than W: nothing
 * of it counts any more); the oldest slot holding one event ("one-shot"
 * entries displace only each other, FIFO); and only if all eight hold two
 * events or more, the one with the fewest, provided the count-min sketch
 * estimates the newcomer heavier than it by more than twice the sketch's
 * noise floor (its mean counter value: a sketch admission). Otherwise
 * the event is counted by the sketch only ("untracked"). So a flood of
 * one-shot random sources churns only one-shot entries: a real offender is
 * displaced once it has two events in the window only by a heavier one, and
 * its first event survives about slots / (new sources per second) seconds.
 *
 * The sketch. It counts the events of keys a rule does not track (a
 * tracked key's count is exact and needs no estimate). Two generations of
 * a count-min sketch, each covering E = the
 * longest rule window (the older one is cleared and becomes the current
 * one every E). Blocked: a key's d = 4 8-bit counters (conservative
 * update, saturating) lie in one 64-byte line, so an update is one cache
 * miss. Count-min never underestimates; the estimate of a key over the
 * last E..2E exceeds its true count by at most e * M / w with probability
 * >= 1 - e^-d (Cormode and Muthukrishnan) for M events in the two
 * generations and w counters per row; blocking correlates the rows through
 * the line's load, so the bound is the unblocked one, met in practice
 * within a small factor. Admission asks the estimate to beat the victim's
 * exact count plus twice the mean counter value of the sketch (the
 * expected overcount is the mean): when a flood saturates the sketch, that
 * margin rises with it, so a one-shot flood cannot buy its way in on noise
 * (measured: none of 47,000 one-shots in a saturated sketch, test_autoban);
 * a heavy newcomer gets in once its true count exceeds the victim's by
 * about the mean. The
 * sketch never decides a ban: decisions come
 * from exact rings only, so its error changes who is tracked, never who is
 * banned. A one-shot random source is never decided by a rule with N >= 2.
 *
 * The circuit breaker. Events from keys no rule tracks are "new sources".
 * When more than breaker_new_sources_per_s arrive in one (monotonic)
 * second, the breaker opens: new sources are no longer given slots (their
 * events are "shed" from per-source counting) but counted on their /24 or
 * /48 key, with the rule's N and W, and such a prefix can be decided
 * (scope BREAKER). Sources already tracked keep being counted exactly. The
 * breaker closes after breaker_calm_ms of whole seconds with at most half
 * the threshold of new sources (hysteresis).
 *
 * Memory. One mmap() of budget_bytes at _new (zero pages, huge pages
 * asked for with MADV_HUGEPAGE; the kernel commits pages as they are first
 * touched, so RSS grows to the budget and no further): the struct, the sketch
 * (1/8 of the budget), the aggregation table (1/16, when a rule
 * aggregates) and the rules' tracked sets (the rest, the same number of
 * slots for every rule). Nothing is allocated afterwards.
 *
 * Cost. An event: one keyed hash, per rule counting its type one bucket
 * (header line + one slot), and one sketch line if some rule does not
 * track the key. Pruning is amortised O(1) (each event enters and leaves
 * a ring once). The sketch rotation clears one generation (budget/16
 * bytes) once per E, inside the event that crosses it. ipwd_ab_prefetch()
 * issues these loads ahead for a caller with a queue.
 *
 * Concurrency. One engine thread calls everything but the getters; the
 * counters are atomics written with relaxed stores by that thread only.
 */
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/random.h>

#include "autoban/engine.h"
#include "../../lib/hash.h"

enum kind {
	K_HOST4 = 1, /* IPv4 address */
	K_NET64,     /* IPv6 /64 */
	K_BRK24,     /* breaker: IPv4 /24 */
	K_BRK48,     /* breaker: IPv6 /48 */
	K_AGG24,     /* offenders in an IPv4 /24 */
	K_AGG48,     /* offenders (/64s) in an IPv6 /48 */
};

#define BUCKET_SLOTS 8
#define TAG_BIT	     0x800000u /* keeps a used header word non-zero */
#define AGG_WAYS     4

struct bhead {
	uint32_t tc[BUCKET_SLOTS]; /* tag << 8 | events held; 0 = empty */
	uint32_t last_s[BUCKET_SLOTS];
};

struct slot {
	uint64_t key;
	uint8_t kind;
	uint8_t n;    /* events in ring */
	uint8_t head; /* index of the oldest */
	uint8_t pad[5];
	uint32_t ring[]; /* capacity threshold - 1 */
};

struct agg_item {
	uint32_t t; /* ms, truncated */
	uint16_t id;
};

struct agg {
	uint64_t key;
	uint8_t kind; /* 0 = empty */
	uint8_t rule;
	uint8_t n;
	uint8_t pad;
	uint32_t last_s;
	struct agg_item item[IPWD_AB_AGG_MAX];
};

struct rstate {
	char name[IPWD_AB_NAME_MAX];
	unsigned threshold;
	unsigned cap; /* ring capacity: threshold - 1 */
	uint64_t window_ms;
	uint32_t window32;
	uint32_t window_s; /* ceil(window / 1 s) */
	uint32_t ban_s, ban_max_s;
	double escalate;
	unsigned agg_v4, agg_v6;
	uint32_t agg_window32, agg_window_s;
	bool dry_run;
	uint32_t salt;
	size_t slot_bytes, bucket_bytes;
	uint32_t nbuckets;
	unsigned char *buckets;
};

#define TYPE_HASH 128 /* open addressing over IPWD_AB_TYPES_MAX names */

struct counters {
	_Atomic uint64_t events, events_unknown, events_invalid, exempt,
		decisions, decisions_dry_run, decisions_dropped,
		tracked_inserts, tracked_evictions, sketch_admissions,
		untracked, new_sources, breaker_trips, breaker_open, shed,
		sketch_rotations;
};

struct ipwd_ab {
	void *block; /* the one allocation */
	size_t bytes;
	uint64_t key[2];
	bool (*exempt)(void *ctx, const struct ipw_addr *target);
	unsigned (*past_bans)(void *ctx, const struct ipw_addr *target);
	void *ctx;

	unsigned nrules;
	struct rstate rule[IPWD_AB_RULES_MAX];

	unsigned ntypes;
	char type_name[IPWD_AB_TYPES_MAX][IPWD_AB_NAME_MAX];
	uint32_t type_rules[IPWD_AB_TYPES_MAX]; /* bit r: rule r counts it */
	uint8_t type_hash[TYPE_HASH];		/* id + 1; 0 = empty */

	/* sketch */
	uint8_t *sk[2];
	uint64_t sk_incs[2]; /* counter increments in each generation */
	uint32_t sk_lines;
	unsigned sk_cur;
	uint64_t sk_epoch_ms, sk_start_ms;
	bool sk_started;

	/* aggregation */
	struct agg *agg;
	uint32_t agg_buckets;

	/* breaker */
	uint32_t br_limit, br_calm_ms;
	uint64_t br_sec;   /* the second being counted */
	uint64_t br_count; /* new sources in it */
	uint64_t br_calm;  /* calm ms accumulated while open */
	bool br_open;

	uint64_t tracked_slots;
	struct counters st;
};

/* Single writer: a relaxed load and store, no locked instruction. */
static inline void bump(_Atomic uint64_t *c)
{
	atomic_store_explicit(c,
			      atomic_load_explicit(c, memory_order_relaxed) + 1,
			      memory_order_relaxed);
}

static inline uint32_t fastrange(uint32_t h, uint32_t n)
{
	return (uint32_t)(((uint64_t)h * n) >> 32);
}

static size_t round_up(size_t x, size_t a)
{
	return (x + a - 1) / a * a;
}

size_t ipwd_ab_slot_bytes(unsigned threshold)
{
	size_t s;

	if (threshold < 2)
		return 0;
	s = round_up(sizeof(struct slot) + 4 * (size_t)(threshold - 1), 8);
	return s + sizeof(struct bhead) / BUCKET_SLOTS;
}

static size_t body_bytes(unsigned threshold)
{
	return round_up(sizeof(struct slot) + 4 * (size_t)(threshold - 1), 8);
}

/* ---- rules and types ---------------------------------------------- */

static bool good_name(const char *s)
{
	size_t n;

	if (!s)
		return false;
	n = strlen(s);
	if (n == 0 || n >= IPWD_AB_NAME_MAX)
		return false;
	for (size_t i = 0; i < n; i++) {
		char c = s[i];

		if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
		      c == '_' || c == '.' || c == '-'))
			return false;
	}
	return true;
}

static uint32_t name_hash(const char *s)
{
	uint32_t h = 2166136261u;

	while (*s)
		h = (h ^ (uint8_t)*s++) * 16777619u;
	return h;
}

static int type_find(const struct ipwd_ab *ab, const char *name)
{
	uint32_t i = name_hash(name) & (TYPE_HASH - 1);

	for (unsigned probes = 0; probes < TYPE_HASH; probes++) {
		unsigned v = ab->type_hash[i];

		if (v == 0)
			return -1;
		if (strcmp(ab->type_name[v - 1], name) == 0)
			return (int)v - 1;
		i = (i + 1) & (TYPE_HASH - 1);
	}
	return -1;
}

static int type_add(struct ipwd_ab *ab, const char *name, unsigned rule)
{
	int id = type_find(ab, name);
	uint32_t i;

	if (id < 0) {
		if (ab->ntypes == IPWD_AB_TYPES_MAX)
			return IPW_EAB_NO_TYPES;
		id = (int)ab->ntypes++;
		memcpy(ab->type_name[id], name, strlen(name) + 1); /* < 32 */
		i = name_hash(name) & (TYPE_HASH - 1);
		while (ab->type_hash[i])
			i = (i + 1) & (TYPE_HASH - 1);
		ab->type_hash[i] = (uint8_t)(id + 1);
	}
	ab->type_rules[id] |= 1u << rule;
	return 0;
}

int ipwd_ab_type_id(const struct ipwd_ab *ab, const char *name)
{
	int id = name && good_name(name) ? type_find(ab, name) : -1;

	return id < 0 ? IPW_EAB_TYPE_UNKNOWN : id;
}

static int check_rule(const struct ipwd_ab_rule *r)
{
	if (!good_name(r->name))
		return IPW_EAB_RULE_NAME;
	if (!r->types || r->ntypes == 0)
		return IPW_EAB_NO_TYPES;
	for (size_t i = 0; i < r->ntypes; i++)
		if (!good_name(r->types[i]))
			return IPW_EAB_TYPE_NAME;
	if (r->threshold == 0)
		return IPW_EAB_THRESHOLD_ZERO;
	if (r->threshold > IPWD_AB_THRESHOLD_MAX)
		return IPW_EAB_THRESHOLD_MAX;
	if (r->window_ms == 0)
		return IPW_EAB_WINDOW_ZERO;
	if (r->window_ms > IPWD_AB_WINDOW_MAX_MS ||
	    r->agg_window_ms > IPWD_AB_WINDOW_MAX_MS)
		return IPW_EAB_WINDOW_MAX;
	/* !(x >= 1) also refuses NaN */
	if (!(r->escalate >= 1.0))
		return IPW_EAB_FACTOR;
	if (r->ban_s == 0 || (r->ban_max_s && r->ban_max_s < r->ban_s))
		return IPW_EAB_BAN_DURATION;
	if (r->agg_v4 == 1 || r->agg_v4 > IPWD_AB_AGG_MAX || r->agg_v6 == 1 ||
	    r->agg_v6 > IPWD_AB_AGG_MAX)
		return IPW_EAB_AGG;
	return 0;
}

static void rule_init(struct rstate *rs, const struct ipwd_ab_rule *r,
		      uint32_t salt)
{
	uint64_t aw;

	memcpy(rs->name, r->name, strlen(r->name) + 1); /* checked: < 32 */
	rs->threshold = r->threshold;
	rs->cap = r->threshold - 1;
	rs->window_ms = r->window_ms;
	rs->window32 = (uint32_t)r->window_ms;
	rs->window_s = (uint32_t)((r->window_ms + 999) / 1000);
	rs->ban_s = r->ban_s;
	rs->ban_max_s = r->ban_max_s;
	rs->escalate = r->escalate;
	rs->agg_v4 = r->agg_v4;
	rs->agg_v6 = r->agg_v6;
	aw = r->agg_window_ms ? r->agg_window_ms : (uint64_t)r->ban_s * 1000;
	if (aw > IPWD_AB_WINDOW_MAX_MS)
		aw = IPWD_AB_WINDOW_MAX_MS;
	rs->agg_window32 = (uint32_t)aw;
	rs->agg_window_s = (uint32_t)((aw + 999) / 1000);
	rs->dry_run = r->dry_run;
	rs->salt = salt;
	if (r->threshold >= 2) {
		rs->slot_bytes = body_bytes(r->threshold);
		rs->bucket_bytes = round_up(
			sizeof(struct bhead) + BUCKET_SLOTS * rs->slot_bytes,
			64);
	}
}

/* ---- life cycle ---------------------------------------------------- */

int ipwd_ab_new(struct ipwd_ab **out, const struct ipwd_ab_opts *opts,
		int *rule_err)
{
	struct ipwd_ab *ab;
	unsigned char *p, *end;
	size_t fixed, sk_bytes, agg_bytes = 0, per_set = 0, rest;
	uint64_t epoch = 0, key[2];
	bool any_agg = false;
	int rc;

	if (rule_err)
		*rule_err = -1;
	if (!out || !opts)
		return IPW_EINVAL;
	if (!opts->rules || opts->nrules == 0 ||
	    opts->nrules > IPWD_AB_RULES_MAX)
		return IPW_EAB_RULES;
	for (size_t r = 0; r < opts->nrules; r++) {
		const struct ipwd_ab_rule *rule = &opts->rules[r];

		rc = check_rule(rule);
		for (size_t q = 0; rc == 0 && q < r; q++)
			if (strcmp(opts->rules[q].name, rule->name) == 0)
				rc = IPW_EAB_RULE_NAME;
		if (rc) {
			if (rule_err)
				*rule_err = (int)r;
			return rc;
		}
		if (rule->window_ms > epoch)
			epoch = rule->window_ms;
		if (rule->threshold >= 2)
			per_set += round_up(
				sizeof(struct bhead) +
					BUCKET_SLOTS *
						body_bytes(rule->threshold),
				64);
		any_agg |= rule->agg_v4 || rule->agg_v6;
	}

	fixed = round_up(sizeof(*ab), 64);
	sk_bytes = opts->budget_bytes / 8 / 128 * 128;
	if (any_agg)
		agg_bytes = opts->budget_bytes / 16 /
			    (AGG_WAYS * sizeof(struct agg)) *
			    (AGG_WAYS * sizeof(struct agg));
	if (opts->budget_bytes < IPWD_AB_BUDGET_MIN ||
	    opts->budget_bytes < fixed + sk_bytes + agg_bytes ||
	    (any_agg && agg_bytes == 0))
		return IPW_EAB_BUDGET;
	rest = opts->budget_bytes - fixed - sk_bytes - agg_bytes;
	if (per_set && rest / per_set == 0)
		return IPW_EAB_BUDGET;

	if (opts->hash_key[0] || opts->hash_key[1]) {
		key[0] = opts->hash_key[0];
		key[1] = opts->hash_key[1];
	} else if (getrandom(key, sizeof(key), 0) != sizeof(key)) {
		return IPW_EIO;
	}

	/* zero pages from the kernel, in huge pages where it can (the state
	 * is touched at random: TLB misses are most of an event's cost) */
	p = mmap(NULL, opts->budget_bytes, PROT_READ | PROT_WRITE,
		 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED)
		return IPW_ENOMEM;
	(void)madvise(p, opts->budget_bytes, MADV_HUGEPAGE);
	end = p + opts->budget_bytes;
	ab = (struct ipwd_ab *)p; /* page-aligned */
	ab->block = p;
	ab->bytes = opts->budget_bytes;
	ab->key[0] = key[0];
	ab->key[1] = key[1];
	ab->exempt = opts->exempt;
	ab->past_bans = opts->past_bans;
	ab->ctx = opts->ctx;
	p = (unsigned char *)ab + round_up(sizeof(*ab), 64);

	ab->sk_lines = (uint32_t)(sk_bytes / 128);
	ab->sk[0] = p;
	ab->sk[1] = p + (size_t)ab->sk_lines * 64;
	ab->sk_epoch_ms = epoch;
	p += sk_bytes;

	if (any_agg) {
		ab->agg = (struct agg *)p;
		ab->agg_buckets =
			(uint32_t)(agg_bytes / (AGG_WAYS * sizeof(struct agg)));
		p += agg_bytes;
	}

	ab->nrules = (unsigned)opts->nrules;
	for (unsigned r = 0; r < ab->nrules; r++) {
		const struct ipwd_ab_rule *rule = &opts->rules[r];

		rule_init(&ab->rule[r], rule,
			  (uint32_t)ipw_hash_u32(r, ab->key));
		for (size_t t = 0; t < rule->ntypes; t++) {
			rc = type_add(ab, rule->types[t], r);
			if (rc) {
				if (rule_err)
					*rule_err = (int)r;
				munmap(ab->block, ab->bytes);
				return rc;
			}
		}
	}
	for (unsigned r = 0; per_set && r < ab->nrules; r++) {
		struct rstate *rs = &ab->rule[r];

		if (rs->threshold < 2)
			continue;
		rs->nbuckets = (uint32_t)(rest / per_set);
		rs->buckets = p;
		p += (size_t)rs->nbuckets * rs->bucket_bytes;
		ab->tracked_slots += (uint64_t)rs->nbuckets * BUCKET_SLOTS;
	}
	if (p > end)
		abort(); /* the arithmetic above is wrong */

	ab->br_limit = opts->breaker_new_sources_per_s;
	ab->br_calm_ms = opts->breaker_calm_ms ? opts->breaker_calm_ms : 10000;
	*out = ab;
	return 0;
}

void ipwd_ab_free(struct ipwd_ab *ab)
{
	if (ab)
		munmap(ab->block, ab->bytes);
}

size_t ipwd_ab_memory(const struct ipwd_ab *ab)
{
	return ab->bytes;
}

bool ipwd_ab_breaker_open(const struct ipwd_ab *ab)
{
	return atomic_load_explicit(&ab->st.breaker_open,
				    memory_order_relaxed) != 0;
}

void ipwd_ab_stats(const struct ipwd_ab *ab, struct ipwd_ab_stats *o)
{
#define LD(f) o->f = atomic_load_explicit(&ab->st.f, memory_order_relaxed)
	LD(events);
	LD(events_unknown);
	LD(events_invalid);
	LD(exempt);
	LD(decisions);
	LD(decisions_dry_run);
	LD(decisions_dropped);
	LD(tracked_inserts);
	LD(tracked_evictions);
	LD(sketch_admissions);
	LD(untracked);
	LD(new_sources);
	LD(breaker_trips);
	LD(breaker_open);
	LD(shed);
	LD(sketch_rotations);
#undef LD
	o->tracked_slots = ab->tracked_slots;
	o->bytes = ab->bytes;
}

/* ---- the sketch ---------------------------------------------------- */

static void sketch_rotate(struct ipwd_ab *ab, uint64_t now)
{
	size_t gen = (size_t)ab->sk_lines * 64;

	if (!ab->sk_started) {
		ab->sk_started = true;
		ab->sk_start_ms = now;
		return;
	}
	if (now - ab->sk_start_ms < ab->sk_epoch_ms || now < ab->sk_start_ms)
		return;
	if (now - ab->sk_start_ms >= 2 * ab->sk_epoch_ms) {
		memset(ab->sk[ab->sk_cur], 0, gen);
		ab->sk_incs[ab->sk_cur] = 0;
	}
	ab->sk_cur ^= 1;
	memset(ab->sk[ab->sk_cur], 0, gen);
	ab->sk_incs[ab->sk_cur] = 0;
	ab->sk_start_ms = now;
	bump(&ab->st.sketch_rotations);
}

static inline uint8_t *sk_line(const struct ipwd_ab *ab, unsigned gen,
			       uint64_t h2)
{
	return ab->sk[gen] +
	       (size_t)fastrange((uint32_t)(h2 >> 32), ab->sk_lines) * 64;
}

static void sketch_add(struct ipwd_ab *ab, uint64_t h2)
{
	uint8_t *line = sk_line(ab, ab->sk_cur, h2);
	uint8_t *c[4], m = 255;

	for (int k = 0; k < 4; k++) {
		c[k] = &line[(h2 >> (6 * k)) & 63];
		if (*c[k] < m)
			m = *c[k];
	}
	if (m == 255)
		return;
	/* conservative update: raise only the counters at the minimum */
	for (int k = 0; k < 4; k++)
		if (*c[k] == m) {
			*c[k] = (uint8_t)(m + 1);
			ab->sk_incs[ab->sk_cur]++;
		}
}

/* The sketch's noise floor: the mean counter value of both generations,
 * rounded up. A key's estimate exceeds its true count by about this much
 * on average; by more than c times it with probability at most 1/c for
 * each of its counters (Markov), and the estimate is their minimum. */
static unsigned sketch_floor(const struct ipwd_ab *ab)
{
	uint64_t w = (uint64_t)ab->sk_lines * 64;

	return (unsigned)((ab->sk_incs[0] + ab->sk_incs[1] + w - 1) / w);
}

static unsigned sketch_est(const struct ipwd_ab *ab, uint64_t h2)
{
	unsigned sum = 0;

	for (unsigned g = 0; g < 2; g++) {
		const uint8_t *line = sk_line(ab, g, h2);
		unsigned m = 255;

		for (int k = 0; k < 4; k++)
			if (line[(h2 >> (6 * k)) & 63] < m)
				m = line[(h2 >> (6 * k)) & 63];
		sum += m;
	}
	return sum;
}

/* ---- the breaker --------------------------------------------------- */

static void breaker_tick(struct ipwd_ab *ab, uint64_t now)
{
	uint64_t sec = now / 1000;

	if (sec <= ab->br_sec)
		return;
	if (ab->br_open) {
		/* the second just closed, and the empty ones after it */
		if (ab->br_count * 2 <= ab->br_limit)
			ab->br_calm += 1000;
		else
			ab->br_calm = 0;
		ab->br_calm += (sec - ab->br_sec - 1) * 1000;
		if (ab->br_calm >= ab->br_calm_ms) {
			ab->br_open = false;
			atomic_store_explicit(&ab->st.breaker_open, 0,
					      memory_order_relaxed);
		}
	}
	ab->br_sec = sec;
	ab->br_count = 0;
}

static void breaker_new_source(struct ipwd_ab *ab)
{
	bump(&ab->st.new_sources);
	if (!ab->br_limit)
		return;
	ab->br_count++;
	if (ab->br_open) {
		if (ab->br_count * 2 > ab->br_limit)
			ab->br_calm = 0;
		return;
	}
	if (ab->br_count > ab->br_limit) {
		ab->br_open = true;
		ab->br_calm = 0;
		bump(&ab->st.breaker_trips);
		atomic_store_explicit(&ab->st.breaker_open, 1,
				      memory_order_relaxed);
	}
}

/* ---- targets, exemption, escalation -------------------------------- */

static void target_of(struct ipw_addr *t, enum kind kind, uint64_t key)
{
	memset(t, 0, sizeof(*t));
	switch (kind) {
	case K_HOST4:
	case K_BRK24:
	case K_AGG24:
		t->family = IPW_AF_INET;
		t->plen = kind == K_HOST4 ? 32 : 24;
		for (int i = 0; i < 4; i++)
			t->bytes[i] = (uint8_t)(key >> (24 - 8 * i));
		break;
	default:
		t->family = IPW_AF_INET6;
		t->plen = kind == K_NET64 ? 64 : 48;
		for (int i = 0; i < 8; i++)
			t->bytes[i] = (uint8_t)(key >> (56 - 8 * i));
		break;
	}
}

/* Loopback, "this network" and the IPv6 block holding ::, ::1 and the
 * mapped and compatible IPv4 forms: never counted, never decided. */
static bool builtin_exempt_v4(uint32_t a)
{
	return (a >> 24) == 127 || (a >> 24) == 0;
}

static bool builtin_exempt_v6(uint64_t hi)
{
	return hi == 0;
}

static uint32_t escalate(const struct rstate *rs, unsigned past)
{
	double cap = rs->ban_max_s ? rs->ban_max_s : (double)UINT32_MAX;
	double t = rs->ban_s, base = rs->escalate;

	/* ban_s * escalate^past by squaring: at most 32 steps */
	for (unsigned p = past; p && t < cap && base > 1.0; p >>= 1) {
		if (p & 1)
			t *= base;
		base *= base;
	}
	if (t >= cap)
		return (uint32_t)cap;
	return (uint32_t)(t + 0.5);
}

struct outbuf {
	struct ipwd_ab_decision *d;
	size_t cap, n;
};

/* Decide @target for rule @r. Returns false if the target is exempt. */
static bool emit(struct ipwd_ab *ab, unsigned r, enum kind kind, uint64_t key,
		 enum ipwd_ab_scope scope, unsigned count, uint32_t span_ms,
		 bool ask_exempt, struct outbuf *ob)
{
	const struct rstate *rs = &ab->rule[r];
	struct ipwd_ab_decision *d;
	struct ipw_addr t;
	unsigned past;
	uint64_t score;

	target_of(&t, kind, key);
	if ((t.family == IPW_AF_INET &&
	     builtin_exempt_v4((uint32_t)key & 0xffffffffu)) ||
	    (t.family == IPW_AF_INET6 && builtin_exempt_v6(key)) ||
	    (ask_exempt && ab->exempt && ab->exempt(ab->ctx, &t))) {
		bump(&ab->st.exempt);
		return false;
	}
	bump(&ab->st.decisions);
	if (rs->dry_run)
		bump(&ab->st.decisions_dry_run);
	if (ob->n == ob->cap) {
		bump(&ab->st.decisions_dropped);
		return true;
	}
	past = ab->past_bans ? ab->past_bans(ab->ctx, &t) : 0;
	score = (uint64_t)count * 60000 / (span_ms ? span_ms : 1);
	d = &ob->d[ob->n++];
	d->target = t;
	d->ttl_s = escalate(rs, past);
	d->past = past;
	d->rule = rs->name;
	d->rule_idx = r;
	d->count = count;
	d->window_ms = scope == IPWD_AB_SCOPE_AGGREGATE ? rs->agg_window32 :
							  rs->window_ms;
	d->score = score > UINT32_MAX ? UINT32_MAX : (uint32_t)score;
	d->scope = scope;
	d->aggregated = scope != IPWD_AB_SCOPE_SOURCE;
	d->dry_run = rs->dry_run;
	return true;
}

/* ---- aggregation --------------------------------------------------- */

static void aggregate(struct ipwd_ab *ab, unsigned r, enum kind kind,
		      uint64_t key, uint64_t now, struct outbuf *ob)
{
	const struct rstate *rs = &ab->rule[r];
	uint32_t now32 = (uint32_t)now, now_s = (uint32_t)(now / 1000);
	unsigned need;
	enum kind akind;
	uint64_t akey;
	uint16_t id;
	struct agg *set, *e = NULL, *victim = NULL;
	uint32_t oldest;

	if (kind == K_HOST4) {
		need = rs->agg_v4;
		akind = K_AGG24;
		akey = key & ~0xffull;
		id = (uint16_t)(key & 0xff);
	} else {
		need = rs->agg_v6;
		akind = K_AGG48;
		akey = key & ~0xffffull;
		id = (uint16_t)(key & 0xffff);
	}
	if (!need)
		return;
	set = &ab->agg[(size_t)fastrange((uint32_t)ipw_hash_u128(
						 akey, akind | r << 8, ab->key),
					 ab->agg_buckets) *
		       AGG_WAYS];
	for (unsigned w = 0; w < AGG_WAYS; w++) {
		struct agg *a = &set[w];

		if (a->kind == akind && a->rule == r && a->key == akey) {
			e = a;
			break;
		}
		/* an empty way, else the one idle longest */
		if (!victim || (victim->kind != 0 &&
				(a->kind == 0 ||
				 now_s - a->last_s > now_s - victim->last_s)))
			victim = a;
	}
	if (!e) {
		e = victim;
		if (e->kind)
			bump(&ab->st.tracked_evictions);
		memset(e, 0, sizeof(*e));
		e->key = akey;
		e->kind = (uint8_t)akind;
		e->rule = (uint8_t)r;
	} else if (now_s - e->last_s > rs->agg_window_s + 1) {
		e->n = 0;
	}
	e->last_s = now_s;
	/* drop offenders decided W or more ago, and this one if present */
	oldest = now32;
	for (unsigned i = 0; i < e->n;) {
		if (now32 - e->item[i].t >= rs->agg_window32 ||
		    e->item[i].id == id) {
			e->item[i] = e->item[--e->n];
			continue;
		}
		if (now32 - e->item[i].t > now32 - oldest)
			oldest = e->item[i].t;
		i++;
	}
	if (e->n + 1u >= need) {
		unsigned count = e->n + 1u;

		e->n = 0;
		emit(ab, r, akind, akey, IPWD_AB_SCOPE_AGGREGATE, count,
		     now32 - oldest, true, ob);
		return;
	}
	e->item[e->n].t = now32;
	e->item[e->n].id = id;
	e->n++;
}

/* ---- the tracked sets ---------------------------------------------- */

static inline struct bhead *bucket_at(const struct rstate *rs, uint64_t h)
{
	uint32_t b = fastrange((uint32_t)h ^ rs->salt, rs->nbuckets);

	return (struct bhead *)(rs->buckets + (size_t)b * rs->bucket_bytes);
}

static inline struct slot *slot_at(const struct rstate *rs, struct bhead *bh,
				   unsigned i)
{
	return (struct slot *)((unsigned char *)bh + sizeof(*bh) +
			       i * rs->slot_bytes);
}

static inline uint32_t tag_of(uint64_t h)
{
	return ((uint32_t)(h >> 40) | TAG_BIT) << 8;
}

static int find(const struct rstate *rs, struct bhead *bh, uint32_t tag,
		uint64_t key, enum kind kind)
{
	for (unsigned i = 0; i < BUCKET_SLOTS; i++) {
		if ((bh->tc[i] & ~0xffu) == tag) {
			const struct slot *s = slot_at(rs, bh, i);

			if (s->key == key && s->kind == kind)
				return (int)i;
		}
	}
	return -1;
}

/* A slot for a key not in @bh, or -1 (then the key stays untracked). */
static int insert(struct ipwd_ab *ab, const struct rstate *rs, struct bhead *bh,
		  uint32_t tag, uint64_t key, enum kind kind, uint64_t h2,
		  uint32_t now_s)
{
	int one = -1, low = -1, pick = -1;

	for (unsigned i = 0; i < BUCKET_SLOTS; i++) {
		uint32_t tc = bh->tc[i], age = now_s - bh->last_s[i];

		if (tc == 0 || age > rs->window_s + 1) {
			pick = (int)i;
			break;
		}
		if ((tc & 0xff) <= 1) {
			if (one < 0 || age > now_s - bh->last_s[one])
				one = (int)i;
		} else if (low < 0 || (tc & 0xff) < (bh->tc[low] & 0xff) ||
			   ((tc & 0xff) == (bh->tc[low] & 0xff) &&
			    age > now_s - bh->last_s[low])) {
			low = (int)i;
		}
	}
	if (pick < 0 && one >= 0) {
		pick = one;
		bump(&ab->st.tracked_evictions);
	}
	if (pick < 0) {
		if (sketch_est(ab, h2) <=
		    (bh->tc[low] & 0xff) + 2 * sketch_floor(ab)) {
			bump(&ab->st.untracked);
			return -1;
		}
		pick = low;
		bump(&ab->st.tracked_evictions);
		bump(&ab->st.sketch_admissions);
	}
	struct slot *s = slot_at(rs, bh, (unsigned)pick);
	s->key = key;
	s->kind = (uint8_t)kind;
	s->n = 0;
	s->head = 0;
	bh->tc[pick] = tag;
	bh->last_s[pick] = now_s;
	bump(&ab->st.tracked_inserts);
	return pick;
}

/*
 * Count an event on slot @i. Returns true when it fires (the slot is then
 * free), with the span from the oldest counted event in *span.
 */
static bool record(const struct rstate *rs, struct bhead *bh, unsigned i,
		   uint64_t now, uint32_t *span)
{
	struct slot *s = slot_at(rs, bh, i);
	uint32_t now32 = (uint32_t)now, now_s = (uint32_t)(now / 1000);

	if (now_s - bh->last_s[i] > rs->window_s + 1)
		s->n = 0; /* idle longer than W: its offsets may alias */
	while (s->n && now32 - s->ring[s->head] >= rs->window32) {
		s->head = (uint8_t)(s->head + 1u == rs->cap ? 0 : s->head + 1);
		s->n--;
	}
	if (s->n == rs->cap) {
		*span = now32 - s->ring[s->head];
		bh->tc[i] = 0;
		return true;
	}
	if (s->n == 0)
		s->head = 0;
	s->ring[(s->head + s->n) % rs->cap] = now32;
	s->n++;
	bh->tc[i] = (bh->tc[i] & ~0xffu) | s->n;
	bh->last_s[i] = now_s;
	return false;
}

/*
 * Count the event on key (@kind, @key) of rule @r; may insert and fire.
 * An event of a key that a rule does not track is added to the sketch
 * (once: *sketched); a tracked key's events are counted exactly and need
 * no estimate.
 */
static bool count_key(struct ipwd_ab *ab, unsigned r, enum kind kind,
		      uint64_t key, uint64_t h, uint64_t h2, uint64_t now,
		      bool may_insert, bool *sketched, bool *found,
		      uint32_t *span)
{
	const struct rstate *rs = &ab->rule[r];
	struct bhead *bh = bucket_at(rs, h);
	uint32_t tag = tag_of(h);
	int i = find(rs, bh, tag, key, kind);

	*found = i >= 0;
	if (i < 0) {
		if (!*sketched) {
			sketch_add(ab, h2);
			*sketched = true;
		}
		if (!may_insert)
			return false;
		i = insert(ab, rs, bh, tag, key, kind, h2,
			   (uint32_t)(now / 1000));
		if (i < 0)
			return false;
	}
	return record(rs, bh, (unsigned)i, now, span);
}

/* ---- events -------------------------------------------------------- */

/* The key of a source: its IPv4 address, or its /64. False if @src is not
 * a single address. */
static bool source_key(const struct ipw_addr *src, uint64_t *key,
		       enum kind *kind)
{
	if (!src || !ipw_addr_is_host(src))
		return false;
	if (src->family == IPW_AF_INET) {
		*key = ipw_addr_v4(src);
		*kind = K_HOST4;
		return true;
	}
	*key = 0;
	for (int i = 0; i < 8; i++)
		*key = *key << 8 | src->bytes[i];
	*kind = K_NET64;
	/* a raw mapped address (the parser folds them) is its IPv4 one */
	if (*key == 0 && src->bytes[8] == 0 && src->bytes[9] == 0 &&
	    src->bytes[10] == 0xff && src->bytes[11] == 0xff) {
		*key = (uint64_t)src->bytes[12] << 24 |
		       (uint64_t)src->bytes[13] << 16 |
		       (uint64_t)src->bytes[14] << 8 | src->bytes[15];
		*kind = K_HOST4;
	}
	return true;
}

void ipwd_ab_prefetch(const struct ipwd_ab *ab, const struct ipw_addr *src,
		      unsigned type_id)
{
	uint64_t key, h, h2, ph = 0;
	enum kind kind;
	uint32_t mask;

	if (type_id >= ab->ntypes || !source_key(src, &key, &kind))
		return;
	h = ipw_hash_u128(key, kind, ab->key);
	h2 = ipw_mum(h, IPW_HASH_C1);
	__builtin_prefetch(sk_line(ab, ab->sk_cur, h2), 1);
	/* while the breaker is open, the prefix key is counted too */
	if (ab->br_open) {
		ph = kind == K_HOST4 ?
			     ipw_hash_u128(key & ~0xffull, K_BRK24, ab->key) :
			     ipw_hash_u128(key & ~0xffffull, K_BRK48, ab->key);
		__builtin_prefetch(
			sk_line(ab, ab->sk_cur, ipw_mum(ph, IPW_HASH_C1)), 1);
	}
	for (mask = ab->type_rules[type_id]; mask; mask &= mask - 1) {
		const struct rstate *rs = &ab->rule[__builtin_ctz(mask)];
		const unsigned char *b;

		if (rs->threshold < 2)
			continue;
		b = (const unsigned char *)bucket_at(rs, h);
		for (size_t off = 0; off < rs->bucket_bytes; off += 64)
			__builtin_prefetch(b + off, 1);
		if (!ab->br_open)
			continue;
		b = (const unsigned char *)bucket_at(rs, ph);
		for (size_t off = 0; off < rs->bucket_bytes; off += 64)
			__builtin_prefetch(b + off, 1);
	}
}

int ipwd_ab_event(struct ipwd_ab *ab, const struct ipw_addr *src,
		  unsigned type_id, uint64_t now_ms,
		  struct ipwd_ab_decision *out, size_t cap)
{
	struct outbuf ob = {out, out ? cap : 0, 0};
	enum kind kind, pkind;
	uint64_t key, pkey, h, h2, ph = 0, ph2 = 0;
	uint32_t mask, span;
	bool tried = false, seen = false, shed = false, sk = false, psk = false;

	bump(&ab->st.events);
	if (type_id >= ab->ntypes) {
		bump(&ab->st.events_unknown);
		return 0;
	}
	if (!source_key(src, &key, &kind)) {
		bump(&ab->st.events_invalid);
		return IPW_EINVAL;
	}
	if ((kind == K_HOST4 && builtin_exempt_v4((uint32_t)key)) ||
	    (kind == K_NET64 && builtin_exempt_v6(key)) ||
	    (ab->exempt && ab->exempt(ab->ctx, src))) {
		bump(&ab->st.exempt);
		return 0;
	}
	breaker_tick(ab, now_ms);
	sketch_rotate(ab, now_ms);
	h = ipw_hash_u128(key, kind, ab->key);
	h2 = ipw_mum(h, IPW_HASH_C1);
	if (kind == K_HOST4) {
		pkind = K_BRK24;
		pkey = key & ~0xffull;
	} else {
		pkind = K_BRK48;
		pkey = key & ~0xffffull;
	}

	mask = ab->type_rules[type_id];
	while (mask) {
		unsigned r = (unsigned)__builtin_ctz(mask);
		const struct rstate *rs = &ab->rule[r];
		bool found;

		mask &= mask - 1;
		if (rs->threshold == 1) {
			if (emit(ab, r, kind, key, IPWD_AB_SCOPE_SOURCE, 1, 0,
				 kind == K_NET64, &ob))
				aggregate(ab, r, kind, key, now_ms, &ob);
			continue;
		}
		if (count_key(ab, r, kind, key, h, h2, now_ms, !ab->br_open,
			      &sk, &found, &span)) {
			if (emit(ab, r, kind, key, IPWD_AB_SCOPE_SOURCE,
				 rs->threshold, span, kind == K_NET64, &ob))
				aggregate(ab, r, kind, key, now_ms, &ob);
		}
		seen |= found;
		tried |= !found;
		if (found || !ab->br_open)
			continue;
		/* breaker open: count the untracked source on its prefix */
		if (!shed) {
			shed = true;
			bump(&ab->st.shed);
			ph = ipw_hash_u128(pkey, pkind, ab->key);
			ph2 = ipw_mum(ph, IPW_HASH_C1);
		}
		if (count_key(ab, r, pkind, pkey, ph, ph2, now_ms, true, &psk,
			      &found, &span))
			emit(ab, r, pkind, pkey, IPWD_AB_SCOPE_BREAKER,
			     rs->threshold, span, true, &ob);
	}
	if (tried && !seen)
		breaker_new_source(ab);
	return (int)ob.n;
}
