// SPDX-License-Identifier: BSD-2-Clause
/*
 * test_pcap_writer.c: common/pcap_writer.h writes pcap files that libpcap reads back with
 * nanosecond timestamps and the Ethernet link type, and never leaves a partial file behind:
 * the final name appears only at close(keep=true), and close(keep=false) removes everything.
 */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <malloc.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <pcap/pcap.h>

#include "pcap_writer.h"
#include "testing.h"

/* The magic number of a pcap file with nanosecond timestamps, as written on this host. */
#define PCAP_MAGIC_NSEC 0xa1b23c4d

struct test_packet {
	uint64_t ts_ns;
	uint32_t caplen;
	uint32_t origlen;
	uint8_t fill;
};

static const struct test_packet packets[] = {
	{ 1700000000123456789ULL, 60, 60, 0x11 },     /* a whole minimum frame */
	{ 1700000000999999999ULL, 160, 1514, 0x22 },  /* cut at the simple snaplen */
	{ 1700000001000000000ULL, 1514, 1514, 0x33 }, /* the next second, exactly */
};

static char dir[64];

/* A fresh empty directory per test; "" when it could not be made. */
static void make_dir(void)
{
	const char *tmp = getenv("TMPDIR");

	snprintf(dir, sizeof(dir), "%s/edgecap-test-XXXXXX",
		 tmp && strlen(tmp) < 30 ? tmp : "/tmp");
	if (!mkdtemp(dir))
		dir[0] = '\0';
}

/* Number of entries in dir (besides . and ..); the name of the last one in name. */
static int dir_entries(char *name, size_t namelen)
{
	struct dirent *de;
	DIR *d;
	int n = 0;

	d = opendir(dir);
	if (!d)
		return -1;
	while ((de = readdir(d))) {
		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		n++;
		if (name)
			snprintf(name, namelen, "%s", de->d_name);
	}
	closedir(d);
	return n;
}

/* Removes dir and whatever a failed test left in it. */
static void remove_dir(void)
{
	char path[PATH_MAX], name[256];

	while (dir[0] && dir_entries(name, sizeof(name)) > 0) {
		snprintf(path, sizeof(path), "%s/%s", dir, name);
		if (unlink(path) && rmdir(path))
			break;
	}
	if (dir[0])
		rmdir(dir);
}

static int write_packets(struct pcap_writer *w)
{
	uint8_t data[1514];
	size_t i;
	int ret;

	for (i = 0; i < sizeof(packets) / sizeof(packets[0]); i++) {
		memset(data, packets[i].fill, sizeof(data));
		ret = pcap_writer_write(w, packets[i].ts_ns, data, packets[i].caplen,
					packets[i].origlen);
		if (ret)
			return ret;
	}
	return 0;
}

