/* SPDX-License-Identifier: MIT */
/*
 * Auto-ban in the daemon (see autoban.h): intake queues, the engine
 * thread, the banner thread and the datagram socket.
 *
 * Queues. Events wait in a ring of [autoban] queue slots (a power of
 * two) under one mutex: a producer takes the lock once for all the
 * events of a request or of a recvmmsg() batch, the engine once for up to
 * BATCH events, so the lock is paid per batch, not per event. A full ring
 * drops what does not fit and counts it: intake never waits, whatever
 * arrives. Decisions wait in a ring of DECISIONS slots for the banner.
 *
 * Time. The engine counts on CLOCK_MONOTONIC milliseconds (a wall-clock
 * step neither fires nor forgets a window); a ban's expiry is wall-clock
 * seconds, as every entry's.
 *
 * Threads. The engine thread is the engine's only caller and a
 * registered table reader (its exempt check reads the table); the banner
 * is the only caller of ipwd_ops_add_batch() here and of the history's
 * ban count (the escalation question is asked on the engine thread,
 * through the history's own lock). Counters are relaxed atomics.
 */
#include <errno.h>
#include <ifaddrs.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <ipwall/duration.h>
#include <ipwall/errcode.h>
#include <ipwall/table.h>

#include "autoban/autoban.h"
#include "autoban/engine.h"
#include "autoban/ratelimit.h"
#include "autoban/wire.h"
#include "base/log.h"
#include "base/text.h"

#define BATCH	   256	/* events the engine takes per turn */
#define DECISIONS  4096 /* decisions waiting for the banner */
#define BAN_BATCH  256	/* decisions the banner applies per turn */
#define RECV_BATCH 16	/* datagrams per recvmmsg() */
#define OWN_MAX	   256	/* the node's addresses kept */

struct item {
	struct ipw_addr addr;
	uint32_t type;
};

enum { VIA_HTTP, VIA_SOCKET, VIA_COUNT };
enum { FAIL_TABLE_FULL, FAIL_STORE, FAIL_OTHER, FAIL_COUNT };

struct ipwd_autoban {
	struct ipwd_ab *ab;
	struct ipwd_rl *rl; /* checks' rate limit, or NULL */
	char rl_rule[IPWD_AB_NAME_MAX];
	struct ipwd_ops *ops;
	struct ipw_table *table;
	struct ipwd_history *history;
	size_t nrules;
	char rule[IPWD_AB_RULES_MAX][IPWD_AB_NAME_MAX];
	char path[sizeof(((struct sockaddr_un *)0)->sun_path)];
	uint32_t breaker; /* [autoban] breaker, for the log */
	int fd;
	struct ipw_addr own[OWN_MAX];
	size_t nown;

	pthread_mutex_t qlock;
	pthread_cond_t qcond;
	struct item *q;
	uint32_t qmask, qhead, qlen;

	pthread_mutex_t dlock;
	pthread_cond_t dcond;
	struct ipwd_ab_decision *d;
	uint32_t dhead, dlen;

	pthread_t t_sock, t_engine, t_ban;
	bool run_sock, run_engine, run_ban;
	atomic_bool stop;

	atomic_uint_fast64_t received[VIA_COUNT];
	atomic_uint_fast64_t dropped;	  /* the event queue was full */
	atomic_uint_fast64_t invalid;	  /* socket lines refused */
	atomic_uint_fast64_t dec_dropped; /* the decision queue was full */
	atomic_uint_fast64_t failed[FAIL_COUNT];
	atomic_uint_fast64_t bans[IPWD_AB_RULES_MAX][2]; /* [source, agg] */
	atomic_uint_fast64_t dry[IPWD_AB_RULES_MAX];
};

static void inc(atomic_uint_fast64_t *c, uint64_t n)
{
	atomic_fetch_add_explicit(c, n, memory_order_relaxed);
}

static uint64_t get(atomic_uint_fast64_t *c)
{
	return atomic_load_explicit(c, memory_order_relaxed);
}

static size_t min_size(size_t a, size_t b)
{
	return a < b ? a : b;
}

static uint64_t mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* ---- the node's own addresses, and the exempt question ---- */

