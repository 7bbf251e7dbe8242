/*
 * Integration tests of keyvault: secret references (lib/secrets/keyvault.c)
 * over real HTTP on loopback:
 *
 *   - a fake identity endpoint (plain http, as in Azure) that serves both
 *     the App Service form (/msi/token, X-IDENTITY-HEADER) and the IMDS
 *     form (/metadata/identity/oauth2/token, Metadata: true), recording
 *     what it receives and issuing numbered tokens "fake-token-N.sig";
 *   - a fake Key Vault over HTTPS (libmicrohttpd with TLS) with a
 *     self-signed certificate for 127.0.0.1 made here with the OpenSSL API,
 *     trusted through PEXIPSDK_KEYVAULT_CA_FILE.
 *
 * Each test starts both servers in a checked fixture (so it works with and
 * without fork) and clears the library's cache afterwards. The servers'
 * counters are how the tests see caching and retries.
 *
 * Run under valgrind: meson test -C BUILD --setup valgrind --suite integration
 * (CK_FORK=no).
 */
#include <arpa/inet.h>
#include <check.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <microhttpd.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "internal.h"
#include "pexipsdk/config.h"
#include "secrets/keyvault.h"

#define ID_HEADER   "idh-SeCrEt-0451"       /* IDENTITY_HEADER value */
#define TOKEN_STEM  "fake-token-"
#define PW_VALUE    "pw-VALUE-s3cr3t!"
#define PW_V1_VALUE "pw-old-VERSION-value"
#define PW_VERSION  "0123456789abcdef0123456789abcdef"

/* ---- the certificate (made once, in main) ---- */

static char *g_cert_pem, *g_key_pem;
static char g_tmpdir[64], g_ca_file[128];

static char *bio_string(BIO *b)
{
	char *data, *s;
	long n = BIO_get_mem_data(b, &data);

	s = malloc((size_t)n + 1);
	memcpy(s, data, (size_t)n);
	s[n] = '\0';
	return s;
}

/* A self-signed EC P-256 certificate for IP 127.0.0.1, valid for a day. */
/* make_cert() runs outside any test: report and stop. */
static void need(int ok, const char *what)
{
	if (!ok) {
		fprintf(stderr, "check-keyvault: cannot make the test certificate: %s\n", what);
		ERR_print_errors_fp(stderr);
		exit(1);
	}
}

static void make_cert(void)
{
	EVP_PKEY *key = EVP_EC_gen("P-256");
	X509 *x = X509_new();
	X509_NAME *name;
	X509V3_CTX ctx;
	BIO *b;
	static const char *const exts[][2] = {
		{ "basicConstraints", "critical,CA:TRUE" },
		{ "keyUsage", "critical,digitalSignature,keyCertSign" },
		{ "extendedKeyUsage", "serverAuth" },
		{ "subjectAltName", "IP:127.0.0.1" },
	};
	size_t i;
	FILE *f;

	need(key != NULL, "EC key generation");
	X509_set_version(x, 2);
	ASN1_INTEGER_set(X509_get_serialNumber(x), 4242);
	X509_gmtime_adj(X509_getm_notBefore(x), -3600);
	X509_gmtime_adj(X509_getm_notAfter(x), 86400);
	X509_set_pubkey(x, key);
	name = X509_get_subject_name(x);
	X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
		(const unsigned char *)"fake vault 127.0.0.1", -1, -1, 0);
	X509_set_issuer_name(x, name);
	X509V3_set_ctx(&ctx, x, x, NULL, NULL, 0);
	for (i = 0; i < PEX__ARRAY_SIZE(exts); i++) {
		X509_EXTENSION *e = X509V3_EXT_conf(NULL, &ctx, exts[i][0], exts[i][1]);

		need(e != NULL, exts[i][0]);
		X509_add_ext(x, e, -1);
		X509_EXTENSION_free(e);
	}
	need(X509_sign(x, key, EVP_sha256()) > 0, "X509_sign");

	b = BIO_new(BIO_s_mem());
	PEM_write_bio_X509(b, x);
	g_cert_pem = bio_string(b);
	BIO_free(b);
	b = BIO_new(BIO_s_mem());
	PEM_write_bio_PrivateKey(b, key, NULL, NULL, 0, NULL, NULL);
	g_key_pem = bio_string(b);
	BIO_free(b);
	X509_free(x);
	EVP_PKEY_free(key);

	snprintf(g_tmpdir, sizeof(g_tmpdir), "/tmp/pex-kv-XXXXXX");
	need(mkdtemp(g_tmpdir) != NULL, "mkdtemp");
	snprintf(g_ca_file, sizeof(g_ca_file), "%s/ca.pem", g_tmpdir);
	f = fopen(g_ca_file, "w");
	need(f != NULL, g_ca_file);
	fputs(g_cert_pem, f);
	fclose(f);
}

/* ---- fake servers ---- */

typedef enum token_mode {
	TOK_APPSVC_STYLE = 0,   /* expires_on as a string (App Service sample) */
	TOK_IMDS_STYLE,         /* every number a string, expires_in too */
	TOK_EXPIRES_NUMBER,     /* expires_on as a JSON number */
	TOK_EXPIRES_IN_ONLY,    /* only expires_in, as a number */
	TOK_SHORT_LIVED,        /* expires in 200 s: inside the 5-minute margin */
	TOK_NOT_JSON,
	TOK_NO_ACCESS_TOKEN,
	TOK_TOKEN_NOT_STRING,
	TOK_NO_EXPIRY,
	TOK_400,                /* {"error","error_description"} */
	TOK_400_ECHO,           /* an error text that quotes IDENTITY_HEADER */
	TOK_500
} token_mode;

