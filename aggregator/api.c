// SPDX-License-Identifier: BSD-2-Clause
/*
 * api.c: the HTTP API (api.h). libmicrohttpd calls handle() several times per request: once
 * when the headers are in, once per piece of the body, and once more when the body is complete,
 * which is when the request is routed and answered. Bodies are collected up to max_body; the
 * rest of a larger one is read and dropped, so that the 413 reaches a client that is still
 * sending (closing on unread data would reset the connection under it), up to DRAIN_MAX past
 * the cap. A client that announced an oversized body and waits for "100 Continue", or one that
 * announced more than that, gets the 413 before its body is read. One that sends more than
 * that without announcing it has its connection closed: libmicrohttpd cannot answer while a
 * body is still arriving.
 *
 * The routing and the answers (api_respond) know nothing of libmicrohttpd: a request comes in as
 * struct api_request and goes out as struct api_reply, which handle() turns into an MHD
 * response. The fuzz target drives api_respond the same way, without a socket.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include <microhttpd.h>

#include "api.h"
#include "api_deadline.h"
#include "api_tls.h"
#include "log.h"
#include "obs.h"
#include "strnum.h"

#define API_PREFIX   "/client/v4/accounts/"
#define API_TEMPLATE API_PREFIX "{account_id}/pcaps"
/* How much of an oversized body is read and dropped before the connection is cut. */
#define DRAIN_MAX (1024 * 1024)
/* Longest text taken from a URL into a message. */
#define QUOTE_MAX 80
#define JSON_TYPE "application/json"
#define PCAP_TYPE "application/vnd.tcpdump.pcap"

struct api {
	struct MHD_Daemon *daemon;
	struct store *store;
	struct credentials *creds;
	struct obs *obs; /* may be NULL (tests): /healthz then answers from this thread alone */
	struct ownership *ownership;
	struct api_deadline *deadline; /* api_start's: a request is whole in time, or cut */
	uint64_t max_body;
	char start_err[512]; /* libmicrohttpd's last message while starting */
	bool starting;
};

/* Per request: its body so far. */
struct conn_ctx {
	char *body;
	size_t len, cap;
	uint64_t received;
	bool too_large;
	bool responded;
};

enum route_kind {
	ROUTE_PCAPS,
	ROUTE_PCAP,
	ROUTE_DOWNLOAD,
	ROUTE_STOP,
	ROUTE_AGENTS,
	ROUTE_OWNERSHIP,
};

/* One request being answered. */
struct call {
	struct api *api;
	const struct api_request *rq;
	struct api_reply *rep;
	const char *method;
	const char *url;
	const char *rest; /* ROUTE_OWNERSHIP: the path after "ownership" */
	enum route_kind route;
	char account[STORE_ACCOUNT_MAX + 1];
	char id[STORE_ID_LEN + 1];
	char account_q[QUOTE_MAX + 8]; /* the path's account_id, quotable */
	char id_q[QUOTE_MAX + 8];      /* the path's capture id, quotable */
	char url_q[QUOTE_MAX + 8];     /* the path, quotable and loggable */
	char method_q[32];
	char peer_q[64];
	bool account_ok;
	bool id_ok;
};

/*
 * Text from the URL, made safe for a JSON message: json_string() refuses invalid UTF-8, and a
 * message is one line of printable ASCII. Anything else becomes '?'; long text ends in "...".
 */
static void quote(char *dst, size_t dstlen, const char *src, size_t srclen)
{
	size_t i, n = 0;

	for (i = 0; i < srclen && n + 4 < dstlen; i++) {
		if (i == QUOTE_MAX) {
			memcpy(dst + n, "...", 3);
			n += 3;
			break;
		}
		dst[n++] = src[i] >= 0x20 && src[i] < 0x7f ? src[i] : '?';
	}
	dst[n] = '\0';
}

static bool is_get(const char *method)
{
	return !strcmp(method, MHD_HTTP_METHOD_GET) || !strcmp(method, MHD_HTTP_METHOD_HEAD);
}

/* -ENOENT when the path is no endpoint of the API. */
static int route_parse(struct call *c)
{
	const char *p = c->url, *end;
	size_t n;

	if (strncmp(p, API_PREFIX, strlen(API_PREFIX)))
		return -ENOENT;
	p += strlen(API_PREFIX);
	end = strchr(p, '/');
	if (!end || strncmp(end, "/pcaps", 6) || (end[6] && end[6] != '/'))
		return -ENOENT;
	n = (size_t)(end - p);
	quote(c->account_q, sizeof(c->account_q), p, n);
	c->account_ok = n < sizeof(c->account);
	if (c->account_ok) {
		memcpy(c->account, p, n);
		c->account[n] = '\0';
		c->account_ok = store_account_valid(c->account);
	}

	p = end + 6;
	/* "/pcaps" and "/pcaps/" are the collection. */
	if (!*p || !strcmp(p, "/")) {
		c->route = ROUTE_PCAPS;
		return 0;
	}
	p++;
	/* Not a capture id: the fleet's agents (obs.h). */
	if (!strcmp(p, "agents") || !strcmp(p, "agents/")) {
		c->route = ROUTE_AGENTS;
		return 0;
	}
	end = strchr(p, '/');
	n = end ? (size_t)(end - p) : strlen(p);
	if (!n)
		return -ENOENT;
	if (n == 9 && !strncmp(p, "ownership", 9)) {
		c->route = ROUTE_OWNERSHIP;
		c->rest = p + 9;
		return 0;
	}
	quote(c->id_q, sizeof(c->id_q), p, n);
	c->id_ok = n == STORE_ID_LEN;
	if (c->id_ok) {
		memcpy(c->id, p, n);
		c->id[n] = '\0';
		c->id_ok = store_id_valid(c->id);
	}
	if (!end)
		c->route = ROUTE_PCAP;
	else if (!strcmp(end, "/download"))
		c->route = ROUTE_DOWNLOAD;
	else if (!strcmp(end, "/stop"))
		c->route = ROUTE_STOP;
	else
		return -ENOENT;
	return 0;
}

