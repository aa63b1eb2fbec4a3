// SPDX-License-Identifier: MIT
/*
 * Unit tests of the configuration engine (src/daemon/base/conf.h) with a
 * schema of the test's own: a plain section and a named, repeated one
 * ([rule NAME], as the auto-ban engine will use), every key type, the
 * defaults of instances, the problems a named section can have (no name,
 * a bad name, too many), keys of one instance kept apart from another's,
 * the reload rule (restart-only keys keep the running value and are
 * reported), a secret key's refused value kept out of the report, and no
 * leak (ASan) once freed.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/conf.h"
#include "tap.h"

struct rule {
	struct ipwd_conf_instance in; /* first */
	char *events;
	unsigned count;
	uint64_t window;
	bool dry_run;
	int scope;
};

struct cfg {
	char *name;
	char *secret;
	unsigned threads;
	size_t max_body;
	int mode;
	struct ipwd_conf_instance *rules;
};

static const char *const scopes[] = {"address", "prefix", NULL};
static const char *const modes[] = {"a", "b", NULL};

static const struct ipwd_conf_section sections[] = {
	{.name = "main"},
	{.name = "rule",
	 .named = true,
	 .size = sizeof(struct rule),
	 .list_offset = offsetof(struct cfg, rules),
	 .max = 3},
};

#define F(field) IPWD_CONF_FIELD(struct cfg, field)
#define R(field) IPWD_CONF_FIELD(struct rule, field)

static const struct ipwd_conf_key keys[] = {
	{"main", "name", IPWD_CONF_STR, F(name), .max = 8,
	 .flags = IPWD_CONF_NONEMPTY | IPWD_CONF_RESTART, .why = "1 to 8 bytes",
	 .def = "x"},
	{"main", "threads", IPWD_CONF_UINT, F(threads), .min = 1, .max = 64,
	 .why = "1 to 64", .def = "4"},
	{"main", "max_body", IPWD_CONF_SIZE, F(max_body), .min = 1024,
	 .max = 1u << 20, .why = "1k to 1M", .def = "8k",
	 .flags = IPWD_CONF_RESTART},
	{"main", "mode", IPWD_CONF_ENUM, F(mode), .names = modes,
	 .why = "a or b", .def = "a"},
	{"main", "secret", IPWD_CONF_STR, F(secret), .max = 8,
	 .flags = IPWD_CONF_SECRET, .why = "1 to 8 bytes"},
	{"rule", "events", IPWD_CONF_STR, R(events),
	 .flags = IPWD_CONF_NONEMPTY, .why = "must not be empty", .def = "any"},
	{"rule", "count", IPWD_CONF_UINT, R(count), .min = 1, .max = 1000,
	 .why = "1 to 1000", .def = "5"},
	{"rule", "window", IPWD_CONF_DURATION, R(window), .min = 1,
	 .max = 86400, .why = "1s to 1d", .def = "10m"},
	{"rule", "dry_run", IPWD_CONF_BOOL, R(dry_run), .why = "yes or no",
	 .def = "no"},
	{"rule", "scope", IPWD_CONF_ENUM, R(scope), .names = scopes,
	 .why = "address or prefix", .def = "address"},
};

static const struct ipwd_conf_schema schema = {
	.sections = sections,
	.nsections = 2,
	.keys = keys,
	.nkeys = sizeof(keys) / sizeof(keys[0]),
};

static char path[64];

/* Write @text to the test file, read it into @c (defaults first); the
 * number of problems. stderr goes to /dev/null. */
static int read_text(struct cfg *c, const char *text)
{
	FILE *f = fopen(path, "w");
	int saved, n;

	if (f == NULL || fputs(text, f) < 0 || fclose(f) != 0)
		abort();
	memset(c, 0, sizeof(*c));
	ipwd_conf_defaults(&schema, c);
	fflush(stderr);
	saved = dup(2);
	if (freopen("/dev/null", "w", stderr) == NULL)
		abort();
	n = ipwd_conf_read(&schema, c, path);
	fflush(stderr);
	dup2(saved, 2);
	close(saved);
	return n;
}

