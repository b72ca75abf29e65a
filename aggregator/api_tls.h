/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * api_tls.h: the API's HTTPS certificate and key (--http-tls-cert, --http-tls-key; config keys
 * http-tls-cert, http-tls-key), which libmicrohttpd's TLS handshakes take from api_tls_retrieve
 * (MHD_OPTION_HTTPS_CERT_CALLBACK), so that a SIGHUP can renew them without a restart.
 *
 * Both files are checked with OpenSSL before they are taken, so that each mistake is named:
 *  - the certificate file holds a PEM certificate, its chain after it in order, each
 *    certificate's issuer next (at most API_TLS_CHAIN_MAX certificates in all);
 *  - the key file is a regular file of the aggregator's uid or root's that group and others may
 *    not write and others may not read (the credentials file's rule, credentials.h), read on the
 *    descriptor checked, holding an unencrypted PEM private key;
 *  - the key is the certificate's.
 * A certificate past its notAfter is taken, with the caller warned (api_tls_expired): refusing
 * it would stop the agents' side of the aggregator too, for an API that clients refuse anyway.
 *
 * One per process: the handshake callback has no context pointer, so api_tls_open publishes the
 * pair it loaded for api_tls_retrieve. api_tls_reload replaces the pair that new handshakes get;
 * the pairs it replaced stay allocated, their keys in memory, until api_tls_free: GnuTLS keeps the
 * pointers in each session (a keep-alive connection may hold one long after). A reload of the
 * contents served changes nothing, and one of a pair served before serves that one again, so that
 * what is kept is bounded by the distinct pairs loaded. Thread-safe: api_tls_retrieve runs on
 * libmicrohttpd's threads while the main loop reloads.
 */
#ifndef EDGECAP_API_TLS_H
#define EDGECAP_API_TLS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <gnutls/abstract.h>

#define API_TLS_CHAIN_MAX 16

struct api_tls;

/* 0, or a negative errno with err naming the flag, the file and what is wrong with it. */
int api_tls_open(const char *cert_path, const char *key_path, struct api_tls **out, char *err,
		 size_t errlen);
/*
 * Reads both files again. 1: new handshakes get the new pair; 2: ... a pair served before, again;
 * 0: the files hold what is served already; a negative errno with err saying why: the pair served
 * stays.
 */
int api_tls_reload(struct api_tls *t, const char *cert_path, const char *key_path, char *err,
		   size_t errlen);
/* The served certificate's notAfter, e.g. "Dec  9 06:00:00 2026 GMT", and whether it passed. */
const char *api_tls_not_after(const struct api_tls *t);
bool api_tls_expired(const struct api_tls *t);
/* ... as a Unix time, for the metrics (edgecap_aggregator_api_tls_not_after_seconds). */
int64_t api_tls_not_after_unix(const struct api_tls *t);
/* For MHD_OPTION_HTTPS_CERT_CALLBACK: the pair served now. */
int api_tls_retrieve(gnutls_session_t session, const gnutls_datum_t *req_ca_dn, int nreqs,
		     const gnutls_pk_algorithm_t *pk_algos, int pk_algos_length,
		     gnutls_pcert_st **pcert, unsigned int *pcert_length, gnutls_privkey_t *pkey);
/* After the API stopped: every pair, the key wiped; NULL is accepted. */
void api_tls_free(struct api_tls *t);

#endif /* EDGECAP_API_TLS_H */
