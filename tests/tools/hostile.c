// SPDX-License-Identifier: MIT
/*
 * hostile: hostile HTTP clients against an ipwalld on loopback, and an
 * honest one that measures how long its checks take meanwhile.
 *
 *   hostile --port P [--seconds S] [--slowloris N] [--flood] [--garbage]
 *           [--rate R] [--path PATH]
 *
 * Each attacker has its own loopback source address, so a per-address
 * limit can tell them from the honest client (127.0.0.1):
 *   --slowloris N  127.0.0.2: N connections that each send the start of a
 *                  request and then one header byte every 2 s, never
 *                  ending it; a connection the server closes is opened
 *                  again.
 *   --flood        127.0.0.3: opens connections as fast as it can, keeps
 *                  the newest 2,000 open and closes the oldest.
 *   --garbage      127.0.0.4: connections that each send 16 KiB of
 *                  pipelined requests mixed with garbage (bad request
 *                  lines, NULs, bad headers), read what comes back, and
 *                  start over.
 * The honest client starts after one second and sends R checks a second
 * (GET PATH) until one second before the end, alternating between one
 * kept-alive connection and a new connection per check; a check is
 * answered when the whole response is in. It prints, for each kind:
 *
 *   keepalive checks=N failed=F p50_us=A p99_us=B max_us=C
 *   new checks=N failed=F p50_us=A p99_us=B max_us=C
 *
 * then one line of the attackers' counts. Everything stops by itself
 * after S seconds (default 8); only 127.0.0.0/8 is ever contacted.
 * Timings are printed, not judged: the test that runs this decides.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static int port;
static double seconds = 8;
static uint64_t t_end; /* ns, CLOCK_MONOTONIC */
static const char *path = "/v1/check?ip=192.0.2.1";

static atomic_ulong slow_opened, slow_closed, slow_bytes;
static atomic_ulong flood_ok, flood_failed;
static atomic_ulong garbage_conns, garbage_bytes_in;

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void sleep_ms(long ms)
{
	struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};

	nanosleep(&ts, NULL);
}

/* A TCP connection from @src to 127.0.0.1:port; -1 on failure. */
static int dial(const char *src, bool nonblock)
{
	struct sockaddr_in a = {.sin_family = AF_INET}, to = a;
	int fd, one = 1;

	fd = socket(AF_INET,
		    SOCK_STREAM | SOCK_CLOEXEC | (nonblock ? SOCK_NONBLOCK : 0),
		    0);
	if (fd < 0)
		return -1;
	inet_pton(AF_INET, src, &a.sin_addr);
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	if (!nonblock) {
		/* A blocking connect gives up after 200 ms (a full listen
		 * queue drops the SYN and would retry for seconds). */
		struct timeval tv = {0, 200000};

		setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	}
	if (bind(fd, (struct sockaddr *)&a, sizeof(a)) != 0) {
		close(fd);
		return -1;
	}
	to.sin_port = htons((uint16_t)port);
	inet_pton(AF_INET, "127.0.0.1", &to.sin_addr);
	if (connect(fd, (struct sockaddr *)&to, sizeof(to)) != 0 &&
	    errno != EINPROGRESS) {
		close(fd);
		return -1;
	}
	return fd;
}

/* ---- slowloris ---- */

struct slow {
	int fd;
	uint64_t next;
	unsigned sent;
};

static void *slowloris(void *arg)
{
	size_t n = *(const unsigned long *)arg, i;
	struct slow *s = calloc(n, sizeof(*s));
	static const char head[] =
		"GET /v1/check?ip=192.0.2.9 HTTP/1.1\r\nHost: x\r\nX-Slow: ";

	if (s == NULL)
		return NULL;
	for (i = 0; i < n; i++)
		s[i].fd = -1;
	while (now_ns() < t_end) {
		uint64_t t = now_ns();

		for (i = 0; i < n; i++) {
			if (s[i].fd < 0) {
				s[i].fd = dial("127.0.0.2", true);
				if (s[i].fd < 0)
					continue;
				atomic_fetch_add(&slow_opened, 1);
				s[i].sent = 0;
				/* spread the first bytes over 2 s */
				s[i].next = t + (i % 20) * 100000000ull;
				continue;
			}
			if (t < s[i].next)
				continue;
			{
				char c = s[i].sent < sizeof(head) - 1 ?
						 head[s[i].sent] :
						 'a';
				ssize_t w = send(s[i].fd, &c, 1, MSG_NOSIGNAL);

				if (w == 1) {
					s[i].sent++;
					atomic_fetch_add(&slow_bytes, 1);
					s[i].next = t + 2000000000ull;
				} else if (w < 0 && errno != EAGAIN &&
					   errno != ENOTCONN) {
					close(s[i].fd);
					s[i].fd = -1;
					atomic_fetch_add(&slow_closed, 1);
				}
			}
		}
		sleep_ms(20);
	}
	for (i = 0; i < n; i++)
		if (s[i].fd >= 0)
			close(s[i].fd);
	free(s);
	return NULL;
}

