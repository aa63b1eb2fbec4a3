// SPDX-License-Identifier: MIT
/*
 * Unit tests of the event wire format's reader (src/daemon/autoban/wire.c):
 * a golden table of one-line datagrams (the event, or the error with its
 * field, offset and byte), every field exactly at its limit and one byte
 * over, datagrams of many lines with bad ones among them, CR/LF ends, NUL
 * bytes, the datagram size limit, the log messages, and every cut of a
 * good datagram (a truncated send).
 */
#include <stdint.h>

#include "autoban/wire.h"

#include "tap.h"

struct vec {
	const char *in;
	size_t len; /* bytes of in, so that NUL bytes can be tested */
	int rc;	    /* 1 event, <0 error */
	/* rc 1: the event's canonical address and fields */
	const char *addr, *type, *service, *user, *detail;
	/* rc < 0: where */
	enum ipwd_wire_field field;
	size_t offset;
	int byte;
};

#define EV(s, a, t, sv, u, d)                                \
	{                                                    \
		s, sizeof(s) - 1, 1, a, t, sv, u, d, 0, 0, 0 \
	}
#define BAD(s, e, f, off, b)                                                 \
	{                                                                    \
		s, sizeof(s) - 1, e, NULL, NULL, NULL, NULL, NULL, f, off, b \
	}

#define IP IPWD_WIRE_IP
#define TY IPWD_WIRE_TYPE
#define SV IPWD_WIRE_SERVICE
#define US IPWD_WIRE_USER
#define DT IPWD_WIRE_DETAIL

