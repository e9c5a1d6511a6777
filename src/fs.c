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
#include <stdbool.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include "escape.h"
#include "report.h"
#include "timestamp.h"

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

/*
 * How long before a clock file's body changes the kernel must ask for it
 * again: more than the kernel's rounding of timeouts (a few ms).
 */
#define CLOCK_MARGIN 0.05

/*
 * How many versions of status and of metrics.prom may be alive at once,
 * whatever the number of open files: metrics.prom is about 260 bytes a
 * token.
 */
#define REPORTS_LIVE 4

/* Identities of the root's entries never change, so the kernel may keep them. */
#define FIXED_ENTRY_TIMEOUT 86400.0

/*
 * An open file or folder: the snapshot it was opened on (NULL only for the
 * root folder, status and metrics.prom before the first fetch), the node
 * it is, and what was judged at the moment of opening: the body of a
 * dynamic file, the members of a view.
 */
struct handle {
	struct handle *prev, *next; /* in fs->handles */
	/*
	 * The kernel's reference, and one for each read replying from the
	 * handle's memory: the kernel may release the file once it has the
	 * reply, while the thread that sent it is still on its way out.
	 */
	atomic_uint refs;
	struct snapshot *snap;
	struct tree_node node;
	double valid_for;
	char *body;          /* dynamic files: rendered at open */
	size_t body_len;
	struct shelf_text *shared; /* status, metrics.prom: body is its text */
	uint32_t *members;   /* views and by-name/: indexes into snap->tok */
	size_t n_members;
};

static struct fs *fs_of(fuse_req_t req)
{
	return fuse_req_userdata(req);
}

static struct handle *handle_of(const struct fuse_file_info *fi)
{
	return (struct handle *)(uintptr_t)fi->fh;
}

void fs_init(struct fs *fs)
{
	pthread_mutex_init(&fs->handles_lock, NULL);
	fs->handles = NULL;
	atomic_init(&fs->no_open, false);
	atomic_init(&fs->no_opendir, false);
	atomic_init(&fs->cache_dirs, false);
	inval_init(&fs->inval);
	shelf_init(&fs->reports[0], REPORTS_LIVE);
	shelf_init(&fs->reports[1], REPORTS_LIVE);
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
	/*
	 * O_TRUNC as a separate truncation, which is refused: folded into an
	 * open the kernel answers itself, it would empty the cached file.
	 */
	conn->want &= ~FUSE_CAP_ATOMIC_O_TRUNC;
	if (fs->kernel_cache && (conn->capable & FUSE_CAP_NO_OPEN_SUPPORT))
		atomic_store(&fs->no_open, true);
	/* Folders need their mtimes to say when listings change (auto_inval_data). */
	if (fs->kernel_cache && (conn->capable & FUSE_CAP_NO_OPENDIR_SUPPORT) &&
	    atomic_load(&fs->cache_dirs))
		atomic_store(&fs->no_opendir, true);
}

/* Seconds from now until t, less the margin; never negative. */
static double seconds_before(struct timespec t, struct timespec now)
{
	double left = ts_seconds(now, t) - CLOCK_MARGIN;

	return left > 0 ? left : 0;
}

/* Let go of a handle's rendered body. */
static void body_release(struct handle *h)
{
	if (h->shared)
		shelf_put(h->shared);
	else
		free(h->body);
	h->shared = NULL;
	h->body = NULL;
}

/* Unlink h from the open handles and free it; h may be NULL. */
static void handle_free(struct fs *fs, struct handle *h)
{
	if (!h)
		return;
	pthread_mutex_lock(&fs->handles_lock);
	if (h->prev)
		h->prev->next = h->next;
	else
		fs->handles = h->next;
	if (h->next)
		h->next->prev = h->prev;
	pthread_mutex_unlock(&fs->handles_lock);
	snap_unref(h->snap);
	body_release(h);
	free(h->members);
	free(h);
}

/* Drop one reference to h (which may be NULL); the last one frees it. */
static void handle_put(struct fs *fs, struct handle *h)
{
	if (h && atomic_fetch_sub_explicit(&h->refs, 1, memory_order_acq_rel) == 1)
		handle_free(fs, h);
}