static void load_own(struct ipwd_autoban *a)
{
	struct ifaddrs *ifs, *i;

	if (getifaddrs(&ifs) != 0) {
		log_warn("autoban: cannot list this node's addresses (%s): "
			 "only loopback and allowed addresses are exempt",
			 strerror(errno));
		return;
	}
	for (i = ifs; i && a->nown < OWN_MAX; i = i->ifa_next) {
		struct ipw_addr x;

		if (i->ifa_addr == NULL)
			continue;
		if (i->ifa_addr->sa_family == AF_INET) {
			const struct sockaddr_in *s = (void *)i->ifa_addr;

			if (ipw_addr_from_v4(&x, ntohl(s->sin_addr.s_addr),
					     32) != 0)
				continue;
		} else if (i->ifa_addr->sa_family == AF_INET6) {
			const struct sockaddr_in6 *s = (void *)i->ifa_addr;

			if (ipw_addr_from_v6(&x, s->sin6_addr.s6_addr, 128) !=
			    0)
				continue;
		} else {
			continue;
		}
		a->own[a->nown++] = x;
	}
	freeifaddrs(ifs);
}

/*
 * The engine's exempt callback (engine thread): an address the table
 * allows, one of the node's own, or a prefix holding one of them; and
 * what is banned already (an address a ban covers, a prefix banned as
 * such): its events need no counting, and deciding it again would only
 * extend its ban once more for every further N events (fail2ban ignores
 * them too). A source's question is a lock-free check; a prefix's (a
 * decision, rare) a lookup under the table's writer lock.
 */
static bool exempt(void *ctx, const struct ipw_addr *t)
{
	struct ipwd_autoban *a = ctx;
	bool host = ipw_addr_is_host(t);
	struct ipw_entry_info e;
	struct ipw_verdict v;
	size_t i;

	for (i = 0; i < a->nown; i++)
		if (host ? ipw_addr_equal(&a->own[i], t) :
			   ipw_addr_contains(t, &a->own[i]))
			return true;
	if (host)
		return ipw_table_check(a->table, t, &v) == 0 &&
		       (v.reason == IPW_VERDICT_ALLOWED ||
			v.reason == IPW_VERDICT_BANNED);
	return ipw_table_get(a->table, IPW_LIST_BAN, t, &e) == 0 &&
	       (e.expires == 0 || e.expires > (int64_t)time(NULL));
}

/* The engine's escalation question (engine thread): earlier bans of @t
 * (and of what lies inside it) in the history. */
static unsigned past_bans(void *ctx, const struct ipw_addr *t)
{
	struct ipwd_autoban *a = ctx;
	int64_t n;

	if (a->history == NULL)
		return 0;
	n = ipwd_history_ban_count(a->history, t, 0);
	return n < 0 ? 0 : n > 1000 ? 1000 : (unsigned)n;
}

/* ---- intake ---- */

/* Queue @n items (any thread); how many fit. */
static size_t enqueue(struct ipwd_autoban *a, const struct item *it, size_t n)
{
	size_t k, room;

	pthread_mutex_lock(&a->qlock);
	room = (size_t)a->qmask + 1 - a->qlen;
	if (n > room)
		n = room;
	for (k = 0; k < n; k++)
		a->q[(a->qhead + a->qlen + k) & a->qmask] = it[k];
	a->qlen += (uint32_t)n;
	if (n)
		pthread_cond_signal(&a->qcond);
	pthread_mutex_unlock(&a->qlock);
	return n;
}

static uint32_t type_of(const struct ipwd_autoban *a, const char *type)
{
	int id = type ? ipwd_ab_type_id(a->ab, type) : -1;

	return id < 0 ? IPWD_AB_TYPE_NONE : (uint32_t)id;
}

size_t ipwd_autoban_submit(void *ctx, const struct ipwd_report *r, size_t n)
{
	struct ipwd_autoban *a = ctx;
	struct item buf[BATCH];
	size_t done = 0, queued = 0;

	while (done < n) {
		size_t k = min_size(n - done, BATCH), i, q;

		for (i = 0; i < k; i++) {
			buf[i].addr = r[done + i].addr;
			buf[i].type = type_of(a, r[done + i].type);
		}
		q = enqueue(a, buf, k);
		queued += q;
		done += k;
		if (q < k)
			break; /* full: the rest would not fit either */
	}
	inc(&a->received[VIA_HTTP], n);
	inc(&a->dropped, n - queued);
	return queued;
}

