/* SPDX-License-Identifier: MIT */
/*
 * The nftables backend (nft.h): the table's verdicts as nftables sets and
 * rules, through libnftables.
 *
 * What is in the kernel
 * ---------------------
 *   table inet ipwall {
 *     set ban4_addr   { type ipv4_addr; flags timeout; size N; }
 *     set ban4_net    { type ipv4_addr; flags interval,timeout; size N; }
 *     set ban6_addr, ban6_net, allow4_addr, allow4_net, allow6_addr,
 *         allow6_net  (the same, per list and family)
 *     chain input   { type filter hook input priority filter - 10;
 *                     policy accept;
 *                     iif lo accept
 *                     meta nfproto vmap { ipv4 : jump judge4,
 *                                         ipv6 : jump judge6 } }
 *     chain forward { hook forward, same priority: the same jump;
 *                     only with opts.forward }
 *     chain judge4, judge6 { the mode's rules, below }
 *   }
 * denylist:  allow4_addr, allow4_net: accept; ban4_addr, ban4_net: drop
 *            (judge6 the same with the 6 sets)
 * allowlist: allow sets: accept; in judge6 also a link-local or
 *            unspecified source and ICMPv6 133-137: accept; then drop.
 * judge6 drops an IPv4-mapped source (::ffff:0:0/96) first, in both modes.
 *
 * Why so:
 *   - Two sets per list and family. Single addresses (most entries: one
 *     attacker, one ban) go to a plain hash set; prefixes to an interval
 *     set. A point is in the list while it is in either, so the union is
 *     exactly "some live entry covers it", and the hash set is O(1) for
 *     every change. The reason is libnftables itself (1.0.6 and still
 *     1.1.6): any command that adds or deletes elements first dumps
 *     every interval set of the ruleset into its cache, to check
 *     overlaps in user space, and the kernel's dump of an interval set
 *     costs ~25 us per element: a single add to a 200,000-element
 *     interval set took 5 s here, one to a hash set 0.2 ms. So only
 *     prefixes pay that, and only on deletes (below). (Linux 6.18 also
 *     rebuilds a lookup array of an interval set at every commit that
 *     changes it: ~100 ms at 200,000 elements.)
 *   - Adds are written as a set declaration with elements ("add set
 *     inet ipwall ban4_addr { ...; elements = { ... } }"): for that
 *     command libnftables fetches no elements, and the kernel checks
 *     overlaps itself. Deletes ("delete element") cannot avoid the dump;
 *     they are needed for a removal, a changed expiry and a split; an
 *     address's expiry needs none (below).
 *   - Interval sets refuse overlapping elements: the prefixes of a list
 *     and family are cut into disjoint segments by segments.c (every
 *     point keeps the latest expiry of the live entries covering it, so
 *     an inner /24 outlives an outer /16 that expires first), and a put
 *     or a del sends only the segments that changed.
 *   - Allow wins because the allow sets are looked at first, whatever
 *     the prefix lengths. Allowlist mode admits an allowed source only;
 *     IPv6 link-local and unspecified sources and neighbour discovery
 *     (ICMPv6 133-137, which comes from global addresses too) pass, as
 *     in the XDP program, so that the host keeps its router and its
 *     neighbours. Everything else is dropped, replies to the host's own
 *     connections (DNS answers, a DHCP server) included: allow them.
 *   - IPv4-mapped sources. The table judges ::ffff:a.b.c.d as a.b.c.d.
 *     nftables cannot look the last 32 bits of the IPv6 source up in an
 *     ipv4_addr set ("datatype mismatch": a raw payload match has type
 *     integer); a set of raw integers would take them, but then `nft
 *     list ruleset` prints rules that do not load again, and mirroring
 *     every IPv4 element into IPv6 sets doubles the IPv4 elements and
 *     their load time. On the wire such a source is bogus (RFC 6890: not
 *     a valid source; replies to it are not routed), yet the kernel
 *     delivers it (checked: it reaches the input hook). So judge6 drops
 *     it in both modes: nftables never admits what the table blocks, and
 *     it blocks packets that no real IPv4 client sends.
 *   - Priority filter - 10 on input (and forward): after conntrack and
 *     mangle, before the usual filter chains (iptables-nft's filter
 *     table, firewalld, Docker's FORWARD and DOCKER-USER at 0), so a
 *     banned packet costs them nothing. An accept here ends only this
 *     table's verdict: the operator's own drops still apply after it.
 *     Loopback is always accepted.
 *
 * Time
 * ----
 * The kernel counts a timeout from the moment the element is added; the
 * table's expiries are wall-clock seconds. An element is sent with the
 * time left to its expiry, in milliseconds.
 *   - Address sets: the element leaves the set on time with nothing
 *     from ipwalld, so "an expired entry never matches" holds in the
 *     kernel, and an expiry costs no transaction. When the purger's
 *     delete arrives the element is gone, or nearly (the kernel may hold
 *     it up to the latency of the transaction that added it, LAG_MS at
 *     most). A removal is sent only for an element surely there for the
 *     whole transaction (its end more than GUARD_MS away); one closer to
 *     its end is left to its timeout and remembered as a ghost until it
 *     is surely gone, and an add of the same address meanwhile first
 *     "touches" it (adds it with a short timeout, then deletes it, in
 *     the same transaction: right whether the kernel still holds it or
 *     not). A changed expiry is delete + add in the same transaction.
 *   - Interval sets: an element's timeout is its expiry plus BACKSTOP_S.
 *     ipwalld removes a prefix when the purger's delete comes (within
 *     [table] purge_interval, 1 s by default: a prefix matches up to
 *     that much longer than the table says, a single address never); the
 *     kernel drops it by itself only when ipwalld has not, a minute
 *     later (ipwalld stopped). The reason is a kernel fault seen on
 *     Linux 6.18: in a transaction that deletes an interval element, a
 *     new element that ends where an expired one not yet collected ended
 *     loses its end (the kernel then lists it up to the top of the
 *     address space) and cannot be deleted (reproduced with the nft
 *     command alone). With the backstop no interval element expires in
 *     the kernel while ipwalld runs. A deleted interval element is
 *     surely there (the backstop), except within a second of its
 *     backstop: then, if something new overlaps it, send_items() waits
 *     until it is surely gone (WAIT_MAX_MS at most).
 *
 * Transactions
 * ------------
 * put()/del() change the in-memory model (segments.h) at once and record
 * the element changes; commit() folds them (an element added and removed
 * in the same group is never sent, two changes of one element become
 * one) and sends the group as ONE nftables transaction: deletes first,
 * then adds, then the rules of a mode switch. A group larger than
 * CHUNK elements, and a reconcile, go as several transactions of at most
 * CHUNK elements (libnftables holds ~400 bytes per element while it
 * works), cut only where no element of one overlaps an element of the
 * next, so that a replaced element and its replacement are always in
 * the same one and no address is uncovered in between; the rules come
 * in the last, once the sets are right. A failed transaction leaves the
 * kernel as it was; the model is then ahead of it, the call fails and
 * the subscriber reconciles.
 *
 * reconcile(): lists the table (terse: sets, chains, rules, no elements)
 * and then each set's elements (JSON, parsed with yajl's callbacks: a
 * jansson tree of 1M elements would take ~1 GB), builds the wanted
 * segments from the snapshot, and sends the difference: elements that
 * are missing, extra, or whose remaining timeout is more than
 * TOLERANCE_S off. Missing table, sets or chains are created; a chain
 * with the wrong hook, priority or policy, or a set of the wrong type, is
 * replaced; the rules are written again in every reconcile, in the same
 * transaction as the last elements, and counted as repaired when they
 * differed. A set is never flushed. Then the interval sets (small:
 * prefixes only) are listed again and compared with the model; if they
 * differ, or if the difference was refused, the interval sets are
 * replaced whole (delete and add each, with its elements and the rules,
 * in one transaction: no window), which repairs the fault above.
 * retime() is a reconcile: after a wall-clock step every timeout is off
 * by the step and is rewritten.
 * Cost at 1M elements: the kernel's dump of a set is quadratic (it walks
 * the set from the start for every netlink message), about a minute at
 * 1M elements (bench/nft).
 *
 * Set sizes: each set is created with size max_elements plus 1/16
 * headroom, because elements that timed out count against the size until
 * the kernel's garbage collector frees them; ipwalld itself keeps at
 * most max_elements in each. A put that does not fit is left out (the
 * rest goes on), counted in ipwall_nft_overflow_total{set} and logged
 * once per burst (again after a minute without overflow); the next
 * reconcile tries again. An existing set keeps the size it was created
 * with (a resize needs `detach`).
 *
 * Concurrency: one thread at a time in every call but metrics(), which
 * reads counters that are updated with atomic stores.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#include <jansson.h>
#include <nftables/libnftables.h>
#include <yajl/yajl_parse.h>

#include "base/log.h"
#include "base/text.h"
#include "enforce/nft.h"
#include "enforce/segments.h"

#define NSETS		  8
#define DEFAULT_MAX	  1048576u
#define CHUNK		  65536
#define LAG_MS		  1000
#define BACKSTOP_S	  60
#define GUARD_MS	  250
#define WAIT_MAX_MS	  2500
#define TOLERANCE_S	  3
#define TOUCH		  "1s"
#define PRIORITY	  (-10)
#define OVERFLOW_QUIET_MS 60000

/* Set index: list * 4 + (IPv6 ? 2 : 0) + (prefixes ? 1 : 0). */
static const char *const set_names[NSETS] = {
	"ban4_addr",   "ban4_net",   "ban6_addr",   "ban6_net",
	"allow4_addr", "allow4_net", "allow6_addr", "allow6_net",
};

