// SPDX-License-Identifier: BSD-2-Clause
#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <openssl/bio.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "fileutil.h"
#include "identity.h"

struct id_signer {
	char *cert_pem;
	char name[256];
	EVP_PKEY *key;
};

struct id_verifier {
	X509_STORE *store;
};

static const char signed_label[] = "edgecap-identity-v1";

/* OpenSSL's last error as text, for a message. */
static const char *ssl_reason(void)
{
	unsigned long e = ERR_get_error();
	const char *r = e ? ERR_reason_error_string(e) : NULL;

	ERR_clear_error();
	return r ? r : "unknown error";
}

int id_random(void *buf, size_t len)
{
	return RAND_bytes(buf, (int)len) == 1 ? 0 : -EIO;
}

size_t id_signed_bytes(uint16_t major, uint16_t minor, const uint8_t nonce[ID_NONCE_LEN],
		       const char *host_id, const uint8_t key[ID_KEY_LEN],
		       uint8_t out[ID_SIGNED_MAX])
{
	size_t n = 0, hl = strnlen(host_id, 255);

	memcpy(out, signed_label, sizeof(signed_label));
	n += sizeof(signed_label);
	out[n++] = (uint8_t)(major >> 8);
	out[n++] = (uint8_t)major;
	out[n++] = (uint8_t)(minor >> 8);
	out[n++] = (uint8_t)minor;
	memcpy(out + n, nonce, ID_NONCE_LEN);
	n += ID_NONCE_LEN;
	out[n++] = (uint8_t)hl;
	memcpy(out + n, host_id, hl);
	n += hl;
	memcpy(out + n, key, ID_KEY_LEN);
	return n + ID_KEY_LEN;
}

/* s (n bytes) into out as a C string when it fits whole and holds no NUL; else out stays "". */
static void name_copy(char *out, size_t size, const unsigned char *s, int n)
{
	if (n > 0 && (size_t)n < size && !memchr(s, 0, (size_t)n)) {
		memcpy(out, s, (size_t)n);
		out[n] = '\0';
	}
}

/*
 * The name a certificate gives its holder (DESIGN.md: "its CN (or first DNS SAN)"): its CN and
 * its first DNS subjectAltName where it has both, which must then be the same text; the one it
 * has where it has only one. "" (nobody) when it has neither, when the two differ (whichever a
 * reader took, the other would name someone else), or when a name is not whole text: longer
 * than size - 1, a NUL inside, a subjectAltName extension that does not decode or comes twice,
 * two CNs (readers differ on which one counts), or a CN that is not a UTF8String,
 * PrintableString or IA5String (the bytes of a BMPString are not its text: U+686F U+7374 U+2D61
 * is the bytes "host-a"). Returns NULL with the name in out, or why it names nobody.
 */
static const char *cert_name(X509 *x, char *out, size_t size)
{
	const ASN1_STRING *cn;
	X509_NAME *subject;
	GENERAL_NAMES *sans;
	bool dns = false;
	int i, crit = -1, type, len;

	if (!size)
		return "no room for a name";
	out[0] = '\0';
	sans = X509_get_ext_d2i(x, NID_subject_alt_name, &crit, NULL);
	if (!sans && crit != -1)
		return "its subjectAltNames do not decode";
	for (i = 0; sans && i < sk_GENERAL_NAME_num(sans); i++) {
		const GENERAL_NAME *g = sk_GENERAL_NAME_value(sans, i);

		if (g->type != GEN_DNS)
			continue;
		dns = true;
		name_copy(out, size, ASN1_STRING_get0_data(g->d.dNSName),
			  ASN1_STRING_length(g->d.dNSName));
		break;
	}
	GENERAL_NAMES_free(sans);
	if (dns && !out[0])
		return "its first DNS subjectAltName is empty, too long or holds a NUL";
	subject = X509_get_subject_name(x);
	i = X509_NAME_get_index_by_NID(subject, NID_commonName, -1);
	if (i < 0)
		return dns ? NULL : "it has no CN and no DNS subjectAltName";
	if (X509_NAME_get_index_by_NID(subject, NID_commonName, i) >= 0) {
		out[0] = '\0';
		return "it has two CNs";
	}
	cn = X509_NAME_ENTRY_get_data(X509_NAME_get_entry(subject, i));
	type = ASN1_STRING_type(cn);
	len = ASN1_STRING_length(cn);
	if (type != V_ASN1_UTF8STRING && type != V_ASN1_PRINTABLESTRING &&
	    type != V_ASN1_IA5STRING) {
		out[0] = '\0';
		return "its CN is not text (a UTF8String, PrintableString or IA5String)";
	}
	if (!dns) {
		name_copy(out, size, ASN1_STRING_get0_data(cn), len);
		return out[0] ? NULL : "its CN is empty, too long or holds a NUL";
	}
	if ((size_t)len != strlen(out) || memcmp(out, ASN1_STRING_get0_data(cn), (size_t)len)) {
		out[0] = '\0';
		return "its CN and its first DNS subjectAltName differ";
	}
	return NULL;
}

