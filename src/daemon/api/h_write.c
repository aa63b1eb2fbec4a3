/* SPDX-License-Identifier: MIT */
/*
 * The write handlers: POST and DELETE /v1/bans and /v1/allow, POST
 * /v1/bans/batch, PUT /v1/mode. Each decodes everything first
 * (request.c), then hands its ops to the write path (oplog/ops.h) and
 * waits until they are durable: they run on the blocking pool.
 */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <ipwall/addr.h>
#include <ipwall/table.h>

#include "api/api.h"
#include "api/metrics.h"
#include "base/clock.h"

#define BATCH_ERRORS_MAX 100

static enum ipwd_write_kind write_kind(enum ipwd_action a)
{
	switch (a) {
	case IPWD_ACT_BAN:
		return IPWD_WRITE_BAN;
	case IPWD_ACT_UNBAN:
		return IPWD_WRITE_UNBAN;
	case IPWD_ACT_ALLOW:
		return IPWD_WRITE_ALLOW;
	case IPWD_ACT_DISALLOW:
		return IPWD_WRITE_DISALLOW;
	default:
		return IPWD_WRITE_MODE;
	}
}

/* POST /v1/bans, /v1/allow */
static void h_add(struct ipwd_req *r, struct ipwd_resp *o, enum ipw_list list)
{
	struct ipw_entry_info info;
	struct ipwd_op op = {0};
	uint64_t t0;
	struct ipwd_perr pe;
	enum ipw_change what;
	char t[IPW_ADDR_STRLEN];
	json_t *body;
	int rc;

	if (ipwd_parse_body(r->body, r->len, &body, &pe)) {
		ipwd_resp_perr(o, &pe);
		return;
	}
	if (ipwd_parse_entry(body, list, ipwd_now_s(),
			     live_get(r->d, default_ban_ttl), &op.spec, &pe)) {
		ipwd_resp_perr(o, &pe);
		json_decref(body);
		return;
	}
	op.action = list == IPW_LIST_BAN ? IPWD_ACT_BAN : IPWD_ACT_ALLOW;
	op.actor = r->actor;
	t0 = ipwd_now_ns();
	rc = ipwd_ops_apply(r->d->ops, &op, &what, &info);
	ipwd_metric_write(write_kind(op.action), ipwd_now_ns() - t0);
	if (rc != 0) {
		ipw_addr_format(&op.spec.target, t, sizeof(t));
		ipwd_table_error(o, rc, t);
		json_decref(body);
		return;
	}
	json_decref(body);
	ipwd_resp_json(o, what == IPW_CHANGE_ADDED ? 201 : 200,
		       json_pack("{s:s, s:o}", "result", ipw_change_name(what),
				 "entry",
				 ipwd_entry_json(&info, ipwd_now_s())));
}

/* POST /v1/bans/batch */
void ipwd_h_batch(struct ipwd_req *r, struct ipwd_resp *o)
{
	struct ipw_entry_spec *specs = NULL;
	size_t i, n = 0, counts[8] = {0}, failed = 0;
	enum ipw_change *whats = NULL;
	struct ipwd_perr pe;
	json_t *body, *errs;
	int *rcs = NULL;
	uint64_t t0;

	if (ipwd_parse_body(r->body, r->len, &body, &pe)) {
		ipwd_resp_perr(o, &pe);
		return;
	}
	if (ipwd_parse_batch(body, live_get(r->d, max_batch), ipwd_now_s(),
			     live_get(r->d, default_ban_ttl), &specs, &n,
			     &pe)) {
		ipwd_resp_perr(o, &pe);
		json_decref(body);
		return;
	}
	rcs = calloc(n ? n : 1, sizeof(*rcs));
	whats = calloc(n ? n : 1, sizeof(*whats));
	if (rcs == NULL || whats == NULL) {
		ipwd_resp_error(o, IPWD_E_INTERNAL, NULL, "out of memory");
		goto out;
	}
	for (i = 0; i < n; i++)
		specs[i].actor = r->actor;
	t0 = ipwd_now_ns();
	ipwd_ops_add_batch(r->d->ops, specs, n, rcs, whats);
	ipwd_metric_write(IPWD_WRITE_BATCH, ipwd_now_ns() - t0);
	/* The store refused the whole group: nothing of the batch was
	 * applied, so the batch as a whole is unavailable (503), as a single
	 * write would be. */
	for (i = 0; i < n && (rcs[i] == IPW_ENOSPC || rcs[i] == IPW_EIO); i++)
		;
	if (n && i == n) {
		ipwd_table_error(o, rcs[0], "");
		goto out;
	}
	errs = json_array();
	for (i = 0; i < n; i++) {
		if (rcs[i] == 0) {
			counts[whats[i] & 7]++;
			continue;
		}
		failed++;
		if (json_array_size(errs) < BATCH_ERRORS_MAX) {
			enum ipwd_apierr err;
			char t[IPW_ADDR_STRLEN];
			json_t *e;

			ipw_addr_format(&specs[i].target, t, sizeof(t));
			e = ipwd_table_error_obj(rcs[i], t, &err);
			if (e == NULL)
				continue;
			json_object_set_new(e, "index",
					    json_integer((json_int_t)i));
			json_object_set_new(e, "target", json_string(t));
			json_array_append_new(errs, e);
		}
	}
	ipwd_resp_json(
		o, 200,
		json_pack("{s:I, s:I, s:I, s:I, s:o}", "added",
			  (json_int_t)counts[IPW_CHANGE_ADDED], "extended",
			  (json_int_t)counts[IPW_CHANGE_EXTENDED], "unchanged",
			  (json_int_t)counts[IPW_CHANGE_UNCHANGED], "failed",
			  (json_int_t)failed, "errors", errs));
out:
	free(rcs);
	free(whats);
	free(specs);
	json_decref(body);
}

