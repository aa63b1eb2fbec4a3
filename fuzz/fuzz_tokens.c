// SPDX-License-Identifier: MIT
/*
 * libFuzzer harness for the tokens file parser, ipwd_auth_new()
 * (src/daemon/api/auth.h): the input is the file, held in a memfd and read
 * as /proc/self/fd/N (never created: create is false). The harness reads
 * the same bytes with its own plain parser of the documented format: lines
 * end at '\n'; trailing spaces, tabs, CRs and leading spaces and tabs are
 * trimmed; blank lines and '#' comments are skipped; every other line must
 * be "name:secret:scope" (scope check, report, ban or admin) or
 * "name:secret" (admin), a name 1 to 32 of [A-Za-z0-9_.-], a secret 16 to
 * 128 bytes of 0x21..0x7e but ':'. A line holding a NUL byte is left out
 * of every exact claim below (the parser reads lines as C strings). Beyond
 * "does not crash" and "does not leak":
 *   - a set that loads has at least one token, at most one per line, and
 *     (with no NUL in the file) exactly one per content line;
 *   - a set loads only if every content line (but those with a NUL) is
 *     well-formed and no name repeats; and a file whose every content
 *     line is well-formed, with distinct names, no NUL and at least one
 *     content line, loads;
 *   - once loaded, every well-formed line whose secret occurs only once in
 *     the whole file verifies: ipwd_auth_verify() returns its name and
 *     scope. (Two names may share a secret, and then verify returns one of
 *     them: a secret that occurs elsewhere in the file is not checked.) The
 *     secret one byte longer never verifies, nor one byte shorter when
 *     that shorter string occurs only once in the file.
 *
 * The parser reports each problem on stderr: see LLVMFuzzerInitialize().
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "api/auth.h"
#include "fuzz_file.h"
#include "base/log.h"

#define NAME_MAX_BYTES	 32
#define SECRET_MIN_BYTES 16

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int memfd = -1;
static char path[64];

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	fuzz_quiet_stderr(argc, argv);
	/* The unscoped-token warning is a log line: not worth formatting. */
	ipwd_log_set_level(IPWD_LOG_ERROR);
	memfd = fuzz_memfd("tokens", path, sizeof(path));
	/* mode 0600, as a tokens file should be: no warning per input */
	fuzz_check(fchmod(memfd, 0600) == 0);
	return 0;
}

/* A well-formed line, as this harness reads it. */
struct line {
	const uint8_t *name, *secret;
	size_t nlen, slen;
	enum ipwd_scope scope;
};

static bool name_char(uint8_t c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	       (c >= '0' && c <= '9') || c == '_' || c == '.' || c == '-';
}

/* Parse the trimmed content line @s[0..n) into @l: true if well-formed. */
static bool parse_line(const uint8_t *s, size_t n, struct line *l)
{
	static const char *const scopes[] = {"check", "report", "ban", "admin"};
	const uint8_t *c1 = memchr(s, ':', n), *c2 = NULL, *end = s + n;
	size_t i;

	if (c1 == NULL)
		return false;
	c2 = memchr(c1 + 1, ':', (size_t)(end - c1 - 1));
	if (c2 && memchr(c2 + 1, ':', (size_t)(end - c2 - 1)))
		return false;
	l->name = s;
	l->nlen = (size_t)(c1 - s);
	l->secret = c1 + 1;
	l->slen = (size_t)((c2 ? c2 : end) - l->secret);
	if (l->nlen < 1 || l->nlen > NAME_MAX_BYTES)
		return false;
	for (i = 0; i < l->nlen; i++)
		if (!name_char(l->name[i]))
			return false;
	if (l->slen < SECRET_MIN_BYTES || l->slen > IPWD_TOKEN_SECRET_MAX)
		return false;
	for (i = 0; i < l->slen; i++)
		if (l->secret[i] < 0x21 || l->secret[i] > 0x7e)
			return false;
	if (c2 == NULL) {
		l->scope = IPWD_SCOPE_ADMIN;
		return true;
	}
	for (i = 0; i < 4; i++)
		if (strlen(scopes[i]) == (size_t)(end - c2 - 1) &&
		    memcmp(scopes[i], c2 + 1, strlen(scopes[i])) == 0) {
			l->scope = (enum ipwd_scope)(IPWD_SCOPE_CHECK + i);
			return true;
		}
	return false;
}

