// SPDX-License-Identifier: MIT
/*
 * The XDP lookups of issue 15, in one run against the same packets:
 *   hash       bpf/ipwall.bpf.c's ipwall_xdp: a hash per prefix length,
 *              walking every length in use;
 *   cells      its ipwall_xdp_cells, the program the daemon attaches: the
 *              same hash, walking only the lengths present in the
 *              address's IPv4 /16 or IPv6 /32;
 *   lpm        bpf/ipwall_lpm.bpf.c: the same verdicts from four
 *              BPF_MAP_TYPE_LPM_TRIEs (the plain LPM_TRIE program);
 *   xdpfilter  xdp-filter's own object from Debian's xdp-tools,
 *              xdpfilt_alw_ip.o: the one `xdp-filter load -f ipv4,ipv6`
 *              attaches in its default mode (drop what is listed; its
 *              "features" section says blacklist, ipv4, ipv6). Its maps
 *              (filter_ipv4: __u32 address -> per-CPU __u64 mode bits,
 *              filter_ipv6: struct in6_addr -> the same; a source match
 *              needs MAP_FLAG_SRC, 1) hold single addresses only, so it
 *              runs in the "exact" mix alone; its 10,000-entry map size
 *              is raised to the run's size, and its maps are never
 *              pinned. It looks up the destination, then the source.
 * All run through BPF_PROG_TEST_RUN: no interface, no attach, no traffic.
 * Needs root; without it (or without BPF) it says so on stderr and exits
 * 0, so `make bench` goes on. Without the xdp-tools object the xdpfilter
 * column is empty.
 *
 * Mixes (all bans, denylist mode): "exact", IPv4 /32 and IPv6 /128 only;
 * "banlist", what an ipwall ban list mostly holds (IPv4 90 % /32, 9 % /24,
 * 1 % /16; IPv6 90 % /128, 6 % /64, 4 % /48); "feed", bench_table.c's
 * blocklist-feed mix (IPv4 /12-/31, IPv6 /32-/127, every length in use at
 * large sizes). Sizes 1, 1k, 10k, 100k, 1M entries of each family, random
 * targets in random order, loaded into every program. Probes: hits are
 * addresses inside a random entry (host bits random), misses random
 * addresses that no entry covers (by libipwall's table holding the same
 * entries); every program must give each probe its verdict.
 *
 * Rows, ns per packet as the kernel reports it (the test run's duration,
 * its average over the repeat count, whole ns):
 *   lookup/...   "warm", best case: the median over PROBES addresses, each
 *                run REPEAT times in one test run (one hot packet). A
 *                test run with a repeat above 1 also costs about 0.4 ms
 *                of wall time outside its timing (the kernel swaps its
 *                XDP dispatcher in and out), hence few such addresses;
 *   lookup1/...  "cold": the median over COLD addresses, one test run
 *                each: every packet pays a clock read and follows a
 *                syscall (with KPTI and no PCID the syscall empties the
 *                TLB): an upper bound;
 *   lookupr/...  "random", the realistic figure: ROT different addresses
 *                in ONE test run, repeat ROT, through the harness
 *                bench/bpf/rotate.bpf.c (a program that writes the next
 *                address into the frame and tail-calls the measured
 *                program), less the harness's own cost (the same run
 *                tail-calling a program that only returns, row
 *                lookupr/.../harness). The median over ROUNDS rounds in
 *                which the programs take turns. Every packet's verdict
 *                is checked through the programs' counters. hash is left
 *                out of the feed mix's random rows (one probe per length
 *                in use, up to 96: 2.5-25 us per packet at 100k,
 *                minutes per run; its warm and cold rows show it).
 *   mem/...      one random memory access at the map's size, in the same
 *                process and run: bench_mem.c's pointer chase (each load
 *                waits for the one before) over a buffer as large as the
 *                cells program's maps (their memlock, from
 *                /proc/self/fdinfo), interleaved with the random rows, on
 *                2 MiB pages as bench_mem does (mem/chase_..., the
 *                reference of the targets) and on 4 KiB pages
 *                (mem/chase_4k_...: what the kernel's vmalloc'ed map
 *                memory, such as a large hash's buckets, sits on). A
 *                random lookup into a map too large for the caches
 *                cannot cost less than about one such access.
 *   insert/...   ns per entry to put the entries from user space through
 *                batch updates (ipw_bpf_put_batch(); xdp-filter's map:
 *                bpf_map_update_batch() in chunks of 4096); the inverse is
 *                the update throughput.
 *   put1/...     ns per entry through ipw_bpf_put(), one entry per call,
 *                into a fresh cells program (exact mix, 10k entries up).
 *
 * Output: bench_report() lines (JSON on stdout, a row on stderr); on
 * stderr a table per mix, then a summary per size with the ratios to one
 * memory access and to the trie, and issue 15's targets, each met or
 * missed with the number.
 * BENCH_SCALE (default 1.0) scales PROBES, COLD and ROT; BENCH_BPF_MAX
 * caps the sizes (e.g. 100000 for a quick run); BENCH_XDPFILTER_OBJ names
 * another xdp-filter object.
 */
#include <errno.h>
#include <math.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <linux/bpf.h>

#include <ipwall/addr.h>
#include <ipwall/table.h>

#include "../bench.h"
#include "ipwall_bpf.h"
#include "rotate.skel.h"

#ifndef BENCH_MULTIARCH
#define BENCH_MULTIARCH "x86_64-linux-gnu"
#endif