static void *socket_main(void *arg)
{
	struct ipwd_autoban *a = arg;
	static const size_t bufsz = IPWD_WIRE_DGRAM_MAX + 1;
	char *bufs = malloc(RECV_BATCH * bufsz);
	struct mmsghdr msgs[RECV_BATCH];
	struct iovec iov[RECV_BATCH];
	struct item items[BATCH];
	uint64_t said = 0;
	int i;

	if (bufs == NULL) {
		log_error("autoban: out of memory for the socket's buffers");
		return NULL;
	}
	while (!atomic_load(&a->stop)) {
		struct pollfd p = {a->fd, POLLIN, 0};
		size_t ni = 0, got = 0, bad = 0;
		int n;

		if (poll(&p, 1, 200) <= 0)
			continue;
		memset(msgs, 0, sizeof(msgs));
		for (i = 0; i < RECV_BATCH; i++) {
			iov[i].iov_base = bufs + (size_t)i * bufsz;
			iov[i].iov_len = bufsz;
			msgs[i].msg_hdr.msg_iov = &iov[i];
			msgs[i].msg_hdr.msg_iovlen = 1;
		}
		n = recvmmsg(a->fd, msgs, RECV_BATCH, MSG_DONTWAIT, NULL);
		for (i = 0; i < n; i++) {
			struct ipwd_wire_reader r;
			struct ipwd_wire_error err;
			struct ipwd_event ev;
			int rc;

			ipwd_wire_reader_init(&r, iov[i].iov_base,
					      msgs[i].msg_len);
			while ((rc = ipwd_wire_next(&r, &ev, &err)) != 0) {
				if (rc < 0) {
					char m[160];

					bad++;
					/* the first few, then one in 1,000 */
					if (said++ < 10 || said % 1000 == 0) {
						ipwd_wire_error_msg(
							m, sizeof(m), &err);
						log_warn(
							"autoban: event socket: "
							"%s",
							m);
					}
					continue;
				}
				got++;
				items[ni].addr = ev.addr;
				items[ni].type = type_of(a, ev.type);
				if (++ni == BATCH) {
					inc(&a->dropped,
					    ni - enqueue(a, items, ni));
					ni = 0;
				}
			}
		}
		if (ni)
			inc(&a->dropped, ni - enqueue(a, items, ni));
		inc(&a->received[VIA_SOCKET], got);
		inc(&a->invalid, bad);
	}
	free(bufs);
	return NULL;
}

/* ---- the engine ---- */

static void push_decisions(struct ipwd_autoban *a,
			   const struct ipwd_ab_decision *d, size_t n)
{
	size_t k;

	pthread_mutex_lock(&a->dlock);
	for (k = 0; k < n && a->dlen < DECISIONS; k++)
		a->d[(a->dhead + a->dlen++) % DECISIONS] = d[k];
	if (k)
		pthread_cond_signal(&a->dcond);
	pthread_mutex_unlock(&a->dlock);
	inc(&a->dec_dropped, n - k);
}

static void *engine_main(void *arg)
{
	struct ipwd_autoban *a = arg;
	static struct ipwd_ab_decision dec[IPWD_AB_DECISIONS_MAX];
	struct item batch[BATCH];

	bool open = false;

	ipw_reader_register();
	for (;;) {
		uint32_t n, i;
		uint64_t now;

		pthread_mutex_lock(&a->qlock);
		while (a->qlen == 0 && !atomic_load(&a->stop))
			pthread_cond_wait(&a->qcond, &a->qlock);
		if (atomic_load(&a->stop)) {
			inc(&a->dropped, a->qlen); /* not waited for */
			a->qlen = 0;
			pthread_mutex_unlock(&a->qlock);
			break;
		}
		n = (uint32_t)min_size(a->qlen, BATCH);
		for (i = 0; i < n; i++)
			batch[i] = a->q[(a->qhead + i) & a->qmask];
		a->qhead = (a->qhead + n) & a->qmask;
		a->qlen -= n;
		pthread_mutex_unlock(&a->qlock);

		now = mono_ms();
		for (i = 0; i < n; i++) {
			int k;

			if (i + 8 < n)
				ipwd_ab_prefetch(a->ab, &batch[i + 8].addr,
						 batch[i + 8].type);
			k = ipwd_ab_event(a->ab, &batch[i].addr, batch[i].type,
					  now, dec, IPWD_AB_DECISIONS_MAX);
			if (k > 0)
				push_decisions(a, dec, (size_t)k);
		}
		/* the breaker's changes, said once each */
		if (ipwd_ab_breaker_open(a->ab) != open) {
			struct ipwd_ab_stats st;

			open = !open;
			ipwd_ab_stats(a->ab, &st);
			if (open)
				log_warn("autoban: breaker open: more than "
					 "%" PRIu32
					 " new sources a second; new "
					 "sources are counted per /24 and /48 "
					 "only until it calms down",
					 a->breaker);
			else
				log_info("autoban: breaker closed (%" PRIu64
					 " events counted per prefix only)",
					 st.shed);
		}
	}
	ipw_reader_unregister();
	return NULL;
}

