// SPDX-License-Identifier: BSD-2-Clause
/*
 * test_identity.c: the data plane's MACs (common/identity.h, id_mac and id_mac_ok): HMAC-SHA256
 * under the session key, from a context each thread keeps and keys again for every message.
 * A key left over from the message before, or one thread's context used by another, gives MACs
 * that these tests compare against OpenSSL's one-shot HMAC() and a fixed vector. And the name a
 * certificate gives its holder (id_cert_name, as an agent's proof and its --tls-cert are read),
 * from certificates made here (tests/certgen.h).
 */
#include <errno.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <pthread.h>
#include <stdint.h>
#include <string.h>

#include "certgen.h"
#include "identity.h"
#include "testing.h"

/* HMAC-SHA256("message one") under the key 00 01 .. 1f (openssl dgst -sha256 -mac HMAC). */
static const char vector_hex[] = "3e33f1c174916236841ef08863cac993cbaeb4854256c1e703ebee8eb9c1d15b";

static uint64_t rng_state = 0x9e3779b97f4a7c15ull;

static uint64_t rng(uint64_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 7;
	*s ^= *s << 17;
	return *s;
}

static void fill(uint64_t *s, uint8_t *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		p[i] = (uint8_t)rng(s);
}

/* Whether id_mac agrees with the one-shot HMAC() for this key and data. */
static bool agrees(const uint8_t key[ID_KEY_LEN], const uint8_t *data, size_t len)
{
	uint8_t got[ID_MAC_LEN], want[ID_MAC_LEN];
	unsigned int n = 0;

	if (id_mac(key, data, len, got) ||
	    !HMAC(EVP_sha256(), key, ID_KEY_LEN, data, len, want, &n) || n != ID_MAC_LEN)
		return false;
	return memcmp(got, want, ID_MAC_LEN) == 0 && id_mac_ok(key, data, len, want);
}

static void test_mac_vector(void)
{
	uint8_t key[ID_KEY_LEN], mac[ID_MAC_LEN];
	char hex[2 * ID_MAC_LEN + 1];

	for (int i = 0; i < ID_KEY_LEN; i++)
		key[i] = (uint8_t)i;
	CHECK(id_mac(key, "message one", 11, mac) == 0, "id_mac failed");
	id_hex(mac, sizeof(mac), hex);
	CHECK(strcmp(hex, vector_hex) == 0, "MAC %s, want %s", hex, vector_hex);
	/* Again: a context keyed a second time gives the same MAC. */
	CHECK(id_mac(key, "message one", 11, mac) == 0, "id_mac failed");
	id_hex(mac, sizeof(mac), hex);
	CHECK(strcmp(hex, vector_hex) == 0, "second MAC %s, want %s", hex, vector_hex);
}

static void test_each_message_takes_its_own_key(void)
{
	uint8_t k1[ID_KEY_LEN], k2[ID_KEY_LEN], a[ID_MAC_LEN], b[ID_MAC_LEN], c[ID_MAC_LEN];
	const char *msg = "the same message";

	memset(k1, 1, sizeof(k1));
	memset(k2, 2, sizeof(k2));
	CHECK(id_mac(k1, msg, strlen(msg), a) == 0 && id_mac(k2, msg, strlen(msg), b) == 0 &&
		      id_mac(k1, msg, strlen(msg), c) == 0,
	      "id_mac failed");
	CHECK(memcmp(a, b, ID_MAC_LEN) != 0, "two keys gave one MAC");
	CHECK(memcmp(a, c, ID_MAC_LEN) == 0, "the first key's MAC changed after the second key");
	CHECK(!id_mac_ok(k2, msg, strlen(msg), a), "a MAC passed under another key");
	CHECK(id_mac_ok(k1, msg, strlen(msg), a), "the MAC failed under its key");
}

static void test_agrees_with_one_shot_hmac(void)
{
	static uint8_t data[4096];
	uint8_t key[ID_KEY_LEN];
	uint64_t s = rng_state;
	int bad = 0;

	fill(&s, data, sizeof(data));
	for (size_t len = 0; len <= sizeof(data); len += len < 200 ? 1 : 61) {
		fill(&s, key, sizeof(key));
		bad += !agrees(key, data, len);
	}
	CHECK(bad == 0, "%d lengths gave another MAC than HMAC()", bad);
}

static void test_a_changed_bit_fails(void)
{
	uint8_t key[ID_KEY_LEN], data[300], mac[ID_MAC_LEN];
	uint64_t s = rng_state + 1;
	int passed = 0;

	fill(&s, key, sizeof(key));
	fill(&s, data, sizeof(data));
	CHECK(id_mac(key, data, sizeof(data), mac) == 0, "id_mac failed");
	for (size_t i = 0; i < ID_MAC_LEN * 8; i++) {
		mac[i / 8] ^= (uint8_t)(1u << (i % 8));
		passed += id_mac_ok(key, data, sizeof(data), mac);
		mac[i / 8] ^= (uint8_t)(1u << (i % 8));
	}
	for (size_t i = 0; i < sizeof(data) * 8; i += 7) {
		data[i / 8] ^= (uint8_t)(1u << (i % 8));
		passed += id_mac_ok(key, data, sizeof(data), mac);
		data[i / 8] ^= (uint8_t)(1u << (i % 8));
	}
	CHECK(passed == 0, "%d changed MACs or messages passed", passed);
	CHECK(id_mac_ok(key, data, sizeof(data), mac), "the unchanged message failed");
}

