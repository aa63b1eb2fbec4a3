/* SPDX-License-Identifier: MIT */
/*
 * TLS certificates for the TCP listeners (see tls.h).
 */
#include <gnutls/abstract.h>
#include <gnutls/gnutls.h>
#include <gnutls/x509.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "api/tls.h"
#include "base/log.h"

#define MAX_CHAIN 8

const char ipwd_tls_priorities[] = "NORMAL:-VERS-ALL:+VERS-TLS1.3:+VERS-TLS1.2";

/* One certificate chain and its key, as handshakes are given them. */
struct pair {
	gnutls_pcert_st pcert[MAX_CHAIN];
	unsigned n;
	gnutls_privkey_t key;
	char describe[256];
	struct pair *older; /* replaced pairs, freed at the stop */
};

struct ipwd_tls {
	struct pair *cur; /* atomic */
};

/* The process's one set, for the callback (a gnutls retrieve function
 * has no argument of ours). */
static struct ipwd_tls *the_tls;

static void pair_free(struct pair *p)
{
	unsigned i;

	if (p == NULL)
		return;
	for (i = 0; i < p->n; i++)
		gnutls_pcert_deinit(&p->pcert[i]);
	if (p->key)
		gnutls_privkey_deinit(p->key);
	free(p);
}

static int read_file(const char *path, const char *what, gnutls_datum_t *d)
{
	int rc = gnutls_load_file(path, d);

	if (rc < 0) {
		log_error("[http] %s = %s: cannot read: %s", what, path,
			  gnutls_strerror(rc));
		return -1;
	}
	return 0;
}

static void describe(struct pair *p, const gnutls_datum_t *pem)
{
	gnutls_x509_crt_t crt;
	gnutls_datum_t dn = {NULL, 0};
	char until[32] = "?";
	time_t t;
	struct tm tm;

	snprintf(p->describe, sizeof(p->describe), "a certificate");
	if (gnutls_x509_crt_init(&crt) < 0)
		return;
	if (gnutls_x509_crt_import(crt, pem, GNUTLS_X509_FMT_PEM) >= 0 &&
	    gnutls_x509_crt_get_dn3(crt, &dn, 0) >= 0) {
		t = gnutls_x509_crt_get_expiration_time(crt);
		if (t != (time_t)-1 && gmtime_r(&t, &tm))
			strftime(until, sizeof(until), "%Y-%m-%dT%H:%M:%SZ",
				 &tm);
		snprintf(p->describe, sizeof(p->describe),
			 "certificate \"%.160s\" valid until %s", dn.data,
			 until);
		if (t != (time_t)-1 && t < time(NULL))
			log_warn("tls: the %s has expired", p->describe);
	}
	gnutls_free(dn.data);
	gnutls_x509_crt_deinit(crt);
}

/* Load and check a pair: the chain, the key, and that they match. */
static struct pair *load(const char *cert, const char *key)
{
	gnutls_datum_t c = {NULL, 0}, k = {NULL, 0};
	gnutls_certificate_credentials_t check = NULL;
	struct pair *p = NULL;
	int rc;

	if (read_file(cert, "tls_cert", &c) || read_file(key, "tls_key", &k))
		goto out;
	/* The credentials API checks that the key belongs to the
	 * certificate (GNUTLS_E_CERTIFICATE_KEY_MISMATCH). */
	if (gnutls_certificate_allocate_credentials(&check) < 0)
		goto out;
	rc = gnutls_certificate_set_x509_key_mem2(check, &c, &k,
						  GNUTLS_X509_FMT_PEM, NULL, 0);
	if (rc < 0) {
		log_error("tls: %s with %s: %s", cert, key,
			  gnutls_strerror(rc));
		goto out;
	}
	p = calloc(1, sizeof(*p));
	if (p == NULL)
		goto out;
	p->n = MAX_CHAIN;
	rc = gnutls_pcert_list_import_x509_raw(p->pcert, &p->n, &c,
					       GNUTLS_X509_FMT_PEM, 0);
	if (rc < 0) {
		log_error("tls: %s: %s", cert, gnutls_strerror(rc));
		p->n = 0;
		pair_free(p);
		p = NULL;
		goto out;
	}
	rc = gnutls_privkey_init(&p->key);
	if (rc >= 0)
		rc = gnutls_privkey_import_x509_raw(
			p->key, &k, GNUTLS_X509_FMT_PEM, NULL, 0);
	if (rc < 0) {
		log_error("tls: %s: %s", key, gnutls_strerror(rc));
		pair_free(p);
		p = NULL;
		goto out;
	}
	describe(p, &c);
out:
	if (check)
		gnutls_certificate_free_credentials(check);
	if (k.data) {
		gnutls_memset(k.data, 0, k.size);
		gnutls_free(k.data);
	}
	gnutls_free(c.data);
	return p;
}

static int retrieve(gnutls_session_t s, const gnutls_datum_t *req_ca_rdn,
		    int nreqs, const gnutls_pk_algorithm_t *pk_algos,
		    int pk_algos_length, gnutls_pcert_st **pcert,
		    unsigned int *pcert_length, gnutls_privkey_t *pkey)
{
	struct pair *p;

	(void)s, (void)req_ca_rdn, (void)nreqs, (void)pk_algos;
	(void)pk_algos_length;
	p = the_tls ? __atomic_load_n(&the_tls->cur, __ATOMIC_ACQUIRE) : NULL;
	if (p == NULL)
		return -1;
	*pcert = p->pcert;
	*pcert_length = p->n;
	*pkey = p->key;
	return 0;
}

void *ipwd_tls_callback(void)
{
	return (void *)retrieve;
}

int ipwd_tls_new(struct ipwd_tls **out, const char *cert, const char *key)
{
	struct ipwd_tls *t;
	struct pair *p = load(cert, key);

	if (p == NULL)
		return -1;
	t = calloc(1, sizeof(*t));
	if (t == NULL) {
		pair_free(p);
		return -1;
	}
	t->cur = p;
	the_tls = t;
	*out = t;
	return 0;
}

int ipwd_tls_reload(struct ipwd_tls *t, const char *cert, const char *key)
{
	struct pair *p = load(cert, key);

	if (p == NULL)
		return -1;
	p->older = t->cur;
	__atomic_store_n(&t->cur, p, __ATOMIC_RELEASE);
	return 0;
}

const char *ipwd_tls_describe(struct ipwd_tls *t)
{
	return t->cur->describe;
}

void ipwd_tls_free(struct ipwd_tls *t)
{
	struct pair *p, *next;

	if (t == NULL)
		return;
	for (p = t->cur; p; p = next) {
		next = p->older;
		pair_free(p);
	}
	if (the_tls == t)
		the_tls = NULL;
	free(t);
}
