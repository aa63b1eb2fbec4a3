/* SPDX-License-Identifier: MIT */
/*
 * One kernel backend behind one small interface: the XDP and TC programs
 * of bpf/ (enforce/bpf_backend.c) and nftables sets (enforce/nft.c)
 * implement it; enforce/enforce.c owns them, subscribes once to the op
 * log and drives each backend the same way:
 *
 *   - per committed group, in commit order: begin(), then per record put()
 *     (a ban or allow that left an entry; put_new() when the entry is new
 *     and the backend has one), del() (a removal: unban,
 *     disallow, expire, evict) or mode() (a mode switch), then commit().
 *     A backend may apply each call at once (the BPF maps) or gather the
 *     group and apply it at commit() as one transaction (nftables). A
 *     failure of any call (the group is still ended with commit()) marks
 *     the subscriber for a catch-up: reconcile() from a snapshot.
 *   - reconcile(): make the backend hold exactly the live entries of @snap
 *     and @mode, by difference (never by clearing: what is right stays in
 *     force during the whole call), and count in *@repaired the entries
 *     it had to add, change or remove. Run at start, after a failure, and
 *     every [enforce] reconcile_interval to repair drift (someone ran
 *     `nft flush set`, bpftool map delete, ...).
 *   - retime(): the wall clock stepped by @step_s seconds: the entries'
 *     kernel-side expiries, if kept on another clock, are rewritten from
 *     @snap (the BPF maps keep CLOCK_BOOTTIME; nftables keeps relative
 *     timeouts). May be NULL: reconcile() is called instead, which must
 *     then count an expiry that moved as an entry to change.
 *   - attach() (may be NULL): start judging packets, once the first
 *     reconcile() filled the kernel's tables (the BPF programs are
 *     attached, or their pinned links given the new program; nftables
 *     creates its rules with its sets in reconcile's transaction).
 *
 * Expiries are the table's: wall-clock seconds, 0 = permanent; an entry
 * whose expiry is at or before now is never handed to put() by
 * reconcile(), but apply may hand one (a ban made already expired); it
 * must never match.
 *
 * Calls of one backend come from one thread at a time (the subscriber's,
 * or the reconcile timer holding the same lock); metrics() may run beside
 * them from any thread. Errors: 0 or a negative IPW_E*; the backend logs
 * the detail.
 */
#ifndef IPWALL_DAEMON_ENFORCE_BACKEND_H
#define IPWALL_DAEMON_ENFORCE_BACKEND_H

#include <stddef.h>
#include <stdint.h>

#include <ipwall/addr.h>
#include <ipwall/table.h>

struct ipwd_backend_ops {
	const char *name; /* "xdp", "tc", "nftables": in logs and metrics */
	int (*begin)(void *b);
	int (*put)(void *b, enum ipw_list list, const struct ipw_addr *target,
		   int64_t expires);
	int (*del)(void *b, enum ipw_list list, const struct ipw_addr *target);
	int (*mode)(void *b, enum ipw_mode mode);
	int (*commit)(void *b);
	int (*reconcile)(void *b, struct ipw_snapshot *snap, enum ipw_mode mode,
			 uint64_t *repaired);
	int (*retime)(void *b, struct ipw_snapshot *snap, int64_t step_s);
	/* Prometheus text of the backend's own series (counters, sizes,
	 * overflow) into @buf; the length written, 0 on failure. */
	size_t (*metrics)(void *b, char *buf, size_t size);
	/* Release user-space resources; what is in the kernel stays (a
	 * stop keeps enforcing). */
	void (*close)(void *b);
	int (*attach)(void *b);
	/* (may be NULL: put() instead) A put of an entry the table did not
	 * have before this op (IPW_CHANGE_ADDED): the backend may gather a
	 * run of them into one bulk write (the BPF maps' batch update), as
	 * long as it writes them before the next call of another kind and
	 * at commit(). */
	int (*put_new)(void *b, enum ipw_list list,
		       const struct ipw_addr *target, int64_t expires);
};

struct ipwd_backend {
	const struct ipwd_backend_ops *ops;
	void *b;
};

#endif /* IPWALL_DAEMON_ENFORCE_BACKEND_H */