/* The envelope; steals result and messages (either may be NULL). */
static json_t *envelope(json_t *result, const char *error, int code, json_t *messages)
{
	json_t *errors;

	errors = error ? json_pack("[{s:i, s:s}]", "code", code, "message", error) : json_array();
	return json_pack("{s:o?, s:b, s:o, s:o}", "result", result, "success", !error, "errors",
			 errors, "messages", messages ? messages : json_array());
}

/* Adds one more header to the reply. */
static void reply_header(struct api_reply *rep, const char *name, const char *value)
{
	size_t i;

	for (i = 0; i < API_REPLY_HEADERS; i++) {
		if (!rep->hdr[i].name) {
			rep->hdr[i].name = name;
			snprintf(rep->hdr[i].value, sizeof(rep->hdr[i].value), "%s", value);
			return;
		}
	}
}

/*
 * Answers env (stolen) with status and, when name is set, one more header. Without memory for
 * the JSON, a fixed envelope says so.
 */
static int send_json(struct call *c, unsigned int status, json_t *env, const char *name,
		     const char *value)
{
	static const char oom[] = "{\"result\": null, \"success\": false, \"errors\": [{\"code\": "
				  "1012, \"message\": \"the aggregator is out of memory\"}], "
				  "\"messages\": []}\n";
	struct api_reply *rep = c->rep;
	char *text, *nl;

	text = env ? json_dumps(env, JSON_INDENT(2)) : NULL;
	json_decref(env);
	nl = text ? realloc(text, strlen(text) + 2) : NULL;
	if (nl) {
		strcat(nl, "\n");
		rep->body = nl;
		rep->body_len = strlen(nl);
	} else {
		free(text);
		status = MHD_HTTP_INTERNAL_SERVER_ERROR;
		name = NULL;
		rep->body = strdup(oom);
		rep->body_len = rep->body ? sizeof(oom) - 1 : 0;
	}
	rep->status = status;
	rep->content_type = JSON_TYPE;
	if (name)
		reply_header(rep, name, value);
	pr_debug("%s %s: %u", c->method_q, c->url_q, status);
	return 0;
}

static int send_result(struct call *c, json_t *result, json_t *messages)
{
	if (!result) {
		json_decref(messages);
		return send_json(c, MHD_HTTP_INTERNAL_SERVER_ERROR, NULL, NULL, NULL);
	}
	return send_json(c, MHD_HTTP_OK, envelope(result, NULL, 0, messages), NULL, NULL);
}

static int send_error_hdr(struct call *c, unsigned int status, const char *name, const char *value,
			  int code, const char *fmt, ...) __attribute__((format(printf, 6, 7)));

