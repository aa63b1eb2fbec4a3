/* SPDX-License-Identifier: MIT */
/*
 * The audit log (see audit.h for the line format and the contract).
 *
 * A record is streamed through yajl's generator (yajl_gen) in the
 * documented key order, compactly. Nothing is escaped by hand: quotes,
 * control characters and non-ASCII text are escaped by yajl. Text that is
 * not valid UTF-8 (the table's metadata strings are cut at a character
 * boundary but not otherwise checked) has each bad byte replaced by U+FFFD
 * first, so the line is valid JSON instead of lost.
 *
 * Cost: building a line is about a microsecond, done before
 * the lock is taken; the lock is held only for the write(2) of the whole
 * group, or for the journal sends. With O_APPEND every group lands at the
 * end of the file in one piece, even next to other appenders, unless the
 * write is cut short (a signal), when the rest follows in another write
 * still under the lock.
 *
 * Whole lines only. A write that fails part way (a full disk) would leave
 * the start of a line at the end of the file, and the next group would be
 * glued to it: a line that does not parse, in the middle of the log. So
 * the file is cut back to the end of the last whole line written, and
 * the group's other lines are lost (the caller says so), not mangled. A
 * crash of an earlier ipwalld in the middle of a long write (kill -9
 * during a big batch's lines) leaves the same kind of tail: opening the
 * file cuts it, when it is the start of one of our lines.
 *
 * Reopening (SIGHUP after logrotate renamed the file) opens the path anew
 * and swaps the descriptor under the same lock, so a group is written
 * wholly to the old file or wholly to the new one.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>
#include <yajl/yajl_gen.h>

#define SD_JOURNAL_SUPPRESS_LOCATION
#include <systemd/sd-journal.h>

#include "oplog/audit.h"
#include "base/log.h"

#define JOURNAL_SOCKET "/run/systemd/journal/socket"

enum audit_kind {
	AUDIT_NONE,
	AUDIT_STDOUT,
	AUDIT_FILE,
	AUDIT_JOURNAL,
};

struct ipwd_audit {
	enum audit_kind kind;
	int fd;	    /* stdout and file; -1 otherwise */
	char *path; /* file */
	pthread_mutex_t lock;
};

/* ---------------------------------------------------------------- */
/* JSON values */

/* Length of the well-formed UTF-8 sequence at @s (RFC 3629: no overlong
 * forms, no surrogates, nothing past U+10FFFF), 0 if there is none. The
 * NUL terminator is not a continuation byte, so reads stop at it. */
static size_t utf8_seq(const unsigned char *s)
{
	unsigned char lo = 0x80, hi = 0xbf;
	size_t len, i;

	if (s[0] < 0x80)
		return 1;
	if (s[0] >= 0xc2 && s[0] <= 0xdf)
		len = 2;
	else if (s[0] >= 0xe0 && s[0] <= 0xef)
		len = 3;
	else if (s[0] >= 0xf0 && s[0] <= 0xf4)
		len = 4;
	else
		return 0;
	if (s[0] == 0xe0)
		lo = 0xa0;
	else if (s[0] == 0xed)
		hi = 0x9f;
	else if (s[0] == 0xf0)
		lo = 0x90;
	else if (s[0] == 0xf4)
		hi = 0x8f;
	if (s[1] < lo || s[1] > hi)
		return 0;
	for (i = 2; i < len; i++)
		if (s[i] < 0x80 || s[i] > 0xbf)
			return 0;
	return len;
}

/*
 * The line is generated with yajl's streaming generator straight into one
 * growing buffer: no tree, no allocation per value. (jansson, which the
 * rest of the daemon uses, builds a tree of ~40 allocations per line; at
 * 5.7 us an op that capped durable batch ingest, see docs/benchmarks.md.)
 */
struct buf {
	char *p;
	size_t len, cap;
	bool oom;
};

