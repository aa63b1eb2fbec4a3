/* SPDX-License-Identifier: MIT */
/*
 * Bearer tokens (see auth.h).
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include "api/auth.h"
#include "base/log.h"

struct token {
	char name[IPWD_TOKEN_NAME_MAX];
	unsigned char secret[IPWD_TOKEN_SECRET_MAX]; /* zero padded */
	size_t len;
	enum ipwd_scope scope;
};

static const char *const scope_names[] = {"none", "check", "report", "ban",
					  "admin"};

const char *ipwd_scope_name(enum ipwd_scope s)
{
	return (unsigned)s <= IPWD_SCOPE_ADMIN ? scope_names[s] : "none";
}

int ipwd_scope_parse(const char *s, size_t len, enum ipwd_scope *out)
{
	unsigned i;

	for (i = IPWD_SCOPE_CHECK; i <= IPWD_SCOPE_ADMIN; i++)
		if (strlen(scope_names[i]) == len &&
		    memcmp(scope_names[i], s, len) == 0) {
			*out = (enum ipwd_scope)i;
			return 0;
		}
	return -1;
}

struct tokset {
	struct token *v;
	size_t n;
};

struct ipwd_auth {
	pthread_rwlock_t lock;
	struct tokset *cur;
};

static void tokset_free(struct tokset *s)
{
	if (s == NULL)
		return;
	if (s->v)
		explicit_bzero(s->v, s->n * sizeof(*s->v));
	free(s->v);
	free(s);
}

static bool name_ok(const char *s, size_t n)
{
	size_t i;

	if (n == 0 || n >= IPWD_TOKEN_NAME_MAX)
		return false;
	for (i = 0; i < n; i++) {
		char c = s[i];

		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		      (c >= '0' && c <= '9') || c == '_' || c == '.' ||
		      c == '-'))
			return false;
	}
	return true;
}

static bool secret_ok(const char *s, size_t n)
{
	size_t i;

	if (n < 16 || n > IPWD_TOKEN_SECRET_MAX)
		return false;
	for (i = 0; i < n; i++)
		if (s[i] <= ' ' || s[i] > '~' || s[i] == ':')
			return false;
	return true;
}

static int parse_file(const char *path, struct tokset **out)
{
	struct tokset *s = calloc(1, sizeof(*s));
	size_t cap = 0, bufsize = 0;
	char *buf = NULL;
	int lineno = 0, errors = 0, unscoped = 0, unscoped_line = 0;
	size_t unscoped_name = 0;
	struct stat st;
	ssize_t n;
	FILE *f;

	if (s == NULL)
		return -1;
	f = fopen(path, "re");
	if (f == NULL) {
		fprintf(stderr, "%s: %s\n", path, strerror(errno));
		free(s);
		return -1;
	}
	if (fstat(fileno(f), &st) == 0 && (st.st_mode & 077))
		log_warn("%s: readable by group or others (mode %03o); "
			 "chmod 600 it",
			 path, (unsigned)(st.st_mode & 0777));
	while ((n = getline(&buf, &bufsize, f)) >= 0) {
		char *colon, *scolon, *p = buf;
		enum ipwd_scope scope;
		size_t i, nl, sl;

		lineno++;
		/* A NUL would cut the line short: "name:secret\0:check" would
		 * load as an unscoped (admin) token. */
		if (memchr(p, '\0', (size_t)n) != NULL) {
			fprintf(stderr, "%s:%d: line holds a NUL byte\n", path,
				lineno);
			errors++;
			continue;
		}
		while (n > 0 && (p[n - 1] == '\n' || p[n - 1] == '\r' ||
				 p[n - 1] == ' ' || p[n - 1] == '\t'))
			p[--n] = '\0';
		while (*p == ' ' || *p == '\t')
			p++;
		if (*p == '\0' || *p == '#')
			continue;
		colon = strchr(p, ':');
		if (colon == NULL) {
			fprintf(stderr, "%s:%d: expected name:secret\n", path,
				lineno);
			errors++;
			continue;
		}
		nl = (size_t)(colon - p);
		scope = IPWD_SCOPE_ADMIN;
		scolon = strchr(colon + 1, ':');
		if (scolon) {
			if (ipwd_scope_parse(scolon + 1, strlen(scolon + 1),
					     &scope) != 0) {
				fprintf(stderr,
					"%s:%d: token scope \"%.16s\" is not "
					"check, report, ban or admin\n",
					path, lineno, scolon + 1);
				errors++;
				continue;
			}
			*scolon = '\0';
		}
		sl = strlen(colon + 1);
		if (!name_ok(p, nl)) {
			fprintf(stderr,
				"%s:%d: token name must be 1 to 32 of "
				"A-Z a-z 0-9 _ . -\n",
				path, lineno);
			errors++;
			continue;
		}
		if (!secret_ok(colon + 1, sl)) {
			fprintf(stderr,
				"%s:%d: token secret must be 16 to 128 "
				"printable bytes, no spaces or ':'\n",
				path, lineno);
			errors++;
			continue;
		}
		for (i = 0; i < s->n; i++)
			if (strlen(s->v[i].name) == nl &&
			    memcmp(s->v[i].name, p, nl) == 0)
				break;
		if (i < s->n) {
			fprintf(stderr, "%s:%d: token name \"%.*s\" repeated\n",
				path, lineno, (int)nl, p);
			errors++;
			continue;
		}
		if (s->n == cap) {
			struct token *v;

			cap = cap ? cap * 2 : 4;
			v = realloc(s->v, cap * sizeof(*v));
			if (v == NULL) {
				errors++;
				break;
			}
			s->v = v;
		}
		memset(&s->v[s->n], 0, sizeof(s->v[0]));
		memcpy(s->v[s->n].name, p, nl);
		memcpy(s->v[s->n].secret, colon + 1, sl);
		s->v[s->n].len = sl;
		s->v[s->n].scope = scope;
		s->n++;
		if (scolon == NULL && ++unscoped == 1)
			unscoped_line = lineno, unscoped_name = s->n - 1;
	}

	if (buf)
		explicit_bzero(buf, bufsize);
	free(buf);
	fclose(f);
	if (errors == 0 && s->n == 0) {
		fprintf(stderr, "%s: no tokens\n", path);
		errors++;
	}
	if (errors) {
		tokset_free(s);
		return -1;
	}
	if (unscoped)
		log_warn("%s:%d: token \"%s\" %s no scope, so %s may do "
			 "everything (admin); end each line with \":check\", "
			 "\":report\", \":ban\" or \":admin\"",
			 path, unscoped_line, s->v[unscoped_name].name,
			 unscoped > 1 ? "and others have" : "has",
			 unscoped > 1 ? "they" : "it");
	*out = s;
	return 0;
}

