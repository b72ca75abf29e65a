// SPDX-License-Identifier: BSD-2-Clause
/*
 * test_captures.c: agent/captures.h, the capture table, as far as it runs without the kernel
 * (the engine here has no interface): a start is checked before anything runs, and one that
 * cannot run leaves nothing behind (no table entry, no pcap); stop and the JSON views of an
 * empty table. Then the aggregator's surveys through agent/fleet.h, the table's other caller:
 * a full capture is started only by an agent in its colo or metro, the others decline it, and
 * status and refused messages are answered and counted; and the link comes back by itself after
 * NNG's dialer gave up (sp_fault.h), dialled afresh after REDIAL_STALL_MS.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <jansson.h>
#include <nng/nng.h>

#include "agent_fixture.h"
#include "control.h"
#include "redial.h"
#include "sp_fault.h"
#include "request.h"
#include "testing.h"

static const char capture_hex[] = "00112233445566778899aabbccddeeff";

static struct agent_fixture fx;
static char fx_err[512];
static int fx_ret;

static void test_bad_id_is_refused_before_anything_runs(void)
{
	struct capture_request req = { .type = CAPTURE_SIMPLE };
	char err[256] = "";

	CHECK(fx_ret == 0, "fixture: %s", fx_err);
	CHECK(captures_start(fx.caps, "not-hex", &req, ORIGIN_FLEET, NULL, err, sizeof(err)) ==
		      -EINVAL,
	      "a bad id started");
	CHECK_STR_CONTAINS(err, "capture id must be 32 hex digits (got \"not-hex\")");
	CHECK(captures_count(fx.caps) == 0, "the table is not empty");
	CHECK(!captures_running(fx.caps, "not-hex"), "running");
}

static void test_start_that_cannot_run_leaves_nothing(void)
{
	struct capture_request req = { .type = CAPTURE_FULL };
	char err[256] = "", output[128];

	CHECK(fx_ret == 0, "fixture: %s", fx_err);
	CHECK(captures_start(fx.caps, capture_hex, &req, ORIGIN_FLEET, NULL, err, sizeof(err)) ==
		      -EINVAL,
	      "a fleet capture started with no interface");
	CHECK_STR_CONTAINS(err, "no interface to capture on");
	snprintf(output, sizeof(output), "%s/local.pcap", fx.dir);
	err[0] = '\0';
	CHECK(captures_start(fx.caps, capture_hex, &req, ORIGIN_LOCAL, output, err, sizeof(err)) ==
		      -EINVAL,
	      "a local capture started with no interface");
	CHECK_STR_CONTAINS(err, "no interface to capture on");
	/* The pcap was opened before the engine refused: its partial file is gone again. */
	/* No pcap under its name nor a partial file (".local.pcap.partial...") is left. */
	CHECK(peer_dir_count(fx.dir, "local.pcap") == 0, "%d files named like local.pcap in %s",
	      peer_dir_count(fx.dir, "local.pcap"), fx.dir);
	CHECK(captures_count(fx.caps) == 0, "the table is not empty");
	CHECK(!captures_running(fx.caps, capture_hex), "running");
}

/*
 * What the kernel is given: the request's values, else this host's --snaplen and --sample-rate
 * for a simple capture; a fleet capture's default snaplen stops at the aggregator's cut (160).
 */
