/* minimal: embed the room pool in a program of your own, in the fewest
 * calls: load the configuration, hand out one room tagged from a UUI,
 * print it, replace it. Usage: minimal CONFIG HEX-UUI */
#include <stdio.h>
#include <pexipsdk/pexipsdk.h>

int main(int argc, char **argv)
{
	pex_config *cfg = NULL;
	pex_pool *pool = NULL;
	pex_pool_room *room = NULL;
	int rc = 1;

	if (argc != 3) {
		fprintf(stderr, "usage: %s CONFIG HEX-UUI\n", argv[0]);
		return 2;
	}
	if (pex_global_init() < 0)
		return 1;
	if (pex_config_load(&cfg, argv[1]) == 0 &&
	    pex_pool_new_from_config(&pool, cfg, NULL, NULL) == 0 &&
	    pex_pool_pop(&room, pool, argv[2], NULL) == 0) {
		printf("name=%s alias=%s guest_pin=%s tag=%s\n", room->name, room->alias,
			room->guest_pin, room->tag);
		/* keep the pool's depth (a server would do this in the background) */
		if (pex_pool_replenish(NULL, pool, 1, NULL, NULL) < 0)
			fprintf(stderr, "replenish: %s\n", pex_error_last()->message);
		rc = 0;
	} else {
		fprintf(stderr, "%s\n", pex_error_last()->message);
	}
	pex_pool_room_free(room);
	pex_pool_free(pool);
	pex_config_free(cfg);
	pex_global_shutdown();
	return rc;
}
