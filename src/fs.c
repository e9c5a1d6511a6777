/*
 * fs.c - FUSE low-level operations over the cache; see fs.h.
 *
 * Every answer comes from one snapshot.  Kernel caching (entry and
 * attribute timeouts) lasts only as long as that snapshot may be served,
 * so that the first access after the TTL reaches the cache and refreshes
 * it.  Open files and folders keep the snapshot they were opened on.
 */
#include "fs.h"

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include "escape.h"

int fs_errno(enum err_kind kind)
{
	switch (kind) {
	case ERR_OK:          return 0;
	case ERR_AUTH:        return EACCES;
	case ERR_TIMEOUT:     return ETIMEDOUT;
	case ERR_REFUSED:     return ECONNREFUSED;
	case ERR_UNREACHABLE: return EHOSTUNREACH;
	case ERR_NOMEM:       return ENOMEM;
	case ERR_NET:
	case ERR_TLS:
	case ERR_HTTP:
	case ERR_PROTO:
	case ERR_TOOBIG:
	case ERR_CONFIG:      return EIO;
	}
	return EIO;
}

/* Identities of the root's entries never change, so the kernel may keep them. */
#define FIXED_ENTRY_TIMEOUT 86400.0

/*
 * An open file or folder: the snapshot it was opened on (NULL only for the
 * root folder before the first fetch) and the node it is.
 */
struct handle {
	struct snapshot *snap;
	struct tree_node node;
	double valid_for;
};

static struct fs *fs_of(fuse_req_t req)
{
	return fuse_req_userdata(req);
}

static struct handle *handle_of(const struct fuse_file_info *fi)
{
	return (struct handle *)(uintptr_t)fi->fh;
}

static void handle_free(struct handle *h)
{
	if (h) {
		snap_unref(h->snap);
		free(h);
	}
}

/*
 * The snapshot for a request (fetching if due) and the node ino names in it.
 * Returns 0 with *snap referenced, or an errno with *snap NULL.
 */
static int resolve(fuse_req_t req, fuse_ino_t ino, struct snapshot **snap,
		   double *valid_for, struct tree_node *node)
{
	struct fs *fs = fs_of(req);
	struct err e;

	err_clear(&e);
	*snap = cache_get(fs->cache, valid_for, &e);
	if (!*snap)
		return fs_errno(e.kind);
	if (!tree_node(*snap, ino, node)) {
		snap_unref(*snap);
		*snap = NULL;
		return ENOENT;
	}
	return 0;
}

static void fill_entry(struct fs *fs, const struct snapshot *s, const struct tree_node *n,
		       double valid_for, struct fuse_entry_param *e)
{
	memset(e, 0, sizeof(*e));
	e->ino = n->ino;
	e->generation = 1;
	e->attr_timeout = valid_for;
	e->entry_timeout = valid_for;
	tree_stat(s, n, &fs->owner, fs->mount_time, &e->attr);
}

static void fs_lookup(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	struct fuse_entry_param e;
	struct tree_node dir, child;
	struct snapshot *s;
	double valid;
	int rc = resolve(req, parent, &s, &valid, &dir);

	if (rc && parent == FUSE_ROOT_ID && rc != ENOMEM) {
		/*
		 * The root's entries exist whatever the server says: answer from
		 * what there is, and let the access below report the failure.
		 */
		s = cache_peek(fs_of(req)->cache, NULL);
		valid = 0;
		rc = tree_node(s, parent, &dir) ? 0 : ENOENT;
	}
	if (rc) {
		fuse_reply_err(req, rc);
		return;
	}
	rc = tree_lookup(s, &dir, name, &child);
	if (rc == -ENOENT) {
		/* A negative entry, cached no longer than the snapshot is served. */
		memset(&e, 0, sizeof(e));
		e.entry_timeout = valid;
		fuse_reply_entry(req, &e);
	} else if (rc) {
		fuse_reply_err(req, -rc);
	} else {
		fill_entry(fs_of(req), s, &child, valid, &e);
		if (parent == FUSE_ROOT_ID)
			e.entry_timeout = FIXED_ENTRY_TIMEOUT;
		fuse_reply_entry(req, &e);
	}
	snap_unref(s);
}

static void fs_forget(fuse_req_t req, fuse_ino_t ino, uint64_t nlookup)
{
	(void)ino;
	(void)nlookup;
	/* Inode numbers are computed: there is no table to prune. */
	fuse_reply_none(req);
}

static void fs_forget_multi(fuse_req_t req, size_t count, struct fuse_forget_data *forgets)
{
	(void)count;
	(void)forgets;
	fuse_reply_none(req);
}

