/*
 * prefetch.h - the prefetcher: stores the bodies of files in the kernel's
 * page cache ahead of a walk.  Once a file of a token is read (a miss of
 * the page cache), the bodies of that token's files, and of the tokens
 * listed after it, are stored on a thread of its own: a walk then reads
 * them without a round trip each, and one that finds the page cache
 * dropped (reclaim) without a round trip per token.
 *
 * Owns: which token folders the kernel has listed, and when (for the
 * snapshot they were listed in); the runs of stores asked for; its thread.
 * Must not touch: the kernel itself (stores go through a struct
 * prefetch_sink), what a refresh changed (inval.h), the snapshots.
 *
 * The kernel takes a store only into an inode it holds: a token's files
 * once their folder was listed with attributes (readdirplus).  So a run
 * stops at the first token whose folder it has not listed, and goes on
 * from where a walk reads if the walk gets ahead of it.  A clock file
 * (days_left, expired) is stored only if its folder was listed since its
 * body last changed (then the size the kernel holds is the length stored),
 * and not in the last second before it next changes.
 */
#ifndef SYNERGYFS_PREFETCH_H
#define SYNERGYFS_PREFETCH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "cache.h"
#include "snapshot.h"

/*
 * How many tokens, from the one read, a read of a token's file that is
 * not in the page cache has stored: the walk reads the next ones next, and
 * what dropped this one (reclaim) dropped those too.
 */
#define PREFETCH_AHEAD 16

/* Runs wait in a ring of this many; more are dropped (they only save time). */
#define PREFETCH_RING 256

/* Where stores go: the kernel's page cache, in the daemon. */
struct prefetch_sink {
	/* Put body (len bytes) into the page cache of inode ino. */
	void (*store)(void *ctx, uint64_t ino, const char *body, size_t len);
	/* Drop what the page cache holds of inode ino (a store come too late). */
	void (*withdraw)(void *ctx, uint64_t ino);
	void *ctx;
};

struct prefetch;

/*
 * A prefetcher whose runs go on while their snapshot is cache's current
 * one.  NULL when memory runs out.
 */
struct prefetch *prefetch_new(struct cache *cache);

/* Stop pf (if started) and free it. */
void prefetch_free(struct prefetch *pf);

/* Start its thread, storing through sink.  Returns 0 or an errno. */
int prefetch_start(struct prefetch *pf, const struct prefetch_sink *sink);

/* Stop the thread; runs not yet made are dropped. */
void prefetch_stop(struct prefetch *pf);

/*
 * The kernel listed the folder of token t of s, with attributes, at the
 * moment now.  Listings in a snapshot older than the last one listed in
 * are not kept.  From any thread; never waits for a store.
 */
void prefetch_listed(struct prefetch *pf, const struct snapshot *s, const struct snap_token *t,
		     struct timespec now);

/*
 * Has the kernel listed the folder of token t of s (prefetch_listed), and,
 * if since is not NULL, after the instant *since, by the last listing, to
 * the second?
 */
bool prefetch_was_listed(struct prefetch *pf, const struct snapshot *s, const struct snap_token *t,
			 const struct timespec *since);

/*
 * A file of token t of s (which gets a reference while it is needed) was
 * read from its start by a request: store the bodies of t's files and of
 * the tokens after it, PREFETCH_AHEAD in all, unless the kernel has not
 * listed t's folder.  When t is in the last run asked for, that run goes
 * on from t if it has not got that far: the tokens before it were read
 * without it.  For a request thread: it does not wait, and when many runs
 * are pending it does nothing.
 */
void prefetch_read(struct prefetch *pf, struct snapshot *s, const struct snap_token *t);

#endif
