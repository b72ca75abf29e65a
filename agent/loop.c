// SPDX-License-Identifier: BSD-2-Clause
/*
 * agentd.c: edgecap-agent. One event loop over the ring buffers, the aggregator's control and
 * data sockets, the local control socket, timers and signals; no busy polling. Captures run in
 * the engine; their records become batches for the aggregator (or a pcap for local captures),
 * and each fleet capture ends with one final message carrying its stop reason and counters.
 */
#include <ctype.h>
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/signalfd.h>
#include <time.h>
#include <unistd.h>
#include <nanomsg/nn.h>
#include <systemd/sd-daemon.h>

#include "agent.h"
#include "agent_clock.h"
#include "batcher.h"
#include "fleet.h"
#include "local_ctl.h"
#include "log.h"
#include "pcap_writer.h"

static uint64_t utc_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

bool agent_colo_matches(const char *agent_colo, const char *colo_name)
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

struct agent_capture *agent_capture_find(struct agent *a, const char *id)
{
	unsigned int i;

	for (i = 0; i < EC_MAX_SLOTS; i++) {
		if (a->captures[i] && !strcmp(a->captures[i]->id, id))
			return a->captures[i];
	}
	return NULL;
}

/*
 * A capture as agentd allocates it: agent.h's record first, so that a struct agent_capture * is
 * also one of these, then for a fleet capture the batcher that ships its records.
 */
struct capture_box {
	struct agent_capture ac;
	struct batcher out;
};

static struct batcher *capture_out(struct agent_capture *ac)
{
	return &((struct capture_box *)ac)->out;
}

/* Engine sink of a local capture: a pcap on this host. */
static int write_record(void *ctx, const struct ec_record *rec, const uint8_t *data,
			uint32_t cap_len)
{
	struct agent_capture *ac = ctx;
	int ret = pcap_writer_write(ac->writer, rec->tstamp_ns, data, cap_len, rec->orig_len);

	if (ret)
		ac->write_error = ret;
	return ret;
}

static void capture_free(struct agent_capture *ac)
{
	if (!ac)
		return;
	batcher_release(capture_out(ac));
	pcap_writer_close(ac->writer, false);
	free(ac);
}

int agent_capture_start(struct agent *a, const char *id, const struct capture_request *req,
			enum agent_capture_origin origin, const char *output, char *err,
			size_t errlen)
{
	struct capture_params params;
	struct capture_box *box;
	struct agent_capture *ac;
	unsigned int slot;
	int ret;

	if (agent_capture_find(a, id)) {
		snprintf(err, errlen, "capture %s already runs here", id);
		return -EEXIST;
	}
	box = calloc(1, sizeof(*box));
	if (!box)
		return -ENOMEM;
	ac = &box->ac;
	snprintf(ac->id, sizeof(ac->id), "%s", id);
	ac->origin = origin;
	ac->req = *req;
	ac->start_ns = utc_ns();
	ret = wire_capture_id_parse(id, ac->id_bin);
	if (ret) {
		snprintf(err, errlen, "capture id must be 32 hex digits (got \"%s\")", id);
		goto fail;
	}

	capture_params_from_request(req, a->cfg.simple_sample_rate, &params);
	if (req->type == CAPTURE_SIMPLE && !(req->has & REQ_HAS_SNAPLEN))
		params.snaplen = a->cfg.simple_snaplen;

	if (origin == ORIGIN_FLEET) {
		ret = batcher_init(&box->out, ac->id_bin, a->cfg.host_id, a->ship, &ac->sent);
		if (ret) {
			snprintf(err, errlen, "cannot set up batches for host id \"%s\": %s",
				 a->cfg.host_id, strerror(-ret));
			goto fail;
		}
	} else {
		snprintf(ac->output, sizeof(ac->output), "%s", output);
		ret = pcap_writer_open(output, params.snaplen, &ac->writer, err, errlen);
		if (ret)
			goto fail;
	}
	if (origin == ORIGIN_FLEET)
		ret = capture_start(a->engine, &params, batcher_add, &box->out, &ac->cap, err,
				    errlen);
	else
		ret = capture_start(a->engine, &params, write_record, ac, &ac->cap, err, errlen);
	if (ret)
		goto fail;
	slot = capture_slot(ac->cap);
	a->captures[slot] = ac;
	pr_info("capture %s started (%s, %s, slot %u)", id, capture_type_name(req->type),
		origin == ORIGIN_FLEET ? "for the aggregator" : "local", slot);
	return 0;
fail:
	capture_free(ac);
	return ret;
}

