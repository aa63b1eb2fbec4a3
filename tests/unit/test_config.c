// SPDX-License-Identifier: MIT
/*
 * Unit tests of ipwalld's configuration (src/daemon/config.h): the
 * embedded defaults; the shipped ipwalld.conf.example (loads with no
 * problem, sets exactly the defaults, and with its commented-out keys
 * enabled still loads); a table of one key = value per file, each
 * accepted one read back from the struct, each refused one counted,
 * reported on the right line and leaving the default in force; files with
 * several problems, whose "FILE:LINE:" reports are captured from stderr
 * and compared line by line; the command-line overrides; [cluster]: the
 * Redis server from its URL, user, password and password file, the rules
 * between keys (the node named twice, the node id in cluster mode, the
 * socket timeout above the blocking read), the password never on stderr,
 * the host name as a node id (in a UTS namespace of its own, as root), a
 * reload keeping the running server; and the value parsers shared with
 * the rest of the daemon at their edges.
 */
#include <sched.h>
#include <stdarg.h>
#include <stdint.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <ipwall/table.h>

#include "build_features.h"

#include "base/config.h"
#include "base/log.h"
#include "tap.h"

#define EXAMPLE IPW_SOURCE_ROOT "/ipwalld.conf.example"

static char dir[] = "/tmp/ipwall-test-config-XXXXXX";
static char path[sizeof(dir) + 32];

static void write_file(const char *p, const char *text, size_t len)
{
	FILE *f = fopen(p, "w");

	if (f == NULL || fwrite(text, 1, len, f) != len || fclose(f) != 0) {
		perror(p);
		exit(2);
	}
}

/* A whole file into memory (NUL-terminated). */
static char *slurp(FILE *f)
{
	size_t cap = 4096, n = 0, r;
	char *s = malloc(cap);

	if (s == NULL)
		abort();
	rewind(f);
	while ((r = fread(s + n, 1, cap - n - 1, f)) > 0) {
		n += r;
		if (cap - n - 1 == 0) {
			s = realloc(s, cap *= 2);
			if (s == NULL)
				abort();
		}
	}
	s[n] = '\0';
	return s;
}

/* ipwd_config_load() with stderr captured into *err (malloc'd). */
static int load(struct ipwd_config *cfg, const char *p,
		const struct ipwd_overrides *ov, char **err)
{
	FILE *tmp = tmpfile();
	int saved, n;

	if (tmp == NULL)
		abort();
	fflush(stderr);
	saved = dup(2);
	if (saved < 0 || dup2(fileno(tmp), 2) < 0)
		abort();
	n = ipwd_config_load(cfg, p, ov);
	fflush(stderr);
	dup2(saved, 2);
	close(saved);
	*err = slurp(tmp);
	fclose(tmp);
	return n;
}

/* @text on TAP diagnostic lines, one "# " line per line of it. */
static void diag_lines(const char *what, const char *text)
{
	diag("%s:", what);
	while (*text) {
		const char *nl = strchr(text, '\n');
		int n = nl ? (int)(nl - text) : (int)strlen(text);

		diag("  %.*s", n, text);
		text += n + (nl != NULL);
	}
}

static int cmp_long(const void *a, const void *b)
{
	long x = *(const long *)a, y = *(const long *)b;

	return (x > y) - (x < y);
}

/* The line numbers of the "PATH:N: " reports in @err, sorted, as "3,4,7"
 * (syntax errors are reported after the other problems), or "bad" if a
 * line of @err does not start so. */
static void report_lines(const char *err, const char *p, char *out, size_t size)
{
	size_t pl = strlen(p), o = 0, k = 0;
	const char *s = err;
	long nums[64] = {0};

	out[0] = '\0';
	while (*s && k < 64) {
		const char *nl = strchr(s, '\n');
		char *end;

		if (strncmp(s, p, pl) != 0 || s[pl] != ':') {
			snprintf(out, size, "bad");
			return;
		}
		nums[k] = strtol(s + pl + 1, &end, 10);
		if (end == s + pl + 1 || end[0] != ':' || end[1] != ' ') {
			snprintf(out, size, "bad");
			return;
		}
		k++;
		if (nl == NULL)
			break;
		s = nl + 1;
	}
	qsort(nums, k, sizeof(nums[0]), cmp_long);
	for (size_t i = 0; i < k; i++)
		o += (size_t)snprintf(out + o, size - o, "%s%ld", i ? "," : "",
				      nums[i]);
}

/* ---- the fields, to compare and read back generically ---- */

enum fld {
	F_DATA_DIR,
	F_NODE,
	F_LISTEN,
	F_SOCKET,
	F_TOKENS_FILE,
	F_XDP,
	F_CLUSTER_REDIS,
	F_CLUSTER_USER,
	F_CLUSTER_PASSWORD,
	F_CLUSTER_PASSWORD_FILE,
	F_CLUSTER_NODE,
	F_CLUSTER_STREAM,
	F_STR_END, /* the string fields come first */
	F_LOG_LEVEL = F_STR_END,
	F_SHUTDOWN_TIMEOUT,
	F_THREADS,
	F_MAX_CONNECTIONS,
	F_MAX_CONNECTIONS_PER_IP,
	F_TIMEOUT,
	F_MAX_HEADER,
	F_MAX_BODY,
	F_MAX_BATCH,
	F_TOKENS_FILE_SET,
	F_PROTECT_READS,
	F_MAX_ENTRIES,
	F_DEFAULT_BAN_TTL,
	F_HIT_SAMPLE,
	F_PURGE_INTERVAL,
	F_MODE,
	F_XDP_MODE,
	F_CLUSTER_MODE,
	F_CLUSTER_MAXLEN,
	F_CLUSTER_BLOCK_MS,
	F_CLUSTER_TIMEOUT_MS,
	F_CLUSTER_BATCH,
	F_CLUSTER_HEARTBEAT_MS,
	F_COUNT
};

static const char *const fld_names[F_COUNT] = {
	"data_dir",
	"node",
	"listen",
	"socket",
	"tokens_file",
	"xdp",
	"redis",
	"user",
	"password",
	"password_file",
	"node",
	"stream",
	"log_level",
	"shutdown_timeout",
	"threads",
	"max_connections",
	"max_connections_per_ip",
	"timeout",
	"max_header",
	"max_body",
	"max_batch",
	"tokens_file_set",
	"protect_reads",
	"max_entries",
	"default_ban_ttl",
	"hit_sample",
	"purge_interval",
	"mode",
	"xdp_mode",
	"mode",
	"maxlen",
	"block_ms",
	"timeout_ms",
	"batch",
	"heartbeat_ms",
};

static const char *get_str(const struct ipwd_config *c, enum fld f)
{
	switch (f) {
	case F_DATA_DIR:
		return c->data_dir;
	case F_NODE:
		return c->node;
	case F_LISTEN:
		return c->listen;
	case F_SOCKET:
		return c->socket;
	case F_TOKENS_FILE:
		return c->tokens_file;
	case F_XDP:
		return c->xdp;
	case F_CLUSTER_REDIS:
		return c->cluster_redis;
	case F_CLUSTER_USER:
		return c->cluster_user;
	case F_CLUSTER_PASSWORD:
		return c->cluster_password;
	case F_CLUSTER_PASSWORD_FILE:
		return c->cluster_password_file;
	case F_CLUSTER_NODE:
		return c->cluster_node;
	case F_CLUSTER_STREAM:
		return c->cluster_stream;
	default:
		abort();
	}
}

static uint64_t get_num(const struct ipwd_config *c, enum fld f)
{
	switch (f) {
	case F_LOG_LEVEL:
		return (uint64_t)c->log_level;
	case F_SHUTDOWN_TIMEOUT:
		return c->shutdown_timeout;
	case F_THREADS:
		return c->threads;
	case F_MAX_CONNECTIONS:
		return c->max_connections;
	case F_MAX_CONNECTIONS_PER_IP:
		return c->max_connections_per_ip;
	case F_TIMEOUT:
		return c->timeout;
	case F_MAX_HEADER:
		return c->max_header;
	case F_MAX_BODY:
		return c->max_body;
	case F_MAX_BATCH:
		return c->max_batch;
	case F_TOKENS_FILE_SET:
		return c->tokens_file_set;
	case F_PROTECT_READS:
		return c->protect_reads;
	case F_MAX_ENTRIES:
		return c->max_entries;
	case F_DEFAULT_BAN_TTL:
		return c->default_ban_ttl;
	case F_HIT_SAMPLE:
		return c->hit_sample;
	case F_PURGE_INTERVAL:
		return c->purge_interval;
	case F_MODE:
		return (uint64_t)c->mode;
	case F_XDP_MODE:
		return (uint64_t)c->xdp_mode;
	case F_CLUSTER_MODE:
		return (uint64_t)c->cluster_mode;
	case F_CLUSTER_MAXLEN:
		return c->cluster_maxlen;
	case F_CLUSTER_BLOCK_MS:
		return c->cluster_block_ms;
	case F_CLUSTER_TIMEOUT_MS:
		return c->cluster_timeout_ms;
	case F_CLUSTER_BATCH:
		return c->cluster_batch;
	case F_CLUSTER_HEARTBEAT_MS:
		return c->cluster_heartbeat_ms;
	default:
		abort();
	}
}

/* The first field where @a and @b differ, or F_COUNT. */
static enum fld first_diff(const struct ipwd_config *a,
			   const struct ipwd_config *b)
{
	for (int f = 0; f < F_COUNT; f++) {
		if (f < F_STR_END) {
			const char *x = get_str(a, (enum fld)f);
			const char *y = get_str(b, (enum fld)f);

			if (x == NULL || y == NULL ? x != y : strcmp(x, y) != 0)
				return (enum fld)f;
		} else if (get_num(a, (enum fld)f) != get_num(b, (enum fld)f)) {
			return (enum fld)f;
		}
	}
	return F_COUNT;
}

static char hostname[64];

/* ---- defaults ---- */

