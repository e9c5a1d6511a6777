/*
 * fs.c - FUSE low-level operations over the cache; see fs.h.
 *
 * One mode, read-only at the kernel level: file bodies stay in the page
 * cache across opens, and opens of files and folders are answered by the
 * kernel alone (ENOSYS from open and opendir).  So there is no open file
 * here to pin a version on: a file's version is in its inode number
 * instead (tree.h).  A refresh gives each changed file a new number and
 * tells the kernel to look its name up again (inval.c); a reader holding
 * the old inode keeps reading the old version, from the page cache or,
 * should reclaim drop it, from the snapshot kept for it (held.h), until the
 * kernel forgets the inode.  A read() therefore returns bytes of one
 * version with that version's length, however small the reads, and a new
 * open gets the newest list.  (Kubernetes' projected volumes swap a
 * symlink to the same end; in FUSE the inode number is the natural
 * handle, and costs no request per open.)
 *
 * Kernel caching (entry and attribute timeouts) lasts only as long as a
 * snapshot may be served, so that the first access after the TTL reaches
 * the cache and refreshes it.
 */
#include "fs.h"

#include <errno.h>
#include <inttypes.h>
#include <stdbool.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include "escape.h"
#include "ioctl.h"
#include "log.h"
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
 * How many versions of status and of metrics.prom may be alive at once,
 * whatever the number of readers: metrics.prom is about 260 bytes a token.
 */
#define REPORTS_LIVE 4

/* Identities of the root's folders and reports never change, so the kernel may keep them. */
#define FIXED_ENTRY_TIMEOUT 86400.0

static struct fs *fs_of(fuse_req_t req)
{
	return fuse_req_userdata(req);
}

bool fs_init(struct fs *fs)
{
	atomic_init(&fs->no_open, false);
	atomic_init(&fs->no_opendir, false);
	atomic_init(&fs->cache_dirs, false);
	shelf_init(&fs->reports[0], REPORTS_LIVE);
	shelf_init(&fs->reports[1], REPORTS_LIVE);
	editions_init(&fs->editions);
	fs->held = held_new();
	fs->inval = inval_new();
	fs->prefetch = prefetch_new(fs->cache);
	return fs->held && fs->inval && fs->prefetch;
}

void fs_fini(struct fs *fs)
{
	prefetch_free(fs->prefetch);
	inval_free(fs->inval);
	editions_destroy(&fs->editions);
	shelf_destroy(&fs->reports[0]);
	shelf_destroy(&fs->reports[1]);
	held_free(fs->held);
	fs->held = NULL;
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
	rc = inval_start(fs->inval, se, fs->cache, fs->held);
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
	if (conn->capable & FUSE_CAP_NO_OPEN_SUPPORT)
		atomic_store(&fs->no_open, true);
	/* Folders need their mtimes to say when listings change (auto_inval_data). */
	if ((conn->capable & FUSE_CAP_NO_OPENDIR_SUPPORT) && atomic_load(&fs->cache_dirs))
		atomic_store(&fs->no_opendir, true);
}

/* Seconds from now until t, less the margin; never negative. */
static double seconds_before(struct timespec t, struct timespec now)
{
	double left = ts_seconds(now, t) - CLOCK_MARGIN;

	return left > 0 ? left : 0;
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
		s = cache_find(fs->cache, holds_ino, &ino, &v);
	return s;
}

/*
 * Node ino in *snap, or else in the snapshot that holds its version
 * (find_version), which then replaces *snap.  Returns 0, or an errno with
 * *snap released and NULL: ESTALE for a version no longer kept.
 */
static int node_in(struct fs *fs, struct snapshot **snap, fuse_ino_t ino,
		   struct tree_node *node)
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

