// SPDX-License-Identifier: MIT
/*
 * Duration parsing and formatting.
 *
 * Design. One left-to-right pass, no allocation, no locale, no strtoul()
 * (it skips whitespace, takes a sign and a base prefix, and would make
 * "-1h" a huge TTL). Each group is a run of digits and one unit letter;
 * the unit's rank must be below the previous group's, which enforces both
 * the order w, d, h, m, s and "each unit at most once" with one comparison.
 * A whole input of digits alone is seconds.
 *
 * Overflow. Numbers and the running total saturate at IPW_DURATION_MAX + 1,
 * so no step can wrap: a number is at most 2^32, a product at most
 * 2^32 * 604800 < 2^52. The first group that takes the total past the
 * maximum is remembered, and reported only if the whole text is well
 * formed: a typo is the more useful thing to tell the user.
 *
 * Format is the greedy decomposition into weeks, days, hours, minutes and
 * seconds with zero groups omitted, which the parser reads back exactly.
 *
 * Cost: O(len) for parse, O(1) for format. Pure functions, thread-safe.
 */
#include <stdbool.h>
#include <string.h>

#include <ipwall/duration.h>

struct unit {
	char letter;
	uint64_t secs;
};

/* Largest first: the index is the order a text must follow. */
static const struct unit units[] = {
	{'w', 604800}, {'d', 86400}, {'h', 3600}, {'m', 60}, {'s', 1},
};

#define NUNITS (sizeof(units) / sizeof(units[0]))

/* Saturation value: anything above the maximum is as good as any other. */
#define OVER (IPW_DURATION_MAX + 1)

static int fail(size_t *errpos, size_t pos, int err)
{
	if (errpos)
		*errpos = pos;
	return err;
}

/* Index of unit letter @c in units[], or NUNITS if it is none. */
static size_t unit_index(char c)
{
	size_t k;

	for (k = 0; k < NUNITS; k++)
		if (units[k].letter == c)
			break;
	return k;
}

int ipw_duration_parse(const char *s, size_t len, uint64_t *secs,
		       size_t *errpos)
{
	uint64_t total = 0;
	size_t i = 0, next = 0; /* next: first unit index still allowed */
	size_t range_pos = 0;
	bool over = false;

	if (len == 0)
		return fail(errpos, 0, IPW_EDURATION_EMPTY);
	while (i < len) {
		size_t start = i, k;
		uint64_t val = 0, mul;

		while (i < len && s[i] >= '0' && s[i] <= '9') {
			val = val * 10 + (uint64_t)(s[i] - '0');
			if (val > OVER)
				val = OVER;
			i++;
		}
		if (i == start) /* a bad character, or a unit without number */
			return fail(errpos, i, IPW_EDURATION_SYNTAX);
		if (i == len) {
			/* Bare digits: seconds if they are all there is. */
			if (start != 0)
				return fail(errpos, len, IPW_EDURATION_SYNTAX);
			mul = 1;
		} else {
			k = unit_index(s[i]);
			if (k == NUNITS || k < next)
				return fail(errpos, i, IPW_EDURATION_SYNTAX);
			next = k + 1;
			mul = units[k].secs;
			i++;
		}
		total += val * mul;
		if (total > IPW_DURATION_MAX) {
			if (!over)
				range_pos = start;
			over = true;
			total = OVER;
		}
	}
	if (over)
		return fail(errpos, range_pos, IPW_ERANGE);
	*secs = total;
	return 0;
}

/* Decimal digits of @v at @p; returns the end. */
static char *put_u64(char *p, uint64_t v)
{
	char tmp[20];
	int n = 0;

	do {
		tmp[n++] = (char)('0' + v % 10);
		v /= 10;
	} while (v);
	while (n)
		*p++ = tmp[--n];
	return p;
}

int ipw_duration_format(uint64_t secs, char *buf, size_t size)
{
	char tmp[IPW_DURATION_STRLEN], *p = tmp;
	size_t n;

	if (secs == 0) {
		*p++ = '0';
	} else {
		for (size_t k = 0; k < NUNITS; k++) {
			uint64_t q = secs / units[k].secs;

			if (!q)
				continue;
			p = put_u64(p, q);
			*p++ = units[k].letter;
			secs -= q * units[k].secs;
		}
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
