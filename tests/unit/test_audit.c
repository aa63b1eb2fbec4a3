// SPDX-License-Identifier: MIT
/*
 * Unit tests of the audit log (src/daemon/audit.h): golden lines for every
 * action and result (each golden also parsed back with jansson), entry
 * objects, escaping of quotes, control characters, non-ASCII and
 * ill-formed UTF-8; then the destinations: a file (a group of records,
 * its mode), standard output, reopening after a logrotate-style rename,
 * "none", paths that cannot be opened, the journal (only that opening
 * succeeds or fails cleanly: no journald is assumed), four threads
 * writing at once, whose lines must never interleave, and whole lines
 * only: a write cut short (a file size limit, as a full disk) and the
 * tail a killed ipwalld left are cut back to the last whole line.
 * Time is fixed (NOW).
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <signal.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>

#include <ipwall/addr.h>

#include "oplog/audit.h"
#include "tap.h"

#define NOW  INT64_C(1700000000) /* 2023-11-14T22:13:20Z */
#define OPID "01900000-0000-7000-8000-000000000001"

static char tmpdir[] = "/tmp/test_audit.XXXXXX";

static struct ipw_entry_info mk_entry(const char *target, enum ipw_list list,
				      int64_t expires, int64_t created,
				      uint32_t score, unsigned flags,
				      const char *reason, const char *actor,
				      const char *source)
{
	struct ipw_entry_info e;

	memset(&e, 0, sizeof(e));
	if (ipw_addr_parse_str(target, 0, &e.target) != 0)
		abort();
	e.list = list;
	e.expires = expires;
	e.created = created;
	e.score = score;
	e.flags = flags;
	e.hits = 1234; /* never in the log */
	e.last_hit = NOW - 5;
	snprintf(e.reason, sizeof(e.reason), "%s", reason);
	snprintf(e.actor, sizeof(e.actor), "%s", actor);
	snprintf(e.source, sizeof(e.source), "%s", source);
	return e;
}

static struct ipwd_oprec mk_rec(enum ipwd_action action, enum ipw_list list,
				const char *target, int change,
				const struct ipw_entry_info *before,
				const struct ipw_entry_info *after)
{
	struct ipwd_oprec r;

	memset(&r, 0, sizeof(r));
	r.id = OPID;
	r.seq = 7;
	r.time = NOW;
	r.actor = "token:admin";
	r.node = "host1";
	r.action = action;
	r.list = list;
	if (target && ipw_addr_parse_str(target, 0, &r.target) != 0)
		abort();
	r.change = change;
	r.before = before;
	r.after = after;
	return r;
}

/* The prefix every golden line of mk_rec() shares. */
#define HEAD(actor, action, result)                                       \
	"{\"ts\":\"2023-11-14T22:13:20Z\",\"op\":\"" OPID "\",\"seq\":7," \
	"\"node\":\"host1\",\"actor\":\"" actor "\",\"action\":\"" action \
	"\",\"result\":\"" result "\","

/* Check @r's line against @want, and that @want is itself valid JSON
 * that jansson reads back as the same value as the line. */
static void check_line(const struct ipwd_oprec *r, const char *want,
		       const char *name)
{
	char *got = ipwd_audit_line(r);
	json_t *jg, *jw;

	is_str(got, want, "golden: %s", name);
	jg = got ? json_loads(got, 0, NULL) : NULL;
	jw = json_loads(want, 0, NULL);
	ok(jg && jw && json_equal(jg, jw), "golden parses back: %s", name);
	json_decref(jg);
	json_decref(jw);
	free(got);
}

/* ---------------------------------------------------------------- */
/* Golden lines */

static const struct ipw_entry_info *e_ban_new(void)
{
	static struct ipw_entry_info e;

	e = mk_entry("203.0.113.7", IPW_LIST_BAN, NOW + 600, NOW, 5, 0,
		     "ssh brute force", "token:admin", "sshd");
	return &e;
}

#define E_BAN_NEW                                                         \
	"{\"target\":\"203.0.113.7\",\"list\":\"bans\","                  \
	"\"expires\":1700000600,\"expires_at\":\"2023-11-14T22:23:20Z\"," \
	"\"created\":1700000000,\"score\":5,\"auto\":false,"              \
	"\"reason\":\"ssh brute force\",\"actor\":\"token:admin\","       \
	"\"source\":\"sshd\"}"

#define G_BAN_ADDED                                               \
	HEAD("token:admin", "ban", "added")                       \
	"\"list\":\"bans\",\"target\":\"203.0.113.7\","           \
	"\"reason\":\"ssh brute force\",\"score\":5,\"ttl\":600," \
	"\"expires\":1700000600,\"before\":null,\"after\":" E_BAN_NEW "}"

