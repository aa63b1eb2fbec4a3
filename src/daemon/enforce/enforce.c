/* SPDX-License-Identifier: MIT */
/*
 * Kernel enforcement (see enforce.h): the backends and their one
 * subscriber.
 *
 * Threads. apply() and resync() run on the subscriber's thread, one at a
 * time: they are the only callers of a backend's begin/put/del/mode/
 * commit/reconcile. ipwd_enforce_tick() runs on the main loop and only
 * asks the op log for a resync (ipwd_ops_request_resync()), with the
 * reason in an atomic that resync() reads. metrics(), drops() and top()
 * run on HTTP workers and touch only what a backend allows beside a
 * writer (its counters, a walk of its map).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <ipwall/errcode.h>

#include "base/log.h"
#include "base/text.h"
#include "build_features.h"
#include "enforce/backend.h"
#include "enforce/enforce.h"
#include "oplog/op.h"

#if IPWD_WITH_BPF
#include "enforce/bpf_backend.h"
#endif
#if IPWD_NFT_BACKEND
#include "enforce/nft.h"
#endif

#define MAX_BACKENDS 2

/* Why a reconcile runs: the labels of ipwall_enforce_repaired_total. */
enum reason { R_START, R_PERIODIC, R_CLOCK, R_CATCH_UP, R_COUNT };
static const char *const reason_name[R_COUNT] = {"start", "periodic", "clock",
						 "catch_up"};

struct ipwd_enforce {
	struct ipwd_backend be[MAX_BACKENDS];
	size_t nbe;
	// cppcheck-suppress unusedStructMember ; used with IPWD_WITH_BPF
	void *bpf; /* the BPF backend's handle, for drops; NULL if off */
	struct ipwd_ops *ops;
	struct ipw_table *table;
	unsigned interval; /* seconds between reconciles, 0 = never */
	bool loaded;	   /* the first reconcile is done */
	int reason;	   /* enum reason of the next resync */
	int64_t offset_ns; /* CLOCK_REALTIME - CLOCK_BOOTTIME, last seen */
	int64_t last_ns;   /* CLOCK_MONOTONIC of the last request */
	/* Counters (the subscriber's thread writes, workers read). */
	uint64_t reconciles[MAX_BACKENDS][R_COUNT];
	uint64_t repaired[MAX_BACKENDS][R_COUNT];
	uint64_t failures[MAX_BACKENDS];
};