/* The session is over: free the handles the kernel never released. */
static void fs_destroy(void *userdata)
{
	struct fs *fs = userdata;

	while (fs->handles)
		handle_free(fs, fs->handles);
	shelf_destroy(&fs->reports[0]);
	shelf_destroy(&fs->reports[1]);
}

/* The moment of this request, for the files and views that depend on it. */
static struct tree_clock clock_now(const struct fs *fs)
{
	struct tree_clock clk = { .expiring_days = fs->expiring_days };

	clock_gettime(CLOCK_REALTIME, &clk.now);
	return clk;
}

/* Is the body of n independent of the server's answers (status, metrics)? */
static bool always_readable(const struct tree_node *n)
{
	return n->kind == TREE_STATUS || n->kind == TREE_METRICS;
}

/*
 * The snapshot for a request (fetching if due) and the node ino names in it.
 * Returns 0 with *snap referenced, or an errno with *snap NULL.  The mount's
 * own files (status, metrics.prom) and the root never fetch nor wait: they
 * are about the mount, and say what is going on, a fetch in flight included
 * (see fs_open for the fetch a report's open starts).
 */
static int resolve(fuse_req_t req, fuse_ino_t ino, struct snapshot **snap,
		   double *valid_for, struct tree_node *node)
{
	struct fs *fs = fs_of(req);
	struct err e;

	if (ino == FUSE_ROOT_ID) {
		/*
		 * The root's entries exist whatever the server says: it is
		 * answered from what there is, and costs no request (df,
		 * mountpoint and lookups of its entries); the access below fetches.
		 */
		*snap = cache_peek(fs->cache, valid_for);
		tree_node(*snap, ino, node);
		return 0;
	}
	if (tree_node(NULL, ino, node) && always_readable(node)) {
		*snap = cache_peek(fs->cache, NULL);
		*valid_for = 0;
		return 0;
	}
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

/* resolve() for a folder: ENOTDIR (with *snap NULL) when ino is not one. */
static int resolve_dir(fuse_req_t req, fuse_ino_t ino, struct snapshot **snap,
		       double *valid_for, struct tree_node *node)
{
	int rc = resolve(req, ino, snap, valid_for, node);

	if (rc == 0 && !tree_is_dir(node)) {
		snap_unref(*snap);
		*snap = NULL;
		rc = ENOTDIR;
	}
	return rc;
}

/* What a report is rendered from (a shelf_render_fn's context). */
struct report_job {
	const struct snapshot *snap;
	enum tree_kind kind;
	struct report_info info;
};

static char *render_report(void *ctx, size_t *len)
{
	struct report_job *job = ctx;

	if (job->kind == TREE_STATUS)
		return report_status(job->snap, &job->info, len);
	return report_metrics(job->snap, &job->info, len);
}

/*
 * status or metrics.prom as of now, shared with every other open of the
 * same version (one per snapshot, fetch count and second); NULL when
 * memory runs out.
 */
static struct shelf_text *report_now(struct fs *fs, const struct snapshot *s,
				     const struct tree_node *n)
{
	struct report_job job = { .snap = s, .kind = n->kind };
	uint64_t key[SHELF_KEY_WORDS];

	job.info = (struct report_info){
		.url = fs->url,
		.cache_ttl = fs->cache_ttl,
		.expiring_days = fs->expiring_days,
		.now = clock_now(fs).now,
		.requests = api_requests(fs->api),
	};
	cache_stats(fs->cache, &job.info.stats);
	key[0] = s ? s->serial : 0;
	key[1] = (uint64_t)job.info.now.tv_sec;
	key[2] = (job.info.stats.fetches_ok + job.info.stats.fetches_failed) << 1 |
		 job.info.stats.fetching;
	return shelf_get(&fs->reports[n->kind == TREE_STATUS], key, render_report, &job);
}

/*
 * Render dynamic node n (a clock file, status or metrics.prom) for a
 * handle: h->body, and h->shared for a report.  Returns false when memory
 * runs out.
 */
static bool render(struct fs *fs, const struct snapshot *s, const struct tree_node *n,
		   struct handle *h)
{
	struct tree_clock clk = clock_now(fs);

	if (n->kind == TREE_TOKEN_CLOCK) {
		h->body = malloc(32);
		if (h->body)
			h->body_len = tree_clock_body(n, &clk, h->body, 32);
		return h->body != NULL;
	}
	h->shared = report_now(fs, s, n);
	if (!h->shared)
		return false;
	h->body = h->shared->text;
	h->body_len = h->shared->len;
	return true;
}

/*
 * Attributes of n.  A dynamic file's size is the length of its body now,
 * and the kernel must ask again next time (attr timeout 0).
 */
static int node_attr(struct fs *fs, const struct snapshot *s, const struct tree_node *n,
		     struct stat *st, double *attr_timeout)
{
	struct handle tmp = { .body = NULL };
	size_t len;

	tree_stat(s, n, &fs->owner, fs->mount_time, st);
	if (fs->kernel_cache && (n->kind == TREE_EXPIRING || n->kind == TREE_EXPIRED)) {
		/*
		 * The kernel keeps the listing of a view too: its mtime is when
		 * its members last changed, and the kernel asks again before
		 * they next change.
		 */
		struct tree_clock clk = clock_now(fs);
		struct timespec until;

		if (tree_view_span(s, &clk, n, &st->st_mtim, &until) &&
		    seconds_before(until, clk.now) < *attr_timeout)
			*attr_timeout = seconds_before(until, clk.now);
		st->st_ctim = st->st_mtim;
		return 0;
	}
	if (!tree_is_dynamic(n))
		return 0;
	if (!render(fs, s, n, &tmp))
		return ENOMEM;
	len = tmp.body_len;
	body_release(&tmp);
	st->st_size = (off_t)len;
	st->st_blocks = (blkcnt_t)((len + 511) / 512);
	if (!fs->kernel_cache) {
		*attr_timeout = 0;
		return 0;
	}
	/*
	 * Through the page cache (kernel_cache), a new mtime is what makes the
	 * kernel drop the body it holds and read it again: a clock file's
	 * mtime is when its body last changed, and the kernel asks again just
	 * before it next changes.  status and metrics.prom change with every
	 * attempt: new each time they are looked at.
	 */
	if (n->kind == TREE_TOKEN_CLOCK) {
		struct tree_clock clk = clock_now(fs);
		struct timespec until;

		if (tree_clock_span(n, &clk, &st->st_mtim, &until) &&
		    seconds_before(until, clk.now) < *attr_timeout)
			*attr_timeout = seconds_before(until, clk.now);
	} else {
		clock_gettime(CLOCK_REALTIME, &st->st_mtim);
		*attr_timeout = 0;
	}
	st->st_ctim = st->st_mtim;
	return 0;
}

static int fill_entry(struct fs *fs, const struct snapshot *s, const struct tree_node *n,
		      double valid_for, struct fuse_entry_param *e)
{
	memset(e, 0, sizeof(*e));
	e->ino = n->ino;
	e->generation = 1;
	e->attr_timeout = valid_for;
	e->entry_timeout = valid_for;
	return node_attr(fs, s, n, &e->attr, &e->attr_timeout);
}

static void fs_lookup(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	struct fs *fs = fs_of(req);
	struct tree_clock clk = clock_now(fs);
	struct fuse_entry_param e;
	struct tree_node dir, child;
	struct snapshot *s;
	double valid;
	int rc;

	rc = resolve(req, parent, &s, &valid, &dir);
	if (rc) {
		fuse_reply_err(req, rc);
		return;
	}
	rc = tree_lookup(s, &clk, &dir, name, &child);
	if (rc == -ENOENT && (dir.kind == TREE_EXPIRING || dir.kind == TREE_EXPIRED)) {
		/* View membership changes with the clock: no negative caching. */
		fuse_reply_err(req, ENOENT);
	} else if (rc == -ENOENT) {
		/* A negative entry, cached no longer than the snapshot is served. */
		memset(&e, 0, sizeof(e));
		e.entry_timeout = valid;
		fuse_reply_entry(req, &e);
	} else if (rc) {
		fuse_reply_err(req, -rc);
	} else if ((rc = fill_entry(fs, s, &child, valid, &e)) != 0) {
		fuse_reply_err(req, rc);
	} else {
		if (parent == FUSE_ROOT_ID)
			e.entry_timeout = FIXED_ENTRY_TIMEOUT;
		else if (dir.kind == TREE_EXPIRING || dir.kind == TREE_EXPIRED)
			e.entry_timeout = 0;
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
		/* fstat of an open file: the snapshot and body it was opened on. */
		struct handle *h = handle_of(fi);
		struct snapshot *cur = cache_peek(fs->cache, &valid);

		tree_stat(h->snap, &h->node, &fs->owner, fs->mount_time, &st);
		if (h->body) {
			st.st_size = (off_t)h->body_len;
			st.st_blocks = (blkcnt_t)((h->body_len + 511) / 512);
		}
		/*
		 * An older version than the current one is this handle's alone:
		 * not one for the kernel to keep for others.
		 */
		if (cur != h->snap || h->body || ino == FUSE_ROOT_ID)
			valid = 0;
		snap_unref(cur);
		fuse_reply_attr(req, &st, valid);
		return;
	}
	rc = resolve(req, ino, &s, &valid, &n);
	if (rc == 0)
		rc = node_attr(fs, s, &n, &st, &valid);
	/* The root carries the time of the last fetch: the kernel asks each time. */
	if (ino == FUSE_ROOT_ID)
		valid = 0;
	if (rc)
		fuse_reply_err(req, rc);
	else
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

/* Reply to an open with handle h (filled but for fi); frees h on failure. */
static void reply_open(fuse_req_t req, struct fuse_file_info *fi, struct handle *h)
{
	struct fs *fs = fs_of(req); /* req is gone once replied to */

	fi->fh = (uintptr_t)h;
	if (fuse_reply_open(req, fi) != 0)
		handle_free(fs, h);
}

/*
 * A new open handle on (s, n), taking the reference on s; NULL (s
 * released) on ENOMEM.  It is registered before the kernel hears of it,
 * since the kernel may release it at once.
 */
static struct handle *handle_new(struct fs *fs, struct snapshot *s, const struct tree_node *n,
				 double valid)
{
	struct handle *h = calloc(1, sizeof(*h));

	if (!h) {
		snap_unref(s);
		return NULL;
	}
	atomic_init(&h->refs, 1);
	h->snap = s;
	h->node = *n;
	h->valid_for = valid;
	pthread_mutex_lock(&fs->handles_lock);
	h->next = fs->handles;
	if (h->next)
		h->next->prev = h;
	fs->handles = h;
	pthread_mutex_unlock(&fs->handles_lock);
	return h;
}

/* Which opens does node n accept?  Returns 0 or an errno. */
static int open_allowed(const struct tree_node *n, int flags)
{
	int acc = flags & O_ACCMODE;

	if (tree_is_dir(n))
		return EISDIR;
	if (n->kind == TREE_REFRESH)
		return 0; /* reads see nothing; each write fetches */
	if (acc != O_RDONLY || (flags & O_TRUNC))
		return EROFS;
	return 0;
}

static void fs_open(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct fs *fs = fs_of(req);
	struct tree_node n;
	struct snapshot *s = NULL;
	struct handle *h;
	double valid;
	int rc;

	if (atomic_load(&fs->no_open)) {
		/* The kernel opens every file by itself from now on. */
		fuse_reply_err(req, ENOSYS);
		return;
	}
	if (ino == TREE_INO_REFRESH) {
		/* Opening refresh fetches nothing: each write fetches once. */
		s = cache_peek(fs->cache, &valid);
		tree_node(s, ino, &n);
		rc = 0;
	} else if ((fi->flags & O_ACCMODE) != O_RDONLY || (fi->flags & O_TRUNC)) {
		rc = EROFS; /* known without asking the server */
	} else {
		rc = resolve(req, ino, &s, &valid, &n);
	}
	if (rc == 0)
		rc = open_allowed(&n, fi->flags);
	if (rc) {
		snap_unref(s);
		fuse_reply_err(req, rc);
		return;
	}
	h = handle_new(fs, s, &n, valid);
	if (h && tree_is_dynamic(&n)) {
		/* Rendered once per open: size and bytes agree for this reader. */
		if (!render(fs, s, &n, h)) {
			handle_free(fs, h);
			h = NULL;
		}
	}
	/*
	 * A report says what was so when it was opened; then it starts a due
	 * fetch in the background, so that a scraper that is the mount's only
	 * reader sees the list follow the server, a scrape behind.
	 */
	if (always_readable(&n))
		cache_kick(fs->cache);
	/*
	 * Each open file reads the snapshot it was opened on, while the kernel
	 * keeps one size per inode: through the page cache, a reader of one
	 * version would be cut to the length of another.  Direct I/O sends
	 * every read here, where the handle's own body answers it.  With
	 * kernel_cache the page cache is kept instead (readers see the newest
	 * version), but for the bodies rendered at each open.
	 */
	fi->direct_io = !fs->kernel_cache || tree_is_dynamic(&n) || n.kind == TREE_REFRESH;
	fi->keep_cache = !fi->direct_io;
	if (n.kind == TREE_REFRESH)
		fi->nonseekable = 1;
	if (!h) {
		fuse_reply_err(req, ENOMEM);
		return;
	}
	reply_open(req, fi, h);
}

/* Reply to a read at off of size bytes from body (len bytes; NULL: EIO). */
static void reply_slice(fuse_req_t req, const char *body, size_t len, size_t size, off_t off)
{
	if (!body)
		fuse_reply_err(req, EIO);
	else if (off < 0 || (size_t)off >= len)
		fuse_reply_buf(req, NULL, 0);
	else
		fuse_reply_buf(req, body + off, len - (size_t)off < size ? len - (size_t)off : size);
}

/* Reply to a read of snapshot file n of s: token.json is rendered only if read within. */
static void reply_body(fuse_req_t req, const struct snapshot *s, const struct tree_node *n,
		       size_t size, off_t off)
{
	size_t len = tree_body_len(s, n), cap = 0;
	char *scratch = NULL;

	if (off >= 0 && (size_t)off >= len) {
		fuse_reply_buf(req, NULL, 0);
		return;
	}
	reply_slice(req, tree_body(s, n, &len, &scratch, &cap), len, size, off);
	free(scratch);
}

/*
 * A read without a handle (the kernel opened the file by itself): from the
 * current snapshot, without fetching; the kernel asks for the attributes,
 * and so causes any refresh that is due, before it reads.
 */
static void read_current(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off)
{
	struct fs *fs = fs_of(req);
	struct snapshot *s = cache_peek(fs->cache, NULL);
	struct tree_node n;
	struct handle tmp = { .body = NULL };
	bool found = tree_node(s, ino, &n);

	if (!found) {
		fuse_reply_err(req, ENOENT);
	} else if (n.kind == TREE_REFRESH) {
		reply_slice(req, "", 0, size, off);
	} else if (tree_is_dynamic(&n)) {
		render(fs, s, &n, &tmp);
		reply_slice(req, tmp.body, tmp.body_len, size, off);
		if (always_readable(&n) && off == 0)
			cache_kick(fs->cache); /* as fs_open does */
	} else {
		reply_body(req, s, &n, size, off);
	}
	/*
	 * A walk that listed a token's folder and reads one of its files reads
	 * the others next, and then those of the next tokens listed: have their
	 * bodies in the page cache by then, not a round trip each.  Without the
	 * listing (a glob of every token's expiry), the kernel holds no inodes
	 * to store them in: no stores.
	 */
	if (found && fs->kernel_cache && off == 0 &&
	    (n.kind == TREE_TOKEN_FILE || n.kind == TREE_TOKEN_CLOCK) && snap_marked(s, n.tok))
		inval_prefetch(&fs->inval, s, n.tok, INVAL_STORE_AHEAD);
	body_release(&tmp);
	snap_unref(s);
}

static void fs_read(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
		    struct fuse_file_info *fi)
{
	struct handle *h = handle_of(fi);
	struct fs *fs = fs_of(req); /* req is gone once replied to */

	if (!h) {
		read_current(req, ino, size, off);
		return;
	}
	atomic_fetch_add_explicit(&h->refs, 1, memory_order_relaxed);
	if (h->node.kind == TREE_REFRESH)
		reply_slice(req, "", 0, size, off); /* write-only: nothing to read */
	else if (h->body)
		reply_slice(req, h->body, h->body_len, size, off);
	else
		reply_body(req, h->snap, &h->node, size, off);
	handle_put(fs, h);
}

/* A write to refresh: fetch now, and succeed only if the fetch does. */
static void fs_write(fuse_req_t req, fuse_ino_t ino, const char *buf, size_t size,
		     off_t off, struct fuse_file_info *fi)
{
	struct handle *h = handle_of(fi);
	struct err e;

	(void)buf;
	(void)off;
	if (h ? h->node.kind != TREE_REFRESH : ino != TREE_INO_REFRESH) {
		fuse_reply_err(req, EROFS);
		return;
	}
	err_clear(&e);
	if (cache_refresh(fs_of(req)->cache, &e) != ERR_OK) {
		fuse_reply_err(req, fs_errno(e.kind));
		return;
	}
	/* Once the write returns, nothing the kernel shows predates the fetch. */
	inval_wait(&fs_of(req)->inval);
	fuse_reply_write(req, size);
}

static void fs_release(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	(void)ino;
	handle_put(fs_of(req), handle_of(fi));
	fuse_reply_err(req, 0);
}

static void fs_opendir(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct fs *fs = fs_of(req);
	struct tree_clock clk = clock_now(fs);
	struct tree_node n;
	struct snapshot *s;
	struct handle *h;
	double valid;
	int rc;

	if (atomic_load(&fs->no_opendir)) {
		/* The kernel opens folders by itself from now on. */
		fuse_reply_err(req, ENOSYS);
		return;
	}
	rc = resolve_dir(req, ino, &s, &valid, &n);
	if (rc) {
		fuse_reply_err(req, rc);
		return;
	}
	h = handle_new(fs, s, &n, valid);
	if (h && (n.kind == TREE_EXPIRING || n.kind == TREE_EXPIRED)) {
		/* Membership is judged now, once for the whole listing. */
		h->members = malloc((s->n ? s->n : 1) * sizeof(*h->members));
		if (h->members) {
			h->n_members = tree_view_members(s, &clk, &n, h->members);
		} else {
			handle_free(fs, h);
			h = NULL;
		}
	}
	if (!h) {
		fuse_reply_err(req, ENOMEM);
		return;
	}
	/*
	 * A listing the kernel may keep: one that changes only with a fetch,
	 * which gives the folder a new mtime (see fs_init_conn).  The views
	 * change with the clock.
	 */
	if (atomic_load(&fs->cache_dirs) && !h->members) {
		fi->cache_readdir = 1;
		fi->keep_cache = 1;
	}
	reply_open(req, fi, h);
}

/* Entry i of the open folder d: from its members for a view, else from the tree. */
static bool handle_entry(struct handle *d, size_t i, char *namebuf, const char **name,
			 struct tree_node *child)
{
	if (!d->members || i < 2)
		return tree_dir_entry(d->snap, &d->node, i, namebuf, name, child);
	if (i - 2 >= d->n_members)
		return false;
	tree_view_entry(d->snap, &d->node, d->members[i - 2], name, child);
	return true;
}

/*
 * Add one entry to a listing in buf (used of size bytes so far) at position
 * next; plus: with attributes, for the kernel to keep.  Returns the bytes
 * it takes, more than size - used when it did not fit, or 0 on failure.
 */
static size_t add_entry(fuse_req_t req, const struct snapshot *s, const struct tree_node *dir,
			const char *name, const struct tree_node *child, double valid, int plus,
			char *buf, size_t size, size_t used, off_t next)
{
	struct fs *fs = fs_of(req);
	struct fuse_entry_param e;

	if (!plus) {
		tree_stat(s, child, &fs->owner, fs->mount_time, &e.attr);
		return fuse_add_direntry(req, buf + used, size - used, name, &e.attr, next);
	}
	if (fill_entry(fs, s, child, valid, &e) != 0)
		return 0;
	if (dir->kind == TREE_ROOT && strcmp(name, "..") != 0 && strcmp(name, ".") != 0)
		e.entry_timeout = FIXED_ENTRY_TIMEOUT;
	else if (dir->kind == TREE_EXPIRING || dir->kind == TREE_EXPIRED)
		e.entry_timeout = 0;
	return fuse_add_direntry_plus(req, buf + used, size - used, name, &e, next);
}

/*
 * Where a listing of a folder listed by ID (tree_dir_keyed) stands, as the
 * kernel hands it back: tree_dir_next's position, with a tag of the
 * snapshot it was read from above it (bits 54 to 62: its serial, modulo
 * 512; 0, 1 and 2 carry no tag).  The kernel keeps a folder's listing
 * (cache_readdir) as any open of it reads it, and another open may read
 * the start of it from there, then ask for the rest: that rest must come
 * from the same snapshot, which the tag names, or the listing would be the
 * start of one list and the end of another.  Should that snapshot be gone
 * (or, 512 refreshes on, another share its tag), the rest still goes on
 * from the token after the last one listed.
 */
#define POS_TAG_SHIFT 54
_Static_assert(TREE_POS_LIMIT <= UINT64_C(1) << POS_TAG_SHIFT, "a tag would overlap an ID");

static uint64_t pos_tag(const struct snapshot *s)
{
	return s ? s->serial & ((UINT64_C(1) << (63 - POS_TAG_SHIFT)) - 1) : 0;
}

static bool has_tag(const struct snapshot *s, const void *tag)
{
	return pos_tag(s) == *(const uint64_t *)tag;
}

/*
 * The snapshot a keyed listing at position off goes on from: *s (whose
 * reference passes to the caller) unless another, still kept by the cache
 * (cache_find), is the one whose tag off carries; *valid follows it.
 */
static struct snapshot *pos_snapshot(struct fs *fs, struct snapshot *s, uint64_t off,
				     double *valid)
{
	uint64_t tag = off >> POS_TAG_SHIFT;
	struct snapshot *t;
	double v;

	if (off < 3 || tag == pos_tag(s))
		return s;
	t = cache_find(fs->cache, has_tag, &tag, &v);
	if (!t)
		return s;
	snap_unref(s);
	*valid = v;
	return t;
}

/*
 * Fill buf (size bytes) with the entries of folder dir of s from position
 * off on (tree_dir_next); returns the bytes used.  A keyed folder's
 * positions carry s's tag.
 */
static size_t list_from(fuse_req_t req, struct snapshot *s, const struct tree_node *dir,
			double valid, off_t off, int plus, char *buf, size_t size)
{
	struct tree_clock clk = clock_now(fs_of(req));
	bool keyed = tree_dir_keyed(dir);
	uint64_t tag = keyed ? pos_tag(s) << POS_TAG_SHIFT : 0;
	uint64_t pos = off < 0 ? 0 : (uint64_t)off;
	char namebuf[TREE_NAME_BUF];
	struct tree_node child;
	const char *name;
	size_t used = 0, need;

	if (keyed)
		pos &= (UINT64_C(1) << POS_TAG_SHIFT) - 1;
	while (tree_dir_next(s, &clk, dir, &pos, namebuf, &name, &child)) {
		need = add_entry(req, s, dir, name, &child, valid, plus, buf, size, used,
				 (off_t)(pos < 3 ? pos : pos | tag));
		if (need == 0 || need > size - used)
			break;
		used += need;
	}
	return used;
}

/*
 * A listing without a handle (the kernel opened the folder itself): from
 * the current snapshot, or for a keyed folder, from the one the position
 * names (pos_snapshot).
 */
static void list_current(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off, int plus)
{
	struct fs *fs = fs_of(req);
	char *buf = malloc(size);
	struct tree_node dir;
	struct snapshot *s;
	size_t used;
	double valid;
	int rc;

	if (!buf) {
		fuse_reply_err(req, ENOMEM);
		return;
	}
	rc = resolve_dir(req, ino, &s, &valid, &dir);
	if (rc) {
		fuse_reply_err(req, rc);
		free(buf);
		return;
	}
	if (tree_dir_keyed(&dir))
		s = pos_snapshot(fs, s, off < 0 ? 0 : (uint64_t)off, &valid);
	used = list_from(req, s, &dir, valid, off, plus, buf, size);
	/* The kernel now holds the inodes of the token's files: see read_current. */
	if (plus && used > 0 && dir.kind == TREE_TOKEN_DIR)
		snap_mark(s, dir.tok, clock_now(fs).now);
	fuse_reply_buf(req, buf, used);
	free(buf);
	snap_unref(s);
}

/*
 * A listing of an open folder.  A keyed folder's listing starts from the
 * current snapshot (as the kernel's copy of it does) and goes on from the
 * one its position names; d keeps that one.  Other folders list from the
 * snapshot of the open: a view, its members judged then.  The kernel
 * sends one request at a time for an open folder.
 */
static void list_dir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
		     struct fuse_file_info *fi, int plus)
{
	struct handle *d = handle_of(fi);
	char *buf, namebuf[TREE_NAME_BUF];
	size_t used = 0;

	if (!d) {
		list_current(req, ino, size, off, plus);
		return;
	}
	buf = malloc(size);
	if (!buf) {
		fuse_reply_err(req, ENOMEM);
		return;
	}
	if (tree_dir_keyed(&d->node) && !d->members) {
		struct fs *fs = fs_of(req);
		uint64_t pos = off < 0 ? 0 : (uint64_t)off;

		if (pos < 3) {
			struct snapshot *cur = cache_peek(fs->cache, &d->valid_for);

			if (cur) {
				snap_unref(d->snap);
				d->snap = cur;
			}
		} else {
			d->snap = pos_snapshot(fs, d->snap, pos, &d->valid_for);
		}
		used = list_from(req, d->snap, &d->node, d->valid_for, off, plus, buf, size);
		fuse_reply_buf(req, buf, used);
		free(buf);
		return;
	}
	for (size_t i = off < 0 ? 0 : (size_t)off;; i++) {
		struct tree_node child;
		const char *name;
		size_t need;

		if (!handle_entry(d, i, namebuf, &name, &child))
			break;
		need = add_entry(req, d->snap, &d->node, name, &child, d->valid_for, plus, buf,
				 size, used, (off_t)(i + 1));
		if (need == 0 || need > size - used)
			break;
		used += need;
	}
	fuse_reply_buf(req, buf, used);
	free(buf);
}

static void fs_readdir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
		       struct fuse_file_info *fi)
{
	list_dir(req, ino, size, off, fi, 0);
}

