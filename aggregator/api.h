/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * api.h: the operator's HTTP API, the seeds' "Packet Captures (PCAPs) API", served with
 * libmicrohttpd on its own internal polling thread, JSON through jansson. Routes:
 *
 *     POST /client/v4/accounts/{account_id}/pcaps               create a capture (JSON body)
 *     GET  /client/v4/accounts/{account_id}/pcaps               the account's newest 50
 *     GET  /client/v4/accounts/{account_id}/pcaps/{id}          one capture
 *     GET  /client/v4/accounts/{account_id}/pcaps/{id}/download a simple capture's pcap
 *     PUT  /client/v4/accounts/{account_id}/pcaps/{id}/stop     stop a pending or running one
 *
 * (HEAD wherever GET is.) Every reply but a download is the documented envelope,
 * {"result": ..., "success": ..., "errors": [{"code", "message"}], "messages": [...]}, with
 * Content-Type application/json. A capture's result has the seeds' members in their order: id,
 * submitted (RFC 3339, microseconds), filter_v1, time_limit, status, packets_remaining (simple
 * captures: packet_limit less the packets collected while the capture is unfinished, 0 once it
 * finished), type, system, then packet_limit, byte_limit, colo or colo_name (as the request
 * spelled it), destination_conf, sample_rate, snaplen when the request had them, and
 * error_message when the capture failed. The Content-Type of a request is not enforced.
 *
 * Authentication (credentials.h; docs/design.md, "Security"): every request to an endpoint
 * carries `Authorization: Bearer SECRET`, or `X-Auth-Email: EMAIL` and `X-Auth-Key: SECRET` of a
 * credential line with that EMAIL. Checked in this order, each answer naming nothing of another
 * account:
 *  - 404 (1008) for a path that is no endpoint, 413 for an oversized body;
 *  - 401 (10000, "Authentication error") without a credential or with a wrong one;
 *  - 400 (1003) for a path whose account_id is not an account id;
 *  - 403 (10000, "Authentication error") for a credential of another account than the path's;
 *  - 404 (1007) for a capture id that is not in the path's account, whoever's it is;
 * and the rate rules' 429 count the path's account only (store.h). Refusals are logged (warn)
 * with the client's address and why, never with the secret.
 *
 * An error reply has result null, success false and one error: a code of enum api_error_code
 * (below, with its HTTP status) and a message that says what is wrong, naming the field for a
 * bad request. A 429 for the simple-capture interval carries Retry-After.
 */
#ifndef EDGECAP_API_H
#define EDGECAP_API_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "credentials.h"
#include "store.h"

/* Newest captures a list returns. */
#define API_LIST_MAX 50
/* Default cap on a request body. */
#define API_MAX_BODY_DEFAULT (64 * 1024)

enum api_error_code {
	API_ERR_MALFORMED_JSON = 1001,	  /* 400: not JSON, or an empty body */
	API_ERR_INVALID_REQUEST = 1002,	  /* 400: a field breaks a rule; the message names it */
	API_ERR_INVALID_ACCOUNT = 1003,	  /* 400: account_id in the path is not an account id */
	API_ERR_BODY_TOO_LARGE = 1004,	  /* 413: the body is over --max-body */
	API_ERR_RATE_SIMPLE = 1005,	  /* 429: one simple capture per --simple-interval */
	API_ERR_RATE_FULL = 1006,	  /* 429: --max-full full captures pending or running */
	API_ERR_CAPTURE_NOT_FOUND = 1007, /* 404: no such capture in this account */
	API_ERR_NO_ROUTE = 1008,	  /* 404: no such endpoint */
	API_ERR_METHOD = 1009,	      /* 405: the endpoint exists, the method does not (Allow) */
	API_ERR_NOT_READY = 1010,     /* 409: download before the capture's status is success */
	API_ERR_FULL_DOWNLOAD = 1011, /* 400: full captures go to destination_conf instead */
	API_ERR_INTERNAL = 1012,      /* 500: the aggregator failed (disk, memory) */
	API_ERR_AUTH = 10000,	      /* 401, 403: "Authentication error" */
};

/* Codes of the envelope's "messages" (informational, with success true). */
enum api_message_code {
	API_MSG_ALREADY_FINISHED = 2001, /* stop: the capture had already finished */
	API_MSG_STOP_REPEATED = 2002,	 /* stop: a stop had already been requested */
};

struct api_opts {
	const struct sockaddr *addr; /* where to listen; port 0 picks a free one (api_port) */
	socklen_t addrlen;
	uint64_t max_body;		 /* bytes; 0: API_MAX_BODY_DEFAULT */
	struct credentials *credentials; /* required; the caller's, reloaded by the caller */
};

struct api;

/* Starts serving on libmicrohttpd's own thread; err says why it could not (e.g. the port). */
int api_start(struct store *store, const struct api_opts *opts, struct api **out, char *err,
	      size_t errlen);
/* The port actually bound. */
uint16_t api_port(const struct api *a);
/* Stops serving (waiting for the thread) and frees; NULL is accepted. */
void api_stop(struct api *a);

/*
 * The dispatcher without a socket: what api_start's thread does with each whole request, for the
 * fuzz target and tests. api_new makes an api that serves nothing (opts->addr unused); free it
 * with api_stop.
 */
int api_new(struct store *store, const struct api_opts *opts, struct api **out);

/* One request as the dispatcher sees it. */
struct api_request {
	const char *method;
	const char *url; /* the path, as libmicrohttpd hands it (no query string) */
	/* A request header's value, or NULL when absent; names are case-insensitive. */
	const char *(*header)(void *ctx, const char *name);
	void *header_ctx;
	const char *peer; /* the client's address, for the log; may be NULL */
	const char *body;
	size_t body_len;
	bool too_large; /* the body went past max_body (and was dropped) */
};

#define API_REPLY_HEADERS 2

/* The answer: a JSON envelope in body, or, for a download, an open file. */
struct api_reply {
	unsigned int status;
	const char *content_type;
	char *body; /* malloc'd, body_len bytes, when fd < 0 */
	size_t body_len;
	int fd;		  /* >= 0: send fd_size bytes of this file instead of body */
	uint64_t fd_size; /* the carrier takes fd over, or api_reply_free closes it */
	struct {
		const char *name;
		char value[128];
	} hdr[API_REPLY_HEADERS]; /* more headers; unused ones have name NULL */
};

/* Answers rq into rep (always filled in: on no memory, a fixed 500). */
void api_respond(struct api *a, const struct api_request *rq, struct api_reply *rep);
/* Frees rep's body and closes its fd, if still set. */
void api_reply_free(struct api_reply *rep);

#endif /* EDGECAP_API_H */
