// SPDX-License-Identifier: BSD-2-Clause
/* s3.c: the object-store client (s3.h): libcurl with its AWS SigV4 signing. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <curl/curl.h>
#include <openssl/evp.h>

#include "credentials.h"
#include "log.h"
#include "s3.h"

#define S3_DEFAULT_REGION   "us-east-1"
#define GS_DEFAULT_ENDPOINT "https://storage.googleapis.com"
#define S3_CREDS_FILE_MAX   4096
/* What is kept of an error reply's body: S3's <Code> and <Message> are near its start. */
#define S3_REPLY_MAX 4096

int s3_global_init(void)
{
	return curl_global_init(CURL_GLOBAL_DEFAULT) == CURLE_OK ? 0 : -ENOMEM;
}

/* "key = value" of one line into c; why when the line is bad. */
static int creds_line(struct s3_creds *c, char *line, char *why, size_t whylen)
{
	char *eq, *k, *v, *end;
	size_t n;

	k = line + strspn(line, " \t");
	if (!*k || *k == '#')
		return 0;
	eq = strchr(k, '=');
	if (!eq) {
		snprintf(why, whylen, "want `access_key_id = ...` or `secret_access_key = ...`");
		return -EINVAL;
	}
	for (end = eq; end > k && (end[-1] == ' ' || end[-1] == '\t'); end--)
		;
	*end = '\0';
	v = eq + 1 + strspn(eq + 1, " \t");
	n = strlen(v);
	while (n && (v[n - 1] == ' ' || v[n - 1] == '\t' || v[n - 1] == '\r'))
		v[--n] = '\0';
	if (!strcmp(k, "access_key_id") && n && n <= S3_KEY_ID_MAX) {
		memcpy(c->access_key_id, v, n + 1);
		return 0;
	}
	if (!strcmp(k, "secret_access_key") && n && n <= S3_SECRET_MAX) {
		memcpy(c->secret_access_key, v, n + 1);
		return 0;
	}
	if (!strcmp(k, "access_key_id") || !strcmp(k, "secret_access_key"))
		snprintf(why, whylen, "%s: want 1 to %d characters", k,
			 !strcmp(k, "access_key_id") ? S3_KEY_ID_MAX : S3_SECRET_MAX);
	else
		snprintf(why, whylen,
			 "unknown key \"%.40s\" (want access_key_id, secret_access_key)", k);
	return -EINVAL;
}

int s3_creds_load(const char *path, struct s3_creds *c, char *err, size_t errlen)
{
	char buf[S3_CREDS_FILE_MAX + 1], why[160], *line, *next;
	unsigned int lineno = 0;
	struct stat st;
	ssize_t n;
	int fd, ret = 0;

	memset(c, 0, sizeof(*c));
	/* Held to the API credentials file's rule. */
	fd = credentials_file_open(path, &st, err, errlen);
	if (fd < 0)
		return fd;
	n = read(fd, buf, sizeof(buf));
	if (n < 0 || n > S3_CREDS_FILE_MAX) {
		snprintf(err, errlen, "%s: %s", path,
			 n < 0 ? strerror(errno) : "larger than 4096 bytes");
		ret = n < 0 ? -errno : -EFBIG;
		goto out;
	}
	buf[n] = '\0';
	for (line = buf; line; line = next) {
		next = strchr(line, '\n');
		if (next)
			*next++ = '\0';
		lineno++;
		ret = creds_line(c, line, why, sizeof(why));
		if (ret) {
			snprintf(err, errlen, "%s:%u: %s", path, lineno, why);
			goto out;
		}
	}
	if (!c->access_key_id[0] || !c->secret_access_key[0]) {
		snprintf(err, errlen, "%s: needs both access_key_id and secret_access_key", path);
		ret = -EINVAL;
	}
out:
	close(fd);
	return ret;
}

int s3_creds_from_env(struct s3_creds *c)
{
	const char *id = getenv("AWS_ACCESS_KEY_ID"), *secret = getenv("AWS_SECRET_ACCESS_KEY");

	memset(c, 0, sizeof(*c));
	if (!id || !secret || !*id || !*secret || strlen(id) > S3_KEY_ID_MAX ||
	    strlen(secret) > S3_SECRET_MAX)
		return -ENOENT;
	strcpy(c->access_key_id, id);
	strcpy(c->secret_access_key, secret);
	return 0;
}

int s3_object_key(const struct bucket_url *u, const char *id, const char *host, char *buf,
		  size_t len)
{
	char safe[128];
	size_t i;
	int n;

	for (i = 0; host[i] && i < sizeof(safe) - 1; i++) {
		char ch = host[i];
		bool ok = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
			  (ch >= '0' && ch <= '9') || ch == '.' || ch == '_' || ch == '-';

		safe[i] = ok ? ch : '_';
	}
	safe[i] = '\0';
	/* "." and ".." are no object names a store keeps apart from paths. */
	if (!strcmp(safe, ".") || !strcmp(safe, ".."))
		safe[0] = '_';
	n = snprintf(buf, len, "%s%s%s/%s.pcap", u->prefix, u->prefix[0] ? "/" : "", id, safe);
	return n < 0 || (size_t)n >= len ? -ENAMETOOLONG : 0;
}

