/*
 * fs.c - FUSE low-level operations over the cache; see fs.h.  The
 * operations about one node are here; folder listings are in fs_dir.c,
 * what the kernel is told of a node (and for how long) in fs_node.c.
 *
 * One mode, read-only at the kernel level: file bodies stay in the page
 * cache across opens, and opens of files and folders are answered by the
 * kernel alone (ENOSYS from open and opendir).  So there is no open file
 * here to pin a version on: a file's version is in its inode number
 * instead (tree.h).  A refresh gives each changed file a new number and
 * tells the kernel to look its name up again (inval.h); a reader holding
 * the old inode keeps reading the old version, from the page cache or,
 * should reclaim drop it, from the snapshot kept for it (held.h), until the
 * kernel forgets the inode.  A read() therefore returns bytes of one
 * version with that version's length, however small the reads, and a new
 * open gets the newest list.  (Kubernetes' projected volumes swap a
 * symlink to the same end; in FUSE the inode number is the natural
 * handle, and costs no request per open.)
 */
#include "fs_impl.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include "escape.h"
#include "held.h"
#include "inval.h"
#include "ioctl.h"
#include "log.h"
#include "prefetch.h"

/*
 * How many versions of status and of metrics.prom may be alive at once,
 * whatever the number of readers: metrics.prom is about 260 bytes a token.
 */
#define REPORTS_LIVE 4

struct fs *fs_new(const struct fs_config *cfg)
{
	struct fs *fs = calloc(1, sizeof(*fs));

	if (!fs)
		return NULL;
	fs->cfg = *cfg;
	clock_gettime(CLOCK_REALTIME, &fs->mount_time);
	atomic_init(&fs->no_open, false);
	atomic_init(&fs->no_opendir, false);
	atomic_init(&fs->cache_dirs, false);
	shelf_init(&fs->reports[0], REPORTS_LIVE);
	shelf_init(&fs->reports[1], REPORTS_LIVE);
	editions_init(&fs->editions);
	fs->held = held_new();
	fs->inval = inval_new();
	fs->prefetch = prefetch_new(cfg->cache);
	if (!fs->held || !fs->inval || !fs->prefetch) {
		fs_free(fs);
		return NULL;
	}
	return fs;
}

void fs_free(struct fs *fs)
{
	if (!fs)
		return;
	prefetch_free(fs->prefetch);
	inval_free(fs->inval);
	editions_destroy(&fs->editions);
	shelf_destroy(&fs->reports[0]);
	shelf_destroy(&fs->reports[1]);
	held_free(fs->held);
	free(fs);
}

/*
 * Put body (len bytes) into the page cache of inode ino, for the
 * prefetcher.  Each store is logged with the kernel's answer: the tests
 * tell a store never made from a stored page that reclaim dropped by it.
 */
static void kernel_store(void *ctx, uint64_t ino, const char *body, size_t len)
{
	struct fs *fs = ctx;
	struct fuse_bufvec bv = FUSE_BUFVEC_INIT(len);
	int rc;

	bv.buf[0].mem = (void *)body;
	/* ENOENT: the kernel holds no inode for it (not looked up yet). */
	rc = fuse_lowlevel_notify_store(fs->se, ino, 0, &bv, 0);
	if (rc == 0)
		log_debug("kernel store into inode %" PRIu64 ", %zu bytes: accepted", ino, len);
	else
		log_debug("kernel store into inode %" PRIu64 ", %zu bytes: refused, errno %d",
			  ino, len, -rc);
}

/* Drop what the page cache holds of inode ino: a store the prefetcher withdraws. */
static void kernel_withdraw(void *ctx, uint64_t ino)
{
	struct fs *fs = ctx;

	fuse_lowlevel_notify_inval_inode(fs->se, ino, 0, 0);
	log_debug("kernel store into inode %" PRIu64 " withdrawn", ino);
}

int fs_start(struct fs *fs, struct fuse_session *se)
{
	struct prefetch_sink sink = { kernel_store, kernel_withdraw, fs };
	int rc;

	fs->se = se;
	rc = inval_start(fs->inval, se, fs->cfg.cache, fs->held);
	if (rc == 0)
		rc = prefetch_start(fs->prefetch, &sink);
	return rc;
}

