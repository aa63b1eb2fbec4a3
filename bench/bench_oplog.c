// SPDX-License-Identifier: MIT
/*
 * What a subscriber costs the op log's committer (the op log issue's
 * target: a subscriber that does nothing costs it under 2 %, one that
 * stalls nothing).
 *
 * The committer alone is measured (memory only: no store, so its own
 * work is all there is and a subscriber's share is as large as it can
 * be), with random IPv4 addresses, in two shapes:
 *   single   8 writer threads, one ban per request (ipwd_ops_apply()):
 *            small groups, where handing each group to a subscriber
 *            weighs most
 *   batch    one writer, groups of 1,000 bans (ipwd_ops_add_batch())
 * each with three set-ups: no subscriber; one whose apply() returns at
 * once (its thread competes for the 2 vCPUs); one that stalls in its
 * first apply() (when its queue passes its bound, here 16 MiB of
 * records, the queue is dropped and the subscriber marked for resync:
 * from then on it costs a lock and a comparison per group).
 * The first part of each run is not measured (a fifth of the single ops,
 * 100 of the 400 batches): the steady state is, once the stalled
 * subscriber's queue was dropped and the groups' memory is in the pool.
 * Two numbers per run: the committer's own CPU time per op (its
 * thread's CLOCK_THREAD_CPUTIME_ID across its groups, the counter
 * /metrics shows: what the target is about), and the wall time per op
 * seen by the writers (on 2 vCPUs the subscriber's thread also takes CPU
 * from the writers and the committer). Runs are interleaved (none, noop,
 * stalled) REPEAT times (BENCH_REPEAT, default 5); the median of each is
 * reported, with its ratio to "none".
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <ipwall/addr.h>
#include <ipwall/table.h>

#include "bench.h"
#include "oplog/ops.h"

#define SINGLE_OPS   120000
#define WRITERS	     8
#define BATCH	     1000
#define BATCHES	     400
#define WARM_PERCENT 20 /* single: of each writer's ops, not measured */
#define WARM_BATCHES 100

enum setup { NONE, NOOP, STALLED, SETUPS };
static const char *const setup_names[SETUPS] = {"none", "noop", "stalled"};

static pthread_mutex_t gate_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t gate_cv = PTHREAD_COND_INITIALIZER;
static bool gate_closed;

static int noop_apply(void *ctx, const struct ipwd_group *g)
{
	(void)ctx;
	bench_keep(g->n);
	return 0;
}

static int stall_apply(void *ctx, const struct ipwd_group *g)
{
	(void)ctx, (void)g;
	pthread_mutex_lock(&gate_lock);
	while (gate_closed)
		pthread_cond_wait(&gate_cv, &gate_lock);
	pthread_mutex_unlock(&gate_lock);
	return 0;
}

static int any_resync(void *ctx, struct ipw_snapshot *snap, uint64_t from,
		      uint64_t seq)
{
	(void)ctx, (void)snap, (void)from, (void)seq;
	return 0;
}

/* (a bound of 16 MiB: the stalled one is dropped within the warm-up) */
static const struct ipwd_subscriber noop_sub = {.name = "noop",
						.apply = noop_apply,
						.resync = any_resync,
						.max_bytes = 16u << 20};
static const struct ipwd_subscriber stall_sub = {.name = "stalled",
						 .apply = stall_apply,
						 .resync = any_resync,
						 .max_bytes = 16u << 20};

static uint32_t *addrs;

struct writer {
	struct ipwd_ops *o;
	size_t from, warm, to; /* [from, warm) before the measured part */
};

/* The writers and the main thread meet twice between the warm-up and
 * the measured part: the main thread reads the counters in between. */
static pthread_barrier_t warm_done, go;

static void *writer_main(void *arg)
{
	struct writer *w = arg;
	enum ipw_change what;
	size_t i;

	for (i = w->from; i < w->to; i++) {
		struct ipwd_op x = {.action = IPWD_ACT_BAN, .actor = "bench"};

		if (i == w->warm) {
			pthread_barrier_wait(&warm_done);
			pthread_barrier_wait(&go);
		}
		ipw_addr_from_v4(&x.spec.target, addrs[i], 32);
		ipwd_ops_apply(w->o, &x, &what, NULL);
	}
	return NULL;
}

