/* SPDX-License-Identifier: MIT */
/*
 * The op vocabulary: every name an op is written with (actions, results,
 * lists, modes), defined here once and used by the write path, the store,
 * the history, the audit log, the metrics, the HTTP API and the codec
 * (codec.h), so that a name cannot mean two things in two places.
 *
 * One applied op is a struct ipwd_oprec: what was asked, by whom, from
 * which node, with which id and time and in which group (its sequence),
 * what it did (the result), and the entry before and after it.
 *
 * Every function here is pure and may be called from any thread.
 */
#ifndef IPWALL_DAEMON_OPLOG_OP_H
#define IPWALL_DAEMON_OPLOG_OP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <ipwall/table.h>

/* What an op does. The numbers are part of the codec (codec.h) and of
 * the metrics' arrays: append, never renumber. */
enum ipwd_action {
	IPWD_ACT_BAN = 0,
	IPWD_ACT_UNBAN = 1,
	IPWD_ACT_ALLOW = 2,
	IPWD_ACT_DISALLOW = 3,
	IPWD_ACT_MODE = 4,
	IPWD_ACT_EXPIRE = 5, /* the purger, or an entry expired while down */
	IPWD_ACT_EVICT = 6,  /* a manual ban made room in a full table */
	IPWD_ACT_COUNT
};

/* "ban", "unban", "allow", "disallow", "mode", "expire", "evict";
 * "unknown" outside the enum. */
const char *ipwd_action_name(enum ipwd_action a);
/* The action named by the @len bytes at @s, or -1. */
int ipwd_action_of(const char *s, size_t len);
/* Does @a have a target (every action but mode)? */
bool ipwd_action_has_target(enum ipwd_action a);
/* The list a ban/unban (bans) or allow/disallow (allows) acts on. */
enum ipw_list ipwd_action_list(enum ipwd_action a);

/*
 * Results. An op's result is an enum ipw_change: added, extended,
 * unchanged (ban, allow), removed, absent (unban, disallow, expire,
 * evict), and for mode ops "changed" (IPW_CHANGE_MODE) or "unchanged".
 * ipwd_result_name() is the name on the wire, in the store and in the
 * log; ipwd_result_of() reads one back for action @a (-1: not a result
 * that action can have).
 */
const char *ipwd_result_name(enum ipwd_action a, int change);
int ipwd_result_of(enum ipwd_action a, const char *s, size_t len);
/* Whether @change is a result action @a can have. */
bool ipwd_result_valid(enum ipwd_action a, int change);

/* "bans" or "allows"; ipwd_list_of() reads one back (-1 if neither). */
const char *ipwd_list_name(enum ipw_list l);
int ipwd_list_of(const char *s, size_t len);
/* "denylist" or "allowlist" (ipw_mode_name()); ipwd_mode_of() reads one
 * back (-1 if neither). */
int ipwd_mode_of(const char *s, size_t len);

/*
 * Op ids: a UUIDv7 as 16 bytes (the store's key, the codec) and as 36
 * characters 8-4-4-4-12 of lower-case hex (the API, the audit log). The
 * first 48 bits are the Unix time in milliseconds, so ids sort in time
 * order (oplog.h says how the write path keeps them increasing).
 */
#define IPWD_OPID_LEN 37 /* UUID text + NUL */

/* @b as text into @out. */
void ipwd_opid_format(const uint8_t b[16], char out[IPWD_OPID_LEN]);
/* The @len characters at @s (8-4-4-4-12 hex digits, either case) into
 * @out. Returns 0, or -1 if they are anything else. */
int ipwd_opid_parse(const char *s, size_t len, uint8_t out[16]);
/* The milliseconds of id @b. */
uint64_t ipwd_opid_ms(const uint8_t b[16]);

#define IPWD_NODE_MAX  64 /* origin node name, NUL included */
#define IPWD_ACTOR_MAX 96 /* an op's actor, NUL included */

/* One applied op as the store, the audit log and the subscribers see it. */
struct ipwd_oprec {
	const char *id;	   /* UUIDv7 text */
	uint64_t seq;	   /* the sequence of its group (0: not known) */
	int64_t time;	   /* wall-clock seconds */
	const char *actor; /* token:NAME, unix:USER, purger, ... */
	const char *node;  /* origin node */
	enum ipwd_action action;
	enum ipw_list list;	   /* not for mode ops */
	struct ipw_addr target;	   /* not for mode ops */
	int change;		   /* enum ipw_change: the result */
	enum ipw_mode mode;	   /* mode ops: the mode asked for */
	enum ipw_mode mode_before; /* mode ops: the mode before */
	/* The entry before and after the op, NULL where there is none
	 * (before an add, after a removal; mode ops have neither). */
	const struct ipw_entry_info *before;
	const struct ipw_entry_info *after;
	/* Written after the fact: at a start, or when the audit log fell
	 * behind (a line a crash kept out of the audit log). */
	bool recovered;
	/* The entries hold only what a version-1 history kept (target,
	 * list, expires, score, reason). */
	bool partial;
};

/* A target from the store's columns: family (4 or 6), address bytes (4
 * or 16), prefix length. Returns 0, or -1 if they do not make one. */
int ipwd_target_of(int family, const void *bytes, int len, int plen,
		   struct ipw_addr *out);

#endif /* IPWALL_DAEMON_OPLOG_OP_H */