struct nset {
	const char *name;
	unsigned width;
	bool flat;
	int64_t backstop;	  /* s past the expiry the kernel keeps it */
	struct ipwd_segs *m;	  /* what the set holds */
	struct ipwd_segs *ghosts; /* flat: removed, maybe still held */
	size_t limit;
	uint32_t ksize;
	int64_t last_overflow_ms;
	uint64_t elements, overflow; /* for metrics(), atomic */
};

/* One recorded element change, in the order the model made them. */
struct event {
	ipwd_u128 first, last;
	int64_t expires;
	uint64_t seq;
	uint8_t set, add;
};

/* The net change of one element over a group or a reconcile. */
struct item {
	ipwd_u128 first, last;
	int64_t old_exp, new_exp;
	/* When the kernel drops the old element, wall-clock ms: not before
	 * old_lo, surely by old_hi (INT64_MAX: permanent). */
	int64_t old_lo, old_hi;
	uint8_t set, has_old, has_new;
};

struct sb {
	char *p;
	size_t n, cap;
	bool oom;
};

struct nft {
	struct nft_ctx *ctx;
	char table[40];
	bool forward;
	uint32_t max_elements;
	struct nset sets[NSETS];
	enum ipw_mode mode;
	bool mode_set;	 /* a mode() in this group */
	bool mode_known; /* rules were written for @mode */
	struct event *ev;
	size_t nev, cap_ev;
	uint64_t seq;
	struct ipwd_seg_diff scratch;
	uint64_t seed;
	uint64_t transactions, errors, repaired; /* atomic */
};

static void bump(uint64_t *c, uint64_t n)
{
	__atomic_add_fetch(c, n, __ATOMIC_RELAXED);
}

static int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ---- text ---- */

__attribute__((format(printf, 2, 3))) static void
sb_printf(struct sb *b, const char *fmt, ...)
{
	va_list ap;
	int n;

	for (;;) {
		size_t room = b->cap - b->n;

		va_start(ap, fmt);
		n = vsnprintf(b->p ? b->p + b->n : NULL, room, fmt, ap);
		va_end(ap);
		if (n < 0) {
			b->oom = true;
			return;
		}
		if ((size_t)n < room) {
			b->n += (size_t)n;
			return;
		}
		{
			size_t cap = b->cap ? b->cap * 2 : 4096;
			char *p;

			while (cap < b->n + (size_t)n + 1)
				cap *= 2;
			p = realloc(b->p, cap);
			if (p == NULL) {
				b->oom = true;
				return;
			}
			b->p = p;
			b->cap = cap;
		}
	}
}

static void sb_reset(struct sb *b)
{
	b->n = 0;
	if (b->p)
		b->p[0] = '\0';
}

static void sb_free(struct sb *b)
{
	free(b->p);
	memset(b, 0, sizeof(*b));
}

static void put_addr(struct sb *b, ipwd_u128 v, unsigned width)
{
	char buf[INET6_ADDRSTRLEN];
	uint8_t by[16];
	int i;

	if (width == 32) {
		uint32_t x = htonl((uint32_t)v);

		inet_ntop(AF_INET, &x, buf, sizeof(buf));
	} else {
		for (i = 15; i >= 0; i--) {
			by[i] = (uint8_t)v;
			v >>= 8;
		}
		inet_ntop(AF_INET6, by, buf, sizeof(buf));
	}
	sb_printf(b, "%s", buf);
}

static void put_elem(struct sb *b, const struct nset *s, ipwd_u128 first,
		     ipwd_u128 last)
{
	put_addr(b, first, s->width);
	if (last != first) {
		sb_printf(b, "-");
		put_addr(b, last, s->width);
	}
}

/* " timeout 1d2h3m4s5ms" for @ms > 0. */
static void put_timeout(struct sb *b, int64_t ms)
{
	int64_t d = ms / 86400000, h = ms / 3600000 % 24, m = ms / 60000 % 60,
		s = ms / 1000 % 60, r = ms % 1000;

	sb_printf(b, " timeout ");
	if (d)
		sb_printf(b, "%" PRId64 "d", d);
	if (h)
		sb_printf(b, "%" PRId64 "h", h);
	if (m)
		sb_printf(b, "%" PRId64 "m", m);
	if (s)
		sb_printf(b, "%" PRId64 "s", s);
	if (r)
		sb_printf(b, "%" PRId64 "ms", r);
}

static void put_decl(struct sb *b, const struct nft *nb, const struct nset *s)
{
	sb_printf(b,
		  "add set inet %s %s { type %s; flags %s; size %" PRIu32
		  "; elements = { ",
		  nb->table, s->name,
		  s->width == 32 ? "ipv4_addr" : "ipv6_addr",
		  s->flat ? "timeout" : "interval,timeout", s->ksize);
}

/* ---- libnftables ---- */

/* Run @cmd; 0, or IPW_EIO with the error logged under @what. */
static int run(struct nft *nb, const char *cmd, const char *what)
{
	int rc = nft_run_cmd_from_buffer(nb->ctx, cmd);
	const char *err = nft_ctx_get_error_buffer(nb->ctx);

	nft_ctx_get_output_buffer(nb->ctx); /* rewinds it */
	if (rc == 0)
		return 0;
	bump(&nb->errors, 1);
	/* The error's first line; the command itself can be megabytes. */
	log_error("nftables: %s failed: %.*s", what, (int)strcspn(err, "\n"),
		  err);
	log_debug("nftables: the command that failed: %.4000s", cmd);
	return IPW_EIO;
}

/* Run a listing with JSON output (and terse: no elements); the output
 * is copied into *@out (caller frees). 0, IPW_ENOENT when the object does
 * not exist, IPW_EIO or IPW_ENOMEM. */
static int list_json(struct nft *nb, const char *cmd, bool terse, char **out)
{
	unsigned flags = nft_ctx_output_get_flags(nb->ctx);
	const char *o, *err;
	int rc;

	nft_ctx_output_set_flags(nb->ctx,
				 flags | NFT_CTX_OUTPUT_JSON |
					 (terse ? NFT_CTX_OUTPUT_TERSE : 0));
	rc = nft_run_cmd_from_buffer(nb->ctx, cmd);
	nft_ctx_output_set_flags(nb->ctx, flags);
	o = nft_ctx_get_output_buffer(nb->ctx);
	err = nft_ctx_get_error_buffer(nb->ctx);
	if (rc != 0) {
		if (strstr(err, "No such file or directory"))
			rc = IPW_ENOENT;
		else {
			bump(&nb->errors, 1);
			log_error("nftables: %s failed: %.*s", cmd,
				  (int)strcspn(err, "\n"), err);
			rc = IPW_EIO;
		}
		*out = NULL;
	} else {
		*out = strdup(o);
		rc = *out ? 0 : IPW_ENOMEM;
	}
	/* A big listing leaves its size allocated in the buffer: free it. */
	nft_ctx_unbuffer_output(nb->ctx);
	nft_ctx_buffer_output(nb->ctx);
	return rc;
}

/* ---- the rules ---- */

