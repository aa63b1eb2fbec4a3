/* SPDX-License-Identifier: MIT */
/*
 * The HTTP front (see http.h for the design).
 *
 * Budget of the hot path (GET /v1/check on a keep-alive connection): MHD
 * parses the request and the query; the first call allocates the request
 * context (one small calloc); the last call runs the handler, which checks
 * the table and formats ~200 bytes; no lock is taken anywhere on the way
 * (metrics are per thread, see metrics.h).
 *
 * Graceful stop: every MHD daemon is quiesced (it stops accepting; its
 * listening socket is closed), requests already started are counted by
 * `inflight` (incremented at the first call, decremented when MHD reports
 * the request complete) and given up to shutdown_timeout to finish; a
 * request that arrives meanwhile on a kept-alive connection gets 503 with
 * "Connection: close". Then the daemons are stopped.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <pwd.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <pthread.h>
#include <time.h>
#include <unistd.h>

#include <ipwall/addr.h>

#include "api/guard.h"
#include "api/http.h"
#include "api/tls.h"
#include "api/uri.h"
#include "base/clock.h"
#include "base/listen.h"
#include "base/log.h"

#define MAX_DAEMONS 257

/*
 * One MHD daemon and what its single thread writes: the cls MHD hands
 * back. Each has a cache line of its own, so counting requests in
 * progress costs a worker no write to a line another worker writes.
 */
struct listener {
	struct MHD_Daemon *mhd;
	struct ipwd_http *h;
	bool unix_peer;
	long inflight; /* written by this daemon's thread only */
} __attribute__((aligned(64)));

/* The blocking threads (http.h, "Writes"). */
struct wpool {
	pthread_mutex_t lock;
	pthread_cond_t cv;
	struct ipwd_req *head, **tail;
	bool stop;
	pthread_t *threads;
	size_t n;
};

enum { W_NONE, W_QUEUED, W_DONE };

struct ipwd_http {
	struct listener l[MAX_DAEMONS + 1]; /* TCP workers, then the socket */
	size_t n;			    /* listeners in use */
	struct ipwd *d;
	struct ipwd_guard *guard; /* per-address accounting (TCP) */
	struct ipwd_tls *tls;	  /* NULL: plain HTTP on TCP */
	unsigned port;
	struct wpool wp;
};

static long inflight(struct ipwd_http *h)
{
	long sum = 0;
	size_t i;

	for (i = 0; i < h->n; i++)
		sum += __atomic_load_n(&h->l[i].inflight, __ATOMIC_ACQUIRE);
	return sum;
}

static uint16_t port_of(const struct sockaddr_storage *ss)
{
	return ntohs(ss->ss_family == AF_INET ?
			     ((const struct sockaddr_in *)ss)->sin_port :
			     ((const struct sockaddr_in6 *)ss)->sin6_port);
}

static void set_port(struct sockaddr_storage *ss, uint16_t port)
{
	if (ss->ss_family == AF_INET)
		((struct sockaddr_in *)ss)->sin_port = htons(port);
	else
		((struct sockaddr_in6 *)ss)->sin6_port = htons(port);
}

static void mhd_log(void *cls, const char *fmt, va_list ap)
	__attribute__((format(printf, 2, 0)));

static void mhd_log(void *cls, const char *fmt, va_list ap)
{
	char msg[512];
	size_t n;

	(void)cls;
	vsnprintf(msg, sizeof(msg), fmt, ap);
	n = strlen(msg);
	while (n && msg[n - 1] == '\n')
		msg[--n] = '\0';
	log_debug("http: %s", msg);
}

const char *ipwd_req_arg(struct ipwd_req *r, const char *name, bool *present)
{
	const char *v = NULL;

	*present = MHD_lookup_connection_value_n(r->conn, MHD_GET_ARGUMENT_KIND,
						 name, strlen(name), &v,
						 NULL) == MHD_YES;
	return v;
}

struct argscan {
	const char *const *allowed;
	const char *bad;
	const char *seen[16];
	size_t nseen;
	bool dup;
};

static enum MHD_Result scan_arg(void *cls, enum MHD_ValueKind kind,
				const char *key, const char *value)
{
	struct argscan *a = cls;
	size_t i;

	(void)kind, (void)value;
	for (i = 0; a->allowed[i]; i++)
		if (strcmp(key, a->allowed[i]) == 0)
			break;
	if (a->allowed[i] == NULL) {
		a->bad = key;
		return MHD_NO;
	}
	for (i = 0; i < a->nseen; i++)
		if (strcmp(a->seen[i], key) == 0) {
			a->bad = key;
			a->dup = true;
			return MHD_NO;
		}
	if (a->nseen < sizeof(a->seen) / sizeof(a->seen[0]))
		a->seen[a->nseen++] = key;
	return MHD_YES;
}

const char *ipwd_req_unknown_arg(struct ipwd_req *r, const char *const *allowed,
				 bool *dup)
{
	struct argscan a = {.allowed = allowed};

	MHD_get_connection_values(r->conn, MHD_GET_ARGUMENT_KIND, scan_arg, &a);
	*dup = a.dup;
	return a.bad;
}

