/* SPDX-License-Identifier: MIT */
/* Listening addresses (see listen.h). */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>

#include <ipwall/addr.h>

#include "base/listen.h"

/* "ADDR:PORT" or "[V6]:PORT" -> sockaddr. */
int ipwd_listen_parse(const char *s, struct sockaddr_storage *ss,
		      socklen_t *len)
{
	struct ipw_addr a;
	const char *colon, *host;
	size_t hlen;
	unsigned long port;
	char *end;

	if (*s == '[') {
		colon = strstr(s, "]:");
		if (colon == NULL)
			return -1;
		host = s + 1;
		hlen = (size_t)(colon - host);
		colon++;
	} else {
		colon = strrchr(s, ':');
		if (colon == NULL)
			return -1;
		host = s;
		hlen = (size_t)(colon - s);
	}
	errno = 0;
	port = strtoul(colon + 1, &end, 10);
	if (colon[1] < '0' || colon[1] > '9' || *end || errno || port > 65535)
		return -1;
	if (ipw_addr_parse(host, hlen, IPW_ADDR_HOST, &a, NULL) != 0)
		return -1;
	memset(ss, 0, sizeof(*ss));
	if (a.family == IPW_AF_INET && *s != '[') {
		struct sockaddr_in *in = (struct sockaddr_in *)ss;

		in->sin_family = AF_INET;
		in->sin_port = htons((uint16_t)port);
		memcpy(&in->sin_addr, a.bytes, 4);
		*len = sizeof(*in);
	} else {
		struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)ss;

		if (*s != '[')
			return -1; /* IPv6 needs brackets */
		in6->sin6_family = AF_INET6;
		in6->sin6_port = htons((uint16_t)port);
		if (a.family == IPW_AF_INET) {
			/* [::ffff:a.b.c.d] folded to IPv4 by the parser */
			in6->sin6_addr.s6_addr[10] = 0xff;
			in6->sin6_addr.s6_addr[11] = 0xff;
			memcpy(&in6->sin6_addr.s6_addr[12], a.bytes, 4);
		} else {
			memcpy(&in6->sin6_addr, a.bytes, 16);
		}
		*len = sizeof(*in6);
	}
	return 0;
}

int ipwd_listen_check(const char *s)
{
	struct sockaddr_storage ss;
	socklen_t len;

	return *s == '\0' ? 0 : ipwd_listen_parse(s, &ss, &len);
}

const char *ipwd_sockaddr_text(const struct sockaddr *sa, char *buf,
			       size_t size)
{
	struct ipw_addr a;
	int rc = -1;

	/* The library's form, as the table and the logs write addresses
	 * (an IPv4-mapped IPv6 client is its IPv4 address). */
	if (sa && sa->sa_family == AF_INET)
		rc = ipw_addr_from_v4(&a,
				      ntohl(((const struct sockaddr_in *)sa)
						    ->sin_addr.s_addr),
				      32);
	else if (sa && sa->sa_family == AF_INET6)
		rc = ipw_addr_from_v6(
			&a,
			((const struct sockaddr_in6 *)sa)->sin6_addr.s6_addr,
			128);
	if (rc != 0 || ipw_addr_format(&a, buf, size) < 0)
		snprintf(buf, size, "?");
	return buf;
}