static void put_rules(struct sb *b, const struct nft *nb, enum ipw_mode mode)
{
	const char *t = nb->table;
	int f;

	for (f = 0; f < 2; f++) {
		const char *ch = f ? "judge6" : "judge4",
			   *ip = f ? "ip6" : "ip";
		int set4 = f ? 2 : 0;

		sb_printf(b, "flush chain inet %s %s\n", t, ch);
		if (f)
			sb_printf(b,
				  "add rule inet %s %s ip6 saddr "
				  "::ffff:0.0.0.0/96 drop\n",
				  t, ch);
		sb_printf(b,
			  "add rule inet %s %s %s saddr @%s accept\n"
			  "add rule inet %s %s %s saddr @%s accept\n",
			  t, ch, ip, set_names[4 + set4], t, ch, ip,
			  set_names[5 + set4]);
		if (mode == IPW_MODE_DENYLIST) {
			sb_printf(b,
				  "add rule inet %s %s %s saddr @%s drop\n"
				  "add rule inet %s %s %s saddr @%s drop\n",
				  t, ch, ip, set_names[set4], t, ch, ip,
				  set_names[1 + set4]);
			continue;
		}
		if (f)
			sb_printf(b,
				  "add rule inet %s %s ip6 saddr "
				  "{ ::, fe80::/10 } accept\n"
				  "add rule inet %s %s icmpv6 type "
				  "{ nd-router-solicit, nd-router-advert, "
				  "nd-neighbor-solicit, nd-neighbor-advert, "
				  "nd-redirect } accept\n",
				  t, ch, t, ch);
		sb_printf(b, "add rule inet %s %s drop\n", t, ch);
	}
}

/* What the listing of the table says, as far as reconcile cares. */
struct shape {
	bool table;
	bool set_ok[NSETS], set_bad[NSETS];
	uint32_t set_size[NSETS];
	bool chain[4], chain_bad[4]; /* input, forward, judge4, judge6 */
	char *rules; /* canonical text of every rule of the table */
};

static const char *const chain_names[4] = {"input", "forward", "judge4",
					   "judge6"};

static void shape_free(struct shape *sh)
{
	free(sh->rules);
	memset(sh, 0, sizeof(*sh));
}

static bool has_flag(json_t *flags, const char *f)
{
	size_t i;
	json_t *v;

	json_array_foreach(flags, i,
			   v) if (json_is_string(v) &&
				  !strcmp(json_string_value(v), f)) return true;
	return false;
}

struct rule_txt {
	char *chain, *txt;
	size_t seq;
};

static int cmp_rule(const void *a, const void *b)
{
	const struct rule_txt *x = a, *y = b;
	int c = strcmp(x->chain, y->chain);

	return c ? c : (x->seq > y->seq) - (x->seq < y->seq);
}

/* Parse the terse JSON listing of the table into @sh. */
static int parse_shape(struct nft *nb, const char *js, struct shape *sh)
{
	json_error_t jerr;
	json_t *root = json_loads(js, 0, &jerr), *arr, *it;
	struct rule_txt *rules = NULL;
	size_t nrules = 0, i, k;
	struct sb all = {0};
	int rc = 0;

	if (root == NULL) {
		log_error("nftables: unreadable listing: %s", jerr.text);
		return IPW_EIO;
	}
	arr = json_object_get(root, "nftables");
	json_array_foreach(arr, i, it)
	{
		json_t *o;

		if (json_object_get(it, "table")) {
			sh->table = true;
		} else if ((o = json_object_get(it, "set"))) {
			const char *name =
				json_string_value(json_object_get(o, "name"));
			const char *type =
				json_string_value(json_object_get(o, "type"));
			json_t *flags = json_object_get(o, "flags");

			for (k = 0; k < NSETS && name; k++) {
				const struct nset *s = &nb->sets[k];
				bool ok;

				if (strcmp(name, s->name) != 0)
					continue;
				ok = type &&
				     !strcmp(type, s->width == 32 ?
							   "ipv4_addr" :
							   "ipv6_addr") &&
				     has_flag(flags, "timeout") &&
				     has_flag(flags, "interval") == !s->flat &&
				     json_array_size(flags) ==
					     (s->flat ? 1 : 2);
				sh->set_ok[k] = ok;
				sh->set_bad[k] = !ok;
				sh->set_size[k] = (uint32_t)json_integer_value(
					json_object_get(o, "size"));
			}
		} else if ((o = json_object_get(it, "chain"))) {
			const char *name =
				json_string_value(json_object_get(o, "name"));
			const char *hook =
				json_string_value(json_object_get(o, "hook"));

			for (k = 0; k < 4 && name; k++) {
				bool base = k < 2, ok;

				if (strcmp(name, chain_names[k]) != 0)
					continue;
				if (base) {
					const char *type = json_string_value(
						json_object_get(o, "type"));
					const char *pol = json_string_value(
						json_object_get(o, "policy"));
					json_t *prio =
						json_object_get(o, "prio");

					ok = hook && type && pol &&
					     !strcmp(hook, chain_names[k]) &&
					     !strcmp(type, "filter") &&
					     !strcmp(pol, "accept") &&
					     json_is_integer(prio) &&
					     json_integer_value(prio) ==
						     PRIORITY;
				} else {
					ok = hook == NULL;
				}
				sh->chain[k] = true;
				sh->chain_bad[k] = !ok;
			}
		} else if ((o = json_object_get(it, "rule"))) {
			const char *chain =
				json_string_value(json_object_get(o, "chain"));
			char *txt = json_dumps(json_object_get(o, "expr"),
					       JSON_COMPACT | JSON_SORT_KEYS);
			struct rule_txt *r;

			if (chain == NULL || txt == NULL) {
				free(txt);
				continue;
			}
			r = realloc(rules, (nrules + 1) * sizeof(*rules));
			if (r == NULL) {
				free(txt);
				rc = IPW_ENOMEM;
				break;
			}
			rules = r;
			rules[nrules].chain = strdup(chain);
			rules[nrules].txt = txt;
			rules[nrules].seq = nrules;
			if (rules[nrules].chain == NULL) {
				free(txt);
				rc = IPW_ENOMEM;
				break;
			}
			nrules++;
		}
	}
	if (nrules)
		qsort(rules, nrules, sizeof(*rules), cmp_rule);
	sb_printf(&all, "%s", "");
	for (i = 0; i < nrules; i++) {
		sb_printf(&all, "%s: %s\n", rules[i].chain, rules[i].txt);
		free(rules[i].chain);
		free(rules[i].txt);
	}
	free(rules);
	json_decref(root);
	if (all.oom)
		rc = IPW_ENOMEM;
	sh->rules = all.p;
	return rc;
}

/* List the table's shape. A missing table is not an error. */
static int read_shape(struct nft *nb, struct shape *sh)
{
	char cmd[96], *js;
	int rc;

	memset(sh, 0, sizeof(*sh));
	snprintf(cmd, sizeof(cmd), "list table inet %s", nb->table);
	rc = list_json(nb, cmd, true, &js);
	if (rc == IPW_ENOENT)
		return 0;
	if (rc != 0)
		return rc;
	rc = parse_shape(nb, js, sh);
	free(js);
	return rc;
}

/* The commands that create what is missing: table and sets (@sets), and
 * chains and rules (@chains), replacing wrong chains and sets. */
static void put_structure(struct sb *b, struct nft *nb, const struct shape *sh,
			  bool sets, bool chains)
{
	const char *t = nb->table;
	int k;

	if (sets) {
		sb_printf(b, "add table inet %s\n", t);
		for (k = 0; k < NSETS; k++) {
			const struct nset *s = &nb->sets[k];

			if (sh->set_ok[k])
				continue;
			if (sh->set_bad[k])
				sb_printf(b, "delete set inet %s %s\n", t,
					  s->name);
			sb_printf(b,
				  "add set inet %s %s { type %s; flags %s; "
				  "size %" PRIu32 "; }\n",
				  t, s->name,
				  s->width == 32 ? "ipv4_addr" : "ipv6_addr",
				  s->flat ? "timeout" : "interval,timeout",
				  s->ksize);
		}
	}
	if (!chains)
		return;
	for (k = 0; k < 4; k++) {
		if (!sh->chain[k])
			continue;
		sb_printf(b, "flush chain inet %s %s\n", t, chain_names[k]);
	}
	for (k = 0; k < 4; k++)
		if (sh->chain[k] &&
		    (sh->chain_bad[k] || (k == 1 && !nb->forward)))
			sb_printf(b, "delete chain inet %s %s\n", t,
				  chain_names[k]);
	sb_printf(b, "add chain inet %s judge4\nadd chain inet %s judge6\n", t,
		  t);
	for (k = 0; k < 2; k++) {
		if (k == 1 && !nb->forward)
			continue;
		sb_printf(b,
			  "add chain inet %s %s { type filter hook %s "
			  "priority %d; policy accept; }\n"
			  "flush chain inet %s %s\n",
			  t, chain_names[k], chain_names[k], PRIORITY, t,
			  chain_names[k]);
		if (k == 0)
			sb_printf(b, "add rule inet %s input iif lo accept\n",
				  t);
		sb_printf(b,
			  "add rule inet %s %s meta nfproto vmap "
			  "{ ipv4 : jump judge4, ipv6 : jump judge6 }\n",
			  t, chain_names[k]);
	}
}

/* ---- listing a set's elements (yajl callbacks) ---- */

