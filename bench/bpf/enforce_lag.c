// SPDX-License-Identifier: MIT
/*
 * enforce_lag SOCKET IFNAME N: the lag from ipwalld's acknowledgement of
 * a ban to the kernel dropping that source, for N bans of random IPv4
 * and IPv6 addresses, one after the other. Run in the network namespace
 * of IFNAME, where ipwalld (listening on the unix SOCKET) has its XDP
 * program attached (scripts/bench-enforce sets that up).
 *
 * For each ban: POST /v1/bans over the unix socket (libcurl, one kept
 * connection); the clock starts when the 201 is in; then the program
 * attached to IFNAME (found by id) is run on a frame from that address
 * with BPF_PROG_TEST_RUN, every 20 us (plus the sleep's own slack) until
 * it answers XDP_DROP. The lag is what the op log, the enforce subscriber
 * and the map update add after the acknowledgement (the ban is durable
 * and in the table at the 201; the kernel follows). The probe interval
 * bounds the resolution; probing without a pause was measured too and
 * is worse on 2 cores (it takes a core from the threads it waits for).
 *
 * Output: one bench_report()-style JSON line with p50, p90, p99 and max in
 * microseconds, and a summary on stderr.
 */
#include <arpa/inet.h>
#include <net/if.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <curl/curl.h>
#include <linux/bpf.h>

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

/* A UDP frame from @src (4 or 16 bytes) into @f; its length. */
static size_t frame(uint8_t *f, const uint8_t *src, int v6)
{
	uint8_t *p = f + 14;

	memset(f, 0, 128);
	f[0] = 2;
	f[6] = 2;
	if (!v6) {
		f[12] = 0x08;
		p[0] = 0x45;
		p[3] = 28;
		p[8] = 64;
		p[9] = 17;
		memcpy(p + 12, src, 4);
		p[16] = 10;
		return 14 + 28;
	}
	f[12] = 0x86;
	f[13] = 0xdd;
	p[0] = 0x60;
	p[5] = 8;
	p[6] = 17;
	p[7] = 64;
	memcpy(p + 8, src, 16);
	p[24] = 0xfd;
	return 14 + 48;
}

int main(int argc, char **argv)
{
	LIBBPF_OPTS(bpf_xdp_query_opts, q);
	char url[] = "http://x/v1/bans", body[128];
	struct curl_slist *hdr = NULL;
	int64_t *lag, spins = 0;
	long n, i, timeouts = 0;
	int idx, fd;
	CURL *h;

	if (argc != 4 || (n = strtol(argv[3], NULL, 10)) <= 0) {
		fprintf(stderr, "usage: enforce_lag SOCKET IFNAME N\n");
		return 1;
	}
	idx = (int)if_nametoindex(argv[2]);
	if (idx == 0 || bpf_xdp_query(idx, 0, &q) != 0 || q.prog_id == 0 ||
	    (fd = bpf_prog_get_fd_by_id(q.prog_id)) < 0) {
		fprintf(stderr, "enforce_lag: no XDP program on %s\n", argv[2]);
		return 1;
	}
	lag = calloc((size_t)n, sizeof(*lag));
	h = curl_easy_init();
	if (!lag || !h) {
		free(lag);
		return 1;
	}
	hdr = curl_slist_append(hdr, "Content-Type: application/json");
	curl_easy_setopt(h, CURLOPT_UNIX_SOCKET_PATH, argv[1]);
	curl_easy_setopt(h, CURLOPT_URL, url);
	curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdr);
	curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, discard);
	for (i = 0; i < n; i++) {
		uint8_t a[16], f[128];
		char txt[INET6_ADDRSTRLEN];
		int v6 = i & 1;
		size_t len;
		long code = 0;
		int64_t t0;

		if (getrandom(a, sizeof(a), 0) != sizeof(a))
			goto fail;
		if (!v6) {
			a[0] = (uint8_t)(1 + a[0] % 223); /* unicast-looking */
			inet_ntop(AF_INET, a, txt, sizeof(txt));
		} else {
			a[0] = 0x20;
			a[1] = 0x01;
			inet_ntop(AF_INET6, a, txt, sizeof(txt));
		}
		snprintf(body, sizeof(body), "{\"target\":\"%s\"}", txt);
		curl_easy_setopt(h, CURLOPT_POSTFIELDS, body);
		if (curl_easy_perform(h) != CURLE_OK ||
		    curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &code) !=
			    CURLE_OK ||
		    code != 201) {
			fprintf(stderr, "enforce_lag: ban %s: HTTP %ld\n", txt,
				code);
			goto fail;
		}
		t0 = now_ns();
		len = frame(f, a, v6);
		for (;;) {
			struct bpf_test_run_opts o = {.sz = sizeof(o),
						      .data_in = f,
						      .data_size_in =
							      (__u32)len,
						      .repeat = 1};

			if (bpf_prog_test_run_opts(fd, &o) != 0) {
				perror("enforce_lag: BPF_PROG_TEST_RUN");
				goto fail;
			}
			spins++;
			if (o.retval == XDP_DROP)
				break;
			if (now_ns() - t0 > 2000000000) { /* 2 s: give up */
				timeouts++;
				break;
			}
			/* Yield between probes: a busy loop would take one of
			 * the machine's cores from the threads it waits for. */
			nanosleep(&(struct timespec){0, 20000}, NULL);
		}
		lag[i] = now_ns() - t0;
	}
	qsort(lag, (size_t)n, sizeof(*lag), cmp64);
#define P(x) ((double)lag[(size_t)((double)(n - 1) * (x))] / 1000.0)
	printf("{\"bench\":\"enforce_lag\",\"bans\":%ld,\"p50_us\":%.1f,"
	       "\"p90_us\":%.1f,\"p99_us\":%.1f,\"max_us\":%.1f,"
	       "\"timeouts\":%ld}\n",
	       n, P(0.5), P(0.9), P(0.99), (double)lag[n - 1] / 1000.0,
	       timeouts);
	fprintf(stderr,
		"ack -> kernel drops, %ld bans: p50 %.1f us, p90 %.1f us, p99 "
		"%.1f us, max %.1f us (%.1f probes per ban, %ld over 2 s)\n",
		n, P(0.5), P(0.9), P(0.99), (double)lag[n - 1] / 1000.0,
		(double)spins / (double)n, timeouts);
	curl_slist_free_all(hdr);
	curl_easy_cleanup(h);
	free(lag);
	close(fd);
	return timeouts ? 1 : 0;
fail:
	curl_slist_free_all(hdr);
	curl_easy_cleanup(h);
	free(lag);
	close(fd);
	return 1;
}
