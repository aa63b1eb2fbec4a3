/* SPDX-License-Identifier: MIT */
/*
 * ipwalld's configuration: an INI file (the engine is conf.h), then the
 * command line flags on top. Every key is one row of the schema in
 * config.c: its section, type, bounds, default and whether SIGHUP applies
 * it; ipwalld.conf.example at the top of the repository lists them for
 * people. The defaults are embedded so that ipwalld runs with no file.
 */
#ifndef IPWALL_DAEMON_CONFIG_H
#define IPWALL_DAEMON_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/conf.h"
#include "base/redis_url.h"

#define IPWD_DEFAULT_LISTEN   "127.0.0.1:7420"
#define IPWD_DEFAULT_DATA_DIR "./var"

enum ipwd_xdp_mode {
	IPWD_XDP_NATIVE,  /* in the driver; refused where it has none */
	IPWD_XDP_GENERIC, /* after the driver, on any interface */
};

/* [cluster] mode: the stages of a migration from one node (issue 16). */
enum ipwd_cluster_mode {
	IPWD_CLUSTER_OFF,    /* a single node; Redis is not used */
	IPWD_CLUSTER_SHADOW, /* local ops sent to Redis, the stream read into
				a dry run that changes no decision */
	IPWD_CLUSTER_ON,     /* full membership */
};

/* A node id that cluster mode accepts: 1 to 63 bytes of A-Z a-z 0-9 . _ -
 * (it goes into stream entries and keys). */
#define IPWD_CLUSTER_NODE_MAX 63
bool ipwd_cluster_node_valid(const char *node);

struct ipwd_config {
	/* [daemon] */
	char *data_dir;
	char *node;    /* origin node name of ops; default: hostname */
	int log_level; /* enum ipwd_log_level */
	unsigned shutdown_timeout; /* seconds to finish in-flight requests */
	/* [http] */
	char *listen;	  /* "ADDR:PORT", "[V6]:PORT", or "" (no TCP) */
	char *socket;	  /* unix socket path, or "" (none) */
	unsigned threads; /* HTTP worker threads; 0 = one per CPU */
	unsigned blocking_threads; /* threads for requests that wait */
	unsigned max_connections;
	unsigned max_connections_per_ip; /* 0 = no limit */
	unsigned timeout;		 /* idle/request timeout, seconds */
	size_t max_header;		 /* bytes of request line + headers */
	size_t max_body;		 /* bytes */
	unsigned max_batch;		 /* items in one batch request */
	char *tls_cert; /* PEM chain for the TCP listeners, or "" (no TLS) */
	char *tls_key;	/* PEM private key, or "" */
	/* [auth] */
	char *tokens_file;
	bool tokens_file_set;  /* given in the file (else: created if absent) */
	bool protect_reads;    /* GETs need a token too (TCP only) */
	unsigned max_failures; /* wrong tokens before a lock-out; 0 = off */
	unsigned lockout;      /* seconds: the window and the lock-out */
	/* [table] */
	uint32_t max_entries;
	uint64_t default_ban_ttl; /* seconds, 0 = permanent */
	uint32_t hit_sample;
	unsigned purge_interval; /* seconds */
	int mode;		 /* enum ipw_mode at start */
	/* [store] */
	char *store_path;	    /* SQLite file, or "" (memory only) */
	int sync;		    /* enum ipwd_sync */
	uint64_t history_retention; /* seconds of history kept, 0 = all */
	uint64_t store_cache;	    /* bytes of SQLite page cache, index */
	/* [audit] */
	char *audit_log; /* file, "-", "journal", or "" (none) */
	/* [enforce] */
	char *xdp;     /* interfaces for the XDP program, spaces between */
	int xdp_mode;  /* enum ipwd_xdp_mode */
	char *tc;      /* interfaces for the TC (clsact ingress) program */
	char *pin_dir; /* bpffs folder of the pinned maps and links */
	unsigned reconcile_interval; /* seconds between reconciles, 0 = off */
	bool nftables;		     /* the nftables backend */
	bool nft_forward;	     /* also filter forwarded traffic */
	char *nft_table;	     /* name of the inet table */
	unsigned nft_max_elements;   /* per set; 0 = [table] max_entries */
	/* [autoban] (on when at least one [rule NAME] exists) */
	size_t ab_budget;	/* bytes of the engine's whole state */
	uint32_t ab_breaker;	/* new sources a second that trip it */
	char *ab_socket;	/* the events datagram socket, "" = none */
	uint32_t ab_queue;	/* events waiting for the engine */
	size_t ab_check_budget; /* bytes of the check rate limiter */
	/* [cluster] (every key restart-only). cluster_redis (the URL as
	 * written) and cluster_password may hold the password: never print
	 * them (format cluster_url instead). */
	int cluster_mode; /* enum ipwd_cluster_mode */
	char *cluster_redis;
	char *cluster_user;	     /* NULL: the URL's */
	char *cluster_password;	     /* NULL: the URL's */
	char *cluster_password_file; /* NULL: none */
	char *cluster_node;	     /* NULL: not given ([daemon] node) */
	char *cluster_stream;	     /* the hash tag of every key */
	uint64_t cluster_maxlen;     /* XADD MAXLEN ~ this */
	unsigned cluster_block_ms;   /* XREAD BLOCK, ms */
	/* The socket timeout, ms: after a load, above cluster_block_ms (0 in
	 * the file: block_ms + 2000). */
	unsigned cluster_timeout_ms;
	unsigned cluster_batch; /* ops per stream entry at most */
	unsigned cluster_heartbeat_ms;
	/* The server to use, derived at load from redis, user, password and
	 * password_file (which is read then): the password in it is the one
	 * to AUTH with. Not a key of the schema: ipwd_config_keep_restart()
	 * keeps it with the keys it comes from. */
	struct ipwd_redis_url cluster_url;
	/* [rule NAME], in file order (struct ipwd_rule_conf) */
	struct ipwd_conf_instance *rules;
};

