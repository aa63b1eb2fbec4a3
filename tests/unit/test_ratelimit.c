// SPDX-License-Identifier: MIT
/*
 * The check path's rate limits (src/daemon/autoban/ratelimit.h): GCRA
 * rate and burst with a controllable clock, retry-after, recovery, keys
 * per prefix, sustained overage, a full bucket, bad options; then threads
 * on one address against the bound burst + rate * time, and threads on
 * many addresses over a tiny table (built again as tsan_ratelimit).
 */
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "autoban/ratelimit.h"

#include "tap.h"

#define MS 1000000ull /* ns */

static struct ipw_addr A(const char *s) {
	struct ipw_addr a;

	if (ipw_addr_parse_str(s, 0, &a) != 0) {
		fprintf(stderr, "bad test address %s\n", s);
		exit(2);
	}
	return a;
}

static struct ipwd_rl *
mk(double rate, uint32_t burst, size_t budget, uint32_t sustain_s)
{
	struct ipwd_rl_opts o = {
		.rate_per_s = rate,
		.burst = burst,
		.budget_bytes = budget,
		.sustain_s = sustain_s,
		.hash_key = {1, 2},
	};
	struct ipwd_rl *rl = NULL;
	int rc = ipwd_rl_new(&rl, &o);

	if (rc) {
		fprintf(stderr, "ipwd_rl_new: %s\n", ipw_strerror(rc));
		exit(2);
	}
	return rl;
}

static void test_rate_burst(void)
{
	struct ipwd_rl *rl = mk(10, 5, 1 << 16, 0);
	struct ipw_addr a = A("192.0.2.1"), b = A("192.0.2.2");
	struct ipwd_rl_result res;
	int pass = 0;
	uint64_t t0 = 1000 * MS;

	for (int i = 0; i < 5; i++)
		pass += ipwd_rl_check(rl, &a, t0, &res);
	is_int(pass, 5, "burst 5 admitted at once");
	ok(!ipwd_rl_check(rl, &a, t0, &res), "the 6th is limited");
	ok(res.limited, "result says limited");
	is_int(res.retry_after_ms, 100, "retry after one interval (100 ms)");
	ok(ipwd_rl_check(rl, &b, t0, NULL), "another address is apart");
	ok(!ipwd_rl_check(rl, &a, t0 + 99 * MS, &res), "at 99 ms: limited");
	is_int(res.retry_after_ms, 1, "retry after 1 ms");
	ok(ipwd_rl_check(rl, &a, t0 + 100 * MS, &res), "at 100 ms: admitted");
	ok(!res.limited, "result says admitted");
	ok(!ipwd_rl_check(rl, &a, t0 + 100 * MS, &res), "and only one");
	is_int(res.retry_after_ms, 100, "next in 100 ms");
	/* retry_after is right: one ms early is too early */
	uint64_t t = t0 + 100 * MS + res.retry_after_ms * MS;
	ok(!ipwd_rl_check(rl, &a, t - MS, NULL), "retry_after - 1 ms: no");
	ok(ipwd_rl_check(rl, &a, t, NULL), "at retry_after: yes");

	/* recovery: after burst * T idle, the full burst again */
	pass = 0;
	for (int i = 0; i < 6; i++)
		pass += ipwd_rl_check(rl, &a, t + 500 * MS, NULL);
	is_int(pass, 5, "recovered: the full burst and no more");
	ipwd_rl_free(rl);

	/* the configured rate over 10 s, one request per ms */
	rl = mk(10, 5, 1 << 16, 0);
	pass = 0;
	for (uint64_t ms = 0; ms < 10000; ms++)
		pass += ipwd_rl_check(rl, &a, t0 + ms * MS, NULL);
	is_int(pass, 5 + 99, "10 s at 1000/s: burst + 99 intervals");
	struct ipwd_rl_stats st;
	ipwd_rl_stats(rl, &st);
	is_int(st.limited, 10000 - 104, "limited counted");
	is_int(st.claims, 1, "one slot claimed");
	ipwd_rl_free(rl);

	/* a fractional rate: 0.5/s, burst 1 */
	rl = mk(0.5, 1, 1 << 16, 0);
	ok(ipwd_rl_check(rl, &a, t0, NULL), "0.5/s: first");
	ok(!ipwd_rl_check(rl, &a, t0 + 1999 * MS, &res), "not before 2 s");
	is_int(res.retry_after_ms, 1, "retry 1 ms");
	ok(ipwd_rl_check(rl, &a, t0 + 2000 * MS, NULL), "at 2 s");
	ipwd_rl_free(rl);
}

