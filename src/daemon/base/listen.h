/* SPDX-License-Identifier: MIT */
/*
 * Listening addresses as the configuration and the command line write
 * them: "ADDR:PORT" for IPv4, "[V6]:PORT" for IPv6 (brackets required),
 * parsed with libipwall's strict address parser. Pure; any thread.
 */
#ifndef IPWALL_DAEMON_BASE_LISTEN_H
#define IPWALL_DAEMON_BASE_LISTEN_H

#include <stddef.h>
#include <sys/socket.h>

/* @s into a socket address. Returns 0, or -1 if it is not one. */
int ipwd_listen_parse(const char *s, struct sockaddr_storage *ss,
		      socklen_t *len);
/* 0 if @s is a valid [http] listen value ("" included: no TCP), else -1. */
int ipwd_listen_check(const char *s);

/* A client's address as text ("192.0.2.1", "2001:db8::1"; "?" if none)
 * in @buf, which it returns. */
const char *ipwd_sockaddr_text(const struct sockaddr *sa, char *buf,
			       size_t size);

#endif /* IPWALL_DAEMON_BASE_LISTEN_H */
