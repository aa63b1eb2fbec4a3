// SPDX-License-Identifier: MIT
/*
 * Design comparison: the same keys, hashed by the same keyed function
 * (ipw_hash_u32, one fixed key), through five concurrent maps of
 * IPv4 address -> {expiry, score}:
 *
 *   rwlock     one pthread_rwlock around an open-addressing table
 *   mutex      one pthread_mutex around the same table
 *   striped    64 shards of that table, a mutex each
 *   rculfhash  liburcu's lock-free hash table, memb RCU flavour
 *   ipwall     ipwall's ban table (include/ipwall/table.h), when
 *              src/lib/table.c exists at configure time (HAVE_IPW_TABLE)
 *
 * (bench/designs/ has the maps and their design notes.) Every (workload,
 * design, threads) cell gets a fresh map, preloads it on the main thread
 * (not timed), then runs 1, 2 and 4 worker threads that wait on a barrier
 * (and after the run, malloc_trim(), so no cell inherits another's heap);
 * the time is from the barrier's release (the first worker to leave it) to
 * the last join. A cell runs a
 * fixed number of operations, split evenly between its threads, and reports
 * the total throughput. On a 2-core machine 4 threads oversubscribe the
 * CPUs: that is on purpose (a daemon has more threads than cores), and each
 * JSON line says so ("oversubscribed").
 *
 * Keys are distinct by construction: key = mix32(index), a bijection of
 * uint32, over disjoint index ranges for each role (present, absent, hot,
 * sparse, churn, TTL). The simulated clock starts at T0 (wall-clock seconds).
 *
 * Workloads (ops per cell at BENCH_SCALE=1):
 *
 *   write_heavy  (2M) the "sync map vs locked map" pattern: per op, 90% an
 *                overwrite of one of 1024 hot keys (new score, same expiry),
 *                10% an insert of a new sparse key plus the delete of that
 *                thread's oldest sparse key (FIFO), which keeps 65536 sparse
 *                keys stored (preloaded). No reads. An op is one iteration
 *                (the 10% do two writes).
 *   read99       (4M) 1M keys preloaded; 99% lookups, 1% writes
 *   mixed90      (4M) as read99 with 90% lookups, 10% writes
 *   mixed50      (2M) as read99 with 50% lookups, 50% writes
 *                Lookups draw uniformly from 2M keys: the 1M present and 1M
 *                never inserted. Writes cycle per thread: overwrite of a
 *                present key, insert of a new churn key, overwrite, delete
 *                of that thread's oldest churn key, so the population stays
 *                1M (+ at most one churn key per thread).
 *   ttl_churn    (2M) entries live 2..5 simulated seconds. The simulated
 *                clock advances one second per 100,000 operations (all
 *                threads together, counted in batches of 128 on one shared
 *                atomic), so a cell always simulates 20 s, whatever the
 *                machine's speed. Per op: 20% insert of a new key with a TTL
 *                of 2..5 s, 40% lookup of one of that thread's last 4096
 *                inserts (live or expired), 40% lookup of a key never
 *                inserted. The thread whose batch crosses a second boundary
 *                runs the design's expiry (baselines: a full sweep that
 *                tombstones expired slots under the lock(s); rculfhash: a
 *                traversal deleting expired nodes; ipwall: ipw_table_purge).
 *                Preloaded with the steady population: 70,000 keys
 *                (20,000 inserts/s x 3.5 s mean TTL) expiring over 5 s.
 *
 * Correctness, so that a broken design cannot look fast: during read and
 * mixed runs each thread counts the lookups that must hit (present keys are
 * never deleted, absent keys never inserted) and the run aborts unless the
 * design found exactly those; in ttl_churn a hit on a never-inserted key or
 * on an entry already expired aborts. After every run the main thread
 * checks a sample of keys of each role (present, absent, deleted, live and
 * expired TTL entries) against what the workload wrote, value included, and
 * that ttl_churn kept its population bounded.
 *
 * Output: one bench_report() line per cell, case "<workload>/<design>",
 * then for each workload x threads the winner and ipwall's throughput
 * relative to it: a table on stderr and JSON lines with case
 * "<workload>/ratio_ipwall_vs_best" on stdout.
 *
 * Each cell runs BENCH_REPEAT times (default 3, fresh map each time; the
 * designs' runs interleave) and reports its median run, with the spread
 * ("min_ops_per_sec", "max_ops_per_sec") and the workers' CPU time per
 * operation ("cpu_ns_per_op": on a shared machine, where other processes
 * take CPU, it tells cost apart from lost time).
 *
 * Environment: BENCH_SCALE (default 1, at most 20) multiplies every cell's
 * operation count; BENCH_REPEAT (1..9) sets the runs per cell; BENCH_FILTER
 * runs only the cells whose "<workload>/<design>" contains that string.
 */
