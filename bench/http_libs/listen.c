/* SPDX-License-Identifier: MIT */
/*
 * The listening socket shared by the evhttp and h2o candidates: loopback
 * only, SO_REUSEADDR so a rerun does not wait for TIME_WAIT, SO_REUSEPORT
 * when each worker thread has a socket of its own (the kernel spreads new
 * connections across them; no shared accept queue, no thundering herd).
 */
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "check.h"

int check_listen(unsigned short port, int reuseport, int nonblock)
{
	struct sockaddr_in sin;
	int one = 1;
	int fd = socket(
		AF_INET,
		SOCK_STREAM | SOCK_CLOEXEC | (nonblock ? SOCK_NONBLOCK : 0), 0);

	if (fd < 0) {
		perror("socket");
		return -1;
	}
	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_port = htons(port);
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) != 0 ||
	    (reuseport && setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one,
				     sizeof(one)) != 0) ||
	    bind(fd, (struct sockaddr *)&sin, sizeof(sin)) != 0 ||
	    listen(fd, 1024) != 0) {
		perror("listen 127.0.0.1");
		close(fd);
		return -1;
	}
	return fd;
}
