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
 * error_message when the capture failed. Auth headers are accepted and not yet checked; the
 * Content-Type of a request is not enforced.
 *
 * An error reply has result null, success false and one error: a code of enum api_error_code
 * (below, with its HTTP status) and a message that says what is wrong, naming the field for a
 * bad request. A 429 for the simple-capture interval carries Retry-After.
 */
#ifndef EDGECAP_API_H
#define EDGECAP_API_H

#include <stdint.h>
#include <sys/socket.h>

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
};

/* Codes of the envelope's "messages" (informational, with success true). */
enum api_message_code {
	API_MSG_ALREADY_FINISHED = 2001, /* stop: the capture had already finished */
	API_MSG_STOP_REPEATED = 2002,	 /* stop: a stop had already been requested */
};

struct api_opts {
	const struct sockaddr *addr; /* where to listen; port 0 picks a free one (api_port) */
	socklen_t addrlen;
	uint64_t max_body; /* bytes; 0: API_MAX_BODY_DEFAULT */
};

struct api;

/* Starts serving on libmicrohttpd's own thread; err says why it could not (e.g. the port). */
int api_start(struct store *store, const struct api_opts *opts, struct api **out, char *err,
	      size_t errlen);
/* The port actually bound. */
uint16_t api_port(const struct api *a);
/* Stops serving (waiting for the thread) and frees; NULL is accepted. */
void api_stop(struct api *a);

#endif /* EDGECAP_API_H */