static struct {
	pthread_mutex_t lock;
	struct MHD_Daemon *id_d, *kv_d;
	unsigned short id_port, kv_port;
	token_mode mode;
	/* identity endpoint */
	int token_requests;
	char id_path[128], id_resource[128], id_api[32], id_client[64];
	char id_xheader[64], id_metadata[16];
	/* vault */
	int vault_requests, boom_requests, flaky_requests;
	char kv_path[256], kv_api[32], kv_auth[256];
	char reject_token[64];  /* the vault answers 401 to this one */
} F = { .lock = PTHREAD_MUTEX_INITIALIZER };

static void copy_value(char *dst, size_t n, struct MHD_Connection *c, enum MHD_ValueKind kind,
	const char *key)
{
	const char *v = MHD_lookup_connection_value(c, kind, key);

	snprintf(dst, n, "%s", v ? v : "(none)");
}

static enum MHD_Result reply(struct MHD_Connection *c, unsigned status, const char *body,
	const char *retry_after)
{
	struct MHD_Response *r = MHD_create_response_from_buffer(strlen(body), (void *)body,
		MHD_RESPMEM_MUST_COPY);
	enum MHD_Result ret;

	MHD_add_response_header(r, "Content-Type", "application/json; charset=utf-8");
	if (retry_after)
		MHD_add_response_header(r, "Retry-After", retry_after);
	ret = MHD_queue_response(c, status, r);
	MHD_destroy_response(r);
	return ret;
}

static enum MHD_Result on_identity(void *cls, struct MHD_Connection *c, const char *url,
	const char *method, const char *version, const char *upload, size_t *upload_size,
	void **state)
{
	char body[1024], xheader[64], metadata[16];
	long now = (long)time(NULL);
	int n, appsvc = strcmp(url, "/msi/token") == 0;
	token_mode mode;

	(void)cls; (void)method; (void)version; (void)upload; (void)upload_size; (void)state;
	pthread_mutex_lock(&F.lock);
	n = ++F.token_requests;
	mode = F.mode;
	snprintf(F.id_path, sizeof(F.id_path), "%s", url);
	copy_value(F.id_resource, sizeof(F.id_resource), c, MHD_GET_ARGUMENT_KIND, "resource");
	copy_value(F.id_api, sizeof(F.id_api), c, MHD_GET_ARGUMENT_KIND, "api-version");
	copy_value(F.id_client, sizeof(F.id_client), c, MHD_GET_ARGUMENT_KIND, "client_id");
	copy_value(F.id_xheader, sizeof(F.id_xheader), c, MHD_HEADER_KIND, "X-IDENTITY-HEADER");
	copy_value(F.id_metadata, sizeof(F.id_metadata), c, MHD_HEADER_KIND, "Metadata");
	snprintf(xheader, sizeof(xheader), "%s", F.id_xheader);
	snprintf(metadata, sizeof(metadata), "%s", F.id_metadata);
	pthread_mutex_unlock(&F.lock);

	/* the real endpoints refuse requests without their header */
	if (appsvc && strcmp(xheader, ID_HEADER) != 0)
		return reply(c, 401, "{\"statusCode\":401,\"message\":\"Unauthorized\"}", NULL);
	if (!appsvc && strcmp(metadata, "true") != 0)
		return reply(c, 400, "{\"error\":\"invalid_request\",\"error_description\":"
			"\"Required metadata header not specified\"}", NULL);

	switch (mode) {
	case TOK_APPSVC_STYLE:
		snprintf(body, sizeof(body), "{\"access_token\":\"" TOKEN_STEM "%d.sig\","
			"\"expires_on\":\"%ld\",\"resource\":\"https://vault.azure.net\","
			"\"token_type\":\"Bearer\",\"client_id\":\"x\"}", n, now + 3600);
		break;
	case TOK_IMDS_STYLE:
		snprintf(body, sizeof(body), "{\"access_token\":\"" TOKEN_STEM "%d.sig\","
			"\"refresh_token\":\"\",\"expires_in\":\"3599\",\"expires_on\":\"%ld\","
			"\"not_before\":\"%ld\",\"resource\":\"https://vault.azure.net\","
			"\"token_type\":\"Bearer\"}", n, now + 3599, now);
		break;
	case TOK_EXPIRES_NUMBER:
		snprintf(body, sizeof(body), "{\"access_token\":\"" TOKEN_STEM "%d.sig\","
			"\"expires_on\":%ld,\"token_type\":\"Bearer\"}", n, now + 3600);
		break;
	case TOK_EXPIRES_IN_ONLY:
		snprintf(body, sizeof(body), "{\"access_token\":\"" TOKEN_STEM "%d.sig\","
			"\"expires_in\":3600}", n);
		break;
	case TOK_SHORT_LIVED:
		snprintf(body, sizeof(body), "{\"access_token\":\"" TOKEN_STEM "%d.sig\","
			"\"expires_on\":\"%ld\"}", n, now + 200);
		break;
	case TOK_NOT_JSON:
		snprintf(body, sizeof(body), "access_token=" TOKEN_STEM "%d.sig", n);
		break;
	case TOK_NO_ACCESS_TOKEN:
		snprintf(body, sizeof(body), "{\"expires_on\":\"%ld\"}", now + 3600);
		break;
	case TOK_TOKEN_NOT_STRING:
		snprintf(body, sizeof(body), "{\"access_token\":42,\"expires_on\":\"%ld\"}",
			now + 3600);
		break;
	case TOK_NO_EXPIRY:
		snprintf(body, sizeof(body), "{\"access_token\":\"" TOKEN_STEM "%d.sig\","
			"\"expires_on\":\"06/20/2019 02:57:58 +00:00\"}", n);
		break;
	case TOK_400:
		return reply(c, 400, "{\"error\":\"invalid_request\",\"error_description\":"
			"\"Identity not found\"}", NULL);
	case TOK_400_ECHO:
		return reply(c, 400, "{\"statusCode\":400,\"message\":\"bad header "
			ID_HEADER "\"}", NULL);
	case TOK_500:
		return reply(c, 500, "{\"error\":\"server_error\"}", NULL);
	}
	return reply(c, 200, body, NULL);
}

