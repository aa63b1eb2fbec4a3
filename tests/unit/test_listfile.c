// SPDX-License-Identifier: MIT
/*
 * Unit tests of blocklist line parsing: a table of lines (result, canonical
 * target, comment, or error and its offset), a golden run over a whole file
 * in the formats ipwall imports (FireHOL netset, Spamhaus DROP, a
 * hand-written list with CRLF ends and a byte order mark), then lines
 * assembled at random from known parts, whose pieces must come back out.
 */
#include <stdint.h>

#include <ipwall/listfile.h>

#include "tap.h"

#define BOM "\xef\xbb\xbf"

struct vec {
	const char *in;
	size_t len;	     /* bytes of in, so that NUL bytes can be tested */
	int rc;		     /* 1 entry, 0 blank/comment, <0 error */
	const char *target;  /* canonical text when rc == 1 */
	const char *comment; /* NULL: no comment */
	size_t pos;	     /* expected error offset when rc < 0 */
};

#define NONE(s)                                    \
	{                                          \
		s, sizeof(s) - 1, 0, NULL, NULL, 0 \
	}
#define ENTRY(s, t, c)                       \
	{                                    \
		s, sizeof(s) - 1, 1, t, c, 0 \
	}
#define BAD(s, e, p)                               \
	{                                          \
		s, sizeof(s) - 1, e, NULL, NULL, p \
	}

