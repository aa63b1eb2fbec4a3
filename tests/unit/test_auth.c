// SPDX-License-Identifier: MIT
/*
 * Unit tests of ipwalld's bearer tokens (src/daemon/auth.h): creation of
 * the tokens file on first start (mode 0600 whatever the umask, one
 * "admin:" line of 64 hex digits), loading a file of several tokens, a
 * table of presented secrets (the right ones, and near misses: prefixes,
 * one byte more, one byte changed, empty, longer than any secret), a
 * table of bad files (each refused whole, the bad line named on stderr),
 * reload (a good file replaces the set, a bad one keeps it), and checks
 * from several threads while the set is reloaded under them.
 */
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <sys/stat.h>
#include <unistd.h>

#include "api/auth.h"
#include "tap.h"

static char dir[] = "/tmp/ipwall-test-auth-XXXXXX";

/* 16, 20, 128 printable bytes */
#define S_ALICE "0123456789abcdef"
#define S_BOB	"Bob.Secret-Token_20"
#define S_CI                                                               \
	"ci0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz" \
	"!\"#$%&'()*+,-./;<=>?@[\\]^_`{|}~0123456789ABCDEFGHIJKLMNOPQRSTUVW"
_Static_assert(sizeof(S_CI) - 1 == 128, "S_CI is 128 bytes");
_Static_assert(sizeof(S_BOB) - 1 == 19, "S_BOB is 19 bytes");

/* The scope of the last token verify_() matched. */
static enum ipwd_scope last_scope;

static bool verify_(struct ipwd_auth *a, const char *s, size_t len,
		    char name[IPWD_TOKEN_NAME_MAX])
{
	last_scope = IPWD_SCOPE_NONE;
	return ipwd_auth_verify(a, s, len, name, &last_scope);
}

static void path_of(char *out, size_t size, const char *name)
{
	snprintf(out, size, "%s/%s", dir, name);
}

static void write_file(const char *p, const char *text, size_t len)
{
	int fd = open(p, O_WRONLY | O_CREAT | O_TRUNC, 0600);

	if (fd < 0 || write(fd, text, len) != (ssize_t)len || close(fd)) {
		perror(p);
		exit(2);
	}
}

static char *slurp_fd(int fd)
{
	size_t cap = 4096, n = 0;
	char *s = malloc(cap);
	ssize_t r;

	if (s == NULL)
		abort();
	lseek(fd, 0, SEEK_SET);
	while ((r = read(fd, s + n, cap - n - 1)) > 0) {
		n += (size_t)r;
		if (n == cap - 1) {
			char *t = realloc(s, cap *= 2);

			if (t == NULL)
				abort();
			s = t;
		}
	}
	s[n] = '\0';
	return s;
}

/* ipwd_auth_new() with stderr captured into *err. */
static int auth_new(struct ipwd_auth **a, const char *p, bool create,
		    bool *created, char **err)
{
	FILE *tmp = tmpfile();
	int saved, rc;

	if (tmp == NULL)
		abort();
	fflush(stderr);
	saved = dup(2);
	dup2(fileno(tmp), 2);
	rc = ipwd_auth_new(a, p, create, created);
	fflush(stderr);
	dup2(saved, 2);
	close(saved);
	*err = slurp_fd(fileno(tmp));
	fclose(tmp);
	return rc;
}

static int auth_reload(struct ipwd_auth *a, const char *p)
{
	FILE *tmp = tmpfile();
	int saved, rc;

	if (tmp == NULL)
		abort();
	fflush(stderr);
	saved = dup(2);
	dup2(fileno(tmp), 2);
	rc = ipwd_auth_reload(a, p);
	fflush(stderr);
	dup2(saved, 2);
	close(saved);
	fclose(tmp);
	return rc;
}

static bool is_hex64(const char *s)
{
	for (int i = 0; i < 64; i++)
		if (!((s[i] >= '0' && s[i] <= '9') ||
		      (s[i] >= 'a' && s[i] <= 'f')))
			return false;
	return true;
}

