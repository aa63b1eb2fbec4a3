// SPDX-License-Identifier: MIT
/*
 * Address and CIDR parsing and formatting.
 *
 * Design. One pass over the input, no allocation, no locale, no libc
 * parsers (inet_pton accepts things we reject and says nothing about why it
 * failed). The input is split at the first '/', the address part is parsed
 * as IPv6 if it holds a ':' and as IPv4 otherwise, then the prefix length,
 * then mapped IPv6 is folded into IPv4 and the host bits are checked.
 *
 * Each rejection returns its own IPW_EADDR_* code with the byte offset
 * where it was found, so callers can say what was wrong and where.
 *
 * Invariants of every value we produce: family is INET or INET6, plen is in
 * range, bytes past the family's width and bits past plen are zero, pad is
 * zero. Values therefore compare and hash bytewise.
 *
 * Cost: O(len) for parse, a few dozen instructions for an IPv4 address;
 * format is O(1). Pure functions, thread-safe.
 */
#include <stdio.h>
#include <string.h>

#include <ipwall/addr.h>

static int hexval(unsigned char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	c |= 0x20;
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

static int fail(size_t *errpos, size_t pos, int err)
{
	if (errpos)
		*errpos = pos;
	return err;
}

/*
 * Parse exactly a dotted quad in s[0..len). @embedded tells that the quad
 * ends an IPv6 address, where trailing text means the IPv4 part was not
 * last. Offsets in *errpos are relative to s.
 */
static int parse_v4(const char *s, size_t len, uint8_t out[4], size_t *errpos,
		    bool embedded)
{
	size_t i = 0;

	for (int part = 0; part < 4; part++) {
		size_t start = i;
		unsigned val = 0;

		while (i < len && s[i] >= '0' && s[i] <= '9') {
			if (i - start == 3)
				return fail(errpos, start,
					    s[start] == '0' ?
						    IPW_EADDR_V4_LEADING_ZERO :
						    IPW_EADDR_V4_OCTET_RANGE);
			val = val * 10 + (unsigned)(s[i] - '0');
			i++;
		}
		if (i == start) {
			if (i == len || s[i] == '.')
				return fail(errpos, i, IPW_EADDR_V4_EMPTY_PART);
			return fail(errpos, i,
				    hexval((unsigned char)s[i]) >= 0 ?
					    IPW_EADDR_V4_NOT_DECIMAL :
					    IPW_EADDR_CHAR);
		}
		if (i - start > 1 && s[start] == '0')
			return fail(errpos, start, IPW_EADDR_V4_LEADING_ZERO);
		if (val > 255)
			return fail(errpos, start, IPW_EADDR_V4_OCTET_RANGE);
		out[part] = (uint8_t)val;

		if (part == 3)
			break;
		if (i == len)
			return fail(errpos, i, IPW_EADDR_V4_PARTS);
		if (s[i] != '.') {
			bool hex = (s[i] == 'x' || s[i] == 'X' ||
				    hexval((unsigned char)s[i]) >= 0);
			return fail(errpos, i,
				    hex ? IPW_EADDR_V4_NOT_DECIMAL :
					  IPW_EADDR_CHAR);
		}
		i++;
	}
	if (i == len)
		return 0;
	if (s[i] == '.')
		return fail(errpos, i,
			    i + 1 == len ? IPW_EADDR_V4_EMPTY_PART :
					   IPW_EADDR_V4_PARTS);
	if (s[i] == 'x' || s[i] == 'X' || hexval((unsigned char)s[i]) >= 0)
		return fail(errpos, i, IPW_EADDR_V4_NOT_DECIMAL);
	if (embedded && s[i] == '%')
		return fail(errpos, i, IPW_EADDR_ZONE);
	return fail(errpos, i,
		    embedded ? IPW_EADDR_V6_V4_PLACE : IPW_EADDR_TRAILING);
}

/* Parse an IPv6 address (no prefix, no zone) in s[0..len). */
static int parse_v6(const char *s, size_t len, uint8_t out[16], size_t *errpos)
{
	uint16_t groups[8];
	int ngroups = 0;
	int dc = -1; /* group index where "::" stands, or -1 */
	size_t i = 0, tok = 0;
	unsigned val = 0;
	int ndig = 0;

	if (s[0] == ':') {
		if (len < 2 || s[1] != ':')
			return fail(errpos, 0, IPW_EADDR_V6_COLON);
		i = 1; /* the loop reads the second ':' as an empty group */
	}

	while (i < len) {
		unsigned char c = (unsigned char)s[i];
		int h = hexval(c);

		if (h >= 0) {
			if (ndig == 4)
				return fail(errpos, tok,
					    IPW_EADDR_V6_GROUP_LONG);
			val = val << 4 | (unsigned)h;
			ndig++;
			i++;
			continue;
		}
		if (c == ':') {
			tok = i + 1;
			if (ndig == 0) {
				if (dc >= 0) {
					bool triple = i >= 2 &&
						      s[i - 1] == ':' &&
						      s[i - 2] == ':';
					return fail(
						errpos, i - 1,
						triple ?
							IPW_EADDR_V6_COLON :
							IPW_EADDR_V6_DOUBLE_COLON);
				}
				dc = ngroups;
				i++;
				continue;
			}
			if (i + 1 == len)
				return fail(errpos, i, IPW_EADDR_V6_COLON);
			if (ngroups == 8)
				return fail(errpos, i, IPW_EADDR_V6_GROUPS);
			groups[ngroups++] = (uint16_t)val;
			val = 0;
			ndig = 0;
			i++;
			continue;
		}
		if (c == '.') {
			uint8_t q[4];
			size_t pos;
			int rc;

			if (ngroups + 2 > 8 || (dc >= 0 && ngroups + 2 > 7))
				return fail(errpos, tok, IPW_EADDR_V6_GROUPS);
			/* An IPv4 address first ("1.2.3.4:80") is IPv4 with
			 * text after it, not a misplaced embedded IPv4. */
			rc = parse_v4(s + tok, len - tok, q, &pos, tok != 0);
			if (rc)
				return fail(errpos, tok + pos, rc);
			groups[ngroups++] = (uint16_t)(q[0] << 8 | q[1]);
			groups[ngroups++] = (uint16_t)(q[2] << 8 | q[3]);
			ndig = 0;
			break;
		}
		if (c == '%')
			return fail(errpos, i, IPW_EADDR_ZONE);
		return fail(errpos, i, IPW_EADDR_CHAR);
	}
	if (ndig > 0) {
		if (ngroups == 8)
			return fail(errpos, tok, IPW_EADDR_V6_GROUPS);
		groups[ngroups++] = (uint16_t)val;
	}
	if (dc >= 0) {
		/* "::" stands for at least one zero group. */
		if (ngroups == 8)
			return fail(errpos, len, IPW_EADDR_V6_GROUPS);
		int tail = ngroups - dc, gap = 8 - ngroups;

		memmove(&groups[dc + gap], &groups[dc],
			(size_t)tail * sizeof(groups[0]));
		for (int k = 0; k < gap; k++)
			groups[dc + k] = 0;
	} else if (ngroups != 8) {
		return fail(errpos, len, IPW_EADDR_V6_GROUPS);
	}
	for (int k = 0; k < 8; k++) {
		out[2 * k] = (uint8_t)(groups[k] >> 8);
		out[2 * k + 1] = (uint8_t)groups[k];
	}
	return 0;
}

/* Prefix length: decimal, no sign, no leading zero, at most 3 digits. */
static int parse_plen(const char *s, size_t len, unsigned max, unsigned *out,
		      size_t *errpos)
{
	unsigned val = 0;

	if (len == 0)
		return fail(errpos, 0, IPW_EADDR_PREFIX_SYNTAX);
	for (size_t i = 0; i < len; i++)
		if (s[i] < '0' || s[i] > '9')
			return fail(errpos, i, IPW_EADDR_PREFIX_SYNTAX);
	if (len > 1 && s[0] == '0')
		return fail(errpos, 0, IPW_EADDR_PREFIX_SYNTAX);
	if (len > 3)
		return fail(errpos, 0, IPW_EADDR_PREFIX_RANGE);
	for (size_t i = 0; i < len; i++)
		val = val * 10 + (unsigned)(s[i] - '0');
	if (val > max)
		return fail(errpos, 0, IPW_EADDR_PREFIX_RANGE);
	*out = val;
	return 0;
}

static bool is_mapped(const uint8_t b[16])
{
	static const uint8_t pre[12] = {0, 0, 0, 0, 0,	  0,
					0, 0, 0, 0, 0xff, 0xff};

	return memcmp(b, pre, sizeof(pre)) == 0;
}

/* Returns true if any bit at or past @plen is set (and clears them). */
static bool clear_host_bits(uint8_t *b, unsigned nbytes, unsigned plen)
{
	bool any = false;
	unsigned full = plen / 8, rem = plen % 8;

	if (rem) {
		uint8_t mask = (uint8_t)(0xff << (8 - rem));

		any |= (b[full] & ~mask) != 0;
		b[full] &= mask;
		full++;
	}
	for (unsigned k = full; k < nbytes; k++) {
		any |= b[k] != 0;
		b[k] = 0;
	}
	return any;
}

/* Fold ::ffff:a.b.c.d[/96+n] into IPv4 a.b.c.d[/n]. */
static void fold_mapped(struct ipw_addr *a)
{
	if (a->family != IPW_AF_INET6 || a->plen < 96 || !is_mapped(a->bytes))
		return;
	memmove(a->bytes, a->bytes + 12, 4);
	memset(a->bytes + 4, 0, 12);
	a->family = IPW_AF_INET;
	a->plen = (uint8_t)(a->plen - 96);
}

static bool is_space(unsigned char c)
{
	return c == ' ' || (c >= '\t' && c <= '\r');
}

int ipw_addr_parse(const char *s, size_t len, unsigned flags,
		   struct ipw_addr *out, size_t *errpos)
{
	struct ipw_addr a;
	size_t alen = len, i;
	bool v6 = false;
	unsigned plen;
	int rc;

	if (len == 0)
		return fail(errpos, 0, IPW_EADDR_EMPTY);
	for (i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];

		if (c == '/') {
			alen = i;
			break;
		}
		if (c == ':')
			v6 = true;
		else if (is_space(c))
			return fail(errpos, i, IPW_EADDR_SPACE);
	}
	for (i = alen; i < len; i++)
		if (is_space((unsigned char)s[i]))
			return fail(errpos, i, IPW_EADDR_SPACE);
	if (alen == 0)
		return fail(errpos, 0, IPW_EADDR_EMPTY);

	memset(&a, 0, sizeof(a));
	if (v6) {
		a.family = IPW_AF_INET6;
		rc = parse_v6(s, alen, a.bytes, errpos);
	} else {
		a.family = IPW_AF_INET;
		rc = parse_v4(s, alen, a.bytes, errpos, false);
	}
	if (rc)
		return rc;

	plen = v6 ? 128 : 32;
	if (alen < len) {
		if (flags & IPW_ADDR_HOST)
			return fail(errpos, alen, IPW_EADDR_PREFIX_DENIED);
		rc = parse_plen(s + alen + 1, len - alen - 1, plen, &plen,
				errpos);
		if (rc) {
			if (errpos)
				*errpos += alen + 1;
			return rc;
		}
	}
	a.plen = (uint8_t)plen;
	fold_mapped(&a);
	if (clear_host_bits(a.bytes, a.family == IPW_AF_INET ? 4 : 16,
			    a.plen) &&
	    !(flags & IPW_ADDR_MASK))
		return fail(errpos, alen < len ? alen + 1 : alen,
			    IPW_EADDR_HOST_BITS);
	*out = a;
	return 0;
}