/* clang-format off */
static const struct vec vecs[] = {
	/* ---- blank and comment-only lines ---- */
	NONE(""),
	NONE(" "),
	NONE("\t \t"),
	NONE("\r"),
	NONE(" \t\r"),
	NONE(BOM),
	NONE(BOM "\r"),
	NONE(BOM "  "),
	NONE("#"),
	NONE(";"),
	NONE("# comment"),
	NONE("#1.2.3.4"),
	NONE(";192.0.2.0/24"),
	NONE("   # indented"),
	NONE("\t; tab"),
	NONE("# x\r"),
	NONE(BOM "# FireHOL header"),
	NONE("; Spamhaus DROP List 2024/01/01 - (c) 2024 The Spamhaus Project"),
	NONE("# 1.2.3.4 junk \x01\x7f\xff after a hash is still a comment"),
	/* ---- entries: addresses and prefixes ---- */
	ENTRY("1.2.3.4", "1.2.3.4", NULL),
	ENTRY("192.0.2.0/24", "192.0.2.0/24", NULL),
	ENTRY("1.2.3.4/32", "1.2.3.4", NULL),
	ENTRY("0.0.0.0/0", "0.0.0.0/0", NULL),
	ENTRY("2001:db8::/32", "2001:db8::/32", NULL),
	ENTRY("2001:DB8:0:0:0:0:0:1", "2001:db8::1", NULL),
	ENTRY("::/0", "::/0", NULL),
	ENTRY("::ffff:192.0.2.7", "192.0.2.7", NULL),
	ENTRY("::ffff:192.0.2.0/120", "192.0.2.0/24", NULL),
	/* ---- blanks, CR, byte order mark ---- */
	ENTRY("  192.0.2.7  ", "192.0.2.7", NULL),
	ENTRY("\t192.0.2.7\t", "192.0.2.7", NULL),
	ENTRY("192.0.2.7\r", "192.0.2.7", NULL),
	ENTRY("192.0.2.7 \t\r", "192.0.2.7", NULL),
	ENTRY(BOM "192.0.2.7", "192.0.2.7", NULL),
	ENTRY(BOM " 192.0.2.7\r", "192.0.2.7", NULL),
	/* ---- trailing comments ---- */
	ENTRY("192.0.2.0/24 ; SBL123", "192.0.2.0/24", "SBL123"),
	ENTRY("192.0.2.0/24;SBL123", "192.0.2.0/24", "SBL123"),
	ENTRY("192.0.2.0/24\t;\tSBL123\t\r", "192.0.2.0/24", "SBL123"),
	ENTRY("192.0.2.7 # bad host", "192.0.2.7", "bad host"),
	ENTRY("192.0.2.7#x", "192.0.2.7", "x"),
	ENTRY("192.0.2.7 # x\r", "192.0.2.7", "x"),
	ENTRY("192.0.2.7 # x \r", "192.0.2.7", "x"),
	ENTRY("192.0.2.7 #", "192.0.2.7", NULL),
	ENTRY("192.0.2.7 ;", "192.0.2.7", NULL),
	ENTRY("192.0.2.7 #  \t ", "192.0.2.7", NULL),
	ENTRY("192.0.2.7 ## two", "192.0.2.7", "# two"),
	ENTRY("192.0.2.7 ; a ; b", "192.0.2.7", "a ; b"),
	ENTRY("192.0.2.7 # a\tb", "192.0.2.7", "a\tb"),
	ENTRY("192.0.2.7 # caf\xc3\xa9", "192.0.2.7", "caf\xc3\xa9"),
	ENTRY("192.0.2.7 # \x01\x7f\xff", "192.0.2.7", "\x01\x7f\xff"),
	ENTRY("2001:DB8::1 # v6", "2001:db8::1", "v6"),
	ENTRY("2001:db8::/48;x", "2001:db8::/48", "x"),
	/* ---- the address parser's errors, at their place in the line ---- */
	BAD("192.0.2.7/24", IPW_EADDR_HOST_BITS, 10),
	BAD("  192.0.2.7/24 ; x", IPW_EADDR_HOST_BITS, 12),
	BAD("010.1.1.1", IPW_EADDR_V4_LEADING_ZERO, 0),
	BAD("\t010.1.1.1", IPW_EADDR_V4_LEADING_ZERO, 1),
	BAD(BOM "010.1.1.1", IPW_EADDR_V4_LEADING_ZERO, 3),
	BAD("1.2.3.4,5.6.7.8", IPW_EADDR_TRAILING, 7),
	BAD("192.0.2.1-192.0.2.9", IPW_EADDR_TRAILING, 9),
	BAD("1.2.3.4:80", IPW_EADDR_TRAILING, 7),
	BAD("example.com", IPW_EADDR_V4_NOT_DECIMAL, 0),
	BAD("fe80::1%eth0", IPW_EADDR_ZONE, 7),
	BAD("1.2.3.4/33", IPW_EADDR_PREFIX_RANGE, 8),
	BAD("1.2.3.0/024", IPW_EADDR_PREFIX_SYNTAX, 8),
	BAD("[::1]", IPW_EADDR_CHAR, 0),
	BAD("/24", IPW_EADDR_EMPTY, 0),
	BAD(" /24 # x", IPW_EADDR_EMPTY, 1),
	BAD("1.2.3", IPW_EADDR_V4_PARTS, 5),
	BAD("1.2.3.4/24", IPW_EADDR_HOST_BITS, 8),
	/* ---- whitespace other than blanks, CR not at the end ---- */
	BAD("1.2.3.4\v", IPW_EADDR_SPACE, 7),
	BAD("\v1.2.3.4", IPW_EADDR_SPACE, 0),
	BAD("1.2.3.4\f", IPW_EADDR_SPACE, 7),
	BAD("1.2.3.4\r\r", IPW_EADDR_SPACE, 7),
	BAD("1.2.3.4\r ", IPW_EADDR_SPACE, 7),
	BAD("1.2.3.4\r# x", IPW_EADDR_SPACE, 7),
	BAD("\r1.2.3.4", IPW_EADDR_SPACE, 0),
	/* ---- text after the target that is not a comment ---- */
	BAD("1.2.3.4 5.6.7.8", IPW_ELIST_TRAILING, 8),
	BAD("1.2.3.4 foo", IPW_ELIST_TRAILING, 8),
	BAD("1.2.3.4\tfoo", IPW_ELIST_TRAILING, 8),
	BAD("1.2.3.4 3600", IPW_ELIST_TRAILING, 8),
	BAD("1.2.3.4  x # c", IPW_ELIST_TRAILING, 9),
	BAD("1.2.3.4 // c", IPW_ELIST_TRAILING, 8),
	BAD("1.2.3.4 \v", IPW_ELIST_TRAILING, 8),
	BAD("1.2.3.4 \r\r", IPW_ELIST_TRAILING, 8),
	BAD("2001:db8::/32 -", IPW_ELIST_TRAILING, 14),
	/* ---- byte order marks elsewhere, and other encodings ---- */
	BAD("\xef\xbb" "1.2.3.4", IPW_EADDR_CHAR, 0),
	BAD(" " BOM "1.2.3.4", IPW_EADDR_CHAR, 1),
	BAD(BOM BOM "1.2.3.4", IPW_EADDR_CHAR, 3),
	BAD("1.2.3.4" BOM, IPW_EADDR_TRAILING, 7),
	BAD("\xff\xfe" "1\0", IPW_ELIST_NUL, 3),
	BAD("\xff\xfe" "1", IPW_EADDR_CHAR, 0),
	/* ---- NUL bytes, wherever they are ---- */
	BAD("\0", IPW_ELIST_NUL, 0),
	BAD("1.2.3.4\0", IPW_ELIST_NUL, 7),
	BAD("1\0" ".2.3.4", IPW_ELIST_NUL, 1),
	BAD("1.2.3.4 # a\0b", IPW_ELIST_NUL, 11),
	BAD("# comment\0", IPW_ELIST_NUL, 9),
	BAD("   \0", IPW_ELIST_NUL, 3),
	BAD("010.1.1.1\0", IPW_ELIST_NUL, 9),
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
		struct ipw_listline l;
		char buf[IPW_ADDR_STRLEN];
		size_t pos = 9999;
		int rc;

		memset(&l, 0xa5, sizeof(l));
		rc = ipw_listfile_parse_line(v->in, v->len, &l, &pos);
		if (v->rc < 0) {
			ok(rc == v->rc && pos == v->pos,
			   "reject \"%s\": %s at %zu", quote(v->in, v->len),
			   ipw_errname(rc), pos);
			if (rc != v->rc)
				diag("want %s", ipw_errname(v->rc));
			if (pos != v->pos)
				diag("want offset %zu", v->pos);
			continue;
		}
		if (v->rc == 0) {
			ok(rc == 0 && pos == 9999 &&
				   l.comment_len == 0xa5a5a5a5a5a5a5a5ull,
			   "\"%s\" is blank or a comment, out untouched",
			   quote(v->in, v->len));
			if (rc)
				diag("got %d (%s) at %zu", rc, ipw_errname(rc),
				     pos);
			continue;
		}
		if (rc != 1) {
			ok(0, "\"%s\" is an entry: got %d (%s) at %zu",
			   quote(v->in, v->len), rc, ipw_errname(rc), pos);
			continue;
		}
		ipw_addr_format(&l.target, buf, sizeof(buf));
		if (!v->comment)
			ok(strcmp(buf, v->target) == 0 && !l.comment &&
				   l.comment_len == 0,
			   "\"%s\": %s, no comment", quote(v->in, v->len),
			   v->target);
		else
			ok(strcmp(buf, v->target) == 0 && l.comment &&
				   l.comment_len == strlen(v->comment) &&
				   memcmp(l.comment, v->comment,
					  l.comment_len) == 0 &&
				   l.comment >= v->in &&
				   l.comment + l.comment_len <= v->in + v->len,
			   "\"%s\": %s, comment inside the line",
			   quote(v->in, v->len), v->target);
		if (strcmp(buf, v->target) != 0)
			diag("got target %s", buf);
	}
}

