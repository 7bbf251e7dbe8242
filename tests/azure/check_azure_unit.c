/* Unit tests for the Azure Storage Queue backend's pure pieces: connection
 * strings, Shared Key signing (the spec's three verified vectors), SAS,
 * URLs and query encoding, XML, message encoding, dates and error mapping.
 * No sockets. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "azure/azure_internal.h"

#define DEV_KEY PEX__AZURE_DEV_KEY
#define AZURITE_CONN \
	"DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;AccountKey=" DEV_KEY \
	";QueueEndpoint=http://127.0.0.1:10001/devstoreaccount1;"
#define VECTOR_DATE "Sat, 01 Jan 2000 00:00:00 GMT"

/* The last error message must not contain @secret. */
static void assert_no_secret(const char *secret)
{
	const char *m = pex_error_last()->message;
	ck_assert_msg(strstr(m, secret) == NULL, "secret leaked into: %s", m);
}

static void assert_msg_has(const char *needle)
{
	const char *m = pex_error_last()->message;
	ck_assert_msg(strstr(m, needle) != NULL, "'%s' not in: %s", needle, m);
}

/* ---- connection strings ---- */

START_TEST(test_conn_azurite)
{
	pex__azure_conn c;
	ck_assert_int_eq(pex__azure_conn_parse(&c, AZURITE_CONN), 0);
	ck_assert_str_eq(c.account, "devstoreaccount1");
	ck_assert_uint_eq(c.key_len, 64);
	ck_assert_ptr_null(c.sas);
	ck_assert_str_eq(c.origin, "http://127.0.0.1:10001");
	ck_assert_str_eq(c.base_path, "/devstoreaccount1");
	ck_assert_int_eq(c.path_style, 1);
	ck_assert_int_eq(c.dev_storage, 0);
	pex__azure_conn_dispose(&c);
	pex__azure_conn_dispose(&c);    /* twice is fine */
}
END_TEST

START_TEST(test_conn_dev_storage)
{
	pex__azure_conn c, d;
	ck_assert_int_eq(pex__azure_conn_parse(&c, "UseDevelopmentStorage=true"), 0);
	ck_assert_int_eq(pex__azure_conn_parse(&d, AZURITE_CONN), 0);
	ck_assert_str_eq(c.account, "devstoreaccount1");
	ck_assert_uint_eq(c.key_len, d.key_len);
	ck_assert_mem_eq(c.key, d.key, c.key_len);
	ck_assert_str_eq(c.origin, "http://127.0.0.1:10001");
	ck_assert_str_eq(c.base_path, "/devstoreaccount1");
	ck_assert_int_eq(c.dev_storage, 1);
	pex__azure_conn_dispose(&c);
	pex__azure_conn_dispose(&d);

	/* keys and values are case-insensitive, blanks and ';' are tolerated */
	ck_assert_int_eq(pex__azure_conn_parse(&c, " usedevelopmentstorage = TRUE ;;"), 0);
	ck_assert_int_eq(c.dev_storage, 1);
	pex__azure_conn_dispose(&c);

	ck_assert_int_eq(pex__azure_conn_parse(&c,
		"UseDevelopmentStorage=true;DevelopmentStorageProxyUri=http://azurite"), 0);
	ck_assert_str_eq(c.origin, "http://azurite:10001");
	ck_assert_str_eq(c.base_path, "/devstoreaccount1");
	pex__azure_conn_dispose(&c);

	ck_assert_int_eq(pex__azure_conn_parse(&c,
		"UseDevelopmentStorage=true;DevelopmentStorageProxyUri=https://proxy.example:8080/"), 0);
	ck_assert_str_eq(c.origin, "https://proxy.example:10001");
	pex__azure_conn_dispose(&c);
}
END_TEST

START_TEST(test_conn_azure_host_style)
{
	pex__azure_conn c;
	ck_assert_int_eq(pex__azure_conn_parse(&c,
		"DefaultEndpointsProtocol=https;AccountName=myacct;AccountKey=" DEV_KEY
		";EndpointSuffix=core.windows.net"), 0);
	ck_assert_str_eq(c.origin, "https://myacct.queue.core.windows.net");
	ck_assert_str_eq(c.base_path, "");
	ck_assert_int_eq(c.path_style, 0);
	pex__azure_conn_dispose(&c);

	/* defaults: https, core.windows.net; other services' keys are ignored */
	ck_assert_int_eq(pex__azure_conn_parse(&c, "AccountName=myacct;AccountKey=" DEV_KEY
		";BlobEndpoint=https://x.blob.core.windows.net"), 0);
	ck_assert_str_eq(c.origin, "https://myacct.queue.core.windows.net");
	pex__azure_conn_dispose(&c);

	ck_assert_int_eq(pex__azure_conn_parse(&c, "AccountName=a1;AccountKey=" DEV_KEY
		";EndpointSuffix=core.chinacloudapi.cn;DefaultEndpointsProtocol=HTTP"), 0);
	ck_assert_str_eq(c.origin, "http://a1.queue.core.chinacloudapi.cn");
	pex__azure_conn_dispose(&c);
}
END_TEST

