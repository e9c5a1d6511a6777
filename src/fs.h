/*
 * fs.h - the FUSE low-level operations: each request resolves its inode in
 * a snapshot from the cache and answers from it.  With inval.c (which
 * tells the kernel what a refresh changed) and main.c, the only code that
 * knows libfuse; the only place where errno is chosen.
 */
#ifndef SYNERGYFS_FS_H
#define SYNERGYFS_FS_H

#include "fuse_version.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>

#include "api.h"
#include "cache.h"
#include "editions.h"
#include "err.h"
#include "held.h"
#include "inval.h"
#include "prefetch.h"
#include "shelf.h"
#include "tree.h"

/* Everything the operations need; the session's userdata. */
struct fs {
	struct cache *cache;
	struct api *api;            /* for the request count in status */
	const char *url;            /* the server, for status */
	unsigned long cache_ttl;
	long expiring_days;
	struct tree_owner owner;
	uid_t mounter;              /* may refresh on demand, as root may */
	struct timespec mount_time; /* stands in for the fetch time before the first fetch */
	/*
	 * File contents stay in the page cache across opens, and where the
	 * kernel can (learnt at init) opens of files and folders are answered
	 * by the kernel alone: no request reaches the daemon for them.
	 */
	atomic_bool no_open;
	atomic_bool no_opendir;
	atomic_bool cache_dirs;      /* folder listings may be cached (learnt at init) */
	struct held *held;          /* versions the kernel holds (fs_init) */
	struct inval *inval;        /* tells the kernel what each refresh changed */
	struct prefetch *prefetch;  /* stores bodies ahead of a walk */
	struct fuse_session *se;    /* the session, once started (fs_start) */
	/* status and metrics.prom as rendered, shared by every read (fs_init) */
	struct shelf reports[2];
	struct editions editions;   /* the versions of them the kernel holds */
};

/*
 * Prepare the parts of fs that the operations own (call once, before
 * mounting, with fs->cache set).  Returns false when memory runs out.
 */
bool fs_init(struct fs *fs);

/* Free what fs_init made (after the session ended). */
void fs_fini(struct fs *fs);

/*
 * Start the threads that talk to the kernel outside requests (after any
 * fork): the notifier and the prefetcher.  Returns 0 or an errno.
 */
int fs_start(struct fs *fs, struct fuse_session *se);

/* Stop them (before the session is unmounted). */
void fs_stop(struct fs *fs);

/* The operations table for fuse_session_new(), with a struct fs as userdata. */
const struct fuse_lowlevel_ops *fs_operations(void);

/* The errno a failure of this kind is reported as. */
int fs_errno(enum err_kind kind);

#endif
