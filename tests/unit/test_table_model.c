// SPDX-License-Identifier: MIT
/*
 * Model-based randomized test of the ban table.
 *
 * Millions of random operations (ban, unban, allow, disallow, add_batch,
 * put and put_batch, mode, move the clock, check, check_at, check_batch,
 * get, purge, clear, and invalid requests) are
 * applied both to the real table and to a reference model written here from
 * the header's contract alone: a flat array of entries, scanned linearly,
 * with none of the table's indexes, summaries or timing wheel. Every answer
 * is compared: write results (what, error codes, removed entries), verdicts
 * (blocked, reason, deciding entry's target, list and expiry), gets, purge
 * counts and the exact set of purged entries, and every SNAP_EVERY
 * operations the whole snapshot (with exact hit counters: hit_sample 1),
 * the statistics and ipw_table_top().
 *
 * Targets come from a small universe (a few IPv4 /24s and IPv6 /120s, a
 * dozen host values each, prefixes of every length over them) so that
 * operations collide: merges, covered bans, nested prefixes, expiry of the
 * deciding entry and replacement of expired entries all happen often.
 *
 * Deterministic: the seed is fixed unless IPW_MODEL_SEED is set, and is
 * printed; IPW_MODEL_OPS sets the number of operations. On the first
 * mismatch the test prints the operation index, the operation, what the
 * table and the model said and the model entries involved, then stops.
 * One TAP line per BATCH operations plus a few summary lines.
 *
 * Reference semantics (from include/ipwall/table.h):
 *   - an entry is live at time T unless expires != 0 && expires <= T;
 *   - denylist: a live allow containing the address admits (ALLOWED, the
 *     longest such allow decides); else a live ban blocks (BANNED, the
 *     longest ban decides); else NO_MATCH. allowlist: a live allow admits
 *     (ALLOWED), else NOT_ALLOWED;
 *   - add: EINVAL for a bad list/target/flags; EXPIRED if expires is not
 *     after now; COVERED for a ban wholly contained in a live allow (when
 *     both EXPIRED and COVERED apply either is accepted: the header does
 *     not order them); an existing expired entry is replaced (ADDED, new
 *     creation time, hits reset); a live one is merged: later expiry (0
 *     latest), higher score, a manual add makes an automatic entry
 *     manual, EXTENDED if any of these changed (then non-NULL strings
 *     replace the metadata) else UNCHANGED;
 *   - put: EINVAL as add; ERANGE for an expiry, creation time or last hit
 *     outside 0..2^32-1; else the entry of that list and target (expired
 *     or not) becomes exactly the one given, every field (hits and
 *     last_hit included), strings cut as add's: no merge, no coverage,
 *     an expiry in the past accepted (a stored entry that never matches);
 *     put_batch: the same, one by one, with a return code each;
 *   - del: REMOVED for a live entry, ABSENT for an absent or expired one
 *     (which stays until purged); get returns expired entries too;
 *   - purge(max): removes min(max, expired) expired entries (all when max
 *     is 0), each reported once to the callback;
 *   - hits: each check that is decided by an entry counts one hit on it.
 */
#include <inttypes.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <ipwall/addr.h>
#include <ipwall/table.h>

#include "tap.h"

#define T_START	     INT64_C(1700000000)
#define BATCH	     100000
#define SNAP_EVERY   4000
#define DEFAULT_OPS  8000000
#define DEFAULT_SEED UINT64_C(0x1b5a7e11d00d)
#define MMAX	     32768
#define NELEM(a)     (sizeof(a) / sizeof((a)[0]))

/* ---- deterministic randomness ---- */

static uint64_t rng;