static enum MHD_Result on_vault(void *cls, struct MHD_Connection *c, const char *url,
	const char *method, const char *version, const char *upload, size_t *upload_size,
	void **state)
{
	char auth[256], api[32], reject[80], body[512];
	int flaky;

	(void)cls; (void)method; (void)version; (void)upload; (void)upload_size; (void)state;
	pthread_mutex_lock(&F.lock);
	F.vault_requests++;
	snprintf(F.kv_path, sizeof(F.kv_path), "%s", url);
	copy_value(F.kv_api, sizeof(F.kv_api), c, MHD_GET_ARGUMENT_KIND, "api-version");
	copy_value(F.kv_auth, sizeof(F.kv_auth), c, MHD_HEADER_KIND, "Authorization");
	snprintf(auth, sizeof(auth), "%s", F.kv_auth);
	snprintf(api, sizeof(api), "%s", F.kv_api);
	snprintf(reject, sizeof(reject), "Bearer %s", F.reject_token);
	if (strcmp(url, "/secrets/boom") == 0)
		F.boom_requests++;
	flaky = strcmp(url, "/secrets/flaky") == 0 ? ++F.flaky_requests : 0;
	pthread_mutex_unlock(&F.lock);

	if (strncmp(auth, "Bearer " TOKEN_STEM, 7 + strlen(TOKEN_STEM)) != 0 ||
	    strcmp(auth, reject) == 0)
		return reply(c, 401, "{\"error\":{\"code\":\"Unauthorized\",\"message\":"
			"\"AKV10000: Request is missing a Bearer or PoP token.\"}}", NULL);
	if (strcmp(api, "7.4") != 0)
		return reply(c, 400, "{\"error\":{\"code\":\"BadParameter\",\"message\":"
			"\"The specified version is not supported\"}}", NULL);

	if (strcmp(url, "/secrets/pw") == 0)
		return reply(c, 200, "{\"value\":\"" PW_VALUE "\",\"id\":\"https://v/secrets/pw/"
			PW_VERSION "\",\"attributes\":{\"enabled\":true}}", NULL);
	if (strcmp(url, "/secrets/pw/" PW_VERSION) == 0)
		return reply(c, 200, "{\"value\":\"" PW_V1_VALUE "\"}", NULL);
	if (strcmp(url, "/secrets/a") == 0 || strcmp(url, "/secrets/b") == 0 ||
	    strcmp(url, "/secrets/c") == 0) {
		snprintf(body, sizeof(body), "{\"value\":\"value-%s\"}", url + 9);
		return reply(c, 200, body, NULL);
	}
	if (strcmp(url, "/secrets/forbidden") == 0)
		return reply(c, 403, "{\"error\":{\"code\":\"Forbidden\",\"message\":\"The user, "
			"group or application does not have secrets get permission\","
			"\"innererror\":{\"code\":\"ForbiddenByRbac\"}}}", NULL);
	if (strcmp(url, "/secrets/boom") == 0)
		return reply(c, 500, "{\"error\":{\"code\":\"InternalError\",\"message\":"
			"\"kaboom\"}}", NULL);
	if (flaky == 1)
		return reply(c, 503, "{\"error\":{\"code\":\"ServiceUnavailable\"}}", "0");
	if (flaky)
		return reply(c, 200, "{\"value\":\"flaky-ok\"}", NULL);
	if (strcmp(url, "/secrets/echo") == 0) {
		snprintf(body, sizeof(body), "{\"error\":{\"code\":\"BadRequest\",\"message\":"
			"\"bad token %s\"}}", auth + 7);
		return reply(c, 400, body, NULL);
	}
	if (strcmp(url, "/secrets/novalue") == 0)
		return reply(c, 200, "{\"id\":\"x\"}", NULL);
	return reply(c, 404, "{\"error\":{\"code\":\"SecretNotFound\",\"message\":\"A secret "
		"with (name/id) was not found in this key vault.\"}}", NULL);
}

static struct MHD_Daemon *start(MHD_AccessHandlerCallback cb, int tls, unsigned short *port)
{
	struct sockaddr_in sa;
	struct MHD_Daemon *d;
	const union MHD_DaemonInfo *di;
	unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_THREAD_PER_CONNECTION;

	memset(&sa, 0, sizeof(sa));
	sa.sin_family = AF_INET;
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (tls)
		d = MHD_start_daemon(flags | MHD_USE_TLS, 0, NULL, NULL, cb, NULL,
			MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&sa,
			MHD_OPTION_HTTPS_MEM_KEY, g_key_pem,
			MHD_OPTION_HTTPS_MEM_CERT, g_cert_pem, MHD_OPTION_END);
	else
		d = MHD_start_daemon(flags, 0, NULL, NULL, cb, NULL,
			MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&sa, MHD_OPTION_END);
	ck_assert_msg(d != NULL, "cannot start the fake %s server", tls ? "vault" : "identity");
	di = MHD_get_daemon_info(d, MHD_DAEMON_INFO_BIND_PORT);
	*port = di->port;
	return d;
}

