// SPDX-License-Identifier: BSD-2-Clause
/*
 * fuzz_http.c: the aggregator's HTTP request path (aggregator/api.h, api_respond) on arbitrary
 * requests, without a socket: method, URL, headers and body go through authentication, route
 * matching, body parsing and the store as libmicrohttpd's thread sends them. The input is
 *
 *     METHOD URL\n
 *     Name: value\n        (any number)
 *     \n
 *     BODY
 *
 * The store lives in a temporary state directory for the whole run; the credentials are fixed:
 * acct-a's secret "fuzz-secret-a" (email a@example.com) and acct-b's "fuzz-secret-b". Properties:
 *   - every answer is a status the API documents, never a 5xx, with the JSON envelope (success
 *     true exactly for 200);
 *   - a 401 or 403 is exactly the "Authentication error" envelope;
 *   - a request that holds no secret gets only 401, 404 (no such endpoint) or 413;
 *   - no answer on one account's path names a capture of the other account that the request
 *     did not name itself (the ids of the captures each account made are remembered across
 *     inputs; a URL is echoed in a 404, so an id the client wrote may come back).
 */
#include <errno.h>
#include <ftw.h>
#include <stdbool.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <jansson.h>
#include <openssl/evp.h>

#include "api.h"
#include "credentials.h"
#include "fuzz.h"
#include "log.h"

#define MAX_HEADERS 32
#define MAX_IDS	    64
#define PREFIX	    "/client/v4/accounts/"

struct headers {
	const char *name[MAX_HEADERS];
	const char *value[MAX_HEADERS];
	size_t n;
};

static struct api *api;
static struct store *store;
static struct credentials *creds;
static char state_dir[] = "/tmp/fuzz_http.XXXXXX";
/* The ids of the captures acct-a (0) and acct-b (1) made. */
static char ids[2][MAX_IDS][STORE_ID_LEN + 1];
static size_t n_ids[2];

/* 0 for a path under acct-a, 1 under acct-b, -1 otherwise. */
static int path_account(const char *url)
{
	if (strncmp(url, PREFIX, strlen(PREFIX)))
		return -1;
	url += strlen(PREFIX);
	if (!strncmp(url, "acct-a/", 7))
		return 0;
	if (!strncmp(url, "acct-b/", 7))
		return 1;
	return -1;
}

static const char *header(void *ctx, const char *name)
{
	struct headers *h = ctx;
	size_t i;

	for (i = 0; i < h->n; i++) {
		if (!strcasecmp(h->name[i], name))
			return h->value[i];
	}
	return NULL;
}

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path);
}

