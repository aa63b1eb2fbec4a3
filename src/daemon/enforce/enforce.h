/* SPDX-License-Identifier: MIT */
/*
 * Kernel enforcement: the backends of [enforce] (enforce/backend.h: the
 * BPF programs at XDP and TC, nftables sets), driven by one subscriber of
 * the op log.
 *
 * The subscriber hands each committed group to every backend, in commit
 * order (begin, put/del/mode per record, commit), and catches up from a
 * snapshot at a sequence by difference (reconcile), never by clearing.
 * It keeps no position: at each start every backend is reconciled with
 * the table before it is attached, so the first packet it judges is
 * judged on the whole table; and what the kernel held from the last run
 * stays in force until then (pinned maps and links, nftables tables
 * outlive ipwalld: a stop or a crash leaves no window).
 *
 * Drift: every [enforce] reconcile_interval the subscriber is made to
 * reconcile again (through the op log, so it is serialised with apply),
 * counting in /metrics and the log what it had to repair. A wall-clock
 * step (the offset between CLOCK_REALTIME and CLOCK_BOOTTIME moving by
 * more than a second) triggers the same at the next tick: the BPF maps
 * keep expiries on the boot clock, nftables as timeouts, and both move.
 */
#ifndef IPWALL_DAEMON_ENFORCE_ENFORCE_H
#define IPWALL_DAEMON_ENFORCE_ENFORCE_H

#include "base/config.h"
#include "oplog/ops.h"

struct ipwd_enforce;

/* The backends [enforce] asks for (NULL in *@out when none: nothing to
 * do). Problems are logged. 0 or -1. */
int ipwd_enforce_new(struct ipwd_enforce **out, const struct ipwd_config *c);
/* Subscribe to @ops (before ipwd_ops_load()). */
int ipwd_enforce_subscribe(struct ipwd_enforce *e, struct ipwd_ops *ops);
/* Attach, once the first reconcile filled the kernel's tables (after
 * ipwd_ops_load(): the subscriber's resync ran). 0 or -1 (logged). */
int ipwd_enforce_attach(struct ipwd_enforce *e);
/* From the main loop, about once a second: the periodic reconcile and
 * the wall-clock watch. */
void ipwd_enforce_tick(struct ipwd_enforce *e);
/* Every backend's series and the subscriber's own, as Prometheus text
 * into @buf; the length written. Any thread. */
size_t ipwd_enforce_metrics(void *e, char *buf, size_t size);
/* Packets the kernel dropped for ban @target (0 without the BPF
 * backend). Any thread. */
uint64_t ipwd_enforce_drops(void *e, const struct ipw_addr *target);
/* The bans with the most drops, most first: up to @k into @targets and
 * @drops; how many. Any thread. */
size_t ipwd_enforce_top(void *e, size_t k, struct ipw_addr *targets,
			uint64_t *drops);
/* Free what user space holds; the kernel keeps enforcing. */
void ipwd_enforce_free(struct ipwd_enforce *e);

/* `ipwalld --detach`: take away everything [enforce] of @c put in the
 * kernel (links, filters, pinned maps, the nftables table). 0, or -1
 * when something could not be removed (logged). */
int ipwd_enforce_detach(const struct ipwd_config *c);

#endif /* IPWALL_DAEMON_ENFORCE_ENFORCE_H */