static void test_keys(void)
{
	struct ipwd_rl_opts o = {
		.rate_per_s = 1,
		.burst = 1,
		.budget_bytes = 1 << 16,
		.plen_v4 = 24,
		.hash_key = {1, 2},
	};
	struct ipwd_rl *rl;
	struct ipw_addr a;

	is_int(ipwd_rl_new(&rl, &o), 0, "per /24 and (default) /64");
	a = A("198.51.100.1");
	ok(ipwd_rl_check(rl, &a, MS, NULL), "198.51.100.1 admitted");
	a = A("198.51.100.200");
	ok(!ipwd_rl_check(rl, &a, MS, NULL), "198.51.100.200 shares the /24");
	a = A("198.51.101.1");
	ok(ipwd_rl_check(rl, &a, MS, NULL), "198.51.101.1 does not");
	a = A("2001:db8::1");
	ok(ipwd_rl_check(rl, &a, MS, NULL), "2001:db8::1 admitted");
	a = A("2001:db8::ffff:2");
	ok(!ipwd_rl_check(rl, &a, MS, NULL), "same /64: limited");
	a = A("2001:db8:0:1::1");
	ok(ipwd_rl_check(rl, &a, MS, NULL), "next /64: admitted");
	ipwd_rl_free(rl);
}

static void test_sustained(void)
{
	struct ipwd_rl *rl = mk(10, 1, 1 << 16, 3);
	struct ipw_addr a = A("203.0.113.9");
	struct ipwd_rl_result res;
	uint64_t first = 0, t;
	struct ipwd_rl_stats st;

	/* 20/s, twice the rate, from t = 10 s */
	for (t = 10000; t < 16000; t += 50) {
		ipwd_rl_check(rl, &a, t * MS, &res);
		if (res.sustained && !first)
			first = t;
	}
	is_int(first, 13050,
	       "sustained at the first limit 3 s into the overage");
	/* a pause of 2 s ends the episode */
	t = 18000;
	ipwd_rl_check(rl, &a, t * MS, &res);
	ipwd_rl_check(rl, &a, t * MS, &res);
	ok(res.limited && !res.sustained,
	   "after a pause: limited, not sustained");
	ipwd_rl_stats(rl, &st);
	ok(st.sustained > 0 && st.sustained < st.limited,
	   "sustained counted: %llu of %llu", (unsigned long long)st.sustained,
	   (unsigned long long)st.limited);
	ipwd_rl_free(rl);
}

static void test_full_bucket(void)
{
	/* one bucket: 8 slots */
	struct ipwd_rl *rl = mk(1, 1, 192, 0);
	struct ipwd_rl_result res;
	struct ipwd_rl_stats st;
	struct ipw_addr a;
	char ip[32];

	for (int i = 0; i < 8; i++) {
		snprintf(ip, sizeof(ip), "192.0.2.%d", i + 1);
		a = A(ip);
		ipwd_rl_check(rl, &a, MS, NULL);
	}
	a = A("192.0.2.100");
	ok(ipwd_rl_check(rl, &a, MS, &res) && res.untracked,
	   "9th active key: admitted untracked");
	ok(ipwd_rl_check(rl, &a, MS, &res) && res.untracked,
	   "and not limited while untracked");
	ipwd_rl_stats(rl, &st);
	is_int(st.untracked, 2, "untracked counted");
	is_int(st.slots, 8, "8 slots");
	/* a second later the others are idle: their slots are free again */
	ok(ipwd_rl_check(rl, &a, 1001 * MS, &res) && !res.untracked,
	   "once a key is idle its slot is taken over");
	ok(!ipwd_rl_check(rl, &a, 1001 * MS, &res) && res.limited,
	   "and the newcomer is limited in it");
	a = A("192.0.2.1");
	ok(ipwd_rl_check(rl, &a, 1001 * MS, &res),
	   "an idle key back: fresh (nothing lost)");
	ipwd_rl_free(rl);
}

