/* SPDX-License-Identifier: MIT */
/*
 * ipwalld's configuration (see config.h): the schema, one row per key,
 * and what cannot be a row: the defaults computed at start (the node is
 * the host name; the socket, tokens file, store and audit log live in
 * the data directory unless placed elsewhere), the command line flags,
 * and the rules between keys ([cluster]: the node named twice, the
 * socket timeout above the blocking read, the Redis server from its URL,
 * user, password and password file).
 *
 * The Redis password is never printed: its keys are IPWD_CONF_SECRET (a
 * refused value is not quoted), the URL parser quotes nothing, and the
 * messages about the password file name the file, not what it holds.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <ipwall/table.h>

#include "build_features.h"

#include "base/config.h"
#include "base/listen.h"
#include "base/log.h"
#include "base/redis_url.h"

#define F(field) IPWD_CONF_FIELD(struct ipwd_config, field)
#define RESTART	 IPWD_CONF_RESTART
#define R(field) IPWD_CONF_FIELD(struct ipwd_rule_conf, field)

static const char *parse_log_level(void *field, const char *v)
{
	int lv = ipwd_log_level_parse(v);

	if (lv < 0)
		return "must be error, warn, info or debug";
	*(int *)field = lv;
	return NULL;
}

static const char *check_listen(const char *v)
{
	if (ipwd_listen_check(v) != 0)
		return "expected ADDR:PORT or [IPV6]:PORT (empty: no TCP)";
	return NULL;
}

/* [rule] escalate: a factor from 1 to 1000 (a decimal number). */
static const char *parse_factor(void *field, const char *v)
{
	char *end;
	double f;

	errno = 0;
	f = strtod(v, &end);
	if (errno || end == v || *end || !(f >= 1.0 && f <= 1000.0))
		return "must be a number from 1 (no escalation) to 1000";
	*(double *)field = f;
	return NULL;
}

/* [rule] check_rate: checks a second, 0 (none) to 10000000. */
static const char *parse_rate(void *field, const char *v)
{
	char *end;
	double f;

	errno = 0;
	f = strtod(v, &end);
	if (errno || end == v || *end || !(f >= 0.0 && f <= 1e7))
		return "must be checks a second, 0 (no limit) to 10000000";
	*(double *)field = f;
	return NULL;
}

/* [cluster] mode, in the order of enum ipwd_cluster_mode (config.h).
 * Without hiredis only off is accepted, with the reason on its line. */
static const char *parse_cluster_mode(void *field, const char *v)
{
	static const char *const names[] = {"off", "shadow", "on"};
	int i;

	for (i = 0; i < 3; i++)
		if (strcmp(v, names[i]) == 0)
			break;
	if (i == 3)
		return "must be off, shadow or on";
	if (i != IPWD_CLUSTER_OFF && !IPWD_WITH_REDIS)
		return "this ipwalld is built without cluster mode (the redis "
		       "feature: hiredis); only off is possible";
	*(int *)field = i;
	return NULL;
}

/* [cluster] redis: the parser's own sentence, which quotes nothing of
 * the URL. Static: the configuration is loaded on one thread (conf.h). */
static char redis_url_why[256];

static const char *check_redis_url(const char *v)
{
	struct ipwd_redis_url u;
	int rc = ipwd_redis_url_parse(v, &u, redis_url_why,
				      sizeof(redis_url_why));

	explicit_bzero(&u, sizeof(u));
	return rc ? redis_url_why : NULL;
}

static bool no_control(const char *v, bool space_too)
{
	for (; *v; v++)
		if ((unsigned char)*v < 0x20 || *v == 0x7f ||
		    (space_too && *v == ' '))
			return false;
	return true;
}

static const char *check_redis_user(const char *v)
{
	if (!no_control(v, true))
		return "must be an ACL user name without spaces or control "
		       "bytes";
	return NULL;
}

static const char *check_redis_password(const char *v)
{
	if (!no_control(v, false))
		return "must not hold a control byte";
	return NULL;
}

