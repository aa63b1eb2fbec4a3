/* SPDX-License-Identifier: MIT */
/*
 * What the store and the journal say about an SQLite result code: the
 * IPW_E* it maps to, and the hint for an operator. Pure; any thread.
 */
#ifndef IPWALL_DAEMON_OPLOG_SQLERR_H
#define IPWALL_DAEMON_OPLOG_SQLERR_H

/* SQLITE_OK, _DONE, _ROW: 0; _FULL: IPW_ENOSPC; _NOMEM: IPW_ENOMEM;
 * anything else IPW_EIO. */
int ipwd_sqlite_err(int rc);
/* What to do about @rc (damage, permissions, a full disk). */
const char *ipwd_sqlite_hint(int rc);

#endif /* IPWALL_DAEMON_OPLOG_SQLERR_H */
