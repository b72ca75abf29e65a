// SPDX-License-Identifier: BSD-2-Clause
#include <errno.h>
#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <nng/nng.h>
#include <nng/supplemental/tls/tls.h>

#include "conffile.h"
#include "fileutil.h"
#include "log.h"
#include "sp.h"
#include "tls.h"

/* A PEM file larger than this is not a certificate chain or a key. */
#define TLS_PEM_MAX (1 << 20)

/* The tls+tcp:// listeners of the process (the aggregator has two), for tls_log_refusals. */
#define TLS_WATCH_MAX 4
static struct {
	nng_listener l;
	char url[256];
	uint64_t seen; /* auth failures already logged */
} watch[TLS_WATCH_MAX];
static size_t n_watch;

static bool has_prefix(const char *s, const char *p)
{
	return !strncmp(s, p, strlen(p));
}

int tls_opts_set(struct tls_opts *o, enum tls_opt opt, const char *name, const char *value,
		 char *err, size_t errlen)
{
	switch (opt) {
	case TLS_OPT_CA:
		return conffile_copy_str(o->ca, sizeof(o->ca), name, value, err, errlen);
	case TLS_OPT_CERT:
		return conffile_copy_str(o->cert, sizeof(o->cert), name, value, err, errlen);
	case TLS_OPT_KEY:
		return conffile_copy_str(o->key, sizeof(o->key), name, value, err, errlen);
	case TLS_OPT_INSECURE_PLAINTEXT:
		o->insecure_plaintext = true;
		return 0;
	}
	snprintf(err, errlen, "unknown setting \"%s\"", name);
	return -EINVAL;
}

bool tls_url_is_tls(const char *url)
{
	return has_prefix(url, "tls+tcp://") || has_prefix(url, "tls+tcp4://") ||
	       has_prefix(url, "tls+tcp6://");
}

/*
 * An ipc:// endpoint is a Unix socket: whoever may create a file in its directory can bind it
 * first and answer in the aggregator's place (and learn every capture, or command the agent),
 * and whoever may reach it can connect. So the directory must exist, be ours, and give group and
 * others no access (0700), as the agent's local socket's directory does; the operator fixes its
 * mode, we do not change it.
 */
static int check_ipc_dir(const char *flag, const char *url, char *err, size_t errlen)
{
	char dir[PATH_MAX];
	struct stat st;

	if (strlen(url + 6) >= sizeof(dir)) {
		snprintf(err, errlen, "%s %.64s...: path too long", flag, url);
		return -EINVAL;
	}
	snprintf(dir, sizeof(dir), "%s", url + 6);
	dirname(dir);
	if (stat(dir, &st)) {
		snprintf(err, errlen, "%s %s: its directory %s: %s (make it, mode 0700)", flag, url,
			 dir, strerror(errno));
		return -EINVAL;
	}
	if (!S_ISDIR(st.st_mode)) {
		snprintf(err, errlen, "%s %s: %s is not a directory", flag, url, dir);
		return -EINVAL;
	}
	if (st.st_uid != geteuid()) {
		snprintf(
			err, errlen,
			"%s %s: its directory %s is owned by uid %u, not by this process's uid %u: "
			"its owner could put its own socket there",
			flag, url, dir, (unsigned int)st.st_uid, (unsigned int)geteuid());
		return -EINVAL;
	}
	if (st.st_mode & 077) {
		snprintf(err, errlen,
			 "%s %s: its directory %s has mode %04o: group or others could put their "
			 "own socket there or reach this one (want 0700; chmod 0700 %s, or use "
			 "tls+tcp://)",
			 flag, url, dir, (unsigned int)(st.st_mode & 07777), dir);
		return -EINVAL;
	}
	return 0;
}

int tls_check_url(const char *flag, const char *url, const struct tls_opts *o, char *err,
		  size_t errlen)
{
	if (tls_url_is_tls(url)) {
		if (!o->ca[0] || !o->cert[0] || !o->key[0]) {
			snprintf(err, errlen,
				 "%s %s: tls+tcp:// needs --tls-ca, --tls-cert and --tls-key "
				 "(missing %s)",
				 flag, url,
				 !o->ca[0]     ? "--tls-ca"
				 : !o->cert[0] ? "--tls-cert"
					       : "--tls-key");
			return -EINVAL;
		}
		return 0;
	}
	if (has_prefix(url, "ipc://"))
		return check_ipc_dir(flag, url, err, errlen);
	if (has_prefix(url, "tcp://") || has_prefix(url, "tcp4://") || has_prefix(url, "tcp6://")) {
		if (o->insecure_plaintext)
			return 0;
		snprintf(err, errlen,
			 "%s %s: plain tcp:// carries capture requests and packets unauthenticated "
			 "and in clear; use tls+tcp:// with --tls-ca/--tls-cert/--tls-key, or "
			 "--insecure-plaintext for an interop test",
			 flag, url);
		return -EINVAL;
	}
	snprintf(err, errlen,
		 "%s %s: must be a tls+tcp://, ipc:// or (with --insecure-plaintext) "
		 "tcp:// URL",
		 flag, url);
	return -EINVAL;
}