void fs_stop(struct fs *fs)
{
	prefetch_stop(fs->prefetch);
	inval_stop(fs->inval);
}

/*
 * What the kernel is asked for.  Listings carry attributes (readdirplus),
 * and a changed mtime or size drops cached contents (auto_inval_data),
 * which is what lets folder listings be cached: each refresh gives the
 * folders whose listing changed a new mtime.
 */
static void fs_init_conn(void *userdata, struct fuse_conn_info *conn)
{
	struct fs *fs = userdata;

	if (conn->capable & FUSE_CAP_READDIRPLUS)
		conn->want |= FUSE_CAP_READDIRPLUS;
	/*
	 * Lookups and listings of one folder in parallel: a reader waiting
	 * for a fetch must not hold the others behind the folder's lock.
	 * libfuse passes this on to the kernel only from 3.17; before, the
	 * kernel serialises them, and what bounds the queue is the cache (a
	 * wait bounded per fetch, a failure remembered for its back-off step).
	 */
	if (conn->capable & FUSE_CAP_PARALLEL_DIROPS)
		conn->want |= FUSE_CAP_PARALLEL_DIROPS;
	if (conn->capable & FUSE_CAP_AUTO_INVAL_DATA) {
		conn->want |= FUSE_CAP_AUTO_INVAL_DATA;
		atomic_store(&fs->cache_dirs, true);
	}
	/* synergyfs --refresh asks on the root folder (ioctl.h). */
	if (conn->capable & FUSE_CAP_IOCTL_DIR)
		conn->want |= FUSE_CAP_IOCTL_DIR;
	conn->want &= ~FUSE_CAP_ATOMIC_O_TRUNC;
	/*
	 * With -o manage the mount is writable for the kernel: opens must
	 * reach the daemon, which refuses every one for writing (fs_open).
	 */
	if ((conn->capable & FUSE_CAP_NO_OPEN_SUPPORT) && !fs->cfg.manage)
		atomic_store(&fs->no_open, true);
	/* Folders need their mtimes to say when listings change (auto_inval_data). */
	if ((conn->capable & FUSE_CAP_NO_OPENDIR_SUPPORT) && atomic_load(&fs->cache_dirs))
		atomic_store(&fs->no_opendir, true);
}

static bool holds_ino(const struct snapshot *s, const void *ino)
{
	struct tree_node n;

	return tree_node(s, *(const uint64_t *)ino, &n);
}

/*
 * A snapshot (one reference) that holds the version of file ino that the
 * current one does not: kept for the kernel's inode (held_find), or still
 * kept by the cache after a refresh that held.c has not heard of yet.
 */
static struct snapshot *find_version(struct fs *fs, uint64_t ino)
{
	struct snapshot *s = held_find(fs->held, ino);
	double v;

	if (!s)
		s = cache_find(fs->cfg.cache, holds_ino, &ino, &v);
	return s;
}

/*
 * Node ino in *snap, or else in the snapshot that holds its version
 * (find_version), which then replaces *snap.  Returns 0, or an errno with
 * *snap released and NULL: ESTALE for a version no longer kept.
 */
static int node_in(struct fs *fs, struct snapshot **snap, uint64_t ino, struct tree_node *node)
{
	if (tree_node(*snap, ino, node))
		return 0;
	snap_unref(*snap);
	*snap = tree_version_key(ino) ? find_version(fs, ino) : NULL;
	if (*snap && tree_node(*snap, ino, node))
		return 0;
	snap_unref(*snap);
	*snap = NULL;
	return tree_version_key(ino) ? ESTALE : ENOENT;
}

