/* SPDX-License-Identifier: MIT */
/*
 * Decoding of API request bodies (docs/api.md) from JSON values parsed by
 * jansson into table write specs. Pure functions: no I/O, no table, so the
 * fuzz harness (fuzz/fuzz_api_request.c) drives them directly.
 *
 * Every refusal names its cause: an API error code, the member at fault,
 * and a sentence. The strings a spec points to belong to the JSON value.
 */
#ifndef IPWALL_DAEMON_REQUEST_H
#define IPWALL_DAEMON_REQUEST_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include <ipwall/table.h>

#include "api/apierr.h"
#include "autoban/wire.h"

struct ipwd_perr {
	enum ipwd_apierr code;
	char field[32];
	char msg[256];
	size_t index; /* the batch item at fault, or SIZE_MAX */
};

/* Parse a body into @out (JSON_REJECT_DUPLICATES, strict). 0 or -1. */
int ipwd_parse_body(const char *body, size_t len, json_t **out,
		    struct ipwd_perr *e);

/*
 * ipwd_parse_entry() - a POST /v1/bans (@list BAN) or /v1/allow (ALLOW)
 * object into @spec, expiry computed from @now and the ttl (or
 * @default_ttl when absent). Returns 0 or -1 with @e filled.
 */
int ipwd_parse_entry(json_t *obj, enum ipw_list list, int64_t now,
		     uint64_t default_ttl, struct ipw_entry_spec *spec,
		     struct ipwd_perr *e);

/*
 * ipwd_parse_batch() - {"items": [...]} into @specs (malloc'd, *n of
 * them). More than @max items: IPWD_E_BATCH_TOO_LARGE. An invalid item:
 * -1 with e->index set. Returns 0 or -1.
 */
int ipwd_parse_batch(json_t *obj, size_t max, int64_t now, uint64_t default_ttl,
		     struct ipw_entry_spec **specs, size_t *n,
		     struct ipwd_perr *e);

/* A failure report (POST /v1/events), with the event socket's limits
 * (autoban/wire.h, docs/events.md). The strings belong to the JSON value;
 * NULL when absent. */
#define IPWD_EVENT_TYPE_MAX    IPWD_WIRE_TYPE_MAX
#define IPWD_EVENT_SERVICE_MAX IPWD_WIRE_SERVICE_MAX
#define IPWD_EVENT_USER_MAX    IPWD_WIRE_USER_MAX
#define IPWD_EVENT_DETAIL_MAX  IPWD_WIRE_DETAIL_MAX
struct ipwd_event_req {
	struct ipw_addr addr; /* one address, never a prefix */
	const char *type;     /* 1..32 of [a-z0-9_.-] */
	const char *service;  /* 0..32 of [a-z0-9_.-] */
	const char *user;     /* 0..64 bytes, no control byte */
	const char *detail;   /* 0..256 bytes, no control byte */
};

/*
 * ipwd_parse_events() - one event object, or {"events": [...]} of at most
 * @max, into @out (malloc'd, *@n of them). An invalid event: -1 with
 * e->index set and nothing decoded. Returns 0 or -1.
 */
int ipwd_parse_events(json_t *obj, size_t max, struct ipwd_event_req **out,
		      size_t *n, struct ipwd_perr *e);

/* {"mode": "denylist" | "allowlist"}. Returns 0 or -1. */
int ipwd_parse_mode(json_t *obj, enum ipw_mode *mode, struct ipwd_perr *e);

/* A TTL value (integer seconds or duration string) into seconds. */
int ipwd_parse_ttl(json_t *v, uint64_t *secs, struct ipwd_perr *e);

#endif /* IPWALL_DAEMON_REQUEST_H */
