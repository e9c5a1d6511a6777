/*
 * pat.h - the JSON model: the body of getPersonalAccessTokens turned into a
 * validated list of tokens.  The only module that knows cJSON.
 *
 * Owns: the body read as JSON, each token checked, token.json rendered;
 * the JSON of generate-pat, its request and its answer (pat_generate.c).
 * Must not touch: a token once pat_fn returns (keeping it is snapshot.c's).
 *
 * No tree of the whole body is ever built: each element of the array is
 * parsed on its own, handed over as a struct pat, and dropped.  A token
 * remembers where its object lies in the body, so that its JSON can be
 * rendered again from there when asked for.
 */
#ifndef SYNERGYFS_PAT_H
#define SYNERGYFS_PAT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "err.h"

struct secret; /* secret.h */

/*
 * The largest token ID accepted: JSON numbers are read as doubles, which
 * hold every integer exactly only below 2^53.  IDs become inode numbers.
 */
#define PAT_ID_MAX (((int64_t)1 << 53) - 1)

/*
 * The fields of a token that may be unreadable, as bits of struct pat's
 * problems.  Only the ID is needed to list a token: without it the object
 * is skipped.
 */
enum pat_field {
	PAT_NAME = 1 << 0,       /* Name: not a string */
	PAT_CREATED_ON = 1 << 1, /* CreatedOn: not a timestamp ts_parse reads */
	PAT_EXPIRY = 1 << 2,     /* Expiry: likewise */
	PAT_REMINDER = 1 << 3,   /* ExpiryReminderState: not a 32-bit integer */
	PAT_USER_ID = 1 << 4,    /* UserID.IDString: not a string in an object */
};
#define PAT_NFIELDS 5

/*
 * One token.  Its strings live only as long as pat_each's callback: a
 * caller that keeps the token copies them.
 *
 * A field flagged in problems holds its raw text instead: a string as the
 * server sent it, another JSON value as compact JSON (numbers exact), ""
 * when missing.  Its parsed value (created, expires, reminder_state) is 0.
 */
struct pat {
	int64_t id;
	const char *name;       /* Name, verbatim */
	const char *created_on; /* CreatedOn, verbatim */
	const char *expiry;     /* Expiry, verbatim */
	const char *user_id;    /* UserID.IDString */
	int64_t reminder_state; /* ExpiryReminderState */
	const char *reminder_raw; /* its raw text when PAT_REMINDER, else NULL */
	unsigned problems;      /* enum pat_field bits: the fields that could not be read */
	struct timespec created, expires;
	size_t elem_off;        /* the token's JSON object: its first byte in the body */
	size_t elem_len;        /* ... and its length, for pat_render */
	size_t index;           /* position in the body's array, from 0 */
};

/* What a parse skipped or could not read, and why. */
struct pat_report {
	size_t skipped;      /* objects dropped: not an object, no usable ID, or duplicate */
	size_t problems;     /* tokens kept with fields that could not be read (repeats not) */
	char warnings[4096]; /* the first reasons, one per line, as many as fit */
};

/* pat_each's callback: take token p (true), or fail for want of memory (false). */
typedef bool (*pat_fn)(void *ctx, const struct pat *p);

/*
 * Parse len bytes of body, and call fn for each token, in the order of the
 * array: duplicates included, nothing kept.  An element that is not an
 * object, or has no usable ID, is skipped and described in *r; a token with
 * fields that cannot be read is handed over with them flagged (struct pat)
 * and each such field is described in *r, one line each.  Fails with
 * ERR_PROTO when the body is not JSON or not an array, with ERR_NOMEM
 * when fn returns false; fn may have been called for tokens before the
 * failure.
 */
enum err_kind pat_each(const char *body, size_t len, pat_fn fn, void *ctx,
		       struct pat_report *r, struct err *e);

/*
 * A place to cut the array for two threads: element number pos (from 0)
 * begins at byte off.
 */
