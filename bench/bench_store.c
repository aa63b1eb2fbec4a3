/* SPDX-License-Identifier: MIT */
/*
 * bench_store: the durable store's start-up cost (issue 5: "10M stored
 * bans load in <= 10 s").
 *
 * For each case (1M in random address order, 10M in key order, 10M in
 * random order; BENCH_STORE_MAX caps N, e.g. 1000000 for a quick run) a
 * store is built in a scratch directory through the same calls the
 * store's index makes (ipwd_store_record() of one ban op per target,
 * 100,000 ops per transaction, sync = off, a 1 GiB page cache: building
 * is not what is measured, but its rate is reported). Random order is
 * what a flood leaves; key order is the best case, beside it. The
 * targets are 90% IPv4 and 10% IPv6 addresses, each with a ttl of a day,
 * a reason and an actor, as a flood of automatic bans would leave them.
 * The store is closed and its pages are dropped from the page cache
 * (posix_fadvise DONTNEED on the database file), so the load reads from
 * disk as after a reboot.
 *
 * Then the start-up path of ipwalld is timed, step by step:
 *   open   ipwd_store_open(): the schema check, WAL set-up, the op log's
 *          journal opened beside it (the integrity check runs in the
 *          background after the start)
 *   load   ipwd_ops_load(): every stored entry read and put into the table
 *          with ipw_table_put_batch()
 * and the sum is the number the target is about. (A start through HTTP
 * to a healthy /healthz, cold, is scripts/bench-daemon's restart part.)
 *
 * The scratch directory is BENCH_STORE_DIR, else /var/tmp (a disk, not a
 * tmpfs); it is removed at the end. 10M needs about 2.5 GB of disk; the
 * 10M random build takes minutes.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <ipwall/addr.h>
#include <ipwall/table.h>

#include "oplog/ops.h"
#include "oplog/store.h"
#include "bench.h"

#define TXN 100000

static void drop_cache(const char *path)
{
	int fd = open(path, O_RDONLY);

	if (fd < 0)
		return;
	fdatasync(fd);
	posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED);
	close(fd);
}

/* The k-th target: in random order (a bijection, so all distinct), or
 * in key order (the table's B-trees then grow at their right edge). */
static void target_of(uint64_t k, bool random, struct ipw_addr *a)
{
	uint64_t h = random ? k * 0x9e3779b97f4a7c15ull : k;

	if (k % 10 == 9) {
		uint8_t b[16] = {0x20, 0x01, 0x0d, 0xb8};

		for (int i = 0; i < 8; i++)
			b[15 - i] = (uint8_t)(h >> (8 * i));
		ipw_addr_from_v6(a, b, 128);
	} else if (random) {
		ipw_addr_from_v4(a, (uint32_t)(k * 2654435761u), 32);
	} else {
		ipw_addr_from_v4(a, 0x01000000u + (uint32_t)k, 32);
	}
}

static int build(const char *path, uint64_t n, int64_t now, bool random)
{
	char err[512], id[IPWD_OPID_LEN];
	struct ipwd_store *s;
	struct ipw_entry_info e;
	struct ipwd_oprec r;
	uint64_t t0, k;
	int rc = 0;

	if (ipwd_store_open(&s, path, IPWD_SYNC_OFF, err, sizeof(err)) != 0) {
		fprintf(stderr, "bench_store: %s\n", err);
		return -1;
	}
	/* building is not what is measured: a cache for 10M random */
	ipwd_store_set_cache(s, 1ull << 30);
	memset(&e, 0, sizeof(e));
	e.list = IPW_LIST_BAN;
	e.expires = now + 86400;
	e.created = now;
	e.score = 5;
	e.flags = IPW_ENTRY_AUTO;
	snprintf(e.reason, sizeof(e.reason), "ssh: 5 failures in 10m");
	snprintf(e.actor, sizeof(e.actor), "rule:sshd");
	memset(&r, 0, sizeof(r));
	r.time = now;
	r.actor = "rule:sshd";
	r.node = "bench";
	r.action = IPWD_ACT_BAN;
	r.list = IPW_LIST_BAN;
	r.change = IPW_CHANGE_ADDED;
	r.after = &e;
	r.id = id;
	t0 = bench_now_ns();
	for (k = 0; k < n && rc == 0; k++) {
		if (k % TXN == 0)
			rc = ipwd_store_begin(s);
		/* ids in time order, as the write path makes them: a
		 * UUIDv7-shaped counter */
		snprintf(id, sizeof(id), "%08x-%04x-7000-8000-%012llx",
			 (unsigned)(now >> 16), (unsigned)(now & 0xffff),
			 (unsigned long long)(k & 0xffffffffffffull));
		target_of(k, random, &e.target);
		r.target = e.target;
		if (rc == 0)
			rc = ipwd_store_record(s, &r);
		if (rc == 0 && (k % TXN == TXN - 1 || k == n - 1))
			rc = ipwd_store_commit(s);
	}
	if (rc != 0)
		fprintf(stderr, "bench_store: build: %s\n",
			ipwd_store_errmsg(s));
	else
		bench_report("store",
			     random ? "record_random_sync_off" :
				      "record_in_key_order_sync_off",
			     1, n, bench_now_ns() - t0, NULL);
	ipwd_store_close(s);
	return rc;
}

