/* SPDX-License-Identifier: MIT */
/*
 * Kernel enforcement: the XDP program of bpf/ (the cells search) attached
 * to the interfaces of [enforce] xdp, its maps kept in step with the
 * table by a subscriber of the op log.
 *
 * The subscriber applies each committed op in commit order (a ban or
 * allow that left an entry: put with its expiry converted to
 * CLOCK_BOOTTIME; a removal: delete; a mode switch: the mode), and
 * catches up from a snapshot at a sequence by difference, never by
 * clearing: every live entry of the snapshot is put (an existing one
 * keeps its drop count), then every map entry that the table no longer
 * has is deleted. It keeps no position: at each start the maps are
 * loaded from the snapshot before the program is attached, so the first
 * packet it sees is judged on the whole table.
 *
 * This step attaches at start and detaches at stop (no pinning yet: a
 * stopped ipwalld enforces nothing in the kernel). An interface that
 * already has an XDP program is refused, never taken over.
 */
#ifndef IPWALL_DAEMON_ENFORCE_ENFORCE_H
#define IPWALL_DAEMON_ENFORCE_ENFORCE_H

#include "base/config.h"
#include "oplog/ops.h"

struct ipwd_enforce;

/* Open the program and its maps for [enforce] xdp (NULL in *@out when it
 * is empty: nothing to do). Problems are logged. 0 or -1. */
int ipwd_enforce_new(struct ipwd_enforce **out, const struct ipwd_config *c);
/* Subscribe to @ops (before ipwd_ops_load()). */
int ipwd_enforce_subscribe(struct ipwd_enforce *e, struct ipwd_ops *ops);
/* Attach to the interfaces, once the maps hold the table (after
 * ipwd_ops_load(): the subscriber's resync ran). 0 or -1 (logged). */
int ipwd_enforce_attach(struct ipwd_enforce *e);
/* The program's packet counters, summed over CPUs, as Prometheus text
 * in @buf (ipwall_xdp_packets_total{verdict,reason,family}) and
 * ipwall_xdp_interfaces. Returns the length written (0 on failure). Any
 * thread. */
size_t ipwd_enforce_metrics(void *e, char *buf, size_t size);
/* Detach and free. */
void ipwd_enforce_free(struct ipwd_enforce *e);

#endif /* IPWALL_DAEMON_ENFORCE_ENFORCE_H */
