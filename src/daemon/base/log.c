/* SPDX-License-Identifier: MIT */
/*
 * See log.h. The level is one relaxed atomic int, read by every thread; a
 * line is formatted into a stack buffer and written with one write(2), so
 * lines from different threads never interleave (stderr writes up to
 * PIPE_BUF are atomic on pipes and the journal's stream socket).
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/log.h"

static int log_level = IPWD_LOG_INFO;
static int log_journal;

void ipwd_log_init(void)
{
	log_journal = getenv("JOURNAL_STREAM") != NULL;
}

void ipwd_log_set_level(enum ipwd_log_level level)
{
	__atomic_store_n(&log_level, (int)level, __ATOMIC_RELAXED);
}

int ipwd_log_level_parse(const char *s)
{
	if (strcmp(s, "error") == 0)
		return IPWD_LOG_ERROR;
	if (strcmp(s, "warn") == 0 || strcmp(s, "warning") == 0)
		return IPWD_LOG_WARN;
	if (strcmp(s, "info") == 0)
		return IPWD_LOG_INFO;
	if (strcmp(s, "debug") == 0)
		return IPWD_LOG_DEBUG;
	return -1;
}

static const char *level_name(enum ipwd_log_level level)
{
	switch (level) {
	case IPWD_LOG_ERROR:
		return "error";
	case IPWD_LOG_WARN:
		return "warning";
	case IPWD_LOG_INFO:
		return "info";
	default:
		return "debug";
	}
}

void ipwd_log(enum ipwd_log_level level, const char *fmt, ...)
{
	char line[1024];
	va_list ap;
	int n, m;

	if ((int)level > __atomic_load_n(&log_level, __ATOMIC_RELAXED))
		return;
	if (log_journal)
		n = snprintf(line, sizeof(line), "<%d>", (int)level);
	else
		n = snprintf(line, sizeof(line),
			     "ipwalld: %s: ", level_name(level));
	va_start(ap, fmt);
	m = vsnprintf(line + n, sizeof(line) - (size_t)n - 1, fmt, ap);
	va_end(ap);
	if (m < 0)
		return;
	n += m;
	if ((size_t)n > sizeof(line) - 2)
		n = (int)sizeof(line) - 2;
	line[n++] = '\n';
	if (write(STDERR_FILENO, line, (size_t)n) < 0)
		return; /* nowhere left to report it */
}
