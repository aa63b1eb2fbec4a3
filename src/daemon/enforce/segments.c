/* SPDX-License-Identifier: MIT */
/*
 * Disjoint intervals from nested prefixes with expiries (segments.h).
 *
 * The canonical cut
 * -----------------
 * Prefixes nest or are disjoint, so the entries covering a point form a
 * chain from the shortest to the longest. Walk it down, keeping M, the
 * latest expiry seen so far (permanent is latest): an entry whose own
 * expiry is strictly after the M of the entries above it is dominant, it
 * raises M; any other entry is transparent, it changes no point's value
 * (a /24 banned for an hour inside a /16 banned for a day). The owner of
 * a point is the last dominant entry of its chain: the entry whose expiry
 * is the point's value. A segment is a maximal run of consecutive points
 * with the same owner, whose expiry is after now; it carries that expiry.
 * So:
 *   - the set holds a point exactly while some live entry covers it, and
 *     drops it when the last one expires: an outer /16 that expires
 *     before an inner /24 leaves the /24 in the set, because the /24 is
 *     dominant and owns its points;
 *   - the cut is a function of the entries alone (and of now, for which
 *     runs are live), not of the order they came in, so a reconcile that
 *     builds it from a snapshot finds the same segments as the ops that
 *     built it one by one;
 *   - a transparent entry adds nothing, and a dominant one at most the
 *     gaps around its dominant children: at most two segments per entry,
 *     fewer when they nest (a permanent /8 with 10,000 shorter-lived
 *     prefixes inside is one segment);
 *   - two sibling prefixes with the same expiry stay two segments (runs
 *     of different owners are not merged), which keeps every change
 *     local.
 *
 * One change
 * ----------
 * A put or del of P = [lo, hi] changes the owner of points inside P only.
 * If P is transparent both before and after (its expiry not after the M
 * of its ancestors), nothing changes at all: O(L log n) to find that out,
 * L the lengths in use. Otherwise the runs inside P are recomputed by a
 * sweep over P's descendants in address order with a stack of the open
 * prefixes (the chain), and the two segments that may straddle P's edges
 * (the one holding lo - 1 and the one holding hi + 1) are cut at the
 * edge and their outer pieces kept, or merged with the first or last run
 * inside when the owner is the same on both sides. Nothing beyond those
 * two segments can change: a run that crossed them would have to join two
 * points whose owners P does not decide, and that were apart before.
 * Old and new segments of the region are compared and the identical ones
 * cancelled, so the caller is told only what differs. Cost: O(L log n +
 * k log n) for k entries inside P (a put of a /0 over everything walks
 * everything, as it may change everything). Memory for a change is
 * allocated before anything is modified, so ENOMEM and the limit leave
 * the container as it was.
 *
 * Dead segments (their expiry passed since they were reported) stay until
 * a change touches them, and are then reported as removed like any other:
 * the caller knows the kernel dropped them already. Points whose value is
 * not after now never get a new segment.
 *
 * Storage: two skip lists (p = 1/4) keyed by (first address, length):
 * the entries, in prefix-tree preorder (a prefix right before the
 * prefixes inside it), and the segments. A flat container keeps only the
 * first, each entry marked when it was reported as a segment.
 */
#include <stdlib.h>
#include <string.h>

#include <ipwall/errcode.h>

#include "enforce/segments.h"

#define MAX_LEVEL  20
#define RANK_NEVER INT64_MAX /* a permanent expiry */
#define RANK_NONE  INT64_MIN /* above the root */

struct node {
	ipwd_u128 key;	/* the first address */
	ipwd_u128 last; /* the last address */
	int64_t expires;
	uint8_t plen;	/* entries; 0 for segments */
	uint8_t in_set; /* flat entries: reported as a segment */
	uint8_t level;
	struct node *next[];
};

/* The size of one link (a pointer: clang-tidy reads sizeof(n->next[0])
 * as a likely mistake for the size of the node). */
#define LINK_SIZE sizeof(void *)

struct list {
	struct node *head;
	unsigned level;
};

/* A run of the sweep: a new segment and the entry owning it. */
struct run {
	struct ipwd_seg seg;
	const struct node *owner;
	bool cancelled;
};

/* An open prefix of the sweep: its last address, the M of the chain down
 * to it, and the owner of its points not inside a deeper prefix. */
