// SPDX-License-Identifier: MIT
/*
 * ipwall import and export: list files in and out of the daemon.
 *
 * Import reads the whole input first (a file or standard input; a
 * million-line list is some 20 MB) and parses every line with
 * ipw_listfile_parse_line(), reporting each bad line as "FILE:LINE:
 * message". Only then does it send anything, so that --strict can load
 * nothing when any line is bad, and so that a read error never leaves half
 * a file loaded. The parsed entries are kept compactly (a 20-byte address,
 * the line number and a pointer to the comment in the input buffer).
 *
 * Bans go in POST /v1/bans/batch requests of --batch items. Each batch is
 * built as a jansson tree and serialised with json_dumpb() into one buffer
 * reused for every batch; the values every item shares (ttl, a --reason,
 * source) are one jansson value referenced by each item rather than copied.
 * All requests go over one connection (keep-alive). Allows have no batch
 * endpoint and are sent one POST /v1/allow each, over the same connection.
 * A line's comment becomes the entry's reason unless --reason is given,
 * cut to the API's 255 bytes at a character boundary.
 *
 * Export follows the `next` cursor of GET /v1/bans (or /v1/allow) in pages
 * of 10000 and writes one target per line, with the reason as a comment,
 * under a "# ipwall export" header: a file import reads back. A named
 * output file is written under a temporary name and renamed into place
 * when complete, so a failed export never leaves a truncated list behind.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <ipwall/addr.h>
#include <ipwall/listfile.h>

#include "cli.h"

#define MAX_REASON 255 /* docs/api.md: string_too_long */

struct item {
	struct ipw_addr target;
	unsigned comment_len;
	size_t line;
	const char *comment;
};

struct summary {
	size_t lines, entries, bad;
	size_t added, extended, unchanged, refused, not_sent;
};

/* Read all of @f into @b. */
static int read_all(FILE *f, struct cli_buf *b)
{
	char chunk[65536];
	size_t n;

	while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0)
		if (cli_buf_add(b, chunk, n))
			return -1;
	return ferror(f) ? -1 : 0;
}

/* How much of a comment fits a reason: at most MAX_REASON bytes, cut
 * before a UTF-8 continuation byte rather than inside a character. */
static unsigned reason_len(const char *c, size_t len)
{
	if (len <= MAX_REASON)
		return (unsigned)len;
	len = MAX_REASON;
	while (len > 0 && ((unsigned char)c[len] & 0xc0) == 0x80)
		len--;
	return (unsigned)len;
}

/* Split @in into lines and parse each; bad lines are reported. */
static int parse_all(const char *name, const struct cli_buf *in,
		     struct item **out, struct summary *s)
{
	const char *p = in->data, *end = in->data + in->len;
	struct item *items = NULL;
	size_t cap = 0;

	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		size_t len = nl ? (size_t)(nl - p) : (size_t)(end - p);
		struct ipw_listline l;
		size_t pos = 0;
		int rc;

		s->lines++;
		rc = ipw_listfile_parse_line(p, len, &l, &pos);
		if (rc < 0) {
			char q[400];

			cli_quote(p, len, 80, q, sizeof(q));
			fprintf(stderr, "%s:%zu: %s (column %zu): \"%s\"\n",
				name, s->lines, ipw_strerror(rc), pos + 1, q);
			s->bad++;
		} else if (rc > 0) {
			if (s->entries == cap) {
				struct item *n;

				cap = cap ? cap * 2 : 4096;
				n = realloc(items, cap * sizeof(*items));
				if (!n) {
					free(items);
					return cli_error(CLI_EXIT_USAGE,
							 "out of memory");
				}
				items = n;
			}
			items[s->entries].target = l.target;
			items[s->entries].line = s->lines;
			items[s->entries].comment = l.comment;
			items[s->entries].comment_len =
				reason_len(l.comment, l.comment_len);
			s->entries++;
		}
		p = nl ? nl + 1 : end;
	}
	*out = items;
	return 0;
}

