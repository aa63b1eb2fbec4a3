// SPDX-License-Identifier: MIT
/*
 * Unit tests of libipwall-client (src/client/client.c), linked as the
 * shared library callers use, against real unix datagram sockets that the
 * test binds in a directory of its own:
 *   - what the client sends, the daemon's reader (src/daemon/autoban/
 *     wire.c) reads back as exactly the event reported, one per datagram;
 *   - bad arguments get their precise code and send nothing;
 *   - with no socket, and with a socket whose queue is full (never read),
 *     100k reports return (under alarm(10): "did not hang", never a timing)
 *     and each is counted as sent or dropped;
 *   - the client connects when the receiver appears and reconnects when
 *     it is replaced (a daemon restart), at most once a second;
 *   - many threads reporting at once lose nothing that was counted sent,
 *     and connect and reconnect while the others send;
 *   - the socket path: argument, environment, default, too long.
 */
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <ipwall/client.h>

#include "autoban/wire.h"

#include "tap.h"

static char dir[64];

static void sockpath(char *buf, size_t size, const char *name)
{
	snprintf(buf, size, "%s/%s", dir, name);
}

/* A receiver: a datagram socket bound at @path (replacing a stale file). */
static int bind_at(const char *path)
{
	struct sockaddr_un sun = {.sun_family = AF_UNIX};
	int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);

	if (fd < 0)
		return -1;
	unlink(path);
	snprintf(sun.sun_path, sizeof(sun.sun_path), "%s", path);
	if (bind(fd, (struct sockaddr *)&sun, sizeof(sun)) < 0) {
		close(fd);
		return -1;
	}
	return fd;
}

/* One datagram within @ms, or -1. */
static ssize_t recv_within(int fd, char *buf, size_t size, int ms)
{
	struct pollfd p = {.fd = fd, .events = POLLIN};

	if (poll(&p, 1, ms) != 1)
		return -1;
	return recv(fd, buf, size, MSG_DONTWAIT);
}

static void sleep_ms(long ms)
{
	struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};

	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

static void on_alarm(int sig)
{
	(void)sig;
	static const char msg[] = "Bail out! a report blocked (alarm)\n";
	ssize_t n = write(1, msg, sizeof(msg) - 1);

	(void)n;
	_exit(2);
}

/* ------------------------------------------------------------ round trip */

struct good {
	const char *ip, *type, *service, *user, *detail;
	const char *addr; /* canonical, as the daemon reads it */
};

static const struct good goods[] = {
	{"192.0.2.1", "ssh_auth_fail", NULL, NULL, NULL, "192.0.2.1"},
	{"192.0.2.1", "ssh_auth_fail", "sshd", "root",
	 "Failed password for root from 192.0.2.1 port 50022 ssh2",
	 "192.0.2.1"},
	{"2001:DB8:0:0:0:0:0:1", "http.401", "nginx", NULL, NULL,
	 "2001:db8::1"},
	{"::ffff:198.51.100.7", "smtp-auth", "postfix", "", "", "198.51.100.7"},
	{"203.0.113.9", "x", NULL, NULL, "only a detail", "203.0.113.9"},
	{"203.0.113.9", "x", NULL, "only a user", NULL, "203.0.113.9"},
	{"203.0.113.9", "x", "", "", "after two empty fields", "203.0.113.9"},
	{"::", "a.b-c_d", "s", "jos\xc3\xa9", "\xe2\x9c\x93 utf-8", "::"},
};