int ipw_addr_parse_str(const char *s, unsigned flags, struct ipw_addr *out)
{
	return ipw_addr_parse(s, s ? strlen(s) : 0, flags, out, NULL);
}

static bool valid(const struct ipw_addr *a)
{
	return (a->family == IPW_AF_INET && a->plen <= 32) ||
	       (a->family == IPW_AF_INET6 && a->plen <= 128);
}

static char *put_u8(char *p, unsigned v)
{
	if (v >= 100) {
		*p++ = (char)('0' + v / 100);
		v %= 100;
		*p++ = (char)('0' + v / 10);
		*p++ = (char)('0' + v % 10);
	} else if (v >= 10) {
		*p++ = (char)('0' + v / 10);
		*p++ = (char)('0' + v % 10);
	} else {
		*p++ = (char)('0' + v);
	}
	return p;
}

static char *put_hex16(char *p, unsigned v)
{
	static const char hex[] = "0123456789abcdef";
	int shift = 12;

	while (shift > 0 && !(v >> shift & 0xf))
		shift -= 4;
	for (; shift >= 0; shift -= 4)
		*p++ = hex[v >> shift & 0xf];
	return p;
}

int ipw_addr_format(const struct ipw_addr *a, char *buf, size_t size)
{
	char tmp[IPW_ADDR_STRLEN], *p = tmp;
	size_t n;

	if (!valid(a))
		return IPW_EINVAL;
	if (a->family == IPW_AF_INET) {
		for (int k = 0; k < 4; k++) {
			if (k)
				*p++ = '.';
			p = put_u8(p, a->bytes[k]);
		}
	} else {
		unsigned g[8];
		int best = -1, bestlen = 1, run = 0;

		for (int k = 0; k < 8; k++) {
			g[k] = (unsigned)a->bytes[2 * k] << 8 |
			       a->bytes[2 * k + 1];
			run = g[k] ? 0 : run + 1;
			if (run > bestlen) {
				bestlen = run;
				best = k - run + 1;
			}
		}
		for (int k = 0; k < 8; k++) {
			if (k == best) {
				*p++ = ':';
				if (k == 0)
					*p++ = ':';
				k += bestlen - 1;
				continue;
			}
			p = put_hex16(p, g[k]);
			if (k < 7)
				*p++ = ':';
		}
	}
	if (a->plen != ipw_addr_maxlen(a)) {
		*p++ = '/';
		p = put_u8(p, a->plen);
	}
	n = (size_t)(p - tmp);
	if (n + 1 > size) {
		if (size)
			buf[0] = '\0';
		return IPW_EBUFSIZE;
	}
	memcpy(buf, tmp, n);
	buf[n] = '\0';
	return (int)n;
}

