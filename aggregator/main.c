// SPDX-License-Identifier: BSD-2-Clause
/*
 * main.c: edgecap-aggregator. Two threads: libmicrohttpd's, serving the API (api.c), and this
 * one, which runs the loop below: the store's lifecycle timer (store_tick), SIGINT/SIGTERM
 * (stop) and SIGHUP (re-read the credentials file and the configuration) through a signalfd,
 * the capture lifecycle's NNG sockets (lifecycle.c: fan-out and ingest), systemd's READY=1,
 * WATCHDOG=1 and STOPPING=1 (notify.h; EXTEND_TIMEOUT_USEC while a long start loads the state
 * directory), and the operator's housekeeping: the --metrics listener (served from this loop,
 * metrics.c), retention (--retention-days and --retention-captures) and the agent registry's
 * snapshot for the API. The two threads share the store (store.c), the API's credentials
 * (credentials.c) and obs.c (liveness, agents, answer counts), each with its own lock.
 */
#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include "api.h"
#include "api_tls.h"
#include "config.h"
#include "credentials.h"
#include "fanout.h"
#include "lifecycle.h"
#include "log.h"
#include "metrics.h"
#include "metrics_http.h"
#include "notify.h"
#include "obs.h"
#include "ownership.h"
#include "sigfd.h"
#include "s3.h"
#include "store.h"
#include "uploader.h"

/* Longest the loop sleeps without a deadline: a bound on any clock surprise. */
#define LOOP_MAX_SLEEP_MS 1000
#define MAX_POLL_FDS	  16
/* How often the agent registry is published for the API's listing (obs.h). */
#define PUBLISH_EVERY_US (1000 * 1000ULL)
/* How often retention looks for captures past --retention-days or --retention-captures. */
#define RETAIN_EVERY_US (3600 * 1000000ULL)
#define US_PER_DAY	(86400 * 1000000ULL)

static int poll_timeout_ms(uint64_t next_us, uint64_t now_us)
{
	uint64_t ms;

	if (next_us <= now_us)
		return 0;
	ms = (next_us - now_us + 999) / 1000;
	return ms > LOOP_MAX_SLEEP_MS ? LOOP_MAX_SLEEP_MS : (int)ms;
}

/*
 * SIGHUP: the credentials file again, and the command line and config file for what else
 * changed: verbose and the retention rules apply, the rest is named as read at start only
 * (agg_config_reload). The design's "SIGHUP re-reads what can change safely and says what it
 * ignored".
 */
static void reload(struct agg_config *cfg, struct credentials *creds, struct api_tls *tls)
{
	char err[PATH_MAX + 512];
	size_t n = 0;
	int ret;

	agg_config_reload(cfg);
	/* The HTTPS certificate and key, from the files named at start: renewed in place. */
	if (tls) {
		ret = api_tls_reload(tls, cfg->http_tls_cert, cfg->http_tls_key, err, sizeof(err));
		if (ret < 0)
			pr_err("SIGHUP: keeping the API's certificate and key: %s", err);
		else if (ret)
			pr_info("SIGHUP: reloaded --http-tls-cert %s and --http-tls-key %s: new "
				"connections get the certificate valid until %s%s%s",
				cfg->http_tls_cert, cfg->http_tls_key, api_tls_not_after(tls),
				api_tls_expired(tls) ? " (expired already)" : "",
				ret == 2 ? " (a pair served before)" : "");
		else
			pr_info("SIGHUP: --http-tls-cert and --http-tls-key unchanged");
	}
	if (credentials_reload(creds, &n, err, sizeof(err))) {
		pr_err("SIGHUP: keeping the credentials loaded before: cannot reload --credentials "
		       "%s",
		       err);
		return;
	}
	if (!n)
		pr_warn("SIGHUP: reloaded --credentials %s: it has no credential, every API "
			"request is now refused (401)",
			credentials_path(creds));
	else
		pr_info("SIGHUP: reloaded --credentials %s: %zu credential%s",
			credentials_path(creds), n, n == 1 ? "" : "s");
}

