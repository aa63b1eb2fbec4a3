// SPDX-License-Identifier: MIT
/*
 * Human output of ipwall: aligned tables of entries and small helpers.
 *
 * A table is printed page by page as the pages arrive (ls --all can list
 * millions of entries; holding them to measure the widest cell first would
 * hold them all). Each column is as wide as the widest cell seen so far and
 * never narrower, so the columns of later pages only move right when a
 * wider value (an IPv6 prefix after IPv4 ones) turns up. The last column,
 * REASON, is free text and not padded.
 *
 * Values come from the network: every string is passed through
 * cli_printable() before it reaches the terminal.
 */
#include <stdio.h>
#include <string.h>

#include <ipwall/duration.h>

#include "cli.h"

int cli_print_json(const json_t *v)
{
	if (json_dumpf(v, stdout, JSON_INDENT(2) | JSON_PRESERVE_ORDER) ||
	    fputc('\n', stdout) == EOF)
		return cli_error(CLI_EXIT_UNAVAILABLE,
				 "cannot write to standard output");
	return 0;
}

const char *cli_expiry_text(const json_t *entry, char *buf, size_t size)
{
	const char *at =
		json_string_value(json_object_get(entry, "expires_at"));
	const json_t *left = json_object_get(entry, "ttl_left");
	char pat[64], dur[IPW_DURATION_STRLEN];

	if (!at) {
		snprintf(buf, size, "permanent");
		return buf;
	}
	cli_printable(at, pat, sizeof(pat));
	if (json_is_integer(left) && json_integer_value(left) >= 0 &&
	    ipw_duration_format((uint64_t)json_integer_value(left), dur,
				sizeof(dur)) > 0)
		snprintf(buf, size, "expires %s (in %s)", pat, dur);
	else
		snprintf(buf, size, "expires %s", pat);
	return buf;
}

struct column {
	const char *header;
	const char *key;
	bool number; /* right-aligned */
};

static const struct column bans_cols[] = {
	{"TARGET", "target", false}, {"EXPIRES", "expires_at", false},
	{"SCORE", "score", true},    {"HITS", "hits", true},
	{"SOURCE", "source", false}, {"REASON", "reason", false},
	{NULL, NULL, false},
};

static const struct column allows_cols[] = {
	{"TARGET", "target", false}, {"EXPIRES", "expires_at", false},
	{"HITS", "hits", true},	     {"SOURCE", "source", false},
	{"REASON", "reason", false}, {NULL, NULL, false},
};

static const struct column top_cols[] = {
	{"TARGET", "target", false},
	{"LIST", "list", false},
	{"EXPIRES", "expires_at", false},
	{"SCORE", "score", true},
	{"HITS", "hits", true},
	{"REASON", "reason", false},
	{NULL, NULL, false},
};

static const struct column drops_cols[] = {
	{"TARGET", "target", false}, {"EXPIRES", "expires_at", false},
	{"DROPS", "drops", true},    {"HITS", "hits", true},
	{"REASON", "reason", false}, {NULL, NULL, false},
};

static const struct column history_cols[] = {
	{"TIME", "ts", false},	     {"ACTION", "action", false},
	{"RESULT", "result", false}, {"LIST", "list", false},
	{"TARGET", "target", false}, {"ACTOR", "actor", false},
	{"SCORE", "score", true},    {"REASON", "reason", false},
	{NULL, NULL, false},
};

static const struct column *columns(enum cli_columns c)
{
	switch (c) {
	case CLI_COLS_HISTORY:
		return history_cols;
	case CLI_COLS_ALLOWS:
		return allows_cols;
	case CLI_COLS_TOP:
		return top_cols;
	case CLI_COLS_DROPS:
		return drops_cols;
	case CLI_COLS_BANS:
	default:
		return bans_cols;
	}
}

/* The text of one cell. */
static const char *cell(const json_t *entry, const struct column *col,
			char *buf, size_t size)
{
	const json_t *v = json_object_get(entry, col->key);

	if (json_is_string(v))
		return cli_printable(json_string_value(v), buf, size);
	if (json_is_integer(v)) {
		snprintf(buf, size, "%" JSON_INTEGER_FORMAT,
			 json_integer_value(v));
		return buf;
	}
	if (json_is_null(v) && strcmp(col->key, "expires_at") == 0)
		return "never";
	if (json_is_true(v))
		return "true";
	if (json_is_false(v))
		return "false";
	return "-";
}

/* Padding is written only before a cell that has text, so that no line
 * ends in blanks (empty REASONs). */
static void print_row(const struct cli_table *t, const struct column *cols,
		      const char *const *cells)
{
	int pending = 0;

	for (int i = 0; cols[i].header; i++) {
		int len = (int)strlen(cells[i]);

		if (cols[i].number)
			pending += t->width[i] - len;
		if (len)
			printf("%*s%s", pending, "", cells[i]);
		pending = len ? 0 : pending;
		if (!cols[i].number)
			pending += t->width[i] - len;
		pending += 2;
	}
	putchar('\n');
}

void cli_table_print(struct cli_table *t, const json_t *items)
{
	const struct column *cols = columns(t->cols);
	const char *cells[8];
	char bufs[8][300];
	const json_t *e;
	size_t idx;

	for (int i = 0; cols[i].header; i++) {
		int w = (int)strlen(cols[i].header);

		if (w > t->width[i])
			t->width[i] = w;
	}
	json_array_foreach(items, idx, e)
	{
		for (int i = 0; cols[i].header; i++) {
			int w = (int)strlen(
				cell(e, &cols[i], bufs[i], sizeof(bufs[i])));

			if (w > t->width[i])
				t->width[i] = w;
		}
	}
	if (!t->header_done) {
		for (int i = 0; cols[i].header; i++)
			cells[i] = cols[i].header;
		print_row(t, cols, cells);
		t->header_done = true;
	}
	json_array_foreach(items, idx, e)
	{
		for (int i = 0; cols[i].header; i++)
			cells[i] = cell(e, &cols[i], bufs[i], sizeof(bufs[i]));
		print_row(t, cols, cells);
	}
}
