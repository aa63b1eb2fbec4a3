// SPDX-License-Identifier: MIT
/*
 * The HTTP side of ipwall: one libcurl easy handle per command, requests
 * with JSON bodies, answers parsed with jansson, errors turned into one
 * line on stderr and an exit status.
 *
 * Design. The handle is created once and reused, so a command that sends
 * many requests (import, export, ls --all) pays one connect: libcurl keeps
 * the connection alive between requests on the same handle. Over the unix
 * socket (CURLOPT_UNIX_SOCKET_PATH) the URL's host is only a Host header;
 * we use "localhost". The bearer token is sent on TCP only: the socket is
 * trusted by file permission and needs none, and an IPWALL_TOKEN left in
 * the environment should not make a socket request fail.
 *
 * The answer body is read into one buffer, capped at MAX_REPLY so that a
 * wrong server cannot make the client allocate without bound, and parsed
 * whole. An answer that is not JSON is a protocol error, except for error
 * statuses, where the status alone says enough (a 431 from the HTTP
 * library has an HTML body).
 *
 * Not thread-safe; the CLI is single-threaded.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <ipwall/addr.h>
#include <ipwall/duration.h>
#include <ipwall/errcode.h>

#include "cli.h"

#define MAX_REPLY (512u << 20)

struct cli_conn {
	CURL *curl;
	struct curl_slist *headers;	 /* requests without a body */
	struct curl_slist *body_headers; /* with a JSON body */
	const char *socket;
	char *base; /* URL without path, no trailing '/' */
	long timeout_ms;
	struct cli_buf url;
	struct cli_buf reply;
	bool reply_too_large;
	char errbuf[CURL_ERROR_SIZE];
};

