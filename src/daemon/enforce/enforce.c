/* SPDX-License-Identifier: MIT */
/*
 * Kernel enforcement (see enforce.h).
 */
#include <errno.h>
#include <stdio.h>
#include <linux/if_link.h>
#include <net/if.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include <ipwall/errcode.h>

#include "base/log.h"
#include "enforce/enforce.h"
#include "ipwall_bpf.h"
#include "oplog/op.h"

#define MAX_IFS 32

struct ipwd_enforce {
	struct ipw_bpf *bpf;
	struct ipwd_ops *ops;
	struct ipw_table *table;
	unsigned ifindex[MAX_IFS];
	char ifname[MAX_IFS][IF_NAMESIZE];
	bool attached[MAX_IFS];
	size_t nifs;
	__u32 xdp_flags;
	bool loaded; /* the maps were filled once */
};

/* Wall-clock and boot-time "now", read together for one conversion. */
static void clocks(int64_t *wall_ns, uint64_t *boot_ns)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	*wall_ns = (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
	*boot_ns = ipw_bpf_boot_ns();
}

static int put(struct ipwd_enforce *e, const struct ipw_entry_info *in)
{
	int64_t wall;
	uint64_t boot;

	clocks(&wall, &boot);
	return ipw_bpf_put(e->bpf, in->list, &in->target,
			   ipw_bpf_expiry_ns(in->expires, wall, boot));
}

static int apply(void *ctx, const struct ipwd_group *g)
{
	struct ipwd_enforce *e = ctx;
	size_t i;
	int rc = 0;

	for (i = 0; i < g->n && rc == 0; i++) {
		const struct ipwd_oprec *r = &g->recs[i];

		if (r->action == IPWD_ACT_MODE) {
			if (r->change == IPW_CHANGE_MODE)
				rc = ipw_bpf_set_mode(e->bpf, r->mode);
		} else if (r->after) {
			rc = put(e, r->after);
		} else if (r->change == IPW_CHANGE_REMOVED) {
			rc = ipw_bpf_del(e->bpf, r->list, &r->target);
			if (rc == IPW_ENOENT)
				rc = 0;
		}
	}
	if (rc)
		log_error("enforce: a map update failed (%s): catching up "
			  "from the table",
			  ipw_strerror(rc));
	return rc;
}

/* Entries of the maps the table no longer has, collected during a walk
 * and deleted after it. */
struct stale {
	struct ipwd_enforce *e;
	struct {
		enum ipw_list list;
		struct ipw_addr target;
	} * v;
	size_t n, cap;
};

static int find_stale(void *ctx, enum ipw_list list,
		      const struct ipw_addr *target, uint64_t expires_ns)
{
	struct stale *s = ctx;
	struct ipw_entry_info info;

	(void)expires_ns;
	if (ipw_table_get(s->e->table, list, target, &info) == 0)
		return 0;
	if (s->n == s->cap) {
		size_t cap = s->cap ? 2 * s->cap : 256;
		void *v = realloc(s->v, cap * sizeof(*s->v));

		if (v == NULL)
			return IPW_ENOMEM;
		s->v = v;
		s->cap = cap;
	}
	s->v[s->n].list = list;
	s->v[s->n].target = *target;
	s->n++;
	return 0;
}

/*
 * Catch up: the snapshot's live entries put (in batches the first time,
 * when the maps are empty), then what the table no longer has deleted.
 * The mode is the table's now: a mode op after @seq sets it again.
 */