static void test_params_take_this_hosts_defaults(void)
{
	struct capture_request req = { .type = CAPTURE_SIMPLE };
	struct agent_config cfg;
	struct capture_params p;

	agent_config_defaults(&cfg);
	captures_params(&cfg, &req, ORIGIN_FLEET, &p);
	CHECK(p.snaplen == REQ_SIMPLE_SNAPLEN && p.sample_rate == 1, "defaults: %u, 1 in %u",
	      p.snaplen, p.sample_rate);
	cfg.simple_snaplen = 96;
	cfg.simple_sample_rate = 4;
	captures_params(&cfg, &req, ORIGIN_FLEET, &p);
	CHECK(p.snaplen == 96 && p.sample_rate == 4, "--snaplen 96 --sample-rate 4: %u, 1 in %u",
	      p.snaplen, p.sample_rate);
	cfg.simple_snaplen = 256;
	captures_params(&cfg, &req, ORIGIN_FLEET, &p);
	CHECK(p.snaplen == REQ_SIMPLE_SNAPLEN, "--snaplen 256, a fleet capture: %u", p.snaplen);
	captures_params(&cfg, &req, ORIGIN_LOCAL, &p);
	CHECK(p.snaplen == 256, "--snaplen 256, a local capture: %u", p.snaplen);
	req.snaplen = 300;
	req.sample_rate = 2;
	req.has |= REQ_HAS_SNAPLEN | REQ_HAS_SAMPLE_RATE;
	captures_params(&cfg, &req, ORIGIN_FLEET, &p);
	CHECK(p.snaplen == 300 && p.sample_rate == 2, "the request's own: %u, 1 in %u", p.snaplen,
	      p.sample_rate);
	req = (struct capture_request){ .type = CAPTURE_FULL };
	captures_params(&cfg, &req, ORIGIN_FLEET, &p);
	CHECK(p.snaplen == EC_MAX_CAPLEN && p.sample_rate == 1, "a full capture: %u, 1 in %u",
	      p.snaplen, p.sample_rate);
}

/* A local start for output that must be refused before anything is opened; err in got. */
static int local_start(const char *output, char *got, size_t len)
{
	struct capture_request req = { .type = CAPTURE_FULL };

	got[0] = '\0';
	return captures_start(fx.caps, capture_hex, &req, ORIGIN_LOCAL, output, got, len);
}

static void test_local_output_only_beneath_the_output_dir(void)
{
	char err[512], path[256], victim[256];
	int fd;

	CHECK(fx_ret == 0, "fixture: %s", fx_err);
	/* A plain name and a path beneath the directory get as far as the engine. */
	CHECK(local_start("plain.pcap", err, sizeof(err)) == -EINVAL, "plain name: %s", err);
	CHECK_STR_CONTAINS(err, "no interface to capture on");
	snprintf(path, sizeof(path), "%s/abs.pcap", fx.dir);
	CHECK(local_start(path, err, sizeof(err)) == -EINVAL, "absolute beneath: %s", err);
	CHECK_STR_CONTAINS(err, "no interface to capture on");
	/* Elsewhere: refused, naming the path and the directory. */
	CHECK(local_start("/etc/x", err, sizeof(err)) == -EPERM, "/etc/x: %s", err);
	CHECK_STR_CONTAINS(err, "output /etc/x: not beneath the agent's output directory");
	CHECK_STR_CONTAINS(err, fx.dir);
	CHECK(access("/etc/x", F_OK) != 0, "/etc/x was created");
	CHECK(local_start("../x.pcap", err, sizeof(err)) == -EINVAL, "..: %s", err);
	CHECK_STR_CONTAINS(err, "\"..\" is not allowed");
	snprintf(path, sizeof(path), "%s/../x.pcap", fx.dir);
	CHECK(local_start(path, err, sizeof(err)) == -EINVAL, "/dir/..: %s", err);
	/* A symlink beneath the directory is not followed, to a directory nor to a file. */
	snprintf(victim, sizeof(victim), "%s/victim", fx.dir);
	snprintf(path, sizeof(path), "%s/link", fx.dir);
	CHECK(!mkdir(victim, 0700) && !symlink(victim, path), "symlink %s", path);
	CHECK(local_start("link/x.pcap", err, sizeof(err)) == -ELOOP, "through a link: %s", err);
	CHECK_STR_CONTAINS(err, "a symbolic link is on the way");
	CHECK(peer_dir_count(victim, "x.pcap") == 0, "a file was written through the link");
	snprintf(path, sizeof(path), "%s/victim/file", fx.dir);
	fd = open(path, O_WRONLY | O_CREAT, 0600);
	CHECK(fd >= 0 && write(fd, "keep", 4) == 4, "victim file");
	close(fd);
	snprintf(victim, sizeof(victim), "%s/file.pcap", fx.dir);
	CHECK(!symlink(path, victim), "symlink at the final name");
	/* The final name is replaced by the rename, never written through; the engine fails. */
	CHECK(local_start("file.pcap", err, sizeof(err)) == -EINVAL, "final link: %s", err);
	CHECK(peer_dir_count(fx.dir, "file.pcap.partial") == 0, "partial file left");
	CHECK(captures_count(fx.caps) == 0, "the table is not empty");
}

