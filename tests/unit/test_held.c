/*
 * test_held.c - unit tests for the table of versions the kernel holds
 * (src/held.c): lookups counted per version and taken back by forgets, the
 * old snapshot kept for a version a refresh replaced until its last forget,
 * at most HELD_KEPT such snapshots, and the hash table itself (growth,
 * deletion) against a plain array of counts.  The cache it asks what is
 * current serves prepared snapshots, one per cache_refresh.
 */
#include <stdlib.h>
#include <string.h>

#include "cache.h"
#include "check.h"
#include "held.h"
#include "pat.h"
#include "snapshot.h"
#include "tree.h"

/* Token 2 of the list, named as given; token 1 never changes. */
#define LIST(name2) "["								\
	"{\"ID\":1,\"Name\":\"one\",\"CreatedOn\":\"2025-01-01T00:00:00Z\","	\
	"\"Expiry\":\"2026-01-01T00:00:00Z\",\"ExpiryReminderState\":0,"	\
	"\"UserID\":{\"IDString\":\"1_1\"}},"					\
	"{\"ID\":2,\"Name\":\"" name2 "\",\"CreatedOn\":\"2025-01-01T00:00:00Z\","	\
	"\"Expiry\":\"2026-01-01T00:00:00Z\",\"ExpiryReminderState\":0,"	\
	"\"UserID\":{\"IDString\":\"1_1\"}}]"

/* Successive lists: each renames token 2, so each holds a new version of it. */
static const char *const lists[] = {
	LIST("a"), LIST("b"), LIST("c"), LIST("d"), LIST("e"), LIST("f"), LIST("g"),
};
#define NLISTS (sizeof(lists) / sizeof(lists[0]))

_Static_assert(NLISTS >= HELD_KEPT + 2, "too few lists to go past HELD_KEPT");

/* The snapshots the fake fetch hands out, in order, and how many it has. */
struct feed {
	struct snapshot *snap[NLISTS];
	size_t next;
};

/*
 * The cache_fetch_fn: the next prepared snapshot (a reference of its own),
 * numbered when it was made from the one before it, which the cache fetched
 * before it: prev.
 */
static enum err_kind feed_fetch(void *ctx, const struct snapshot *prev, struct snapshot **out,
				struct err *e)
{
	struct feed *f = ctx;

	CHECK(prev == (f->next ? f->snap[f->next - 1] : NULL));
	if (f->next == NLISTS)
		return err_set(e, ERR_PROTO, "feed: no more lists");
	*out = snap_ref(f->snap[f->next++]);
	return ERR_OK;
}

/* What a test works with: the lists, a cache over them, and the table. */
struct rig {
	struct feed feed;
	struct cache *cache;
	struct held *held;
};

/* Free r (which may be NULL) and all it holds. */
static void rig_free(struct rig *r)
{
	if (!r)
		return;
	held_free(r->held);
	cache_free(r->cache);
	for (size_t i = 0; i < NLISTS; i++)
		snap_unref(r->feed.snap[i]);
	free(r);
}

/*
 * Parse every list, make the cache and the table, and install the first
 * list.  Returns NULL (with a failure recorded) when any of it fails.
 */
static struct rig *rig_new(void)
{
	struct rig *r = calloc(1, sizeof(*r));
	struct err e;

	CHECK(r != NULL);
	if (!r)
		return NULL;
	for (size_t i = 0; i < NLISTS; i++) {
		struct pat_report rep;
		size_t len = strlen(lists[i]);
		char *body = malloc(len);

		if (body)
			memcpy(body, lists[i], len);
		r->feed.snap[i] = body ? snap_parse(body, len, (struct timespec){ (time_t)i + 1, 0 },
						    i ? r->feed.snap[i - 1] : NULL, &rep, &e) : NULL;
		CHECK(r->feed.snap[i] != NULL);
		if (!r->feed.snap[i])
			goto fail;
	}
	r->cache = cache_new(3600, feed_fetch, &r->feed);
	r->held = r->cache ? held_new() : NULL;
	CHECK(r->cache != NULL && r->held != NULL);
	if (!r->held)
		goto fail;
	CHECK_EQ_INT(cache_refresh(r->cache, &e), ERR_OK);
	if (r->feed.next == 1) {
		/* As inval.c's listener does for every list installed. */
		held_retire(r->held, NULL, r->feed.snap[0]);
		return r;
	}
fail:
	rig_free(r);
	return NULL;
}

