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
#include "safefile.h"

/*
 * stdio buffer of a file opened by pcap_writer_open: one write(2) per 256 KiB instead of per
 * 4 KiB (glibc's default, the file's block size), which cost a syscall per few dozen small
 * records. Not for stdout (its reader may want each drain at once), nor for the resumable
 * writers, of which a full capture keeps one per host.
 */
#define PCAP_WRITER_BUFSIZE (256 * 1024)

/* pcap's file header and record header, in the writing host's byte order. */
#define PCAP_FILE_HDR_LEN 24
#define PCAP_REC_HDR_LEN  16

/*
 * Records are laid out here (header, then bytes) and handed to stdio in one fwrite a buffer:
 * libpcap's pcap_dump makes two fwrite calls a record, which cost more than the whole drain
 * from the ring (64 against 15 ns a 64-byte record; issue 12, target 3). Smaller for stdout,
 * whose reader sees the records a buffer at a time, and for the resumable writers, one per host.
 */
#define PCAP_WRITER_RECBUF	 (64 * 1024)
#define PCAP_WRITER_RECBUF_SMALL (4 * 1024)

struct pcap_writer {
	pcap_t *dead;
	pcap_dumper_t *dumper;
	FILE *file;
	char *buf;    /* file's stdio buffer, if ours; freed after the file is closed */
	uint8_t *rec; /* records not yet handed to stdio (allocated by the first write) */
	size_t rec_used, rec_size;
	bool to_stdout;
	int dirfd;	   /* AT_FDCWD, or a descriptor of the directory path is relative to */
	bool dir_borrowed; /* dirfd is the caller's (pcap_writer_open_resumable_borrowed) */
	mode_t mode;	   /* of the file; 0: 0666 less the umask */
	int err;
	uint64_t packets;
	/*
	 * The final name and the partial one beside it ("" when there is none), in names: a full
	 * capture keeps a writer a host, and two PATH_MAX arrays were 8 KiB of each.
	 */
	char *path, *tmp_path;
	size_t tmp_size;
	char names[];
};

/* Room in names for the partial name beside a path: "/.", ".partial", ".PID.N" and a "./". */
#define PARTIAL_NAME_EXTRA 64

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

static struct pcap_writer *writer_new(uint32_t snaplen, const char *path)
{
	size_t len = strlen(path);
	struct pcap_writer *w;

	w = calloc(1, sizeof(*w) + 2 * (len + 1) + PARTIAL_NAME_EXTRA);
	if (!w)
		return NULL;
	w->path = w->names;
	memcpy(w->path, path, len + 1);
	w->tmp_path = w->names + len + 1;
	w->tmp_size = len + 1 + PARTIAL_NAME_EXTRA;
	w->dirfd = AT_FDCWD;
	w->rec_size = PCAP_WRITER_RECBUF_SMALL;
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

/* Takes a descriptor of dirfd for w, or dirfd itself when borrow (AT_FDCWD stays as it is). */
static int writer_set_dir(struct pcap_writer *w, int dirfd, mode_t mode, bool borrow)
{
	w->mode = mode;
	if (dirfd == AT_FDCWD)
		return 0;
	if (borrow) {
		w->dirfd = dirfd;
		w->dir_borrowed = true;
		return 0;
	}
	w->dirfd = fcntl(dirfd, F_DUPFD_CLOEXEC, 0);
	if (w->dirfd < 0) {
		w->dirfd = AT_FDCWD;
		return -errno;
	}
	return 0;
}

/*
 * Creates w->tmp_path exclusively, never through a symlink (O_NOFOLLOW, O_EXCL), with w's mode;
 * says so in err, naming what is in the way.
 */
static int create_partial(struct pcap_writer *w, const char *shown, char *err, size_t errlen)
{
	int fd, ret;

	/* Without a mode of ours: 0666 less the umask, like any file the user creates. */
	fd = openat(w->dirfd, w->tmp_path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
		    w->mode ? w->mode : 0666);
	ret = fd < 0 ? -errno : 0;
	/* Exactly the mode asked for, whatever the umask took away. */
	if (!ret && w->mode && fchmod(fd, w->mode)) {
		ret = -errno;
		close(fd);
		unlinkat(w->dirfd, w->tmp_path, 0);
	}
	if (ret) {
		struct stat st;

		if (ret == -EEXIST && !fstatat(w->dirfd, w->tmp_path, &st, AT_SYMLINK_NOFOLLOW) &&
		    S_ISLNK(st.st_mode)) {
			ret = -ELOOP;
			snprintf(err, errlen,
				 "cannot create %s: a symbolic link is in its place (refusing to "
				 "write through it)",
				 w->tmp_path);
		} else {
			snprintf(err, errlen, "cannot create %s: %s", shown, strerror(-ret));
		}
		return ret;
	}
	ret = adopt_fd(w, fd, err, errlen);
	if (ret)
		unlinkat(w->dirfd, w->tmp_path, 0);
	return ret;
}

int pcap_writer_open_at(int dirfd, const char *path, mode_t mode, uint32_t snaplen,
			struct pcap_writer **out, char *err, size_t errlen)
{
	struct pcap_writer *w;
	int ret;