struct frame {
	ipwd_u128 last;
	int64_t m;
	const struct node *owner;
};

struct old {
	struct node *n;
	bool cancelled;
};

struct ipwd_segs {
	unsigned width;
	bool flat;
	uint64_t rng;
	ipwd_u128 max;
	struct list entries, segs;
	size_t nentries, nsegs;
	size_t used[129]; /* entries per length */
	struct frame *stack;
	struct run *runs;
	size_t nruns, cap_runs;
	struct old *olds;
	size_t nolds, cap_olds;
	struct node **fresh; /* new segment nodes, allocated before use */
	size_t cap_fresh;
};

static int64_t rank(int64_t expires)
{
	return expires == 0 ? RANK_NEVER : expires;
}

static bool live(int64_t expires, int64_t now)
{
	return rank(expires) > now;
}

static ipwd_u128 hostmask(unsigned width, unsigned plen)
{
	if (plen >= width)
		return 0;
	if (width - plen == 128)
		return ~(ipwd_u128)0;
	return ((ipwd_u128)1 << (width - plen)) - 1;
}

ipwd_u128 ipwd_prefix_last(ipwd_u128 addr, unsigned plen, unsigned width)
{
	return addr | hostmask(width, plen);
}

/* ---- diffs ---- */

void ipwd_seg_diff_clear(struct ipwd_seg_diff *d)
{
	d->ndel = 0;
	d->nadd = 0;
}

void ipwd_seg_diff_free(struct ipwd_seg_diff *d)
{
	if (d == NULL)
		return;
	free(d->del);
	free(d->add);
	memset(d, 0, sizeof(*d));
}

static int grow(void **v, size_t *cap, size_t need, size_t elem)
{
	size_t n = *cap ? *cap : 16;
	void *p;

	if (need <= *cap)
		return 0;
	while (n < need)
		n *= 2;
	p = realloc(*v, n * elem);
	if (p == NULL)
		return IPW_ENOMEM;
	*v = p;
	*cap = n;
	return 0;
}

static int diff_reserve(struct ipwd_seg_diff *d, size_t ndel, size_t nadd)
{
	if (grow((void **)&d->del, &d->cap_del, d->ndel + ndel,
		 sizeof(*d->del)) != 0)
		return IPW_ENOMEM;
	return grow((void **)&d->add, &d->cap_add, d->nadd + nadd,
		    sizeof(*d->add));
}

/* ---- skip lists ---- */

static bool before(const struct node *n, ipwd_u128 key, unsigned plen)
{
	return n->key < key || (n->key == key && n->plen < plen);
}

static unsigned random_level(struct ipwd_segs *s)
{
	uint64_t x = s->rng;
	unsigned level = 1;

	x ^= x << 13;
	x ^= x >> 7;
	x ^= x << 17;
	s->rng = x;
	while (level < MAX_LEVEL && (x & 3) == 0) {
		level++;
		x >>= 2;
	}
	return level;
}

static struct node *node_new(struct ipwd_segs *s)
{
	unsigned level = random_level(s);
	struct node *n = calloc(1, sizeof(*n) + level * LINK_SIZE);

	if (n)
		n->level = (uint8_t)level;
	return n;
}

/* The first node at or after (@key, @plen); @upd gets the last node
 * before it on every level. */
static struct node *find_ge(const struct list *l, ipwd_u128 key, unsigned plen,
			    struct node **upd)
{
	struct node *x = l->head;
	int i;

	for (i = MAX_LEVEL - 1; i >= 0; i--) {
		while (x->next[i] && before(x->next[i], key, plen))
			x = x->next[i];
		if (upd)
			upd[i] = x;
	}
	return x->next[0];
}

static struct node *find_exact(const struct list *l, ipwd_u128 key,
			       unsigned plen)
{
	struct node *x = l->head;
	int i;

	for (i = (int)l->level - 1; i >= 0; i--)
		while (x->next[i] && before(x->next[i], key, plen))
			x = x->next[i];
	x = x->next[0];
	return x && x->key == key && x->plen == plen ? x : NULL;
}

static void link_node(struct list *l, struct node *n)
{
	struct node *upd[MAX_LEVEL];
	unsigned i;

	find_ge(l, n->key, n->plen, upd);
	for (i = 0; i < n->level; i++) {
		n->next[i] = upd[i]->next[i];
		upd[i]->next[i] = n;
	}
	if (n->level > l->level)
		l->level = n->level;
}