/* The values every item shares. */
struct shared {
	json_t *ttl, *reason, *source;
};

static json_t *item_json(const struct item *it, const struct shared *sh)
{
	char canon[IPW_ADDR_STRLEN];
	json_t *o = json_object();
	int n = ipw_addr_format(&it->target, canon, sizeof(canon));

	if (!o || n < 0) {
		json_decref(o);
		return NULL;
	}
	json_object_set_new_nocheck(o, "target",
				    json_stringn_nocheck(canon, (size_t)n));
	if (sh->ttl)
		json_object_set_nocheck(o, "ttl", sh->ttl);
	if (sh->reason) {
		json_object_set_nocheck(o, "reason", sh->reason);
	} else if (it->comment_len) {
		/* NULL (not UTF-8): the entry goes in without a reason. */
		json_t *r = json_stringn(it->comment, it->comment_len);

		if (r)
			json_object_set_new_nocheck(o, "reason", r);
	}
	json_object_set_nocheck(o, "source", sh->source);
	return o;
}

static size_t count_of(const json_t *body, const char *name)
{
	json_int_t v = json_integer_value(json_object_get(body, name));

	return v > 0 ? (size_t)v : 0;
}

/* Report the items of one batch the table refused. */
static void report_refused(const char *name, const struct item *batch, size_t n,
			   const json_t *body)
{
	const json_t *errs = json_object_get(body, "errors"), *e;
	size_t i, listed = 0, failed = count_of(body, "failed");

	json_array_foreach(errs, i, e)
	{
		json_int_t idx =
			json_integer_value(json_object_get(e, "index"));
		const char *msg =
			json_string_value(json_object_get(e, "message"));
		const char *code =
			json_string_value(json_object_get(e, "code"));
		char canon[IPW_ADDR_STRLEN] = "?", pm[512], pc[64];

		if (idx < 0 || (size_t)idx >= n)
			continue;
		ipw_addr_format(&batch[idx].target, canon, sizeof(canon));
		fprintf(stderr, "%s:%zu: %s refused by the daemon: %s (%s)\n",
			name, batch[idx].line, canon,
			cli_printable(msg ? msg : "refused", pm, sizeof(pm)),
			cli_printable(code ? code : "no code", pc, sizeof(pc)));
		listed++;
	}
	if (failed > listed)
		fprintf(stderr,
			"%s: %zu more entries of this batch refused by the "
			"daemon (not listed)\n",
			name, failed - listed);
}

/* Apply one ban/allow result to the summary. */
static void count_result(struct summary *s, const char *res)
{
	if (!res)
		return;
	if (strcmp(res, "added") == 0)
		s->added++;
	else if (strcmp(res, "extended") == 0)
		s->extended++;
	else if (strcmp(res, "unchanged") == 0)
		s->unchanged++;
}

