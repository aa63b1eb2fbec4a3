// SPDX-License-Identifier: MIT
/*
 * cluster_lag N SOCKET_A SOCKET_B [SOCKET_C]: the lag from one cluster
 * node's acknowledgement of a ban to the other nodes enforcing it, for N
 * bans of random IPv4 and IPv6 addresses (alternately), one after the
 * other. The nodes are ipwalld in cluster mode on one Redis stream,
 * each listening on its unix socket (scripts/bench-cluster sets them up).
 *
 * For each ban: POST /v1/bans to node A (libcurl, one kept connection);
 * the clock starts when the 201 is in (the ban is then durable and in
 * A's table; its op is handed to A's cluster sender behind it). Then
 * GET /v1/check?ip=X is sent to B (and C, alternately; one kept
 * connection each) every 20 us, plus the sleep's slack, until each
 * answers 403. The lag is what A's sender (a Lua script that XADDs the
 * op and updates the state mirror), Redis waking the other node's
 * blocked XREAD, and that node's apply through its op log add after the
 * acknowledgement. A probe is itself an HTTP round trip on the same
 * cores as the nodes; its mean time is reported, as the resolution.
 *
 * Output: one bench_report()-style JSON line per target node with p50,
 * p90, p99 and max in microseconds, and a summary on stderr. Exit
 * status 1 if any ban took more than 2 s (given up) on any node.
 */
#include <arpa/inet.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>

#define MAX_PEERS  2
#define GIVE_UP_NS 2000000000 /* 2 s */

struct peer {
	CURL *h;
	int64_t *lag;
	long timeouts, first_hits;
	int64_t probes, probe_ns;
};

static int64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static size_t discard(char *p, size_t s, size_t n, void *u)
{
	(void)p;
	(void)u;
	return s * n;
}

static int cmp64(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;

	return x < y ? -1 : x > y;
}

/* A random unicast-looking address, as text; alternately v4 and v6. */
static int random_target(long i, char *txt, size_t size)
{
	uint8_t a[16];

	if (getrandom(a, sizeof(a), 0) != sizeof(a))
		return -1;
	if ((i & 1) == 0) {
		a[0] = (uint8_t)(1 + a[0] % 223);
		if (a[0] == 127)
			a[0] = 128;
		inet_ntop(AF_INET, a, txt, (socklen_t)size);
	} else {
		a[0] = 0x20;
		a[1] = 0x01;
		inet_ntop(AF_INET6, a, txt, (socklen_t)size);
	}
	return 0;
}

/* One GET /v1/check on @p: 1 blocked (403), 0 admitted (200), -1 else. */
static int probe(struct peer *p)
{
	long code = 0;
	int64_t t = now_ns();

	if (curl_easy_perform(p->h) != CURLE_OK ||
	    curl_easy_getinfo(p->h, CURLINFO_RESPONSE_CODE, &code) != CURLE_OK)
		return -1;
	p->probes++;
	p->probe_ns += now_ns() - t;
	return code == 403 ? 1 : code == 200 ? 0 : -1;
}

static double pct(const int64_t *v, long n, double x)
{
	return (double)v[(size_t)((double)(n - 1) * x)] / 1000.0;
}