#include <malloc.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "bench.h"
#include "designs/designs.h"

#define T0	 1700000000ll /* simulated clock at the start of each cell */
#define LONG_TTL 3600 /* read, mixed and write-heavy entries never expire */

/* Key roles: index ranges of mix32(). Per-thread ranges are BASE + tid *
 * THREAD_SPAN + sequence number. */
#define PRESENT_N	 1000000u /* [0, N) present, [N, 2N) absent */
#define CHURN_BASE	 0x10000000u
#define HOT_BASE	 0x20000000u
#define HOT_N		 1024u
#define SPARSE_BASE	 0x30000000u
#define SPARSE_TOTAL	 65536u
#define TTL_BASE	 0x40000000u
#define TTL_PRELOAD_BASE 0x50000000u
#define TTL_ABSENT_BASE	 0x60000000u
#define THREAD_SPAN	 (1u << 24)

#define OPS_PER_SIM_SEC 100000u
#define TICK_BATCH	128u
#define TTL_PRELOAD_N	70000u
#define TTL_RING	4096u	/* a thread's recent inserts, for lookups */
#define TTL_MAX_ENTRIES 200000u /* bound checked after a ttl_churn run */
#define VERIFY_SAMPLES	4096u
#define MAX_SCALE	20.0 /* keeps per-thread sequences under THREAD_SPAN */
#define MAX_REPEAT	9
#define MAX_THREADS	4

enum workload {
	W_WRITE_HEAVY,
	W_READ99,
	W_MIXED90,
	W_MIXED50,
	W_TTL_CHURN,
	W_COUNT
};

static const struct workload_def {
	const char *name;
	unsigned write_permille; /* read and mixed workloads */
	uint64_t ops;		 /* per cell, at BENCH_SCALE=1 */
} workloads[W_COUNT] = {
	[W_WRITE_HEAVY] = {"write_heavy", 0, 2000000},
	[W_READ99] = {"read99", 10, 4000000},
	[W_MIXED90] = {"mixed90", 100, 4000000},
	[W_MIXED50] = {"mixed50", 500, 2000000},
	[W_TTL_CHURN] = {"ttl_churn", 0, 2000000},
};

static const struct design_ops *const designs[] = {
	&design_rwlock, &design_mutex, &design_striped, &design_rculfhash,
#ifdef HAVE_IPW_TABLE
	&design_ipwall,
#endif
};

#define N_DESIGNS (sizeof(designs) / sizeof(designs[0]))

static const int thread_counts[] = {1, 2, 4};

#define N_THREADS (sizeof(thread_counts) / sizeof(thread_counts[0]))

/* The same fixed key for every design: results must not depend on luck. */
static const uint64_t hash_key[2] = {0x243f6a8885a308d3ull,
				     0x13198a2e03707344ull};

struct ttl_rec {
	uint32_t key;
	int64_t expires;
};

struct run {
	const struct design_ops *d;
	void *ctx;
	enum workload w;
	int threads;
	uint64_t ops_per_thread;
	uint32_t sparse_window; /* write_heavy: sparse keys per thread */
	pthread_barrier_t start;
	_Alignas(64) atomic_int_fast64_t now;	    /* simulated seconds */
	_Alignas(64) atomic_uint_fast64_t ops_done; /* ttl_churn clock */
};

struct worker {
	_Alignas(64) struct run *run;
	pthread_t thread;
	int tid;
	uint64_t seed;
	/* correctness counters of the measured loop */
	uint64_t hits, expected_hits, bad_hits;
	uint64_t purged;
	uint64_t start_ns; /* when this thread left the start barrier */
	uint64_t cpu_ns;   /* CPU time of the measured loop */
	/* FIFO of this thread's churn (mixed) or sparse (write_heavy) keys,
	 * or its count of TTL inserts: sequence numbers in [head, tail) are
	 * stored, [0, head) were deleted */
	uint32_t head, tail;
	struct ttl_rec *ring; /* ttl_churn: the last TTL_RING inserts */
};

