/* SPDX-License-Identifier: MIT */
/*
 * ipwall, the command-line client: what its source files share.
 *
 * The client is thin: it checks its arguments with libipwall's parsers (so a
 * typo is reported before anything is sent, with the same words the daemon
 * would use), sends one or more requests of docs/api.md with libcurl, and
 * prints the answers (jansson) as tables or as JSON. It keeps no state.
 *
 * Exit status (docs/cli.md): every function that ends a command returns one
 * of the CLI_EXIT_* values, and main() returns it.
 */
#ifndef IPWALL_SRC_CLI_CLI_H
#define IPWALL_SRC_CLI_CLI_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <curl/curl.h>
#include <jansson.h>

enum cli_exit {
	CLI_EXIT_OK = 0,	  /* success; check: admitted */
	CLI_EXIT_BLOCKED = 1,	  /* check: blocked */
	CLI_EXIT_USAGE = 2,	  /* bad usage or bad input, nothing sent */
	CLI_EXIT_REFUSED = 3,	  /* the daemon refused the request (4xx) */
	CLI_EXIT_UNAVAILABLE = 4, /* no connection, 5xx, protocol error */
};

/* Where and how to reach the daemon, from the global options. */
struct cli_target {
	const char *server; /* base URL ("http://host:port"), or NULL */
	const char *socket; /* unix socket path when server is NULL */
	const char *token;  /* bearer token for TCP, or NULL */
	const char *cacert; /* CA file to verify https:// with, or NULL */
	long timeout_ms;    /* per request; 0 = none */
	bool json;	    /* --json: print JSON, not tables */
};

/* A growable byte buffer. */
struct cli_buf {
	char *data;
	size_t len, cap;
};

/* Make room for @n more bytes and a NUL; returns 0 or -1 (out of memory,
 * reported on stderr). */