/* The actor of a unix socket peer: "unix:NAME" (or the uid). */
static void unix_actor(struct MHD_Connection *c, char *out, size_t size)
{
	const union MHD_ConnectionInfo *ci;
	struct passwd pw, *res = NULL;
	struct ucred cred;
	socklen_t len = sizeof(cred);
	char buf[1024];

	ci = MHD_get_connection_info(c, MHD_CONNECTION_INFO_CONNECTION_FD);
	if (ci == NULL || getsockopt(ci->connect_fd, SOL_SOCKET, SO_PEERCRED,
				     &cred, &len) != 0) {
		snprintf(out, size, "unix:unknown");
		return;
	}
	if (getpwuid_r(cred.uid, &pw, buf, sizeof(buf), &res) == 0 && res)
		snprintf(out, size, "unix:%s", pw.pw_name);
	else
		snprintf(out, size, "unix:uid%u", (unsigned)cred.uid);
}

static const struct sockaddr *client_addr(struct MHD_Connection *c)
{
	const union MHD_ConnectionInfo *ci =
		MHD_get_connection_info(c, MHD_CONNECTION_INFO_CLIENT_ADDRESS);

	return ci ? ci->client_addr : NULL;
}

static void authenticate(struct ipwd_req *r, struct ipwd_guard *g)
{
	char name[IPWD_TOKEN_NAME_MAX], who[INET6_ADDRSTRLEN + 8];
	const struct sockaddr *sa;
	const char *h;

	if (r->unix_peer) {
		r->authed = true;
		r->scope = IPWD_SCOPE_ADMIN;
		unix_actor(r->conn, r->actor, sizeof(r->actor));
		return;
	}
	h = MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND,
					MHD_HTTP_HEADER_AUTHORIZATION);
	if (h == NULL)
		return;
	r->auth_given = true;
	sa = client_addr(r->conn);
	/* A locked-out address's tokens are not even compared. */
	r->locked_for = ipwd_guard_locked(g, sa, ipwd_mono_s());
	if (r->locked_for)
		return;
	if (strncasecmp(h, "Bearer ", 7) == 0) {
		h += 7;
		while (*h == ' ')
			h++;
		if (ipwd_auth_verify(r->d->auth, h, strlen(h), name,
				     &r->scope)) {
			r->authed = true;
			snprintf(r->actor, sizeof(r->actor), "token:%s", name);
			return;
		}
	}
	if (ipwd_guard_auth_failed(g, sa, ipwd_mono_s()))
		log_warn("http: %s showed %u wrong tokens within %us: its "
			 "requests that need a token get 429 for %us",
			 ipwd_sockaddr_text(sa, who, sizeof(who)),
			 live_get(r->d, max_failures), live_get(r->d, lockout),
			 live_get(r->d, lockout));
}

static bool json_ctype(const char *ct)
{
	size_t n = strlen("application/json");

	if (strncasecmp(ct, "application/json", n) != 0)
		return false;
	return ct[n] == '\0' || ct[n] == ';' || ct[n] == ' ';
}

static enum MHD_Result send_resp(struct ipwd_req *r, struct ipwd_resp *o)
{
	struct MHD_Response *res;
	enum MHD_Result ret;