struct kelem {
	ipwd_u128 first, last;
	int64_t expires;      /* wall-clock seconds, 0 = permanent */
	int64_t lo_ms, hi_ms; /* its end, as in struct item */
};

struct lp {
	unsigned width;
	/* The listing began at t0 and ended at t1 (wall-clock ms): the
	 * kernel wrote each element's time left somewhere in between, and a
	 * big set takes a minute to list. */
	int64_t t0, t1;
	int depth;
	bool is_arr[32];
	char key[32][12];
	int elem_depth; /* depth of the "elem" array, 0 outside */
	/* the element being read */
	int naddr;
	char addr[2][INET6_ADDRSTRLEN];
	long long len, expires, timeout;
	bool has_len, has_expires, has_timeout;
	struct kelem *v;
	size_t n, cap;
	bool bad;
};

static bool parse_u128(const char *s, unsigned width, ipwd_u128 *out)
{
	uint8_t by[16];
	ipwd_u128 v = 0;
	int i, n = width == 32 ? 4 : 16;

	if (inet_pton(width == 32 ? AF_INET : AF_INET6, s, by) != 1)
		return false;
	for (i = 0; i < n; i++)
		v = v << 8 | by[i];
	*out = v;
	return true;
}

static void lp_reset_elem(struct lp *p)
{
	p->naddr = 0;
	p->has_len = p->has_expires = p->has_timeout = false;
}

static void lp_finish_elem(struct lp *p)
{
	struct kelem e;

	if (p->naddr == 0 || !parse_u128(p->addr[0], p->width, &e.first)) {
		p->bad = true;
		return;
	}
	if (p->has_len)
		e.last = ipwd_prefix_last(e.first, (unsigned)p->len, p->width);
	else if (p->naddr == 2 && !parse_u128(p->addr[1], p->width, &e.last))
		p->bad = true;
	else if (p->naddr == 1)
		e.last = e.first;
	if (p->has_expires || p->has_timeout) {
		/* whole seconds left, rounded down */
		long long left = p->has_expires ? p->expires : p->timeout;

		e.lo_ms = p->t0 + left * 1000;
		e.hi_ms = p->t1 + (left + 1) * 1000;
		e.expires = e.hi_ms / 1000;
	} else {
		e.lo_ms = e.hi_ms = INT64_MAX;
		e.expires = 0;
	}
	if (p->n == p->cap) {
		size_t cap = p->cap ? p->cap * 2 : 1024;
		struct kelem *v = realloc(p->v, cap * sizeof(*v));

		if (v == NULL) {
			p->bad = true;
			return;
		}
		p->v = v;
		p->cap = cap;
	}
	p->v[p->n++] = e;
}

static const char *lp_key(const struct lp *p)
{
	/* The key of the current value: the map's last key, or for a value
	 * in an array, the key the array is under. */
	if (p->depth > 0 && !p->is_arr[p->depth])
		return p->key[p->depth];
	return p->depth > 1 ? p->key[p->depth - 1] : "";
}

static int lp_string(void *ctx, const unsigned char *s, size_t len)
{
	struct lp *p = ctx;
	const char *k = lp_key(p);

	if (p->elem_depth == 0 || p->depth < p->elem_depth)
		return 1;
	if (strcmp(k, "comment") == 0)
		return 1;
	if (p->depth == p->elem_depth)
		lp_reset_elem(p);
	if (p->naddr < 2 && len < INET6_ADDRSTRLEN) {
		memcpy(p->addr[p->naddr], s, len);
		p->addr[p->naddr++][len] = '\0';
	}
	if (p->depth == p->elem_depth)
		lp_finish_elem(p);
	return 1;
}

static int lp_integer(void *ctx, long long v)
{
	struct lp *p = ctx;
	const char *k = lp_key(p);

	if (p->elem_depth == 0 || p->depth <= p->elem_depth)
		return 1;
	if (!strcmp(k, "len")) {
		p->len = v;
		p->has_len = true;
	} else if (!strcmp(k, "expires")) {
		p->expires = v;
		p->has_expires = true;
	} else if (!strcmp(k, "timeout")) {
		p->timeout = v;
		p->has_timeout = true;
	}
	return 1;
}

static int lp_open(struct lp *p, bool arr)
{
	if (p->elem_depth && p->depth == p->elem_depth)
		lp_reset_elem(p);
	if (++p->depth >= 32)
		return 0;
	p->is_arr[p->depth] = arr;
	p->key[p->depth][0] = '\0';
	/* root map, "nftables" array, item map, "set" map, "elem" array */
	if (arr && p->depth == 5 && !strcmp(p->key[4], "elem"))
		p->elem_depth = 5;
	return 1;
}

static int lp_close(struct lp *p)
{
	if (p->elem_depth && p->depth == p->elem_depth)
		p->elem_depth = 0;
	p->depth--;
	if (p->elem_depth && p->depth == p->elem_depth)
		lp_finish_elem(p);
	return 1;
}

static int lp_start_map(void *ctx)
{
	return lp_open(ctx, false);
}

static int lp_start_array(void *ctx)
{
	return lp_open(ctx, true);
}

static int lp_end(void *ctx)
{
	return lp_close(ctx);
}

static int lp_map_key(void *ctx, const unsigned char *s, size_t len)
{
	struct lp *p = ctx;
	size_t n = len < sizeof(p->key[0]) - 1 ? len : sizeof(p->key[0]) - 1;

	memcpy(p->key[p->depth], s, n);
	p->key[p->depth][n] = '\0';
	return 1;
}

static const yajl_callbacks lp_callbacks = {
	.yajl_integer = lp_integer,
	.yajl_string = lp_string,
	.yajl_start_map = lp_start_map,
	.yajl_map_key = lp_map_key,
	.yajl_end_map = lp_end,
	.yajl_start_array = lp_start_array,
	.yajl_end_array = lp_end,
};

static int cmp_kelem(const void *a, const void *b)
{
	const struct kelem *x = a, *y = b;

	return (x->first > y->first) - (x->first < y->first);
}

/* The elements of set @k, sorted, into *@out (caller frees). */
static int read_set(struct nft *nb, int k, struct kelem **out, size_t *n)
{
	struct lp p = {.width = nb->sets[k].width};
	char cmd[96], *js;
	yajl_handle h;
	int rc;

	*out = NULL;
	*n = 0;
	snprintf(cmd, sizeof(cmd), "list set inet %s %s", nb->table,
		 nb->sets[k].name);
	p.t0 = now_ms();
	rc = list_json(nb, cmd, false, &js);
	p.t1 = now_ms();
	if (rc == IPW_ENOENT)
		return 0;
	if (rc != 0)
		return rc;
	h = yajl_alloc(&lp_callbacks, NULL, &p);
	if (h == NULL) {
		free(js);
		return IPW_ENOMEM;
	}
	if (yajl_parse(h, (const unsigned char *)js, strlen(js)) !=
		    yajl_status_ok ||
	    yajl_complete_parse(h) != yajl_status_ok || p.bad) {
		log_error("nftables: unreadable listing of set %s",
			  nb->sets[k].name);
		rc = IPW_EIO;
	}
	yajl_free(h);
	free(js);
	if (rc != 0) {
		free(p.v);
		return rc;
	}
	if (p.n)
		qsort(p.v, p.n, sizeof(*p.v), cmp_kelem);
	*out = p.v;
	*n = p.n;
	return 0;
}

/* ---- element changes ---- */

static int record(struct nft *nb, int k, const struct ipwd_seg_diff *d)
{
	size_t need = nb->nev + d->ndel + d->nadd, i;

	if (need > nb->cap_ev) {
		size_t cap = nb->cap_ev ? nb->cap_ev : 256;
		struct event *v;

		while (cap < need)
			cap *= 2;
		v = realloc(nb->ev, cap * sizeof(*v));
		if (v == NULL)
			return IPW_ENOMEM;
		nb->ev = v;
		nb->cap_ev = cap;
	}
	for (i = 0; i < d->ndel; i++)
		nb->ev[nb->nev++] = (struct event){
			d->del[i].first, d->del[i].last, d->del[i].expires,
			nb->seq++,	 (uint8_t)k,	 0};
	for (i = 0; i < d->nadd; i++)
		nb->ev[nb->nev++] = (struct event){
			d->add[i].first, d->add[i].last, d->add[i].expires,
			nb->seq++,	 (uint8_t)k,	 1};
	return 0;
}

static int cmp_event(const void *a, const void *b)
{
	const struct event *x = a, *y = b;

	if (x->set != y->set)
		return x->set - y->set;
	if (x->first != y->first)
		return x->first < y->first ? -1 : 1;
	if (x->last != y->last)
		return x->last < y->last ? -1 : 1;
	return (x->seq > y->seq) - (x->seq < y->seq);
}

