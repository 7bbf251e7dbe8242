/*
 * libFuzzer target for the pure decoders of Pexip replies and pool
 * messages. Every input goes through all four:
 *
 *   pex__pexip_error()        as the body of a 400 and of one other status
 *                             (chosen from the input's length): the code
 *                             matches the status, the message is non-empty,
 *                             starts with "<what>: HTTP <status>" and holds
 *                             no control characters; a 400 with field
 *                             errors is PEX_EINVAL or PEX_EEXISTS;
 *   pex__room_parse_json()    one conference object: on success id > 0, a
 *                             name, and pex_room_json() decodes to the same
 *                             room again; on failure PEX_EPARSE, no room;
 *   pex__parse_location_id()  the input up to its first NUL as a Location
 *                             header: on success id > 0 and its digits are
 *                             in the header;
 *   pex__poolmsg_decode()     a pool queue message: on success a plausible
 *                             name, id and created >= 0, and encode+decode
 *                             gives the same record back; on failure
 *                             PEX_EPARSE and a zeroed record;
 *   pex__room_batch_parse()   a GC batch-lookup reply, in both modes, for
 *                             five names of which four were asked: the one
 *                             not asked stays -1; on success ids are 0 or
 *                             > 0 and live flags 0 or 1, on failure
 *                             (PEX_EPARSE or PEX_ENOTSUPPORTED) all are -1.
 *
 * Any broken invariant aborts. Linked with replay.c for a plain-main build.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"
#include "pexip/client_internal.h"
#include "pexip/client_internal.h"
#include "pexipsdk/room.h"
#include "pool/poolmsg.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(cond) do { \
	if (!(cond)) { \
		fprintf(stderr, "fuzz_pexip: invariant broken at %s:%d: %s\n", \
			__FILE__, __LINE__, #cond); \
		abort(); \
	} \
} while (0)

static int no_controls(const char *s)
{
	for (; *s; s++)
		if ((unsigned char)*s < 0x20 || *s == 0x7f)
			return 0;
	return 1;
}

static int same_str(const char *a, const char *b)
{
	if (!a || !b)
		return a == b;
	return strcmp(a, b) == 0;
}

/* ---- error bodies ---- */

static void run_error(long status, const char *body, size_t len)
{
	char prefix[64];
	const pex_error *e;
	int code;

	code = pex__pexip_error(status, body, len, "fuzz");
	e = pex_error_last();
	CHECK(e->code == code);
	CHECK(e->http_status == (int)status);
	if (status == 404)
		CHECK(code == PEX_ENOTFOUND);
	else if (status == 401 || status == 403)
		CHECK(code == PEX_EAUTH);
	else if (status == 400)
		CHECK(code == PEX_EHTTP || code == PEX_EINVAL || code == PEX_EEXISTS);
	else
		CHECK(code == PEX_EHTTP);
	CHECK(e->message != NULL && e->message[0] != '\0');
	snprintf(prefix, sizeof(prefix), "fuzz: HTTP %ld ", status);
	CHECK(strncmp(e->message, prefix, strlen(prefix)) == 0);
	/* a body's control characters never reach the message from an excerpt;
	 * JSON strings are quoted as they are, so only check non-JSON bodies */
	if (len == 0 || (body[0] != '{' && body[0] != ' ' && body[0] != '\t' &&
			 body[0] != '\r' && body[0] != '\n'))
		CHECK(no_controls(e->message));
	if (status == 400 && e->field_error_count)
		CHECK(code == PEX_EINVAL || code == PEX_EEXISTS);
}

/* ---- conference objects ---- */

static void run_room(const char *body, size_t len)
{
	pex_room *r = NULL, *again = NULL;
	const char *json;
	size_t i;
	int err;

	err = pex__room_parse_json(&r, body, len);
	if (err < 0) {
		CHECK(r == NULL);
		CHECK(err == PEX_EPARSE || err == PEX_ENOMEM);
		CHECK(pex_error_last()->message[0] != '\0');
		return;
	}
	CHECK(err == 0 && r != NULL);
	CHECK(pex_room_id(r) > 0);
	CHECK(pex_room_name(r) != NULL);
	CHECK(pex_room_allow_guests(r) == 0 || pex_room_allow_guests(r) == 1);
	for (i = 0; i < pex_room_alias_count(r); i++)
		CHECK(pex_room_alias(r, i) != NULL);
	CHECK(pex_room_alias(r, pex_room_alias_count(r))[0] == '\0');
	json = pex_room_json(r);
	CHECK(json != NULL && json[0] == '{');
	CHECK(pex__room_parse_json(&again, json, strlen(json)) == 0);
	CHECK(pex_room_id(again) == pex_room_id(r));
	CHECK(same_str(pex_room_name(again), pex_room_name(r)));
	CHECK(same_str(pex_room_tag(again), pex_room_tag(r)));
	CHECK(same_str(pex_room_guest_pin(again), pex_room_guest_pin(r)));
	CHECK(pex_room_participant_limit(again) == pex_room_participant_limit(r));
	CHECK(pex_room_alias_count(again) == pex_room_alias_count(r));
	for (i = 0; i < pex_room_alias_count(r); i++)
		CHECK(same_str(pex_room_alias(again, i), pex_room_alias(r, i)));
	pex_room_free(again);
	pex_room_free(r);
}

