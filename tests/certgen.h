/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * certgen.h: certificates made in the process, for the unit test and the fuzz target of what
 * reads the name a certificate gives its holder (common/identity.c): a self-signed X.509 whose
 * subject CN and subjectAltNames hold any bytes, as PEM. Nothing here is a certificate checked
 * in: the key is made at the first call, and every certificate is made when asked for.
 */
#ifndef EDGECAP_TESTS_CERTGEN_H
#define EDGECAP_TESTS_CERTGEN_H

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

/* One subjectAltName: type GEN_DNS, GEN_URI or GEN_EMAIL (each an IA5String), any bytes. */
struct certgen_alt {
	int type;
	const unsigned char *data;
	size_t len;
};

static EVP_PKEY *certgen_key(void)
{
	static EVP_PKEY *key;

	if (!key)
		key = EVP_EC_gen("P-256");
	return key;
}

/*
 * certgen_pem's flags: an O before the CN; a second CN after it ("other"); a subjectAltName
 * extension that does not decode (in place of alts).
 */
#define CERTGEN_O_FIRST	  1
#define CERTGEN_SECOND_CN 2
#define CERTGEN_BAD_ALTS  4

/*
 * A PEM certificate (malloc'd, NUL-terminated): subject CN the cn_len bytes at cn as ASN.1
 * string type cn_type, taken as they are (no CN when cn is NULL), with what flags add, and the
 * n_alts subjectAltNames alts (no extension when n_alts is 0). NULL when OpenSSL will not make
 * it.
 */
static char *certgen_pem(int cn_type, const unsigned char *cn, size_t cn_len, unsigned int flags,
			 const struct certgen_alt *alts, size_t n_alts)
{
	EVP_PKEY *key = certgen_key();
	GENERAL_NAMES *gens = NULL;
	X509 *x = X509_new();
	BIO *bio = NULL;
	char *pem = NULL, *p;
	long len;
	size_t i;

	if (!key || !x || !X509_set_version(x, X509_VERSION_3) ||
	    !ASN1_INTEGER_set(X509_get_serialNumber(x), 1) ||
	    !X509_gmtime_adj(X509_getm_notBefore(x), 0) ||
	    !X509_gmtime_adj(X509_getm_notAfter(x), 3600) || !X509_set_pubkey(x, key))
		goto out;
	if ((flags & CERTGEN_O_FIRST) &&
	    !X509_NAME_add_entry_by_NID(X509_get_subject_name(x), NID_organizationName,
					MBSTRING_ASC, (const unsigned char *)"edgecap", -1, -1, 0))
		goto out;
	if (cn && !X509_NAME_add_entry_by_NID(X509_get_subject_name(x), NID_commonName, cn_type, cn,
					      (int)cn_len, -1, 0))
		goto out;
	if ((flags & CERTGEN_SECOND_CN) &&
	    !X509_NAME_add_entry_by_NID(X509_get_subject_name(x), NID_commonName, MBSTRING_ASC,
					(const unsigned char *)"other", -1, -1, 0))
		goto out;
	if (!X509_set_issuer_name(x, X509_get_subject_name(x)))
		goto out;
	if (flags & CERTGEN_BAD_ALTS) {
		/* A SEQUENCE that promises 3 bytes and holds a dNSName cut short. */
		static const unsigned char bad[] = { 0x30, 0x03, 0x82, 0x05, 0x68 };
		ASN1_OCTET_STRING *v = ASN1_OCTET_STRING_new();
		X509_EXTENSION *ext = NULL;
		bool ok = v && ASN1_OCTET_STRING_set(v, bad, sizeof(bad)) &&
			  (ext = X509_EXTENSION_create_by_NID(NULL, NID_subject_alt_name, 0, v)) &&
			  X509_add_ext(x, ext, -1);

		X509_EXTENSION_free(ext);
		ASN1_OCTET_STRING_free(v);
		if (!ok)
			goto out;
	} else if (n_alts) {
		gens = sk_GENERAL_NAME_new_null();
		if (!gens)
			goto out;
		for (i = 0; i < n_alts; i++) {
			GENERAL_NAME *g = GENERAL_NAME_new();
			ASN1_IA5STRING *s = ASN1_IA5STRING_new();

			if (!g || !s || !ASN1_STRING_set(s, alts[i].data, (int)alts[i].len)) {
				GENERAL_NAME_free(g);
				ASN1_IA5STRING_free(s);
				goto out;
			}
			GENERAL_NAME_set0_value(g, alts[i].type, s);
			if (!sk_GENERAL_NAME_push(gens, g)) {
				GENERAL_NAME_free(g);
				goto out;
			}
		}
		if (!X509_add1_ext_i2d(x, NID_subject_alt_name, gens, 0, 0))
			goto out;
	}
	if (!X509_sign(x, key, EVP_sha256()))
		goto out;
	bio = BIO_new(BIO_s_mem());
	if (!bio || !PEM_write_bio_X509(bio, x))
		goto out;
	len = BIO_get_mem_data(bio, &p);
	pem = len > 0 ? malloc((size_t)len + 1) : NULL;
	if (pem) {
		memcpy(pem, p, (size_t)len);
		pem[len] = '\0';
	}
out:
	sk_GENERAL_NAME_pop_free(gens, GENERAL_NAME_free);
	BIO_free(bio);
	X509_free(x);
	ERR_clear_error();
	return pem;
}

#endif /* EDGECAP_TESTS_CERTGEN_H */