/* ---- connection flood ---- */

static void *flood(void *arg)
{
	enum { KEEP = 2000 };
	int *ring = malloc(KEEP * sizeof(int));
	size_t head = 0, i;

	(void)arg;
	if (ring == NULL)
		return NULL;
	for (i = 0; i < KEEP; i++)
		ring[i] = -1;
	while (now_ns() < t_end) {
		int fd = dial("127.0.0.3", false);

		if (fd < 0) {
			atomic_fetch_add(&flood_failed, 1);
			continue;
		}
		atomic_fetch_add(&flood_ok, 1);
		if (ring[head] >= 0)
			close(ring[head]);
		ring[head] = fd;
		head = (head + 1) % KEEP;
	}
	for (i = 0; i < KEEP; i++)
		if (ring[i] >= 0)
			close(ring[i]);
	free(ring);
	return NULL;
}

/* ---- pipelined garbage ---- */

static void *garbage(void *arg)
{
	static const char *const parts[] = {
		"GET /v1/check?ip=192.0.2.1 HTTP/1.1\r\nHost: x\r\n\r\n",
		"GARBAGE\r\n\r\n",
		"GET /v1/check?ip=1.2.3.4%00x HTTP/1.1\r\nHost: x\r\n\r\n",
		"POST /v1/bans HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n"
		"\r\n{\"a\":",
		"GET / HTTP/1.1\r\nHost: x\r\nBad Header\r\n\r\n",
		"\x00\xff\xfe\x01\r\n\r\n",
		"GET /v1/check?ip=192.0.2.1 HTTP/9.9\r\n\r\n",
		"DELETE /v1/bans?target=192.0.2.1 HTTP/1.1\r\nHost: x\r\n"
		"Authorization: Bearer nope-nope-nope-nope\r\n\r\n",
	};
	char buf[16384], in[65536];
	unsigned seed = 7;

	(void)arg;
	while (now_ns() < t_end) {
		size_t n = 0;
		int fd;

		while (n < sizeof(buf) - 128) {
			const char *p =
				parts[rand_r(&seed) %
				      (sizeof(parts) / sizeof(parts[0]))];
			size_t l = strlen(p);

			if (p[0] == '\0')
				l = 8; /* the one with NULs */
			if (n + l > sizeof(buf))
				break;
			memcpy(buf + n, p, l);
			n += l;
		}
		fd = dial("127.0.0.4", false);
		if (fd < 0) {
			sleep_ms(1);
			continue;
		}
		atomic_fetch_add(&garbage_conns, 1);
		{
			struct timeval tv = {0, 200000};

			setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv,
				   sizeof(tv));
			setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv,
				   sizeof(tv));
		}
		if (send(fd, buf, n, MSG_NOSIGNAL) > 0) {
			ssize_t r;

			while ((r = recv(fd, in, sizeof(in), 0)) > 0)
				atomic_fetch_add(&garbage_bytes_in,
						 (unsigned long)r);
		}
		close(fd);
	}
	return NULL;
}

/* ---- the honest client ---- */

struct lat {
	uint64_t *v;
	size_t n, cap;
	unsigned long failed;
};

static void lat_add(struct lat *l, uint64_t ns)
{
	if (l->n == l->cap) {
		size_t cap = l->cap ? l->cap * 2 : 4096;
		uint64_t *v = realloc(l->v, cap * sizeof(*v));

		if (v == NULL)
			return;
		l->v = v;
		l->cap = cap;
	}
	l->v[l->n++] = ns;
}

/* Send one check on @fd and read the whole answer (1 s at most).
 * Returns 0, or -1 (the connection is no good). */