	w = writer_new(snaplen, path);
	if (!w) {
		snprintf(err, errlen, "failed to set up libpcap for %s", path);
		return -ENOMEM;
	}

	if (!strcmp(path, "-")) {
		w->to_stdout = true;
		w->file = stdout;
	} else {
		ret = writer_set_dir(w, dirfd, mode, false);
		if (ret) {
			snprintf(err, errlen, "cannot use the directory of %s: %s", path,
				 strerror(-ret));
			goto fail;
		}
		ret = partial_name(path, true, w->tmp_path, w->tmp_size);
		if (ret) {
			snprintf(err, errlen, "output path too long: %s", path);
			w->tmp_path[0] = '\0';
			goto fail;
		}
		/* O_EXCL: never reuse a file, nor follow a link someone put in its place. */
		ret = create_partial(w, path, err, errlen);
		if (ret) {
			w->tmp_path[0] = '\0';
			goto fail;
		}
		/* Before the first byte; without the memory, stdio's own buffer does. */
		w->rec_size = PCAP_WRITER_RECBUF;
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

int pcap_writer_open(const char *path, uint32_t snaplen, struct pcap_writer **out, char *err,
		     size_t errlen)
{
	return pcap_writer_open_at(AT_FDCWD, path, 0, snaplen, out, err, errlen);
}

/*
 * The error of a failed stdio write, as errno said it (-ENOSPC for a full disk, -EPIPE, ...);
 * -EIO when errno says nothing.
 */
static int io_err(void)
{
	return errno > 0 ? -errno : -EIO;
}

/* Hands the gathered records to stdio. */
static int records_out(struct pcap_writer *w)
{
	if (w->err || !w->rec_used)
		return w->err;
	errno = 0;
	if (fwrite(w->rec, w->rec_used, 1, w->file) != 1 || ferror(w->file))
		w->err = io_err();
	w->rec_used = 0;
	return w->err;
}

int pcap_writer_write(struct pcap_writer *w, uint64_t ts_ns, const void *data, uint32_t caplen,
		      uint32_t origlen)
{
	/* pcap's record header as pcap_dump writes it; nanoseconds in place of microseconds. */
	uint32_t hdr[PCAP_REC_HDR_LEN / 4] = {
		(uint32_t)(ts_ns / 1000000000ULL),
		(uint32_t)(ts_ns % 1000000000ULL),
		caplen,
		origlen < caplen ? caplen : origlen,
	};
	size_t need = sizeof(hdr) + (size_t)caplen;

	if (w->err)
		return w->err;
	if (w->rec_used + need > w->rec_size && records_out(w))
		return w->err;
	if (!w->rec && need <= w->rec_size)
		w->rec = malloc(w->rec_size);
	errno = 0;
	if (w->rec && need <= w->rec_size) {
		memcpy(w->rec + w->rec_used, hdr, sizeof(hdr));
		if (caplen)
			memcpy(w->rec + w->rec_used + sizeof(hdr), data, caplen);
		w->rec_used += need;
	} else if (fwrite(hdr, sizeof(hdr), 1, w->file) != 1 ||
		   (caplen && fwrite(data, caplen, 1, w->file) != 1) || ferror(w->file)) {
		/* A record larger than the buffer, or no memory for one: as pcap_dump would. */
		w->err = io_err();
		return w->err;
	}
	w->packets++;
	return 0;
}

int pcap_writer_set_gather(struct pcap_writer *w, size_t size)
{
	if (records_out(w))
		return w->err;
	if (size != w->rec_size) {
		free(w->rec);
		w->rec = NULL;
		w->rec_size = size;
	}
	return 0;
}

int pcap_writer_flush(struct pcap_writer *w)
{
	if (records_out(w))
		return w->err;
	errno = 0;
	if (pcap_dump_flush(w->dumper) || ferror(w->file))
		w->err = io_err();
	return w->err;
}

uint64_t pcap_writer_packets(const struct pcap_writer *w)
{
	return w->packets;
}

enum close_mode {
	CLOSE_DISCARD,	    /* remove the partial file */
	CLOSE_KEEP,	    /* make it final */
	CLOSE_DETACH,	    /* leave the partial file for a later resume */
	CLOSE_KEEP_UNSYNCED /* make it final; the caller syncs (pcap_writer_close_unsynced) */
};

static int writer_close(struct pcap_writer *w, enum close_mode mode)
{
	bool sync = mode == CLOSE_KEEP || mode == CLOSE_DETACH;
	bool flush = sync || mode == CLOSE_KEEP_UNSYNCED;
	int ret;

	if (!w)
		return 0;
	ret = w->err;
	if (w->dumper) {
		if (!ret && flush)
			ret = pcap_writer_flush(w);
		if (!w->to_stdout && !ret && sync && fsync(fileno(w->file)))
			ret = -errno;
		/*
		 * A pcap_dumper_t is its FILE: closing the file releases it. stdout is only
		 * flushed, since the caller may still print to it.
		 */
		if (w->to_stdout) {
			records_out(w);
			fflush(w->file);
		} else if (fclose(pcap_dump_file(w->dumper)) && !ret)
			ret = -errno;
	}
	if (w->tmp_path[0] && mode != CLOSE_DETACH) {
		bool keep = mode == CLOSE_KEEP || mode == CLOSE_KEEP_UNSYNCED;

		if (keep && !ret && !sync) {
			if (renameat(w->dirfd, w->tmp_path, w->dirfd, w->path))
				ret = -errno;
		} else if (keep && !ret) {
			if (w->dirfd != AT_FDCWD)
				ret = safe_rename(w->dirfd, w->tmp_path, w->path);
			else if (rename(w->tmp_path, w->path))
				ret = -errno;
			else
				ret = file_fsync_dir_of(w->path);
		}
		if (!keep || ret)
			unlinkat(w->dirfd, w->tmp_path, 0);
	}
	if (w->dirfd != AT_FDCWD && !w->dir_borrowed)
		close(w->dirfd);
	if (w->dead)
		pcap_close(w->dead);
	free(w->buf);
	free(w->rec);
	free(w);
	return ret;
}

int pcap_writer_close(struct pcap_writer *w, bool keep)
{
	return writer_close(w, keep ? CLOSE_KEEP : CLOSE_DISCARD);
}

int pcap_writer_close_unsynced(struct pcap_writer *w)
{
	return writer_close(w, CLOSE_KEEP_UNSYNCED);
}

int pcap_writer_detach(struct pcap_writer *w)
{
	return writer_close(w, CLOSE_DETACH);
}

static int writer_sync(struct pcap_writer *w, uint64_t *len, bool sync)
{
	int64_t pos;

	if (w->to_stdout)
		return -EINVAL;
	if (pcap_writer_flush(w))
		return w->err;
	if (sync && fsync(fileno(w->file))) {
		w->err = io_err();
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

int pcap_writer_sync(struct pcap_writer *w, uint64_t *len)
{
	return writer_sync(w, len, true);
}

int pcap_writer_written(struct pcap_writer *w, uint64_t *len)
{
	return writer_sync(w, len, false);
}

#define PCAP_MAGIC_NSEC 0xa1b23c4dU
/* libpcap refuses larger records when it reads a file (MAXIMUM_SNAPLEN). */
#define PCAP_REC_MAX 262144U

/*
 * Cuts an existing partial file as pcap_writer_open_resumable describes and fills r; on success
 * *fdp is the file, open for reading and writing. -ENOENT when there is none, -EBADMSG when its
 * header is not ours (the caller starts afresh), -ELOOP when a symlink is in its place (never
 * followed), -EPERM when something other than a regular file is.
 */
static int cut_partial(int dirfd, const char *tmp_path, struct pcap_writer_resume *r, int *fdp)
{
	uint32_t fh[PCAP_FILE_HDR_LEN / 4], rh[PCAP_REC_HDR_LEN / 4];
	uint64_t pos = PCAP_FILE_HDR_LEN, end, size;
	struct stat st;
	int fd, ret = 0;

	fd = openat(dirfd, tmp_path, O_RDWR | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	if (fstat(fd, &st)) {
		ret = -errno;
		goto out;
	}
	if (!S_ISREG(st.st_mode)) {
		ret = -EPERM;
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
	if (r->resumed) {
		*fdp = fd;
		return 0;
	}
	close(fd);
	return ret;
}

/*
 * A resumable writer's stream without stdio's buffer: its records are gathered in w->rec
 * already, and each goes to write(2) from there. A full capture keeps one a host: a second
 * buffer was another 4 KiB of each (and page faults to fill it), and another copy of every byte.
 */
static void unbuffered(struct pcap_writer *w)
{
	setvbuf(w->file, NULL, _IONBF, 0);
}

/* Continues the partial file fd (cut_partial checked its header) after its last record. */
static int resume_dump(struct pcap_writer *w, int fd, char *err, size_t errlen)
{
	int ret;

	/* Read-write, not append: our header goes over the old one, the same but for snaplen. */
	w->file = fdopen(fd, "r+b");
	if (!w->file) {
		ret = -errno;
		snprintf(err, errlen, "cannot open %s: %s", w->tmp_path, strerror(errno));
		close(fd);
		return ret;
	}
	unbuffered(w);
	ret = start_dump(w, w->tmp_path, err, errlen);
	if (ret)
		return ret;
	if (fseeko(w->file, 0, SEEK_END)) {
		ret = -errno;
		snprintf(err, errlen, "cannot append to %s: %s", w->tmp_path, strerror(errno));
		w->err = ret;
	}
	return ret;
}

static int open_resumable(int dirfd, bool borrow, const char *path, mode_t mode, uint32_t snaplen,
			  struct pcap_writer_resume *r, struct pcap_writer **out, char *err,
			  size_t errlen)
{
	struct pcap_writer *w;
	struct stat st;
	int fd = -1, ret;

	r->resumed = r->mismatch = false;
	r->packets = r->bytes = r->length = r->cut_bytes = 0;
	w = writer_new(snaplen, path);
	if (!w) {
		snprintf(err, errlen, "failed to set up libpcap for %s", path);
		return -ENOMEM;
	}
	if (!strcmp(path, "-") || partial_name(path, false, w->tmp_path, w->tmp_size)) {
		snprintf(err, errlen, "not a resumable output path: %s", path);
		ret = -EINVAL;
		goto fail_nofile;
	}
	ret = writer_set_dir(w, dirfd, mode, borrow);
	if (ret) {
		snprintf(err, errlen, "cannot use the directory of %s: %s", path, strerror(-ret));
		goto fail_nofile;
	}

	if (r->keep_len) {
		ret = cut_partial(w->dirfd, w->tmp_path, r, &fd);
		if (ret == -ELOOP) {
			snprintf(err, errlen,
				 "cannot resume %s: a symbolic link is in its place (refusing to "
				 "follow it)",
				 w->tmp_path);
			goto fail_nofile;
		}
		if (ret == -EPERM) {
			snprintf(err, errlen, "cannot resume %s: not a regular file", w->tmp_path);
			goto fail_nofile;
		}
		if (ret && ret != -ENOENT && ret != -EBADMSG) {
			snprintf(err, errlen, "cannot resume %s: %s", w->tmp_path, strerror(-ret));
			goto fail_nofile;
		}
	}
	if (r->resumed) {
		ret = resume_dump(w, fd, err, errlen);
		if (ret)
			goto fail_nofile;
		w->packets = r->packets;
	} else {
		/* Afresh: a regular file of ours goes first; anything else stays and is refused. */
		if (!fstatat(w->dirfd, w->tmp_path, &st, AT_SYMLINK_NOFOLLOW) &&
		    S_ISREG(st.st_mode))
			unlinkat(w->dirfd, w->tmp_path, 0);
		ret = create_partial(w, w->tmp_path, err, errlen);
		if (ret)
			goto fail_nofile;
		unbuffered(w);
		/*
		 * Its entry survives a crash: a restart resumes it, as the checkpoint says. A
		 * borrowed directory's owner syncs it for all its writers (pcap_writer.h).
		 */
		if (borrow)
			ret = 0;
		else
			ret = w->dirfd != AT_FDCWD ? (fsync(w->dirfd) ? -errno : 0)
						   : file_fsync_dir_of(w->tmp_path);
		if (ret) {
			snprintf(err, errlen, "cannot sync the directory of %s: %s", w->tmp_path,
				 strerror(-ret));
			goto fail;
		}
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

int pcap_writer_open_resumable_at(int dirfd, const char *path, mode_t mode, uint32_t snaplen,
				  struct pcap_writer_resume *r, struct pcap_writer **out, char *err,
				  size_t errlen)
{
	return open_resumable(dirfd, false, path, mode, snaplen, r, out, err, errlen);
}

int pcap_writer_open_resumable_borrowed(int dirfd, const char *path, mode_t mode, uint32_t snaplen,
					struct pcap_writer_resume *r, struct pcap_writer **out,
					char *err, size_t errlen)
{
	if (dirfd < 0) {
		snprintf(err, errlen, "no directory descriptor for %s", path);
		return -EBADF;
	}
	return open_resumable(dirfd, true, path, mode, snaplen, r, out, err, errlen);
}

int pcap_writer_open_resumable(const char *path, uint32_t snaplen, struct pcap_writer_resume *r,
			       struct pcap_writer **out, char *err, size_t errlen)
{
	return pcap_writer_open_resumable_at(AT_FDCWD, path, SAFE_FILE_MODE, snaplen, r, out, err,
					     errlen);
}

int pcap_writer_salvage(struct pcap_writer *w, struct pcap_writer_resume *r)
{
	int fd = -1, ret;

	memset(r, 0, sizeof(*r));
	if (!w)
		return -EINVAL;
	if (w->to_stdout || !w->tmp_path[0]) {
		pcap_writer_close(w, false);
		return -EINVAL;
	}
	/*
	 * What stdio still holds goes out if it can, after what went before: the file stays a
	 * prefix of the records written, its last one perhaps torn. The records not yet handed
	 * to stdio (w->rec) are dropped.
	 */
	if (w->dumper)
		fclose(pcap_dump_file(w->dumper));
	w->dumper = NULL;
	w->file = NULL;
	r->keep_len = UINT64_MAX;
	ret = cut_partial(w->dirfd, w->tmp_path, r, &fd);
	if (!ret) {
		close(fd);
		if (w->dirfd != AT_FDCWD)
			ret = safe_rename(w->dirfd, w->tmp_path, w->path);
		else if (rename(w->tmp_path, w->path))
			ret = -errno;
		else
			ret = file_fsync_dir_of(w->path);
	} else if (ret == -EBADMSG || ret == -ENOENT) {
		/* Not even a whole file header: nothing worth keeping. */
		unlinkat(w->dirfd, w->tmp_path, 0);
		r->packets = r->bytes = 0;
	}
	/* Otherwise the partial file stays where it is: it may be all there is of the capture. */
	writer_close(w, CLOSE_DETACH);
	return ret;
}
