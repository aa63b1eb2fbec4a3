/* SPDX-License-Identifier: MIT */
/*
 * User space side of ipwall's XDP program: load it and keep its maps.
 *
 * Mechanism only: whoever holds a struct ipw_bpf (the daemon's XDP
 * backend, the tests, the benchmark) decides what goes in; this puts and
 * deletes entries (list, target, CLOCK_BOOTTIME expiry), keeps the
 * per-list bitmasks of prefix lengths in use, sets the mode and reads the
 * counters. It loads the programs and pins the maps, but attaches
 * nothing: the daemon's backend (src/daemon/enforce/) does, with links of
 * its own. Map layouts: bpf/ipwall_maps.h.
 *
 * Three implementations of the same verdicts: IPW_BPF_HASH, the
 * enforcement program (a hash per prefix length, walking the lengths in
 * use, bpf/ipwall.bpf.c); IPW_BPF_CELLS, the same hash walking only the
 * lengths present in the address's IPv4 /16 or IPv6 /32 (a second program
 * of the same object, with two more maps to keep); and IPW_BPF_LPM, the
 * LPM-trie reference (bpf/ipwall_lpm.bpf.c). The benchmark measures them
 * against each other and the tests check all three against the table.
 *
 * Errors: 0 or a negative IPW_E* (errno-valued, as libbpf's): IPW_EINVAL
 * for a bad argument, IPW_ENOENT for an absent entry, IPW_ENOSPC when a map
 * is full, IPW_EPERM / -EACCES without the privilege to load BPF, other
 * system errors as the kernel gave them.
 *
 * Concurrency: the program reads the maps while user space writes them; a
 * packet sees each entry before or after a write (ipwall_maps.h says how
 * the length masks are kept safe). The functions of one struct ipw_bpf
 * must not be called concurrently with each other (the caller serialises
 * writers, as the op log does); ipw_bpf_counters() and ipw_bpf_drops() may
 * run beside a writer.
 */
#ifndef IPWALL_BPF_IPWALL_BPF_H
#define IPWALL_BPF_IPWALL_BPF_H

#include <stddef.h>
#include <stdint.h>

#include <ipwall/addr.h>
#include <ipwall/table.h>

#include "ipwall_maps.h"

struct ipw_bpf;

enum ipw_bpf_impl {
	IPW_BPF_HASH = 0,  /* hash per length, global length masks */
	IPW_BPF_LPM = 1,   /* the LPM-trie reference (benchmarks, tests) */
	IPW_BPF_CELLS = 2, /* hash per length, per-/16 and per-/32 masks */
};

struct ipw_bpf_opts {
	enum ipw_bpf_impl impl;
	/* Capacity: entries of both lists and families (IPW_BPF_HASH,
	 * IPW_BPF_CELLS), or entries of each list and family (IPW_BPF_LPM:
	 * four tries). 0 = IPW_BPF_DEFAULT_ENTRIES. Kernel memory is taken
	 * per entry put, not up front. */
	uint32_t max_entries;
	/* IPW_BPF_HASH, IPW_BPF_CELLS: a folder on a bpf file system where
	 * the maps are pinned (made if missing), or NULL for maps that die
	 * with the process. Maps pinned there by an earlier process are
	 * reused, with their entries and counters, when their layout and
	 * capacity match, and replaced otherwise (the program still attached
	 * keeps the old ones until it is replaced); the bookkeeping this
	 * library keeps in memory (lengths in use, cells) is rebuilt from
	 * the reused entries, and the masks in the kernel repaired from it,
	 * since a process killed between an entry and its mask bit may have
	 * left them apart. */
	const char *pin_dir;
};

/* One entry for ipw_bpf_put_batch(). */
struct ipw_bpf_entry {
	struct ipw_addr target;
	enum ipw_list list;
	uint64_t expires_ns; /* CLOCK_BOOTTIME ns; 0 = permanent */
};

/*
 * ipw_bpf_open() - open and load the program and its maps (empty,
 * denylist mode); attach nothing.
 * @opts: NULL for defaults.
 * Returns 0, IPW_EINVAL, IPW_ENOMEM, or the kernel's error (-EPERM without
 * CAP_BPF/CAP_SYS_ADMIN, -EINVAL or -ENOTSUP on a kernel without what the
 * program needs, -E2BIG if the verifier gives up).
 */
int ipw_bpf_open(struct ipw_bpf **out, const struct ipw_bpf_opts *opts);

/* ipw_bpf_reused() - entries found in maps reused from @opts->pin_dir
 * (0 when nothing was pinned). */
size_t ipw_bpf_reused(const struct ipw_bpf *b);

/* ipw_bpf_tc_prog_fd() - the TC (clsact) program of IPW_BPF_CELLS,
 * judging like the XDP one on the same maps; IPW_EINVAL for the others.
 * Owned by @b. */