static void test_golden(void)
{
	struct ipw_entry_info before, after, e;
	struct ipwd_oprec r;

	/* ban added, with a TTL */
	r = mk_rec(IPWD_ACT_BAN, IPW_LIST_BAN, "203.0.113.7", IPW_CHANGE_ADDED,
		   NULL, e_ban_new());
	check_line(&r, G_BAN_ADDED, "ban added with a ttl");

	/* ban extended: later expiry, higher score, new reason */
	before = *e_ban_new();
	after = before;
	after.expires = NOW + 3600;
	after.score = 8;
	snprintf(after.reason, sizeof(after.reason), "still at it");
	r = mk_rec(IPWD_ACT_BAN, IPW_LIST_BAN, "203.0.113.7",
		   IPW_CHANGE_EXTENDED, &before, &after);
	check_line(
		&r,
		HEAD("token:admin", "ban",
		     "extended") "\"list\":\"bans\","
				 "\"target\":\"203.0.113.7\",\"reason\":\"still at it\","
				 "\"score\":8,\"ttl\":3600,\"expires\":1700003600,"
				 "\"before\":" E_BAN_NEW
				 ",\"after\":{\"target\":\"203.0.113.7\","
				 "\"list\":\"bans\",\"expires\":1700003600,"
				 "\"expires_at\":\"2023-11-14T23:13:20Z\","
				 "\"created\":1700000000,\"score\":8,\"auto\":false,"
				 "\"reason\":\"still at it\",\"actor\":\"token:admin\","
				 "\"source\":\"sshd\"}}",
		"ban extended");

	/* ban unchanged, permanent: ttl and expires null */
	e = mk_entry("198.51.100.0/24", IPW_LIST_BAN, 0, NOW - 100, 0, 0, "",
		     "unix:root", "");
	r = mk_rec(IPWD_ACT_BAN, IPW_LIST_BAN, "198.51.100.0/24",
		   IPW_CHANGE_UNCHANGED, &e, &e);
	r.actor = "unix:root";
#define E_PERM                                                                \
	"{\"target\":\"198.51.100.0/24\",\"list\":\"bans\",\"expires\":null," \
	"\"expires_at\":null,\"created\":1699999900,\"score\":0,"             \
	"\"auto\":false,\"reason\":null,\"actor\":\"unix:root\","             \
	"\"source\":null}"
	check_line(
		&r,
		HEAD("unix:root", "ban",
		     "unchanged") "\"list\":\"bans\",\"target\":\"198.51.100.0/24\","
				  "\"reason\":null,\"score\":0,\"ttl\":null,\"expires\":null,"
				  "\"before\":" E_PERM ",\"after\":" E_PERM "}",
		"permanent ban unchanged: ttl null, empty reason null");

	/* unban removed: after null, the rest from before */
	before = *e_ban_new();
	r = mk_rec(IPWD_ACT_UNBAN, IPW_LIST_BAN, "203.0.113.7",
		   IPW_CHANGE_REMOVED, &before, NULL);
	r.time = NOW + 100;
	r.seq = 0; /* an op recorded before sequences: null */
	check_line(&r,
		   "{\"ts\":\"2023-11-14T22:15:00Z\",\"op\":\"" OPID "\","
		   "\"seq\":null,\"node\":\"host1\",\"actor\":\"token:admin\","
		   "\"action\":\"unban\",\"result\":\"removed\","
		   "\"list\":\"bans\",\"target\":\"203.0.113.7\","
		   "\"reason\":\"ssh brute force\",\"score\":5,\"ttl\":500,"
		   "\"expires\":1700000600,\"before\":" E_BAN_NEW
		   ",\"after\":null}",
		   "unban removed");

	/* allow added, permanent */
	after = mk_entry("192.0.2.0/24", IPW_LIST_ALLOW, 0, NOW, 0, 0, "office",
			 "token:ops", "");
	r = mk_rec(IPWD_ACT_ALLOW, IPW_LIST_ALLOW, "192.0.2.0/24",
		   IPW_CHANGE_ADDED, NULL, &after);
	r.actor = "token:ops";
	check_line(
		&r,
		HEAD("token:ops", "allow",
		     "added") "\"list\":\"allows\",\"target\":\"192.0.2.0/24\","
			      "\"reason\":\"office\",\"score\":0,\"ttl\":null,"
			      "\"expires\":null,\"before\":null,\"after\":{"
			      "\"target\":\"192.0.2.0/24\",\"list\":\"allows\","
			      "\"expires\":null,\"expires_at\":null,"
			      "\"created\":1700000000,\"score\":0,\"auto\":false,"
			      "\"reason\":\"office\",\"actor\":\"token:ops\","
			      "\"source\":null}}",
		"allow added, permanent");

	/* disallow of nothing: both null, and so is everything about it */
	r = mk_rec(IPWD_ACT_DISALLOW, IPW_LIST_ALLOW, "192.0.2.9",
		   IPW_CHANGE_ABSENT, NULL, NULL);
	check_line(
		&r,
		HEAD("token:admin", "disallow",
		     "absent") "\"list\":\"allows\",\"target\":\"192.0.2.9\","
			       "\"reason\":null,\"score\":null,\"ttl\":null,"
			       "\"expires\":null,\"before\":null,\"after\":null}",
		"disallow absent");

	/* mode: no list, no target */
	r = mk_rec(IPWD_ACT_MODE, IPW_LIST_BAN, NULL, IPW_CHANGE_MODE, NULL,
		   NULL);
	r.mode = IPW_MODE_ALLOWLIST;
	check_line(
		&r,
		HEAD("token:admin", "mode",
		     "changed") "\"mode\":\"allowlist\",\"reason\":null,\"score\":null,"
				"\"ttl\":null,\"expires\":null,\"before\":null,"
				"\"after\":null}",
		"mode changed");
	r.change = IPW_CHANGE_UNCHANGED;
	r.mode = IPW_MODE_DENYLIST;
	check_line(
		&r,
		HEAD("token:admin", "mode",
		     "unchanged") "\"mode\":\"denylist\",\"reason\":null,\"score\":null,"
				  "\"ttl\":null,\"expires\":null,\"before\":null,"
				  "\"after\":null}",
		"mode unchanged");

	/* expire: an automatic ban whose time is up, by the purger */
	before = mk_entry("203.0.113.9", IPW_LIST_BAN, NOW - 2, NOW - 602, 3,
			  IPW_ENTRY_AUTO, "rule ssh", "rule:ssh", "sshd");
	r = mk_rec(IPWD_ACT_EXPIRE, IPW_LIST_BAN, "203.0.113.9",
		   IPW_CHANGE_REMOVED, &before, NULL);
	r.actor = "purger";
	check_line(
		&r,
		HEAD("purger", "expire",
		     "removed") "\"list\":\"bans\",\"target\":\"203.0.113.9\","
				"\"reason\":\"rule ssh\",\"score\":3,\"ttl\":0,"
				"\"expires\":1699999998,\"before\":{"
				"\"target\":\"203.0.113.9\",\"list\":\"bans\","
				"\"expires\":1699999998,"
				"\"expires_at\":\"2023-11-14T22:13:18Z\","
				"\"created\":1699999398,\"score\":3,\"auto\":true,"
				"\"reason\":\"rule ssh\",\"actor\":\"rule:ssh\","
				"\"source\":\"sshd\"},\"after\":null}",
		"expire");

	/* evict: an automatic ban pushed out by a manual one */
	before = mk_entry("203.0.113.10", IPW_LIST_BAN, NOW + 60, NOW - 60, 1,
			  IPW_ENTRY_AUTO, "", "rule:http", "");
	r = mk_rec(IPWD_ACT_EVICT, IPW_LIST_BAN, "203.0.113.10",
		   IPW_CHANGE_REMOVED, &before, NULL);
	check_line(
		&r,
		HEAD("token:admin", "evict",
		     "removed") "\"list\":\"bans\",\"target\":\"203.0.113.10\","
				"\"reason\":null,\"score\":1,\"ttl\":60,"
				"\"expires\":1700000060,\"before\":{"
				"\"target\":\"203.0.113.10\",\"list\":\"bans\","
				"\"expires\":1700000060,"
				"\"expires_at\":\"2023-11-14T22:14:20Z\","
				"\"created\":1699999940,\"score\":1,\"auto\":true,"
				"\"reason\":null,\"actor\":\"rule:http\","
				"\"source\":null},\"after\":null}",
		"evict");

	/* IPv6 prefix */
	after = mk_entry("2001:db8:0:0::/32", IPW_LIST_BAN, NOW + 86400, NOW,
			 10, 0, "v6 scanner", "token:admin", "feed");
	r = mk_rec(IPWD_ACT_BAN, IPW_LIST_BAN, "2001:db8::/32",
		   IPW_CHANGE_ADDED, NULL, &after);
	check_line(
		&r,
		HEAD("token:admin", "ban",
		     "added") "\"list\":\"bans\",\"target\":\"2001:db8::/32\","
			      "\"reason\":\"v6 scanner\",\"score\":10,\"ttl\":86400,"
			      "\"expires\":1700086400,\"before\":null,\"after\":{"
			      "\"target\":\"2001:db8::/32\",\"list\":\"bans\","
			      "\"expires\":1700086400,"
			      "\"expires_at\":\"2023-11-15T22:13:20Z\","
			      "\"created\":1700000000,\"score\":10,\"auto\":false,"
			      "\"reason\":\"v6 scanner\",\"actor\":\"token:admin\","
			      "\"source\":\"feed\"}}",
		"IPv6 prefix target");
}