static void test_defaults(void)
{
	struct ipwd_config c;
	char *err;
	int n;

	memset(&c, 0x5a, sizeof(c));
	n = load(&c, NULL, NULL, &err);
	is_int(n, 0, "defaults: no problems");
	is_str(err, "", "defaults: nothing on stderr");
	is_str(c.data_dir, "./var", "default data_dir");
	is_str(c.node, hostname, "default node is the host name");
	is_str(c.listen, "127.0.0.1:7420", "default listen");
	is_str(c.listen, IPWD_DEFAULT_LISTEN, "IPWD_DEFAULT_LISTEN");
	is_str(c.socket, "./var/ipwalld.sock", "default socket");
	is_str(c.tokens_file, "./var/tokens", "default tokens_file");
	ok(!c.tokens_file_set, "default tokens_file_set is false");
	is_int(c.log_level, IPWD_LOG_INFO, "default log_level info");
	is_int(c.shutdown_timeout, 10, "default shutdown_timeout 10 s");
	is_int(c.threads, 0, "default threads 0 (one per CPU)");
	is_int(c.max_connections, 1024, "default max_connections");
	is_int(c.max_connections_per_ip, 256, "default max_connections_per_ip");
	is_int(c.timeout, 30, "default timeout 30 s");
	is_int(c.max_header, 8192, "default max_header 8k");
	is_int(c.max_body, 64 << 20, "default max_body 64 MiB");
	is_int(c.max_batch, 100000, "default max_batch");
	ok(!c.protect_reads, "default protect_reads no");
	is_int(c.max_entries, 4000000, "default max_entries");
	is_int(c.default_ban_ttl, 0, "default default_ban_ttl 0 (permanent)");
	is_int(c.hit_sample, 64, "default hit_sample");
	is_int(c.purge_interval, 1, "default purge_interval 1 s");
	is_int(c.mode, IPW_MODE_DENYLIST, "default mode denylist");
	is_int(c.cluster_mode, IPWD_CLUSTER_OFF, "default [cluster] mode off");
	is_str(c.cluster_redis, "redis://127.0.0.1:6379",
	       "default [cluster] redis");
	ok(!strcmp(c.cluster_url.host, "127.0.0.1") &&
		   c.cluster_url.port == 6379 && !c.cluster_url.path[0] &&
		   !c.cluster_url.user[0] && !c.cluster_url.password[0] &&
		   c.cluster_url.db == 0,
	   "default cluster_url: 127.0.0.1:6379, no user, no password, db 0");
	ok(!c.cluster_user && !c.cluster_password && !c.cluster_password_file &&
		   !c.cluster_node,
	   "default [cluster] user, password, password_file, node: none");
	is_str(c.cluster_stream, "ipwall", "default [cluster] stream");
	is_int(c.cluster_maxlen, 1000000, "default [cluster] maxlen");
	is_int(c.cluster_block_ms, 1000, "default [cluster] block_ms");
	is_int(c.cluster_timeout_ms, 3000,
	       "default [cluster] timeout_ms: block_ms + 2000");
	is_int(c.cluster_batch, 1000, "default [cluster] batch");
	is_int(c.cluster_heartbeat_ms, 1000, "default [cluster] heartbeat_ms");
	free(err);
	ipwd_config_free(&c);
	ok(c.data_dir == NULL && c.socket == NULL,
	   "ipwd_config_free() clears the struct");
	ok(c.cluster_redis == NULL && c.cluster_url.host[0] == '\0',
	   "... [cluster] too");
}

/* ---- the shipped example ---- */

static void test_example(void)
{
	struct ipwd_config def, c;
	char *err, *text, *on, *o;
	const char *s;
	FILE *f;
	int n;
	enum fld d;

	load(&def, NULL, NULL, &err);
	free(err);
	n = load(&c, EXAMPLE, NULL, &err);
	is_int(n, 0, "ipwalld.conf.example: no problems");
	is_str(err, "", "ipwalld.conf.example: nothing on stderr");
	d = first_diff(&c, &def);
	ok(d == F_COUNT,
	   "ipwalld.conf.example sets exactly the defaults (first "
	   "difference: %s)",
	   d == F_COUNT ? "none" : fld_names[d]);
	free(err);
	ipwd_config_free(&c);

	/* Every key the daemon knows is documented there. */
	f = fopen(EXAMPLE, "r");
	if (f == NULL)
		abort();
	text = slurp(f);
	fclose(f);
	for (int k = 0; k < F_COUNT; k++) {
		char key[64], key2[64];

		if (k == F_TOKENS_FILE_SET)
			continue;
		/* shown in a comment: enabled, it would name a file that
		 * does not exist */
		if (k == F_CLUSTER_PASSWORD_FILE) {
			ok(strstr(text, "\n#   password_file = ") != NULL,
			   "ipwalld.conf.example documents password_file");
			continue;
		}
		snprintf(key, sizeof(key), "\n%s = ", fld_names[k]);
		snprintf(key2, sizeof(key2), "\n;%s = ", fld_names[k]);
		ok(strstr(text, key) || strstr(text, key2),
		   "ipwalld.conf.example documents %s", fld_names[k]);
	}

	/* The commented-out keys (and named sections: ";[rule ssh]")
	 * enabled: each parses. */
	on = malloc(strlen(text) + 1);
	if (on == NULL)
		abort();
	for (s = text, o = on; *s; s++)
		if (!(*s == ';' && (s == text || s[-1] == '\n') &&
		      ((strchr(s, '=') && strchr(s, '=') < strchr(s, '\n')) ||
		       s[1] == '[')))
			*o++ = *s;
	*o = '\0';
	snprintf(path, sizeof(path), "%s/example-on.conf", dir);
	write_file(path, on, strlen(on));
	n = load(&c, path, NULL, &err);
	is_int(n, 0, "example with ;key lines enabled: no problems");
	if (n)
		diag_lines("stderr", err);
	is_str(c.node, "web-1", "example: node = web-1");
	{
		const struct ipwd_rule_conf *r =
			(const void *)ipwd_conf_instance_find(c.rules, "ssh");

		ok(r && !strcmp(r->events, "ssh_auth_fail, ssh_invalid_user") &&
			   r->threshold == 5 && r->window == 600 &&
			   r->ban == 3600 && r->escalate == 2.0 &&
			   r->max_ban == 30 * 86400 && !r->dry_run,
		   "example: [rule ssh] with its values");
		is_int((int)c.ab_queue, 65536, "example: [autoban] queue");
		is_str(c.ab_socket, "/run/ipwalld/events.sock",
		       "example: [autoban] socket");
	}
	is_str(c.cluster_node, "web-1", "example: [cluster] node = web-1");
	ok(c.cluster_user && !strcmp(c.cluster_url.user, "ipwall") &&
		   !strcmp(c.cluster_url.password, "CHANGE-ME"),
	   "example: [cluster] user and password override the URL's");
	is_str(c.socket, "/run/ipwalld/ipwalld.sock",
	       "example: socket = /run/ipwalld/ipwalld.sock");
	is_str(c.tokens_file, "/etc/ipwall/tokens",
	       "example: tokens_file = /etc/ipwall/tokens");
	ok(c.tokens_file_set,
	   "example: tokens_file given sets tokens_file_set");
	is_str(c.data_dir, "./var", "example: data_dir = ./var");
	free(err);
	free(on);
	free(text);
	ipwd_config_free(&c);
	ipwd_config_free(&def);
}

/* ---- one key per file ---- */

struct key_case {
	const char *sec, *key, *val;
	bool good;
	enum fld f;
	uint64_t num;	 /* the value read back (numeric fields) */
	const char *str; /* the value read back (string fields) */
};

#define GOOD_N(s, k, v, f, n)             \
	{                                 \
		s, k, v, true, f, n, NULL \
	}
#define GOOD_S(s, k, v, f, x)          \
	{                              \
		s, k, v, true, f, 0, x \
	}
#define BAD(s, k, v, f)                    \
	{                                  \
		s, k, v, false, f, 0, NULL \
	}

static char long_name[80], name63[80], long_sock[120], sock107[120];
static char user127[140], user128[140], stream64[80], stream65[80];

