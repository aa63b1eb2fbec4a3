// SPDX-License-Identifier: MIT
/*
 * The auto-ban engine and the check path's rate limits
 * (src/daemon/autoban/), issue 17's performance targets.
 *
 *   engine/mix            one core, one rule (5 in 60 s), 64 MiB budget:
 *                         80% fresh random sources (3/4 IPv4), 20% from
 *                         20,000 repeat sources (some are decided)
 *   engine/flood          100% fresh random sources, breaker off
 *   engine/flood_breaker  the same with the breaker on (10k new/s): most
 *                         events take the shed path (per /24 and /48)
 *   engine/hot_set        1,000 sources over and over (one decision in 5)
 *   ..._no_prefetch       the same without ipwd_ab_prefetch() 8 events
 *                         ahead (the daemon's queue consumer uses it)
 *   memory/...            bytes per tracked source (slot + its share of the
 *                         bucket header), and the whole budget per slot
 *   rl/...                ipwd_rl_check() (1000/s, burst 200: most pass,
 *                         each a CAS) over 65,536 clients, 1 and 2
 *                         threads; 2 threads on one address (contended);
 *                         and the check it guards, ipw_table_check_at() on
 *                         100,000 bans, alone and followed by the limiter
 *
 * Events are precomputed addresses (no generator in the loop); the
 * simulated clock advances 1 ms per 100 events (100k events/s). The
 * fastest of RUNS runs is reported. BENCH_SCALE (default 1.0) scales the
 * event counts.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <ipwall/table.h>

#include "autoban/engine.h"
#include "autoban/ratelimit.h"
#include "bench.h"

#define RUNS	       3
#define BUDGET	       (64u << 20)
#define CLIENTS	       65536
#define RL_CHECKS      (1u << 24)
#define RL_CLOCK_EVERY 256

static double scale = 1.0;
static uint64_t seed = 42;

static const char *const types[] = {"ssh_auth_fail"};

static void rand_addr(struct ipw_addr *a, bool v6)
{
	uint64_t x = bench_rand(&seed);

	if (!v6) {
		/* 1.0.0.0 .. 126.255.255.255: never loopback */
		ipw_addr_from_v4(a, 0x01000000u + (uint32_t)(x % 0x7e000000u),
				 32);
	} else {
		uint8_t b[16];
		uint64_t y = bench_rand(&seed);

		memcpy(b, &x, 8);
		memcpy(b + 8, &y, 8);
		b[0] = 0x2a;
		ipw_addr_from_v6(a, b, 128);
	}
}

enum mix { MIX, FLOOD, HOT };

static struct ipw_addr *make_events(enum mix m, size_t n)
{
	struct ipw_addr *ev = malloc(n * sizeof(*ev));
	struct ipw_addr *repeat;
	size_t nrep = m == HOT ? 1000 : 20000;

	repeat = malloc(nrep * sizeof(*repeat));
	if (!ev || !repeat)
		abort();
	for (size_t i = 0; i < nrep; i++)
		rand_addr(&repeat[i], i % 4 == 3);
	for (size_t i = 0; i < n; i++) {
		uint64_t x = bench_rand(&seed);

		if (m == HOT || (m == MIX && x % 5 == 0))
			ev[i] = repeat[(x >> 8) % nrep];
		else
			rand_addr(&ev[i], x % 4 == 3);
	}
	free(repeat);
	return ev;
}

static struct ipwd_ab *engine(uint32_t breaker)
{
	static struct ipwd_ab_rule r = {
		.name = "ssh",
		.types = types,
		.ntypes = 1,
		.threshold = 5,
		.window_ms = 60000,
		.ban_s = 600,
		.escalate = 2,
		.ban_max_s = 86400,
		.agg_v4 = 8,
		.agg_v6 = 8,
	};
	struct ipwd_ab_opts o = {
		.rules = &r,
		.nrules = 1,
		.budget_bytes = BUDGET,
		.breaker_new_sources_per_s = breaker,
	};
	struct ipwd_ab *ab;

	if (ipwd_ab_new(&ab, &o, NULL))
		abort();
	return ab;
}

#define PREFETCH_AHEAD 8