#define PROBES	   100	      /* addresses per warm row */
#define REPEAT	   1000	      /* test runs per address (warm) */
#define COLD	   4000	      /* addresses run once each (cold) */
#define ROT	   (1u << 18) /* addresses of one random-address run */
#define ROUNDS	   3	      /* random-address runs per program */
#define MEM_LOADS  (1u << 19) /* dependent loads per memory round */
#define XDPF_CHUNK 4096	      /* xdp-filter batch update size */
#define FRAME	   80
#define NSIZES	   5
#define STR_(x)	   #x
#define STR(x)	   STR_(x)

static size_t min_size(size_t a, size_t b)
{
	return a < b ? a : b;
}

/* xdp-filter's common_kern_user.h: the mode bit a source match needs. */
#define XDPF_FLAG_SRC 1

static uint64_t rng = 7;
static double scale = 1.0;
static unsigned ncpu; /* possible CPUs: per-CPU map values */
static size_t bad;    /* wrong verdicts: the run fails */

enum mix { EXACT, BANLIST, FEED, NMIX };
static const char *const mix_name[NMIX] = {"exact", "banlist", "feed"};

enum prog_id { P_HASH, P_CELLS, P_LPM, P_XDPF, NPROG };
static const char *const prog_name[NPROG] = {"hash", "cells", "lpm",
					     "xdpfilter"};
static const enum ipw_bpf_impl prog_impl[P_XDPF] = {IPW_BPF_HASH, IPW_BPF_CELLS,
						    IPW_BPF_LPM};

struct prog {
	struct ipw_bpf *b;	/* P_HASH, P_CELLS, P_LPM */
	struct bpf_object *obj; /* P_XDPF */
	int fd;			/* the XDP program; -1: not in this run */
	int filter_fd[2];	/* P_XDPF: filter_ipv4, filter_ipv6 */
	int stats_fd;		/* P_XDPF: xdp_stats_map */
};

/* The harness of bench/bpf/rotate.bpf.c, loaded once. */
struct rot {
	struct bench_rot *skel;
	uint8_t (*addrs)[16]; /* rot_addrs, mmapped */
	size_t map_len;
	int fd, null_fd, slot_fd;
};

/* One dependent-load chase over a buffer (bench_mem.c's mem/chase). */
struct chase {
	uint64_t *a;
	size_t map_len, lines;
	uint64_t p;
};

struct probes {
	uint8_t (*a)[16];
	size_t n;
};

/* Everything measured at one (mix, size). NAN where a program is absent. */
struct row {
	size_t size;
	unsigned lengths[2];	 /* [v6] lengths in use */
	size_t bytes[NPROG];	 /* memlock of the program's maps */
	double mem;		 /* ns per random dependent load, 2 MiB pages */
	double mem4k;		 /* the same on 4 KiB pages */
	double warm_base;	 /* non-IP frame, warm */
	double cold_base;	 /* non-IP frame, one run */
	double insert[2][NPROG]; /* [v6][prog] ns per entry, batch */
	double put1[2];		 /* [v6] ns per entry, single puts */
	double warm[2][2][NPROG]; /* [v6][hit][prog] */
	double cold[2][2][NPROG]; /* [v6][hit][prog] */
	double rnd[2][2][NPROG];  /* [v6][hit][prog], less harness */
	double harness[2][2];	  /* [v6][hit] */
};

