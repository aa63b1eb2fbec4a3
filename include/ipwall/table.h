/* SPDX-License-Identifier: MIT */
/*
 * The ban table: a concurrent set of bans and allows (addresses and CIDR
 * prefixes of both families) with TTLs, a policy mode, and per-entry hit
 * counters.
 *
 * Concurrency contract (liburcu style)
 * ------------------------------------
 * - Readers: ipw_table_check(), ipw_table_check_at() and the batch
 *   variants may be called from
 *   any thread, including threads the library did not create, at any time
 *   between ipw_table_new() and ipw_table_free(), concurrently with writers
 *   and the purger. They never block, never allocate and never write a cache
 *   line that other readers write (see "hits" below). Internally they run in
 *   an RCU read-side critical section of liburcu's "bp" (bulletproof)
 *   flavour, which registers a thread on its first read-side section: that
 *   first call performs one allocation inside liburcu. A thread that must
 *   not allocate even once calls ipw_reader_register() when it starts.
 *   A thread that exits should call ipw_reader_unregister(); liburcu-bp also
 *   reclaims a dead thread's registration lazily.
 *   Ordering: a check that starts after a write function returned sees that
 *   write (the write publishes with release semantics, the reader loads with
 *   acquire semantics); a check concurrent with a write sees the table
 *   either before or after that write, per entry. On failure (IPW_EINVAL)
 *   nothing was read.
 * - Writers: every function that changes the table (add, put, del,
 *   set_mode, purge, clear) may be called from any thread; they serialise
 *   on one mutex inside the table (a single add or delete that finds it
 *   taken first spins reading a flag beside it, about 1.5 us, then
 *   sleeps in it), with one exception: an ipw_table_add() of a single address
 *   that is already live and that changes nothing, or only raises the
 *   score (no later expiry, no automatic ban made manual, no metadata
 *   given with a raise, no allow over the address), completes without
 *   the mutex, inside a read-side section, by one compare-and-swap on the
 *   entry's score. It is still atomic: it acts on one life of the entry
 *   (an entry replaced, restored or removed meanwhile makes it take the
 *   mutex), and a write or check that starts after it returned sees it.
 *   ipw_table_add() and ipw_table_del() may run a read-side lookup of
 *   their target before taking the mutex, to prefetch. Memory a reader
 *   might still hold (an old index array, the handle of a deleted entry)
 *   is reused or freed only after an RCU grace period: once per
 *   max(4096, live/8) deletions and after an index rebuild, a writer takes
 *   that memory out of the table, releases the mutex, waits for one
 *   (urcu_bp_synchronize_rcu(), i.e. for the checks in progress to end),
 *   then takes the mutex again briefly to recycle the handles. Other
 *   writers are not held up by the wait; readers never wait for writers.
 *   As a writer waits for readers, a thread must not call a write function
 *   from inside its own RCU read-side section.
 * - ipw_table_free() must not run concurrently with any other call on the
 *   same table.
 *
 * Time
 * ----
 * Expiry times are wall-clock seconds since the Unix epoch (UTC), int64,
 * 0 meaning permanent, kept as unsigned 32-bit seconds (until 2106). The
 * table reads "now" from opts.clock (default: time()), so tests can move
 * time. An entry whose expiry is at or before now never matches, even
 * before the purger removes it.
 *
 * Hits
 * ----
 * A check that matches an entry counts a hit on it. Counting is sampled
 * (opts.hit_sample, default 1 in 64): a sampled hit adds hit_sample to the
 * entry's counter and sets its last_hit, so checks write a shared cache
 * line once per hit_sample matches on average. hits and last_hit are
 * therefore estimates, good for ranking (ipw_table_top()); set hit_sample
 * to 1 for exact counts at the price of one shared write per match.
 */
#ifndef IPWALL_TABLE_H
#define IPWALL_TABLE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <ipwall/addr.h>
#include <ipwall/errcode.h>

struct ipw_table;

