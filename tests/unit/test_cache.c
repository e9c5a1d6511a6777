/*
 * test_cache.c - unit tests for the snapshot cache: TTL, single-flight
 * refresh under many threads, stale-if-error, and peeking, against a fake
 * fetch function that counts its calls and can be told to fail or dawdle.
 */
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <time.h>

#include "cache.h"
#include "check.h"
#include "pat.h"
#include "snapshot.h"

#define BODY "[{\"ID\":1,\"Name\":\"Teams integ\",\"CreatedOn\":\"2025-03-14T10:53:38.823+08:00\"," \
	"\"Expiry\":\"2025-09-10T10:53:38.67+08:00\",\"ExpiryReminderState\":0," \
	"\"UserID\":{\"IDString\":\"1_1\"}}]"

#define NTHREADS 32

static void sleep_ms(int ms)
{
	struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000 };

	while (nanosleep(&ts, &ts) != 0)
		;
}

/* What the fake fetch does, and what it saw. */
struct fake {
	pthread_mutex_t lock;
	enum err_kind fail;  /* ERR_OK: succeed */
	int sleep_ms;        /* time spent inside each call */
	int calls;
	int running, max_running;
	double clock;        /* the cache's clock when fake_clock is set */
	bool gated;          /* fetches wait in the fetch until fake_open */
	pthread_cond_t gate;
};

/* A cache_set_clock clock: f->clock, moved by the test alone. */
static double fake_clock(void *arg)
{
	struct fake *f = arg;
	double t;

	pthread_mutex_lock(&f->lock);
	t = f->clock;
	pthread_mutex_unlock(&f->lock);
	return t;
}

static void fake_advance(struct fake *f, double seconds)
{
	pthread_mutex_lock(&f->lock);
	f->clock += seconds;
	pthread_mutex_unlock(&f->lock);
}

/* Hold every fetch inside the fake (closed) or let them through. */
static void fake_gate(struct fake *f, bool closed)
{
	pthread_mutex_lock(&f->lock);
	f->gated = closed;
	pthread_cond_broadcast(&f->gate);
	pthread_mutex_unlock(&f->lock);
}

/* Wait until n fetches are inside the fake. */
static void fake_wait_running(struct fake *f, int n)
{
	for (;;) {
		pthread_mutex_lock(&f->lock);
		if (f->running >= n) {
			pthread_mutex_unlock(&f->lock);
			return;
		}
		pthread_mutex_unlock(&f->lock);
		sleep_ms(1);
	}
}


/*
 * The cache_fetch_fn: a snapshot of BODY whose fetch time's tv_sec is the
 * number of this call (1, 2, ...), so tests can tell snapshots apart.
 */
static enum err_kind fake_fetch(void *ctx, const struct snapshot *prev, struct snapshot **out,
				struct err *e)
{
	struct fake *f = ctx;
	struct pat_report r;
	enum err_kind fail;
	int call, ms;
	char *body;

	pthread_mutex_lock(&f->lock);
	call = ++f->calls;
	if (++f->running > f->max_running)
		f->max_running = f->running;
	while (f->gated)
		pthread_cond_wait(&f->gate, &f->lock);
	fail = f->fail;
	ms = f->sleep_ms;
	pthread_mutex_unlock(&f->lock);

	if (ms)
		sleep_ms(ms);
	if (fail == ERR_OK) {
		*out = NULL;
		body = strdup(BODY);
		if (!body)
			fail = err_set(e, ERR_NOMEM, "fake: out of memory");
		else if (!(*out = snap_parse(body, strlen(body), (struct timespec){ call, 0 },
					     prev, &r, e)))
			fail = e->kind;
	} else {
		err_set(e, fail, "fake failure on call %d", call);
	}

	pthread_mutex_lock(&f->lock);
	f->running--;
	pthread_mutex_unlock(&f->lock);
	return fail;
}

static void fake_init(struct fake *f)
{
	memset(f, 0, sizeof(*f));
	pthread_mutex_init(&f->lock, NULL);
	pthread_cond_init(&f->gate, NULL);
}

