// SPDX-License-Identifier: BSD-2-Clause
/*
 * test_redial.c: common/redial.h, an agent link's dialer kept dialling. NNG 1.5.2's dialer stops
 * for good once a connection fails with NNG_ECLOSED (sp_fault.h makes that happen on demand: one
 * SP header write failing with EPIPE); redial_tick replaces it once the socket has had no
 * connection for REDIAL_STALL_MS, and never sooner, and never while connected. The stall is
 * passed as a clock value (redial_tick's now_ms), so no test waits for it.
 */
#include <unistd.h>
#include <nng/nng.h>
#include <nng/protocol/pipeline0/pull.h>
#include <nng/protocol/pipeline0/push.h>

#include "redial.h"
#include "sp_fault.h"
#include "sp_peer.h"
#include "testing.h"

/* Waits up to ms for r's socket to have a connection; whether it has one. */
static int wait_connected(const struct redial *r, int ms)
{
	for (; ms > 0; ms -= 10) {
		if (redial_connections(r) > 0)
			return 1;
		usleep(10000);
	}
	return redial_connections(r) > 0;
}

/* One message from push reaches pull. */
static int delivers(nng_socket push, struct peer *pull)
{
	char *buf = NULL;
	size_t len = 0;
	int ok;

	if (nng_send(push, "hello", 5, 0))
		return 0;
	if (nng_recv(pull->sock, &buf, &len, NNG_FLAG_ALLOC)) {
		nng_stat *st;
		nng_stats_get(&st);
		nng_stats_dump(st);
		return 0;
	}
	ok = len == 5 && !memcmp(buf, "hello", 5);
	nng_free(buf, len);
	return ok;
}

/*
 * A new temporary directory (dir), a PULL peer bound in it at url and a PUSH socket to dial it
 * (push); url says what failed.
 */
static int link_up(char *dir, size_t dirlen, char *url, size_t urllen, struct peer *pull,
		   nng_socket *push)
{
	peer_tmpdir(dir, dirlen);
	if (!dir[0]) {
		snprintf(url, urllen, "no temporary directory");
		return -1;
	}
	if (peer_bind(pull, nng_pull0_open, dir, "data.sock", url, urllen))
		return -1;
	if (nng_push0_open(push)) {
		peer_close(pull);
		snprintf(url, urllen, "nng_push0_open failed");
		return -1;
	}
	return 0;
}

static void test_dialer_that_gave_up_is_replaced_after_the_stall(void)
{
	char dir[64], url[128], err[256];
	struct redial *r = NULL;
	struct peer pull;
	nng_socket push;
	nng_dialer first;
	uint64_t t0;

	CHECK(link_up(dir, sizeof(dir), url, sizeof(url), &pull, &push) == 0, "no link: %s", url);
	nng_socket_set_ms(push, NNG_OPT_SENDTIMEO, 2000);
	atomic_store(&sp_fault_hits, 0);
	sp_fault_header(SP_FAULT_PUSH0);
	t0 = sp_now_ms();
	CHECK(redial_open(push, url, NULL, &r, err, sizeof(err)) == 0, "redial_open: %s", err);
	first = redial_dialer(r);
	/* NNG's own back-off is 100 ms: a dialer still trying would be back within a second. */
	CHECK(!wait_connected(r, 1500), "connected although the SP header failed");
	CHECK_EQ_U64(atomic_load(&sp_fault_hits), 1, "SP headers failed with EPIPE");
	CHECK(redial_tick(r, t0 + REDIAL_STALL_MS - 1) == 0,
	      "replaced the dialer before REDIAL_STALL_MS without a connection");
	CHECK(redial_tick(r, sp_now_ms() + REDIAL_STALL_MS) == 1,
	      "did not replace the dialer after REDIAL_STALL_MS without a connection");
	CHECK(nng_dialer_id(redial_dialer(r)) != nng_dialer_id(first), "the same dialer");
	CHECK_EQ_U64(redial_replaced(r), 1, "dialers replaced");
	CHECK(wait_connected(r, 2000), "the fresh dialer did not connect within 2 s");
	CHECK(delivers(push, &pull), "no message through the fresh dialer");
	nng_close(push);
	redial_free(r);
	peer_close(&pull);
	peer_tmpdir_remove(dir);
}

static void test_connected_link_is_left_alone(void)
{
	char dir[64], url[128], err[256];
	struct redial *r = NULL;
	struct peer pull;
	nng_socket push;
	nng_dialer first;

	CHECK(link_up(dir, sizeof(dir), url, sizeof(url), &pull, &push) == 0, "no link: %s", url);
	CHECK(redial_open(push, url, NULL, &r, err, sizeof(err)) == 0, "redial_open: %s", err);
	first = redial_dialer(r);
	CHECK(wait_connected(r, 2000), "never connected");
	CHECK(redial_tick(r, sp_now_ms() + 10 * REDIAL_STALL_MS) == 0,
	      "replaced the dialer of a connected link");
	CHECK(nng_dialer_id(redial_dialer(r)) == nng_dialer_id(first), "the dialer changed");
	CHECK_EQ_U64(redial_connections(r), 1, "connections");
	nng_close(push);
	redial_free(r);
	peer_close(&pull);
	peer_tmpdir_remove(dir);
}

/* The stall counts from the moment the last connection went, not from when the dialer started. */
static void test_stall_counts_from_the_lost_connection(void)
{
	char dir[64], url[128], err[256];
	struct redial *r = NULL;
	struct peer pull;
	nng_socket push;
	uint64_t t_lost;

	CHECK(link_up(dir, sizeof(dir), url, sizeof(url), &pull, &push) == 0, "no link: %s", url);
	CHECK(redial_open(push, url, NULL, &r, err, sizeof(err)) == 0, "redial_open: %s", err);
	CHECK(wait_connected(r, 2000), "never connected");
	usleep(200000);
	t_lost = sp_now_ms();
	peer_close(&pull);
	for (int i = 0; i < 200 && redial_connections(r) > 0; i++)
		usleep(10000);
	CHECK_EQ_U64(redial_connections(r), 0, "connections after the peer closed");
	CHECK(redial_tick(r, t_lost + REDIAL_STALL_MS - 1) == 0,
	      "replaced the dialer less than REDIAL_STALL_MS after the connection went");
	CHECK(redial_tick(r, sp_now_ms() + REDIAL_STALL_MS) == 1,
	      "did not replace the dialer REDIAL_STALL_MS after the connection went");
	nng_close(push);
	redial_free(r);
	peer_tmpdir_remove(dir);
}

static void test_open_failure_names_the_url(void)
{
	struct redial *r = NULL;
	char err[256] = "";
	nng_socket push;

	CHECK(nng_push0_open(&push) == 0, "nng_push0_open");
	CHECK(redial_open(push, "bogus://nowhere", NULL, &r, err, sizeof(err)) < 0,
	      "a URL NNG has no transport for was taken");
	CHECK(strstr(err, "bogus://nowhere") != NULL, "the error does not name the URL: %s", err);
	CHECK(r == NULL, "a link was returned on failure");
	nng_close(push);
}

int main(void)
{
	RUN(test_dialer_that_gave_up_is_replaced_after_the_stall);
	RUN(test_connected_link_is_left_alone);
	RUN(test_stall_counts_from_the_lost_connection);
	RUN(test_open_failure_names_the_url);
	return TEST_SUMMARY();
}
