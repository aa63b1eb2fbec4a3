/* SPDX-License-Identifier: MIT */
/*
 * The ops of a target from the store's history (history.h says which
 * rows), newest first, paged by op id, and the repeat-offender counts.
 * Read through the history's own connection: neither waits on the write
 * path. Without a store there is no history: 404 no_store.
 */
#include <jansson.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <ipwall/addr.h>
#include <ipwall/table.h>

#include "api/api.h"
#include "oplog/history.h"

#define HISTORY_WAIT_MS 5000

/* Text from the store as a JSON string or null. Text is UTF-8 when it
 * was written through the API; a reason taken from elsewhere may not be,
 * and then each byte above 0x7f becomes U+FFFD, so the body stays JSON. */
static json_t *hist_text(const char *s)
{
	json_t *v;
	char *c, *p;

	if (*s == '\0')
		return json_null();
	v = json_string(s);
	if (v)
		return v;
	c = malloc(strlen(s) * 3 + 1);
	if (c == NULL)
		return json_null();
	for (p = c; *s; s++) {
		if ((unsigned char)*s < 0x80) {
			*p++ = *s;
		} else {
			memcpy(p, "\xef\xbf\xbd", 3);
			p += 3;
		}
	}
	*p = '\0';
	v = json_string(c);
	free(c);
	return v ? v : json_null();
}

static json_t *hist_expires(int64_t e)
{
	return e ? json_integer((json_int_t)e) : json_null();
}

static json_t *hist_op_json(const struct ipwd_history_op *v)
{
	json_t *before =
		v->has_before ? json_pack("{s:o, s:I, s:o}", "expires",
					  hist_expires(v->prev_expires),
					  "score", (json_int_t)v->prev_score,
					  "reason", hist_text(v->prev_reason)) :
				json_null();
	char t[IPW_ADDR_STRLEN];

	ipw_addr_format(&v->target, t, sizeof(t));
	return json_pack(
		"{s:s, s:o, s:I, s:o, s:o, s:s, s:s, s:s, s:s, s:o, s:o, s:o, "
		"s:o}",
		"op", v->id, "ts", ipwd_json_time(v->time), "time",
		(json_int_t)v->time, "actor", hist_text(v->actor), "node",
		hist_text(v->node), "action", v->action, "result", v->result,
		"list", ipwd_list_name(v->list), "target", t, "reason",
		v->has_entry ? hist_text(v->reason) : json_null(), "score",
		v->has_entry ? json_integer((json_int_t)v->score) : json_null(),
		"expires",
		v->has_entry ? hist_expires(v->expires) : json_null(), "before",
		before);
}

/* The value of query parameter @name when given; -1 (answered) when it is
 * given without a value ("?since"), 0 otherwise. */
static int hist_arg(struct ipwd_req *r, struct ipwd_resp *o, const char *name,
		    const char **s)
{
	bool present;

	*s = ipwd_req_arg(r, name, &present);
	if (*s == NULL && present) {
		ipwd_resp_error(o, IPWD_E_INVALID_PARAMETER, name,
				"query parameter %s has no value", name);
		return -1;
	}
	return 0;
}

/* since or until into *@t; -1 (answered) when bad. */
static int hist_time(struct ipwd_resp *o, const char *name, const char *s,
		     int64_t *t)
{
	if (ipwd_history_parse_time(s, strlen(s), ipwd_now_s(), t) == 0)
		return 0;
	ipwd_resp_error(o, IPWD_E_INVALID_PARAMETER, name,
			"%s must be a Unix time in seconds (1700000000) or a "
			"duration back from now with a unit (30m, 12h, 7d, "
			"1w)",
			name);
	return -1;
}

/* The answer to a failed history query. */
static void hist_fail(struct ipwd_resp *o, int rc)
{
	if (rc == IPW_ENOENT)
		ipwd_resp_error(o, IPWD_E_INVALID_PARAMETER, "cursor",
				"cursor is not the id of an op in the "
				"history; pass the next_cursor of a previous "
				"page");
	else if (rc == IPW_ENOMEM)
		ipwd_resp_error(o, IPWD_E_INTERNAL, NULL, "out of memory");
	else
		ipwd_resp_error(o, IPWD_E_STORE_UNAVAILABLE, NULL,
				"the history cannot be read now (%s); retry "
				"later",
				ipw_strerror(rc));
}

