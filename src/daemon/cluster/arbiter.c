/* SPDX-License-Identifier: MIT */
/*
 * The arbiter's stamps (see arbiter.h): an open-addressing hash table
 * with linear probing, keyed by (list, family, prefix length, address),
 * grown at a load of 1/2, with backward-shift deletion (no tombstone
 * slots of its own). Changes a group makes are logged until the group's
 * end, so an undone group leaves the stamps as they were.
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include <ipwall/errcode.h>

#include "cluster/arbiter.h"

enum { SLOT_EMPTY = 0, SLOT_PRESENT = 1, SLOT_ABSENT = 2 };

struct slot {
	uint8_t id[16];
	uint8_t addr[16];
	uint8_t family, plen, list, state;
	uint32_t hash;
};

/* A stamp as it was before the group being built changed it. */
struct undo {
	struct slot old; /* state SLOT_EMPTY: there was none */
	struct slot key;
	bool mode;
};

struct ipwd_arbiter_state {
	pthread_mutex_t lock;
	struct slot *v;
	size_t cap, n, absent;
	struct slot mode; /* state SLOT_EMPTY: no mode op yet */
	struct undo *log;
	size_t nlog, caplog;
	uint64_t admitted, superseded;
};

static uint32_t hash_key(const struct slot *k)
{
	/* FNV-1a over the key, then a finaliser: targets differ in their
	 * low bytes as often as in their high ones */
	uint32_t h = 2166136261u;
	size_t i;

	for (i = 0; i < 16; i++)
		h = (h ^ k->addr[i]) * 16777619u;
	h = (h ^ k->family) * 16777619u;
	h = (h ^ k->plen) * 16777619u;
	h = (h ^ k->list) * 16777619u;
	h ^= h >> 16;
	h *= 0x85ebca6bu;
	h ^= h >> 13;
	return h;
}

static void key_of(struct slot *k, int list, const struct ipw_addr *t)
{
	memset(k, 0, sizeof(*k));
	memcpy(k->addr, t->bytes, 16);
	k->family = t->family;
	k->plen = t->plen;
	k->list = (uint8_t)list;
	k->hash = hash_key(k);
}

static bool same_key(const struct slot *a, const struct slot *b)
{
	return a->hash == b->hash && a->family == b->family &&
	       a->plen == b->plen && a->list == b->list &&
	       memcmp(a->addr, b->addr, 16) == 0;
}

static struct slot *find(struct ipwd_arbiter_state *a, const struct slot *k)
{
	size_t i;

	if (a->cap == 0)
		return NULL;
	for (i = k->hash & (a->cap - 1); a->v[i].state != SLOT_EMPTY;
	     i = (i + 1) & (a->cap - 1))
		if (same_key(&a->v[i], k))
			return &a->v[i];
	return NULL;
}

static int grow(struct ipwd_arbiter_state *a)
{
	size_t cap = a->cap ? a->cap * 2 : 1024, i, j;
	struct slot *v = calloc(cap, sizeof(*v));

	if (v == NULL)
		return IPW_ENOMEM;
	for (i = 0; i < a->cap; i++) {
		if (a->v[i].state == SLOT_EMPTY)
			continue;
		for (j = a->v[i].hash & (cap - 1); v[j].state != SLOT_EMPTY;
		     j = (j + 1) & (cap - 1))
			;
		v[j] = a->v[i];
	}
	free(a->v);
	a->v = v;
	a->cap = cap;
	return 0;
}

/* The slot for @k, added empty-stamped (state set by the caller) if it
 * is new; NULL without memory. */
static struct slot *upsert(struct ipwd_arbiter_state *a, const struct slot *k,
			   bool *added)
{
	struct slot *s = find(a, k);
	size_t i;

	*added = false;
	if (s)
		return s;
	if ((a->n + 1) * 2 > a->cap && grow(a) != 0)
		return NULL;
	for (i = k->hash & (a->cap - 1); a->v[i].state != SLOT_EMPTY;
	     i = (i + 1) & (a->cap - 1))
		;
	a->v[i] = *k;
	a->n++;
	*added = true;
	return &a->v[i];
}

