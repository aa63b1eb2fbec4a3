// SPDX-License-Identifier: MIT
/*
 * Unit tests of API request body decoding (src/daemon/request.h): a table
 * of bodies for POST /v1/bans and /v1/allow (each accepted one with every
 * field of the spec it yields, each refused one with its exact error code
 * and the member named), then bodies that are not JSON objects at all,
 * the length limits of reason and source at their boundaries, batches
 * (an invalid item is named by its index), the mode body, and the TTL
 * parser on its own. Time is fixed (NOW), so expiries are exact.
 */
#include <stdarg.h>
#include <stdint.h>

#include <ipwall/addr.h>

#include "api/request.h"
#include "tap.h"

#define NOW INT64_C(1700000000)
/* The largest ttl whose expiry the table can hold (2106-02-07). */
#define TTL_LAST (UINT64_C(4294967295) - (uint64_t)NOW)

#define PASS (-1) /* expected "error": none */

#define BAN   IPW_LIST_BAN
#define ALLOW IPW_LIST_ALLOW

/* Mismatches of one case, the first one kept for the TAP diagnostic. */
static char why[512];

__attribute__((format(printf, 2, 3))) static bool expect(bool cond,
							 const char *fmt, ...)
{
	va_list ap;

	if (!cond && why[0] == '\0') {
		va_start(ap, fmt);
		vsnprintf(why, sizeof(why), fmt, ap);
		va_end(ap);
	}
	return cond;
}

static const char *code_name(int c)
{
	static const char *const names[] = {
#define X(id, status, name) #id,
		IPWD_APIERRS(X)
#undef X
	};

	if (c == PASS)
		return "success";
	if (c < 0 || c >= IPWD_E_COUNT)
		return "?";
	return names[c];
}

static bool str_eq(const char *a, const char *b)
{
	if (a == NULL || b == NULL)
		return a == b;
	return strcmp(a, b) == 0;
}

/* @s for a TAP line: control bytes and bytes >= 0x7f as \xNN, cut at
 * 160 bytes (bodies can be long). Two rotating buffers. */
static const char *printable(const char *s)
{
	static char bufs[2][4 * 160 + 4];
	static int k;
	char *b = bufs[k ^= 1];
	size_t o = 0;

	for (size_t i = 0; i < 160 && s[i]; i++) {
		unsigned char c = (unsigned char)s[i];

		if (c < 0x20 || c >= 0x7f)
			o += (size_t)sprintf(b + o, "\\x%02x", c);
		else
			b[o++] = (char)c;
	}
	if (strlen(s) > 160)
		o += (size_t)sprintf(b + o, "...");
	b[o] = '\0';
	return b;
}

/* Check a refusal: its code, the member it names, a message. */
static void expect_err(const struct ipwd_perr *e, int rc, int code,
		       const char *field)
{
	if (!expect(rc == -1, "rc %d, want -1 (%s)", rc, code_name(code)))
		return;
	expect((int)e->code == code, "code %s, want %s (msg \"%s\")",
	       code_name((int)e->code), code_name(code), e->msg);
	if (field)
		expect(strcmp(e->field, field) == 0,
		       "field \"%s\", want \"%s\"", e->field, field);
	expect(e->msg[0] != '\0', "empty message");
}

/* ---- single entries ---- */

struct entry_case {
	const char *body;
	enum ipw_list list;
	uint64_t dttl;	   /* default ttl */
	int err;	   /* PASS or enum ipwd_apierr */
	const char *field; /* e.field on error ("" for none) */
	/* on success: */
	const char *target; /* canonical text */
	int64_t expires;
	uint32_t score;
	unsigned flags;
	const char *reason; /* NULL: must be NULL */
	const char *source;
};

#define OK_(b, l, d, t, x)                                  \
	{                                                   \
		b, l, d, PASS, NULL, t, x, 0, 0, NULL, NULL \
	}
#define ERR(b, l, c, f)                                           \
	{                                                         \
		b, l, 0, IPWD_E_##c, f, NULL, 0, 0, 0, NULL, NULL \
	}

