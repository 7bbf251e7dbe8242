/**
 * @file pexipsdk/buf.h
 * @brief Growable byte buffer used to return strings and bytes.
 */
#ifndef PEXIPSDK_BUF_H
#define PEXIPSDK_BUF_H

#include "common.h"

PEX_BEGIN_DECL

/**
 * A library-filled buffer. `ptr` is always NUL-terminated once written;
 * `size` excludes the NUL. Reusable across calls; release the contents with
 * pex_buf_dispose(). Never free() `ptr` yourself.
 */
typedef struct pex_buf {
	char *ptr;
	size_t size;
	size_t asize;
} pex_buf;

#define PEX_BUF_INIT { NULL, 0, 0 }

/** Free the contents of @p buf and reset it to PEX_BUF_INIT. NULL-safe. */
PEX_EXTERN void pex_buf_dispose(pex_buf *buf);

PEX_END_DECL

#endif
