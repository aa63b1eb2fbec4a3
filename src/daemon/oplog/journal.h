/* SPDX-License-Identifier: MIT */
/*
 * The op log's journal: the file an op is durable in when it is
 * acknowledged. An SQLite database of its own beside the store
 * (STORE-oplog, WAL, [store] sync as the store), written by the op log's
 * committer only:
 *
 *   oplog     one row per committed group, by sequence: the codec's
 *             bytes of its records (codec.h). Appended at the end of the
 *             key space, so a commit writes a few pages whatever the
 *             targets, then trimmed once every subscriber (the store's
 *             index among them) has applied the group
 *   origins   each origin node's cursor, saved with the group that moved
 *             it
 *   meta      the last committed sequence
 *
 * Why a file of its own: the store (store.h) keeps the current entries
 * and the history indexed by target, three B-tree writes per op at
 * random places; in the same file a commit would wait for the index's
 * transactions (SQLite has one writer per file), and the index would be
 * written in the committer's small groups, each dirtying a page per op.
 * Here the committer appends; the store's index is built behind it by a
 * subscriber, in large transactions, and replayed from here after a
 * crash.
 *
 * Not thread-safe but for ipwd_journal_read(), which goes through a
 * read-only connection of its own (one reader at a time, any thread).
 */
#ifndef IPWALL_DAEMON_OPLOG_JOURNAL_H
#define IPWALL_DAEMON_OPLOG_JOURNAL_H

#include <stddef.h>
#include <stdint.h>

#include "oplog/ops.h"

struct ipwd_journal;

/*
 * ipwd_journal_open() - open @path (created with its schema if missing)
 * with SQLite's synchronous setting @sync_pragma ("PRAGMA synchronous=...").
 * A file that is not a journal of this version, or that this process may
 * not write, is refused: -1 with a one-line message naming @path in @err.
 */
int ipwd_journal_open(struct ipwd_journal **out, const char *path,
		      const char *sync_pragma, char *err, size_t errlen);
void ipwd_journal_close(struct ipwd_journal *j);

/* One transaction: group @g's row, the cursors @cur, the sequence. 0, or
 * IPW_ENOSPC / IPW_EIO / IPW_ENOMEM (nothing of it stored). */
int ipwd_journal_commit(struct ipwd_journal *j, const struct ipwd_group *g,
			const struct ipwd_origin *cur, size_t ncur);

/* Delete the groups up to @seq. 0 or a negative IPW_E*. */
int ipwd_journal_trim(struct ipwd_journal *j, uint64_t seq);

/* The last committed sequence (0: none) and every cursor, to @origin.
 * 0, or -1 with @err. */
int ipwd_journal_meta(struct ipwd_journal *j, uint64_t *seq,
		      int (*origin)(void *ctx, const struct ipwd_origin *o),
		      void *ctx, char *err, size_t errlen);

/* The groups in (@from, @to], in order, to @cb (ipwd_store_iface.read's
 * contract). */
int ipwd_journal_read(struct ipwd_journal *j, uint64_t from, uint64_t to,
		      int (*cb)(void *ctx, const struct ipwd_group *g),
		      void *ctx);

/* SQLite's message for the last failed commit. */
const char *ipwd_journal_errmsg(struct ipwd_journal *j);

#endif /* IPWALL_DAEMON_OPLOG_JOURNAL_H */
