/* SPDX-License-Identifier: MIT */
/*
 * ipwalld's audit log: one JSON line for every op the write path applies
 * (bans, unbans, allows, disallows, mode switches, and the ops nobody asked
 * for: expiries and evictions), to a file, to standard output, or to the
 * systemd journal. The durable store records the same ipwd_oprec in its
 * history, so the log and the store's history agree.
 *
 * Line format (docs/api.md, "Audit log")
 * --------------------------------------
 * One compact JSON object per line, made by yajl's generator, keys in
 * this order:
 *
 *   ts       ISO 8601 UTC with seconds ("2026-11-26T15:00:00Z"), from the
 *            op's time
 *   op       the op id (a UUIDv7)
 *   seq      the sequence of the op's group in this node's op log (null
 *            for an op recorded before sequences, schema version 1)
 *   node     the origin node
 *   actor    "token:NAME", "unix:USER", "purger", a rule name, ...
 *   action   ban, unban, allow, disallow, mode, expire, evict
 *   result   added, extended, unchanged, removed, absent; mode ops
 *            changed or unchanged
 *   list     bans or allows (not in mode ops)
 *   target   the address or prefix (not in mode ops)
 *   mode     denylist or allowlist, the mode asked for (mode ops only)
 *   reason   } of the entry after the op when there is one, else of the
 *   score    } entry before it; null when there is neither (a disallow
 *   ttl      } of nothing, a mode op). ttl is the seconds left at ts (0
 *   expires  } once expired), null for a permanent entry; expires is Unix
 *            seconds, null for a permanent entry
 *   before   the entry before the op, or null
 *   after    the entry after the op, or null
 *   recovered  true, only on a line written after the fact: at a start,
 *            for an op a crash kept out of the log, or when the log fell
 *            behind the op log; from the store's op log, or for an op it
 *            no longer holds, from the history (for an op recorded by a
 *            version-1 store, before and after then hold what that
 *            history kept: target, list, expires, expires_at, score,
 *            reason)
 *
 * An entry object (before, after, and the store's history) has the keys
 * target, list, expires (Unix seconds or null), expires_at (ISO 8601 or
 * null), created (Unix seconds), score, auto (true for an automatic ban),
 * reason, actor, source (each null when empty). Hits are not part of it:
 * they change with every check, not with ops.
 *
 * Text that is empty or missing (NULL) is null. Strings are UTF-8; each
 * byte that is not part of a well-formed UTF-8 sequence (a reason taken
 * from a log line, say) is written as U+FFFD, so every line is valid JSON.
 *
 * Thread-safety: every function but ipwd_audit_close() may be called from
 * any thread at any time; lines are built without a lock, then written
 * under one mutex, so the lines of concurrent writers never interleave and
 * the records of one ipwd_audit_write() call stay together and in order.
 */
#ifndef IPWALL_DAEMON_AUDIT_H
#define IPWALL_DAEMON_AUDIT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <ipwall/table.h>

#include "oplog/op.h"

struct ipwd_audit;

/*
 * ipwd_audit_open() - open the audit log.
 * @dest: where lines go:
 *        "" or "none"      nowhere (the other functions do nothing)
 *        "-" or "stdout"   standard output (not closed by _close)
 *        "journal"         the systemd journal, one entry per op, through
 *                          sd_journal_sendv() with the fields MESSAGE (the
 *                          JSON line), IPWALL_OP_ID, IPWALL_ACTION,
 *                          IPWALL_TARGET (not for mode ops), PRIORITY=6,
 *                          SYSLOG_IDENTIFIER=ipwalld-audit. Fails when no
 *                          journald socket (/run/systemd/journal/socket)
 *                          exists.
 *        anything else     a file path, opened
 *                          O_WRONLY|O_APPEND|O_CREAT|O_CLOEXEC, mode 0640
 *                          (less the umask). If the file ends in the start
 *                          of one of our lines (an ipwalld killed in the
 *                          middle of a write), that tail is cut, with a
 *                          warning on the log, so the next line is whole;
 *                          a file ending otherwise is left alone. The same
 *                          on ipwd_audit_reopen().
 * @err: room for an error message (a sentence naming @dest and the cause)
 * Returns 0 with *@out set, or -1 with errno and @err set. Free with
 * ipwd_audit_close().
 */
int ipwd_audit_open(struct ipwd_audit **out, const char *dest, char *err,
		    size_t errlen);

/*
 * ipwd_audit_write() - log @n records (a group of ops committed together).
 * For a file or stdout the @n lines (each ending in '\n') go out in one
 * write(2) (retried only after a short write or EINTR), so a group costs
 * one system call and, with O_APPEND, lands as one piece; the memory of
 * all @n lines is held meanwhile (about 1 KiB per record with both
 * entries). For the journal, one entry per record.
 * @a may be NULL (nothing to do); @n may be 0.
 * Returns 0, or -1 with errno set (ENOMEM: nothing was written; an I/O
 * error, e.g. ENOSPC: the lines that were written whole stay, and a line
 * written in part is cut off again, for a regular file, so the file
 * always ends with a whole line). The caller counts failures and logs
 * once; the next call tries again.
 */
int ipwd_audit_write(struct ipwd_audit *a, const struct ipwd_oprec *recs,
		     size_t n);

/*
 * ipwd_audit_last_op() - the op id and sequence of the last line of the
 * audit file (the log's position in the op log), so that the lines a
 * crash kept out of it can be written at start. Returns 1 with @id set
 * (*@seq: the line's sequence, 0 for a line without one), 0 when there
 * is none to be had (not a file, an empty file, a last line that is not
 * one of ours), -1 on a read error.
 */
int ipwd_audit_last_op(struct ipwd_audit *a, char *id, size_t idlen,
		       uint64_t *seq);

/* Does @a write anywhere (not NULL, not "none")? */
bool ipwd_audit_enabled(const struct ipwd_audit *a);

/*
 * ipwd_audit_reopen() - reopen the file at its path (on SIGHUP, after
 * logrotate moved it): lines written after this returns go to the file
 * now at the path, created if needed. No-op (0) for stdout, the journal,
 * none and NULL. On failure the old file stays open and in use.
 * Takes the lock: call it from the event loop that saw the signal, not
 * from a signal handler. Returns 0 or -1 with errno set.
 */
int ipwd_audit_reopen(struct ipwd_audit *a);

/* ipwd_audit_close() - close and free; NULL is a no-op. No concurrent
 * calls on @a. */
void ipwd_audit_close(struct ipwd_audit *a);

/*
 * ipwd_audit_line() - the JSON line of @r (no trailing newline).
 * Returns a malloc'd string the caller frees, or NULL (errno ENOMEM).
 * Pure; any thread.
 */
char *ipwd_audit_line(const struct ipwd_oprec *r);

/*
 * ipwd_audit_entry_json() - the JSON object of entry @e, as in "before"
 * and "after" (compact, keys in the order above). Returns a malloc'd
 * string the caller frees, or NULL (errno ENOMEM; EINVAL for a NULL @e).
 * Pure; any thread.
 */
char *ipwd_audit_entry_json(const struct ipw_entry_info *e);

#endif /* IPWALL_DAEMON_AUDIT_H */
