// SPDX-License-Identifier: BSD-2-Clause
/*
 * test_local_ctl.c: agent/local_ctl.h, edgecapctl's socket on the agent's host. Every request
 * that is wrong (not JSON, another protocol version, no or an unknown cmd, a start or stop with
 * a missing or bad field) gets "ok": false and an error naming the field; status and list are
 * answered with the agent's figures; the socket is 0600 and answers over SP REQ/REP. Its three
 * bounds are the agent's settings (local-max-connections, local-max-request, local-timeout-ms):
 * each, set far from its default, is the one the socket keeps.
 */
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <jansson.h>
#include <nng/nng.h>
#include <nng/protocol/reqrep0/req.h>

#include "agent_fixture.h"
#include "sp_header.h"
#include "testing.h"
#include "version.h"

static struct agent_fixture fx;
static char fx_err[512];
static int fx_ret;

/* The reply to text, as {ok, error} for the checks; *reply is the caller's reference. */
static int ask(const char *text, json_t **reply, const char **error)
{
	*reply = local_ctl_answer(fx.local, text, strlen(text));
	*error = json_string_value(json_object_get(*reply, "error"));
	if (!*error)
		*error = "";
	return json_is_true(json_object_get(*reply, "ok"));
}

/* A wrong request: ok is false, v is 1 and the error contains want. */
#define CHECK_REFUSED(text, want)                                           \
	do {                                                                \
		json_t *r_;                                                 \
		const char *e_;                                             \
		int ok_ = ask(text, &r_, &e_);                              \
		int v_ = (int)json_integer_value(json_object_get(r_, "v")); \
		int has_ = strstr(e_, want) != NULL;                        \
		json_decref(r_);                                            \
		CHECK(!ok_ && v_ == LOCAL_CTL_VERSION && has_,              \
		      "%s: got error \"%s\", want \"%s\"", text, e_, want); \
	} while (0)

static void test_malformed_requests_name_what_is_wrong(void)
{
	CHECK(fx_ret == 0, "fixture: %s", fx_err);
	CHECK_REFUSED("{\"v\": 1, \"cmd\": ", "not a JSON object");
	CHECK_REFUSED("[1, 2]", "not a JSON object");
	CHECK_REFUSED("{\"v\": 1, \"cmd\": \"list\", \"cmd\": \"status\"}", "not a JSON object");
	CHECK_REFUSED("{\"cmd\": \"status\"}", "v: this agent speaks version 1");
	CHECK_REFUSED("{\"v\": 2, \"cmd\": \"status\"}", "v: this agent speaks version 1");
	CHECK_REFUSED("{\"v\": 1}", "cmd: missing");
	CHECK_REFUSED("{\"v\": 1, \"cmd\": 7}", "cmd: missing");
	CHECK_REFUSED("{\"v\": 1, \"cmd\": \"reboot\"}", "cmd: unknown command \"reboot\"");
}

/* A long command or id of multi-byte characters: the message quoting it is cut to fit, and the
 * peer still gets its answer (not a closed connection). */
static void test_long_utf8_fields_are_answered(void)
{
	static const char *const fmts[] = { "{\"v\": 1, \"cmd\": \"%s\"}",
					    "{\"v\": 1, \"cmd\": \"x%s\"}",
					    "{\"v\": 1, \"cmd\": \"stop\", \"id\": \"%s\"}",
					    "{\"v\": 1, \"cmd\": \"stop\", \"id\": \"x%s\"}" };
	static const char *const wants[] = { "cmd: unknown command", "cmd: unknown command",
					     "id: no capture", "id: no capture" };
	char text[2048], e_acute[801];

	for (int i = 0; i < 400; i++)
		memcpy(e_acute + 2 * i, "\xc3\xa9", 2);
	e_acute[800] = '\0';
	for (size_t k = 0; k < sizeof(fmts) / sizeof(fmts[0]); k++) {
		snprintf(text, sizeof(text), fmts[k], e_acute);
		CHECK_REFUSED(text, wants[k]);
	}
}

