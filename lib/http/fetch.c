/* pex_https_get(): one GET of a public document (a JWKS) through the
 * library's transport, with TLS verification always on. */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "http/http_internal.h"
#include "pexipsdk/client.h"
#include "pexipsdk/version.h"

#define FETCH_MAX_BODY (1024u * 1024u)

/* https://host[:port]/path[?query], no credentials, no fragment, no blanks. */
static int check_https_url(const char *url, const char *what)
{
	const char *host;
	size_t i;

	if (!url || !*url)
		return pex_error_set(PEX_EINVAL, PEX_ERROR_CLASS_INVALID, "%s is not set", what);
	if (strncasecmp(url, "https://", 8) != 0)
		return pex_error_set(PEX_EINVAL, PEX_ERROR_CLASS_INVALID,
			"%s must start with https:// (got '%.80s')", what, url);
	host = url + 8;
	for (i = 0; url[i]; i++)
		if ((unsigned char)url[i] <= ' ' || url[i] == '#' || (unsigned char)url[i] >= 0x7f)
			return pex_error_set(PEX_EINVAL, PEX_ERROR_CLASS_INVALID,
				"%s is not a valid URL (a blank, control character or '#' at offset %zu)",
				what, i);
	if (!*host || *host == '/' || *host == '?')
		return pex_error_set(PEX_EINVAL, PEX_ERROR_CLASS_INVALID, "%s has no host", what);
	if (strchr(host, '@') && strchr(host, '@') < host + strcspn(host, "/?"))
		return pex_error_set(PEX_EINVAL, PEX_ERROR_CLASS_INVALID,
			"%s must not carry credentials", what);
	return 0;
}

/* max-age of a Cache-Control value in seconds; 0 for no-store/no-cache,
 * -1 when it says neither. */
static long cache_max_age(const char *cc)
{
	const char *p = cc;
	long age = -1;

	while (*p) {
		size_t n;
		p += strspn(p, " \t,");
		n = strcspn(p, ",");
		if ((n == 8 && strncasecmp(p, "no-store", 8) == 0) ||
		    (n == 8 && strncasecmp(p, "no-cache", 8) == 0))
			return 0;
		if (n > 8 && strncasecmp(p, "max-age=", 8) == 0 && p[8] >= '0' && p[8] <= '9') {
			char *end;
			long long v = strtoll(p + 8, &end, 10);
			if (end == p + n || *end == ' ' || *end == '\t')
				age = v > 31536000 ? 31536000 : (long)v;
		}
		p += n;
	}
	return age;
}

int pex_https_get(pex_buf *out, long *max_age_s, const char *url, const char *what,
	const char *ca_file, long timeout_ms)
{
	pex__http_config hc;
	pex__http_response resp;
	pex__http *h = NULL;
	int err;

	if (!out || !what)
		return pex_error_set(PEX_EINVAL, PEX_ERROR_CLASS_INVALID, "pex_https_get: no output or name");
	if (max_age_s)
		*max_age_s = -1;
	if ((err = check_https_url(url, what)) < 0)
		return err;
	if (timeout_ms < 1 || timeout_ms > 600000)
		return pex_error_set(PEX_EINVAL, PEX_ERROR_CLASS_INVALID,
			"%s: the timeout must be from 1 to 600000 ms (got %ld)", what, timeout_ms);
	memset(&hc, 0, sizeof(hc));
	hc.tls_verify = 1;
	hc.ca_file = ca_file && *ca_file ? ca_file : NULL;
	hc.timeout_ms = timeout_ms;
	hc.max_concurrency = 1;
	hc.user_agent = "libpexipsdk/" PEX_VERSION;
	hc.ca_key = "";    /* the caller knows its setting */
	hc.timeout_key = "the timeout in ms";
	hc.max_body = FETCH_MAX_BODY;
	memset(&resp, 0, sizeof(resp));
	if ((err = pex__http_new(&h, &hc)) < 0)
		return err;
	{
		static const char *const accept[] = { "Accept: application/json", NULL };
		pex__http_req req = { "GET", url, accept, NULL, 0, 1, 0, NULL };
		pex__http_policy pol;
		memset(&pol, 0, sizeof(pol));    /* foreground, one attempt */
		err = pex__http_call(h, &req, &pol, &resp);
	}
	pex__http_free(h);
	if (err < 0 && resp.too_big) {
		err = pex_error_set(PEX_EHTTP, PEX_ERROR_CLASS_HTTP, "%s: the reply from %.*s is larger than %u bytes",
			what, (int)strcspn(url, "?"), url, FETCH_MAX_BODY);
		goto out;
	}
	if (err < 0) {
		pex__error_prefix("%s", what);
		goto out;
	}
	if (resp.status != 200) {
		err = pex__error_set_http(PEX_EHTTP, (int)resp.status, 0, "%s: GET %.*s: HTTP %ld %s",
			what, (int)strcspn(url, "?"), url, resp.status, pex__http_reason(resp.status));
		goto out;
	}
	if (max_age_s)
		*max_age_s = cache_max_age(resp.cache_control);
	pex__buf_clear(out);
	err = pex__buf_put(out, resp.body.ptr ? resp.body.ptr : "", resp.body.size) < 0 ? PEX_ENOMEM : 0;
out:
	pex__http_response_dispose(&resp);
	return err;
}
