// SPDX-License-Identifier: BSD-2-Clause
/*
 * api_client.c: edgecapctl's client of the aggregator's HTTP API (api_client.h): libcurl for
 * HTTP, jansson for the envelope.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <curl/curl.h>

#include "api_client.h"
#include "edgecapctl.h"
#include "log.h"

#define API_PATH  "/client/v4/accounts/"
#define JSON_TYPE "application/json"

#define CONNECT_TIMEOUT_MS 10000
/* An API call (not a download) answers from memory: anything slower is a stuck aggregator. */
#define CALL_TIMEOUT_MS 30000
/* A download that moves nothing for this long is given up. */
#define DOWNLOAD_STALL_S 60
/* Largest reply kept in memory (envelopes, and the error body of a download). */
#define REPLY_MAX (8U << 20)

struct api_client {
	CURL *curl;
	struct curl_slist *headers;
	const char *base;
	const char *ca_file; /* CURLOPT_CAINFO; NULL: libcurl's default */
	char *account;	     /* URL-escaped */
	bool has_credential;
	char errbuf[CURL_ERROR_SIZE];
};

/* What one HTTP exchange brought back. */
struct http_reply {
	long status; /* 0: no answer */
	char *body;  /* NUL-terminated */
	size_t len;
	bool too_large;
	CURL *curl;
	FILE *sink; /* downloads: a 200 of sink_type goes here, not to body */
	const char *sink_type;
	bool to_sink, decided;
	uint64_t sunk;
	int sink_err; /* errno of a failed write to sink */
	char content_type[128];
	long retry_after; /* seconds, from Retry-After; -1 when absent */
};

/* Whether a Content-Type is type, its parameters (";...") aside. */
static bool content_type_is(const char *ct, const char *type)
{
	size_t n = strlen(type);

	return ct && !strncasecmp(ct, type, n) && (!ct[n] || ct[n] == ';' || ct[n] == ' ');
}

static size_t on_body(char *data, size_t size, size_t nmemb, void *ud)
{
	struct http_reply *r = ud;
	size_t len = size * nmemb;
	char *b, *ct = NULL;

	/*
	 * The headers are in when the body begins: a download's body goes to its file only when
	 * it is what was asked for (a 200 of its Content-Type); anything else is an answer to read.
	 */
	if (r->sink && !r->decided) {
		long status = 0;

		curl_easy_getinfo(r->curl, CURLINFO_RESPONSE_CODE, &status);
		curl_easy_getinfo(r->curl, CURLINFO_CONTENT_TYPE, &ct);
		r->to_sink = status == 200 && content_type_is(ct, r->sink_type);
		r->decided = true;
	}
	if (r->to_sink) {
		if (fwrite(data, 1, len, r->sink) != len) {
			r->sink_err = errno ? errno : EIO;
			return 0;
		}
		r->sunk += len;
		return len;
	}
	if (r->len + len > REPLY_MAX) {
		r->too_large = true;
		return 0;
	}
	b = realloc(r->body, r->len + len + 1);
	if (!b)
		return 0;
	memcpy(b + r->len, data, len);
	r->body = b;
	r->len += len;
	r->body[r->len] = '\0';
	return len;
}

void api_client_close(struct api_client *c)
{
	if (!c)
		return;
	curl_slist_free_all(c->headers);
	curl_free(c->account);
	if (c->curl)
		curl_easy_cleanup(c->curl);
	free(c);
	curl_global_cleanup();
}

/* A header value from the environment must stay one header: no CR, LF or other control. */
static int check_header_value(const char *var, const char *v)
{
	size_t i;

	if (!v)
		return 0;
	if (strlen(v) > 1024) {
		pr_err("$%s is longer than 1024 bytes: not a credential", var);
		return -EINVAL;
	}
	for (i = 0; v[i]; i++) {
		if ((unsigned char)v[i] < 0x20 || v[i] == 0x7f) {
			pr_err("$%s has a control character at byte %zu: not a credential", var,
			       i + 1);
			return -EINVAL;
		}
	}
	return 0;
}

