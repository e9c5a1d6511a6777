/*
 * snapshot.h - an immutable, reference-counted view of one fetch of the
 * token list: tokens sorted by ID, the small file bodies rendered once, and
 * the by-name table.  token.json is not kept: it is rendered on demand from
 * the token's bytes in tokens.json (only its length is kept, for stat).
 * Readers hold a reference for as long as they use it; no lock is needed to
 * read one.
 *
 * Owns: one fetch's tokens, bodies and by-name table, numbered from the
 * snapshot it replaces at build, and its reference count.  Nothing in it
 * changes once snap_parse returns.
 * Must not touch: what others learn about it later (which folders the kernel listed:
 * prefetch.h; which versions it holds: held.h), the clock.
 */
#ifndef SYNERGYFS_SNAPSHOT_H
#define SYNERGYFS_SNAPSHOT_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "err.h"
#include "pat.h"

/* The files of a token's folder, in listing order. */
enum snap_file {
	SNAP_F_ID,
	SNAP_F_NAME,
	SNAP_F_CREATED_ON,
	SNAP_F_EXPIRY,
	SNAP_F_REMINDER,
	SNAP_F_USER_ID,
	SNAP_F_JSON,
	SNAP_F_EXPIRY_EPOCH,
	SNAP_NFILES
};

/* The entry name of each enum snap_file ("id", "name", ...). */
extern const char *const snap_file_names[SNAP_NFILES];

/*
 * Offsets are 32-bit to keep 100,000 tokens small: a build whose arena or
 * list would pass 4 GiB fails instead.
 */
struct snap_token {
	int64_t id;
	struct timespec created;        /* CreatedOn, for mtimes (0 when unreadable) */
	struct timespec expires;        /* Expiry (0 when unreadable: see snap_expiry_known) */
	unsigned problems;              /* enum pat_field bits: fields that could not be read */
	uint32_t body_off[SNAP_NFILES]; /* each file's bytes in the arena (not SNAP_F_JSON) */
	uint32_t body_len[SNAP_NFILES]; /* each file's length, SNAP_F_JSON's as rendered */
	uint32_t elem_off, elem_len;    /* the token's JSON object in list */
	uint32_t link_off;              /* by-name entry in the arena, NUL-terminated */
	uint32_t link_len;
	uint8_t gen;                    /* version of its files: see snap_parse */
};

/* Versions of a token's files count modulo this (they are in inode numbers). */
#define SNAP_GEN_BITS 6

struct snapshot {
	atomic_uint refs;
	struct snap_token *tok;  /* sorted by id */
	size_t n;
	uint32_t *by_name;       /* indexes into tok, sorted by entry name */
	char *arena;             /* the small rendered bodies and the entry names */
	size_t arena_len;
	char *list;              /* tokens.json: the body as fetched, newline-ended */
	size_t list_len;
	struct timespec fetched; /* wall-clock time of the fetch */
	size_t problems;         /* tokens with a field that could not be read */
	uint64_t serial;         /* 1, then prev's + 1: see snap_parse */
	uint64_t list_ver;       /* version of tokens.json, from 1: see snap_parse */
};

/*
 * A body this long is parsed by two threads at once (pat_each_cut), cut
 * near its middle; below it, starting a thread costs more than it saves.
 */
#define SNAP_SPLIT_MIN ((size_t)256 * 1024)

/*
 * Parse body (pat_each, or pat_each_cut from SNAP_SPLIT_MIN bytes on) and
 * build a snapshot of its tokens as they come, holding one reference: no
 * list of parsed tokens is kept on the side.
 * Tokens with a repeated ID after the first are dropped and reported in
 * *r, with those pat_each skipped.  body is malloc'd and passes to the
 * snapshot (it is freed on failure).  Returns NULL with *e set: ERR_PROTO
 * when the body is not a list (as pat_each says), ERR_NOMEM, or
 * ERR_TOOBIG when the snapshot would pass its 4 GiB limit.
 *
 * prev is the snapshot this one replaces (NULL for the first): what the
 * new one is numbered from, so that nothing of it changes once built.
 * Its serial is prev's + 1 (1 without prev).  A token whose files all read
 * as in prev keeps its gen, one with any file changed (its times included)
 * gets the next (modulo 1 << SNAP_GEN_BITS), a new one 0; tokens.json keeps
 * prev's list_ver if its bytes are the same, else the next (1 without
 * prev).  A file's version is part of its inode number, so the kernel never
 * holds two bodies under one number.  Numbering is O(n).
 */
struct snapshot *snap_parse(char *body, size_t len, struct timespec fetched,
			    const struct snapshot *prev, struct pat_report *r, struct err *e);

/* The memory s takes, roughly: its arrays, bodies and list. */
size_t snap_bytes(const struct snapshot *s);

/* Take one more reference to s; returns s. */
struct snapshot *snap_ref(struct snapshot *s);

/* Drop one reference; the last one frees s.  s may be NULL. */
void snap_unref(struct snapshot *s);

/* The index of the first token whose ID is at least id (s->n if none).  O(log n). */
size_t snap_first_id_from(const struct snapshot *s, int64_t id);

/* The token with this ID, or NULL.  O(log n). */
const struct snap_token *snap_find_id(const struct snapshot *s, int64_t id);

/* The token whose by-name entry is name, or NULL.  O(log n). */
const struct snap_token *snap_find_name(const struct snapshot *s, const char *name);

/* Body of file f (any but SNAP_F_JSON) of token t; its length in *len. */
static inline const char *snap_body(const struct snapshot *s, const struct snap_token *t,
				    enum snap_file f, size_t *len)
{
	*len = t->body_len[f];
	return s->arena + t->body_off[f];
}

/*
 * token.json of token t, rendered into *scratch (a malloc'd buffer of
 * *scratch_cap bytes, grown as needed; both may start as NULL/0; the caller
 * frees it).  Its length, always t->body_len[SNAP_F_JSON], in *len.
 * Returns *scratch, or NULL when memory runs out.
 */
const char *snap_token_json(const struct snapshot *s, const struct snap_token *t,
			    size_t *len, char **scratch, size_t *scratch_cap);

/*
 * What a file derived from an unreadable field says instead of a value
 * (expiry_epoch, days_left, expired), newline excluded.
 */
#define SNAP_UNKNOWN "unknown"

/*
 * Could token t's Expiry be read?  When not, t is neither expiring nor
 * expired: it is in no view, and its clock files say SNAP_UNKNOWN.
 */
static inline bool snap_expiry_known(const struct snap_token *t)
{
	return !(t->problems & PAT_EXPIRY);
}

/* Has token t expired at the moment now (its Expiry reached)?  Only for a known Expiry. */
static inline bool snap_expired(const struct snap_token *t, struct timespec now)
{
	return now.tv_sec > t->expires.tv_sec ||
	       (now.tv_sec == t->expires.tv_sec && now.tv_nsec >= t->expires.tv_nsec);
}

/* The by-name entry name of token t. */
static inline const char *snap_link_name(const struct snapshot *s, const struct snap_token *t)
{
	return s->arena + t->link_off;
}

#endif
