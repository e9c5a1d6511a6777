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

struct cache {
	pthread_mutex_t lock;
	pthread_cond_t done;       /* signalled when a fetch ends */
	double ttl;
	cache_fetch_fn fetch;
	void *ctx;
	struct snapshot *cur;      /* NULL until the first success */
	struct snapshot *replaced; /* the one cur replaced, while findable (cache_find) */
	double replaced_at;        /* monotonic seconds */
	double keep;               /* CACHE_KEEP_REPLACED */
	double fresh_until;        /* monotonic seconds; cur is served until then */
	bool fetching;
	uint64_t generation;       /* counts finished fetches */
	unsigned failures;         /* consecutive failed fetches */
	struct err last_error;
	char logged[sizeof(((struct err *)0)->msg)]; /* the failure last logged */
	struct cache_stats stats;
	cache_listener_fn listener;
	void *listener_ctx;
};

static double now_mono(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
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
	pthread_condattr_destroy(&ca);
	c->ttl = ttl;
	c->fetch = fetch;
	c->ctx = ctx;
	c->keep = CACHE_KEEP_REPLACED;
	return c;
}

void cache_free(struct cache *c)
{
	if (!c)
		return;
	snap_unref(c->cur);
	snap_unref(c->replaced);
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

/*
 * Stop keeping the replaced snapshot once its time is up (c->lock held);
 * returns it for the caller to drop after unlocking, or NULL.
 */
static struct snapshot *let_go(struct cache *c, double now)
{
	struct snapshot *s = c->replaced;

	if (!s || now - c->replaced_at < c->keep)
		return NULL;
	c->replaced = NULL;
	log_debug("the list before fetch %" PRIu64 " is no longer kept", c->cur->serial);
	return s;
}

/* Run one fetch with the lock released and install its outcome; returns its kind. */
static enum err_kind refresh_locked(struct cache *c)
{
	struct snapshot *snap = NULL, *old = NULL, *gone = NULL;
	struct err e;
	enum err_kind rc;

	c->fetching = true;
	pthread_mutex_unlock(&c->lock);
	err_clear(&e);
	rc = c->fetch(c->ctx, &snap, &e);
	pthread_mutex_lock(&c->lock);
	clock_gettime(CLOCK_REALTIME, &c->stats.last_attempt);
	c->stats.last_result = e;
	if (rc == ERR_OK) {
		c->stats.last_success = c->stats.last_attempt;
		old = c->cur;
		snap->serial = c->stats.fetches_ok + 1; /* this fetch is counted below */
		c->cur = snap;
		if (old && c->listener)
			c->listener(c->listener_ctx, old, snap);
		gone = c->replaced;
		c->replaced = old;
		c->replaced_at = now_mono();
		c->fresh_until = c->replaced_at + c->ttl;
		log_outcome(c, rc);
		c->failures = 0;
		c->stats.fetches_ok++;
		c->stats.stale = 0;
	} else {
		c->last_error = e;
		c->failures++;
		c->stats.fetches_failed++;
		c->stats.last_error = e;
		c->stats.stale = c->cur != NULL;
		if (c->cur)
			c->fresh_until = now_mono() + backoff(c);
		log_outcome(c, rc);
	}
	c->fetching = false;
	c->generation++;
	pthread_cond_broadcast(&c->done);
	if (gone) {
		/* The last reference may be ours: free it without the lock. */
		pthread_mutex_unlock(&c->lock);
		snap_unref(gone);
		pthread_mutex_lock(&c->lock);
	}
	return rc;
}

struct snapshot *cache_get(struct cache *c, double *valid_for, struct err *e)
{
	struct snapshot *s = NULL, *gone;
	double now;

	pthread_mutex_lock(&c->lock);
	now = now_mono();
	if (!c->cur || now >= c->fresh_until) {
		if (c->fetching) {
			uint64_t gen = c->generation;

			while (c->generation == gen)
				pthread_cond_wait(&c->done, &c->lock);
		} else {
			refresh_locked(c);
		}
		now = now_mono();
	}
	/* Whatever the fetch we waited for left is the answer, even if stale. */
	if (c->cur) {
		s = snap_ref(c->cur);
		*valid_for = c->fresh_until > now ? c->fresh_until - now : 0;
	} else if (e) {
		*e = c->last_error;
	}
	gone = let_go(c, now);
	pthread_mutex_unlock(&c->lock);
	snap_unref(gone);
	return s;
}

struct snapshot *cache_peek(struct cache *c, double *valid_for)
{
	struct snapshot *s, *gone;
	double now, left;

	pthread_mutex_lock(&c->lock);
	now = now_mono();
	s = c->cur ? snap_ref(c->cur) : NULL;
	left = s ? c->fresh_until - now : 0;
	gone = let_go(c, now);
	pthread_mutex_unlock(&c->lock);
	snap_unref(gone);
	if (valid_for)
		*valid_for = left > 0 ? left : 0;
	return s;
}

struct snapshot *cache_find(struct cache *c, bool (*match)(const struct snapshot *s, const void *arg),
			    const void *arg, double *valid_for)
{
	struct snapshot *s = NULL, *gone;
	double now, left = 0;

	pthread_mutex_lock(&c->lock);
	now = now_mono();
	gone = let_go(c, now);
	if (c->cur && match(c->cur, arg)) {
		s = snap_ref(c->cur);
		left = c->fresh_until - now;
	} else if (c->replaced && match(c->replaced, arg)) {
		s = snap_ref(c->replaced);
	}
	pthread_mutex_unlock(&c->lock);
	snap_unref(gone);
	*valid_for = left > 0 ? left : 0;
	return s;
}

void cache_set_keep(struct cache *c, double seconds)
{
	pthread_mutex_lock(&c->lock);
	c->keep = seconds;
	pthread_mutex_unlock(&c->lock);
}

double cache_let_go(struct cache *c)
{
	struct snapshot *gone;
	double now, left = -1;

	pthread_mutex_lock(&c->lock);
	now = now_mono();
	gone = let_go(c, now);
	if (c->replaced)
		left = c->replaced_at + c->keep - now;
	pthread_mutex_unlock(&c->lock);
	snap_unref(gone);
	return left;
}

enum err_kind cache_refresh(struct cache *c, struct err *e)
{
	enum err_kind rc;

	pthread_mutex_lock(&c->lock);
	while (c->fetching) {
		uint64_t gen = c->generation;

		while (c->generation == gen)
			pthread_cond_wait(&c->done, &c->lock);
	}
	rc = refresh_locked(c);
	if (rc != ERR_OK && e)
		*e = c->last_error;
	pthread_mutex_unlock(&c->lock);
	return rc;
}

void cache_expire(struct cache *c)
{
	pthread_mutex_lock(&c->lock);
	c->fresh_until = 0;
	pthread_mutex_unlock(&c->lock);
}

void cache_set_listener(struct cache *c, cache_listener_fn fn, void *ctx)
{
	c->listener = fn;
	c->listener_ctx = ctx;
}

void cache_stats(struct cache *c, struct cache_stats *st)
{
	pthread_mutex_lock(&c->lock);
	*st = c->stats;
	pthread_mutex_unlock(&c->lock);
}