static void h_history_count(struct ipwd_req *r, struct ipwd_resp *o,
			    const struct ipw_addr *t, bool has_since,
			    int64_t since)
{
	char ts[IPW_ADDR_STRLEN], ns[IPW_ADDR_STRLEN], key[8];
	int64_t n = ipwd_history_ban_count(r->d->history, t, since), nn = 0;
	unsigned netlen = t->family == IPW_AF_INET ? 24 : 64;
	struct ipw_addr net;
	json_t *bans;

	ipw_addr_format(t, ts, sizeof(ts));
	if (n >= 0 && ipw_addr_is_host(t)) {
		ipw_addr_truncate(&net, t, netlen);
		ipw_addr_format(&net, ns, sizeof(ns));
		nn = ipwd_history_ban_count(r->d->history, &net, since);
	}
	if (n < 0 || nn < 0) {
		hist_fail(o, (int)(n < 0 ? n : nn));
		return;
	}
	bans = json_pack("{s:I}", "target", (json_int_t)n);
	if (!ipw_addr_is_host(t)) {
		ipwd_resp_json(
			o, 200,
			json_pack("{s:s, s:o, s:o}", "target", ts, "since",
				  has_since ? json_integer((json_int_t)since) :
					      json_null(),
				  "bans", bans));
		return;
	}
	snprintf(key, sizeof(key), "/%u", netlen);
	json_object_set_new(bans, key, json_integer((json_int_t)nn));
	ipwd_resp_json(o, 200,
		       json_pack("{s:s, s:o, s:o, s:s}", "target", ts, "since",
				 has_since ? json_integer((json_int_t)since) :
					     json_null(),
				 "bans", bans, "network", ns));
}

static void h_history(struct ipwd_req *r, struct ipwd_resp *o, bool count)
{
	struct ipwd_history_query q = {.action = -1};
	struct ipwd_history_op *v = NULL;
	char t[IPW_ADDR_STRLEN];
	bool has_since = false, more;
	const char *s;
	json_t *items;
	size_t n, i;
	uint64_t u;
	int rc;

	if (ipwd_req_target(r, o, &q.target))
		return;
	if (hist_arg(r, o, "since", &s))
		return;
	if (s) {
		if (hist_time(o, "since", s, &q.since))
			return;
		has_since = true;
	}
	if (!count) {
		enum ipwd_action a;

		if (hist_arg(r, o, "until", &s))
			return;
		if (s) {
			if (hist_time(o, "until", s, &q.until))
				return;
			if (q.until <= q.since) {
				ipwd_resp_error(o, IPWD_E_INVALID_PARAMETER,
						"until",
						"until must be later than "
						"since");
				return;
			}
			q.has_until = true;
		}
		if (hist_arg(r, o, "action", &s))
			return;
		if (s) {
			if (ipwd_history_parse_action(s, strlen(s), &a)) {
				ipwd_resp_error(
					o, IPWD_E_INVALID_PARAMETER, "action",
					"action must be ban, unban, allow, "
					"disallow, expire or evict (mode ops "
					"have no target)");
				return;
			}
			q.action = (int)a;
		}
		if (hist_arg(r, o, "limit", &s))
			return;
		if (s) {
			if (ipwd_parse_uint(s, IPWD_HISTORY_LIMIT_MAX, &u) ||
			    u == 0) {
				ipwd_resp_error(o, IPWD_E_INVALID_PARAMETER,
						"limit", "limit must be 1..%d",
						IPWD_HISTORY_LIMIT_MAX);
				return;
			}
			q.limit = (size_t)u;
		}
		if (hist_arg(r, o, "cursor", &s))
			return;
		if (s) {
			if (ipwd_opid_parse(s, strlen(s), q.cursor)) {
				ipwd_resp_error(o, IPWD_E_INVALID_PARAMETER,
						"cursor",
						"cursor must be an op id "
						"(the next_cursor of a "
						"previous page)");
				return;
			}
			q.has_cursor = true;
		}
	}
	if (r->d->history == NULL) {
		ipwd_resp_error(o, IPWD_E_NO_STORE, NULL,
				"this ipwalld keeps no history: it runs "
				"without a durable store ([store] path = "
				"none)");
		return;
	}
	/* The history is written behind the op log by the store's index
	 * (its subscriber): a query sees every op acknowledged before it
	 * came, waiting for the index as long as HISTORY_WAIT_MS (in a
	 * burst it may be seconds behind; then the answer is as far as it
	 * got). */
	ipwd_ops_wait(r->d->ops, "store", ipwd_ops_seq(r->d->ops),
		      HISTORY_WAIT_MS);
	if (count) {
		h_history_count(r, o, &q.target, has_since, q.since);
		return;
	}
	rc = ipwd_history_list(r->d->history, &q, &v, &n, &more);
	if (rc != 0) {
		hist_fail(o, rc);
		return;
	}
	items = json_array();
	for (i = 0; i < n; i++)
		json_array_append_new(items, hist_op_json(&v[i]));
	ipw_addr_format(&q.target, t, sizeof(t));
	ipwd_resp_json(
		o, 200,
		json_pack("{s:s, s:o, s:o}", "target", t, "ops", items,
			  "next_cursor",
			  more ? json_string(v[n - 1].id) : json_null()));
	free(v);
}

void ipwd_h_history(struct ipwd_req *r, struct ipwd_resp *o)
{
	h_history(r, o, false);
}

void ipwd_h_history_count(struct ipwd_req *r, struct ipwd_resp *o)
{
	h_history(r, o, true);
}
