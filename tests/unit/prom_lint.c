/* Prometheus text exposition checker (see prom_lint.h). */
#include "prom_lint.h"

#include <ctype.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct group {        /* one histogram series: its labels without le */
	char *labels;
	double last_le, last_cum, inf;
	int has_inf, has_sum, has_count;
} group;

typedef struct lint {
	char *why;
	size_t why_size;
	int line;
	char family[256], type[16];
	int has_help, has_type;
	char **names, **series;   /* families and series seen */
	size_t n_names, n_series;
	group *groups;
	size_t n_groups;
} lint;

static int fail(lint *l, const char *fmt, ...)
{
	va_list ap;
	int n = snprintf(l->why, l->why_size, "line %d: ", l->line);

	va_start(ap, fmt);
	if (n >= 0 && (size_t)n < l->why_size)
		vsnprintf(l->why + n, l->why_size - (size_t)n, fmt, ap);
	va_end(ap);
	return -1;
}

static int ends_with(const char *s, const char *suffix)
{
	size_t a = strlen(s), b = strlen(suffix);
	return a >= b && strcmp(s + a - b, suffix) == 0;
}

/* Add @p s to the set; 0 when it was there already. */
static int add_unique(char ***set, size_t *n, const char *s)
{
	size_t i;
	for (i = 0; i < *n; i++)
		if (strcmp((*set)[i], s) == 0)
			return 0;
	*set = realloc(*set, (*n + 1) * sizeof(**set));
	(*set)[(*n)++] = strdup(s);
	return 1;
}

static size_t name_len(const char *p)
{
	size_t n = 0;
	if (!(isalpha((unsigned char)*p) || *p == '_' || *p == ':'))
		return 0;
	while (isalnum((unsigned char)p[n]) || p[n] == '_' || p[n] == ':')
		n++;
	return n;
}

static void drop_groups(lint *l)
{
	size_t i;
	for (i = 0; i < l->n_groups; i++)
		free(l->groups[i].labels);
	free(l->groups);
	l->groups = NULL;
	l->n_groups = 0;
}

/* The family ends: every histogram series was complete. */
static int close_family(lint *l)
{
	size_t i;
	if (l->family[0] && !l->has_type)
		return fail(l, "family %s has no TYPE", l->family);
	for (i = 0; i < l->n_groups; i++)
		if (!l->groups[i].has_inf || !l->groups[i].has_sum || !l->groups[i].has_count)
			return fail(l, "histogram %s{%s} lacks its +Inf bucket, _sum or _count", l->family,
				l->groups[i].labels);
	drop_groups(l);
	return 0;
}

static group *group_of(lint *l, const char *labels)
{
	size_t i;
	for (i = 0; i < l->n_groups; i++)
		if (strcmp(l->groups[i].labels, labels) == 0)
			return &l->groups[i];
	l->groups = realloc(l->groups, (l->n_groups + 1) * sizeof(*l->groups));
	memset(&l->groups[l->n_groups], 0, sizeof(group));
	l->groups[l->n_groups].labels = strdup(labels);
	l->groups[l->n_groups].last_le = -INFINITY;
	return &l->groups[l->n_groups++];
}

static int help_line(lint *l, const char *p)
{
	size_t n = name_len(p);
	if (close_family(l) < 0)
		return -1;
	if (n == 0 || n >= sizeof(l->family) || p[n] != ' ' || !p[n + 1])
		return fail(l, "malformed HELP");
	memcpy(l->family, p, n);
	l->family[n] = '\0';
	if (!add_unique(&l->names, &l->n_names, l->family))
		return fail(l, "family %s appears twice", l->family);
	if (strncmp(l->family, "pexipsdk_", 9) != 0)
		return fail(l, "%s lacks the pexipsdk_ prefix", l->family);
	l->has_help = 1;
	l->has_type = 0;
	return 0;
}

