/* SPDX-License-Identifier: MIT */
/*
 * The op record codec: one applied op (struct ipwd_oprec) as bytes, for
 * the durable op log (the store's oplog table), for catching subscribers
 * up, and for other nodes (the cluster sends ops in this format). The
 * decoder is strict and the encoding canonical, so bytes that decode
 * re-encode to themselves, and a record that encodes decodes to itself:
 * decode(encode(r)) == r, encode(decode(b)) == b.
 *
 * Record, version 1 (every integer a LEB128 varint, minimal length;
 * "svarint" a zigzag-coded signed one; a string a varint length then that
 * many bytes, no NUL among them):
 *
 *   u8       version (1)
 *   u8       flags: 1 before present, 2 after present; other bits 0
 *   u8       action (enum ipwd_action)
 *   u8       result (enum ipw_change, valid for the action)
 *   16 bytes op id (a UUIDv7: version 7, variant 10)
 *   varint   sequence of the op's group at its origin (0: not known)
 *   svarint  time, wall-clock seconds
 *   string   origin node (1..63 bytes)
 *   string   actor (0..95 bytes)
 *   then, for an op with a target (every action but mode):
 *     u8     list (0 bans, 1 allows: the action's list)
 *     u8     family (4 or 6), u8 prefix length, 4 or 16 address bytes
 *            (host bits zero, an IPv4-mapped IPv6 address written as IPv4)
 *   or, for a mode op:
 *     u8     mode asked for, u8 mode before
 *   then the entry before, if flagged, then the entry after, if flagged:
 *     svarint expires (0 permanent), svarint created, varint score
 *     (<= UINT32_MAX), varint flags (IPW_ENTRY_* bits only), varint
 *     hits, svarint last hit, string reason (< IPW_REASON_MAX), string
 *     actor (< IPW_ACTOR_MAX), string source (< IPW_SOURCE_MAX)
 *     (the entry's target and list are the op's)
 *
 * A mode op has neither entry. A group is a varint count followed by that
 * many (varint length, record) pairs.
 *
 * Every function is pure and may be called from any thread.
 */
#ifndef IPWALL_DAEMON_OPLOG_CODEC_H
#define IPWALL_DAEMON_OPLOG_CODEC_H

#include <stddef.h>
#include <stdint.h>

#include "oplog/op.h"

#define IPWD_CODEC_VERSION 1
/* The longest record: both entries with every string at its longest. */
#define IPWD_CODEC_RECORD_MAX 1400

/* A decoded record and the storage its pointers point into. */
struct ipwd_oprec_buf {
	struct ipwd_oprec r;
	char id[IPWD_OPID_LEN];
	char node[IPWD_NODE_MAX];
	char actor[IPWD_ACTOR_MAX];
	struct ipw_entry_info before, after;
};

/* Point @b's record at @b's own storage again, after @b was moved (a
 * realloc of an array of them). */
void ipwd_oprec_buf_rebase(struct ipwd_oprec_buf *b);

/* Why bytes did not decode: a sentence and the byte offset it is about. */
struct ipwd_codec_err {
	const char *why;
	size_t pos;
};

/*
 * ipwd_codec_encode() - @r into @buf (room for @size bytes; a record is
 * at most IPWD_CODEC_RECORD_MAX). Returns the length, or a negative
 * IPW_E*: IPW_EINVAL when @r is not a record the decoder would accept
 * (the same rules: a result the action cannot have, an id that is not a
 * UUIDv7, text too long or holding a NUL...), IPW_EBUFSIZE when @size is
 * too small. @r->recovered is not encoded.
 */
int ipwd_codec_encode(const struct ipwd_oprec *r, uint8_t *buf, size_t size);

/*
 * ipwd_codec_decode() - the record in the @len bytes at @p into @out.
 * Returns 0, or -1 with @err set (@err may be NULL). All of @len is the
 * record: a byte left over is an error.
 */
int ipwd_codec_decode(const uint8_t *p, size_t len, struct ipwd_oprec_buf *out,
		      struct ipwd_codec_err *err);

/*
 * ipwd_codec_group_encode() - @n records as a group into *@buf, a
 * malloc'd buffer of *@cap bytes (NULL and 0 at first) that it grows as
 * needed and the caller frees. Returns the length, or a negative IPW_E*
 * (IPW_EINVAL: a record the codec refuses; IPW_ENOMEM).
 */
int64_t ipwd_codec_group_encode(const struct ipwd_oprec *recs, size_t n,
				uint8_t **buf, size_t *cap);

/*
 * ipwd_codec_group_next() - walk a group: *@pos starts at 0 (the count is
 * read into *@count on that call); each call decodes the next record into
 * @out and advances *@pos. Returns 1 with a record, 0 at the end (every
 * byte used, *@count records read), -1 with @err on malformed bytes.
 */
int ipwd_codec_group_next(const uint8_t *p, size_t len, size_t *pos,
			  uint64_t *count, uint64_t *seen,
			  struct ipwd_oprec_buf *out,
			  struct ipwd_codec_err *err);

#endif /* IPWALL_DAEMON_OPLOG_CODEC_H */
