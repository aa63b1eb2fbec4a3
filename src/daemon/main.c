/* SPDX-License-Identifier: MIT */
/*
 * ipwalld: the daemon's main. Reads the configuration, starts the
 * subsystems in the order of the table below (data directory, tokens,
 * table, store, audit log, write path, store check, HTTP API) and stops
 * them in the reverse order, tells systemd it is ready, then spends its
 * life in one loop on the main thread: wait for a signal (with the purge
 * interval as timeout), give every subsystem its tick, and on SIGHUP
 * reload, on SIGTERM/SIGINT stop gracefully. Signals are blocked in every
 * thread and taken synchronously here with sigtimedwait(), so no code runs
 * in a signal handler.
 *
 * A subsystem's start either succeeds or leaves what it made for its
 * stop, which is called for every subsystem that was started (in
 * reverse), including one whose start failed half way.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <malloc.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <systemd/sd-daemon.h>
#include <time.h>
#include <unistd.h>

#include <ipwall/table.h>

#include "api/auth.h"
#include "api/daemon.h"
#include "api/http.h"
#include "api/metrics.h"
#include "autoban/autoban.h"
#include "base/config.h"
#include "base/listen.h"
#include "base/log.h"
#include "oplog/audit.h"
#include "oplog/audit_sub.h"
#include "oplog/history.h"
#include "oplog/ops.h"
#include "oplog/store.h"
#include "build_features.h"
#include "enforce/enforce.h"
#if IPWD_WITH_REDIS
#include "cluster/cluster.h"
#endif

static void usage(FILE *f)
{
	fprintf(f,
		"usage: ipwalld [--config FILE] [--listen ADDR:PORT] "
		"[--data-dir DIR]\n"
		"       ipwalld --check-config [--config FILE] [...]\n"
		"       ipwalld --detach [--config FILE]\n"
		"\n"
		"  -c, --config FILE     INI configuration (default: none, "
		"embedded defaults)\n"
		"  -l, --listen ADDR:PORT  HTTP address (default %s; \"\" = "
		"no TCP)\n"
		"  -d, --data-dir DIR    data directory (default %s)\n"
		"      --check-config    validate the configuration and "
		"exit (0 valid, 1 not)\n"
		"  -V, --version         print the version and the optional subsystems\n"
		"                        built in (+name) or left out (-name)\n"
		"      --routes          print the HTTP API's routes and the token\n"
		"                        scope each needs, and exit\n"
		"      --detach          remove what [enforce] put in the kernel\n"
		"                        (XDP links, TC filters, pinned maps, the\n"
		"                        nftables table) and exit; stop ipwalld\n"
		"                        first\n"
		"  -h, --help            this text\n"
		"\n"
		"Flags override the file. Signals: SIGTERM/SIGINT stop "
		"gracefully, SIGHUP reloads.\n",
		IPWD_DEFAULT_LISTEN, IPWD_DEFAULT_DATA_DIR);
}

/* mkdir -p @path with mode 0750 for what it creates. */
static int make_dirs(const char *path)
{
	char buf[4096];
	size_t i, n = strlen(path);

	if (n == 0 || n >= sizeof(buf))
		return -1;
	memcpy(buf, path, n + 1);
	for (i = 1; i <= n; i++) {
		if (buf[i] != '/' && buf[i] != '\0')
			continue;
		buf[i] = '\0';
		if (mkdir(buf, 0750) != 0 && errno != EEXIST)
			return -1;
		buf[i] = i == n ? '\0' : '/';
	}
	return 0;
}

static void apply_live(struct ipwd *d)
{
	live_set(d, max_body, d->cfg.max_body);
	live_set(d, max_header, d->cfg.max_header);
	live_set(d, max_batch, (size_t)d->cfg.max_batch);
	live_set(d, protect_reads, (size_t)d->cfg.protect_reads);
	live_set(d, max_failures, d->cfg.max_failures);
	live_set(d, per_ip, d->cfg.max_connections_per_ip);
	live_set(d, lockout, d->cfg.lockout);
	live_set(d, default_ban_ttl, d->cfg.default_ban_ttl);
	ipwd_log_set_level((enum ipwd_log_level)d->cfg.log_level);
}