/*
 * The context holds no caller's key between calls: what it MACs with then is the zero key, not
 * the one it last took (which the caller may have wiped since).
 */
static void test_no_key_left_behind(void)
{
	uint8_t key[ID_KEY_LEN], zero[ID_KEY_LEN] = { 0 }, mac[ID_MAC_LEN], held[ID_MAC_LEN];
	uint8_t want[ID_MAC_LEN];
	const char *msg = "after the message";
	unsigned int n = 0;

	memset(key, 0x5a, sizeof(key));
	CHECK(id_mac(key, msg, strlen(msg), mac) == 0, "id_mac failed");
	CHECK(id_mac_held_key(msg, strlen(msg), held) == 0, "no context held");
	CHECK(memcmp(held, mac, ID_MAC_LEN) != 0, "the context still holds the last key");
	CHECK(HMAC(EVP_sha256(), zero, ID_KEY_LEN, (const uint8_t *)msg, strlen(msg), want, &n) &&
		      n == ID_MAC_LEN,
	      "HMAC() failed");
	CHECK(memcmp(held, want, ID_MAC_LEN) == 0, "the context holds neither the key nor zeros");
}

/* Each thread MACs with keys of its own, interleaved with the others'. */
static void *mac_many(void *arg)
{
	uint64_t s = rng_state ^ (uint64_t)(uintptr_t)arg;
	uint8_t key[ID_KEY_LEN], data[512];
	uintptr_t bad = 0;

	for (int i = 0; i < 3000; i++) {
		fill(&s, key, sizeof(key));
		fill(&s, data, sizeof(data));
		bad += !agrees(key, data, rng(&s) % sizeof(data));
	}
	return (void *)bad;
}

static void test_threads_keep_their_own_context(void)
{
	pthread_t t[4];
	void *bad;
	int n = 0;

	for (uintptr_t i = 0; i < 4; i++)
		CHECK(pthread_create(&t[i], NULL, mac_many, (void *)(i + 1)) == 0,
		      "pthread_create failed");
	bad = mac_many(NULL);
	CHECK(bad == NULL, "%ld wrong MACs in the main thread", (long)(uintptr_t)bad);
	for (int i = 0; i < 4; i++) {
		pthread_join(t[i], &bad);
		n += (int)(uintptr_t)bad;
	}
	CHECK(n == 0, "%d wrong MACs in other threads", n);
}

/* One certificate made with certgen_pem, and the name id_cert_name must read from it. */
struct name_case {
	const char *what;
	int cn_type;	/* the CN's string type (UTF8String when 0) */
	const char *cn; /* NULL: no CN */
	size_t cn_len;	/* 0: strlen(cn) */
	unsigned int flags;
	struct certgen_alt alts[2];
	size_t n_alts;
	const char *want; /* "": no name */
};

/* A subjectAltName of the string literal s, its length without the literal's NUL. */
#define ALT(type, s)                                            \
	{                                                       \
		type, (const unsigned char *)(s), sizeof(s) - 1 \
	}

/*
 * The CN and the first DNS subjectAltName where there are both and they agree, else the one
 * there is; "" for two that differ, and for a name that is not whole text: never the
 * first size - 1 bytes of a longer one, which could be another host's whole name (OpenSSL's
 * X509_NAME_get_text_by_NID cuts a CN to the buffer and says so only by its length), nor the
 * bytes of a BMPString, nor one of two CNs. Read into a buffer of 16: 15 bytes fit, 16 do not.
 */
