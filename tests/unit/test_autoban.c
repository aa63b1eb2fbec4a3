// SPDX-License-Identifier: MIT
/*
 * The auto-ban engine (src/daemon/autoban/engine.h) with a controllable
 * clock: exact sliding-window thresholds, escalation, /24 and /64-/48
 * aggregation, exemptions, dry-run, rule errors, a 10-million-event flood
 * from random sources with real offenders inside, and the breaker.
 *
 * IPW_FLOOD_EVENTS overrides the flood's size (default 10,000,000).
 */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#if defined(__SANITIZE_ADDRESS__)
#define HAVE_ASAN_ALLOC 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define HAVE_ASAN_ALLOC 1
#endif
#endif
#ifdef HAVE_ASAN_ALLOC
/* <sanitizer/allocator_interface.h>, not installed with every compiler */
size_t __sanitizer_get_current_allocated_bytes(void);
#else
#include <malloc.h>
#endif

#include "autoban/engine.h"

#include "tap.h"

static const char *const ssh_types[] = {"ssh_auth_fail", "ssh_bad_user"};
static struct ipwd_ab_decision dec[IPWD_AB_DECISIONS_MAX];

static uint64_t rnd(uint64_t *s);

static struct ipw_addr A(const char *s) {
	struct ipw_addr a;

	if (ipw_addr_parse_str(s, 0, &a) != 0) {
		fprintf(stderr, "bad test address %s\n", s);
		exit(2);
	}
	return a;
}

static const char *
fmt(const struct ipw_addr *a)
{
	static char buf[4][IPW_ADDR_STRLEN];
	static int k;

	k = (k + 1) & 3;
	ipw_addr_format(a, buf[k], sizeof(buf[k]));
	return buf[k];
}

static struct ipwd_ab_rule base_rule(void)
{
	struct ipwd_ab_rule r = {
		.name = "ssh",
		.types = ssh_types,
		.ntypes = 2,
		.threshold = 5,
		.window_ms = 60000,
		.ban_s = 600,
		.escalate = 2.0,
		.ban_max_s = 86400,
	};

	return r;
}

/* callbacks: an exempt list (addresses or prefixes containing them) and a
 * fixed number of past bans */
static struct ipw_addr exempt_list[4];
static int nexempt;
static unsigned past_value;

static bool exempt_cb(void *ctx, const struct ipw_addr *t)
{
	(void)ctx;
	for (int i = 0; i < nexempt; i++)
		if (ipw_addr_contains(t, &exempt_list[i]))
			return true;
	return false;
}

static unsigned past_cb(void *ctx, const struct ipw_addr *t)
{
	(void)ctx;
	(void)t;
	return past_value;
}

static struct ipwd_ab *mk(const struct ipwd_ab_rule *rules, size_t n,
			  size_t budget)
{
	struct ipwd_ab_opts o = {
		.rules = rules,
		.nrules = n,
		.budget_bytes = budget,
		.exempt = exempt_cb,
		.past_bans = past_cb,
		.hash_key = {0x1234, 0x5678},
	};
	struct ipwd_ab *ab = NULL;
	int rc = ipwd_ab_new(&ab, &o, NULL);

	if (rc) {
		fprintf(stderr, "ipwd_ab_new: %s\n", ipw_strerror(rc));
		exit(2);
	}
	return ab;
}

static int ev(struct ipwd_ab *ab, const char *ip, uint64_t t)
{
	struct ipw_addr a = A(ip);

	return ipwd_ab_event(ab, &a, 0, t, dec, IPWD_AB_DECISIONS_MAX);
}

static void test_threshold(void)
{
	struct ipwd_ab_rule r = base_rule();
	struct ipwd_ab *ab = mk(&r, 1, 1 << 20);
	int n, fired = 0;

	for (int i = 0; i < 4; i++)
		fired += ev(ab, "203.0.113.5", (uint64_t)i * 1000);
	is_int(fired, 0, "N-1 = 4 events within W: nothing");
	n = ev(ab, "203.0.113.5", 4000);
	is_int(n, 1, "the 5th within W fires");
	is_str(fmt(&dec[0].target), "203.0.113.5", "target is the address");
	is_int(dec[0].ttl_s, 600, "first offence: ban_s");
	is_str(dec[0].rule, "ssh", "rule name");
	is_int(dec[0].count, 5, "count");
	is_int(dec[0].window_ms, 60000, "window");
	is_int(dec[0].score, 5 * 60000 / 4000, "score: events per minute");
	ok(!dec[0].dry_run && !dec[0].aggregated &&
		   dec[0].scope == IPWD_AB_SCOPE_SOURCE,
	   "a plain source decision");

	fired = 0;
	for (int i = 0; i < 4; i++)
		fired += ev(ab, "203.0.113.5", 5000 + (uint64_t)i);
	is_int(fired, 0, "after firing the count starts again");
	is_int(ev(ab, "203.0.113.5", 5004), 1, "and the next burst fires");

	/* the second type counts for the same rule; another address apart */
	struct ipw_addr b = A("203.0.113.6");
	int id = ipwd_ab_type_id(ab, "ssh_bad_user");
	is_int(id, 1, "second type has id 1");
	fired = 0;
	for (int i = 0; i < 4; i++)
		fired += ipwd_ab_event(ab, &b, (unsigned)id, 10000, dec, 8);
	fired += ev(ab, "203.0.113.7", 10000);
	is_int(fired, 0, "4 of one address, 1 of another: nothing");
	is_int(ipwd_ab_event(ab, &b, 0, 10001, dec, 8), 1,
	       "types of one rule add up");

	/* N-1 forever at a slow pace: never */
	fired = 0;
	for (uint64_t t = 100000; t < 100000 + 3600000; t += 15000)
		fired += ev(ab, "198.51.100.77", t);
	is_int(fired, 0, "one event per W/4 for an hour: never 5 within W");
	ipwd_ab_free(ab);
}