static void buf_put(void *ctx, const char *s, size_t n)
{
	struct buf *b = ctx;

	if (b->oom)
		return;
	if (b->len + n + 1 > b->cap) {
		size_t cap = b->cap ? b->cap * 2 : 1024;
		char *np;

		while (cap < b->len + n + 1)
			cap *= 2;
		np = realloc(b->p, cap);
		if (np == NULL) {
			b->oom = true;
			return;
		}
		b->p = np;
		b->cap = cap;
	}
	memcpy(b->p + b->len, s, n);
	b->len += n;
	b->p[b->len] = '\0';
}

static yajl_gen gen_new(struct buf *b)
{
	yajl_gen g = yajl_gen_alloc(NULL);

	if (g != NULL)
		yajl_gen_config(g, yajl_gen_print_callback, buf_put, b);
	return g;
}

static void put_key(yajl_gen g, const char *k)
{
	yajl_gen_string(g, (const unsigned char *)k, strlen(k));
}

/* A string the daemon made itself (names, addresses, ids): ASCII. */
static void put_name(yajl_gen g, const char *k, const char *v)
{
	put_key(g, k);
	if (v == NULL)
		yajl_gen_null(g);
	else
		yajl_gen_string(g, (const unsigned char *)v, strlen(v));
}

/* Text that may be missing (null when NULL or empty), with every byte
 * that is not part of well-formed UTF-8 written as U+FFFD. */
static void put_text(yajl_gen g, const char *k, const char *s)
{
	const unsigned char *p = (const unsigned char *)s;
	unsigned char fixed[3 * 256 + 1], *q, *heap = NULL;
	size_t n, len;

	put_key(g, k);
	if (s == NULL || *s == '\0') {
		yajl_gen_null(g);
		return;
	}
	for (; *p; p += n)
		if ((n = utf8_seq(p)) == 0)
			break;
	if (*p == '\0') {
		yajl_gen_string(g, (const unsigned char *)s,
				(size_t)(p - (const unsigned char *)s));
		return;
	}
	len = strlen(s);
	q = len < 256 ? fixed : (heap = malloc(3 * len + 1));
	if (q == NULL) {
		yajl_gen_null(g);
		return;
	}
	for (n = 0, p = (const unsigned char *)s; *p;) {
		size_t l = utf8_seq(p);

		if (l == 0) {
			memcpy(q + n, "\xef\xbf\xbd", 3);
			n += 3;
			p++;
			continue;
		}
		memcpy(q + n, p, l);
		n += l;
		p += l;
	}
	yajl_gen_string(g, q, n);
	free(heap);
}

static void put_int(yajl_gen g, const char *k, int64_t v)
{
	put_key(g, k);
	yajl_gen_integer(g, (long long)v);
}

/* Unix seconds, or null for 0 (permanent). */
static void put_expires(yajl_gen g, const char *k, int64_t t)
{
	put_key(g, k);
	if (t)
		yajl_gen_integer(g, (long long)t);
	else
		yajl_gen_null(g);
}