static void unlink_node(struct list *l, struct node *n)
{
	struct node *upd[MAX_LEVEL];
	unsigned i;

	find_ge(l, n->key, n->plen, upd);
	for (i = 0; i < n->level; i++)
		if (upd[i]->next[i] == n)
			upd[i]->next[i] = n->next[i];
	while (l->level > 1 && l->head->next[l->level - 1] == NULL)
		l->level--;
}

static int list_init(struct list *l)
{
	l->head = calloc(1, sizeof(*l->head) + MAX_LEVEL * LINK_SIZE);
	l->level = 1;
	return l->head ? 0 : IPW_ENOMEM;
}

static void list_free(struct list *l)
{
	struct node *n, *next;

	if (l->head == NULL)
		return;
	for (n = l->head->next[0]; n; n = next) {
		next = n->next[0];
		free(n);
	}
	free(l->head);
	l->head = NULL;
}

/* ---- containers ---- */

int ipwd_segs_new(struct ipwd_segs **out, unsigned width, bool flat,
		  uint64_t seed)
{
	struct ipwd_segs *s;

	if (width < 1 || width > 128)
		return IPW_EINVAL;
	s = calloc(1, sizeof(*s));
	if (s == NULL)
		return IPW_ENOMEM;
	s->width = width;
	s->flat = flat;
	s->rng = seed ? seed : 0x9e3779b97f4a7c15ull;
	s->max = hostmask(width, 0);
	s->stack = calloc(width + 2, sizeof(*s->stack));
	if (s->stack == NULL || list_init(&s->entries) != 0 ||
	    list_init(&s->segs) != 0) {
		ipwd_segs_free(s);
		return IPW_ENOMEM;
	}
	*out = s;
	return 0;
}

void ipwd_segs_free(struct ipwd_segs *s)
{
	if (s == NULL)
		return;
	list_free(&s->entries);
	list_free(&s->segs);
	free(s->stack);
	free(s->runs);
	free(s->olds);
	free(s->fresh);
	free(s);
}

size_t ipwd_segs_count(const struct ipwd_segs *s)
{
	return s->nsegs;
}

size_t ipwd_segs_entries(const struct ipwd_segs *s)
{
	return s->nentries;
}

bool ipwd_segs_next(const struct ipwd_segs *s, const void **cursor,
		    struct ipwd_seg *out)
{
	const struct list *l = s->flat ? &s->entries : &s->segs;
	const struct node *from = *cursor ? *cursor : l->head;
	const struct node *n = from->next[0];

	while (n != NULL && s->flat && !n->in_set)
		n = n->next[0];
	if (n == NULL)
		return false;
	out->first = n->key;
	out->last = n->last;
	out->expires = n->expires;
	*cursor = n;
	return true;
}

static int check_target(const struct ipwd_segs *s, ipwd_u128 addr,
			unsigned plen)
{
	if (plen > s->width || addr > s->max ||
	    (addr & hostmask(s->width, plen)) != 0)
		return IPW_EINVAL;
	if (s->flat != (plen == s->width))
		return IPW_EINVAL;
	return 0;
}

int ipwd_segs_get(const struct ipwd_segs *s, ipwd_u128 addr, unsigned plen,
		  int64_t *expires)
{
	const struct node *n;

	if (check_target(s, addr, plen) != 0)
		return IPW_EINVAL;
	n = find_exact(&s->entries, addr, plen);
	if (n == NULL)
		return IPW_ENOENT;
	*expires = n->expires;
	return 0;
}

/* ---- flat containers ---- */

static int put_flat(struct ipwd_segs *s, ipwd_u128 addr, int64_t expires,
		    int64_t now, size_t limit, struct ipwd_seg_diff *d)
{
	struct node *n = find_exact(&s->entries, addr, s->width);
	bool was = n && n->in_set, will = live(expires, now);

	if (n && n->expires == expires)
		return 0;
	if (will && !was && s->nsegs >= limit)
		return IPW_ENOSPC;
	if (diff_reserve(d, 1, 1) != 0)
		return IPW_ENOMEM;
	if (n == NULL) {
		n = node_new(s);
		if (n == NULL)
			return IPW_ENOMEM;
		n->key = addr;
		n->last = addr;
		n->plen = (uint8_t)s->width;
		link_node(&s->entries, n);
		s->nentries++;
		s->used[s->width]++;
	}
	if (was)
		d->del[d->ndel++] = (struct ipwd_seg){addr, addr, n->expires};
	n->expires = expires;
	n->in_set = will;
	if (will)
		d->add[d->nadd++] = (struct ipwd_seg){addr, addr, expires};
	s->nsegs = s->nsegs + will - was;
	return 0;
}

