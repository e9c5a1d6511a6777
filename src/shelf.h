/*
 * shelf.h - texts rendered on demand (status, metrics.prom) shared by every
 * open that asks for the same version, so that memory follows the number
 * of versions, not the number of open files.
 *
 * Owns: the rendered texts and their reference counts.
 * Must not touch: what the texts say (the caller renders them).
 *
 * A version is named by a key the caller builds from what the text shows
 * (which snapshot, which second, how many fetches).  At most max_live
 * texts are alive at once: past that, an open gets the newest text even if
 * its key is older, one second or one fetch behind.
 */
#ifndef SYNERGYFS_SHELF_H
#define SYNERGYFS_SHELF_H

#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#define SHELF_KEY_WORDS 3

struct shelf;

/* One rendered text; read-only once made. */
struct shelf_text {
	atomic_uint refs;
	struct shelf *owner;
	uint64_t key[SHELF_KEY_WORDS];
	size_t len;
	char *text;
};

struct shelf {
	pthread_mutex_t lock;
	struct shelf_text *newest; /* holds a reference of its own */
	unsigned live;             /* texts made and not yet freed */
	unsigned max_live;
};

/* Render a text into malloc'd memory (*len bytes); NULL when memory runs out. */
typedef char *(*shelf_render_fn)(void *ctx, size_t *len);

/* An empty shelf keeping at most max_live (>= 1) texts alive. */
void shelf_init(struct shelf *sh, unsigned max_live);

/* Drop the shelf's own reference; texts still held stay valid until put. */
void shelf_destroy(struct shelf *sh);

/*
 * The text for key with a reference for the caller: the newest one if its
 * key matches or max_live texts are alive, else render(ctx) made now (and
 * the newest from then on).  NULL when memory runs out.
 */
struct shelf_text *shelf_get(struct shelf *sh, const uint64_t key[SHELF_KEY_WORDS],
			     shelf_render_fn render, void *ctx);

/* Drop one reference to t (which may be NULL); the last one frees it. */
void shelf_put(struct shelf_text *t);

#endif
