// SPDX-License-Identifier: BSD-2-Clause
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "prom.h"

void prom_init(struct prom *p)
{
	memset(p, 0, sizeof(*p));
}

void prom_free(struct prom *p)
{
	free(p->buf);
	prom_init(p);
}

static int grow(struct prom *p, size_t more)
{
	size_t cap;
	char *b;

	if (p->err)
		return p->err;
	if (p->len + more + 1 <= p->cap)
		return 0;
	cap = p->cap ? p->cap : 4096;
	while (cap < p->len + more + 1)
		cap *= 2;
	b = realloc(p->buf, cap);
	if (!b)
		return p->err = -ENOMEM;
	p->buf = b;
	p->cap = cap;
	return 0;
}

static void put(struct prom *p, const char *s, size_t n)
{
	if (grow(p, n))
		return;
	memcpy(p->buf + p->len, s, n);
	p->len += n;
	p->buf[p->len] = '\0';
}

static void puts_(struct prom *p, const char *s)
{
	put(p, s, strlen(s));
}

/*
 * s with the format's escapes: backslash and newline always, the double quote in label values
 * (HELP text keeps it as it is).
 */
static void put_escaped(struct prom *p, const char *s, int quote)
{
	for (; *s; s++) {
		if (*s == '\\')
			puts_(p, "\\\\");
		else if (*s == '\n')
			puts_(p, "\\n");
		else if (*s == '"' && quote)
			puts_(p, "\\\"");
		else
			put(p, s, 1);
	}
}

void prom_family(struct prom *p, const char *name, enum prom_type type, const char *help)
{
	puts_(p, "# HELP ");
	puts_(p, name);
	puts_(p, " ");
	put_escaped(p, help, 0);
	puts_(p, "\n# TYPE ");
	puts_(p, name);
	puts_(p, type == PROM_COUNTER ? " counter\n" : " gauge\n");
}

static void put_labels(struct prom *p, va_list ap)
{
	const char *k, *v;
	int n = 0;

	while ((k = va_arg(ap, const char *))) {
		v = va_arg(ap, const char *);
		if (!v)
			continue;
		puts_(p, n++ ? "," : "{");
		puts_(p, k);
		puts_(p, "=\"");
		put_escaped(p, v, 1);
		puts_(p, "\"");
	}
	if (n)
		puts_(p, "}");
}

void prom_sample(struct prom *p, const char *name, uint64_t value, ...)
{
	char num[32];
	va_list ap;

	puts_(p, name);
	va_start(ap, value);
	put_labels(p, ap);
	va_end(ap);
	snprintf(num, sizeof(num), " %" PRIu64 "\n", value);
	puts_(p, num);
}

void prom_sample_double(struct prom *p, const char *name, double value, ...)
{
	char num[64];
	va_list ap;

	puts_(p, name);
	va_start(ap, value);
	put_labels(p, ap);
	va_end(ap);
	snprintf(num, sizeof(num), " %.17g\n", value);
	puts_(p, num);
}

void prom_single(struct prom *p, const char *name, enum prom_type type, const char *help,
		 uint64_t value)
{
	prom_family(p, name, type, help);
	prom_sample(p, name, value, NULL);
}

int prom_finish(struct prom *p, char **out, size_t *len)
{
	if (!p->err && !p->buf)
		puts_(p, "");
	if (p->err) {
		prom_free(p);
		return -ENOMEM;
	}
	*out = p->buf;
	*len = p->len;
	prom_init(p);
	return 0;
}
