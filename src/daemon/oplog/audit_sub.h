/* SPDX-License-Identifier: MIT */
/*
 * The audit log (audit.h) as a subscriber of the op log (ops.h): every
 * committed group's lines, written by the subscriber's thread while the
 * committer goes on; the lines a crash or an overflow kept out of the log
 * written from the store (marked "recovered").
 */
#ifndef IPWALL_DAEMON_OPLOG_AUDIT_SUB_H
#define IPWALL_DAEMON_OPLOG_AUDIT_SUB_H

#include "oplog/audit.h"
#include "oplog/ops.h"
#include "oplog/store.h"

struct ipwd_audit_sub;

/*
 * ipwd_audit_sub_new() - subscribe audit log @a to op log @o (before
 * ipwd_ops_load()); @store (may be NULL: memory only) is read for the
 * history of ops the op log no longer holds. An audit log that writes
 * nowhere subscribes nothing (*@out NULL). 0 or IPW_ENOMEM. Free with
 * ipwd_audit_sub_free() after ipwd_ops_free().
 */
int ipwd_audit_sub_new(struct ipwd_audit_sub **out, struct ipwd_ops *o,
		       struct ipwd_audit *a, struct ipwd_store *store);
void ipwd_audit_sub_free(struct ipwd_audit_sub *as);

#endif /* IPWALL_DAEMON_OPLOG_AUDIT_SUB_H */
