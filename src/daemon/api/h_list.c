/* SPDX-License-Identifier: MIT */
/*
 * Listing pages come from a view: the keys of each list, taken from a
 * snapshot of the table at one sequence of the op log (ipwd_ops_snapshot():
 * no group half applied in it) and sorted (IPv4 before IPv6, by address,
 * shorter prefix first). Building one costs a snapshot and a sort, O(n log n); a page
 * from it costs a binary search for the cursor and a scan that stops after
 * limit + 1 matches. The last view is kept and reused while the table has
 * not changed (ops generation), and for up to VIEW_PAGING_NS by requests
 * that continue a paging (they carry a cursor), so paging through a large
 * table keeps one order even while bans pour in. The entries of a page are
 * read from the table when the page is cut (ipw_table_get(), a brief
 * writer lock each), so what a page shows is current. A view
 * nobody asked for in VIEW_IDLE_NS is dropped (ipwd_api_tick()).
 */
#include <jansson.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <ipwall/addr.h>
#include <ipwall/table.h>

#include "api/api.h"
#include "base/clock.h"

#define LIST_LIMIT_MAX 10000
#define VIEW_PAGING_NS (10ull * 1000000000u)
#define VIEW_IDLE_NS   (30ull * 1000000000u)

struct vkey {
	struct ipw_addr key;
	uint32_t flags;
	int64_t expires;
};

struct view {
	uint64_t gen;
	uint64_t built_ns;
	uint64_t used_ns; /* atomic */
	int refs;	  /* under views_lock */
	struct vkey *keys[2];
	size_t n[2];
};

static pthread_mutex_t views_lock = PTHREAD_MUTEX_INITIALIZER;
static struct view *cur_view;

static void view_free(struct view *v)
{
	free(v->keys[0]);
	free(v->keys[1]);
	free(v);
}

static void view_put(struct view *v)
{
	bool last;

	pthread_mutex_lock(&views_lock);
	last = --v->refs == 0;
	pthread_mutex_unlock(&views_lock);
	if (last)
		view_free(v);
}

static int vkey_cmp(const void *a, const void *b)
{
	return ipw_addr_cmp(&((const struct vkey *)a)->key,
			    &((const struct vkey *)b)->key);
}

static struct view *view_build(struct ipwd *d)
{
	uint64_t seq;
	struct view *v = calloc(1, sizeof(*v));
	struct ipw_snapshot *snap;
	size_t i, n, l;

	if (v == NULL)
		return NULL;
	/* Read before the snapshot: a write in between makes the view look
	 * older than it is (rebuilt once more), never newer. */
	v->gen = ipwd_ops_generation(d->ops);
	/* the table as of one sequence: no group half applied in it */
	if (ipwd_ops_snapshot(d->ops, &snap, &seq) != 0) {
		free(v);
		return NULL;
	}
	n = ipw_snapshot_count(snap);
	v->keys[0] = malloc((n ? n : 1) * sizeof(struct vkey));
	v->keys[1] = malloc((n ? n : 1) * sizeof(struct vkey));
	if (v->keys[0] == NULL || v->keys[1] == NULL) {
		ipw_snapshot_free(snap);
		view_free(v);
		return NULL;
	}
	for (i = 0; i < n; i++) {
		struct ipw_entry_key k;
		struct vkey *o;

		ipw_snapshot_key(snap, i, &k);
		l = k.list == IPW_LIST_BAN ? 0 : 1;
		o = &v->keys[l][v->n[l]++];
		o->key = k.target;
		o->flags = k.flags;
		o->expires = k.expires;
	}
	ipw_snapshot_free(snap); /* the view keeps only the keys */
	for (l = 0; l < 2; l++)
		qsort(v->keys[l], v->n[l], sizeof(struct vkey), vkey_cmp);
	v->built_ns = ipwd_now_ns();
	v->used_ns = v->built_ns;
	v->refs = 1; /* the caller's */
	return v;
}

/* The cached view if it will do for a request at generation @gen,
 * referenced; NULL otherwise. */
static struct view *view_cached(uint64_t gen, bool paging)
{
	uint64_t now = ipwd_now_ns();
	struct view *v;

	pthread_mutex_lock(&views_lock);
	v = cur_view;
	if (v &&
	    (v->gen == gen || (paging && now - v->built_ns < VIEW_PAGING_NS))) {
		v->refs++;
		__atomic_store_n(&v->used_ns, now, __ATOMIC_RELAXED);
	} else {
		v = NULL;
	}
	pthread_mutex_unlock(&views_lock);
	return v;
}

/* One view is built at a time: listings run on the blocking threads (up
 * to [http] blocking_threads at once), and a view of 1M entries is ~50
 * MB, so concurrent requests after a change wait for the one build and
 * share it rather than each building a copy. */
static pthread_mutex_t build_lock = PTHREAD_MUTEX_INITIALIZER;

/* A current view (see above), referenced; NULL on ENOMEM. */
static struct view *view_get(struct ipwd *d, bool paging)
{
	uint64_t gen = ipwd_ops_generation(d->ops);
	struct view *v, *old = NULL;

	v = view_cached(gen, paging);
	if (v)
		return v;
	pthread_mutex_lock(&build_lock);
	v = view_cached(gen, paging); /* built while this one waited? */
	if (v) {
		pthread_mutex_unlock(&build_lock);
		return v;
	}
	v = view_build(d);
	if (v == NULL) {
		pthread_mutex_unlock(&build_lock);
		return NULL;
	}
	/* in the cache before the next builder looks */
	pthread_mutex_lock(&views_lock);
	v->refs++; /* the cache's */
	old = cur_view;
	cur_view = v;
	if (old && --old->refs != 0)
		old = NULL;
	pthread_mutex_unlock(&views_lock);
	pthread_mutex_unlock(&build_lock);
	if (old)
		view_free(old);
	return v;
}

