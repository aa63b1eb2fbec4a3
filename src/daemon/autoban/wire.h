/* SPDX-License-Identifier: MIT */
/*
 * The event wire format of the local datagram socket: failure reports
 * (events) from services on the same machine, as libipwall-client and any
 * other sender write them. docs/events.md is the reference for senders;
 * this is the daemon's reader.
 *
 * A datagram (at most IPWD_WIRE_DGRAM_MAX bytes) holds one or more lines,
 * each ended by '\n' (the last one's is optional). A line is one event,
 * TAB-separated fields in a fixed order:
 *
 *   IP TAB TYPE [TAB SERVICE [TAB USER [TAB DETAIL]]] ['\r'] '\n'
 *
 *   IP       one IPv4 or IPv6 address (ipw_addr_parse(), strict; a prefix
 *            is an error, IPW_EADDR_PREFIX_DENIED; ::ffff:a.b.c.d is IPv4)
 *   TYPE     1..32 bytes of [a-z0-9_.-]
 *   SERVICE  0..32 bytes of [a-z0-9_.-]
 *   USER     0..64 bytes, none a control byte (0x00-0x1f, 0x7f)
 *   DETAIL   0..256 bytes, none a control byte
 *
 * Optional fields may be empty ("IP\tTYPE\t\t\tDETAIL"). One '\r' just
 * before a line's end is ignored (CRLF senders). An empty line is an event
 * with an empty IP, and so an error; an empty datagram holds no lines.
 *
 * Each line stands alone: a bad line is reported with its own error and
 * the reader goes on with the next, so the good events of a datagram are
 * delivered whatever its other lines hold.
 *
 * Errors, checked in this order, the first one found reported:
 *   IPW_EEVENT_TOO_BIG   the datagram is longer than IPWD_WIRE_DGRAM_MAX
 *                        (the whole datagram is refused, no line read)
 *   IPW_ELIST_NUL        a NUL byte anywhere in the line
 *   IPW_EADDR_*          the IP field, as ipw_addr_parse() names it
 *   IPW_EEVENT_NO_TYPE   no TAB after IP
 *   IPW_EEVENT_TYPE_*    EMPTY, LONG (33rd byte), CHAR
 *   IPW_EEVENT_SERVICE_* LONG, CHAR
 *   IPW_EEVENT_USER_*    LONG, CHAR
 *   IPW_EEVENT_DETAIL_*  LONG, CHAR
 *   IPW_EEVENT_FIELDS    a sixth field (a TAB inside DETAIL)
 * Within a field the bytes are checked from its start, so an error's
 * offset is the first byte that breaks the rule: for LONG, the first byte
 * past the limit.
 *
 * Every function is pure, allocation-free and thread-safe; a reader is
 * used by one thread at a time.
 */
#ifndef IPWALL_DAEMON_AUTOBAN_WIRE_H
#define IPWALL_DAEMON_AUTOBAN_WIRE_H

#include <stddef.h>
#include <stdint.h>

#include <ipwall/addr.h>
#include <ipwall/errcode.h>

/* The largest datagram the socket takes (the UDP payload limit: a sender
 * may move to UDP one day without a new limit). */
#define IPWD_WIRE_DGRAM_MAX 65507

#define IPWD_WIRE_TYPE_MAX    32
#define IPWD_WIRE_SERVICE_MAX 32
#define IPWD_WIRE_USER_MAX    64
#define IPWD_WIRE_DETAIL_MAX  256

/* The longest valid line, '\n' included: a 45-byte IPv6 text
 * (ffff:ffff:ffff:ffff:ffff:ffff:255.255.255.255), four TABs and every
 * field at its limit. */
#define IPWD_WIRE_LINE_MAX                                     \
	(45 + 4 + IPWD_WIRE_TYPE_MAX + IPWD_WIRE_SERVICE_MAX + \
	 IPWD_WIRE_USER_MAX + IPWD_WIRE_DETAIL_MAX + 2)

enum ipwd_wire_field {
	IPWD_WIRE_DATAGRAM = 0, /* the datagram as a whole (TOO_BIG) */
	IPWD_WIRE_IP,
	IPWD_WIRE_TYPE,
	IPWD_WIRE_SERVICE,
	IPWD_WIRE_USER,
	IPWD_WIRE_DETAIL,
};

/* One event, copied out of the datagram: the strings are NUL-terminated
 * and "" when the field is absent or empty. */
struct ipwd_event {
	struct ipw_addr addr; /* a single address (ipw_addr_is_host()) */
	char type[IPWD_WIRE_TYPE_MAX + 1];
	char service[IPWD_WIRE_SERVICE_MAX + 1];
	char user[IPWD_WIRE_USER_MAX + 1];
	char detail[IPWD_WIRE_DETAIL_MAX + 1];
};

/* What was wrong with one line (or with the datagram). */
struct ipwd_wire_error {
	int code;		    /* IPW_E*, as listed above */
	enum ipwd_wire_field field; /* the field the offending byte is in */
	unsigned line; /* 1-based line number; 0 for the datagram */
	/* Byte offset in the datagram: the offending byte, or where the
	 * missing byte was expected (NO_TYPE: the line's end). */
	size_t offset;
	int byte; /* the offending byte (0..255), or -1 when there is none */
};

/*
 * A reader walks one datagram. Its counters are for the caller to read:
 * after ipwd_wire_next() returned 0, lines == events + errors, except for
 * a datagram refused whole (lines 0, errors 1).
 */
struct ipwd_wire_reader {
	const char *buf;
	size_t len;
	size_t pos;	 /* start of the next line */
	unsigned lines;	 /* lines read so far */
	unsigned events; /* good lines */
	unsigned errors; /* bad lines (or 1 for a refused datagram) */
	int done;
};

/*
 * ipwd_wire_reader_init() - start reading a datagram.
 * @buf: the datagram's bytes (may be NULL when @len is 0); must stay
 *       valid and unchanged while the reader is used
 * @len: its length. A listener receives into a buffer of
 *       IPWD_WIRE_DGRAM_MAX + 1 bytes and passes what recv() returned, so
 *       a datagram that filled the buffer is refused as too big.
 */
void ipwd_wire_reader_init(struct ipwd_wire_reader *r, const void *buf,
			   size_t len);

/*
 * ipwd_wire_next() - read the next line.
 * @ev:  written when 1 is returned, all of it (the bytes after each
 *       string's NUL are zero, so two events compare with memcmp())
 * @err: written when a negative code is returned; may be NULL
 *
 * Returns 1 with the next event in @ev; 0 when the datagram has no more
 * lines (and again on every later call); or a negative code for a bad line
 * (described in @err), after which the reader is past that line and the
 * caller calls again for the rest.
 */
int ipwd_wire_next(struct ipwd_wire_reader *r, struct ipwd_event *ev,
		   struct ipwd_wire_error *err);

/* ipwd_wire_field_name() - "datagram", "ip", "type", "service", "user",
 * "detail" (static strings). */
const char *ipwd_wire_field_name(enum ipwd_wire_field f);

/*
 * ipwd_wire_error_msg() - one line for the log, naming the line, the byte
 * offset, the field and the rule, e.g.
 * "line 2, offset 17, field type: event TYPE has a byte outside
 * [a-z0-9_.-] (byte 0x20)". Built from @e alone (no input is quoted, so
 * nothing a sender chose reaches the log). Returns what snprintf()
 * returns.
 */
int ipwd_wire_error_msg(char *buf, size_t size,
			const struct ipwd_wire_error *e);

#endif /* IPWALL_DAEMON_AUTOBAN_WIRE_H */
