/*
 * inval.h - the notifier: a thread that tells the kernel what each refresh
 * changed (fuse_lowlevel_notify_inval_entry and _inode, for what
 * tree_diff finds), so that what the kernel caches can be kept until then.
 * It is not a request thread, which could deadlock on the locks the kernel
 * holds for the request.  With kernel_cache it also puts the bodies of a
 * token's files into the page cache once one of them is read
 * (fuse_lowlevel_notify_store), which spares a walk a round trip per file.
 * Part of the FUSE layer, with fs.c.
 */
#ifndef SYNERGYFS_INVAL_H
#define SYNERGYFS_INVAL_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "cache.h"

struct fuse_session;
struct inval_change;

/* A token whose files to store: tok of snapshot snap (a reference, which keeps tok). */
struct inval_store {
	struct snapshot *snap;
	const struct snap_token *tok;
};

/* Stores wait in a ring of this many; more are dropped (they only save time). */
#define INVAL_STORE_RING 256

/* Changes queue in order; told counts those the kernel has heard of. */
struct inval {
	struct fuse_session *se;
	pthread_t thread;
	bool running;
	pthread_mutex_t lock;
	pthread_cond_t cond;    /* a change queued or told, or stop */
	struct inval_change *queue, **queue_tail;
	uint64_t queued, told;
	struct cache *cache;    /* whose current snapshot a store must be of */
	struct inval_store stores[INVAL_STORE_RING];
	unsigned store_head, store_count;
	bool stop;
};

/* Prepare iv (call once, before anything else). */
void inval_init(struct inval *iv);

/*
 * Start the thread for session se (after any fork), and have cache report
 * its changes to it.  Returns 0 or an errno.
 */
int inval_start(struct inval *iv, struct fuse_session *se, struct cache *cache);

/*
 * Ask for the bodies of the files of token tok of snapshot s (which gets
 * a reference) to be put into the kernel's page cache, unless a refresh
 * replaced s first.  For a request thread: it does not wait, and when
 * many are pending, or the same token was just asked for, it does nothing.
 * Only for a mount whose page cache outlives opens (kernel_cache).
 */
void inval_prefetch(struct inval *iv, struct snapshot *s, const struct snap_token *tok);

/* Stop it (before the session is unmounted); pending changes are dropped. */
void inval_stop(struct inval *iv);

/*
 * Wait until the kernel has been told of every change queued so far.  Only
 * for a request that holds no lock the notifier needs: a write to refresh.
 */
void inval_wait(struct inval *iv);

#endif
