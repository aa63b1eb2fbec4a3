/* SPDX-License-Identifier: MIT */
/*
 * The HTTP API's route table: one row per (method, path) with everything
 * the front needs to know about it: its handler, the query parameters it
 * takes, the scope a caller needs, and whether it may wait (runs on the
 * blocking pool, http.h) or runs on the worker. Routing, the Allow
 * header, authentication, parameter checks, the pool and the metrics'
 * route label all read this one table.
 */
#ifndef IPWALL_DAEMON_API_ROUTES_H
#define IPWALL_DAEMON_API_ROUTES_H

#include <stdbool.h>
#include <stddef.h>

#include "api/auth.h"

/* The metrics' route label: one per path, "other" for everything else. */
enum ipwd_route {
	IPWD_ROUTE_CHECK,
	IPWD_ROUTE_BANS,
	IPWD_ROUTE_BANS_BATCH,
	IPWD_ROUTE_ALLOW,
	IPWD_ROUTE_MODE,
	IPWD_ROUTE_TOP,
	IPWD_ROUTE_STATS,
	IPWD_ROUTE_HEALTHZ,
	IPWD_ROUTE_METRICS,
	IPWD_ROUTE_HISTORY,
	IPWD_ROUTE_HISTORY_COUNT,
	IPWD_ROUTE_EVENTS,
	IPWD_ROUTE_CLUSTER,
	IPWD_ROUTE_OTHER, /* 404s: one label, so scanners cannot grow it */
	IPWD_ROUTE_COUNT
};

enum ipwd_method {
	IPWD_METHOD_GET, /* and HEAD, answered as GET without the body */
	IPWD_METHOD_POST,
	IPWD_METHOD_PUT,
	IPWD_METHOD_DELETE,
	IPWD_METHOD_OTHER,
	IPWD_METHOD_COUNT
};

struct ipwd_req;
struct ipwd_resp;

struct ipwd_route_def {
	const char *path;
	enum ipwd_method method;
	enum ipwd_route route;
	enum ipwd_scope scope;
	bool blocking; /* may wait: runs on the blocking pool */
	void (*handler)(struct ipwd_req *r, struct ipwd_resp *o);
	/* The query parameters it takes (NULL-terminated); any other, or
	 * one given twice, is refused before the handler runs. NULL: not
	 * checked. */
	const char *const *params;
};

extern const struct ipwd_route_def ipwd_routes[];
extern const size_t ipwd_nroutes;

/*
 * ipwd_route_find() - the row for @url and @method (HEAD finds GET's).
 * Returns it, or NULL with *@err IPWD_E_NOT_FOUND (no such path) or
 * IPWD_E_METHOD_NOT_ALLOWED (*@allow: the path's methods, for the Allow
 * header; a static string).
 */
const struct ipwd_route_def *ipwd_route_find(const char *url,
					     const char *method, int *err,
					     const char **allow);
const char *ipwd_route_name(enum ipwd_route r);
enum ipwd_method ipwd_method_of(const char *method);
const char *ipwd_method_name(enum ipwd_method m);

#endif /* IPWALL_DAEMON_API_ROUTES_H */