/* Text that JSON must escape, and text it must carry as is. */
static void test_escaping(void)
{
	struct ipw_entry_info e;
	char *got;

	e = mk_entry("203.0.113.7", IPW_LIST_BAN, 0, NOW, 0, 0,
		     "say \"hi\"\\\n\t\x01 na\xc3\xafve \xe2\x98\x83 "
		     "\xf0\x9f\x9a\xab /",
		     "token:a\"b", "src\r");
	got = ipwd_audit_entry_json(&e);
	is_str(got,
	       "{\"target\":\"203.0.113.7\",\"list\":\"bans\","
	       "\"expires\":null,\"expires_at\":null,\"created\":1700000000,"
	       "\"score\":0,\"auto\":false,"
	       "\"reason\":\"say \\\"hi\\\"\\\\\\n\\t\\u0001 na\xc3\xafve "
	       "\xe2\x98\x83 \xf0\x9f\x9a\xab /\","
	       "\"actor\":\"token:a\\\"b\",\"source\":\"src\\r\"}",
	       "quotes, backslash, control characters escaped; UTF-8 kept");
	{
		json_t *j = got ? json_loads(got, 0, NULL) : NULL;
		json_t *rs = json_object_get(j, "reason");

		ok(json_is_string(rs) &&
			   strcmp(json_string_value(rs),
				  "say \"hi\"\\\n\t\x01 na\xc3\xafve "
				  "\xe2\x98\x83 \xf0\x9f\x9a\xab /") == 0,
		   "escaped reason reads back byte for byte");
		json_decref(j);
	}
	free(got);

	/* Ill-formed UTF-8: a lone continuation byte, a truncated sequence,
	 * an overlong '/', a surrogate, a byte that never occurs. */
	snprintf(e.reason, sizeof(e.reason),
		 "a\x80"
		 "b\xe2\x98"
		 "c\xc0\xaf"
		 "d\xed\xa0\x80"
		 "e\xff");
	e.actor[0] = '\0';
	e.source[0] = '\0';
	got = ipwd_audit_entry_json(&e);
	is_str(got,
	       "{\"target\":\"203.0.113.7\",\"list\":\"bans\","
	       "\"expires\":null,\"expires_at\":null,\"created\":1700000000,"
	       "\"score\":0,\"auto\":false,"
	       "\"reason\":\"a\xef\xbf\xbd"
	       "b\xef\xbf\xbd\xef\xbf\xbd"
	       "c\xef\xbf\xbd\xef\xbf\xbd"
	       "d\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd"
	       "e\xef\xbf\xbd\",\"actor\":null,\"source\":null}",
	       "ill-formed UTF-8 becomes U+FFFD, empty actor/source null");
	free(got);
}