int fs_resolve(struct fs *fs, uint64_t ino, bool fetch, struct snapshot **snap,
	       double *valid_for, struct tree_node *node)
{
	struct err e;
	double v;

	if (!valid_for)
		valid_for = &v;
	if (ino == FUSE_ROOT_ID) {
		/*
		 * The root's entries exist whatever the server says: it is
		 * answered from what there is, and costs no request (df,
		 * mountpoint and lookups of its folders); the access below fetches.
		 */
		*snap = cache_peek(fs->cfg.cache, valid_for);
		tree_node(*snap, ino, node);
		return 0;
	}
	if (tree_node(NULL, ino, node) && (fs_is_report(node) || fs_is_mint(node))) {
		/*
		 * The mount's own files are about the mount, and say what is
		 * going on, a fetch in flight included (see fs_read for the
		 * fetch a read of one starts).
		 */
		*snap = cache_peek(fs->cfg.cache, NULL);
		*valid_for = 0;
		return 0;
	}
	if (!fetch) {
		*snap = cache_peek(fs->cfg.cache, valid_for);
		return node_in(fs, snap, ino, node);
	}
	err_clear(&e);
	*snap = cache_get(fs->cfg.cache, valid_for, &e);
	if (!*snap)
		return fs_errno(e.kind);
	return node_in(fs, snap, ino, node);
}

void fs_forget_ino(struct fs *fs, uint64_t ino, uint64_t nlookup)
{
	if (!editions_forget(&fs->editions, ino, nlookup))
		held_forget(fs->held, ino, nlookup);
}

/*
 * Reply to a lookup with entry e, answered from s: the kernel holds one
 * more lookup of its version (held_add; an edition is counted as it is
 * made) if the reply reaches it.
 */
static void reply_entry(fuse_req_t req, struct snapshot *s, struct fuse_entry_param *e)
{
	struct fs *fs = fs_of(req); /* req is gone once replied to */

	if (!held_add(fs->held, s, e->ino, 1)) {
		fs_forget_ino(fs, e->ino, 1);
		fuse_reply_err(req, ENOMEM);
		return;
	}
	if (fuse_reply_entry(req, e) != 0)
		fs_forget_ino(fs, e->ino, 1);
}

/* Reply to a lookup that found name absent from folder dir (s served valid more seconds). */
static void reply_absent(fuse_req_t req, const struct tree_node *dir, double valid)
{
	struct fs *fs = fs_of(req);
	struct fs_keep keep = fs_keep(fs, dir, valid, NULL, fs_clock(fs).now);
	struct fuse_entry_param e;

	if (keep.absent < 0) {
		fuse_reply_err(req, ENOENT);
		return;
	}
	/* A negative entry, kept as long as fs_keep says. */
	memset(&e, 0, sizeof(e));
	e.entry_timeout = keep.absent;
	fuse_reply_entry(req, &e);
}

static void fs_lookup(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	struct fs *fs = fs_of(req);
	struct tree_clock clk = fs_clock(fs);
	struct fuse_entry_param e;
	struct tree_node dir, child;
	enum tree_found found;
	struct snapshot *s;
	double valid;
	struct err err;
	int rc;

	rc = fs_resolve(fs, parent, true, &s, &valid, &dir);
	if (rc) {
		fuse_reply_err(req, rc);
		return;
	}
	if (fs_is_mint(&dir)) {
		fs_mint_lookup(req, &dir, name);
		snap_unref(s);
		return;
	}
	found = tree_lookup(s, &clk, &dir, name, &child);
	if (found == TREE_FOUND && child.kind == TREE_LIST) {
		/* tokens.json's number is its version: the root's lookup of it fetches. */
		snap_unref(s);
		err_clear(&err);
		s = cache_get(fs->cfg.cache, &valid, &err);
		if (!s) {
			fuse_reply_err(req, fs_errno(err.kind));
			return;
		}
		tree_lookup(s, &clk, &dir, name, &child);
	}
	if (found == TREE_FOUND && fs_is_report(&child)) {
		/* A report is given as an edition of its own, rendered now. */
		child.ino = fs_edition_new(fs, s, &child);
		if (!child.ino) {
			fuse_reply_err(req, ENOMEM);
			snap_unref(s);
			return;
		}
	}
	switch (found) {
	case TREE_FOUND:
		rc = fs_entry(fs, s, &child, valid, &e);
		if (rc == 0) {
			reply_entry(req, s, &e);
			break;
		}
		if (fs_is_report(&child))
			fs_forget_ino(fs, child.ino, 1);
		fuse_reply_err(req, rc);
		break;
	case TREE_ABSENT:
		reply_absent(req, &dir, valid);
		break;
	case TREE_NOT_DIR:
		fuse_reply_err(req, ENOTDIR);
		break;
	}
	snap_unref(s);
}

