// SPDX-License-Identifier: BSD-2-Clause
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <pcap/pcap.h>

#include "corpus.h"

static int is_capture_file(const struct dirent *d)
{
	size_t n = strlen(d->d_name);

	return (n > 5 && !strcmp(d->d_name + n - 5, ".pcap")) ||
	       (n > 7 && !strcmp(d->d_name + n - 7, ".pcapng"));
}

static void corpus_file(const char *dir, const char *name, corpus_frame_fn fn, void *ctx,
			struct corpus_stats *st)
{
	char path[4096], errbuf[PCAP_ERRBUF_SIZE];
	struct pcap_pkthdr *h;
	const u_char *data;
	uint64_t index = 0;
	pcap_t *pc;
	int rc;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	pc = pcap_open_offline(path, errbuf);
	if (!pc) {
		fprintf(stderr, "     %s: %s\n", name, errbuf);
		st->files_read_errors++;
		return;
	}
	if (pcap_datalink(pc) != DLT_EN10MB) {
		st->files_other_link++;
		pcap_close(pc);
		return;
	}
	st->files++;
	while ((rc = pcap_next_ex(pc, &h, &data)) == 1)
		fn(ctx, name, ++index, data, h->caplen);
	/* Some tcpdump test files end in a cut-off record on purpose: count, do not fail. */
	if (rc == PCAP_ERROR)
		st->files_read_errors++;
	pcap_close(pc);
}

int corpus_foreach(const char *dir, corpus_frame_fn fn, void *ctx, struct corpus_stats *st)
{
	struct dirent **names = NULL;
	int n, i;

	memset(st, 0, sizeof(*st));
	n = scandir(dir, &names, is_capture_file, alphasort);
	if (n < 0)
		return -errno;
	for (i = 0; i < n; i++) {
		corpus_file(dir, names[i]->d_name, fn, ctx, st);
		free(names[i]);
	}
	free(names);
	return 0;
}