/* How many times @needle[0..n) occurs in @hay[0..size), counting up to 2. */
static unsigned occurrences(const uint8_t *hay, size_t size,
			    const uint8_t *needle, size_t n)
{
	const uint8_t *p = hay, *end = hay + size, *hit;
	unsigned count = 0;

	while (count < 2 && (size_t)(end - p) >= n &&
	       (hit = memmem(p, (size_t)(end - p), needle, n)) != NULL) {
		count++;
		p = hit + 1;
	}
	return count;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct line *lines = calloc(size / 2 + 1, sizeof(*lines));
	size_t nlines = 0, ngood = 0, content = 0, bad = 0, nul_lines = 0;
	size_t s, e, next, i, j;
	bool has_nul = memchr(data, '\0', size) != NULL;
	char name[IPWD_TOKEN_NAME_MAX], longer[IPWD_TOKEN_SECRET_MAX + 1];
	struct ipwd_auth *a = NULL;
	enum ipwd_scope scope;
	bool created = true;
	int rc;

	fuzz_check(lines != NULL);
	fuzz_memfd_set(memfd, data, size);
	rc = ipwd_auth_new(&a, path, false, &created);
	fuzz_check(rc == 0 || rc == -1);
	fuzz_check(!created);

	for (s = 0; s < size; s = next) {
		const uint8_t *nl = memchr(data + s, '\n', size - s);

		e = nl ? (size_t)(nl - data) : size;
		next = e + 1;
		nlines++;
		while (e > s && (data[e - 1] == '\r' || data[e - 1] == ' ' ||
				 data[e - 1] == '\t'))
			e--;
		while (s < e && (data[s] == ' ' || data[s] == '\t'))
			s++;
		if (memchr(data + s, '\0', e - s) != NULL) {
			nul_lines++;
			continue;
		}
		if (s == e || data[s] == '#')
			continue;
		content++;
		if (!parse_line(data + s, e - s, &lines[ngood])) {
			bad++;
			continue;
		}
		for (j = 0; j < ngood; j++)
			if (lines[j].nlen == lines[ngood].nlen &&
			    memcmp(lines[j].name, lines[ngood].name,
				   lines[j].nlen) == 0)
				bad++;
		ngood++;
	}

	if (bad == 0 && nul_lines == 0 && content > 0)
		fuzz_check(rc == 0);
	if (rc == 0)
		fuzz_check(bad == 0);
	if (rc != 0) {
		free(lines);
		return 0;
	}
	fuzz_check(ipwd_auth_count(a) >= 1);
	fuzz_check(ipwd_auth_count(a) <= nlines);
	if (!has_nul)
		fuzz_check(ipwd_auth_count(a) == content);
	for (i = 0; i < ngood; i++) {
		const struct line *l = &lines[i];

		if (occurrences(data, size, l->secret, l->slen) != 1)
			continue;
		memset(name, 0x55, sizeof(name));
		scope = IPWD_SCOPE_NONE;
		fuzz_check(ipwd_auth_verify(a, (const char *)l->secret, l->slen,
					    name, &scope));
		fuzz_check(memchr(name, '\0', sizeof(name)) != NULL);
		fuzz_check(strlen(name) == l->nlen &&
			   memcmp(name, l->name, l->nlen) == 0);
		fuzz_check(scope == l->scope);

		memcpy(longer, l->secret, l->slen);
		longer[l->slen] = (char)l->secret[0];
		fuzz_check(!ipwd_auth_verify(a, longer, l->slen + 1, name,
					     &scope));
		if (l->slen > 1 &&
		    occurrences(data, size, l->secret, l->slen - 1) == 1)
			fuzz_check(!ipwd_auth_verify(a, (const char *)l->secret,
						     l->slen - 1, name,
						     &scope));
	}
	ipwd_auth_free(a);
	free(lines);
	return 0;
}