static enum wire_stop_reason wire_reason(enum stop_reason r)
{
	switch (r) {
	case STOP_TIME_LIMIT:
		return WIRE_STOP_TIME_LIMIT;
	case STOP_PACKET_LIMIT:
		return WIRE_STOP_PACKET_LIMIT;
	case STOP_BYTE_LIMIT:
		return WIRE_STOP_BYTE_LIMIT;
	case STOP_ERROR:
		return WIRE_STOP_ERROR;
	default:
		return WIRE_STOP_STOPPED;
	}
}

/* Completes a capture that reached its end: last records, last batch, the final message. */
static void capture_complete(struct agent *a, struct agent_capture *ac)
{
	unsigned int slot = capture_slot(ac->cap);
	struct capture_stats st;
	struct wire_final fin = {};
	const struct ec_slot_counters *k = &st.kernel;
	char error[256];
	size_t len;
	void *msg;

	snprintf(error, sizeof(error), "%s", capture_error(ac->cap));
	capture_finish(ac->cap, &st);
	ac->cap = NULL;
	a->captures[slot] = NULL;

	if (ac->origin == ORIGIN_LOCAL) {
		int ret = pcap_writer_close(ac->writer, !ac->write_error);

		ac->writer = NULL;
		pr_info("local capture %s done: %llu packets to %s (%s)%s%s", ac->id,
			(unsigned long long)st.packets_captured, ac->output,
			stop_reason_name(st.reason), ret ? ": " : "", ret ? strerror(-ret) : "");
		capture_free(ac);
		return;
	}

	batcher_flush(capture_out(ac));
	fin.reason = wire_reason(st.reason);
	if (fin.reason == WIRE_STOP_ERROR)
		snprintf(fin.error, sizeof(fin.error), "%s", error[0] ? error : "capture failed");
	fin.c = ac->sent;
	fin.c.seen = k->seen;
	fin.c.matched = k->matched;
	fin.c.sampled_out = k->sampled_out;
	fin.c.budget_exhausted = k->budget_exhausted;
	fin.c.ring_full = k->ring_full;
	fin.c.submitted = k->submitted;
	fin.c.bytes = k->bytes;
	fin.c.last_seq = wire_batch_last_seq(capture_out(ac)->batch);
	fin.start_ns = ac->start_ns;
	fin.stop_ns = utc_ns();
	if (!wire_final_encode(ac->id_bin, a->cfg.host_id, &fin, &msg, &len))
		ship_enqueue(a->ship, msg, len, true);
	pr_info("capture %s done: %s, %llu packets shipped in %llu batches, %llu dropped by the "
		"send queue, %llu lost to a full ring",
		ac->id, wire_stop_reason_name(fin.reason), (unsigned long long)fin.c.packets_sent,
		(unsigned long long)fin.c.batches_sent, (unsigned long long)fin.c.records_dropped,
		(unsigned long long)fin.c.ring_full);
	capture_free(ac);
}

json_t *agent_capture_json(const struct agent_capture *ac)
{
	struct capture_stats st;
	json_t *o = json_object(), *k = json_object();

	capture_get_stats(ac->cap, &st);
	json_object_set_new(o, "id", json_string(ac->id));
	json_object_set_new(o, "origin",
			    json_string(ac->origin == ORIGIN_FLEET ? "aggregator" : "local"));
	json_object_set_new(o, "type", json_string(capture_type_name(ac->req.type)));
	json_object_set_new(o, "status",
			    json_string(st.reason ? stop_reason_name(st.reason) : "running"));
	json_object_set_new(o, "duration_s", json_real(st.duration_s));
	json_object_set_new(o, "packets_captured", json_integer((json_int_t)st.packets_captured));
	json_object_set_new(o, "bytes_captured", json_integer((json_int_t)st.bytes_captured));
	json_object_set_new(k, "seen", json_integer((json_int_t)st.kernel.seen));
	json_object_set_new(k, "matched", json_integer((json_int_t)st.kernel.matched));
	json_object_set_new(k, "sampled_out", json_integer((json_int_t)st.kernel.sampled_out));
	json_object_set_new(k, "budget_exhausted",
			    json_integer((json_int_t)st.kernel.budget_exhausted));
	json_object_set_new(k, "ring_full", json_integer((json_int_t)st.kernel.ring_full));
	json_object_set_new(k, "submitted", json_integer((json_int_t)st.kernel.submitted));
	json_object_set_new(o, "kernel", k);
	if (ac->origin == ORIGIN_FLEET) {
		json_object_set_new(o, "batches_sent",
				    json_integer((json_int_t)ac->sent.batches_sent));
		json_object_set_new(o, "records_dropped",
				    json_integer((json_int_t)ac->sent.records_dropped));
	} else {
		json_object_set_new(o, "output", json_string(ac->output));
	}
	json_object_set_new(o, "request", request_to_json(&ac->req));
	return o;
}

