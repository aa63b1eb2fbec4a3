/* SPDX-License-Identifier: MIT */
/*
 * The BPF backend (bpf_backend.h): bpf/'s cells program at XDP and TC.
 *
 * Applying an op is one or two bpf() calls (ipw_bpf_put/del), made at
 * once, except a run of new entries (put_new(): a batch of bans), which
 * goes into the maps by the kernel's batch update, 4,096 a call, before
 * the next op of another kind and at commit(). Expiries go into the
 * maps on CLOCK_BOOTTIME, the clock the program can read, converted with
 * the offset between the wall clock and the boot clock at that moment.
 *
 * Reconcile, by difference. The map's entries are read (one walk of the
 * hash), the snapshot's live entries converted to the same keys, both
 * sorted, and merged: an entry only the snapshot has is put, one only
 * the map has is deleted, one whose expiry differs by more than a second
 * is put again (an existing entry keeps its drop count). Everything right
 * stays in force the whole time: nothing is cleared first. Each change is
 * counted in *repaired. At the first reconcile of maps that hold nothing
 * the puts go through the kernel's batch update. A wall-clock step
 * moves every converted expiry by the step, so the same merge rewrites
 * exactly the expiring entries: retime() is not needed.
 *
 * Attaching. XDP through bpf_link (the kernel's link object, not the
 * netlink attachment): the link is pinned as PIN_DIR/link_xdp_IFNAME and
 * outlives the process; at the next start the pinned link is given the
 * new program with bpf_link_update(), atomically, and a link whose
 * interface is gone, or whose attach mode is not the one configured, is
 * replaced by a new one (the only case with a gap: an operator switching
 * native <-> generic, said in the log). A link pinned for an interface no
 * longer configured is detached. An interface with an XDP program that is
 * not ours (another link, or a netlink attachment) is refused, never taken
 * over.
 * TC through the clsact qdisc (made if missing) with a filter at ipwall's
 * handle and priority; a filter there whose program is not ipwall's is
 * refused; ours is replaced in place (BPF_TC_F_REPLACE). A TC filter is
 * held by the qdisc, so it too outlives the process, with no pin.
 */
#include <dirent.h>
#include <stdarg.h>
#include <stddef.h>
#include <errno.h>
#include <linux/if_link.h>
#include <net/if.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include <ipwall/errcode.h>

#include "base/log.h"
#include "enforce/bpf_backend.h"
#include "ipwall_bpf.h"

#define TC_HANDLE   0x1a11 /* "ipwall" in clsact: handle and priority */
#define TC_PRIORITY 0x1a11
#define TC_PROG	    "ipwall_tc_cells" /* the kernel's name of ours */
#define LINK_PREFIX "link_xdp_"

struct iface {
	char name[IF_NAMESIZE];
	unsigned idx;
	bool tc;     /* the TC hook, else XDP */
	int link_fd; /* XDP: our link, -1 none */
	bool attached;
};

struct bb {
	struct ipw_bpf *bpf;
	/* New entries of the current group, written by one batch update
	 * before the next call of another kind and at commit. */
	struct ipw_bpf_entry *pending;
	size_t npending, cap;
	char pin_dir[256];
	struct iface ifs[2 * IPWD_BPF_MAX_IFS];
	size_t nifs;
	bool generic;
};

/* Wall-clock and boot-time "now", read together for one conversion. */
static void clocks(int64_t *wall_ns, uint64_t *boot_ns)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	*wall_ns = (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
	*boot_ns = ipw_bpf_boot_ns();
}

static int bb_nop(void *b)
{
	(void)b;
	return 0;
}

/* Write the gathered new entries: one batch update per 4,096. A single
 * one goes alone (a batch call costs more than a put for one). */
static int flush(struct bb *bb)
{
	size_t n = bb->npending;
	int rc;

	if (n == 0)
		return 0;
	bb->npending = 0;
	if (n == 1)
		return ipw_bpf_put(bb->bpf, bb->pending[0].list,
				   &bb->pending[0].target,
				   bb->pending[0].expires_ns);
	rc = ipw_bpf_put_batch(bb->bpf, bb->pending, n);
	return rc;
}