static int resync(void *ctx, struct ipw_snapshot *snap, uint64_t from,
		  uint64_t seq)
{
	struct ipwd_enforce *e = ctx;
	size_t n = ipw_snapshot_count(snap), i, put_n = 0;
	struct ipw_bpf_entry *batch = NULL;
	struct stale st = {.e = e};
	struct ipw_entry_key k;
	int64_t wall;
	uint64_t boot;
	int rc = 0;

	(void)from;
	clocks(&wall, &boot);
	if (!__atomic_load_n(&e->loaded, __ATOMIC_ACQUIRE)) {
		batch = calloc(n ? n : 1, sizeof(*batch));
		if (batch == NULL)
			return IPW_ENOMEM;
	}
	for (i = 0; i < n && rc == 0; i++) {
		uint64_t exp;

		ipw_snapshot_key(snap, i, &k);
		if (k.expires != 0 && k.expires * 1000000000 <= wall)
			continue; /* expired, not yet purged */
		exp = ipw_bpf_expiry_ns(k.expires, wall, boot);
		if (batch) {
			batch[put_n].target = k.target;
			batch[put_n].list = k.list;
			batch[put_n].expires_ns = exp;
		} else {
			rc = ipw_bpf_put(e->bpf, k.list, &k.target, exp);
		}
		put_n++;
	}
	if (batch) {
		if (rc == 0)
			rc = ipw_bpf_put_batch(e->bpf, batch, put_n);
		free(batch);
	}
	if (rc == 0)
		rc = ipw_bpf_foreach(e->bpf, find_stale, &st);
	for (i = 0; rc == 0 && i < st.n; i++) {
		rc = ipw_bpf_del(e->bpf, st.v[i].list, &st.v[i].target);
		if (rc == IPW_ENOENT)
			rc = 0;
	}
	if (rc == 0)
		rc = ipw_bpf_set_mode(e->bpf, ipw_table_mode(e->table));
	if (rc == 0) {
		log_info("enforce: the maps hold the table at sequence %llu "
			 "(%zu entries put, %zu stale removed)",
			 (unsigned long long)seq, put_n, st.n);
		__atomic_store_n(&e->loaded, true, __ATOMIC_RELEASE);
	} else {
		log_error("enforce: catching up failed: %s", ipw_strerror(rc));
	}
	free(st.v);
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
	/* As many map entries as the table may hold: kernel memory is
	 * taken per entry put, not up front. */
	struct ipw_bpf_opts o = {.impl = IPW_BPF_CELLS,
				 .max_entries = c->max_entries};
	struct ipwd_enforce *e;
	const char *p = c->xdp;
	int rc;

	*out = NULL;
	if (c->xdp == NULL || strspn(c->xdp, " \t") == strlen(c->xdp))
		return 0;
	e = calloc(1, sizeof(*e));
	if (e == NULL)
		return -1;
	while (*p) {
		size_t len;

		p += strspn(p, " \t,");
		len = strcspn(p, " \t,");
		if (len == 0)
			break;
		if (len >= IF_NAMESIZE || e->nifs == MAX_IFS) {
			log_error("[enforce] xdp: \"%.*s\": %s", (int)len, p,
				  len >= IF_NAMESIZE ?
					  "not an interface name" :
					  "more than 32 interfaces");
			free(e);
			return -1;
		}
		memcpy(e->ifname[e->nifs], p, len);
		e->ifname[e->nifs][len] = '\0';
		e->ifindex[e->nifs] = if_nametoindex(e->ifname[e->nifs]);
		if (e->ifindex[e->nifs] == 0) {
			log_error("[enforce] xdp: no interface \"%s\" here",
				  e->ifname[e->nifs]);
			free(e);
			return -1;
		}
		e->nifs++;
		p += len;
	}
	/* No silent fallback: native is native (xdp-tools #108). */
	e->xdp_flags = XDP_FLAGS_UPDATE_IF_NOEXIST |
		       (c->xdp_mode == IPWD_XDP_GENERIC ? XDP_FLAGS_SKB_MODE :
							  XDP_FLAGS_DRV_MODE);
	rc = ipw_bpf_open(&e->bpf, &o);
	if (rc != 0) {
		log_error("enforce: cannot load the XDP program: %s",
			  ipw_strerror(rc));
		free(e);
		return -1;
	}
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
	int fd = ipw_bpf_prog_fd(e->bpf), rc;
	size_t i;

	/* The maps first: the program must not judge a packet on an empty
	 * table. The start-up resync runs on the subscriber's thread. */
	for (i = 0;
	     i < 120000 && !__atomic_load_n(&e->loaded, __ATOMIC_ACQUIRE);
	     i += 10)
		nanosleep(&(struct timespec){0, 10000000}, NULL);
	if (!__atomic_load_n(&e->loaded, __ATOMIC_ACQUIRE) ||
	    ipwd_ops_wait(e->ops, "enforce", ipwd_ops_seq(e->ops), 120000) !=
		    0) {
		log_error("enforce: the maps did not catch up with the table");
		return -1;
	}
	for (i = 0; i < e->nifs; i++) {
		rc = bpf_xdp_attach((int)e->ifindex[i], fd, e->xdp_flags, NULL);
		if (rc != 0) {
			log_error("enforce: cannot attach XDP (%s) to %s: %s%s",
				  e->xdp_flags & XDP_FLAGS_SKB_MODE ?
					  "generic" :
					  "native",
				  e->ifname[i], strerror(-rc),
				  rc == -EBUSY || rc == -EEXIST ?
					  " (another XDP program is attached)" :
				  rc == -EOPNOTSUPP && !(e->xdp_flags &
							 XDP_FLAGS_SKB_MODE) ?
					  " (the driver has no native XDP; "
					  "[enforce] xdp_mode = generic runs "
					  "it after the driver)" :
					  "");
			return -1;
		}
		e->attached[i] = true;
		log_info("enforce: XDP (%s) attached to %s",
			 e->xdp_flags & XDP_FLAGS_SKB_MODE ? "generic" :
							     "native",
			 e->ifname[i]);
	}
	return 0;
}

