/* SPDX-License-Identifier: MIT */
/*
 * libipwall-client: report failures to ipwalld and forget them.
 *
 * A service that sees a failure (a wrong password, a rejected login, a
 * burst of 404s) reports the source address and what happened; ipwalld's
 * auto-ban rules count the reports and decide. This library is the
 * service's side: one datagram per report to ipwalld's local socket,
 * in the spirit of NetBSD's libblocklist (bl_create/bl_send).
 *
 *   struct ipw_client *c;
 *
 *   if (ipw_client_new(&c, NULL) == 0) {      // at start-up
 *           ...
 *           ipw_client_report(c, peer_ip, "ssh_auth_fail", "sshd", user,
 *                             NULL);           // at each failure
 *           ...
 *           ipw_client_free(c);                // at exit
 *   }
 *
 * Link with `pkg-config --cflags --libs ipwall-client`. The library needs
 * nothing but libc; it exports only the ipw_client_* functions below.
 *
 * Promises to the caller:
 *   - A report never blocks and never raises a signal: the socket is
 *     non-blocking and sends with MSG_DONTWAIT | MSG_NOSIGNAL. When
 *     ipwalld is stopped, not installed, or too busy to take the datagram,
 *     the report is dropped and counted (ipw_client_stats()), and the call
 *     returns at once.
 *   - Nothing fails because ipwalld is down, and nothing needs to be done
 *     when it comes back: the client reconnects by itself, trying at most
 *     once a second, so a caller in a tight loop does not pay a connect()
 *     per report while the daemon is away.
 *   - Every function but ipw_client_free() may be called from any number
 *     of threads at once on the same client. No locks are taken.
 *
 * Errors are negative int codes, the same numbers as libipwall's
 * <ipwall/errcode.h> (which this header does not need):
 *   IPW_EADDR_*   -1000..-1033  the IP argument, e.g. -1033 for a prefix
 *                               where one address is needed
 *   IPW_EEVENT_*  -1100..-1110  TYPE, SERVICE, USER or DETAIL: which one
 *                               and why (empty, too long, a bad byte)
 *   -EINVAL, -ENOMEM, -ENAMETOOLONG   as in errno
 * ipw_client_strerror() and ipw_client_errname() say which.
 *
 * The wire format and the rules of each field are in docs/events.md.
 */
#ifndef IPWALL_CLIENT_H
#define IPWALL_CLIENT_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* The socket ipwalld listens on for events, unless the environment says
 * otherwise (IPW_CLIENT_SOCKET_ENV). */
#define IPW_CLIENT_SOCKET_DEFAULT "/run/ipwalld/events.sock"
#define IPW_CLIENT_SOCKET_ENV	  "IPWALL_EVENTS_SOCKET"

/* The longest of each field, in bytes. */
#define IPW_CLIENT_TYPE_MAX    32
#define IPW_CLIENT_SERVICE_MAX 32
#define IPW_CLIENT_USER_MAX    64
#define IPW_CLIENT_DETAIL_MAX  256

/* ipw_client_report()'s answer when the report was dropped: positive, so
 * `rc < 0` still means "the caller's arguments were wrong" and nothing
 * else. */
#define IPW_CLIENT_DROPPED 1

struct ipw_client;

/*
 * ipw_client_new() - make a client for the daemon's event socket.
 * @out:  the new client, on success
 * @path: the socket's path; NULL for the environment variable
 *        IPWALL_EVENTS_SOCKET if it is set and not empty (ignored in a
 *        set-user-ID or set-group-ID program, by secure_getenv()), else
 *        IPW_CLIENT_SOCKET_DEFAULT
 *
 * Nothing is connected yet and the daemon need not be running: the first
 * report connects. Returns 0; -ENOMEM; -ENAMETOOLONG if the path does not
 * fit a unix socket address (107 bytes); or -EINVAL if @out is NULL or the
 * path is empty. Free the client with ipw_client_free().
 */
int ipw_client_new(struct ipw_client **out, const char *path);

/*
 * ipw_client_free() - close the socket and free @c. NULL is a no-op.
 * No other call on @c may run during or after it.
 */
void ipw_client_free(struct ipw_client *c);

/*
 * ipw_client_report() - report one failure of @ip.
 * @ip:      the source address, IPv4 or IPv6 text (one address, not a
 *           prefix; ::ffff:a.b.c.d is taken as the IPv4 address; no zone)
 * @type:    what happened: 1..32 bytes of [a-z0-9_.-], e.g.
 *           "ssh_auth_fail"; the daemon's rules count events by type
 * @service: who saw it, 0..32 bytes of [a-z0-9_.-] (e.g. "sshd"), or NULL
 * @user:    the account tried, 0..64 bytes, or NULL
 * @detail:  free text for the log and the audit, 0..256 bytes, or NULL.
 *           USER and DETAIL take any byte but a control byte (0x00-0x1f,
 *           0x7f): UTF-8 passes, and so does text in other encodings.
 *
 * The arguments are checked first and a report with a bad one is not
 * sent: an attacker-chosen user name with a control byte in it would
 * lose its report, so a caller that passes what a client typed escapes it
 * or reports again without it when the report is refused.
 *
 * Returns:
 *   0                   the datagram was queued on the daemon's socket
 *   IPW_CLIENT_DROPPED  the daemon is away (no socket, nobody listening,
 *                       restarting) or its queue is full: the report is
 *                       counted as dropped and forgotten
 *   negative            a bad argument (see the top of this file), with
 *                       nothing sent or counted; -EINVAL for a NULL @c
 * Never blocks; thread-safe.
 */
int ipw_client_report(struct ipw_client *c, const char *ip, const char *type,
		      const char *service, const char *user,
		      const char *detail);

/*
 * ipw_client_stats() - what @c has done since ipw_client_new().
 * @sent:    if not NULL, the reports queued on the daemon's socket
 * @dropped: if not NULL, the reports dropped (IPW_CLIENT_DROPPED)
 *
 * Each counter is read atomically; the two are not a snapshot of one
 * instant when other threads are reporting. Thread-safe.
 */
void ipw_client_stats(const struct ipw_client *c, uint64_t *sent,
		      uint64_t *dropped);

/* ipw_client_path() - the socket path @c sends to (owned by @c). */
const char *ipw_client_path(const struct ipw_client *c);

/*
 * ipw_client_strerror() - a sentence for any code these functions return,
 * e.g. "a single address is required here, not a prefix".
 * ipw_client_errname() - its stable name, e.g. "EADDR_PREFIX_DENIED".
 * Static strings, never NULL; thread-safe.
 */
const char *ipw_client_strerror(int err);
const char *ipw_client_errname(int err);

#ifdef __cplusplus
}
#endif

#endif /* IPWALL_CLIENT_H */
