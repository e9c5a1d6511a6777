/*
 * tree.c - the mount's tree over a snapshot; see tree.h.
 */
#include "tree.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SLOT_BITS 4
#define SLOT_DIR 0
#define SLOT_LINK 15 /* slots 1..SNAP_NFILES are the files */

static uint64_t token_ino(int64_t id, unsigned slot)
{
	return ((uint64_t)(id + 1) << SLOT_BITS) | slot;
}

static void fixed(struct tree_node *n, uint64_t ino, enum tree_kind kind)
{
	*n = (struct tree_node){ .ino = ino, .kind = kind };
}

static void token_node(struct tree_node *n, const struct snap_token *t, unsigned slot)
{
	n->ino = token_ino(t->id, slot);
	n->tok = t;
	n->file = SNAP_F_ID;
	if (slot == SLOT_DIR) {
		n->kind = TREE_TOKEN_DIR;
	} else if (slot == SLOT_LINK) {
		n->kind = TREE_TOKEN_LINK;
	} else {
		n->kind = TREE_TOKEN_FILE;
		n->file = (enum snap_file)(slot - 1);
	}
}

bool tree_node(const struct snapshot *s, uint64_t ino, struct tree_node *out)
{
	const struct snap_token *t;
	unsigned slot = ino & ((1u << SLOT_BITS) - 1);

	switch (ino) {
	case TREE_INO_ROOT:   fixed(out, ino, TREE_ROOT); return true;
	case TREE_INO_TOKENS: fixed(out, ino, TREE_TOKENS); return true;
	case TREE_INO_BYNAME: fixed(out, ino, TREE_BYNAME); return true;
	case TREE_INO_LIST:   fixed(out, ino, TREE_LIST); return true;
	}
	if (!s || ino < (1u << SLOT_BITS) || (slot > SNAP_NFILES && slot != SLOT_LINK))
		return false;
	t = snap_find_id(s, (int64_t)(ino >> SLOT_BITS) - 1);
	if (!t)
		return false;
	token_node(out, t, slot);
	return true;
}

/* Parse a canonical decimal ID ("7", not "07", "+7" or "7 "). */
static bool parse_id(const char *name, int64_t *id)
{
	int64_t v = 0;

	if (name[0] < '0' || name[0] > '9' || (name[0] == '0' && name[1]))
		return false;
	for (const char *p = name; *p; p++) {
		if (*p < '0' || *p > '9' || v > PAT_ID_MAX / 10)
			return false;
		v = v * 10 + (*p - '0');
	}
	*id = v;
	return v <= PAT_ID_MAX;
}

int tree_lookup(const struct snapshot *s, const struct tree_node *parent,
		const char *name, struct tree_node *out)
{
	const struct snap_token *t = NULL;
	int64_t id;

	switch (parent->kind) {
	case TREE_ROOT:
		if (strcmp(name, "tokens") == 0)
			fixed(out, TREE_INO_TOKENS, TREE_TOKENS);
		else if (strcmp(name, "by-name") == 0)
			fixed(out, TREE_INO_BYNAME, TREE_BYNAME);
		else if (strcmp(name, "tokens.json") == 0)
			fixed(out, TREE_INO_LIST, TREE_LIST);
		else
			return -ENOENT;
		return 0;
	case TREE_TOKENS:
		if (s && parse_id(name, &id))
			t = snap_find_id(s, id);
		if (!t)
			return -ENOENT;
		token_node(out, t, SLOT_DIR);
		return 0;
	case TREE_BYNAME:
		if (s)
			t = snap_find_name(s, name);
		if (!t)
			return -ENOENT;
		token_node(out, t, SLOT_LINK);
		return 0;
	case TREE_TOKEN_DIR:
		for (unsigned f = 0; f < SNAP_NFILES; f++) {
			if (strcmp(name, snap_file_names[f]) == 0) {
				token_node(out, parent->tok, f + 1);
				return 0;
			}
		}
		return -ENOENT;
	default:
		return -ENOTDIR;
	}
}

bool tree_is_dir(const struct tree_node *n)
{
	return n->kind == TREE_ROOT || n->kind == TREE_TOKENS ||
	       n->kind == TREE_BYNAME || n->kind == TREE_TOKEN_DIR;
}

