/*
 * tree.h - the directory tree of a mount, computed from a snapshot: inode
 * numbers, name lookup, attributes, listings and file bodies.  Knows
 * nothing of FUSE, so it can be tested on its own.
 *
 * Inode numbers are computed, not stored.  The fixed nodes have small
 * numbers; a token's nodes carry its ID, a slot, and for the nodes with a
 * body the token's version (snap_parse), so that a changed file is a new
 * inode and the kernel never mixes two versions under one number:
 *
 *     tokens/7/name, token at version 2, slot 2 (name):
 *     | gen 2 (6 bits) | ID + 1 = 8 (54 bits) | slot 2 (4 bits) |
 *     = (2 << 58) | (8 << 4) | 2 = 0x0800000000000082
 *
 *     tokens.json at list version 5, status edition 3 (slot 11, then which
 *     root file: 0 list, 1 status, 2 metrics.prom, then the version):
 *     ((5 << 2 | 0) << 4) | 11 = 0x14b      ((3 << 2 | 1) << 4) | 11 = 0xdb
 *
 * Folders and links have version 0: what they are never changes.
 *
 * Some nodes depend on the clock (days_left, expired, the members of
 * expiring/ and expired/): those take a struct tree_clock, the moment of
 * the request.  Some are rendered from more than the snapshot (status,
 * metrics.prom): the tree only places them; see report.h.
 *
 * Owns: the layout of the tree over a snapshot: inode numbers, names,
 * attributes, bodies, and where a listing resumes (the cursor).
 * Must not touch: FUSE and errno (fs.c), the cache, what changed between snapshots
 * (tree_diff.h).
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
	TREE_INO_LIST = 4,     /* tokens.json before the first fetch (never served) */
	TREE_INO_EXPIRING = 5,
	TREE_INO_EXPIRED = 6,
	TREE_INO_METRICS = 7,  /* metrics.prom */
	TREE_INO_STATUS = 8,
	TREE_INO_NEW = 9,      /* new/ */
};

enum tree_kind {
	TREE_ROOT,
	TREE_TOKENS,      /* tokens/ */
	TREE_BYNAME,      /* by-name/ */
	TREE_EXPIRING,    /* expiring/ */
	TREE_EXPIRED,     /* expired/ */
	TREE_LIST,        /* tokens.json */
	TREE_METRICS,     /* metrics.prom */
	TREE_STATUS,      /* status */
	TREE_TOKEN_DIR,   /* tokens/<ID>/ */
	TREE_TOKEN_FILE,  /* tokens/<ID>/<file>, rendered in the snapshot */
	TREE_TOKEN_CLOCK, /* tokens/<ID>/days_left or expired: depend on the clock */
	TREE_TOKEN_LINK,  /* by-name/<name>, expiring/<name> or expired/<name> */
	TREE_NEW,         /* new/: the tokens this mount created (-o manage) */
	TREE_MINT_DIR,    /* new/<name>/ */
	TREE_MINT_FILE,   /* new/<name>/secret or id */
	TREE_MINT_LINK,   /* new/<name>/token */
};

/*
 * The parts of a folder in new/, in listing order.  Which folders exist,
 * and what their files hold, the tree does not know (see minted.h): it
 * only numbers them, by the number minted.h gives each (its seq):
 *
 *     new/rotated/secret, seq 5, part 1 (secret), slot 12:
 *     | seq 5 | part 1 (2 bits) | slot 12 (4 bits) | = ((5 << 2 | 1) << 4) | 12 = 0x15c
 */
enum tree_mint_part { TREE_MINT_FOLDER, TREE_MINT_SECRET, TREE_MINT_ID, TREE_MINT_TOKEN };

/* The files of a token's folder that depend on the clock. */
enum tree_clock_file { TREE_CLOCK_DAYS_LEFT, TREE_CLOCK_EXPIRED, TREE_NCLOCK };

/* Their entry names ("days_left", "expired"). */
extern const char *const tree_clock_names[TREE_NCLOCK];

/* A node resolved in one snapshot; tok points into that snapshot. */
struct tree_node {
	uint64_t ino;
	enum tree_kind kind;
	const struct snap_token *tok; /* token nodes only */
	enum snap_file file;          /* TREE_TOKEN_FILE */
	enum tree_clock_file clock;   /* TREE_TOKEN_CLOCK */
	enum tree_kind view;          /* TREE_TOKEN_LINK: the folder it is in */
	uint64_t seq;                 /* TREE_MINT_*: the folder's number in minted.h */
	enum tree_mint_part part;     /* TREE_MINT_* */
};

/* Ownership and permission bits applied to every node. */
struct tree_owner {
	uid_t uid;
	gid_t gid;
	mode_t umask;  /* applied to folders and files, not links */
	bool manage;   /* -o manage: the owner may write tokens/ and new/ */
};

