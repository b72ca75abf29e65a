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

/*
 * id_cert_name of a certificate made with a CN of len bytes at cn as string type (none when cn is
 * NULL), flags (certgen.h) and alts, into out of size; out is 'x's past what it writes.
 */
static int name_of_typed(int type, const char *cn, size_t len, unsigned int flags,
			 const struct certgen_alt *alts, size_t n_alts, char *out, size_t size)
{
	char *pem;
	int ret;

	memset(out, 'x', size);
	pem = certgen_pem(type, (const unsigned char *)cn, len, flags, alts, n_alts);
	if (!pem)
		return -ENOMEM;
	ret = id_cert_name(pem, out, size);
	free(pem);
	return ret;
}

/* The same with a UTF8String CN of the C string cn. */
static int name_of(const char *cn, const struct certgen_alt *alts, size_t n_alts, char *out,
		   size_t size)
{
	return name_of_typed(V_ASN1_UTF8STRING, cn, cn ? strlen(cn) : 0, 0, alts, n_alts, out,
			     size);
}

/* A DNS subjectAltName of len bytes at s. */
static struct certgen_alt dns_of(const char *s, size_t len)
{
	return (struct certgen_alt){ GEN_DNS, (const unsigned char *)s, len };
}

/*
 * The first DNS subjectAltName, else the CN; "" for a name that is not whole text: never the
 * first size - 1 bytes of a longer one, which could be another host's whole name (OpenSSL's
 * X509_NAME_get_text_by_NID cuts a CN to the buffer and says so only by its length), nor the
 * bytes of a BMPString, nor one of two CNs.
 */
static void test_cert_name_is_whole_or_none(void)
{
	const struct certgen_alt uri = { GEN_URI, (const unsigned char *)"spiffe://x/y", 12 };
	const struct certgen_alt alts[] = { uri, dns_of("host-dns", 8) };
	/* U+686F U+7374 U+2D61, big-endian: the bytes "host-a". */
	const char bmp[] = "host-a";
	char out[16], long_name[40];
	struct certgen_alt alt;

	CHECK(name_of("host-a", NULL, 0, out, sizeof(out)) == 0 && !strcmp(out, "host-a"),
	      "the CN: '%.16s'", out);
	CHECK(name_of("host-a", alts, 2, out, sizeof(out)) == 0 && !strcmp(out, "host-dns"),
	      "the first DNS subjectAltName before the CN: '%.16s'", out);
	CHECK(name_of("host-a", &uri, 1, out, sizeof(out)) == 0 && !strcmp(out, "host-a"),
	      "no DNS subjectAltName: the CN: '%.16s'", out);
	CHECK(name_of(NULL, NULL, 0, out, sizeof(out)) == 0 && out[0] == '\0', "neither: '%.16s'",
	      out);
	/* 15 bytes fit a buffer of 16; 16 and more do not, and give "", not 15 of them. */
	memset(long_name, 'h', sizeof(long_name));
	long_name[15] = '\0';
	CHECK(name_of(long_name, NULL, 0, out, sizeof(out)) == 0 && !strcmp(out, long_name),
	      "a CN of 15 bytes in 16: '%.16s'", out);
	alt = dns_of(long_name, 15);
	CHECK(name_of("host-a", &alt, 1, out, sizeof(out)) == 0 && !strcmp(out, long_name),
	      "a DNS name of 15 bytes in 16: '%.16s'", out);
	long_name[15] = 'h';
	long_name[16] = '\0';
	CHECK(name_of(long_name, NULL, 0, out, sizeof(out)) == 0 && out[0] == '\0',
	      "a CN of 16 bytes in 16: '%.16s', want none", out);
	alt = dns_of(long_name, 16);
	CHECK(name_of("host-a", &alt, 1, out, sizeof(out)) == 0 && out[0] == '\0',
	      "a DNS name of 16 bytes in 16: '%.16s', want none (not the CN)", out);
	long_name[39] = '\0';
	CHECK(name_of(long_name, NULL, 0, out, sizeof(out)) == 0 && out[0] == '\0',
	      "a CN of 39 bytes in 16: '%.16s', want none", out);
	/* An empty DNS name, or one with a NUL, names nobody: not the CN either. */
	alt = dns_of("", 0);
	CHECK(name_of("host-a", &alt, 1, out, sizeof(out)) == 0 && out[0] == '\0',
	      "an empty DNS name: '%.16s', want none", out);
	alt = dns_of("host\0evil", 9);
	CHECK(name_of("host-a", &alt, 1, out, sizeof(out)) == 0 && out[0] == '\0',
	      "a DNS name with a NUL: '%.16s', want none", out);
	CHECK(name_of_typed(V_ASN1_UTF8STRING, "host\0evil", 9, 0, NULL, 0, out, sizeof(out)) ==
			      0 &&
		      out[0] == '\0',
	      "a CN with a NUL: '%.16s', want none", out);
	/* Only text types: a BMPString whose bytes spell a host names nobody. */
	CHECK(name_of_typed(V_ASN1_BMPSTRING, bmp, 6, 0, NULL, 0, out, sizeof(out)) == 0 &&
		      out[0] == '\0',
	      "a BMPString CN of the bytes 'host-a': '%.16s', want none", out);
	CHECK(name_of_typed(V_ASN1_PRINTABLESTRING, "host-a", 6, 0, NULL, 0, out, sizeof(out)) ==
			      0 &&
		      !strcmp(out, "host-a"),
	      "a PrintableString CN: '%.16s'", out);
	/* Two CNs: readers differ on which one counts, so neither does. Another attribute is fine.
	 */
	CHECK(name_of_typed(V_ASN1_UTF8STRING, "host-a", 6, CERTGEN_SECOND_CN, NULL, 0, out,
			    sizeof(out)) == 0 &&
		      out[0] == '\0',
	      "two CNs: '%.16s', want none", out);
	CHECK(name_of_typed(V_ASN1_UTF8STRING, "host-a", 6, CERTGEN_O_FIRST, NULL, 0, out,
			    sizeof(out)) == 0 &&
		      !strcmp(out, "host-a"),
	      "an O, then the CN: '%.16s'", out);
	/* A subjectAltName extension that does not decode is not "none": the CN does not count. */
	CHECK(name_of_typed(V_ASN1_UTF8STRING, "host-a", 6, CERTGEN_BAD_ALTS, NULL, 0, out,
			    sizeof(out)) == 0 &&
		      out[0] == '\0',
	      "subjectAltNames that do not decode: '%.16s', want none", out);
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
