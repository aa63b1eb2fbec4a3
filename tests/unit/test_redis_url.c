// SPDX-License-Identifier: MIT
/*
 * Unit tests of the [cluster] Redis URL parser (src/daemon/base/
 * redis_url.h): a golden table of accepted URLs with every parsed field;
 * a table of refused ones, one per class of error, each with a part of
 * the message that names the fault, and hostile input (long strings,
 * control bytes raw and percent-encoded, two '@', an unclosed '[');
 * that no error message and no formatted URL holds the password (every
 * refused URL carries a marker password, and error messages quote none
 * of the input); that a refused URL leaves nothing in the struct; the
 * limits of each field exactly and one byte over; and the formatter:
 * golden outputs, the round trip through the parser, cut-short buffers.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "base/redis_url.h"

#include "tap.h"

/* A password that must never be seen in any output. */
#define PW "Hunter2xyzzy"

/* ---- accepted ---- */

struct good {
	const char *in;
	const char *host;
	unsigned port;
	const char *path, *user, *password;
	unsigned db;
	const char *formatted;
};

/* clang-format off */
static const struct good goods[] = {
	{"redis://host", "host", 6379, "", "", "", 0, "redis://host:6379"},
	{"redis://localhost:6380", "localhost", 6380, "", "", "", 0,
	 "redis://localhost:6380"},
	{"redis://127.0.0.1:6379", "127.0.0.1", 6379, "", "", "", 0,
	 "redis://127.0.0.1:6379"},
	{"redis://my_redis.internal-1:7000", "my_redis.internal-1", 7000, "",
	 "", "", 0, "redis://my_redis.internal-1:7000"},
	{"REDIS://Host.Example", "Host.Example", 6379, "", "", "", 0,
	 "redis://Host.Example:6379"},
	{"redis://host:1", "host", 1, "", "", "", 0, "redis://host:1"},
	{"redis://host:65535", "host", 65535, "", "", "", 0,
	 "redis://host:65535"},
	{"redis://host:06379", "host", 6379, "", "", "", 0, "redis://host:6379"},
	{"redis://[::1]:6380", "::1", 6380, "", "", "", 0, "redis://[::1]:6380"},
	{"redis://[::1]", "::1", 6379, "", "", "", 0, "redis://[::1]:6379"},
	{"redis://[2001:db8::1]:1/15", "2001:db8::1", 1, "", "", "", 15,
	 "redis://[2001:db8::1]:1/15"},
	{"redis://[::ffff:192.0.2.1]:6379", "::ffff:192.0.2.1", 6379, "", "",
	 "", 0, "redis://[::ffff:192.0.2.1]:6379"},
	{"redis://user:" PW "@host:6381/3", "host", 6381, "", "user", PW, 3,
	 "redis://user:***@host:6381/3"},
	{"redis://:" PW "@host", "host", 6379, "", "", PW, 0,
	 "redis://:***@host:6379"},
	{"redis://user:@host", "host", 6379, "", "user", "", 0,
	 "redis://user:@host:6379"},
	{"redis://:@host", "host", 6379, "", "", "", 0, "redis://host:6379"},
	{"redis://u%40x:p%3Aw%25@h", "h", 6379, "", "u@x", "p:w%", 0,
	 "redis://u%40x:***@h:6379"},
	{"redis://u:p:w@h", "h", 6379, "", "u", "p:w", 0,
	 "redis://u:***@h:6379"},
	{"redis://u:%2F%3f%23%20@h", "h", 6379, "", "u", "/?# ", 0,
	 "redis://u:***@h:6379"},
	{"redis://u:[x]@h", "h", 6379, "", "u", "[x]", 0,
	 "redis://u:***@h:6379"},
	{"redis://us%C3%A9r:p\xc3\xa9@h", "h", 6379, "", "us\xc3\xa9r",
	 "p\xc3\xa9", 0, "redis://us%C3%A9r:***@h:6379"},
	{"redis://a.b:c~d@h", "h", 6379, "", "a.b", "c~d", 0,
	 "redis://a.b:***@h:6379"},
	{"redis://host/", "host", 6379, "", "", "", 0, "redis://host:6379"},
	{"redis://host/0", "host", 6379, "", "", "", 0, "redis://host:6379"},
	{"redis://host:6379/1000000", "host", 6379, "", "", "", 1000000,
	 "redis://host:6379/1000000"},
	{"unix:///run/redis/redis.sock", "", 6379, "/run/redis/redis.sock", "",
	 "", 0, "unix:///run/redis/redis.sock"},
	{"unix:/run/redis.sock", "", 6379, "/run/redis.sock", "", "", 0,
	 "unix:///run/redis.sock"},
	{"UNIX:///tmp/a%20b", "", 6379, "/tmp/a b", "", "", 0,
	 "unix:///tmp/a%20b"},
	{"unix:////x", "", 6379, "//x", "", "", 0, "unix:////x"},
};
/* clang-format on */