/* One [rule NAME] section: see ipwalld.conf.example and docs/autoban.md. */
struct ipwd_rule_conf {
	struct ipwd_conf_instance in; /* first: the name and the list */
	char *events;		      /* event types, spaces or commas */
	unsigned threshold;	      /* N events ... */
	uint64_t window;	      /* ... within this many seconds */
	uint64_t ban;		      /* seconds, first offence */
	double escalate;	      /* factor per earlier ban, >= 1 */
	uint64_t max_ban;	      /* cap, seconds (0: none) */
	unsigned aggregate_v4;	      /* offenders in a /24 to ban it */
	unsigned aggregate_v6;	      /* offending /64s in a /48 */
	bool dry_run;
	/* Rate limit on GET /v1/check (one rule at most): checks a second
	 * per address (0: none), burst, key prefix lengths, and how long an
	 * address stays over the limit before each limited check is also
	 * an event "rate_limited" for the engine. */
	double check_rate;
	unsigned check_burst;
	unsigned check_prefix_v4, check_prefix_v6;
	uint64_t check_sustain;
};

/* Command line values that override the file (NULL: not given). */
struct ipwd_overrides {
	const char *listen;
	const char *data_dir;
};

/*
 * ipwd_config_load() - defaults, then @path (NULL: none), then @ov.
 * Every problem is reported on stderr as "FILE:LINE: message" and counted;
 * returns the number of problems (0 = valid). *cfg is filled either way
 * (with defaults where a value was bad) and must be freed with
 * ipwd_config_free().
 */
int ipwd_config_load(struct ipwd_config *cfg, const char *path,
		     const struct ipwd_overrides *ov);
/* Free and zero every field (the Redis password's bytes too). */
void ipwd_config_free(struct ipwd_config *cfg);

/*
 * ipwd_config_keep_restart() - a reload: ipwd_conf_keep_restart() on the
 * schema (@changed is called for each restart-only key whose value
 * differs), and the same for what is derived from restart-only keys at
 * load (cluster_url), so that @nw can replace @old whole and still
 * describe what runs. A reload should call this rather than
 * ipwd_conf_keep_restart() alone.
 */
void ipwd_config_keep_restart(struct ipwd_config *old, struct ipwd_config *nw,
			      void (*changed)(const struct ipwd_conf_key *k,
					      void *ctx),
			      void *ctx);

/* The schema (every key), for a reload's ipwd_conf_keep_restart(). */
extern const struct ipwd_conf_schema ipwd_config_schema;

#endif /* IPWALL_DAEMON_CONFIG_H */
