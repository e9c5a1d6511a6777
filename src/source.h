/*
 * source.h - where snapshots come from: one GET of the list, parsed and
 * built into a snapshot.  This is the cache's fetch function.
 *
 * Owns: the glue from api to snapshot, and which warnings were last logged.
 * Must not touch: when fetches happen (cache.h).
 */
#ifndef SYNERGYFS_SOURCE_H
#define SYNERGYFS_SOURCE_H

#include "api.h"
#include "err.h"
#include "snapshot.h"

struct source {
	struct api *api;
	unsigned long warnings_hash; /* of the last skipped-token warnings logged */
};

/*
 * Fetch, parse and build, numbered from prev (a cache_fetch_fn; ctx is a
 * struct source).
 * Skipped tokens and unreadable fields are logged, one line each, when the
 * set of reasons changes, not on every fetch.
 */
enum err_kind source_fetch(void *ctx, const struct snapshot *prev, struct snapshot **out,
			   struct err *e);

#endif