static int send_bans(struct cli_conn *c, const char *name,
		     const struct item *items, const struct cli_import_opts *o,
		     const struct shared *sh, struct summary *s)
{
	struct cli_buf text = {0};
	int rc = 0;

	for (size_t start = 0; start < s->entries; start += o->batch) {
		size_t n = s->entries - start < o->batch ? s->entries - start :
							   o->batch;
		json_t *root = json_object(), *arr = json_array();
		struct cli_reply r;
		size_t len;

		if (!root || !arr ||
		    json_object_set_new_nocheck(root, "items", arr)) {
			json_decref(root);
			rc = cli_error(CLI_EXIT_UNAVAILABLE, "out of memory");
			break;
		}
		for (size_t i = 0; i < n; i++) {
			json_t *it = item_json(&items[start + i], sh);

			if (!it || json_array_append_new(arr, it)) {
				rc = cli_error(CLI_EXIT_UNAVAILABLE,
					       "out of memory");
				break;
			}
		}
		if (rc) {
			json_decref(root);
			break;
		}
		len = json_dumpb(root, text.data, text.cap, JSON_COMPACT);
		if (len >= text.cap) {
			text.len = 0;
			if (cli_buf_reserve(&text, len)) {
				json_decref(root);
				rc = CLI_EXIT_UNAVAILABLE;
				break;
			}
			len = json_dumpb(root, text.data, text.cap,
					 JSON_COMPACT);
		}
		json_decref(root);
		if (len == 0 || len >= text.cap) {
			rc = cli_error(CLI_EXIT_UNAVAILABLE,
				       "cannot serialise a batch");
			break;
		}

		rc = cli_request(c, "POST", "/v1/bans/batch", text.data, len,
				 &r);
		if (rc)
			break;
		if (r.status != 200 ||
		    !json_is_integer(json_object_get(r.body, "added"))) {
			json_int_t idx = -1;
			char ctx[600] = "";
			const json_t *e = json_object_get(r.body, "error");

			if (json_is_integer(json_object_get(e, "index")))
				idx = json_integer_value(
					json_object_get(e, "index"));
			if (idx >= 0 && (size_t)idx < n)
				snprintf(ctx, sizeof(ctx), "%s:%zu: ", name,
					 items[start + idx].line);
			rc = cli_reply_fail(&r, ctx);
			json_decref(r.body);
			break;
		}
		s->added += count_of(r.body, "added");
		s->extended += count_of(r.body, "extended");
		s->unchanged += count_of(r.body, "unchanged");
		s->refused += count_of(r.body, "failed");
		report_refused(name, items + start, n, r.body);
		json_decref(r.body);
	}
	cli_buf_free(&text);
	return rc;
}

static int send_allows(struct cli_conn *c, const char *name,
		       const struct item *items, const struct shared *sh,
		       struct summary *s)
{
	for (size_t i = 0; i < s->entries; i++) {
		json_t *o = item_json(&items[i], sh);
		char *text = o ? json_dumps(o, JSON_COMPACT) : NULL;
		struct cli_reply r;
		char ctx[600];
		int rc;

		json_decref(o);
		if (!text)
			return cli_error(CLI_EXIT_UNAVAILABLE, "out of memory");
		rc = cli_request(c, "POST", "/v1/allow", text, strlen(text),
				 &r);
		free(text);
		if (rc)
			return rc;
		if (r.status == 200 || r.status == 201) {
			count_result(s, json_string_value(json_object_get(
						r.body, "result")));
		} else if (r.status >= 400 && r.status < 500 &&
			   r.status != 401 && r.status != 403) {
			/* This entry is refused; the others may not be. */
			snprintf(ctx, sizeof(ctx), "%s:%zu: ", name,
				 items[i].line);
			cli_reply_fail(&r, ctx);
			s->refused++;
		} else {
			snprintf(ctx, sizeof(ctx), "%s:%zu: ", name,
				 items[i].line);
			rc = cli_reply_fail(&r, ctx);
			json_decref(r.body);
			return rc;
		}
		json_decref(r.body);
	}
	return 0;
}

static void print_summary(const char *name, const struct cli_import_opts *o,
			  const struct summary *s, bool json)
{
	const char *list = o->allows ? "allows" : "bans";

	if (json) {
		json_t *j = json_pack(
			"{s:s, s:s, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, "
			"s:b}",
			"file", name, "list", list, "lines",
			(json_int_t)s->lines, "entries", (json_int_t)s->entries,
			"bad_lines", (json_int_t)s->bad, "added",
			(json_int_t)s->added, "extended",
			(json_int_t)s->extended, "unchanged",
			(json_int_t)s->unchanged, "refused",
			(json_int_t)s->refused, "not_sent",
			(json_int_t)s->not_sent, "strict", o->strict);

		if (j)
			cli_print_json(j);
		json_decref(j);
		return;
	}
	printf("%s: %zu lines read, %zu %s: %zu added, %zu extended, "
	       "%zu unchanged; %zu bad lines; %zu refused by the daemon",
	       name, s->lines, s->entries, list, s->added, s->extended,
	       s->unchanged, s->bad, s->refused);
	if (s->not_sent)
		printf("; %zu not sent", s->not_sent);
	printf("\n");
}