enum ipw_list {
	IPW_LIST_BAN = 0,
	IPW_LIST_ALLOW = 1,
};

enum ipw_mode {
	IPW_MODE_DENYLIST = 0,	/* blocked iff banned and not allowed */
	IPW_MODE_ALLOWLIST = 1, /* admitted iff allowed */
};

/* Entry flags. */
enum ipw_entry_flags {
	/* An automatic ban (from a rule, not a person): refused with
	 * IPW_ETABLE_FULL when the table is full. An automatic entry that
	 * expires is the only kind ever evicted (see ipw_table_add()). */
	IPW_ENTRY_AUTO = 1u << 0,
};

/* What a write did. */
enum ipw_change {
	IPW_CHANGE_ADDED = 1, /* a new entry */
	IPW_CHANGE_EXTENDED =
		2, /* existing entry: later expiry or higher score */
	IPW_CHANGE_UNCHANGED = 3, /* existing entry already covered this */
	IPW_CHANGE_REMOVED = 4,	  /* entry removed */
	IPW_CHANGE_ABSENT = 5,	  /* nothing to remove */
	IPW_CHANGE_MODE = 6,	  /* mode switched */
};

/* Size limits of the metadata strings, including the NUL. Longer input is
 * cut at a UTF-8 character boundary. */
#define IPW_REASON_MAX 256
#define IPW_ACTOR_MAX  64
#define IPW_SOURCE_MAX 64

/* A write request. Strings may be NULL. */
struct ipw_entry_spec {
	struct ipw_addr target;
	enum ipw_list list;
	int64_t expires; /* wall-clock seconds; 0 = permanent */
	uint32_t score;
	unsigned flags; /* IPW_ENTRY_* */
	const char *reason;
	const char *actor;
	const char *source;
};

/* Everything the table knows about one entry (a copy). */
struct ipw_entry_info {
	struct ipw_addr target;
	enum ipw_list list;
	int64_t expires; /* 0 = permanent */
	int64_t created; /* wall-clock seconds */
	uint32_t score;
	unsigned flags;
	uint64_t hits;
	int64_t last_hit; /* 0 = never */
	char reason[IPW_REASON_MAX];
	char actor[IPW_ACTOR_MAX];
	char source[IPW_SOURCE_MAX];
};

/* Why a check decided what it decided. */
enum ipw_verdict_reason {
	IPW_VERDICT_NO_MATCH = 0, /* denylist mode, nothing matched: admitted */
	IPW_VERDICT_BANNED = 1,	  /* a ban matched: blocked */
	IPW_VERDICT_ALLOWED = 2,  /* an allow matched: admitted */
	IPW_VERDICT_NOT_ALLOWED = 3, /* allowlist mode, no allow: blocked */
};

struct ipw_verdict {
	bool blocked;
	uint8_t reason; /* enum ipw_verdict_reason */
	/* The deciding entry (the most specific matching allow or ban); valid
	 * when reason is BANNED or ALLOWED. */
	enum ipw_list list;
	struct ipw_addr entry;
	int64_t expires;
};

/* Called for an entry leaving the table (purged or evicted), with the
 * writer lock held: it must not call back into the table. */
typedef void (*ipw_expire_cb)(const struct ipw_entry_info *e, void *ctx);

struct ipw_table_opts {
	/* Hard cap on entries (bans + allows). 0 = 16,777,216. */
	uint32_t max_entries;
	/* Wall-clock seconds. NULL = time(). Called by
	 * readers: must be fast and thread-safe. */
	int64_t (*clock)(void *ctx);
	void *clock_ctx;
	/* Hash key. All zero = 128 random bits from getrandom(). Fixed keys
	 * are for tests and benchmarks only (HashDoS). */
	uint64_t hash_key[2];
	/* Count 1 hit in hit_sample (a power of two up to 65536), each
	 * sampled one as hit_sample hits. 0 = 64; 1 = every hit exactly. */
	uint32_t hit_sample;
};

