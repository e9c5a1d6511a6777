/*
 * fs_mint.c - new/ and the changes -o manage allows: mkdir in new/
 * creates a token, rmdir in tokens/ deletes one, rm new/<name>/secret lets
 * go of a secret.  new/ and its folders are minted.h's; the requests are
 * manage.h's.  Everything else that would change something is refused
 * (fs_ro.c), and no file opens for writing (fs_open).
 *
 * The kernel is told of new/'s folders by the replies alone: they are
 * never kept (entry and attribute timeouts 0), so that no notification,
 * which would need new/'s lock, is ever sent for them.
 */
#include "fs_impl.h"

#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "escape.h"
#include "inval.h"
#include "manage.h"
#include "minted.h"

/* The files of a folder in new/ after "." and "..", in listing order. */
static const struct {
	const char *name;
	enum tree_mint_part part;
} mint_files[] = {
	{ "secret", TREE_MINT_SECRET },
	{ "id", TREE_MINT_ID },
	{ "token", TREE_MINT_TOKEN },
};
#define NMINT_FILES (sizeof(mint_files) / sizeof(mint_files[0]))

/* May the caller of req create and delete tokens: the mounting user or root? */
static bool may_manage(fuse_req_t req)
{
	uid_t uid = fuse_req_ctx(req)->uid;

	return uid == 0 || uid == fs_of(req)->cfg.mounter;
}

/* The entry for node n of new/ (never kept: see the top of this file). */
static int mint_entry(struct fs *fs, const struct tree_node *n, struct fuse_entry_param *e)
{
	memset(e, 0, sizeof(*e));
	e->ino = n->ino;
	e->generation = 1;
	if (!fs_is_mint(n)) {
		/* ".." of new/: the root. */
		tree_stat(NULL, n, &fs->cfg.owner, fs->mount_time, &e->attr);
		return 0;
	}
	return fs_mint_attr(fs, n, &e->attr);
}

void fs_mint_lookup(fuse_req_t req, const struct tree_node *dir, const char *name)
{
	struct fs *fs = fs_of(req);
	struct fuse_entry_param e;
	struct minted_info f;
	struct tree_node n;
	bool found = false;

	if (fs->cfg.minted && dir->kind == TREE_NEW && minted_lookup(fs->cfg.minted, name, &f)) {
		tree_mint_node(f.seq, TREE_MINT_FOLDER, &n);
		found = true;
	}
	for (size_t i = 0; dir->kind == TREE_MINT_DIR && i < NMINT_FILES && !found; i++) {
		tree_mint_node(dir->seq, mint_files[i].part, &n);
		found = strcmp(name, mint_files[i].name) == 0;
	}
	if (!found || mint_entry(fs, &n, &e) != 0)
		fuse_reply_err(req, ENOENT);
	else
		fuse_reply_entry(req, &e);
}

/* Add an entry to a listing, as fs_dir.c's add_entry does; see it. */
static size_t add(fuse_req_t req, const char *name, const struct tree_node *n, int plus,
		  char *buf, size_t size, size_t used, off_t next)
{
	struct fuse_entry_param e;

	if (mint_entry(fs_of(req), n, &e) != 0)
		return 0;
	if (!plus)
		return fuse_add_direntry(req, buf + used, size - used, name, &e.attr, next);
	return fuse_add_direntry_plus(req, buf + used, size - used, name, &e, next);
}

/*
 * Entry i of a listing of dir: "." and "..", then new/'s folders by seq
 * (the offset of each is its seq + 2) or a folder's files by index.
 */
static bool nth(struct fs *fs, const struct tree_node *dir, uint64_t off, const char **name,
		struct tree_node *n, uint64_t *next, struct minted_info *f)
{
	uint64_t after;

	if (off < 2) {
		*name = off == 0 ? "." : "..";
		if (off == 0)
			*n = *dir;
		else if (dir->kind == TREE_NEW)
			tree_node(NULL, TREE_INO_ROOT, n);
		else
			tree_node(NULL, TREE_INO_NEW, n);
		*next = off + 1;
		return true;
	}
	if (dir->kind == TREE_NEW) {
		after = off - 2;
		if (!fs->cfg.minted || !minted_next(fs->cfg.minted, &after, f))
			return false;
		*name = f->entry;
		tree_mint_node(f->seq, TREE_MINT_FOLDER, n);
		*next = f->seq + 2;
		return true;
	}
	if (!fs->cfg.minted || !minted_get(fs->cfg.minted, dir->seq, f))
		return false;
	for (uint64_t i = off - 2; i < NMINT_FILES; i++) {
		if (fs_mint_has(f, mint_files[i].part)) {
			*name = mint_files[i].name;
			tree_mint_node(dir->seq, mint_files[i].part, n);
			*next = i + 3;
			return true;
		}
	}
	return false;
}