	res = MHD_create_response_from_buffer(o->len, o->body,
					      MHD_RESPMEM_MUST_FREE);
	if (res == NULL) {
		free(o->body);
		return MHD_NO;
	}
	o->body = NULL;
	MHD_add_response_header(res, MHD_HTTP_HEADER_CONTENT_TYPE,
				o->content_type ? o->content_type :
						  "application/json");
	MHD_add_response_header(res, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
	if (o->allow)
		MHD_add_response_header(res, MHD_HTTP_HEADER_ALLOW, o->allow);
	if (o->www_auth)
		MHD_add_response_header(res, MHD_HTTP_HEADER_WWW_AUTHENTICATE,
					"Bearer realm=\"ipwalld\"");
	if (o->retry_after) {
		char ra[16];

		snprintf(ra, sizeof(ra), "%u", o->retry_after);
		MHD_add_response_header(res, MHD_HTTP_HEADER_RETRY_AFTER, ra);
	}
	if (live_get(r->d, stopping))
		MHD_add_response_header(res, MHD_HTTP_HEADER_CONNECTION,
					"close");
	r->status = o->status;
	if (r->write && o->err >= 0)
		ipwd_metric_rejected((enum ipwd_apierr)o->err);
	ret = MHD_queue_response(r->conn, o->status, res);
	MHD_destroy_response(res);
	return ret;
}

/* Must @r show a token (routes.h, enum ipwd_scope)? The unix socket's
 * requests are authenticated by their peer already. */
static bool needs_token(const struct ipwd_req *r)
{
	if (r->def == NULL)
		return false;
	switch (r->def->scope) {
	case IPWD_SCOPE_NONE:
		return false;
	case IPWD_SCOPE_CHECK:
		return live_get(r->d, protect_reads) != 0;
	default:
		return true;
	}
}

/* The answer to a request that must not reach its handler, or -1. */
static int refusal(struct ipwd_req *r, struct ipwd_resp *o)
{
	/* A request that arrived before the stop is finished; one that
	 * arrived after (on a kept-alive connection) is turned away. */
	if (r->late && r->route != IPWD_ROUTE_HEALTHZ) {
		ipwd_resp_error(o, IPWD_E_SHUTTING_DOWN, NULL,
				"ipwalld is stopping");
		return 0;
	}
	if (!r->authed && r->locked_for && needs_token(r)) {
		ipwd_resp_error(o, IPWD_E_TOO_MANY_FAILURES, NULL,
				"too many wrong tokens from this address: "
				"try again in %u s",
				r->locked_for);
		o->retry_after = r->locked_for;
		return 0;
	}
	if (!r->authed && needs_token(r)) {
		ipwd_resp_error(o, IPWD_E_UNAUTHORIZED, NULL, "%s",
				r->auth_given ?
					"invalid token (expected "
					"\"Authorization: Bearer TOKEN\" "
					"with a configured token)" :
					"this request needs "
					"\"Authorization: Bearer TOKEN\"");
		o->www_auth = true;
		return 0;
	}
	if (r->authed && r->scope < r->def->scope) {
		ipwd_resp_error(o, IPWD_E_FORBIDDEN, NULL,
				"%s (scope %s) may not do this: %s %s needs "
				"scope %s",
				r->actor, ipwd_scope_name(r->scope),
				ipwd_method_name(r->method), r->def->path,
				ipwd_scope_name(r->def->scope));
		return 0;
	}
	if (r->too_large) {
		ipwd_resp_error(o, IPWD_E_BODY_TOO_LARGE, NULL,
				"request body over %zu bytes (max_body)",
				live_get(r->d, max_body));
		return 0;
	}
	if (r->bad_ctype) {
		ipwd_resp_error(o, IPWD_E_UNSUPPORTED_MEDIA_TYPE, NULL,
				"send the body as Content-Type: "
				"application/json");
		return 0;
	}
	return -1;
}

/* ---- the blocking threads ---- */

static void *blocking_thread(void *arg)
{
	struct wpool *wp = arg;
	struct ipwd_req *r;

	pthread_setname_np(pthread_self(), "ipwd-block");
	pthread_mutex_lock(&wp->lock);
	for (;;) {
		while (wp->head == NULL && !wp->stop)
			pthread_cond_wait(&wp->cv, &wp->lock);
		if (wp->head == NULL)
			break;
		r = wp->head;
		wp->head = r->wnext;
		if (wp->head == NULL)
			wp->tail = &wp->head;
		pthread_mutex_unlock(&wp->lock);

		/* The connection is suspended: its worker does not touch it
		 * or @r until the resume below. */
		r->resp->err = -1;
		ipwd_api_handle(r, r->resp);
		__atomic_store_n(&r->wstate, W_DONE, __ATOMIC_RELEASE);
		MHD_resume_connection(r->conn);

		pthread_mutex_lock(&wp->lock);
	}
	pthread_mutex_unlock(&wp->lock);
	return NULL;
}

/* Suspend @r's connection and queue it for a blocking thread. */
static enum MHD_Result hand_over(struct ipwd_http *h, struct ipwd_req *r)
{
	struct wpool *wp = &h->wp;

	r->resp = calloc(1, sizeof(*r->resp));
	if (r->resp == NULL)
		return MHD_NO;
	r->wstate = W_QUEUED;
	r->wnext = NULL;
	MHD_suspend_connection(r->conn);
	pthread_mutex_lock(&wp->lock);
	*wp->tail = r;
	wp->tail = &r->wnext;
	pthread_cond_signal(&wp->cv);
	pthread_mutex_unlock(&wp->lock);
	return MHD_YES;
}

static int wpool_start(struct wpool *wp, unsigned n)
{
	pthread_attr_t attr;
	size_t i;

	pthread_mutex_init(&wp->lock, NULL);
	pthread_cond_init(&wp->cv, NULL);
	wp->tail = &wp->head;
	wp->threads = calloc(n, sizeof(*wp->threads));
	if (wp->threads == NULL)
		return -1;
	pthread_attr_init(&attr);
	/* A blocking thread spends its life asleep, mostly in the write
	 * path. */
	pthread_attr_setstacksize(&attr, 512 * 1024);
	for (i = 0; i < n; i++) {
		if (pthread_create(&wp->threads[i], &attr, blocking_thread,
				   wp) != 0)
			break;
		wp->n++;
	}
	pthread_attr_destroy(&attr);
	return wp->n == n ? 0 : -1;
}

static void wpool_stop(struct wpool *wp)
{
	size_t i;

	if (wp->threads == NULL)
		return;
	pthread_mutex_lock(&wp->lock);
	wp->stop = true;
	pthread_cond_broadcast(&wp->cv);
	pthread_mutex_unlock(&wp->lock);
	for (i = 0; i < wp->n; i++)
		pthread_join(wp->threads[i], NULL);
	free(wp->threads);
	pthread_mutex_destroy(&wp->lock);
	pthread_cond_destroy(&wp->cv);
	wp->threads = NULL;
	wp->n = 0;
}

/* The route label of a path the table has (for a 405). */
static enum ipwd_route route_of_path(const char *url)
{
	size_t i;

