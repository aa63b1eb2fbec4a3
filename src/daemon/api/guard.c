/* SPDX-License-Identifier: MIT */
/*
 * Per-address accounting at the front door (see guard.h).
 */
#include <netinet/in.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "api/guard.h"

#define FAIL_SLOTS 4096 /* a power of two */

struct key {
	uint8_t b[16]; /* IPv4 as ::ffff:a.b.c.d */
};

struct conn_ent {
	struct key k;
	uint32_t n; /* 0: empty */
};

struct fail_slot {
	struct key k;
	uint32_t failures;
	int64_t window_start;
	int64_t locked_until; /* read without the mutex: atomics */
};

struct ipwd_guard {
	pthread_mutex_t conn_lock;
	struct conn_ent *conns;
	size_t cap; /* a power of two, over twice max_conns */
	unsigned per_ip;
	pthread_mutex_t fail_lock;
	struct fail_slot fail[FAIL_SLOTS];
	unsigned max_failures, lockout_s; /* atomics */
	uint64_t hkey[2];
	/* counters: written under their table's mutex, read relaxed */
	uint64_t open, addrs, refused, failures, lockouts, locked_refused;
};

static bool key_of(const struct sockaddr *sa, struct key *k)
{
	memset(k, 0, sizeof(*k));
	if (sa == NULL)
		return false;
	if (sa->sa_family == AF_INET) {
		const struct sockaddr_in *s4 = (const struct sockaddr_in *)sa;

		k->b[10] = k->b[11] = 0xff;
		memcpy(k->b + 12, &s4->sin_addr, 4);
		return true;
	}
	if (sa->sa_family == AF_INET6) {
		const struct sockaddr_in6 *s6 = (const struct sockaddr_in6 *)sa;

		memcpy(k->b, &s6->sin6_addr, 16);
		return true;
	}
	return false;
}

/* A keyed mix of the address (64-bit multiply-xorshift rounds): an
 * outsider cannot aim addresses at one slot. */
static uint64_t hash(const struct ipwd_guard *g, const struct key *k)
{
	uint64_t a, b, h;

	memcpy(&a, k->b, 8);
	memcpy(&b, k->b + 8, 8);
	h = (a ^ g->hkey[0]) * 0x9e3779b97f4a7c15ull;
	h ^= h >> 29;
	h = (h ^ b ^ g->hkey[1]) * 0xbf58476d1ce4e5b9ull;
	h ^= h >> 32;
	return h;
}

struct ipwd_guard *ipwd_guard_new(unsigned max_conns, unsigned per_ip,
				  unsigned max_failures, unsigned lockout_s)
{
	struct ipwd_guard *g = calloc(1, sizeof(*g));

	if (g == NULL)
		return NULL;
	g->cap = 16;
	while (g->cap < 2 * (size_t)max_conns + 2)
		g->cap *= 2;
	g->conns = calloc(g->cap, sizeof(*g->conns));
	if (g->conns == NULL) {
		free(g);
		return NULL;
	}
	if (getrandom(g->hkey, sizeof(g->hkey), 0) != (ssize_t)sizeof(g->hkey))
		g->hkey[0] = (uint64_t)(uintptr_t)g, g->hkey[1] = 0x5bd1e995;
	g->per_ip = per_ip;
	g->max_failures = max_failures;
	g->lockout_s = lockout_s;
	pthread_mutex_init(&g->conn_lock, NULL);
	pthread_mutex_init(&g->fail_lock, NULL);
	return g;
}

void ipwd_guard_free(struct ipwd_guard *g)
{
	if (g == NULL)
		return;
	pthread_mutex_destroy(&g->conn_lock);
	pthread_mutex_destroy(&g->fail_lock);
	free(g->conns);
	free(g);
}

void ipwd_guard_set_lockout(struct ipwd_guard *g, unsigned max_failures,
			    unsigned lockout_s)
{
	__atomic_store_n(&g->max_failures, max_failures, __ATOMIC_RELAXED);
	__atomic_store_n(&g->lockout_s, lockout_s, __ATOMIC_RELAXED);
}

/* ---- connections: linear probing, backward-shift deletion ---- */

/* The slot of @k, or of the empty slot where it would go. */
static size_t conn_find(const struct ipwd_guard *g, const struct key *k)
{
	size_t i = (size_t)hash(g, k) & (g->cap - 1);

	while (g->conns[i].n && memcmp(&g->conns[i].k, k, sizeof(*k)) != 0)
		i = (i + 1) & (g->cap - 1);
	return i;
}

static void conn_delete(struct ipwd_guard *g, size_t i)
{
	size_t j = i, home;

	for (;;) {
		j = (j + 1) & (g->cap - 1);
		if (g->conns[j].n == 0)
			break;
		home = (size_t)hash(g, &g->conns[j].k) & (g->cap - 1);
		/* Move j back to i unless its home lies in (i, j]. */
		if ((j > i && (home <= i || home > j)) ||
		    (j < i && (home <= i && home > j))) {
			g->conns[i] = g->conns[j];
			i = j;
		}
	}
	g->conns[i].n = 0;
}