/*
 * The snapshot for a request (fetching if due) and the node ino names in it.
 * Returns 0 with *snap referenced, or an errno with *snap NULL.  The mount's
 * own files (status, metrics.prom) and the root never fetch nor wait: they
 * are about the mount, and say what is going on, a fetch in flight included
 * (see read_current for the fetch a report's read starts).
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
		 * mountpoint and lookups of its folders); the access below fetches.
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
	return node_in(fs, snap, ino, node);
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
	held_counts(fs->held, &job.info.versions_held, &job.info.lists_kept);
	cache_stats(fs->cache, &job.info.stats);
	key[0] = s ? s->serial : 0;
	key[1] = (uint64_t)job.info.now.tv_sec;
	key[2] = (job.info.stats.fetches_ok + job.info.stats.fetches_failed) << 1 |
		 job.info.stats.fetching;
	return shelf_get(&fs->reports[n->kind == TREE_STATUS], key, render_report, &job);
}

static uint64_t edition_number(uint64_t version, void *kind)
{
	return tree_report_ino(*(enum tree_kind *)kind, version);
}

/*
 * A new edition of report n (status or metrics.prom) rendered now, or the
 * one of the same second, for a lookup: its number, counted one lookup
 * (editions_forget), or 0 when memory runs out.
 */
static uint64_t edition_new(struct fs *fs, const struct snapshot *s, const struct tree_node *n)
{
	struct shelf_text *t = report_now(fs, s, n);
	enum tree_kind kind = n->kind;

	if (!t)
		return 0;
	return editions_add(&fs->editions, t, clock_now(fs).now, edition_number, &kind);
}

/* Is n one of the fixed numbers of status and metrics.prom (plain listings only)? */
static bool fixed_report(const struct tree_node *n)
{
	return n->ino == TREE_INO_STATUS || n->ino == TREE_INO_METRICS;
}

/* A dynamic file's body as rendered for one request. */
struct rendered {
	const char *body;
	size_t len;
	char clock[32];            /* a clock file's body */
	struct shelf_text *shared; /* status, metrics.prom: body is its text */
	struct timespec at;        /* when it was rendered */
};

/*
 * Render dynamic node n (a clock file, status or metrics.prom) into *r: an
 * edition of a report is its text as the kernel was given it.  Returns 0,
 * ENOMEM, or ESTALE for an edition the kernel no longer holds.
 */
static int render(struct fs *fs, const struct snapshot *s, const struct tree_node *n,
		  struct rendered *r)
{
	struct tree_clock clk = clock_now(fs);

	r->shared = NULL;
	r->at = clk.now;
	if (n->kind == TREE_TOKEN_CLOCK) {
		r->len = tree_clock_body(n, &clk, r->clock, sizeof(r->clock));
		r->body = r->clock;
		return 0;
	}
	if (fixed_report(n))
		r->shared = report_now(fs, s, n);
	else
		r->shared = editions_find(&fs->editions, n->ino, &r->at);
	if (!r->shared)
		return fixed_report(n) ? ENOMEM : ESTALE;
	r->body = r->shared->text;
	r->len = r->shared->len;
	return 0;
}

static void rendered_release(struct rendered *r)
{
	if (r->shared)
		shelf_put(r->shared);
	r->shared = NULL;
}

/* Is n a view (expiring/, expired/), whose members change with the clock? */
static bool is_view(const struct tree_node *n)
{
	return n->kind == TREE_EXPIRING || n->kind == TREE_EXPIRED;
}

/*
 * Attributes of n.  A dynamic file's size is the length of its body now;
 * its mtime is when that body last changed, and the kernel asks again
 * before it next changes (a new mtime drops what the page cache holds).
 */
static int node_attr(struct fs *fs, const struct snapshot *s, const struct tree_node *n,
		     struct stat *st, double *attr_timeout)
{
	struct tree_clock clk = clock_now(fs);
	struct timespec until;
	struct rendered r;
	int rc;