int main(int argc, char **argv)
{
	static const char *const name[MAX_PEERS] = {"B", "C"};
	struct peer peer[MAX_PEERS] = {0};
	struct curl_slist *hdr = NULL;
	int64_t post_ns = 0;
	char body[128], url[160];
	long n, i, timeouts = 0;
	int np, k, rc = 1;
	CURL *a;

	if (argc < 4 || argc > 3 + MAX_PEERS ||
	    (n = strtol(argv[1], NULL, 10)) <= 0) {
		fprintf(stderr,
			"usage: cluster_lag N SOCKET_A SOCKET_B [SOCKET_C]\n");
		return 1;
	}
	np = argc - 3;
	/* nanosleep(20 us) otherwise sleeps 20 us plus the default 50 us
	 * timer slack */
	prctl(PR_SET_TIMERSLACK, 1000UL, 0, 0, 0);
	curl_global_init(CURL_GLOBAL_DEFAULT);
	a = curl_easy_init();
	if (a == NULL)
		return 1;
	hdr = curl_slist_append(hdr, "Content-Type: application/json");
	curl_easy_setopt(a, CURLOPT_UNIX_SOCKET_PATH, argv[2]);
	curl_easy_setopt(a, CURLOPT_URL, "http://x/v1/bans");
	curl_easy_setopt(a, CURLOPT_HTTPHEADER, hdr);
	curl_easy_setopt(a, CURLOPT_WRITEFUNCTION, discard);
	for (k = 0; k < np; k++) {
		peer[k].h = curl_easy_init();
		peer[k].lag = calloc((size_t)n, sizeof(int64_t));
		if (peer[k].h == NULL || peer[k].lag == NULL)
			goto out;
		curl_easy_setopt(peer[k].h, CURLOPT_UNIX_SOCKET_PATH,
				 argv[3 + k]);
		curl_easy_setopt(peer[k].h, CURLOPT_WRITEFUNCTION, discard);
		curl_easy_setopt(peer[k].h, CURLOPT_HTTPGET, 1L);
	}
	for (i = 0; i < n; i++) {
		char txt[INET6_ADDRSTRLEN];
		bool done[MAX_PEERS] = {false, false};
		int left = np, first = 1;
		long code = 0;
		int64_t t0;

		if (random_target(i, txt, sizeof(txt)) != 0)
			goto out;
		snprintf(body, sizeof(body), "{\"target\":\"%s\"}", txt);
		snprintf(url, sizeof(url), "http://x/v1/check?ip=%s", txt);
		for (k = 0; k < np; k++)
			curl_easy_setopt(peer[k].h, CURLOPT_URL, url);
		curl_easy_setopt(a, CURLOPT_POSTFIELDS, body);
		t0 = now_ns();
		if (curl_easy_perform(a) != CURLE_OK ||
		    curl_easy_getinfo(a, CURLINFO_RESPONSE_CODE, &code) !=
			    CURLE_OK ||
		    code != 201) {
			fprintf(stderr, "cluster_lag: ban %s on A: HTTP %ld\n",
				txt, code);
			goto out;
		}
		post_ns += now_ns() - t0;
		t0 = now_ns();
		while (left > 0) {
			for (k = 0; k < np; k++) {
				int r;

				if (done[k])
					continue;
				r = probe(&peer[k]);
				if (r < 0) {
					fprintf(stderr,
						"cluster_lag: check %s on %s "
						"failed\n",
						txt, name[k]);
					goto out;
				}
				if (r == 1 || now_ns() - t0 > GIVE_UP_NS) {
					peer[k].lag[i] = now_ns() - t0;
					if (r == 1 && first)
						peer[k].first_hits++;
					if (r != 1)
						peer[k].timeouts++;
					done[k] = true;
					left--;
				}
			}
			first = 0;
			/* Yield between probes: a busy loop would take one of
			 * the machine's cores from the threads it waits for. */
			if (left > 0)
				nanosleep(&(struct timespec){0, 20000}, NULL);
		}
	}
	for (k = 0; k < np; k++) {
		struct peer *p = &peer[k];
		const int64_t *l = p->lag;

		qsort(p->lag, (size_t)n, sizeof(int64_t), cmp64);
		printf("{\"bench\":\"cluster_lag\",\"from\":\"A\",\"to\":\"%s\","
		       "\"bans\":%ld,\"p50_us\":%.1f,\"p90_us\":%.1f,"
		       "\"p99_us\":%.1f,\"max_us\":%.1f,\"timeouts\":%ld,"
		       "\"probe_us\":%.1f,\"probes_per_ban\":%.1f,"
		       "\"first_probe_hits\":%ld,\"post_us\":%.1f}\n",
		       name[k], n, pct(l, n, 0.5), pct(l, n, 0.9),
		       pct(l, n, 0.99), (double)l[n - 1] / 1000.0, p->timeouts,
		       (double)p->probe_ns / (double)p->probes / 1000.0,
		       (double)p->probes / (double)n, p->first_hits,
		       (double)post_ns / (double)n / 1000.0);
		fprintf(stderr,
			"A's 201 -> %s blocks, %ld bans: p50 %.1f us, p90 %.1f "
			"us, p99 %.1f us, max %.1f us (%.1f probes per ban of "
			"%.1f us each, %ld hit at the first, %ld over 2 s)\n",
			name[k], n, pct(l, n, 0.5), pct(l, n, 0.9),
			pct(l, n, 0.99), (double)l[n - 1] / 1000.0,
			(double)p->probes / (double)n,
			(double)p->probe_ns / (double)p->probes / 1000.0,
			p->first_hits, p->timeouts);
		timeouts += p->timeouts;
	}
	fprintf(stderr, "POST /v1/bans on A: %.1f us on average\n",
		(double)post_ns / (double)n / 1000.0);
	rc = timeouts ? 1 : 0;
out:
	for (k = 0; k < np; k++) {
		curl_easy_cleanup(peer[k].h);
		free(peer[k].lag);
	}
	curl_slist_free_all(hdr);
	curl_easy_cleanup(a);
	curl_global_cleanup();
	return rc;
}