/* DELETE /v1/bans, /v1/allow */
static void h_del(struct ipwd_req *r, struct ipwd_resp *o, enum ipw_list list)
{
	struct ipw_entry_info info;
	struct ipwd_op op = {0};
	uint64_t t0;
	enum ipw_change what;
	int rc;

	if (ipwd_req_target(r, o, &op.spec.target))
		return;
	op.spec.list = list;
	op.action = list == IPW_LIST_BAN ? IPWD_ACT_UNBAN : IPWD_ACT_DISALLOW;
	op.actor = r->actor;
	t0 = ipwd_now_ns();
	rc = ipwd_ops_apply(r->d->ops, &op, &what, &info);
	ipwd_metric_write(write_kind(op.action), ipwd_now_ns() - t0);
	if (rc != 0) {
		ipwd_table_error(o, rc, "");
		return;
	}
	if (what == IPW_CHANGE_REMOVED)
		ipwd_resp_json(o, 200,
			       json_pack("{s:s, s:o}", "result", "removed",
					 "entry",
					 ipwd_entry_json(&info, ipwd_now_s())));
	else
		ipwd_resp_json(o, 200, json_pack("{s:s}", "result", "absent"));
}

void ipwd_h_ban(struct ipwd_req *r, struct ipwd_resp *o)
{
	h_add(r, o, IPW_LIST_BAN);
}

void ipwd_h_allow(struct ipwd_req *r, struct ipwd_resp *o)
{
	h_add(r, o, IPW_LIST_ALLOW);
}

void ipwd_h_unban(struct ipwd_req *r, struct ipwd_resp *o)
{
	h_del(r, o, IPW_LIST_BAN);
}

void ipwd_h_disallow(struct ipwd_req *r, struct ipwd_resp *o)
{
	h_del(r, o, IPW_LIST_ALLOW);
}

/* PUT /v1/mode */
void ipwd_h_mode_put(struct ipwd_req *r, struct ipwd_resp *o)
{
	struct ipwd_op op = {0};
	enum ipw_change what;
	struct ipwd_perr pe;
	json_t *body;
	uint64_t t0;
	int rc;

	if (ipwd_parse_body(r->body, r->len, &body, &pe)) {
		ipwd_resp_perr(o, &pe);
		return;
	}
	if (ipwd_parse_mode(body, &op.mode, &pe)) {
		ipwd_resp_perr(o, &pe);
		json_decref(body);
		return;
	}
	json_decref(body);
	op.action = IPWD_ACT_MODE;
	op.actor = r->actor;
	t0 = ipwd_now_ns();
	rc = ipwd_ops_apply(r->d->ops, &op, &what, NULL);
	ipwd_metric_write(IPWD_WRITE_MODE, ipwd_now_ns() - t0);
	if (rc != 0) {
		ipwd_resp_error(o, IPWD_E_INTERNAL, NULL, "mode not set");
		return;
	}
	ipwd_resp_json(
		o, 200,
		json_pack("{s:s, s:s}", "mode", ipw_mode_name(op.mode),
			  "result",
			  what == IPW_CHANGE_MODE ? "changed" : "unchanged"));
}
