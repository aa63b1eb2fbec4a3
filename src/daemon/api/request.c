/* SPDX-License-Identifier: MIT */
/*
 * Request body decoding (see request.h).
 *
 * Strictness is the point: an unknown member is an error, not ignored (a
 * misspelt "tll" must not silently ban forever); a member of the wrong
 * JSON type is an error, not coerced; a duplicated member is refused by
 * jansson itself (JSON_REJECT_DUPLICATES). Expiries beyond what the table
 * can hold (2106) are refused here, with the member named, rather than
 * later as a bare range error.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <ipwall/duration.h>

#include "api/request.h"

#define SCORE_MAX 1000000

static int fail(struct ipwd_perr *e, enum ipwd_apierr code, const char *field,
		const char *fmt, ...) __attribute__((format(printf, 4, 5)));

static int fail(struct ipwd_perr *e, enum ipwd_apierr code, const char *field,
		const char *fmt, ...)
{
	va_list ap;

	e->code = code;
	e->index = SIZE_MAX; /* a batch sets it when an item is at fault */
	snprintf(e->field, sizeof(e->field), "%s", field ? field : "");
	va_start(ap, fmt);
	vsnprintf(e->msg, sizeof(e->msg), fmt, ap);
	va_end(ap);
	return -1;
}

static const char *type_name(const json_t *v)
{
	switch (json_typeof(v)) {
	case JSON_OBJECT:
		return "an object";
	case JSON_ARRAY:
		return "an array";
	case JSON_STRING:
		return "a string";
	case JSON_INTEGER:
		return "an integer";
	case JSON_REAL:
		return "a number with a fraction";
	case JSON_TRUE:
	case JSON_FALSE:
		return "a boolean";
	default:
		return "null";
	}
}

int ipwd_parse_body(const char *body, size_t len, json_t **out,
		    struct ipwd_perr *e)
{
	json_error_t je;
	json_t *v;

	if (len == 0)
		return fail(e, IPWD_E_INVALID_JSON, NULL,
			    "the request needs a JSON body");
	/* A "\u0000" in a string is valid JSON: it is accepted here and
	 * refused by the member that holds it (every string is read with
	 * its length), so the error names that member. */
	v = json_loadb(
		body, len,
		JSON_REJECT_DUPLICATES | JSON_DECODE_ANY | JSON_ALLOW_NUL, &je);
	if (v == NULL)
		return fail(e, IPWD_E_INVALID_JSON, NULL,
			    "invalid JSON at line %d, column %d: %s", je.line,
			    je.column, je.text);
	if (!json_is_object(v)) {
		fail(e, IPWD_E_NOT_AN_OBJECT, NULL,
		     "the body must be a JSON object, not %s", type_name(v));
		json_decref(v);
		return -1;
	}
	*out = v;
	return 0;
}

int ipwd_parse_ttl(json_t *v, uint64_t *secs, struct ipwd_perr *e)
{
	const char *s;
	size_t pos = 0;
	uint64_t x;
	int rc;

	if (json_is_integer(v)) {
		json_int_t i = json_integer_value(v);

		if (i < 0 || (uint64_t)i > IPW_DURATION_MAX)
			return fail(e, IPWD_E_INVALID_TTL, "ttl",
				    "ttl: %lld is not a number of seconds "
				    "from 0 to %llu",
				    (long long)i,
				    (unsigned long long)IPW_DURATION_MAX);
		*secs = (uint64_t)i;
		return 0;
	}
	if (!json_is_string(v))
		return fail(e,
			    json_is_real(v) ? IPWD_E_INVALID_TTL :
					      IPWD_E_WRONG_TYPE,
			    "ttl",
			    "ttl must be whole seconds or a duration string "
			    "such as \"10m\", not %s",
			    type_name(v));
	s = json_string_value(v);
	if (strlen(s) != json_string_length(v))
		return fail(e, IPWD_E_INVALID_TTL, "ttl",
			    "ttl contains a NUL character (\\u0000)");
	rc = ipw_duration_parse(s, json_string_length(v), &x, &pos);
	if (rc != 0)
		return fail(e, IPWD_E_INVALID_TTL, "ttl",
			    "ttl \"%.64s\": %s at offset %zu (use seconds or "
			    "30s, 10m, 2h, 7d, 1h30m; 0 = permanent)",
			    s, ipw_strerror(rc), pos);
	*secs = x;
	return 0;
}

