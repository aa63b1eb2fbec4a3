// SPDX-License-Identifier: MIT
/*
 * JSON library comparison for ipwalld (results in docs/json-library.md).
 *
 * Each library that meson found (HAVE_JANSSON, HAVE_JSONC, HAVE_CJSON) gets
 * the same small vtable and the same inputs, built once in memory:
 *   body   parse + validate one API request body (4 known fields, type
 *          checks, unknown and repeated fields rejected); ns per body
 *   batch  the same for {"bans": [1000 bodies]}; ns per object
 *   build  build + serialize a check response into a caller buffer
 *   mem    heap bytes held per object while a parsed batch is alive
 *          (glibc mallinfo2; 0 under sanitizers)
 * Hostile inputs (1 MiB of '[', 100000-deep balanced [[...]], truncated
 * bodies) are parsed in a forked child so that a crash, a hang (alarm) or a
 * memory blow-up is observed, not suffered; the child's peak RSS minus an
 * idle child's is reported. Last, a few semantic probes (numbers, duplicate
 * keys, NUL in strings, error messages) are printed on stderr.
 */
#include <malloc.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include "../bench.h"
#include "libs.h"

#define BODY                                                   \
	"{\"target\": \"198.51.100.0/24\", \"ttl\": \"10m\", " \
	"\"reason\": \"ssh brute force from botnet\", \"score\": 5}"
#define BATCH_N	     1000
#define BODY_ROUNDS  200000
#define BATCH_ROUNDS 100
#define BUILD_ROUNDS 200000
#define DEEP_OPEN    (1u << 20)
#define DEEP_BAL     100000

/* The request schema: target is required, the rest optional. */
static const struct {
	const char *name;
	enum json_ftype type;
} fields[] = {
	{"target", F_STR},
	{"ttl", F_STR},
	{"reason", F_STR},
	{"score", F_INT},
};
#define NFIELDS (sizeof(fields) / sizeof(fields[0]))

static int field_index(const char *key)
{
	for (size_t i = 0; i < NFIELDS; i++)
		if (strcmp(key, fields[i].name) == 0)
			return (int)i;
	return -1;
}

int json_field_seen(const char *key, unsigned *seen)
{
	int f = field_index(key);

	if (f < 0 || (*seen & (1u << f)))
		return -1;
	*seen |= 1u << f;
	return f;
}

enum json_ftype json_field_type(int f)
{
	return fields[f].type;
}