/* What main keeps for itself. */
static struct {
	int lock_fd;
	int64_t next_prune;
	uint64_t idle_seq;  /* the op log's sequence when last seen */
	int64_t idle_since; /* since when it has not moved */
	bool idle_released; /* memory given back since it last moved */
	bool check_said;
	struct ipwd_audit_sub *audit_sub;
	struct ipwd_enforce *enforce; /* NULL: no kernel enforcement */
#if IPWD_WITH_REDIS
	struct ipwd_cluster *cluster; /* NULL: [cluster] mode off */
#endif
} m = {.lock_fd = -1};

/*
 * One ipwalld per data directory: DATA_DIR/ipwalld.lock is held with
 * flock(2) for the life of the process (the kernel lets it go when the
 * process dies, kill -9 included), and holds the PID for people. A second
 * ipwalld is refused here, before it opens the store (where it would load,
 * record expiries and contend for the write lock) or touches the socket.
 */
static int lock_data_dir(const char *dir, int *fd)
{
	char path[4096], pid[32], held[32] = "";
	ssize_t n;
	int len;

	snprintf(path, sizeof(path), "%s/ipwalld.lock", dir);
	*fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
	if (*fd < 0) {
		log_error("cannot open %s: %s", path, strerror(errno));
		return -1;
	}
	if (flock(*fd, LOCK_EX | LOCK_NB) != 0) {
		int e = errno;

		n = pread(*fd, held, sizeof(held) - 1, 0);
		held[n > 0 ? n : 0] = '\0';
		held[strcspn(held, "\n")] = '\0';
		if (e == EWOULDBLOCK)
			log_error("another ipwalld running on data directory "
				  "%s (pid %s holds %s); not starting",
				  dir, *held ? held : "?", path);
		else
			log_error("cannot lock %s: %s", path, strerror(e));
		close(*fd);
		*fd = -1;
		return -1;
	}
	len = snprintf(pid, sizeof(pid), "%ld\n", (long)getpid());
	if (ftruncate(*fd, 0) != 0 || pwrite(*fd, pid, (size_t)len, 0) != len)
		log_warn("cannot write the pid into %s: %s", path,
			 strerror(errno));
	return 0;
}

/* ---- the subsystems ---- */

static int datadir_start(struct ipwd *d)
{
	if (make_dirs(d->cfg.data_dir) != 0) {
		log_error("cannot create data directory %s: %s",
			  d->cfg.data_dir, strerror(errno));
		return -1;
	}
	return lock_data_dir(d->cfg.data_dir, &m.lock_fd);
}

static void datadir_stop(struct ipwd *d)
{
	(void)d;
	if (m.lock_fd >= 0)
		close(m.lock_fd); /* last: the store is closed */
	m.lock_fd = -1;
}

static int auth_start(struct ipwd *d)
{
	bool created;

	if (ipwd_auth_new(&d->auth, d->cfg.tokens_file, !d->cfg.tokens_file_set,
			  &created) != 0) {
		log_error("cannot load tokens from %s (above)",
			  d->cfg.tokens_file);
		return -1;
	}
	if (created)
		log_info("created %s with a token named admin (mode 0600)",
			 d->cfg.tokens_file);
	return 0;
}

static void auth_reload(struct ipwd *d)
{
	if (ipwd_auth_reload(d->auth, d->cfg.tokens_file) != 0)
		log_error("reload: tokens file %s has errors (above); "
			  "keeping the current tokens",
			  d->cfg.tokens_file);
	else
		log_info("reload: %zu tokens from %s", ipwd_auth_count(d->auth),
			 d->cfg.tokens_file);
}

static void auth_stop(struct ipwd *d)
{
	ipwd_auth_free(d->auth);
	d->auth = NULL;
}

static int table_start(struct ipwd *d)
{
	struct ipw_table_opts topts = {0};
	enum ipw_change what;

	topts.max_entries = d->cfg.max_entries;
	topts.hit_sample = d->cfg.hit_sample;
	if (ipw_table_new(&d->table, &topts) != 0) {
		log_error("out of memory");
		return -1;
	}
	ipw_table_set_mode(d->table, (enum ipw_mode)d->cfg.mode, &what);
	return 0;
}

