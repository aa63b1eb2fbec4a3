/* SPDX-License-Identifier: MIT */
/*
 * The read-only handlers that run on the HTTP workers: /v1/check (the hot
 * path), /v1/mode, /v1/top, /v1/stats, /healthz, /metrics. None of them
 * waits on the write path or the store.
 *
 * /v1/check's body is formatted with snprintf, not jansson: it is the hot
 * path, and every string it prints is an address we formatted or a fixed
 * name, none needing escapes.
 */
#include <inttypes.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <ipwall/addr.h>
#include <ipwall/table.h>

#include "autoban/autoban.h"
#include "autoban/ratelimit.h"
#include "api/guard.h"
#include "api/api.h"
#include "api/metrics.h"
#include "base/clock.h"
#include "oplog/store.h"

#define TOP_K_MAX 1000

static const char *const verdict_reasons[] = {"no_match", "banned", "allowed",
					      "not_allowed"};

/* GET /v1/check */
void ipwd_h_check(struct ipwd_req *r, struct ipwd_resp *o)
{
	char ip[IPW_ADDR_STRLEN], ent[IPW_ADDR_STRLEN], msg[200], exp[32];
	struct ipwd_rl_result rl;
	bool limited = false;
	struct ipw_verdict v;
	struct ipw_addr a;
	const char *s;
	size_t pos = 0;
	bool present;
	char *body;
	int rc, n;

	s = ipwd_req_arg(r, "ip", &present);
	if (s == NULL) {
		ipwd_resp_error(o, IPWD_E_MISSING_FIELD, "ip",
				"query parameter ip is required "
				"(/v1/check?ip=ADDR)");
		return;
	}
	rc = ipw_addr_parse(s, strlen(s), IPW_ADDR_HOST, &a, &pos);
	if (rc != 0) {
		ipw_addr_error_msg(msg, sizeof(msg), s, strlen(s), rc, pos);
		ipwd_resp_error(o, IPWD_E_INVALID_IP, "ip", "ip: %s", msg);
		return;
	}
	ipw_table_check(r->d->table, &a, &v);
	ipw_addr_format(&a, ip, sizeof(ip));
	/* The rate limit: only for what the table admits without an allow
	 * (a ban answers first; an allow is never limited). Lock-free; an
	 * address over the limit for check_sustain is also an event. */
	if (v.reason == IPW_VERDICT_NO_MATCH && r->d->ratelimit &&
	    !ipwd_rl_check(r->d->ratelimit, &a, ipwd_now_ns(), &rl)) {
		if (rl.sustained) {
			struct ipwd_report rep = {a, IPWD_RATE_EVENT};

			ipwd_autoban_submit(r->d->autoban, &rep, 1);
		}
		limited = true;
	}
	body = malloc(384);
	if (body == NULL) {
		ipwd_resp_error(o, IPWD_E_INTERNAL, NULL, "out of memory");
		return;
	}
	if (limited) {
		o->retry_after = (rl.retry_after_ms + 999) / 1000;
		if (o->retry_after == 0)
			o->retry_after = 1;
		n = snprintf(body, 384,
			     "{\"ip\":\"%s\",\"verdict\":\"blocked\","
			     "\"reason\":\"rate_limited\",\"mode\":\"%s\","
			     "\"entry\":null,\"retry_after\":%u}",
			     ip, ipw_mode_name(ipw_table_mode(r->d->table)),
			     o->retry_after);
		o->status = 429;
		o->body = body;
		o->len = n > 0 ? (size_t)n : 0;
		return;
	}
	if (v.reason == IPW_VERDICT_BANNED || v.reason == IPW_VERDICT_ALLOWED) {
		ipw_addr_format(&v.entry, ent, sizeof(ent));
		if (v.expires) {
			time_t tt = (time_t)v.expires;
			struct tm tm;

			gmtime_r(&tt, &tm);
			strftime(exp, sizeof(exp), "\"%Y-%m-%dT%H:%M:%SZ\"",
				 &tm);
		} else {
			strcpy(exp, "null");
		}
		n = snprintf(body, 384,
			     "{\"ip\":\"%s\",\"verdict\":\"%s\",\"reason\":"
			     "\"%s\",\"mode\":\"%s\",\"entry\":{\"list\":"
			     "\"%s\",\"target\":\"%s\",\"expires_at\":%s}}",
			     ip, v.blocked ? "blocked" : "admitted",
			     verdict_reasons[v.reason],
			     ipw_mode_name(ipw_table_mode(r->d->table)),
			     ipwd_list_name(v.list), ent, exp);
	} else {
		n = snprintf(body, 384,
			     "{\"ip\":\"%s\",\"verdict\":\"%s\",\"reason\":"
			     "\"%s\",\"mode\":\"%s\",\"entry\":null}",
			     ip, v.blocked ? "blocked" : "admitted",
			     verdict_reasons[v.reason & 3],
			     ipw_mode_name(ipw_table_mode(r->d->table)));
	}
	o->status = v.blocked ? 403 : 200;
	o->body = body;
	o->len = (size_t)n;
	ipwd_metric_check(&v, ipwd_now_ns() - r->t0);
}