static int del_flat(struct ipwd_segs *s, ipwd_u128 addr,
		    struct ipwd_seg_diff *d)
{
	struct node *n = find_exact(&s->entries, addr, s->width);

	if (n == NULL)
		return IPW_ENOENT;
	if (diff_reserve(d, 1, 0) != 0)
		return IPW_ENOMEM;
	if (n->in_set) {
		d->del[d->ndel++] = (struct ipwd_seg){addr, addr, n->expires};
		s->nsegs--;
	}
	unlink_node(&s->entries, n);
	s->nentries--;
	s->used[s->width]--;
	free(n);
	return 0;
}

/* ---- the sweep ---- */

static void fold(struct frame *f, const struct frame *parent,
		 const struct node *n)
{
	int64_t pm = parent ? parent->m : RANK_NONE, r = rank(n->expires);

	f->last = n->last;
	if (r > pm) {
		f->m = r;
		f->owner = n;
	} else {
		f->m = pm;
		f->owner = parent ? parent->owner : NULL;
	}
}

/* The chain of entries covering @x with a length below @below, folded:
 * its M and owner in *@f. False if there is none. */
static bool chain_at(const struct ipwd_segs *s, ipwd_u128 x, unsigned below,
		     struct frame *f)
{
	bool have = false;
	unsigned l;

	for (l = 0; l < below && l <= s->width; l++) {
		const struct node *n;
		struct frame g;

		if (s->used[l] == 0)
			continue;
		n = find_exact(&s->entries, x & ~hostmask(s->width, l), l);
		if (n == NULL)
			continue;
		fold(&g, have ? f : NULL, n);
		*f = g;
		have = true;
	}
	return have;
}

static int emit(struct ipwd_segs *s, ipwd_u128 a, ipwd_u128 b,
		const struct node *owner, int64_t now)
{
	struct run *r;

	if (owner == NULL || a > b || !live(owner->expires, now))
		return 0;
	if (grow((void **)&s->runs, &s->cap_runs, s->nruns + 1,
		 sizeof(*s->runs)) != 0)
		return IPW_ENOMEM;
	r = &s->runs[s->nruns++];
	r->seg.first = a;
	r->seg.last = b;
	r->seg.expires = owner->expires;
	r->owner = owner;
	r->cancelled = false;
	return 0;
}

/* The runs inside [@lo, @hi], the range of an entry of length @plen
 * (present or not), into s->runs. */
static int sweep(struct ipwd_segs *s, ipwd_u128 lo, ipwd_u128 hi, unsigned plen,
		 int64_t now)
{
	struct frame *st = s->stack;
	const struct node *cur, *n;
	ipwd_u128 start = lo;
	size_t top = 0;

	s->nruns = 0;
	if (chain_at(s, lo, plen, &st[0]))
		top = 1;
	cur = top ? st[0].owner : NULL;
	for (n = find_ge(&s->entries, lo, plen, NULL); n && n->key <= hi;
	     n = n->next[0]) {
		ipwd_u128 p = n->key;

		while (top && st[top - 1].last < p) {
			ipwd_u128 end = st[top - 1].last;
			const struct node *o = --top ? st[top - 1].owner : NULL;

			if (o != cur) {
				if (emit(s, start, end, cur, now) != 0)
					return IPW_ENOMEM;
				start = end + 1;
				cur = o;
			}
		}
		fold(&st[top], top ? &st[top - 1] : NULL, n);
		top++;
		if (st[top - 1].owner != cur) {
			if (p > start && emit(s, start, p - 1, cur, now) != 0)
				return IPW_ENOMEM;
			start = p;
			cur = st[top - 1].owner;
		}
	}
	while (top && st[top - 1].last < hi) {
		ipwd_u128 end = st[top - 1].last;
		const struct node *o = --top ? st[top - 1].owner : NULL;

		if (o != cur) {
			if (emit(s, start, end, cur, now) != 0)
				return IPW_ENOMEM;
			start = end + 1;
			cur = o;
		}
	}
	return emit(s, start, hi, cur, now);
}

