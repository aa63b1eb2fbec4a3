/* SPDX-License-Identifier: MIT */
/*
 * ipwalld's log: one line per message on stderr. Under systemd (stderr
 * connected to the journal, $JOURNAL_STREAM set) each line starts with a
 * "<N>" syslog priority prefix, which journald turns into the message's
 * priority; elsewhere lines start with the level name. Thread-safe (one
 * write(2) per line).
 */
#ifndef IPWALL_DAEMON_LOG_H
#define IPWALL_DAEMON_LOG_H

enum ipwd_log_level {
	IPWD_LOG_ERROR = 3,
	IPWD_LOG_WARN = 4,
	IPWD_LOG_INFO = 6,
	IPWD_LOG_DEBUG = 7,
};

void ipwd_log_init(void);
void ipwd_log_set_level(enum ipwd_log_level level);
/* "error", "warn", "info", "debug" -> level; -1 if unknown. */
int ipwd_log_level_parse(const char *s);
void ipwd_log(enum ipwd_log_level level, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

#define log_error(...) ipwd_log(IPWD_LOG_ERROR, __VA_ARGS__)
#define log_warn(...)  ipwd_log(IPWD_LOG_WARN, __VA_ARGS__)
#define log_info(...)  ipwd_log(IPWD_LOG_INFO, __VA_ARGS__)
#define log_debug(...) ipwd_log(IPWD_LOG_DEBUG, __VA_ARGS__)

#endif /* IPWALL_DAEMON_LOG_H */
