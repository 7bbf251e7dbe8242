/**
 * @file pexipsdk/room.h
 * @brief Virtual meeting rooms: Pexip "conference" objects, their aliases,
 *        and whether one is live.
 */
#ifndef PEXIPSDK_ROOM_H
#define PEXIPSDK_ROOM_H

#include "common.h"
#include "client.h"

PEX_BEGIN_DECL

/** A conference as Pexip reports it. Opaque; read with the getters. */
typedef struct pex_room pex_room;

/** Free a room. NULL-safe. */
PEX_EXTERN void pex_room_free(pex_room *room);

/* Getters never fail. Strings are borrowed and live as long as the room;
 * an absent string comes back as "" (never NULL). */
PEX_EXTERN long long pex_room_id(const pex_room *room);
PEX_EXTERN const char *pex_room_name(const pex_room *room);
PEX_EXTERN const char *pex_room_service_type(const pex_room *room);
PEX_EXTERN const char *pex_room_description(const pex_room *room);
PEX_EXTERN const char *pex_room_tag(const pex_room *room);
PEX_EXTERN const char *pex_room_pin(const pex_room *room);
PEX_EXTERN const char *pex_room_guest_pin(const pex_room *room);
PEX_EXTERN int pex_room_allow_guests(const pex_room *room);
/** participant_limit, or -1 when null. */
PEX_EXTERN long long pex_room_participant_limit(const pex_room *room);
PEX_EXTERN const char *pex_room_creation_time(const pex_room *room);
PEX_EXTERN size_t pex_room_alias_count(const pex_room *room);
/** Alias @p i (0-based), or "" when out of range. */
PEX_EXTERN const char *pex_room_alias(const pex_room *room, size_t i);
/** The object exactly as the server sent it (JSON text). */
PEX_EXTERN const char *pex_room_json(const pex_room *room);

/**
 * Write @p room into @p out (replacing what it held) as the JSON object
 * that `pexctl get --json` prints and room-server answers: name, id, alias
 * (the first, or null), aliases, guest_pin, pin, tag, service_type,
 * description, allow_guests, participant_limit (null when unset) and
 * creation_time. @return 0, PEX_EINVAL or PEX_ENOMEM.
 */
PEX_EXTERN int pex_room_to_json(pex_buf *out, const pex_room *room);

#define PEX_ROOM_SPEC_VERSION 1
#define PEX_ROOM_MAX_ALIASES 8

/** What to create. Strings may be NULL (not sent). */
typedef struct pex_room_spec {
	unsigned int version;
	const char *name;               /**< required, unique, <= 250 characters (not bytes) */
	const char *service_type;       /**< default "conference" */
	const char *description;
	const char *pin;
	const char *guest_pin;
	int allow_guests;               /**< 0 or 1 */
	const char *tag;
	long long participant_limit;    /**< -1 = not sent */
	const char *aliases[PEX_ROOM_MAX_ALIASES];  /**< NULL-terminated if fewer */
} pex_room_spec;

#define PEX_ROOM_SPEC_INIT { PEX_ROOM_SPEC_VERSION, NULL, NULL, NULL, NULL, NULL, 0, NULL, -1, { NULL } }
PEX_EXTERN int pex_room_spec_init(pex_room_spec *spec, unsigned int version);

/**
 * Create a conference (with its aliases nested in the same POST). The new
 * id is parsed from the Location header. A failure that leaves it unknown
 * whether the server created the room is settled by a GET by name, never by
 * a blind retry.
 * Before anything is sent, the name, description, tag and aliases must be
 * valid UTF-8 of at most 250 characters (code points, as Pexip counts).
 * @return 0, PEX_EEXISTS (name taken), PEX_EINVAL (field errors; see
 *         pex_error_last()->field_errors), or a transport error.
 */
PEX_EXTERN int pex_room_create(long long *id_out, pex_client *client, const pex_room_spec *spec);

/**
 * Check a room name by Pexip's rules without asking Pexip: 1 to 250
 * characters (Unicode code points, not bytes) of valid UTF-8, no control
 * character (C0, DEL, C1). The same check every function taking a name
 * makes first.
 * @return 0, or PEX_EINVAL with a message saying what is wrong and where
 *         ("room name is 251 characters long (at most 250)").
 */
PEX_EXTERN int pex_room_name_check(const char *name);

/** Get by id. @return 0, PEX_ENOTFOUND, or a transport/HTTP error. */
PEX_EXTERN int pex_room_get(pex_room **out, pex_client *client, long long id);

/**
 * Get by exact name (compared byte for byte, whatever Pexip's ?name= filter
 * matches; every page of its answer is read). @return 0, PEX_ENOTFOUND,
 * PEX_ENOTSUPPORTED (the answer looks unfiltered), or a transport/HTTP error.
 */