static int type_line(lint *l, const char *p)
{
	size_t n = name_len(p);
	const char *t = p + n + 1;
	if (!l->has_help || n != strlen(l->family) || strncmp(p, l->family, n) != 0 || p[n] != ' ')
		return fail(l, "TYPE without a HELP just before it for the same name");
	if (l->has_type)
		return fail(l, "second TYPE for %s", l->family);
	if (strcmp(t, "counter") && strcmp(t, "gauge") && strcmp(t, "histogram") &&
	    strcmp(t, "summary") && strcmp(t, "untyped"))
		return fail(l, "unknown type '%s'", t);
	snprintf(l->type, sizeof(l->type), "%s", t);
	if ((strcmp(t, "counter") == 0) != ends_with(l->family, "_total"))
		return fail(l, "%s: counters, and only counters, end in _total", l->family);
	if ((!strcmp(t, "histogram") || strstr(l->family, "duration")) && !ends_with(l->family, "_seconds"))
		return fail(l, "%s: a duration must be in _seconds", l->family);
	l->has_type = 1;
	return 0;
}

/* Parse {a="b",...} at *pp into @p canon (without le) and *le (NULL if absent). */
static int parse_labels(lint *l, const char **pp, char *canon, size_t cap, char *le, size_t le_cap,
	int *has_le)
{
	const char *p = *pp;
	char seen[16][64];
	size_t n_seen = 0, used = 0, i;

	*has_le = 0;
	canon[0] = '\0';
	if (*p != '{')
		return 0;
	p++;
	while (*p != '}') {
		char name[64], value[512];
		size_t n = name_len(p), v = 0;
		if (n == 0 || n >= sizeof(name) || p[n] != '=' || p[n + 1] != '"')
			return fail(l, "malformed label");
		memcpy(name, p, n);
		name[n] = '\0';
		for (i = 0; i < n_seen; i++)
			if (!strcmp(seen[i], name))
				return fail(l, "label %s twice", name);
		if (n_seen < 16)
			snprintf(seen[n_seen++], sizeof(seen[0]), "%s", name);
		p += n + 2;
		while (*p != '"') {
			if (!*p)
				return fail(l, "unterminated label value");
			if (*p == '\\') {
				if (p[1] != '\\' && p[1] != '"' && p[1] != 'n')
					return fail(l, "bad escape \\%c in a label value", p[1]);
				if (v + 2 < sizeof(value)) {
					value[v++] = p[0];
					value[v++] = p[1];
				}
				p += 2;
				continue;
			}
			if (v + 1 < sizeof(value))
				value[v++] = *p;
			p++;
		}
		value[v] = '\0';
		p++;
		if (!strcmp(name, "le")) {
			*has_le = 1;
			snprintf(le, le_cap, "%s", value);
		} else {
			int w = snprintf(canon + used, cap - used, "%s%s=\"%s\"", used ? "," : "", name, value);
			if (w < 0 || (size_t)w >= cap - used)
				return fail(l, "labels too long");
			used += (size_t)w;
		}
		if (*p == ',')
			p++;
		else if (*p != '}')
			return fail(l, "malformed label list");
	}
	*pp = p + 1;
	return 0;
}

static int histogram_sample(lint *l, const char *suffix, const char *labels, const char *le,
	int has_le, double value)
{
	group *g = group_of(l, labels);
	if (!strcmp(suffix, "_bucket")) {
		double b;
		char *end;
		if (!has_le)
			return fail(l, "bucket without le");
		b = !strcmp(le, "+Inf") ? INFINITY : strtod(le, &end);
		if (b != INFINITY && (end == le || *end))
			return fail(l, "bad le \"%s\"", le);
		if (g->has_inf || b <= g->last_le)
			return fail(l, "buckets of %s{%s} not in increasing le order", l->family, labels);
		if (value < g->last_cum)
			return fail(l, "buckets of %s{%s} not cumulative", l->family, labels);
		if (g->has_count || g->has_sum)
			return fail(l, "bucket after _sum or _count");
		g->last_le = b;
		g->last_cum = value;
		if (b == INFINITY) {
			g->has_inf = 1;
			g->inf = value;
		}
	} else if (has_le) {
		return fail(l, "le on %s%s", l->family, suffix);
	} else if (!strcmp(suffix, "_sum")) {
		g->has_sum = 1;
	} else {
		if (!g->has_inf || g->inf != value)
			return fail(l, "%s_count{%s} %g differs from its +Inf bucket", l->family, labels, value);
		g->has_count = 1;
	}
	return 0;
}