static void fs_readdirplus(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
			   struct fuse_file_info *fi)
{
	list_dir(req, ino, size, off, fi, 1);
}

static void fs_releasedir(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	(void)ino;
	handle_put(fs_of(req), handle_of(fi));
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
	sv.f_files = s ? 16 + s->n * 16 : 16;
	snap_unref(s);
	fuse_reply_statfs(req, &sv);
}

static void fs_access(fuse_req_t req, fuse_ino_t ino, int mask)
{
	fuse_reply_err(req, (mask & W_OK) && ino != TREE_INO_REFRESH ? EROFS : 0);
}

/* Truncating refresh (as `echo 1 > refresh` does) is allowed and changes nothing. */
static void fs_setattr(fuse_req_t req, fuse_ino_t ino, struct stat *attr, int to_set,
		       struct fuse_file_info *fi)
{
	struct fs *fs = fs_of(req);
	struct tree_node n;
	struct stat st;

	(void)fi;
	if (ino != TREE_INO_REFRESH || to_set != FUSE_SET_ATTR_SIZE || attr->st_size != 0) {
		fuse_reply_err(req, EROFS);
		return;
	}
	tree_node(NULL, ino, &n);
	tree_stat(NULL, &n, &fs->owner, fs->mount_time, &st);
	fuse_reply_attr(req, &st, 0);
}

/* Every operation that would change something: the tree is read-only. */
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
	.init = fs_init_conn,
	.destroy = fs_destroy,
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
	.setattr = fs_setattr,
	.write = fs_write,
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
