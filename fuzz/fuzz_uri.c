// SPDX-License-Identifier: MIT
/*
 * libFuzzer harness for the raw request target's check,
 * ipwd_uri_check() (src/daemon/api/uri.h). Beyond "does not crash" (and,
 * the input being an exactly sized buffer, "never reads beyond len"), it
 * holds the check against a reference written here the plain way: split
 * the target at its first '?', the query at every '&' and each part at
 * its first '='; a component is at fault if it holds a raw byte <= 0x20 or
 * >= 0x7f, a '%' not followed by two hex digits inside it, or decodes
 * ('+' is a space in the query only) to a NUL, a C0 control, DEL, a C1
 * control (U+0080..U+009F) or bytes that are not strict UTF-8 (no
 * overlong forms, no surrogates, nothing above U+10FFFF).
 *
 *   - 0 only when the reference finds no fault anywhere;
 *   - -1 only when it finds one, and then the fault names the first
 *     component at fault, in the order path, then each parameter's name
 *     and value: its kind (path, name, value), an offset inside that
 *     component (its end for a character cut short) and never beyond
 *     len, a non-empty NUL-terminated message, and for a value the
 *     parameter's decoded name (its first 64 bytes), NUL-terminated.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "api/uri.h"

#define NAME_MAX_BYTES 64

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check(int cond)
{
	if (!cond)
		abort();
}

static bool is_hex(uint8_t c)
{
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') ||
	       (c >= 'A' && c <= 'F');
}

static unsigned hex(uint8_t c)
{
	if (c <= '9')
		return c - '0';
	return (c | 0x20) - 'a' + 10;
}

/*
 * Strict UTF-8 (RFC 3629), the textbook way: the lead byte gives the
 * length, the continuation bytes the rest of the code point, and the code
 * point must need that length. False also for a C1 control.
 */
static bool utf8_ok(const uint8_t *s, size_t n)
{
	size_t i = 0, k, len;
	uint32_t cp, min;

	while (i < n) {
		uint8_t b = s[i];

		if (b < 0x80) {
			i++;
			continue;
		}
		if ((b & 0xe0) == 0xc0)
			len = 2, cp = b & 0x1f, min = 0x80;
		else if ((b & 0xf0) == 0xe0)
			len = 3, cp = b & 0x0f, min = 0x800;
		else if ((b & 0xf8) == 0xf0)
			len = 4, cp = b & 0x07, min = 0x10000;
		else
			return false;
		if (n - i < len)
			return false;
		for (k = 1; k < len; k++) {
			if ((s[i + k] & 0xc0) != 0x80)
				return false;
			cp = cp << 6 | (s[i + k] & 0x3f);
		}
		if (cp < min || cp > 0x10ffff ||
		    (cp >= 0xd800 && cp <= 0xdfff) ||
		    (cp >= 0x80 && cp <= 0x9f))
			return false;
		i += len;
	}
	return true;
}

/*
 * The reference's verdict on component @s[0..n): true if at fault. The
 * decoded bytes go to @out (room for @n), their count to *@outlen.
 */
static bool ref_fault(const uint8_t *s, size_t n, bool query, uint8_t *out,
		      size_t *outlen)
{
	size_t i, m = 0;

	*outlen = 0;
	for (i = 0; i < n; i++)
		if (s[i] <= 0x20 || s[i] >= 0x7f)
			return true;
	for (i = 0; i < n; i++) {
		if (s[i] == '%') {
			if (i + 2 >= n || !is_hex(s[i + 1]) ||
			    !is_hex(s[i + 2]))
				return true;
			out[m++] =
				(uint8_t)(hex(s[i + 1]) << 4 | hex(s[i + 2]));
			i += 2;
		} else {
			out[m++] = query && s[i] == '+' ? ' ' : s[i];
		}
	}
	*outlen = m;
	for (i = 0; i < m; i++)
		if (out[i] < 0x20 || out[i] == 0x7f)
			return true;
	return !utf8_ok(out, m);
}

/* The first component at fault, as the reference sees it. */
struct ref {
	bool fault;
	enum ipwd_uri_where where;
	size_t start, end;	      /* of the component, in the target */
	uint8_t name[NAME_MAX_BYTES]; /* where == PARAM: the decoded name */
	size_t namelen;
};

static void reference(const uint8_t *u, size_t len, uint8_t *scratch,
		      struct ref *r)
{
	const uint8_t *q = memchr(u, '?', len);
	size_t plen = q ? (size_t)(q - u) : len, s, e, k, n;

	memset(r, 0, sizeof(*r));
	if (ref_fault(u, plen, false, scratch, &n)) {
		r->fault = true;
		r->where = IPWD_URI_PATH;
		r->end = plen;
		return;
	}
	if (q == NULL)
		return;
	for (s = plen + 1;; s = e + 1) {
		for (e = s; e < len && u[e] != '&'; e++)
			;
		for (k = s; k < e && u[k] != '='; k++)
			;
		if (ref_fault(u + s, k - s, true, scratch, &n)) {
			r->fault = true;
			r->where = IPWD_URI_PARAM_NAME;
			r->start = s;
			r->end = k;
			return;
		}
		if (k < e) {
			r->namelen = n < NAME_MAX_BYTES ? n : NAME_MAX_BYTES;
			memcpy(r->name, scratch, r->namelen);
			if (ref_fault(u + k + 1, e - k - 1, true, scratch,
				      &n)) {
				r->fault = true;
				r->where = IPWD_URI_PARAM;
				r->start = k + 1;
				r->end = e;
				return;
			}
		}
		if (e >= len)
			return;
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct ipwd_uri_fault f;
	struct ref r;
	uint8_t *scratch = malloc(size + 1);
	int rc;

	check(scratch != NULL);
	/* libFuzzer's buffer is exactly @size bytes: ASan sees any read
	 * past it. */
	rc = ipwd_uri_check((const char *)data, size, &f);
	reference(data, size, scratch, &r);
	free(scratch);
	check(rc == 0 || rc == -1);
	check((rc == -1) == r.fault);
	if (rc == 0)
		return 0;
	check(f.offset <= size);
	check(memchr(f.msg, '\0', sizeof(f.msg)) != NULL && f.msg[0] != '\0');
	check(f.where == r.where);
	check(f.offset >= r.start && f.offset <= r.end);
	if (f.where == IPWD_URI_PARAM) {
		check(memchr(f.name, '\0', sizeof(f.name)) != NULL);
		check(strlen(f.name) == r.namelen &&
		      memcmp(f.name, r.name, r.namelen) == 0);
	}
	return 0;
}
