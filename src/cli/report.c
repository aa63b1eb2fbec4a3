// SPDX-License-Identifier: MIT
/*
 * ipwall report --file: failure reports for the auto-ban engine from a
 * file, one event a line, sent as POST /v1/events batches (docs/api.md).
 *
 * A line is "IP TYPE [SERVICE [USER [DETAIL...]]]": fields split at
 * spaces and tabs, DETAIL the rest of the line. Blank lines and lines
 * starting with '#' are skipped. Nothing is checked here beyond what JSON
 * needs (UTF-8): the daemon checks every field with the words of its API,
 * and this file maps its answer back to the line.
 *
 * The input is read line by line (getline) and sent every BATCH_MAX
 * events, so memory is bounded by one batch and a pipe is reported as it
 * is read. The daemon refuses a batch whole when one event is bad, saying
 * which ("index"); that event's line is reported, the event is taken out
 * of the batch and the rest is sent again, so one bad line costs one more
 * request and loses no good line. Events the engine's queue had no room
 * for are counted as dropped (202 "dropped", or 429 events_queue_full for
 * a whole batch), not retried: the engine sheds load on purpose. Any
 * other refusal (a token, no_autoban, batch_too_large) or a failed
 * connection stops the command; the summary says what was not sent.
 *
 * Invariant of the summary: queued + dropped + bad + not_sent = events.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>

#include "cli.h"

#define BATCH_MAX 1000 /* events a request; [http] max_batch is 100000 */
#define NFIELDS	  5

static const char *const field_names[NFIELDS] = {"ip", "type", "service",
						 "user", "detail"};

struct summary {
	size_t lines, events, queued, dropped, bad, not_utf8, not_sent;
};

/* The request being filled: {"events": [...]} and each event's line. */
struct batch {
	json_t *root, *events;
	size_t line[BATCH_MAX];
	size_t n;
};

static bool is_blank(char ch)
{
	return ch == ' ' || ch == '\t';
}

/*
 * Split one line (without its '\n') into at most NFIELDS fields. Returns
 * the number of fields; 0 for a blank or comment line.
 */
static int split_line(const char *p, size_t len, const char *f[NFIELDS],
		      size_t flen[NFIELDS])
{
	const char *end = p + len;
	int n = 0;

	if (len && end[-1] == '\r')
		end--;
	while (end > p && is_blank(end[-1]))
		end--;
	while (p < end && is_blank(*p))
		p++;
	if (p == end || *p == '#')
		return 0;
	while (p < end && n < NFIELDS) {
		const char *s = p;

		if (n == NFIELDS - 1) {
			p = end; /* DETAIL: the rest of the line */
		} else {
			while (p < end && !is_blank(*p))
				p++;
		}
		f[n] = s;
		flen[n] = (size_t)(p - s);
		n++;
		while (p < end && is_blank(*p))
			p++;
	}
	return n;
}

/* Add one line's event to @b; a line that is not UTF-8 is reported. */
static int add_line(struct batch *b, const char *name, struct summary *s,
		    const char *p, size_t len)
{
	const char *f[NFIELDS];
	size_t flen[NFIELDS];
	int n = split_line(p, len, f, flen);
	json_t *ev;

	if (n == 0)
		return 0;
	s->events++;
	ev = json_object();
	if (!ev)
		return cli_error(CLI_EXIT_UNAVAILABLE, "out of memory");
	for (int i = 0; i < n; i++) {
		json_t *v = json_stringn(f[i], flen[i]);

		if (!v) {
			fprintf(stderr,
				"%s:%zu: %s is not valid UTF-8; line not "
				"sent\n",
				name, s->lines, field_names[i]);
			s->bad++;
			s->not_utf8++;
			json_decref(ev);
			return 0;
		}
		json_object_set_new_nocheck(ev, field_names[i], v);
	}
	if (json_array_append_new(b->events, ev))
		return cli_error(CLI_EXIT_UNAVAILABLE, "out of memory");
	b->line[b->n++] = s->lines;
	return 0;
}

static size_t count_of(const json_t *body, const char *name)
{
	json_int_t v = json_integer_value(json_object_get(body, name));

	return v > 0 ? (size_t)v : 0;
}

/* The daemon says "events[3]: ip: ..."; the line number replaces that. */
static const char *without_index(const char *msg)
{
	const char *p;

	if (strncmp(msg, "events[", 7) == 0 && (p = strstr(msg, "]: ")))
		return p + 3;
	return msg;
}

/* Take event @i (a line the daemon refused) out of the batch. */
static void drop_event(struct batch *b, size_t i)
{
	json_array_remove(b->events, i);
	memmove(&b->line[i], &b->line[i + 1], (b->n - i - 1) * sizeof(size_t));
	b->n--;
}

static void clear(struct batch *b)
{
	json_array_clear(b->events);
	b->n = 0;
}