void ipwd_h_mode_get(struct ipwd_req *r, struct ipwd_resp *o)
{
	ipwd_resp_json(o, 200,
		       json_pack("{s:s}", "mode",
				 ipw_mode_name(ipw_table_mode(r->d->table))));
}

/*
 * GET /v1/top?by=drops: the bans the kernel dropped the most packets for
 * (a walk of the BPF map), each with the table's entry when it still has
 * one (an entry the table lost but the map kept until the next reconcile
 * is shown with its target and drops only). 503 unavailable without
 * kernel enforcement.
 */
static void top_by_drops(struct ipwd_req *r, struct ipwd_resp *o, size_t k,
			 int64_t now)
{
	struct ipw_addr *t;
	uint64_t *dr;
	size_t n, i;
	json_t *items;

	if (r->d->drops_top == NULL) {
		ipwd_resp_error(o, IPWD_E_NO_ENFORCEMENT, "by",
				"no kernel enforcement here: [enforce] xdp or "
				"tc counts drops");
		return;
	}
	t = calloc(k, sizeof(*t));
	dr = calloc(k, sizeof(*dr));
	if (t == NULL || dr == NULL) {
		free(t);
		free(dr);
		ipwd_resp_error(o, IPWD_E_INTERNAL, NULL, "out of memory");
		return;
	}
	n = r->d->drops_top(r->d->enforce_ctx, k, t, dr);
	items = json_array();
	for (i = 0; i < n; i++) {
		struct ipw_entry_info e;
		json_t *it;

		if (ipw_table_get(r->d->table, IPW_LIST_BAN, &t[i], &e) == 0) {
			it = ipwd_entry_json(&e, now);
		} else {
			char buf[IPW_ADDR_STRLEN];

			ipw_addr_format(&t[i], buf, sizeof(buf));
			it = json_pack("{s:s, s:s}", "target", buf, "list",
				       "ban");
		}
		json_object_set_new(it, "drops",
				    json_integer((json_int_t)dr[i]));
		json_array_append_new(items, it);
	}
	free(t);
	free(dr);
	ipwd_resp_json(o, 200, json_pack("{s:o}", "items", items));
}

void ipwd_h_top(struct ipwd_req *r, struct ipwd_resp *o)
{
	bool by_drops = false;
	struct ipw_entry_info *v;
	size_t k = 10, i, n;
	int64_t now = ipwd_now_s();
	bool present;
	const char *s;
	json_t *items;
	uint64_t u;

	if ((s = ipwd_req_arg(r, "k", &present)) || present) {
		if (s == NULL || ipwd_parse_uint(s, TOP_K_MAX, &u) || u == 0) {
			ipwd_resp_error(o, IPWD_E_INVALID_PARAMETER, "k",
					"k must be 1..%d", TOP_K_MAX);
			return;
		}
		k = (size_t)u;
	}
	if ((s = ipwd_req_arg(r, "by", &present)) || present) {
		if (s == NULL ||
		    (strcmp(s, "hits") != 0 && strcmp(s, "drops") != 0)) {
			ipwd_resp_error(o, IPWD_E_INVALID_PARAMETER, "by",
					"by must be hits or drops");
			return;
		}
		by_drops = strcmp(s, "drops") == 0;
	}
	if (by_drops) {
		top_by_drops(r, o, k, now);
		return;
	}
	v = malloc(k * sizeof(*v));
	if (v == NULL) {
		ipwd_resp_error(o, IPWD_E_INTERNAL, NULL, "out of memory");
		return;
	}
	n = ipw_table_top(r->d->table, k, v);
	items = json_array();
	for (i = 0; i < n; i++) {
		json_t *it = ipwd_entry_json(&v[i], now);

		if (r->d->drops && v[i].list == IPW_LIST_BAN)
			json_object_set_new(
				it, "drops",
				json_integer((json_int_t)r->d->drops(
					r->d->enforce_ctx, &v[i].target)));
		json_array_append_new(items, it);
	}
	free(v);
	ipwd_resp_json(o, 200, json_pack("{s:o}", "items", items));
}

