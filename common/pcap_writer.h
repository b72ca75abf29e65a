/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * pcap_writer.h: writes captures as pcap files through libpcap, with nanosecond timestamps and the
 * Ethernet link type.
 *
 * A named file is written under a temporary name beside it (".NAME.partial.XXXXXX") and renamed
 * into place by pcap_writer_close(w, true) only after everything reached the disk, so no truncated
 * file ever sits under the final name. "-" writes to stdout, flushed as it goes so that
 * `edgecapctl capture ... -w - | tcpdump -r -` shows packets while the capture runs.
 */
#ifndef EDGECAP_PCAP_WRITER_H
#define EDGECAP_PCAP_WRITER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct pcap_writer;

int pcap_writer_open(const char *path, uint32_t snaplen, struct pcap_writer **out, char *err,
		     size_t errlen);
/* ts_ns is UTC nanoseconds since the epoch. Returns 0, or -EIO/-EPIPE once the output failed. */
int pcap_writer_write(struct pcap_writer *w, uint64_t ts_ns, const void *data, uint32_t caplen,
		      uint32_t origlen);
/* Pushes buffered packets out (to the pipe or the page cache). */
int pcap_writer_flush(struct pcap_writer *w);
/*
 * keep: make the file final (fsync, rename into place). !keep: remove the partial file. Returns
 * 0 or the first error seen; frees w in every case (NULL is accepted).
 */
int pcap_writer_close(struct pcap_writer *w, bool keep);
uint64_t pcap_writer_packets(const struct pcap_writer *w);

#endif /* EDGECAP_PCAP_WRITER_H */