/*
 * ipw_table_new() - create an empty table in denylist mode.
 * @opts: NULL for defaults. Copied.
 * Returns 0, IPW_ENOMEM, or IPW_EINVAL.
 */
int ipw_table_new(struct ipw_table **out, const struct ipw_table_opts *opts);

/* ipw_table_free() - destroy; NULL is a no-op. No concurrent calls. */
void ipw_table_free(struct ipw_table *t);

/* Register / unregister the calling thread as a reader (optional; see the
 * concurrency contract). Idempotent. */
void ipw_reader_register(void);
void ipw_reader_unregister(void);

/*
 * ipw_table_check() - the verdict for one address.
 * @ip: a single address (not a shorter prefix)
 * @v:  out: verdict and deciding entry
 * Returns 0, or IPW_EINVAL if @ip is not a single address.
 * Reader: see the concurrency contract.
 */
int ipw_table_check(struct ipw_table *t, const struct ipw_addr *ip,
		    struct ipw_verdict *v);

/* ipw_table_check_at() - the same at a given time (the caller already knows
 * now, e.g. from its event loop). */
int ipw_table_check_at(struct ipw_table *t, const struct ipw_addr *ip,
		       int64_t now, struct ipw_verdict *v);

/*
 * ipw_table_check_batch() - the verdicts for @n addresses at once, for a
 * caller that has several (a burst of packets, a log scan, a batch API
 * request): vs[i] gets exactly what ipw_table_check() of ips[i] would
 * give. The table fetches the memory of later addresses while it checks
 * earlier ones, so in a large table a check costs a fraction of a memory
 * latency instead of one (docs/benchmarks.md). The clock is read once.
 * Returns 0, or IPW_EINVAL (and checks nothing, writes no verdict) if any
 * ips[i] is not a single address.
 * Reader, like ipw_table_check(): each run of up to 256 addresses is one
 * read-side section, so a write may land between two of them; the mode
 * is read once per run.
 */
int ipw_table_check_batch(struct ipw_table *t, const struct ipw_addr *ips,
			  size_t n, struct ipw_verdict *vs);

/* ipw_table_check_batch_at() - the same at a given time. */
int ipw_table_check_batch_at(struct ipw_table *t, const struct ipw_addr *ips,
			     size_t n, int64_t now, struct ipw_verdict *vs);

/*
 * ipw_table_add() - add a ban or an allow, or merge into an existing one.
 * @spec: target, list, expiry, score, flags, metadata (copied)
 * @what: out (may be NULL): ADDED, EXTENDED or UNCHANGED
 * @evicted: out (may be NULL): when the table was full and a manual entry
 *           evicted the oldest automatic expiring entry to make room, a
 *           copy of it (and *evicted_set is set to true).
 *
 * Merging keeps the later expiry (permanent is latest) and the higher score;
 * when the entry changes, each metadata string the spec gives (non-NULL)
 * replaces the stored one, the others stay. A manual add merged into an
 * automatic entry makes it manual. An expired entry not yet purged is
 * replaced (ADDED: new created time, zero hits, the spec's fields).
 * Eviction order is the order automatic expiring entries were added.
 *
 * Returns 0, or:
 *   IPW_EINVAL          bad list, flags, or target (a value ipw_addr_parse()
 *                       could not produce, e.g. host bits set)
 *   IPW_ETABLE_EXPIRED  @spec->expires is not after now
 *   IPW_ERANGE          @spec->expires after 2106-02-07 (expiries are kept
 *                       as unsigned 32-bit seconds)
 *   IPW_ETABLE_COVERED  a ban whose target is wholly covered by an
 *                       unexpired allow (nothing is stored)
 *   IPW_ETABLE_FULL     the cap is reached (automatic ban, or no automatic
 *                       ban left to evict)
 *   IPW_ENOMEM
 * On any error the table is unchanged. Writer.
 */
