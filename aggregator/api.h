/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * api.h: the operator's HTTP API, the seeds' "Packet Captures (PCAPs) API", served with
 * libmicrohttpd on its own internal polling thread, JSON through jansson. Routes:
 *
 *     POST /client/v4/accounts/{account_id}/pcaps               create a capture (JSON body)
 *     GET  /client/v4/accounts/{account_id}/pcaps               the account's captures, newest
 *                                                                first, ?page=N (from 1) and
 *                                                                ?per_page=M (default 50, at
 *                                                                most 1000), with result_info
 *                                                                {page, per_page, count,
 *                                                                total_count} in the envelope
 *     GET  /client/v4/accounts/{account_id}/pcaps/{id}          one capture
 *     GET  /client/v4/accounts/{account_id}/pcaps/{id}/download a simple capture's pcap
 *     PUT  /client/v4/accounts/{account_id}/pcaps/{id}/stop     stop a pending or running one
 *     .../pcaps/ownership[/validate|/{id}]                       bucket ownership (ownership.h)
 *     GET  /client/v4/accounts/{account_id}/pcaps/agents        the connected agents (below)
 *     GET  /healthz                                             liveness, no credential (below)
 *
 * (HEAD wherever GET is.) Every reply but a download is the documented envelope,
 * {"result": ..., "success": ..., "errors": [{"code", "message"}], "messages": [...]}, with
 * Content-Type application/json. A capture's result has the seeds' members in their order: id,
 * submitted (RFC 3339, microseconds), filter_v1, time_limit, status, packets_remaining (simple
 * captures: packet_limit less the packets collected while the capture is unfinished, 0 once it
 * finished), type, system, then packet_limit, byte_limit, colo or colo_name (as the request
 * spelled it), destination_conf, sample_rate, snaplen when the request had them,
 * stop_requested (RFC 3339) once a stop was asked, packets_captured for full captures, and
 * error_message when the capture failed. A path under /pcaps/ that names no endpoint (an id
 * that is no capture id, an unknown sub-path) is 404 whatever the method. The Content-Type of a
 * request is not enforced.
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
 * The agent listing's result is the fleet as the main loop last published it (obs.h): an array
 * of {"host_id", "colo", "version", "last_seen" (RFC 3339), "connected"} (connected false: the
 * agent missed its last status surveys). It needs a credential like every endpoint, of the
 * path's account; it shows every account the same fleet and nothing of any capture.
 *
 * GET /healthz needs no credential: the envelope with result {"status": "ok"} while the main
 * loop runs, or 503 with code 1012 ("stalled: ...") when it has not run for OBS_STALL_US. Every
 * answer, /healthz's too, is counted by status for the metrics (obs.h).
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
#include "obs.h"
#include "ownership.h"
#include "store.h"

/* A list's page size: ?per_page=, default and most. */
#define API_LIST_MAX	 50
#define API_PER_PAGE_MAX 1000
#define API_PAGE_MAX	 1000000
/* Default cap on a request body. */
#define API_MAX_BODY_DEFAULT (64 * 1024)
/*
 * The HTTP server's bounds (--http-threads, --http-max-connections, --http-per-ip-connections,
 * --http-timeout). Operators' requests are short and few: a small pool answers them while a
 * download or a slow client holds one thread; no address may hold more than a few connections,
 * so one client (a slow-loris) cannot take them all; and a connection that sends nothing for
 * http-timeout seconds (headers that never end too) is closed.
 */
#define API_THREADS_DEFAULT	    4
#define API_MAX_CONNECTIONS_DEFAULT 1024
#define API_PER_IP_DEFAULT	    32
#define API_TIMEOUT_S_DEFAULT	    5

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
	API_ERR_INTERNAL = 1012, /* 500: the aggregator failed (disk, memory); 503 on /healthz */
	API_ERR_AUTH = 10000,	 /* 401, 403: "Authentication error" */
};

/* Codes of the envelope's "messages" (informational, with success true). */
enum api_message_code {
	API_MSG_ALREADY_FINISHED = 2001, /* stop: the capture had already finished */
	API_MSG_STOP_REPEATED = 2002,	 /* stop: a stop had already been requested */
};

struct api_tls;

struct api_opts {
	const struct sockaddr *addr; /* where to listen; port 0 picks a free one (api_port) */
	socklen_t addrlen;
	uint64_t max_body;		 /* bytes; 0: API_MAX_BODY_DEFAULT */
	struct credentials *credentials; /* required; the caller's, reloaded by the caller */
	struct obs *obs;	     /* the main loop's liveness and agents; NULL: none (tests) */
	struct ownership *ownership; /* .../pcaps/ownership (ownership.h); may be NULL */
	uint32_t threads;	     /* the pool; 0: API_THREADS_DEFAULT */
	uint32_t max_connections;    /* in all; 0: API_MAX_CONNECTIONS_DEFAULT */
	uint32_t per_ip;	     /* from one address; 0: API_PER_IP_DEFAULT */
	uint32_t timeout_s;	     /* idle connections closed; 0: API_TIMEOUT_S_DEFAULT */
	/* HTTPS only, with the certificate and key api_tls serves (api_tls.h); NULL: plain HTTP.
	 * The caller's: it outlives the api. */
	const struct api_tls *tls;
};

/* GnuTLS's priorities for HTTPS: its defaults, TLS 1.2 and 1.3 only. */
#define API_TLS_PRIORITIES "NORMAL:-VERS-ALL:+VERS-TLS1.3:+VERS-TLS1.2"

struct api;

/*
 * Starts serving on libmicrohttpd's thread pool; err says why it could not (e.g. the port).
 * Handlers run on any of its threads at once: what they touch is the store (its mutex), the
 * credentials (their mutex, also across a SIGHUP reload), the ownership records (their mutex),
 * obs (atomics and a mutex) and the log (its rate limits under a mutex); struct api itself is
 * read-only once started.
 */
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
	/* A query-string argument's value, or NULL (page, per_page); NULL: none. Same ctx. */
	const char *(*query)(void *ctx, const char *name);
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
	bool authenticated;	  /* the request carried a valid credential (of any account) */
};

/* Answers rq into rep (always filled in: on no memory, a fixed 500). */
void api_respond(struct api *a, const struct api_request *rq, struct api_reply *rep);
/* Frees rep's body and closes its fd, if still set. */
void api_reply_free(struct api_reply *rep);

#endif /* EDGECAP_API_H */
