/* SPDX-License-Identifier: MIT */
/*
 * Candidate: libevent 2.1's evhttp. Serves GET /v1/check?ip=ADDR on
 * 127.0.0.1:PORT (keep-alive, HTTP/1.1), 404 elsewhere.
 *
 * Modes:
 *   base1   one event_base, one struct evhttp, one thread (evhttp's own
 *           model: it is not thread-safe and has no worker pool)
 *   reuse2  two threads, each with its own event_base, evhttp and
 *           SO_REUSEPORT listening socket; nothing is shared between them,
 *           so no evthread locking is needed
 *
 * The query string is taken from the parsed URI and scanned in place
 * (evhttp_parse_query_str would allocate a key/value list per request).
 * evhttp matches callbacks on the decoded path without the query.
 */
#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>
#include <pthread.h>
#include <signal.h>
#include <string.h>
#include <unistd.h>

#include "check.h"

struct worker {
	pthread_t tid;
	struct event_base *base;
	struct evhttp *http;
};

static void reply(struct evhttp_request *req, int status, const char *body,
		  size_t len)
{
	evhttp_add_header(evhttp_request_get_output_headers(req),
			  "Content-Type", "application/json");
	evbuffer_add(evhttp_request_get_output_buffer(req), body, len);
	evhttp_send_reply(req, status, status == 200 ? "OK" : "Bad Request",
			  NULL);
}

static void on_check(struct evhttp_request *req, void *arg)
{
	char body[CHECK_BODY_MAX];
	const char *q, *ip = NULL;
	size_t iplen = 0, blen;
	int status;

	(void)arg;
	if (evhttp_request_get_command(req) != EVHTTP_REQ_GET) {
		evhttp_send_error(req, 405, NULL);
		return;
	}
	q = evhttp_uri_get_query(evhttp_request_get_evhttp_uri(req));
	if (q)
		ip = check_query_param(q, strlen(q), "ip", &iplen);
	status = check_answer(ip, iplen, body, sizeof(body), &blen);
	reply(req, status, body, blen);
}

static void on_other(struct evhttp_request *req, void *arg)
{
	static const char nf[] =
		"{\"error\":{\"code\":\"ENOENT\",\"message\":\"no such path\"}}";

	(void)arg;
	evhttp_add_header(evhttp_request_get_output_headers(req),
			  "Content-Type", "application/json");
	evbuffer_add_reference(evhttp_request_get_output_buffer(req), nf,
			       sizeof(nf) - 1, NULL, NULL);
	evhttp_send_reply(req, 404, "Not Found", NULL);
}

static int worker_init(struct worker *w, unsigned short port, int reuseport)
{
	int fd = check_listen(port, reuseport, 1);

	if (fd < 0)
		return -1;
	w->base = event_base_new();
	w->http = w->base ? evhttp_new(w->base) : NULL;
	if (w->http == NULL) {
		fprintf(stderr, "evhttp_new failed\n");
		return -1;
	}
	/* The limits ipwalld will set, so their cost is in the numbers. */
	evhttp_set_max_headers_size(w->http, 16384);
	evhttp_set_max_body_size(w->http, 1 << 20);
	evhttp_set_timeout(w->http, 30);
	evhttp_set_allowed_methods(w->http, EVHTTP_REQ_GET | EVHTTP_REQ_POST |
						    EVHTTP_REQ_PUT |
						    EVHTTP_REQ_DELETE);
	evhttp_set_cb(w->http, CHECK_PATH, on_check, NULL);
	evhttp_set_gencb(w->http, on_other, NULL);
	if (evhttp_accept_socket_with_handle(w->http, fd) == NULL) {
		fprintf(stderr, "evhttp_accept_socket failed\n");
		return -1;
	}
	return 0;
}

static void *worker_run(void *arg)
{
	struct worker *w = arg;

	event_base_dispatch(w->base);
	return NULL;
}

int main(int argc, char **argv)
{
	struct worker w[2];
	unsigned short port;
	int n, i;

	if (argc != 3) {
		fprintf(stderr, "usage: %s PORT base1|reuse2\n", argv[0]);
		return 2;
	}
	port = check_port_arg(argv[1]);
	if (strcmp(argv[2], "base1") == 0) {
		n = 1;
	} else if (strcmp(argv[2], "reuse2") == 0) {
		n = 2;
	} else {
		fprintf(stderr, "unknown mode %s\n", argv[2]);
		return 2;
	}
	signal(SIGPIPE, SIG_IGN);

	memset(w, 0, sizeof(w));
	for (i = 0; i < n; i++)
		if (worker_init(&w[i], port, n > 1) != 0)
			return 1;
	for (i = 1; i < n; i++)
		if (pthread_create(&w[i].tid, NULL, worker_run, &w[i]) != 0) {
			fprintf(stderr, "pthread_create failed\n");
			return 1;
		}
	worker_run(&w[0]);
	return 0;
}