static char g_imds_url[128], g_appsvc_url[128];

static void setup(void)
{
	pthread_mutex_lock(&F.lock);
	F.mode = TOK_APPSVC_STYLE;
	F.token_requests = F.vault_requests = F.boom_requests = F.flaky_requests = 0;
	F.reject_token[0] = '\0';
	pthread_mutex_unlock(&F.lock);
	F.id_d = start(on_identity, 0, &F.id_port);
	F.kv_d = start(on_vault, 1, &F.kv_port);
	snprintf(g_imds_url, sizeof(g_imds_url),
		"http://127.0.0.1:%u/metadata/identity/oauth2/token", F.id_port);
	snprintf(g_appsvc_url, sizeof(g_appsvc_url), "http://127.0.0.1:%u/msi/token", F.id_port);

	/* IMDS by default; tests switch to App Service */
	unsetenv("IDENTITY_ENDPOINT");
	unsetenv("IDENTITY_HEADER");
	unsetenv("IMDS_ENDPOINT");
	unsetenv("AZURE_CLIENT_ID");
	setenv("PEXIPSDK_IMDS_ENDPOINT", g_imds_url, 1);
	setenv("PEXIPSDK_KEYVAULT_CA_FILE", g_ca_file, 1);
	pex__keyvault_set_secret_ttl(PEX__KV_SECRET_TTL_S);
}

static void teardown(void)
{
	MHD_stop_daemon(F.id_d);
	MHD_stop_daemon(F.kv_d);
	F.id_d = F.kv_d = NULL;
	pex__keyvault_cache_clear();
	unsetenv("IDENTITY_ENDPOINT");
	unsetenv("IDENTITY_HEADER");
	unsetenv("AZURE_CLIENT_ID");
	unsetenv("IMDS_ENDPOINT");
	unsetenv("PEXIPSDK_IMDS_ENDPOINT");
	unsetenv("PEXIPSDK_KEYVAULT_CA_FILE");
}

static void use_app_service(void)
{
	unsetenv("PEXIPSDK_IMDS_ENDPOINT");
	setenv("IDENTITY_ENDPOINT", g_appsvc_url, 1);
	setenv("IDENTITY_HEADER", ID_HEADER, 1);
}

static void set_mode(token_mode m)
{
	pthread_mutex_lock(&F.lock);
	F.mode = m;
	pthread_mutex_unlock(&F.lock);
}

static int token_requests(void)
{
	int n;

	pthread_mutex_lock(&F.lock);
	n = F.token_requests;
	pthread_mutex_unlock(&F.lock);
	return n;
}

static int vault_requests(void)
{
	int n;

	pthread_mutex_lock(&F.lock);
	n = F.vault_requests;
	pthread_mutex_unlock(&F.lock);
	return n;
}

/* ---- helpers ---- */

/* No credential or secret value may appear in an error message. */
static void assert_clean_at(const char *msg, const char *file, int line)
{
	static const char *const bad[] = {
		TOKEN_STEM, ID_HEADER, PW_VALUE, PW_V1_VALUE, "value-a", "value-b", "flaky-ok",
	};
	size_t i;

	for (i = 0; i < PEX__ARRAY_SIZE(bad); i++)
		ck_assert_msg(strstr(msg, bad[i]) == NULL, "%s:%d: message leaks '%s': %s",
			file, line, bad[i], msg);
}
#define assert_clean(msg) assert_clean_at((msg), __FILE__, __LINE__)

/* The reference to NAME[/VERSION] on the fake vault. */
static const char *kv_url(const char *path)
{
	static char buf[256];

	snprintf(buf, sizeof(buf), "https://127.0.0.1:%u/secrets/%s", F.kv_port, path);
	return buf;
}

static int get_at(char **out, const char *path, const char *file, int line)
{
	pex__keyvault_ref ref;
	const char *why = pex__keyvault_parse(&ref, kv_url(path));
	int err;

	ck_assert_msg(why == NULL, "%s:%d: parse: %s", file, line, why ? why : "");
	*out = NULL;
	err = pex__keyvault_get_secret(out, &ref);
	if (err < 0) {
		ck_assert_ptr_null(*out);
		ck_assert_int_eq(pex_error_last()->code, err);
		assert_clean_at(pex_error_last()->message, file, line);
	}
	return err;
}
#define get(out, path) get_at((out), (path), __FILE__, __LINE__)

static void expect_value_at(const char *path, const char *want, const char *file, int line)
{
	char *v = NULL;
	int err = get_at(&v, path, file, line);

	ck_assert_msg(err == 0, "%s:%d: %s: %s: %s", file, line, path, pex_error_name(err),
		pex_error_last()->message);
	ck_assert_msg(strcmp(v, want) == 0, "%s:%d: got '%s', want '%s'", file, line, v, want);
	free(v);
}
#define expect_value(path, want) expect_value_at((path), (want), __FILE__, __LINE__)

static void expect_error_at(const char *path, int code, const char *file, int line)
{
	char *v = NULL;
	int err = get_at(&v, path, file, line);

	ck_assert_msg(err == code, "%s:%d: %s: expected %s, got %s (%s)", file, line, path,
		pex_error_name(code), pex_error_name(err), pex_error_last()->message);
}
#define expect_error(path, code) expect_error_at((path), (code), __FILE__, __LINE__)

static void assert_contains(const char *s, const char *part)
{
	ck_assert_msg(strstr(s, part) != NULL, "'%s' not in '%s'", part, s);
}

/* ---- reference syntax (no I/O) ---- */