static int get_string(json_t *v, const char *field, size_t max,
		      const char **out, struct ipwd_perr *e)
{
	if (!json_is_string(v))
		return fail(e, IPWD_E_WRONG_TYPE, field,
			    "%s must be a string, not %s", field, type_name(v));
	if (json_string_length(v) > max)
		return fail(e, IPWD_E_STRING_TOO_LONG, field,
			    "%s is %zu bytes, more than %zu", field,
			    json_string_length(v), max);
	if (strlen(json_string_value(v)) != json_string_length(v))
		return fail(e, IPWD_E_INVALID_STRING, field,
			    "%s contains a NUL character (\\u0000)", field);
	*out = json_string_value(v);
	return 0;
}

static int parse_target(json_t *v, struct ipw_addr *a, struct ipwd_perr *e)
{
	char msg[200];
	size_t pos = 0;
	const char *s;
	int rc;

	if (!json_is_string(v))
		return fail(e, IPWD_E_WRONG_TYPE, "target",
			    "target must be a string, not %s", type_name(v));
	s = json_string_value(v);
	rc = ipw_addr_parse(s, json_string_length(v), 0, a, &pos);
	if (rc != 0) {
		ipw_addr_error_msg(msg, sizeof(msg), s, json_string_length(v),
				   rc, pos);
		return fail(e, IPWD_E_INVALID_TARGET, "target", "target: %s",
			    msg);
	}
	return 0;
}

int ipwd_parse_entry(json_t *obj, enum ipw_list list, int64_t now,
		     uint64_t default_ttl, struct ipw_entry_spec *spec,
		     struct ipwd_perr *e)
{
	bool have_target = false;
	uint64_t ttl = list == IPW_LIST_BAN ? default_ttl : 0;
	const char *key;
	json_t *v;

	if (!json_is_object(obj))
		return fail(e, IPWD_E_NOT_AN_OBJECT, NULL,
			    "an entry must be a JSON object, not %s",
			    type_name(obj));
	memset(spec, 0, sizeof(*spec));
	spec->list = list;
	json_object_foreach(obj, key, v)
	{
		if (strcmp(key, "target") == 0) {
			if (parse_target(v, &spec->target, e))
				return -1;
			have_target = true;
		} else if (strcmp(key, "ttl") == 0) {
			if (ipwd_parse_ttl(v, &ttl, e))
				return -1;
		} else if (strcmp(key, "reason") == 0) {
			if (get_string(v, "reason", IPW_REASON_MAX - 1,
				       &spec->reason, e))
				return -1;
		} else if (strcmp(key, "source") == 0) {
			if (get_string(v, "source", IPW_SOURCE_MAX - 1,
				       &spec->source, e))
				return -1;
		} else if (strcmp(key, "score") == 0 && list == IPW_LIST_BAN) {
			json_int_t s;

			if (!json_is_integer(v))
				return fail(e,
					    json_is_real(v) ?
						    IPWD_E_INVALID_SCORE :
						    IPWD_E_WRONG_TYPE,
					    "score",
					    "score must be an integer, not %s",
					    type_name(v));
			s = json_integer_value(v);
			if (s < 0 || s > SCORE_MAX)
				return fail(e, IPWD_E_INVALID_SCORE, "score",
					    "score %lld is not in 0..%d",
					    (long long)s, SCORE_MAX);
			spec->score = (uint32_t)s;
		} else if (strcmp(key, "auto") == 0 && list == IPW_LIST_BAN) {
			if (!json_is_boolean(v))
				return fail(e, IPWD_E_WRONG_TYPE, "auto",
					    "auto must be true or false, not "
					    "%s",
					    type_name(v));
			if (json_is_true(v))
				spec->flags |= IPW_ENTRY_AUTO;
		} else {
			char f[32];

			snprintf(f, sizeof(f), "%s", key);
			return fail(e, IPWD_E_UNKNOWN_FIELD, f,
				    "unknown member \"%.64s\" (known: target, "
				    "ttl, reason, source%s)",
				    key,
				    list == IPW_LIST_BAN ? ", score, auto" :
							   "");
		}
	}
	if (!have_target)
		return fail(e, IPWD_E_MISSING_FIELD, "target",
			    "target is required");
	if (ttl == 0) {
		spec->expires = 0;
	} else if ((uint64_t)now + ttl > UINT32_MAX) {
		return fail(e, IPWD_E_INVALID_TTL, "ttl",
			    "ttl %llu s ends after 2106-02-07, the latest "
			    "expiry ipwall keeps; use 0 for permanent",
			    (unsigned long long)ttl);
	} else {
		spec->expires = now + (int64_t)ttl;
	}
	return 0;
}

