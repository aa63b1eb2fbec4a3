/* SPDX-License-Identifier: MIT */
/*
 * ipwalld: the daemon's main. Reads the configuration, builds the table,
 * the write path and the HTTP front, tells systemd it is ready, then
 * spends its life in one loop on the main thread: wait for a signal (with
 * the purge interval as timeout), purge expired entries, and on SIGHUP
 * reload, on SIGTERM/SIGINT stop gracefully. Signals are blocked in every
 * thread and taken synchronously here with sigtimedwait(), so no code runs
 * in a signal handler.
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
#include <sys/stat.h>
#include <systemd/sd-daemon.h>
#include <time.h>
#include <unistd.h>

#include <ipwall/table.h>

#include "auth.h"
#include "config.h"
#include "daemon.h"
#include "history.h"
#include "http.h"
#include "log.h"
#include "metrics.h"
#include "ops.h"
#include "store.h"

static void usage(FILE *f)
{
	fprintf(f,
		"usage: ipwalld [--config FILE] [--listen ADDR:PORT] "
		"[--data-dir DIR]\n"
		"       ipwalld --check-config [--config FILE] [...]\n"
		"\n"
		"  -c, --config FILE     INI configuration (default: none, "
		"embedded defaults)\n"
		"  -l, --listen ADDR:PORT  HTTP address (default %s; \"\" = "
		"no TCP)\n"
		"  -d, --data-dir DIR    data directory (default %s)\n"
		"      --check-config    validate the configuration and "
		"exit (0 valid, 1 not)\n"
		"  -V, --version         print the version\n"
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
	live_set(d, max_batch, (size_t)d->cfg.max_batch);
	live_set(d, protect_reads, (size_t)d->cfg.protect_reads);
	live_set(d, default_ban_ttl, d->cfg.default_ban_ttl);
	ipwd_log_set_level((enum ipwd_log_level)d->cfg.log_level);
}

#define RESTART_KEY(field, name)                                           \
	do {                                                               \
		if (strcmp(old->field, nw->field) != 0)                    \
			log_warn("reload: %s changed; it takes effect at " \
				 "the next start",                         \
				 name);                                    \
	} while (0)
#define RESTART_NUM(field, name)                                           \
	do {                                                               \
		if (old->field != nw->field)                               \
			log_warn("reload: %s changed; it takes effect at " \
				 "the next start",                         \
				 name);                                    \
	} while (0)

static void swap_str(char **a, char **b)
{
	char *t = *a;

	*a = *b;
	*b = t;
}

static void reload(struct ipwd *d, const char *path,
		   const struct ipwd_overrides *ov)
{
	struct ipwd_config nc, *old = &d->cfg, *nw = &nc;

	sd_notify(0, "RELOADING=1");
	log_info("reloading%s%s", path ? " " : "", path ? path : "");
	if (ipwd_config_load(&nc, path, ov) != 0) {
		log_error("reload: the configuration has errors (above); "
			  "keeping the running one");
		ipwd_config_free(&nc);
		sd_notify(0, "READY=1");
		return;
	}
	RESTART_KEY(data_dir, "[daemon] data_dir");
	RESTART_KEY(node, "[daemon] node");
	RESTART_KEY(listen, "[http] listen");
	RESTART_KEY(socket, "[http] socket");
	RESTART_NUM(threads, "[http] threads");
	RESTART_NUM(blocking_threads, "[http] blocking_threads");
	RESTART_NUM(max_connections, "[http] max_connections");
	RESTART_NUM(max_connections_per_ip, "[http] max_connections_per_ip");
	RESTART_NUM(timeout, "[http] timeout");
	RESTART_NUM(max_header, "[http] max_header");
	RESTART_NUM(max_entries, "[table] max_entries");
	RESTART_NUM(hit_sample, "[table] hit_sample");
	RESTART_NUM(mode, "[table] mode (set the mode with PUT /v1/mode)");
	RESTART_KEY(store_path, "[store] path");
	RESTART_NUM(sync, "[store] sync");
	RESTART_KEY(audit_log, "[audit] log");
	if (ipwd_auth_reload(d->auth, nc.tokens_file) != 0)
		log_error("reload: tokens file %s has errors (above); "
			  "keeping the current tokens",
			  nc.tokens_file);
	else
		log_info("reload: %zu tokens from %s", ipwd_auth_count(d->auth),
			 nc.tokens_file);
	/* Keep the values that need a restart as they are running. */
	nc.threads = old->threads;
	nc.blocking_threads = old->blocking_threads;
	nc.max_connections = old->max_connections;
	nc.max_connections_per_ip = old->max_connections_per_ip;
	nc.timeout = old->timeout;
	nc.max_header = old->max_header;
	nc.max_entries = old->max_entries;
	nc.hit_sample = old->hit_sample;
	nc.mode = old->mode;
	/* The strings that need a restart too: nc takes the running ones,
	 * then replaces the running configuration. */
	swap_str(&nc.data_dir, &old->data_dir);
	swap_str(&nc.node, &old->node);
	swap_str(&nc.listen, &old->listen);
	swap_str(&nc.socket, &old->socket);
	swap_str(&nc.store_path, &old->store_path);
	swap_str(&nc.audit_log, &old->audit_log);
	nc.sync = old->sync;
	ipwd_config_free(old);
	*old = nc;
	apply_live(d);
	log_info("reloaded");
	sd_notify(0, "READY=1");
}