static int load(const char *path, uint64_t n, bool random)
{
	struct ipw_table_opts opts = {.max_entries = (uint32_t)(n + n / 4)};
	char err[512], extra[160];
	struct ipwd_store *s;
	struct ipwd_ops *o;
	struct ipw_table *t;
	size_t loaded, expired;
	uint64_t t0, t1, t2;

	if (ipw_table_new(&t, &opts) != 0)
		return -1;
	t0 = bench_now_ns();
	if (ipwd_store_open(&s, path, IPWD_SYNC_FULL, err, sizeof(err)) != 0) {
		fprintf(stderr, "bench_store: %s\n", err);
		ipw_table_free(t);
		return -1;
	}
	t1 = bench_now_ns();
	if (ipwd_ops_new(&o, t, "bench", &ipwd_store_sqlite, s) != 0 ||
	    ipwd_ops_load(o, &loaded, &expired, err, sizeof(err)) != 0) {
		fprintf(stderr, "bench_store: load: %s\n", err);
		return -1;
	}
	t2 = bench_now_ns();
	if (loaded != n)
		fprintf(stderr, "bench_store: loaded %zu of %llu\n", loaded,
			(unsigned long long)n);
	snprintf(extra, sizeof(extra),
		 "\"entries\": %llu, \"order\": \"%s\", \"open_s\": %.3f, "
		 "\"load_s\": %.3f",
		 (unsigned long long)n, random ? "random" : "key",
		 (double)(t1 - t0) / 1e9, (double)(t2 - t1) / 1e9);
	bench_report("store",
		     random ? "startup_open_and_load_random" :
			      "startup_open_and_load_key_order",
		     1, n, t2 - t0, extra);
	fprintf(stderr,
		"  %llu entries (%s order): open %.2f s, load %.2f s, "
		"total %.2f s\n",
		(unsigned long long)n, random ? "random" : "key",
		(double)(t1 - t0) / 1e9, (double)(t2 - t1) / 1e9,
		(double)(t2 - t0) / 1e9);
	ipwd_ops_free(o);
	ipwd_store_close(s);
	ipw_table_free(t);
	return loaded == n ? 0 : -1;
}

static void remove_store(const char *path)
{
	static const char *const sides[] = {
		"", "-wal", "-shm", "-oplog", "-oplog-wal", "-oplog-shm"};
	char side[700];

	for (size_t i = 0; i < sizeof(sides) / sizeof(sides[0]); i++) {
		snprintf(side, sizeof(side), "%s%s", path, sides[i]);
		unlink(side);
	}
}

int main(void)
{
	/* 1M and 10M in random order (what a flood leaves), and 10M in key
	 * order beside it (the best case: the B-trees grow at their right
	 * edge, and the load reads their pages in file order) */
	static const struct {
		uint64_t n;
		bool random;
	} cases[] = {{1000000, true}, {10000000, false}, {10000000, true}};
	const char *dir = getenv("BENCH_STORE_DIR");
	const char *max = getenv("BENCH_STORE_MAX");
	uint64_t cap = max ? strtoull(max, NULL, 10) : 10000000;
	char tmpl[512], path[600];
	int64_t now = (int64_t)time(NULL);
	size_t i;
	int rc = 0;

	snprintf(tmpl, sizeof(tmpl), "%s/bench_store.XXXXXX",
		 dir ? dir : "/var/tmp");
	if (mkdtemp(tmpl) == NULL) {
		fprintf(stderr, "bench_store: %s: %s\n", tmpl, strerror(errno));
		return 1;
	}
	bench_header();
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]) && rc == 0; i++) {
		if (cases[i].n > cap)
			continue;
		snprintf(path, sizeof(path), "%s/ipwall-%llu.db", tmpl,
			 (unsigned long long)cases[i].n);
		rc = build(path, cases[i].n, now, cases[i].random);
		drop_cache(path);
		if (rc == 0)
			rc = load(path, cases[i].n, cases[i].random);
		remove_store(path);
	}
	rmdir(tmpl);
	return rc ? 1 : 0;
}