START_TEST(test_parse)
{
	static const char *const bad[] = {
		"http://v.vault.azure.net/secrets/x",           /* not https */
		"https://v.vault.azure.net/secrets/",           /* no name */
		"https://v.vault.azure.net/secrets",
		"https://v.vault.azure.net/keys/x",
		"https://v.vault.azure.net/secrets/x/",         /* trailing slash */
		"https://v.vault.azure.net/secrets/a_b",        /* '_' */
		"https://v.vault.azure.net/secrets/a.b",
		"https://v.vault.azure.net/secrets/x?api-version=7.4",
		"https://v.vault.azure.net/secrets/x#frag",
		"https://user@v.vault.azure.net/secrets/x",
		"https:///secrets/x",
		"https://-v.vault.azure.net/secrets/x",
		"https://v..azure.net/secrets/x",
		"https://v.vault.azure.net:0/secrets/x",
		"https://v.vault.azure.net:65536/secrets/x",
		"https://v.vault.azure.net:/secrets/x",
		"https://v.vault.azure.net/secrets/x/123",      /* version not 32 hex */
		"https://v.vault.azure.net/secrets/x/0123456789abcdef0123456789abcdeg",
		"https://v.vault.azure.net/secrets/x/" PW_VERSION "/more",
		"https://[::1]/secrets/x",
		"v.vault.azure.net/secrets/x",
		"",
	};
	char longname[200];
	pex__keyvault_ref r;
	size_t i;

	for (i = 0; i < PEX__ARRAY_SIZE(bad); i++)
		ck_assert_msg(pex__keyvault_parse(&r, bad[i]) != NULL, "accepted: %s", bad[i]);

	ck_assert_ptr_null(pex__keyvault_parse(&r, "https://My-Vault.Vault.Azure.NET/secrets/Pexip-pw-2"));
	ck_assert_str_eq(r.vault, "my-vault.vault.azure.net");
	ck_assert_str_eq(r.name, "Pexip-pw-2");
	ck_assert_str_eq(r.version, "");
	ck_assert_str_eq(r.url, "https://my-vault.vault.azure.net/secrets/Pexip-pw-2");
	ck_assert_str_eq(r.resource, "https://vault.azure.net");

	ck_assert_ptr_null(pex__keyvault_parse(&r, "https://127.0.0.1:8443/secrets/pw/" PW_VERSION));
	ck_assert_str_eq(r.vault, "127.0.0.1:8443");
	ck_assert_str_eq(r.version, PW_VERSION);
	ck_assert_str_eq(r.url, "https://127.0.0.1:8443/secrets/pw/" PW_VERSION);

	ck_assert_ptr_null(pex__keyvault_parse(&r, "https://v.vault.azure.cn/secrets/x"));
	ck_assert_str_eq(r.resource, "https://vault.azure.cn");
	ck_assert_ptr_null(pex__keyvault_parse(&r, "https://v.vault.usgovcloudapi.net/secrets/x"));
	ck_assert_str_eq(r.resource, "https://vault.usgovcloudapi.net");

	/* names: 1..127 of [0-9a-zA-Z-] */
	memset(longname, 'n', 127);
	longname[127] = '\0';
	{
		char u[300];

		snprintf(u, sizeof(u), "https://v.vault.azure.net/secrets/%s", longname);
		ck_assert_ptr_null(pex__keyvault_parse(&r, u));
		snprintf(u, sizeof(u), "https://v.vault.azure.net/secrets/%sx", longname);
		ck_assert_ptr_nonnull(pex__keyvault_parse(&r, u));
	}
}
END_TEST

/* ---- the two Managed Identity forms ---- */

START_TEST(test_app_service)
{
	char auth[128];

	use_app_service();
	setenv("AZURE_CLIENT_ID", "11111111-2222-3333-4444-555555555555", 1);
	expect_value("pw", PW_VALUE);

	ck_assert_int_eq(token_requests(), 1);
	ck_assert_str_eq(F.id_path, "/msi/token");
	ck_assert_str_eq(F.id_resource, "https://vault.azure.net");
	ck_assert_str_eq(F.id_api, "2019-08-01");
	ck_assert_str_eq(F.id_client, "11111111-2222-3333-4444-555555555555");
	ck_assert_str_eq(F.id_xheader, ID_HEADER);
	ck_assert_str_eq(F.id_metadata, "(none)");

	ck_assert_int_eq(vault_requests(), 1);
	ck_assert_str_eq(F.kv_path, "/secrets/pw");
	ck_assert_str_eq(F.kv_api, "7.4");
	snprintf(auth, sizeof(auth), "Bearer %s1.sig", TOKEN_STEM);
	ck_assert_str_eq(F.kv_auth, auth);
}
END_TEST

START_TEST(test_imds)
{
	set_mode(TOK_IMDS_STYLE);
	expect_value("pw/" PW_VERSION, PW_V1_VALUE);

	ck_assert_int_eq(token_requests(), 1);
	ck_assert_str_eq(F.id_path, "/metadata/identity/oauth2/token");
	ck_assert_str_eq(F.id_resource, "https://vault.azure.net");
	ck_assert_str_eq(F.id_api, "2018-02-01");
	ck_assert_str_eq(F.id_client, "(none)");
	ck_assert_str_eq(F.id_metadata, "true");
	ck_assert_str_eq(F.id_xheader, "(none)");
	ck_assert_str_eq(F.kv_path, "/secrets/pw/" PW_VERSION);

	/* a user-assigned identity */
	pex__keyvault_cache_clear();
	setenv("AZURE_CLIENT_ID", "cid-imds", 1);
	expect_value("pw", PW_VALUE);
	ck_assert_str_eq(F.id_client, "cid-imds");
	ck_assert_int_eq(token_requests(), 2);
}
END_TEST

