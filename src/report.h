/*
 * report.h - the mount's own files about itself: status (key: value lines
 * for people and grep) and metrics.prom (the Prometheus text format 0.0.4,
 * for node_exporter's textfile collector).  Pure: the caller gathers the
 * facts, this module formats them.
 *
 * Owns: the wording of status and metrics.prom.
 * Must not touch: where the figures come from (the caller gathers them), the kernel.
 */
#ifndef SYNERGYFS_REPORT_H
#define SYNERGYFS_REPORT_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "cache.h"
#include "snapshot.h"

/* What the reports say besides the snapshot. */
struct report_info {
	const char *url;          /* the server's base URL (never the token) */
	unsigned long cache_ttl;
	long expiring_days;
	struct timespec now;      /* the moment of the report */
	struct cache_stats stats;
	unsigned long requests;   /* HTTP requests sent so far */
	uint64_t versions_held;   /* file versions the kernel holds inodes of (held.h) */
	unsigned lists_kept;      /* old snapshots kept for versions held open */
	/* Tokens created and deleted through the mount (-o manage), by result. */
	uint64_t creates_ok, creates_failed, deletes_ok, deletes_failed;
};

/*
 * metrics.prom for snapshot s (NULL before the first successful fetch):
 * per-token expiry, creation and expired series labelled id, name, user
 * (a token whose Expiry, or CreatedOn, could not be read has no expiry
 * and expired, or creation, series), synergy_pat_problems (how many
 * tokens have a field that could not be read), and the mount's own series.  Returns malloc'd text (*len bytes), or NULL
 * when memory runs out.
 */
char *report_metrics(const struct snapshot *s, const struct report_info *ri, size_t *len);

/* status for snapshot s (may be NULL); as report_metrics. */
char *report_status(const struct snapshot *s, const struct report_info *ri, size_t *len);

#endif
