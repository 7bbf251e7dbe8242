/*
 * Helpers shared by the queue test programs: which backend to run against
 * (PEX_QUEUE_URI), skipping (exit 77) when the environment lacks it, unique
 * queue names, and ck_ok() for Check programs (include <check.h> first). The URI may hold a secret (Azure connection string):
 * only its scheme is ever printed.
 */
#ifndef PEX_TESTS_QTEST_H
#define PEX_TESTS_QTEST_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "pexipsdk/queue.h"
#include "internal.h"

#define QTEST_SKIP 77

#ifdef CHECK_H
/* Assert that a pex call succeeded, naming the call and the error. */
#define ck_ok(expr) do { \
	int ck_err_ = (expr); \
	ck_assert_msg(ck_err_ == 0, "%s failed: %s (%s)", #expr, \
		pex_error_name(ck_err_), pex_error_last()->message); \
} while (0)
#endif

/* The backend under test: $PEX_QUEUE_URI, default "memory:". */
static inline const char *qtest_uri(void)
{
	const char *u = getenv("PEX_QUEUE_URI");
	return u && *u ? u : "memory:";
}

/* The URI's scheme, safe to print. */
static inline const char *qtest_scheme(const char *uri)
{
	static char s[16];
	size_t n = strcspn(uri, ":");
	if (n >= sizeof(s))
		n = sizeof(s) - 1;
	memcpy(s, uri, n);
	s[n] = '\0';
	return s;
}

/* Skip (77), or fail when CI demands every test (PEX_TEST_REQUIRE_ALL=1). */
static inline int qtest_skip(const char *prog, const char *why)
{
	const char *all = getenv("PEX_TEST_REQUIRE_ALL");
	int required = all && strcmp(all, "1") == 0;

	fprintf(stderr, "%s: %s: %s\n", prog, required ? "FAIL (required)" : "SKIP", why);
	return required ? 1 : QTEST_SKIP;
}

/*
 * Can the backend be reached? Returns 0, or the exit status to use after
 * printing why (skip when it is not compiled in or not running).
 */
static inline int qtest_probe(const char *prog, const char *uri)
{
	pex_queue *q = NULL;
	char why[1200];
	int err = pex_queue_open(&q, uri, "pex-test-probe");

	if (err == 0) {
		pex_queue_free(q);
		return 0;
	}
	snprintf(why, sizeof(why), "backend '%s' unavailable: %s (%s)", qtest_scheme(uri),
		pex_error_last()->message, pex_error_name(err));
	if (err == PEX_ENOTSUPPORTED || err == PEX_ENET || err == PEX_ETIMEOUT)
		return qtest_skip(prog, why);
	fprintf(stderr, "%s: %s\n", prog, why);
	return 1;
}

/* A fresh queue name no other test (or run) uses: prefix-<16 hex>. */
static inline void qtest_name(char *out, size_t size, const char *prefix)
{
	snprintf(out, size, "%s-%016llx", prefix, (unsigned long long)pex__random_u64());
}

#endif
