/* SPDX-License-Identifier: MIT */
/*
 * ipwall token add|list|remove: the daemon's tokens file, edited on the
 * machine where it lives, so nobody writes secrets into it by hand.
 *
 * The file is ipwalld's ([auth] tokens_file, docs/api.md): lines
 * "name:secret:scope". `add` makes a secret of 64 hex digits from
 * getrandom(), `remove` drops a name's line; both write a new file next
 * to the old one (mode 0600, fsync'd) and rename it over, so ipwalld
 * never reads half a file. Comments and other lines are kept as they
 * are. ipwalld reads the file again on SIGHUP (systemctl reload).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli.h"

#define LOCAL_TOKENS "./var/tokens"

static const char *const scopes[] = {"check", "report", "ban", "admin", NULL};

const char *cli_tokens_file(const char *opt)
{
	const char *env = getenv("IPWALL_TOKENS_FILE");

	if (opt)
		return opt;
	if (env && *env)
		return env;
	return LOCAL_TOKENS;
}

static bool name_ok(const char *s)
{
	size_t n = strlen(s);

	if (n == 0 || n > 32)
		return false;
	for (; *s; s++)
		if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') ||
		      (*s >= '0' && *s <= '9') || *s == '_' || *s == '.' ||
		      *s == '-'))
			return false;
	return true;
}

/* The file's text (empty if it does not exist and @may_be_absent). */
static int slurp(const char *path, bool may_be_absent, char **out)
{
	struct cli_buf b = {0};
	char chunk[4096];
	size_t n;
	FILE *f = fopen(path, "re");

	*out = NULL;
	if (f == NULL) {
		if (errno == ENOENT && may_be_absent) {
			*out = strdup("");
			return *out ? 0 :
				      cli_error(CLI_EXIT_USAGE,
						"out of memory");
		}
		return cli_error(CLI_EXIT_USAGE, "%s: %s", path,
				 strerror(errno));
	}
	while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0) {
		if (cli_buf_reserve(&b, n) != 0) {
			fclose(f);
			free(b.data);
			return CLI_EXIT_USAGE;
		}
		memcpy(b.data + b.len, chunk, n);
		b.len += n;
	}
	fclose(f);
	if (cli_buf_reserve(&b, 0) != 0)
		return CLI_EXIT_USAGE;
	b.data[b.len] = '\0';
	if (strlen(b.data) != b.len) {
		free(b.data);
		return cli_error(CLI_EXIT_USAGE, "%s: holds a NUL byte", path);
	}
	*out = b.data;
	return 0;
}

/* The name of @line ("name:..."), trimmed, into @name; false for blank
 * and comment lines. */
static bool line_name(const char *line, size_t len, char *name, size_t size)
{
	const char *colon;
	size_t n;

	while (len && (*line == ' ' || *line == '\t'))
		line++, len--;
	if (len == 0 || *line == '#' || *line == '\n' || *line == '\r')
		return false;
	colon = memchr(line, ':', len);
	n = colon ? (size_t)(colon - line) : len;
	if (n >= size)
		n = size - 1;
	memcpy(name, line, n);
	name[n] = '\0';
	return true;
}

/* Write @text to @path through a temporary file and a rename. */
static int replace_file(const char *path, const char *text, size_t len)
{
	char tmp[4096];
	struct stat st;
	int fd, n;

	n = snprintf(tmp, sizeof(tmp), "%s.tmp-%ld", path, (long)getpid());
	if (n < 0 || (size_t)n >= sizeof(tmp))
		return cli_error(CLI_EXIT_USAGE, "%s: path too long", path);
	fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (fd < 0)
		return cli_error(CLI_EXIT_USAGE, "%s: cannot create: %s", tmp,
				 strerror(errno));
	/* The old file's owner stays its owner (ipwalld may run as its own
	 * user and read the file as such). */
	if (stat(path, &st) == 0 && fchown(fd, st.st_uid, st.st_gid) != 0) {
		int e = errno;

		close(fd);
		unlink(tmp);
		return cli_error(CLI_EXIT_USAGE, "%s: cannot chown: %s", tmp,
				 strerror(e));
	}
	if (fchmod(fd, 0600) != 0 || write(fd, text, len) != (ssize_t)len ||
	    fsync(fd) != 0) {
		int e = errno;

		close(fd);
		unlink(tmp);
		return cli_error(CLI_EXIT_USAGE, "%s: cannot write: %s", tmp,
				 strerror(e));
	}
	close(fd);
	if (rename(tmp, path) != 0) {
		int e = errno;

		unlink(tmp);
		return cli_error(CLI_EXIT_USAGE, "%s: cannot replace: %s", path,
				 strerror(e));
	}
	return 0;
}

static void reload_hint(const char *path)
{
	fprintf(stderr,
		"ipwall: %s written; ipwalld reads it on its next reload: "
		"systemctl reload ipwalld, or kill -HUP the ipwalld process\n",
		path);
}

