// SPDX-License-Identifier: MIT
/*
 * Unit tests of the address library: a table of vectors (input, flags,
 * expected error or canonical output), then properties over random values:
 * format -> parse round trips, agreement with inet_pton() on every input
 * both accept, agreement with inet_ntop() where its output is pure hex.
 */
#include <arpa/inet.h>
#include <stdint.h>

#include <ipwall/addr.h>

#include "tap.h"

#define M IPW_ADDR_MASK
#define H IPW_ADDR_HOST

struct vec {
	const char *in;
	unsigned flags;
	int err;	 /* 0: success */
	const char *out; /* canonical text on success */
	int pos;	 /* expected error offset, -1 = don't care */
};

/* clang-format off */
static const struct vec vecs[] = {
	/* ---- IPv4, valid ---- */
	{ "0.0.0.0", 0, 0, "0.0.0.0", -1 },
	{ "1.2.3.4", 0, 0, "1.2.3.4", -1 },
	{ "127.0.0.1", 0, 0, "127.0.0.1", -1 },
	{ "255.255.255.255", 0, 0, "255.255.255.255", -1 },
	{ "192.0.2.7", 0, 0, "192.0.2.7", -1 },
	{ "198.51.100.0", 0, 0, "198.51.100.0", -1 },
	{ "203.0.113.255", 0, 0, "203.0.113.255", -1 },
	{ "10.0.0.1", 0, 0, "10.0.0.1", -1 },
	{ "100.64.0.0", 0, 0, "100.64.0.0", -1 },
	{ "169.254.1.2", 0, 0, "169.254.1.2", -1 },
	{ "172.16.254.1", 0, 0, "172.16.254.1", -1 },
	{ "224.0.0.251", 0, 0, "224.0.0.251", -1 },
	{ "9.99.199.249", 0, 0, "9.99.199.249", -1 },
	{ "250.251.252.253", 0, 0, "250.251.252.253", -1 },
	{ "0.0.0.1", 0, 0, "0.0.0.1", -1 },
	{ "1.0.0.0", 0, 0, "1.0.0.0", -1 },
	{ "100.200.10.20", 0, 0, "100.200.10.20", -1 },
	{ "8.8.4.4", 0, 0, "8.8.4.4", -1 },
	{ "192.168.0.1", H, 0, "192.168.0.1", -1 },
	{ "1.2.3.4/32", 0, 0, "1.2.3.4", -1 },
	/* ---- IPv4 CIDR, valid ---- */
	{ "0.0.0.0/0", 0, 0, "0.0.0.0/0", -1 },
	{ "10.0.0.0/8", 0, 0, "10.0.0.0/8", -1 },
	{ "172.16.0.0/12", 0, 0, "172.16.0.0/12", -1 },
	{ "192.168.0.0/16", 0, 0, "192.168.0.0/16", -1 },
	{ "192.0.2.0/24", 0, 0, "192.0.2.0/24", -1 },
	{ "198.51.100.0/24", 0, 0, "198.51.100.0/24", -1 },
	{ "203.0.113.128/25", 0, 0, "203.0.113.128/25", -1 },
	{ "203.0.113.252/30", 0, 0, "203.0.113.252/30", -1 },
	{ "203.0.113.254/31", 0, 0, "203.0.113.254/31", -1 },
	{ "128.0.0.0/1", 0, 0, "128.0.0.0/1", -1 },
	{ "255.255.255.254/31", 0, 0, "255.255.255.254/31", -1 },
	{ "100.64.0.0/10", 0, 0, "100.64.0.0/10", -1 },
	{ "224.0.0.0/4", 0, 0, "224.0.0.0/4", -1 },
	{ "240.0.0.0/4", 0, 0, "240.0.0.0/4", -1 },
	{ "1.2.3.0/24", 0, 0, "1.2.3.0/24", -1 },
	{ "1.2.0.0/23", 0, 0, "1.2.0.0/23", -1 },
	/* ---- IPv4 CIDR, host bits ---- */
	{ "192.0.2.7/24", 0, IPW_EADDR_HOST_BITS, NULL, 10 },
	{ "192.0.2.7/24", M, 0, "192.0.2.0/24", -1 },
	{ "10.1.2.3/8", 0, IPW_EADDR_HOST_BITS, NULL, 9 },
	{ "10.1.2.3/8", M, 0, "10.0.0.0/8", -1 },
	{ "1.1.1.1/0", 0, IPW_EADDR_HOST_BITS, NULL, 8 },
	{ "1.1.1.1/0", M, 0, "0.0.0.0/0", -1 },
	{ "203.0.113.255/31", 0, IPW_EADDR_HOST_BITS, NULL, -1 },
	{ "203.0.113.255/31", M, 0, "203.0.113.254/31", -1 },
	{ "255.255.255.255/1", M, 0, "128.0.0.0/1", -1 },
	{ "172.31.255.255/12", M, 0, "172.16.0.0/12", -1 },
	{ "192.168.1.1/16", 0, IPW_EADDR_HOST_BITS, NULL, -1 },
	{ "192.168.1.0/23", 0, IPW_EADDR_HOST_BITS, NULL, -1 },
	{ "192.168.1.0/23", M, 0, "192.168.0.0/23", -1 },
	/* ---- IPv4, legacy inet_aton forms ---- */
	{ "1", 0, IPW_EADDR_V4_PARTS, NULL, 1 },
	{ "127.1", 0, IPW_EADDR_V4_PARTS, NULL, 5 },
	{ "127.0.1", 0, IPW_EADDR_V4_PARTS, NULL, 7 },
	{ "0x7f.1", 0, IPW_EADDR_V4_NOT_DECIMAL, NULL, 1 },
	{ "0x7f.0.0.1", 0, IPW_EADDR_V4_NOT_DECIMAL, NULL, 1 },
	{ "0X7F.0.0.1", 0, IPW_EADDR_V4_NOT_DECIMAL, NULL, 1 },
	{ "0x7f000001", 0, IPW_EADDR_V4_NOT_DECIMAL, NULL, 1 },
	{ "2130706433", 0, IPW_EADDR_V4_OCTET_RANGE, NULL, 0 },
	{ "017700000001", 0, IPW_EADDR_V4_LEADING_ZERO, NULL, 0 },
	{ "1.2.3.0x4", 0, IPW_EADDR_V4_NOT_DECIMAL, NULL, 7 },
	{ "1.2.3.a", 0, IPW_EADDR_V4_NOT_DECIMAL, NULL, 6 },
	{ "a.b.c.d", 0, IPW_EADDR_V4_NOT_DECIMAL, NULL, 0 },
	{ "1.2.3.4a", 0, IPW_EADDR_V4_NOT_DECIMAL, NULL, 7 },
	/* ---- IPv4, leading zeros ---- */
	{ "010.1.1.1", 0, IPW_EADDR_V4_LEADING_ZERO, NULL, 0 },
	{ "1.010.1.1", 0, IPW_EADDR_V4_LEADING_ZERO, NULL, 2 },
	{ "1.1.010.1", 0, IPW_EADDR_V4_LEADING_ZERO, NULL, 4 },
	{ "1.1.1.010", 0, IPW_EADDR_V4_LEADING_ZERO, NULL, 6 },
	{ "00.0.0.0", 0, IPW_EADDR_V4_LEADING_ZERO, NULL, 0 },
	{ "0.00.0.0", 0, IPW_EADDR_V4_LEADING_ZERO, NULL, 2 },
	{ "01.2.3.4", 0, IPW_EADDR_V4_LEADING_ZERO, NULL, 0 },
	{ "1.2.3.04", 0, IPW_EADDR_V4_LEADING_ZERO, NULL, 6 },
	{ "001.2.3.4", 0, IPW_EADDR_V4_LEADING_ZERO, NULL, 0 },
	{ "0255.1.1.1", 0, IPW_EADDR_V4_LEADING_ZERO, NULL, 0 },
	{ "000.0.0.0", 0, IPW_EADDR_V4_LEADING_ZERO, NULL, 0 },
	/* ---- IPv4, range ---- */
	{ "256.0.0.0", 0, IPW_EADDR_V4_OCTET_RANGE, NULL, 0 },
	{ "0.256.0.0", 0, IPW_EADDR_V4_OCTET_RANGE, NULL, 2 },
	{ "0.0.256.0", 0, IPW_EADDR_V4_OCTET_RANGE, NULL, 4 },
	{ "0.0.0.256", 0, IPW_EADDR_V4_OCTET_RANGE, NULL, 6 },
	{ "999.1.1.1", 0, IPW_EADDR_V4_OCTET_RANGE, NULL, 0 },
	{ "1.1.1.1000", 0, IPW_EADDR_V4_OCTET_RANGE, NULL, 6 },
	{ "1234.1.1.1", 0, IPW_EADDR_V4_OCTET_RANGE, NULL, 0 },
	{ "300.300.300.300", 0, IPW_EADDR_V4_OCTET_RANGE, NULL, 0 },
	{ "1.2.3.99999999999999999999", 0, IPW_EADDR_V4_OCTET_RANGE, NULL, 6 },
	/* ---- IPv4, parts and empty parts ---- */
	{ "1.2.3", 0, IPW_EADDR_V4_PARTS, NULL, 5 },
	{ "1.2.3.4.5", 0, IPW_EADDR_V4_PARTS, NULL, 7 },
	{ "1.2.3.4.5.6", 0, IPW_EADDR_V4_PARTS, NULL, 7 },
	{ "1.2.3.4.", 0, IPW_EADDR_V4_EMPTY_PART, NULL, 7 },
	{ "1.2.3.", 0, IPW_EADDR_V4_EMPTY_PART, NULL, 6 },
	{ ".1.2.3", 0, IPW_EADDR_V4_EMPTY_PART, NULL, 0 },
	{ ".1.2.3.4", 0, IPW_EADDR_V4_EMPTY_PART, NULL, 0 },
	{ "1..2.3", 0, IPW_EADDR_V4_EMPTY_PART, NULL, 2 },
	{ "1.2..3", 0, IPW_EADDR_V4_EMPTY_PART, NULL, 4 },
	{ "...", 0, IPW_EADDR_V4_EMPTY_PART, NULL, 0 },
	{ ".", 0, IPW_EADDR_V4_EMPTY_PART, NULL, 0 },
	{ "1.2.3.4..", 0, IPW_EADDR_V4_PARTS, NULL, 7 },
	/* ---- anything: empty, whitespace, characters, trailing ---- */
	{ "", 0, IPW_EADDR_EMPTY, NULL, 0 },
	{ "/24", 0, IPW_EADDR_EMPTY, NULL, 0 },
	{ "/", 0, IPW_EADDR_EMPTY, NULL, 0 },
	{ " 1.2.3.4", 0, IPW_EADDR_SPACE, NULL, 0 },
	{ "1.2.3.4 ", 0, IPW_EADDR_SPACE, NULL, 7 },
	{ "1.2.3.4\n", 0, IPW_EADDR_SPACE, NULL, 7 },
	{ "1.2.3.4\r\n", 0, IPW_EADDR_SPACE, NULL, 7 },
	{ "\t1.2.3.4", 0, IPW_EADDR_SPACE, NULL, 0 },
	{ "1.2. 3.4", 0, IPW_EADDR_SPACE, NULL, 4 },
	{ "1.2.3.4 /24", 0, IPW_EADDR_SPACE, NULL, 7 },
	{ "1.2.3.0/ 24", 0, IPW_EADDR_SPACE, NULL, 8 },
	{ "1.2.3.0/24 ", 0, IPW_EADDR_SPACE, NULL, 10 },
	{ ":: 1", 0, IPW_EADDR_SPACE, NULL, 2 },
	{ " ::1", 0, IPW_EADDR_SPACE, NULL, 0 },
	{ "::1\v", 0, IPW_EADDR_SPACE, NULL, 3 },
	{ "::1\f", 0, IPW_EADDR_SPACE, NULL, 3 },
	{ "1.2.3.4:80", 0, IPW_EADDR_TRAILING, NULL, 7 },
	{ "1.2.3.4#x", 0, IPW_EADDR_TRAILING, NULL, 7 },
	{ "1.2.3.4,5", 0, IPW_EADDR_TRAILING, NULL, 7 },
	{ "1.2.3.4;", 0, IPW_EADDR_TRAILING, NULL, 7 },
	{ "1.2.3.4g", 0, IPW_EADDR_TRAILING, NULL, 7 },
	{ "+1.2.3.4", 0, IPW_EADDR_CHAR, NULL, 0 },
	{ "-1.2.3.4", 0, IPW_EADDR_CHAR, NULL, 0 },
	{ "1.-2.3.4", 0, IPW_EADDR_CHAR, NULL, 2 },
	{ "1,2,3,4", 0, IPW_EADDR_CHAR, NULL, 1 },
	{ "localhost", 0, IPW_EADDR_CHAR, NULL, 0 },
	{ "example.com", 0, IPW_EADDR_V4_NOT_DECIMAL, NULL, 0 },
	{ "[::1]", 0, IPW_EADDR_CHAR, NULL, 0 },
	{ "::1]", 0, IPW_EADDR_CHAR, NULL, 3 },
	{ "1.2.3.4%eth0", 0, IPW_EADDR_TRAILING, NULL, 7 },
	{ "\xc3\xa9.1.1.1", 0, IPW_EADDR_CHAR, NULL, 0 },
	{ "1.2.3.\xff", 0, IPW_EADDR_CHAR, NULL, 6 },
	{ "::g", 0, IPW_EADDR_CHAR, NULL, 2 },
	{ "::1x", 0, IPW_EADDR_CHAR, NULL, 3 },
	{ "1::_", 0, IPW_EADDR_CHAR, NULL, 3 },
	{ "1:2:3:4:5:6:7:8x", 0, IPW_EADDR_CHAR, NULL, 15 },
	/* ---- prefix length syntax and range ---- */
	{ "1.2.3.0/", 0, IPW_EADDR_PREFIX_SYNTAX, NULL, 8 },
	{ "1.2.3.0/024", 0, IPW_EADDR_PREFIX_SYNTAX, NULL, 8 },
	{ "1.2.3.0/00", 0, IPW_EADDR_PREFIX_SYNTAX, NULL, 8 },
	{ "1.2.3.0/+24", 0, IPW_EADDR_PREFIX_SYNTAX, NULL, 8 },
	{ "1.2.3.0/-1", 0, IPW_EADDR_PREFIX_SYNTAX, NULL, 8 },
	{ "1.2.3.0/24x", 0, IPW_EADDR_PREFIX_SYNTAX, NULL, 10 },
	{ "1.2.3.0/24/24", 0, IPW_EADDR_PREFIX_SYNTAX, NULL, 10 },
	{ "1.2.3.0/0x18", 0, IPW_EADDR_PREFIX_SYNTAX, NULL, 9 },
	{ "1.2.3.0/2 4", 0, IPW_EADDR_SPACE, NULL, 9 },
	{ "1.2.3.0/255.255.255.0", 0, IPW_EADDR_PREFIX_SYNTAX, NULL, 11 },
	{ "1.2.3.4/33", 0, IPW_EADDR_PREFIX_RANGE, NULL, 8 },
	{ "1.2.3.4/100", 0, IPW_EADDR_PREFIX_RANGE, NULL, 8 },
	{ "1.2.3.4/1000", 0, IPW_EADDR_PREFIX_RANGE, NULL, 8 },
	{ "1.2.3.4/4294967328", 0, IPW_EADDR_PREFIX_RANGE, NULL, 8 },
	{ "1.2.3.0/0024", 0, IPW_EADDR_PREFIX_SYNTAX, NULL, 8 },
	{ "::/129", 0, IPW_EADDR_PREFIX_RANGE, NULL, 3 },
	{ "::/200", 0, IPW_EADDR_PREFIX_RANGE, NULL, 3 },
	{ "::/1280", 0, IPW_EADDR_PREFIX_RANGE, NULL, 3 },
	{ "::/", 0, IPW_EADDR_PREFIX_SYNTAX, NULL, 3 },
	{ "::/064", 0, IPW_EADDR_PREFIX_SYNTAX, NULL, 3 },
	{ "2001:db8::/32", H, IPW_EADDR_PREFIX_DENIED, NULL, 10 },
	{ "1.2.3.4/32", H, IPW_EADDR_PREFIX_DENIED, NULL, 7 },
	{ "1.2.3.0/24", H, IPW_EADDR_PREFIX_DENIED, NULL, 7 },
	/* ---- IPv6, valid, canonical output (RFC 5952) ---- */
	{ "::", 0, 0, "::", -1 },
	{ "::1", 0, 0, "::1", -1 },
	{ "1::", 0, 0, "1::", -1 },
	{ "::1:0:0:0", 0, 0, "::1:0:0:0", -1 },
	{ "2001:db8::1", 0, 0, "2001:db8::1", -1 },
	{ "2001:DB8::1", 0, 0, "2001:db8::1", -1 },
	{ "2001:0db8:0000:0000:0000:0000:0000:0001", 0, 0, "2001:db8::1", -1 },
	{ "2001:db8:0:0:0:0:0:1", 0, 0, "2001:db8::1", -1 },
	{ "2001:db8::0:1", 0, 0, "2001:db8::1", -1 },
	{ "2001:db8:0:0:1:0:0:1", 0, 0, "2001:db8::1:0:0:1", -1 },
	{ "2001:db8:0:1:1:1:1:1", 0, 0, "2001:db8:0:1:1:1:1:1", -1 },
	{ "2001:db8::1:1:1:1:1", 0, 0, "2001:db8:0:1:1:1:1:1", -1 },
	{ "2001:0:0:1:0:0:0:1", 0, 0, "2001:0:0:1::1", -1 },
	{ "2001:db8:0:0:1::", 0, 0, "2001:db8:0:0:1::", -1 },
	{ "0:0:0:0:0:0:0:0", 0, 0, "::", -1 },
	{ "0:0:0:0:0:0:0:1", 0, 0, "::1", -1 },
	{ "1:0:0:0:0:0:0:0", 0, 0, "1::", -1 },
	{ "1:2:3:4:5:6:7:8", 0, 0, "1:2:3:4:5:6:7:8", -1 },
	{ "1:2:3:4:5:6:7::", 0, 0, "1:2:3:4:5:6:7:0", -1 },
	{ "::2:3:4:5:6:7:8", 0, 0, "0:2:3:4:5:6:7:8", -1 },
	{ "1::3:4:5:6:7:8", 0, 0, "1:0:3:4:5:6:7:8", -1 },
	{ "1:0:3:4:5:6:7:8", 0, 0, "1:0:3:4:5:6:7:8", -1 },
	{ "1:0:0:4:5:6:7:8", 0, 0, "1::4:5:6:7:8", -1 },
	{ "1:0:0:4:0:0:7:8", 0, 0, "1::4:0:0:7:8", -1 },
	{ "1:0:0:4:0:0:0:8", 0, 0, "1:0:0:4::8", -1 },
	{ "0:0:3:0:0:0:7:8", 0, 0, "0:0:3::7:8", -1 },
	{ "0:0:3:4:5:6:0:0", 0, 0, "::3:4:5:6:0:0", -1 },
	{ "1:2:3:4:0:0:0:0", 0, 0, "1:2:3:4::", -1 },
	{ "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", 0, 0,
	  "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", -1 },
	{ "FFFF:FFFF:FFFF:FFFF:FFFF:FFFF:FFFF:FFFF", 0, 0,
	  "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", -1 },
	{ "fe80::1", 0, 0, "fe80::1", -1 },
	{ "FE80::0202:B3FF:FE1E:8329", 0, 0, "fe80::202:b3ff:fe1e:8329", -1 },
	{ "ff02::1:ff00:1", 0, 0, "ff02::1:ff00:1", -1 },
	{ "2001:db8:85a3::8a2e:370:7334", 0, 0, "2001:db8:85a3::8a2e:370:7334", -1 },
	{ "2001:db8:aaaa:bbbb:cccc:dddd:eeee:0001", 0, 0,
	  "2001:db8:aaaa:bbbb:cccc:dddd:eeee:1", -1 },
	{ "2001:db8::aaaa:0:0:1", 0, 0, "2001:db8::aaaa:0:0:1", -1 },
	{ "2001:db8:0:0:aaaa::1", 0, 0, "2001:db8::aaaa:0:0:1", -1 },
	{ "0001:0002:0003:0004:0005:0006:0007:0008", 0, 0, "1:2:3:4:5:6:7:8", -1 },
	{ "a:b:c:d:e:f:0:1", 0, 0, "a:b:c:d:e:f:0:1", -1 },
	{ "00:000:0000::0", 0, 0, "::", -1 },
	{ "2606:4700:4700::1111", 0, 0, "2606:4700:4700::1111", -1 },
	{ "2001:4860:4860::8888", 0, 0, "2001:4860:4860::8888", -1 },
	{ "100::", 0, 0, "100::", -1 },
	{ "64:ff9b::", 0, 0, "64:ff9b::", -1 },
	{ "fc00::abcd", 0, 0, "fc00::abcd", -1 },
	{ "::ffff", 0, 0, "::ffff", -1 },
	{ "::fffe:0:0", 0, 0, "::fffe:0:0", -1 },
	{ "::1:ffff:0:0", 0, 0, "::1:ffff:0:0", -1 },
	{ "1::ffff:0:0", 0, 0, "1::ffff:0:0", -1 },
	/* ---- IPv6 with embedded IPv4 ---- */
	{ "::ffff:1.2.3.4", 0, 0, "1.2.3.4", -1 },
	{ "::FFFF:1.2.3.4", 0, 0, "1.2.3.4", -1 },
	{ "::ffff:0.0.0.0", 0, 0, "0.0.0.0", -1 },
	{ "::ffff:255.255.255.255", 0, 0, "255.255.255.255", -1 },
	{ "0:0:0:0:0:ffff:192.0.2.7", 0, 0, "192.0.2.7", -1 },
	{ "0000:0000:0000:0000:0000:ffff:192.0.2.7", 0, 0, "192.0.2.7", -1 },
	{ "::ffff:c000:0207", 0, 0, "192.0.2.7", -1 },
	{ "::ffff:7f00:1", 0, 0, "127.0.0.1", -1 },
	{ "64:ff9b::1.2.3.4", 0, 0, "64:ff9b::102:304", -1 },
	{ "64:ff9b::192.0.2.33", 0, 0, "64:ff9b::c000:221", -1 },
	{ "::1.2.3.4", 0, 0, "::102:304", -1 },
	{ "::0.0.0.1", 0, 0, "::1", -1 },
	{ "::0.0.0.0", 0, 0, "::", -1 },
	{ "1:2:3:4:5:6:1.2.3.4", 0, 0, "1:2:3:4:5:6:102:304", -1 },
	{ "1::5:6:1.2.3.4", 0, 0, "1::5:6:102:304", -1 },
	{ "::5:6:1.2.3.4", 0, 0, "::5:6:102:304", -1 },
	{ "1:2:3:4:5::1.2.3.4", 0, 0, "1:2:3:4:5:0:102:304", -1 },
	{ "::ffff:0:1.2.3.4", 0, 0, "::ffff:0:102:304", -1 },
	{ "2001:db8:122:344::192.0.2.33", 0, 0, "2001:db8:122:344::c000:221", -1 },
	/* ---- IPv6 CIDR ---- */
	{ "::/0", 0, 0, "::/0", -1 },
	{ "2001:db8::/32", 0, 0, "2001:db8::/32", -1 },
	{ "2001:db8::/48", 0, 0, "2001:db8::/48", -1 },
	{ "2001:db8:1:2::/64", 0, 0, "2001:db8:1:2::/64", -1 },
	{ "2001:db8::1/128", 0, 0, "2001:db8::1", -1 },
	{ "fe80::/10", 0, 0, "fe80::/10", -1 },
	{ "fc00::/7", 0, 0, "fc00::/7", -1 },
	{ "8000::/1", 0, 0, "8000::/1", -1 },
	{ "2001:db8::/127", 0, 0, "2001:db8::/127", -1 },
	{ "2001:db8::1/64", 0, IPW_EADDR_HOST_BITS, NULL, 12 },
	{ "2001:db8::1/64", M, 0, "2001:db8::/64", -1 },
	{ "2001:db8::1/127", 0, IPW_EADDR_HOST_BITS, NULL, -1 },
	{ "2001:db8::1/127", M, 0, "2001:db8::/127", -1 },
	{ "2001:db8:ffff::/32", 0, IPW_EADDR_HOST_BITS, NULL, -1 },
	{ "2001:db8:ffff::/32", M, 0, "2001:db8::/32", -1 },
	{ "ffff::/1", M, 0, "8000::/1", -1 },
	{ "::1/0", 0, IPW_EADDR_HOST_BITS, NULL, 4 },
	{ "::1/0", M, 0, "::/0", -1 },
	{ "2001:db8:0:0:8000::/65", 0, 0, "2001:db8:0:0:8000::/65", -1 },
	{ "2001:db8:0:0:4000::/65", 0, IPW_EADDR_HOST_BITS, NULL, -1 },
	{ "2001:db8::/3", 0, IPW_EADDR_HOST_BITS, NULL, -1 },
	{ "2001:db8::/3", M, 0, "2000::/3", -1 },
	/* ---- mapped prefixes fold to IPv4 at length >= 96 ---- */
	{ "::ffff:1.2.3.0/120", 0, 0, "1.2.3.0/24", -1 },
	{ "::ffff:0.0.0.0/96", 0, 0, "0.0.0.0/0", -1 },
	{ "::ffff:1.2.3.4/128", 0, 0, "1.2.3.4", -1 },
	{ "::ffff:1.2.3.4/120", 0, IPW_EADDR_HOST_BITS, NULL, -1 },
	{ "::ffff:1.2.3.4/120", M, 0, "1.2.3.0/24", -1 },
	{ "::ffff:0:0/95", 0, IPW_EADDR_HOST_BITS, NULL, -1 },
	{ "::ffff:0:0/80", 0, IPW_EADDR_HOST_BITS, NULL, -1 },
	{ "::/80", 0, 0, "::/80", -1 },
	{ "::ffff:0:0/95", M, 0, "::fffe:0:0/95", -1 },
	/* ---- IPv6, zone ids ---- */
	{ "fe80::1%eth0", 0, IPW_EADDR_ZONE, NULL, 7 },
	{ "fe80::1%1", 0, IPW_EADDR_ZONE, NULL, 7 },
	{ "fe80::%eth0", 0, IPW_EADDR_ZONE, NULL, 6 },
	{ "::1%lo", 0, IPW_EADDR_ZONE, NULL, 3 },
	{ "fe80::1%", 0, IPW_EADDR_ZONE, NULL, 7 },
	{ "fe80::1%eth0/64", 0, IPW_EADDR_ZONE, NULL, 7 },
	{ "fe80::/64%eth0", 0, IPW_EADDR_PREFIX_SYNTAX, NULL, 9 },
	/* ---- IPv6, colons ---- */
	{ ":", 0, IPW_EADDR_V6_COLON, NULL, 0 },
	{ ":1", 0, IPW_EADDR_V6_COLON, NULL, 0 },
	{ ":1::", 0, IPW_EADDR_V6_COLON, NULL, 0 },
	{ "1:", 0, IPW_EADDR_V6_COLON, NULL, 1 },
	{ "1:2:3:4:5:6:7:", 0, IPW_EADDR_V6_COLON, NULL, 13 },
	{ ":1:2:3:4:5:6:7", 0, IPW_EADDR_V6_COLON, NULL, 0 },
	{ ":::", 0, IPW_EADDR_V6_COLON, NULL, 1 },
	{ "1:::2", 0, IPW_EADDR_V6_COLON, NULL, 2 },
	{ "::::", 0, IPW_EADDR_V6_COLON, NULL, 1 },
	{ "1::2:::3", 0, IPW_EADDR_V6_DOUBLE_COLON, NULL, 4 },
	{ "1::2::3", 0, IPW_EADDR_V6_DOUBLE_COLON, NULL, 4 },
	{ "::1::", 0, IPW_EADDR_V6_DOUBLE_COLON, NULL, 3 },
	{ "1::2:3::", 0, IPW_EADDR_V6_DOUBLE_COLON, NULL, 6 },
	{ "::2::", 0, IPW_EADDR_V6_DOUBLE_COLON, NULL, 3 },
	/* ---- IPv6, group count and length ---- */
	{ "1:2:3:4:5:6:7", 0, IPW_EADDR_V6_GROUPS, NULL, 13 },
	{ "1:2:3:4:5:6:7:8:9", 0, IPW_EADDR_V6_GROUPS, NULL, 16 },
	{ "1:2:3:4:5:6:7:8::", 0, IPW_EADDR_V6_GROUPS, NULL, -1 },
	{ "::1:2:3:4:5:6:7:8", 0, IPW_EADDR_V6_GROUPS, NULL, -1 },
	{ "1:2:3:4::5:6:7:8", 0, IPW_EADDR_V6_GROUPS, NULL, -1 },
	{ "1:2", 0, IPW_EADDR_V6_GROUPS, NULL, 3 },
	{ "12345::", 0, IPW_EADDR_V6_GROUP_LONG, NULL, 0 },
	{ "::12345", 0, IPW_EADDR_V6_GROUP_LONG, NULL, 2 },
	{ "1:00000::", 0, IPW_EADDR_V6_GROUP_LONG, NULL, 2 },
	{ "2001:0db8:00000:0:0:0:0:1", 0, IPW_EADDR_V6_GROUP_LONG, NULL, 10 },
	{ "fffff::", 0, IPW_EADDR_V6_GROUP_LONG, NULL, 0 },
	/* ---- IPv6, embedded IPv4 misuse ---- */
	{ "1:2:3:4:5:6:7:1.2.3.4", 0, IPW_EADDR_V6_GROUPS, NULL, 14 },
	{ "1:2:3:4:5:6::1.2.3.4", 0, IPW_EADDR_V6_GROUPS, NULL, -1 },
	{ "1:2:3:4:5:1.2.3.4", 0, IPW_EADDR_V6_GROUPS, NULL, -1 },
	{ "::1.2.3.4:5", 0, IPW_EADDR_V6_V4_PLACE, NULL, 9 },
	{ "1.2.3.4::", 0, IPW_EADDR_TRAILING, NULL, 7 },
	{ "1.2.3.4::5", 0, IPW_EADDR_TRAILING, NULL, 7 },
	{ "::ffff:1.2.3", 0, IPW_EADDR_V4_PARTS, NULL, 12 },
	{ "::ffff:1.2.3.4.5", 0, IPW_EADDR_V4_PARTS, NULL, 14 },
	{ "::ffff:01.2.3.4", 0, IPW_EADDR_V4_LEADING_ZERO, NULL, 7 },
	{ "::ffff:1.2.3.256", 0, IPW_EADDR_V4_OCTET_RANGE, NULL, 13 },
	{ "::ffff:1..3.4", 0, IPW_EADDR_V4_EMPTY_PART, NULL, 9 },
	{ "::ffff:a.2.3.4", 0, IPW_EADDR_V4_NOT_DECIMAL, NULL, 7 },
	{ "::ffff:1.2.3.4%eth0", 0, IPW_EADDR_ZONE, NULL, 14 },
	{ "::ffff:1.2.3.", 0, IPW_EADDR_V4_EMPTY_PART, NULL, 13 },
	{ "::1.2.3.4.", 0, IPW_EADDR_V4_EMPTY_PART, NULL, 9 },
	/* ---- more of each family ---- */
	{ "255.0.255.0", 0, 0, "255.0.255.0", -1 },
	{ "1.1.1.1/1", M, 0, "0.0.0.0/1", -1 },
	{ "128.0.0.1/1", M, 0, "128.0.0.0/1", -1 },
	{ "10.10.10.10/29", M, 0, "10.10.10.8/29", -1 },
	{ "10.10.10.8/29", 0, 0, "10.10.10.8/29", -1 },
	{ "10.10.10.9/29", 0, IPW_EADDR_HOST_BITS, NULL, 11 },
	{ "1.2.3.4/032", 0, IPW_EADDR_PREFIX_SYNTAX, NULL, 8 },
	{ "1.2.3.4/3 ", 0, IPW_EADDR_SPACE, NULL, 9 },
	{ "1.2.3.256/24", 0, IPW_EADDR_V4_OCTET_RANGE, NULL, 6 },
	{ "01.2.3.0/24", 0, IPW_EADDR_V4_LEADING_ZERO, NULL, 0 },
	{ "2001:db8::/129", 0, IPW_EADDR_PREFIX_RANGE, NULL, 11 },
	{ "2001:db8::%1/64", 0, IPW_EADDR_ZONE, NULL, 10 },
	{ "2001:DB8:0:0:0:0:0:0/32", 0, 0, "2001:db8::/32", -1 },
	{ "fe80:0:0:0:0:0:0:0/10", 0, 0, "fe80::/10", -1 },
	{ "ff00::/8", 0, 0, "ff00::/8", -1 },
	{ "::ffff:10.0.0.0/104", 0, 0, "10.0.0.0/8", -1 },
	{ "::ffff:10.0.0.1/104", M, 0, "10.0.0.0/8", -1 },
	{ "0:0:0:0:0:ffff:0a00:0001", 0, 0, "10.0.0.1", -1 },
	{ "1::2:3:4:5:6:7", 0, 0, "1:0:2:3:4:5:6:7", -1 },
	{ "1:2:3:4:5:6:7:8/128", H, IPW_EADDR_PREFIX_DENIED, NULL, 15 },
};
/* clang-format on */

