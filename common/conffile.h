/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * conffile.h: the config file format of edgecap's daemons: one `key = value` a line, the keys
 * being the long flag names (without the dashes), `#` starting a comment line, blank lines
 * ignored, repeatable keys (like interface) given once a line. Values run to the end of the line,
 * surrounding blanks trimmed; no quoting. Flags on the command line override the file.
 */
#ifndef EDGECAP_CONFFILE_H
#define EDGECAP_CONFFILE_H

#include <stddef.h>

/*
 * Called once per setting in file order; returns 0, or a negative errno with a message in err
 * (the parser adds "FILE:LINE: " in front).
 */
typedef int (*conffile_fn)(void *ctx, const char *key, const char *value, char *err, size_t errlen);

int conffile_parse(const char *path, conffile_fn fn, void *ctx, char *err, size_t errlen);

#endif /* EDGECAP_CONFFILE_H */
