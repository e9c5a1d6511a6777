/*
 * pat_list.h - for the tests only: every token of a body in one sorted,
 * de-duplicated list, built with pat_each.  The unit tests and the fuzz
 * harnesses check pat.c and the snapshot against it; the daemon never
 * keeps such a list (snap_parse builds its own table), so it is not in
 * the binary.
 */
#ifndef SYNERGYFS_PAT_LIST_H
#define SYNERGYFS_PAT_LIST_H

#include <stddef.h>

#include "err.h"
#include "pat.h"

/* A parsed list: tokens sorted by ID, IDs unique. */
struct pat_list {
	struct pat *v;
	size_t n, cap;
	struct pat_report report;
	void *strings;      /* the blocks that own the strings of v */
};

/*
 * Parse len bytes of body (with pat_each).  On success *out holds every
 * token with a usable ID; an element without one, or a repeated ID (the
 * first one wins), is skipped and described in out->report, as is each
 * field that could not be read.  The strings of the tokens belong to the
 * list and live as long as it.
 * Fails with ERR_PROTO when the body is not JSON or not an array,
 * ERR_NOMEM when memory runs out; *out is then empty.  Free with
 * pat_list_free either way.  The list does not point into body, but
 * elem_off/elem_len of its tokens refer to it.
 */
enum err_kind pat_parse(const char *body, size_t len, struct pat_list *out,
			struct err *e);

/* Release everything pat_parse allocated; l may be zeroed or NULL. */
void pat_list_free(struct pat_list *l);

#endif
