// SPDX-License-Identifier: MIT
/*
 * libipwall-client: failure reports to ipwalld's event socket
 * (include/ipwall/client.h has the contract, docs/events.md the format).
 *
 * Design. One unix datagram socket per client, made non-blocking and
 * close-on-exec, connected to the daemon's path. A report is validated,
 * written as one line of the wire format into a buffer on the stack, and
 * sent with MSG_DONTWAIT | MSG_NOSIGNAL: one send() and nothing else on
 * the path every report takes while the daemon is up.
 *
 * When send() says the peer is gone (ECONNREFUSED: it closed; ENOTCONN:
 * never connected, or disconnected by the kernel after that), the report
 * may reconnect. A datagram socket can be connect()ed again to a new peer,
 * so the file descriptor never changes once made: no thread can ever send
 * on a number that another thread closed and the process reused. One
 * thread at a time owns the reconnect (a flag taken by compare-and-swap),
 * and it connects at most once a second (monotonic clock); every other
 * thread drops its report at once rather than wait. A full queue (EAGAIN,
 * ENOBUFS) means the daemon is there but behind: the report is dropped
 * and nothing reconnects.
 *
 * A connect() never overlaps a send() on the same socket. The kernel
 * would cope (the datagram goes to the old peer or the new), but the
 * overlap is a race in ThreadSanitizer's model of descriptors, and a
 * client that TSan flags is one nobody can run their own daemon under
 * TSan with. So a sender counts itself in flight and then checks the
 * reconnect flag, and the reconnecting thread sets the flag and then
 * checks that nobody is in flight (both sequentially consistent: one of
 * the two sees the other); on a clash the sender drops its report and the
 * reconnect is left to the next report, without waiting either way.

 * The IP argument goes through libipwall's own address parser (addr.c is
 * compiled into this library, hidden), and the line carries its canonical
 * text, so the daemon's reader accepts exactly the addresses this library
 * accepts. The other fields follow the same rules as
 * src/daemon/autoban/wire.c, written again here because the library must
 * not link the daemon; tests/unit/test_client.c checks that the daemon
 * reads back every line this library writes.
 *
 * Concurrency: every field but the path is read and written with atomic
 * builtins; no locks, no waiting. Counters are relaxed (statistics only);
 * the file descriptor is published with release/acquire, so a thread that
 * sees it sees the socket made.
 *
 * Cost: O(length of the arguments) plus one send(); while the daemon is
 * away, one failed send() and a clock read per report, and one socket()
 * or connect() per second at most.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <ipwall/addr.h>
#include <ipwall/client.h>
#include <ipwall/errcode.h>

#define API __attribute__((visibility("default")))

#define RETRY_NS 1000000000LL

struct ipw_client {
	int fd;		     /* -1 until the first attempt makes the socket */
	int connecting;	     /* 1 while a thread owns the reconnect */
	unsigned inflight;   /* threads between their check and their send */
	int64_t next_try_ns; /* monotonic: no connect() before this */
	uint64_t sent, dropped;
	struct sockaddr_un sun;
	socklen_t sunlen;
};

/* The line: the longest canonical address, four TABs, every field at its
 * limit, the '\n'. */
#define LINE_MAX                                                              \
	(IPW_ADDR_STRLEN + 4 + IPW_CLIENT_TYPE_MAX + IPW_CLIENT_SERVICE_MAX + \
	 IPW_CLIENT_USER_MAX + IPW_CLIENT_DETAIL_MAX + 1)

API int ipw_client_new(struct ipw_client **out, const char *path)
{
	struct ipw_client *c;
	size_t len;

	if (!out)
		return IPW_EINVAL;
	if (!path) {
		path = secure_getenv(IPW_CLIENT_SOCKET_ENV);
		if (!path || !*path)
			path = IPW_CLIENT_SOCKET_DEFAULT;
	}
	len = strlen(path);
	if (len == 0)
		return IPW_EINVAL;
	c = calloc(1, sizeof(*c));
	if (!c)
		return IPW_ENOMEM;
	if (len >= sizeof(c->sun.sun_path)) {
		free(c);
		return -ENAMETOOLONG;
	}
	c->fd = -1;
	c->sun.sun_family = AF_UNIX;
	memcpy(c->sun.sun_path, path, len + 1);
	c->sunlen =
		(socklen_t)(offsetof(struct sockaddr_un, sun_path) + len + 1);
	*out = c;
	return 0;
}