json_t *agent_status_json(const struct agent *a)
{
	json_t *o = json_object(), *ifaces = json_array(), *caps = json_array(),
	       *agg = json_object();
	struct ship_stats ss;
	unsigned int i;

	json_object_set_new(o, "host_id", json_string(a->cfg.host_id));
	json_object_set_new(o, "colo", json_string(a->cfg.colo));
	json_object_set_new(o, "version", json_string(AGENT_VERSION));
	for (i = 0; i < engine_n_ifaces(a->engine); i++) {
		const struct capture_obj *obj = engine_iface(a->engine, i);
		json_t *io = json_object();

		json_object_set_new(io, "name", json_string(obj->ifname));
		json_object_set_new(io, "ifindex", json_integer(obj->ifindex));
		json_object_set_new(io, "hook", json_string(hook_name(obj->hook)));
		json_object_set_new(io, "attach_mode", json_string(obj->attach_mode));
		json_array_append_new(ifaces, io);
	}
	json_object_set_new(o, "interfaces", ifaces);
	ship_get_stats(a->ship, &ss);
	json_object_set_new(agg, "control", json_string(a->cfg.control_url));
	json_object_set_new(agg, "data", json_string(a->cfg.data_url));
	json_object_set_new(agg, "connected", json_boolean(ss.connections > 0));
	json_object_set_new(agg, "data_connections", json_integer(ss.connections));
	json_object_set_new(agg, "control_connections",
			    json_integer((json_int_t)nn_get_statistic(
				    a->control_sock, NN_STAT_CURRENT_CONNECTIONS)));
	json_object_set_new(agg, "queued_bytes", json_integer((json_int_t)ss.queued_bytes));
	json_object_set_new(agg, "queued_messages", json_integer((json_int_t)ss.queued_msgs));
	json_object_set_new(agg, "sent_messages", json_integer((json_int_t)ss.sent_msgs));
	json_object_set_new(agg, "dropped_messages", json_integer((json_int_t)ss.dropped_msgs));
	json_object_set_new(agg, "dropped_bytes", json_integer((json_int_t)ss.dropped_bytes));
	json_object_set_new(agg, "control_messages", json_integer((json_int_t)a->control_msgs));
	json_object_set_new(agg, "control_refused", json_integer((json_int_t)a->control_bad));
	json_object_set_new(o, "aggregator", agg);
	for (i = 0; i < EC_MAX_SLOTS; i++) {
		if (a->captures[i])
			json_array_append_new(caps, agent_capture_json(a->captures[i]));
	}
	json_object_set_new(o, "captures", caps);
	return o;
}

/* Everything due on a pass of the loop: drain, ship aged batches, complete finished captures. */
static void agent_tick(struct agent *a)
{
	uint64_t now;
	unsigned int i;

	engine_poll(a->engine);
	now = agent_now_ms();
	for (i = 0; i < EC_MAX_SLOTS; i++) {
		struct agent_capture *ac = a->captures[i];

		if (!ac)
			continue;
		if (ac->origin == ORIGIN_FLEET)
			batcher_tick(capture_out(ac), now, a->cfg.batch_ms);
		if (capture_done(ac->cap))
			capture_complete(a, ac);
	}
	ship_pump(a->ship);
}

static int loop_timeout(const struct agent *a)
{
	int timeout = engine_timeout_ms(a->engine);
	uint64_t now = agent_now_ms();
	unsigned int i;

	for (i = 0; i < EC_MAX_SLOTS; i++) {
		if (a->captures[i])
			timeout = batcher_timeout_ms(capture_out(a->captures[i]), now,
						     a->cfg.batch_ms, timeout);
	}
	return timeout;
}

static int sock_fd(int sock, int opt)
{
	size_t sz = sizeof(int);
	int fd = -1;

	if (nn_getsockopt(sock, NN_SOL_SOCKET, opt, &fd, &sz) < 0)
		return -1;
	return fd;
}

