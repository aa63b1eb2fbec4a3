// SPDX-License-Identifier: MIT
/* bench_json: json-c (one reused tokener, STRICT + VALIDATE_UTF8). */
#include <stdio.h>
#include <string.h>

#include <json.h>

#include "libs.h"

/*
 * jansson exports json_object_get and json_object_iter_next too, and an
 * executable can reference only one version of a name: lib_jansson.c binds
 * both to jansson's, so this file must not use them (members are walked
 * with json_object_object_foreachC, which does not).
 */

/* One tokener, reused: ipwalld would keep one per worker thread. */
static struct json_tokener *jc_tok;

static void jc_reset(void)
{
	if (!jc_tok) {
		jc_tok = json_tokener_new();
		json_tokener_set_flags(jc_tok,
				       JSON_TOKENER_STRICT |
					       JSON_TOKENER_VALIDATE_UTF8);
	}
	json_tokener_reset(jc_tok);
}

static struct json_object *jc_parse(const char *buf, size_t len)
{
	struct json_object *o;

	jc_reset();
	o = json_tokener_parse_ex(jc_tok, buf, (int)len);
	if (o && !json_ws_to_end(buf + json_tokener_get_parse_end(jc_tok),
				 buf + len)) {
		json_object_put(o);
		return NULL;
	}
	return o;
}

static int jc_check(struct json_object *o)
{
	struct json_object_iter it;
	unsigned seen = 0;

	if (!json_object_is_type(o, json_type_object))
		return -1;
	json_object_object_foreachC(o, it)
	{
		int f = json_field_seen(it.key, &seen);

		if (f < 0)
			return -1;
		if (!json_object_is_type(it.val, json_field_type(f) == F_STR ?
							 json_type_string :
							 json_type_int))
			return -1;
	}
	return (seen & REQUIRED) == REQUIRED ? 0 : -1;
}

static int jc_body(const char *buf, size_t len)
{
	struct json_object *root = jc_parse(buf, len);
	int rc;

	if (!root)
		return -1;
	rc = jc_check(root);
	json_object_put(root);
	return rc;
}

static void *jc_hold(const char *buf, size_t len)
{
	return jc_parse(buf, len);
}

static void jc_release(void *doc)
{
	json_object_put(doc);
}

static int jc_batch(const char *buf, size_t len)
{
	struct json_object *root = jc_parse(buf, len);
	struct json_object *bans;
	int n = -1;

	if (!root)
		return -1;
	if (json_object_object_length(root) == 1 &&
	    json_object_object_get_ex(root, "bans", &bans) &&
	    json_object_is_type(bans, json_type_array)) {
		size_t cnt = json_object_array_length(bans);

		n = 0;
		for (size_t i = 0; i < cnt; i++) {
			if (jc_check(json_object_array_get_idx(bans, i)) < 0) {
				n = -1;
				break;
			}
			n++;
		}
	}
	json_object_put(root);
	return n;
}

static int jc_build(char *buf, size_t cap)
{
	struct json_object *root = json_object_new_object();
	struct json_object *e = json_object_new_object();
	const char *s;
	size_t n;
	int rc = -1;

	json_object_object_add(root, "ip",
			       json_object_new_string("203.0.113.7"));
	json_object_object_add(root, "verdict",
			       json_object_new_string("blocked"));
	json_object_object_add(e, "target",
			       json_object_new_string("203.0.113.0/24"));
	json_object_object_add(e, "list", json_object_new_string("bans"));
	json_object_object_add(e, "expires", json_object_new_int64(1764000000));
	json_object_object_add(root, "entry", e);
	s = json_object_to_json_string_length(
		root, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE,
		&n);
	if (s && n < cap) {
		memcpy(buf, s, n + 1);
		rc = (int)n;
	}
	json_object_put(root);
	return rc;
}

static int jc_describe(const char *buf, size_t len, char *out, size_t cap)
{
	struct json_object *root, *v = NULL;
	enum json_tokener_error e;

	jc_reset();
	root = json_tokener_parse_ex(jc_tok, buf, (int)len);
	e = json_tokener_get_error(jc_tok);
	if (!root) {
		snprintf(out, cap, "offset %zu: %s",
			 json_tokener_get_parse_end(jc_tok),
			 e == json_tokener_continue ?
				 "(continue: needs more input)" :
				 json_tokener_error_desc(e));
		return 0;
	}
	if (!json_ws_to_end(buf + json_tokener_get_parse_end(jc_tok),
			    buf + len)) {
		snprintf(out, cap, "offset %zu: trailing data (app check)",
			 json_tokener_get_parse_end(jc_tok));
		json_object_put(root);
		return 0;
	}
	if (!json_object_is_type(root, json_type_object) ||
	    !json_object_object_get_ex(root, "v", &v))
		snprintf(out, cap, "root type %d",
			 (int)json_object_get_type(root));
	else if (json_object_is_type(v, json_type_int))
		snprintf(out, cap, "int %lld (as uint64 %llu)",
			 (long long)json_object_get_int64(v),
			 (unsigned long long)json_object_get_uint64(v));
	else if (json_object_is_type(v, json_type_double))
		snprintf(out, cap, "double %.17g", json_object_get_double(v));
	else if (json_object_is_type(v, json_type_string))
		snprintf(out, cap, "string len %d",
			 json_object_get_string_len(v));
	else
		snprintf(out, cap, "type %d", (int)json_object_get_type(v));
	json_object_put(root);
	return 1;
}

const struct lib json_lib_jsonc = {
	"json-c", jc_body, jc_batch, jc_hold, jc_release, jc_build, jc_describe,
};