int ipw_bpf_tc_prog_fd(const struct ipw_bpf *b);

/* ipw_bpf_free() - unload; NULL is a no-op. Pinned maps stay pinned. */
void ipw_bpf_free(struct ipw_bpf *b);

/* The program's file descriptor, for bpf_prog_test_run_opts() now and
 * attaching later. Owned by @b. */
int ipw_bpf_prog_fd(const struct ipw_bpf *b);

/*
 * ipw_bpf_put() - make (@list, @target) an entry expiring at @expires_ns
 * (CLOCK_BOOTTIME; 0 = permanent; at or before now = stored but never
 * matching, like ipw_table_put()). An existing entry gets the new expiry
 * and keeps its drop count (a drop counted between the read and the write
 * of the value may be lost). Host bits past the prefix are ignored; an
 * IPv6 target in ::ffff:0:0/96 of length 96 or more is the IPv4 target it
 * maps (as ipw_addr_from_v6()).
 * Returns 0, IPW_EINVAL (bad list or target), IPW_ENOSPC (full), or a
 * system error.
 */
int ipw_bpf_put(struct ipw_bpf *b, enum ipw_list list,
		const struct ipw_addr *target, uint64_t expires_ns);

/*
 * ipw_bpf_put_batch() - a bulk load: @n entries in order, through the
 * kernel's batch update (thousands per bpf() call) where the map has one.
 * Meant for targets the maps do not hold yet (start-up, a new feed): the
 * batch update cannot tell new from existing, so an entry already there is
 * overwritten with a drop count of 0 and counted again for its length,
 * which may keep that length probed after its last entry is deleted (a
 * little time per packet, never a wrong verdict). Repeats within @e: the
 * last one wins. Use ipw_bpf_put() for changes to a running set.
 * Returns 0, IPW_EINVAL for a bad entry (those before it are in, after it
 * none), IPW_ENOSPC when full (some of the chunk may be in), or a system
 * error.
 */
int ipw_bpf_put_batch(struct ipw_bpf *b, const struct ipw_bpf_entry *e,
		      size_t n);

/* ipw_bpf_del() - remove (@list, @target). Returns 0, IPW_ENOENT, or
 * IPW_EINVAL. */
int ipw_bpf_del(struct ipw_bpf *b, enum ipw_list list,
		const struct ipw_addr *target);

/* ipw_bpf_set_mode() - denylist or allowlist, from the next packet on.
 * Returns 0 or IPW_EINVAL. */
int ipw_bpf_set_mode(struct ipw_bpf *b, enum ipw_mode mode);

/* ipw_bpf_counters() - the packet counters summed over the CPUs and the
 * hooks, indexed by enum ipw_bpf_counter. Returns 0 or a system error. */
int ipw_bpf_counters(struct ipw_bpf *b, uint64_t out[IPW_BPF_COUNTERS]);

/* ipw_bpf_hook_counters() - the same for one hook (IPW_BPF_HOOK_*). */
int ipw_bpf_hook_counters(struct ipw_bpf *b, unsigned hook,
			  uint64_t out[IPW_BPF_COUNTERS]);

/* ipw_bpf_drops() - packets dropped by the ban (@list, @target) (0 for an
 * allow). Returns 0, IPW_ENOENT or IPW_EINVAL. */
int ipw_bpf_drops(struct ipw_bpf *b, enum ipw_list list,
		  const struct ipw_addr *target, uint64_t *drops);

/*
 * ipw_bpf_foreach() - call @cb for every entry in the maps (IPW_BPF_HASH
 * and IPW_BPF_CELLS), with its target as the table writes it, its
 * boot-time expiry and its drop count; a non-zero return stops the walk
 * and is returned. The walk must not change the maps: collect, then
 * delete. Entries put or deleted during a walk may be seen or not. Returns 0, @cb's
 * non-zero, or a negative IPW_E*.
 */
int ipw_bpf_foreach(struct ipw_bpf *b,
		    int (*cb)(void *ctx, enum ipw_list list,
			      const struct ipw_addr *target,
			      uint64_t expires_ns, uint64_t drops),
		    void *ctx);

/* ipw_bpf_boot_ns() - CLOCK_BOOTTIME now, in ns: the program's clock. */
uint64_t ipw_bpf_boot_ns(void);

/*
 * ipw_bpf_expiry_ns() - the program's expiry for a table expiry @expires
 * (wall-clock seconds, 0 = permanent), given the two clocks read at the
 * same moment (wall-clock ns, CLOCK_BOOTTIME ns). An expiry at or before
 * now gives 1, in the past but never 0 (which means permanent). Pure.
 */
uint64_t ipw_bpf_expiry_ns(int64_t expires, int64_t wall_now_ns,
			   uint64_t boot_now_ns);

#endif /* IPWALL_BPF_IPWALL_BPF_H */