static void fs_getattr(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct fs *fs = fs_of(req);
	struct tree_node n;
	struct snapshot *s;
	struct stat st;
	double valid;
	int rc;

	if (fi && fi->fh) {
		/* fstat of an open file: the snapshot it was opened on. */
		struct handle *h = handle_of(fi);

		tree_stat(h->snap, &h->node, &fs->owner, fs->mount_time, &st);
		fuse_reply_attr(req, &st, h->valid_for);
		return;
	}
	if (ino == FUSE_ROOT_ID) {
		/* stat of the mount point (df, mountpoint, shells) costs no request. */
		s = cache_peek(fs->cache, NULL);
		tree_node(s, ino, &n);
		tree_stat(s, &n, &fs->owner, fs->mount_time, &st);
		snap_unref(s);
		fuse_reply_attr(req, &st, 0);
		return;
	}
	rc = resolve(req, ino, &s, &valid, &n);
	if (rc) {
		fuse_reply_err(req, rc);
		return;
	}
	tree_stat(s, &n, &fs->owner, fs->mount_time, &st);
	fuse_reply_attr(req, &st, valid);
	snap_unref(s);
}

static void fs_readlink(fuse_req_t req, fuse_ino_t ino)
{
	char target[64];
	struct tree_node n;
	struct snapshot *s;
	double valid;
	int rc = resolve(req, ino, &s, &valid, &n);

	if (rc) {
		fuse_reply_err(req, rc);
		return;
	}
	if (tree_readlink(&n, target, sizeof(target)))
		fuse_reply_readlink(req, target);
	else
		fuse_reply_err(req, EINVAL);
	snap_unref(s);
}

/* Reply to an open with a new handle on (s, n); takes the reference on s. */
static void reply_open(fuse_req_t req, struct fuse_file_info *fi, struct snapshot *s,
		       const struct tree_node *n, double valid_for)
{
	struct handle *h = malloc(sizeof(*h));

	if (!h) {
		snap_unref(s);
		fuse_reply_err(req, ENOMEM);
		return;
	}
	*h = (struct handle){ .snap = s, .node = *n, .valid_for = valid_for };
	fi->fh = (uintptr_t)h;
	if (fuse_reply_open(req, fi) != 0)
		handle_free(h);
}

static void fs_open(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct tree_node n;
	struct snapshot *s;
	double valid;
	int rc;

	if ((fi->flags & O_ACCMODE) != O_RDONLY || (fi->flags & O_TRUNC)) {
		fuse_reply_err(req, EROFS);
		return;
	}
	rc = resolve(req, ino, &s, &valid, &n);
	if (rc == 0 && tree_is_dir(&n))
		rc = EISDIR;
	if (rc) {
		snap_unref(s);
		fuse_reply_err(req, rc);
		return;
	}
	reply_open(req, fi, s, &n, valid);
}

static void fs_read(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
		    struct fuse_file_info *fi)
{
	struct handle *h = handle_of(fi);
	size_t len = 0;
	const char *body = tree_body(h->snap, &h->node, &len);

	(void)ino;
	if (!body) {
		fuse_reply_err(req, EIO);
		return;
	}
	if (off < 0 || (size_t)off >= len)
		fuse_reply_buf(req, NULL, 0);
	else
		fuse_reply_buf(req, body + off, len - (size_t)off < size ? len - (size_t)off : size);
}

static void fs_release(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	(void)ino;
	handle_free(handle_of(fi));
	fuse_reply_err(req, 0);
}

static void fs_opendir(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct tree_node n;
	struct snapshot *s;
	double valid;
	int rc;

	if (ino == FUSE_ROOT_ID) {
		/* Its entries are fixed: listing the root (df does) costs no request. */
		s = cache_peek(fs_of(req)->cache, &valid);
		tree_node(s, ino, &n);
		reply_open(req, fi, s, &n, valid);
		return;
	}
	rc = resolve(req, ino, &s, &valid, &n);
	if (rc == 0 && !tree_is_dir(&n))
		rc = ENOTDIR;
	if (rc) {
		snap_unref(s);
		fuse_reply_err(req, rc);
		return;
	}
	reply_open(req, fi, s, &n, valid);
}

static void list_dir(fuse_req_t req, size_t size, off_t off, struct fuse_file_info *fi,
		     int plus)
{
	struct handle *d = handle_of(fi);
	struct fs *fs = fs_of(req);
	char *buf = malloc(size), namebuf[TREE_NAME_BUF];
	size_t used = 0;

	if (!buf) {
		fuse_reply_err(req, ENOMEM);
		return;
	}
	for (size_t i = off < 0 ? 0 : (size_t)off;; i++) {
		struct fuse_entry_param e;
		struct tree_node child;
		const char *name;
		size_t need;

		if (!tree_dir_entry(d->snap, &d->node, i, namebuf, &name, &child))
			break;
		fill_entry(fs, d->snap, &child, d->valid_for, &e);
		if (d->node.kind == TREE_ROOT && i >= 2)
			e.entry_timeout = FIXED_ENTRY_TIMEOUT;
		if (plus)
			need = fuse_add_direntry_plus(req, buf + used, size - used, name, &e,
						      (off_t)(i + 1));
		else
			need = fuse_add_direntry(req, buf + used, size - used, name, &e.attr,
						 (off_t)(i + 1));
		if (need > size - used)
			break;
		used += need;
	}
	fuse_reply_buf(req, buf, used);
	free(buf);
}

