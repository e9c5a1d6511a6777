/*
 * fuzz.h - what every fuzz harness shares: the libFuzzer entry points (so
 * that a harness builds both as a libFuzzer target with clang and as a
 * plain program with replay.c) and FUZZ_CHECK, which stops the run on a
 * violated property.
 */
#ifndef SYNERGYFS_FUZZ_H
#define SYNERGYFS_FUZZ_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

/*
 * Run one input of size bytes through the code under test; returns 0.
 * Every harness defines it.  A violated property aborts the process.
 */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/*
 * Optional one-time setup, called once before the first input; returns 0.
 * Weak, so that replay.c can tell whether a harness defines it.
 */
int LLVMFuzzerInitialize(int *argc, char ***argv) __attribute__((weak));

/*
 * What the harness is looking at (a path in the tree, say), for the
 * message of a violated property; a harness may set it, or leave it NULL.
 */
static const char *fuzz_where __attribute__((unused));

/*
 * Abort when cond is false, naming the property (and fuzz_where), so that
 * libFuzzer keeps the input as a crash and a replay fails loudly.  cond is
 * evaluated exactly once, in every build.
 */
#define FUZZ_CHECK(cond)							\
	do {								\
		if (!(cond)) {						\
			fprintf(stderr, "%s:%d: property violated%s%s: %s\n",	\
				__FILE__, __LINE__, fuzz_where ? " at " : "",	\
				fuzz_where ? fuzz_where : "", #cond);	\
			abort();					\
		}							\
	} while (0)

#endif