/* ---- creation ---- */

static void test_create(void)
{
	static const mode_t umasks[] = {0, 022, 077};
	char secrets[3][65];

	for (size_t i = 0; i < sizeof(umasks) / sizeof(umasks[0]); i++) {
		struct ipwd_auth *a = NULL;
		char p[128], name[IPWD_TOKEN_NAME_MAX], *err, *text;
		bool created = false;
		struct stat st;
		mode_t old;
		int fd, rc, st_rc;

		snprintf(p, sizeof(p), "%s/created-%zu", dir, i);
		old = umask(umasks[i]);
		rc = auth_new(&a, p, true, &created, &err);
		umask(old);
		is_int(rc, 0, "umask %03o: absent file created", umasks[i]);
		ok(created, "umask %03o: created flag set", umasks[i]);
		memset(&st, 0, sizeof(st));
		st_rc = stat(p, &st);
		ok(st_rc == 0 && S_ISREG(st.st_mode) &&
			   (st.st_mode & 07777) == 0600,
		   "umask %03o: mode exactly 0600 (got %04o)", umasks[i],
		   (unsigned)(st.st_mode & 07777));
		fd = open(p, O_RDONLY);
		text = fd >= 0 ? slurp_fd(fd) : strdup("");
		if (fd >= 0)
			close(fd);
		ok(strlen(text) == 6 + 64 + 7 &&
			   strncmp(text, "admin:", 6) == 0 &&
			   is_hex64(text + 6) &&
			   strcmp(text + 70, ":admin\n") == 0,
		   "umask %03o: one line \"admin:\" + 64 hex digits + "
		   "\":admin\"",
		   umasks[i]);
		memcpy(secrets[i], text + 6, 64);
		secrets[i][64] = '\0';
		if (rc == 0) {
			is_int(ipwd_auth_count(a), 1, "umask %03o: one token",
			       umasks[i]);
			ok(verify_(a, secrets[i], 64, name) &&
				   strcmp(name, "admin") == 0 &&
				   last_scope == IPWD_SCOPE_ADMIN,
			   "umask %03o: the written secret verifies as admin, "
			   "scope admin",
			   umasks[i]);
		}
		ipwd_auth_free(a);
		free(text);
		free(err);
	}
	ok(strcmp(secrets[0], secrets[1]) != 0 &&
		   strcmp(secrets[1], secrets[2]) != 0 &&
		   strcmp(secrets[0], secrets[2]) != 0,
	   "each created file has its own secret");
}

static void test_create_existing(void)
{
	struct ipwd_auth *a = NULL;
	char p[128], *err, *text;
	bool created = true;
	int fd, rc;

	path_of(p, sizeof(p), "existing");
	write_file(p, "alice:" S_ALICE "\n", 6 + 16 + 1);
	rc = auth_new(&a, p, true, &created, &err);
	is_int(rc, 0, "create=true, file exists: loaded");
	ok(!created, "create=true, file exists: created flag clear");
	fd = open(p, O_RDONLY);
	text = slurp_fd(fd);
	close(fd);
	is_str(text, "alice:" S_ALICE "\n",
	       "an existing file is not rewritten");
	if (rc == 0)
		is_int(ipwd_auth_count(a), 1, "existing file: its one token");
	ipwd_auth_free(a);
	free(text);
	free(err);
}

static void test_no_create(void)
{
	struct ipwd_auth *a = NULL;
	char p[128], *err;
	bool created = true;
	int rc;

	path_of(p, sizeof(p), "absent");
	rc = auth_new(&a, p, false, &created, &err);
	is_int(rc, -1, "create=false, file absent: error");
	ok(!created, "create=false: created flag clear");
	ok(access(p, F_OK) != 0, "create=false: no file created");
	ok(strncmp(err, p, strlen(p)) == 0, "create=false: the path on stderr");
	free(err);

	created = true;
	snprintf(p, sizeof(p), "%s/no/such/dir/tokens", dir);
	rc = auth_new(&a, p, true, &created, &err);
	is_int(rc, -1, "create=true in a missing directory: error");
	ok(!created, "create=true in a missing directory: created clear");
	free(err);
}

