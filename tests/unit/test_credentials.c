// SPDX-License-Identifier: BSD-2-Clause
/*
 * test_credentials.c: the API's credentials file and the check of a secret
 * (aggregator/credentials.h): the format and its errors (file, line, what is wrong, never the
 * hash field's text), the mode check, Bearer and X-Auth-Email/X-Auth-Key matching, and the
 * holder's reload (a good file replaces the set, a bad one keeps it), also while another thread
 * authenticates.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "credentials.h"
#include "testing.h"

static char err[1024];
static char dir[] = "/tmp/test_credentials.XXXXXX";

/* The file's hash field for secret. */
static const char *hex_of(const char *secret, char *hex)
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int len = 0, i;

	EVP_Digest(secret, strlen(secret), md, &len, EVP_sha256(), NULL);
	for (i = 0; i < len; i++)
		snprintf(hex + 2 * i, 3, "%02x", md[i]);
	return hex;
}

static int parse(const char *text, struct cred_set **out)
{
	err[0] = '\0';
	return cred_set_parse(text, strlen(text), "creds", out, err, sizeof(err));
}

/* A file of dir with text and mode; its path in path. */
static void write_file(const char *name, const char *text, mode_t mode, char *path, size_t len)
{
	int fd;

	snprintf(path, len, "%s/%s", dir, name);
	unlink(path);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	if (fd >= 0) {
		if (write(fd, text, strlen(text)) < 0)
			perror("write");
		fchmod(fd, mode);
		close(fd);
	}
}

static void test_lines_comments_and_blanks(void)
{
	char h1[65], h2[65], h3[65], text[1024], account[STORE_ACCOUNT_MAX + 1];
	struct cred_set *s = NULL;

	snprintf(text, sizeof(text),
		 "# edgecap API credentials\n"
		 "\n"
		 "acme %s ops@acme.example\n"
		 "   \t\n"
		 "  other_1\t%s   # a comment after the fields\r\n"
		 "acme %s",
		 hex_of("s3cret-one", h1), hex_of("s3cret-two", h2), hex_of("s3cret-three", h3));
	CHECK(parse(text, &s) == 0, "parse: %s", err);
	CHECK_EQ_U64(cred_set_count(s), 3, "credentials");
	CHECK(cred_set_authenticate(s, NULL, "s3cret-one", 10, account) == 0, "bearer one");
	CHECK(!strcmp(account, "acme"), "account %s", account);
	CHECK(cred_set_authenticate(s, NULL, "s3cret-two", 10, account) == 0, "bearer two");
	CHECK(!strcmp(account, "other_1"), "account %s", account);
	CHECK(cred_set_authenticate(s, NULL, "s3cret-three", 12, account) == 0, "last line");
	CHECK(!strcmp(account, "acme"), "account %s", account);
	cred_set_free(s);

	CHECK(parse("", &s) == 0, "an empty file: %s", err);
	CHECK_EQ_U64(cred_set_count(s), 0, "no credentials");
	CHECK(cred_set_authenticate(s, NULL, "x", 1, account) == -EACCES, "nothing matches");
	cred_set_free(s);
}

static void test_bearer_and_email_key(void)
{
	char h1[65], h2[65], text[512], account[STORE_ACCOUNT_MAX + 1] = "";
	struct cred_set *s = NULL;

	snprintf(text, sizeof(text), "a %s a@example.com\nb %s\n", hex_of("key-a", h1),
		 hex_of("key-b", h2));
	CHECK(parse(text, &s) == 0, "parse: %s", err);
	CHECK(cred_set_authenticate(s, "a@example.com", "key-a", 5, account) == 0, "email + key");
	CHECK(!strcmp(account, "a"), "account %s", account);
	/* A key of another line with this email is no credential. */
	CHECK(cred_set_authenticate(s, "a@example.com", "key-b", 5, account) == -EACCES,
	      "another line's key");
	/* A line without EMAIL takes no X-Auth-Email. */
	CHECK(cred_set_authenticate(s, "", "key-b", 5, account) == -EACCES, "empty email");
	CHECK(cred_set_authenticate(s, "b@example.com", "key-b", 5, account) == -EACCES,
	      "a line without email");
	CHECK(cred_set_authenticate(s, "A@example.com", "key-a", 5, account) == -EACCES,
	      "emails compare exactly");
	CHECK(cred_set_authenticate(s, NULL, "key-b", 5, account) == 0, "bearer b");
	CHECK(!strcmp(account, "b"), "account %s", account);
	CHECK(cred_set_authenticate(s, NULL, "key-", 4, account) == -EACCES, "a prefix");
	CHECK(cred_set_authenticate(s, NULL, "key-bb", 6, account) == -EACCES, "longer");
	CHECK(cred_set_authenticate(s, NULL, "", 0, account) == -EACCES, "empty secret");
	CHECK(cred_set_authenticate(s, NULL, h2, 64, account) == -EACCES,
	      "the hash itself is no secret");
	cred_set_free(s);
}

