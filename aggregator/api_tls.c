// SPDX-License-Identifier: BSD-2-Clause
/* api_tls.c: the API's HTTPS certificate and key, read and checked (api_tls.h). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "api_tls.h"
#include "credentials.h"
#include "tls.h"

/* An encrypted key would have OpenSSL ask on the terminal: no passphrase, so it fails. */
static int no_passphrase(char *buf, int size, int rwflag, void *u)
{
	(void)buf;
	(void)size;
	(void)rwflag;
	(void)u;
	return -1;
}

/* OpenSSL's reason for the last failure, or what to say when it gave none. */
static const char *ssl_reason(const char *fallback)
{
	const char *r = ERR_reason_error_string(ERR_peek_last_error());

	return r ? r : fallback;
}

static void key_free(char *key)
{
	if (key) {
		explicit_bzero(key, strlen(key));
		free(key);
	}
}

void api_tls_free(struct api_tls *t)
{
	if (!t)
		return;
	free(t->cert);
	key_free(t->key);
	free(t);
}

int api_tls_load(const char *cert_path, const char *key_path, struct api_tls **out, char *err,
		 size_t errlen)
{
	struct api_tls *t = calloc(1, sizeof(*t));
	EVP_PKEY *pkey = NULL;
	X509 *x = NULL;
	BIO *b = NULL;
	struct stat st;
	int fd, ret;

	*out = NULL;
	if (!t)
		return -ENOMEM;
	ret = tls_read_pem("--http-tls-cert", cert_path, -1, &t->cert, err, errlen);
	if (ret)
		goto out;
	/* The key: the credentials file's rule, checked on the descriptor that is then read. */
	fd = credentials_file_open(key_path, &st, err, errlen);
	if (fd < 0) {
		char why[512];

		snprintf(why, sizeof(why), "%s", err);
		snprintf(err, errlen, "--http-tls-key %s", why);
		ret = fd;
		goto out;
	}
	ret = tls_read_pem("--http-tls-key", key_path, fd, &t->key, err, errlen);
	if (ret)
		goto out;

	ERR_clear_error();
	ret = -EINVAL;
	b = BIO_new_mem_buf(t->cert, -1);
	x = b ? PEM_read_bio_X509(b, NULL, no_passphrase, NULL) : NULL;
	if (!x) {
		snprintf(err, errlen, "--http-tls-cert %s: not a PEM certificate: %s", cert_path,
			 ssl_reason("no CERTIFICATE block"));
		goto out;
	}
	BIO_free(b);
	ERR_clear_error();
	b = BIO_new_mem_buf(t->key, -1);
	pkey = b ? PEM_read_bio_PrivateKey(b, NULL, no_passphrase, NULL) : NULL;
	if (!pkey && strstr(t->key, "ENCRYPTED")) {
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
	t->expired = X509_cmp_current_time(X509_get0_notAfter(x)) < 0;
	BIO_free(b);
	b = BIO_new(BIO_s_mem());
	if (b && ASN1_TIME_print(b, X509_get0_notAfter(x)) == 1) {
		int n = BIO_read(b, t->not_after, (int)sizeof(t->not_after) - 1);

		t->not_after[n > 0 ? n : 0] = '\0';
	}
	*out = t;
	t = NULL;
	ret = 0;
out:
	ERR_clear_error();
	BIO_free(b);
	X509_free(x);
	EVP_PKEY_free(pkey);
	api_tls_free(t);
	return ret;
}
