// SPDX-License-Identifier: MIT
/*
 * Unit tests of ipwalld's Prometheus metrics (src/daemon/api/metrics.h).
 * Two threads count a known script of events at the same time (each into
 * its own shard) and exit, and a real write path (oplog/ops.h, memory
 * only) applies a known list of ops, expiries included; the /metrics body
 * rendered from a real table must then hold the exact expected sample
 * lines: counters summed over both
 * threads, histogram buckets cumulative with +Inf equal to _count and
 * values on a bucket's bound counted in it, label values for unknown
 * statuses folded to "other", and ipwall_entries matching the entries
 * added to the table. Every line of the body is checked against the
 * Prometheus text format (0.0.4) by a small validator: comment syntax, a
 * TYPE before each family's samples, metric and label name syntax, label
 * value escapes, a float value, no series twice.
 */
#include <pthread.h>
#include <regex.h>
#include <stdint.h>
#include <time.h>

#include <ipwall/table.h>

#include "api/metrics.h"
#include "oplog/ops.h"
#include "tap.h"

/* ---- the script each thread plays ---- */

struct event {
	enum { CHECK, WRITE, REJECTED, HTTP } kind;
	int a;	    /* reason / action / route / apierr */
	int b;	    /* change / method */
	uint64_t n; /* ns / count / status */
	int times;
};

/* clang-format off */
static const struct event script_a[] = {
	{ CHECK, IPW_VERDICT_NO_MATCH, 0, 500, 3 },
	{ CHECK, IPW_VERDICT_BANNED, 0, 1000, 2 },     /* on the 1e-06 bound */
	{ CHECK, IPW_VERDICT_ALLOWED, 0, 30000000, 1 }, /* past 0.025: +Inf */
	{ WRITE, IPWD_WRITE_BAN, 0, 2000, 2 },
	{ WRITE, IPWD_WRITE_UNBAN, 0, 6000000000ull, 1 }, /* past 5 s: +Inf */
	{ WRITE, IPWD_WRITE_COUNT, 0, 100, 1 },	/* out of range: ignored */
	{ REJECTED, IPWD_E_INVALID_TTL, 0, 0, 2 },
	{ HTTP, IPWD_ROUTE_CHECK, IPWD_METHOD_GET, 200, 3 },
	{ HTTP, IPWD_ROUTE_OTHER, IPWD_METHOD_OTHER, 418, 1 },
};
static const struct event script_b[] = {
	{ CHECK, IPW_VERDICT_NOT_ALLOWED, 0, 2500, 1 }, /* on the 2.5e-06 bound */
	{ CHECK, IPW_VERDICT_NO_MATCH, 0, 1001, 1 },    /* just past 1e-06 */
	{ WRITE, IPWD_WRITE_BAN, 0, 5000, 1 },		 /* on the 5e-06 bound */
	{ REJECTED, IPWD_E_INVALID_TTL, 0, 0, 1 },
	{ REJECTED, IPWD_E_UNAUTHORIZED, 0, 0, 1 },
	{ HTTP, IPWD_ROUTE_CHECK, IPWD_METHOD_GET, 200, 2 },
	{ HTTP, IPWD_ROUTE_BANS, IPWD_METHOD_POST, 201, 1 },
	{ HTTP, IPWD_ROUTE_MODE, IPWD_METHOD_PUT, 503, 1 },
};
/* clang-format on */

struct player {
	const struct event *ev;
	size_t n;
	pthread_barrier_t *start;
};

static void play(const struct event *e)
{
	for (int i = 0; i < e->times; i++) {
		switch (e->kind) {
		case CHECK: {
			struct ipw_verdict v = {.reason = (uint8_t)e->a};

			ipwd_metric_check(&v, e->n);
			break;
		}
		case WRITE:
			ipwd_metric_write((enum ipwd_write_kind)e->a, e->n);
			break;
		case REJECTED:
			ipwd_metric_rejected((enum ipwd_apierr)e->a);
			break;
		case HTTP:
			ipwd_metric_http((enum ipwd_route)e->a,
					 (enum ipwd_method)e->b,
					 (unsigned)e->n);
			break;
		}
	}
}

