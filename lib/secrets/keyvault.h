/*
 * Azure Key Vault secrets through a Managed Identity (internal, never
 * installed). Used by lib/config/secret.c for keyvault: references; see
 * pexipsdk.yaml(5), SECRETS.
 *
 * The flow for one reference:
 *
 *   1. pex__keyvault_parse() checks the URL's shape (pure, no I/O);
 *   2. pex__keyvault_get_secret() returns the value from the process-wide
 *      cache, or gets a Managed Identity token (App Service / Functions
 *      when IDENTITY_ENDPOINT and IDENTITY_HEADER are set, else IMDS) and
 *      then GET https://VAULT/secrets/NAME[/VERSION]?api-version=7.4.
 *
 * Environment:
 *   IDENTITY_ENDPOINT, IDENTITY_HEADER   App Service managed identity
 *   AZURE_CLIENT_ID                      user-assigned identity (client_id=)
 *   PEXIPSDK_IMDS_ENDPOINT               replaces the IMDS token URL (tests)
 *   PEXIPSDK_KEYVAULT_CA_FILE            extra CA bundle trusted for the vault
 *                                        (tests: a self-signed fake vault)
 *
 * Errors never contain the token, IDENTITY_HEADER or a secret value.
 */
#ifndef PEX_SECRETS_KEYVAULT_H
#define PEX_SECRETS_KEYVAULT_H

#include <stdint.h>

#include "internal.h"

/* Limits of a reference (Key Vault's own: names are 1..127 characters). */
#define PEX__KV_HOST_MAX 253
#define PEX__KV_NAME_MAX 127
#define PEX__KV_VERSION_LEN 32

/* A parsed keyvault: reference. */
typedef struct pex__keyvault_ref {
	char vault[PEX__KV_HOST_MAX + 7];       /* host[:port], host in lower case */
	char name[PEX__KV_NAME_MAX + 1];
	char version[PEX__KV_VERSION_LEN + 1];  /* "" = the latest version */
	char url[sizeof("https://") + PEX__KV_HOST_MAX + 7 + sizeof("/secrets/") +
		PEX__KV_NAME_MAX + 1 + PEX__KV_VERSION_LEN];
	                                        /* canonical URL, no query: the cache key */
	const char *resource;                   /* token audience, e.g. https://vault.azure.net */
} pex__keyvault_ref;

/*
 * Parse the text after "keyvault:": https://HOST[:PORT]/secrets/NAME[/VERSION]
 * with HOST a DNS name or IPv4 address, NAME [0-9a-zA-Z-]{1,127} and VERSION
 * 32 hex digits. No query, fragment, user info or trailing slash. Returns
 * NULL on success, else a static description of the rule that was broken
 * (which never quotes the input).
 */
const char *pex__keyvault_parse(pex__keyvault_ref *out, const char *url);

/*
 * The secret's value as a new string in @p *out (free it with
 * pex__config_secret_free() or wipe it yourself). Served from the cache when
 * fresh. Errors (thread-local details, no location prefix):
 *   PEX_EAUTH       the identity endpoint refused, or the vault said 401/403
 *   PEX_ENOTFOUND   "secret NAME not found in vault VAULT"
 *   PEX_EHTTP       any other non-2xx, with the service's code and message
 *   PEX_ENET, PEX_ETIMEOUT, PEX_ETLS   transport failures (after retries)
 *   PEX_EPARSE      a malformed token or secret reply
 *   PEX_ENOTSUPPORTED  an identity flavour not implemented (Azure Arc)
 *   PEX_ENOMEM
 * Thread-safe; concurrent callers are serialised (single flight).
 */
int pex__keyvault_get_secret(char **out, const pex__keyvault_ref *ref);

/*
 * Wipe and free the cached token and secrets, and close the connection.
 * The wiping also runs when the library is unloaded or the process exits;
 * tests call it between cases.
 */
void pex__keyvault_cache_clear(void);

/*
 * How long a fetched secret is served from the cache, in seconds (default
 * PEX__KV_SECRET_TTL_S; 0 disables the secret cache). For tests.
 */
#define PEX__KV_SECRET_TTL_S 300
void pex__keyvault_set_secret_ttl(int64_t seconds);

#endif
