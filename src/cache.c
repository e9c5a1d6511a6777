/*
 * cache.c - TTL, single-flight refresh and stale-if-error; see cache.h.
 */
#include "cache.h"

#include <inttypes.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "thread.h"

struct cache {
	pthread_mutex_t lock;
	pthread_cond_t done;       /* signalled when a fetch ends */
	pthread_cond_t wake;       /* signalled when the worker has a fetch to run */
	pthread_t worker;          /* runs the fetches and lets go of replaced
				      snapshots on time; started at the first fetch */
	bool worker_started;
	bool want;                 /* a fetch is asked of the worker */
	bool closing;              /* cache_close: nothing waits any more */
	double ttl;
	double wait;               /* how long an access waits for a refresh */
	cache_fetch_fn fetch;
	void *ctx;
	struct snapshot *cur;      /* NULL until the first success */
	/* The last ones cur replaced, newest first, while findable (cache_find) */
	struct snapshot *replaced[CACHE_KEPT];
	double replaced_at[CACHE_KEPT]; /* monotonic seconds */
	size_t n_replaced;
	double keep;               /* CACHE_KEEP_REPLACED */
	double fresh_until;        /* monotonic seconds; cur is served, or the last
				      error answered, until then: the next try */
	bool fetching;             /* asked of the worker, or running */
	double fetch_began;        /* real monotonic seconds when it was asked for */
	uint64_t generation;       /* counts finished fetches */
	enum err_kind last_rc;     /* the outcome of the last finished fetch */
	unsigned failures;         /* consecutive failed fetches */
	struct err last_error;
	char logged[sizeof(((struct err *)0)->msg)]; /* the failure last logged */
	struct cache_stats stats;
	cache_listener_fn listener;
	void *listener_ctx;
	bool telling;              /* the listener is being called (done signals the end) */
	double (*clock)(void *arg); /* cache_set_clock; NULL: the monotonic clock */
	void *clock_arg;
};

