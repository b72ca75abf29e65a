// SPDX-License-Identifier: BSD-2-Clause
/*
 * credentials.c: the API's credentials file and the check of a presented secret
 * (credentials.h). Hashing and the constant-time comparison are OpenSSL libcrypto's.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>

#include "credentials.h"
#include "fileutil.h"

#define HASH_LEN     32
#define HASH_HEX_LEN (2 * HASH_LEN)
/* Longest text of a line quoted in an error. */
#define QUOTE_MAX  40
#define MAX_FIELDS 3

struct cred_entry {
	char account[STORE_ACCOUNT_MAX + 1];
	unsigned char hash[HASH_LEN];
	/* Zero-padded to its full size, so that every comparison reads the same bytes. */
	char email[CRED_EMAIL_MAX + 1];
	unsigned char has_email;
	unsigned int line;
};

struct cred_set {
	struct cred_entry *e;
	size_t n, cap;
};

struct credentials {
	pthread_mutex_t lock;
	struct cred_set *set; /* under lock */
	char path[PATH_MAX];
};

/* A field of the file for an error message: printable ASCII, '?' else, cut after QUOTE_MAX. */
static void quote(char *dst, size_t dstlen, const char *src, size_t n)
{
	size_t i, o = 0;

	for (i = 0; i < n && o + 4 < dstlen; i++) {
		if (i == QUOTE_MAX) {
			memcpy(dst + o, "...", 3);
			o += 3;
			break;
		}
		dst[o++] = src[i] >= 0x20 && src[i] < 0x7f ? src[i] : '?';
	}
	dst[o] = '\0';
}

static bool is_blank(char c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\v' || c == '\f';
}