int tls_read_pem(const char *flag, const char *path, int fd, char **out, size_t *len_out, char *err,
		 size_t errlen)
{
	const char *why = NULL;
	size_t len = 0;
	FILE *f;
	char *buf;
	int ret;

	*out = NULL;
	if (len_out)
		*len_out = 0;
	/* Only a regular file: a FIFO would hang the start (file_open_regular). */
	f = fd >= 0 ? fdopen(fd, "r") : file_fopen_regular(path, &why);
	if (!f) {
		ret = -errno;
		snprintf(err, errlen, "%s %s: %s", flag, path, why ? why : strerror(errno));
		if (fd >= 0)
			close(fd);
		return ret;
	}
	buf = malloc(TLS_PEM_MAX + 1);
	if (!buf) {
		fclose(f);
		return -ENOMEM;
	}
	len = fread(buf, 1, TLS_PEM_MAX + 1, f);
	if (ferror(f) || len > TLS_PEM_MAX || !len) {
		snprintf(err, errlen, "%s %s: %s", flag, path,
			 ferror(f) ? strerror(errno ? errno : EIO)
			 : len	   ? "larger than 1 MiB"
				   : "empty file");
		fclose(f);
		explicit_bzero(buf, len > TLS_PEM_MAX ? TLS_PEM_MAX + 1 : len);
		free(buf);
		return -EINVAL;
	}
	fclose(f);
	buf[len] = '\0';
	*out = buf;
	if (len_out)
		*len_out = len;
	return 0;
}

static int read_pem(const char *flag, const char *path, char **out, char *err, size_t errlen)
{
	return tls_read_pem(flag, path, -1, out, NULL, err, errlen);
}

/*
 * A TLS config for one endpoint: our certificate and key, the CA that signs the peer, and the
 * peer's certificate required. A dialer checks the server's name against server_name.
 */
static int tls_config(nng_tls_mode mode, const struct tls_opts *o, const char *server_name,
		      nng_tls_config **out, char *err, size_t errlen)
{
	char *ca = NULL, *cert = NULL, *key = NULL;
	nng_tls_config *cfg = NULL;
	size_t key_len = 0;
	int ret, rv;

	if (!o || !o->ca[0] || !o->cert[0] || !o->key[0]) {
		snprintf(err, errlen, "tls+tcp:// needs --tls-ca, --tls-cert and --tls-key");
		return -EINVAL;
	}
	ret = read_pem("--tls-ca", o->ca, &ca, err, errlen);
	if (!ret)
		ret = read_pem("--tls-cert", o->cert, &cert, err, errlen);
	if (!ret)
		ret = tls_read_pem("--tls-key", o->key, -1, &key, &key_len, err, errlen);
	if (ret)
		goto cleanup;
	rv = nng_tls_config_alloc(&cfg, mode);
	if (rv) {
		snprintf(err, errlen, "cannot set up TLS: %s", nng_strerror(rv));
		ret = sp_errno(rv);
		goto cleanup;
	}
	rv = nng_tls_config_ca_chain(cfg, ca, NULL);
	if (rv) {
		snprintf(err, errlen, "--tls-ca %s: not a PEM certificate chain: %s", o->ca,
			 nng_strerror(rv));
		goto fail;
	}
	rv = nng_tls_config_own_cert(cfg, cert, key, NULL);
	if (rv) {
		snprintf(err, errlen,
			 "--tls-cert %s with --tls-key %s: not a PEM certificate and its "
			 "unencrypted private key: %s",
			 o->cert, o->key, nng_strerror(rv));
		goto fail;
	}
	/* Both ways: the aggregator takes no agent without a certificate from the CA. */
	rv = nng_tls_config_auth_mode(cfg, NNG_TLS_AUTH_MODE_REQUIRED);
	if (!rv)
		rv = nng_tls_config_version(cfg, NNG_TLS_1_2, NNG_TLS_1_3);
	if (!rv && server_name)
		rv = nng_tls_config_server_name(cfg, server_name);
	if (rv) {
		snprintf(err, errlen, "cannot set up TLS: %s", nng_strerror(rv));
		goto fail;
	}
	*out = cfg;
	cfg = NULL;
	ret = 0;
	goto cleanup;
fail:
	ret = sp_errno(rv);
cleanup:
	if (cfg)
		nng_tls_config_free(cfg);
	free(ca);
	free(cert);
	if (key) {
		/* The key does not linger in freed memory. */
		explicit_bzero(key, key_len);
		free(key);
	}
	return ret;
}