/*
 * path opened for reading, a regular file only (a FIFO would block the agent's start for ever:
 * file_open_regular); NULL with err naming what and path.
 */
static FILE *open_file(const char *what, const char *path, int *ret, char *err, size_t errlen)
{
	const char *why;
	FILE *f = file_fopen_regular(path, &why);

	if (!f) {
		*ret = -errno;
		snprintf(err, errlen, "%s %s: %s", what, path, why ? why : strerror(errno));
	}
	return f;
}

int id_no_passphrase(char *buf, int size, int rwflag, void *u)
{
	(void)buf;
	(void)size;
	(void)rwflag;
	(void)u;
	return -1;
}

/* A whole small file (a PEM) as a NUL-terminated string. */
static int read_text(const char *what, const char *path, size_t max, char **out, char *err,
		     size_t errlen)
{
	size_t len;
	char *buf;
	int ret;
	FILE *f = open_file(what, path, &ret, err, errlen);

	if (!f)
		return ret;
	buf = malloc(max + 1);
	if (!buf) {
		fclose(f);
		return -ENOMEM;
	}
	len = fread(buf, 1, max + 1, f);
	fclose(f);
	if (!len || len > max) {
		snprintf(err, errlen, "%s %s: %s", what, path,
			 len ? "too large for a certificate" : "empty or unreadable");
		free(buf);
		return -EINVAL;
	}
	buf[len] = '\0';
	*out = buf;
	return 0;
}

int id_signer_open(const char *cert_path, const char *key_path, struct id_signer **out, char *err,
		   size_t errlen)
{
	struct id_signer *s = calloc(1, sizeof(*s));
	X509 *x = NULL;
	BIO *bio = NULL;
	FILE *f = NULL;
	int ret;

	if (!s)
		return -ENOMEM;
	ret = read_text("--tls-cert", cert_path, ID_CERT_MAX, &s->cert_pem, err, errlen);
	if (ret)
		goto fail;
	bio = BIO_new_mem_buf(s->cert_pem, -1);
	x = bio ? PEM_read_bio_X509(bio, NULL, NULL, NULL) : NULL;
	if (!x) {
		snprintf(err, errlen, "--tls-cert %s: not a PEM certificate: %s", cert_path,
			 ssl_reason());
		ret = -EINVAL;
		goto fail;
	}
	cert_name(x, s->name, sizeof(s->name));
	f = open_file("--tls-key", key_path, &ret, err, errlen);
	if (!f)
		goto fail;
	s->key = PEM_read_PrivateKey(f, NULL, id_no_passphrase, NULL);
	if (!s->key) {
		snprintf(err, errlen, "--tls-key %s: not an unencrypted PEM private key: %s",
			 key_path, ssl_reason());
		ret = -EINVAL;
		goto fail;
	}
	if (X509_check_private_key(x, s->key) != 1) {
		snprintf(err, errlen, "--tls-key %s is not the key of --tls-cert %s", key_path,
			 cert_path);
		ret = -EINVAL;
		goto fail;
	}
	*out = s;
	ret = 0;
	s = NULL;
fail:
	if (f)
		fclose(f);
	X509_free(x);
	BIO_free(bio);
	id_signer_free(s);
	return ret;
}

