/* Checks a Prometheus text exposition (version 0.0.4) the way a scraper
 * would, plus the project's naming rules; shared by the unit tests of the
 * metrics writer and the room server's /metrics test. */
#ifndef PEX_TEST_PROM_LINT_H
#define PEX_TEST_PROM_LINT_H

#include <stddef.h>

/*
 * 0 if @p text is a valid exposition where every family has HELP then
 * TYPE before its samples and appears once; names start with pexipsdk_;
 * counters end in _total and nothing else does; histograms and any name
 * with "duration" end in _seconds; label values use only \\, \" and \n
 * escapes; no series appears twice; each histogram series has cumulative
 * buckets with increasing le, ending with +Inf equal to its _count, and a
 * _sum. Else -1 with the first problem and its line number in @p why.
 */
int prom_lint(const char *text, char *why, size_t why_size);

/* The value of the sample written exactly as @p series ("name" or
 * 'name{a="b"}'), or -1 when there is none. */
double prom_sample(const char *text, const char *series);

/* The sum of every sample whose series starts with @p prefix
 * ('name{' for every labelled series of name); 0 when there is none. */
double prom_sum(const char *text, const char *prefix);

#endif
