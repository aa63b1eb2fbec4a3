/* SPDX-License-Identifier: MIT */
/*
 * The audit log as the op log's first subscriber (see audit_sub.h).
 *
 * Position: the group before the one of the log's last line (whose
 * sequence the line carries, or for a line written before sequences the
 * store's history gives its op id): a kill in the middle of a group's
 * write(2) leaves its first lines only, so that group is read again at
 * start, and its lines after the last one in the log are written.
 * Apply: a group's lines in one write(2). Resync (at start when the log
 * is behind the store, or when its queue overflowed): the groups it
 * missed, read back from the store's op log and written marked
 * "recovered"; for groups the op log no longer holds, the history's ops
 * after the log's last op id. A failing log does not stop the ops (they
 * are durable): it is reported when it starts failing and when it works
 * again, with the number of lines lost, not once per group.
 *
 * Only the subscriber's thread touches this struct after the start.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/log.h"
#include "oplog/audit_sub.h"

struct ipwd_audit_sub {
	struct ipwd_audit *a;
	struct ipwd_store *store;
	struct ipwd_ops *o;
	struct ipwd_subscriber def;
	char last_id[IPWD_OPID_LEN]; /* of the last line written */
	uint64_t skip_seq; /* start: the group of the log's last line */
	bool failing;
	size_t lost;
	/* a catch-up in progress */
	uint64_t upto;
	size_t written;
	bool partial_history;
	struct ipwd_oprec *buf;
	size_t nbuf;
};

static void wrote(struct ipwd_audit_sub *as, const struct ipwd_oprec *recs,
		  size_t n, int rc)
{
	if (rc != 0) {
		if (!as->failing)
			log_warn("audit log: write failed: %m; ops go on, "
				 "their lines are lost until it works again");
		as->failing = true;
		as->lost += n;
		return;
	}
	if (n > 0)
		snprintf(as->last_id, sizeof(as->last_id), "%s",
			 recs[n - 1].id);
	if (as->failing && n > 0) {
		log_info("audit log: writes work again (up to %zu lines "
			 "lost)",
			 as->lost);
		as->failing = false;
		as->lost = 0;
	}
}

static uint64_t position(void *ctx, bool *known)
{
	struct ipwd_audit_sub *as = ctx;
	uint64_t seq = 0;
	int64_t s;

	*known = false;
	if (ipwd_audit_last_op(as->a, as->last_id, sizeof(as->last_id), &seq) !=
	    1) {
		as->last_id[0] = '\0';
		return 0;
	}
	if (seq == 0 && as->store) {
		/* a line written before sequences (schema version 1) */
		s = ipwd_store_seq_of(as->store, as->last_id);
		if (s > 0)
			seq = (uint64_t)s;
	}
	if (seq == 0)
		return 0;
	/* group seq may be in the log in part: catch up from the one
	 * before, skipping its lines up to the last one there */
	as->skip_seq = seq;
	*known = true;
	return seq - 1;
}

static int apply(void *ctx, const struct ipwd_group *g)
{
	struct ipwd_audit_sub *as = ctx;

	wrote(as, g->recs, g->n, ipwd_audit_write(as->a, g->recs, g->n));
	return 0; /* a failing log loses lines, it is not resynced */
}

/* A group read back from the op log: its lines, marked recovered. */
static int recover_group(void *ctx, const struct ipwd_group *g)
{
	struct ipwd_audit_sub *as = ctx;
	size_t i, first = 0;
	int rc;

	if (g->n > as->nbuf) {
		struct ipwd_oprec *b = realloc(as->buf, g->n * sizeof(*b));

		if (b == NULL)
			return IPW_ENOMEM;
		as->buf = b;
		as->nbuf = g->n;
	}
	for (i = 0; i < g->n; i++) {
		as->buf[i] = g->recs[i];
		as->buf[i].recovered = true;
	}
	if (g->seq == as->skip_seq) {
		/* the group of the log's last line: only what follows it
		 * (all of it, if that line is not in the group: the lines
		 * are of another store, and none of this group is there) */
		for (i = 0; i < g->n; i++)
			if (strcmp(g->recs[i].id, as->last_id) == 0)
				break;
		if (i == g->n)
			return 0;
		first = i + 1;
	}
	if (first == g->n)
		return 0;
	rc = ipwd_audit_write(as->a, as->buf + first, g->n - first);
	wrote(as, as->buf + first, g->n - first, rc);
	if (rc == 0)
		as->written += g->n - first;
	return 0;
}

#define RECOVER_CHUNK 4096

struct recovered {
	struct ipwd_oprec r;
	struct ipw_entry_info before, after;
	char id[IPWD_OPID_LEN], actor[IPWD_ACTOR_MAX], node[IPWD_NODE_MAX];
};

struct from_history {
	struct ipwd_audit_sub *as;
	struct recovered *v;
	struct ipwd_oprec *flat;
	size_t n;
};

