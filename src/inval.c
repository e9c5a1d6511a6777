/*
 * inval.c - the notifier; see inval.h.
 */
#include "inval.h"

#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdlib.h>
#include <time.h>

#include "fs.h"  /* libfuse, at the version the FUSE layer uses */
#include "held.h"
#include "log.h"
#include "snapshot.h"
#include "timestamp.h"
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

/*
 * The cache's listener: the versions the kernel holds that new_ replaced
 * keep old from now on (held_retire, at once: a reader must not miss them
 * while the kernel is told), then queue the change for the kernel.
 */
static void queue_change(void *ctx, struct snapshot *old, struct snapshot *new_)
{
	struct inval *iv = ctx;
	struct inval_change *c;

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
 * How long before a clock file's body next changes it is no longer stored:
 * the store must reach the kernel inside the span (see store_token).
 */
#define STORE_CLOCK_MARGIN 1.0

/*
 * Put body (len bytes) into the page cache of inode ino.  Each store is
 * logged with the kernel's answer: the tests tell a store never made from
 * a stored page that reclaim dropped by it.
 */
static void store_body(struct inval *iv, uint64_t ino, const char *body, size_t len)
{
	struct fuse_bufvec bv = FUSE_BUFVEC_INIT(len);
	int rc;

	if (!body || len == 0)
		return;
	bv.buf[0].mem = (void *)body;
	/* ENOENT: the kernel holds no inode for it (not looked up yet). */
	rc = fuse_lowlevel_notify_store(iv->se, ino, 0, &bv, 0);
	if (rc == 0)
		log_debug("kernel store into inode %" PRIu64 ", %zu bytes: accepted", ino, len);
	else
		log_debug("kernel store into inode %" PRIu64 ", %zu bytes: refused, errno %d",
			  ino, len, -rc);
}

/* Is there less than STORE_CLOCK_MARGIN left of the span that holds now? */
static bool span_ending(struct timespec now, struct timespec until)
{
	return ts_seconds(now, until) < STORE_CLOCK_MARGIN;
}

/*
 * Put the bodies of the files of token t of snapshot s into the page cache.
 * A clock file keeps its body over a span of time, and the kernel drops
 * what it holds of it when it gets attributes with another size or mtime
 * (auto_inval_data).  So its body is stored only when the kernel listed
 * the folder inside the span (readdirplus: attributes of this span, kept
 * until just before it ends), and not close to the end of the span: then
 * the size the kernel holds is the length of what is stored.  Otherwise a
 * body shorter than that size would leave bytes of the one it overwrites.
 */
static void store_token(struct inval *iv, const struct snapshot *s, const struct snap_token *t,
			char **scratch, size_t *cap)
{
	struct tree_clock clk = { .expiring_days = 0 };
	struct timespec since, until, now;
	struct tree_node n;
	char clock_body[32];
	size_t len = 0;
	const char *body;

	for (unsigned f = 0; f < SNAP_NFILES; f++) {
		tree_token_file(t, (enum snap_file)f, &n);
		body = tree_body(s, &n, &len, scratch, cap);
		store_body(iv, n.ino, body, len);
	}
	clock_gettime(CLOCK_REALTIME, &clk.now);
	for (unsigned c = 0; c < TREE_NCLOCK; c++) {
		bool ends;

		tree_token_clock(t, (enum tree_clock_file)c, &n);
		ends = tree_clock_span(&n, &clk, &since, &until);
		if ((ends && span_ending(clk.now, until)) || !snap_marked_after(s, t, since))
			continue;
		len = tree_clock_body(&n, &clk, clock_body, sizeof(clock_body));
		store_body(iv, n.ino, clock_body, len);
		/*
		 * Held up until close to the end of the span, the store may have
		 * come after the kernel asked for the next span's attributes:
		 * drop it.
		 */
		clock_gettime(CLOCK_REALTIME, &now);
		if (ends && span_ending(now, until)) {
			fuse_lowlevel_notify_inval_inode(iv->se, n.ino, 0, 0);
			log_debug("kernel store into inode %" PRIu64 " withdrawn", n.ino);
		}
	}
}

/*
 * Which token of run st to store next, from i on (iv->lock held): i, or
 * further on if it is the last run and a walk got ahead of it.  Returns
 * st->end when the run is over: when a later run was asked for (the walk
 * has gone past this one), once the token read is stored; at a token whose
 * folder the kernel has not listed, and then the run no longer covers the
 * tokens from there.
 */
static size_t run_next(struct inval *iv, const struct inval_store *st, size_t i)
{
	const struct snapshot *s = st->snap;
	bool last = iv->run_serial == s->serial && iv->run_first == st->first;

	if (!last && i > st->first)
		return st->end;
	if (last && iv->run_next > i)
		i = iv->run_next;
	if (i < st->end && !snap_marked(s, &s->tok[i])) {
		if (last)
			iv->run_end = i;
		return st->end;
	}
	if (last && i < st->end)
		iv->run_next = i + 1;
	return i;
}

/*
 * Store the tokens of run st, while its snapshot is still the current one.
 * Should a refresh replace it meanwhile, the change it queues is told
 * after, which drops what this stored.
 */
static void store_run(struct inval *iv, const struct inval_store *st)
{
	const struct snapshot *s = st->snap;
	char *scratch = NULL;
	size_t cap = 0, stored = 0;

	for (size_t i = st->first;; i++) {
		struct snapshot *cur;
		bool current;

		pthread_mutex_lock(&iv->lock);
		i = run_next(iv, st, i);
		pthread_mutex_unlock(&iv->lock);
		if (i >= st->end)
			break;
		cur = cache_peek(iv->cache, NULL);
		current = cur == s;
		snap_unref(cur);
		if (!current)
			break;
		store_token(iv, s, &s->tok[i], &scratch, &cap);
		stored++;
	}
	free(scratch);
	/* Tests wait for this line before they look at what was not stored. */
	if (st->first < s->n)
		log_debug("kernel store run from token %" PRId64 " done: %zu stored",
			  s->tok[st->first].id, stored);
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
			store_run(iv, &st);
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

void inval_prefetch(struct inval *iv, struct snapshot *s, const struct snap_token *tok,
		    size_t count)
{
	size_t i = (size_t)(tok - s->tok);
	unsigned slot;

	pthread_mutex_lock(&iv->lock);
	if (iv->run_serial == s->serial && i >= iv->run_first && i < iv->run_end) {
		if (i > iv->run_next)
			iv->run_next = i;
	} else if (iv->running && !iv->stop && iv->store_count < INVAL_STORE_RING) {
		slot = (iv->store_head + iv->store_count) % INVAL_STORE_RING;
		iv->stores[slot] = (struct inval_store){
			.snap = snap_ref(s),
			.first = i,
			.end = count < s->n - i ? i + count : s->n,
		};
		iv->store_count++;
		iv->run_serial = s->serial;
		iv->run_first = iv->run_next = i;
		iv->run_end = iv->stores[slot].end;
		pthread_cond_broadcast(&iv->cond);
	}
	pthread_mutex_unlock(&iv->lock);
}

void inval_init(struct inval *iv)
{
	pthread_condattr_t ca;

	*iv = (struct inval){ .queue = NULL };
	iv->queue_tail = &iv->queue;
	pthread_mutex_init(&iv->lock, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&iv->cond, &ca);
	pthread_condattr_destroy(&ca);
}

int inval_start(struct inval *iv, struct fuse_session *se, struct cache *cache,
		struct held *held)
{
	sigset_t all, old;
	int rc;

	iv->se = se;
	iv->cache = cache;
	iv->held = held;
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
