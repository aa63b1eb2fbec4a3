// SPDX-License-Identifier: MIT
/*
 * libFuzzer harness for the whole HTTP request path: raw bytes in,
 * through a real ipwalld HTTP front (libmicrohttpd, the URI and header
 * checks, routing, auth, the handlers, the blocking threads) running in
 * this process, built at start the way src/daemon/main.c builds it but
 * memory only: no store, no audit log, no unix socket, no data directory,
 * TCP on 127.0.0.1 at a port the kernel picks. Its tokens file is written
 * to a temporary directory, loaded, and removed again; it holds fixed
 * secrets so that seeds can carry them:
 *   fuzz:0123456789abcdef0123456789abcdef:admin
 *   reader:fedcba9876543210fedcba9876543210:check
 * The lock-out after wrong tokens is off, or a few bad tokens would turn
 * every later input into the same 429.
 *
 * Each input is sent on a new connection to 127.0.0.1 (from a loopback
 * address of its own: from_next_address()), the connection is half-closed
 * (shutdown(SHUT_WR)) and the answer read until EOF, for 2 s at most and
 * until 200 ms pass without a byte (see exchange()). Beyond "does not
 * crash" (in any of the daemon's threads):
 *   - the daemon keeps answering: after each input, a GET /healthz on a
 *     new connection (half-closed too) is answered "HTTP/1.1 200" within
 *     5 s;
 *   - every complete answer that starts with "HTTP/1.1 4" and says
 *     Content-Type: application/json has a body that is the API's error,
 *     {"error": {"code": STRING, "message": STRING, ...}} (docs/api.md,
 *     "Errors"), or, for a 403 only, a blocked verdict of /v1/check (which
 *     answers 403 with the verdict by design). Answers to HEAD carry no
 *     body, so the first answer is skipped when the first request line
 *     says HEAD, and the ones after it when the input says HEAD anywhere.
 *
 * Time per input: two connections on loopback; at most 2 s + 5 s.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <ipwall/table.h>

#include "api/auth.h"
#include "api/daemon.h"
#include "api/http.h"
#include "api/metrics.h"
#include "base/clock.h"
#include "base/config.h"
#include "base/log.h"
#include "oplog/ops.h"

#define ANSWER_MAX   (1u << 20) /* bytes of an answer kept; more is read */
#define INPUT_MS     2000
#define QUIET_MS     200
#define FIN_DELAY_MS 1
#define HEALTHZ_MS   5000

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char tokens[] = "fuzz:0123456789abcdef0123456789abcdef:admin\n"
			     "reader:fedcba9876543210fedcba9876543210:check\n";

static const char healthz[] = "GET /healthz HTTP/1.1\r\nHost: x\r\n"
			      "Connection: close\r\n\r\n";

static struct ipwd d;
static unsigned port;
static char *answer;
static int64_t last_tick;

/*
 * LeakSanitizer does not scan memory from mmap(), and the table's entry
 * chunks (4 MiB, mapped for huge pages: src/lib/index.h, ix_alloc()) are
 * where a live entry's metadata block is pointed to from, so every ban
 * with a reason, actor or source would look leaked while it is in the
 * table. Only those blocks are exempt; every other leak is reported.
 */
const char *__lsan_default_suppressions(void);

const char *__lsan_default_suppressions(void)
{
	return "leak:meta_new\n";
}

static void check(int cond)
{
	if (!cond)
		abort();
}

static void die(const char *what)
{
	fprintf(stderr, "fuzz_http: %s\n", what);
	exit(1);
}

static void set(const char *section, const char *key, const char *value)
{
	const char *why =
		ipwd_conf_set(&ipwd_config_schema, &d.cfg, section, key, value);

	if (why) {
		fprintf(stderr, "fuzz_http: [%s] %s = %s: %s\n", section, key,
			value, why);
		exit(1);
	}
}

static int64_t now_ms(void)
{
	return (int64_t)(ipwd_now_ns() / 1000000);
}

/*
 * Connections and TIME_WAIT. The side that closes first keeps the
 * connection's 4-tuple in TIME_WAIT for a minute, and we half-close
 * first. With two connections per input and several hundred inputs a
 * second, one source address would run through its 28,000 ephemeral
 * ports within the minute, and connect() slows down well before. So each
 * connection comes from the next address of 127.1.0.0/16 (all of 127/8 is
 * loopback). The daemon's per-address table is bounded by
 * max_connections and the lock-out is off, so the addresses change
 * nothing else.
 */
