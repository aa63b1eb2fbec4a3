// SPDX-License-Identifier: MIT
/*
 * The machine's memory, for reading the table's numbers: what one random
 * access costs at each working-set size, alone (a pointer chase: each load
 * waits for the one before, the latency) and overlapped (independent
 * random loads: the memory-level parallelism the core can get). Arrays are
 * mapped with transparent huge pages, as the table's large arrays are.
 *
 *   mem/chase_NMiB        ns per dependent load
 *   mem/chase_pair_NMiB   ns per step of a chase where each step also
 *                         loads a second line, half the array away (so on
 *                         another huge page), in parallel with the first,
 *                         and the next step waits for both: what a table
 *                         write or hit pays for its tag group and slot,
 *                         which are fetched together
 *   mem/independent_NMiB  ns per independent load
 */
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>

#include "bench.h"

#define LOADS (1u << 22)

static volatile uint64_t zero_v; /* 0, read once per size */

static void one_size(size_t mib)
{
	const uint64_t zero = zero_v;
	size_t bytes = mib << 20, lines = bytes / 64;
	uint64_t *a = mmap(NULL, bytes, PROT_READ | PROT_WRITE,
			   MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	uint32_t *perm = malloc(lines * sizeof(*perm));
	uint32_t *idx = malloc(LOADS * sizeof(*idx));
	uint64_t seed = mib, p = 0, sum = 0, t0, ns;
	char bcase[64];

	if (a == MAP_FAILED || !perm || !idx)
		abort();
	madvise(a, bytes, MADV_HUGEPAGE);
	/* one random cycle through every cache line */
	for (size_t i = 0; i < lines; i++)
		perm[i] = (uint32_t)i;
	for (size_t i = lines - 1; i > 0; i--) {
		size_t j = bench_rand(&seed) % (i + 1);
		uint32_t x = perm[i];

		perm[i] = perm[j];
		perm[j] = x;
	}
	for (size_t i = 0; i < lines; i++)
		a[(size_t)perm[i] * 8] = (uint64_t)perm[(i + 1) % lines] * 8;
	for (size_t i = 0; i < LOADS; i++)
		idx[i] = (uint32_t)(bench_rand(&seed) % lines) * 8;

	t0 = bench_now_ns();
	for (size_t i = 0; i < LOADS; i++)
		p = a[p];
	ns = bench_now_ns() - t0;
	bench_keep(p);
	snprintf(bcase, sizeof(bcase), "mem/chase_%zuMiB", mib);
	bench_report("mem", bcase, 1, LOADS, ns, NULL);

	/* The same chase, each step also loading the line half the array
	 * away; its value is masked with a zero the compiler cannot see, so
	 * the next step depends on both loads. */
	t0 = bench_now_ns();
	for (size_t i = 0; i < LOADS; i++) {
		size_t far = (p + bytes / 16) & (bytes / 8 - 1);

		p = a[p] ^ (a[far] & zero);
	}
	ns = bench_now_ns() - t0;
	bench_keep(p);
	snprintf(bcase, sizeof(bcase), "mem/chase_pair_%zuMiB", mib);
	bench_report("mem", bcase, 1, LOADS, ns, NULL);

	t0 = bench_now_ns();
	for (size_t i = 0; i < LOADS; i++)
		sum += a[idx[i]];
	ns = bench_now_ns() - t0;
	bench_keep(sum);
	snprintf(bcase, sizeof(bcase), "mem/independent_%zuMiB", mib);
	bench_report("mem", bcase, 1, LOADS, ns, NULL);

	munmap(a, bytes);
	free(perm);
	free(idx);
}

int main(void)
{
	static const size_t sizes[] = {1, 4, 8, 16, 32, 64, 256, 1024};

	bench_header();
	for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++)
		one_size(sizes[i]);
	return 0;
}
