// SPDX-License-Identifier: BSD-2-Clause
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <nng/nng.h>
#include <nng/protocol/survey0/respond.h>

#include "agent_clock.h"
#include "control.h"
#include "fleet.h"
#include "identity.h"
#include "log.h"
#include "redial.h"
#include "sp.h"
#include "tls.h"
#include "version.h"

struct fleet {
	const struct agent_config *cfg;
	struct captures *caps;
	struct ship *ship;
	nng_socket sock; /* NNG RESPONDENT, dialled to the aggregator */
	bool open;
	struct redial *link; /* the dialer, kept dialling */
	uint64_t msgs, bad;  /* control messages taken and refused */
	/* With a certificate: what proves this agent's identity to every survey (identity.h). */
	struct id_signer *signer;
	uint8_t session_key[ID_KEY_LEN];
	uint64_t last_ms; /* monotonic ms of the last control message */
	bool codec_known; /* negotiate_codec has set the ship's codec from a survey */
};

int fleet_open(const struct agent_config *cfg, struct captures *caps, struct ship *ship,
	       struct fleet **out, char *err, size_t errlen)
{
	struct fleet *f = calloc(1, sizeof(*f));
	int ret;

	if (!f)
		return -ENOMEM;
	f->cfg = cfg;
	f->caps = caps;
	f->ship = ship;
	ret = nng_respondent0_open(&f->sock);
	if (ret) {
		snprintf(err, errlen, "cannot create the control socket: %s", nng_strerror(ret));
		free(f);
		return sp_errno(ret);
	}
	f->open = true;
	/* Nothing larger than a control message is read into memory. */
	ret = nng_socket_set_size(f->sock, NNG_OPT_RECVMAXSZ, CTL_MSG_MAX);
	/* A reply may wait this long for its pipe (see fleet_handle), never more. */
	if (!ret)
		ret = nng_socket_set_ms(f->sock, NNG_OPT_SENDTIMEO, SP_REPLY_TIMEOUT_MS);
	if (ret) {
		snprintf(err, errlen, "cannot set up the control socket: %s", nng_strerror(ret));
		ret = sp_errno(ret);
		goto fail;
	}
	/*
	 * The certificate of the TLS link also signs every reply, with a session key made for this
	 * process: the aggregator binds the key to the host the certificate names, and the send
	 * queue MACs every data message under it.
	 */
	if (cfg->tls.cert[0] && cfg->tls.key[0]) {
		ret = id_signer_open(cfg->tls.cert, cfg->tls.key, &f->signer, err, errlen);
		if (!ret && id_random(f->session_key, sizeof(f->session_key))) {
			snprintf(err, errlen, "no random bytes for the session key");
			ret = -EIO;
		}
		if (ret)
			goto fail;
		if (strcmp(id_signer_name(f->signer), cfg->host_id))
			pr_warn("--host-id %s is not the name in --tls-cert %s (%s): the "
				"aggregator will refuse this agent",
				cfg->host_id, cfg->tls.cert,
				id_signer_name(f->signer)[0] ? id_signer_name(f->signer)
							     : "it names nobody");
		ship_set_key(ship, f->session_key);
	}
	/*
	 * In the background: NNG redials when the aggregator comes back, and fleet_tick replaces
	 * a dialer that stopped trying (redial.h).
	 */
	ret = redial_open(f->sock, cfg->control_url, &cfg->tls, &f->link, err, errlen);
	if (ret)
		goto fail;
	*out = f;
	return 0;
fail:
	fleet_close(f);
	return ret;
}

void fleet_close(struct fleet *f)
{
	if (!f)
		return;
	if (f->open)
		sp_close(f->sock, "the control link to the aggregator");
	/* After the socket: NNG calls back into the link until then. */
	redial_free(f->link);
	id_signer_free(f->signer);
	explicit_bzero(f->session_key, sizeof(f->session_key));
	free(f);
}

int fleet_recv_fd(const struct fleet *f)
{
	return sp_fd(f->sock, NNG_OPT_RECVFD);
}

int fleet_control_connections(const struct fleet *f)
{
	return redial_connections(f->link);
}

int fleet_tick(struct fleet *f, uint64_t now_ms)
{
	return redial_tick(f->link, now_ms);
}

void fleet_control_counts(const struct fleet *f, uint64_t *taken, uint64_t *refused)
{
	*taken = f->msgs;
	*refused = f->bad;
}

json_t *fleet_status_json(const struct fleet *f)
{
	json_t *agg = json_object();
	struct ship_stats ss;

	ship_get_stats(f->ship, &ss);
	json_object_set_new(agg, "control", json_string(f->cfg->control_url));
	json_object_set_new(agg, "data", json_string(f->cfg->data_url));
	json_object_set_new(agg, "connected", json_boolean(ss.connections > 0));
	json_object_set_new(agg, "data_connections", json_integer(ss.connections));
	json_object_set_new(agg, "control_connections", json_integer(redial_connections(f->link)));
	json_object_set_new(agg, "queued_bytes", json_integer((json_int_t)ss.queued_bytes));
	json_object_set_new(agg, "queued_messages", json_integer((json_int_t)ss.queued_msgs));
	json_object_set_new(agg, "sent_messages", json_integer((json_int_t)ss.sent_msgs));
	json_object_set_new(agg, "dropped_messages", json_integer((json_int_t)ss.dropped_msgs));
	json_object_set_new(agg, "dropped_bytes", json_integer((json_int_t)ss.dropped_bytes));
	json_object_set_new(agg, "control_messages", json_integer((json_int_t)f->msgs));
	json_object_set_new(agg, "control_refused", json_integer((json_int_t)f->bad));
	return agg;
}