int ipw_addr_error_msg(char *buf, size_t size, const char *s, size_t len,
		       int err, size_t errpos)
{
	char quoted[64 * 4 + 4], *q = quoted;
	size_t shown = len > 64 ? 64 : len;

	// cppcheck-suppress knownConditionTrueFalse ; false positive: len varies
	for (size_t i = 0; i < shown; i++) {
		unsigned char c = (unsigned char)s[i];

		if (c >= 0x20 && c < 0x7f && c != '"' && c != '\\') {
			*q++ = (char)c;
		} else {
			static const char hex[] = "0123456789abcdef";

			*q++ = '\\';
			*q++ = 'x';
			*q++ = hex[c >> 4];
			*q++ = hex[c & 0xf];
		}
	}
	// cppcheck-suppress knownConditionTrueFalse
	if (shown < len) {
		memcpy(q, "...", 3);
		q += 3;
	}
	*q = '\0';
	return snprintf(buf, size, "invalid address \"%s\": %s (at offset %zu)",
			quoted, ipw_strerror(err), errpos);
}

int ipw_addr_from_v4(struct ipw_addr *out, uint32_t host_order, unsigned plen)
{
	if (plen > 32)
		return IPW_EADDR_PREFIX_RANGE;
	memset(out, 0, sizeof(*out));
	out->family = IPW_AF_INET;
	out->plen = (uint8_t)plen;
	out->bytes[0] = (uint8_t)(host_order >> 24);
	out->bytes[1] = (uint8_t)(host_order >> 16);
	out->bytes[2] = (uint8_t)(host_order >> 8);
	out->bytes[3] = (uint8_t)host_order;
	clear_host_bits(out->bytes, 4, plen);
	return 0;
}

