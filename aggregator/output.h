/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * output.h: the ingest's outputs and the accounts behind them (ingest.h has what they mean to
 * operators; ingest_internal.h the types).
 *
 * Accounts: a capture's agents by host id (at most max_hosts), each agent's batch
 * sequence numbers (the highest seen and the gaps below it, at most INGEST_MAX_GAPS of them: the
 * oldest is forgotten first and stays counted as missing), whether it may still send records
 * (live), its report for the manifest, and the capture's progress in the store.
 *
 * Outputs: one pcap file each (struct output), written within the capture's packet and byte
 * limits; for a simple capture, the reorder window (merge.h) in front of the merged pcap and the
 * rules that release it; for a full capture, each host's file, named when its first records come.
 *
 * Everything runs on the main loop; functions return 0 or a negative errno unless said.
 */
#ifndef EDGECAP_OUTPUT_H
#define EDGECAP_OUTPUT_H

#include "ingest_internal.h"

/* --- accounts --- */

/* The capture's agent of that host id, or NULL. Remembers it: most messages repeat the last. */
struct iagent *agent_find(struct icap *ic, const char *host);
/* The agent, added when new; NULL when the capture has max_hosts or memory ran out. */
struct iagent *agent_get(struct icap *ic, const char *host);
/* Frees an agent, closing (not renaming) its file; NULL is accepted. */
void agent_free(struct iagent *a);
/* Inserts the gap lo..hi at index at of a's sorted gaps (forgetting the oldest when full). */
int gap_insert(struct iagent *a, size_t at, uint64_t lo, uint64_t hi);
/*
 * Notes batch seq of an agent: 0 when it is new (the next one, one past a gap, or one that
 * fills a gap), -EEXIST when it came before.
 */
int seq_note(struct iagent *a, uint64_t seq);
/* Takes part: accepted the capture, or sent something. */
bool agent_in(const struct iagent *a);
/*
 * After expected, heard or final_received changed: whether the agent may still send records,
 * the capture's count of such agents, and the window's watermark (merge.h), which they hold.
 */
void agent_sync_live(struct icap *ic, struct iagent *a);
/* The agent's report for the manifest (store.h's members, and ingest.h's); a new reference. */
json_t *agent_report(const struct icap *ic, const struct iagent *a);
/* agent_report into the store (store_update_agents, batched); a failure is logged. */
void report_agent(struct ingest *in, struct icap *ic, struct iagent *a);
/*
 * report_agent only marks the agent's report due: reports_flush writes every due one with one
 * manifest write (store_update_agents). The ingest flushes at most every INGEST_REPORT_US per
 * capture, when the start survey ends, and before a capture's status changes; after the end
 * (late finals) still at most every INGEST_REPORT_US, and before the capture stops lingering.
 */
void reports_flush(struct ingest *in, struct icap *ic);
/*
 * reports_flush into the store without the manifest write (store_stage_agents_new), for a
 * status change that writes the manifest next: the end of a capture writes it once.
 */
void reports_stage(struct ingest *in, struct icap *ic);
#define INGEST_REPORT_US 1000000ULL
/* What the capture's output holds: the merged pcap, or every host's file. */
void cap_totals(const struct icap *ic, uint64_t *packets, uint64_t *bytes);
/* Sums the hosts' files' counts again (after a restart loaded them). */
void files_recount(struct icap *ic);
/* cap_totals into the store (store_set_progress). */
void set_progress(struct ingest *in, const struct icap *ic);

/* --- outputs --- */

/*
 * Writes one record to o for agent a, within the capture's limits (a record past them counts
 * as over_limit and returns 0). Returns o's error once it has one.
 */
/*
 * Brings a's held and records_written up to the window's takes of its records (a simple
 * capture's releases do not touch the agent). Before anything reads them: its report, the
 * checkpoint.
 */
