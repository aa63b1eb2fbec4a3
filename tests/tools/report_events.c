// SPDX-License-Identifier: MIT
/*
 * A local service reporting failures to ipwalld's event socket through
 * libipwall-client, for tests/integration/autoban.sh.
 *
 *   report_events SOCKET IP TYPE [COUNT]
 *       COUNT (default 1) reports of IP and TYPE; a report the library
 *       dropped (the socket's queue was full) is sent again after 1 ms,
 *       at most 10000 times, so that every one arrives.
 *   report_events SOCKET --raw TEXT
 *       one datagram of TEXT as it is ("\n" and "\t" escapes expanded), to
 *       send what the library would refuse to build.
 *
 * Prints "sent S dropped D"; exits 0, or 1 when a report was refused as a
 * bad argument or stayed dropped.
 */
#define _POSIX_C_SOURCE 200809L

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <ipwall/client.h>

static int raw(const char *path, const char *text)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	char buf[4096];
	size_t n = 0;
	int fd;

	for (; *text && n < sizeof(buf); text++) {
		if (text[0] == '\\' && (text[1] == 'n' || text[1] == 't')) {
			buf[n++] = text[1] == 'n' ? '\n' : '\t';
			text++;
		} else {
			buf[n++] = *text;
		}
	}
	if (strlen(path) >= sizeof(sa.sun_path))
		return 1;
	memcpy(sa.sun_path, path, strlen(path) + 1);
	fd = socket(AF_UNIX, SOCK_DGRAM, 0);
	if (fd < 0 || sendto(fd, buf, n, 0, (struct sockaddr *)&sa,
			     sizeof(sa)) != (ssize_t)n) {
		perror("report_events: sendto");
		return 1;
	}
	close(fd);
	printf("sent 1 dropped 0\n");
	return 0;
}

int main(int argc, char **argv)
{
	struct timespec ms = {0, 1000000};
	struct ipw_client *c;
	uint64_t sent, dropped;
	long i, count;
	int rc = 0;

	if (argc == 4 && strcmp(argv[2], "--raw") == 0)
		return raw(argv[1], argv[3]);
	if (argc < 4 || argc > 5) {
		fprintf(stderr, "usage: report_events SOCKET IP TYPE [COUNT]\n"
				"       report_events SOCKET --raw TEXT\n");
		return 2;
	}
	count = argc == 5 ? strtol(argv[4], NULL, 10) : 1;
	if (ipw_client_new(&c, argv[1]) != 0)
		return 1;
	for (i = 0; i < count && rc >= 0; i++) {
		int tries = 0;

		while ((rc = ipw_client_report(c, argv[2], argv[3], "test",
					       NULL, NULL)) ==
			       IPW_CLIENT_DROPPED &&
		       tries++ < 10000)
			nanosleep(&ms, NULL);
		if (rc == IPW_CLIENT_DROPPED)
			break;
	}
	ipw_client_stats(c, &sent, &dropped);
	printf("sent %llu dropped %llu\n", (unsigned long long)sent,
	       (unsigned long long)dropped);
	if (rc < 0)
		fprintf(stderr, "report_events: %s\n", ipw_client_strerror(rc));
	ipw_client_free(c);
	return rc == 0 ? 0 : 1;
}
