/*
 * fs_impl.h - what the files of the FUSE layer share, and no one else:
 * struct fs, and the steps every operation is made of.  fs.c answers
 * requests about one node, fs_dir.c lists folders, fs_node.c says what the
 * kernel is told of a node (its attributes, its body, how long it may keep
 * them), fs_mint.c answers for new/ and the changes -o manage allows,
 * fs_ro.c refuses every other change.
 *
 * Owns: struct fs, the session's userdata.
 * Must not touch: anything outside src/fs*.c includes this.
 */
#ifndef SYNERGYFS_FS_IMPL_H
#define SYNERGYFS_FS_IMPL_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>
#include <time.h>

#include "editions.h"
#include "err.h"
#include "fs.h"
#include "shelf.h"
#include "snapshot.h"
#include "tree.h"

struct held;
struct inval;
struct prefetch;

struct fs {
	struct fs_config cfg;
	struct timespec mount_time; /* stands in for the fetch time before the first fetch */
	/*
	 * Where the kernel can (learnt at init), opens of files and folders
	 * are answered by the kernel alone: no request reaches the daemon.
	 */
	atomic_bool no_open;
	atomic_bool no_opendir;
	atomic_bool cache_dirs;     /* folder listings may be kept (learnt at init) */
	struct held *held;          /* versions the kernel holds */
	struct inval *inval;        /* tells the kernel what each refresh changed */
	struct prefetch *prefetch;  /* stores bodies ahead of a walk */
	struct fuse_session *se;    /* once started (fs_start) */
	struct shelf reports[2];    /* status, metrics.prom as rendered, shared */
	struct editions editions;   /* the versions of them the kernel holds */
};

static inline struct fs *fs_of(fuse_req_t req)
{
	return fuse_req_userdata(req);
}

/* The errno a failure of this kind is reported as (fs_node.c). */
int fs_errno(enum err_kind kind);

/* The moment of a request, for the files and views that depend on it (fs_node.c). */
struct tree_clock fs_clock(const struct fs *fs);

/*
 * The snapshot a request about ino is answered from, and the node ino
 * names in it (fs.c).  With fetch, a due refresh is made first (cache_get);
 * without, the current one is taken as it is.  The root, status and
 * metrics.prom never fetch nor wait.  Returns 0 with *snap referenced (it
 * may be NULL before the first fetch) and *valid_for the seconds it may be
 * served, or an errno with *snap NULL.
 */
int fs_resolve(struct fs *fs, uint64_t ino, bool fetch, struct snapshot **snap,
	       double *valid_for, struct tree_node *node);

/*
 * What the kernel may keep of a node, and how long: the entry that leads
 * to it, its attributes, a name not in it (a folder), and its contents (a
 * file's body, a folder's listing) across opens.  Decided by fs_keep alone.
 */
struct fs_keep {
	double entry;
	double attr;
	double absent;  /* < 0: no negative entry at all */
	bool contents;
};

/*
 * The caching of node n, answered from a snapshot served valid more
 * seconds, at the moment now; until, if not NULL, is when the node's
 * attributes next change (clock files, views).
 */
struct fs_keep fs_keep(const struct fs *fs, const struct tree_node *n, double valid,
		       const struct timespec *until, struct timespec now);

/*
 * Attributes of n in s, and how long the kernel may keep them (*keep).  A
 * dynamic file's size is the length of its body now; its mtime is when
 * that body last changed.  Returns 0, or an errno (ENOMEM, ESTALE).
 */
int fs_attr(struct fs *fs, const struct snapshot *s, const struct tree_node *n, double valid,
	    struct stat *st, struct fs_keep *keep);

/* The entry the kernel is given for n (lookup, readdirplus); as fs_attr. */
int fs_entry(struct fs *fs, const struct snapshot *s, const struct tree_node *n, double valid,
	     struct fuse_entry_param *e);

/*
 * A new edition of report n (status or metrics.prom) rendered now, or the
 * one of the same second, for a lookup: its number, counted one lookup
 * (editions_forget), or 0 when memory runs out.
 */