/* held_counts, one value at a time. */
static uint64_t versions(struct held *h)
{
	uint64_t v;
	unsigned k;

	held_counts(h, &v, &k);
	return v;
}

static unsigned kept(struct held *h)
{
	uint64_t v;
	unsigned k;

	held_counts(h, &v, &k);
	return k;
}

/*
 * The end of a test, which forgets every lookup it added: nothing is held
 * any more, nor kept.  Then free it all.
 */
static void rig_end(struct rig *r)
{
	if (r) {
		CHECK_EQ_INT(versions(r->held), 0);
		CHECK_EQ_INT(kept(r->held), 0);
	}
	rig_free(r);
}

/* List i, numbered from list i - 1 as the cache would. */
static struct snapshot *list(struct rig *r, size_t i)
{
	return r->feed.snap[i];
}

/*
 * Install the next list (cache_refresh) and tell the table, as inval.c
 * does: the list it replaced retires.
 */
static void refresh(struct rig *r)
{
	struct snapshot *old = cache_peek(r->cache, NULL);
	struct snapshot *cur;
	struct err e;

	CHECK_EQ_INT(cache_refresh(r->cache, &e), ERR_OK);
	cur = cache_peek(r->cache, NULL);
	CHECK(cur == list(r, r->feed.next - 1) && cur != old);
	held_retire(r->held, old, cur);
	snap_unref(cur);
	snap_unref(old);
}

/* The inode number of tokens/<id>/<file> in s, or 0. */
static uint64_t file_ino(const struct snapshot *s, const char *id, const char *file)
{
	static const struct tree_clock clk = { { 1759276800, 0 }, 7 };
	struct tree_node tokens, dir, n;

	if (!tree_node(s, TREE_INO_TOKENS, &tokens) ||
	    tree_lookup(s, &clk, &tokens, id, &dir) != TREE_FOUND ||
	    tree_lookup(s, &clk, &dir, file, &n) != TREE_FOUND)
		return 0;
	return n.ino;
}

/* Does held_find give s for ino (and drop the reference it gives)? */
static bool finds(struct held *h, uint64_t ino, const struct snapshot *s)
{
	struct snapshot *got = held_find(h, ino);

	snap_unref(got);
	return got == s;
}

/* Lookups are counted per version of a token: every file of it shares one count. */
TEST(lookups_are_counted_per_version)
{
	struct rig *r = rig_new();
	struct snapshot *s;
	uint64_t name2, id2, name1;

	if (!r)
		return;
	s = list(r, 0);
	name2 = file_ino(s, "2", "name");
	id2 = file_ino(s, "2", "id");
	name1 = file_ino(s, "1", "name");
	CHECK(name2 && id2 && name1);
	CHECK_EQ_INT(versions(r->held), 0);
	CHECK(held_add(r->held, s, name2, 3));
	CHECK(held_add(r->held, s, id2, 2));
	CHECK_EQ_INT(versions(r->held), 1);
	CHECK(held_add(r->held, s, name1, 1));
	CHECK_EQ_INT(versions(r->held), 2);
	/* Nodes without versions, and no lookups at all, are not counted. */
	CHECK(held_add(r->held, s, (2 + 1) << 4, 1)); /* tokens/2 */
	CHECK(held_add(r->held, s, ((2 + 1) << 4) | 15, 1)); /* by-name/<its name> */
	CHECK(held_add(r->held, s, TREE_INO_STATUS, 4));
	CHECK(held_add(r->held, s, id2, 0));
	CHECK_EQ_INT(versions(r->held), 2);
	/* Current versions: nothing is kept for them. */
	CHECK_EQ_INT(kept(r->held), 0);
	CHECK(finds(r->held, name2, NULL));
	/* Token 2's version goes with its fifth forget, whichever of its files. */
	held_forget(r->held, name2, 3);
	CHECK_EQ_INT(versions(r->held), 2);
	held_forget(r->held, name2, 1);
	CHECK_EQ_INT(versions(r->held), 2);
	held_forget(r->held, id2, 1);
	CHECK_EQ_INT(versions(r->held), 1);
	/* More forgets than lookups, and forgets of what is not held, do no harm. */
	held_forget(r->held, name1, 10);
	CHECK_EQ_INT(versions(r->held), 0);
	held_forget(r->held, name1, 1);
	held_forget(r->held, TREE_INO_ROOT, 1);
	rig_end(r);
}