static int bb_put(void *b, enum ipw_list list, const struct ipw_addr *t,
		  int64_t expires)
{
	struct bb *bb = b;
	int64_t wall;
	uint64_t boot;
	int rc = flush(bb);

	if (rc)
		return rc;
	clocks(&wall, &boot);
	return ipw_bpf_put(bb->bpf, list, t,
			   ipw_bpf_expiry_ns(expires, wall, boot));
}

/* A new entry: gathered for the batch update (ipw_bpf_put_batch() is for
 * entries the maps do not hold, which the table's IPW_CHANGE_ADDED says;
 * one the map held anyway, after drift, only loses its drop count). */
static int bb_put_new(void *b, enum ipw_list list, const struct ipw_addr *t,
		      int64_t expires)
{
	struct bb *bb = b;
	int64_t wall;
	uint64_t boot;

	if (bb->npending == bb->cap) {
		size_t cap = bb->cap ? 2 * bb->cap : 256;
		void *p = realloc(bb->pending, cap * sizeof(*bb->pending));

		if (p == NULL) {
			int rc = flush(bb);

			return rc ? rc : bb_put(b, list, t, expires);
		}
		bb->pending = p;
		bb->cap = cap;
	}
	clocks(&wall, &boot);
	bb->pending[bb->npending].target = *t;
	bb->pending[bb->npending].list = list;
	bb->pending[bb->npending].expires_ns =
		ipw_bpf_expiry_ns(expires, wall, boot);
	bb->npending++;
	return 0;
}

static int bb_del(void *b, enum ipw_list list, const struct ipw_addr *t)
{
	struct bb *bb = b;
	int rc = flush(bb);

	if (rc == 0)
		rc = ipw_bpf_del(bb->bpf, list, t);
	return rc == IPW_ENOENT ? 0 : rc;
}

static int bb_mode(void *b, enum ipw_mode m)
{
	struct bb *bb = b;
	int rc = flush(bb);

	return rc ? rc : ipw_bpf_set_mode(bb->bpf, m);
}

static int bb_commit(void *b)
{
	return flush(b);
}

/* ---- reconcile ---- */

/* An entry as the merge compares it: list, family, length and the bytes
 * of the prefix (host bits zero), then the boot-time expiry. */
struct rk {
	uint8_t list, fam, plen;
	// cppcheck-suppress unusedStructMember ; zeroed, part of the key
	uint8_t pad;
	uint8_t bytes[16];
	uint64_t exp;
};

#define RK_KEY offsetof(struct rk, exp)

struct rks {
	struct rk *v;
	size_t n, cap;
};

/* Room for one more in @a: its slot, or NULL without memory. */
static struct rk *rks_slot(struct rks *a)
{
	if (a->n == a->cap) {
		size_t cap = a->cap ? 2 * a->cap : 1024;
		void *v = realloc(a->v, cap * sizeof(*a->v));

		if (v == NULL)
			return NULL;
		a->v = v;
		a->cap = cap;
	}
	return &a->v[a->n++];
}

static int rks_push(struct rks *a, const struct rk *k)
{
	struct rk *s = rks_slot(a);

	if (s == NULL)
		return IPW_ENOMEM;
	*s = *k;
	return 0;
}

static int rks_add(struct rks *a, enum ipw_list list, const struct ipw_addr *t,
		   uint64_t exp)
{
	struct rk *k = rks_slot(a);
	unsigned i;

	if (k == NULL)
		return IPW_ENOMEM;
	memset(k, 0, sizeof(*k));
	k->list = (uint8_t)list;
	k->fam = (uint8_t)t->family;
	k->plen = t->plen;
	memcpy(k->bytes, t->bytes, t->family == IPW_AF_INET ? 4 : 16);
	for (i = 0; i < 16; i++) {
		int keep = (int)t->plen - 8 * (int)i;

		if (keep <= 0)
			k->bytes[i] = 0;
		else if (keep < 8)
			k->bytes[i] &= (uint8_t)(0xff << (8 - keep));
	}
	k->exp = exp;
	return 0;
}

static int rk_cmp(const void *a, const void *b)
{
	return memcmp(a, b, RK_KEY);
}