/* One request's inputs and what came back. */
struct s3_req {
	const char *method;
	const char *key;
	int fd;		 /* >= 0: the body is this file */
	const void *buf; /* else this memory */
	size_t len;
	char reply[S3_REPLY_MAX + 1];
	size_t reply_len;
};

static size_t on_reply(char *p, size_t size, size_t nmemb, void *ctx)
{
	struct s3_req *r = ctx;
	size_t n = size * nmemb, room = S3_REPLY_MAX - r->reply_len;

	memcpy(r->reply + r->reply_len, p, n < room ? n : room);
	r->reply_len += n < room ? n : room;
	r->reply[r->reply_len] = '\0';
	return n;
}

static size_t on_read(char *p, size_t size, size_t nmemb, void *ctx)
{
	struct s3_req *r = ctx;
	ssize_t n;

	do
		n = read(r->fd, p, size * nmemb);
	while (n < 0 && errno == EINTR);
	return n < 0 ? CURL_READFUNC_ABORT : (size_t)n;
}

/* The hex SHA-256 of the request's body (the file read from offset 0). */
static int body_sha256(struct s3_req *r, char hex[65], char *err, size_t errlen)
{
	unsigned char md[EVP_MAX_MD_SIZE], chunk[65536];
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	unsigned int mdlen = 0, i;
	uint64_t off = 0;
	ssize_t n;
	int ret = 0;

	if (!ctx || !EVP_DigestInit_ex(ctx, EVP_sha256(), NULL)) {
		snprintf(err, errlen, "SHA-256 not available");
		ret = -ENOMEM;
		goto out;
	}
	if (r->fd < 0) {
		EVP_DigestUpdate(ctx, r->buf, r->len);
	} else {
		for (;;) {
			n = pread(r->fd, chunk, sizeof(chunk), (off_t)off);
			if (n < 0 && errno == EINTR)
				continue;
			if (n < 0) {
				ret = -errno;
				snprintf(err, errlen, "reading the file to upload: %s",
					 strerror(errno));
				goto out;
			}
			if (!n)
				break;
			EVP_DigestUpdate(ctx, chunk, (size_t)n);
			off += (uint64_t)n;
		}
		r->len = (size_t)off;
	}
	EVP_DigestFinal_ex(ctx, md, &mdlen);
	for (i = 0; i < mdlen; i++)
		snprintf(hex + 2 * i, 3, "%02x", md[i]);
out:
	EVP_MD_CTX_free(ctx);
	return ret;
}

/* The text between <tag> and </tag> in an XML reply, or "". */
static void xml_text(const char *xml, const char *tag, char *out, size_t len)
{
	char open[32], close[32];
	const char *a, *b;

	snprintf(open, sizeof(open), "<%s>", tag);
	snprintf(close, sizeof(close), "</%s>", tag);
	out[0] = '\0';
	a = strstr(xml, open);
	b = a ? strstr(a, close) : NULL;
	if (a && b)
		snprintf(out, len, "%.*s", (int)(b - a - strlen(open)), a + strlen(open));
}

void s3_reply_error(const char *reply, char *code, size_t codelen, char *msg, size_t msglen)
{
	xml_text(reply, "Code", code, codelen);
	xml_text(reply, "Message", msg, msglen);
	/*
	 * A store's text as one line of printable ASCII, as the API's messages are: its invalid
	 * UTF-8 (or a character the buffer cut) made json_pack refuse a failed capture's
	 * error_message, so that its manifest was not written.
	 */
	log_printable(code);
	log_printable(msg);
}