/* clang-format off */
static const struct vec vecs[] = {
	/* ---- good events ---- */
	EV("192.0.2.1\tssh_auth_fail", "192.0.2.1", "ssh_auth_fail", "", "", ""),
	EV("192.0.2.1\tssh_auth_fail\n", "192.0.2.1", "ssh_auth_fail", "", "", ""),
	EV("192.0.2.1\tssh_auth_fail\r\n", "192.0.2.1", "ssh_auth_fail", "", "", ""),
	EV("192.0.2.1\tssh_auth_fail\r", "192.0.2.1", "ssh_auth_fail", "", "", ""),
	EV("2001:db8::1\tssh_auth_fail\tsshd\troot\tFailed password for root from 2001:db8::1 port 22 ssh2\n",
	   "2001:db8::1", "ssh_auth_fail", "sshd", "root",
	   "Failed password for root from 2001:db8::1 port 22 ssh2"),
	EV("2001:DB8:0:0:0:0:0:1\tx", "2001:db8::1", "x", "", "", ""),
	EV("::ffff:192.0.2.7\thttp.404", "192.0.2.7", "http.404", "", "", ""),
	EV("::ffff:c000:207\thttp.404", "192.0.2.7", "http.404", "", "", ""),
	EV("::\tx", "::", "x", "", "", ""),
	EV("0.0.0.0\tx", "0.0.0.0", "x", "", "", ""),
	EV("192.0.2.1\ta-b_c.9\tpostfix-smtpd", "192.0.2.1", "a-b_c.9", "postfix-smtpd", "", ""),
	EV("192.0.2.1\tt\t", "192.0.2.1", "t", "", "", ""),
	EV("192.0.2.1\tt\t\t", "192.0.2.1", "t", "", "", ""),
	EV("192.0.2.1\tt\t\t\t", "192.0.2.1", "t", "", "", ""),
	EV("192.0.2.1\tt\t\t\tdetail only", "192.0.2.1", "t", "", "", "detail only"),
	EV("192.0.2.1\tt\t\tuser only\t", "192.0.2.1", "t", "", "user only", ""),
	EV("192.0.2.1\tt\ts\tjos\xc3\xa9\t\xe2\x9c\x93 UTF-8 is bytes",
	   "192.0.2.1", "t", "s", "jos\xc3\xa9", "\xe2\x9c\x93 UTF-8 is bytes"),
	EV("192.0.2.1\tt\ts\t\xff\xfe\t\x80", "192.0.2.1", "t", "s", "\xff\xfe", "\x80"),
	EV("192.0.2.1\tt\ts\t u s e r \t ~!#$%^&*()\"'`\\ ",
	   "192.0.2.1", "t", "s", " u s e r ", " ~!#$%^&*()\"'`\\ "),

	/* ---- the IP field: ipw_addr_parse()'s own codes ---- */
	BAD("\n", IPW_EADDR_EMPTY, IP, 0, -1),
	BAD("\r\n", IPW_EADDR_EMPTY, IP, 0, -1),
	BAD("\tssh", IPW_EADDR_EMPTY, IP, 0, -1),
	BAD("192.0.2.0/24\tssh", IPW_EADDR_PREFIX_DENIED, IP, 9, '/'),
	BAD("192.0.2.1/32\tssh", IPW_EADDR_PREFIX_DENIED, IP, 9, '/'),
	BAD("2001:db8::/64\tssh", IPW_EADDR_PREFIX_DENIED, IP, 10, '/'),
	BAD("010.0.2.1\tssh", IPW_EADDR_V4_LEADING_ZERO, IP, 0, '0'),
	BAD("192.0.2.256\tssh", IPW_EADDR_V4_OCTET_RANGE, IP, 8, '2'),
	BAD(" 192.0.2.1\tssh", IPW_EADDR_SPACE, IP, 0, ' '),
	BAD("192.0.2.1 \tssh", IPW_EADDR_SPACE, IP, 9, ' '),
	BAD("fe80::1%eth0\tssh", IPW_EADDR_ZONE, IP, 7, '%'),
	BAD("example.com\tssh", IPW_EADDR_V4_NOT_DECIMAL, IP, 0, 'e'),
	BAD("192.0.2.1", IPW_EEVENT_NO_TYPE, TY, 9, -1),
	BAD("192.0.2.1\n", IPW_EEVENT_NO_TYPE, TY, 9, -1),
	BAD("192.0.2.1\r\n", IPW_EEVENT_NO_TYPE, TY, 9, -1),
	BAD("192.0.2.1 ssh_auth_fail", IPW_EADDR_SPACE, IP, 9, ' '),

	/* ---- TYPE ---- */
	BAD("192.0.2.1\t", IPW_EEVENT_TYPE_EMPTY, TY, 10, -1),
	BAD("192.0.2.1\t\n", IPW_EEVENT_TYPE_EMPTY, TY, 10, -1),
	BAD("192.0.2.1\t\tsshd", IPW_EEVENT_TYPE_EMPTY, TY, 10, '\t'),
	BAD("192.0.2.1\tSSH", IPW_EEVENT_TYPE_CHAR, TY, 10, 'S'),
	BAD("192.0.2.1\tssh fail", IPW_EEVENT_TYPE_CHAR, TY, 13, ' '),
	BAD("192.0.2.1\tssh/fail", IPW_EEVENT_TYPE_CHAR, TY, 13, '/'),
	BAD("192.0.2.1\t\xc3\xa9", IPW_EEVENT_TYPE_CHAR, TY, 10, 0xc3),
	BAD("192.0.2.1\tssh\r\r\n", IPW_EEVENT_TYPE_CHAR, TY, 13, '\r'),
	BAD("192.0.2.1\tss\rh\n", IPW_EEVENT_TYPE_CHAR, TY, 12, '\r'),

	/* ---- SERVICE, USER, DETAIL ---- */
	BAD("192.0.2.1\tt\tSshd", IPW_EEVENT_SERVICE_CHAR, SV, 12, 'S'),
	BAD("192.0.2.1\tt\tssh d\tu", IPW_EEVENT_SERVICE_CHAR, SV, 15, ' '),
	BAD("192.0.2.1\tt\ts\tro\x01ot", IPW_EEVENT_USER_CHAR, US, 16, 0x01),
	BAD("192.0.2.1\tt\ts\troot\x7f", IPW_EEVENT_USER_CHAR, US, 18, 0x7f),
	BAD("192.0.2.1\tt\ts\troot\r\tx", IPW_EEVENT_USER_CHAR, US, 18, '\r'),
	BAD("192.0.2.1\tt\ts\tu\t\x1b[31mred", IPW_EEVENT_DETAIL_CHAR, DT, 16, 0x1b),
	BAD("192.0.2.1\tt\ts\tu\tline\rfeed", IPW_EEVENT_DETAIL_CHAR, DT, 20, '\r'),
	BAD("192.0.2.1\tt\ts\tu\tone\ttoo many", IPW_EEVENT_FIELDS, DT, 19, '\t'),
	BAD("192.0.2.1\tt\t\t\t\t", IPW_EEVENT_FIELDS, DT, 14, '\t'),

	/* ---- NUL bytes: refused first, wherever they are ---- */
	BAD("\0", IPW_ELIST_NUL, IP, 0, 0),
	BAD("192.0.2.1\0\tssh", IPW_ELIST_NUL, IP, 9, 0),
	BAD("192.0.2\0.1\tSSH", IPW_ELIST_NUL, IP, 7, 0),
	BAD("x\tSSH\0", IPW_ELIST_NUL, TY, 5, 0),
	BAD("192.0.2.1\tt\ts\tus\0er", IPW_ELIST_NUL, US, 16, 0),
	BAD("192.0.2.1\tt\ts\tu\td\0\t\0", IPW_ELIST_NUL, DT, 17, 0),
};
/* clang-format on */

