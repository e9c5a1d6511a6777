/*
 * held.c - counts of the versions the kernel holds; see held.h.
 *
 * An open-addressing table (linear probing, deletion by shifting back)
 * from version key to count and kept snapshot: one slot per token version
 * the kernel holds any file of, so a walk of 100,000 tokens costs a few MB.
 */
#include "held.h"

#include <inttypes.h>
#include <pthread.h>
#include <stdlib.h>

#include "log.h"
#include "tree.h"

struct slot {
	uint64_t key;          /* 0: free */
	uint64_t count;        /* lookups the kernel holds */
	struct snapshot *snap; /* kept for a replaced version; NULL while current */
	bool gone;             /* replaced, and its snapshot no longer kept */
};

struct held {
	pthread_mutex_t lock;
	struct snapshot *cur;  /* the current snapshot (held_retire), a reference */
	struct slot *slots;
	size_t cap, used;      /* cap is a power of two */
	struct snapshot *kept[HELD_KEPT_MAX]; /* oldest first */
	uint64_t kept_uses[HELD_KEPT_MAX];    /* slots that keep each */
	size_t kept_bytes[HELD_KEPT_MAX];     /* snap_bytes of each */
	unsigned n_kept;
	size_t bytes;                         /* their sum */
	size_t budget;                        /* HELD_KEPT_BYTES, or a test's */
};

#define INITIAL_CAP 1024

struct held *held_new(void)
{
	struct held *h = calloc(1, sizeof(*h));

	if (!h)
		return NULL;
	h->slots = calloc(INITIAL_CAP, sizeof(*h->slots));
	if (!h->slots) {
		free(h);
		return NULL;
	}
	h->cap = INITIAL_CAP;
	h->budget = HELD_KEPT_BYTES;
	pthread_mutex_init(&h->lock, NULL);
	return h;
}

void held_free(struct held *h)
{
	if (!h)
		return;
	for (unsigned i = 0; i < h->n_kept; i++)
		snap_unref(h->kept[i]);
	snap_unref(h->cur);
	pthread_mutex_destroy(&h->lock);
	free(h->slots);
	free(h);
}

static size_t home(const struct held *h, uint64_t key)
{
	/* Fibonacci hashing: IDs are dense, the slot bits and versions few. */
	return (size_t)((key * UINT64_C(0x9e3779b97f4a7c15)) >> 20) & (h->cap - 1);
}

/* The slot of key, or NULL (h->lock held). */
static struct slot *find(struct held *h, uint64_t key)
{
	for (size_t i = home(h, key);; i = (i + 1) & (h->cap - 1)) {
		if (h->slots[i].key == key)
			return &h->slots[i];
		if (h->slots[i].key == 0)
			return NULL;
	}
}

/* Double the table (h->lock held).  Returns false when memory runs out. */
static bool grow(struct held *h)
{
	struct slot *old = h->slots;
	size_t old_cap = h->cap;

	h->slots = calloc(old_cap * 2, sizeof(*h->slots));
	if (!h->slots) {
		h->slots = old;
		return false;
	}
	h->cap = old_cap * 2;
	for (size_t i = 0; i < old_cap; i++) {
		size_t j;

		if (!old[i].key)
			continue;
		for (j = home(h, old[i].key); h->slots[j].key; j = (j + 1) & (h->cap - 1))
			;
		h->slots[j] = old[i];
	}
	free(old);
	return true;
}

/* The slot of key, made if new (h->lock held); NULL when memory runs out. */
static struct slot *find_or_add(struct held *h, uint64_t key)
{
	struct slot *sl = find(h, key);
	size_t i;

	if (sl)
		return sl;
	if ((h->used + 1) * 10 > h->cap * 7 && !grow(h))
		return NULL;
	for (i = home(h, key); h->slots[i].key; i = (i + 1) & (h->cap - 1))
		;
	h->slots[i] = (struct slot){ .key = key };
	h->used++;
	return &h->slots[i];
}

/* Empty slot sl, shifting back the slots after it (h->lock held). */
static void remove_slot(struct held *h, struct slot *sl)
{
	size_t i = (size_t)(sl - h->slots), j = i;

	for (;;) {
		size_t k;

		j = (j + 1) & (h->cap - 1);
		if (!h->slots[j].key)
			break;
		k = home(h, h->slots[j].key);
		/* Move j back into i unless its home lies cyclically in (i, j]. */
		if (i <= j ? (i < k && k <= j) : (i < k || k <= j))
			continue;
		h->slots[i] = h->slots[j];
		i = j;
	}
	h->slots[i] = (struct slot){ .key = 0 };
	h->used--;
}

/* Let go of the snapshot at kept[k] (h->lock held). */
static void drop_kept(struct held *h, unsigned k)
{
	snap_unref(h->kept[k]);
	h->bytes -= h->kept_bytes[k];
	for (unsigned i = k + 1; i < h->n_kept; i++) {
		h->kept[i - 1] = h->kept[i];
		h->kept_uses[i - 1] = h->kept_uses[i];
		h->kept_bytes[i - 1] = h->kept_bytes[i];
	}
	h->n_kept--;
}