	for (i = 0; i < ipwd_nroutes; i++)
		if (strcmp(url, ipwd_routes[i].path) == 0)
			return ipwd_routes[i].route;
	return IPWD_ROUTE_OTHER;
}

/* Note why @r is refused (@err, @field or NULL): answered at the first
 * call. The first fault found is the one answered. */
static void note_fault(struct ipwd_req *r, enum ipwd_apierr err,
		       const char *field, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

static void note_fault(struct ipwd_req *r, enum ipwd_apierr err,
		       const char *field, const char *fmt, ...)
{
	va_list ap;
	char msg[256];

	if (r->bad)
		return; /* the first fault found is the one answered */
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	r->bad = (int)err + 1;
	r->bad_msg = strdup(msg);
	snprintf(r->bad_field, sizeof(r->bad_field), "%s", field ? field : "");
}

/*
 * MHD's URI log callback: called with the raw request target after the
 * request line is split and before anything in it is decoded. The request
 * context starts here (MHD hands the return value to on_request() as
 * *con_cls), so the target's check travels with it.
 */
static void *uri_logged(void *cls, const char *uri, struct MHD_Connection *c)
{
	struct ipwd_req *r = calloc(1, sizeof(*r));
	struct ipwd_uri_fault f;

	(void)cls, (void)c;
	if (r == NULL)
		return NULL;
	r->raw_uri = uri;
	r->raw_len = strlen(uri);
	if (ipwd_uri_check(uri, r->raw_len, &f) == 0)
		return r;
	switch (f.where) {
	case IPWD_URI_PATH:
		note_fault(r, IPWD_E_BAD_REQUEST, NULL, "the path %s", f.msg);
		break;
	case IPWD_URI_PARAM_NAME:
		note_fault(r, IPWD_E_INVALID_PARAMETER, NULL,
			   "a query parameter's name %s", f.msg);
		break;
	case IPWD_URI_PARAM:
		note_fault(r, IPWD_E_INVALID_PARAMETER, f.name,
			   "query parameter \"%.64s\" %s", f.name, f.msg);
		break;
	}
	return r;
}

/*
 * A NUL byte in the request line: MHD reads the line by its end but hands
 * out its parts as C strings, so "GET /v1/check?ip=192.0.2.1\0junk
 * HTTP/1.1" reached us as a request for 192.0.2.1. Between the method's
 * end and the target there may be only the NUL MHD wrote and spaces; the
 * target must end (the NUL MHD wrote over a space) right before the
 * version.
 */
static bool line_has_nul(const struct ipwd_req *r, const char *method,
			 const char *version)
{
	const char *p;

	if (r->raw_uri == NULL)
		return false;
	for (p = method + strlen(method) + 1; p < r->raw_uri; p++)
		if (*p != ' ')
			return true;
	if (version == NULL || *version == '\0')
		return false; /* no version: nothing after the target */
	return version != r->raw_uri + r->raw_len + 1;
}

/* RFC 9110 token characters: what a header name may hold. */
static bool tchar(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	       (c >= '0' && c <= '9') || strchr("!#$%&'*+-.^_`|~", c) != NULL;
}

struct hdrscan {
	struct ipwd_req *r;
	size_t bytes; /* of the header section, as sent (roughly) */
	unsigned host, clen, te;
	const char *clen_v, *te_v;
};

static enum MHD_Result scan_header(void *cls, enum MHD_ValueKind kind,
				   const char *key, size_t key_size,
				   const char *value, size_t value_size)
{
	struct hdrscan *h = cls;
	size_t i;

	(void)kind;
	h->bytes += key_size + value_size + 4;
	if (key_size == 0) {
		note_fault(h->r, IPWD_E_BAD_REQUEST, NULL,
			   "a header line has an empty name");
		return MHD_YES;
	}
	for (i = 0; i < key_size; i++)
		if (!tchar((unsigned char)key[i])) {
			note_fault(h->r, IPWD_E_BAD_REQUEST, NULL,
				   "header name \"%.40s\" has the byte "
				   "0x%02X (a space before the colon, or "
				   "not a token character)",
				   key, (unsigned char)key[i]);
			return MHD_YES;
		}
	for (i = 0; value && i < value_size; i++) {
		unsigned char c = (unsigned char)value[i];

		if ((c < 0x20 && c != '\t') || c == 0x7f) {
			note_fault(h->r, IPWD_E_BAD_REQUEST, NULL,
				   "header \"%.40s\" has the control byte "
				   "0x%02X",
				   key, c);
			return MHD_YES;
		}
	}
	if (strcasecmp(key, MHD_HTTP_HEADER_HOST) == 0)
		h->host++;
	else if (strcasecmp(key, MHD_HTTP_HEADER_CONTENT_LENGTH) == 0)
		h->clen++, h->clen_v = value;
	else if (strcasecmp(key, MHD_HTTP_HEADER_TRANSFER_ENCODING) == 0)
		h->te++, h->te_v = value;
	return MHD_YES;
}

/*
 * What MHD lets through and a strict server must not: a header name with
 * a space before its colon ("Content-Length : 5", which a proxy in front
 * may read differently: request smuggling), control bytes in a value,
 * Content-Length and Transfer-Encoding together or repeated, a
 * Content-Length that is not a number, an HTTP/1.1 request without
 * exactly one Host, and a header section over max_header. Each refusal is
 * the API's JSON error (MHD's own strict mode answers with an HTML page,
 * so it stays off).
 */
static void check_headers(struct ipwd_req *r, const char *version)
{
	struct hdrscan h = {.r = r};
	const char *p;

	h.bytes = r->raw_len + 16;
	MHD_get_connection_values_n(r->conn, MHD_HEADER_KIND, scan_header, &h);
	if (h.bytes > live_get(r->d, max_header))
		note_fault(r, IPWD_E_HEADER_TOO_LARGE, NULL,
			   "request line and headers over %zu bytes "
			   "(max_header)",
			   live_get(r->d, max_header));
	if (strcmp(version, MHD_HTTP_VERSION_1_1) == 0 && h.host != 1)
		note_fault(r, IPWD_E_BAD_REQUEST, NULL,
			   h.host ? "more than one Host header" :
				    "an HTTP/1.1 request needs a Host header");
	if (h.clen && h.te)
		note_fault(r, IPWD_E_BAD_REQUEST, NULL,
			   "both Content-Length and Transfer-Encoding");
	if (h.clen > 1 || h.te > 1)
		note_fault(r, IPWD_E_BAD_REQUEST, NULL,
			   "%s given more than once",
			   h.clen > 1 ? "Content-Length" : "Transfer-Encoding");
	if (h.clen_v) {
		for (p = h.clen_v; *p >= '0' && *p <= '9'; p++)
			;
		if (p == h.clen_v || *p != '\0' || p - h.clen_v > 19)
			note_fault(r, IPWD_E_BAD_REQUEST, NULL,
				   "Content-Length is not a number");
	}
	if (h.te_v && strcasecmp(h.te_v, "chunked") != 0)
		note_fault(r, IPWD_E_BAD_REQUEST, NULL,
			   "Transfer-Encoding other than chunked");
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn,
				  const char *url, const char *method,
				  const char *version, const char *upload,
				  size_t *upload_size, void **con_cls)
{
	struct listener *l = cls;
	struct ipwd_req *r = *con_cls;
	struct ipwd_resp o = {.err = -1};
	const char *allow = NULL, *h;
	int rc;

	if (r == NULL || r->conn == NULL) {
		if (r == NULL)
			r = calloc(1, sizeof(*r));
		if (r == NULL)
			return MHD_NO;
		*con_cls = r;
		__atomic_store_n(&l->inflight, l->inflight + 1,
				 __ATOMIC_RELAXED);
		r->d = l->h->d;
		r->conn = conn;
		r->url = url;
		r->t0 = ipwd_now_ns();
		r->unix_peer = l->unix_peer;
		r->late = live_get(r->d, stopping) != 0;
		r->method = ipwd_method_of(method);
		r->write = r->method == IPWD_METHOD_POST ||
			   r->method == IPWD_METHOD_PUT ||
			   r->method == IPWD_METHOD_DELETE;
		if (line_has_nul(r, method, version))
			note_fault(r, IPWD_E_BAD_REQUEST, NULL,
				   "the request line contains a NUL byte");
		check_headers(r, version);
		r->raw_uri = NULL; /* MHD has decoded it in place since */
		r->def = ipwd_route_find(url, method, &rc, &allow);
		if (r->bad) {
			/* Answered now, without reading a body (whose framing
			 * may be what is wrong): MHD closes the connection
			 * after the answer. */
			r->route = r->def ? r->def->route : route_of_path(url);
			r->def = NULL;
			ipwd_resp_error(
				&o, (enum ipwd_apierr)(r->bad - 1),
				*r->bad_field ? r->bad_field : NULL, "%s",
				r->bad_msg ? r->bad_msg : "bad request");
			return send_resp(r, &o);
		}
		if (r->def == NULL) {
			/* Answered after the body, which is not kept. A
			 * 405's label is its path's; a 404's is "other". */
			r->write = false;
			r->route_err = rc;
			r->route = IPWD_ROUTE_OTHER;
			if (rc == IPWD_E_METHOD_NOT_ALLOWED)
				r->route = route_of_path(url);
			return MHD_YES;
		}
		r->route = r->def->route;
		/* Checks (the hot path) skip the token unless reads are
		 * protected. */
		if (needs_token(r))
			authenticate(r, l->h->guard);
		h = MHD_lookup_connection_value(conn, MHD_HEADER_KIND,
						MHD_HTTP_HEADER_CONTENT_LENGTH);
		if (h && strtoull(h, NULL, 10) > live_get(r->d, max_body)) {
			/* Refuse before reading it: MHD closes the
			 * connection after this answer. */
			r->too_large = true;
			if (refusal(r, &o) == 0)
				return send_resp(r, &o);
		}
		h = MHD_lookup_connection_value(conn, MHD_HEADER_KIND,
						MHD_HTTP_HEADER_CONTENT_TYPE);
		if (h && !json_ctype(h))
			r->bad_ctype = true;
		return MHD_YES;
	}

	if (*upload_size) {
		size_t n = *upload_size;

		*upload_size = 0;
		/* A body nobody will read (refused, or over the limit) is
		 * drained so the error can be answered, but only up to
		 * max_body bytes: beyond that the connection is closed
		 * rather than read forever. */
		r->seen += n;
		if (r->seen > 2 * live_get(r->d, max_body))
			return MHD_NO;
		/* Keep only what a handler will read. */
		if (r->route_err || r->too_large || r->bad_ctype ||
		    (r->write && !r->authed) ||
		    (r->authed && r->scope < r->def->scope) ||
		    (r->method != IPWD_METHOD_POST &&
		     r->method != IPWD_METHOD_PUT))
			return MHD_YES;
		if (r->len + n > live_get(r->d, max_body)) {
			r->too_large = true;
			free(r->body);
			r->body = NULL;
			r->len = r->cap = 0;
			return MHD_YES;
		}
		if (r->len + n + 1 > r->cap) {
			size_t cap = r->cap ? r->cap : 4096;
			char *b;

			while (cap < r->len + n + 1)
				cap *= 2;
			b = realloc(r->body, cap);
			if (b == NULL)
				return MHD_NO;
			r->body = b;
			r->cap = cap;
		}
		memcpy(r->body + r->len, upload, n);
		r->len += n;
		r->body[r->len] = '\0';
		return MHD_YES;
	}

	if (r->route_err) {
		if (r->route_err == IPWD_E_NOT_FOUND) {
			ipwd_resp_error(&o, IPWD_E_NOT_FOUND, NULL,
					"no such path");
		} else {
			ipwd_route_find(url, method, &rc, &allow);
			ipwd_resp_error(&o, IPWD_E_METHOD_NOT_ALLOWED, NULL,
					"%s is not allowed here (allowed: %s)",
					method, allow);
			o.allow = allow;
		}
		return send_resp(r, &o);
	}
	if (__atomic_load_n(&r->wstate, __ATOMIC_ACQUIRE) == W_DONE) {
		o = *r->resp;
		free(r->resp);
		r->resp = NULL;
		return send_resp(r, &o);
	}
	if (refusal(r, &o) != 0) {
		if (l->h->wp.n > 0 && r->def && r->def->blocking)
			return hand_over(l->h, r);
		ipwd_api_handle(r, &o);
	}
	return send_resp(r, &o);
}

/* MHD's accept policy: the per-address connection limit (guard.h). */
static enum MHD_Result accept_policy(void *cls, const struct sockaddr *sa,
				     socklen_t len)
{
	struct listener *l = cls;

	(void)len;
	return ipwd_guard_conn_allow(l->h->guard, sa) ? MHD_YES : MHD_NO;
}

static void on_connection(void *cls, struct MHD_Connection *conn,
			  void **socket_context,
			  enum MHD_ConnectionNotificationCode code)
{
	struct listener *l = cls;

	(void)socket_context;
	if (l->unix_peer)
		return;
	if (code == MHD_CONNECTION_NOTIFY_STARTED)
		ipwd_guard_conn_open(l->h->guard, client_addr(conn));
	else
		ipwd_guard_conn_close(l->h->guard, client_addr(conn));
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
			 enum MHD_RequestTerminationCode toe)
{
	struct listener *l = cls;
	struct ipwd_req *r = *con_cls;

	(void)conn, (void)toe;
	if (r == NULL)
		return;
	if (r->conn == NULL) {
		/* Logged by uri_logged() and refused by MHD before the
		 * access handler ran (a header over MHD's memory). */
		free(r->bad_msg);
		free(r);
		*con_cls = NULL;
		return;
	}
	ipwd_metric_http(r->route, r->method, r->status);
	if (r->resp)
		free(r->resp->body);
	free(r->resp);
	free(r->body);
	free(r->bad_msg);
	free(r);
	*con_cls = NULL;
	__atomic_store_n(&l->inflight, l->inflight - 1, __ATOMIC_RELEASE);
}

/*
 * SO_REUSEPORT lets any socket of the same user join the port, so a second
 * ipwalld (or anything else with SO_REUSEPORT) on our address would bind
 * without an error and silently take half the connections. Before binding,
 * see whether something already listens there. (Two daemons starting at
 * the same instant can still both pass; the unix socket check catches
 * them when they share a data directory.)
 */
static bool someone_listens(const struct sockaddr_storage *ss, socklen_t len)
{
	int fd = socket(ss->ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	bool yes;

	if (fd < 0)
		return false;
	yes = connect(fd, (const struct sockaddr *)ss, len) == 0;
	close(fd);
	return yes;
}

static bool is_loopback(const struct sockaddr_storage *ss)
{
	if (ss->ss_family == AF_INET)
		return (ntohl(((const struct sockaddr_in *)ss)
				      ->sin_addr.s_addr) >>
			24) == 127;
	return IN6_IS_ADDR_LOOPBACK(
		&((const struct sockaddr_in6 *)ss)->sin6_addr);
}

static int tcp_socket(struct sockaddr_storage *ss, socklen_t len)
{
	int fd, one = 1;

	fd = socket(ss->ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC,
		    0);
	if (fd < 0)
		return -1;
	if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) ||
	    setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one)) ||
	    (ss->ss_family == AF_INET6 &&
	     setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one))) ||
	    bind(fd, (struct sockaddr *)ss, len) || listen(fd, 1024)) {
		int e = errno;

		close(fd);
		errno = e;
		return -1;
	}
	return fd;
}