int tls_listen(nng_socket s, const char *url, const struct tls_opts *o, nng_listener *out,
	       char *err, size_t errlen)
{
	nng_tls_config *cfg = NULL;
	nng_listener l;
	int ret, rv;

	rv = nng_listener_create(&l, s, url);
	if (rv) {
		snprintf(err, errlen, "cannot listen at %s: %s", url, nng_strerror(rv));
		return sp_errno(rv);
	}
	if (tls_url_is_tls(url)) {
		ret = tls_config(NNG_TLS_MODE_SERVER, o, NULL, &cfg, err, errlen);
		if (ret) {
			nng_listener_close(l);
			return ret;
		}
		rv = nng_listener_set_ptr(l, NNG_OPT_TLS_CONFIG, cfg);
		/* The listener holds its own reference. */
		nng_tls_config_free(cfg);
		if (rv) {
			snprintf(err, errlen, "cannot set up TLS at %s: %s", url, nng_strerror(rv));
			nng_listener_close(l);
			return sp_errno(rv);
		}
	}
	rv = nng_listener_start(l, 0);
	if (rv) {
		snprintf(err, errlen, "cannot listen at %s: %s", url, nng_strerror(rv));
		nng_listener_close(l);
		return sp_errno(rv);
	}
	if (tls_url_is_tls(url) && n_watch < TLS_WATCH_MAX) {
		watch[n_watch].l = l;
		snprintf(watch[n_watch].url, sizeof(watch[n_watch].url), "%s", url);
		watch[n_watch++].seen = 0;
	}
	if (out)
		*out = l;
	return 0;
}

/* The value of the stat named name directly under scope, or 0. */
static uint64_t stat_child(nng_stat *scope, const char *name)
{
	nng_stat *s;

	for (s = nng_stat_child(scope); s; s = nng_stat_next(s)) {
		if (!strcmp(nng_stat_name(s), name))
			return nng_stat_value(s);
	}
	return 0;
}

/*
 * Listener l's "auth" failures. Walked by hand: NNG 1.5's nng_stat_find_listener and
 * nng_stat_find do not stop at the listener asked for (both listeners read the first one's).
 */
static uint64_t listener_auth_failures(nng_stat *all, nng_listener l)
{
	uint64_t id = (uint64_t)nng_listener_id(l);
	nng_stat *s;

	for (s = nng_stat_child(all); s; s = nng_stat_next(s)) {
		if (!strcmp(nng_stat_name(s), "listener") && stat_child(s, "id") == id)
			return stat_child(s, "auth");
	}
	return 0;
}

void tls_log_refusals(void)
{
	nng_stat *all = NULL;
	uint64_t n;
	size_t i;

	if (!n_watch || nng_stats_get(&all))
		return;
	for (i = 0; i < n_watch; i++) {
		n = listener_auth_failures(all, watch[i].l);
		if (n > watch[i].seen)
			pr_warn("refused %llu connection(s) at %s: TLS handshake failed (no client "
				"certificate, or one not signed by --tls-ca); %llu so far",
				(unsigned long long)(n - watch[i].seen), watch[i].url,
				(unsigned long long)n);
		watch[i].seen = n;
	}
	nng_stats_free(all);
}

int tls_dial_config(const char *url, const struct tls_opts *o, nng_tls_config **out, char *err,
		    size_t errlen)
{
	nng_url *u = NULL;
	int rv, ret;

	*out = NULL;
	if (!tls_url_is_tls(url))
		return 0;
	/* The name the aggregator's certificate must carry: the URL's host. */
	rv = nng_url_parse(&u, url);
	if (rv || !u->u_hostname || !u->u_hostname[0]) {
		snprintf(err, errlen, "cannot dial %s: no host name in the URL", url);
		nng_url_free(u);
		return -EINVAL;
	}
	ret = tls_config(NNG_TLS_MODE_CLIENT, o, u->u_hostname, out, err, errlen);
	nng_url_free(u);
	return ret;
}

int tls_dial_start(nng_socket s, const char *url, nng_tls_config *cfg, nng_dialer *out, char *err,
		   size_t errlen)
{
	nng_dialer d;
	int rv;

	rv = nng_dialer_create(&d, s, url);
	if (rv) {
		snprintf(err, errlen, "cannot dial %s: %s", url, nng_strerror(rv));
		return sp_errno(rv);
	}
	if (cfg) {
		rv = nng_dialer_set_ptr(d, NNG_OPT_TLS_CONFIG, cfg);
		if (rv) {
			snprintf(err, errlen, "cannot set up TLS for %s: %s", url,
				 nng_strerror(rv));
			nng_dialer_close(d);
			return sp_errno(rv);
		}
	}
	/* Non-blocking: NNG dials in the background and redials (until it gives up: redial.h). */
	rv = nng_dialer_start(d, NNG_FLAG_NONBLOCK);
	if (rv) {
		snprintf(err, errlen, "cannot dial %s: %s", url, nng_strerror(rv));
		nng_dialer_close(d);
		return sp_errno(rv);
	}
	if (out)
		*out = d;
	return 0;
}

int tls_dial(nng_socket s, const char *url, const struct tls_opts *o, char *err, size_t errlen)
{
	nng_tls_config *cfg;
	int ret;

	ret = tls_dial_config(url, o, &cfg, err, errlen);
	if (ret)
		return ret;
	ret = tls_dial_start(s, url, cfg, NULL, err, errlen);
	/* The dialer holds its own reference. */
	if (cfg)
		nng_tls_config_free(cfg);
	return ret;
}