static void rk_target(const struct rk *k, struct ipw_addr *t)
{
	memset(t, 0, sizeof(*t));
	t->family = k->fam;
	t->plen = k->plen;
	memcpy(t->bytes, k->bytes, 16);
}

static int collect(void *ctx, enum ipw_list list, const struct ipw_addr *t,
		   uint64_t expires_ns, uint64_t drops)
{
	(void)drops;
	return rks_add(ctx, list, t, expires_ns);
}

/* Do two boot-time expiries differ by more than a second (the table's
 * expiries are whole seconds; one of them permanent is a difference)? */
static bool exp_differs(uint64_t a, uint64_t b)
{
	if (a == 0 || b == 0)
		return a != b;
	return (a > b ? a - b : b - a) > 1000000000ull;
}

static int bb_reconcile(void *b, struct ipw_snapshot *snap, enum ipw_mode mode,
			uint64_t *repaired)
{
	struct bb *bb = b;
	struct rks have = {0}, want = {0}, put = {0};
	struct ipw_entry_key k;
	size_t n = ipw_snapshot_count(snap), i, j, fixed = 0;
	struct ipw_addr t;
	int64_t wall;
	uint64_t boot;
	int rc;

	*repaired = 0;
	rc = ipw_bpf_foreach(bb->bpf, collect, &have);
	clocks(&wall, &boot);
	for (i = 0; rc == 0 && i < n; i++) {
		ipw_snapshot_key(snap, i, &k);
		if (k.expires != 0 && k.expires * 1000000000 <= wall)
			continue; /* expired, not yet purged */
		rc = rks_add(&want, k.list, &k.target,
			     ipw_bpf_expiry_ns(k.expires, wall, boot));
	}
	if (rc)
		goto out;
	if (have.n > 1)
		qsort(have.v, have.n, sizeof(*have.v), rk_cmp);
	if (want.n > 1)
		qsort(want.v, want.n, sizeof(*want.v), rk_cmp);
	/* Merge: puts gathered, deletes made at once (the walk is over). */
	for (i = j = 0; rc == 0 && (i < have.n || j < want.n);) {
		int c = i == have.n ? 1 :
			j == want.n ? -1 :
				      rk_cmp(&have.v[i], &want.v[j]);

		if (c < 0) { /* only in the map */
			rk_target(&have.v[i], &t);
			rc = ipw_bpf_del(bb->bpf, have.v[i].list, &t);
			if (rc == IPW_ENOENT)
				rc = 0;
			fixed++;
			i++;
		} else if (c > 0) { /* only in the table */
			rc = rks_push(&put, &want.v[j]);
			j++;
		} else { /* in both: the expiry may have moved */
			if (exp_differs(have.v[i].exp, want.v[j].exp))
				rc = rks_push(&put, &want.v[j]);
			i++;
			j++;
		}
	}
	if (rc)
		goto out;
	if (have.n == 0 && put.n > 0) {
		/* Maps that hold nothing: the kernel's batch update. */
		struct ipw_bpf_entry *e = calloc(put.n, sizeof(*e));

		if (e == NULL) {
			rc = IPW_ENOMEM;
			goto out;
		}
		for (i = 0; i < put.n; i++) {
			rk_target(&put.v[i], &e[i].target);
			e[i].list = put.v[i].list;
			e[i].expires_ns = put.v[i].exp;
		}
		rc = ipw_bpf_put_batch(bb->bpf, e, put.n);
		free(e);
	} else {
		for (i = 0; rc == 0 && i < put.n; i++) {
			rk_target(&put.v[i], &t);
			rc = ipw_bpf_put(bb->bpf, put.v[i].list, &t,
					 put.v[i].exp);
		}
	}
	fixed += put.n;
	if (rc == 0)
		rc = ipw_bpf_set_mode(bb->bpf, mode);
	*repaired = fixed;
out:
	free(have.v);
	free(want.v);
	free(put.v);
	return rc;
}

/* ---- attaching ---- */

static int link_path(const struct bb *bb, const char *ifname, char *buf,
		     size_t size)
{
	int n = snprintf(buf, size, "%s/" LINK_PREFIX "%s", bb->pin_dir,
			 ifname);

	return n < 0 || (size_t)n >= size ? -1 : 0;
}

