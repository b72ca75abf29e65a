// SPDX-License-Identifier: BSD-2-Clause
/*
 * fuzz_identity.c: the certificate an agent's control reply carries (common/identity.h), as
 * arbitrary text: OpenSSL parses the PEM and the X.509, edgecap reads the name out of its
 * subjectAltNames or CN. Properties: no crash, a refusal is -EINVAL, and the name is a C string
 * that fits its buffer (an embedded NUL or an overlong name gives "").
 */
#include <errno.h>
#include <string.h>

#include "fuzz.h"
#include "identity.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *pem = malloc(size + 1), name[64];
	int ret;

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