int cli_error(int rc, const char *fmt, ...)
{
	va_list ap;

	fputs("ipwall: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	return rc;
}

int cli_usage_error(const char *fmt, ...)
{
	va_list ap;

	fputs("ipwall: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputs("\nTry 'ipwall --help' for more information.\n", stderr);
	return CLI_EXIT_USAGE;
}

int cli_buf_reserve(struct cli_buf *b, size_t n)
{
	size_t cap = b->cap ? b->cap : 256;
	char *d;

	if (b->data && n < b->cap - b->len)
		return 0;
	while (cap - b->len <= n) {
		if (cap > SIZE_MAX / 2)
			return cli_error(-1, "out of memory");
		cap *= 2;
	}
	d = realloc(b->data, cap);
	if (!d)
		return cli_error(-1, "out of memory");
	b->data = d;
	b->cap = cap;
	return 0;
}

int cli_buf_add(struct cli_buf *b, const void *p, size_t n)
{
	if (cli_buf_reserve(b, n))
		return -1;
	if (n)
		memcpy(b->data + b->len, p, n);
	b->len += n;
	b->data[b->len] = '\0';
	return 0;
}

int cli_buf_addf(struct cli_buf *b, const char *fmt, ...)
{
	char small[256];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(small, sizeof(small), fmt, ap);
	va_end(ap);
	if (n < 0)
		return cli_error(-1, "cannot format text");
	if ((size_t)n < sizeof(small))
		return cli_buf_add(b, small, (size_t)n);

	char *big = malloc((size_t)n + 1);
	int rc;

	if (!big)
		return cli_error(-1, "out of memory");
	va_start(ap, fmt);
	vsnprintf(big, (size_t)n + 1, fmt, ap);
	va_end(ap);
	rc = cli_buf_add(b, big, (size_t)n);
	free(big);
	return rc;
}

int cli_buf_param(struct cli_buf *b, const char *name, const char *value)
{
	char *esc = curl_easy_escape(NULL, value, 0);
	int rc;

	if (!esc)
		return cli_error(-1, "out of memory");
	rc = cli_buf_addf(b, "%c%s=%s",
			  b->len && memchr(b->data, '?', b->len) ? '&' : '?',
			  name, esc);
	curl_free(esc);
	return rc;
}

void cli_buf_free(struct cli_buf *b)
{
	free(b->data);
	b->data = NULL;
	b->len = b->cap = 0;
}

static size_t on_reply(char *p, size_t size, size_t n, void *arg)
{
	struct cli_conn *c = arg;

	if (c->reply.len + n > MAX_REPLY) {
		c->reply_too_large = true;
		return 0; /* aborts the transfer */
	}
	if (cli_buf_add(&c->reply, p, n))
		return 0;
	return size * n;
}

void cli_conn_free(struct cli_conn *c)
{
	if (!c)
		return;
	if (c->curl)
		curl_easy_cleanup(c->curl);
	curl_slist_free_all(c->headers);
	curl_slist_free_all(c->body_headers);
	free(c->base);
	cli_buf_free(&c->url);
	cli_buf_free(&c->reply);
	free(c);
}

/* Add @h to both header lists. */
static int add_header(struct cli_conn *c, const char *h, bool body_only)
{
	struct curl_slist *l;

	if (!body_only) {
		l = curl_slist_append(c->headers, h);
		if (!l)
			return -1;
		c->headers = l;
	}
	l = curl_slist_append(c->body_headers, h);
	if (!l)
		return -1;
	c->body_headers = l;
	return 0;
}

/* What cli_reply_fail() says after a 401: set by cli_conn_new(). */
static bool tcp_without_token, tcp_with_token;

struct cli_conn *cli_conn_new(const struct cli_target *t)
{
	struct cli_conn *c = calloc(1, sizeof(*c));
	struct cli_buf auth = {0};
	CURL *h;

	if (!c) {
		cli_error(-1, "out of memory");
		return NULL;
	}
	tcp_without_token = t->server && !t->token;
	tcp_with_token = t->server && t->token;
	c->curl = h = curl_easy_init();
	c->socket = t->server ? NULL : t->socket;
	c->timeout_ms = t->timeout_ms;
	c->base = strdup(t->server ? t->server : "http://localhost");
	if (!h || !c->base)
		goto oom;
	/* The base URL is used as a prefix: "http://h:1/" + "/v1" would
	 * make "//v1". */
	for (size_t n = strlen(c->base); n > 0 && c->base[n - 1] == '/'; n--)
		c->base[n - 1] = '\0';

	if (add_header(c, "Accept: application/json", false) ||
	    add_header(c, "Content-Type: application/json", true) ||
	    /* libcurl waits up to a second for "100 Continue" before a large
	     * body; the daemon reads the body anyway. */
	    add_header(c, "Expect:", true))
		goto oom;
	if (t->server && t->token) {
		if (cli_buf_addf(&auth, "Authorization: Bearer %s", t->token) ||
		    add_header(c, auth.data, false))
			goto oom;
		cli_buf_free(&auth);
	}

	curl_easy_setopt(h, CURLOPT_ERRORBUFFER, c->errbuf);
	curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_reply);
	curl_easy_setopt(h, CURLOPT_WRITEDATA, c);
	curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(h, CURLOPT_USERAGENT, "ipwall/" IPWALL_VERSION);
	curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, c->timeout_ms);
	curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS,
			 c->timeout_ms ? c->timeout_ms : 0L);
	/* The client must not pick up a proxy from the environment for a
	 * daemon on this host or its socket. */
	curl_easy_setopt(h, CURLOPT_PROXY, "");
	if (c->socket)
		curl_easy_setopt(h, CURLOPT_UNIX_SOCKET_PATH, c->socket);
	/* https:// is verified (peer and host name, libcurl's default);
	 * --cacert names the CA of a daemon's own certificate. */
	if (t->cacert)
		curl_easy_setopt(h, CURLOPT_CAINFO, t->cacert);
	return c;
oom:
	cli_buf_free(&auth);
	cli_conn_free(c);
	cli_error(-1, "out of memory");
	return NULL;
}

/* "unix socket PATH" or the server URL, for messages. */
static void where(const struct cli_conn *c, char *buf, size_t size)
{
	if (c->socket)
		snprintf(buf, size, "unix socket %s", c->socket);
	else
		snprintf(buf, size, "%s", c->base);
}

static int transport_error(struct cli_conn *c, CURLcode rc)
{
	char at[4200];
	long oserr = 0;
	const char *detail = c->errbuf[0] ? c->errbuf : curl_easy_strerror(rc);

	where(c, at, sizeof(at));
	curl_easy_getinfo(c->curl, CURLINFO_OS_ERRNO, &oserr);
	switch (rc) {
	case CURLE_COULDNT_CONNECT:
	case CURLE_COULDNT_RESOLVE_HOST:
		if (oserr)
			detail = strerror((int)oserr);
		return cli_error(CLI_EXIT_UNAVAILABLE,
				 "cannot connect to ipwalld at %s: %s", at,
				 detail);
	case CURLE_OPERATION_TIMEDOUT:
		return cli_error(CLI_EXIT_UNAVAILABLE,
				 "no answer from ipwalld at %s within %ld ms "
				 "(--timeout)",
				 at, c->timeout_ms);
	case CURLE_WRITE_ERROR:
		if (c->reply_too_large)
			return cli_error(CLI_EXIT_UNAVAILABLE,
					 "the answer from %s is larger than "
					 "%u MiB",
					 at, MAX_REPLY >> 20);
		return cli_error(CLI_EXIT_UNAVAILABLE, "out of memory");
	default:
		return cli_error(CLI_EXIT_UNAVAILABLE,
				 "request to ipwalld at %s failed: %s", at,
				 detail);
	}
}