/*
 * A missing output directory is made 0750 whatever the umask (the unit's is 0027, a shell's may be
 * 0077): the operators in the agent's group read local captures.
 */
static void test_output_dir_is_made_group_readable(void)
{
	char err[512], saved[sizeof(fx.cfg.output_dir)], made[256];
	struct stat st;
	mode_t old;

	CHECK(fx_ret == 0, "fixture: %s", fx_err);
	snprintf(saved, sizeof(saved), "%s", fx.cfg.output_dir);
	snprintf(made, sizeof(made), "%s/made", fx.dir);
	snprintf(fx.cfg.output_dir, sizeof(fx.cfg.output_dir), "%s", made);
	old = umask(0077);
	CHECK(local_start("m.pcap", err, sizeof(err)) == -EINVAL, "start: %s", err);
	umask(old);
	CHECK(!stat(made, &st) && S_ISDIR(st.st_mode), "no directory %s", made);
	CHECK((st.st_mode & 07777) == 0750, "%s is %04o, want 0750", made,
	      (unsigned)(st.st_mode & 07777));
	CHECK(peer_dir_count(made, "m.pcap") == 0, "a file is left in %s", made);
	rmdir(made);
	snprintf(fx.cfg.output_dir, sizeof(fx.cfg.output_dir), "%s", saved);
}

/*
 * "-" is a pcap writer's name for standard output: a local client that asked for it had the
 * agent write whole frames to its stdout (the journal under systemd), outside its output
 * directory. It is refused before anything is written, under any path that ends in it.
 */
static void test_local_output_dash_is_not_stdout(void)
{
	static const char *const outputs[] = { "-", "./-", "sub/-" };
	char err[512], path[256], sub[256];
	int saved, fd;
	size_t i;
	off_t n;

	CHECK(fx_ret == 0, "fixture: %s", fx_err);
	snprintf(sub, sizeof(sub), "%s/sub", fx.dir);
	CHECK(!mkdir(sub, 0750), "mkdir %s", sub);
	snprintf(path, sizeof(path), "%s/stdout", fx.dir);
	fd = open(path, O_RDWR | O_CREAT | O_EXCL, 0600);
	CHECK(fd >= 0, "open %s", path);
	fflush(stdout);
	saved = dup(STDOUT_FILENO);
	CHECK(saved >= 0 && dup2(fd, STDOUT_FILENO) == STDOUT_FILENO, "dup2");
	for (i = 0; i < sizeof(outputs) / sizeof(outputs[0]); i++) {
		int ret = local_start(outputs[i], err, sizeof(err));

		fflush(stdout);
		n = lseek(fd, 0, SEEK_END);
		if (ret != -EINVAL || !strstr(err, "not to the agent's standard output") || n) {
			dup2(saved, STDOUT_FILENO);
			close(saved);
			close(fd);
			CHECK(0, "output %s: returned %d, %lld bytes on the agent's stdout: %s",
			      outputs[i], ret, (long long)n, err);
		}
	}
	dup2(saved, STDOUT_FILENO);
	close(saved);
	close(fd);
	unlink(path);
	CHECK(peer_dir_count(fx.dir, "-") == 0, "a file named - was left in %s", fx.dir);
	CHECK(peer_dir_count(sub, "-") == 0, "a file named - was left in %s", sub);
	rmdir(sub);
	CHECK(captures_count(fx.caps) == 0, "the table is not empty");
}

