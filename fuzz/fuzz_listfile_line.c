// SPDX-License-Identifier: MIT
/*
 * libFuzzer harness for ipw_listfile_parse_line(). Beyond "does not crash",
 * it checks the contract on every input: the result is 1, 0 or a named
 * error at an offset inside the line; an entry's target is a valid value
 * that formats and re-parses to itself, also as a line of its own; the
 * comment lies inside the line, holds no NUL and has no blank at either
 * end. It also checks the tolerances: one '\r' added at the end, or a byte
 * order mark added at the start, changes nothing but the error offset.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <ipwall/listfile.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check(int cond)
{
	if (!cond)
		abort();
}

static int is_blank(char c)
{
	return c == ' ' || c == '\t';
}

static void check_same(int rc, const struct ipw_listline *l, size_t pos,
		       int rc2, const struct ipw_listline *l2, size_t pos2,
		       size_t shift)
{
	check(rc == rc2);
	if (rc < 0)
		check(pos2 == pos + shift);
	if (rc == 1) {
		check(ipw_addr_equal(&l->target, &l2->target));
		check(l->comment_len == l2->comment_len);
		check(!l->comment == !l2->comment);
		if (l->comment)
			check(memcmp(l->comment, l2->comment, l->comment_len) ==
			      0);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *s = (const char *)data;
	struct ipw_listline l, l2;
	size_t pos = (size_t)-1, pos2 = (size_t)-1;
	char buf[IPW_ADDR_STRLEN];
	char *copy;
	int rc, rc2, n;

	rc = ipw_listfile_parse_line(s, size, &l, &pos);
	if (rc < 0) {
		check(rc <= IPW_ERROR_MIN && rc >= IPW_ERROR_LAST);
		check(strcmp(ipw_errname(rc), "EUNKNOWN") != 0);
		check(pos <= size);
		check(rc != IPW_ELIST_NUL || (pos < size && s[pos] == '\0'));
		check(rc == IPW_ELIST_NUL || !memchr(s, '\0', size));
	} else {
		check(rc == 0 || rc == 1);
		check(!memchr(s, '\0', size));
	}
	if (rc == 1) {
		check(l.target.family == IPW_AF_INET ||
		      l.target.family == IPW_AF_INET6);
		check(l.target.plen <= ipw_addr_maxlen(&l.target));
		n = ipw_addr_format(&l.target, buf, sizeof(buf));
		check(n > 0);
		rc2 = ipw_listfile_parse_line(buf, (size_t)n, &l2, NULL);
		check(rc2 == 1 && ipw_addr_equal(&l.target, &l2.target));
		check(memcmp(&l.target, &l2.target, sizeof(l.target)) == 0);
		check(!l2.comment);
		if (l.comment) {
			check(l.comment_len > 0);
			check(l.comment >= s &&
			      l.comment + l.comment_len <= s + size);
			check(!is_blank(l.comment[0]) &&
			      !is_blank(l.comment[l.comment_len - 1]));
		} else {
			check(l.comment_len == 0);
		}
	}

	/* The tolerances, on a copy with room for a BOM and a CR. */
	copy = malloc(size + 4);
	check(copy != NULL);
	if (size == 0 || s[size - 1] != '\r') {
		memcpy(copy, s, size);
		copy[size] = '\r';
		rc2 = ipw_listfile_parse_line(copy, size + 1, &l2, &pos2);
		check_same(rc, &l, pos, rc2, &l2, pos2, 0);
	}
	if (size < 3 || memcmp(s, "\xef\xbb\xbf", 3) != 0) {
		memcpy(copy, "\xef\xbb\xbf", 3);
		memcpy(copy + 3, s, size);
		rc2 = ipw_listfile_parse_line(copy, size + 3, &l2, &pos2);
		check_same(rc, &l, pos, rc2, &l2, pos2, 3);
	}
	free(copy);
	return 0;
}