/* A line that must be refused with want in the message, at line 2. */
static void refused(const char *line, const char *want)
{
	char h[65], text[1024];
	struct cred_set *s = NULL;
	int ret;

	snprintf(text, sizeof(text), "ok %s\n%s\n", hex_of("first", h), line);
	ret = parse(text, &s);
	CHECK(ret == -EINVAL, "\"%s\": want -EINVAL, got %d", line, ret);
	CHECK(!s, "no set on failure");
	CHECK_STR_CONTAINS(err, "creds:2: ");
	CHECK_STR_CONTAINS(err, want);
}

static void test_errors_name_file_line_and_fault(void)
{
	char h[65], upper[65], dup[256];
	size_t i;

	hex_of("another", h);
	for (i = 0; i < 64; i++)
		upper[i] = (char)(h[i] >= 'a' ? h[i] - 32 : h[i]);
	upper[64] = '\0';
	refused("acme", "want ACCOUNT_ID SHA256_HEX [EMAIL], got one field");
	refused("acme abc", "SHA256_HEX must be 64 lower-case hexadecimal characters (got 3");
	refused("ac/me 0000", "ACCOUNT_ID \"ac/me\" must be 1 to 64 letters");
	{
		char text[256];

		snprintf(text, sizeof(text), "acme %s", upper);
		refused(text, "it has upper-case letters");
		snprintf(text, sizeof(text), "acme %.63sg", h);
		refused(text, "character 64 is not hexadecimal");
		snprintf(text, sizeof(text), "acme %s not-an-address", h);
		refused(text, "EMAIL \"not-an-address\" must be an address");
		snprintf(text, sizeof(text), "acme %s a@example.com extra", h);
		refused(text, "too many fields");
	}
	/* The same secret twice would make a Bearer token name two accounts. */
	snprintf(dup, sizeof(dup), "other %s", hex_of("first", h));
	refused(dup, "the same SHA256_HEX as line 1");
	/* A hash field is never quoted: it may be a secret pasted in the wrong place. */
	refused("acme my-secret-pasted-here", "(got 21 characters)");
	CHECK(!strstr(err, "my-secret-pasted-here"), "the field is quoted: %s", err);
}

static void test_nul_byte_is_refused(void)
{
	static const char text[] = "# x\nacme\0 abc\n";
	struct cred_set *s = NULL;

	CHECK(cred_set_parse(text, sizeof(text) - 1, "creds", &s, err, sizeof(err)) == -EINVAL,
	      "NUL");
	CHECK_STR_CONTAINS(err, "creds:2: the line has a NUL byte");
}

static void test_unsafe_modes_are_refused(void)
{
	static const struct {
		mode_t mode;
		const char *why;
	} bad[] = {
		{ 0644, "mode 0644 lets others read it" },
		{ 0604, "mode 0604 lets others read it" },
		{ 0620, "mode 0620 lets its group write it" },
		{ 0602, "mode 0602 lets others write it" },
		{ 0666, "mode 0666 lets others write it" },
	};
	char h[65], text[128], path[256];
	struct cred_set *s = NULL;
	size_t i;

	snprintf(text, sizeof(text), "acme %s\n", hex_of("k", h));
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		write_file("creds", text, bad[i].mode, path, sizeof(path));
		CHECK(cred_set_load(path, &s, err, sizeof(err)) == -EPERM, "mode %o",
		      (unsigned int)bad[i].mode);
		CHECK_STR_CONTAINS(err, path);
		CHECK_STR_CONTAINS(err, bad[i].why);
		CHECK_STR_CONTAINS(err, "want at most 0640");
	}
	write_file("creds", text, 0640, path, sizeof(path));
	CHECK(cred_set_load(path, &s, err, sizeof(err)) == 0, "0640: %s", err);
	cred_set_free(s);
	write_file("creds", text, 0400, path, sizeof(path));
	CHECK(cred_set_load(path, &s, err, sizeof(err)) == 0, "0400: %s", err);
	cred_set_free(s);
	CHECK(cred_set_load(dir, &s, err, sizeof(err)) == -EINVAL, "a directory");
	CHECK_STR_CONTAINS(err, "not a regular file (a directory)");
	/* A FIFO with no writer: refused at once, not waited on (the open would block). */
	snprintf(path, sizeof(path), "%s/fifo", dir);
	CHECK(mkfifo(path, 0600) == 0, "mkfifo: %s", strerror(errno));
	CHECK(cred_set_load(path, &s, err, sizeof(err)) == -EINVAL, "a FIFO");
	CHECK_STR_CONTAINS(err, "not a regular file (a FIFO)");
	unlink(path);
	snprintf(path, sizeof(path), "%s/missing", dir);
	CHECK(cred_set_load(path, &s, err, sizeof(err)) == -ENOENT, "missing");
	CHECK_STR_CONTAINS(err, path);
}

/*
 * A file's owner may rewrite it and change its mode whenever it likes: a credentials file
 * owned by another user than the aggregator's (or root) is refused however safe its mode.
 * Making such a file needs root; as any other user the test is skipped.
 */