static void check_vec(const struct vec *v)
{
	struct ipwd_wire_reader r;
	struct ipwd_event ev;
	struct ipwd_wire_error err = {0};
	char a[IPW_ADDR_STRLEN], shown[64];
	int rc;

	/* The input as a C literal would show it, for the test's name. */
	size_t k = 0;
	for (size_t i = 0; i < v->len && k + 5 < sizeof(shown); i++) {
		unsigned char c = (unsigned char)v->in[i];

		if (c >= 0x20 && c < 0x7f && c != '\\')
			shown[k++] = (char)c;
		else
			k += (size_t)snprintf(shown + k, sizeof(shown) - k,
					      "\\x%02x", c);
	}
	shown[k] = '\0';

	ipwd_wire_reader_init(&r, v->in, v->len);
	rc = ipwd_wire_next(&r, &ev, &err);
	if (v->rc == 1) {
		is_int(rc, 1, "\"%s\": an event", shown);
		if (rc != 1) {
			diag("%s at %zu", ipw_errname(rc), err.offset);
			return;
		}
		ipw_addr_format(&ev.addr, a, sizeof(a));
		is_str(a, v->addr, "\"%s\": address", shown);
		ok(ipw_addr_is_host(&ev.addr), "\"%s\": one address", shown);
		is_str(ev.type, v->type, "\"%s\": type", shown);
		is_str(ev.service, v->service, "\"%s\": service", shown);
		is_str(ev.user, v->user, "\"%s\": user", shown);
		is_str(ev.detail, v->detail, "\"%s\": detail", shown);
	} else {
		is_str(ipw_errname(rc), ipw_errname(v->rc), "\"%s\": error",
		       shown);
		is_int(err.code, v->rc, "\"%s\": error code in err", shown);
		is_str(ipwd_wire_field_name(err.field),
		       ipwd_wire_field_name(v->field), "\"%s\": field", shown);
		is_int(err.offset, v->offset, "\"%s\": offset", shown);
		is_int(err.byte, v->byte, "\"%s\": byte", shown);
		is_int(err.line, 1, "\"%s\": line 1", shown);
	}
	is_int(ipwd_wire_next(&r, &ev, &err), 0, "\"%s\": one line only",
	       shown);
	is_int(r.lines, 1, "\"%s\": lines", shown);
	is_int(r.events + r.errors, 1, "\"%s\": counted once", shown);
}

/* Parse a whole datagram; fill codes[] with each line's result. */
static unsigned parse_all(const char *buf, size_t len, int *codes, unsigned max,
			  struct ipwd_wire_reader *r)
{
	struct ipwd_event ev;
	struct ipwd_wire_error err;
	unsigned n = 0;
	int rc;

	ipwd_wire_reader_init(r, buf, len);
	while ((rc = ipwd_wire_next(r, &ev, &err)) != 0) {
		if (n < max)
			codes[n] = rc;
		n++;
		if (n > 100000)
			break; /* a reader that never ends */
	}
	return n;
}