/* clang-format off */
static const char sample[] =
	/* FireHOL netset header and body */
	"#\n"
	"# firehol_level1\n"
	"#\n"
	"# ipv4 hash:net ipset\n"
	"#\n"
	"# Maintainer      : FireHOL team\n"
	"# Maintainer URL  : http://iplists.firehol.org/\n"
	"# Source File Date: Mon Jan  1 00:00:00 UTC 2024\n"
	"#\n"
	"0.0.0.0/8\n"
	"192.0.2.0/24\n"
	"198.51.100.7\n"
	/* Spamhaus DROP */
	"; Spamhaus DROP List 2024/01/01 - (c) 2024 The Spamhaus Project\n"
	"; https://www.spamhaus.org/drop/drop.txt\n"
	"203.0.113.0/24 ; SBL123\n"
	"2001:db8::/32 ; SBL456\n"
	/* hand-written, CRLF, a byte order mark, mistakes */
	BOM "# my list\r\n"
	"\r\n"
	"  10.0.0.1   # the old VPN box\r\n"
	"\t::ffff:10.0.0.2\r\n"
	"10.1.2.3/24 # typo: host bits\r\n"
	"010.1.1.1\r\n"
	"10.0.0.9 10.0.0.10\r\n"
	"2001:DB8:0:0:0:0:0:1;upper case\r\n"
	"fe80::1%eth0\n"
	"\n";