/* clang-format off */
static const struct key_case keys[] = {
	/* [daemon] */
	GOOD_S("daemon", "data_dir", "/srv/ipwall", F_DATA_DIR, "/srv/ipwall"),
	GOOD_S("daemon", "data_dir", "rel/dir", F_DATA_DIR, "rel/dir"),
	BAD("daemon", "data_dir", "", F_DATA_DIR),
	GOOD_S("daemon", "node", "web-1", F_NODE, "web-1"),
	GOOD_S("daemon", "node", "x", F_NODE, "x"),
	GOOD_S("daemon", "node", name63, F_NODE, name63),
	BAD("daemon", "node", "", F_NODE),
	GOOD_N("daemon", "log_level", "error", F_LOG_LEVEL, IPWD_LOG_ERROR),
	GOOD_N("daemon", "log_level", "warn", F_LOG_LEVEL, IPWD_LOG_WARN),
	GOOD_N("daemon", "log_level", "warning", F_LOG_LEVEL, IPWD_LOG_WARN),
	GOOD_N("daemon", "log_level", "info", F_LOG_LEVEL, IPWD_LOG_INFO),
	GOOD_N("daemon", "log_level", "debug", F_LOG_LEVEL, IPWD_LOG_DEBUG),
	BAD("daemon", "log_level", "verbose", F_LOG_LEVEL),
	BAD("daemon", "log_level", "", F_LOG_LEVEL),
	BAD("daemon", "log_level", "6", F_LOG_LEVEL),
	GOOD_N("daemon", "shutdown_timeout", "30s", F_SHUTDOWN_TIMEOUT, 30),
	GOOD_N("daemon", "shutdown_timeout", "30", F_SHUTDOWN_TIMEOUT, 30),
	GOOD_N("daemon", "shutdown_timeout", "1m30s", F_SHUTDOWN_TIMEOUT, 90),
	GOOD_N("daemon", "shutdown_timeout", "1h", F_SHUTDOWN_TIMEOUT, 3600),
	GOOD_N("daemon", "shutdown_timeout", "0", F_SHUTDOWN_TIMEOUT, 0),
	BAD("daemon", "shutdown_timeout", "1h1s", F_SHUTDOWN_TIMEOUT),
	BAD("daemon", "shutdown_timeout", "10 s", F_SHUTDOWN_TIMEOUT),
	BAD("daemon", "shutdown_timeout", "-1", F_SHUTDOWN_TIMEOUT),
	BAD("daemon", "shutdown_timeout", "", F_SHUTDOWN_TIMEOUT),
	/* [http] */
	GOOD_S("http", "listen", "0.0.0.0:8080", F_LISTEN, "0.0.0.0:8080"),
	GOOD_S("http", "listen", "[::1]:7420", F_LISTEN, "[::1]:7420"),
	GOOD_S("http", "listen", "[::]:1", F_LISTEN, "[::]:1"),
	GOOD_S("http", "listen", "127.0.0.1:65535", F_LISTEN, "127.0.0.1:65535"),
	GOOD_S("http", "listen", "", F_LISTEN, ""),
	BAD("http", "listen", "127.0.0.1", F_LISTEN),
	BAD("http", "listen", "127.0.0.1:", F_LISTEN),
	BAD("http", "listen", "127.0.0.1:65536", F_LISTEN),
	BAD("http", "listen", "127.0.0.1:-1", F_LISTEN),
	BAD("http", "listen", "127.0.0.1:80x", F_LISTEN),
	BAD("http", "listen", "::1:7420", F_LISTEN),
	BAD("http", "listen", "[::1]", F_LISTEN),
	BAD("http", "listen", "localhost:7420", F_LISTEN),
	BAD("http", "listen", "10.0.0.0/8:80", F_LISTEN),
	BAD("http", "listen", ":7420", F_LISTEN),
	GOOD_S("http", "socket", "/run/ipwalld.sock", F_SOCKET, "/run/ipwalld.sock"),
	GOOD_S("http", "socket", "", F_SOCKET, ""),
	GOOD_S("http", "socket", sock107, F_SOCKET, sock107),
	BAD("http", "socket", long_sock, F_SOCKET),
	GOOD_N("http", "threads", "0", F_THREADS, 0),
	GOOD_N("http", "threads", "8", F_THREADS, 8),
	GOOD_N("http", "threads", "256", F_THREADS, 256),
	BAD("http", "threads", "257", F_THREADS),
	BAD("http", "threads", "-1", F_THREADS),
	BAD("http", "threads", "four", F_THREADS),
	BAD("http", "threads", "", F_THREADS),
	GOOD_N("http", "max_connections", "1", F_MAX_CONNECTIONS, 1),
	GOOD_N("http", "max_connections", "1000000", F_MAX_CONNECTIONS, 1000000),
	BAD("http", "max_connections", "0", F_MAX_CONNECTIONS),
	BAD("http", "max_connections", "1000001", F_MAX_CONNECTIONS),
	BAD("http", "max_connections", "1k", F_MAX_CONNECTIONS),
	GOOD_N("http", "max_connections_per_ip", "0", F_MAX_CONNECTIONS_PER_IP, 0),
	GOOD_N("http", "max_connections_per_ip", "16", F_MAX_CONNECTIONS_PER_IP, 16),
	GOOD_N("http", "max_connections_per_ip", "1000000", F_MAX_CONNECTIONS_PER_IP, 1000000),
	BAD("http", "max_connections_per_ip", "1000001", F_MAX_CONNECTIONS_PER_IP),
	GOOD_N("http", "timeout", "1s", F_TIMEOUT, 1),
	GOOD_N("http", "timeout", "1h30m", F_TIMEOUT, 5400),
	GOOD_N("http", "timeout", "1d", F_TIMEOUT, 86400),
	GOOD_N("http", "timeout", "45", F_TIMEOUT, 45),
	BAD("http", "timeout", "0", F_TIMEOUT),
	BAD("http", "timeout", "0s", F_TIMEOUT),
	BAD("http", "timeout", "1d1s", F_TIMEOUT),
	BAD("http", "timeout", "30S", F_TIMEOUT),
	GOOD_N("http", "max_header", "1k", F_MAX_HEADER, 1024),
	GOOD_N("http", "max_header", "1024", F_MAX_HEADER, 1024),
	GOOD_N("http", "max_header", "16k", F_MAX_HEADER, 16384),
	GOOD_N("http", "max_header", "1M", F_MAX_HEADER, 1048576),
	BAD("http", "max_header", "1023", F_MAX_HEADER),
	BAD("http", "max_header", "1048577", F_MAX_HEADER),
	BAD("http", "max_header", "2M", F_MAX_HEADER),
	BAD("http", "max_header", "8x", F_MAX_HEADER),
	GOOD_N("http", "max_body", "8k", F_MAX_BODY, 8192),
	GOOD_N("http", "max_body", "64M", F_MAX_BODY, 64u << 20),
	GOOD_N("http", "max_body", "1G", F_MAX_BODY, 1u << 30),
	GOOD_N("http", "max_body", "1MiB", F_MAX_BODY, 1u << 20),
	GOOD_N("http", "max_body", "1048576", F_MAX_BODY, 1u << 20),
	GOOD_N("http", "max_body", "1k", F_MAX_BODY, 1024),
	BAD("http", "max_body", "1023", F_MAX_BODY),
	BAD("http", "max_body", "2G", F_MAX_BODY),
	BAD("http", "max_body", "1025M", F_MAX_BODY),
	BAD("http", "max_body", "64 M", F_MAX_BODY),
	BAD("http", "max_body", "1.5M", F_MAX_BODY),
	BAD("http", "max_body", "-64M", F_MAX_BODY),
	BAD("http", "max_body", "99999999999999999999", F_MAX_BODY),
	GOOD_N("http", "max_batch", "1", F_MAX_BATCH, 1),
	GOOD_N("http", "max_batch", "10000000", F_MAX_BATCH, 10000000),
	BAD("http", "max_batch", "0", F_MAX_BATCH),
	BAD("http", "max_batch", "10000001", F_MAX_BATCH),
	/* [auth] */
	GOOD_S("auth", "tokens_file", "/etc/ipwall/tokens", F_TOKENS_FILE, "/etc/ipwall/tokens"),
	GOOD_N("auth", "tokens_file", "/etc/ipwall/tokens", F_TOKENS_FILE_SET, 1),
	BAD("auth", "tokens_file", "", F_TOKENS_FILE),
	BAD("auth", "tokens_file", "", F_TOKENS_FILE_SET),
	GOOD_N("auth", "protect_reads", "yes", F_PROTECT_READS, 1),
	GOOD_N("auth", "protect_reads", "no", F_PROTECT_READS, 0),
	GOOD_N("auth", "protect_reads", "true", F_PROTECT_READS, 1),
	GOOD_N("auth", "protect_reads", "false", F_PROTECT_READS, 0),
	GOOD_N("auth", "protect_reads", "on", F_PROTECT_READS, 1),
	GOOD_N("auth", "protect_reads", "off", F_PROTECT_READS, 0),
	GOOD_N("auth", "protect_reads", "1", F_PROTECT_READS, 1),
	GOOD_N("auth", "protect_reads", "0", F_PROTECT_READS, 0),
	GOOD_N("auth", "protect_reads", "YES", F_PROTECT_READS, 1),
	BAD("auth", "protect_reads", "maybe", F_PROTECT_READS),
	BAD("auth", "protect_reads", "", F_PROTECT_READS),
	BAD("auth", "protect_reads", "2", F_PROTECT_READS),
	/* [table] */
	GOOD_N("table", "max_entries", "1", F_MAX_ENTRIES, 1),
	GOOD_N("table", "max_entries", "1073741824", F_MAX_ENTRIES, 1u << 30),
	BAD("table", "max_entries", "0", F_MAX_ENTRIES),
	BAD("table", "max_entries", "1073741825", F_MAX_ENTRIES),
	BAD("table", "max_entries", "4M", F_MAX_ENTRIES),
	GOOD_N("table", "default_ban_ttl", "0", F_DEFAULT_BAN_TTL, 0),
	GOOD_N("table", "default_ban_ttl", "30s", F_DEFAULT_BAN_TTL, 30),
	GOOD_N("table", "default_ban_ttl", "1h30m", F_DEFAULT_BAN_TTL, 5400),
	GOOD_N("table", "default_ban_ttl", "7d", F_DEFAULT_BAN_TTL, 604800),
	GOOD_N("table", "default_ban_ttl", "600", F_DEFAULT_BAN_TTL, 600),
	GOOD_N("table", "default_ban_ttl", "4294967295", F_DEFAULT_BAN_TTL, 4294967295u),
	BAD("table", "default_ban_ttl", "4294967296", F_DEFAULT_BAN_TTL),
	BAD("table", "default_ban_ttl", "-1", F_DEFAULT_BAN_TTL),
	BAD("table", "default_ban_ttl", "1h30", F_DEFAULT_BAN_TTL),
	BAD("table", "default_ban_ttl", "forever", F_DEFAULT_BAN_TTL),
	GOOD_N("table", "hit_sample", "1", F_HIT_SAMPLE, 1),
	GOOD_N("table", "hit_sample", "2", F_HIT_SAMPLE, 2),
	GOOD_N("table", "hit_sample", "65536", F_HIT_SAMPLE, 65536),
	BAD("table", "hit_sample", "0", F_HIT_SAMPLE),
	BAD("table", "hit_sample", "3", F_HIT_SAMPLE),
	BAD("table", "hit_sample", "100", F_HIT_SAMPLE),
	BAD("table", "hit_sample", "131072", F_HIT_SAMPLE),
	GOOD_N("table", "purge_interval", "1s", F_PURGE_INTERVAL, 1),
	GOOD_N("table", "purge_interval", "10", F_PURGE_INTERVAL, 10),
	GOOD_N("table", "purge_interval", "1h", F_PURGE_INTERVAL, 3600),
	BAD("table", "purge_interval", "0", F_PURGE_INTERVAL),
	BAD("table", "purge_interval", "1h1s", F_PURGE_INTERVAL),
	GOOD_S("enforce", "xdp", "eth0", F_XDP, "eth0"),
	GOOD_S("enforce", "xdp", "eth0 eth1", F_XDP, "eth0 eth1"),
	GOOD_N("enforce", "xdp_mode", "generic", F_XDP_MODE, IPWD_XDP_GENERIC),
	GOOD_N("enforce", "xdp_mode", "native", F_XDP_MODE, IPWD_XDP_NATIVE),
	BAD("enforce", "xdp_mode", "skb", F_XDP_MODE),
	BAD("enforce", "xdp_mode", "Native", F_XDP_MODE),
	BAD("enforce", "xdp_mode", "", F_XDP_MODE),
	GOOD_N("table", "mode", "allowlist", F_MODE, IPW_MODE_ALLOWLIST),
	GOOD_N("table", "mode", "denylist", F_MODE, IPW_MODE_DENYLIST),
	BAD("table", "mode", "Allowlist", F_MODE),
	BAD("table", "mode", "allow", F_MODE),
	BAD("table", "mode", "", F_MODE),
	/* [cluster] (mode, the rules between keys and the password file:
	 * test_cluster_*) */
	GOOD_N("cluster", "mode", "off", F_CLUSTER_MODE, IPWD_CLUSTER_OFF),
	BAD("cluster", "mode", "On", F_CLUSTER_MODE),
	BAD("cluster", "mode", "yes", F_CLUSTER_MODE),
	BAD("cluster", "mode", "1", F_CLUSTER_MODE),
	BAD("cluster", "mode", "", F_CLUSTER_MODE),
	GOOD_S("cluster", "redis", "redis://10.0.0.5:6380/2", F_CLUSTER_REDIS, "redis://10.0.0.5:6380/2"),
	GOOD_S("cluster", "redis", "redis://[::1]:6379", F_CLUSTER_REDIS, "redis://[::1]:6379"),
	GOOD_S("cluster", "redis", "unix:///run/redis/redis.sock", F_CLUSTER_REDIS, "unix:///run/redis/redis.sock"),
	BAD("cluster", "redis", "rediss://10.0.0.5:6380", F_CLUSTER_REDIS),
	BAD("cluster", "redis", "redis://host:99999", F_CLUSTER_REDIS),
	BAD("cluster", "redis", "redis://host:", F_CLUSTER_REDIS),
	BAD("cluster", "redis", "10.0.0.5:6379", F_CLUSTER_REDIS),
	BAD("cluster", "redis", "redis://a@b@c", F_CLUSTER_REDIS),
	BAD("cluster", "redis", "redis://[::1", F_CLUSTER_REDIS),
	BAD("cluster", "redis", "redis://u:%00@h", F_CLUSTER_REDIS),
	BAD("cluster", "redis", "", F_CLUSTER_REDIS),
	GOOD_S("cluster", "user", "ipwall", F_CLUSTER_USER, "ipwall"),
	GOOD_S("cluster", "user", "", F_CLUSTER_USER, ""),
	GOOD_S("cluster", "user", user127, F_CLUSTER_USER, user127),
	BAD("cluster", "user", user128, F_CLUSTER_USER),
	BAD("cluster", "user", "ip wall", F_CLUSTER_USER),
	BAD("cluster", "user", "ip\x01wall", F_CLUSTER_USER),
	GOOD_S("cluster", "password", "s3cret pass", F_CLUSTER_PASSWORD, "s3cret pass"),
	BAD("cluster", "password", "s3cret\x01", F_CLUSTER_PASSWORD),
	BAD("cluster", "password_file", "", F_CLUSTER_PASSWORD_FILE),
	GOOD_S("cluster", "node", "web-1", F_CLUSTER_NODE, "web-1"),
	GOOD_S("cluster", "node", "web-1", F_NODE, "web-1"),
	GOOD_S("cluster", "node", "a.b_c-D9", F_NODE, "a.b_c-D9"),
	GOOD_S("cluster", "node", name63, F_NODE, name63),
	BAD("cluster", "node", long_name, F_CLUSTER_NODE),
	BAD("cluster", "node", "web 1", F_CLUSTER_NODE),
	BAD("cluster", "node", "web/1", F_CLUSTER_NODE),
	BAD("cluster", "node", "web:1", F_NODE),
	BAD("cluster", "node", "", F_CLUSTER_NODE),
	GOOD_S("cluster", "stream", "ipwall", F_CLUSTER_STREAM, "ipwall"),
	GOOD_S("cluster", "stream", "x", F_CLUSTER_STREAM, "x"),
	GOOD_S("cluster", "stream", "prod.ipwall:eu-1_a", F_CLUSTER_STREAM, "prod.ipwall:eu-1_a"),
	GOOD_S("cluster", "stream", stream64, F_CLUSTER_STREAM, stream64),
	BAD("cluster", "stream", stream65, F_CLUSTER_STREAM),
	BAD("cluster", "stream", "{ipwall}", F_CLUSTER_STREAM),
	BAD("cluster", "stream", "ip{wall", F_CLUSTER_STREAM),
	BAD("cluster", "stream", "ip}wall", F_CLUSTER_STREAM),
	BAD("cluster", "stream", "ip wall", F_CLUSTER_STREAM),
	BAD("cluster", "stream", "ip/wall", F_CLUSTER_STREAM),
	BAD("cluster", "stream", "", F_CLUSTER_STREAM),
	GOOD_N("cluster", "maxlen", "1000", F_CLUSTER_MAXLEN, 1000),
	GOOD_N("cluster", "maxlen", "1000000000", F_CLUSTER_MAXLEN, 1000000000),
	BAD("cluster", "maxlen", "999", F_CLUSTER_MAXLEN),
	BAD("cluster", "maxlen", "1000000001", F_CLUSTER_MAXLEN),
	BAD("cluster", "maxlen", "1M", F_CLUSTER_MAXLEN),
	BAD("cluster", "maxlen", "-1", F_CLUSTER_MAXLEN),
	GOOD_N("cluster", "block_ms", "10", F_CLUSTER_BLOCK_MS, 10),
	GOOD_N("cluster", "block_ms", "10", F_CLUSTER_TIMEOUT_MS, 2010),
	GOOD_N("cluster", "block_ms", "60000", F_CLUSTER_BLOCK_MS, 60000),
	BAD("cluster", "block_ms", "9", F_CLUSTER_BLOCK_MS),
	BAD("cluster", "block_ms", "60001", F_CLUSTER_BLOCK_MS),
	BAD("cluster", "block_ms", "1s", F_CLUSTER_BLOCK_MS),
	GOOD_N("cluster", "timeout_ms", "0", F_CLUSTER_TIMEOUT_MS, 3000),
	GOOD_N("cluster", "timeout_ms", "1001", F_CLUSTER_TIMEOUT_MS, 1001),
	GOOD_N("cluster", "timeout_ms", "600000", F_CLUSTER_TIMEOUT_MS, 600000),
	BAD("cluster", "timeout_ms", "600001", F_CLUSTER_TIMEOUT_MS),
	BAD("cluster", "timeout_ms", "3s", F_CLUSTER_TIMEOUT_MS),
	GOOD_N("cluster", "batch", "1", F_CLUSTER_BATCH, 1),
	GOOD_N("cluster", "batch", "10000", F_CLUSTER_BATCH, 10000),
	BAD("cluster", "batch", "0", F_CLUSTER_BATCH),
	BAD("cluster", "batch", "10001", F_CLUSTER_BATCH),
	GOOD_N("cluster", "heartbeat_ms", "100", F_CLUSTER_HEARTBEAT_MS, 100),
	GOOD_N("cluster", "heartbeat_ms", "60000", F_CLUSTER_HEARTBEAT_MS, 60000),
	BAD("cluster", "heartbeat_ms", "99", F_CLUSTER_HEARTBEAT_MS),
	BAD("cluster", "heartbeat_ms", "60001", F_CLUSTER_HEARTBEAT_MS),
	BAD("cluster", "max_entries", "10", F_MAX_ENTRIES),
	BAD("clusters", "mode", "on", F_CLUSTER_MODE),
	/* a key of one section in another */
	BAD("http", "max_entries", "10", F_MAX_ENTRIES),
	BAD("table", "max_body", "8k", F_MAX_BODY),
	BAD("daemon", "listen", "0.0.0.0:1", F_LISTEN),
	BAD("auth", "mode", "allowlist", F_MODE),
	/* unknown keys, unknown sections */
	BAD("table", "max_entires", "10", F_MAX_ENTRIES),
	BAD("http", "Max_body", "8k", F_MAX_BODY),
	BAD("tables", "max_entries", "10", F_MAX_ENTRIES),
	BAD("Table", "max_entries", "10", F_MAX_ENTRIES),
	BAD("server", "listen", "0.0.0.0:1", F_LISTEN),
	BAD("daemon", "node", long_name, F_NODE),
};
/* clang-format on */

