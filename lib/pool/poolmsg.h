/*
 * The pool message codec (docs/DECISIONS.md #9): what a pool queue message holds.
 *
 * Written as the UTF-8 JSON bytes
 *   {"name":…,"id":…,"alias":…,"guest_pin":…,"created":…}
 * The queue API moves bytes; the one base64 layer (#9) belongs to
 * the wire format of the backend that needs it: the azure backend writes
 * MessageText = base64(these bytes), which is what an Azure Functions queue
 * trigger decodes once; sqlite and memory store the JSON as it is.
 *
 * Read tolerantly: base64 or raw text, a JSON object or a bare room name
 * (queues filled by the old Python app hold bare names; their id is then
 * 0 = unknown, and the caller looks it up by name). So rows an earlier
 * version wrote as base64(JSON) (sqlite), and Azure messages it wrote
 * double-encoded (the backend's decode leaves base64(JSON)), still read.
 * No I/O.
 */
#ifndef PEX_POOL_POOLMSG_H
#define PEX_POOL_POOLMSG_H

#include "internal.h"

/* The largest pool message decoded (bytes as stored, before base64 decoding). */
#define PEX__POOLMSG_MAX_SIZE (64 * 1024)
/* The longest plausible room name, in characters (Pexip's text limit). */
#define PEX__ROOM_NAME_MAX PEX__TEXT_MAX_CHARS

/* A room as the pool queue knows it. Strings are owned (NUL-terminated);
 * release with pex__room_ref_dispose(). */
struct pex__room_ref {
	char *name;         /* never NULL after a successful decode */
	long long id;       /* Pexip conference id; 0 = unknown */
	char *alias;        /* or NULL */
	char *guest_pin;    /* or NULL */
	long long created;  /* Unix seconds; 0 = unknown */
};

/*
 * Encode @p r, replacing the contents of @p out with its JSON (UTF-8, no
 * whitespace, NUL-terminated; out->size excludes the NUL).
 * @return 0, PEX_EINVAL (no name, an implausible name, a negative id or
 *         created time, or an alias or guest PIN that is not valid UTF-8),
 *         or PEX_ENOMEM.
 */
int pex__poolmsg_encode(pex_buf *out, const struct pex__room_ref *r);

/*
 * Decode a message as received from a queue into @p out (which is
 * overwritten; on failure it is left zeroed). @return 0, or PEX_EPARSE with
 * a message saying what was wrong (not JSON, missing "name", wrong type, a
 * string that is not UTF-8, too large, not a plausible room name...).
 */
int pex__poolmsg_decode(struct pex__room_ref *out, const void *data, size_t len);

/* Free the strings of @p r and zero it. NULL-safe. */
void pex__room_ref_dispose(struct pex__room_ref *r);

/*
 * Is @p s (of @p len bytes) a plausible room name: 1..PEX__ROOM_NAME_MAX
 * characters of valid UTF-8 with no whitespace or control characters? Returns 1,
 * or 0 with a short reason ("contains whitespace at offset 3") in @p why.
 */
int pex__room_name_plausible(const char *s, size_t len, char *why, size_t why_size);

#endif