/* A test's teardown: free c (NULL: freed already, or none), then the fake it fetched from. */
static void fake_free(struct fake *f, struct cache *c)
{
	cache_free(c);
	pthread_cond_destroy(&f->gate);
	pthread_mutex_destroy(&f->lock);
}

static int fake_calls(struct fake *f)
{
	int n;

	pthread_mutex_lock(&f->lock);
	n = f->calls;
	pthread_mutex_unlock(&f->lock);
	return n;
}

static void fake_set(struct fake *f, enum err_kind fail, int ms)
{
	pthread_mutex_lock(&f->lock);
	f->fail = fail;
	f->sleep_ms = ms;
	pthread_mutex_unlock(&f->lock);
}

/*
 * A test's set-up: a fake and a cache over it serving each snapshot ttl
 * seconds.  NULL, a failed check, without memory; the fake is then undone.
 * Undo with fake_free.
 */
static struct cache *fake_cache(struct fake *f, double ttl)
{
	struct cache *c;

	fake_init(f);
	c = cache_new(ttl, fake_fetch, f);
	if (!c) {
		check_fail(__FILE__, __LINE__, "cache_new: out of memory");
		fake_free(f, NULL);
	}
	return c;
}

/*
 * fake_cache on the fake's clock (moved by fake_advance alone), where an
 * access waits for a due refresh as long as it takes: for tests of TTLs,
 * back-off and keeping, whose outcome must not depend on the machine's speed.
 */
static struct cache *clocked_cache(struct fake *f, double ttl)
{
	struct cache *c = fake_cache(f, ttl);

	if (c) {
		cache_set_clock(c, fake_clock, f);
		cache_set_wait(c, 3600);
	}
	return c;
}

/* Which fetch produced s (see fake_fetch), or -1 for NULL. */
static long fetch_no(const struct snapshot *s)
{
	return s ? (long)s->fetched.tv_sec : -1;
}

TEST(first_get_fetches_once)
{
	struct fake f;
	struct cache *c;
	struct snapshot *a, *b;
	struct cache_stats st;
	double v = -1;
	struct err e;

	c = fake_cache(&f, 10);
	if (!c)
		return;
	CHECK_EQ_INT(fake_calls(&f), 0);
	a = cache_get(c, &v, &e);
	CHECK(a != NULL);
	CHECK_EQ_INT(fake_calls(&f), 1);
	CHECK_EQ_INT(fetch_no(a), 1);
	b = cache_get(c, &v, &e);
	CHECK(b == a);
	CHECK_EQ_INT(fake_calls(&f), 1);
	if (a)
		CHECK_EQ_INT(a->n, 1);
	cache_stats(c, &st);
	CHECK_EQ_INT(st.fetches_ok, 1);
	CHECK_EQ_INT(st.fetches_failed, 0);
	CHECK_EQ_INT(st.stale, 0);
	CHECK_EQ_INT(st.last_error.kind, ERR_OK);
	snap_unref(a);
	snap_unref(b);
	fake_free(&f, c);
}

TEST(refetch_after_ttl)
{
	struct fake f;
	struct cache *c;
	struct snapshot *a, *b, *d;
	double v;

	c = clocked_cache(&f, 0.2);
	if (!c)
		return;
	cache_set_keep(c, 0); /* the cache lets go of what it replaced at once */
	a = cache_get(c, &v, NULL);
	fake_advance(&f, 0.199);
	b = cache_get(c, &v, NULL);
	CHECK_EQ_INT(fake_calls(&f), 1);
	CHECK(a && a == b);
	fake_advance(&f, 0.002);
	d = cache_get(c, &v, NULL);
	CHECK_EQ_INT(fake_calls(&f), 2);
	CHECK(d && d != a);
	CHECK_EQ_INT(fetch_no(d), 2);
	/* The replaced snapshot stays valid for whoever still holds it. */
	if (a) {
		CHECK_EQ_INT(atomic_load(&a->refs), 2);
		CHECK_EQ_INT(a->n, 1);
	}
	snap_unref(a);
	snap_unref(b);
	snap_unref(d);
	fake_free(&f, c);
}

