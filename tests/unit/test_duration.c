// SPDX-License-Identifier: MIT
/*
 * Unit tests of duration parsing and formatting: a table of vectors (input,
 * expected value or error and its offset), golden outputs of format, then
 * properties: format -> parse round trips over every value up to two weeks
 * and over random values up to the maximum, and agreement on random inputs
 * with a reference built from a POSIX regular expression of the grammar.
 */
#include <regex.h>
#include <stdint.h>

#include <ipwall/duration.h>

#include "tap.h"

#define MAX IPW_DURATION_MAX
#define SYN IPW_EDURATION_SYNTAX

struct vec {
	const char *in;
	size_t len; /* bytes of in, so that NUL bytes can be tested */
	int err;    /* 0: success */
	uint64_t secs;
	size_t pos; /* expected error offset */
};

/* A vector whose length is that of the literal, NUL bytes included. */
#define OK(s, v)                          \
	{                                 \
		s, sizeof(s) - 1, 0, v, 0 \
	}
#define BAD(s, e, p)                      \
	{                                 \
		s, sizeof(s) - 1, e, 0, p \
	}

/* clang-format off */
static const struct vec vecs[] = {
	/* ---- plain seconds ---- */
	OK("0", 0),
	OK("00", 0),
	OK("1", 1),
	OK("600", 600),
	OK("0600", 600),
	OK("86400", 86400),
	OK("4294967295", 4294967295u),
	OK("0004294967295", 4294967295u),
	/* ---- one group per unit ---- */
	OK("30s", 30),
	OK("10m", 600),
	OK("2h", 7200),
	OK("7d", 604800),
	OK("1w", 604800),
	OK("0s", 0),
	OK("0w", 0),
	OK("05m", 300),
	OK("90s", 90),
	OK("90m", 5400),
	OK("100h", 360000),
	OK("365d", 31536000),
	OK("000000000000000000000000000001s", 1),
	/* ---- several groups, decreasing units ---- */
	OK("1h30m", 5400),
	OK("1d12h", 129600),
	OK("1w1d1h1m1s", 694861),
	OK("0w0d0h0m0s", 0),
	OK("1w2s", 604802),
	OK("2d3m", 172980),
	OK("1h0m1s", 3601),
	OK("23h59m59s", 86399),
	/* ---- the maximum and just past it ---- */
	OK("7101w3d6h28m15s", 4294967295u),
	OK("4294967295s", 4294967295u),
	OK("71582788m15s", 4294967295u),
	OK("7101w1d", 4294771200u),
	BAD("7101w3d6h28m16s", IPW_ERANGE, 12),
	BAD("4294967296", IPW_ERANGE, 0),
	BAD("4294967296s", IPW_ERANGE, 0),
	BAD("71582789m", IPW_ERANGE, 0),
	BAD("7102w", IPW_ERANGE, 0),
	BAD("7101w4d", IPW_ERANGE, 5),
	BAD("1w4294967295s", IPW_ERANGE, 2),
	/* ---- numbers that would wrap a uint64_t ---- */
	BAD("18446744073709551615", IPW_ERANGE, 0),
	BAD("18446744073709551616", IPW_ERANGE, 0),
	BAD("18446744073709551616s", IPW_ERANGE, 0),
	BAD("30500568904944w", IPW_ERANGE, 0),
	BAD("99999999999999999999999999999999w", IPW_ERANGE, 0),
	BAD("1w99999999999999999999s", IPW_ERANGE, 2),
	/* ---- a syntax error wins over a range error ---- */
	BAD("99999999999999999999x", SYN, 20),
	BAD("99999999999999999999h1h", SYN, 22),
	BAD("9999999999w1", SYN, 12),
	/* ---- empty ---- */
	BAD("", IPW_EDURATION_EMPTY, 0),
	/* ---- bad characters ---- */
	BAD(" ", SYN, 0),
	BAD(" 1h", SYN, 0),
	BAD("1h ", SYN, 2),
	BAD("1 h", SYN, 1),
	BAD("1h 30m", SYN, 2),
	BAD("\t5", SYN, 0),
	BAD("1h\n", SYN, 2),
	BAD("1h\r", SYN, 2),
	BAD("+5", SYN, 0),
	BAD("-5", SYN, 0),
	BAD("-0", SYN, 0),
	BAD("+1h", SYN, 0),
	BAD("5-", SYN, 1),
	BAD("1.5h", SYN, 1),
	BAD("1,5h", SYN, 1),
	BAD("0.5", SYN, 1),
	BAD("1_000", SYN, 1),
	BAD("1'000", SYN, 1),
	BAD("0x10", SYN, 1),
	BAD("1e3", SYN, 1),
	BAD("NaN", SYN, 0),
	BAD("inf", SYN, 0),
	BAD("forever", SYN, 0),
	/* ---- units: unknown, uppercase, words ---- */
	BAD("1H", SYN, 1),
	BAD("1S", SYN, 1),
	BAD("1W", SYN, 1),
	BAD("1y", SYN, 1),
	BAD("1ms", SYN, 2),
	BAD("1min", SYN, 2),
	BAD("1hr", SYN, 2),
	BAD("1sec", SYN, 2),
	BAD("1h30min", SYN, 5),
	/* ---- missing number ---- */
	BAD("h", SYN, 0),
	BAD("s", SYN, 0),
	BAD("w1d", SYN, 0),
	BAD("1hm", SYN, 2),
	BAD("1h30ms", SYN, 5),
	/* ---- missing unit after a group ---- */
	BAD("1h30", SYN, 4),
	BAD("1w1", SYN, 3),
	BAD("1m0", SYN, 3),
	BAD("1d12h30", SYN, 7),
	/* ---- order and repetition ---- */
	BAD("30m1h", SYN, 4),
	BAD("1h1h", SYN, 3),
	BAD("1s1m", SYN, 3),
	BAD("1m1m", SYN, 3),
	BAD("1d1w", SYN, 3),
	BAD("1s0s", SYN, 3),
	BAD("1w1d1h1m1s1s", SYN, 11),
	BAD("1s1w", SYN, 3),
	BAD("0m0h", SYN, 3),
	/* ---- hostile bytes ---- */
	BAD("\0", SYN, 0),
	BAD("5\0", SYN, 1),
	BAD("1h30m\0", SYN, 5),
	BAD("1\0h", SYN, 1),
	BAD("\xff", SYN, 0),
	BAD("1\xff", SYN, 1),
	BAD("1\xc2\xb5s", SYN, 1),         /* U+00B5 micro sign */
	BAD("\xd9\xa3s", SYN, 0),          /* U+0663 Arabic-Indic three */
	BAD("\xef\xbc\x91s", SYN, 0),      /* U+FF11 fullwidth one */
	BAD("\xef\xbb\xbf" "1h", SYN, 0),  /* byte order mark */
	BAD("1h\x7f", SYN, 2),
	BAD("%s%n", SYN, 0),
};
/* clang-format on */