/* Only IDENTITY_ENDPOINT without IDENTITY_HEADER is not App Service. */
START_TEST(test_identity_selection)
{
	setenv("IDENTITY_ENDPOINT", g_appsvc_url, 1);
	expect_value("pw", PW_VALUE);
	ck_assert_str_eq(F.id_path, "/metadata/identity/oauth2/token");

	/* Azure Arc: IDENTITY_ENDPOINT + IMDS_ENDPOINT */
	pex__keyvault_cache_clear();
	setenv("IMDS_ENDPOINT", "http://127.0.0.1:1", 1);
	expect_error("pw", PEX_ENOTSUPPORTED);
	assert_contains(pex_error_last()->message, "Azure Arc");
	ck_assert_int_eq(token_requests(), 1);
}
END_TEST

START_TEST(test_expiry_forms)
{
	static const token_mode ok[] = { TOK_APPSVC_STYLE, TOK_IMDS_STYLE, TOK_EXPIRES_NUMBER,
		TOK_EXPIRES_IN_ONLY };
	size_t i;

	for (i = 0; i < PEX__ARRAY_SIZE(ok); i++) {
		pex__keyvault_cache_clear();
		set_mode(ok[i]);
		expect_value("a", "value-a");
		expect_value("b", "value-b");
		ck_assert_int_eq(token_requests(), (int)i + 1);   /* cached in every form */
	}
}
END_TEST

/* ---- caching ---- */

START_TEST(test_token_cached)
{
	expect_value("a", "value-a");
	expect_value("b", "value-b");
	expect_value("c", "value-c");
	ck_assert_int_eq(token_requests(), 1);
	ck_assert_int_eq(vault_requests(), 3);
}
END_TEST

START_TEST(test_token_refresh_margin)
{
	/* a token with less than 5 minutes left is not reused */
	set_mode(TOK_SHORT_LIVED);
	expect_value("a", "value-a");
	expect_value("b", "value-b");
	ck_assert_int_eq(token_requests(), 2);
	set_mode(TOK_APPSVC_STYLE);
	expect_value("c", "value-c");
	expect_value("pw", PW_VALUE);
	ck_assert_int_eq(token_requests(), 3);
}
END_TEST

START_TEST(test_secret_cache)
{
	expect_value("pw", PW_VALUE);
	expect_value("pw", PW_VALUE);
	expect_value("pw/" PW_VERSION, PW_V1_VALUE);   /* another URL, another entry */
	expect_value("pw/" PW_VERSION, PW_V1_VALUE);
	ck_assert_int_eq(vault_requests(), 2);
	ck_assert_int_eq(token_requests(), 1);

	/* TTL 0: every resolution goes to the vault (the token stays cached) */
	pex__keyvault_set_secret_ttl(0);
	expect_value("pw", PW_VALUE);
	expect_value("pw", PW_VALUE);
	ck_assert_int_eq(vault_requests(), 4);
	ck_assert_int_eq(token_requests(), 1);

	/* errors are not cached */
	pex__keyvault_set_secret_ttl(PEX__KV_SECRET_TTL_S);
	expect_error("missing", PEX_ENOTFOUND);
	expect_error("missing", PEX_ENOTFOUND);
	ck_assert_int_eq(vault_requests(), 6);
}
END_TEST

/* A cached token the vault rejects with 401 is replaced once. */
START_TEST(test_401_refresh)
{
	expect_value("a", "value-a");
	pthread_mutex_lock(&F.lock);
	snprintf(F.reject_token, sizeof(F.reject_token), "%s1.sig", TOKEN_STEM);
	pthread_mutex_unlock(&F.lock);
	expect_value("b", "value-b");
	ck_assert_int_eq(token_requests(), 2);
	ck_assert_int_eq(vault_requests(), 3);

	/* a fresh token that is rejected: PEX_EAUTH, no loop */
	pex__keyvault_cache_clear();
	pthread_mutex_lock(&F.lock);
	snprintf(F.reject_token, sizeof(F.reject_token), "%s3.sig", TOKEN_STEM);
	pthread_mutex_unlock(&F.lock);
	expect_error("c", PEX_EAUTH);
	ck_assert_int_eq(pex_error_last()->http_status, 401);
	ck_assert_int_eq(token_requests(), 3);
	ck_assert_int_eq(vault_requests(), 4);
}
END_TEST

/* ---- vault errors ---- */

START_TEST(test_404)
{
	char want[128];

	expect_error("missing", PEX_ENOTFOUND);
	snprintf(want, sizeof(want), "secret missing not found in vault 127.0.0.1:%u", F.kv_port);
	ck_assert_str_eq(pex_error_last()->message, want);
	ck_assert_int_eq(pex_error_last()->http_status, 404);
	ck_assert_int_eq(vault_requests(), 1);      /* 404 is not retried */

	expect_error("missing/" PW_VERSION, PEX_ENOTFOUND);
	snprintf(want, sizeof(want), "secret missing (version " PW_VERSION ") not found in "
		"vault 127.0.0.1:%u", F.kv_port);
	ck_assert_str_eq(pex_error_last()->message, want);
}
END_TEST

START_TEST(test_403)
{
	expect_error("forbidden", PEX_EAUTH);
	ck_assert_int_eq(pex_error_last()->http_status, 403);
	ck_assert_int_eq(pex_error_last()->klass, PEX_ERROR_CLASS_AUTH);
	assert_contains(pex_error_last()->message, "access to secret forbidden in vault 127.0.0.1:");
	assert_contains(pex_error_last()->message, "HTTP 403 Forbidden: Forbidden: The user, "
		"group or application does not have secrets get permission");
	ck_assert_int_eq(vault_requests(), 1);
	ck_assert_int_eq(token_requests(), 1);      /* 403 does not refresh the token */
}
END_TEST

