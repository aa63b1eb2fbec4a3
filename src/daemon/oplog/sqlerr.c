/* SPDX-License-Identifier: MIT */
/* SQLite result codes as ipwall says them (see sqlerr.h). */
#include <sqlite3.h>

#include <ipwall/errcode.h>

#include "oplog/sqlerr.h"

int ipwd_sqlite_err(int rc)
{
	switch (rc & 0xff) {
	case SQLITE_OK:
	case SQLITE_DONE:
	case SQLITE_ROW:
		return 0;
	case SQLITE_FULL:
		return IPW_ENOSPC;
	case SQLITE_NOMEM:
		return IPW_ENOMEM;
	default:
		return IPW_EIO;
	}
}

const char *ipwd_sqlite_hint(int rc)
{
	switch (rc & 0xff) {
	case SQLITE_CORRUPT:
	case SQLITE_NOTADB:
		return "the file is damaged or not an ipwall store. Nothing was "
		       "changed. To recover: stop here, keep a copy of the "
		       "file, try `sqlite3 FILE .recover | sqlite3 NEW` and "
		       "point [store] path at NEW, or move the file away to "
		       "start empty";
	case SQLITE_CANTOPEN:
	case SQLITE_PERM:
	case SQLITE_READONLY:
		return "check that the data directory exists and that ipwalld's "
		       "user may read and write it, the database file, and the "
		       "-wal and -shm files beside it";
	case SQLITE_FULL:
		return "the file system is full";
	default:
		return "see the SQLite message";
	}
}
