// SPDX-License-Identifier: MIT
/*
 * Ban table benchmarks: the performance targets, each as one case.
 *
 *   check/v4_1M_exact        random checks, 1M exact IPv4 bans, 1/2 hits
 *                            (also _misses and _hits only)
 *   check/v4_10M_exact       the same at 10M
 *   check/v6_10M_exact       10M exact IPv6 bans
 *   check/v4_1M_100k_cidr    1M exact + 100k IPv4 prefixes
 *   check/v6_1M_100k_cidr    1M exact + 100k IPv6 prefixes
 *   check_at/NAME, check_batch/NAME   the same queries, asked otherwise
 *   snapshot/NAME            a snapshot while a writer adds
 *   insert/v4_ttl[_reserved][_batch]  one writer, fresh keys with TTLs
 *   purge/v4[_reserved][_batch]       removing them all once expired
 *                            (both: fastest of INSERT_RUNS, median in JSON)
 *   rw_churn/..., rw_growing/...      one reader alone, then beside one
 *                            writer (reader_alone, reader_during_writes;
 *                            the rate alone after is in the JSON line)
 *   memory/NAME              index bytes per entry (from ipw_table_stats)
 *
 * Checks are measured as throughput over a stream of precomputed random
 * queries (independent lookups, as a server answering many clients sees
 * them), through ipw_table_check() with the table's own clock, through
 * ipw_table_check_at() with a known "now", and through
 * ipw_table_check_batch() of CHECK_BATCH queries per call; the fastest of
 * CHECK_RUNS runs is reported, the median is in the JSON line. Prefix
 * lengths follow blocklist-like mixes (see docs/benchmarks.md).
 *
 * BENCH_SCALE (default 1.0) scales every size, for a quick run.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <ipwall/table.h>

#include "bench.h"

#define NQUERIES (1u << 22)

static double scale = 1.0;
static uint64_t rng = 42;

static size_t scaled(size_t n)
{
	size_t v = (size_t)((double)n * scale);

	return v ? v : 1;
}

static int64_t wall_now(void)
{
	return (int64_t)time(NULL);
}

static void rand_v4(struct ipw_addr *a, unsigned plen)
{
	ipw_addr_from_v4(a, (uint32_t)bench_rand(&rng), plen);
}

static void rand_v6(struct ipw_addr *a, unsigned plen)
{
	uint8_t b[16];
	uint64_t r1 = bench_rand(&rng), r2 = bench_rand(&rng);

	memcpy(b, &r1, 8);
	memcpy(b + 8, &r2, 8);
	b[0] = 0x20 | (b[0] & 0x0f); /* 2000::/4, never mapped */
	ipw_addr_from_v6(a, b, plen);
}

static unsigned v4_cidr_len(void)
{
	unsigned r;

	/* Per mille: like DROP/FireHOL lists, mostly /24 and /16-/23, a tail
	 * of longer ones, and a few short ones (each of which covers a lot). */
	r = (unsigned)(bench_rand(&rng) % 1000);
	if (r < 600)
		return 24;
	if (r < 890)
		return 16 + (unsigned)(bench_rand(&rng) % 8);
	if (r < 999)
		return 25 + (unsigned)(bench_rand(&rng) % 7);
	return 12 + (unsigned)(bench_rand(&rng) % 4);
}

static unsigned v6_cidr_len(void)
{
	unsigned r = (unsigned)(bench_rand(&rng) % 100);

	if (r < 40)
		return 64;
	if (r < 65)
		return 48;
	if (r < 80)
		return 56;
	if (r < 90)
		return 32;
	return 33 + (unsigned)(bench_rand(&rng) % 95);
}

static struct ipw_table *new_table(void)
{
	struct ipw_table *t;
	struct ipw_table_opts o = {.max_entries = 1u << 26};

	if (ipw_table_new(&t, &o) != 0)
		abort();
	return t;
}

/* Insert @n random targets; the targets are kept in @keep (n entries). */
static void load(struct ipw_table *t, int fam, size_t n, unsigned plen_mode,
		 struct ipw_addr *keep)
{
	struct ipw_entry_spec s = {.list = IPW_LIST_BAN};