/* Throughput of each cell, 0 when not run. */
static double results[W_COUNT][N_DESIGNS][N_THREADS];

/* lowbias32 (Chris Wellons): xorshifts and odd multiplies, so a bijection
 * of uint32: distinct indexes give distinct keys. */
static uint32_t mix32(uint32_t x)
{
	x ^= x >> 16;
	x *= 0x7feb352du;
	x ^= x >> 15;
	x *= 0x846ca68bu;
	x ^= x >> 16;
	return x;
}

static uint32_t key_of(uint32_t index)
{
	return mix32(index);
}

static uint32_t thread_key(uint32_t base, int tid, uint32_t seq)
{
	return key_of(base + (uint32_t)tid * THREAD_SPAN + seq);
}

/* Uniform in [0, n) from 32 random bits (Lemire's multiply-shift). */
static uint32_t below(uint64_t x, uint32_t n)
{
	return (uint32_t)(((x & 0xffffffffu) * n) >> 32);
}

/* Present keys carry their own signature in the top 16 bits of the score;
 * overwrites change only the low 16 bits. */
static uint32_t score_sig(uint32_t key)
{
	return mix32(key ^ 0x5bd1e995u) & 0xffff0000u;
}

static _Noreturn void fail(const struct run *r, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static void fail(const struct run *r, const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr,
		"bench_designs: %s/%s, %d threads: ", workloads[r->w].name,
		r->d->name, r->threads);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	abort();
}

static int64_t sim_clock(void *ctx)
{
	struct run *r = ctx;

	return atomic_load_explicit(&r->now, memory_order_relaxed);
}

static bool get_value(struct run *r, uint32_t key, struct design_val *v)
{
	if (r->d->get)
		return r->d->get(r->ctx, key, v);
	return r->d->lookup(r->ctx, key, sim_clock(r), v);
}

/* ---- measured loops ------------------------------------------------ */

static void work_mixed(struct worker *w)
{
	struct run *r = w->run;
	const struct design_ops *d = r->d;
	void *ctx = r->ctx;
	const int64_t now = sim_clock(r);
	const unsigned write_permille = workloads[r->w].write_permille;
	uint64_t seed = w->seed, hits = 0, expected = 0;
	uint32_t writes = 0;
	struct design_val v;

	for (uint64_t i = 0; i < r->ops_per_thread; i++) {
		uint64_t x = bench_rand(&seed);

		if (below(x, 1000) < write_permille) {
			uint32_t key;

			switch (writes++ & 3) {
			case 0:
			case 2:
				key = key_of(below(x >> 32, PRESENT_N));
				v.expires = now + LONG_TTL;
				v.score = score_sig(key) | (writes & 0xffff);
				d->upsert(ctx, key, v);
				break;
			case 1:
				v.expires = now + LONG_TTL;
				v.score = 0;
				d->upsert(ctx,
					  thread_key(CHURN_BASE, w->tid,
						     w->tail++),
					  v);
				break;
			default:
				d->erase(ctx, thread_key(CHURN_BASE, w->tid,
							 w->head++));
				break;
			}
		} else {
			uint32_t index = below(x >> 32, 2 * PRESENT_N);

			expected += index < PRESENT_N;
			hits += d->lookup(ctx, key_of(index), now, &v);
		}
	}
	w->hits = hits;
	w->expected_hits = expected;
}

static void work_write_heavy(struct worker *w)
{
	struct run *r = w->run;
	const struct design_ops *d = r->d;
	void *ctx = r->ctx;
	const int64_t now = sim_clock(r);
	uint64_t seed = w->seed;
	struct design_val v = {.expires = now + LONG_TTL};

	for (uint64_t i = 0; i < r->ops_per_thread; i++) {
		uint64_t x = bench_rand(&seed);

		if (below(x, 10) == 0) {
			v.score = 1;
			d->upsert(ctx,
				  thread_key(SPARSE_BASE, w->tid, w->tail++),
				  v);
			d->erase(ctx,
				 thread_key(SPARSE_BASE, w->tid, w->head++));
		} else {
			/* scores rise within a thread; ipwall's merge may
			 * still drop one lower than another thread's */
			v.score = (uint32_t)i + 1;
			d->upsert(ctx, key_of(HOT_BASE + below(x >> 32, HOT_N)),
				  v);
		}
	}
}