void fs_mint_list(fuse_req_t req, const struct tree_node *dir, size_t size, off_t off, int plus)
{
	struct fs *fs = fs_of(req);
	uint64_t pos = off < 0 ? 0 : (uint64_t)off, next;
	char *buf = malloc(size);
	struct minted_info f;
	struct tree_node n;
	const char *name;
	size_t used = 0, need;

	if (!buf) {
		fuse_reply_err(req, ENOMEM);
		return;
	}
	while (nth(fs, dir, pos, &name, &n, &next, &f)) {
		need = add(req, name, &n, plus, buf, size, used, (off_t)next);
		if (need == 0 || need > size - used)
			break;
		used += need;
		pos = next;
	}
	fuse_reply_buf(req, buf, used);
	free(buf);
}

void fs_mint_readlink(fuse_req_t req, const struct tree_node *n)
{
	struct minted_info f;
	char text[64];
	struct fs *fs = fs_of(req);

	if (!fs->cfg.minted || !minted_get(fs->cfg.minted, n->seq, &f) || !fs_mint_has(&f, n->part) ||
	    !fs_mint_text(&f, TREE_MINT_TOKEN, text, sizeof(text)))
		fuse_reply_err(req, ENOENT);
	else
		fuse_reply_readlink(req, text);
}

int fs_mint_open(fuse_req_t req, const struct tree_node *n, struct fuse_file_info *fi)
{
	struct fs *fs = fs_of(req);

	/* A secret is the mounting user's, whatever the mode bits or allow_other. */
	if (n->part == TREE_MINT_SECRET && fuse_req_ctx(req)->uid != fs->cfg.mounter)
		return EACCES;
	/* Never in the page cache: read from the locked copy each time. */
	fi->direct_io = 1;
	fi->keep_cache = 0;
	return 0;
}

static void reply_bytes(void *arg, const char *p, size_t len)
{
	fuse_reply_buf(arg, p, len);
}

void fs_mint_read(fuse_req_t req, const struct tree_node *n, size_t size, off_t off)
{
	struct fs *fs = fs_of(req);
	struct minted_info f;
	char text[64];
	size_t len;

	if (off < 0 || !fs->cfg.minted) {
		fuse_reply_err(req, EINVAL);
		return;
	}
	if (n->part == TREE_MINT_SECRET) {
		/* Checked again here: an open is not the only way to a read. */
		if (fuse_req_ctx(req)->uid != fs->cfg.mounter)
			fuse_reply_err(req, EACCES);
		else if (!minted_read_secret(fs->cfg.minted, n->seq, (size_t)off, size,
					     reply_bytes, req))
			fuse_reply_err(req, ENOENT);
		return;
	}
	if (!minted_get(fs->cfg.minted, n->seq, &f) || !fs_mint_has(&f, n->part)) {
		fuse_reply_err(req, ENOENT);
		return;
	}
	len = fs_mint_text(&f, n->part, text, sizeof(text));
	fs_reply_slice(req, text, len, size, off);
}

int fs_mint_access(fuse_req_t req, const struct tree_node *n, int mask)
{
	struct fs *fs = fs_of(req);

	if (n->kind == TREE_MINT_FILE && n->part == TREE_MINT_SECRET && (mask & R_OK) &&
	    fuse_req_ctx(req)->uid != fs->cfg.mounter)
		return EACCES;
	if (!(mask & W_OK))
		return 0;
	if (!fs->cfg.manage || !(n->kind == TREE_NEW || n->kind == TREE_MINT_DIR ||
				 n->kind == TREE_TOKENS))
		return EROFS;
	return may_manage(req) ? 0 : EACCES;
}

/*
 * The name a folder of new/ asks for: entry un-escaped as by-name/ writes
 * names (escape.h), into out (strlen(entry) + 1 bytes).  Every '\' must
 * start a "\xNN" escape; the name must be UTF-8 (JSON carries no other),
 * without NUL, and not empty.  Returns 0 or EINVAL.
 */