/* ---- a file of several tokens, and the secrets presented ---- */

static const char good_file[] =
	"# tokens of the test\n"
	"\n"
	"alice:" S_ALICE ":check\n"
	"   # indented comment\n"
	"  bob.1:" S_BOB ":ban  \r\n"
	"\t\n"
	"CI_runner-2:" S_CI ":report\n"
	"n2345678901234567890123456789012:" S_ALICE "X:admin\n";

static void test_verify(void)
{
	static const struct {
		const char *what;
		const char *in;
		size_t len;
		const char *name; /* NULL: refused */
		enum ipwd_scope scope;
	} v[] = {
		{"alice's secret", S_ALICE, 16, "alice", IPWD_SCOPE_CHECK},
		{"bob's secret (trailing space and CR trimmed)", S_BOB, 19,
		 "bob.1", IPWD_SCOPE_BAN},
		{"the 128-byte secret", S_CI, 128, "CI_runner-2",
		 IPWD_SCOPE_REPORT},
		{"the 32-byte name's secret", S_ALICE "X", 17,
		 "n2345678901234567890123456789012", IPWD_SCOPE_ADMIN},
		{"secret:scope", S_ALICE ":check", 22, NULL, 0},
		{"wrong secret", "fedcba9876543210", 16, NULL, 0},
		{"last byte changed", "0123456789abcdeF", 16, NULL, 0},
		{"first byte changed", "1123456789abcdef", 16, NULL, 0},
		{"a prefix of a secret", S_ALICE, 15, NULL, 0},
		{"one byte of a secret", S_ALICE, 1, NULL, 0},
		{"a prefix of the 128-byte secret", S_CI, 127, NULL, 0},
		{"secret + one byte", S_ALICE "Y", 17, NULL, 0},
		{"secret + NUL", S_ALICE "\0", 17, NULL, 0},
		{"NUL + secret", "\0" S_ALICE, 17, NULL, 0},
		{"128-byte secret + one byte (129)", S_CI "x", 129, NULL, 0},
		{"empty", "", 0, NULL, 0},
		{"a name, not a secret", "alice", 5, NULL, 0},
		{"name:secret", "alice:" S_ALICE, 22, NULL, 0},
		{"secret in upper case", "0123456789ABCDEF", 16, NULL, 0},
		{"bob's secret with the trailing space", S_BOB " ", 20, NULL,
		 0},
		{"zeros", "\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0", 16, NULL, 0},
	};
	struct ipwd_auth *a = NULL;
	char p[128], *err;
	bool created;
	int rc;

	path_of(p, sizeof(p), "several");
	write_file(p, good_file, sizeof(good_file) - 1);
	rc = auth_new(&a, p, false, &created, &err);
	is_int(rc, 0, "file of 4 tokens with comments and blanks: loaded");
	is_str(err, "", "... with nothing on stderr");
	free(err);
	if (rc != 0)
		return;
	is_int(ipwd_auth_count(a), 4, "ipwd_auth_count() = 4");
	for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
		char name[IPWD_TOKEN_NAME_MAX];
		bool r;

		memset(name, 0, sizeof(name));
		r = verify_(a, v[i].in, v[i].len, name);
		if (v[i].name)
			ok(r && strcmp(name, v[i].name) == 0 &&
				   last_scope == v[i].scope,
			   "verify %s -> %s, scope %s", v[i].what, v[i].name,
			   ipwd_scope_name(v[i].scope));
		else
			ok(!r, "verify %s (%zu bytes) -> refused", v[i].what,
			   v[i].len);
		if (r != (v[i].name != NULL) ||
		    (r && strcmp(name, v[i].name) != 0))
			diag("got %s, name \"%s\"", r ? "true" : "false", name);
	}
	/* A 129-byte input is refused without reading past 128. */
	{
		char big[4096], name[IPWD_TOKEN_NAME_MAX];

		memset(big, 'a', sizeof(big));
		memcpy(big, S_ALICE, 16);
		ok(!verify_(a, big, sizeof(big), name),
		   "verify a 4096-byte input starting with a secret -> refused");
	}
	ipwd_auth_free(a);
}