/* ---------------------------------------------------------------- */
/* Destinations */

static char *path_in(const char *name)
{
	static char buf[4][256];
	static int k;

	k = (k + 1) % 4;
	snprintf(buf[k], sizeof(buf[k]), "%s/%s", tmpdir, name);
	return buf[k];
}

/* The whole file (NUL-terminated, malloc'd); NULL if unreadable. */
static char *slurp(const char *path)
{
	FILE *f = fopen(path, "r");
	char *buf;
	long n;

	if (f == NULL)
		return NULL;
	fseek(f, 0, SEEK_END);
	n = ftell(f);
	rewind(f);
	buf = malloc((size_t)n + 1);
	if (buf && fread(buf, 1, (size_t)n, f) != (size_t)n) {
		free(buf);
		buf = NULL;
	}
	if (buf)
		buf[n] = '\0';
	fclose(f);
	return buf;
}

static size_t count_lines(const char *s)
{
	size_t n = 0;

	for (; s && *s; s++)
		n += *s == '\n';
	return n;
}

/* Line @i (0-based) of @s, malloc'd, without its '\n'. */
static char *nth_line(const char *s, size_t i)
{
	const char *end;

	while (s && i-- > 0) {
		s = strchr(s, '\n');
		if (s)
			s++;
	}
	if (s == NULL || (end = strchr(s, '\n')) == NULL)
		return NULL;
	return strndup(s, (size_t)(end - s));
}