static int hex_val(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

static int parse_hash(const char *f, size_t n, unsigned char *out, char *why, size_t whylen)
{
	size_t i;

	if (n != HASH_HEX_LEN) {
		snprintf(why, whylen,
			 "SHA256_HEX must be %d lower-case hexadecimal characters (got %zu "
			 "characters)",
			 HASH_HEX_LEN, n);
		return -EINVAL;
	}
	for (i = 0; i < n; i++) {
		if (hex_val(f[i]) >= 0)
			continue;
		if ((f[i] >= 'A' && f[i] <= 'F'))
			snprintf(why, whylen,
				 "SHA256_HEX must be lower-case hexadecimal (it has upper-case "
				 "letters)");
		else
			snprintf(why, whylen,
				 "SHA256_HEX must be %d lower-case hexadecimal characters "
				 "(character "
				 "%zu is not hexadecimal)",
				 HASH_HEX_LEN, i + 1);
		return -EINVAL;
	}
	for (i = 0; i < HASH_LEN; i++)
		out[i] = (unsigned char)(hex_val(f[2 * i]) << 4 | hex_val(f[2 * i + 1]));
	return 0;
}

static bool email_valid(const char *f, size_t n)
{
	bool at = false;
	size_t i;

	if (!n || n > CRED_EMAIL_MAX)
		return false;
	for (i = 0; i < n; i++) {
		if (f[i] <= 0x20 || f[i] >= 0x7f)
			return false;
		at |= f[i] == '@';
	}
	return at;
}

static int set_grow(struct cred_set *s)
{
	struct cred_entry *e;
	size_t cap;

	if (s->n < s->cap)
		return 0;
	cap = s->cap ? s->cap * 2 : 16;
	e = realloc(s->e, cap * sizeof(*e));
	if (!e)
		return -ENOMEM;
	s->e = e;
	s->cap = cap;
	return 0;
}

/* One line (without its '\n'): a credential appended to s, nothing, or why it is bad. */
static int parse_line(struct cred_set *s, const char *p, size_t len, unsigned int line, char *why,
		      size_t whylen)
{
	const char *f[MAX_FIELDS + 1];
	size_t fl[MAX_FIELDS + 1], i = 0, nf = 0, start;
	char q[QUOTE_MAX + 8];
	struct cred_entry *e;

	if (memchr(p, '\0', len)) {
		snprintf(why, whylen, "the line has a NUL byte");
		return -EINVAL;
	}
	while (i < len) {
		while (i < len && is_blank(p[i]))
			i++;
		if (i == len || p[i] == '#')
			break;
		start = i;
		while (i < len && !is_blank(p[i]))
			i++;
		if (nf == MAX_FIELDS) {
			snprintf(why, whylen,
				 "too many fields: want ACCOUNT_ID SHA256_HEX [EMAIL] (a comment "
				 "starts with #)");
			return -EINVAL;
		}
		f[nf] = p + start;
		fl[nf++] = i - start;
	}
	if (!nf)
		return 0;
	if (nf == 1) {
		snprintf(why, whylen, "want ACCOUNT_ID SHA256_HEX [EMAIL], got one field");
		return -EINVAL;
	}
	if (set_grow(s)) {
		snprintf(why, whylen, "out of memory");
		return -ENOMEM;
	}
	e = &s->e[s->n];
	memset(e, 0, sizeof(*e));
	e->line = line;
	if (fl[0] > STORE_ACCOUNT_MAX ||
	    (memcpy(e->account, f[0], fl[0]), !store_account_valid(e->account))) {
		quote(q, sizeof(q), f[0], fl[0]);
		snprintf(why, whylen,
			 "ACCOUNT_ID \"%s\" must be 1 to %d letters, digits, '-' or '_'", q,
			 STORE_ACCOUNT_MAX);
		return -EINVAL;
	}
	if (parse_hash(f[1], fl[1], e->hash, why, whylen))
		return -EINVAL;
	if (nf == 3) {
		if (!email_valid(f[2], fl[2])) {
			quote(q, sizeof(q), f[2], fl[2]);
			snprintf(why, whylen,
				 "EMAIL \"%s\" must be an address such as user@example.com, of at "
				 "most %d printable characters",
				 q, CRED_EMAIL_MAX);
			return -EINVAL;
		}
		memcpy(e->email, f[2], fl[2]);
		e->has_email = 1;
	}
	/* Not constant-time: this is the operator's own file, read at start and on SIGHUP. */
	for (i = 0; i < s->n; i++) {
		if (!memcmp(s->e[i].hash, e->hash, HASH_LEN)) {
			snprintf(why, whylen,
				 "the same SHA256_HEX as line %u: each secret must belong to one "
				 "credential",
				 s->e[i].line);
			return -EINVAL;
		}
	}
	s->n++;
	return 0;
}

int cred_set_parse(const char *buf, size_t len, const char *name, struct cred_set **out, char *err,
		   size_t errlen)
{
	struct cred_set *s;
	const char *p = buf, *end = buf + len, *nl;
	unsigned int line = 0;
	char why[320];
	int ret;

	*out = NULL;
	s = calloc(1, sizeof(*s));
	if (!s) {
		snprintf(err, errlen, "%s: out of memory", name);
		return -ENOMEM;
	}
	while (p < end) {
		line++;
		nl = memchr(p, '\n', (size_t)(end - p));
		ret = parse_line(s, p, nl ? (size_t)(nl - p) : (size_t)(end - p), line, why,
				 sizeof(why));
		if (ret) {
			snprintf(err, errlen, "%s:%u: %s", name, line, why);
			cred_set_free(s);
			return ret;
		}
		if (!nl)
			break;
		p = nl + 1;
	}
	*out = s;
	return 0;
}

const char *credentials_mode_problem(mode_t mode)
{
	if (mode & S_IWOTH)
		return "lets others write it";
	if (mode & S_IWGRP)
		return "lets its group write it";
	if (mode & S_IROTH)
		return "lets others read it";
	return NULL;
}

int credentials_file_check(int fd, const char *path, struct stat *st, char *err, size_t errlen)
{
	const char *why;

	/* The descriptor's own mode: what is checked is what is read. */
	if (fstat(fd, st)) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		return -errno;
	}
	if (!S_ISREG(st->st_mode)) {
		snprintf(err, errlen, "%s: not a regular file", path);
		return -EINVAL;
	}
	/* Its owner may rewrite it and change its mode at will: only ours, or root's. */
	if (st->st_uid != geteuid() && st->st_uid != 0) {
		snprintf(err, errlen,
			 "%s: owned by uid %u, not by the aggregator's uid %u nor root: its owner "
			 "could rewrite it (chown it to root or to uid %u)",
			 path, (unsigned int)st->st_uid, (unsigned int)geteuid(),
			 (unsigned int)geteuid());
		return -EPERM;
	}
	why = credentials_mode_problem(st->st_mode);
	if (why) {
		snprintf(err, errlen, "%s: mode %04o %s (want at most 0640, e.g. chmod 0600 %s)",
			 path, (unsigned int)(st->st_mode & 07777), why, path);
		return -EPERM;
	}
	return 0;
}

int credentials_file_open(const char *path, struct stat *st, char *err, size_t errlen)
{
	const char *why;
	int fd = file_open_regular(path, &why), ret;

	if (fd < 0) {
		snprintf(err, errlen, "%s: %s", path, why ? why : strerror(-fd));
		return fd;
	}
	ret = credentials_file_check(fd, path, st, err, errlen);
	if (ret) {
		close(fd);
		return ret;
	}
	return fd;
}

int cred_set_load(const char *path, struct cred_set **out, char *err, size_t errlen)
{
	char *buf = NULL;
	size_t len = 0;
	struct stat st;
	ssize_t r;
	int fd, ret;

	*out = NULL;
	fd = credentials_file_open(path, &st, err, errlen);
	if (fd < 0)
		return fd;
	if ((uint64_t)st.st_size > CRED_FILE_MAX) {
		snprintf(err, errlen,
			 "%s: %lld bytes, more than the %u a credentials file may have", path,
			 (long long)st.st_size, CRED_FILE_MAX);
		ret = -EINVAL;
		goto out;
	}
	/* One byte more than its size: a file that grows while read is read to its end. */
	buf = malloc((size_t)st.st_size + 1);
	if (!buf) {
		snprintf(err, errlen, "%s: out of memory", path);
		ret = -ENOMEM;
		goto out;
	}
	while (len <= (size_t)st.st_size) {
		r = read(fd, buf + len, (size_t)st.st_size + 1 - len);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			ret = -errno;
			snprintf(err, errlen, "%s: %s", path, strerror(errno));
			goto out;
		}
		if (!r)
			break;
		len += (size_t)r;
	}
	if (len > (size_t)st.st_size) {
		snprintf(err, errlen, "%s: the file changed while it was read", path);
		ret = -EAGAIN;
		goto out;
	}
	ret = cred_set_parse(buf, len, path, out, err, errlen);
