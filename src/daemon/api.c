/* SPDX-License-Identifier: MIT */
/*
 * The HTTP API v1 handlers (docs/api.md is the reference).
 *
 * Each handler validates everything before it writes: query parameters
 * (unknown ones are refused), then the body (request.c), then applies one
 * op (ops.c). A request refused anywhere before the op changes nothing.
 * Bodies are built with jansson, except /v1/check's, which is formatted
 * with snprintf: it is the hot path, and every string it prints is an
 * address we formatted or a fixed name, none needing escapes.
 */
#include <jansson.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <ipwall/addr.h>
#include <ipwall/table.h>

#include "history.h"
#include "http.h"
#include "request.h"

#define LIST_LIMIT_MAX	 10000
#define TOP_K_MAX	 1000
#define BATCH_ERRORS_MAX 100

static const char *const verdict_reasons[] = {"no_match", "banned", "allowed",
					      "not_allowed"};

const char *ipwd_apierr_name(enum ipwd_apierr e)
{
	static const char *const names[] = {
#define X(id, status, name) name,
		IPWD_APIERRS(X)
#undef X
	};
	return (unsigned)e < IPWD_E_COUNT ? names[e] : "internal";
}

unsigned ipwd_apierr_status(enum ipwd_apierr e)
{
	static const unsigned st[] = {
#define X(id, status, name) status,
		IPWD_APIERRS(X)
#undef X
	};
	return (unsigned)e < IPWD_E_COUNT ? st[e] : 500;
}

static void set_json(struct ipwd_resp *o, unsigned status, json_t *v)
{
	o->status = status;
	o->body = json_dumps(v, JSON_COMPACT);
	json_decref(v);
	if (o->body == NULL) {
		o->status = 500;
		o->body = strdup("{\"error\":{\"code\":\"internal\","
				 "\"message\":\"out of memory\"}}");
	}
	o->len = o->body ? strlen(o->body) : 0;
}

/* The object inside {"error": ...}; @field may be NULL or "". */
static json_t *error_obj(enum ipwd_apierr err, const char *field,
			 const char *msg)
{
	json_t *e = json_pack("{s:s, s:s}", "code", ipwd_apierr_name(err),
			      "message", msg);

	if (e == NULL) /* a message cut inside a UTF-8 sequence */
		e = json_pack("{s:s, s:s}", "code", ipwd_apierr_name(err),
			      "message", "(unprintable)");
	if (e && field && *field)
		json_object_set_new(e, "field", json_string(field));
	return e;
}

static void resp_error_obj(struct ipwd_resp *o, enum ipwd_apierr err, json_t *e)
{
	o->err = (int)err;
	set_json(o, ipwd_apierr_status(err), json_pack("{s:o}", "error", e));
}

