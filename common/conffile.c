// SPDX-License-Identifier: BSD-2-Clause
#include <ctype.h>
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conffile.h"
#include "fileutil.h"
#include "log.h"
#include "version.h"
#include "usage.h"

/* getopt values of the daemon's options (their index added) and of --config after them. */
#define OPT_BASE 256

static char *trim(char *s)
{
	char *end;

	while (isspace((unsigned char)*s))
		s++;
	end = s + strlen(s);
	while (end > s && isspace((unsigned char)end[-1]))
		*--end = '\0';
	return s;
}

int conffile_parse(const char *path, conffile_fn fn, void *ctx, char *err, size_t errlen)
{
	char *line = NULL, *key, *value, *eq, msg[256];
	size_t cap = 0;
	unsigned int lineno = 0;
	const char *why;
	FILE *f;
	int ret = 0;

	/* Only a regular file: a FIFO would hang the start (file_open_regular). */
	f = file_fopen_regular(path, &why);
	if (!f) {
		ret = -errno;
		snprintf(err, errlen, "cannot read config file %s: %s", path,
			 why ? why : strerror(errno));
		return ret;
	}
	while (getline(&line, &cap, f) >= 0) {
		lineno++;
		key = trim(line);
		if (!*key || *key == '#')
			continue;
		eq = strchr(key, '=');
		if (!eq) {
			snprintf(err, errlen, "%s:%u: expected `key = value`, got \"%s\"", path,
				 lineno, key);
			ret = -EINVAL;
			break;
		}
		*eq = '\0';
		value = trim(eq + 1);
		key = trim(key);
		msg[0] = '\0';
		ret = fn(ctx, key, value, msg, sizeof(msg));
		if (ret) {
			snprintf(err, errlen, "%s:%u: %s", path, lineno, msg);
			break;
		}
	}
	if (!ret && ferror(f)) {
		ret = -EIO;
		snprintf(err, errlen, "cannot read config file %s", path);
	}
	free(line);
	fclose(f);
	return ret;
}

int conffile_copy_str(char *dst, size_t size, const char *name, const char *value, char *err,
		      size_t errlen)
{
	(void)name;
	if (!*value || strlen(value) >= size) {
		snprintf(err, errlen, "must be 1 to %zu characters", size - 1);
		return -EINVAL;
	}
	strcpy(dst, value);
	return 0;
}

/* A file's key names option name: the same, '_' and '-' alike (tls_ca is tls-ca). */
static bool key_names(const char *key, const char *name)
{
	for (; *key && *name; key++, name++) {
		if (*key != *name &&
		    !((*key == '_' || *key == '-') && (*name == '_' || *name == '-')))
			return false;
	}
	return *key == *name;
}

/* One `key = value` of a --config file: the same options as the flags, but --config and --help. */
static int file_line(void *ctx, const char *key, const char *value, char *err, size_t errlen)
{
	const struct conffile_spec *spec = ctx;
	const struct conffile_option *o;
	bool verbose = !strcmp(key, "verbose");

	for (o = spec->options; o->name && !key_names(key, o->name); o++)
		;
	char why[256] = "";
	int ret;

	if (!o->name && !verbose) {
		snprintf(err, errlen, "unknown setting '%s' (see %s --help)", key, spec->prog);
		return -EINVAL;
	}
	if ((verbose || o->is_switch) && strcmp(value, "true") && strcmp(value, "yes") &&
	    strcmp(value, "1")) {
		/* A switch is on when named; anything but a yes is a mistake. */
		snprintf(err, errlen, "invalid %s '%s': expected true", key, value);
		return -EINVAL;
	}
	if (verbose) {
		*spec->verbose = true;
		return 0;
	}
	ret = spec->apply(spec->ctx, o->id, key, value, false, why, sizeof(why));
	if (ret)
		snprintf(err, errlen, "invalid %s '%s': %s", key, value, why);
	return ret;
}

