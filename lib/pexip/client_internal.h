/* Internal view of pex_client for the resource modules. */
#ifndef PEX_CLIENT_INTERNAL_H
#define PEX_CLIENT_INTERNAL_H

#include <openssl/evp.h>

#include "pexipsdk/client.h"
#include "pexipsdk/room.h"
#include "http/http_internal.h"

#define PEX__API_CONF "/api/admin/configuration/v1/conference/"
#define PEX__API_ALIAS "/api/admin/configuration/v1/conference_alias/"
#define PEX__API_STATUS_CONF "/api/admin/status/v1/conference/"

/* Send one logical request: auth, retries with backoff (429/502/503/504 and
 * connect errors; transport errors after sending only when idempotent), one
 * token refresh on a 401. Returns 0 with resp->status set to whatever the
 * server finally answered, or a transport error. @path is relative to the
 * base URL (starts with '/'). @body is JSON or NULL. */
int pex__client_call(pex_client *c, const char *method, const char *path,
	const char *body, int idempotent, pex__http_response *resp);

/* Turn a final non-2xx reply into an error (see pex__pexip_error). */
int pex__client_fail(pex_client *c, const pex__http_response *resp, const char *what);

/* The background view of @p c: the same client (transport, token, counters,
 * settings) whose requests go out at background class, yielding to the
 * hand-outs (docs/DECISIONS.md #15). Owned by @p c (pex_client_free() on it
 * does nothing); a view's view is itself. Bulk work (replenish, fill, drain,
 * metrics, GC) sends through it, from any thread. */
pex_client *pex__client_background(pex_client *c);

const pex__logger *pex__client_logger(const pex_client *c);
const char *pex__client_base(const pex_client *c);
/* The transport @p c and its background view share (for tests). */
pex__http *pex__client_transport(const pex_client *c);
unsigned pex__client_retries_max(const pex_client *c);
unsigned pex__client_max_concurrency(const pex_client *c);
void pex__client_backoff(pex_client *c, unsigned attempt, const pex__http_response *resp);

/* ---- ES256 JWT (pure apart from the RNG for jti) ---- */
/* Load a PEM private key; must be EC P-256. Never echoes the key. */
int pex__ec_key_from_pem(EVP_PKEY **out, const char *pem);
/* Sign header.claims with ES256 (raw R||S, base64url) into @out. */
int pex__jwt_es256_sign(pex_buf *out, EVP_PKEY *key, const char *claims_json);
/* Build the RFC 7523 client assertion for Pexip (iss=sub=client_id,
 * aud, iat=now, exp=now+lifetime_s, jti=36 hex chars). */
int pex__jwt_client_assertion(pex_buf *out, EVP_PKEY *key, const char *client_id,
	const char *audience, int64_t now, int64_t lifetime_s);

/* ---- Pexip error bodies (pure) ----
 * Turn a non-2xx reply into an error code and thread-local details:
 * message "<what>: HTTP <status> <reason>: <server text>", field errors
 * from both 400 shapes ({"conference":{"name":[...]}} and {"name":[...]}),
 * {"error": ...}, {"message"/"details"/"detail"}, OAuth's error_description,
 * or a sanitised excerpt of a non-JSON body. 404 -> PEX_ENOTFOUND,
 * 401/403 -> PEX_EAUTH, 400 with field errors -> PEX_EINVAL (PEX_EEXISTS
 * when a field says "already exists"), others -> PEX_EHTTP. */
int pex__pexip_error(long status, const char *body, size_t len, const char *what);

/* Trailing integer id of a Location header in any of its forms
 * (absolute URL, /api/admin/.../123/, api/admin/.../123). */
int pex__parse_location_id(long long *out, const char *location);

/* Decode one conference object (room.c; for tests and tests/fuzz only). */
struct pex_room;
int pex__room_parse_json(struct pex_room **out, const char *json, size_t len);

/*
 * Look up to 500 rooms up by exact name in one request (name__in):
 * with @p ids, on the configuration API (ids[i] = the conference id, 0 when
 * Pexip has no such room); with @p live, on the status API (live[i] = 1
 * when live, else 0). Exactly one of ids and live is given. A name the
 * request could not carry (a comma in it, or past the URL budget) is left
 * at -1, as is every name on an error. PEX_ENOTSUPPORTED when the server
 * refuses the filter (400) or answers as if it ignored it.
 */
/* pex_room_update(), and on failure *unsure (may be NULL) says whether some
 * send of the PATCH may still have been processed, or may still be, by Pexip
 * (a transport failure after sending, a 502/504 from a proxy, or a retry
 * after such a send): 1, or 0 when Pexip answered every send and refused. */
int pex__room_update(pex_client *c, long long id, const pex_room_patch *p, int *unsure);

int pex__room_batch_lookup(pex_client *c, const char *const *names, size_t n,
	long long *ids, int *live);

/* The reply half of pex__room_batch_lookup() (pure; for tests/fuzz): on
 * entry ids[i] (or live[i]) is 0 for each name that was asked, -1 for the
 * others; fills them from the JSON list @p body. On any error every entry
 * is -1: PEX_EPARSE, or PEX_ENOTSUPPORTED when the reply lists more rooms
 * than were asked for. */
int pex__room_batch_parse(const char *body, size_t len, const char *const *names, size_t n,
	long long *ids, int *live, const char *what);

#endif