void ipwd_api_tick(bool final)
{
	struct view *old = NULL;
	uint64_t now = ipwd_now_ns();

	pthread_mutex_lock(&views_lock);
	if (cur_view && (final || now - __atomic_load_n(&cur_view->used_ns,
							__ATOMIC_RELAXED) >
					  VIEW_IDLE_NS)) {
		old = cur_view;
		cur_view = NULL;
		if (--old->refs != 0)
			old = NULL;
	}
	pthread_mutex_unlock(&views_lock);
	if (old)
		view_free(old);
}

static void h_list(struct ipwd_req *r, struct ipwd_resp *o, enum ipw_list list)
{
	struct ipw_addr cursor, within;
	bool has_cursor = false, has_within = false, present;
	int family = 0, kind = 0, autof = -1;
	size_t limit = 100, lo, hi, i, found = 0;
	struct vkey *keys, *last = NULL;
	int64_t now = ipwd_now_s();
	struct view *v;
	const char *s;
	json_t *items;
	uint64_t u;

	if ((s = ipwd_req_arg(r, "limit", &present)) || present) {
		if (s == NULL || ipwd_parse_uint(s, LIST_LIMIT_MAX, &u) ||
		    u == 0) {
			ipwd_resp_error(o, IPWD_E_INVALID_PARAMETER, "limit",
					"limit must be 1..%d", LIST_LIMIT_MAX);
			return;
		}
		limit = (size_t)u;
	}
	if ((s = ipwd_req_arg(r, "cursor", &present)) || present) {
		if (s == NULL || ipw_addr_parse_str(s, 0, &cursor) != 0) {
			ipwd_resp_error(o, IPWD_E_INVALID_PARAMETER, "cursor",
					"cursor must be the \"next\" of a "
					"previous page");
			return;
		}
		has_cursor = true;
	}
	if ((s = ipwd_req_arg(r, "family", &present)) || present) {
		if (s && strcmp(s, "4") == 0) {
			family = IPW_AF_INET;
		} else if (s && strcmp(s, "6") == 0) {
			family = IPW_AF_INET6;
		} else {
			ipwd_resp_error(o, IPWD_E_INVALID_PARAMETER, "family",
					"family must be 4 or 6");
			return;
		}
	}
	if ((s = ipwd_req_arg(r, "kind", &present)) || present) {
		if (s && strcmp(s, "address") == 0) {
			kind = 1;
		} else if (s && strcmp(s, "prefix") == 0) {
			kind = 2;
		} else {
			ipwd_resp_error(o, IPWD_E_INVALID_PARAMETER, "kind",
					"kind must be address or prefix");
			return;
		}
	}
	if ((s = ipwd_req_arg(r, "within", &present)) || present) {
		if (s == NULL || ipw_addr_parse_str(s, 0, &within) != 0) {
			ipwd_resp_error(o, IPWD_E_INVALID_PARAMETER, "within",
					"within must be an address or a "
					"CIDR prefix without host bits");
			return;
		}
		has_within = true;
	}
	if ((s = ipwd_req_arg(r, "auto", &present)) || present) {
		bool b;

		if (s == NULL || ipwd_parse_bool(s, &b)) {
			ipwd_resp_error(o, IPWD_E_INVALID_PARAMETER, "auto",
					"auto must be true or false");
			return;
		}
		autof = b;
	}

	v = view_get(r->d, has_cursor);
	if (v == NULL) {
		ipwd_resp_error(o, IPWD_E_INTERNAL, NULL, "out of memory");
		return;
	}
	keys = v->keys[list];
	/* First key after the cursor. */
	lo = 0;
	hi = v->n[list];
	while (has_cursor && lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (ipw_addr_cmp(&keys[mid].key, &cursor) <= 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	items = json_array();
	for (i = lo; i < v->n[list]; i++) {
		const struct vkey *k = &keys[i];
		struct ipw_entry_info e;

		if (k->expires && k->expires <= now)
			continue;
		if (family && k->key.family != family)
			continue;
		if (kind && (kind == 1) != ipw_addr_is_host(&k->key))
			continue;
		if (autof >= 0 && (autof == 1) != !!(k->flags & IPW_ENTRY_AUTO))
			continue;
		if (has_within && !ipw_addr_contains(&within, &k->key))
			continue;
		/* The view says which targets, in what order; the entry
		 * itself is read now, so hits, expiry and metadata are
		 * current. One removed since the view was built is
		 * skipped. */
		if (ipw_table_get(r->d->table, list, &k->key, &e) != 0 ||
		    (e.expires && e.expires <= now))
			continue;
		if (found == limit) {
			found++; /* one more exists: there is a next page */
			break;
		}
		json_array_append_new(items, ipwd_entry_json(&e, now));
		last = &keys[i];
		found++;
	}
	if (found > limit) {
		char t[IPW_ADDR_STRLEN];

		ipw_addr_format(&last->key, t, sizeof(t));
		ipwd_resp_json(
			o, 200,
			json_pack("{s:o, s:s}", "items", items, "next", t));
	} else {
		ipwd_resp_json(o, 200,
			       json_pack("{s:o, s:n}", "items", items, "next"));
	}
	view_put(v);
}

void ipwd_h_list_bans(struct ipwd_req *r, struct ipwd_resp *o)
{
	h_list(r, o, IPW_LIST_BAN);
}

void ipwd_h_list_allows(struct ipwd_req *r, struct ipwd_resp *o)
{
	h_list(r, o, IPW_LIST_ALLOW);
}
