// SPDX-License-Identifier: MIT
/*
 * A flood of failure events for ipwalld's auto-ban engine, for
 * tests/integration/autoban_flood.sh (issue 17, "Flood").
 *
 *   event_flood --socket EVENTS_SOCK --http UNIX_HTTP_SOCK --events N
 *               --offenders K --type T [--threshold 5] [--seed S]
 *               [--max-seconds 300] [--offenders-file PATH]
 *
 * Two threads share the N flood events, half each:
 *   - the datagram thread sends 64 lines (`IP\tTYPE\n`) per datagram on
 *     EVENTS_SOCK. The socket's queue is tiny (net.unix.max_dgram_qlen), so
 *     a datagram that finds it full is counted as dropped by the client and
 *     forgotten, and the thread waits (poll, 10 ms at most) until the queue
 *     has room before the next one: drops are expected, spinning on them
 *     would only steal the daemon's CPU.
 *   - the HTTP thread POSTs {"events":[...]} batches of up to 10,000 to
 *     /v1/events over UNIX_HTTP_SOCK (trusted, no token) on one keep-alive
 *     curl handle, and adds up the answers' "queued" and "dropped".
 * Every flood address is fresh and random: IPv4 outside 0/8, 127/8,
 * 198.51.100/24 and 224/3; IPv6 in 2000::/3 outside 2001:db8:f100::/48.
 *
 * The K offenders (198.51.100.1, .2, ... and 2001:db8:f100:1::1,
 * 2001:db8:f100:2::1, ... in turn: one address each, distinct /64s) send
 * `threshold` events each, spread evenly through the HTTP thread's share.
 * These must not be lost, and a datagram the daemon received can still be
 * dropped at its engine's queue without the sender knowing, so each is one
 * POST of one event, sent again (1 ms apart, 10 s at most) until the answer
 * is 202 with "queued":1.
 *
 * Bounded: each thread stops after its share or at --max-seconds.
 * Prints one line of key=value counts; exits 0, or 1 when an offender event
 * could not be queued, 2 on bad arguments or a setup failure.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif

#include <errno.h>
#include <inttypes.h>
#include <poll.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>

#define LINES_PER_DATAGRAM 64
#define HTTP_BATCH	   10000
#define MAX_OFFENDERS	   500

struct flood {
	const char *sock_path, *http_path, *type, *offenders_file;
	uint64_t events, seed;
	unsigned offenders, threshold;
	double max_seconds, start;

	/* datagram thread */
	uint64_t dg_sent, dg_dropped; /* events */
	double dg_elapsed;
	/* HTTP thread */
	uint64_t http_sent, http_queued, http_dropped, http_requests;
	uint64_t off_sent, off_retries;
	unsigned off_lost;
	double http_elapsed;
	int http_fail; /* a request that got no HTTP answer */
};

static uint64_t min_u64(uint64_t a, uint64_t b)
{
	return a < b ? a : b;
}

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* xorshift64*: fast and good enough for addresses nobody must guess. */
static uint64_t rnd(uint64_t *s)
{
	*s ^= *s >> 12;
	*s ^= *s << 25;
	*s ^= *s >> 27;
	return *s * 2685821657736338717ULL;
}

