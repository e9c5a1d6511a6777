/*
 * editions.h - the versions ("editions") of status and metrics.prom that
 * the kernel holds inodes of.  Each lookup of either file renders it (or
 * shares the text of the same second, shelf.h) and gives the kernel that
 * text under a number of its own, so that a reader reads one text to its
 * end, however many read() calls that takes, while the next open gets a
 * newer one.  The text lives until the kernel forgets the number.
 *
 * Owns: the numbers given out, their lookup counts and text references.
 * Must not touch: what the texts say, or how many live (the shelf bounds
 * that: a few per file, whatever the number of readers).
 */
#ifndef SYNERGYFS_EDITIONS_H
#define SYNERGYFS_EDITIONS_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <time.h>

#include "shelf.h"

/* Editions held at once, each file together; more are not given out (EMFILE-like). */
#define EDITIONS_MAX 64

struct edition {
	uint64_t ino;           /* 0: free */
	uint64_t nlookup;
	struct shelf_text *text;
	struct timespec at;     /* when it was rendered: its mtime */
};

struct editions {
	pthread_mutex_t lock;
	struct edition e[EDITIONS_MAX];
	uint64_t next;          /* the version the next new edition gets */
};

void editions_init(struct editions *ed);

/* Let go of every text (the session is over). */
void editions_destroy(struct editions *ed);

/*
 * One more lookup of text (a reference of the caller's, which passes to
 * ed) rendered at the moment at, as number(version) gives it: the same
 * number as before for the same text.  Returns the number, or 0 when
 * EDITIONS_MAX are held (the reference is then dropped).
 */
uint64_t editions_add(struct editions *ed, struct shelf_text *text, struct timespec at,
		      uint64_t (*number)(uint64_t version, void *arg), void *arg);

/* The kernel forgot nlookup lookups of ino; false if ino is no edition. */
bool editions_forget(struct editions *ed, uint64_t ino, uint64_t nlookup);

/*
 * The text of edition ino with a reference for the caller, and when it
 * was rendered; NULL if the kernel holds no such edition.
 */
struct shelf_text *editions_find(struct editions *ed, uint64_t ino, struct timespec *at);

#endif