/* read_text() with stderr kept in @err (@size bytes). */
static int read_text_err(struct cfg *c, const char *text, char *err,
			 size_t size)
{
	FILE *f = fopen(path, "w"), *tmp = tmpfile();
	size_t got;
	int saved, n;

	if (f == NULL || tmp == NULL || fputs(text, f) < 0 || fclose(f) != 0)
		abort();
	memset(c, 0, sizeof(*c));
	ipwd_conf_defaults(&schema, c);
	fflush(stderr);
	saved = dup(2);
	if (saved < 0 || dup2(fileno(tmp), 2) < 0)
		abort();
	n = ipwd_conf_read(&schema, c, path);
	fflush(stderr);
	dup2(saved, 2);
	close(saved);
	rewind(tmp);
	got = fread(err, 1, size - 1, tmp);
	err[got] = '\0';
	fclose(tmp);
	return n;
}

static struct rule *rule(struct cfg *c, const char *name)
{
	return (struct rule *)ipwd_conf_instance_find(c->rules, name);
}

static size_t nrules(const struct cfg *c)
{
	const struct ipwd_conf_instance *i;
	size_t n = 0;

	for (i = c->rules; i; i = i->next)
		n++;
	return n;
}

static void test_defaults(void)
{
	struct cfg c = {0};

	ipwd_conf_defaults(&schema, &c);
	ok(c.name && strcmp(c.name, "x") == 0 && c.threads == 4 &&
		   c.max_body == 8192 && c.mode == 0 && c.rules == NULL,
	   "defaults of the plain section from the table; no instance");
	ipwd_conf_free(&schema, &c);
}

static void test_named(void)
{
	struct cfg c;
	struct rule *ssh, *web;

	is_int(read_text(&c, "[main]\nthreads = 8\n"
			     "[rule ssh]\nevents = ssh_auth_fail\ncount = 3\n"
			     "window = 1m\n"
			     "[rule web]\nscope = prefix\ndry_run = yes\n"
			     "[rule ssh]\ndry_run = on\n"),
	       0, "a file with two named sections reads without a problem");
	ssh = rule(&c, "ssh");
	web = rule(&c, "web");
	is_int(nrules(&c), 2, "two instances (ssh named twice is one)");
	ok(ssh && strcmp(ssh->events, "ssh_auth_fail") == 0 &&
		   ssh->count == 3 && ssh->window == 60 && ssh->dry_run &&
		   ssh->scope == 0,
	   "[rule ssh] has its own values, the later section's key added");
	ok(web && strcmp(web->events, "any") == 0 && web->count == 5 &&
		   web->window == 600 && web->dry_run && web->scope == 1,
	   "[rule web] has the defaults where the file says nothing");
	ok(ssh && web && c.rules == &ssh->in && ssh->in.next == &web->in,
	   "instances are listed in file order");
	is_int(c.threads, 8, "the plain section is read too");
	ipwd_conf_free(&schema, &c);
	ok(c.rules == NULL && c.name == NULL, "ipwd_conf_free() zeroes");
}

static void test_problems(void)
{
	static const struct {
		const char *text;
		int problems;
		size_t rules;
		const char *what;
	} v[] = {
		{"[rule]\ncount = 3\n", 1, 0, "a named section without a name"},
		{"[rule a b]\ncount = 3\n", 1, 0, "a name with a space"},
		{"[rule ssh!]\ncount = 3\n", 1, 0, "a name with a '!'"},
		{"[rule aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa]\ncount = 3\n", 1, 0,
		 "a name of 33 bytes"},
		{"[main x]\nthreads = 3\n", 1, 0,
		 "a plain section with a name"},
		{"[rules ssh]\ncount = 3\n", 1, 0, "an unknown kind"},
		{"[rule ssh]\ncount = 0\n", 1, 1, "a value under the minimum"},
		{"[rule ssh]\nthreads = 3\n", 1, 0,
		 "a key of another section (no instance made)"},
		{"[rule a]\ncount=1\n[rule b]\ncount=1\n[rule c]\ncount=1\n"
		 "[rule d]\ncount=1\n",
		 1, 3, "a fourth instance over the maximum of 3"},
		{"[rule ssh]\nevents =\ncount = 2000\nwindow = 2d\n", 3, 1,
		 "three bad values, each reported"},
	};

	for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
		struct cfg c;
		int n = read_text(&c, v[i].text);

		ok(n == v[i].problems && nrules(&c) == v[i].rules,
		   "%s: %d problem(s), %zu instance(s) (got %d, %zu)",
		   v[i].what, v[i].problems, v[i].rules, n, nrules(&c));
		ipwd_conf_free(&schema, &c);
	}
}

