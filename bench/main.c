/* pexbench: command line. See bench.h for what each subcommand measures and
 * bench/run for the one command that runs them all. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "bench.h"

static _Noreturn void usage(void)
{
	fputs("usage: pexbench [--dir DIR] [--server ROOM-SERVER] [--wrk WRK] [--lua-dir DIR] [--quick]\n"
	      "                [--postgres]\n"
	      "                create | create-once | rss | pexip | queue URI LABEL | servers\n"
	      "                | sizing | sizing-profile\n", stderr);
	exit(2);
}

/* @p path if it names an executable file, else NULL. */
static const char *executable(const char *path)
{
	return path && *path && access(path, X_OK) == 0 ? path : NULL;
}

int main(int argc, char **argv)
{
	bench_opts o = { ".", NULL, NULL, ".", 0, NULL, NULL, NULL };
	int i, rc;

	for (i = 1; i < argc && argv[i][0] == '-'; i++) {
		if (!strcmp(argv[i], "--quick"))
			o.quick = 1;
		else if (!strcmp(argv[i], "--postgres")) {
			if (!(o.pg_conninfo = getenv("PEX_PG_CONNINFO")) || !*o.pg_conninfo)
				bench_die("--postgres needs $PEX_PG_CONNINFO (run under tests/postgres/pg.sh run)");
		}
		else if (i + 1 >= argc)
			usage();
		else if (!strcmp(argv[i], "--dir"))
			o.dir = argv[++i];
		else if (!strcmp(argv[i], "--server"))
			o.server_bin = executable(argv[++i]);
		else if (!strcmp(argv[i], "--wrk"))
			o.wrk_bin = executable(argv[++i]);
		else if (!strcmp(argv[i], "--lua-dir"))
			o.lua_dir = argv[++i];
		else
			usage();
	}
	if (i >= argc)
		usage();
	mkdir(o.dir, 0700);
	signal(SIGPIPE, SIG_IGN);
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != 0)
		bench_die("curl_global_init");
	if (!strcmp(argv[i], "create"))
		rc = bench_create(&o);
	else if (!strcmp(argv[i], "create-once"))
		rc = bench_create_once(&o);
	else if (!strcmp(argv[i], "rss"))
		rc = bench_rss(&o);
	else if (!strcmp(argv[i], "pexip"))
		rc = bench_pexip(&o);
	else if (!strcmp(argv[i], "queue") && i + 2 < argc)
		rc = bench_queue(&o, argv[i + 1], argv[i + 2]);
	else if (!strcmp(argv[i], "servers"))
		rc = bench_servers(&o);
	else if (!strcmp(argv[i], "sizing"))
		rc = bench_sizing(&o);
	else if (!strcmp(argv[i], "sizing-profile"))
		rc = bench_sizing_profile(&o);
	else
		usage();
	curl_global_cleanup();
	return rc;
}
