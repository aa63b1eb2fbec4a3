/* SPDX-License-Identifier: MIT */
/*
 * The auto-ban engine: failure events in, ban decisions out.
 *
 * Pure computation. The engine does no I/O, takes no locks, reads no clock
 * (every call is given now_ms, monotonic milliseconds) and allocates nothing
 * after ipwd_ab_new(): its whole state is one block of budget_bytes. The
 * caller (the daemon) turns the decisions it returns into ban ops, and
 * answers two questions through callbacks: is this target exempt (allowed,
 * the node's own address), and how often was it banned before.
 *
 * How it counts, what a tracked source costs and what the breaker does are
 * in docs/autoban.md and in the design note of engine.c.
 */
#ifndef IPWALL_DAEMON_AUTOBAN_ENGINE_H
#define IPWALL_DAEMON_AUTOBAN_ENGINE_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <ipwall/addr.h>
#include <ipwall/errcode.h>

/* Limits of a rule set (each exceeded one is a precise error at _new). */
#define IPWD_AB_RULES_MAX     32 /* rules per engine */
#define IPWD_AB_TYPES_MAX     64 /* distinct event types over all rules */
#define IPWD_AB_NAME_MAX      32 /* rule and type names, with the NUL */
#define IPWD_AB_THRESHOLD_MAX 64 /* N of "N events within W" */
#define IPWD_AB_AGG_MAX	      32 /* distinct offenders for a prefix ban */
/* Longest window: 24 days keeps two windows inside 32-bit milliseconds. */
#define IPWD_AB_WINDOW_MAX_MS (24ull * 86400 * 1000)
/* Decisions one event can produce: an address (or breaker prefix) and an
 * aggregate per rule. A decision array of this size never drops one. */
#define IPWD_AB_DECISIONS_MAX (2 * IPWD_AB_RULES_MAX)
/* The type id to pass for a type name ipwd_ab_type_id() did not know, so
 * that the engine counts the event as of an unknown type. */
#define IPWD_AB_TYPE_NONE 0xffffffffu

struct ipwd_ab_rule {
	/* [a-z0-9_.-], 1..31 characters, unique; copied at _new. */
	const char *name;
	/* Event type names the rule counts ([a-z0-9_.-], 1..31 characters);
	 * at least one. Copied at _new. */
	const char *const *types;
	size_t ntypes;
	/* Fire on the threshold-th event whose threshold events all lie
	 * within window_ms (the oldest strictly less than window_ms old).
	 * 1..IPWD_AB_THRESHOLD_MAX; 1..IPWD_AB_WINDOW_MAX_MS. */
	unsigned threshold;
	uint64_t window_ms;
	/* Ban duration of a first offence, seconds, >= 1. A target banned
	 * p times before gets ban_s * escalate^p, at most ban_max_s (0: no
	 * cap but UINT32_MAX). escalate >= 1 (1: no escalation). */
	uint32_t ban_s;
	double escalate;
	uint32_t ban_max_s;
	/*
	 * Aggregation, 0 = off, else 2..IPWD_AB_AGG_MAX. An offender is a
	 * source this rule decided on. When agg_v4 distinct IPv4 offenders
	 * inside one /24 were decided within agg_window_ms, the /24 is
	 * decided too; when agg_v6 distinct IPv6 offenders (each a /64: IPv6
	 * sources are always counted per /64) inside one /48 were, the /48
	 * is. agg_window_ms 0 means ban_s seconds.
	 */
	unsigned agg_v4;
	unsigned agg_v6;
	uint64_t agg_window_ms;
	/* Decide as usual, but mark every decision dry_run: the caller logs
	 * and counts it and bans nothing. */
	bool dry_run;
};