/* ---- the banner ---- */

/* The reason an automatic ban carries: rule, count, window, score. */
static void reason_of(const struct ipwd_ab_decision *d, char *buf, size_t n)
{
	char w[IPW_DURATION_STRLEN];

	ipw_duration_format((d->window_ms + 999) / 1000, w, sizeof(w));
	snprintf(buf, n,
		 "auto-ban rule %s: %u %s within %s (score %" PRIu32
		 ", %u earlier ban%s)",
		 d->rule, d->count,
		 d->scope == IPWD_AB_SCOPE_AGGREGATE ? "offenders" : "events",
		 w, d->score, d->past, d->past == 1 ? "" : "s");
}

static void ban_batch(struct ipwd_autoban *a, const struct ipwd_ab_decision *d,
		      size_t n)
{
	static struct ipw_entry_spec specs[BAN_BATCH];
	static char reasons[BAN_BATCH][IPW_REASON_MAX];
	static char actors[BAN_BATCH][IPW_ACTOR_MAX];
	static int rcs[BAN_BATCH];
	static enum ipw_change whats[BAN_BATCH];
	const struct ipwd_ab_decision *of[BAN_BATCH];
	int64_t now = (int64_t)time(NULL);
	size_t i, m = 0;

	for (i = 0; i < n; i++) {
		char t[IPW_ADDR_STRLEN], ttl[IPW_DURATION_STRLEN];

		ipw_addr_format(&d[i].target, t, sizeof(t));
		ipw_duration_format(d[i].ttl_s, ttl, sizeof(ttl));
		reason_of(&d[i], reasons[m], sizeof(reasons[m]));
		if (d[i].dry_run) {
			inc(&a->dry[d[i].rule_idx], 1);
			log_info("autoban: dry run: would ban %s for %s (%s)",
				 t, ttl, reasons[m]);
			continue;
		}
		snprintf(actors[m], sizeof(actors[m]), "rule:%s", d[i].rule);
		specs[m] = (struct ipw_entry_spec){
			.target = d[i].target,
			.list = IPW_LIST_BAN,
			.expires = now + (int64_t)d[i].ttl_s,
			.score = d[i].score,
			.flags = IPW_ENTRY_AUTO,
			.reason = reasons[m],
			.actor = actors[m],
			.source = "autoban",
		};
		of[m++] = &d[i];
	}
	if (m == 0)
		return;
	ipwd_ops_add_batch(a->ops, specs, m, rcs, whats);
	for (i = 0; i < m; i++) {
		char t[IPW_ADDR_STRLEN], ttl[IPW_DURATION_STRLEN];

		ipw_addr_format(&of[i]->target, t, sizeof(t));
		ipw_duration_format(of[i]->ttl_s, ttl, sizeof(ttl));
		if (rcs[i] == 0) {
			inc(&a->bans[of[i]->rule_idx][of[i]->aggregated], 1);
			log_info("autoban: banned %s for %s (%s)", t, ttl,
				 reasons[i]);
			continue;
		}
		inc(&a->failed[rcs[i] == IPW_ETABLE_FULL ? FAIL_TABLE_FULL :
			       rcs[i] == IPW_ENOSPC || rcs[i] == IPW_EIO ?
							   FAIL_STORE :
							   FAIL_OTHER],
		    1);
		log_warn("autoban: cannot ban %s (rule %s): %s", t, of[i]->rule,
			 ipw_strerror(rcs[i]));
	}
}