int ipw_addr_from_v6(struct ipw_addr *out, const uint8_t bytes[16],
		     unsigned plen)
{
	if (plen > 128)
		return IPW_EADDR_PREFIX_RANGE;
	memset(out, 0, sizeof(*out));
	out->family = IPW_AF_INET6;
	out->plen = (uint8_t)plen;
	memcpy(out->bytes, bytes, 16);
	fold_mapped(out);
	clear_host_bits(out->bytes, out->family == IPW_AF_INET ? 4 : 16,
			out->plen);
	return 0;
}

static bool bits_equal(const uint8_t *a, const uint8_t *b, unsigned bits)
{
	unsigned full = bits / 8, rem = bits % 8;

	if (memcmp(a, b, full) != 0)
		return false;
	if (!rem)
		return true;
	return ((a[full] ^ b[full]) & (uint8_t)(0xff << (8 - rem))) == 0;
}

bool ipw_addr_contains(const struct ipw_addr *p, const struct ipw_addr *a)
{
	return p->family == a->family && a->plen >= p->plen &&
	       bits_equal(p->bytes, a->bytes, p->plen);
}

void ipw_addr_truncate(struct ipw_addr *out, const struct ipw_addr *a,
		       unsigned plen)
{
	*out = *a;
	if (plen < a->plen) {
		out->plen = (uint8_t)plen;
		clear_host_bits(out->bytes, a->family == IPW_AF_INET ? 4 : 16,
				plen);
	}
}

int ipw_addr_cmp(const struct ipw_addr *a, const struct ipw_addr *b)
{
	int c;

	if (a->family != b->family)
		return a->family < b->family ? -1 : 1;
	c = memcmp(a->bytes, b->bytes, sizeof(a->bytes));
	if (c)
		return c < 0 ? -1 : 1;
	if (a->plen != b->plen)
		return a->plen < b->plen ? -1 : 1;
	return 0;
}