/* ---- bad files ---- */

#define LONG_NAME "n23456789012345678901234567890123" /* 33 */
#define SECRET129 S_CI "x"

static void test_bad_files(void)
{
	static const struct {
		const char *what;
		const char *text;
		int line; /* the line named on stderr; 0: none */
	} v[] = {
		{"no colon", "alice " S_ALICE "\n", 1},
		{"no colon, line 3", "# c\n\nalice" S_ALICE "\n", 3},
		{"empty name", ":" S_ALICE "\n", 1},
		{"space in the name", "al ice:" S_ALICE "\n", 1},
		{"'@' in the name", "al@ce:" S_ALICE "\n", 1},
		{"'/' in the name", "a/b:" S_ALICE "\n", 1},
		{"non-ASCII name",
		 "al\xc3\xaf"
		 "ce:" S_ALICE "\n",
		 1},
		{"name of 33 bytes", LONG_NAME ":" S_ALICE "\n", 1},
		{"secret of 15 bytes", "alice:0123456789abcde\n", 1},
		{"empty secret", "alice:\n", 1},
		{"secret of 129 bytes", "alice:" SECRET129 "\n", 1},
		{"space inside the secret", "alice:01234567 89abcdef\n", 1},
		{"tab inside the secret", "alice:01234567\t89abcdef\n", 1},
		{"':' inside the secret", "alice:01234567:89abcdef\n", 1},
		{"unknown scope", "alice:" S_ALICE ":root\n", 1},
		{"empty scope", "alice:" S_ALICE ":\n", 1},
		{"scope in upper case", "alice:" S_ALICE ":Admin\n", 1},
		{"two scopes", "alice:" S_ALICE ":ban:admin\n", 1},
		{"scope list", "alice:" S_ALICE ":ban,check\n", 1},
		{"scope none", "alice:" S_ALICE ":none\n", 1},
		{"bad scope on line 2",
		 "alice:" S_ALICE ":ban\nbob:" S_BOB ":bans\n", 2},
		{"control byte in the secret",
		 "alice:01234567\x01"
		 "89abcdef\n",
		 1},
		{"DEL in the secret",
		 "alice:01234567\x7f"
		 "89abcdef\n",
		 1},
		{"non-ASCII secret",
		 "alice:01234567\xc3\xa9"
		 "89abcdef\n",
		 1},
		{"repeated name",
		 "alice:" S_ALICE "\nbob:" S_BOB "\nalice:"
		 "fedcba9876543210\n",
		 3},
		{"repeated name, same secret", "a:" S_ALICE "\na:" S_ALICE "\n",
		 2},
		{"one good line, one bad", "alice:" S_ALICE "\nbob:short\n", 2},
		{"empty file", "", 0},
		{"comments only", "# nothing\n\n  # here\n", 0},
	};

	for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
		struct ipwd_auth *a = NULL;
		char p[128], want[160], *err;
		bool created = true, pass;
		int rc;

		path_of(p, sizeof(p), "bad");
		write_file(p, v[i].text, strlen(v[i].text));
		rc = auth_new(&a, p, true, &created, &err);
		if (v[i].line)
			snprintf(want, sizeof(want), "%s:%d: ", p, v[i].line);
		else
			snprintf(want, sizeof(want), "%s: ", p);
		pass = rc == -1 && !created &&
		       strncmp(err, want, strlen(want)) == 0;
		ok(pass, "bad file: %s -> refused%s%.0d", v[i].what,
		   v[i].line ? ", names line " : "", v[i].line);
		if (!pass)
			diag("rc %d created %d stderr \"%s\"", rc, created,
			     err);
		if (rc == 0)
			ipwd_auth_free(a);
		free(err);
	}
}