/*
 * History retention: ops older than [store] history_retention are deleted
 * from the store, PRUNE_CHUNK at a time, each in a group of its own (a
 * short transaction: writers wait for one chunk, not for the backlog).
 * While a chunk comes back full the next follows at the next tick (a
 * second); otherwise the next look is a minute away (or the retention, if
 * shorter).
 */
#define PRUNE_CHUNK 10000

static void prune_history(struct ipwd *d, int64_t *next)
{
	int64_t now = (int64_t)time(NULL), n;
	uint64_t keep = d->cfg.history_retention;

	if (keep == 0 || now < *next)
		return;
	n = ipwd_ops_prune_history(d->ops, now - (int64_t)keep, PRUNE_CHUNK);
	if (n > 0)
		log_info("store: history: deleted %lld ops older than %llu s",
			 (long long)n, (unsigned long long)keep);
	*next = now + (n == PRUNE_CHUNK ? 0 : keep < 60 ? (int64_t)keep : 60);
}

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

/* Say once what the store's background check found. */
static void check_done(struct ipwd *d, bool *said)
{
	const char *msg;
	enum ipwd_check_state st;

	if (d->check == NULL || *said)
		return;
	st = ipwd_store_check_state(d->check, &msg);
	if (st == IPWD_CHECK_RUNNING)
		return;
	*said = true;
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

int main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{"config", required_argument, NULL, 'c'},
		{"listen", required_argument, NULL, 'l'},
		{"data-dir", required_argument, NULL, 'd'},
		{"check-config", no_argument, NULL, 'C'},
		{"version", no_argument, NULL, 'V'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	struct ipwd_overrides ov = {0};
	struct ipw_table_opts topts = {0};
	struct ipwd d = {0};
	const char *config = NULL;
	bool check_only = false, created, check_said = false;
	int64_t next_prune = 0;
	int lock_fd = -1;
	enum ipw_change what;
	struct timespec wait;
	sigset_t sigs;
	struct ipwd_store *store = NULL;
	struct ipwd_audit *audit = NULL;
	size_t loaded = 0, expired = 0;
	char err[1024];
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
		case 'V':
			printf("ipwalld %s\n", IPWALL_VERSION);
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
	if (ov.listen && ipwd_http_check_listen(ov.listen) != 0) {
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
	apply_live(&d);

	/* Every thread inherits this mask; the loop below takes them. */
	sigemptyset(&sigs);
	sigaddset(&sigs, SIGTERM);
	sigaddset(&sigs, SIGINT);
	sigaddset(&sigs, SIGHUP);
	pthread_sigmask(SIG_BLOCK, &sigs, NULL);
	signal(SIGPIPE, SIG_IGN);

	if (make_dirs(d.cfg.data_dir) != 0) {
		log_error("cannot create data directory %s: %s", d.cfg.data_dir,
			  strerror(errno));
		goto out;
	}
	if (lock_data_dir(d.cfg.data_dir, &lock_fd) != 0)
		goto out;
	if (ipwd_auth_new(&d.auth, d.cfg.tokens_file, !d.cfg.tokens_file_set,
			  &created) != 0) {
		log_error("cannot load tokens from %s (above)",
			  d.cfg.tokens_file);
		goto out;
	}
	if (created)
		log_info("created %s with a token named admin (mode 0600)",
			 d.cfg.tokens_file);
	topts.max_entries = d.cfg.max_entries;
	topts.hit_sample = d.cfg.hit_sample;
	if (ipw_table_new(&d.table, &topts) != 0) {
		log_error("out of memory");
		goto out;
	}
	ipw_table_set_mode(d.table, (enum ipw_mode)d.cfg.mode, &what);
	if (*d.cfg.store_path && ipwd_store_open(&store, d.cfg.store_path,
						 (enum ipwd_sync)d.cfg.sync,
						 err, sizeof(err)) != 0) {
		log_error("store: %s", err);
		log_error("not starting: the store must be readable so that "
			  "no acknowledged ban is lost");
		goto out;
	}
	/* History queries read the store through a connection of their
	 * own (history.h); the schema exists now. */
	if (store && ipwd_history_open(&d.history, d.cfg.store_path, err,
				       sizeof(err)) != 0) {
		log_error("store: %s", err);
		goto out;
	}
	if (ipwd_audit_open(&audit, d.cfg.audit_log, err, sizeof(err)) != 0) {
		log_error("audit log: %s", err);
		goto out;
	}
	if (ipwd_ops_new(&d.ops, d.table, d.cfg.node, store, audit) != 0) {
		log_error("out of memory");
		goto out;
	}
	if (ipwd_ops_load(d.ops, &loaded, &expired, err, sizeof(err)) != 0) {
		log_error("store: %s: %s", d.cfg.store_path, err);
		goto out;
	}
	if (store)
		log_info("store %s: %zu entries loaded, %zu expired while "
			 "stopped (recorded)",
			 d.cfg.store_path, loaded, expired);
	else
		log_warn("no store ([store] path = none): bans live in "
			 "memory only and are lost at exit");
	ipwd_metrics_init();
	d.started = (int64_t)time(NULL);
	/* before the HTTP threads exist: they read d.check (/healthz) */
	if (store) {
		d.check = ipwd_store_check_start(d.cfg.store_path);
		if (d.check == NULL)
			log_warn("store %s: cannot start the background check "
				 "(quick_check)",
				 d.cfg.store_path);
	}
	if (ipwd_http_start(&d) != 0)
		goto out;
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
		if (sig == SIGHUP) {
			reload(&d, config, &ov);
			ipwd_ops_reopen_audit(d.ops);
		}
		ipwd_ops_purge(d.ops);
		prune_history(&d, &next_prune);
		ipwd_api_tick(false);
		check_done(&d, &check_said);
	}

	log_info("stopping: finishing requests in progress (up to %us)",
		 d.cfg.shutdown_timeout);
	sd_notify(0, "STOPPING=1");
	rc = 0;
out:
	ipwd_http_stop(&d, rc == 0 ? d.cfg.shutdown_timeout : 0);
	ipwd_store_check_stop(d.check);
	ipwd_api_tick(true);
	ipwd_ops_free(d.ops); /* after HTTP: no writer is left */
	/* After HTTP too: no history query is left. */
	ipwd_history_close(d.history);
	ipwd_store_close(store);
	ipwd_audit_close(audit);
	ipw_table_free(d.table);
	ipwd_auth_free(d.auth);
	ipwd_config_free(&d.cfg);
	if (lock_fd >= 0)
		close(lock_fd); /* last: the store is closed */
	if (rc == 0)
		log_info("stopped");
	return rc;
}
