/* SPDX-License-Identifier: MIT */
/*
 * Fuzz harness for ipwalld's request body decoding (src/daemon/request.c):
 * bytes -> jansson -> every decoder the API uses. Beyond "no crash", it
 * checks the contract each decoder promises:
 *   - a refusal carries a known error code and a non-empty message;
 *   - an accepted entry has a target that formats and parses back to
 *     itself, an expiry that is 0 or after now and within 32 bits, a
 *     score within range, and metadata within the table's limits;
 *   - a batch never yields more items than the limit given.
 */
#include <assert.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <ipwall/addr.h>

#include "api/request.h"

#define NOW 1790000000

static void check_err(const struct ipwd_perr *e)
{
	assert(e->code < IPWD_E_COUNT);
	assert(e->msg[0] != '\0');
	assert(memchr(e->msg, '\0', sizeof(e->msg)) != NULL);
	assert(memchr(e->field, '\0', sizeof(e->field)) != NULL);
}

static void check_spec(const struct ipw_entry_spec *s, enum ipw_list list)
{
	char buf[IPW_ADDR_STRLEN];
	struct ipw_addr back;

	assert(s->list == list);
	assert(ipw_addr_format(&s->target, buf, sizeof(buf)) > 0);
	assert(ipw_addr_parse_str(buf, 0, &back) == 0);
	assert(ipw_addr_equal(&back, &s->target));
	assert(s->expires == 0 ||
	       (s->expires > NOW && s->expires <= UINT32_MAX));
	assert(s->score <= 1000000);
	assert(!s->reason || strlen(s->reason) < IPW_REASON_MAX);
	assert(!s->source || strlen(s->source) < IPW_SOURCE_MAX);
	assert(list == IPW_LIST_BAN || s->flags == 0);
}

/* A decoded event keeps the event socket's rules (wire.h). */
static void check_event(const struct ipwd_event_req *ev)
{
	const char *const s[] = {ev->type, ev->service, ev->user, ev->detail};
	const size_t max[] = {IPWD_EVENT_TYPE_MAX, IPWD_EVENT_SERVICE_MAX,
			      IPWD_EVENT_USER_MAX, IPWD_EVENT_DETAIL_MAX};
	size_t k;

	assert(ipw_addr_is_host(&ev->addr));
	assert(ev->type && ev->type[0]);
	for (k = 0; k < 4; k++) {
		const unsigned char *c = (const unsigned char *)s[k];

		if (c == NULL)
			continue;
		assert(strlen(s[k]) <= max[k]);
		for (; *c; c++)
			assert(*c >= 0x20 && *c != 0x7f &&
			       (k >= 2 || (*c >= 'a' && *c <= 'z') ||
				(*c >= '0' && *c <= '9') || *c == '_' ||
				*c == '.' || *c == '-'));
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct ipw_entry_spec spec, *specs = NULL;
	struct ipwd_event_req *evs = NULL;
	struct ipwd_perr e;
	enum ipw_mode mode;
	json_t *body;
	size_t n = 0, i;

	memset(&e, 0, sizeof(e));
	if (ipwd_parse_body((const char *)data, size, &body, &e) != 0) {
		check_err(&e);
		return 0;
	}
	assert(json_is_object(body));
	if (ipwd_parse_entry(body, IPW_LIST_BAN, NOW, 600, &spec, &e) == 0)
		check_spec(&spec, IPW_LIST_BAN);
	else
		check_err(&e);
	if (ipwd_parse_entry(body, IPW_LIST_ALLOW, NOW, 0, &spec, &e) == 0)
		check_spec(&spec, IPW_LIST_ALLOW);
	else
		check_err(&e);
	if (ipwd_parse_batch(body, 64, NOW, 0, &specs, &n, &e) == 0) {
		assert(n <= 64);
		for (i = 0; i < n; i++)
			check_spec(&specs[i], IPW_LIST_BAN);
		free(specs);
	} else {
		check_err(&e);
	}
	if (ipwd_parse_events(body, 64, &evs, &n, &e) == 0) {
		assert(n <= 64);
		for (i = 0; i < n; i++)
			check_event(&evs[i]);
		free(evs);
	} else {
		check_err(&e);
	}
	if (ipwd_parse_mode(body, &mode, &e) == 0)
		assert(mode == IPW_MODE_DENYLIST || mode == IPW_MODE_ALLOWLIST);
	else
		check_err(&e);
	json_decref(body);
	return 0;
}
