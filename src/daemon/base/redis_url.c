/* SPDX-License-Identifier: MIT */
/*
 * Redis URLs (see redis_url.h).
 *
 * One pass from left to right over a NUL-terminated string, O(length),
 * no allocation. The whole string is first checked for control bytes and
 * spaces (hiredis and the logs would get them otherwise); then the
 * scheme picks the form. In redis://, the authority runs up to the first
 * '/', '?' or '#', so those bytes must be percent-encoded in a user or a
 * password, as RFC 3986 wants; an '@' must be too (two '@' are refused
 * rather than guessed at). The user is what precedes the first ':' of
 * the user information, the password what follows it.
 *
 * Errors name the part at fault and at most a byte offset, never the
 * text itself: a password put in the wrong place (a raw '/' in it, a
 * missing '@') would otherwise be quoted in the log of a failed start.
 */
#include <arpa/inet.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "base/redis_url.h"
#include "base/text.h"

#define USAGE                                                \
	"expected redis://[USER:PASSWORD@]HOST[:PORT][/DB] " \
	"or unix:///PATH"

struct parse {
	struct ipwd_redis_url *out;
	char *err;
	size_t errlen;
};

static int fail(struct parse *p, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* -1, with the message in p->err and nothing half-parsed left in out. */
static int fail(struct parse *p, const char *fmt, ...)
{
	va_list ap;

	memset(p->out, 0, sizeof(*p->out));
	if (p->errlen) {
		va_start(ap, fmt);
		vsnprintf(p->err, p->errlen, fmt, ap);
		va_end(ap);
	}
	return -1;
}

/*
 * Percent-decode @s[0..n) into @dst (@size bytes with the NUL) for the
 * part called @what ("user", "password", "socket path"). 0 or fail().
 */
static int decode(struct parse *p, const char *s, size_t n, char *dst,
		  size_t size, const char *what)
{
	size_t i, m = 0;

	for (i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];

		if (c == '%') {
			int hi = i + 2 < n ?
					 ipwd_hexval((unsigned char)s[i + 1]) :
					 -1;
			int lo = i + 2 < n ?
					 ipwd_hexval((unsigned char)s[i + 2]) :
					 -1;

			if (hi < 0 || lo < 0)
				return fail(p,
					    "a '%%' in the %s is not followed "
					    "by two hex digits (write a '%%' "
					    "as %%25)",
					    what);
			c = (unsigned char)(hi << 4 | lo);
			if (c == 0)
				return fail(p, "the %s holds %%00 (a NUL byte)",
					    what);
			if (c < 0x20 || c == 0x7f)
				return fail(p,
					    "the %s decodes to a control byte",
					    what);
			i += 2;
		}
		if (m + 1 >= size)
			return fail(p, "the %s is longer than %zu bytes", what,
				    size - 1);
		dst[m++] = (char)c;
	}
	dst[m] = '\0';
	return 0;
}

/* The decimal number @s[0..n) (digits only) if it is at most @max. */
static bool number(const char *s, size_t n, uint32_t max, unsigned *out)
{
	uint64_t v = 0;
	size_t i;

	if (n == 0)
		return false;
	for (i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return false;
		v = v * 10 + (uint64_t)(s[i] - '0');
		if (v > max)
			return false;
	}
	*out = (unsigned)v;
	return true;
}

static bool all_digits(const char *s, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (s[i] < '0' || s[i] > '9')
			return false;
	return true;
}

static bool host_byte(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	       (c >= '0' && c <= '9') || c == '.' || c == '-' || c == '_';
}