/* @s for a test description: printable ASCII as is, other bytes as \xNN,
 * so that no input can break a TAP line. One call per printf. */
static const char *quote(const char *s, size_t len)
{
	static char buf[256];
	char *q = buf;

	for (size_t i = 0; i < len && q < buf + sizeof(buf) - 5; i++) {
		unsigned char c = (unsigned char)s[i];

		if (c >= 0x20 && c < 0x7f && c != '\\')
			*q++ = (char)c;
		else
			q += sprintf(q, "\\x%02x", c);
	}
	*q = '\0';
	return buf;
}

static void test_vectors(void)
{
	for (size_t i = 0; i < sizeof(vecs) / sizeof(vecs[0]); i++) {
		const struct vec *v = &vecs[i];
		uint64_t secs = 0xa5a5a5a5a5a5a5a5ull;
		size_t pos = 9999;
		int rc;

		rc = ipw_duration_parse(v->in, v->len, &secs, &pos);
		if (v->err) {
			ok(rc == v->err && pos == v->pos,
			   "reject \"%s\": %s at %zu", quote(v->in, v->len),
			   ipw_errname(rc), pos);
			if (rc != v->err)
				diag("want %s", ipw_errname(v->err));
			if (pos != v->pos)
				diag("want offset %zu", v->pos);
			ok(secs == 0xa5a5a5a5a5a5a5a5ull,
			   "  and leaves the result alone");
			continue;
		}
		ok(rc == 0 && secs == v->secs && pos == 9999, "\"%s\" is %llu",
		   quote(v->in, v->len), (unsigned long long)v->secs);
		if (rc)
			diag("got %s at %zu", ipw_errname(rc), pos);
		else if (secs != v->secs)
			diag("got %llu", (unsigned long long)secs);
	}
}

struct golden {
	uint64_t secs;
	const char *text;
};