static void three_recs(struct ipwd_oprec recs[3], struct ipw_entry_info *e)
{
	*e = *e_ban_new();
	recs[0] = mk_rec(IPWD_ACT_BAN, IPW_LIST_BAN, "203.0.113.7",
			 IPW_CHANGE_ADDED, NULL, e);
	recs[1] = mk_rec(IPWD_ACT_UNBAN, IPW_LIST_BAN, "203.0.113.7",
			 IPW_CHANGE_REMOVED, e, NULL);
	recs[2] = mk_rec(IPWD_ACT_MODE, IPW_LIST_BAN, NULL, IPW_CHANGE_MODE,
			 NULL, NULL);
	recs[2].mode = IPW_MODE_ALLOWLIST;
}

static void test_file(void)
{
	struct ipwd_oprec recs[3];
	struct ipw_entry_info e;
	struct ipwd_audit *a = NULL;
	char err[256] = "", *s, *line, *want;
	const char *path = path_in("audit.log");
	struct stat st;
	size_t i;
	bool same = true, parse = true;

	three_recs(recs, &e);
	is_int(ipwd_audit_open(&a, path, err, sizeof(err)), 0,
	       "open a file: %s", err);
	is_int(ipwd_audit_write(a, recs, 3), 0, "write 3 records at once");
	is_int(ipwd_audit_write(a, recs, 0), 0, "write 0 records");
	ok(stat(path, &st) == 0 && (st.st_mode & 0777) == 0640,
	   "file mode 0640");
	s = slurp(path);
	is_int(count_lines(s), 3, "3 lines");
	for (i = 0; i < 3; i++) {
		json_t *jl, *jw;

		line = nth_line(s, i);
		want = ipwd_audit_line(&recs[i]);
		same &= line && want && strcmp(line, want) == 0;
		jl = line ? json_loads(line, 0, NULL) : NULL;
		jw = want ? json_loads(want, 0, NULL) : NULL;
		parse &= jl && jw && json_equal(jl, jw);
		json_decref(jl);
		json_decref(jw);
		free(line);
		free(want);
	}
	ok(same, "each line is its record's line");
	ok(parse, "each line parses and equals its golden");
	line = nth_line(s, 0);
	is_str(line, G_BAN_ADDED, "first line is the golden ban line");
	free(line);
	free(s);
	ipwd_audit_close(a);

	/* Reopening appends to what is there. */
	is_int(ipwd_audit_open(&a, path, err, sizeof(err)), 0,
	       "open the same file again");
	is_int(ipwd_audit_write(a, recs, 1), 0, "write 1 more");
	ipwd_audit_close(a);
	s = slurp(path);
	is_int(count_lines(s), 4, "appended, not truncated");
	free(s);
}

static void test_reopen(void)
{
	struct ipwd_oprec recs[3];
	struct ipw_entry_info e;
	struct ipwd_audit *a = NULL;
	char err[256] = "", *s, *line;
	const char *path = path_in("rot.log"), *old = path_in("rot.log.1");

	three_recs(recs, &e);
	is_int(ipwd_audit_open(&a, path, err, sizeof(err)), 0, "open: %s", err);
	is_int(ipwd_audit_write(a, &recs[0], 1), 0, "write before rotation");
	ok(rename(path, old) == 0, "logrotate renames the file");
	is_int(ipwd_audit_write(a, &recs[1], 1), 0,
	       "write after rename, before reopen");
	ok(access(path, F_OK) != 0, "nothing at the path before reopen");
	is_int(ipwd_audit_reopen(a), 0, "reopen");
	is_int(ipwd_audit_write(a, &recs[2], 1), 0, "write after reopen");
	ipwd_audit_close(a);

	s = slurp(old);
	is_int(count_lines(s), 2, "old file keeps the 2 lines before reopen");
	line = nth_line(s, 1);
	ok(line && strstr(line, "\"action\":\"unban\""),
	   "old file's last line is the unban");
	free(line);
	free(s);
	s = slurp(path);
	is_int(count_lines(s), 1, "new file at the path has 1 line");
	line = nth_line(s, 0);
	ok(line && strstr(line, "\"action\":\"mode\""),
	   "new file's line is the mode op");
	free(line);
	free(s);

	/* Reopen fails (the directory is gone): the old file stays in use. */
	{
		char dir[256];

		snprintf(dir, sizeof(dir), "%s/gone", tmpdir);
		mkdir(dir, 0700);
		path = path_in("gone/x.log");
		is_int(ipwd_audit_open(&a, path, err, sizeof(err)), 0,
		       "open in a subdirectory");
		ok(rename(path, path_in("x.log.1")) == 0 && rmdir(dir) == 0,
		   "move the file out and remove the directory");
		ok(ipwd_audit_reopen(a) == -1 && errno == ENOENT,
		   "reopen fails with ENOENT");
		is_int(ipwd_audit_write(a, recs, 1), 0,
		       "writes still go to the old file");
		ipwd_audit_close(a);
		s = slurp(path_in("x.log.1"));
		is_int(count_lines(s), 1, "the old file got the line");
		free(s);
	}
}