/* The segments meeting [a, b], in order, into s->olds. */
static int collect_olds(struct ipwd_segs *s, ipwd_u128 a, ipwd_u128 b)
{
	struct node *upd[MAX_LEVEL], *n;

	s->nolds = 0;
	n = find_ge(&s->segs, a, 0, upd);
	if (upd[0] != s->segs.head && upd[0]->last >= a)
		n = upd[0];
	for (; n && n->key <= b; n = n->next[0]) {
		if (grow((void **)&s->olds, &s->cap_olds, s->nolds + 1,
			 sizeof(*s->olds)) != 0)
			return IPW_ENOMEM;
		s->olds[s->nolds].n = n;
		s->olds[s->nolds++].cancelled = false;
	}
	return 0;
}

/* Put run @r first (@at_end false) or last in s->runs. */
static int add_run(struct ipwd_segs *s, const struct ipwd_seg *seg, bool at_end)
{
	if (grow((void **)&s->runs, &s->cap_runs, s->nruns + 1,
		 sizeof(*s->runs)) != 0)
		return IPW_ENOMEM;
	if (!at_end)
		memmove(s->runs + 1, s->runs, s->nruns * sizeof(*s->runs));
	s->runs[at_end ? s->nruns : 0] =
		(struct run){.seg = *seg, .owner = NULL, .cancelled = false};
	s->nruns++;
	return 0;
}

/*
 * Recompute the segments of the region of entry [@lo, @hi] (length
 * @plen), the entries already changed, and apply the difference to
 * s->segs and @d, unless it would pass @limit (IPW_ENOSPC) or memory runs
 * out (IPW_ENOMEM); in both cases s->segs and @d are unchanged.
 */
static int recompute(struct ipwd_segs *s, ipwd_u128 lo, ipwd_u128 hi,
		     unsigned plen, int64_t now, size_t limit,
		     struct ipwd_seg_diff *d)
{
	struct node *left = NULL, *right = NULL;
	size_t i, j, ndel = 0, nadd = 0, after;
	struct frame f;

	if (collect_olds(s, lo ? lo - 1 : lo, hi < s->max ? hi + 1 : hi) != 0)
		return IPW_ENOMEM;
	if (s->nolds && lo > 0 && s->olds[0].n->key < lo)
		left = s->olds[0].n;
	if (s->nolds && hi < s->max && s->olds[s->nolds - 1].n->last > hi)
		right = s->olds[s->nolds - 1].n;
	if (sweep(s, lo, hi, plen, now) != 0)
		return IPW_ENOMEM;

	/* The pieces outside [lo, hi] of the segments across its edges,
	 * joined to the run inside when one owner holds both sides. */
	if (left && live(left->expires, now)) {
		const struct node *o =
			chain_at(s, lo - 1, s->width + 1, &f) ? f.owner : NULL;

		if (s->nruns && s->runs[0].seg.first == lo &&
		    s->runs[0].owner == o)
			s->runs[0].seg.first = left->key;
		else if (add_run(s,
				 &(struct ipwd_seg){left->key, lo - 1,
						    left->expires},
				 false) != 0)
			return IPW_ENOMEM;
	}
	if (right && live(right->expires, now)) {
		const struct node *o =
			chain_at(s, hi + 1, s->width + 1, &f) ? f.owner : NULL;
		struct run *r = s->nruns ? &s->runs[s->nruns - 1] : NULL;

		if (r && r->seg.last == hi && r->owner == o && o)
			r->seg.last = right->last;
		else if (add_run(s,
				 &(struct ipwd_seg){hi + 1, right->last,
						    right->expires},
				 true) != 0)
			return IPW_ENOMEM;
	}