/* The attach mode XDP_ATTACHED_* of the program on @idx. */
static int xdp_mode_of(unsigned idx)
{
	LIBBPF_OPTS(bpf_xdp_query_opts, q);

	if (bpf_xdp_query((int)idx, 0, &q) != 0)
		return -1;
	return q.attach_mode;
}

static int xdp_attach(struct bb *bb, struct iface *f)
{
	int prog = ipw_bpf_prog_fd(bb->bpf), fd, rc;
	char path[512];
	const char *how = bb->generic ? "generic" : "native";
	int want = bb->generic ? XDP_ATTACHED_SKB : XDP_ATTACHED_DRV;
	LIBBPF_OPTS(bpf_link_create_opts, lo);

	if (link_path(bb, f->name, path, sizeof(path)) != 0)
		return -1;
	fd = bpf_obj_get(path);
	if (fd >= 0) {
		struct bpf_link_info info;
		__u32 len = sizeof(info);

		memset(&info, 0, sizeof(info));
		if (bpf_obj_get_info_by_fd(fd, &info, &len) == 0 &&
		    info.type == BPF_LINK_TYPE_XDP &&
		    info.xdp.ifindex == f->idx && xdp_mode_of(f->idx) == want &&
		    bpf_link_update(fd, prog, NULL) == 0) {
			f->link_fd = fd;
			f->attached = true;
			log_info("enforce: XDP (%s) on %s: the pinned link now "
				 "runs this process's program (replaced "
				 "without a gap)",
				 how, f->name);
			return 0;
		}
		log_warn("enforce: XDP on %s: the pinned link is stale (its "
			 "interface was recreated, or it runs in the other "
			 "mode): detached and replaced",
			 f->name);
		bpf_link_detach(fd);
		close(fd);
		unlink(path);
	}
	lo.flags = bb->generic ? XDP_FLAGS_SKB_MODE : XDP_FLAGS_DRV_MODE;
	fd = bpf_link_create(prog, (int)f->idx, BPF_XDP, &lo);
	if (fd < 0) {
		rc = fd;
		log_error("enforce: cannot attach XDP (%s) to %s: %s%s", how,
			  f->name, strerror(-rc),
			  rc == -EBUSY || rc == -EEXIST ?
				  " (another XDP program is attached)" :
			  rc == -EOPNOTSUPP && !bb->generic ?
				  " (the driver has no native XDP; [enforce] "
				  "xdp_mode = generic runs it after the "
				  "driver)" :
				  "");
		return -1;
	}
	if (bpf_obj_pin(fd, path) != 0) {
		rc = -errno;
		log_error("enforce: cannot pin the XDP link of %s at %s: %s",
			  f->name, path, strerror(-rc));
		bpf_link_detach(fd);
		close(fd);
		return -1;
	}
	f->link_fd = fd;
	f->attached = true;
	log_info("enforce: XDP (%s) attached to %s (link pinned at %s)", how,
		 f->name, path);
	return 0;
}

/* The name of program @id ("" if unknown). */
static void prog_name(__u32 id, char *name, size_t size)
{
	struct bpf_prog_info info;
	__u32 len = sizeof(info);
	int fd = bpf_prog_get_fd_by_id(id);

	name[0] = '\0';
	if (fd < 0)
		return;
	memset(&info, 0, sizeof(info));
	if (bpf_obj_get_info_by_fd(fd, &info, &len) == 0)
		snprintf(name, size, "%s", info.name);
	close(fd);
}