/* HOST, [IPV6] or either with :PORT: @s[0..n), no user information. */
static int parse_host_port(struct parse *p, const char *s, size_t n,
			   size_t base)
{
	struct ipwd_redis_url *u = p->out;
	const char *port;
	size_t hlen, i;
	unsigned v;

	if (n > 0 && s[0] == '[') {
		const char *close = memchr(s, ']', n);
		char a[INET6_ADDRSTRLEN];
		struct in6_addr in6;

		if (close == NULL)
			return fail(p, "an IPv6 address without its closing "
				       "']' in the Redis URL");
		hlen = (size_t)(close - s - 1);
		if (hlen == 0)
			return fail(p, "no host in the Redis URL (\"[]\")");
		if (hlen >= sizeof(a))
			return fail(p, "the host in [ ] is not an IPv6 "
				       "address (too long)");
		memcpy(a, s + 1, hlen);
		a[hlen] = '\0';
		if (inet_pton(AF_INET6, a, &in6) != 1)
			return fail(p, "the host in [ ] is not an IPv6 "
				       "address");
		memcpy(u->host, a, hlen + 1);
		port = close + 1;
		if (port < s + n && *port != ':')
			return fail(p,
				    "unexpected byte (byte %zu of the URL) "
				    "after the IPv6 address's ']' (expected "
				    ":PORT)",
				    base + (size_t)(port - s));
	} else {
		const char *colon = memchr(s, ':', n);

		hlen = colon ? (size_t)(colon - s) : n;
		if (hlen == 0)
			return fail(p, "no host in the Redis URL (" USAGE ")");
		if (hlen >= sizeof(u->host))
			return fail(p, "the host is longer than %zu bytes",
				    sizeof(u->host) - 1);
		for (i = 0; i < hlen; i++)
			if (!host_byte(s[i]))
				return fail(p,
					    "the host has a byte that is not a "
					    "letter, digit, '.', '-' or '_' "
					    "(byte %zu of the URL; an IPv6 "
					    "address goes in [ ])",
					    base + i);
		memcpy(u->host, s, hlen);
		u->host[hlen] = '\0';
		port = s + hlen;
	}
	if (port == s + n)
		return 0;
	/* *port == ':' */
	port++;
	n = (size_t)(s + n - port);
	if (n == 0)
		return fail(p, "no port after the ':' in the Redis URL");
	if (!all_digits(port, n))
		return fail(p, "the port is not a number (1 to 65535)");
	if (!number(port, n, 65535, &v) || v == 0)
		return fail(p, "the port is out of range (1 to 65535)");
	u->port = v;
	return 0;
}

/* What follows "redis://". */
static int parse_tcp(struct parse *p, const char *s, size_t base)
{
	struct ipwd_redis_url *u = p->out;
	size_t alen = strcspn(s, "/?#");
	const char *at = memchr(s, '@', alen), *host = s, *rest = s + alen;
	size_t n;

	if (at) {
		const char *colon = memchr(s, ':', (size_t)(at - s));

		if (memchr(at + 1, '@', alen - (size_t)(at + 1 - s)))
			return fail(p, "more than one '@' in the Redis URL "
				       "(write an '@' in a user or password "
				       "as %%40)");
		if (colon == NULL)
			return fail(p, "a user without ':' before the '@' "
				       "in the Redis URL: write "
				       "redis://USER:PASSWORD@HOST, "
				       "redis://USER:@HOST (no password) or "
				       "redis://:PASSWORD@HOST (the default "
				       "user)");
		if (decode(p, s, (size_t)(colon - s), u->user, sizeof(u->user),
			   "user") ||
		    decode(p, colon + 1, (size_t)(at - colon - 1), u->password,
			   sizeof(u->password), "password"))
			return -1;
		host = at + 1;
	}
	if (parse_host_port(p, host, (size_t)(rest - host),
			    base + (size_t)(host - s)))
		return -1;
	if (*rest == '?' || *rest == '#')
		return fail(p, "a query or fragment (? or #) in the Redis URL "
			       "is not supported (a '?' or '#' in a password "
			       "is written %%3F, %%23)");
	if (*rest == '\0')
		return 0;
	/* "/DB" */
	rest++;
	n = strcspn(rest, "?#");
	if (rest[n])
		return fail(p, "a query or fragment (? or #) in the Redis URL "
			       "is not supported");
	if (n == 0)
		return 0; /* "redis://host/": db 0 */
	if (rest[0] < '0' || rest[0] > '9')
		return fail(p, "the db after the '/' is not a number (0 to %u)",
			    IPWD_REDIS_DB_MAX);
	if (!all_digits(rest, n))
		return fail(p,
			    "unexpected bytes after the db number (byte %zu "
			    "of the URL)",
			    base + (size_t)(rest - s) +
				    strspn(rest, "0123456789"));
	if (!number(rest, n, IPWD_REDIS_DB_MAX, &u->db))
		return fail(p, "the db is out of range (0 to %u)",
			    IPWD_REDIS_DB_MAX);
	return 0;
}

