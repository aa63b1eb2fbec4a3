/* SPDX-License-Identifier: MIT */
/*
 * The configuration engine (see conf.h).
 *
 * inih splits the file into (section, key, value); the schema gives them
 * meaning. To report every problem with its line, the file is fed to
 * inih through our own line reader (ini_parse_stream), which counts
 * lines; multi-line values are turned off so that one reader call is one
 * line. inih itself reports only the first syntax error (a line that is
 * neither "[section]" nor "key = value").
 *
 * A key is found by a linear walk of the table (a few dozen keys, read
 * once per start or reload).
 */
#include <errno.h>
#include <ini.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <ipwall/duration.h>

#include "base/conf.h"

#define LINE_MAX_BYTES	  4096
#define INSTANCE_NAME_MAX 32

struct reader {
	const struct ipwd_conf_schema *s;
	void *cfg;
	const char *path;
	FILE *f;
	int line;
	int errors;
	int last_error_line;
	char *buf;
	size_t bufsize;
};

static void problem(struct reader *r, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static void problem(struct reader *r, const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "%s:%d: ", r->path, r->line);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	r->errors++;
	r->last_error_line = r->line;
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

static char *dup_or_die(const char *v)
{
	char *c = strdup(v);

	if (c == NULL) {
		fprintf(stderr, "ipwalld: out of memory\n");
		exit(1);
	}
	return c;
}

static void put_uint(void *field, size_t size, uint64_t v)
{
	switch (size) {
	case 1:
		*(uint8_t *)field = (uint8_t)v;
		break;
	case 2:
		*(uint16_t *)field = (uint16_t)v;
		break;
	case 4:
		*(uint32_t *)field = (uint32_t)v;
		break;
	default:
		*(uint64_t *)field = v;
		break;
	}
}

/* Parse @v for @k into @base + k->offset: NULL or what is wrong. */
static const char *set_value(const struct ipwd_conf_key *k, void *base,
			     const char *v)
{
	void *field = (char *)base + k->offset;
	const char *why;
	uint64_t u;
	size_t z, i;
	bool b;

	switch (k->type) {
	case IPWD_CONF_STR:
		if ((k->flags & IPWD_CONF_NONEMPTY) && *v == '\0')
			return k->why;
		if (k->max && strlen(v) > k->max)
			return k->why;
		if (k->check && (why = k->check(v)) != NULL)
			return why;
		free(*(char **)field);
		*(char **)field =
			dup_or_die((k->flags & IPWD_CONF_NONE_EMPTY) &&
						   strcmp(v, "none") == 0 ?
					   "" :
					   v);
		return NULL;
	case IPWD_CONF_UINT:
		if (ipwd_parse_uint(v, k->max, &u) || u < k->min)
			return k->why;
		if ((k->flags & IPWD_CONF_POW2) && (u & (u - 1)))
			return k->why;
		put_uint(field, k->size, u);
		return NULL;
	case IPWD_CONF_SIZE:
		if (ipwd_parse_size(v, &z) || z < k->min || z > k->max)
			return k->why;
		put_uint(field, k->size, z);
		return NULL;
	case IPWD_CONF_DURATION:
		if (ipw_duration_parse(v, strlen(v), &u, NULL) != 0 ||
		    u < k->min || u > k->max)
			return k->why;
		put_uint(field, k->size, u);
		return NULL;
	case IPWD_CONF_BOOL:
		if (ipwd_parse_bool(v, &b))
			return k->why;
		*(bool *)field = b;
		return NULL;
	case IPWD_CONF_ENUM:
		for (i = 0; k->names[i]; i++)
			if (strcmp(v, k->names[i]) == 0) {
				*(int *)field = (int)i;
				return NULL;
			}
		return k->why;
	case IPWD_CONF_FUNC:
		return k->parse(field, v);
	}
	return k->why;
}

static void key_defaults(const struct ipwd_conf_schema *s, const char *section,
			 void *base)
{
	size_t i;

	for (i = 0; i < s->nkeys; i++) {
		const struct ipwd_conf_key *k = &s->keys[i];

		if (k->def && strcmp(k->section, section) == 0 &&
		    set_value(k, base, k->def) != NULL) {
			/* a default the table's own parser refuses */
			fprintf(stderr, "ipwalld: bad default [%s] %s = %s\n",
				k->section, k->name, k->def);
			abort();
		}
	}
}

void ipwd_conf_defaults(const struct ipwd_conf_schema *s, void *cfg)
{
	size_t i;

	for (i = 0; i < s->nsections; i++)
		if (!s->sections[i].named)
			key_defaults(s, s->sections[i].name, cfg);
}

static const struct ipwd_conf_section *
find_section(const struct ipwd_conf_schema *s, const char *name, size_t len)
{
	size_t i;

	for (i = 0; i < s->nsections; i++)
		if (strlen(s->sections[i].name) == len &&
		    memcmp(s->sections[i].name, name, len) == 0)
			return &s->sections[i];
	return NULL;
}

static const struct ipwd_conf_key *find_key(const struct ipwd_conf_schema *s,
					    const char *section,
					    const char *name)
{
	size_t i;

	for (i = 0; i < s->nkeys; i++)
		if (strcmp(s->keys[i].section, section) == 0 &&
		    strcmp(s->keys[i].name, name) == 0)
			return &s->keys[i];
	return NULL;
}

struct ipwd_conf_instance *
ipwd_conf_instance_find(struct ipwd_conf_instance *head, const char *name)
{
	for (; head; head = head->next)
		if (strcmp(head->name, name) == 0)
			return head;
	return NULL;
}

static bool good_instance_name(const char *n)
{
	size_t len = strlen(n);

	if (len == 0 || len > INSTANCE_NAME_MAX)
		return false;
	return strspn(n, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
			 "0123456789_.-") == len;
}

/* The instance of @sec called @name, made (with its defaults) if new;
 * NULL (reported) if the name is bad or there are too many. */
static void *instance(struct reader *r, const struct ipwd_conf_section *sec,
		      const char *name)
{
	struct ipwd_conf_instance **head =
		(struct ipwd_conf_instance **)((char *)r->cfg +
					       sec->list_offset);
	struct ipwd_conf_instance *in, **tail;
	unsigned n = 0;

	for (tail = head; *tail; tail = &(*tail)->next, n++)
		if (strcmp((*tail)->name, name) == 0)
			return *tail;
	if (!good_instance_name(name)) {
		problem(r,
			"[%s %s]: a section name is 1 to %d bytes of "
			"A-Z a-z 0-9 _ . -",
			sec->name, name, INSTANCE_NAME_MAX);
		return NULL;
	}
	if (sec->max && n >= sec->max) {
		problem(r, "[%s %s]: more than %u [%s ...] sections", sec->name,
			name, sec->max, sec->name);
		return NULL;
	}
	in = calloc(1, sec->size);
	if (in == NULL) {
		fprintf(stderr, "ipwalld: out of memory\n");
		exit(1);
	}
	in->name = dup_or_die(name);
	key_defaults(r->s, sec->name, in);
	*tail = in;
	return in;
}

static int on_key(void *user, const char *section, const char *key,
		  const char *value)
{
	struct reader *r = user;
	const struct ipwd_conf_section *sec;
	const struct ipwd_conf_key *k;
	const char *space = strchr(section, ' ');
	size_t kind_len = space ? (size_t)(space - section) : strlen(section);
	const char *why;
	void *base = r->cfg;

	if (*section == '\0') {
		problem(r, "\"%s\" outside any [section]", key);
		return 1;
	}
	sec = find_section(r->s, section, kind_len);
	if (sec == NULL || (sec->named != (space != NULL))) {
		if (sec && sec->named)
			problem(r, "section [%s] needs a name: [%s NAME]",
				section, section);
		else
			problem(r, "unknown section [%s]", section);
		return 1;
	}
	k = find_key(r->s, sec->name, key);
	if (k == NULL) {
		problem(r, "unknown key \"%s\" in [%s]", key, section);
		return 1;
	}
	if (sec->named) {
		base = instance(r, sec, space + 1);
		if (base == NULL)
			return 1;
	}
	why = set_value(k, base, value);
	if (why && (k->flags & IPWD_CONF_SECRET))
		problem(r, "[%s] %s: %s", section, key, why);
	else if (why)
		problem(r, "[%s] %s = \"%s\": %s", section, key, value, why);
	return 1; /* keep going: report every problem */
}

/* inih's line reader: one physical line per call, counted. A line longer
 * than inih's buffer is an error of its own (inih would split it). */
static char *read_line(char *str, int num, void *stream)
{
	struct reader *r = stream;
	ssize_t n = getline(&r->buf, &r->bufsize, r->f);
	size_t content;

	if (n < 0)
		return NULL;
	r->line++;
	/* The line without its "\n" or "\r\n"; num is LINE_MAX_BYTES + 3,
	 * room for both and the NUL. */
	content = (size_t)n;
	if (content && r->buf[content - 1] == '\n')
		content--;
	if (content && r->buf[content - 1] == '\r')
		content--;
	if (content > LINE_MAX_BYTES || (size_t)n + 1 > (size_t)num) {
		problem(r, "line longer than %d bytes", LINE_MAX_BYTES);
		str[0] = '\n';
		str[1] = '\0';
		return str;
	}
	/* inih reads the line as a C string: a NUL would cut it silently
	 * ("max_body = 1k\0..." read as 1k with no problem said). */
	if (memchr(r->buf, '\0', (size_t)n) != NULL) {
		problem(r, "line holds a NUL byte");
		str[0] = '\n';
		str[1] = '\0';
		return str;
	}
	memcpy(str, r->buf, (size_t)n + 1);
	return str;
}

int ipwd_conf_read(const struct ipwd_conf_schema *s, void *cfg,
		   const char *path)
{
	struct reader r = {.s = s, .cfg = cfg, .path = path};
	int rc;

	r.f = fopen(path, "r");
	if (r.f == NULL) {
		fprintf(stderr, "%s: %s\n", path, strerror(errno));
		return 1;
	}
	ini_allow_multiline = false;
	ini_max_line = LINE_MAX_BYTES + 3;
	rc = ini_parse_stream(read_line, &r, on_key, &r);
	if (rc > 0 && rc != r.last_error_line) {
		r.line = rc;
		problem(&r, "syntax error: expected [section] or key = value");
	} else if (rc < 0) {
		fprintf(stderr, "%s: cannot parse (out of memory)\n", path);
		r.errors++;
	}
	free(r.buf);
	fclose(r.f);
	return r.errors;
}

const char *ipwd_conf_set(const struct ipwd_conf_schema *s, void *cfg,
			  const char *section, const char *name,
			  const char *value)
{
	const struct ipwd_conf_key *k = find_key(s, section, name);

	return k ? set_value(k, cfg, value) : "no such key";
}

static bool same(const struct ipwd_conf_key *k, const void *a, const void *b)
{
	const void *fa = (const char *)a + k->offset;
	const void *fb = (const char *)b + k->offset;

	switch (k->type) {
	case IPWD_CONF_STR: {
		const char *x = *(char *const *)fa, *y = *(char *const *)fb;

		return strcmp(x ? x : "", y ? y : "") == 0;
	}
	case IPWD_CONF_BOOL:
		return *(const bool *)fa == *(const bool *)fb;
	case IPWD_CONF_ENUM:
		return *(const int *)fa == *(const int *)fb;
	default:
		return memcmp(fa, fb, k->size) == 0;
	}
}

void ipwd_conf_keep_restart(
	const struct ipwd_conf_schema *s, void *old, void *nw,
	void (*changed)(const struct ipwd_conf_key *k, void *ctx), void *ctx)
{
	size_t i;

	for (i = 0; i < s->nkeys; i++) {
		const struct ipwd_conf_key *k = &s->keys[i];
		const struct ipwd_conf_section *sec =
			find_section(s, k->section, strlen(k->section));
		char *fo, *fn, tmp[16];

		if (!(k->flags & IPWD_CONF_RESTART) || sec == NULL ||
		    sec->named)
			continue;
		if (!same(k, old, nw))
			changed(k, ctx);
		fo = (char *)old + k->offset;
		fn = (char *)nw + k->offset;
		/* swap: @nw gets the running value, @old the new one (freed
		 * with @old) */
		memcpy(tmp, fo, k->size);
		memcpy(fo, fn, k->size);
		memcpy(fn, tmp, k->size);
	}
}

void ipwd_conf_free(const struct ipwd_conf_schema *s, void *cfg)
{
	size_t i, j;

	for (i = 0; i < s->nsections; i++) {
		const struct ipwd_conf_section *sec = &s->sections[i];
		struct ipwd_conf_instance *in, *next;

		if (!sec->named)
			continue;
		in = *(struct ipwd_conf_instance **)((char *)cfg +
						     sec->list_offset);
		for (; in; in = next) {
			next = in->next;
			for (j = 0; j < s->nkeys; j++)
				if (s->keys[j].type == IPWD_CONF_STR &&
				    strcmp(s->keys[j].section, sec->name) == 0)
					free(*(char **)((char *)in +
							s->keys[j].offset));
			free(in->name);
			free(in);
		}
		*(struct ipwd_conf_instance **)((char *)cfg +
						sec->list_offset) = NULL;
	}
	for (j = 0; j < s->nkeys; j++) {
		const struct ipwd_conf_key *k = &s->keys[j];
		const struct ipwd_conf_section *sec =
			find_section(s, k->section, strlen(k->section));

		if (k->type == IPWD_CONF_STR && sec && !sec->named) {
			free(*(char **)((char *)cfg + k->offset));
			*(char **)((char *)cfg + k->offset) = NULL;
		}
	}
}
