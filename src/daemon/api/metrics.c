/* SPDX-License-Identifier: MIT */
/*
 * Per-thread metric shards, summed at scrape time (see metrics.h).
 *
 * A shard is ~10 KiB: every counter the daemon keeps, as plain arrays
 * indexed by label values, all known at compile time, so a label set can
 * never grow with attacker input. Shards are linked into one list under a
 * mutex when a thread counts for the first time and are never freed before
 * exit (the threads that count are the daemon's long-lived workers).
 */
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "api/metrics.h"
#include "oplog/op.h"

/* Histogram upper bounds in nanoseconds; +Inf is implicit. */
static const uint64_t check_bounds[] = {
	1000,	2500,	5000,	10000,	 25000,	  50000,
	100000, 250000, 500000, 1000000, 5000000, 25000000,
};
static const uint64_t write_bounds[] = {
	1000,	   5000,      10000,	  50000,	 100000,
	500000,	   1000000,   5000000,	  10000000,	 50000000,
	100000000, 500000000, 1000000000, 5000000000ull,
};
#define N_CHECK_B (sizeof(check_bounds) / sizeof(check_bounds[0]))
#define N_WRITE_B (sizeof(write_bounds) / sizeof(write_bounds[0]))

static const unsigned statuses[] = {200, 201, 400, 401, 403, 404, 405,
				    409, 413, 415, 429, 500, 503};
#define N_STATUS (sizeof(statuses) / sizeof(statuses[0]) + 1) /* + other */

struct hist_check {
	uint64_t b[N_CHECK_B + 1];
	uint64_t sum_ns;
};
struct hist_write {
	uint64_t b[N_WRITE_B + 1];
	uint64_t sum_ns;
};

struct shard {
	struct shard *next;
	uint64_t checks[4]; /* by enum ipw_verdict_reason */
	struct hist_check check_lat;
	struct hist_write write_lat[IPWD_WRITE_COUNT];
	uint64_t rejected[IPWD_E_COUNT];
	uint64_t http[IPWD_ROUTE_COUNT][IPWD_METHOD_COUNT][N_STATUS];
};

static pthread_mutex_t shards_lock = PTHREAD_MUTEX_INITIALIZER;
static struct shard *shards;
static __thread struct shard *mine;
static int64_t start_time;

static const char *const write_names[IPWD_WRITE_COUNT] = {
	"ban", "unban", "allow", "disallow", "mode", "batch"};

void ipwd_metrics_init(void)
{
	start_time = (int64_t)time(NULL);
}

static struct shard *shard(void)
{
	struct shard *s = mine;

	if (s)
		return s;
	/* Whole cache lines of its own: no false sharing at the edges with
	 * another thread's shard. */
	s = aligned_alloc(64, (sizeof(*s) + 63) & ~(size_t)63);
	if (s == NULL)
		abort(); /* 10 KiB once per thread at start */
	memset(s, 0, sizeof(*s));
	pthread_mutex_lock(&shards_lock);
	s->next = shards;
	__atomic_store_n(&shards, s, __ATOMIC_RELEASE);
	pthread_mutex_unlock(&shards_lock);
	mine = s;
	return s;
}

/* One writer per shard: a relaxed load + store is an increment that
 * concurrent scrapes read without tearing. */
static inline void bump(uint64_t *c, uint64_t n)
{
	__atomic_store_n(c, __atomic_load_n(c, __ATOMIC_RELAXED) + n,
			 __ATOMIC_RELAXED);
}

static inline uint64_t rd(const uint64_t *c)
{
	return __atomic_load_n(c, __ATOMIC_RELAXED);
}

void ipwd_metric_check(const struct ipw_verdict *v, uint64_t ns)
{
	struct shard *s = shard();
	size_t i = 0;

	bump(&s->checks[v->reason & 3], 1);
	while (i < N_CHECK_B && ns > check_bounds[i])
		i++;
	bump(&s->check_lat.b[i], 1);
	bump(&s->check_lat.sum_ns, ns);
}

void ipwd_metric_write(enum ipwd_write_kind k, uint64_t ns)
{
	struct shard *s = shard();
	size_t i = 0;

	if ((unsigned)k >= IPWD_WRITE_COUNT)
		return;
	while (i < N_WRITE_B && ns > write_bounds[i])
		i++;
	bump(&s->write_lat[k].b[i], 1);
	bump(&s->write_lat[k].sum_ns, ns);
}