static void *player_main(void *arg)
{
	struct player *p = arg;

	pthread_barrier_wait(p->start);
	for (size_t i = 0; i < p->n; i++)
		play(&p->ev[i]);
	return NULL;
}

/* ---- the Prometheus text format ---- */

#define NAME  "[a-zA-Z_:][a-zA-Z0-9_:]*"
#define LNAME "[a-zA-Z_][a-zA-Z0-9_]*"
#define LVAL  "\"([^\"\\\\\n]|\\\\[\\\\\"n])*\""
#define LABEL LNAME "=" LVAL

static regex_t re_sample, re_help, re_type;

static void compile_res(void)
{
	if (regcomp(&re_sample,
		    "^(" NAME ")(\\{(" LABEL "(," LABEL ")*,?)?\\})? "
		    "([^ ]+)( -?[0-9]+)?$",
		    REG_EXTENDED) ||
	    regcomp(&re_help, "^# HELP (" NAME ") .*$", REG_EXTENDED) ||
	    regcomp(&re_type,
		    "^# TYPE (" NAME ") (counter|gauge|histogram|summary|"
		    "untyped)$",
		    REG_EXTENDED))
		abort();
}

static bool float_ok(const char *s)
{
	char *end;

	if (!strcmp(s, "+Inf") || !strcmp(s, "-Inf") || !strcmp(s, "NaN"))
		return true;
	strtod(s, &end);
	return end != s && *end == '\0';
}

struct family {
	char name[128];
	char type[16];
	bool helped;
};

/*
 * Check every line of @body. Returns the number of bad lines (each one
 * reported as a diagnostic).
 */
static int validate(const char *body, size_t len, size_t *samples)
{
	struct family fam[64];
	size_t nfam = 0, nseries = 0, cap = 4096;
	char **series = malloc(cap * sizeof(*series));
	const char *s = body, *end = body + len;
	int bad = 0, lineno = 0;

	if (series == NULL)
		abort();
	*samples = 0;
	if (len == 0 || body[len - 1] != '\n') {
		diag("the body does not end with a newline");
		bad++;
	}
	while (s < end) {
		const char *nl = memchr(s, '\n', (size_t)(end - s));
		size_t ll = nl ? (size_t)(nl - s) : (size_t)(end - s);
		char line[1024], name[128];
		regmatch_t m[16];
		size_t i;

		lineno++;
		if (ll >= sizeof(line)) {
			diag("line %d: too long", lineno);
			bad++;
			goto next;
		}
		memcpy(line, s, ll);
		line[ll] = '\0';
		if (line[0] == '#') {
			bool help = regexec(&re_help, line, 2, m, 0) == 0;
			bool type =
				!help && regexec(&re_type, line, 3, m, 0) == 0;

			if (!help && !type) {
				diag("line %d: bad comment: %s", lineno, line);
				bad++;
				goto next;
			}
			snprintf(name, sizeof(name), "%.*s",
				 (int)(m[1].rm_eo - m[1].rm_so),
				 line + m[1].rm_so);
			for (i = 0; i < nfam; i++)
				if (strcmp(fam[i].name, name) == 0)
					break;
			if (i == nfam) {
				if (nfam == 64)
					abort();
				memset(&fam[nfam], 0, sizeof(fam[0]));
				snprintf(fam[nfam].name, sizeof(fam[0].name),
					 "%s", name);
				nfam++;
			}
			if (help) {
				if (fam[i].helped || fam[i].type[0]) {
					diag("line %d: HELP for %s twice or "
					     "after its TYPE",
					     lineno, name);
					bad++;
				}
				fam[i].helped = true;
			} else {
				if (fam[i].type[0]) {
					diag("line %d: TYPE for %s twice",
					     lineno, name);
					bad++;
				}
				snprintf(fam[i].type, sizeof(fam[i].type),
					 "%.*s", (int)(m[2].rm_eo - m[2].rm_so),
					 line + m[2].rm_so);
			}
			goto next;
		}
		if (regexec(&re_sample, line, 16, m, 0) != 0) {
			diag("line %d: not `name{labels} value`: %s", lineno,
			     line);
			bad++;
			goto next;
		}
		(*samples)++;
		{
			char val[64];
			const char *sp = strrchr(line, ' ');

			/* the value: after the last space (no timestamps
			 * here) */
			snprintf(val, sizeof(val), "%s", sp + 1);
			if (!float_ok(val)) {
				diag("line %d: value \"%s\" is not a float",
				     lineno, val);
				bad++;
			}
		}
		snprintf(name, sizeof(name), "%.*s",
			 (int)(m[1].rm_eo - m[1].rm_so), line + m[1].rm_so);
		/* its family: the name, or for a histogram the name less
		 * _bucket, _sum or _count; declared by a TYPE before it */
		for (i = 0; i < nfam; i++) {
			size_t fl = strlen(fam[i].name);

			if (strcmp(fam[i].name, name) == 0 && fam[i].type[0] &&
			    strcmp(fam[i].type, "histogram") != 0)
				break;
			if (strncmp(fam[i].name, name, fl) == 0 &&
			    strcmp(fam[i].type, "histogram") == 0 &&
			    (!strcmp(name + fl, "_bucket") ||
			     !strcmp(name + fl, "_sum") ||
			     !strcmp(name + fl, "_count")))
				break;
		}
		if (i == nfam) {
			diag("line %d: %s has no TYPE line before it", lineno,
			     name);
			bad++;
		} else if (i != nfam - 1) {
			diag("line %d: %s is not next to the rest of its "
			     "family",
			     lineno, name);
			bad++;
		}
		/* no series twice (the name and labels, without the
		 * value) */
		{
			size_t kl = (size_t)(strrchr(line, ' ') - line);

			for (i = 0; i < nseries; i++)
				if (strlen(series[i]) == kl &&
				    memcmp(series[i], line, kl) == 0)
					break;
			if (i < nseries) {
				diag("line %d: series %.*s twice", lineno,
				     (int)kl, line);
				bad++;
			} else {
				if (nseries == cap) {
					char **t = realloc(
						series,
						(cap *= 2) * sizeof(*series));

					if (t == NULL)
						abort();
					series = t;
				}
				series[nseries] = strndup(line, kl);
				nseries++;
			}
		}
	next:
		s += ll + 1;
	}
	for (size_t i = 0; i < nseries; i++)
		free(series[i]);
	free(series);
	return bad;
}

