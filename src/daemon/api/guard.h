/* SPDX-License-Identifier: MIT */
/*
 * The front door's per-address accounting: how many connections each
 * client address holds, and how often it has shown a wrong token.
 *
 * Connections. libmicrohttpd's own per-IP limit counts per MHD daemon,
 * that is per worker thread, so with N workers an address could hold N
 * times [http] max_connections_per_ip, and a refusal is not seen by
 * anyone. Here one table counts an address's connections across every
 * worker: MHD's accept policy callback asks ipwd_guard_conn_allow()
 * before a connection is set up, and the connection's start and close
 * notifications count it in and out. Two workers accepting from one
 * address at the same instant may each pass the check: the limit can be
 * exceeded by at most one connection per worker. The table holds one
 * entry per connected address, sized for max_connections, so it never
 * fills.
 *
 * Authentication failures. Each wrong or unknown bearer token counts
 * against its address; [auth] max_failures of them within [auth] lockout
 * lock the address out for that long: its requests that need a token get
 * 429 with Retry-After, and no token is compared meanwhile. The counts
 * live in a direct-mapped cache of 4,096 slots keyed by a keyed hash of
 * the address, so memory is fixed whatever arrives; an address that
 * shares a slot with another resets it (a client rotating addresses is
 * not stopped by a per-address limit anyway; the token's 256 bits are the
 * defence there). The unix socket is never counted.
 *
 * Concurrency: any thread; one mutex per table, taken per accepted
 * connection and per failure; a request with a valid token reads one
 * slot's lock-out time without the mutex.
 */
#ifndef IPWALL_DAEMON_API_GUARD_H
#define IPWALL_DAEMON_API_GUARD_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>

struct ipwd_guard;

struct ipwd_guard_stats {
	uint64_t conns;		 /* open TCP connections now */
	uint64_t addrs;		 /* distinct addresses holding them */
	uint64_t refused_per_ip; /* connections refused by the limit */
	uint64_t auth_failures;	 /* wrong or unknown tokens */
	uint64_t lockouts;	 /* addresses locked out */
	uint64_t locked_refused; /* requests answered 429 while locked */
};

/* @max_conns sizes the table; @per_ip 0: no per-address limit;
 * @max_failures 0: no lock-out. */
struct ipwd_guard *ipwd_guard_new(unsigned max_conns, unsigned per_ip,
				  unsigned max_failures, unsigned lockout_s);
void ipwd_guard_free(struct ipwd_guard *g);
/* SIGHUP: new lock-out settings (the connection limits need a restart). */
void ipwd_guard_set_lockout(struct ipwd_guard *g, unsigned max_failures,
			    unsigned lockout_s);

/* May @sa open one more connection? Counts a refusal. */
bool ipwd_guard_conn_allow(struct ipwd_guard *g, const struct sockaddr *sa);
void ipwd_guard_conn_open(struct ipwd_guard *g, const struct sockaddr *sa);
void ipwd_guard_conn_close(struct ipwd_guard *g, const struct sockaddr *sa);

/* Seconds @sa stays locked out (0: not locked); counts the refusal. */
unsigned ipwd_guard_locked(struct ipwd_guard *g, const struct sockaddr *sa,
			   int64_t now);
/* A wrong token from @sa at @now; true if this locked it out. */
bool ipwd_guard_auth_failed(struct ipwd_guard *g, const struct sockaddr *sa,
			    int64_t now);

void ipwd_guard_stats(struct ipwd_guard *g, struct ipwd_guard_stats *out);

#endif /* IPWALL_DAEMON_API_GUARD_H */