/* clang-format off */
static const struct entry_case entries[] = {
	/* ---- bans, accepted ---- */
	OK_("{\"target\":\"192.0.2.1\"}", BAN, 0, "192.0.2.1", 0),
	OK_("{\"target\":\"192.0.2.1\"}", BAN, 600, "192.0.2.1", NOW + 600),
	OK_("{\"target\":\"192.0.2.1\",\"ttl\":600}", BAN, 0, "192.0.2.1", NOW + 600),
	OK_("{\"target\":\"192.0.2.1\",\"ttl\":\"600\"}", BAN, 0, "192.0.2.1", NOW + 600),
	OK_("{\"target\":\"192.0.2.1\",\"ttl\":\"30s\"}", BAN, 0, "192.0.2.1", NOW + 30),
	OK_("{\"target\":\"192.0.2.1\",\"ttl\":\"10m\"}", BAN, 0, "192.0.2.1", NOW + 600),
	OK_("{\"target\":\"192.0.2.1\",\"ttl\":\"2h\"}", BAN, 0, "192.0.2.1", NOW + 7200),
	OK_("{\"target\":\"192.0.2.1\",\"ttl\":\"7d\"}", BAN, 0, "192.0.2.1", NOW + 604800),
	OK_("{\"target\":\"192.0.2.1\",\"ttl\":\"1h30m\"}", BAN, 0, "192.0.2.1", NOW + 5400),
	OK_("{\"target\":\"192.0.2.1\",\"ttl\":\"1w\"}", BAN, 0, "192.0.2.1", NOW + 604800),
	OK_("{\"target\":\"192.0.2.1\",\"ttl\":1}", BAN, 0, "192.0.2.1", NOW + 1),
	/* ttl 0 is permanent, even with a default ttl */
	OK_("{\"target\":\"192.0.2.1\",\"ttl\":0}", BAN, 600, "192.0.2.1", 0),
	OK_("{\"target\":\"192.0.2.1\",\"ttl\":\"0\"}", BAN, 600, "192.0.2.1", 0),
	/* a given ttl beats the default */
	OK_("{\"target\":\"192.0.2.1\",\"ttl\":\"30s\"}", BAN, 600, "192.0.2.1", NOW + 30),
	OK_("{\"target\":\"198.51.100.0/24\"}", BAN, 0, "198.51.100.0/24", 0),
	OK_("{\"target\":\"0.0.0.0/0\"}", BAN, 0, "0.0.0.0/0", 0),
	OK_("{\"target\":\"2001:db8::/32\"}", BAN, 0, "2001:db8::/32", 0),
	OK_("{\"target\":\"2001:DB8:0::1\"}", BAN, 0, "2001:db8::1", 0),
	OK_("{\"target\":\"::ffff:192.0.2.1\"}", BAN, 0, "192.0.2.1", 0),
	OK_("{\"target\":\"192.0.2.1/32\"}", BAN, 0, "192.0.2.1", 0),
	/* the last expiry the table can hold, 2106-02-07T06:28:15Z */
	OK_("{\"target\":\"192.0.2.1\",\"ttl\":2594967295}", BAN, 0, "192.0.2.1", INT64_C(4294967295)),
	OK_("{\"target\":\"192.0.2.1\",\"ttl\":\"4290w\"}", BAN, 0, "192.0.2.1", NOW + INT64_C(2594592000)),
	OK_("{\"target\":\"192.0.2.1\",\"ttl\":\"2594967295\"}", ALLOW, 0, "192.0.2.1", INT64_C(4294967295)),
	/* whitespace around members is JSON */
	OK_(" { \"target\" : \"192.0.2.1\" , \"ttl\" : 60 } \n", BAN, 0, "192.0.2.1", NOW + 60),
	/* every member */
	{ "{\"target\":\"198.51.100.0/24\",\"ttl\":\"10m\",\"reason\":\"ssh brute force\","
	  "\"score\":5,\"source\":\"sshd\",\"auto\":true}",
	  BAN, 0, PASS, NULL, "198.51.100.0/24", NOW + 600, 5, IPW_ENTRY_AUTO,
	  "ssh brute force", "sshd" },
	{ "{\"auto\":false,\"source\":\"\",\"score\":0,\"reason\":\"\",\"ttl\":0,"
	  "\"target\":\"::1\"}",
	  BAN, 60, PASS, NULL, "::1", 0, 0, 0, "", "" },
	{ "{\"target\":\"192.0.2.1\",\"score\":1000000}",
	  BAN, 0, PASS, NULL, "192.0.2.1", 0, 1000000, 0, NULL, NULL },
	{ "{\"target\":\"192.0.2.1\",\"reason\":\"caf\\u00e9 \xc3\xa9\"}",
	  BAN, 0, PASS, NULL, "192.0.2.1", 0, 0, 0, "caf\xc3\xa9 \xc3\xa9", NULL },
	/* ---- allows, accepted ---- */
	/* an allow without ttl is permanent whatever the ban default */
	OK_("{\"target\":\"192.0.2.1\"}", ALLOW, 600, "192.0.2.1", 0),
	OK_("{\"target\":\"10.0.0.0/8\",\"ttl\":\"2h\"}", ALLOW, 600, "10.0.0.0/8", NOW + 7200),
	OK_("{\"target\":\"10.0.0.0/8\",\"ttl\":3600}", ALLOW, 0, "10.0.0.0/8", NOW + 3600),
	OK_("{\"target\":\"10.0.0.0/8\",\"ttl\":0}", ALLOW, 0, "10.0.0.0/8", 0),
	{ "{\"target\":\"2001:db8::/48\",\"ttl\":\"1d\",\"reason\":\"office\",\"source\":\"ops\"}",
	  ALLOW, 0, PASS, NULL, "2001:db8::/48", NOW + 86400, 0, 0, "office", "ops" },

	/* ---- unknown members ---- */
	ERR("{\"target\":\"192.0.2.1\",\"tll\":60}", BAN, UNKNOWN_FIELD, "tll"),
	ERR("{\"Target\":\"192.0.2.1\"}", BAN, UNKNOWN_FIELD, "Target"),
	ERR("{\"target\":\"192.0.2.1\",\"actor\":\"me\"}", BAN, UNKNOWN_FIELD, "actor"),
	ERR("{\"target\":\"192.0.2.1\",\"expires\":0}", BAN, UNKNOWN_FIELD, "expires"),
	ERR("{\"target\":\"192.0.2.1\",\"\":0}", BAN, UNKNOWN_FIELD, ""),
	ERR("{\"target\":\"192.0.2.1\",\"items\":[]}", BAN, UNKNOWN_FIELD, "items"),
	/* score and auto are for bans only */
	ERR("{\"target\":\"192.0.2.1\",\"score\":5}", ALLOW, UNKNOWN_FIELD, "score"),
	ERR("{\"target\":\"192.0.2.1\",\"auto\":true}", ALLOW, UNKNOWN_FIELD, "auto"),
	ERR("{\"target\":\"192.0.2.1\",\"auto\":false}", ALLOW, UNKNOWN_FIELD, "auto"),
	/* ---- missing target ---- */
	ERR("{}", BAN, MISSING_FIELD, "target"),
	ERR("{\"ttl\":60,\"reason\":\"x\"}", BAN, MISSING_FIELD, "target"),
	ERR("{}", ALLOW, MISSING_FIELD, "target"),
	ERR("{\"ttl\":\"1h\"}", ALLOW, MISSING_FIELD, "target"),
	/* ---- wrong JSON types ---- */
	ERR("{\"target\":3221225985}", BAN, WRONG_TYPE, "target"),
	ERR("{\"target\":null}", BAN, WRONG_TYPE, "target"),
	ERR("{\"target\":true}", BAN, WRONG_TYPE, "target"),
	ERR("{\"target\":[\"192.0.2.1\"]}", BAN, WRONG_TYPE, "target"),
	ERR("{\"target\":{\"ip\":\"192.0.2.1\"}}", BAN, WRONG_TYPE, "target"),
	ERR("{\"target\":1.5}", ALLOW, WRONG_TYPE, "target"),
	ERR("{\"target\":\"192.0.2.1\",\"ttl\":true}", BAN, WRONG_TYPE, "ttl"),
	ERR("{\"target\":\"192.0.2.1\",\"ttl\":null}", BAN, WRONG_TYPE, "ttl"),
	ERR("{\"target\":\"192.0.2.1\",\"ttl\":[60]}", BAN, WRONG_TYPE, "ttl"),
	ERR("{\"target\":\"192.0.2.1\",\"ttl\":{}}", BAN, WRONG_TYPE, "ttl"),
	ERR("{\"target\":\"192.0.2.1\",\"ttl\":false}", ALLOW, WRONG_TYPE, "ttl"),
	ERR("{\"target\":\"192.0.2.1\",\"reason\":1}", BAN, WRONG_TYPE, "reason"),
	ERR("{\"target\":\"192.0.2.1\",\"reason\":null}", BAN, WRONG_TYPE, "reason"),
	ERR("{\"target\":\"192.0.2.1\",\"reason\":[\"a\"]}", ALLOW, WRONG_TYPE, "reason"),
	ERR("{\"target\":\"192.0.2.1\",\"source\":true}", BAN, WRONG_TYPE, "source"),
	ERR("{\"target\":\"192.0.2.1\",\"source\":{}}", ALLOW, WRONG_TYPE, "source"),
	ERR("{\"target\":\"192.0.2.1\",\"score\":\"5\"}", BAN, WRONG_TYPE, "score"),
	ERR("{\"target\":\"192.0.2.1\",\"score\":true}", BAN, WRONG_TYPE, "score"),
	ERR("{\"target\":\"192.0.2.1\",\"score\":null}", BAN, WRONG_TYPE, "score"),
	ERR("{\"target\":\"192.0.2.1\",\"auto\":\"yes\"}", BAN, WRONG_TYPE, "auto"),
	ERR("{\"target\":\"192.0.2.1\",\"auto\":1}", BAN, WRONG_TYPE, "auto"),
	ERR("{\"target\":\"192.0.2.1\",\"auto\":null}", BAN, WRONG_TYPE, "auto"),
	/* ---- "\u0000" is valid JSON; the member holding it refuses it ---- */
	ERR("{\"target\":\"203.0.113.1\\u0000garbage\"}", BAN, INVALID_TARGET, "target"),
	ERR("{\"target\":\"\\u0000\"}", ALLOW, INVALID_TARGET, "target"),
	ERR("{\"target\":\"192.0.2.1\",\"ttl\":\"10m\\u0000\"}", BAN, INVALID_TTL, "ttl"),
	ERR("{\"target\":\"192.0.2.1\",\"reason\":\"a\\u0000b\"}", BAN, INVALID_STRING, "reason"),
	ERR("{\"target\":\"192.0.2.1\",\"source\":\"\\u0000\"}", ALLOW, INVALID_STRING, "source"),
	/* ---- invalid targets ---- */
	ERR("{\"target\":\"010.1.1.1\"}", BAN, INVALID_TARGET, "target"),
	ERR("{\"target\":\"192.0.2.01\"}", BAN, INVALID_TARGET, "target"),
	ERR("{\"target\":\"192.0.2.7/24\"}", BAN, INVALID_TARGET, "target"),
	ERR("{\"target\":\"2001:db8::1/64\"}", BAN, INVALID_TARGET, "target"),
	ERR("{\"target\":\"192.0.2.0/33\"}", BAN, INVALID_TARGET, "target"),
	ERR("{\"target\":\"2001:db8::/129\"}", BAN, INVALID_TARGET, "target"),
	ERR("{\"target\":\"fe80::1%eth0\"}", BAN, INVALID_TARGET, "target"),
	ERR("{\"target\":\"\"}", BAN, INVALID_TARGET, "target"),
	ERR("{\"target\":\" 192.0.2.1\"}", BAN, INVALID_TARGET, "target"),
	ERR("{\"target\":\"192.0.2.1 \"}", BAN, INVALID_TARGET, "target"),
	ERR("{\"target\":\"192.0.2.1:80\"}", BAN, INVALID_TARGET, "target"),
	ERR("{\"target\":\"example.com\"}", BAN, INVALID_TARGET, "target"),
	ERR("{\"target\":\"192.0.2.0/\"}", BAN, INVALID_TARGET, "target"),
	ERR("{\"target\":\"127.1\"}", BAN, INVALID_TARGET, "target"),
	ERR("{\"target\":\"192.0.2.7/24\"}", ALLOW, INVALID_TARGET, "target"),
	ERR("{\"target\":\"fe80::%1\"}", ALLOW, INVALID_TARGET, "target"),
	/* ---- invalid ttl ---- */
	ERR("{\"target\":\"192.0.2.1\",\"ttl\":-1}", BAN, INVALID_TTL, "ttl"),
	ERR("{\"target\":\"192.0.2.1\",\"ttl\":1.5}", BAN, INVALID_TTL, "ttl"),
	ERR("{\"target\":\"192.0.2.1\",\"ttl\":60.0}", BAN, INVALID_TTL, "ttl"),
	ERR("{\"target\":\"192.0.2.1\",\"ttl\":1e3}", BAN, INVALID_TTL, "ttl"),
	ERR("{\"target\":\"192.0.2.1\",\"ttl\":\"10x\"}", BAN, INVALID_TTL, "ttl"),
	ERR("{\"target\":\"192.0.2.1\",\"ttl\":\"\"}", BAN, INVALID_TTL, "ttl"),
	ERR("{\"target\":\"192.0.2.1\",\"ttl\":\"-5\"}", BAN, INVALID_TTL, "ttl"),
	ERR("{\"target\":\"192.0.2.1\",\"ttl\":\"1.5h\"}", BAN, INVALID_TTL, "ttl"),
	ERR("{\"target\":\"192.0.2.1\",\"ttl\":\"1h30\"}", BAN, INVALID_TTL, "ttl"),
	ERR("{\"target\":\"192.0.2.1\",\"ttl\":\"10M\"}", BAN, INVALID_TTL, "ttl"),
	ERR("{\"target\":\"192.0.2.1\",\"ttl\":\" 10m\"}", BAN, INVALID_TTL, "ttl"),
	ERR("{\"target\":\"192.0.2.1\",\"ttl\":\"m\"}", BAN, INVALID_TTL, "ttl"),
	ERR("{\"target\":\"192.0.2.1\",\"ttl\":\"30m1h\"}", BAN, INVALID_TTL, "ttl"),
	/* beyond 2106: now + ttl > UINT32_MAX */
	ERR("{\"target\":\"192.0.2.1\",\"ttl\":2594967296}", BAN, INVALID_TTL, "ttl"),
	ERR("{\"target\":\"192.0.2.1\",\"ttl\":4294967295}", BAN, INVALID_TTL, "ttl"),
	ERR("{\"target\":\"192.0.2.1\",\"ttl\":4294967296}", BAN, INVALID_TTL, "ttl"),
	ERR("{\"target\":\"192.0.2.1\",\"ttl\":9223372036854775807}", BAN, INVALID_TTL, "ttl"),
	ERR("{\"target\":\"192.0.2.1\",\"ttl\":\"4294967295\"}", BAN, INVALID_TTL, "ttl"),
	ERR("{\"target\":\"192.0.2.1\",\"ttl\":\"4294967296\"}", BAN, INVALID_TTL, "ttl"),
	ERR("{\"target\":\"192.0.2.1\",\"ttl\":\"4291w\"}", BAN, INVALID_TTL, "ttl"),
	ERR("{\"target\":\"192.0.2.1\",\"ttl\":\"4291w\"}", ALLOW, INVALID_TTL, "ttl"),
	ERR("{\"target\":\"192.0.2.1\",\"ttl\":\"2594967296\"}", ALLOW, INVALID_TTL, "ttl"),
	ERR("{\"target\":\"192.0.2.1\",\"ttl\":-60}", ALLOW, INVALID_TTL, "ttl"),
	/* ---- invalid score ---- */
	ERR("{\"target\":\"192.0.2.1\",\"score\":-1}", BAN, INVALID_SCORE, "score"),
	ERR("{\"target\":\"192.0.2.1\",\"score\":1000001}", BAN, INVALID_SCORE, "score"),
	ERR("{\"target\":\"192.0.2.1\",\"score\":9223372036854775807}", BAN, INVALID_SCORE, "score"),
	ERR("{\"target\":\"192.0.2.1\",\"score\":2.5}", BAN, INVALID_SCORE, "score"),
	ERR("{\"target\":\"192.0.2.1\",\"score\":5.0}", BAN, INVALID_SCORE, "score"),
	ERR("{\"target\":\"192.0.2.1\",\"score\":1e2}", BAN, INVALID_SCORE, "score"),
};
/* clang-format on */