static void table_stop(struct ipwd *d)
{
	ipw_table_free(d->table);
	d->table = NULL;
}

static int store_start(struct ipwd *d)
{
	char err[1024];

	if (*d->cfg.store_path == '\0') {
		log_warn("no store ([store] path = none): bans live in "
			 "memory only and are lost at exit");
		return 0;
	}
	if (ipwd_store_open(&d->store, d->cfg.store_path,
			    (enum ipwd_sync)d->cfg.sync, err,
			    sizeof(err)) != 0) {
		log_error("store: %s", err);
		log_error("not starting: the store must be readable so that "
			  "no acknowledged ban is lost");
		return -1;
	}
	if (ipwd_store_set_cache(d->store, d->cfg.store_cache) != 0)
		log_warn("store: cannot set its page cache to %llu bytes",
			 (unsigned long long)d->cfg.store_cache);
	/* History queries read the store through a connection of their
	 * own (history.h); the schema exists now. */
	if (ipwd_history_open(&d->history, d->cfg.store_path, err,
			      sizeof(err)) != 0) {
		log_error("store: %s", err);
		return -1;
	}
	return 0;
}

/*
 * History retention: ops older than [store] history_retention are deleted
 * from the store, PRUNE_CHUNK at a time, each in a transaction of its own
 * on the store's connection between the index's transactions (writers
 * never wait for it: they commit to the journal). While a chunk comes
 * back full the next follows at the next tick (a second); otherwise the
 * next look is a minute away (or the retention, if shorter); while the
 * index holds the connection, the next tick tries again.
 */
#define PRUNE_CHUNK 10000

static void store_tick(struct ipwd *d)
{
	int64_t now = (int64_t)time(NULL), n;
	uint64_t keep = d->cfg.history_retention;

	if (d->store == NULL || keep == 0 || now < m.next_prune)
		return;
	n = ipwd_store_prune_history(d->store, now - (int64_t)keep,
				     PRUNE_CHUNK);
	if (n == IPW_EAGAIN)
		return;
	if (n > 0)
		log_info("store: history: deleted %lld ops older than %llu s",
			 (long long)n, (unsigned long long)keep);
	else if (n < 0)
		log_warn("store: history: cannot delete old ops: %s",
			 ipw_strerror((int)n));
	m.next_prune = now + (n == PRUNE_CHUNK ? 0 :
			      keep < 60	       ? (int64_t)keep :
						 60);
}

static void store_stop(struct ipwd *d)
{
	/* after the HTTP API and the write path: no query, no writer */
	ipwd_history_close(d->history);
	d->history = NULL;
	ipwd_store_close(d->store);
	d->store = NULL;
}

static int audit_start(struct ipwd *d)
{
	char err[1024];

	if (ipwd_audit_open(&d->audit, d->cfg.audit_log, err, sizeof(err)) !=
	    0) {
		log_error("audit log: %s", err);
		return -1;
	}
	return 0;
}

static void audit_reload(struct ipwd *d)
{
	if (ipwd_audit_reopen(d->audit) != 0)
		log_error("audit log: cannot reopen: %m; still writing to the "
			  "old file");
}

static void audit_stop(struct ipwd *d)
{
	ipwd_audit_close(d->audit);
	d->audit = NULL;
}

static int oplog_start(struct ipwd *d)
{
	size_t loaded = 0, expired = 0;
	char err[1024];

	if (ipwd_ops_new(&d->ops, d->table, d->cfg.node,
			 d->store ? &ipwd_store_sqlite : NULL, d->store) != 0 ||
	    (d->store && ipwd_store_subscribe(d->store, d->ops) != 0) ||
	    ipwd_audit_sub_new(&m.audit_sub, d->ops, d->audit, d->store) != 0) {
		log_error("out of memory");
		return -1;
	}
	if (m.enforce && ipwd_enforce_subscribe(m.enforce, d->ops) != 0) {
		log_error("out of memory");
		return -1;
	}
#if IPWD_WITH_REDIS
	/* the replicator subscribes and the arbiter is set before the load */
	if (ipwd_cluster_new(&m.cluster, &d->cfg, d->ops, d->store) != 0)
		return -1;
#endif
	if (ipwd_ops_load(d->ops, &loaded, &expired, err, sizeof(err)) != 0) {
		log_error("store: %s: %s", d->cfg.store_path, err);
		return -1;
	}
	/* The kernel holds the table before it judges a packet. */
	if (m.enforce && ipwd_enforce_attach(m.enforce) != 0)
		return -1;
	if (d->store)
		log_info("store %s: %zu entries loaded, %zu expired while "
			 "stopped (recorded)",
			 d->cfg.store_path, loaded, expired);
	return 0;
}

