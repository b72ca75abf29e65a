// SPDX-License-Identifier: BSD-2-Clause
/*
 * fuzz_identity.c: the certificate an agent's control reply carries (common/identity.h), and the
 * name id_cert_name reads out of it. Two kinds of input, by the first byte:
 *   - any but NUL: arbitrary text, as a peer may send: OpenSSL parses the PEM and the X.509.
 * Properties: no crash, a refusal is -EINVAL, the name is a C string that fits its buffer;
 *   - NUL: a certificate made here (tests/certgen.h) from the input: a CN of any bytes as one of
 *     eight string types, perhaps an O before it and a second CN after it, up to four
 *     subjectAltNames of any bytes (or an extension that does not decode), and the buffer's
 *     size. Random text almost never parses as a
 *     certificate, and OpenSSL is not instrumented, so without these the fuzzer never reached
 *     edgecap's own reading of the names. Property: the name is exactly the CN and the first
 *     DNS subjectAltName where the certificate has both and they are the same text, else the
 *     one it has; a CN only as the only one, a UTF8String, PrintableString or IA5String; and ""
 *     for a name that does not fit the buffer whole or holds a NUL (never a cut one), or two
 *     that differ; nothing is written past the buffer.
 * Layout of a made one: [0] NUL, [1] flags (bit 1: no CN; bit 2: an O first; bit 3: a second
 * CN; bit 4: subjectAltNames that do not decode, in place of the input's), [2] CN type, [3] buffer
 * size, [4] number of alternative names (low 2 bits + 1 when bit 2 is set, else none), then for
 * each [type][len] and len bytes, and the rest is the CN.
 */
#include <errno.h>
#include <stdbool.h>
#include <string.h>

#include "../certgen.h"
#include "fuzz.h"
#include "identity.h"

#define NAME_MAX_SIZE 300

/* Whether a CN of this string type is read as a name: those whose bytes are their text. */
static bool text_type(int type)
{
	return type == V_ASN1_UTF8STRING || type == V_ASN1_PRINTABLESTRING ||
	       type == V_ASN1_IA5STRING;
}

/*
 * The name id_cert_name must give: the CN (cn, NULL when there is none) and the first DNS
 * alternative name where there are both, which must then be the same bytes; the one there is
 * where there is one. Whole text or "": a CN of a text type, and none when cn_bad (two CNs).
 */
static void expected_name(const unsigned char *cn, size_t cn_len, int cn_type, bool cn_bad,
			  const struct certgen_alt *alts, size_t n_alts, size_t size, char *want)
{
	const struct certgen_alt *dns = NULL;
	const unsigned char *s;
	size_t i, n;

	want[0] = '\0';
	for (i = 0; i < n_alts && !dns; i++) {
		if (alts[i].type == GEN_DNS)
			dns = &alts[i];
	}
	if (cn_bad || (cn && !text_type(cn_type)))
		return;
	if (dns && cn && (dns->len != cn_len || memcmp(dns->data, cn, cn_len)))
		return;
	s = dns ? dns->data : cn;
	n = dns ? dns->len : cn_len;
	if (s && n > 0 && n < size && !memchr(s, 0, n)) {
		memcpy(want, s, n);
		want[n] = '\0';
	}
}

static void made_certificate(const uint8_t *data, size_t size)
{
	static const int cn_types[] = { V_ASN1_UTF8STRING,    V_ASN1_PRINTABLESTRING,
					V_ASN1_IA5STRING,     V_ASN1_T61STRING,
					V_ASN1_BMPSTRING,     V_ASN1_UNIVERSALSTRING,
					V_ASN1_VISIBLESTRING, V_ASN1_UTF8STRING };
	static const int alt_types[] = { GEN_DNS, GEN_URI, GEN_EMAIL, GEN_DNS };
	struct certgen_alt alts[4];
	char name[NAME_MAX_SIZE], want[NAME_MAX_SIZE];
	size_t n_alts = 0, at = 5, buf, cn_len, i;
	const unsigned char *cn;
	unsigned int flags = 0;
	bool cn_bad = false;
	int ret, cn_type;
	char *pem;

	/* Not something the input chose: without a key nothing below would be checked. */
	FUZZ_ASSERT(certgen_key() != NULL);
	if (size < 5)
		return;
	buf = 1 + data[3] % (NAME_MAX_SIZE - 1);
	if (data[4] & 4)
		n_alts = 1 + (data[4] & 3);
	for (i = 0; i < n_alts; i++) {
		if (at + 2 > size)
			return;
		alts[i].type = alt_types[data[at] & 3];
		alts[i].len = data[at + 1];
		alts[i].data = data + at + 2;
		at += 2 + alts[i].len;
		if (at > size)
			return;
	}
	cn = data[1] & 2 ? NULL : data + at;
	cn_type = cn_types[data[2] & 7];
	if (data[1] & 4)
		flags |= CERTGEN_O_FIRST;
	if (data[1] & 8)
		flags |= CERTGEN_SECOND_CN;
	if (data[1] & 16) {
		flags |= CERTGEN_BAD_ALTS;
		n_alts = 0;
	}
	cn_len = size - at;
	pem = certgen_pem(cn_type, cn, cn_len, flags, alts, n_alts);
	if (!pem)
		return; /* OpenSSL would not make it (a string it cannot encode, say) */
	memset(name, 'x', sizeof(name));
	ret = id_cert_name(pem, name, buf);
	free(pem);
	/* What OpenSSL wrote, it reads back; and the name is the one made, whole, or none. */
	FUZZ_ASSERT(ret == 0);
	FUZZ_ASSERT(memchr(name, '\0', buf) != NULL);
	for (i = buf; i < sizeof(name); i++)
		FUZZ_ASSERT(name[i] == 'x');
	if (flags & CERTGEN_SECOND_CN) {
		/* With the input's own CN, two: no name at all. Without, "other" is the only one.
		 */
		cn_bad = cn != NULL;
		if (!cn) {
			cn = (const unsigned char *)"other";
			cn_len = 5;
			cn_type = V_ASN1_PRINTABLESTRING;
		}
	}
	if (flags & CERTGEN_BAD_ALTS)
		want[0] = '\0'; /* subjectAltNames that do not decode: no name at all */
	else
		expected_name(cn, cn_len, cn_type, cn_bad, alts, n_alts, buf, want);
	FUZZ_ASSERT(strcmp(name, want) == 0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *pem, name[64];
	int ret;

	if (size && !data[0]) {
		made_certificate(data, size);
		return 0;
	}
	pem = malloc(size + 1);
	if (!pem)
		return 0;
	memcpy(pem, data, size);
	pem[size] = '\0';
	memset(name, 'x', sizeof(name));
	ret = id_cert_name(pem, name, sizeof(name));
	FUZZ_ASSERT(ret == 0 || ret == -EINVAL);
	FUZZ_ASSERT(memchr(name, '\0', sizeof(name)) != NULL);
	if (ret)
		FUZZ_ASSERT(name[0] == '\0');
	free(pem);
	return 0;
}
