/* SPDX-License-Identifier: MIT */
/*
 * One applied op as the store and the audit log record it: what was asked,
 * by whom, from which node, what it did, and the entry before and after.
 * Filled by the write path (ops.c) after the table has applied the op.
 */
#ifndef IPWALL_DAEMON_OPREC_H
#define IPWALL_DAEMON_OPREC_H

#include <stdbool.h>
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

#endif /* IPWALL_DAEMON_OPREC_H */
