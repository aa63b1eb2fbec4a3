// SPDX-License-Identifier: MIT
/*
 * Open-addressing table of the baselines (see oatable.h for the layout and
 * the load rules).
 *
 * Growth rehashes every live entry into a new array while the caller holds
 * its write lock: O(capacity), amortised O(1) per insert. That stall is part
 * of what a locked open-addressing design costs, so the benchmark keeps it
 * (preloading sizes the table so that read-mostly runs never grow).
 * oa_purge() is a full pass over the array, O(capacity).
 */
#include <errno.h>
#include <stdlib.h>

#include "oatable.h"

#define OA_MIN_CAP 16

static size_t cap_for(size_t entries)
{
	size_t cap = OA_MIN_CAP;

	/* live + tombstones stay at or under 3/4 of the capacity */
	while (cap / 4 * 3 < entries + 1)
		cap *= 2;
	return cap;
}

static struct oa_slot *alloc_slots(size_t cap)
{
	struct oa_slot *s = malloc(cap * sizeof(*s));

	if (!s)
		return NULL;
	for (size_t i = 0; i < cap; i++)
		s[i].expires = OA_EMPTY;
	return s;
}

int oa_init(struct oa_table *t, size_t hint, const uint64_t hash_key[2])
{
	size_t cap = cap_for(hint);

	t->slots = alloc_slots(cap);
	if (!t->slots)
		return -ENOMEM;
	t->mask = cap - 1;
	t->live = 0;
	t->tombs = 0;
	t->hash_key[0] = hash_key[0];
	t->hash_key[1] = hash_key[1];
	return 0;
}

void oa_destroy(struct oa_table *t)
{
	free(t->slots);
	t->slots = NULL;
}

/* Move every live entry into a fresh array of @cap slots. */
static int rehash(struct oa_table *t, size_t cap)
{
	struct oa_slot *old = t->slots, *s = alloc_slots(cap);
	size_t oldcap = t->mask + 1;

	if (!s)
		return -ENOMEM;
	for (size_t i = 0; i < oldcap; i++) {
		size_t j;

		if (old[i].expires == OA_EMPTY || old[i].expires == OA_TOMB)
			continue;
		j = oa_hash(t, old[i].key) & (cap - 1);
		/* alloc_slots() set every expires; the analyser loses track. */
		// NOLINTNEXTLINE(clang-analyzer-core.UndefinedBinaryOperatorResult)
		while (s[j].expires != OA_EMPTY)
			j = (j + 1) & (cap - 1);
		s[j] = old[i];
	}
	free(old);
	t->slots = s;
	t->mask = cap - 1;
	t->tombs = 0;
	return 0;
}

int oa_put(struct oa_table *t, uint32_t key, uint64_t h, struct design_val v)
{
	struct oa_slot *s, *free_slot = NULL;
	size_t cap = t->mask + 1;

	for (size_t i = h & t->mask;; i = (i + 1) & t->mask) {
		s = &t->slots[i];
		if (s->expires == OA_EMPTY)
			break;
		if (s->expires == OA_TOMB) {
			if (!free_slot)
				free_slot = s;
		} else if (s->key == key) {
			s->expires = v.expires;
			s->score = v.score;
			return 0;
		}
	}
	if (!free_slot && t->live + t->tombs + 1 > cap / 4 * 3) {
		int err = rehash(t, t->live + 1 > cap / 8 * 3 ? cap * 2 : cap);

		if (err)
			return err;
		for (size_t i = h & t->mask;; i = (i + 1) & t->mask) {
			s = &t->slots[i];
			// NOLINTNEXTLINE(clang-analyzer-core.UndefinedBinaryOperatorResult)
			if (s->expires == OA_EMPTY)
				break;
		}
	}
	if (free_slot) {
		s = free_slot;
		t->tombs--;
	}
	s->key = key;
	s->score = v.score;
	s->expires = v.expires;
	t->live++;
	return 1;
}

bool oa_del(struct oa_table *t, uint32_t key, uint64_t h)
{
	for (size_t i = h & t->mask;; i = (i + 1) & t->mask) {
		struct oa_slot *s = &t->slots[i];

		if (s->expires == OA_EMPTY)
			return false;
		if (s->key == key && s->expires != OA_TOMB) {
			s->expires = OA_TOMB;
			t->live--;
			t->tombs++;
			return true;
		}
	}
}

size_t oa_purge(struct oa_table *t, int64_t now)
{
	size_t n = 0;

	for (size_t i = 0; i <= t->mask; i++) {
		struct oa_slot *s = &t->slots[i];

		/* OA_EMPTY and OA_TOMB are negative: "<= now" would take
		 * them for expired entries */
		if (s->expires == OA_EMPTY || s->expires == OA_TOMB)
			continue;
		if (s->expires <= now) {
			s->expires = OA_TOMB;
			n++;
		}
	}
	t->live -= n;
	t->tombs += n;
	return n;
}