START_TEST(test_5xx_retried)
{
	expect_error("boom", PEX_EHTTP);
	ck_assert_int_eq(pex_error_last()->http_status, 500);
	assert_contains(pex_error_last()->message, "getting secret boom from vault 127.0.0.1:");
	assert_contains(pex_error_last()->message, "HTTP 500 Internal Server Error: "
		"InternalError: kaboom");
	ck_assert_int_eq(F.boom_requests, 3);       /* one try, two retries */

	/* 503 + Retry-After: 0, then 200 */
	expect_value("flaky", "flaky-ok");
	ck_assert_int_eq(F.flaky_requests, 2);
}
END_TEST

START_TEST(test_reply_quoting_token)
{
	expect_error("echo", PEX_EHTTP);
	assert_contains(pex_error_last()->message, "HTTP 400 Bad Request: (the reply quoted a "
		"credential; not shown)");
	expect_error("novalue", PEX_EPARSE);
	assert_contains(pex_error_last()->message, "malformed reply for secret novalue from vault");
}
END_TEST

/* TLS verification is always on: without the test CA, the vault is refused. */
START_TEST(test_tls_verified)
{
	unsetenv("PEXIPSDK_KEYVAULT_CA_FILE");
	expect_error("pw", PEX_ETLS);
	assert_contains(pex_error_last()->message, "Key Vault: TLS verification failed for "
		"https://127.0.0.1:");
	setenv("PEXIPSDK_KEYVAULT_CA_FILE", "/nonexistent/ca.pem", 1);
	expect_error("pw", PEX_ETLS);
	setenv("PEXIPSDK_KEYVAULT_CA_FILE", g_ca_file, 1);
	expect_value("pw", PW_VALUE);
	ck_assert_int_eq(token_requests(), 1);
}
END_TEST

/* ---- identity endpoint errors ---- */