/* Decode @body and check the result against @c. */
static void check_entry(const struct entry_case *c, const char *body,
			size_t len, const char *label)
{
	struct ipw_entry_spec spec;
	struct ipwd_perr e;
	char buf[IPW_ADDR_STRLEN];
	json_t *obj = NULL;
	int rc;

	why[0] = '\0';
	memset(&e, 0, sizeof(e));
	memset(&spec, 0xa5, sizeof(spec));
	rc = ipwd_parse_body(body, len, &obj, &e);
	if (!expect(rc == 0, "body refused: %s \"%s\"", code_name((int)e.code),
		    e.msg))
		goto out;
	rc = ipwd_parse_entry(obj, c->list, NOW, c->dttl, &spec, &e);
	if (c->err != PASS) {
		expect_err(&e, rc, c->err, c->field);
		goto out;
	}
	if (!expect(rc == 0, "refused: %s field \"%s\": %s",
		    code_name((int)e.code), e.field, e.msg))
		goto out;
	ipw_addr_format(&spec.target, buf, sizeof(buf));
	expect(strcmp(buf, c->target) == 0, "target %s, want %s", buf,
	       c->target);
	expect(spec.list == c->list, "list %d, want %d", (int)spec.list,
	       (int)c->list);
	expect(spec.expires == c->expires, "expires %lld, want %lld",
	       (long long)spec.expires, (long long)c->expires);
	expect(spec.score == c->score, "score %u, want %u", spec.score,
	       c->score);
	expect(spec.flags == c->flags, "flags %u, want %u", spec.flags,
	       c->flags);
	expect(str_eq(spec.reason, c->reason), "reason \"%s\", want \"%s\"",
	       spec.reason ? spec.reason : "(null)",
	       c->reason ? c->reason : "(null)");
	expect(str_eq(spec.source, c->source), "source \"%s\", want \"%s\"",
	       spec.source ? spec.source : "(null)",
	       c->source ? c->source : "(null)");
	expect(spec.actor == NULL, "actor set by the parser");
out:
	ok(why[0] == '\0', "%s %s%s -> %s%s%s", printable(label),
	   c->list == BAN ? "ban" : "allow", c->dttl ? " (default ttl)" : "",
	   code_name(c->err), c->err != PASS ? " " : "",
	   c->err != PASS ? c->field : "");
	if (why[0])
		diag("%s", why);
	json_decref(obj);
}