void ipwd_h_stats(struct ipwd_req *r, struct ipwd_resp *o)
{
	struct ipw_table_stats st;

	ipw_table_stats(r->d->table, &st);
	ipwd_resp_json(
		o, 200,
		json_pack(
			"{s:s, s:s, s:s, s:I, s:{s:{s:I, s:I}, s:{s:I, s:I}}, "
			"s:{s:{s:I, s:I}, s:{s:I, s:I}}, s:I, s:I, s:I, s:I}",
			"version", IPWALL_VERSION, "node",
			ipwd_ops_node(r->d->ops), "mode",
			ipw_mode_name(ipw_table_mode(r->d->table)),
			"uptime_seconds",
			(json_int_t)(ipwd_now_s() - r->d->started), "entries",
			"bans", "ipv4", (json_int_t)st.entries[0][0], "ipv6",
			(json_int_t)st.entries[0][1], "allows", "ipv4",
			(json_int_t)st.entries[1][0], "ipv6",
			(json_int_t)st.entries[1][1], "prefixes", "bans",
			"ipv4", (json_int_t)st.prefixes[0][0], "ipv6",
			(json_int_t)st.prefixes[0][1], "allows", "ipv4",
			(json_int_t)st.prefixes[1][0], "ipv6",
			(json_int_t)st.prefixes[1][1], "max_entries",
			(json_int_t)st.max_entries, "index_bytes",
			(json_int_t)st.index_bytes, "entry_bytes",
			(json_int_t)st.entry_bytes, "rekeys",
			(json_int_t)st.rekeys));
}

/* The front door's per-address accounting (guard.h), after the rest. */
static int append_guard(struct ipwd *d, struct ipwd_resp *o)
{
	struct ipwd_guard_stats g;
	char buf[2048], *b;
	int n;

	ipwd_http_guard_stats(d, &g);
	n = snprintf(
		buf, sizeof(buf),
		"# HELP ipwall_http_connections Open TCP connections.\n"
		"# TYPE ipwall_http_connections gauge\n"
		"ipwall_http_connections %" PRIu64 "\n"
		"# HELP ipwall_http_connection_addresses Distinct client "
		"addresses holding them.\n"
		"# TYPE ipwall_http_connection_addresses gauge\n"
		"ipwall_http_connection_addresses %" PRIu64 "\n"
		"# HELP ipwall_http_max_connections_per_ip The per-address "
		"connection limit ([http] max_connections_per_ip; 0: none).\n"
		"# TYPE ipwall_http_max_connections_per_ip gauge\n"
		"ipwall_http_max_connections_per_ip %u\n"
		"# HELP ipwall_http_connections_refused_total Connections "
		"closed at accept, by reason.\n"
		"# TYPE ipwall_http_connections_refused_total counter\n"
		"ipwall_http_connections_refused_total{reason=\"per_ip\"} "
		"%" PRIu64 "\n"
		"# HELP ipwall_auth_failures_total Wrong or unknown bearer "
		"tokens shown.\n"
		"# TYPE ipwall_auth_failures_total counter\n"
		"ipwall_auth_failures_total %" PRIu64 "\n"
		"# HELP ipwall_auth_lockouts_total Addresses locked out after "
		"[auth] max_failures wrong tokens.\n"
		"# TYPE ipwall_auth_lockouts_total counter\n"
		"ipwall_auth_lockouts_total %" PRIu64 "\n"
		"# HELP ipwall_auth_locked_requests_total Requests answered "
		"429 while their address was locked out.\n"
		"# TYPE ipwall_auth_locked_requests_total counter\n"
		"ipwall_auth_locked_requests_total %" PRIu64 "\n",
		g.conns, g.addrs, live_get(d, per_ip), g.refused_per_ip,
		g.auth_failures, g.lockouts, g.locked_refused);
	if (n < 0 || (size_t)n >= sizeof(buf))
		return -1;
	b = realloc(o->body, o->len + (size_t)n + 1);
	if (b == NULL)
		return -1;
	memcpy(b + o->len, buf, (size_t)n + 1);
	o->body = b;
	o->len += (size_t)n;
	return 0;
}

/* What another subsystem adds: kernel enforcement (daemon.h,
 * metrics_more) and auto-ban. */
static int append_more(struct ipwd_resp *o,
		       size_t (*more)(void *ctx, char *buf, size_t size),
		       void *ctx)
{
	enum { MORE = 64 * 1024 };
	char *buf, *b;
	size_t n;

	if (more == NULL)
		return 0;
	buf = malloc(MORE);
	if (buf == NULL)
		return -1;
	n = more(ctx, buf, MORE);
	if (n == 0 || n >= MORE) {
		free(buf);
		return 0; /* nothing to add (or it failed): the rest stands */
	}
	b = realloc(o->body, o->len + n + 1);
	if (b == NULL) {
		free(buf);
		return -1;
	}
	memcpy(b + o->len, buf, n);
	free(buf);
	b[o->len + n] = '\0';
	o->body = b;
	o->len += n;
	return 0;
}