	tree_stat(s, n, &fs->owner, fs->mount_time, st);
	if (is_view(n)) {
		/* Its listing is kept too: the mtime says when the members last changed. */
		if (tree_view_span(s, &clk, n, &st->st_mtim, &until) &&
		    seconds_before(until, clk.now) < *attr_timeout)
			*attr_timeout = seconds_before(until, clk.now);
		st->st_ctim = st->st_mtim;
		return 0;
	}
	if (!tree_is_dynamic(n))
		return 0;
	rc = render(fs, s, n, &r);
	if (rc)
		return rc;
	st->st_size = (off_t)r.len;
	st->st_blocks = (blkcnt_t)((r.len + 511) / 512);
	rendered_release(&r);
	if (n->kind == TREE_TOKEN_CLOCK) {
		if (tree_clock_span(n, &clk, &st->st_mtim, &until) &&
		    seconds_before(until, clk.now) < *attr_timeout)
			*attr_timeout = seconds_before(until, clk.now);
	} else if (fixed_report(n)) {
		st->st_mtim = clk.now;
		*attr_timeout = 0;
	} else {
		/* An edition never changes: its mtime is when it was rendered. */
		st->st_mtim = r.at;
		*attr_timeout = FIXED_ENTRY_TIMEOUT;
	}
	st->st_ctim = st->st_mtim;
	return 0;
}

/*
 * The entry the kernel is given for child of dir, answered from s.  Root
 * folders and reports never change identity; members of a view come and
 * go with the clock; the rest last as long as s is served.
 */
static int fill_entry(struct fs *fs, const struct snapshot *s, const struct tree_node *dir,
		      const struct tree_node *child, double valid_for, struct fuse_entry_param *e)
{
	memset(e, 0, sizeof(*e));
	e->ino = child->ino;
	e->generation = 1;
	e->attr_timeout = valid_for;
	e->entry_timeout = valid_for;
	if (dir->kind == TREE_ROOT && tree_is_dir(child) && child->kind != TREE_ROOT)
		e->entry_timeout = FIXED_ENTRY_TIMEOUT;
	else if (is_view(dir) || always_readable(child))
		e->entry_timeout = 0; /* members change with the clock; reports, each look */
	return node_attr(fs, s, child, &e->attr, &e->attr_timeout);
}

/* The kernel forgot nlookup lookups of ino: of an edition or a version. */
static void forget_ino(struct fs *fs, uint64_t ino, uint64_t nlookup)
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
		forget_ino(fs, e->ino, 1);
		fuse_reply_err(req, ENOMEM);
		return;
	}
	if (fuse_reply_entry(req, e) != 0)
		forget_ino(fs, e->ino, 1);
}

static void fs_lookup(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	struct fs *fs = fs_of(req);
	struct tree_clock clk = clock_now(fs);
	struct fuse_entry_param e;
	struct tree_node dir, child;
	enum tree_found found;
	struct snapshot *s;
	double valid;
	struct err err;
	int rc;

	rc = resolve(req, parent, &s, &valid, &dir);
	if (rc) {
		fuse_reply_err(req, rc);
		return;
	}
	found = tree_lookup(s, &clk, &dir, name, &child);
	if (found == TREE_FOUND && child.kind == TREE_LIST) {
		/* tokens.json's number is its version: the root's lookup of it fetches. */
		snap_unref(s);
		err_clear(&err);
		s = cache_get(fs->cache, &valid, &err);
		if (!s) {
			fuse_reply_err(req, fs_errno(err.kind));
			return;
		}
		tree_lookup(s, &clk, &dir, name, &child);
	}
	if (found == TREE_FOUND && always_readable(&child)) {
		/* A report is given as an edition of its own, rendered now. */
		child.ino = edition_new(fs, s, &child);
		if (!child.ino) {
			fuse_reply_err(req, ENOMEM);
			snap_unref(s);
			return;
		}
	}
	if (found == TREE_ABSENT && is_view(&dir)) {
		/* View membership changes with the clock: no negative caching. */
		fuse_reply_err(req, ENOENT);
	} else if (found == TREE_ABSENT) {
		/* A negative entry, cached no longer than the snapshot is served. */
		memset(&e, 0, sizeof(e));
		e.entry_timeout = valid;
		fuse_reply_entry(req, &e);
	} else if (found == TREE_NOT_DIR) {
		fuse_reply_err(req, ENOTDIR);
	} else if ((rc = fill_entry(fs, s, &dir, &child, valid, &e)) != 0) {
		if (always_readable(&child))
			forget_ino(fs, child.ino, 1);
		fuse_reply_err(req, rc);
	} else {
		reply_entry(req, s, &e);
	}
	snap_unref(s);
}