/* Fold the recorded events into items (sorted by set and address) in
 * place: the first event of an element says whether the kernel had it
 * before, the last whether it must have it after. Returns the count. */
static size_t fold_events(struct nft *nb, struct item **items)
{
	struct item *it;
	size_t i = 0, j, n = 0;

	if (nb->nev == 0) {
		*items = NULL;
		return 0;
	}
	qsort(nb->ev, nb->nev, sizeof(*nb->ev), cmp_event);
	it = malloc(nb->nev * sizeof(*it));
	if (it == NULL) {
		*items = NULL;
		return SIZE_MAX;
	}
	while (i < nb->nev) {
		const struct event *a = &nb->ev[i], *z;

		for (j = i; j + 1 < nb->nev && nb->ev[j + 1].set == a->set &&
			    nb->ev[j + 1].first == a->first &&
			    nb->ev[j + 1].last == a->last;
		     j++)
			;
		z = &nb->ev[j];
		it[n] = (struct item){.first = a->first,
				      .last = a->last,
				      .set = a->set,
				      .has_old = !a->add,
				      .old_exp = a->add ? 0 : a->expires,
				      .has_new = z->add,
				      .new_exp = z->add ? z->expires : 0};
		if (it[n].has_old && it[n].old_exp == 0) {
			it[n].old_lo = it[n].old_hi = INT64_MAX;
		} else if (it[n].has_old) {
			it[n].old_lo =
				(it[n].old_exp + nb->sets[a->set].backstop) *
				1000;
			it[n].old_hi = it[n].old_lo + LAG_MS;
		}
		if (it[n].has_old || it[n].has_new) {
			if (!(it[n].has_old && it[n].has_new &&
			      it[n].old_exp == it[n].new_exp))
				n++;
		}
		i = j + 1;
	}
	nb->nev = 0;
	*items = it;
	return n;
}

/* A change of the ghosts, made once the chunk's transaction went
 * through. */
struct ghost_op {
	ipwd_u128 key;
	int64_t hi;
	uint8_t set, add;
};

/* Three lists of one chunk: touches, deletes and adds, per set. */
struct chunk_text {
	struct sb touch, del, add;
	int tset, dset, aset; /* the set whose command is open, -1 none */
	struct ghost_op *g;
	size_t ng, cap_g;
	bool oom;
};

static void open_cmd(struct nft *nb, struct sb *b, int *cur, int k, bool is_del)
{
	if (*cur == k) {
		sb_printf(b, ", ");
		return;
	}
	if (*cur >= 0)
		sb_printf(b, is_del ? " }\n" : " } ; }\n");
	*cur = k;
	if (is_del)
		sb_printf(b, "delete element inet %s %s { ", nb->table,
			  nb->sets[k].name);
	else
		put_decl(b, nb, &nb->sets[k]);
}

static void close_cmd(struct sb *b, int *cur, bool is_del)
{
	if (*cur >= 0)
		sb_printf(b, is_del ? " }\n" : " } ; }\n");
	*cur = -1;
}

static void chunk_reset(struct chunk_text *c)
{
	sb_reset(&c->touch);
	sb_reset(&c->del);
	sb_reset(&c->add);
	c->tset = c->dset = c->aset = -1;
	c->ng = 0;
	c->oom = false;
}

static void chunk_free(struct chunk_text *c)
{
	sb_free(&c->touch);
	sb_free(&c->del);
	sb_free(&c->add);
	free(c->g);
}

static void chunk_close(struct chunk_text *c)
{
	close_cmd(&c->touch, &c->tset, false);
	close_cmd(&c->del, &c->dset, true);
	close_cmd(&c->add, &c->aset, false);
	c->oom |= c->touch.oom || c->del.oom || c->add.oom;
}

static void ghost_op(struct chunk_text *c, int k, ipwd_u128 key, int64_t hi,
		     bool add)
{
	if (c->ng == c->cap_g) {
		size_t cap = c->cap_g ? c->cap_g * 2 : 64;
		struct ghost_op *v = realloc(c->g, cap * sizeof(*v));

		if (v == NULL) {
			c->oom = true;
			return;
		}
		c->g = v;
		c->cap_g = cap;
	}
	c->g[c->ng++] = (struct ghost_op){key, hi, (uint8_t)k, add};
}

static void ghosts_apply(struct nft *nb, const struct chunk_text *c)
{
	size_t i;

	for (i = 0; i < c->ng; i++) {
		struct nset *s = &nb->sets[c->g[i].set];

		ipwd_seg_diff_clear(&nb->scratch);
		if (c->g[i].add)
			ipwd_segs_put(s->ghosts, c->g[i].key, s->width,
				      c->g[i].hi, 0, SIZE_MAX, &nb->scratch);
		else
			ipwd_segs_del(s->ghosts, c->g[i].key, s->width, 0,
				      &nb->scratch);
	}
}

static void touch_and_delete(struct nft *nb, struct chunk_text *c, int k,
			     ipwd_u128 first, ipwd_u128 last)
{
	open_cmd(nb, &c->touch, &c->tset, k, false);
	put_elem(&c->touch, &nb->sets[k], first, last);
	sb_printf(&c->touch, " timeout " TOUCH);
	open_cmd(nb, &c->del, &c->dset, k, true);
	put_elem(&c->del, &nb->sets[k], first, last);
}

/* Render one item at @now (ms); see "Time" above. */
static void render_item(struct nft *nb, struct chunk_text *c,
			const struct item *it, int64_t now)
{
	struct nset *s = &nb->sets[it->set];
	bool deleted = false;

	if (it->has_old && now < it->old_hi) {
		if (now < it->old_lo - GUARD_MS) {
			/* surely there until the transaction is done */
			open_cmd(nb, &c->del, &c->dset, it->set, true);
			put_elem(&c->del, s, it->first, it->last);
			deleted = true;
		} else if (s->flat && it->has_new) {
			touch_and_delete(nb, c, it->set, it->first, it->last);
			deleted = true;
		} else if (s->flat) {
			ghost_op(c, it->set, it->first, it->old_hi, true);
		}
		/* An interval element this close to its end is left to
		 * its timeout: send_items() waited for it when something
		 * new overlaps it. */
	}
	if (!it->has_new)
		return;
	if (s->flat) {
		int64_t g;

		if (ipwd_segs_get(s->ghosts, it->first, s->width, &g) == 0) {
			if (!deleted && now < g)
				touch_and_delete(nb, c, it->set, it->first,
						 it->last);
			ghost_op(c, it->set, it->first, 0, false);
		}
	}
	if (it->new_exp != 0 && it->new_exp * 1000 <= now)
		return; /* already over: the kernel need not see it */
	open_cmd(nb, &c->add, &c->aset, it->set, false);
	put_elem(&c->add, s, it->first, it->last);
	if (it->new_exp != 0)
		put_timeout(&c->add, (it->new_exp + s->backstop) * 1000 - now);
}

/*
 * An interval element may leave the kernel up to LAG_MS after its
 * expiry (the latency of the transaction that added it). Deleting one in
 * that window may find it gone (the transaction fails), not deleting it
 * may find it still there when something new overlaps it (it fails too).
 * So when an item's old element is that close to its end and something
 * new in its set overlaps it, wait until it is surely gone (at most
 * WAIT_MAX_MS; it happens only when a prefix is changed within about a
 * second of its expiry).
 */
static void wait_for_overlaps(const struct nft *nb, const struct item *items,
			      size_t n)
{
	int64_t now = now_ms(), until = 0, reach = 0;
	ipwd_u128 maxlast = 0, *minfirst;
	bool have = false;
	size_t i;

	for (i = 0; i < n; i++)
		if (items[i].has_old && !nb->sets[items[i].set].flat &&
		    now >= items[i].old_lo - GUARD_MS && now < items[i].old_hi)
			break;
	if (i == n)
		return;
	/* the least first address of a new element after each item, in
	 * its set */
	minfirst = malloc(n * sizeof(*minfirst));
	if (minfirst == NULL)
		return;
	for (i = n; i-- > 0;) {
		bool same = i + 1 < n && items[i + 1].set == items[i].set;
		ipwd_u128 next = same ? minfirst[i + 1] : ~(ipwd_u128)0;

		if (same && items[i + 1].has_new && items[i + 1].first < next)
			next = items[i + 1].first;
		minfirst[i] = next;
	}
	for (i = 0; i < n; i++) {
		const struct item *it = &items[i];

		if (i == 0 || it->set != items[i - 1].set)
			have = false;
		if (it->has_old && !nb->sets[it->set].flat &&
		    now >= it->old_lo - GUARD_MS && now < it->old_hi &&
		    (it->has_new || (have && maxlast >= it->first) ||
		     minfirst[i] <= it->last) &&
		    it->old_hi > until)
			until = it->old_hi;
		if (it->has_new && (!have || it->last > maxlast)) {
			maxlast = it->last;
			have = true;
		}
	}
	free(minfirst);
	reach = until - now;
	if (until && reach > 0 && reach <= WAIT_MAX_MS) {
		struct timespec ts = {reach / 1000, (reach % 1000) * 1000000};

		nanosleep(&ts, NULL);
	}
}