const char *tree_body(const struct snapshot *s, const struct tree_node *n, size_t *len)
{
	if (n->kind == TREE_LIST && s) {
		*len = s->list_len;
		return s->list;
	}
	if (n->kind == TREE_TOKEN_FILE)
		return snap_body(s, n->tok, n->file, len);
	return NULL;
}

size_t tree_readlink(const struct tree_node *n, char *buf, size_t cap)
{
	int len;

	if (n->kind != TREE_TOKEN_LINK)
		return 0;
	len = snprintf(buf, cap, "../tokens/%" PRId64, n->tok->id);
	return len > 0 && (size_t)len < cap ? (size_t)len : 0;
}

void tree_stat(const struct snapshot *s, const struct tree_node *n,
	       const struct tree_owner *own, struct timespec mount_time,
	       struct stat *st)
{
	struct timespec t = s ? s->fetched : mount_time;
	size_t len = 0;
	char link[64];

	memset(st, 0, sizeof(*st));
	st->st_ino = n->ino;
	st->st_uid = own->uid;
	st->st_gid = own->gid;
	st->st_blksize = 4096;
	if (n->tok)
		t = n->tok->created;
	if (tree_is_dir(n)) {
		st->st_mode = S_IFDIR | (0555 & ~own->umask);
		st->st_nlink = 2;
		if (n->kind == TREE_ROOT)
			st->st_nlink = 4;
		else if (n->kind == TREE_TOKENS && s)
			st->st_nlink = 2 + s->n;
	} else if (n->kind == TREE_TOKEN_LINK) {
		st->st_mode = S_IFLNK | 0777;
		st->st_nlink = 1;
		st->st_size = (off_t)tree_readlink(n, link, sizeof(link));
	} else {
		st->st_mode = S_IFREG | (0444 & ~own->umask);
		st->st_nlink = 1;
		if (!tree_body(s, n, &len))
			len = 0;
		st->st_size = (off_t)len;
		st->st_blocks = (blkcnt_t)((len + 511) / 512);
	}
	st->st_mtim = st->st_atim = st->st_ctim = t;
}

size_t tree_dir_count(const struct snapshot *s, const struct tree_node *dir)
{
	switch (dir->kind) {
	case TREE_ROOT:      return 5;
	case TREE_TOKENS:
	case TREE_BYNAME:    return 2 + (s ? s->n : 0);
	case TREE_TOKEN_DIR: return 2 + SNAP_NFILES;
	default:             return 0;
	}
}

/* The folder that holds dir. */
static void parent_of(const struct tree_node *dir, struct tree_node *out)
{
	if (dir->kind == TREE_TOKEN_DIR)
		fixed(out, TREE_INO_TOKENS, TREE_TOKENS);
	else
		fixed(out, TREE_INO_ROOT, TREE_ROOT);
}

bool tree_dir_entry(const struct snapshot *s, const struct tree_node *dir, size_t i,
		    char *buf, const char **name, struct tree_node *child)
{
	static const char *const root_names[] = { "tokens", "by-name", "tokens.json" };

	if (i >= tree_dir_count(s, dir))
		return false;
	if (i == 0) {
		*name = ".";
		*child = *dir;
		return true;
	}
	if (i == 1) {
		*name = "..";
		parent_of(dir, child);
		return true;
	}
	i -= 2;
	switch (dir->kind) {
	case TREE_ROOT:
		*name = root_names[i];
		return tree_lookup(s, dir, root_names[i], child) == 0;
	case TREE_TOKENS:
		snprintf(buf, TREE_NAME_BUF, "%" PRId64, s->tok[i].id);
		*name = buf;
		token_node(child, &s->tok[i], SLOT_DIR);
		return true;
	case TREE_BYNAME:
		token_node(child, &s->tok[s->by_name[i]], SLOT_LINK);
		*name = snap_link_name(s, child->tok);
		return true;
	case TREE_TOKEN_DIR:
		*name = snap_file_names[i];
		token_node(child, dir->tok, (unsigned)i + 1);
		return true;
	default:
		return false;
	}
}