static void test_sliding(void)
{
	struct ipwd_ab_rule r = base_rule();
	struct ipwd_ab *ab = mk(&r, 1, 1 << 20);
	int fired;
	uint64_t t;

	/* spacing just over W/(N-1): the 5th is W + 4 ms after the first */
	fired = 0;
	for (int i = 0; i < 20; i++)
		fired += ev(ab, "192.0.2.1", (uint64_t)i * 15001);
	is_int(fired, 0, "spaced W/(N-1) + 1 ms: never fires");
	/* exactly W/(N-1): the oldest is exactly W old, outside */
	fired = 0;
	for (int i = 0; i < 20; i++)
		fired += ev(ab, "192.0.2.2", (uint64_t)i * 15000);
	is_int(fired, 0, "spaced exactly W/(N-1): never (window is open)");
	/* just under: fires at the 5th, exactly */
	for (int i = 0; i < 4; i++)
		ev(ab, "192.0.2.3", (uint64_t)i * 14999);
	is_int(ev(ab, "192.0.2.3", 4 * 14999), 1,
	       "spaced W/(N-1) - 1 ms: fires at the 5th (GCRA would not)");

	/* the window slides: 4 early, then the 5th just inside / outside */
	t = 1000000;
	for (int i = 0; i < 4; i++)
		ev(ab, "192.0.2.4", t + (uint64_t)i);
	is_int(ev(ab, "192.0.2.4", t + 59999), 1, "5th at W-1 after 1st");
	for (int i = 0; i < 4; i++)
		ev(ab, "192.0.2.5", t + (uint64_t)i);
	is_int(ev(ab, "192.0.2.5", t + 60000), 0, "5th at W after 1st: no");
	is_int(ev(ab, "192.0.2.5", t + 60001), 0,
	       "the oldest aged out: 4 left, no");
	is_int(ev(ab, "192.0.2.5", t + 60002), 0, "still 4 within W");
	is_int(ev(ab, "192.0.2.5", t + 60003), 0,
	       "t+3 is now W old: 4 within W");
	/* within W now: 60000, 60001, 60002, 60003 and this one */
	is_int(ev(ab, "192.0.2.5", t + 60004), 1,
	       "the window slid: 5 within W again");

	/* across a fixed-bucket boundary: 4 at the end of one minute and
	 * one at the start of the next is 5 within W */
	for (int i = 0; i < 4; i++)
		ev(ab, "192.0.2.6", 2000000 + 59000 + (uint64_t)i);
	is_int(ev(ab, "192.0.2.6", 2000000 + 60500), 1,
	       "no fixed buckets: fires across a minute boundary");

	/* a long gap then a burst: old offsets do not alias */
	for (int i = 0; i < 4; i++)
		ev(ab, "192.0.2.7", 10 + (uint64_t)i);
	t = 10 + (1ull << 32); /* the same 32-bit offset, 49.7 days later */
	fired = 0;
	for (int i = 0; i < 1; i++)
		fired += ev(ab, "192.0.2.7", t);
	is_int(fired, 0, "events 2^32 ms apart are not within W");

	/* threshold 1 fires on every event; threshold 64 on the 64th */
	struct ipwd_ab_rule r2[2] = {base_rule(), base_rule()};
	static const char *const t1[] = {"one"}, *const t64[] = {"many"};
	r2[0].name = "one";
	r2[0].types = t1;
	r2[0].ntypes = 1;
	r2[0].threshold = 1;
	r2[1].name = "many";
	r2[1].types = t64;
	r2[1].ntypes = 1;
	r2[1].threshold = 64;
	struct ipwd_ab *ab2 = mk(r2, 2, 1 << 20);
	struct ipw_addr x = A("192.0.2.9");
	unsigned many = (unsigned)ipwd_ab_type_id(ab2, "many");
	is_int(ipwd_ab_event(ab2, &x, (unsigned)ipwd_ab_type_id(ab2, "one"), 1,
			     dec, 8),
	       1, "threshold 1 fires on the first event");
	fired = 0;
	for (int i = 0; i < 63; i++)
		fired +=
			ipwd_ab_event(ab2, &x, many, 100 + (uint64_t)i, dec, 8);
	is_int(fired, 0, "threshold 64: not at 63");
	is_int(ipwd_ab_event(ab2, &x, many, 200, dec, 8), 1,
	       "threshold 64: at 64");
	ipwd_ab_free(ab2);
	ipwd_ab_free(ab);
}