void ipwd_metric_rejected(enum ipwd_apierr reason)
{
	bump(&shard()->rejected[reason], 1);
}

void ipwd_metric_http(enum ipwd_route r, enum ipwd_method m, unsigned status)
{
	size_t i = 0;

	while (i < N_STATUS - 1 && statuses[i] != status)
		i++;
	bump(&shard()->http[r][m][i], 1);
}

/* The sum over shards of the counter at byte offset @off. */
static uint64_t total(size_t off)
{
	struct shard *s = __atomic_load_n(&shards, __ATOMIC_ACQUIRE);
	uint64_t sum = 0;

	for (; s; s = s->next)
		sum += rd((const uint64_t *)((const char *)s + off));
	return sum;
}

#define SUM(field) total(offsetof(struct shard, field))

static void hist(FILE *f, const char *name, const char *labels,
		 const uint64_t *bounds, size_t nb, size_t off_b,
		 size_t off_sum)
{
	uint64_t cum = 0;
	size_t i;

	for (i = 0; i <= nb; i++) {
		cum += total(off_b + i * sizeof(uint64_t));
		if (i < nb)
			fprintf(f, "%s_bucket{%s%sle=\"%g\"} %" PRIu64 "\n",
				name, labels, *labels ? "," : "",
				(double)bounds[i] / 1e9, cum);
		else
			fprintf(f, "%s_bucket{%s%sle=\"+Inf\"} %" PRIu64 "\n",
				name, labels, *labels ? "," : "", cum);
	}
	fprintf(f, "%s_sum%s%s%s %.9f\n", name, *labels ? "{" : "", labels,
		*labels ? "}" : "", (double)total(off_sum) / 1e9);
	fprintf(f, "%s_count%s%s%s %" PRIu64 "\n", name, *labels ? "{" : "",
		labels, *labels ? "}" : "", cum);
}

