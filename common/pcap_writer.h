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
#include <sys/types.h>

struct pcap_writer;

/* The file path (or "-"), mode 0666 less the umask. */
int pcap_writer_open(const char *path, uint32_t snaplen, struct pcap_writer **out, char *err,
		     size_t errlen);
/*
 * The file path relative to the directory dirfd (AT_FDCWD: the working directory), created with
 * exactly mode (0: 0666 less the umask). dirfd is duplicated, not kept. The partial file is
 * made with O_EXCL | O_NOFOLLOW beside it and renamed within dirfd (safefile.h): a symlink at
 * its name fails the open (-ELOOP), nothing is written through it.
 */
int pcap_writer_open_at(int dirfd, const char *path, mode_t mode, uint32_t snaplen,
			struct pcap_writer **out, char *err, size_t errlen);
/*
 * ts_ns is UTC nanoseconds since the epoch. Returns 0, or once the output failed the error the
 * write got (-ENOSPC, -EPIPE, ...; -EIO when the system said nothing), then and ever after.
 */
int pcap_writer_write(struct pcap_writer *w, uint64_t ts_ns, const void *data, uint32_t caplen,
		      uint32_t origlen);
/* Pushes buffered packets out (to the pipe or the page cache). */
int pcap_writer_flush(struct pcap_writer *w);
/*
 * Records gathered up to size bytes before each handoff to the file (a resumable writer gathers
 * 4 KiB: a full capture keeps one per host). For the one writer of many sources' records (a
 * simple capture's merged pcap): 16 times fewer write(2) calls at 64 KiB. What was gathered is
 * handed off first; the buffer is allocated by the next write (without the memory, records go
 * to stdio one by one, as before). 0 or the writer's error.
 */
int pcap_writer_set_gather(struct pcap_writer *w, size_t size);
/*
 * keep: make the file final (fsync, rename into place). !keep: remove the partial file. Returns
 * 0 or the first error seen; frees w in every case (NULL is accepted).
 */
int pcap_writer_close(struct pcap_writer *w, bool keep);
uint64_t pcap_writer_packets(const struct pcap_writer *w);

/*
 * Resumable output, for a process that may restart in the middle of a capture (the aggregator).
 * The partial file has a fixed name beside path, ".NAME.partial", so that the restarted process
 * finds it again, and pcap_writer_close(w, true) renames it into place as above.
 *
 * keep_len says what to do with a partial file that is already there:
 *  - 0: start afresh (the file is truncated and gets a new header).
 *  - UINT64_MAX: continue it after its last complete record (a torn record at the end, from a
 *    crash in the middle of a write, is cut away).
 *  - anything else: continue it after the last complete record that ends at or before keep_len
 *    (a length that pcap_writer_sync returned: what the caller's own checkpoint accounts for).
 * A partial file whose header is not a nanosecond Ethernet pcap header is started afresh.
 */
struct pcap_writer_resume {
	uint64_t keep_len;  /* in, as above */
	bool resumed;	    /* out: an existing partial file was continued */
	bool mismatch;	    /* out: keep_len was given but is not where the file was cut */
	uint64_t packets;   /* out: records kept (pcap_writer_packets starts from there) */
	uint64_t bytes;	    /* out: packet bytes (caplen) in the records kept */
	uint64_t length;    /* out: the file's length after the cut */
	uint64_t cut_bytes; /* out: bytes cut away (a torn record, or past keep_len) */
};

/* path with mode SAFE_FILE_MODE (0640). */
int pcap_writer_open_resumable(const char *path, uint32_t snaplen, struct pcap_writer_resume *r,
			       struct pcap_writer **out, char *err, size_t errlen);
/*
 * path relative to dirfd (duplicated, not kept) with exactly mode. The partial file is never
 * followed through a symlink: one in its place fails the open (-ELOOP, err says so) and stays
 * where it is; anything else there that is not a regular file fails it too (-EPERM).
 */
int pcap_writer_open_resumable_at(int dirfd, const char *path, mode_t mode, uint32_t snaplen,
				  struct pcap_writer_resume *r, struct pcap_writer **out, char *err,
				  size_t errlen);
/*
 * pcap_writer_open_resumable_at with dirfd (a descriptor, not AT_FDCWD: -EBADF) borrowed, not
 * duplicated: the writer uses it until pcap_writer_close, _detach or _salvage frees the writer,
 * and the caller keeps it open until then. For many writers in one directory (a full capture
 * has one a host): one descriptor each rather than two. A new file's entry is not fsynced into
 * the directory here (one fsync a file, 10,000 of them as a full capture starts): the caller
 * syncs the directory (or its file system) before it counts on the file surviving a crash.
 */
int pcap_writer_open_resumable_borrowed(int dirfd, const char *path, mode_t mode, uint32_t snaplen,
					struct pcap_writer_resume *r, struct pcap_writer **out,
					char *err, size_t errlen);
/*
 * Flushes and fsyncs a file output; *len (may be NULL) gets its length, which always ends on a
 * record boundary. Returns 0 or the output's error (-EINVAL for stdout).
 */
int pcap_writer_sync(struct pcap_writer *w, uint64_t *len);
/*
 * pcap_writer_sync without the fsync: flushes to the page cache and gives the length. For a
 * caller that makes many files durable at once (syncfs(2) of their file system), and then owes
 * each failed one a pcap_writer_sync, which says which it was.
 */
int pcap_writer_written(struct pcap_writer *w, uint64_t *len);
/*
 * pcap_writer_close(w, true) for a caller that makes many files durable at once: flushed, but
 * neither the file nor its directory fsynced. The caller syncs the data first (pcap_writer_flush
 * of each, then syncfs of their file system) and the directory after (its renames).
 */
int pcap_writer_close_unsynced(struct pcap_writer *w);
/*
 * Closes the file and frees w without finishing: the partial file stays where it is, for a
 * later pcap_writer_open_resumable. Buffered records are flushed and fsynced first. Returns 0
 * or the first error seen; NULL is accepted.
 */
int pcap_writer_detach(struct pcap_writer *w);

/*
 * For a file output that failed (a full disk): keeps its valid prefix. What stdio still holds
 * is written if it can be, the partial file is cut after its last whole record, fsynced and
 * renamed into place, as pcap_writer_close(w, true) would; r->packets and r->bytes (caplen) say
 * what it kept, r->cut_bytes what was cut. A partial file without a whole pcap header is
 * removed (-EBADMSG). Frees w in every case; -EINVAL for stdout or NULL.
 */
int pcap_writer_salvage(struct pcap_writer *w, struct pcap_writer_resume *r);

#endif /* EDGECAP_PCAP_WRITER_H */