static void test_round_trip(void)
{
	char path[128], buf[IPWD_WIRE_DGRAM_MAX + 1], a[IPW_ADDR_STRLEN];
	char type[40], service[40], user[80], detail[300];
	struct ipw_client *c;
	uint64_t sent, dropped;
	int fd, rc, good = 0;

	sockpath(path, sizeof(path), "rt.sock");
	fd = bind_at(path);
	ok(fd >= 0, "receiver bound at %s", path);
	is_int(ipw_client_new(&c, path), 0, "client made");
	is_str(ipw_client_path(c), path, "client's path");

	/* Every good event: sent, one datagram, read back exactly. */
	for (size_t i = 0; i < sizeof(goods) / sizeof(goods[0]); i++) {
		const struct good *g = &goods[i];
		struct ipwd_wire_reader r;
		struct ipwd_event ev;
		struct ipwd_wire_error err;
		ssize_t n;

		good++;
		rc = ipw_client_report(c, g->ip, g->type, g->service, g->user,
				       g->detail);
		is_int(rc, 0, "report %zu (%s %s) sent", i, g->ip, g->type);
		n = recv_within(fd, buf, sizeof(buf), 2000);
		ok(n > 0 && buf[n - 1] == '\n',
		   "report %zu: one datagram, ending in a newline", i);
		if (n <= 0)
			continue;
		ipwd_wire_reader_init(&r, buf, (size_t)n);
		rc = ipwd_wire_next(&r, &ev, &err);
		is_int(rc, 1, "report %zu: the daemon's reader accepts it", i);
		if (rc != 1)
			continue;
		ipw_addr_format(&ev.addr, a, sizeof(a));
		is_str(a, g->addr, "report %zu: address", i);
		snprintf(type, sizeof(type), "%s", g->type);
		snprintf(service, sizeof(service), "%s",
			 g->service ? g->service : "");
		snprintf(user, sizeof(user), "%s", g->user ? g->user : "");
		snprintf(detail, sizeof(detail), "%s",
			 g->detail ? g->detail : "");
		ok(strcmp(ev.type, type) == 0 &&
			   strcmp(ev.service, service) == 0 &&
			   strcmp(ev.user, user) == 0 &&
			   strcmp(ev.detail, detail) == 0,
		   "report %zu: every field as reported", i);
		is_int(ipwd_wire_next(&r, &ev, &err), 0,
		       "report %zu: one event in the datagram", i);
	}

	/* Every field at its limit goes through; the line is then at its
	 * longest. */
	{
		char t[IPW_CLIENT_TYPE_MAX + 1], s[IPW_CLIENT_SERVICE_MAX + 1];
		char u[IPW_CLIENT_USER_MAX + 1], d[IPW_CLIENT_DETAIL_MAX + 1];
		struct ipwd_wire_reader r;
		struct ipwd_event ev;
		ssize_t n;

		memset(t, 't', sizeof(t) - 1);
		memset(s, 's', sizeof(s) - 1);
		memset(u, 'U', sizeof(u) - 1);
		memset(d, '~', sizeof(d) - 1);
		t[sizeof(t) - 1] = s[sizeof(s) - 1] = u[sizeof(u) - 1] =
			d[sizeof(d) - 1] = '\0';
		rc = ipw_client_report(
			c, "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", t, s, u,
			d);
		is_int(rc, 0, "every field at its limit: sent");
		n = recv_within(fd, buf, sizeof(buf), 2000);
		ipwd_wire_reader_init(&r, buf, n > 0 ? (size_t)n : 0);
		ok(n > 0 && ipwd_wire_next(&r, &ev, NULL) == 1 &&
			   strcmp(ev.detail, d) == 0 && strcmp(ev.user, u) == 0,
		   "every field at its limit: read back whole");
		good++;
	}

	ipw_client_stats(c, &sent, &dropped);
	is_int(sent, good, "stats: every good report sent");
	is_int(dropped, 0, "stats: none dropped");
	ipw_client_free(c);
	close(fd);
	unlink(path);

	is_int(IPW_CLIENT_TYPE_MAX, IPWD_WIRE_TYPE_MAX, "TYPE limits agree");
	is_int(IPW_CLIENT_SERVICE_MAX, IPWD_WIRE_SERVICE_MAX,
	       "SERVICE limits agree");
	is_int(IPW_CLIENT_USER_MAX, IPWD_WIRE_USER_MAX, "USER limits agree");
	is_int(IPW_CLIENT_DETAIL_MAX, IPWD_WIRE_DETAIL_MAX,
	       "DETAIL limits agree");
}

/* ------------------------------------------------------------ bad input */

struct bad {
	const char *ip, *type, *service, *user, *detail;
	int rc;
};

static char long33[34], long65[66], long257[258];