START_TEST(test_conn_endpoints)
{
	pex__azure_conn c;
	/* path-style host without the account path gets it appended */
	ck_assert_int_eq(pex__azure_conn_parse(&c, "AccountName=devstoreaccount1;AccountKey="
		DEV_KEY ";QueueEndpoint=http://azurite:10001/"), 0);
	ck_assert_str_eq(c.origin, "http://azurite:10001");
	ck_assert_str_eq(c.base_path, "/devstoreaccount1");
	pex__azure_conn_dispose(&c);

	/* a dotted host is host-style: the endpoint is used as given */
	ck_assert_int_eq(pex__azure_conn_parse(&c, "AccountName=acct;AccountKey=" DEV_KEY
		";QueueEndpoint=https://acct.queue.example.net"), 0);
	ck_assert_str_eq(c.origin, "https://acct.queue.example.net");
	ck_assert_str_eq(c.base_path, "");
	pex__azure_conn_dispose(&c);

	/* SAS only, with an explicit endpoint; leading '?' dropped */
	ck_assert_int_eq(pex__azure_conn_parse(&c, "QueueEndpoint=https://acct.queue.core.windows.net;"
		"SharedAccessSignature=?sv=2021-12-02&sp=raup&sig=abc%2Bdef%3D"), 0);
	ck_assert_ptr_null(c.key);
	ck_assert_str_eq(c.sas, "sv=2021-12-02&sp=raup&sig=abc%2Bdef%3D");
	pex__azure_conn_dispose(&c);

	/* SAS with AccountName builds the endpoint */
	ck_assert_int_eq(pex__azure_conn_parse(&c, "AccountName=acct;SharedAccessSignature=sv=1&sig=x"), 0);
	ck_assert_str_eq(c.origin, "https://acct.queue.core.windows.net");
	pex__azure_conn_dispose(&c);

	ck_assert_int_eq(pex__azure_host_is_path_style("127.0.0.1", 9), 1);
	ck_assert_int_eq(pex__azure_host_is_path_style("localhost", 9), 1);
	ck_assert_int_eq(pex__azure_host_is_path_style("[::1]", 5), 1);
	ck_assert_int_eq(pex__azure_host_is_path_style("host.docker.internal", 20), 1);
	ck_assert_int_eq(pex__azure_host_is_path_style("acct.queue.core.windows.net", 27), 0);
	ck_assert_int_eq(pex__azure_host_is_path_style("1.2.3.example", 13), 0);
}
END_TEST

START_TEST(test_conn_malformed)
{
	static const char sas_sig[] = "SuperSecretSig0123";
	pex__azure_conn c;
	struct { const char *s; const char *expect; } bad[] = {
		{ "", "needs AccountName and AccountKey" },
		{ "AccountName=acct", "needs AccountName and AccountKey" },
		{ "AccountName=acct;AccountKey=" DEV_KEY ";Bogus", "part 3 is not Key=Value" },
		{ "AccountName=acct;=x;AccountKey=" DEV_KEY, "part 2 has an empty key" },
		{ "AccountName=acct;AccountName=b;AccountKey=" DEV_KEY, "AccountName is given twice" },
		{ "AccountName=a c;AccountKey=" DEV_KEY, "AccountName must be" },
		{ "AccountKey=" DEV_KEY, "AccountKey needs AccountName" },
		{ "AccountName=acct;AccountKey=" DEV_KEY ";DefaultEndpointsProtocol=ftp",
		  "DefaultEndpointsProtocol must be http or https" },
		{ "AccountName=acct;AccountKey=" DEV_KEY ";QueueEndpoint=ftp://x", "QueueEndpoint must start" },
		{ "AccountName=acct;AccountKey=" DEV_KEY ";QueueEndpoint=http://x:port", "malformed port" },
		{ "AccountName=acct;AccountKey=" DEV_KEY ";QueueEndpoint=http://h/?sv=1&sig=x",
		  "must not have a query string" },
		{ "AccountName=acct;AccountKey=" DEV_KEY ";EndpointSuffix=a/b", "EndpointSuffix" },
		{ "UseDevelopmentStorage=yes", "UseDevelopmentStorage must be true or false" },
		{ "UseDevelopmentStorage=true;AccountName=x", "cannot be combined with AccountName" },
		{ "UseDevelopmentStorage=true;QueueEndpoint=http://127.0.0.1:4242/devstoreaccount1",
		  "cannot be combined with QueueEndpoint (for an emulator elsewhere give "
		  "AccountName=devstoreaccount1, its AccountKey and QueueEndpoint instead)" },
		{ "DevelopmentStorageProxyUri=http://x;AccountName=a;AccountKey=" DEV_KEY,
		  "needs UseDevelopmentStorage=true" },
		{ "QueueEndpoint=https://h.example;SharedAccessSignature=sv=1&sp=r",
		  "SharedAccessSignature has no sig= parameter" },
		{ "SharedAccessSignature=sv=1&sig=x", "needs AccountName or QueueEndpoint" },
	};
	size_t i;
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		int rc = pex__azure_conn_parse(&c, bad[i].s);
		ck_assert_msg(rc == PEX_EINVAL, "case %zu accepted: %s", i, bad[i].s);
		ck_assert_int_eq(pex_error_last()->klass, PEX_ERROR_CLASS_AZURE);
		assert_msg_has(bad[i].expect);
		assert_msg_has("Azure connection string");
		assert_no_secret("Eby8vdM02x");
		ck_assert_ptr_null(c.account);
	}

	/* a broken key is named, never echoed */
	ck_assert_int_eq(pex__azure_conn_parse(&c,
		"AccountName=acct;AccountKey=Zm9v*SecretKeyMaterial=="), PEX_EINVAL);
	assert_msg_has("AccountKey is not valid base64");
	assert_no_secret("SecretKeyMaterial");
	assert_no_secret("Zm9v");

	/* a SAS with no sig is named, its other parameters not echoed */
	ck_assert_int_eq(pex__azure_conn_parse(&c,
		"QueueEndpoint=https://h.example;SharedAccessSignature=sv=1&sigx=SuperSecretSig0123"),
		PEX_EINVAL);
	assert_no_secret(sas_sig);
	/* the key-less part is counted, not quoted */
	ck_assert_int_eq(pex__azure_conn_parse(&c,
		"AccountName=acct;AccountKey=abc;SuperSecretSig0123"), PEX_EINVAL);
	assert_no_secret(sas_sig);
	/* QueueEndpoint with a query is not quoted either */
	ck_assert_int_eq(pex__azure_conn_parse(&c,
		"AccountName=acct;AccountKey=" DEV_KEY ";QueueEndpoint=http://h/?sig=SuperSecretSig0123"),
		PEX_EINVAL);
	assert_no_secret(sas_sig);
	ck_assert_int_eq(pex__azure_conn_parse(&c, NULL), PEX_EINVAL);
}
END_TEST