#define NODE_BYTES \
	"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._-"

bool ipwd_cluster_node_valid(const char *node)
{
	size_t len = node ? strlen(node) : 0;

	return len >= 1 && len <= IPWD_CLUSTER_NODE_MAX &&
	       strspn(node, NODE_BYTES) == len;
}

static const char *check_cluster_node(const char *v)
{
	if (!ipwd_cluster_node_valid(v))
		return "must be 1 to 63 bytes of A-Z a-z 0-9 . _ -";
	return NULL;
}

/* [cluster] stream: also the hash tag of every key ("{STREAM}:ops"),
 * hence no braces. */
static const char *check_cluster_stream(const char *v)
{
	size_t len = strlen(v);

	if (len < 1 || len > 64 || strspn(v, NODE_BYTES ":") != len)
		return "must be 1 to 64 bytes of A-Z a-z 0-9 . _ : - (it is the "
		       "hash tag of every key, {STREAM}:ops)";
	return NULL;
}

static const char *const modes[] = {"denylist", "allowlist", NULL};
/* in the order of enum ipwd_sync (oplog/store.h) */
static const char *const syncs[] = {"full", "batch", "off", NULL};
/* in the order of enum ipwd_xdp_mode (config.h) */
static const char *const xdp_modes[] = {"native", "generic", NULL};

static const struct ipwd_conf_section sections[] = {
	{.name = "daemon"},
	{.name = "http"},
	{.name = "auth"},
	{.name = "table"},
	{.name = "store"},
	{.name = "audit"},
	{.name = "enforce"},
	{.name = "autoban"},
	{.name = "cluster"},
	{.name = "rule",
	 .named = true,
	 .size = sizeof(struct ipwd_rule_conf),
	 .list_offset = offsetof(struct ipwd_config, rules),
	 .max = 32},
};