static int tc_attach(struct bb *bb, struct iface *f)
{
	LIBBPF_OPTS(bpf_tc_hook, hook, .ifindex = (int)f->idx,
		    .attach_point = BPF_TC_INGRESS);
	LIBBPF_OPTS(bpf_tc_opts, q, .handle = TC_HANDLE,
		    .priority = TC_PRIORITY);
	LIBBPF_OPTS(bpf_tc_opts, o, .handle = TC_HANDLE,
		    .priority = TC_PRIORITY,
		    .prog_fd = ipw_bpf_tc_prog_fd(bb->bpf));
	char name[BPF_OBJ_NAME_LEN];
	bool had;
	int rc;

	rc = bpf_tc_hook_create(&hook);
	if (rc != 0 && rc != -EEXIST) {
		log_error("enforce: cannot add the clsact qdisc to %s: %s",
			  f->name, strerror(-rc));
		return -1;
	}
	had = bpf_tc_query(&hook, &q) == 0;
	if (had) {
		prog_name(q.prog_id, name, sizeof(name));
		if (strncmp(name, TC_PROG, sizeof(name) - 1) != 0) {
			log_error("enforce: TC on %s: handle %#x priority %#x "
				  "holds another program (\"%s\"): refused",
				  f->name, TC_HANDLE, TC_PRIORITY, name);
			return -1;
		}
		o.flags = BPF_TC_F_REPLACE;
	}
	rc = bpf_tc_attach(&hook, &o);
	if (rc != 0) {
		log_error("enforce: cannot attach TC to %s: %s", f->name,
			  strerror(-rc));
		return -1;
	}
	f->attached = true;
	log_info("enforce: TC (clsact ingress) %s %s",
		 had ? "replaced on" : "attached to", f->name);
	return 0;
}

/* Unpin (and detach) the XDP links of interfaces not configured. */
static void drop_unconfigured_links(struct bb *bb)
{
	DIR *dir = opendir(bb->pin_dir);
	struct dirent *de;

	if (dir == NULL)
		return;
	while ((de = readdir(dir)) != NULL) {
		const char *ifn;
		char path[512];
		size_t i;
		int fd;

		if (strncmp(de->d_name, LINK_PREFIX, strlen(LINK_PREFIX)) != 0)
			continue;
		ifn = de->d_name + strlen(LINK_PREFIX);
		for (i = 0; i < bb->nifs; i++)
			if (!bb->ifs[i].tc && strcmp(bb->ifs[i].name, ifn) == 0)
				break;
		if (i < bb->nifs)
			continue;
		if (snprintf(path, sizeof(path), "%s/%s", bb->pin_dir,
			     de->d_name) >= (int)sizeof(path))
			continue;
		fd = bpf_obj_get(path);
		if (fd >= 0) {
			bpf_link_detach(fd);
			close(fd);
		}
		unlink(path);
		log_info("enforce: XDP detached from %s (no longer in "
			 "[enforce] xdp)",
			 ifn);
	}
	closedir(dir);
}

/*
 * Detach our TC filter (handle/priority ours, program named TC_PROG) from
 * every interface of this namespace, except those @bb has in [enforce] tc
 * (@bb NULL: from all). A filter is not pinned like an XDP link, so the
 * interfaces are asked one by one: one netlink query each, at start and
 * at --detach only. 0, or -1 if a detach failed.
 */
static int drop_tc_filters(const struct bb *bb)
{
	struct if_nameindex *ifs = if_nameindex(), *it;
	int bad = 0;

	if (ifs == NULL)
		return -1;
	for (it = ifs; it->if_index != 0; it++) {
		LIBBPF_OPTS(bpf_tc_hook, hook, .ifindex = (int)it->if_index,
			    .attach_point = BPF_TC_INGRESS);
		LIBBPF_OPTS(bpf_tc_opts, q, .handle = TC_HANDLE,
			    .priority = TC_PRIORITY);
		char pn[BPF_OBJ_NAME_LEN];
		size_t i = 0;

		if (bb != NULL)
			for (i = 0; i < bb->nifs; i++)
				if (bb->ifs[i].tc &&
				    strcmp(bb->ifs[i].name, it->if_name) == 0)
					break;
		if (bb != NULL && i < bb->nifs)
			continue;
		if (bpf_tc_query(&hook, &q) != 0)
			continue;
		prog_name(q.prog_id, pn, sizeof(pn));
		if (strncmp(pn, TC_PROG, sizeof(pn) - 1) != 0)
			continue; /* not ours: leave it */
		q.prog_id = 0;
		if (bpf_tc_detach(&hook, &q) == 0) {
			log_info("enforce: TC detached from %s%s", it->if_name,
				 bb ? " (no longer in [enforce] tc)" : "");
		} else {
			log_error("enforce: cannot detach TC from %s",
				  it->if_name);
			bad = 1;
		}
	}
	if_freenameindex(ifs);
	return -bad;
}

