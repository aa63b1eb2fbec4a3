// SPDX-License-Identifier: MIT
/*
 * The XDP program's lookup (bpf/ipwall.bpf.c: a hash per prefix length,
 * walking the lengths in use ("hash") or only those present in the
 * address's IPv4 /16 or IPv6 /32 ("cells")) against the same verdicts
 * through BPF_MAP_TYPE_LPM_TRIE (bpf/ipwall_lpm.bpf.c, "lpm"), all run
 * with BPF_PROG_TEST_RUN: no interface, no attach, no traffic. Needs root; without it (or without BPF) it says
 * so on stderr and exits 0, so `make bench` goes on.
 *
 * For each size (1, 1k, 100k, 1M entries of each family, random targets
 * in random order, loaded into both programs) and each prefix-length mix:
 *   lookup/MIX_FAM_SIZE_{hit,miss}/{hash,lpm}
 *       ns per packet as the kernel reports it (BPF_PROG_TEST_RUN's
 *       duration: the average over its repeat count), the median over
 *       PROBES addresses run REPEAT times each: the cost with the entry's
 *       memory in cache. Hits are addresses inside a random entry; misses
 *       random addresses that no entry covers (both kinds are found by
 *       running the hash program, and every program must agree).
 *   lookup1/...  the same with one run per address over COLD addresses:
 *       memory mostly not in cache, closer to a flood of random sources;
 *       the duration then includes the kernel's timer read (see the
 *       "baseline" rows: a non-IP frame, which is parsed and passed).
 *   insert/MIX_FAM_SIZE/{hash,lpm}
 *       ns per entry to put the entries from user space
 *       (ipw_bpf_put_batch(): the kernel's batch update where the map has
 *       one, with BPF_NOEXIST; one bpf() call per entry otherwise).
 * Mixes: "banlist" is what an ipwall ban list mostly holds, single
 * addresses and a few ranges (IPv4 90 % /32, 9 % /24, 1 % /16; IPv6 90 %
 * /128, 6 % /64, 4 % /48); "feed" is bench_table.c's blocklist-feed mix
 * (IPv4 /12-/31, IPv6 /32-/127: every length in use at large sizes), the
 * worst case for a walk over the lengths in use. Only bans, denylist mode.
 *
 * Output: bench_report() lines (JSON on stdout, a row on stderr) and, on
 * stderr, two tables per mix (warm, cold) with the ratios to the LPM trie
 * per size.
 * BENCH_SCALE (default 1.0) scales PROBES and COLD; BENCH_BPF_MAX caps
 * the sizes (e.g. 100000 for a quick run).
 */
#include <errno.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <linux/bpf.h>

#include <ipwall/addr.h>

#include "../bench.h"
#include "ipwall_bpf.h"

#define PROBES	400  /* addresses per (size, family, hit/miss) */
#define REPEAT	1000 /* test runs per address (warm) */
#define COLD	4000 /* addresses run once each (cold) */
#define FRAME	80
#define STR_(x) #x
#define STR(x)	STR_(x)

static uint64_t rng = 7;
static double scale = 1.0;

enum mix { BANLIST, FEED };
static const char *const mix_name[] = {"banlist", "feed"};
/* Indexed by enum ipw_bpf_impl; measured in the order of impls[]. */
static const char *const impl_name[] = {"hash", "lpm", "cells"};
static const int impls[] = {IPW_BPF_HASH, IPW_BPF_CELLS, IPW_BPF_LPM};
#define NIMPL 3

static unsigned len_of(enum mix m, int v6)
{
	unsigned r = (unsigned)(bench_rand(&rng) % 1000);

	if (m == BANLIST && !v6)
		return r < 900 ? 32 : r < 990 ? 24 : 16;
	if (m == BANLIST)
		return r < 900 ? 128 : r < 960 ? 64 : 48;
	if (!v6) /* bench_table.c's v4_cidr_len() */
		return r < 600 ? 24 :
		       r < 890 ? 16 + (unsigned)(bench_rand(&rng) % 8) :
		       r < 999 ? 25 + (unsigned)(bench_rand(&rng) % 7) :
				 12 + (unsigned)(bench_rand(&rng) % 4);
	r /= 10; /* bench_table.c's v6_cidr_len() */
	return r < 40 ? 64 :
	       r < 65 ? 48 :
	       r < 80 ? 56 :
	       r < 90 ? 32 :
			33 + (unsigned)(bench_rand(&rng) % 95);
}