/* The value of the sample line that starts with @series + " ", or -1. */
static double value_of(const char *body, const char *series)
{
	size_t sl = strlen(series);
	const char *s = body;

	while (s && *s) {
		if (strncmp(s, series, sl) == 0 && s[sl] == ' ')
			return strtod(s + sl + 1, NULL);
		s = strchr(s, '\n');
		if (s)
			s++;
	}
	return -1;
}

/* Whether @body holds the exact line @line. */
static bool has_line(const char *body, const char *line)
{
	size_t ll = strlen(line);
	const char *s = body;

	while (s && *s) {
		if (strncmp(s, line, ll) == 0 && (s[ll] == '\n' || !s[ll]))
			return true;
		s = strchr(s, '\n');
		if (s)
			s++;
	}
	return false;
}

static size_t count_prefix(const char *body, const char *prefix)
{
	size_t pl = strlen(prefix), n = 0;
	const char *s = body;

	while (s && *s) {
		if (strncmp(s, prefix, pl) == 0)
			n++;
		s = strchr(s, '\n');
		if (s)
			s++;
	}
	return n;
}

/* clang-format off */
static const char *const expected[] = {
	/* checks: both threads summed */
	"ipwall_checks_total{verdict=\"admitted\",reason=\"no_match\"} 4",
	"ipwall_checks_total{verdict=\"blocked\",reason=\"banned\"} 2",
	"ipwall_checks_total{verdict=\"admitted\",reason=\"allowed\"} 1",
	"ipwall_checks_total{verdict=\"blocked\",reason=\"not_allowed\"} 1",
	/* check latency: 5 at <= 1 us (3 x 500 ns, 2 x 1000 ns), 2 more at
	 * <= 2.5 us (1001, 2500), one past 25 ms */
	"ipwall_check_duration_seconds_bucket{le=\"1e-06\"} 5",
	"ipwall_check_duration_seconds_bucket{le=\"2.5e-06\"} 7",
	"ipwall_check_duration_seconds_bucket{le=\"5e-06\"} 7",
	"ipwall_check_duration_seconds_bucket{le=\"0.0001\"} 7",
	"ipwall_check_duration_seconds_bucket{le=\"0.025\"} 7",
	"ipwall_check_duration_seconds_bucket{le=\"+Inf\"} 8",
	"ipwall_check_duration_seconds_count 8",
	"ipwall_check_duration_seconds_sum 0.030007001",
	/* write latency of bans: 2 x 2 us, 1 x 5 us (on the bound) */
	"ipwall_write_duration_seconds_bucket{action=\"ban\",le=\"1e-06\"} 0",
	"ipwall_write_duration_seconds_bucket{action=\"ban\",le=\"5e-06\"} 3",
	"ipwall_write_duration_seconds_bucket{action=\"ban\",le=\"5\"} 3",
	"ipwall_write_duration_seconds_bucket{action=\"ban\",le=\"+Inf\"} 3",
	"ipwall_write_duration_seconds_count{action=\"ban\"} 3",
	"ipwall_write_duration_seconds_sum{action=\"ban\"} 0.000009000",
	/* one unban of 6 s: only in +Inf */
	"ipwall_write_duration_seconds_bucket{action=\"unban\",le=\"5\"} 0",
	"ipwall_write_duration_seconds_bucket{action=\"unban\",le=\"+Inf\"} 1",
	"ipwall_write_duration_seconds_count{action=\"unban\"} 1",
	"ipwall_write_duration_seconds_sum{action=\"unban\"} 6.000000000",
	/* no allows, but the series exist */
	"ipwall_write_duration_seconds_bucket{action=\"allow\",le=\"+Inf\"} 0",
	"ipwall_write_duration_seconds_count{action=\"allow\"} 0",
	"ipwall_write_duration_seconds_sum{action=\"allow\"} 0.000000000",
	"ipwall_write_duration_seconds_count{action=\"batch\"} 0",
	/* ops (the write path's, below) */
	"ipwall_ops_total{action=\"ban\",result=\"added\"} 10",
	"ipwall_ops_total{action=\"ban\",result=\"extended\"} 1",
	"ipwall_ops_total{action=\"ban\",result=\"unchanged\"} 0",
	"ipwall_ops_total{action=\"unban\",result=\"removed\"} 0",
	"ipwall_ops_total{action=\"unban\",result=\"absent\"} 1",
	"ipwall_ops_total{action=\"allow\",result=\"added\"} 0",
	"ipwall_ops_total{action=\"disallow\",result=\"removed\"} 0",
	"ipwall_ops_total{action=\"mode\",result=\"changed\"} 1",
	"ipwall_ops_total{action=\"mode\",result=\"unchanged\"} 0",
	"ipwall_ops_total{action=\"expire\",result=\"removed\"} 3",
	"ipwall_ops_total{action=\"evict\",result=\"removed\"} 0",
	/* rejections, by code */
	"ipwall_writes_rejected_total{reason=\"invalid_ttl\"} 3",
	"ipwall_writes_rejected_total{reason=\"unauthorized\"} 1",
	"ipwall_writes_rejected_total{reason=\"invalid_json\"} 0",
	"ipwall_writes_rejected_total{reason=\"shutting_down\"} 0",
	"ipwall_expirations_total 3",
	"ipwall_store_commits_total 0",
	"ipwall_store_committed_ops_total 0",
	/* HTTP: only the series that were counted */
	"ipwall_http_requests_total{route=\"/v1/check\",method=\"GET\",status=\"200\"} 5",
	"ipwall_http_requests_total{route=\"/v1/bans\",method=\"POST\",status=\"201\"} 1",
	"ipwall_http_requests_total{route=\"/v1/mode\",method=\"PUT\",status=\"503\"} 1",
	"ipwall_http_requests_total{route=\"other\",method=\"other\",status=\"other\"} 1",
	/* the table */
	"ipwall_entries{list=\"bans\",family=\"ipv4\"} 3",
	"ipwall_entries{list=\"bans\",family=\"ipv6\"} 1",
	"ipwall_entries{list=\"allows\",family=\"ipv4\"} 2",
	"ipwall_entries{list=\"allows\",family=\"ipv6\"} 0",
	"ipwall_table_max_entries 1000",
	"ipwall_table_rekeys_total 0",
	/* the families, typed */
	"# TYPE ipwall_checks_total counter",
	"# TYPE ipwall_check_duration_seconds histogram",
	"# TYPE ipwall_write_duration_seconds histogram",
	"# TYPE ipwall_ops_total counter",
	"# TYPE ipwall_writes_rejected_total counter",
	"# TYPE ipwall_expirations_total counter",
	"# TYPE ipwall_http_requests_total counter",
	"# TYPE ipwall_entries gauge",
	"# TYPE ipwall_table_max_entries gauge",
	"# TYPE ipwall_table_index_bytes gauge",
	"# TYPE ipwall_table_entry_bytes gauge",
	"# TYPE ipwall_table_rekeys_total counter",
	"# TYPE ipwall_start_time_seconds gauge",
};
/* clang-format on */