static void *ban_main(void *arg)
{
	struct ipwd_autoban *a = arg;
	static struct ipwd_ab_decision batch[BAN_BATCH];

	for (;;) {
		uint32_t n, i;

		pthread_mutex_lock(&a->dlock);
		while (a->dlen == 0 && !atomic_load(&a->stop))
			pthread_cond_wait(&a->dcond, &a->dlock);
		if (a->dlen == 0) { /* stopping, nothing left */
			pthread_mutex_unlock(&a->dlock);
			break;
		}
		n = (uint32_t)min_size(a->dlen, BAN_BATCH);
		for (i = 0; i < n; i++)
			batch[i] = a->d[(a->dhead + i) % DECISIONS];
		a->dhead = (a->dhead + n) % DECISIONS;
		a->dlen -= n;
		pthread_mutex_unlock(&a->dlock);
		ban_batch(a, batch, n);
	}
	return NULL;
}

/* ---- life ---- */

/* The types of a rule's "events" value, split on spaces and commas into
 * @store (NUL-separated) and @types. How many, or -1 if too many. */
static int split_types(const char *v, char *store, size_t size,
		       const char **types, size_t max)
{
	size_t n = 0, used = 0;

	while (*v) {
		size_t len;

		v += strspn(v, " \t,");
		len = strcspn(v, " \t,");
		if (len == 0)
			break;
		if (n == max || used + len + 1 > size)
			return -1;
		memcpy(store + used, v, len);
		store[used + len] = '\0';
		types[n++] = store + used;
		used += len + 1;
		v += len;
	}
	return (int)n;
}

int ipwd_autoban_new(struct ipwd_autoban **out, const struct ipwd_config *c,
		     struct ipwd_ops *ops, struct ipwd_history *h)
{
	static char store[IPWD_AB_RULES_MAX][1024];
	static const char *types[IPWD_AB_RULES_MAX][IPWD_AB_TYPES_MAX];
	struct ipwd_ab_rule rules[IPWD_AB_RULES_MAX];
	const struct ipwd_conf_instance *in;
	struct ipwd_ab_opts o = {0};
	struct ipwd_autoban *a;
	size_t n = 0;
	int rc, bad = -1;