/*
 * Send @items (sorted by set and address) in transactions of at most
 * @chunk elements, @head before the first chunk's elements and @tail
 * after the last chunk's. 0 or IPW_EIO / IPW_ENOMEM.
 */
static int send_items(struct nft *nb, const struct item *items, size_t n,
		      const char *head, const char *tail, size_t chunk)
{
	struct chunk_text c = {.tset = -1, .dset = -1, .aset = -1};
	struct sb all = {0};
	size_t i = 0, j;
	int rc = 0;

	wait_for_overlaps(nb, items, n);
	do {
		ipwd_u128 reach = 0;
		int64_t now = now_ms();

		chunk_reset(&c);
		sb_reset(&all);
		for (j = i; j < n; j++) {
			const struct item *it = &items[j];

			if (j - i >= chunk &&
			    (it->set != items[j - 1].set || it->first > reach))
				break;
			if (j == i || it->set != items[j - 1].set ||
			    it->last > reach)
				reach = it->last;
			render_item(nb, &c, it, now);
		}
		chunk_close(&c);
		sb_printf(&all, "%s%s%s%s%s", i == 0 && head ? head : "",
			  c.touch.p ? c.touch.p : "", c.del.p ? c.del.p : "",
			  c.add.p ? c.add.p : "", j == n && tail ? tail : "");
		if (all.oom || c.oom) {
			rc = IPW_ENOMEM;
			break;
		}
		if (all.n) {
			rc = run(nb, all.p, "transaction");
			if (rc != 0)
				break;
			bump(&nb->transactions, 1);
		}
		ghosts_apply(nb, &c);
		i = j;
	} while (i < n);
	chunk_free(&c);
	sb_free(&all);
	return rc;
}

static void publish_counts(struct nft *nb)
{
	int k;

	for (k = 0; k < NSETS; k++)
		__atomic_store_n(&nb->sets[k].elements,
				 (uint64_t)ipwd_segs_count(nb->sets[k].m),
				 __ATOMIC_RELAXED);
}

/* Drop the ghosts whose time is over. */
static void prune_ghosts(struct nft *nb, int64_t now)
{
	int k;

	for (k = 0; k < NSETS; k++) {
		struct nset *s = &nb->sets[k];
		const void *cur = NULL;
		struct ipwd_seg g;
		ipwd_u128 *dead = NULL;
		size_t n = 0, cap = 0, i;

		if (!s->flat || ipwd_segs_entries(s->ghosts) == 0)
			continue;
		while (ipwd_segs_next(s->ghosts, &cur, &g)) {
			if (g.expires > now)
				continue;
			if (n == cap) {
				ipwd_u128 *v = realloc(
					dead, (cap = cap ? cap * 2 : 64) *
						      sizeof(*v));

				if (v == NULL)
					break;
				dead = v;
			}
			dead[n++] = g.first;
		}
		for (i = 0; i < n; i++) {
			ipwd_seg_diff_clear(&nb->scratch);
			ipwd_segs_del(s->ghosts, dead[i], s->width, 0,
				      &nb->scratch);
		}
		free(dead);
	}
}

/* ---- the backend ---- */

static int target_of(enum ipw_list list, const struct ipw_addr *t, int *set,
		     ipwd_u128 *v)
{
	int i, k;

	if ((list != IPW_LIST_BAN && list != IPW_LIST_ALLOW) ||
	    (t->family != IPW_AF_INET && t->family != IPW_AF_INET6))
		return IPW_EINVAL;
	k = (int)list * 4 + (t->family == IPW_AF_INET6 ? 2 : 0) +
	    !ipw_addr_is_host(t);
	*v = 0;
	if (t->family == IPW_AF_INET)
		*v = ipw_addr_v4(t);
	else
		for (i = 0; i < 16; i++)
			*v = *v << 8 | t->bytes[i];
	*set = k;
	return 0;
}

static void overflow(struct nset *s)
{
	int64_t now = now_ms();

	bump(&s->overflow, 1);
	if (now - s->last_overflow_ms >= OVERFLOW_QUIET_MS)
		log_warn("nftables: set %s is full (%zu elements, the limit): "
			 "entries left out are counted in "
			 "ipwall_nft_overflow_total; the next reconcile tries "
			 "again",
			 s->name, s->limit);
	s->last_overflow_ms = now;
}

static int nb_begin(void *b)
{
	struct nft *nb = b;

	nb->nev = 0;
	nb->mode_set = false;
	return 0;
}

static int nb_put(void *b, enum ipw_list list, const struct ipw_addr *target,
		  int64_t expires)
{
	struct nft *nb = b;
	struct nset *s;
	ipwd_u128 v;
	int k, rc;

	rc = target_of(list, target, &k, &v);
	if (rc != 0)
		return rc;
	s = &nb->sets[k];
	ipwd_seg_diff_clear(&nb->scratch);
	rc = ipwd_segs_put(s->m, v, target->plen, expires, (int64_t)time(NULL),
			   s->limit, &nb->scratch);
	if (rc == IPW_ENOSPC) {
		overflow(s);
		return 0;
	}
	if (rc != 0)
		return rc;
	return record(nb, k, &nb->scratch);
}

static int nb_del(void *b, enum ipw_list list, const struct ipw_addr *target)
{
	struct nft *nb = b;
	ipwd_u128 v;
	int k, rc;

	rc = target_of(list, target, &k, &v);
	if (rc != 0)
		return rc;
	ipwd_seg_diff_clear(&nb->scratch);
	rc = ipwd_segs_del(nb->sets[k].m, v, target->plen, (int64_t)time(NULL),
			   &nb->scratch);
	if (rc == IPW_ENOENT)
		return 0; /* left out when its set was full */
	if (rc != 0)
		return rc;
	return record(nb, k, &nb->scratch);
}

static int nb_mode(void *b, enum ipw_mode mode)
{
	struct nft *nb = b;

	if (mode != IPW_MODE_DENYLIST && mode != IPW_MODE_ALLOWLIST)
		return IPW_EINVAL;
	nb->mode = mode;
	nb->mode_set = true;
	return 0;
}

static int nb_commit(void *b)
{
	struct nft *nb = b;
	struct item *items;
	struct sb tail = {0};
	size_t n = fold_events(nb, &items);
	int rc;

	if (n == SIZE_MAX) {
		nb->nev = 0;
		return IPW_ENOMEM;
	}
	if (nb->mode_set) {
		put_rules(&tail, nb, nb->mode);
		nb->mode_known = true;
	}
	rc = tail.oom ? IPW_ENOMEM :
			send_items(nb, items, n, NULL, tail.p, CHUNK);
	nb->mode_set = false;
	free(items);
	sb_free(&tail);
	prune_ghosts(nb, now_ms());
	publish_counts(nb);
	return rc;
}

/* The snapshot's live entries into fresh models (@m, one per set). */
static int wanted_models(struct nft *nb, struct ipw_snapshot *snap, int64_t now,
			 struct ipwd_segs **m)
{
	size_t i, n = ipw_snapshot_count(snap);
	int k, rc;

	for (k = 0; k < NSETS; k++) {
		rc = ipwd_segs_new(&m[k], nb->sets[k].width, nb->sets[k].flat,
				   nb->seed + (uint64_t)k);
		if (rc != 0)
			return rc;
	}
	for (i = 0; i < n; i++) {
		struct ipw_entry_key e;
		ipwd_u128 v;

		ipw_snapshot_key(snap, i, &e);
		if (e.expires != 0 && e.expires <= now)
			continue;
		if (target_of(e.list, &e.target, &k, &v) != 0)
			continue;
		ipwd_seg_diff_clear(&nb->scratch);
		rc = ipwd_segs_put(m[k], v, e.target.plen, e.expires, now,
				   nb->sets[k].limit, &nb->scratch);
		if (rc == IPW_ENOSPC)
			overflow(&nb->sets[k]);
		else if (rc != 0)
			return rc;
	}
	return 0;
}

/* Items that turn the kernel's elements @ke (sorted) of set @k into the
 * segments of @m; appended to *@items. */