/* ---- Shared Key: the spec's three verified vectors ---- */

static pex__azure_conn dev_conn(void)
{
	pex__azure_conn c;
	ck_assert_int_eq(pex__azure_conn_parse(&c, "UseDevelopmentStorage=true"), 0);
	return c;
}

static const pex__azure_header vector_headers[] = {
	{ "x-ms-version", "2021-12-02" },       /* out of order on purpose */
	{ "X-MS-Date", VECTOR_DATE },
	{ "Content-Type", "ignored: not x-ms" },
};

static void check_vector(const char *verb, size_t clen, const char *ctype, const char *queue,
	const char *suffix, const pex__azure_param *params, size_t nparams,
	const char *expect_sts, const char *expect_sig)
{
	pex__azure_conn c = dev_conn();
	pex_buf path = PEX_BUF_INIT, sts = PEX_BUF_INIT, sig = PEX_BUF_INIT;
	ck_assert_int_eq(pex__azure_resource_path(&path, &c, queue, suffix), 0);
	ck_assert_int_eq(pex__azure_string_to_sign(&sts, verb, clen, ctype, vector_headers, 3,
		c.account, path.ptr, params, nparams), 0);
	ck_assert_str_eq(sts.ptr, expect_sts);
	ck_assert_int_eq(pex__azure_hmac_sha256_b64(&sig, c.key, c.key_len, sts.ptr, sts.size), 0);
	ck_assert_str_eq(sig.ptr, expect_sig);
	pex_buf_dispose(&path);
	pex_buf_dispose(&sts);
	pex_buf_dispose(&sig);
	pex__azure_conn_dispose(&c);
}

START_TEST(test_sign_vector1_create)
{
	check_vector("PUT", 0, NULL, "roompool", "", NULL, 0,
		"PUT\n\n\n\n\n\n\n\n\n\n\n\nx-ms-date:" VECTOR_DATE "\nx-ms-version:2021-12-02\n"
		"/devstoreaccount1/devstoreaccount1/roompool",
		"+gk24piI2DWjts1r3JiXe+Zts6em0hkgH2gltp6adis=");
}
END_TEST

START_TEST(test_sign_vector2_put)
{
	static const pex__azure_param p[] = { { "messagettl", "-1" } };
	pex_buf body = PEX_BUF_INIT;
	/* the vector's body is exactly what we send for {"room":"r1"} */
	ck_assert_int_eq(pex__azure_message_body(&body, "{\"room\":\"r1\"}", 13), 0);
	ck_assert_str_eq(body.ptr,
		"<QueueMessage><MessageText>eyJyb29tIjoicjEifQ==</MessageText></QueueMessage>");
	ck_assert_uint_eq(body.size, 76);
	check_vector("POST", body.size, "application/xml", "roompool", "/messages", p, 1,
		"POST\n\n\n76\n\napplication/xml\n\n\n\n\n\n\nx-ms-date:" VECTOR_DATE
		"\nx-ms-version:2021-12-02\n/devstoreaccount1/devstoreaccount1/roompool/messages"
		"\nmessagettl:-1",
		"2N5YJsEU4ALapI81RPeQNAZeob/3T9uGzq9fjRDzm0o=");
	pex_buf_dispose(&body);
}
END_TEST

START_TEST(test_sign_vector3_get)
{
	/* given in the other order: the canonical form sorts them */
	static const pex__azure_param p[] = {
		{ "visibilitytimeout", "60" }, { "numofmessages", "32" },
	};
	check_vector("GET", 0, NULL, "roompool", "/messages", p, 2,
		"GET\n\n\n\n\n\n\n\n\n\n\n\nx-ms-date:" VECTOR_DATE "\nx-ms-version:2021-12-02\n"
		"/devstoreaccount1/devstoreaccount1/roompool/messages"
		"\nnumofmessages:32\nvisibilitytimeout:60",
		"pAU95TnaeAAQF7rCnlZAAhTfKK1nD1jWpAnoiMOiGFA=");
}
END_TEST

START_TEST(test_sign_canonical_details)
{
	static const pex__azure_header h[] = {
		{ "x-ms-meta-b", "  two   words\t " },
		{ "X-Ms-Meta-A", "1" },
		{ "Accept", "*/*" },
	};
	static const pex__azure_param p[] = {
		{ "popreceipt", "AgAAAA+/=" }, { "Comp", "list" }, { "include", "b" },
		{ "include", "a" },
	};
	pex_buf sts = PEX_BUF_INIT;
	ck_assert_int_eq(pex__azure_string_to_sign(&sts, "DELETE", 0, NULL, h, 3, "acct",
		"/q/messages/id", p, 4), 0);
	ck_assert_str_eq(sts.ptr, "DELETE\n\n\n\n\n\n\n\n\n\n\n\n"
		"x-ms-meta-a:1\nx-ms-meta-b:two words\n"
		"/acct/q/messages/id\ncomp:list\ninclude:a,b\npopreceipt:AgAAAA+/=");
	pex_buf_dispose(&sts);
}
END_TEST

/* ---- the requests as sent: headers, URL, signature ---- */

