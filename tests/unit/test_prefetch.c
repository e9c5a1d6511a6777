/*
 * test_prefetch.c - unit tests for the prefetcher: what it keeps of the
 * kernel's listings (whether and when, to the second, per snapshot), and
 * which bodies a read has it store, through a sink that records them
 * instead of the kernel.
 */
#include <inttypes.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cache.h"
#include "check.h"
#include "pat.h"
#include "prefetch.h"
#include "snapshot.h"
#include "tree.h"
#include "when.h"

static const struct timespec fetched = { 1764300000, 123456789 };

/* Tokens 1 to n, expiring in 2100, in one list body (malloc'd). */
static char *list_body(int n, size_t *len)
{
	size_t cap = 64 + (size_t)n * 200, used = 0;
	char *p = malloc(cap);

	if (!p)
		return NULL;
	p[used++] = '[';
	for (int i = 1; i <= n; i++)
		used += (size_t)snprintf(p + used, cap - used,
					 "%s{\"ID\":%d,\"Name\":\"token %d\","
					 "\"CreatedOn\":\"2025-01-01T00:00:00Z\","
					 "\"Expiry\":\"2100-01-01T00:00:00.5Z\","
					 "\"ExpiryReminderState\":0,\"UserID\":{\"IDString\":\"1_1\"}}",
					 i > 1 ? "," : "", i, i);
	p[used++] = ']';
	*len = used;
	return p;
}

/* A snapshot of tokens 1 to n fetched at `fetched`, numbered from prev. */
static struct snapshot *build(int n, const struct snapshot *prev)
{
	struct pat_report r;
	struct err e;
	size_t len;
	char *body = list_body(n, &len);
	struct snapshot *s = body ? snap_parse(body, len, fetched, prev, &r, &e) : NULL;

	CHECK(s != NULL);
	return s;
}

/* Listed at all, and listed after since. */
static bool listed(struct prefetch *pf, const struct snapshot *s, const struct snap_token *t)
{
	return prefetch_was_listed(pf, s, t, NULL);
}

static bool listed_after(struct prefetch *pf, const struct snapshot *s,
			 const struct snap_token *t, struct timespec since)
{
	return prefetch_was_listed(pf, s, t, &since);
}

/*
 * The prefetcher knows whether and when (to the second) the kernel listed
 * a token's folder; "after since" must never be said of a listing that may
 * have come at or before since.
 */
TEST(listings_say_when_a_folder_was_listed)
{
	struct snapshot *s = build(3, NULL);
	struct prefetch *pf = prefetch_new(NULL);
	const struct snap_token *a, *b, *c;

	CHECK(pf != NULL);
	if (!s || !pf)
		goto out;
	a = &s->tok[0];
	b = &s->tok[1];
	c = &s->tok[2];
	CHECK(!listed(pf, s, a));
	CHECK(!listed_after(pf, s, a, ts_add_ns(fetched, -1000000000LL)));
	/* Listed 5.3 s after the fetch. */
	prefetch_listed(pf, s, a, ts_add_ns(fetched, 5300000000LL));
	CHECK(listed(pf, s, a));
	CHECK(!listed(pf, s, b));
	CHECK(listed_after(pf, s, a, fetched));
	CHECK(listed_after(pf, s, a, ts_add_ns(fetched, 3900000000LL)));
	/* Within the second of the listing: not known to be after. */
	CHECK(!listed_after(pf, s, a, ts_add_ns(fetched, 4900000000LL)));
	CHECK(!listed_after(pf, s, a, ts_add_ns(fetched, 5300000000LL)));
	CHECK(!listed_after(pf, s, a, ts_add_ns(fetched, 7000000000LL)));
	/* A later listing moves it on. */
	prefetch_listed(pf, s, a, ts_add_ns(fetched, 90000000000LL));
	CHECK(listed_after(pf, s, a, ts_add_ns(fetched, 80000000000LL)));
	/* A clock that says the listing came before the fetch: listed, not when. */
	prefetch_listed(pf, s, b, ts_add_ns(fetched, -3000000000LL));
	CHECK(listed(pf, s, b));
	CHECK(!listed_after(pf, s, b, ts_add_ns(fetched, -10000000000LL)));
	/* Far beyond what a listing's time holds: it stays at its last second. */
	prefetch_listed(pf, s, c, (struct timespec){ fetched.tv_sec + ((time_t)1 << 34), 0 });
	CHECK(listed(pf, s, c));
	CHECK(listed_after(pf, s, c, ts_add_ns(fetched, 1000000000LL)));
	CHECK(!listed_after(pf, s, c, (struct timespec){ fetched.tv_sec + ((time_t)1 << 33), 0 }));
out:
	prefetch_free(pf);
	snap_unref(s);
}

/*
 * Listings belong to the snapshot they were made in: a newer one starts
 * with none, and one made in an older snapshot after that is not kept.
 * The snapshots themselves are not written to.
 */
