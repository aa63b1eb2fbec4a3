/* SPDX-License-Identifier: MIT */
/*
 * What every candidate server in bench/http_libs/ does per request, so the
 * libraries are compared on the same work: find "ip=" in a raw query
 * string, check the address with inet_pton (a stand-in for ipw_addr_parse
 * and ipw_table_check, both a few tens of nanoseconds), and build the JSON
 * body ipwalld's GET /v1/check will send. No allocation; the caller owns
 * the buffer. The value is not percent-decoded (IPv6 clients would send
 * ':' verbatim or as %3A; the daemon issue decides), which is the same for
 * every library and costs each the same.
 */
#ifndef IPWALL_BENCH_HTTP_LIBS_CHECK_H
#define IPWALL_BENCH_HTTP_LIBS_CHECK_H

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CHECK_PATH     "/v1/check"
#define CHECK_BODY_MAX 128

/*
 * Find parameter @name in the query @q of @len bytes (no leading '?').
 * Returns its value and sets *vlen, or NULL when absent.
 */
static inline const char *check_query_param(const char *q, size_t len,
					    const char *name, size_t *vlen)
{
	size_t nlen = strlen(name);
	const char *end = q + len;

	while (q < end) {
		const char *amp = memchr(q, '&', (size_t)(end - q));
		const char *pend = amp ? amp : end;

		if ((size_t)(pend - q) > nlen && q[nlen] == '=' &&
		    memcmp(q, name, nlen) == 0) {
			*vlen = (size_t)(pend - q) - nlen - 1;
			return q + nlen + 1;
		}
		q = pend + 1;
	}
	return NULL;
}

/*
 * Build the answer for address text @ip (@len bytes, not NUL-terminated)
 * into @buf. Returns the HTTP status (200, or 400 for a missing or bad
 * address) and sets *blen to the body length.
 */
static inline int check_answer(const char *ip, size_t len, char *buf,
			       size_t cap, size_t *blen)
{
	char txt[INET6_ADDRSTRLEN];
	unsigned char bin[sizeof(struct in6_addr)];
	int n;

	if (ip == NULL || len == 0 || len >= sizeof(txt))
		goto bad;
	memcpy(txt, ip, len);
	txt[len] = '\0';
	if (inet_pton(strchr(txt, ':') ? AF_INET6 : AF_INET, txt, bin) != 1)
		goto bad;
	n = snprintf(buf, cap, "{\"ip\":\"%s\",\"verdict\":\"admitted\"}", txt);
	*blen = (size_t)n;
	return 200;
bad:
	n = snprintf(buf, cap,
		     "{\"error\":{\"code\":\"EADDR\",\"message\":\"bad ip\"}}");
	*blen = (size_t)n;
	return 400;
}

/* Parse the port argument; exits on a bad one (these are bench tools). */
static inline unsigned short check_port_arg(const char *s)
{
	char *end;
	long p = strtol(s, &end, 10);

	if (*s == '\0' || *end != '\0' || p < 1 || p > 65535) {
		fprintf(stderr, "bad port: %s\n", s);
		exit(2);
	}
	return (unsigned short)p;
}

/* A listening TCP socket on 127.0.0.1:@port, optionally SO_REUSEPORT. */
int check_listen(unsigned short port, int reuseport, int nonblock);

#endif /* IPWALL_BENCH_HTTP_LIBS_CHECK_H */