static void test_keys(void)
{
	struct ipwd_config def;
	char *err;

	memset(long_name, 'n', 64); /* 64 bytes: one too many */
	memset(name63, 'n', 63);
	memset(sock107, 's', 107);
	sock107[0] = '/';
	memset(long_sock, 's', 108);
	long_sock[0] = '/';
	memset(user127, 'u', 127);
	memset(user128, 'u', 128);
	memset(stream64, 's', 64);
	memset(stream65, 's', 65);
	load(&def, NULL, NULL, &err);
	free(err);
	snprintf(path, sizeof(path), "%s/key.conf", dir);
	for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
		const struct key_case *k = &keys[i];
		struct ipwd_config c;
		char text[512], lines[64];
		bool pass;
		int n, len;

		/* the key on line 3 */
		len = snprintf(text, sizeof(text), "# test\n[%s]\n%s = %s\n",
			       k->sec, k->key, k->val);
		write_file(path, text, (size_t)len);
		n = load(&c, path, NULL, &err);
		report_lines(err, path, lines, sizeof(lines));
		if (k->good) {
			pass = n == 0;
			if (k->f < F_STR_END)
				pass = pass &&
				       strcmp(get_str(&c, k->f), k->str) == 0;
			else
				pass = pass && get_num(&c, k->f) == k->num;
		} else {
			/* one problem, on line 3, the default kept */
			pass = n == 1 && strcmp(lines, "3") == 0 &&
			       first_diff(&c, &def) == F_COUNT;
		}
		ok(pass, "[%s] %.20s = \"%.40s\" %s", k->sec, k->key, k->val,
		   k->good ? "accepted" : "refused on line 3, default kept");
		if (!pass) {
			enum fld d = first_diff(&c, &def);

			diag("%d problems, lines \"%s\"", n, lines);
			diag_lines("stderr", err);
			if (k->f < F_STR_END)
				diag("%s = \"%s\"", fld_names[k->f],
				     get_str(&c, k->f));
			else
				diag("%s = %llu", fld_names[k->f],
				     (unsigned long long)get_num(&c, k->f));
			if (!k->good && d != F_COUNT)
				diag("differs from the defaults in %s",
				     fld_names[d]);
		}
		free(err);
		ipwd_config_free(&c);
	}
	ipwd_config_free(&def);
}

