/* SPDX-License-Identifier: MIT */
/*
 * The write path (see ops.h).
 *
 * Op ids are UUIDv7 (RFC 9562): 48 bits of Unix milliseconds, version 7,
 * 12 bits of a counter that restarts at a random value each millisecond
 * (method 1 of the RFC's monotonicity section), the variant, and 62 random
 * bits. When the counter would wrap within one millisecond, or the clock
 * steps back, the generator borrows the next millisecond, so ids from one
 * process are strictly increasing.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#include "log.h"
#include "ops.h"

#define BATCH_CHUNK 1024 /* specs per writer-lock hold */

struct ipwd_ops {
	struct ipw_table *t;
	char node[64];
	pthread_mutex_t id_lock;
	uint64_t last_ms;
	uint32_t seq;
	uint64_t rnd_state[2];
	uint64_t generation; /* atomic */
};

static void changed(struct ipwd_ops *o)
{
	__atomic_add_fetch(&o->generation, 1, __ATOMIC_RELEASE);
}

uint64_t ipwd_ops_generation(struct ipwd_ops *o)
{
	return __atomic_load_n(&o->generation, __ATOMIC_ACQUIRE);
}

static uint64_t xorshift(uint64_t s[2])
{
	uint64_t a = s[0], b = s[1];

	s[0] = b;
	a ^= a << 23;
	s[1] = a ^ b ^ (a >> 17) ^ (b >> 26);
	return s[1] + b;
}

int ipwd_ops_new(struct ipwd_ops **out, struct ipw_table *t, const char *node)
{
	struct ipwd_ops *o = calloc(1, sizeof(*o));

	if (o == NULL)
		return IPW_ENOMEM;
	o->t = t;
	snprintf(o->node, sizeof(o->node), "%s", node);
	pthread_mutex_init(&o->id_lock, NULL);
	if (getrandom(o->rnd_state, sizeof(o->rnd_state), 0) !=
	    (ssize_t)sizeof(o->rnd_state))
		o->rnd_state[0] = (uint64_t)time(NULL) | 1;
	o->rnd_state[1] |= 1;
	*out = o;
	return 0;
}

void ipwd_ops_free(struct ipwd_ops *o)
{
	if (o == NULL)
		return;
	pthread_mutex_destroy(&o->id_lock);
	free(o);
}

struct ipw_table *ipwd_ops_table(struct ipwd_ops *o)
{
	return o->t;
}

const char *ipwd_ops_node(struct ipwd_ops *o)
{
	return o->node;
}

void ipwd_ops_new_id(struct ipwd_ops *o, char id[IPWD_OPID_LEN])
{
	struct timespec ts;
	uint64_t ms, r;
	uint32_t seq;
	uint8_t b[16];
	int i;

	clock_gettime(CLOCK_REALTIME, &ts);
	ms = (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
	pthread_mutex_lock(&o->id_lock);
	if (ms > o->last_ms) {
		o->last_ms = ms;
		o->seq = (uint32_t)(xorshift(o->rnd_state) & 0x3ff);
	} else if (++o->seq > 0xfff) {
		o->last_ms++;
		o->seq = 0;
	}
	ms = o->last_ms;
	seq = o->seq;
	r = xorshift(o->rnd_state);
	pthread_mutex_unlock(&o->id_lock);

	for (i = 0; i < 6; i++)
		b[i] = (uint8_t)(ms >> (40 - 8 * i));
	b[6] = (uint8_t)(0x70 | (seq >> 8));
	b[7] = (uint8_t)seq;
	for (i = 8; i < 16; i++)
		b[i] = (uint8_t)(r >> (8 * (i - 8)));
	b[8] = (uint8_t)((b[8] & 0x3f) | 0x80);
	snprintf(id, IPWD_OPID_LEN,
		 "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-"
		 "%02x%02x%02x%02x%02x%02x",
		 b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9],
		 b[10], b[11], b[12], b[13], b[14], b[15]);
}