bool ipwd_guard_conn_allow(struct ipwd_guard *g, const struct sockaddr *sa)
{
	struct key k;
	bool ok = true;
	size_t i;

	if (g->per_ip == 0 || !key_of(sa, &k))
		return true;
	pthread_mutex_lock(&g->conn_lock);
	i = conn_find(g, &k);
	if (g->conns[i].n >= g->per_ip) {
		ok = false;
		__atomic_store_n(&g->refused, g->refused + 1, __ATOMIC_RELAXED);
	}
	pthread_mutex_unlock(&g->conn_lock);
	return ok;
}

void ipwd_guard_conn_open(struct ipwd_guard *g, const struct sockaddr *sa)
{
	struct key k;
	size_t i;

	if (!key_of(sa, &k))
		return;
	pthread_mutex_lock(&g->conn_lock);
	/* Never full: at most max_conns (plus one per worker) addresses,
	 * in over twice as many slots. Guard anyway. */
	if (g->addrs + 1 < g->cap) {
		i = conn_find(g, &k);
		if (g->conns[i].n == 0) {
			g->conns[i].k = k;
			__atomic_store_n(&g->addrs, g->addrs + 1,
					 __ATOMIC_RELAXED);
		}
		g->conns[i].n++;
		__atomic_store_n(&g->open, g->open + 1, __ATOMIC_RELAXED);
	}
	pthread_mutex_unlock(&g->conn_lock);
}

void ipwd_guard_conn_close(struct ipwd_guard *g, const struct sockaddr *sa)
{
	struct key k;
	size_t i;

	if (!key_of(sa, &k))
		return;
	pthread_mutex_lock(&g->conn_lock);
	i = conn_find(g, &k);
	if (g->conns[i].n) {
		__atomic_store_n(&g->open, g->open - 1, __ATOMIC_RELAXED);
		if (--g->conns[i].n == 0) {
			conn_delete(g, i);
			__atomic_store_n(&g->addrs, g->addrs - 1,
					 __ATOMIC_RELAXED);
		}
	}
	pthread_mutex_unlock(&g->conn_lock);
}

/* ---- authentication failures ---- */

unsigned ipwd_guard_locked(struct ipwd_guard *g, const struct sockaddr *sa,
			   int64_t now)
{
	struct fail_slot *s;
	unsigned left = 0;
	struct key k;

	if (!key_of(sa, &k))
		return 0;
	s = &g->fail[hash(g, &k) & (FAIL_SLOTS - 1)];
	if (__atomic_load_n(&s->locked_until, __ATOMIC_RELAXED) <= now)
		return 0;
	pthread_mutex_lock(&g->fail_lock);
	if (s->locked_until > now && memcmp(&s->k, &k, sizeof(k)) == 0) {
		left = (unsigned)(s->locked_until - now);
		__atomic_store_n(&g->locked_refused, g->locked_refused + 1,
				 __ATOMIC_RELAXED);
	}
	pthread_mutex_unlock(&g->fail_lock);
	return left;
}

bool ipwd_guard_auth_failed(struct ipwd_guard *g, const struct sockaddr *sa,
			    int64_t now)
{
	unsigned max = __atomic_load_n(&g->max_failures, __ATOMIC_RELAXED);
	unsigned lockout = __atomic_load_n(&g->lockout_s, __ATOMIC_RELAXED);
	struct fail_slot *s;
	bool locked = false;
	struct key k;

	if (!key_of(sa, &k))
		return false;
	s = &g->fail[hash(g, &k) & (FAIL_SLOTS - 1)];
	pthread_mutex_lock(&g->fail_lock);
	__atomic_store_n(&g->failures, g->failures + 1, __ATOMIC_RELAXED);
	if (memcmp(&s->k, &k, sizeof(k)) != 0 ||
	    now - s->window_start >= (int64_t)lockout) {
		s->k = k;
		s->failures = 0;
		s->window_start = now;
		__atomic_store_n(&s->locked_until, 0, __ATOMIC_RELAXED);
	}
	s->failures++;
	if (max && s->failures >= max && s->locked_until <= now) {
		__atomic_store_n(&s->locked_until, now + (int64_t)lockout,
				 __ATOMIC_RELAXED);
		/* The next window starts when the lock-out ends. */
		s->window_start = now + (int64_t)lockout;
		s->failures = 0;
		__atomic_store_n(&g->lockouts, g->lockouts + 1,
				 __ATOMIC_RELAXED);
		locked = true;
	}
	pthread_mutex_unlock(&g->fail_lock);
	return locked;
}

void ipwd_guard_stats(struct ipwd_guard *g, struct ipwd_guard_stats *out)
{
	out->conns = __atomic_load_n(&g->open, __ATOMIC_RELAXED);
	out->addrs = __atomic_load_n(&g->addrs, __ATOMIC_RELAXED);
	out->refused_per_ip = __atomic_load_n(&g->refused, __ATOMIC_RELAXED);
	out->auth_failures = __atomic_load_n(&g->failures, __ATOMIC_RELAXED);
	out->lockouts = __atomic_load_n(&g->lockouts, __ATOMIC_RELAXED);
	out->locked_refused =
		__atomic_load_n(&g->locked_refused, __ATOMIC_RELAXED);
}