static void test_good(void)
{
	for (size_t i = 0; i < sizeof(goods) / sizeof(goods[0]); i++) {
		const struct good *g = &goods[i];
		struct ipwd_redis_url u;
		char err[256], f[IPWD_REDIS_URL_FORMAT_MAX];
		int rc = ipwd_redis_url_parse(g->in, &u, err, sizeof(err));
		bool pass = rc == 0 && !strcmp(u.host, g->host) &&
			    u.port == g->port && !strcmp(u.path, g->path) &&
			    !strcmp(u.user, g->user) &&
			    !strcmp(u.password, g->password) && u.db == g->db;

		ok(pass, "accepted: %s", g->in);
		if (!pass)
			diag("rc %d (%s): host \"%s\" port %u path \"%s\" user "
			     "\"%s\" password \"%s\" db %u",
			     rc, err, u.host, u.port, u.path, u.user,
			     u.password, u.db);
		ok(err[0] == '\0', "... and no message");
		ipwd_redis_url_format(&u, f, sizeof(f));
		ok(!strcmp(f, g->formatted), "... formatted as %s", f);
		if (strcmp(f, g->formatted) != 0)
			diag("want \"%s\"", g->formatted);
	}
}

/* ---- refused ---- */

struct bad {
	const char *in;
	const char *msg; /* a part of the message */
};

/* clang-format off */
static const struct bad bads[] = {
	/* empty, scheme */
	{"", "empty Redis URL"},
	{"http://:" PW "@host", "no known scheme"},
	{"host:6379", "no known scheme"},
	{PW "@host:6379", "no known scheme"},
	{"user:" PW "@host", "no known scheme"},
	{"redis:" PW "@host", "needs \"//\""},
	{"redis:/host", "needs \"//\""},
	{"rediss://:" PW "@host:6380", "Debian 12's hiredis (0.14) has no TLS"},
	{"rediss://host", "stunnel"},
	{"redis+tls://host", "no known scheme"},
	/* host */
	{"redis://", "no host"},
	{"redis://:6379", "no host"},
	{"redis://:" PW "@", "no host"},
	{"redis://:@", "no host"},
	{"redis://u:" PW "@:6379", "no host"},
	{"redis://::1:6379", "no host"},
	{"redis:///0", "no host"},
	{"redis://ho!st", "host has a byte"},
	{"redis://h\xc3\xb6st", "host has a byte"},
	{"redis://ho%73t", "host has a byte"},
	{"redis://host]:6379", "host has a byte"},
	{"redis://[::1", "closing ']'"},
	{"redis://[::1:6379", "closing ']'"},
	{"redis://:" PW "@[::1", "closing ']'"},
	{"redis://[::1/0]", "closing ']'"},
	{"redis://[]:6379", "no host"},
	{"redis://[::g]:6379", "not an IPv6 address"},
	{"redis://[192.0.2.1]:6379", "not an IPv6 address"},
	{"redis://[fe80::1%25eth0]:6379", "not an IPv6 address"},
	{"redis://[::1]x", "after the IPv6 address"},
	{"redis://[::1]6379", "after the IPv6 address"},
	/* port */
	{"redis://host:", "no port"},
	{"redis://[::1]:", "no port"},
	{"redis://:" PW "@host:", "no port"},
	{"redis://host:0", "port is out of range"},
	{"redis://host:00000", "port is out of range"},
	{"redis://host:65536", "port is out of range"},
	{"redis://:" PW "@host:99999", "port is out of range"},
	{"redis://host:123456789012345678901234567890", "port is out of range"},
	{"redis://host:-1", "port is not a number"},
	{"redis://host:+1", "port is not a number"},
	{"redis://host:6379x", "port is not a number"},
	{"redis://host:6379:1", "port is not a number"},
	{"redis://host:0x10", "port is not a number"},
	{"redis://user:" PW "/x@host", "port is not a number"},
	/* db */
	{"redis://host/x", "db after the '/' is not a number"},
	{"redis://host/-1", "db after the '/' is not a number"},
	{"redis://host/1x", "after the db number"},
	{"redis://host/1/2", "after the db number"},
	{"redis://host/1000001", "db is out of range"},
	{"redis://host/99999999999999999999999", "db is out of range"},
	/* what is not supported */
	{"redis://host?db=1", "query or fragment"},
	{"redis://host/0?password=" PW, "query or fragment"},
	{"redis://host#" PW, "query or fragment"},
	{"redis://:" PW "@host:6379?x", "query or fragment"},
	/* user information */
	{"redis://" PW "@host", "a user without ':'"},
	{"redis://a@b@c", "more than one '@'"},
	{"redis://u:" PW "@w@host", "more than one '@'"},
	{"redis://@@host", "more than one '@'"},
	{"redis://u:%4@h", "'%' in the password"},
	{"redis://u:" PW "%@h", "'%' in the password"},
	{"redis://u:" PW "%zz@h", "'%' in the password"},
	{"redis://u:" PW "%4g@h", "'%' in the password"},
	{"redis://u%4:" PW "@h", "'%' in the user"},
	{"redis://%:" PW "@h", "'%' in the user"},
	{"redis://u:" PW "%00@h", "password holds %00"},
	{"redis://u%00:" PW "@h", "user holds %00"},
	{"redis://u:" PW "%0A@h", "password decodes to a control byte"},
	{"redis://u:" PW "%0d%0a@h", "password decodes to a control byte"},
	{"redis://u:" PW "%7f@h", "password decodes to a control byte"},
	{"redis://u%1b:" PW "@h", "user decodes to a control byte"},
	/* control bytes and spaces, raw */
	{"redis://u:" PW "\n@h", "control byte (0x0a)"},
	{"redis://u:" PW "@host\t", "control byte (0x09)"},
	{"redis://ho\x7fst", "control byte (0x7f)"},
	{"redis://h\x01", "control byte (0x01) at byte 9"},
	{"\x1b[31mredis://host", "control byte (0x1b) at byte 0"},
	{"redis://host\r\n", "control byte (0x0d)"},
	{"redis://u:" PW " x@h", "a space at byte"},
	{"redis://host:63 79", "a space at byte 15"},
	{" redis://host", "a space at byte 0"},
	/* unix */
	{"unix:relative/path", "absolute path"},
	{"unix://host/path", "absolute path"},
	{"unix:", "absolute path"},
	{"unix:///", "no socket path"},
	{"unix:/", "no socket path"},
	{"unix:///tmp/x?db=2", "query or fragment"},
	{"unix:///tmp/x#a", "query or fragment"},
	{"unix:///%zz", "'%' in the socket path"},
	{"unix:///a%00", "socket path holds %00"},
	{"unix:///a%0a", "socket path decodes to a control byte"},
};
/* clang-format on */

