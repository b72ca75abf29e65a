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

#include "pcap_writer.h"

struct pcap_writer {
	pcap_t *dead;
	pcap_dumper_t *dumper;
	FILE *file;
	bool to_stdout;
	int err;
	uint64_t packets;
	char path[PATH_MAX];
	char tmp_path[PATH_MAX];
};

static int partial_name(const char *path, char *out, size_t outlen)
{
	char dir_buf[PATH_MAX], base_buf[PATH_MAX];
	int n;

	if (strlen(path) >= sizeof(dir_buf))
		return -ENAMETOOLONG;
	strcpy(dir_buf, path);
	strcpy(base_buf, path);
	static unsigned int counter;

	n = snprintf(out, outlen, "%s/.%s.partial.%d.%u", dirname(dir_buf), basename(base_buf),
		     (int)getpid(), __atomic_fetch_add(&counter, 1, __ATOMIC_RELAXED));
	return n < 0 || (size_t)n >= outlen ? -ENAMETOOLONG : 0;
}

int pcap_writer_open(const char *path, uint32_t snaplen, struct pcap_writer **out, char *err,
		     size_t errlen)
{
	struct pcap_writer *w;
	int fd = -1, ret;

	w = calloc(1, sizeof(*w));
	if (!w)
		return -ENOMEM;
	w->dead = pcap_open_dead_with_tstamp_precision(DLT_EN10MB, (int)snaplen,
						       PCAP_TSTAMP_PRECISION_NANO);
	if (!w->dead) {
		ret = -ENOMEM;
		snprintf(err, errlen, "failed to set up libpcap for %s", path);
		goto fail;
	}

	if (!strcmp(path, "-")) {
		w->to_stdout = true;
		w->file = stdout;
	} else {
		snprintf(w->path, sizeof(w->path), "%s", path);
		ret = partial_name(path, w->tmp_path, sizeof(w->tmp_path));
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
		w->file = fdopen(fd, "wb");
		if (!w->file) {
			ret = -errno;
			snprintf(err, errlen, "cannot open %s: %s", w->tmp_path, strerror(errno));
			close(fd);
			goto fail;
		}
	}

	w->dumper = pcap_dump_fopen(w->dead, w->file);
	if (!w->dumper) {
		ret = -EIO;
		snprintf(err, errlen, "cannot write pcap header to %s: %s", path,
			 pcap_geterr(w->dead));
		if (!w->to_stdout)
			fclose(w->file);
		w->file = NULL;
		goto fail;
	}
	/* The header goes out now, so a reader on a pipe sees a valid (empty) capture at once. */
	ret = pcap_writer_flush(w);
	if (ret) {
		snprintf(err, errlen, "cannot write to %s: %s", path, strerror(-ret));
		goto fail;
	}
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

/* Makes a rename durable: the directory entry must reach the disk too. */
static int fsync_dir_of(const char *path)
{
	char dir_buf[PATH_MAX];
	int fd, ret = 0;

	snprintf(dir_buf, sizeof(dir_buf), "%s", path);
	fd = open(dirname(dir_buf), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	if (fsync(fd))
		ret = -errno;
	close(fd);
	return ret;
}

int pcap_writer_close(struct pcap_writer *w, bool keep)
{
	int ret;

	if (!w)
		return 0;
	ret = w->err;
	if (w->dumper) {
		if (!ret && keep)
			ret = pcap_writer_flush(w);
		if (!w->to_stdout && !ret && keep && fsync(fileno(w->file)))
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
	if (w->tmp_path[0]) {
		if (keep && !ret) {
			if (rename(w->tmp_path, w->path))
				ret = -errno;
			else
				ret = fsync_dir_of(w->path);
		}
		if (!keep || ret)
			unlink(w->tmp_path);
	}
	if (w->dead)
		pcap_close(w->dead);
	free(w);
	return ret;
}
