// SPDX-License-Identifier: MIT
/* bench_json: jansson (json_loadb, JSON_REJECT_DUPLICATES, json_dumpb). */
#include <stdio.h>
#include <string.h>

#include <jansson.h>

#include "libs.h"

/*
 * json-c exports functions of these names too: bind them to jansson's
 * version whatever the link order (see lib_jsonc.c).
 */
__asm__(".symver json_object_get, json_object_get@libjansson.so.4");
__asm__(".symver json_object_iter_next, "
	"json_object_iter_next@libjansson.so.4");

static int jn_check(json_t *o)
{
	const char *key;
	json_t *v;
	unsigned seen = 0;

	if (!json_is_object(o))
		return -1;
	json_object_foreach(o, key, v)
	{
		int f = json_field_seen(key, &seen);

		if (f < 0)
			return -1;
		if (json_field_type(f) == F_STR ? !json_is_string(v) :
						  !json_is_integer(v))
			return -1;
	}
	return (seen & REQUIRED) == REQUIRED ? 0 : -1;
}

static int jn_body(const char *buf, size_t len)
{
	json_error_t err;
	json_t *root = json_loadb(buf, len, JSON_REJECT_DUPLICATES, &err);
	int rc;

	if (!root)
		return -1;
	rc = jn_check(root);
	json_decref(root);
	return rc;
}

static void *jn_hold(const char *buf, size_t len)
{
	json_error_t err;

	return json_loadb(buf, len, JSON_REJECT_DUPLICATES, &err);
}

static void jn_release(void *doc)
{
	json_decref(doc);
}

static int jn_batch(const char *buf, size_t len)
{
	json_t *root = jn_hold(buf, len);
	json_t *bans;
	int n = -1;

	if (!root)
		return -1;
	bans = json_object_get(root, "bans");
	if (json_object_size(root) == 1 && json_is_array(bans)) {
		size_t i;
		json_t *o;

		n = 0;
		json_array_foreach(bans, i, o)
		{
			if (jn_check(o) < 0) {
				n = -1;
				break;
			}
			n++;
		}
	}
	json_decref(root);
	return n;
}

static int jn_build(char *buf, size_t cap)
{
	json_t *root = json_object(), *e = json_object();
	size_t n;

	json_object_set_new(root, "ip", json_string("203.0.113.7"));
	json_object_set_new(root, "verdict", json_string("blocked"));
	json_object_set_new(e, "target", json_string("203.0.113.0/24"));
	json_object_set_new(e, "list", json_string("bans"));
	json_object_set_new(e, "expires", json_integer(1764000000));
	json_object_set_new(root, "entry", e);
	n = json_dumpb(root, buf, cap, JSON_COMPACT);
	json_decref(root);
	return n == 0 || n >= cap ? -1 : (int)n;
}

static int jn_describe(const char *buf, size_t len, char *out, size_t cap)
{
	json_error_t err;
	json_t *root = json_loadb(buf, len, JSON_REJECT_DUPLICATES, &err);
	json_t *v;

	if (!root) {
		snprintf(out, cap, "line %d col %d pos %d: %s", err.line,
			 err.column, err.position, err.text);
		return 0;
	}
	v = json_is_object(root) ? json_object_get(root, "v") : NULL;
	if (!v)
		snprintf(out, cap, "root type %d", (int)json_typeof(root));
	else if (json_is_integer(v))
		snprintf(out, cap, "int %lld",
			 (long long)json_integer_value(v));
	else if (json_is_real(v))
		snprintf(out, cap, "real %.17g", json_real_value(v));
	else if (json_is_string(v))
		snprintf(out, cap, "string len %zu", json_string_length(v));
	else
		snprintf(out, cap, "type %d", (int)json_typeof(v));
	json_decref(root);
	return 1;
}

const struct lib json_lib_jansson = {
	"jansson",  jn_body,  jn_batch,	   jn_hold,
	jn_release, jn_build, jn_describe,
};