/* The limits themselves are accepted. */
static void test_limits_accepted(void)
{
	static const struct {
		const char *what, *text, *secret, *name;
	} v[] = {
		{"32-byte name", "n2345678901234567890123456789012:" S_ALICE,
		 S_ALICE, "n2345678901234567890123456789012"},
		{"1-byte name", "x:" S_ALICE, S_ALICE, "x"},
		{"16-byte secret", "a:" S_ALICE, S_ALICE, "a"},
		{"128-byte secret", "a:" S_CI, S_CI, "a"},
		{"every printable byte but ':' and space",
		 "a:!\"#$%&'()*+,-./0123456789;<=>?@AZ[\\]^_`az{|}~",
		 "!\"#$%&'()*+,-./0123456789;<=>?@AZ[\\]^_`az{|}~", "a"},
		{"no newline at the end", "a:" S_BOB, S_BOB, "a"},
		{"CRLF", "a:" S_BOB "\r\n", S_BOB, "a"},
	};

	for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
		struct ipwd_auth *a = NULL;
		char p[128], name[IPWD_TOKEN_NAME_MAX] = "", *err;
		bool created, r = false;
		int rc;

		path_of(p, sizeof(p), "limits");
		write_file(p, v[i].text, strlen(v[i].text));
		rc = auth_new(&a, p, false, &created, &err);
		if (rc == 0)
			r = verify_(a, v[i].secret, strlen(v[i].secret), name);
		ok(rc == 0 && r && strcmp(name, v[i].name) == 0, "accepted: %s",
		   v[i].what);
		if (rc != 0)
			diag("stderr: %s", err);
		ipwd_auth_free(a);
		free(err);
	}
}

/* ---- reload ---- */

static bool verifies(struct ipwd_auth *a, const char *s, const char *name)
{
	char got[IPWD_TOKEN_NAME_MAX];

	return verify_(a, s, strlen(s), got) && strcmp(got, name) == 0;
}

static void test_reload(void)
{
	struct ipwd_auth *a = NULL;
	char p[128], *err;
	bool created;

	path_of(p, sizeof(p), "reload");
	write_file(p, "alice:" S_ALICE "\n", 23);
	if (auth_new(&a, p, false, &created, &err) != 0) {
		ok(0, "reload: initial load");
		free(err);
		return;
	}
	free(err);
	ok(verifies(a, S_ALICE, "alice"), "reload: alice before");

	write_file(p, "bob:" S_BOB "\ncarol:" S_CI "\n",
		   strlen("bob:" S_BOB "\ncarol:" S_CI "\n"));
	is_int(auth_reload(a, p), 0, "reload of a good file: 0");
	is_int(ipwd_auth_count(a), 2, "reload: the new count");
	ok(!verifies(a, S_ALICE, "alice"), "reload: alice's token is gone");
	ok(verifies(a, S_BOB, "bob"), "reload: bob's token works");
	ok(verifies(a, S_CI, "carol"), "reload: carol's token works");

	write_file(p, "dave:short\n", 11);
	is_int(auth_reload(a, p), -1, "reload of a bad file: -1");
	is_int(ipwd_auth_count(a), 2, "bad reload: count kept");
	ok(verifies(a, S_BOB, "bob"), "bad reload: bob's token still works");
	ok(verifies(a, S_CI, "carol"), "bad reload: carol's still works");

	write_file(p, "", 0);
	is_int(auth_reload(a, p), -1, "reload of an empty file: -1");
	is_int(ipwd_auth_count(a), 2, "empty reload: count kept");

	unlink(p);
	is_int(auth_reload(a, p), -1, "reload of a missing file: -1");
	ok(verifies(a, S_BOB, "bob"), "missing-file reload: set kept");

	write_file(p, "alice:" S_BOB "\n", 6 + 19 + 1);
	is_int(auth_reload(a, p), 0, "reload: a name gets another secret");
	ok(verifies(a, S_BOB, "alice"), "reload: bob's secret now names alice");
	ok(!verifies(a, S_ALICE, "alice"), "reload: the old secret is refused");
	ipwd_auth_free(a);
	ipwd_auth_free(NULL);
	ok(1, "ipwd_auth_free(NULL) is a no-op");
}

