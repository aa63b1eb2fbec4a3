/* SPDX-License-Identifier: MIT */
/*
 * TLS for the TCP listeners ([http] tls_cert, tls_key): GnuTLS through
 * libmicrohttpd, as Debian builds it.
 *
 * The certificate and key are given to MHD through its certificate
 * callback rather than as fixed memory, so a SIGHUP can replace them
 * without a restart: a reload loads and checks the new pair (the key must
 * match the certificate) and, only if both are good, makes it the one
 * new handshakes get; a bad pair is refused with the reason and the
 * running one stays. Pairs replaced by a reload are kept until the stop
 * (a handshake may still hold one); each is a few kilobytes.
 *
 * Versions: TLS 1.2 and 1.3 only (ipwd_tls_priorities).
 *
 * Concurrency: the callback runs on the HTTP workers and reads the
 * current pair with one atomic load; new and reload run on the main
 * thread.
 */
#ifndef IPWALL_DAEMON_API_TLS_H
#define IPWALL_DAEMON_API_TLS_H

struct ipwd_tls;

extern const char ipwd_tls_priorities[];

/* Load @cert (PEM, the chain in order) and @key (PEM). Problems are
 * logged. Returns 0 or -1. */
int ipwd_tls_new(struct ipwd_tls **out, const char *cert, const char *key);
/* Replace the pair; -1 (logged) keeps the running one. */
int ipwd_tls_reload(struct ipwd_tls *t, const char *cert, const char *key);
void ipwd_tls_free(struct ipwd_tls *t);
/* The gnutls_certificate_retrieve_function2 for MHD_OPTION_HTTPS_CERT_
 * CALLBACK; it serves the pair of the one ipwd_tls in the process. */
void *ipwd_tls_callback(void);
/* The subject and expiry of the running certificate, for the log. */
const char *ipwd_tls_describe(struct ipwd_tls *t);

#endif /* IPWALL_DAEMON_API_TLS_H */
