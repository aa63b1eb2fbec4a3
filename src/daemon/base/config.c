/* SPDX-License-Identifier: MIT */
/*
 * ipwalld's configuration (see config.h): the schema, one row per key,
 * and what cannot be a row: the defaults computed at start (the node is
 * the host name; the socket, tokens file, store and audit log live in
 * the data directory unless placed elsewhere) and the command line flags.
 */
#include <errno.h>
#include <limits.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <ipwall/table.h>

#include "base/config.h"
#include "base/listen.h"
#include "base/log.h"

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

int ipwd_config_load(struct ipwd_config *cfg, const char *path,
		     const struct ipwd_overrides *ov)
{
	char host[256];
	int errors = 0;

	memset(cfg, 0, sizeof(*cfg));
	ipwd_conf_defaults(&ipwd_config_schema, cfg);
	if (gethostname(host, sizeof(host)) != 0 || host[0] == '\0')
		strcpy(host, "localhost");
	host[63] = '\0';
	set_str(&cfg->node, host);
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
	return errors;
}

void ipwd_config_free(struct ipwd_config *cfg)
{
	ipwd_conf_free(&ipwd_config_schema, cfg);
	memset(cfg, 0, sizeof(*cfg));
}
