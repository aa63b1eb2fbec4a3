/* SPDX-License-Identifier: MIT */
/*
 * The request target as the client sent it, checked before libmicrohttpd
 * decodes it in place. MHD decodes "%00" into a NUL and hands the path
 * and each query value to us as C strings, so "?target=203.0.113.1%00x"
 * reached a handler as "203.0.113.1" and was acted on. Here every path
 * segment, parameter name and parameter value is percent-decoded on the
 * side and refused if it holds a NUL, a control character (C0, DEL or
 * C1) or invalid UTF-8; the raw target may hold only visible ASCII, and
 * every '%' must start two hex digits.
 *
 * A pure function of the bytes: the unit test and the fuzz harness call
 * it directly.
 */
#ifndef IPWALL_DAEMON_API_URI_H
#define IPWALL_DAEMON_API_URI_H

#include <stddef.h>

enum ipwd_uri_where {
	IPWD_URI_PATH,	     /* before '?' */
	IPWD_URI_PARAM_NAME, /* a query parameter's name */
	IPWD_URI_PARAM,	     /* a query parameter's value: @name is set */
};

struct ipwd_uri_fault {
	enum ipwd_uri_where where;
	char name[65]; /* the parameter's decoded name (IPWD_URI_PARAM) */
	char msg[160]; /* what is wrong, e.g. "contains a NUL byte (%00)" */
	size_t offset; /* of the offending byte in the raw target */
};

/*
 * ipwd_uri_check() - check the raw request target @uri[0..len).
 * Returns 0, or -1 with @f filled.
 */
int ipwd_uri_check(const char *uri, size_t len, struct ipwd_uri_fault *f);

#endif /* IPWALL_DAEMON_API_URI_H */
