/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * conffile.h: the config file format of edgecap's daemons: one `key = value` a line, the keys
 * being the long flag names (without the dashes; '_' and '-' alike within a key, so that tls_ca,
 * the design's spelling, is tls-ca), `#` starting a comment line, blank lines
 * ignored, repeatable keys (like interface) given once a line. Values run to the end of the line,
 * surrounding blanks trimmed; no quoting. Flags on the command line override the file.
 *
 * conffile_parse_args() is the one command-line parser of both daemons: a daemon gives its table
 * of options and an apply callback that checks and stores one value; the parser reads every
 * --config FILE first and then the flags in order, so that a flag overrides the file wherever it
 * stands, and names the option and the bad value in every error: a bad flag is a usage error
 * as usage.h words it, a bad file line "FILE:LINE: invalid KEY 'VALUE': WHY". --config FILE,
 * -v/--verbose and -h/--help are the parser's own and come after the daemon's options in getopt's
 * table (the order getopt lists an ambiguous abbreviation's candidates in). --version prints
 * "PROG edgecap X.Y.Z" (the project's version) and wins over everything else on the line.
 */
#ifndef EDGECAP_CONFFILE_H
#define EDGECAP_CONFFILE_H

#include <stdbool.h>
#include <stddef.h>

/*
 * Called once per setting in file order; returns 0, or a negative errno with a message in err
 * (the parser adds "FILE:LINE: " in front).
 */
typedef int (*conffile_fn)(void *ctx, const char *key, const char *value, char *err, size_t errlen);

int conffile_parse(const char *path, conffile_fn fn, void *ctx, char *err, size_t errlen);

/* One option of a daemon: --NAME on the command line, `NAME = value` in the config file. */
struct conffile_option {
	const char *name;
	int id;		/* handed to apply; the daemon's own numbering */
	bool is_switch; /* takes no value: on when named, `NAME = true|yes|1` in a file */
};

/*
 * Checks and stores one setting. name is how the user wrote it ("--snaplen" for a flag, "snaplen"
 * for a file key), value is "true" for a switch; from_flag tells a flag from a file line (flags
 * may replace what a file gave rather than add to it). Returns 0, or a negative errno with why
 * the value is refused in err, e.g. "must be an integer from 1 to 10": the parser names the
 * setting and the value around it.
 */
typedef int (*conffile_apply_fn)(void *ctx, int id, const char *name, const char *value,
				 bool from_flag, char *err, size_t errlen);

struct conffile_spec {
	const char *prog;		       /* "edgecap-agent": in hints and messages */
	const char *usage;		       /* the --help text, printed on stdout */
	const struct conffile_option *options; /* ends with a { NULL } entry */
	conffile_apply_fn apply;
	void *ctx;     /* apply's first argument */
	bool *verbose; /* set by -v, --verbose or `verbose = true` */
	/* -h or --help as a whole argument before `--` wins over a bad file or flag. */
	bool help_first;
};

/*
 * Reads every --config FILE (--config=FILE) of argv, then the flags. Returns 0 to run, 1 when
 * --help or --version was printed, or a negative errno after printing what is wrong.
 */
int conffile_parse_args(const struct conffile_spec *spec, int argc, char **argv);

/* Copies a string setting of 1 to size - 1 characters, or says why not in err (-EINVAL). */
int conffile_copy_str(char *dst, size_t size, const char *name, const char *value, char *err,
		      size_t errlen);

#endif /* EDGECAP_CONFFILE_H */