static int bb_attach(void *b)
{
	struct bb *bb = b;
	size_t i;

	drop_unconfigured_links(bb);
	drop_tc_filters(bb);
	for (i = 0; i < bb->nifs; i++) {
		struct iface *f = &bb->ifs[i];

		if ((f->tc ? tc_attach(bb, f) : xdp_attach(bb, f)) != 0)
			return -1;
	}
	return 0;
}

/* ---- metrics, drops ---- */

static size_t bb_metrics(void *b, char *buf, size_t size)
{
	static const struct {
		int c;
		const char *verdict, *reason, *family;
	} rows[] = {
		{IPW_BPF_PASS_V4, "pass", "judged", "ipv4"},
		{IPW_BPF_PASS_V6, "pass", "judged", "ipv6"},
		{IPW_BPF_PASS_ALLOWED_V4, "pass", "allowed", "ipv4"},
		{IPW_BPF_PASS_ALLOWED_V6, "pass", "allowed", "ipv6"},
		{IPW_BPF_PASS_LINK_V6, "pass", "link", "ipv6"},
		{IPW_BPF_PASS_NOT_IP, "pass", "not_ip", "none"},
		{IPW_BPF_PASS_MALFORMED, "pass", "malformed", "none"},
		{IPW_BPF_DROP_BAN_V4, "drop", "banned", "ipv4"},
		{IPW_BPF_DROP_BAN_V6, "drop", "banned", "ipv6"},
		{IPW_BPF_DROP_NOT_ALLOWED_V4, "drop", "not_allowed", "ipv4"},
		{IPW_BPF_DROP_NOT_ALLOWED_V6, "drop", "not_allowed", "ipv6"},
	};
	static const char *const hooks[IPW_BPF_HOOKS] = {"xdp", "tc"};
	struct bb *bb = b;
	uint64_t c[IPW_BPF_HOOKS][IPW_BPF_COUNTERS];
	size_t n = 0, i, att[IPW_BPF_HOOKS] = {0};
	unsigned h;
	int w;

	for (h = 0; h < IPW_BPF_HOOKS; h++)
		if (ipw_bpf_hook_counters(bb->bpf, h, c[h]) != 0)
			return 0;
	for (i = 0; i < bb->nifs; i++)
		att[bb->ifs[i].tc] += bb->ifs[i].attached;
	w = snprintf(buf, size,
		     "# HELP ipwall_bpf_interfaces Interfaces the BPF program "
		     "is attached to, by hook.\n"
		     "# TYPE ipwall_bpf_interfaces gauge\n"
		     "ipwall_bpf_interfaces{hook=\"xdp\"} %zu\n"
		     "ipwall_bpf_interfaces{hook=\"tc\"} %zu\n"
		     "# HELP ipwall_bpf_packets_total Packets the BPF program "
		     "judged, by hook, verdict, reason and family.\n"
		     "# TYPE ipwall_bpf_packets_total counter\n",
		     att[0], att[1]);
	if (w < 0 || (size_t)w >= size)
		return 0;
	n = (size_t)w;
	for (h = 0; h < IPW_BPF_HOOKS; h++)
		for (i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
			w = snprintf(buf + n, size - n,
				     "ipwall_bpf_packets_total{hook=\"%s\","
				     "verdict=\"%s\",reason=\"%s\","
				     "family=\"%s\"} %llu\n",
				     hooks[h], rows[i].verdict, rows[i].reason,
				     rows[i].family,
				     (unsigned long long)c[h][rows[i].c]);
			if (w < 0 || (size_t)w >= size - n)
				return 0;
			n += (size_t)w;
		}
	return n;
}

int ipwd_bpf_backend_drops(void *b, const struct ipw_addr *target,
			   uint64_t *drops)
{
	return ipw_bpf_drops(((struct bb *)b)->bpf, IPW_LIST_BAN, target,
			     drops);
}

struct top {
	struct ipwd_drop_row *v;
	size_t k, n;
};