	*out = NULL;
	if (c->rules == NULL)
		return 0;
	for (in = c->rules; in && n < IPWD_AB_RULES_MAX; in = in->next, n++) {
		const struct ipwd_rule_conf *r = (const void *)in;
		int nt = split_types(r->events ? r->events : "", store[n],
				     sizeof(store[n]), types[n],
				     IPWD_AB_TYPES_MAX);

		if (nt < 0) {
			log_error("autoban: [rule %s] events: more than %d "
				  "types",
				  in->name, IPWD_AB_TYPES_MAX);
			return -1;
		}
		rules[n] = (struct ipwd_ab_rule){
			.name = in->name,
			.types = types[n],
			.ntypes = (size_t)nt,
			.threshold = r->threshold,
			.window_ms = r->window * 1000,
			.ban_s = (uint32_t)r->ban,
			.escalate = r->escalate,
			.ban_max_s = (uint32_t)r->max_ban,
			.agg_v4 = r->aggregate_v4,
			.agg_v6 = r->aggregate_v6,
			.dry_run = r->dry_run,
		};
	}
	a = calloc(1, sizeof(*a));
	if (a == NULL)
		return -1;
	a->fd = -1;
	a->ops = ops;
	a->table = ipwd_ops_table(ops);
	a->history = h;
	a->nrules = n;
	for (size_t i = 0; i < n; i++)
		snprintf(a->rule[i], sizeof(a->rule[i]), "%s", rules[i].name);
	load_own(a);
	o.rules = rules;
	o.nrules = n;
	o.budget_bytes = c->ab_budget;
	o.breaker_new_sources_per_s = c->ab_breaker;
	a->breaker = c->ab_breaker;
	o.exempt = exempt;
	o.past_bans = past_bans;
	o.ctx = a;
	rc = ipwd_ab_new(&a->ab, &o, &bad);
	if (rc != 0) {
		if (bad >= 0)
			log_error("autoban: [rule %s]: %s", rules[bad].name,
				  ipw_strerror(rc));
		else
			log_error("autoban: %s", ipw_strerror(rc));
		free(a);
		return -1;
	}
	for (in = c->rules; in; in = in->next) {
		const struct ipwd_rule_conf *r = (const void *)in;
		struct ipwd_rl_opts ro = {0};

		if (r->check_rate <= 0)
			continue;
		if (a->rl) {
			log_error(
				"autoban: [rule %s] check_rate: only one rule "
				"may limit checks ([rule %s] does)",
				in->name, a->rl_rule);
			rc = -1;
			break;
		}
		ro.rate_per_s = r->check_rate;
		ro.burst = r->check_burst ? r->check_burst :
					    (uint32_t)(r->check_rate + 0.999);
		ro.budget_bytes = c->ab_check_budget;
		ro.plen_v4 = r->check_prefix_v4;
		ro.plen_v6 = r->check_prefix_v6;
		ro.sustain_s = (uint32_t)r->check_sustain;
		rc = ipwd_rl_new(&a->rl, &ro);
		if (rc != 0) {
			log_error("autoban: [rule %s] check_rate: %s", in->name,
				  ipw_strerror(rc));
			break;
		}
		snprintf(a->rl_rule, sizeof(a->rl_rule), "%s", in->name);
		log_info("autoban: [rule %s] limits checks to %g a second "
			 "per IPv4 /%u and IPv6 /%u (burst %" PRIu32 ")",
			 in->name, ro.rate_per_s, ro.plen_v4, ro.plen_v6,
			 ro.burst);
	}
	if (rc != 0) {
		ipwd_rl_free(a->rl);
		ipwd_ab_free(a->ab);
		free(a);
		return -1;
	}
	a->qmask = c->ab_queue - 1;
	a->q = calloc(c->ab_queue, sizeof(*a->q));
	a->d = calloc(DECISIONS, sizeof(*a->d));
	if (a->q == NULL || a->d == NULL) {
		ipwd_rl_free(a->rl);
		ipwd_ab_free(a->ab);
		free(a->q);
		free(a->d);
		free(a);
		return -1;
	}
	snprintf(a->path, sizeof(a->path), "%s", c->ab_socket);
	pthread_mutex_init(&a->qlock, NULL);
	pthread_cond_init(&a->qcond, NULL);
	pthread_mutex_init(&a->dlock, NULL);
	pthread_cond_init(&a->dcond, NULL);
	log_info("autoban: %zu rule%s, %zu MiB of state, breaker at %" PRIu32
		 " new sources/s, %zu own addresses exempt",
		 n, n == 1 ? "" : "s", ipwd_ab_memory(a->ab) >> 20,
		 c->ab_breaker, a->nown);
	*out = a;
	return 0;
}

/* Bind the datagram socket at a->path: a stale socket file is replaced,
 * anything else at that path is refused. */
static int bind_socket(struct ipwd_autoban *a)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	struct stat st;

	if (lstat(a->path, &st) == 0) {
		if (!S_ISSOCK(st.st_mode)) {
			log_error("autoban: %s exists and is not a socket",
				  a->path);
			return -1;
		}
		unlink(a->path);
	}
	a->fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (a->fd < 0) {
		log_error("autoban: socket: %s", strerror(errno));
		return -1;
	}
	memcpy(sa.sun_path, a->path, strlen(a->path) + 1);
	if (bind(a->fd, (struct sockaddr *)&sa, sizeof(sa)) != 0 ||
	    chmod(a->path, 0660) != 0) {
		log_error("autoban: cannot bind the event socket %s: %s",
			  a->path, strerror(errno));
		close(a->fd);
		a->fd = -1;
		return -1;
	}
	{
		int sz = 4 << 20;

		setsockopt(a->fd, SOL_SOCKET, SO_RCVBUF, &sz, sizeof(sz));
	}
	log_info("autoban: events socket %s", a->path);
	return 0;
}

int ipwd_autoban_start(struct ipwd_autoban *a)
{
	if (a->path[0] && bind_socket(a) != 0)
		return -1;
	if (pthread_create(&a->t_ban, NULL, ban_main, a) != 0)
		return -1;
	a->run_ban = true;
	if (pthread_create(&a->t_engine, NULL, engine_main, a) != 0)
		return -1;
	a->run_engine = true;
	if (a->fd >= 0) {
		if (pthread_create(&a->t_sock, NULL, socket_main, a) != 0)
			return -1;
		a->run_sock = true;
	}
	return 0;
}

