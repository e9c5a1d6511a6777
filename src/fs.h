/*
 * fs.h - the FUSE low-level operations: each request resolves its inode in
 * a snapshot from the cache and answers from it.  With the notifier
 * (inval.h) and the sink the prefetcher stores through, the only code that
 * calls libfuse besides main.c; the only place where errno is chosen.
 *
 * Owns: the session's userdata (struct fs): what the kernel holds (the
 * versions, held.h; the editions of status and metrics.prom), and the
 * notifier and prefetcher it starts.
 * Must not touch: how the list is fetched and kept (cache.h), the layout of
 * the tree (tree.h), the command line (main.c).
 */
#ifndef SYNERGYFS_FS_H
#define SYNERGYFS_FS_H

#include "fuse_version.h"

#include <sys/types.h>

#include "cache.h"
#include "manage.h"
#include "minted.h"
#include "tree.h"

/* What the operations are set up with. */
struct fs_config {
	struct cache *cache;         /* where snapshots come from; outlives the fs */
	const char *url;             /* the server, for status; outlives the fs */
	unsigned long cache_ttl;     /* for status */
	long expiring_days;          /* expiring/ holds tokens expiring within this many days */
	struct tree_owner owner;     /* of every node */
	uid_t mounter;               /* may refresh on demand, as root may */
	struct minted *minted;       /* new/'s folders (NULL: new/ stays empty) */
	struct manage *manage;       /* -o manage: creates and deletes (NULL: read-only) */
	/* HTTP requests sent so far, for status (NULL: none counted) */
	unsigned long (*requests)(void *arg);
	void *requests_arg;
};

struct fs;

/*
 * The operations' userdata for cfg (call once, before mounting).  The
 * mount time, which stands in for the fetch time before the first fetch,
 * is now.  Returns NULL when memory runs out.
 */
struct fs *fs_new(const struct fs_config *cfg);

/* Free fs (after the session ended; stops what fs_start started). */
void fs_free(struct fs *fs);

/*
 * Start the threads that talk to the kernel outside requests (after any
 * fork): the notifier and the prefetcher.  Returns 0 or an errno.
 */
int fs_start(struct fs *fs, struct fuse_session *se);

/* Stop them (before the session is unmounted). */
void fs_stop(struct fs *fs);

/* The operations table for fuse_session_new(), with a struct fs as userdata. */
const struct fuse_lowlevel_ops *fs_operations(void);

#endif