START_TEST(test_mi_down)
{
	char url[128];
	struct sockaddr_in sa;
	socklen_t len = sizeof(sa);
	int fd = socket(AF_INET, SOCK_STREAM, 0);

	/* a loopback port nobody listens on */
	memset(&sa, 0, sizeof(sa));
	sa.sin_family = AF_INET;
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	ck_assert_int_eq(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	ck_assert_int_eq(getsockname(fd, (struct sockaddr *)&sa, &len), 0);
	close(fd);
	snprintf(url, sizeof(url), "http://127.0.0.1:%u/metadata/identity/oauth2/token",
		ntohs(sa.sin_port));
	setenv("PEXIPSDK_IMDS_ENDPOINT", url, 1);

	expect_error("pw", PEX_ENET);
	assert_contains(pex_error_last()->message, "managed identity (IMDS): cannot reach http://127.0.0.1:");
	ck_assert_ptr_null(strstr(pex_error_last()->message, "api-version"));
	ck_assert_int_eq(vault_requests(), 0);

	/* App Service form, endpoint down: the header is never shown */
	setenv("IDENTITY_ENDPOINT", url, 1);
	setenv("IDENTITY_HEADER", ID_HEADER, 1);
	expect_error("pw", PEX_ENET);
	assert_contains(pex_error_last()->message, "managed identity (App Service): cannot reach");
}
END_TEST

START_TEST(test_mi_http_errors)
{
	set_mode(TOK_400);
	expect_error("pw", PEX_EAUTH);
	assert_contains(pex_error_last()->message, "managed identity (IMDS): token request to "
		"http://127.0.0.1:");
	assert_contains(pex_error_last()->message, "HTTP 400 Bad Request: invalid_request: "
		"Identity not found");
	ck_assert_int_eq(token_requests(), 1);

	/* App Service with a wrong header: 401 */
	use_app_service();
	setenv("IDENTITY_HEADER", "wrong", 1);
	set_mode(TOK_APPSVC_STYLE);
	expect_error("pw", PEX_EAUTH);
	assert_contains(pex_error_last()->message, "HTTP 401 Unauthorized: Unauthorized");

	/* an error text that quotes IDENTITY_HEADER is withheld */
	setenv("IDENTITY_HEADER", ID_HEADER, 1);
	set_mode(TOK_400_ECHO);
	expect_error("pw", PEX_EAUTH);
	assert_contains(pex_error_last()->message, "(the reply quoted a credential; not shown)");

	/* 500 is retried */
	set_mode(TOK_500);
	pthread_mutex_lock(&F.lock);
	F.token_requests = 0;
	pthread_mutex_unlock(&F.lock);
	expect_error("pw", PEX_EHTTP);
	ck_assert_int_eq(token_requests(), 3);
	ck_assert_int_eq(vault_requests(), 0);
}
END_TEST

START_TEST(test_malformed_token)
{
	static const struct {
		token_mode mode;
		const char *why;
	} cases[] = {
		{ TOK_NOT_JSON, "not a JSON object" },
		{ TOK_NO_ACCESS_TOKEN, "no access_token string" },
		{ TOK_TOKEN_NOT_STRING, "no access_token string" },
		{ TOK_NO_EXPIRY, "no usable expires_on or expires_in" },
	};
	size_t i;

	for (i = 0; i < PEX__ARRAY_SIZE(cases); i++) {
		set_mode(cases[i].mode);
		expect_error("pw", PEX_EPARSE);
		assert_contains(pex_error_last()->message, "managed identity (IMDS): malformed "
			"token reply from http://127.0.0.1:");
		assert_contains(pex_error_last()->message, cases[i].why);
		ck_assert_int_eq(token_requests(), (int)i + 1);   /* nothing cached */
	}
	ck_assert_int_eq(vault_requests(), 0);
}
END_TEST

/* ---- through the configuration ---- */

static pex_config *parse_yaml(int *err, const char *secret_path)
{
	char yaml[512], first[256];
	pex_config *cfg = NULL;

	snprintf(first, sizeof(first), "%s", kv_url(secret_path));   /* kv_url() is static */
	snprintf(yaml, sizeof(yaml), "pexip:\n  url: https://mgr.example.com\n  auth:\n"
		"    username: admin\n    password: keyvault:%s\nevents:\n"
		"  password: keyvault:%s\n", first, kv_url("b"));
	*err = pex_config_parse(&cfg, yaml, strlen(yaml), "pexipsdk.yaml");
	return cfg;
}

START_TEST(test_config_file)
{
	const char *s = NULL;
	char want[256];
	pex_config *cfg;
	pex_buf dump = PEX_BUF_INIT;
	int err;

	cfg = parse_yaml(&err, "pw");
	ck_assert_msg(err == 0, "%s", pex_error_last()->message);
	ck_assert_int_eq(pex_config_get_string(&s, cfg, "pexip.auth.password"), 0);
	ck_assert_str_eq(s, PW_VALUE);
	ck_assert_int_eq(pex_config_get_string(&s, cfg, "events.password"), 0);
	ck_assert_str_eq(s, "value-b");
	ck_assert_int_eq(token_requests(), 1);
	ck_assert_int_eq(pex_config_dump(&dump, cfg), 0);
	ck_assert_ptr_null(strstr(dump.ptr, PW_VALUE));
	pex_buf_dispose(&dump);
	pex_config_free(cfg);

	/* loading it again fetches nothing (secrets are read when used), and
	 * reading it is served from the cache */
	cfg = parse_yaml(&err, "pw");
	ck_assert_int_eq(err, 0);
	ck_assert_int_eq(vault_requests(), 2);
	ck_assert_int_eq(pex_config_get_string(&s, cfg, "pexip.auth.password"), 0);
	pex_config_free(cfg);
	ck_assert_int_eq(vault_requests(), 2);
	ck_assert_int_eq(token_requests(), 1);

	/* fetch errors name the file, line and key, and keep their code; they
	 * come when the key is read (or all secrets are resolved) */
	cfg = parse_yaml(&err, "missing");
	ck_assert_int_eq(err, 0);
	ck_assert_int_eq(pex_config_resolve_secrets(cfg), PEX_ENOTFOUND);
	pex_config_free(cfg);
	snprintf(want, sizeof(want), "pexipsdk.yaml:5: pexip.auth.password: secret missing "
		"not found in vault 127.0.0.1:%u", F.kv_port);
	ck_assert_str_eq(pex_error_last()->message, want);

	cfg = parse_yaml(&err, "forbidden");
	ck_assert_int_eq(err, 0);
	s = NULL;
	ck_assert_int_eq(pex_config_get_string(&s, cfg, "pexip.auth.password"), PEX_EAUTH);
	ck_assert_ptr_null(s);
	pex_config_free(cfg);
	assert_contains(pex_error_last()->message, "pexipsdk.yaml:5: pexip.auth.password: "
		"access to secret forbidden");
	assert_clean(pex_error_last()->message);

	/* syntax errors are configuration errors, at load */
	cfg = parse_yaml(&err, "a_b");
	ck_assert_int_eq(err, PEX_ECONFIG);
	ck_assert_str_eq(pex_error_last()->message, "pexipsdk.yaml:5: pexip.auth.password: "
		"malformed Key Vault reference: the secret name must be 1 to 127 letters, digits "
		"or '-'; expected keyvault:https://VAULT/secrets/NAME[/VERSION]");
	ck_assert_int_eq(pex_error_last()->klass, PEX_ERROR_CLASS_CONFIG);
}
END_TEST

/* ---- runner ---- */

static Suite *keyvault_suite(void)
{
	Suite *s = suite_create("keyvault");
	TCase *tc = tcase_create("parse");

	tcase_add_test(tc, test_parse);
	suite_add_tcase(s, tc);

	tc = tcase_create("fetch");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_app_service);
	tcase_add_test(tc, test_imds);
	tcase_add_test(tc, test_identity_selection);
	tcase_add_test(tc, test_expiry_forms);
	tcase_add_test(tc, test_token_cached);
	tcase_add_test(tc, test_token_refresh_margin);
	tcase_add_test(tc, test_secret_cache);
	tcase_add_test(tc, test_401_refresh);
	tcase_add_test(tc, test_404);
	tcase_add_test(tc, test_403);
	tcase_add_test(tc, test_5xx_retried);
	tcase_add_test(tc, test_reply_quoting_token);
	tcase_add_test(tc, test_tls_verified);
	tcase_add_test(tc, test_mi_down);
	tcase_add_test(tc, test_mi_http_errors);
	tcase_add_test(tc, test_malformed_token);
	tcase_add_test(tc, test_config_file);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr;
	int failed;

	if (!MHD_is_feature_supported(MHD_FEATURE_TLS)) {
		fprintf(stderr, "libmicrohttpd has no TLS support: skipping\n");
		return 77;
	}
	make_cert();
	sr = srunner_create(keyvault_suite());
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);

	pex__keyvault_cache_clear();
	unlink(g_ca_file);
	rmdir(g_tmpdir);
	free(g_cert_pem);
	free(g_key_pem);
	return failed ? 1 : 0;
}