static void test_entries(void)
{
	for (size_t i = 0; i < sizeof(entries) / sizeof(entries[0]); i++)
		check_entry(&entries[i], entries[i].body,
			    strlen(entries[i].body), entries[i].body);
}

/* reason and source: limits in bytes, at the boundary. */
static void test_string_limits(void)
{
	static const struct {
		const char *member;
		const char *unit; /* repeated */
		size_t n;	  /* times */
		enum ipw_list list;
		int err;
	} v[] = {
		{"reason", "a", 255, BAN, PASS},
		{"reason", "a", 256, BAN, IPWD_E_STRING_TOO_LONG},
		{"reason", "a", 1000, BAN, IPWD_E_STRING_TOO_LONG},
		{"reason", "a", 255, ALLOW, PASS},
		{"reason", "a", 256, ALLOW, IPWD_E_STRING_TOO_LONG},
		/* bytes, not characters: 128 x "é" is 256 bytes */
		{"reason", "\xc3\xa9", 127, BAN, PASS},
		{"reason", "\xc3\xa9", 128, BAN, IPWD_E_STRING_TOO_LONG},
		{"reason", "\\u00e9", 128, BAN, IPWD_E_STRING_TOO_LONG},
		{"source", "s", 63, BAN, PASS},
		{"source", "s", 64, BAN, IPWD_E_STRING_TOO_LONG},
		{"source", "s", 63, ALLOW, PASS},
		{"source", "s", 64, ALLOW, IPWD_E_STRING_TOO_LONG},
		{"source", "\xc3\xa9", 32, BAN, IPWD_E_STRING_TOO_LONG},
	};

	for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
		char body[8192], val[8192], label[128];
		struct entry_case c = {
			.list = v[i].list,
			.err = v[i].err,
			.field = v[i].member,
			.target = "192.0.2.1",
		};
		size_t ul = strlen(v[i].unit), k;
		int n;

		for (k = 0; k < v[i].n; k++)
			memcpy(val + k * ul, v[i].unit, ul);
		val[k * ul] = '\0';
		n = snprintf(body, sizeof(body),
			     "{\"target\":\"192.0.2.1\",\"%s\":\"%s\"}",
			     v[i].member, val);
		if (v[i].err == PASS) {
			if (strcmp(v[i].member, "reason") == 0)
				c.reason = val;
			else
				c.source = val;
		}
		snprintf(label, sizeof(label), "%s of %zu x \"%s\"",
			 v[i].member, v[i].n, v[i].unit);
		check_entry(&c, body, (size_t)n, label);
	}
}

/* ---- bodies that are not a JSON object ---- */

struct body_case {
	const char *name;
	const char *in;
	size_t len;
	int err; /* PASS or the code */
};

#define B(name, s, c)                     \
	{                                 \
		name, s, sizeof(s) - 1, c \
	}