static uint64_t rnd(void)
{
	/* splitmix64 */
	uint64_t z = (rng += UINT64_C(0x9e3779b97f4a7c15));

	z = (z ^ (z >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
	z = (z ^ (z >> 27)) * UINT64_C(0x94d049bb133111eb);
	return z ^ (z >> 31);
}

static uint32_t below(uint32_t n)
{
	return (uint32_t)(((rnd() >> 32) * n) >> 32);
}

static int64_t between(int64_t lo, int64_t hi)
{
	return lo + (int64_t)below((uint32_t)(hi - lo + 1));
}

/* ---- the clock ---- */

static int64_t now_s = T_START;

static int64_t fake_clock(void *ctx)
{
	(void)ctx;
	return now_s;
}

/* ---- the reference model ---- */

struct ment {
	struct ipw_addr target;
	enum ipw_list list;
	int64_t expires, created;
	uint32_t score;
	unsigned flags;
	uint64_t hits;
	int64_t hit_min, hit_max; /* times of hits, for last_hit */
	char reason[IPW_REASON_MAX];
	char actor[IPW_ACTOR_MAX];
	char source[IPW_SOURCE_MAX];
};

static struct ment *model;
static size_t nmodel;
static enum ipw_mode model_mode = IPW_MODE_DENYLIST;

static bool live(const struct ment *m, int64_t at)
{
	return m->expires == 0 || m->expires > at;
}

static struct ment *mfind(enum ipw_list list, const struct ipw_addr *t)
{
	for (size_t i = 0; i < nmodel; i++)
		if (model[i].list == list &&
		    ipw_addr_equal(&model[i].target, t))
			return &model[i];
	return NULL;
}

static void mremove(struct ment *m)
{
	*m = model[--nmodel];
}

/* Cut at max-1 bytes, backing off to a UTF-8 character boundary. */
static void cut(char *dst, size_t max, const char *src)
{
	size_t n = src ? strlen(src) : 0;

	if (n > max - 1) {
		n = max - 1;
		while (n > 0 && ((unsigned char)src[n] & 0xc0) == 0x80)
			n--;
	}
	if (n)
		memcpy(dst, src, n);
	dst[n] = '\0';
}

static void mset_meta(struct ment *m, const struct ipw_entry_spec *s,
		      bool keep_null)
{
	if (s->reason || !keep_null)
		cut(m->reason, sizeof(m->reason), s->reason);
	if (s->actor || !keep_null)
		cut(m->actor, sizeof(m->actor), s->actor);
	if (s->source || !keep_null)
		cut(m->source, sizeof(m->source), s->source);
}

static bool valid_target(const struct ipw_addr *a)
{
	struct ipw_addr t;

	if (a->family != IPW_AF_INET && a->family != IPW_AF_INET6)
		return false;
	if (a->plen > ipw_addr_maxlen(a) || a->pad[0] || a->pad[1])
		return false;
	ipw_addr_truncate(&t, a, a->plen);
	return memcmp(&t, a, sizeof(t)) == 0;
}

/* Bit set of acceptable error codes, 0 meaning success. */
struct expect {
	int rc[2]; /* up to two acceptable codes */
	int nrc;
	enum ipw_change what;
};

static struct expect madd(const struct ipw_entry_spec *s, int64_t now,
			  bool *replaced)
{
	struct expect x = {{0, 0}, 0, 0};
	struct ment *m;
	bool covered = false;

	*replaced = false;
	if ((s->list != IPW_LIST_BAN && s->list != IPW_LIST_ALLOW) ||
	    !valid_target(&s->target) || (s->flags & ~IPW_ENTRY_AUTO)) {
		x.rc[x.nrc++] = IPW_EINVAL;
		return x;
	}
	if (s->list == IPW_LIST_BAN)
		for (size_t i = 0; i < nmodel && !covered; i++)
			covered =
				model[i].list == IPW_LIST_ALLOW &&
				live(&model[i], now) &&
				ipw_addr_contains(&model[i].target, &s->target);
	if (s->expires != 0 && s->expires <= now)
		x.rc[x.nrc++] = IPW_ETABLE_EXPIRED;
	if (covered)
		x.rc[x.nrc++] = IPW_ETABLE_COVERED;
	if (x.nrc)
		return x;
	x.rc[x.nrc++] = 0;
	m = mfind(s->list, &s->target);
	if (m && !live(m, now)) {
		mremove(m);
		m = NULL;
		*replaced = true;
	}
	if (!m) {
		if (nmodel == MMAX)
			abort(); /* the universe is smaller than this */
		m = &model[nmodel++];
		memset(m, 0, sizeof(*m));
		m->target = s->target;
		m->list = s->list;
		m->expires = s->expires;
		m->created = now;
		m->score = s->score;
		m->flags = s->flags;
		mset_meta(m, s, false);
		x.what = IPW_CHANGE_ADDED;
		return x;
	}
	{
		int64_t exp = m->expires == 0 || s->expires == 0 ? 0 :
			      s->expires > m->expires		 ? s->expires :
								   m->expires;
		uint32_t score = s->score > m->score ? s->score : m->score;
		bool to_manual = (m->flags & IPW_ENTRY_AUTO) &&
				 !(s->flags & IPW_ENTRY_AUTO);

		if (exp == m->expires && score == m->score && !to_manual) {
			x.what = IPW_CHANGE_UNCHANGED;
			return x;
		}
		m->expires = exp;
		m->score = score;
		if (to_manual)
			m->flags &= ~(unsigned)IPW_ENTRY_AUTO;
		mset_meta(m, s, true);
		x.what = IPW_CHANGE_EXTENDED;
	}
	return x;
}

struct mverdict {
	bool blocked;
	int reason;
	const struct ment *by;
};

static struct mverdict mcheck(const struct ipw_addr *ip, int64_t at)
{
	const struct ment *ban = NULL, *allow = NULL;
	struct mverdict v = {false, IPW_VERDICT_NO_MATCH, NULL};

	for (size_t i = 0; i < nmodel; i++) {
		const struct ment *m = &model[i];
		const struct ment **best =
			m->list == IPW_LIST_BAN ? &ban : &allow;

		if (!live(m, at) || !ipw_addr_contains(&m->target, ip))
			continue;
		if (!*best || m->target.plen > (*best)->target.plen)
			*best = m;
	}
	if (allow) {
		v.reason = IPW_VERDICT_ALLOWED;
		v.by = allow;
	} else if (model_mode == IPW_MODE_ALLOWLIST) {
		v.blocked = true;
		v.reason = IPW_VERDICT_NOT_ALLOWED;
	} else if (ban) {
		v.blocked = true;
		v.reason = IPW_VERDICT_BANNED;
		v.by = ban;
	}
	return v;
}

static void mhit(const struct ment *cm, int64_t at)
{
	struct ment *m = (struct ment *)cm;

	if (!m)
		return;
	if (m->hits == 0 || at < m->hit_min)
		m->hit_min = at;
	if (m->hits == 0 || at > m->hit_max)
		m->hit_max = at;
	m->hits++;
}

/* The strings a put was made from (its arrays may hold them cut, and
 * unterminated). */
struct put_strs {
	const char *reason, *actor, *source;
};

/* Put @in into the model; returns the expected return code. */
static int mput(const struct ipw_entry_info *in, const struct put_strs *ps,
		bool *replaced)
{
	struct ment *m;

	*replaced = false;
	if ((in->list != IPW_LIST_BAN && in->list != IPW_LIST_ALLOW) ||
	    !valid_target(&in->target) || (in->flags & ~IPW_ENTRY_AUTO))
		return IPW_EINVAL;
	if (in->expires < 0 || in->expires > UINT32_MAX || in->created < 0 ||
	    in->created > UINT32_MAX || in->last_hit < 0 ||
	    in->last_hit > UINT32_MAX)
		return IPW_ERANGE;
	m = mfind(in->list, &in->target);
	if (m) {
		*replaced = true;
	} else {
		if (nmodel == MMAX)
			abort(); /* the universe is smaller than this */
		m = &model[nmodel++];
	}
	memset(m, 0, sizeof(*m));
	m->target = in->target;
	m->list = in->list;
	m->expires = in->expires;
	m->created = in->created;
	m->score = in->score;
	m->flags = in->flags;
	m->hits = in->hits;
	m->hit_min = m->hit_max = in->last_hit;
	cut(m->reason, sizeof(m->reason), ps->reason);
	cut(m->actor, sizeof(m->actor), ps->actor);
	cut(m->source, sizeof(m->source), ps->source);
	return 0;
}

/* ---- the universe of targets ---- */

static const uint32_t v4_bases[] = {
	0x0a010200, /* 10.1.2.0/24 */
	0x0a010300, /* 10.1.3.0/24: shares /23 with the one above */
	0xc0000200, /* 192.0.2.0/24 */
	0xcb007100, /* 203.0.113.0/24 */
};

static const uint8_t v6_bases[][16] = {
	{0x20, 0x01, 0x0d, 0xb8}, /* 2001:db8::/120 */
	{0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
	 1},				/* ::100/120 */
	{0x20, 0x01, 0x0d, 0xb8, 0, 1}, /* 2001:db8:1::/120 */
	{0xfe, 0x80},			/* fe80::/120 */
};

static const uint8_t lows[] = {0, 1, 2, 3, 7, 8, 15, 16, 64, 127, 128, 255};

static void host(struct ipw_addr *a, int family, bool any_low)
{
	uint8_t low = any_low ? (uint8_t)below(256) : lows[below(NELEM(lows))];

	if (family == 4) {
		ipw_addr_from_v4(a, v4_bases[below(NELEM(v4_bases))] | low, 32);
	} else {
		uint8_t b[16];

		memcpy(b, v6_bases[below(NELEM(v6_bases))], 16);
		b[15] = low;
		ipw_addr_from_v6(a, b, 128);
	}
}

static unsigned pick_plen(unsigned max, bool allow)
{
	uint32_t r = below(100);

	if (r < (allow ? 70u : 45u))
		return max;
	if (r < (allow ? 95u : 80u))
		return max - 1 - below(8);
	if (r < 99)
		return 1 + below(max - 9);
	return below(2) ? 0 : 1;
}

static void target(struct ipw_addr *t, bool allow)
{
	struct ipw_addr h;
	int family = below(2) ? 4 : 6;

	host(&h, family, false);
	ipw_addr_truncate(t, &h, pick_plen(ipw_addr_maxlen(&h), allow));
}

/* An address to check: mostly in the universe, some anywhere. */
static void probe(struct ipw_addr *ip)
{
	uint32_t r = below(100);

	if (r < 70) {
		host(ip, below(2) ? 4 : 6, false);
	} else if (r < 92) {
		host(ip, below(2) ? 4 : 6, true);
	} else if (r < 94) {
		ipw_addr_from_v4(ip, (uint32_t)rnd(), 32);
	} else if (r < 96) {
		uint8_t b[16];

		for (int i = 0; i < 16; i += 8) {
			uint64_t x = rnd();

			memcpy(b + i, &x, 8);
		}
		ipw_addr_from_v6(ip, b, 128);
	} else {
		/* the IPv4-mapped form of a universe address */
		struct ipw_addr h;
		char s[64];

		host(&h, 4, false);
		snprintf(s, sizeof(s), "::ffff:%u.%u.%u.%u", h.bytes[0],
			 h.bytes[1], h.bytes[2], h.bytes[3]);
		if (ipw_addr_parse_str(s, IPW_ADDR_HOST, ip))
			abort();
	}
}

/* Ban flags of an add are a function of the target, so adds alone never
 * change them; a put sets any flags, and a later manual add merged into an
 * automatic entry makes it manual. */
static unsigned flags_for(const struct ipw_addr *t, enum ipw_list list)
{
	uint32_t h = 2166136261u;

	if (list != IPW_LIST_BAN)
		return 0;
	for (size_t i = 0; i < sizeof(*t); i++)
		h = (h ^ ((const uint8_t *)t)[i]) * 16777619u;
	return (h >> 7) & 1 ? IPW_ENTRY_AUTO : 0;
}

static char long_ascii[400], long_utf8[401];
static const char *reasons[] = {NULL,	  "ssh brute force", "http flood",
				"manual", long_ascii,	     long_utf8};
static const char *actors[] = {NULL, "alice", "rule:ssh", long_utf8};
static const char *sources[] = {NULL, "cli", "api", long_ascii};

static int64_t pick_expiry(enum ipw_list list)
{
	uint32_t r = below(100);

	if (r < (list == IPW_LIST_BAN ? 8u : 4u))
		return 0;
	if (r < 96 - (list == IPW_LIST_ALLOW ? 10 : 0))
		return now_s + between(1, list == IPW_LIST_BAN ? 600 : 60);
	if (r < 97)
		return now_s + between(1, 4);
	return now_s - between(0, 3); /* not after now: refused */
}

/* ---- comparison and reporting ---- */

static const char *fmt(const struct ipw_addr *a)
{
	static char bufs[8][IPW_ADDR_STRLEN + 32];
	static unsigned n;
	char *b = bufs[n++ % 8];

	if (ipw_addr_format(a, b, IPW_ADDR_STRLEN) < 0)
		snprintf(b, sizeof(bufs[0]), "(invalid family=%u plen=%u)",
			 a->family, a->plen);
	return b;
}

static const char *lname(int l)
{
	return l == IPW_LIST_BAN ? "ban" : l == IPW_LIST_ALLOW ? "allow" : "?";
}

static const char *cname(int c)
{
	static const char *const n[] = {"0?",	     "ADDED",	"EXTENDED",
					"UNCHANGED", "REMOVED", "ABSENT",
					"MODE"};

	return c >= 0 && c < (int)NELEM(n) ? n[c] : "?";
}

static const char *rname(int r)
{
	static const char *const n[] = {"NO_MATCH", "BANNED", "ALLOWED",
					"NOT_ALLOWED"};

	return r >= 0 && r < (int)NELEM(n) ? n[r] : "?";
}

static size_t op_index;
static char op_desc[512];
static bool failed;

__attribute__((format(printf, 1, 2))) static void mismatch(const char *f, ...)
{
	va_list ap;
	char msg[1024];

	va_start(ap, f);
	vsnprintf(msg, sizeof(msg), f, ap);
	va_end(ap);
	if (failed)
		return;
	failed = true;
	diag("MISMATCH at op %zu: %s", op_index, op_desc);
	diag("  %s", msg);
	diag("  now = start%+" PRId64 ", mode %s, %zu model entries",
	     now_s - T_START,
	     model_mode == IPW_MODE_ALLOWLIST ? "allowlist" : "denylist",
	     nmodel);
}

static void dump_entry(const char *who, const struct ment *m)
{
	diag("  %s: %s %s expires %s%+" PRId64 " created %+" PRId64
	     " score %u flags %u hits %" PRIu64,
	     who, lname(m->list), fmt(&m->target), m->expires ? "start" : "",
	     m->expires ? m->expires - T_START : 0, m->created - T_START,
	     m->score, m->flags, m->hits);
}

static void dump_related(const struct ipw_addr *a)
{
	for (size_t i = 0; i < nmodel; i++)
		if (ipw_addr_contains(&model[i].target, a) ||
		    ipw_addr_contains(a, &model[i].target))
			dump_entry("model", &model[i]);
}

/* Fields of a table entry against the model's; NULL if equal. */
static const char *entry_diff(const struct ipw_entry_info *e,
			      const struct ment *m, bool with_hits)
{
	if (e->list != m->list || !ipw_addr_equal(&e->target, &m->target))
		return "target/list";
	if (e->expires != m->expires)
		return "expires";
	if (e->created != m->created)
		return "created";
	if (e->score != m->score)
		return "score";
	if (e->flags != m->flags)
		return "flags";
	if (!memchr(e->reason, 0, sizeof(e->reason)) ||
	    strcmp(e->reason, m->reason) != 0)
		return "reason";
	if (!memchr(e->actor, 0, sizeof(e->actor)) ||
	    strcmp(e->actor, m->actor) != 0)
		return "actor";
	if (!memchr(e->source, 0, sizeof(e->source)) ||
	    strcmp(e->source, m->source) != 0)
		return "source";
	if (with_hits && e->hits != m->hits)
		return "hits";
	if (with_hits && m->hits == 0 && e->last_hit != 0)
		return "last_hit (no hits)";
	if (with_hits && m->hits &&
	    (e->last_hit < m->hit_min || e->last_hit > m->hit_max))
		return "last_hit";
	return NULL;
}

static void report_entry(const char *what, const struct ipw_entry_info *e,
			 const struct ment *m, const char *field)
{
	mismatch("%s: field %s differs", what, field);
	diag("  table: %s %s expires %+" PRId64 " created %+" PRId64
	     " score %u flags %u hits %" PRIu64 " last_hit %+" PRId64
	     " reason \"%.40s\" actor \"%.40s\" source \"%.40s\"",
	     lname(e->list), fmt(&e->target),
	     e->expires ? e->expires - T_START : 0, e->created - T_START,
	     e->score, e->flags, e->hits,
	     e->last_hit ? e->last_hit - T_START : 0, e->reason, e->actor,
	     e->source);
	dump_entry("model", m);
	diag("  model: reason \"%.40s\" actor \"%.40s\" source \"%.40s\" "
	     "hit times %+" PRId64 "..%+" PRId64,
	     m->reason, m->actor, m->source, m->hits ? m->hit_min - T_START : 0,
	     m->hits ? m->hit_max - T_START : 0);
}

/* ---- statistics of what the run covered ---- */

static uint64_t n_change[8], n_reason[4], n_covered, n_expired_err, n_einval,
	n_replaced, n_del_expired, n_purged, n_snap, n_check_at, n_clear, n_put,
	n_put_replaced, n_put_expired, n_put_batch, n_put_einval, n_put_erange,
	n_add_batch, n_check_batch;
static size_t max_model;

/* ---- operations ---- */

static struct ipw_table *tbl;

static bool rc_ok(int rc, const struct expect *x)
{
	for (int i = 0; i < x->nrc; i++)
		if (rc == x->rc[i])
			return true;
	return false;
}

/* A random add of @list to *@s. */
static void make_spec(struct ipw_entry_spec *s, enum ipw_list list)
{
	memset(s, 0, sizeof(*s));
	target(&s->target, list == IPW_LIST_ALLOW);
	s->list = list;
	s->expires = pick_expiry(list);
	s->score = below(8);
	s->flags = flags_for(&s->target, list);
	s->reason = reasons[below(NELEM(reasons))];
	s->actor = actors[below(NELEM(actors))];
	s->source = sources[below(NELEM(sources))];
}

static void op_add(enum ipw_list list)
{
	struct ipw_entry_spec s;
	struct ipw_entry_info ev;
	struct expect x;
	enum ipw_change what = 0;
	bool ev_set = false, replaced;
	int rc;

	make_spec(&s, list);
	snprintf(op_desc, sizeof(op_desc),
		 "add %s %s expires %s%+" PRId64 " score %u flags %u",
		 lname(list), fmt(&s.target), s.expires ? "now" : "permanent ",
		 s.expires ? s.expires - now_s : 0, s.score, s.flags);
	rc = ipw_table_add(tbl, &s, &what, &ev, &ev_set);
	x = madd(&s, now_s, &replaced);
	if (!rc_ok(rc, &x) || (rc == 0 && what != x.what) || ev_set) {
		mismatch("table %s/%s evicted_set %d, model %s/%s%s",
			 rc ? ipw_errname(rc) : "ok", cname((int)what), ev_set,
			 x.rc[0] ? ipw_errname(x.rc[0]) : "ok", cname(x.what),
			 x.nrc > 1 ? " (or the other error)" : "");
		dump_related(&s.target);
		return;
	}
	if (rc == 0)
		n_change[what]++;
	n_covered += rc == IPW_ETABLE_COVERED;
	n_expired_err += rc == IPW_ETABLE_EXPIRED;
	n_replaced += replaced;
}

static void count_evict(const struct ipw_entry_info *e, void *ctx)
{
	(void)e;
	(*(unsigned *)ctx)++;
}

/*
 * ipw_table_add_batch() of 1..ADD_BATCH_MAX random adds, bans and allows
 * mixed (so a ban can meet an allow added earlier in the same batch):
 * each must get what the model gives the same adds one after another.
 */
#define ADD_BATCH_MAX 12

static void op_add_batch(void)
{
	struct ipw_entry_spec specs[ADD_BATCH_MAX];
	int rcs[ADD_BATCH_MAX];
	enum ipw_change whats[ADD_BATCH_MAX];
	size_t n = 1 + below(ADD_BATCH_MAX);
	unsigned evictions = 0;
	int nfailed, nfail = 0;

	memset(specs, 0,
	       sizeof(specs)); /* n >= 1, but the analyzer cannot tell */
	for (size_t i = 0; i < n; i++)
		make_spec(&specs[i], below(4) ? IPW_LIST_BAN : IPW_LIST_ALLOW);
	snprintf(op_desc, sizeof(op_desc),
		 "add_batch of %zu: %s %s expires %s%+" PRId64 "%s", n,
		 lname(specs[0].list), fmt(&specs[0].target),
		 specs[0].expires ? "now" : "permanent ",
		 specs[0].expires ? specs[0].expires - now_s : 0,
		 n > 1 ? " and more" : "");
	memset(rcs, 0x5a, sizeof(rcs));
	memset(whats, 0x5a, sizeof(whats));
	nfailed = ipw_table_add_batch(tbl, specs, n, rcs, whats, count_evict,
				      &evictions);
	n_add_batch++;
	for (size_t i = 0; i < n; i++) {
		bool replaced;
		struct expect x = madd(&specs[i], now_s, &replaced);

		if (!rc_ok(rcs[i], &x) || (rcs[i] == 0 && whats[i] != x.what)) {
			mismatch("add #%zu of %zu (%s %s): table %s/%s, model "
				 "%s/%s%s",
				 i, n, lname(specs[i].list),
				 fmt(&specs[i].target),
				 rcs[i] ? ipw_errname(rcs[i]) : "ok",
				 rcs[i] ? "-" : cname((int)whats[i]),
				 x.rc[0] ? ipw_errname(x.rc[0]) : "ok",
				 cname(x.what),
				 x.nrc > 1 ? " (or the other error)" : "");
			dump_related(&specs[i].target);
			return;
		}
		nfail += rcs[i] != 0;
		if (rcs[i] == 0)
			n_change[whats[i]]++;
		n_covered += rcs[i] == IPW_ETABLE_COVERED;
		n_expired_err += rcs[i] == IPW_ETABLE_EXPIRED;
		n_replaced += replaced;
	}
	if (nfailed != nfail || evictions)
		mismatch("add_batch returned %d with %d failed, %u evictions "
			 "(the table has no cap here)",
			 nfailed, nfail, evictions);
}

/* Copy @src into the array @dst of @size bytes: NUL-padded, or cut
 * without a NUL when it is longer (the table reads size - 1 bytes). */
static void fill_array(char *dst, size_t size, const char *src)
{
	size_t n = src ? strlen(src) : 0;

	memset(dst, 0, size);
	if (n)
		memcpy(dst, src, n < size ? n : size);
}

/* A random put request, valid mostly: a target the model holds (either
 * list) or a fresh one, any flags, an expiry in the past, now, soon, later
 * or never, and hit counters. */
static void make_put(struct ipw_entry_info *e, struct put_strs *ps)
{
	uint32_t r = below(100);

	memset(e, 0, sizeof(*e));
	e->list = below(4) ? IPW_LIST_BAN : IPW_LIST_ALLOW;
	if (nmodel && below(2)) {
		const struct ment *m = &model[below((uint32_t)nmodel)];

		e->target = m->target;
		e->list = m->list;
	} else {
		target(&e->target, e->list == IPW_LIST_ALLOW);
	}
	e->expires = r < 10 ? 0 :
		     r < 30 ? now_s - between(0, 600) :
		     r < 35 ? now_s :
		     r < 95 ? now_s + between(1, 600) :
			      now_s + between(100000, 50000000);
	e->created = now_s - between(0, 5000);
	e->score = below(8);
	e->flags = below(2) ? IPW_ENTRY_AUTO : 0;
	if (below(2)) {
		e->hits = 1 + below(5000);
		e->last_hit = now_s - between(0, 100);
	}
	ps->reason = reasons[below(NELEM(reasons))];
	ps->actor = actors[below(NELEM(actors))];
	ps->source = sources[below(NELEM(sources))];
	fill_array(e->reason, sizeof(e->reason), ps->reason);
	fill_array(e->actor, sizeof(e->actor), ps->actor);
	fill_array(e->source, sizeof(e->source), ps->source);
	switch (below(60)) { /* a few bad ones */
	case 0:
		e->list = (enum ipw_list)(2 + below(3));
		break;
	case 1:
		e->flags = 2u << below(20);
		break;
	case 2:
		e->target.plen = (uint8_t)(ipw_addr_maxlen(&e->target) + 1);
		break;
	case 3:
		e->expires = below(2) ? -1 - (int64_t)below(10) :
					INT64_C(4294967296) + below(10);
		break;
	case 4:
		e->created = -1;
		break;
	case 5:
		e->hits = 1;
		e->last_hit = INT64_C(4294967296);
		break;
	default:
		break;
	}
}

/* The entry the table holds for @e's list and target against the
 * model's, every field (hit counters included). */
static bool put_readback(const struct ipw_entry_info *e)
{
	struct ipw_entry_info got;
	struct ment *m = mfind(e->list, &e->target);
	const char *d;
	int rc;

	memset(&got, 0x5a, sizeof(got));
	rc = ipw_table_get(tbl, e->list, &e->target, &got);
	if (rc || !m) {
		mismatch("get after put: table %s, model %s",
			 rc ? ipw_errname(rc) : "found",
			 m ? "has it" : "does not");
		return false;
	}
	d = entry_diff(&got, m, true);
	if (d) {
		report_entry("get after put", &got, m, d);
		return false;
	}
	return true;
}

static void count_put(int rc, bool replaced, const struct ipw_entry_info *e)
{
	n_put++;
	n_put_replaced += rc == 0 && replaced;
	n_put_expired += rc == 0 && e->expires && e->expires <= now_s;
	n_put_einval += rc == IPW_EINVAL;
	n_put_erange += rc == IPW_ERANGE;
}

static void op_put(void)
{
	struct ipw_entry_info v[8] = {0};
	struct put_strs ps[8];
	int rcs[8], nfailed = 0, nfail = 0;
	size_t n = below(4) ? 1 : 2 + below(7);

	for (size_t i = 0; i < n; i++)
		make_put(&v[i], &ps[i]);
	snprintf(op_desc, sizeof(op_desc),
		 "%s: %s %s expires %s%+" PRId64 " flags %u hits %" PRIu64 "%s",
		 n == 1 ? "put" : "put_batch", lname(v[0].list),
		 fmt(&v[0].target), v[0].expires ? "now" : "permanent ",
		 v[0].expires ? v[0].expires - now_s : 0, v[0].flags, v[0].hits,
		 n > 1 ? " and more" : "");
	if (n == 1) {
		rcs[0] = ipw_table_put(tbl, &v[0]);
	} else {
		memset(rcs, 0x5a, sizeof(rcs));
		nfailed = ipw_table_put_batch(tbl, v, n, rcs);
		n_put_batch++;
	}
	for (size_t i = 0; i < n; i++) {
		bool replaced;
		int want = mput(&v[i], &ps[i], &replaced);

		if (rcs[i] != want) {
			mismatch("put #%zu of %zu (%s %s): table %s, model %s",
				 i, n, lname(v[i].list), fmt(&v[i].target),
				 rcs[i] ? ipw_errname(rcs[i]) : "ok",
				 want ? ipw_errname(want) : "ok");
			return;
		}
		nfail += want != 0;
		count_put(want, replaced, &v[i]);
	}
	if (n > 1 && nfailed != nfail) {
		mismatch("put_batch returned %d, %d failed", nfailed, nfail);
		return;
	}
	for (size_t i = 0; i < n; i++)
		if (rcs[i] == 0 && !put_readback(&v[i]))
			return;
}

static void op_del(enum ipw_list list)
{
	struct ipw_addr t;
	struct ipw_entry_info rm;
	enum ipw_change what = 0;
	struct ment *m;
	int rc;

	/* mostly targets that exist (in either list), else random ones */
	if (nmodel && below(100) < 60)
		t = model[below((uint32_t)nmodel)].target;
	else
		target(&t, list == IPW_LIST_ALLOW);
	snprintf(op_desc, sizeof(op_desc), "del %s %s", lname(list), fmt(&t));
	memset(&rm, 0, sizeof(rm));
	rc = ipw_table_del(tbl, list, &t, &what, &rm);
	m = mfind(list, &t);
	if (m && live(m, now_s)) {
		const char *d;

		if (rc || what != IPW_CHANGE_REMOVED) {
			mismatch("table %s/%s, model REMOVED",
				 rc ? ipw_errname(rc) : "ok", cname((int)what));
			dump_related(&t);
			return;
		}
		d = entry_diff(&rm, m, false);
		if (d) {
			report_entry("removed entry", &rm, m, d);
			return;
		}
		mremove(m);
	} else {
		if (rc || what != IPW_CHANGE_ABSENT) {
			mismatch("table %s/%s, model ABSENT%s",
				 rc ? ipw_errname(rc) : "ok", cname((int)what),
				 m ? " (expired, not purged)" : "");
			dump_related(&t);
			return;
		}
		n_del_expired += m != NULL;
	}
	n_change[what]++;
}

/*
 * Compare the table's verdict @v for @ip at time @at with the model's,
 * and count the hit the check made on the deciding entry. False (and a
 * mismatch reported) if they differ.
 */
static bool verdict_agrees(const struct ipw_addr *ip,
			   const struct ipw_verdict *v, int64_t at)
{
	struct mverdict mv = mcheck(ip, at);

	if (v->blocked != mv.blocked || v->reason != mv.reason ||
	    (mv.by && (v->list != mv.by->list ||
		       !ipw_addr_equal(&v->entry, &mv.by->target) ||
		       v->expires != mv.by->expires))) {
		mismatch("%s: table %s %s by %s %s expires %+" PRId64
			 ", model %s %s by %s %s expires %+" PRId64
			 " (time start%+" PRId64 ")",
			 fmt(ip), v->blocked ? "blocked" : "admitted",
			 rname(v->reason), lname(v->list), fmt(&v->entry),
			 v->expires ? v->expires - T_START : 0,
			 mv.blocked ? "blocked" : "admitted", rname(mv.reason),
			 mv.by ? lname(mv.by->list) : "-",
			 mv.by ? fmt(&mv.by->target) : "-",
			 mv.by && mv.by->expires ? mv.by->expires - T_START : 0,
			 at - T_START);
		dump_related(ip);
		return false;
	}
	mhit(mv.by, at);
	n_reason[mv.reason]++;
	return true;
}

static void op_check(bool at_time)
{
	struct ipw_addr ip;
	struct ipw_verdict v;
	int64_t at = now_s;
	int rc;

	probe(&ip);
	if (at_time) {
		at = now_s + between(-3, 8);
		n_check_at++;
	}
	snprintf(op_desc, sizeof(op_desc), "check%s %s%s", at_time ? "_at" : "",
		 fmt(&ip), at_time ? " at a given time" : "");
	memset(&v, 0xa5, sizeof(v));
	rc = at_time ? ipw_table_check_at(tbl, &ip, at, &v) :
		       ipw_table_check(tbl, &ip, &v);
	if (rc)
		mismatch("check failed: %s", ipw_errname(rc));
	else
		verdict_agrees(&ip, &v, at);
}

/*
 * ipw_table_check_batch() (or _at()) of 1..CHECK_BATCH_MAX addresses:
 * sizes on both sides of the table's fetch distance (32), so that
 * verdicts decided while later addresses are being fetched are compared
 * too. Every verdict must be the model's.
 */
#define CHECK_BATCH_MAX 72

static void op_check_batch(void)
{
	struct ipw_addr ips[CHECK_BATCH_MAX];
	struct ipw_verdict vs[CHECK_BATCH_MAX];
	size_t n = 1 + below(CHECK_BATCH_MAX);
	bool at_time = below(4) == 0;
	int64_t at = at_time ? now_s + between(-3, 8) : now_s;
	int rc;

	memset(ips, 0, sizeof(ips)); /* n >= 1, but the analyzer cannot tell */
	for (size_t i = 0; i < n; i++)
		probe(&ips[i]);
	snprintf(op_desc, sizeof(op_desc), "check_batch%s of %zu from %s",
		 at_time ? "_at" : "", n, fmt(&ips[0]));
	memset(vs, 0xa5, sizeof(vs));
	rc = at_time ? ipw_table_check_batch_at(tbl, ips, n, at, vs) :
		       ipw_table_check_batch(tbl, ips, n, vs);
	n_check_batch++;
	if (rc) {
		mismatch("check_batch failed: %s", ipw_errname(rc));
		return;
	}
	for (size_t i = 0; i < n; i++)
		if (!verdict_agrees(&ips[i], &vs[i], at))
			return;
}

static void op_get(void)
{
	struct ipw_addr t;
	struct ipw_entry_info e;
	enum ipw_list list = below(2) ? IPW_LIST_BAN : IPW_LIST_ALLOW;
	struct ment *m;
	int rc;

	if (nmodel && below(2))
		t = model[below((uint32_t)nmodel)].target;
	else
		target(&t, list == IPW_LIST_ALLOW);
	snprintf(op_desc, sizeof(op_desc), "get %s %s", lname(list), fmt(&t));
	rc = ipw_table_get(tbl, list, &t, &e);
	m = mfind(list, &t);
	if (!m) {
		if (rc != IPW_ENOENT)
			mismatch("table %s, model ENOENT",
				 rc ? ipw_errname(rc) : "found");
		return;
	}
	if (rc) {
		mismatch("table %s, model has the entry", ipw_errname(rc));
		dump_entry("model", m);
		return;
	}
	{
		const char *d = entry_diff(&e, m, false);

		if (d)
			report_entry("get", &e, m, d);
	}
}

static void op_mode(void)
{
	enum ipw_mode m = below(2) ? IPW_MODE_ALLOWLIST : IPW_MODE_DENYLIST;
	enum ipw_change what = 0, want;
	int rc;

	snprintf(op_desc, sizeof(op_desc), "set mode %s",
		 m == IPW_MODE_ALLOWLIST ? "allowlist" : "denylist");
	rc = ipw_table_set_mode(tbl, m, &what);
	want = m == model_mode ? IPW_CHANGE_UNCHANGED : IPW_CHANGE_MODE;
	model_mode = m;
	if (rc || what != want || ipw_table_mode(tbl) != m)
		mismatch("table %s/%s mode %d, model %s mode %d",
			 rc ? ipw_errname(rc) : "ok", cname((int)what),
			 (int)ipw_table_mode(tbl), cname(want), (int)m);
	n_change[want]++;
}

static void op_tick(void)
{
	uint32_t r = below(100);
	int64_t d = r < 60 ? 1 : r < 90 ? between(2, 10) : between(20, 120);

	if (below(1000) == 0)
		d = 1000; /* everything not permanent expires */
	now_s += d;
}

struct purge_log {
	size_t n;
	struct ipw_entry_info *e;
};

static void purge_cb(const struct ipw_entry_info *e, void *ctx)
{
	struct purge_log *l = ctx;

	if (l->n < MMAX)
		l->e[l->n] = *e;
	l->n++;
}

static struct ipw_entry_info *purge_buf;

static void op_purge(void)
{
	size_t max = below(100) < 40 ? 0 : 1 + below(8);
	size_t expired = 0, want, n;
	struct purge_log log = {0, purge_buf};

	for (size_t i = 0; i < nmodel; i++)
		expired += !live(&model[i], now_s);
	want = max == 0 || expired < max ? expired : max;
	snprintf(op_desc, sizeof(op_desc), "purge max %zu (%zu expired)", max,
		 expired);
	n = ipw_table_purge(tbl, max, purge_cb, &log);
	if (n != want || log.n != n) {
		mismatch("table purged %zu (callback %zu), model %zu", n, log.n,
			 want);
		return;
	}
	for (size_t i = 0; i < n; i++) {
		const struct ipw_entry_info *e = &log.e[i];
		struct ment *m = mfind(e->list, &e->target);
		const char *d;

		if (!m) {
			mismatch("purged %s %s: not in the model (or purged "
				 "twice)",
				 lname(e->list), fmt(&e->target));
			return;
		}
		if (live(m, now_s)) {
			mismatch("purged %s %s: not expired", lname(e->list),
				 fmt(&e->target));
			dump_entry("model", m);
			return;
		}
		d = entry_diff(e, m, false);
		if (d) {
			report_entry("purged entry", e, m, d);
			return;
		}
		mremove(m);
	}
	n_purged += n;
}

static void op_clear(void)
{
	snprintf(op_desc, sizeof(op_desc), "clear");
	ipw_table_clear(tbl);
	nmodel = 0;
	n_clear++;
}

static void op_invalid(void)
{
	struct ipw_entry_spec s;
	struct ipw_addr a, h;
	struct ipw_verdict v;
	enum ipw_change what;
	int rc = 0;

	memset(&s, 0, sizeof(s));
	target(&s.target, false);
	s.list = IPW_LIST_BAN;
	switch (below(6)) {
	case 0:
		host(&h, below(2) ? 4 : 6, false);
		ipw_addr_truncate(&a, &h, below(ipw_addr_maxlen(&h)));
		snprintf(op_desc, sizeof(op_desc), "check of a prefix %s",
			 fmt(&a));
		rc = ipw_table_check(tbl, &a, &v);
		break;
	case 1:
		s.list = (enum ipw_list)(2 + below(5));
		snprintf(op_desc, sizeof(op_desc), "add to list %d", s.list);
		rc = ipw_table_add(tbl, &s, &what, NULL, NULL);
		break;
	case 2:
		snprintf(op_desc, sizeof(op_desc), "del from list 7");
		rc = ipw_table_del(tbl, (enum ipw_list)7, &s.target, &what,
				   NULL);
		break;
	case 3:
		s.flags = 2u << below(20);
		snprintf(op_desc, sizeof(op_desc), "add with flags %#x",
			 s.flags);
		rc = ipw_table_add(tbl, &s, &what, NULL, NULL);
		break;
	case 4:
		s.target.family = 0;
		snprintf(op_desc, sizeof(op_desc), "add of family 0");
		rc = ipw_table_add(tbl, &s, &what, NULL, NULL);
		break;
	default:
		s.target.plen =
			(uint8_t)(ipw_addr_maxlen(&s.target) + 1 + below(20));
		snprintf(op_desc, sizeof(op_desc), "add with plen %u",
			 s.target.plen);
		rc = ipw_table_add(tbl, &s, &what, NULL, NULL);
		break;
	}
	if (rc != IPW_EINVAL)
		mismatch("table %s, model EINVAL", rc ? ipw_errname(rc) : "ok");
	n_einval++;
}

/* The whole table against the model: snapshot, stats, top. */
static void compare_all(void)
{
	struct ipw_snapshot *snap = NULL;
	struct ipw_table_stats st;
	uint64_t cnt[2][2] = {{0}}, pfx[2][2] = {{0}};
	static bool seen[MMAX];
	static uint64_t hits_sorted[MMAX];
	struct ipw_entry_info top[8];
	size_t n, ntop, with_hits = 0;
	int rc;

	snprintf(op_desc, sizeof(op_desc), "snapshot comparison");
	rc = ipw_table_snapshot(tbl, &snap);
	if (rc || !snap) {
		mismatch("snapshot failed: %s", ipw_errname(rc));
		return;
	}
	n = ipw_snapshot_count(snap);
	if (n != nmodel) {
		mismatch("snapshot has %zu entries, model %zu", n, nmodel);
		ipw_snapshot_free(snap);
		return;
	}
	memset(seen, 0, nmodel * sizeof(seen[0]));
	for (size_t i = 0; i < n && !failed; i++) {
		struct ipw_entry_info e;
		struct ment *m;
		const char *d;

		ipw_snapshot_get(snap, i, &e);
		m = mfind(e.list, &e.target);
		if (!m) {
			mismatch("snapshot has %s %s, the model does not",
				 lname(e.list), fmt(&e.target));
			break;
		}
		if (seen[m - model]) {
			mismatch("snapshot lists %s %s twice", lname(e.list),
				 fmt(&e.target));
			break;
		}
		seen[m - model] = true;
		d = entry_diff(&e, m, true);
		if (d)
			report_entry("snapshot entry", &e, m, d);
	}
	ipw_snapshot_free(snap);
	if (failed)
		return;

	for (size_t i = 0; i < nmodel; i++) {
		const struct ment *m = &model[i];
		int f = m->target.family == IPW_AF_INET6;

		cnt[m->list][f]++;
		pfx[m->list][f] += !ipw_addr_is_host(&m->target);
		if (m->hits)
			hits_sorted[with_hits++] = m->hits;
	}
	ipw_table_stats(tbl, &st);
	for (int l = 0; l < 2; l++)
		for (int f = 0; f < 2; f++)
			if (st.entries[l][f] != cnt[l][f] ||
			    st.prefixes[l][f] != pfx[l][f]) {
				mismatch("stats [%s][IPv%d]: entries %" PRIu64
					 " prefixes %" PRIu64 ", model %" PRIu64
					 " %" PRIu64,
					 lname(l), f ? 6 : 4, st.entries[l][f],
					 st.prefixes[l][f], cnt[l][f],
					 pfx[l][f]);
				return;
			}
	if (nmodel && st.index_bytes == 0) {
		mismatch("stats: index_bytes is 0 with %zu entries", nmodel);
		return;
	}

	/* top: the hottest entries, most first, with their exact counts */
	for (size_t i = 1; i < with_hits; i++) /* insertion sort, small */
		for (size_t k = i; k > 0 && hits_sorted[k] > hits_sorted[k - 1];
		     k--) {
			uint64_t tmp = hits_sorted[k];

			hits_sorted[k] = hits_sorted[k - 1];
			hits_sorted[k - 1] = tmp;
		}
	ntop = ipw_table_top(tbl, NELEM(top), top);
	if (ntop > NELEM(top) || ntop > nmodel ||
	    ntop < (with_hits < NELEM(top) ? with_hits : NELEM(top))) {
		mismatch("top(%zu) returned %zu (%zu entries, %zu with hits)",
			 NELEM(top), ntop, nmodel, with_hits);
		return;
	}
	for (size_t i = 0; i < ntop; i++) {
		struct ment *m = mfind(top[i].list, &top[i].target);
		uint64_t want = i < with_hits ? hits_sorted[i] : 0;

		if (!m || m->hits != top[i].hits || top[i].hits != want) {
			mismatch("top[%zu] is %s %s with %" PRIu64
				 " hits; model: %" PRIu64
				 " hits, rank %zu should have %" PRIu64,
				 i, lname(top[i].list), fmt(&top[i].target),
				 top[i].hits, m ? m->hits : 0, i, want);
			return;
		}
	}
	n_snap++;
}

enum op {
	OP_BAN,
	OP_ALLOW,
	OP_UNBAN,
	OP_DISALLOW,
	OP_CHECK,
	OP_CHECK_AT,
	OP_GET,
	OP_MODE,
	OP_TICK,
	OP_PURGE,
	OP_INVALID,
	OP_CLEAR,
	OP_PUT,
	OP_ADD_BATCH,
	OP_CHECK_BATCH,
	OP_N,
};

/* Weights per 100000 operations. */
static const uint32_t weights[OP_N] = {
	[OP_BAN] = 25000,     [OP_ALLOW] = 4000,     [OP_UNBAN] = 9000,
	[OP_DISALLOW] = 7000, [OP_CHECK] = 37400,    [OP_CHECK_AT] = 3000,
	[OP_GET] = 3000,      [OP_MODE] = 300,	     [OP_TICK] = 2500,
	[OP_PURGE] = 2000,    [OP_INVALID] = 1195,   [OP_CLEAR] = 5,
	[OP_PUT] = 4000,      [OP_ADD_BATCH] = 1000, [OP_CHECK_BATCH] = 600,
};

_Static_assert(25000 + 4000 + 9000 + 7000 + 37400 + 3000 + 3000 + 300 + 2500 +
			       2000 + 1195 + 5 + 4000 + 1000 + 600 ==
		       100000,
	       "weights add up to 100000");

static enum op pick_op(void)
{
	uint32_t r = below(100000);

	for (int i = 0; i < OP_N; i++) {
		if (r < weights[i])
			return (enum op)i;
		r -= weights[i];
	}
	return OP_CHECK;
}

static uint64_t env_u64(const char *name, uint64_t dflt)
{
	const char *s = getenv(name);
	char *end;
	uint64_t v;

	if (!s || !*s)
		return dflt;
	v = strtoull(s, &end, 0);
	return *end ? dflt : v;
}

int main(void)
{
	uint64_t seed = env_u64("IPW_MODEL_SEED", DEFAULT_SEED);
	size_t nops = (size_t)env_u64("IPW_MODEL_OPS", DEFAULT_OPS);
	struct ipw_table_opts o;
	size_t batch_start = 0;
	bool cov;
	int rc;

	memset(long_ascii, 'x', sizeof(long_ascii) - 1);
	for (size_t i = 0; i + 2 < sizeof(long_utf8); i += 2)
		memcpy(long_utf8 + i, "\xc3\xa9", 2);
	diag("seed %#" PRIx64 " (IPW_MODEL_SEED), %zu operations "
	     "(IPW_MODEL_OPS)",
	     seed, nops);
	rng = seed;
	model = calloc(MMAX, sizeof(*model));
	purge_buf = calloc(MMAX, sizeof(*purge_buf));
	if (!model || !purge_buf) {
		printf("Bail out! out of memory\n");
		return 2;
	}
	memset(&o, 0, sizeof(o));
	o.clock = fake_clock;
	o.hash_key[0] = seed ^ UINT64_C(0x5851f42d4c957f2d);
	o.hash_key[1] = ~seed;
	o.hit_sample = 1; /* exact counts, compared with the model's */
	rc = ipw_table_new(&tbl, &o);
	if (rc) {
		printf("Bail out! ipw_table_new: %s\n", ipw_errname(rc));
		return 2;
	}

	for (op_index = 0; op_index < nops && !failed; op_index++) {
		switch (pick_op()) {
		case OP_BAN:
			op_add(IPW_LIST_BAN);
			break;
		case OP_ALLOW:
			op_add(IPW_LIST_ALLOW);
			break;
		case OP_UNBAN:
			op_del(IPW_LIST_BAN);
			break;
		case OP_DISALLOW:
			op_del(IPW_LIST_ALLOW);
			break;
		case OP_CHECK:
			op_check(false);
			break;
		case OP_CHECK_AT:
			op_check(true);
			break;
		case OP_GET:
			op_get();
			break;
		case OP_MODE:
			op_mode();
			break;
		case OP_TICK:
			op_tick();
			break;
		case OP_PURGE:
			op_purge();
			break;
		case OP_INVALID:
			op_invalid();
			break;
		case OP_PUT:
			op_put();
			break;
		case OP_ADD_BATCH:
			op_add_batch();
			break;
		case OP_CHECK_BATCH:
			op_check_batch();
			break;
		default:
			op_clear();
			break;
		}
		if (nmodel > max_model)
			max_model = nmodel;
		if (!failed && (op_index + 1) % SNAP_EVERY == 0)
			compare_all();
		if ((op_index + 1) % BATCH == 0 || failed) {
			ok(!failed, "ops %zu..%zu agree with the model",
			   batch_start, op_index);
			batch_start = op_index + 1;
		}
	}
	if (!failed && batch_start < op_index)
		ok(true, "ops %zu..%zu agree with the model", batch_start,
		   op_index - 1);
	if (!failed)
		compare_all();
	ok(!failed,
	   "final snapshot, stats and top agree (%" PRIu64 " comparisons)",
	   n_snap);

	diag("changes: added %" PRIu64 " extended %" PRIu64
	     " unchanged %" PRIu64 " removed %" PRIu64 " absent %" PRIu64
	     " mode %" PRIu64,
	     n_change[IPW_CHANGE_ADDED], n_change[IPW_CHANGE_EXTENDED],
	     n_change[IPW_CHANGE_UNCHANGED], n_change[IPW_CHANGE_REMOVED],
	     n_change[IPW_CHANGE_ABSENT], n_change[IPW_CHANGE_MODE]);
	diag("verdicts: no_match %" PRIu64 " banned %" PRIu64
	     " allowed %" PRIu64 " not_allowed %" PRIu64,
	     n_reason[0], n_reason[1], n_reason[2], n_reason[3]);
	diag("errors: covered %" PRIu64 " expired %" PRIu64 " einval %" PRIu64
	     "; expired replaced %" PRIu64 ", del of expired %" PRIu64
	     ", purged %" PRIu64 ", check_at %" PRIu64 ", clears %" PRIu64
	     ", most entries %zu",
	     n_covered, n_expired_err, n_einval, n_replaced, n_del_expired,
	     n_purged, n_check_at, n_clear, max_model);
	diag("puts: %" PRIu64 " (in %" PRIu64 " batches of 2..8 too): replaced "
	     "%" PRIu64 ", expired %" PRIu64 ", einval %" PRIu64
	     ", erange %" PRIu64,
	     n_put, n_put_batch, n_put_replaced, n_put_expired, n_put_einval,
	     n_put_erange);
	diag("batches: %" PRIu64 " add_batch of 1..%d, %" PRIu64
	     " check_batch of 1..%d",
	     n_add_batch, ADD_BATCH_MAX, n_check_batch, CHECK_BATCH_MAX);
	/* The generator must reach every case, or the comparison is empty. */
	cov = n_change[IPW_CHANGE_ADDED] && n_change[IPW_CHANGE_EXTENDED] &&
	      n_change[IPW_CHANGE_UNCHANGED] && n_change[IPW_CHANGE_REMOVED] &&
	      n_change[IPW_CHANGE_ABSENT] && n_change[IPW_CHANGE_MODE] &&
	      n_reason[0] && n_reason[1] && n_reason[2] && n_reason[3] &&
	      n_covered && n_expired_err && n_einval && n_replaced &&
	      n_del_expired && n_purged && n_snap && n_put && n_put_replaced &&
	      n_put_expired && n_put_batch && n_put_einval && n_put_erange &&
	      n_add_batch && n_check_batch;
	ok(failed || op_index < 200000 || cov,
	   "the run covered every kind of result");

	ipw_table_free(tbl);
	free(model);
	free(purge_buf);
	return done_testing();
}