static int send_error_hdr(struct call *c, unsigned int status, const char *name, const char *value,
			  int code, const char *fmt, ...)
{
	char msg[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	/*
	 * A message may quote the client's bytes (jansson's parse errors do): json_pack refuses
	 * invalid UTF-8, and a message is one line of printable ASCII.
	 */
	log_printable(msg);
	if (status >= 500)
		pr_err_ratelimited("%s %s: %s", c->method_q, c->url_q, msg);
	else
		pr_debug("%s %s: %s", c->method_q, c->url_q, msg);
	return send_json(c, status, envelope(NULL, msg, code, NULL), name, value);
}

#define send_error(c, status, code, ...) send_error_hdr(c, status, NULL, NULL, code, __VA_ARGS__)

static json_t *message(int code, const char *text)
{
	return json_pack("[{s:i, s:s}]", "code", code, "message", text);
}

/* Copies the members of req named in keys, in that order, into out. */
static int copy_members(json_t *out, json_t *req, const char *const *keys, size_t n)
{
	json_t *v;
	size_t i;

	for (i = 0; i < n; i++) {
		v = json_object_get(req, keys[i]);
		if (v && json_object_set(out, keys[i], v))
			return -ENOMEM;
	}
	return 0;
}

/* A capture as the API shows it (api.h has the members and their order); NULL without memory. */
static json_t *capture_result(const struct capture_rec *r)
{
	static const char *const head[] = { "filter_v1", "time_limit" };
	static const char *const tail[] = {
		"type",	     "system",		 "packet_limit", "byte_limit", "colo",
		"colo_name", "destination_conf", "sample_rate",	 "snaplen"
	};
	char submitted[RFC3339_US_LEN];
	json_t *req, *out = NULL, *v;
	uint64_t remaining = 0;
	const char *key;

	req = store_request_json(r);
	if (!req)
		return NULL;
	rfc3339_us_format(r->submitted_us, submitted, sizeof(submitted));
	out = json_pack("{s:s, s:s}", "id", r->id, "submitted", submitted);
	if (!out || copy_members(out, req, head, sizeof(head) / sizeof(head[0])) ||
	    json_object_set_new(out, "status", json_string(capture_status_name(r->status))))
		goto fail;
	if (r->req.type == CAPTURE_SIMPLE) {
		if (r->status == CAPTURE_PENDING || r->status == CAPTURE_RUNNING)
			remaining = r->req.packet_limit > r->packets
					    ? r->req.packet_limit - r->packets
					    : 0;
		if (json_object_set_new(out, "packets_remaining",
					json_integer((json_int_t)remaining)))
			goto fail;
	}
	if (copy_members(out, req, tail, sizeof(tail) / sizeof(tail[0])))
		goto fail;
	/* Members a later request model adds still show, after the known ones. */
	json_object_foreach (req, key, v) {
		if (!json_object_get(out, key) && json_object_set(out, key, v))
			goto fail;
	}
	if (r->stop_requested_us) {
		rfc3339_us_format(r->stop_requested_us, submitted, sizeof(submitted));
		if (json_object_set_new(out, "stop_requested", json_string(submitted)))
			goto fail;
	}
	if (r->req.type == CAPTURE_FULL &&
	    json_object_set_new(out, "packets_captured", json_integer((json_int_t)r->packets)))
		goto fail;
	if (r->status == CAPTURE_FAILED &&
	    json_object_set_new(out, "error_message", json_string(r->error_message)))
		goto fail;
	json_decref(req);
	return out;
fail:
	json_decref(req);
	json_decref(out);
	return NULL;
}

static int not_found(struct call *c)
{
	if (!c->id_ok)
		return send_error(c, MHD_HTTP_NOT_FOUND, API_ERR_CAPTURE_NOT_FOUND,
				  "no capture \"%s\" in account %s (capture ids are %d hexadecimal "
				  "characters)",
				  c->id_q, c->account, STORE_ID_LEN);
	return send_error(c, MHD_HTTP_NOT_FOUND, API_ERR_CAPTURE_NOT_FOUND,
			  "no capture %s in account %s", c->id, c->account);
}

/*
 * The capture of the path, when it exists in the path's account. Another account's capture is
 * answered as one that does not exist; only the log says whose it is.
 */
static int lookup(struct call *c, struct capture_rec *rec)
{
	if (!c->id_ok || store_get(c->api->store, c->id, rec))
		return -ENOENT;
	if (strcmp(rec->account, c->account)) {
		pr_warn_ratelimited("%s %s from %s: 404: capture %s is account %s's, not %s's "
				    "capture=%s account=%s",
				    c->method_q, c->url_q, c->peer_q, c->id, rec->account,
				    c->account, c->id, c->account);
		return -ENOENT;
	}
	return 0;
}

static int handle_create(struct call *c)
{
	const struct api_request *rq = c->rq;
	struct capture_request req;
	struct capture_rec rec;
	char err[512], retry[16];
	uint32_t retry_after = 0;
	json_error_t jerr;
	bool colo_as_colo;
	json_t *root;
	int ret;

	if (!rq->body_len)
		return send_error(c, MHD_HTTP_BAD_REQUEST, API_ERR_MALFORMED_JSON,
				  "malformed JSON: the request body is empty (expected a capture "
				  "request object)");
	root = json_loadb(rq->body, rq->body_len, JSON_REJECT_DUPLICATES, &jerr);
	if (!root)
		return send_error(c, MHD_HTTP_BAD_REQUEST, API_ERR_MALFORMED_JSON,
				  "malformed JSON in the request body at line %d, column %d: %s",
				  jerr.line, jerr.column, jerr.text);
	/* The seeds spell colo_name both ways; a capture shows it back as it was sent. */
	colo_as_colo = json_is_object(root) && json_object_get(root, "colo");
	json_decref(root);

	ret = request_from_json(rq->body, rq->body_len, REQ_SCOPE_API, &req, err, sizeof(err));
	if (ret)
		return send_error(c, MHD_HTTP_BAD_REQUEST, API_ERR_INVALID_REQUEST, "%s", err);

	ret = store_create(c->api->store, c->account, &req, colo_as_colo, store_now_us(), &rec,
			   &retry_after, err, sizeof(err));
	switch (ret) {
	case 0:
		break;
	case -EAGAIN:
		snprintf(retry, sizeof(retry), "%" PRIu32, retry_after);
		return send_error_hdr(c, MHD_HTTP_TOO_MANY_REQUESTS, MHD_HTTP_HEADER_RETRY_AFTER,
				      retry, API_ERR_RATE_SIMPLE, "%s", err);
	case -EBUSY:
		return send_error(c, MHD_HTTP_TOO_MANY_REQUESTS, API_ERR_RATE_FULL, "%s", err);
	case -EINVAL: /* e.g. a destination_conf outside the destination roots */
		return send_error(c, MHD_HTTP_BAD_REQUEST, API_ERR_INVALID_REQUEST, "%s", err);
	default:
		return send_error(c, MHD_HTTP_INTERNAL_SERVER_ERROR, API_ERR_INTERNAL, "%s", err);
	}
	pr_info("capture %s submitted: %s, time_limit %" PRIu64
		" s, account %s capture=%s account=%s",
		rec.id, capture_type_name(rec.req.type), rec.req.time_limit, rec.account, rec.id,
		rec.account);
	return send_result(c, capture_result(&rec), NULL);
}

/* ?NAME=: an integer from 1 to max, or dflt when absent; -EINVAL after answering 400. */
static int query_number(struct call *c, const char *name, uint32_t dflt, uint32_t max,
			uint32_t *out)
{
	const char *v = c->rq->query ? c->rq->query(c->rq->header_ctx, name) : NULL;
	char q[QUOTE_MAX + 8];

	*out = dflt;
	if (!v)
		return 0;
	if (!strnum_u32(v, 1, max, out))
		return 0;
	quote(q, sizeof(q), v, strlen(v));
	send_error(c, MHD_HTTP_BAD_REQUEST, API_ERR_INVALID_REQUEST,
		   "%s: must be an integer from 1 to %" PRIu32 " (got \"%s\")", name, max, q);
	return -EINVAL;
}

static int handle_list(struct call *c)
{
	struct capture_rec *recs = NULL;
	uint32_t page, per_page;
	size_t n = 0, total = 0, i;
	json_t *arr, *one, *env;

	if (query_number(c, "page", 1, API_PAGE_MAX, &page) ||
	    query_number(c, "per_page", API_LIST_MAX, API_PER_PAGE_MAX, &per_page))
		return 0;
	recs = calloc(per_page, sizeof(*recs));
	arr = json_array();
	if (!recs || !arr)
		goto fail;
	store_list_page(c->api->store, c->account, page, per_page, recs, &n, &total);
	for (i = 0; i < n; i++) {
		one = capture_result(&recs[i]);
		if (!one || json_array_append_new(arr, one))
			goto fail;
	}
	free(recs);
	env = envelope(arr, NULL, 0, NULL);
	if (env &&
	    json_object_set_new(env, "result_info",
				json_pack("{s:i, s:i, s:i, s:i}", "page", (json_int_t)page,
					  "per_page", (json_int_t)per_page, "count", (json_int_t)n,
					  "total_count", (json_int_t)total))) {
		json_decref(env);
		env = NULL;
	}
	return send_json(c, MHD_HTTP_OK, env, NULL, NULL);
fail:
	free(recs);
	json_decref(arr);
	return send_error(c, MHD_HTTP_INTERNAL_SERVER_ERROR, API_ERR_INTERNAL,
			  "failed to list captures: out of memory");
}

static int handle_get(struct call *c)
{
	struct capture_rec rec;

	if (lookup(c, &rec))
		return not_found(c);
	return send_result(c, capture_result(&rec), NULL);
}

static int handle_download(struct call *c)
{
	struct capture_rec rec;
	char path[4096];
	struct stat st;
	int fd;

	if (lookup(c, &rec))
		return not_found(c);
	if (rec.req.type == CAPTURE_FULL)
		return send_error(c, MHD_HTTP_BAD_REQUEST, API_ERR_FULL_DOWNLOAD,
				  "capture %s is a full capture: its files are written to its "
				  "destination_conf (\"%s\"), there is no single pcap to download",
				  rec.id, rec.req.destination_conf);
	if (rec.status == CAPTURE_FAILED)
		return send_error(c, MHD_HTTP_CONFLICT, API_ERR_NOT_READY,
				  "capture %s failed (%s): there is no pcap to download", rec.id,
				  rec.error_message);
	if (rec.status != CAPTURE_SUCCESS)
		return send_error(c, MHD_HTTP_CONFLICT, API_ERR_NOT_READY,
				  "capture %s is not ready to download: its status is %s; the pcap "
				  "can be downloaded once the status is success",
				  rec.id, capture_status_name(rec.status));
	if (store_pcap_path(c->api->store, rec.id, path, sizeof(path)))
		return send_error(c, MHD_HTTP_INTERNAL_SERVER_ERROR, API_ERR_INTERNAL,
				  "capture %s: the path of its pcap is too long", rec.id);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return send_error(c, MHD_HTTP_INTERNAL_SERVER_ERROR, API_ERR_INTERNAL,
				  "capture %s succeeded but its pcap cannot be read: %s", rec.id,
				  strerror(errno));
	if (fstat(fd, &st)) {
		close(fd);
		return send_error(c, MHD_HTTP_INTERNAL_SERVER_ERROR, API_ERR_INTERNAL,
				  "capture %s: cannot stat its pcap: %s", rec.id, strerror(errno));
	}
	c->rep->status = MHD_HTTP_OK;
	c->rep->content_type = PCAP_TYPE;
	c->rep->fd = fd;
	c->rep->fd_size = (uint64_t)st.st_size;
	snprintf(c->rep->hdr[0].value, sizeof(c->rep->hdr[0].value),
		 "attachment; filename=\"%s.pcap\"", rec.id);
	c->rep->hdr[0].name = MHD_HTTP_HEADER_CONTENT_DISPOSITION;
	pr_debug("%s %s: 200, %lld bytes", c->method_q, c->url_q, (long long)st.st_size);
	return 0;
}

static int handle_stop(struct call *c)
{
	struct capture_rec rec, before;
	char text[160], when[RFC3339_US_LEN];
	json_t *msgs = NULL;
	int ret;

	if (lookup(c, &before))
		return not_found(c);
	ret = store_request_stop(c->api->store, c->id, store_now_us(), &rec);
	if (ret == -ENOENT)
		return not_found(c);
	if (ret == -EALREADY) {
		snprintf(text, sizeof(text),
			 "capture %s had already finished (%s): nothing to stop", rec.id,
			 capture_status_name(rec.status));
		msgs = message(API_MSG_ALREADY_FINISHED, text);
	} else if (ret) {
		return send_error(c, MHD_HTTP_INTERNAL_SERVER_ERROR, API_ERR_INTERNAL,
				  "failed to stop capture %s: %s", c->id, strerror(-ret));
	} else if (before.stop_requested_us) {
		rfc3339_us_format(before.stop_requested_us, when, sizeof(when));
		snprintf(text, sizeof(text), "a stop of capture %s was already requested at %s",
			 rec.id, when);
		msgs = message(API_MSG_STOP_REPEATED, text);
	} else {
		pr_info("capture %s: stop requested capture=%s account=%s", rec.id, rec.id,
			rec.account);
	}
	return send_result(c, capture_result(&rec), msgs);
}

/* .../pcaps/ownership: ownership.c answers, the envelope is ours. */
static int handle_ownership(struct call *c)
{
	struct ownership_reply r;

	ownership_api(c->api->ownership, c->method, c->account, c->rest, c->rq->body,
		      c->rq->body_len, &r);
	if (r.status == MHD_HTTP_OK)
		return send_result(c, r.result, NULL);
	json_decref(r.result);
	if (r.allow)
		return send_error_hdr(c, r.status, MHD_HTTP_HEADER_ALLOW, r.allow, r.code, "%s",
				      r.message);
	return send_error(c, r.status, r.code, "%s", r.message);
}

/* The answer to a request without a good credential, or with another account's: no detail. */
static int auth_error(struct call *c, unsigned int status)
{
	if (status == MHD_HTTP_UNAUTHORIZED)
		reply_header(c->rep, MHD_HTTP_HEADER_WWW_AUTHENTICATE, "Bearer realm=\"edgecap\"");
	return send_json(c, status, envelope(NULL, "Authentication error", API_ERR_AUTH, NULL),
			 NULL, NULL);
}

static const char *header(const struct call *c, const char *name)
{
	return c->rq->header ? c->rq->header(c->rq->header_ctx, name) : NULL;
}

/*
 * The credential of the request: 0 with account set to its account, or -EACCES with why (for
 * the log, never for the client). A Bearer token wins over X-Auth-Email and X-Auth-Key.
 */
static int authenticate(struct call *c, char *account, char *why, size_t whylen)
{
	const char *auth, *email, *key, *secret;
	char email_q[QUOTE_MAX + 8];
	size_t len;
	int ret;

	auth = header(c, MHD_HTTP_HEADER_AUTHORIZATION);
	if (auth) {
		if (strncasecmp(auth, "Bearer ", 7)) {
			snprintf(why, whylen, "the Authorization header is not \"Bearer SECRET\"");
			return -EACCES;
		}
		secret = auth + 7;
		secret += strspn(secret, " \t");
		len = strlen(secret);
		while (len && (secret[len - 1] == ' ' || secret[len - 1] == '\t'))
			len--;
		ret = credentials_authenticate(c->api->creds, NULL, secret, len, account);
		if (ret)
			snprintf(why, whylen, "the Bearer token matches no credential");
		return ret ? -EACCES : 0;
	}
	email = header(c, "X-Auth-Email");
	key = header(c, "X-Auth-Key");
	if (!email && !key) {
		snprintf(why, whylen,
			 "no credential (neither Authorization: Bearer nor X-Auth-Email and "
			 "X-Auth-Key)");
		return -EACCES;
	}
	if (!email || !key) {
		snprintf(why, whylen, "X-Auth-%s without X-Auth-%s", email ? "Email" : "Key",
			 email ? "Key" : "Email");
		return -EACCES;
	}
	ret = credentials_authenticate(c->api->creds, email, key, strlen(key), account);
	if (ret) {
		quote(email_q, sizeof(email_q), email, strlen(email));
		snprintf(why, whylen, "X-Auth-Key matches no credential of X-Auth-Email \"%s\"",
			 email_q);
	}
	return ret ? -EACCES : 0;
}

/*
 * GET /healthz, without a credential (load balancers and probes have none): 200 while the main
 * loop beats, 503 when it has stalled (obs.h).
 */
static int healthz(struct call *c)
{
	uint64_t age = 0;

	if (!is_get(c->method))
		return send_error_hdr(c, MHD_HTTP_METHOD_NOT_ALLOWED, MHD_HTTP_HEADER_ALLOW,
				      "GET, HEAD", API_ERR_METHOD,
				      "method %s is not allowed on /healthz (allowed: GET, HEAD)",
				      c->method_q);
	if (c->api->obs && !obs_healthy(c->api->obs, store_now_us(), &age))
		return send_error(c, MHD_HTTP_SERVICE_UNAVAILABLE, API_ERR_INTERNAL,
				  "stalled: the aggregator's main loop has not run for %.1f s",
				  (double)age / 1e6);
	return send_result(c, json_pack("{s:s}", "status", "ok"), NULL);
}

/* The whole request is in: route it and answer. */
static int dispatch(struct call *c)
{
	char account[STORE_ACCOUNT_MAX + 1], why[256];
	const char *allow;

	if (c->rq->too_large)
		return send_error(c, MHD_HTTP_CONTENT_TOO_LARGE, API_ERR_BODY_TOO_LARGE,
				  "request body too large: the limit is %" PRIu64 " bytes",
				  c->api->max_body);
	if (route_parse(c))
		return send_error(c, MHD_HTTP_NOT_FOUND, API_ERR_NO_ROUTE,
				  "no such endpoint: %s (the API is under " API_TEMPLATE ")",
				  c->url_q);
	if (authenticate(c, account, why, sizeof(why))) {
		pr_warn_ratelimited("%s %s from %s: 401: %s", c->method_q, c->url_q, c->peer_q,
				    why);
		return auth_error(c, MHD_HTTP_UNAUTHORIZED);
	}
	c->rep->authenticated = true;
	if (!c->account_ok)
		return send_error(c, MHD_HTTP_BAD_REQUEST, API_ERR_INVALID_ACCOUNT,
				  "account_id: must be 1 to %d letters, digits, '-' or '_' (got "
				  "\"%s\")",
				  STORE_ACCOUNT_MAX, c->account_q);
	if (strcmp(account, c->account)) {
		pr_warn_ratelimited("%s %s from %s: 403: a credential of account %s on account "
				    "%s's path account=%s",
				    c->method_q, c->url_q, c->peer_q, account, c->account,
				    c->account);
		return auth_error(c, MHD_HTTP_FORBIDDEN);
	}

	/* A path under /pcaps/ whose id is no capture id is no endpoint, whatever the method. */
	if ((c->route == ROUTE_PCAP || c->route == ROUTE_DOWNLOAD || c->route == ROUTE_STOP) &&
	    !c->id_ok)
		return not_found(c);
	switch (c->route) {
	case ROUTE_OWNERSHIP:
		return handle_ownership(c);
	case ROUTE_PCAPS:
		if (is_get(c->method))
			return handle_list(c);
		if (!strcmp(c->method, MHD_HTTP_METHOD_POST))
			return handle_create(c);
		allow = "GET, HEAD, POST";
		break;
	case ROUTE_PCAP:
		if (is_get(c->method))
			return handle_get(c);
		allow = "GET, HEAD";
		break;
	case ROUTE_DOWNLOAD:
		if (is_get(c->method))
			return handle_download(c);
		allow = "GET, HEAD";
		break;
	case ROUTE_STOP:
		if (!strcmp(c->method, MHD_HTTP_METHOD_PUT))
			return handle_stop(c);
		allow = "PUT";
		break;
	case ROUTE_AGENTS:
		/* The connected agents: every account sees the same fleet, none of its captures. */
		if (is_get(c->method))
			return send_result(c, c->api->obs ? obs_agents(c->api->obs) : json_array(),
					   NULL);
		allow = "GET, HEAD";
		break;
	default:
		allow = "";
		break;
	}
	return send_error_hdr(c, MHD_HTTP_METHOD_NOT_ALLOWED, MHD_HTTP_HEADER_ALLOW, allow,
			      API_ERR_METHOD, "method %s is not allowed on %s (allowed: %s)",
			      c->method_q, c->url_q, allow);
}

void api_respond(struct api *a, const struct api_request *rq, struct api_reply *rep)
{
	struct call c = { .api = a, .rq = rq, .rep = rep, .method = rq->method, .url = rq->url };

	memset(rep, 0, sizeof(*rep));
	rep->fd = -1;
	quote(c.url_q, sizeof(c.url_q), rq->url, strlen(rq->url));
	quote(c.method_q, sizeof(c.method_q), rq->method, strlen(rq->method));
	quote(c.peer_q, sizeof(c.peer_q), rq->peer ? rq->peer : "?",
	      rq->peer ? strlen(rq->peer) : 1);
	if (!strcmp(rq->url, "/healthz"))
		healthz(&c);
	else
		dispatch(&c);
	if (a->obs)
		obs_count_request(a->obs, rep->status);
}

void api_reply_free(struct api_reply *rep)
{
	free(rep->body);
	rep->body = NULL;
	if (rep->fd >= 0)
		close(rep->fd);
	rep->fd = -1;
}

/* The body announced by Content-Length, or 0 when there is none (or it is not a number). */
static uint64_t announced_length(struct MHD_Connection *conn)
{
	const char *v;
	uint64_t n;

	v = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
	if (!v || strnum_u64(v, 0, UINT64_MAX, &n))
		return 0;
	return n;
}

static int body_append(struct conn_ctx *cc, const char *data, size_t n)
{
	size_t cap;
	char *b;

	if (cc->len + n > cc->cap) {
		cap = cc->cap ? cc->cap : 4096;
		while (cap < cc->len + n)
			cap *= 2;
		b = realloc(cc->body, cap);
		if (!b)
			return -ENOMEM;
		cc->body = b;
		cc->cap = cap;
	}
	memcpy(cc->body + cc->len, data, n);
	cc->len += n;
	return 0;
}

static const char *mhd_header(void *ctx, const char *name)
{
	return MHD_lookup_connection_value(ctx, MHD_HEADER_KIND, name);
}

static const char *mhd_query(void *ctx, const char *name)
{
	return MHD_lookup_connection_value(ctx, MHD_GET_ARGUMENT_KIND, name);
}

/* The client's address as "ADDR:PORT", for the log. */
static void peer_name(struct MHD_Connection *conn, char *buf, size_t len)
{
	const union MHD_ConnectionInfo *ci;
	char host[INET6_ADDRSTRLEN] = "?";
	uint16_t port = 0;

	ci = MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
	if (ci && ci->client_addr && ci->client_addr->sa_family == AF_INET) {
		const struct sockaddr_in *in = (const struct sockaddr_in *)ci->client_addr;

		inet_ntop(AF_INET, &in->sin_addr, host, sizeof(host));
		port = ntohs(in->sin_port);
	} else if (ci && ci->client_addr && ci->client_addr->sa_family == AF_INET6) {
		const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)ci->client_addr;

		inet_ntop(AF_INET6, &in6->sin6_addr, host, sizeof(host));
		port = ntohs(in6->sin6_port);
	}
	snprintf(buf, len, strchr(host, ':') ? "[%s]:%u" : "%s:%u", host, port);
}