int api_client_open(struct api_client **out, const char *base, const char *account,
		    const char *token, const char *auth_email, const char *auth_key)
{
	struct api_client *c;
	struct curl_slist *l;
	char line[1100];

	*out = NULL;
	if (check_header_value(API_ENV_TOKEN, token) ||
	    check_header_value(API_ENV_AUTH_EMAIL, auth_email) ||
	    check_header_value(API_ENV_AUTH_KEY, auth_key))
		return -EINVAL;
	if (curl_global_init(CURL_GLOBAL_DEFAULT)) {
		pr_err("cannot initialise libcurl");
		return -ENOMEM;
	}
	c = calloc(1, sizeof(*c));
	if (!c) {
		pr_err("cannot set up the HTTP client: out of memory");
		curl_global_cleanup();
		return -ENOMEM;
	}
	c->base = base;
	c->curl = curl_easy_init();
	c->account = c->curl ? curl_easy_escape(c->curl, account, 0) : NULL;
	/* The seeds' headers; an empty "Expect:" keeps curl from waiting for 100 Continue. */
	c->headers = curl_slist_append(NULL, "Content-Type: " JSON_TYPE);
	l = c->headers ? curl_slist_append(c->headers, "Expect:") : NULL;
	/* A Bearer token wins: the aggregator takes it first anyway. */
	if (token) {
		auth_email = auth_key = NULL;
		c->has_credential = true;
	}
	if (l && token) {
		snprintf(line, sizeof(line), "Authorization: Bearer %s", token);
		l = curl_slist_append(c->headers, line);
	}
	if (auth_email && auth_key)
		c->has_credential = true;
	if (l && auth_email) {
		snprintf(line, sizeof(line), "X-Auth-Email: %s", auth_email);
		l = curl_slist_append(c->headers, line);
	}
	if (l && auth_key) {
		snprintf(line, sizeof(line), "X-Auth-Key: %s", auth_key);
		l = curl_slist_append(c->headers, line);
	}
	if (!c->curl || !c->account || !l) {
		pr_err("cannot set up the HTTP client: out of memory");
		api_client_close(c);
		return -ENOMEM;
	}
	*out = c;
	return 0;
}

/* What to try when the failure looks like one of TLS's (appended to the reason). */
static const char *tls_hint(const struct api_client *c, CURLcode rc, const char *url)
{
	if (rc == CURLE_PEER_FAILED_VERIFICATION && !c->ca_file)
		return " (a CA of your own: --aggregator-ca FILE or $" API_ENV_CA ")";
	if (rc == CURLE_GOT_NOTHING && !strncmp(url, "http://", 7))
		return " (does it serve https://?)";
	return "";
}

void api_client_set_ca(struct api_client *c, const char *ca_file)
{
	c->ca_file = ca_file;
}

/*
 * One exchange: method on path under the account's pcaps ("" is the collection). Fills r and
 * url. Returns 0 when a whole answer came (any status), or -EIO with why set: the aggregator
 * could not be reached, the answer was cut short, or a download could not be written.
 */
static int http_exchange(struct api_client *c, const char *method, const char *path,
			 const char *body, size_t bodylen, struct http_reply *r, char *url,
			 size_t urllen, char *why, size_t whylen)
{
	size_t n = strlen(c->base);
	curl_off_t retry = 0;
	CURL *h = c->curl;
	char *ct = NULL;
	CURLcode rc;

	while (n && c->base[n - 1] == '/')
		n--;
	snprintf(url, urllen, "%.*s" API_PATH "%s/pcaps%s", (int)n, c->base, c->account, path);
	r->curl = h;
	r->retry_after = -1;

	/* A reset keeps the connection: one client, many calls. */
	curl_easy_reset(h);
	c->errbuf[0] = '\0';
	curl_easy_setopt(h, CURLOPT_URL, url);
	/* Instead of the system's CAs, not beside them: no CA directory either. */
	if (c->ca_file) {
		curl_easy_setopt(h, CURLOPT_CAINFO, c->ca_file);
		curl_easy_setopt(h, CURLOPT_CAPATH, NULL);
	}
	curl_easy_setopt(h, CURLOPT_HTTPHEADER, c->headers);
	curl_easy_setopt(h, CURLOPT_ERRORBUFFER, c->errbuf);
	curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(h, CURLOPT_USERAGENT, "edgecapctl");
	curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, (long)CONNECT_TIMEOUT_MS);
#if LIBCURL_VERSION_NUM >= 0x075500
	curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