/* clang-format off */
static const struct golden goldens[] = {
	{ 0, "0" },
	{ 1, "1s" },
	{ 59, "59s" },
	{ 60, "1m" },
	{ 61, "1m1s" },
	{ 90, "1m30s" },
	{ 600, "10m" },
	{ 3599, "59m59s" },
	{ 3600, "1h" },
	{ 3601, "1h1s" },
	{ 5400, "1h30m" },
	{ 86399, "23h59m59s" },
	{ 86400, "1d" },
	{ 86401, "1d1s" },
	{ 129600, "1d12h" },
	{ 604799, "6d23h59m59s" },
	{ 604800, "1w" },
	{ 694861, "1w1d1h1m1s" },
	{ 1209600, "2w" },
	{ 31536000, "52w1d" },
	{ 4294967295u, "7101w3d6h28m15s" },
	{ 4294967296u, "7101w3d6h28m16s" },
	{ UINT64_MAX, "30500568904943w7h15s" },
	{ 30500568904942ull * 604800 + 604799, "30500568904942w6d23h59m59s" },
};
/* clang-format on */

static void test_format(void)
{
	char buf[IPW_DURATION_STRLEN];
	int n;

	for (size_t i = 0; i < sizeof(goldens) / sizeof(goldens[0]); i++) {
		const struct golden *g = &goldens[i];

		n = ipw_duration_format(g->secs, buf, sizeof(buf));
		is_str(buf, g->text, "format %llu",
		       (unsigned long long)g->secs);
		is_int(n, strlen(buf), "  and returns its length");
	}

	n = ipw_duration_format(30500568904942ull * 604800 + 604799, buf,
				sizeof(buf));
	is_int(n, 26, "the longest text is 26 bytes");
	ok(IPW_DURATION_STRLEN > 26, "  and fits IPW_DURATION_STRLEN");
	is_int(ipw_duration_format(694861, buf, 11), 10,
	       "format into an exact buffer");
	is_str(buf, "1w1d1h1m1s", "  writes the text");
	is_int(ipw_duration_format(694861, buf, 10), IPW_EBUFSIZE,
	       "format into a buffer one short fails");
	is_str(buf, "", "  and leaves an empty string");
	is_int(ipw_duration_format(0, buf, 1), IPW_EBUFSIZE,
	       "\"0\" does not fit one byte");
	buf[0] = 'x';
	is_int(ipw_duration_format(0, buf, 0), IPW_EBUFSIZE,
	       "format into a zero-size buffer fails");
	ok(buf[0] == 'x', "  without writing");
	is_int(ipw_duration_format(0, buf, 2), 1, "\"0\" fits two bytes");
}

static void test_bounds(void)
{
	static const char full[] = "1h30m";
	static const int want_rc[] = {IPW_EDURATION_EMPTY, 0, 0, SYN, SYN, 0};
	static const uint64_t want_secs[] = {0, 1, 3600, 0, 0, 5400};
	uint64_t secs;
	size_t pos;
	int rc;

	for (size_t len = 0; len <= strlen(full); len++) {
		secs = 0;
		pos = 9999;
		rc = ipw_duration_parse(full, len, &secs, &pos);
		ok(rc == want_rc[len] && (rc || secs == want_secs[len]) &&
			   (!rc || pos == len),
		   "truncated \"%.*s\": %s", (int)len, full, ipw_errname(rc));
	}
	is_int(ipw_duration_parse(NULL, 0, &secs, NULL), IPW_EDURATION_EMPTY,
	       "NULL with length 0 is empty");
	is_int(ipw_duration_parse("1h", 2, &secs, NULL), 0,
	       "errpos may be NULL on success");
	is_int(ipw_duration_parse("1x", 2, &secs, NULL), SYN,
	       "errpos may be NULL on failure");
	is_int(ipw_duration_parse("10mjunk", 3, &secs, NULL), 0,
	       "length bounds the input");
	is_int(secs, 600, "  and the value is that of the bounded text");
}

static uint64_t rng_state = 0x9e3779b97f4a7c15ull;

static uint64_t rnd(void)
{
	/* xorshift64*: deterministic, so a failure reproduces. */
	rng_state ^= rng_state >> 12;
	rng_state ^= rng_state << 25;
	rng_state ^= rng_state >> 27;
	return rng_state * 0x2545f4914f6cdd1dull;
}

/* format(x) parses back to x; returns 0 if so. */
static int roundtrip(uint64_t x)
{
	char buf[IPW_DURATION_STRLEN];
	uint64_t back = ~x;
	int n, rc;

	n = ipw_duration_format(x, buf, sizeof(buf));
	if (n <= 0)
		return 1;
	rc = ipw_duration_parse(buf, (size_t)n, &back, NULL);
	if (x > MAX)
		return rc != IPW_ERANGE;
	return rc != 0 || back != x;
}