static void test_start_and_stop_name_the_bad_field(void)
{
	CHECK(fx_ret == 0, "fixture: %s", fx_err);
	CHECK_REFUSED("{\"v\": 1, \"cmd\": \"start\", \"output\": \"/tmp/x.pcap\"}",
		      "request: must be a capture request object");
	CHECK_REFUSED("{\"v\": 1, \"cmd\": \"start\", \"request\": {}}",
		      "output: must name the pcap file");
	CHECK_REFUSED("{\"v\": 1, \"cmd\": \"start\", \"request\": {}, \"output\": \"\"}",
		      "output: must name the pcap file");
	/* Only beneath the agent's output directory, which the message names. */
	CHECK_REFUSED("{\"v\": 1, \"cmd\": \"start\", \"output\": \"/etc/x\","
		      " \"request\": {\"type\": \"full\", \"time_limit\": 10,"
		      " \"system\": \"magic-transit\"}}",
		      "cannot start the capture: output /etc/x: not beneath the agent's output "
		      "directory");
	CHECK_REFUSED("{\"v\": 1, \"cmd\": \"start\", \"output\": \"/tmp/x.pcap\","
		      " \"request\": {\"time_limit\": 301}}",
		      "invalid request: time_limit");
	CHECK_REFUSED("{\"v\": 1, \"cmd\": \"stop\"}", "id: no capture \"(missing)\"");
	CHECK_REFUSED("{\"v\": 1, \"cmd\": \"stop\", \"id\": \"00112233445566778899aabbccddeeff\"}",
		      "id: no capture \"00112233445566778899aabbccddeeff\" runs on this agent");
}

static void test_start_that_cannot_run_leaves_no_file(void)
{
	char start[512], output[128];
	json_t *reply;
	const char *error;
	char got[600];
	int ok;

	CHECK(fx_ret == 0, "fixture: %s", fx_err);
	snprintf(output, sizeof(output), "%s/local.pcap", fx.dir);
	snprintf(start, sizeof(start),
		 "{\"v\": 1, \"cmd\": \"start\", \"output\": \"%s\","
		 " \"request\": {\"type\": \"full\", \"time_limit\": 10,"
		 " \"system\": \"magic-transit\"}}",
		 output);
	/* The request is good; the engine has no interface, so the start fails there. */
	ok = ask(start, &reply, &error);
	snprintf(got, sizeof(got), "%s", error);
	json_decref(reply);
	CHECK(!ok, "started with no interface");
	CHECK_STR_CONTAINS(got, "cannot start the capture: no interface to capture on");
	/* No pcap under its name nor a partial file (".local.pcap.partial...") is left. */
	CHECK(peer_dir_count(fx.dir, "local.pcap") == 0, "%d files named like local.pcap in %s",
	      peer_dir_count(fx.dir, "local.pcap"), fx.dir);
	CHECK(captures_count(fx.caps) == 0, "a capture was left in the table");
}

static void test_status_and_list_answer(void)
{
	json_t *reply, *agg;
	const char *error;

	CHECK(fx_ret == 0, "fixture: %s", fx_err);
	CHECK(ask("{\"v\": 1, \"cmd\": \"status\"}", &reply, &error), "status: %s", error);
	agg = json_object_get(reply, "aggregator");
	CHECK(!strcmp(json_string_value(json_object_get(reply, "host_id")), "edge-test-01"),
	      "host_id");
	CHECK(!strcmp(json_string_value(json_object_get(reply, "colo")), "ord02"), "colo");
	CHECK(!strcmp(json_string_value(json_object_get(reply, "version")), EDGECAP_VERSION),
	      "version");
	CHECK(json_array_size(json_object_get(reply, "interfaces")) == 0, "interfaces");
	CHECK(json_is_array(json_object_get(reply, "captures")) &&
		      json_array_size(json_object_get(reply, "captures")) == 0,
	      "captures");
	CHECK(!strcmp(json_string_value(json_object_get(agg, "control")), fx.cfg.control_url),
	      "aggregator.control");
	CHECK(!strcmp(json_string_value(json_object_get(agg, "data")), fx.cfg.data_url),
	      "aggregator.data");
	CHECK(json_is_false(json_object_get(agg, "connected")), "aggregator.connected");
	CHECK(json_object_get(agg, "control_refused") && json_object_get(agg, "queued_bytes"),
	      "aggregator counters");
	json_decref(reply);

	CHECK(ask("{\"v\": 1, \"cmd\": \"list\"}", &reply, &error), "list: %s", error);
	CHECK(json_is_array(json_object_get(reply, "captures")) &&
		      json_array_size(json_object_get(reply, "captures")) == 0,
	      "list's captures");
	CHECK(json_integer_value(json_object_get(reply, "v")) == LOCAL_CTL_VERSION, "v");
	json_decref(reply);
}

static volatile int pump_stop;

/* The agent's loop for the local socket: poll its descriptor, handle. */
static void *pump(void *arg)
{
	(void)arg;
	while (!pump_stop) {
		struct pollfd pfd = { .fd = local_ctl_recv_fd(fx.local), .events = POLLIN };

		poll(&pfd, 1, 20);
		local_ctl_handle(fx.local);
	}
	return NULL;
}