/* A random address of the family (IPv6 in 2000::/3, never mapped). */
static void rand_bytes(int v6, uint8_t *b)
{
	uint64_t x = bench_rand(&rng), y = bench_rand(&rng);

	memset(b, 0, 16);
	if (!v6) {
		memcpy(b, &x, 4);
		return;
	}
	memcpy(b, &x, 8);
	memcpy(b + 8, &y, 8);
	b[0] = (uint8_t)(0x20 | (b[0] & 0x1f));
}

static void target_of(int v6, const uint8_t *b, unsigned plen,
		      struct ipw_addr *a)
{
	if (v6)
		ipw_addr_from_v6(a, b, plen);
	else
		ipw_addr_from_v4(a,
				 (uint32_t)b[0] << 24 | (uint32_t)b[1] << 16 |
					 (uint32_t)b[2] << 8 | b[3],
				 plen);
}

/* An Ethernet + IPv4/IPv6 + UDP frame from @src. */
static size_t frame(uint8_t *f, int v6, const uint8_t *src)
{
	memset(f, 0, FRAME);
	f[0] = 2, f[6] = 2, f[11] = 1;
	if (!v6) {
		f[12] = 0x08, f[13] = 0x00;
		f[14] = 0x45, f[17] = 28, f[22] = 64, f[23] = 17;
		memcpy(f + 26, src, 4);
		f[30] = 192, f[32] = 2, f[33] = 1;
		return 14 + 28;
	}
	f[12] = 0x86, f[13] = 0xdd;
	f[14] = 0x60, f[19] = 8, f[20] = 17, f[21] = 64;
	memcpy(f + 22, src, 16);
	f[38] = 0x20, f[39] = 0x01, f[40] = 0x0d, f[41] = 0xb8, f[53] = 1;
	return 14 + 48;
}

/* Run @b's program on @f @repeat times: the kernel's ns per run, the
 * verdict in @ret. */
static uint32_t run(struct ipw_bpf *b, const uint8_t *f, size_t len, int repeat,
		    uint32_t *ret)
{
	struct bpf_test_run_opts o = {.sz = sizeof(o),
				      .data_in = f,
				      .data_size_in = (__u32)len,
				      .repeat = repeat};

	if (bpf_prog_test_run_opts(ipw_bpf_prog_fd(b), &o) != 0) {
		fprintf(stderr, "bench_bpf: test run: %s\n", strerror(errno));
		exit(1);
	}
	if (ret)
		*ret = o.retval;
	return o.duration;
}

struct probes {
	uint8_t (*frames)[FRAME];
	size_t len, n;
};

/* Up to @want frames of family @v6 whose verdict (by the hash program)
 * is DROP (@hit) or PASS: addresses inside random entries, or random. */
static void find_probes(struct ipw_bpf *hb, const struct ipw_bpf_entry *e,
			size_t n, int v6, int hit, size_t want,
			struct probes *p)
{
	size_t tries;

