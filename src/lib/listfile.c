// SPDX-License-Identifier: MIT
/*
 * Blocklist file lines.
 *
 * Design. The line is cut into at most three parts without copying:
 *
 *   [BOM] blanks [target blanks] [('#' | ';') blanks comment blanks] ['\r']
 *
 * where blanks are spaces and tabs, and the target is the run of bytes up
 * to the first blank, '#' or ';'. The target then goes whole to
 * ipw_addr_parse(), whose error code and offset (shifted to the line) are
 * returned unchanged, so a bad address in a list reads exactly like a bad
 * address on the command line. Any other whitespace (a '\v', a second
 * '\r') is left in the target for the address parser to name.
 *
 * A NUL byte is refused before anything else, wherever it is: a list with
 * one is not text, and a comment holding one would be cut short by any
 * caller that prints it with %s.
 *
 * Cost: O(len), one pass for the NUL check and one over the parts.
 * Pure, thread-safe, no allocation.
 */
#include <stdbool.h>
#include <string.h>

#include <ipwall/listfile.h>

static int fail(size_t *errpos, size_t pos, int err)
{
	if (errpos)
		*errpos = pos;
	return err;
}

static bool is_blank(char c)
{
	return c == ' ' || c == '\t';
}

static bool is_comment(char c)
{
	return c == '#' || c == ';';
}

int ipw_listfile_parse_line(const char *line, size_t len,
			    struct ipw_listline *out, size_t *errpos)
{
	static const char bom[3] = {'\xef', '\xbb', '\xbf'};
	struct ipw_listline l = {.comment = NULL};
	const char *nul;
	size_t i = 0, end = len, tok, toklen;
	int rc;

	if (len == 0)
		return 0;
	nul = memchr(line, '\0', len);
	if (nul)
		return fail(errpos, (size_t)(nul - line), IPW_ELIST_NUL);
	if (line[end - 1] == '\r')
		end--;
	while (end > 0 && is_blank(line[end - 1]))
		end--;
	if (end >= sizeof(bom) && memcmp(line, bom, sizeof(bom)) == 0)
		i = sizeof(bom);
	while (i < end && is_blank(line[i]))
		i++;

	tok = i;
	while (i < end && !is_blank(line[i]) && !is_comment(line[i]))
		i++;
	toklen = i - tok;
	if (toklen) {
		size_t pos;

		rc = ipw_addr_parse(line + tok, toklen, 0, &l.target, &pos);
		if (rc)
			return fail(errpos, tok + pos, rc);
		while (i < end && is_blank(line[i]))
			i++;
	}
	if (i < end) {
		if (!is_comment(line[i]))
			return fail(errpos, i, IPW_ELIST_TRAILING);
		i++;
		while (i < end && is_blank(line[i]))
			i++;
		if (i < end) {
			l.comment = line + i;
			l.comment_len = end - i;
		}
	}
	if (!toklen)
		return 0;
	*out = l;
	return 1;
}