static void from_next_address(int fd)
{
	static uint32_t next;
	struct sockaddr_in src = {.sin_family = AF_INET};
	int one = 1;

	next = (next + 1) % (256 * 254);
	src.sin_addr.s_addr =
		htonl(0x7f010000u | (next / 254) << 8 | (next % 254 + 1));
	setsockopt(fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof(one));
	if (bind(fd, (struct sockaddr *)&src, sizeof(src)) != 0)
		return; /* then from 127.0.0.1, as connect() picks */
}

/*
 * Send @req[0..len) on a new connection to the daemon, half-close it, and
 * read the answer into @answer until EOF, an error, @ms milliseconds, or
 * (@quiet_ms not 0) @quiet_ms without a byte since the half-close or the
 * last byte. Incoming bytes are read while sending, so a server that
 * answers early never stalls us. Returns the bytes kept.
 *
 * When our data and our FIN are both queued before libmicrohttpd's first
 * read, it sometimes reads the data and never notices the FIN (its epoll
 * is edge-triggered): it answers, or waits for the rest of a request,
 * until its idle timeout. Each such input cost the whole 2 s (measured:
 * one input in about 400, most of a run's time). So the FIN follows the
 * first byte of the answer, or FIN_DELAY_MS after the input when none
 * came, by which time the daemon has read the input; the quiet limit
 * catches the rest. A connection given up on is reset (SO_LINGER 0), so
 * the daemon drops it at once.
 */
static size_t exchange(const void *req, size_t len, int ms, int quiet_ms)
{
	struct sockaddr_in sa = {.sin_family = AF_INET,
				 .sin_port = htons((uint16_t)port),
				 .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	struct linger reset = {.l_onoff = 1, .l_linger = 0};
	int64_t now = now_ms(), deadline = now + ms, sent_at = 0, last = 0;
	int64_t wake;
	size_t sent = 0, got = 0;
	bool shut = false, done = false;
	struct pollfd p;
	char trash[4096];
	ssize_t n;
	int fd;

	fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	check(fd >= 0);
	from_next_address(fd);
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0 &&
	    errno != EINPROGRESS) {
		close(fd);
		return 0;
	}
	while (!done) {
		now = now_ms();
		if (sent == len && !shut) {
			if (sent_at == 0)
				sent_at = now;
			if (got > 0 || now >= sent_at + FIN_DELAY_MS) {
				shutdown(fd, SHUT_WR);
				shut = true;
				last = now;
			}
		}
		wake = deadline;
		if (sent == len && !shut && sent_at + FIN_DELAY_MS < wake)
			wake = sent_at + FIN_DELAY_MS;
		if (shut && quiet_ms && last + quiet_ms < wake)
			wake = last + quiet_ms;
		if (now >= deadline || (shut && quiet_ms && now >= wake))
			break;
		p.fd = fd;
		p.events = POLLIN | (sent < len ? POLLOUT : 0);
		p.revents = 0;
		if (poll(&p, 1, (int)(wake - now)) < 0) {
			if (errno == EINTR)
				continue;
			break;
		}
		if ((p.revents & POLLOUT) && sent < len) {
			n = send(fd, (const char *)req + sent, len - sent,
				 MSG_NOSIGNAL);
			if (n > 0)
				sent += (size_t)n;
			else if (n < 0 && errno != EAGAIN && errno != EINTR)
				sent = len; /* the server is gone: read */
		}
		if (p.revents & (POLLIN | POLLHUP | POLLERR)) {
			if (got < ANSWER_MAX)
				n = recv(fd, answer + got, ANSWER_MAX - got, 0);
			else
				n = recv(fd, trash, sizeof(trash), 0);
			if (n > 0 && got < ANSWER_MAX)
				got += (size_t)n;
			if (n > 0)
				last = now_ms();
			done = n == 0 ||
			       (n < 0 && errno != EAGAIN && errno != EINTR);
		}
	}
	if (!done)
		setsockopt(fd, SOL_SOCKET, SO_LINGER, &reset, sizeof(reset));
	close(fd);
	return got;
}

static const char *find(const char *hay, size_t n, const char *needle)
{
	return memmem(hay, n, needle, strlen(needle));
}

static bool has_caseless(const uint8_t *s, size_t n, const char *needle)
{
	size_t k = strlen(needle), i;

	for (i = 0; i + k <= n; i++)
		if (strncasecmp((const char *)s + i, needle, k) == 0)
			return true;
	return false;
}