static void cleanup(void)
{
	api_stop(api);
	store_close(store);
	credentials_close(creds);
	nftw(state_dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

static void hex_of(const char *secret, char *hex)
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int len = 0, i;

	EVP_Digest(secret, strlen(secret), md, &len, EVP_sha256(), NULL);
	for (i = 0; i < len; i++)
		snprintf(hex + 2 * i, 3, "%02x", md[i]);
}

static void setup(void)
{
	struct store_opts sopts = { .simple_interval_s = 60, .max_full = 1, .grace_s = 1 };
	struct api_opts aopts = { 0 };
	char ha[65], hb[65], text[256], err[1024];
	struct cred_set *set;

	log_set_level(LOG_LEVEL_ERROR);
	FUZZ_ASSERT(mkdtemp(state_dir));
	sopts.state_dir = state_dir;
	FUZZ_ASSERT(store_open(&sopts, &store, err, sizeof(err)) == 0);
	hex_of("fuzz-secret-a", ha);
	hex_of("fuzz-secret-b", hb);
	snprintf(text, sizeof(text), "acct-a %s a@example.com\nacct-b %s\n", ha, hb);
	FUZZ_ASSERT(cred_set_parse(text, strlen(text), "fuzz", &set, err, sizeof(err)) == 0);
	FUZZ_ASSERT(credentials_from_set(set, &creds) == 0);
	aopts.credentials = creds;
	aopts.max_body = 4096;
	FUZZ_ASSERT(api_new(store, &aopts, &api) == 0);
	/* The store, the credentials and the api live as long as the process. */
	atexit(cleanup);
}

static bool documented(unsigned int status)
{
	static const unsigned int ok[] = { 200, 400, 401, 403, 404, 405, 409, 413, 429 };
	size_t i;

	for (i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
		if (status == ok[i])
			return true;
	}
	return false;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct api_request rq = { .header = header, .peer = "fuzz" };
	struct headers h = { .n = 0 };
	char *text, *p, *nl, *sp, *colon;
	struct api_reply rep;
	json_t *env, *errors;
	const char *id;
	bool has_secret;
	int who;
	size_t i;

	if (!api)
		setup();
	/* A copy with a NUL after it: the pieces below become C strings in place. */
	text = malloc(size + 1);
	FUZZ_ASSERT(text);
	memcpy(text, data, size);
	text[size] = '\0';
	has_secret = memmem(data, size, "fuzz-secret-", 12) != NULL;

	p = text;
	nl = strchr(p, '\n');
	if (nl)
		*nl = '\0';
	sp = strchr(p, ' ');
	if (sp)
		*sp = '\0';
	rq.method = p;
	rq.url = sp ? sp + 1 : "";
	p = nl ? nl + 1 : text + size;
	while (p < text + size && *p != '\n') {
		nl = strchr(p, '\n');
		if (nl)
			*nl = '\0';
		colon = strchr(p, ':');
		if (colon && h.n < MAX_HEADERS) {
			*colon = '\0';
			h.name[h.n] = p;
			h.value[h.n++] = colon + 1 + strspn(colon + 1, " \t");
		}
		p = nl ? nl + 1 : text + size;
	}
	if (p < text + size)
		p++; /* the empty line */
	rq.header_ctx = &h;
	rq.body = p;
	rq.body_len = (size_t)(text + size - p);
	rq.too_large = rq.body_len > 4096;

	api_respond(api, &rq, &rep);
	if (!documented(rep.status))
		fprintf(stderr, "HTTP %u: %.*s\n", rep.status, (int)rep.body_len,
			rep.body ? rep.body : "");
	FUZZ_ASSERT(documented(rep.status));
	if (!has_secret)
		FUZZ_ASSERT(rep.status == 401 || rep.status == 404 || rep.status == 413);
	if (rep.fd < 0) {
		env = json_loadb(rep.body, rep.body_len, 0, NULL);
		FUZZ_ASSERT(json_is_object(env));
		FUZZ_ASSERT(json_is_boolean(json_object_get(env, "success")));
		FUZZ_ASSERT(json_is_true(json_object_get(env, "success")) == (rep.status == 200));
		errors = json_object_get(env, "errors");
		FUZZ_ASSERT(json_is_array(errors));
		if (rep.status == 401 || rep.status == 403) {
			FUZZ_ASSERT(json_array_size(errors) == 1);
			FUZZ_ASSERT(json_integer_value(json_object_get(json_array_get(errors, 0),
								       "code")) == 10000);
			FUZZ_ASSERT(!strcmp(json_string_value(json_object_get(
						    json_array_get(errors, 0), "message")),
					    "Authentication error"));
		}
		/* A capture made: remember whose it is. */
		who = path_account(rq.url);
		id = json_string_value(json_object_get(json_object_get(env, "result"), "id"));
		if (rep.status == 200 && !strcmp(rq.method, "POST") && who >= 0 && id &&
		    n_ids[who] < MAX_IDS)
			snprintf(ids[who][n_ids[who]++], STORE_ID_LEN + 1, "%s", id);
		json_decref(env);
	}
	who = path_account(rq.url);
	if (who >= 0 && rep.fd < 0 && rep.body) {
		for (i = 0; i < n_ids[!who]; i++) {
			if (memmem(data, size, ids[!who][i], STORE_ID_LEN))
				continue;
			FUZZ_ASSERT(!memmem(rep.body, rep.body_len, ids[!who][i], STORE_ID_LEN));
		}
	}
	api_reply_free(&rep);
	free(text);
	return 0;
}