/* Count @n operations on the shared clock; the thread that crosses a
 * simulated second moves the clock and runs the design's expiry. */
static void tick(struct worker *w, uint64_t n)
{
	struct run *r = w->run;
	uint64_t before = atomic_fetch_add_explicit(&r->ops_done, n,
						    memory_order_relaxed);
	uint64_t sec = (before + n) / OPS_PER_SIM_SEC;
	int64_t now, cur;

	if (sec == before / OPS_PER_SIM_SEC)
		return;
	now = T0 + (int64_t)sec;
	/* never backwards, if two crossings race */
	cur = atomic_load_explicit(&r->now, memory_order_relaxed);
	while (cur < now && !atomic_compare_exchange_weak_explicit(
				    &r->now, &cur, now, memory_order_relaxed,
				    memory_order_relaxed))
		;
	w->purged += r->d->expire(r->ctx, now);
}

static void work_ttl_churn(struct worker *w)
{
	struct run *r = w->run;
	const struct design_ops *d = r->d;
	void *ctx = r->ctx;
	uint64_t seed = w->seed, hits = 0, bad = 0;
	struct design_val v;

	for (uint64_t i = 0; i < r->ops_per_thread; i++) {
		uint64_t x = bench_rand(&seed);
		uint32_t sel = below(x, 100);
		int64_t now;

		if ((i & (TICK_BATCH - 1)) == 0 && i)
			tick(w, TICK_BATCH);
		now = sim_clock(r);
		if (sel < 20) {
			struct ttl_rec *rec = &w->ring[w->tail % TTL_RING];

			rec->key = thread_key(TTL_BASE, w->tid, w->tail);
			rec->expires = now + 2 + below(x >> 32, 4);
			v.expires = rec->expires;
			v.score = w->tail++;
			d->upsert(ctx, rec->key, v);
		} else if (sel < 60 && w->tail) {
			uint32_t n = w->tail < TTL_RING ? w->tail : TTL_RING;
			uint32_t seq = w->tail - 1 - below(x >> 32, n);
			const struct ttl_rec *rec = &w->ring[seq % TTL_RING];

			if (d->lookup(ctx, rec->key, now, &v)) {
				hits++;
				bad += rec->expires <= now;
			}
		} else {
			uint32_t key =
				key_of(TTL_ABSENT_BASE + (uint32_t)(x >> 40));

			bad += d->lookup(ctx, key, now, &v);
		}
	}
	w->hits = hits;
	w->bad_hits = bad;
}

static uint64_t thread_cpu_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static void *worker_main(void *arg)
{
	struct worker *w = arg;
	struct run *r = w->run;
	uint64_t cpu0;

	if (r->d->thread_init)
		r->d->thread_init(r->ctx);
	pthread_barrier_wait(&r->start);
	w->start_ns = bench_now_ns();
	cpu0 = thread_cpu_ns();
	switch (r->w) {
	case W_WRITE_HEAVY:
		work_write_heavy(w);
		break;
	case W_TTL_CHURN:
		work_ttl_churn(w);
		break;
	default:
		work_mixed(w);
		break;
	}
	w->cpu_ns = thread_cpu_ns() - cpu0;
	if (r->d->thread_fini)
		r->d->thread_fini(r->ctx);
	return NULL;
}

/* ---- preload and verification (main thread, not timed) ------------- */

static void preload(struct run *r, struct worker *ws)
{
	const struct design_ops *d = r->d;
	struct design_val v;

	switch (r->w) {
	case W_WRITE_HEAVY:
		v.expires = T0 + LONG_TTL;
		v.score = 0;
		for (uint32_t i = 0; i < HOT_N; i++)
			d->upsert(r->ctx, key_of(HOT_BASE + i), v);
		for (int t = 0; t < r->threads; t++) {
			for (uint32_t s = 0; s < r->sparse_window; s++)
				d->upsert(r->ctx, thread_key(SPARSE_BASE, t, s),
					  v);
			ws[t].tail = r->sparse_window;
		}
		break;
	case W_TTL_CHURN:
		for (uint32_t i = 0; i < TTL_PRELOAD_N; i++) {
			v.expires = T0 + 1 + i % 5;
			v.score = i;
			d->upsert(r->ctx, key_of(TTL_PRELOAD_BASE + i), v);
		}
		break;
	default:
		v.expires = T0 + LONG_TTL;
		for (uint32_t i = 0; i < PRESENT_N; i++) {
			uint32_t key = key_of(i);

			v.score = score_sig(key);
			d->upsert(r->ctx, key, v);
		}
		break;
	}
}

