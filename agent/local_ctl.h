/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * local_ctl.h: the agent's control socket for edgecapctl on the same host: SP REP on
 * ipc://PATH (sp_rep.h; edgecapctl dials it with NNG's REQ), the socket file mode 0600 in a 0700
 * directory (only root talks to it). Bounded by the agent's settings (agent_config.h), each a
 * flag and a config key: requests up to local-max-request bytes (default 1 MiB),
 * local-max-connections connections (default 64; one more evicts the oldest) and
 * local-timeout-ms (default 5000) for a connection to send a whole request or take a whole
 * reply.
 *
 * Requests and replies are JSON objects carrying "v": 1.
 *   {"cmd": "status"}                          -> the agent's status: host_id, colo, version,
 *                                                 interfaces, aggregator, captures
 *   {"cmd": "list"}                            -> {"captures": [...]}
 *   {"cmd": "start", "request": {...}, "output": "/abs/file.pcap"}
 *                                              -> {"id": "<32 hex>"}  (a local capture)
 *   {"cmd": "stop", "id": "<32 hex>"}          -> {"id": ...}
 * Every reply has "ok": true, or "ok": false with "error" (what was wrong, naming the field).
 */
#ifndef EDGECAP_LOCAL_CTL_H
#define EDGECAP_LOCAL_CTL_H

#include <stddef.h>
#include <jansson.h>

#define LOCAL_CTL_VERSION 1
/* The defaults of --local-max-request, --local-max-connections and --local-timeout-ms. */
#define LOCAL_CTL_MAX_REQUEST_DEFAULT (1024 * 1024)
#define LOCAL_CTL_MAX_CONNS_DEFAULT   64
#define LOCAL_CTL_TIMEOUT_MS_DEFAULT  5000

struct agent_config;
struct captures;
struct engine;
struct fleet;
struct local_ctl;

/* What the socket answers from; every pointer is kept and must outlive the local_ctl. */
struct local_ctl_deps {
	const struct agent_config *cfg; /* the socket's path and bounds; host id, colo for status */
	struct engine *engine;		/* its interfaces, for status */
	struct captures *caps;		/* started, stopped and listed here */
	struct fleet *fleet;		/* the aggregator link, for status */
};

/* Binds cfg's local socket. Returns 0 or a negative errno; err says why. */
int local_ctl_open(const struct local_ctl_deps *deps, struct local_ctl **out, char *err,
		   size_t errlen);
/* Closes the socket, removes its file and frees l (NULL is accepted). */
void local_ctl_close(struct local_ctl *l);
/* A descriptor that polls readable when the socket has work (a request, a reply to finish, a
 * connection to take or to time out). */
int local_ctl_recv_fd(const struct local_ctl *l);
/* Does that work without blocking: answers every whole request that is waiting. */
void local_ctl_handle(struct local_ctl *l);
/* The reply (new reference) to one request of len bytes, as local_ctl_handle sends it. */
json_t *local_ctl_answer(struct local_ctl *l, const char *buf, size_t len);

#endif /* EDGECAP_LOCAL_CTL_H */
