/* SPDX-License-Identifier: MIT */
/*
 * Candidate: GNU libmicrohttpd. Serves GET /v1/check?ip=ADDR on
 * 127.0.0.1:PORT (keep-alive, HTTP/1.1), 404 elsewhere.
 *
 * Modes (the threading models the MHD manual describes, minus "external"
 * which would need our own loop):
 *   epoll1  MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL: one thread
 *   pool2   the same with MHD_OPTION_THREAD_POOL_SIZE 2 and MHD_USE_TURBO
 *           (the manual's high-throughput setup: one epoll set per worker,
 *           the listening socket shared, opportunistic reads and writes)
 *   reuse2  two epoll1-style daemons (with MHD_USE_TURBO), each on its own
 *           SO_REUSEPORT socket: the kernel balances connections, which
 *           pool2 leaves to whichever worker wins the accept race
 *   tpc     MHD_USE_THREAD_PER_CONNECTION | MHD_USE_POLL: a thread each
 *
 * The access handler runs in MHD's threads, so it must be thread-safe; it
 * touches no shared state. MHD calls it once when the headers are in and
 * again after the (here empty) body; a response queued on the first call
 * makes MHD close the connection (it has not read the whole request), so
 * the first call only marks the request and the answer comes on the
 * second: keep-alive needs the two-phase protocol even for GET.
 * MHD has already split and percent-decoded the query arguments.
 * The 404 response is built once and shared (MHD reference-counts it).
 */
#include <microhttpd.h>
#include <signal.h>
#include <string.h>
#include <unistd.h>

#include "check.h"

static struct MHD_Response *not_found;

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn,
				  const char *url, const char *method,
				  const char *version, const char *upload,
				  size_t *upload_size, void **con_cls)
{
	char body[CHECK_BODY_MAX];
	struct MHD_Response *res;
	const char *ip;
	size_t iplen = 0, blen;
	enum MHD_Result ret;
	int status;

	(void)cls, (void)version, (void)upload;
	if (*con_cls == NULL) {
		*con_cls = &not_found; /* any non-NULL marker */
		return MHD_YES;
	}
	if (*upload_size != 0) { /* a body nobody asked for: drop it */
		*upload_size = 0;
		return MHD_YES;
	}
	if (strcmp(method, MHD_HTTP_METHOD_GET) != 0 ||
	    strcmp(url, CHECK_PATH) != 0)
		return MHD_queue_response(conn, MHD_HTTP_NOT_FOUND, not_found);

	ip = MHD_lookup_connection_value(conn, MHD_GET_ARGUMENT_KIND, "ip");
	if (ip)
		iplen = strlen(ip);
	status = check_answer(ip, iplen, body, sizeof(body), &blen);
	res = MHD_create_response_from_buffer(blen, body,
					      MHD_RESPMEM_MUST_COPY);
	if (res == NULL)
		return MHD_NO;
	MHD_add_response_header(res, MHD_HTTP_HEADER_CONTENT_TYPE,
				"application/json");
	ret = MHD_queue_response(conn, (unsigned int)status, res);
	MHD_destroy_response(res);
	return ret;
}

static struct MHD_Daemon *start(unsigned int flags, unsigned int pool, int fd)
{
	/*
	 * The limits ipwalld will set, so their cost is in the numbers. The
	 * pool option is last so that, without a pool, MHD_OPTION_END takes
	 * its place and the value after it is never read.
	 */
	return MHD_start_daemon(
		flags | MHD_USE_ERROR_LOG, 0, NULL, NULL, on_request, NULL,
		MHD_OPTION_LISTEN_SOCKET, fd, MHD_OPTION_CONNECTION_LIMIT,
		4096u, MHD_OPTION_CONNECTION_TIMEOUT, 30u,
		MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)16384,
		pool ? MHD_OPTION_THREAD_POOL_SIZE : MHD_OPTION_END, pool,
		MHD_OPTION_END);
}

int main(int argc, char **argv)
{
	static const char nf[] =
		"{\"error\":{\"code\":\"ENOENT\",\"message\":\"no such path\"}}";
	unsigned int flags = MHD_USE_INTERNAL_POLLING_THREAD;
	unsigned int pool = 0;
	unsigned short port;
	const char *mode;
	int n = 1, i;

	if (argc != 3) {
		fprintf(stderr, "usage: %s PORT epoll1|pool2|reuse2|tpc\n",
			argv[0]);
		return 2;
	}
	port = check_port_arg(argv[1]);
	mode = argv[2];
	if (strcmp(mode, "epoll1") == 0) {
		flags |= MHD_USE_EPOLL;
	} else if (strcmp(mode, "pool2") == 0) {
		flags |= MHD_USE_EPOLL | MHD_USE_TURBO;
		pool = 2;
	} else if (strcmp(mode, "reuse2") == 0) {
		flags |= MHD_USE_EPOLL | MHD_USE_TURBO;
		n = 2;
	} else if (strcmp(mode, "tpc") == 0) {
		flags |= MHD_USE_THREAD_PER_CONNECTION | MHD_USE_POLL;
	} else {
		fprintf(stderr, "unknown mode %s\n", mode);
		return 2;
	}
	signal(SIGPIPE, SIG_IGN);

	not_found = MHD_create_response_from_buffer(sizeof(nf) - 1, (void *)nf,
						    MHD_RESPMEM_PERSISTENT);
	MHD_add_response_header(not_found, MHD_HTTP_HEADER_CONTENT_TYPE,
				"application/json");
	for (i = 0; i < n; i++) {
		int fd = check_listen(port, n > 1, 1);

		if (fd < 0 || start(flags, pool, fd) == NULL) {
			fprintf(stderr, "MHD_start_daemon failed (%s)\n", mode);
			return 1;
		}
	}
	for (;;)
		pause();
}