static unsigned len_of(enum mix m, int v6)
{
	unsigned r = (unsigned)(bench_rand(&rng) % 1000);

	if (m == EXACT)
		return v6 ? 128 : 32;
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

/* An Ethernet + IPv4/IPv6 + UDP frame from @src (to 192.0.2.1 or
 * 2001:db8::1). */
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

/* Run program @fd on @f @repeat times: the kernel's ns per run, the
 * verdict in @ret. */
static uint32_t run(int fd, const uint8_t *f, size_t len, int repeat,
		    uint32_t *ret)
{
	struct bpf_test_run_opts o = {.sz = sizeof(o),
				      .data_in = f,
				      .data_size_in = (__u32)len,
				      .repeat = repeat};

	if (bpf_prog_test_run_opts(fd, &o) != 0) {
		fprintf(stderr, "bench_bpf: test run: %s\n", strerror(errno));
		exit(1);
	}
	if (ret)
		*ret = o.retval;
	return o.duration;
}

static void verdict(int k, int v6, const uint8_t *src, int hit, uint32_t ret)
{
	char s[IPW_ADDR_STRLEN];
	struct ipw_addr a;

	if ((ret == XDP_DROP && hit) || (ret == XDP_PASS && !hit))
		return;
	if (bad++ < 5) {
		target_of(v6, src, v6 ? 128 : 32, &a);
		ipw_addr_format(&a, s, sizeof(s));
		fprintf(stderr, "bench_bpf: %s gave %u for %s (%s)\n",
			prog_name[k], ret, s, hit ? "a hit" : "a miss");
	}
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

static double median(double *d, size_t n)
{
	if (n == 0)
		return NAN;
	qsort(d, n, sizeof(*d), cmp_double);
	return d[n / 2];
}

/* ---- xdp-filter's object ---- */

static const char *xdpf_path(void)
{
	static const char *const paths[] = {
		"/usr/lib/" BENCH_MULTIARCH "/bpf/xdpfilt_alw_ip.o",
		"/usr/lib/bpf/xdpfilt_alw_ip.o",
		"/usr/local/lib/bpf/xdpfilt_alw_ip.o",
		"/usr/local/lib/" BENCH_MULTIARCH "/bpf/xdpfilt_alw_ip.o",
	};
	const char *env = getenv("BENCH_XDPFILTER_OBJ");

	if (env)
		return env;
	for (size_t i = 0; i < sizeof(paths) / sizeof(paths[0]); i++)
		if (access(paths[i], R_OK) == 0)
			return paths[i];
	return NULL;
}

/* Load xdp-filter's program with room for @max addresses per family,
 * unpinned. Returns 0 or a negative errno. */
static int xdpf_open(struct prog *p, uint32_t max)
{
	const char *path = xdpf_path();
	struct bpf_program *pg;
	struct bpf_map *m;
	int rc = 0;

	if (!path)
		return -ENOENT;
	p->obj = bpf_object__open_file(path, NULL);
	if (!p->obj)
		return -errno;
	bpf_object__for_each_map(m, p->obj)
	{
		const char *name = bpf_map__name(m);

		rc = rc ? rc : bpf_map__set_pin_path(m, NULL);
		if (!strcmp(name, "filter_ipv4") ||
		    !strcmp(name, "filter_ipv6"))
			rc = rc ? rc : bpf_map__set_max_entries(m, max);
	}
	rc = rc ? rc : bpf_object__load(p->obj);
	if (rc)
		return rc;
	pg = bpf_object__next_program(p->obj, NULL);
	p->fd = pg ? bpf_program__fd(pg) : -ENOENT;
	p->filter_fd[0] =
		bpf_object__find_map_fd_by_name(p->obj, "filter_ipv4");
	p->filter_fd[1] =
		bpf_object__find_map_fd_by_name(p->obj, "filter_ipv6");
	p->stats_fd = bpf_object__find_map_fd_by_name(p->obj, "xdp_stats_map");
	if (p->fd < 0 || p->filter_fd[0] < 0 || p->filter_fd[1] < 0 ||
	    p->stats_fd < 0)
		return -ENOENT;
	return 0;
}

/* The addresses of @e (exact targets) into xdp-filter's map of the
 * family, as `xdp-filter ip -m src` would mark them, by batch updates. */
static int xdpf_put(struct prog *p, int v6, const struct ipw_bpf_entry *e,
		    size_t n)
{
	size_t ksz = v6 ? 16 : 4, vsz = 8 * (size_t)ncpu;
	uint8_t *keys = malloc(XDPF_CHUNK * ksz);
	uint64_t *vals = malloc(XDPF_CHUNK * vsz);
	int rc = 0;

	if (!keys || !vals)
		abort();
	for (size_t i = 0; i < XDPF_CHUNK * (size_t)ncpu; i++)
		vals[i] = XDPF_FLAG_SRC;
	for (size_t i = 0; i < n && !rc; i += XDPF_CHUNK) {
		size_t c = min_size(n - i, XDPF_CHUNK);
		struct bpf_map_batch_opts o = {.sz = sizeof(o)};
		__u32 cnt = (__u32)c;

		for (size_t j = 0; j < c; j++)
			memcpy(keys + j * ksz, e[i + j].target.bytes, ksz);
		rc = bpf_map_update_batch(p->filter_fd[v6], keys, vals, &cnt,
					  &o);
		if (rc)
			rc = -errno;
	}
	free(keys);
	free(vals);
	return rc;
}

/* Packets @k counted with the verdict of a hit (drop) or a miss (pass)
 * of family @v6: ipwall's packet counters, xdp-filter's xdp_stats_map
 * (per-CPU {packets, bytes} per XDP action). */
static uint64_t counted(const struct prog *p, int k, int v6, int hit)
{
	uint64_t c[IPW_BPF_COUNTERS], sum = 0, *per;
	__u32 key = hit ? XDP_DROP : XDP_PASS;

	if (k != P_XDPF) {
		if (ipw_bpf_counters(p->b, c) != 0)
			return 0;
		return hit ? c[IPW_BPF_DROP_BAN_V4 + v6] :
			     c[IPW_BPF_PASS_V4 + v6];
	}
	per = calloc(ncpu, 16);
	if (!per)
		abort();
	if (bpf_map_lookup_elem(p->stats_fd, &key, per) == 0)
		for (unsigned i = 0; i < ncpu; i++)
			sum += per[2 * i];
	free(per);
	return sum;
}

/* ---- map sizes and the memory reference ---- */

/* The memlock of every map program @fd uses (/proc/self/fdinfo). */
static size_t map_bytes(int fd)
{
	__u32 ids[32], len = sizeof(struct bpf_prog_info);
	struct bpf_prog_info info;
	size_t total = 0;

	memset(&info, 0, sizeof(info));
	info.nr_map_ids = 32;
	info.map_ids = (__u64)(uintptr_t)ids;
	if (bpf_obj_get_info_by_fd(fd, &info, &len) != 0)
		return 0;
	for (__u32 i = 0; i < info.nr_map_ids && i < 32; i++) {
		int mfd = bpf_map_get_fd_by_id(ids[i]);
		char path[64], line[128];
		FILE *f;

		if (mfd < 0)
			continue;
		snprintf(path, sizeof(path), "/proc/self/fdinfo/%d", mfd);
		f = fopen(path, "r");
		while (f && fgets(line, sizeof(line), f))
			if (strncmp(line, "memlock:", 8) == 0)
				total += strtoull(line + 8, NULL, 10);
		if (f)
			fclose(f);
		close(mfd);
	}
	return total;
}

/* A random cycle through every cache line of @bytes (bench_mem.c), on
 * transparent huge pages (@huge) or 4 KiB pages. */
static void chase_new(struct chase *c, size_t bytes, int huge_pages)
{
	const size_t huge = 2u << 20;
	uint64_t seed = bytes;
	uint32_t *perm;

	c->lines = bytes / 64 > 64 ? bytes / 64 : 64;
	c->map_len = (c->lines * 64 + huge - 1) / huge * huge;
	c->a = mmap(NULL, c->map_len, PROT_READ | PROT_WRITE,
		    MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	perm = malloc(c->lines * sizeof(*perm));
	if (c->a == MAP_FAILED || !perm)
		abort();
	madvise(c->a, c->map_len, huge_pages ? MADV_HUGEPAGE : MADV_NOHUGEPAGE);
	for (size_t i = 0; i < c->lines; i++)
		perm[i] = (uint32_t)i;
	for (size_t i = c->lines - 1; i > 0; i--) {
		size_t j = bench_rand(&seed) % (i + 1);
		uint32_t x = perm[i];

		perm[i] = perm[j];
		perm[j] = x;
	}
	for (size_t i = 0; i < c->lines; i++)
		c->a[(size_t)perm[i] * 8] =
			(uint64_t)perm[(i + 1) % c->lines] * 8;
	free(perm);
	c->p = 0;
}

/* ns per dependent load over @loads loads. */
static double chase_run(struct chase *c, size_t loads)
{
	uint64_t p = c->p, t0 = bench_now_ns();

	for (size_t i = 0; i < loads; i++)
		p = c->a[p];
	bench_keep(p);
	c->p = p;
	return (double)(bench_now_ns() - t0) / (double)loads;
}

static void chase_free(struct chase *c)
{
	munmap(c->a, c->map_len);
}

/* ---- the random-address harness ---- */

static int rot_open(struct rot *r, uint32_t cap)
{
	long page = sysconf(_SC_PAGESIZE);
	int rc;

	r->skel = bench_rot__open();
	if (!r->skel)
		return -errno;
	rc = bpf_map__set_max_entries(r->skel->maps.rot_addrs, cap);
	rc = rc ? rc : bench_rot__load(r->skel);
	if (rc)
		return rc;
	r->map_len = ((size_t)cap * 16 + (size_t)page - 1) / (size_t)page *
		     (size_t)page;
	r->addrs = mmap(NULL, r->map_len, PROT_READ | PROT_WRITE, MAP_SHARED,
			bpf_map__fd(r->skel->maps.rot_addrs), 0);
	if (r->addrs == MAP_FAILED)
		return -errno;
	r->fd = bpf_program__fd(r->skel->progs.rot_xdp);
	r->null_fd = bpf_program__fd(r->skel->progs.rot_null);
	r->slot_fd = bpf_map__fd(r->skel->maps.rot_prog);
	return 0;
}

static void rot_free(struct rot *r)
{
	if (r->addrs && r->addrs != MAP_FAILED)
		munmap(r->addrs, r->map_len);
	bench_rot__destroy(r->skel);
}

/* One test run of program @fd over the @n addresses of the harness:
 * the kernel's ns per packet, the last verdict in @ret. */
static uint32_t rot_run(struct rot *r, int fd, int v6, uint32_t n,
			uint32_t *ret)
{
	uint8_t f[FRAME];
	__u32 slot = 0;
	size_t len;

	if (bpf_map_update_elem(r->slot_fd, &slot, &fd, BPF_ANY) != 0) {
		fprintf(stderr, "bench_bpf: tail call slot: %s\n",
			strerror(errno));
		exit(1);
	}
	r->skel->bss->rot_next = 0;
	r->skel->bss->rot_n = n;
	r->skel->bss->rot_v6 = (__u32)v6;
	len = frame(f, v6, r->addrs[0]);
	return run(r->fd, f, len, (int)n, ret);
}

/* ---- one (mix, size) ---- */

static void report(const char *bcase, const char *impl, double ns, uint64_t ops,
		   size_t entries)
{
	char name[112], extra[64];

	snprintf(name, sizeof(name), "%s/%s", bcase, impl);
	snprintf(extra, sizeof(extra), "\"entries\": %zu", entries);
	bench_report("bpf", name, 1, ops, (uint64_t)(ns * (double)ops), extra);
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

/* Up to @want addresses of family @v6: inside random entries of @e
 * (@hit), or random ones that no entry covers by the table @t. */
static void make_probes(struct ipw_table *t, const struct ipw_bpf_entry *e,
			size_t n, int v6, int hit, size_t want,
			struct probes *p)
{
	p->a = malloc(want * 16);
	p->n = 0;
	if (!p->a)
		abort();
	for (size_t tries = 0; p->n < want && tries < want * 50; tries++) {
		uint8_t src[16];

		rand_bytes(v6, src);
		if (hit) { /* keep the entry's prefix, random host bits */
			const struct ipw_addr *a =
				&e[bench_rand(&rng) % n].target;

			for (unsigned i = 0; i < a->plen; i++) {
				uint8_t m = (uint8_t)(0x80 >> (i % 8));

				src[i / 8] = (uint8_t)((src[i / 8] & ~m) |
						       (a->bytes[i / 8] & m));
			}
		} else {
			struct ipw_verdict v;
			struct ipw_addr a;

			target_of(v6, src, v6 ? 128 : 32, &a);
			if (ipw_table_check(t, &a, &v) != 0 || v.blocked)
				continue;
		}
		memcpy(p->a[p->n++], src, 16);
	}
}

/*
 * The median over the first @n probes of the kernel's ns per run (each
 * probe run @repeat times), into @ns[prog]: the median, because an
 * interrupt that lands in one probe's runs would move a mean. The
 * programs take turns on each probe, so that a slower moment of the
 * machine falls on all of them. Checks every verdict.
 */
static void measure(const struct prog p[NPROG], const struct probes *pr,
		    size_t n, int v6, int repeat, int hit, double ns[NPROG])
{
	double *d = calloc(NPROG * (n + 1), sizeof(*d));

	if (!d)
		abort();
	n = n < pr->n ? n : pr->n;
	for (size_t i = 0; i < n; i++) {
		uint8_t f[FRAME];
		size_t len = frame(f, v6, pr->a[i]);

		for (int k = 0; k < NPROG; k++) {
			uint32_t r;

			if (p[k].fd < 0)
				continue;
			d[(size_t)k * n + i] = run(p[k].fd, f, len, repeat, &r);
			verdict(k, v6, pr->a[i], hit, r);
		}
	}
	for (int k = 0; k < NPROG; k++)
		ns[k] = p[k].fd < 0 ? NAN : median(d + (size_t)k * n, n);
	free(d);
}

/*
 * The random-address rows: ROUNDS rounds, each a memory chase, then one
 * harness run per program over all the probes, then the harness alone;
 * the medians, the programs' less the harness's. Every packet's verdict
 * is checked through the program's counters.
 */
static void measure_rot(const struct prog p[NPROG], struct rot *r,
			const struct probes *pr, enum mix m, int v6, int hit,
			struct chase c[2], double *mem[2], size_t *nmem,
			double ns[NPROG], double *harness)
{
	double d[NPROG + 1][ROUNDS];
	uint32_t n = (uint32_t)pr->n;

	*harness = NAN;
	for (int k = 0; k < NPROG; k++)
		ns[k] = NAN;
	if (n == 0)
		return;
	memcpy(r->addrs, pr->a, pr->n * 16);
	for (int round = 0; round < ROUNDS; round++) {
		uint32_t ret;

		mem[0][*nmem] = chase_run(&c[0], MEM_LOADS);
		mem[1][(*nmem)++] = chase_run(&c[1], MEM_LOADS);
		for (int k = 0; k < NPROG; k++) {
			uint64_t c0, c1;

			if (p[k].fd < 0 || (k == P_HASH && m == FEED))
				continue;
			c0 = counted(&p[k], k, v6, hit);
			d[k][round] = rot_run(r, p[k].fd, v6, n, &ret);
			c1 = counted(&p[k], k, v6, hit);
			verdict(k, v6, r->addrs[n - 1], hit, ret);
			if (c1 - c0 != n && bad++ < 5)
				fprintf(stderr,
					"bench_bpf: %s: %llu of %u packets "
					"with the %s verdict\n",
					prog_name[k],
					(unsigned long long)(c1 - c0), n,
					hit ? "hit" : "miss");
		}
		d[NPROG][round] = rot_run(r, r->null_fd, v6, n, &ret);
	}
	*harness = median(d[NPROG], ROUNDS);
	for (int k = 0; k < NPROG; k++)
		ns[k] = p[k].fd < 0 || (k == P_HASH && m == FEED) ?
				NAN :
				median(d[k], ROUNDS) - *harness;
}

static void name_case(char *buf, size_t size, const char *kind, enum mix m,
		      int v6, size_t n, const char *tail)
{
	snprintf(buf, size, "%s/%s_%s_%zu%s", kind, mix_name[m],
		 v6 ? "v6" : "v4", n, tail);
}

/* Single puts into a fresh cells program: ns per entry. */
static double put_single(const struct ipw_bpf_entry *e, size_t n)
{
	struct ipw_bpf_opts o = {.impl = IPW_BPF_CELLS,
				 .max_entries = (uint32_t)n + 64};
	struct ipw_bpf *b;
	uint64_t t0;
	int rc = ipw_bpf_open(&b, &o);

	if (rc)
		return NAN;
	t0 = bench_now_ns();
	for (size_t i = 0; i < n && !rc; i++)
		rc = ipw_bpf_put(b, e[i].list, &e[i].target, 0);
	t0 = bench_now_ns() - t0;
	ipw_bpf_free(b);
	if (rc)
		fprintf(stderr, "bench_bpf: put: %s\n", strerror(-rc));
	return rc ? NAN : (double)t0 / (double)n;
}

static int open_progs(enum mix m, size_t size, struct prog p[NPROG])
{
	int rc = 0;

	for (int k = 0; k < NPROG; k++) {
		memset(&p[k], 0, sizeof(p[k]));
		p[k].fd = -1;
	}
	for (int k = 0; k < P_XDPF && !rc; k++) {
		struct ipw_bpf_opts o = {
			.impl = prog_impl[k],
			.max_entries =
				(uint32_t)(k == P_LPM ? size : 2 * size) + 64};

		rc = ipw_bpf_open(&p[k].b, &o);
		if (rc)
			fprintf(stderr, "bench_bpf: open %s: %s\n",
				prog_name[k], strerror(-rc));
		else
			p[k].fd = ipw_bpf_prog_fd(p[k].b);
	}
	if (!rc && m == EXACT) {
		int x = xdpf_open(&p[P_XDPF], (uint32_t)size + 64);

		if (x) {
			static int said;

			if (!said++)
				fprintf(stderr,
					"bench_bpf: xdp-filter not measured: "
					"%s\n",
					strerror(-x));
			p[P_XDPF].fd = -1;
		}
	}
	return rc;
}

static void close_progs(struct prog p[NPROG])
{
	for (int k = 0; k < P_XDPF; k++)
		ipw_bpf_free(p[k].b);
	bpf_object__close(p[P_XDPF].obj);
}

/* A table holding @e's entries, to tell misses. */
static struct ipw_table *table_of(struct ipw_bpf_entry *e[2], size_t size)
{
	struct ipw_table_opts o = {.hash_key = {1, 2}};
	struct ipw_entry_spec *s = calloc(4096, sizeof(*s));
	struct ipw_table *t;

	if (!s || ipw_table_new(&t, &o) != 0)
		abort();
	for (int v6 = 0; v6 < 2; v6++)
		for (size_t i = 0; i < size; i += 4096) {
			size_t c = min_size(size - i, 4096);

			for (size_t j = 0; j < c; j++) {
				s[j].target = e[v6][i + j].target;
				s[j].list = IPW_LIST_BAN;
			}
			if (ipw_table_add_batch(t, s, c, NULL, NULL, NULL,
						NULL) != 0)
				abort();
		}
	free(s);
	return t;
}

static int one_size(enum mix m, size_t size, struct rot *r, struct row *row)
{
	struct prog p[NPROG];
	struct ipw_bpf_entry *e[2];
	struct ipw_table *t;
	struct chase c[2];
	double *mem[2];
	size_t nmem = 0;
	char bcase[96];
	int rc;

	memset(row, 0, sizeof(*row));
	row->size = size;
	for (int v6 = 0; v6 < 2; v6++) {
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
		for (int k = 0; k < NPROG; k++)
			row->insert[v6][k] = NAN;
		row->put1[v6] = NAN;
	}
	t = table_of(e, size);
	rc = open_progs(m, size, p);
	for (int v6 = 0; v6 < 2 && !rc; v6++)
		for (int k = 0; k < NPROG && !rc; k++) {
			uint64_t t0 = bench_now_ns();

			if (p[k].fd < 0)
				continue;
			rc = k == P_XDPF ?
				     xdpf_put(&p[k], v6, e[v6], size) :
				     ipw_bpf_put_batch(p[k].b, e[v6], size);
			row->insert[v6][k] =
				(double)(bench_now_ns() - t0) / (double)size;
			name_case(bcase, sizeof(bcase), "insert", m, v6, size,
				  "");
			report(bcase, prog_name[k], row->insert[v6][k], size,
			       size);
			if (rc)
				fprintf(stderr, "bench_bpf: put %s: %s\n",
					prog_name[k], strerror(-rc));
		}
	if (rc)
		goto out;
	if (m == EXACT && size >= 10000)
		for (int v6 = 0; v6 < 2; v6++) {
			row->put1[v6] = put_single(e[v6], size);
			name_case(bcase, sizeof(bcase), "put1", m, v6, size,
				  "");
			report(bcase, "cells", row->put1[v6], size, size);
		}
	for (int k = 0; k < NPROG; k++)
		row->bytes[k] = p[k].fd < 0 ? 0 : map_bytes(p[k].fd);
	{
		uint8_t f[FRAME] = {0};
		double *d = calloc(COLD, sizeof(*d));

		if (!d)
			abort();
		f[12] = 0x08, f[13] = 0x06; /* ARP: parsed, passed */
		row->warm_base =
			(double)run(p[P_CELLS].fd, f, 60, REPEAT * 10, NULL);
		for (size_t i = 0; i < COLD; i++)
			d[i] = run(p[P_CELLS].fd, f, 60, 1, NULL);
		row->cold_base = median(d, COLD);
		free(d);
	}
	chase_new(&c[0], row->bytes[P_CELLS], 1);
	chase_new(&c[1], row->bytes[P_CELLS], 0);
	mem[0] = calloc(4 * ROUNDS, sizeof(double));
	mem[1] = calloc(4 * ROUNDS, sizeof(double));
	if (!mem[0] || !mem[1])
		abort();
	for (int v6 = 0; v6 < 2; v6++)
		for (int hit = 0; hit < 2; hit++) {
			size_t nw = (size_t)(PROBES * scale) + 1;
			size_t nc = (size_t)(COLD * scale) + 1;
			size_t nr = (size_t)(ROT * scale) + 1;
			const char *tail = hit ? "_hit" : "_miss";
			struct probes pr;

			nr = min_size(nr, ROT);
			make_probes(t, e[v6], size, v6, hit, nr, &pr);
			if (pr.n < nr)
				fprintf(stderr,
					"bench_bpf: only %zu of %zu %s "
					"probes\n",
					pr.n, nr, hit ? "hit" : "miss");
			measure(p, &pr, nw, v6, REPEAT, hit,
				row->warm[v6][hit]);
			measure(p, &pr, nc, v6, 1, hit, row->cold[v6][hit]);
			measure_rot(p, r, &pr, m, v6, hit, c, mem, &nmem,
				    row->rnd[v6][hit], &row->harness[v6][hit]);
			for (int k = 0; k < NPROG; k++) {
				if (p[k].fd < 0)
					continue;
				name_case(bcase, sizeof(bcase), "lookup", m, v6,
					  size, tail);
				report(bcase, prog_name[k],
				       row->warm[v6][hit][k],
				       (uint64_t)(nw < pr.n ? nw : pr.n) *
					       REPEAT,
				       size);
				name_case(bcase, sizeof(bcase), "lookup1", m,
					  v6, size, tail);
				report(bcase, prog_name[k],
				       row->cold[v6][hit][k],
				       nc < pr.n ? nc : pr.n, size);
				if (isnan(row->rnd[v6][hit][k]))
					continue;
				name_case(bcase, sizeof(bcase), "lookupr", m,
					  v6, size, tail);
				report(bcase, prog_name[k],
				       row->rnd[v6][hit][k],
				       (uint64_t)pr.n * ROUNDS, size);
			}
			name_case(bcase, sizeof(bcase), "lookupr", m, v6, size,
				  tail);
			report(bcase, "harness", row->harness[v6][hit],
			       (uint64_t)pr.n * ROUNDS, size);
			free(pr.a);
		}
	row->mem = median(mem[0], nmem);
	row->mem4k = median(mem[1], nmem);
	for (int h = 0; h < 2; h++) {
		char extra[64];
		double ns = h ? row->mem4k : row->mem;

		snprintf(bcase, sizeof(bcase), "mem/chase%s_%s_%zu",
			 h ? "_4k" : "", mix_name[m], size);
		snprintf(extra, sizeof(extra), "\"bytes\": %zu",
			 row->bytes[P_CELLS]);
		bench_report("bpf", bcase, 1, MEM_LOADS * nmem,
			     (uint64_t)(ns * MEM_LOADS * (double)nmem), extra);
		free(mem[h]);
		chase_free(&c[h]);
	}
out:
	close_progs(p);
	ipw_table_free(t);
	free(e[0]);
	free(e[1]);
	return rc;
}

/* ---- tables ---- */

static const char *verdict_word(int met)
{
	return met ? "met" : "MISSED";
}

/* @v with @prec decimals in @w columns, "-" for NAN; one of 32 rotating
 * buffers, so a printf may take several. */
static const char *num(double v, int w, int prec)
{
	static char buf[32][24];
	static unsigned i;
	char *b = buf[i++ % 32];

	if (isnan(v) || isinf(v))
		snprintf(b, sizeof(buf[0]), "%*s", w, "-");
	else
		snprintf(b, sizeof(buf[0]), "%*.*f", w, prec, v);
	return b;
}

static void ns4(char *buf, size_t size, const double *ns)
{
	size_t o = 0;

	for (int k = 0; k < NPROG && o < size; k++)
		if (isnan(ns[k]))
			o += (size_t)snprintf(buf + o, size - o, "%7s", "-");
		else
			o += (size_t)snprintf(buf + o, size - o, "%7.1f",
					      ns[k]);
}

static void print_mix(enum mix m, const struct row *rows, size_t nrows)
{
	static const char *const kind[] = {"warm", "cold", "random"};

	fprintf(stderr,
		"\n# %s mix: ns per packet as the kernel reports it; programs "
		"hash, cells, lpm, xdpfilter\n"
		"#   warm: each address run " STR(
			REPEAT) " times (best "
				"case); cold: one test run per address (clock read, TLB "
				"emptied by the syscall);\n"
				"#   random: one test run over up to %u addresses, less the "
				"harness (shown)\n",
		mix_name[m], (unsigned)(ROT * (scale < 1 ? scale : 1)));
	fprintf(stderr, "%-4s %8s %4s %-6s | %-28s | %-28s | %s\n", "fam",
		"entries", "lens", "rows", "hit", "miss", "harness h/m");
	for (int v6 = 0; v6 < 2; v6++)
		for (size_t i = 0; i < nrows; i++)
			for (int j = 0; j < 3; j++) {
				const struct row *r = &rows[i];
				char h[64], x[64];
				const double(*a)[2][NPROG] = j == 0 ? r->warm :
							     j == 1 ? r->cold :
								      r->rnd;

				ns4(h, sizeof(h), a[v6][1]);
				ns4(x, sizeof(x), a[v6][0]);
				fprintf(stderr,
					"%-4s %8zu %4u %-6s | %s | %s |",
					v6 ? "IPv6" : "IPv4", r->size,
					r->lengths[v6], kind[j], h, x);
				if (j == 2)
					fprintf(stderr, " %.0f %.0f",
						r->harness[v6][1],
						r->harness[v6][0]);
				fprintf(stderr, "\n");
			}
	fprintf(stderr,
		"# %s mix: ns per entry put by batch updates (hash cells lpm "
		"xdpfilter) and one by one (cells);\n# the programs' maps "
		"(MiB, both families); the non-IP frame, warm / cold ns\n",
		mix_name[m]);
	for (int v6 = 0; v6 < 2; v6++)
		for (size_t i = 0; i < nrows; i++) {
			const struct row *r = &rows[i];
			const double *x = r->insert[v6];
			double mib[NPROG];

			for (int k = 0; k < NPROG; k++)
				mib[k] = r->bytes[k] ? (double)r->bytes[k] /
							       1048576.0 :
						       NAN;
			fprintf(stderr,
				"%-4s %8zu | batch %s %s %s %s | single %s | "
				"maps %s %s %s %s | base %.0f / %.0f\n",
				v6 ? "IPv6" : "IPv4", r->size, num(x[0], 9, 1),
				num(x[1], 9, 1), num(x[2], 9, 1),
				num(x[3], 9, 1), num(r->put1[v6], 7, 1),
				num(mib[0], 6, 1), num(mib[1], 6, 1),
				num(mib[2], 6, 1), num(mib[3], 6, 1),
				r->warm_base, r->cold_base);
		}
}

static void print_summary(struct row rows[NMIX][NSIZES], size_t nrows)
{
	fprintf(stderr,
		"\n# summary: ns per packet, hit / miss, random source "
		"addresses less the harness unless marked (cold, warm);\n"
		"# mem = one random dependent load over a buffer the size "
		"of cells' maps, 2 MiB pages (bench_mem) / 4 KiB pages\n");
	fprintf(stderr,
		"%-7s %-4s %8s %7s %-13s | %-13s %-11s | %-13s %-11s | "
		"%-13s | %-13s | %-13s | %s\n",
		"mix", "fam", "entries", "map MiB", "mem 2M/4K", "cells",
		"cells/mem", "lpm", "lpm/cells", "xdpfilter", "cells cold",
		"cells warm", "batch M/s cells lpm xdpf");
	for (int m = 0; m < NMIX; m++)
		for (size_t i = 0; i < nrows; i++)
			for (int v6 = 0; v6 < 2; v6++) {
				const struct row *r = &rows[m][i];
				const double(*x)[NPROG] = r->rnd[v6];

				fprintf(stderr,
					"%-7s %-4s %8zu %7s %s %s | %s %s "
					"%s %s | %s %s %s %s | %s %s | %s %s "
					"| %s %s | %s %s %s\n",
					mix_name[m], v6 ? "IPv6" : "IPv4",
					r->size,
					num((double)r->bytes[P_CELLS] /
						    1048576.0,
					    7, 1),
					num(r->mem, 6, 1), num(r->mem4k, 6, 1),
					num(x[1][P_CELLS], 6, 1),
					num(x[0][P_CELLS], 6, 1),
					num(x[1][P_CELLS] / r->mem, 5, 2),
					num(x[0][P_CELLS] / r->mem, 5, 2),
					num(x[1][P_LPM], 6, 1),
					num(x[0][P_LPM], 6, 1),
					num(x[1][P_LPM] / x[1][P_CELLS], 5, 2),
					num(x[0][P_LPM] / x[0][P_CELLS], 5, 2),
					num(x[1][P_XDPF], 6, 1),
					num(x[0][P_XDPF], 6, 1),
					num(r->cold[v6][1][P_CELLS], 6, 0),
					num(r->cold[v6][0][P_CELLS], 6, 0),
					num(r->warm[v6][1][P_CELLS], 6, 0),
					num(r->warm[v6][0][P_CELLS], 6, 0),
					num(1e3 / r->insert[v6][P_CELLS], 5, 2),
					num(1e3 / r->insert[v6][P_LPM], 5, 2),
					num(1e3 / r->insert[v6][P_XDPF], 5, 2));
			}
	fprintf(stderr, "\n# issue 15's targets, on the random-address "
			"rows of cells\n");
	for (size_t i = 0; i < nrows; i++) {
		size_t n = rows[0][i].size;

		for (int m = 0; m < NMIX; m++)
			for (int v6 = 0; v6 < 2; v6++)
				for (int hit = 1; hit >= 0; hit--) {
					const struct row *r = &rows[m][i];
					double c = r->rnd[v6][hit][P_CELLS];
					double l = r->rnd[v6][hit][P_LPM];
					const char *f = v6 ? "IPv6" : "IPv4";
					const char *h = hit ? "hit" : "miss";

					if (m == EXACT && n == 1000000)
						fprintf(stderr,
							"exact 1M <= 1.2x one "
							"memory access (%.1f "
							"ns): %s %s %.1f ns = "
							"%.2fx: %s\n",
							r->mem, f, h, c,
							c / r->mem,
							verdict_word(
								c <=
								1.2 * r->mem));
					if (n == 10000)
						fprintf(stderr,
							"hot set 10k <= 40 ns: "
							"%s %s %s %.1f ns: "
							"%s\n",
							mix_name[m], f, h, c,
							verdict_word(c <= 40));
					if (m != EXACT && n == 100000)
						fprintf(stderr,
							"100k prefixes <= 80 "
							"ns: %s %s %s %.1f ns: "
							"%s\n",
							mix_name[m], f, h, c,
							verdict_word(c <= 80));
					if (m != EXACT &&
					    (n == 100000 || n == 1000000))
						fprintf(stderr,
							">= 3x faster than the "
							"trie at %zu prefixes: "
							"%s %s %s lpm %.1f / "
							"cells %.1f = %.2fx: "
							"%s\n",
							n, mix_name[m], f, h, l,
							c, l / c,
							verdict_word(l >=
								     3 * c));
				}
	}
	for (int m = 0; m < NMIX; m++)
		for (int v6 = 0; v6 < 2; v6++) {
			const struct row *r = &rows[m][nrows - 1];
			double rate = 1e3 / r->insert[v6][P_CELLS];

			fprintf(stderr,
				"batch updates >= 1M entries/s: %s %s %zu "
				"entries %.2fM/s: %s\n",
				mix_name[m], v6 ? "IPv6" : "IPv4", r->size,
				rate, verdict_word(rate >= 1.0));
		}
}

int main(void)
{
	static const size_t sizes[NSIZES] = {1, 1000, 10000, 100000, 1000000};
	const char *s = getenv("BENCH_SCALE"), *mx = getenv("BENCH_BPF_MAX");
	size_t max = mx ? strtoull(mx, NULL, 10) : SIZE_MAX, n = 0;
	static struct row rows[NMIX][NSIZES];
	struct rot r = {0};
	uint64_t t0 = bench_now_ns();
	int fd, rc, cpus;

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
	cpus = libbpf_num_possible_cpus();
	if (cpus <= 0)
		return 1;
	ncpu = (unsigned)cpus;
	rc = rot_open(&r, ROT);
	if (rc) {
		fprintf(stderr, "bench_bpf: harness: %s\n", strerror(-rc));
		return 1;
	}
	/* One CPU for the whole run (the test runs execute on the caller's):
	 * no migration between a program and the next. */
	{
		cpu_set_t set;
		long on = sysconf(_SC_NPROCESSORS_ONLN);

		CPU_ZERO(&set);
		CPU_SET(on > 1 ? (int)on - 1 : 0, &set);
		sched_setaffinity(0, sizeof(set), &set);
	}
	bench_header();
	for (size_t i = 0; i < NSIZES && sizes[i] <= max; i++)
		n++;
	for (int m = 0; m < NMIX && n; m++) {
		for (size_t i = 0; i < n; i++)
			if (one_size((enum mix)m, sizes[i], &r, &rows[m][i]))
				return 1;
		print_mix((enum mix)m, rows[m], n);
	}
	if (n)
		print_summary(rows, n);
	fprintf(stderr, "# bench_bpf: %.0f s\n",
		(double)(bench_now_ns() - t0) / 1e9);
	rot_free(&r);
	if (bad) {
		fprintf(stderr, "bench_bpf: %zu wrong verdicts\n", bad);
		return 1;
	}
	return 0;
}
