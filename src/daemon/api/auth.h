/* SPDX-License-Identifier: MIT */
/*
 * Bearer tokens for the HTTP API. A tokens file holds "name:secret:scope"
 * lines ('#' comments, blank lines ignored); the name is the actor the
 * audit trail records ("token:NAME"). Secrets are 16 to 128 printable
 * bytes without spaces or ':'; names 1 to 32 bytes of [A-Za-z0-9_.-].
 *
 * Scopes are a ladder, each allowing what the ones below it allow:
 * check (read-only) < report (failure reports) < ban (add and remove
 * bans) < admin (allows, the mode, everything). A line without a scope
 * ("name:secret", the format before scopes) is admin, with a warning
 * that suggests one.
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

/*
 * What a caller may do (the route table gives each route the scope it
 * needs). Over TCP a route of scope CHECK needs a token only with [auth]
 * protect_reads; REPORT and above always need one; NONE never. The unix
 * socket is trusted by its file mode: its callers are admin.
 */
enum ipwd_scope {
	IPWD_SCOPE_NONE,   /* /healthz */
	IPWD_SCOPE_CHECK,  /* read-only: checks, listings, history, metrics */
	IPWD_SCOPE_REPORT, /* failure reports (the auto-ban engine) */
	IPWD_SCOPE_BAN,	   /* add and remove bans */
	IPWD_SCOPE_ADMIN,  /* allows, the mode, everything */
};

const char *ipwd_scope_name(enum ipwd_scope s);
/* "check", "report", "ban" or "admin" (@s[0..len)) into *out. 0 or -1. */
int ipwd_scope_parse(const char *s, size_t len, enum ipwd_scope *out);

struct ipwd_auth;

/*
 * ipwd_auth_new() - load @path; if it does not exist and @create, create it
 * (mode 0600) with one token named "admin" of scope admin (64 hex digits
 * from getrandom()). Problems are printed on stderr as "PATH:LINE: ...".
 * Returns 0, or -1 (nothing created).
 */
int ipwd_auth_new(struct ipwd_auth **out, const char *path, bool create,
		  bool *created);
/* Re-read the file; on error keep the current set and return -1. */
int ipwd_auth_reload(struct ipwd_auth *a, const char *path);
void ipwd_auth_free(struct ipwd_auth *a);

/* The name and scope of the token whose secret is @secret[0..len),
 * copied into @name and *@scope; false if none matches. */
bool ipwd_auth_verify(struct ipwd_auth *a, const char *secret, size_t len,
		      char name[IPWD_TOKEN_NAME_MAX], enum ipwd_scope *scope);
size_t ipwd_auth_count(struct ipwd_auth *a);

#endif /* IPWALL_DAEMON_AUTH_H */