static void check_request(const pex__azure_conn *c, const char *verb, const char *suffix,
	const pex__azure_param *params, size_t nparams, const char *ctype, size_t clen,
	const char *expect_url, const char *expect_headers)
{
	pex__azure_request r;
	memset(&r, 0x5a, sizeof(r));
	ck_assert_int_eq(pex__azure_request_build(&r, c, VECTOR_DATE, verb, "roompool", suffix,
		params, nparams, ctype, clen), 0);
	ck_assert_str_eq(r.url.ptr, expect_url);
	ck_assert_str_eq(r.headers.ptr, expect_headers);
	pex__azure_request_dispose(&r);
	ck_assert_ptr_null(r.url.ptr);
	ck_assert_ptr_null(r.headers.ptr);
}

START_TEST(test_request_sent)
{
	static const pex__azure_param put[] = { { "messagettl", "-1" } };
	static const pex__azure_param get[] = {
		{ "numofmessages", "32" }, { "visibilitytimeout", "60" },
	};
	pex__azure_conn c = dev_conn();
	pex__azure_conn sas;

	/* the spec's three vectors, as the backend sends them: x-ms-version is
	 * 2021-12-02 on the wire, and the Authorization is the vector's */
	check_request(&c, "PUT", "", NULL, 0, NULL, 0,
		"http://127.0.0.1:10001/devstoreaccount1/roompool",
		"x-ms-date: " VECTOR_DATE "\n"
		"x-ms-version: 2021-12-02\n"
		"Content-Length: 0\n"
		"Expect:\n"
		"Authorization: SharedKey devstoreaccount1:+gk24piI2DWjts1r3JiXe+Zts6em0hkgH2gltp6adis=\n");
	check_request(&c, "POST", "/messages", put, 1, "application/xml", 76,
		"http://127.0.0.1:10001/devstoreaccount1/roompool/messages?messagettl=-1",
		"x-ms-date: " VECTOR_DATE "\n"
		"x-ms-version: 2021-12-02\n"
		"Content-Length: 76\n"
		"Content-Type: application/xml\n"
		"Expect:\n"
		"Authorization: SharedKey devstoreaccount1:2N5YJsEU4ALapI81RPeQNAZeob/3T9uGzq9fjRDzm0o=\n");
	check_request(&c, "GET", "/messages", get, 2, NULL, 0,
		"http://127.0.0.1:10001/devstoreaccount1/roompool/messages"
		"?numofmessages=32&visibilitytimeout=60",
		"x-ms-date: " VECTOR_DATE "\n"
		"x-ms-version: 2021-12-02\n"
		"Expect:\n"
		"Authorization: SharedKey devstoreaccount1:pAU95TnaeAAQF7rCnlZAAhTfKK1nD1jWpAnoiMOiGFA=\n");
	pex__azure_conn_dispose(&c);

	/* SAS: the same headers, no Authorization, the token after our query */
	ck_assert_int_eq(pex__azure_conn_parse(&sas, "QueueEndpoint=https://acct.queue.core.windows.net;"
		"SharedAccessSignature=sv=2021-12-02&sp=raup&sig=abc%2Bdef%3D"), 0);
	check_request(&sas, "DELETE", "/messages", NULL, 0, NULL, 0,
		"https://acct.queue.core.windows.net/roompool/messages?sv=2021-12-02&sp=raup&sig=abc%2Bdef%3D",
		"x-ms-date: " VECTOR_DATE "\n"
		"x-ms-version: 2021-12-02\n"
		"Content-Length: 0\n"
		"Expect:\n");
	pex__azure_conn_dispose(&sas);
}
END_TEST

/* ---- URLs, query strings, SAS ---- */

START_TEST(test_urls_and_query)
{
	pex__azure_conn c = dev_conn(), h;
	pex_buf b = PEX_BUF_INIT;
	static const pex__azure_param p[] = {
		{ "popreceipt", "AgAAAAMAAAAAAAAA+/x=" }, { "visibilitytimeout", "0" },
	};
	ck_assert_int_eq(pex__azure_resource_path(&b, &c, "roompool", "/messages"), 0);
	ck_assert_str_eq(b.ptr, "/devstoreaccount1/roompool/messages");
	ck_assert_int_eq(pex__azure_append_query(&b, p, 2), 0);
	/* full percent-encoding: + / = never travel raw */
	ck_assert_str_eq(b.ptr, "/devstoreaccount1/roompool/messages"
		"?popreceipt=AgAAAAMAAAAAAAAA%2B%2Fx%3D&visibilitytimeout=0");
	pex_buf_dispose(&b);

	ck_assert_int_eq(pex__azure_conn_parse(&h, "AccountName=acct;AccountKey=" DEV_KEY), 0);
	ck_assert_int_eq(pex__azure_resource_path(&b, &h, "q1", ""), 0);
	ck_assert_str_eq(b.ptr, "/q1");
	pex_buf_dispose(&b);
	pex__azure_conn_dispose(&h);

	ck_assert_int_eq(pex__buf_puts(&b, "https://a.queue.core.windows.net/q/messages"), 0);
	ck_assert_int_eq(pex__azure_append_sas(&b, "?sv=1&sig=a%2Bb"), 0);
	ck_assert_str_eq(b.ptr, "https://a.queue.core.windows.net/q/messages?sv=1&sig=a%2Bb");
	ck_assert_int_eq(pex__azure_append_sas(&b, "st=2"), 0);
	ck_assert_str_eq(b.ptr, "https://a.queue.core.windows.net/q/messages?sv=1&sig=a%2Bb&st=2");
	ck_assert_int_eq(pex__azure_append_sas(&b, NULL), 0);
	ck_assert_int_eq(pex__azure_append_sas(&b, ""), 0);
	ck_assert_str_eq(b.ptr, "https://a.queue.core.windows.net/q/messages?sv=1&sig=a%2Bb&st=2");
	pex_buf_dispose(&b);
	pex__azure_conn_dispose(&c);
}
END_TEST