/* ---- checks concurrent with reloads ---- */

enum { RACE_THREADS = 4, RACE_CHECKS = 20000 };

struct race {
	struct ipwd_auth *a;
	atomic_int running;
	atomic_ulong torn;
};

/* Set 1: x1 -> S_ALICE, y1 -> S_BOB. Set 2: x2 -> S_BOB, y2 -> S_CI. A
 * request sees one set whole: S_BOB names y1 or x2, S_ALICE names x1 or
 * nothing, S_CI names y2 or nothing. A worker does other things between
 * checks (sched_yield() here), which lets the reloading writer in. */
static void *checker(void *arg)
{
	struct race *r = arg;

	for (int i = 0; i < RACE_CHECKS; i++) {
		char n[IPWD_TOKEN_NAME_MAX];

		if (!verify_(r->a, S_BOB, 19, n) ||
		    (strcmp(n, "y1") != 0 && strcmp(n, "x2") != 0))
			atomic_fetch_add(&r->torn, 1);
		if (verify_(r->a, S_ALICE, 16, n) && strcmp(n, "x1") != 0)
			atomic_fetch_add(&r->torn, 1);
		if (verify_(r->a, S_CI, 128, n) && strcmp(n, "y2") != 0)
			atomic_fetch_add(&r->torn, 1);
		if (ipwd_auth_count(r->a) != 2)
			atomic_fetch_add(&r->torn, 1);
		sched_yield();
	}
	atomic_fetch_sub(&r->running, 1);
	return NULL;
}

static void test_reload_race(void)
{
	static const char set1[] = "x1:" S_ALICE ":ban\ny1:" S_BOB ":ban\n";
	static const char set2[] = "x2:" S_BOB ":ban\ny2:" S_CI ":ban\n";
	pthread_t th[RACE_THREADS];
	char p1[128], p2[128], *err;
	struct race r = {0};
	int fails = 0, reloads = 0;
	bool created;

	path_of(p1, sizeof(p1), "set1");
	path_of(p2, sizeof(p2), "set2");
	write_file(p1, set1, sizeof(set1) - 1);
	write_file(p2, set2, sizeof(set2) - 1);
	if (auth_new(&r.a, p1, false, &created, &err) != 0) {
		ok(0, "race: initial load");
		free(err);
		return;
	}
	free(err);
	atomic_store(&r.running, RACE_THREADS);
	for (int i = 0; i < RACE_THREADS; i++)
		pthread_create(&th[i], NULL, checker, &r);
	while (atomic_load(&r.running) > 0) {
		fails += ipwd_auth_reload(r.a, reloads % 2 ? p1 : p2) != 0;
		reloads++;
	}
	for (int i = 0; i < RACE_THREADS; i++)
		pthread_join(th[i], NULL);
	ok(fails == 0 && reloads > 1,
	   "race: %d reloads during %d x %d checks, none failed", reloads,
	   RACE_THREADS, RACE_CHECKS);
	ok(atomic_load(&r.torn) == 0,
	   "race: every check saw one set whole (%lu torn)",
	   atomic_load(&r.torn));
	ipwd_auth_free(r.a);
}

/* A line without a scope (the format before scopes) is admin, and the
 * load says so on stderr, naming the line. */