void ipwd_resp_error(struct ipwd_resp *o, enum ipwd_apierr err,
		     const char *field, const char *fmt, ...)
{
	char msg[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	resp_error_obj(o, err, error_obj(err, field, msg));
}

/* A decoding error; a batch item's carries its index. */
static void resp_perr(struct ipwd_resp *o, const struct ipwd_perr *pe)
{
	json_t *e = error_obj(pe->code, pe->field, pe->msg);

	if (e && pe->index != SIZE_MAX)
		json_object_set_new(e, "index",
				    json_integer((json_int_t)pe->index));
	resp_error_obj(o, pe->code, e);
}

/* ---------------------------------------------------------------- */
/* Routing */

static const struct route {
	const char *path;
	enum ipwd_route route;
	const char *methods; /* the Allow header */
} routes[] = {
	{"/v1/check", IPWD_ROUTE_CHECK, "GET, HEAD"},
	{"/v1/bans", IPWD_ROUTE_BANS, "GET, HEAD, POST, DELETE"},
	{"/v1/bans/batch", IPWD_ROUTE_BANS_BATCH, "POST"},
	{"/v1/allow", IPWD_ROUTE_ALLOW, "GET, HEAD, POST, DELETE"},
	{"/v1/mode", IPWD_ROUTE_MODE, "GET, HEAD, PUT"},
	{"/v1/top", IPWD_ROUTE_TOP, "GET, HEAD"},
	{"/v1/stats", IPWD_ROUTE_STATS, "GET, HEAD"},
	{"/healthz", IPWD_ROUTE_HEALTHZ, "GET, HEAD"},
	{"/metrics", IPWD_ROUTE_METRICS, "GET, HEAD"},
	{"/v1/history", IPWD_ROUTE_HISTORY, "GET, HEAD"},
	{"/v1/history/count", IPWD_ROUTE_HISTORY_COUNT, "GET, HEAD"},
};

/* Is @m in the comma-separated @list? */
static bool method_in(const char *m, const char *list)
{
	size_t n = strlen(m);
	const char *p = list;

	while ((p = strstr(p, m)) != NULL) {
		if ((p == list || p[-1] == ' ') &&
		    (p[n] == '\0' || p[n] == ','))
			return true;
		p += n;
	}
	return false;
}

int ipwd_api_route(const char *url, const char *method, enum ipwd_route *route,
		   const char **allow)
{
	size_t i;

	for (i = 0; i < sizeof(routes) / sizeof(routes[0]); i++) {
		if (strcmp(url, routes[i].path) != 0)
			continue;
		*route = routes[i].route;
		*allow = routes[i].methods;
		if (*method == '\0' || strchr(method, ',') ||
		    !method_in(method, routes[i].methods))
			return IPWD_E_METHOD_NOT_ALLOWED;
		return 0;
	}
	return IPWD_E_NOT_FOUND;
}

/* ---------------------------------------------------------------- */
/* Helpers */

static int64_t now_s(void)
{
	return (int64_t)time(NULL);
}

static json_t *iso_time(int64_t t)
{
	char buf[32];
	time_t tt = (time_t)t;
	struct tm tm;

	if (t == 0 || gmtime_r(&tt, &tm) == NULL)
		return json_null();
	strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%SZ", &tm);
	return json_string(buf);
}

static const char *list_name(enum ipw_list l)
{
	return l == IPW_LIST_BAN ? "bans" : "allows";
}

/* Metadata the writer did not give is "" in the table, null on the wire. */
static json_t *str_or_null(const char *s)
{
	return *s ? json_string(s) : json_null();
}

static json_t *entry_json(const struct ipw_entry_info *e, int64_t now)
{
	char t[IPW_ADDR_STRLEN];
	json_t *o;

	ipw_addr_format(&e->target, t, sizeof(t));
	o = json_pack(
		"{s:s, s:s, s:o, s:o, s:o, s:I, s:o, s:s, s:o, s:b, "
		"s:I, s:o}",
		"target", t, "list", list_name(e->list), "expires_at",
		iso_time(e->expires), "ttl_left",
		e->expires ?
			json_integer(e->expires > now ? e->expires - now : 0) :
			json_null(),
		"created_at", iso_time(e->created), "score",
		(json_int_t)e->score, "reason", str_or_null(e->reason), "actor",
		e->actor, "source", str_or_null(e->source), "auto",
		(e->flags & IPW_ENTRY_AUTO) != 0, "hits", (json_int_t)e->hits,
		"last_hit_at", iso_time(e->last_hit));
	return o;
}

/* Refuse unknown or repeated query parameters. 0 or -1 (answered). */
static int check_args(struct ipwd_req *r, struct ipwd_resp *o,
		      const char *const *allowed)
{
	const char *bad;
	bool dup;

	bad = ipwd_req_unknown_arg(r, allowed, &dup);
	if (bad == NULL)
		return 0;
	if (dup)
		ipwd_resp_error(o, IPWD_E_INVALID_PARAMETER, bad,
				"query parameter \"%.64s\" given twice", bad);
	else
		ipwd_resp_error(o, IPWD_E_UNKNOWN_PARAMETER, bad,
				"unknown query parameter \"%.64s\"", bad);
	return -1;
}

/* The API error of a write the table refused with @rc. */
static json_t *table_error_obj(int rc, const char *target,
			       enum ipwd_apierr *err)
{
	char msg[256];

	switch (rc) {
	case IPW_ETABLE_COVERED:
		*err = IPWD_E_COVERED_BY_ALLOW;
		snprintf(msg, sizeof(msg),
			 "%s is wholly covered by an allow entry; a ban there "
			 "would never match",
			 target);
		return error_obj(*err, "target", msg);
	case IPW_ETABLE_FULL:
		*err = IPWD_E_TABLE_FULL;
		return error_obj(*err, NULL,
				 "the table is full (max_entries); automatic "
				 "bans are refused until entries expire");
	case IPW_ENOSPC:
	case IPW_EIO:
		*err = IPWD_E_STORE_UNAVAILABLE;
		snprintf(msg, sizeof(msg),
			 "the durable store cannot take writes (%s); nothing "
			 "was changed, retry later",
			 ipw_strerror(rc));
		return error_obj(*err, NULL, msg);
	case IPW_ETABLE_EXPIRED:
	case IPW_ERANGE:
		*err = IPWD_E_INVALID_TTL;
		return error_obj(*err, "ttl", ipw_strerror(rc));
	default:
		*err = IPWD_E_INTERNAL;
		return error_obj(*err, NULL, ipw_strerror(rc));
	}
}

static void table_error(struct ipwd_resp *o, int rc, const char *target)
{
	enum ipwd_apierr err;
	json_t *e = table_error_obj(rc, target, &err);

	resp_error_obj(o, err, e);
}

/* ---------------------------------------------------------------- */
/* GET /v1/check */

static void h_check(struct ipwd_req *r, struct ipwd_resp *o)
{
	static const char *const allowed[] = {"ip", NULL};
	char ip[IPW_ADDR_STRLEN], ent[IPW_ADDR_STRLEN], msg[200], exp[32];
	struct ipw_verdict v;
	struct ipw_addr a;
	const char *s;
	size_t pos = 0;
	bool present;
	char *body;
	int rc, n;

	if (check_args(r, o, allowed))
		return;
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
	body = malloc(384);
	if (body == NULL) {
		ipwd_resp_error(o, IPWD_E_INTERNAL, NULL, "out of memory");
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
			     list_name(v.list), ent, exp);
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

/* ---------------------------------------------------------------- */
/* POST /v1/bans, /v1/allow */

static void h_add(struct ipwd_req *r, struct ipwd_resp *o, enum ipw_list list)
{
	static const char *const allowed[] = {NULL};
	struct ipw_entry_info info;
	struct ipwd_op op = {0};
	struct ipwd_perr pe;
	enum ipw_change what;
	char t[IPW_ADDR_STRLEN];
	json_t *body;
	int rc;

	if (check_args(r, o, allowed))
		return;
	if (ipwd_parse_body(r->body, r->len, &body, &pe)) {
		resp_perr(o, &pe);
		return;
	}
	if (ipwd_parse_entry(body, list, now_s(),
			     live_get(r->d, default_ban_ttl), &op.spec, &pe)) {
		resp_perr(o, &pe);
		json_decref(body);
		return;
	}
	op.action = list == IPW_LIST_BAN ? IPWD_ACT_BAN : IPWD_ACT_ALLOW;
	op.actor = r->actor;
	rc = ipwd_ops_apply(r->d->ops, &op, &what, &info);
	if (rc != 0) {
		ipw_addr_format(&op.spec.target, t, sizeof(t));
		table_error(o, rc, t);
		json_decref(body);
		return;
	}
	json_decref(body);
	set_json(o, what == IPW_CHANGE_ADDED ? 201 : 200,
		 json_pack("{s:s, s:o}", "result", ipw_change_name(what),
			   "entry", entry_json(&info, now_s())));
}

/* ---------------------------------------------------------------- */
/* POST /v1/bans/batch */

static void h_batch(struct ipwd_req *r, struct ipwd_resp *o)
{
	static const char *const allowed[] = {NULL};
	struct ipw_entry_spec *specs = NULL;
	size_t i, n = 0, counts[8] = {0}, failed = 0;
	enum ipw_change *whats = NULL;
	struct ipwd_perr pe;
	json_t *body, *errs;
	int *rcs = NULL;

	if (check_args(r, o, allowed))
		return;
	if (ipwd_parse_body(r->body, r->len, &body, &pe)) {
		resp_perr(o, &pe);
		return;
	}
	if (ipwd_parse_batch(body, live_get(r->d, max_batch), now_s(),
			     live_get(r->d, default_ban_ttl), &specs, &n,
			     &pe)) {
		resp_perr(o, &pe);
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
	ipwd_ops_add_batch(r->d->ops, specs, n, rcs, whats);
	/* The store refused the whole group: nothing of the batch was
	 * applied, so the batch as a whole is unavailable (503), as a single
	 * write would be. */
	for (i = 0; i < n && (rcs[i] == IPW_ENOSPC || rcs[i] == IPW_EIO); i++)
		;
	if (n && i == n) {
		table_error(o, rcs[0], "");
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
			e = table_error_obj(rcs[i], t, &err);
			if (e == NULL)
				continue;
			json_object_set_new(e, "index",
					    json_integer((json_int_t)i));
			json_object_set_new(e, "target", json_string(t));
			json_array_append_new(errs, e);
		}
	}
	set_json(o, 200,
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

/* ---------------------------------------------------------------- */
/* DELETE /v1/bans, /v1/allow */

static int target_arg(struct ipwd_req *r, struct ipwd_resp *o,
		      struct ipw_addr *a)
{
	char msg[200];
	size_t pos = 0;
	bool present;
	const char *s = ipwd_req_arg(r, "target", &present);
	int rc;

	if (s == NULL) {
		ipwd_resp_error(o, IPWD_E_MISSING_FIELD, "target",
				"query parameter target is required");
		return -1;
	}
	rc = ipw_addr_parse(s, strlen(s), 0, a, &pos);
	if (rc != 0) {
		ipw_addr_error_msg(msg, sizeof(msg), s, strlen(s), rc, pos);
		ipwd_resp_error(o, IPWD_E_INVALID_TARGET, "target",
				"target: %s", msg);
		return -1;
	}
	return 0;
}

static void h_del(struct ipwd_req *r, struct ipwd_resp *o, enum ipw_list list)
{
	static const char *const allowed[] = {"target", NULL};
	struct ipw_entry_info info;
	struct ipwd_op op = {0};
	enum ipw_change what;
	int rc;

	if (check_args(r, o, allowed) || target_arg(r, o, &op.spec.target))
		return;
	op.spec.list = list;
	op.action = list == IPW_LIST_BAN ? IPWD_ACT_UNBAN : IPWD_ACT_DISALLOW;
	op.actor = r->actor;
	rc = ipwd_ops_apply(r->d->ops, &op, &what, &info);
	if (rc != 0) {
		table_error(o, rc, "");
		return;
	}
	if (what == IPW_CHANGE_REMOVED)
		set_json(o, 200,
			 json_pack("{s:s, s:o}", "result", "removed", "entry",
				   entry_json(&info, now_s())));
	else
		set_json(o, 200, json_pack("{s:s}", "result", "absent"));
}

/* ---------------------------------------------------------------- */
/* GET /v1/bans, /v1/allow */

/*
 * Listing pages come from a view: the keys of each list, taken from a
 * snapshot of the table and sorted (IPv4 before IPv6, by address, shorter prefix
 * first). Building one costs a snapshot and a sort, O(n log n); a page
 * from it costs a binary search for the cursor and a scan that stops after
 * limit + 1 matches. The last view is kept and reused while the table has
 * not changed (ops generation), and for up to VIEW_PAGING_NS by requests
 * that continue a paging (they carry a cursor), so paging through a large
 * table keeps one order even while bans pour in. The entries of a page are
 * read from the table when the page is cut (ipw_table_get(), a brief
 * writer lock each), so what a page shows is current. A view
 * nobody asked for in VIEW_IDLE_NS is dropped (ipwd_api_tick()).
 */
#define VIEW_PAGING_NS (10ull * 1000000000u)
#define VIEW_IDLE_NS   (30ull * 1000000000u)

struct vkey {
	struct ipw_addr key;
	uint32_t flags;
	int64_t expires;
};

struct view {
	uint64_t gen;
	uint64_t built_ns;
	uint64_t used_ns; /* atomic */
	int refs;	  /* under views_lock */
	struct vkey *keys[2];
	size_t n[2];
};

static pthread_mutex_t views_lock = PTHREAD_MUTEX_INITIALIZER;
static struct view *cur_view;

static void view_free(struct view *v)
{
	free(v->keys[0]);
	free(v->keys[1]);
	free(v);
}

static void view_put(struct view *v)
{
	bool last;

	pthread_mutex_lock(&views_lock);
	last = --v->refs == 0;
	pthread_mutex_unlock(&views_lock);
	if (last)
		view_free(v);
}

static int vkey_cmp(const void *a, const void *b)
{
	return ipw_addr_cmp(&((const struct vkey *)a)->key,
			    &((const struct vkey *)b)->key);
}

static struct view *view_build(struct ipwd *d)
{
	struct view *v = calloc(1, sizeof(*v));
	struct ipw_snapshot *snap;
	size_t i, n, l;

	if (v == NULL)
		return NULL;
	/* Read before the snapshot: a write in between makes the view look
	 * older than it is (rebuilt once more), never newer. */
	v->gen = ipwd_ops_generation(d->ops);
	if (ipw_table_snapshot(d->table, &snap) != 0) {
		free(v);
		return NULL;
	}
	n = ipw_snapshot_count(snap);
	v->keys[0] = malloc((n ? n : 1) * sizeof(struct vkey));
	v->keys[1] = malloc((n ? n : 1) * sizeof(struct vkey));
	if (v->keys[0] == NULL || v->keys[1] == NULL) {
		ipw_snapshot_free(snap);
		view_free(v);
		return NULL;
	}
	for (i = 0; i < n; i++) {
		struct ipw_entry_key k;
		struct vkey *o;

		ipw_snapshot_key(snap, i, &k);
		l = k.list == IPW_LIST_BAN ? 0 : 1;
		o = &v->keys[l][v->n[l]++];
		o->key = k.target;
		o->flags = k.flags;
		o->expires = k.expires;
	}
	ipw_snapshot_free(snap); /* the view keeps only the keys */
	for (l = 0; l < 2; l++)
		qsort(v->keys[l], v->n[l], sizeof(struct vkey), vkey_cmp);
	v->built_ns = ipwd_now_ns();
	v->used_ns = v->built_ns;
	v->refs = 1; /* the caller's */
	return v;
}

/* The cached view if it will do for a request at generation @gen,
 * referenced; NULL otherwise. */
static struct view *view_cached(uint64_t gen, bool paging)
{
	uint64_t now = ipwd_now_ns();
	struct view *v;

	pthread_mutex_lock(&views_lock);
	v = cur_view;
	if (v &&
	    (v->gen == gen || (paging && now - v->built_ns < VIEW_PAGING_NS))) {
		v->refs++;
		__atomic_store_n(&v->used_ns, now, __ATOMIC_RELAXED);
	} else {
		v = NULL;
	}
	pthread_mutex_unlock(&views_lock);
	return v;
}

/* One view is built at a time: listings run on the blocking threads (up
 * to [http] blocking_threads at once), and a view of 1M entries is ~50
 * MB, so concurrent requests after a change wait for the one build and
 * share it rather than each building a copy. */
static pthread_mutex_t build_lock = PTHREAD_MUTEX_INITIALIZER;

/* A current view (see above), referenced; NULL on ENOMEM. */
static struct view *view_get(struct ipwd *d, bool paging)
{
	uint64_t gen = ipwd_ops_generation(d->ops);
	struct view *v, *old = NULL;

	v = view_cached(gen, paging);
	if (v)
		return v;
	pthread_mutex_lock(&build_lock);
	v = view_cached(gen, paging); /* built while this one waited? */
	if (v) {
		pthread_mutex_unlock(&build_lock);
		return v;
	}
	v = view_build(d);
	if (v == NULL) {
		pthread_mutex_unlock(&build_lock);
		return NULL;
	}
	/* in the cache before the next builder looks */
	pthread_mutex_lock(&views_lock);
	v->refs++; /* the cache's */
	old = cur_view;
	cur_view = v;
	if (old && --old->refs != 0)
		old = NULL;
	pthread_mutex_unlock(&views_lock);
	pthread_mutex_unlock(&build_lock);
	if (old)
		view_free(old);
	return v;
}

void ipwd_api_tick(bool final)
{
	struct view *old = NULL;
	uint64_t now = ipwd_now_ns();

	pthread_mutex_lock(&views_lock);
	if (cur_view && (final || now - __atomic_load_n(&cur_view->used_ns,
							__ATOMIC_RELAXED) >
					  VIEW_IDLE_NS)) {
		old = cur_view;
		cur_view = NULL;
		if (--old->refs != 0)
			old = NULL;
	}
	pthread_mutex_unlock(&views_lock);
	if (old)
		view_free(old);
}

static void h_list(struct ipwd_req *r, struct ipwd_resp *o, enum ipw_list list)
{
	static const char *const allowed[] = {
		"limit", "cursor", "family", "kind", "within", "auto", NULL};
	struct ipw_addr cursor, within;
	bool has_cursor = false, has_within = false, present;
	int family = 0, kind = 0, autof = -1;
	size_t limit = 100, lo, hi, i, found = 0;
	struct vkey *keys, *last = NULL;
	int64_t now = now_s();
	struct view *v;
	const char *s;
	json_t *items;
	uint64_t u;

	if (check_args(r, o, allowed))
		return;
	if ((s = ipwd_req_arg(r, "limit", &present)) || present) {
		if (s == NULL || ipwd_parse_uint(s, LIST_LIMIT_MAX, &u) ||
		    u == 0) {
			ipwd_resp_error(o, IPWD_E_INVALID_PARAMETER, "limit",
					"limit must be 1..%d", LIST_LIMIT_MAX);
			return;
		}
		limit = (size_t)u;
	}
	if ((s = ipwd_req_arg(r, "cursor", &present)) || present) {
		if (s == NULL || ipw_addr_parse_str(s, 0, &cursor) != 0) {
			ipwd_resp_error(o, IPWD_E_INVALID_PARAMETER, "cursor",
					"cursor must be the \"next\" of a "
					"previous page");
			return;
		}
		has_cursor = true;
	}
	if ((s = ipwd_req_arg(r, "family", &present)) || present) {
		if (s && strcmp(s, "4") == 0) {
			family = IPW_AF_INET;
		} else if (s && strcmp(s, "6") == 0) {
			family = IPW_AF_INET6;
		} else {
			ipwd_resp_error(o, IPWD_E_INVALID_PARAMETER, "family",
					"family must be 4 or 6");
			return;
		}
	}
	if ((s = ipwd_req_arg(r, "kind", &present)) || present) {
		if (s && strcmp(s, "address") == 0) {
			kind = 1;
		} else if (s && strcmp(s, "prefix") == 0) {
			kind = 2;
		} else {
			ipwd_resp_error(o, IPWD_E_INVALID_PARAMETER, "kind",
					"kind must be address or prefix");
			return;
		}
	}
	if ((s = ipwd_req_arg(r, "within", &present)) || present) {
		if (s == NULL || ipw_addr_parse_str(s, 0, &within) != 0) {
			ipwd_resp_error(o, IPWD_E_INVALID_PARAMETER, "within",
					"within must be an address or a "
					"CIDR prefix without host bits");
			return;
		}
		has_within = true;
	}
	if ((s = ipwd_req_arg(r, "auto", &present)) || present) {
		bool b;

		if (s == NULL || ipwd_parse_bool(s, &b)) {
			ipwd_resp_error(o, IPWD_E_INVALID_PARAMETER, "auto",
					"auto must be true or false");
			return;
		}
		autof = b;
	}

	v = view_get(r->d, has_cursor);
	if (v == NULL) {
		ipwd_resp_error(o, IPWD_E_INTERNAL, NULL, "out of memory");
		return;
	}
	keys = v->keys[list];
	/* First key after the cursor. */
	lo = 0;
	hi = v->n[list];
	while (has_cursor && lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (ipw_addr_cmp(&keys[mid].key, &cursor) <= 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	items = json_array();
	for (i = lo; i < v->n[list]; i++) {
		const struct vkey *k = &keys[i];
		struct ipw_entry_info e;

		if (k->expires && k->expires <= now)
			continue;
		if (family && k->key.family != family)
			continue;
		if (kind && (kind == 1) != ipw_addr_is_host(&k->key))
			continue;
		if (autof >= 0 && (autof == 1) != !!(k->flags & IPW_ENTRY_AUTO))
			continue;
		if (has_within && !ipw_addr_contains(&within, &k->key))
			continue;
		/* The view says which targets, in what order; the entry
		 * itself is read now, so hits, expiry and metadata are
		 * current. One removed since the view was built is
		 * skipped. */
		if (ipw_table_get(r->d->table, list, &k->key, &e) != 0 ||
		    (e.expires && e.expires <= now))
			continue;
		if (found == limit) {
			found++; /* one more exists: there is a next page */
			break;
		}
		json_array_append_new(items, entry_json(&e, now));
		last = &keys[i];
		found++;
	}
	if (found > limit) {
		char t[IPW_ADDR_STRLEN];

		ipw_addr_format(&last->key, t, sizeof(t));
		set_json(o, 200,
			 json_pack("{s:o, s:s}", "items", items, "next", t));
	} else {
		set_json(o, 200,
			 json_pack("{s:o, s:n}", "items", items, "next"));
	}
	view_put(v);
}

/* ---------------------------------------------------------------- */
/* Mode, top, stats, health, metrics */

static void h_mode(struct ipwd_req *r, struct ipwd_resp *o)
{
	static const char *const allowed[] = {NULL};
	struct ipwd_op op = {0};
	enum ipw_change what;
	struct ipwd_perr pe;
	json_t *body;

	if (check_args(r, o, allowed))
		return;
	if (r->method != IPWD_METHOD_PUT) {
		set_json(o, 200,
			 json_pack("{s:s}", "mode",
				   ipw_mode_name(ipw_table_mode(r->d->table))));
		return;
	}
	if (ipwd_parse_body(r->body, r->len, &body, &pe)) {
		resp_perr(o, &pe);
		return;
	}
	if (ipwd_parse_mode(body, &op.mode, &pe)) {
		resp_perr(o, &pe);
		json_decref(body);
		return;
	}
	json_decref(body);
	op.action = IPWD_ACT_MODE;
	op.actor = r->actor;
	if (ipwd_ops_apply(r->d->ops, &op, &what, NULL) != 0) {
		ipwd_resp_error(o, IPWD_E_INTERNAL, NULL, "mode not set");
		return;
	}
	set_json(o, 200,
		 json_pack("{s:s, s:s}", "mode", ipw_mode_name(op.mode),
			   "result",
			   what == IPW_CHANGE_MODE ? "changed" : "unchanged"));
}

static void h_top(struct ipwd_req *r, struct ipwd_resp *o)
{
	static const char *const allowed[] = {"k", NULL};
	struct ipw_entry_info *v;
	size_t k = 10, i, n;
	int64_t now = now_s();
	bool present;
	const char *s;
	json_t *items;
	uint64_t u;

	if (check_args(r, o, allowed))
		return;
	if ((s = ipwd_req_arg(r, "k", &present)) || present) {
		if (s == NULL || ipwd_parse_uint(s, TOP_K_MAX, &u) || u == 0) {
			ipwd_resp_error(o, IPWD_E_INVALID_PARAMETER, "k",
					"k must be 1..%d", TOP_K_MAX);
			return;
		}
		k = (size_t)u;
	}
	v = malloc(k * sizeof(*v));
	if (v == NULL) {
		ipwd_resp_error(o, IPWD_E_INTERNAL, NULL, "out of memory");
		return;
	}
	n = ipw_table_top(r->d->table, k, v);
	items = json_array();
	for (i = 0; i < n; i++)
		json_array_append_new(items, entry_json(&v[i], now));
	free(v);
	set_json(o, 200, json_pack("{s:o}", "items", items));
}

static void h_stats(struct ipwd_req *r, struct ipwd_resp *o)
{
	static const char *const allowed[] = {NULL};
	struct ipw_table_stats st;

	if (check_args(r, o, allowed))
		return;
	ipw_table_stats(r->d->table, &st);
	set_json(o, 200,
		 json_pack(
			 "{s:s, s:s, s:s, s:I, s:{s:{s:I, s:I}, s:{s:I, s:I}}, "
			 "s:{s:{s:I, s:I}, s:{s:I, s:I}}, s:I, s:I, s:I, s:I}",
			 "version", IPWALL_VERSION, "node",
			 ipwd_ops_node(r->d->ops), "mode",
			 ipw_mode_name(ipw_table_mode(r->d->table)),
			 "uptime_seconds",
			 (json_int_t)(now_s() - r->d->started), "entries",
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

static void h_metrics(struct ipwd_req *r, struct ipwd_resp *o)
{
	static const char *const allowed[] = {NULL};

	if (check_args(r, o, allowed))
		return;
	o->body = ipwd_metrics_render(r->d->table, &o->len);
	if (o->body == NULL) {
		ipwd_resp_error(o, IPWD_E_INTERNAL, NULL, "out of memory");
		return;
	}
	o->status = 200;
	o->content_type = "text/plain; version=0.0.4; charset=utf-8";
}

/* /healthz while serving: "store" is failing (the last commit failed),
 * damaged (the background check found damage), or ok; "store_check" is
 * the background check's state (none without a store). */
static json_t *health(struct ipwd *d)
{
	static const char *const checks[] = {"running", "ok", "damaged",
					     "failed"};
	enum ipwd_check_state cs = ipwd_store_check_state(d->check, NULL);
	const char *store = ipwd_ops_store_failing(d->ops)	 ? "failing" :
			    d->check && cs == IPWD_CHECK_DAMAGED ? "damaged" :
								   "ok";

	return json_pack("{s:s, s:s, s:s}", "status", "ok", "store", store,
			 "store_check", d->check ? checks[cs] : "none");
}

/* ---------------------------------------------------------------- */
/* GET /v1/history, GET /v1/history/count */

/*
 * The ops of a target from the store's history (history.h says which
 * rows), newest first, paged by op id, and the repeat-offender counts.
 * Read through the history's own connection: neither waits on the write
 * path. Without a store there is no history: 404 no_store.
 */

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
		"op", v->id, "ts", iso_time(v->time), "time",
		(json_int_t)v->time, "actor", hist_text(v->actor), "node",
		hist_text(v->node), "action", v->action, "result", v->result,
		"list", list_name(v->list), "target", t, "reason",
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
	if (ipwd_history_parse_time(s, strlen(s), now_s(), t) == 0)
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
		set_json(o, 200,
			 json_pack("{s:s, s:o, s:o}", "target", ts, "since",
				   has_since ? json_integer((json_int_t)since) :
					       json_null(),
				   "bans", bans));
		return;
	}
	snprintf(key, sizeof(key), "/%u", netlen);
	json_object_set_new(bans, key, json_integer((json_int_t)nn));
	set_json(o, 200,
		 json_pack("{s:s, s:o, s:o, s:s}", "target", ts, "since",
			   has_since ? json_integer((json_int_t)since) :
				       json_null(),
			   "bans", bans, "network", ns));
}

static void h_history(struct ipwd_req *r, struct ipwd_resp *o, bool count)
{
	static const char *const allowed[] = {
		"target", "since", "until", "action", "limit", "cursor", NULL};
	static const char *const allowed_count[] = {"target", "since", NULL};
	struct ipwd_history_query q = {.action = -1};
	struct ipwd_history_op *v = NULL;
	char t[IPW_ADDR_STRLEN];
	bool has_since = false, more;
	const char *s;
	json_t *items;
	size_t n, i;
	uint64_t u;
	int rc;

	if (check_args(r, o, count ? allowed_count : allowed) ||
	    target_arg(r, o, &q.target))
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
	set_json(o, 200,
		 json_pack("{s:s, s:o, s:o}", "target", t, "ops", items,
			   "next_cursor",
			   more ? json_string(v[n - 1].id) : json_null()));
	free(v);
}

void ipwd_api_handle(struct ipwd_req *r, struct ipwd_resp *o)
{
	switch (r->route) {
	case IPWD_ROUTE_CHECK:
		h_check(r, o);
		break;
	case IPWD_ROUTE_BANS:
	case IPWD_ROUTE_ALLOW: {
		enum ipw_list l = r->route == IPWD_ROUTE_BANS ? IPW_LIST_BAN :
								IPW_LIST_ALLOW;

		if (r->method == IPWD_METHOD_POST)
			h_add(r, o, l);
		else if (r->method == IPWD_METHOD_DELETE)
			h_del(r, o, l);
		else
			h_list(r, o, l);
		break;
	}
	case IPWD_ROUTE_BANS_BATCH:
		h_batch(r, o);
		break;
	case IPWD_ROUTE_MODE:
		h_mode(r, o);
		break;
	case IPWD_ROUTE_TOP:
		h_top(r, o);
		break;
	case IPWD_ROUTE_STATS:
		h_stats(r, o);
		break;
	case IPWD_ROUTE_HEALTHZ:
		if (live_get(r->d, stopping))
			set_json(o, 503,
				 json_pack("{s:s}", "status", "stopping"));
		else
			set_json(o, 200, health(r->d));
		break;
	case IPWD_ROUTE_METRICS:
		h_metrics(r, o);
		break;
	case IPWD_ROUTE_HISTORY:
	case IPWD_ROUTE_HISTORY_COUNT:
		h_history(r, o, r->route == IPWD_ROUTE_HISTORY_COUNT);
		break;
	default:
		ipwd_resp_error(o, IPWD_E_NOT_FOUND, NULL, "no such path");
		break;
	}
}