/* ---- whole files: counts and the lines reported ---- */

struct file_case {
	const char *name;
	const char *text;
	size_t len; /* 0: strlen(text) */
	int problems;
	const char *lines; /* the reported line numbers */
};

/* clang-format off */
static const struct file_case files[] = {
	{ "empty file", "", 0, 0, "" },
	{ "comments only", "# a\n; b\n\n   \n", 0, 0, "" },
	{ "every section, several keys",
	  "[daemon]\nlog_level = debug\n[http]\nmax_body = 8k\nthreads = 2\n"
	  "[auth]\nprotect_reads = yes\n[table]\nmode = allowlist\n", 0, 0, "" },
	{ "sections repeated", "[http]\nthreads = 2\n[table]\nmode = denylist\n"
	  "[http]\nthreads = 3\n", 0, 0, "" },
	{ "spaces around key and value", "[http]\n  max_body   =   8k  \n", 0, 0, "" },
	{ "';' comment after a value", "[http]\nmax_body = 8k ; small\n", 0, 0, "" },
	{ "CRLF line ends", "[http]\r\nmax_body = 8k\r\n", 0, 0, "" },
	{ "byte order mark", "\xef\xbb\xbf[http]\nmax_body = 8k\n", 0, 0, "" },
	{ "no newline at the end", "[http]\nmax_body = 8k", 0, 0, "" },
	{ "'#' after a value is not a comment",
	  "[http]\nmax_body = 8k # small\n", 0, 1, "2" },
	{ "key outside a section", "max_body = 8k\n[http]\n", 0, 1, "1" },
	{ "keys outside a section after comments",
	  "# x\n\nlog_level = info\nmode = denylist\n[daemon]\n", 0, 2, "3,4" },
	{ "unknown section", "[http]\n[nosuch]\nx = 1\ny = 2\n", 0, 2, "3,4" },
	{ "unknown key", "[daemon]\n\n\nfoo = bar\n", 0, 1, "4" },
	/* a NUL used to cut the line silently: max_body read as 1k */
	{ "a NUL inside a value", "[http]\nmax_body = 1k\0 and more\n", 31, 1, "2" },
	{ "a NUL at a line's start", "[http]\n\0max_body = 1k\n", 22, 1, "2" },
	{ "syntax error: no '='", "[daemon]\nlog_level info\n", 0, 1, "2" },
	{ "syntax error: unclosed section", "[daemon]\nlog_level = info\n[http\n", 0, 1, "3" },
	{ "syntax error: unclosed section, keys after it",
	  "\n[daemon\nlog_level = info\n", 0, 2, "2,3" },
	{ "syntax error then a bad value",
	  "[http]\njunk\nthreads = 999\n", 0, 2, "2,3" },
	{ "a bad value then a syntax error",
	  "[http]\nthreads = 999\njunk\n", 0, 2, "2,3" },
	{ "bad values in every section",
	  "[daemon]\nlog_level = loud\n[http]\nmax_body = 2G\nthreads = x\n"
	  "[auth]\nprotect_reads = perhaps\n[table]\nhit_sample = 3\n"
	  "mode = open\n", 0, 6, "2,4,5,7,9,10" },
	{ "mixed problems, good keys between",
	  "# comment\n[daemon]\nlog_level = loud\nbogus = 1\n\n[nosuch]\nx = 1\n"
	  "[http]\nthis is not a key value\nmax_body = 64M\nthreads = 999\n",
	  0, 5, "3,4,7,9,11" },
};
/* clang-format on */

static void check_file(const char *name, const char *text, size_t len,
		       int problems, const char *want_lines)
{
	struct ipwd_config c;
	char *err, lines[256];
	int n;

	snprintf(path, sizeof(path), "%s/file.conf", dir);
	write_file(path, text, len);
	n = load(&c, path, NULL, &err);
	report_lines(err, path, lines, sizeof(lines));
	ok(n == problems && strcmp(lines, want_lines) == 0,
	   "%s: %d problem(s) on line(s) \"%s\"", name, problems, want_lines);
	if (n != problems || strcmp(lines, want_lines) != 0) {
		diag("got %d, lines \"%s\"", n, lines);
		diag_lines("stderr", err);
	}
	free(err);
	ipwd_config_free(&c);
}

static void test_files(void)
{
	for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
		const struct file_case *f = &files[i];

		check_file(f->name, f->text, f->len ? f->len : strlen(f->text),
			   f->problems, f->lines);
	}
}

/* The values of a file with problems: the good keys around them count. */
static void test_partial_values(void)
{
	static const char text[] =
		"[daemon]\nlog_level = loud\nshutdown_timeout = 20s\n"
		"[http]\nthis is not a key value\nmax_body = 16M\n"
		"threads = 999\nmax_batch = 500\n";
	struct ipwd_config c;
	char *err;
	int n;

	snprintf(path, sizeof(path), "%s/partial.conf", dir);
	write_file(path, text, strlen(text));
	n = load(&c, path, NULL, &err);
	is_int(n, 3, "file with 3 problems: count");
	is_int(c.log_level, IPWD_LOG_INFO, "bad log_level leaves the default");
	is_int(c.shutdown_timeout, 20, "good key before the errors applied");
	is_int(c.max_body, 16u << 20, "good key after a syntax error applied");
	is_int(c.threads, 0, "bad threads leaves the default");
	is_int(c.max_batch, 500, "good key after the errors applied");
	free(err);
	ipwd_config_free(&c);
}

/* Lines around the 4096-byte limit. */
static void test_long_lines(void)
{
	static const struct {
		size_t len; /* bytes of the long line, without its end */
		const char *end;
		bool last; /* the long line is the file's last */
		int problems;
		const char *lines;
	} v[] = {
		{4096, "\n", false, 1, "4"},   {4097, "\n", false, 2, "2,4"},
		{5000, "\n", false, 2, "2,4"}, {100000, "\n", false, 2, "2,4"},
		{4096, "\r\n", false, 1, "4"}, {4097, "\r\n", false, 2, "2,4"},
		{100000, "\n", true, 1, "2"},
	};

	for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
		size_t cap = v[i].len + 64, p = 0;
		char *text = malloc(cap), name[96];

		if (text == NULL)
			abort();
		/* line 1: a section; line 2: a long comment; line 3: a good
		 * key; line 4: a bad one (its line must still be right) */
		p += (size_t)sprintf(text, "[http]\n");
		text[p] = '#';
		memset(text + p + 1, 'x', v[i].len - 1);
		p += v[i].len;
		if (v[i].last) {
			memcpy(text + p, v[i].end, strlen(v[i].end));
			p += strlen(v[i].end);
		} else {
			p += (size_t)sprintf(text + p, "%s%s%s", v[i].end,
					     "max_body = 8k\n",
					     "threads = 999\n");
		}
		snprintf(name, sizeof(name), "a %zu-byte line%s%s", v[i].len,
			 strcmp(v[i].end, "\n") ? " (CRLF)" : "",
			 v[i].last ? ", last" : ", then a bad key");
		check_file(name, text, p, v[i].problems, v[i].lines);
		free(text);
	}
}

/* A missing file is one problem; *cfg is still filled (config.h). */
static void test_missing_file(void)
{
	struct ipwd_overrides ov = {.data_dir = "/srv/x"};
	struct ipwd_config c;
	char *err, want[256];
	int n;

	snprintf(path, sizeof(path), "%s/nonexistent.conf", dir);
	n = load(&c, path, &ov, &err);
	is_int(n, 1, "missing file: one problem");
	snprintf(want, sizeof(want), "%s: ", path);
	ok(strncmp(err, want, strlen(want)) == 0 && strstr(err, "No such"),
	   "missing file: \"PATH: No such file...\" on stderr");
	ok(c.listen && strcmp(c.listen, IPWD_DEFAULT_LISTEN) == 0,
	   "missing file: listen filled with its default");
	ok(c.data_dir && strcmp(c.data_dir, "/srv/x") == 0,
	   "missing file: the data_dir override still applied");
	ok(c.socket && strcmp(c.socket, "/srv/x/ipwalld.sock") == 0,
	   "missing file: socket filled (%s)", c.socket ? c.socket : "NULL");
	ok(c.tokens_file && strcmp(c.tokens_file, "/srv/x/tokens") == 0,
	   "missing file: tokens_file filled (%s)",
	   c.tokens_file ? c.tokens_file : "NULL");
	free(err);
	ipwd_config_free(&c);
}