/* ---- XML ---- */

START_TEST(test_xml_messages)
{
	static const char get[] =
		"\xEF\xBB\xBF<?xml version=\"1.0\" encoding=\"utf-8\"?><QueueMessagesList>"
		"<QueueMessage><MessageId>6d1b7c8e-1111-2222-3333-444455556666</MessageId>"
		"<InsertionTime>Sat, 01 Jan 2000 00:00:00 GMT</InsertionTime>"
		"<ExpirationTime>Fri, 31 Dec 9999 23:59:59 GMT</ExpirationTime>"
		"<PopReceipt>AgAAAAMAAAAAAAAA+/x=</PopReceipt>"
		"<TimeNextVisible>Sat, 01 Jan 2000 00:01:00 GMT</TimeNextVisible>"
		"<DequeueCount>3</DequeueCount>"
		"<MessageText>a &lt;b&gt; &amp; &quot;c&quot; &apos;d&apos; &#233;</MessageText>"
		"<Unknown><Nested>x</Nested></Unknown>"
		"</QueueMessage></QueueMessagesList>";
	/* children out of order, peek shape (no receipt), empty text */
	static const char peek[] =
		"<?xml version=\"1.0\" encoding=\"UTF-8\" standalone=\"yes\"?>\n"
		"<QueueMessagesList>\n  <QueueMessage>\n"
		"    <MessageText>eA==</MessageText><DequeueCount>0</DequeueCount>\n"
		"    <MessageId>id-1</MessageId>\n  </QueueMessage>\n"
		"  <QueueMessage><MessageId>id-2</MessageId><MessageText></MessageText></QueueMessage>"
		"</QueueMessagesList>";
	pex__azure_msglist l;

	ck_assert_int_eq(pex__azure_parse_messages(&l, get, sizeof(get) - 1), 0);
	ck_assert_uint_eq(l.count, 1);
	ck_assert_str_eq(l.items[0].id, "6d1b7c8e-1111-2222-3333-444455556666");
	ck_assert_str_eq(l.items[0].pop_receipt, "AgAAAAMAAAAAAAAA+/x=");
	ck_assert_str_eq(l.items[0].text, "a <b> & \"c\" 'd' \xC3\xA9");
	ck_assert_uint_eq(l.items[0].text_len, strlen("a <b> & \"c\" 'd' \xC3\xA9"));
	ck_assert_uint_eq(l.items[0].dequeue_count, 3);
	ck_assert_int_eq(l.items[0].inserted_at, 946684800);
	ck_assert_int_eq(l.items[0].next_visible, 946684860);
	pex__azure_msglist_dispose(&l);

	ck_assert_int_eq(pex__azure_parse_messages(&l, peek, sizeof(peek) - 1), 0);
	ck_assert_uint_eq(l.count, 2);
	ck_assert_str_eq(l.items[0].id, "id-1");
	ck_assert_ptr_null(l.items[0].pop_receipt);
	ck_assert_str_eq(l.items[0].text, "eA==");
	ck_assert_str_eq(l.items[1].text, "");
	ck_assert_uint_eq(l.items[1].text_len, 0);
	pex__azure_msglist_dispose(&l);
}
END_TEST

START_TEST(test_xml_empty_and_many)
{
	static const char *empties[] = {
		"<QueueMessagesList />",
		"<QueueMessagesList></QueueMessagesList>",
		"<?xml version=\"1.0\" encoding=\"UTF-8\" standalone=\"yes\"?><QueueMessagesList/>",
		"\xEF\xBB\xBF<?xml version=\"1.0\" encoding=\"utf-8\"?><QueueMessagesList>\r\n</QueueMessagesList>",
	};
	pex__azure_msglist l;
	pex_buf b = PEX_BUF_INIT;
	size_t i;
	for (i = 0; i < sizeof(empties) / sizeof(empties[0]); i++) {
		ck_assert_int_eq(pex__azure_parse_messages(&l, empties[i], strlen(empties[i])), 0);
		ck_assert_uint_eq(l.count, 0);
		pex__azure_msglist_dispose(&l);
	}
	pex__buf_puts(&b, "<QueueMessagesList>");
	for (i = 0; i < 32; i++)
		pex__buf_printf(&b, "<QueueMessage><MessageId>m%zu</MessageId><PopReceipt>r%zu"
			"</PopReceipt><DequeueCount>1</DequeueCount><MessageText>t%zu</MessageText>"
			"</QueueMessage>", i, i, i);
	pex__buf_puts(&b, "</QueueMessagesList>");
	ck_assert_int_eq(pex__azure_parse_messages(&l, b.ptr, b.size), 0);
	ck_assert_uint_eq(l.count, 32);
	ck_assert_str_eq(l.items[31].id, "m31");
	ck_assert_str_eq(l.items[31].pop_receipt, "r31");
	ck_assert_str_eq(l.items[31].text, "t31");
	pex__azure_msglist_dispose(&l);
	pex_buf_dispose(&b);
}
END_TEST

