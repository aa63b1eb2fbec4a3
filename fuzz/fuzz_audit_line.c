// SPDX-License-Identifier: MIT
/*
 * libFuzzer harness for the audit log's line writer (src/daemon/audit.c:
 * ipwd_audit_line(), yajl's generator). Its input is the text an op
 * carries that nobody checked for JSON: reason, actor and source of the
 * entries, the op's actor and node (split at NUL bytes), and a few bytes
 * for the numbers. Beyond "does not crash", on every input: the line is
 * one line (no newline) that jansson, a different JSON library, parses
 * strictly (JSON_REJECT_DUPLICATES) into an object with the documented
 * keys in order; each text field decodes to exactly its input when the
 * input is valid UTF-8 (jansson's json_string() is the oracle), to null
 * when it is empty, and otherwise to a string of the same length in
 * characters with U+FFFD for each bad byte.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "oplog/audit.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check(int cond)
{
	if (!cond)
		abort();
}

/* The next NUL-terminated field of @data into @dst (cut to @cap - 1). */
static const uint8_t *field(const uint8_t *p, const uint8_t *end, char *dst,
			    size_t cap)
{
	size_t n = 0;

	while (p < end && *p != 0) {
		if (n < cap - 1)
			dst[n++] = (char)*p;
		p++;
	}
	dst[n] = '\0';
	return p < end ? p + 1 : p;
}

/* The decoded value of @key in @o against the text it was made from. */
static void check_text(json_t *o, const char *key, const char *in)
{
	json_t *v = json_object_get(o, key), *ref;

	check(v != NULL);
	if (*in == '\0') {
		check(json_is_null(v));
		return;
	}
	check(json_is_string(v));
	ref = json_string(in); /* NULL: not valid UTF-8 */
	if (ref) {
		check(strcmp(json_string_value(v), in) == 0);
		json_decref(ref);
	} else {
		check(strstr(json_string_value(v), "\xef\xbf\xbd") != NULL);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char *const keys[] = {
		"ts",	  "op",	    "seq",     "node",	 "actor",
		"action", "result", "list",    "target", "reason",
		"score",  "ttl",    "expires", "before", "after"};
	const uint8_t *p, *end = data + size;
	struct ipw_entry_info before, after;
	char actor[300], node[300];
	struct ipwd_oprec r;
	json_error_t jerr;
	const char *k;
	json_t *o, *v;
	char *line;
	size_t i;
	uint8_t num[8] = {0};

	memset(&before, 0, sizeof(before));
	memset(&after, 0, sizeof(after));
	memcpy(num, data, size < sizeof(num) ? size : sizeof(num));
	p = data + (size < sizeof(num) ? size : sizeof(num));
	p = field(p, end, after.reason, sizeof(after.reason));
	p = field(p, end, after.actor, sizeof(after.actor));
	p = field(p, end, after.source, sizeof(after.source));
	p = field(p, end, before.reason, sizeof(before.reason));
	p = field(p, end, actor, sizeof(actor));
	field(p, end, node, sizeof(node));
	ipw_addr_from_v4(&after.target, 0xcb007107u, num[0] % 33);
	before.target = after.target;
	after.list = before.list = num[1] & 1 ? IPW_LIST_ALLOW : IPW_LIST_BAN;
	after.expires = num[2] ? 1790000000 + num[2] * 1000 : 0;
	after.score = num[3];
	after.created = 1780000000;
	after.flags = num[4] & 1 ? IPW_ENTRY_AUTO : 0;

	memset(&r, 0, sizeof(r));
	r.id = "0190a000-0000-7000-8000-000000000001";
	r.time = 1790000000;
	r.actor = actor;
	r.node = node;
	r.action = IPWD_ACT_BAN;
	r.list = after.list;
	r.target = after.target;
	r.change = IPW_CHANGE_EXTENDED;
	r.before = num[5] & 1 ? &before : NULL;
	r.after = &after;

	line = ipwd_audit_line(&r);
	check(line != NULL);
	check(strchr(line, '\n') == NULL);
	o = json_loads(line, JSON_REJECT_DUPLICATES, &jerr);
	check(o != NULL && json_is_object(o));
	/* the documented keys, in order */
	i = 0;
	json_object_foreach(o, k, v)
	{
		check(i < sizeof(keys) / sizeof(keys[0]));
		check(strcmp(k, keys[i]) == 0);
		i++;
	}
	check(i == sizeof(keys) / sizeof(keys[0]));
	check_text(o, "actor", actor);
	check_text(o, "node", node);
	check_text(o, "reason", after.reason);
	check_text(json_object_get(o, "after"), "actor", after.actor);
	check_text(json_object_get(o, "after"), "source", after.source);
	if (r.before)
		check_text(json_object_get(o, "before"), "reason",
			   before.reason);
	else
		check(json_is_null(json_object_get(o, "before")));
	json_decref(o);
	free(line);
	return 0;
}
