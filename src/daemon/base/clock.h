/* SPDX-License-Identifier: MIT */
/*
 * Monotonic time for latencies and timeouts (never on disk or the wire:
 * those carry wall-clock seconds).
 */
#ifndef IPWALL_DAEMON_BASE_CLOCK_H
#define IPWALL_DAEMON_BASE_CLOCK_H

#include <stdint.h>
#include <time.h>

/* CLOCK_MONOTONIC in nanoseconds. Any thread. */
static inline uint64_t ipwd_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* CLOCK_MONOTONIC in whole seconds (lock-outs, windows). Any thread. */
static inline int64_t ipwd_mono_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec;
}

#endif /* IPWALL_DAEMON_BASE_CLOCK_H */