	/* Cancel what is the same before and after. */
	for (i = 0, j = 0; i < s->nolds && j < s->nruns;) {
		const struct node *o = s->olds[i].n;
		struct run *r = &s->runs[j];

		if (o->key < r->seg.first) {
			i++;
		} else if (o->key > r->seg.first) {
			j++;
		} else {
			if (o->last == r->seg.last &&
			    o->expires == r->seg.expires) {
				s->olds[i].cancelled = true;
				r->cancelled = true;
			}
			i++;
			j++;
		}
	}
	for (i = 0; i < s->nolds; i++)
		ndel += !s->olds[i].cancelled;
	for (j = 0; j < s->nruns; j++)
		nadd += !s->runs[j].cancelled;
	after = s->nsegs - ndel + nadd;
	if (after > limit && after > s->nsegs)
		return IPW_ENOSPC;

	/* Everything that can fail, before anything changes. */
	if (diff_reserve(d, ndel, nadd) != 0 ||
	    grow((void **)&s->fresh, &s->cap_fresh, nadd, LINK_SIZE) != 0)
		return IPW_ENOMEM;
	for (j = 0; j < nadd; j++) {
		s->fresh[j] = node_new(s);
		if (s->fresh[j] == NULL) {
			while (j--)
				free(s->fresh[j]);
			return IPW_ENOMEM;
		}
	}

	for (i = 0; i < s->nolds; i++) {
		struct node *o = s->olds[i].n;

		if (s->olds[i].cancelled)
			continue;
		d->del[d->ndel++] =
			(struct ipwd_seg){o->key, o->last, o->expires};
		unlink_node(&s->segs, o);
		free(o);
	}
	for (i = 0, j = 0; j < s->nruns; j++) {
		struct node *n;

		if (s->runs[j].cancelled)
			continue;
		n = s->fresh[i++];
		n->key = s->runs[j].seg.first;
		n->last = s->runs[j].seg.last;
		n->expires = s->runs[j].seg.expires;
		link_node(&s->segs, n);
		d->add[d->nadd++] = s->runs[j].seg;
	}
	s->nsegs = after;
	return 0;
}

int ipwd_segs_put(struct ipwd_segs *s, ipwd_u128 addr, unsigned plen,
		  int64_t expires, int64_t now, size_t limit,
		  struct ipwd_seg_diff *d)
{
	ipwd_u128 hi = addr | hostmask(s->width, plen);
	bool was, will, created = false;
	struct node *n;
	int64_t ma, saved = 0;
	struct frame f;
	int rc;

	if (check_target(s, addr, plen) != 0 || expires < 0)
		return IPW_EINVAL;
	if (s->flat)
		return put_flat(s, addr, expires, now, limit, d);
	ma = chain_at(s, addr, plen, &f) ? f.m : RANK_NONE;
	n = find_exact(&s->entries, addr, plen);
	if (n && n->expires == expires)
		return 0;
	was = n && rank(n->expires) > ma;
	will = rank(expires) > ma;
	if (n) {
		saved = n->expires;
		n->expires = expires;
	} else {
		n = node_new(s);
		if (n == NULL)
			return IPW_ENOMEM;
		n->key = addr;
		n->last = hi;
		n->plen = (uint8_t)plen;
		n->expires = expires;
		link_node(&s->entries, n);
		s->nentries++;
		s->used[plen]++;
		created = true;
	}
	if (!was && !will)
		return 0;
	rc = recompute(s, addr, hi, plen, now, limit, d);
	if (rc != 0) {
		if (created) {
			unlink_node(&s->entries, n);
			s->nentries--;
			s->used[plen]--;
			free(n);
		} else {
			n->expires = saved;
		}
	}
	return rc;
}

int ipwd_segs_del(struct ipwd_segs *s, ipwd_u128 addr, unsigned plen,
		  int64_t now, struct ipwd_seg_diff *d)
{
	struct node *n;
	struct frame f;
	int64_t ma;
	int rc;

	if (check_target(s, addr, plen) != 0)
		return IPW_EINVAL;
	if (s->flat)
		return del_flat(s, addr, d);
	n = find_exact(&s->entries, addr, plen);
	if (n == NULL)
		return IPW_ENOENT;
	ma = chain_at(s, addr, plen, &f) ? f.m : RANK_NONE;
	unlink_node(&s->entries, n);
	s->nentries--;
	s->used[plen]--;
	if (rank(n->expires) > ma) {
		rc = recompute(s, addr, n->last, plen, now, SIZE_MAX, d);
		if (rc != 0) {
			link_node(&s->entries, n);
			s->nentries++;
			s->used[plen]++;
			return rc;
		}
	}
	free(n);
	return 0;
}
