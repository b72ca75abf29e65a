// SPDX-License-Identifier: BSD-2-Clause
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <pcap/pcap.h>

#include "fileutil.h"
#include "pcap_writer.h"

/*
 * stdio buffer of a file opened by pcap_writer_open: one write(2) per 256 KiB instead of per
 * 4 KiB (glibc's default, the file's block size), which cost a syscall per few dozen small
 * records. Not for stdout (its reader may want each drain at once), nor for the resumable
 * writers, of which a full capture keeps one per host.
 */
#define PCAP_WRITER_BUFSIZE (256 * 1024)

struct pcap_writer {
	pcap_t *dead;
	pcap_dumper_t *dumper;
	FILE *file;
	char *buf; /* file's stdio buffer, if ours; freed after the file is closed */
	bool to_stdout;
	int err;
	uint64_t packets;
	char path[PATH_MAX];
	char tmp_path[PATH_MAX];
};

/*
 * The partial name beside path: ".NAME.partial" for a resumable output, whose restarted writer
 * must find it again; unique adds ".PID.N" so that writers of one path never share a file.
 */
static int partial_name(const char *path, bool unique, char *out, size_t outlen)
{
	static unsigned int counter;
	char dir_buf[PATH_MAX], base_buf[PATH_MAX];
	int n;

	if (strlen(path) >= sizeof(dir_buf))
		return -ENAMETOOLONG;
	strcpy(dir_buf, path);
	strcpy(base_buf, path);
	if (unique)
		n = snprintf(out, outlen, "%s/.%s.partial.%d.%u", dirname(dir_buf),
			     basename(base_buf), (int)getpid(),
			     __atomic_fetch_add(&counter, 1, __ATOMIC_RELAXED));
	else
		n = snprintf(out, outlen, "%s/.%s.partial", dirname(dir_buf), basename(base_buf));
	return n < 0 || (size_t)n >= outlen ? -ENAMETOOLONG : 0;
}

/* A fresh dumper on w->file (the header goes out now, so a pipe reader sees a valid capture). */
static int start_dump(struct pcap_writer *w, const char *path, char *err, size_t errlen)
{
	int ret;

	w->dumper = pcap_dump_fopen(w->dead, w->file);
	if (!w->dumper) {
		snprintf(err, errlen, "cannot write pcap header to %s: %s", path,
			 pcap_geterr(w->dead));
		if (!w->to_stdout)
			fclose(w->file);
		w->file = NULL;
		return -EIO;
	}
	ret = pcap_writer_flush(w);
	if (ret)
		snprintf(err, errlen, "cannot write to %s: %s", path, strerror(-ret));
	return ret;
}

static struct pcap_writer *writer_new(uint32_t snaplen)
{
	struct pcap_writer *w;

	w = calloc(1, sizeof(*w));
	if (!w)
		return NULL;
	w->dead = pcap_open_dead_with_tstamp_precision(DLT_EN10MB, (int)snaplen,
						       PCAP_TSTAMP_PRECISION_NANO);
	if (!w->dead) {
		free(w);
		return NULL;
	}
	return w;
}

/* Wraps an open descriptor of the partial file in w->file; closes fd on failure. */
static int adopt_fd(struct pcap_writer *w, int fd, char *err, size_t errlen)
{
	w->file = fdopen(fd, "wb");
	if (!w->file) {
		int ret = -errno;

		snprintf(err, errlen, "cannot open %s: %s", w->tmp_path, strerror(errno));
		close(fd);
		return ret;
	}
	return 0;
}

