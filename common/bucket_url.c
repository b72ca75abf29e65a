// SPDX-License-Identifier: BSD-2-Clause
/* bucket_url.c: bucket destination URLs (bucket_url.h). */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "bucket_url.h"

bool bucket_url_is(const char *s)
{
	return !strncasecmp(s, "s3://", 5) || !strncasecmp(s, "gs://", 5);
}

const char *bucket_scheme_name(enum bucket_scheme sc)
{
	return sc == BUCKET_GS ? "gs" : "s3";
}

static bool lower_alnum(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
}

static bool key_char(char c)
{
	return lower_alnum(c) || (c >= 'A' && c <= 'Z') || c == '-' || c == '_' || c == '.';
}

/* The bucket name of n bytes at p. */
static int check_bucket(const struct bucket_url *u, const char *p, size_t n, char *err,
			size_t errlen)
{
	size_t i;

	if (n < 3 || n > BUCKET_NAME_MAX)
		goto bad;
	if (!lower_alnum(p[0]) || !lower_alnum(p[n - 1]))
		goto bad;
	for (i = 0; i < n; i++) {
		if (!lower_alnum(p[i]) && p[i] != '.' && p[i] != '-' &&
		    !(u->scheme == BUCKET_GS && p[i] == '_'))
			goto bad;
	}
	return 0;
bad:
	snprintf(err, errlen,
		 "destination_conf: the bucket name \"%.*s\" must be 3 to %d lower-case letters, "
		 "digits, '.' or '-'%s, starting and ending with a letter or digit",
		 (int)(n > 80 ? 80 : n), p, BUCKET_NAME_MAX,
		 u->scheme == BUCKET_GS ? " or '_'" : "");
	return -EINVAL;
}

/* The prefix of n bytes at p (after the bucket's '/'), into u->prefix without a trailing '/'. */
static int check_prefix(struct bucket_url *u, const char *p, size_t n, char *err, size_t errlen)
{
	size_t i, seg = 0;

	while (n && p[n - 1] == '/')
		n--;
	if (n > BUCKET_PREFIX_MAX) {
		snprintf(err, errlen, "destination_conf: the prefix is longer than %d characters",
			 BUCKET_PREFIX_MAX);
		return -EINVAL;
	}
	for (i = 0; i <= n; i++) {
		if (i < n && p[i] != '/') {
			if (!key_char(p[i])) {
				snprintf(err, errlen,
					 "destination_conf: the prefix may hold only letters, "
					 "digits, "
					 "'/', '-', '_' and '.' (got '%c' at %zu)",
					 p[i] >= 0x20 && p[i] < 0x7f ? p[i] : '?', i);
				return -EINVAL;
			}
			continue;
		}
		/* A segment ends at i. */
		if (i == seg || (i - seg == 1 && p[seg] == '.') ||
		    (i - seg == 2 && p[seg] == '.' && p[seg + 1] == '.')) {
			snprintf(err, errlen,
				 "destination_conf: the prefix must not have an empty, \".\" or "
				 "\"..\" segment (got \"%.*s\")",
				 (int)(n > 80 ? 80 : n), p);
			return -EINVAL;
		}
		seg = i + 1;
	}
	memcpy(u->prefix, p, n);
	u->prefix[n] = '\0';
	return 0;
}

static int check_query(struct bucket_url *u, const char *q, char *err, size_t errlen)
{
	size_t i, n;

	if (strncmp(q, "region=", 7)) {
		snprintf(err, errlen,
			 "destination_conf: the only query parameter is region=REGION (got "
			 "\"?%.60s\")",
			 q);
		return -EINVAL;
	}
	q += 7;
	n = strlen(q);
	if (u->scheme != BUCKET_S3) {
		snprintf(err, errlen, "destination_conf: region= is for s3:// buckets only");
		return -EINVAL;
	}
	if (!n || n > BUCKET_REGION_MAX)
		goto bad;
	for (i = 0; i < n; i++) {
		if (!lower_alnum(q[i]) && q[i] != '-')
			goto bad;
	}
	memcpy(u->region, q, n + 1);
	return 0;
bad:
	snprintf(err, errlen,
		 "destination_conf: region must be 1 to %d lower-case letters, digits or '-', as "
		 "in us-east-1 (got \"%.60s\")",
		 BUCKET_REGION_MAX, q);
	return -EINVAL;
}

int bucket_url_parse(const char *s, struct bucket_url *u, char *err, size_t errlen)
{
	const char *p, *slash, *query, *end;
	int ret;

	memset(u, 0, sizeof(*u));
	if (!strncasecmp(s, "s3://", 5)) {
		u->scheme = BUCKET_S3;
	} else if (!strncasecmp(s, "gs://", 5)) {
		u->scheme = BUCKET_GS;
	} else {
		snprintf(err, errlen, "destination_conf: a bucket is s3://BUCKET or gs://BUCKET");
		return -EINVAL;
	}
	p = s + 5;
	query = strchr(p, '?');
	end = query ? query : p + strlen(p);
	slash = memchr(p, '/', (size_t)(end - p));
	ret = check_bucket(u, p, (size_t)((slash ? slash : end) - p), err, errlen);
	if (ret)
		return ret;
	memcpy(u->bucket, p, (size_t)((slash ? slash : end) - p));
	if (slash) {
		ret = check_prefix(u, slash + 1, (size_t)(end - slash - 1), err, errlen);
		if (ret)
			return ret;
	}
	if (query)
		return check_query(u, query + 1, err, errlen);
	return 0;
}