/* A random flood address (IPv6 if @v6); returns its length. */
static int flood_addr(char *buf, size_t size, uint64_t *s, bool v6)
{
	uint64_t a, b = rnd(s);

	if (!v6) {
		unsigned o1, o2, o3;

		do {
			a = rnd(s);
			o1 = (unsigned)(a >> 24) & 0xff;
			o2 = (unsigned)(a >> 16) & 0xff;
			o3 = (unsigned)(a >> 8) & 0xff;
		} while (o1 == 0 || o1 == 127 || o1 >= 224 ||
			 (o1 == 198 && o2 == 51 && o3 == 100));
		return snprintf(buf, size, "%u.%u.%u.%u", o1, o2, o3,
				(unsigned)a & 0xff);
	}
	unsigned h0, h1, h2;

	do {
		a = rnd(s);
		h0 = 0x2000 | ((unsigned)(a >> 48) & 0x1fff);
		h1 = (unsigned)(a >> 32) & 0xffff;
		h2 = (unsigned)(a >> 16) & 0xffff;
	} while (h0 == 0x2001 && h1 == 0x0db8 && h2 == 0xf100);
	return snprintf(buf, size, "%x:%x:%x:%x:%x:%x:%x:%x", h0, h1, h2,
			(unsigned)a & 0xffff, (unsigned)(b >> 48) & 0xffff,
			(unsigned)(b >> 32) & 0xffff,
			(unsigned)(b >> 16) & 0xffff, (unsigned)b & 0xffff);
}

static void offender_addr(char *buf, size_t size, unsigned i)
{
	if (i % 2 == 0)
		snprintf(buf, size, "198.51.100.%u", i / 2 + 1);
	else
		snprintf(buf, size, "2001:db8:f100:%x::1", i / 2 + 1);
}

/* ---- datagram thread ---- */

static void *dgram_main(void *arg)
{
	struct flood *f = arg;
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	uint64_t seed = f->seed ^ 0x9e3779b97f4a7c15ULL, share = f->events / 2;
	char buf[LINES_PER_DATAGRAM * 64];
	uint64_t done = 0;
	int fd;

	memcpy(sa.sun_path, f->sock_path, strlen(f->sock_path) + 1);
	fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_NONBLOCK, 0);
	if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0) {
		perror("event_flood: datagram socket");
		if (fd >= 0)
			close(fd);
		f->dg_dropped = share;
		return NULL;
	}
	while (done < share && now_s() - f->start < f->max_seconds) {
		size_t n = 0;
		unsigned lines = 0;

		while (lines < LINES_PER_DATAGRAM && done + lines < share) {
			n += (size_t)flood_addr(buf + n, sizeof(buf) - n, &seed,
						(done + lines) & 1);
			n += (size_t)snprintf(buf + n, sizeof(buf) - n,
					      "\t%s\n", f->type);
			lines++;
		}
		if (send(fd, buf, n, 0) == (ssize_t)n) {
			f->dg_sent += lines;
		} else {
			struct pollfd p = {.fd = fd, .events = POLLOUT};

			f->dg_dropped += lines;
			(void)poll(&p, 1, 10);
		}
		done += lines;
	}
	close(fd);
	f->dg_elapsed = now_s() - f->start;
	return NULL;
}

/* ---- HTTP thread ---- */

struct resp {
	char buf[512];
	size_t n;
};

static size_t on_body(char *p, size_t size, size_t nmemb, void *ud)
{
	struct resp *r = ud;
	size_t len = size * nmemb, room = sizeof(r->buf) - 1 - r->n;

	if (len < room)
		room = len;
	memcpy(r->buf + r->n, p, room);
	r->n += room;
	r->buf[r->n] = '\0';
	return len;
}

static uint64_t json_u64(const char *body, const char *key)
{
	const char *p = strstr(body, key);

	return p ? strtoull(p + strlen(key), NULL, 10) : 0;
}

/* POST @body; returns the HTTP status (0: no answer), fills queued and
 * dropped from a 202's body. */
static long post(CURL *h, const char *body, size_t len, uint64_t *queued,
		 uint64_t *dropped)
{
	struct resp r = {.n = 0};
	long status = 0;

	r.buf[0] = '\0';
	curl_easy_setopt(h, CURLOPT_POSTFIELDS, body);
	curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)len);
	curl_easy_setopt(h, CURLOPT_WRITEDATA, &r);
	if (curl_easy_perform(h) != CURLE_OK)
		return 0;
	curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
	*queued = json_u64(r.buf, "\"queued\":");
	*dropped = json_u64(r.buf, "\"dropped\":");
	return status;
}

