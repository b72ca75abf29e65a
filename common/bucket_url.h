/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * bucket_url.h: a bucket destination_conf, `s3://BUCKET[/PREFIX][?region=REGION]` or
 * `gs://BUCKET[/PREFIX]` (docs/design.md, "Bucket destinations"). Untrusted input (the API's
 * request bodies): every part is checked, and the error names destination_conf and the rule.
 *
 *  - BUCKET: 3 to 63 lower-case letters, digits, '.', '-' (and '_' for gs://), starting and
 *    ending with a letter or digit (the stores' own rules).
 *  - PREFIX: object-key segments of letters, digits, '-', '_' and '.' separated by single '/'
 *    (characters that need no escaping in a URL, so the key signed is the key sent); no "."
 *    or ".." segment; a trailing '/' is dropped. Objects are PREFIX/<id>/<host>.pcap.
 *  - region=: lower-case letters, digits and '-' (s3:// only); the only query parameter.
 */
#ifndef EDGECAP_BUCKET_URL_H
#define EDGECAP_BUCKET_URL_H

#include <stdbool.h>
#include <stddef.h>

#define BUCKET_NAME_MAX	  63
#define BUCKET_PREFIX_MAX 512
#define BUCKET_REGION_MAX 32

enum bucket_scheme {
	BUCKET_S3 = 0,
	BUCKET_GS = 1,
};

struct bucket_url {
	enum bucket_scheme scheme;
	char bucket[BUCKET_NAME_MAX + 1];
	char prefix[BUCKET_PREFIX_MAX + 1]; /* "" or "a/b" (no leading or trailing '/') */
	char region[BUCKET_REGION_MAX + 1]; /* "" when the URL has none */
};

/* Whether s starts with s3:// or gs:// (any case): a bucket, to be parsed by bucket_url_parse. */
bool bucket_url_is(const char *s);
/* Parses s into *u; -EINVAL with err ("destination_conf: ...") when it is not a valid one. */
int bucket_url_parse(const char *s, struct bucket_url *u, char *err, size_t errlen);
/* "s3" or "gs". */
const char *bucket_scheme_name(enum bucket_scheme sc);

#endif /* EDGECAP_BUCKET_URL_H */