static int add(struct ipw_table *t, enum ipw_list list, const char *target)
{
	struct ipw_entry_spec s = {.list = list};

	if (ipw_addr_parse_str(target, 0, &s.target) != 0)
		return -1;
	return ipw_table_add(t, &s, NULL, NULL, NULL);
}

/* The write path's table runs on this clock, so entries can expire on
 * demand. */
static int64_t fake_now;

static int64_t fake_clock(void *ctx)
{
	(void)ctx;
	return __atomic_load_n(&fake_now, __ATOMIC_RELAXED);
}

static int apply(struct ipwd_ops *o, enum ipwd_action a, const char *target,
		 int64_t expires, enum ipw_change *what)
{
	struct ipwd_op op = {.action = a, .actor = "test"};

	op.spec.list = ipwd_action_list(a);
	op.spec.expires = expires;
	if (a == IPWD_ACT_MODE)
		op.mode = IPW_MODE_ALLOWLIST;
	else if (ipw_addr_parse_str(target, 0, &op.spec.target) != 0)
		return -1;
	return ipwd_ops_apply(o, &op, what, NULL);
}

/* The ops behind the expected ipwall_ops_total lines: 10 bans added (3
 * of them expire), 1 extended, 1 absent unban, 1 mode switch, 3
 * expiries. Returns the number that did not do what they should. */