static void fs_forget(fuse_req_t req, fuse_ino_t ino, uint64_t nlookup)
{
	forget_ino(fs_of(req), ino, nlookup);
	fuse_reply_none(req);
}

static void fs_forget_multi(fuse_req_t req, size_t count, struct fuse_forget_data *forgets)
{
	struct fs *fs = fs_of(req);

	for (size_t i = 0; i < count; i++)
		forget_ino(fs, forgets[i].ino, forgets[i].nlookup);
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

	(void)fi;
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

/*
 * Opens are the kernel's: the first one is answered ENOSYS, and from then
 * on the kernel opens files by itself.  A kernel that cannot gets an open
 * with the page cache kept and no handle: reads are answered by inode.
 */
static void fs_open(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	(void)ino;
	if (atomic_load(&fs_of(req)->no_open)) {
		fuse_reply_err(req, ENOSYS);
		return;
	}
	if ((fi->flags & O_ACCMODE) != O_RDONLY || (fi->flags & O_TRUNC)) {
		fuse_reply_err(req, EROFS);
		return;
	}
	fi->fh = 0;
	fi->keep_cache = 1;
	fuse_reply_open(req, fi);
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
 * A read: of the file version ino names, from the current snapshot or the
 * one that holds that version, without fetching (the kernel asks for the
 * attributes, and so causes any refresh that is due, before it reads).
 */
static void fs_read(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
		    struct fuse_file_info *fi)
{
	struct fs *fs = fs_of(req);
	struct snapshot *s = cache_peek(fs->cache, NULL);
	struct rendered r = { .shared = NULL };
	struct tree_node n;
	int rc;

	(void)fi;
	if (tree_node(NULL, ino, &n) && always_readable(&n)) {
		rc = 0;
	} else {
		rc = node_in(fs, &s, ino, &n);
	}
	if (rc) {
		fuse_reply_err(req, rc);
	} else if (tree_is_dynamic(&n) && (rc = render(fs, s, &n, &r)) != 0) {
		fuse_reply_err(req, rc);
	} else if (tree_is_dynamic(&n)) {
		reply_slice(req, r.body, r.len, size, off);
		/*
		 * A report says what was so when it was read; then it starts a
		 * due fetch in the background, so that a scraper that is the
		 * mount's only reader sees the list follow the server, a scrape
		 * behind.
		 */
		if (always_readable(&n) && off == 0)
			cache_kick(fs->cache);
	} else {
		reply_body(req, s, &n, size, off);
	}
	/*
	 * A walk that listed a token's folder and reads one of its files reads
	 * the others next, and then those of the next tokens listed: have their
	 * bodies in the page cache by then, not a round trip each.
	 */
	if (rc == 0 && off == 0 && (n.kind == TREE_TOKEN_FILE || n.kind == TREE_TOKEN_CLOCK))
		prefetch_read(fs->prefetch, s, n.tok);
	rendered_release(&r);
	snap_unref(s);
}

/* As fs_open, for folders: the kernel lists them by itself where it can. */
static void fs_opendir(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct fs *fs = fs_of(req);
	struct tree_node n;

	if (atomic_load(&fs->no_opendir)) {
		fuse_reply_err(req, ENOSYS);
		return;
	}
	if (!tree_node(NULL, ino, &n) || !is_view(&n)) {
		/*
		 * A listing the kernel may keep: one that changes only with a
		 * fetch, which gives the folder a new mtime (see fs_init_conn).
		 * The views change with the clock.
		 */
		fi->cache_readdir = atomic_load(&fs->cache_dirs);
		fi->keep_cache = fi->cache_readdir;
	}
	fi->fh = 0;
	fuse_reply_open(req, fi);
}

/*
 * Add one entry to a listing in buf (used of size bytes so far) at position
 * next; plus: with attributes, for the kernel to keep (and a lookup it
 * holds, counted by held_add once the entry fits).  Returns the bytes it
 * takes, more than size - used when it did not fit, or 0 on failure.
 */
static size_t add_entry(fuse_req_t req, struct snapshot *s, const struct tree_node *dir,
			const char *name, const struct tree_node *child, double valid, int plus,
			char *buf, size_t size, size_t used, off_t next)
{
	struct fs *fs = fs_of(req);
	struct fuse_entry_param e;
	size_t need;

	if (!plus || always_readable(child) || (child->kind == TREE_LIST && !s)) {
		/*
		 * A name without attributes: a report is looked up as an edition
		 * of its own, and tokens.json has no number before a fetch.
		 */
		memset(&e, 0, sizeof(e));
		tree_stat(s, child, &fs->owner, fs->mount_time, &e.attr);
		if (!plus)
			return fuse_add_direntry(req, buf + used, size - used, name, &e.attr, next);
		return fuse_add_direntry_plus(req, buf + used, size - used, name, &e, next);
	}
	if (fill_entry(fs, s, dir, child, valid, &e) != 0)
		return 0;
	if (strcmp(name, ".") == 0 || strcmp(name, "..") == 0) {
		/* The kernel takes no lookup of these. */
		return fuse_add_direntry_plus(req, buf + used, size - used, name, &e, next);
	}
	need = fuse_add_direntry_plus(req, buf + used, size - used, name, &e, next);
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
 * off on (tree_cursor_next); returns the bytes used.
 */
static size_t list_from(fuse_req_t req, struct snapshot *s, const struct tree_node *dir,
			double valid, uint64_t off, int plus, char *buf, size_t size)
{
	struct tree_clock clk = clock_now(fs_of(req));
	char namebuf[TREE_NAME_BUF];
	struct tree_cursor cur;
	struct tree_node child;
	const char *name;
	size_t used = 0, need;
	uint64_t next;

	tree_cursor_open(&cur, s, &clk, dir, off);
	while (tree_cursor_next(&cur, namebuf, &name, &child, &next)) {
		need = add_entry(req, s, dir, name, &child, valid, plus, buf, size, used,
				 (off_t)next);
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
	rc = resolve_dir(req, ino, &s, &valid, &dir);
	if (rc) {
		fuse_reply_err(req, rc);
		free(buf);
		return;
	}
	if (!tree_cursor_in(s, &dir, pos)) {
		struct resume r = { dir, pos };
		struct snapshot *t = cache_find(fs->cache, resumes_in, &r, &v);

		if (t) {
			snap_unref(s);
			s = t;
			valid = v;
		}
	}
	used = list_from(req, s, &dir, valid, pos, plus, buf, size);
	/* The kernel now holds the inodes of the token's files: see fs_read. */
	if (plus && used > 0 && dir.kind == TREE_TOKEN_DIR)
		prefetch_listed(fs->prefetch, s, dir.tok, clock_now(fs).now);
	fuse_reply_buf(req, buf, used);
	free(buf);
	snap_unref(s);
}

static void fs_readdir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
		       struct fuse_file_info *fi)
{
	(void)fi;
	list_dir(req, ino, size, off, 0);
}

static void fs_readdirplus(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
			   struct fuse_file_info *fi)
{
	(void)fi;
	list_dir(req, ino, size, off, 1);
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
	(void)ino;
	fuse_reply_err(req, (mask & W_OK) ? EROFS : 0);
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
	if (ctx->uid != 0 && ctx->uid != fs->mounter) {
		fuse_reply_err(req, EACCES);
		return;
	}
	err_clear(&e);
	if (cache_refresh(fs->cache, &e) != ERR_OK) {
		fuse_reply_err(req, fs_errno(e.kind));
		return;
	}
	/* Once this returns, nothing the kernel shows predates the fetch. */
	inval_wait(fs->inval);
	fuse_reply_ioctl(req, 0, NULL, 0);
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
