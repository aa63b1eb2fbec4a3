/* SPDX-License-Identifier: MIT */
/*
 * Durations (ban TTLs) as text: "600", "30s", "10m", "1h30m", "1w".
 *
 * Grammar: "0", plain digits (seconds), or one or more <digits><unit>
 * groups with units w (604800 s), d (86400 s), h (3600 s), m (60 s), s,
 * written in that order, each at most once. Leading zeros are allowed
 * ("05m"). No whitespace, sign, fraction, uppercase unit or empty input.
 * A bare number after a group ("1h30") is an error, not seconds: a reader
 * could take it for minutes.
 *
 * The value is a count of seconds and says nothing about which clock it is
 * measured on. Parsed values are at most IPW_DURATION_MAX (2^32-1 seconds,
 * about 136 years), so they fit the wire and storage formats.
 *
 * All functions are pure and thread-safe.
 */
#ifndef IPWALL_DURATION_H
#define IPWALL_DURATION_H

#include <stddef.h>
#include <stdint.h>

#include <ipwall/errcode.h>

/* The largest duration ipw_duration_parse() accepts, in seconds. */
#define IPW_DURATION_MAX UINT64_C(4294967295)

/* Longest text ipw_duration_format() writes for any uint64_t, with the NUL:
 * "30500568904942w6d23h59m59s" is 26 characters. */
#define IPW_DURATION_STRLEN 32

/*
 * ipw_duration_parse() - parse a duration.
 * @s:      text, not necessarily NUL-terminated; may be NULL when @len is 0
 * @len:    bytes of @s to parse; all of them must belong to the duration
 * @secs:   the result in seconds; written only on success
 * @errpos: if not NULL, set on failure to the byte offset in @s of the
 *          problem: the bad character, the unit that lacks a number or
 *          comes out of order, @len for a missing unit at the end, or the
 *          first digit of the group that takes the total past the maximum
 *
 * Returns 0, or
 *   IPW_EDURATION_EMPTY   @len is 0;
 *   IPW_EDURATION_SYNTAX  the text does not follow the grammar above;
 *   IPW_ERANGE            well-formed, but above IPW_DURATION_MAX.
 * A syntax error anywhere in the text is reported before a range error.
 */
int ipw_duration_parse(const char *s, size_t len, uint64_t *secs,
		       size_t *errpos);

/*
 * ipw_duration_format() - canonical text of @secs: "0" for zero, otherwise
 * the w/d/h/m/s groups of the greedy decomposition with zero groups left
 * out (90 -> "1m30s", 3600 -> "1h", 694861 -> "1w1d1h1m1s").
 * ipw_duration_parse() reads it back to @secs for every
 * @secs <= IPW_DURATION_MAX.
 * @buf: output, NUL-terminated on success; IPW_DURATION_STRLEN always
 *       suffices
 *
 * Returns the length written (without the NUL), or IPW_EBUFSIZE if @size
 * is too small (then @buf holds an empty string if @size > 0).
 */
int ipw_duration_format(uint64_t secs, char *buf, size_t size);

#endif /* IPWALL_DURATION_H */