/* Is there no room for one more snapshot of size bytes (h->lock held)? */
static bool full(const struct held *h, size_t bytes)
{
	return h->n_kept == HELD_KEPT_MAX ||
	       (h->n_kept >= HELD_KEPT && h->bytes + bytes > h->budget);
}

/*
 * Keep s for slot sl (h->lock held).  When there is no room for it (full),
 * the oldest kept go, and the versions they kept are gone.
 */
static void keep(struct held *h, struct slot *sl, struct snapshot *s)
{
	size_t bytes = snap_bytes(s);
	unsigned k;

	for (k = 0; k < h->n_kept && h->kept[k] != s; k++)
		;
	if (k == h->n_kept) {
		while (full(h, bytes)) {
			struct snapshot *oldest = h->kept[0];
			uint64_t n = 0;

			for (size_t i = 0; i < h->cap; i++) {
				if (h->slots[i].key && h->slots[i].snap == oldest) {
					h->slots[i].snap = NULL;
					h->slots[i].gone = true;
					n++;
				}
			}
			log_warn("%u old versions of the list are held open: the oldest "
				 "(fetch %" PRIu64 ") is no longer kept, and %" PRIu64 " of its "
				 "files read as stale (ESTALE) once out of the page cache",
				 h->n_kept, oldest->serial, n);
			drop_kept(h, 0);
		}
		k = h->n_kept;
		h->kept[k] = snap_ref(s);
		h->kept_uses[k] = 0;
		h->kept_bytes[k] = bytes;
		h->bytes += bytes;
		h->n_kept++;
	}
	h->kept_uses[k]++;
	sl->snap = s;
}

/* Slot sl no longer keeps its snapshot (h->lock held). */
static void unkeep(struct held *h, struct slot *sl)
{
	for (unsigned k = 0; k < h->n_kept; k++) {
		if (h->kept[k] == sl->snap) {
			if (--h->kept_uses[k] == 0)
				drop_kept(h, k);
			break;
		}
	}
	sl->snap = NULL;
}

bool held_add(struct held *h, struct snapshot *s, uint64_t ino, uint64_t count)
{
	uint64_t key = tree_version_key(ino);
	struct slot *sl;

	if (!key || !count)
		return true;
	pthread_mutex_lock(&h->lock);
	sl = find_or_add(h, key);
	if (sl && sl->count == 0 && !sl->snap && !sl->gone) {
		/*
		 * A version no longer current (the lookup was answered just
		 * before a refresh): it keeps the snapshot it was read from.
		 * One that is current is kept by held_retire when replaced, and
		 * so is one of a snapshot newer than h->cur: the cache has
		 * installed it, and held_retire is on its way for it.
		 */
		if (!tree_version_in(h->cur, key) && !(h->cur && s->serial > h->cur->serial))
			keep(h, sl, s);
	}
	if (sl)
		sl->count += count;
	pthread_mutex_unlock(&h->lock);
	return sl != NULL;
}

void held_forget(struct held *h, uint64_t ino, uint64_t nlookup)
{
	uint64_t key = tree_version_key(ino);
	struct slot *sl;

	if (!key)
		return;
	pthread_mutex_lock(&h->lock);
	sl = find(h, key);
	if (sl) {
		sl->count -= nlookup < sl->count ? nlookup : sl->count;
		if (sl->count == 0) {
			if (sl->snap)
				unkeep(h, sl);
			remove_slot(h, sl);
		}
	}
	pthread_mutex_unlock(&h->lock);
}

void held_retire(struct held *h, struct snapshot *old, struct snapshot *cur)
{
	pthread_mutex_lock(&h->lock);
	snap_unref(h->cur);
	h->cur = snap_ref(cur);
	for (size_t i = 0; old && i < h->cap; i++) {
		struct slot *sl = &h->slots[i];

		/*
		 * Only a version old has: the notifier may be a refresh or more
		 * behind, and a version counted since is of a later snapshot.
		 */
		if (sl->key && !sl->snap && !sl->gone && !tree_version_in(cur, sl->key) &&
		    tree_version_in(old, sl->key))
			keep(h, sl, old);
	}
	pthread_mutex_unlock(&h->lock);
}

struct snapshot *held_find(struct held *h, uint64_t ino)
{
	uint64_t key = tree_version_key(ino);
	struct snapshot *s = NULL;
	struct slot *sl;

	if (!key)
		return NULL;
	pthread_mutex_lock(&h->lock);
	sl = find(h, key);
	if (sl && sl->snap)
		s = snap_ref(sl->snap);
	pthread_mutex_unlock(&h->lock);
	return s;
}

void held_set_budget(struct held *h, size_t bytes)
{
	pthread_mutex_lock(&h->lock);
	h->budget = bytes;
	pthread_mutex_unlock(&h->lock);
}

void held_counts(struct held *h, uint64_t *versions, unsigned *kept)
{
	pthread_mutex_lock(&h->lock);
	*versions = h->used;
	*kept = h->n_kept;
	pthread_mutex_unlock(&h->lock);
}