void ipwd_autoban_free(struct ipwd_autoban *a)
{
	if (a == NULL)
		return;
	atomic_store(&a->stop, true);
	if (a->run_sock)
		pthread_join(a->t_sock, NULL);
	pthread_mutex_lock(&a->qlock);
	pthread_cond_broadcast(&a->qcond);
	pthread_mutex_unlock(&a->qlock);
	if (a->run_engine)
		pthread_join(a->t_engine, NULL);
	/* the banner applies what the engine decided, then ends */
	pthread_mutex_lock(&a->dlock);
	pthread_cond_broadcast(&a->dcond);
	pthread_mutex_unlock(&a->dlock);
	if (a->run_ban)
		pthread_join(a->t_ban, NULL);
	if (a->fd >= 0) {
		close(a->fd);
		unlink(a->path);
	}
	pthread_mutex_destroy(&a->qlock);
	pthread_cond_destroy(&a->qcond);
	pthread_mutex_destroy(&a->dlock);
	pthread_cond_destroy(&a->dcond);
	ipwd_ab_free(a->ab);
	ipwd_rl_free(a->rl);
	free(a->q);
	free(a->d);
	free(a);
}

struct ipwd_rl *ipwd_autoban_ratelimit(struct ipwd_autoban *a)
{
	return a ? a->rl : NULL;
}

/* ---- metrics ---- */

#define PUT(...)                                               \
	do {                                                   \
		if (!ipwd_appendf(buf, size, &n, __VA_ARGS__)) \
			return 0;                              \
	} while (0)