static void test_empty_table_views(void)
{
	struct ctl_capture_status cs[2];
	json_t *caps;

	CHECK(fx_ret == 0, "fixture: %s", fx_err);
	CHECK(captures_stop(fx.caps, capture_hex) == -ENOENT,
	      "stopped a capture that is not there");
	caps = captures_json(fx.caps);
	CHECK(json_is_array(caps) && json_array_size(caps) == 0, "captures_json");
	json_decref(caps);
	CHECK(captures_fleet_status(fx.caps, cs, 2) == 0, "fleet status of an empty table");
	CHECK(captures_timeout_ms(fx.caps, 0, 1234) == 1234, "timeout of an empty table");
	captures_tick(fx.caps, 0);
	captures_stop_all(fx.caps);
	captures_complete_all(fx.caps);
	CHECK(captures_count(fx.caps) == 0, "count");
}

/* Surveys m through the fixture's surveyor, lets the fleet link answer, and decodes into r. */
static int survey(const char *text, struct ctl_msg *r, char *err, size_t errlen)
{
	struct pollfd pfd = { .fd = fleet_recv_fd(fx.fleet), .events = POLLIN };
	nng_msg *msg;
	int ret;

	if (!peer_wait_connected(&fx.surveyor)) {
		snprintf(err, errlen, "the fleet link never connected");
		return -ENOTCONN;
	}
	if (nng_send(fx.surveyor.sock, (void *)text, strlen(text), 0) || poll(&pfd, 1, 2000) != 1) {
		snprintf(err, errlen, "the survey never arrived");
		return -ETIMEDOUT;
	}
	fleet_handle(fx.fleet);
	ret = nng_recvmsg(fx.surveyor.sock, &msg, 0);
	if (ret) {
		snprintf(err, errlen, "no reply: %s", nng_strerror(ret));
		return -ETIMEDOUT;
	}
	ret = ctl_decode(nng_msg_body(msg), nng_msg_len(msg), r, err, errlen);
	nng_msg_free(msg);
	return ret;
}

/* Surveys a start of a capture of type for colo_name (NULL: none); r is the reply. */
static int survey_start(const char *type, const char *colo_name, struct ctl_msg *r, char *err,
			size_t errlen)
{
	static struct ctl_msg m;
	char body[512], *text = NULL;
	size_t len;
	int ret;

	/* A full capture names its colo and destination; a simple one has neither. */
	if (colo_name)
		snprintf(body, sizeof(body),
			 "{\"type\": \"%s\", \"colo_name\": \"%s\", \"destination_conf\": "
			 "\"local:/x\", \"time_limit\": 10, \"system\": \"magic-transit\"}",
			 type, colo_name);
	else
		snprintf(body, sizeof(body),
			 "{\"type\": \"%s\", \"time_limit\": 10, \"packet_limit\": 10,"
			 " \"system\": \"magic-transit\"}",
			 type);
	ctl_msg_init(&m, CTL_START, 9);
	snprintf(m.capture_id, sizeof(m.capture_id), "%s", capture_hex);
	ret = request_from_json(body, strlen(body), REQ_SCOPE_API, &m.request, err, errlen);
	if (!ret)
		ret = ctl_encode(&m, &text, &len, err, errlen);
	if (!ret)
		ret = survey(text, r, err, errlen);
	free(text);
	return ret;
}

/* The reply to a full capture for colo_name from this agent (colo ord02): declined or tried. */
#define CHECK_COLO(colo_name, want_in_reason)                                                  \
	do {                                                                                   \
		static struct ctl_msg r_;                                                      \
		char e_[512] = "";                                                             \
		int ret_ = survey_start("full", colo_name, &r_, e_, sizeof(e_));               \
		CHECK(ret_ == 0, "start for %s: %s", colo_name, e_);                           \
		CHECK(r_.type == CTL_START_REPLY && !r_.accepted &&                            \
			      strstr(r_.reason, want_in_reason),                               \
		      "full capture for %s: reason \"%s\", want \"%s\"", colo_name, r_.reason, \
		      want_in_reason);                                                         \
	} while (0)