static int64_t clock_ns(clockid_t id)
{
	struct timespec ts;

	clock_gettime(id, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static int64_t wall_boot_offset(void)
{
	return clock_ns(CLOCK_REALTIME) - clock_ns(CLOCK_BOOTTIME);
}

static void count(uint64_t *c, uint64_t n)
{
	__atomic_add_fetch(c, n, __ATOMIC_RELAXED);
}

/* One group to one backend: 0 or its first error. */
static int apply_one(const struct ipwd_backend *be, const struct ipwd_group *g)
{
	const struct ipwd_backend_ops *ops = be->ops;
	size_t i;
	int rc = ops->begin(be->b), rc2;

	for (i = 0; i < g->n && rc == 0; i++) {
		const struct ipwd_oprec *r = &g->recs[i];

		if (r->action == IPWD_ACT_MODE) {
			if (r->change == IPW_CHANGE_MODE)
				rc = ops->mode(be->b, r->mode);
		} else if (r->after) {
			rc = (r->change == IPW_CHANGE_ADDED && ops->put_new ?
				      ops->put_new :
				      ops->put)(be->b, r->after->list,
						&r->after->target,
						r->after->expires);
		} else if (r->change == IPW_CHANGE_REMOVED) {
			rc = ops->del(be->b, r->list, &r->target);
		}
	}
	rc2 = ops->commit(be->b); /* always ends the group */
	return rc ? rc : rc2;
}

static int apply(void *ctx, const struct ipwd_group *g)
{
	struct ipwd_enforce *e = ctx;
	size_t i;
	int rc = 0;

	for (i = 0; i < e->nbe; i++) {
		int r = apply_one(&e->be[i], g);

		if (r) {
			count(&e->failures[i], 1);
			log_error("enforce: %s: applying sequence %llu failed "
				  "(%s): catching up from the table",
				  e->be[i].ops->name,
				  (unsigned long long)g->seq, ipw_strerror(r));
			rc = r;
		}
	}
	return rc;
}

static int resync(void *ctx, struct ipw_snapshot *snap, uint64_t from,
		  uint64_t seq)
{
	struct ipwd_enforce *e = ctx;
	enum ipw_mode mode = ipw_table_mode(e->table);
	int why = __atomic_exchange_n(&e->reason, R_CATCH_UP, __ATOMIC_ACQ_REL);
	size_t i;
	int rc = 0;

	(void)from;
	if (!__atomic_load_n(&e->loaded, __ATOMIC_ACQUIRE))
		why = R_START;
	for (i = 0; i < e->nbe; i++) {
		uint64_t fixed = 0;
		int64_t t0 = clock_ns(CLOCK_MONOTONIC);
		int r = e->be[i].ops->reconcile(e->be[i].b, snap, mode, &fixed);

		count(&e->reconciles[i][why], 1);
		count(&e->repaired[i][why], fixed);
		if (r) {
			count(&e->failures[i], 1);
			log_error("enforce: %s: reconciling with the table at "
				  "sequence %llu failed: %s",
				  e->be[i].ops->name, (unsigned long long)seq,
				  ipw_strerror(r));
			rc = r;
			continue;
		}
		if (fixed > 0 && why == R_PERIODIC)
			log_warn("enforce: %s had drifted from the table: %llu "
				 "entries repaired at sequence %llu",
				 e->be[i].ops->name, (unsigned long long)fixed,
				 (unsigned long long)seq);
		else if (why == R_START || fixed > 0)
			log_info(
				"enforce: %s holds the table at sequence %llu "
				"(%s reconcile: %llu entries added, changed or "
				"removed, %.1f ms)",
				e->be[i].ops->name, (unsigned long long)seq,
				reason_name[why], (unsigned long long)fixed,
				(double)(clock_ns(CLOCK_MONOTONIC) - t0) / 1e6);
	}
	if (rc == 0)
		__atomic_store_n(&e->loaded, true, __ATOMIC_RELEASE);
	return rc;
}

static uint64_t position(void *ctx, bool *known)
{
	(void)ctx;
	*known = false;
	return 0;
}

static const struct ipwd_subscriber sub = {
	.name = "enforce",
	.position = position,
	.apply = apply,
	.resync = resync,
	.wants_snapshot = true,
	.always_resync = true,
};

int ipwd_enforce_new(struct ipwd_enforce **out, const struct ipwd_config *c)
{
	struct ipwd_enforce *e;
	bool bpf = (c->xdp && strspn(c->xdp, " \t,") != strlen(c->xdp)) ||
		   (c->tc && strspn(c->tc, " \t,") != strlen(c->tc));

	*out = NULL;
	if (!bpf && !c->nftables)
		return 0;
#if !IPWD_WITH_BPF
	if (bpf) {
		log_error("[enforce] xdp, tc: this ipwalld is built without "
			  "the BPF backend (the bpf feature: libbpf, clang, "
			  "bpftool)");
		return -1;
	}
#endif
#if !IPWD_NFT_BACKEND
	if (c->nftables) {
		log_error("[enforce] nftables: this ipwalld is built without "
			  "the nftables backend (libnftables)");
		return -1;
	}
#endif
	e = calloc(1, sizeof(*e));
	if (e == NULL)
		return -1;
	e->interval = c->reconcile_interval;
	e->reason = R_START;
	e->offset_ns = wall_boot_offset();
	e->last_ns = clock_ns(CLOCK_MONOTONIC);
#if IPWD_WITH_BPF
	if (bpf) {
		struct ipwd_bpf_backend_opts o = {
			.pin_dir = c->pin_dir,
			.max_entries = c->max_entries,
			.xdp = c->xdp,
			.xdp_generic = c->xdp_mode == IPWD_XDP_GENERIC,
			.tc = c->tc,
		};

		if (ipwd_bpf_backend_new(&e->be[e->nbe], &o) != 0) {
			ipwd_enforce_free(e);
			return -1;
		}
		e->bpf = e->be[e->nbe].b;
		e->nbe++;
	}
#endif
#if IPWD_NFT_BACKEND
	if (c->nftables) {
		struct ipwd_nft_opts o = {
			.table = c->nft_table,
			.forward = c->nft_forward,
			.max_elements = c->nft_max_elements ?
						c->nft_max_elements :
						c->max_entries,
		};

		if (ipwd_nft_new(&e->be[e->nbe], &o) != 0) {
			ipwd_enforce_free(e);
			return -1;
		}
		e->nbe++;
	}
#endif
	*out = e;
	return 0;
}

int ipwd_enforce_subscribe(struct ipwd_enforce *e, struct ipwd_ops *ops)
{
	e->ops = ops;
	e->table = ipwd_ops_table(ops);
	return ipwd_ops_subscribe(ops, &sub, e);
}

int ipwd_enforce_attach(struct ipwd_enforce *e)
{
	size_t i;

	/* The kernel's tables first: nothing may judge a packet on less
	 * than the whole table. The start-up reconcile runs on the
	 * subscriber's thread. */
	for (i = 0;
	     i < 120000 && !__atomic_load_n(&e->loaded, __ATOMIC_ACQUIRE);
	     i += 10)
		nanosleep(&(struct timespec){0, 10000000}, NULL);
	if (!__atomic_load_n(&e->loaded, __ATOMIC_ACQUIRE) ||
	    ipwd_ops_wait(e->ops, "enforce", ipwd_ops_seq(e->ops), 120000) !=
		    0) {
		log_error("enforce: the kernel did not catch up with the "
			  "table");
		return -1;
	}
	for (i = 0; i < e->nbe; i++)
		if (e->be[i].ops->attach && e->be[i].ops->attach(e->be[i].b))
			return -1;
	return 0;
}

static void request(struct ipwd_enforce *e, enum reason why)
{
	__atomic_store_n(&e->reason, (int)why, __ATOMIC_RELEASE);
	e->last_ns = clock_ns(CLOCK_MONOTONIC);
	ipwd_ops_request_resync(e->ops, "enforce");
}

void ipwd_enforce_tick(struct ipwd_enforce *e)
{
	int64_t off, step;

	if (e == NULL || e->ops == NULL ||
	    !__atomic_load_n(&e->loaded, __ATOMIC_ACQUIRE))
		return;
	off = wall_boot_offset();
	step = off - e->offset_ns;
	if (step > 1000000000 || step < -1000000000) {
		log_warn("enforce: the wall clock stepped by %+.1f s: the "
			 "kernel's expiries are rewritten",
			 (double)step / 1e9);
		e->offset_ns = off;
		request(e, R_CLOCK);
		return;
	}
	if (e->interval && clock_ns(CLOCK_MONOTONIC) - e->last_ns >=
				   (int64_t)e->interval * 1000000000)
		request(e, R_PERIODIC);
}

size_t ipwd_enforce_metrics(void *ctx, char *buf, size_t size)
{
	struct ipwd_enforce *e = ctx;
	size_t n = 0, i;
	int r;

#define PUT(...)                                               \
	do {                                                   \
		if (!ipwd_appendf(buf, size, &n, __VA_ARGS__)) \
			return 0;                              \
	} while (0)
	PUT("# HELP ipwall_enforce_reconciles_total Reconciles of a kernel "
	    "backend with the table, by reason.\n"
	    "# TYPE ipwall_enforce_reconciles_total counter\n");
	for (i = 0; i < e->nbe; i++)
		for (r = 0; r < R_COUNT; r++)
			PUT("ipwall_enforce_reconciles_total{backend=\"%s\","
			    "reason=\"%s\"} %llu\n",
			    e->be[i].ops->name, reason_name[r],
			    (unsigned long long)__atomic_load_n(
				    &e->reconciles[i][r], __ATOMIC_RELAXED));
	PUT("# HELP ipwall_enforce_repaired_total Entries a reconcile had to "
	    "add, change or remove, by reason (periodic: drift repaired).\n"
	    "# TYPE ipwall_enforce_repaired_total counter\n");
	for (i = 0; i < e->nbe; i++)
		for (r = 0; r < R_COUNT; r++)
			PUT("ipwall_enforce_repaired_total{backend=\"%s\","
			    "reason=\"%s\"} %llu\n",
			    e->be[i].ops->name, reason_name[r],
			    (unsigned long long)__atomic_load_n(
				    &e->repaired[i][r], __ATOMIC_RELAXED));
	PUT("# HELP ipwall_enforce_failures_total Applies and reconciles of "
	    "a kernel backend that failed.\n"
	    "# TYPE ipwall_enforce_failures_total counter\n");
	for (i = 0; i < e->nbe; i++)
		PUT("ipwall_enforce_failures_total{backend=\"%s\"} %llu\n",
		    e->be[i].ops->name,
		    (unsigned long long)__atomic_load_n(&e->failures[i],
							__ATOMIC_RELAXED));
#undef PUT
	for (i = 0; i < e->nbe; i++) {
		size_t m = e->be[i].ops->metrics(e->be[i].b, buf + n, size - n);

		if (m == 0)
			return 0;
		n += m;
	}
	return n;
}

uint64_t ipwd_enforce_drops(void *ctx, const struct ipw_addr *target)
{
	uint64_t d = 0;

#if IPWD_WITH_BPF
	struct ipwd_enforce *e = ctx;

	if (e->bpf && ipwd_bpf_backend_drops(e->bpf, target, &d) != 0)
		d = 0;
#else
	(void)ctx;
	(void)target;
#endif
	return d;
}

size_t ipwd_enforce_top(void *ctx, size_t k, struct ipw_addr *targets,
			uint64_t *drops)
{
#if IPWD_WITH_BPF
	struct ipwd_enforce *e = ctx;
	struct ipwd_drop_row *rows;
	size_t n, i;

	if (e->bpf == NULL || k == 0)
		return 0;
	rows = calloc(k, sizeof(*rows));
	if (rows == NULL)
		return 0;
	n = ipwd_bpf_backend_top(e->bpf, k, rows);
	for (i = 0; i < n; i++) {
		targets[i] = rows[i].target;
		drops[i] = rows[i].drops;
	}
	free(rows);
	return n;
#else
	(void)ctx;
	(void)k;
	(void)targets;
	(void)drops;
	return 0;
#endif
}

void ipwd_enforce_free(struct ipwd_enforce *e)
{
	size_t i;

	if (e == NULL)
		return;
	for (i = 0; i < e->nbe; i++)
		e->be[i].ops->close(e->be[i].b);
	free(e);
}

int ipwd_enforce_detach(const struct ipwd_config *c)
{
	int rc = 0;

#if IPWD_WITH_BPF
	if (ipwd_bpf_backend_remove(c->pin_dir) != 0)
		rc = -1;
#endif
#if IPWD_NFT_BACKEND
	if (ipwd_nft_remove(c->nft_table) != 0)
		rc = -1;
#endif
	(void)c;
	return rc;
}