/* Remove the slot at @i, shifting the run after it back. */
static void remove_at(struct ipwd_arbiter_state *a, size_t i)
{
	size_t mask = a->cap - 1, j = i, home;

	if (a->v[i].state == SLOT_ABSENT)
		a->absent--;
	a->v[i].state = SLOT_EMPTY;
	a->n--;
	for (;;) {
		j = (j + 1) & mask;
		if (a->v[j].state == SLOT_EMPTY)
			return;
		home = a->v[j].hash & mask;
		/* can the slot at j move back to i? only if its home is not
		 * in (i, j] cyclically */
		if (i <= j ? (home > i && home <= j) : (home > i || home <= j))
			continue;
		a->v[i] = a->v[j];
		a->v[j].state = SLOT_EMPTY;
		i = j;
	}
}

int ipwd_arbiter_new(struct ipwd_arbiter_state **out)
{
	struct ipwd_arbiter_state *a = calloc(1, sizeof(*a));

	if (a == NULL)
		return IPW_ENOMEM;
	pthread_mutex_init(&a->lock, NULL);
	*out = a;
	return 0;
}

void ipwd_arbiter_free(struct ipwd_arbiter_state *a)
{
	if (a == NULL)
		return;
	pthread_mutex_destroy(&a->lock);
	free(a->v);
	free(a->log);
	free(a);
}

/* Set the stamp of @k (or the mode's) to @id if above it, logging the
 * old one when @logged. a->lock held. */
static int set_stamp(struct ipwd_arbiter_state *a, const struct slot *k,
		     bool mode, const uint8_t id[16], bool present, bool logged)
{
	struct slot *s, old;
	bool added = false;

	if (mode) {
		s = &a->mode;
	} else {
		s = upsert(a, k, &added);
		if (s == NULL)
			return IPW_ENOMEM;
	}
	old = *s;
	if (added)
		old.state = SLOT_EMPTY;
	else if (old.state != SLOT_EMPTY && memcmp(id, old.id, 16) <= 0)
		return 0;
	if (logged) {
		if (a->nlog == a->caplog) {
			size_t cap = a->caplog ? a->caplog * 2 : 256;
			struct undo *v = realloc(a->log, cap * sizeof(*v));

			if (v == NULL) {
				if (added)
					remove_at(a, (size_t)(s - a->v));
				return IPW_ENOMEM;
			}
			a->log = v;
			a->caplog = cap;
		}
		a->log[a->nlog].old = old;
		a->log[a->nlog].key = *k;
		a->log[a->nlog].mode = mode;
		a->nlog++;
	}
	if (old.state == SLOT_ABSENT)
		a->absent--;
	memcpy(s->id, id, 16);
	s->state = present ? SLOT_PRESENT : SLOT_ABSENT;
	if (!present)
		a->absent++;
	return 0;
}

static int cb_admit(void *ctx, const struct ipwd_oprec *op)
{
	struct ipwd_arbiter_state *a = ctx;
	uint8_t id[16];
	struct slot k, *s;
	int ok;

	if (ipwd_opid_parse(op->id, strlen(op->id), id) != 0)
		return 0;
	pthread_mutex_lock(&a->lock);
	if (op->action == IPWD_ACT_MODE) {
		s = a->mode.state != SLOT_EMPTY ? &a->mode : NULL;
	} else {
		key_of(&k, (int)ipwd_action_list(op->action), &op->target);
		s = find(a, &k);
	}
	ok = s == NULL || memcmp(id, s->id, 16) > 0;
	if (ok)
		a->admitted++;
	else
		a->superseded++;
	pthread_mutex_unlock(&a->lock);
	return ok;
}

static void cb_record(void *ctx, const struct ipwd_oprec *r)
{
	struct ipwd_arbiter_state *a = ctx;
	uint8_t id[16];
	struct slot k;
	bool present;

	switch (r->action) {
	case IPWD_ACT_BAN:
	case IPWD_ACT_ALLOW:
		present = r->after != NULL;
		break;
	case IPWD_ACT_UNBAN:
	case IPWD_ACT_DISALLOW:
	case IPWD_ACT_MODE:
		present = r->action == IPWD_ACT_MODE;
		break;
	default:
		return; /* expiries and evictions are this node's own */
	}
	if (ipwd_opid_parse(r->id, strlen(r->id), id) != 0)
		return;
	memset(&k, 0, sizeof(k));
	if (r->action != IPWD_ACT_MODE)
		key_of(&k, (int)r->list, &r->target);
	pthread_mutex_lock(&a->lock);
	/* Without memory the stamp is not kept: the op is applied, and a
	 * later op from elsewhere on the target is admitted as if this
	 * one were unknown (the same as after a horizon). */
	(void)set_stamp(a, &k, r->action == IPWD_ACT_MODE, id, present, true);
	pthread_mutex_unlock(&a->lock);
}