/* A refused URL: the message, the password kept out of it, the struct
 * left empty. */
static void check_bad(const char *in, const char *want, const char *label)
{
	struct ipwd_redis_url u;
	char err[512];
	int rc;

	memset(&u, 0x5a, sizeof(u));
	memset(err, 0x5a, sizeof(err));
	rc = ipwd_redis_url_parse(in, &u, err, sizeof(err));
	ok(rc == -1 && memchr(err, '\0', sizeof(err)) && strstr(err, want),
	   "refused: %s: \"%s\"", label, want);
	if (rc != -1 || !memchr(err, '\0', sizeof(err)) || !strstr(err, want))
		diag("rc %d, message \"%.*s\"", rc, (int)sizeof(err), err);
	ok(strstr(err, PW) == NULL && strstr(err, "Hunter") == NULL,
	   "... the message holds no part of the password");
	ok(u.host[0] == '\0' && u.path[0] == '\0' && u.user[0] == '\0' &&
		   u.password[0] == '\0' && u.port == 0 && u.db == 0,
	   "... and the struct is left zeroed");
}

static void test_bad(void)
{
	for (size_t i = 0; i < sizeof(bads) / sizeof(bads[0]); i++) {
		char label[96];
		size_t j, n = 0;

		/* the input, printable for the TAP line */
		for (j = 0; bads[i].in[j] && n + 5 < sizeof(label); j++) {
			unsigned char c = (unsigned char)bads[i].in[j];

			if (c < 0x20 || c >= 0x7f)
				n += (size_t)snprintf(label + n,
						      sizeof(label) - n,
						      "\\x%02x", c);
			else
				label[n++] = (char)c;
		}
		label[n] = '\0';
		check_bad(bads[i].in, bads[i].msg, label);
	}
}