/* Does the first request line (after any empty lines) say HEAD? */
static bool first_line_head(const uint8_t *in, size_t n)
{
	size_t s = 0, e;

	while (s < n && (in[s] == '\r' || in[s] == '\n'))
		s++;
	for (e = s; e < n && in[e] != '\r' && in[e] != '\n'; e++)
		;
	return has_caseless(in + s, e - s, "HEAD");
}

/* The value of header @name in @h[0..n) (the header lines of one
 * answer), NULL if absent; its length in *@vlen. */
static const char *header(const char *h, size_t n, const char *name,
			  size_t *vlen)
{
	size_t k = strlen(name), s, e;

	for (s = 0; s < n; s = e + 2) {
		const char *crlf = find(h + s, n - s, "\r\n");

		e = crlf ? (size_t)(crlf - h) : n;
		if (e - s > k && h[s + k] == ':' &&
		    strncasecmp(h + s, name, k) == 0) {
			s += k + 1;
			while (s < e && (h[s] == ' ' || h[s] == '\t'))
				s++;
			*vlen = e - s;
			return h + s;
		}
	}
	return NULL;
}

/* A 4xx JSON body: the API's error, or /v1/check's blocked verdict. */
static void check_error_body(unsigned status, const char *body, size_t len)
{
	json_t *v = json_loadb(body, len, 0, NULL), *e, *verdict;

	check(json_is_object(v));
	e = json_object_get(v, "error");
	if (e) {
		check(json_is_object(e));
		check(json_is_string(json_object_get(e, "code")));
		check(json_is_string(json_object_get(e, "message")));
		check(json_object_get(e, "field") == NULL ||
		      json_is_string(json_object_get(e, "field")));
	} else {
		verdict = json_object_get(v, "verdict");
		check(status == 403 && json_is_string(verdict) &&
		      strcmp(json_string_value(verdict), "blocked") == 0);
	}
	json_decref(v);
}

/*
 * Walk the answers in @a[0..n): each is a status line, headers, and a
 * body of Content-Length bytes (1xx: none). Stop at the first one that is
 * incomplete or not framed that way (chunked, or cut by the timeout).
 */
static void check_answers(const uint8_t *in, size_t inlen, const char *a,
			  size_t n)
{
	bool head_first = first_line_head(in, inlen);
	bool head_any = has_caseless(in, inlen, "HEAD");
	size_t pos = 0, idx = 0, hlen, blen, vlen;
	const char *end, *h, *v;
	unsigned status;
	char num[24];

	while (pos < n) {
		end = find(a + pos, n - pos, "\r\n\r\n");
		if (end == NULL || n - pos < 12 ||
		    memcmp(a + pos, "HTTP/1.", 7) != 0 || a[pos + 8] != ' ')
			return;
		if (a[pos + 9] < '1' || a[pos + 9] > '5' || a[pos + 10] < '0' ||
		    a[pos + 10] > '9' || a[pos + 11] < '0' || a[pos + 11] > '9')
			return;
		status = (unsigned)((a[pos + 9] - '0') * 100 +
				    (a[pos + 10] - '0') * 10 +
				    (a[pos + 11] - '0'));
		h = a + pos;
		hlen = (size_t)(end - h) + 2; /* header lines, each CRLF */
		pos = (size_t)(end - a) + 4;
		if (status < 200)
			continue; /* 100 Continue: the answer follows */
		if (header(h, hlen, "Transfer-Encoding", &vlen))
			return;
		v = header(h, hlen, "Content-Length", &vlen);
		if (v) {
			if (vlen == 0 || vlen >= sizeof(num))
				return;
			memcpy(num, v, vlen);
			num[vlen] = '\0';
			blen = (size_t)strtoull(num, NULL, 10);
		} else {
			blen = n - pos; /* until the connection closed */
		}
		if (blen > n - pos)
			return;
		if (memcmp(h, "HTTP/1.1 4", 10) == 0 &&
		    (idx == 0 ? !head_first : !head_any) &&
		    (v = header(h, hlen, "Content-Type", &vlen)) != NULL &&
		    vlen >= 16 && strncasecmp(v, "application/json", 16) == 0)
			check_error_body(status, a + pos, blen);
		pos += blen;
		idx++;
	}
}