static void test_written_file_reads_back_with_nanoseconds(void)
{
	char path[PATH_MAX], err[256], errbuf[PCAP_ERRBUF_SIZE], name[256];
	const struct test_packet *want;
	struct pcap_writer *w = NULL;
	struct pcap_pkthdr *hdr;
	const u_char *data;
	uint32_t magic = 0;
	size_t i, n = 0;
	pcap_t *p;
	FILE *f;

	make_dir();
	CHECK(dir[0], "mkdtemp: %s", strerror(errno));
	snprintf(path, sizeof(path), "%s/out.pcap", dir);
	CHECK(pcap_writer_open(path, 65535, &w, err, sizeof(err)) == 0, "open: %s", err);
	CHECK(write_packets(w) == 0, "write");
	CHECK_EQ_U64(pcap_writer_packets(w), 3, "packets written");
	CHECK(pcap_writer_flush(w) == 0, "flush");

	/* Until close, only the partial file exists, under a hidden name beside the final one. */
	CHECK(access(path, F_OK) != 0, "%s exists before close", path);
	CHECK(dir_entries(name, sizeof(name)) == 1, "one file while writing");
	CHECK(!strncmp(name, ".out.pcap.partial.", 18), "partial name \"%s\"", name);

	CHECK(pcap_writer_close(w, true) == 0, "close(keep)");
	CHECK(dir_entries(name, sizeof(name)) == 1 && !strcmp(name, "out.pcap"),
	      "only the final file is left, got \"%s\"", name);

	/* Opening with NANO precision would scale a microsecond file; the magic says what it is. */
	f = fopen(path, "rb");
	CHECK(f, "fopen");
	CHECK(fread(&magic, sizeof(magic), 1, f) == 1, "read magic");
	fclose(f);
	CHECK(magic == PCAP_MAGIC_NSEC, "magic %08x, want a nanosecond pcap", magic);

	p = pcap_open_offline_with_tstamp_precision(path, PCAP_TSTAMP_PRECISION_NANO, errbuf);
	CHECK(p, "libpcap cannot read %s: %s", path, errbuf);
	if (pcap_datalink(p) != DLT_EN10MB || pcap_snapshot(p) != 65535) {
		pcap_close(p);
		CHECK(0, "link type or snaplen wrong");
	}
	while (pcap_next_ex(p, &hdr, &data) == 1) {
		if (n >= sizeof(packets) / sizeof(packets[0]))
			break;
		want = &packets[n];
		if ((uint64_t)hdr->ts.tv_sec != want->ts_ns / 1000000000ULL ||
		    (uint64_t)hdr->ts.tv_usec != want->ts_ns % 1000000000ULL ||
		    hdr->caplen != want->caplen || hdr->len != want->origlen)
			break;
		for (i = 0; i < hdr->caplen && data[i] == want->fill; i++)
			;
		if (i != hdr->caplen)
			break;
		n++;
	}
	pcap_close(p);
	CHECK(n == 3, "packet %zu differs from what was written", n);
	remove_dir();
}

static void test_close_without_keep_leaves_nothing(void)
{
	char path[PATH_MAX], err[256];
	struct pcap_writer *w = NULL;

	make_dir();
	CHECK(dir[0], "mkdtemp: %s", strerror(errno));
	snprintf(path, sizeof(path), "%s/dropped.pcap", dir);
	CHECK(pcap_writer_open(path, 160, &w, err, sizeof(err)) == 0, "open: %s", err);
	CHECK(write_packets(w) == 0, "write");
	CHECK(pcap_writer_close(w, false) == 0, "close(!keep)");
	CHECK(dir_entries(NULL, 0) == 0, "files left behind after close(keep=false)");
	remove_dir();
}

static void test_existing_file_is_replaced_only_at_close(void)
{
	char path[PATH_MAX], err[256], old[8] = { 0 };
	struct pcap_writer *w = NULL;
	struct stat st;
	FILE *f;

	make_dir();
	CHECK(dir[0], "mkdtemp: %s", strerror(errno));
	snprintf(path, sizeof(path), "%s/again.pcap", dir);
	f = fopen(path, "w");
	CHECK(f, "fopen");
	fputs("old", f);
	fclose(f);

	CHECK(pcap_writer_open(path, 65535, &w, err, sizeof(err)) == 0, "open: %s", err);
	CHECK(write_packets(w) == 0, "write");
	f = fopen(path, "r");
	CHECK(f, "fopen");
	CHECK(fread(old, 1, sizeof(old) - 1, f) == 3 && !strcmp(old, "old"),
	      "the old file is untouched while writing");
	fclose(f);
	CHECK(pcap_writer_close(w, true) == 0, "close(keep)");
	CHECK(stat(path, &st) == 0 && st.st_size > 24, "the new capture replaced the old file");
	CHECK(dir_entries(NULL, 0) == 1, "no partial file left");
	remove_dir();
}