/* What the main loop keeps for the operator: liveness, the agent listing, metrics, retention. */
struct housekeeping {
	const struct agg_config *cfg;
	struct obs *obs;
	struct metrics_http *metrics; /* NULL without --metrics */
	struct agg_metrics_src msrc;
	uint64_t next_publish_us, next_retain_us;
};

static void retain(struct housekeeping *hk, uint64_t now_us)
{
	size_t n = 0;
	int ret;

	hk->next_retain_us = now_us + RETAIN_EVERY_US;
	if (!hk->cfg->retention_days && !hk->cfg->retention_captures)
		return;
	ret = store_retain(hk->msrc.store, now_us, hk->cfg->retention_days * US_PER_DAY,
			   hk->cfg->retention_captures, &n);
	hk->msrc.retention_removed += n;
	if (n && hk->cfg->retention_days && hk->cfg->retention_captures)
		pr_info("retention: removed %zu capture%s finished more than %u days ago or past "
			"their account's newest %u",
			n, n == 1 ? "" : "s", hk->cfg->retention_days, hk->cfg->retention_captures);
	else if (n && hk->cfg->retention_days)
		pr_info("retention: removed %zu capture%s finished more than %u days ago", n,
			n == 1 ? "" : "s", hk->cfg->retention_days);
	else if (n)
		pr_info("retention: removed %zu capture%s past their account's newest %u", n,
			n == 1 ? "" : "s", hk->cfg->retention_captures);
	if (ret)
		pr_warn("retention: %s (the records are gone; the files are tried again at the "
			"next start)",
			strerror(-ret));
}

/* Every pass of the loop: beat, and what is due of publishing and retention. */
static void housekeep(struct housekeeping *hk, uint64_t now_us)
{
	obs_heartbeat(hk->obs, now_us);
	if (now_us >= hk->next_publish_us) {
		hk->next_publish_us = now_us + PUBLISH_EVERY_US;
		if (hk->msrc.lc->fanout)
			obs_publish_agents(hk->obs, fanout_agents_json(hk->msrc.lc->fanout));
	}
	if (now_us >= hk->next_retain_us)
		retain(hk, now_us);
	if (hk->metrics)
		metrics_http_handle(hk->metrics);
}

/*
 * The start with many captures kept: store_open reads every manifest (hundreds of thousands, with
 * retention-captures and many accounts; minutes on a cold disk). systemd's start timeout (90 s
 * by default) is extended as it goes, its status says how far, and so does the log every
 * LOAD_LOG_EVERY_US.
 */
#define LOAD_EXTEND_US	  (30 * 1000 * 1000ULL)
#define LOAD_LOG_EVERY_US (10 * 1000 * 1000ULL)

struct load_watch {
	uint64_t start_us, logged_us;
};

static void load_progress(void *ctx, size_t read)
{
	struct load_watch *w = ctx;
	uint64_t now = store_now_us();
	char status[96];

	snprintf(status, sizeof(status), "loading the state directory: %zu captures read", read);
	notify_extend_timeout(LOAD_EXTEND_US, status);
	if (now >= w->logged_us + LOAD_LOG_EVERY_US) {
		pr_info("%s", status);
		w->logged_us = now;
	}
}

static int run(struct agg_config *cfg, struct store *store, struct lifecycle *lc,
	       struct credentials *creds, struct api_tls *tls, int sfd, struct notify *sd,
	       struct housekeeping *hk)
{
	const struct capture_ops *ops = lifecycle_ops(lc);
	void *ops_ctx = lifecycle_ops_ctx(lc);
	struct pollfd fds[MAX_POLL_FDS];
	struct signalfd_siginfo si;
	uint64_t now, next = 0;
	int n, extra, ret, timeout;