void id_signer_free(struct id_signer *s)
{
	if (!s)
		return;
	EVP_PKEY_free(s->key);
	free(s->cert_pem);
	free(s);
}

const char *id_signer_cert_pem(const struct id_signer *s)
{
	return s->cert_pem;
}

const char *id_signer_name(const struct id_signer *s)
{
	return s->name;
}

/* SHA-256 with every key type but the EdDSA ones, which hash for themselves. */
static const EVP_MD *sig_md(EVP_PKEY *k)
{
	int id = EVP_PKEY_get_id(k);

	return id == EVP_PKEY_ED25519 || id == EVP_PKEY_ED448 ? NULL : EVP_sha256();
}

int id_sign(struct id_signer *s, const uint8_t *data, size_t len, uint8_t sig[ID_SIG_MAX],
	    size_t *siglen, char *err, size_t errlen)
{
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	size_t n = 0;
	int ret = -EINVAL;

	if (!ctx)
		return -ENOMEM;
	if (EVP_DigestSignInit(ctx, NULL, sig_md(s->key), NULL, s->key) != 1 ||
	    EVP_DigestSign(ctx, NULL, &n, data, len) != 1 || n > ID_SIG_MAX ||
	    EVP_DigestSign(ctx, sig, &n, data, len) != 1) {
		snprintf(err, errlen, "cannot sign with the certificate's key: %s",
			 n > ID_SIG_MAX ? "signature too long" : ssl_reason());
		goto cleanup;
	}
	*siglen = n;
	ret = 0;
cleanup:
	EVP_MD_CTX_free(ctx);
	return ret;
}

int id_verifier_open(const char *ca_path, struct id_verifier **out, char *err, size_t errlen)
{
	struct id_verifier *v = calloc(1, sizeof(*v));

	if (!v)
		return -ENOMEM;
	v->store = X509_STORE_new();
	if (!v->store || X509_STORE_load_file(v->store, ca_path) != 1) {
		snprintf(err, errlen, "--tls-ca %s: not a readable PEM certificate: %s", ca_path,
			 ssl_reason());
		id_verifier_free(v);
		return -EINVAL;
	}
	*out = v;
	return 0;
}

void id_verifier_free(struct id_verifier *v)
{
	if (!v)
		return;
	X509_STORE_free(v->store);
	free(v);
}

/*
 * The earliest notAfter of the chain sctx verified, in seconds since the epoch; -EKEYREJECTED
 * when a date cannot be read (never taken as "valid forever").
 */
static int chain_not_after(X509_STORE_CTX *sctx, int64_t *out)
{
	STACK_OF(X509) *chain = X509_STORE_CTX_get0_chain(sctx);
	int64_t earliest = INT64_MAX;
	struct tm tm;
	time_t t;
	int i;

	if (!chain || sk_X509_num(chain) < 1)
		return -EKEYREJECTED;
	for (i = 0; i < sk_X509_num(chain); i++) {
		memset(&tm, 0, sizeof(tm));
		if (ASN1_TIME_to_tm(X509_get0_notAfter(sk_X509_value(chain, i)), &tm) != 1)
			return -EKEYREJECTED;
		t = timegm(&tm);
		if (t == (time_t)-1)
			return -EKEYREJECTED;
		if ((int64_t)t < earliest)
			earliest = (int64_t)t;
	}
	*out = earliest;
	return 0;
}