static void test_bad_arguments(void)
{
	const struct bad bads[] = {
		{NULL, "t", NULL, NULL, NULL, IPW_EADDR_EMPTY},
		{"", "t", NULL, NULL, NULL, IPW_EADDR_EMPTY},
		{"192.0.2.0/24", "t", NULL, NULL, NULL,
		 IPW_EADDR_PREFIX_DENIED},
		{"192.0.2.1/32", "t", NULL, NULL, NULL,
		 IPW_EADDR_PREFIX_DENIED},
		{"2001:db8::/64", "t", NULL, NULL, NULL,
		 IPW_EADDR_PREFIX_DENIED},
		{"010.0.2.1", "t", NULL, NULL, NULL, IPW_EADDR_V4_LEADING_ZERO},
		{"192.0.2.256", "t", NULL, NULL, NULL,
		 IPW_EADDR_V4_OCTET_RANGE},
		{" 192.0.2.1", "t", NULL, NULL, NULL, IPW_EADDR_SPACE},
		{"192.0.2.1\n", "t", NULL, NULL, NULL, IPW_EADDR_SPACE},
		{"fe80::1%eth0", "t", NULL, NULL, NULL, IPW_EADDR_ZONE},
		{"example.com", "t", NULL, NULL, NULL,
		 IPW_EADDR_V4_NOT_DECIMAL},
		{"192.0.2.1", NULL, NULL, NULL, NULL, IPW_EEVENT_TYPE_EMPTY},
		{"192.0.2.1", "", NULL, NULL, NULL, IPW_EEVENT_TYPE_EMPTY},
		{"192.0.2.1", "SSH", NULL, NULL, NULL, IPW_EEVENT_TYPE_CHAR},
		{"192.0.2.1", "ssh fail", NULL, NULL, NULL,
		 IPW_EEVENT_TYPE_CHAR},
		{"192.0.2.1", "ssh\tfail", NULL, NULL, NULL,
		 IPW_EEVENT_TYPE_CHAR},
		{"192.0.2.1", long33, NULL, NULL, NULL, IPW_EEVENT_TYPE_LONG},
		{"192.0.2.1", "t", long33, NULL, NULL, IPW_EEVENT_SERVICE_LONG},
		{"192.0.2.1", "t", "Sshd", NULL, NULL, IPW_EEVENT_SERVICE_CHAR},
		{"192.0.2.1", "t", "s", long65, NULL, IPW_EEVENT_USER_LONG},
		{"192.0.2.1", "t", "s", "ro\tot", NULL, IPW_EEVENT_USER_CHAR},
		{"192.0.2.1", "t", "s", "root\n", NULL, IPW_EEVENT_USER_CHAR},
		{"192.0.2.1", "t", "s", "\x1b[31m", NULL, IPW_EEVENT_USER_CHAR},
		{"192.0.2.1", "t", "s", "u", long257, IPW_EEVENT_DETAIL_LONG},
		{"192.0.2.1", "t", "s", "u", "a\tb", IPW_EEVENT_DETAIL_CHAR},
		{"192.0.2.1", "t", "s", "u", "line\r\n",
		 IPW_EEVENT_DETAIL_CHAR},
		{"192.0.2.1", "t", "s", "u", "\x7f", IPW_EEVENT_DETAIL_CHAR},
		/* The first bad argument, left to right, is the one named. */
		{"192.0.2.0/24", "BAD", "BAD", NULL, NULL,
		 IPW_EADDR_PREFIX_DENIED},
		{"192.0.2.1", "t", "BAD", "\x01", "\x01",
		 IPW_EEVENT_SERVICE_CHAR},
	};
	char path[128], buf[512];
	struct ipw_client *c;
	uint64_t sent = 1, dropped = 1;
	int fd, rc;

	memset(long33, 'a', 33);
	memset(long65, 'u', 65);
	memset(long257, 'd', 257);

	sockpath(path, sizeof(path), "bad.sock");
	fd = bind_at(path);
	is_int(ipw_client_new(&c, path), 0, "client made");
	for (size_t i = 0; i < sizeof(bads) / sizeof(bads[0]); i++) {
		const struct bad *b = &bads[i];

		rc = ipw_client_report(c, b->ip, b->type, b->service, b->user,
				       b->detail);
		is_str(ipw_client_errname(rc), ipw_client_errname(b->rc),
		       "bad report %zu: %s", i, ipw_client_strerror(b->rc));
	}
	is_int(ipw_client_report(NULL, "192.0.2.1", "t", NULL, NULL, NULL),
	       -EINVAL, "NULL client: -EINVAL");
	ok(recv_within(fd, buf, sizeof(buf), 100) < 0,
	   "nothing was sent for a bad report");
	ipw_client_stats(c, &sent, &dropped);
	ok(sent == 0 && dropped == 0, "bad reports are not counted");
	is_str(ipw_client_errname(IPW_CLIENT_DROPPED), "DROPPED",
	       "DROPPED has a name");
	ok(strstr(ipw_client_strerror(IPW_CLIENT_DROPPED), "dropped") != NULL,
	   "DROPPED has a sentence");
	ipw_client_free(c);
	close(fd);
	unlink(path);
}

