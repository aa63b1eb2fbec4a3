// SPDX-License-Identifier: MIT
/*
 * Names and sentences for libipwall's error codes. One table, so a code
 * added to errcode.h without a sentence shows up as "unknown error" in the
 * unit test that walks every code.
 */
#include <stddef.h>
#include <string.h>

#include <ipwall/errcode.h>

struct errdesc {
	int code;
	const char *name;
	const char *text;
};

static const struct errdesc errors[] = {
	{IPW_EOK, "OK", "success"},
	{IPW_ENOMEM, "ENOMEM", "out of memory"},
	{IPW_EINVAL, "EINVAL", "invalid argument"},
	{IPW_ENOENT, "ENOENT", "no such entry"},
	{IPW_EEXIST, "EEXIST", "already exists"},
	{IPW_ENOSPC, "ENOSPC", "no space left"},
	{IPW_EAGAIN, "EAGAIN", "try again"},
	{IPW_ERANGE, "ERANGE", "value out of range"},
	{IPW_EIO, "EIO", "input/output error"},

	{IPW_EADDR_EMPTY, "EADDR_EMPTY", "empty address"},
	{IPW_EADDR_SPACE, "EADDR_SPACE", "whitespace in address"},
	{IPW_EADDR_CHAR, "EADDR_CHAR", "character not allowed in an address"},
	{IPW_EADDR_TRAILING, "EADDR_TRAILING",
	 "unexpected text after the address"},
	{IPW_EADDR_ZONE, "EADDR_ZONE", "IPv6 zone ids are not accepted"},
	{IPW_EADDR_V4_PARTS, "EADDR_V4_PARTS",
	 "IPv4 address needs exactly four dotted parts"},
	{IPW_EADDR_V4_EMPTY_PART, "EADDR_V4_EMPTY_PART",
	 "empty part in IPv4 address"},
	{IPW_EADDR_V4_LEADING_ZERO, "EADDR_V4_LEADING_ZERO",
	 "IPv4 octet has a leading zero (ambiguous octal)"},
	{IPW_EADDR_V4_OCTET_RANGE, "EADDR_V4_OCTET_RANGE",
	 "IPv4 octet above 255"},
	{IPW_EADDR_V4_NOT_DECIMAL, "EADDR_V4_NOT_DECIMAL",
	 "IPv4 octet is not decimal"},
	{IPW_EADDR_V6_GROUP_LONG, "EADDR_V6_GROUP_LONG",
	 "IPv6 group has more than four hex digits"},
	{IPW_EADDR_V6_DOUBLE_COLON, "EADDR_V6_DOUBLE_COLON",
	 "'::' may appear only once in an IPv6 address"},
	{IPW_EADDR_V6_GROUPS, "EADDR_V6_GROUPS",
	 "IPv6 address has the wrong number of groups"},
	{IPW_EADDR_V6_COLON, "EADDR_V6_COLON", "stray ':' in IPv6 address"},
	{IPW_EADDR_V6_V4_PLACE, "EADDR_V6_V4_PLACE",
	 "embedded IPv4 must end the IPv6 address"},
	{IPW_EADDR_PREFIX_SYNTAX, "EADDR_PREFIX_SYNTAX",
	 "prefix length must be a decimal number without sign or leading zero"},
	{IPW_EADDR_PREFIX_RANGE, "EADDR_PREFIX_RANGE",
	 "prefix length out of range for the address family"},
	{IPW_EADDR_HOST_BITS, "EADDR_HOST_BITS",
	 "address has bits set past the prefix length"},
	{IPW_EADDR_PREFIX_DENIED, "EADDR_PREFIX_DENIED",
	 "a single address is required here, not a prefix"},
	{IPW_EBUFSIZE, "EBUFSIZE", "output buffer too small"},
	{IPW_ETABLE_FULL, "ETABLE_FULL", "table is full"},
	{IPW_ETABLE_COVERED, "ETABLE_COVERED",
	 "target is wholly covered by an allow entry"},
	{IPW_ETABLE_EXPIRED, "ETABLE_EXPIRED", "expiry is in the past"},
	{IPW_EDURATION_EMPTY, "EDURATION_EMPTY", "empty duration"},
	{IPW_EDURATION_SYNTAX, "EDURATION_SYNTAX",
	 "duration must be digits with units w, d, h, m, s in that order, "
	 "each at most once"},
	{IPW_ELIST_TRAILING, "ELIST_TRAILING",
	 "unexpected text after the address (a comment starts with '#' or "
	 "';')"},
	{IPW_ELIST_NUL, "ELIST_NUL", "NUL byte in the line"},
	{IPW_EAB_THRESHOLD_ZERO, "EAB_THRESHOLD_ZERO",
	 "auto-ban rule threshold is 0 (it must count at least one event)"},
	{IPW_EAB_THRESHOLD_MAX, "EAB_THRESHOLD_MAX",
	 "auto-ban rule threshold above 64 events"},
	{IPW_EAB_WINDOW_ZERO, "EAB_WINDOW_ZERO", "auto-ban rule window is 0"},
	{IPW_EAB_WINDOW_MAX, "EAB_WINDOW_MAX",
	 "auto-ban rule window longer than 24 days"},
	{IPW_EAB_FACTOR, "EAB_FACTOR",
	 "auto-ban escalation factor below 1 or not a number"},
	{IPW_EAB_BAN_DURATION, "EAB_BAN_DURATION",
	 "auto-ban duration is 0, or its cap is below it"},
	{IPW_EAB_AGG, "EAB_AGG",
	 "aggregation threshold must be 0 (off) or 2 to 32 offenders"},
	{IPW_EAB_TYPE_NAME, "EAB_TYPE_NAME",
	 "event type name must be 1 to 31 characters of a-z, 0-9, '_', '.', "
	 "'-'"},
	{IPW_EAB_TYPE_UNKNOWN, "EAB_TYPE_UNKNOWN",
	 "unknown event type: no rule counts it"},
	{IPW_EAB_NO_TYPES, "EAB_NO_TYPES",
	 "auto-ban rule counts no event type, or the rules name more than 64 "
	 "types"},
	{IPW_EAB_RULE_NAME, "EAB_RULE_NAME",
	 "auto-ban rule name must be 1 to 31 characters of a-z, 0-9, '_', "
	 "'.', '-' and unique"},
	{IPW_EAB_RULES, "EAB_RULES", "auto-ban needs 1 to 32 rules"},
	{IPW_EAB_BUDGET, "EAB_BUDGET",
	 "auto-ban memory budget too small for its rules"},
	{IPW_EAB_RATE, "EAB_RATE",
	 "rate limit must be above 0 per second with a burst of at least 1"},
	{IPW_EEVENT_NO_TYPE, "EEVENT_NO_TYPE",
	 "event has no TYPE field (IP TAB TYPE is the least)"},
	{IPW_EEVENT_FIELDS, "EEVENT_FIELDS",
	 "event has more than five TAB-separated fields"},
	{IPW_EEVENT_TYPE_EMPTY, "EEVENT_TYPE_EMPTY", "event TYPE is empty"},
	{IPW_EEVENT_TYPE_LONG, "EEVENT_TYPE_LONG",
	 "event TYPE is longer than 32 bytes"},
	{IPW_EEVENT_TYPE_CHAR, "EEVENT_TYPE_CHAR",
	 "event TYPE has a byte outside [a-z0-9_.-]"},
	{IPW_EEVENT_SERVICE_LONG, "EEVENT_SERVICE_LONG",
	 "event SERVICE is longer than 32 bytes"},
	{IPW_EEVENT_SERVICE_CHAR, "EEVENT_SERVICE_CHAR",
	 "event SERVICE has a byte outside [a-z0-9_.-]"},
	{IPW_EEVENT_USER_LONG, "EEVENT_USER_LONG",
	 "event USER is longer than 64 bytes"},
	{IPW_EEVENT_USER_CHAR, "EEVENT_USER_CHAR",
	 "event USER has a control byte (TAB, newline, DEL, ...)"},
	{IPW_EEVENT_DETAIL_LONG, "EEVENT_DETAIL_LONG",
	 "event DETAIL is longer than 256 bytes"},
	{IPW_EEVENT_DETAIL_CHAR, "EEVENT_DETAIL_CHAR",
	 "event DETAIL has a control byte (TAB, newline, DEL, ...)"},
	{IPW_EEVENT_TOO_BIG, "EEVENT_TOO_BIG",
	 "event datagram is larger than 65507 bytes"},
};

static const struct errdesc *find(int err)
{
	for (size_t i = 0; i < sizeof(errors) / sizeof(errors[0]); i++)
		if (errors[i].code == err)
			return &errors[i];
	return NULL;
}

const char *ipw_strerror(int err)
{
	const struct errdesc *d = find(err);

	if (d)
		return d->text;
	/* An errno we did not name: still say something true. */
	if (err < 0 && err > IPW_ERROR_MIN)
		return strerrordesc_np(-err) ? strerrordesc_np(-err) :
					       "unknown error";
	return "unknown error";
}

const char *ipw_errname(int err)
{
	const struct errdesc *d = find(err);

	return d ? d->name : "EUNKNOWN";
}