static const char golden[] =
	"1: comment\n"
	"2: comment\n"
	"3: comment\n"
	"4: comment\n"
	"5: comment\n"
	"6: comment\n"
	"7: comment\n"
	"8: comment\n"
	"9: comment\n"
	"10: entry 0.0.0.0/8\n"
	"11: entry 192.0.2.0/24\n"
	"12: entry 198.51.100.7\n"
	"13: comment\n"
	"14: comment\n"
	"15: entry 203.0.113.0/24 [SBL123]\n"
	"16: entry 2001:db8::/32 [SBL456]\n"
	"17: comment\n"
	"18: comment\n"
	"19: entry 10.0.0.1 [the old VPN box]\n"
	"20: entry 10.0.0.2\n"
	"21: error EADDR_HOST_BITS at 9\n"
	"22: error EADDR_V4_LEADING_ZERO at 0\n"
	"23: error ELIST_TRAILING at 9\n"
	"24: entry 2001:db8::1 [upper case]\n"
	"25: error EADDR_ZONE at 7\n"
	"26: comment\n";
/* clang-format on */

/* Parse a whole file line by line, as `ipwall import` does, and describe
 * each line. (Blank and comment-only lines are alike to the parser.) */
static void test_golden(void)
{
	char out[4096] = "", *o = out;
	const char *p = sample, *end = sample + sizeof(sample) - 1;
	int lineno = 0;

	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		size_t len = nl ? (size_t)(nl - p) : (size_t)(end - p);
		struct ipw_listline l;
		char addr[IPW_ADDR_STRLEN];
		size_t pos = 0;
		int rc;

		lineno++;
		rc = ipw_listfile_parse_line(p, len, &l, &pos);
		o += sprintf(o, "%d: ", lineno);
		if (rc < 0) {
			o += sprintf(o, "error %s at %zu\n", ipw_errname(rc),
				     pos);
		} else if (rc == 0) {
			o += sprintf(o, "comment\n");
		} else {
			ipw_addr_format(&l.target, addr, sizeof(addr));
			o += sprintf(o, "entry %s", addr);
			if (l.comment)
				o += sprintf(o, " [%.*s]", (int)l.comment_len,
					     l.comment);
			o += sprintf(o, "\n");
		}
		p += len + 1;
	}
	is_str(out, golden, "golden: a sample list file, line by line");
}

