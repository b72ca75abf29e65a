// SPDX-License-Identifier: BSD-2-Clause
#include "pcap_sink.h"
#include "pcap_writer.h"

int pcap_sink_open(struct pcap_sink *s, const char *path, uint32_t snaplen, char *err,
		   size_t errlen)
{
	*s = (struct pcap_sink){ 0 };
	return pcap_writer_open(path, snaplen, &s->writer, err, errlen);
}

int pcap_sink_open_at(struct pcap_sink *s, int dirfd, const char *name, mode_t mode,
		      uint32_t snaplen, char *err, size_t errlen)
{
	*s = (struct pcap_sink){ 0 };
	return pcap_writer_open_at(dirfd, name, mode, snaplen, &s->writer, err, errlen);
}

int pcap_sink_record(void *ctx, const struct ec_record *rec, const uint8_t *data, uint32_t cap_len)
{
	struct pcap_sink *s = ctx;
	int ret = pcap_writer_write(s->writer, rec->tstamp_ns, data, cap_len, rec->orig_len);

	if (ret)
		s->error = ret;
	return ret;
}

int pcap_sink_close(struct pcap_sink *s, bool keep)
{
	int ret = pcap_writer_close(s->writer, keep);

	s->writer = NULL;
	return ret;
}
