/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * uploader.h: the last stage of a full capture, on a thread of its own so that neither the HTTP
 * API nor the ingest ever waits for an object store. Data flows one way: the ingest closes a
 * full capture's files (complete, fsync'd, renamed into place) and marks it conversion_pending
 * (store.h); the uploader takes it (conversion_running), and
 *  - for a local destination, the files are where they belong already: complete;
 *  - for a bucket, each host's file (captures/<id>/upload/<file>, named in the manifest's
 *    agents.<host>.file) becomes the object PREFIX/<id>/<host>.pcap (s3.h). A failed PUT is
 *    tried again after a backoff that doubles from backoff_s (at most 60 s), `retries` times;
 *    each failure is logged and recorded in the manifest (agents.<host>.upload: attempts,
 *    last_error). When every object is in the bucket the local files are removed and the
 *    capture is complete; when one finally fails the capture is failed, with the store's answer
 *    in error_message, and its local files stay for keep_failed_s (then they are removed).
 *
 * The uploader looks for captures to take whenever uploader_kick is called and every second,
 * so that captures left in conversion by a restart, or finished without agents, are taken too.
 */
#ifndef EDGECAP_UPLOADER_H
#define EDGECAP_UPLOADER_H

#include <stdint.h>

#include "s3.h"
#include "store.h"

struct uploader_opts {
	struct store *store;
	const struct s3_client *client; /* the caller's; outlives the uploader */
	unsigned int retries;		/* PUTs tried again this many times */
	unsigned int backoff_s;		/* first wait between tries; doubled each time */
	uint64_t keep_failed_s;		/* a failed upload's local files stay this long */
};

struct uploader;

int uploader_start(const struct uploader_opts *opts, struct uploader **out, char *err,
		   size_t errlen);
/* A capture went to conversion_pending: look now rather than within a second. */
void uploader_kick(struct uploader *u);
/* Stops the thread (an upload in flight ends first) and frees; NULL is accepted. */
void uploader_stop(struct uploader *u);

#endif /* EDGECAP_UPLOADER_H */