/*
 * Memory a burst took is given back once the daemon is idle: after
 * IDLE_RELEASE_S seconds in which the op log's sequence has not moved and
 * every subscriber has caught up, the store's page cache ([store] cache,
 * filled by the index while it caught up) is released, the committed
 * groups kept for reuse are freed, and malloc gives back the free memory
 * of its arenas (the groups, the request bodies).
 * Once per idle period; the next burst fills the cache again.
 */
#define IDLE_RELEASE_S 10

static bool subscribers_caught_up(struct ipwd *d, uint64_t seq)
{
	struct ipwd_sub_status st[16];
	size_t n = ipwd_ops_subscribers(d->ops, st, 16), i;

	for (i = 0; i < n && i < 16; i++)
		if (st[i].applied < seq)
			return false;
	return true;
}

static void release_when_idle(struct ipwd *d)
{
	int64_t now = (int64_t)time(NULL), freed = 0;
	uint64_t seq = ipwd_ops_seq(d->ops);
	size_t pool;

	if (seq != m.idle_seq || !subscribers_caught_up(d, seq)) {
		m.idle_seq = seq;
		m.idle_since = now;
		m.idle_released = false;
		return;
	}
	if (m.idle_released || now - m.idle_since < IDLE_RELEASE_S)
		return;
	if (d->store) {
		freed = ipwd_store_release_memory(d->store);
		if (freed == IPW_EAGAIN)
			return; /* the index or the pruning holds it: later */
	}
	pool = ipwd_ops_release_pool(d->ops);
	malloc_trim(0);
	m.idle_released = true;
	log_debug("idle: released %lld bytes of the store's page cache and "
		  "%zu of kept groups, and trimmed the heap",
		  (long long)(freed > 0 ? freed : 0), pool);
}

static void oplog_tick(struct ipwd *d)
{
	ipwd_ops_purge(d->ops);
	ipwd_ops_trim(d->ops);
	release_when_idle(d);
}

/* Kernel enforcement ([enforce], enforce/enforce.h): the backends before
 * the op log starts (their subscriber is added there, and they attach
 * once the first reconcile gave them the table); freed after the op log
 * has drained them. What they put in the kernel stays: a stop is no
 * window. */
static int enforce_start(struct ipwd *d)
{
	if (ipwd_enforce_new(&m.enforce, &d->cfg) != 0)
		return -1;
	if (m.enforce) {
		d->metrics_more = ipwd_enforce_metrics;
		d->drops = ipwd_enforce_drops;
		d->drops_top = ipwd_enforce_top;
		d->enforce_ctx = m.enforce;
	}
	return 0;
}

static void enforce_tick(struct ipwd *d)
{
	(void)d;
	ipwd_enforce_tick(m.enforce);
}

static void enforce_stop(struct ipwd *d)
{
	d->metrics_more = NULL;
	d->drops = NULL;
	d->drops_top = NULL;
	d->enforce_ctx = NULL;
	ipwd_enforce_free(m.enforce);
	m.enforce = NULL;
}

static void oplog_stop(struct ipwd *d)
{
	/* after HTTP: no writer is left; the subscribers drain */
	ipwd_ops_free(d->ops);
	d->ops = NULL;
#if IPWD_WITH_REDIS
	ipwd_cluster_free(m.cluster); /* its sender was a subscriber */
	m.cluster = NULL;
#endif
	ipwd_audit_sub_free(m.audit_sub);
	m.audit_sub = NULL;
}

/* Auto-ban ([rule NAME] sections, autoban/autoban.h): after the op log
 * is loaded (its bans are ops), before the HTTP front (POST /v1/events
 * submits to it); stopped after the front, so that the banner applies
 * what the engine decided while the op log still runs. */
