// SPDX-License-Identifier: BSD-2-Clause
/*
 * test_obs.c: what the API shows of the main loop (aggregator/obs.h) through the dispatcher
 * (api_respond, no socket): GET /healthz without a credential, 200 while the loop beats and 503
 * once it stalls; the agent listing behind a credential of the path's account, from the last
 * snapshot the loop published; answers counted by status.
 */
#include <ftw.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <openssl/evp.h>

#include "api.h"
#include "credentials.h"
#include "obs.h"
#include "store.h"
#include "testing.h"

#define SECRET "obs-test-secret"
#define AGENTS "/client/v4/accounts/acct-a/pcaps/agents"

static struct store *store;
static struct credentials *creds;
static struct obs *obs;
static struct api *api;
static char state_dir[] = "/tmp/test_obs.XXXXXX";
static const char *auth_value;

static const char *header(void *ctx, const char *name)
{
	(void)ctx;
	return !strcasecmp(name, "Authorization") ? auth_value : NULL;
}

/* One request; the reply's body parsed into *env (NULL when none). Returns the status. */
static unsigned int request(const char *method, const char *url, const char *auth, json_t **env)
{
	struct api_request rq = { .method = method, .url = url, .header = header, .peer = "test" };
	struct api_reply rep;
	unsigned int status;

	auth_value = auth;
	api_respond(api, &rq, &rep);
	status = rep.status;
	if (env)
		*env = rep.body ? json_loadb(rep.body, rep.body_len, 0, NULL) : NULL;
	api_reply_free(&rep);
	return status;
}

static void test_healthz_needs_no_credential_and_sees_a_stall(void)
{
	uint64_t now = store_now_us();
	json_t *env = NULL;

	CHECK(request("GET", "/healthz", NULL, NULL) == 503, "no beat yet: 503");
	obs_heartbeat(obs, now);
	CHECK(request("GET", "/healthz", NULL, &env) == 200, "a beat: 200");
	CHECK(env && !strcmp(json_string_value(
				     json_object_get(json_object_get(env, "result"), "status")),
			     "ok"),
	      "result.status ok");
	json_decref(env);
	CHECK(request("HEAD", "/healthz", NULL, NULL) == 200, "HEAD");
	CHECK(request("POST", "/healthz", NULL, NULL) == 405, "POST");
	obs_heartbeat(obs, now - OBS_STALL_US - 1000000);
	CHECK(request("GET", "/healthz", NULL, NULL) == 503, "an old beat: 503");
	obs_heartbeat(obs, store_now_us());
}

static void test_agent_listing_needs_a_credential(void)
{
	json_t *env = NULL, *res;

	obs_publish_agents(obs, json_pack("[{s:s, s:s, s:s, s:s, s:b}]", "host_id", "edge-1",
					  "colo", "ord02", "version", "0.1.0", "last_seen",
					  "2026-01-01T00:00:00.000000Z", "connected", 1));
	CHECK(request("GET", AGENTS, NULL, NULL) == 401, "no credential");
	CHECK(request("GET", AGENTS, "Bearer wrong", NULL) == 401, "a wrong credential");
	CHECK(request("GET", "/client/v4/accounts/acct-b/pcaps/agents", "Bearer " SECRET, NULL) ==
		      403,
	      "another account's path");
	CHECK(request("PUT", AGENTS, "Bearer " SECRET, NULL) == 405, "PUT");
	CHECK(request("GET", AGENTS, "Bearer " SECRET, &env) == 200, "with the credential");
	res = json_object_get(env, "result");
	CHECK(json_array_size(res) == 1, "one agent");
	CHECK(!strcmp(json_string_value(json_object_get(json_array_get(res, 0), "host_id")),
		      "edge-1"),
	      "its host id");
	json_decref(env);
	/* A later snapshot replaces the earlier one. */
	obs_publish_agents(obs, json_array());
	CHECK(request("GET", AGENTS, "Bearer " SECRET, &env) == 200, "empty fleet");
	CHECK(json_array_size(json_object_get(env, "result")) == 0, "no agent");
	json_decref(env);
}

static void test_answers_are_counted_by_status(void)
{
	uint64_t ok = obs_requests(obs, 200), unauth = obs_requests(obs, 401);

	request("GET", AGENTS, NULL, NULL);
	request("GET", AGENTS, "Bearer " SECRET, NULL);
	request("GET", AGENTS, "Bearer " SECRET, NULL);
	CHECK_EQ_U64(obs_requests(obs, 401) - unauth, 1, "401s");
	CHECK_EQ_U64(obs_requests(obs, 200) - ok, 2, "200s");
	CHECK_EQ_U64(obs_requests(obs, 99), 0, "out of range");
}

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path);
}

int main(void)
{
	struct store_opts sopts = { .simple_interval_s = 60, .max_full = 1, .grace_s = 1 };
	struct api_opts aopts = { 0 };
	unsigned char md[EVP_MAX_MD_SIZE];
	char text[256], hex[65], err[1024];
	unsigned int len = 0, i;
	struct cred_set *set;
	int ret;

	if (!mkdtemp(state_dir))
		return 1;
	sopts.state_dir = state_dir;
	EVP_Digest(SECRET, strlen(SECRET), md, &len, EVP_sha256(), NULL);
	for (i = 0; i < len; i++)
		snprintf(hex + 2 * i, 3, "%02x", md[i]);
	snprintf(text, sizeof(text), "acct-a %s\n", hex);
	if (store_open(&sopts, &store, err, sizeof(err)) ||
	    cred_set_parse(text, strlen(text), "test", &set, err, sizeof(err)) ||
	    credentials_from_set(set, &creds) || obs_new(&obs)) {
		fprintf(stderr, "set-up failed: %s\n", err);
		return 1;
	}
	aopts.credentials = creds;
	aopts.obs = obs;
	if (api_new(store, &aopts, &api))
		return 1;
	RUN(test_healthz_needs_no_credential_and_sees_a_stall);
	RUN(test_agent_listing_needs_a_credential);
	RUN(test_answers_are_counted_by_status);
	ret = TEST_SUMMARY();
	api_stop(api);
	obs_free(obs);
	credentials_close(creds);
	store_close(store);
	nftw(state_dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
	return ret;
}
