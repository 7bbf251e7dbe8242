/* Private helpers shared by events.c, gc.c and gc_orphans.c only. */
#ifndef PEX_POOL_EVENTS_GC_H
#define PEX_POOL_EVENTS_GC_H

#include <stddef.h>

/*
 * Is @p s (@p len bytes) acceptable as a room name on the deletion queue:
 * 1..PEX__ROOM_NAME_MAX characters of valid UTF-8 with no control character
 * (C0, DEL, C1)? Spaces are allowed (Pexip names may hold them, unlike
 * generated pool names). Returns 1, or 0 with a reason ("is empty",
 * "has a control character (U+0001) at offset 3") in @p why.
 */
int pex__pool_delname_ok(const char *s, size_t len, char *why, size_t why_size);

/*
 * Copy untrusted text into @p dst for a log line or an error message:
 * control characters become '?', and text longer than @p dst_size - 1
 * bytes is cut, ending in "...". Never splits a UTF-8 sequence.
 */
void pex__pool_safe_text(char *dst, size_t dst_size, const char *s, size_t len);

#endif
