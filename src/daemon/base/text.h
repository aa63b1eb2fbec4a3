/* SPDX-License-Identifier: MIT */
/*
 * Text built into a caller's fixed buffer: the subsystems' /metrics
 * series (enforce/, autoban/), written by HTTP workers into the buffer the
 * API hands them.
 */
#ifndef IPWALL_DAEMON_BASE_TEXT_H
#define IPWALL_DAEMON_BASE_TEXT_H

#include <stdbool.h>
#include <stddef.h>

/*
 * ipwd_appendf() - printf @fmt at offset *@n of @buf (@size bytes), and
 * move *@n past it. Returns true, or false when it does not fit (then *@n
 * is unchanged and @buf holds a cut copy past it: the caller gives up, as
 * a metrics source answers 0 for "nothing to add"). Any thread.
 */
bool ipwd_appendf(char *buf, size_t size, size_t *n, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

/* The value of hex digit @c (either case), or -1. */
int ipwd_hexval(unsigned char c);

#endif /* IPWALL_DAEMON_BASE_TEXT_H */
