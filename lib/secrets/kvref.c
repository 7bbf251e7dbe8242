/*
 * keyvault: references (pure, no I/O): the URL's shape, the canonical URL
 * that keys the secret cache, and the token audience of the vault's cloud.
 * See keyvault.h.
 */
#include <ctype.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "secrets/keyvault.h"

#define KV_DEFAULT_RESOURCE     "https://vault.azure.net"

/* Token audiences of the sovereign clouds, by the vault's DNS suffix. */
static const struct {
	const char *suffix;
	const char *resource;
} kv_clouds[] = {
	{ ".vault.azure.cn", "https://vault.azure.cn" },
	{ ".vault.usgovcloudapi.net", "https://vault.usgovcloudapi.net" },
	{ ".vault.microsoftazure.de", "https://vault.microsoftazure.de" },
};

static int is_alnum(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}

static int is_hex(char c)
{
	return (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F') || (c >= '0' && c <= '9');
}

/* host: DNS labels (1..63 of [A-Za-z0-9-], no '-' at either end) or IPv4. */
static int host_ok(const char *h, size_t n)
{
	size_t i, label = 0;

	if (n == 0 || n > PEX__KV_HOST_MAX)
		return 0;
	for (i = 0; i < n; i++) {
		char c = h[i];

		if (c == '.') {
			if (label == 0 || h[i - 1] == '-')
				return 0;
			label = 0;
		} else if (is_alnum(c) || c == '-') {
			if ((label == 0 && c == '-') || ++label > 63)
				return 0;
		} else {
			return 0;
		}
	}
	return label > 0 && h[n - 1] != '-';
}

const char *pex__keyvault_parse(pex__keyvault_ref *out, const char *url)
{
	const char *host, *p, *name, *ver = NULL;
	size_t hlen, nlen, vlen = 0, i;

	memset(out, 0, sizeof(*out));
	if (strncmp(url, "https://", 8) != 0)
		return "the vault URL must start with https://";
	host = url + 8;
	if (strpbrk(url, "?#@"))
		return "query strings, fragments and user names are not allowed";
	hlen = strcspn(host, ":/");
	if (!host_ok(host, hlen))
		return "the vault host name is missing or invalid";
	p = host + hlen;
	if (*p == ':') {
		unsigned long port = 0;

		for (i = 1; p[i] >= '0' && p[i] <= '9' && i <= 6; i++)
			port = port * 10 + (unsigned long)(p[i] - '0');
		if (i == 1 || i > 6 || port == 0 || port > 65535 || (p[i] != '/' && p[i] != '\0'))
			return "the vault port is invalid";
		p += i;
	}
	if (strncmp(p, "/secrets/", 9) != 0)
		return "the path must be /secrets/NAME or /secrets/NAME/VERSION";
	name = p + 9;
	nlen = strcspn(name, "/");
	if (name[nlen] == '/') {
		ver = name + nlen + 1;
		vlen = strlen(ver);
	}
	if (nlen == 0 && !ver && *name == '\0')
		return "the secret name is missing";
	if (nlen == 0 || nlen > PEX__KV_NAME_MAX)
		return "the secret name must be 1 to 127 letters, digits or '-'";
	for (i = 0; i < nlen; i++)
		if (!is_alnum(name[i]) && name[i] != '-')
			return "the secret name must be 1 to 127 letters, digits or '-'";
	if (ver) {
		if (vlen != PEX__KV_VERSION_LEN)
			return "the secret version must be 32 hexadecimal digits";
		for (i = 0; i < vlen; i++)
			if (!is_hex(ver[i]))
				return "the secret version must be 32 hexadecimal digits";
	}

	/* host[:port] in lower case (DNS is case-insensitive; one cache key) */
	for (i = 0; i < (size_t)(p - host); i++)
		out->vault[i] = (char)tolower((unsigned char)host[i]);
	out->vault[i] = '\0';
	memcpy(out->name, name, nlen);
	out->name[nlen] = '\0';
	if (ver)
		memcpy(out->version, ver, vlen + 1);
	snprintf(out->url, sizeof(out->url), "https://%s/secrets/%s%s%s", out->vault,
		out->name, ver ? "/" : "", out->version);

	out->resource = KV_DEFAULT_RESOURCE;
	for (i = 0; i < PEX__ARRAY_SIZE(kv_clouds); i++) {
		size_t sl = strlen(kv_clouds[i].suffix);

		if (hlen > sl && strncasecmp(host + hlen - sl, kv_clouds[i].suffix, sl) == 0)
			out->resource = kv_clouds[i].resource;
	}
	return NULL;
}
