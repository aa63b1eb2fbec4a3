/* SPDX-License-Identifier: MIT */
/*
 * The raw request target's check (see uri.h).
 */
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "api/uri.h"
#include "base/text.h"

/*
 * A UTF-8 decoder fed one byte at a time (RFC 3629: no overlong forms, no
 * surrogates, nothing above U+10FFFF). @need: continuation bytes still
 * expected; [lo, hi]: the range of the next one; cp: the code point so
 * far.
 */
struct u8 {
	unsigned need;
	unsigned char lo, hi;
	uint32_t cp;
};

/* 0 (more to come or a whole character in *cp), -1 invalid. *done says
 * whether a character ended with this byte. */
static int u8_feed(struct u8 *s, unsigned char b, bool *done)
{
	*done = false;
	if (s->need) {
		if (b < s->lo || b > s->hi)
			return -1;
		s->cp = (s->cp << 6) | (b & 0x3f);
		s->lo = 0x80;
		s->hi = 0xbf;
		*done = --s->need == 0;
		return 0;
	}
	s->lo = 0x80;
	s->hi = 0xbf;
	if (b < 0x80) {
		s->cp = b;
		*done = true;
	} else if (b >= 0xc2 && b <= 0xdf) {
		s->cp = b & 0x1f;
		s->need = 1;
	} else if (b >= 0xe0 && b <= 0xef) {
		s->cp = b & 0x0f;
		s->need = 2;
		if (b == 0xe0)
			s->lo = 0xa0; /* overlong */
		else if (b == 0xed)
			s->hi = 0x9f; /* surrogates */
	} else if (b >= 0xf0 && b <= 0xf4) {
		s->cp = b & 0x07;
		s->need = 3;
		if (b == 0xf0)
			s->lo = 0x90; /* overlong */
		else if (b == 0xf4)
			s->hi = 0x8f; /* above U+10FFFF */
	} else {
		return -1;
	}
	return 0;
}

static int fault(struct ipwd_uri_fault *f, enum ipwd_uri_where where,
		 size_t off, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

static int fault(struct ipwd_uri_fault *f, enum ipwd_uri_where where,
		 size_t off, const char *fmt, ...)
{
	va_list ap;

	f->where = where;
	f->offset = off;
	va_start(ap, fmt);
	vsnprintf(f->msg, sizeof(f->msg), fmt, ap);
	va_end(ap);
	return -1;
}

/*
 * Check one component, raw[start..end) of the target: its raw bytes, its
 * percent-encoding, and what it decodes to. In the query, '+' stands for
 * a space (as MHD decodes it). When @name is not NULL, the decoded bytes
 * are copied there (up to 64, NUL-terminated).
 */
static int component(const char *raw, size_t start, size_t end, bool query,
		     enum ipwd_uri_where where, char *name,
		     struct ipwd_uri_fault *f)
{
	struct u8 s = {0};
	size_t i, n = 0;
	bool done;

	for (i = start; i < end; i++) {
		unsigned char c = (unsigned char)raw[i];
		size_t at = i;
		int hi, lo;

		if (c <= 0x20 || c >= 0x7f)
			return fault(f, where, at,
				     "contains the raw byte 0x%02X (a control, "
				     "space or non-ASCII byte must be "
				     "percent-encoded)",
				     c);
		if (c == '%') {
			hi = i + 1 < end ?
				     ipwd_hexval((unsigned char)raw[i + 1]) :
				     -1;
			lo = i + 2 < end ?
				     ipwd_hexval((unsigned char)raw[i + 2]) :
				     -1;
			if (hi < 0 || lo < 0)
				return fault(f, where, at,
					     "has a '%%' not followed by two "
					     "hex digits");
			c = (unsigned char)(hi << 4 | lo);
			i += 2;
		} else if (c == '+' && query) {
			c = ' ';
		}
		if (c == 0)
			return fault(f, where, at,
				     "contains a NUL byte (%%00)");
		if (c < 0x20 || c == 0x7f)
			return fault(f, where, at,
				     "contains a control character (%%%02X)",
				     c);
		if (u8_feed(&s, c, &done) != 0)
			return fault(f, where, at,
				     "is not valid UTF-8 (at byte %%%02X)", c);
		if (done && s.cp >= 0x80 && s.cp <= 0x9f)
			return fault(f, where, at,
				     "contains a control character (U+%04X)",
				     (unsigned)s.cp);
		if (name && n < 64)
			name[n++] = (char)c;
	}
	if (s.need)
		return fault(f, where, end,
			     "is not valid UTF-8 (a character is cut short)");
	if (name)
		name[n] = '\0';
	return 0;
}

int ipwd_uri_check(const char *uri, size_t len, struct ipwd_uri_fault *f)
{
	const char *q = memchr(uri, '?', len);
	size_t plen = q ? (size_t)(q - uri) : len;
	size_t i, k, e;

	memset(f, 0, sizeof(*f));
	if (component(uri, 0, plen, false, IPWD_URI_PATH, NULL, f) != 0)
		return -1;
	if (q == NULL)
		return 0;
	for (i = plen + 1; i <= len; i = e + 1) {
		const char *amp = memchr(uri + i, '&', len - i);
		const char *eq;

		e = amp ? (size_t)(amp - uri) : len;
		eq = memchr(uri + i, '=', e - i);
		k = eq ? (size_t)(eq - uri) : e;
		if (component(uri, i, k, true, IPWD_URI_PARAM_NAME, f->name,
			      f) != 0) {
			f->name[0] = '\0';
			return -1;
		}
		if (eq && component(uri, k + 1, e, true, IPWD_URI_PARAM, NULL,
				    f) != 0)
			return -1;
		if (e == len)
			break;
	}
	return 0;
}