/* clang-format off */
static const struct body_case bodies[] = {
	B("empty object", "{}", PASS),
	B("object, whitespace around", " \t\r\n{}\n", PASS),
	B("nested object", "{\"a\":{\"b\":[1,2,{\"c\":null}]}}", PASS),
	B("empty body", "", IPWD_E_INVALID_JSON),
	B("only whitespace", " \n\t ", IPWD_E_INVALID_JSON),
	B("truncated object", "{", IPWD_E_INVALID_JSON),
	B("truncated member", "{\"target\":\"192.0.2.1\"", IPWD_E_INVALID_JSON),
	B("truncated string", "{\"target\":\"192.0.", IPWD_E_INVALID_JSON),
	B("truncated key", "{\"tar", IPWD_E_INVALID_JSON),
	B("missing value", "{\"target\":}", IPWD_E_INVALID_JSON),
	B("trailing comma", "{\"target\":\"192.0.2.1\",}", IPWD_E_INVALID_JSON),
	B("single quotes", "{'target':'192.0.2.1'}", IPWD_E_INVALID_JSON),
	B("unquoted key", "{target:\"192.0.2.1\"}", IPWD_E_INVALID_JSON),
	B("trailing garbage", "{} x", IPWD_E_INVALID_JSON),
	B("two objects", "{}{}", IPWD_E_INVALID_JSON),
	B("trailing comma after object", "{},", IPWD_E_INVALID_JSON),
	B("NUL byte after the object", "{}\0", IPWD_E_INVALID_JSON),
	B("NUL byte inside", "{\"target\":\"1\0\"}", IPWD_E_INVALID_JSON),
	B("duplicate member", "{\"target\":\"192.0.2.1\",\"target\":\"192.0.2.2\"}",
	  IPWD_E_INVALID_JSON),
	B("duplicate ttl", "{\"target\":\"192.0.2.1\",\"ttl\":1,\"ttl\":0}",
	  IPWD_E_INVALID_JSON),
	/* valid JSON: the member refuses it (entries, below) */
	B("escaped NUL in a value", "{\"reason\":\"a\\u0000b\"}", PASS),
	B("escaped NUL in a key", "{\"a\\u0000\":1}", IPWD_E_INVALID_JSON),
	B("invalid UTF-8 byte", "{\"reason\":\"\xff\"}", IPWD_E_INVALID_JSON),
	B("truncated UTF-8", "{\"reason\":\"\xc3\"}", IPWD_E_INVALID_JSON),
	B("overlong UTF-8", "{\"reason\":\"\xc0\xaf\"}", IPWD_E_INVALID_JSON),
	B("UTF-8 surrogate", "{\"reason\":\"\xed\xa0\x80\"}", IPWD_E_INVALID_JSON),
	B("lone surrogate escape", "{\"reason\":\"\\ud800\"}", IPWD_E_INVALID_JSON),
	B("invalid UTF-8 in a key", "{\"\xfe\":1}", IPWD_E_INVALID_JSON),
	B("raw control character", "{\"reason\":\"\x01\"}", IPWD_E_INVALID_JSON),
	B("raw newline in string", "{\"reason\":\"a\nb\"}", IPWD_E_INVALID_JSON),
	B("bad escape", "{\"reason\":\"\\x41\"}", IPWD_E_INVALID_JSON),
	B("NaN", "{\"ttl\":NaN}", IPWD_E_INVALID_JSON),
	B("comment", "{} // ban", IPWD_E_INVALID_JSON),
	B("array", "[]", IPWD_E_NOT_AN_OBJECT),
	B("array of objects", "[{\"target\":\"192.0.2.1\"}]", IPWD_E_NOT_AN_OBJECT),
	/* valid JSON texts (RFC 8259) that are not objects: docs/api.md says
	 * not_an_object, not invalid_json */
	B("string", "\"192.0.2.1\"", IPWD_E_NOT_AN_OBJECT),
	B("integer", "42", IPWD_E_NOT_AN_OBJECT),
	B("null", "null", IPWD_E_NOT_AN_OBJECT),
	B("true", "true", IPWD_E_NOT_AN_OBJECT),
};
/* clang-format on */

static void test_bodies(void)
{
	for (size_t i = 0; i < sizeof(bodies) / sizeof(bodies[0]); i++) {
		const struct body_case *c = &bodies[i];
		struct ipwd_perr e;
		json_t *obj = NULL;
		int rc;

		why[0] = '\0';
		memset(&e, 0, sizeof(e));
		rc = ipwd_parse_body(c->in, c->len, &obj, &e);
		if (c->err == PASS) {
			expect(rc == 0, "refused: %s \"%s\"",
			       code_name((int)e.code), e.msg);
			expect(rc != 0 || json_is_object(obj), "not an object");
		} else {
			expect_err(&e, rc, c->err, "");
			if (c->err == IPWD_E_INVALID_JSON && c->len > 0)
				expect(strstr(e.msg, "line") != NULL,
				       "message \"%s\" gives no line", e.msg);
		}
		ok(why[0] == '\0', "body: %s -> %s", c->name,
		   code_name(c->err));
		if (why[0])
			diag("%s", why);
		if (rc == 0)
			json_decref(obj);
	}
}

/* Nesting deep enough to exhaust a recursive parser's stack is refused. */
static void test_deep_nesting(void)
{
	static const struct {
		const char *open, *close;
		size_t depth;
	} v[] = {
		{"[", "]", 100000},
		{"{\"a\":", "}", 100000},
		{"{\"a\":[", "]}", 5000},
	};

	for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
		size_t ol = strlen(v[i].open), cl = strlen(v[i].close);
		size_t len = v[i].depth * (ol + cl) + 1, p = 0;
		char *s = malloc(len + 1);
		struct ipwd_perr e;
		json_t *obj = NULL;
		int rc;

		if (s == NULL)
			abort();
		for (size_t k = 0; k < v[i].depth; k++, p += ol)
			memcpy(s + p, v[i].open, ol);
		s[p++] = '1';
		for (size_t k = 0; k < v[i].depth; k++, p += cl)
			memcpy(s + p, v[i].close, cl);
		why[0] = '\0';
		memset(&e, 0, sizeof(e));
		rc = ipwd_parse_body(s, p, &obj, &e);
		expect_err(&e, rc, IPWD_E_INVALID_JSON, "");
		ok(why[0] == '\0',
		   "body nested %zu deep in %s%s -> INVALID_JSON", v[i].depth,
		   v[i].open, v[i].close);
		if (why[0])
			diag("%s", why);
		if (rc == 0)
			json_decref(obj);
		free(s);
	}
}

/* ipwd_parse_entry() on values that are not objects. */
static void test_entry_not_object(void)
{
	json_t *v[] = {json_array(), json_string("192.0.2.1"), json_integer(1),
		       json_null(), json_true()};

	for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
		struct ipw_entry_spec spec;
		struct ipwd_perr e;
		int rc;

		why[0] = '\0';
		memset(&e, 0, sizeof(e));
		rc = ipwd_parse_entry(v[i], BAN, NOW, 0, &spec, &e);
		expect_err(&e, rc, IPWD_E_NOT_AN_OBJECT, NULL);
		ok(why[0] == '\0', "entry of JSON type %d -> NOT_AN_OBJECT",
		   (int)json_typeof(v[i]));
		if (why[0])
			diag("%s", why);
		json_decref(v[i]);
	}
}

