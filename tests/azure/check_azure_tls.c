/*
 * queue.azure.tls.verify, queue.azure.tls.ca_file and queue.azure.timeout_ms
 * reach the Azure backend: pex_queue_open_config() against
 *   - an HTTPS server with a self-signed certificate (the Pexip emulator with
 *     --tls-cert; it answers Azure paths with 404, which is enough to show
 *     that TLS got through): refused by default (PEX_ETLS, with the hint),
 *     accepted with verify: false, accepted with the certificate as ca_file;
 *   - a socket that accepts connections and never answers: timeout_ms: 200
 *     gives PEX_ETIMEOUT (the default, 10 s per attempt, would run past the
 *     test's time limit);
 * and a ca_file that cannot be read is a configuration error naming the key
 * before anything is sent. Needs openssl(1) to make the certificate.
 */
#include <arpa/inet.h>
#include <check.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "emu_harness.h"
#include "pexipsdk/pexipsdk.h"

#define DEV_KEY "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="

static char g_dir[256], g_cert[300], g_key[300];
static emu_t g_emu;

static pex_config *config(const char *endpoint, const char *azure_extra)
{
	pex_config *cfg = NULL;
	char yaml[2048];
	int err;

	snprintf(yaml, sizeof(yaml),
		"pexip:\n  url: https://pexip.example.com\n"
		"queue:\n  backend: azure\n  azure:\n"
		"    connection_string: \"AccountName=devstoreaccount1;AccountKey=" DEV_KEY
		";QueueEndpoint=%s/devstoreaccount1\"\n%s", endpoint, azure_extra);
	err = pex_config_parse(&cfg, yaml, strlen(yaml), "tls.yaml");
	ck_assert_msg(err == 0, "config: %s", pex_error_last()->message);
	return cfg;
}

/* Open a queue with @p azure_extra lines under queue.azure; the error. */
static int open_with(const char *endpoint, const char *azure_extra)
{
	pex_config *cfg = config(endpoint, azure_extra);
	pex_queue *q = NULL;
	int err = pex_queue_open_config(&q, cfg, "tlsq");

	pex_queue_free(q);
	pex_config_free(cfg);
	return err;
}

static void msg_has(const char *needle)
{
	ck_assert_msg(strstr(pex_error_last()->message, needle) != NULL,
		"'%s' lacks '%s'", pex_error_last()->message, needle);
}

START_TEST(test_verify_default_refuses)
{
	int err = open_with(g_emu.url, "");
	ck_assert_msg(err == PEX_ETLS, "%s: %s", pex_error_name(err), pex_error_last()->message);
	msg_has("queue.azure.tls.ca_file");
	err = open_with(g_emu.url, "    tls: {verify: true}\n");
	ck_assert_int_eq(err, PEX_ETLS);
}
END_TEST

START_TEST(test_verify_false_gets_through)
{
	/* TLS is done; the emulator is no storage account and says 404 */
	int err = open_with(g_emu.url, "    tls: {verify: false}\n");
	ck_assert_msg(err == PEX_ENOTFOUND, "%s: %s", pex_error_name(err),
		pex_error_last()->message);
	ck_assert_int_eq(pex_error_last()->http_status, 404);
	err = open_with(g_emu.url, "    tls: {verify: off}\n");
	ck_assert_int_eq(err, PEX_ENOTFOUND);
}
END_TEST

START_TEST(test_ca_file)
{
	char extra[512];
	int err;

	snprintf(extra, sizeof(extra), "    tls: {ca_file: \"%s\"}\n", g_cert);
	err = open_with(g_emu.url, extra);
	ck_assert_msg(err == PEX_ENOTFOUND, "%s: %s", pex_error_name(err),
		pex_error_last()->message);
	/* unreadable: refused before anything is sent, naming the key */
	snprintf(extra, sizeof(extra), "    tls: {ca_file: \"%s/missing.pem\"}\n", g_dir);
	err = open_with("https://127.0.0.1:1", extra);
	ck_assert_int_eq(err, PEX_ECONFIG);
	msg_has("tls.yaml: queue.azure.tls.ca_file: cannot read");
	msg_has("missing.pem");
}
END_TEST

START_TEST(test_timeout)
{
	struct sockaddr_in a;
	socklen_t alen = sizeof(a);
	char endpoint[64];
	int s, err;

	/* the kernel completes the handshake; nobody ever reads or answers */
	s = socket(AF_INET, SOCK_STREAM, 0);
	ck_assert_int_ge(s, 0);
	memset(&a, 0, sizeof(a));
	a.sin_family = AF_INET;
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	ck_assert_int_eq(bind(s, (struct sockaddr *)&a, sizeof(a)), 0);
	ck_assert_int_eq(listen(s, 16), 0);
	ck_assert_int_eq(getsockname(s, (struct sockaddr *)&a, &alen), 0);
	snprintf(endpoint, sizeof(endpoint), "http://127.0.0.1:%d", ntohs(a.sin_port));
	err = open_with(endpoint, "    timeout_ms: 200\n");
	ck_assert_msg(err == PEX_ETIMEOUT, "%s: %s", pex_error_name(err), pex_error_last()->message);
	msg_has(endpoint);
	close(s);
}
END_TEST

static int make_cert(void)
{
	char cmd[1024];
	const char *tmp = getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp";

	snprintf(g_dir, sizeof(g_dir), "%s/pex-aztls.XXXXXX", tmp);
	if (!mkdtemp(g_dir))
		return -1;
	snprintf(g_cert, sizeof(g_cert), "%s/cert.pem", g_dir);
	snprintf(g_key, sizeof(g_key), "%s/key.pem", g_dir);
	snprintf(cmd, sizeof(cmd), "openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 "
		"-nodes -keyout '%s' -out '%s' -days 2 -subj /CN=localhost "
		"-addext subjectAltName=IP:127.0.0.1,DNS:localhost >/dev/null 2>&1", g_key, g_cert);
	return system(cmd) == 0 ? 0 : -1;
}

static void cleanup(void)
{
	unlink(g_cert);
	unlink(g_key);
	rmdir(g_dir);
}

int main(void)
{
	const char *args[] = { "--tls-cert", g_cert, "--tls-key", g_key, NULL };
	Suite *s = suite_create("azure-tls");
	TCase *tc = tcase_create("config");
	SRunner *sr;
	int failed;

	if (make_cert() < 0) {
		cleanup();
		fprintf(stderr, "check-azure-tls: openssl(1) could not make a certificate\n");
		return getenv("PEX_TEST_REQUIRE_ALL") &&
			strcmp(getenv("PEX_TEST_REQUIRE_ALL"), "1") == 0 ? 1 : 77;
	}
	if (pex_global_init() < 0 || emu_start(&g_emu, args) != 0) {
		cleanup();
		return 1;
	}
	tcase_set_timeout(tc, 20);
	tcase_add_test(tc, test_verify_default_refuses);
	tcase_add_test(tc, test_verify_false_gets_through);
	tcase_add_test(tc, test_ca_file);
	tcase_add_test(tc, test_timeout);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	emu_stop(&g_emu);
	cleanup();
	pex_global_shutdown();
	return failed ? 1 : 0;
}