int ipw_table_add(struct ipw_table *t, const struct ipw_entry_spec *spec,
		  enum ipw_change *what, struct ipw_entry_info *evicted,
		  bool *evicted_set);

/*
 * ipw_table_add_batch() - ipw_table_add() for @n specs in order, under one
 * acquisition of the writer lock and one reading of the clock, fetching the
 * index memory of later specs while earlier ones are added (random inserts
 * into a large table are memory-latency bound; this overlaps them).
 * @rcs, @whats: out (may be NULL): each spec's return code and change.
 * @evict_cb: called (may be NULL), lock held, for each entry evicted to
 *            make room for a manual add (as ipw_table_add()'s @evicted).
 * Returns the number of specs that failed. Other writers wait for the
 * whole batch: the caller picks the batch size. Writer.
 */
int ipw_table_add_batch(struct ipw_table *t, const struct ipw_entry_spec *specs,
			size_t n, int *rcs, enum ipw_change *whats,
			ipw_expire_cb evict_cb, void *ctx);

/*
 * ipw_table_put() - make the entry of (@e->list, @e->target) exactly @e:
 * expires, created, score, flags, hits, last_hit, reason, actor, source
 * (all copied; each string is read up to its array's size less one byte,
 * so it need not be NUL-terminated, and cut like ipw_table_add()'s). An
 * existing entry of that list and target (expired or not) is replaced in
 * place; otherwise one is added. For restoring known state: loading from a
 * store at start-up, or undoing a write. So, unlike ipw_table_add(), no
 * merge (a lower expiry or score is kept as given), no coverage check
 * (IPW_ETABLE_COVERED never), no eviction; an expiry at or before now is
 * accepted (the entry is stored, never matches, and the next purge removes
 * it and reports it as usual). Hit counting goes on from the hits and
 * last_hit given. A concurrent check sees the entry as before or after.
 *
 * Eviction order: an entry that was automatic and expiring before the put
 * and still is keeps its place; one that becomes so goes last, as if just
 * added. An entry made manual or permanent is never evicted.
 *
 * Returns 0, or:
 *   IPW_EINVAL       bad list, flags or target (as ipw_table_add())
 *   IPW_ERANGE       @e->expires negative or after 2106-02-07, @e->created
 *                    or @e->last_hit negative or after 2106-02-07 (all are
 *                    kept as unsigned 32-bit seconds)
 *   IPW_ETABLE_FULL  adding it would pass max_entries (replacing never does)
 *   IPW_ENOMEM
 * On error the table is unchanged. Writer.
 */
int ipw_table_put(struct ipw_table *t, const struct ipw_entry_info *e);

/*
 * ipw_table_put_batch() - ipw_table_put() for @n entries in order, under one
 * acquisition of the writer lock, fetching the index memory of later
 * entries while earlier ones are stored (as ipw_table_add_batch()). For a
 * large load, ipw_table_reserve() first saves the index doublings.
 * @rcs: out (may be NULL): each entry's return code.
 * Returns the number of entries that failed. Other writers wait for the
 * whole batch: the caller picks the batch size (a few thousand). Writer.
 */
int ipw_table_put_batch(struct ipw_table *t, const struct ipw_entry_info *v,
			size_t n, int *rcs);

/*
 * ipw_table_del() - remove a ban or an allow.
 * @what: out (may be NULL): REMOVED or ABSENT (an expired entry not yet
 *        purged is absent; the purger reports it).
 * @removed: out (may be NULL): a copy of the removed entry.
 * Returns 0 or IPW_EINVAL. Writer.
 */
int ipw_table_del(struct ipw_table *t, enum ipw_list list,
		  const struct ipw_addr *target, enum ipw_change *what,
		  struct ipw_entry_info *removed);

/* ipw_table_get() - copy of one entry, expired or not. Returns 0 or
 * IPW_ENOENT. Takes the writer lock briefly. */