static void test_failed_rename_leaves_no_partial_file(void)
{
	char path[PATH_MAX], err[256];
	struct pcap_writer *w = NULL;

	make_dir();
	CHECK(dir[0], "mkdtemp: %s", strerror(errno));
	/* A non-empty directory under the final name: rename cannot replace it. */
	snprintf(path, sizeof(path), "%s/busy.pcap", dir);
	CHECK(mkdir(path, 0700) == 0, "mkdir");
	CHECK(pcap_writer_open(path, 65535, &w, err, sizeof(err)) == 0, "open: %s", err);
	CHECK(write_packets(w) == 0, "write");
	CHECK(pcap_writer_close(w, true) < 0, "close(keep) reports the failed rename");
	CHECK(dir_entries(NULL, 0) == 1, "only the directory is left");
	remove_dir();
}

static void test_open_failure_names_the_path(void)
{
	struct pcap_writer *w = NULL;
	char err[256] = "";
	int ret;

	ret = pcap_writer_open("/nonexistent-edgecap-dir/x.pcap", 65535, &w, err, sizeof(err));
	CHECK(ret == -ENOENT, "got %d", ret);
	CHECK(w == NULL, "no writer on failure");
	CHECK_STR_CONTAINS(err, "/nonexistent-edgecap-dir/x.pcap");
}

static void test_len_is_never_below_caplen(void)
{
	char path[PATH_MAX], err[256], errbuf[PCAP_ERRBUF_SIZE];
	struct pcap_writer *w = NULL;
	struct pcap_pkthdr *hdr;
	const u_char *data;
	uint8_t frame[64] = { 0 };
	int got;
	pcap_t *p;

	make_dir();
	CHECK(dir[0], "mkdtemp: %s", strerror(errno));
	snprintf(path, sizeof(path), "%s/len.pcap", dir);
	CHECK(pcap_writer_open(path, 65535, &w, err, sizeof(err)) == 0, "open: %s", err);
	CHECK(pcap_writer_write(w, 5, frame, sizeof(frame), 10) == 0, "write");
	CHECK(pcap_writer_close(w, true) == 0, "close");
	p = pcap_open_offline_with_tstamp_precision(path, PCAP_TSTAMP_PRECISION_NANO, errbuf);
	CHECK(p, "%s", errbuf);
	got = pcap_next_ex(p, &hdr, &data);
	if (got != 1 || hdr->len != sizeof(frame) || hdr->ts.tv_sec != 0 || hdr->ts.tv_usec != 5) {
		pcap_close(p);
		CHECK(0, "want len 64 and ts 0.000000005");
	}
	pcap_close(p);
	remove_dir();
}

/* write(2) calls this process has made so far (Linux task I/O accounting); -1 if unknown. */
static long long write_syscalls(void)
{
	char line[128];
	long long n = -1;
	FILE *f = fopen("/proc/self/io", "r");

	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "syscw: %lld", &n) == 1)
			break;
	fclose(f);
	return n;
}

/*
 * Small records are buffered by the 256 KiB: 200 KiB of 80-byte records (a 64-byte frame each)
 * cost no write(2) at all until close, where glibc's default 4 KiB buffer would make about 50.
 */
static void test_small_records_are_written_in_large_blocks(void)
{
	char path[PATH_MAX], err[256];
	struct pcap_writer *w = NULL;
	uint8_t frame[64] = { 0 };
	long long before, after;
	int i, ret = 0;

	make_dir();
	CHECK(dir[0], "mkdtemp");
	snprintf(path, sizeof(path), "%s/blocks.pcap", dir);
	ret = pcap_writer_open(path, 65535, &w, err, sizeof(err));
	CHECK(ret == 0, "open: %s", err);
	before = write_syscalls();
	for (i = 0; i < 200 * 1024 / 80 && !ret; i++)
		ret = pcap_writer_write(w, 1700000000000000000ULL + (uint64_t)i, frame,
					sizeof(frame), sizeof(frame));
	after = write_syscalls();
	ret = ret ? ret : pcap_writer_close(w, true);
	remove_dir();
	CHECK(ret == 0, "write and close: %s", strerror(-ret));
	CHECK(before >= 0 && after >= 0, "/proc/self/io has no syscw");
	CHECK(after - before == 0,
	      "%lld write(2) calls for 200 KiB of records, want 0 before close", after - before);
}