/* @key must be stored, with this expiry (lookup at now, and get): returns
 * the value get() found. */
static struct design_val expect_present(struct run *r, uint32_t key,
					int64_t expires)
{
	int64_t now = sim_clock(r);
	struct design_val v;

	if (!r->d->lookup(r->ctx, key, now, &v))
		fail(r, "key %08x missing (lookup at %lld, expiry %lld)", key,
		     (long long)now, (long long)expires);
	if (v.expires != expires)
		fail(r, "key %08x: lookup expiry %lld, want %lld", key,
		     (long long)v.expires, (long long)expires);
	if (!get_value(r, key, &v))
		fail(r, "key %08x missing (get at %lld, expiry %lld)", key,
		     (long long)now, (long long)expires);
	if (v.expires != expires)
		fail(r, "key %08x: get expiry %lld, want %lld", key,
		     (long long)v.expires, (long long)expires);
	return v;
}

static void expect_absent(struct run *r, uint32_t key)
{
	int64_t now = sim_clock(r);
	struct design_val v;

	if (r->d->lookup(r->ctx, key, now, &v))
		fail(r, "key %08x found (expiry %lld, now %lld), want absent",
		     key, (long long)v.expires, (long long)now);
}

static void verify_fifo(struct run *r, uint32_t base, int tid,
			const struct worker *w, uint64_t *seed)
{
	for (uint32_t i = 0; i < VERIFY_SAMPLES / 8; i++) {
		uint64_t x = bench_rand(seed);

		if (w->tail > w->head)
			expect_present(
				r,
				thread_key(base, tid,
					   w->head +
						   below(x, w->tail - w->head)),
				T0 + LONG_TTL);
		if (w->head)
			expect_absent(r, thread_key(base, tid,
						    below(x >> 32, w->head)));
	}
}

static void verify(struct run *r, struct worker *ws)
{
	uint64_t seed = 0x5eed;
	struct design_val v;

	switch (r->w) {
	case W_WRITE_HEAVY:
		for (uint32_t i = 0; i < HOT_N; i++)
			expect_present(r, key_of(HOT_BASE + i), T0 + LONG_TTL);
		for (int t = 0; t < r->threads; t++)
			verify_fifo(r, SPARSE_BASE, t, &ws[t], &seed);
		break;
	case W_TTL_CHURN: {
		int64_t now = sim_clock(r);
		size_t n = r->d->count(r->ctx);

		for (int t = 0; t < r->threads; t++) {
			const struct worker *w = &ws[t];

			if (w->bad_hits)
				fail(r,
				     "thread %d: %llu hits on absent or expired keys",
				     t, (unsigned long long)w->bad_hits);
			for (uint32_t i = 0; i < TTL_RING && i < w->tail; i++) {
				const struct ttl_rec *rec = &w->ring[i];

				if (rec->expires > now)
					expect_present(r, rec->key,
						       rec->expires);
				else
					expect_absent(r, rec->key);
			}
		}
		for (uint32_t i = 0; i < TTL_PRELOAD_N; i += 7) {
			if (T0 + 1 + i % 5 > now)
				expect_present(r, key_of(TTL_PRELOAD_BASE + i),
					       T0 + 1 + i % 5);
			else
				expect_absent(r, key_of(TTL_PRELOAD_BASE + i));
		}
		/* without expiry a full-scale run would hold ~470,000 */
		if (n > TTL_MAX_ENTRIES)
			fail(r, "%zu entries after the run, bound %u", n,
			     TTL_MAX_ENTRIES);
		break;
	}
	default:
		for (int t = 0; t < r->threads; t++) {
			if (ws[t].hits != ws[t].expected_hits)
				fail(r,
				     "thread %d: %llu lookup hits, want %llu",
				     t, (unsigned long long)ws[t].hits,
				     (unsigned long long)ws[t].expected_hits);
			verify_fifo(r, CHURN_BASE, t, &ws[t], &seed);
		}
		for (uint32_t i = 0; i < VERIFY_SAMPLES; i++) {
			uint64_t x = bench_rand(&seed);
			uint32_t key = key_of(below(x, PRESENT_N));

			v = expect_present(r, key, T0 + LONG_TTL);
			if (v.score != DESIGN_SCORE_UNKNOWN &&
			    (v.score & 0xffff0000u) != score_sig(key))
				fail(r, "key %08x: score %08x, signature %08x",
				     key, v.score, score_sig(key));
			expect_absent(r, key_of(PRESENT_N +
						below(x >> 32, PRESENT_N)));
		}
		break;
	}
}

