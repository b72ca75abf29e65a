/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * local_ctl.h: the agent's control socket for edgecapctl on the same host: nanomsg REP on
 * ipc://PATH, the socket file mode 0600 in a 0700 directory (only root talks to it).
 *
 * Requests and replies are JSON objects carrying "v": 1.
 *   {"cmd": "status"}                          -> the agent's status (agent_status_json)
 *   {"cmd": "list"}                            -> {"captures": [...]}
 *   {"cmd": "start", "request": {...}, "output": "/abs/file.pcap"}
 *                                              -> {"id": "<32 hex>"}  (a local capture)
 *   {"cmd": "stop", "id": "<32 hex>"}          -> {"id": ...}
 * Every reply has "ok": true, or "ok": false with "error" (what was wrong, naming the field).
 */
#ifndef EDGECAP_LOCAL_CTL_H
#define EDGECAP_LOCAL_CTL_H

#include <stddef.h>

struct agent;

#define LOCAL_CTL_VERSION 1

int local_ctl_open(struct agent *a, char *err, size_t errlen);
/* Answers one request if one is waiting. */
void local_ctl_handle(struct agent *a);
void local_ctl_close(struct agent *a);

#endif /* EDGECAP_LOCAL_CTL_H */