	for (;;) {
		now = store_now_us();
		if (store_tick(store, now, ops, ops_ctx, &next))
			next = now + 100 * 1000; /* out of memory: try again soon */
		housekeep(hk, now);

		fds[0] = (struct pollfd){ .fd = sfd, .events = POLLIN };
		fds[1] = (struct pollfd){ .fd = store_wake_fd(store), .events = POLLIN };
		extra = lifecycle_poll_fds(lc, fds + 2, MAX_POLL_FDS - 3);
		timeout = poll_timeout_ms(next, store_now_us());
		if (lifecycle_timeout_ms(lc, store_now_us()) < timeout)
			timeout = lifecycle_timeout_ms(lc, store_now_us());
		if (hk->metrics) {
			fds[2 + extra++] = (struct pollfd){ .fd = metrics_http_fd(hk->metrics),
							    .events = POLLIN };
			timeout = metrics_http_timeout_ms(hk->metrics, timeout);
		}
		timeout = notify_timeout_ms(sd, timeout);
		n = poll(fds, (nfds_t)(2 + extra), timeout);
		notify_tick(sd);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			ret = -errno;
			pr_err("poll failed: %s", strerror(errno));
			return ret;
		}
		if (fds[0].revents & POLLIN) {
			if (read(sfd, &si, sizeof(si)) != sizeof(si))
				continue;
			if (si.ssi_signo == SIGHUP) {
				uint32_t days = cfg->retention_days, kept = cfg->retention_captures;

				reload(cfg, creds, tls);
				/* A changed rule applies now, not at the next hourly pass. */
				if (cfg->retention_days != days || cfg->retention_captures != kept)
					hk->next_retain_us = 0;
				continue;
			}
			pr_info("%s: shutting down", strsignal((int)si.ssi_signo));
			notify_stopping("shutting down");
			return 0;
		}
		/* The wake-up eventfd is drained by store_tick at the top of the loop. */
		ret = lifecycle_handle(lc, store_now_us());
		if (ret)
			return ret;
	}
}

/*
 * Descriptors: the soft limit raised to the hard one (the unit sets LimitNOFILE=65536). A full
 * capture holds one file per host (--max-capture-hosts), the API up to --http-max-connections,
 * and each agent a control and a data connection: a limit below that is named at start, so
 * that running out (EMFILE) is not the first sign of it.
 */
static void nofile_check(const struct agg_config *cfg)
{
	uint64_t need = (uint64_t)cfg->max_capture_hosts * 3 + cfg->http_max_conns + 256;
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl))
		return;
	if (rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		if (setrlimit(RLIMIT_NOFILE, &rl))
			getrlimit(RLIMIT_NOFILE, &rl);
	}
	if (rl.rlim_cur != RLIM_INFINITY && rl.rlim_cur < need)
		pr_warn("the descriptor limit is %llu: --max-capture-hosts %u (a file and two "
			"connections each) and --http-max-connections %u need about %llu; raise "
			"LimitNOFILE (ulimit -n) or lower them",
			(unsigned long long)rl.rlim_cur, cfg->max_capture_hosts,
			cfg->http_max_conns, (unsigned long long)need);
}

/*
 * The object stores' settings and keys (s3.h). Keys are needed only when a bucket may be
 * written: without --s3-allow-bucket, none is looked for.
 */
static int s3_setup(const struct agg_config *cfg, struct s3_client *cl)
{
	char err[PATH_MAX + 256];
	int ret;

	memset(cl, 0, sizeof(*cl));
	snprintf(cl->s3.endpoint, sizeof(cl->s3.endpoint), "%s", cfg->s3_endpoint);
	snprintf(cl->s3.region, sizeof(cl->s3.region), "%s", cfg->s3_region);
	snprintf(cl->gs.endpoint, sizeof(cl->gs.endpoint), "%s", cfg->gs_endpoint);
	if (!cfg->n_buckets)
		return 0;
	if (cfg->s3_credentials[0]) {
		ret = s3_creds_load(cfg->s3_credentials, &cl->s3.creds, err, sizeof(err));
		if (ret) {
			pr_err("--s3-credentials %s", err);
			return ret;
		}
		cl->s3.have_creds = true;
	} else if (!s3_creds_from_env(&cl->s3.creds)) {
		cl->s3.have_creds = true;
	}
	if (cfg->gs_credentials[0]) {
		ret = s3_creds_load(cfg->gs_credentials, &cl->gs.creds, err, sizeof(err));
		if (ret) {
			pr_err("--gs-credentials %s", err);
			return ret;
		}
		cl->gs.have_creds = true;
	} else {
		cl->gs.creds = cl->s3.creds;
		cl->gs.have_creds = cl->s3.have_creds;
	}
	if (!cl->s3.have_creds && !cl->gs.have_creds) {
		pr_err("--s3-allow-bucket needs credentials: --s3-credentials FILE, or "
		       "AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY in the environment");
		return -EINVAL;
	}
	return 0;
}