void ipwd_h_metrics(struct ipwd_req *r, struct ipwd_resp *o)
{
	o->body = ipwd_metrics_render(r->d->table, r->d->ops, &o->len);
	if (o->body == NULL || append_guard(r->d, o) != 0 ||
	    append_more(o, r->d->metrics_more, r->d->enforce_ctx) != 0 ||
	    (r->d->autoban &&
	     append_more(o, ipwd_autoban_metrics, r->d->autoban) != 0) ||
	    (r->d->cluster &&
	     append_more(o, r->d->cluster_metrics, r->d->cluster) != 0)) {
		free(o->body);
		o->body = NULL;
		ipwd_resp_error(o, IPWD_E_INTERNAL, NULL, "out of memory");
		return;
	}
	o->status = 200;
	o->content_type = "text/plain; version=0.0.4; charset=utf-8";
}

/* The op log's subscribers: each one's state ("live", "resyncing" while
 * it is marked or catching up, "failing" when its last apply or
 * catch-up failed), the last sequence it applied, how far behind the op
 * log it is, and the groups waiting for it. */
static json_t *subscribers(struct ipwd *d, uint64_t seq)
{
	struct ipwd_sub_status st[16];
	size_t n = ipwd_ops_subscribers(d->ops, st, 16), i;
	json_t *o = json_object();

	for (i = 0; i < n && i < 16; i++)
		json_object_set_new(
			o, st[i].name,
			json_pack("{s:s, s:I, s:I, s:I, s:I}", "state",
				  st[i].failing	  ? "failing" :
				  st[i].resyncing ? "resyncing" :
						    "live",
				  "applied", (json_int_t)st[i].applied, "lag",
				  (json_int_t)(seq > st[i].applied ?
						       seq - st[i].applied :
						       0),
				  "queued", (json_int_t)st[i].queued, "resyncs",
				  (json_int_t)st[i].resyncs));
	return o;
}

/* A cluster function's JSON text as a value (NULL if it did not fit or
 * did not parse). */
static json_t *cluster_json(struct ipwd *d,
			    size_t (*fn)(void *ctx, char *buf, size_t size))
{
	enum { SIZE = 64 * 1024 };
	char *buf = malloc(SIZE);
	json_t *v = NULL;
	size_t n;

	if (buf == NULL)
		return NULL;
	n = fn(d->cluster, buf, SIZE);
	if (n > 0 && n < SIZE)
		v = json_loadb(buf, n, 0, NULL);
	free(buf);
	return v;
}

/* /healthz while serving: "store" is failing (the last commit failed),
 * damaged (the background check found damage), or ok; "store_check" is
 * the background check's state (none without a store); "seq" the op
 * log's last sequence; "subscribers" where each stands. */
static json_t *health(struct ipwd *d)
{
	static const char *const checks[] = {"running", "ok", "damaged",
					     "failed"};
	enum ipwd_check_state cs = ipwd_store_check_state(d->check, NULL);
	const char *store = ipwd_ops_store_failing(d->ops)	 ? "failing" :
			    d->check && cs == IPWD_CHECK_DAMAGED ? "damaged" :
								   "ok";
	uint64_t seq = ipwd_ops_seq(d->ops);
	json_t *h = json_pack(
		"{s:s, s:s, s:s, s:I, s:o}", "status", "ok", "store", store,
		"store_check", d->check ? checks[cs] : "none", "seq",
		(json_int_t)seq, "subscribers", subscribers(d, seq));

	/* Cluster mode: where it stands (Redis down is not unhealthy: the
	 * node goes on enforcing its last known set and keeps its writes) */
	if (h && d->cluster)
		json_object_set_new(h, "cluster",
				    cluster_json(d, d->cluster_health));
	return h;
}

/* GET /v1/cluster: the members, their lag, the stream. */
void ipwd_h_cluster(struct ipwd_req *r, struct ipwd_resp *o)
{
	json_t *v;

	if (r->d->cluster == NULL) {
		ipwd_resp_error(o, IPWD_E_NO_CLUSTER, NULL,
				"cluster mode is off ([cluster] mode)");
		return;
	}
	v = cluster_json(r->d, r->d->cluster_status);
	if (v == NULL) {
		ipwd_resp_error(o, IPWD_E_INTERNAL, NULL, "out of memory");
		return;
	}
	ipwd_resp_json(o, 200, v);
}

void ipwd_h_healthz(struct ipwd_req *r, struct ipwd_resp *o)
{
	if (live_get(r->d, stopping))
		ipwd_resp_json(o, 503,
			       json_pack("{s:s}", "status", "stopping"));
	else
		ipwd_resp_json(o, 200, health(r->d));
}