TEST(zero_ttl_always_fetches)
{
	struct fake f;
	struct cache *c;
	double v = -1;

	c = fake_cache(&f, 0);
	if (!c)
		return;
	for (int i = 1; i <= 3; i++) {
		struct snapshot *s = cache_get(c, &v, NULL);

		CHECK_EQ_INT(fetch_no(s), i);
		CHECK(v == 0);
		snap_unref(s);
	}
	CHECK_EQ_INT(fake_calls(&f), 3);
	fake_free(&f, c);
}

/*
 * A herd test's fixture: a clocked cache over a fake, and NTHREADS threads
 * held at a gate, then released together to call cache_get.
 */
struct herd {
	struct fake f;
	struct cache *c;
	pthread_mutex_t lock;
	pthread_cond_t opened;
	bool open;
	struct herd_thread {
		struct herd *h;
		pthread_t tid;
		struct snapshot *s;
		double valid_for;
		struct err e;
	} t[NTHREADS];
};

static void *herd_main(void *arg)
{
	struct herd_thread *t = arg;
	struct herd *h = t->h;

	pthread_mutex_lock(&h->lock);
	while (!h->open)
		pthread_cond_wait(&h->opened, &h->lock);
	pthread_mutex_unlock(&h->lock);
	err_clear(&t->e);
	t->s = cache_get(h->c, &t->valid_for, &t->e);
	return NULL;
}

/* Start the threads, open the gate once all are waiting, and join them. */
static void run_herd(struct herd *h)
{
	int started = 0;

	pthread_mutex_init(&h->lock, NULL);
	pthread_cond_init(&h->opened, NULL);
	for (int i = 0; i < NTHREADS; i++) {
		h->t[i].h = h;
		if (pthread_create(&h->t[i].tid, NULL, herd_main, &h->t[i]) != 0)
			break;
		started++;
	}
	if (started < NTHREADS)
		check_fail(__FILE__, __LINE__, "only %d of %d threads started", started, NTHREADS);
	pthread_mutex_lock(&h->lock);
	h->open = true;
	pthread_cond_broadcast(&h->opened);
	pthread_mutex_unlock(&h->lock);
	for (int i = 0; i < started; i++)
		pthread_join(h->t[i].tid, NULL);
	pthread_cond_destroy(&h->opened);
	pthread_mutex_destroy(&h->lock);
}

/* A herd over clocked_cache(ttl), not yet run; NULL, a failed check, without memory. */
static struct herd *herd_new(double ttl)
{
	struct herd *h = calloc(1, sizeof(*h));

	if (!h) {
		check_fail(__FILE__, __LINE__, "no memory for the herd");
		return NULL;
	}
	h->c = clocked_cache(&h->f, ttl);
	if (!h->c) {
		free(h);
		return NULL;
	}
	return h;
}

/* The snapshots the threads got, the cache, the fake and h. */
static void herd_free(struct herd *h)
{
	for (int i = 0; i < NTHREADS; i++)
		snap_unref(h->t[i].s);
	fake_free(&h->f, h->c);
	free(h);
}

/* All threads got the snapshot of fetch number want. */
static void check_herd_same(const char *file, int line, struct herd *h, long want)
{
	for (int i = 0; i < NTHREADS; i++) {
		if (h->t[i].s != h->t[0].s || fetch_no(h->t[i].s) != want) {
			check_fail(file, line, "thread %d got the snapshot of fetch %ld, want %ld",
				   i, fetch_no(h->t[i].s), want);
			return;
		}
	}
}

TEST(single_flight_empty)
{
	struct herd *h = herd_new(5);

	if (!h)
		return;
	fake_set(&h->f, ERR_OK, 200);
	run_herd(h);
	CHECK_EQ_INT(fake_calls(&h->f), 1);
	CHECK_EQ_INT(h->f.max_running, 1);
	check_herd_same(__FILE__, __LINE__, h, 1);
	if (h->t[0].s)
		CHECK_EQ_INT(atomic_load(&h->t[0].s->refs), NTHREADS + 1);
	for (int i = 0; i < NTHREADS; i++)
		CHECK(h->t[i].valid_for == 5); /* the clock did not move */
	herd_free(h);
}

