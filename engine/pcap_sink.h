/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * pcap_sink.h: the engine's pcap sink: a capture's records written to a pcap file (or stdout)
 * through pcap_writer. pcap_sink_record is a capture_record_fn whose ctx is the struct pcap_sink;
 * a failed write fails the capture (the engine stops it with STOP_ERROR) and is kept in error.
 * The file is written under a temporary name and renamed into place only by
 * pcap_sink_close(s, true); pcap_sink_close(s, false) removes it (pcap_writer.h).
 */
#ifndef EDGECAP_PCAP_SINK_H
#define EDGECAP_PCAP_SINK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "engine.h"

struct pcap_writer;

struct pcap_sink {
	struct pcap_writer *writer; /* NULL: closed (or never opened) */
	int error;		    /* the last write's error, 0 while every write succeeded */
};

/* Opens path ("-": stdout) for records of up to snaplen bytes; err says why not. */
int pcap_sink_open(struct pcap_sink *s, const char *path, uint32_t snaplen, char *err,
		   size_t errlen);
/*
 * Opens name in the directory dirfd with exactly mode, never through a symlink
 * (pcap_writer_open_at); dirfd is not kept.
 */
int pcap_sink_open_at(struct pcap_sink *s, int dirfd, const char *name, mode_t mode,
		      uint32_t snaplen, char *err, size_t errlen);
/* The engine's sink: ctx is a struct pcap_sink. Returns 0 or the writer's negative errno. */
int pcap_sink_record(void *ctx, const struct ec_record *rec, const uint8_t *data, uint32_t cap_len);
/*
 * keep: make the file final; !keep: remove it. Returns 0 or the writer's first error; the sink is
 * closed in every case, and closing a closed sink does nothing.
 */
int pcap_sink_close(struct pcap_sink *s, bool keep);

#endif /* EDGECAP_PCAP_SINK_H */