/* Send the batch until the daemon takes it or refuses it for good. */
static int send_batch(struct cli_conn *c, const char *name, struct batch *b,
		      struct summary *s)
{
	while (b->n) {
		const json_t *err;
		struct cli_reply r;
		json_int_t idx = -1;
		char *text;
		int rc;

		text = json_dumps(b->root, JSON_COMPACT);
		if (!text)
			return cli_error(CLI_EXIT_UNAVAILABLE, "out of memory");
		rc = cli_request(c, "POST", "/v1/events", text, strlen(text),
				 &r);
		free(text);
		if (rc)
			return rc;
		if (r.status == 202 &&
		    json_is_integer(json_object_get(r.body, "queued"))) {
			s->queued += count_of(r.body, "queued");
			s->dropped += count_of(r.body, "dropped");
			json_decref(r.body);
			clear(b);
			return 0;
		}
		if (r.status == 429 &&
		    strcmp(cli_error_code(r.body), "events_queue_full") == 0) {
			s->dropped += b->n;
			json_decref(r.body);
			clear(b);
			return 0;
		}
		err = json_object_get(r.body, "error");
		if (json_is_integer(json_object_get(err, "index")))
			idx = json_integer_value(json_object_get(err, "index"));
		if (r.status == 400 && idx >= 0 && (size_t)idx < b->n) {
			char pm[1024], pc[128];

			fprintf(stderr,
				"%s:%zu: refused by the daemon: %s (%s)\n",
				name, b->line[idx],
				cli_printable(without_index(cli_error_message(
						      r.body)),
					      pm, sizeof(pm)),
				cli_printable(cli_error_code(r.body), pc,
					      sizeof(pc)));
			s->bad++;
			drop_event(b, (size_t)idx);
			json_decref(r.body);
			continue;
		}
		rc = cli_reply_fail(&r, NULL);
		json_decref(r.body);
		return rc;
	}
	return 0;
}

static void print_summary(const char *name, const struct summary *s, bool json)
{
	if (json) {
		json_t *j = json_pack(
			"{s:s, s:I, s:I, s:I, s:I, s:I, s:I}", "file", name,
			"lines", (json_int_t)s->lines, "events",
			(json_int_t)s->events, "queued", (json_int_t)s->queued,
			"dropped", (json_int_t)s->dropped, "bad_lines",
			(json_int_t)s->bad, "not_sent",
			(json_int_t)s->not_sent);

		if (j)
			cli_print_json(j);
		json_decref(j);
		return;
	}
	printf("%s: %zu lines read, %zu events: %zu queued, %zu dropped%s; "
	       "%zu bad lines",
	       name, s->lines, s->events, s->queued, s->dropped,
	       s->dropped ? " (the engine's queue was full)" : "", s->bad);
	if (s->not_sent)
		printf("; %zu not sent", s->not_sent);
	printf("\n");
}

int cli_cmd_report_file(struct cli_conn *c, const struct cli_target *t,
			const char *file)
{
	bool use_stdin = strcmp(file, "-") == 0;
	const char *name = use_stdin ? "<stdin>" : file;
	struct summary s = {0};
	struct batch *b;
	char *line = NULL;
	size_t cap = 0;
	ssize_t len;
	FILE *f;
	int rc = 0;

	b = calloc(1, sizeof(*b));
	if (b) {
		b->root = json_object();
		b->events = json_array();
	}
	if (!b || !b->root || !b->events ||
	    json_object_set_nocheck(b->root, "events", b->events)) {
		rc = cli_error(CLI_EXIT_UNAVAILABLE, "out of memory");
		goto out;
	}
	f = use_stdin ? stdin : fopen(file, "r");
	if (!f) {
		rc = cli_error(CLI_EXIT_USAGE, "cannot open %s: %s", file,
			       strerror(errno));
		goto out;
	}
	while (!rc && (len = getline(&line, &cap, f)) != -1) {
		s.lines++;
		if (len && line[len - 1] == '\n')
			len--;
		rc = add_line(b, name, &s, line, (size_t)len);
		if (!rc && b->n == BATCH_MAX)
			rc = send_batch(c, name, b, &s);
	}
	if (!rc && ferror(f))
		rc = cli_error(CLI_EXIT_USAGE, "cannot read %s: %s", name,
			       strerror(errno));
	if (!rc)
		rc = send_batch(c, name, b, &s);
	if (!use_stdin)
		fclose(f);
	s.not_sent = b->n;
	print_summary(name, &s, t->json);
	if (!rc && s.not_utf8)
		rc = CLI_EXIT_USAGE;
	else if (!rc && (s.bad || s.dropped))
		rc = CLI_EXIT_REFUSED;
out:
	free(line);
	if (b) {
		json_decref(b->events);
		json_decref(b->root);
	}
	free(b);
	return rc;
}
