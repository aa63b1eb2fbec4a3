// SPDX-License-Identifier: MIT
/*
 * libFuzzer harness for the query parameter parsers of GET /v1/history
 * (src/daemon/history.h): ipwd_history_parse_time(), _parse_opid() and
 * _parse_action(). Beyond "does not crash", it checks their contracts on
 * every input: a time is in 0..253402300799 and, for plain digits, is
 * their value; a duration is @now less the duration, floored at 0; an op
 * id parses only from 36 characters and prints back (lower case) to the
 * input; an action parses only to its own name.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <ipwall/duration.h>

#include "oplog/history.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check(int cond)
{
	if (!cond)
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *s = (const char *)data;
	const int64_t now = 1800000000;
	uint8_t id[16];
	char text[40];
	enum ipwd_action a;
	int64_t t = -1;
	size_t i;

	if (ipwd_history_parse_time(s, size, now, &t) == 0) {
		uint64_t secs, v = 0;
		size_t digits = 0;

		check(t >= 0 && t <= INT64_C(253402300799));
		while (digits < size && s[digits] >= '0' && s[digits] <= '9')
			v = v * 10 + (uint64_t)(s[digits++] - '0');
		if (digits == size) {
			check(t == (int64_t)v);
		} else {
			check(ipw_duration_parse(s, size, &secs, NULL) == 0);
			check(t == (secs >= (uint64_t)now ?
					    0 :
					    now - (int64_t)secs));
		}
	}
	if (ipwd_opid_parse(s, size, id) == 0) {
		check(size == 36);
		snprintf(text, sizeof(text),
			 "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-"
			 "%02x%02x%02x%02x%02x%02x",
			 id[0], id[1], id[2], id[3], id[4], id[5], id[6], id[7],
			 id[8], id[9], id[10], id[11], id[12], id[13], id[14],
			 id[15]);
		for (i = 0; i < 36; i++)
			check(text[i] == s[i] || (s[i] >= 'A' && s[i] <= 'F' &&
						  text[i] == s[i] - 'A' + 'a'));
	}
	if (ipwd_history_parse_action(s, size, &a) == 0) {
		const char *name = ipwd_action_name(a);

		check(strlen(name) == size && memcmp(name, s, size) == 0);
		check(a != IPWD_ACT_MODE && (unsigned)a < IPWD_ACT_COUNT);
	}
	return 0;
}
