/*
 * bench_snapshot.c - the refresh cost without the network: how long one
 * list body takes to become a snapshot.  Used by scripts/bench.
 *
 *   bench_snapshot FILE [REPS]
 *
 * FILE holds a body of getPersonalAccessTokens as the server sent it.  Each
 * repetition does what source_fetch() does after the HTTP request: a
 * malloc'd copy of the body goes through snap_parse(), which parses and
 * builds in one pass.  The copy is made before the clock starts and
 * the snapshot is dropped after it stops (the daemon drops an old one only
 * once its last reader is done).  One untimed run comes first, so the
 * allocator is warm as it is in a daemon that has refreshed before.
 *
 * Prints one line of JSON: token count, bytes, repetitions, every time in
 * milliseconds in the order measured, and their median, minimum and
 * maximum.  Exits 1 on any failure.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "err.h"
#include "pat.h"
#include "snapshot.h"

/* What one repetition produced. */
struct run {
	double ms;       /* snap_parse */
	size_t tokens;   /* tokens in the snapshot */
	size_t skipped;  /* objects the parse dropped */
};

/*
 * Read all of path into a malloc'd buffer; its length in *len.  Returns
 * NULL (with a message on stderr) when it cannot be read.
 */
static char *read_file(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	char *data = NULL, *grown;
	size_t cap = 0, n = 0, got;

	if (!f) {
		fprintf(stderr, "bench_snapshot: %s: %s\n", path, strerror(errno));
		return NULL;
	}
	do {
		if (n == cap) {
			cap = cap ? cap * 2 : 1 << 20;
			grown = realloc(data, cap);
			if (!grown) {
				fprintf(stderr, "bench_snapshot: out of memory reading %s\n", path);
				goto fail;
			}
			data = grown;
		}
		got = fread(data + n, 1, cap - n, f);
		n += got;
	} while (got > 0);
	if (ferror(f)) {
		fprintf(stderr, "bench_snapshot: %s: read error\n", path);
		goto fail;
	}
	fclose(f);
	*len = n;
	return data;
fail:
	free(data);
	fclose(f);
	return NULL;
}

static double elapsed_ms(const struct timespec *a, const struct timespec *b)
{
	return (double)(b->tv_sec - a->tv_sec) * 1e3 + (double)(b->tv_nsec - a->tv_nsec) / 1e6;
}

/*
 * Turn len bytes of body into a snapshot once, timing it into *out.
 * Returns 0, or -1 with a message on stderr.
 */
static int one_run(const char *body, size_t len, struct run *out)
{
	struct pat_report r;
	struct snapshot *s = NULL;
	struct timespec t0, t1, now;
	struct err e;
	char *copy = malloc(len ? len : 1);
	int rc = -1;

	if (!copy) {
		fprintf(stderr, "bench_snapshot: out of memory\n");
		return -1;
	}
	memcpy(copy, body, len);
	clock_gettime(CLOCK_REALTIME, &now);

	clock_gettime(CLOCK_MONOTONIC, &t0);
	s = snap_parse(copy, len, now, NULL, &r, &e); /* takes copy, even on failure */
	out->skipped = r.skipped;
	clock_gettime(CLOCK_MONOTONIC, &t1);

	if (!s) {
		fprintf(stderr, "bench_snapshot: snapshot failed: %s\n", e.msg);
		goto out;
	}
	out->ms = elapsed_ms(&t0, &t1);
	out->tokens = s->n;
	rc = 0;
out:
	snap_unref(s);
	return rc;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

/* Median of n > 0 values; sorts v. */
static double median(double *v, size_t n)
{
	qsort(v, n, sizeof(*v), cmp_double);
	return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

int main(int argc, char **argv)
{
	struct run r = { 0 };
	double *ms = NULL;
	char *body = NULL, *end;
	size_t len = 0;
	long reps = 5;
	double mid;
	int rc = 1;

	if (argc < 2 || argc > 3) {
		fprintf(stderr, "usage: bench_snapshot FILE [REPS]\n");
		return 2;
	}
	if (argc == 3) {
		errno = 0;
		reps = strtol(argv[2], &end, 10);
		if (errno || *end || reps < 1 || reps > 100000) {
			fprintf(stderr, "bench_snapshot: REPS must be 1..100000\n");
			return 2;
		}
	}
	body = read_file(argv[1], &len);
	ms = calloc((size_t)reps, sizeof(*ms));
	if (!body || !ms)
		goto out;
	if (one_run(body, len, &r) != 0) /* warm-up, untimed */
		goto out;
	for (long i = 0; i < reps; i++) {
		if (one_run(body, len, &r) != 0)
			goto out;
		ms[i] = r.ms;
	}
	printf("{\"tokens\": %zu, \"skipped\": %zu, \"bytes\": %zu, \"reps\": %ld, "
	       "\"samples_ms\": [", r.tokens, r.skipped, len, reps);
	for (long i = 0; i < reps; i++)
		printf("%s%.3f", i ? ", " : "", ms[i]);
	mid = median(ms, (size_t)reps); /* sorts ms: min and max are then at the ends */
	printf("], \"median_ms\": %.3f, \"min_ms\": %.3f, \"max_ms\": %.3f}\n",
	       mid, ms[0], ms[reps - 1]);
	rc = 0;
out:
	free(ms);
	free(body);
	return rc;
}