static void test_socket_is_private_and_answers(void)
{
	pthread_t thr;
	struct stat st;
	char url[sizeof(fx.cfg.local_socket) + 8], *buf;
	const char *text = "{\"v\":1,\"cmd\":\"list\"}";
	nng_socket req;
	nng_msg *msg;
	int n;

	CHECK(fx_ret == 0, "fixture: %s", fx_err);
	CHECK(stat(fx.cfg.local_socket, &st) == 0, "no socket at %s", fx.cfg.local_socket);
	CHECK((st.st_mode & 0777) == 0600, "socket mode %o", st.st_mode & 0777);
	CHECK(nng_req0_open(&req) == 0, "nng_req0_open");
	nng_socket_set_ms(req, NNG_OPT_RECVTIMEO, 2000);
	snprintf(url, sizeof(url), "ipc://%s", fx.cfg.local_socket);
	CHECK(pthread_create(&thr, NULL, pump, NULL) == 0, "pthread_create");
	CHECK(nng_dial(req, url, NULL, 0) == 0, "connect %s", url);
	CHECK(nng_send(req, (void *)text, strlen(text), 0) == 0, "send");
	n = nng_recvmsg(req, &msg, 0);
	pump_stop = 1;
	pthread_join(thr, NULL);
	CHECK(n == 0, "no reply: %s", nng_strerror(n));
	n = (int)nng_msg_len(msg);
	buf = nng_msg_body(msg);
	CHECK(n == (int)strlen("{\"captures\":[],\"v\":1,\"ok\":true}") &&
		      !memcmp(buf, "{\"captures\":[],\"v\":1,\"ok\":true}", (size_t)n),
	      "reply %.*s", n, buf);
	nng_msg_free(msg);
	nng_close(req);
}

/* The socket served again, by the pump, with these bounds. 0 when it is. */
static pthread_t pump_thr;
static int pump_running;

static void pump_halt(void)
{
	if (!pump_running)
		return;
	pump_stop = 1;
	pthread_join(pump_thr, NULL);
	pump_running = 0;
}

static int serve_with(uint64_t max_request, uint32_t max_conns, uint32_t timeout_ms)
{
	pump_halt();
	fx.cfg.local_max_request = max_request;
	fx.cfg.local_max_conns = max_conns;
	fx.cfg.local_timeout_ms = timeout_ms;
	if (fixture_reopen_local(&fx, fx_err, sizeof(fx_err)))
		return -1;
	pump_stop = 0;
	if (pthread_create(&pump_thr, NULL, pump, NULL))
		return -1;
	pump_running = 1;
	return 0;
}

static void sleep_ms(int ms)
{
	struct timespec ts = { .tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000 };

	nanosleep(&ts, NULL);
}

/* A raw connection to the local socket (2 s receive timeout) that has read the server's SP
 * handshake, or -1. */
static int raw_connect(void)
{
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	struct timeval tv = { .tv_sec = 2 };
	char hello[8];
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

	if (strlen(fx.cfg.local_socket) < sizeof(sun.sun_path))
		memcpy(sun.sun_path, fx.cfg.local_socket, strlen(fx.cfg.local_socket) + 1);
	if (fd < 0 || connect(fd, (struct sockaddr *)&sun, sizeof(sun)) ||
	    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)) ||
	    recv(fd, hello, sizeof(hello), MSG_WAITALL) != sizeof(hello)) {
		if (fd >= 0)
			close(fd);
		return -1;
	}
	return fd;
}

/* 1 when the server closed fd (EOF or reset) within 2 s, 0 when it stayed open or answered. */
static int closed_by_server(int fd)
{
	char buf[64];
	ssize_t n = recv(fd, buf, sizeof(buf), 0);

	return n == 0 || (n < 0 && errno == ECONNRESET);
}

/* 1 when fd stays open, with nothing to read, for ms. */
static int stays_open(int fd, int ms)
{
	struct pollfd pfd = { .fd = fd, .events = POLLIN };

	return poll(&pfd, 1, ms) == 0;
}

/* Sends edgecapctl's REQ handshake and a list request padded to len bytes in all (backtrace
 * included): {"v":1,"cmd":"list","pad":"xxx..."}. 0 when sent. */