/* Whether a full capture for colo_name runs on this agent (a colo, or a metro prefix). */
static bool colo_matches(const char *agent_colo, const char *colo_name)
{
	size_t n = strlen(colo_name), i;

	if (!*agent_colo || !n)
		return false;
	if (!strcasecmp(agent_colo, colo_name))
		return true;
	/* A metro ("ORD") is the letters a colo's name starts with ("ord02"). */
	for (i = 0; i < n; i++) {
		if (!isalpha((unsigned char)colo_name[i]))
			return false;
	}
	return !strncasecmp(agent_colo, colo_name, n) && !isalpha((unsigned char)agent_colo[n]);
}

static void reply_header(const struct fleet *f, struct ctl_msg *r, enum ctl_type type, uint64_t id)
{
	ctl_msg_init(r, type, id);
	snprintf(r->host_id, sizeof(r->host_id), "%s", f->cfg->host_id);
	snprintf(r->colo, sizeof(r->colo), "%s", f->cfg->colo);
	snprintf(r->agent_version, sizeof(r->agent_version), "%s", EDGECAP_VERSION);
}

static void handle_start(struct fleet *f, const struct ctl_msg *m, struct ctl_msg *r)
{
	const struct capture_request *req = &m->request;
	char err[512];
	uint32_t i;
	int ret;

	reply_header(f, r, CTL_START_REPLY, m->id);
	snprintf(r->capture_id, sizeof(r->capture_id), "%s", m->capture_id);
	/* A late join (docs/protocol.md) is for the hosts it names, not the others. */
	for (i = 0; i < m->n_hosts && strcmp(m->hosts[i], f->cfg->host_id); i++)
		;
	if (m->n_hosts && i == m->n_hosts) {
		snprintf(r->reason, sizeof(r->reason), "not addressed to this host");
		return;
	}
	/* A full capture runs only in its colo; the others decline, which is no error. */
	if (req->type == CAPTURE_FULL && !colo_matches(f->cfg->colo, req->colo_name)) {
		snprintf(r->reason, sizeof(r->reason), "colo %s is not in %s",
			 f->cfg->colo[0] ? f->cfg->colo : "(none)", req->colo_name);
		return;
	}
	/* A local capture is the host operator's: the fleet neither claims nor restarts it. */
	if (captures_origin(f->caps, m->capture_id) == ORIGIN_LOCAL) {
		snprintf(r->reason, sizeof(r->reason), "capture id %s is taken on this host",
			 m->capture_id);
		pr_warn_ratelimited("declined capture %s: a local capture has that id capture=%s",
				    m->capture_id, m->capture_id);
		return;
	}
	/* A start surveyed again (the aggregator restarted or retried) is already running. */
	if (captures_running(f->caps, m->capture_id)) {
		r->accepted = true;
		return;
	}
	ret = captures_start(f->caps, m->capture_id, req, ORIGIN_FLEET, NULL, err, sizeof(err));
	if (ret) {
		snprintf(r->reason, sizeof(r->reason), "%.*s", CTL_REASON_MAX, err);
		pr_warn_ratelimited("declined capture %s: %s capture=%s", m->capture_id, err,
				    m->capture_id);
		return;
	}
	r->accepted = true;
}

static void handle_stop(struct fleet *f, const struct ctl_msg *m, struct ctl_msg *r)
{
	reply_header(f, r, CTL_STOP_REPLY, m->id);
	snprintf(r->capture_id, sizeof(r->capture_id), "%s", m->capture_id);
	/* A local capture is not the fleet's to stop; the reply does not say it exists. */
	if (captures_origin(f->caps, m->capture_id) != ORIGIN_FLEET ||
	    captures_stop(f->caps, m->capture_id)) {
		if (captures_origin(f->caps, m->capture_id) == ORIGIN_LOCAL)
			pr_warn_ratelimited(
				"refused a fleet stop for capture %s: it is a local capture "
				"capture=%s",
				m->capture_id, m->capture_id);
		snprintf(r->reason, sizeof(r->reason), "no capture %s runs here", m->capture_id);
		return;
	}
	r->accepted = true;
}