/* A unix socket at @path, mode 0660. A stale socket file (nobody
 * listening) is replaced; a live one means another ipwalld. */
static int unix_socket(const char *path)
{
	struct sockaddr_un sun = {.sun_family = AF_UNIX};
	struct stat st;
	int fd, probe;

	if (strlen(path) >= sizeof(sun.sun_path)) {
		errno = ENAMETOOLONG;
		return -1;
	}
	memcpy(sun.sun_path, path, strlen(path) + 1);
	if (lstat(path, &st) == 0) {
		if (!S_ISSOCK(st.st_mode)) {
			errno = EEXIST;
			return -1;
		}
		probe = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
		if (probe >= 0 &&
		    connect(probe, (struct sockaddr *)&sun, sizeof(sun)) == 0) {
			close(probe);
			errno = EADDRINUSE;
			return -1;
		}
		if (probe >= 0)
			close(probe);
		unlink(path);
	}
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -1;
	if (bind(fd, (struct sockaddr *)&sun, sizeof(sun)) ||
	    chmod(path, 0660) || listen(fd, 256)) {
		int e = errno;

		close(fd);
		unlink(path);
		errno = e;
		return -1;
	}
	return fd;
}

static struct MHD_Daemon *start_mhd(struct ipwd *d, int fd, struct listener *l,
				    unsigned conns)
{
	const struct ipwd_config *c = &d->cfg;
	bool tls = !l->unix_peer && l->h->tls != NULL;
	/* TLS on the TCP listeners: the certificate through the callback,
	 * so a SIGHUP can replace it (tls.h). */
	struct MHD_OptionItem tls_opts[] = {
		{MHD_OPTION_HTTPS_CERT_CALLBACK, 0, ipwd_tls_callback()},
		{MHD_OPTION_HTTPS_PRIORITIES, 0, (void *)ipwd_tls_priorities},
		{MHD_OPTION_END, 0, NULL},
	};
	struct MHD_OptionItem no_opts[] = {{MHD_OPTION_END, 0, NULL}};

	return MHD_start_daemon(
		MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL |
			MHD_USE_TURBO | MHD_USE_ITC | MHD_USE_ERROR_LOG |
			MHD_ALLOW_SUSPEND_RESUME | (tls ? MHD_USE_TLS : 0),
		0, l->unix_peer ? NULL : accept_policy, l, on_request, l,
		MHD_OPTION_ARRAY, tls ? tls_opts : no_opts,
		MHD_OPTION_LISTEN_SOCKET, fd, MHD_OPTION_EXTERNAL_LOGGER,
		mhd_log, NULL, MHD_OPTION_NOTIFY_COMPLETED, on_completed, l,
		MHD_OPTION_NOTIFY_CONNECTION, on_connection, l,
		MHD_OPTION_URI_LOG_CALLBACK, uri_logged, l,
		MHD_OPTION_CONNECTION_LIMIT, conns,
		MHD_OPTION_CONNECTION_TIMEOUT, c->timeout,
		/* Headers over max_header are refused by check_headers()
		 * with the API's error; MHD's own refusal (an HTML page)
		 * comes only when they overflow its memory, twice that and
		 * 32 KiB more (48 KiB by default). */
		MHD_OPTION_CONNECTION_MEMORY_LIMIT,
		(size_t)(2 * c->max_header + 32768), MHD_OPTION_END);
}