int ipwd_parse_batch(json_t *obj, size_t max, int64_t now, uint64_t default_ttl,
		     struct ipw_entry_spec **specs, size_t *n,
		     struct ipwd_perr *e)
{
	struct ipw_entry_spec *v;
	json_t *items = NULL, *it;
	const char *key;
	size_t i, count;
	json_t *m;

	json_object_foreach(obj, key, m)
	{
		if (strcmp(key, "items") != 0) {
			char f[32];

			snprintf(f, sizeof(f), "%s", key);
			return fail(e, IPWD_E_UNKNOWN_FIELD, f,
				    "unknown member \"%.64s\" (known: items)",
				    key);
		}
		items = m;
	}
	if (items == NULL)
		return fail(e, IPWD_E_MISSING_FIELD, "items",
			    "items is required");
	if (!json_is_array(items))
		return fail(e, IPWD_E_WRONG_TYPE, "items",
			    "items must be an array, not %s", type_name(items));
	count = json_array_size(items);
	if (count > max)
		return fail(e, IPWD_E_BATCH_TOO_LARGE, "items",
			    "%zu items, more than max_batch (%zu)", count, max);
	v = calloc(count ? count : 1, sizeof(*v));
	if (v == NULL)
		return fail(e, IPWD_E_INTERNAL, NULL, "out of memory");
	json_array_foreach(items, i, it)
	{
		if (ipwd_parse_entry(it, IPW_LIST_BAN, now, default_ttl, &v[i],
				     e)) {
			char msg[sizeof(e->msg) + 32];

			e->index = i;
			snprintf(msg, sizeof(msg), "items[%zu]: %s", i, e->msg);
			memcpy(e->msg, msg, sizeof(e->msg) - 1);
			e->msg[sizeof(e->msg) - 1] = '\0';
			free(v);
			return -1;
		}
	}
	*specs = v;
	*n = count;
	return 0;
}

/* Does @s hold only bytes of @cls: 't' the type charset [a-z0-9_.-], 'p'
 * printable (no control byte)? The event socket's rules (wire.h). */
static bool event_chars(const char *s, char cls)
{
	if (s == NULL)
		return false;
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;

		if (cls == 't' ? !((c >= 'a' && c <= 'z') ||
				   (c >= '0' && c <= '9') || c == '_' ||
				   c == '.' || c == '-') :
				 c < 0x20 || c == 0x7f)
			return false;
	}
	return true;
}

/* One event object into @ev. */
static int parse_event(json_t *obj, struct ipwd_event_req *ev,
		       struct ipwd_perr *e)
{
	static const struct {
		const char *name;
		size_t max;
		char cls;
	} str[] = {{"type", IPWD_EVENT_TYPE_MAX, 't'},
		   {"service", IPWD_EVENT_SERVICE_MAX, 't'},
		   {"user", IPWD_EVENT_USER_MAX, 'p'},
		   {"detail", IPWD_EVENT_DETAIL_MAX, 'p'}};
	const char **dst[] = {&ev->type, &ev->service, &ev->user, &ev->detail};
	bool have_ip = false;
	const char *key;
	json_t *v;
	size_t k;

	if (!json_is_object(obj))
		return fail(e, IPWD_E_NOT_AN_OBJECT, NULL,
			    "an event must be a JSON object, not %s",
			    type_name(obj));
	memset(ev, 0, sizeof(*ev));
	json_object_foreach(obj, key, v)
	{
		if (strcmp(key, "ip") == 0) {
			char msg[200];
			size_t pos = 0;
			int rc;

			if (!json_is_string(v))
				return fail(e, IPWD_E_WRONG_TYPE, "ip",
					    "ip must be a string, not %s",
					    type_name(v));
			rc = ipw_addr_parse(json_string_value(v),
					    json_string_length(v),
					    IPW_ADDR_HOST, &ev->addr, &pos);
			if (rc != 0) {
				ipw_addr_error_msg(
					msg, sizeof(msg), json_string_value(v),
					json_string_length(v), rc, pos);
				return fail(e, IPWD_E_INVALID_IP, "ip",
					    "ip: %s", msg);
			}
			have_ip = true;
			continue;
		}
		for (k = 0; k < sizeof(str) / sizeof(str[0]); k++)
			if (strcmp(key, str[k].name) == 0)
				break;
		if (k == sizeof(str) / sizeof(str[0])) {
			char f[32];

			snprintf(f, sizeof(f), "%s", key);
			return fail(e, IPWD_E_UNKNOWN_FIELD, f,
				    "unknown member \"%.64s\" (known: ip, "
				    "type, service, user, detail)",
				    key);
		}
		if (get_string(v, str[k].name, str[k].max, dst[k], e))
			return -1;
		if (!event_chars(*dst[k], str[k].cls))
			return fail(e, IPWD_E_INVALID_STRING, str[k].name,
				    str[k].cls == 't' ?
					    "%s may hold only a-z, 0-9, "
					    "'_', '.' and '-'" :
					    "%s contains a control character",
				    str[k].name);
	}
	if (!have_ip)
		return fail(e, IPWD_E_MISSING_FIELD, "ip", "ip is required");
	if (ev->type == NULL || ev->type[0] == '\0')
		return fail(e, IPWD_E_MISSING_FIELD, "type",
			    "type is required (1 to %d bytes)",
			    IPWD_EVENT_TYPE_MAX);
	return 0;
}