static void fs_forget(fuse_req_t req, fuse_ino_t ino, uint64_t nlookup)
{
	fs_forget_ino(fs_of(req), ino, nlookup);
	fuse_reply_none(req);
}

static void fs_forget_multi(fuse_req_t req, size_t count, struct fuse_forget_data *forgets)
{
	struct fs *fs = fs_of(req);

	for (size_t i = 0; i < count; i++)
		fs_forget_ino(fs, forgets[i].ino, forgets[i].nlookup);
	fuse_reply_none(req);
}

static void fs_getattr(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct fs *fs = fs_of(req);
	struct tree_node n;
	struct snapshot *s;
	struct fs_keep keep;
	struct stat st;
	double valid;
	int rc;

	(void)fi;
	rc = fs_resolve(fs, ino, true, &s, &valid, &n);
	if (rc == 0)
		rc = fs_attr(fs, s, &n, valid, &st, &keep);
	if (rc)
		fuse_reply_err(req, rc);
	else
		fuse_reply_attr(req, &st, keep.attr);
	snap_unref(s);
}

static void fs_readlink(fuse_req_t req, fuse_ino_t ino)
{
	char target[64];
	struct tree_node n;
	struct snapshot *s;
	int rc = fs_resolve(fs_of(req), ino, true, &s, NULL, &n);

	if (rc) {
		fuse_reply_err(req, rc);
		return;
	}
	if (n.kind == TREE_MINT_LINK)
		fs_mint_readlink(req, &n);
	else if (tree_readlink(&n, target, sizeof(target)))
		fuse_reply_readlink(req, target);
	else
		fuse_reply_err(req, EINVAL);
	snap_unref(s);
}

/*
 * Opens are the kernel's: the first one is answered ENOSYS, and from then
 * on the kernel opens files by itself.  A kernel that cannot gets an open
 * with no handle, the page cache kept as fs_keep says: reads are answered
 * by inode.
 */
static void fs_open(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct fs *fs = fs_of(req);
	struct tree_node n;

	if (atomic_load(&fs->no_open)) {
		fuse_reply_err(req, ENOSYS);
		return;
	}
	if ((fi->flags & O_ACCMODE) != O_RDONLY || (fi->flags & O_TRUNC)) {
		fuse_reply_err(req, EROFS);
		return;
	}
	/* The numbers that need a snapshot to resolve, and are files, are kept alike. */
	if (!tree_node(NULL, ino, &n))
		n = (struct tree_node){ .ino = ino, .kind = TREE_TOKEN_FILE };
	fi->fh = 0;
	if (fs_is_mint(&n)) {
		int rc = fs_mint_open(req, &n, fi);

		if (rc)
			fuse_reply_err(req, rc);
		else
			fuse_reply_open(req, fi);
		return;
	}
	fi->keep_cache = fs_keep(fs, &n, 0, NULL, fs_clock(fs).now).contents;
	fuse_reply_open(req, fi);
}

/*
 * A read: of the file version ino names, from the current snapshot or the
 * one that holds that version, without fetching (the kernel asks for the
 * attributes, and so causes any refresh that is due, before it reads).
 */
static void fs_read(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
		    struct fuse_file_info *fi)
{
	struct fs *fs = fs_of(req);
	struct fs_body b = { .shared = NULL, .scratch = NULL };
	struct tree_node n;
	struct snapshot *s;
	int rc;

	(void)fi;
	rc = fs_resolve(fs, ino, false, &s, NULL, &n);
	if (rc == 0 && fs_is_mint(&n)) {
		fs_mint_read(req, &n, size, off);
		snap_unref(s);
		return;
	}
	if (rc == 0)
		rc = fs_body(fs, s, &n, off < 0 ? 0 : (uint64_t)off, &b);
	if (rc)
		fuse_reply_err(req, rc);
	else
		fs_reply_slice(req, b.p, b.len, size, off);
	fs_body_release(&b);
	if (rc == 0 && off == 0 && fs_is_report(&n)) {
		/*
		 * A report says what was so when it was read; then it starts a
		 * due fetch in the background, so that a scraper that is the
		 * mount's only reader sees the list follow the server, a scrape
		 * behind.
		 */
		cache_kick(fs->cfg.cache);
	} else if (rc == 0 && off == 0 && (n.kind == TREE_TOKEN_FILE || n.kind == TREE_TOKEN_CLOCK)) {
		/*
		 * A walk that listed a token's folder and reads one of its files
		 * reads the others next, and then those of the next tokens
		 * listed: have their bodies in the page cache by then.
		 */
		prefetch_read(fs->prefetch, s, n.tok);
	}
	snap_unref(s);
}

