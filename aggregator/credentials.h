/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * credentials.h: who may use the aggregator's HTTP API (docs/design.md, "Security: who may do
 * what"). The credentials file (--credentials FILE, config key `credentials`) has one credential
 * a line:
 *
 *     ACCOUNT_ID SHA256_HEX [EMAIL]
 *
 * ACCOUNT_ID as in the API's paths (store_account_valid), SHA256_HEX the lower-case hex SHA-256
 * of the secret (computed with OpenSSL's EVP), EMAIL what X-Auth-Email must say for X-Auth-Key to
 * be taken on that line. Fields are separated by blanks; `#` at the start of a field starts a
 * comment that runs to the end of the line; blank lines are ignored. Two lines may not hold the
 * same hash: a Bearer secret names exactly one account.
 *
 * A request is authenticated by hashing the secret it presents and comparing the hash with every
 * candidate line with CRYPTO_memcmp, without stopping at a match, so the time taken says nothing
 * of which line (or whether any) matched.
 *
 * Two layers:
 *  - struct cred_set: one parsed file, immutable. cred_set_parse reads a buffer (no file system:
 *    the fuzz target feeds it), cred_set_load a path, refusing a file that group or others may
 *    write or others may read. Errors name the file (and line) and what is wrong; they never
 *    quote a hash field, in case a secret was pasted there by mistake.
 *  - struct credentials: what the aggregator holds, the current set behind a mutex. The HTTP
 *    thread authenticates with it while the main loop reloads it on SIGHUP: a reload parses the
 *    new file first and swaps it in only when it is good, so a bad file keeps the old set.
 *
 * Functions return 0 or a negative errno.
 */
#ifndef EDGECAP_CREDENTIALS_H
#define EDGECAP_CREDENTIALS_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "store.h"

/* Longest EMAIL on a line and in X-Auth-Email. */
#define CRED_EMAIL_MAX 254
/* Longest secret hashed: anything longer is refused without hashing. */
#define CRED_SECRET_MAX 1024
/* Largest credentials file read. */
#define CRED_FILE_MAX (16U << 20)

struct cred_set;

/*
 * Parses len bytes of buf, named name in errors ("FILE:LINE: what is wrong"). A set with no
 * credential is valid (every request is refused); -EINVAL for a bad line, -ENOMEM.
 */
int cred_set_parse(const char *buf, size_t len, const char *name, struct cred_set **out, char *err,
		   size_t errlen);
/*
 * Reads and parses path. Refused with -EPERM when group or others may write it or others may
 * read it (err names path and its mode), -EINVAL when it is not a regular file, too large, or
 * badly formed, or the errno of open/read.
 */
int cred_set_load(const char *path, struct cred_set **out, char *err, size_t errlen);
/* NULL is accepted. */
void cred_set_free(struct cred_set *s);
size_t cred_set_count(const struct cred_set *s);
/*
 * Whether secret (len bytes) is a credential of s; with email (not NULL), only on lines that
 * have that EMAIL. On a match, account (STORE_ACCOUNT_MAX + 1 bytes) gets the line's account.
 * Returns 0, or -EACCES (no match, an empty or over-long secret or email), -ENOMEM.
 */
int cred_set_authenticate(const struct cred_set *s, const char *email, const char *secret,
			  size_t len, char *account);

/* The aggregator's credentials: the file's path and its current set. */
struct credentials;

/* Loads path (cred_set_load) into a new holder. */
int credentials_open(const char *path, struct credentials **out, char *err, size_t errlen);
/* A holder of an already parsed set (taken over); for tests and the fuzz target. */
int credentials_from_set(struct cred_set *set, struct credentials **out);
/*
 * Re-reads the file. On success the new set replaces the old one and *count (may be NULL) is
 * its size; on failure the old set stays and err says why.
 */
int credentials_reload(struct credentials *c, size_t *count, char *err, size_t errlen);
/* cred_set_authenticate on the current set. */
int credentials_authenticate(struct credentials *c, const char *email, const char *secret,
			     size_t len, char *account);
const char *credentials_path(const struct credentials *c);
/* How many credentials the current set has. */
size_t credentials_count(struct credentials *c);
/* NULL is accepted. */
void credentials_close(struct credentials *c);
/*
 * Why a secrets file of this mode is unsafe (group or others may write it, others may read it),
 * or NULL when it is not. The S3 credentials file (s3.h) is held to the same rule.
 */
const char *credentials_mode_problem(mode_t mode);
/*
 * fstat of an open secrets file (into *st): -EINVAL unless a regular file, -EPERM when its mode
 * is unsafe (credentials_mode_problem); err names path, its mode and the fix.
 */
struct stat;
int credentials_file_check(int fd, const char *path, struct stat *st, char *err, size_t errlen);
/* Opens a secrets file read-only and checks it as above: the descriptor, or a negative errno. */
int credentials_file_open(const char *path, struct stat *st, char *err, size_t errlen);

#endif /* EDGECAP_CREDENTIALS_H */
