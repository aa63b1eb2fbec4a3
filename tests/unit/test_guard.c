// SPDX-License-Identifier: MIT
/*
 * The front door's per-address accounting (src/daemon/api/guard.h):
 * connection counts against a reference under random opens and closes
 * from many addresses (the table's backward-shift deletion keeps every
 * address findable), the per-address limit, and the lock-out after
 * max_failures wrong tokens within the window, on a synthetic clock.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>

#include "api/guard.h"
#include "tap.h"

static struct sockaddr_storage addr(unsigned i)
{
	struct sockaddr_storage ss;

	memset(&ss, 0, sizeof(ss));
	if (i % 3 == 0) {
		struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&ss;

		s6->sin6_family = AF_INET6;
		s6->sin6_addr.s6_addr[0] = 0x20;
		s6->sin6_addr.s6_addr[1] = 0x01;
		memcpy(s6->sin6_addr.s6_addr + 12, &i, 4);
	} else {
		struct sockaddr_in *s4 = (struct sockaddr_in *)&ss;

		s4->sin_family = AF_INET;
		s4->sin_addr.s_addr = htonl(0x0a000000u + i);
	}
	return ss;
}

#define SA(ss) ((const struct sockaddr *)&(ss))

static void test_conns(void)
{
	enum { ADDRS = 300, STEPS = 200000, PER_IP = 4 };
	static unsigned ref[ADDRS];
	struct ipwd_guard *g = ipwd_guard_new(ADDRS * PER_IP, PER_IP, 0, 60);
	struct ipwd_guard_stats st;
	unsigned long bad_allow = 0, open = 0, i;
	unsigned seed = 12345;

	for (i = 0; i < STEPS; i++) {
		unsigned a = (unsigned)rand_r(&seed) % ADDRS;
		struct sockaddr_storage ss = addr(a);

		if (rand_r(&seed) % 2) {
			bool allow = ipwd_guard_conn_allow(g, SA(ss));

			bad_allow += allow != (ref[a] < PER_IP);
			if (allow) {
				ipwd_guard_conn_open(g, SA(ss));
				ref[a]++, open++;
			}
		} else if (ref[a]) {
			ipwd_guard_conn_close(g, SA(ss));
			ref[a]--, open--;
		}
	}
	is_int(bad_allow, 0,
	       "%d random opens and closes over %d addresses: every allow "
	       "matches the reference count against the limit %d",
	       STEPS, ADDRS, PER_IP);
	ipwd_guard_stats(g, &st);
	is_int(st.conns, open, "open connections counted: %lu", open);
	{
		unsigned long addrs = 0;

		for (i = 0; i < ADDRS; i++)
			addrs += ref[i] != 0;
		is_int(st.addrs, addrs, "distinct addresses: %lu", addrs);
	}
	ok(st.refused_per_ip > 0, "refusals counted: %llu",
	   (unsigned long long)st.refused_per_ip);
	for (i = 0; i < ADDRS; i++) {
		struct sockaddr_storage ss = addr((unsigned)i);

		while (ref[i]) {
			ipwd_guard_conn_close(g, SA(ss));
			ref[i]--;
		}
	}
	ipwd_guard_stats(g, &st);
	ok(st.conns == 0 && st.addrs == 0, "all closed: 0 connections, 0 "
					   "addresses");
	{
		struct sockaddr_storage ss = addr(7);

		ipwd_guard_conn_close(g, SA(ss));
		ipwd_guard_stats(g, &st);
		ok(st.conns == 0, "a close never opened changes nothing");
	}
	ipwd_guard_free(g);

	g = ipwd_guard_new(8, 0, 0, 60);
	{
		struct sockaddr_storage ss = addr(1);
		bool all = true;

		for (i = 0; i < 100; i++)
			all &= ipwd_guard_conn_allow(g, SA(ss));
		ok(all, "per_ip 0: no limit");
	}
	ipwd_guard_free(g);
}

static void test_lockout(void)
{
	struct ipwd_guard *g = ipwd_guard_new(16, 0, 3, 10);
	struct sockaddr_storage a = addr(1), b = addr(2);
	struct ipwd_guard_stats st;
	int64_t t = 1000;

	ok(!ipwd_guard_auth_failed(g, SA(a), t), "failure 1: not locked");
	ok(!ipwd_guard_auth_failed(g, SA(a), t + 1), "failure 2: not locked");
	is_int(ipwd_guard_locked(g, SA(a), t + 1), 0, "not locked after 2");
	ok(ipwd_guard_auth_failed(g, SA(a), t + 2), "failure 3 locks it out");
	is_int(ipwd_guard_locked(g, SA(a), t + 2), 10, "locked for 10 s");
	is_int(ipwd_guard_locked(g, SA(a), t + 11), 1, "1 s left at +9");
	is_int(ipwd_guard_locked(g, SA(a), t + 12), 0, "free at +10");
	is_int(ipwd_guard_locked(g, SA(b), t + 5), 0,
	       "another address is not locked");
	/* failures spread wider than the window never lock */
	ok(!ipwd_guard_auth_failed(g, SA(b), t) &&
		   !ipwd_guard_auth_failed(g, SA(b), t + 6) &&
		   !ipwd_guard_auth_failed(g, SA(b), t + 12) &&
		   !ipwd_guard_auth_failed(g, SA(b), t + 18),
	   "one failure every 6 s with a 10 s window: never locked");
	ipwd_guard_stats(g, &st);
	is_int(st.auth_failures, 7, "7 failures counted");
	is_int(st.lockouts, 1, "1 lock-out counted");
	ok(st.locked_refused >= 2, "requests refused while locked counted");
	ipwd_guard_set_lockout(g, 0, 10);
	for (int i = 0; i < 10; i++)
		ok(!ipwd_guard_auth_failed(g, SA(b), t + 100),
		   "max_failures 0: failure %d does not lock", i + 1);
	ipwd_guard_free(g);
}

int main(void)
{
	test_conns();
	test_lockout();
	return done_testing();
}