/* Reads the whole of path into a malloc'd buffer; its length in *len. NULL on failure. */
static uint8_t *slurp(const char *path, size_t *len)
{
	uint8_t *buf = NULL;
	long size;
	FILE *f = fopen(path, "rb");

	if (!f)
		return NULL;
	if (!fseek(f, 0, SEEK_END) && (size = ftell(f)) >= 0 && !fseek(f, 0, SEEK_SET) &&
	    (buf = malloc((size_t)size + 1)) && fread(buf, 1, (size_t)size, f) == (size_t)size) {
		*len = (size_t)size;
	} else {
		free(buf);
		buf = NULL;
	}
	fclose(f);
	return buf;
}

/* 60 KiB of 80-byte records into a resumable writer; the write(2) calls they cost. */
static long long resumable_writes(const char *path, size_t gather, int *ret)
{
	struct pcap_writer_resume r = { 0 };
	struct pcap_writer *w = NULL;
	uint8_t frame[64] = { 0 };
	long long before, after;
	char err[256];
	int i;

	*ret = pcap_writer_open_resumable(path, 65535, &r, &w, err, sizeof(err));
	if (!*ret && gather)
		*ret = pcap_writer_set_gather(w, gather);
	before = write_syscalls();
	for (i = 0; i < 60 * 1024 / 80 && !*ret; i++) {
		frame[0] = (uint8_t)i;
		*ret = pcap_writer_write(w, 1700000000000000000ULL + (uint64_t)i, frame,
					 sizeof(frame), sizeof(frame));
	}
	after = write_syscalls();
	if (!*ret)
		*ret = pcap_writer_close(w, true);
	return after - before;
}

/*
 * A resumable writer gathers 4 KiB of records a write(2) (one per host in a full capture);
 * pcap_writer_set_gather(64 KiB), the merged pcap's, makes none for 60 KiB, and the same file.
 */
static void test_gather_sets_the_write_size(void)
{
	char small[PATH_MAX], large[PATH_MAX];
	uint8_t *a, *b;
	size_t alen = 0, blen = 0;
	long long n_small, n_large;
	int ret_small, ret_large;

	make_dir();
	CHECK(dir[0], "mkdtemp");
	snprintf(small, sizeof(small), "%s/small.pcap", dir);
	snprintf(large, sizeof(large), "%s/large.pcap", dir);
	n_small = resumable_writes(small, 0, &ret_small);
	n_large = resumable_writes(large, 64 * 1024, &ret_large);
	a = slurp(small, &alen);
	b = slurp(large, &blen);
	remove_dir();
	CHECK(!ret_small && !ret_large, "writes: %s, %s", strerror(-ret_small),
	      strerror(-ret_large));
	CHECK(n_small >= 10, "%lld write(2) calls at 4 KiB, want one per 4 KiB", n_small);
	CHECK(n_large == 0, "%lld write(2) calls gathering 64 KiB, want 0 before close", n_large);
	CHECK(a && b && alen == blen && alen > 60 * 1024 && !memcmp(a, b, alen),
	      "the same file (%zu and %zu bytes)", alen, blen);
	free(a);
	free(b);
}
/*
 * The writer lays records out in a buffer of its own (64 KiB) instead of calling pcap_dump: the
 * file is byte for byte what libpcap's pcap_dump makes of the same records, in the same order,
 * across the buffer's boundaries and with records larger than the buffer (written past it).
 */