#endif
	curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(h, CURLOPT_WRITEDATA, r);
	if (r->sink) {
		/* A pcap can be large: no overall limit, but a stalled transfer ends. */
		curl_easy_setopt(h, CURLOPT_LOW_SPEED_LIMIT, 1L);
		curl_easy_setopt(h, CURLOPT_LOW_SPEED_TIME, (long)DOWNLOAD_STALL_S);
	} else {
		curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, (long)CALL_TIMEOUT_MS);
	}
	if (!strcmp(method, "POST") || !strcmp(method, "PUT")) {
		curl_easy_setopt(h, CURLOPT_POSTFIELDS, body ? body : "");
		curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)(body ? bodylen : 0));
		if (strcmp(method, "POST"))
			curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, method);
	} else {
		curl_easy_setopt(h, CURLOPT_HTTPGET, 1L);
		if (strcmp(method, "GET"))
			curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, method);
	}
	pr_debug("%s %s", method, url);

	rc = curl_easy_perform(h);
	curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &r->status);
	if (!curl_easy_getinfo(h, CURLINFO_CONTENT_TYPE, &ct) && ct)
		snprintf(r->content_type, sizeof(r->content_type), "%s", ct);
	if (!curl_easy_getinfo(h, CURLINFO_RETRY_AFTER, &retry) && retry > 0)
		r->retry_after = (long)retry;
	pr_debug("%s %s: HTTP %ld, %s", method, url, r->status,
		 rc ? curl_easy_strerror(rc) : "complete");
	if (rc == CURLE_OK)
		return 0;
	if (r->sink_err)
		snprintf(why, whylen, "GET %s: cannot write the pcap: %s", url,
			 strerror(r->sink_err));
	else if (r->too_large)
		snprintf(why, whylen, "%s %s: the answer is larger than %u bytes", method, url,
			 REPLY_MAX);
	else if (r->status)
		snprintf(why, whylen, "%s %s: the answer (HTTP %ld) was cut short: %s", method, url,
			 r->status, c->errbuf[0] ? c->errbuf : curl_easy_strerror(rc));
	else
		snprintf(why, whylen, "cannot reach the aggregator: %s %s: %s%s", method, url,
			 c->errbuf[0] ? c->errbuf : curl_easy_strerror(rc), tls_hint(c, rc, url));
	return -EIO;
}

/* The start of a body that is not the API's JSON, as one printable line. */
static void snippet(const char *body, size_t len, char *out, size_t outlen)
{
	size_t i, n = 0;

	for (i = 0; i < len && n + 4 < outlen && i < 160; i++)
		out[n++] = body[i] >= 0x20 && body[i] < 0x7f ? body[i] : ' ';
	if (i < len && n + 4 <= outlen) {
		memcpy(out + n, "...", 3);
		n += 3;
	}
	out[n] = '\0';
}

/*
 * Reads an answer as the API's envelope into res: EXIT_OK with res->result when it succeeded,
 * else res->why (the API's errors[].message, the status, the method and URL) and res->exit:
 * EXIT_USAGE for the API's 400 and 413 (an invalid request), EXIT_RUNTIME for the rest.
 */
static void api_parse(const struct api_client *c, const struct http_reply *r, const char *method,
		      struct api_result *res)
{
	json_t *env = NULL, *errors, *e, *result;
	char msg[1536] = "", text[200];
	json_error_t jerr;
	size_t i, n = 0;