int id_verify(struct id_verifier *v, const char *cert_pem, const char *host_id, const uint8_t *data,
	      size_t len, const uint8_t *sig, size_t siglen, int64_t *valid_until, char *err,
	      size_t errlen)
{
	X509_STORE_CTX *sctx = NULL;
	EVP_MD_CTX *mctx = NULL;
	EVP_PKEY *pub = NULL;
	const char *nobody;
	char name[256];
	X509 *x = NULL;
	BIO *bio = NULL;
	int ret = -EKEYREJECTED;

	bio = BIO_new_mem_buf(cert_pem, -1);
	x = bio ? PEM_read_bio_X509(bio, NULL, NULL, NULL) : NULL;
	if (!x) {
		snprintf(err, errlen, "the certificate is not PEM: %s", ssl_reason());
		goto cleanup;
	}
	sctx = X509_STORE_CTX_new();
	if (!sctx || X509_STORE_CTX_init(sctx, v->store, x, NULL) != 1) {
		ret = -ENOMEM;
		snprintf(err, errlen, "cannot check the certificate: no memory");
		goto cleanup;
	}
	/*
	 * An agent's proof is a TLS client's: a certificate whose extended key usage leaves out
	 * clientAuth (the aggregator's own, a serverAuth one, from the same CA) proves no agent.
	 * One without the extension is taken, as TLS takes it.
	 */
	if (X509_STORE_CTX_set_purpose(sctx, X509_PURPOSE_SSL_CLIENT) != 1) {
		snprintf(err, errlen, "cannot check the certificate's purpose: %s", ssl_reason());
		goto cleanup;
	}
	if (X509_verify_cert(sctx) != 1) {
		snprintf(err, errlen, "the certificate is not from the CA: %s",
			 X509_verify_cert_error_string(X509_STORE_CTX_get_error(sctx)));
		goto cleanup;
	}
	if (valid_until && chain_not_after(sctx, valid_until)) {
		snprintf(err, errlen, "cannot read the dates of the certificate's chain");
		goto cleanup;
	}
	nobody = cert_name(x, name, sizeof(name));
	if (nobody) {
		snprintf(err, errlen, "the certificate names nobody (%s), not %.80s", nobody,
			 host_id);
		goto cleanup;
	}
	if (strcmp(name, host_id)) {
		snprintf(err, errlen, "the certificate names %.80s, not %.80s", name, host_id);
		goto cleanup;
	}
	pub = X509_get_pubkey(x);
	mctx = EVP_MD_CTX_new();
	if (!pub || !mctx || EVP_DigestVerifyInit(mctx, NULL, sig_md(pub), NULL, pub) != 1 ||
	    EVP_DigestVerify(mctx, sig, siglen, data, len) != 1) {
		snprintf(err, errlen, "the signature is not the certificate's over this survey");
		ERR_clear_error();
		goto cleanup;
	}
	ret = 0;
cleanup:
	EVP_MD_CTX_free(mctx);
	EVP_PKEY_free(pub);
	X509_STORE_CTX_free(sctx);
	X509_free(x);
	BIO_free(bio);
	return ret;
}

int id_cert_name(const char *pem, char *out, size_t size)
{
	BIO *bio = BIO_new_mem_buf(pem, -1);
	X509 *x = bio ? PEM_read_bio_X509(bio, NULL, NULL, NULL) : NULL;

	out[0] = '\0';
	BIO_free(bio);
	if (!x) {
		ERR_clear_error();
		return -EINVAL;
	}
	cert_name(x, out, size);
	X509_free(x);
	return 0;
}

/*
 * One HMAC-SHA256 context per thread, made by the thread's first MAC and keyed again for each
 * message (and with zeros after it); freed when the thread exits, the main thread's with the
 * process. OpenSSL's one-shot HMAC() fetches the algorithm and makes and frees a context at
 * every call, about 0.7 µs a message: with 10,000 agents a message holds some 30 records, and
 * that was a fixed cost the aggregator paid on each.
 */
static pthread_once_t mac_once = PTHREAD_ONCE_INIT;
static pthread_key_t mac_key;
static EVP_MAC *mac_alg;
static __thread EVP_MAC_CTX *mac_ctx;

static void mac_ctx_free(void *c)
{
	EVP_MAC_CTX_free(c);
	mac_ctx = NULL;
}

static void mac_once_make(void)
{
	if (pthread_key_create(&mac_key, mac_ctx_free))
		return;
	mac_alg = EVP_MAC_fetch(NULL, OSSL_MAC_NAME_HMAC, NULL);
}