static uint32_t fire_ttl(struct ipwd_ab *ab, const char *ip, uint64_t t)
{
	int n = 0;

	for (int i = 0; i < 5; i++)
		n = ev(ab, ip, t + (uint64_t)i);
	return n == 1 ? dec[0].ttl_s : 0;
}

static void test_escalation(void)
{
	struct ipwd_ab_rule r = base_rule();
	struct ipwd_ab *ab = mk(&r, 1, 1 << 20);
	static const struct {
		unsigned past;
		uint32_t ttl;
	} cases[] = {
		{0, 600},   {1, 1200},	{2, 2400},   {3, 4800},	   {7, 76800},
		{8, 86400}, {9, 86400}, {40, 86400}, {~0u, 86400},
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		past_value = cases[i].past;
		is_int(fire_ttl(ab, "198.51.100.9", i * 100000), cases[i].ttl,
		       "factor 2, %u past bans: %u s", cases[i].past,
		       cases[i].ttl);
		is_int(dec[0].past, cases[i].past, "past recorded");
	}
	ipwd_ab_free(ab);

	r.escalate = 1.5;
	r.ban_max_s = 0;
	ab = mk(&r, 1, 1 << 20);
	past_value = 2;
	is_int(fire_ttl(ab, "198.51.100.9", 0), 1350, "factor 1.5: 600*2.25");
	past_value = 200;
	is_int(fire_ttl(ab, "198.51.100.9", 100000), UINT32_MAX,
	       "no cap: stops at UINT32_MAX seconds");
	ipwd_ab_free(ab);

	r.escalate = 1.0;
	r.ban_max_s = 1000;
	ab = mk(&r, 1, 1 << 20);
	past_value = 50;
	is_int(fire_ttl(ab, "198.51.100.9", 0), 600, "factor 1: no change");
	ipwd_ab_free(ab);
	past_value = 0;
}

static void test_aggregation(void)
{
	struct ipwd_ab_rule r = base_rule();
	struct ipwd_ab *ab;
	int n;

	r.threshold = 2;
	r.agg_v4 = 3;
	r.agg_v6 = 3;
	ab = mk(&r, 1, 1 << 20);

	ev(ab, "198.51.100.1", 0);
	is_int(ev(ab, "198.51.100.1", 1), 1, ".1 decided alone");
	ev(ab, "198.51.100.1", 10);
	is_int(ev(ab, "198.51.100.1", 11), 1, ".1 again: same offender");
	ev(ab, "198.51.101.2", 20);
	is_int(ev(ab, "198.51.101.2", 21), 1, "another /24 does not count");
	ev(ab, "198.51.100.2", 30);
	is_int(ev(ab, "198.51.100.2", 31), 1, ".2: 2 distinct, no /24 yet");
	ev(ab, "198.51.100.3", 40);
	n = ev(ab, "198.51.100.3", 41);
	is_int(n, 2, ".3: the address and its /24");
	is_str(fmt(&dec[0].target), "198.51.100.3", "first the address");
	is_str(fmt(&dec[1].target), "198.51.100.0/24", "then the /24");
	ok(dec[1].aggregated && dec[1].scope == IPWD_AB_SCOPE_AGGREGATE,
	   "marked aggregated");
	is_int(dec[1].count, 3, "count: distinct offenders");
	is_int(dec[1].window_ms, 600000, "aggregation window: ban_s");

	/* offenders older than the aggregation window do not count */
	ev(ab, "203.0.113.1", 1000);
	ev(ab, "203.0.113.1", 1001);
	ev(ab, "203.0.113.2", 2000);
	ev(ab, "203.0.113.2", 2001);
	ev(ab, "203.0.113.3", 1000 + 600000);
	is_int(ev(ab, "203.0.113.3", 1001 + 600000), 1,
	       "first offender aged out: no /24");
	ev(ab, "203.0.113.4", 1010 + 600000);
	is_int(ev(ab, "203.0.113.4", 1011 + 600000), 2,
	       "three within the window: the /24");

	/* IPv6: a source is its /64 */
	is_int(ev(ab, "2001:db8:1:1::1", 0), 0, "v6 first event");
	n = ev(ab, "2001:db8:1:1::ffff:2", 1);
	is_int(n, 1, "another address in the same /64 is the same source");
	is_str(fmt(&dec[0].target), "2001:db8:1:1::/64", "target is the /64");
	ev(ab, "2001:db8:1:2::1", 2);
	is_int(ev(ab, "2001:db8:1:3::1", 3), 0, "different /64s apart");
	is_int(ev(ab, "2001:db8:1:2::9", 4), 1, "second /64 decided");
	n = ev(ab, "2001:db8:1:3::1", 5);
	is_int(n, 2, "third /64 in the /48: the /64 and the /48");
	is_str(fmt(&dec[1].target), "2001:db8:1::/48", "widened to the /48");
	is_int(dec[1].count, 3, "three /64s");
	ev(ab, "2001:db8:2:1::1", 6);
	is_int(ev(ab, "2001:db8:2:1::2", 7), 1, "new /48: only the /64");
	ipwd_ab_free(ab);

	/* aggregation off */
	r.agg_v4 = 0;
	ab = mk(&r, 1, 1 << 20);
	n = 0;
	for (int i = 1; i <= 10; i++) {
		char ip[32];

		snprintf(ip, sizeof(ip), "198.51.100.%d", i);
		ev(ab, ip, (uint64_t)i * 10);
		n += ev(ab, ip, (uint64_t)i * 10 + 1);
	}
	is_int(n, 10, "agg_v4 = 0: ten addresses, ten decisions, no /24");
	ipwd_ab_free(ab);
}