PEX_EXTERN int pex_room_get_by_name(pex_room **out, pex_client *client, const char *name);

#define PEX_ROOM_PATCH_VERSION 1
#define PEX_ROOM_UNCHANGED (-2)

/** A partial update: NULL strings and PEX_ROOM_UNCHANGED numbers are not sent. */
typedef struct pex_room_patch {
	unsigned int version;
	const char *tag;
	const char *description;
	const char *pin;
	const char *guest_pin;
	int allow_guests;              /**< 0, 1 or PEX_ROOM_UNCHANGED */
	long long participant_limit;   /**< >= 0, -1 (null) or PEX_ROOM_UNCHANGED */
} pex_room_patch;

#define PEX_ROOM_PATCH_INIT { PEX_ROOM_PATCH_VERSION, NULL, NULL, NULL, NULL, \
	PEX_ROOM_UNCHANGED, PEX_ROOM_UNCHANGED }
PEX_EXTERN int pex_room_patch_init(pex_room_patch *patch, unsigned int version);

/** PATCH a conference (tag and description: at most 250 characters of
 * UTF-8, checked first). A 202 or 204, with or without a body, is success.
 * @return 0, PEX_ENOTFOUND, PEX_EINVAL (field errors), ... */
PEX_EXTERN int pex_room_update(pex_client *client, long long id, const pex_room_patch *patch);

/**
 * Delete a conference by id. A room already gone is success; @p deleted
 * (may be NULL) is set to 1 if this call deleted it, 0 if it was gone.
 */
PEX_EXTERN int pex_room_delete(int *deleted, pex_client *client, long long id);

/** Look a room up by name and delete it. Gone already is success (deleted = 0). */
PEX_EXTERN int pex_room_delete_by_name(int *deleted, pex_client *client, const char *name);

/* ---- listing ---- */

#define PEX_ROOM_FILTER_VERSION 1
typedef struct pex_room_filter {
	unsigned int version;
	const char *name_prefix;    /**< name__startswith */
	const char *name_contains;  /**< name__icontains */
	const char *tag;            /**< tag (exact) */
	const char *service_type;   /**< service_type */
	unsigned page_size;         /**< default 100, at most 500 */
} pex_room_filter;
#define PEX_ROOM_FILTER_INIT { PEX_ROOM_FILTER_VERSION, NULL, NULL, NULL, NULL, 0 }
PEX_EXTERN int pex_room_filter_init(pex_room_filter *filter, unsigned int version);

typedef struct pex_room_iter pex_room_iter;

/** Start listing rooms (@p filter may be NULL). Does no I/O yet. */
PEX_EXTERN int pex_room_iter_new(pex_room_iter **out, pex_client *client,
	const pex_room_filter *filter);

/**
 * Next room, fetching pages as needed by following meta.next. A filter
 * Pexip refuses on the first page (HTTP 400 "does not allow filtering") is
 * dropped from the request and applied here instead.
 * @return 0 with *out owned by the caller, PEX_ITEROVER at the end, or an error.
 */
PEX_EXTERN int pex_room_iter_next(pex_room **out, pex_room_iter *it);

/** Set @p total to meta.total_count of the last page fetched, or -1 before
 * the first and when a filter Pexip refused is applied here (see
 * pex_room_iter_next). @return 0 or PEX_EINVAL (a NULL argument). */
PEX_EXTERN int pex_room_iter_total(long long *total, const pex_room_iter *it);

/** Free an iterator. NULL-safe. */
PEX_EXTERN void pex_room_iter_free(pex_room_iter *it);

/* ---- aliases ---- */

/** Add an alias to conference @p room_id. @return 0, PEX_EEXISTS, PEX_EINVAL, ... */
PEX_EXTERN int pex_alias_create(long long *id_out, pex_client *client, long long room_id,
	const char *alias);

/** Delete an alias by id; gone already is success. */
PEX_EXTERN int pex_alias_delete(pex_client *client, long long alias_id);

/* ---- status ---- */

/**
 * Is a conference of exactly this name live right now (status API)? Names
 * are compared byte for byte, as for pex_room_get_by_name().
 * @p live is set to 1 or 0. @return 0, PEX_ENOTSUPPORTED (the answer looks
 * unfiltered), or a transport/HTTP error.
 */
PEX_EXTERN int pex_room_is_live(int *live, pex_client *client, const char *name);

/** Number of live conferences whose names start with @p prefix ("" = all).
 * When Pexip refuses the name filter, the status list is read and counted. */
PEX_EXTERN int pex_room_live_count(long long *count, pex_client *client, const char *prefix);

PEX_END_DECL

#endif
