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
#include "tree.h"
#include "tree_diff.h"

/* A refresh to tell the kernel about: snapshot from became to. */
struct change {
	struct change *next;
	struct snapshot *from, *to;
};

/*
 * One thread telling the kernel, in order, one part of each refresh:
 * entries in tokens/ and the token folders (apart), or everything else.
 * told counts the refreshes it has told its part of.
 */
struct teller {
	struct inval *iv;
	bool apart;
	pthread_t thread;
	struct change *queue, **queue_tail;
	uint64_t queued, told;
};

struct inval {
	struct fuse_session *se;
	struct cache *cache;    /* whose listener it is, once started */
	struct held *held;      /* versions the kernel holds (held_retire) */
	bool running;
	bool stop;
	pthread_mutex_t lock;
	pthread_cond_t cond;    /* a change queued or told, or stop */
	struct teller part[2];  /* [0]: all but the apart entries; [1]: those */
};

static void change_free(struct change *c)
{
	snap_unref(c->from);
	snap_unref(c->to);
	free(c);
}

/* Queue a change from old to new_ on t (nothing without memory); the caller holds the lock. */
static void queue_on(struct teller *t, struct snapshot *old, struct snapshot *new_)
{
	struct change *c = malloc(sizeof(*c));

	if (!c)
		return;
	*c = (struct change){ .from = snap_ref(old), .to = snap_ref(new_) };
	*t->queue_tail = c;
	t->queue_tail = &c->next;
	t->queued++;
}

/*
 * The cache's listener: the versions the kernel holds that new_ replaced
 * keep old from now on (held_retire, at once: a reader must not miss them
 * while the kernel is told), then queue the change for the kernel.
 * Without memory the kernel is not told: what it caches still ends with
 * the timeouts, which never pass the TTL, and with the mtimes.
 */
static void queue_change(void *ctx, struct snapshot *old, struct snapshot *new_)
{
	struct inval *iv = ctx;

	held_retire(iv->held, old, new_);
	if (!old)
		return; /* the first list: nothing to tell */
	pthread_mutex_lock(&iv->lock);
	/* Nothing is told once stopped: the session is ending. */
	if (!iv->stop) {
		for (int i = 0; i < 2; i++)
			queue_on(&iv->part[i], old, new_);
	}
	pthread_cond_broadcast(&iv->cond);
	pthread_mutex_unlock(&iv->lock);
}

/* Drop what the kernel holds of node ino: its attributes, and its contents too. */
static void tell_node(void *ctx, uint64_t ino, bool content)
{
	struct teller *t = ctx;

	/* ENOENT (a node the kernel does not hold) is the common answer. */
	if (!t->apart)
		fuse_lowlevel_notify_inval_inode(t->iv->se, ino, content ? 0 : -1, 0);
}

/* Drop the kernel's entry (or its memory of an absence) for name in parent, if t's to tell. */
static void tell_entry(void *ctx, uint64_t parent, const char *name, size_t len)
{
	struct teller *t = ctx;

	if (tree_ino_in_tokens(parent) == t->apart)
		fuse_lowlevel_notify_inval_entry(t->iv->se, parent, name, len);
}

static const struct tree_diff_ops tell_ops = { tell_node, tell_entry };

static void *inval_loop(void *arg)
{
	struct teller *t = arg;
	struct inval *iv = t->iv;
	struct change *c;

	pthread_mutex_lock(&iv->lock);
	for (;;) {
		while (!t->queue && !iv->stop)
			pthread_cond_wait(&iv->cond, &iv->lock);
		if (iv->stop)
			break;
		c = t->queue;
		t->queue = c->next;
		if (!t->queue)
			t->queue_tail = &t->queue;
		pthread_mutex_unlock(&iv->lock);
		tree_diff(c->from, c->to, &tell_ops, t);
		change_free(c);
		pthread_mutex_lock(&iv->lock);
		t->told++;
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
	for (int i = 0; i < 2; i++) {
		iv->part[i].iv = iv;
		iv->part[i].apart = i == 1;
		iv->part[i].queue_tail = &iv->part[i].queue;
	}
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
	rc = thread_start(&iv->part[0].thread, inval_loop, &iv->part[0]);
	if (rc)
		return rc;
	rc = thread_start(&iv->part[1].thread, inval_loop, &iv->part[1]);
	if (rc) {
		pthread_mutex_lock(&iv->lock);
		iv->stop = true;
		pthread_cond_broadcast(&iv->cond);
		pthread_mutex_unlock(&iv->lock);
		pthread_join(iv->part[0].thread, NULL);
		return rc;
	}
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
	for (int i = 0; i < 2; i++)
		pthread_join(iv->part[i].thread, NULL);
	pthread_mutex_lock(&iv->lock);
	iv->running = false;
	for (int i = 0; i < 2; i++) {
		struct teller *t = &iv->part[i];

		while (t->queue) {
			struct change *c = t->queue;

			t->queue = c->next;
			change_free(c);
		}
		t->queue_tail = &t->queue;
	}
	pthread_mutex_unlock(&iv->lock);
}

/* Wait until the tellers from first to last (0 or 1) have told what is queued now. */
static void wait_parts(struct inval *iv, int first, int last)
{
	uint64_t target[2];

	pthread_mutex_lock(&iv->lock);
	for (int i = first; i <= last; i++)
		target[i] = iv->part[i].queued;
	for (int i = first; i <= last; i++) {
		while (iv->running && !iv->stop && iv->part[i].told < target[i])
			pthread_cond_wait(&iv->cond, &iv->lock);
	}
	pthread_mutex_unlock(&iv->lock);
}

void inval_wait(struct inval *iv)
{
	wait_parts(iv, 0, 1);
}

void inval_wait_outside_tokens(struct inval *iv)
{
	wait_parts(iv, 0, 0);
}
