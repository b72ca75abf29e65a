// SPDX-License-Identifier: BSD-2-Clause
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>

#include "local_ops.h"
#include "log.h"
#include "pcap_writer.h"
#include "safefile.h"

static int no_fanout_start(void *ctx, const struct capture_rec *c)
{
	int ret;

	ret = store_mark_failed(ctx, c->id,
				NO_AGENT_MESSAGE " (this aggregator has no agent connections)",
				store_now_us());
	return ret == -EALREADY ? 0 : ret;
}

static int no_fanout_stop(void *ctx, const struct capture_rec *c)
{
	(void)ctx;
	(void)c;
	return 0;
}

static int no_fanout_expire(void *ctx, const struct capture_rec *c)
{
	int ret;

	ret = store_mark_failed(ctx, c->id, NO_AGENT_MESSAGE, store_now_us());
	return ret == -EALREADY ? 0 : ret;
}

const struct capture_ops no_fanout_ops = {
	.start = no_fanout_start,
	.stop = no_fanout_stop,
	.expire = no_fanout_expire,
};

static int no_agents_start(void *ctx, const struct capture_rec *c)
{
	int ret;

	ret = store_mark_running(ctx, c->id, store_now_us());
	return ret == -EALREADY ? 0 : ret;
}

/* Ends a capture with what no agent sent: an empty but valid pcap for a simple capture. */
static int no_agents_finish(struct store *s, const struct capture_rec *c, const char *reason)
{
	struct pcap_writer *w = NULL;
	char path[PATH_MAX], err[PATH_MAX + 64] = "state path too long";
	int ret;

	if (c->req.type == CAPTURE_SIMPLE) {
		ret = store_pcap_path(s, c->id, path, sizeof(path));
		if (!ret)
			/* 0640, as every pcap the aggregator writes (not 0666 less the umask). */
			ret = pcap_writer_open_at(AT_FDCWD, path, SAFE_FILE_MODE,
						  request_snaplen(&c->req), &w, err, sizeof(err));
		if (!ret)
			ret = pcap_writer_close(w, true);
		if (ret) {
			pr_err("capture %s: failed to write its pcap: %s capture=%s", c->id, err,
			       c->id);
			return ret;
		}
	}
	if (c->req.type == CAPTURE_FULL)
		ret = store_mark_conversion(s, c->id, CAPTURE_CONVERSION_PENDING, reason,
					    store_now_us());
	else
		ret = store_mark_success(s, c->id, reason, store_now_us());
	return ret == -EALREADY ? 0 : ret;
}

static int no_agents_stop(void *ctx, const struct capture_rec *c)
{
	/*
	 * Like a real stop, it ends at the store's deadline (stop + grace), when agents' final
	 * reports would be in: the lifecycle the API shows is the same with and without agents.
	 */
	(void)ctx;
	(void)c;
	return 0;
}

static int no_agents_expire(void *ctx, const struct capture_rec *c)
{
	return no_agents_finish(ctx, c, c->stop_requested_us ? "stopped" : "time_limit");
}

const struct capture_ops no_agents_ops = {
	.start = no_agents_start,
	.stop = no_agents_stop,
	.expire = no_agents_expire,
};