/* A line with each optional field made of @n bytes of @c, the others
 * short; which: 0 type, 1 service, 2 user, 3 detail. */
static size_t field_line(char *buf, int which, size_t n, char c)
{
	static const char *const pre[] = {"192.0.2.1\t", "192.0.2.1\tt\t",
					  "192.0.2.1\tt\ts\t",
					  "192.0.2.1\tt\ts\tu\t"};
	size_t k = strlen(pre[which]);

	memcpy(buf, pre[which], k);
	memset(buf + k, c, n);
	return k + n;
}

static void test_limits(void)
{
	static const struct {
		const char *name;
		size_t max;
		char c;
		int e_long;
		enum ipwd_wire_field field;
	} f[] = {
		{"type", IPWD_WIRE_TYPE_MAX, 'a', IPW_EEVENT_TYPE_LONG, TY},
		{"service", IPWD_WIRE_SERVICE_MAX, 'b', IPW_EEVENT_SERVICE_LONG,
		 SV},
		{"user", IPWD_WIRE_USER_MAX, 'U', IPW_EEVENT_USER_LONG, US},
		{"detail", IPWD_WIRE_DETAIL_MAX, 'D', IPW_EEVENT_DETAIL_LONG,
		 DT},
	};
	char buf[1024];

	is_int(IPWD_WIRE_TYPE_MAX, 32, "TYPE limit is 32");
	is_int(IPWD_WIRE_SERVICE_MAX, 32, "SERVICE limit is 32");
	is_int(IPWD_WIRE_USER_MAX, 64, "USER limit is 64");
	is_int(IPWD_WIRE_DETAIL_MAX, 256, "DETAIL limit is 256");
	for (int i = 0; i < 4; i++) {
		struct ipwd_wire_reader r;
		struct ipwd_event ev;
		struct ipwd_wire_error err = {0};
		const char *got;
		size_t len;
		int rc;

		len = field_line(buf, i, f[i].max, f[i].c);
		ipwd_wire_reader_init(&r, buf, len);
		rc = ipwd_wire_next(&r, &ev, &err);
		is_int(rc, 1, "%s of exactly %zu bytes is accepted", f[i].name,
		       f[i].max);
		got = i == 0 ? ev.type :
		      i == 1 ? ev.service :
		      i == 2 ? ev.user :
			       ev.detail;
		is_int(rc == 1 ? strlen(got) : 0, f[i].max,
		       "%s comes out whole", f[i].name);
		ok(rc == 1 && memchr(got, f[i].c, f[i].max) == got &&
			   strspn(got, (char[]){f[i].c, 0}) == f[i].max,
		   "%s holds the bytes sent", f[i].name);

		len = field_line(buf, i, f[i].max + 1, f[i].c);
		ipwd_wire_reader_init(&r, buf, len);
		rc = ipwd_wire_next(&r, &ev, &err);
		is_str(ipw_errname(rc), ipw_errname(f[i].e_long),
		       "%s of %zu bytes is too long", f[i].name, f[i].max + 1);
		is_int(err.offset, len - 1,
		       "%s: the offset is the first byte past the limit",
		       f[i].name);
		ok(err.field == f[i].field, "%s: the field is named",
		   f[i].name);

		/* Far too long: the same error at the same place. */
		len = field_line(buf, i, 900, f[i].c);
		ipwd_wire_reader_init(&r, buf, len);
		rc = ipwd_wire_next(&r, &ev, &err);
		is_int(rc, f[i].e_long, "%s of 900 bytes: too long", f[i].name);
		is_int(err.offset, len - 900 + f[i].max,
		       "%s of 900 bytes: offset at the limit", f[i].name);
	}
}

