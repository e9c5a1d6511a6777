/*
 * when.h - instants for the unit tests: one instant moved by a number of
 * nanoseconds, either way.
 */
#ifndef SYNERGYFS_TEST_WHEN_H
#define SYNERGYFS_TEST_WHEN_H

#include <time.h>

/* t plus ns nanoseconds (ns may be negative), normalised. */
static inline struct timespec ts_add_ns(struct timespec t, long long ns)
{
	long long total = (long long)t.tv_nsec + ns;

	t.tv_sec += (time_t)(total / 1000000000LL);
	t.tv_nsec = (long)(total % 1000000000LL);
	if (t.tv_nsec < 0) {
		t.tv_nsec += 1000000000L;
		t.tv_sec--;
	}
	return t;
}

#endif
