/*
 * inval.c - the notifier; see inval.h.
 */
#include "inval.h"

#include <signal.h>
#include <stdlib.h>

#include "fs.h"  /* libfuse, at the version the FUSE layer uses */
#include "tree.h"

/* A refresh to tell the kernel about: snapshot from became to. */
struct inval_change {
	struct inval_change *next;
	struct snapshot *from, *to;
};

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

static void *inval_loop(void *arg)
{
	struct inval *iv = arg;
	struct inval_change *c;
	bool stop;

	pthread_mutex_lock(&iv->lock);
	for (;;) {
		while (!iv->queue && !iv->stop)
			pthread_cond_wait(&iv->cond, &iv->lock);
		c = iv->queue;
		if (!c)
			break;
		iv->queue = c->next;
		if (!iv->queue)
			iv->queue_tail = &iv->queue;
		stop = iv->stop;
		pthread_mutex_unlock(&iv->lock);
		if (!stop)
			tree_diff(c->from, c->to, &tell_ops, iv);
		snap_unref(c->from);
		snap_unref(c->to);
		free(c);
		pthread_mutex_lock(&iv->lock);
		iv->told++;
		pthread_cond_broadcast(&iv->cond);
	}
	pthread_mutex_unlock(&iv->lock);
	return NULL;
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