void agent_settle(struct icap *ic, struct iagent *a);
int out_write(struct icap *ic, struct output *o, struct iagent *a, uint64_t ts, const uint8_t *data,
	      uint32_t caplen, uint32_t origlen);
/* dir/name into buf; -ENAMETOOLONG when it does not fit. */
int out_path_join(char *buf, size_t len, const char *dir, const char *name);
/*
 * Opens (or resumes, keeping keep_len bytes: pcap_writer_open_resumable_at) path relative to
 * dirfd (AT_FDCWD: as it is), mode 0640, never through a symlink; logs what a resume cut away.
 * o's counts come from what the file holds; *r says what was kept.
 */
int out_open(struct icap *ic, struct output *o, int dirfd, const char *path, uint64_t keep_len,
	     struct pcap_writer_resume *r);
/*
 * Closes o at the capture's end: made final when whole; after a write error (a full disk) its
 * valid prefix, whole records only, is kept in place and o is marked truncated, its packets and
 * bytes what the file holds. Returns o's error, 0 when none.
 */
int out_close(struct icap *ic, struct output *o);
/*
 * Host files from which one syncfs(2) of the capture's file system does instead of a fsync each
 * (file_syncfs_trusted): at a checkpoint, the changed ones; at the end, the ones still open. A
 * full capture of 10,000 hosts changed them all every checkpoint_ms: 80,000 of a run's 110,000
 * fsyncs in bench_ingest's full row on ext4, and the end cost a fsync of each file and of the
 * directory after each rename. Below it, a few fsyncs cost less than writing back whatever else
 * the file system holds dirty.
 */
#define OUTPUTS_SYNCFS_MIN 16
/* Whether n host files of ic go durable with one syncfs: enough of them, on a trusted one. */
bool hosts_syncfs_pays(const struct icap *ic, size_t n);
/*
 * A full capture's end: every host's file closed as out_close does (final, or its valid prefix
 * kept and marked truncated). Many of them: flushed, one syncfs, renamed, one fsync of their
 * directory; a failed syncfs falls back to out_close each. Returns the last error an output had
 * (0: none); *truncated says whether one kept only its valid prefix.
 */
int hosts_close(struct icap *ic, bool *truncated);
/*
 * A full capture's file for a host that sends its first records: named (unique in the capture),
 * opened, and named in the checkpoint's journal so that a restart finds it (checkpoint.h).
 */
int host_out_open(struct icap *ic, struct iagent *a);
/*
 * Whether c stays as it is in a host's file name: letters, digits, '.', '_' and '-'; host_file_name
 * makes any other character of a host id '_', and a restart takes only names of these
 * (checkpoint.c's file_name_ours).
 */
bool host_file_char(char c);
/*
 * a's file in a full capture is file (a name host_file_name made, or a checkpoint's): -EEXIST
 * when a has one or another host has that name, -ENOMEM.
 */
int agent_set_file(struct icap *ic, struct iagent *a, const char *file);

/* --- the reorder window of a simple capture --- */

/* Before a's batch m goes to window_hold: what its records will take (merge_source_expect). */
void window_expect(struct icap *ic, struct iagent *a, const struct wire_msg *m);
/* Puts a's record r in the window (cut to the snaplen); -ENOMEM when it could not. */
int window_hold(struct icap *ic, struct iagent *a, const struct wire_record *r, uint64_t now_us);
/*
 * Writes out what the window lets go (all: everything), smallest (timestamp, arrival) first:
 * the next record while it is no newer than the watermark, has waited window_us, or the window
 * holds more than held_max bytes. Nothing for a full capture.
 */
void window_release(struct ingest *in, struct icap *ic, uint64_t now_us, bool all);
/*
 * At the capture's end: every agent's account brought up to date (agent_settle), then the
 * window and what it holds go, its sources and tree too (1.9 MB with 10,000 agents), not
 * INGEST_LINGER_S later. A finished capture has no window (ic->win NULL).
 */
void window_free(struct icap *ic);

#endif /* EDGECAP_OUTPUT_H */
