/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * api_client.h: edgecapctl's one client of the aggregator's HTTP API (aggregator/api.h), over
 * libcurl. It knows the base URL and the account ({base}/client/v4/accounts/{account}/pcaps),
 * the seeds' headers (Content-Type: application/json), the credential (Authorization: Bearer
 * TOKEN, or else X-Auth-Email and X-Auth-Key, from the environment variables below),
 * the timeouts, and the API's envelope {"success", "errors", "messages", "result"}. A failure
 * comes back as one line that names what was asked (method and URL), the HTTP status when there
 * was one, and why: curl's error text or the API's errors[].message. The commands that use it
 * (aggregator_cmd.c) say only what they were doing.
 */
#ifndef EDGECAP_API_CLIENT_H
#define EDGECAP_API_CLIENT_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <jansson.h>

/* Where the credential comes from (docs/design.md, "Security"). */
#define API_ENV_TOKEN	   "EDGECAP_API_TOKEN"
#define API_ENV_AUTH_EMAIL "EDGECAP_AUTH_EMAIL"
#define API_ENV_AUTH_KEY   "EDGECAP_AUTH_KEY"
/* ... and the CAs an https:// aggregator's certificate is checked against (api_client_set_ca). */
#define API_ENV_CA "EDGECAP_AGGREGATOR_CA"

/* One connection to the aggregator (kept alive across calls); opaque. */
struct api_client;

/* An API call's outcome, for the caller to report in its own words. */
struct api_result {
	int exit;	     /* EXIT_OK, EXIT_RUNTIME or EXIT_USAGE (edgecapctl.h) */
	long http;	     /* the HTTP status; 0 when the aggregator was not reached */
	int code;	     /* the first errors[].code, 0 when none */
	json_t *result;	     /* the envelope's result (on success) */
	json_t *messages;    /* the envelope's messages (on success) */
	json_t *result_info; /* a list's result_info (page, per_page, count, total_count), or NULL
			      */
	char url[1024];	     /* the URL asked */
	char why[2048];	     /* on failure: why, with the method, URL and status */
};

/*
 * A client for base (the API's base URL, e.g. http://127.0.0.1:7100; trailing '/' ignored) and
 * account. token (NULL: none) goes out as Authorization: Bearer; without it, auth_email and
 * auth_key (NULL: not sent) go out as X-Auth-Email and X-Auth-Key. base must outlive the
 * client. Initialises libcurl too. Returns 0, -EINVAL for a credential with a control character
 * or over 1024 bytes, or -ENOMEM (said on stderr). A 401 or 403 answer's why says which
 * variables to set.
 */
int api_client_open(struct api_client **out, const char *base, const char *account,
		    const char *token, const char *auth_email, const char *auth_key);
/* NULL-safe. */
void api_client_close(struct api_client *c);
/*
 * An https:// aggregator's certificate is checked against the CAs in ca_file (PEM; it must
 * outlive the client) instead of the system's; NULL: the system's.
 */
void api_client_set_ca(struct api_client *c, const char *ca_file);

/*
 * path = "/" + id escaped for a URL + suffix, e.g. ("abc", "/stop") -> "/abc/stop". Returns 0,
 * -ENOMEM, or -EINVAL when it does not fit in len (both said on stderr).
 */
int api_client_path(struct api_client *c, const char *id, const char *suffix, char *path,
		    size_t len);

/*
 * One call: method (GET, POST, PUT, DELETE) on path under the account's pcaps ("" is the
 * collection), with body (bodylen bytes of JSON, POST and PUT only). Reads the answer as the
 * envelope into res and returns res->exit: EXIT_OK with res->result when it succeeded; else
 * res->why, and EXIT_USAGE for the API's 400 and 413 (an invalid request), EXIT_RUNTIME for the
 * rest. The caller frees res with api_result_free whatever the outcome.
 */
int api_call(struct api_client *c, const char *method, const char *path, const char *body,
	     size_t bodylen, struct api_result *res);
/* Frees what res holds and clears those members (repeatable). */
void api_result_free(struct api_result *res);

/*
 * GETs path into sink when the answer is a 200 of Content-Type type: returns 0 with *bytes
 * written (no overall time limit, but a transfer that stalls ends). Otherwise res->why says why:
 * -EIO when no whole answer came (the aggregator not reached, the answer cut short, sink not
 * written); -EPROTO for a 200 of another Content-Type; -EREMOTEIO for any other status, with
 * res read as api_call reads the envelope. The caller frees res with api_result_free.
 */
int api_download(struct api_client *c, const char *path, const char *type, FILE *sink,
		 uint64_t *bytes, struct api_result *res);

#endif /* EDGECAP_API_CLIENT_H */