int cli_request(struct cli_conn *c, const char *method, const char *path,
		const char *body, size_t len, struct cli_reply *out)
{
	CURL *h = c->curl;
	json_error_t jerr;
	CURLcode rc;

	out->status = 0;
	out->body = NULL;
	c->url.len = 0;
	c->reply.len = 0;
	c->reply_too_large = false;
	c->errbuf[0] = '\0';
	if (cli_buf_addf(&c->url, "%s%s", c->base, path))
		return CLI_EXIT_UNAVAILABLE;

	curl_easy_setopt(h, CURLOPT_URL, c->url.data);
	if (body) {
		curl_easy_setopt(h, CURLOPT_HTTPHEADER, c->body_headers);
		curl_easy_setopt(h, CURLOPT_POSTFIELDS, body);
		curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE,
				 (curl_off_t)len);
		curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST,
				 strcmp(method, "POST") ? method : NULL);
	} else {
		curl_easy_setopt(h, CURLOPT_HTTPHEADER, c->headers);
		curl_easy_setopt(h, CURLOPT_HTTPGET, 1L);
		curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST,
				 strcmp(method, "GET") ? method : NULL);
	}

	rc = curl_easy_perform(h);
	if (rc != CURLE_OK)
		return transport_error(c, rc);
	curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &out->status);

	out->body = json_loadb(c->reply.data ? c->reply.data : "", c->reply.len,
			       0, &jerr);
	if (json_is_object(out->body))
		return CLI_EXIT_OK;
	json_decref(out->body);
	out->body = NULL;
	if (out->status >= 400) {
		/* The status says what went wrong; the body was a library
		 * page or empty. */
		out->body = json_null();
		return CLI_EXIT_OK;
	}

	char at[4200];

	where(c, at, sizeof(at));
	if (c->reply.len == 0)
		return cli_error(CLI_EXIT_UNAVAILABLE,
				 "%s answered HTTP %ld to %s %s with an empty "
				 "body; is it ipwalld?",
				 at, out->status, method, path);
	return cli_error(CLI_EXIT_UNAVAILABLE,
			 "%s answered HTTP %ld to %s %s with a body that is "
			 "not a JSON object (%s); is it ipwalld?",
			 at, out->status, method, path, jerr.text);
}

static const char *error_member(const json_t *body, const char *name)
{
	const char *s = json_string_value(
		json_object_get(json_object_get(body, "error"), name));
	return s ? s : "";
}

const char *cli_error_code(const json_t *body)
{
	return error_member(body, "code");
}

const char *cli_error_message(const json_t *body)
{
	return error_member(body, "message");
}

int cli_reply_fail(const struct cli_reply *r, const char *ctx)
{
	int rc = r->status >= 400 && r->status < 500 ? CLI_EXIT_REFUSED :
						       CLI_EXIT_UNAVAILABLE;
	const char *code = cli_error_code(r->body);
	const char *msg = cli_error_message(r->body);
	char pmsg[1024], pcode[128];

	if (!ctx)
		ctx = "";
	if (r->status == 401 && tcp_without_token)
		return cli_error(rc,
				 "%sipwalld needs a token for this over TCP: "
				 "give --token TOKEN or set IPWALL_TOKEN (or "
				 "use the unix socket, --socket) (%s)",
				 ctx, *code ? code : "unauthorized");
	if (r->status == 401 && tcp_with_token)
		return cli_error(rc,
				 "%sipwalld refused the token given with "
				 "--token or IPWALL_TOKEN: it is not in its "
				 "tokens file (%s)",
				 ctx, *code ? code : "unauthorized");
	if (*code || *msg)
		return cli_error(
			rc, "%s%s (%s)", ctx,
			cli_printable(*msg ? msg : "error", pmsg, sizeof(pmsg)),
			cli_printable(*code ? code : "no code", pcode,
				      sizeof(pcode)));
	if (r->status >= 200 && r->status < 300)
		return cli_error(CLI_EXIT_UNAVAILABLE,
				 "%sunexpected answer (HTTP %ld) from ipwalld",
				 ctx, r->status);
	return cli_error(rc, "%sHTTP %ld from ipwalld, without an error body",
			 ctx, r->status);
}