char *ipwd_metrics_render(struct ipw_table *t, struct ipwd_ops *ops,
			  size_t *len)
{
	static const char *const reasons[4] = {"no_match", "banned", "allowed",
					       "not_allowed"};
	static const char *const lists[2] = {"bans", "allows"};
	static const char *const fams[2] = {"ipv4", "ipv6"};
	struct ipwd_ops_counters oc = {0};
	struct ipw_table_stats st;
	char labels[64], *buf = NULL;
	size_t i, size = 0;
	int r, m, k;
	FILE *f;

	f = open_memstream(&buf, &size);
	if (f == NULL)
		return NULL;

	fputs("# HELP ipwall_checks_total Checks answered, by verdict and "
	      "reason.\n# TYPE ipwall_checks_total counter\n",
	      f);
	for (i = 0; i < 4; i++)
		fprintf(f,
			"ipwall_checks_total{verdict=\"%s\",reason=\"%s\"} "
			"%" PRIu64 "\n",
			i == 1 || i == 3 ? "blocked" : "admitted", reasons[i],
			SUM(checks[i]));

	fputs("# HELP ipwall_check_duration_seconds Time in the /v1/check "
	      "handler.\n# TYPE ipwall_check_duration_seconds histogram\n",
	      f);
	hist(f, "ipwall_check_duration_seconds", "", check_bounds, N_CHECK_B,
	     offsetof(struct shard, check_lat.b),
	     offsetof(struct shard, check_lat.sum_ns));

	fputs("# HELP ipwall_write_duration_seconds Time to apply one write "
	      "request (a batch counts once).\n"
	      "# TYPE ipwall_write_duration_seconds histogram\n",
	      f);
	for (k = 0; k < IPWD_WRITE_COUNT; k++) {
		snprintf(labels, sizeof(labels), "action=\"%s\"",
			 write_names[k]);
		hist(f, "ipwall_write_duration_seconds", labels, write_bounds,
		     N_WRITE_B,
		     offsetof(struct shard, write_lat) +
			     (size_t)k * sizeof(struct hist_write) +
			     offsetof(struct hist_write, b),
		     offsetof(struct shard, write_lat) +
			     (size_t)k * sizeof(struct hist_write) +
			     offsetof(struct hist_write, sum_ns));
	}

	if (ops)
		ipwd_ops_counters(ops, &oc);
	fputs("# HELP ipwall_ops_total Ops applied, by action and result.\n"
	      "# TYPE ipwall_ops_total counter\n",
	      f);
	/* every (action, result) pair that can happen, from the op
	 * vocabulary */
	for (k = 0; k < IPWD_ACT_COUNT; k++)
		for (r = IPW_CHANGE_ADDED; r <= IPW_CHANGE_MODE; r++)
			if (ipwd_result_valid((enum ipwd_action)k, r))
				fprintf(f,
					"ipwall_ops_total{action=\"%s\","
					"result=\"%s\"} %" PRIu64 "\n",
					ipwd_action_name((enum ipwd_action)k),
					ipwd_result_name((enum ipwd_action)k,
							 r),
					oc.ops[k][r]);

	fputs("# HELP ipwall_writes_rejected_total Write requests refused, "
	      "by error code.\n# TYPE ipwall_writes_rejected_total counter\n",
	      f);
	for (k = 0; k < IPWD_E_COUNT; k++)
		fprintf(f,
			"ipwall_writes_rejected_total{reason=\"%s\"} %" PRIu64
			"\n",
			ipwd_apierr_name((enum ipwd_apierr)k),
			SUM(rejected[k]));

	fputs("# HELP ipwall_expirations_total Entries removed by expiry.\n"
	      "# TYPE ipwall_expirations_total counter\n",
	      f);
	fprintf(f, "ipwall_expirations_total %" PRIu64 "\n",
		oc.ops[IPWD_ACT_EXPIRE][IPW_CHANGE_REMOVED]);

	fputs("# HELP ipwall_store_commits_total Store transactions committed "
	      "(one per group of ops: group commit).\n"
	      "# TYPE ipwall_store_commits_total counter\n",
	      f);
	fprintf(f, "ipwall_store_commits_total %" PRIu64 "\n", oc.commits);
	fputs("# HELP ipwall_store_committed_ops_total Ops made durable by "
	      "those commits.\n"
	      "# TYPE ipwall_store_committed_ops_total counter\n",
	      f);
	fprintf(f, "ipwall_store_committed_ops_total %" PRIu64 "\n",
		oc.committed_ops);
	fputs("# HELP ipwall_store_commit_failures_total Groups the store "
	      "refused (their ops failed with 503).\n"
	      "# TYPE ipwall_store_commit_failures_total counter\n",
	      f);
	fprintf(f, "ipwall_store_commit_failures_total %" PRIu64 "\n",
		oc.commit_failures);

	if (ops) {
		struct ipwd_sub_status ss[16];
		size_t ns = ipwd_ops_subscribers(ops, ss, 16), i2;

		fprintf(f,
			"# HELP ipwall_oplog_seq The op log's last committed "
			"sequence.\n"
			"# TYPE ipwall_oplog_seq gauge\n"
			"ipwall_oplog_seq %" PRIu64 "\n"
			"# HELP ipwall_ops_duplicates_total Ops from elsewhere "
			"refused as already applied.\n"
			"# TYPE ipwall_ops_duplicates_total counter\n"
			"ipwall_ops_duplicates_total %" PRIu64 "\n"
			"# HELP ipwall_oplog_committer_cpu_seconds_total CPU "
			"time of the op log's committer thread.\n"
			"# TYPE ipwall_oplog_committer_cpu_seconds_total "
			"counter\n"
			"ipwall_oplog_committer_cpu_seconds_total %.6f\n",
			oc.seq, oc.duplicates, (double)oc.committer_ns / 1e9);
		if (ns > 16)
			ns = 16;
		fputs("# HELP ipwall_subscriber_applied_seq The last sequence "
		      "each op log subscriber applied.\n"
		      "# TYPE ipwall_subscriber_applied_seq gauge\n",
		      f);
		for (i2 = 0; i2 < ns; i2++)
			fprintf(f,
				"ipwall_subscriber_applied_seq{subscriber=\"%"
				"s\"} %" PRIu64 "\n",
				ss[i2].name, ss[i2].applied);
		fputs("# HELP ipwall_subscriber_lag_groups Groups committed "
		      "that a subscriber has not applied yet.\n"
		      "# TYPE ipwall_subscriber_lag_groups gauge\n",
		      f);
		for (i2 = 0; i2 < ns; i2++)
			fprintf(f,
				"ipwall_subscriber_lag_groups{subscriber=\"%"
				"s\"} %" PRIu64 "\n",
				ss[i2].name,
				oc.seq > ss[i2].applied ?
					oc.seq - ss[i2].applied :
					0);
		fputs("# HELP ipwall_subscriber_queued_groups Groups in a "
		      "subscriber's queue.\n"
		      "# TYPE ipwall_subscriber_queued_groups gauge\n",
		      f);
		for (i2 = 0; i2 < ns; i2++)
			fprintf(f,
				"ipwall_subscriber_queued_groups{subscriber="
				"\"%s\"} %" PRIu64 "\n",
				ss[i2].name, ss[i2].queued);
		fputs("# HELP ipwall_subscriber_resyncs_total Times a "
		      "subscriber was caught up from a snapshot (it fell "
		      "behind, or started behind the store).\n"
		      "# TYPE ipwall_subscriber_resyncs_total counter\n",
		      f);
		for (i2 = 0; i2 < ns; i2++)
			fprintf(f,
				"ipwall_subscriber_resyncs_total{subscriber=\"%"
				"s\"} %" PRIu64 "\n",
				ss[i2].name, ss[i2].resyncs);
		fputs("# HELP ipwall_subscriber_resyncing 1 while a "
		      "subscriber is marked for resync or catching up.\n"
		      "# TYPE ipwall_subscriber_resyncing gauge\n",
		      f);
		for (i2 = 0; i2 < ns; i2++)
			fprintf(f,
				"ipwall_subscriber_resyncing{subscriber=\"%"
				"s\"} %d\n",
				ss[i2].name, ss[i2].resyncing ? 1 : 0);
	}

	fputs("# HELP ipwall_http_requests_total HTTP requests answered, by "
	      "route, method and status.\n"
	      "# TYPE ipwall_http_requests_total counter\n",
	      f);
	for (r = 0; r < IPWD_ROUTE_COUNT; r++)
		for (m = 0; m < IPWD_METHOD_COUNT; m++)
			for (i = 0; i < N_STATUS; i++) {
				uint64_t n = SUM(http[r][m][i]);
				char st_s[8];

				if (n == 0)
					continue;
				if (i < N_STATUS - 1)
					snprintf(st_s, sizeof(st_s), "%u",
						 statuses[i]);
				else
					strcpy(st_s, "other");
				fprintf(f,
					"ipwall_http_requests_total{route=\"%"
					"s\",method=\"%s\",status=\"%s\"} "
					"%" PRIu64 "\n",
					ipwd_route_name((enum ipwd_route)r),
					ipwd_method_name((enum ipwd_method)m),
					st_s, n);
			}

	ipw_table_stats(t, &st);
	fputs("# HELP ipwall_entries Entries in the table (expired ones not "
	      "yet purged included).\n# TYPE ipwall_entries gauge\n",
	      f);
	for (r = 0; r < 2; r++)
		for (k = 0; k < 2; k++)
			fprintf(f,
				"ipwall_entries{list=\"%s\",family=\"%s\"} "
				"%" PRIu64 "\n",
				lists[r], fams[k], st.entries[r][k]);
	fprintf(f,
		"# HELP ipwall_table_max_entries The entry cap.\n"
		"# TYPE ipwall_table_max_entries gauge\n"
		"ipwall_table_max_entries %" PRIu64 "\n"
		"# HELP ipwall_table_index_bytes Memory of the lookup index.\n"
		"# TYPE ipwall_table_index_bytes gauge\n"
		"ipwall_table_index_bytes %" PRIu64 "\n"
		"# HELP ipwall_table_entry_bytes Memory of entry records and "
		"metadata.\n"
		"# TYPE ipwall_table_entry_bytes gauge\n"
		"ipwall_table_entry_bytes %" PRIu64 "\n"
		"# HELP ipwall_table_rekeys_total Index rebuilds with a new "
		"hash key (a sign of a collision attack).\n"
		"# TYPE ipwall_table_rekeys_total counter\n"
		"ipwall_table_rekeys_total %" PRIu64 "\n"
		"# HELP ipwall_start_time_seconds Start time of ipwalld.\n"
		"# TYPE ipwall_start_time_seconds gauge\n"
		"ipwall_start_time_seconds %" PRId64 "\n",
		st.max_entries, st.index_bytes, st.entry_bytes, st.rekeys,
		start_time);
	if (fclose(f) != 0) {
		free(buf);
		return NULL;
	}
	*len = size;
	return buf;
}