/* ---- Location headers ---- */

static void run_location(const char *text)
{
	long long id = -7;
	char digits[32];

	if (pex__parse_location_id(&id, text) < 0) {
		CHECK(id == -7);
		CHECK(pex_error_last()->code == PEX_EPARSE);
		CHECK(pex_error_last()->message[0] != '\0');
		return;
	}
	CHECK(id > 0);
	snprintf(digits, sizeof(digits), "%lld", id);
	CHECK(strstr(text, digits) != NULL);
}

/* ---- pool messages ---- */

static void run_poolmsg(const uint8_t *data, size_t size)
{
	struct pex__room_ref ref, back;
	pex_buf enc = PEX_BUF_INIT;
	char why[160];
	int err;

	memset(&ref, 0x5a, sizeof(ref));
	err = pex__poolmsg_decode(&ref, data, size);
	if (err < 0) {
		CHECK(err == PEX_EPARSE);
		CHECK(ref.name == NULL && ref.alias == NULL && ref.guest_pin == NULL);
		CHECK(ref.id == 0 && ref.created == 0);
		CHECK(pex_error_last()->message[0] != '\0');
		return;
	}
	CHECK(ref.name != NULL);
	CHECK(pex__room_name_plausible(ref.name, strlen(ref.name), why, sizeof(why)));
	CHECK(ref.id >= 0 && ref.created >= 0);

	/* what we read, we can write, and read back the same */
	CHECK(pex__poolmsg_encode(&enc, &ref) == 0);
	CHECK(pex__poolmsg_decode(&back, enc.ptr, enc.size) == 0);
	CHECK(strcmp(back.name, ref.name) == 0);
	CHECK(back.id == ref.id && back.created == ref.created);
	CHECK(same_str(back.alias, ref.alias) || (!back.alias && ref.alias && !*ref.alias) ||
	      (!ref.alias && back.alias && !*back.alias));
	CHECK(same_str(back.guest_pin, ref.guest_pin) ||
	      (!back.guest_pin && ref.guest_pin && !*ref.guest_pin) ||
	      (!ref.guest_pin && back.guest_pin && !*back.guest_pin));
	pex__room_ref_dispose(&back);
	pex__room_ref_dispose(&ref);
	pex_buf_dispose(&enc);
}

/* ---- GC batch lookups ---- */

static void run_batch(const char *body, size_t len)
{
	static const char *const names[] = { "vmr_a", "vmr_b", "Team Room", "vmr_a", "not asked" };
	long long ids[5];
	int live[5], err, i;

	for (i = 0; i < 5; i++) {
		ids[i] = i == 4 ? -1 : 0;
		live[i] = i == 4 ? -1 : 0;
	}
	err = pex__room_batch_parse(body, len, names, 5, ids, NULL, "fuzz");
	CHECK(err == 0 || err == PEX_EPARSE || err == PEX_ENOTSUPPORTED);
	CHECK(ids[4] == -1);
	for (i = 0; i < 4; i++)
		CHECK(err == 0 ? ids[i] >= 0 : ids[i] == -1);
	CHECK(ids[0] == ids[3]);          /* the same name, the same answer */
	err = pex__room_batch_parse(body, len, names, 5, NULL, live, "fuzz");
	CHECK(err == 0 || err == PEX_EPARSE || err == PEX_ENOTSUPPORTED);
	CHECK(live[4] == -1);
	for (i = 0; i < 4; i++)
		CHECK(err == 0 ? (live[i] == 0 || live[i] == 1) : live[i] == -1);
	CHECK(live[0] == live[3]);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const long statuses[] = { 401, 403, 404, 409, 429, 500, 503, 302 };
	char *text;

	if (size > 128 * 1024)
		return 0;
	text = malloc(size + 1);
	if (!text)
		return 0;
	memcpy(text, data, size);
	text[size] = '\0';

	run_error(400, text, size);
	run_error(statuses[size % PEX__ARRAY_SIZE(statuses)], text, size);
	run_room(text, size);
	run_location(text);
	run_poolmsg(data, size);
	run_batch(text, size);

	free(text);
	pex_error_clear();
	return 0;
}
