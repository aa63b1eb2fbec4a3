/* SPDX-License-Identifier: MIT */
/*
 * ipwalld's HTTP front: GNU libmicrohttpd (docs/architecture.md says why).
 *
 * TCP: one MHD daemon per worker thread, each with its own epoll set and
 * its own SO_REUSEPORT listening socket on the same address, so the kernel
 * spreads connections over workers (measured in docs/http-library.md).
 * Unix socket: one more MHD daemon with one thread; requests on it are
 * trusted by file permission, and their actor is the peer's unix user.
 *
 * Request life: MHD calls the access handler once when the headers are in
 * (route, method, auth, Content-Length checked; a body the request may
 * not send is never buffered), once per body fragment (appended up to
 * max_body), and once at the end, when the handler in api.c runs and the
 * answer is queued. Limits (connections, per-IP connections, idle timeout,
 * header bytes) are MHD's own options.
 *
 * Requests that wait. A write waits until its op is durable (ops.h), a
 * millisecond or more with an fsync; a history query reads the store
 * (0.1 s for a busy /16); the first listing page after a change sorts the
 * list (0.2 s at 1M entries). A worker thread that waited would stop
 * serving the checks of all its connections, and only as many writes as
 * there are workers could share one group commit. So such a request
 * (an authenticated write once its body is in, GET /v1/history and
 * /v1/history/count, GET /v1/bans and /v1/allow) is handed to a pool of
 * blocking threads ([http] blocking_threads) and its connection suspended
 * (MHD_suspend_connection); the blocking thread runs the handler, keeps
 * the answer and resumes the connection, and MHD calls the access handler
 * once more to queue it. Everything else (checks first) runs on the
 * worker.
 */
#ifndef IPWALL_DAEMON_HTTP_H
#define IPWALL_DAEMON_HTTP_H

#include <stdbool.h>
#include <stddef.h>

#include "api/apierr.h"
#include "api/daemon.h"
#include "api/metrics.h"
#include "api/routes.h"

struct MHD_Connection;
struct ipwd_resp;

/* One request as the handlers see it. */
struct ipwd_req {
	struct ipwd *d;
	struct MHD_Connection *conn;
	const struct ipwd_route_def *def; /* NULL: not routed (404, 405) */
	enum ipwd_route route;		  /* the metrics' label */
	enum ipwd_method method;
	const char *url;
	bool unix_peer;
	bool authed;	       /* a valid token, or the unix socket */
	enum ipwd_scope scope; /* what the token (or the socket) may do */
	unsigned locked_for;   /* s the address stays locked out (guard.h) */
	bool auth_given;       /* an Authorization header was present */
	bool too_large;
	bool bad_ctype;
	bool write; /* POST, PUT or DELETE */
	bool late;  /* arrived after the stop began */
	char actor[80];
	char *body;
	size_t len, cap;
	size_t seen;	 /* body bytes received, kept or not */
	uint64_t t0;	 /* ipwd_now_ns() at the first call */
	unsigned status; /* answered status, for the metrics */
	int route_err;	 /* 0, IPWD_E_NOT_FOUND or _METHOD_NOT_ALLOWED */
	/* The raw request target, as MHD's URI log callback saw it before
	 * decoding it in place (valid until the first call), and the
	 * refusal its check or the headers' earned: answered at the first
	 * call, without reading a body. */
	const char *raw_uri;
	size_t raw_len;
	int bad;       /* 0, or an enum ipwd_apierr + 1 */
	char *bad_msg; /* malloc'd */
	char bad_field[65];
	/* A request handed to the blocking threads: queued, then done with its
	 * answer in @resp (written by a blocking thread before it resumes the
	 * connection; read by the worker after). */
	struct ipwd_req *wnext;
	int wstate;
	struct ipwd_resp *resp;
};

/* What a handler answers. @body is malloc'd (freed by http.c). */
struct ipwd_resp {
	unsigned status;
	char *body;
	size_t len;
	const char *content_type; /* NULL: application/json */
	const char *allow;	  /* "Allow" header for 405 */
	bool www_auth;		  /* add WWW-Authenticate */
	unsigned retry_after;	  /* add Retry-After (seconds) when set */
	int err;		  /* enum ipwd_apierr, or -1 */
};

/* The value of query parameter @name (percent-decoded), NULL if absent;
 * *present tells "?name" (no value) apart from absent. */
const char *ipwd_req_arg(struct ipwd_req *r, const char *name, bool *present);
/* The first query parameter not in @allowed (NULL-terminated), or NULL. A
 * parameter given twice is reported too (*dup set). */
const char *ipwd_req_unknown_arg(struct ipwd_req *r, const char *const *allowed,
				 bool *dup);

/* h_list.c: housekeeping, called by the main loop each tick (and with
 * @final at exit): drops a listing view idle for 30 s. */
void ipwd_api_tick(bool final);

/* api.c: answer a complete request. */
void ipwd_api_handle(struct ipwd_req *r, struct ipwd_resp *out);

int ipwd_http_start(struct ipwd *d);
/* Stop accepting, wait up to @timeout_s for requests in progress, stop. */
void ipwd_http_stop(struct ipwd *d, unsigned timeout_s);
/* The TCP port actually bound (for --listen ADDR:0), 0 if none. */
unsigned ipwd_http_port(struct ipwd *d);
/* The per-address accounting's counters (guard.h), zeros before start. */
struct ipwd_guard_stats;
void ipwd_http_guard_stats(struct ipwd *d, struct ipwd_guard_stats *out);
/* SIGHUP: the lock-out settings from d->cfg. */
void ipwd_http_reload(struct ipwd *d);

/* respond.c: fill @out with a JSON error. @field may be NULL. */
void ipwd_resp_error(struct ipwd_resp *out, enum ipwd_apierr err,
		     const char *field, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

#endif /* IPWALL_DAEMON_HTTP_H */