API void ipw_client_free(struct ipw_client *c)
{
	if (!c)
		return;
	if (c->fd >= 0)
		close(c->fd);
	free(c);
}

API const char *ipw_client_path(const struct ipw_client *c)
{
	return c->sun.sun_path;
}

API void ipw_client_stats(const struct ipw_client *c, uint64_t *sent,
			  uint64_t *dropped)
{
	if (sent)
		*sent = __atomic_load_n(&c->sent, __ATOMIC_RELAXED);
	if (dropped)
		*dropped = __atomic_load_n(&c->dropped, __ATOMIC_RELAXED);
}

API const char *ipw_client_strerror(int err)
{
	if (err == IPW_CLIENT_DROPPED)
		return "report dropped: ipwalld is not running or is busy";
	return ipw_strerror(err);
}

API const char *ipw_client_errname(int err)
{
	if (err == IPW_CLIENT_DROPPED)
		return "DROPPED";
	return ipw_errname(err);
}

/* ---------------------------------------------------------- validation */

static bool is_name_byte(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' ||
	       c == '.' || c == '-';
}

static bool is_text_byte(unsigned char c)
{
	return c >= 0x20 && c != 0x7f;
}

/*
 * Append field @s (NULL = empty) to @line at *@pos after checking it: at
 * most @max bytes, each passing @ok. Returns 0 or the field's code.
 */
static int put_field(char *line, size_t *pos, const char *s, size_t max,
		     bool (*ok)(unsigned char), int e_long, int e_char)
{
	size_t n;

	if (!s)
		return 0;
	for (n = 0; s[n]; n++) {
		if (n == max)
			return e_long;
		if (!ok((unsigned char)s[n]))
			return e_char;
	}
	memcpy(line + *pos, s, n);
	*pos += n;
	return 0;
}

/* The event as one line of the wire format. Returns its length or a
 * negative code. */
static int encode(char *line, const char *ip, const char *type,
		  const char *service, const char *user, const char *detail)
{
	const char *opt[3] = {service, user, detail};
	struct ipw_addr a;
	size_t pos, last;
	int rc;

	if (!ip || !*ip)
		return IPW_EADDR_EMPTY;
	rc = ipw_addr_parse(ip, strlen(ip), IPW_ADDR_HOST, &a, NULL);
	if (rc < 0)
		return rc;
	rc = ipw_addr_format(&a, line, IPW_ADDR_STRLEN);
	if (rc < 0)
		return rc;
	pos = (size_t)rc;
	line[pos++] = '\t';

	if (!type || !*type)
		return IPW_EEVENT_TYPE_EMPTY;
	rc = put_field(line, &pos, type, IPW_CLIENT_TYPE_MAX, is_name_byte,
		       IPW_EEVENT_TYPE_LONG, IPW_EEVENT_TYPE_CHAR);
	if (rc < 0)
		return rc;

	/* The optional fields after TYPE, up to the last non-empty one. */
	last = 0;
	for (size_t i = 0; i < 3; i++)
		if (opt[i] && *opt[i])
			last = i + 1;
	for (size_t i = 0; i < 3; i++) {
		static const struct {
			size_t max;
			bool (*ok)(unsigned char);
			int e_long, e_char;
		} rule[3] = {
			{IPW_CLIENT_SERVICE_MAX, is_name_byte,
			 IPW_EEVENT_SERVICE_LONG, IPW_EEVENT_SERVICE_CHAR},
			{IPW_CLIENT_USER_MAX, is_text_byte,
			 IPW_EEVENT_USER_LONG, IPW_EEVENT_USER_CHAR},
			{IPW_CLIENT_DETAIL_MAX, is_text_byte,
			 IPW_EEVENT_DETAIL_LONG, IPW_EEVENT_DETAIL_CHAR},
		};

		if (i < last)
			line[pos++] = '\t';
		rc = put_field(line, &pos, opt[i], rule[i].max, rule[i].ok,
			       rule[i].e_long, rule[i].e_char);
		if (rc < 0)
			return rc;
	}
	line[pos++] = '\n';
	return (int)pos;
}

/* ---------------------------------------------------------- sending */

static int64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

/* True when send()'s errno says there is no live peer to send to. */
static bool peer_gone(int err)
{
	return err == ECONNREFUSED || err == ENOTCONN || err == EDESTADDRREQ ||
	       err == ECONNRESET || err == EPIPE;
}

