/*
 * inval.c - the notifier; see inval.h.
 */
#include "inval.h"

#include <signal.h>
#include <stdlib.h>

#include "fs.h"  /* libfuse, at the version the FUSE layer uses */
#include "snapshot.h"
#include "tree.h"

/* A refresh to tell the kernel about: snapshot from became to. */
struct inval_change {
	struct inval_change *next;
	struct snapshot *from, *to;
};

static void change_free(struct inval_change *c)
{
	snap_unref(c->from);
	snap_unref(c->to);
	free(c);
}

/* The cache's listener: queue the change (see cache_set_listener). */
static void queue_change(void *ctx, struct snapshot *old, struct snapshot *new_)
{
	struct inval *iv = ctx;
	struct inval_change *c = malloc(sizeof(*c));

	/*
	 * Without memory the kernel is not told: what it caches still ends
	 * with the timeouts, which never pass the TTL, and with the mtimes.
	 */
	if (!c)
		return;
	*c = (struct inval_change){ .from = snap_ref(old), .to = snap_ref(new_) };
	pthread_mutex_lock(&iv->lock);
	if (iv->stop) {
		/* Nothing is told once stopped: the session is ending. */
		pthread_mutex_unlock(&iv->lock);
		change_free(c);
		return;
	}
	*iv->queue_tail = c;
	iv->queue_tail = &c->next;
	iv->queued++;
	pthread_cond_broadcast(&iv->cond);
	pthread_mutex_unlock(&iv->lock);
}

/* Drop what the kernel holds of node ino: its attributes, and its contents too. */
static void tell_node(void *ctx, uint64_t ino, bool content)
{
	struct inval *iv = ctx;

	/* ENOENT (a node the kernel does not hold) is the common answer. */
	fuse_lowlevel_notify_inval_inode(iv->se, ino, content ? 0 : -1, 0);
}

/* Drop the kernel's entry (or its memory of an absence) for name in parent. */
static void tell_entry(void *ctx, uint64_t parent, const char *name, size_t len)
{
	struct inval *iv = ctx;

	fuse_lowlevel_notify_inval_entry(iv->se, parent, name, len);
}

static const struct tree_diff_ops tell_ops = { tell_node, tell_entry };

/*
 * Put the bodies of the files of token st->tok into the page cache, if its
 * snapshot is still the current one.  Should a refresh replace it while
 * this runs, the change it queues is told after, which drops what this
 * stored.  The clock files are left to reads: their size can change at
 * any moment, and a body stored that is shorter than the size the kernel
 * holds would read with trailing zeros.
 */
static void store_token(struct inval *iv, const struct inval_store *st)
{
	struct snapshot *cur = cache_peek(iv->cache, NULL);
	char *scratch = NULL;
	size_t cap = 0;

	if (cur == st->snap) {
		for (unsigned f = 0; f < SNAP_NFILES; f++) {
			struct tree_node n;
			struct fuse_bufvec bv = FUSE_BUFVEC_INIT(0);
			size_t len = 0;
			const char *body;

			tree_token_file(st->tok, (enum snap_file)f, &n);
			body = tree_body(st->snap, &n, &len, &scratch, &cap);
			if (!body || len == 0)
				continue;
			bv.buf[0].mem = (void *)body;
			bv.buf[0].size = len;
			/* ENOENT: the kernel holds no inode for it (not looked up yet). */
			fuse_lowlevel_notify_store(iv->se, n.ino, 0, &bv, 0);
		}
	}
	free(scratch);
	snap_unref(cur);
}

/* Take the oldest store off the ring (iv->lock held, the ring not empty). */
static struct inval_store store_pop(struct inval *iv)
{
	struct inval_store st = iv->stores[iv->store_head];

	iv->store_head = (iv->store_head + 1) % INVAL_STORE_RING;
	iv->store_count--;
	return st;
}

static void *inval_loop(void *arg)
{
	struct inval *iv = arg;
	struct inval_change *c;
	struct inval_store st;

	pthread_mutex_lock(&iv->lock);
	for (;;) {
		while (!iv->queue && !iv->store_count && !iv->stop)
			pthread_cond_wait(&iv->cond, &iv->lock);
		if (iv->stop)
			break;
		c = iv->queue;
		if (c) {
			/* Changes first: a write to refresh waits for them. */
			iv->queue = c->next;
			if (!iv->queue)
				iv->queue_tail = &iv->queue;
			pthread_mutex_unlock(&iv->lock);
			tree_diff(c->from, c->to, &tell_ops, iv);
			change_free(c);
			pthread_mutex_lock(&iv->lock);
			iv->told++;
			pthread_cond_broadcast(&iv->cond);
		} else {
			st = store_pop(iv);
			pthread_mutex_unlock(&iv->lock);
			store_token(iv, &st);
			snap_unref(st.snap);
			pthread_mutex_lock(&iv->lock);
		}
	}
	pthread_mutex_unlock(&iv->lock);
	return NULL;
}

/* Drop what is still queued (the thread gone). */
static void drop_queued(struct inval *iv)
{
	while (iv->queue) {
		struct inval_change *c = iv->queue;

		iv->queue = c->next;
		change_free(c);
	}
	iv->queue_tail = &iv->queue;
	while (iv->store_count)
		snap_unref(store_pop(iv).snap);
}

void inval_prefetch(struct inval *iv, struct snapshot *s, const struct snap_token *tok)
{
	unsigned last;

	pthread_mutex_lock(&iv->lock);
	last = (iv->store_head + iv->store_count + INVAL_STORE_RING - 1) % INVAL_STORE_RING;
	if (iv->running && !iv->stop && iv->store_count < INVAL_STORE_RING &&
	    !(iv->store_count && iv->stores[last].tok == tok)) {
		last = (last + 1) % INVAL_STORE_RING;
		iv->stores[last] = (struct inval_store){ .snap = snap_ref(s), .tok = tok };
		iv->store_count++;
		pthread_cond_broadcast(&iv->cond);
	}
	pthread_mutex_unlock(&iv->lock);
}

void inval_init(struct inval *iv)
{
	*iv = (struct inval){ .queue = NULL };
	iv->queue_tail = &iv->queue;
	pthread_mutex_init(&iv->lock, NULL);
	pthread_cond_init(&iv->cond, NULL);
}

int inval_start(struct inval *iv, struct fuse_session *se, struct cache *cache)
{
	sigset_t all, old;
	int rc;

	iv->se = se;
	iv->cache = cache;
	/* Signals are for the thread that runs the loop. */
	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, &old);
	rc = pthread_create(&iv->thread, NULL, inval_loop, iv);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (rc)
		return rc;
	iv->running = true;
	cache_set_listener(cache, queue_change, iv);
	return 0;
}

void inval_stop(struct inval *iv)
{
	if (!iv->running)
		return;
	pthread_mutex_lock(&iv->lock);
	iv->stop = true;
	pthread_cond_broadcast(&iv->cond);
	pthread_mutex_unlock(&iv->lock);
	pthread_join(iv->thread, NULL);
	iv->running = false;
	drop_queued(iv);
}

void inval_wait(struct inval *iv)
{
	uint64_t target;

	pthread_mutex_lock(&iv->lock);
	target = iv->queued;
	while (iv->running && !iv->stop && iv->told < target)
		pthread_cond_wait(&iv->cond, &iv->lock);
	pthread_mutex_unlock(&iv->lock);
}