static const struct ipwd_conf_key keys[] = {
	/* [daemon] */
	{"daemon", "data_dir", IPWD_CONF_STR, F(data_dir),
	 .flags = IPWD_CONF_NONEMPTY | RESTART, .why = "must not be empty",
	 .def = IPWD_DEFAULT_DATA_DIR},
	{"daemon", "node", IPWD_CONF_STR, F(node), .max = 63,
	 .flags = IPWD_CONF_NONEMPTY | RESTART, .why = "must be 1 to 63 bytes"},
	{"daemon", "log_level", IPWD_CONF_FUNC, F(log_level),
	 .parse = parse_log_level, .def = "info"},
	{"daemon", "shutdown_timeout", IPWD_CONF_DURATION, F(shutdown_timeout),
	 .max = 3600, .why = "must be a duration up to 1h (e.g. 10s)",
	 .def = "10s"},
	/* [http] */
	{"http", "listen", IPWD_CONF_STR, F(listen), .check = check_listen,
	 .flags = RESTART, .def = IPWD_DEFAULT_LISTEN},
	{"http", "socket", IPWD_CONF_STR, F(socket), .max = 107,
	 .flags = RESTART, .why = "unix socket path longer than 107 bytes"},
	{"http", "threads", IPWD_CONF_UINT, F(threads), .max = 256,
	 .flags = RESTART, .why = "must be 0 (one per CPU) to 256", .def = "0"},
	{"http", "blocking_threads", IPWD_CONF_UINT, F(blocking_threads),
	 .min = 1, .max = 1024, .flags = RESTART, .why = "must be 1 to 1024",
	 .def = "64"},
	{"http", "max_connections", IPWD_CONF_UINT, F(max_connections),
	 .min = 1, .max = 1000000, .flags = RESTART,
	 .why = "must be 1 to 1000000", .def = "1024"},
	{"http", "max_connections_per_ip", IPWD_CONF_UINT,
	 F(max_connections_per_ip), .max = 1000000, .flags = RESTART,
	 .why = "must be 0 (no limit) to 1000000", .def = "256"},
	{"http", "timeout", IPWD_CONF_DURATION, F(timeout), .min = 1,
	 .max = 86400, .flags = RESTART,
	 .why = "must be a duration from 1s to 1d", .def = "30s"},
	{"http", "max_header", IPWD_CONF_SIZE, F(max_header), .min = 1024,
	 .max = 1u << 20, .flags = RESTART,
	 .why = "must be a size from 1k to 1M", .def = "8k"},
	{"http", "max_body", IPWD_CONF_SIZE, F(max_body), .min = 1024,
	 .max = 1ull << 30, .why = "must be a size from 1k to 1G",
	 .def = "64M"},
	{"http", "max_batch", IPWD_CONF_UINT, F(max_batch), .min = 1,
	 .max = 10000000, .why = "must be 1 to 10000000", .def = "100000"},
	{"http", "tls_cert", IPWD_CONF_STR, F(tls_cert), .max = 4095,
	 .flags = RESTART, .why = "must be a path of at most 4095 bytes",
	 .def = "", .note = "the file itself is re-read on SIGHUP"},
	{"http", "tls_key", IPWD_CONF_STR, F(tls_key), .max = 4095,
	 .flags = RESTART, .why = "must be a path of at most 4095 bytes",
	 .def = "", .note = "the file itself is re-read on SIGHUP"},
	/* [auth] */
	{"auth", "tokens_file", IPWD_CONF_STR, F(tokens_file),
	 .flags = IPWD_CONF_NONEMPTY, .why = "must not be empty"},
	{"auth", "protect_reads", IPWD_CONF_BOOL, F(protect_reads),
	 .why = "must be yes or no", .def = "no"},
	{"auth", "max_failures", IPWD_CONF_UINT, F(max_failures),
	 .max = 1000000, .why = "must be 0 (no lock-out) to 1000000",
	 .def = "10"},
	{"auth", "lockout", IPWD_CONF_DURATION, F(lockout), .min = 1,
	 .max = 86400, .why = "must be a duration from 1s to 1d", .def = "1m"},
	/* [table] */
	{"table", "max_entries", IPWD_CONF_UINT, F(max_entries), .min = 1,
	 .max = 1u << 30, .flags = RESTART, .why = "must be 1 to 1073741824",
	 .def = "4000000"},
	{"table", "default_ban_ttl", IPWD_CONF_DURATION, F(default_ban_ttl),
	 .max = UINT32_MAX, .why = "must be a duration (0 = permanent)",
	 .def = "0"},
	{"table", "hit_sample", IPWD_CONF_UINT, F(hit_sample), .min = 1,
	 .max = 65536, .flags = IPWD_CONF_POW2 | RESTART,
	 .why = "must be a power of two from 1 to 65536", .def = "64"},
	{"table", "purge_interval", IPWD_CONF_DURATION, F(purge_interval),
	 .min = 1, .max = 3600, .why = "must be a duration from 1s to 1h",
	 .def = "1s"},
	{"table", "mode", IPWD_CONF_ENUM, F(mode), .names = modes,
	 .flags = RESTART, .why = "must be denylist or allowlist",
	 .def = "denylist", .note = "set the mode with PUT /v1/mode"},
	/* [store] */
	{"store", "path", IPWD_CONF_STR, F(store_path),
	 .flags = IPWD_CONF_NONE_EMPTY | RESTART},
	{"store", "sync", IPWD_CONF_ENUM, F(sync), .names = syncs,
	 .flags = RESTART, .why = "must be full, batch or off", .def = "full"},
	{"store", "history_retention", IPWD_CONF_DURATION, F(history_retention),
	 .max = 100ull * 366 * 86400,
	 .why = "must be a duration up to 100 years (365d, 12h, ...) or 0 "
		"(keep the history for ever)",
	 .def = "365d"},
	{"store", "cache", IPWD_CONF_SIZE, F(store_cache), .min = 1u << 20,
	 .max = 1ull << 36, .flags = RESTART,
	 .why = "must be a size from 1M to 64G", .def = "64M"},
	/* [audit] */
	{"audit", "log", IPWD_CONF_STR, F(audit_log),
	 .flags = IPWD_CONF_NONE_EMPTY | RESTART},
	/* [enforce] */
	{"enforce", "xdp", IPWD_CONF_STR, F(xdp), .max = 1023, .flags = RESTART,
	 .why = "must be interface names of at most 1023 "
		"bytes in all",
	 .def = ""},
	{"enforce", "xdp_mode", IPWD_CONF_ENUM, F(xdp_mode), .names = xdp_modes,
	 .flags = RESTART, .why = "must be native or generic", .def = "native"},
	{"enforce", "tc", IPWD_CONF_STR, F(tc), .max = 1023, .flags = RESTART,
	 .why = "must be interface names of at most 1023 bytes in all",
	 .def = ""},
	{"enforce", "pin_dir", IPWD_CONF_STR, F(pin_dir), .max = 200,
	 .flags = IPWD_CONF_NONEMPTY | RESTART,
	 .why = "must be a folder on a bpf file system (at most 200 bytes)",
	 .def = "/sys/fs/bpf/ipwall"},
	{"enforce", "reconcile_interval", IPWD_CONF_DURATION,
	 F(reconcile_interval), .max = 86400,
	 .why = "must be a duration up to 1d (0 = never)", .def = "5m"},
	{"enforce", "nftables", IPWD_CONF_BOOL, F(nftables), .flags = RESTART,
	 .why = "must be yes or no", .def = "no"},
	{"enforce", "nftables_forward", IPWD_CONF_BOOL, F(nft_forward),
	 .flags = RESTART, .why = "must be yes or no", .def = "no"},
	{"enforce", "nftables_table", IPWD_CONF_STR, F(nft_table), .max = 64,
	 .flags = IPWD_CONF_NONEMPTY | RESTART,
	 .why = "must be an nftables table name of at most 64 bytes",
	 .def = "ipwall"},
	{"enforce", "nftables_max_elements", IPWD_CONF_UINT,
	 F(nft_max_elements), .max = 1u << 30, .flags = RESTART,
	 .why = "must be 0 (the table's max_entries) to 1073741824",
	 .def = "0"},
	/* [autoban] */
	{"autoban", "budget", IPWD_CONF_SIZE, F(ab_budget), .min = 1u << 20,
	 .max = 1ull << 34, .flags = RESTART,
	 .why = "must be a size from 1M to 16G", .def = "64M"},
	{"autoban", "breaker", IPWD_CONF_UINT, F(ab_breaker), .max = 100000000,
	 .flags = RESTART,
	 .why = "must be new sources a second, 0 (never) to 100000000",
	 .def = "20000"},
	{"autoban", "socket", IPWD_CONF_STR, F(ab_socket), .max = 107,
	 .flags = IPWD_CONF_NONE_EMPTY | RESTART,
	 .why = "must be a socket path of at most 107 bytes, or none"},
	{"autoban", "queue", IPWD_CONF_UINT, F(ab_queue), .min = 64,
	 .max = 1u << 24, .flags = RESTART | IPWD_CONF_POW2,
	 .why = "must be a power of two from 64 to 16777216", .def = "65536"},
	{"autoban", "check_budget", IPWD_CONF_SIZE, F(ab_check_budget),
	 .min = 1u << 16, .max = 1ull << 32, .flags = RESTART,
	 .why = "must be a size from 64k to 4G", .def = "16M"},
	/* [cluster] */
	{"cluster", "mode", IPWD_CONF_FUNC, F(cluster_mode),
	 .parse = parse_cluster_mode, .flags = RESTART, .def = "off"},
	{"cluster", "redis", IPWD_CONF_STR, F(cluster_redis), .max = 2047,
	 .check = check_redis_url, .flags = IPWD_CONF_SECRET | RESTART,
	 .why = "must be a Redis URL of at most 2047 bytes",
	 .def = "redis://127.0.0.1:6379"},
	{"cluster", "user", IPWD_CONF_STR, F(cluster_user), .max = 127,
	 .check = check_redis_user, .flags = RESTART,
	 .why = "must be an ACL user name of at most 127 bytes"},
	{"cluster", "password", IPWD_CONF_STR, F(cluster_password), .max = 511,
	 .check = check_redis_password, .flags = IPWD_CONF_SECRET | RESTART,
	 .why = "must be at most 511 bytes"},
	{"cluster", "password_file", IPWD_CONF_STR, F(cluster_password_file),
	 .max = 4095, .flags = IPWD_CONF_NONEMPTY | RESTART,
	 .why = "must be a file path of at most 4095 bytes",
	 .note = "the file itself is read at start only"},
	{"cluster", "node", IPWD_CONF_STR, F(cluster_node),
	 .check = check_cluster_node, .flags = RESTART},
	{"cluster", "stream", IPWD_CONF_STR, F(cluster_stream),
	 .check = check_cluster_stream, .flags = RESTART, .def = "ipwall"},
	{"cluster", "maxlen", IPWD_CONF_UINT, F(cluster_maxlen), .min = 1000,
	 .max = 1000000000, .flags = RESTART,
	 .why = "must be 1000 to 1000000000 stream entries", .def = "1000000"},
	{"cluster", "block_ms", IPWD_CONF_UINT, F(cluster_block_ms), .min = 10,
	 .max = 60000, .flags = RESTART,
	 .why = "must be 10 to 60000 milliseconds", .def = "1000"},
	{"cluster", "timeout_ms", IPWD_CONF_UINT, F(cluster_timeout_ms),
	 .max = 600000, .flags = RESTART,
	 .why = "must be 0 (block_ms + 2000) to 600000 milliseconds",
	 .def = "0"},
	{"cluster", "batch", IPWD_CONF_UINT, F(cluster_batch), .min = 1,
	 .max = 10000, .flags = RESTART, .why = "must be 1 to 10000 ops",
	 .def = "1000"},
	{"cluster", "heartbeat_ms", IPWD_CONF_UINT, F(cluster_heartbeat_ms),
	 .min = 100, .max = 60000, .flags = RESTART,
	 .why = "must be 100 to 60000 milliseconds", .def = "1000"},
	/* [rule NAME] */
	{"rule", "events", IPWD_CONF_STR, R(events), .max = 1023,
	 .flags = IPWD_CONF_NONEMPTY,
	 .why = "must name event types (a-z 0-9 _ . -), spaces or commas "
		"between"},
	{"rule", "threshold", IPWD_CONF_UINT, R(threshold), .min = 1, .max = 64,
	 .why = "must be 1 to 64 events", .def = "5"},
	{"rule", "window", IPWD_CONF_DURATION, R(window), .min = 1,
	 .max = 24 * 86400, .why = "must be a duration from 1s to 24d",
	 .def = "10m"},
	{"rule", "ban", IPWD_CONF_DURATION, R(ban), .min = 1, .max = UINT32_MAX,
	 .why = "must be a duration of at least 1s", .def = "1h"},
	{"rule", "escalate", IPWD_CONF_FUNC, R(escalate), .parse = parse_factor,
	 .def = "1"},
	{"rule", "max_ban", IPWD_CONF_DURATION, R(max_ban), .max = UINT32_MAX,
	 .why = "must be a duration (0 = no cap)", .def = "0"},
	{"rule", "aggregate_v4", IPWD_CONF_UINT, R(aggregate_v4), .max = 32,
	 .why = "must be 0 (off) or 2 to 32 offenders", .def = "0"},
	{"rule", "aggregate_v6", IPWD_CONF_UINT, R(aggregate_v6), .max = 32,
	 .why = "must be 0 (off) or 2 to 32 offending /64s", .def = "0"},
	{"rule", "dry_run", IPWD_CONF_BOOL, R(dry_run),
	 .why = "must be yes or no", .def = "no"},
	{"rule", "check_rate", IPWD_CONF_FUNC, R(check_rate),
	 .parse = parse_rate, .def = "0"},
	{"rule", "check_burst", IPWD_CONF_UINT, R(check_burst), .max = 1000000,
	 .why = "must be 0 (the rate, rounded up) to 1000000", .def = "0"},
	{"rule", "check_prefix_v4", IPWD_CONF_UINT, R(check_prefix_v4),
	 .min = 1, .max = 32, .why = "must be 1 to 32", .def = "32"},
	{"rule", "check_prefix_v6", IPWD_CONF_UINT, R(check_prefix_v6),
	 .min = 1, .max = 128, .why = "must be 1 to 128", .def = "64"},
	{"rule", "check_sustain", IPWD_CONF_DURATION, R(check_sustain),
	 .min = 1, .max = 3600, .why = "must be a duration from 1s to 1h",
	 .def = "10s"},
};