static int token_add(const char *path, const char *name, const char *scope)
{
	unsigned char rnd[32];
	char *text = NULL, *next, line_name_buf[64], secret[65];
	size_t len, i;
	int rc;

	if (!name_ok(name))
		return cli_usage_error("token name \"%.40s\": 1 to 32 of "
				       "A-Z a-z 0-9 _ . -",
				       name);
	if (scope == NULL)
		return cli_usage_error("token add needs --scope check, "
				       "report, ban or admin");
	for (i = 0; scopes[i]; i++)
		if (strcmp(scopes[i], scope) == 0)
			break;
	if (scopes[i] == NULL)
		return cli_usage_error("--scope \"%.40s\": check, report, ban "
				       "or admin",
				       scope);
	rc = slurp(path, true, &text);
	if (rc || text == NULL)
		return rc ? rc : CLI_EXIT_USAGE;
	len = strlen(text);
	for (const char *l = text; *l; l = next) {
		next = strchr(l, '\n');
		next = next ? next + 1 : (char *)l + strlen(l);
		if (line_name(l, (size_t)(next - l), line_name_buf,
			      sizeof(line_name_buf)) &&
		    strcmp(line_name_buf, name) == 0) {
			free(text);
			return cli_error(CLI_EXIT_USAGE,
					 "%s: a token named \"%s\" exists; "
					 "remove it first",
					 path, name);
		}
	}
	if (getrandom(rnd, sizeof(rnd), 0) != (ssize_t)sizeof(rnd)) {
		free(text);
		return cli_error(CLI_EXIT_USAGE, "getrandom: %s",
				 strerror(errno));
	}
	for (i = 0; i < sizeof(rnd); i++)
		snprintf(secret + 2 * i, 3, "%02x", rnd[i]);
	{
		size_t cap = len + strlen(name) + 64 + strlen(scope) + 8;
		char *out = malloc(cap);
		int n;

		if (out == NULL) {
			free(text);
			return cli_error(CLI_EXIT_USAGE, "out of memory");
		}
		n = snprintf(out, cap, "%s%s%s:%s:%s\n", text,
			     len && text[len - 1] != '\n' ? "\n" : "", name,
			     secret, scope);
		rc = replace_file(path, out, (size_t)n);
		explicit_bzero(out, cap);
		free(out);
	}
	free(text);
	explicit_bzero(rnd, sizeof(rnd));
	if (rc == 0) {
		/* The secret alone on stdout, for a script to capture. */
		printf("%s\n", secret);
		fprintf(stderr, "ipwall: added token \"%s\" (scope %s)\n", name,
			scope);
		reload_hint(path);
	}
	explicit_bzero(secret, sizeof(secret));
	return rc;
}

static int token_remove(const char *path, const char *name)
{
	char *text = NULL, *out, *next, nm[64];
	size_t n = 0;
	bool found = false;
	int rc;

	rc = slurp(path, false, &text);
	if (rc || text == NULL)
		return rc ? rc : CLI_EXIT_USAGE;
	out = malloc(strlen(text) + 1);
	if (out == NULL) {
		free(text);
		return cli_error(CLI_EXIT_USAGE, "out of memory");
	}
	for (const char *l = text; *l; l = next) {
		size_t ll;

		next = strchr(l, '\n');
		next = next ? next + 1 : (char *)l + strlen(l);
		ll = (size_t)(next - l);
		if (line_name(l, ll, nm, sizeof(nm)) && strcmp(nm, name) == 0) {
			found = true;
			continue;
		}
		memcpy(out + n, l, ll);
		n += ll;
	}
	explicit_bzero(text, strlen(text));
	free(text);
	if (!found) {
		free(out);
		return cli_error(CLI_EXIT_USAGE, "%s: no token named \"%.40s\"",
				 path, name);
	}
	rc = replace_file(path, out, n);
	explicit_bzero(out, n);
	free(out);
	if (rc == 0) {
		fprintf(stderr, "ipwall: removed token \"%s\"\n", name);
		reload_hint(path);
	}
	return rc;
}

/* NAME SCOPE per line; never a secret. */
static int token_list(const char *path)
{
	char *text = NULL, *next, nm[64];
	int rc;

	rc = slurp(path, false, &text);
	if (rc || text == NULL)
		return rc ? rc : CLI_EXIT_USAGE;
	printf("%-32s %s\n", "NAME", "SCOPE");
	for (const char *l = text; *l; l = next) {
		const char *c1, *c2, *end;
		char sc[16];

		next = strchr(l, '\n');
		next = next ? next + 1 : (char *)l + strlen(l);
		if (!line_name(l, (size_t)(next - l), nm, sizeof(nm)))
			continue;
		end = next;
		while (end > l && (end[-1] == '\n' || end[-1] == '\r' ||
				   end[-1] == ' ' || end[-1] == '\t'))
			end--;
		c1 = memchr(l, ':', (size_t)(end - l));
		c2 = c1 ? memchr(c1 + 1, ':', (size_t)(end - c1 - 1)) : NULL;
		if (c2) {
			size_t k = (size_t)(end - c2 - 1);

			if (k >= sizeof(sc))
				k = sizeof(sc) - 1;
			memcpy(sc, c2 + 1, k);
			sc[k] = '\0';
			printf("%-32s %s\n", nm, sc);
		} else {
			printf("%-32s admin (no scope in the file)\n", nm);
		}
	}
	explicit_bzero(text, strlen(text));
	free(text);
	return CLI_EXIT_OK;
}

int cli_cmd_token(const char *file, const char *verb, const char *name,
		  const char *scope)
{
	const char *path = cli_tokens_file(file);

	if (strcmp(verb, "add") == 0 || strcmp(verb, "remove") == 0) {
		if (name == NULL)
			return cli_usage_error("token %s needs a NAME", verb);
		if (strcmp(verb, "remove") == 0 && scope)
			return cli_usage_error("--scope applies to token add");
		return verb[0] == 'a' ? token_add(path, name, scope) :
					token_remove(path, name);
	}
	if (strcmp(verb, "list") == 0) {
		if (name || scope)
			return cli_usage_error("token list takes no NAME or "
					       "--scope");
		return token_list(path);
	}
	return cli_usage_error("token: \"%.20s\" is not add, list or remove",
			       verb);
}
