/* SPDX-License-Identifier: MIT */
/*
 * A minimal TAP producer for the unit tests: ok(), is_int(), is_str(),
 * done_testing(). Output is TAP 13, read by scripts/testrun and by
 * `meson test`. Header-only; every test program includes it once.
 */
#ifndef IPWALL_TESTS_UNIT_TAP_H
#define IPWALL_TESTS_UNIT_TAP_H

#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int tap_n, tap_failed;

__attribute__((format(printf, 4, 5))) static bool
tap_ok(bool pass, const char *file, int line, const char *fmt, ...)
{
	va_list ap;

	tap_n++;
	printf("%sok %d - ", pass ? "" : "not ", tap_n);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf("\n");
	if (!pass) {
		tap_failed++;
		printf("#   failed at %s:%d\n", file, line);
	}
	fflush(stdout);
	return pass;
}

#define ok(cond, ...) \
	tap_ok((cond) ? true : false, __FILE__, __LINE__, __VA_ARGS__)

#define is_int(got, want, ...)                                           \
	do {                                                             \
		long long g_ = (long long)(got), w_ = (long long)(want); \
		if (!tap_ok(g_ == w_, __FILE__, __LINE__, __VA_ARGS__))  \
			printf("#   got %lld, want %lld\n", g_, w_);     \
	} while (0)

#define is_str(got, want, ...)                                          \
	do {                                                            \
		const char *g_ = (got), *w_ = (want);                   \
		bool p_ = g_ && w_ && strcmp(g_, w_) == 0;              \
		if (!tap_ok(p_, __FILE__, __LINE__, __VA_ARGS__))       \
			printf("#   got \"%s\", want \"%s\"\n",         \
			       g_ ? g_ : "(null)", w_ ? w_ : "(null)"); \
	} while (0)

__attribute__((format(printf, 1, 2))) static inline void diag(const char *fmt,
							      ...)
{
	va_list ap;

	printf("# ");
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf("\n");
}

static inline int done_testing(void)
{
	printf("1..%d\n", tap_n);
	return tap_failed ? 1 : 0;
}

#endif /* IPWALL_TESTS_UNIT_TAP_H */