static int history_flush(struct from_history *h)
{
	size_t i;
	int rc;

	for (i = 0; i < h->n; i++)
		h->flat[i] = h->v[i].r;
	if (h->n == 0)
		return 0;
	rc = ipwd_audit_write(h->as->a, h->flat, h->n);
	wrote(h->as, h->flat, h->n, rc);
	if (rc != 0)
		return IPW_EIO;
	h->as->written += h->n;
	h->n = 0;
	return 0;
}

/* One op of the history after the log's last op (the store's read-only
 * connection hands them over in op id order). */
static int history_one(void *ctx, const struct ipwd_oprec *r)
{
	struct from_history *h = ctx;
	struct recovered *c;

	if (r->seq > h->as->upto)
		return 0; /* committed after the catch-up's end: queued */
	c = &h->v[h->n++];
	c->r = *r;
	snprintf(c->id, sizeof(c->id), "%s", r->id);
	snprintf(c->actor, sizeof(c->actor), "%s", r->actor ? r->actor : "");
	snprintf(c->node, sizeof(c->node), "%s", r->node ? r->node : "");
	c->r.id = c->id;
	c->r.actor = c->actor;
	c->r.node = c->node;
	if (r->before) {
		c->before = *r->before;
		c->r.before = &c->before;
	}
	if (r->after) {
		c->after = *r->after;
		c->r.after = &c->after;
	}
	if (r->partial)
		h->as->partial_history = true;
	return h->n == RECOVER_CHUNK ? history_flush(h) : 0;
}

static int from_history(struct ipwd_audit_sub *as)
{
	struct from_history h = {.as = as};
	char after[IPWD_OPID_LEN];
	int rc;

	if (as->store == NULL || as->last_id[0] == '\0')
		return IPW_ENOENT;
	h.v = malloc(RECOVER_CHUNK * sizeof(*h.v));
	h.flat = malloc(RECOVER_CHUNK * sizeof(*h.flat));
	if (h.v == NULL || h.flat == NULL) {
		rc = IPW_ENOMEM;
		goto out;
	}
	memcpy(after, as->last_id, sizeof(after));
	rc = ipwd_store_ops_after(as->store, after, history_one, &h);
	if (rc == 0)
		rc = history_flush(&h);
out:
	free(h.v);
	free(h.flat);
	return rc;
}

/*
 * The lines of the groups (from, seq] the log missed. Only a log file
 * can be read back (not stdout or the journal), and a log without a line
 * of ours (new, or rotated away) says nothing about what is missing:
 * then position() said "not known" and this runs only for an overflow.
 */
static int resync(void *ctx, struct ipw_snapshot *snap, uint64_t from,
		  uint64_t seq)
{
	struct ipwd_audit_sub *as = ctx;
	char last[IPWD_OPID_LEN];
	const char *where = "the op log";
	int rc;

	(void)snap;
	if (seq <= from)
		return 0;
	as->upto = seq;
	as->written = 0;
	as->partial_history = false;
	memcpy(last, as->last_id, sizeof(last));
	rc = ipwd_ops_read(as->o, from, seq, recover_group, as);
	if (rc == IPW_ENOENT && as->written == 0) {
		/* the op log no longer holds them: the history does */
		where = "the history";
		rc = from_history(as);
	}
	as->skip_seq = 0;
	if (rc != 0 && rc != IPW_ENOENT)
		log_warn("audit log: cannot write the lines of ops %llu to "
			 "%llu: %s",
			 (unsigned long long)from + 1, (unsigned long long)seq,
			 ipw_strerror(rc));
	else if (rc == IPW_ENOENT)
		log_warn("audit log: the lines of ops %llu to %llu are "
			 "missing and cannot be written (the store no longer "
			 "holds them)",
			 (unsigned long long)from + 1, (unsigned long long)seq);
	if (as->written)
		log_warn("audit log: %zu ops after op %s were not in it (the "
			 "last run stopped between a commit and its lines, "
			 "or the log fell behind); written from %s, marked "
			 "\"recovered\"%s",
			 as->written, last[0] ? last : "(none)", where,
			 as->partial_history ?
				 " (ops of a version-1 store with what its "
				 "history kept)" :
				 "");
	return rc == IPW_ENOENT ? 0 : rc;
}

int ipwd_audit_sub_new(struct ipwd_audit_sub **out, struct ipwd_ops *o,
		       struct ipwd_audit *a, struct ipwd_store *store)
{
	struct ipwd_audit_sub *as;
	int rc;

	*out = NULL;
	if (!ipwd_audit_enabled(a))
		return 0;
	as = calloc(1, sizeof(*as));
	if (as == NULL)
		return IPW_ENOMEM;
	as->a = a;
	as->store = store;
	as->o = o;
	as->def.name = "audit";
	as->def.position = position;
	as->def.apply = apply;
	as->def.resync = resync;
	rc = ipwd_ops_subscribe(o, &as->def, as);
	if (rc != 0) {
		free(as);
		return rc;
	}
	*out = as;
	return 0;
}

void ipwd_audit_sub_free(struct ipwd_audit_sub *as)
{
	if (as == NULL)
		return;
	free(as->buf);
	free(as);
}