const char *cli_printable(const char *s, char *buf, size_t size)
{
	size_t i = 0;

	if (!size)
		return buf;
	for (; *s && i + 1 < size; s++) {
		unsigned char ch = (unsigned char)*s;

		buf[i++] = ch < 0x20 || ch == 0x7f ? '?' : (char)ch;
	}
	buf[i] = '\0';
	return buf;
}

const char *cli_quote(const char *s, size_t len, size_t max, char *buf,
		      size_t size)
{
	static const char hex[] = "0123456789abcdef";
	size_t i = 0, n;

	for (n = 0; n < len && n < max && i + 5 < size; n++) {
		unsigned char ch = (unsigned char)s[n];

		if (ch >= 0x20 && ch < 0x7f && ch != '"' && ch != '\\') {
			buf[i++] = (char)ch;
		} else {
			buf[i++] = '\\';
			buf[i++] = 'x';
			buf[i++] = hex[ch >> 4];
			buf[i++] = hex[ch & 0xf];
		}
	}
	if (n < len && i + 4 < size) {
		memcpy(buf + i, "...", 3);
		i += 3;
	}
	buf[i] = '\0';
	return buf;
}

/* The input of a parse error quoted: cut after 64 bytes. */
static const char *quote(const char *s, char *buf, size_t size)
{
	return cli_quote(s, strlen(s), 64, buf, size);
}

int cli_next_cursor(char **cursor, const json_t *next)
{
	/* A cursor that does not move would page for ever. */
	if (*cursor && strcmp(*cursor, json_string_value(next)) == 0)
		return cli_error(CLI_EXIT_UNAVAILABLE,
				 "protocol error: the daemon returned the "
				 "same cursor twice");
	free(*cursor);
	*cursor = strdup(json_string_value(next));
	if (*cursor == NULL)
		return cli_error(CLI_EXIT_UNAVAILABLE, "out of memory");
	return 0;
}

int cli_parse_target(const char *what, const char *s, bool host, char *canon,
		     size_t size)
{
	struct ipw_addr a;
	size_t pos = 0;
	int rc;

	rc = ipw_addr_parse(s, strlen(s), host ? IPW_ADDR_HOST : 0, &a, &pos);
	if (rc) {
		char msg[512];

		ipw_addr_error_msg(msg, sizeof(msg), s, strlen(s), rc, pos);
		if (!what)
			return cli_error(CLI_EXIT_USAGE, "%s", msg);
		return cli_error(CLI_EXIT_USAGE, "%s: %s", what, msg);
	}
	if (ipw_addr_format(&a, canon, size) < 0)
		return cli_error(CLI_EXIT_USAGE, "%s: cannot format", what);
	return 0;
}

int cli_parse_duration(const char *what, const char *s, uint64_t *secs)
{
	size_t pos = 0;
	char q[300];
	int rc;

	rc = ipw_duration_parse(s, strlen(s), secs, &pos);
	if (rc == IPW_ERANGE)
		return cli_error(CLI_EXIT_USAGE,
				 "%s: duration \"%s\" is too long (at "
				 "most %llu seconds, about 136 years)",
				 what, quote(s, q, sizeof(q)),
				 (unsigned long long)IPW_DURATION_MAX);
	if (rc)
		return cli_error(CLI_EXIT_USAGE,
				 "%s: invalid duration \"%s\": %s (at "
				 "offset %zu; examples: 600, 30s, 10m, "
				 "1h30m, 7d, 0 for permanent)",
				 what, quote(s, q, sizeof(q)), ipw_strerror(rc),
				 pos);
	return 0;
}

int cli_parse_uint(const char *what, const char *s, uint64_t min, uint64_t max,
		   uint64_t *out)
{
	uint64_t v = 0;
	char q[300];
	size_t i;

	for (i = 0; s[i] >= '0' && s[i] <= '9'; i++) {
		unsigned d = (unsigned)(s[i] - '0');

		if (v > (UINT64_MAX - d) / 10) {
			v = UINT64_MAX;
			while (s[i + 1] >= '0' && s[i + 1] <= '9')
				i++;
			continue;
		}
		v = v * 10 + d;
	}
	if (i == 0 || s[i])
		return cli_error(CLI_EXIT_USAGE,
				 "%s: \"%s\" is not a decimal number "
				 "(at offset %zu)",
				 what, quote(s, q, sizeof(q)), i);
	if (v < min || v > max)
		return cli_error(
			CLI_EXIT_USAGE, "%s: %s is out of range (%llu..%llu)",
			what, quote(s, q, sizeof(q)), (unsigned long long)min,
			(unsigned long long)max);
	*out = v;
	return 0;
}