/* The connection's entry in the request deadline (api_deadline.h), or NULL. */
static struct api_deadline_conn *deadline_conn(struct MHD_Connection *conn)
{
	const union MHD_ConnectionInfo *ci;

	ci = MHD_get_connection_info(conn, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
	return ci ? ci->socket_context : NULL;
}

/* Routes and answers the whole request over conn. */
static enum MHD_Result respond(struct api *a, struct MHD_Connection *conn, const char *method,
			       const char *url, struct conn_ctx *cc)
{
	struct api_request rq = {
		.method = method,
		.url = url,
		.header = mhd_header,
		.query = mhd_query,
		.header_ctx = conn,
		.body = cc->body,
		.body_len = cc->len,
		.too_large = cc->too_large,
	};
	struct MHD_Response *resp;
	struct api_reply rep;
	enum MHD_Result ret;
	char peer[INET6_ADDRSTRLEN + 16];
	size_t i;

	/*
	 * The request is in: not cut while handled (a create waits on the bucket), and an
	 * authenticated one's answer takes the time it takes (the idle timeout guards it). Any
	 * other's deadline runs on (api_deadline.h).
	 */
	if (a->deadline)
		api_deadline_answering(a->deadline, deadline_conn(conn));
	peer_name(conn, peer, sizeof(peer));
	rq.peer = peer;
	api_respond(a, &rq, &rep);
	if (a->deadline)
		api_deadline_answered(a->deadline, deadline_conn(conn), rep.authenticated);
	cc->responded = true;
	if (rep.fd >= 0) {
		/* libmicrohttpd owns fd from here, and closes it when done (or on failure). */
		resp = MHD_create_response_from_fd64(rep.fd_size, rep.fd);
		if (!resp)
			close(rep.fd);
		rep.fd = -1;
	} else {
		resp = MHD_create_response_from_buffer(rep.body_len, rep.body,
						       MHD_RESPMEM_MUST_FREE);
		if (resp)
			rep.body = NULL;
	}
	if (!resp) {
		api_reply_free(&rep);
		return MHD_NO;
	}
	MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, rep.content_type);
	for (i = 0; i < API_REPLY_HEADERS; i++) {
		if (rep.hdr[i].name)
			MHD_add_response_header(resp, rep.hdr[i].name, rep.hdr[i].value);
	}
	ret = MHD_queue_response(conn, rep.status, resp);
	MHD_destroy_response(resp);
	api_reply_free(&rep);
	return ret;
}

