/* The token cache of the library's HTTP clients: the Pexip OAuth2 token
 * and the Azure managed identity token (Key Vault) are both kept here. */
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#include "http/http_internal.h"

static void wipe_free(char *s)
{
	if (s) {
		OPENSSL_cleanse(s, strlen(s));
		free(s);
	}
}

void pex__token_cache_init(pex__token_cache *tc)
{
	memset(tc, 0, sizeof(*tc));
	pthread_mutex_init(&tc->lock, NULL);
	pthread_cond_init(&tc->cond, NULL);
}

static void drop_locked(pex__token_cache *tc)
{
	wipe_free(tc->value);
	free(tc->key);
	tc->value = NULL;
	tc->key = NULL;
	tc->refresh_at = 0;
}

void pex__token_cache_drop(pex__token_cache *tc)
{
	pthread_mutex_lock(&tc->lock);
	drop_locked(tc);
	pthread_mutex_unlock(&tc->lock);
}

void pex__token_cache_dispose(pex__token_cache *tc)
{
	drop_locked(tc);
	pthread_cond_destroy(&tc->cond);
	pthread_mutex_destroy(&tc->lock);
}

static int same_key(const char *a, const char *b)
{
	return (!a && !b) || (a && b && strcmp(a, b) == 0);
}

int pex__token_get(pex__token_cache *tc, const char *key, pex__token_fetch_fn fetch, void *arg,
	char **out, unsigned *gen, int *fresh)
{
	char *value = NULL, *k = NULL;
	int64_t refresh_at = 0;
	int err;

	*out = NULL;
	if (fresh)
		*fresh = 0;
	pthread_mutex_lock(&tc->lock);
	for (;;) {
		if (tc->value && same_key(tc->key, key) && pex__now_ms() < tc->refresh_at) {
			*out = pex__strdup(tc->value);
			if (gen)
				*gen = tc->gen;
			pthread_mutex_unlock(&tc->lock);
			return *out ? 0 : PEX_ENOMEM;
		}
		if (!tc->fetching)
			break;
		pthread_cond_wait(&tc->cond, &tc->lock);
	}
	tc->fetching = 1;
	pthread_mutex_unlock(&tc->lock);

	err = fetch(arg, &value, &refresh_at);
	if (err == 0 && key && !(k = pex__strdup(key)))
		err = PEX_ENOMEM;
	pthread_mutex_lock(&tc->lock);
	tc->fetching = 0;
	if (err == 0) {
		drop_locked(tc);
		tc->value = value;
		tc->key = k;
		tc->refresh_at = refresh_at;
		tc->gen++;
		value = NULL;
		*out = pex__strdup(tc->value);
		if (gen)
			*gen = tc->gen;
		if (fresh)
			*fresh = 1;
		if (!*out)
			err = PEX_ENOMEM;
	}
	pthread_cond_broadcast(&tc->cond);
	pthread_mutex_unlock(&tc->lock);
	wipe_free(value);
	return err;
}

int pex__token_invalidate(pex__token_cache *tc, unsigned gen)
{
	int stale;
	pthread_mutex_lock(&tc->lock);
	stale = tc->gen != gen;
	if (!stale)
		tc->refresh_at = 0;
	pthread_mutex_unlock(&tc->lock);
	return stale;
}