const struct ipwd_conf_schema ipwd_config_schema = {
	.sections = sections,
	.nsections = sizeof(sections) / sizeof(sections[0]),
	.keys = keys,
	.nkeys = sizeof(keys) / sizeof(keys[0]),
};

static void set_str(char **dst, const char *v)
{
	char *c = strdup(v);

	if (c == NULL) {
		fprintf(stderr, "ipwalld: out of memory\n");
		exit(1);
	}
	free(*dst);
	*dst = c;
}

/* @dst, when the file did not set it: DATA_DIR/@name. */
static void in_data_dir(char **dst, const char *data_dir, const char *name)
{
	char p[PATH_MAX];

	if (*dst)
		return;
	snprintf(p, sizeof(p), "%s/%s", data_dir, name);
	set_str(dst, p);
}

static void problem(int *errors, const char *where, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* A problem between keys, found once the file is read: "WHERE: ...". */
static void problem(int *errors, const char *where, const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "%s: ", where);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	(*errors)++;
}

/* [daemon] node and [cluster] node name the same thing: either sets
 * cfg->node, both must agree; neither: the host name. In cluster mode the
 * node is an id that other nodes see, and the host name must be one. */
static void resolve_node(struct ipwd_config *cfg, const char *where,
			 int *errors)
{
	char host[256];
	bool from_host = false, host_long = false;

	if (cfg->cluster_node) {
		if (cfg->node && strcmp(cfg->node, cfg->cluster_node) != 0)
			problem(errors, where,
				"[cluster] node \"%s\" and [daemon] node "
				"\"%s\" differ: both name this node, set one "
				"of them",
				cfg->cluster_node, cfg->node);
		else
			set_str(&cfg->node, cfg->cluster_node);
	}
	if (cfg->node == NULL) {
		if (gethostname(host, sizeof(host)) != 0 || host[0] == '\0')
			strcpy(host, "localhost");
		host[sizeof(host) - 1] = '\0';
		host_long = strlen(host) > IPWD_CLUSTER_NODE_MAX;
		host[IPWD_CLUSTER_NODE_MAX] = '\0';
		set_str(&cfg->node, host);
		from_host = true;
	}
	if (cfg->cluster_mode == IPWD_CLUSTER_OFF)
		return;
	if (from_host && (host_long || !ipwd_cluster_node_valid(cfg->node)))
		problem(errors, where,
			"cluster mode needs a node id of 1 to 63 bytes of A-Z "
			"a-z 0-9 . _ -, and the host name \"%s%s\" is not "
			"one: set [cluster] node",
			cfg->node, host_long ? "..." : "");
	else if (!ipwd_cluster_node_valid(cfg->node))
		problem(errors, where,
			"[daemon] node \"%s\" is not a cluster node id (1 to "
			"63 bytes of A-Z a-z 0-9 . _ -): change it, or remove "
			"it and set [cluster] node",
			cfg->node);
}