static enum MHD_Result handle(void *cls, struct MHD_Connection *conn, const char *url,
			      const char *method, const char *version, const char *upload_data,
			      size_t *upload_data_size, void **con_cls)
{
	struct api *a = cls;
	struct conn_ctx *cc = *con_cls;
	char url_q[QUOTE_MAX + 8], method_q[32];
	uint64_t announced;
	const char *expect;
	size_t n;

	(void)version;
	if (!cc) {
		/* The headers are in: set up, and refuse an announced oversized body early. */
		cc = calloc(1, sizeof(*cc));
		if (!cc)
			return MHD_NO;
		*con_cls = cc;
		expect = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_EXPECT);
		announced = announced_length(conn);
		if ((expect && !strcasecmp(expect, "100-continue") && announced > a->max_body) ||
		    announced > a->max_body + DRAIN_MAX) {
			cc->too_large = true;
			return respond(a, conn, method, url, cc);
		}
		return MHD_YES;
	}
	if (*upload_data_size) {
		n = *upload_data_size;
		*upload_data_size = 0;
		cc->received += n;
		if (cc->responded)
			return MHD_YES;
		if (!cc->too_large && cc->received <= a->max_body) {
			if (body_append(cc, upload_data, n))
				return MHD_NO;
			return MHD_YES;
		}
		if (!cc->too_large) {
			cc->too_large = true;
			free(cc->body);
			cc->body = NULL;
			cc->len = cc->cap = 0;
		}
		/* libmicrohttpd cannot answer in the middle of a body: cut it off. */
		if (cc->received > a->max_body + DRAIN_MAX) {
			quote(url_q, sizeof(url_q), url, strlen(url));
			quote(method_q, sizeof(method_q), method, strlen(method));
			pr_warn_ratelimited(
				"%s %s: closing the connection: the body goes on past %" PRIu64
				" bytes (the limit is %" PRIu64 ")",
				method_q, url_q, a->max_body + DRAIN_MAX, a->max_body);
			return MHD_NO;
		}
		return MHD_YES;
	}
	if (cc->responded)
		return MHD_YES;
	return respond(a, conn, method, url, cc);
}