static int diff_set(struct nft *nb, int k, const struct kelem *ke, size_t nk,
		    const struct ipwd_segs *m, struct item **items, size_t *n,
		    size_t *cap)
{
	struct nset *s = &nb->sets[k];
	int64_t backstop = s->backstop, now = now_ms();
	const void *cur = NULL;
	struct ipwd_seg w;
	bool have = ipwd_segs_next(m, &cur, &w);
	size_t i = 0;

	while (i < nk || have) {
		struct item it = {.set = (uint8_t)k};

		if (have && i < nk && ke[i].first == w.first &&
		    ke[i].last == w.last) {
			int64_t a = ke[i].expires, z = w.expires,
				end = (z + backstop) * 1000;

			i++;
			have = ipwd_segs_next(m, &cur, &w);
			if ((a == 0) == (z == 0) &&
			    (a == 0 ||
			     (end >= ke[i - 1].lo_ms - TOLERANCE_S * 1000 &&
			      end <= ke[i - 1].hi_ms + TOLERANCE_S * 1000)))
				continue;
			it.first = ke[i - 1].first;
			it.last = ke[i - 1].last;
			it.has_old = it.has_new = 1;
			it.old_exp = a;
			it.old_lo = ke[i - 1].lo_ms;
			it.old_hi = ke[i - 1].hi_ms;
			it.new_exp = z;
		} else if (i < nk && (!have || ke[i].first <= w.first)) {
			if (s->flat && ke[i].lo_ms < now + GUARD_MS) {
				/* ends by itself before a delete would land:
				 * as render_item() would, keep it as a ghost */
				ipwd_seg_diff_clear(&nb->scratch);
				ipwd_segs_put(s->ghosts, ke[i].first, s->width,
					      ke[i].hi_ms, 0, SIZE_MAX,
					      &nb->scratch);
				i++;
				continue;
			}
			it.first = ke[i].first;
			it.last = ke[i].last;
			it.has_old = 1;
			it.old_exp = ke[i].expires;
			it.old_lo = ke[i].lo_ms;
			it.old_hi = ke[i].hi_ms;
			i++;
		} else {
			it.first = w.first;
			it.last = w.last;
			it.has_new = 1;
			it.new_exp = w.expires;
			have = ipwd_segs_next(m, &cur, &w);
		}
		if (*n == *cap) {
			size_t c = *cap ? *cap * 2 : 1024;
			struct item *v = realloc(*items, c * sizeof(*v));

			if (v == NULL)
				return IPW_ENOMEM;
			*items = v;
			*cap = c;
		}
		(*items)[(*n)++] = it;
	}
	return 0;
}

static int cmp_item(const void *a, const void *b)
{
	const struct item *x = a, *y = b;

	if (x->set != y->set)
		return x->set - y->set;
	if (x->first != y->first)
		return x->first < y->first ? -1 : 1;
	/* a removal before an addition at the same place */
	return (int)y->has_old - (int)x->has_old;
}

static void set_limits(struct nft *nb, const struct shape *sh)
{
	int k;

	for (k = 0; k < NSETS; k++) {
		struct nset *s = &nb->sets[k];
		uint32_t want = s->ksize, have = sh->set_size[k];

		s->limit = nb->max_elements;
		if (!sh->set_ok[k] || have == want)
			continue;
		if (have == 0) /* no size: unlimited */
			continue;
		if (have < want)
			s->limit =
				have - have / 16 > 0 ? have - have / 16 : have;
		log_warn("nftables: set %s exists with size %" PRIu32
			 " (this configuration would create it with %" PRIu32
			 "): kept, with a limit of %zu; `detach` and a restart "
			 "resize it",
			 s->name, have, want, s->limit);
	}
}

static int reconcile_once(struct nft *nb, struct ipw_snapshot *snap,
			  enum ipw_mode mode, bool rebuild, uint64_t *repaired)
{
	struct ipwd_segs *m[NSETS] = {0};
	struct shape before, after;
	struct item *items = NULL;
	size_t n = 0, cap = 0;
	struct sb head = {0}, tail = {0};
	int64_t now = (int64_t)time(NULL);
	uint64_t fixes = 0;
	bool recreate = false;
	int k, rc;

	*repaired = 0;
	if (mode != IPW_MODE_DENYLIST && mode != IPW_MODE_ALLOWLIST)
		return IPW_EINVAL;
	nb->nev = 0;
	rc = read_shape(nb, &before);
	if (rc != 0)
		return rc;
	set_limits(nb, &before);
	for (k = 0; k < NSETS; k++) {
		if (rebuild && !nb->sets[k].flat && before.set_ok[k]) {
			before.set_ok[k] = false;
			before.set_bad[k] = true;
		}
		if (before.set_bad[k])
			recreate = true;
	}
	/* Ghosts are about the kernel's elements: the listings about to be
	 * read are the truth, diff_set() and render_item() make the new
	 * ones. */
	for (k = 0; k < NSETS; k++) {
		struct nset *s = &nb->sets[k];
		struct ipwd_segs *g;

		if (!s->flat || ipwd_segs_entries(s->ghosts) == 0)
			continue;
		rc = ipwd_segs_new(&g, s->width, true, nb->seed);
		if (rc != 0)
			goto out;
		ipwd_segs_free(s->ghosts);
		s->ghosts = g;
	}
	rc = wanted_models(nb, snap, now, m);
	for (k = 0; k < NSETS && rc == 0; k++) {
		struct kelem *ke = NULL;
		size_t nk = 0;

		if (before.set_ok[k])
			rc = read_set(nb, k, &ke, &nk);
		if (rc == 0)
			rc = diff_set(nb, k, ke, nk, m[k], &items, &n, &cap);
		free(ke);
		if (!before.set_ok[k])
			fixes++;
	}
	if (rc != 0)
		goto out;
	if (!before.table)
		fixes++;
	for (k = 0; k < 4; k++)
		if ((k != 1 || nb->forward) &&
		    (!before.chain[k] || before.chain_bad[k]))
			fixes++;
	if (n)
		qsort(items, n, sizeof(*items), cmp_item);

	put_structure(&head, nb, &before, true, false);
	if (!recreate)
		put_structure(&tail, nb, &before, false, true);
	put_rules(&tail, nb, mode);
	if (head.oom || tail.oom) {
		rc = IPW_ENOMEM;
		goto out;
	}
	if (recreate) {
		/* A set must go and come back: in one transaction with the
		 * rules that point at it (flushed first), whatever its size. */
		struct sb one = {0};

		put_structure(&one, nb, &before, false, true);
		sb_printf(&one, "%s", head.p);
		rc = one.oom ?
			     IPW_ENOMEM :
			     send_items(nb, items, n, one.p, tail.p, SIZE_MAX);
		sb_free(&one);
	} else {
		rc = send_items(nb, items, n, head.p, tail.p, CHUNK);
	}
	if (rc != 0)
		goto out;
	nb->mode = mode;
	nb->mode_known = true;
	for (k = 0; k < NSETS; k++) {
		ipwd_segs_free(nb->sets[k].m);
		nb->sets[k].m = m[k];
		m[k] = NULL;
	}
	publish_counts(nb);
	rc = read_shape(nb, &after);
	if (rc == 0 && before.table && before.rules && after.rules &&
	    strcmp(before.rules, after.rules) != 0 && fixes == 0)
		fixes++; /* someone changed our rules, or the mode was off */
	shape_free(&after);
	rc = 0;
	*repaired = n + fixes;
	bump(&nb->repaired, *repaired);
out:
	for (k = 0; k < NSETS; k++)
		ipwd_segs_free(m[k]);
	shape_free(&before);
	free(items);
	sb_free(&head);
	sb_free(&tail);
	return rc;
}

/* Do the prefix sets hold exactly the model's segments? (They are small:
 * prefixes only.) */
static bool nets_match(struct nft *nb)
{
	int k;

	for (k = 0; k < NSETS; k++) {
		struct nset *s = &nb->sets[k];
		const void *cur = NULL;
		struct kelem *ke;
		struct ipwd_seg w;
		size_t nk, i = 0;
		bool same = true;

		if (s->flat)
			continue;
		if (read_set(nb, k, &ke, &nk) != 0)
			return false;
		while (same && ipwd_segs_next(s->m, &cur, &w))
			same = i < nk && ke[i].first == w.first &&
			       ke[i].last == w.last && ++i;
		free(ke);
		if (!same || i != nk)
			return false;
	}
	return true;
}

