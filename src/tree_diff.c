/*
 * tree_diff.c - what changed between two snapshots; see tree_diff.h.
 */
#include "tree_diff.h"

#include <string.h>

#include "buf.h"
#include "tree.h"

/* The names token t has in s, in tokens/ and in every view of by-name. */
static void diff_entries(const struct snapshot *s, const struct snap_token *t,
			 const struct tree_diff_ops *ops, void *ctx)
{
	const char *link = snap_link_name(s, t);
	char id[TREE_NAME_BUF];
	size_t len = buf_i64(id, t->id);

	ops->entry(ctx, TREE_INO_TOKENS, id, len);
	ops->entry(ctx, TREE_INO_BYNAME, link, t->link_len);
	ops->entry(ctx, TREE_INO_EXPIRING, link, t->link_len);
	ops->entry(ctx, TREE_INO_EXPIRED, link, t->link_len);
}

/*
 * Token t's files have new numbers (a new version): the kernel must look
 * their names up again, and drop the folder's listing, which holds the old
 * numbers.  What it holds under an old number stays true of that version.
 */
static void diff_files(const struct snap_token *t, const struct tree_diff_ops *ops, void *ctx)
{
	struct tree_node dir;

	tree_token_dir(t, &dir);
	for (unsigned f = 0; f < SNAP_NFILES; f++)
		ops->entry(ctx, dir.ino, snap_file_names[f], strlen(snap_file_names[f]));
	for (unsigned c = 0; c < TREE_NCLOCK; c++)
		ops->entry(ctx, dir.ino, tree_clock_names[c], strlen(tree_clock_names[c]));
	ops->node(ctx, dir.ino, true);
}

/* The unversioned nodes of token t: its folder and links. */
static void diff_nodes(const struct snap_token *t, const struct tree_diff_ops *ops, void *ctx)
{
	static const enum tree_kind views[] = { TREE_EXPIRING, TREE_EXPIRED, TREE_BYNAME };
	struct tree_node n;

	tree_token_dir(t, &n);
	ops->node(ctx, n.ino, true);
	for (size_t i = 0; i < sizeof(views) / sizeof(views[0]); i++) {
		tree_token_link(t, views[i], &n);
		ops->node(ctx, n.ino, true);
	}
}

/* Token x of a became y of b (same ID): what of it changed?  Sets *renamed. */
static void diff_token(const struct snapshot *a, const struct snap_token *x,
		       const struct snapshot *b, const struct snap_token *y,
		       const struct tree_diff_ops *ops, void *ctx, bool *renamed)
{
	if (x->gen != y->gen)
		diff_files(y, ops, ctx);
	if (x->created.tv_sec != y->created.tv_sec || x->created.tv_nsec != y->created.tv_nsec)
		diff_nodes(y, ops, ctx); /* their mtimes */
	if (x->link_len != y->link_len ||
	    memcmp(snap_link_name(a, x), snap_link_name(b, y), x->link_len) != 0) {
		diff_entries(a, x, ops, ctx);
		diff_entries(b, y, ops, ctx);
		*renamed = true;
	}
}

void tree_diff(const struct snapshot *a, const struct snapshot *b,
	       const struct tree_diff_ops *ops, void *ctx)
{
	bool ids = false, renamed = false;
	size_t i = 0, j = 0;

	while (i < a->n || j < b->n) {
		const struct snap_token *x = i < a->n ? &a->tok[i] : NULL;
		const struct snap_token *y = j < b->n ? &b->tok[j] : NULL;

		if (x && (!y || x->id < y->id)) {
			/* Gone: its names, and its nodes should the ID come back. */
			diff_entries(a, x, ops, ctx);
			diff_nodes(x, ops, ctx);
			diff_files(x, ops, ctx);
			ids = true;
			i++;
		} else if (!x || y->id < x->id) {
			/* New: names the kernel may hold as absent. */
			diff_entries(b, y, ops, ctx);
			ids = true;
			j++;
		} else {
			diff_token(a, x, b, y, ops, ctx, &renamed);
			i++;
			j++;
		}
	}
	/* The fixed nodes carry the time of the fetch: their attributes change. */
	if (a->list_ver != b->list_ver) {
		ops->entry(ctx, TREE_INO_ROOT, "tokens.json", strlen("tokens.json"));
		ops->node(ctx, TREE_INO_ROOT, true); /* its listing holds the old number */
	} else {
		ops->node(ctx, TREE_INO_ROOT, false);
	}
	ops->node(ctx, TREE_INO_TOKENS, ids);
	ops->node(ctx, TREE_INO_BYNAME, ids || renamed);
	ops->node(ctx, TREE_INO_EXPIRING, ids || renamed);
	ops->node(ctx, TREE_INO_EXPIRED, ids || renamed);
}