TEST(listings_are_per_snapshot)
{
	struct snapshot *a = build(3, NULL);
	struct snapshot *b = a ? build(3, a) : NULL;
	struct prefetch *pf = prefetch_new(NULL);
	struct timespec later = ts_add_ns(fetched, 2000000000LL);

	CHECK(pf != NULL);
	if (!a || !b || !pf)
		goto out;
	prefetch_listed(pf, a, &a->tok[0], later);
	CHECK(listed(pf, a, &a->tok[0]));
	CHECK(!listed(pf, b, &b->tok[0]));
	prefetch_listed(pf, b, &b->tok[1], later);
	CHECK(listed(pf, b, &b->tok[1]));
	CHECK(!listed(pf, b, &b->tok[0]));
	CHECK(!listed(pf, a, &a->tok[0]));
	prefetch_listed(pf, a, &a->tok[2], later);
	CHECK(!listed(pf, a, &a->tok[2]));
	CHECK(listed(pf, b, &b->tok[1]));
out:
	prefetch_free(pf);
	snap_unref(a);
	snap_unref(b);
}

/* A sink that records the IDs of the tokens whose files it was given. */
struct record {
	pthread_mutex_t lock;
	bool stored[64];  /* by token ID */
	unsigned stores, withdrawn;
};

static void record_store(void *ctx, uint64_t ino, const char *body, size_t len)
{
	struct record *r = ctx;
	/* The ID + 1 sits above the 4-bit slot, below the version (tree.h). */
	uint64_t id = ((ino >> 4) & ((UINT64_C(1) << (64 - 4 - SNAP_GEN_BITS)) - 1)) - 1;

	CHECK(body != NULL && len > 0);
	pthread_mutex_lock(&r->lock);
	if (id < 64)
		r->stored[id] = true;
	r->stores++;
	pthread_mutex_unlock(&r->lock);
}

static void record_withdraw(void *ctx, uint64_t ino)
{
	struct record *r = ctx;

	(void)ino;
	pthread_mutex_lock(&r->lock);
	r->withdrawn++;
	pthread_mutex_unlock(&r->lock);
}

static bool stored(struct record *r, int id)
{
	bool yes;

	pthread_mutex_lock(&r->lock);
	yes = r->stored[id];
	pthread_mutex_unlock(&r->lock);
	return yes;
}

/* The cache_fetch_fn: the one snapshot of the test (a reference of its own). */
static enum err_kind one_fetch(void *ctx, const struct snapshot *prev, struct snapshot **out,
			       struct err *e)
{
	(void)prev;
	(void)e;
	*out = snap_ref(ctx);
	return ERR_OK;
}

static void sleep_ms(int ms)
{
	struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000 };

	while (nanosleep(&ts, &ts) != 0)
		;
}

/*
 * A read of a file of a listed token stores its files and those of the
 * tokens after it, up to the first folder the kernel has not listed; a
 * read in a folder not listed stores nothing.
 */
TEST(a_read_stores_ahead_up_to_the_first_folder_not_listed)
{
	struct snapshot *s = build(40, NULL), *cur = NULL;
	struct record rec = { .stores = 0 };
	struct prefetch_sink sink = { record_store, record_withdraw, &rec };
	struct cache *c = s ? cache_new(3600, one_fetch, s) : NULL;
	struct prefetch *pf = c ? prefetch_new(c) : NULL;
	struct timespec now;
	double v;

	pthread_mutex_init(&rec.lock, NULL);
	CHECK(pf != NULL);
	if (!pf)
		goto out;
	cur = cache_get(c, &v, NULL);
	CHECK(cur == s);
	CHECK_EQ_INT(prefetch_start(pf, &sink), 0);
	clock_gettime(CLOCK_REALTIME, &now);
	/* Folders of tokens 3 to 9 listed (indexes 2 to 8), then 11. */
	for (size_t i = 2; i <= 8; i++)
		prefetch_listed(pf, s, &s->tok[i], now);
	prefetch_listed(pf, s, &s->tok[10], now);
	/* Token 20's folder was not listed: the kernel holds none of its files. */
	prefetch_read(pf, s, &s->tok[19]);
	prefetch_read(pf, s, &s->tok[2]);
	for (int ms = 0; ms < 10000 && !stored(&rec, 9); ms += 5)
		sleep_ms(5);
	prefetch_stop(pf);
	for (int id = 1; id <= 40; id++)
		if (stored(&rec, id) != (id >= 3 && id <= 9))
			check_fail(__FILE__, __LINE__, "token %d %s", id,
				   stored(&rec, id) ? "stored" : "not stored");
	/*
	 * Every file of 7 tokens: the snapshot's, and the clock files (listed
	 * now), unless the run came within a second of a day's turn.
	 */
	CHECK(rec.stores >= 7 * SNAP_NFILES && rec.stores <= 7 * (SNAP_NFILES + TREE_NCLOCK));
	CHECK_EQ_INT(rec.withdrawn, 0);
out:
	prefetch_free(pf);
	snap_unref(cur);
	cache_free(c);
	snap_unref(s);
	pthread_mutex_destroy(&rec.lock);
}

static const struct check_test tests[] = {
	TEST_CASE(listings_say_when_a_folder_was_listed),
	TEST_CASE(listings_are_per_snapshot),
	TEST_CASE(a_read_stores_ahead_up_to_the_first_folder_not_listed),
};

CHECK_MAIN(tests)