static void test_file_of_another_owner_is_refused(void)
{
	char h[65], text[128], path[256];
	struct cred_set *s = NULL;

	if (geteuid() != 0)
		SKIP("needs root to give the file to another user");
	snprintf(text, sizeof(text), "acme %s\n", hex_of("k", h));
	write_file("creds", text, 0600, path, sizeof(path));
	CHECK(chown(path, 65534, 65534) == 0, "chown %s", path);
	CHECK(cred_set_load(path, &s, err, sizeof(err)) == -EPERM, "owned by uid 65534: %s",
	      s ? "loaded" : err);
	CHECK_STR_CONTAINS(err, path);
	CHECK_STR_CONTAINS(err, "owned by uid 65534");
	/* Root's own file is the usual case (0640, group of the aggregator's user). */
	CHECK(chown(path, 0, 0) == 0, "chown %s", path);
	CHECK(cred_set_load(path, &s, err, sizeof(err)) == 0, "owned by root: %s", err);
	cred_set_free(s);
}

static void test_reload_replaces_or_keeps(void)
{
	char h[65], text[256], path[256], account[STORE_ACCOUNT_MAX + 1];
	struct credentials *c = NULL;
	size_t n = 0;

	snprintf(text, sizeof(text), "acme %s\n", hex_of("old-key", h));
	write_file("rot", text, 0600, path, sizeof(path));
	CHECK(credentials_open(path, &c, err, sizeof(err)) == 0, "open: %s", err);
	CHECK(credentials_authenticate(c, NULL, "old-key", 7, account) == 0, "old key");

	/* Rotation: the new key works and the old one no longer does. */
	snprintf(text, sizeof(text), "acme %s\n", hex_of("new-key", h));
	write_file("rot", text, 0600, path, sizeof(path));
	CHECK(credentials_reload(c, &n, err, sizeof(err)) == 0, "reload: %s", err);
	CHECK_EQ_U64(n, 1, "credentials after reload");
	CHECK(credentials_authenticate(c, NULL, "new-key", 7, account) == 0, "new key");
	CHECK(credentials_authenticate(c, NULL, "old-key", 7, account) == -EACCES, "old key");

	/* A bad file, or an unsafe one, keeps what was there. */
	write_file("rot", "acme nothex\n", 0600, path, sizeof(path));
	CHECK(credentials_reload(c, &n, err, sizeof(err)) == -EINVAL, "bad file");
	CHECK_STR_CONTAINS(err, ":1: SHA256_HEX");
	CHECK(credentials_authenticate(c, NULL, "new-key", 7, account) == 0, "kept");
	write_file("rot", text, 0644, path, sizeof(path));
	CHECK(credentials_reload(c, &n, err, sizeof(err)) == -EPERM, "unsafe file");
	CHECK(credentials_authenticate(c, NULL, "new-key", 7, account) == 0, "kept");
	credentials_close(c);
}

static atomic_bool stop_auth;

static void *auth_loop(void *arg)
{
	char account[STORE_ACCOUNT_MAX + 1];
	struct credentials *c = arg;
	long bad = 0;

	while (!atomic_load(&stop_auth)) {
		/* "stable" is in every version of the file: it must always work. */
		if (credentials_authenticate(c, NULL, "stable", 6, account) || strcmp(account, "s"))
			bad++;
	}
	return (void *)bad;
}

static void test_reload_while_authenticating(void)
{
	char h1[65], h2[65], text[256], path[256];
	struct credentials *c = NULL;
	pthread_t t;
	void *bad = NULL;
	int i;

	snprintf(text, sizeof(text), "s %s\nx %s\n", hex_of("stable", h1), hex_of("v0", h2));
	write_file("race", text, 0600, path, sizeof(path));
	CHECK(credentials_open(path, &c, err, sizeof(err)) == 0, "open: %s", err);
	atomic_store(&stop_auth, false);
	CHECK(!pthread_create(&t, NULL, auth_loop, c), "thread");
	for (i = 0; i < 200; i++) {
		snprintf(text, sizeof(text), "s %s\nx %s\n", h1, hex_of(i % 2 ? "v1" : "v2", h2));
		write_file("race.new", text, 0600, path, sizeof(path));
		snprintf(text, sizeof(text), "%s/race", dir);
		/* rename: the reload reads a whole file, old or new. */
		CHECK(rename(path, text) == 0, "rename");
		CHECK(credentials_reload(c, NULL, err, sizeof(err)) == 0, "reload %d: %s", i, err);
	}
	atomic_store(&stop_auth, true);
	pthread_join(t, &bad);
	CHECK(bad == NULL, "%ld authentications of a stable key failed during reloads", (long)bad);
	credentials_close(c);
}

int main(void)
{
	if (!mkdtemp(dir)) {
		perror("mkdtemp");
		return 1;
	}
	RUN(test_lines_comments_and_blanks);
	RUN(test_bearer_and_email_key);
	RUN(test_errors_name_file_line_and_fault);
	RUN(test_nul_byte_is_refused);
	RUN(test_unsafe_modes_are_refused);
	RUN(test_file_of_another_owner_is_refused);
	RUN(test_reload_replaces_or_keeps);
	RUN(test_reload_while_authenticating);
	{
		char cmd[128];

		snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
		if (system(cmd))
			fprintf(stderr, "cannot remove %s\n", dir);
	}
	return TEST_SUMMARY();
}