static void test_full_capture_runs_only_in_its_colo(void)
{
	CHECK(fx_ret == 0, "fixture: %s", fx_err);
	/* Ours (a colo, or its metro, in any case): past the colo check, to the engine. */
	CHECK_COLO("ord02", "no interface to capture on");
	CHECK_COLO("ORD02", "no interface to capture on");
	CHECK_COLO("ORD", "no interface to capture on");
	CHECK_COLO("ord", "no interface to capture on");
	/* Not ours: declined before anything is tried. */
	CHECK_COLO("lax01", "colo ord02 is not in lax01");
	CHECK_COLO("OR", "colo ord02 is not in OR");
	CHECK_COLO("ord0", "colo ord02 is not in ord0");
	CHECK_COLO("ord02x", "colo ord02 is not in ord02x");
	CHECK_COLO("LAX", "colo ord02 is not in LAX");
}

static void test_simple_capture_needs_no_colo(void)
{
	static struct ctl_msg r;
	char err[512] = "";

	CHECK(fx_ret == 0, "fixture: %s", fx_err);
	CHECK(survey_start("simple", NULL, &r, err, sizeof(err)) == 0, "start: %s", err);
	CHECK(!r.accepted && strstr(r.reason, "no interface to capture on"),
	      "simple capture: reason \"%s\"", r.reason);
	CHECK(!strcmp(r.host_id, "edge-test-01") && !strcmp(r.colo, "ord02"), "reply header");
}

/* A late join (a start naming hosts) is for those hosts only: the others decline it. */
static void test_start_for_other_hosts_is_declined(void)
{
	static const char body[] = "{\"type\": \"simple\", \"time_limit\": 10, "
				   "\"packet_limit\": 10, \"system\": \"magic-transit\"}";
	static struct ctl_msg m, r;
	char err[512] = "", *text = NULL;
	size_t len;
	int ret;

	CHECK(fx_ret == 0, "fixture: %s", fx_err);
	ctl_msg_init(&m, CTL_START, 11);
	snprintf(m.capture_id, sizeof(m.capture_id), "%s", capture_hex);
	CHECK(!request_from_json(body, strlen(body), REQ_SCOPE_API, &m.request, err, sizeof(err)),
	      "request: %s", err);
	m.n_hosts = 1;
	snprintf(m.hosts[0], sizeof(m.hosts[0]), "edge-other");
	ret = ctl_encode(&m, &text, &len, err, sizeof(err));
	if (!ret)
		ret = survey(text, &r, err, sizeof(err));
	free(text);
	text = NULL;
	CHECK(ret == 0, "start: %s", err);
	CHECK(!r.accepted && !strcmp(r.reason, "not addressed to this host"),
	      "a start for another host: reason \"%s\"", r.reason);
	/* Named among others: past the check, to the engine (which has no interface here). */
	m.n_hosts = 2;
	snprintf(m.hosts[1], sizeof(m.hosts[1]), "edge-test-01");
	ret = ctl_encode(&m, &text, &len, err, sizeof(err));
	if (!ret)
		ret = survey(text, &r, err, sizeof(err));
	free(text);
	CHECK(ret == 0, "start: %s", err);
	CHECK(!r.accepted && strstr(r.reason, "no interface to capture on"),
	      "a start naming this host: reason \"%s\"", r.reason);
}

