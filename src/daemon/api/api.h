/* SPDX-License-Identifier: MIT */
/*
 * What the API's handlers share (internal to api/): the handlers of the
 * route table (routes.c), and the pieces of every answer (respond.c).
 *
 * Each handler runs once per request, after the front (http.c) has
 * routed it, authenticated it, refused what the route does not take
 * (routes.c) and read its body; it validates everything it reads before
 * it writes, and a request refused anywhere before its op changes
 * nothing. Handlers of blocking routes may wait (the write path, the
 * store); the others must not.
 */
#ifndef IPWALL_DAEMON_API_API_H
#define IPWALL_DAEMON_API_API_H

#include <jansson.h>
#include <stdint.h>

#include <ipwall/table.h>

#include "api/http.h"
#include "api/request.h"

/* Handlers (h_read.c, h_write.c, h_list.c, h_history.c). */
void ipwd_h_check(struct ipwd_req *r, struct ipwd_resp *o);
void ipwd_h_mode_get(struct ipwd_req *r, struct ipwd_resp *o);
void ipwd_h_top(struct ipwd_req *r, struct ipwd_resp *o);
void ipwd_h_stats(struct ipwd_req *r, struct ipwd_resp *o);
void ipwd_h_healthz(struct ipwd_req *r, struct ipwd_resp *o);
void ipwd_h_metrics(struct ipwd_req *r, struct ipwd_resp *o);
void ipwd_h_ban(struct ipwd_req *r, struct ipwd_resp *o);
void ipwd_h_allow(struct ipwd_req *r, struct ipwd_resp *o);
void ipwd_h_unban(struct ipwd_req *r, struct ipwd_resp *o);
void ipwd_h_disallow(struct ipwd_req *r, struct ipwd_resp *o);
void ipwd_h_batch(struct ipwd_req *r, struct ipwd_resp *o);
void ipwd_h_mode_put(struct ipwd_req *r, struct ipwd_resp *o);
void ipwd_h_list_bans(struct ipwd_req *r, struct ipwd_resp *o);
void ipwd_h_list_allows(struct ipwd_req *r, struct ipwd_resp *o);
void ipwd_h_history(struct ipwd_req *r, struct ipwd_resp *o);
void ipwd_h_history_count(struct ipwd_req *r, struct ipwd_resp *o);
void ipwd_h_events(struct ipwd_req *r, struct ipwd_resp *o);
void ipwd_h_cluster(struct ipwd_req *r, struct ipwd_resp *o);

/* Answers (respond.c). */
/* @v (a reference the call takes) as the JSON body with @status. */
void ipwd_resp_json(struct ipwd_resp *o, unsigned status, json_t *v);
/* The object inside {"error": ...}; @field may be NULL or "". */
json_t *ipwd_error_obj(enum ipwd_apierr err, const char *field,
		       const char *msg);
void ipwd_resp_error_obj(struct ipwd_resp *o, enum ipwd_apierr err, json_t *e);
/* A body decoding error; a batch item's carries its index. */
void ipwd_resp_perr(struct ipwd_resp *o, const struct ipwd_perr *pe);
/* The error object of a write the table or the store refused with @rc
 * (*@err: its code). */
json_t *ipwd_table_error_obj(int rc, const char *target, enum ipwd_apierr *err);
void ipwd_table_error(struct ipwd_resp *o, int rc, const char *target);
/* An entry as the API shows it (ttl_left counted from @now). */
json_t *ipwd_entry_json(const struct ipw_entry_info *e, int64_t now);
/* ISO 8601 UTC, or null for 0. */
json_t *ipwd_json_time(int64_t t);
/* The target query parameter into @a: 0, or -1 (answered). */
int ipwd_req_target(struct ipwd_req *r, struct ipwd_resp *o,
		    struct ipw_addr *a);
/* Wall-clock seconds. */
int64_t ipwd_now_s(void);

#endif /* IPWALL_DAEMON_API_API_H */