struct pat_cut {
	size_t off, pos;
};

/*
 * The first element of the array that begins at byte from or later, found
 * from brackets and quotes alone: fast, and right for any body that is
 * JSON up to there.  False when there is none, or body is no array.
 */
bool pat_find_cut(const char *body, size_t len, size_t from, struct pat_cut *cut);

/*
 * pat_each, with the elements from the cut on read by a second thread at
 * the same time: their tokens go to fn with ctx[1], those before the cut
 * with ctx[0], so fn is called from two threads at once, never with the
 * same ctx.  Each part's tokens come in the order of the array.
 *
 * The cut is checked: the second part is used only when the first walk
 * meets element cut.pos exactly at byte cut.off.  *second then tells the
 * caller to put ctx[1]'s tokens after ctx[0]'s.  When it is false, every
 * token of the body went to ctx[0], and any given to ctx[1] must be
 * dropped.  The errors and *r are pat_each's, whatever the cut.
 */
enum err_kind pat_each_cut(const char *body, size_t len, struct pat_cut cut, pat_fn fn,
			   void *const ctx[2], bool *second, struct pat_report *r,
			   struct err *e);

/*
 * Count the token with this ID as skipped in *r: a repeat of an ID already
 * taken.  problems are its enum pat_field bits: one with any no longer
 * counts in r->problems.
 */
void pat_report_duplicate(struct pat_report *r, int64_t id, unsigned problems);

/*
 * Render a token's JSON object on one line, followed by a newline and a
 * NUL, into *buf (a malloc'd buffer of *cap bytes, grown as needed; both
 * may start as NULL/0): compact, as cJSON prints it, every number exact.
 * elem and elem_len are the object's bytes as pat_each found them in the
 * body (body + p->elem_off, p->elem_len).  Returns the rendered length
 * without the NUL, or 0 when memory runs out or elem is not JSON.
 */
size_t pat_render(const char *elem, size_t elem_len, char **buf, size_t *cap);

/*
 * The length pat_render gives for elem, rendering into *buf only when the
 * element is not already printed as cJSON prints it.  0 as pat_render.
 */
size_t pat_render_len(const char *elem, size_t elem_len, char **buf, size_t *cap);

/*
 * The JSON body of a generate-pat request, on one line, keys in this order:
 *
 *   pat_generate_body("app", "ci/cd \"main\"", 30)
 *     -> {"ClientId":"app","Name":"ci/cd \"main\"","ExpireInDays":30}
 *
 * client_id and name are NUL-terminated UTF-8, escaped as JSON needs
 * ('"', '\\' and control characters; other bytes, '/' and UTF-8 included,
 * go as they are).  days is written as it is: checking its range is the
 * caller's.  Returns a malloc'd, NUL-terminated string (caller frees), or
 * NULL when out of memory.
 */
char *pat_generate_body(const char *client_id, const char *name, long days);

/*
 * The new token in a generate-pat answer of len bytes: one JSON string,
 * JSON whitespace around it allowed, escapes decoded ("ab\u002fc" is
 * "ab/c").  The token must be non-empty and printable ASCII other than
 * space (0x21..0x7e), so that it works as a bearer token.  On success *out
 * is a struct secret (secret.h: the caller frees it with secret_free)
 * holding the decoded token.  Otherwise *out is NULL and the kind is
 * ERR_PROTO (an object, a number, an empty or cut string, a control
 * character, more after the string, ...) or ERR_NOMEM, with a one-line
 * cause in *e that never holds any of the answer's bytes.  The only copy
 * made on the way (a scratch buffer) is wiped before it is freed; body is
 * the caller's to wipe.
 */
enum err_kind pat_secret(const char *body, size_t len, struct secret **out, struct err *e);

/* The longest token pat_secret takes, in bytes: a server's answer is not held past it. */
#define PAT_SECRET_MAX 8192

#endif