/* One offender event, until it is queued (10 s at most). */
static bool send_offender(struct flood *f, CURL *h, unsigned i)
{
	char addr[64], body[160];
	int len;

	offender_addr(addr, sizeof(addr), i);
	len = snprintf(body, sizeof(body), "{\"ip\":\"%s\",\"type\":\"%s\"}",
		       addr, f->type);
	for (int tries = 0; tries < 10000; tries++) {
		struct timespec ms = {0, 1000000};
		uint64_t q = 0, d = 0;
		long st = post(h, body, (size_t)len, &q, &d);

		if (st == 202 && q == 1) {
			f->off_sent++;
			return true;
		}
		f->off_retries++;
		nanosleep(&ms, NULL);
	}
	fprintf(stderr, "event_flood: offender %s: event not queued\n", addr);
	return false;
}

static void *http_main(void *arg)
{
	struct flood *f = arg;
	uint64_t seed = f->seed, share = f->events - f->events / 2, done = 0;
	uint64_t off_total = (uint64_t)f->offenders * f->threshold,
		 off_next = 0;
	size_t cap = (size_t)HTTP_BATCH * 80 + 64;
	char *body = malloc(cap);
	struct curl_slist *hdr = NULL;
	CURL *h = curl_easy_init();

	if (!body || !h) {
		fprintf(stderr, "event_flood: out of memory\n");
		f->http_fail = 1;
		goto out;
	}
	hdr = curl_slist_append(hdr, "Content-Type: application/json");
	hdr = curl_slist_append(hdr, "Expect:");
	curl_easy_setopt(h, CURLOPT_UNIX_SOCKET_PATH, f->http_path);
	curl_easy_setopt(h, CURLOPT_URL, "http://localhost/v1/events");
	curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdr);
	curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(h, CURLOPT_TIMEOUT, 30L);

	for (;;) {
		bool late = now_s() - f->start >= f->max_seconds;

		/* Offender event j goes out once the flood has passed the
		 * (j+1)/(total+1) mark of this thread's share: spread through
		 * the flood, and all of them sent even when it stops early. */
		while (off_next < off_total &&
		       (late || done >= share ||
			done * (off_total + 1) >= (off_next + 1) * share)) {
			/* offender order: 0,1,..,K-1, 0,1,.. so that every
			 * offender's events are spread too */
			if (!send_offender(f, h,
					   (unsigned)(off_next % f->offenders)))
				f->off_lost++;
			off_next++;
		}
		if (late || done >= share)
			break;

		size_t n = 0;
		uint64_t k = 0, q = 0, d = 0;
		uint64_t want = min_u64(share - done, HTTP_BATCH);
		n += (size_t)snprintf(body + n, cap - n, "{\"events\":[");
		for (; k < want; k++) {
			n += (size_t)snprintf(body + n, cap - n, "%s{\"ip\":\"",
					      k ? "," : "");
			n += (size_t)flood_addr(body + n, cap - n, &seed,
						(done + k) & 1);
			n += (size_t)snprintf(body + n, cap - n,
					      "\",\"type\":\"%s\"}", f->type);
		}
		n += (size_t)snprintf(body + n, cap - n, "]}");

		long st = post(h, body, n, &q, &d);

		f->http_requests++;
		f->http_sent += k;
		if (st == 202) {
			f->http_queued += q;
			f->http_dropped += d;
		} else {
			/* 429 events_queue_full: none queued */
			f->http_dropped += k;
			if (st != 429) {
				fprintf(stderr,
					"event_flood: POST /v1/events: "
					"HTTP %ld\n",
					st);
				f->http_fail = 1;
			}
		}
		done += k;
	}
out:
	f->http_elapsed = now_s() - f->start;
	curl_slist_free_all(hdr);
	if (h)
		curl_easy_cleanup(h);
	free(body);
	return NULL;
}

