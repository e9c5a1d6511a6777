/*
 * replay.c - a plain-C stand-in for libFuzzer's driver, so that every
 * harness also builds with gcc as an ordinary test program: it feeds each
 * file named on the command line, and each file inside each directory named
 * there (in name order, skipping dotfiles such as .keep), to
 * LLVMFuzzerTestOneInput.  Each input runs in a child process, so that one
 * violated property (an abort) is reported with its file and the other
 * inputs still run; the exit status is non-zero if any input failed.
 *
 *   replay_<name> DIR|FILE...
 */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "fuzz.h"

/*
 * Read the whole file at path into a malloc'd buffer of exactly its size
 * (so that a sanitizer sees a read past the end); NULL on failure.
 */
static uint8_t *read_file(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	uint8_t *buf = NULL, *nb;
	size_t cap = 0, n = 0, got;

	if (!f)
		return NULL;
	do {
		if (n == cap) {
			cap = cap ? cap * 2 : 4096;
			nb = realloc(buf, cap);
			if (!nb)
				goto fail;
			buf = nb;
		}
		got = fread(buf + n, 1, cap - n, f);
		n += got;
	} while (got > 0);
	if (ferror(f))
		goto fail;
	nb = realloc(buf, n ? n : 1);
	if (!nb)
		goto fail;
	fclose(f);
	*len = n;
	return nb;
fail:
	free(buf);
	fclose(f);
	return NULL;
}

/* Run one input file in a child; returns 0, or -1 if it failed or cannot be read. */
static int replay_file(const char *path)
{
	size_t len = 0;
	uint8_t *data = read_file(path, &len);
	pid_t pid;
	int status;

	if (!data) {
		fprintf(stderr, "replay: %s: cannot read it\n", path);
		return -1;
	}
	fflush(stdout);
	fflush(stderr);
	pid = fork();
	if (pid == 0) {
		LLVMFuzzerTestOneInput(data, len);
		_exit(0);
	}
	free(data);
	if (pid < 0 || waitpid(pid, &status, 0) != pid) {
		fprintf(stderr, "replay: %s: cannot run it: %s\n", path, strerror(errno));
		return -1;
	}
	if (WIFSIGNALED(status) || WEXITSTATUS(status) != 0) {
		printf("replay: %s (%zu bytes): FAILED (%s %d)\n", path, len,
		       WIFSIGNALED(status) ? "signal" : "exit status",
		       WIFSIGNALED(status) ? WTERMSIG(status) : WEXITSTATUS(status));
		return -1;
	}
	printf("replay: %s (%zu bytes): ok\n", path, len);
	return 0;
}

static int by_name(const struct dirent **a, const struct dirent **b)
{
	return strcmp((*a)->d_name, (*b)->d_name);
}

static int skip_dotfiles(const struct dirent *d)
{
	return d->d_name[0] != '.';
}

/* Run every file of directory dir; counts inputs run and failed. */
static int replay_dir(const char *dir, int *run, int *failed)
{
	struct dirent **names;
	int n = scandir(dir, &names, skip_dotfiles, by_name);

	if (n < 0) {
		fprintf(stderr, "replay: %s: %s\n", dir, strerror(errno));
		return -1;
	}
	for (int i = 0; i < n; i++) {
		char path[4096];
		struct stat st;

		snprintf(path, sizeof(path), "%s/%s", dir, names[i]->d_name);
		if (stat(path, &st) == 0 && S_ISREG(st.st_mode)) {
			(*run)++;
			*failed += replay_file(path) < 0;
		}
		free(names[i]);
	}
	free(names);
	return 0;
}

int main(int argc, char **argv)
{
	int run = 0, failed = 0, bad_args = 0;

	if (argc < 2) {
		fprintf(stderr, "usage: %s DIR|FILE...\n", argv[0]);
		return 2;
	}
	if (LLVMFuzzerInitialize)
		LLVMFuzzerInitialize(&argc, &argv);
	for (int i = 1; i < argc; i++) {
		struct stat st;

		if (stat(argv[i], &st) == 0 && S_ISDIR(st.st_mode)) {
			bad_args += replay_dir(argv[i], &run, &failed) < 0;
		} else {
			run++;
			failed += replay_file(argv[i]) < 0;
		}
	}
	printf("replay: %d inputs, %d failed\n", run, failed);
	return failed || bad_args ? 1 : 0;
}
