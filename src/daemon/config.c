/* SPDX-License-Identifier: MIT */
/*
 * Configuration loading (see config.h).
 *
 * inih splits the file into (section, key, value); this file owns the
 * meaning. Unknown sections and keys are errors, not warnings: a typo in
 * "max_entires" must not silently leave the default in force. To report
 * every problem with its line, the file is fed to inih through our own
 * line reader (ini_parse_stream), which counts lines; multi-line values are
 * turned off so that one reader call is one line. inih itself reports only
 * the first syntax error (a line that is neither "[section]" nor
 * "key = value").
 */
#include <errno.h>
#include <ini.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <ipwall/duration.h>
#include <ipwall/table.h>

#include "config.h"
#include "http.h"
#include "log.h"
#include "store.h"

#define LINE_MAX_BYTES 4096

struct loader {
	struct ipwd_config *cfg;
	const char *path;
	FILE *f;
	int line;
	int errors;
	int last_error_line;
	char *buf;
	size_t bufsize;
};

static void problem(struct loader *l, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static void problem(struct loader *l, const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "%s:%d: ", l->path, l->line);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	l->errors++;
	l->last_error_line = l->line;
}

int ipwd_parse_uint(const char *s, uint64_t max, uint64_t *out)
{
	unsigned long long v;
	char *end;

	if (*s < '0' || *s > '9')
		return -1;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno || *end || v > max)
		return -1;
	*out = v;
	return 0;
}

int ipwd_parse_size(const char *s, size_t *out)
{
	unsigned long long v, mul = 1;
	char *end;

	if (*s < '0' || *s > '9')
		return -1;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno)
		return -1;
	switch (*end) {
	case '\0':
		break;
	case 'k':
	case 'K':
		mul = 1ull << 10;
		end++;
		break;
	case 'm':
	case 'M':
		mul = 1ull << 20;
		end++;
		break;
	case 'g':
	case 'G':
		mul = 1ull << 30;
		end++;
		break;
	default:
		return -1;
	}
	if (*end == 'i' || *end == 'B')
		end += *end == 'i' && end[1] == 'B' ? 2 : 1;
	if (*end || v > SIZE_MAX / mul)
		return -1;
	*out = (size_t)(v * mul);
	return 0;
}

int ipwd_parse_bool(const char *s, bool *out)
{
	static const char *const yes[] = {"yes", "true", "on", "1"};
	static const char *const no[] = {"no", "false", "off", "0"};
	size_t i;

	for (i = 0; i < sizeof(yes) / sizeof(yes[0]); i++) {
		if (strcasecmp(s, yes[i]) == 0) {
			*out = true;
			return 0;
		}
		if (strcasecmp(s, no[i]) == 0) {
			*out = false;
			return 0;
		}
	}
	return -1;
}

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

static int get_duration(const char *v, uint64_t max, uint64_t *out)
{
	uint64_t s;

	if (ipw_duration_parse(v, strlen(v), &s, NULL) != 0 || s > max)
		return -1;
	*out = s;
	return 0;
}

