// SPDX-License-Identifier: MIT
/*
 * The nftables backend (src/daemon/enforce/nft.c) at scale, in a network
 * namespace of its own (unshare(CLONE_NEWNET): the machine's ruleset is
 * never touched, and the namespace goes with the process).
 *
 * N entries (BENCH_NFT_N, default 1,000,000) in random order: 70 % IPv4,
 * 30 % IPv6; of each, 90 % single addresses, 8 % /24 (IPv6 /64) and 2 %
 * /16 (IPv6 /48), drawn from ranges small enough that prefixes nest and
 * addresses fall inside them; half permanent, half expiring in 1 to 24
 * hours. Measured:
 *   reconcile_load  the whole table into an empty nftables table by one
 *                   reconcile from a snapshot (what a start does)
 *   reconcile_same  a second reconcile with nothing to change (what the
 *                   periodic reconcile costs: it lists every set)
 *   put_groups      the same entries into another empty table through
 *                   begin / 1,000 puts / commit, group after group
 *   lag_put_addr    one new single address per group, 1,000 groups, with
 *                   the N entries in place: p50 and p99 of begin + put +
 *                   commit (the time from the op to the kernel)
 *   lag_put_prefix  the same with a new /24 (an interval set element),
 *                   200 groups
 *   lag_del_addr    the same with the delete of a single address (a
 *                   delete makes libnftables dump the interval sets),
 *                   50 groups
 * Needs root; without it, says so and exits 0.
 */
#include <errno.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/resource.h>

#include <ipwall/addr.h>
#include <ipwall/table.h>

#include "../bench.h"
#include "enforce/nft.h"

static uint64_t rng = 0x6e667462656e6368ull;

static struct ipw_addr random_target(void)
{
	uint64_t r = bench_rand(&rng), k = r % 100, pick = r >> 8;
	struct ipw_addr a;
	uint8_t b[16] = {0x20, 0x01, 0x0d, 0xb8};

	if (k < 70) {
		/* 1.0.0.0 - 126.255.255.255 */
		uint32_t v = (uint32_t)(1 + pick % 126) << 24 |
			     (uint32_t)(bench_rand(&rng) & 0xffffff);
		unsigned plen = r % 50 == 0 ? 16 : r % 12 == 0 ? 24 : 32;

		ipw_addr_from_v4(&a, v, plen);
		return a;
	}
	/* 2001:db8:X:Y::/64 with X < 1024, Y < 64 */
	b[4] = (uint8_t)(pick % 1024 >> 8);
	b[5] = (uint8_t)(pick % 1024);
	b[7] = (uint8_t)(pick / 1024 % 64);
	{
		uint64_t low = bench_rand(&rng);
		unsigned plen = r % 50 == 0 ? 48 : r % 12 == 0 ? 64 : 128;
		int i;

		for (i = 0; i < 8; i++)
			b[8 + i] = (uint8_t)(low >> (8 * i));
		ipw_addr_from_v6(&a, b, plen);
	}
	return a;
}

static void fill(struct ipw_table *t, size_t n, int64_t now)
{
	struct ipw_entry_info *v = calloc(4096, sizeof(*v));
	size_t i, k = 0;

	for (i = 0; i < n; i++) {
		struct ipw_entry_info *e = &v[k++];

		memset(e, 0, sizeof(*e));
		e->target = random_target();
		e->list = IPW_LIST_BAN;
		e->created = now;
		e->expires = bench_rand(&rng) % 2 ?
				     0 :
				     now + 3600 +
					     (int64_t)(bench_rand(&rng) %
						       (23 * 3600));
		if (k == 4096 || i + 1 == n) {
			ipw_table_put_batch(t, v, k, NULL);
			k = 0;
		}
	}
	free(v);
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return (x > y) - (x < y);
}

static long rss_mib(void)
{
	struct rusage ru;

	getrusage(RUSAGE_SELF, &ru);
	return ru.ru_maxrss / 1024;
}