START_TEST(test_xml_bad)
{
	static const char *bad[] = {
		"",
		"<QueueMessagesList>",
		"<Other/>",
		"<QueueMessagesList><QueueMessage><MessageText>x</MessageText></QueueMessage></QueueMessagesList>",
		("<QueueMessagesList><QueueMessage><MessageId>a</MessageId><DequeueCount>x</DequeueCount>"
		 "</QueueMessage></QueueMessagesList>"),
		"<!DOCTYPE x [<!ENTITY a \"aaaa\">]><QueueMessagesList/>",
		"<QueueMessagesList>&undefined;</QueueMessagesList>",
	};
	pex__azure_msglist l;
	size_t i;
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		ck_assert_msg(pex__azure_parse_messages(&l, bad[i], strlen(bad[i])) == PEX_EPARSE,
			"case %zu parsed", i);
		ck_assert_uint_eq(l.count, 0);
		ck_assert_ptr_null(l.items);
	}
}
END_TEST

START_TEST(test_xml_error_body)
{
	static const char body[] =
		"<?xml version=\"1.0\" encoding=\"UTF-8\" standalone=\"yes\"?><Error>"
		"<Code>QueueNotFound</Code><Message>The specified queue does not exist.\n"
		"RequestId:1d0f\nTime:2026-01-01T00:00:00.000Z</Message>"
		"<AuthenticationErrorDetail>sig 'abc'</AuthenticationErrorDetail></Error>";
	char code[64], msg[128];
	ck_assert_int_eq(pex__azure_parse_error(code, sizeof(code), msg, sizeof(msg), body,
		sizeof(body) - 1), 0);
	ck_assert_str_eq(code, "QueueNotFound");
	ck_assert_str_eq(msg, "The specified queue does not exist.");
	ck_assert_int_eq(pex__azure_parse_error(code, sizeof(code), msg, sizeof(msg),
		"<Error/>", 8), 0);
	ck_assert_str_eq(code, "");
	ck_assert_str_eq(msg, "");
	ck_assert_int_eq(pex__azure_parse_error(code, sizeof(code), msg, sizeof(msg),
		"not xml", 7), PEX_EPARSE);
	/* truncation */
	ck_assert_int_eq(pex__azure_parse_error(code, 5, msg, sizeof(msg), body,
		sizeof(body) - 1), 0);
	ck_assert_str_eq(code, "Queu");
}
END_TEST

START_TEST(test_xml_escape)
{
	pex_buf b = PEX_BUF_INIT;
	pex__azure_msglist l;
	pex_buf doc = PEX_BUF_INIT;
	static const char raw[] = "<a href=\"x\">Tom & Jerry's</a> \xC3\xA9";
	ck_assert_int_eq(pex__azure_xml_escape(&b, raw, strlen(raw)), 0);
	ck_assert_str_eq(b.ptr, "&lt;a href=&quot;x&quot;&gt;Tom &amp; Jerry&apos;s&lt;/a&gt; \xC3\xA9");
	/* round trip through the parser */
	pex__buf_printf(&doc, "<QueueMessagesList><QueueMessage><MessageId>i</MessageId>"
		"<MessageText>%s</MessageText></QueueMessage></QueueMessagesList>", b.ptr);
	ck_assert_int_eq(pex__azure_parse_messages(&l, doc.ptr, doc.size), 0);
	ck_assert_str_eq(l.items[0].text, raw);
	pex__azure_msglist_dispose(&l);
	pex_buf_dispose(&doc);
	pex_buf_dispose(&b);
}
END_TEST

/* ---- message encoding ---- */

START_TEST(test_message_body_limits)
{
	pex_buf b = PEX_BUF_INIT;
	char *big = calloc(1, PEX__AZURE_MAX_MESSAGE + 1);
	ck_assert_ptr_nonnull(big);
	ck_assert_int_eq(pex__azure_message_body(&b, big, PEX__AZURE_MAX_MESSAGE), 0);
	ck_assert_uint_eq(b.size, strlen("<QueueMessage><MessageText></MessageText></QueueMessage>")
		+ 65536);
	pex__buf_clear(&b);
	ck_assert_int_eq(pex__azure_message_body(&b, big, PEX__AZURE_MAX_MESSAGE + 1), PEX_EINVAL);
	ck_assert_uint_eq(b.size, 0);
	assert_msg_has("too large");
	assert_msg_has("49152");
	ck_assert_int_eq(pex__azure_message_body(&b, "", 0), 0);
	ck_assert_str_eq(b.ptr, "<QueueMessage><MessageText></MessageText></QueueMessage>");
	pex_buf_dispose(&b);
	free(big);
}
END_TEST

START_TEST(test_message_body_utf8)
{
	static const struct { const char *in; size_t len; size_t offset; } bad[] = {
		{ "\xff", 1, 0 },
		{ "abc\x80", 4, 3 },
		{ "\xc3\xa9\xc3", 3, 2 },            /* cut short */
		{ "x\xc0\xaf", 3, 1 },                /* overlong '/' */
		{ "xy\xed\xa0\x80", 5, 2 },          /* surrogate */
		{ "\xf4\x90\x80\x80", 4, 0 },         /* beyond U+10FFFF */
	};
	pex_buf b = PEX_BUF_INIT;
	char want[48];
	size_t i;

	for (i = 0; i < PEX__ARRAY_SIZE(bad); i++) {
		ck_assert_int_eq(pex__azure_message_body(&b, bad[i].in, bad[i].len), PEX_EINVAL);
		ck_assert_uint_eq(b.size, 0);
		assert_msg_has("not valid UTF-8");
		snprintf(want, sizeof(want), "at offset %zu of %zu", bad[i].offset, bad[i].len);
		assert_msg_has(want);
	}
	/* NUL, controls, XML specials and 4-byte characters are fine */
	ck_assert_int_eq(pex__azure_message_body(&b, "\0\x01<&>\xf0\x9f\x8e\xa5", 9), 0);
	ck_assert_str_eq(b.ptr, "<QueueMessage><MessageText>AAE8Jj7wn46l</MessageText></QueueMessage>");
	pex_buf_dispose(&b);
}
END_TEST

