/* azure-launcher CMD [ARGS...]: exec `sh azurite.sh run CMD ARGS...`.
 *
 * meson's valgrind setup wraps a test's program in valgrind; with the shell
 * as the program, it would check the shell (dash leaks a few bytes by
 * design) and not our binaries. This shim is the test program instead: it
 * execs the shell, which valgrind then leaves alone (no --trace-children),
 * and azurite.sh runs our binary under valgrind itself when
 * PEX_UNDER_VALGRIND=1. */
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

int main(int argc, char **argv)
{
	char **args = calloc((size_t)argc + 4, sizeof(*args));
	int i;
	if (argc < 2 || !args) {
		fprintf(stderr, "usage: %s CMD [ARGS...]\n", argv[0]);
		return 2;
	}
	args[0] = "sh";
	args[1] = PEX_AZURITE_SH;
	args[2] = "run";
	for (i = 1; i < argc; i++)
		args[i + 2] = argv[i];
	execv("/bin/sh", args);
	perror("azure-launcher: exec /bin/sh");
	return 1;
}
