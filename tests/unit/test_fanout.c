// SPDX-License-Identifier: BSD-2-Clause
/*
 * test_fanout.c: the aggregator's control plane (aggregator/fanout.h) against a peer the test
 * plays: a raw RESPONDENT, which can send what a cooked one never would, several replies to
 * one survey. A start survey counts one answer per host: a host that answers again and again
 * neither appears twice nor crowds the other hosts' answers out (FANOUT_MAX_AGENTS of them
 * once filled the list, and the capture went on without the hosts that answered after).
 * Over ipc:// in a fresh directory, without a CA (replies need no proof here).
 */
#include <errno.h>
#include <string.h>
#include <time.h>
#include <nng/nng.h>
#include <nng/protocol/survey0/respond.h>

#include "fanout.h"
#include "request.h"
#include "sp_peer.h"
#include "testing.h"

static const char capture_hex[] = "00112233445566778899aabbccddeeff";

static struct fanout_answer got[FANOUT_MAX_AGENTS + 8];
static size_t n_got;
static int n_started;

static void on_started(void *ctx, const char *id, const struct fanout_answer *answers, size_t n)
{
	(void)ctx;
	(void)id;
	n_started++;
	n_got = n < FANOUT_MAX_AGENTS ? n : FANOUT_MAX_AGENTS;
	memcpy(got, answers, n_got * sizeof(*answers));
}

static uint64_t mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* Sends host's start reply to the survey msg (raw: its backtrace header copied). */
static int reply(nng_socket s, const nng_msg *survey, uint64_t id, const char *host)
{
	struct ctl_msg *r = calloc(1, sizeof(*r));
	char err[256], *text = NULL;
	nng_msg *m = NULL;
	size_t len;
	int ret;

	if (!r)
		return -ENOMEM;
	ctl_msg_init(r, CTL_START_REPLY, id);
	snprintf(r->host_id, sizeof(r->host_id), "%s", host);
	snprintf(r->agent_version, sizeof(r->agent_version), "test");
	snprintf(r->capture_id, sizeof(r->capture_id), "%s", capture_hex);
	r->accepted = true;
	ret = ctl_encode(r, &text, &len, err, sizeof(err));
	free(r);
	if (ret)
		return ret;
	ret = nng_msg_alloc(&m, 0);
	if (!ret)
		ret = nng_msg_header_append(m, nng_msg_header((nng_msg *)survey),
					    nng_msg_header_len(survey));
	if (!ret)
		ret = nng_msg_append(m, text, len);
	if (!ret)
		ret = nng_sendmsg(s, m, 0);
	if (ret && m)
		nng_msg_free(m);
	free(text);
	return ret ? -EIO : 0;
}

static void test_one_answer_per_host_per_survey(void)
{
	struct fanout_events ev = { .started = on_started };
	const char *json = "{\"filter_v1\": {}, \"time_limit\": 60, \"packet_limit\": 10, "
			   "\"type\": \"simple\", \"system\": \"magic-transit\"}";
	char dir[128], url[256], err[512], host[32];
	struct capture_rec rec = { 0 };
	struct fanout *f = NULL;
	struct ctl_msg *m = NULL;
	nng_socket s = NNG_SOCKET_INITIALIZER;
	nng_msg *survey = NULL;
	uint64_t now = 1000000, end;
	size_t i, a = 0, b = 0, c = 0;
	int ret, k;

	peer_tmpdir(dir, sizeof(dir));
	CHECK(dir[0], "no temporary directory");
	snprintf(url, sizeof(url), "ipc://%s/control", dir);
	CHECK(request_from_json(json, strlen(json), REQ_SCOPE_API, &rec.req, err, sizeof(err)) == 0,
	      "request: %s", err);
	snprintf(rec.id, sizeof(rec.id), "%s", capture_hex);
	/* A long survey: it ends when the test says (now), not on NNG's clock. */
	ret = fanout_open(url, NULL, 10000, 3600 * 1000, &ev, &f, err, sizeof(err));
	CHECK(ret == 0, "fanout_open: %s", err);
	ret = nng_respondent0_open_raw(&s);
	if (!ret)
		ret = nng_socket_set_ms(s, NNG_OPT_RECVTIMEO, 5000);
	if (!ret)
		ret = nng_dial(s, url, NULL, 0);
	CHECK(ret == 0, "raw respondent: %s", nng_strerror(ret));
	/* The status survey goes first (none was due yet); then the start. */
	usleep(200 * 1000);
	CHECK(fanout_start(f, &rec) == 0, "fanout_start");
	fanout_handle(f, now);
	CHECK(fanout_busy(f), "no survey went out");
	ret = nng_recvmsg(s, &survey, 0);
	CHECK(ret == 0, "no survey reached the respondent: %s", nng_strerror(ret));
	m = calloc(1, sizeof(*m));
	CHECK(m && ctl_decode(nng_msg_body(survey), nng_msg_len(survey), m, err, sizeof(err)) == 0,
	      "survey: %s", err);
	CHECK(m->type == CTL_START, "a %s survey, want start", ctl_type_name(m->type));
	/*
	 * One host answers FANOUT_MAX_AGENTS + 4 times, then two others once each. Read as they
	 * come, a few at a time: NNG's own queue (which drops what overflows it) is not the
	 * point here.
	 */
	for (k = 0; k < FANOUT_MAX_AGENTS + 4 && !ret; k++) {
		ret = reply(s, survey, m->id, "host-a");
		if (k % 4 == 3) {
			usleep(2 * 1000);
			fanout_handle(f, now);
		}
	}
	if (!ret)
		ret = reply(s, survey, m->id, "host-b");
	if (!ret)
		ret = reply(s, survey, m->id, "host-c");
	CHECK(ret == 0, "replies not sent");
	/* Read while the survey is open (fake time stands still), then end it. */
	for (end = mono_ms() + 1500; mono_ms() < end;) {
		fanout_handle(f, now);
		usleep(20 * 1000);
	}
	fanout_handle(f, now + 20000);
	CHECK(n_started == 1, "started %d times", n_started);
	for (i = 0; i < n_got; i++) {
		snprintf(host, sizeof(host), "%s", got[i].host_id);
		a += !strcmp(host, "host-a");
		b += !strcmp(host, "host-b");
		c += !strcmp(host, "host-c");
	}
	CHECK(a == 1 && b == 1 && c == 1,
	      "%zu answers: host-a %zu times, host-b %zu, host-c %zu (want once each)", n_got, a, b,
	      c);
	nng_msg_free(survey);
	free(m);
	nng_close(s);
	fanout_close(f);
	peer_tmpdir_remove(dir);
}

int main(void)
{
	RUN(test_one_answer_per_host_per_survey);
	return TEST_SUMMARY();
}
