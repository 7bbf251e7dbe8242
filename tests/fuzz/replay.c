/*
 * Replay a libFuzzer corpus through LLVMFuzzerTestOneInput() without
 * libFuzzer, so that every build (gcc included) checks the seeds and any
 * crash reproducer committed next to them.
 *
 * Usage: replay DIR...   (every regular file in each DIR, sorted by name)
 */
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int run_file(const char *path)
{
	FILE *f = fopen(path, "rb");
	unsigned char *buf = NULL;
	size_t len = 0, cap = 0, n;
	if (!f) {
		perror(path);
		return -1;
	}
	do {
		if (cap - len < 4096) {
			unsigned char *p = realloc(buf, cap + 65536);
			if (!p) {
				free(buf);
				fclose(f);
				return -1;
			}
			buf = p;
			cap += 65536;
		}
		n = fread(buf + len, 1, cap - len, f);
		len += n;
	} while (n > 0);
	fclose(f);
	LLVMFuzzerTestOneInput(buf, len);
	free(buf);
	return 0;
}

static int only_files(const struct dirent *d)
{
	return d->d_name[0] != '.';
}

int main(int argc, char **argv)
{
	int i, total = 0;
	if (argc < 2) {
		fprintf(stderr, "usage: %s DIR...\n", argv[0]);
		return 2;
	}
	for (i = 1; i < argc; i++) {
		struct dirent **names;
		int n = scandir(argv[i], &names, only_files, alphasort), k, failed = 0;
		if (n < 0) {
			perror(argv[i]);
			return 1;
		}
		for (k = 0; k < n; k++) {
			char path[4096];
			snprintf(path, sizeof(path), "%s/%s", argv[i], names[k]->d_name);
			if (!failed && run_file(path) < 0)
				failed = 1;
			else if (!failed)
				total++;
			free(names[k]);
		}
		free(names);
		if (failed)
			return 1;
	}
	printf("replayed %d inputs\n", total);
	return total > 0 ? 0 : 1;
}