/* IPWD_CONF_SECRET: a refused value is not quoted, the key and the
 * reason are; other keys' values are quoted as before. */
static void test_secret(void)
{
	struct cfg c;
	char err[1024];
	int n;

	n = read_text_err(&c,
			  "[main]\nsecret = Hunter2-too-long\n"
			  "name = Plain-too-long\nsecret = ok\n",
			  err, sizeof(err));
	is_int(n, 2, "a bad secret and a bad plain value: 2 problems");
	ok(strstr(err, ":2: [main] secret: 1 to 8 bytes\n") != NULL,
	   "the secret key's problem names the key, the line, the reason");
	ok(strstr(err, "Hunter2") == NULL,
	   "... and does not quote the refused value");
	ok(strstr(err, "name = \"Plain-too-long\": 1 to 8 bytes") != NULL,
	   "a plain key's refused value is still quoted");
	is_str(c.secret, "ok", "a good secret value is stored");
	if (n != 2)
		diag("stderr: %s", err);
	ipwd_conf_free(&schema, &c);
	ok(c.secret == NULL, "... and freed");
}

static int changed_count;
static char changed_names[128];

static void on_changed(const struct ipwd_conf_key *k, void *ctx)
{
	size_t n = strlen(changed_names);

	(void)ctx;
	changed_count++;
	snprintf(changed_names + n, sizeof(changed_names) - n, "%s%s",
		 n ? "," : "", k->name);
}

static void test_keep_restart(void)
{
	struct cfg old, nw;

	read_text(&old, "[main]\nname = a\nthreads = 2\nmax_body = 4k\n");
	read_text(&nw, "[main]\nname = b\nthreads = 6\nmax_body = 4k\n");
	ipwd_conf_keep_restart(&schema, &old, &nw, on_changed, NULL);
	is_int(changed_count, 1, "one restart-only key changed");
	is_str(changed_names, "name", "it is reported by name");
	ok(strcmp(nw.name, "a") == 0 && nw.max_body == 4096,
	   "the new configuration keeps the running restart-only values");
	is_int(nw.threads, 6, "a reloadable key takes the new value");
	ipwd_conf_free(&schema, &old);
	ipwd_conf_free(&schema, &nw);
}

static void test_set(void)
{
	struct cfg c = {0};

	ipwd_conf_defaults(&schema, &c);
	ok(ipwd_conf_set(&schema, &c, "main", "threads", "9") == NULL &&
		   c.threads == 9,
	   "ipwd_conf_set() sets a key from text");
	is_str(ipwd_conf_set(&schema, &c, "main", "threads", "99"), "1 to 64",
	       "and refuses a bad value with the key's message");
	is_str(ipwd_conf_set(&schema, &c, "main", "nope", "1"), "no such key",
	       "and an unknown key");
	ipwd_conf_free(&schema, &c);
}

int main(void)
{
	int fd;

	snprintf(path, sizeof(path), "/tmp/ipwall-test-conf-XXXXXX");
	fd = mkstemp(path);
	if (fd < 0)
		abort();
	close(fd);
	test_defaults();
	test_named();
	test_problems();
	test_secret();
	test_keep_restart();
	test_set();
	unlink(path);
	return done_testing();
}
