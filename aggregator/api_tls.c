// SPDX-License-Identifier: BSD-2-Clause
/* api_tls.c: the API's HTTPS certificate and key, read, checked and renewed (api_tls.h). */
#include <errno.h>
#include <limits.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include <gnutls/gnutls.h>
#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "api_tls.h"
#include "credentials.h"
#include "identity.h"
#include "tls.h"

/* A certificate chain and its key, as GnuTLS hands them to a handshake. */
struct pair {
	struct pair *older; /* the pairs loaded before it (kept: see api_tls.h) */
	gnutls_pcert_st pcert[API_TLS_CHAIN_MAX];
	unsigned int n_pcert;
	gnutls_privkey_t key;
	/* SHA-256 of both files' contents: a reload of the same pair changes nothing. */
	unsigned char digest[32];
	char not_after[40];
	int64_t not_after_unix; /* the same, as a Unix time */
	bool expired;
};

struct api_tls {
	struct pair *pairs; /* every pair loaded, newest first (older) */
	struct pair *pair;  /* the one served */
};

/* What api_tls_retrieve hands out: the process's one api_tls's pair. */
static _Atomic(struct pair *) served;

/* OpenSSL's reason for the last failure, or what to say when it gave none. */
static const char *ssl_reason(const char *fallback)
{
	const char *r = ERR_reason_error_string(ERR_peek_last_error());

	return r ? r : fallback;
}

static void key_free(char *key, size_t len)
{
	if (key) {
		explicit_bzero(key, len);
		free(key);
	}
}

static void pair_free(struct pair *p)
{
	unsigned int i;

	if (!p)
		return;
	for (i = 0; i < p->n_pcert; i++)
		gnutls_pcert_deinit(&p->pcert[i]);
	if (p->key)
		gnutls_privkey_deinit(p->key);
	free(p);
}

/* OpenSSL's checks (api_tls.h), each failure named; the certificate's notAfter into p. */
static int check(const char *cert, const char *key, const char *cert_path, const char *key_path,
		 struct pair *p, char *err, size_t errlen)
{
	EVP_PKEY *pkey = NULL;
	X509 *x = NULL;
	struct tm tm;
	BIO *b;
	int ret = -EINVAL, n;

	ERR_clear_error();
	b = BIO_new_mem_buf(cert, -1);
	x = b ? PEM_read_bio_X509(b, NULL, id_no_passphrase, NULL) : NULL;
	BIO_free(b);
	if (!x) {
		snprintf(err, errlen, "--http-tls-cert %s: not a PEM certificate: %s", cert_path,
			 ssl_reason("no CERTIFICATE block"));
		goto out;
	}
	ERR_clear_error();
	b = BIO_new_mem_buf(key, -1);
	pkey = b ? PEM_read_bio_PrivateKey(b, NULL, id_no_passphrase, NULL) : NULL;
	BIO_free(b);
	if (!pkey && strstr(key, "ENCRYPTED")) {
		snprintf(err, errlen,
			 "--http-tls-key %s: the key is encrypted, and the aggregator has no "
			 "passphrase for it (decrypt it: openssl pkey -in %s -out NEW, mode 0600)",
			 key_path, key_path);
		goto out;
	}
	if (!pkey) {
		snprintf(err, errlen, "--http-tls-key %s: not an unencrypted PEM private key: %s",
			 key_path, ssl_reason("no PRIVATE KEY block"));
		goto out;
	}
	if (X509_check_private_key(x, pkey) != 1) {
		snprintf(
			err, errlen,
			"--http-tls-key %s is not the key of the certificate in --http-tls-cert %s",
			key_path, cert_path);
		goto out;
	}
	p->expired = X509_cmp_current_time(X509_get0_notAfter(x)) < 0;
	if (ASN1_TIME_to_tm(X509_get0_notAfter(x), &tm) == 1)
		p->not_after_unix = (int64_t)timegm(&tm);
	b = BIO_new(BIO_s_mem());
	if (b && ASN1_TIME_print(b, X509_get0_notAfter(x)) == 1) {
		n = BIO_read(b, p->not_after, (int)sizeof(p->not_after) - 1);
		p->not_after[n > 0 ? n : 0] = '\0';
	}
	BIO_free(b);
	ret = 0;
out:
	ERR_clear_error();
	X509_free(x);
	EVP_PKEY_free(pkey);
	return ret;
}