/* ------------------------------------------------------------ away, full */

#define MANY 100000

static void test_no_socket(void)
{
	char path[128];
	struct ipw_client *c;
	uint64_t sent, dropped;
	int drops = 0, other = 0;

	sockpath(path, sizeof(path), "nobody-here.sock");
	is_int(ipw_client_new(&c, path), 0,
	       "client made for a socket that does not exist");
	alarm(10);
	for (int i = 0; i < MANY; i++) {
		int rc = ipw_client_report(c, "192.0.2.1", "ssh_auth_fail",
					   "sshd", "root", NULL);

		drops += rc == IPW_CLIENT_DROPPED;
		other += rc != IPW_CLIENT_DROPPED;
	}
	alarm(0);
	ok(1, "no socket: %d reports returned (did not hang)", MANY);
	is_int(drops, MANY, "no socket: every report says DROPPED");
	is_int(other, 0, "no socket: nothing else");
	ipw_client_stats(c, &sent, &dropped);
	is_int(sent, 0, "no socket: sent 0");
	is_int(dropped, MANY, "no socket: dropped counts them all");
	ipw_client_free(c);
}

static void test_full_queue(void)
{
	char path[128];
	struct ipw_client *c;
	uint64_t sent, dropped;
	int fd, n0 = 0, n1 = 0, other = 0;

	sockpath(path, sizeof(path), "full.sock");
	fd = bind_at(path); /* never read */
	ok(fd >= 0, "a receiver that never reads");
	is_int(ipw_client_new(&c, path), 0, "client made");
	alarm(10);
	for (int i = 0; i < MANY; i++) {
		int rc = ipw_client_report(c, "2001:db8::1", "http.404",
					   "nginx", NULL, "GET /wp-login.php");

		n0 += rc == 0;
		n1 += rc == IPW_CLIENT_DROPPED;
		other += rc != 0 && rc != IPW_CLIENT_DROPPED;
	}
	alarm(0);
	ok(1, "full queue: %d reports returned (did not hang)", MANY);
	ok(n0 > 0, "full queue: the first reports were queued (%d)", n0);
	ok(n1 > 0, "full queue: the rest were dropped (%d)", n1);
	is_int(other, 0, "full queue: nothing else");
	ipw_client_stats(c, &sent, &dropped);
	is_int(sent, n0, "full queue: sent counts the queued");
	is_int(dropped, n1, "full queue: dropped counts the dropped");
	is_int(sent + dropped, MANY, "full queue: every report counted once");
	ipw_client_free(c);
	close(fd);
	unlink(path);
}

/* ------------------------------------------------------------ reconnect */

/* Report until one arrives at @fd or @ms pass; the reports' results. */
static int report_until_received(struct ipw_client *c, int fd, int ms,
				 int *reports)
{
	char buf[512];

	for (int t = 0; t < ms; t += 50) {
		int rc = ipw_client_report(c, "192.0.2.44", "reconnect", NULL,
					   NULL, NULL);

		(*reports)++;
		if (rc == 0 && recv_within(fd, buf, sizeof(buf), 1000) > 0)
			return 1;
		sleep_ms(50);
	}
	return 0;
}