static void test_exempt(void)
{
	struct ipwd_ab_rule r = base_rule();
	struct ipwd_ab *ab;
	struct ipwd_ab_stats st;
	static const char *never[] = {
		"127.0.0.1", "127.9.9.9",    "::1",
		"::",	     "0.0.0.0",	     "::ffff:127.0.0.1",
		"::2",	     "203.0.113.50", "2001:db8:9:9::1234",
	};
	int fired = 0;

	r.threshold = 2;
	r.agg_v4 = 2;
	nexempt = 2;
	exempt_list[0] = A("203.0.113.50");    /* an allowed address */
	exempt_list[1] = A("2001:db8:9:9::7"); /* the node's own */
	ab = mk(&r, 1, 1 << 20);
	for (size_t i = 0; i < sizeof(never) / sizeof(never[0]); i++)
		for (int k = 0; k < 50; k++)
			fired += ev(ab, never[i], (uint64_t)k);
	is_int(fired, 0,
	       "loopback, unspecified, mapped loopback, allowlisted and a "
	       "/64 holding our own address: never decided");

	/* a raw mapped address (not folded by the parser) */
	struct ipw_addr m = {.family = IPW_AF_INET6, .plen = 128};
	m.bytes[10] = m.bytes[11] = 0xff;
	m.bytes[12] = 127;
	m.bytes[15] = 1;
	fired = 0;
	for (int k = 0; k < 10; k++)
		fired += ipwd_ab_event(ab, &m, 0, 100, dec, 8);
	is_int(fired, 0, "raw ::ffff:127.0.0.1 is loopback too");

	/* offenders whose /24 holds an allowed address: not the /24 */
	ev(ab, "203.0.113.1", 1000);
	is_int(ev(ab, "203.0.113.1", 1001), 1,
	       "an offender next to an "
	       "allowed address is decided");
	ev(ab, "203.0.113.2", 1002);
	is_int(ev(ab, "203.0.113.2", 1003), 1,
	       "the second one too, alone: no /24 over an allowed address");
	ipwd_ab_stats(ab, &st);
	/* 8 exempt sources x 50, 10 raw mapped, 25 firings of the /64
	 * holding our address, and the /24 */
	is_int(st.exempt, 8 * 50 + 10 + 25 + 1, "exempt counted");
	ipwd_ab_free(ab);
	nexempt = 0;
}

static void test_dry_run(void)
{
	struct ipwd_ab_rule r[2] = {base_rule(), base_rule()};
	static const char *const tt[] = {"web_404"};
	struct ipwd_ab *ab;
	struct ipwd_ab_stats st;
	struct ipw_addr a = A("192.0.2.80");
	int n = 0;

	r[1].name = "web";
	r[1].types = tt;
	r[1].ntypes = 1;
	r[1].dry_run = true;
	ab = mk(r, 2, 1 << 20);
	for (int i = 0; i < 5; i++)
		n = ipwd_ab_event(ab, &a,
				  (unsigned)ipwd_ab_type_id(ab, "web_404"),
				  (uint64_t)i, dec, 8);
	is_int(n, 1, "a dry-run rule still decides");
	ok(dec[0].dry_run, "marked dry_run");
	is_str(dec[0].rule, "web", "by its rule");
	for (int i = 0; i < 5; i++)
		n = ev(ab, "192.0.2.80", 10 + (uint64_t)i);
	ok(n == 1 && !dec[0].dry_run, "the other rule is not dry-run");
	ipwd_ab_stats(ab, &st);
	is_int(st.decisions, 2, "decisions");
	is_int(st.decisions_dry_run, 1, "of which dry-run");
	ipwd_ab_free(ab);
}