size_t ipwd_autoban_metrics(void *ctx, char *buf, size_t size)
{
	struct ipwd_autoban *a = ctx;
	static const char *const fail_name[FAIL_COUNT] = {"table_full", "store",
							  "other"};
	struct ipwd_ab_stats s;
	size_t n = 0, i;

	ipwd_ab_stats(a->ab, &s);
	PUT("# HELP ipwall_autoban_events_received_total Failure events "
	    "received, by intake path.\n"
	    "# TYPE ipwall_autoban_events_received_total counter\n"
	    "ipwall_autoban_events_received_total{via=\"http\"} %" PRIu64 "\n"
	    "ipwall_autoban_events_received_total{via=\"socket\"} %" PRIu64
	    "\n",
	    get(&a->received[VIA_HTTP]), get(&a->received[VIA_SOCKET]));
	PUT("# HELP ipwall_autoban_events_dropped_total Events dropped "
	    "because the engine's queue was full.\n"
	    "# TYPE ipwall_autoban_events_dropped_total counter\n"
	    "ipwall_autoban_events_dropped_total %" PRIu64 "\n",
	    get(&a->dropped));
	PUT("# HELP ipwall_autoban_events_invalid_total Lines refused on the "
	    "event socket.\n"
	    "# TYPE ipwall_autoban_events_invalid_total counter\n"
	    "ipwall_autoban_events_invalid_total %" PRIu64 "\n",
	    get(&a->invalid));
	PUT("# HELP ipwall_autoban_events_total Events the engine counted.\n"
	    "# TYPE ipwall_autoban_events_total counter\n"
	    "ipwall_autoban_events_total %" PRIu64 "\n"
	    "# HELP ipwall_autoban_events_unknown_type_total Events of a type "
	    "no rule counts.\n"
	    "# TYPE ipwall_autoban_events_unknown_type_total counter\n"
	    "ipwall_autoban_events_unknown_type_total %" PRIu64 "\n"
	    "# HELP ipwall_autoban_exempt_total Events and decisions skipped: "
	    "loopback, allowed, own or already banned addresses.\n"
	    "# TYPE ipwall_autoban_exempt_total counter\n"
	    "ipwall_autoban_exempt_total %" PRIu64 "\n",
	    s.events, s.events_unknown, s.exempt);
	PUT("# HELP ipwall_autoban_bans_total Automatic bans applied, by rule "
	    "and scope.\n"
	    "# TYPE ipwall_autoban_bans_total counter\n");
	for (i = 0; i < a->nrules; i++)
		PUT("ipwall_autoban_bans_total{rule=\"%s\",scope=\"source\"} "
		    "%" PRIu64 "\n"
		    "ipwall_autoban_bans_total{rule=\"%s\",scope=\"prefix\"} "
		    "%" PRIu64 "\n",
		    a->rule[i], get(&a->bans[i][0]), a->rule[i],
		    get(&a->bans[i][1]));
	PUT("# HELP ipwall_autoban_dry_run_total Bans a dry-run rule would "
	    "have made.\n"
	    "# TYPE ipwall_autoban_dry_run_total counter\n");
	for (i = 0; i < a->nrules; i++)
		PUT("ipwall_autoban_dry_run_total{rule=\"%s\"} %" PRIu64 "\n",
		    a->rule[i], get(&a->dry[i]));
	PUT("# HELP ipwall_autoban_bans_failed_total Automatic bans refused, "
	    "by reason.\n"
	    "# TYPE ipwall_autoban_bans_failed_total counter\n");
	for (i = 0; i < FAIL_COUNT; i++)
		PUT("ipwall_autoban_bans_failed_total{reason=\"%s\"} %" PRIu64
		    "\n",
		    fail_name[i], get(&a->failed[i]));
	PUT("# HELP ipwall_autoban_decisions_dropped_total Decisions lost: "
	    "the banner's queue was full.\n"
	    "# TYPE ipwall_autoban_decisions_dropped_total counter\n"
	    "ipwall_autoban_decisions_dropped_total %" PRIu64 "\n",
	    get(&a->dec_dropped) + s.decisions_dropped);
	PUT("# HELP ipwall_autoban_breaker_open 1 while the new-source "
	    "breaker counts new sources per prefix only.\n"
	    "# TYPE ipwall_autoban_breaker_open gauge\n"
	    "ipwall_autoban_breaker_open %" PRIu64 "\n"
	    "# HELP ipwall_autoban_breaker_trips_total Times the breaker "
	    "opened.\n"
	    "# TYPE ipwall_autoban_breaker_trips_total counter\n"
	    "ipwall_autoban_breaker_trips_total %" PRIu64 "\n"
	    "# HELP ipwall_autoban_shed_events_total Events counted per "
	    "prefix only while the breaker was open.\n"
	    "# TYPE ipwall_autoban_shed_events_total counter\n"
	    "ipwall_autoban_shed_events_total %" PRIu64 "\n",
	    s.breaker_open, s.breaker_trips, s.shed);
	PUT("# HELP ipwall_autoban_tracked_slots Sources the engine can "
	    "track exactly.\n"
	    "# TYPE ipwall_autoban_tracked_slots gauge\n"
	    "ipwall_autoban_tracked_slots %" PRIu64 "\n"
	    "# HELP ipwall_autoban_tracked_evictions_total Tracked sources "
	    "displaced to make room.\n"
	    "# TYPE ipwall_autoban_tracked_evictions_total counter\n"
	    "ipwall_autoban_tracked_evictions_total %" PRIu64 "\n"
	    "# HELP ipwall_autoban_memory_bytes The engine's state (fixed at "
	    "start: [autoban] budget).\n"
	    "# TYPE ipwall_autoban_memory_bytes gauge\n"
	    "ipwall_autoban_memory_bytes %" PRIu64 "\n",
	    s.tracked_slots, s.tracked_evictions, s.bytes);
	if (a->rl) {
		struct ipwd_rl_stats r;

		ipwd_rl_stats(a->rl, &r);
		PUT("# HELP ipwall_check_rate_limited_total Checks answered 429 "
		    "rate_limited ([rule %s] check_rate).\n"
		    "# TYPE ipwall_check_rate_limited_total counter\n"
		    "ipwall_check_rate_limited_total %" PRIu64 "\n"
		    "# HELP ipwall_check_rate_sustained_total Of those, from "
		    "addresses over the limit for check_sustain (each one an "
		    "event rate_limited).\n"
		    "# TYPE ipwall_check_rate_sustained_total counter\n"
		    "ipwall_check_rate_sustained_total %" PRIu64 "\n"
		    "# HELP ipwall_check_rate_untracked_total Checks admitted "
		    "unlimited: no free slot for their address.\n"
		    "# TYPE ipwall_check_rate_untracked_total counter\n"
		    "ipwall_check_rate_untracked_total %" PRIu64 "\n"
		    "# HELP ipwall_check_rate_memory_bytes The check rate "
		    "limiter's slots ([autoban] check_budget).\n"
		    "# TYPE ipwall_check_rate_memory_bytes gauge\n"
		    "ipwall_check_rate_memory_bytes %" PRIu64 "\n",
		    a->rl_rule, r.limited, r.sustained, r.untracked, r.bytes);
	}
	return n;
}