static int autoban_start(struct ipwd *d)
{
	if (ipwd_autoban_new(&d->autoban, &d->cfg, d->ops, d->history) != 0)
		return -1;
	if (d->autoban && ipwd_autoban_start(d->autoban) != 0)
		return -1;
	d->ratelimit = ipwd_autoban_ratelimit(d->autoban);
	return 0;
}

static void autoban_stop(struct ipwd *d)
{
	d->ratelimit = NULL;
	ipwd_autoban_free(d->autoban);
	d->autoban = NULL;
}

static int check_start(struct ipwd *d)
{
	/* before the HTTP threads exist: they read d->check (/healthz) */
	if (d->store == NULL)
		return 0;
	d->check = ipwd_store_check_start(d->cfg.store_path);
	if (d->check == NULL)
		log_warn("store %s: cannot start the background check "
			 "(quick_check)",
			 d->cfg.store_path);
	return 0;
}

/* Say once what the store's background check found. */
static void check_tick(struct ipwd *d)
{
	const char *msg;
	enum ipwd_check_state st;

	if (d->check == NULL || m.check_said)
		return;
	st = ipwd_store_check_state(d->check, &msg);
	if (st == IPWD_CHECK_RUNNING)
		return;
	m.check_said = true;
	if (st == IPWD_CHECK_OK)
		log_info("store %s: the background check (quick_check) found "
			 "no damage",
			 d->cfg.store_path);
	else if (st == IPWD_CHECK_DAMAGED)
		log_error("store: %s (bans and checks go on from memory; "
			  "/healthz says \"store\": \"damaged\")",
			  msg);
	else
		log_warn("store: %s", msg);
}

static void check_stop(struct ipwd *d)
{
	ipwd_store_check_stop(d->check);
	d->check = NULL;
}

/*
 * Enough file descriptors for max_connections and the daemon's own (the
 * store, the journal, the audit log, listening sockets: 256 is ample).
 * A login shell's soft limit is often 1,024, which a full connection
 * table would hit: accept() would fail with EMFILE instead of the
 * connection limit refusing cleanly. The soft limit is raised up to the
 * hard one; a hard limit below the need is said.
 */
static void raise_nofile(const struct ipwd_config *c)
{
	rlim_t need = (rlim_t)c->max_connections + 256;
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) != 0 || rl.rlim_cur >= need)
		return;
	rl.rlim_cur = rl.rlim_max == RLIM_INFINITY || rl.rlim_max >= need ?
			      need :
			      rl.rlim_max;
	if (setrlimit(RLIMIT_NOFILE, &rl) != 0 || rl.rlim_cur < need)
		log_warn("open files limited to %llu, below max_connections "
			 "(%u) + 256: raise the hard limit (LimitNOFILE=, "
			 "ulimit -Hn) or lower [http] max_connections",
			 (unsigned long long)rl.rlim_cur, c->max_connections);
}

static int api_start(struct ipwd *d)
{
	raise_nofile(&d->cfg);
	ipwd_metrics_init();
	d->started = (int64_t)time(NULL);
	return ipwd_http_start(d);
}

static void api_reload(struct ipwd *d)
{
	ipwd_http_reload(d);
}

static void api_tick(struct ipwd *d)
{
	(void)d;
	ipwd_api_tick(false);
}

static void api_stop(struct ipwd *d)
{
	ipwd_http_stop(d, live_get(d, stopping) ? d->cfg.shutdown_timeout : 0);
	ipwd_api_tick(true);
}

/* Cluster mode ([cluster], cluster/cluster.h): made with the op log (its
 * sender is a subscriber, its arbiter decides ops from elsewhere), its
 * receiver started once the op log is loaded, and stopped before the op
 * log drains its subscribers. */
static int cluster_start(struct ipwd *d)
{
#if IPWD_WITH_REDIS
	if (m.cluster == NULL)
		return 0;
	if (ipwd_cluster_start(m.cluster) != 0)
		return -1;
	d->cluster_metrics = ipwd_cluster_metrics;
	d->cluster_health = ipwd_cluster_health;
	d->cluster_status = ipwd_cluster_status;
	d->cluster = m.cluster;
#else
	(void)d;
#endif
	return 0;
}

