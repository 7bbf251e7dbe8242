/*
 * libFuzzer target for pex_config_parse() (YAML configuration). Every input
 * is parsed twice, with the environment variable PEX_FUZZ_SECRET set to two
 * different markers of the same shape ("s3cr3t-marker", "s3cr3t-MARKER"),
 * so that a YAML value env:PEX_FUZZ_SECRET resolves to a known secret.
 * Invariants:
 *
 *   - no crash, no leak (LeakSanitizer; valgrind for the replay test);
 *   - failure: a known error code and a non-empty message;
 *   - success: pex_config_dump() works, and every key's getter either
 *     succeeds or fails with a non-empty message;
 *   - no secret leak: the marker never appears in pex_error_last()->message
 *     (parse, getters, dump) nor in the dump, unless the input itself
 *     spells it; and whatever the input, the two runs give byte-identical
 *     messages and dumps (a secret that leaked anywhere would differ).
 *
 * Secret references must not do I/O here: Key Vault references are sent
 * to an identity flavour the library refuses without a request (Azure Arc
 * variables), stdin is /dev/null, and relative file: references resolve
 * under a directory that does not exist.
 *
 * Any broken invariant aborts. Linked with replay.c for a plain-main build.
 */
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "pexipsdk/pexipsdk.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(cond) do { \
	if (!(cond)) { \
		fprintf(stderr, "fuzz_config: invariant broken at %s:%d: %s\n", \
			__FILE__, __LINE__, #cond); \
		abort(); \
	} \
} while (0)

#define MARKER_A "s3cr3t-marker"
#define MARKER_B "s3cr3t-MARKER"
#define FUZZ_ORIGIN "/nonexistent-pexipsdk-fuzz/pexipsdk.yaml"

static const char *const keys[] = {
	"pexip.url", "pexip.auth.method", "pexip.auth.username", "pexip.auth.password",
	"pexip.auth.client_id", "pexip.auth.private_key", "pexip.auth.token_url",
	"pexip.auth.audience", "pexip.tls.verify", "pexip.tls.ca_file", "pexip.timeout_ms",
	"pexip.max_concurrency", "pexip.retries.max", "pexip.retries.base_ms",
	"pexip.retries.cap_ms", "queue.backend", "queue.sqlite.path",
	"queue.azure.connection_string", "pool.queue", "pool.depth", "pool.name_prefix",
	"pool.lease_s", "pool.room.service_type", "pool.room.allow_guests",
	"pool.room.pin_digits", "pool.room.guest_pin_digits", "pool.room.alias_domain",
	"pool.room.participant_limit", "pool.room.description", "tag.url_template",
	"tag.allowed_hosts", "gc.queue", "gc.delay_s", "gc.protected_prefixes",
	"gc.orphan_max_age_s", "events.username", "events.password", "server.listen",
	"server.api_keys", "server.jwt.issuer", "server.jwt.audience",
	"server.jwt.jwks_file", "log.level", "log.format",
};

static void fuzz_setup(void)
{
	static int done;
	int fd;

	if (done)
		return;
	done = 1;
	setenv("PEX_FUZZ_SECRET", MARKER_A, 1);
	/* keyvault: references: the Azure Arc flavour is refused before any
	 * request is made */
	setenv("IDENTITY_ENDPOINT", "http://127.0.0.1:9/msi/token", 1);
	setenv("IMDS_ENDPOINT", "http://127.0.0.1:9", 1);
	unsetenv("IDENTITY_HEADER");
	setenv("PEXIPSDK_IMDS_ENDPOINT", "http://127.0.0.1:9/token", 1);
	/* the connection string's default reference */
	setenv("AZURE_STORAGE_CONNECTION_STRING", "UseDevelopmentStorage=true", 1);
	/* file:/dev/stdin must not wait for a terminal */
	if ((fd = open("/dev/null", O_RDONLY)) >= 0) {
		dup2(fd, 0);
		if (fd != 0)
			close(fd);
	}
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	fuzz_setup();
	return 0;
}

static int known_code(int err)
{
	switch (err) {
	case PEX_ECONFIG: case PEX_EINVAL: case PEX_ENOMEM: case PEX_ENOTFOUND:
	case PEX_EIO: case PEX_ENOTSUPPORTED: case PEX_EAUTH: case PEX_EHTTP:
	case PEX_ENET: case PEX_ETIMEOUT: case PEX_ETLS: case PEX_EPARSE:
		return 1;
	default:
		return 0;
	}
}