int cli_cmd_import(struct cli_conn *c, const struct cli_target *t,
		   const struct cli_import_opts *o)
{
	bool use_stdin = strcmp(o->file, "-") == 0;
	const char *name = use_stdin ? "<stdin>" : o->file;
	struct cli_buf in = {0};
	struct summary s = {0};
	struct shared sh = {0};
	struct item *items = NULL;
	FILE *f;
	int rc;

	f = use_stdin ? stdin : fopen(o->file, "r");
	if (!f)
		return cli_error(CLI_EXIT_USAGE, "cannot open %s: %s", o->file,
				 strerror(errno));
	rc = read_all(f, &in);
	if (rc)
		rc = cli_error(CLI_EXIT_USAGE, "cannot read %s: %s", name,
			       strerror(errno));
	if (!use_stdin)
		fclose(f);
	if (rc)
		goto out;

	rc = parse_all(name, &in, &items, &s);
	if (rc)
		goto out;
	if (o->strict && s.bad) {
		s.not_sent = s.entries;
		if (t->json)
			print_summary(name, o, &s, true);
		rc = cli_error(CLI_EXIT_USAGE,
			       "%s: %zu bad line%s; nothing loaded (--strict)",
			       name, s.bad, s.bad == 1 ? "" : "s");
		goto out;
	}

	sh.source = json_string("import");
	if (o->has_ttl)
		sh.ttl = json_integer((json_int_t)o->ttl);
	if (o->reason)
		sh.reason = json_string(o->reason);
	if (!sh.source || (o->has_ttl && !sh.ttl) ||
	    (o->reason && !sh.reason)) {
		rc = cli_error(CLI_EXIT_UNAVAILABLE, "out of memory");
		goto out;
	}

	if (o->allows)
		rc = send_allows(c, name, items, &sh, &s);
	else
		rc = send_bans(c, name, items, o, &sh, &s);
	s.not_sent = s.entries - s.added - s.extended - s.unchanged - s.refused;
	print_summary(name, o, &s, t->json);
	if (!rc && s.bad)
		rc = CLI_EXIT_USAGE;
	else if (!rc && s.refused)
		rc = CLI_EXIT_REFUSED;
out:
	json_decref(sh.source);
	json_decref(sh.ttl);
	json_decref(sh.reason);
	free(items);
	cli_buf_free(&in);
	return rc;
}

/* Write a reason as a comment: control bytes become spaces, so the line
 * stays one line. */
static void put_comment(FILE *out, const char *r)
{
	fputs(" # ", out);
	for (; *r; r++)
		fputc((unsigned char)*r < 0x20 || *r == 0x7f ? ' ' : *r, out);
}

/* Open FILE.XXXXXX next to @file, with the permissions a new @file would
 * get. */
static FILE *open_temp(const char *file, char **tmp)
{
	mode_t mask = umask(0);
	FILE *f;
	int fd;

	umask(mask);
	*tmp = malloc(strlen(file) + 8);
	if (!*tmp) {
		errno = ENOMEM;
		return NULL;
	}
	sprintf(*tmp, "%s.XXXXXX", file);
	fd = mkstemp(*tmp);
	if (fd < 0) {
		free(*tmp);
		*tmp = NULL;
		return NULL;
	}
	fchmod(fd, 0666 & ~mask);
	f = fdopen(fd, "w");
	if (!f) {
		close(fd);
		unlink(*tmp);
		free(*tmp);
		*tmp = NULL;
	}
	return f;
}