int ipwd_http_start(struct ipwd *d)
{
	const struct ipwd_config *c = &d->cfg;
	struct ipwd_http *h = aligned_alloc(64, sizeof(*h));
	struct sockaddr_storage ss;
	socklen_t sl;
	unsigned n, i, per;
	long ncpu;

	if (h == NULL)
		return -1;
	memset(h, 0, sizeof(*h));
	h->d = d;
	d->http = h;
	h->guard = ipwd_guard_new(c->max_connections, c->max_connections_per_ip,
				  c->max_failures, c->lockout);
	if (h->guard == NULL) {
		log_error("cannot start the HTTP front: out of memory");
		return -1;
	}
	if (wpool_start(&h->wp, c->blocking_threads) != 0) {
		log_error("cannot start %u blocking threads: %s",
			  c->blocking_threads, strerror(errno));
		return -1;
	}

	if (*c->listen && (*c->tls_cert || *c->tls_key)) {
		if (!*c->tls_cert || !*c->tls_key) {
			log_error("[http] tls_cert and tls_key go together: "
				  "set both, or neither for plain HTTP");
			return -1;
		}
		if (MHD_is_feature_supported(MHD_FEATURE_TLS) != MHD_YES) {
			log_error("[http] tls_cert: this libmicrohttpd is "
				  "built without TLS");
			return -1;
		}
		if (ipwd_tls_new(&h->tls, c->tls_cert, c->tls_key) != 0)
			return -1;
		log_info("tls: %s", ipwd_tls_describe(h->tls));
	}
	if (*c->listen) {
		if (ipwd_listen_parse(c->listen, &ss, &sl) != 0) {
			log_error("[http] listen = \"%s\": expected ADDR:PORT "
				  "or [IPV6]:PORT",
				  c->listen);
			return -1;
		}
		if (port_of(&ss) != 0 && someone_listens(&ss, sl)) {
			log_error("cannot listen on %s: something already "
				  "listens there (another ipwalld?)",
				  c->listen);
			return -1;
		}
		ncpu = sysconf(_SC_NPROCESSORS_ONLN);
		n = c->threads ? c->threads : (unsigned)(ncpu > 0 ? ncpu : 1);
		if (n > MAX_DAEMONS - 1)
			n = MAX_DAEMONS - 1;
		per = (c->max_connections + n - 1) / n;
		for (i = 0; i < n; i++) {
			int fd = tcp_socket(&ss, sl);

			if (fd < 0) {
				log_error("cannot listen on %s: %s", c->listen,
					  strerror(errno));
				return -1;
			}
			if (i == 0) {
				/* Port 0: the others join the port the
				 * kernel picked. */
				struct sockaddr_storage got = ss;
				socklen_t gl = sizeof(got);

				getsockname(fd, (struct sockaddr *)&got, &gl);
				h->port = port_of(&got);
				set_port(&ss, (uint16_t)h->port);
			}
			h->l[h->n].h = h;
			h->l[h->n].mhd = start_mhd(d, fd, &h->l[h->n], per);
			if (h->l[h->n].mhd == NULL) {
				close(fd);
				log_error("cannot start the HTTP server on %s",
					  c->listen);
				return -1;
			}
			h->n++;
		}
		log_info("listening on %s (port %u, %u threads, %s)", c->listen,
			 h->port, n, h->tls ? "TLS" : "plain HTTP");
		if (!h->tls && !is_loopback(&ss))
			log_warn("listening on %s without TLS: tokens and "
				 "answers cross the network in clear; set "
				 "[http] tls_cert and tls_key",
				 c->listen);
	}
	if (*c->socket) {
		int fd = unix_socket(c->socket);

		if (fd < 0) {
			log_error("cannot listen on unix socket %s: %s%s",
				  c->socket, strerror(errno),
				  errno == EADDRINUSE ?
					  " (is another ipwalld running?)" :
					  "");
			return -1;
		}
		h->l[h->n].h = h;
		h->l[h->n].unix_peer = true;
		h->l[h->n].mhd =
			start_mhd(d, fd, &h->l[h->n], c->max_connections);
		if (h->l[h->n].mhd == NULL) {
			close(fd);
			unlink(c->socket);
			log_error("cannot start the HTTP server on %s",
				  c->socket);
			return -1;
		}
		h->n++;
		log_info("listening on unix socket %s", c->socket);
	}
	return 0;
}