TEST(single_flight_after_expiry)
{
	struct herd *h = herd_new(0.15);
	struct snapshot *old;
	double v;

	if (!h)
		return;
	old = cache_get(h->c, &v, NULL);
	CHECK_EQ_INT(fetch_no(old), 1);
	snap_unref(old);
	fake_advance(&h->f, 0.15);
	fake_set(&h->f, ERR_OK, 200);
	run_herd(h);
	CHECK_EQ_INT(fake_calls(&h->f), 2);
	CHECK_EQ_INT(h->f.max_running, 1);
	/* Nobody is served the expired snapshot while the new one is on its way. */
	check_herd_same(__FILE__, __LINE__, h, 2);
	herd_free(h);
}

TEST(single_flight_failure)
{
	struct herd *h = herd_new(5); /* the back-off step never ends */

	if (!h)
		return;
	fake_set(&h->f, ERR_AUTH, 100);
	run_herd(h);
	CHECK_EQ_INT(fake_calls(&h->f), 1);
	for (int i = 0; i < NTHREADS; i++) {
		if (h->t[i].s || h->t[i].e.kind != ERR_AUTH ||
		    strcmp(h->t[i].e.msg, "fake failure on call 1") != 0) {
			check_fail(__FILE__, __LINE__, "thread %d: snapshot %p, error %d \"%s\"",
				   i, (void *)h->t[i].s, h->t[i].e.kind, h->t[i].e.msg);
			break;
		}
	}
	herd_free(h);
}

TEST(error_with_nothing_cached)
{
	struct fake f;
	struct cache *c;
	struct cache_stats st;
	struct snapshot *s;
	struct err e;
	double v;

	c = fake_cache(&f, 10);
	if (!c)
		return;
	cache_set_clock(c, fake_clock, &f);
	fake_set(&f, ERR_TIMEOUT, 0);
	err_clear(&e);
	s = cache_get(c, &v, &e);
	CHECK(s == NULL);
	CHECK_EQ_INT(e.kind, ERR_TIMEOUT);
	CHECK_EQ_STR(e.msg, "fake failure on call 1");
	cache_stats(c, &st);
	CHECK_EQ_INT(st.fetches_ok, 0);
	CHECK_EQ_INT(st.fetches_failed, 1);
	CHECK_EQ_INT(st.stale, 0);
	CHECK_EQ_INT(st.last_error.kind, ERR_TIMEOUT);
	CHECK_EQ_STR(st.last_error.msg, "fake failure on call 1");
	CHECK(cache_peek(c, NULL) == NULL);
	/*
	 * The failure is the answer for a back-off step: 1 s, then 2 s.  Within
	 * it, every access gets it at once and nothing is sent.
	 */
	fake_set(&f, ERR_TLS, 0);
	fake_advance(&f, 0.999);
	s = cache_get(c, &v, &e);
	CHECK(s == NULL);
	CHECK_EQ_INT(e.kind, ERR_TIMEOUT);
	CHECK_EQ_INT(fake_calls(&f), 1);
	fake_advance(&f, 0.002);
	s = cache_get(c, &v, &e);
	CHECK(s == NULL);
	CHECK_EQ_INT(e.kind, ERR_TLS);
	CHECK_EQ_STR(e.msg, "fake failure on call 2");
	fake_set(&f, ERR_OK, 0);
	fake_advance(&f, 1.5);
	s = cache_get(c, &v, &e);
	CHECK(s == NULL);
	CHECK_EQ_INT(e.kind, ERR_TLS);
	CHECK_EQ_INT(fake_calls(&f), 2);
	/* An explicit refresh is not held back: one fetch, at once. */
	CHECK_EQ_INT(cache_refresh(c, &e), ERR_OK);
	CHECK_EQ_INT(fake_calls(&f), 3);
	s = cache_get(c, &v, &e);
	CHECK_EQ_INT(fetch_no(s), 3);
	cache_stats(c, &st);
	CHECK_EQ_INT(st.fetches_ok, 1);
	CHECK_EQ_INT(st.fetches_failed, 2);
	CHECK_EQ_INT(st.stale, 0);
	CHECK_EQ_INT(st.next_try.tv_sec, 0);
	snap_unref(s);
	fake_free(&f, c);
}

