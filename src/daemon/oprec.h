/* SPDX-License-Identifier: MIT */
/*
 * One applied op as the store and the audit log record it: what was asked,
 * by whom, from which node, what it did, and the entry before and after.
 * Filled by the write path (ops.c) after the table has applied the op.
 */
#ifndef IPWALL_DAEMON_OPREC_H
#define IPWALL_DAEMON_OPREC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <ipwall/table.h>

#include "metrics.h"

struct ipwd_oprec {
	const char *id;	   /* UUIDv7 text */
	int64_t time;	   /* wall-clock seconds */
	const char *actor; /* token:NAME, unix:USER, purger, ... */
	const char *node;  /* origin node */
	enum ipwd_action action;
	enum ipw_list list;	   /* not for mode ops */
	struct ipw_addr target;	   /* not for mode ops */
	int change;		   /* enum ipw_change */
	enum ipw_mode mode;	   /* mode ops: the mode asked for */
	enum ipw_mode mode_before; /* mode ops: the mode before */
	/* The entry before and after the op, NULL where there is none
	 * (before an add, after a removal; mode ops have neither). */
	const struct ipw_entry_info *before;
	const struct ipw_entry_info *after;
	/* Rebuilt from the store's history at start (a line a crash kept
	 * out of the audit log): the entries hold only what the history
	 * keeps (target, list, expires, score, reason). */
	bool recovered;
};

/*
 * Op ids: a UUIDv7 as 16 bytes (the store's key) and as 36 characters
 * 8-4-4-4-12 of lower-case hex (the API, the audit log).
 */
#define IPWD_OPID_LEN 37 /* UUID text + NUL */

/* @b as text into @out. */
void ipwd_opid_format(const uint8_t b[16], char out[IPWD_OPID_LEN]);
/* The @len characters at @s (8-4-4-4-12 hex digits, either case) into
 * @out. Returns 0, or -1 if they are anything else. */
int ipwd_opid_parse(const char *s, size_t len, uint8_t out[16]);

/* A target from the store's columns: family (4 or 6), address bytes (4
 * or 16), prefix length. Returns 0, or -1 if they do not make one. */
int ipwd_target_of(int family, const void *bytes, int len, int plen,
		   struct ipw_addr *out);

#endif /* IPWALL_DAEMON_OPREC_H */