static void put_iso(yajl_gen g, const char *k, int64_t t)
{
	time_t tt = (time_t)t;
	char buf[32];
	struct tm tm;
	size_t n;

	put_key(g, k);
	if (gmtime_r(&tt, &tm) == NULL ||
	    (n = strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%SZ", &tm)) == 0)
		yajl_gen_null(g);
	else
		yajl_gen_string(g, (const unsigned char *)buf, n);
}

static void put_target(yajl_gen g, const char *k, const struct ipw_addr *a)
{
	char buf[IPW_ADDR_STRLEN];
	int n = ipw_addr_format(a, buf, sizeof(buf));

	put_key(g, k);
	if (n < 0)
		yajl_gen_null(g);
	else
		yajl_gen_string(g, (const unsigned char *)buf, (size_t)n);
}

/*
 * Entry @e under key @k, or null. @full: every field; otherwise what the
 * history keeps (target, list, expires, expires_at, score, reason), for a
 * line rebuilt from it.
 */
static void gen_entry(yajl_gen g, const char *k, const struct ipw_entry_info *e,
		      bool full)
{
	if (k)
		put_key(g, k);
	if (e == NULL) {
		yajl_gen_null(g);
		return;
	}
	yajl_gen_map_open(g);
	put_target(g, "target", &e->target);
	put_name(g, "list", ipwd_list_name(e->list));
	put_expires(g, "expires", e->expires);
	if (e->expires) {
		put_iso(g, "expires_at", e->expires);
	} else {
		put_key(g, "expires_at");
		yajl_gen_null(g);
	}
	if (full)
		put_int(g, "created", e->created);
	put_int(g, "score", e->score);
	if (full) {
		put_key(g, "auto");
		yajl_gen_bool(g, (e->flags & IPW_ENTRY_AUTO) != 0);
	}
	put_text(g, "reason", e->reason);
	if (full) {
		put_text(g, "actor", e->actor);
		put_text(g, "source", e->source);
	}
	yajl_gen_map_close(g);
}

static void gen_line(yajl_gen g, const struct ipwd_oprec *r)
{
	/* reason, score, ttl and expires describe the entry as the op left
	 * it, or as it was when the op removed it. */
	const struct ipw_entry_info *e = r->after ? r->after : r->before;

	yajl_gen_map_open(g);
	put_iso(g, "ts", r->time);
	put_text(g, "op", r->id);
	if (r->seq)
		put_int(g, "seq", (int64_t)r->seq);
	else
		put_name(g, "seq", NULL);
	put_text(g, "node", r->node);
	put_text(g, "actor", r->actor);
	put_name(g, "action", ipwd_action_name(r->action));
	put_name(g, "result", ipwd_result_name(r->action, r->change));
	if (r->action == IPWD_ACT_MODE) {
		put_name(g, "mode", ipw_mode_name(r->mode));
	} else {
		put_name(g, "list", ipwd_list_name(r->list));
		put_target(g, "target", &r->target);
	}
	if (e) {
		put_text(g, "reason", e->reason);
		put_int(g, "score", e->score);
		put_key(g, "ttl");
		if (e->expires)
			yajl_gen_integer(g, e->expires > r->time ?
						    e->expires - r->time :
						    0);
		else
			yajl_gen_null(g);
		put_expires(g, "expires", e->expires);
	} else {
		put_name(g, "reason", NULL);
		put_name(g, "score", NULL);
		put_name(g, "ttl", NULL);
		put_name(g, "expires", NULL);
	}
	gen_entry(g, "before", r->before, !r->partial);
	gen_entry(g, "after", r->after, !r->partial);
	if (r->recovered) {
		put_key(g, "recovered");
		yajl_gen_bool(g, 1);
	}
	yajl_gen_map_close(g);
}

/* One generated value as a malloc'd string; NULL (errno ENOMEM). */
static char *one(const struct ipwd_oprec *r, const struct ipw_entry_info *e)
{
	struct buf b = {0};
	yajl_gen g;

	if (r == NULL && e == NULL) {
		errno = EINVAL;
		return NULL;
	}
	g = gen_new(&b);
	if (g == NULL) {
		errno = ENOMEM;
		return NULL;
	}
	if (r)
		gen_line(g, r);
	else
		gen_entry(g, NULL, e, true);
	yajl_gen_free(g);
	if (b.oom || b.p == NULL) {
		free(b.p);
		errno = ENOMEM;
		return NULL;
	}
	return b.p;
}

char *ipwd_audit_line(const struct ipwd_oprec *r)
{
	return one(r, NULL);
}

char *ipwd_audit_entry_json(const struct ipw_entry_info *e)
{
	return one(NULL, e);
}

/* ---------------------------------------------------------------- */
/* Destinations */

#define LINE_START "{\"ts\":\""
#define TAIL_SCAN  (1 << 20) /* how far back to look for the last '\n' */

/*
 * An earlier ipwalld killed in the middle of a write may have left the
 * start of a line at the end of @path (open as @fd, for writing): cut it,
 * so that the next line starts a line of its own. Only a tail that starts
 * like our lines, after a '\n' in the last TAIL_SCAN bytes, or at the
 * start of the file, is cut: a file of something else is left alone.
 */
static void cut_incomplete_tail(const char *path, int fd)
{
	char buf[4096], head[sizeof(LINE_START) - 1];
	off_t end, pos, start = -1;
	struct stat st;
	size_t cmp;
	ssize_t n;
	int rfd;

	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) || st.st_size == 0)
		return;
	rfd = open(path, O_RDONLY | O_CLOEXEC);
	if (rfd < 0)
		return;
	end = st.st_size;
	if (pread(rfd, buf, 1, end - 1) != 1 || buf[0] == '\n')
		goto out;
	for (pos = end; pos > 0 && end - pos < TAIL_SCAN && start < 0;) {
		size_t want =
			pos > (off_t)sizeof(buf) ? sizeof(buf) : (size_t)pos;

		n = pread(rfd, buf, want, pos - (off_t)want);
		if (n != (ssize_t)want)
			goto out;
		pos -= (off_t)want;
		while (n > 0 && start < 0)
			if (buf[--n] == '\n')
				start = pos + n + 1;
	}
	if (start < 0 && pos == 0)
		start = 0;
	if (start < 0)
		goto out;
	/* the tail may be shorter than the start of a line */
	cmp = end - start < (off_t)sizeof(head) ? (size_t)(end - start) :
						  sizeof(head);
	if (pread(rfd, head, cmp, start) != (ssize_t)cmp ||
	    memcmp(head, LINE_START, cmp) != 0)
		goto out;
	if (ftruncate(fd, start) == 0)
		log_warn(
			"audit log %s: cut %lld bytes at its end, the start of "
			"a line an earlier ipwalld did not finish (it was "
			"stopped in the middle of a write)",
			path, (long long)(end - start));
out:
	close(rfd);
}