static void completed(void *cls, struct MHD_Connection *conn, void **con_cls,
		      enum MHD_RequestTerminationCode toe)
{
	struct conn_ctx *cc = *con_cls;
	struct api *a = cls;

	(void)toe;
	/* After an authenticated answer, the next request has as long again (api_deadline.h). */
	if (a->deadline)
		api_deadline_next(a->deadline, deadline_conn(conn));
	if (!cc)
		return;
	free(cc->body);
	free(cc);
	*con_cls = NULL;
}

/* Every connection is registered with the request deadline while it is open. */
static void notify_connection(void *cls, struct MHD_Connection *conn, void **socket_context,
			      enum MHD_ConnectionNotificationCode toe)
{
	struct api *a = cls;
	const union MHD_ConnectionInfo *ci;
	char peer[INET6_ADDRSTRLEN + 16];

	if (!a->deadline)
		return;
	if (toe == MHD_CONNECTION_NOTIFY_STARTED) {
		ci = MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CONNECTION_FD);
		if (!ci)
			return;
		peer_name(conn, peer, sizeof(peer));
		/* No memory: no deadline for this one; the idle timeout still holds. */
		*socket_context = api_deadline_add(a->deadline, ci->connect_fd, peer);
	} else if (toe == MHD_CONNECTION_NOTIFY_CLOSED) {
		/* Before libmicrohttpd closes the socket: the descriptor is not reused yet. */
		api_deadline_remove(a->deadline, *socket_context);
		*socket_context = NULL;
	}
}

