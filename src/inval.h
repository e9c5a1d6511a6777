/*
 * inval.h - the notifier: a thread that tells the kernel what each refresh
 * changed (fuse_lowlevel_notify_inval_entry and _inode, for what
 * tree_diff finds), so that what the kernel caches can be kept until then.
 * It is not a request thread, which could deadlock on the locks the kernel
 * holds for the request.  It also puts the bodies of a
 * token's files into the page cache once one of them is read
 * (fuse_lowlevel_notify_store), which spares a walk a round trip per file,
 * and those of the tokens listed after it, which spares a walk that finds
 * the page cache dropped (reclaim) a round trip per token.
 * Part of the FUSE layer, with fs.c.
 */
#ifndef SYNERGYFS_INVAL_H
#define SYNERGYFS_INVAL_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "cache.h"

struct fuse_session;
struct held;
struct inval_change;

/* Tokens whose files to store: snap->tok[first, end) (snap is a reference). */
struct inval_store {
	struct snapshot *snap;
	size_t first, end;
};

/* Stores wait in a ring of this many; more are dropped (they only save time). */
#define INVAL_STORE_RING 256

/*
 * How many tokens, from the one read, a read of a token's file that is not
 * in the page cache has stored: the walk reads the next ones next, and
 * what dropped this one (reclaim) dropped those too.
 */
#define INVAL_STORE_AHEAD 16

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
	struct held *held;      /* versions the kernel holds (held_retire) */
	struct inval_store stores[INVAL_STORE_RING];
	unsigned store_head, store_count;
	/*
	 * The last run queued: snapshot serial and tokens [first, end); next
	 * is the token the notifier stores next (a walk that gets ahead of it
	 * moves next up to where it reads).
	 */
	uint64_t run_serial;
	size_t run_first, run_next, run_end;
	bool stop;
};

/* Prepare iv (call once, before anything else). */
void inval_init(struct inval *iv);

/*
 * Start the thread for session se (after any fork), and have cache report
 * its changes to it; held learns of each before the kernel does.  Returns 0 or an errno.
 */
int inval_start(struct inval *iv, struct fuse_session *se, struct cache *cache,
		struct held *held);

/*
 * Ask for the bodies of the files of token tok of snapshot s (which gets
 * a reference), and of the tokens after it up to count in all, to be put
 * into the kernel's page cache, unless a refresh replaced s first.  The
 * run stops at the first token whose folder the kernel has not listed
 * (snap_marked): it holds no inodes for its files.  For a request thread:
 * it does not wait, and when many are pending it does nothing.  When tok
 * is in the last run asked for, the run goes on from tok if it has not
 * got that far: the tokens before it were read without it.
 */
void inval_prefetch(struct inval *iv, struct snapshot *s, const struct snap_token *tok,
		    size_t count);

/* Stop it (before the session is unmounted); pending changes are dropped. */
void inval_stop(struct inval *iv);

/*
 * Wait until the kernel has been told of every change queued so far.  Only
 * for a request that holds no lock the notifier needs: a write to refresh.
 */
void inval_wait(struct inval *iv);

#endif
