/*
 * fs.h - the FUSE low-level operations: each request resolves its inode in
 * a snapshot from the cache and answers from it.  The only module besides
 * main.c that knows libfuse, and the only place where errno is chosen.
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
#include "tree.h"

struct handle;
struct change;

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
	/*
	 * The notifier: a thread that tells the kernel what each refresh
	 * changed, so that what it caches can be kept until then.  It is not
	 * a request thread, which could deadlock on the locks the kernel holds
	 * for the request.  Changes queue in order; done counts them.
	 */
	struct fuse_session *se;
	pthread_t notifier;
	bool notifier_running;
	pthread_mutex_t notify_lock;
	pthread_cond_t notify_cond;    /* a change queued or told, or stop */
	struct change *queue, **queue_tail;
	uint64_t changes_queued, changes_told;
	bool notify_stop;
};

/* Prepare the parts of fs that the operations own (call once, before mounting). */
void fs_init(struct fs *fs);

/*
 * Start the notifier for session se (after any fork), and have the cache
 * report its changes to it.  Returns 0 or an errno.
 */
int fs_notifier_start(struct fs *fs, struct fuse_session *se);

/* Stop it (before the session is unmounted); pending changes are dropped. */
void fs_notifier_stop(struct fs *fs);

/* The operations table for fuse_session_new(), with a struct fs as userdata. */
const struct fuse_lowlevel_ops *fs_operations(void);

/* The errno a failure of this kind is reported as. */
int fs_errno(enum err_kind kind);

#endif
