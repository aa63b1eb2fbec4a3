/* SPDX-License-Identifier: MIT */
/*
 * The durable store: SQLite (WAL) in the data directory, the cold tier.
 * Schema version 2 (PRAGMA user_version):
 *
 *   entries   the current bans and allows with full metadata, one row per
 *             (list, target): what the table is rebuilt from at start
 *   ops       the history: one row per op ever applied (id, time, actor,
 *             origin node, action, result, target, its group's sequence,
 *             and the entry as the op left it - expires, score, reason,
 *             flags, source, created, the entry's actor - or as it was
 *             when the op removed it; prev_* the entry before, when there
 *             was one; mode ops: mode and prev_mode), stored in op id
 *             order, which is time order (UUIDv7), and indexed by target
 *             (family + address bytes, so a prefix is a range). The audit
 *             log's line of an op is made from the same record.
 *   oplog     the committed groups, one row per sequence number, each the
 *             codec's bytes of its records (codec.h): what subscribers
 *             that fell behind read back; trimmed once every subscriber
 *             has applied them
 *   origins   each origin node's cursor: its last op id applied here
 *   meta      policy mode, the last committed sequence
 *
 * A version-1 store (before sequences) is migrated when it is opened:
 * the file as it was is copied to PATH.v1-backup first, then the new
 * columns and tables and a sequence for every old op (one per op, in id
 * order) go in, in one transaction. A newer version is refused.
 *
 * The op log (ops.c) commits through ipwd_store_sqlite below: one
 * transaction per group of ops (the oplog row, the history rows, the
 * entries, the origins' cursors, the sequence), so one fsync covers every
 * op of the group (group commit). Durability per [store] sync:
 *   full   synchronous=FULL: the commit returns after the WAL is fsynced;
 *          an acknowledged op survives a crash of the process, the OS or
 *          the power
 *   batch  synchronous=NORMAL: the WAL is written at commit, fsynced at
 *          checkpoints; survives a crash of the process, may lose the last
 *          acknowledged ops on an OS crash or power loss (never corrupts)
 *   off    synchronous=OFF: no fsync at all; survives a crash of the
 *          process; an OS crash or power loss may lose ops or corrupt the
 *          database
 *
 * Not thread-safe, but for the readers that say so: one thread (the op
 * log's committer, or start-up) writes through a store at a time; the
 * op log reads and ipwd_store_ops_after() / _seq_of() go through a
 * read-only connection of their own, one at a time, from any thread.
 */
#ifndef IPWALL_DAEMON_STORE_H
#define IPWALL_DAEMON_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <ipwall/table.h>

#include "oplog/op.h"
#include "oplog/ops.h"

enum ipwd_sync {
	IPWD_SYNC_FULL = 0,
	IPWD_SYNC_BATCH = 1,
	IPWD_SYNC_OFF = 2,
};

struct ipwd_store;

/*
 * ipwd_store_open() - open @path, creating it (and its schema) if it does
 * not exist. A file that is not a SQLite database, fails SQLite's
 * quick_check (corrupt or truncated), or has a schema this ipwalld does
 * not know is refused, and so is one this process cannot write (a
 * read-only file, a directory where it may not make the -wal file): -1
 * with a one-line message naming @path and a hint in @err, and the file
 * is left as it is.
 */
int ipwd_store_open(struct ipwd_store **out, const char *path,
		    enum ipwd_sync sync, char *err, size_t errlen);
void ipwd_store_close(struct ipwd_store *s);

/*
 * ipwd_store_load() - every stored entry, handed to @cb in batches (in
 * key order), expired ones included (the caller records their expiry).
 * *mode: the stored mode, or -1 if none was ever stored. Returns 0, or
 * -1 with @err (the database could not be read) or @cb's non-zero.
 */
int ipwd_store_load(struct ipwd_store *s,
		    int (*cb)(void *ctx, const struct ipw_entry_info *v,
			      size_t n),
		    void *ctx, int *mode, char *err, size_t errlen);

/*
 * ipwd_store_ops_after() - every op in the history after op @after_id, in
 * op order, as records rebuilt from their rows (recovered = true; the
 * entries hold target, list, expires, score and reason), each handed to
 * @cb (valid during the call only). For the audit lines a crash kept out
 * of the log. Any thread (the read-only connection). Returns 0, @cb's
 * non-zero, or a negative IPW_E*.
 */
int ipwd_store_ops_after(struct ipwd_store *s, const char *after_id,
			 int (*cb)(void *ctx, const struct ipwd_oprec *r),
			 void *ctx);

/* The sequence of op @id in the history: >= 0, IPW_ENOENT (not there,
 * or recorded before sequences), IPW_EINVAL (not an op id). Any thread
 * (the read-only connection). */
int64_t ipwd_store_seq_of(struct ipwd_store *s, const char *id);