static int script_ops(struct ipwd_ops *o, int64_t now)
{
	enum ipw_change w;
	char a[32];
	int bad = 0, i;

	for (i = 0; i < 6; i++) {
		snprintf(a, sizeof(a), "192.0.2.%d", i + 1);
		bad += apply(o, IPWD_ACT_BAN, a, 0, &w) ||
		       w != IPW_CHANGE_ADDED;
	}
	bad += apply(o, IPWD_ACT_BAN, "192.0.2.100", now + 100, &w) ||
	       w != IPW_CHANGE_ADDED;
	bad += apply(o, IPWD_ACT_BAN, "192.0.2.100", now + 200, &w) ||
	       w != IPW_CHANGE_EXTENDED;
	bad += apply(o, IPWD_ACT_UNBAN, "198.51.100.1", 0, &w) ||
	       w != IPW_CHANGE_ABSENT;
	bad += apply(o, IPWD_ACT_MODE, NULL, 0, &w) || w != IPW_CHANGE_MODE;
	for (i = 0; i < 3; i++) {
		snprintf(a, sizeof(a), "2001:db8::%d", i + 1);
		bad += apply(o, IPWD_ACT_BAN, a, now + 10, &w) ||
		       w != IPW_CHANGE_ADDED;
	}
	__atomic_store_n(&fake_now, now + 60, __ATOMIC_RELAXED);
	bad += ipwd_ops_purge(o) != 3;
	return bad;
}