static void test_multi(void)
{
	static const char d1[] = "192.0.2.1\ta\n"	/* 0..11 */
				 "192.0.2.2\tBAD\n"	/* 12..25 */
				 "192.0.2.3\tc\tsshd\n" /* 26.. */
				 "\n"
				 "2001:db8::/48\tx\n"
				 "2001:db8::4\td";
	struct ipwd_wire_reader r;
	struct ipwd_event ev;
	struct ipwd_wire_error err;
	char a[IPW_ADDR_STRLEN], msg[256];
	int codes[16] = {0};
	unsigned n;

	n = parse_all(d1, sizeof(d1) - 1, codes, 16, &r);
	is_int(n, 6, "six lines, the last without newline");
	is_int(codes[0], 1, "line 1 good");
	is_int(codes[1], IPW_EEVENT_TYPE_CHAR, "line 2 bad (TYPE)");
	is_int(codes[2], 1, "line 3 good after a bad line");
	is_int(codes[3], IPW_EADDR_EMPTY, "line 4 empty: bad");
	is_int(codes[4], IPW_EADDR_PREFIX_DENIED, "line 5 a prefix: bad");
	is_int(codes[5], 1, "line 6 good without its newline");
	is_int(r.lines, 6, "reader counted 6 lines");
	is_int(r.events, 3, "3 events");
	is_int(r.errors, 3, "3 errors");
	is_int(ipwd_wire_next(&r, &ev, &err), 0, "0 again at the end");

	/* The events and errors in detail. */
	ipwd_wire_reader_init(&r, d1, sizeof(d1) - 1);
	is_int(ipwd_wire_next(&r, &ev, &err), 1, "line 1");
	ipw_addr_format(&ev.addr, a, sizeof(a));
	is_str(a, "192.0.2.1", "line 1 address");
	is_int(ipwd_wire_next(&r, &ev, &err), IPW_EEVENT_TYPE_CHAR, "line 2");
	is_int(err.line, 2, "line 2: line number");
	is_int(err.offset, 22, "line 2: offset in the datagram");
	ipwd_wire_error_msg(msg, sizeof(msg), &err);
	is_str(msg,
	       "line 2, offset 22, field type: event TYPE has a byte outside "
	       "[a-z0-9_.-] (byte 0x42)",
	       "line 2: the log message");
	is_int(ipwd_wire_next(&r, &ev, &err), 1, "line 3");
	ipw_addr_format(&ev.addr, a, sizeof(a));
	is_str(a, "192.0.2.3", "line 3 address");
	is_str(ev.service, "sshd", "line 3 service");
	is_int(ipwd_wire_next(&r, &ev, &err), IPW_EADDR_EMPTY, "line 4");
	is_int(err.offset, 43, "line 4: offset of the empty line");
	is_int(ipwd_wire_next(&r, &ev, &err), IPW_EADDR_PREFIX_DENIED,
	       "line 5");
	is_int(err.offset, 54, "line 5: offset of the '/'");
	ipwd_wire_error_msg(msg, sizeof(msg), &err);
	is_str(msg,
	       "line 5, offset 54, field ip: a single address is required "
	       "here, not a prefix (byte 0x2f)",
	       "line 5: the log message");
	is_int(ipwd_wire_next(&r, &ev, &err), 1, "line 6");
	is_str(ev.type, "d", "line 6 type");

	/* CRLF throughout, and a stray CR that is not before a LF. */
	static const char d2[] = "192.0.2.1\ta\r\n192.0.2.2\tb\r\n\r\n"
				 "192.0.2.3\tc\r";
	n = parse_all(d2, sizeof(d2) - 1, codes, 16, &r);
	is_int(n, 4, "CRLF: four lines");
	ok(codes[0] == 1 && codes[1] == 1 && codes[2] == IPW_EADDR_EMPTY &&
		   codes[3] == 1,
	   "CRLF: good, good, empty, good");

	/* NUL in the middle line only spoils that line. */
	static const char d3[] = "192.0.2.1\ta\n192.0\0.2.2\tb\n192.0.2.3\tc\n";
	n = parse_all(d3, sizeof(d3) - 1, codes, 16, &r);
	ok(n == 3 && codes[0] == 1 && codes[1] == IPW_ELIST_NUL &&
		   codes[2] == 1,
	   "NUL: only its line is refused");

	/* Empty datagram: no lines at all. */
	n = parse_all("", 0, codes, 16, &r);
	ok(n == 0 && r.lines == 0 && r.errors == 0, "empty datagram: nothing");
	n = parse_all(NULL, 0, codes, 16, &r);
	ok(n == 0, "NULL, 0: nothing");
}