static void test_errors(void)
{
	struct ipwd_ab_rule r, rr[2];
	struct ipwd_ab_opts o = {.nrules = 1, .budget_bytes = 1 << 20};
	struct ipwd_ab *ab = NULL;
	int which;
	static const char *const bad_types[] = {"ok", "Bad"};
	static const char *const long_type[] = {
		"abcdefghijabcdefghijabcdefghijab"};

	o.rules = &r;
#define BAD(field_set, want, label)                                \
	do {                                                       \
		r = base_rule();                                   \
		field_set;                                         \
		is_int(ipwd_ab_new(&ab, &o, &which), want, label); \
	} while (0)
	BAD(r.threshold = 0, IPW_EAB_THRESHOLD_ZERO, "N = 0");
	BAD(r.threshold = 65, IPW_EAB_THRESHOLD_MAX, "N = 65");
	BAD(r.window_ms = 0, IPW_EAB_WINDOW_ZERO, "window 0");
	BAD(r.window_ms = IPWD_AB_WINDOW_MAX_MS + 1, IPW_EAB_WINDOW_MAX,
	    "window over 24 days");
	BAD(r.escalate = 0.5, IPW_EAB_FACTOR, "factor 0.5");
	BAD(r.escalate = NAN, IPW_EAB_FACTOR, "factor NaN");
	BAD(r.ban_s = 0, IPW_EAB_BAN_DURATION, "ban 0 s");
	BAD(r.ban_max_s = 10, IPW_EAB_BAN_DURATION, "cap below the ban");
	BAD(r.agg_v4 = 1, IPW_EAB_AGG, "agg_v4 = 1");
	BAD(r.agg_v6 = 33, IPW_EAB_AGG, "agg_v6 = 33");
	BAD(r.ntypes = 0, IPW_EAB_NO_TYPES, "no types");
	BAD((r.types = bad_types, r.ntypes = 2), IPW_EAB_TYPE_NAME,
	    "type with an upper-case letter");
	BAD((r.types = long_type, r.ntypes = 1), IPW_EAB_TYPE_NAME,
	    "type name of 32 characters");
	BAD(r.name = "", IPW_EAB_RULE_NAME, "empty rule name");
	BAD(r.name = NULL, IPW_EAB_RULE_NAME, "no rule name");
	BAD(r.threshold = 64, 0, "N = 64 is accepted");
	ipwd_ab_free(ab);
	ab = NULL;
	o.budget_bytes = 4096;
	is_int(ipwd_ab_new(&ab, &o, &which), IPW_EAB_BUDGET, "budget 4 KiB");
	o.budget_bytes = 1 << 20;

	rr[0] = base_rule();
	rr[1] = base_rule();
	rr[1].window_ms = 0;
	o.rules = rr;
	o.nrules = 2;
	is_int(ipwd_ab_new(&ab, &o, &which), IPW_EAB_WINDOW_ZERO,
	       "second rule bad");
	is_int(which, 1, "the offending rule's index");
	// cppcheck-suppress unreadVariable ; read through o.rules
	rr[1] = base_rule();
	is_int(ipwd_ab_new(&ab, &o, &which), IPW_EAB_RULE_NAME,
	       "two rules of one name");
	o.nrules = 0;
	is_int(ipwd_ab_new(&ab, &o, &which), IPW_EAB_RULES, "no rules");
	o.nrules = IPWD_AB_RULES_MAX + 1;
	is_int(ipwd_ab_new(&ab, &o, &which), IPW_EAB_RULES, "33 rules");
	is_int(which, -1, "not one rule's fault");
	ok(ab == NULL, "nothing made on errors");

	/* unknown types, invalid sources */
	r = base_rule();
	ab = mk(&r, 1, 1 << 20);
	is_int(ipwd_ab_type_id(ab, "http_404"), IPW_EAB_TYPE_UNKNOWN,
	       "a type no rule counts");
	is_int(ipwd_ab_type_id(ab, "SSH_AUTH_FAIL"), IPW_EAB_TYPE_UNKNOWN,
	       "types are case-sensitive");
	is_int(ipwd_ab_type_id(ab, "ssh_auth_fail"), 0, "a known type");
	struct ipw_addr a = A("192.0.2.1"), p = A("192.0.2.0/24");
	int fired = 0;
	for (int i = 0; i < 10; i++)
		fired += ipwd_ab_event(ab, &a, IPWD_AB_TYPE_NONE, 1, dec, 8);
	is_int(fired, 0, "events of unknown type count for nothing");
	is_int(ipwd_ab_event(ab, &p, 0, 1, dec, 8), IPW_EINVAL,
	       "a prefix is not a source");
	struct ipwd_ab_stats st;
	ipwd_ab_stats(ab, &st);
	is_int(st.events_unknown, 10, "unknown-type events counted");
	is_int(st.events_invalid, 1, "invalid sources counted");
	is_int(st.events, 11, "all events counted");
	ipwd_ab_free(ab);
	ipwd_ab_free(NULL);
#undef BAD
}

static void test_cap(void)
{
	struct ipwd_ab_rule r = base_rule();
	struct ipwd_ab *ab;
	struct ipwd_ab_stats st;
	struct ipw_addr a;

	r.threshold = 2;
	r.agg_v4 = 2;
	ab = mk(&r, 1, 1 << 20);
	ev(ab, "198.51.100.1", 0);
	ev(ab, "198.51.100.1", 1);
	ev(ab, "198.51.100.2", 2);
	a = A("198.51.100.2");
	is_int(ipwd_ab_event(ab, &a, 0, 3, dec, 1), 1,
	       "room for one: one returned");
	ipwd_ab_stats(ab, &st);
	is_int(st.decisions_dropped, 1, "the /24 counted as dropped");
	ipwd_ab_free(ab);
}

