/* SPDX-License-Identifier: MIT */
/*
 * What every handler answers with: JSON bodies, the API's errors (one
 * name and status per code, apierr.h), the entry object, the errors of a
 * write the table or the store refused, and the target query parameter.
 */
#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <ipwall/addr.h>
#include <ipwall/table.h>

#include "api/api.h"

const char *ipwd_apierr_name(enum ipwd_apierr e)
{
	static const char *const names[] = {
#define X(id, status, name) name,
		IPWD_APIERRS(X)
#undef X
	};
	return (unsigned)e < IPWD_E_COUNT ? names[e] : "internal";
}

unsigned ipwd_apierr_status(enum ipwd_apierr e)
{
	static const unsigned st[] = {
#define X(id, status, name) status,
		IPWD_APIERRS(X)
#undef X
	};
	return (unsigned)e < IPWD_E_COUNT ? st[e] : 500;
}

void ipwd_resp_json(struct ipwd_resp *o, unsigned status, json_t *v)
{
	o->status = status;
	o->body = json_dumps(v, JSON_COMPACT);
	json_decref(v);
	if (o->body == NULL) {
		o->status = 500;
		o->body = strdup("{\"error\":{\"code\":\"internal\","
				 "\"message\":\"out of memory\"}}");
	}
	o->len = o->body ? strlen(o->body) : 0;
}

/* The object inside {"error": ...}; @field may be NULL or "". */
json_t *ipwd_error_obj(enum ipwd_apierr err, const char *field, const char *msg)
{
	json_t *e = json_pack("{s:s, s:s}", "code", ipwd_apierr_name(err),
			      "message", msg);

	if (e == NULL) /* a message cut inside a UTF-8 sequence */
		e = json_pack("{s:s, s:s}", "code", ipwd_apierr_name(err),
			      "message", "(unprintable)");
	if (e && field && *field)
		json_object_set_new(e, "field", json_string(field));
	return e;
}

void ipwd_resp_error_obj(struct ipwd_resp *o, enum ipwd_apierr err, json_t *e)
{
	o->err = (int)err;
	ipwd_resp_json(o, ipwd_apierr_status(err),
		       json_pack("{s:o}", "error", e));
}

void ipwd_resp_error(struct ipwd_resp *o, enum ipwd_apierr err,
		     const char *field, const char *fmt, ...)
{
	char msg[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	ipwd_resp_error_obj(o, err, ipwd_error_obj(err, field, msg));
}

/* A decoding error; a batch item's carries its index. */
void ipwd_resp_perr(struct ipwd_resp *o, const struct ipwd_perr *pe)
{
	json_t *e = ipwd_error_obj(pe->code, pe->field, pe->msg);

	if (e && pe->index != SIZE_MAX)
		json_object_set_new(e, "index",
				    json_integer((json_int_t)pe->index));
	ipwd_resp_error_obj(o, pe->code, e);
}

int64_t ipwd_now_s(void)
{
	return (int64_t)time(NULL);
}

json_t *ipwd_json_time(int64_t t)
{
	char buf[32];
	time_t tt = (time_t)t;
	struct tm tm;

	if (t == 0 || gmtime_r(&tt, &tm) == NULL)
		return json_null();
	strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%SZ", &tm);
	return json_string(buf);
}

/* Metadata the writer did not give is "" in the table, null on the wire. */
static json_t *str_or_null(const char *s)
{
	return *s ? json_string(s) : json_null();
}

json_t *ipwd_entry_json(const struct ipw_entry_info *e, int64_t now)
{
	char t[IPW_ADDR_STRLEN];
	json_t *o;

	ipw_addr_format(&e->target, t, sizeof(t));
	o = json_pack(
		"{s:s, s:s, s:o, s:o, s:o, s:I, s:o, s:s, s:o, s:b, "
		"s:I, s:o}",
		"target", t, "list", ipwd_list_name(e->list), "expires_at",
		ipwd_json_time(e->expires), "ttl_left",
		e->expires ?
			json_integer(e->expires > now ? e->expires - now : 0) :
			json_null(),
		"created_at", ipwd_json_time(e->created), "score",
		(json_int_t)e->score, "reason", str_or_null(e->reason), "actor",
		e->actor, "source", str_or_null(e->source), "auto",
		(e->flags & IPW_ENTRY_AUTO) != 0, "hits", (json_int_t)e->hits,
		"last_hit_at", ipwd_json_time(e->last_hit));
	return o;
}

/* The API error of a write the table refused with @rc. */
json_t *ipwd_table_error_obj(int rc, const char *target, enum ipwd_apierr *err)
{
	char msg[256];

	switch (rc) {
	case IPW_ETABLE_COVERED:
		*err = IPWD_E_COVERED_BY_ALLOW;
		snprintf(msg, sizeof(msg),
			 "%s is wholly covered by an allow entry; a ban there "
			 "would never match",
			 target);
		return ipwd_error_obj(*err, "target", msg);
	case IPW_ETABLE_FULL:
		*err = IPWD_E_TABLE_FULL;
		return ipwd_error_obj(
			*err, NULL,
			"the table is full (max_entries); automatic "
			"bans are refused until entries expire");
	case IPW_ENOSPC:
	case IPW_EIO:
		*err = IPWD_E_STORE_UNAVAILABLE;
		snprintf(msg, sizeof(msg),
			 "the durable store cannot take writes (%s); nothing "
			 "was changed, retry later",
			 ipw_strerror(rc));
		return ipwd_error_obj(*err, NULL, msg);
	case IPW_ETABLE_EXPIRED:
	case IPW_ERANGE:
		*err = IPWD_E_INVALID_TTL;
		return ipwd_error_obj(*err, "ttl", ipw_strerror(rc));
	default:
		*err = IPWD_E_INTERNAL;
		return ipwd_error_obj(*err, NULL, ipw_strerror(rc));
	}
}

void ipwd_table_error(struct ipwd_resp *o, int rc, const char *target)
{
	enum ipwd_apierr err;
	json_t *e = ipwd_table_error_obj(rc, target, &err);

	ipwd_resp_error_obj(o, err, e);
}

int ipwd_req_target(struct ipwd_req *r, struct ipwd_resp *o, struct ipw_addr *a)
{
	char msg[200];
	size_t pos = 0;
	bool present;
	const char *s = ipwd_req_arg(r, "target", &present);
	int rc;

	if (s == NULL) {
		ipwd_resp_error(o, IPWD_E_MISSING_FIELD, "target",
				"query parameter target is required");
		return -1;
	}
	rc = ipw_addr_parse(s, strlen(s), 0, a, &pos);
	if (rc != 0) {
		ipw_addr_error_msg(msg, sizeof(msg), s, strlen(s), rc, pos);
		ipwd_resp_error(o, IPWD_E_INVALID_TARGET, "target",
				"target: %s", msg);
		return -1;
	}
	return 0;
}
