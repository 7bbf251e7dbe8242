/*
 * Caller-allocated structs that carry a version (options, specs, reports):
 * one rule for checking the version and for filling one in, so that a
 * struct can grow without breaking programs built against an older header
 * (docs/DECISIONS.md #63).
 */
#include <string.h>

#include "internal.h"

int pex__version_check(unsigned int version, unsigned int known, const char *type)
{
	if (version == 0 || version > known)
		return pex_error_set(PEX_EINVAL, PEX_ERROR_CLASS_INVALID,
			"unsupported %s version %u (this library knows 1..%u)", type, version, known);
	return 0;
}

int pex__struct_init(void *dst, const void *init, size_t size, unsigned int version,
	unsigned int known, const char *type)
{
	int err;

	if (!dst)
		return pex_error_set(PEX_EINVAL, PEX_ERROR_CLASS_INVALID,
			"%s_init: the %s is NULL", type, type);
	if ((err = pex__version_check(version, known, type)) < 0)
		return err;
	if (init)
		memcpy(dst, init, size);
	else
		memset(dst, 0, size);
	/* every versioned struct starts with its version */
	*(unsigned int *)dst = version;
	return 0;
}