/*
 * A refresh replaces token 2's version: the list it was read from is kept
 * for it until the kernel forgets it; token 1's version is still current
 * and keeps nothing.
 */
TEST(replaced_version_keeps_its_list)
{
	struct rig *r = rig_new();
	struct snapshot *a, *b;
	uint64_t old_name2, old_id2, name1, new_name2;

	if (!r)
		return;
	a = list(r, 0);
	b = list(r, 1);
	old_name2 = file_ino(a, "2", "name");
	old_id2 = file_ino(a, "2", "id");
	name1 = file_ino(a, "1", "name");
	CHECK(held_add(r->held, a, old_name2, 1));
	CHECK(held_add(r->held, a, old_id2, 1));
	CHECK(held_add(r->held, a, name1, 1));
	refresh(r);
	new_name2 = file_ino(b, "2", "name");
	CHECK(new_name2 != 0 && new_name2 != old_name2);
	CHECK_EQ_INT(file_ino(b, "1", "name"), name1);
	CHECK_EQ_INT(kept(r->held), 1);
	CHECK(finds(r->held, old_name2, a));
	CHECK(finds(r->held, old_id2, a));
	CHECK(finds(r->held, file_ino(a, "2", "expired"), a)); /* the version, not the file */
	CHECK(finds(r->held, name1, NULL));
	CHECK(finds(r->held, new_name2, NULL));
	/* Kept until the last forget of the version. */
	held_forget(r->held, old_name2, 1);
	CHECK(finds(r->held, old_id2, a));
	CHECK_EQ_INT(kept(r->held), 1);
	held_forget(r->held, old_id2, 1);
	CHECK(finds(r->held, old_name2, NULL));
	CHECK_EQ_INT(kept(r->held), 0);
	CHECK_EQ_INT(versions(r->held), 1);
	/* A later refresh that keeps token 1's version keeps nothing for it. */
	refresh(r);
	CHECK(finds(r->held, name1, NULL));
	CHECK_EQ_INT(kept(r->held), 0);
	held_forget(r->held, name1, 1);
	rig_end(r);
}

/*
 * A lookup answered from the old list just as a refresh replaced it
 * (counted after held_retire ran) keeps that list too; one answered from
 * the current list keeps nothing.
 */
