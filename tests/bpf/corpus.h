/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * corpus.h: every Ethernet frame of a directory of capture files (.pcap, .pcapng), read with
 * libpcap. A file of its own because <pcap/pcap.h> and <linux/bpf.h> both define struct bpf_insn.
 */
#ifndef EDGECAP_TEST_CORPUS_H
#define EDGECAP_TEST_CORPUS_H

#include <stdint.h>

struct corpus_stats {
	unsigned int files;		/* Ethernet (DLT_EN10MB) files read */
	unsigned int files_other_link;	/* skipped: another link type */
	unsigned int files_read_errors; /* unreadable, or ending in a cut-off record */
};

/* Called for every frame with its captured bytes; index counts from 1 within the file. */
typedef void (*corpus_frame_fn)(void *ctx, const char *file, uint64_t index, const uint8_t *data,
				uint32_t len);

/* Calls fn for every frame of every Ethernet file in dir, in name order; 0 or -errno. */
int corpus_foreach(const char *dir, corpus_frame_fn fn, void *ctx, struct corpus_stats *st);

#endif /* EDGECAP_TEST_CORPUS_H */
