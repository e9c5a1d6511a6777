/*
 * inval.c - the notifier; see inval.h.
 */
#include "inval.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>

#include "fuse_version.h"
#include "held.h"
#include "snapshot.h"
#include "thread.h"
#include "tree_diff.h"

/* A refresh to tell the kernel about: snapshot from became to. */
struct change {
	struct change *next;
	struct snapshot *from, *to;
};

/* Refreshes queue in order; told counts those the kernel has heard of. */
struct inval {
	struct fuse_session *se;
	struct cache *cache;    /* whose listener it is, once started */
	struct held *held;      /* versions the kernel holds (held_retire) */
	pthread_t thread;
	bool running;
	bool stop;
	pthread_mutex_t lock;
	pthread_cond_t cond;    /* a change queued or told, or stop */
	struct change *queue, **queue_tail;
	uint64_t queued, told;
};

static void change_free(struct change *c)
{
	snap_unref(c->from);
	snap_unref(c->to);
	free(c);
}

/*
 * The cache's listener: the versions the kernel holds that new_ replaced
 * keep old from now on (held_retire, at once: a reader must not miss them
 * while the kernel is told), then queue the change for the kernel.
 */
static void queue_change(void *ctx, struct snapshot *old, struct snapshot *new_)
{
	struct inval *iv = ctx;
	struct change *c;

	held_retire(iv->held, old, new_);
	if (!old)
		return; /* the first list: nothing to tell */
	c = malloc(sizeof(*c));

	/*
	 * Without memory the kernel is not told: what it caches still ends
	 * with the timeouts, which never pass the TTL, and with the mtimes.
	 */
	if (!c)
		return;
	*c = (struct change){ .from = snap_ref(old), .to = snap_ref(new_) };
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

static void *inval_loop(void *arg)
{
	struct inval *iv = arg;
	struct change *c;

	pthread_mutex_lock(&iv->lock);
	for (;;) {
		while (!iv->queue && !iv->stop)
			pthread_cond_wait(&iv->cond, &iv->lock);
		if (iv->stop)
			break;
		c = iv->queue;
		iv->queue = c->next;
		if (!iv->queue)
			iv->queue_tail = &iv->queue;
		pthread_mutex_unlock(&iv->lock);
		tree_diff(c->from, c->to, &tell_ops, iv);
		change_free(c);
		pthread_mutex_lock(&iv->lock);
		iv->told++;
		pthread_cond_broadcast(&iv->cond);
	}
	pthread_mutex_unlock(&iv->lock);
	return NULL;
}

struct inval *inval_new(void)
{
	struct inval *iv = calloc(1, sizeof(*iv));

	if (!iv)
		return NULL;
	iv->queue_tail = &iv->queue;
	pthread_mutex_init(&iv->lock, NULL);
	pthread_cond_init(&iv->cond, NULL);
	return iv;
}

void inval_free(struct inval *iv)
{
	if (!iv)
		return;
	inval_stop(iv);
	pthread_cond_destroy(&iv->cond);
	pthread_mutex_destroy(&iv->lock);
	free(iv);
}

int inval_start(struct inval *iv, struct fuse_session *se, struct cache *cache,
		struct held *held)
{
	int rc;

	iv->se = se;
	iv->held = held;
	rc = thread_start(&iv->thread, inval_loop, iv);
	if (rc)
		return rc;
	pthread_mutex_lock(&iv->lock);
	iv->running = true;
	iv->cache = cache;
	pthread_mutex_unlock(&iv->lock);
	cache_set_listener(cache, queue_change, iv);
	return 0;
}

void inval_stop(struct inval *iv)
{
	pthread_mutex_lock(&iv->lock);
	if (!iv->running) {
		pthread_mutex_unlock(&iv->lock);
		return;
	}
	iv->stop = true;
	pthread_cond_broadcast(&iv->cond);
	pthread_mutex_unlock(&iv->lock);
	/* Once this returns the cache no longer calls queue_change. */
	cache_set_listener(iv->cache, NULL, NULL);
	pthread_join(iv->thread, NULL);
	pthread_mutex_lock(&iv->lock);
	iv->running = false;
	while (iv->queue) {
		struct change *c = iv->queue;

		iv->queue = c->next;
		change_free(c);
	}
	iv->queue_tail = &iv->queue;
	pthread_mutex_unlock(&iv->lock);
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