static void test_stdout(void)
{
	struct ipwd_oprec recs[3];
	struct ipw_entry_info e;
	struct ipwd_audit *a = NULL;
	const char *path = path_in("stdout.log");
	char err[256] = "", *s, *line;
	int fd, saved, rc1, rc2, rc3, still_open;

	three_recs(recs, &e);
	fflush(stdout);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	saved = dup(STDOUT_FILENO);
	if (fd < 0 || saved < 0 || dup2(fd, STDOUT_FILENO) < 0) {
		ok(0, "redirect stdout");
		return;
	}
	rc1 = ipwd_audit_open(&a, "-", err, sizeof(err));
	rc2 = rc1 == 0 ? ipwd_audit_write(a, recs, 1) : -1;
	rc3 = rc1 == 0 ? ipwd_audit_reopen(a) : -1;
	ipwd_audit_close(a);
	rc1 |= ipwd_audit_open(&a, "stdout", err, sizeof(err));
	rc2 |= rc1 == 0 ? ipwd_audit_write(a, &recs[2], 1) : -1;
	ipwd_audit_close(a);
	still_open = fcntl(STDOUT_FILENO, F_GETFD) != -1;
	dup2(saved, STDOUT_FILENO);
	close(saved);
	close(fd);

	is_int(rc1, 0, "open \"-\" and \"stdout\"");
	is_int(rc2, 0, "write to stdout");
	is_int(rc3, 0, "reopen of stdout is a no-op");
	ok(still_open, "close did not close stdout");
	s = slurp(path);
	is_int(count_lines(s), 2, "2 lines on stdout");
	line = nth_line(s, 0);
	is_str(line, G_BAN_ADDED, "stdout line is the golden");
	free(line);
	free(s);
}

static void test_none(void)
{
	struct ipwd_oprec recs[3];
	struct ipw_entry_info e;
	struct ipwd_audit *a = NULL;
	char err[256] = "", cwd[512], dir[256];
	const char *dests[] = {"none", ""};
	size_t i, entries = 0;
	struct dirent *d;
	DIR *dh;

	three_recs(recs, &e);
	snprintf(dir, sizeof(dir), "%s/none", tmpdir);
	if (getcwd(cwd, sizeof(cwd)) == NULL || mkdir(dir, 0700) != 0 ||
	    chdir(dir) != 0) {
		ok(0, "enter an empty directory");
		return;
	}
	for (i = 0; i < 2; i++) {
		a = NULL;
		is_int(ipwd_audit_open(&a, dests[i], err, sizeof(err)), 0,
		       "open \"%s\"", dests[i]);
		ok(a != NULL, "\"%s\" gives an object", dests[i]);
		is_int(ipwd_audit_write(a, recs, 3), 0, "write to \"%s\"",
		       dests[i]);
		is_int(ipwd_audit_reopen(a), 0, "reopen \"%s\"", dests[i]);
		ipwd_audit_close(a);
	}
	dh = opendir(".");
	while (dh && (d = readdir(dh)) != NULL)
		entries += strcmp(d->d_name, ".") != 0 &&
			   strcmp(d->d_name, "..") != 0;
	if (dh)
		closedir(dh);
	is_int(entries, 0, "\"none\" created no file");
	if (chdir(cwd) != 0)
		diag("cannot return to %s", cwd);
	rmdir(dir);

	is_int(ipwd_audit_write(NULL, recs, 3), 0, "write to NULL: nothing");
	is_int(ipwd_audit_reopen(NULL), 0, "reopen NULL: nothing");
	ipwd_audit_close(NULL);
}

static void test_open_errors(void)
{
	struct ipwd_audit *a = NULL;
	char err[256] = "";
	int rc;

	rc = ipwd_audit_open(&a, "/nonexistent-ipwall-dir/audit.log", err,
			     sizeof(err));
	is_int(rc, -1, "open in a missing directory fails");
	ok(errno == ENOENT, "errno ENOENT");
	ok(strstr(err, "/nonexistent-ipwall-dir/audit.log") &&
		   strstr(err, strerror(ENOENT)),
	   "message names the path and the cause: %s", err);

	err[0] = '\0';
	rc = ipwd_audit_open(&a, tmpdir, err, sizeof(err));
	is_int(rc, -1, "open a directory fails");
	ok(strstr(err, tmpdir) != NULL, "message names it: %s", err);
}