/* ---- one cell ------------------------------------------------------ */

static size_t size_hint(enum workload w)
{
	switch (w) {
	case W_WRITE_HEAVY:
		return HOT_N + SPARSE_TOTAL;
	case W_TTL_CHURN:
		return 2 * TTL_PRELOAD_N;
	default:
		return PRESENT_N + MAX_THREADS;
	}
}

/* What one run of a cell measured. */
struct cell_result {
	uint64_t ops;
	uint64_t ns;	 /* first worker's start to last join */
	uint64_t cpu_ns; /* CPU time of the workers, summed */
	uint64_t purged, unchanged;
	size_t entries; /* after the run */
	int64_t sim_seconds;
};

static double rate_of(const struct cell_result *c)
{
	return c->ns ? (double)c->ops * 1e9 / (double)c->ns : 0;
}

static struct cell_result run_cell(enum workload wl, const struct design_ops *d,
				   int threads, uint64_t total_ops)
{
	struct run r = {
		.d = d,
		.w = wl,
		.threads = threads,
		.ops_per_thread = total_ops / (uint64_t)threads,
		.sparse_window = SPARSE_TOTAL / (uint32_t)threads,
	};
	struct worker ws[MAX_THREADS];
	struct cell_result res = {0};
	uint64_t t0, t1;

	if (!r.ops_per_thread)
		r.ops_per_thread = 1;
	atomic_init(&r.now, T0);
	atomic_init(&r.ops_done, 0);
	r.ctx = d->create(size_hint(wl), hash_key, sim_clock, &r);
	if (!r.ctx) {
		fprintf(stderr, "bench_designs: cannot create %s\n", d->name);
		exit(1);
	}
	memset(ws, 0, sizeof(ws));
	for (int t = 0; t < threads; t++) {
		ws[t].run = &r;
		ws[t].tid = t;
		ws[t].seed = 0x9e3779b97f4a7c15ull * (uint64_t)(t + 1) + wl;
		if (wl == W_TTL_CHURN) {
			ws[t].ring = calloc(TTL_RING, sizeof(*ws[t].ring));
			if (!ws[t].ring) {
				fprintf(stderr,
					"bench_designs: out of memory\n");
				exit(1);
			}
		}
	}

	if (d->thread_init)
		d->thread_init(r.ctx);
	preload(&r, ws);

	/* The main thread stays out of the barrier: with every core busy it
	 * might only run again once the workers are done. The start is when
	 * the first worker left the barrier. */
	pthread_barrier_init(&r.start, NULL, (unsigned)threads);
	for (int t = 0; t < threads; t++) {
		if (pthread_create(&ws[t].thread, NULL, worker_main, &ws[t])) {
			fprintf(stderr,
				"bench_designs: pthread_create failed\n");
			exit(1);
		}
	}
	for (int t = 0; t < threads; t++)
		pthread_join(ws[t].thread, NULL);
	t1 = bench_now_ns();
	pthread_barrier_destroy(&r.start);
	t0 = ws[0].start_ns;
	for (int t = 1; t < threads; t++)
		if (ws[t].start_ns < t0)
			t0 = ws[t].start_ns;

	verify(&r, ws);
	res.ops = r.ops_per_thread * (uint64_t)threads;
	res.ns = t1 - t0;
	for (int t = 0; t < threads; t++) {
		res.cpu_ns += ws[t].cpu_ns;
		res.purged += ws[t].purged;
	}
	res.entries = d->count(r.ctx);
	res.unchanged = d->unchanged ? d->unchanged(r.ctx) : 0;
	res.sim_seconds = sim_clock(&r) - T0;

	if (d->thread_fini)
		d->thread_fini(r.ctx);
	d->destroy(r.ctx);
	for (int t = 0; t < threads; t++)
		free(ws[t].ring);
	/* Give the freed memory back to the kernel, so the next cell starts
	 * from the same state whatever ran before it. Without this, the cell
	 * after rculfhash's (a million freed nodes left in malloc's arenas)
	 * ran slower: ipwall's write_heavy at 21/13/9 Mops/s there, against
	 * 29/28/15 with rculfhash skipped or run after it, and striped's at
	 * 4 threads 33 against 48 when it followed rculfhash. */
	malloc_trim(0);
	return res;
}

