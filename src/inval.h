/*
 * inval.h - the notifier: a thread that tells the kernel what each refresh
 * changed (fuse_lowlevel_notify_inval_entry and _inode, for what
 * tree_diff finds), so that what the kernel caches can be kept until then.
 * It is not a request thread, which could deadlock on the locks the kernel
 * holds for the request.  Part of the FUSE layer, with fs.c.
 */
#ifndef SYNERGYFS_INVAL_H
#define SYNERGYFS_INVAL_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "cache.h"

struct fuse_session;
struct inval_change;

/* Changes queue in order; told counts those the kernel has heard of. */
struct inval {
	struct fuse_session *se;
	pthread_t thread;
	bool running;
	pthread_mutex_t lock;
	pthread_cond_t cond;    /* a change queued or told, or stop */
	struct inval_change *queue, **queue_tail;
	uint64_t queued, told;
	bool stop;
};

/* Prepare iv (call once, before anything else). */
void inval_init(struct inval *iv);

/*
 * Start the thread for session se (after any fork), and have cache report
 * its changes to it.  Returns 0 or an errno.
 */
int inval_start(struct inval *iv, struct fuse_session *se, struct cache *cache);

/* Stop it (before the session is unmounted); pending changes are dropped. */
void inval_stop(struct inval *iv);

/*
 * Wait until the kernel has been told of every change queued so far.  Only
 * for a request that holds no lock the notifier needs: a write to refresh.
 */
void inval_wait(struct inval *iv);

#endif