/* The keys. Each setter returns NULL or what is wrong with the value. */
static const char *set_key(struct ipwd_config *c, const char *sec,
			   const char *key, const char *v, bool *known)
{
	uint64_t u;
	size_t z;
	bool b;
	int lv;

	*known = true;
#define IS(s, k) (strcmp(sec, s) == 0 && strcmp(key, k) == 0)
	if (IS("daemon", "data_dir")) {
		if (*v == '\0')
			return "must not be empty";
		set_str(&c->data_dir, v);
	} else if (IS("daemon", "node")) {
		if (*v == '\0' || strlen(v) > 63)
			return "must be 1 to 63 bytes";
		set_str(&c->node, v);
	} else if (IS("daemon", "log_level")) {
		lv = ipwd_log_level_parse(v);
		if (lv < 0)
			return "must be error, warn, info or debug";
		c->log_level = lv;
	} else if (IS("daemon", "shutdown_timeout")) {
		if (get_duration(v, 3600, &u))
			return "must be a duration up to 1h (e.g. 10s)";
		c->shutdown_timeout = (unsigned)u;
	} else if (IS("http", "listen")) {
		if (ipwd_http_check_listen(v) != 0)
			return "expected ADDR:PORT or [IPV6]:PORT (empty: no "
			       "TCP)";
		set_str(&c->listen, v);
	} else if (IS("http", "socket")) {
		if (strlen(v) >= 108)
			return "unix socket path longer than 107 bytes";
		set_str(&c->socket, v);
	} else if (IS("http", "threads")) {
		if (ipwd_parse_uint(v, 256, &u))
			return "must be 0 (one per CPU) to 256";
		c->threads = (unsigned)u;
	} else if (IS("http", "blocking_threads")) {
		if (ipwd_parse_uint(v, 1024, &u) || u == 0)
			return "must be 1 to 1024";
		c->blocking_threads = (unsigned)u;
	} else if (IS("http", "max_connections")) {
		if (ipwd_parse_uint(v, 1000000, &u) || u == 0)
			return "must be 1 to 1000000";
		c->max_connections = (unsigned)u;
	} else if (IS("http", "max_connections_per_ip")) {
		if (ipwd_parse_uint(v, 1000000, &u))
			return "must be 0 (no limit) to 1000000";
		c->max_connections_per_ip = (unsigned)u;
	} else if (IS("http", "timeout")) {
		if (get_duration(v, 86400, &u) || u == 0)
			return "must be a duration from 1s to 1d";
		c->timeout = (unsigned)u;
	} else if (IS("http", "max_header")) {
		if (ipwd_parse_size(v, &z) || z < 1024 || z > (1u << 20))
			return "must be a size from 1k to 1M";
		c->max_header = z;
	} else if (IS("http", "max_body")) {
		if (ipwd_parse_size(v, &z) || z < 1024 || z > (1ull << 30))
			return "must be a size from 1k to 1G";
		c->max_body = z;
	} else if (IS("http", "max_batch")) {
		if (ipwd_parse_uint(v, 10000000, &u) || u == 0)
			return "must be 1 to 10000000";
		c->max_batch = (unsigned)u;
	} else if (IS("auth", "tokens_file")) {
		if (*v == '\0')
			return "must not be empty";
		set_str(&c->tokens_file, v);
		c->tokens_file_set = true;
	} else if (IS("auth", "protect_reads")) {
		if (ipwd_parse_bool(v, &b))
			return "must be yes or no";
		c->protect_reads = b;
	} else if (IS("table", "max_entries")) {
		if (ipwd_parse_uint(v, 1u << 30, &u) || u == 0)
			return "must be 1 to 1073741824";
		c->max_entries = (uint32_t)u;
	} else if (IS("table", "default_ban_ttl")) {
		if (get_duration(v, UINT32_MAX, &u))
			return "must be a duration (0 = permanent)";
		c->default_ban_ttl = u;
	} else if (IS("table", "hit_sample")) {
		if (ipwd_parse_uint(v, 65536, &u) || u == 0 || (u & (u - 1)))
			return "must be a power of two from 1 to 65536";
		c->hit_sample = (uint32_t)u;
	} else if (IS("table", "purge_interval")) {
		if (get_duration(v, 3600, &u) || u == 0)
			return "must be a duration from 1s to 1h";
		c->purge_interval = (unsigned)u;
	} else if (IS("table", "mode")) {
		if (strcmp(v, "denylist") == 0)
			c->mode = IPW_MODE_DENYLIST;
		else if (strcmp(v, "allowlist") == 0)
			c->mode = IPW_MODE_ALLOWLIST;
		else
			return "must be denylist or allowlist";
	} else if (IS("store", "path")) {
		set_str(&c->store_path, strcmp(v, "none") == 0 ? "" : v);
	} else if (IS("store", "sync")) {
		if (strcmp(v, "full") == 0)
			c->sync = IPWD_SYNC_FULL;
		else if (strcmp(v, "batch") == 0)
			c->sync = IPWD_SYNC_BATCH;
		else if (strcmp(v, "off") == 0)
			c->sync = IPWD_SYNC_OFF;
		else
			return "must be full, batch or off";
	} else if (IS("store", "history_retention")) {
		if (get_duration(v, 100ull * 366 * 86400, &u))
			return "must be a duration up to 100 years (365d, 12h, "
			       "...) or 0 (keep the history for ever)";
		c->history_retention = u;
	} else if (IS("audit", "log")) {
		set_str(&c->audit_log, strcmp(v, "none") == 0 ? "" : v);
	} else {
		*known = false;
	}
#undef IS
	return NULL;
}

static int on_key(void *user, const char *sec, const char *key,
		  const char *value)
{
	static const char *const sections[] = {"daemon", "http",  "auth",
					       "table",	 "store", "audit"};
	struct loader *l = user;
	const char *why;
	bool known;
	size_t i;

	why = set_key(l->cfg, sec, key, value, &known);
	if (why) {
		problem(l, "[%s] %s = \"%s\": %s", sec, key, value, why);
	} else if (!known) {
		for (i = 0; i < sizeof(sections) / sizeof(sections[0]); i++)
			if (strcmp(sec, sections[i]) == 0)
				break;
		if (*sec == '\0')
			problem(l, "\"%s\" outside any [section]", key);
		else if (i == sizeof(sections) / sizeof(sections[0]))
			problem(l, "unknown section [%s]", sec);
		else
			problem(l, "unknown key \"%s\" in [%s]", key, sec);
	}
	return 1; /* keep going: report every problem */
}