struct ipwd_ab_opts {
	const struct ipwd_ab_rule *rules; /* 1..IPWD_AB_RULES_MAX, copied */
	size_t nrules;
	/* The engine's whole state, allocated once at _new and never grown
	 * (ipwd_ab_memory() reports it). At least IPWD_AB_BUDGET_MIN. */
	size_t budget_bytes;
	/* Circuit breaker: trip when more new sources than this arrive in
	 * one second (0: never). Recover after breaker_calm_ms (0: 10 s) of
	 * whole seconds with at most half as many. */
	uint32_t breaker_new_sources_per_s;
	uint32_t breaker_calm_ms;
	/*
	 * Called on the engine thread with a source address before it is
	 * counted, and with a prefix target before it is decided: true means
	 * never ban it (allowlisted, the node's own addresses, or for a
	 * prefix, containing one of them). NULL: nothing is exempt but the
	 * engine's own (loopback, unspecified). Must not block.
	 */
	bool (*exempt)(void *ctx, const struct ipw_addr *target);
	/* Called on the engine thread when a target is decided: how many
	 * times it was banned before (for escalation). NULL: never. */
	unsigned (*past_bans)(void *ctx, const struct ipw_addr *target);
	void *ctx;
	/* Hash key; {0, 0} draws a random one (tests pass a fixed one). */
	uint64_t hash_key[2];
};

#define IPWD_AB_BUDGET_MIN (64u * 1024)

enum ipwd_ab_scope {
	IPWD_AB_SCOPE_SOURCE = 0, /* the address (IPv4) or its /64 (IPv6) */
	IPWD_AB_SCOPE_AGGREGATE,  /* /24 or /48 of agg_v4/agg_v6 offenders */
	IPWD_AB_SCOPE_BREAKER,	  /* /24 or /48 counted while breaker open */
};

struct ipwd_ab_decision {
	struct ipw_addr target; /* an IPv4 address, or a /24, /64 or /48 */
	uint32_t ttl_s;		/* escalated and capped ban duration */
	unsigned past;		/* earlier bans of target (past_bans()) */
	const char *rule;	/* rule name; valid until ipwd_ab_free() */
	unsigned rule_idx;	/* its index in opts.rules */
	/* Events (SOURCE, BREAKER) or distinct offenders (AGGREGATE) that
	 * fired, and the rule's window they were counted in. */
	unsigned count;
	uint64_t window_ms;
	/* Intensity: count per minute over the span from the first to the
	 * last counted event (count * 60000 / max(span_ms, 1)). */
	uint32_t score;
	enum ipwd_ab_scope scope;
	bool aggregated; /* scope != SOURCE: target is a wider prefix */
	bool dry_run;
};

/* Counters for /metrics. Written by the engine thread only, with relaxed
 * atomic stores: another thread may read each one at any time (relaxed),
 * and sees a value that was true a moment ago; two counters read one after
 * the other are not a consistent snapshot. */
struct ipwd_ab_stats {
	uint64_t events;	    /* every ipwd_ab_event() call */
	uint64_t events_unknown;    /* of a type no rule counts */
	uint64_t events_invalid;    /* not a single IPv4/IPv6 address */
	uint64_t exempt;	    /* skipped: exempt source or target */
	uint64_t decisions;	    /* returned, dry-run ones included */
	uint64_t decisions_dry_run; /* of which dry-run */
	uint64_t decisions_dropped; /* not returned: the array was full */
	uint64_t tracked_inserts;   /* keys that took a slot */
	uint64_t tracked_evictions; /* live keys displaced to make room */
	uint64_t sketch_admissions; /* of those, admitted by the sketch */
	uint64_t untracked;	    /* no slot won: counted by sketch only */
	uint64_t new_sources;	    /* events from keys not tracked */
	uint64_t breaker_trips;	    /* closed -> open transitions */
	uint64_t breaker_open;	    /* 1 while open */
	uint64_t shed;		    /* events counted per prefix only */
	uint64_t sketch_rotations;  /* sketch generations retired */
	uint64_t tracked_slots;	    /* capacity (all rules) */
	uint64_t bytes;		    /* == ipwd_ab_memory() */
};

struct ipwd_ab;