static void test_size(void)
{
	static char big[IPWD_WIRE_DGRAM_MAX + 1];
	static const char line[] = "192.0.2.1\tssh_auth_fail\n";
	struct ipwd_wire_reader r;
	struct ipwd_event ev;
	struct ipwd_wire_error err;
	char msg[256];
	int codes[1];
	size_t k = 0, nlines = 0;
	unsigned n;

	/* Fill exactly IPWD_WIRE_DGRAM_MAX bytes with good lines; pad the
	 * last one's DETAIL so the total is exact. */
	while (k + 2 * (sizeof(line) - 1) < IPWD_WIRE_DGRAM_MAX) {
		memcpy(big + k, line, sizeof(line) - 1);
		k += sizeof(line) - 1;
		nlines++;
	}
	{
		static const char pre[] = "192.0.2.9\tlast\t\t\t";
		size_t pad = IPWD_WIRE_DGRAM_MAX - k - (sizeof(pre) - 1);

		ok(pad <= IPWD_WIRE_DETAIL_MAX, "padding fits DETAIL (%zu)",
		   pad);
		memcpy(big + k, pre, sizeof(pre) - 1);
		memset(big + k + sizeof(pre) - 1, 'p', pad);
		nlines++;
	}
	n = parse_all(big, IPWD_WIRE_DGRAM_MAX, codes, 1, &r);
	is_int(n, nlines, "a datagram of exactly 65507 bytes: every line");
	is_int(r.events, nlines, "a datagram of exactly 65507 bytes: good");

	big[IPWD_WIRE_DGRAM_MAX] = '\n';
	ipwd_wire_reader_init(&r, big, IPWD_WIRE_DGRAM_MAX + 1);
	is_int(ipwd_wire_next(&r, &ev, &err), IPW_EEVENT_TOO_BIG,
	       "65508 bytes: refused");
	is_int(err.field, IPWD_WIRE_DATAGRAM, "65508 bytes: the datagram");
	is_int(err.offset, IPWD_WIRE_DGRAM_MAX, "65508 bytes: at the limit");
	ipwd_wire_error_msg(msg, sizeof(msg), &err);
	is_str(msg,
	       "datagram, offset 65507: event datagram is larger than 65507 "
	       "bytes",
	       "65508 bytes: the log message");
	is_int(ipwd_wire_next(&r, &ev, &err), 0, "65508 bytes: then nothing");
	ok(r.lines == 0 && r.events == 0 && r.errors == 1,
	   "65508 bytes: counted as one error");
}

/* Every cut of a good datagram: the whole lines before the cut are
 * delivered unchanged, and the piece after is one more line, good or bad. */
static void test_truncated(void)
{
	static const char d[] = "192.0.2.1\tssh_auth_fail\tsshd\troot\tbad pw\n"
				"2001:db8::77\thttp_401\tnginx\t\t/login\n"
				"198.51.100.2\tsmtp_auth\n";
	size_t ends[4] = {0}, nends = 1;
	int bad = 0, counts = 0;

	for (size_t i = 0; i < sizeof(d) - 1; i++)
		if (d[i] == '\n')
			ends[nends++] = i + 1;
	for (size_t cut = 0; cut <= sizeof(d) - 1; cut++) {
		struct ipwd_wire_reader r;
		int codes[8];
		size_t full = 0;
		unsigned n;

		while (full + 1 < nends && ends[full + 1] <= cut)
			full++;
		n = parse_all(d, cut, codes, 8, &r);
		counts += r.events + r.errors != n || r.lines != n;
		for (size_t i = 0; i < full; i++)
			bad += codes[i] != 1;
		bad += n != full + (cut > ends[full]);
	}
	is_int(bad, 0, "every cut: the whole lines are delivered");
	is_int(counts, 0, "every cut: the counts add up");
}

int main(void)
{
	for (size_t i = 0; i < sizeof(vecs) / sizeof(vecs[0]); i++)
		check_vec(&vecs[i]);
	test_limits();
	test_multi();
	test_size();
	test_truncated();
	return done_testing();
}