static int top_one(void *ctx, enum ipw_list list, const struct ipw_addr *t,
		   uint64_t expires_ns, uint64_t drops)
{
	struct top *tp = ctx;
	size_t i;

	(void)expires_ns;
	if (list != IPW_LIST_BAN || drops == 0)
		return 0;
	if (tp->n == tp->k && tp->v[tp->n - 1].drops >= drops)
		return 0;
	/* Insertion into a sorted array of k: k is small (<= 1000). */
	i = tp->n < tp->k ? tp->n++ : tp->n - 1;
	while (i > 0 && tp->v[i - 1].drops < drops) {
		tp->v[i] = tp->v[i - 1];
		i--;
	}
	tp->v[i].target = *t;
	tp->v[i].drops = drops;
	return 0;
}

size_t ipwd_bpf_backend_top(void *b, size_t k, struct ipwd_drop_row *out)
{
	struct top tp = {.v = out, .k = k};

	if (k == 0)
		return 0;
	if (ipw_bpf_foreach(((struct bb *)b)->bpf, top_one, &tp) != 0)
		return 0;
	return tp.n;
}

static void bb_close(void *b)
{
	struct bb *bb = b;
	size_t i;

	if (bb == NULL)
		return;
	/* Links stay pinned, filters in their qdisc: a stop keeps
	 * enforcing with the maps as they are. */
	for (i = 0; i < bb->nifs; i++)
		if (bb->ifs[i].link_fd >= 0)
			close(bb->ifs[i].link_fd);
	ipw_bpf_free(bb->bpf);
	free(bb->pending);
	free(bb);
}

static const struct ipwd_backend_ops bb_ops = {
	.name = "bpf",
	.begin = bb_nop,
	.put = bb_put,
	.del = bb_del,
	.mode = bb_mode,
	.commit = bb_commit,
	.reconcile = bb_reconcile,
	.retime = NULL,
	.metrics = bb_metrics,
	.close = bb_close,
	.attach = bb_attach,
	.put_new = bb_put_new,
};

/* Add the interfaces of @list (hook @tc) to @bb. 0 or -1 (logged). */
static int parse_ifs(struct bb *bb, const char *list, bool tc)
{
	const char *p = list ? list : "", *key = tc ? "tc" : "xdp";
	size_t i;

	while (*p) {
		struct iface *f;
		size_t len;

		p += strspn(p, " \t,");
		len = strcspn(p, " \t,");
		if (len == 0)
			break;
		if (len >= IF_NAMESIZE) {
			log_error("[enforce] %s: \"%.*s\": not an interface "
				  "name",
				  key, (int)len, p);
			return -1;
		}
		if (bb->nifs == 2 * IPWD_BPF_MAX_IFS) {
			log_error("[enforce] %s: more than %d interfaces", key,
				  IPWD_BPF_MAX_IFS);
			return -1;
		}
		f = &bb->ifs[bb->nifs];
		memcpy(f->name, p, len);
		f->name[len] = '\0';
		f->tc = tc;
		f->link_fd = -1;
		f->idx = if_nametoindex(f->name);
		if (f->idx == 0) {
			log_error("[enforce] %s: no interface \"%s\" here", key,
				  f->name);
			return -1;
		}
		for (i = 0; i < bb->nifs; i++)
			if (bb->ifs[i].idx == f->idx &&
			    bb->ifs[i].tc == f->tc) {
				log_error("[enforce] %s: %s named twice", key,
					  f->name);
				return -1;
			}
		bb->nifs++;
		p += len;
	}
	return 0;
}

/*
 * libbpf's messages into the daemon's log: warnings (a verifier log when
 * a program is refused) as warnings, the rest at debug level. A TC query
 * that finds no filter makes the kernel say "Cannot find specified filter
 * chain", which libbpf repeats as a warning; for ipwalld that is the
 * answer "none yet", not a problem.
 */
static int libbpf_log(enum libbpf_print_level level, const char *fmt,
		      va_list ap) __attribute__((format(printf, 2, 0)));

