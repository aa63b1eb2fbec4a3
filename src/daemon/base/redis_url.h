/* SPDX-License-Identifier: MIT */
/*
 * The Redis server of cluster mode ([cluster] redis) as a URL:
 *
 *   redis://HOST[:PORT][/DB]
 *   redis://[IPV6]:PORT
 *   redis://USER:PASSWORD@HOST:PORT/DB
 *   redis://:PASSWORD@HOST              (the default user)
 *   unix:///ABSOLUTE/PATH  or  unix:/ABSOLUTE/PATH
 *
 * USER, PASSWORD and PATH are percent-decoded (%40 is '@', %3A ':'); a
 * '%' must be followed by two hex digits and must not decode to a
 * control byte (NUL included). "USER@HOST" without a ':' is refused:
 * redis-cli reads it as a password, other clients as a user, and a
 * password taken for a user would be printed in logs. rediss:// (TLS) is
 * refused: Debian 12's hiredis (0.14) has no TLS.
 *
 * Error messages never quote the input (only the scheme, when it is made
 * of scheme characters): a misplaced password must not reach a log.
 * Pure functions; any thread.
 */
#ifndef IPWALL_DAEMON_BASE_REDIS_URL_H
#define IPWALL_DAEMON_BASE_REDIS_URL_H

#include <stddef.h>

#define IPWD_REDIS_DEFAULT_PORT 6379
#define IPWD_REDIS_DB_MAX	1000000

/* Room for any ipwd_redis_url_format() output, NUL included. */
#define IPWD_REDIS_URL_FORMAT_MAX 1024

struct ipwd_redis_url {
	char host[256];	    /* name or address (no brackets); "" with path */
	unsigned port;	    /* 1..65535; 6379 when not given (and with path) */
	char path[108];	    /* unix socket path (absolute), or "" */
	char user[128];	    /* ACL user, or "" (the default user) */
	char password[512]; /* or "" (no AUTH) */
	unsigned db;	    /* SELECT n: 0..IPWD_REDIS_DB_MAX, default 0 */
};

/*
 * ipwd_redis_url_parse() - parse @s into *@out.
 * Returns 0, or -1 with a sentence naming what is wrong in @err (@errlen
 * bytes, always NUL-terminated; @err may be NULL when @errlen is 0). The
 * sentence never holds the password nor any other part of @s. On -1,
 * *@out is zeroed (no half-parsed password is left in it).
 */
int ipwd_redis_url_parse(const char *s, struct ipwd_redis_url *out, char *err,
			 size_t errlen);

/*
 * ipwd_redis_url_format() - @u as text for logs and /metrics labels, into
 * @out (@size bytes, always NUL-terminated when @size > 0; cut short if
 * it is less than IPWD_REDIS_URL_FORMAT_MAX). The password is written
 * "***"; the user and the path are percent-encoded outside
 * [A-Za-z0-9._~-] (and '/' in the path), so the text holds no quote,
 * backslash nor control byte, and parses back to @u but for the
 * password (a unix: URL carries no user, password nor db: only the path
 * is written). The port is always written, the db when it is not 0.
 */
void ipwd_redis_url_format(const struct ipwd_redis_url *u, char *out,
			   size_t size);

#endif /* IPWALL_DAEMON_BASE_REDIS_URL_H */