static int open_file(const char *path)
{
	int fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640);

	if (fd >= 0)
		cut_incomplete_tail(path, fd);
	return fd;
}

int ipwd_audit_open(struct ipwd_audit **out, const char *dest, char *err,
		    size_t errlen)
{
	struct ipwd_audit *a;
	struct stat st;
	int e;

	a = calloc(1, sizeof(*a));
	if (a == NULL) {
		snprintf(err, errlen, "audit log: out of memory");
		errno = ENOMEM;
		return -1;
	}
	a->fd = -1;
	if (dest == NULL || *dest == '\0' || strcmp(dest, "none") == 0) {
		a->kind = AUDIT_NONE;
	} else if (strcmp(dest, "-") == 0 || strcmp(dest, "stdout") == 0) {
		a->kind = AUDIT_STDOUT;
		a->fd = STDOUT_FILENO;
	} else if (strcmp(dest, "journal") == 0) {
		/* Fail now rather than lose every record later: without
		 * journald, sd_journal_sendv() has nowhere to send. */
		e = stat(JOURNAL_SOCKET, &st) != 0 ? errno :
		    !S_ISSOCK(st.st_mode)	   ? ENOTSOCK :
						     0;
		if (e != 0) {
			snprintf(err, errlen,
				 "audit log \"journal\": no systemd journal "
				 "(%s: %s)",
				 JOURNAL_SOCKET, strerror(e));
			free(a);
			errno = e;
			return -1;
		}
		a->kind = AUDIT_JOURNAL;
	} else {
		a->kind = AUDIT_FILE;
		a->path = strdup(dest);
		if (a->path == NULL) {
			snprintf(err, errlen, "audit log: out of memory");
			free(a);
			errno = ENOMEM;
			return -1;
		}
		a->fd = open_file(dest);
		if (a->fd < 0) {
			e = errno;
			snprintf(err, errlen,
				 "cannot open audit log \"%s\": %s", dest,
				 strerror(e));
			free(a->path);
			free(a);
			errno = e;
			return -1;
		}
	}
	pthread_mutex_init(&a->lock, NULL);
	*out = a;
	return 0;
}

void ipwd_audit_close(struct ipwd_audit *a)
{
	if (a == NULL)
		return;
	if (a->kind == AUDIT_FILE)
		close(a->fd);
	pthread_mutex_destroy(&a->lock);
	free(a->path);
	free(a);
}