/* @src into @dst (@size bytes), cut if it must be (the keys' bounds make
 * it fit). */
static void copy_field(char *dst, size_t size, const char *src)
{
	size_t n = strnlen(src, size - 1);

	memcpy(dst, src, n);
	dst[n] = '\0';
}

/*
 * [cluster] password_file: its first line, without "\n" or "\r\n", into
 * @out (@size bytes). 0, or -1 reported. Only a regular file is opened,
 * without blocking (a FIFO or a device named by mistake must neither
 * hang nor act at load), and a line's worth is read. A file every user
 * may read is warned about, not refused. The messages name the file,
 * never what it holds.
 */
static int read_password_file(const char *where, const char *file, char *out,
			      size_t size, int *errors)
{
	char buf[sizeof(((struct ipwd_redis_url *)0)->password) + 3];
	const char *why = NULL;
	struct stat st;
	size_t n = 0, len = 0, i;
	ssize_t r;
	char *nl;
	int fd = -1, rc = -1;

	if (stat(file, &st) != 0) {
		why = strerror(errno);
		goto out;
	}
	if (!S_ISREG(st.st_mode)) {
		why = "not a regular file";
		goto out;
	}
	fd = open(file, O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY);
	if (fd < 0) {
		why = strerror(errno);
		goto out;
	}
	/* the name may have been replaced since stat() */
	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
		why = "not a regular file";
		goto out;
	}
	while (n < sizeof(buf) - 1) {
		r = read(fd, buf + n, sizeof(buf) - 1 - n);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			why = strerror(errno);
			goto out;
		}
		if (r == 0)
			break;
		n += (size_t)r;
		if (memchr(buf, '\n', n))
			break;
	}
	nl = memchr(buf, '\n', n);
	len = nl ? (size_t)(nl - buf) : n;
	if (len && buf[len - 1] == '\r')
		len--;
	if ((nl == NULL && n == sizeof(buf) - 1) || len >= size) {
		why = "its first line (the password) is longer than 511 bytes";
		goto out;
	}
	if (len == 0) {
		why = "its first line (the password) is empty";
		goto out;
	}
	for (i = 0; i < len; i++)
		if ((unsigned char)buf[i] < 0x20 || buf[i] == 0x7f) {
			why = "its first line (the password) holds a control "
			      "byte";
			goto out;
		}
	memcpy(out, buf, len);
	out[len] = '\0';
	if (st.st_mode & S_IROTH)
		fprintf(stderr,
			"%s: warning: [cluster] password_file %s can be read "
			"by every user of this machine (chmod o-r)\n",
			where, file);
	rc = 0;