static int sample_line(lint *l, const char *p)
{
	char name[300], labels[1024], le[64], key[1400];
	const char *start = p, *suffix = "";
	size_t n = name_len(p);
	double value;
	char *end;
	int has_le;

	if (!l->has_type)
		return fail(l, "sample before its family's HELP and TYPE");
	if (n == 0 || n >= sizeof(name))
		return fail(l, "malformed sample");
	memcpy(name, p, n);
	name[n] = '\0';
	p += n;
	if (strncmp(name, l->family, strlen(l->family)) == 0)
		suffix = name + strlen(l->family);
	if (strncmp(name, l->family, strlen(l->family)) != 0 ||
	    (strcmp(l->type, "histogram") ? *suffix != '\0'
		: strcmp(suffix, "_bucket") && strcmp(suffix, "_sum") && strcmp(suffix, "_count")))
		return fail(l, "sample %s is not of family %s (%s)", name, l->family, l->type);
	if (parse_labels(l, &p, labels, sizeof(labels), le, sizeof(le), &has_le) < 0)
		return -1;
	if (*p != ' ')
		return fail(l, "no space before the value");
	p++;
	value = strtod(p, &end);
	if (end == p || *end)
		return fail(l, "bad value '%s' (timestamps are not written)", p);
	snprintf(key, sizeof(key), "%.*s", (int)(p - 1 - start), start);
	if (!add_unique(&l->series, &l->n_series, key))
		return fail(l, "series %s twice", key);
	if (!strcmp(l->type, "counter") && !(value >= 0))
		return fail(l, "counter %s is %g", key, value);
	if (!strcmp(l->type, "histogram"))
		return histogram_sample(l, suffix, labels, le, has_le, value);
	if (has_le)
		return fail(l, "le on a %s", l->type);
	return 0;
}

int prom_lint(const char *text, char *why, size_t why_size)
{
	lint l;
	int err = 0;
	size_t i;

	memset(&l, 0, sizeof(l));
	l.why = why;
	l.why_size = why_size;
	why[0] = '\0';
	if (!text || !*text || text[strlen(text) - 1] != '\n')
		return fail(&l, "empty, or no final newline");
	while (*text && err == 0) {
		const char *nl = strchr(text, '\n');
		char *line = strndup(text, (size_t)(nl - text));
		l.line++;
		if (!strncmp(line, "# HELP ", 7))
			err = help_line(&l, line + 7);
		else if (!strncmp(line, "# TYPE ", 7))
			err = type_line(&l, line + 7);
		else if (line[0] == '#')
			err = 0;
		else if (!line[0])
			err = fail(&l, "empty line");
		else
			err = sample_line(&l, line);
		free(line);
		text = nl + 1;
	}
	if (err == 0)
		err = close_family(&l);
	drop_groups(&l);
	for (i = 0; i < l.n_names; i++)
		free(l.names[i]);
	for (i = 0; i < l.n_series; i++)
		free(l.series[i]);
	free(l.names);
	free(l.series);
	return err;
}

/* Add up the samples starting with @p prefix; @p exact: the series is
 * the prefix itself. -1 when none (exact) or 0. */
static double samples(const char *text, const char *prefix, int exact)
{
	size_t n = strlen(prefix);
	const char *p = text;
	double sum = 0;
	int found = 0;

	while (p && *p) {
		const char *e = strchr(p, '\n');
		if (*p != '#' && strncmp(p, prefix, n) == 0 && (!exact || p[n] == ' ')) {
			/* the value follows the line's last space (no timestamps) */
			const char *v = memrchr(p, ' ', e ? (size_t)(e - p) : strlen(p));
			if (v) {
				sum += strtod(v + 1, NULL);
				found = 1;
			}
		}
		p = e ? e + 1 : NULL;
	}
	return found || !exact ? sum : -1;
}

double prom_sample(const char *text, const char *series)
{
	return samples(text, series, 1);
}

double prom_sum(const char *text, const char *prefix)
{
	return samples(text, prefix, 0);
}