/* A ban without ttl whose default would end after 2106 is refused, not
 * wrapped into an earlier expiry. */
static void test_default_ttl_range(void)
{
	static const struct {
		uint64_t dttl;
		int err;
		int64_t expires;
	} v[] = {
		{TTL_LAST, PASS, INT64_C(4294967295)},
		{TTL_LAST + 1, IPWD_E_INVALID_TTL, 0},
		{UINT64_C(4294967295), IPWD_E_INVALID_TTL, 0},
	};

	for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
		struct entry_case c = {
			.list = BAN,
			.dttl = v[i].dttl,
			.err = v[i].err,
			.field = "ttl",
			.target = "192.0.2.1",
			.expires = v[i].expires,
		};
		char label[64];

		snprintf(label, sizeof(label), "default ttl %llu",
			 (unsigned long long)v[i].dttl);
		check_entry(&c, "{\"target\":\"192.0.2.1\"}",
			    strlen("{\"target\":\"192.0.2.1\"}"), label);
	}
}

/* ---- batches ---- */

struct batch_case {
	const char *body;
	size_t max;
	int err;
	const char *field; /* on error */
	size_t index;	   /* on an item's error: its index */
	bool item_err;	   /* the error is an item's */
	size_t n;	   /* on success */
};

/* clang-format off */
static const struct batch_case batches[] = {
	{ "{\"items\":[]}", 10, PASS, NULL, 0, false, 0 },
	{ "{\"items\":[]}", 0, PASS, NULL, 0, false, 0 },
	{ "{\"items\":[{\"target\":\"192.0.2.1\"}]}", 1, PASS, NULL, 0, false, 1 },
	{ "{\"items\":[{\"target\":\"192.0.2.1\"},{\"target\":\"192.0.2.2\"},"
	  "{\"target\":\"192.0.2.3\"}]}", 3, PASS, NULL, 0, false, 3 },
	{ "{\"items\":[{\"target\":\"192.0.2.1\"},{\"target\":\"192.0.2.2\"},"
	  "{\"target\":\"192.0.2.3\"}]}", 2, IPWD_E_BATCH_TOO_LARGE, "items", 0, false, 0 },
	{ "{\"items\":[{\"target\":\"192.0.2.1\"}]}", 0, IPWD_E_BATCH_TOO_LARGE, "items", 0, false, 0 },
	/* too many is refused before any item is looked at */
	{ "{\"items\":[1,2,3]}", 2, IPWD_E_BATCH_TOO_LARGE, "items", 0, false, 0 },
	{ "{}", 10, IPWD_E_MISSING_FIELD, "items", 0, false, 0 },
	{ "{\"items\":{}}", 10, IPWD_E_WRONG_TYPE, "items", 0, false, 0 },
	{ "{\"items\":null}", 10, IPWD_E_WRONG_TYPE, "items", 0, false, 0 },
	{ "{\"items\":\"192.0.2.1\"}", 10, IPWD_E_WRONG_TYPE, "items", 0, false, 0 },
	{ "{\"items\":{\"target\":\"192.0.2.1\"}}", 10, IPWD_E_WRONG_TYPE, "items", 0, false, 0 },
	{ "{\"items\":[],\"force\":true}", 10, IPWD_E_UNKNOWN_FIELD, "force", 0, false, 0 },
	{ "{\"target\":\"192.0.2.1\"}", 10, IPWD_E_UNKNOWN_FIELD, "target", 0, false, 0 },
	{ "{\"Items\":[]}", 10, IPWD_E_UNKNOWN_FIELD, "Items", 0, false, 0 },
	/* an invalid item: its index, its code, its member */
	{ "{\"items\":[{\"target\":\"192.0.2.01\"}]}", 10,
	  IPWD_E_INVALID_TARGET, "target", 0, true, 0 },
	{ "{\"items\":[{\"target\":\"192.0.2.1\"},{\"target\":\"192.0.2.2\"},"
	  "{\"target\":\"192.0.2.7/24\"},{\"target\":\"192.0.2.4\"}]}", 10,
	  IPWD_E_INVALID_TARGET, "target", 2, true, 0 },
	{ "{\"items\":[{\"target\":\"192.0.2.1\"},\"192.0.2.2\"]}", 10,
	  IPWD_E_NOT_AN_OBJECT, NULL, 1, true, 0 },
	{ "{\"items\":[{\"target\":\"192.0.2.1\"},[]]}", 10,
	  IPWD_E_NOT_AN_OBJECT, NULL, 1, true, 0 },
	{ "{\"items\":[{\"target\":\"192.0.2.1\"},{\"target\":\"192.0.2.2\",\"tll\":5}]}", 10,
	  IPWD_E_UNKNOWN_FIELD, "tll", 1, true, 0 },
	{ "{\"items\":[{},{\"target\":\"192.0.2.2\"}]}", 10,
	  IPWD_E_MISSING_FIELD, "target", 0, true, 0 },
	{ "{\"items\":[{\"target\":\"192.0.2.1\"},{\"target\":\"192.0.2.2\"},"
	  "{\"target\":\"192.0.2.3\",\"ttl\":-1}]}", 10,
	  IPWD_E_INVALID_TTL, "ttl", 2, true, 0 },
	{ "{\"items\":[{\"target\":\"192.0.2.1\",\"score\":2.5}]}", 10,
	  IPWD_E_INVALID_SCORE, "score", 0, true, 0 },
	{ "{\"items\":[{\"target\":\"192.0.2.1\",\"auto\":\"no\"}]}", 10,
	  IPWD_E_WRONG_TYPE, "auto", 0, true, 0 },
};
/* clang-format on */

