/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * usage.h: the one wording of a usage error in every edgecap program (edgecapctl and its
 * commands, edgecap-agent, edgecap-aggregator), two lines on stderr:
 *
 *   PROGRAM: BAD THING 'VALUE': WHY
 *   run 'PROGRAM --help' for usage
 *
 * e.g. "edgecap-agent: invalid --snaplen 'lots': must be an integer from 1 to 262144" or
 * "edgecapctl capture: unknown option '--frobnicate'". The program then exits 2 (bad usage).
 * When stderr is the journal the first line carries the error priority "<3>".
 *
 * getopt users set opterr = 0 and start their option string with ':' so that a missing value
 * comes back as ':' and an unknown option as '?'; usage_getopt_error words both.
 */
#ifndef EDGECAP_USAGE_H
#define EDGECAP_USAGE_H

/*
 * Prints the two lines: " 'VALUE'" only when value is not NULL, ": WHY" only when why_fmt is
 * not NULL (a printf format). Returns -EINVAL.
 */
int usage_error(const char *prog, const char *what, const char *value, const char *why_fmt, ...)
	__attribute__((format(printf, 4, 5)));
/*
 * getopt_long returned '?' (unknown option) or ':' (missing value): says which, from optopt and
 * argv[optind - 1]. Returns -EINVAL.
 */
int usage_getopt_error(const char *prog, int opt, char **argv);

#endif /* EDGECAP_USAGE_H */