int ipwd_audit_reopen(struct ipwd_audit *a)
{
	int fd, old;

	if (a == NULL || a->kind != AUDIT_FILE)
		return 0;
	fd = open_file(a->path);
	if (fd < 0)
		return -1;
	pthread_mutex_lock(&a->lock);
	old = a->fd;
	a->fd = fd;
	pthread_mutex_unlock(&a->lock);
	close(old);
	return 0;
}

/* Write all @len bytes; *@done: how many were written, also on failure. */
static int write_all(int fd, const char *buf, size_t len, size_t *done)
{
	ssize_t w;

	*done = 0;
	while (*done < len) {
		w = write(fd, buf + *done, len - *done);
		if (w < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		*done += (size_t)w;
	}
	return 0;
}

/* After a failed write of @buf of which @done bytes landed at the end of
 * the regular file @fd: cut the file back to the end of the last whole
 * line written. Lock held. */
static void cut_partial_line(int fd, const char *buf, size_t done)
{
	size_t keep = done;
	struct stat st;

	while (keep > 0 && buf[keep - 1] != '\n')
		keep--;
	if (keep == done || fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) ||
	    st.st_size < (off_t)(done - keep))
		return;
	if (ftruncate(fd, st.st_size - (off_t)(done - keep)) != 0)
		return; /* nothing more can be done; the caller reports */
}

/* The lines of @recs, each with its '\n', in one malloc'd buffer, made
 * by one generator. */
static char *build_lines(const struct ipwd_oprec *recs, size_t n, size_t *lenp)
{
	struct buf b = {0};
	yajl_gen g = gen_new(&b);
	size_t i;

	if (g == NULL)
		goto nomem;
	for (i = 0; i < n && !b.oom; i++) {
		gen_line(g, &recs[i]);
		yajl_gen_reset(g, "\n");
	}
	yajl_gen_free(g);
	if (b.oom)
		goto nomem;
	*lenp = b.len;
	return b.p;
nomem:
	free(b.p);
	errno = ENOMEM;
	return NULL;
}

/* "NAME=value" into @buf, cut to fit; returns its length. */
static size_t field(char *buf, size_t size, const char *name, const char *value)
{
	int n = snprintf(buf, size, "%s=%s", name, value ? value : "");

	if (n < 0)
		return 0;
	return (size_t)n < size ? (size_t)n : size - 1;
}

/* One journal entry for @r, whose line is @line. Returns 0 or a negative
 * errno. */
static int journal_send(const struct ipwd_oprec *r, const char *line)
{
	char id[64], act[64], tgt[16 + IPW_ADDR_STRLEN];
	char addr[IPW_ADDR_STRLEN];
	struct iovec iov[6];
	size_t n = 0, l;
	char *msg;
	int rc;

	l = strlen(line);
	msg = malloc(l + sizeof("MESSAGE="));
	if (msg == NULL)
		return -ENOMEM;
	memcpy(msg, "MESSAGE=", 8);
	memcpy(msg + 8, line, l + 1);
	iov[n++] = (struct iovec){msg, l + 8};
	iov[n++] = (struct iovec){id,
				  field(id, sizeof(id), "IPWALL_OP_ID", r->id)};
	iov[n++] = (struct iovec){act, field(act, sizeof(act), "IPWALL_ACTION",
					     ipwd_action_name(r->action))};
	if (r->action != IPWD_ACT_MODE &&
	    ipw_addr_format(&r->target, addr, sizeof(addr)) >= 0)
		iov[n++] = (struct iovec){
			tgt, field(tgt, sizeof(tgt), "IPWALL_TARGET", addr)};
	iov[n++] = (struct iovec){(char *)"PRIORITY=6", 10};
	iov[n++] =
		(struct iovec){(char *)"SYSLOG_IDENTIFIER=ipwalld-audit", 31};
	rc = sd_journal_sendv(iov, (int)n);
	free(msg);
	return rc;
}

