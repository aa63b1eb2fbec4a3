// SPDX-License-Identifier: MIT
/* bench_json: cJSON (cJSON_ParseWithLengthOpts, cJSON_PrintPreallocated). */
#include <stdio.h>
#include <string.h>

#include <cJSON.h>

#include "libs.h"

static cJSON *cj_parse(const char *buf, size_t len, const char **end)
{
	cJSON *o = cJSON_ParseWithLengthOpts(buf, len, end, 0);

	if (o && !json_ws_to_end(*end, buf + len)) {
		cJSON_Delete(o);
		return NULL;
	}
	return o;
}

/* cJSON has one number type (a double): an integer is a whole double. */
static int cj_is_int(const cJSON *v)
{
	double d = v->valuedouble;

	return cJSON_IsNumber(v) && d >= -9007199254740992.0 &&
	       d <= 9007199254740992.0 && d == (double)(long long)d;
}

static int cj_check(const cJSON *o)
{
	unsigned seen = 0;

	if (!cJSON_IsObject(o))
		return -1;
	for (const cJSON *v = o->child; v; v = v->next) {
		int f = json_field_seen(v->string, &seen);

		if (f < 0)
			return -1;
		if (json_field_type(f) == F_STR ? !cJSON_IsString(v) :
						  !cj_is_int(v))
			return -1;
	}
	return (seen & REQUIRED) == REQUIRED ? 0 : -1;
}

static int cj_body(const char *buf, size_t len)
{
	const char *end;
	cJSON *root = cj_parse(buf, len, &end);
	int rc;

	if (!root)
		return -1;
	rc = cj_check(root);
	cJSON_Delete(root);
	return rc;
}

static void *cj_hold(const char *buf, size_t len)
{
	const char *end;

	return cj_parse(buf, len, &end);
}

static void cj_release(void *doc)
{
	cJSON_Delete(doc);
}

static int cj_batch(const char *buf, size_t len)
{
	const char *end;
	cJSON *root = cj_parse(buf, len, &end);
	const cJSON *bans;
	int n = -1;

	if (!root)
		return -1;
	bans = cJSON_GetObjectItemCaseSensitive(root, "bans");
	if (cJSON_GetArraySize(root) == 1 && cJSON_IsArray(bans)) {
		const cJSON *o;

		n = 0;
		cJSON_ArrayForEach(o, bans)
		{
			if (cj_check(o) < 0) {
				n = -1;
				break;
			}
			n++;
		}
	}
	cJSON_Delete(root);
	return n;
}

static int cj_build(char *buf, size_t cap)
{
	cJSON *root = cJSON_CreateObject();
	cJSON *e;
	int rc = -1;

	cJSON_AddStringToObject(root, "ip", "203.0.113.7");
	cJSON_AddStringToObject(root, "verdict", "blocked");
	e = cJSON_AddObjectToObject(root, "entry");
	cJSON_AddStringToObject(e, "target", "203.0.113.0/24");
	cJSON_AddStringToObject(e, "list", "bans");
	cJSON_AddNumberToObject(e, "expires", 1764000000);
	if (cJSON_PrintPreallocated(root, buf, (int)cap, 0))
		rc = (int)strlen(buf);
	cJSON_Delete(root);
	return rc;
}

static int cj_describe(const char *buf, size_t len, char *out, size_t cap)
{
	const char *end = NULL;
	cJSON *root = cJSON_ParseWithLengthOpts(buf, len, &end, 0);
	const cJSON *v;

	if (!root) {
		snprintf(out, cap, "offset %td: (no message)",
			 end ? end - buf : (ptrdiff_t)-1);
		return 0;
	}
	if (!json_ws_to_end(end, buf + len)) {
		snprintf(out, cap, "offset %td: trailing data (app check)",
			 end - buf);
		cJSON_Delete(root);
		return 0;
	}
	v = cJSON_IsObject(root) ? cJSON_GetObjectItemCaseSensitive(root, "v") :
				   NULL;
	if (!v)
		snprintf(out, cap, "root type %d", root->type);
	else if (cJSON_IsNumber(v))
		snprintf(out, cap, "number %.17g (valueint %d)", v->valuedouble,
			 v->valueint);
	else if (cJSON_IsString(v))
		snprintf(out, cap, "string strlen %zu", strlen(v->valuestring));
	else
		snprintf(out, cap, "type %d", v->type);
	cJSON_Delete(root);
	return 1;
}

const struct lib json_lib_cjson = {
	"cJSON", cj_body, cj_batch, cj_hold, cj_release, cj_build, cj_describe,
};
