/* SPDX-License-Identifier: MIT */
/*
 * POST /v1/events: failure reports for the auto-ban engine
 * (autoban/autoban.h). One event object or {"events": [...]}, decoded and
 * checked whole (one bad event refuses the request, nothing is queued),
 * then queued on the HTTP worker: the answer is 202 as soon as the events
 * wait for the engine, never after a decision or a store write. Events
 * that find the engine's queue full are dropped and said: 202 with the
 * count when some were queued, 429 events_queue_full (Retry-After: 1)
 * when none were.
 */
#include <jansson.h>
#include <stdlib.h>

#include "api/api.h"
#include "api/request.h"
#include "autoban/autoban.h"

void ipwd_h_events(struct ipwd_req *r, struct ipwd_resp *o)
{
	struct ipwd_event_req *ev = NULL;
	struct ipwd_report *rep;
	struct ipwd_perr pe;
	size_t i, n = 0, queued;
	json_t *body;

	if (r->d->autoban == NULL) {
		ipwd_resp_error(
			o, IPWD_E_NO_AUTOBAN, NULL,
			"auto-ban is off: no [rule NAME] section in the "
			"configuration");
		return;
	}
	if (ipwd_parse_body(r->body, r->len, &body, &pe)) {
		ipwd_resp_perr(o, &pe);
		return;
	}
	if (ipwd_parse_events(body, live_get(r->d, max_batch), &ev, &n, &pe)) {
		ipwd_resp_perr(o, &pe);
		json_decref(body);
		return;
	}
	rep = calloc(n ? n : 1, sizeof(*rep));
	if (rep == NULL) {
		ipwd_resp_error(o, IPWD_E_INTERNAL, NULL, "out of memory");
		goto out;
	}
	for (i = 0; i < n; i++) {
		rep[i].addr = ev[i].addr;
		rep[i].type = ev[i].type;
	}
	queued = ipwd_autoban_submit(r->d->autoban, rep, n);
	free(rep);
	if (n && queued == 0) {
		o->retry_after = 1;
		ipwd_resp_error(o, IPWD_E_EVENTS_QUEUE_FULL, NULL,
				"the auto-ban engine's queue is full: %zu "
				"event%s dropped",
				n, n == 1 ? "" : "s");
		goto out;
	}
	ipwd_resp_json(o, 202,
		       json_pack("{s:I, s:I}", "queued", (json_int_t)queued,
				 "dropped", (json_int_t)(n - queued)));
out:
	free(ev);
	json_decref(body);
}