	p->frames = calloc(want, FRAME);
	p->n = 0;
	if (!p->frames)
		abort();
	for (tries = 0; p->n < want && tries < want * 50; tries++) {
		uint8_t src[16];
		uint32_t ret;

		rand_bytes(v6, src);
		if (hit) { /* keep the entry's prefix, random host bits */
			const struct ipw_addr *t =
				&e[bench_rand(&rng) % n].target;

			for (unsigned i = 0; i < t->plen; i++) {
				uint8_t m = (uint8_t)(0x80 >> (i % 8));

				src[i / 8] = (uint8_t)((src[i / 8] & ~m) |
						       (t->bytes[i / 8] & m));
			}
		}
		p->len = frame(p->frames[p->n], v6, src);
		run(hb, p->frames[p->n], p->len, 1, &ret);
		if ((ret == XDP_DROP) == !!hit)
			p->n++;
	}
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

/*
 * The median over the probes of the kernel's ns per run (each probe run
 * @repeat times), into @ns[impl]: the median, because an interrupt that
 * lands in one probe's runs would move a mean. The programs take turns on
 * each probe, so that a slower moment of the machine falls on all of
 * them. Also checks that every program gives each probe the verdict it
 * was chosen for.
 */
static void measure(struct ipw_bpf *b[NIMPL], const struct probes *p,
		    int repeat, int hit, double ns[NIMPL], size_t *disagree)
{
	double *d = calloc(NIMPL * (p->n + 1), sizeof(*d));

	if (!d)
		abort();
	for (size_t i = 0; i < p->n; i++)
		for (int k = 0; k < NIMPL; k++) {
			uint32_t r;

			d[(size_t)k * p->n + i] =
				run(b[k], p->frames[i], p->len, repeat, &r);
			*disagree += (r == XDP_DROP) != !!hit;
		}
	for (int k = 0; k < NIMPL; k++) {
		qsort(d + (size_t)k * p->n, p->n, sizeof(*d), cmp_double);
		ns[k] = p->n ? d[(size_t)k * p->n + p->n / 2] : 0;
	}
	free(d);
}

static void report(const char *bcase, const char *impl, double ns, uint64_t ops,
		   size_t entries)
{
	char name[96], extra[64];

	snprintf(name, sizeof(name), "%s/%s", bcase, impl);
	snprintf(extra, sizeof(extra), "\"entries\": %zu", entries);
	bench_report("bpf", name, 1, ops, (uint64_t)(ns * (double)ops), extra);
}

struct row {
	size_t size;
	double ns[2][2][NIMPL];	  /* [v6][hit][impl], warm */
	double cold[2][2][NIMPL]; /* [v6][hit][impl], one run per address */
	double insert[2][NIMPL];  /* [v6][impl] ns per entry */
	unsigned lengths[2];	  /* [v6] lengths in use */
};

/* "hash cells lpm h/l c/l" for one measurement. */
static void cell(char *buf, size_t size, const double *ns)
{
	snprintf(buf, size, "%6.1f %6.1f %6.1f %5.2f %5.2f", ns[IPW_BPF_HASH],
		 ns[IPW_BPF_CELLS], ns[IPW_BPF_LPM],
		 ns[IPW_BPF_HASH] / ns[IPW_BPF_LPM],
		 ns[IPW_BPF_CELLS] / ns[IPW_BPF_LPM]);
}

static void print_table(enum mix m, const struct row *rows, size_t nrows,
			double base, int cold)
{
	fprintf(stderr,
		"\n# %s mix, %s: ns per packet as the kernel reports it "
		"(non-IP frame: %.1f ns)\n# columns: hash, cells, lpm, "
		"hash/lpm, cells/lpm\n",
		mix_name[m],
		cold ? "one run per address (cache cold)" :
		       "each address run " STR(REPEAT) " times (warm)",
		base);
	fprintf(stderr, "%-4s %8s %4s | %-36s | %-36s | %s\n", "fam", "entries",
		"lens", "hit", "miss", "insert ns/entry h c l");
	for (int v6 = 0; v6 < 2; v6++)
		for (size_t i = 0; i < nrows; i++) {
			const struct row *r = &rows[i];
			char h[64], x[64];

			cell(h, sizeof(h),
			     cold ? r->cold[v6][1] : r->ns[v6][1]);
			cell(x, sizeof(x),
			     cold ? r->cold[v6][0] : r->ns[v6][0]);
			fprintf(stderr,
				"%-4s %8zu %4u | %s | %s | %.0f %.0f %.0f\n",
				v6 ? "IPv6" : "IPv4", r->size, r->lengths[v6],
				h, x, r->insert[v6][IPW_BPF_HASH],
				r->insert[v6][IPW_BPF_CELLS],
				r->insert[v6][IPW_BPF_LPM]);
		}
}

static unsigned count_lengths(const struct ipw_bpf_entry *e, size_t n)
{
	uint8_t seen[129] = {0};
	unsigned k = 0;

	for (size_t i = 0; i < n; i++)
		if (!seen[e[i].target.plen]) {
			seen[e[i].target.plen] = 1;
			k++;
		}
	return k;
}

/* One size of one mix: load, insert-time, probe both families. */
static int one_size(enum mix m, size_t size, struct row *row, double *base)
{
	struct ipw_bpf *b[NIMPL] = {NULL, NULL, NULL};
	struct ipw_bpf_entry *e[2];
	size_t disagree = 0;
	int k, impl, v6, rc = 0;
	char bcase[64];

	row->size = size;
	for (v6 = 0; v6 < 2; v6++) {
		e[v6] = calloc(size, sizeof(**e));
		if (!e[v6])
			abort();
		for (size_t i = 0; i < size; i++) {
			uint8_t src[16];

			rand_bytes(v6, src);
			target_of(v6, src, len_of(m, v6), &e[v6][i].target);
			e[v6][i].list = IPW_LIST_BAN;
		}
		row->lengths[v6] = count_lengths(e[v6], size);
	}
	for (k = 0; k < NIMPL && !rc; k++) {
		struct ipw_bpf_opts o = {
			.impl = (enum ipw_bpf_impl)impls[k],
			.max_entries =
				(uint32_t)(impls[k] == IPW_BPF_LPM ? size :
								     2 * size) +
				64};

		impl = impls[k];
		rc = ipw_bpf_open(&b[impl], &o);
		if (rc) {
			fprintf(stderr, "bench_bpf: open %s: %s\n",
				impl_name[impl], strerror(-rc));
			break;
		}
		for (v6 = 0; v6 < 2 && !rc; v6++) {
			uint64_t t0 = bench_now_ns();

			rc = ipw_bpf_put_batch(b[impl], e[v6], size);
			row->insert[v6][impl] =
				(double)(bench_now_ns() - t0) / (double)size;
			snprintf(bcase, sizeof(bcase), "insert/%s_%s_%zu",
				 mix_name[m], v6 ? "v6" : "v4", size);
			report(bcase, impl_name[impl], row->insert[v6][impl],
			       size, size);
			if (rc)
				fprintf(stderr, "bench_bpf: put: %s\n",
					strerror(-rc));
		}
	}
	if (!rc && *base == 0) {
		uint8_t f[FRAME] = {0};

		f[12] = 0x08, f[13] = 0x06; /* ARP: parsed, passed */
		*base = (double)run(b[0], f, 60, REPEAT * 10, NULL);
		report("baseline_non_ip", "hash", *base, REPEAT * 10, 0);
	}
	for (v6 = 0; v6 < 2 && !rc; v6++)
		for (int hit = 0; hit < 2; hit++) {
			struct probes warm, cold;
			size_t nw = (size_t)(PROBES * scale) + 1;
			size_t nc = (size_t)(COLD * scale) + 1;

			find_probes(b[0], e[v6], size, v6, hit, nw, &warm);
			find_probes(b[0], e[v6], size, v6, hit, nc, &cold);
			measure(b, &warm, REPEAT, hit, row->ns[v6][hit],
				&disagree);
			measure(b, &cold, 1, hit, row->cold[v6][hit],
				&disagree);
			for (k = 0; k < NIMPL; k++) {
				double w, c;

				impl = impls[k];
				w = row->ns[v6][hit][impl];
				c = row->cold[v6][hit][impl];
				snprintf(bcase, sizeof(bcase),
					 "lookup/%s_%s_%zu_%s", mix_name[m],
					 v6 ? "v6" : "v4", size,
					 hit ? "hit" : "miss");
				report(bcase, impl_name[impl], w,
				       (uint64_t)warm.n * REPEAT, size);
				snprintf(bcase, sizeof(bcase),
					 "lookup1/%s_%s_%zu_%s", mix_name[m],
					 v6 ? "v6" : "v4", size,
					 hit ? "hit" : "miss");
				report(bcase, impl_name[impl], c, cold.n, size);
			}
			if (warm.n < nw || cold.n < nc)
				fprintf(stderr,
					"bench_bpf: only %zu/%zu %s probes\n",
					warm.n, cold.n, hit ? "hit" : "miss");
			free(warm.frames);
			free(cold.frames);
		}
	if (disagree)
		fprintf(stderr,
			"bench_bpf: the programs disagreed on %zu probes\n",
			disagree);
	for (k = 0; k < NIMPL; k++)
		ipw_bpf_free(b[k]);
	free(e[0]);
	free(e[1]);
	return rc || disagree ? -1 : 0;
}

int main(void)
{
	static const size_t sizes[] = {1, 1000, 100000, 1000000};
	const char *s = getenv("BENCH_SCALE"), *mx = getenv("BENCH_BPF_MAX");
	size_t max = mx ? strtoull(mx, NULL, 10) : SIZE_MAX;
	struct row rows[2][4];
	double base = 0;
	int fd;

	if (s)
		scale = strtod(s, NULL);
	if (geteuid() != 0) {
		fprintf(stderr, "bench_bpf: skipped: not root\n");
		return 0;
	}
	fd = bpf_map_create(BPF_MAP_TYPE_ARRAY, NULL, 4, 4, 1, NULL);
	if (fd < 0) {
		fprintf(stderr, "bench_bpf: skipped: BPF unavailable: %s\n",
			strerror(-fd));
		return 0;
	}
	close(fd);
	libbpf_set_print(NULL);
	/* One CPU for the whole run (the test runs execute on the caller's):
	 * no migration between a program and the next. */
	{
		cpu_set_t set;
		long ncpu = sysconf(_SC_NPROCESSORS_ONLN);

		CPU_ZERO(&set);
		CPU_SET(ncpu > 1 ? (int)ncpu - 1 : 0, &set);
		sched_setaffinity(0, sizeof(set), &set);
	}
	bench_header();
	for (int m = 0; m < 2; m++) {
		size_t n = 0;

		for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
			if (sizes[i] > max)
				break;
			if (one_size((enum mix)m, sizes[i], &rows[m][n], &base))
				return 1;
			n++;
		}
		print_table((enum mix)m, rows[m], n, base, 0);
		print_table((enum mix)m, rows[m], n, base, 1);
	}
	return 0;
}
