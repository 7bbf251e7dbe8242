/*
 * Azure Storage connection strings. Pure: no I/O.
 *
 * Error messages name the offending key (or the pair's position when it
 * has no key) and never quote AccountKey or SharedAccessSignature values,
 * nor anything that might be a fragment of one.
 */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "azure/azure_internal.h"

#define CONN_ERR(...) \
	pex_error_set(PEX_EINVAL, PEX_ERROR_CLASS_AZURE, "Azure connection string: " __VA_ARGS__)

enum conn_key {
	K_PROTOCOL,
	K_ACCOUNT_NAME,
	K_ACCOUNT_KEY,
	K_ENDPOINT_SUFFIX,
	K_QUEUE_ENDPOINT,
	K_SAS,
	K_DEV_STORAGE,
	K_DEV_PROXY,
	K__COUNT
};

static const char *const key_names[K__COUNT] = {
	"DefaultEndpointsProtocol",
	"AccountName",
	"AccountKey",
	"EndpointSuffix",
	"QueueEndpoint",
	"SharedAccessSignature",
	"UseDevelopmentStorage",
	"DevelopmentStorageProxyUri",
};

/* A value is a [start, start+len) slice of the input. */
typedef struct slice {
	const char *p;
	size_t len;
	int set;
} slice;

static void trim(const char **p, size_t *len)
{
	while (*len && isspace((unsigned char)**p)) {
		(*p)++;
		(*len)--;
	}
	while (*len && isspace((unsigned char)(*p)[*len - 1]))
		(*len)--;
}

static int slice_ieq(const slice *s, const char *lit)
{
	return s->len == strlen(lit) && strncasecmp(s->p, lit, s->len) == 0;
}

int pex__azure_host_is_path_style(const char *host, size_t len)
{
	size_t i, dots = 0, digits = 1;
	if (len == 0)
		return 0;
	if (host[0] == '[')
		return 1;               /* IPv6 literal */
	if (len == strlen("host.docker.internal") &&
	    strncasecmp(host, "host.docker.internal", len) == 0)
		return 1;
	for (i = 0; i < len; i++) {
		if (host[i] == '.')
			dots++;
		else if (!isdigit((unsigned char)host[i]))
			digits = 0;
	}
	if (dots == 0)
		return 1;               /* localhost, a docker service name */
	return digits && dots == 3;    /* IPv4 literal */
}

/*
 * Split "scheme://host[:port][/path]" into origin and path. @what names the
 * key for messages; the URL itself is not quoted (a QueueEndpoint could
 * carry a SAS by mistake).
 */
static int split_url(char **origin, char **path, const char **host, size_t *host_len,
	const char *url, size_t len, const char *what, int allow_path)
{
	const char *p = url, *end = url + len, *auth, *a_end, *h_end;
	size_t plen;
	*origin = *path = NULL;
	if (len > 7 && strncasecmp(p, "http://", 7) == 0)
		p += 7;
	else if (len > 8 && strncasecmp(p, "https://", 8) == 0)
		p += 8;
	else
		return CONN_ERR("%s must start with http:// or https://", what);
	auth = p;
	for (a_end = auth; a_end < end && *a_end != '/' && *a_end != '?' && *a_end != '#'; a_end++)
		if (*a_end == '@')
			return CONN_ERR("%s must not contain user information", what);
	if (a_end == auth)
		return CONN_ERR("%s has no host", what);
	if (memchr(url, '?', len) || memchr(url, '#', len))
		return CONN_ERR("%s must not have a query string or fragment "
			"(give a SAS as SharedAccessSignature)", what);
	for (p = auth; p < a_end; p++)
		if (isspace((unsigned char)*p))
			return CONN_ERR("%s has a blank in its host", what);
	/* host without the port; an IPv6 literal keeps its brackets */
	if (*auth == '[') {
		h_end = memchr(auth, ']', (size_t)(a_end - auth));
		if (!h_end)
			return CONN_ERR("%s has an unterminated IPv6 address", what);
		h_end++;
	} else {
		for (h_end = auth; h_end < a_end && *h_end != ':'; h_end++)
			;
	}
	if (h_end < a_end) {
		if (*h_end != ':' || h_end + 1 == a_end)
			return CONN_ERR("%s has a malformed port", what);
		for (p = h_end + 1; p < a_end; p++)
			if (!isdigit((unsigned char)*p))
				return CONN_ERR("%s has a malformed port", what);
	}
	*host = auth;
	*host_len = (size_t)(h_end - auth);
	plen = (size_t)(end - a_end);
	while (plen && a_end[plen - 1] == '/')
		plen--;
	if (plen && !allow_path)
		return CONN_ERR("%s must not have a path", what);
	if (!(*origin = pex__strndup(url, (size_t)(a_end - url))) ||
	    !(*path = pex__strndup(a_end, plen))) {
		free(*origin);
		*origin = NULL;
		return pex__error_nomem();
	}
	return 0;
}