/* One run: wall ns per op, and the committer's CPU ns per op in *cpu. */
static double run(enum setup su, bool batch, double *cpu)
{
	struct ipwd_ops_counters c0, c1;
	struct ipw_table_opts topts = {.max_entries = 1u << 22};
	struct ipw_entry_spec *specs = NULL;
	struct ipw_table *t;
	struct ipwd_ops *o;
	size_t loaded, expired, i, measured,
		n = batch ? (size_t)BATCH * BATCHES : SINGLE_OPS;
	enum ipw_change *whats = NULL;
	int *rcs = NULL;
	uint64_t t0 = 0, t1;
	char err[200];

	if (ipw_table_new(&t, &topts) != 0 ||
	    ipwd_ops_new(&o, t, "bench", NULL, NULL) != 0)
		abort();
	if (su == NOOP)
		ipwd_ops_subscribe(o, &noop_sub, NULL);
	if (su == STALLED) {
		gate_closed = true;
		ipwd_ops_subscribe(o, &stall_sub, NULL);
	}
	if (ipwd_ops_load(o, &loaded, &expired, err, sizeof(err)) != 0)
		abort();
	ipw_table_reserve(t, IPW_LIST_BAN, IPW_AF_INET, n);
	if (batch) {
		specs = calloc(BATCH, sizeof(*specs));
		rcs = calloc(BATCH, sizeof(*rcs));
		whats = calloc(BATCH, sizeof(*whats));
		for (size_t b = 0; b < BATCHES; b++) {
			if (b == WARM_BATCHES) {
				ipwd_ops_counters(o, &c0);
				t0 = bench_now_ns();
			}
			for (i = 0; i < BATCH; i++) {
				memset(&specs[i], 0, sizeof(specs[i]));
				ipw_addr_from_v4(&specs[i].target,
						 addrs[b * BATCH + i], 32);
				specs[i].actor = "bench";
			}
			ipwd_ops_add_batch(o, specs, BATCH, rcs, whats);
		}
	} else {
		struct writer w[WRITERS];
		pthread_t th[WRITERS];

		pthread_barrier_init(&warm_done, NULL, WRITERS + 1);
		pthread_barrier_init(&go, NULL, WRITERS + 1);
		for (i = 0; i < WRITERS; i++) {
			w[i].o = o;
			w[i].from = n * i / WRITERS;
			w[i].to = n * (i + 1) / WRITERS;
			w[i].warm = w[i].from +
				    (w[i].to - w[i].from) * WARM_PERCENT / 100;
			pthread_create(&th[i], NULL, writer_main, &w[i]);
		}
		pthread_barrier_wait(&warm_done);
		ipwd_ops_counters(o, &c0);
		t0 = bench_now_ns();
		pthread_barrier_wait(&go);
		for (i = 0; i < WRITERS; i++)
			pthread_join(th[i], NULL);
	}
	t1 = bench_now_ns();
	ipwd_ops_counters(o, &c1);
	if (!batch) {
		pthread_barrier_destroy(&warm_done);
		pthread_barrier_destroy(&go);
	}
	measured = batch ? (size_t)BATCH * (BATCHES - WARM_BATCHES) :
			   n - n * WARM_PERCENT / 100;
	*cpu = (double)(c1.committer_ns - c0.committer_ns) / (double)measured;
	if (su == STALLED) {
		pthread_mutex_lock(&gate_lock);
		gate_closed = false;
		pthread_cond_broadcast(&gate_cv);
		pthread_mutex_unlock(&gate_lock);
	}
	ipwd_ops_free(o);
	ipw_table_free(t);
	free(specs);
	free(rcs);
	free(whats);
	return (double)(t1 - t0) / (double)measured;
}

/* BENCH_CASE=NAME runs and reports only the case of that name (for perf;
 * its ratio to "none" is then meaningless). */
static bool wanted(int shape, int s)
{
	const char *only = getenv("BENCH_CASE");
	char name[64];

	snprintf(name, sizeof(name), "%s_%s", shape ? "batch1000" : "single",
		 setup_names[s]);
	return only == NULL || strcmp(only, name) == 0;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

int main(void)
{
	const char *rep_s = getenv("BENCH_REPEAT");
	int repeat = rep_s ? (int)strtol(rep_s, NULL, 10) : 5, r, s, shape;
	size_t n = (size_t)BATCH * BATCHES, i;
	uint64_t seed = 42;
	double res[2][SETUPS][64], cpu[2][SETUPS][64];

	if (repeat < 1 || repeat > 64)
		repeat = 5;
	addrs = malloc(n * sizeof(*addrs));
	for (i = 0; i < n; i++)
		addrs[i] = (uint32_t)bench_rand(&seed); /* random order */
	bench_header();
	for (shape = 0; shape < 2; shape++)
		for (r = 0; r < repeat; r++)
			for (s = 0; s < SETUPS; s++)
				res[shape][s][r] =
					wanted(shape, s) ?
						run((enum setup)s, shape,
						    &cpu[shape][s][r]) :
						(cpu[shape][s][r] = 1);
	for (shape = 0; shape < 2; shape++) {
		double med[SETUPS], cmed[SETUPS];

		for (s = 0; s < SETUPS; s++) {
			qsort(res[shape][s], (size_t)repeat, sizeof(double),
			      cmp_double);
			qsort(cpu[shape][s], (size_t)repeat, sizeof(double),
			      cmp_double);
			med[s] = res[shape][s][repeat / 2];
			cmed[s] = cpu[shape][s][repeat / 2];
		}
		for (s = 0; s < SETUPS; s++) {
			char bcase[64], extra[320];
			size_t ops = shape ? n : SINGLE_OPS;

			if (!wanted(shape, s))
				continue;
			snprintf(bcase, sizeof(bcase), "%s_%s",
				 shape ? "batch1000" : "single",
				 setup_names[s]);
			snprintf(
				extra, sizeof(extra),
				"\"ratio_to_none\": %.4f, \"min_ns\": %.1f, "
				"\"max_ns\": %.1f, \"committer_cpu_ns_per_op\": "
				"%.1f, \"committer_cpu_ratio_to_none\": %.4f, "
				"\"committer_cpu_min\": %.1f, "
				"\"committer_cpu_max\": %.1f, \"runs\": %d",
				med[s] / med[NONE], res[shape][s][0],
				res[shape][s][repeat - 1], cmed[s],
				cmed[s] / cmed[NONE], cpu[shape][s][0],
				cpu[shape][s][repeat - 1], repeat);
			fprintf(stderr,
				"  committer CPU %.1f ns/op (%.3f of none), "
				"wall %.3f of none\n",
				cmed[s], cmed[s] / cmed[NONE],
				med[s] / med[NONE]);
			bench_report("oplog", bcase, 1, ops,
				     (uint64_t)(med[s] * (double)ops), extra);
		}
	}
	free(addrs);
	return 0;
}
