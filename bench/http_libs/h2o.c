/* SPDX-License-Identifier: MIT */
/*
 * Candidate: libh2o (h2o 2.2 as a library, with its own "evloop" event
 * loop rather than libuv). Serves GET /v1/check?ip=ADDR on 127.0.0.1:PORT
 * (keep-alive, HTTP/1.1), 404 elsewhere.
 *
 * Modes:
 *   loop1   one thread: one h2o_evloop_t, one h2o_context_t
 *   reuse2  two threads, each with its own evloop, context and
 *           SO_REUSEPORT listening socket, sharing one read-only
 *           h2o_globalconf_t (the layout h2o's own server uses)
 *
 * One handler is registered at "/" and dispatches on the normalized path,
 * so every other path gets our JSON 404 rather than h2o's text one.
 * h2o_send_inline copies the body into the request's pool, so the body may
 * live on the stack. The query is scanned in place from req->path.
 */
#include <h2o.h>
#include <pthread.h>
#include <signal.h>
#include <string.h>
#include <unistd.h>

#include "check.h"

struct worker {
	pthread_t tid;
	h2o_evloop_t *loop;
	h2o_context_t ctx;
	h2o_accept_ctx_t accept_ctx;
};

static h2o_globalconf_t config;

static void respond(h2o_req_t *req, int status, const char *reason,
		    const char *body, size_t len)
{
	req->res.status = status;
	req->res.reason = reason;
	h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_CONTENT_TYPE,
		       NULL, H2O_STRLIT("application/json"));
	req->res.content_length = len; /* else h2o 2.2 sends it chunked */
	h2o_send_inline(req, body, len);
}

static int on_req(h2o_handler_t *self, h2o_req_t *req)
{
	static const char nf[] =
		"{\"error\":{\"code\":\"ENOENT\",\"message\":\"no such path\"}}";
	char body[CHECK_BODY_MAX];
	const char *ip = NULL;
	size_t iplen = 0, blen;
	int status;

	(void)self;
	if (!h2o_memis(req->method.base, req->method.len, H2O_STRLIT("GET")) ||
	    !h2o_memis(req->path_normalized.base, req->path_normalized.len,
		       H2O_STRLIT(CHECK_PATH))) {
		respond(req, 404, "Not Found", nf, sizeof(nf) - 1);
		return 0;
	}
	if (req->query_at != SIZE_MAX)
		ip = check_query_param(req->path.base + req->query_at + 1,
				       req->path.len - req->query_at - 1, "ip",
				       &iplen);
	status = check_answer(ip, iplen, body, sizeof(body), &blen);
	respond(req, status, status == 200 ? "OK" : "Bad Request", body, blen);
	return 0;
}

static void on_accept(h2o_socket_t *listener, const char *err)
{
	h2o_socket_t *sock;

	if (err != NULL)
		return;
	sock = h2o_evloop_socket_accept(listener);
	if (sock != NULL)
		h2o_accept(listener->data, sock);
}

static int worker_init(struct worker *w, unsigned short port, int reuseport)
{
	h2o_socket_t *listener;
	int fd = check_listen(port, reuseport, 1);

	if (fd < 0)
		return -1;
	w->loop = h2o_evloop_create();
	h2o_context_init(&w->ctx, w->loop, &config);
	w->accept_ctx.ctx = &w->ctx;
	w->accept_ctx.hosts = config.hosts;
	listener = h2o_evloop_socket_create(w->loop, fd,
					    H2O_SOCKET_FLAG_DONT_READ);
	listener->data = &w->accept_ctx;
	h2o_socket_read_start(listener, on_accept);
	return 0;
}

static void *worker_run(void *arg)
{
	struct worker *w = arg;

	while (h2o_evloop_run(w->loop, INT32_MAX) == 0)
		;
	return NULL;
}

int main(int argc, char **argv)
{
	static struct worker w[2];
	h2o_hostconf_t *host;
	h2o_pathconf_t *path;
	h2o_handler_t *handler;
	unsigned short port;
	int n, i;

	if (argc != 3) {
		fprintf(stderr, "usage: %s PORT loop1|reuse2\n", argv[0]);
		return 2;
	}
	port = check_port_arg(argv[1]);
	if (strcmp(argv[2], "loop1") == 0) {
		n = 1;
	} else if (strcmp(argv[2], "reuse2") == 0) {
		n = 2;
	} else {
		fprintf(stderr, "unknown mode %s\n", argv[2]);
		return 2;
	}
	signal(SIGPIPE, SIG_IGN);

	h2o_config_init(&config);
	/* The limits ipwalld will set, so their cost is in the numbers. */
	config.max_request_entity_size = 1 << 20;
	config.http1.req_timeout = 30 * 1000;
	config.http1.upgrade_to_http2 = 0;
	host = h2o_config_register_host(
		&config, h2o_iovec_init(H2O_STRLIT("default")), 65535);
	path = h2o_config_register_path(host, "/", 0);
	handler = h2o_create_handler(path, sizeof(*handler));
	handler->on_req = on_req;

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