static int nb_reconcile(void *b, struct ipw_snapshot *snap, enum ipw_mode mode,
			uint64_t *repaired)
{
	struct nft *nb = b;
	uint64_t more = 0;
	int rc;

	rc = reconcile_once(nb, snap, mode, false, repaired);
	if (rc == 0 && nets_match(nb))
		return 0;
	if (rc != 0 && rc != IPW_EIO)
		return rc;
	/*
	 * A prefix set that refused the difference, or that does not hold
	 * what was sent. Seen on Linux 6.18: in a transaction that deletes
	 * an interval element, a new one that ends where an expired one
	 * (not yet collected) ended loses its end (it then reaches to the
	 * top of the address space) and cannot be deleted. Replace the
	 * prefix sets whole, in one transaction with the rules.
	 */
	log_warn("nftables: the prefix sets do not take the difference; "
		 "replacing them in one transaction");
	rc = reconcile_once(nb, snap, mode, true, &more);
	*repaired += more;
	if (rc == 0 && !nets_match(nb)) {
		log_error("nftables: the prefix sets still differ from "
			  "what was sent");
		rc = IPW_EIO;
	}
	return rc;
}

static int nb_retime(void *b, struct ipw_snapshot *snap, int64_t step_s)
{
	struct nft *nb = b;
	uint64_t repaired;

	/* Every timeout is off by the step: the difference is the rewrite. */
	log_info("nftables: wall clock stepped by %" PRId64
		 " s: rewriting the timeouts",
		 step_s);
	return nb_reconcile(b, snap,
			    nb->mode_known ? nb->mode : IPW_MODE_DENYLIST,
			    &repaired);
}

static size_t nb_metrics(void *b, char *buf, size_t size)
{
	struct nft *nb = b;
	size_t n = 0;
	int k;

#define OUT(...)                                               \
	do {                                                   \
		if (!ipwd_appendf(buf, size, &n, __VA_ARGS__)) \
			return 0;                              \
	} while (0)

	OUT("# HELP ipwall_nft_elements Elements ipwalld holds in each "
	    "nftables set.\n# TYPE ipwall_nft_elements gauge\n");
	for (k = 0; k < NSETS; k++)
		OUT("ipwall_nft_elements{set=\"%s\"} %" PRIu64 "\n",
		    nb->sets[k].name,
		    __atomic_load_n(&nb->sets[k].elements, __ATOMIC_RELAXED));
	OUT("# HELP ipwall_nft_overflow_total Entries left out of a full "
	    "nftables set.\n# TYPE ipwall_nft_overflow_total counter\n");
	for (k = 0; k < NSETS; k++)
		OUT("ipwall_nft_overflow_total{set=\"%s\"} %" PRIu64 "\n",
		    nb->sets[k].name,
		    __atomic_load_n(&nb->sets[k].overflow, __ATOMIC_RELAXED));
	OUT("# HELP ipwall_nft_transactions_total nftables transactions "
	    "committed.\n# TYPE ipwall_nft_transactions_total counter\n"
	    "ipwall_nft_transactions_total %" PRIu64 "\n"
	    "# HELP ipwall_nft_errors_total nftables commands that failed.\n"
	    "# TYPE ipwall_nft_errors_total counter\n"
	    "ipwall_nft_errors_total %" PRIu64 "\n"
	    "# HELP ipwall_nft_repaired_total Elements, sets, chains and "
	    "rules a reconcile had to add, change or remove.\n"
	    "# TYPE ipwall_nft_repaired_total counter\n"
	    "ipwall_nft_repaired_total %" PRIu64 "\n",
	    __atomic_load_n(&nb->transactions, __ATOMIC_RELAXED),
	    __atomic_load_n(&nb->errors, __ATOMIC_RELAXED),
	    __atomic_load_n(&nb->repaired, __ATOMIC_RELAXED));
#undef OUT
	return n;
}

static void nb_close(void *b)
{
	struct nft *nb = b;
	int k;

	if (nb == NULL)
		return;
	for (k = 0; k < NSETS; k++) {
		ipwd_segs_free(nb->sets[k].m);
		ipwd_segs_free(nb->sets[k].ghosts);
	}
	if (nb->ctx)
		nft_ctx_free(nb->ctx);
	ipwd_seg_diff_free(&nb->scratch);
	free(nb->ev);
	free(nb);
}

static const struct ipwd_backend_ops nb_ops = {
	.name = "nftables",
	.begin = nb_begin,
	.put = nb_put,
	.del = nb_del,
	.mode = nb_mode,
	.commit = nb_commit,
	.reconcile = nb_reconcile,
	.retime = nb_retime,
	.metrics = nb_metrics,
	.close = nb_close,
	.attach = NULL,
};

static bool valid_table(const char *t)
{
	size_t i, n = strlen(t);

	if (n == 0 || n > 32 || (t[0] >= '0' && t[0] <= '9'))
		return false;
	for (i = 0; i < n; i++)
		if (!((t[i] >= 'a' && t[i] <= 'z') ||
		      (t[i] >= 'A' && t[i] <= 'Z') ||
		      (t[i] >= '0' && t[i] <= '9') || t[i] == '_'))
			return false;
	return true;
}

static struct nft_ctx *open_ctx(void)
{
	struct nft_ctx *ctx = nft_ctx_new(NFT_CTX_DEFAULT);

	if (ctx == NULL)
		return NULL;
	if (nft_ctx_buffer_output(ctx) != 0 || nft_ctx_buffer_error(ctx) != 0) {
		nft_ctx_free(ctx);
		return NULL;
	}
	return ctx;
}

int ipwd_nft_new(struct ipwd_backend *out, const struct ipwd_nft_opts *o)
{
	const char *table = o && o->table ? o->table : "ipwall";
	struct nft *nb;
	struct shape sh;
	struct sb cmd = {0};
	uint32_t max;
	int k, rc;

	if (!valid_table(table)) {
		log_error("nftables: bad table name \"%s\"", table);
		return IPW_EINVAL;
	}
	nb = calloc(1, sizeof(*nb));
	if (nb == NULL)
		return IPW_ENOMEM;
	snprintf(nb->table, sizeof(nb->table), "%s", table);
	nb->forward = o && o->forward;
	max = o && o->max_elements ? o->max_elements : DEFAULT_MAX;
	nb->max_elements = max;
	if (getrandom(&nb->seed, sizeof(nb->seed), 0) != sizeof(nb->seed))
		nb->seed = (uint64_t)now_ms();
	for (k = 0; k < NSETS; k++) {
		struct nset *s = &nb->sets[k];
		uint64_t ks = (uint64_t)max + max / 16 + 16;

		s->name = set_names[k];
		s->width = k & 2 ? 128 : 32;
		s->flat = !(k & 1);
		s->backstop = s->flat ? 0 : BACKSTOP_S;
		s->ksize = ks > UINT32_MAX ? UINT32_MAX : (uint32_t)ks;
		s->limit = max;
		s->last_overflow_ms = INT64_MIN / 2;
		rc = ipwd_segs_new(&s->m, s->width, s->flat,
				   nb->seed + (uint64_t)k);
		if (rc == 0 && s->flat)
			rc = ipwd_segs_new(&s->ghosts, s->width, true,
					   nb->seed);
		if (rc != 0) {
			nb_close(nb);
			return rc;
		}
	}
	nb->ctx = open_ctx();
	if (nb->ctx == NULL) {
		log_error("nftables: cannot open libnftables");
		nb_close(nb);
		return IPW_ENOMEM;
	}
	rc = read_shape(nb, &sh);
	if (rc == 0) {
		set_limits(nb, &sh);
		put_structure(&cmd, nb, &sh, true, false);
		rc = cmd.oom ? IPW_ENOMEM :
			       run(nb, cmd.p, "creating the table");
		if (rc == 0)
			bump(&nb->transactions, 1);
	}
	shape_free(&sh);
	sb_free(&cmd);
	if (rc != 0) {
		nb_close(nb);
		return rc == IPW_ENOMEM ? rc : IPW_EIO;
	}
	publish_counts(nb);
	out->ops = &nb_ops;
	out->b = nb;
	return 0;
}

int ipwd_nft_remove(const char *table)
{
	struct nft nb = {0};
	char cmd[96], *js = NULL;
	int rc;

	if (table == NULL)
		table = "ipwall";
	if (!valid_table(table))
		return IPW_EINVAL;
	snprintf(nb.table, sizeof(nb.table), "%s", table);
	nb.ctx = open_ctx();
	if (nb.ctx == NULL)
		return IPW_ENOMEM;
	snprintf(cmd, sizeof(cmd), "list table inet %s", table);
	rc = list_json(&nb, cmd, true, &js);
	free(js);
	if (rc == 0) {
		snprintf(cmd, sizeof(cmd), "delete table inet %s", table);
		rc = run(&nb, cmd, "deleting the table");
		if (rc == 0)
			log_info("nftables: table inet %s deleted", table);
	} else if (rc == IPW_ENOENT) {
		rc = 0;
	}
	nft_ctx_free(nb.ctx);
	return rc;
}