static int name_of(const char *entry, char *out)
{
	size_t len;

	for (const char *p = strchr(entry, '\\'); p; p = strchr(p + 1, '\\')) {
		if (p[1] != 'x' || !isxdigit((unsigned char)p[2]) || !isxdigit((unsigned char)p[3]))
			return EINVAL;
	}
	len = esc_unescape(entry, out);
	if (len == 0 || strlen(out) != len)
		return EINVAL;
	for (size_t i = 0, n; i < len; i += n) {
		n = esc_utf8_len((const unsigned char *)out + i, len - i);
		if (n == 0)
			return EINVAL;
	}
	return 0;
}

void fs_mkdir(fuse_req_t req, fuse_ino_t parent, const char *entry, mode_t mode)
{
	struct fs *fs = fs_of(req);
	struct fuse_entry_param e;
	char *name = NULL;
	struct tree_node n;
	enum err_kind kind;
	uint64_t seq;
	struct err err;
	int rc = 0;

	(void)mode;
	if (!fs->cfg.manage || parent != TREE_INO_NEW) {
		rc = EROFS;
	} else if (!may_manage(req)) {
		manage_refused(fs->cfg.manage, entry, 0, fuse_req_ctx(req)->uid);
		rc = EACCES;
	} else if (!(name = malloc(strlen(entry) + 1))) {
		rc = ENOMEM;
	} else {
		rc = name_of(entry, name);
	}
	if (rc == 0) {
		switch (minted_reserve(fs->cfg.minted, entry, &seq)) {
		case MINTED_RESERVED: break;
		case MINTED_EXISTS:   rc = EEXIST; break;
		case MINTED_FULL:     rc = ENOSPC; break;
		}
	}
	if (rc) {
		fuse_reply_err(req, rc);
		free(name);
		return;
	}
	err_clear(&err);
	kind = manage_create(fs->cfg.manage, seq, name, fuse_req_ctx(req)->uid, &err);
	free(name);
	/*
	 * Before answering, the kernel is told of the new list, so that the
	 * token is in tokens/ and the views once mkdir returns.  The notifier
	 * never needs new/'s lock (the kernel holds it now), and no change is
	 * being made that could wait for this one.
	 */
	inval_wait(fs->inval);
	tree_mint_node(seq, TREE_MINT_FOLDER, &n);
	if (kind != ERR_OK)
		fuse_reply_err(req, fs_errno(kind));
	else if (mint_entry(fs, &n, &e) != 0)
		fuse_reply_err(req, EIO);
	else
		fuse_reply_entry(req, &e);
}

void fs_rmdir(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	struct fs *fs = fs_of(req);
	struct minted_info f;
	enum err_kind kind;
	struct err err;
	int64_t id;

	if (fs->cfg.manage && parent == TREE_INO_NEW) {
		/* A folder of new/ goes with its secret (rm new/<name>/secret). */
		fuse_reply_err(req, minted_lookup(fs->cfg.minted, name, &f) ? ENOTEMPTY : ENOENT);
		return;
	}
	if (!fs->cfg.manage || parent != TREE_INO_TOKENS) {
		fuse_reply_err(req, EROFS);
		return;
	}
	if (!tree_parse_id(name, &id)) {
		fuse_reply_err(req, ENOENT);
		return;
	}
	if (!may_manage(req)) {
		manage_refused(fs->cfg.manage, NULL, id, fuse_req_ctx(req)->uid);
		fuse_reply_err(req, EACCES);
		return;
	}
	err_clear(&err);
	kind = manage_delete(fs->cfg.manage, id, fuse_req_ctx(req)->uid, &err);
	/*
	 * by-name/, the views and tokens.json are told before the answer; the
	 * entries in tokens/ are not waited for: the kernel holds tokens/'s
	 * lock until this is answered, and drops tokens/<ID> itself.
	 */
	inval_wait_outside_tokens(fs->inval);
	fuse_reply_err(req, fs_errno(kind));
}

void fs_unlink(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	struct fs *fs = fs_of(req);
	struct tree_node dir;

	if (!fs->cfg.manage || !tree_node(NULL, parent, &dir) || dir.kind != TREE_MINT_DIR ||
	    strcmp(name, "secret") != 0) {
		fuse_reply_err(req, EROFS);
		return;
	}
	if (!may_manage(req)) {
		fuse_reply_err(req, EACCES);
		return;
	}
	/* The secret is wiped, and its folder goes with it. */
	fuse_reply_err(req, minted_drop(fs->cfg.minted, dir.seq) ? 0 : ENOENT);
}
