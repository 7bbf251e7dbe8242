/*
 * Secret references: env:NAME, file:PATH, keyvault:URL, or a literal.
 *
 * pex__config_resolve_secret() is the only place that understands them, so
 * a new scheme is one more branch here; the Key Vault client (through a
 * Managed Identity) lives in lib/secrets/keyvault.c. Messages name the
 * variable, the path or the vault URL, never the secret itself.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config_internal.h"
#include "secrets/keyvault.h"

/* Larger files are not secrets (a PEM key is a few kB). */
#define SECRET_FILE_MAX (1024 * 1024)

void pex__config_secret_free(char *s)
{
	if (!s)
		return;
	explicit_bzero(s, strlen(s));
	free(s);
}

/* The shape of an env: reference: a non-empty variable name of [A-Za-z0-9_]. */
static int check_env_name(const char *name, const pex__config_loc *loc)
{
	size_t i;

	if (!*name)
		return pex__config_error(PEX_ECONFIG, loc,
			"env: reference without a variable name");
	for (i = 0; name[i]; i++) {
		char c = name[i];
		if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
		      (c >= '0' && c <= '9') || c == '_'))
			return pex__config_error(PEX_ECONFIG, loc,
				"env: reference with an invalid variable name");
	}
	return 0;
}

static int resolve_env(char **out, const char *name, const pex__config_loc *loc)
{
	const char *v;
	int err;

	if ((err = check_env_name(name, loc)) < 0)
		return err;
	if (!(v = getenv(name)))
		return pex__config_error(PEX_ECONFIG, loc,
			"environment variable %s is not set", name);
	/* an empty password is a forgotten export, not a credential */
	if (!*v)
		return pex__config_error(PEX_ECONFIG, loc,
			"environment variable %s is set but empty", name);
	return (*out = pex__strdup(v)) ? 0 : PEX_ENOMEM;
}

static int file_error(const pex__config_loc *loc, const char *path, int errnum)
{
	char ebuf[128];
	const char *etext = strerror_r(errnum, ebuf, sizeof(ebuf));

	return pex__config_error(PEX_ECONFIG, loc, "cannot read secret file %s: %s", path, etext);
}

/* Read a whole secret file; strip one trailing newline ("\n" or "\r\n"). */
static int resolve_file(char **out, const char *ref_path, const char *base_dir,
	const pex__config_loc *loc)
{
	char *path = NULL;
	struct stat st;
	char *data = NULL;
	size_t len = 0, cap = 0;
	int fd = -1, err;

	if (!*ref_path)
		return pex__config_error(PEX_ECONFIG, loc, "file: reference without a path");

	if ((err = pex__config_path(&path, base_dir, ref_path)) < 0)
		return err;

	/* O_NONBLOCK: opening a FIFO with no writer must not hang; anything
	 * but a regular file (FIFO, device, socket, directory) is refused
	 * before a byte is read. */
	if ((fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK)) < 0 || fstat(fd, &st) < 0) {
		err = file_error(loc, path, errno);
		goto done;
	}
	if (S_ISDIR(st.st_mode)) {
		err = file_error(loc, path, EISDIR);
		goto done;
	}
	if (!S_ISREG(st.st_mode)) {
		err = pex__config_error(PEX_ECONFIG, loc,
			"secret file %s is not a regular file", path);
		goto done;
	}
	if (st.st_size > SECRET_FILE_MAX) {
		err = pex__config_error(PEX_ECONFIG, loc,
			"secret file %s is larger than %d bytes", path, SECRET_FILE_MAX);
		goto done;
	}
	/* Read into a buffer of the file's size (+1 to notice growth). Never
	 * realloc: that would leave copies of the secret in freed memory. */
	cap = (size_t)st.st_size + 1;
	if (!(data = pex__malloc(cap))) {
		err = PEX_ENOMEM;
		goto done;
	}
	{
		ssize_t n = pex__read_full(fd, data, cap);
		if (n < 0) {
			err = file_error(loc, path, errno);
			goto done;
		}
		len = (size_t)n;
	}
	if (len == cap) {
		err = pex__config_error(PEX_ECONFIG, loc,
			"secret file %s changed while it was read", path);
		goto done;
	}
	if (memchr(data, '\0', len)) {
		err = pex__config_error(PEX_ECONFIG, loc,
			"secret file %s contains a NUL byte", path);
		goto done;
	}
	if (len && data[len - 1] == '\n') {
		len--;
		if (len && data[len - 1] == '\r')
			len--;
	}
	data[len] = '\0';
	if (!(*out = pex__strndup(data, len)))
		err = PEX_ENOMEM;
	else
		err = 0;

done:
	if (data) {
		explicit_bzero(data, cap);
		free(data);
	}
	if (fd >= 0)
		close(fd);
	free(path);
	return err;
}

/*
 * keyvault:https://VAULT.vault.azure.net/secrets/NAME[/VERSION]: checked
 * for shape here (a PEX_ECONFIG naming the rule), then fetched through a
 * Managed Identity by lib/secrets (cached per process). Fetch errors keep
 * their code (PEX_EAUTH, PEX_ENOTFOUND, PEX_EHTTP, PEX_ENET...) and get the
 * usual "origin:line: key: " prefix.
 */
static int check_keyvault(pex__keyvault_ref *ref, const char *url, const pex__config_loc *loc)
{
	const char *why;

	if ((why = pex__keyvault_parse(ref, url)))
		return pex__config_error(PEX_ECONFIG, loc, "malformed Key Vault reference: %s; "
			"expected keyvault:https://VAULT/secrets/NAME[/VERSION]", why);
	return 0;
}

static int resolve_keyvault(char **out, const char *url, const pex__config_loc *loc)
{
	pex__keyvault_ref ref;
	char where[512];
	int err;

	if ((err = check_keyvault(&ref, url, loc)) < 0)
		return err;
	if ((err = pex__keyvault_get_secret(out, &ref)) < 0) {
		if (loc->line)
			snprintf(where, sizeof(where), "%s:%zu", loc->origin, loc->line);
		else
			snprintf(where, sizeof(where), "%s", loc->origin);
		if (loc->key)
			pex__error_prefix("%s: %s", where, loc->key);
		else
			pex__error_prefix("%s", where);
	}
	return err;
}

int pex__config_resolve_secret(char **out, const char *ref, const char *base_dir,
	const pex__config_loc *loc)
{
	if (strncmp(ref, "env:", 4) == 0)
		return resolve_env(out, ref + 4, loc);
	if (strncmp(ref, "file:", 5) == 0)
		return resolve_file(out, ref + 5, base_dir, loc);
	if (strncmp(ref, "keyvault:", 9) == 0)
		return resolve_keyvault(out, ref + 9, loc);
	return (*out = pex__strdup(ref)) ? 0 : PEX_ENOMEM;
}

int pex__config_check_secret_ref(const char *ref, const pex__config_loc *loc)
{
	pex__keyvault_ref kv;

	if (strncmp(ref, "env:", 4) == 0)
		return check_env_name(ref + 4, loc);
	if (strncmp(ref, "file:", 5) == 0 && !ref[5])
		return pex__config_error(PEX_ECONFIG, loc, "file: reference without a path");
	if (strncmp(ref, "keyvault:", 9) == 0)
		return check_keyvault(&kv, ref + 9, loc);
	return 0;
}

const char *pex__config_secret_kind(const char *s)
{
	if (strncmp(s, "env:", 4) == 0)
		return "env";
	if (strncmp(s, "file:", 5) == 0)
		return "file";
	if (strncmp(s, "keyvault:", 9) == 0)
		return "keyvault";
	return "literal";
}
