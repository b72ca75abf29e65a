/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * identity.h: an agent proves who it is in the control plane, with the certificate and key of
 * its TLS link (docs/design.md, "Binding identity to a connection"; docs/protocol.md 3.7). NNG
 * 1.5 verifies the peer's chain but cannot say which certificate the peer showed, so:
 *
 *   - every survey carries a fresh random nonce (ID_NONCE_LEN bytes);
 *   - the agent's reply carries its certificate (PEM), its session key (ID_KEY_LEN random
 *     bytes, made once per agent process) and a signature with the certificate's key over
 *     id_signed_bytes(): protocol version, nonce, host id and session key;
 *   - the aggregator checks the certificate against the CA, the signature, and that the
 *     certificate's CN (or first DNS subjectAltName) is the host id; then the session key is
 *     that host's;
 *   - every data message carries HMAC-SHA256 under the session key (id_mac, id_mac_ok).
 *
 * All of it is OpenSSL libcrypto: X.509 chain checks, EVP_DigestSign/Verify, HMAC, RAND_bytes;
 * MACs are compared in constant time. Functions return 0 or a negative errno and say why in err.
 */
#ifndef EDGECAP_IDENTITY_H
#define EDGECAP_IDENTITY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define ID_NONCE_LEN 32
#define ID_KEY_LEN   32
#define ID_MAC_LEN   32
/* Largest certificate (PEM) and signature a reply may carry. */
#define ID_CERT_MAX 8192
#define ID_SIG_MAX  512

/* An agent's side: its certificate (PEM text) and private key. */
struct id_signer;
/* The aggregator's side: the CA that signs every agent. */
struct id_verifier;

/* len random bytes from the system's CSPRNG. */
int id_random(void *buf, size_t len);

/*
 * The bytes a reply's signature covers: "edgecap-identity-v1" NUL, major and minor (2 bytes
 * each, big endian), the nonce, the host id's length (1 byte) and bytes, the session key.
 * Returns the length (at most ID_SIGNED_MAX) written to out.
 */
#define ID_SIGNED_MAX (20 + 4 + ID_NONCE_LEN + 1 + 255 + ID_KEY_LEN)
size_t id_signed_bytes(uint16_t major, uint16_t minor, const uint8_t nonce[ID_NONCE_LEN],
		       const char *host_id, const uint8_t key[ID_KEY_LEN],
		       uint8_t out[ID_SIGNED_MAX]);

/*
 * OpenSSL's pem_password_cb that has no passphrase to give: an encrypted key fails to read
 * instead of OpenSSL asking on the terminal (a daemon would wait there for ever).
 */
int id_no_passphrase(char *buf, int size, int rwflag, void *u);

int id_signer_open(const char *cert_path, const char *key_path, struct id_signer **out, char *err,
		   size_t errlen);
void id_signer_free(struct id_signer *s);
/* The certificate as PEM text (at most ID_CERT_MAX bytes), and the name it gives its holder. */
const char *id_signer_cert_pem(const struct id_signer *s);
const char *id_signer_name(const struct id_signer *s);
/* Signs data with the key: sig holds at most ID_SIG_MAX bytes, *siglen says how many. */
int id_sign(struct id_signer *s, const uint8_t *data, size_t len, uint8_t sig[ID_SIG_MAX],
	    size_t *siglen, char *err, size_t errlen);

int id_verifier_open(const char *ca_path, struct id_verifier **out, char *err, size_t errlen);
void id_verifier_free(struct id_verifier *v);
/*
 * Checks cert_pem against the CA (chain, dates, and a TLS client's purpose: an extended key
 * usage without clientAuth is refused), that its name (CN, or first DNS subjectAltName) is
 * host_id, and that sig is its key's signature over data. -EKEYREJECTED
 * with the reason in err when any of it fails ("certificate names edge-2, not edge-1").
 * On success, *valid_until (unless NULL) is when the proof stops holding: the earliest notAfter
 * of the chain just verified (the certificate's or a CA's), in seconds since the epoch; a
 * caller that takes the proof again later must not take it past that second.
 */
int id_verify(struct id_verifier *v, const char *cert_pem, const char *host_id, const uint8_t *data,
	      size_t len, const uint8_t *sig, size_t siglen, int64_t *valid_until, char *err,
	      size_t errlen);

/*
 * The name a PEM certificate (untrusted text, NUL-terminated) gives its holder: its first DNS
 * subjectAltName, else its only CN (a UTF8String, PrintableString or IA5String); "" when it has
 * neither, or when that name holds a NUL or does not fit size whole (never a cut one), or the
 * subjectAltNames do not decode. -EINVAL when pem is not a certificate. size is at least 1.
 */
int id_cert_name(const char *pem, char *out, size_t size);

/*
 * HMAC-SHA256 of data under key. Any thread may call it: each keeps a context of its own, made by
 * its first call and freed when it exits, which holds no caller's key between calls.
 */
int id_mac(const uint8_t key[ID_KEY_LEN], const void *data, size_t len, uint8_t out[ID_MAC_LEN]);
/*
 * For tests: the MAC of data under whatever key the calling thread's context holds between calls
 * (-EIO when it has none). It is never a caller's key.
 */
int id_mac_held_key(const void *data, size_t len, uint8_t out[ID_MAC_LEN]);
/* Whether mac is data's HMAC under key; compared in constant time. */
bool id_mac_ok(const uint8_t key[ID_KEY_LEN], const void *data, size_t len,
	       const uint8_t mac[ID_MAC_LEN]);

/* Lowercase hex of len bytes into out (2 * len + 1 bytes); and back (-EINVAL unless exact). */
void id_hex(const uint8_t *in, size_t len, char *out);
int id_unhex(const char *hex, uint8_t *out, size_t len);

#endif /* EDGECAP_IDENTITY_H */
