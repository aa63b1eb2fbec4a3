/* SPDX-License-Identifier: MIT */
/*
 * Error codes of libipwall.
 *
 * Every function that can fail returns an int: 0 on success, a negative
 * IPW_E* value on failure. System errors keep their errno value
 * (IPW_ENOMEM == -ENOMEM); errors that errno has no word for live below
 * IPW_ERROR_MIN, one code per distinct cause, so a caller (and a test) can
 * tell "leading zero in an IPv4 octet" from "IPv4 octet above 255".
 * ipw_strerror() turns any of them into a sentence.
 */
#ifndef IPWALL_ERRCODE_H
#define IPWALL_ERRCODE_H

#include <errno.h>

enum ipw_error {
	IPW_EOK = 0,

	/* errno-valued */
	IPW_ENOMEM = -ENOMEM,
	IPW_EINVAL = -EINVAL,
	IPW_ENOENT = -ENOENT,
	IPW_EEXIST = -EEXIST,
	IPW_ENOSPC = -ENOSPC,
	IPW_EAGAIN = -EAGAIN,
	IPW_ERANGE = -ERANGE,
	IPW_EIO = -EIO,

	IPW_ERROR_MIN = -1000,

	/* address parsing: anything */
	IPW_EADDR_EMPTY = -1000,    /* nothing to parse */
	IPW_EADDR_SPACE = -1001,    /* whitespace inside or around */
	IPW_EADDR_CHAR = -1002,	    /* a character no address contains */
	IPW_EADDR_TRAILING = -1003, /* something after a complete address */
	IPW_EADDR_ZONE = -1004,	    /* IPv6 zone id (fe80::1%eth0) */

	/* IPv4 dotted quad */
	IPW_EADDR_V4_PARTS = -1010,	   /* not exactly four parts */
	IPW_EADDR_V4_EMPTY_PART = -1011,   /* "1..2.3", ".1.2.3", "1.2.3." */
	IPW_EADDR_V4_LEADING_ZERO = -1012, /* "010.1.1.1" (ambiguous octal) */
	IPW_EADDR_V4_OCTET_RANGE = -1013,  /* an octet above 255 */
	IPW_EADDR_V4_NOT_DECIMAL = -1014,  /* "0x7f.0.0.1" */

	/* IPv6 */
	IPW_EADDR_V6_GROUP_LONG = -1020, /* a group of more than 4 hex digits */
	IPW_EADDR_V6_DOUBLE_COLON = -1021, /* "::" appears twice */
	IPW_EADDR_V6_GROUPS = -1022,	   /* too few or too many groups */
	IPW_EADDR_V6_COLON = -1023, /* lone leading/trailing ':' or ":::" */
	IPW_EADDR_V6_V4_PLACE =
		-1024, /* embedded IPv4 not in the last 32 bits */

	/* CIDR prefix length */
	IPW_EADDR_PREFIX_SYNTAX = -1030, /* "/", "/+8", "/08", "/8x" */
	IPW_EADDR_PREFIX_RANGE = -1031,	 /* above 32 (IPv4) or 128 (IPv6) */
	IPW_EADDR_HOST_BITS =
		-1032, /* "192.0.2.7/24": bits set past the prefix */
	IPW_EADDR_PREFIX_DENIED =
		-1033, /* a prefix where only an address is allowed */

	/* output */
	IPW_EBUFSIZE = -1040, /* output buffer too small */

	/* ban table */
	IPW_ETABLE_FULL = -1050, /* entry cap reached: automatic ban refused */
	IPW_ETABLE_COVERED = -1051, /* ban target wholly covered by an allow */
	IPW_ETABLE_EXPIRED = -1052, /* expiry already in the past */

	/* duration (TTL) parsing */
	IPW_EDURATION_EMPTY = -1060, /* nothing to parse */
	/* bad character, missing number or unit, unit out of order or
	 * repeated */
	IPW_EDURATION_SYNTAX = -1061,

	/* blocklist file lines */
	IPW_ELIST_TRAILING = -1070, /* text after the target, not a comment */
	IPW_ELIST_NUL = -1071,	    /* a NUL byte in the line */

	/* auto-ban rules and rate limits (ipwalld's autoban/) */
	IPW_EAB_THRESHOLD_ZERO = -1080, /* a rule's threshold is 0 */
	IPW_EAB_THRESHOLD_MAX = -1081,	/* threshold above 64 events */
	IPW_EAB_WINDOW_ZERO = -1082,	/* a rule's window is 0 */
	IPW_EAB_WINDOW_MAX = -1083,	/* window longer than 24 days */
	IPW_EAB_FACTOR = -1084,		/* escalation factor below 1 */
	IPW_EAB_BAN_DURATION = -1085,	/* ban 0 s, or cap below it */
	IPW_EAB_AGG = -1086,		/* aggregation threshold 1 or > 32 */
	IPW_EAB_TYPE_NAME = -1087,	/* malformed event type name */
	IPW_EAB_TYPE_UNKNOWN = -1088,	/* no rule counts this event type */
	IPW_EAB_NO_TYPES = -1089,	/* rule counts no type, or > 64 types */
	IPW_EAB_RULE_NAME = -1090,	/* malformed or repeated rule name */
	IPW_EAB_RULES = -1091,		/* no rule, or more than 32 */
	IPW_EAB_BUDGET = -1092,		/* memory budget too small */
	IPW_EAB_RATE = -1093,		/* rate limit not > 0, or burst 0 */

	/*
	 * Failure reports (events) on the local datagram socket and from
	 * libipwall-client (docs/events.md). A bad IP field gets the
	 * address parser's own IPW_EADDR_* code (IPW_EADDR_PREFIX_DENIED for
	 * a prefix), a NUL byte IPW_ELIST_NUL; each other field has a code
	 * per way to get it wrong, so a sender learns which argument to fix.
	 */
	IPW_EEVENT_NO_TYPE = -1100, /* no TAB after IP: the TYPE is missing */
	IPW_EEVENT_FIELDS = -1101,  /* more than five fields */
	IPW_EEVENT_TYPE_EMPTY = -1102,
	IPW_EEVENT_TYPE_LONG = -1103,	 /* more than 32 bytes */
	IPW_EEVENT_TYPE_CHAR = -1104,	 /* a byte outside [a-z0-9_.-] */
	IPW_EEVENT_SERVICE_LONG = -1105, /* more than 32 bytes */
	IPW_EEVENT_SERVICE_CHAR = -1106, /* a byte outside [a-z0-9_.-] */
	IPW_EEVENT_USER_LONG = -1107,	 /* more than 64 bytes */
	IPW_EEVENT_USER_CHAR = -1108,	 /* a control byte */
	IPW_EEVENT_DETAIL_LONG = -1109,	 /* more than 256 bytes */
	IPW_EEVENT_DETAIL_CHAR = -1110,	 /* a control byte */
	IPW_EEVENT_TOO_BIG = -1111,	 /* datagram above 65507 bytes */

	IPW_ERROR_LAST = -1111,
};

/*
 * ipw_strerror() - a human sentence for an error code.
 * @err: any value returned by a libipwall function (0 and positive values
 *       are accepted and described as success / unknown).
 *
 * Returns a static string; never NULL. Thread-safe.
 */
const char *ipw_strerror(int err);

/*
 * ipw_errname() - the stable identifier of an error code, e.g.
 * "EADDR_V4_LEADING_ZERO", for machine-readable output (the HTTP API's
 * error.code, the CLI's --json). Static string; never NULL.
 */
const char *ipw_errname(int err);

#endif /* IPWALL_ERRCODE_H */