static int run(struct agent *a, int sigfd)
{
	struct pollfd pfd[5];
	uint64_t watchdog_usec = 0, last_ping = 0;
	int control_fd = sock_fd(a->control_sock, NN_RCVFD);
	int local_fd = sock_fd(a->local_sock, NN_RCVFD);
	bool stopping = false;

	if (sd_watchdog_enabled(0, &watchdog_usec) <= 0)
		watchdog_usec = 0;
	sd_notify(0, "READY=1\nSTATUS=capturing");

	for (;;) {
		int n = 0, timeout = loop_timeout(a);

		pfd[n++] = (struct pollfd){ .fd = sigfd, .events = POLLIN };
		pfd[n++] = (struct pollfd){ .fd = engine_epoll_fd(a->engine), .events = POLLIN };
		pfd[n++] = (struct pollfd){ .fd = control_fd, .events = POLLIN };
		pfd[n++] = (struct pollfd){ .fd = local_fd, .events = POLLIN };
		/* The send side only while something waits: a writable socket is always ready. */
		if (ship_pending(a->ship))
			pfd[n++] = (struct pollfd){ .fd = ship_send_fd(a->ship), .events = POLLIN };
		if (watchdog_usec && timeout > (int)(watchdog_usec / 2000))
			timeout = (int)(watchdog_usec / 2000);
		if (poll(pfd, (nfds_t)n, timeout) < 0 && errno != EINTR)
			return -errno;

		if (pfd[0].revents & POLLIN) {
			struct signalfd_siginfo si;

			if (read(sigfd, &si, sizeof(si)) == sizeof(si) && !stopping) {
				unsigned int i;

				pr_info("signal %u: stopping every capture", si.ssi_signo);
				sd_notify(0, "STOPPING=1");
				stopping = true;
				for (i = 0; i < EC_MAX_SLOTS; i++) {
					if (a->captures[i])
						capture_stop(a->captures[i]->cap, STOP_STOPPED,
							     NULL);
				}
			}
		}
		if (pfd[2].revents & POLLIN)
			fleet_handle(a);
		if (pfd[3].revents & POLLIN)
			local_ctl_handle(a);
		agent_tick(a);

		if (watchdog_usec && agent_now_ms() - last_ping >= watchdog_usec / 2000) {
			sd_notify(0, "WATCHDOG=1");
			last_ping = agent_now_ms();
		}
		if (stopping) {
			unsigned int i, live = 0;

			for (i = 0; i < EC_MAX_SLOTS; i++)
				live += a->captures[i] != NULL;
			if (!live)
				break;
		}
	}
	/* Final messages get a moment to leave; anything still queued is lost with the process. */
	for (int i = 0; i < 20 && ship_pending(a->ship); i++) {
		usleep(10000);
		ship_pump(a->ship);
	}
	return 0;
}

static int signals_open(void)
{
	sigset_t set;

	sigemptyset(&set);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGTERM);
	if (sigprocmask(SIG_BLOCK, &set, NULL))
		return -errno;
	return signalfd(-1, &set, SFD_CLOEXEC | SFD_NONBLOCK);
}

int main(int argc, char **argv)
{
	struct agent a = { .control_sock = -1, .local_sock = -1 };
	struct engine_opts eo;
	char err[512];
	int ret, sigfd = -1, status = 1;
	unsigned int i;

	log_set_ident("edgecap-agent");
	log_route_libbpf();
	ret = agent_config_parse(argc, argv, &a.cfg);
	if (ret)
		return ret > 0 ? 0 : 2;
	if (a.cfg.verbose)
		log_set_level(LOG_LEVEL_DEBUG);
	signal(SIGPIPE, SIG_IGN);

	sigfd = signals_open();
	if (sigfd < 0) {
		pr_err("cannot set up signal handling: %s", strerror(-sigfd));
		goto cleanup;
	}
	engine_opts_default(&eo);
	eo.ring_bytes = a.cfg.ring_bytes;
	ret = engine_new(&eo, &a.engine);
	if (ret) {
		pr_err("cannot create the capture engine: %s", strerror(-ret));
		goto cleanup;
	}
	for (i = 0; i < a.cfg.n_ifaces; i++) {
		ret = engine_add_iface(a.engine, a.cfg.ifaces[i], a.cfg.hook, a.cfg.xdp_mode, err,
				       sizeof(err));
		if (ret) {
			pr_err("%s", err);
			goto cleanup;
		}
		pr_info("attached to %s at %s (%s)", a.cfg.ifaces[i], hook_name(a.cfg.hook),
			engine_iface(a.engine, i)->attach_mode);
	}
	ret = ship_open(a.cfg.data_url, a.cfg.queue_bytes, &a.ship, err, sizeof(err));
	if (!ret)
		ret = fleet_open(&a, err, sizeof(err));
	if (!ret)
		ret = local_ctl_open(&a, err, sizeof(err));
	if (ret) {
		pr_err("%s", err);
		goto cleanup;
	}
	pr_info("host %s in colo %s, aggregator %s / %s", a.cfg.host_id,
		a.cfg.colo[0] ? a.cfg.colo : "(none)", a.cfg.control_url, a.cfg.data_url);
	if (!run(&a, sigfd))
		status = 0;
cleanup:
	for (i = 0; i < EC_MAX_SLOTS; i++) {
		if (a.captures[i])
			capture_complete(&a, a.captures[i]);
	}
	local_ctl_close(&a);
	fleet_close(&a);
	ship_close(a.ship);
	engine_free(a.engine);
	if (sigfd >= 0)
		close(sigfd);
	return status;
}