TEST(stale_if_error)
{
	const double ttl = 0.1;
	struct fake f;
	struct cache *c;
	struct cache_stats st;
	struct snapshot *a, *b, *d;
	double v = -1;
	struct err e;

	c = clocked_cache(&f, ttl);
	if (!c)
		return;
	cache_set_keep(c, 0); /* the cache lets go of what it replaced at once */
	a = cache_get(c, &v, &e);
	CHECK_EQ_INT(fetch_no(a), 1);
	fake_advance(&f, ttl);

	/* The refresh fails: the old snapshot is served, marked stale. */
	fake_set(&f, ERR_NET, 0);
	b = cache_get(c, &v, &e);
	CHECK_EQ_INT(fake_calls(&f), 2);
	CHECK(b == a);
	CHECK(v > ttl - 1e-9 && v < ttl + 1e-9); /* the back-off step: 1 s, but never past the TTL */
	cache_stats(c, &st);
	CHECK_EQ_INT(st.stale, 1);
	CHECK_EQ_INT(st.fetches_ok, 1);
	CHECK_EQ_INT(st.fetches_failed, 1);
	CHECK_EQ_INT(st.last_error.kind, ERR_NET);
	CHECK_EQ_STR(st.last_error.msg, "fake failure on call 2");
	snap_unref(b);
	/* Not retried on every access: the next try waits for the backoff. */
	fake_advance(&f, ttl - 0.001);
	b = cache_get(c, &v, &e);
	CHECK_EQ_INT(fake_calls(&f), 2);
	CHECK(b == a);
	snap_unref(b);
	fake_advance(&f, 0.002);

	/* The source recovers: fresh data, no longer stale. */
	fake_set(&f, ERR_OK, 0);
	d = cache_get(c, &v, &e);
	CHECK_EQ_INT(fake_calls(&f), 3);
	CHECK_EQ_INT(fetch_no(d), 3);
	cache_stats(c, &st);
	CHECK_EQ_INT(st.stale, 0);
	CHECK_EQ_INT(st.fetches_ok, 2);
	CHECK_EQ_INT(st.fetches_failed, 1);
	if (a)
		CHECK_EQ_INT(atomic_load(&a->refs), 1);
	snap_unref(a);
	snap_unref(d);
	fake_free(&f, c);
}

TEST(valid_for_bounds)
{
	static const double ttls[] = { 0.2, 1, 30 };

	for (size_t i = 0; i < sizeof(ttls) / sizeof(ttls[0]); i++) {
		struct fake f;
		struct cache *c;
		struct snapshot *s;
		double v = -1;

		c = clocked_cache(&f, ttls[i]);
		if (!c)
			return;
		s = cache_get(c, &v, NULL);
		CHECK(s != NULL);
		if (!(v > 0 && v <= ttls[i]))
			check_fail(__FILE__, __LINE__, "ttl %g: valid_for %g", ttls[i], v);
		/* Counting down, never up. */
		snap_unref(s);
		fake_advance(&f, ttls[i] / 10);
		{
			double w = -1;

			s = cache_get(c, &w, NULL);
			if (!(w > 0 && w < v))
				check_fail(__FILE__, __LINE__, "ttl %g: valid_for %g after %g",
					   ttls[i], w, v);
			snap_unref(s);
		}
		fake_free(&f, c);
	}
}

TEST(peek_never_fetches)
{
	struct fake f;
	struct cache *c;
	struct snapshot *s, *p;
	double v = -1;

	c = clocked_cache(&f, 0.05);
	if (!c)
		return;
	CHECK(cache_peek(c, &v) == NULL);
	CHECK(v == 0);
	CHECK(cache_peek(c, NULL) == NULL);
	CHECK_EQ_INT(fake_calls(&f), 0);
	s = cache_get(c, &v, NULL);
	v = -1;
	fake_advance(&f, 0.02);
	p = cache_peek(c, &v);
	CHECK(p && p == s);
	CHECK(v > 0.029 && v < 0.031);
	CHECK_EQ_INT(fake_calls(&f), 1);
	snap_unref(p);
	/* Expired: peek still answers with what there is, and fetches nothing. */
	fake_advance(&f, 0.04);
	v = -1;
	p = cache_peek(c, &v);
	CHECK(p && p == s);
	CHECK(v == 0);
	CHECK_EQ_INT(fake_calls(&f), 1);
	snap_unref(p);
	p = cache_peek(c, NULL);
	CHECK(p && p == s);
	CHECK_EQ_INT(fake_calls(&f), 1);
	snap_unref(p);
	snap_unref(s);
	fake_free(&f, c);
}

