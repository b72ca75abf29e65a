// SPDX-License-Identifier: BSD-2-Clause
/*
 * test_conffile.c: the daemons' one command-line parser (common/conffile.h): --config files
 * first, then flags that override them, errors that name the option and the bad value, and the
 * two styles of usage errors and --help the daemons keep.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "conffile.h"
#include "strnum.h"
#include "testing.h"
#include "version.h"

enum {
	OPT_NAME,
	OPT_COUNT,
	OPT_ITEM,
	OPT_DRY_RUN
};

static const struct conffile_option toy_options[] = {
	{ "name", OPT_NAME },
	{ "count", OPT_COUNT },
	{ "item", OPT_ITEM },
	{ "dry-run", OPT_DRY_RUN, true },
	{ NULL },
};

struct toy {
	char name[8];
	uint32_t count;
	char items[4][8];
	unsigned int n_items;
	bool items_from_flags;
	bool dry_run;
	bool verbose;
};

static int toy_apply(void *ctx, int id, const char *name, const char *value, bool from_flag,
		     char *err, size_t errlen)
{
	struct toy *t = ctx;

	switch (id) {
	case OPT_NAME:
		return conffile_copy_str(t->name, sizeof(t->name), name, value, err, errlen);
	case OPT_COUNT:
		if (strnum_u32(value, 1, 10, &t->count)) {
			snprintf(err, errlen, "must be an integer from 1 to 10");
			return -EINVAL;
		}
		return 0;
	case OPT_ITEM:
		/* Like edgecap-agent's --interface: flags replace the file's list. */
		if (from_flag && !t->items_from_flags) {
			t->n_items = 0;
			t->items_from_flags = true;
		}
		if (t->n_items == 4) {
			snprintf(err, errlen, "%s: at most 4", name);
			return -EINVAL;
		}
		return conffile_copy_str(t->items[t->n_items++], sizeof(t->items[0]), name, value,
					 err, errlen);
	case OPT_DRY_RUN:
		t->dry_run = true;
		return 0;
	}
	return -EINVAL;
}

static char conf_path[] = "/tmp/test_conffile.XXXXXX";
static char out[2048], errout[2048];

static void write_conf(const char *text)
{
	FILE *f = fopen(conf_path, "w");

	fputs(text, f);
	fclose(f);
}

/* Runs the parser on a NULL-terminated argv with stdout and stderr captured in out and errout. */
static int parse(struct toy *t, bool daemon_style, char **args)
{
	const struct conffile_spec spec = {
		.prog = "toy",
		.usage = "usage: toy [options]\n",
		.options = toy_options,
		.apply = toy_apply,
		.ctx = t,
		.verbose = &t->verbose,
		.help_first = daemon_style,
	};
	char *argv[32];
	int argc = 0, ret, saved_out, saved_err;
	FILE *fo = tmpfile(), *fe = tmpfile();
	size_t n;

	argv[argc++] = "toy";
	while (*args)
		argv[argc++] = *args++;
	argv[argc] = NULL;
	memset(t, 0, sizeof(*t));
	t->count = 5;

	fflush(stdout);
	fflush(stderr);
	saved_out = dup(1);
	saved_err = dup(2);
	dup2(fileno(fo), 1);
	dup2(fileno(fe), 2);
	ret = conffile_parse_args(&spec, argc, argv);
	fflush(stdout);
	fflush(stderr);
	dup2(saved_out, 1);
	dup2(saved_err, 2);
	close(saved_out);
	close(saved_err);

	rewind(fo);
	n = fread(out, 1, sizeof(out) - 1, fo);
	out[n] = '\0';
	rewind(fe);
	n = fread(errout, 1, sizeof(errout) - 1, fe);
	errout[n] = '\0';
	fclose(fo);
	fclose(fe);
	return ret;
}

#define ARGS(...) ((char *[]){ __VA_ARGS__, NULL })

static void test_flags_set_values_and_defaults_stay(void)
{
	struct toy t;

	CHECK(parse(&t, true, ARGS("--name", "ab", "--dry-run", "-v")) == 0, "%s", errout);
	CHECK(!strcmp(t.name, "ab"), "name %s", t.name);
	CHECK(t.dry_run && t.verbose, "switches on");
	CHECK_EQ_U64(t.count, 5, "count keeps its default");
	CHECK(!errout[0] && !out[0], "nothing printed: %s%s", out, errout);
}

static void test_file_is_read_and_flags_override_it_wherever_they_stand(void)
{
	struct toy t;

	write_conf("# a comment\n\n  name = fromfi  \ncount = 3\ndry-run = yes\nverbose = 1\n");
	CHECK(parse(&t, true, ARGS("--count", "7", "--config", conf_path)) == 0, "%s", errout);
	CHECK(!strcmp(t.name, "fromfi"), "name from the file: %s", t.name);
	CHECK_EQ_U64(t.count, 7, "the flag before --config still wins");
	CHECK(t.dry_run && t.verbose, "switches from the file");

	CHECK(parse(&t, false, ARGS("--config=x", "--config", conf_path, "--name=flag")) != 0,
	      "every --config is read");
	CHECK_STR_CONTAINS(errout, "cannot read config file x");
}