static void test_stop_status_and_refused_messages(void)
{
	static struct ctl_msg m, r;
	char err[512] = "", *text = NULL;
	json_int_t taken, refused;
	json_t *agg;
	size_t len;

	CHECK(fx_ret == 0, "fixture: %s", fx_err);
	agg = fleet_status_json(fx.fleet);
	taken = json_integer_value(json_object_get(agg, "control_messages"));
	refused = json_integer_value(json_object_get(agg, "control_refused"));
	json_decref(agg);
	ctl_msg_init(&m, CTL_STOP, 11);
	snprintf(m.capture_id, sizeof(m.capture_id), "%s", capture_hex);
	CHECK(ctl_encode(&m, &text, &len, err, sizeof(err)) == 0, "encode: %s", err);
	CHECK(survey(text, &r, err, sizeof(err)) == 0, "stop: %s", err);
	free(text);
	CHECK(r.type == CTL_STOP_REPLY && !r.accepted, "stop of nothing accepted");
	CHECK_STR_CONTAINS(r.reason, "no capture 00112233445566778899aabbccddeeff runs here");

	ctl_msg_init(&m, CTL_STATUS, 12);
	CHECK(ctl_encode(&m, &text, &len, err, sizeof(err)) == 0, "encode: %s", err);
	CHECK(survey(text, &r, err, sizeof(err)) == 0, "status: %s", err);
	free(text);
	CHECK(r.type == CTL_STATUS_REPLY && r.id == 12, "status reply");
	CHECK_EQ_U64(r.n_captures, 0, "captures in the status reply");

	CHECK(survey("{\"not\": \"a control message\"}", &r, err, sizeof(err)) == 0, "bad: %s",
	      err);
	CHECK(r.type == CTL_ERROR && r.reason[0], "a bad message got no error reply");

	agg = fleet_status_json(fx.fleet);
	CHECK_EQ_U64(json_integer_value(json_object_get(agg, "control_refused")), refused + 1,
		     "control messages refused");
	CHECK_EQ_U64(json_integer_value(json_object_get(agg, "control_messages")), taken + 2,
		     "control messages taken");
	CHECK(json_integer_value(json_object_get(agg, "control_connections")) == 1,
	      "control connections");
	json_decref(agg);
}

/*
 * Protocol 1.2: the agent takes the batch codec from each survey's "codecs" and --batch-codec;
 * a 1.1 aggregator (no "codecs") gets deflate, also after a 1.2 one (an aggregator downgraded).
 */
static void test_fleet_link_dials_afresh_after_nng_gave_up(void)
{
	static struct agent_fixture f2;
	static struct ctl_msg m, r;
	char err[512] = "", *text = NULL;
	struct pollfd pfd;
	nng_msg *msg = NULL;
	size_t len;
	int i, ret;

	atomic_store(&sp_fault_hits, 0);
	sp_fault_header(SP_FAULT_RESPONDENT);
	ret = fixture_open(&f2, "ord02", 1, err, sizeof(err));
	CHECK(ret == 0, "fixture: %s", err);
	/* NNG's dialer retries every 100 ms while it tries at all. */
	for (i = 0; i < 150; i++) {
		CHECK(fleet_tick(f2.fleet, sp_now_ms()) == 0, "dialled afresh before the stall");
		usleep(10000);
	}
	CHECK_EQ_U64(atomic_load(&sp_fault_hits), 1, "SP headers failed with EPIPE");
	CHECK(fleet_control_connections(f2.fleet) == 0, "connected after the failed header");
	CHECK(fleet_tick(f2.fleet, sp_now_ms() + REDIAL_STALL_MS) == 1,
	      "no fresh dialer after REDIAL_STALL_MS without a connection");
	CHECK(peer_wait_connected(&f2.surveyor), "the fresh dialer never connected");
	/* A survey is answered over it. */
	ctl_msg_init(&m, CTL_STATUS, 21);
	CHECK(ctl_encode(&m, &text, &len, err, sizeof(err)) == 0, "encode: %s", err);
	ret = nng_send(f2.surveyor.sock, text, len, 0);
	free(text);
	CHECK(ret == 0, "survey not sent: %s", nng_strerror(ret));
	pfd = (struct pollfd){ .fd = fleet_recv_fd(f2.fleet), .events = POLLIN };
	CHECK(poll(&pfd, 1, 2000) == 1, "the survey never arrived");
	fleet_handle(f2.fleet);
	CHECK(nng_recvmsg(f2.surveyor.sock, &msg, 0) == 0, "no reply");
	ret = ctl_decode(nng_msg_body(msg), nng_msg_len(msg), &r, err, sizeof(err));
	nng_msg_free(msg);
	CHECK(ret == 0, "reply: %s", err);
	CHECK(r.type == CTL_STATUS_REPLY && r.id == 21, "status reply");
	fixture_close(&f2);
}