static void test_roundtrip(void)
{
	uint64_t bad = 0, n = 0;
	static const uint64_t edges[] = {
		MAX,
		MAX - 1,
		MAX - 59,
		MAX - 604800,
		MAX + 1,
		MAX + 604800,
		UINT64_MAX,
		UINT64_MAX - 1,
		1u << 31,
		(1ull << 32) - 604800,
		7101ull * 604800,
	};

	/* Every value up to two weeks: each unit's carries and all gaps. */
	for (uint64_t x = 0; x <= 2 * 604800; x++, n++)
		bad += roundtrip(x);
	is_int(bad, 0, "every value 0..%llu round-trips",
	       (unsigned long long)(n - 1));

	bad = 0;
	for (size_t i = 0; i < sizeof(edges) / sizeof(edges[0]); i++)
		bad += roundtrip(edges[i]);
	is_int(bad, 0, "values at the edges round-trip (above MAX: ERANGE)");

	bad = 0;
	for (int i = 0; i < 1000000; i++) {
		uint64_t x = rnd();

		/* Mostly in range, spread over all magnitudes. */
		if (i % 4)
			x &= MAX;
		x >>= rnd() % 32;
		if (roundtrip(x) && bad++ < 5)
			diag("round trip of %llu failed",
			     (unsigned long long)x);
	}
	is_int(bad, 0, "1000000 random values round-trip");
}

/*
 * The reference: the grammar as a POSIX extended regular expression, and
 * the value as a sum over its submatches with saturation.
 */
static regex_t grammar;

static int reference(const char *s, size_t len, uint64_t *secs,
		     size_t *rangepos)
{
	static const uint64_t mul[] = {0, 1, 604800, 86400, 3600, 60, 1};
	regmatch_t m[7];
	char z[64];
	uint64_t total = 0;

	if (len == 0)
		return IPW_EDURATION_EMPTY;
	memcpy(z, s, len);
	z[len] = '\0';
	if (regexec(&grammar, z, 7, m, 0) != 0)
		return SYN;
	for (int g = 1; g < 7; g++) {
		uint64_t v = 0;

		if (m[g].rm_so < 0 || (g == 1 && strchr("wdhms", z[len - 1])))
			continue;
		for (regoff_t k = m[g].rm_so; k < m[g].rm_eo; k++)
			if (z[k] >= '0' && z[k] <= '9')
				v = v * 10 + (uint64_t)(z[k] - '0') > MAX ?
					    MAX + 1 :
					    v * 10 + (uint64_t)(z[k] - '0');
		total += v * mul[g];
		if (total > MAX) {
			*rangepos = (size_t)m[g].rm_so;
			return IPW_ERANGE;
		}
	}
	*secs = total;
	return 0;
}

static void test_reference(void)
{
	static const char alpha[] = "0123456789wdhms0011wdhmsx -.";
	int rc, bad = 0, valid = 0, range = 0;
	char s[40];

	rc = regcomp(&grammar,
		     "^([0-9]+|([0-9]+w)?([0-9]+d)?([0-9]+h)?([0-9]+m)?"
		     "([0-9]+s)?)$",
		     REG_EXTENDED);
	if (!ok(rc == 0, "the reference grammar compiles"))
		return;
	for (int i = 0; i < 300000; i++) {
		size_t len = rnd() % 16, pos = 9999, rpos = 8888;
		uint64_t a = 1, b = 2;
		int got, want;

		if (i % 3 == 0) {
			/* A valid text, perhaps with one byte changed. */
			len = (size_t)ipw_duration_format(rnd() >> (rnd() % 64),
							  s, sizeof(s));
			if (rnd() % 2)
				s[rnd() % len] =
					alpha[rnd() % (sizeof(alpha) - 1)];
		} else {
			for (size_t k = 0; k < len; k++)
				s[k] = alpha[rnd() % (sizeof(alpha) - 1)];
		}
		got = ipw_duration_parse(s, len, &a, &pos);
		want = reference(s, len, &b, &rpos);
		valid += got == 0;
		range += got == IPW_ERANGE;
		if ((got != want || (got == 0 && a != b) ||
		     (got == IPW_ERANGE && pos != rpos) ||
		     (got && pos > len)) &&
		    bad++ < 5)
			diag("\"%s\": got %s (%llu at %zu), want %s (%llu)",
			     quote(s, len), ipw_errname(got),
			     (unsigned long long)a, pos, ipw_errname(want),
			     (unsigned long long)b);
	}
	regfree(&grammar);
	is_int(bad, 0, "agree with the regular-expression reference");
	ok(valid > 50000 && range > 1000,
	   "the reference test saw valid (%d) and out-of-range (%d) inputs",
	   valid, range);
}

int main(void)
{
	test_vectors();
	test_format();
	test_bounds();
	test_roundtrip();
	test_reference();
	return done_testing();
}