static int create_file(const char *path)
{
	unsigned char rnd[32];
	char line[128];
	int fd, n, i;

	if (getrandom(rnd, sizeof(rnd), 0) != (ssize_t)sizeof(rnd)) {
		fprintf(stderr, "%s: getrandom: %s\n", path, strerror(errno));
		return -1;
	}
	n = snprintf(line, sizeof(line), "admin:");
	for (i = 0; i < 32; i++)
		n += snprintf(line + n, sizeof(line) - (size_t)n, "%02x",
			      rnd[i]);
	n += snprintf(line + n, sizeof(line) - (size_t)n, ":admin\n");
	fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (fd < 0) {
		fprintf(stderr, "%s: cannot create: %s\n", path,
			strerror(errno));
		return -1;
	}
	if (write(fd, line, (size_t)n) != n || fsync(fd) != 0) {
		fprintf(stderr, "%s: cannot write: %s\n", path,
			strerror(errno));
		close(fd);
		unlink(path);
		return -1;
	}
	explicit_bzero(line, sizeof(line));
	explicit_bzero(rnd, sizeof(rnd));
	close(fd);
	return 0;
}

int ipwd_auth_new(struct ipwd_auth **out, const char *path, bool create,
		  bool *created)
{
	struct ipwd_auth *a;
	struct tokset *s;

	*created = false;
	if (create && access(path, F_OK) != 0 && errno == ENOENT) {
		if (create_file(path) != 0)
			return -1;
		*created = true;
	}
	if (parse_file(path, &s) != 0)
		return -1;
	a = calloc(1, sizeof(*a));
	if (a == NULL) {
		tokset_free(s);
		return -1;
	}
	{
		/* Writer-preferring: with glibc's default, a stream of token
		 * checks kept a SIGHUP reload waiting for minutes (seen with
		 * four checking threads on two CPUs). */
		pthread_rwlockattr_t at;

		pthread_rwlockattr_init(&at);
		pthread_rwlockattr_setkind_np(
			&at, PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP);
		pthread_rwlock_init(&a->lock, &at);
		pthread_rwlockattr_destroy(&at);
	}
	a->cur = s;
	*out = a;
	return 0;
}

int ipwd_auth_reload(struct ipwd_auth *a, const char *path)
{
	struct tokset *s, *old;

	if (parse_file(path, &s) != 0)
		return -1;
	pthread_rwlock_wrlock(&a->lock);
	old = a->cur;
	a->cur = s;
	pthread_rwlock_unlock(&a->lock);
	tokset_free(old);
	return 0;
}

void ipwd_auth_free(struct ipwd_auth *a)
{
	if (a == NULL)
		return;
	tokset_free(a->cur);
	pthread_rwlock_destroy(&a->lock);
	free(a);
}

bool ipwd_auth_verify(struct ipwd_auth *a, const char *secret, size_t len,
		      char name[IPWD_TOKEN_NAME_MAX], enum ipwd_scope *scope)
{
	unsigned char in[IPWD_TOKEN_SECRET_MAX] = {0};
	const struct token *hit = NULL;
	size_t i, j;

	if (len == 0 || len > IPWD_TOKEN_SECRET_MAX)
		return false; /* the length of the input is not a secret */
	memcpy(in, secret, len);
	pthread_rwlock_rdlock(&a->lock);
	for (i = 0; i < a->cur->n; i++) {
		const struct token *t = &a->cur->v[i];
		/* volatile: the compiler must not turn this into an early
		 * exit. */
		volatile unsigned char diff = (unsigned char)(t->len != len);

		for (j = 0; j < IPWD_TOKEN_SECRET_MAX; j++)
			diff |= (unsigned char)(t->secret[j] ^ in[j]);
		if (diff == 0)
			hit = t;
	}
	if (hit) {
		memcpy(name, hit->name, IPWD_TOKEN_NAME_MAX);
		*scope = hit->scope;
	}
	pthread_rwlock_unlock(&a->lock);
	explicit_bzero(in, sizeof(in));
	return hit != NULL;
}

size_t ipwd_auth_count(struct ipwd_auth *a)
{
	size_t n;

	pthread_rwlock_rdlock(&a->lock);
	n = a->cur->n;
	pthread_rwlock_unlock(&a->lock);
	return n;
}