/*
 * A tracked set full of sources with two events each: newcomers are
 * untracked (one-shots cannot displace them, even when a flood saturates
 * the sketch) until the sketch says one is heavier than the lightest entry
 * of its bucket by more than its noise floor.
 */
static void test_admission(void)
{
	struct ipwd_ab_rule r = base_rule();
	struct ipwd_ab *ab;
	struct ipwd_ab_stats st, fill;
	struct ipw_addr a;
	uint32_t nfill;
	int n, at = 0, later = 0;
	uint64_t seed = 11;

	r.threshold = 3;
	r.window_ms = 3600000;
	ab = mk(&r, 1, IPWD_AB_BUDGET_MIN);
	ipwd_ab_stats(ab, &st);
	nfill = (uint32_t)(st.tracked_slots * 6 / 5);
	for (uint32_t i = 0; i < nfill; i++) {
		ipw_addr_from_v4(&a, 0x0b000000u + i * 7, 32);
		ipwd_ab_event(ab, &a, 0, 1000 + i, dec, 8);
		ipwd_ab_event(ab, &a, 0, 1000 + i, dec, 8);
	}
	ipwd_ab_stats(ab, &fill);
	diag("%llu slots, %u sources, %llu inserts, %llu untracked, "
	     "%llu evictions",
	     (unsigned long long)fill.tracked_slots, nfill,
	     (unsigned long long)fill.tracked_inserts,
	     (unsigned long long)fill.untracked,
	     (unsigned long long)fill.tracked_evictions);
	ok(fill.untracked > 0, "%u sources of two events overfill %llu slots",
	   nfill, (unsigned long long)fill.tracked_slots);
	ok(fill.tracked_evictions <= fill.tracked_inserts / 100,
	   "ties on the sketch's noise displace (almost) nobody: %llu",
	   (unsigned long long)fill.tracked_evictions);
	/* a heavy newcomer gets in through the sketch and is decided */
	a = A("192.0.2.200");
	for (int i = 1; i <= 16 && !at; i++) {
		n = ipwd_ab_event(ab, &a, 0, 10000 + (uint64_t)i, dec, 8);
		if (n)
			at = i;
	}
	ipwd_ab_stats(ab, &st);
	ok(at >= 3 && at <= 16, "the heavy newcomer is decided (event %d)", at);
	ok(st.sketch_admissions > fill.sketch_admissions,
	   "by a sketch admission (%llu)",
	   (unsigned long long)st.sketch_admissions);
	/* 30 one-shots per slot: the sketch saturates, the set holds */
	fill = st;
	for (uint64_t i = 0; i < st.tracked_slots * 30; i++) {
		ipw_addr_from_v4(&a, 0x40000000u | (uint32_t)rnd(&seed) >> 3,
				 32);
		ipwd_ab_event(ab, &a, 0, 15000, dec, 8);
	}
	ipwd_ab_stats(ab, &st);
	diag("after the one-shot flood: %llu evictions, %llu sketch "
	     "admissions, %llu untracked",
	     (unsigned long long)(st.tracked_evictions -
				  fill.tracked_evictions),
	     (unsigned long long)(st.sketch_admissions -
				  fill.sketch_admissions),
	     (unsigned long long)(st.untracked - fill.untracked));
	is_int(st.sketch_admissions, fill.sketch_admissions,
	       "a one-shot flood displaced no source with two events");
	/* the tracked ones are still counted exactly: a third event fires */
	for (uint32_t i = 0; i < nfill; i++) {
		ipw_addr_from_v4(&a, 0x0b000000u + i * 7, 32);
		later += ipwd_ab_event(ab, &a, 0, 20000, dec, 8);
	}
	ok(later + 2 >= (int)(fill.tracked_inserts - 1 -
			      fill.tracked_evictions) &&
		   later <= (int)st.tracked_slots,
	   "%d sources decided at their 3rd event (%llu tracked)", later,
	   (unsigned long long)(fill.tracked_inserts - 1 -
				fill.tracked_evictions));
	ipwd_ab_free(ab);
}

/* ---- flood -------------------------------------------------------- */