static void test_journal(void)
{
	struct ipwd_oprec recs[3];
	struct ipw_entry_info e;
	struct ipwd_audit *a = NULL;
	char err[256] = "";
	int rc;

	three_recs(recs, &e);
	errno = 0;
	rc = ipwd_audit_open(&a, "journal", err, sizeof(err));
	if (rc == 0) {
		ok(a != NULL, "journal: opened");
		rc = ipwd_audit_write(a, recs, 3);
		ok(rc == 0 || errno != 0, "journal: write returns cleanly");
		is_int(ipwd_audit_reopen(a), 0, "journal: reopen is a no-op");
		ipwd_audit_close(a);
	} else {
		ok(rc == -1 && errno != 0 && err[0] != '\0',
		   "journal: open fails cleanly (%s)", err);
		ok(strstr(err, "journal") != NULL,
		   "journal: message says what failed");
		ok(1, "journal: nothing to reopen");
	}
}

/* ---------------------------------------------------------------- */
/* Concurrent writers */

#define THREADS	   4
#define PER_THREAD 2000

struct writer {
	struct ipwd_audit *a;
	int no;
	int failed;
};

static void *writer_main(void *arg)
{
	struct writer *w = arg;
	struct ipw_entry_info e;
	struct ipwd_oprec r[2];
	char id[2][64];
	int i, k;

	e = *e_ban_new();
	for (i = 0; i < PER_THREAD; i += k) {
		/* Lines of varying length, one or two per call. */
		k = (i % 3 == 0 && i + 1 < PER_THREAD) ? 2 : 1;
		memset(e.reason, 'a' + w->no, (size_t)(i % 200));
		e.reason[i % 200] = '\0';
		for (int j = 0; j < k; j++) {
			snprintf(id[j], sizeof(id[j]), "t%d-%d", w->no, i + j);
			r[j] = mk_rec(IPWD_ACT_BAN, IPW_LIST_BAN, "203.0.113.7",
				      IPW_CHANGE_ADDED, NULL, &e);
			r[j].id = id[j];
		}
		if (ipwd_audit_write(w->a, r, (size_t)k) != 0)
			w->failed++;
	}
	return NULL;
}

/* "t<thread>-<n>" -> *t, *n; false if it is not that. */
static bool parse_tn(const char *s, int *t, int *n)
{
	char *end;
	long a, b;

	if (s[0] != 't')
		return false;
	a = strtol(s + 1, &end, 10);
	if (end == s + 1 || *end != '-')
		return false;
	s = end + 1;
	b = strtol(s, &end, 10);
	if (end == s || *end != '\0')
		return false;
	*t = (int)a;
	*n = (int)b;
	return true;
}

static void test_concurrent(void)
{
	struct writer w[THREADS];
	pthread_t th[THREADS];
	struct ipwd_audit *a = NULL;
	const char *path = path_in("conc.log");
	char err[256] = "", *s, *p, *nl;
	int next[THREADS] = {0}, failed = 0, t, n;
	size_t lines = 0, bad = 0, order = 0;

	if (ipwd_audit_open(&a, path, err, sizeof(err)) != 0) {
		ok(0, "open: %s", err);
		return;
	}
	for (t = 0; t < THREADS; t++) {
		w[t] = (struct writer){a, t, 0};
		pthread_create(&th[t], NULL, writer_main, &w[t]);
	}
	for (t = 0; t < THREADS; t++) {
		pthread_join(th[t], NULL);
		failed += w[t].failed;
	}
	ipwd_audit_close(a);
	is_int(failed, 0, "no write failed");

	s = slurp(path);
	for (p = s; p && *p; p = nl + 1) {
		json_t *j, *id;

		nl = strchr(p, '\n');
		if (nl == NULL) {
			bad++;
			break;
		}
		*nl = '\0';
		lines++;
		j = json_loads(p, 0, NULL);
		id = json_object_get(j, "op");
		if (!json_is_string(id) ||
		    !parse_tn(json_string_value(id), &t, &n) || t < 0 ||
		    t >= THREADS)
			bad++;
		else if (n != next[t]++)
			order++;
		json_decref(j);
	}
	free(s);
	is_int(lines, THREADS * PER_THREAD, "%d lines", THREADS * PER_THREAD);
	is_int(bad, 0, "every line parses (no interleaving)");
	is_int(order, 0, "each thread's lines in its order");
}

/* ---------------------------------------------------------------- */

/* Every line of @s parses as a JSON object, and @s ends with '\n'. */
static bool all_lines_parse(const char *s)
{
	size_t i, n = count_lines(s);
	bool good = s && *s && s[strlen(s) - 1] == '\n';

	for (i = 0; good && i < n; i++) {
		char *line = nth_line(s, i);
		json_t *j = line ? json_loads(line, 0, NULL) : NULL;

		good = json_is_object(j);
		json_decref(j);
		free(line);
	}
	return good;
}