/* The journal: every line built first, then sent under the lock so the
 * records of one call stay together. */
static int write_journal(struct ipwd_audit *a, const struct ipwd_oprec *recs,
			 size_t n)
{
	char **lines;
	size_t i;
	int rc = 0;

	lines = calloc(n, sizeof(*lines));
	if (lines == NULL)
		goto nomem;
	for (i = 0; i < n; i++)
		if ((lines[i] = ipwd_audit_line(&recs[i])) == NULL)
			goto nomem;
	pthread_mutex_lock(&a->lock);
	for (i = 0; i < n && rc == 0; i++)
		rc = journal_send(&recs[i], lines[i]);
	pthread_mutex_unlock(&a->lock);
	for (i = 0; i < n; i++)
		free(lines[i]);
	free(lines);
	if (rc < 0) {
		errno = -rc;
		return -1;
	}
	return 0;
nomem:
	if (lines)
		for (i = 0; i < n; i++)
			free(lines[i]);
	free(lines);
	errno = ENOMEM;
	return -1;
}

int ipwd_audit_last_op(struct ipwd_audit *a, char *id, size_t idlen,
		       uint64_t *seq)
{
	char buf[65536], *end, *start;
	struct stat st;
	json_t *o, *v;
	off_t off;
	ssize_t n;
	int rc = 0, rfd;

	*seq = 0;
	if (a == NULL || a->kind != AUDIT_FILE)
		return 0;
	/* the log's own descriptor is write-only: read through another */
	pthread_mutex_lock(&a->lock);
	rfd = open(a->path, O_RDONLY | O_CLOEXEC);
	if (rfd < 0 || fstat(rfd, &st) != 0 || !S_ISREG(st.st_mode) ||
	    st.st_size == 0) {
		pthread_mutex_unlock(&a->lock);
		if (rfd >= 0)
			close(rfd);
		return rfd < 0 ? -1 : 0;
	}
	off = st.st_size > (off_t)sizeof(buf) - 1 ?
		      st.st_size - (off_t)sizeof(buf) + 1 :
		      0;
	n = pread(rfd, buf, (size_t)(st.st_size - off), off);
	pthread_mutex_unlock(&a->lock);
	close(rfd);
	if (n <= 0)
		return n < 0 ? -1 : 0;
	buf[n] = '\0';
	/* the last whole line: the file ends in '\n' (opening cut any
	 * unfinished line) */
	end = buf + n;
	if (end[-1] != '\n')
		return 0;
	*--end = '\0';
	start = strrchr(buf, '\n');
	start = start ? start + 1 : (off == 0 ? buf : NULL);
	if (start == NULL)
		return 0; /* a line longer than the window: not ours */
	o = json_loads(start, 0, NULL);
	v = json_object_get(o, "op");
	if (json_is_string(v) && strlen(json_string_value(v)) < idlen) {
		snprintf(id, idlen, "%s", json_string_value(v));
		rc = 1;
		v = json_object_get(o, "seq");
		if (json_is_integer(v) && json_integer_value(v) > 0)
			*seq = (uint64_t)json_integer_value(v);
	}
	json_decref(o);
	return rc;
}

bool ipwd_audit_enabled(const struct ipwd_audit *a)
{
	return a != NULL && a->kind != AUDIT_NONE;
}

int ipwd_audit_write(struct ipwd_audit *a, const struct ipwd_oprec *recs,
		     size_t n)
{
	size_t len, done;
	char *buf;
	int rc, e;

	if (a == NULL || a->kind == AUDIT_NONE || n == 0)
		return 0;
	if (a->kind == AUDIT_JOURNAL)
		return write_journal(a, recs, n);
	buf = build_lines(recs, n, &len);
	if (buf == NULL)
		return -1;
	pthread_mutex_lock(&a->lock);
	rc = write_all(a->fd, buf, len, &done);
	e = errno;
	if (rc != 0 && done > 0)
		cut_partial_line(a->fd, buf, done);
	pthread_mutex_unlock(&a->lock);
	free(buf);
	errno = e;
	return rc;
}