static void test_unscoped(void)
{
	struct ipwd_auth *a = NULL;
	char p[128], name[IPWD_TOKEN_NAME_MAX], want[160], *err;
	bool created;
	int rc;

	path_of(p, sizeof(p), "unscoped");
	write_file(p, "# old\nci:" S_BOB ":check\nold:" S_ALICE "\n",
		   strlen("# old\nci:" S_BOB ":check\nold:" S_ALICE "\n"));
	rc = auth_new(&a, p, false, &created, &err);
	is_int(rc, 0, "a file with an unscoped line loads");
	snprintf(want, sizeof(want), "%s:3: token \"old\" has no scope", p);
	ok(strstr(err, want) != NULL && strstr(err, ":admin") != NULL,
	   "the load warns about line 3 and suggests a scope");
	if (strstr(err, want) == NULL)
		diag("stderr: %s", err);
	free(err);
	if (rc != 0)
		return;
	ok(verify_(a, S_ALICE, 16, name) && strcmp(name, "old") == 0 &&
		   last_scope == IPWD_SCOPE_ADMIN,
	   "the unscoped token verifies with scope admin");
	ok(verify_(a, S_BOB, 19, name) && strcmp(name, "ci") == 0 &&
		   last_scope == IPWD_SCOPE_CHECK,
	   "the scoped one keeps its scope (check)");
	ipwd_auth_free(a);
}

/* A NUL cut the line short: "reader:SECRET\0:check" loaded as an
 * unscoped, that is admin, token. */
static void test_nul_line(void)
{
	static const char text[] =
		"ok:" S_BOB ":ban\nreader:" S_ALICE "\0ignored:check\n";
	struct ipwd_auth *a = NULL;
	char p[128], want[160], *err;
	bool created;
	int rc;

	path_of(p, sizeof(p), "nul");
	write_file(p, text, sizeof(text) - 1);
	rc = auth_new(&a, p, false, &created, &err);
	is_int(rc, -1, "a tokens line with a NUL byte: the file is refused");
	snprintf(want, sizeof(want), "%s:2: line holds a NUL byte", p);
	ok(strstr(err, want) != NULL, "... naming line 2");
	if (strstr(err, want) == NULL)
		diag("stderr: %s", err);
	free(err);
	if (rc == 0)
		ipwd_auth_free(a);
}

static void test_scope_names(void)
{
	static const char *const names[] = {"check", "report", "ban", "admin"};
	enum ipwd_scope s;

	for (unsigned i = 0; i < 4; i++)
		ok(ipwd_scope_parse(names[i], strlen(names[i]), &s) == 0 &&
			   s == (enum ipwd_scope)(IPWD_SCOPE_CHECK + i) &&
			   strcmp(ipwd_scope_name(s), names[i]) == 0,
		   "scope %s parses and prints back", names[i]);
	ok(ipwd_scope_parse("none", 4, &s) != 0, "scope none is not given");
	ok(ipwd_scope_parse("ban", 2, &s) != 0, "a prefix is not a scope");
	ok(ipwd_scope_parse("bans", 4, &s) != 0, "bans is not a scope");
	ok(IPWD_SCOPE_CHECK < IPWD_SCOPE_REPORT &&
		   IPWD_SCOPE_REPORT < IPWD_SCOPE_BAN &&
		   IPWD_SCOPE_BAN < IPWD_SCOPE_ADMIN,
	   "the scopes are a ladder: check < report < ban < admin");
}

static void cleanup(void)
{
	static const char *const names[] = {
		"created-0", "created-1", "created-2", "existing",
		"several",   "bad",	  "limits",    "reload",
		"set1",	     "set2",	  "unscoped",
	};
	char p[128];

	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		path_of(p, sizeof(p), names[i]);
		unlink(p);
	}
	rmdir(dir);
}

int main(void)
{
	if (mkdtemp(dir) == NULL) {
		perror("mkdtemp");
		return 2;
	}
	test_create();
	test_create_existing();
	test_no_create();
	test_verify();
	test_bad_files();
	test_limits_accepted();
	test_reload();
	test_reload_race();
	test_unscoped();
	test_nul_line();
	test_scope_names();
	cleanup();
	return done_testing();
}
