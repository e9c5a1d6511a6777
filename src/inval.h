/*
 * inval.h - the notifier: tells the kernel what each refresh changed
 * (fuse_lowlevel_notify_inval_entry and _inode, for what tree_diff finds),
 * so that what the kernel caches can be kept until then.  It runs on
 * threads of its own, not a request thread, which could deadlock on the
 * locks the kernel holds for the request: one for the entries in tokens/
 * and the token folders (rmdir there holds their locks), one for the rest.  The cache hands it each refresh
 * (cache_set_listener) in order; held.h learns of each before the kernel.
 *
 * Owns: the refreshes not yet told, and its two threads.
 * Must not touch: the page cache's contents (prefetch.h stores them), the
 * cache's snapshots beyond the references it is handed.
 */
#ifndef SYNERGYFS_INVAL_H
#define SYNERGYFS_INVAL_H

#include "cache.h"

struct fuse_session;
struct held;
struct inval;

/* A notifier, not started yet.  NULL when memory runs out. */
struct inval *inval_new(void);

/* Stop iv (if started) and free it. */
void inval_free(struct inval *iv);

/*
 * Start the thread for session se (after any fork), and have cache hand
 * it each refresh; held learns of each before the kernel does.  Returns 0
 * or an errno.
 */
int inval_start(struct inval *iv, struct fuse_session *se, struct cache *cache,
		struct held *held);

/* Stop it (before the session is unmounted); refreshes not yet told are dropped. */
void inval_stop(struct inval *iv);

/*
 * Wait until the kernel has been told of every refresh handed over so far.
 * Only for a request that holds no lock the notifier needs: synergyfs
 * --refresh after cache_refresh, mkdir in new/ (whose lock it never needs).
 */
void inval_wait(struct inval *iv);

/*
 * As inval_wait, but for all except the entries in tokens/ and in the
 * token folders (tree_ino_in_tokens): those are told by a thread of their
 * own, which rmdir in tokens/ must not wait for, as it holds their lock.
 */
void inval_wait_outside_tokens(struct inval *iv);

#endif
