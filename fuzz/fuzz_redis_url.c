// SPDX-License-Identifier: MIT
/*
 * libFuzzer harness for the [cluster] Redis URL parser and formatter
 * (src/daemon/base/redis_url.h). The input, NUL-terminated in a buffer of
 * exactly its size (ASan sees a read past it), is parsed; beyond "does
 * not crash":
 *
 *   - the result is 0 or -1 and the message is NUL-terminated: empty on
 *     success; on failure non-empty, printable ASCII, and the struct
 *     zeroed;
 *   - on success: a host or a path (not both), a port in 1..65535, a db
 *     in 0..1000000, every string NUL-terminated in its array, and no
 *     control byte in any of them;
 *   - the formatted URL holds no control byte, space, quote nor
 *     backslash (it goes into /metrics labels), does not depend on the
 *     password at all (formatting with another password gives the same
 *     bytes: stronger than "does not contain it", which a password such
 *     as "6379" or "redis" would fail for nothing), and does not hold a
 *     password of 4 bytes or more unless the URL without a password
 *     already does;
 *   - it parses back to the same fields, the password "***" (or none);
 *   - the messages quote none of the input: the same input with the case
 *     of every letter swapped (which changes no verdict: schemes, hex
 *     digits and IPv6 addresses ignore case, host names and passwords are
 *     any letters) gives the same result and the very same message.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/redis_url.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check(int cond)
{
	if (!cond)
		abort();
}

static bool clean(const char *s, size_t cap)
{
	const char *end = memchr(s, '\0', cap);

	if (end == NULL)
		return false;
	for (; s < end; s++)
		if ((unsigned char)*s < 0x20 || *s == 0x7f)
			return false;
	return true;
}

static bool printable(const char *s)
{
	for (; *s; s++)
		if ((unsigned char)*s < 0x20 || (unsigned char)*s >= 0x7f)
			return false;
	return true;
}

static bool zeroed(const struct ipwd_redis_url *u)
{
	static const struct ipwd_redis_url zero;

	return memcmp(u, &zero, sizeof(zero)) == 0;
}

static void check_format(const struct ipwd_redis_url *u)
{
	struct ipwd_redis_url other = *u, back;
	char f[IPWD_REDIS_URL_FORMAT_MAX], g[IPWD_REDIS_URL_FORMAT_MAX];
	char err[256];
	const char *p;

	ipwd_redis_url_format(u, f, sizeof(f));
	check(strlen(f) < sizeof(f) - 1); /* never cut */
	for (p = f; *p; p++)
		check((unsigned char)*p > 0x20 && (unsigned char)*p < 0x7f &&
		      *p != '"' && *p != '\\');
	/* independent of the password */
	snprintf(other.password, sizeof(other.password), "%s",
		 u->password[0] ? "x" : "");
	ipwd_redis_url_format(&other, g, sizeof(g));
	check(strcmp(f, g) == 0);
	if (strlen(u->password) >= 4) {
		other.password[0] = '\0';
		ipwd_redis_url_format(&other, g, sizeof(g));
		check(strstr(f, u->password) == NULL ||
		      strstr(g, u->password) != NULL);
	}
	/* the round trip */
	check(ipwd_redis_url_parse(f, &back, err, sizeof(err)) == 0);
	check(strcmp(back.host, u->host) == 0 && back.port == u->port &&
	      strcmp(back.path, u->path) == 0);
	if (u->path[0] == '\0') {
		check(strcmp(back.user, u->user) == 0 && back.db == u->db);
		check(strcmp(back.password, u->password[0] ? "***" : "") == 0);
	}
}

static void swap_case(char *s)
{
	for (; *s; s++)
		if ((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z'))
			*s ^= 0x20;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct ipwd_redis_url u, v;
	char *s = malloc(size + 1), err[512], err2[512];
	int rc, rc2;

	check(s != NULL);
	memcpy(s, data, size);
	s[size] = '\0';
	memset(err, 0x5a, sizeof(err));
	rc = ipwd_redis_url_parse(s, &u, err, sizeof(err));
	check(rc == 0 || rc == -1);
	check(memchr(err, '\0', sizeof(err)) != NULL);
	if (rc == -1) {
		check(err[0] != '\0' && printable(err));
		check(zeroed(&u));
	} else {
		check(err[0] == '\0');
		check((u.host[0] != '\0') != (u.path[0] != '\0'));
		check(u.port >= 1 && u.port <= 65535);
		check(u.db <= IPWD_REDIS_DB_MAX);
		check(clean(u.host, sizeof(u.host)) &&
		      clean(u.path, sizeof(u.path)) &&
		      clean(u.user, sizeof(u.user)) &&
		      clean(u.password, sizeof(u.password)));
		check(u.path[0] == '\0' || u.path[0] == '/');
		check_format(&u);
	}

	swap_case(s);
	rc2 = ipwd_redis_url_parse(s, &v, err2, sizeof(err2));
	check(rc2 == rc);
	check(strcmp(err, err2) == 0);
	if (rc == 0)
		check(v.port == u.port && v.db == u.db &&
		      strlen(v.host) == strlen(u.host) &&
		      strlen(v.password) == strlen(u.password));
	free(s);
	return 0;
}