static int usage(void)
{
	fprintf(stderr,
		"usage: event_flood --socket EVENTS_SOCK --http UNIX_HTTP_SOCK "
		"--events N --offenders K --type T [--threshold 5] "
		"[--seed S] [--max-seconds 300] [--offenders-file PATH]\n");
	return 2;
}

int main(int argc, char **argv)
{
	struct flood f = {.threshold = 5, .max_seconds = 300, .seed = 1};
	pthread_t dt, ht;
	struct sockaddr_un sa;

	for (int i = 1; i < argc; i++) {
		const char *o = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;

		if (!v)
			return usage();
		i++;
		if (strcmp(o, "--socket") == 0)
			f.sock_path = v;
		else if (strcmp(o, "--http") == 0)
			f.http_path = v;
		else if (strcmp(o, "--events") == 0)
			f.events = strtoull(v, NULL, 10);
		else if (strcmp(o, "--offenders") == 0)
			f.offenders = (unsigned)strtoul(v, NULL, 10);
		else if (strcmp(o, "--type") == 0)
			f.type = v;
		else if (strcmp(o, "--threshold") == 0)
			f.threshold = (unsigned)strtoul(v, NULL, 10);
		else if (strcmp(o, "--seed") == 0)
			f.seed = strtoull(v, NULL, 10);
		else if (strcmp(o, "--max-seconds") == 0)
			f.max_seconds = strtod(v, NULL);
		else if (strcmp(o, "--offenders-file") == 0)
			f.offenders_file = v;
		else
			return usage();
	}
	if (!f.sock_path || !f.http_path || !f.type || f.offenders == 0 ||
	    f.offenders > MAX_OFFENDERS || f.threshold == 0 ||
	    f.max_seconds <= 0 || strlen(f.sock_path) >= sizeof(sa.sun_path) ||
	    strlen(f.type) > 32)
		return usage();
	if (f.seed == 0)
		f.seed = 1; /* xorshift's one fixed point */

	if (f.offenders_file) {
		FILE *fp = fopen(f.offenders_file, "w");

		if (!fp) {
			perror(f.offenders_file);
			return 2;
		}
		for (unsigned i = 0; i < f.offenders; i++) {
			char addr[64];

			offender_addr(addr, sizeof(addr), i);
			fprintf(fp, "%s\n", addr);
		}
		if (fclose(fp) != 0) {
			perror(f.offenders_file);
			return 2;
		}
	}
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != 0)
		return 2;
	f.start = now_s();
	if (pthread_create(&dt, NULL, dgram_main, &f) != 0 ||
	    pthread_create(&ht, NULL, http_main, &f) != 0) {
		fprintf(stderr, "event_flood: pthread_create failed\n");
		return 2;
	}
	pthread_join(dt, NULL);
	pthread_join(ht, NULL);
	curl_global_cleanup();

	double el = now_s() - f.start;
	printf("event_flood: sent=%" PRIu64 " socket_sent=%" PRIu64
	       " socket_dropped=%" PRIu64 " socket_seconds=%.2f"
	       " socket_eps=%.0f http_sent=%" PRIu64 " http_queued=%" PRIu64
	       " http_dropped=%" PRIu64 " http_requests=%" PRIu64
	       " http_seconds=%.2f http_eps=%.0f offender_events=%" PRIu64
	       " offender_retries=%" PRIu64 " offender_lost=%u elapsed=%.2f\n",
	       f.dg_sent + f.dg_dropped + f.http_sent, f.dg_sent, f.dg_dropped,
	       f.dg_elapsed,
	       f.dg_elapsed > 0 ?
		       (double)(f.dg_sent + f.dg_dropped) / f.dg_elapsed :
		       0,
	       f.http_sent, f.http_queued, f.http_dropped, f.http_requests,
	       f.http_elapsed,
	       f.http_elapsed > 0 ? (double)f.http_sent / f.http_elapsed : 0,
	       f.off_sent, f.off_retries, f.off_lost, el);
	return f.off_lost || f.http_fail ? 1 : 0;
}