static void handle_status(struct fleet *f, const struct ctl_msg *m, struct ctl_msg *r)
{
	struct ship_stats ss;

	reply_header(f, r, CTL_STATUS_REPLY, m->id);
	ship_get_stats(f->ship, &ss);
	r->queue.queued_msgs = ss.queued_msgs;
	r->queue.queued_bytes = ss.queued_bytes;
	r->queue.dropped_msgs = ss.dropped_msgs;
	r->queue.dropped_bytes = ss.dropped_bytes;
	r->n_captures = captures_fleet_status(f->caps, r->captures, CTL_MAX_CAPTURES);
}

/* Signs the reply to a survey with a nonce: version, nonce, host id and session key. */
static int prove(struct fleet *f, const struct ctl_msg *m, struct ctl_msg *r)
{
	uint8_t data[ID_SIGNED_MAX];
	char err[256];
	size_t n;
	int ret;

	n = id_signed_bytes(CTL_VERSION_MAJOR, CTL_VERSION_MINOR, m->nonce, r->host_id,
			    f->session_key, data);
	ret = id_sign(f->signer, data, n, r->signature, &r->signature_len, err, sizeof(err));
	if (ret) {
		pr_warn_ratelimited("cannot prove this agent's identity: %s", err);
		return ret;
	}
	snprintf(r->cert, sizeof(r->cert), "%s", id_signer_cert_pem(f->signer));
	memcpy(r->session_key, f->session_key, ID_KEY_LEN);
	r->has_proof = true;
	return 0;
}

/*
 * The batch codec (protocol 1.2): from every survey, what this aggregator takes, its "codecs"
 * (deflate alone when it names none: a 1.1 aggregator), and --batch-codec choose the codec of
 * the batches from now on. Logged when it changes.
 */
static void negotiate_codec(struct fleet *f, const struct ctl_msg *m)
{
	unsigned int peer = WIRE_CODEC_BIT(WIRE_CODEC_DEFLATE) | (m->has_codecs ? m->codecs : 0);
	enum wire_codec c = wire_codec_choose(f->cfg->batch_codec, peer);

	if (f->codec_known && c == ship_codec(f->ship))
		return;
	f->codec_known = true;
	ship_set_codec(f->ship, c);
	if (f->cfg->batch_codec != AGENT_CODEC_AUTO && (int)c != f->cfg->batch_codec)
		pr_warn("--batch-codec %s: the aggregator does not take it (protocol %u.%u%s); "
			"batches go with %s",
			agent_codec_name(f->cfg->batch_codec), m->major, m->minor,
			m->has_codecs ? "" : ", no codecs in its surveys", wire_codec_name(c));
	else
		pr_info("batch codec %s (--batch-codec %s; the aggregator's protocol %u.%u)",
			wire_codec_name(c), agent_codec_name(f->cfg->batch_codec), m->major,
			m->minor);
}

void fleet_handle(struct fleet *f)
{
	struct ctl_msg *m = NULL, *r = NULL;
	char err[512], *out = NULL;
	nng_msg *msg = NULL;
	size_t len;
	int ret;

	if (nng_recvmsg(f->sock, &msg, NNG_FLAG_NONBLOCK))
		return;
	m = calloc(1, sizeof(*m));
	r = calloc(1, sizeof(*r));
	if (!m || !r)
		goto cleanup;
	f->last_ms = agent_now_ms();
	ret = ctl_decode(nng_msg_body(msg), nng_msg_len(msg), m, err, sizeof(err));
	if (ret) {
		/* Refused, counted, and answered so the aggregator learns why. */
		f->bad++;
		pr_warn_ratelimited("refused a control message: %s", err);
		reply_header(f, r, CTL_ERROR, m->id);
		snprintf(r->reason, sizeof(r->reason), "%.*s", CTL_REASON_MAX, err);
	} else {
		f->msgs++;
		if (ctl_type_is_survey(m->type))
			negotiate_codec(f, m);
		switch (m->type) {
		case CTL_START:
			handle_start(f, m, r);
			break;
		case CTL_STOP:
			handle_stop(f, m, r);
			break;
		case CTL_STATUS:
			handle_status(f, m, r);
			break;
		default:
			f->bad++;
			reply_header(f, r, CTL_ERROR, m->id);
			snprintf(r->reason, sizeof(r->reason), "%s is not a survey",
				 ctl_type_name(m->type));
			break;
		}
	}
	/* No reply rather than one without its proof: the aggregator would refuse it anyway. */
	if (f->signer && m->has_nonce && prove(f, m, r))
		goto cleanup;
	if (ctl_encode(r, &out, &len, err, sizeof(err))) {
		pr_warn_ratelimited("cannot encode a control reply: %s", err);
		goto cleanup;
	}
	/*
	 * Not NNG_FLAG_NONBLOCK: NNG 1.5's RESPONDENT refuses every non-blocking send (EAGAIN even
	 * on an idle pipe). A free pipe takes the reply at once; a stuck one costs at most
	 * SP_REPLY_TIMEOUT_MS, and the aggregator counts the agent as not answering.
	 */
	ret = nng_send(f->sock, out, len, 0);
	if (ret)
		pr_debug_ratelimited("control reply not sent: %s", nng_strerror(ret));
cleanup:
	free(out);
	free(m);
	free(r);
	nng_msg_free(msg);
}