static int by_rate(const void *a, const void *b)
{
	double x = rate_of(a), y = rate_of(b);

	return (x > y) - (x < y);
}

/* Report the median of @n runs of a cell (sorts @runs); returns its rate. */
static double report_cell(enum workload wl, const struct design_ops *d,
			  int threads, long cores, struct cell_result *runs,
			  int n)
{
	const struct cell_result *m;
	char bcase[64], extra[512];

	qsort(runs, (size_t)n, sizeof(*runs), by_rate);
	m = &runs[n / 2];
	snprintf(bcase, sizeof(bcase), "%s/%s", workloads[wl].name, d->name);
	snprintf(extra, sizeof(extra),
		 "\"design\": \"%s\", \"workload\": \"%s\", \"cores\": %ld, "
		 "\"oversubscribed\": %s, \"runs\": %d, "
		 "\"min_ops_per_sec\": %.0f, \"max_ops_per_sec\": %.0f, "
		 "\"cpu_ns_per_op\": %.3f, \"entries\": %zu, "
		 "\"purged\": %llu, \"unchanged\": %llu, "
		 "\"sim_seconds\": %lld",
		 d->name, workloads[wl].name, cores,
		 threads > cores ? "true" : "false", n, rate_of(&runs[0]),
		 rate_of(&runs[n - 1]), (double)m->cpu_ns / (double)m->ops,
		 m->entries, (unsigned long long)m->purged,
		 (unsigned long long)m->unchanged, (long long)m->sim_seconds);
	bench_report("designs", bcase, threads, m->ops, m->ns, extra);
	return rate_of(m);
}

/* ---- summary ------------------------------------------------------- */

static int design_index(const char *name)
{
	for (size_t i = 0; i < N_DESIGNS; i++)
		if (strcmp(designs[i]->name, name) == 0)
			return (int)i;
	return -1;
}

static void summary(void)
{
	int ipw = design_index("ipwall");

	fprintf(stderr, "\n# throughput, Mops/s (threads 1 / 2 / 4)\n");
	for (int w = 0; w < W_COUNT; w++) {
		for (size_t d = 0; d < N_DESIGNS; d++) {
			if (!results[w][d][0] && !results[w][d][1] &&
			    !results[w][d][2])
				continue;
			fprintf(stderr, "%-12s %-10s", workloads[w].name,
				designs[d]->name);
			for (size_t t = 0; t < N_THREADS; t++)
				fprintf(stderr, " %9.2f",
					results[w][d][t] / 1e6);
			fputc('\n', stderr);
		}
	}

	fprintf(stderr, "\n# winners%s\n",
		ipw >= 0 ? " (ratio = ipwall / best)" : " (ipwall not built)");
	fprintf(stderr, "%-12s %7s %-10s %14s %14s %7s %-10s %7s\n", "workload",
		"threads", "best", "best ops/s", "ipwall ops/s", "ratio",
		"best base", "vs base");
	for (int w = 0; w < W_COUNT; w++) {
		for (size_t t = 0; t < N_THREADS; t++) {
			int best = -1, base = -1;
			char line[512];
			int len;

			for (size_t d = 0; d < N_DESIGNS; d++) {
				double x = results[w][d][t];

				if (x <= 0)
					continue;
				if (best < 0 || x > results[w][best][t])
					best = (int)d;
				if ((int)d != ipw &&
				    (base < 0 || x > results[w][base][t]))
					base = (int)d;
			}
			if (best < 0)
				continue;
			len = snprintf(line, sizeof(line),
				       "{\"bench\": \"designs\", \"case\": "
				       "\"%s/ratio_ipwall_vs_best\", "
				       "\"threads\": %d, \"best\": \"%s\", "
				       "\"best_ops_per_sec\": %.0f",
				       workloads[w].name, thread_counts[t],
				       designs[best]->name,
				       results[w][best][t]);
			if (ipw >= 0 && results[w][ipw][t] > 0 && base >= 0) {
				double x = results[w][ipw][t];

				fprintf(stderr,
					"%-12s %7d %-10s %14.0f %14.0f %7.3f %-10s %7.3f\n",
					workloads[w].name, thread_counts[t],
					designs[best]->name,
					results[w][best][t], x,
					x / results[w][best][t],
					designs[base]->name,
					x / results[w][base][t]);
				snprintf(line + len, sizeof(line) - (size_t)len,
					 ", \"ipwall_ops_per_sec\": %.0f, "
					 "\"ratio\": %.4f, \"best_baseline\": "
					 "\"%s\", \"ratio_vs_best_baseline\": "
					 "%.4f}",
					 x, x / results[w][best][t],
					 designs[base]->name,
					 x / results[w][base][t]);
			} else {
				fprintf(stderr,
					"%-12s %7d %-10s %14.0f %14s %7s\n",
					workloads[w].name, thread_counts[t],
					designs[best]->name,
					results[w][best][t], "-", "-");
				snprintf(line + len, sizeof(line) - (size_t)len,
					 ", \"ipwall\": false}");
			}
			printf("%s\n", line);
		}
	}
	fflush(stdout);
}