static double real_mono(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* t plus seconds (>= 0), normalised. */
static struct timespec ts_after(struct timespec t, double seconds)
{
	time_t whole = (time_t)seconds;

	t.tv_sec += whole;
	t.tv_nsec += (long)((seconds - (double)whole) * 1e9);
	if (t.tv_nsec >= 1000000000L) {
		t.tv_sec++;
		t.tv_nsec -= 1000000000L;
	}
	return t;
}

/* Monotonic seconds, as the cache counts TTLs and back-off steps. */
static double now_mono(const struct cache *c)
{
	return c->clock ? c->clock(c->clock_arg) : real_mono();
}

struct cache *cache_new(double ttl, cache_fetch_fn fetch, void *ctx)
{
	struct cache *c = calloc(1, sizeof(*c));
	pthread_condattr_t ca;

	if (!c)
		return NULL;
	pthread_mutex_init(&c->lock, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&c->done, &ca);
	pthread_cond_init(&c->wake, &ca);
	pthread_condattr_destroy(&ca);
	c->ttl = ttl;
	c->wait = CACHE_REFRESH_WAIT;
	c->fetch = fetch;
	c->ctx = ctx;
	c->keep = CACHE_KEEP_REPLACED;
	return c;
}

void cache_free(struct cache *c)
{
	if (!c)
		return;
	cache_close(c);
	if (c->worker_started)
		pthread_join(c->worker, NULL);
	snap_unref(c->cur);
	for (size_t i = 0; i < c->n_replaced; i++)
		snap_unref(c->replaced[i]);
	pthread_cond_destroy(&c->wake);
	pthread_cond_destroy(&c->done);
	pthread_mutex_destroy(&c->lock);
	free(c);
}

/*
 * How long stale data is served before the next attempt: doubling from one
 * second with each consecutive failure, never longer than the TTL.
 */
static double backoff(const struct cache *c)
{
	double d = 1.0;

	for (unsigned i = 1; i < c->failures && d < c->ttl; i++)
		d *= 2;
	return d < c->ttl ? d : c->ttl;
}

/* Log a failure when it starts or changes, and the recovery once. */
static void log_outcome(struct cache *c, enum err_kind rc)
{
	char when[32];
	struct tm tm;

	if (rc == ERR_OK) {
		if (c->logged[0])
			log_info("fetch ok again after %u failed attempt%s", c->failures,
				 c->failures == 1 ? "" : "s");
		c->logged[0] = '\0';
		return;
	}
	if (strcmp(c->logged, c->last_error.msg) == 0)
		return;
	memcpy(c->logged, c->last_error.msg, sizeof(c->logged));
	if (!c->cur) {
		log_error("fetching the token list failed: %s", c->last_error.msg);
		return;
	}
	localtime_r(&c->cur->fetched.tv_sec, &tm);
	strftime(when, sizeof(when), "%Y-%m-%d %H:%M:%S", &tm);
	log_warn("fetching the token list failed: %s; serving stale data fetched at %s",
		 c->last_error.msg, when);
}

/* Snapshots the cache let go of, to drop once its lock is released. */
struct dropped {
	struct snapshot *s[CACHE_KEPT];
	size_t n;
};

static void drop(struct dropped *d)
{
	for (size_t i = 0; i < d->n; i++)
		snap_unref(d->s[i]);
	d->n = 0;
}

/* Stop keeping the replaced snapshots whose time is up (c->lock held), into *d. */
static void let_go(struct cache *c, double now, struct dropped *d)
{
	while (c->n_replaced > 0 && now - c->replaced_at[c->n_replaced - 1] >= c->keep) {
		struct snapshot *s = c->replaced[--c->n_replaced];

		log_debug("the list of fetch %" PRIu64 " is no longer kept", s->serial);
		d->s[d->n++] = s;
	}
}

/* Keep old, which a fetch has just replaced (c->lock held); the oldest kept may go to *d. */
static void keep_replaced(struct cache *c, struct snapshot *old, double now, struct dropped *d)
{
	if (c->n_replaced == CACHE_KEPT)
		d->s[d->n++] = c->replaced[--c->n_replaced];
	memmove(c->replaced + 1, c->replaced, c->n_replaced * sizeof(c->replaced[0]));
	memmove(c->replaced_at + 1, c->replaced_at, c->n_replaced * sizeof(c->replaced_at[0]));
	c->replaced[0] = old;
	c->replaced_at[0] = now;
	c->n_replaced++;
}

/*
 * Tell the listener that new_ was installed in place of old (NULL for the
 * first; c->lock held, and released meanwhile).  Fetches run one at a time
 * and this one has not ended yet (c->fetching): changes are told in the
 * order they were made, and before cache_refresh returns.
 */
static void tell_listener(struct cache *c, struct snapshot *old, struct snapshot *new_)
{
	cache_listener_fn fn = c->listener;
	void *ctx = c->listener_ctx;

	/* Past the lock, old may be let go of: these references keep both. */
	if (old)
		snap_ref(old);
	snap_ref(new_);
	c->telling = true;
	pthread_mutex_unlock(&c->lock);
	fn(ctx, old, new_);
	snap_unref(old);
	snap_unref(new_);
	pthread_mutex_lock(&c->lock);
	c->telling = false;
	pthread_cond_broadcast(&c->done);
}

/*
 * Run the fetch asked for (c->fetching set) with the lock released and
 * install its outcome.  A failure is answered for a back-off step, list or
 * no list: every access meanwhile gets it at once, and sends nothing.
 */
static void run_fetch(struct cache *c)
{
	struct snapshot *snap = NULL, *old = NULL, *prev;
	struct dropped gone = { .n = 0 };
	struct err e;
	enum err_kind rc;
	double now;

	clock_gettime(CLOCK_REALTIME, &c->stats.fetch_started);
	/* Only this thread replaces c->cur: it is what snap replaces. */
	prev = c->cur ? snap_ref(c->cur) : NULL;
	pthread_mutex_unlock(&c->lock);
	err_clear(&e);
	rc = c->fetch(c->ctx, prev, &snap, &e);
	snap_unref(prev);
	pthread_mutex_lock(&c->lock);
	clock_gettime(CLOCK_REALTIME, &c->stats.last_attempt);
	c->stats.last_result = e;
	if (rc == ERR_OK) {
		c->stats.last_success = c->stats.last_attempt;
		old = c->cur;
		c->cur = snap;
		now = now_mono(c);
		if (old)
			keep_replaced(c, old, now, &gone);
		c->fresh_until = now + c->ttl;
		log_outcome(c, rc);
		c->failures = 0;
		c->stats.fetches_ok++;
		c->stats.stale = 0;
		c->stats.next_try = (struct timespec){ 0, 0 };
	} else {
		double step;

		c->last_error = e;
		c->failures++;
		c->stats.fetches_failed++;
		c->stats.last_error = e;
		c->stats.last_failure = c->stats.last_attempt;
		c->stats.stale = c->cur != NULL;
		step = backoff(c);
		c->fresh_until = now_mono(c) + step;
		c->stats.next_try = ts_after(c->stats.last_attempt, step);
		log_outcome(c, rc);
	}
	if (rc == ERR_OK && c->listener)
		tell_listener(c, old, snap);
	c->fetching = false;
	c->last_rc = rc;
	c->generation++;
	pthread_cond_broadcast(&c->done);
	if (gone.n) {
		/* The last reference may be ours: free it without the lock. */
		pthread_mutex_unlock(&c->lock);
		drop(&gone);
		pthread_mutex_lock(&c->lock);
	}
}

/*
 * Seconds from now until the oldest replaced snapshot kept is let go of,
 * or -1 when none is (c->lock held).
 */
static double keep_left(const struct cache *c, double now)
{
	if (c->n_replaced == 0)
		return -1;
	return c->replaced_at[c->n_replaced - 1] + c->keep - now;
}

/*
 * Wait (c->lock held) for a fetch to be asked for or the cache to close;
 * while a replaced snapshot is kept, only until its time is up (and a
 * little past it, so that it is up when the worker looks again).
 */
static void wait_work(struct cache *c)
{
	double left = keep_left(c, now_mono(c));
	struct timespec ts;

	if (left < 0) {
		pthread_cond_wait(&c->wake, &c->lock);
		return;
	}
	ts = ts_after((struct timespec){ 0, 0 }, real_mono() + left + 0.01);
	pthread_cond_timedwait(&c->wake, &c->lock, &ts);
}

/*
 * The worker: runs each fetch asked for, and lets go of the replaced
 * snapshots whose time is up even when no call comes to do it, until
 * cache_close.
 */
static void *work(void *arg)
{
	struct cache *c = arg;
	struct dropped gone = { .n = 0 };

	pthread_mutex_lock(&c->lock);
	while (!c->closing) {
		if (c->want) {
			c->want = false;
			run_fetch(c);
			continue;
		}
		/*
		 * Dropped with the lock held, unlike in the calls: a call that
		 * comes meanwhile waits, then finds it gone as if it had let
		 * go of it itself, not still being freed.
		 */
		let_go(c, now_mono(c), &gone);
		drop(&gone);
		wait_work(c);
	}
	pthread_mutex_unlock(&c->lock);
	return NULL;
}

/*
 * Ask for a fetch unless one is in flight (c->lock held).  It runs on the
 * worker, so that a waiting access can give up on it and answer stale; if
 * the worker cannot be started, it runs here.
 */
static void start_fetch(struct cache *c)
{
	if (c->fetching || c->closing)
		return;
	c->fetching = true;
	c->fetch_began = real_mono();
	if (!c->worker_started) {
		c->worker_started = thread_start(&c->worker, work, c) == 0;
		if (!c->worker_started) {
			log_warn("cannot start the fetch thread; fetching in the request's thread");
			run_fetch(c);
			return;
		}
	}
	c->want = true;
	pthread_cond_signal(&c->wake);
}

/*
 * Wait (c->lock held) until the fetch in flight ends or the cache closes;
 * with limit >= 0, also until limit seconds have passed.  Returns whether
 * the fetch ended.
 */
static bool wait_fetch(struct cache *c, double limit)
{
	uint64_t gen = c->generation;
	double end = real_mono() + limit;
	struct timespec ts;

	while (c->generation == gen && !c->closing) {
		if (limit < 0) {
			pthread_cond_wait(&c->done, &c->lock);
			continue;
		}
		if (real_mono() >= end)
			return false;
		ts = ts_after((struct timespec){ 0, 0 }, end);
		pthread_cond_timedwait(&c->done, &c->lock, &ts);
	}
	return c->generation != gen;
}

static void closed_error(struct err *e)
{
	err_set(e, ERR_NET, "synergyfs is shutting down");
}

struct snapshot *cache_get(struct cache *c, double *valid_for, struct err *e)
{
	struct snapshot *s = NULL;
	struct dropped gone = { .n = 0 };
	double now;

	pthread_mutex_lock(&c->lock);
	now = now_mono(c);
	if (!c->closing && now >= c->fresh_until) {
		/* Due: the list's TTL or the back-off step of a failure is over. */
		start_fetch(c);
		/*
		 * With a list to serve, the wait is bounded per fetch, not per
		 * access: a lookup, an open and a read each wait only until the
		 * same fetch has been in flight for c->wait seconds.
		 */
		if (c->fetching && !c->cur)
			wait_fetch(c, -1);
		else if (c->fetching && real_mono() < c->fetch_began + c->wait)
			wait_fetch(c, c->fetch_began + c->wait - real_mono());
		now = now_mono(c);
	}
	/* Whatever the fetch left is the answer, even if stale. */
	if (c->cur) {
		s = snap_ref(c->cur);
		/* While a refresh is in flight, the kernel must come back. */
		*valid_for = !c->fetching && c->fresh_until > now ? c->fresh_until - now : 0;
	} else if (e && c->closing) {
		closed_error(e);
	} else if (e) {
		*e = c->last_error;
	}
	let_go(c, now, &gone);
	pthread_mutex_unlock(&c->lock);
	drop(&gone);
	return s;
}

void cache_kick(struct cache *c)
{
	pthread_mutex_lock(&c->lock);
	if (!c->closing && now_mono(c) >= c->fresh_until)
		start_fetch(c);
	pthread_mutex_unlock(&c->lock);
}

struct snapshot *cache_peek(struct cache *c, double *valid_for)
{
	struct snapshot *s;
	struct dropped gone = { .n = 0 };
	double now, left;

	pthread_mutex_lock(&c->lock);
	now = now_mono(c);
	s = c->cur ? snap_ref(c->cur) : NULL;
	left = s ? c->fresh_until - now : 0;
	let_go(c, now, &gone);
	pthread_mutex_unlock(&c->lock);
	drop(&gone);
	if (valid_for)
		*valid_for = left > 0 ? left : 0;
	return s;
}

struct snapshot *cache_find(struct cache *c, bool (*match)(const struct snapshot *s, const void *arg),
			    const void *arg, double *valid_for)
{
	struct snapshot *s = NULL;
	struct dropped gone = { .n = 0 };
	double now, left = 0;

	pthread_mutex_lock(&c->lock);
	now = now_mono(c);
	let_go(c, now, &gone);
	if (c->cur && match(c->cur, arg)) {
		s = snap_ref(c->cur);
		left = c->fresh_until - now;
	}
	for (size_t i = 0; !s && i < c->n_replaced; i++)
		if (match(c->replaced[i], arg))
			s = snap_ref(c->replaced[i]);
	pthread_mutex_unlock(&c->lock);
	drop(&gone);
	*valid_for = left > 0 ? left : 0;
	return s;
}

void cache_set_clock(struct cache *c, double (*clock)(void *arg), void *arg)
{
	pthread_mutex_lock(&c->lock);
	c->clock = clock;
	c->clock_arg = arg;
	pthread_mutex_unlock(&c->lock);
}

void cache_set_keep(struct cache *c, double seconds)
{
	pthread_mutex_lock(&c->lock);
	c->keep = seconds;
	pthread_mutex_unlock(&c->lock);
}

enum err_kind cache_refresh(struct cache *c, struct err *e)
{
	enum err_kind rc;

	pthread_mutex_lock(&c->lock);
	while (c->fetching && !c->closing)
		wait_fetch(c, -1);
	if (!c->closing)
		start_fetch(c);
	if (c->closing || (c->fetching && !wait_fetch(c, -1))) {
		closed_error(e);
		rc = ERR_NET;
	} else {
		rc = c->last_rc;
		if (rc != ERR_OK && e)
			*e = c->last_error;
	}
	pthread_mutex_unlock(&c->lock);
	return rc;
}

void cache_close(struct cache *c)
{
	pthread_mutex_lock(&c->lock);
	c->closing = true;
	pthread_cond_broadcast(&c->wake);
	pthread_cond_broadcast(&c->done);
	pthread_mutex_unlock(&c->lock);
}

void cache_set_wait(struct cache *c, double seconds)
{
	pthread_mutex_lock(&c->lock);
	c->wait = seconds;
	pthread_mutex_unlock(&c->lock);
}

void cache_expire(struct cache *c)
{
	pthread_mutex_lock(&c->lock);
	c->fresh_until = 0;
	pthread_mutex_unlock(&c->lock);
}

void cache_set_listener(struct cache *c, cache_listener_fn fn, void *ctx)
{
	pthread_mutex_lock(&c->lock);
	while (c->telling)
		pthread_cond_wait(&c->done, &c->lock);
	c->listener = fn;
	c->listener_ctx = ctx;
	pthread_mutex_unlock(&c->lock);
}

void cache_stats(struct cache *c, struct cache_stats *st)
{
	pthread_mutex_lock(&c->lock);
	*st = c->stats;
	st->fetching = c->fetching;
	pthread_mutex_unlock(&c->lock);
}