START_TEST(test_decode_text)
{
	struct { const char *in; const char *out; size_t out_len; int b64; } cases[] = {
		{ "eyJyb29tIjoicjEifQ==", "{\"room\":\"r1\"}", 13, 1 },
		{ "AP8=", "AP8=", 4, 0 },                   /* decodes to binary: raw text */
		{ "room1234", "room1234", 8, 0 },           /* a raw bare name (same reason) */
		{ "AAAA", "\0\0\0", 3, 1 },                /* NUL is valid UTF-8 */
		{ "w6k=", "\xc3\xa9", 2, 1 },               /* U+00E9 */
		{ "7aCA", "7aCA", 4, 0 },                   /* a UTF-16 surrogate: raw */
		{ "wwA=", "wwA=", 4, 0 },                   /* cut-short sequence: raw */
		{ "{\"room\":\"r1\"}", "{\"room\":\"r1\"}", 13, 0 }, /* raw JSON */
		{ "room-0001", "room-0001", 9, 0 },         /* bare name with '-' */
		{ "abc", "abc", 3, 0 },                     /* length not a multiple of 4 */
		{ "QR==", "QR==", 4, 0 },                   /* non-canonical spare bits */
		{ "ab=c", "ab=c", 4, 0 },                   /* '=' in the middle */
		{ "a===", "a===", 4, 0 },
		{ "YWJj ZA==", "YWJj ZA==", 9, 0 },         /* blank */
		{ "aGk=", "hi", 2, 1 },
		{ "", "", 0, 0 },
	};
	size_t i;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		pex_buf b = PEX_BUF_INIT;
		int b64 = -1;
		ck_assert_int_eq(pex__azure_decode_text(&b, cases[i].in, strlen(cases[i].in), &b64), 0);
		ck_assert_msg(b64 == cases[i].b64, "case %zu: base64 %d", i, b64);
		ck_assert_uint_eq(b.size, cases[i].out_len);
		if (b.size)
			ck_assert_mem_eq(b.ptr, cases[i].out, b.size);
		pex_buf_dispose(&b);
	}
}
END_TEST

/* ---- dates ---- */

START_TEST(test_rfc1123)
{
	char d[30];
	int64_t t = 0;
	pex__azure_rfc1123(d, 946684800);
	ck_assert_str_eq(d, VECTOR_DATE);
	pex__azure_rfc1123(d, 784111777);
	ck_assert_str_eq(d, "Sun, 06 Nov 1994 08:49:37 GMT");
	pex__azure_rfc1123(d, 253402300799LL);
	ck_assert_str_eq(d, "Fri, 31 Dec 9999 23:59:59 GMT");
	ck_assert_int_eq(pex__azure_parse_rfc1123(&t, "Sun, 06 Nov 1994 08:49:37 GMT"), 0);
	ck_assert_int_eq(t, 784111777);
	ck_assert_int_eq(pex__azure_parse_rfc1123(&t, "6 Nov 1994 08:49:37 GMT"), 0);
	ck_assert_int_eq(t, 784111777);
	ck_assert_int_eq(pex__azure_parse_rfc1123(&t, "Fri, 31 Dec 9999 23:59:59 GMT"), 0);
	ck_assert_int_eq(t, 253402300799LL);
	ck_assert_int_eq(pex__azure_parse_rfc1123(&t, "Sun, 06 Nov 1994 08:49:37 UTC"), PEX_EPARSE);
	ck_assert_int_eq(pex__azure_parse_rfc1123(&t, "Sun, 06 Foo 1994 08:49:37 GMT"), PEX_EPARSE);
	ck_assert_int_eq(pex__azure_parse_rfc1123(&t, "Sun, 06 Nov 1994 25:49:37 GMT"), PEX_EPARSE);
	ck_assert_int_eq(pex__azure_parse_rfc1123(&t, ""), PEX_EPARSE);
}
END_TEST

/* ---- error mapping ---- */

START_TEST(test_map_error)
{
	ck_assert_int_eq(pex__azure_map_error(PEX__AZURE_OP_PUT, "q", 403, "AuthenticationFailed",
		"Server failed to authenticate the request."), PEX_EAUTH);
	assert_msg_has("Azure Storage rejected the credentials (AuthenticationFailed)");
	ck_assert_int_eq(pex_error_last()->http_status, 403);
	ck_assert_int_eq(pex_error_last()->klass, PEX_ERROR_CLASS_AZURE);

	ck_assert_int_eq(pex__azure_map_error(PEX__AZURE_OP_DELETE, "q", 400, "PopReceiptMismatch",
		""), PEX_ELEASELOST);
	assert_msg_has("PopReceiptMismatch");
	ck_assert_int_eq(pex__azure_map_error(PEX__AZURE_OP_UPDATE, "q", 404, "MessageNotFound",
		NULL), PEX_ELEASELOST);
	assert_msg_has("MessageNotFound");
	/* outside delete/update a missing message is just "not found" */
	ck_assert_int_eq(pex__azure_map_error(PEX__AZURE_OP_PEEK, "q", 404, "MessageNotFound",
		NULL), PEX_ENOTFOUND);
	ck_assert_int_eq(pex__azure_map_error(PEX__AZURE_OP_PUT, "q", 404, "QueueNotFound",
		"The specified queue does not exist."), PEX_ENOTFOUND);
	assert_msg_has("QueueNotFound: The specified queue does not exist.");
	ck_assert_int_eq(pex__azure_map_error(PEX__AZURE_OP_PUT, "q", 413, "RequestBodyTooLarge",
		""), PEX_EINVAL);
	assert_msg_has("RequestBodyTooLarge");
	ck_assert_int_eq(pex__azure_map_error(PEX__AZURE_OP_CREATE, "Bad", 400,
		"InvalidResourceName", ""), PEX_EINVAL);
	ck_assert_int_eq(pex__azure_map_error(PEX__AZURE_OP_CREATE, "q", 409,
		"QueueAlreadyExists", ""), PEX_EEXISTS);
	ck_assert_int_eq(pex__azure_map_error(PEX__AZURE_OP_CREATE, "q", 409,
		"QueueBeingDeleted", ""), PEX_EBACKEND);
	ck_assert_int_eq(pex__azure_map_error(PEX__AZURE_OP_COUNT, "q", 403,
		"AuthorizationPermissionMismatch", ""), PEX_EAUTH);
	assert_msg_has("AuthorizationPermissionMismatch");
	ck_assert_int_eq(pex__azure_map_error(PEX__AZURE_OP_CLEAR, "q", 503, "ServerBusy", ""),
		PEX_EBACKEND);
	assert_msg_has("ServerBusy");
	ck_assert_int_eq(pex__azure_map_error(PEX__AZURE_OP_CLEAR, "q", 500, "", ""), PEX_EBACKEND);
	assert_msg_has("no error code");
}
END_TEST