	for (size_t i = 0; i < n; i++) {
		unsigned plen;
		int rc;

		if (fam == 4) {
			plen = plen_mode ? v4_cidr_len() : 32;
			rand_v4(&s.target, plen);
		} else {
			plen = plen_mode ? v6_cidr_len() : 128;
			rand_v6(&s.target, plen);
		}
		rc = ipw_table_add(t, &s, NULL, NULL, NULL);
		if (rc)
			abort();
		if (keep)
			keep[i] = s.target;
	}
}

/*
 * Queries: @hit_pct percent drawn from @exact (hits), @in_pct percent
 * inside a random prefix of @cidr, the rest random addresses.
 */
static struct ipw_addr *make_queries(int fam, const struct ipw_addr *exact,
				     size_t nexact, const struct ipw_addr *cidr,
				     size_t ncidr, unsigned hit_pct,
				     unsigned in_pct)
{
	struct ipw_addr *q = malloc(NQUERIES * sizeof(*q));

	if (!q)
		abort();
	for (size_t i = 0; i < NQUERIES; i++) {
		unsigned r = (unsigned)(bench_rand(&rng) % 100);

		if (r < hit_pct && nexact) {
			q[i] = exact[bench_rand(&rng) % nexact];
		} else if (r < hit_pct + in_pct && ncidr) {
			const struct ipw_addr *p =
				&cidr[bench_rand(&rng) % ncidr];
			struct ipw_addr x;

			if (fam == 4)
				rand_v4(&x, 32);
			else
				rand_v6(&x, 128);
			/* p's network bits, x's host bits */
			for (unsigned bit = 0; bit < p->plen; bit++) {
				uint8_t m = (uint8_t)(0x80 >> (bit % 8));

				x.bytes[bit / 8] =
					(uint8_t)((x.bytes[bit / 8] & ~m) |
						  (p->bytes[bit / 8] & m));
			}
			q[i] = x;
		} else if (fam == 4) {
			rand_v4(&q[i], 32);
		} else {
			rand_v6(&q[i], 128);
		}
	}
	return q;
}

/* How a run checks: one ipw_table_check() or ipw_table_check_at() per
 * query, or ipw_table_check_batch() of CHECK_BATCH queries per call. */
enum how { ONE, ONE_AT, BATCH, HOWS };
#define CHECK_BATCH 64

/* One pass over the NQUERIES queries; returns its time. */
static uint64_t run_checks(struct ipw_table *t, const struct ipw_addr *q,
			   enum how how, uint64_t *blocked)
{
	static struct ipw_verdict vs[CHECK_BATCH];
	struct ipw_verdict v;
	int64_t now = wall_now();
	uint64_t t0 = bench_now_ns(), nb = 0;

	if (how == BATCH) {
		for (size_t i = 0; i < NQUERIES; i += CHECK_BATCH) {
			size_t k = NQUERIES - i < CHECK_BATCH ? NQUERIES - i :
								CHECK_BATCH;

			if (ipw_table_check_batch(t, &q[i], k, vs))
				abort();
			for (size_t j = 0; j < k; j++)
				nb += vs[j].blocked;
		}
		*blocked = nb;
		return bench_now_ns() - t0;
	}
	for (size_t i = 0; i < NQUERIES; i++) {
		if (how == ONE_AT)
			ipw_table_check_at(t, &q[i], now, &v);
		else
			ipw_table_check(t, &q[i], &v);
		nb += v.blocked;
	}
	*blocked = nb;
	return bench_now_ns() - t0;
}

/*
 * Each case is timed CHECK_RUNS times, the three ways of asking taking
 * turns, and the fastest run of each is reported: on a shared machine
 * other jobs only ever add time, so the minimum is the most repeatable
 * number. The median goes into the JSON line too.
 */
#define CHECK_RUNS 5

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