/* A reference taken from the cache outlives the cache. */
TEST(reference_outlives_cache)
{
	struct fake f;
	struct cache *c;
	struct snapshot *s;
	double v;

	c = fake_cache(&f, 10);
	if (!c)
		return;
	s = cache_get(c, &v, NULL);
	if (s)
		CHECK_EQ_INT(atomic_load(&s->refs), 2);
	cache_free(c);
	if (s) {
		CHECK_EQ_INT(atomic_load(&s->refs), 1);
		CHECK_EQ_INT(s->n, 1);
	}
	snap_unref(s);
	cache_free(NULL);
	fake_free(&f, NULL);
}

/* refresh fetches now whatever the TTL; expire makes the next access fetch. */
TEST(refresh_and_expire)
{
	struct fake f;
	struct cache *c;
	struct cache_stats st;
	struct snapshot *s;
	struct err e;
	double v;

	c = clocked_cache(&f, 60); /* the back-off after the failed refresh never ends */
	if (!c)
		return;
	s = cache_get(c, &v, NULL);
	snap_unref(s);
	CHECK_EQ_INT(fake_calls(&f), 1);
	CHECK_EQ_INT(cache_refresh(c, &e), ERR_OK);
	CHECK_EQ_INT(fake_calls(&f), 2);
	s = cache_get(c, &v, NULL);
	CHECK_EQ_INT(fetch_no(s), 2);
	CHECK_EQ_INT(fake_calls(&f), 2);
	snap_unref(s);
	/* A failing refresh reports its error and keeps serving what there was. */
	fake_set(&f, ERR_AUTH, 0);
	err_clear(&e);
	CHECK_EQ_INT(cache_refresh(c, &e), ERR_AUTH);
	CHECK_EQ_INT(e.kind, ERR_AUTH);
	CHECK_EQ_INT(fake_calls(&f), 3);
	s = cache_get(c, &v, NULL);
	CHECK(s && fetch_no(s) == 2);
	snap_unref(s);
	cache_stats(c, &st);
	CHECK_EQ_INT(st.last_result.kind, ERR_AUTH);
	CHECK(st.last_attempt.tv_sec > 0 && st.last_success.tv_sec > 0);
	/* Expire: the next access fetches again. */
	fake_set(&f, ERR_OK, 0);
	cache_expire(c);
	s = cache_get(c, &v, NULL);
	CHECK_EQ_INT(fake_calls(&f), 4);
	CHECK(s && fetch_no(s) == 4);
	snap_unref(s);
	cache_stats(c, &st);
	CHECK_EQ_INT(st.last_result.kind, ERR_OK);
	CHECK_EQ_INT(st.fetches_ok, 3);
	CHECK_EQ_INT(st.fetches_failed, 1);
	fake_free(&f, c);
}

static bool fetched_by(const struct snapshot *s, const void *arg)
{
	return s->fetched.tv_sec == *(const int *)arg;
}

/*
 * The snapshot a fetch replaced can be found for a while (the keep time),
 * then no longer, and the cache lets go of it; only the last one is kept.
 */
