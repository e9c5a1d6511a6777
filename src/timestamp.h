/*
 * timestamp.h - parsing the ISO 8601 timestamps that Synergy sends
 * ("2025-03-14T10:53:38.823+08:00"), and the time between two instants.
 * Pure: no I/O, no allocation.
 *
 * Owns: the parsing of timestamps and the time between two instants.
 * Must not touch: the clock: callers pass the instants.
 */
#ifndef SYNERGYFS_TIMESTAMP_H
#define SYNERGYFS_TIMESTAMP_H

#include <stdbool.h>
#include <time.h>

/*
 * Parse s, "YYYY-MM-DDTHH:MM:SS[.fraction][Z|+hh:mm|-hh:mm|+hhmm|+hh]", into
 * Unix time.  The date/time separator may be 'T', 't' or a space.  The
 * fraction may have any number of digits; nanoseconds beyond the ninth digit
 * are truncated.  A timestamp with no offset is UTC.  The whole string must
 * be consumed.  Returns false (leaving *out untouched) on any syntax or range
 * error.
 */
bool ts_parse(const char *s, struct timespec *out);

/* Seconds from instant from to instant to (negative when to comes first). */
double ts_seconds(struct timespec from, struct timespec to);

#endif