static void cb_end(void *ctx, bool committed)
{
	struct ipwd_arbiter_state *a = ctx;

	pthread_mutex_lock(&a->lock);
	while (!committed && a->nlog > 0) {
		struct undo *u = &a->log[--a->nlog];
		struct slot *s = u->mode ? &a->mode : find(a, &u->key);
		bool added;

		if (s == NULL && u->old.state == SLOT_EMPTY)
			continue;
		if (s == NULL) {
			/* pruned meanwhile: put the old stamp back */
			s = upsert(a, &u->key, &added);
			if (s == NULL)
				continue;
			s->state = SLOT_PRESENT; /* overwritten below */
		}
		if (s->state == SLOT_ABSENT)
			a->absent--;
		if (u->old.state == SLOT_EMPTY && !u->mode) {
			s->state = SLOT_PRESENT; /* counted by remove_at */
			remove_at(a, (size_t)(s - a->v));
			continue;
		}
		memcpy(s->id, u->old.id, 16);
		s->state = u->old.state;
		if (s->state == SLOT_ABSENT)
			a->absent++;
	}
	a->nlog = 0;
	pthread_mutex_unlock(&a->lock);
}

const struct ipwd_arbiter ipwd_arbiter_ops = {
	.admit = cb_admit,
	.record = cb_record,
	.end = cb_end,
};

int ipwd_arbiter_seed(struct ipwd_arbiter_state *a, int list,
		      const struct ipw_addr *target, const uint8_t id[16],
		      bool present)
{
	struct slot k;
	int rc;

	memset(&k, 0, sizeof(k));
	if (list >= 0 && target == NULL)
		return IPW_EINVAL;
	if (list >= 0)
		key_of(&k, list, target);
	pthread_mutex_lock(&a->lock);
	rc = set_stamp(a, &k, list < 0, id, present, false);
	pthread_mutex_unlock(&a->lock);
	return rc;
}

bool ipwd_arbiter_stamp(struct ipwd_arbiter_state *a, int list,
			const struct ipw_addr *target, uint8_t id[16],
			bool *present)
{
	struct slot k, *s;
	bool found;

	if (list >= 0 && target == NULL)
		return false;
	pthread_mutex_lock(&a->lock);
	if (list < 0) {
		s = a->mode.state != SLOT_EMPTY ? &a->mode : NULL;
	} else {
		key_of(&k, list, target);
		s = find(a, &k);
	}
	found = s != NULL;
	if (found) {
		memcpy(id, s->id, 16);
		*present = s->state == SLOT_PRESENT;
	}
	pthread_mutex_unlock(&a->lock);
	return found;
}

size_t ipwd_arbiter_prune(struct ipwd_arbiter_state *a, uint64_t before_ms)
{
	size_t i = 0, n = 0;

	pthread_mutex_lock(&a->lock);
	/* not while a group is open: its undo log points at slots by key,
	 * which is safe, but keep it simple: the committer's groups are
	 * short */
	while (i < a->cap) {
		if (a->v[i].state == SLOT_ABSENT &&
		    ipwd_opid_ms(a->v[i].id) < before_ms) {
			remove_at(a, i);
			n++;
			continue; /* a slot shifted back into i */
		}
		i++;
	}
	pthread_mutex_unlock(&a->lock);
	return n;
}

void ipwd_arbiter_stats(struct ipwd_arbiter_state *a,
			struct ipwd_arbiter_stats *out)
{
	pthread_mutex_lock(&a->lock);
	out->stamps = a->n;
	out->tombstones = a->absent;
	out->bytes =
		a->cap * sizeof(struct slot) + a->caplog * sizeof(struct undo);
	out->admitted = a->admitted;
	out->superseded = a->superseded;
	pthread_mutex_unlock(&a->lock);
}