static void elements(struct ipwd_backend *be, char *out, size_t size)
{
	static char buf[8192];
	const char *p;
	size_t n = 0;

	out[0] = '\0';
	if (be->ops->metrics(be->b, buf, sizeof(buf)) == 0)
		return;
	for (p = strstr(buf, "ipwall_nft_elements{"); p && n < size;
	     p = strstr(p + 1, "ipwall_nft_elements{")) {
		char name[32];
		unsigned long long v;

		const char *q;

		if (sscanf(p, "ipwall_nft_elements{set=\"%31[^\"]\"}", name) !=
			    1 ||
		    (q = strstr(p, "} ")) == NULL)
			continue;
		v = strtoull(q + 2, NULL, 10);
		if (v)
			n += (size_t)snprintf(out + n, size - n, "%s%s=%llu",
					      n ? " " : "", name, v);
	}
}

/* p50/p99 of @n single-op groups built by @op. */
static void lag(struct ipwd_backend *be, const char *name, int n,
		void (*op)(struct ipwd_backend *, int, int64_t), int64_t now)
{
	uint64_t *v = calloc((size_t)n, sizeof(*v)), total = 0;
	size_t i50, i99;
	char extra[160];
	int i, fails = 0;

	for (i = 0; i < n; i++) {
		uint64_t t0 = bench_now_ns();

		be->ops->begin(be->b);
		op(be, i, now);
		fails += be->ops->commit(be->b) != 0;
		v[i] = bench_now_ns() - t0;
		total += v[i];
	}
	qsort(v, (size_t)n, sizeof(*v), cmp_u64);
	i50 = (size_t)n / 2;
	i99 = (size_t)n * 99 / 100;
	snprintf(extra, sizeof(extra),
		 "\"p50_us\": %.1f, \"p99_us\": %.1f, \"failed\": %d",
		 (double)v[i50] / 1e3, (double)v[i99] / 1e3, fails);
	bench_report("nft", name, 1, (uint64_t)n, total, extra);
	fprintf(stderr, "  %s: p50 %.2f ms, p99 %.2f ms\n", name,
		(double)v[i50] / 1e6, (double)v[i99] / 1e6);
	free(v);
}

static void put_addr(struct ipwd_backend *be, int i, int64_t now)
{
	struct ipw_addr a;

	ipw_addr_from_v4(&a, 0xc0000000u | (uint32_t)i * 7u, 32);
	be->ops->put(be->b, IPW_LIST_BAN, &a, now + 3600);
}

static void put_prefix(struct ipwd_backend *be, int i, int64_t now)
{
	struct ipw_addr a;

	ipw_addr_from_v4(&a, 0xc8000000u | (uint32_t)i << 8, 24);
	be->ops->put(be->b, IPW_LIST_BAN, &a, now + 3600);
}

static void del_addr(struct ipwd_backend *be, int i, int64_t now)
{
	struct ipw_addr a;

	(void)now;
	ipw_addr_from_v4(&a, 0xc0000000u | (uint32_t)i * 7u, 32);
	be->ops->del(be->b, IPW_LIST_BAN, &a);
}