static void evicted_cb(const struct ipw_entry_info *e, void *ctx)
{
	char t[IPW_ADDR_STRLEN];

	(void)ctx;
	ipwd_metric_op(IPWD_ACT_EVICT, IPW_CHANGE_REMOVED, 1);
	ipw_addr_format(&e->target, t, sizeof(t));
	log_debug("op evict %s (table full)", t);
}

int ipwd_ops_apply(struct ipwd_ops *o, struct ipwd_op *op,
		   enum ipw_change *what, struct ipw_entry_info *info)
{
	struct ipw_entry_info ev;
	bool ev_set = false;
	uint64_t t0 = ipwd_now_ns();
	int rc;

	ipwd_ops_new_id(o, op->id);
	op->time = (int64_t)time(NULL);
	switch (op->action) {
	case IPWD_ACT_BAN:
	case IPWD_ACT_ALLOW:
		op->spec.actor = op->actor;
		rc = ipw_table_add(o->t, &op->spec, what, &ev, &ev_set);
		if (rc == 0 && ev_set)
			evicted_cb(&ev, NULL);
		if (rc == 0 && info)
			rc = ipw_table_get(o->t, op->spec.list,
					   &op->spec.target, info);
		break;
	case IPWD_ACT_UNBAN:
	case IPWD_ACT_DISALLOW:
		rc = ipw_table_del(o->t, op->spec.list, &op->spec.target, what,
				   info);
		break;
	case IPWD_ACT_MODE:
		rc = ipw_table_set_mode(o->t, op->mode, what);
		break;
	default:
		return IPW_EINVAL;
	}
	ipwd_metric_write(op->action, ipwd_now_ns() - t0);
	if (rc == 0)
		ipwd_metric_op(op->action, (int)*what, 1);
	if (rc == 0 && *what != IPW_CHANGE_UNCHANGED &&
	    *what != IPW_CHANGE_ABSENT) {
		char t[IPW_ADDR_STRLEN] = "";

		changed(o);
		if (op->action != IPWD_ACT_MODE)
			ipw_addr_format(&op->spec.target, t, sizeof(t));
		log_debug("op %s %s %s%s by %s: %s", op->id,
			  ipwd_action_name(op->action), t,
			  op->action == IPWD_ACT_MODE ?
				  ipw_mode_name(op->mode) :
				  "",
			  op->actor, ipw_change_name(*what));
	}
	return rc;
}

size_t ipwd_ops_add_batch(struct ipwd_ops *o,
			  const struct ipw_entry_spec *specs, size_t n,
			  int *rcs, enum ipw_change *whats)
{
	uint64_t t0 = ipwd_now_ns();
	size_t i, done, failed = 0;

	for (done = 0; done < n; done += BATCH_CHUNK) {
		size_t m = n - done < BATCH_CHUNK ? n - done : BATCH_CHUNK;

		failed += (size_t)ipw_table_add_batch(o->t, specs + done, m,
						      rcs + done, whats + done,
						      evicted_cb, NULL);
	}
	for (i = 0; i < n; i++)
		if (rcs[i] == 0)
			ipwd_metric_op(specs[i].list == IPW_LIST_BAN ?
					       IPWD_ACT_BAN :
					       IPWD_ACT_ALLOW,
				       (int)whats[i], 1);
	ipwd_metric_write(IPWD_ACT_BATCH, ipwd_now_ns() - t0);
	if (failed < n)
		changed(o);
	return failed;
}

static void expired_cb(const struct ipw_entry_info *e, void *ctx)
{
	size_t *n = ctx;

	(void)e;
	(*n)++;
}

size_t ipwd_ops_purge(struct ipwd_ops *o)
{
	size_t total = 0, n;

	do {
		size_t counted = 0;

		n = ipw_table_purge(o->t, 65536, expired_cb, &counted);
		total += counted;
	} while (n == 65536);
	if (total) {
		changed(o);
		ipwd_metric_expired(total);
		ipwd_metric_op(IPWD_ACT_EXPIRE, IPW_CHANGE_REMOVED, total);
		log_debug("purged %zu expired entries", total);
	}
	return total;
}