static void test_errors(void)
{
	struct ipwd_rl_opts o = {
		.rate_per_s = 1, .burst = 1, .budget_bytes = 1 << 16};
	struct ipwd_rl *rl = NULL;

	o.rate_per_s = 0;
	is_int(ipwd_rl_new(&rl, &o), IPW_EAB_RATE, "rate 0");
	o.rate_per_s = -1;
	is_int(ipwd_rl_new(&rl, &o), IPW_EAB_RATE, "rate -1");
	o.rate_per_s = NAN;
	is_int(ipwd_rl_new(&rl, &o), IPW_EAB_RATE, "rate NaN");
	o.rate_per_s = 1;
	o.burst = 0;
	is_int(ipwd_rl_new(&rl, &o), IPW_EAB_RATE, "burst 0");
	o.burst = 1;
	o.budget_bytes = 191;
	is_int(ipwd_rl_new(&rl, &o), IPW_EAB_BUDGET, "under one bucket");
	o.budget_bytes = 1 << 16;
	o.plen_v4 = 33;
	is_int(ipwd_rl_new(&rl, &o), IPW_EADDR_PREFIX_RANGE, "/33");
	ok(rl == NULL, "nothing made");
	o.plen_v4 = 0;
	is_int(ipwd_rl_new(&rl, &o), 0, "good options");
	is_int(ipwd_rl_memory(rl) >= (1 << 16) - 192, 1, "memory reported");
	ipwd_rl_free(rl);
	ipwd_rl_free(NULL);
}

/* ---- threads ------------------------------------------------------ */

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

#define THREADS 4

struct worker {
	struct ipwd_rl *rl;
	uint64_t until;
	bool many; /* many addresses over a tiny table */
	unsigned id;
	uint64_t admitted, calls, limited;
};

static void *run(void *p)
{
	struct worker *w = p;
	struct ipw_addr a = A("192.0.2.77");
	struct ipwd_rl_result res;
	uint64_t x = w->id * 7919u + 1;

	for (;;) {
		uint64_t t = now_ns();

		if (t >= w->until)
			break;
		for (int k = 0; k < 64; k++) {
			if (w->many) {
				x = x * 6364136223846793005ull + 1;
				ipw_addr_from_v4(
					&a, 0xc6336400u | (uint32_t)(x >> 59),
					32);
			}
			bool pass = ipwd_rl_check(w->rl, &a, t, &res);

			w->admitted += pass;
			w->limited += res.limited;
			w->calls++;
		}
	}
	return NULL;
}

static void test_threads(void)
{
	struct ipwd_rl *rl = mk(2000, 50, 1 << 16, 0);
	pthread_t th[THREADS];
	struct worker w[THREADS];
	uint64_t t0, t1, admitted = 0, calls = 0, limited = 0;
	double bound;
	struct ipwd_rl_stats st;

	t0 = now_ns();
	for (int i = 0; i < THREADS; i++) {
		w[i] = (struct worker){
			.rl = rl, .until = t0 + 300 * MS, .id = (unsigned)i};
		pthread_create(&th[i], NULL, run, &w[i]);
	}
	for (int i = 0; i < THREADS; i++) {
		pthread_join(th[i], NULL);
		admitted += w[i].admitted;
		calls += w[i].calls;
	}
	t1 = now_ns();
	bound = 50 + 2000.0 * (double)(t1 - t0) / 1e9;
	diag("%d threads, one address: %llu calls, %llu admitted, bound %.1f",
	     THREADS, (unsigned long long)calls, (unsigned long long)admitted,
	     bound);
	ok((double)admitted <= bound,
	   "admitted %llu <= burst + rate * elapsed = %.1f",
	   (unsigned long long)admitted, bound);
	ok(admitted > 50, "more than the burst passed over 300 ms");
	ok(calls > admitted, "and some were limited");
	ipwd_rl_free(rl);

	/* many addresses (32) over one bucket (8 slots), 50/s burst 2 */
	rl = mk(50, 2, 192, 0);
	admitted = calls = 0;
	t0 = now_ns();
	for (int i = 0; i < THREADS; i++) {
		w[i] = (struct worker){.rl = rl,
				       .until = t0 + 200 * MS,
				       .many = true,
				       .id = (unsigned)i};
		pthread_create(&th[i], NULL, run, &w[i]);
	}
	for (int i = 0; i < THREADS; i++) {
		pthread_join(th[i], NULL);
		admitted += w[i].admitted;
		limited += w[i].limited;
		calls += w[i].calls;
	}
	ipwd_rl_stats(rl, &st);
	is_int(admitted + limited, calls, "every check admitted or limited");
	is_int(st.limited, limited, "limited counted exactly");
	ok(st.untracked > 0 && st.claims >= 8,
	   "slots contended: %llu claims, %llu untracked",
	   (unsigned long long)st.claims, (unsigned long long)st.untracked);
	ipwd_rl_free(rl);
}

int main(void)
{
	test_rate_burst();
	test_keys();
	test_sustained();
	test_full_bucket();
	test_errors();
	test_threads();
	return done_testing();
}