static void bench_engine(const char *name, enum mix m, uint32_t breaker,
			 bool prefetch)
{
	size_t n = (size_t)(10000000 * scale);
	struct ipw_addr *ev = make_events(m, n);
	uint64_t best = UINT64_MAX, decided = 0;
	struct ipwd_ab_decision d[IPWD_AB_DECISIONS_MAX];
	struct ipwd_ab_stats st = {0};
	char extra[256];

	for (int run = 0; run < RUNS; run++) {
		struct ipwd_ab *ab = engine(breaker);
		uint64_t t0, el;

		/* fault the budget in, as a running daemon has */
		for (size_t i = 0; i < n / 4; i++)
			ipwd_ab_event(ab, &ev[i], 0, i / 100, d,
				      IPWD_AB_DECISIONS_MAX);
		ipwd_ab_free(ab);
		ab = engine(breaker);
		decided = 0;
		t0 = bench_now_ns();
		for (size_t i = 0; i < n; i++) {
			int k;

			if (prefetch && i + PREFETCH_AHEAD < n)
				ipwd_ab_prefetch(ab, &ev[i + PREFETCH_AHEAD],
						 0);
			k = ipwd_ab_event(ab, &ev[i], 0, i / 100, d,
					  IPWD_AB_DECISIONS_MAX);
			decided += (uint64_t)k;
		}
		el = bench_now_ns() - t0;
		if (el < best)
			best = el;
		ipwd_ab_stats(ab, &st);
		ipwd_ab_free(ab);
	}
	snprintf(extra, sizeof(extra),
		 "\"decisions\": %llu, \"budget\": %u, \"slots\": %llu, "
		 "\"evictions\": %llu, \"shed\": %llu, \"breaker_trips\": %llu",
		 (unsigned long long)decided, BUDGET,
		 (unsigned long long)st.tracked_slots,
		 (unsigned long long)st.tracked_evictions,
		 (unsigned long long)st.shed,
		 (unsigned long long)st.breaker_trips);
	bench_report("autoban", name, 1, n, best, extra);
	fprintf(stderr, "#   %s\n", extra);
	free(ev);
}

static void bench_memory(void)
{
	struct ipwd_ab *ab = engine(0);
	struct ipwd_ab_stats st;
	char bcase[64], extra[128];

	ipwd_ab_stats(ab, &st);
	for (unsigned n = 2; n <= 64; n *= 2) {
		unsigned nn = n == 4 ? 5 : n; /* the common fail2ban 5 */

		snprintf(bcase, sizeof(bcase), "memory/slot_threshold_%u", nn);
		snprintf(extra, sizeof(extra), "\"bytes_per_source\": %zu",
			 ipwd_ab_slot_bytes(nn));
		fprintf(stderr, "%-10s %-34s %zu bytes per tracked source\n",
			"autoban", bcase, ipwd_ab_slot_bytes(nn));
		printf("{\"bench\": \"autoban\", \"case\": \"%s\", %s}\n",
		       bcase, extra);
	}
	fprintf(stderr,
		"%-10s %-34s %.1f bytes per slot (64 MiB: %llu slots, "
		"sketch included)\n",
		"autoban", "memory/budget_per_slot_5",
		(double)st.bytes / (double)st.tracked_slots,
		(unsigned long long)st.tracked_slots);
	printf("{\"bench\": \"autoban\", \"case\": \"memory/budget_per_slot_5\", "
	       "\"bytes_per_slot\": %.1f, \"slots\": %llu}\n",
	       (double)st.bytes / (double)st.tracked_slots,
	       (unsigned long long)st.tracked_slots);
	ipwd_ab_free(ab);
}

/* ---- rate limits on the check path ---------------------------------- */

static struct ipw_addr clients[CLIENTS];
static struct ipw_table *table;

enum rl_mode { RL_ONLY, TABLE_ONLY, TABLE_RL };

struct rl_worker {
	struct ipwd_rl *rl;
	enum rl_mode mode;
	bool one_address;
	unsigned id;
	uint64_t ns, admitted;
};