/* A FIFO given as the config file is refused at once: reading it would wait for a writer. */
static void test_a_fifo_is_not_a_config_file(void)
{
	char fifo[] = "/tmp/test_conffile_fifo.XXXXXX";
	struct toy t;
	int fd = mkstemp(fifo);

	CHECK(fd >= 0, "mkstemp");
	close(fd);
	unlink(fifo);
	CHECK(mkfifo(fifo, 0600) == 0, "mkfifo %s: %s", fifo, strerror(errno));
	CHECK(parse(&t, false, ARGS("--config", fifo)) != 0, "a FIFO as --config");
	CHECK_STR_CONTAINS(errout, "not a regular file (a FIFO)");
	unlink(fifo);
}

/*
 * A file's keys take '_' for '-' and the other way round: docs/design.md names the TLS keys
 * tls_ca, tls_cert and tls_key, the flags being --tls-ca and so on. Flags keep their spelling.
 */
static void test_file_keys_take_underscores_for_dashes(void)
{
	struct toy t;

	write_conf("dry_run = yes\n");
	CHECK(parse(&t, true, ARGS("--config", conf_path)) == 0, "%s", errout);
	CHECK(t.dry_run, "dry_run sets dry-run");
	write_conf("dry_ru = yes\n");
	CHECK(parse(&t, true, ARGS("--config", conf_path)) != 0, "dry_ru is no key");
	CHECK_STR_CONTAINS(errout, "unknown setting 'dry_ru'");
	write_conf("dry_run_ = yes\n");
	CHECK(parse(&t, true, ARGS("--config", conf_path)) != 0, "dry_run_ is no key");
	CHECK(parse(&t, true, ARGS("--dry_run")) != 0, "--dry_run is no flag");
}

static void test_flags_replace_a_repeatable_list_from_the_file(void)
{
	struct toy t;

	write_conf("item = a\nitem = b\n");
	CHECK(parse(&t, false, ARGS("--config", conf_path)) == 0, "%s", errout);
	CHECK_EQ_U64(t.n_items, 2, "the file's items add up");
	CHECK(parse(&t, false, ARGS("--item", "c", "--config", conf_path, "--item", "d")) == 0,
	      "%s", errout);
	CHECK_EQ_U64(t.n_items, 2, "the flags' items replace the file's");
	CHECK(!strcmp(t.items[0], "c") && !strcmp(t.items[1], "d"), "items %s %s", t.items[0],
	      t.items[1]);
}

static void test_file_errors_name_file_line_key_and_value(void)
{
	struct toy t;

	write_conf("name = a\ncount = 11\n");
	CHECK(parse(&t, true, ARGS("--config", conf_path)) == -EINVAL, "bad value");
	CHECK_STR_CONTAINS(errout, ":2: invalid count '11': must be an integer from 1 to 10");

	write_conf("bogus = 1\n");
	CHECK(parse(&t, false, ARGS("--config", conf_path)) == -EINVAL, "unknown key");
	CHECK_STR_CONTAINS(errout, ":1: unknown setting 'bogus' (see toy --help)");

	write_conf("config = other\nhelp = true\n");
	CHECK(parse(&t, false, ARGS("--config", conf_path)) == -EINVAL, "config is no key");
	CHECK_STR_CONTAINS(errout, "unknown setting 'config'");

	write_conf("dry-run = maybe\n");
	CHECK(parse(&t, false, ARGS("--config", conf_path)) == -EINVAL, "switch not a yes");
	CHECK_STR_CONTAINS(errout, ":1: invalid dry-run 'maybe': expected true");

	write_conf("name\n");
	CHECK(parse(&t, false, ARGS("--config", conf_path)) == -EINVAL, "no =");
	CHECK_STR_CONTAINS(errout, ":1: expected `key = value`, got \"name\"");

	write_conf("name = \n");
	CHECK(parse(&t, false, ARGS("--config", conf_path)) == -EINVAL, "empty value");
	CHECK_STR_CONTAINS(errout, ":1: invalid name '': must be 1 to 7 characters");
}

static void test_flag_errors_name_the_flag_and_value(void)
{
	struct toy t;

	CHECK(parse(&t, true, ARGS("--count", "0")) == -EINVAL, "bad value");
	CHECK(!strcmp(errout, "toy: invalid --count '0': must be an integer from 1 to 10\n"
			      "run 'toy --help' for usage\n"),
	      "usage.h's two lines: %s", errout);
	CHECK(parse(&t, false, ARGS("--name", "toolongname")) == -EINVAL, "too long");
	CHECK_STR_CONTAINS(errout,
			   "toy: invalid --name 'toolongname': must be 1 to 7 characters\n");
}