/*
 * If this thread may try now (none did in the last second, and nobody is
 * reconnecting or sending), make the socket if there is none yet and
 * connect it. Returns the descriptor to send on, or -1 when this report is
 * to be dropped.
 */
static int reconnect(struct ipw_client *c)
{
	int64_t now = now_ns();
	int zero = 0, fd, rc;

	if (now < __atomic_load_n(&c->next_try_ns, __ATOMIC_RELAXED))
		return -1; /* too soon */
	if (!__atomic_compare_exchange_n(&c->connecting, &zero, 1, false,
					 __ATOMIC_SEQ_CST, __ATOMIC_RELAXED))
		return -1; /* another thread is at it */
	if (now < __atomic_load_n(&c->next_try_ns, __ATOMIC_RELAXED)) {
		/* It just did. */
		__atomic_store_n(&c->connecting, 0, __ATOMIC_RELEASE);
		return -1;
	}

	fd = __atomic_load_n(&c->fd, __ATOMIC_RELAXED); /* ours to write */
	if (fd >= 0 && __atomic_load_n(&c->inflight, __ATOMIC_SEQ_CST) != 0) {
		/* A send is under way: leave the clock alone, so that the
		 * next report tries again. */
		__atomic_store_n(&c->connecting, 0, __ATOMIC_RELEASE);
		return -1;
	}
	__atomic_store_n(&c->next_try_ns, now + RETRY_NS, __ATOMIC_RELAXED);
	if (fd < 0) {
		fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC,
			    0);
		if (fd < 0) {
			/* Out of descriptors: try again next second. */
			__atomic_store_n(&c->connecting, 0, __ATOMIC_RELEASE);
			return -1;
		}
		__atomic_store_n(&c->fd, fd, __ATOMIC_RELEASE);
	}
	/* A datagram socket may be connected again: to the new daemon after
	 * a restart, or for the first time. A non-blocking connect() of a
	 * unix datagram socket returns at once. */
	rc = connect(fd, (const struct sockaddr *)&c->sun, c->sunlen);
	__atomic_store_n(&c->connecting, 0, __ATOMIC_RELEASE);
	return rc == 0 ? fd : -1;
}

/* One send() on @fd, unless a reconnect is under way. Returns 1 when the
 * datagram was queued, 0 when it is to be dropped, -1 when the peer is
 * gone (a reconnect may help). */
static int send_line(struct ipw_client *c, int fd, const char *line, size_t len)
{
	ssize_t n;
	int err;

	__atomic_fetch_add(&c->inflight, 1, __ATOMIC_SEQ_CST);
	if (__atomic_load_n(&c->connecting, __ATOMIC_SEQ_CST)) {
		__atomic_fetch_sub(&c->inflight, 1, __ATOMIC_RELEASE);
		return 0;
	}
	n = send(fd, line, len, MSG_DONTWAIT | MSG_NOSIGNAL);
	err = errno;
	__atomic_fetch_sub(&c->inflight, 1, __ATOMIC_RELEASE);
	if (n == (ssize_t)len)
		return 1;
	return n < 0 && peer_gone(err) ? -1 : 0;
}

static int drop(struct ipw_client *c)
{
	__atomic_fetch_add(&c->dropped, 1, __ATOMIC_RELAXED);
	return IPW_CLIENT_DROPPED;
}

API int ipw_client_report(struct ipw_client *c, const char *ip,
			  const char *type, const char *service,
			  const char *user, const char *detail)
{
	char line[LINE_MAX];
	int len, fd, rc;

	if (!c)
		return IPW_EINVAL;
	len = encode(line, ip, type, service, user, detail);
	if (len < 0)
		return len;

	fd = __atomic_load_n(&c->fd, __ATOMIC_ACQUIRE);
	rc = fd >= 0 ? send_line(c, fd, line, (size_t)len) : -1;
	if (rc < 0) {
		/* No socket yet, or the daemon went away: reconnect (at most
		 * once a second) and send once more. */
		fd = reconnect(c);
		if (fd >= 0)
			rc = send_line(c, fd, line, (size_t)len);
	}
	if (rc > 0) {
		__atomic_fetch_add(&c->sent, 1, __ATOMIC_RELAXED);
		return 0;
	}
	return drop(c);
}
