// SPDX-License-Identifier: MIT
/*
 * The event wire format's reader (wire.h has the grammar).
 *
 * Design. A datagram is cut into lines at '\n' with memchr(), and each
 * line is checked left to right, field by field, stopping at the first
 * rule it breaks. Nothing is copied until the whole line is known good, so
 * an event is delivered whole or not at all; a bad line costs the reader
 * nothing beyond its own bytes and never affects its neighbours.
 *
 * The IP field goes whole to ipw_addr_parse() with IPW_ADDR_HOST, whose
 * code and offset are returned unchanged (shifted to the datagram), so a
 * bad address in an event reads exactly like a bad address anywhere else
 * in ipwall. As in blocklist files (listfile.c), a NUL byte is refused
 * before anything else, wherever it is in the line: no field may hold one,
 * and naming it first tells a sender its framing is wrong, not its text.
 *
 * Cost: O(len) per datagram, each byte looked at a bounded number of
 * times (memchr for '\n' and NUL, then the field scan). No allocation, no
 * globals but constant tables; thread-safe.
 */
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "autoban/wire.h"

/* Byte classes. */
enum {
	C_NAME = 1, /* TYPE and SERVICE: [a-z0-9_.-] */
	C_TEXT = 2, /* USER and DETAIL: anything but a control byte */
};

static bool in_class(unsigned char c, unsigned cls)
{
	if (cls == C_NAME)
		return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
		       c == '_' || c == '.' || c == '-';
	return c >= 0x20 && c != 0x7f;
}

/* The rule for each field after IP. */
struct field_rule {
	enum ipwd_wire_field field;
	unsigned char cls;
	size_t min, max;
	int e_empty, e_long, e_char;
	size_t out_off; /* where the copy goes in struct ipwd_event */
};

static const struct field_rule rules[] = {
	{IPWD_WIRE_TYPE, C_NAME, 1, IPWD_WIRE_TYPE_MAX, IPW_EEVENT_TYPE_EMPTY,
	 IPW_EEVENT_TYPE_LONG, IPW_EEVENT_TYPE_CHAR,
	 offsetof(struct ipwd_event, type)},
	{IPWD_WIRE_SERVICE, C_NAME, 0, IPWD_WIRE_SERVICE_MAX, 0,
	 IPW_EEVENT_SERVICE_LONG, IPW_EEVENT_SERVICE_CHAR,
	 offsetof(struct ipwd_event, service)},
	{IPWD_WIRE_USER, C_TEXT, 0, IPWD_WIRE_USER_MAX, 0, IPW_EEVENT_USER_LONG,
	 IPW_EEVENT_USER_CHAR, offsetof(struct ipwd_event, user)},
	{IPWD_WIRE_DETAIL, C_TEXT, 0, IPWD_WIRE_DETAIL_MAX, 0,
	 IPW_EEVENT_DETAIL_LONG, IPW_EEVENT_DETAIL_CHAR,
	 offsetof(struct ipwd_event, detail)},
};
#define NRULES (sizeof(rules) / sizeof(rules[0]))

void ipwd_wire_reader_init(struct ipwd_wire_reader *r, const void *buf,
			   size_t len)
{
	*r = (struct ipwd_wire_reader){.buf = buf, .len = len};
}

static int fail(struct ipwd_wire_error *err, int code,
		enum ipwd_wire_field field, unsigned line, size_t offset,
		int byte)
{
	if (err)
		*err = (struct ipwd_wire_error){.code = code,
						.field = field,
						.line = line,
						.offset = offset,
						.byte = byte};
	return code;
}

/*
 * One line, buf[start, end) without its '\n' (and without a '\r' before
 * it). @ev is written only on success.
 */
static int parse_line(const char *buf, size_t start, size_t end,
		      unsigned lineno, struct ipwd_event *ev,
		      struct ipwd_wire_error *err)
{
	const char *line = buf + start;
	size_t len = end - start, errpos = 0;
	/* Each optional field's [begin, end) in the line; absent = empty. */
	size_t fb[NRULES] = {0}, fe[NRULES] = {0};
	const char *nul, *tab;
	struct ipw_addr addr;
	size_t pos, iplen;
	int rc;

	nul = memchr(line, '\0', len);
	if (nul) {
		/* Name the field it is in: the TABs before it tell. */
		unsigned f = IPWD_WIRE_IP;

		for (const char *p = line; p < nul; p++)
			f += *p == '\t' && f < IPWD_WIRE_DETAIL;
		return fail(err, IPW_ELIST_NUL, (enum ipwd_wire_field)f, lineno,
			    start + (size_t)(nul - line), 0);
	}

