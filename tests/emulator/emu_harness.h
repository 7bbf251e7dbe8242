/* A small C harness to run the Pexip emulator (tests/emulator) from tests.
 * Plain C over libcurl + json-c; not tied to Check.
 *
 *   emu_t e;
 *   if (emu_start(&e, (const char *[]){ "--seed", "7", NULL }) != 0) fail;
 *   ... talk to e.url (e.g. "http://127.0.0.1:41234") ...
 *   emu_ctl(&e, "POST", "/_emu/faults", "{\"rate_503\": 0.3}", NULL);
 *   long long n = emu_stat(&e, "max_in_flight");
 *   emu_stop(&e);              // SIGTERM, wait; e.exit_status == 0 if clean
 *
 * The binary is $PEX_EMULATOR if set, else the path meson compiled in.
 * $PEX_EMULATOR_WRAPPER (space-separated words, e.g. "valgrind -q
 * --error-exitcode=3") is put in front of it, with longer timeouts.
 * The emulator gets PR_SET_PDEATHSIG, so it never outlives the test. */
#ifndef PEX_EMU_HARNESS_H
#define PEX_EMU_HARNESS_H

#include <sys/types.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct emu_t {
	pid_t pid;        /* emulator process (0 when stopped) */
	int port;         /* bound port */
	char url[96];     /* "http://127.0.0.1:PORT" (https with --tls-cert) */
	int exit_status;  /* after emu_stop: exit code, 128+signal, or -1 */
} emu_t;

/* Starts the emulator with extra_args (NULL-terminated, may be NULL) and
 * waits up to 10 s for its "PORT n" line. 0 on success, -1 on failure
 * (message on stderr; nothing left running). */
int emu_start(emu_t *e, const char *const *extra_args);

/* SIGTERM, wait up to 5 s, then SIGKILL. Safe to call twice. */
void emu_stop(emu_t *e);

/* One request to the emulator (path like "/_emu/stats"); json_body may be
 * NULL. Returns the HTTP status, or -1 on a transport error. *resp_out (if
 * resp_out is not NULL) receives the malloc'd body, or NULL. */
int emu_ctl(emu_t *e, const char *method, const char *path, const char *json_body, char **resp_out);

/* As emu_ctl, with Basic admin:admin (the emulator's default credentials),
 * for /api/admin/... paths. */
int emu_api(emu_t *e, const char *method, const char *path, const char *json_body, char **resp_out);

/* One counter from GET /_emu/stats; "by_status.200" style paths reach
 * nested ones. -1 if absent or on error. */
long long emu_stat(emu_t *e, const char *key);

#ifdef __cplusplus
}
#endif

#endif