/* inih's line reader: one physical line per call, counted. A line longer
 * than inih's buffer is an error of its own (inih would split it). */
static char *read_line(char *str, int num, void *stream)
{
	struct loader *l = stream;
	ssize_t n = getline(&l->buf, &l->bufsize, l->f);
	size_t content;

	if (n < 0)
		return NULL;
	l->line++;
	/* The line without its "\n" or "\r\n"; num is LINE_MAX_BYTES + 3,
	 * room for both and the NUL. */
	content = (size_t)n;
	if (content && l->buf[content - 1] == '\n')
		content--;
	if (content && l->buf[content - 1] == '\r')
		content--;
	if (content > LINE_MAX_BYTES || (size_t)n + 1 > (size_t)num) {
		problem(l, "line longer than %d bytes", LINE_MAX_BYTES);
		str[0] = '\n';
		str[1] = '\0';
		return str;
	}
	memcpy(str, l->buf, (size_t)n + 1);
	return str;
}

static void defaults(struct ipwd_config *c)
{
	char host[256];

	memset(c, 0, sizeof(*c));
	set_str(&c->data_dir, IPWD_DEFAULT_DATA_DIR);
	if (gethostname(host, sizeof(host)) != 0 || host[0] == '\0')
		strcpy(host, "localhost");
	host[63] = '\0';
	set_str(&c->node, host);
	c->log_level = IPWD_LOG_INFO;
	c->shutdown_timeout = 10;
	set_str(&c->listen, IPWD_DEFAULT_LISTEN);
	c->threads = 0;
	c->blocking_threads = 64;
	c->history_retention = 365 * 86400;
	c->max_connections = 1024;
	c->max_connections_per_ip = 0;
	c->timeout = 30;
	c->max_header = 8192;
	c->max_body = 64u << 20;
	c->max_batch = 100000;
	c->protect_reads = false;
	c->max_entries = 4000000;
	c->default_ban_ttl = 0;
	c->hit_sample = 64;
	c->purge_interval = 1;
	c->mode = IPW_MODE_DENYLIST;
}

int ipwd_config_load(struct ipwd_config *cfg, const char *path,
		     const struct ipwd_overrides *ov)
{
	struct loader l = {.cfg = cfg, .path = path};
	char p[PATH_MAX];
	int rc;

	defaults(cfg);
	if (path) {
		l.f = fopen(path, "r");
		if (l.f == NULL) {
			fprintf(stderr, "%s: %s\n", path, strerror(errno));
			l.errors++;
			goto finish; /* *cfg still gets defaults and flags */
		}
		ini_allow_multiline = false;
		ini_max_line = LINE_MAX_BYTES + 3;
		rc = ini_parse_stream(read_line, &l, on_key, &l);
		if (rc > 0 && rc != l.last_error_line) {
			l.line = rc;
			problem(&l, "syntax error: expected [section] or "
				    "key = value");
		} else if (rc < 0) {
			fprintf(stderr, "%s: cannot parse (out of memory)\n",
				path);
			l.errors++;
		}
		free(l.buf);
		fclose(l.f);
	}
finish:
	if (ov && ov->listen)
		set_str(&cfg->listen, ov->listen);
	if (ov && ov->data_dir)
		set_str(&cfg->data_dir, ov->data_dir);
	if (cfg->socket == NULL) {
		snprintf(p, sizeof(p), "%s/ipwalld.sock", cfg->data_dir);
		set_str(&cfg->socket, p);
	}
	if (cfg->tokens_file == NULL) {
		snprintf(p, sizeof(p), "%s/tokens", cfg->data_dir);
		set_str(&cfg->tokens_file, p);
	}
	if (cfg->store_path == NULL) {
		snprintf(p, sizeof(p), "%s/ipwall.db", cfg->data_dir);
		set_str(&cfg->store_path, p);
	}
	if (cfg->audit_log == NULL) {
		snprintf(p, sizeof(p), "%s/audit.log", cfg->data_dir);
		set_str(&cfg->audit_log, p);
	}
	if (strlen(cfg->socket) >= 108) {
		fprintf(stderr,
			"%s: unix socket path \"%s\" longer than 107 bytes\n",
			path ? path : "ipwalld", cfg->socket);
		l.errors++;
	}
	return l.errors;
}

void ipwd_config_free(struct ipwd_config *cfg)
{
	free(cfg->data_dir);
	free(cfg->node);
	free(cfg->listen);
	free(cfg->socket);
	free(cfg->tokens_file);
	free(cfg->store_path);
	free(cfg->audit_log);
	memset(cfg, 0, sizeof(*cfg));
}
