/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * checkpoint.h: the ingest's checkpoint, captures/<id>/ingest-state.json (ingest.h, "Restart"):
 * every account of the capture and its agents, and the length of each output, written after the
 * outputs were made durable, so that the file and the accounts agree exactly. A restart cuts
 * each output back to the checkpoint's length and resumes from its accounts.
 *
 * The checkpoint is a JSON object: "version" (1), "restarts", "expect_done", "out" (a simple
 * capture's output: packets, bytes, over_limit, length, last_ts, packet_limit_hit,
 * byte_limit_hit) and "agents", an array of one object per agent: host, info, expected, heard,
 * its u64 accounts by their member names, "gaps" ([lo, hi] pairs), "final" once its final
 * message came (reason, error, start_ns, stop_ns, late, and the counters named as in
 * wire_counters) and, once a full capture's host file exists, "file" and "out". A restart takes
 * only a "file" (or a journal's FILE) of the form host_file_name makes,
 * "<capture id>-<host>[-n].pcap", and the first entry of a host named twice.
 *
 * A full capture's host file opened after the last checkpoint is named in a journal beside it,
 * captures/<id>/ingest-files, one line "HOST FILE" each, appended before the file gets a record
 * (checkpoint_note_file): a restart finds the file, at the cost of a line a host. Writing the
 * whole checkpoint for each new host instead made a capture of n hosts cost n^2 (10,000 hosts:
 * 84 µs a record). Neither the line nor the file's directory entry is synced then: the next
 * checkpoint syncs the files' directory (or their file system) before it names every file, and
 * removes the journal. A crash of the process keeps the line (the page cache does); a crash of
 * the system may lose it, with records no checkpoint counted, and the capture's end removes the
 * partial file no host names (hosts_close).
 *
 * Everything runs on the main loop; types in ingest_internal.h.
 */
#ifndef EDGECAP_CHECKPOINT_H
#define EDGECAP_CHECKPOINT_H

#include "ingest_internal.h"

/*
 * Makes the capture's outputs durable (those that changed: a fsync each, or one syncfs for many
 * host files) and new host files' entries in their directory, then durably writes the
 * checkpoint that describes them. Nothing once the capture finished. Returns 0 or a negative
 * errno (logged once until a checkpoint is written again); ic stays dirty on failure, and the
 * next one is due checkpoint_ms after the failed one, as after one written.
 */
int checkpoint_write(struct icap *ic, uint64_t now_us);
/*
 * After a restart: the checkpoint's accounts into ic, and the outputs reopened and cut back to
 * what they describe. Records the window held at the checkpoint are counted as lost. Without a
 * usable checkpoint every complete record is kept and the accounts start from zero.
 */
void checkpoint_resume(struct icap *ic);
/*
 * Appends a's host and file (a full capture's host file, about to get its first record) to the
 * journal, unsynced (above). Returns 0 or a negative errno (logged).
 */
int checkpoint_note_file(struct icap *ic, const struct iagent *a);
/* Removes the checkpoint and its journal (the capture ended); a failure is logged. */
void checkpoint_remove(const struct icap *ic);

#endif /* EDGECAP_CHECKPOINT_H */