int cli_cmd_export(struct cli_conn *c, const struct cli_target *t, bool allows,
		   const char *file)
{
	const char *list = allows ? "allows" : "bans";
	bool to_stdout = !file || strcmp(file, "-") == 0;
	struct cli_buf path = {0};
	char *tmp = NULL, *cursor = NULL, now[32];
	size_t count = 0;
	time_t tnow = time(NULL);
	struct tm tm;
	FILE *out;
	int rc = 0;

	gmtime_r(&tnow, &tm);
	strftime(now, sizeof(now), "%Y-%m-%dT%H:%M:%SZ", &tm);
	out = to_stdout ? stdout : open_temp(file, &tmp);
	if (!out)
		return cli_error(CLI_EXIT_USAGE, "cannot create %s: %s", file,
				 strerror(errno));
	if (t->json)
		fprintf(out,
			"{\"list\": \"%s\", \"exported_at\": \"%s\", "
			"\"items\": [",
			list, now);
	else
		fprintf(out, "# ipwall export %s %s\n", list, now);

	for (;;) {
		const json_t *items, *next, *e;
		struct cli_reply r;
		size_t i;

		path.len = 0;
		if (cli_buf_addf(&path, "/v1/%s?limit=10000",
				 allows ? "allow" : "bans") ||
		    (cursor && cli_buf_param(&path, "cursor", cursor))) {
			rc = CLI_EXIT_UNAVAILABLE;
			break;
		}
		rc = cli_request(c, "GET", path.data, NULL, 0, &r);
		if (rc)
			break;
		items = json_object_get(r.body, "items");
		next = json_object_get(r.body, "next");
		if (r.status != 200 || !json_is_array(items) ||
		    !(json_is_null(next) || json_is_string(next))) {
			rc = cli_reply_fail(&r, NULL);
			json_decref(r.body);
			break;
		}
		json_array_foreach(items, i, e)
		{
			const char *tg =
				json_string_value(json_object_get(e, "target"));
			const char *reason =
				json_string_value(json_object_get(e, "reason"));
			struct ipw_addr a;

			/* Write only what import will read back. */
			if (!tg || ipw_addr_parse_str(tg, 0, &a) != 0) {
				char q[64];

				rc = cli_error(CLI_EXIT_UNAVAILABLE,
					       "protocol error: an entry whose "
					       "target is not an address: %s",
					       cli_printable(tg ? tg : "(none)",
							     q, sizeof(q)));
				break;
			}
			if (t->json) {
				fputs(count ? ",\n" : "\n", out);
				json_dumpf(e, out,
					   JSON_COMPACT | JSON_PRESERVE_ORDER);
			} else {
				fputs(tg, out);
				if (reason && *reason)
					put_comment(out, reason);
				fputc('\n', out);
			}
			count++;
		}
		if (rc || json_is_null(next)) {
			json_decref(r.body);
			break;
		}
		rc = cli_next_cursor(&cursor, next);
		json_decref(r.body);
		if (rc)
			break;
	}
	if (t->json)
		fputs("\n]}\n", out);
	free(cursor);
	cli_buf_free(&path);

	if (to_stdout)
		return rc;
	if (fflush(out) == EOF || ferror(out) || fsync(fileno(out))) {
		if (!rc)
			rc = cli_error(CLI_EXIT_USAGE, "cannot write %s: %s",
				       tmp, strerror(errno));
	}
	if (fclose(out) == EOF && !rc)
		rc = cli_error(CLI_EXIT_USAGE, "cannot write %s: %s", tmp,
			       strerror(errno));
	if (!rc && rename(tmp, file) != 0)
		rc = cli_error(CLI_EXIT_USAGE, "cannot rename %s to %s: %s",
			       tmp, file, strerror(errno));
	if (rc)
		unlink(tmp);
	else if (!t->json)
		printf("exported %zu %s to %s\n", count, list, file);
	free(tmp);
	return rc;
}