static int valid_account_name(const slice *s)
{
	size_t i;
	if (s->len == 0 || s->len > 64)
		return 0;
	for (i = 0; i < s->len; i++) {
		unsigned char c = (unsigned char)s->p[i];
		if (!isalnum(c) && c != '-' && c != '_')
			return 0;
	}
	return 1;
}

static int valid_suffix(const slice *s)
{
	size_t i;
	if (s->len == 0)
		return 0;
	for (i = 0; i < s->len; i++) {
		unsigned char c = (unsigned char)s->p[i];
		if (!isalnum(c) && c != '-' && c != '.' && c != ':')
			return 0;
	}
	return 1;
}

/* Does the SAS query string have a non-empty sig parameter? */
static int sas_has_sig(const char *p, size_t len)
{
	size_t i = 0;
	while (i < len) {
		size_t j = i;
		while (j < len && p[j] != '&')
			j++;
		if (j - i > 4 && strncasecmp(p + i, "sig=", 4) == 0)
			return 1;
		i = j + 1;
	}
	return 0;
}

static int set_endpoint(pex__azure_conn *c, const char *url, size_t len, const char *what)
{
	const char *host;
	size_t host_len;
	int err = split_url(&c->origin, &c->base_path, &host, &host_len, url, len, what, 1);
	if (err < 0)
		return err;
	c->path_style = pex__azure_host_is_path_style(host, host_len);
	/* Azurite takes the account from the first path segment on such hosts;
	 * "QueueEndpoint=http://azurite:10001" means ".../AccountName". */
	if (c->path_style && c->base_path[0] == '\0' && c->account) {
		pex_buf b = PEX_BUF_INIT;
		if ((err = pex__buf_printf(&b, "/%s", c->account)) < 0)
			return err;
		free(c->base_path);
		c->base_path = pex__buf_detach(&b);
	}
	return 0;
}

static int dev_storage(pex__azure_conn *c, const slice *v)
{
	pex_buf key = PEX_BUF_INIT, url = PEX_BUF_INIT;
	int err;
	/* The shorthand stands for fixed values (devstoreaccount1, its
	 * key, 127.0.0.1:10001). Other keys are refused rather than silently
	 * ignored (the JS SDK ignores them) or half-applied: an emulator on
	 * another port is written out in full. */
	for (int k = 0; k < K__COUNT; k++)
		if (v[k].set && k != K_DEV_STORAGE && k != K_DEV_PROXY)
			return CONN_ERR("UseDevelopmentStorage=true cannot be combined with %s "
				"(for an emulator elsewhere give AccountName=" PEX__AZURE_DEV_ACCOUNT
				", its AccountKey and QueueEndpoint instead)", key_names[k]);
	if ((err = pex__base64_decode(&key, PEX__AZURE_DEV_KEY, strlen(PEX__AZURE_DEV_KEY))) < 0)
		return err;
	c->key = (unsigned char *)key.ptr;
	c->key_len = key.size;
	if (!(c->account = pex__strdup(PEX__AZURE_DEV_ACCOUNT)))
		return pex__error_nomem();
	c->dev_storage = 1;
	if (!v[K_DEV_PROXY].set)
		return set_endpoint(c, PEX__AZURE_DEV_ENDPOINT, strlen(PEX__AZURE_DEV_ENDPOINT),
			"the development endpoint");
	/* The proxy replaces scheme and host; the queue port and the account
	 * path stay those of the emulator. */
	{
		char *origin, *path;
		const char *host;
		size_t host_len;
		if ((err = split_url(&origin, &path, &host, &host_len, v[K_DEV_PROXY].p,
				v[K_DEV_PROXY].len, "DevelopmentStorageProxyUri", 1)) < 0)
			return err;
		/* origin is a copy of the input's start; keep scheme://host */
		err = pex__buf_printf(&url, "%.*s:10001/%s",
			(int)(host + host_len - v[K_DEV_PROXY].p), origin,
			PEX__AZURE_DEV_ACCOUNT);
		free(origin);
		free(path);
		if (err < 0)
			return err;
	}
	err = set_endpoint(c, url.ptr, url.size, "DevelopmentStorageProxyUri");
	pex_buf_dispose(&url);
	return err;
}

