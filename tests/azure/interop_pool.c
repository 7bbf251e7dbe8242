/* The real pool write path for the interop test (interop.sh): a Pexip
 * emulator, a pool over an Azure queue on Azurite, one replenish. Prints
 * what was queued so the official SDK's side can check the message.
 *
 *   interop-pool fill QUEUE   start the emulator, create one room through
 *                             pex_pool_replenish() onto QUEUE, and print
 *                             "NAME ID ALIAS GUEST_PIN" (one line), where
 *                             the values are those of the room on Pexip
 *
 * The connection string comes from PEX_AZURITE_CONNSTR. Exit 0, 1 on
 * failure (message on stderr), 2 on bad usage. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <pexipsdk/pexipsdk.h>

#include "emu_harness.h"

static int fail(const char *what)
{
	fprintf(stderr, "interop-pool: %s: %s: %s\n", what, pex_error_name(pex_error_last()->code),
		pex_error_last()->message);
	return 1;
}

int main(int argc, char **argv)
{
	pex_client_options co = PEX_CLIENT_OPTIONS_INIT;
	pex_pool_options po = PEX_POOL_OPTIONS_INIT;
	pex_client *client = NULL;
	pex_queue *pq = NULL, *dq = NULL;
	pex_pool *pool = NULL;
	pex_room_iter *it = NULL;
	pex_room *room = NULL;
	const char *conn = getenv("PEX_AZURITE_CONNSTR");
	char uri[1024], dname[80];
	size_t created = 0;
	int rc = 1, started = 0;
	emu_t e;

	if (argc != 3 || strcmp(argv[1], "fill") != 0 || !conn) {
		fprintf(stderr, "usage: PEX_AZURITE_CONNSTR=... %s fill QUEUE\n", argv[0]);
		return 2;
	}
	if (pex_global_init() < 0)
		return fail("init");
	if (emu_start(&e, NULL) != 0)
		goto done;
	started = 1;
	co.url = e.url;
	co.username = "admin";
	co.password = "admin";
	snprintf(uri, sizeof(uri), "azure:%s", conn);
	snprintf(dname, sizeof(dname), "%.60s-del", argv[2]);
	/* non-ASCII in the name: the message must be UTF-8 all the way */
	po.name_prefix = "m\xc3\xb8te_";
	po.alias_domain = "example.com";
	po.depth = 1;
	po.ready_after_s = 0;      /* about the queue, not about replication */
	if (pex_client_new(&client, &co) < 0) {
		rc = fail("client");
		goto done;
	}
	if (pex_queue_open(&pq, uri, argv[2]) < 0 || pex_queue_open_sibling(&dq, pq, dname) < 0) {
		rc = fail("queues");
		goto done;
	}
	if (pex_pool_new(&pool, client, pq, dq, &po) < 0) {
		rc = fail("pool");
		goto done;
	}
	if (pex_pool_replenish(&created, pool, 1, NULL, NULL) < 0 || created != 1) {
		rc = fail("replenish");
		goto done;
	}
	/* the one room on the emulator is the one queued */
	if (pex_room_iter_new(&it, client, NULL) < 0 || pex_room_iter_next(&room, it) < 0) {
		rc = fail("listing rooms");
		goto done;
	}
	printf("%s %lld %s %s\n", pex_room_name(room), pex_room_id(room),
		pex_room_alias_count(room) ? pex_room_alias(room, 0) : "-",
		pex_room_guest_pin(room) ? pex_room_guest_pin(room) : "-");
	rc = 0;
done:
	pex_room_free(room);
	pex_room_iter_free(it);
	pex_pool_free(pool);
	pex_queue_free(dq);
	pex_queue_free(pq);
	pex_client_free(client);
	if (started)
		emu_stop(&e);
	pex_global_shutdown();
	return rc;
}