/* A write cut short part way through a line (here by RLIMIT_FSIZE, which
 * fails a write past the limit as a full disk does) must not leave the
 * start of a line for the next group to be glued to. */
static void test_short_write(void)
{
	struct ipwd_oprec recs[3];
	struct ipw_entry_info e;
	struct ipwd_audit *a = NULL;
	char err[256] = "", *s, *one;
	const char *path = path_in("short.log");
	struct rlimit old, lim;
	size_t len1;
	int rc;

	three_recs(recs, &e);
	one = ipwd_audit_line(&recs[0]);
	len1 = strlen(one) + 1;
	free(one);
	is_int(ipwd_audit_open(&a, path, err, sizeof(err)), 0, "open: %s", err);
	is_int(ipwd_audit_write(a, recs, 1), 0, "one line written");
	/* room for the next line and half of the one after */
	signal(SIGXFSZ, SIG_IGN);
	getrlimit(RLIMIT_FSIZE, &old);
	lim = old;
	lim.rlim_cur = (rlim_t)(len1 + len1 + len1 / 2);
	setrlimit(RLIMIT_FSIZE, &lim);
	rc = ipwd_audit_write(a, recs, 3);
	setrlimit(RLIMIT_FSIZE, &old);
	ok(rc == -1 && errno == EFBIG, "a group past the limit fails (EFBIG)");
	s = slurp(path);
	is_int(count_lines(s), 2,
	       "the whole line that fitted stays, the cut one does not");
	ok(all_lines_parse(s), "the file ends with a whole line");
	free(s);
	is_int(ipwd_audit_write(a, &recs[2], 1), 0,
	       "room again: a write works");
	ipwd_audit_close(a);
	s = slurp(path);
	ok(count_lines(s) == 3 && all_lines_parse(s),
	   "the next line is a line of its own, and every line parses");
	free(s);
	signal(SIGXFSZ, SIG_DFL);
}

/* The start of a line left at the end by an ipwalld killed mid-write is
 * cut when the file is opened; a file that ends otherwise is left alone. */
static void test_incomplete_tail(void)
{
	struct ipwd_oprec recs[3];
	struct ipw_entry_info e;
	struct ipwd_audit *a = NULL;
	char err[256] = "", *s, *line;
	const char *path = path_in("tail.log");
	FILE *f;

	three_recs(recs, &e);
	line = ipwd_audit_line(&recs[0]);
	f = fopen(path, "w");
	fprintf(f, "%s\n%.*s", line, (int)(strlen(line) / 2), line);
	fclose(f);
	free(line);
	is_int(ipwd_audit_open(&a, path, err, sizeof(err)), 0, "open: %s", err);
	is_int(ipwd_audit_write(a, &recs[1], 1), 0, "write after the crash");
	ipwd_audit_close(a);
	s = slurp(path);
	ok(count_lines(s) == 2 && all_lines_parse(s),
	   "the unfinished line was cut: 2 lines, both parse");
	free(s);

	f = fopen(path, "w");
	fprintf(f, "{\"ts");
	fclose(f);
	is_int(ipwd_audit_open(&a, path, err, sizeof(err)), 0, "open: %s", err);
	is_int(ipwd_audit_write(a, &recs[1], 1), 0, "write");
	ipwd_audit_close(a);
	s = slurp(path);
	ok(count_lines(s) == 1 && all_lines_parse(s),
	   "a tail of 4 bytes, the whole file, is cut too");
	free(s);

	f = fopen(path, "w");
	fprintf(f, "not an audit log, no newline");
	fclose(f);
	is_int(ipwd_audit_open(&a, path, err, sizeof(err)), 0, "open: %s", err);
	ipwd_audit_close(a);
	s = slurp(path);
	is_str(s, "not an audit log, no newline",
	       "a file that is not an audit log is left alone");
	free(s);
}

static void cleanup(void)
{
	const char *names[] = {"audit.log", "rot.log",	  "rot.log.1",
			       "x.log.1",   "stdout.log", "conc.log",
			       "short.log", "tail.log"};
	size_t i;

	for (i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		unlink(path_in(names[i]));
	if (rmdir(tmpdir) != 0)
		diag("left %s behind", tmpdir);
}

int main(void)
{
	umask(022);
	if (mkdtemp(tmpdir) == NULL) {
		printf("Bail out! mkdtemp: %s\n", strerror(errno));
		return 1;
	}
	test_golden();
	test_escaping();
	test_file();
	test_reopen();
	test_stdout();
	test_none();
	test_open_errors();
	test_journal();
	test_concurrent();
	test_short_write();
	test_incomplete_tail();
	cleanup();
	return done_testing();
}