size_t ipwd_enforce_metrics(void *ctx, char *buf, size_t size)
{
	static const struct {
		int c;
		const char *verdict, *reason, *family;
	} rows[] = {
		{IPW_BPF_PASS_V4, "pass", "judged", "ipv4"},
		{IPW_BPF_PASS_V6, "pass", "judged", "ipv6"},
		{IPW_BPF_PASS_NOT_IP, "pass", "not_ip", "none"},
		{IPW_BPF_PASS_MALFORMED, "pass", "malformed", "none"},
		{IPW_BPF_DROP_BAN_V4, "drop", "banned", "ipv4"},
		{IPW_BPF_DROP_BAN_V6, "drop", "banned", "ipv6"},
		{IPW_BPF_DROP_NOT_ALLOWED_V4, "drop", "not_allowed", "ipv4"},
		{IPW_BPF_DROP_NOT_ALLOWED_V6, "drop", "not_allowed", "ipv6"},
	};
	struct ipwd_enforce *e = ctx;
	uint64_t c[IPW_BPF_COUNTERS];
	size_t n = 0, i, att = 0;
	int w;

	if (ipw_bpf_counters(e->bpf, c) != 0)
		return 0;
	for (i = 0; i < e->nifs; i++)
		att += e->attached[i];
	w = snprintf(buf, size,
		     "# HELP ipwall_xdp_interfaces Interfaces the XDP program "
		     "is attached to.\n"
		     "# TYPE ipwall_xdp_interfaces gauge\n"
		     "ipwall_xdp_interfaces %zu\n"
		     "# HELP ipwall_xdp_packets_total Packets the XDP program "
		     "judged, by verdict, reason and family.\n"
		     "# TYPE ipwall_xdp_packets_total counter\n",
		     att);
	if (w < 0 || (size_t)w >= size)
		return 0;
	n = (size_t)w;
	for (i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		w = snprintf(buf + n, size - n,
			     "ipwall_xdp_packets_total{verdict=\"%s\","
			     "reason=\"%s\",family=\"%s\"} %llu\n",
			     rows[i].verdict, rows[i].reason, rows[i].family,
			     (unsigned long long)c[rows[i].c]);
		if (w < 0 || (size_t)w >= size - n)
			return 0;
		n += (size_t)w;
	}
	return n;
}

void ipwd_enforce_free(struct ipwd_enforce *e)
{
	size_t i;
	__u32 id = 0, ours = 0;
	struct bpf_prog_info info;
	__u32 len = sizeof(info);

	if (e == NULL)
		return;
	memset(&info, 0, sizeof(info));
	if (bpf_obj_get_info_by_fd(ipw_bpf_prog_fd(e->bpf), &info, &len) == 0)
		ours = info.id;
	for (i = 0; i < e->nifs; i++) {
		if (!e->attached[i])
			continue;
		/* Detach only what is still ours. */
		if (bpf_xdp_query_id((int)e->ifindex[i],
				     e->xdp_flags &
					     ~XDP_FLAGS_UPDATE_IF_NOEXIST,
				     &id) == 0 &&
		    id == ours)
			bpf_xdp_detach((int)e->ifindex[i],
				       e->xdp_flags &
					       ~XDP_FLAGS_UPDATE_IF_NOEXIST,
				       NULL);
	}
	ipw_bpf_free(e->bpf);
	free(e);
}