static void report_checks(const char *name, struct ipw_table *t,
			  const struct ipw_addr *q, size_t entries)
{
	static const char *const how_name[HOWS] = {"check", "check_at",
						   "check_batch"};
	char extra[192], bcase[96];
	uint64_t blocked, ns[HOWS][CHECK_RUNS], nb[HOWS];
	size_t mid = CHECK_RUNS / 2;

	run_checks(t, q, ONE, &blocked); /* warm */
	for (int r = 0; r < CHECK_RUNS; r++)
		for (int at = 0; at < HOWS; at++)
			ns[at][r] = run_checks(t, q, (enum how)at, &nb[at]);
	/* the same queries, the same answers, whichever way they are asked */
	if (nb[ONE_AT] != nb[ONE] || nb[BATCH] != nb[ONE])
		abort();
	blocked = nb[ONE];
	for (int at = 0; at < HOWS; at++) {
		qsort(ns[at], CHECK_RUNS, sizeof(ns[at][0]), cmp_u64);
		snprintf(extra, sizeof(extra),
			 "\"entries\": %zu, \"blocked_pct\": %.1f, "
			 "\"runs\": %d, \"median_ns_per_op\": %.2f",
			 entries, 100.0 * (double)blocked / (double)NQUERIES,
			 CHECK_RUNS, (double)ns[at][mid] / (double)NQUERIES);
		snprintf(bcase, sizeof(bcase), "%s/%s", how_name[at], name);
		bench_report("table", bcase, 1, NQUERIES, ns[at][0], extra);
	}
}

static void report_memory(const char *name, struct ipw_table *t)
{
	struct ipw_table_stats st;
	char extra[160], bcase[96];
	uint64_t n;

	ipw_table_stats(t, &st);
	n = st.entries[0][0] + st.entries[0][1];
	snprintf(
		extra, sizeof(extra),
		"\"index_bytes\": %llu, \"entries\": %llu, "
		"\"index_bytes_per_entry\": %.2f, \"entry_bytes_per_entry\": %.2f",
		(unsigned long long)st.index_bytes, (unsigned long long)n,
		(double)st.index_bytes / (double)n,
		(double)st.entry_bytes / (double)n);
	snprintf(bcase, sizeof(bcase), "memory/%s", name);
	fprintf(stderr,
		"%-10s %-34s index %.2f B/entry, records %.2f B/entry\n",
		"table", bcase, (double)st.index_bytes / (double)n,
		(double)st.entry_bytes / (double)n);
	printf("{\"bench\": \"table\", \"case\": \"%s\", %s}\n", bcase, extra);
}

/*
 * A snapshot holds the writer lock for its copy (allocation and page
 * faults happen before). How long writers stall: a writer thread re-adds
 * bans in a loop during the snapshot and records its slowest add.
 */
struct stall {
	struct ipw_table *t;
	int stop;
	uint64_t worst_ns;
};

static void *stall_writer(void *arg)
{
	struct stall *st = arg;
	struct ipw_entry_spec s = {.list = IPW_LIST_BAN};
	uint64_t seed = 99;

	while (!__atomic_load_n(&st->stop, __ATOMIC_ACQUIRE)) {
		uint64_t t0 = bench_now_ns(), d;

		/* 256 keys over and over: merges, no index growth (which
		 * would measure the kernel's mmap lock, not ours). */
		ipw_addr_from_v4(
			&s.target,
			(uint32_t)(bench_rand(&seed) & 255) * 2654435761u, 32);
		ipw_table_add(st->t, &s, NULL, NULL, NULL);
		d = bench_now_ns() - t0;
		if (d > st->worst_ns)
			st->worst_ns = d;
	}
	return NULL;
}

static void report_snapshot(const char *name, struct ipw_table *t)
{
	struct ipw_snapshot *snap;
	struct stall st = {.t = t};
	char bcase[96], extra[96];
	uint64_t t0, ns;
	pthread_t w;
	struct timespec pause = {0, 50000000};

	pthread_create(&w, NULL, stall_writer, &st);
	nanosleep(&pause, NULL);
	st.worst_ns = 0;
	t0 = bench_now_ns();
	if (ipw_table_snapshot(t, &snap))
		abort();
	ns = bench_now_ns() - t0;
	nanosleep(&pause, NULL);
	__atomic_store_n(&st.stop, 1, __ATOMIC_RELEASE);
	pthread_join(w, NULL);
	snprintf(bcase, sizeof(bcase), "snapshot/%s", name);
	snprintf(extra, sizeof(extra),
		 "\"call_ms\": %.1f, \"writer_stall_ms\": %.1f",
		 (double)ns / 1e6, (double)st.worst_ns / 1e6);
	bench_report("table", bcase, 1, ipw_snapshot_count(snap), ns, extra);
	fprintf(stderr,
		"table      snapshot/%s: %zu entries, call %.1f ms, "
		"slowest concurrent add %.1f ms\n",
		name, ipw_snapshot_count(snap), (double)ns / 1e6,
		(double)st.worst_ns / 1e6);
	ipw_snapshot_free(snap);
}