static double env_number(const char *name, double def, double min, double max)
{
	const char *env = getenv(name);
	char *end;
	double x;

	if (!env)
		return def;
	x = strtod(env, &end);
	if (end == env || *end || !(x >= min && x <= max)) {
		fprintf(stderr,
			"bench_designs: %s must be a number in [%g, %g]\n",
			name, min, max);
		exit(2);
	}
	return x;
}

/* The 1-minute load average: other processes on the machine skew every
 * number here, so the output records it. */
static double loadavg(void)
{
	double l = -1;
	FILE *f = fopen("/proc/loadavg", "r");

	if (f) {
		char buf[64];

		if (fgets(buf, sizeof(buf), f))
			l = strtod(buf, NULL);
		fclose(f);
	}
	return l;
}

int main(void)
{
	const char *filter = getenv("BENCH_FILTER");
	double scale = env_number("BENCH_SCALE", 1, 0.001, MAX_SCALE);
	int repeat = (int)env_number("BENCH_REPEAT", 3, 1, MAX_REPEAT);
	long cores = sysconf(_SC_NPROCESSORS_ONLN);
	static struct cell_result runs[N_DESIGNS][MAX_REPEAT];

	bench_header();
	fprintf(stderr,
		"# designs: rwlock mutex striped rculfhash%s; %ld cores online "
		"(more threads oversubscribe); scale %g; median of %d runs; "
		"load average %.2f\n",
		design_index("ipwall") >= 0 ? " ipwall" :
					      " (ipwall: not built)",
		cores, scale, repeat, loadavg());

	for (int w = 0; w < W_COUNT; w++) {
		uint64_t ops = (uint64_t)((double)workloads[w].ops * scale);

		for (size_t t = 0; t < N_THREADS; t++) {
			bool run_d[N_DESIGNS];

			for (size_t d = 0; d < N_DESIGNS; d++) {
				char name[64];

				snprintf(name, sizeof(name), "%s/%s",
					 workloads[w].name, designs[d]->name);
				run_d[d] = !filter || strstr(name, filter);
			}
			/* the runs of the designs interleave, so that a burst
			 * of outside load hits one run of several designs
			 * rather than every run of one */
			for (int k = 0; k < repeat; k++)
				for (size_t d = 0; d < N_DESIGNS; d++)
					if (run_d[d])
						runs[d][k] = run_cell(
							(enum workload)w,
							designs[d],
							thread_counts[t], ops);
			for (size_t d = 0; d < N_DESIGNS; d++)
				if (run_d[d])
					results[w][d][t] = report_cell(
						(enum workload)w, designs[d],
						thread_counts[t], cores,
						runs[d], repeat);
		}
	}
	summary();
	fprintf(stderr, "# load average at the end %.2f\n", loadavg());
	return 0;
}