out:
	if (buf) {
		OPENSSL_cleanse(buf, len);
		free(buf);
	}
	close(fd);
	return ret;
}

void cred_set_free(struct cred_set *s)
{
	if (!s)
		return;
	free(s->e);
	free(s);
}

size_t cred_set_count(const struct cred_set *s)
{
	return s ? s->n : 0;
}

int cred_set_authenticate(const struct cred_set *s, const char *email, const char *secret,
			  size_t len, char *account)
{
	unsigned char md[EVP_MAX_MD_SIZE];
	char pad[CRED_EMAIL_MAX + 1];
	unsigned int mdlen = 0, m, found = 0;
	size_t i, idx = 0, take, elen = 0;

	if (!s || !secret || !len || len > CRED_SECRET_MAX)
		return -EACCES;
	if (email) {
		elen = strlen(email);
		if (!elen || elen > CRED_EMAIL_MAX)
			return -EACCES;
		memset(pad, 0, sizeof(pad));
		memcpy(pad, email, elen);
	}
	if (!EVP_Digest(secret, len, md, &mdlen, EVP_sha256(), NULL) || mdlen != HASH_LEN)
		return -ENOMEM;
	/*
	 * Every line is compared, whatever matched before, and the first match is kept with
	 * masks rather than a branch: the time is the same for every line and for none.
	 */
	for (i = 0; i < s->n; i++) {
		const struct cred_entry *e = &s->e[i];

		m = CRYPTO_memcmp(md, e->hash, HASH_LEN) == 0;
		if (email)
			m &= e->has_email & (CRYPTO_memcmp(pad, e->email, sizeof(pad)) == 0);
		take = (size_t)0 - (size_t)(m & (found ^ 1));
		idx = (idx & ~take) | (i & take);
		found |= m;
	}
	OPENSSL_cleanse(md, sizeof(md));
	if (!found)
		return -EACCES;
	memcpy(account, s->e[idx].account, STORE_ACCOUNT_MAX + 1);
	return 0;
}

int credentials_from_set(struct cred_set *set, struct credentials **out)
{
	struct credentials *c;

	c = calloc(1, sizeof(*c));
	if (!c)
		return -ENOMEM;
	pthread_mutex_init(&c->lock, NULL);
	c->set = set;
	*out = c;
	return 0;
}

int credentials_open(const char *path, struct credentials **out, char *err, size_t errlen)
{
	struct cred_set *set;
	int ret;

	*out = NULL;
	if (strlen(path) >= PATH_MAX) {
		snprintf(err, errlen, "%.64s...: path too long", path);
		return -ENAMETOOLONG;
	}
	ret = cred_set_load(path, &set, err, errlen);
	if (ret)
		return ret;
	ret = credentials_from_set(set, out);
	if (ret) {
		snprintf(err, errlen, "%s: out of memory", path);
		cred_set_free(set);
		return ret;
	}
	snprintf((*out)->path, sizeof((*out)->path), "%s", path);
	return 0;
}

int credentials_reload(struct credentials *c, size_t *count, char *err, size_t errlen)
{
	struct cred_set *set, *old;
	int ret;

	/* Parsed before the lock: the HTTP thread waits only for the swap. */
	ret = cred_set_load(c->path, &set, err, errlen);
	if (ret)
		return ret;
	if (count)
		*count = set->n;
	pthread_mutex_lock(&c->lock);
	old = c->set;
	c->set = set;
	pthread_mutex_unlock(&c->lock);
	/* Nobody else holds it: authentication uses the set only under the lock. */
	cred_set_free(old);
	return 0;
}

int credentials_authenticate(struct credentials *c, const char *email, const char *secret,
			     size_t len, char *account)
{
	int ret;

	pthread_mutex_lock(&c->lock);
	ret = cred_set_authenticate(c->set, email, secret, len, account);
	pthread_mutex_unlock(&c->lock);
	return ret;
}

const char *credentials_path(const struct credentials *c)
{
	return c->path;
}

size_t credentials_count(struct credentials *c)
{
	size_t n;

	pthread_mutex_lock(&c->lock);
	n = cred_set_count(c->set);
	pthread_mutex_unlock(&c->lock);
	return n;
}

void credentials_close(struct credentials *c)
{
	if (!c)
		return;
	cred_set_free(c->set);
	pthread_mutex_destroy(&c->lock);
	free(c);
}
