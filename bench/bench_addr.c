// SPDX-License-Identifier: MIT
/*
 * Address library throughput: parse and format, per family, over a set of
 * random values held in memory (so the cost measured is the parser's, not
 * the cache's). Each case reports ns/op and addresses per second.
 */
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <ipwall/addr.h>

#include "bench.h"

#define NVALUES 4096
#define ROUNDS	2000

struct sample {
	char text[IPW_ADDR_STRLEN];
	size_t len;
	struct ipw_addr addr;
};

static struct sample samples[NVALUES];

static void make_samples(int family, int prefix, uint64_t seed)
{
	for (int i = 0; i < NVALUES; i++) {
		struct ipw_addr *a = &samples[i].addr;
		uint8_t b[16];
		uint64_t r1 = bench_rand(&seed), r2 = bench_rand(&seed);

		memcpy(b, &r1, 8);
		memcpy(b + 8, &r2, 8);
		if (family == 4) {
			ipw_addr_from_v4(a, (uint32_t)r1,
					 prefix ? 8 + (unsigned)(r2 % 25) : 32);
		} else {
			b[0] = 0x20; /* global unicast, never mapped */
			/* typical addresses have a zero run */
			b[4] = b[5] = b[6] = b[7] = 0;
			ipw_addr_from_v6(
				a, b, prefix ? 16 + (unsigned)(r2 % 113) : 128);
		}
		samples[i].len = (size_t)ipw_addr_format(
			a, samples[i].text, sizeof(samples[i].text));
	}
}

static void bench_parse(const char *name)
{
	struct ipw_addr a;
	uint64_t t0, sum = 0;

	t0 = bench_now_ns();
	for (int r = 0; r < ROUNDS; r++)
		for (int i = 0; i < NVALUES; i++) {
			if (ipw_addr_parse(samples[i].text, samples[i].len, 0,
					   &a, NULL) != 0)
				abort();
			sum += a.bytes[3];
		}
	bench_keep(sum);
	bench_report("addr", name, 1, (uint64_t)ROUNDS * NVALUES,
		     bench_now_ns() - t0, NULL);
}

/* glibc's inet_pton on the same text, for scale (it needs a NUL-terminated
 * string and accepts no prefix, so only the host cases run it). */
static void bench_pton(const char *name, int af)
{
	unsigned char raw[16];
	uint64_t t0, sum = 0;

	t0 = bench_now_ns();
	for (int r = 0; r < ROUNDS; r++)
		for (int i = 0; i < NVALUES; i++) {
			if (inet_pton(af, samples[i].text, raw) != 1)
				abort();
			sum += raw[3];
		}
	bench_keep(sum);
	bench_report("addr", name, 1, (uint64_t)ROUNDS * NVALUES,
		     bench_now_ns() - t0, NULL);
}

static void bench_format(const char *name)
{
	char buf[IPW_ADDR_STRLEN];
	uint64_t t0, sum = 0;

	t0 = bench_now_ns();
	for (int r = 0; r < ROUNDS; r++)
		for (int i = 0; i < NVALUES; i++)
			sum += (uint64_t)ipw_addr_format(&samples[i].addr, buf,
							 sizeof(buf));
	bench_keep(sum);
	bench_report("addr", name, 1, (uint64_t)ROUNDS * NVALUES,
		     bench_now_ns() - t0, NULL);
}

int main(void)
{
	bench_header();
	make_samples(4, 0, 1);
	bench_parse("parse_v4");
	bench_pton("inet_pton_v4", AF_INET);
	bench_format("format_v4");
	make_samples(4, 1, 2);
	bench_parse("parse_v4_cidr");
	bench_format("format_v4_cidr");
	make_samples(6, 0, 3);
	bench_parse("parse_v6");
	bench_pton("inet_pton_v6", AF_INET6);
	bench_format("format_v6");
	make_samples(6, 1, 4);
	bench_parse("parse_v6_cidr");
	bench_format("format_v6_cidr");
	return 0;
}
