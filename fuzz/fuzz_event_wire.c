// SPDX-License-Identifier: MIT
/*
 * libFuzzer harness for the event wire format's reader
 * (src/daemon/autoban/wire.c): the bytes of one datagram, as a local
 * service (or an attacker with access to the socket) may send them.
 *
 * Beyond "does not crash", it checks the reader's contract on every input:
 *   - the reader ends, and returns 0 again once ended;
 *   - the counts add up: one result per line (the '\n's, plus a last line
 *     without one), events + errors == lines; a datagram above the limit is
 *     one error and no line;
 *   - every error has a name, a field, its line's number and an offset
 *     inside that line (the byte it names is the byte there);
 *   - every event re-validates: its strings obey their field's rules, its
 *     address is one address, and the event written back as a line reads
 *     back to the same event, byte for byte;
 *   - lines stand alone: each line read as a datagram of its own gives the
 *     same result as inside the datagram (the offset shifted).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "autoban/wire.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check(int cond)
{
	if (!cond)
		abort();
}

static int is_name(const char *s)
{
	for (; *s; s++)
		if (!((*s >= 'a' && *s <= 'z') || (*s >= '0' && *s <= '9') ||
		      *s == '_' || *s == '.' || *s == '-'))
			return 0;
	return 1;
}

static int is_text(const char *s)
{
	for (; *s; s++)
		if ((unsigned char)*s < 0x20 || *s == 0x7f)
			return 0;
	return 1;
}

static void check_event(const struct ipwd_event *ev)
{
	struct ipwd_wire_reader r;
	struct ipwd_event ev2;
	char addr[IPW_ADDR_STRLEN], line[IPWD_WIRE_LINE_MAX + 1];
	int n;

	check(ev->addr.family == IPW_AF_INET ||
	      ev->addr.family == IPW_AF_INET6);
	check(ipw_addr_is_host(&ev->addr));
	check(strlen(ev->type) >= 1 && strlen(ev->type) <= IPWD_WIRE_TYPE_MAX);
	check(strlen(ev->service) <= IPWD_WIRE_SERVICE_MAX);
	check(strlen(ev->user) <= IPWD_WIRE_USER_MAX);
	check(strlen(ev->detail) <= IPWD_WIRE_DETAIL_MAX);
	check(is_name(ev->type) && is_name(ev->service));
	check(is_text(ev->user) && is_text(ev->detail));

	check(ipw_addr_format(&ev->addr, addr, sizeof(addr)) > 0);
	n = snprintf(line, sizeof(line), "%s\t%s\t%s\t%s\t%s\n", addr, ev->type,
		     ev->service, ev->user, ev->detail);
	check(n > 0 && (size_t)n < sizeof(line));
	ipwd_wire_reader_init(&r, line, (size_t)n);
	check(ipwd_wire_next(&r, &ev2, NULL) == 1);
	check(memcmp(ev, &ev2, sizeof(*ev)) == 0);
	check(ipwd_wire_next(&r, &ev2, NULL) == 0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *buf = (const char *)data;
	struct ipwd_wire_reader r, r1;
	struct ipwd_event ev, ev1;
	struct ipwd_wire_error err, err1;
	size_t start = 0, lines = 0;
	int rc, rc1;

	/* The lines the datagram holds. */
	for (size_t i = 0; i < size; i++)
		lines += buf[i] == '\n';
	lines += size > 0 && buf[size - 1] != '\n';

	ipwd_wire_reader_init(&r, buf, size);
	if (size > IPWD_WIRE_DGRAM_MAX) {
		check(ipwd_wire_next(&r, &ev, &err) == IPW_EEVENT_TOO_BIG);
		check(err.field == IPWD_WIRE_DATAGRAM && err.line == 0);
		check(ipwd_wire_next(&r, &ev, &err) == 0);
		check(r.lines == 0 && r.events == 0 && r.errors == 1);
		return 0;
	}

	for (unsigned n = 1;; n++) {
		const char *nl;
		size_t end;

		memset(&err, 0xa5, sizeof(err));
		rc = ipwd_wire_next(&r, &ev, &err);
		if (rc == 0)
			break;
		check(n <= lines);
		nl = memchr(buf + start, '\n', size - start);
		end = nl ? (size_t)(nl - buf) : size;
		check(r.lines == n && r.pos == (nl ? end + 1 : end));

		if (rc == 1) {
			check_event(&ev);
		} else {
			check(rc <= IPW_ERROR_MIN && rc >= IPW_ERROR_LAST);
			check(strcmp(ipw_errname(rc), "EUNKNOWN") != 0);
			check(err.code == rc && err.line == n);
			check(err.field >= IPWD_WIRE_IP &&
			      err.field <= IPWD_WIRE_DETAIL);
			check(err.offset >= start && err.offset <= end);
			check(err.byte >= -1 && err.byte <= 255);
			if (err.byte >= 0)
				check(err.offset < end &&
				      (unsigned char)buf[err.offset] ==
					      err.byte);
			check(rc != IPW_ELIST_NUL ||
			      memchr(buf + start, '\0', end - start));
		}

		/* The same line alone (with its '\n', so that an empty
		 * line stays a line). */
		ipwd_wire_reader_init(&r1, buf + start, r.pos - start);
		rc1 = ipwd_wire_next(&r1, &ev1, &err1);
		check(rc1 == rc);
		if (rc == 1)
			check(memcmp(&ev, &ev1, sizeof(ev)) == 0);
		else
			check(err1.offset + start == err.offset &&
			      err1.field == err.field && err1.byte == err.byte);
		start = r.pos;
	}
	check(r.lines == lines);
	check(r.events + r.errors == r.lines);
	check(ipwd_wire_next(&r, &ev, &err) == 0);
	return 0;
}
