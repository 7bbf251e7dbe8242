/* Shared by room.c (one conference) and room_query.c (pages, listing,
 * status): what both need of the other. */
#ifndef PEX_PEXIP_ROOM_INTERNAL_H
#define PEX_PEXIP_ROOM_INTERNAL_H

#include <json-c/json.h>

#include "pexip/client_internal.h"
#include "pexipsdk/room.h"

/* A 2xx status. */
int pex__room_ok_status(long status);
/* A room from one conference object of a reply (room.c). */
int pex__room_from_json(pex_room **out, json_object *obj);
/* @p text as JSON, or NULL with the error set naming @p what. */
json_object *pex__room_parse_text(const char *text, size_t len, const char *what);
/* The reply's body as JSON, or NULL with the error set naming @p what. */
json_object *pex__room_parse_body(const pex__http_response *resp, const char *what);
/* pex_room_name_check(): 0 or PEX_EINVAL with the reason. */
int pex__room_check_name(const char *name);
/* The object named exactly @p name (byte for byte, checked first with
 * pex_room_name_check()) on the list @p api, read page by page
 * (room_query.c); @p what names the call in errors. */
int pex__room_find_by_name(json_object **found, pex_client *c, const char *api,
	const char *name, const char *what);

#endif
