/*
 * prefetch.c - stores ahead of a walk; see prefetch.h.
 */
#include "prefetch.h"

#include <inttypes.h>
#include <pthread.h>
#include <stdlib.h>

#include "log.h"
#include "thread.h"
#include "timestamp.h"
#include "tree.h"

/* Tokens whose files to store: snap->tok[first, end) (snap is a reference). */
struct run {
	struct snapshot *snap;
	size_t first, end;
};

/*
 * Which token folders of one snapshot the kernel has listed, and when
 * last, to the second: per token, the seconds from the fetch to the
 * listing plus 2; 1 when the clock says the listing came before the
 * fetch; 0 when not listed.
 */
struct listings {
	uint64_t serial;          /* of the snapshot (0: none yet) */
	struct timespec fetched;  /* its fetch time */
	size_t n;
	unsigned *when;
};

struct prefetch {
	struct cache *cache;      /* whose current snapshot a run must be of */
	struct prefetch_sink sink;
	pthread_t thread;
	bool running;
	bool stop;
	pthread_mutex_t lock;
	pthread_cond_t cond;      /* a run asked for, or stop */
	struct listings listed;
	struct run ring[PREFETCH_RING];
	unsigned head, count;
	/*
	 * The last run asked for: snapshot serial and tokens [first, end);
	 * next is the token stored next (a walk that gets ahead of it moves
	 * next up to where it reads).
	 */
	uint64_t run_serial;
	size_t run_first, run_next, run_end;
};

/*
 * How long before a clock file's body next changes it is no longer stored:
 * the store must reach the kernel inside the span (see store_token).
 */
#define STORE_CLOCK_MARGIN 1.0

struct prefetch *prefetch_new(struct cache *cache)
{
	struct prefetch *pf = calloc(1, sizeof(*pf));

	if (!pf)
		return NULL;
	pf->cache = cache;
	pthread_mutex_init(&pf->lock, NULL);
	pthread_cond_init(&pf->cond, NULL);
	return pf;
}

void prefetch_free(struct prefetch *pf)
{
	if (!pf)
		return;
	prefetch_stop(pf);
	pthread_cond_destroy(&pf->cond);
	pthread_mutex_destroy(&pf->lock);
	free(pf->listed.when);
	free(pf);
}

/* The listings of s (pf->lock held), made anew for a newer snapshot; NULL for an older one. */
static struct listings *listings_of(struct prefetch *pf, const struct snapshot *s, bool make)
{
	struct listings *l = &pf->listed;

	if (s->serial == l->serial && l->when)
		return l;
	if (!make || s->serial < l->serial)
		return NULL;
	free(l->when);
	/* Without memory nothing is stored ahead: walks only take longer. */
	*l = (struct listings){
		.serial = s->serial,
		.fetched = s->fetched,
		.n = s->n,
		.when = calloc(s->n ? s->n : 1, sizeof(*l->when)),
	};
	return l->when ? l : NULL;
}

void prefetch_listed(struct prefetch *pf, const struct snapshot *s, const struct snap_token *t,
		     struct timespec now)
{
	int64_t secs = (int64_t)now.tv_sec - (int64_t)s->fetched.tv_sec;
	unsigned m = secs < 0 ? 1 : secs >= UINT32_MAX - 2 ? UINT32_MAX : (unsigned)secs + 2;
	struct listings *l;

	pthread_mutex_lock(&pf->lock);
	l = listings_of(pf, s, true);
	if (l)
		l->when[t - s->tok] = m;
	pthread_mutex_unlock(&pf->lock);
}

/* prefetch_was_listed with pf->lock held. */
static bool was_listed(struct prefetch *pf, const struct snapshot *s, const struct snap_token *t,
		       const struct timespec *since)
{
	struct listings *l = listings_of(pf, s, false);
	unsigned m = l ? l->when[t - s->tok] : 0;

	if (!since)
		return m != 0;
	/* The listing came at or after the start of its second. */
	return m >= 2 && (int64_t)l->fetched.tv_sec + (int64_t)(m - 2) > (int64_t)since->tv_sec;
}