int main(int argc, char **argv)
{
	struct store_opts sopts = { 0 };
	struct load_watch load = { 0 };
	const char *dest_roots[AGG_MAX_DEST_ROOTS], *buckets[AGG_MAX_BUCKETS];
	struct uploader_opts uopts = { 0 };
	struct uploader *uploader = NULL;
	struct ownership *ownership = NULL;
	struct s3_client s3;
	struct api_opts aopts = { 0 };
	struct lifecycle lc = { 0 };
	struct notify sd;
	struct credentials *creds = NULL;
	struct housekeeping hk = { 0 };
	struct store *store = NULL;
	struct agg_config cfg;
	struct api *api = NULL;
	struct api_tls *api_tls = NULL;
	char err[PATH_MAX + 4352], where[128];
	unsigned int i;
	int ret, sfd = -1, status = 1;

	log_set_ident("edgecap-aggregator");
	/* Decided before any thread exists: the API's pool logs from several at once. */
	log_detect_journal();
	ret = agg_config_parse(argc, argv, &cfg);
	if (ret)
		return ret > 0 ? 0 : 2;
	if (cfg.verbose)
		log_set_level(LOG_LEVEL_DEBUG);
	nofile_check(&cfg);

	/* Nobody uses the API without a credential: no file, no service. */
	if (!cfg.credentials[0]) {
		pr_err("no --credentials FILE: the API accepts only requests with a credential. "
		       "Make one with `edgecapctl credential ACCOUNT_ID`, append the second line "
		       "it prints to a file of mode 0600, and start with --credentials FILE");
		return 2;
	}
	ret = credentials_open(cfg.credentials, &creds, err, sizeof(err));
	if (ret) {
		pr_err("--credentials %s", err);
		return 2;
	}
	if (!credentials_count(creds))
		pr_warn("--credentials %s: no credential in it: every API request will be refused "
			"(401) until one is added and SIGHUP sent",
			cfg.credentials);

	/* HTTPS: the certificate and key checked now, so that a mistake is a usage error. */
	if (cfg.http_tls_cert[0]) {
		ret = api_tls_open(cfg.http_tls_cert, cfg.http_tls_key, &api_tls, err, sizeof(err));
		if (ret) {
			pr_err("%s", err);
			credentials_close(creds);
			return 2;
		}
		if (api_tls_expired(api_tls))
			pr_warn("--http-tls-cert %s: the certificate expired (%s): clients will "
				"refuse the API until it is renewed",
				cfg.http_tls_cert, api_tls_not_after(api_tls));
	}
	if (s3_setup(&cfg, &s3) || s3_global_init()) {
		credentials_close(creds);
		api_tls_free(api_tls);
		return 2;
	}

	/*
	 * SIGINT, SIGTERM and SIGHUP as a descriptor, before any thread exists (libmicrohttpd's):
	 * every thread started later has them blocked too and only the signalfd sees them.
	 */
	sfd = sigfd_open((const int[]){ SIGINT, SIGTERM, SIGHUP }, 3);
	if (sfd < 0) {
		pr_err("failed to set up signal handling: %s", strerror(-sfd));
		goto out;
	}
	/* A client that goes away mid-download must not end the process. */
	signal(SIGPIPE, SIG_IGN);

	sopts.state_dir = cfg.state_dir;
	sopts.n_dest_roots = agg_dest_roots(&cfg, dest_roots);
	sopts.dest_roots = dest_roots;
	for (i = 0; i < cfg.n_buckets; i++)
		buckets[i] = cfg.buckets[i];
	sopts.buckets = buckets;
	sopts.n_buckets = cfg.n_buckets;
	/* Bucket ownership challenges: a full capture to a bucket needs a validated one. */
	if (cfg.n_buckets) {
		ret = ownership_open(cfg.state_dir, buckets, cfg.n_buckets, &s3, &ownership, err,
				     sizeof(err));
		if (ret) {
			pr_err("failed to open the bucket ownership records: %s", err);
			goto out;
		}
		sopts.bucket_owned = ownership_check;
		sopts.bucket_owned_ctx = ownership;
	}
	sopts.simple_interval_s = cfg.simple_interval_s;
	sopts.max_full = cfg.max_full;
	sopts.grace_s = cfg.grace_s;
	sopts.manifest_interval_ms = cfg.manifest_interval_ms;
	load.start_us = load.logged_us = store_now_us();
	sopts.load_progress = load_progress;
	sopts.load_progress_ctx = &load;
	ret = store_open(&sopts, &store, err, sizeof(err));
	if (ret) {
		pr_err("failed to open the state directory %s: %s", cfg.state_dir, err);
		goto out;
	}
	if (store_now_us() - load.start_us >= 1000000)
		pr_info("loaded the state directory %s in %.1f s", cfg.state_dir,
			(double)(store_now_us() - load.start_us) / 1e6);
	ret = lifecycle_init(&lc, &cfg, store, err, sizeof(err));
	if (ret) {
		pr_err("%s", err);
		goto out;
	}
	hk.cfg = &cfg;
	hk.msrc = (struct agg_metrics_src){ .store = store, .lc = &lc };
	if (obs_new(&hk.obs)) {
		pr_err("out of memory");
		goto out;
	}
	hk.msrc.obs = hk.obs;
	hk.msrc.tls = api_tls;
	/* Retention first: captures past it are gone before anyone can list them. */
	retain(&hk, store_now_us());
	if (cfg.metrics[0]) {
		ret = metrics_http_open(cfg.metrics, agg_metrics_render, &hk.msrc, &hk.metrics, err,
					sizeof(err));
		if (ret) {
			pr_err("%s", err);
			goto out;
		}
		pr_info("metrics on http://%s/metrics", metrics_http_where(hk.metrics));
	}

	/* Full captures' last stage, on its own thread: the ingest hands it finished files. */
	uopts.store = store;
	uopts.client = &s3;
	uopts.retries = cfg.upload_retries;
	uopts.backoff_s = cfg.upload_backoff_s;
	uopts.keep_failed_s = (uint64_t)cfg.upload_keep_h * 3600;
	ret = uploader_start(&uopts, &uploader, err, sizeof(err));
	if (ret) {
		pr_err("%s", err);
		goto out;
	}
	lc.uploader = uploader;

	aopts.addr = (const struct sockaddr *)&cfg.http_addr;
	aopts.addrlen = cfg.http_addrlen;
	aopts.max_body = cfg.max_body;
	aopts.credentials = creds;
	aopts.obs = hk.obs;
	aopts.ownership = ownership;
	aopts.threads = cfg.http_threads;
	aopts.max_connections = cfg.http_max_conns;
	aopts.per_ip = cfg.http_per_ip;
	aopts.timeout_s = cfg.http_timeout_s;
	aopts.tls = api_tls;
	ret = api_start(store, &aopts, &api, err, sizeof(err));
	if (ret) {
		pr_err("failed to serve the API on %s: %s", cfg.http, err);
		goto out;
	}
	/* The line tests and operators read the port from (port 0 picks one). */
	listen_addr_format(&cfg.http_addr, api_port(api), where, sizeof(where));
	pr_info("listening on %s://%s, state in %s%s", api_tls ? "https" : "http", where,
		cfg.state_dir,
		cfg.no_agents ? ", no agents (--no-agents: captures end with empty pcaps)" : "");

	/* Serving: systemd (Type=notify) starts what is ordered after us from here. */
	notify_init(&sd);
	notify_ready(&sd, "serving");
	ret = run(&cfg, store, &lc, creds, api_tls, sfd, &sd, &hk);
	status = ret ? 1 : 0;
	if (ret)
		notify_stopping("failed");
out:
	api_stop(api);
	metrics_http_close(hk.metrics);
	obs_free(hk.obs);
	uploader_stop(uploader);
	lifecycle_close(&lc);
	store_close(store);
	ownership_close(ownership);
	credentials_close(creds);
	api_tls_free(api_tls);
	if (sfd >= 0)
		close(sfd);
	return status;
}
