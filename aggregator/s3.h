/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * s3.h: the object-store client of bucket destinations (bucket_url.h; docs/design.md, "Bucket
 * destinations"). Requests go through libcurl and are signed by it (CURLOPT_AWS_SIGV4): no
 * signing code of our own and no SDK. Objects are addressed path-style, ENDPOINT/BUCKET/KEY,
 * which both AWS and S3-compatible servers take.
 *
 *  - s3:// buckets: --s3-endpoint (default https://s3.REGION.amazonaws.com), signed for the
 *    URL's ?region=, else --s3-region (default us-east-1).
 *  - gs:// buckets: Google's S3-compatible XML API with HMAC keys, the same code with its own
 *    endpoint (--gs-endpoint, default https://storage.googleapis.com), region "auto", and its
 *    own keys (--gs-credentials; the S3 ones when not given).
 *
 * libcurl 7.88 does not add x-amz-content-sha256, which S3 and compatible stores require with
 * SigV4: every request carries it, the hex SHA-256 of its body, as a header curl then signs.
 *
 * Credentials: --s3-credentials FILE (`access_key_id = ...` and `secret_access_key = ...` lines,
 * `#` comments; refused, like the API's credentials file, when group or others may write it or
 * others may read it) or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY.
 *
 * Functions block (a file's PUT at most S3_TIMEOUT_S, other requests S3_SMALL_TIMEOUT_S); call
 * them off the HTTP and ingest paths (uploader.h), except the ownership challenge's small write.
 * They return 0 or a negative errno, with err saying what the store answered: "HTTP 403 from PUT
 * URL: AccessDenied: Access Denied", or curl's reason ("Couldn't connect to server").
 */
#ifndef EDGECAP_S3_H
#define EDGECAP_S3_H

#include <stdbool.h>
#include <stddef.h>

#include "bucket_url.h"

#define S3_KEY_ID_MAX	   128
#define S3_SECRET_MAX	   128
#define S3_TIMEOUT_S	   300 /* a file's PUT, at most */
#define S3_SMALL_TIMEOUT_S 30  /* a small object's request, at most */

struct s3_creds {
	char access_key_id[S3_KEY_ID_MAX + 1];
	char secret_access_key[S3_SECRET_MAX + 1];
};

/* One object store: where it is, the region it signs for, and its keys. */
struct s3_store {
	char endpoint[256];		    /* "" : the default for the scheme */
	char region[BUCKET_REGION_MAX + 1]; /* "" : us-east-1 (s3), auto (gs) */
	struct s3_creds creds;
	bool have_creds;
};

struct s3_client {
	struct s3_store s3, gs;
};

/* Reads a credentials file (format above); err names the file and what is wrong. */
int s3_creds_load(const char *path, struct s3_creds *c, char *err, size_t errlen);
/* AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY; -ENOENT when either is unset. */
int s3_creds_from_env(struct s3_creds *c);
/* Once, before any thread: libcurl's global set-up. */
int s3_global_init(void);

/* The object's key for a capture's host file: PREFIX/<id>/<host>.pcap (host made key-safe). */
int s3_object_key(const struct bucket_url *u, const char *id, const char *host, char *buf,
		  size_t len);
/* PUTs len bytes of the file fd (from offset 0) as bucket u, key. */
int s3_put_file(const struct s3_client *cl, const struct bucket_url *u, const char *key, int fd,
		char *err, size_t errlen);
/* PUTs a small object from memory. */
int s3_put_buf(const struct s3_client *cl, const struct bucket_url *u, const char *key,
	       const void *buf, size_t len, char *err, size_t errlen);
/* DELETEs an object (a missing one is no error, as in S3). */
int s3_delete(const struct s3_client *cl, const struct bucket_url *u, const char *key, char *err,
	      size_t errlen);

/*
 * What an error reply's body (reply: NUL-terminated, at most 4096 bytes kept) says: the text of
 * its <Code> and <Message> elements, each cut to its buffer, or "" when it has none. A byte that
 * is not printable ASCII (a control character, any of UTF-8's) becomes '?'.
 */
void s3_reply_error(const char *reply, char *code, size_t codelen, char *msg, size_t msglen);

#endif /* EDGECAP_S3_H */
