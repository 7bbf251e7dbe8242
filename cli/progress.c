/* pexctl's progress line: count, rate and time left (pexctl.h). */
#include <stdio.h>

#include "progress.h"

/* @s seconds as m:ss, or h:mm:ss from an hour on. */
static void format_duration(char *buf, size_t size, unsigned long long s)
{
	if (s >= 3600)
		snprintf(buf, size, "%llu:%02llu:%02llu", s / 3600, s / 60 % 60, s % 60);
	else
		snprintf(buf, size, "%llu:%02llu", s / 60, s % 60);
}

void pexctl_progress_format(char *buf, size_t size, const char *label, size_t done, size_t total,
	double elapsed_s)
{
	enum { WIDTH = 30 };
	char rate[32] = "", left[48] = "";
	int filled;
	if (done > total)
		done = total;
	filled = total ? (int)((done * (size_t)WIDTH) / total) : WIDTH;
	if (done > 0 && elapsed_s > 0) {
		double r = (double)done / elapsed_s;
		snprintf(rate, sizeof(rate), "  %.1f/s", r);
		if (done < total) {
			char d[32];
			format_duration(d, sizeof(d), (unsigned long long)((double)(total - done) / r + 0.5));
			snprintf(left, sizeof(left), "  %s left", d);
		}
	}
	snprintf(buf, size, "%s [%.*s%*s] %zu/%zu%s%s", label, filled, "##############################",
		WIDTH - filled, "", done, total, rate, left);
}