int ipwd_parse_events(json_t *obj, size_t max, struct ipwd_event_req **out,
		      size_t *n, struct ipwd_perr *e)
{
	struct ipwd_event_req *v;
	json_t *events = NULL, *it, *m;
	const char *key;
	size_t i, count;

	if (!json_is_object(obj))
		return fail(e, IPWD_E_NOT_AN_OBJECT, NULL,
			    "the body must be a JSON object, not %s",
			    type_name(obj));
	json_object_foreach(obj, key, m)
	{
		if (strcmp(key, "events") == 0)
			events = m;
	}
	if (events == NULL) {
		/* one event */
		v = calloc(1, sizeof(*v));
		if (v == NULL)
			return fail(e, IPWD_E_INTERNAL, NULL, "out of memory");
		if (parse_event(obj, v, e)) {
			free(v);
			return -1;
		}
		*out = v;
		*n = 1;
		return 0;
	}
	if (json_object_size(obj) != 1) {
		json_object_foreach(obj, key, m)
		{
			char f[32];

			if (strcmp(key, "events") == 0)
				continue;
			snprintf(f, sizeof(f), "%s", key);
			return fail(e, IPWD_E_UNKNOWN_FIELD, f,
				    "unknown member \"%.64s\" beside events",
				    key);
		}
	}
	if (!json_is_array(events))
		return fail(e, IPWD_E_WRONG_TYPE, "events",
			    "events must be an array, not %s",
			    type_name(events));
	count = json_array_size(events);
	if (count > max)
		return fail(e, IPWD_E_BATCH_TOO_LARGE, "events",
			    "%zu events, more than max_batch (%zu)", count,
			    max);
	v = calloc(count ? count : 1, sizeof(*v));
	if (v == NULL)
		return fail(e, IPWD_E_INTERNAL, NULL, "out of memory");
	json_array_foreach(events, i, it)
	{
		if (parse_event(it, &v[i], e)) {
			char msg[sizeof(e->msg) + 32];

			e->index = i;
			snprintf(msg, sizeof(msg), "events[%zu]: %s", i,
				 e->msg);
			memcpy(e->msg, msg, sizeof(e->msg) - 1);
			e->msg[sizeof(e->msg) - 1] = '\0';
			free(v);
			return -1;
		}
	}
	*out = v;
	*n = count;
	return 0;
}

int ipwd_parse_mode(json_t *obj, enum ipw_mode *mode, struct ipwd_perr *e)
{
	const char *key, *s = NULL;
	json_t *v;

	json_object_foreach(obj, key, v)
	{
		if (strcmp(key, "mode") != 0) {
			char f[32];

			snprintf(f, sizeof(f), "%s", key);
			return fail(e, IPWD_E_UNKNOWN_FIELD, f,
				    "unknown member \"%.64s\" (known: mode)",
				    key);
		}
		if (!json_is_string(v))
			return fail(e, IPWD_E_WRONG_TYPE, "mode",
				    "mode must be a string, not %s",
				    type_name(v));
		s = json_string_value(v);
		if (strlen(s) != json_string_length(v))
			return fail(e, IPWD_E_INVALID_MODE, "mode",
				    "mode contains a NUL character "
				    "(\\u0000)");
	}
	if (s == NULL)
		return fail(e, IPWD_E_MISSING_FIELD, "mode",
			    "mode is required");
	if (strcmp(s, "denylist") == 0)
		*mode = IPW_MODE_DENYLIST;
	else if (strcmp(s, "allowlist") == 0)
		*mode = IPW_MODE_ALLOWLIST;
	else
		return fail(e, IPWD_E_INVALID_MODE, "mode",
			    "mode \"%.64s\" is not denylist or allowlist", s);
	return 0;
}