/* The two files, checked, as a pair for GnuTLS. */
static int pair_load(const char *cert_path, const char *key_path, struct pair **out, char *err,
		     size_t errlen)
{
	struct pair *p = calloc(1, sizeof(*p));
	char *cert = NULL, *key = NULL, why[PATH_MAX + 256];
	size_t key_len = 0;
	gnutls_datum_t d;
	EVP_MD_CTX *md;
	struct stat st;
	int fd, ret, rv;

	*out = NULL;
	if (!p)
		return -ENOMEM;
	ret = tls_read_pem("--http-tls-cert", cert_path, -1, &cert, NULL, err, errlen);
	if (ret)
		goto out;
	/* The key: the credentials file's rule, checked on the descriptor that is then read. */
	fd = credentials_file_open(key_path, &st, why, sizeof(why));
	if (fd < 0) {
		snprintf(err, errlen, "--http-tls-key %s", why);
		ret = fd;
		goto out;
	}
	ret = tls_read_pem("--http-tls-key", key_path, fd, &key, &key_len, err, errlen);
	if (!ret)
		ret = check(cert, key, cert_path, key_path, p, err, errlen);
	if (ret)
		goto out;

	ret = -EINVAL;
	d = (gnutls_datum_t){ .data = (unsigned char *)cert, .size = (unsigned int)strlen(cert) };
	p->n_pcert = API_TLS_CHAIN_MAX;
	/* In order, as TLS sends it: the certificate, then each one's issuer. */
	rv = gnutls_pcert_list_import_x509_raw(p->pcert, &p->n_pcert, &d, GNUTLS_X509_FMT_PEM,
					       GNUTLS_X509_CRT_LIST_FAIL_IF_UNSORTED);
	if (rv < 0) {
		p->n_pcert = 0;
		snprintf(err, errlen, "--http-tls-cert %s: %s", cert_path,
			 rv == GNUTLS_E_SHORT_MEMORY_BUFFER
				 ? "more than 16 certificates in the chain"
			 : rv == GNUTLS_E_CERTIFICATE_LIST_UNSORTED
				 ? "the chain is out of order (the certificate first, then each "
				   "one's issuer)"
				 : gnutls_strerror(rv));
		goto out;
	}
	d = (gnutls_datum_t){ .data = (unsigned char *)key, .size = (unsigned int)strlen(key) };
	rv = gnutls_privkey_init(&p->key);
	if (!rv)
		rv = gnutls_privkey_import_x509_raw(p->key, &d, GNUTLS_X509_FMT_PEM, NULL, 0);
	if (rv < 0) {
		snprintf(err, errlen, "--http-tls-key %s: %s", key_path, gnutls_strerror(rv));
		goto out;
	}
	md = EVP_MD_CTX_new();
	if (!md || EVP_DigestInit_ex(md, EVP_sha256(), NULL) != 1 ||
	    EVP_DigestUpdate(md, cert, strlen(cert) + 1) != 1 ||
	    EVP_DigestUpdate(md, key, strlen(key)) != 1 ||
	    EVP_DigestFinal_ex(md, p->digest, NULL) != 1) {
		EVP_MD_CTX_free(md);
		snprintf(err, errlen, "--http-tls-cert %s: cannot hash it", cert_path);
		goto out;
	}
	EVP_MD_CTX_free(md);
	*out = p;
	p = NULL;
	ret = 0;
out:
	free(cert);
	key_free(key, key_len);
	pair_free(p);
	return ret;
}

int api_tls_open(const char *cert_path, const char *key_path, struct api_tls **out, char *err,
		 size_t errlen)
{
	struct api_tls *t = calloc(1, sizeof(*t));
	int ret;

	*out = NULL;
	if (!t)
		return -ENOMEM;
	ret = pair_load(cert_path, key_path, &t->pair, err, errlen);
	if (ret) {
		free(t);
		return ret;
	}
	t->pairs = t->pair;
	atomic_store_explicit(&served, t->pair, memory_order_release);
	*out = t;
	return 0;
}

int api_tls_reload(struct api_tls *t, const char *cert_path, const char *key_path, char *err,
		   size_t errlen)
{
	struct pair *p, *q;
	int ret;

	ret = pair_load(cert_path, key_path, &p, err, errlen);
	if (ret)
		return ret;
	if (!memcmp(p->digest, t->pair->digest, sizeof(p->digest))) {
		pair_free(p);
		return 0;
	}
	/* A pair served before (files switched back): that one again, so that what is kept is
	 * bounded by the distinct pairs. */
	for (q = t->pairs; q; q = q->older)
		if (!memcmp(p->digest, q->digest, sizeof(p->digest)))
			break;
	if (q) {
		pair_free(p);
		p = q;
	} else {
		p->older = t->pairs;
		t->pairs = p;
	}
	t->pair = p;
	atomic_store_explicit(&served, p, memory_order_release);
	return q ? 2 : 1;
}

const char *api_tls_not_after(const struct api_tls *t)
{
	return t->pair->not_after;
}

bool api_tls_expired(const struct api_tls *t)
{
	return t->pair->expired;
}

int64_t api_tls_not_after_unix(const struct api_tls *t)
{
	return t->pair->not_after_unix;
}

int api_tls_retrieve(gnutls_session_t session, const gnutls_datum_t *req_ca_dn, int nreqs,
		     const gnutls_pk_algorithm_t *pk_algos, int pk_algos_length,
		     gnutls_pcert_st **pcert, unsigned int *pcert_length, gnutls_privkey_t *pkey)
{
	struct pair *p = atomic_load_explicit(&served, memory_order_acquire);

	(void)session;
	(void)req_ca_dn;
	(void)nreqs;
	(void)pk_algos;
	(void)pk_algos_length;
	if (!p)
		return -1;
	*pcert = p->pcert;
	*pcert_length = p->n_pcert;
	*pkey = p->key;
	return 0;
}

void api_tls_free(struct api_tls *t)
{
	struct pair *p, *older;

	if (!t)
		return;
	atomic_store_explicit(&served, NULL, memory_order_release);
	for (p = t->pairs; p; p = older) {
		older = p->older;
		pair_free(p);
	}
	free(t);
}