/*
 * ipwd_ab_new() - validate the rules and allocate the engine.
 *
 * Returns 0 and *out, or a precise error: IPW_EAB_RULES (no rule or more
 * than IPWD_AB_RULES_MAX), IPW_EAB_RULE_NAME, IPW_EAB_NO_TYPES,
 * IPW_EAB_TYPE_NAME, IPW_EAB_THRESHOLD_ZERO, IPW_EAB_THRESHOLD_MAX,
 * IPW_EAB_WINDOW_ZERO, IPW_EAB_WINDOW_MAX, IPW_EAB_FACTOR,
 * IPW_EAB_BAN_DURATION, IPW_EAB_AGG, IPW_EAB_BUDGET, IPW_ENOMEM.
 * @rule_err, if not NULL, is set to the index of the offending rule (or
 * -1 when the error is not about one rule). Nothing of @opts is kept but
 * its callbacks and ctx.
 */
int ipwd_ab_new(struct ipwd_ab **out, const struct ipwd_ab_opts *opts,
		int *rule_err);

/* ipwd_ab_free() - release everything; NULL is a no-op. */
void ipwd_ab_free(struct ipwd_ab *ab);

/*
 * ipwd_ab_type_id() - the small id of an event type name, for
 * ipwd_ab_event(). Returns the id (>= 0) or IPW_EAB_TYPE_UNKNOWN when no
 * rule counts that type (pass IPWD_AB_TYPE_NONE then, so it is counted).
 * Any thread (the table is read-only after _new).
 */
int ipwd_ab_type_id(const struct ipwd_ab *ab, const char *name);

/*
 * ipwd_ab_event() - count one failure event of @src at @now_ms.
 * @src:     one IPv4 or IPv6 address (not a shorter prefix)
 * @type_id: from ipwd_ab_type_id(), or IPWD_AB_TYPE_NONE
 * @now_ms:  monotonic milliseconds, never decreasing between calls
 * @out:     room for @cap decisions (IPWD_AB_DECISIONS_MAX never drops)
 *
 * Returns the number of decisions written to @out (0 .. @cap), or
 * IPW_EINVAL for an @src that is not a single address (counted). When a
 * source fires, its count starts again from zero: one burst, one decision.
 * A source decision may be followed by the aggregate decision it
 * completed. Decisions beyond @cap are counted as dropped.
 *
 * Thread-safety: one thread at a time (the engine thread). The callbacks
 * run on it, inside this call.
 */
int ipwd_ab_event(struct ipwd_ab *ab, const struct ipw_addr *src,
		  unsigned type_id, uint64_t now_ms,
		  struct ipwd_ab_decision *out, size_t cap);

/*
 * ipwd_ab_prefetch() - a hint that an event of @src and @type_id comes
 * soon: starts loading the memory its ipwd_ab_event() will touch, and
 * changes nothing. A caller holding a queue of events calls it a few events
 * ahead (bench_autoban uses 8) so that their cache misses overlap. Engine
 * thread (it reads the sketch generation ipwd_ab_event() switches).
 */
void ipwd_ab_prefetch(const struct ipwd_ab *ab, const struct ipw_addr *src,
		      unsigned type_id);

/* ipwd_ab_stats() - the counters (see struct ipwd_ab_stats). Any thread. */
void ipwd_ab_stats(const struct ipwd_ab *ab, struct ipwd_ab_stats *out);

/* ipwd_ab_breaker_open() - true while the circuit breaker is open. Any
 * thread (relaxed). */
bool ipwd_ab_breaker_open(const struct ipwd_ab *ab);

/* ipwd_ab_memory() - bytes the engine holds: exactly opts.budget_bytes,
 * from _new to _free. Any thread. */
size_t ipwd_ab_memory(const struct ipwd_ab *ab);

/* ipwd_ab_slot_bytes() - memory per tracked source of a rule with this
 * threshold (for docs and the bench). */
size_t ipwd_ab_slot_bytes(unsigned threshold);

#endif /* IPWALL_DAEMON_AUTOBAN_ENGINE_H */