static void test_reconnect(void)
{
	char path[128], buf[512];
	struct ipw_client *c;
	uint64_t sent, dropped;
	int fd, rc, reports = 0, tries;

	sockpath(path, sizeof(path), "later.sock");
	is_int(ipw_client_new(&c, path), 0, "client made before the daemon");
	is_int(ipw_client_report(c, "192.0.2.44", "t", NULL, NULL, NULL),
	       IPW_CLIENT_DROPPED, "before the daemon: dropped");

	fd = bind_at(path);
	ok(fd >= 0, "the daemon's socket appears");
	/* Within a second of the last attempt the client may not try yet;
	 * after it, it must. */
	tries = 0;
	rc = report_until_received(c, fd, 3000, &tries);
	ok(rc,
	   "the client connects by itself once the socket is there "
	   "(after %d reports)",
	   tries);
	ok(tries <= 40, "and within about a second (%d reports, 50 ms apart)",
	   tries);
	reports += tries;

	/* A restart: the socket is closed and a new one bound at the path. */
	close(fd);
	fd = bind_at(path);
	ok(fd >= 0, "the daemon restarts: a new socket at the same path");
	tries = 0;
	rc = report_until_received(c, fd, 3000, &tries);
	ok(rc, "the client reconnects to the new socket (after %d reports)",
	   tries);
	ok(tries <= 40, "within about a second");
	reports += tries;
	is_int(ipw_client_report(c, "192.0.2.45", "t", NULL, NULL, NULL), 0,
	       "and stays connected");
	ok(recv_within(fd, buf, sizeof(buf), 1000) > 0, "the next arrives");
	reports++;

	ipw_client_stats(c, &sent, &dropped);
	is_int(sent + dropped, reports + 1, "every report counted once");
	ipw_client_free(c);
	close(fd);
	unlink(path);
}

/* ------------------------------------------------------------ threads */

#define THREADS	   8
#define PER_THREAD 20000

struct drain {
	int fd;
	volatile int stop;
	uint64_t events, bad;
};

static void *drain_thread(void *arg)
{
	struct drain *d = arg;
	char buf[IPWD_WIRE_DGRAM_MAX + 1];

	for (;;) {
		ssize_t n = recv_within(d->fd, buf, sizeof(buf), 200);
		struct ipwd_wire_reader r;
		struct ipwd_event ev;
		int rc;

		if (n < 0) {
			if (__atomic_load_n(&d->stop, __ATOMIC_ACQUIRE))
				break;
			continue;
		}
		ipwd_wire_reader_init(&r, buf, (size_t)n);
		while ((rc = ipwd_wire_next(&r, &ev, NULL)) != 0) {
			d->events += rc == 1;
			d->bad += rc < 0;
		}
	}
	return NULL;
}

static void *report_thread(void *arg)
{
	struct ipw_client *c = arg;
	char ip[32];

	for (int i = 0; i < PER_THREAD; i++) {
		snprintf(ip, sizeof(ip), "10.%d.%d.%d", (i >> 16) & 255,
			 (i >> 8) & 255, i & 255);
		if (ipw_client_report(c, ip, "threaded", "test", NULL, NULL) <
		    0)
			abort();
	}
	return NULL;
}

static void test_threads(void)
{
	char path[128];
	pthread_t rt, t[THREADS];
	struct drain d = {0};
	struct ipw_client *c;
	uint64_t sent, dropped;

	sockpath(path, sizeof(path), "threads.sock");
	d.fd = bind_at(path);
	is_int(ipw_client_new(&c, path), 0, "client made");
	pthread_create(&rt, NULL, drain_thread, &d);
	alarm(60);
	for (int i = 0; i < THREADS; i++)
		pthread_create(&t[i], NULL, report_thread, c);
	for (int i = 0; i < THREADS; i++)
		pthread_join(t[i], NULL);
	alarm(0);
	__atomic_store_n(&d.stop, 1, __ATOMIC_RELEASE);
	pthread_join(rt, NULL);
	ipw_client_stats(c, &sent, &dropped);
	is_int(sent + dropped, THREADS * PER_THREAD,
	       "%d threads: every report counted once", THREADS);
	is_int(d.events, sent,
	       "%d threads: the receiver read exactly what was sent (%llu, "
	       "%llu dropped)",
	       THREADS, (unsigned long long)sent, (unsigned long long)dropped);
	is_int(d.bad, 0, "%d threads: no bad line", THREADS);
	ipw_client_free(c);
	close(d.fd);
	unlink(path);
}

/* Threads that report until told to stop, while the receiver comes and
 * goes: connects and reconnects happen with sends in flight on other
 * threads (what tsan_client is for). */
struct churn {
	struct ipw_client *c;
	volatile int stop;
	uint64_t reports;
};

static void *churn_thread(void *arg)
{
	struct churn *ch = arg;
	uint64_t n = 0;

	while (!__atomic_load_n(&ch->stop, __ATOMIC_ACQUIRE)) {
		if (ipw_client_report(ch->c, "198.51.100.1", "churn", NULL,
				      NULL, NULL) < 0)
			abort();
		n++;
		if (n % 64 == 0)
			sleep_ms(1);
	}
	__atomic_fetch_add(&ch->reports, n, __ATOMIC_RELAXED);
	return NULL;
}