/* Every --config FILE of argv, in order; a later file overrides an earlier one. */
static int read_files(const struct conffile_spec *spec, int argc, char **argv)
{
	char err[512];
	int i, ret;

	for (i = 1; i < argc; i++) {
		const char *path = NULL;

		if (!strcmp(argv[i], "--config") && i + 1 < argc)
			path = argv[++i];
		else if (!strncmp(argv[i], "--config=", 9))
			path = argv[i] + 9;
		if (!path)
			continue;
		ret = conffile_parse(path, file_line, (void *)spec, err, sizeof(err));
		if (ret) {
			pr_err("%s", err);
			return ret;
		}
	}
	return 0;
}

/* getopt's table: the daemon's options, then --config, --verbose and --help. */
static struct option *getopt_table(const struct conffile_spec *spec, int *config_val)
{
	struct option *longopts;
	int i, n;

	for (n = 0; spec->options[n].name; n++)
		;
	longopts = calloc((size_t)n + 4, sizeof(*longopts));
	if (!longopts)
		return NULL;
	for (i = 0; i < n; i++) {
		longopts[i].name = spec->options[i].name;
		longopts[i].has_arg = spec->options[i].is_switch ? no_argument : required_argument;
		longopts[i].val = OPT_BASE + i;
	}
	*config_val = OPT_BASE + n;
	longopts[n] = (struct option){ "config", required_argument, NULL, OPT_BASE + n };
	longopts[n + 1] = (struct option){ "verbose", no_argument, NULL, 'v' };
	longopts[n + 2] = (struct option){ "help", no_argument, NULL, 'h' };
	return longopts;
}

int conffile_parse_args(const struct conffile_spec *spec, int argc, char **argv)
{
	struct option *longopts = NULL;
	const struct conffile_option *o;
	int opt, i, ret, config_val;
	char err[512], name[64], what[80];

	/*
	 * --version (as a whole argument before `--`) wins over any file or flag, and so does
	 * --help with help_first: whichever comes first.
	 */
	for (i = 1; i < argc && strcmp(argv[i], "--"); i++) {
		if (!strcmp(argv[i], "--version")) {
			printf("%s edgecap %s\n", spec->prog, EDGECAP_VERSION);
			return 1;
		}
		if (spec->help_first && (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help"))) {
			fputs(spec->usage, stdout);
			return 1;
		}
	}
	/* The files first, so that flags override them wherever they appear. */
	ret = read_files(spec, argc, argv);
	if (ret)
		return ret;

	longopts = getopt_table(spec, &config_val);
	if (!longopts) {
		pr_err("cannot parse the command line: %s", strerror(ENOMEM));
		return -ENOMEM;
	}
	/* 0, not 1: getopt starts afresh even after an earlier parse stopped mid-argument. */
	optind = 0;
	opterr = 0;
	while ((opt = getopt_long(argc, argv, ":vh", longopts, NULL)) != -1) {
		if (opt == config_val)
			continue;
		if (opt == 'h' && !spec->help_first) {
			fputs(spec->usage, stdout);
			ret = 1;
			goto out;
		}
		if (opt == 'h') {
			/*
			 * help_first looked for -h and --help as whole arguments; an abbreviated or
			 * bundled one (--hel, -vh) is refused, as edgecap-aggregator always has.
			 */
			ret = usage_getopt_error(spec->prog, '?', argv);
			goto out;
		}
		if (opt == '?' || opt == ':') {
			ret = usage_getopt_error(spec->prog, opt, argv);
			goto out;
		}
		if (opt == 'v') {
			*spec->verbose = true;
			continue;
		}
		o = &spec->options[opt - OPT_BASE];
		snprintf(name, sizeof(name), "--%s", o->name);
		ret = spec->apply(spec->ctx, o->id, name, optarg ? optarg : "true", true, err,
				  sizeof(err));
		if (ret) {
			snprintf(what, sizeof(what), "invalid %s", name);
			usage_error(spec->prog, what, optarg ? optarg : "true", "%s", err);
			goto out;
		}
	}
	ret = 0;
	if (optind < argc)
		ret = usage_error(spec->prog, "unexpected argument", argv[optind],
				  "%s takes options only", spec->prog);
out:
	free(longopts);
	return ret;
}