static void *rl_run(void *p)
{
	struct rl_worker *w = p;
	uint64_t x = 77 + w->id, now = bench_now_ns(), admitted = 0, t0;
	int64_t wall = (int64_t)(now / 1000000000u);
	struct ipw_verdict v;

	ipw_reader_register();
	t0 = bench_now_ns();
	for (uint32_t i = 0; i < RL_CHECKS; i++) {
		const struct ipw_addr *a;

		if (i % RL_CLOCK_EVERY == 0)
			now = bench_now_ns();
		x = x * 6364136223846793005ull + 1442695040888963407ull;
		a = &clients[w->one_address ? 0 : (x >> 40) % CLIENTS];
		if (w->mode != RL_ONLY) {
			ipw_table_check_at(table, a, wall, &v);
			bench_keep(v.blocked);
		}
		if (w->mode != TABLE_ONLY)
			admitted += ipwd_rl_check(w->rl, a, now, NULL);
	}
	w->ns = bench_now_ns() - t0;
	w->admitted = admitted;
	ipw_reader_unregister();
	return NULL;
}

static void bench_rl_case(const char *name, enum rl_mode mode, int threads,
			  bool one_address)
{
	uint64_t best = UINT64_MAX, admitted = 0;
	struct ipwd_rl_stats st = {0};
	char extra[96];

	for (int run = 0; run < RUNS; run++) {
		struct ipwd_rl_opts o = {
			.rate_per_s = 1000,
			.burst = 200,
			.budget_bytes = 8u << 20,
		};
		struct ipwd_rl *rl;
		pthread_t th[2];
		struct rl_worker w[2];
		uint64_t worst = 0;

		if (ipwd_rl_new(&rl, &o))
			abort();
		for (int i = 0; i < threads; i++) {
			w[i] = (struct rl_worker){.rl = rl,
						  .mode = mode,
						  .one_address = one_address,
						  .id = (unsigned)i};
			pthread_create(&th[i], NULL, rl_run, &w[i]);
		}
		admitted = 0;
		for (int i = 0; i < threads; i++) {
			pthread_join(th[i], NULL);
			if (w[i].ns > worst)
				worst = w[i].ns;
			admitted += w[i].admitted;
		}
		if (worst < best)
			best = worst;
		ipwd_rl_stats(rl, &st);
		ipwd_rl_free(rl);
	}
	/* per check as one thread sees it */
	snprintf(extra, sizeof(extra), "\"admitted_pct\": %.1f",
		 mode == TABLE_ONLY ? 100.0 :
				      100.0 * (double)admitted /
					      ((double)RL_CHECKS * threads));
	bench_report("autoban", name, threads, RL_CHECKS, best, extra);
}

static void bench_rl(void)
{
	struct ipw_table_opts to = {.hash_key = {3, 4}};

	for (int i = 0; i < CLIENTS; i++)
		rand_addr(&clients[i], i % 4 == 3);
	if (ipw_table_new(&table, &to))
		abort();
	for (int i = 0; i < 100000; i++) {
		struct ipw_entry_spec s = {.list = IPW_LIST_BAN};

		rand_addr(&s.target, i % 4 == 3);
		if (i % 10 == 0)
			s.target = clients[i % CLIENTS]; /* some clients hit */
		ipw_table_add(table, &s, NULL, NULL, NULL);
	}
	bench_rl_case("rl/check_only", RL_ONLY, 1, false);
	bench_rl_case("rl/check_only", RL_ONLY, 2, false);
	bench_rl_case("rl/check_one_address", RL_ONLY, 2, true);
	bench_rl_case("rl/table_check", TABLE_ONLY, 1, false);
	bench_rl_case("rl/table_check_with_rl", TABLE_RL, 1, false);
	bench_rl_case("rl/table_check", TABLE_ONLY, 2, false);
	bench_rl_case("rl/table_check_with_rl", TABLE_RL, 2, false);
	ipw_table_free(table);
}

int main(void)
{
	const char *s = getenv("BENCH_SCALE");

	if (s)
		scale = strtod(s, NULL);
	bench_header();
	bench_engine("engine/mix", MIX, 0, true);
	bench_engine("engine/mix_no_prefetch", MIX, 0, false);
	bench_engine("engine/flood", FLOOD, 0, true);
	bench_engine("engine/flood_no_prefetch", FLOOD, 0, false);
	bench_engine("engine/flood_breaker", FLOOD, 10000, true);
	bench_engine("engine/hot_set", HOT, 0, true);
	bench_engine("engine/hot_set_no_prefetch", HOT, 0, false);
	bench_memory();
	bench_rl();
	return 0;
}