/* Every histogram series: buckets non-decreasing, +Inf == _count. */
static void check_histograms(const char *body)
{
	static const char *const series[] = {
		"ipwall_check_duration_seconds|",
		"ipwall_write_duration_seconds|action=\"ban\"",
		"ipwall_write_duration_seconds|action=\"unban\"",
		"ipwall_write_duration_seconds|action=\"allow\"",
		"ipwall_write_duration_seconds|action=\"disallow\"",
		"ipwall_write_duration_seconds|action=\"mode\"",
		"ipwall_write_duration_seconds|action=\"batch\"",
	};

	for (size_t i = 0; i < sizeof(series) / sizeof(series[0]); i++) {
		const char *bar = strchr(series[i], '|');
		char name[64], labels[64], prefix[160], count[160];
		const char *s = body;
		double prev = -1, inf = -1, le_prev = -1;
		bool monotone = true, les_increase = true;
		size_t nb = 0;

		snprintf(name, sizeof(name), "%.*s", (int)(bar - series[i]),
			 series[i]);
		snprintf(labels, sizeof(labels), "%s", bar + 1);
		snprintf(prefix, sizeof(prefix), "%s_bucket{%s%sle=\"", name,
			 labels, labels[0] ? "," : "");
		if (labels[0])
			snprintf(count, sizeof(count), "%s_count{%s}", name,
				 labels);
		else
			snprintf(count, sizeof(count), "%s_count", name);
		while (s && *s) {
			if (strncmp(s, prefix, strlen(prefix)) == 0) {
				const char *le = s + strlen(prefix);
				const char *sp = strchr(le, ' ');
				double v = strtod(sp + 1, NULL);

				if (strncmp(le, "+Inf\"", 5) == 0) {
					inf = v;
				} else {
					double b = strtod(le, NULL);

					if (b <= le_prev)
						les_increase = false;
					le_prev = b;
				}
				if (v < prev)
					monotone = false;
				prev = v;
				nb++;
			}
			s = strchr(s, '\n');
			if (s)
				s++;
		}
		ok(nb > 1 && monotone && les_increase && inf >= 0 &&
			   inf == value_of(body, count),
		   "histogram %s{%s}: %zu buckets, increasing bounds, "
		   "cumulative, +Inf == _count",
		   name, labels, nb);
	}
}

