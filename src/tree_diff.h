/*
 * tree_diff.h - what changed between two snapshots, as the kernel may have
 * cached it: each node whose attributes changed (content false) or whose
 * body or listing changed too (content true), and each entry name that
 * appeared or went away in a folder.  A node may be reported more than
 * once.  Part of the tree (tree.h numbers the nodes); knows nothing of FUSE.
 *
 * Owns: nothing past the call.
 * Must not touch: the kernel (the caller tells it: inval.h), the snapshots.
 */
#ifndef SYNERGYFS_TREE_DIFF_H
#define SYNERGYFS_TREE_DIFF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "snapshot.h"

struct tree_diff_ops {
	void (*node)(void *ctx, uint64_t ino, bool content);
	void (*entry)(void *ctx, uint64_t parent, const char *name, size_t len);
};

/* Report the changes from snapshot a to snapshot b (both non-NULL).  O(n). */
void tree_diff(const struct snapshot *a, const struct snapshot *b,
	       const struct tree_diff_ops *ops, void *ctx);

#endif
