// SPDX-License-Identifier: MIT
/*
 * libFuzzer harness for ipwalld's configuration file parser,
 * ipwd_config_load() (src/daemon/base/config.h, the engine in conf.c): the
 * input is the file, held in a memfd and read as /proc/self/fd/N. The
 * loader only parses (it creates no directory and opens nothing but the
 * file), so any bytes are safe to load. Beyond "does not crash" and "does
 * not leak" (every string goes through ipwd_config_free()):
 *   - loading the same bytes twice gives the same problem count and the
 *     same configuration;
 *   - whatever the count, every numeric field is within the bounds of its
 *     row in config.c's key table, every string field is set, and listen
 *     is a valid listen value: a refused value leaves the default
 *     (config.h: "filled either way, with defaults where a value was bad");
 *   - with no problem, the unix socket path fits a sockaddr_un.
 *
 * The parser reports each problem on stderr: see LLVMFuzzerInitialize().
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "fuzz_file.h"
#include "base/config.h"
#include "base/listen.h"
#include "base/log.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int memfd = -1;
static char path[64];

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	fuzz_quiet_stderr(argc, argv);
	memfd = fuzz_memfd("ipwalld.conf", path, sizeof(path));
	return 0;
}

static bool str_eq(const char *a, const char *b)
{
	return (a == NULL && b == NULL) ||
	       (a != NULL && b != NULL && strcmp(a, b) == 0);
}

static bool same(const struct ipwd_config *a, const struct ipwd_config *b)
{
	return str_eq(a->data_dir, b->data_dir) && str_eq(a->node, b->node) &&
	       a->log_level == b->log_level &&
	       a->shutdown_timeout == b->shutdown_timeout &&
	       str_eq(a->listen, b->listen) && str_eq(a->socket, b->socket) &&
	       a->threads == b->threads &&
	       a->blocking_threads == b->blocking_threads &&
	       a->max_connections == b->max_connections &&
	       a->max_connections_per_ip == b->max_connections_per_ip &&
	       a->timeout == b->timeout && a->max_header == b->max_header &&
	       a->max_body == b->max_body && a->max_batch == b->max_batch &&
	       str_eq(a->tokens_file, b->tokens_file) &&
	       a->tokens_file_set == b->tokens_file_set &&
	       a->protect_reads == b->protect_reads &&
	       a->max_failures == b->max_failures && a->lockout == b->lockout &&
	       a->max_entries == b->max_entries &&
	       a->default_ban_ttl == b->default_ban_ttl &&
	       a->hit_sample == b->hit_sample &&
	       a->purge_interval == b->purge_interval && a->mode == b->mode &&
	       str_eq(a->store_path, b->store_path) && a->sync == b->sync &&
	       a->history_retention == b->history_retention &&
	       a->store_cache == b->store_cache &&
	       str_eq(a->audit_log, b->audit_log);
}

/* The bounds of config.c's key table. */
static void check_bounds(const struct ipwd_config *c)
{
	/* [daemon] */
	fuzz_check(c->data_dir != NULL && c->data_dir[0] != '\0');
	fuzz_check(c->node != NULL && strlen(c->node) >= 1 &&
		   strlen(c->node) <= 63);
	fuzz_check(c->log_level == IPWD_LOG_ERROR ||
		   c->log_level == IPWD_LOG_WARN ||
		   c->log_level == IPWD_LOG_INFO ||
		   c->log_level == IPWD_LOG_DEBUG);
	fuzz_check(c->shutdown_timeout <= 3600);
	/* [http] */
	fuzz_check(c->listen != NULL && ipwd_listen_check(c->listen) == 0);
	fuzz_check(c->socket != NULL);
	fuzz_check(c->threads <= 256);
	fuzz_check(c->blocking_threads >= 1 && c->blocking_threads <= 1024);
	fuzz_check(c->max_connections >= 1 && c->max_connections <= 1000000);
	fuzz_check(c->max_connections_per_ip <= 1000000);
	fuzz_check(c->timeout >= 1 && c->timeout <= 86400);
	fuzz_check(c->max_header >= 1024 && c->max_header <= (1u << 20));
	fuzz_check(c->max_body >= 1024 && c->max_body <= (1ull << 30));
	fuzz_check(c->max_batch >= 1 && c->max_batch <= 10000000);
	/* [auth] */
	fuzz_check(c->tokens_file != NULL && c->tokens_file[0] != '\0');
	fuzz_check(c->max_failures <= 1000000);
	fuzz_check(c->lockout >= 1 && c->lockout <= 86400);
	/* [table] */
	fuzz_check(c->max_entries >= 1 && c->max_entries <= (1u << 30));
	fuzz_check(c->default_ban_ttl <= UINT32_MAX);
	fuzz_check(c->hit_sample >= 1 && c->hit_sample <= 65536 &&
		   (c->hit_sample & (c->hit_sample - 1)) == 0);
	fuzz_check(c->purge_interval >= 1 && c->purge_interval <= 3600);
	fuzz_check(c->mode == 0 || c->mode == 1); /* denylist, allowlist */
	/* [store] */
	fuzz_check(c->store_path != NULL);
	fuzz_check(c->sync >= 0 && c->sync <= 2); /* full, batch, off */
	fuzz_check(c->history_retention <= 100ull * 366 * 86400);
	fuzz_check(c->store_cache >= (1u << 20) &&
		   c->store_cache <= (1ull << 36));
	/* [audit] */
	fuzz_check(c->audit_log != NULL);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct ipwd_config a, b;
	int na, nb;

	fuzz_memfd_set(memfd, data, size);

	na = ipwd_config_load(&a, path, NULL);
	nb = ipwd_config_load(&b, path, NULL);
	fuzz_check(na >= 0);
	fuzz_check(na == nb);
	fuzz_check(same(&a, &b));
	check_bounds(&a);
	if (na == 0)
		fuzz_check(strlen(a.socket) < 108);
	ipwd_config_free(&a);
	ipwd_config_free(&b);
	return 0;
}