bool prefetch_was_listed(struct prefetch *pf, const struct snapshot *s, const struct snap_token *t,
			 const struct timespec *since)
{
	bool yes;

	pthread_mutex_lock(&pf->lock);
	yes = was_listed(pf, s, t, since);
	pthread_mutex_unlock(&pf->lock);
	return yes;
}

/* Is there less than STORE_CLOCK_MARGIN left of the span that holds now? */
static bool span_ending(struct timespec now, struct timespec until)
{
	return ts_seconds(now, until) < STORE_CLOCK_MARGIN;
}

/*
 * Store the bodies of the files of token t of snapshot s.  A clock file
 * keeps its body over a span of time, and the kernel drops what it holds
 * of it when it gets attributes with another size or mtime
 * (auto_inval_data).  So its body is stored only when the kernel listed
 * the folder inside the span (readdirplus: attributes of this span, kept
 * until just before it ends), and not close to the end of the span: then
 * the size the kernel holds is the length of what is stored.  Otherwise a
 * body shorter than that size would leave bytes of the one it overwrites.
 */
static void store_token(struct prefetch *pf, const struct snapshot *s, const struct snap_token *t,
			char **scratch, size_t *cap)
{
	struct tree_clock clk = { .expiring_days = 0 };
	struct timespec since, until, now;
	struct tree_node n;
	char clock_body[32];
	size_t len = 0;
	const char *body;
	bool listed;

	for (unsigned f = 0; f < SNAP_NFILES; f++) {
		tree_token_file(t, (enum snap_file)f, &n);
		body = tree_body(s, &n, &len, scratch, cap);
		if (body && len > 0)
			pf->sink.store(pf->sink.ctx, n.ino, body, len);
	}
	clock_gettime(CLOCK_REALTIME, &clk.now);
	for (unsigned c = 0; c < TREE_NCLOCK; c++) {
		bool ends;

		tree_token_clock(t, (enum tree_clock_file)c, &n);
		ends = tree_clock_span(&n, &clk, &since, &until);
		if (ends && span_ending(clk.now, until))
			continue;
		listed = prefetch_was_listed(pf, s, t, &since);
		if (!listed)
			continue;
		len = tree_clock_body(&n, &clk, clock_body, sizeof(clock_body));
		if (len > 0)
			pf->sink.store(pf->sink.ctx, n.ino, clock_body, len);
		/*
		 * Held up until close to the end of the span, the store may have
		 * come after the kernel asked for the next span's attributes:
		 * drop it.
		 */
		clock_gettime(CLOCK_REALTIME, &now);
		if (ends && span_ending(now, until))
			pf->sink.withdraw(pf->sink.ctx, n.ino);
	}
}

/*
 * Which token of run r to store next, from i on (pf->lock held): i, or
 * further on if it is the last run and a walk got ahead of it.  Returns
 * r->end when the run is over: when a later run was asked for (the walk
 * has gone past this one), once the token read is stored; at a token whose
 * folder the kernel has not listed, and then the run no longer covers the
 * tokens from there.
 */
static size_t run_next(struct prefetch *pf, const struct run *r, size_t i)
{
	const struct snapshot *s = r->snap;
	bool last = pf->run_serial == s->serial && pf->run_first == r->first;

	if (!last && i > r->first)
		return r->end;
	if (last && pf->run_next > i)
		i = pf->run_next;
	if (i < r->end && !was_listed(pf, s, &s->tok[i], NULL)) {
		if (last)
			pf->run_end = i;
		return r->end;
	}
	if (last && i < r->end)
		pf->run_next = i + 1;
	return i;
}

/*
 * Store the tokens of run r, while its snapshot is still the current one.
 * Stores go into the inodes of the versions r's snapshot holds: one that
 * lands after a refresh replaced it is still true of them.
 */