	tab = memchr(line, '\t', len);
	iplen = tab ? (size_t)(tab - line) : len;
	rc = ipw_addr_parse(line, iplen, IPW_ADDR_HOST, &addr, &errpos);
	if (rc < 0)
		return fail(err, rc, IPWD_WIRE_IP, lineno, start + errpos,
			    errpos < iplen ? (unsigned char)line[errpos] : -1);
	if (!tab)
		return fail(err, IPW_EEVENT_NO_TYPE, IPWD_WIRE_TYPE, lineno,
			    end, -1);

	pos = iplen + 1;
	for (size_t i = 0; i < NRULES; i++) {
		const struct field_rule *fr = &rules[i];
		bool last = i == NRULES - 1;
		size_t n;

		fb[i] = pos;
		for (n = 0; pos < len; n++, pos++) {
			unsigned char c = (unsigned char)line[pos];

			if (c == '\t' && !last)
				break;
			if (n == fr->max)
				return fail(err, fr->e_long, fr->field, lineno,
					    start + pos, c);
			if (c == '\t')
				return fail(err, IPW_EEVENT_FIELDS,
					    IPWD_WIRE_DETAIL, lineno,
					    start + pos, c);
			if (!in_class(c, fr->cls))
				return fail(err, fr->e_char, fr->field, lineno,
					    start + pos, c);
		}
		fe[i] = pos;
		if (n < fr->min)
			return fail(err, fr->e_empty, fr->field, lineno,
				    start + pos, pos < len ? '\t' : -1);
		if (pos >= len)
			break; /* the fields after this one are absent */
		pos++;	       /* the TAB; the next field may be empty */
	}

	*ev = (struct ipwd_event){.addr = addr};
	for (size_t i = 0; i < NRULES; i++) {
		char *dst = (char *)ev + rules[i].out_off;
		size_t n = fe[i] - fb[i];

		memcpy(dst, line + fb[i], n);
		dst[n] = '\0';
	}
	return 1;
}

int ipwd_wire_next(struct ipwd_wire_reader *r, struct ipwd_event *ev,
		   struct ipwd_wire_error *err)
{
	const char *nl;
	size_t start, end, next;
	int rc;

	if (r->done)
		return 0;
	if (r->len > IPWD_WIRE_DGRAM_MAX) {
		r->done = 1;
		r->errors++;
		return fail(err, IPW_EEVENT_TOO_BIG, IPWD_WIRE_DATAGRAM, 0,
			    IPWD_WIRE_DGRAM_MAX,
			    (unsigned char)r->buf[IPWD_WIRE_DGRAM_MAX]);
	}
	if (r->pos >= r->len) {
		r->done = 1;
		return 0;
	}

	start = r->pos;
	nl = memchr(r->buf + start, '\n', r->len - start);
	end = nl ? (size_t)(nl - r->buf) : r->len;
	next = nl ? end + 1 : end;
	if (end > start && r->buf[end - 1] == '\r')
		end--;

	r->pos = next;
	r->lines++;
	rc = parse_line(r->buf, start, end, r->lines, ev, err);
	if (rc < 0)
		r->errors++;
	else
		r->events++;
	return rc;
}

const char *ipwd_wire_field_name(enum ipwd_wire_field f)
{
	switch (f) {
	case IPWD_WIRE_DATAGRAM:
		return "datagram";
	case IPWD_WIRE_IP:
		return "ip";
	case IPWD_WIRE_TYPE:
		return "type";
	case IPWD_WIRE_SERVICE:
		return "service";
	case IPWD_WIRE_USER:
		return "user";
	case IPWD_WIRE_DETAIL:
		return "detail";
	}
	return "?";
}

int ipwd_wire_error_msg(char *buf, size_t size, const struct ipwd_wire_error *e)
{
	char byte[24] = "";

	if (e->byte >= 0)
		snprintf(byte, sizeof(byte), " (byte 0x%02x)",
			 (unsigned)(e->byte & 0xff));
	if (e->field == IPWD_WIRE_DATAGRAM)
		return snprintf(buf, size, "datagram, offset %zu: %s",
				e->offset, ipw_strerror(e->code));
	return snprintf(buf, size, "line %u, offset %zu, field %s: %s%s",
			e->line, e->offset, ipwd_wire_field_name(e->field),
			ipw_strerror(e->code), byte);
}
