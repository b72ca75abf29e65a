// SPDX-License-Identifier: BSD-2-Clause
/*
 * test_engine.c: the capture engine (engine/engine.c) on the real capture object, attached to
 * the lo of a private network namespace, with records made by BPF_PROG_TEST_RUN of the attached
 * program. What only the engine and the kernel together decide lives here:
 *   - the kernel wakes the drain once per drain when the ring passes its watermark, and the
 *     engine re-arms that wake-up after every drain (without it the drain would run on its
 *     timer alone and a fast stream would overflow the ring between two ticks);
 *   - every record the kernel wrote reaches the capture's sink, in timestamp order.
 */
#include <errno.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <unistd.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "capture_abi.h"
#include "capture.skel.h"
#include "engine.h"
#include "testing.h"

#define RING_BYTES (64 * 1024) /* the engine wakes at a quarter: 16 KiB */
#define FRAME_LEN  64

struct sink {
	uint64_t records;
	uint64_t last_ts;
	uint64_t out_of_order;
};

static int sink_record(void *ctx, const struct ec_record *rec, const uint8_t *data,
		       uint32_t cap_len)
{
	struct sink *s = ctx;

	(void)data;
	(void)cap_len;
	if (rec->tstamp_ns < s->last_ts)
		s->out_of_order++;
	s->last_ts = rec->tstamp_ns;
	s->records++;
	return 0;
}

/* n records through the attached XDP program, as n packets arriving on lo would make. */
static int make_records(struct engine *e, unsigned int n)
{
	uint8_t frame[FRAME_LEN] = { 0 };
	LIBBPF_OPTS(bpf_test_run_opts, opts, .data_in = frame, .data_size_in = sizeof(frame),
		    .repeat = n);
	const struct capture_obj *obj = engine_iface(e, 0);

	frame[12] = 0x08; /* IPv4 ethertype; the rest does not matter to an empty filter */
	return bpf_prog_test_run_opts(bpf_program__fd(obj->skel->progs.edgecap_xdp), &opts);
}

/* Whether the engine's descriptor is readable now: a wake-up is pending. */
static int woken(struct engine *e)
{
	struct epoll_event ev;
	int ep = epoll_create1(EPOLL_CLOEXEC), n;

	/* A fresh epoll instance: no level-triggered leftovers of an earlier wait. */
	if (ep < 0)
		return -errno;
	ev.events = EPOLLIN;
	ev.data.u32 = 0;
	if (epoll_ctl(ep, EPOLL_CTL_ADD, engine_epoll_fd(e), &ev)) {
		close(ep);
		return -errno;
	}
	n = epoll_wait(ep, &ev, 1, 0);
	close(ep);
	return n;
}

static void test_watermark_wakes_once_per_drain(void)
{
	struct engine_opts o;
	struct capture_params p = { .sample_rate = 1, .snaplen = FRAME_LEN };
	struct capture_stats st;
	struct capture *c = NULL;
	struct engine *e = NULL;
	struct sink s = { 0 };
	char err[256] = "";
	uint32_t per_record, k;
	int ret;

	engine_opts_default(&o);
	o.ring_bytes = RING_BYTES;
	o.reorder_ns = 0;
	ret = engine_new(&o, &e);
	CHECK(ret == 0, "engine_new: %s", strerror(-ret));
	ret = engine_add_iface(e, "lo", EC_HOOK_XDP, XDP_MODE_SKB, err, sizeof(err));
	if (ret)
		engine_free(e);
	CHECK(ret == 0, "engine_add_iface(lo): %s", err);
	ret = capture_start(e, &p, sink_record, &s, &c, err, sizeof(err));
	if (ret)
		engine_free(e);
	CHECK(ret == 0, "capture_start: %s", err);

	per_record = BPF_RINGBUF_HDR_SZ + sizeof(struct ec_record) + ec_record_room(FRAME_LEN);
	k = (RING_BYTES / 4 + per_record - 1) / per_record; /* the k-th record reaches the mark */

	ret = make_records(e, k - 1);
	if (!ret && (ret = woken(e)) != 0)
		ret = ret > 0 ? -EAGAIN : ret;
	if (ret)
		engine_free(e);
	CHECK(ret == 0, "below the watermark the drain sleeps (%d)", ret);

	ret = make_records(e, 1);
	if (!ret)
		ret = woken(e) == 1 ? 0 : -EAGAIN;
	if (ret)
		engine_free(e);
	CHECK(ret == 0, "record %u reaches the watermark: the drain is woken", k);

	/* Past the mark, more records do not wake it again before it drains... */
	engine_poll(e);
	ret = woken(e);
	if (ret)
		engine_free(e);
	CHECK(ret == 0, "drained: nothing pending (%d)", ret);

	/* ...and after the drain the next crossing does: the engine re-armed the wake-up. */
	ret = make_records(e, k);
	if (!ret)
		ret = woken(e) == 1 ? 0 : -EAGAIN;
	if (ret)
		engine_free(e);
	CHECK(ret == 0, "after a drain, the next %u records wake the drain again", k);

	capture_finish(c, &st);
	engine_free(e);
	CHECK_EQ_U64(s.records, 2 * k, "records handed to the sink");
	CHECK_EQ_U64(st.kernel.submitted, 2 * k, "records the kernel submitted");
	CHECK_EQ_U64(st.kernel.ring_full, 0, "ring_full");
	CHECK_EQ_U64(s.out_of_order, 0, "records out of timestamp order");
}

int main(void)
{
	if (geteuid() != 0) {
		SKIP_ALL("the engine tests need root to attach and test-run BPF programs");
		return TEST_SUMMARY();
	}
	/* A private lo: nothing of the host's traffic meets the program. */
	if (unshare(CLONE_NEWNET)) {
		fprintf(stderr, "unshare(CLONE_NEWNET): %s\n", strerror(errno));
		return 1;
	}
	RUN(test_watermark_wakes_once_per_drain);
	return TEST_SUMMARY();
}