static void bench_exact(int fam, size_t n, const char *name)
{
	struct ipw_table *t = new_table();
	struct ipw_addr *keys = malloc(n * sizeof(*keys)), *q;

	if (!keys)
		abort();
	load(t, fam, n, 0, keys);
	q = make_queries(fam, keys, n, NULL, 0, 50, 0);
	report_checks(name, t, q, n);
	report_memory(name, t);
	report_snapshot(name, t);
	if (n <= scaled(1000000)) {
		/* The two halves apart: all misses, all hits. */
		char sub[64];

		free(q);
		q = make_queries(fam, keys, n, NULL, 0, 0, 0);
		snprintf(sub, sizeof(sub), "%s_misses", name);
		report_checks(sub, t, q, n);
		free(q);
		q = make_queries(fam, keys, n, NULL, 0, 100, 0);
		snprintf(sub, sizeof(sub), "%s_hits", name);
		report_checks(sub, t, q, n);
	}
	free(q);
	free(keys);
	ipw_table_free(t);
}

static void bench_cidr(int fam, size_t nexact, size_t ncidr, const char *name)
{
	struct ipw_table *t = new_table();
	struct ipw_addr *keys = malloc(nexact * sizeof(*keys));
	struct ipw_addr *pfx = malloc(ncidr * sizeof(*pfx)), *q;

	if (!keys || !pfx)
		abort();
	load(t, fam, nexact, 0, keys);
	load(t, fam, ncidr, 1, pfx);
	q = make_queries(fam, keys, nexact, pfx, ncidr, 40, 20);
	report_checks(name, t, q, nexact + ncidr);
	free(q);
	free(pfx);
	free(keys);
	ipw_table_free(t);
}

/* ---- inserts and purge with a movable clock ---- */

static int64_t fake_now;

static int64_t fake_clock(void *ctx)
{
	(void)ctx;
	return __atomic_load_n(&fake_now, __ATOMIC_RELAXED);
}

/*
 * One writer inserting @n fresh random keys (@keys) with TTLs into a new
 * table, then one purge of them all. Variants: the index grows as it goes,
 * or is reserved first; one ipw_table_add() per key, or
 * ipw_table_add_batch() of 1024. Sets the insert and purge times.
 */
static void insert_purge_once(const uint32_t *keys, size_t n, bool reserve,
			      bool batch, uint64_t *ins_ns, uint64_t *purge_ns,
			      size_t *purged)
{
	struct ipw_table_opts o = {.max_entries = 1u << 26,
				   .clock = fake_clock};
	static struct ipw_entry_spec specs[1024];
	struct ipw_table *t;
	uint64_t t0;

	fake_now = 1700000000;
	if (ipw_table_new(&t, &o))
		abort();
	if (reserve && ipw_table_reserve(t, IPW_LIST_BAN, IPW_AF_INET, n))
		abort();
	t0 = bench_now_ns();
	for (size_t i = 0; i < n;) {
		size_t k = batch ? 1024 : 1;

		if (k > n - i)
			k = n - i;
		for (size_t j = 0; j < k; j++) {
			struct ipw_entry_spec *s = &specs[j];

			memset(s, 0, sizeof(*s));
			s->list = IPW_LIST_BAN;
			s->flags = IPW_ENTRY_AUTO;
			ipw_addr_from_v4(&s->target, keys[i + j], 32);
			s->expires =
				fake_now + 60 + (int64_t)(keys[i + j] % 3600);
		}
		if (batch ? ipw_table_add_batch(t, specs, k, NULL, NULL, NULL,
						NULL) != 0 :
			    ipw_table_add(t, specs, NULL, NULL, NULL) != 0)
			abort();
		i += k;
	}
	*ins_ns = bench_now_ns() - t0;
	fake_now += 3700;
	t0 = bench_now_ns();
	*purged = ipw_table_purge(t, 0, NULL, NULL);
	*purge_ns = bench_now_ns() - t0;
	ipw_table_free(t);
}