void ipwd_http_guard_stats(struct ipwd *d, struct ipwd_guard_stats *out)
{
	memset(out, 0, sizeof(*out));
	if (d->http && d->http->guard)
		ipwd_guard_stats(d->http->guard, out);
}

void ipwd_http_reload(struct ipwd *d)
{
	if (d->http && d->http->guard)
		ipwd_guard_set_lockout(d->http->guard, d->cfg.max_failures,
				       d->cfg.lockout);
	if (d->http && d->http->tls) {
		if (ipwd_tls_reload(d->http->tls, d->cfg.tls_cert,
				    d->cfg.tls_key) == 0)
			log_info("reload: tls: %s",
				 ipwd_tls_describe(d->http->tls));
		else
			log_error("reload: tls: keeping the running "
				  "certificate (the new one is above)");
	}
}

unsigned ipwd_http_port(struct ipwd *d)
{
	return d->http ? d->http->port : 0;
}

void ipwd_http_stop(struct ipwd *d, unsigned timeout_s)
{
	struct ipwd_http *h = d->http;
	struct timespec ts = {0, 10 * 1000 * 1000};
	uint64_t deadline;
	size_t i;
	int fd;

	if (h == NULL)
		return;
	live_set(d, stopping, 1);
	for (i = 0; i < h->n; i++) {
		fd = MHD_quiesce_daemon(h->l[i].mhd);
		if (fd >= 0)
			close(fd);
		if (h->l[i].unix_peer)
			unlink(d->cfg.socket);
	}
	deadline = ipwd_now_ns() + (uint64_t)timeout_s * 1000000000u;
	while (inflight(h) > 0 && ipwd_now_ns() < deadline)
		nanosleep(&ts, NULL);
	if (inflight(h) > 0)
		log_warn("stopping with %ld requests still in progress",
			 inflight(h));
	/* The blocking threads finish what they hold (the write path keeps
	 * running until after this) and resume it; then no connection is
	 * suspended when MHD stops. */
	wpool_stop(&h->wp);
	for (i = 0; i < h->n; i++)
		MHD_stop_daemon(h->l[i].mhd);
	ipwd_guard_free(h->guard);
	ipwd_tls_free(h->tls);
	free(h);
	d->http = NULL;
}
