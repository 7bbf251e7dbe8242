/* The public headers compile alone, as C99 with -pedantic -Werror, and link. */
#include <pexipsdk/pexipsdk.h>
#include <pexipsdk/sys/errors.h>
#include <pexipsdk/sys/queue_backend.h>

int main(void)
{
	pex_client_options o = PEX_CLIENT_OPTIONS_INIT;
	pex_queue_backend b = PEX_QUEUE_BACKEND_INIT;
	pex_room_spec s = PEX_ROOM_SPEC_INIT;
	pex_buf buf = PEX_BUF_INIT;
	(void)o;
	(void)b;
	(void)s;
	pex_buf_dispose(&buf);
	return PEX_VERSION_CHECK(0, 1, 0) && pex_version()[0] ? 0 : 1;
}