int cli_buf_reserve(struct cli_buf *b, size_t n);
/* Append; returns 0 or -1 (out of memory, reported on stderr). */
int cli_buf_add(struct cli_buf *b, const void *p, size_t n);
int cli_buf_addf(struct cli_buf *b, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
/* Append "&name=value" ('?' for the first) with value URL-encoded. */
int cli_buf_param(struct cli_buf *b, const char *name, const char *value);
void cli_buf_free(struct cli_buf *b);

/*
 * One connection to the daemon: one CURL handle, reused for every request
 * of a command so that HTTP keep-alive saves a connect per request.
 */
struct cli_conn;

/* Returns NULL after printing why (out of memory, bad URL). */
struct cli_conn *cli_conn_new(const struct cli_target *t);
void cli_conn_free(struct cli_conn *c);

/* The answer to one request: HTTP status and the parsed JSON body. */
struct cli_reply {
	long status;
	json_t *body; /* owned; NULL only when the request failed */
};

/*
 * cli_request() - send one request and parse the answer as JSON.
 * @method: "GET", "POST", "PUT" or "DELETE"
 * @path:   path and query, e.g. "/v1/bans?target=192.0.2.7" (encoded)
 * @body:   JSON text to send, or NULL (then @len is ignored)
 *
 * Returns CLI_EXIT_OK with @out filled whatever the status (the caller
 * decides what a 403 means), or CLI_EXIT_UNAVAILABLE after printing why
 * (cannot connect, timeout, a body that is not JSON). The caller frees
 * out->body with json_decref().
 */
int cli_request(struct cli_conn *c, const char *method, const char *path,
		const char *body, size_t len, struct cli_reply *out);

/*
 * cli_reply_fail() - report a reply that is not a success: print
 * "ipwall: <message> (<code>)" from the daemon's error body, or the status
 * if the body has none. @ctx, if not NULL, prefixes the message ("FILE:
 * LINE: "). Returns CLI_EXIT_REFUSED for 4xx, CLI_EXIT_UNAVAILABLE else.
 */
int cli_reply_fail(const struct cli_reply *r, const char *ctx);

/* The error code and message of an error body; "" when absent. */
const char *cli_error_code(const json_t *body);
const char *cli_error_message(const json_t *body);

/* Report a usage error (prefixed "ipwall: ", followed by a hint to
 * --help); returns CLI_EXIT_USAGE. */
int cli_usage_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Report an error (prefixed "ipwall: "); returns @rc. */
int cli_error(int rc, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* Print @v as indented JSON on stdout, with a newline. */
int cli_print_json(const json_t *v);

/* The @len bytes at @s (NUL included) quoted for a message: printable ASCII
 * as is, the rest \xNN, cut after @max bytes with "...". Returns @buf. */
const char *cli_quote(const char *s, size_t len, size_t max, char *buf,
		      size_t size);

/* Paging: take @next (a JSON string, the next page's cursor) as *@cursor.
 * Returns 0, or an exit code (with the message printed) when the daemon
 * returned the same cursor twice or memory ran out. */
int cli_next_cursor(char **cursor, const json_t *next);

/*
 * Argument checks with the library's parsers. Each prints a precise
 * message naming @what (if not NULL) and returns CLI_EXIT_USAGE on bad
 * input, or 0.
 */
/* An address or CIDR prefix; @canon gets its canonical text. @host: only a
 * single address. */
int cli_parse_target(const char *what, const char *s, bool host, char *canon,
		     size_t size);
/* A duration ("600", "10m", "1h30m"); at most IPW_DURATION_MAX. */
int cli_parse_duration(const char *what, const char *s, uint64_t *secs);
/* A decimal integer in [min, max]. */
int cli_parse_uint(const char *what, const char *s, uint64_t min, uint64_t max,
		   uint64_t *out);

/* Copy @s for a terminal: control bytes become '?', so a reason from the
 * network cannot move the cursor or change colours. Returns @buf. */
const char *cli_printable(const char *s, char *buf, size_t size);

/* Column output of entries (print.c). */
enum cli_columns {
	CLI_COLS_BANS,	  /* TARGET EXPIRES SCORE HITS SOURCE REASON */
	CLI_COLS_ALLOWS,  /* TARGET EXPIRES HITS SOURCE REASON */
	CLI_COLS_TOP,	  /* TARGET LIST EXPIRES SCORE HITS REASON */
	CLI_COLS_HISTORY, /* TIME ACTION RESULT LIST TARGET ACTOR SCORE REASON */
	CLI_COLS_DROPS,	  /* TARGET EXPIRES DROPS HITS REASON */
};

struct cli_table {
	enum cli_columns cols;
	int width[8]; /* widths so far; never shrink across pages */
	bool header_done;
};

/* Print the entries of the JSON array @items as rows, the header before
 * the first page. Column widths fit the widest value seen so far. */
void cli_table_print(struct cli_table *t, const json_t *items);

/* Human form of one entry's expiry: "permanent" or "2026-...Z (in 9m59s)" */
const char *cli_expiry_text(const json_t *entry, char *buf, size_t size);

/* Commands that read or write list files (listio.c). */
struct cli_import_opts {
	const char *file; /* path or "-" */
	bool allows;
	bool strict;
	bool has_ttl;
	uint64_t ttl;
	const char *reason; /* NULL: each line's comment, if any */
	size_t batch;
};
int cli_cmd_import(struct cli_conn *c, const struct cli_target *t,
		   const struct cli_import_opts *o);
int cli_cmd_export(struct cli_conn *c, const struct cli_target *t, bool allows,
		   const char *file);

/* report.c: ipwall report --file, one event a line of @file (or "-"). */
int cli_cmd_report_file(struct cli_conn *c, const struct cli_target *t,
			const char *file);

/* token.c: ipwall token add|list|remove on ipwalld's tokens file (@file,
 * else $IPWALL_TOKENS_FILE, else ./var/tokens). */
int cli_cmd_token(const char *file, const char *verb, const char *name,
		  const char *scope);
const char *cli_tokens_file(const char *opt);

#endif /* IPWALL_SRC_CLI_CLI_H */