static int one_check(int fd, const char *req, size_t len)
{
	char buf[8192];
	size_t got = 0;
	uint64_t deadline = now_ns() + 1000000000ull;
	long clen = -1;
	char *hend = NULL;

	if (send(fd, req, len, MSG_NOSIGNAL) != (ssize_t)len)
		return -1;
	for (;;) {
		struct pollfd p = {fd, POLLIN, 0};
		int64_t left = (int64_t)(deadline - now_ns()) / 1000000;
		ssize_t r;

		if (left <= 0 || poll(&p, 1, (int)left) <= 0)
			return -1;
		r = recv(fd, buf + got, sizeof(buf) - 1 - got, 0);
		if (r <= 0)
			return -1;
		got += (size_t)r;
		buf[got] = '\0';
		if (hend == NULL && (hend = strstr(buf, "\r\n\r\n")) != NULL) {
			const char *cl = strcasestr(buf, "\r\nContent-Length:");

			if (strncmp(buf, "HTTP/1.1 200", 12) != 0 &&
			    strncmp(buf, "HTTP/1.1 403", 12) != 0)
				return -1;
			clen = cl ? strtol(cl + 17, NULL, 10) : 0;
		}
		if (hend && (long)(got - (size_t)(hend + 4 - buf)) >= clen)
			return 0;
		if (got >= sizeof(buf) - 1)
			return -1;
	}
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

static void report(const char *kind, struct lat *l)
{
	uint64_t p50 = 0, p99 = 0, max = 0;

	if (l->n) {
		qsort(l->v, l->n, sizeof(l->v[0]), cmp_u64);
		p50 = l->v[l->n / 2];
		p99 = l->v[(l->n * 99) / 100];
		max = l->v[l->n - 1];
	}
	printf("%s checks=%zu failed=%lu p50_us=%llu p99_us=%llu "
	       "max_us=%llu\n",
	       kind, l->n, l->failed, (unsigned long long)(p50 / 1000),
	       (unsigned long long)(p99 / 1000),
	       (unsigned long long)(max / 1000));
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{"port", required_argument, NULL, 'p'},
		{"seconds", required_argument, NULL, 's'},
		{"slowloris", required_argument, NULL, 'l'},
		{"flood", no_argument, NULL, 'f'},
		{"garbage", no_argument, NULL, 'g'},
		{"rate", required_argument, NULL, 'r'},
		{"path", required_argument, NULL, 'P'},
		{NULL, 0, NULL, 0},
	};
	unsigned long nslow = 0, rate = 200;
	bool do_flood = false, do_garbage = false;
	pthread_t th[3];
	int nth = 0, c, ka = -1;
	struct lat keep = {0}, fresh = {0};
	char req[512], req_ka[512];
	uint64_t t0, next, stop_checks;
	unsigned long k = 0;

	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (c) {
		case 'p':
			port = (int)strtol(optarg, NULL, 10);
			break;
		case 's':
			seconds = strtod(optarg, NULL);
			break;
		case 'l':
			nslow = strtoul(optarg, NULL, 10);
			break;
		case 'f':
			do_flood = true;
			break;
		case 'g':
			do_garbage = true;
			break;
		case 'r':
			rate = strtoul(optarg, NULL, 10);
			break;
		case 'P':
			path = optarg;
			break;
		default:
			fprintf(stderr, "usage: hostile --port P [--seconds S] "
					"[--slowloris N] [--flood] [--garbage] "
					"[--rate R] [--path PATH]\n");
			return 2;
		}
	}
	if (port <= 0 || port > 65535 || seconds < 3 || seconds > 120 ||
	    rate == 0 || rate > 10000 || nslow > 20000) {
		fprintf(stderr, "hostile: bad arguments\n");
		return 2;
	}
	signal(SIGPIPE, SIG_IGN);
	t0 = now_ns();
	t_end = t0 + (uint64_t)(seconds * 1e9);
	if (nslow && pthread_create(&th[nth], NULL, slowloris, &nslow) == 0)
		nth++;
	if (do_flood && pthread_create(&th[nth], NULL, flood, NULL) == 0)
		nth++;
	if (do_garbage && pthread_create(&th[nth], NULL, garbage, NULL) == 0)
		nth++;

	snprintf(req_ka, sizeof(req_ka), "GET %s HTTP/1.1\r\nHost: x\r\n\r\n",
		 path);
	snprintf(req, sizeof(req),
		 "GET %s HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
		 path);
	sleep_ms(1000);
	stop_checks = t_end - 1000000000ull;
	next = now_ns();
	while (now_ns() < stop_checks) {
		uint64_t s;
		int fd, rc;

		while (now_ns() < next)
			sleep_ms(1);
		next += 1000000000ull / rate;
		if (k++ % 2 == 0) {
			if (ka < 0)
				ka = dial("127.0.0.1", false);
			s = now_ns();
			rc = ka < 0 ? -1 :
				      one_check(ka, req_ka, strlen(req_ka));
			if (rc == 0) {
				lat_add(&keep, now_ns() - s);
			} else {
				keep.failed++;
				if (ka >= 0)
					close(ka);
				ka = -1;
			}
		} else {
			s = now_ns();
			fd = dial("127.0.0.1", false);
			rc = fd < 0 ? -1 : one_check(fd, req, strlen(req));
			if (rc == 0)
				lat_add(&fresh, now_ns() - s);
			else
				fresh.failed++;
			if (fd >= 0)
				close(fd);
		}
	}
	if (ka >= 0)
		close(ka);
	while (nth > 0)
		pthread_join(th[--nth], NULL);
	report("keepalive", &keep);
	report("new", &fresh);
	printf("attackers slowloris_opened=%lu slowloris_closed=%lu "
	       "slowloris_bytes=%lu flood_connects=%lu flood_failed=%lu "
	       "garbage_connections=%lu garbage_bytes_answered=%lu\n",
	       atomic_load(&slow_opened), atomic_load(&slow_closed),
	       atomic_load(&slow_bytes), atomic_load(&flood_ok),
	       atomic_load(&flood_failed), atomic_load(&garbage_conns),
	       atomic_load(&garbage_bytes_in));
	free(keep.v);
	free(fresh.v);
	return 0;
}