static void test_usage_errors_name_the_option_and_hint_at_help(void)
{
	struct toy t;

	CHECK(parse(&t, true, ARGS("--bogus")) == -EINVAL, "unknown flag");
	CHECK(!strcmp(errout, "toy: unknown option '--bogus'\nrun 'toy --help' for usage\n"),
	      "unknown: %s", errout);
	CHECK(parse(&t, false, ARGS("-x")) == -EINVAL, "unknown short flag");
	CHECK_STR_CONTAINS(errout, "toy: unknown option '-x'\n");
	CHECK(parse(&t, true, ARGS("--count")) == -EINVAL, "missing value");
	CHECK(!strcmp(errout, "toy: missing value for '--count': it takes one\n"
			      "run 'toy --help' for usage\n"),
	      "missing: %s", errout);
	CHECK(parse(&t, false, ARGS("extra")) == -EINVAL, "extra argument");
	CHECK(!strcmp(errout, "toy: unexpected argument 'extra': toy takes options only\n"
			      "run 'toy --help' for usage\n"),
	      "extra: %s", errout);
}

static void test_help_first_wins_over_a_bad_file_or_flag(void)
{
	struct toy t;

	CHECK(parse(&t, true, ARGS("--count", "0", "--config", "/nonexistent", "--help")) == 1,
	      "help printed: %s", errout);
	CHECK(!strcmp(out, "usage: toy [options]\n") && !errout[0], "only the usage: %s", errout);
	CHECK(parse(&t, true, ARGS("--", "-h")) == -EINVAL, "-h after -- is an argument");
	CHECK(parse(&t, true, ARGS("--hel")) == -EINVAL, "an abbreviated --help is refused");
	CHECK_STR_CONTAINS(errout, "toy: unknown option '--hel'");
}

static void test_help_in_order_comes_after_earlier_errors(void)
{
	struct toy t;

	CHECK(parse(&t, false, ARGS("--help", "--count", "0")) == 1, "help first in line");
	CHECK(!strcmp(out, "usage: toy [options]\n"), "usage: %s", out);
	CHECK(parse(&t, false, ARGS("--count", "0", "--help")) == -EINVAL, "error first in line");
	CHECK(!out[0], "no usage: %s", out);
	CHECK(parse(&t, false, ARGS("-vh")) == 1 && t.verbose, "bundled -vh");
	CHECK(parse(&t, false, ARGS("--config", "/nonexistent", "--help")) == -ENOENT,
	      "the file comes before --help");
}

/* --version: "PROG edgecap X.Y.Z" on stdout, whatever else the line holds, in both styles. */
static void test_version_wins_over_everything(void)
{
	struct toy t;
	char want[64];
	bool daemon_style;

	snprintf(want, sizeof(want), "toy edgecap %s\n", EDGECAP_VERSION);
	for (int i = 0; i < 2; i++) {
		daemon_style = i;
		CHECK(parse(&t, daemon_style,
			    ARGS("--count", "0", "--config", "/nonexistent", "--version")) == 1,
		      "version printed: %s", errout);
		CHECK(!strcmp(out, want) && !errout[0], "only the version: \"%s\" \"%s\"", out,
		      errout);
		CHECK(parse(&t, daemon_style, ARGS("--", "--version")) == -EINVAL,
		      "--version after -- is an argument");
	}
	/* The version is the project's X.Y.Z, not a placeholder. */
	CHECK(strspn(EDGECAP_VERSION, "0123456789.") == strlen(EDGECAP_VERSION) &&
		      strchr(EDGECAP_VERSION, '.'),
	      "EDGECAP_VERSION is \"%s\"", EDGECAP_VERSION);
}

int main(void)
{
	int fd = mkstemp(conf_path);

	if (fd < 0)
		return 1;
	close(fd);
	RUN(test_flags_set_values_and_defaults_stay);
	RUN(test_file_is_read_and_flags_override_it_wherever_they_stand);
	RUN(test_a_fifo_is_not_a_config_file);
	RUN(test_file_keys_take_underscores_for_dashes);
	RUN(test_flags_replace_a_repeatable_list_from_the_file);
	RUN(test_file_errors_name_file_line_key_and_value);
	RUN(test_flag_errors_name_the_flag_and_value);
	RUN(test_usage_errors_name_the_option_and_hint_at_help);
	RUN(test_help_first_wins_over_a_bad_file_or_flag);
	RUN(test_help_in_order_comes_after_earlier_errors);
	RUN(test_version_wins_over_everything);
	unlink(conf_path);
	return TEST_SUMMARY();
}