out:
	if (fd >= 0)
		close(fd);
	explicit_bzero(buf, sizeof(buf));
	if (why)
		problem(errors, where, "[cluster] password_file %s: %s", file,
			why);
	return rc;
}

/* The Redis server from redis, user, password and password_file; the
 * socket timeout from timeout_ms and block_ms. */
static void resolve_cluster(struct ipwd_config *cfg, const char *where,
			    int *errors)
{
	struct ipwd_redis_url *u = &cfg->cluster_url;
	char why[256];

	/* The key's check parsed it already (or left the default): a
	 * failure here would be the parser's own inconsistency. */
	if (ipwd_redis_url_parse(cfg->cluster_redis, u, why, sizeof(why)))
		problem(errors, where, "[cluster] redis: %s", why);
	if (cfg->cluster_user)
		copy_field(u->user, sizeof(u->user), cfg->cluster_user);
	if (cfg->cluster_password && cfg->cluster_password_file)
		problem(errors, where,
			"[cluster] password and password_file: set one of "
			"them, not both");
	else if (cfg->cluster_password)
		copy_field(u->password, sizeof(u->password),
			   cfg->cluster_password);
	else if (cfg->cluster_password_file)
		read_password_file(where, cfg->cluster_password_file,
				   u->password, sizeof(u->password), errors);
	/* A blocking read (XREAD BLOCK) waits up to block_ms for its
	 * reply: a socket timeout at or under that would cut every read
	 * that finds nothing new. */
	if (cfg->cluster_timeout_ms != 0 &&
	    cfg->cluster_timeout_ms <= cfg->cluster_block_ms) {
		problem(errors, where,
			"[cluster] timeout_ms = %u must be above block_ms = %u "
			"(a blocking read waits block_ms; the socket timeout "
			"must outlast it), or 0 for block_ms + 2000",
			cfg->cluster_timeout_ms, cfg->cluster_block_ms);
		cfg->cluster_timeout_ms = 0;
	}
	if (cfg->cluster_timeout_ms == 0)
		cfg->cluster_timeout_ms = cfg->cluster_block_ms + 2000;
}