/* ---- the event socket's default ---- */

static void test_event_socket(void)
{
	static const struct {
		const char *text, *want;
	} rows[] = {
		{"[http]\nsocket = /run/x/ipwalld.sock\n",
		 "/run/x/events.sock"},
		{"[http]\nsocket =\n", "/srv/y/events.sock"},
		{"", "/srv/y/events.sock"},
		{"[http]\nsocket = /run/x/h.sock\n[autoban]\nsocket = /e.sock\n",
		 "/e.sock"},
		{"[autoban]\nsocket = none\n", ""},
	};
	struct ipwd_overrides ov = {.data_dir = "/srv/y"};

	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		struct ipwd_config c;
		char *err;
		int n;

		snprintf(path, sizeof(path), "%s/ev.conf", dir);
		write_file(path, rows[i].text, strlen(rows[i].text));
		n = load(&c, path, &ov, &err);
		ok(n == 0 && c.ab_socket && !strcmp(c.ab_socket, rows[i].want),
		   "[autoban] socket %s (got %s)", rows[i].want,
		   c.ab_socket ? c.ab_socket : "NULL");
		free(err);
		ipwd_config_free(&c);
	}
}

/* ---- overrides ---- */

static void test_overrides(void)
{
	static const struct {
		const char *name;
		const char *file; /* NULL: no file */
		const char *ov_listen, *ov_data_dir;
		const char *listen, *data_dir, *socket, *tokens_file;
	} v[] = {
		{"no file, no overrides", NULL, NULL, NULL, "127.0.0.1:7420",
		 "./var", "./var/ipwalld.sock", "./var/tokens"},
		{"no file, both overrides", NULL, "0.0.0.0:9000", "/srv/d",
		 "0.0.0.0:9000", "/srv/d", "/srv/d/ipwalld.sock",
		 "/srv/d/tokens"},
		{"no file, listen override", NULL, "[::1]:1", NULL, "[::1]:1",
		 "./var", "./var/ipwalld.sock", "./var/tokens"},
		{"file data_dir, paths follow it",
		 "[daemon]\ndata_dir = /var/lib/ipwall\n", NULL, NULL,
		 "127.0.0.1:7420", "/var/lib/ipwall",
		 "/var/lib/ipwall/ipwalld.sock", "/var/lib/ipwall/tokens"},
		{"overrides beat the file",
		 "[daemon]\ndata_dir = /var/lib/ipwall\n"
		 "[http]\nlisten = 10.0.0.1:80\n",
		 "127.0.0.2:81", "/tmp/d", "127.0.0.2:81", "/tmp/d",
		 "/tmp/d/ipwalld.sock", "/tmp/d/tokens"},
		{"listen override beats an empty listen", "[http]\nlisten =\n",
		 "127.0.0.1:1", NULL, "127.0.0.1:1", "./var",
		 "./var/ipwalld.sock", "./var/tokens"},
		{"explicit socket and tokens_file do not follow data_dir",
		 "[http]\nsocket = /run/s.sock\n[auth]\ntokens_file = /etc/t\n",
		 NULL, "/tmp/d", "127.0.0.1:7420", "/tmp/d", "/run/s.sock",
		 "/etc/t"},
		{"empty socket stays empty", "[http]\nsocket =\n", NULL,
		 "/tmp/d", "127.0.0.1:7420", "/tmp/d", "", "/tmp/d/tokens"},
	};

	for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
		struct ipwd_overrides ov = {.listen = v[i].ov_listen,
					    .data_dir = v[i].ov_data_dir};
		struct ipwd_config c;
		char *err;
		bool pass;
		int n;

		if (v[i].file) {
			snprintf(path, sizeof(path), "%s/ov.conf", dir);
			write_file(path, v[i].file, strlen(v[i].file));
		}
		n = load(&c, v[i].file ? path : NULL, &ov, &err);
		pass = n == 0 && strcmp(c.listen, v[i].listen) == 0 &&
		       strcmp(c.data_dir, v[i].data_dir) == 0 &&
		       strcmp(c.socket, v[i].socket) == 0 &&
		       strcmp(c.tokens_file, v[i].tokens_file) == 0;
		ok(pass, "overrides: %s", v[i].name);
		if (!pass)
			diag("%d problems; listen %s data_dir %s socket %s "
			     "tokens_file %s",
			     n, c.listen, c.data_dir, c.socket, c.tokens_file);
		free(err);
		ipwd_config_free(&c);
	}
}

/* A data_dir so long that the default socket path does not fit. */
static void test_long_data_dir(void)
{
	struct ipwd_overrides ov = {0};
	struct ipwd_config c;
	char d[200], *err;
	int n;

	memset(d, 'd', sizeof(d) - 1);
	d[0] = '/';
	d[sizeof(d) - 1] = '\0';
	ov.data_dir = d;
	n = load(&c, NULL, &ov, &err);
	is_int(n, 1,
	       "data_dir override of 199 bytes: socket too long, 1 problem");
	ok(strstr(err, "longer than 107 bytes") != NULL,
	   "... and it is reported");
	free(err);
	ipwd_config_free(&c);
	/* with an explicit socket it is fine */
	snprintf(path, sizeof(path), "%s/sock.conf", dir);
	write_file(path, "[http]\nsocket = /run/x.sock\n",
		   strlen("[http]\nsocket = /run/x.sock\n"));
	n = load(&c, path, &ov, &err);
	is_int(n, 0, "long data_dir with an explicit socket: no problem");
	free(err);
	ipwd_config_free(&c);
}

/* ---- [cluster] ---- */

/* A password that must never be seen on stderr. */
#define PW "Hunter2xyzzy"

/* @text as the file "cluster.conf", loaded: the problem count; stderr in
 * *err (malloc'd), which must hold @want (NULL: nothing) and never PW. */
static int load_text(struct ipwd_config *c, const char *text, char **err)
{
	snprintf(path, sizeof(path), "%s/cluster.conf", dir);
	write_file(path, text, strlen(text));
	return load(c, path, NULL, err);
}

static void check_load(const char *name, const char *text, int problems,
		       const char *want, struct ipwd_config *keep)
{
	struct ipwd_config c;
	char *err;
	int n = load_text(&c, text, &err);
	bool pass = n == problems &&
		    (want ? strstr(err, want) != NULL : err[0] == '\0');

	ok(pass, "%s: %d problem(s)%s%s", name, problems, want ? ", " : "",
	   want ? want : "");
	if (!pass) {
		diag("got %d problem(s)", n);
		diag_lines("stderr", err);
	}
	ok(strstr(err, PW) == NULL && strstr(err, "Hunter") == NULL,
	   "... and the password is not on stderr");
	free(err);
	if (keep)
		*keep = c;
	else
		ipwd_config_free(&c);
}

static void test_cluster_url(void)
{
	struct ipwd_config c;

	check_load("a URL with user, password and db",
		   "[cluster]\nredis = redis://ipw%40x:" PW
		   "@[2001:db8::5]:6380/3\n",
		   0, NULL, &c);
	ok(!strcmp(c.cluster_url.host, "2001:db8::5") &&
		   c.cluster_url.port == 6380 &&
		   !strcmp(c.cluster_url.user, "ipw@x") &&
		   !strcmp(c.cluster_url.password, PW) && c.cluster_url.db == 3,
	   "... parsed into cluster_url");
	ipwd_config_free(&c);
	ok(c.cluster_url.password[0] == '\0', "... wiped when freed");

	check_load("user and password keys override the URL's",
		   "[cluster]\nredis = redis://u:p@h:1\nuser = other\n"
		   "password = " PW "\n",
		   0, NULL, &c);
	ok(!strcmp(c.cluster_url.user, "other") &&
		   !strcmp(c.cluster_url.password, PW) &&
		   !strcmp(c.cluster_url.host, "h") && c.cluster_url.port == 1,
	   "... user other, the password key's, host and port the URL's");
	ipwd_config_free(&c);

	check_load("an empty password key overrides the URL's with none",
		   "[cluster]\nredis = redis://:p@h\npassword =\n", 0, NULL,
		   &c);
	ok(c.cluster_url.password[0] == '\0', "... no password");
	ipwd_config_free(&c);

	check_load("a unix socket URL",
		   "[cluster]\nredis = unix:///run/redis/redis.sock\n", 0, NULL,
		   &c);
	ok(!strcmp(c.cluster_url.path, "/run/redis/redis.sock") &&
		   c.cluster_url.host[0] == '\0',
	   "... path set, no host");
	ipwd_config_free(&c);

	/* refused URLs: on their line, the parser's reason, never the
	 * password, the default kept */
	check_load("a bad port in a URL with a password",
		   "[cluster]\n\nredis = redis://:" PW "@host:99999\n", 1,
		   ":3: [cluster] redis: the port is out of range", &c);
	is_str(c.cluster_redis, "redis://127.0.0.1:6379",
	       "... the default URL kept");
	ok(!strcmp(c.cluster_url.host, "127.0.0.1") &&
		   c.cluster_url.password[0] == '\0',
	   "... and the default server");
	ipwd_config_free(&c);
	check_load("rediss://", "[cluster]\nredis = rediss://:" PW "@h:6380\n",
		   1, ":2: [cluster] redis: rediss:// (TLS) is not supported",
		   NULL);
	check_load("a password with a raw '/' (the URL cut there)",
		   "[cluster]\nredis = redis://u:" PW "/x@h\n", 1,
		   ":2: [cluster] redis: the port is not a number", NULL);
	check_load("two '@'", "[cluster]\nredis = redis://u:" PW "@x@h\n", 1,
		   ":2: [cluster] redis: more than one '@'", NULL);
	check_load("%00 in a password",
		   "[cluster]\nredis = redis://u:" PW "%00@h\n", 1,
		   ":2: [cluster] redis: the password holds %00", NULL);
	check_load("a password key with a control byte",
		   "[cluster]\npassword = " PW "\x01\n", 1,
		   ":2: [cluster] password: must not hold a control byte",
		   NULL);
	{
		char text[700];

		snprintf(text, sizeof(text),
			 "[cluster]\npassword = " PW "%0500d\n", 0);
		check_load("a password key of 512 bytes", text, 1,
			   ":2: [cluster] password: must be at most 511 bytes",
			   NULL);
		snprintf(text, sizeof(text),
			 "[cluster]\npassword = " PW "%0499d\n", 0);
		check_load("a password key of 511 bytes", text, 0, NULL, &c);
		is_int(strlen(c.cluster_url.password), 511,
		       "... kept whole in cluster_url");
		ipwd_config_free(&c);
	}
}