static void test_vectors(void)
{
	for (size_t i = 0; i < sizeof(vecs) / sizeof(vecs[0]); i++) {
		const struct vec *v = &vecs[i];
		struct ipw_addr a;
		size_t pos = 9999;
		char buf[IPW_ADDR_STRLEN];
		int rc;

		memset(&a, 0xa5, sizeof(a));
		rc = ipw_addr_parse(v->in, strlen(v->in), v->flags, &a, &pos);
		if (v->err) {
			ok(rc == v->err &&
				   (v->pos < 0 || (size_t)v->pos == pos),
			   "reject \"%s\" flags=%u: %s at %zu", v->in, v->flags,
			   ipw_errname(rc), pos);
			if (rc != v->err)
				diag("want %s", ipw_errname(v->err));
			if (v->pos >= 0 && (size_t)v->pos != pos)
				diag("want offset %d", v->pos);
			continue;
		}
		if (rc) {
			ok(0, "accept \"%s\": got %s at %zu", v->in,
			   ipw_errname(rc), pos);
			continue;
		}
		ipw_addr_format(&a, buf, sizeof(buf));
		is_str(buf, v->out, "\"%s\" flags=%u", v->in, v->flags);
	}
}

/* The value's invariants: what bytewise hashing relies on. */
static bool invariants(const struct ipw_addr *a)
{
	unsigned width = a->family == IPW_AF_INET ? 4 : 16;

	if (a->family != IPW_AF_INET && a->family != IPW_AF_INET6)
		return false;
	if (a->plen > ipw_addr_maxlen(a) || a->pad[0] || a->pad[1])
		return false;
	for (unsigned bit = a->plen; bit < 128; bit++) {
		if (bit >= width * 8 && bit % 8 == 0) {
			if (a->bytes[bit / 8])
				return false;
			bit += 7;
			continue;
		}
		if (a->bytes[bit / 8] & (0x80 >> (bit % 8)))
			return false;
	}
	return true;
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

static void random_value(struct ipw_addr *a)
{
	uint8_t b[16];

	for (int k = 0; k < 16; k++)
		b[k] = (uint8_t)rnd();
	/* Bias toward zero runs, so "::" placement is exercised. */
	for (int k = 0; k < 8; k++)
		if (rnd() % 3 == 0)
			b[2 * k] = b[2 * k + 1] = 0;
	switch (rnd() % 4) {
	case 0:
		ipw_addr_from_v4(a, (uint32_t)rnd(), (unsigned)(rnd() % 33));
		break;
	case 1:
		ipw_addr_from_v4(a, (uint32_t)rnd(), 32);
		break;
	case 2:
		ipw_addr_from_v6(a, b, (unsigned)(rnd() % 129));
		break;
	default:
		ipw_addr_from_v6(a, b, 128);
		break;
	}
}

/* format -> parse gives the same value; parse(format) -> format is fixed. */
static void test_roundtrip(void)
{
	int bad = 0, n = 200000;

	for (int i = 0; i < n; i++) {
		struct ipw_addr a, b;
		char s1[IPW_ADDR_STRLEN], s2[IPW_ADDR_STRLEN];
		int len, rc;

		random_value(&a);
		if (!invariants(&a)) {
			bad++;
			continue;
		}
		len = ipw_addr_format(&a, s1, sizeof(s1));
		rc = ipw_addr_parse(s1, (size_t)len, 0, &b, NULL);
		if (len <= 0 || rc || memcmp(&a, &b, sizeof(a)) != 0) {
			if (bad++ < 5)
				diag("round trip of \"%s\" failed (%s)", s1,
				     ipw_errname(rc));
			continue;
		}
		ipw_addr_format(&b, s2, sizeof(s2));
		if (strcmp(s1, s2) != 0 && bad++ < 5)
			diag("format not stable: \"%s\" vs \"%s\"", s1, s2);
	}
	is_int(bad, 0, "%d random values round-trip format -> parse", n);
}

/*
 * Every parsed value satisfies the invariants, and agrees with inet_pton on
 * inputs both accept. Inputs are random strings over the address alphabet,
 * random mutations of valid addresses, and the vector table.
 */
static int check_agreement(const char *s, size_t len, int *both, int *only_pton)
{
	struct ipw_addr a;
	char z[128];
	unsigned char raw[16];
	int rc, af, pr;

	if (len >= sizeof(z))
		return 0;
	memcpy(z, s, len);
	z[len] = '\0';
	rc = ipw_addr_parse(s, len, IPW_ADDR_HOST, &a, NULL);
	if (rc == 0 && !invariants(&a))
		return 1;
	af = memchr(s, ':', len) ? AF_INET6 : AF_INET;
	pr = inet_pton(af, z, raw);
	if (pr == 1 && rc == 0) {
		(*both)++;
		if (af == AF_INET)
			return memcmp(raw, a.bytes, 4) != 0;
		if (a.family == IPW_AF_INET) /* folded mapped address */
			return memcmp(raw + 12, a.bytes, 4) != 0 ||
			       raw[10] != 0xff || raw[11] != 0xff;
		return memcmp(raw, a.bytes, 16) != 0;
	}
	if (pr == 1 && rc != 0)
		(*only_pton)++;
	if (pr != 1 && rc == 0)
		return 1; /* we accept something inet_pton rejects */
	return 0;
}

static void test_inet_pton(void)
{
	static const char alpha[] = "0123456789abcdefABCDEF:.:::..12f0";
	int bad = 0, both = 0, only_pton = 0;
	char s[64];

	for (size_t i = 0; i < sizeof(vecs) / sizeof(vecs[0]); i++) {
		if (vecs[i].flags)
			continue;
		bad += check_agreement(vecs[i].in, strlen(vecs[i].in), &both,
				       &only_pton);
	}
	for (int i = 0; i < 2000000; i++) {
		size_t len;

		if (i % 2) {
			struct ipw_addr a;

			random_value(&a);
			a.plen = (uint8_t)ipw_addr_maxlen(&a);
			len = (size_t)ipw_addr_format(&a, s, sizeof(s));
			/* mutate one or two bytes */
			for (uint64_t m = rnd() % 3; m > 0; m--)
				s[rnd() % len] =
					alpha[rnd() % (sizeof(alpha) - 1)];
		} else {
			len = 1 + rnd() % 40;
			for (size_t k = 0; k < len; k++)
				s[k] = alpha[rnd() % (sizeof(alpha) - 1)];
		}
		if (check_agreement(s, len, &both, &only_pton)) {
			if (bad++ < 5)
				diag("disagree with inet_pton on \"%.*s\"",
				     (int)len, s);
		}
	}
	diag("inet_pton agreement: %d inputs both accept, %d only inet_pton",
	     both, only_pton);
	is_int(bad, 0, "agree with inet_pton on every input both accept");
	ok(both > 100000, "the agreement test saw many valid inputs (%d)",
	   both);
	/* inet_pton is as strict as we are except for nothing we know of:
	 * whatever it accepts and we reject must be explained. */
	is_int(only_pton, 0, "no input accepted by inet_pton is rejected");
}

/* Where inet_ntop prints pure hex, it must print what we print. */
static void test_inet_ntop(void)
{
	int bad = 0, compared = 0;

	for (int i = 0; i < 200000; i++) {
		struct ipw_addr a;
		char ours[IPW_ADDR_STRLEN], theirs[INET6_ADDRSTRLEN];

		random_value(&a);
		a.plen = (uint8_t)ipw_addr_maxlen(&a);
		ipw_addr_format(&a, ours, sizeof(ours));
		if (!inet_ntop(a.family == IPW_AF_INET ? AF_INET : AF_INET6,
			       a.bytes, theirs, sizeof(theirs))) {
			bad++;
			continue;
		}
		if (a.family == IPW_AF_INET6 && strchr(theirs, '.'))
			continue;
		compared++;
		if (strcmp(ours, theirs) != 0 && bad++ < 5)
			diag("format \"%s\" but inet_ntop \"%s\"", ours,
			     theirs);
	}
	is_int(bad, 0, "format agrees with inet_ntop on %d values", compared);
}

static void test_helpers(void)
{
	struct ipw_addr p, a, t;
	char buf[IPW_ADDR_STRLEN];

	ipw_addr_parse_str("192.0.2.0/24", 0, &p);
	ipw_addr_parse_str("192.0.2.77", 0, &a);
	ok(ipw_addr_contains(&p, &a), "192.0.2.0/24 contains 192.0.2.77");
	ok(!ipw_addr_contains(&a, &p),
	   "an address does not contain its prefix");
	ok(ipw_addr_contains(&p, &p), "a prefix contains itself");
	ipw_addr_parse_str("192.0.3.1", 0, &a);
	ok(!ipw_addr_contains(&p, &a),
	   "192.0.2.0/24 does not contain 192.0.3.1");
	ipw_addr_parse_str("::ffff:192.0.2.9", 0, &a);
	ok(ipw_addr_contains(&p, &a), "mapped address matches the IPv4 prefix");
	ipw_addr_parse_str("2001:db8::/32", 0, &p);
	ok(!ipw_addr_contains(&p, &a), "IPv6 prefix does not contain IPv4");
	ipw_addr_parse_str("2001:db8:1::5", 0, &a);
	ok(ipw_addr_contains(&p, &a), "2001:db8::/32 contains 2001:db8:1::5");
	ipw_addr_parse_str("::/0", 0, &p);
	ok(ipw_addr_contains(&p, &a), "::/0 contains everything IPv6");

	ipw_addr_truncate(&t, &a, 48);
	ipw_addr_format(&t, buf, sizeof(buf));
	is_str(buf, "2001:db8:1::/48", "truncate to /48");
	ipw_addr_parse_str("203.0.113.77", 0, &a);
	ipw_addr_truncate(&t, &a, 24);
	ipw_addr_format(&t, buf, sizeof(buf));
	is_str(buf, "203.0.113.0/24", "truncate to /24");
	ok(ipw_addr_is_host(&a) && !ipw_addr_is_host(&t), "is_host");
	is_int(ipw_addr_v4(&a), 0xcb00714d, "ipw_addr_v4 is host order");

	ipw_addr_parse_str("1.2.3.4", 0, &a);
	ipw_addr_parse_str("1.2.3.4/32", 0, &p);
	ok(ipw_addr_equal(&a, &p), "1.2.3.4 equals 1.2.3.4/32");
	ipw_addr_parse_str("1.2.3.0/24", 0, &p);
	ok(ipw_addr_cmp(&p, &a) < 0 && ipw_addr_cmp(&a, &p) > 0,
	   "cmp orders by bytes then length");
	ipw_addr_parse_str("::1", 0, &p);
	ok(ipw_addr_cmp(&a, &p) < 0, "IPv4 sorts before IPv6");

	is_int(ipw_addr_format(&a, buf, 7), IPW_EBUFSIZE,
	       "format into a short buffer fails");
	is_str(buf, "", "and leaves an empty string");
	is_int(ipw_addr_format(&a, buf, 8), 7, "format into an exact buffer");
	a.family = 5;
	is_int(ipw_addr_format(&a, buf, sizeof(buf)), IPW_EINVAL,
	       "format rejects a bad family");
	is_int(ipw_addr_from_v4(&a, 1, 33), IPW_EADDR_PREFIX_RANGE,
	       "from_v4 rejects /33");
	is_int(ipw_addr_from_v6(&a, p.bytes, 129), IPW_EADDR_PREFIX_RANGE,
	       "from_v6 rejects /129");

	is_int(ipw_addr_parse(NULL, 0, 0, &a, NULL), IPW_EADDR_EMPTY,
	       "NULL with length 0 is empty");
	is_int(ipw_addr_parse("1.2.3.4xyz", 7, 0, &a, NULL), 0,
	       "length bounds the input");
	is_int(ipw_addr_parse("1.2.3\0.4", 8, 0, &a, NULL), IPW_EADDR_CHAR,
	       "embedded NUL is rejected");
}

static void test_messages(void)
{
	char buf[256];
	size_t pos;
	struct ipw_addr a;
	int rc;

	rc = ipw_addr_parse("010.1.1.1", 9, 0, &a, &pos);
	ipw_addr_error_msg(buf, sizeof(buf), "010.1.1.1", 9, rc, pos);
	is_str(buf,
	       "invalid address \"010.1.1.1\": IPv4 octet has a leading zero "
	       "(ambiguous octal) (at offset 0)",
	       "message names the problem and the place");
	rc = ipw_addr_parse("fe80::1%eth0", 12, 0, &a, &pos);
	ipw_addr_error_msg(buf, sizeof(buf), "fe80::1%eth0", 12, rc, pos);
	is_str(buf,
	       "invalid address \"fe80::1%eth0\": IPv6 zone ids are not "
	       "accepted (at offset 7)",
	       "zone id message");
	ipw_addr_error_msg(buf, sizeof(buf), "a\"\n\x01", 4, IPW_EADDR_CHAR, 1);
	is_str(buf,
	       "invalid address \"a\\x22\\x0a\\x01\": character not allowed in "
	       "an address (at offset 1)",
	       "message escapes hostile bytes");
	char big[200];

	memset(big, '9', sizeof(big));
	ipw_addr_error_msg(buf, sizeof(buf), big, sizeof(big),
			   IPW_EADDR_V4_OCTET_RANGE, 0);
	ok(strstr(buf, "9999...\"") != NULL && strlen(buf) < 150,
	   "message cuts long input");
}

int main(void)
{
	test_vectors();
	test_roundtrip();
	test_inet_pton();
	test_inet_ntop();
	test_helpers();
	test_messages();
	return done_testing();
}