int pcap_writer_open(const char *path, uint32_t snaplen, struct pcap_writer **out, char *err,
		     size_t errlen)
{
	struct pcap_writer *w;
	int fd = -1, ret;

	w = writer_new(snaplen);
	if (!w) {
		snprintf(err, errlen, "failed to set up libpcap for %s", path);
		return -ENOMEM;
	}

	if (!strcmp(path, "-")) {
		w->to_stdout = true;
		w->file = stdout;
	} else {
		snprintf(w->path, sizeof(w->path), "%s", path);
		ret = partial_name(path, true, w->tmp_path, sizeof(w->tmp_path));
		if (ret) {
			snprintf(err, errlen, "output path too long: %s", path);
			goto fail;
		}
		/* Mode 0666 less the umask, like any file the user creates; O_EXCL: never reuse. */
		fd = open(w->tmp_path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
		if (fd < 0) {
			ret = -errno;
			snprintf(err, errlen, "cannot create %s: %s", path, strerror(errno));
			w->tmp_path[0] = '\0';
			goto fail;
		}
		ret = adopt_fd(w, fd, err, errlen);
		if (ret)
			goto fail;
		/* Before the first byte; without the memory, stdio's own buffer does. */
		w->buf = malloc(PCAP_WRITER_BUFSIZE);
		if (w->buf && setvbuf(w->file, w->buf, _IOFBF, PCAP_WRITER_BUFSIZE)) {
			free(w->buf);
			w->buf = NULL;
		}
	}

	ret = start_dump(w, path, err, errlen);
	if (ret)
		goto fail;
	*out = w;
	return 0;
fail:
	pcap_writer_close(w, false);
	return ret;
}

int pcap_writer_write(struct pcap_writer *w, uint64_t ts_ns, const void *data, uint32_t caplen,
		      uint32_t origlen)
{
	struct pcap_pkthdr hdr;

	if (w->err)
		return w->err;
	/* With nanosecond precision, libpcap stores tv_usec as nanoseconds. */
	hdr.ts.tv_sec = (time_t)(ts_ns / 1000000000ULL);
	hdr.ts.tv_usec = (suseconds_t)(ts_ns % 1000000000ULL);
	hdr.caplen = caplen;
	hdr.len = origlen < caplen ? caplen : origlen;
	pcap_dump((u_char *)w->dumper, &hdr, data);
	if (ferror(w->file)) {
		w->err = errno == EPIPE ? -EPIPE : -EIO;
		return w->err;
	}
	w->packets++;
	return 0;
}

int pcap_writer_flush(struct pcap_writer *w)
{
	if (w->err)
		return w->err;
	if (pcap_dump_flush(w->dumper) || ferror(w->file))
		w->err = errno == EPIPE ? -EPIPE : -EIO;
	return w->err;
}

uint64_t pcap_writer_packets(const struct pcap_writer *w)
{
	return w->packets;
}

enum close_mode {
	CLOSE_DISCARD, /* remove the partial file */
	CLOSE_KEEP,    /* make it final */
	CLOSE_DETACH,  /* leave the partial file for a later resume */
};

static int writer_close(struct pcap_writer *w, enum close_mode mode)
{
	bool sync = mode != CLOSE_DISCARD;
	int ret;

	if (!w)
		return 0;
	ret = w->err;
	if (w->dumper) {
		if (!ret && sync)
			ret = pcap_writer_flush(w);
		if (!w->to_stdout && !ret && sync && fsync(fileno(w->file)))
			ret = -errno;
		/*
		 * A pcap_dumper_t is its FILE: closing the file releases it. stdout is only
		 * flushed, since the caller may still print to it.
		 */
		if (w->to_stdout)
			fflush(w->file);
		else if (fclose(pcap_dump_file(w->dumper)) && !ret)
			ret = -errno;
	}
	if (w->tmp_path[0] && mode != CLOSE_DETACH) {
		bool keep = mode == CLOSE_KEEP;

		if (keep && !ret) {
			if (rename(w->tmp_path, w->path))
				ret = -errno;
			else
				ret = file_fsync_dir_of(w->path);
		}
		if (!keep || ret)
			unlink(w->tmp_path);
	}
	if (w->dead)
		pcap_close(w->dead);
	free(w->buf);
	free(w);
	return ret;
}

int pcap_writer_close(struct pcap_writer *w, bool keep)
{
	return writer_close(w, keep ? CLOSE_KEEP : CLOSE_DISCARD);
}

int pcap_writer_detach(struct pcap_writer *w)
{
	return writer_close(w, CLOSE_DETACH);
}

int pcap_writer_sync(struct pcap_writer *w, uint64_t *len)
{
	int64_t pos;

	if (w->to_stdout)
		return -EINVAL;
	if (pcap_writer_flush(w))
		return w->err;
	if (fsync(fileno(w->file))) {
		w->err = -EIO;
		return w->err;
	}
	pos = pcap_dump_ftell64(w->dumper);
	if (pos < 0) {
		w->err = -EIO;
		return w->err;
	}
	if (len)
		*len = (uint64_t)pos;
	return 0;
}

/* pcap's file header and record header, in the writing host's byte order. */
#define PCAP_FILE_HDR_LEN 24
#define PCAP_REC_HDR_LEN  16
#define PCAP_MAGIC_NSEC	  0xa1b23c4dU
/* libpcap refuses larger records when it reads a file (MAXIMUM_SNAPLEN). */
#define PCAP_REC_MAX 262144U

/*
 * Cuts an existing partial file as pcap_writer_open_resumable describes and fills r. -ENOENT
 * when there is none, -EBADMSG when its header is not ours (the caller starts afresh).
 */
static int cut_partial(const char *tmp_path, struct pcap_writer_resume *r)
{
	uint32_t fh[PCAP_FILE_HDR_LEN / 4], rh[PCAP_REC_HDR_LEN / 4];
	uint64_t pos = PCAP_FILE_HDR_LEN, end, size;
	struct stat st;
	int fd, ret = 0;

	fd = open(tmp_path, O_RDWR | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	if (fstat(fd, &st)) {
		ret = -errno;
		goto out;
	}
	size = (uint64_t)st.st_size;
	/* The link type is the low 28 bits of the last word; the rest are FCS flags. */
	if (size < PCAP_FILE_HDR_LEN || pread(fd, fh, sizeof(fh), 0) != sizeof(fh) ||
	    fh[0] != PCAP_MAGIC_NSEC || (fh[5] & 0x0fffffff) != DLT_EN10MB) {
		r->cut_bytes = size;
		ret = -EBADMSG;
		goto out;
	}
	while (pos + PCAP_REC_HDR_LEN <= size) {
		if (pread(fd, rh, sizeof(rh), (off_t)pos) != sizeof(rh)) {
			ret = -EIO;
			goto out;
		}
		end = pos + PCAP_REC_HDR_LEN + rh[2];
		if (rh[2] > PCAP_REC_MAX || end > size || end > r->keep_len)
			break;
		r->packets++;
		r->bytes += rh[2];
		pos = end;
	}
	r->mismatch = r->keep_len != UINT64_MAX && pos != r->keep_len;
	r->cut_bytes = size - pos;
	r->length = pos;
	if (pos < size && ftruncate(fd, (off_t)pos)) {
		ret = -errno;
		goto out;
	}
	if (fsync(fd))
		ret = -errno;
	r->resumed = !ret;
out:
	close(fd);
	return ret;
}

int pcap_writer_open_resumable(const char *path, uint32_t snaplen, struct pcap_writer_resume *r,
			       struct pcap_writer **out, char *err, size_t errlen)
{
	struct pcap_writer *w;
	int fd, ret;

	r->resumed = r->mismatch = false;
	r->packets = r->bytes = r->length = r->cut_bytes = 0;
	w = writer_new(snaplen);
	if (!w) {
		snprintf(err, errlen, "failed to set up libpcap for %s", path);
		return -ENOMEM;
	}
	snprintf(w->path, sizeof(w->path), "%s", path);
	if (!strcmp(path, "-") || partial_name(path, false, w->tmp_path, sizeof(w->tmp_path))) {
		snprintf(err, errlen, "not a resumable output path: %s", path);
		ret = -EINVAL;
		goto fail_nofile;
	}

	if (r->keep_len) {
		ret = cut_partial(w->tmp_path, r);
		if (ret && ret != -ENOENT && ret != -EBADMSG) {
			snprintf(err, errlen, "cannot resume %s: %s", w->tmp_path, strerror(-ret));
			goto fail_nofile;
		}
	}
	if (r->resumed) {
		/* libpcap checks the header against ours and appends at the end. */
		w->dumper = pcap_dump_open_append(w->dead, w->tmp_path);
		if (!w->dumper) {
			snprintf(err, errlen, "cannot append to %s: %s", w->tmp_path,
				 pcap_geterr(w->dead));
			ret = -EIO;
			goto fail_nofile;
		}
		w->file = pcap_dump_file(w->dumper);
		w->packets = r->packets;
	} else {
		fd = open(w->tmp_path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0666);
		if (fd < 0) {
			ret = -errno;
			snprintf(err, errlen, "cannot create %s: %s", w->tmp_path, strerror(errno));
			goto fail_nofile;
		}
		ret = adopt_fd(w, fd, err, errlen);
		if (!ret)
			ret = start_dump(w, path, err, errlen);
		if (ret)
			goto fail;
		r->length = PCAP_FILE_HDR_LEN;
	}
	*out = w;
	return 0;
fail_nofile:
	/* A partial file that is there stays there: it may be all that is left of a capture. */
	w->tmp_path[0] = '\0';
fail:
	pcap_writer_close(w, false);
	return ret;
}
