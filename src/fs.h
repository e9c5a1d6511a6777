/*
 * fs.h - the FUSE low-level operations: each request resolves its inode in
 * a snapshot from the cache and answers from it.  With inval.c (which
 * tells the kernel what a refresh changed) and main.c, the only code that
 * knows libfuse; the only place where errno is chosen.
 */
#ifndef SYNERGYFS_FS_H
#define SYNERGYFS_FS_H

#define FUSE_USE_VERSION FUSE_MAKE_VERSION(3, 12)
#include <fuse_lowlevel.h>

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>

#include "api.h"
#include "cache.h"
#include "err.h"
#include "inval.h"
#include "shelf.h"
#include "tree.h"

struct handle;

/* Everything the operations need; the session's userdata. */
struct fs {
	struct cache *cache;
	struct api *api;            /* for the request count in status */
	const char *url;            /* the server, for status */
	unsigned long cache_ttl;
	long expiring_days;
	struct tree_owner owner;
	struct timespec mount_time; /* stands in for the fetch time before the first fetch */
	/*
	 * kernel_cache: file contents stay in the page cache across opens, and
	 * where the kernel can (no_open, learnt at init) opens are answered
	 * by the kernel alone.  A reader then sees the newest list, not the
	 * one of its open.
	 */
	bool kernel_cache;
	atomic_bool no_open;
	atomic_bool no_opendir;      /* likewise for folders (kernel_cache) */
	atomic_bool cache_dirs;      /* folder listings may be cached (learnt at init) */
	/*
	 * Open files and folders.  The kernel may not release the last ones
	 * before the session ends (an unmount right after a read): those are
	 * freed when it does.  Set up by fs_init.
	 */
	pthread_mutex_t handles_lock;
	struct handle *handles;
	struct inval inval;         /* tells the kernel what each refresh changed */
	/* status and metrics.prom as rendered, shared by every open (fs_init) */
	struct shelf reports[2];
};

/* Prepare the parts of fs that the operations own (call once, before mounting). */
void fs_init(struct fs *fs);

/* The operations table for fuse_session_new(), with a struct fs as userdata. */
const struct fuse_lowlevel_ops *fs_operations(void);

/* The errno a failure of this kind is reported as. */
int fs_errno(enum err_kind kind);

#endif
