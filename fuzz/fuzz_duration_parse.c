// SPDX-License-Identifier: MIT
/*
 * libFuzzer harness for ipw_duration_parse() and ipw_duration_format().
 * Beyond "does not crash", it checks the contract on every input: a
 * failure is one of the three documented codes, at an offset inside the
 * input (or just past it), and leaves the result alone; a success is at
 * most IPW_DURATION_MAX and formats to a text that parses back to the same
 * value and is a fixed point of format(parse()). The input's first eight
 * bytes, read as a number, also go through format for any uint64_t.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <ipwall/duration.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check(int cond)
{
	if (!cond)
		abort();
}

/* True if @pos in @s starts a group: a digit, first or after a unit. */
static int group_start(const char *s, size_t pos)
{
	return s[pos] >= '0' && s[pos] <= '9' &&
	       (pos == 0 || (s[pos - 1] < '0' || s[pos - 1] > '9'));
}

/* format(x) is well formed, and parses back to x or, above the maximum,
 * to IPW_ERANGE at the start of a group. */
static void check_format(uint64_t x)
{
	char buf[IPW_DURATION_STRLEN], again[IPW_DURATION_STRLEN];
	uint64_t back = ~x;
	size_t pos = (size_t)-1;
	int n, rc;

	n = ipw_duration_format(x, buf, sizeof(buf));
	check(n > 0 && (size_t)n < sizeof(buf) && strlen(buf) == (size_t)n);
	check(ipw_duration_format(x, again, (size_t)n) == IPW_EBUFSIZE);
	check(again[0] == '\0');
	rc = ipw_duration_parse(buf, (size_t)n, &back, &pos);
	if (x > IPW_DURATION_MAX) {
		check(rc == IPW_ERANGE && pos < (size_t)n &&
		      group_start(buf, pos));
		return;
	}
	check(rc == 0 && back == x);
	check(ipw_duration_format(back, again, sizeof(again)) == n);
	check(memcmp(buf, again, (size_t)n + 1) == 0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *s = (const char *)data;
	uint64_t secs = 0xa5a5a5a5a5a5a5a5ull, x = 0;
	size_t pos = (size_t)-1;
	int rc;

	rc = ipw_duration_parse(s, size, &secs, &pos);
	if (rc) {
		check(rc == IPW_EDURATION_EMPTY || rc == IPW_EDURATION_SYNTAX ||
		      rc == IPW_ERANGE);
		check((rc == IPW_EDURATION_EMPTY) == (size == 0));
		check(strcmp(ipw_errname(rc), "EUNKNOWN") != 0);
		check(pos <= size);
		check(rc != IPW_ERANGE || (pos < size && group_start(s, pos)));
		check(secs == 0xa5a5a5a5a5a5a5a5ull);
	} else {
		check(size > 0 && secs <= IPW_DURATION_MAX);
		check_format(secs);
	}

	memcpy(&x, data, size < sizeof(x) ? size : sizeof(x));
	check_format(x);
	return 0;
}
