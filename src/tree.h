/*
 * tree.h - the directory tree of a mount, computed from a snapshot: inode
 * numbers, name lookup, attributes, listings and file bodies.  Knows
 * nothing of FUSE, so it can be tested on its own.
 *
 * Inode numbers are computed, not stored: the fixed nodes have small
 * numbers, and a token's folder, files and by-name link are
 * ((ID + 1) << 4) | slot, so no table of looked-up nodes is ever kept.
 */
#ifndef SYNERGYFS_TREE_H
#define SYNERGYFS_TREE_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/stat.h>
#include <sys/types.h>

#include "snapshot.h"

enum {
	TREE_INO_ROOT = 1,
	TREE_INO_TOKENS = 2,
	TREE_INO_BYNAME = 3,
	TREE_INO_LIST = 4, /* tokens.json */
};

enum tree_kind {
	TREE_ROOT,
	TREE_TOKENS,      /* tokens/ */
	TREE_BYNAME,      /* by-name/ */
	TREE_LIST,        /* tokens.json */
	TREE_TOKEN_DIR,   /* tokens/<ID>/ */
	TREE_TOKEN_FILE,  /* tokens/<ID>/<file> */
	TREE_TOKEN_LINK,  /* by-name/<name> */
};

/* A node resolved in one snapshot; tok points into that snapshot. */
struct tree_node {
	uint64_t ino;
	enum tree_kind kind;
	const struct snap_token *tok; /* token nodes only */
	enum snap_file file;          /* TREE_TOKEN_FILE only */
};

/* Ownership and permission bits applied to every node. */
struct tree_owner {
	uid_t uid;
	gid_t gid;
	mode_t umask;  /* applied to folders and files, not links */
};

/*
 * Resolve an inode number in snapshot s (which may be NULL before the
 * first fetch: then only the fixed nodes exist).  Returns false when the
 * node does not exist in s.
 */
bool tree_node(const struct snapshot *s, uint64_t ino, struct tree_node *out);

/*
 * Look name up in the folder parent.  Returns 0, -ENOENT, or -ENOTDIR when
 * parent is not a folder.
 */
int tree_lookup(const struct snapshot *s, const struct tree_node *parent,
		const char *name, struct tree_node *out);

/* Fill st for node n; mount_time stands in for the fetch time when s is NULL. */
void tree_stat(const struct snapshot *s, const struct tree_node *n,
	       const struct tree_owner *own, struct timespec mount_time,
	       struct stat *st);

/* Is n a folder? */
bool tree_is_dir(const struct tree_node *n);

/* Number of entries of folder dir, "." and ".." included. */
size_t tree_dir_count(const struct snapshot *s, const struct tree_node *dir);

/* Room for a token folder's name: a decimal ID. */
#define TREE_NAME_BUF 24

/*
 * Entry i (0-based, "." and ".." first) of folder dir: its name and node.
 * The name points into s, into static storage, or into buf (which must
 * hold TREE_NAME_BUF bytes).  Returns false past the end.  For "..",
 * *child is the parent folder.  O(1).
 */
bool tree_dir_entry(const struct snapshot *s, const struct tree_node *dir, size_t i,
		    char *buf, const char **name, struct tree_node *child);

/* Bytes of file n (length in *len), or NULL if n is not a regular file. */
const char *tree_body(const struct snapshot *s, const struct tree_node *n, size_t *len);

/*
 * Write the target of link n ("../tokens/<ID>") into buf of size cap.
 * Returns its length, or 0 if n is not a link.
 */
size_t tree_readlink(const struct tree_node *n, char *buf, size_t cap);

#endif