static void test_records_are_byte_for_byte_pcap_dump(void)
{
	static uint8_t data[200000];
	char path[PATH_MAX], ref[PATH_MAX], err[256];
	struct pcap_writer *w = NULL;
	pcap_dumper_t *d = NULL;
	uint8_t *got = NULL, *want = NULL;
	size_t got_len = 0, want_len = 0, i;
	pcap_t *dead;
	int ret = 0;

	for (i = 0; i < sizeof(data); i++)
		data[i] = (uint8_t)(i * 7 + 3);
	make_dir();
	CHECK(dir[0], "mkdtemp");
	snprintf(path, sizeof(path), "%s/ours.pcap", dir);
	snprintf(ref, sizeof(ref), "%s/libpcap.pcap", dir);
	dead = pcap_open_dead_with_tstamp_precision(DLT_EN10MB, 262144, PCAP_TSTAMP_PRECISION_NANO);
	CHECK(dead, "pcap_open_dead");
	d = pcap_dump_open(dead, ref);
	CHECK(d, "pcap_dump_open: %s", pcap_geterr(dead));
	ret = pcap_writer_open(path, 262144, &w, err, sizeof(err));
	CHECK(ret == 0, "open: %s", err);
	/* 64-byte frames past a buffer's end, a record larger than it, the smallest, 0 bytes. */
	for (i = 0; i < 3000 && !ret; i++) {
		static const uint32_t lens[] = { 64, 1514, 100000, 1, 0, 60, 9000, 128 };
		uint32_t caplen = i % 97 ? lens[i % 8] % 200 + (i % 3 ? 0 : 1400) : lens[i % 8];
		uint32_t origlen = i % 5 ? caplen + (uint32_t)(i % 13) : caplen / 2;
		uint64_t ts = 1700000000000000000ULL + i * 333333333ULL;
		struct pcap_pkthdr h = {
			.ts = { .tv_sec = (time_t)(ts / 1000000000ULL),
				.tv_usec = (suseconds_t)(ts % 1000000000ULL) },
			.caplen = caplen,
			.len = origlen < caplen ? caplen : origlen,
		};

		ret = pcap_writer_write(w, ts, data + i, caplen, origlen);
		pcap_dump((u_char *)d, &h, data + i);
	}
	pcap_dump_close(d);
	pcap_close(dead);
	ret = ret ? ret : pcap_writer_close(w, true);
	CHECK(ret == 0, "write and close: %s", strerror(-ret));
	got = slurp(path, &got_len);
	want = slurp(ref, &want_len);
	ret = got && want && got_len == want_len;
	for (i = 0; ret && i < got_len && got[i] == want[i]; i++)
		;
	free(got);
	free(want);
	remove_dir();
	CHECK(ret, "files differ: %zu and %zu bytes, first difference at byte %zu", got_len,
	      want_len, i);
	CHECK(i == got_len, "files differ at byte %zu", i);
}

/*
 * The child's half: a resumable file written until the file size limit (a full disk, as far as
 * the writer can tell) stops it; the error is the system's (-EFBIG, not -EIO), and salvage keeps
 * the whole records. Exits with the number of records kept, or 255.
 */
static int salvage_child(void)
{
	struct rlimit lim = { 10000, 10000 };
	struct pcap_writer_resume r;
	struct pcap_writer *w = NULL;
	uint8_t data[100] = { 0x5a };
	char err[512];
	int i, ret = 0, dfd;

	signal(SIGXFSZ, SIG_IGN);
	dfd = open(dir, O_RDONLY | O_DIRECTORY);
	if (dfd < 0 || setrlimit(RLIMIT_FSIZE, &lim))
		return 255;
	r.keep_len = 0;
	if (pcap_writer_open_resumable_at(dfd, "x.pcap", 0640, 65535, &r, &w, err, sizeof(err)))
		return 255;
	for (i = 0; i < 1000 && !ret; i++) {
		ret = pcap_writer_write(w, 1700000000000000000ULL + (uint64_t)i, data, sizeof(data),
					sizeof(data));
		if (!ret && i % 7 == 0)
			ret = pcap_writer_flush(w);
	}
	if (ret != -EFBIG) {
		fprintf(stderr, "write error %d, want -EFBIG\n", ret);
		return 255;
	}
	if (pcap_writer_salvage(w, &r)) {
		fprintf(stderr, "salvage failed\n");
		return 255;
	}
	return r.packets < 255 ? (int)r.packets : 255;
}

