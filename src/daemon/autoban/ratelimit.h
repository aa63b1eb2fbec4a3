/* SPDX-License-Identifier: MIT */
/*
 * Per-address rate limits for the check path (GET /v1/check): GCRA (the
 * generic cell rate algorithm: a rate per second and a burst), lock-free
 * and allocation-free, for many HTTP worker threads at once.
 *
 * Keys are addresses truncated to plen_v4 / plen_v6 bits (one address, or
 * one prefix: an IPv6 client is usually limited per /64). State is a fixed
 * array of slots, bounded at _new; when every slot of a key's bucket holds
 * an active key, the key is admitted untracked and counted (see
 * ipwd_rl_check()). Time is passed in (monotonic nanoseconds).
 */
#ifndef IPWALL_DAEMON_AUTOBAN_RATELIMIT_H
#define IPWALL_DAEMON_AUTOBAN_RATELIMIT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <ipwall/addr.h>
#include <ipwall/errcode.h>

struct ipwd_rl_opts {
	/* Sustained rate, requests per second (> 0, finite), and how many
	 * may arrive at once after a quiet period (>= 1). */
	double rate_per_s;
	uint32_t burst;
	/* Memory for the slots: 24 bytes each, in buckets of 8 (192 bytes).
	 * At least one bucket. */
	size_t budget_bytes;
	/* Key prefix lengths: 0 means 32 (IPv4) and 64 (IPv6). */
	unsigned plen_v4, plen_v6;
	/* A key limited without a pause of more than a second for at least
	 * this many seconds is reported as sustained (0: never). */
	uint32_t sustain_s;
	/* Hash key; {0, 0} draws a random one. */
	uint64_t hash_key[2];
};

struct ipwd_rl_result {
	bool limited;		 /* over the limit: answer 429 */
	bool sustained;		 /* limited for sustain_s or longer */
	bool untracked;		 /* admitted because no slot was free */
	uint32_t retry_after_ms; /* when limited: until one is allowed */
};

/* Counters. Updated with relaxed atomic adds from the checking threads,
 * striped over cache lines; ipwd_rl_stats() sums the stripes (relaxed:
 * each is a recent value, the set is not a snapshot). */
struct ipwd_rl_stats {
	uint64_t limited;   /* checks answered limited */
	uint64_t sustained; /* of which sustained */
	uint64_t untracked; /* admitted untracked (bucket full) */
	uint64_t claims;    /* keys given a slot */
	uint64_t slots;	    /* capacity */
	uint64_t bytes;	    /* == ipwd_rl_memory() */
};

struct ipwd_rl;

/*
 * ipwd_rl_new() - allocate the limiter.
 * Returns 0, IPW_EAB_RATE (rate not > 0 or not finite, burst 0),
 * IPW_EAB_BUDGET (less than one bucket), IPW_EADDR_PREFIX_RANGE (a prefix
 * length above 32 or 128), IPW_EIO (no randomness) or IPW_ENOMEM.
 */
int ipwd_rl_new(struct ipwd_rl **out, const struct ipwd_rl_opts *opts);

/* ipwd_rl_free() - release; NULL is a no-op. No check may be running. */
void ipwd_rl_free(struct ipwd_rl *rl);

/*
 * ipwd_rl_check() - count one request of @addr at @now_ns.
 * @addr:   an IPv4 or IPv6 address (a prefix is keyed by its first
 *          plen_v4/plen_v6 bits like an address)
 * @now_ns: monotonic nanoseconds; threads may pass slightly different
 *          values, each one read before the call
 * @res:    the answer (may be NULL)
 *
 * Returns true when the request is admitted, false when limited (then
 * res->retry_after_ms is the wait, rounded up, until one would be).
 *
 * Any thread, concurrently, lock-free, no allocation. For one key, over
 * any interval [t0, t1] in which every caller's now_ns lies, at most
 * burst + rate * (t1 - t0) requests are admitted: the state (the
 * theoretical arrival time) moves by compare-and-swap only. Exceptions,
 * both bounded and documented in ratelimit.c: a key admitted untracked
 * (its bucket full of active keys) is not limited at all; and a slot taken
 * over from an idle key at the instant that key returns may charge one
 * request to the new owner.
 */
bool ipwd_rl_check(struct ipwd_rl *rl, const struct ipw_addr *addr,
		   uint64_t now_ns, struct ipwd_rl_result *res);

/* ipwd_rl_stats() - counters; any thread. */
void ipwd_rl_stats(const struct ipwd_rl *rl, struct ipwd_rl_stats *out);

/* ipwd_rl_memory() - bytes held, fixed at _new. Any thread. */
size_t ipwd_rl_memory(const struct ipwd_rl *rl);

#endif /* IPWALL_DAEMON_AUTOBAN_RATELIMIT_H */