TEST(late_lookup_of_a_replaced_version)
{
	struct rig *r = rig_new();
	struct snapshot *a, *b;
	uint64_t old_name2, new_name2;

	if (!r)
		return;
	a = list(r, 0);
	b = list(r, 1);
	refresh(r);
	old_name2 = file_ino(a, "2", "name");
	new_name2 = file_ino(b, "2", "name");
	CHECK(held_add(r->held, a, old_name2, 2));
	CHECK(held_add(r->held, b, new_name2, 1));
	CHECK_EQ_INT(versions(r->held), 2);
	CHECK_EQ_INT(kept(r->held), 1);
	CHECK(finds(r->held, old_name2, a));
	CHECK(finds(r->held, new_name2, NULL));
	/* tokens.json has versions too. */
	CHECK(tree_list_ino(a) != tree_list_ino(b));
	CHECK(held_add(r->held, a, tree_list_ino(a), 1));
	CHECK(finds(r->held, tree_list_ino(a), a));
	CHECK_EQ_INT(kept(r->held), 1);
	held_forget(r->held, tree_list_ino(a), 1);
	held_forget(r->held, old_name2, 2);
	held_forget(r->held, new_name2, 1);
	rig_end(r);
}

/*
 * One version held open across each of many refreshes: HELD_KEPT lists
 * are kept, then the oldest goes, and its version finds nothing (stale),
 * however often it is looked up again; it is still counted until forgotten.
 */
TEST(at_most_held_kept_lists)
{
	struct rig *r = rig_new();
	uint64_t ino[HELD_KEPT + 1];

	if (!r)
		return;
	held_set_budget(r->held, 0); /* tiny lists: the count alone decides */
	for (size_t i = 0; i <= HELD_KEPT; i++) {
		ino[i] = file_ino(list(r, i), "2", "name");
		CHECK(held_add(r->held, list(r, i), ino[i], 1));
		refresh(r);
		CHECK_EQ_INT(kept(r->held), i < HELD_KEPT ? i + 1 : HELD_KEPT);
	}
	CHECK_EQ_INT(versions(r->held), HELD_KEPT + 1);
	CHECK(finds(r->held, ino[0], NULL));
	for (size_t i = 1; i <= HELD_KEPT; i++)
		if (!finds(r->held, ino[i], list(r, i)))
			check_fail(__FILE__, __LINE__, "the version of list %zu is not kept", i);
	/* Gone for good: another lookup of it keeps nothing again. */
	CHECK(held_add(r->held, list(r, 0), ino[0], 1));
	CHECK(finds(r->held, ino[0], NULL));
	CHECK_EQ_INT(kept(r->held), HELD_KEPT);
	held_forget(r->held, ino[0], 2);
	CHECK_EQ_INT(versions(r->held), HELD_KEPT);
	for (size_t i = 1; i <= HELD_KEPT; i++)
		held_forget(r->held, ino[i], 1);
	rig_end(r);
}

/* xorshift64: the same "random" order on every run. */
static uint64_t next_rand(uint64_t *state)
{
	uint64_t x = *state;

	x ^= x << 13;
	x ^= x >> 7;
	x ^= x << 17;
	return *state = x;
}

/*
 * Thousands of versions added and forgotten in random order: the table
 * grows past its first 1024 slots, and after deletions (which shift the
 * slots after them back, around the end of the table too) each version
 * still held is found and no other.  The versions are of random IDs at
 * random gens, so that they cluster as they would; none is current, so
 * each keeps the first list, which is kept once.
 */
