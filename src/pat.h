/*
 * pat.h - the JSON model: the body of getPersonalAccessTokens turned into a
 * validated list of tokens.  The only module that knows cJSON.
 */
#ifndef SYNERGYFS_PAT_H
#define SYNERGYFS_PAT_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "err.h"

/*
 * The largest token ID accepted: JSON numbers are read as doubles, which
 * hold every integer exactly only below 2^53.  IDs become inode numbers.
 */
#define PAT_ID_MAX (((int64_t)1 << 53) - 1)

/* One token.  The strings belong to the pat_list and live as long as it. */
struct pat {
	int64_t id;
	const char *name;       /* Name, verbatim */
	const char *created_on; /* CreatedOn, verbatim */
	const char *expiry;     /* Expiry, verbatim */
	const char *user_id;    /* UserID.IDString */
	int64_t reminder_state; /* ExpiryReminderState */
	struct timespec created, expires;
	const void *obj;        /* the token's JSON object, for pat_render */
	size_t index;           /* position in the body's array, from 0 */
};

/* A parsed list: valid tokens sorted by ID, IDs unique. */
struct pat_list {
	struct pat *v;
	size_t n;
	size_t skipped;     /* objects dropped as invalid or duplicate */
	char warnings[1024]; /* the first reasons for skipping, one per line */
	void *doc;          /* the parsed document that owns the strings */
};

/*
 * Parse len bytes of body.  On success *out holds every valid token; an
 * object with a missing or mistyped field, or a repeated ID (the first one
 * wins), is skipped and described in out->warnings.  Fails with ERR_PROTO
 * when the body is not JSON or not an array, ERR_NOMEM when memory runs
 * out; *out is then empty.  Free with pat_list_free either way.
 */
enum err_kind pat_parse(const char *body, size_t len, struct pat_list *out,
			struct err *e);

/*
 * Render p's JSON object on one line, followed by a newline, into *buf (a
 * malloc'd buffer of *cap bytes, grown as needed; both may start as
 * NULL/0).  Returns the rendered length, or 0 when memory runs out.
 */
size_t pat_render(const struct pat *p, char **buf, size_t *cap);

/* Release everything pat_parse allocated; l may be zeroed or NULL. */
void pat_list_free(struct pat_list *l);

#endif