/* What one parse produced: the messages and the dump, concatenated. */
static void note(pex_buf *log, const char *what, const char *text)
{
	size_t n = strlen(what) + strlen(text) + 2;
	char *p = realloc(log->ptr, log->size + n + 1);
	CHECK(p != NULL);
	log->ptr = p;
	log->asize = log->size + n + 1;
	memcpy(log->ptr + log->size, what, strlen(what));
	log->size += strlen(what);
	log->ptr[log->size++] = '=';
	memcpy(log->ptr + log->size, text, strlen(text));
	log->size += strlen(text);
	log->ptr[log->size++] = '\n';
	log->ptr[log->size] = '\0';
}

static void note_error(pex_buf *log, const char *what, int err)
{
	const pex_error *e = pex_error_last();
	CHECK(known_code(err));
	CHECK(e->message != NULL && e->message[0] != '\0');
	note(log, what, e->message);
}

static void run_once(pex_buf *log, const char *yaml, size_t len)
{
	pex_config *cfg = NULL;
	pex_buf dump = PEX_BUF_INIT;
	size_t i;
	int err;

	err = pex_config_parse(&cfg, yaml, len, FUZZ_ORIGIN);
	if (err < 0) {
		CHECK(cfg == NULL);
		note_error(log, "parse", err);
		return;
	}
	CHECK(err == 0 && cfg != NULL);
	for (i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
		const char *s = NULL;
		const char *const *list = NULL;
		size_t count = 0;
		long long v = 0;
		int b = 0;

		if (pex_config_key_is_secret(keys[i]))
			continue;           /* their values are the secrets themselves */
		err = pex_config_get_string(&s, cfg, keys[i]);
		if (err == 0)
			note(log, keys[i], s);
		else if (err != PEX_EINVAL && err != PEX_ENOTFOUND)
			note_error(log, keys[i], err);
		err = pex_config_get_int(&v, cfg, keys[i]);
		if (err != 0 && err != PEX_EINVAL && err != PEX_ENOTFOUND)
			note_error(log, keys[i], err);
		err = pex_config_get_bool(&b, cfg, keys[i]);
		if (err != 0 && err != PEX_EINVAL && err != PEX_ENOTFOUND)
			note_error(log, keys[i], err);
		err = pex_config_get_list(&list, &count, cfg, keys[i]);
		if (err != 0 && err != PEX_EINVAL && err != PEX_ENOTFOUND)
			note_error(log, keys[i], err);
	}
	/* the secrets themselves: resolving them must not put them in a message */
	for (i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
		const char *s = NULL;
		const char *const *list = NULL;
		size_t count = 0;

		if (!pex_config_key_is_secret(keys[i]))
			continue;
		err = pex_config_get_string(&s, cfg, keys[i]);
		if (err < 0 && err != PEX_EINVAL && err != PEX_ENOTFOUND)
			note_error(log, keys[i], err);
		err = pex_config_get_list(&list, &count, cfg, keys[i]);
		if (err < 0 && err != PEX_EINVAL && err != PEX_ENOTFOUND)
			note_error(log, keys[i], err);
	}
	err = pex_config_dump(&dump, cfg);
	if (err < 0) {
		note_error(log, "dump", err);
	} else {
		CHECK(dump.ptr != NULL && dump.size == strlen(dump.ptr));
		note(log, "dump", dump.ptr);
	}
	pex_buf_dispose(&dump);
	pex_config_free(cfg);
}

static int contains(const char *hay, size_t len, const char *needle)
{
	return memmem(hay, len, needle, strlen(needle)) != NULL;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *yaml = (const char *)data;
	pex_buf a = PEX_BUF_INIT, b = PEX_BUF_INIT;

	fuzz_setup();
	if (size > 64 * 1024 || contains(yaml, size, "tty"))
		return 0;

	setenv("PEX_FUZZ_SECRET", MARKER_A, 1);
	run_once(&a, yaml, size);
	setenv("PEX_FUZZ_SECRET", MARKER_B, 1);
	run_once(&b, yaml, size);
	setenv("PEX_FUZZ_SECRET", MARKER_A, 1);

	/* the input may spell a marker itself (or build one with escapes) */
	if (!contains(yaml, size, "s3cr3t") && !memchr(yaml, '\\', size)) {
		CHECK(a.ptr == NULL || !contains(a.ptr, a.size, MARKER_A));
		CHECK(b.ptr == NULL || !contains(b.ptr, b.size, MARKER_B));
	}
	CHECK(a.size == b.size);
	CHECK(a.size == 0 || memcmp(a.ptr, b.ptr, a.size) == 0);
	free(a.ptr);
	free(b.ptr);
	pex_error_clear();
	return 0;
}
