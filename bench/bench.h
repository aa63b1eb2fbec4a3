/* SPDX-License-Identifier: MIT */
/*
 * Helpers shared by the benchmarks: a monotonic clock, a deterministic RNG,
 * and one way to report a result, both as a row of a readable table (on
 * stderr) and as a JSON line (on stdout) that scripts compare:
 *   {"bench": "addr", "case": "parse_v4", "ns_per_op": 21.3,
 *    "ops_per_sec": 46900000, "ops": 10000000, "threads": 1}
 */
#ifndef IPWALL_BENCH_BENCH_H
#define IPWALL_BENCH_BENCH_H

#include <stdint.h>
#include <time.h>

static inline uint64_t bench_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* splitmix64: deterministic and fast. */
static inline uint64_t bench_rand(uint64_t *state)
{
	uint64_t z = (*state += 0x9e3779b97f4a7c15ull);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

/* Keep the compiler from discarding a computed value. */
#define bench_keep(x) __asm__ volatile("" : : "r"(x) : "memory")

/* Print the table header once per binary. */
void bench_header(void);

/*
 * Report one measurement. @extra is NULL or a JSON fragment without braces
 * appended to the line ("\"entries\": 1000000").
 */
void bench_report(const char *bench, const char *bcase, int threads,
		  uint64_t ops, uint64_t elapsed_ns, const char *extra);

/* CPU model name from /proc/cpuinfo, for the record. */
const char *bench_cpu_model(void);

#endif /* IPWALL_BENCH_BENCH_H */