/* A write error (a full disk) keeps the file's valid prefix, whole records, in place. */
static void test_salvage_keeps_whole_records_after_a_write_error(void)
{
	char path[PATH_MAX], errbuf[PCAP_ERRBUF_SIZE];
	struct pcap_pkthdr *h;
	const u_char *d;
	struct stat st;
	int status = -1, kept, n = 0;
	pcap_t *p;
	pid_t pid;

	make_dir();
	CHECK(dir[0], "temp dir");
	fflush(NULL);
	pid = fork();
	CHECK(pid >= 0, "fork");
	if (!pid)
		_exit(salvage_child());
	CHECK(waitpid(pid, &status, 0) == pid && WIFEXITED(status), "child exited");
	kept = WEXITSTATUS(status);
	CHECK(kept > 0 && kept < 255, "records kept: %d", kept);
	snprintf(path, sizeof(path), "%s/x.pcap", dir);
	CHECK(!stat(path, &st), "%s in place", path);
	CHECK_EQ_U64(st.st_size, 24 + (uint64_t)kept * (16 + 100), "header and whole records only");
	CHECK(st.st_size <= 10000, "within the limit");
	p = pcap_open_offline(path, errbuf);
	CHECK(p, "readable: %s", errbuf);
	while (pcap_next_ex(p, &h, &d) == 1)
		n++;
	pcap_close(p);
	CHECK_EQ_U64(n, kept, "records read back");
	CHECK_EQ_U64(dir_entries(NULL, 0), 1, "no partial file left");
	remove_dir();
}

/* Descriptors this process has open. */
static int open_fds(void)
{
	struct dirent *e;
	DIR *d = opendir("/proc/self/fd");
	int n = 0;

	if (!d)
		return -1;
	while ((e = readdir(d)))
		n += e->d_name[0] != '.';
	closedir(d);
	return n - 1; /* d's own */
}

/*
 * Writers that borrow their directory's descriptor take one descriptor each (their file), and
 * leave the borrowed one open whichever way they end: kept, detached, salvaged or discarded.
 */
static void test_borrowed_directory_costs_no_descriptor(void)
{
	static const char *const names[] = { "a.pcap", "b.pcap", "c.pcap", "d.pcap" };
	struct pcap_writer *w[4] = { NULL };
	struct pcap_writer_resume r;
	char err[512], path[PATH_MAX];
	uint8_t data[64] = { 0x5a };
	int dfd, before, i;
	struct stat st;

	make_dir();
	CHECK(dir[0], "temp dir");
	dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	CHECK(dfd >= 0, "open %s", dir);
	before = open_fds();
	for (i = 0; i < 4; i++) {
		r.keep_len = 0;
		CHECK(!pcap_writer_open_resumable_borrowed(dfd, names[i], 0640, 65535, &r, &w[i],
							   err, sizeof(err)),
		      "open %s: %s", names[i], err);
		CHECK(!pcap_writer_write(w[i], 1700000000000000000ULL, data, sizeof(data),
					 sizeof(data)),
		      "write %s", names[i]);
	}
	CHECK_EQ_U64(open_fds() - before, 4, "descriptors for four writers in one directory");
	CHECK(!pcap_writer_close(w[0], true), "keep a.pcap");
	CHECK(!pcap_writer_detach(w[1]), "detach b.pcap");
	CHECK(!pcap_writer_flush(w[2]) && !pcap_writer_salvage(w[2], &r) && r.packets == 1,
	      "salvage c.pcap");
	CHECK(!pcap_writer_close(w[3], false), "discard d.pcap");
	CHECK_EQ_U64(open_fds(), before, "every writer's file closed");
	CHECK(fcntl(dfd, F_GETFD) >= 0, "the borrowed descriptor is still open");
	snprintf(path, sizeof(path), "%s/a.pcap", dir);
	CHECK(!stat(path, &st) && st.st_size == 24 + 16 + 64, "a.pcap in place, written");
	snprintf(path, sizeof(path), "%s/c.pcap", dir);
	CHECK(!stat(path, &st) && st.st_size == 24 + 16 + 64, "c.pcap salvaged in place");
	snprintf(path, sizeof(path), "%s/d.pcap", dir);
	CHECK(stat(path, &st) && errno == ENOENT, "d.pcap discarded");
	/* b.pcap stays partial, for a resume: the same directory, borrowed again. */
	r.keep_len = UINT64_MAX;
	CHECK(!pcap_writer_open_resumable_borrowed(dfd, "b.pcap", 0640, 65535, &r, &w[1], err,
						   sizeof(err)) &&
		      r.resumed && r.packets == 1,
	      "b.pcap resumed: %s", err);
	CHECK(!pcap_writer_close(w[1], true), "keep b.pcap");
	CHECK(pcap_writer_open_resumable_borrowed(AT_FDCWD, "e.pcap", 0640, 65535, &r, &w[0], err,
						  sizeof(err)) == -EBADF,
	      "AT_FDCWD is not a descriptor to borrow");
	CHECK(fcntl(dfd, F_GETFD) >= 0 && !close(dfd), "the borrowed descriptor closes once");
	remove_dir();
}