static void check_batch(const struct batch_case *c, const char *body,
			size_t len, const char *label)
{
	struct ipw_entry_spec *specs = NULL;
	struct ipwd_perr e;
	json_t *obj = NULL;
	size_t n = 12345;
	int rc;

	why[0] = '\0';
	memset(&e, 0, sizeof(e));
	e.index = 999999;
	rc = ipwd_parse_body(body, len, &obj, &e);
	if (!expect(rc == 0, "body refused: %s", e.msg))
		goto out;
	rc = ipwd_parse_batch(obj, c->max, NOW, 300, &specs, &n, &e);
	if (c->err != PASS) {
		char want[32];

		expect_err(&e, rc, c->err, c->field);
		if (c->item_err) {
			snprintf(want, sizeof(want), "items[%zu]", c->index);
			expect(e.index == c->index, "index %zu, want %zu",
			       e.index, c->index);
			expect(strstr(e.msg, want) != NULL,
			       "message \"%s\" does not name %s", e.msg, want);
		}
		goto out;
	}
	if (!expect(rc == 0, "refused: %s field \"%s\": %s",
		    code_name((int)e.code), e.field, e.msg))
		goto out;
	expect(n == c->n, "n %zu, want %zu", n, c->n);
	expect(specs != NULL, "specs NULL");
	for (size_t i = 0; specs && i < n && i < c->n; i++) {
		struct ipw_addr a;
		char t[32];

		snprintf(t, sizeof(t), "192.0.2.%zu", i + 1);
		ipw_addr_parse_str(t, 0, &a);
		expect(ipw_addr_equal(&specs[i].target, &a),
		       "items[%zu] is not %s", i, t);
		expect(specs[i].list == BAN, "items[%zu] not a ban", i);
		expect(specs[i].expires == NOW + 300,
		       "items[%zu] expires %lld, want default %lld", i,
		       (long long)specs[i].expires, (long long)(NOW + 300));
	}
out:
	ok(why[0] == '\0', "batch max %zu %s -> %s", c->max, printable(label),
	   code_name(c->err));
	if (why[0])
		diag("%s", why);
	free(specs);
	json_decref(obj);
}

static void test_batches(void)
{
	for (size_t i = 0; i < sizeof(batches) / sizeof(batches[0]); i++)
		check_batch(&batches[i], batches[i].body,
			    strlen(batches[i].body), batches[i].body);
}

/* Larger batches: all members of every item, and an error deep inside. */
static void test_batch_large(void)
{
	enum { N = 1000 };
	static const size_t bad_at[] = {0, 1, 499, N - 1};
	char *body = malloc((size_t)N * 128 + 64);
	struct ipw_entry_spec *specs = NULL;
	struct ipwd_perr e;
	json_t *obj = NULL;
	size_t n = 0, p;
	bool all = true;
	int rc;

	if (body == NULL)
		abort();
	p = (size_t)sprintf(body, "{\"items\":[");
	for (size_t i = 0; i < N; i++)
		p += (size_t)sprintf(body + p,
				     "%s{\"target\":\"10.%zu.%zu.0/24\","
				     "\"ttl\":%zu,\"score\":%zu,\"auto\":%s,"
				     "\"reason\":\"r%zu\",\"source\":\"s\"}",
				     i ? "," : "", i / 256, i % 256, i + 1, i,
				     i % 2 ? "true" : "false", i);
	p += (size_t)sprintf(body + p, "]}");
	rc = ipwd_parse_body(body, p, &obj, &e);
	if (rc == 0)
		rc = ipwd_parse_batch(obj, N, NOW, 0, &specs, &n, &e);
	is_int(rc, 0, "batch of %d items with every member accepted", N);
	is_int(n, rc == 0 ? N : 0, "batch of %d items: n", N);
	for (size_t i = 0; rc == 0 && i < n; i++) {
		struct ipw_addr a;
		char t[32], r[16];

		snprintf(t, sizeof(t), "10.%zu.%zu.0/24", i / 256, i % 256);
		snprintf(r, sizeof(r), "r%zu", i);
		ipw_addr_parse_str(t, 0, &a);
		if (!ipw_addr_equal(&specs[i].target, &a) ||
		    specs[i].expires != NOW + (int64_t)i + 1 ||
		    specs[i].score != i ||
		    specs[i].flags != (i % 2 ? IPW_ENTRY_AUTO : 0u) ||
		    !str_eq(specs[i].reason, r) ||
		    !str_eq(specs[i].source, "s")) {
			diag("items[%zu] decoded wrong", i);
			all = false;
			break;
		}
	}
	ok(rc == 0 && all, "batch of %d items: every item decoded in order", N);
	free(specs);
	json_decref(obj);

	/* the same with one bad item: each position reported */
	for (size_t k = 0; k < sizeof(bad_at) / sizeof(bad_at[0]); k++) {
		struct batch_case c = {
			.max = N,
			.err = IPWD_E_INVALID_SCORE,
			.field = "score",
			.index = bad_at[k],
			.item_err = true,
		};
		char label[64];

		p = (size_t)sprintf(body, "{\"items\":[");
		for (size_t i = 0; i < N; i++)
			p += (size_t)sprintf(
				body + p,
				"%s{\"target\":\"10.%zu.%zu.0/24\","
				"\"score\":%d}",
				i ? "," : "", i / 256, i % 256,
				i == bad_at[k] ? 1000001 : 1);
		p += (size_t)sprintf(body + p, "]}");
		snprintf(label, sizeof(label), "%d items, items[%zu] bad", N,
			 bad_at[k]);
		check_batch(&c, body, p, label);
	}
	free(body);
}

/* An item error whose message is long still names the item first. */
static void test_batch_long_message(void)
{
	struct batch_case c = {
		.max = 100000,
		.err = IPWD_E_UNKNOWN_FIELD,
		.field = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", /* 31: e.field */
		.index = 12345,
		.item_err = true,
	};
	size_t cap = 12346 * 24 + 400, p;
	char *body = malloc(cap);

	if (body == NULL)
		abort();
	p = (size_t)sprintf(body, "{\"items\":[");
	for (size_t i = 0; i < 12345; i++)
		p += (size_t)sprintf(body + p, "{\"target\":\"::%zx\"},",
				     i + 1);
	p += (size_t)sprintf(body + p, "{\"target\":\"::1\",\"");
	memset(body + p, 'a', 200);
	p += 200;
	p += (size_t)sprintf(body + p, "\":1}]}");
	check_batch(&c, body, p, "12346 items, 200-byte unknown member last");
	free(body);
}

/* ---- mode ---- */

