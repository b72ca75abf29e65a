/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * ownership.h: the bucket-ownership challenge, as Cloudflare's PCAPs API has it, so that nobody
 * can have captures written into a bucket they do not control:
 *
 *     POST   .../pcaps/ownership           {"destination_conf": BUCKET}: writes a challenge
 *                                          object into the bucket, answers its id, filename
 *                                          (the object's key), status "pending", submitted
 *     POST   .../pcaps/ownership/validate  {"destination_conf": BUCKET, "ownership_challenge":
 *                                          THE OBJECT'S CONTENTS}: status "success"
 *     GET    .../pcaps/ownership           the account's challenges
 *     DELETE .../pcaps/ownership/{id}      removes one
 *
 * A full capture to a bucket needs a validated ownership of that account for that bucket
 * (scheme and name; any prefix): ownership_check is the store's bucket_owned hook.
 *
 * Records live in STATE_DIR/ownership.json (written durably on every change, mode 0640). The
 * challenge is 32 random bytes in hex, compared in constant time. The challenge object is
 * PREFIX/ownership-challenge-XXXXXXXX.txt, written with s3_put_buf on the caller's thread (a
 * small object: the API waits for the store's answer, which it reports). So that this cannot
 * hold many of the API's threads, two objects are written at a time at most, one of them an
 * account's: a create past that gets a 429. An account has at most 32 records and makes at
 * most 32 creates an hour (a DELETE leaves the object in the bucket), the aggregator 1024
 * records; a create beyond any is refused (429) before anything is written into the bucket.
 */
#ifndef EDGECAP_OWNERSHIP_H
#define EDGECAP_OWNERSHIP_H

#include <stddef.h>

#include <jansson.h>

#include "s3.h"

struct ownership;

/* What an API call answers: status, and a result (a new reference) or an error. */
struct ownership_reply {
	unsigned int status; /* HTTP */
	json_t *result;	     /* when status is 200 */
	int code;	     /* api.h's enum api_error_code, when not */
	char message[768];
	const char *allow; /* for a 405 */
};

/*
 * Loads STATE_DIR/ownership.json (a missing file: no records; one that is not a JSON array:
 * -EINVAL, err naming it; an invalid record is skipped with a warning). buckets (n of them) are
 * the names --s3-allow-bucket allows; client writes the challenge objects.
 */
int ownership_open(const char *state_dir, const char *const *buckets, size_t n,
		   const struct s3_client *client, struct ownership **out, char *err,
		   size_t errlen);
void ownership_close(struct ownership *o);

/*
 * One request under /accounts/{account}/pcaps/ownership: rest is what follows "ownership" in
 * the path ("", "/validate", "/{id}"). The account is authenticated already.
 */
void ownership_api(struct ownership *o, const char *method, const char *account, const char *rest,
		   const char *body, size_t body_len, struct ownership_reply *r);

/* The store's bucket_owned hook (store.h): ctx is the struct ownership. */
int ownership_check(void *ctx, const char *account, const char *destination_conf, char *err,
		    size_t errlen);

#endif /* EDGECAP_OWNERSHIP_H */
