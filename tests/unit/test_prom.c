// SPDX-License-Identifier: BSD-2-Clause
/*
 * test_prom.c: the Prometheus text format writer (common/prom.h): families, labels, the escapes
 * that keep a label value (an agent's colo, an interface name) from breaking the page.
 */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "prom.h"
#include "testing.h"

static void test_family_and_samples(void)
{
	struct prom p;
	size_t len;
	char *page;

	prom_init(&p);
	prom_family(&p, "edgecap_x_total", PROM_COUNTER, "things counted");
	prom_sample(&p, "edgecap_x_total", 42, "a", "1", "b", NULL, "c", "3", NULL);
	prom_sample(&p, "edgecap_x_total", UINT64_MAX, NULL);
	prom_family(&p, "edgecap_y", PROM_GAUGE, "a level");
	prom_sample_double(&p, "edgecap_y", 0.5, NULL);
	CHECK(prom_finish(&p, &page, &len) == 0, "finish");
	CHECK(!strcmp(page, "# HELP edgecap_x_total things counted\n"
			    "# TYPE edgecap_x_total counter\n"
			    "edgecap_x_total{a=\"1\",c=\"3\"} 42\n"
			    "edgecap_x_total 18446744073709551615\n"
			    "# HELP edgecap_y a level\n"
			    "# TYPE edgecap_y gauge\n"
			    "edgecap_y 0.5\n"),
	      "page:\n%s", page);
	CHECK_EQ_U64(len, strlen(page), "length");
	free(page);
}

static void test_label_values_and_help_are_escaped(void)
{
	struct prom p;
	size_t len;
	char *page;

	prom_init(&p);
	prom_family(&p, "m", PROM_GAUGE, "say \"hi\" \\ then\nmore");
	prom_sample(&p, "m", 1, "colo", "a\"b\\c\nd", NULL);
	CHECK(prom_finish(&p, &page, &len) == 0, "finish");
	CHECK(!strcmp(page, "# HELP m say \"hi\" \\\\ then\\nmore\n"
			    "# TYPE m gauge\n"
			    "m{colo=\"a\\\"b\\\\c\\nd\"} 1\n"),
	      "page:\n%s", page);
	free(page);
}

static void test_an_empty_page_is_a_page(void)
{
	struct prom p;
	size_t len = 99;
	char *page = NULL;

	prom_init(&p);
	CHECK(prom_finish(&p, &page, &len) == 0 && page && len == 0 && !page[0], "empty page");
	free(page);
}

int main(void)
{
	RUN(test_family_and_samples);
	RUN(test_label_values_and_help_are_escaped);
	RUN(test_an_empty_page_is_a_page);
	return TEST_SUMMARY();
}