static void cluster_stop(struct ipwd *d)
{
	d->cluster = NULL;
#if IPWD_WITH_REDIS
	ipwd_cluster_stop(m.cluster);
#endif
}

struct subsystem {
	const char *name;
	int (*start)(struct ipwd *d);	/* 0, or -1 (said why) */
	void (*stop)(struct ipwd *d);	/* also after a failed start */
	void (*reload)(struct ipwd *d); /* SIGHUP, the new cfg in place */
	void (*tick)(struct ipwd *d);	/* each turn of the main loop */
};

static const struct subsystem subsystems[] = {
	{"data directory", datadir_start, datadir_stop, NULL, NULL},
	{"tokens", auth_start, auth_stop, auth_reload, NULL},
	{"table", table_start, table_stop, NULL, NULL},
	{"store", store_start, store_stop, NULL, store_tick},
	{"audit log", audit_start, audit_stop, audit_reload, NULL},
	{"kernel enforcement", enforce_start, enforce_stop, NULL, enforce_tick},
	{"op log", oplog_start, oplog_stop, NULL, oplog_tick},
	{"cluster", cluster_start, cluster_stop, NULL, NULL},
	{"store check", check_start, check_stop, NULL, check_tick},
	{"auto-ban", autoban_start, autoban_stop, NULL, NULL},
	{"http api", api_start, api_stop, api_reload, api_tick},
};
#define N_SUBSYSTEMS (sizeof(subsystems) / sizeof(subsystems[0]))

static void restart_key(const struct ipwd_conf_key *k, void *ctx)
{
	(void)ctx;
	log_warn("reload: [%s] %s%s%s%s changed; it takes effect at the next "
		 "start",
		 k->section, k->name, k->note ? " (" : "",
		 k->note ? k->note : "", k->note ? ")" : "");
}

/* SIGHUP: re-read the configuration; a file with errors is refused whole
 * (the running configuration stays). Keys that need a restart keep their
 * running values, with a warning. Then every subsystem reloads: the
 * tokens only with a valid file, the audit log (reopened after
 * logrotate) in any case. */
static void reload(struct ipwd *d, const char *path,
		   const struct ipwd_overrides *ov)
{
	struct ipwd_config nc;
	bool ok;
	size_t i;

	sd_notify(0, "RELOADING=1");
	log_info("reloading%s%s", path ? " " : "", path ? path : "");
	ok = ipwd_config_load(&nc, path, ov) == 0;
	if (ok) {
		ipwd_config_keep_restart(&d->cfg, &nc, restart_key, NULL);
		ipwd_config_free(&d->cfg);
		d->cfg = nc;
		apply_live(d);
	} else {
		log_error("reload: the configuration has errors (above); "
			  "keeping the running one");
		ipwd_config_free(&nc);
	}
	for (i = 0; i < N_SUBSYSTEMS; i++)
		if (subsystems[i].reload &&
		    (ok || subsystems[i].reload != auth_reload))
			subsystems[i].reload(d);
	if (ok)
		log_info("reloaded");
	sd_notify(0, "READY=1");
}