static EVP_MAC_CTX *thread_mac_ctx(void)
{
	OSSL_PARAM params[] = {
		OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, (char *)"SHA256", 0),
		OSSL_PARAM_construct_end(),
	};
	EVP_MAC_CTX *c;

	if (mac_ctx)
		return mac_ctx;
	pthread_once(&mac_once, mac_once_make);
	if (!mac_alg)
		return NULL;
	c = EVP_MAC_CTX_new(mac_alg);
	if (!c || EVP_MAC_CTX_set_params(c, params) != 1 || pthread_setspecific(mac_key, c)) {
		EVP_MAC_CTX_free(c);
		ERR_clear_error();
		return NULL;
	}
	return mac_ctx = c;
}

/* The calling thread's context goes (OpenSSL clears it as it frees it); the next call makes one. */
static void thread_mac_ctx_drop(void)
{
	pthread_setspecific(mac_key, NULL);
	EVP_MAC_CTX_free(mac_ctx);
	mac_ctx = NULL;
}

/* What the contexts hold between messages, in place of a caller's key. */
static const uint8_t no_key[ID_KEY_LEN];

int id_mac(const uint8_t key[ID_KEY_LEN], const void *data, size_t len, uint8_t out[ID_MAC_LEN])
{
	EVP_MAC_CTX *c = thread_mac_ctx();
	unsigned int n = 0;
	size_t outl = 0;
	bool ok;

	if (c) {
		ok = EVP_MAC_init(c, key, ID_KEY_LEN, NULL) == 1 &&
		     EVP_MAC_update(c, data, len) == 1 &&
		     EVP_MAC_final(c, out, &outl, ID_MAC_LEN) == 1 && outl == ID_MAC_LEN;
		/*
		 * The key does not stay behind (OpenSSL's copy of it and the digests keyed with
		 * it): callers wipe their keys when they let them go (explicit_bzero), and the main
		 * thread's context lives as long as the process. Keyed with zeros until the next
		 * message, or dropped when even that fails.
		 */
		if (EVP_MAC_init(c, no_key, ID_KEY_LEN, NULL) != 1)
			thread_mac_ctx_drop();
		if (ok)
			return 0;
		ERR_clear_error();
		return -EIO;
	}
	/* No context for this thread (no memory): the one-shot form, which makes its own. */
	if (!HMAC(EVP_sha256(), key, ID_KEY_LEN, data, len, out, &n) || n != ID_MAC_LEN) {
		ERR_clear_error();
		return -EIO;
	}
	return 0;
}

int id_mac_held_key(const void *data, size_t len, uint8_t out[ID_MAC_LEN])
{
	size_t outl = 0;

	if (!mac_ctx || EVP_MAC_init(mac_ctx, NULL, 0, NULL) != 1 ||
	    EVP_MAC_update(mac_ctx, data, len) != 1 ||
	    EVP_MAC_final(mac_ctx, out, &outl, ID_MAC_LEN) != 1 || outl != ID_MAC_LEN) {
		ERR_clear_error();
		return -EIO;
	}
	return 0;
}

bool id_mac_ok(const uint8_t key[ID_KEY_LEN], const void *data, size_t len,
	       const uint8_t mac[ID_MAC_LEN])
{
	uint8_t want[ID_MAC_LEN];

	if (id_mac(key, data, len, want))
		return false;
	return CRYPTO_memcmp(want, mac, ID_MAC_LEN) == 0;
}

void id_hex(const uint8_t *in, size_t len, char *out)
{
	static const char digits[] = "0123456789abcdef";
	size_t i;

	for (i = 0; i < len; i++) {
		out[2 * i] = digits[in[i] >> 4];
		out[2 * i + 1] = digits[in[i] & 15];
	}
	out[2 * len] = '\0';
}

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

int id_unhex(const char *hex, uint8_t *out, size_t len)
{
	size_t i;

	if (strlen(hex) != 2 * len)
		return -EINVAL;
	for (i = 0; i < len; i++) {
		int hi = hexval(hex[2 * i]), lo = hexval(hex[2 * i + 1]);

		if (hi < 0 || lo < 0)
			return -EINVAL;
		out[i] = (uint8_t)(hi << 4 | lo);
	}
	return 0;
}