/* clang-format off */
static const struct {
	const char *body;
	int err;
	const char *field;
	enum ipw_mode mode;
} modes[] = {
	{ "{\"mode\":\"denylist\"}", PASS, NULL, IPW_MODE_DENYLIST },
	{ "{\"mode\":\"allowlist\"}", PASS, NULL, IPW_MODE_ALLOWLIST },
	{ "{\"mode\":\"Denylist\"}", IPWD_E_INVALID_MODE, "mode", 0 },
	{ "{\"mode\":\"ALLOWLIST\"}", IPWD_E_INVALID_MODE, "mode", 0 },
	{ "{\"mode\":\"deny\"}", IPWD_E_INVALID_MODE, "mode", 0 },
	{ "{\"mode\":\"blocklist\"}", IPWD_E_INVALID_MODE, "mode", 0 },
	{ "{\"mode\":\"\"}", IPWD_E_INVALID_MODE, "mode", 0 },
	{ "{\"mode\":\"allowlist\\u0000\"}", IPWD_E_INVALID_MODE, "mode", 0 },
	{ "{\"mode\":\"denylist\\u0000x\"}", IPWD_E_INVALID_MODE, "mode", 0 },
	{ "{\"mode\":\"denylist \"}", IPWD_E_INVALID_MODE, "mode", 0 },
	{ "{\"mode\":\" allowlist\"}", IPWD_E_INVALID_MODE, "mode", 0 },
	{ "{\"mode\":0}", IPWD_E_WRONG_TYPE, "mode", 0 },
	{ "{\"mode\":1}", IPWD_E_WRONG_TYPE, "mode", 0 },
	{ "{\"mode\":null}", IPWD_E_WRONG_TYPE, "mode", 0 },
	{ "{\"mode\":true}", IPWD_E_WRONG_TYPE, "mode", 0 },
	{ "{\"mode\":[\"denylist\"]}", IPWD_E_WRONG_TYPE, "mode", 0 },
	{ "{\"mode\":{}}", IPWD_E_WRONG_TYPE, "mode", 0 },
	{ "{}", IPWD_E_MISSING_FIELD, "mode", 0 },
	{ "{\"mode\":\"denylist\",\"force\":true}", IPWD_E_UNKNOWN_FIELD, "force", 0 },
	{ "{\"force\":true,\"mode\":\"denylist\"}", IPWD_E_UNKNOWN_FIELD, "force", 0 },
	{ "{\"Mode\":\"denylist\"}", IPWD_E_UNKNOWN_FIELD, "Mode", 0 },
};
/* clang-format on */

static void test_modes(void)
{
	for (size_t i = 0; i < sizeof(modes) / sizeof(modes[0]); i++) {
		/* start from the other mode, so a success must write it */
		enum ipw_mode m = modes[i].mode == IPW_MODE_DENYLIST ?
					  IPW_MODE_ALLOWLIST :
					  IPW_MODE_DENYLIST;
		struct ipwd_perr e;
		json_t *obj = NULL;
		int rc;

		why[0] = '\0';
		memset(&e, 0, sizeof(e));
		rc = ipwd_parse_body(modes[i].body, strlen(modes[i].body), &obj,
				     &e);
		if (expect(rc == 0, "body refused: %s", e.msg)) {
			rc = ipwd_parse_mode(obj, &m, &e);
			if (modes[i].err == PASS) {
				expect(rc == 0, "refused: %s", e.msg);
				expect(m == modes[i].mode, "mode %d, want %d",
				       (int)m, (int)modes[i].mode);
			} else {
				expect_err(&e, rc, modes[i].err,
					   modes[i].field);
			}
		}
		ok(why[0] == '\0', "mode %s -> %s", printable(modes[i].body),
		   code_name(modes[i].err));
		if (why[0])
			diag("%s", why);
		json_decref(obj);
	}
}

/* ---- ipwd_parse_ttl() on its own ---- */

static void test_ttl(void)
{
	static const struct {
		const char *json; /* one value, wrapped in [] to parse */
		int err;
		uint64_t secs;
	} v[] = {
		{"0", PASS, 0},
		{"1", PASS, 1},
		{"86400", PASS, 86400},
		{"4294967295", PASS, UINT64_C(4294967295)},
		{"4294967296", IPWD_E_INVALID_TTL, 0},
		{"-1", IPWD_E_INVALID_TTL, 0},
		{"-9223372036854775808", IPWD_E_INVALID_TTL, 0},
		{"\"0\"", PASS, 0},
		{"\"600\"", PASS, 600},
		{"\"30s\"", PASS, 30},
		{"\"10m\"", PASS, 600},
		{"\"2h\"", PASS, 7200},
		{"\"7d\"", PASS, 604800},
		{"\"1w\"", PASS, 604800},
		{"\"1h30m\"", PASS, 5400},
		{"\"1w2d3h4m5s\"", PASS,
		 604800 + 2 * 86400 + 3 * 3600 + 4 * 60 + 5},
		{"\"05m\"", PASS, 300},
		{"\"4294967295\"", PASS, UINT64_C(4294967295)},
		{"\"4294967296\"", IPWD_E_INVALID_TTL, 0},
		{"\"\"", IPWD_E_INVALID_TTL, 0},
		{"\"10x\"", IPWD_E_INVALID_TTL, 0},
		{"\"1.5\"", IPWD_E_INVALID_TTL, 0},
		{"\"+5\"", IPWD_E_INVALID_TTL, 0},
		{"\"5 s\"", IPWD_E_INVALID_TTL, 0},
		{"\"5s \"", IPWD_E_INVALID_TTL, 0},
		{"\"1m1m\"", IPWD_E_INVALID_TTL, 0},
		{"\"h\"", IPWD_E_INVALID_TTL, 0},
		{"1.5", IPWD_E_INVALID_TTL, 0},
		{"0.0", IPWD_E_INVALID_TTL, 0},
		{"true", IPWD_E_WRONG_TYPE, 0},
		{"false", IPWD_E_WRONG_TYPE, 0},
		{"null", IPWD_E_WRONG_TYPE, 0},
		{"[]", IPWD_E_WRONG_TYPE, 0},
		{"{}", IPWD_E_WRONG_TYPE, 0},
	};

	for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
		char buf[128];
		json_error_t je;
		struct ipwd_perr e;
		uint64_t secs = 77777;
		json_t *arr;
		int rc;

		why[0] = '\0';
		memset(&e, 0, sizeof(e));
		snprintf(buf, sizeof(buf), "[%s]", v[i].json);
		arr = json_loads(buf, 0, &je);
		if (arr == NULL)
			abort();
		rc = ipwd_parse_ttl(json_array_get(arr, 0), &secs, &e);
		if (v[i].err == PASS) {
			if (expect(rc == 0, "refused: %s %s",
				   code_name((int)e.code), e.msg))
				expect(secs == v[i].secs, "%llu s, want %llu",
				       (unsigned long long)secs,
				       (unsigned long long)v[i].secs);
		} else {
			expect_err(&e, rc, v[i].err, "ttl");
		}
		ok(why[0] == '\0', "ttl %s -> %s", v[i].json,
		   code_name(v[i].err));
		if (why[0])
			diag("%s", why);
		json_decref(arr);
	}
}

int main(void)
{
	test_entries();
	test_string_limits();
	test_default_ttl_range();
	test_entry_not_object();
	test_bodies();
	test_deep_nesting();
	test_batches();
	test_batch_large();
	test_batch_long_message();
	test_modes();
	test_ttl();
	return done_testing();
}