static void test_bounds(void)
{
	static const char line[] = "192.0.2.0/24 ; SBL123 junk";
	struct ipw_listline l;
	size_t pos;

	is_int(ipw_listfile_parse_line(NULL, 0, &l, &pos), 0,
	       "NULL with length 0 is a blank line");
	is_int(ipw_listfile_parse_line(line, 12, &l, NULL), 1,
	       "length bounds the line (errpos may be NULL)");
	is_int(ipw_listfile_parse_line(line, 21, &l, NULL), 1,
	       "length bounds the comment");
	ok(l.comment == line + 15 && l.comment_len == 6,
	   "  which is cut at the length");
	is_int(ipw_listfile_parse_line(line, 11, &l, &pos), IPW_EADDR_HOST_BITS,
	       "a cut prefix length is checked as such");
	is_int(ipw_listfile_parse_line("1.2.3.4 x", 9, &l, NULL),
	       IPW_ELIST_TRAILING, "errpos may be NULL on failure");

	/* Every prefix of a line: each ends in one of a few known ways. */
	int bad = 0;

	for (size_t len = 0; len <= sizeof(line) - 1; len++) {
		int rc = ipw_listfile_parse_line(line, len, &l, &pos);

		/*
		 * An entry at "192.0.2.0" and from "192.0.2.0/24" on, an
		 * error at every other length but 0; the comment grows with
		 * the length, except by the blank after "SBL123".
		 */
		bool entry = len == 9 || len >= 12;
		size_t cend = len == 22 ? 21 : len;

		if (len > 0 && (rc == 1) != entry)
			bad++;
		if (rc < 0 && pos > len)
			bad++;
		if (rc == 1 && len >= 16 &&
		    (l.comment != line + 15 ||
		     l.comment + l.comment_len != line + cend))
			bad++;
		if (rc == 1 && len < 16 && l.comment)
			bad++;
	}
	is_int(bad, 0, "every prefix of a line parses as expected");
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

static const char *pick(const char *const *v, size_t n)
{
	return v[rnd() % n];
}

#define PICK(v) pick((v), sizeof(v) / sizeof((v)[0]))

/*
 * Lines assembled from parts: optional BOM, blanks, a target (or none),
 * blanks, an optional comment with its marker and blanks, an optional CR.
 * The parser must give back the target and the comment text exactly.
 */
static void test_assembled(void)
{
	static const char *const boms[] = {"", "", BOM};
	static const char *const blanks[] = {"", "", " ", "\t", " \t ", "  "};
	static const char *const targets[] = {
		"",	      "192.0.2.7",	 "0.0.0.0/0",	   "10.0.0.0/8",
		"::",	      "2001:db8::/32",	 "::ffff:1.2.3.4", "fe80::1:2",
		"1.2.3.4/32", "255.255.255.255",
	};
	static const char *const canon[] = {
		"",	   "192.0.2.7",	      "0.0.0.0/0", "10.0.0.0/8",
		"::",	   "2001:db8::/32",   "1.2.3.4",   "fe80::1:2",
		"1.2.3.4", "255.255.255.255",
	};
	static const char *const marks[] = {"", "#", ";"};
	static const char *const texts[] = {
		"", "SBL123", "a b", "x\ty", "# again", "; and ;", "\xc3\xa9",
	};
	static const char *const crs[] = {"", "\r"};
	int bad = 0, entries = 0, comments = 0;

	for (int i = 0; i < 200000; i++) {
		char line[256], addr[IPW_ADDR_STRLEN];
		size_t t = rnd() % (sizeof(targets) / sizeof(targets[0]));
		const char *mark = PICK(marks), *text = PICK(texts);
		struct ipw_listline l;
		size_t pos = 0;
		int rc, want;

		snprintf(line, sizeof(line), "%s%s%s%s%s%s%s%s%s", PICK(boms),
			 PICK(blanks), targets[t],
			 *targets[t] ? PICK(blanks) : "", mark,
			 *mark ? PICK(blanks) : "", *mark ? text : "",
			 PICK(blanks), PICK(crs));
		want = *targets[t] ? 1 : 0;
		memset(&l, 0, sizeof(l));
		rc = ipw_listfile_parse_line(line, strlen(line), &l, &pos);
		if (rc != want) {
			if (bad++ < 5)
				diag("\"%s\": got %s at %zu", line,
				     ipw_errname(rc), pos);
			continue;
		}
		if (rc == 0)
			continue;
		entries++;
		ipw_addr_format(&l.target, addr, sizeof(addr));
		if (strcmp(addr, canon[t]) != 0) {
			if (bad++ < 5)
				diag("\"%s\": target %s", line, addr);
			continue;
		}
		if (*mark && *text) {
			comments++;
			if (!l.comment || l.comment_len != strlen(text) ||
			    memcmp(l.comment, text, l.comment_len) != 0)
				if (bad++ < 5)
					diag("\"%s\": wrong comment", line);
		} else if (l.comment || l.comment_len) {
			if (bad++ < 5)
				diag("\"%s\": a comment from nowhere", line);
		}
	}
	is_int(bad, 0, "200000 assembled lines give back their parts");
	ok(entries > 100000 && comments > 50000,
	   "the test saw entries (%d) and comments (%d)", entries, comments);
}

int main(void)
{
	test_vectors();
	test_golden();
	test_bounds();
	test_assembled();
	return done_testing();
}
