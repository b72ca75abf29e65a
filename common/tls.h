/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * tls.h: which transports the agent links may use, and NNG's TLS set up for them (docs/design.md,
 * "Security": agent links). Both daemons take --tls-ca, --tls-cert and --tls-key (config keys
 * tls_ca, tls_cert, tls_key) and --insecure-plaintext (insecure_plaintext).
 *
 *   tls+tcp://   mutual TLS: the listener (aggregator) requires a client certificate signed by
 *                the CA; the dialer (agent) verifies the listener's chain and its name, the
 *                host of the URL (set by hand: NNG does not take the name from the URL when the
 *                application gives its own TLS config).
 *   tcp://       plaintext: refused unless insecure_plaintext (interop tests only).
 *   ipc://       allowed: a Unix socket, guarded by its directory, which must exist, be this
 *                process's and give group and others no access (0700).
 *
 * tls_check_url applies that rule to a configured URL (at start, so a bad one exits 2 before
 * anything is bound); tls_listen and tls_dial start an endpoint with it. The PEM files are read
 * once per endpoint; a file that cannot be read or parsed is named in err.
 */
#ifndef EDGECAP_TLS_H
#define EDGECAP_TLS_H

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <nng/nng.h>
#include <nng/supplemental/tls/tls.h>

struct tls_opts {
	char ca[PATH_MAX];   /* --tls-ca: the CA that signs every agent and the aggregator */
	char cert[PATH_MAX]; /* --tls-cert: this daemon's certificate (PEM) */
	char key[PATH_MAX];  /* --tls-key: its private key (PEM) */
	bool insecure_plaintext;
};

/* Whether url uses tls+tcp:// (so the TLS files are needed). */
/* The four TLS settings both daemons take, in this order in their option tables. */
enum tls_opt {
	TLS_OPT_CA = 0,		    /* --tls-ca FILE */
	TLS_OPT_CERT,		    /* --tls-cert FILE */
	TLS_OPT_KEY,		    /* --tls-key FILE */
	TLS_OPT_INSECURE_PLAINTEXT, /* --insecure-plaintext */
};

/* Applies one TLS setting (a daemon's option table calls this); err names name when too long. */
int tls_opts_set(struct tls_opts *o, enum tls_opt opt, const char *name, const char *value,
		 char *err, size_t errlen);

bool tls_url_is_tls(const char *url);
/*
 * Checks url (given as flag, e.g. "--control") against the rule above and, for tls+tcp://, that
 * the three files are set. 0, or -EINVAL with err naming the flag, the URL and the way out.
 */
int tls_check_url(const char *flag, const char *url, const struct tls_opts *o, char *err,
		  size_t errlen);
/*
 * Listens on url (aggregator side; through relisten.h, which keeps an ipc:// listener answering).
 * o may be NULL for ipc:// and tcp://; the listener goes to *out (out may be NULL).
 */
int tls_listen(nng_socket s, const char *url, const struct tls_opts *o, nng_listener *out,
	       char *err, size_t errlen);
/*
 * Logs the connections refused since the last call at every tls+tcp:// listener of this process:
 * peers that showed no certificate, or one not from the CA (NNG counts them as "auth" failures
 * and says nothing else). Call it now and then, e.g. once a second.
 */
void tls_log_refusals(void);
/*
 * Dials url in the background, redialling until it gets through (agent side). NNG 1.5 can stop
 * redialling for good: the agent's links dial through redial.h, which starts a fresh dialer then.
 */
int tls_dial(nng_socket s, const char *url, const struct tls_opts *o, char *err, size_t errlen);
/*
 * tls_dial in two steps, for a caller that dials again with the same settings (redial.h): the
 * client TLS config for url (*out NULL for ipc:// and tcp://; the caller frees it with
 * nng_tls_config_free), then a dialer started with it (out may be NULL).
 */
int tls_dial_config(const char *url, const struct tls_opts *o, nng_tls_config **out, char *err,
		    size_t errlen);
int tls_dial_start(nng_socket s, const char *url, nng_tls_config *cfg, nng_dialer *out, char *err,
		   size_t errlen);

/*
 * The whole of a PEM file, at most 1 MiB, NUL-terminated (*out is malloc'd; a key's caller wipes
 * *len_out bytes of it before free: a NUL inside the file ends the string early): from fd when
 * fd >= 0 (closed here, whatever the outcome; path only names it), else from path, which must be
 * a regular file. err names flag and path. len_out may be NULL.
 */
int tls_read_pem(const char *flag, const char *path, int fd, char **out, size_t *len_out, char *err,
		 size_t errlen);

#endif /* EDGECAP_TLS_H */
