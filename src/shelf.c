/*
 * shelf.c - rendered texts shared by version; see shelf.h.
 */
#include "shelf.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

void shelf_init(struct shelf *sh, unsigned max_live)
{
	pthread_mutex_init(&sh->lock, NULL);
	sh->newest = NULL;
	sh->live = 0;
	sh->max_live = max_live ? max_live : 1;
}

void shelf_destroy(struct shelf *sh)
{
	struct shelf_text *t;

	pthread_mutex_lock(&sh->lock);
	t = sh->newest;
	sh->newest = NULL;
	pthread_mutex_unlock(&sh->lock);
	shelf_put(t);
}

struct shelf_text *shelf_get(struct shelf *sh, const uint64_t key[SHELF_KEY_WORDS],
			     shelf_render_fn render, void *ctx)
{
	struct shelf_text *t, *old = NULL;

	pthread_mutex_lock(&sh->lock);
	t = sh->newest;
	if (t && (memcmp(t->key, key, sizeof(t->key)) == 0 || sh->live >= sh->max_live)) {
		atomic_fetch_add(&t->refs, 1);
		pthread_mutex_unlock(&sh->lock);
		return t;
	}
	t = calloc(1, sizeof(*t));
	if (t)
		t->text = render(ctx, &t->len);
	if (!t || !t->text) {
		pthread_mutex_unlock(&sh->lock);
		free(t);
		return NULL;
	}
	atomic_init(&t->refs, 2); /* the caller's and the shelf's */
	t->owner = sh;
	memcpy(t->key, key, sizeof(t->key));
	sh->live++;
	old = sh->newest;
	sh->newest = t;
	pthread_mutex_unlock(&sh->lock);
	shelf_put(old);
	return t;
}

void shelf_put(struct shelf_text *t)
{
	struct shelf *sh;

	if (!t || atomic_fetch_sub(&t->refs, 1) != 1)
		return;
	sh = t->owner;
	pthread_mutex_lock(&sh->lock);
	sh->live--;
	pthread_mutex_unlock(&sh->lock);
	free(t->text);
	free(t);
}