static void fs_readdir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
		       struct fuse_file_info *fi)
{
	(void)ino;
	list_dir(req, size, off, fi, 0);
}

static void fs_readdirplus(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
			   struct fuse_file_info *fi)
{
	(void)ino;
	list_dir(req, size, off, fi, 1);
}

static void fs_releasedir(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	(void)ino;
	handle_free(handle_of(fi));
	fuse_reply_err(req, 0);
}

static void fs_statfs(fuse_req_t req, fuse_ino_t ino)
{
	struct snapshot *s = cache_peek(fs_of(req)->cache, NULL);
	struct statvfs sv;

	(void)ino;
	memset(&sv, 0, sizeof(sv));
	sv.f_bsize = 4096;
	sv.f_frsize = 4096;
	sv.f_namemax = ESC_NAME_MAX;
	sv.f_files = s ? 4 + s->n * (SNAP_NFILES + 2) : 4;
	snap_unref(s);
	fuse_reply_statfs(req, &sv);
}

static void fs_access(fuse_req_t req, fuse_ino_t ino, int mask)
{
	(void)ino;
	fuse_reply_err(req, (mask & W_OK) ? EROFS : 0);
}

/* Every operation that would change something: the tree is read-only. */
static void ro_setattr(fuse_req_t req, fuse_ino_t ino, struct stat *attr, int to_set,
		       struct fuse_file_info *fi)
{
	(void)ino; (void)attr; (void)to_set; (void)fi;
	fuse_reply_err(req, EROFS);
}

static void ro_mknod(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode,
		     dev_t rdev)
{
	(void)parent; (void)name; (void)mode; (void)rdev;
	fuse_reply_err(req, EROFS);
}

static void ro_mkdir(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode)
{
	(void)parent; (void)name; (void)mode;
	fuse_reply_err(req, EROFS);
}

static void ro_unlink(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	(void)parent; (void)name;
	fuse_reply_err(req, EROFS);
}

static void ro_symlink(fuse_req_t req, const char *link, fuse_ino_t parent, const char *name)
{
	(void)link; (void)parent; (void)name;
	fuse_reply_err(req, EROFS);
}

static void ro_rename(fuse_req_t req, fuse_ino_t parent, const char *name,
		      fuse_ino_t newparent, const char *newname, unsigned int flags)
{
	(void)parent; (void)name; (void)newparent; (void)newname; (void)flags;
	fuse_reply_err(req, EROFS);
}

static void ro_link(fuse_req_t req, fuse_ino_t ino, fuse_ino_t newparent, const char *newname)
{
	(void)ino; (void)newparent; (void)newname;
	fuse_reply_err(req, EROFS);
}

static void ro_create(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode,
		      struct fuse_file_info *fi)
{
	(void)parent; (void)name; (void)mode; (void)fi;
	fuse_reply_err(req, EROFS);
}

static void ro_setxattr(fuse_req_t req, fuse_ino_t ino, const char *name,
			const char *value, size_t size, int flags)
{
	(void)ino; (void)name; (void)value; (void)size; (void)flags;
	fuse_reply_err(req, EROFS);
}

static void ro_removexattr(fuse_req_t req, fuse_ino_t ino, const char *name)
{
	(void)ino; (void)name;
	fuse_reply_err(req, EROFS);
}

static void ro_fallocate(fuse_req_t req, fuse_ino_t ino, int mode, off_t offset,
			 off_t length, struct fuse_file_info *fi)
{
	(void)ino; (void)mode; (void)offset; (void)length; (void)fi;
	fuse_reply_err(req, EROFS);
}

static const struct fuse_lowlevel_ops ops = {
	.lookup = fs_lookup,
	.forget = fs_forget,
	.forget_multi = fs_forget_multi,
	.getattr = fs_getattr,
	.readlink = fs_readlink,
	.open = fs_open,
	.read = fs_read,
	.release = fs_release,
	.opendir = fs_opendir,
	.readdir = fs_readdir,
	.readdirplus = fs_readdirplus,
	.releasedir = fs_releasedir,
	.statfs = fs_statfs,
	.access = fs_access,
	.setattr = ro_setattr,
	.mknod = ro_mknod,
	.mkdir = ro_mkdir,
	.unlink = ro_unlink,
	.rmdir = ro_unlink,
	.symlink = ro_symlink,
	.rename = ro_rename,
	.link = ro_link,
	.create = ro_create,
	.setxattr = ro_setxattr,
	.removexattr = ro_removexattr,
	.fallocate = ro_fallocate,
};

const struct fuse_lowlevel_ops *fs_operations(void)
{
	return &ops;
}
