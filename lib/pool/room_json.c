/* The JSON object of a handed-out room, as pexctl create --json prints it
 * and room-server's create route answers (docs/DECISIONS.md #63). */
#include <json-c/json.h>

#include "internal.h"
#include "pexipsdk/pool.h"

#define S(x) ((x) ? (x) : "")

int pex_pool_room_to_json(pex_buf *out, const pex_pool_room *room)
{
	json_object *o = out && room ? json_object_new_object() : NULL;
	int err = 0;

	if (!out || !room)
		return pex_error_set(PEX_EINVAL, PEX_ERROR_CLASS_INVALID,
			"pex_pool_room_to_json: out and room are required");
	/* in this order: the contract pexctl(1) and pexip-room-server(8) state */
	if (pex__json_add(o, "name", json_object_new_string(S(room->name)), 0) < 0 ||
	    pex__json_add(o, "id", json_object_new_int64(room->id), 0) < 0 ||
	    pex__json_add(o, "alias", json_object_new_string(S(room->alias)), 0) < 0 ||
	    pex__json_add(o, "guest_pin", json_object_new_string(S(room->guest_pin)), 0) < 0 ||
	    pex__json_add(o, "tag", json_object_new_string(S(room->tag)), 0) < 0)
		err = PEX_ENOMEM;
	return pex__json_to_buf(out, o, err);
}