TEST(replaced_stays_findable)
{
	struct fake f;
	struct cache *c;
	struct snapshot *s, *kept;
	int no[] = { 1, 2, 3 };
	double v;
	int last = 2 + CACHE_KEPT; /* the fetch that is current at the end */

	c = clocked_cache(&f, 60);
	if (!c)
		return;
	cache_set_keep(c, 0.1);
	s = cache_get(c, &v, NULL);
	snap_unref(s);
	v = -1;
	CHECK(cache_find(c, fetched_by, &no[1], &v) == NULL);
	CHECK(v == 0);
	s = cache_find(c, fetched_by, &no[0], &v);
	CHECK(s && v > 59);
	snap_unref(s);
	CHECK_EQ_INT(cache_refresh(c, NULL), ERR_OK);
	/* The one before: found, with nothing left of its time to be cached. */
	v = -1;
	kept = cache_find(c, fetched_by, &no[0], &v);
	CHECK(kept && fetch_no(kept) == 1 && v == 0);
	snap_unref(kept);
	s = cache_find(c, fetched_by, &no[1], &v);
	CHECK(s && fetch_no(s) == 2 && v > 59);
	snap_unref(s);
	/*
	 * CACHE_KEPT refreshes more: the last CACHE_KEPT replaced ones are
	 * kept, the first (fetch 1) is no longer.
	 */
	for (int i = 0; i < CACHE_KEPT; i++)
		CHECK_EQ_INT(cache_refresh(c, NULL), ERR_OK);
	CHECK(cache_find(c, fetched_by, &no[0], &v) == NULL);
	for (int k = 2; k <= 1 + CACHE_KEPT; k++) {
		s = cache_find(c, fetched_by, &k, &v);
		CHECK(s && fetch_no(s) == k && v == 0);
		snap_unref(s);
	}
	kept = cache_find(c, fetched_by, &no[1], &v);
	CHECK(kept && atomic_load(&kept->refs) == 2);
	/* Serials count the snapshots the cache installed, each from the one before. */
	if (kept)
		CHECK_EQ_INT(kept->serial, 2);
	/* Not before its time is up... */
	fake_advance(&f, 0.099);
	s = cache_peek(c, NULL);
	snap_unref(s);
	if (kept)
		CHECK_EQ_INT(atomic_load(&kept->refs), 2);
	/* ...then the next call lets go of it, and the cache no longer finds it. */
	fake_advance(&f, 0.002);
	s = cache_peek(c, NULL);
	CHECK(s && fetch_no(s) == last);
	snap_unref(s);
	if (kept)
		CHECK_EQ_INT(atomic_load(&kept->refs), 1);
	snap_unref(kept);
	CHECK(cache_find(c, fetched_by, &no[1], &v) == NULL);
	s = cache_find(c, fetched_by, &last, &v);
	CHECK(s != NULL);
	snap_unref(s);
	CHECK_EQ_INT(fake_calls(&f), last);
	fake_free(&f, c);
}

/*
 * Wait, calling nothing of c's, until s has refs references or limit
 * seconds have passed; true if it has.
 */
static bool refs_reach(struct snapshot *s, unsigned refs, double limit)
{
	for (int ms = 0; ms < limit * 1000; ms += 5) {
		if (atomic_load(&s->refs) == refs)
			return true;
		sleep_ms(5);
	}
	return atomic_load(&s->refs) == refs;
}

/*
 * The cache's own thread lets go of a replaced snapshot once its time is
 * up, when no call comes to do it; not before.
 */
TEST(let_go_on_time)
{
	struct fake f;
	struct cache *c;
	struct snapshot *s, *kept;
	int first = 1;
	double v;

	c = clocked_cache(&f, 60);
	if (!c)
		return;
	cache_set_keep(c, 0.2);
	s = cache_get(c, &v, NULL);
	snap_unref(s);
	CHECK_EQ_INT(cache_refresh(c, NULL), ERR_OK);
	kept = cache_find(c, fetched_by, &first, &v);
	CHECK(kept != NULL);
	if (!kept)
		goto out;
	/* Its time is not up (on the cache's clock), however long the wait. */
	fake_advance(&f, 0.199);
	CHECK(!refs_reach(kept, 1, 0.5));
	CHECK_EQ_INT(atomic_load(&kept->refs), 2);
	/* Now it is, and no call comes: the cache's thread lets go of it. */
	fake_advance(&f, 0.002);
	CHECK(refs_reach(kept, 1, 10));
	snap_unref(kept);
	CHECK(cache_find(c, fetched_by, &first, &v) == NULL);
out:
	CHECK_EQ_INT(fake_calls(&f), 2);
	fake_free(&f, c);
}