/* NULL input; a NULL error buffer of size 0; a tiny one. */
static void test_api_edges(void)
{
	struct ipwd_redis_url u;
	char err[8];

	ok(ipwd_redis_url_parse(NULL, &u, err, sizeof(err)) == -1,
	   "NULL is refused");
	ok(ipwd_redis_url_parse("nope", &u, NULL, 0) == -1,
	   "a NULL message buffer of 0 bytes is fine");
	ok(ipwd_redis_url_parse("redis://h", &u, NULL, 0) == 0 &&
		   !strcmp(u.host, "h"),
	   "... also on success");
	memset(err, 'x', sizeof(err));
	ok(ipwd_redis_url_parse("redis://host:0", &u, err, sizeof(err)) == -1 &&
		   strlen(err) == sizeof(err) - 1,
	   "a message cut to its buffer, NUL-terminated");
	memset(err, 'x', sizeof(err));
	ok(ipwd_redis_url_parse("redis://host", &u, err, sizeof(err)) == 0 &&
		   err[0] == '\0',
	   "success empties the message buffer");
}

/* ---- limits, hostile lengths ---- */

static char *repeat(const char *pre, char c, size_t n, const char *post)
{
	size_t a = strlen(pre), b = strlen(post);
	char *s = malloc(a + n + b + 1);

	if (s == NULL)
		abort();
	memcpy(s, pre, a);
	memset(s + a, c, n);
	memcpy(s + a + n, post, b + 1);
	return s;
}

static void test_limits(void)
{
	static const struct {
		const char *pre;
		char c;
		size_t n;
		const char *post;
		int rc;
		const char *msg;
	} v[] = {
		{"redis://", 'a', 255, ":1", 0, NULL},
		{"redis://", 'a', 256, ":1", -1, "host is longer than 255"},
		{"redis://", 'a', 100000, "", -1, "host is longer than 255"},
		{"redis://u:", 'p', 511, "@h", 0, NULL},
		{"redis://u:", 'p', 512, "@h", -1,
		 "password is longer than 511"},
		{"redis://u:", 'p', 100000, "@h", -1,
		 "password is longer than 511"},
		{"redis://", 'u', 127, ":p@h", 0, NULL},
		{"redis://", 'u', 128, ":p@h", -1, "user is longer than 127"},
		{"unix:///", 's', 106, "", 0, NULL},
		{"unix:///", 's', 107, "", -1,
		 "socket path is longer than 107"},
		{"unix:///", 's', 100000, "", -1,
		 "socket path is longer than 107"},
		{"redis://h/", '0', 100000, "", 0, NULL},
		{"redis://h/", '9', 100000, "", -1, "db is out of range"},
		{"redis://h:", '0', 100000, "1", 0, NULL},
		{"redis://h:", '9', 100000, "", -1, "port is out of range"},
		{"redis://", '@', 100000, "h", -1, "more than one '@'"},
		{"redis://u:", '%', 100000, "@h", -1, "'%' in the password"},
		{"redis://[", ':', 100000, "", -1, "closing ']'"},
		{"redis://[", ':', 100000, "]", -1, "not an IPv6 address"},
	};

	for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
		char *s = repeat(v[i].pre, v[i].c, v[i].n, v[i].post);
		struct ipwd_redis_url u;
		char err[256];
		int rc = ipwd_redis_url_parse(s, &u, err, sizeof(err));

		ok(rc == v[i].rc && (v[i].msg == NULL || strstr(err, v[i].msg)),
		   "%s + %zu x '%c' + %s: %s", v[i].pre, v[i].n, v[i].c,
		   v[i].post, v[i].msg ? v[i].msg : "accepted");
		if (rc != v[i].rc || (v[i].msg && !strstr(err, v[i].msg)))
			diag("rc %d, message \"%s\"", rc, err);
		if (rc == 0 && v[i].c == 'p')
			is_int(strlen(u.password), v[i].n,
			       "... the whole password kept");
		if (rc == 0 && v[i].c == 'a')
			is_int(strlen(u.host), v[i].n,
			       "... the whole host kept");
		free(s);
	}
}

/* Every control byte, raw and percent-encoded, in every part. */
static void test_control_bytes(void)
{
	static const char *const at[][2] = {
		{"redis://u:pw", "@host:6379/1"},
		{"redis://u", ":pw@host"},
		{"redis://ho", "st"},
		{"redis://host:63", "79"},
		{"redis://host/1", ""},
		{"unix:///tmp/s", ".sock"},
	};
	int refused_raw = 0, refused_enc = 0, total = 0;

	for (size_t i = 0; i < sizeof(at) / sizeof(at[0]); i++) {
		for (int c = 1; c < 0x80; c++) {
			char s[64], err[256];
			struct ipwd_redis_url u;

			if (c >= 0x20 && c < 0x7f)
				continue;
			total++;
			snprintf(s, sizeof(s), "%s%c%s", at[i][0], c, at[i][1]);
			if (ipwd_redis_url_parse(s, &u, err, sizeof(err)) ==
				    -1 &&
			    strstr(err, "control byte"))
				refused_raw++;
			snprintf(s, sizeof(s), "%s%%%02X%s", at[i][0], c,
				 at[i][1]);
			/* %XX is decoded in a user, password or path only;
			 * elsewhere a '%' is refused for its own reason */
			if (ipwd_redis_url_parse(s, &u, err, sizeof(err)) == -1)
				refused_enc++;
		}
	}
	is_int(refused_raw, total,
	       "every raw control byte refused in every part, named");
	is_int(refused_enc, total,
	       "every percent-encoded control byte refused in every part");
}