/* Split "k=v;k=v" into v[] (our keys only); errors name the pair. */
static int split_pairs(slice *v, const char *s)
{
	const char *p, *end;
	size_t part = 0;

	for (p = s; ; p = end + 1) {
		const char *eq, *k = p, *val;
		size_t klen, vlen;
		int i;

		end = strchr(p, ';');
		if (!end)
			end = p + strlen(p);
		part++;
		klen = (size_t)(end - p);
		trim(&k, &klen);
		if (klen == 0)
			goto next;      /* empty pair, e.g. the trailing ';' */
		eq = memchr(k, '=', klen);
		if (!eq)
			return CONN_ERR("part %zu is not Key=Value", part);
		val = eq + 1;
		vlen = (size_t)(k + klen - val);
		klen = (size_t)(eq - k);
		trim(&k, &klen);
		trim(&val, &vlen);
		if (klen == 0)
			return CONN_ERR("part %zu has an empty key", part);
		for (i = 0; i < K__COUNT; i++) {
			if (strlen(key_names[i]) == klen && strncasecmp(k, key_names[i], klen) == 0)
				break;
		}
		if (i == K__COUNT)
			goto next;      /* BlobEndpoint, TableEndpoint, ...: not ours */
		if (v[i].set)
			return CONN_ERR("%s is given twice", key_names[i]);
		v[i].p = val;
		v[i].len = vlen;
		v[i].set = 1;
next:
		if (*end == '\0')
			return 0;
	}
}

/* AccountName, AccountKey and SharedAccessSignature into @p out. */
static int credentials(pex__azure_conn *out, const slice *v)
{
	if (v[K_ACCOUNT_NAME].set) {
		if (!valid_account_name(&v[K_ACCOUNT_NAME]))
			return CONN_ERR("AccountName must be 1-64 letters, digits, '-' or '_'");
		if (!(out->account = pex__strndup(v[K_ACCOUNT_NAME].p, v[K_ACCOUNT_NAME].len)))
			return pex__error_nomem();
	}
	if (v[K_ACCOUNT_KEY].set) {
		pex_buf key = PEX_BUF_INIT;
		if (v[K_ACCOUNT_KEY].len == 0 ||
		    pex__base64_decode(&key, v[K_ACCOUNT_KEY].p, v[K_ACCOUNT_KEY].len) < 0 ||
		    key.size == 0) {
			pex_buf_dispose(&key);
			/* pex__base64_decode's message has only an offset; replace it */
			return CONN_ERR("AccountKey is not valid base64");
		}
		out->key = (unsigned char *)key.ptr;
		out->key_len = key.size;
		if (!out->account)
			return CONN_ERR("AccountKey needs AccountName");
	}
	if (v[K_SAS].set) {
		const char *sp = v[K_SAS].p;
		size_t sl = v[K_SAS].len;
		if (sl && *sp == '?') {
			sp++;
			sl--;
		}
		if (!sas_has_sig(sp, sl))
			return CONN_ERR("SharedAccessSignature has no sig= parameter");
		if (!(out->sas = pex__strndup(sp, sl)))
			return pex__error_nomem();
	}
	if (!out->key && !out->sas)
		return CONN_ERR("needs AccountName and AccountKey, or SharedAccessSignature "
			"(or UseDevelopmentStorage=true)");
	return 0;
}