static int send_request(int fd, size_t len)
{
	static const uint8_t hello[8] = { 0, 'S', 'P', 0, 0, SP_PROTO_REQ, 0, 0 };
	static const char head_json[] = "{\"v\":1,\"cmd\":\"list\",\"pad\":\"";
	size_t body = len - 4, n = 0;
	uint8_t *buf = malloc(8 + 9 + len);
	int ret;

	if (!buf || len < 4 + sizeof(head_json) + 2) {
		free(buf);
		return -1;
	}
	memcpy(buf, hello, 8);
	buf[8] = 1;
	for (int i = 0; i < 8; i++)
		buf[9 + i] = (uint8_t)((uint64_t)len >> (8 * (7 - i)));
	memcpy(buf + 17, "\x80\x00\x00\x01", 4);
	n = 21;
	memcpy(buf + n, head_json, sizeof(head_json) - 1);
	memset(buf + n + sizeof(head_json) - 1, 'x', body - (sizeof(head_json) - 1) - 2);
	memcpy(buf + n + body - 2, "\"}", 2);
	ret = send(fd, buf, 8 + 9 + len, MSG_NOSIGNAL) == (ssize_t)(8 + 9 + len) ? 0 : -1;
	free(buf);
	return ret;
}

/* 1 when a reply (a message of type 1 answering request id 0x80000001) comes within 2 s. */
static int answered(int fd)
{
	uint8_t head[9 + 4];

	return recv(fd, head, sizeof(head), MSG_WAITALL) == (ssize_t)sizeof(head) && head[0] == 1 &&
	       !memcmp(head + 9, "\x80\x00\x00\x01", 4);
}

/* local-max-connections 2: a third connection closes the oldest, and only it. */
static void test_max_connections_is_the_setting(void)
{
	int fds[3];

	CHECK(serve_with(LOCAL_CTL_MAX_REQUEST_DEFAULT, 2, LOCAL_CTL_TIMEOUT_MS_DEFAULT) == 0,
	      "serve: %s", fx_err);
	for (int i = 0; i < 3; i++) {
		fds[i] = raw_connect();
		sleep_ms(20);
	}
	CHECK(fds[0] >= 0 && closed_by_server(fds[0]),
	      "a third connection did not evict the oldest with local-max-connections 2");
	CHECK(fds[1] >= 0 && stays_open(fds[1], 100), "the second connection was closed");
	CHECK(fds[2] >= 0 && stays_open(fds[2], 0), "the newest connection was closed");
	for (int i = 0; i < 3; i++)
		if (fds[i] >= 0)
			close(fds[i]);
}

/* local-max-request 4K: a request of 4 KiB is answered, one of 5000 bytes closes its
 * connection. */
static void test_max_request_is_the_setting(void)
{
	int fd;

	CHECK(serve_with(4096, LOCAL_CTL_MAX_CONNS_DEFAULT, LOCAL_CTL_TIMEOUT_MS_DEFAULT) == 0,
	      "serve: %s", fx_err);
	fd = raw_connect();
	CHECK(fd >= 0 && send_request(fd, 4096) == 0 && answered(fd),
	      "a request of local-max-request bytes was not answered");
	if (fd >= 0)
		close(fd);
	fd = raw_connect();
	CHECK(fd >= 0 && send_request(fd, 5000) == 0 && closed_by_server(fd),
	      "a request over local-max-request 4K was answered");
	if (fd >= 0)
		close(fd);
}

/* local-timeout-ms 200: a request left unfinished is dropped after about 200 ms (the default
 * would keep it 5 s, past closed_by_server's 2 s). */
static void test_timeout_is_the_setting(void)
{
	int fd;

	CHECK(serve_with(LOCAL_CTL_MAX_REQUEST_DEFAULT, LOCAL_CTL_MAX_CONNS_DEFAULT, 200) == 0,
	      "serve: %s", fx_err);
	fd = raw_connect();
	/* The handshake and a head that promises more than comes. */
	CHECK(fd >= 0 && send(fd, "\0SP\0\0\x30\0\0\x01\0\0\0\0\0\0\0\x40", 17, MSG_NOSIGNAL) == 17,
	      "send");
	CHECK(fd >= 0 && stays_open(fd, 50), "closed before local-timeout-ms");
	CHECK(fd >= 0 && closed_by_server(fd),
	      "an unfinished request was kept past local-timeout-ms 200");
	if (fd >= 0)
		close(fd);
	pump_halt();
}

int main(void)
{
	fx_ret = fixture_open(&fx, "ord02", 0, fx_err, sizeof(fx_err));
	RUN(test_malformed_requests_name_what_is_wrong);
	RUN(test_start_and_stop_name_the_bad_field);
	RUN(test_long_utf8_fields_are_answered);
	RUN(test_start_that_cannot_run_leaves_no_file);
	RUN(test_status_and_list_answer);
	RUN(test_socket_is_private_and_answers);
	RUN(test_max_connections_is_the_setting);
	RUN(test_max_request_is_the_setting);
	RUN(test_timeout_is_the_setting);
	pump_halt();
	fixture_close(&fx);
	return TEST_SUMMARY();
}