TEST(table_against_an_oracle)
{
	enum { KEYS = 5000, OPS = 90000, CHECK_EVERY = 500 };
	struct rig *r = rig_new();
	uint64_t *count = calloc(KEYS, sizeof(*count)), *ino = calloc(KEYS, sizeof(*ino));
	uint64_t state = 0x9e3779b97f4a7c15u, live = 0;
	size_t peak = 0;

	if (!count || !ino || !r)
		goto out;
	/* A file (slot 1) of a random ID above 2 at a random gen: one version each. */
	for (size_t k = 0; k < KEYS; k++) {
		uint64_t id = 3 + next_rand(&state) % (PAT_ID_MAX - 3);
		unsigned gen = (unsigned)(next_rand(&state) % (1u << SNAP_GEN_BITS));

		ino[k] = ((uint64_t)gen << (64 - SNAP_GEN_BITS)) | ((id + 1) << 4) | 1;
	}
	for (size_t op = 1; op <= OPS; op++) {
		size_t k = (size_t)(next_rand(&state) % KEYS);
		uint64_t n = 1 + next_rand(&state) % 3;
		/* Mostly adds in the first third, as many forgets in the second, mostly forgets after. */
		unsigned adds = op <= OPS / 3 ? 3 : op <= 2 * OPS / 3 ? 2 : 1;

		if (next_rand(&state) % 4 < adds) {
			CHECK(held_add(r->held, list(r, 0), ino[k], n));
			live += count[k] == 0;
			count[k] += n;
		} else {
			held_forget(r->held, ino[k], n);
			live -= count[k] != 0 && count[k] <= n;
			count[k] -= count[k] < n ? count[k] : n;
		}
		if (live > peak)
			peak = live;
		if (op % CHECK_EVERY != 0)
			continue;
		CHECK_EQ_INT(versions(r->held), live);
		CHECK_EQ_INT(kept(r->held), live > 0);
		for (size_t j = 0; j < KEYS; j++) {
			if (!finds(r->held, ino[j], count[j] ? list(r, 0) : NULL)) {
				check_fail(__FILE__, __LINE__, "op %zu: version %zu (count %ju) %s", op,
					   j, (uintmax_t)count[j], count[j] ? "not found" : "found");
				break;
			}
		}
	}
	CHECK(peak > 2000); /* well past the first table */
	/* Forget everything, in key order. */
	for (size_t k = 0; k < KEYS; k++)
		held_forget(r->held, ino[k], count[k]);
out:
	rig_end(r);
	free(count);
	free(ino);
}

/*
 * The table hears of every list as the cache installs it, the first one
 * too: lookups from the current list keep nothing, and a table that has
 * heard of no list yet keeps the list a lookup came from.
 */
TEST(the_first_list_is_current)
{
	struct rig *r = rig_new();
	struct held *fresh = held_new();
	struct snapshot *a;
	uint64_t name2;

	if (!r || !fresh) {
		held_free(fresh);
		rig_end(r);
		return;
	}
	a = list(r, 0);
	name2 = file_ino(a, "2", "name");
	CHECK(held_add(r->held, a, name2, 1));
	CHECK_EQ_INT(kept(r->held), 0);
	CHECK(held_add(fresh, a, name2, 1));
	CHECK_EQ_INT(kept(fresh), 1);
	CHECK(finds(fresh, name2, a));
	held_forget(fresh, name2, 1);
	CHECK_EQ_INT(kept(fresh), 0);
	held_free(fresh);
	held_forget(r->held, name2, 1);
	rig_end(r);
}

/* Small lists are kept past HELD_KEPT while they fit in the byte budget. */
TEST(small_lists_kept_within_the_budget)
{
	struct rig *r = rig_new();
	uint64_t ino[NLISTS - 1];

	if (!r)
		return;
	for (size_t i = 0; i + 1 < NLISTS; i++) {
		ino[i] = file_ino(list(r, i), "2", "name");
		CHECK(held_add(r->held, list(r, i), ino[i], 1));
		refresh(r);
	}
	CHECK_EQ_INT(kept(r->held), NLISTS - 1);
	for (size_t i = 0; i + 1 < NLISTS; i++) {
		CHECK(finds(r->held, ino[i], list(r, i)));
		held_forget(r->held, ino[i], 1);
	}
	CHECK_EQ_INT(kept(r->held), 0);
	rig_end(r);
}

static const struct check_test tests[] = {
	TEST_CASE(lookups_are_counted_per_version),
	TEST_CASE(replaced_version_keeps_its_list),
	TEST_CASE(late_lookup_of_a_replaced_version),
	TEST_CASE(the_first_list_is_current),
	TEST_CASE(small_lists_kept_within_the_budget),
	TEST_CASE(at_most_held_kept_lists),
	TEST_CASE(table_against_an_oracle),
};

CHECK_MAIN(tests)