static void test_render(void)
{
	struct ipw_table_opts opts = {.max_entries = 1000};
	struct ipw_table_opts oopts = {.max_entries = 1000,
				       .clock = fake_clock};
	struct ipw_table *ot = NULL;
	struct ipwd_ops *ops = NULL;
	pthread_barrier_t start;
	struct player pa = {script_a, sizeof(script_a) / sizeof(script_a[0]),
			    &start};
	struct player pb = {script_b, sizeof(script_b) / sizeof(script_b[0]),
			    &start};
	struct ipw_table *t = NULL;
	pthread_t ta, tb;
	size_t len = 0, samples, n;
	int64_t t0, t1;
	char *body, *again, line[160];
	int bad;

	t0 = (int64_t)time(NULL);
	ipwd_metrics_init();
	t1 = (int64_t)time(NULL);
	if (ipw_table_new(&t, &opts) != 0)
		abort();
	ok(add(t, IPW_LIST_BAN, "192.0.2.1") == 0 &&
		   add(t, IPW_LIST_BAN, "192.0.2.2") == 0 &&
		   add(t, IPW_LIST_BAN, "198.51.100.0/24") == 0 &&
		   add(t, IPW_LIST_BAN, "2001:db8::/32") == 0 &&
		   add(t, IPW_LIST_ALLOW, "10.0.0.0/8") == 0 &&
		   add(t, IPW_LIST_ALLOW, "203.0.113.7") == 0,
	   "table: 4 bans (3 IPv4, 1 IPv6) and 2 IPv4 allows added");

	fake_now = (int64_t)time(NULL);
	if (ipw_table_new(&ot, &oopts) != 0 ||
	    ipwd_ops_new(&ops, ot, "test", NULL, NULL) != 0)
		abort();
	is_int(script_ops(ops, fake_now), 0,
	       "the write path applied the scripted ops as expected");

	pthread_barrier_init(&start, NULL, 2);
	pthread_create(&ta, NULL, player_main, &pa);
	pthread_create(&tb, NULL, player_main, &pb);
	pthread_join(ta, NULL);
	pthread_join(tb, NULL);
	pthread_barrier_destroy(&start);

	body = ipwd_metrics_render(t, ops, &len);
	if (!ok(body != NULL, "ipwd_metrics_render() returns a body")) {
		ipw_table_free(t);
		return;
	}
	is_int(len, strlen(body), "*len is the body's length");

	bad = validate(body, len, &samples);
	is_int(bad, 0, "every line is valid Prometheus text (%zu samples)",
	       samples);
	for (size_t i = 0; i < sizeof(expected) / sizeof(expected[0]); i++) {
		bool found = has_line(body, expected[i]);

		ok(found, "line: %s", expected[i]);
		if (!found) {
			const char *sp = strrchr(expected[i], ' ');
			char key[160];

			snprintf(key, sizeof(key), "%.*s",
				 (int)(sp - expected[i]), expected[i]);
			if (expected[i][0] != '#')
				diag("got %s = %g", key, value_of(body, key));
		}
	}
	n = count_prefix(body, "ipwall_http_requests_total{");
	is_int(n, 4, "only the 4 HTTP series counted are rendered");
	n = count_prefix(body, "ipwall_writes_rejected_total{");
	is_int(n, IPWD_E_COUNT, "one rejection series per error code");
	n = count_prefix(body, "ipwall_ops_total{");
	is_int(n, 14, "14 (action, result) op series");
	n = count_prefix(body, "ipwall_check_duration_seconds_bucket{");
	is_int(n, 13, "check latency: 12 bounds + Inf");
	n = count_prefix(body,
			 "ipwall_write_duration_seconds_bucket{action=\"ban\"");
	is_int(n, 15, "write latency: 14 bounds + Inf");
	ok(count_prefix(body, "ipwall_write_duration_seconds_count{action="
			      "\"expire\"}") == 0 &&
		   count_prefix(body, "ipwall_write_duration_seconds_count{"
				      "action=\"evict\"}") == 0,
	   "no write latency series for expire and evict");
	{
		double st = value_of(body, "ipwall_start_time_seconds");

		ok(st >= (double)t0 && st <= (double)t1,
		   "ipwall_start_time_seconds is the time of "
		   "ipwd_metrics_init() (%.0f)",
		   st);
	}
	ok(value_of(body, "ipwall_table_index_bytes") > 0 &&
		   value_of(body, "ipwall_table_entry_bytes") > 0,
	   "table memory gauges are positive");
	check_histograms(body);

	/* A scrape resets nothing; later counts add up. */
	again = ipwd_metrics_render(t, ops, &len);
	ok(again && strcmp(again, body) == 0,
	   "a second scrape with no new counts is the same body");
	free(again);
	{
		enum ipw_change w;
		int64_t now = fake_clock(NULL);

		ok(apply(ops, IPWD_ACT_BAN, "203.0.113.1", now + 5, &w) == 0 &&
			   apply(ops, IPWD_ACT_BAN, "203.0.113.2", now + 5,
				 &w) == 0,
		   "two more bans that expire");
		__atomic_store_n(&fake_now, now + 10, __ATOMIC_RELAXED);
		is_int(ipwd_ops_purge(ops), 2, "they expire");
	}
	ipwd_metric_rejected(IPWD_E_INVALID_TTL);
	ipwd_metric_http(IPWD_ROUTE_CHECK, IPWD_METHOD_GET, 200);
	ipwd_metric_http(IPWD_ROUTE_CHECK, IPWD_METHOD_GET, 403);
	ipwd_metric_http(IPWD_ROUTE_CHECK, IPWD_METHOD_GET, 0);
	add(t, IPW_LIST_ALLOW, "2001:db8:1::/48");
	free(body);
	body = ipwd_metrics_render(t, ops, &len);
	if (body == NULL)
		abort();
	ok(has_line(body, "ipwall_expirations_total 5"),
	   "later expiries add to the count");
	{
		double c = value_of(body,
				    "ipwall_oplog_committer_cpu_seconds_total");

		ok(c > 0 && c < 60,
		   "the committer's CPU time is counted (%.6f s after its "
		   "groups)",
		   c);
	}
	ok(has_line(body,
		    "ipwall_writes_rejected_total{reason=\"invalid_ttl\"} 4"),
	   "rejections: 3 + 1");
	ok(has_line(body, "ipwall_http_requests_total{route=\"/v1/check\","
			  "method=\"GET\",status=\"200\"} 6"),
	   "http 200: 5 + 1");
	ok(has_line(body, "ipwall_http_requests_total{route=\"/v1/check\","
			  "method=\"GET\",status=\"403\"} 1"),
	   "http 403 has its own label value");
	ok(has_line(body, "ipwall_http_requests_total{route=\"/v1/check\","
			  "method=\"GET\",status=\"other\"} 1"),
	   "an unknown status (0) is \"other\"");
	snprintf(line, sizeof(line),
		 "ipwall_entries{list=\"allows\",family=\"ipv6\"} 1");
	ok(has_line(body, line), "ipwall_entries follows the table");
	bad = validate(body, len, &samples);
	is_int(bad, 0, "the later body is valid Prometheus text too");
	free(body);
	ipwd_ops_free(ops);
	ipw_table_free(ot);
	ipw_table_free(t);
}