static void store_run(struct prefetch *pf, const struct run *r)
{
	const struct snapshot *s = r->snap;
	char *scratch = NULL;
	size_t cap = 0, stored = 0;

	for (size_t i = r->first;; i++) {
		struct snapshot *cur;
		bool current;

		pthread_mutex_lock(&pf->lock);
		i = run_next(pf, r, i);
		pthread_mutex_unlock(&pf->lock);
		if (i >= r->end)
			break;
		cur = cache_peek(pf->cache, NULL);
		current = cur == s;
		snap_unref(cur);
		if (!current)
			break;
		store_token(pf, s, &s->tok[i], &scratch, &cap);
		stored++;
	}
	free(scratch);
	/* Tests wait for this line before they look at what was not stored. */
	if (r->first < s->n)
		log_debug("kernel store run from token %" PRId64 " done: %zu stored",
			  s->tok[r->first].id, stored);
}

/* Take the oldest run off the ring (pf->lock held, the ring not empty). */
static struct run ring_pop(struct prefetch *pf)
{
	struct run r = pf->ring[pf->head];

	pf->head = (pf->head + 1) % PREFETCH_RING;
	pf->count--;
	return r;
}

static void *prefetch_loop(void *arg)
{
	struct prefetch *pf = arg;
	struct run r;

	pthread_mutex_lock(&pf->lock);
	for (;;) {
		while (!pf->count && !pf->stop)
			pthread_cond_wait(&pf->cond, &pf->lock);
		if (pf->stop)
			break;
		r = ring_pop(pf);
		pthread_mutex_unlock(&pf->lock);
		store_run(pf, &r);
		snap_unref(r.snap);
		pthread_mutex_lock(&pf->lock);
	}
	pthread_mutex_unlock(&pf->lock);
	return NULL;
}

void prefetch_read(struct prefetch *pf, struct snapshot *s, const struct snap_token *t)
{
	size_t i = (size_t)(t - s->tok);
	unsigned slot;

	pthread_mutex_lock(&pf->lock);
	if (!was_listed(pf, s, t, NULL)) {
		/*
		 * Without the listing (a glob of every token's expiry), the
		 * kernel holds no inodes to store them in: no stores.
		 */
	} else if (pf->run_serial == s->serial && i >= pf->run_first && i < pf->run_end) {
		if (i > pf->run_next)
			pf->run_next = i;
	} else if (pf->running && !pf->stop && pf->count < PREFETCH_RING) {
		slot = (pf->head + pf->count) % PREFETCH_RING;
		pf->ring[slot] = (struct run){
			.snap = snap_ref(s),
			.first = i,
			.end = PREFETCH_AHEAD < s->n - i ? i + PREFETCH_AHEAD : s->n,
		};
		pf->count++;
		pf->run_serial = s->serial;
		pf->run_first = pf->run_next = i;
		pf->run_end = pf->ring[slot].end;
		pthread_cond_broadcast(&pf->cond);
	}
	pthread_mutex_unlock(&pf->lock);
}

int prefetch_start(struct prefetch *pf, const struct prefetch_sink *sink)
{
	int rc;

	pf->sink = *sink;
	rc = thread_start(&pf->thread, prefetch_loop, pf);
	if (rc)
		return rc;
	pthread_mutex_lock(&pf->lock);
	pf->running = true;
	pthread_mutex_unlock(&pf->lock);
	return 0;
}

void prefetch_stop(struct prefetch *pf)
{
	pthread_mutex_lock(&pf->lock);
	if (!pf->running) {
		pthread_mutex_unlock(&pf->lock);
		return;
	}
	pf->stop = true;
	pthread_cond_broadcast(&pf->cond);
	pthread_mutex_unlock(&pf->lock);
	pthread_join(pf->thread, NULL);
	pthread_mutex_lock(&pf->lock);
	pf->running = false;
	while (pf->count)
		snap_unref(ring_pop(pf).snap);
	pthread_mutex_unlock(&pf->lock);
}