static int libbpf_log(enum libbpf_print_level level, const char *fmt,
		      va_list ap)
{
	va_list aq;
	char *buf;
	int n;

	va_copy(aq, ap);
	n = vsnprintf(NULL, 0, fmt, aq);
	va_end(aq);
	if (n <= 0 || (buf = malloc((size_t)n + 1)) == NULL)
		return n;
	vsnprintf(buf, (size_t)n + 1, fmt, ap);
	while (n > 0 && buf[n - 1] == '\n')
		buf[--n] = '\0';
	if (strstr(buf, "Cannot find specified filter chain"))
		level = LIBBPF_DEBUG;
	/* Line by line: a verifier log is many, and a log line is short. */
	for (char *l = buf, *e; l && *l; l = e ? e + 1 : NULL) {
		e = strchr(l, '\n');
		if (e)
			*e = '\0';
		ipwd_log(level == LIBBPF_WARN ? IPWD_LOG_WARN : IPWD_LOG_DEBUG,
			 "libbpf: %s", l);
	}
	free(buf);
	return n;
}

int ipwd_bpf_backend_new(struct ipwd_backend *out,
			 const struct ipwd_bpf_backend_opts *o)
{
	struct ipw_bpf_opts bo = {.impl = IPW_BPF_CELLS,
				  .max_entries = o->max_entries,
				  .pin_dir = o->pin_dir};
	struct bb *bb = calloc(1, sizeof(*bb));
	int rc;

	if (bb == NULL)
		return -1;
	if (snprintf(bb->pin_dir, sizeof(bb->pin_dir), "%s", o->pin_dir) >=
	    (int)sizeof(bb->pin_dir)) {
		log_error("[enforce] pin_dir: too long");
		free(bb);
		return -1;
	}
	libbpf_set_print(libbpf_log);
	bb->generic = o->xdp_generic;
	if (parse_ifs(bb, o->xdp, false) != 0 ||
	    parse_ifs(bb, o->tc, true) != 0) {
		free(bb);
		return -1;
	}
	rc = ipw_bpf_open(&bb->bpf, &bo);
	if (rc != 0) {
		log_error("enforce: cannot load the BPF programs on maps "
			  "pinned in %s: %s%s",
			  o->pin_dir, ipw_strerror(rc),
			  rc == IPW_EINVAL ? " (is it on a bpf file system? "
					     "mount -t bpf bpf /sys/fs/bpf)" :
					     "");
		free(bb);
		return -1;
	}
	if (ipw_bpf_reused(bb->bpf))
		log_info("enforce: reusing the maps pinned in %s (%zu "
			 "entries, enforced while ipwalld was down)",
			 o->pin_dir, ipw_bpf_reused(bb->bpf));
	out->ops = &bb_ops;
	out->b = bb;
	return 0;
}

/* ---- removal ---- */

int ipwd_bpf_backend_remove(const char *pin_dir)
{
	DIR *dir;
	struct dirent *de;
	int bad;

	libbpf_set_print(libbpf_log);
	bad = -drop_tc_filters(NULL);
	dir = opendir(pin_dir);
	if (dir == NULL)
		return errno == ENOENT ? -bad : -1;
	while ((de = readdir(dir)) != NULL) {
		char path[512];
		int fd;

		if (de->d_name[0] == '.')
			continue;
		if (snprintf(path, sizeof(path), "%s/%s", pin_dir,
			     de->d_name) >= (int)sizeof(path))
			continue;
		if (strncmp(de->d_name, LINK_PREFIX, strlen(LINK_PREFIX)) ==
		    0) {
			fd = bpf_obj_get(path);
			if (fd >= 0) {
				bpf_link_detach(fd);
				close(fd);
			}
			log_info("enforce: XDP detached from %s",
				 de->d_name + strlen(LINK_PREFIX));
		}
		if (unlink(path) != 0) {
			log_error("enforce: cannot unpin %s: %s", path,
				  strerror(errno));
			bad = 1;
		}
	}
	closedir(dir);
	if (rmdir(pin_dir) != 0) {
		log_error("enforce: cannot remove %s: %s", pin_dir,
			  strerror(errno));
		bad = 1;
	} else {
		log_info("enforce: the maps pinned in %s are gone", pin_dir);
	}
	return -bad;
}