/*
 * ipwd_store_last_ops() - for each target of each list, and for the
 * mode, the last ban/unban/allow/disallow (mode) op of the history: its
 * list (-1 for the mode), target, id and whether it left the target
 * present (a ban or an allow), to @cb. Cluster mode's arbiter learns its
 * stamps from it at start. One pass over the history (grouped). Any
 * thread (the read-only connection). 0, @cb's non-zero, or IPW_E*.
 */
int ipwd_store_last_ops(struct ipwd_store *s,
			int (*cb)(void *ctx, int list,
				  const struct ipw_addr *target,
				  const uint8_t id[16], bool present),
			void *ctx);

/* How many entries are stored, by [list][0 IPv4, 1 IPv6] (addresses and
 * prefixes), so the table can be sized before a load. 0 or -1. */
int ipwd_store_count_entries(struct ipwd_store *s, int64_t n[2][2]);

/* A transaction around a group of records. Each returns 0 or a negative
 * IPW_E* (IPW_ENOSPC: disk full; IPW_EIO: anything else). After a failed
 * record or commit, call ipwd_store_rollback(). */
int ipwd_store_begin(struct ipwd_store *s);
int ipwd_store_record(struct ipwd_store *s, const struct ipwd_oprec *r);
int ipwd_store_commit(struct ipwd_store *s);
void ipwd_store_rollback(struct ipwd_store *s);

/* Delete up to @limit of the oldest ops made before @before (Unix
 * seconds), inside a transaction (begin ... commit). Returns how many, or
 * a negative IPW_E*. */
int64_t ipwd_store_prune(struct ipwd_store *s, int64_t before, int limit);

/* SQLite's message for the last failed begin, record or commit (kept
 * across the rollback that follows it). */
const char *ipwd_store_errmsg(struct ipwd_store *s);

/* Cap the database at its current size plus @extra pages (SQLite's
 * max_page_count, this connection only): writes past it fail exactly as
 * on a full file system. For tests. Returns 0 or -1. */
int ipwd_store_limit_pages(struct ipwd_store *s, int extra);

/* The store as the op log uses it (ops.h): a struct ipwd_store * is its
 * first argument. Commits, trims and reads go to the op log's journal
 * (journal.h, STORE-oplog); the load reads the store's entries and
 * state, and the journal's sequence and cursors. */
extern const struct ipwd_store_iface ipwd_store_sqlite;

/*
 * ipwd_store_subscribe() - the store's index (entries, history, origins,
 * meta) as a subscriber of @o named "store", which writes the committed
 * groups behind the journal (before ipwd_ops_load()). 0 or IPW_ENOMEM.
 * Its thread and the functions below take turns on the store's
 * connection; the begin/record/commit calls above are for a store
 * without a subscriber (tests, benchmarks).
 */
int ipwd_store_subscribe(struct ipwd_store *s, struct ipwd_ops *o);

/* The page cache of the store's connection (the index's): at most @bytes
 * (ipwd_store_open() sets 64 MiB). 0 or IPW_EIO. */
int ipwd_store_set_cache(struct ipwd_store *s, uint64_t bytes);

/* Give back the page cache of the store's connection while the index is
 * idle (it fills again as the next ops need pages): the bytes freed, or
 * IPW_EAGAIN when the index holds the connection. */
int64_t ipwd_store_release_memory(struct ipwd_store *s);

/* History retention, in a transaction of its own: delete up to @max of
 * the oldest ops made before @before. How many; IPW_EAGAIN when the
 * index holds the connection (try again later); a negative IPW_E*. */
int64_t ipwd_store_prune_history(struct ipwd_store *s, int64_t before,
				 size_t max);

/* Number of ops in the history (for tests and stats). */
int64_t ipwd_store_op_count(struct ipwd_store *s);

/*
 * The background check. ipwd_store_open() does not read the whole file
 * (SQLite's quick_check is O(file): 4 s at 1M bans, 40 s at 10M); the
 * start reads meta and every entry strictly, and this runs quick_check
 * over everything else (the history and its index) on a read-only
 * connection of its own, in a thread at the lowest CPU priority, while
 * ipwalld serves. Its outcome is logged and shown on /healthz.
 */
enum ipwd_check_state {
	IPWD_CHECK_RUNNING = 0,
	IPWD_CHECK_OK = 1,
	IPWD_CHECK_DAMAGED = 2, /* the message says where, with the hint */
	IPWD_CHECK_FAILED = 3,	/* could not check (the message says why) */
};

struct ipwd_store_check;

/* Start checking @path; NULL if the thread or connection cannot start. */
struct ipwd_store_check *ipwd_store_check_start(const char *path);
/* Where it stands; *msg: the message once it is done (any thread). */
enum ipwd_check_state ipwd_store_check_state(struct ipwd_store_check *c,
					     const char **msg);
/* Interrupt it if it still runs, and free. */
void ipwd_store_check_stop(struct ipwd_store_check *c);

#endif /* IPWALL_DAEMON_STORE_H */
