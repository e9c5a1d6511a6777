/*
 * fs_dir.c - folder listings for the kernel: opendir, readdir and
 * readdirplus.  Where a listing resumes, and on which snapshot, is the
 * core's (tree_cursor_*): the kernel's offset is passed through.
 */
#include "fs_impl.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "held.h"
#include "prefetch.h"

/* As fs_open, for folders: the kernel lists them by itself where it can. */
void fs_opendir(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct fs *fs = fs_of(req);
	struct tree_node n;

	if (atomic_load(&fs->no_opendir)) {
		fuse_reply_err(req, ENOSYS);
		return;
	}
	/* The numbers that need a snapshot to resolve, and are folders, are tokens'. */
	if (!tree_node(NULL, ino, &n))
		n = (struct tree_node){ .ino = ino, .kind = TREE_TOKEN_DIR };
	fi->cache_readdir = fs_keep(fs, &n, 0, NULL, fs_clock(fs).now).contents;
	fi->keep_cache = fi->cache_readdir;
	fi->fh = 0;
	fuse_reply_open(req, fi);
}

/*
 * Add one entry to a listing in buf (used of size bytes so far), to resume
 * after at off; plus: with attributes, for the kernel to keep (and a
 * lookup it holds, counted by held_add once the entry fits).  Returns the
 * bytes it takes, more than size - used when it did not fit, or 0 on
 * failure.
 */
static size_t add_entry(fuse_req_t req, struct snapshot *s, const char *name,
			const struct tree_node *child, double valid, int plus,
			char *buf, size_t size, size_t used, off_t off)
{
	struct fs *fs = fs_of(req);
	struct fuse_entry_param e;
	size_t need;

	if (!plus || fs_is_report(child) || (child->kind == TREE_LIST && !s)) {
		/*
		 * A name without attributes: a report is looked up as an edition
		 * of its own, and tokens.json has no number before a fetch.
		 */
		memset(&e, 0, sizeof(e));
		tree_stat(s, child, &fs->cfg.owner, fs->mount_time, &e.attr);
		if (!plus)
			return fuse_add_direntry(req, buf + used, size - used, name, &e.attr, off);
		return fuse_add_direntry_plus(req, buf + used, size - used, name, &e, off);
	}
	if (fs_entry(fs, s, child, valid, &e) != 0)
		return 0;
	if (strcmp(name, ".") == 0 || strcmp(name, "..") == 0) {
		/* The kernel takes no lookup of these. */
		return fuse_add_direntry_plus(req, buf + used, size - used, name, &e, off);
	}
	need = fuse_add_direntry_plus(req, buf + used, size - used, name, &e, off);
	if (need <= size - used && !held_add(fs->held, s, e.ino, 1))
		return 0;
	return need;
}

/* Where a listing resumes, for cache_find: the folder and the offset. */
struct resume {
	struct tree_node dir;
	uint64_t off;
};

static bool resumes_in(const struct snapshot *s, const void *arg)
{
	const struct resume *r = arg;

	return tree_cursor_in(s, &r->dir, r->off);
}

/*
 * Fill buf (size bytes) with the entries of folder dir of s from offset
 * off on; returns the bytes used.
 */
static size_t list_from(fuse_req_t req, struct snapshot *s, const struct tree_node *dir,
			double valid, uint64_t off, int plus, char *buf, size_t size)
{
	struct tree_clock clk = fs_clock(fs_of(req));
	char namebuf[TREE_NAME_BUF];
	struct tree_cursor cur;
	struct tree_node child;
	const char *name;
	size_t used = 0, need;
	uint64_t next;

	tree_cursor_open(&cur, s, &clk, dir, off);
	while (tree_cursor_next(&cur, namebuf, &name, &child, &next)) {
		need = add_entry(req, s, name, &child, valid, plus, buf, size, used, (off_t)next);
		if (need == 0 || need > size - used)
			break;
		used += need;
	}
	return used;
}

/*
 * A listing: from the current snapshot, or from the one the offset names,
 * if kept (tree_cursor_in).
 */
static void list_dir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off, int plus)
{
	struct fs *fs = fs_of(req);
	uint64_t pos = off < 0 ? 0 : (uint64_t)off;
	char *buf = malloc(size);
	struct tree_node dir;
	struct snapshot *s;
	size_t used;
	double valid, v;
	int rc;

	if (!buf) {
		fuse_reply_err(req, ENOMEM);
		return;
	}
	rc = fs_resolve(fs, ino, true, &s, &valid, &dir);
	if (rc == 0 && !tree_is_dir(&dir))
		rc = ENOTDIR;
	if (rc) {
		fuse_reply_err(req, rc);
		snap_unref(s);
		free(buf);
		return;
	}
	if (fs_is_mint(&dir)) {
		fs_mint_list(req, &dir, size, off, plus);
		snap_unref(s);
		free(buf);
		return;
	}
	if (!tree_cursor_in(s, &dir, pos)) {
		struct resume r = { dir, pos };
		struct snapshot *t = cache_find(fs->cfg.cache, resumes_in, &r, &v);

		if (t) {
			snap_unref(s);
			s = t;
			valid = v;
		}
	}
	used = list_from(req, s, &dir, valid, pos, plus, buf, size);
	/* The kernel now holds the inodes of the token's files: see fs_read. */
	if (plus && used > 0 && dir.kind == TREE_TOKEN_DIR)
		prefetch_listed(fs->prefetch, s, dir.tok, fs_clock(fs).now);
	fuse_reply_buf(req, buf, used);
	free(buf);
	snap_unref(s);
}

void fs_readdir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
		struct fuse_file_info *fi)
{
	(void)fi;
	list_dir(req, ino, size, off, 0);
}

void fs_readdirplus(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
		    struct fuse_file_info *fi)
{
	(void)fi;
	list_dir(req, ino, size, off, 1);
}