int ipw_table_get(struct ipw_table *t, enum ipw_list list,
		  const struct ipw_addr *target, struct ipw_entry_info *out);

/*
 * ipw_table_reserve() - make room for @n more single addresses of @family
 * in @list, so that adding them rebuilds no index (for a bulk load, or a
 * deployment that expects a flood). @n is capped at max_entries. Costs one
 * rebuild now if the index is smaller. Returns 0, IPW_EINVAL or
 * IPW_ENOMEM (the table is unchanged). Writer.
 */
int ipw_table_reserve(struct ipw_table *t, enum ipw_list list,
		      enum ipw_family family, size_t n);

/* Mode. set_mode reports MODE or UNCHANGED. Writer. */
int ipw_table_set_mode(struct ipw_table *t, enum ipw_mode mode,
		       enum ipw_change *what);
enum ipw_mode ipw_table_mode(const struct ipw_table *t);

/*
 * ipw_table_purge() - remove entries whose expiry is at or before now.
 * @max:  at most this many entries (0 = no limit) — the batch size
 * @cb:   called (may be NULL) for each removed entry, with the writer lock
 *        held: it must not call back into the table
 * Returns the number removed. Cost: proportional to what expires (plus a
 * step per elapsed second since the last purge, skipping empty levels).
 * If the wall clock stepped back, every expiring entry is placed again
 * (O(entries), once). Readers are never blocked. Writer.
 */
size_t ipw_table_purge(struct ipw_table *t, size_t max, ipw_expire_cb cb,
		       void *ctx);

/* Remove everything (both lists); mode is kept. Writer. */
void ipw_table_clear(struct ipw_table *t);

struct ipw_table_stats {
	uint64_t entries[2][2];	 /* [list][0 = IPv4, 1 = IPv6], incl. expired */
	uint64_t prefixes[2][2]; /* of which shorter than a single address */
	uint64_t max_entries;
	uint64_t index_bytes; /* the lookup index (what checks touch) */
	uint64_t entry_bytes; /* entry records and metadata */
	/* Index rebuilds with a fresh hash key after an overlong probe run:
	 * 0 in normal operation; more is a sign of a collision attack (or
	 * of a very unlucky key). */
	uint64_t rekeys;
};

void ipw_table_stats(struct ipw_table *t, struct ipw_table_stats *out);

/*
 * Snapshot: a consistent copy of every entry (expired ones included, with
 * their expiry), taken under the writer lock in one pass (a memcpy-speed
 * copy of the entry records; metadata strings are shared by reference, not
 * copied). Iterate with ipw_snapshot_get(); free with ipw_snapshot_free().
 */
struct ipw_snapshot;
int ipw_table_snapshot(struct ipw_table *t, struct ipw_snapshot **out);
size_t ipw_snapshot_count(const struct ipw_snapshot *s);
/* Copy entry @i (0 <= i < count) into @out. */
void ipw_snapshot_get(const struct ipw_snapshot *s, size_t i,
		      struct ipw_entry_info *out);
void ipw_snapshot_free(struct ipw_snapshot *s);

/* What sorting and filtering a listing needs of entry @i, without the
 * metadata copy of ipw_snapshot_get() (which copies ~400 bytes of
 * strings). */
struct ipw_entry_key {
	struct ipw_addr target;
	enum ipw_list list;
	unsigned flags;
	int64_t expires; /* 0 = permanent */
};
void ipw_snapshot_key(const struct ipw_snapshot *s, size_t i,
		      struct ipw_entry_key *out);

/*
 * ipw_table_top() - the @k entries with the most hits, most first, into
 * @out (room for k). Returns how many were written. Reads counters without
 * the writer lock; see "Hits" for their lag.
 */
size_t ipw_table_top(struct ipw_table *t, size_t k, struct ipw_entry_info *out);

const char *ipw_change_name(enum ipw_change c);
const char *ipw_mode_name(enum ipw_mode m);

#endif /* IPWALL_TABLE_H */
