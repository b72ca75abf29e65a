// SPDX-License-Identifier: BSD-2-Clause
/*
 * credential_cmd.c: `edgecapctl credential ACCOUNT_ID [--email EMAIL]`, a new API credential
 * (docs/design.md, "Security"). A fresh secret, 32 bytes from OpenSSL's RAND_bytes as
 * base64url, is printed once on stdout, followed by the line for the aggregator's credentials
 * file, `ACCOUNT_ID SHA256_HEX [EMAIL]`, the hash computed with OpenSSL's EVP. Nothing is kept:
 * the secret exists only in what was printed. The account and email follow the aggregator's
 * rules for the file (aggregator/credentials.h), so the line is one it accepts.
 */
#include <ctype.h>
#include <errno.h>
#include <stdbool.h>
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#include "edgecapctl.h"
#include "log.h"

#define SECRET_BYTES 32
/* The aggregator's limits (STORE_ACCOUNT_MAX, CRED_EMAIL_MAX). */
#define ACCOUNT_MAX 64
#define EMAIL_MAX   254

static const char cred_usage[] =
	"usage: edgecapctl credential ACCOUNT_ID [--email EMAIL]\n"
	"\n"
	"Make a new API credential for ACCOUNT_ID. Prints two lines on stdout:\n"
	"  1. the secret (random, 32 bytes as base64url), shown this once and kept nowhere:\n"
	"     the client sends it as EDGECAP_API_TOKEN (Authorization: Bearer), or as\n"
	"     EDGECAP_AUTH_KEY with EDGECAP_AUTH_EMAIL=EMAIL (X-Auth-Key, X-Auth-Email);\n"
	"  2. the line for the aggregator's --credentials file: ACCOUNT_ID SHA256_HEX [EMAIL]\n"
	"     (the SHA-256 of the secret). Append it, then send the aggregator SIGHUP.\n"
	"\n"
	"Options:\n"
	"  --email EMAIL   also accept the secret as X-Auth-Key with X-Auth-Email: EMAIL\n"
	"  -h, --help      this text\n"
	"\n"
	"Examples:\n"
	"  edgecapctl credential acme --email ops@acme.example | {\n"
	"      read -r secret; read -r line\n"
	"      echo \"$line\" >>/etc/edgecap/credentials    # mode 0600\n"
	"      echo \"give this to the client: EDGECAP_API_TOKEN=$secret\"; }\n"
	"  systemctl reload edgecap-aggregator               # or: kill -HUP $(pidof ...)\n";

static bool account_valid(const char *a)
{
	size_t i;

	for (i = 0; a[i]; i++) {
		if (i == ACCOUNT_MAX ||
		    !(isalnum((unsigned char)a[i]) || a[i] == '-' || a[i] == '_'))
			return false;
	}
	return i > 0;
}

static bool email_valid(const char *e)
{
	size_t i;

	for (i = 0; e[i]; i++) {
		if (i == EMAIL_MAX || (unsigned char)e[i] <= 0x20 || (unsigned char)e[i] >= 0x7f)
			return false;
	}
	return i > 0 && strchr(e, '@') && e[0] != '#';
}

/* 32 random bytes as unpadded base64url: 43 characters and a NUL. */
static int make_secret(char *out, size_t outlen)
{
	unsigned char raw[SECRET_BYTES], b64[4 * ((SECRET_BYTES + 2) / 3) + 1];
	size_t i, n;

	if (RAND_bytes(raw, sizeof(raw)) != 1)
		return -EIO;
	n = (size_t)EVP_EncodeBlock(b64, raw, sizeof(raw));
	OPENSSL_cleanse(raw, sizeof(raw));
	while (n && b64[n - 1] == '=')
		n--;
	if (n >= outlen)
		return -ENOSPC;
	for (i = 0; i < n; i++)
		out[i] = b64[i] == '+' ? '-' : b64[i] == '/' ? '_' : (char)b64[i];
	out[n] = '\0';
	OPENSSL_cleanse(b64, sizeof(b64));
	return 0;
}

static int sha256_hex(const char *s, char *hex)
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int len = 0, i;

	if (!EVP_Digest(s, strlen(s), md, &len, EVP_sha256(), NULL) || len != 32)
		return -EIO;
	for (i = 0; i < len; i++)
		snprintf(hex + 2 * i, 3, "%02x", md[i]);
	return 0;
}

int credential_cmd_main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "email", required_argument, NULL, 'e' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *account, *email = NULL;
	char secret[64], hex[65];
	int opt, status = EXIT_RUNTIME;

	optind = 1;
	while ((opt = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (opt) {
		case 'e':
			email = optarg;
			break;
		case 'h':
			fputs(cred_usage, stdout);
			return EXIT_OK;
		default:
			fprintf(stderr, "try `edgecapctl credential --help`\n");
			return EXIT_USAGE;
		}
	}
	if (argc - optind != 1) {
		pr_err("credential: want one ACCOUNT_ID (try `edgecapctl credential --help`)");
		return EXIT_USAGE;
	}
	account = argv[optind];
	if (!account_valid(account)) {
		pr_err("credential: ACCOUNT_ID \"%.80s\": must be 1 to %d letters, digits, '-' or "
		       "'_'",
		       account, ACCOUNT_MAX);
		return EXIT_USAGE;
	}
	if (email && !email_valid(email)) {
		pr_err("credential: --email \"%.80s\": must be an address such as "
		       "user@example.com, of at most %d printable characters and no blanks",
		       email, EMAIL_MAX);
		return EXIT_USAGE;
	}
	if (make_secret(secret, sizeof(secret)) || sha256_hex(secret, hex)) {
		pr_err("credential: cannot make a random secret: OpenSSL's RAND_bytes or SHA-256 "
		       "failed");
		goto out;
	}
	printf("%s\n%s %s%s%s\n", secret, account, hex, email ? " " : "", email ? email : "");
	if (fflush(stdout)) {
		pr_err("credential: cannot write the credential: %s", strerror(errno));
		goto out;
	}
	fprintf(stderr,
		"edgecapctl: the first line is the secret: it is shown this once and kept "
		"nowhere.\n"
		"edgecapctl: give it to the client as EDGECAP_API_TOKEN%s.\n"
		"edgecapctl: append the second line to the aggregator's --credentials file (mode "
		"0600) and send the aggregator SIGHUP.\n",
		email ? " (or as EDGECAP_AUTH_KEY with EDGECAP_AUTH_EMAIL)" : "");
	status = EXIT_OK;
out:
	OPENSSL_cleanse(secret, sizeof(secret));
	return status;
}
