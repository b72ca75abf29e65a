// SPDX-License-Identifier: BSD-2-Clause
/*
 * bench_manifest.c: the cost of agents' reports to a capture's manifest (store_update_agent),
 * as the ingest makes them when N hosts are first heard of: every report written at once
 * (--manifest-interval-ms 0, the old behaviour: the manifest grows with each host, so the work
 * is quadratic) against the default debounce (1000 ms), in the same run. Prints the wall time of
 * each and their ratio; no pass or fail.
 *
 *   bench_manifest [HOSTS]   (default 2000)
 */
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "request.h"
#include "store.h"

static int rm_one(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
	(void)sb;
	(void)flag;
	(void)ftw;
	return remove(path);
}

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Seconds for hosts first reports to one running capture, with the given interval; <0: error. */
static double run(unsigned int hosts, uint32_t interval_ms)
{
	static const char body[] = "{\"filter_v1\": {}, \"time_limit\": 60, \"packet_limit\": 10, "
				   "\"type\": \"simple\", \"system\": \"magic-transit\"}";
	char dir[] = "/tmp/edgecap-bench-manifest-XXXXXX", err[512], host[64];
	struct store_opts o = { .grace_s = 5 };
	struct capture_request req;
	struct capture_rec rec;
	struct store *st = NULL;
	double t0, t = -1;
	json_t *info;
	unsigned int i;

	if (!mkdtemp(dir))
		return -1;
	o.state_dir = dir;
	o.manifest_interval_ms = interval_ms;
	info = json_pack("{s:s, s:b, s:i, s:i, s:i}", "colo", "ORD", "accepted", 1,
			 "batches_received", 1, "records_received", 64, "highest_seq", 1);
	if (!info || store_open(&o, &st, err, sizeof(err)) ||
	    request_from_json(body, strlen(body), REQ_SCOPE_API, &req, err, sizeof(err)) ||
	    store_create(st, "acct", &req, false, store_now_us(), &rec, NULL, err, sizeof(err)) ||
	    store_mark_running(st, rec.id, store_now_us()))
		goto out;
	t0 = now_s();
	for (i = 0; i < hosts; i++) {
		snprintf(host, sizeof(host), "edge-%05u.example.net", i);
		if (store_update_agent(st, rec.id, host, info))
			goto out;
	}
	store_close(st); /* writes what the debounce held back: counted */
	st = NULL;
	t = now_s() - t0;
out:
	if (t < 0)
		fprintf(stderr, "bench_manifest: %s\n", err);
	store_close(st);
	json_decref(info);
	nftw(dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
	return t;
}

int main(int argc, char **argv)
{
	unsigned int hosts = argc > 1 ? (unsigned int)strtoul(argv[1], NULL, 10) : 2000;
	double every, debounced;

	every = run(hosts, 0);
	debounced = run(hosts, STORE_MANIFEST_INTERVAL_MS_DEFAULT);
	if (every < 0 || debounced < 0)
		return 1;
	printf("| hosts | every report written | debounced (%u ms) | ratio |\n",
	       STORE_MANIFEST_INTERVAL_MS_DEFAULT);
	printf("|---|---|---|---|\n");
	printf("| %u | %.3f s | %.3f s | %.0fx |\n", hosts, every, debounced,
	       debounced > 0 ? every / debounced : 0.0);
	return 0;
}
