/*
 * pat_list.c - the tests' list of every token of a body; see pat_list.h.
 */
#include "pat_list.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"

/* Order by ID, then by position in the body, so that the first one wins. */
static int cmp_id_pos(const void *a, const void *b)
{
	const struct pat *x = a, *y = b;

	if (x->id != y->id)
		return x->id < y->id ? -1 : 1;
	return x->index < y->index ? -1 : x->index > y->index;
}

/*
 * The strings of the tokens kept: copied into a chain of blocks, a few
 * hundred kilobytes each, instead of one allocation per string.  A block
 * never moves, so the pointers handed out stay valid.
 */
struct str_block {
	struct str_block *next;
	size_t used, cap;
	char data[];
};

#define STR_BLOCK_SIZE ((size_t)256 * 1024)

/* A copy of s owned by l, or NULL when memory runs out. */
static const char *keep_str(struct pat_list *l, const char *s)
{
	struct str_block *b = l->strings;
	size_t n = strlen(s) + 1;
	char *dst;

	if (!b || b->cap - b->used < n) {
		size_t cap = n > STR_BLOCK_SIZE / 4 ? n : STR_BLOCK_SIZE;
		struct str_block *nb = malloc(sizeof(*nb) + cap);

		if (!nb)
			return NULL;
		nb->used = 0;
		nb->cap = cap;
		/* A big string gets a block of its own, behind the one being filled. */
		if (b && cap != STR_BLOCK_SIZE) {
			nb->next = b->next;
			b->next = nb;
		} else {
			nb->next = b;
			l->strings = nb;
		}
		b = nb;
	}
	dst = b->data + b->used;
	memcpy(dst, s, n);
	b->used += n;
	return dst;
}

/* Point p's strings at copies owned by l instead of into a cJSON item. */
static bool keep_strings(struct pat_list *l, struct pat *p)
{
	return (p->name = keep_str(l, p->name)) &&
	       (p->created_on = keep_str(l, p->created_on)) &&
	       (p->expiry = keep_str(l, p->expiry)) &&
	       (p->user_id = keep_str(l, p->user_id)) &&
	       (!p->reminder_raw || (p->reminder_raw = keep_str(l, p->reminder_raw)));
}

/* pat_each's callback for pat_parse: keep a copy of p in the list. */
static bool keep_token(void *ctx, const struct pat *p)
{
	struct pat_list *l = ctx;
	struct pat *q, *nv = buf_array_room(l->v, &l->cap, l->n, sizeof(*l->v));

	if (!nv)
		return false;
	l->v = nv;
	q = &l->v[l->n];
	*q = *p;
	if (!keep_strings(l, q))
		return false;
	l->n++;
	return true;
}

enum err_kind pat_parse(const char *body, size_t len, struct pat_list *out,
			struct err *e)
{
	enum err_kind rc;
	size_t w = 0;

	memset(out, 0, sizeof(*out));
	rc = pat_each(body, len, keep_token, out, &out->report, e);
	if (rc != ERR_OK) {
		pat_list_free(out);
		return rc;
	}
	if (out->n > 1) /* v is NULL when no token was kept */
		qsort(out->v, out->n, sizeof(*out->v), cmp_id_pos);
	for (size_t i = 0; i < out->n; i++) {
		if (w > 0 && out->v[w - 1].id == out->v[i].id) {
			pat_report_duplicate(&out->report, out->v[i].id, out->v[i].problems);
			continue;
		}
		out->v[w++] = out->v[i];
	}
	out->n = w;
	return ERR_OK;
}

void pat_list_free(struct pat_list *l)
{
	struct str_block *b, *next;

	if (!l)
		return;
	for (b = l->strings; b; b = next) {
		next = b->next;
		free(b);
	}
	free(l->v);
	memset(l, 0, sizeof(*l));
}
