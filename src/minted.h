/*
 * minted.h - the folders of new/: the tokens this mount created (-o
 * manage), each holding its secret until the user removes it.  A folder
 * is reserved by name before its token is requested, so that a second
 * mkdir of the name fails at once, and shows only once filled.  Numbers
 * (seq) count from 1 and are never reused: tree.h makes inode numbers of
 * them.
 *
 * Owns: the folders, their names, IDs and secrets (secret.h: locked,
 * wiped when removed and when the registry is freed).
 * Must not touch: the server, the cache, the kernel.
 */
#ifndef SYNERGYFS_MINTED_H
#define SYNERGYFS_MINTED_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "escape.h"

struct secret;
struct minted;

/* Folders at most: a mkdir past them fails (held secrets are locked memory). */
#define MINTED_MAX 1024

/* The ID of a folder whose token was created but not found in the list. */
#define MINTED_NO_ID (-1)

/* What a folder shows (copied out: the registry may change right after). */
struct minted_info {
	uint64_t seq;
	int64_t id;                        /* MINTED_NO_ID when not known */
	size_t secret_len;                 /* without the newline the file adds */
	struct timespec created;           /* when its mkdir succeeded */
	char entry[ESC_NAME_MAX + 1];      /* its name in new/, as typed */
};

/* An empty registry, or NULL when memory runs out. */
struct minted *minted_new(void);

/*
 * Wipe every secret and free m; for each secret never read, log its ID
 * (never the value).  m may be NULL.
 */
void minted_free(struct minted *m);

/* What minted_reserve found. */
enum minted_claim {
	MINTED_RESERVED,  /* *seq is the new folder's number */
	MINTED_EXISTS,    /* a folder of that name is there or being made */
	MINTED_FULL,      /* MINTED_MAX folders, or memory ran out */
};

/* Reserve the folder entry (a name of new/), not shown yet. */
enum minted_claim minted_reserve(struct minted *m, const char *entry, uint64_t *seq);

/*
 * Show reserved folder seq, for token id (or MINTED_NO_ID); sec holds what
 * its secret file reads: the secret and a newline.  m now owns sec (it is
 * freed here if seq is not reserved).
 */
void minted_fill(struct minted *m, uint64_t seq, int64_t id, struct secret *sec);

/* Remove folder seq, reserved or shown, wiping its secret.  False if there was none. */
bool minted_drop(struct minted *m, uint64_t seq);

/* Remove the folders of token id (deleted), wiping their secrets.  Returns how many. */
size_t minted_drop_id(struct minted *m, int64_t id);

/* The shown folder named entry.  False if there is none. */
bool minted_lookup(struct minted *m, const char *entry, struct minted_info *out);

/* Shown folder seq.  False if there is none. */
bool minted_get(struct minted *m, uint64_t seq, struct minted_info *out);

/*
 * The shown folder with the lowest seq above *after, for listings (start
 * from 0); *after becomes its seq.  False past the last.
 */
bool minted_next(struct minted *m, uint64_t *after, struct minted_info *out);

/* When a folder was last shown or removed (new/'s mtime); t0 before any. */
struct timespec minted_changed(struct minted *m, struct timespec t0);

/*
 * Call fn with folder seq's secret file (the secret and a newline) from off on (at
 * most size bytes), under the registry's lock, and mark it read.  The
 * bytes are valid during the call only.  False if there is no such shown
 * folder (fn is not called).
 */
bool minted_read_secret(struct minted *m, uint64_t seq, size_t off, size_t size,
			void (*fn)(void *arg, const char *p, size_t len), void *arg);

/* Shown folders. */
size_t minted_count(struct minted *m);

#endif