/*
 * A full capture keeps a resumable writer a host, 10,000 of them with the default cap: each costs
 * its 4 KiB record buffer and little else (no stdio buffer beside it, no PATH_MAX names). Before,
 * one cost 17 KiB, and filling that memory was most of a 10,000-host capture's page faults.
 */
static void test_resumable_writer_costs_little_memory(void)
{
	enum {
		N = 200
	};
	struct pcap_writer *w[N] = { NULL };
	struct pcap_writer_resume r;
	char err[512], name[32];
	uint8_t data[64] = { 0x5a };
	size_t before, each;
	int dfd, i;

	make_dir();
	CHECK(dir[0], "temp dir");
	dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	CHECK(dfd >= 0, "open %s", dir);
	before = mallinfo2().uordblks;
	for (i = 0; i < N; i++) {
		snprintf(name, sizeof(name), "host-%d.pcap", i);
		r.keep_len = 0;
		CHECK(!pcap_writer_open_resumable_borrowed(dfd, name, 0640, 65535, &r, &w[i], err,
							   sizeof(err)),
		      "open %s: %s", name, err);
		CHECK(!pcap_writer_write(w[i], 1700000000000000000ULL, data, sizeof(data),
					 sizeof(data)) &&
			      !pcap_writer_flush(w[i]),
		      "write %s", name);
	}
	each = (mallinfo2().uordblks - before) / N;
	CHECK(each <= 4096 + 2048, "a resumable writer holds %zu bytes of heap (at most 6 KiB)",
	      each);
	for (i = 0; i < N; i++)
		CHECK(!pcap_writer_close(w[i], false), "discard %d", i);
	close(dfd);
	remove_dir();
}

static void test_close_accepts_null(void)
{
	CHECK(pcap_writer_close(NULL, true) == 0, "NULL, keep");
	CHECK(pcap_writer_close(NULL, false) == 0, "NULL, !keep");
}

int main(void)
{
	RUN(test_written_file_reads_back_with_nanoseconds);
	RUN(test_close_without_keep_leaves_nothing);
	RUN(test_existing_file_is_replaced_only_at_close);
	RUN(test_failed_rename_leaves_no_partial_file);
	RUN(test_open_failure_names_the_path);
	RUN(test_len_is_never_below_caplen);
	RUN(test_small_records_are_written_in_large_blocks);
	RUN(test_records_are_byte_for_byte_pcap_dump);
	RUN(test_gather_sets_the_write_size);
	RUN(test_salvage_keeps_whole_records_after_a_write_error);
	RUN(test_borrowed_directory_costs_no_descriptor);
	RUN(test_resumable_writer_costs_little_memory);
	RUN(test_close_accepts_null);
	return TEST_SUMMARY();
}