/* The moment a request is answered at, and what "expiring" means then. */
struct tree_clock {
	struct timespec now;
	long expiring_days;  /* expiring/ holds tokens expiring within this many days */
};

/* The node of part of the folder numbered seq in new/ (any seq from 1). */
void tree_mint_node(uint64_t seq, enum tree_mint_part part, struct tree_node *out);

/* The number of tokens.json as s holds it (TREE_INO_LIST when s is NULL). */
uint64_t tree_list_ino(const struct snapshot *s);

/*
 * The number of edition version (from 1) of status or metrics.prom (kind
 * TREE_STATUS or TREE_METRICS).  tree_node resolves every such number
 * (the tree does not know which editions exist; see editions.h); the fixed
 * TREE_INO_STATUS and TREE_INO_METRICS name them in plain listings.
 */
uint64_t tree_report_ino(enum tree_kind kind, uint64_t version);

/*
 * What versions of ino the kernel may hold are counted under: the same key
 * for every file of one version of a token, the number itself for
 * tokens.json; 0 for a node that has no versions (folders, links, status).
 */
uint64_t tree_version_key(uint64_t ino);

/*
 * The token ID a folder of tokens/ is named by: a canonical decimal ("7",
 * not "07", "+7" or "7 ") up to PAT_ID_MAX.  False if name is none.
 */
bool tree_parse_id(const char *name, int64_t *id);

/* Is ino tokens/ or a token's folder (whose locks rmdir in tokens/ holds)? */
bool tree_ino_in_tokens(uint64_t ino);

/* Is the version key (tree_version_key) the one s holds?  s may be NULL. */
bool tree_version_in(const struct snapshot *s, uint64_t key);

/*
 * Resolve an inode number in snapshot s (which may be NULL before the
 * first fetch: then only the fixed nodes exist).  Returns false when the
 * node does not exist in s, or s holds another version of it.  A link in expiring/ or expired/ resolves
 * whether or not its token is in that view now.
 */
bool tree_node(const struct snapshot *s, uint64_t ino, struct tree_node *out);

/* The node of file f of token t (any enum snap_file). */
void tree_token_file(const struct snap_token *t, enum snap_file f, struct tree_node *out);

/* The node of clock file c of token t. */
void tree_token_clock(const struct snap_token *t, enum tree_clock_file c, struct tree_node *out);

/* The node of token t's folder (tokens/<ID>). */
void tree_token_dir(const struct snap_token *t, struct tree_node *out);

/* The node of the link to token t in folder view (TREE_BYNAME, TREE_EXPIRING, TREE_EXPIRED). */
void tree_token_link(const struct snap_token *t, enum tree_kind view, struct tree_node *out);

/* What a lookup found. */
enum tree_found {
	TREE_FOUND,     /* *out is the entry */
	TREE_ABSENT,    /* parent has no such entry (at that moment, in a view) */
	TREE_NOT_DIR,   /* parent is not a folder */
};

/* Look name up in the folder parent at the moment clk. */
enum tree_found tree_lookup(const struct snapshot *s, const struct tree_clock *clk,
			    const struct tree_node *parent, const char *name,
			    struct tree_node *out);

/*
 * Fill st for node n; mount_time stands in for the fetch time when s is
 * NULL.  The size of a clock file, status and metrics.prom is left 0: it
 * is the length of what the caller renders.
 */
void tree_stat(const struct snapshot *s, const struct tree_node *n,
	       const struct tree_owner *own, struct timespec mount_time,
	       struct stat *st);

/* Is n a folder? */
bool tree_is_dir(const struct tree_node *n);

/* Is n a file whose body changes without a fetch (clock files, status, metrics)? */
bool tree_is_dynamic(const struct tree_node *n);

/*
 * Number of entries of folder dir, "." and ".." included.  A view
 * (expiring/, expired/) counts only "." and "..": list its members with
 * tree_view_members.
 */
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

/*
 * The entry of folder dir at or after position *pos: its name and node,
 * and in *pos the position of the entry after it.  A position stays
 * meaningful across snapshots: in tokens/, by-name/ and the views it is the
 * token ID plus 3 (they list in ID order), so a listing that goes on in
 * another snapshot neither repeats nor skips a token that is in both.
 * Views list their members at the moment clk.  Returns false past the
 * end.  O(log n), and a view's non-members are skipped one by one.
 */
bool tree_dir_next(const struct snapshot *s, const struct tree_clock *clk,
		   const struct tree_node *dir, uint64_t *pos, char *buf,
		   const char **name, struct tree_node *child);

/* Is dir listed by token ID from tree_dir_next (tokens/, by-name/, a view)? */
bool tree_dir_keyed(const struct tree_node *dir);

/* Positions tree_dir_next gives stay below this (IDs stop at PAT_ID_MAX). */
#define TREE_POS_LIMIT ((uint64_t)PAT_ID_MAX + 4)