static void mhd_log(void *cls, const char *fmt, va_list ap)
{
	struct api *a = cls;
	char line[512];

	vsnprintf(line, sizeof(line), fmt, ap);
	line[strcspn(line, "\n")] = '\0';
	/* While starting, the caller reports it with what it was starting. */
	if (a->starting) {
		snprintf(a->start_err, sizeof(a->start_err), "%s", line);
		return;
	}
	pr_warn_ratelimited("http: %s", line);
}

int api_new(struct store *store, const struct api_opts *opts, struct api **out)
{
	struct api *a;

	*out = NULL;
	if (!opts->credentials)
		return -EINVAL;
	a = calloc(1, sizeof(*a));
	if (!a)
		return -ENOMEM;
	a->store = store;
	a->creds = opts->credentials;
	a->obs = opts->obs;
	a->ownership = opts->ownership;
	a->max_body = opts->max_body ? opts->max_body : API_MAX_BODY_DEFAULT;
	*out = a;
	return 0;
}

int api_start(struct store *store, const struct api_opts *opts, struct api **out, char *err,
	      size_t errlen)
{
	/*
	 * poll(), not epoll (MHD_USE_AUTO's choice). libmicrohttpd's epoll loop is edge-triggered
	 * and reads a connection once: a peer whose request and close were both queued by its
	 * first read is never read again, and its connection stays until --http-timeout. At the
	 * connection limit every connection waiting in the kernel's backlog is such a one, so a
	 * flood that had gone held the limit, timeout after timeout (test_abuse's
	 * test_http_max_connections: no answer 10 s after the flood; with poll, at once). poll()
	 * asks again each pass. A pool thread holds at most its share of the limit.
	 */
	unsigned int flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_ERROR_LOG | MHD_USE_POLL;
	struct api *a;
	int ret;

	unsigned int threads = opts->threads ? opts->threads : API_THREADS_DEFAULT;
	unsigned int conns =
		opts->max_connections ? opts->max_connections : API_MAX_CONNECTIONS_DEFAULT;
	unsigned int per_ip = opts->per_ip ? opts->per_ip : API_PER_IP_DEFAULT;
	unsigned int timeout = opts->timeout_s ? opts->timeout_s : API_TIMEOUT_S_DEFAULT;
	/*
	 * HTTPS (api_tls.h): each handshake asks api_tls for the certificate and key it serves
	 * now (renewed by SIGHUP), TLS 1.2 and 1.3 only.
	 */
	gnutls_certificate_retrieve_function2 *retrieve = api_tls_retrieve;
	struct MHD_OptionItem tls[] = {
		{ MHD_OPTION_HTTPS_CERT_CALLBACK, 0, NULL },
		{ MHD_OPTION_HTTPS_PRIORITIES, 0, (void *)API_TLS_PRIORITIES },
		{ MHD_OPTION_END, 0, NULL },
	};

	ret = api_new(store, opts, &a);
	if (ret) {
		snprintf(err, errlen, "failed to start the HTTP API: %s",
			 ret == -EINVAL ? "no credentials" : "out of memory");
		return ret;
	}
	if (opts->addr->sa_family == AF_INET6)
		flags |= MHD_USE_IPv6;
	if (opts->tls) {
		if (MHD_is_feature_supported(MHD_FEATURE_TLS) != MHD_YES ||
		    MHD_is_feature_supported(MHD_FEATURE_HTTPS_CERT_CALLBACK) != MHD_YES) {
			snprintf(err, errlen,
				 "--http-tls-cert: this libmicrohttpd was built without TLS, or "
				 "without its certificate callback");
			free(a);
			return -ENOTSUP;
		}
		flags |= MHD_USE_TLS;
		/* MHD reads the option's pointer back as the function's type. */
		_Static_assert(sizeof(retrieve) == sizeof(tls[0].ptr_value), "a function pointer");
		memcpy(&tls[0].ptr_value, &retrieve, sizeof(retrieve));
	}
	ret = api_deadline_start(timeout * 1000, &a->deadline);
	if (ret) {
		snprintf(err, errlen, "failed to start the HTTP API's request deadline: %s",
			 strerror(-ret));
		free(a);
		return ret;
	}
	a->starting = true;
	/*
	 * A pool of threads (api.h): a handler that waits on the store's lock or a slow client
	 * holds one of them, not the API. The timeout frees connections that stall, and the
	 * request deadline those that trickle (headers or a body sent a line at a time: the
	 * timeout counts from the last byte); the per-address limit stops one client from taking
	 * every connection. No LISTENING_ADDRESS_REUSE: it means SO_REUSEPORT, which would let a
	 * second aggregator share the port silently.
	 */
	a->daemon = MHD_start_daemon(
		flags, 0, NULL, NULL, handle, a, MHD_OPTION_SOCK_ADDR, opts->addr,
		MHD_OPTION_NOTIFY_COMPLETED, completed, a, MHD_OPTION_NOTIFY_CONNECTION,
		notify_connection, a, MHD_OPTION_EXTERNAL_LOGGER, mhd_log, a,
		MHD_OPTION_THREAD_POOL_SIZE, threads, MHD_OPTION_CONNECTION_TIMEOUT, timeout,
		MHD_OPTION_CONNECTION_LIMIT, conns, MHD_OPTION_PER_IP_CONNECTION_LIMIT, per_ip,
		MHD_OPTION_ARRAY, opts->tls ? tls : tls + 2, MHD_OPTION_END);
	a->starting = false;
	if (!a->daemon) {
		snprintf(err, errlen, "%s",
			 a->start_err[0] ? a->start_err : "libmicrohttpd failed");
		api_deadline_stop(a->deadline);
		free(a);
		return -EADDRNOTAVAIL;
	}
	*out = a;
	return 0;
}

uint16_t api_port(const struct api *a)
{
	const union MHD_DaemonInfo *info;

	info = MHD_get_daemon_info(a->daemon, MHD_DAEMON_INFO_BIND_PORT);
	return info ? info->port : 0;
}

void api_stop(struct api *a)
{
	if (!a)
		return;
	/* The daemon first: its connections leave the deadline as they close. */
	if (a->daemon)
		MHD_stop_daemon(a->daemon);
	api_deadline_stop(a->deadline);
	free(a);
}