	res->http = r->status;
	res->exit = r->status == 400 || r->status == 413 ? EXIT_USAGE : EXIT_RUNTIME;
	if (r->len)
		env = json_loadb(r->body, r->len, 0, &jerr);
	if (!json_is_object(env)) {
		snippet(r->body ? r->body : "", r->len, text, sizeof(text));
		snprintf(res->why, sizeof(res->why),
			 "%s %s: HTTP %ld with %s%s, not the API's JSON envelope%s%s", method,
			 res->url, r->status, r->content_type[0] ? "Content-Type " : "no body",
			 r->content_type, text[0] ? ": " : "", text);
		goto out;
	}
	result = json_object_get(env, "result");
	if (r->status >= 200 && r->status < 300 && json_is_true(json_object_get(env, "success")) &&
	    result && !json_is_null(result)) {
		res->result = json_incref(result);
		res->messages = json_incref(json_object_get(env, "messages"));
		res->result_info = json_incref(json_object_get(env, "result_info"));
		res->exit = EXIT_OK;
		goto out;
	}
	errors = json_object_get(env, "errors");
	json_array_foreach (errors, i, e) {
		const char *m = json_string_value(json_object_get(e, "message"));

		if (!m)
			continue;
		if (!res->code)
			res->code = (int)json_integer_value(json_object_get(e, "code"));
		n += (size_t)snprintf(msg + n, n < sizeof(msg) ? sizeof(msg) - n : 0, "%s%s",
				      n ? "; " : "", m);
		if (n >= sizeof(msg))
			break;
	}
	snprintf(res->why, sizeof(res->why), "%s (HTTP %ld from %s %s)",
		 msg[0] ? msg : "the aggregator gave no reason", r->status, method, res->url);
	/* The aggregator's "no such endpoint" (api.h's 1008): the base URL has a path too many. */
	if (r->status == 404 && res->code == 1008) {
		n = strlen(res->why);
		snprintf(res->why + n, sizeof(res->why) - n,
			 "; give --aggregator as the base URL only, e.g. http://HOST:PORT");
	}
	/* The API's 401 and 403 say nothing more: say what to set. */
	if (r->status == 401) {
		n = strlen(res->why);
		snprintf(res->why + n, sizeof(res->why) - n,
			 c->has_credential
				 ? "; the credential in $" API_ENV_TOKEN " (or $" API_ENV_AUTH_EMAIL
				   " and $" API_ENV_AUTH_KEY ") is not one the aggregator knows"
				 : "; no credential was sent: set $" API_ENV_TOKEN
				   " to an API secret (made with `edgecapctl credential`), or "
				   "$" API_ENV_AUTH_EMAIL " and $" API_ENV_AUTH_KEY);
	}
	if (r->status == 403) {
		n = strlen(res->why);
		snprintf(res->why + n, sizeof(res->why) - n,
			 "; the credential in $" API_ENV_TOKEN " (or $" API_ENV_AUTH_EMAIL
			 " and $" API_ENV_AUTH_KEY ") is not account %s's: set --account to its "
			 "account, or use a credential of %s",
			 c->account, c->account);
	}
	if (r->status == 429) {
		n = strlen(res->why);
		if (r->retry_after > 0)
			snprintf(res->why + n, sizeof(res->why) - n, "; Retry-After: %ld s",
				 r->retry_after);
		else
			snprintf(res->why + n, sizeof(res->why) - n, "; retry later");
	}
	if (r->status >= 200 && r->status < 300)
		res->exit = EXIT_RUNTIME;
out:
	json_decref(env);
}

void api_result_free(struct api_result *res)
{
	json_decref(res->result);
	json_decref(res->messages);
	json_decref(res->result_info);
	res->result_info = NULL;
	res->result = NULL;
	res->messages = NULL;
}

int api_call(struct api_client *c, const char *method, const char *path, const char *body,
	     size_t bodylen, struct api_result *res)
{
	struct http_reply r = { 0 };

	memset(res, 0, sizeof(*res));
	res->exit = EXIT_RUNTIME;
	if (!http_exchange(c, method, path, body, bodylen, &r, res->url, sizeof(res->url), res->why,
			   sizeof(res->why)))
		api_parse(c, &r, method, res);
	free(r.body);
	return res->exit;
}

int api_download(struct api_client *c, const char *path, const char *type, FILE *sink,
		 uint64_t *bytes, struct api_result *res)
{
	struct http_reply r = { .sink = sink, .sink_type = type };
	int ret;

	memset(res, 0, sizeof(*res));
	res->exit = EXIT_RUNTIME;
	*bytes = 0;
	ret = http_exchange(c, "GET", path, NULL, 0, &r, res->url, sizeof(res->url), res->why,
			    sizeof(res->why));
	if (ret)
		goto out;
	res->http = r.status;
	if (r.status == 200 && content_type_is(r.content_type, type)) {
		*bytes = r.sunk;
		res->exit = EXIT_OK;
		goto out;
	}
	if (r.status == 200) {
		snprintf(res->why, sizeof(res->why),
			 "GET %s answered with Content-Type \"%s\", not %s", res->url,
			 r.content_type, type);
		ret = -EPROTO;
		goto out;
	}
	api_parse(c, &r, "GET", res);
	ret = -EREMOTEIO;
out:
	free(r.body);
	return ret;
}

int api_client_path(struct api_client *c, const char *id, const char *suffix, char *path,
		    size_t len)
{
	char *esc = curl_easy_escape(c->curl, id, 0);
	int n;

	if (!esc) {
		pr_err("out of memory");
		return -ENOMEM;
	}
	n = snprintf(path, len, "/%s%s", esc, suffix);
	curl_free(esc);
	if (n < 0 || (size_t)n >= len) {
		pr_err("capture id too long: \"%.40s...\"", id);
		return -EINVAL;
	}
	return 0;
}