/* ---- the formatter ---- */

static bool same_but_password(const struct ipwd_redis_url *a,
			      const struct ipwd_redis_url *b)
{
	return !strcmp(a->host, b->host) && a->port == b->port &&
	       !strcmp(a->path, b->path) && !strcmp(a->user, b->user) &&
	       a->db == b->db;
}

static void test_format(void)
{
	struct ipwd_redis_url u, back;
	char f[IPWD_REDIS_URL_FORMAT_MAX], g[IPWD_REDIS_URL_FORMAT_MAX];
	char err[256];
	size_t i;

	/* The round trip of every accepted URL. */
	for (i = 0; i < sizeof(goods) / sizeof(goods[0]); i++) {
		if (ipwd_redis_url_parse(goods[i].in, &u, err, sizeof(err)))
			continue;
		ipwd_redis_url_format(&u, f, sizeof(f));
		ok(ipwd_redis_url_parse(f, &back, err, sizeof(err)) == 0 &&
			   same_but_password(&u, &back) &&
			   !strcmp(back.password, u.password[0] ? "***" : ""),
		   "round trip: %s -> %s", goods[i].in, f);
	}

	/* Fields set by hand (the [cluster] user and password keys):
	 * whatever the bytes, no quote, backslash nor control byte, and
	 * never the password. */
	memset(&u, 0, sizeof(u));
	snprintf(u.host, sizeof(u.host), "redis.example");
	u.port = 6379;
	snprintf(u.user, sizeof(u.user), "a\"b\\c d:e@f/g");
	snprintf(u.password, sizeof(u.password), "%s", PW);
	ipwd_redis_url_format(&u, f, sizeof(f));
	is_str(f, "redis://a%22b%5Cc%20d%3Ae%40f%2Fg:***@redis.example:6379",
	       "a user of awkward bytes percent-encoded");
	ok(strstr(f, PW) == NULL, "... and the password not shown");

	/* A password made of what the rest of the URL holds: the output
	 * does not depend on it. */
	snprintf(u.password, sizeof(u.password), "redis.example:6379");
	ipwd_redis_url_format(&u, g, sizeof(g));
	is_str(g, f, "the output does not depend on the password");

	/* The longest output fits IPWD_REDIS_URL_FORMAT_MAX. */
	memset(&u, 0, sizeof(u));
	memset(u.user, '"', sizeof(u.user) - 1);
	memset(u.host, ':', sizeof(u.host) - 1);
	memset(u.password, 'p', sizeof(u.password) - 1);
	u.port = 65535;
	u.db = IPWD_REDIS_DB_MAX;
	ipwd_redis_url_format(&u, f, sizeof(f));
	ok(strlen(f) < sizeof(f) - 1 &&
		   !strcmp(f + strlen(f) - 14, ":65535/1000000"),
	   "the longest output (%zu bytes) fits IPWD_REDIS_URL_FORMAT_MAX",
	   strlen(f));
	ok(strstr(f, "pppp") == NULL, "... without the password");

	/* Cut short: every size gives a NUL-terminated prefix. */
	ipwd_redis_url_parse("redis://user:" PW "@[::1]:6380/2", &u, err,
			     sizeof(err));
	ipwd_redis_url_format(&u, f, sizeof(f));
	{
		int good = 0, sizes = 0;

		for (size_t n = 1; n <= strlen(f) + 1; n++) {
			char *small = malloc(n);

			if (small == NULL)
				abort();
			ipwd_redis_url_format(&u, small, n);
			sizes++;
			if (strlen(small) == n - 1 && !strncmp(small, f, n - 1))
				good++;
			free(small);
		}
		is_int(good, sizes,
		       "every buffer size from 1 byte: a NUL-terminated "
		       "prefix of the whole");
		ipwd_redis_url_format(&u, NULL, 0);
		ok(1, "a buffer of 0 bytes is not touched");
	}
}

int main(void)
{
	test_good();
	test_bad();
	test_api_edges();
	test_limits();
	test_control_bytes();
	test_format();
	return done_testing();
}