/* What follows "unix:": "//" and an absolute path, or an absolute path. */
static int parse_unix(struct parse *p, const char *s)
{
	struct ipwd_redis_url *u = p->out;
	size_t n;

	if (strncmp(s, "//", 2) == 0)
		s += 2;
	if (*s != '/')
		return fail(p, "a unix: URL takes an absolute path and no "
			       "host: unix:///PATH or unix:/PATH");
	n = strcspn(s, "?#");
	if (s[n])
		return fail(p, "a query or fragment (? or #) in a unix: URL "
			       "is not supported");
	if (n == 1)
		return fail(p, "no socket path after unix:/");
	return decode(p, s, n, u->path, sizeof(u->path), "socket path");
}

static bool prefix(const char *s, const char *pfx)
{
	return strncasecmp(s, pfx, strlen(pfx)) == 0;
}

int ipwd_redis_url_parse(const char *s, struct ipwd_redis_url *out, char *err,
			 size_t errlen)
{
	struct parse p = {.out = out, .err = err, .errlen = errlen};
	size_t i;

	memset(out, 0, sizeof(*out));
	out->port = IPWD_REDIS_DEFAULT_PORT;
	if (errlen)
		err[0] = '\0';
	if (s == NULL || *s == '\0')
		return fail(&p, "empty Redis URL (" USAGE ")");
	for (i = 0; s[i]; i++) {
		unsigned char c = (unsigned char)s[i];

		if (c < 0x20 || c == 0x7f)
			return fail(&p,
				    "a control byte (0x%02x) at byte %zu of "
				    "the Redis URL",
				    c, i);
		if (c == ' ')
			return fail(&p,
				    "a space at byte %zu of the Redis URL "
				    "(write a space in a user or password as "
				    "%%20)",
				    i);
	}
	if (prefix(s, "redis://"))
		return parse_tcp(&p, s + 8, 8);
	if (prefix(s, "rediss:"))
		return fail(&p, "rediss:// (TLS) is not supported: Debian 12's "
				"hiredis (0.14) has no TLS; run a TLS tunnel "
				"(stunnel, spiped) to a loopback port and use "
				"redis://127.0.0.1:PORT");
	if (prefix(s, "unix:"))
		return parse_unix(&p, s + 5);
	if (prefix(s, "redis:"))
		return fail(&p,
			    "a redis: URL needs \"//\" after the scheme (" USAGE
			    ")");
	/* The scheme is not quoted: "PASSWORD@HOST" would be. */
	return fail(&p, "no known scheme in the Redis URL (" USAGE ")");
}

/* ---- formatting ---- */

struct out {
	char *buf;
	size_t size, n;
};

static void put_char(struct out *o, char c)
{
	if (o->n + 1 < o->size) {
		o->buf[o->n++] = c;
		o->buf[o->n] = '\0';
	}
}

static void put_str(struct out *o, const char *s)
{
	for (; *s; s++)
		put_char(o, *s);
}

/* @s with the bytes outside [A-Za-z0-9._~-] and @keep as %XX. */
static void put_enc(struct out *o, const char *s, const char *keep)
{
	static const char hex[] = "0123456789ABCDEF";

	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;

		if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		    (c >= '0' && c <= '9') || c == '.' || c == '_' ||
		    c == '~' || c == '-' || (c && strchr(keep, c))) {
			put_char(o, (char)c);
		} else {
			put_char(o, '%');
			put_char(o, hex[c >> 4]);
			put_char(o, hex[c & 15]);
		}
	}
}

void ipwd_redis_url_format(const struct ipwd_redis_url *u, char *out,
			   size_t size)
{
	struct out o = {.buf = out, .size = size};
	char num[16];

	if (size == 0)
		return;
	out[0] = '\0';
	if (u->path[0]) {
		put_str(&o, "unix://");
		put_enc(&o, u->path, "/");
		return;
	}
	put_str(&o, "redis://");
	if (u->user[0] || u->password[0]) {
		put_enc(&o, u->user, "");
		put_char(&o, ':');
		if (u->password[0])
			put_str(&o, "***");
		put_char(&o, '@');
	}
	if (strchr(u->host, ':')) {
		put_char(&o, '[');
		put_enc(&o, u->host, ":");
		put_char(&o, ']');
	} else {
		put_enc(&o, u->host, "");
	}
	snprintf(num, sizeof(num), ":%u", u->port);
	put_str(&o, num);
	if (u->db) {
		snprintf(num, sizeof(num), "/%u", u->db);
		put_str(&o, num);
	}
}
