/* SPDX-License-Identifier: MIT */
/*
 * The route table (see routes.h) and the dispatch of a request through
 * it. A lookup is a walk of a dozen rows comparing the path: less than
 * the parsing of the request line that found it.
 */
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include "api/api.h"
#include "api/routes.h"

#define NONE_ARGS ((const char *const[]){NULL})
#define ARGS(...) ((const char *const[]){__VA_ARGS__, NULL})

#define GET    IPWD_METHOD_GET
#define POST   IPWD_METHOD_POST
#define PUT    IPWD_METHOD_PUT
#define DELETE IPWD_METHOD_DELETE

/* path, method, route label, scope, blocking pool, handler, parameters */
const struct ipwd_route_def ipwd_routes[] = {
	{"/v1/check", GET, IPWD_ROUTE_CHECK, IPWD_SCOPE_CHECK, false,
	 ipwd_h_check, ARGS("ip")},
	{"/v1/bans", GET, IPWD_ROUTE_BANS, IPWD_SCOPE_CHECK, true,
	 ipwd_h_list_bans,
	 ARGS("limit", "cursor", "family", "kind", "within", "auto")},
	{"/v1/bans", POST, IPWD_ROUTE_BANS, IPWD_SCOPE_BAN, true, ipwd_h_ban,
	 NONE_ARGS},
	{"/v1/bans", DELETE, IPWD_ROUTE_BANS, IPWD_SCOPE_BAN, true,
	 ipwd_h_unban, ARGS("target")},
	{"/v1/bans/batch", POST, IPWD_ROUTE_BANS_BATCH, IPWD_SCOPE_BAN, true,
	 ipwd_h_batch, NONE_ARGS},
	{"/v1/allow", GET, IPWD_ROUTE_ALLOW, IPWD_SCOPE_CHECK, true,
	 ipwd_h_list_allows,
	 ARGS("limit", "cursor", "family", "kind", "within", "auto")},
	{"/v1/allow", POST, IPWD_ROUTE_ALLOW, IPWD_SCOPE_ADMIN, true,
	 ipwd_h_allow, NONE_ARGS},
	{"/v1/allow", DELETE, IPWD_ROUTE_ALLOW, IPWD_SCOPE_ADMIN, true,
	 ipwd_h_disallow, ARGS("target")},
	{"/v1/mode", GET, IPWD_ROUTE_MODE, IPWD_SCOPE_CHECK, false,
	 ipwd_h_mode_get, NONE_ARGS},
	{"/v1/mode", PUT, IPWD_ROUTE_MODE, IPWD_SCOPE_ADMIN, true,
	 ipwd_h_mode_put, NONE_ARGS},
	{"/v1/top", GET, IPWD_ROUTE_TOP, IPWD_SCOPE_CHECK, false, ipwd_h_top,
	 ARGS("k", "by")},
	{"/v1/stats", GET, IPWD_ROUTE_STATS, IPWD_SCOPE_CHECK, false,
	 ipwd_h_stats, NONE_ARGS},
	{"/healthz", GET, IPWD_ROUTE_HEALTHZ, IPWD_SCOPE_NONE, false,
	 ipwd_h_healthz, NULL},
	{"/metrics", GET, IPWD_ROUTE_METRICS, IPWD_SCOPE_CHECK, false,
	 ipwd_h_metrics, NONE_ARGS},
	{"/v1/history", GET, IPWD_ROUTE_HISTORY, IPWD_SCOPE_CHECK, true,
	 ipwd_h_history,
	 ARGS("target", "since", "until", "action", "limit", "cursor")},
	{"/v1/history/count", GET, IPWD_ROUTE_HISTORY_COUNT, IPWD_SCOPE_CHECK,
	 true, ipwd_h_history_count, ARGS("target", "since")},
	{"/v1/events", POST, IPWD_ROUTE_EVENTS, IPWD_SCOPE_REPORT, false,
	 ipwd_h_events, NONE_ARGS},
	{"/v1/cluster", GET, IPWD_ROUTE_CLUSTER, IPWD_SCOPE_CHECK, false,
	 ipwd_h_cluster, NONE_ARGS},
};
const size_t ipwd_nroutes = sizeof(ipwd_routes) / sizeof(ipwd_routes[0]);

static const char *const method_names[IPWD_METHOD_COUNT] = {
	"GET", "POST", "PUT", "DELETE", "other"};

static const char *const route_names[IPWD_ROUTE_COUNT] = {
	"/v1/check",   "/v1/bans",    "/v1/bans/batch",	   "/v1/allow",
	"/v1/mode",    "/v1/top",     "/v1/stats",	   "/healthz",
	"/metrics",    "/v1/history", "/v1/history/count", "/v1/events",
	"/v1/cluster", "other",
};

const char *ipwd_route_name(enum ipwd_route r)
{
	return (unsigned)r < IPWD_ROUTE_COUNT ? route_names[r] : "other";
}

const char *ipwd_method_name(enum ipwd_method m)
{
	return (unsigned)m < IPWD_METHOD_COUNT ? method_names[m] : "other";
}

enum ipwd_method ipwd_method_of(const char *m)
{
	int i;

	for (i = 0; i < IPWD_METHOD_OTHER; i++)
		if (strcmp(m, method_names[i]) == 0)
			return (enum ipwd_method)i;
	return IPWD_METHOD_OTHER;
}

/* The Allow header of each route label: its rows' methods in table
 * order, GET followed by HEAD. Built once. */
static char allow[IPWD_ROUTE_COUNT][48];
static pthread_once_t allow_once = PTHREAD_ONCE_INIT;

static void build_allow(void)
{
	size_t i;

	for (i = 0; i < ipwd_nroutes; i++) {
		const struct ipwd_route_def *d = &ipwd_routes[i];
		char *a = allow[d->route];
		size_t n = strlen(a);

		snprintf(a + n, sizeof(allow[0]) - n, "%s%s%s", n ? ", " : "",
			 method_names[d->method],
			 d->method == IPWD_METHOD_GET ? ", HEAD" : "");
	}
}

const struct ipwd_route_def *ipwd_route_find(const char *url,
					     const char *method, int *err,
					     const char **allowed)
{
	enum ipwd_method m = strcmp(method, "HEAD") == 0 ?
				     IPWD_METHOD_GET :
				     ipwd_method_of(method);
	const struct ipwd_route_def *path = NULL;
	size_t i;

	for (i = 0; i < ipwd_nroutes; i++) {
		if (strcmp(url, ipwd_routes[i].path) != 0)
			continue;
		path = &ipwd_routes[i];
		if (ipwd_routes[i].method == m)
			return &ipwd_routes[i];
	}
	if (path == NULL) {
		*err = IPWD_E_NOT_FOUND;
		return NULL;
	}
	pthread_once(&allow_once, build_allow);
	*err = IPWD_E_METHOD_NOT_ALLOWED;
	*allowed = allow[path->route];
	return NULL;
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

void ipwd_api_handle(struct ipwd_req *r, struct ipwd_resp *o)
{
	if (r->def == NULL) {
		ipwd_resp_error(o, IPWD_E_NOT_FOUND, NULL, "no such path");
		return;
	}
	if (r->def->params && check_args(r, o, r->def->params))
		return;
	r->def->handler(r, o);
}