static void test_surveys_negotiate_the_batch_codec(void)
{
	static const char old[] = "{\"version\":[1,1],\"type\":\"status\",\"id\":71}";
	static const char all[] = "{\"version\":[1,2],\"type\":\"status\",\"id\":72,"
				  "\"codecs\":[\"deflate\",\"zstd\",\"lz4\"]}";
	static const char lz4[] = "{\"version\":[1,2],\"type\":\"status\",\"id\":73,"
				  "\"codecs\":[\"deflate\",\"lz4\",\"future\"]}";
	struct ctl_msg r;
	char err[256];

	fx.cfg.batch_codec = AGENT_CODEC_AUTO;
	CHECK(survey(all, &r, err, sizeof(err)) == 0, "status: %s", err);
	CHECK(ship_codec(fx.ship) == WIRE_CODEC_ZSTD, "auto, 1.2 aggregator: %s",
	      wire_codec_name(ship_codec(fx.ship)));
	CHECK(survey(old, &r, err, sizeof(err)) == 0, "status: %s", err);
	CHECK(ship_codec(fx.ship) == WIRE_CODEC_DEFLATE, "auto, 1.1 aggregator: %s",
	      wire_codec_name(ship_codec(fx.ship)));
	CHECK(survey(lz4, &r, err, sizeof(err)) == 0, "status: %s", err);
	CHECK(ship_codec(fx.ship) == WIRE_CODEC_LZ4, "auto, aggregator without zstd: %s",
	      wire_codec_name(ship_codec(fx.ship)));
	/* Forced: that codec when the aggregator names it, deflate when it does not. */
	fx.cfg.batch_codec = WIRE_CODEC_ZSTD;
	CHECK(survey(lz4, &r, err, sizeof(err)) == 0, "status: %s", err);
	CHECK(ship_codec(fx.ship) == WIRE_CODEC_DEFLATE, "zstd forced, not named: %s",
	      wire_codec_name(ship_codec(fx.ship)));
	CHECK(survey(all, &r, err, sizeof(err)) == 0, "status: %s", err);
	CHECK(ship_codec(fx.ship) == WIRE_CODEC_ZSTD, "zstd forced: %s",
	      wire_codec_name(ship_codec(fx.ship)));
	fx.cfg.batch_codec = WIRE_CODEC_DEFLATE;
	CHECK(survey(all, &r, err, sizeof(err)) == 0, "status: %s", err);
	CHECK(ship_codec(fx.ship) == WIRE_CODEC_DEFLATE, "deflate forced: %s",
	      wire_codec_name(ship_codec(fx.ship)));
	fx.cfg.batch_codec = AGENT_CODEC_AUTO;
}

int main(void)
{
	fx_ret = fixture_open(&fx, "ord02", 1, fx_err, sizeof(fx_err));
	RUN(test_bad_id_is_refused_before_anything_runs);
	RUN(test_params_take_this_hosts_defaults);
	RUN(test_start_that_cannot_run_leaves_nothing);
	RUN(test_local_output_only_beneath_the_output_dir);
	RUN(test_output_dir_is_made_group_readable);
	RUN(test_local_output_dash_is_not_stdout);
	RUN(test_empty_table_views);
	RUN(test_full_capture_runs_only_in_its_colo);
	RUN(test_simple_capture_needs_no_colo);
	RUN(test_start_for_other_hosts_is_declined);
	RUN(test_stop_status_and_refused_messages);
	RUN(test_surveys_negotiate_the_batch_codec);
	RUN(test_fleet_link_dials_afresh_after_nng_gave_up);
	fixture_close(&fx);
	return TEST_SUMMARY();
}
