/* SPDX-License-Identifier: MIT */
/*
 * The BPF backend: the cells program of bpf/ at XDP (native, or generic
 * when asked) and at TC clsact ingress, on maps pinned under a bpffs
 * folder, behind enforce/backend.h.
 *
 * Nothing of it dies with ipwalld: the maps are pinned, each XDP
 * attachment is a bpf_link pinned beside them (link_xdp_IFNAME), and a
 * TC filter lives in the interface's clsact qdisc. A start reuses the
 * pinned maps (the library rebuilds its bookkeeping from them), the
 * subscriber reconciles them with the table by difference, and only then
 * attach() gives the new program to the pinned links (bpf_link_update:
 * the old program judges every packet until the new one does, no gap)
 * and replaces the TC filter in place (BPF_TC_F_REPLACE, same handle and
 * priority). ipwd_bpf_backend_remove() takes it all away.
 */
#ifndef IPWALL_DAEMON_ENFORCE_BPF_BACKEND_H
#define IPWALL_DAEMON_ENFORCE_BPF_BACKEND_H

#include <stdbool.h>
#include <stdint.h>

#include "enforce/backend.h"

#define IPWD_BPF_MAX_IFS 32

struct ipwd_bpf_backend_opts {
	const char *pin_dir;
	uint32_t max_entries;
	const char *xdp; /* interface names, spaces or commas between */
	bool xdp_generic;
	const char *tc;
};

/* Load the programs on the pinned maps (reused when they fit); attach
 * nothing yet. 0, or -1 (logged). */
int ipwd_bpf_backend_new(struct ipwd_backend *out,
			 const struct ipwd_bpf_backend_opts *o);

/* Packets dropped by the ban (@target) since its entry was put. 0,
 * IPW_ENOENT, IPW_EINVAL. Any thread. */
int ipwd_bpf_backend_drops(void *b, const struct ipw_addr *target,
			   uint64_t *drops);

/* One ban and its drops, for ipwd_bpf_backend_top(). */
struct ipwd_drop_row {
	struct ipw_addr target;
	uint64_t drops;
};

/* The @k bans with the most drops (at least one), most first, into @out;
 * how many. Walks the map: O(entries). Any thread. */
size_t ipwd_bpf_backend_top(void *b, size_t k, struct ipwd_drop_row *out);

/*
 * ipwd_bpf_backend_remove() - `ipwalld --detach`: detach what is pinned
 * or attached under @pin_dir (every pinned XDP link, whatever its
 * interface), ipwall's TC filter on every interface of the namespace
 * (found by handle, priority and program name, so an interface since
 * removed from [enforce] tc is cleaned too), unpin the maps and remove
 * the folder. Logs what it did. 0, or -1 when something could not be
 * removed.
 */
int ipwd_bpf_backend_remove(const char *pin_dir);

#endif /* IPWALL_DAEMON_ENFORCE_BPF_BACKEND_H */