/*
 * The listing cursor: where a listing resumes, and on which snapshot.  The
 * kernel hands back the offset of the last entry it got; in a folder listed
 * by ID (tree_dir_keyed) that offset is tree_dir_next's position with a tag
 * of the snapshot above it, its serial modulo 512:
 *
 *     tokens/ of snapshot 7, the entry of token 41 (position 41 + 3 = 44):
 *     | 0 (1 bit) | tag 7 (9 bits) | position 44 (54 bits) |
 *     = (7 << 54) | 44 = 0x01c000000000002c: resume after ID 41
 *
 * "." and ".." (offsets 1 and 2) and the entries of other folders carry no
 * tag.  The kernel keeps a folder's listing as one open reads it, and
 * another open may read the start of it from there, then ask for the rest:
 * that rest must come from the snapshot the tag names, or the listing
 * would be the start of one list and the end of another.  Should it be
 * gone (or, 512 refreshes on, another share its tag), the rest still goes
 * on from the token after the last one listed.
 */
struct tree_cursor {
	const struct snapshot *s;
	const struct tree_clock *clk;
	struct tree_node dir;
	uint64_t pos;  /* tree_dir_next's position */
	uint64_t tag;  /* what the offsets given carry above it */
};

/*
 * Does a listing of dir at offset off go on in s: does off carry no tag, or
 * s's?  If not, it goes on in the snapshot that has its tag, if one is kept.
 */
bool tree_cursor_in(const struct snapshot *s, const struct tree_node *dir, uint64_t off);

/*
 * Read folder dir of s (NULL before the first fetch) at the moment clk
 * from offset off on: 0 for the start, else an offset tree_cursor_next gave
 * (in whichever snapshot).  cur keeps s, clk and dir's snapshot as pointers.
 */
void tree_cursor_open(struct tree_cursor *cur, const struct snapshot *s,
		      const struct tree_clock *clk, const struct tree_node *dir, uint64_t off);

/*
 * The next entry (as tree_dir_next: the name may be in buf) and, in *off,
 * the offset to resume after it.  Returns false past the end.
 */
bool tree_cursor_next(struct tree_cursor *cur, char *buf, const char **name,
		      struct tree_node *child, uint64_t *off);

/*
 * The span over which view (expiring/ or expired/) keeps its members from
 * the moment clk: *since gets when they last changed (the fetch of s, or a
 * later expiry), *until when they next change.  Returns false, leaving
 * *until alone, when they never change again.  O(n).
 */
bool tree_view_span(const struct snapshot *s, const struct tree_clock *clk,
		    const struct tree_node *view, struct timespec *since,
		    struct timespec *until);

/*
 * The members of view (an expiring/ or expired/ node) at the moment clk:
 * indexes into s->tok, in entry-name order, written to out (which must hold
 * s->n entries).  Returns how many.  O(n).
 */
size_t tree_view_members(const struct snapshot *s, const struct tree_clock *clk,
			 const struct tree_node *view, uint32_t *out);

/* The link node and entry name of member idx (from tree_view_members) of view. */
void tree_view_entry(const struct snapshot *s, const struct tree_node *view, uint32_t idx,
		     const char **name, struct tree_node *child);

/*
 * Bytes of file n from the snapshot, its length in *len.  token.json is
 * rendered into *scratch (a malloc'd buffer of *scratch_cap bytes, grown as
 * needed; both may start as NULL/0; the caller frees it); every other body
 * points into s.  NULL when n is not such a file or memory runs out.
 */
const char *tree_body(const struct snapshot *s, const struct tree_node *n, size_t *len,
		      char **scratch, size_t *scratch_cap);

/* The length tree_body gives for n, without rendering it; 0 if it has no body. */
size_t tree_body_len(const struct snapshot *s, const struct tree_node *n);

/*
 * Render clock file n at the moment clk into buf of size cap ("12\n",
 * "0\n"; "unknown\n" when its token's Expiry is unreadable).  Returns the
 * length, or 0 if n is not a clock file.
 */
size_t tree_clock_body(const struct tree_node *n, const struct tree_clock *clk,
		       char *buf, size_t cap);

/*
 * The span of time over which clock file n keeps the body it has at the
 * moment clk: *since gets the instant its body last changed (before clk
 * when nothing has changed since the token was created: its CreatedOn),
 * *until the instant after which it next changes.  Returns false, leaving
 * *until alone, when the body never changes again (expired is 1, or the Expiry is unreadable), or when
 * n is not a clock file.
 */
bool tree_clock_span(const struct tree_node *n, const struct tree_clock *clk,
		     struct timespec *since, struct timespec *until);

/*
 * Write the target of link n ("../tokens/<ID>") into buf of size cap.
 * Returns its length, or 0 if n is not a link.
 */
size_t tree_readlink(const struct tree_node *n, char *buf, size_t cap);

#endif