/* The queue endpoint: QueueEndpoint, or built from the account. */
static int endpoint(pex__azure_conn *out, const slice *v)
{
	pex_buf url = PEX_BUF_INIT;
	int err;

	if (v[K_PROTOCOL].set && !slice_ieq(&v[K_PROTOCOL], "http") &&
	    !slice_ieq(&v[K_PROTOCOL], "https"))
		return CONN_ERR("DefaultEndpointsProtocol must be http or https");
	if (v[K_ENDPOINT_SUFFIX].set && !valid_suffix(&v[K_ENDPOINT_SUFFIX]))
		return CONN_ERR("EndpointSuffix must be a host name suffix such as core.windows.net");
	if (v[K_QUEUE_ENDPOINT].set)
		return set_endpoint(out, v[K_QUEUE_ENDPOINT].p, v[K_QUEUE_ENDPOINT].len,
			"QueueEndpoint");
	if (!out->account)
		return CONN_ERR("needs AccountName or QueueEndpoint");
	err = pex__buf_printf(&url, "%.*s://%s.queue.%.*s",
		v[K_PROTOCOL].set ? (int)v[K_PROTOCOL].len : 5,
		v[K_PROTOCOL].set ? v[K_PROTOCOL].p : "https",
		out->account,
		v[K_ENDPOINT_SUFFIX].set ? (int)v[K_ENDPOINT_SUFFIX].len : 16,
		v[K_ENDPOINT_SUFFIX].set ? v[K_ENDPOINT_SUFFIX].p : "core.windows.net");
	if (err == 0) {
		/* lower-case the scheme the user may have written as HTTPS */
		for (char *q = url.ptr; *q != ':'; q++)
			*q = (char)tolower((unsigned char)*q);
		err = set_endpoint(out, url.ptr, url.size, "the endpoint built from AccountName");
	}
	pex_buf_dispose(&url);
	return err;
}

int pex__azure_conn_parse(pex__azure_conn *out, const char *s)
{
	slice v[K__COUNT];
	int err;

	memset(out, 0, sizeof(*out));
	memset(v, 0, sizeof(v));
	if (!s)
		return CONN_ERR("missing");
	if ((err = split_pairs(v, s)) < 0)
		goto fail;
	/* UseDevelopmentStorage=false means nothing. */
	if (v[K_DEV_STORAGE].set) {
		if (slice_ieq(&v[K_DEV_STORAGE], "false")) {
			v[K_DEV_STORAGE].set = 0;
		} else if (!slice_ieq(&v[K_DEV_STORAGE], "true")) {
			err = CONN_ERR("UseDevelopmentStorage must be true or false");
			goto fail;
		}
	}
	if (v[K_DEV_STORAGE].set) {
		if ((err = dev_storage(out, v)) < 0)
			goto fail;
		return 0;
	}
	if (v[K_DEV_PROXY].set) {
		err = CONN_ERR("DevelopmentStorageProxyUri needs UseDevelopmentStorage=true");
		goto fail;
	}
	if ((err = credentials(out, v)) < 0 || (err = endpoint(out, v)) < 0)
		goto fail;
	return 0;

fail:
	pex__azure_conn_dispose(out);
	return err;
}

void pex__azure_conn_dispose(pex__azure_conn *c)
{
	if (!c)
		return;
	if (c->key) {
		/* scrub the secret before handing the memory back */
		volatile unsigned char *k = c->key;
		for (size_t i = 0; i < c->key_len; i++)
			k[i] = 0;
	}
	if (c->sas) {
		volatile char *q = c->sas;
		while (*q)
			*q++ = 0;
	}
	free(c->account);
	free(c->key);
	free(c->sas);
	free(c->origin);
	free(c->base_path);
	memset(c, 0, sizeof(*c));
}