uint64_t fs_edition_new(struct fs *fs, const struct snapshot *s, const struct tree_node *n);

/* Is n status or metrics.prom, about the mount rather than the server? */
bool fs_is_report(const struct tree_node *n);

/* A file's body as one read gets it. */
struct fs_body {
	const char *p;             /* NULL: memory ran out */
	size_t len;
	char clock[32];            /* a clock file's body */
	struct shelf_text *shared; /* status, metrics.prom: p is its text */
	char *scratch;             /* token.json as rendered */
	size_t scratch_cap;
	struct timespec at;        /* when it was rendered (dynamic files) */
};

/*
 * The body of file n of s, to be read from off on (nothing is rendered
 * for a snapshot's file read past its end).  Returns 0, or ENOMEM, or
 * ESTALE for an edition the kernel no longer holds; release it with
 * fs_body_release either way.
 */
int fs_body(struct fs *fs, const struct snapshot *s, const struct tree_node *n, uint64_t off,
	    struct fs_body *b);

void fs_body_release(struct fs_body *b);

/* Reply to a read at off of size bytes from body (len bytes; NULL: EIO). */
void fs_reply_slice(fuse_req_t req, const char *body, size_t len, size_t size, off_t off);

/* The kernel forgot nlookup lookups of ino: of an edition or a version. */
void fs_forget_ino(struct fs *fs, uint64_t ino, uint64_t nlookup);

/* The operations that would change something, answered EROFS (fs_ro.c). */
void fs_ro_mknod(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode, dev_t rdev);
void fs_ro_symlink(fuse_req_t req, const char *link, fuse_ino_t parent, const char *name);
void fs_ro_rename(fuse_req_t req, fuse_ino_t parent, const char *name, fuse_ino_t newparent,
		  const char *newname, unsigned int flags);
void fs_ro_link(fuse_req_t req, fuse_ino_t ino, fuse_ino_t newparent, const char *newname);
void fs_ro_create(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode,
		  struct fuse_file_info *fi);
void fs_ro_setxattr(fuse_req_t req, fuse_ino_t ino, const char *name, const char *value,
		    size_t size, int flags);
void fs_ro_removexattr(fuse_req_t req, fuse_ino_t ino, const char *name);
void fs_ro_fallocate(fuse_req_t req, fuse_ino_t ino, int mode, off_t offset, off_t length,
		     struct fuse_file_info *fi);

/* new/ and its folders: what they are, their attributes and bodies (fs_node.c). */
struct minted_info;
bool fs_is_mint(const struct tree_node *n);      /* new/ or in it */
int fs_mint_attr(struct fs *fs, const struct tree_node *n, struct stat *st);
/* Does part exist in folder f?  id and token need the ID. */
bool fs_mint_has(const struct minted_info *f, enum tree_mint_part part);
/* The body of id ("<ID>\n") or token ("../../tokens/<ID>") of f in buf; its length. */
size_t fs_mint_text(const struct minted_info *f, enum tree_mint_part part, char *buf, size_t cap);

/* new/ and what -o manage may change (fs_mint.c). */
void fs_mint_lookup(fuse_req_t req, const struct tree_node *dir, const char *name);
void fs_mint_list(fuse_req_t req, const struct tree_node *dir, size_t size, off_t off, int plus);
void fs_mint_readlink(fuse_req_t req, const struct tree_node *n);
int fs_mint_open(fuse_req_t req, const struct tree_node *n, struct fuse_file_info *fi);
void fs_mint_read(fuse_req_t req, const struct tree_node *n, size_t size, off_t off);
int fs_mint_access(fuse_req_t req, const struct tree_node *n, int mask);
void fs_mkdir(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode);
void fs_rmdir(fuse_req_t req, fuse_ino_t parent, const char *name);
void fs_unlink(fuse_req_t req, fuse_ino_t parent, const char *name);

/* The folder operations (fs_dir.c). */
void fs_opendir(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi);
void fs_readdir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
		struct fuse_file_info *fi);
void fs_readdirplus(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
		    struct fuse_file_info *fi);

#endif