/* GET /healthz on a new connection: "HTTP/1.1 200", or abort. */
static void check_alive(void)
{
	size_t n = exchange(healthz, strlen(healthz), HEALTHZ_MS, 0);

	if (n >= 12 && memcmp(answer, "HTTP/1.1 200", 12) == 0)
		return;
	fprintf(stderr, "fuzz_http: /healthz answered %zu bytes: %.*s\n", n,
		(int)(n < 200 ? n : 200), answer);
	abort();
}

static void stop_daemon(void)
{
	ipwd_http_stop(&d, 0);
	ipwd_api_tick(true);
	ipwd_ops_free(d.ops);
	ipw_table_free(d.table);
	ipwd_auth_free(d.auth);
	ipwd_config_free(&d.cfg);
	free(answer);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	struct ipwd_overrides ov = {.listen = "127.0.0.1:0"};
	struct ipw_table_opts topts = {0};
	char dir[] = "/tmp/fuzz_http.XXXXXX", path[64], err[1024];
	size_t loaded = 0, expired = 0;
	enum ipw_change what;
	bool created;
	int fd;

	(void)argc, (void)argv;
	signal(SIGPIPE, SIG_IGN);
	answer = malloc(ANSWER_MAX);
	if (answer == NULL)
		die("out of memory");
	ipwd_log_init();

	/* The tokens file, in a directory of our own, gone once loaded. */
	if (mkdtemp(dir) == NULL)
		die("mkdtemp failed");
	snprintf(path, sizeof(path), "%s/tokens", dir);
	fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (fd < 0 ||
	    write(fd, tokens, strlen(tokens)) != (ssize_t)strlen(tokens))
		die("cannot write the tokens file");
	close(fd);

	ov.data_dir = dir;
	if (ipwd_config_load(&d.cfg, NULL, &ov) != 0)
		die("the built-in configuration has errors");
	set("daemon", "log_level", "error");
	set("http", "socket", "");
	set("http", "threads", "2");
	set("http", "blocking_threads", "2");
	set("http", "timeout", "5s");
	set("http", "max_body", "1M");
	set("auth", "tokens_file", path);
	set("auth", "max_failures", "0");
	set("table", "max_entries", "100000");
	set("store", "path", "none");
	set("audit", "log", "none");

	/* main.c's apply_live() */
	live_set(&d, max_body, d.cfg.max_body);
	live_set(&d, max_header, d.cfg.max_header);
	live_set(&d, max_batch, (size_t)d.cfg.max_batch);
	live_set(&d, protect_reads, (size_t)d.cfg.protect_reads);
	live_set(&d, max_failures, d.cfg.max_failures);
	live_set(&d, per_ip, d.cfg.max_connections_per_ip);
	live_set(&d, lockout, d.cfg.lockout);
	live_set(&d, default_ban_ttl, d.cfg.default_ban_ttl);
	ipwd_log_set_level((enum ipwd_log_level)d.cfg.log_level);

	/* main.c's subsystems, those a memory-only daemon has */
	if (ipwd_auth_new(&d.auth, path, false, &created) != 0)
		die("cannot load the tokens");
	unlink(path);
	rmdir(dir);
	topts.max_entries = d.cfg.max_entries;
	topts.hit_sample = d.cfg.hit_sample;
	if (ipw_table_new(&d.table, &topts) != 0)
		die("cannot make the table");
	ipw_table_set_mode(d.table, (enum ipw_mode)d.cfg.mode, &what);
	if (ipwd_ops_new(&d.ops, d.table, d.cfg.node, NULL, NULL) != 0 ||
	    ipwd_ops_load(d.ops, &loaded, &expired, err, sizeof(err)) != 0)
		die("cannot start the op log");
	ipwd_metrics_init();
	d.started = (int64_t)time(NULL);
	if (ipwd_http_start(&d) != 0)
		die("cannot start the HTTP front");
	port = ipwd_http_port(&d);
	if (port == 0)
		die("no TCP port");
	atexit(stop_daemon);
	last_tick = ipwd_mono_s();
	check_alive();
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	size_t n = exchange(data, size, INPUT_MS, QUIET_MS);

	check_answers(data, size, answer, n);
	check_alive();
	/* main.c's loop, once a second: expiries and idle listing views */
	if (ipwd_mono_s() != last_tick) {
		last_tick = ipwd_mono_s();
		ipwd_ops_purge(d.ops);
		ipwd_api_tick(false);
	}
	return 0;
}
