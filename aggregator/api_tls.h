/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * api_tls.h: the API's HTTPS certificate and key (--http-tls-cert, --http-tls-key; config keys
 * http-tls-cert, http-tls-key), read once at start for libmicrohttpd (api.h). Checked with
 * OpenSSL before the listener starts, so that each mistake is named:
 *  - the certificate file holds a PEM certificate (the chain may follow it);
 *  - the key file is a regular file of the aggregator's uid or root's that group and others may
 *    not write and others may not read (the credentials file's rule, credentials.h), holding an
 *    unencrypted PEM private key;
 *  - the key is the certificate's.
 * A certificate past its notAfter is taken, with a warning (api_tls.expired): refusing it would
 * stop the agents' side of the aggregator too, for an API that clients refuse anyway.
 */
#ifndef EDGECAP_API_TLS_H
#define EDGECAP_API_TLS_H

#include <stdbool.h>
#include <stddef.h>

struct api_tls {
	char *cert;	    /* PEM, NUL-terminated */
	char *key;	    /* PEM, NUL-terminated; wiped by api_tls_free */
	char not_after[40]; /* the certificate's notAfter, e.g. "Dec  9 06:00:00 2026 GMT" */
	bool expired;	    /* notAfter has passed */
};

/* 0, or a negative errno with err naming the flag, the file and what is wrong with it. */
int api_tls_load(const char *cert_path, const char *key_path, struct api_tls **out, char *err,
		 size_t errlen);
/* Wipes the key and frees; NULL is accepted. */
void api_tls_free(struct api_tls *t);

#endif /* EDGECAP_API_TLS_H */