int main(void)
{
	const char *e = getenv("BENCH_NFT_N");
	size_t n = e ? strtoull(e, NULL, 0) : 1000000;
	struct ipwd_nft_opts o = {.table = "ipwbench", .max_elements = 2000000};
	struct ipw_table_opts to = {.max_entries = 4000000};
	struct ipw_table *t;
	struct ipw_snapshot *snap;
	struct ipwd_backend be;
	int64_t now = (int64_t)time(NULL);
	uint64_t rep, t0, dt;
	char extra[512], els[400];
	size_t i;

	if (geteuid() != 0 || unshare(CLONE_NEWNET) != 0) {
		fprintf(stderr, "bench_nft: needs root (a network namespace "
				"of its own): skipped\n");
		return 0;
	}
	bench_header();
	if (ipw_table_new(&t, &to) != 0)
		return 1;
	fill(t, n, now);
	ipw_table_snapshot(t, &snap);
	fprintf(stderr, "bench_nft: %zu entries in the table (%zu asked)\n",
		ipw_snapshot_count(snap), n);

	if (ipwd_nft_new(&be, &o) != 0) {
		fprintf(stderr, "bench_nft: nftables unavailable\n");
		return 1;
	}
	t0 = bench_now_ns();
	if (be.ops->reconcile(be.b, snap, IPW_MODE_DENYLIST, &rep) != 0)
		fprintf(stderr, "bench_nft: reconcile failed\n");
	dt = bench_now_ns() - t0;
	elements(&be, els, sizeof(els));
	snprintf(extra, sizeof(extra),
		 "\"entries\": %zu, \"elements\": %llu, \"sets\": \"%s\", "
		 "\"max_rss_mib\": %ld",
		 ipw_snapshot_count(snap), (unsigned long long)rep, els,
		 rss_mib());
	bench_report("nft", "reconcile_load", 1, ipw_snapshot_count(snap), dt,
		     extra);
	fprintf(stderr, "  reconcile_load: %.2f s, %llu elements (%s)\n",
		dt / 1e9, (unsigned long long)rep, els);

	t0 = bench_now_ns();
	if (be.ops->reconcile(be.b, snap, IPW_MODE_DENYLIST, &rep) != 0)
		fprintf(stderr, "bench_nft: reconcile failed\n");
	dt = bench_now_ns() - t0;
	snprintf(extra, sizeof(extra),
		 "\"entries\": %zu, \"repaired\": %llu, \"max_rss_mib\": %ld",
		 ipw_snapshot_count(snap), (unsigned long long)rep, rss_mib());
	bench_report("nft", "reconcile_same", 1, ipw_snapshot_count(snap), dt,
		     extra);
	fprintf(stderr, "  reconcile_same: %.2f s, %llu repaired\n", dt / 1e9,
		(unsigned long long)rep);
	be.ops->close(be.b);
	ipwd_nft_remove("ipwbench");

	o.table = "ipwbench2";
	if (ipwd_nft_new(&be, &o) != 0)
		return 1;
	{
		struct ipw_snapshot *empty;
		struct ipw_table *t2;

		ipw_table_new(&t2, NULL);
		ipw_table_snapshot(t2, &empty);
		be.ops->reconcile(be.b, empty, IPW_MODE_DENYLIST, &rep);
		ipw_snapshot_free(empty);
		ipw_table_free(t2);
	}
	t0 = bench_now_ns();
	{
		int fails = 0;

		for (i = 0; i < ipw_snapshot_count(snap); i++) {
			struct ipw_entry_key k;

			if (i % 1000 == 0)
				be.ops->begin(be.b);
			ipw_snapshot_key(snap, i, &k);
			be.ops->put(be.b, k.list, &k.target, k.expires);
			if (i % 1000 == 999 ||
			    i + 1 == ipw_snapshot_count(snap))
				fails += be.ops->commit(be.b) != 0;
		}
		dt = bench_now_ns() - t0;
		elements(&be, els, sizeof(els));
		snprintf(extra, sizeof(extra),
			 "\"group\": 1000, \"failed_groups\": %d, "
			 "\"sets\": \"%s\"",
			 fails, els);
	}
	bench_report("nft", "put_groups", 1, ipw_snapshot_count(snap), dt,
		     extra);
	fprintf(stderr, "  put_groups: %.2f s (%s)\n", dt / 1e9, els);

	/* Fewer prefix puts and deletes: at 1M entries each costs the
	 * kernel's rebuild of an interval set (6.18) or libnftables' dump
	 * of all of them. */
	lag(&be, "lag_put_addr", 1000, put_addr, now);
	lag(&be, "lag_put_prefix", 200, put_prefix, now);
	lag(&be, "lag_del_addr", 50, del_addr, now);

	be.ops->close(be.b);
	ipwd_nft_remove("ipwbench2");
	ipw_snapshot_free(snap);
	ipw_table_free(t);
	return 0;
}
