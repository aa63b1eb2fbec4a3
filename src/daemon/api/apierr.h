/* SPDX-License-Identifier: MIT */
/*
 * The API's error codes (docs/api.md, "Errors"): one stable name and one
 * HTTP status each. Shared by the HTTP layer, the handlers and the
 * metrics (ipwall_writes_rejected_total{reason}).
 */
#ifndef IPWALL_DAEMON_APIERR_H
#define IPWALL_DAEMON_APIERR_H

#define IPWD_APIERRS(X)                                          \
	X(INVALID_JSON, 400, "invalid_json")                     \
	X(NOT_AN_OBJECT, 400, "not_an_object")                   \
	X(UNKNOWN_FIELD, 400, "unknown_field")                   \
	X(MISSING_FIELD, 400, "missing_field")                   \
	X(WRONG_TYPE, 400, "wrong_type")                         \
	X(INVALID_TARGET, 400, "invalid_target")                 \
	X(INVALID_IP, 400, "invalid_ip")                         \
	X(INVALID_TTL, 400, "invalid_ttl")                       \
	X(INVALID_SCORE, 400, "invalid_score")                   \
	X(INVALID_MODE, 400, "invalid_mode")                     \
	X(INVALID_PARAMETER, 400, "invalid_parameter")           \
	X(UNKNOWN_PARAMETER, 400, "unknown_parameter")           \
	X(STRING_TOO_LONG, 400, "string_too_long")               \
	X(INVALID_STRING, 400, "invalid_string")                 \
	X(BAD_REQUEST, 400, "bad_request")                       \
	X(UNAUTHORIZED, 401, "unauthorized")                     \
	X(FORBIDDEN, 403, "forbidden")                           \
	X(NOT_FOUND, 404, "not_found")                           \
	X(NO_STORE, 404, "no_store")                             \
	X(NO_ENFORCEMENT, 404, "no_enforcement")                 \
	X(NO_AUTOBAN, 404, "no_autoban")                         \
	X(NO_CLUSTER, 404, "no_cluster")                         \
	X(METHOD_NOT_ALLOWED, 405, "method_not_allowed")         \
	X(COVERED_BY_ALLOW, 409, "covered_by_allow")             \
	X(BODY_TOO_LARGE, 413, "body_too_large")                 \
	X(BATCH_TOO_LARGE, 413, "batch_too_large")               \
	X(UNSUPPORTED_MEDIA_TYPE, 415, "unsupported_media_type") \
	X(TABLE_FULL, 429, "table_full")                         \
	X(TOO_MANY_FAILURES, 429, "too_many_auth_failures")      \
	X(EVENTS_QUEUE_FULL, 429, "events_queue_full")           \
	X(HEADER_TOO_LARGE, 431, "header_too_large")             \
	X(INTERNAL, 500, "internal")                             \
	X(SHUTTING_DOWN, 503, "shutting_down")                   \
	X(STORE_UNAVAILABLE, 503, "store_unavailable")

enum ipwd_apierr {
#define X(id, status, name) IPWD_E_##id,
	IPWD_APIERRS(X)
#undef X
		IPWD_E_COUNT
};

const char *ipwd_apierr_name(enum ipwd_apierr e);
unsigned ipwd_apierr_status(enum ipwd_apierr e);

#endif /* IPWALL_DAEMON_APIERR_H */