static uint64_t rnd(uint64_t *s)
{
	uint64_t z = (*s += 0x9e3779b97f4a7c15ull);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

static size_t heap_bytes(void)
{
#ifdef HAVE_ASAN_ALLOC
	return __sanitizer_get_current_allocated_bytes();
#else
	return mallinfo2().uordblks;
#endif
}

#define OFFENDERS 12

struct offender {
	struct ipw_addr addr[5]; /* v6 ones rotate inside their /64 */
	uint64_t at[5];		 /* event times */
	int next;
	int decided_at; /* which event fired (1-based), 0: none */
};

static void test_flood(void)
{
	struct ipwd_ab_rule r = base_rule();
	struct ipwd_ab *ab;
	struct ipwd_ab_stats st;
	struct offender off[OFFENDERS];
	uint64_t seed = 7, nev = 10000000, other = 0, t;
	const size_t budget = 24u << 20;
	size_t heap0, heap1;
	const char *e = getenv("IPW_FLOOD_EVENTS");
	int decided = 0, exact = 0;

	if (e)
		nev = strtoull(e, NULL, 10);
	if (nev < 1000000)
		nev = 1000000; /* the offenders need 100 s of flood */
	/* breaker above the flood's rate: this is the tracked set's test */
	struct ipwd_ab_opts o = {
		.rules = &r,
		.nrules = 1,
		.budget_bytes = budget,
		.breaker_new_sources_per_s = 50000,
		.hash_key = {99, 100},
	};
	is_int(ipwd_ab_new(&ab, &o, NULL), 0, "flood: engine of 24 MiB");

	/* 10k events/s: the whole flood spans nev / 10 ms */
	for (int k = 0; k < OFFENDERS; k++) {
		struct offender *f = &off[k];
		uint64_t start = rnd(&seed) % (nev / 10 - 60000);

		memset(f, 0, sizeof(*f));
		for (int i = 0; i < 5; i++) {
			uint8_t b[16];
			uint64_t x = rnd(&seed);

			f->at[i] = start + (uint64_t)i * 14000; /* 56 s */
			if (k % 2 == 0) {
				ipw_addr_from_v4(&f->addr[i],
						 0x0a000000u | (uint32_t)k, 32);
			} else {
				memset(b, 0, sizeof(b));
				b[0] = 0x20;
				b[1] = 0x01;
				b[2] = 0x0d;
				b[3] = 0xb8;
				b[7] = (uint8_t)k;
				memcpy(b + 8, &x,
				       8); /* a new address each time */
				ipw_addr_from_v6(&f->addr[i], b, 128);
			}
		}
	}

	heap0 = heap_bytes();
	for (uint64_t i = 0; i < nev; i++) {
		struct ipw_addr a;
		uint64_t x = rnd(&seed);
		int n;

		t = i / 10;
		for (int k = 0; k < OFFENDERS; k++) {
			struct offender *f = &off[k];

			if (f->next >= 5 || f->at[f->next] > t)
				continue;
			n = ipwd_ab_event(ab, &f->addr[f->next], 0, t, dec,
					  IPWD_AB_DECISIONS_MAX);
			f->next++;
			for (int d = 0; d < n; d++) {
				struct ipw_addr want = f->addr[0];

				if (k % 2)
					ipw_addr_truncate(&want, &want, 64);
				if (ipw_addr_equal(&dec[d].target, &want)) {
					f->decided_at = f->next;
				} else {
					other++;
				}
			}
		}
		if (x & 1) {
			ipw_addr_from_v4(&a, (uint32_t)(x >> 32), 32);
		} else {
			uint8_t b[16];
			uint64_t y = rnd(&seed);

			memcpy(b, &x, 8);
			memcpy(b + 8, &y, 8);
			b[0] = 0x2a; /* global unicast, never the offenders' */
			ipw_addr_from_v6(&a, b, 128);
		}
		ipwd_ab_prefetch(ab, &a, 0); /* a hint: changes nothing */
		n = ipwd_ab_event(ab, &a, 0, t, dec, IPWD_AB_DECISIONS_MAX);
		if (n > 0) {
			other += (uint64_t)n;
			diag("random source decided: %s", fmt(&dec[0].target));
		}
	}
	heap1 = heap_bytes();
	for (int k = 0; k < OFFENDERS; k++) {
		decided += off[k].decided_at > 0;
		exact += off[k].decided_at == 5;
		if (off[k].decided_at != 5)
			diag("offender %d decided at event %d", k,
			     off[k].decided_at);
	}
	ipwd_ab_stats(ab, &st);
	diag("flood: %llu events, %llu slots, %llu inserts, %llu evictions, "
	     "%llu sketch admissions, %llu untracked, breaker trips %llu",
	     (unsigned long long)st.events,
	     (unsigned long long)st.tracked_slots,
	     (unsigned long long)st.tracked_inserts,
	     (unsigned long long)st.tracked_evictions,
	     (unsigned long long)st.sketch_admissions,
	     (unsigned long long)st.untracked,
	     (unsigned long long)st.breaker_trips);
	is_int(ipwd_ab_memory(ab), budget, "engine memory is its budget");
	is_int(st.bytes, budget, "stats agree");
	is_int((long long)heap1 - (long long)heap0, 0,
	       "no heap growth during %llu events", (unsigned long long)nev);
	is_int(decided, OFFENDERS, "every offender decided");
	is_int(exact, OFFENDERS, "each at exactly its 5th event");
	is_int(other, 0, "no random source decided");
	ok(st.tracked_evictions > 0,
	   "the tracked set was under pressure (%llu evictions)",
	   (unsigned long long)st.tracked_evictions);
	is_int(st.breaker_trips, 0, "the breaker stayed closed");
	ipwd_ab_free(ab);
}

/* ---- breaker ------------------------------------------------------ */

static void test_breaker(void)
{
	struct ipwd_ab_rule r = base_rule();
	struct ipwd_ab *ab;
	struct ipwd_ab_stats st;
	struct ipw_addr a;
	uint64_t seed = 3;
	int n, fired;

	r.threshold = 3;
	r.window_ms = 10000;
	struct ipwd_ab_opts o = {
		.rules = &r,
		.nrules = 1,
		.budget_bytes = 1 << 20,
		.breaker_new_sources_per_s = 100,
		.breaker_calm_ms = 3000,
		.hash_key = {5, 6},
	};
	is_int(ipwd_ab_new(&ab, &o, NULL), 0, "breaker engine");
#define RANDOM_SOURCES(count, t)                                             \
	do {                                                                 \
		for (int i_ = 0; i_ < (count); i_++) {                       \
			ipw_addr_from_v4(                                    \
				&a, 0x40000000u | (uint32_t)rnd(&seed) >> 3, \
				32);                                         \
			ipwd_ab_event(ab, &a, 0, (t), dec, 8);               \
		}                                                            \
	} while (0)

	/* a tracked source with two events before the flood */
	ev(ab, "192.0.2.10", 0);
	ev(ab, "192.0.2.10", 1);
	RANDOM_SOURCES(99, 2); /* 100 new sources in second 0 */
	ok(!ipwd_ab_breaker_open(ab), "100 new sources in a second: closed");
	RANDOM_SOURCES(1, 3);
	ok(ipwd_ab_breaker_open(ab), "the 101st opens it");
	ipwd_ab_stats(ab, &st);
	is_int(st.breaker_trips, 1, "one trip");
	is_int(st.breaker_open, 1, "state exposed");

	/* open: a tracked source is still counted exactly */
	n = ev(ab, "192.0.2.10", 500);
	ok(n == 1 && dec[0].scope == IPWD_AB_SCOPE_SOURCE,
	   "a source tracked before keeps its exact count");
	is_str(fmt(&dec[0].target), "192.0.2.10", "and is decided alone");

	/* open: a new source is counted on its /24 only */
	fired = ev(ab, "198.51.100.20", 600) + ev(ab, "198.51.100.21", 601);
	is_int(fired, 0, "two events in a /24: nothing");
	n = ev(ab, "198.51.100.22", 602);
	is_int(n, 1, "the third event in the /24 decides the /24");
	is_str(fmt(&dec[0].target), "198.51.100.0/24", "target: the /24");
	ok(dec[0].scope == IPWD_AB_SCOPE_BREAKER && dec[0].aggregated,
	   "marked as a breaker decision");
	ev(ab, "2001:db8:7:1::1", 700);
	ev(ab, "2001:db8:7:2::1", 701);
	n = ev(ab, "2001:db8:7:3::1", 702);
	ok(n == 1 && strcmp(fmt(&dec[0].target), "2001:db8:7::/48") == 0,
	   "IPv6 is counted per /48 while open: %s",
	   n ? fmt(&dec[0].target) : "-");
	ipwd_ab_stats(ab, &st);
	ok(st.shed >= 6, "shed events counted: %llu",
	   (unsigned long long)st.shed);

	/* seconds 1, 2: 60 new a second (over half): stays open */
	RANDOM_SOURCES(60, 1000);
	RANDOM_SOURCES(60, 2000);
	RANDOM_SOURCES(10, 3000);
	ok(ipwd_ab_breaker_open(ab), "60/s is over half the limit: open");
	/* calm seconds 3, 4, 5 with 10 each; closes once 3 s are past */
	RANDOM_SOURCES(10, 4000);
	RANDOM_SOURCES(10, 5000);
	ok(ipwd_ab_breaker_open(ab), "2 calm seconds: still open");
	RANDOM_SOURCES(1, 6000);
	ok(!ipwd_ab_breaker_open(ab), "3 calm seconds: closed again");
	ipwd_ab_stats(ab, &st);
	is_int(st.breaker_open, 0, "state exposed");

	/* closed: per-source counting again */
	ev(ab, "203.0.113.30", 7000);
	ev(ab, "203.0.113.31", 7001);
	is_int(ev(ab, "203.0.113.32", 7002), 0,
	       "closed: three sources of a /24 are three sources");
	ev(ab, "203.0.113.30", 7003);
	n = ev(ab, "203.0.113.30", 7004);
	ok(n == 1 && strcmp(fmt(&dec[0].target), "203.0.113.30") == 0,
	   "and a source is decided alone");

	/* a long quiet gap closes it too */
	RANDOM_SOURCES(150, 10000);
	ok(ipwd_ab_breaker_open(ab), "opened again");
	RANDOM_SOURCES(1, 20000);
	ok(!ipwd_ab_breaker_open(ab), "closed after 9 quiet seconds");
	ipwd_ab_stats(ab, &st);
	is_int(st.breaker_trips, 2, "two trips");
#undef RANDOM_SOURCES
	ipwd_ab_free(ab);
}

int main(void)
{
	test_threshold();
	test_sliding();
	test_escalation();
	test_aggregation();
	test_exempt();
	test_dry_run();
	test_errors();
	test_cap();
	test_admission();
	test_breaker();
	test_flood();
	return done_testing();
}