static void test_cluster_rules(void)
{
	struct ipwd_config c;

	/* the socket timeout */
	check_load("timeout_ms = block_ms",
		   "[cluster]\nblock_ms = 2000\ntimeout_ms = 2000\n", 1,
		   "[cluster] timeout_ms = 2000 must be above block_ms = 2000",
		   &c);
	is_int(c.cluster_timeout_ms, 4000,
	       "... and timeout_ms is block_ms + 2000 instead");
	ipwd_config_free(&c);
	check_load("timeout_ms under block_ms (the default 1000)",
		   "[cluster]\ntimeout_ms = 999\n", 1,
		   "timeout_ms = 999 must be above block_ms = 1000", NULL);
	check_load("timeout_ms just above block_ms",
		   "[cluster]\nblock_ms = 2000\ntimeout_ms = 2001\n", 0, NULL,
		   &c);
	is_int(c.cluster_timeout_ms, 2001, "... kept");
	ipwd_config_free(&c);
	check_load("timeout_ms 0 follows block_ms",
		   "[cluster]\nblock_ms = 5000\ntimeout_ms = 0\n", 0, NULL, &c);
	is_int(c.cluster_timeout_ms, 7000, "... block_ms + 2000");
	ipwd_config_free(&c);

	/* the node, named in two places */
	check_load("[cluster] node and [daemon] node differ",
		   "[daemon]\nnode = web-1\n[cluster]\nnode = web-2\n", 1,
		   "[cluster] node \"web-2\" and [daemon] node \"web-1\" "
		   "differ",
		   &c);
	is_str(c.node, "web-1", "... the [daemon] node kept");
	ipwd_config_free(&c);
	check_load("[cluster] node and [daemon] node agree",
		   "[cluster]\nnode = web-1\n[daemon]\nnode = web-1\n", 0, NULL,
		   &c);
	is_str(c.node, "web-1", "... node web-1");
	ipwd_config_free(&c);
	check_load("[cluster] node alone", "[cluster]\nnode = edge.eu-3\n", 0,
		   NULL, &c);
	is_str(c.node, "edge.eu-3", "... sets the node");
	ipwd_config_free(&c);

	/* password and password_file */
	check_load("password and password_file both",
		   "[cluster]\npassword = " PW
		   "\npassword_file = /nonexistent\n",
		   1, "[cluster] password and password_file: set one", NULL);
}

/* Cluster mode itself: shadow and on, the node id it needs; or, without
 * hiredis, refused. */
static void test_cluster_mode(void)
{
	struct ipwd_config c;

#if IPWD_WITH_REDIS
	check_load("mode = shadow",
		   "[daemon]\nnode = web-1\n[cluster]\nmode = shadow\n", 0,
		   NULL, &c);
	is_int(c.cluster_mode, IPWD_CLUSTER_SHADOW, "... shadow");
	ipwd_config_free(&c);
	check_load("mode = on", "[cluster]\nnode = web-1\nmode = on\n", 0, NULL,
		   &c);
	is_int(c.cluster_mode, IPWD_CLUSTER_ON, "... on");
	ipwd_config_free(&c);
	check_load("cluster mode with a [daemon] node that is no node id",
		   "[daemon]\nnode = web 1\n[cluster]\nmode = on\n", 1,
		   "[daemon] node \"web 1\" is not a cluster node id", NULL);
	check_load("cluster mode with a [daemon] node holding a ':'",
		   "[daemon]\nnode = web:1\n[cluster]\nmode = shadow\n", 1,
		   "set [cluster] node", NULL);
	check_load("mode off with the same [daemon] node",
		   "[daemon]\nnode = web 1\n[cluster]\nmode = off\n", 0, NULL,
		   NULL);
	/* the host name: whatever this machine's is (the namespace test
	 * below makes it a bad one) */
	{
		char h[256];
		bool good;

		if (gethostname(h, sizeof(h)) != 0 || !h[0])
			strcpy(h, "localhost");
		h[sizeof(h) - 1] = '\0';
		good = ipwd_cluster_node_valid(h);
		check_load("cluster mode with the host name as the node",
			   "[cluster]\nmode = on\n", good ? 0 : 1,
			   good ? NULL : "set [cluster] node", NULL);
	}
#else
	check_load("mode = on without hiredis", "[cluster]\nmode = on\n", 1,
		   ":2: [cluster] mode = \"on\": this ipwalld is built "
		   "without cluster mode",
		   &c);
	is_int(c.cluster_mode, IPWD_CLUSTER_OFF, "... off kept");
	ipwd_config_free(&c);
	check_load("mode = shadow without hiredis",
		   "[cluster]\nmode = shadow\n", 1, "built without", NULL);
#endif
	check_load("mode = off", "[cluster]\nmode = off\n", 0, NULL, NULL);
	check_load("mode = bogus", "[cluster]\nmode = bogus\n", 1,
		   ":2: [cluster] mode = \"bogus\": must be off, shadow or on",
		   NULL);
}

/*
 * The host name as the default node in cluster mode: one that is no node
 * id, and one longer than 63 bytes (it would be cut, and two hosts could
 * end up with the same id), are refused with "set [cluster] node". In a
 * child with a UTS namespace of its own (root only; skipped otherwise),
 * which reports the problem count and whether the message was right.
 */
static void test_cluster_host_name(void)
{
#if IPWD_WITH_REDIS
	static const struct {
		const char *host;
		int problems;
	} v[] = {
		{"web_1.example", 0},
		{"web 1", 1},
		{"web/1", 1},
		{"hhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhh",
		 0},
		{"hhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhh",
		 1},
	};

	for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
		int status, rc;
		pid_t pid;

		fflush(stdout);
		pid = fork();
		if (pid < 0)
			abort();
		if (pid == 0) {
			struct ipwd_config c;
			char *err;
			int n;

			if (unshare(CLONE_NEWUTS) != 0 ||
			    sethostname(v[i].host, strlen(v[i].host)) != 0)
				_exit(99);
			n = load_text(&c, "[cluster]\nmode = on\n", &err);
			rc = n == v[i].problems &&
			     (n == 0 || strstr(err, "set [cluster] node"));
			if (!rc)
				fprintf(stderr, "%d problem(s): %s", n, err);
			ipwd_config_free(&c);
			free(err);
			_exit(rc ? 0 : 1);
		}
		if (waitpid(pid, &status, 0) != pid)
			abort();
		rc = WIFEXITED(status) ? WEXITSTATUS(status) : 2;
		if (rc == 99) {
			ok(1,
			   "# SKIP host name %s: no UTS namespace (not "
			   "root?)",
			   v[i].host);
			continue;
		}
		ok(rc == 0,
		   "cluster mode, host name \"%.20s\" (%zu bytes): "
		   "%d problem(s)",
		   v[i].host, strlen(v[i].host), v[i].problems);
	}
#endif
}

/* [cluster] password_file: the first line, the ways it can be wrong,
 * the warning about a file every user can read. */
static void test_cluster_password_file(void)
{
	static const struct {
		const char *name, *content;
		mode_t mode;
		int problems;
		const char *want, *password;
	} v[] = {
		{"a line", PW "\n", 0600, 0, NULL, PW},
		{"a CRLF line", PW "\r\n", 0600, 0, NULL, PW},
		{"no newline", PW, 0640, 0, NULL, PW},
		{"two lines", PW "\nsomething else\n", 0600, 0, NULL, PW},
		{"spaces and a ';' kept", " a ; b \n", 0600, 0, NULL,
		 " a ; b "},
		{"readable by all: a warning", PW "\n", 0644, 0,
		 "warning: [cluster] password_file", PW},
		{"empty", "", 0600, 1, "its first line (the password) is empty",
		 ""},
		{"an empty first line", "\n" PW "\n", 0600, 1, "is empty", ""},
		{"a control byte", PW "\x01\n", 0600, 1, "holds a control byte",
		 ""},
		{"a NUL byte", PW "\0x\n", 0600, 1, "holds a control byte", ""},
	};
	char pf[sizeof(dir) + 32], text[256];
	struct ipwd_config c;

	snprintf(pf, sizeof(pf), "%s/redis-password", dir);
	snprintf(text, sizeof(text), "[cluster]\npassword_file = %s\n", pf);
	for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
		char name[128];
		size_t len = strlen(v[i].content);

		if (!strcmp(v[i].name, "a NUL byte"))
			len = strlen(PW) + 3;
		unlink(pf);
		write_file(pf, v[i].content, len);
		chmod(pf, v[i].mode);
		snprintf(name, sizeof(name), "password_file: %s", v[i].name);
		check_load(name, text, v[i].problems, v[i].want, &c);
		is_str(c.cluster_url.password, v[i].password,
		       "... the password %s", v[i].problems ? "unset" : "read");
		ipwd_config_free(&c);
	}

	/* the longest: 511 bytes, then one more */
	{
		char line[600];

		memset(line, 'p', 511);
		memcpy(line + 511, "\r\n", 3);
		write_file(pf, line, strlen(line));
		chmod(pf, 0600);
		check_load("password_file: 511 bytes and CRLF", text, 0, NULL,
			   &c);
		is_int(strlen(c.cluster_url.password), 511, "... read whole");
		ipwd_config_free(&c);
		memcpy(line + 511, "p\n", 3);
		write_file(pf, line, strlen(line));
		check_load("password_file: 512 bytes", text, 1,
			   "is longer than 511 bytes", NULL);
		memset(line, 'p', sizeof(line) - 1);
		line[sizeof(line) - 1] = '\0';
		write_file(pf, line, strlen(line));
		check_load("password_file: 599 bytes, no newline", text, 1,
			   "is longer than 511 bytes", NULL);
	}

	/* not there, not a file */
	unlink(pf);
	check_load("password_file that does not exist", text, 1,
		   "password_file /tmp/", NULL);
	{
		struct ipwd_config d;
		char *err;
		int n = load_text(&d, text, &err);

		ok(n == 1 && strstr(err, "No such file or directory") &&
			   strstr(err, pf),
		   "... named, with the reason");
		free(err);
		ipwd_config_free(&d);
	}
	if (mkdir(pf, 0700) != 0)
		abort();
	check_load("password_file that is a folder", text, 1,
		   "not a regular file", NULL);
	rmdir(pf);
	if (mkfifo(pf, 0600) != 0)
		abort();
	check_load("password_file that is a FIFO (no hang)", text, 1,
		   "not a regular file", NULL);
	unlink(pf);
	check_load("password_file that is a device",
		   "[cluster]\npassword_file = /dev/null\n", 1,
		   "not a regular file", NULL);
	/* what the URL gave is overridden by the file */
	write_file(pf, PW "\n", strlen(PW) + 1);
	chmod(pf, 0600);
	snprintf(text, sizeof(text),
		 "[cluster]\nredis = redis://u:other@h\npassword_file = %s\n",
		 pf);
	check_load("password_file over the URL's password", text, 0, NULL, &c);
	ok(!strcmp(c.cluster_url.password, PW) &&
		   !strcmp(c.cluster_url.user, "u"),
	   "... the file's password, the URL's user");
	ipwd_config_free(&c);
	unlink(pf);
}