static int s3_request(const struct s3_client *cl, const struct bucket_url *u, struct s3_req *r,
		      char *err, size_t errlen)
{
	const struct s3_store *st = u->scheme == BUCKET_GS ? &cl->gs : &cl->s3;
	char url[1024], sigv4[96], sha[65], hdr[128], base[300], code[64], msg[200];
	const char *region;
	struct curl_slist *h = NULL;
	CURLcode cc;
	long status = 0;
	CURL *curl;
	int ret, n;

	if (!st->have_creds) {
		snprintf(err, errlen,
			 "no credentials for %s:// buckets (--%s-credentials FILE, or "
			 "AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY)",
			 bucket_scheme_name(u->scheme), bucket_scheme_name(u->scheme));
		return -EACCES;
	}
	if (u->scheme == BUCKET_GS)
		region = st->region[0] ? st->region : "auto";
	else
		region = u->region[0] ? u->region : st->region[0] ? st->region : S3_DEFAULT_REGION;
	if (st->endpoint[0])
		snprintf(base, sizeof(base), "%s", st->endpoint);
	else if (u->scheme == BUCKET_GS)
		snprintf(base, sizeof(base), "%s", GS_DEFAULT_ENDPOINT);
	else
		snprintf(base, sizeof(base), "https://s3.%s.amazonaws.com", region);
	n = snprintf(url, sizeof(url), "%s%s%s/%s", base, base[strlen(base) - 1] == '/' ? "" : "/",
		     u->bucket, r->key);
	if (n < 0 || (size_t)n >= sizeof(url)) {
		snprintf(err, errlen, "the object's URL is too long");
		return -ENAMETOOLONG;
	}
	ret = body_sha256(r, sha, err, errlen);
	if (ret)
		return ret;
	snprintf(sigv4, sizeof(sigv4), "aws:amz:%s:s3", region);
	snprintf(hdr, sizeof(hdr), "x-amz-content-sha256: %s", sha);

	curl = curl_easy_init();
	if (!curl) {
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	h = curl_slist_append(h, hdr);
	if (!strcmp(r->method, "PUT"))
		h = curl_slist_append(h, "Content-Type: application/octet-stream");
	curl_easy_setopt(curl, CURLOPT_URL, url);
	curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(curl, CURLOPT_AWS_SIGV4, sigv4);
	curl_easy_setopt(curl, CURLOPT_USERNAME, st->creds.access_key_id);
	curl_easy_setopt(curl, CURLOPT_PASSWORD, st->creds.secret_access_key);
	curl_easy_setopt(curl, CURLOPT_HTTPHEADER, h);
	curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT, 10L);
	/* Small bodies (the ownership challenge) are answered on the API's thread: less. */
	curl_easy_setopt(curl, CURLOPT_TIMEOUT,
			 r->fd >= 0 ? (long)S3_TIMEOUT_S : (long)S3_SMALL_TIMEOUT_S);
	curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, on_reply);
	curl_easy_setopt(curl, CURLOPT_WRITEDATA, r);
	curl_easy_setopt(curl, CURLOPT_PROTOCOLS_STR, "http,https");
	if (!strcmp(r->method, "PUT")) {
		curl_easy_setopt(curl, CURLOPT_UPLOAD, 1L);
		curl_easy_setopt(curl, CURLOPT_INFILESIZE_LARGE, (curl_off_t)r->len);
		if (r->fd >= 0) {
			if (lseek(r->fd, 0, SEEK_SET) < 0) {
				ret = -errno;
				snprintf(err, errlen, "seek: %s", strerror(errno));
				goto out;
			}
			curl_easy_setopt(curl, CURLOPT_READFUNCTION, on_read);
			curl_easy_setopt(curl, CURLOPT_READDATA, r);
		} else {
			/* Memory bodies go through the same upload path. */
			curl_easy_setopt(curl, CURLOPT_UPLOAD, 0L);
			curl_easy_setopt(curl, CURLOPT_CUSTOMREQUEST, "PUT");
			curl_easy_setopt(curl, CURLOPT_POSTFIELDS, r->buf);
			curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)r->len);
		}
	} else {
		curl_easy_setopt(curl, CURLOPT_CUSTOMREQUEST, r->method);
	}
	cc = curl_easy_perform(curl);
	if (cc != CURLE_OK) {
		snprintf(err, errlen, "%s (%s %.200s)", curl_easy_strerror(cc), r->method, base);
		ret = cc == CURLE_COULDNT_CONNECT      ? -ECONNREFUSED
		      : cc == CURLE_OPERATION_TIMEDOUT ? -ETIMEDOUT
						       : -EIO;
		goto out;
	}
	curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &status);
	if (status >= 200 && status < 300) {
		ret = 0;
		goto out;
	}
	s3_reply_error(r->reply, code, sizeof(code), msg, sizeof(msg));
	snprintf(err, errlen, "HTTP %ld from %.200s%s%s%s%s", status, base, code[0] ? ": " : "",
		 code, msg[0] ? ": " : "", msg);
	ret = status == 403 || status == 401 ? -EACCES : status == 404 ? -ENOENT : -EIO;
out:
	curl_slist_free_all(h);
	curl_easy_cleanup(curl);
	return ret;
}

int s3_put_file(const struct s3_client *cl, const struct bucket_url *u, const char *key, int fd,
		char *err, size_t errlen)
{
	struct s3_req r = { .method = "PUT", .key = key, .fd = fd };

	return s3_request(cl, u, &r, err, errlen);
}

int s3_put_buf(const struct s3_client *cl, const struct bucket_url *u, const char *key,
	       const void *buf, size_t len, char *err, size_t errlen)
{
	struct s3_req r = { .method = "PUT", .key = key, .fd = -1, .buf = buf, .len = len };

	return s3_request(cl, u, &r, err, errlen);
}

int s3_delete(const struct s3_client *cl, const struct bucket_url *u, const char *key, char *err,
	      size_t errlen)
{
	struct s3_req r = { .method = "DELETE", .key = key, .fd = -1, .buf = "", .len = 0 };
	int ret = s3_request(cl, u, &r, err, errlen);

	return ret == -ENOENT ? 0 : ret;
}