/*
 * The four variants, INSERT_RUNS times each, interleaved (a fresh table
 * and fresh keys each time); the fastest run is reported and the median
 * is in the JSON line, as for checks. On this project's VM a run that
 * meets memory the host has to fault in first (the kernel's page clearing
 * was 38 % of one such run's samples) is twice as slow as the next.
 */
#define INSERT_RUNS 3

/* One timed run: its time and the operations it did. */
struct timed {
	uint64_t ns;
	size_t ops;
};

static int cmp_per_op(const void *a, const void *b)
{
	const struct timed *x = a, *y = b;
	double px = (double)x->ns / (double)x->ops;
	double py = (double)y->ns / (double)y->ops;

	return px < py ? -1 : px > py;
}

static void bench_insert_purge(size_t n)
{
	struct timed runs[4][2][INSERT_RUNS]; /* [variant][insert, purge] */
	size_t mid = INSERT_RUNS / 2;
	uint32_t *keys = malloc(n * sizeof(*keys));

	if (!keys)
		abort();
	for (int r = 0; r < INSERT_RUNS; r++)
		for (int v = 0; v < 4; v++) {
			struct timed *ins = &runs[v][0][r],
				     *pur = &runs[v][1][r];

			for (size_t i = 0; i < n; i++)
				keys[i] = (uint32_t)bench_rand(&rng);
			/* random keys repeat a little (about 1,900 merges in
			 * 4M), so a purge removes slightly fewer than @n */
			ins->ops = n;
			insert_purge_once(keys, n, v & 1, v & 2, &ins->ns,
					  &pur->ns, &pur->ops);
		}
	for (int v = 0; v < 4; v++)
		for (int what = 0; what < 2; what++) {
			struct timed *t = runs[v][what];
			char name[64], extra[96];

			qsort(t, INSERT_RUNS, sizeof(*t), cmp_per_op);
			snprintf(name, sizeof(name), "%s/v4%s%s%s",
				 what ? "purge" : "insert", what ? "" : "_ttl",
				 (v & 1) ? "_reserved" : "",
				 (v & 2) ? "_batch" : "");
			snprintf(extra, sizeof(extra),
				 "%s\"runs\": %d, \"median_ns_per_op\": %.2f",
				 what ? "" : "\"writer\": 1, ", INSERT_RUNS,
				 (double)t[mid].ns / (double)t[mid].ops);
			bench_report("table", name, 1, t[0].ops, t[0].ns,
				     extra);
		}
	free(keys);
}

/* ---- one reader, one writer ---- */

struct rw {
	struct ipw_table *t;
	const struct ipw_addr *q;
	int churn; /* 0: new bans only (the table grows); 1: add + delete */
	int stop;
	uint64_t writes;
};

#define CHURN_RING 65536

static void *writer_main(void *arg)
{
	struct rw *rw = arg;
	struct ipw_entry_spec s = {.list = IPW_LIST_BAN};
	static uint32_t ring[CHURN_RING];
	uint64_t seed = 7, n = 0;

	s.expires = wall_now() + 3600;
	while (!__atomic_load_n(&rw->stop, __ATOMIC_RELAXED)) {
		uint32_t k = (uint32_t)bench_rand(&seed);

		if (rw->churn && n >= CHURN_RING) {
			struct ipw_addr old;

			ipw_addr_from_v4(&old, ring[n % CHURN_RING], 32);
			ipw_table_del(rw->t, IPW_LIST_BAN, &old, NULL, NULL);
		}
		ring[n % CHURN_RING] = k;
		ipw_addr_from_v4(&s.target, k, 32);
		ipw_table_add(rw->t, &s, NULL, NULL, NULL);
		n++;
	}
	rw->writes = n;
	return NULL;
}

static double reader_rate(struct rw *rw, uint64_t ms)
{
	struct ipw_verdict v;
	uint64_t t0 = bench_now_ns(), end = t0 + ms * 1000000, n = 0;

	while (bench_now_ns() < end) {
		for (size_t i = 0; i < 65536; i++)
			ipw_table_check(rw->t, &rw->q[(n + i) & (NQUERIES - 1)],
					&v);
		n += 65536;
	}
	return (double)n * 1e9 / (double)(bench_now_ns() - t0);
}

