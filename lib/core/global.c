/* Global initialisation, reference-counted so that several users in one
 * process can share it, and lazy so that a caller who never calls
 * pex_global_init() still works (pex__global_ensure); the version and
 * feature strings (pex_global(3)). */
#include <pthread.h>

#include <curl/curl.h>

#include "internal.h"
#include "pex_config.h"
#include "pexipsdk/version.h"

static pthread_mutex_t g_lock = PTHREAD_MUTEX_INITIALIZER;
static int g_refs;
static int g_curl_ready;

static int curl_init_locked(void)
{
	CURLcode rc;
	if (g_curl_ready)
		return 0;
	rc = curl_global_init(CURL_GLOBAL_DEFAULT);
	if (rc != CURLE_OK)
		return pex_error_set(PEX_ERROR, PEX_ERROR_CLASS_NET,
			"libcurl global initialisation failed: %s", curl_easy_strerror(rc));
	g_curl_ready = 1;
	return 0;
}

int pex_global_init(void)
{
	int err;
	pthread_mutex_lock(&g_lock);
	err = curl_init_locked();
	if (err == 0)
		g_refs++;
	pthread_mutex_unlock(&g_lock);
	return err;
}

void pex_global_shutdown(void)
{
	pthread_mutex_lock(&g_lock);
	if (g_refs > 0 && --g_refs == 0 && g_curl_ready) {
		curl_global_cleanup();
		g_curl_ready = 0;
	}
	pthread_mutex_unlock(&g_lock);
}

int pex__global_ensure(void)
{
	int err;
	pthread_mutex_lock(&g_lock);
	err = curl_init_locked();
	pthread_mutex_unlock(&g_lock);
	return err;
}

const char *pex_version(void)
{
	return PEX_VERSION;
}

const char *pex_features(void)
{
	return "+memory"
#if PEX_HAVE_SQLITE
		" +sqlite"
#else
		" -sqlite"
#endif
#if PEX_HAVE_AZURE
		" +azure"
#else
		" -azure"
#endif
#if PEX_HAVE_POSTGRES
		" +postgres"
#else
		" -postgres"
#endif
		" +oauth2-es256";
}