static int restarts;
static char restart_names[256];

static void on_restart(const struct ipwd_conf_key *k, void *ctx)
{
	size_t n = strlen(restart_names);

	(void)ctx;
	restarts++;
	snprintf(restart_names + n, sizeof(restart_names) - n, "%s%s",
		 n ? "," : "", k->name);
}

/* A reload keeps the running Redis server, cluster_url included. */
static void test_cluster_keep_restart(void)
{
	struct ipwd_config old, nw;
	char *err;

	load_text(&old, "[cluster]\nredis = redis://a:1\nstream = s1\n", &err);
	free(err);
	load_text(&nw,
		  "[cluster]\nredis = redis://:" PW "@b:2\nstream = s1\n"
		  "[http]\nmax_body = 1M\n",
		  &err);
	free(err);
	ipwd_config_keep_restart(&old, &nw, on_restart, NULL);
	is_str(restart_names, "redis", "reload: [cluster] redis reported");
	is_int(restarts, 1, "... alone");
	is_str(nw.cluster_redis, "redis://a:1", "... the running URL kept");
	ok(!strcmp(nw.cluster_url.host, "a") && nw.cluster_url.port == 1 &&
		   nw.cluster_url.password[0] == '\0',
	   "... and the running server in cluster_url");
	is_int(nw.max_body, 1u << 20, "... a reloadable key changed");
	ok(!strcmp(old.cluster_url.host, "b"),
	   "... the new server left to be freed with the old");
	ipwd_config_free(&old);
	ipwd_config_free(&nw);
}

/* ---- the value parsers ---- */

static void test_parse_size(void)
{
	static const struct {
		const char *in;
		int rc;
		uint64_t out;
	} v[] = {
		{"0", 0, 0},
		{"1", 0, 1},
		{"1048576", 0, 1048576},
		{"8k", 0, 8192},
		{"8K", 0, 8192},
		{"64M", 0, 64u << 20},
		{"64m", 0, 64u << 20},
		{"1G", 0, 1u << 30},
		{"1g", 0, 1u << 30},
		{"1KiB", 0, 1024},
		{"1MiB", 0, 1u << 20},
		{"1GiB", 0, 1u << 30},
		{"3MiB", 0, 3u << 20},
		{"0k", 0, 0},
		{"18446744073709551615", 0, UINT64_MAX},
		{"17179869183G", 0, UINT64_C(17179869183) << 30},
		{"17592186044415M", 0, UINT64_C(17592186044415) << 20},
		{"18446744073709551616", -1, 0},
		{"99999999999999999999999", -1, 0},
		{"17179869184G", -1, 0},
		{"17592186044416M", -1, 0},
		{"18014398509481984k", -1, 0},
		{"", -1, 0},
		{"k", -1, 0},
		{"M", -1, 0},
		{"-1", -1, 0},
		{"+1", -1, 0},
		{" 1", -1, 0},
		{"1 ", -1, 0},
		{"1 k", -1, 0},
		{"1k ", -1, 0},
		{"1x", -1, 0},
		{"1T", -1, 0},
		{"1kk", -1, 0},
		{"1MiBx", -1, 0},
		{"1MiBB", -1, 0},
		{"1.5M", -1, 0},
		{"0x10", -1, 0},
		{"1e3", -1, 0},
	};

	for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
		size_t out = 4242;
		int rc = ipwd_parse_size(v[i].in, &out);

		if (v[i].rc == 0)
			ok(rc == 0 && out == v[i].out,
			   "parse_size \"%s\" = %llu", v[i].in,
			   (unsigned long long)v[i].out);
		else
			ok(rc == -1, "parse_size \"%s\" refused", v[i].in);
		if (rc != v[i].rc || (rc == 0 && out != v[i].out))
			diag("rc %d, out %zu", rc, out);
	}
}

static void test_parse_uint(void)
{
	static const struct {
		const char *in;
		uint64_t max;
		int rc;
		uint64_t out;
	} v[] = {
		{"0", 0, 0, 0},
		{"1", 1, 0, 1},
		{"2", 1, -1, 0},
		{"256", 256, 0, 256},
		{"257", 256, -1, 0},
		{"4294967295", UINT32_MAX, 0, UINT32_MAX},
		{"4294967296", UINT32_MAX, -1, 0},
		{"18446744073709551615", UINT64_MAX, 0, UINT64_MAX},
		{"18446744073709551616", UINT64_MAX, -1, 0},
		{"99999999999999999999999999", UINT64_MAX, -1, 0},
		{"", UINT64_MAX, -1, 0},
		{"-1", UINT64_MAX, -1, 0},
		{"-0", UINT64_MAX, -1, 0},
		{"+1", UINT64_MAX, -1, 0},
		{" 1", UINT64_MAX, -1, 0},
		{"1 ", UINT64_MAX, -1, 0},
		{"\t1", UINT64_MAX, -1, 0},
		{"1a", UINT64_MAX, -1, 0},
		{"1k", UINT64_MAX, -1, 0},
		{"0x10", UINT64_MAX, -1, 0},
		{"1.0", UINT64_MAX, -1, 0},
		{"1e3", UINT64_MAX, -1, 0},
	};

	for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
		uint64_t out = 4242;
		int rc = ipwd_parse_uint(v[i].in, v[i].max, &out);

		if (v[i].rc == 0)
			ok(rc == 0 && out == v[i].out,
			   "parse_uint \"%s\" max %llu = %llu", v[i].in,
			   (unsigned long long)v[i].max,
			   (unsigned long long)v[i].out);
		else
			ok(rc == -1, "parse_uint \"%s\" max %llu refused",
			   v[i].in, (unsigned long long)v[i].max);
		if (rc != v[i].rc || (rc == 0 && out != v[i].out))
			diag("rc %d, out %llu", rc, (unsigned long long)out);
	}
}

static void test_parse_bool(void)
{
	static const struct {
		const char *in;
		int rc;
		bool out;
	} v[] = {
		{"yes", 0, true},    {"true", 0, true},	 {"on", 0, true},
		{"1", 0, true},	     {"YES", 0, true},	 {"True", 0, true},
		{"ON", 0, true},     {"no", 0, false},	 {"false", 0, false},
		{"off", 0, false},   {"0", 0, false},	 {"NO", 0, false},
		{"False", 0, false}, {"Off", 0, false},	 {"", -1, false},
		{"y", -1, false},    {"n", -1, false},	 {"2", -1, false},
		{"yes ", -1, false}, {" no", -1, false}, {"enable", -1, false},
		{"yess", -1, false}, {"01", -1, false},	 {"t", -1, false},
	};

	for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
		bool out = !v[i].out;
		int rc = ipwd_parse_bool(v[i].in, &out);

		if (v[i].rc == 0)
			ok(rc == 0 && out == v[i].out, "parse_bool \"%s\" = %s",
			   v[i].in, v[i].out ? "true" : "false");
		else
			ok(rc == -1, "parse_bool \"%s\" refused", v[i].in);
	}
}

static void cleanup(void)
{
	static const char *const names[] = {
		"example-on.conf", "key.conf",	"file.conf", "partial.conf",
		"ov.conf",	   "sock.conf", "ev.conf",   "cluster.conf",
	};

	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		snprintf(path, sizeof(path), "%s/%s", dir, names[i]);
		unlink(path);
	}
	rmdir(dir);
}

int main(void)
{
	if (mkdtemp(dir) == NULL) {
		perror("mkdtemp");
		return 2;
	}
	if (gethostname(hostname, sizeof(hostname)) != 0 || !hostname[0])
		strcpy(hostname, "localhost");
	hostname[63] = '\0';

	test_defaults();
	test_example();
	test_keys();
	test_files();
	test_partial_values();
	test_long_lines();
	test_missing_file();
	test_event_socket();
	test_overrides();
	test_long_data_dir();
	test_cluster_url();
	test_cluster_rules();
	test_cluster_mode();
	test_cluster_host_name();
	test_cluster_password_file();
	test_cluster_keep_restart();
	test_parse_size();
	test_parse_uint();
	test_parse_bool();
	cleanup();
	return done_testing();
}
