/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * control.h: the control plane between aggregator and agents (docs/protocol.md, "Control
 * messages"): small versioned JSON documents, the aggregator's surveys (SP SURVEYOR) and
 * the agents' replies (RESPONDENT).
 *
 *   aggregator -> agents   start (capture id and full request), stop (capture id), status
 *   agent -> aggregator    start_reply, stop_reply (accepted, and why not), status_reply (every
 *                          capture with live counters, and the send queue), error (the survey
 *                          could not be decoded)
 *
 * Every message carries "version": [major, minor]. Decoding is strict: the input is untrusted,
 * is at most CTL_MSG_MAX bytes, must be one JSON object without duplicate keys, of a known
 * major version and type, with every member of the right JSON type and range and no unknown
 * member (unless the message comes from a later minor version, whose additions are skipped).
 * A start's request is checked with request_from_json in REQ_SCOPE_API.
 *
 * Functions return 0 or a negative errno and write a one-line reason into err.
 */
#ifndef EDGECAP_CONTROL_H
#define EDGECAP_CONTROL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "identity.h"
#include "request.h"
#include "wire.h"

#define CTL_VERSION_MAJOR 1
#define CTL_VERSION_MINOR 2
/* Largest control message either side sends or accepts. */
#define CTL_MSG_MAX (64u << 10)
/* host_id (same rule as the data plane's agent id), colo, agent_version. */
#define CTL_NAME_MAX 63
/* reason: printable ASCII. */
#define CTL_REASON_MAX 255
/* Captures one status reply lists. */
#define CTL_MAX_CAPTURES 32
/*
 * Hosts a start may be addressed to ("hosts"): a start that names hosts is for them only (a late
 * join, docs/protocol.md); every other agent declines it.
 */
#define CTL_MAX_HOSTS 64
/* Names in a survey's "codecs" (1.2), and the longest name. */
#define CTL_MAX_CODECS	   16
#define CTL_CODEC_NAME_MAX 32
/* Survey ids are JSON integers: 0..2^53-1 so that any JSON implementation keeps them exact. */
#define CTL_ID_MAX ((1ULL << 53) - 1)

enum ctl_type {
	CTL_START = 1,
	CTL_STOP = 2,
	CTL_STATUS = 3,
	CTL_START_REPLY = 4,
	CTL_STOP_REPLY = 5,
	CTL_STATUS_REPLY = 6,
	CTL_ERROR = 7,
};

/* The agent's send queue toward the aggregator (agent/ship.h). */
struct ctl_queue_stats {
	uint64_t queued_msgs, queued_bytes;
	uint64_t dropped_msgs, dropped_bytes;
};

/* One capture an agent is running, in a status reply. */
struct ctl_capture_status {
	char capture_id[WIRE_CAPTURE_ID_HEX_LEN];
	uint64_t start_ns; /* UTC ns */
	struct wire_counters c;
};

/*
 * One control message. Which members count depends on type:
 *   every message:     type, id (the survey's; a reply echoes it)
 *   start:             capture_id, request, and hosts[0..n_hosts) when it is addressed
 *   stop:              capture_id
 *   every reply:       host_id, colo ("" when the agent has none), agent_version
 *   start/stop_reply:  capture_id, accepted, reason (why not; optional when accepted)
 *   status_reply:      captures[0..n_captures), queue
 *   error:             reason
 * and, since 1.1 (docs/protocol.md 3.7; identity.h):
 *   every survey:      nonce, when has_nonce (the aggregator always sends one)
 *   every reply:       cert, session_key, signature, when has_proof (an agent with a
 *                      certificate proves it to every survey that has a nonce)
 * and, since 1.2:
 *   every survey:      codecs, when has_codecs: the batch codecs (bits WIRE_CODEC_BIT) the
 *                      aggregator takes (deflate, which every 1.x aggregator takes, whether
 *                      named or not); a name this side does not know is skipped
 */
struct ctl_msg {
	enum ctl_type type;
	uint16_t major, minor; /* as received; the encoder always writes its own */
	uint64_t id;
	char capture_id[WIRE_CAPTURE_ID_HEX_LEN];
	struct capture_request request;
	uint32_t n_hosts; /* start: 0, or the only hosts it is for */
	char hosts[CTL_MAX_HOSTS][CTL_NAME_MAX + 1];
	char host_id[CTL_NAME_MAX + 1];
	char colo[CTL_NAME_MAX + 1];
	char agent_version[CTL_NAME_MAX + 1];
	bool accepted;
	char reason[CTL_REASON_MAX + 1];
	struct ctl_queue_stats queue;
	uint32_t n_captures;
	struct ctl_capture_status captures[CTL_MAX_CAPTURES];
	bool has_nonce;
	uint8_t nonce[ID_NONCE_LEN];
	bool has_proof;
	char cert[ID_CERT_MAX + 1]; /* PEM: printable ASCII and newlines */
	uint8_t session_key[ID_KEY_LEN];
	uint8_t signature[ID_SIG_MAX];
	size_t signature_len; /* 1..ID_SIG_MAX */
	bool has_codecs;
	unsigned int codecs; /* WIRE_CODEC_BIT(c) for each codec c named */
};

/* Zeroes m and sets its type and survey id. */
void ctl_msg_init(struct ctl_msg *m, enum ctl_type type, uint64_t id);
/* "start", "stop", "status", "start_reply", "stop_reply", "status_reply", "error". */
const char *ctl_type_name(enum ctl_type type);
/* True for the aggregator's surveys, false for the agents' replies. */
bool ctl_type_is_survey(enum ctl_type type);

/*
 * The JSON text of m, checked as the decoder would check it (-EINVAL naming the member
 * otherwise). *out is malloc'd and NUL-terminated, *len excludes the NUL; send *len bytes.
 * A reason with bytes outside printable ASCII has them replaced with '?'.
 */
int ctl_encode(const struct ctl_msg *m, char **out, size_t *len, char *err, size_t errlen);
/*
 * Decodes len bytes of untrusted input into *out. Errors: -EMSGSIZE over CTL_MSG_MAX, -EINVAL
 * not JSON or a member missing, of the wrong type or out of range (a start's bad request
 * included), -EPROTONOSUPPORT another major version, -EOPNOTSUPP unknown type, -ENOMEM. On
 * failure out->id is the survey id if it could be read (else 0), so an agent can answer with
 * an error reply; nothing else of *out may be used.
 */
int ctl_decode(const void *buf, size_t len, struct ctl_msg *out, char *err, size_t errlen);

#endif /* EDGECAP_CONTROL_H */