static void test_cert_name_is_whole_or_none(void)
{
	static const struct name_case cases[] = {
		{ "the CN", 0, "host-a", 0, 0, { { 0 } }, 0, "host-a" },
		{ "the CN and the first DNS name, the same",
		  0,
		  "host-a",
		  0,
		  0,
		  { ALT(GEN_URI, "spiffe://x/y"), ALT(GEN_DNS, "host-a") },
		  2,
		  "host-a" },
		/* Whichever a reader took, the other would name another host. */
		{ "the CN and the first DNS name, not the same",
		  0,
		  "host-a",
		  0,
		  0,
		  { ALT(GEN_URI, "spiffe://x/y"), ALT(GEN_DNS, "host-dns") },
		  2,
		  "" },
		{ "the first DNS name the CN's, a second another",
		  0,
		  "host-a",
		  0,
		  0,
		  { ALT(GEN_DNS, "host-a"), ALT(GEN_DNS, "host-b") },
		  2,
		  "host-a" },
		{ "a second DNS name the CN's, not the first",
		  0,
		  "host-a",
		  0,
		  0,
		  { ALT(GEN_DNS, "host-b"), ALT(GEN_DNS, "host-a") },
		  2,
		  "" },
		{ "a DNS name, no CN", 0, NULL, 0, 0, { ALT(GEN_DNS, "host-dns") }, 1, "host-dns" },
		{ "no DNS name: the CN",
		  0,
		  "host-a",
		  0,
		  0,
		  { ALT(GEN_URI, "spiffe://x/y") },
		  1,
		  "host-a" },
		{ "neither", 0, NULL, 0, 0, { { 0 } }, 0, "" },
		{ "a CN of 15 bytes", 0, "hhhhhhhhhhhhhhh", 0, 0, { { 0 } }, 0, "hhhhhhhhhhhhhhh" },
		{ "a DNS name of 15 bytes",
		  0,
		  NULL,
		  0,
		  0,
		  { ALT(GEN_DNS, "ddddddddddddddd") },
		  1,
		  "ddddddddddddddd" },
		{ "a CN of 16 bytes", 0, "hhhhhhhhhhhhhhhh", 0, 0, { { 0 } }, 0, "" },
		{ "a DNS name of 16 bytes, not the CN",
		  0,
		  "host-a",
		  0,
		  0,
		  { ALT(GEN_DNS, "dddddddddddddddd") },
		  1,
		  "" },
		{ "a CN of 39 bytes",
		  0,
		  "hhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhh",
		  0,
		  0,
		  { { 0 } },
		  0,
		  "" },
		{ "an empty DNS name, not the CN", 0, "host-a", 0, 0, { ALT(GEN_DNS, "") }, 1, "" },
		{ "a DNS name with a NUL",
		  0,
		  "host-a",
		  0,
		  0,
		  { ALT(GEN_DNS, "host\0evil") },
		  1,
		  "" },
		{ "a CN with a NUL", 0, "host\0evil", 9, 0, { { 0 } }, 0, "" },
		/* U+686F U+7374 U+2D61, big-endian: the bytes "host-a". */
		{ "a BMPString CN of the bytes 'host-a'",
		  V_ASN1_BMPSTRING,
		  "host-a",
		  0,
		  0,
		  { { 0 } },
		  0,
		  "" },
		{ "a PrintableString CN",
		  V_ASN1_PRINTABLESTRING,
		  "host-a",
		  0,
		  0,
		  { { 0 } },
		  0,
		  "host-a" },
		/* Readers differ on which of two CNs counts, so neither does, nor a DNS name. */
		{ "two CNs", 0, "host-a", 0, CERTGEN_SECOND_CN, { { 0 } }, 0, "" },
		{ "two CNs and a DNS name",
		  0,
		  "host-a",
		  0,
		  CERTGEN_SECOND_CN,
		  { ALT(GEN_DNS, "host-a") },
		  1,
		  "" },
		{ "a BMPString CN and a DNS name",
		  V_ASN1_BMPSTRING,
		  "host-a",
		  0,
		  0,
		  { ALT(GEN_DNS, "host-a") },
		  1,
		  "" },
		{ "an O, then the CN", 0, "host-a", 0, CERTGEN_O_FIRST, { { 0 } }, 0, "host-a" },
		/* Not "no subjectAltName": the CN does not count. */
		{ "subjectAltNames that do not decode",
		  0,
		  "host-a",
		  0,
		  CERTGEN_BAD_ALTS,
		  { { 0 } },
		  0,
		  "" },
	};
	char out[16];
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const struct name_case *c = &cases[i];
		size_t len = c->cn_len ? c->cn_len : c->cn ? strlen(c->cn) : 0;
		char *pem = certgen_pem(c->cn_type ? c->cn_type : V_ASN1_UTF8STRING,
					(const unsigned char *)c->cn, len, c->flags, c->alts,
					c->n_alts);
		int ret;

		CHECK(pem, "%s: no certificate made", c->what);
		memset(out, 'x', sizeof(out));
		ret = id_cert_name(pem, out, sizeof(out));
		free(pem);
		CHECK(ret == 0 && !strcmp(out, c->want), "%s: %d '%.16s', want '%s'", c->what, ret,
		      out, c->want);
	}
	memset(out, 'x', sizeof(out));
	CHECK(id_cert_name("-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n", out,
			   sizeof(out)) == -EINVAL &&
		      out[0] == '\0',
	      "not a certificate: -EINVAL and ''");
}

int main(void)
{
	RUN(test_mac_vector);
	RUN(test_each_message_takes_its_own_key);
	RUN(test_agrees_with_one_shot_hmac);
	RUN(test_a_changed_bit_fails);
	RUN(test_no_key_left_behind);
	RUN(test_threads_keep_their_own_context);
	RUN(test_cert_name_is_whole_or_none);
	return TEST_SUMMARY();
}