int json_ws_to_end(const char *p, const char *end)
{
	while (p < end && (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r'))
		p++;
	return p == end;
}

static const struct lib *const libs[] = {
#ifdef HAVE_JANSSON
	&json_lib_jansson,
#endif
#ifdef HAVE_JSONC
	&json_lib_jsonc,
#endif
#ifdef HAVE_CJSON
	&json_lib_cjson,
#endif
	NULL,
};

/* ---- inputs ----------------------------------------------------------- */
static char *batch_body;
static size_t batch_len;

static void make_batch(void)
{
	size_t one = strlen(BODY), cap = 16 + BATCH_N * (one + 2);
	char *p = malloc(cap);

	if (!p)
		abort();
	batch_body = p;
	p += sprintf(p, "{\"bans\": [");
	for (int i = 0; i < BATCH_N; i++) {
		if (i)
			*p++ = ',';
		memcpy(p, BODY, one);
		p += one;
	}
	p += sprintf(p, "]}");
	batch_len = (size_t)(p - batch_body);
}

static char *repeat(const char *a, size_t na, const char *b, size_t nb,
		    size_t *len)
{
	char *s = malloc(na + nb + 1);

	if (!s)
		abort();
	memset(s, a[0], na);
	if (nb)
		memset(s + na, b[0], nb);
	s[na + nb] = '\0';
	*len = na + nb;
	return s;
}

/* ---- measurements ------------------------------------------------------ */
static void run_perf(const struct lib *l)
{
	char name[64], buf[512];
	size_t body_len = strlen(BODY);
	uint64_t t0, ops = 0;
	long sink = 0;

	if (l->body(BODY, body_len) != 0 ||
	    l->batch(batch_body, batch_len) != BATCH_N ||
	    l->build(buf, sizeof(buf)) < 0) {
		fprintf(stderr, "%s: self-check failed\n", l->name);
		exit(1);
	}
	fprintf(stderr, "%s: response %s\n", l->name, buf);

	t0 = bench_now_ns();
	for (int i = 0; i < BODY_ROUNDS; i++)
		sink += l->body(BODY, body_len);
	bench_keep(sink);
	snprintf(name, sizeof(name), "%s/body", l->name);
	bench_report("json", name, 1, BODY_ROUNDS, bench_now_ns() - t0, NULL);

	t0 = bench_now_ns();
	for (int i = 0; i < BATCH_ROUNDS; i++)
		ops += (uint64_t)l->batch(batch_body, batch_len);
	snprintf(name, sizeof(name), "%s/batch", l->name);
	bench_report("json", name, 1, ops, bench_now_ns() - t0, NULL);

	t0 = bench_now_ns();
	for (int i = 0; i < BUILD_ROUNDS; i++)
		sink += l->build(buf, sizeof(buf));
	bench_keep(sink);
	snprintf(name, sizeof(name), "%s/build", l->name);
	bench_report("json", name, 1, BUILD_ROUNDS, bench_now_ns() - t0, NULL);

	{
		size_t before = mallinfo2().uordblks, after;
		void *doc = l->hold(batch_body, batch_len);
		char extra[96];

		after = mallinfo2().uordblks;
		l->release(doc);
		snprintf(
			extra, sizeof(extra),
			"\"heap_bytes_per_obj\": %zu, \"input_bytes_per_obj\": "
			"%zu",
			(after - before) / BATCH_N, batch_len / BATCH_N);
		fprintf(stderr,
			"%s: heap held per batch object: %zu bytes "
			"(input %zu bytes)\n",
			l->name, (after - before) / BATCH_N,
			batch_len / BATCH_N);
		snprintf(name, sizeof(name), "%s/mem", l->name);
		bench_report("json", name, 1, 1, 0, extra);
	}
}

/*
 * Parse @buf in a child. Exit 10: rejected, 11: accepted; anything else
 * (a signal, a sanitizer's exit code) is a failure of the library.
 */
static void run_hostile(const struct lib *l, const char *hcase, const char *buf,
			size_t len, long base_kb)
{
	char name[64], extra[160], verdict[32];
	uint64_t t0 = bench_now_ns(), ns;
	struct rusage ru;
	int status = 0;
	pid_t pid;

	fflush(NULL);
	pid = fork();
	if (pid < 0) {
		perror("fork");
		exit(1);
	}
	if (pid == 0) {
		char msg[256];
		int ok;

		alarm(10);
		ok = l->describe(buf, len, msg, sizeof(msg));
		fprintf(stderr, "%s/%s: %s: %s\n", l->name, hcase,
			ok ? "ACCEPTED" : "rejected", msg);
		fflush(NULL);
		_exit(ok ? 11 : 10);
	}
	if (wait4(pid, &status, 0, &ru) < 0) {
		perror("wait4");
		exit(1);
	}
	ns = bench_now_ns() - t0;
	if (WIFEXITED(status) && WEXITSTATUS(status) == 10)
		snprintf(verdict, sizeof(verdict), "rejected");
	else if (WIFEXITED(status) && WEXITSTATUS(status) == 11)
		snprintf(verdict, sizeof(verdict), "accepted");
	else if (WIFSIGNALED(status))
		snprintf(verdict, sizeof(verdict), "signal %d",
			 WTERMSIG(status));
	else
		snprintf(verdict, sizeof(verdict), "exit %d",
			 WEXITSTATUS(status));
	snprintf(extra, sizeof(extra),
		 "\"result\": \"%s\", \"extra_rss_kb\": %ld, "
		 "\"input_bytes\": %zu",
		 verdict, ru.ru_maxrss - base_kb, len);
	snprintf(name, sizeof(name), "%s/%s", l->name, hcase);
	fprintf(stderr, "%s: %s, peak RSS +%ld KiB over an idle child\n", name,
		verdict, ru.ru_maxrss - base_kb);
	bench_report("json", name, 1, 1, ns, extra);
}

static long idle_child_kb(void)
{
	struct rusage ru;
	int status;
	pid_t pid;

	fflush(NULL);
	pid = fork();
	if (pid == 0)
		_exit(0);
	if (pid < 0 || wait4(pid, &status, 0, &ru) < 0)
		return 0;
	return ru.ru_maxrss;
}

static const char *const probes[][2] = {
	{"int", "{\"v\": 5}"},
	{"int_as_real", "{\"v\": 5.0}"},
	{"exp", "{\"v\": 1e2}"},
	{"int64_over", "{\"v\": 9223372036854775808}"},
	{"huge_int", "{\"v\": 123456789012345678901234567890}"},
	{"real_over", "{\"v\": 1e400}"},
	{"dup_key", "{\"v\": 1, \"v\": 2}"},
	{"nul_in_str", "{\"v\": \"a\\u0000b\"}"},
	{"lone_surr", "{\"v\": \"\\ud800\"}"},
	{"bad_utf8", "{\"v\": \"\xff\"}"},
	{"trail_comma", "{\"v\": 1,}"},
	{"trail_garbage", "{\"v\": 1} x"},
	{"nan", "{\"v\": NaN}"},
	{"single_quote", "{'v': 1}"},
	{"comment", "{\"v\": 1 /* c */}"},
	{"leading_zero", "{\"v\": 012}"},
	{"scalar_root", "5"},
	{"empty", ""},
	{"error_pos", "{\"target\": \"x\",\n \"ttl\": tru}"},
};

int main(void)
{
	char *open_deep, *bal_deep;
	size_t open_len, bal_len, trunc_body, trunc_batch;
	long base_kb;

	bench_header();
	make_batch();
	open_deep = repeat("[", DEEP_OPEN, "", 0, &open_len);
	bal_deep = repeat("[", DEEP_BAL, "]", DEEP_BAL, &bal_len);
	trunc_body = strlen(BODY) / 2;
	trunc_batch = batch_len * 3 / 5;
	for (const struct lib *const *l = libs; *l; l++)
		run_perf(*l);

	base_kb = idle_child_kb();
	for (const struct lib *const *l = libs; *l; l++) {
		run_hostile(*l, "deep_open_1MiB", open_deep, open_len, base_kb);
		run_hostile(*l, "deep_balanced_100k", bal_deep, bal_len,
			    base_kb);
		run_hostile(*l, "truncated_body", BODY, trunc_body, base_kb);
		run_hostile(*l, "truncated_batch", batch_body, trunc_batch,
			    base_kb);
	}

	fprintf(stderr, "# semantic probes (json-c: STRICT | VALIDATE_UTF8)\n");
	for (const struct lib *const *l = libs; *l; l++) {
		for (size_t i = 0; i < sizeof(probes) / sizeof(probes[0]);
		     i++) {
			char msg[256];
			int ok = (*l)->describe(probes[i][1],
						strlen(probes[i][1]), msg,
						sizeof(msg));

			fprintf(stderr, "probe %-8s %-14s %-8s %s\n",
				(*l)->name, probes[i][0],
				ok ? "accepted" : "rejected", msg);
		}
	}
	free(open_deep);
	free(bal_deep);
	free(batch_body);
	return 0;
}
