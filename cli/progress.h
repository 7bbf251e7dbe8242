/* pexctl's progress line, apart from the terminal so that it can be tested. */
#ifndef PEXCTL_PROGRESS_H
#define PEXCTL_PROGRESS_H

#include <stddef.h>

/* "LABEL [####      ] DONE/TOTAL  RATE/s  M:SS left" in @buf: the rate once
 * something is done and time has passed, the time left until the end
 * (none at the end); never more than @size bytes, always terminated. */
void pexctl_progress_format(char *buf, size_t size, const char *label, size_t done, size_t total,
	double elapsed_s);

#endif
