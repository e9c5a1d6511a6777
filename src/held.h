/*
 * held.h - the versions of files the kernel holds inodes of, and the old
 * snapshots kept for them.  A file's version is in its inode number
 * (tree.h), so the kernel never mixes two versions; what is left is to
 * answer a read of an old version, from a reader that held the file open
 * across a refresh, for as long as the kernel holds that inode.  So each
 * lookup the kernel is given is counted per version (tree_version_key), each
 * FORGET takes it back, and a version a refresh replaced keeps the snapshot
 * it was read from until its count is 0.  Only so many are kept (below):
 * a user who holds many versions open cannot make the daemon keep every
 * list.
 *
 * Owns: the counts of versions the kernel holds, which snapshot is current
 * for them, and the references to the snapshots kept for them.
 * Must not touch: FUSE, the cache's own references (cache.h lets go of those).
 */
#ifndef SYNERGYFS_HELD_H
#define SYNERGYFS_HELD_H

#include <stdbool.h>
#include <stdint.h>

#include "snapshot.h"

/*
 * Old snapshots kept for versions held open: HELD_KEPT whatever their
 * size, more while all of them fit in HELD_KEPT_BYTES, never more than
 * HELD_KEPT_MAX.  Past that, the oldest goes, and a read of its versions
 * that misses the page cache fails (ESTALE): the reader opens the file
 * again.  So memory stays within the larger of 4 lists and 64 MiB.
 */
#define HELD_KEPT 4
#define HELD_KEPT_BYTES ((size_t)64 << 20)
#define HELD_KEPT_MAX 64

struct held;

/* An empty table, no snapshot current yet.  NULL when memory runs out. */
struct held *held_new(void);

/* Free h and the snapshots it keeps. */
void held_free(struct held *h);

/*
 * The kernel was given count more lookups of inode ino, answered from s.
 * A node without versions is not counted.  Returns false when memory ran
 * out (the caller should not give the kernel the inode).
 */
bool held_add(struct held *h, struct snapshot *s, uint64_t ino, uint64_t count);

/* The kernel forgot nlookup lookups of ino (FORGET). */
void held_forget(struct held *h, uint64_t ino, uint64_t nlookup);

/*
 * cur is the current snapshot from now on, replacing old (NULL for the
 * first): the versions held that old has and cur does not keep old.  Call
 * for each snapshot the cache installs, in order, as it installs it (while
 * the cache still keeps old, so that no reader misses its versions: the
 * cache's listener) and before the kernel is told of it.  Until then, a
 * version of cur that the kernel is given counts as current.
 * O(versions held).
 */
void held_retire(struct held *h, struct snapshot *old, struct snapshot *cur);

/* A snapshot with ino's version, kept for it (one reference), or NULL. */
struct snapshot *held_find(struct held *h, uint64_t ino);

/* For tests: keep more than HELD_KEPT snapshots only within this many bytes. */
void held_set_budget(struct held *h, size_t bytes);

/* How many versions the kernel holds, and how many old snapshots are kept. */
void held_counts(struct held *h, uint64_t *versions, unsigned *kept);

#endif
