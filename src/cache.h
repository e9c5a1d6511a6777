/*
 * cache.h - the current snapshot and its lifetime: served for cache_ttl
 * seconds, refreshed by the first access after that, one fetch at a time
 * on a thread of the cache's own (others wait for it and share its result),
 * and kept on failure (stale-if-error) while the source is tried again
 * once per back-off step.
 *
 * What an access waits for:
 *   list cached, fresh         nothing
 *   list cached, due           the refresh, at most cache_set_wait seconds;
 *                              then the stale list (the fetch goes on)
 *   no list, no failure yet    the fetch, however long it takes (its timeout)
 *   last fetch failed          nothing until the back-off step is over: the
 *                              cached list if any, else the same error
 *
 * Owns: the current snapshot, the replaced ones it keeps for listings to end
 * on (CACHE_KEEP_REPLACED seconds, at most CACHE_KEPT: its fetch thread lets
 * go of each once its time is up, if no call did first), the fetch thread,
 * the TTL and back-off clocks.
 * Must not touch: the kernel (its listener, inval.h, tells it), what a
 * snapshot holds.
 */
#ifndef SYNERGYFS_CACHE_H
#define SYNERGYFS_CACHE_H

#include <stdbool.h>
#include <stdint.h>
#include <time.h>

#include "err.h"
#include "snapshot.h"

/*
 * Produce a new snapshot (one reference, passed to the caller) or fail
 * with *e set.  prev is the snapshot it is to replace (NULL before the
 * first success), to number it from (snap_parse).  Called with no lock
 * held, never twice at once.
 */
typedef enum err_kind (*cache_fetch_fn)(void *ctx, const struct snapshot *prev,
					struct snapshot **out, struct err *e);

struct cache;

/* Counters for status reports and tests. */
struct cache_stats {
	uint64_t fetches_ok;
	uint64_t fetches_failed;
	int stale;                /* the last attempt failed; older data is served */
	struct err last_error;    /* the last failure (kind ERR_OK if none yet) */
	struct timespec last_failure; /* wall-clock end of that failure (0 if none) */
	struct err last_result;   /* the outcome of the last attempt (ERR_OK: success) */
	struct timespec last_attempt; /* wall-clock end of the last attempt (0 if none) */
	struct timespec last_success; /* wall-clock end of the last success (0 if none) */
	struct timespec next_try;     /* after a failure: when the next fetch may go (else 0) */
	struct timespec fetch_started; /* wall-clock start of the last fetch */
	bool fetching;                /* a fetch is in flight now */
};

/* How long an access waits for a due refresh before it is answered stale. */
#define CACHE_REFRESH_WAIT 1.0

/*
 * A cache over fetch(ctx) serving each snapshot for ttl seconds.  Returns
 * NULL when memory runs out.
 */
struct cache *cache_new(double ttl, cache_fetch_fn fetch, void *ctx);

/*
 * Free c and drop its snapshot, after waiting for the fetch in flight (make
 * the fetch function return early first if it must not be waited for).  No
 * other call may be in progress.
 */
void cache_free(struct cache *c);

/*
 * Stop waiting: every access waiting for a fetch returns now (with the list
 * if there is one, else a "shutting down" error), and no fetch starts any
 * more.  For a daemon that is ending.
 */
void cache_close(struct cache *c);

/* An access waits at most this long for a due refresh (default CACHE_REFRESH_WAIT). */
void cache_set_wait(struct cache *c, double seconds);

/*
 * The snapshot to answer from, with one reference for the caller, fetching
 * first if the current one is due (see the table above).  *valid_for gets
 * how many seconds the answer may be cached by the kernel: never past the
 * point where the next access must reach the cache, 0 while a refresh is in
 * flight.  Returns NULL with *e set when there is nothing to serve.
 */
struct snapshot *cache_get(struct cache *c, double *valid_for, struct err *e);

/*
 * Start a fetch in the background if one is due (as cache_get would), and
 * return at once: for readers that must never wait, yet should not keep
 * seeing an old list when they are the only readers (metrics.prom scraped
 * by node_exporter).
 */
void cache_kick(struct cache *c);

/*
 * The current snapshot with a reference, or NULL; never fetches.  If
 * valid_for is not NULL it gets the seconds left before the snapshot is due
 * for a refresh (0 when it is due or there is none).
 */
struct snapshot *cache_peek(struct cache *c, double *valid_for);

/*
 * A snapshot stays findable (cache_find) this many seconds after a fetch
 * replaced it: the time a folder listing begun on it has to end on it.  At
 * most CACHE_KEPT replaced ones are kept, so that refreshes in a loop
 * cannot pile lists up in memory.  The cache lets go of each once its
 * time is up: at the next call, or on its own fetch thread if no call
 * comes (its memory is freed then, unless someone else holds it).
 */
#define CACHE_KEEP_REPLACED 10.0
#define CACHE_KEPT 4

/*
 * A reference to the current snapshot or else to one of the last
 * CACHE_KEPT it replaced (for CACHE_KEEP_REPLACED seconds each), whichever
 * match(s, arg) accepts first; NULL if none does.  *valid_for gets what
 * cache_peek gives for the current one, 0 for an older one.  Never
 * fetches.
 */
struct snapshot *cache_find(struct cache *c, bool (*match)(const struct snapshot *s, const void *arg),
			    const void *arg, double *valid_for);

/*
 * For tests: count TTLs, back-off steps and the keeping of replaced
 * snapshots on clock(arg) (monotonic seconds) instead of the system's.
 * How long an access waits for a refresh is still real time.
 */
void cache_set_clock(struct cache *c, double (*clock)(void *arg), void *arg);

/* For tests: keep replaced snapshots findable this long instead. */
void cache_set_keep(struct cache *c, double seconds);

/*
 * Fetch now, whatever the TTL or back-off: after the fetch in flight (if
 * any) ends, exactly one more, waited for.  On success the new snapshot is served from then on; on failure
 * the kind is returned with *e set, and the cache keeps what it had.
 */
enum err_kind cache_refresh(struct cache *c, struct err *e);

/*
 * Make the current snapshot due, and end a back-off step: the next access
 * fetches.  The snapshot is kept to serve stale if that fetch fails.
 */
void cache_expire(struct cache *c);

/*
 * Called each time a fetch installs snapshot new in place of old (NULL for
 * the first), on the thread that ran the fetch, with no lock of the
 * cache's held: in the order of the fetches, after new is served and old
 * kept (cache_find finds it), and before the fetch counts as ended
 * (cache_refresh returns after it).  The listener takes references of its
 * own if it keeps them; it must not wait for a fetch, and should not
 * block: the next one waits for it.
 */
typedef void (*cache_listener_fn)(void *ctx, struct snapshot *old, struct snapshot *new_);

/*
 * Set the listener (NULL: none), after the call in progress, if any, has
 * returned: once this returns, the one set before is no longer called.
 */
void cache_set_listener(struct cache *c, cache_listener_fn fn, void *ctx);

/* Copy the counters into *st. */
void cache_stats(struct cache *c, struct cache_stats *st);

#endif
