/* SPDX-License-Identifier: MIT */
/*
 * Bearer tokens for the HTTP API. A tokens file holds "name:secret" lines
 * ('#' comments, blank lines ignored); the name is the actor the audit
 * trail records ("token:NAME"). Secrets are 16 to 128 printable bytes
 * without spaces or ':'; names 1 to 32 bytes of [A-Za-z0-9_.-].
 *
 * Verification compares the presented secret with every configured one
 * over a fixed 128-byte window, with no early exit, so its time does not
 * depend on how many bytes of any secret match.
 *
 * Concurrency: ipwd_auth_verify() from any thread; ipwd_auth_reload()
 * swaps the set under a write lock (SIGHUP), so a request sees the old or
 * the new set, whole.
 */
#ifndef IPWALL_DAEMON_AUTH_H
#define IPWALL_DAEMON_AUTH_H

#include <stdbool.h>
#include <stddef.h>

#define IPWD_TOKEN_NAME_MAX   33  /* incl. NUL */
#define IPWD_TOKEN_SECRET_MAX 128 /* bytes */

struct ipwd_auth;

/*
 * ipwd_auth_new() - load @path; if it does not exist and @create, create it
 * (mode 0600) with one token named "admin" (64 hex digits from
 * getrandom()). Problems are printed on stderr as "PATH:LINE: ...".
 * Returns 0, or -1 (nothing created).
 */
int ipwd_auth_new(struct ipwd_auth **out, const char *path, bool create,
		  bool *created);
/* Re-read the file; on error keep the current set and return -1. */
int ipwd_auth_reload(struct ipwd_auth *a, const char *path);
void ipwd_auth_free(struct ipwd_auth *a);

/* The name of the token whose secret is @secret[0..len), copied into
 * @name; false if none matches. */
bool ipwd_auth_verify(struct ipwd_auth *a, const char *secret, size_t len,
		      char name[IPWD_TOKEN_NAME_MAX]);
size_t ipwd_auth_count(struct ipwd_auth *a);

#endif /* IPWALL_DAEMON_AUTH_H */