int ipwd_config_load(struct ipwd_config *cfg, const char *path,
		     const struct ipwd_overrides *ov)
{
	const char *where = path ? path : "ipwalld";
	int errors = 0;

	memset(cfg, 0, sizeof(*cfg));
	ipwd_conf_defaults(&ipwd_config_schema, cfg);
	if (path)
		errors += ipwd_conf_read(&ipwd_config_schema, cfg, path);
	cfg->tokens_file_set = cfg->tokens_file != NULL;
	if (ov && ov->listen)
		set_str(&cfg->listen, ov->listen);
	if (ov && ov->data_dir)
		set_str(&cfg->data_dir, ov->data_dir);
	in_data_dir(&cfg->socket, cfg->data_dir, "ipwalld.sock");
	in_data_dir(&cfg->tokens_file, cfg->data_dir, "tokens");
	in_data_dir(&cfg->store_path, cfg->data_dir, "ipwall.db");
	in_data_dir(&cfg->audit_log, cfg->data_dir, "audit.log");
	/* The event socket beside the HTTP unix socket (/run/ipwalld/ under
	 * the systemd unit, where libipwall-client looks by default), else
	 * in the data directory. */
	if (cfg->ab_socket == NULL && cfg->socket[0]) {
		char dir[PATH_MAX];
		const char *slash = strrchr(cfg->socket, '/');

		if (slash == NULL)
			snprintf(dir, sizeof(dir), "events.sock");
		else
			snprintf(dir, sizeof(dir), "%.*s/events.sock",
				 (int)(slash - cfg->socket), cfg->socket);
		set_str(&cfg->ab_socket, dir);
	}
	in_data_dir(&cfg->ab_socket, cfg->data_dir, "events.sock");
	if (strlen(cfg->socket) >= 108) {
		fprintf(stderr,
			"%s: unix socket path \"%s\" longer than 107 bytes\n",
			path ? path : "ipwalld", cfg->socket);
		errors++;
	}
	resolve_node(cfg, where, &errors);
	resolve_cluster(cfg, where, &errors);
	return errors;
}

static void wipe_str(char *s)
{
	if (s)
		explicit_bzero(s, strlen(s));
}

void ipwd_config_free(struct ipwd_config *cfg)
{
	/* Best effort (the file's lines went through inih's buffers too):
	 * no Redis password left in freed memory for a core dump or the
	 * next allocation to show. */
	wipe_str(cfg->cluster_password);
	wipe_str(cfg->cluster_redis);
	ipwd_conf_free(&ipwd_config_schema, cfg);
	explicit_bzero(cfg, sizeof(*cfg));
}

void ipwd_config_keep_restart(struct ipwd_config *old, struct ipwd_config *nw,
			      void (*changed)(const struct ipwd_conf_key *k,
					      void *ctx),
			      void *ctx)
{
	struct ipwd_redis_url tmp;

	ipwd_conf_keep_restart(&ipwd_config_schema, old, nw, changed, ctx);
	/* Every key cluster_url comes from is restart-only: the running
	 * server stays, like the keys (and the password file is read again
	 * at the next start only). */
	tmp = old->cluster_url;
	old->cluster_url = nw->cluster_url;
	nw->cluster_url = tmp;
	explicit_bzero(&tmp, sizeof(tmp));
}