static void test_names(void)
{
	static const struct {
		const char *in;
		enum ipwd_method m;
	} methods[] = {
		{"GET", IPWD_METHOD_GET},     {"POST", IPWD_METHOD_POST},
		{"PUT", IPWD_METHOD_PUT},     {"DELETE", IPWD_METHOD_DELETE},
		{"get", IPWD_METHOD_OTHER},   {"HEAD", IPWD_METHOD_OTHER},
		{"PATCH", IPWD_METHOD_OTHER}, {"", IPWD_METHOD_OTHER},
		{"GETX", IPWD_METHOD_OTHER},  {"other", IPWD_METHOD_OTHER},
	};
	static const char *const routes[IPWD_ROUTE_COUNT] = {
		"/v1/check",   "/v1/bans",    "/v1/bans/batch",	   "/v1/allow",
		"/v1/mode",    "/v1/top",     "/v1/stats",	   "/healthz",
		"/metrics",    "/v1/history", "/v1/history/count", "/v1/events",
		"/v1/cluster", "other",
	};
	static const char *const actions[IPWD_ACT_COUNT] = {
		"ban", "unban", "allow", "disallow", "mode", "expire", "evict",
	};

	for (size_t i = 0; i < sizeof(methods) / sizeof(methods[0]); i++)
		is_int(ipwd_method_of(methods[i].in), methods[i].m,
		       "ipwd_method_of(\"%s\")", methods[i].in);
	for (int r = 0; r < IPWD_ROUTE_COUNT; r++)
		is_str(ipwd_route_name((enum ipwd_route)r), routes[r],
		       "ipwd_route_name(%d)", r);
	for (int a = 0; a < IPWD_ACT_COUNT; a++)
		is_str(ipwd_action_name((enum ipwd_action)a), actions[a],
		       "ipwd_action_name(%d)", a);
}

/* The validator itself refuses what it should. */
static void test_validator(void)
{
	static const struct {
		const char *body;
		int bad;
	} v[] = {
		{"# TYPE a counter\na 1\n", 0},
		{"# HELP a x\n# TYPE a counter\na{b=\"c\",d=\"e\\\"\"} 1.5e-06\n",
		 0},
		{"# TYPE h histogram\nh_bucket{le=\"+Inf\"} 1\nh_sum 0.5\n"
		 "h_count 1\n",
		 0},
		{"a 1\n", 1},				  /* no TYPE */
		{"# TYPE a counter\na{b=c} 1\n", 1},	  /* unquoted */
		{"# TYPE a counter\na{1b=\"c\"} 1\n", 1}, /* label name */
		{"# TYPE a counter\na one\n", 1},	  /* value */
		{"# TYPE a counter\na  1\n", 1},	  /* two spaces */
		{"# TYPE a counter\na 1\na 2\n", 1},	  /* twice */
		{"# TYPE a counter\na 1", 1},		  /* no final newline */
		{"# TYPE a counter\n# TYPE a gauge\na 1\n", 1},
		{"# TYPE a countr\na 1\n", 2},
		{"# TYPE 1a counter\n", 1},
		{"# TYPE a counter\n# TYPE b counter\nb 1\na 1\n", 1},
	};
	size_t samples;

	for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
		int bad;

		if (v[i].bad)
			diag("(validator case %zu: diagnostics expected)", i);
		bad = validate(v[i].body, strlen(v[i].body), &samples);
		is_int(bad, v[i].bad, "validator case %zu: %d bad line(s)", i,
		       v[i].bad);
	}
}

int main(void)
{
	compile_res();
	test_validator();
	test_names();
	test_render();
	regfree(&re_sample);
	regfree(&re_help);
	regfree(&re_type);
	return done_testing();
}