int main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{"config", required_argument, NULL, 'c'},
		{"listen", required_argument, NULL, 'l'},
		{"data-dir", required_argument, NULL, 'd'},
		{"check-config", no_argument, NULL, 'C'},
		{"version", no_argument, NULL, 'V'},
		{"routes", no_argument, NULL, 'R'},
		{"detach", no_argument, NULL, 'D'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	struct ipwd_overrides ov = {0};
	struct ipwd d = {0};
	const char *config = NULL;
	bool check_only = false, detach = false;
	struct timespec wait;
	sigset_t sigs;
	size_t started = 0, i;
	int c, errs, sig, rc = 1;

	while ((c = getopt_long(argc, argv, "c:l:d:Vh", longopts, NULL)) !=
	       -1) {
		switch (c) {
		case 'c':
			config = optarg;
			break;
		case 'l':
			ov.listen = optarg;
			break;
		case 'd':
			ov.data_dir = optarg;
			break;
		case 'C':
			check_only = true;
			break;
		case 'D':
			detach = true;
			break;
		case 'V':
			printf("ipwalld %s\nfeatures: %s\n", IPWALL_VERSION,
			       IPWD_FEATURES);
			return 0;
		case 'R':
			for (i = 0; i < ipwd_nroutes; i++)
				printf("%-6s %-20s %s\n",
				       ipwd_method_name(ipwd_routes[i].method),
				       ipwd_routes[i].path,
				       ipwd_scope_name(ipwd_routes[i].scope));
			return 0;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (optind != argc) {
		fprintf(stderr, "ipwalld: unexpected argument \"%s\"\n",
			argv[optind]);
		usage(stderr);
		return 2;
	}
	if (ov.listen && ipwd_listen_check(ov.listen) != 0) {
		fprintf(stderr,
			"ipwalld: --listen \"%s\": expected ADDR:PORT or "
			"[IPV6]:PORT\n",
			ov.listen);
		return 2;
	}

	/* glibc gives each thread that allocates its own arena, up to 8 per
	 * core, and keeps what is freed in each: with 64 blocking threads
	 * decoding batches, 1M durable bans left RSS at 367 MiB, 285 MiB
	 * with 4 arenas (same ingest time). MALLOC_ARENA_MAX overrides. */
	if (getenv("MALLOC_ARENA_MAX") == NULL)
		mallopt(M_ARENA_MAX, 4);
	ipwd_log_init();
	errs = ipwd_config_load(&d.cfg, config, &ov);
	if (check_only) {
		if (errs)
			fprintf(stderr, "%s: %d error%s\n",
				config ? config : "configuration", errs,
				errs == 1 ? "" : "s");
		else
			printf("%s: ok\n", config ? config : "(defaults)");
		ipwd_config_free(&d.cfg);
		return errs ? 1 : 0;
	}
	if (errs) {
		fprintf(stderr,
			"ipwalld: %d configuration error%s; not "
			"starting\n",
			errs, errs == 1 ? "" : "s");
		ipwd_config_free(&d.cfg);
		return 1;
	}
	if (detach) {
		/* Everything [enforce] put in the kernel, taken away. */
		int bad = ipwd_enforce_detach(&d.cfg);

		ipwd_config_free(&d.cfg);
		return bad ? 1 : 0;
	}
	apply_live(&d);

	/* Every thread inherits this mask; the loop below takes them. */
	sigemptyset(&sigs);
	sigaddset(&sigs, SIGTERM);
	sigaddset(&sigs, SIGINT);
	sigaddset(&sigs, SIGHUP);
	pthread_sigmask(SIG_BLOCK, &sigs, NULL);
	signal(SIGPIPE, SIG_IGN);

	for (started = 0; started < N_SUBSYSTEMS; started++)
		if (subsystems[started].start(&d) != 0) {
			log_debug("%s did not start", subsystems[started].name);
			started++; /* its stop cleans up what it made */
			goto out;
		}
	log_info("ipwalld %s ready: node %s, mode %s, max_entries %u",
		 IPWALL_VERSION, d.cfg.node,
		 ipw_mode_name(ipw_table_mode(d.table)), d.cfg.max_entries);
	sd_notifyf(0, "READY=1\nSTATUS=serving on %s%s%s", d.cfg.listen,
		   *d.cfg.socket ? " and " : "", d.cfg.socket);

	for (;;) {
		wait.tv_sec = d.cfg.purge_interval;
		wait.tv_nsec = 0;
		sig = sigtimedwait(&sigs, NULL, &wait);
		if (sig == SIGTERM || sig == SIGINT)
			break;
		if (sig == SIGHUP)
			reload(&d, config, &ov);
		for (i = 0; i < N_SUBSYSTEMS; i++)
			if (subsystems[i].tick)
				subsystems[i].tick(&d);
	}

	log_info("stopping: finishing requests in progress (up to %us)",
		 d.cfg.shutdown_timeout);
	sd_notify(0, "STOPPING=1");
	live_set(&d, stopping, 1);
	rc = 0;
out:
	while (started-- > 0)
		subsystems[started].stop(&d);
	ipwd_config_free(&d.cfg);
	if (rc == 0)
		log_info("stopped");
	return rc;
}