static void test_threads_restart(void)
{
	char path[128], buf[512];
	pthread_t t[4];
	struct churn ch = {0};
	uint64_t sent, dropped;
	int fd1, fd2, got1 = 0, got2 = 0;

	sockpath(path, sizeof(path), "churn.sock");
	is_int(ipw_client_new(&ch.c, path), 0, "client made");
	alarm(30);
	for (int i = 0; i < 4; i++)
		pthread_create(&t[i], NULL, churn_thread, &ch);
	sleep_ms(300);
	fd1 = bind_at(path); /* the daemon starts */
	sleep_ms(1500);
	while (recv(fd1, buf, sizeof(buf), MSG_DONTWAIT) > 0)
		got1++;
	close(fd1);
	fd2 = bind_at(path); /* and restarts */
	sleep_ms(1500);
	__atomic_store_n(&ch.stop, 1, __ATOMIC_RELEASE);
	for (int i = 0; i < 4; i++)
		pthread_join(t[i], NULL);
	alarm(0);
	while (recv(fd2, buf, sizeof(buf), MSG_DONTWAIT) > 0)
		got2++;
	ipw_client_stats(ch.c, &sent, &dropped);
	is_int(sent + dropped, ch.reports,
	       "restart under 4 threads: every report counted once (%llu)",
	       (unsigned long long)ch.reports);
	ok(got1 > 0, "restart under 4 threads: the first socket got reports");
	ok(got2 > 0, "restart under 4 threads: so did the second");
	ipw_client_free(ch.c);
	close(fd2);
	unlink(path);
}

/* ------------------------------------------------------------ paths */

static void test_paths(void)
{
	char path[128], longp[200];
	struct ipw_client *c = NULL;

	unsetenv(IPW_CLIENT_SOCKET_ENV);
	is_int(ipw_client_new(&c, NULL), 0, "NULL path: made");
	is_str(ipw_client_path(c), "/run/ipwalld/events.sock",
	       "NULL path: the default");
	ipw_client_free(c);

	sockpath(path, sizeof(path), "env.sock");
	setenv(IPW_CLIENT_SOCKET_ENV, path, 1);
	is_int(ipw_client_new(&c, NULL), 0, "env: made");
	is_str(ipw_client_path(c), path, "env: IPWALL_EVENTS_SOCKET is used");
	ipw_client_free(c);
	is_int(ipw_client_new(&c, "/elsewhere.sock"), 0, "argument: made");
	is_str(ipw_client_path(c), "/elsewhere.sock",
	       "argument beats the environment");
	ipw_client_free(c);
	setenv(IPW_CLIENT_SOCKET_ENV, "", 1);
	is_int(ipw_client_new(&c, NULL), 0, "empty env: made");
	is_str(ipw_client_path(c), IPW_CLIENT_SOCKET_DEFAULT,
	       "empty env: the default");
	ipw_client_free(c);
	unsetenv(IPW_CLIENT_SOCKET_ENV);

	memset(longp, 'p', 108);
	longp[0] = '/';
	longp[108] = '\0';
	c = NULL;
	is_int(ipw_client_new(&c, longp), -ENAMETOOLONG,
	       "a path of 108 bytes does not fit");
	ok(c == NULL, "and no client is made");
	longp[107] = '\0';
	is_int(ipw_client_new(&c, longp), 0, "a path of 107 bytes does");
	ipw_client_free(c);
	is_int(ipw_client_new(&c, ""), -EINVAL, "an empty path: -EINVAL");
	is_int(ipw_client_new(NULL, path), -EINVAL, "no out: -EINVAL");
	ipw_client_free(NULL);
	ok(1, "ipw_client_free(NULL) is a no-op");
}

int main(void)
{
	char tmpl[] = "/tmp/ipwall-client-test.XXXXXX";

	signal(SIGALRM, on_alarm);
	if (!mkdtemp(tmpl)) {
		printf("Bail out! mkdtemp: %s\n", strerror(errno));
		return 1;
	}
	snprintf(dir, sizeof(dir), "%s", tmpl);

	test_round_trip();
	test_bad_arguments();
	test_no_socket();
	test_full_queue();
	test_reconnect();
	test_threads();
	test_threads_restart();
	test_paths();

	rmdir(dir);
	return done_testing();
}