/*
 * One reader checking at full speed, alone for 2 s, then for 2 s beside a
 * writer, then alone again for 2 s: with @churn, the writer adds a new ban
 * and deletes the one it added 65,536 writes ago (the table keeps its
 * size); without, it only adds (a burst that grows the table several
 * times over, so index arrays are rebuilt and old ones unmapped while the
 * reader runs). The target compares the reader beside the writer with the
 * reader alone before; the rate alone after is reported too, because a
 * grown table is slower to read by itself (its tag array no longer fits
 * the caches as well), which is not the writer's interference.
 */
static void bench_reader_writer(size_t n, int churn)
{
	struct ipw_addr *keys = malloc(n * sizeof(*keys));
	struct rw rw = {0};
	pthread_t w;
	double alone, during, after;
	char extra[200], bcase[64];
	const char *name = churn ? "churn" : "growing";

	if (!keys)
		abort();
	rw.t = new_table();
	rw.churn = churn;
	load(rw.t, 4, n, 0, keys);
	rw.q = make_queries(4, keys, n, NULL, 0, 50, 0);
	ipw_reader_register();
	reader_rate(&rw, 300);
	alone = reader_rate(&rw, 2000);
	pthread_create(&w, NULL, writer_main, &rw);
	during = reader_rate(&rw, 2000);
	__atomic_store_n(&rw.stop, 1, __ATOMIC_RELAXED);
	pthread_join(w, NULL);
	after = reader_rate(&rw, 2000);
	snprintf(extra, sizeof(extra), "\"reader_rate\": %.0f", alone);
	snprintf(bcase, sizeof(bcase), "rw_%s/reader_alone", name);
	bench_report("table", bcase, 1, (uint64_t)alone, 1000000000ull, extra);
	snprintf(extra, sizeof(extra),
		 "\"reader_rate\": %.0f, \"writes_per_sec\": %.0f, "
		 "\"ratio_to_alone\": %.3f, \"rate_alone_after\": %.0f, "
		 "\"ratio_to_alone_after\": %.3f",
		 during, (double)rw.writes / 2.0, during / alone, after,
		 during / after);
	snprintf(bcase, sizeof(bcase), "rw_%s/reader_during_writes", name);
	bench_report("table", bcase, 2, (uint64_t)during, 1000000000ull, extra);
	fprintf(stderr,
		"table      rw_%s: reader keeps %.1f%% of its rate while "
		"a writer makes %.2f M writes/s (%.1f%% of its rate alone "
		"after)\n",
		name, 100.0 * during / alone, (double)rw.writes / 2.0 / 1e6,
		100.0 * during / after);
	ipw_reader_unregister();
	free((void *)rw.q);
	free(keys);
	ipw_table_free(rw.t);
}

int main(int argc, char **argv)
{
	const char *only = argc > 1 ? argv[1] : NULL;
	const char *sc = getenv("BENCH_SCALE");

	if (sc)
		scale = strtod(sc, NULL);
	bench_header();
#define WANT(x) (!only || strstr(x, only))
	if (WANT("v4_1M_exact"))
		bench_exact(4, scaled(1000000), "v4_1M_exact");
	if (WANT("v4_1M_100k_cidr"))
		bench_cidr(4, scaled(1000000), scaled(100000),
			   "v4_1M_100k_cidr");
	if (WANT("v6_1M_100k_cidr"))
		bench_cidr(6, scaled(1000000), scaled(100000),
			   "v6_1M_100k_cidr");
	if (WANT("insert"))
		bench_insert_purge(scaled(4000000));
	if (WANT("rw")) {
		bench_reader_writer(scaled(1000000), 1);
		bench_reader_writer(scaled(1000000), 0);
	}
	if (WANT("v4_10M_exact"))
		bench_exact(4, scaled(10000000), "v4_10M_exact");
	if (WANT("v6_10M_exact"))
		bench_exact(6, scaled(10000000), "v6_10M_exact");
	return 0;
}