/* Run cache_get in a thread of its own, for tests that must not wait on it. */
struct getter {
	pthread_t thread;
	struct cache *c;
	struct snapshot *s;
	struct err e;
};

static void *getter_run(void *arg)
{
	struct getter *g = arg;
	double v;

	err_clear(&g->e);
	g->s = cache_get(g->c, &v, &g->e);
	return NULL;
}

TEST(stale_at_once_while_refresh_hangs)
{
	struct fake f;
	struct cache *c;
	struct cache_stats st;
	struct snapshot *s;
	struct err e;
	double v = -1;

	c = fake_cache(&f, 10);
	if (!c)
		return;
	cache_set_clock(c, fake_clock, &f);
	cache_set_wait(c, 0.01);
	s = cache_get(c, &v, &e);
	CHECK_EQ_INT(fetch_no(s), 1);
	snap_unref(s);
	/* The list is due and the server hangs: the stale list comes at once. */
	fake_gate(&f, true);
	fake_advance(&f, 10);
	s = cache_get(c, &v, &e);
	CHECK_EQ_INT(fetch_no(s), 1);
	CHECK(v == 0); /* the kernel must come back: a refresh is in flight */
	snap_unref(s);
	fake_wait_running(&f, 1);
	cache_stats(c, &st);
	CHECK_EQ_INT(st.fetching, 1);
	/* Others too, and they start no second fetch. */
	s = cache_get(c, &v, &e);
	CHECK_EQ_INT(fetch_no(s), 1);
	snap_unref(s);
	CHECK_EQ_INT(fake_calls(&f), 2);
	fake_gate(&f, false);
	/* The refresh lands on its own; an explicit one waits for it and sends one more. */
	CHECK_EQ_INT(cache_refresh(c, &e), ERR_OK);
	CHECK_EQ_INT(fake_calls(&f), 3);
	s = cache_get(c, &v, &e);
	CHECK_EQ_INT(fetch_no(s), 3);
	CHECK(v > 9.9);
	snap_unref(s);
	cache_stats(c, &st);
	CHECK_EQ_INT(st.fetching, 0);
	CHECK_EQ_INT(f.max_running, 1);
	fake_free(&f, c);
}

TEST(close_wakes_waiters)
{
	struct fake f;
	struct cache *c;
	struct getter g;

	c = fake_cache(&f, 10);
	if (!c)
		return;
	/* Nothing cached and the server hangs: the first access waits... */
	fake_gate(&f, true);
	g.c = c;
	if (pthread_create(&g.thread, NULL, getter_run, &g) != 0) {
		CHECK(0);
		goto out;
	}
	fake_wait_running(&f, 1);
	/* ...until the daemon ends. */
	cache_close(c);
	pthread_join(g.thread, NULL);
	CHECK(g.s == NULL);
	CHECK_EQ_INT(g.e.kind, ERR_NET);
	CHECK_EQ_STR(g.e.msg, "synergyfs is shutting down");
	fake_gate(&f, false);
out:
	cache_free(c);
	CHECK_EQ_INT(fake_calls(&f), 1);
	fake_free(&f, NULL);
}

static const struct check_test tests[] = {
	TEST_CASE(first_get_fetches_once),
	TEST_CASE(refetch_after_ttl),
	TEST_CASE(zero_ttl_always_fetches),
	TEST_CASE(single_flight_empty),
	TEST_CASE(single_flight_after_expiry),
	TEST_CASE(single_flight_failure),
	TEST_CASE(error_with_nothing_cached),
	TEST_CASE(stale_if_error),
	TEST_CASE(valid_for_bounds),
	TEST_CASE(peek_never_fetches),
	TEST_CASE(refresh_and_expire),
	TEST_CASE(reference_outlives_cache),
	TEST_CASE(replaced_stays_findable),
	TEST_CASE(let_go_on_time),
	TEST_CASE(stale_at_once_while_refresh_hangs),
	TEST_CASE(close_wakes_waiters),
};

CHECK_MAIN(tests)
