// SPDX-License-Identifier: MIT
/*
 * A service that reports failures through the installed libipwall-client,
 * for tests/integration/client_install.sh, which builds it with
 * `pkg-config --cflags --libs ipwall-client` against a DESTDIR install.
 *
 *   report SOCKET N [retry]
 *
 * reports N events to SOCKET ("-" for the library's choice: the
 * environment or the default path), event i being
 *
 *   ip 10.<i/65536>.<i/256%256>.<i%256>, type it_report, service report,
 *   user u<i>, detail "event <i> of <N>"
 *
 * and prints "sent S dropped D" from ipw_client_stats(). With "retry", a
 * report the library dropped (a full queue) is sent again after 1 ms, up
 * to 10000 times, so that a slow receiver still gets every event in order;
 * without it, each report is made once and forgotten, as a service would.
 * Exits 0 unless a report is refused as a bad argument (or, with retry,
 * stays dropped).
 */
#define _POSIX_C_SOURCE 200809L /* nanosleep() under -std=c11 */

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <ipwall/client.h>

int main(int argc, char **argv)
{
	struct ipw_client *c;
	uint64_t sent, dropped;
	long n;
	int retry, rc;

	if (argc < 3) {
		fprintf(stderr, "usage: report SOCKET N [retry]\n");
		return 2;
	}
	n = strtol(argv[2], NULL, 10);
	retry = argc > 3 && strcmp(argv[3], "retry") == 0;
	rc = ipw_client_new(&c, strcmp(argv[1], "-") == 0 ? NULL : argv[1]);
	if (rc < 0) {
		fprintf(stderr, "report: %s\n", ipw_client_strerror(rc));
		return 1;
	}
	fprintf(stderr, "report: socket %s\n", ipw_client_path(c));
	for (long i = 0; i < n; i++) {
		char ip[32], user[32], detail[64];
		int tries = 0;

		snprintf(ip, sizeof(ip), "10.%ld.%ld.%ld", (i >> 16) & 255,
			 (i >> 8) & 255, i & 255);
		snprintf(user, sizeof(user), "u%ld", i);
		snprintf(detail, sizeof(detail), "event %ld of %ld", i, n);
		for (;;) {
			rc = ipw_client_report(c, ip, "it_report", "report",
					       user, detail);
			if (rc != IPW_CLIENT_DROPPED || !retry ||
			    ++tries > 10000)
				break;
			nanosleep(&(struct timespec){0, 1000000}, NULL);
		}
		if (rc < 0 || (retry && rc != 0)) {
			fprintf(stderr, "report %ld: %s (%s)\n", i,
				ipw_client_strerror(rc),
				ipw_client_errname(rc));
			return 1;
		}
	}
	ipw_client_stats(c, &sent, &dropped);
	printf("sent %llu dropped %llu\n", (unsigned long long)sent,
	       (unsigned long long)dropped);
	ipw_client_free(c);
	return 0;
}