static void fs_statfs(fuse_req_t req, fuse_ino_t ino)
{
	struct snapshot *s = cache_peek(fs_of(req)->cfg.cache, NULL);
	struct statvfs sv;

	(void)ino;
	memset(&sv, 0, sizeof(sv));
	sv.f_bsize = 4096;
	sv.f_frsize = 4096;
	sv.f_namemax = ESC_NAME_MAX;
	sv.f_files = s ? 16 + s->n * 16 : 16;
	snap_unref(s);
	fuse_reply_statfs(req, &sv);
}

static void fs_access(fuse_req_t req, fuse_ino_t ino, int mask)
{
	struct tree_node n;

	if (!tree_node(NULL, ino, &n))
		n = (struct tree_node){ .ino = ino, .kind = TREE_TOKEN_FILE };
	fuse_reply_err(req, fs_mint_access(req, &n, mask));
}

static void fs_setattr(fuse_req_t req, fuse_ino_t ino, struct stat *attr, int to_set,
		       struct fuse_file_info *fi)
{
	(void)ino; (void)attr; (void)to_set; (void)fi;
	fuse_reply_err(req, EROFS);
}

/*
 * synergyfs --refresh: fetch now, and answer once the new list is served
 * and the kernel told of what changed.  The mounting user and root only:
 * a refresh costs the server a request.
 */
static void fs_ioctl(fuse_req_t req, fuse_ino_t ino, unsigned int cmd, void *arg,
		     struct fuse_file_info *fi, unsigned flags, const void *in_buf,
		     size_t in_bufsz, size_t out_bufsz)
{
	struct fs *fs = fs_of(req);
	const struct fuse_ctx *ctx = fuse_req_ctx(req);
	struct err e;

	(void)arg; (void)fi; (void)in_buf; (void)in_bufsz; (void)out_bufsz;
	if (ino != FUSE_ROOT_ID || cmd != SYNERGYFS_IOC_REFRESH || (flags & FUSE_IOCTL_COMPAT)) {
		fuse_reply_err(req, ENOTTY);
		return;
	}
	if (ctx->uid != 0 && ctx->uid != fs->cfg.mounter) {
		fuse_reply_err(req, EACCES);
		return;
	}
	err_clear(&e);
	if (cache_refresh(fs->cfg.cache, &e) != ERR_OK) {
		fuse_reply_err(req, fs_errno(e.kind));
		return;
	}
	/* Once this returns, nothing the kernel shows predates the fetch. */
	inval_wait(fs->inval);
	fuse_reply_ioctl(req, 0, NULL, 0);
}

static const struct fuse_lowlevel_ops ops = {
	.init = fs_init_conn,
	.lookup = fs_lookup,
	.forget = fs_forget,
	.forget_multi = fs_forget_multi,
	.getattr = fs_getattr,
	.readlink = fs_readlink,
	.open = fs_open,
	.read = fs_read,
	.opendir = fs_opendir,
	.readdir = fs_readdir,
	.readdirplus = fs_readdirplus,
	.statfs = fs_statfs,
	.access = fs_access,
	.setattr = fs_setattr,
	.ioctl = fs_ioctl,
	.mknod = fs_ro_mknod,
	.mkdir = fs_mkdir,
	.unlink = fs_unlink,
	.rmdir = fs_rmdir,
	.symlink = fs_ro_symlink,
	.rename = fs_ro_rename,
	.link = fs_ro_link,
	.create = fs_ro_create,
	.setxattr = fs_ro_setxattr,
	.removexattr = fs_ro_removexattr,
	.fallocate = fs_ro_fallocate,
};

const struct fuse_lowlevel_ops *fs_operations(void)
{
	return &ops;
}