START_TEST(test_retry_policy)
{
	/* connect failures: every operation, put included */
	ck_assert_int_eq(pex__azure_should_retry(PEX__AZURE_OP_PUT, PEX_ENET, 1, 0, ""), 1);
	ck_assert_int_eq(pex__azure_should_retry(PEX__AZURE_OP_DELETE, PEX_ENET, 1, 0, ""), 1);
	/* possibly processed: not a put (duplicates), the others yes */
	ck_assert_int_eq(pex__azure_should_retry(PEX__AZURE_OP_PUT, PEX_ENET, 0, 0, ""), 0);
	ck_assert_int_eq(pex__azure_should_retry(PEX__AZURE_OP_PUT, PEX_ETIMEOUT, 0, 0, ""), 0);
	ck_assert_int_eq(pex__azure_should_retry(PEX__AZURE_OP_RECEIVE, PEX_ETIMEOUT, 0, 0, ""), 1);
	ck_assert_int_eq(pex__azure_should_retry(PEX__AZURE_OP_COUNT, PEX_ENET, 0, 0, ""), 1);
	/* TLS and local errors never */
	ck_assert_int_eq(pex__azure_should_retry(PEX__AZURE_OP_COUNT, PEX_ETLS, 1, 0, ""), 0);
	ck_assert_int_eq(pex__azure_should_retry(PEX__AZURE_OP_COUNT, PEX_ENOMEM, 0, 0, ""), 0);
	ck_assert_int_eq(pex__azure_should_retry(PEX__AZURE_OP_COUNT, PEX_EBACKEND, 0, 0, ""), 0);
	/* 503 ServerBusy: refused unprocessed, so even a put */
	ck_assert_int_eq(pex__azure_should_retry(PEX__AZURE_OP_PUT, 0, 0, 503, "ServerBusy"), 1);
	ck_assert_int_eq(pex__azure_should_retry(PEX__AZURE_OP_PUT, 0, 0, 503, "OperationTimedOut"), 0);
	ck_assert_int_eq(pex__azure_should_retry(PEX__AZURE_OP_PUT, 0, 0, 500, "InternalError"), 0);
	ck_assert_int_eq(pex__azure_should_retry(PEX__AZURE_OP_CLEAR, 0, 0, 500, "OperationTimedOut"), 1);
	ck_assert_int_eq(pex__azure_should_retry(PEX__AZURE_OP_UPDATE, 0, 0, 503, ""), 1);
	/* client errors and success never */
	ck_assert_int_eq(pex__azure_should_retry(PEX__AZURE_OP_DELETE, 0, 0, 400, "PopReceiptMismatch"), 0);
	ck_assert_int_eq(pex__azure_should_retry(PEX__AZURE_OP_COUNT, 0, 0, 403, "AuthenticationFailed"), 0);
	ck_assert_int_eq(pex__azure_should_retry(PEX__AZURE_OP_COUNT, 0, 0, 502, ""), 0);
	ck_assert_int_eq(pex__azure_should_retry(PEX__AZURE_OP_COUNT, 0, 0, 200, ""), 0);
}
END_TEST

static Suite *azure_unit_suite(void)
{
	Suite *s = suite_create("azure-unit");
	TCase *tc = tcase_create("pure");
	tcase_add_test(tc, test_conn_azurite);
	tcase_add_test(tc, test_conn_dev_storage);
	tcase_add_test(tc, test_conn_azure_host_style);
	tcase_add_test(tc, test_conn_endpoints);
	tcase_add_test(tc, test_conn_malformed);
	tcase_add_test(tc, test_sign_vector1_create);
	tcase_add_test(tc, test_sign_vector2_put);
	tcase_add_test(tc, test_sign_vector3_get);
	tcase_add_test(tc, test_sign_canonical_details);
	tcase_add_test(tc, test_request_sent);
	tcase_add_test(tc, test_urls_and_query);
	tcase_add_test(tc, test_xml_messages);
	tcase_add_test(tc, test_xml_empty_and_many);
	tcase_add_test(tc, test_xml_bad);
	tcase_add_test(tc, test_xml_error_body);
	tcase_add_test(tc, test_xml_escape);
	tcase_add_test(tc, test_message_body_limits);
	tcase_add_test(tc, test_message_body_utf8);
	tcase_add_test(tc, test_decode_text);
	tcase_add_test(tc, test_rfc1123);
	tcase_add_test(tc, test_map_error);
	tcase_add_test(tc, test_retry_policy);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(azure_unit_suite());
	int failed;
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
