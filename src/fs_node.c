/*
 * fs_node.c - what the kernel is told of one node: its attributes, its
 * body, and how long it may keep them (fs_keep), new/'s nodes included, and
 * the errno of a failure; see fs_impl.h.  It needs nothing of the other
 * fs*.c files.
 *
 * Kernel caching lasts only as long as a snapshot may be served, so that
 * the first access after the TTL reaches the cache and refreshes it; what
 * changes with the clock (days_left, expired, the views' members) expires
 * from the kernel's cache just before it changes.
 */
#include "fs_impl.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "held.h"
#include "minted.h"
#include "report.h"
#include "timestamp.h"

/*
 * How long before a clock file's body changes the kernel must ask for it
 * again: more than the kernel's rounding of timeouts (a few ms).
 */
#define CLOCK_MARGIN 0.05

/* Identities of the root's folders and reports never change, so the kernel may keep them. */
#define FIXED_ENTRY_TIMEOUT 86400.0

/* Seconds from now until t, less the margin; never negative. */
static double seconds_before(struct timespec t, struct timespec now)
{
	double left = ts_seconds(now, t) - CLOCK_MARGIN;

	return left > 0 ? left : 0;
}

struct tree_clock fs_clock(const struct fs *fs)
{
	struct tree_clock clk = { .expiring_days = fs->cfg.expiring_days };

	clock_gettime(CLOCK_REALTIME, &clk.now);
	return clk;
}

bool fs_is_report(const struct tree_node *n)
{
	return n->kind == TREE_STATUS || n->kind == TREE_METRICS;
}

/* Is n one of the fixed numbers of status and metrics.prom (plain listings only)? */
static bool fixed_report(const struct tree_node *n)
{
	return n->ino == TREE_INO_STATUS || n->ino == TREE_INO_METRICS;
}

struct fs_keep fs_keep(const struct fs *fs, const struct tree_node *n, double valid,
		       const struct timespec *until, struct timespec now)
{
	struct fs_keep k = { .entry = valid, .attr = valid, .absent = valid, .contents = true };

	if (until && seconds_before(*until, now) < k.attr)
		k.attr = seconds_before(*until, now);
	/* A listing changes only with a fetch, which gives its folder a new mtime. */
	if (tree_is_dir(n))
		k.contents = atomic_load(&fs->cache_dirs);
	switch (n->kind) {
	case TREE_ROOT:
		/* It carries the time of the last fetch: the kernel asks each time. */
		k.attr = 0;
		break;
	case TREE_EXPIRING:
	case TREE_EXPIRED:
		/* Members come and go with the clock: no absence is kept, nor the listing. */
		k.absent = -1;
		k.contents = false;
		/* fall through */
	case TREE_TOKENS:
	case TREE_BYNAME:
		/* The root's folders never change identity. */
		k.entry = FIXED_ENTRY_TIMEOUT;
		break;
	case TREE_TOKEN_LINK:
		/* In a view, a member only for as long as the clock says. */
		if (n->view != TREE_BYNAME)
			k.entry = 0;
		break;
	case TREE_NEW:
		/*
		 * Its folders come and go with mkdir and rm: the listing is
		 * checked against its mtime each time, no absence is kept.
		 */
		k.entry = FIXED_ENTRY_TIMEOUT;
		k.attr = 0;
		k.absent = -1;
		break;
	case TREE_MINT_DIR:
	case TREE_MINT_FILE:
	case TREE_MINT_LINK:
		/* Never kept: the kernel asks each time (see fs_mint.c). */
		k.entry = k.attr = 0;
		k.absent = -1;
		k.contents = false;
		break;
	case TREE_STATUS:
	case TREE_METRICS:
		/*
		 * Each lookup gets an edition of its own, which never changes;
		 * the fixed number is rendered anew at each read.
		 */
		k.entry = 0;
		k.attr = fixed_report(n) ? 0 : FIXED_ENTRY_TIMEOUT;
		break;
	default:
		break;
	}
	return k;
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
		.url = fs->cfg.url,
		.cache_ttl = fs->cfg.cache_ttl,
		.expiring_days = fs->cfg.expiring_days,
		.now = fs_clock(fs).now,
		.requests = fs->cfg.requests ? fs->cfg.requests(fs->cfg.requests_arg) : 0,
	};
	held_counts(fs->held, &job.info.versions_held, &job.info.lists_kept);
	if (fs->cfg.manage) {
		struct manage_counts mc = manage_counts(fs->cfg.manage);

		job.info.creates_ok = mc.creates_ok;
		job.info.creates_failed = mc.creates_failed;
		job.info.deletes_ok = mc.deletes_ok;
		job.info.deletes_failed = mc.deletes_failed;
	}
	cache_stats(fs->cfg.cache, &job.info.stats);
	key[0] = s ? s->serial : 0;
	key[1] = (uint64_t)job.info.now.tv_sec;
	/* Every fetch, create and delete counts: a count changed is a new text. */
	key[2] = (job.info.stats.fetches_ok + job.info.stats.fetches_failed + job.info.creates_ok +
		  job.info.creates_failed + job.info.deletes_ok + job.info.deletes_failed) << 1 |
		 job.info.stats.fetching;
	return shelf_get(&fs->reports[n->kind == TREE_STATUS], key, render_report, &job);
}

static uint64_t edition_number(uint64_t version, void *kind)
{
	return tree_report_ino(*(enum tree_kind *)kind, version);
}

uint64_t fs_edition_new(struct fs *fs, const struct snapshot *s, const struct tree_node *n)
{
	struct shelf_text *t = report_now(fs, s, n);
	enum tree_kind kind = n->kind;

	if (!t)
		return 0;
	return editions_add(&fs->editions, t, fs_clock(fs).now, edition_number, &kind);
}

int fs_body(struct fs *fs, const struct snapshot *s, const struct tree_node *n, uint64_t off,
	    struct fs_body *b)
{
	struct tree_clock clk = fs_clock(fs);

	memset(b, 0, sizeof(*b));
	b->at = clk.now;
	if (n->kind == TREE_TOKEN_CLOCK) {
		b->len = tree_clock_body(n, &clk, b->clock, sizeof(b->clock));
		b->p = b->clock;
		return 0;
	}
	if (fs_is_report(n)) {
		/* An edition is its text as the kernel was given it. */
		if (fixed_report(n))
			b->shared = report_now(fs, s, n);
		else
			b->shared = editions_find(&fs->editions, n->ino, &b->at);
		if (!b->shared)
			return fixed_report(n) ? ENOMEM : ESTALE;
		b->p = b->shared->text;
		b->len = b->shared->len;
		return 0;
	}
	/* A snapshot's file: token.json is rendered only if read within. */
	b->len = tree_body_len(s, n);
	if (off >= b->len) {
		b->p = "";
		return 0;
	}
	b->p = tree_body(s, n, &b->len, &b->scratch, &b->scratch_cap);
	return 0;
}

void fs_reply_slice(fuse_req_t req, const char *body, size_t len, size_t size, off_t off)
{
	if (!body)
		fuse_reply_err(req, EIO);
	else if (off < 0 || (size_t)off >= len)
		fuse_reply_buf(req, NULL, 0);
	else
		fuse_reply_buf(req, body + off, len - (size_t)off < size ? len - (size_t)off : size);
}

void fs_body_release(struct fs_body *b)
{
	if (b->shared)
		shelf_put(b->shared);
	free(b->scratch);
	b->shared = NULL;
	b->scratch = NULL;
}

int fs_attr(struct fs *fs, const struct snapshot *s, const struct tree_node *n, double valid,
	    struct stat *st, struct fs_keep *keep)
{
	struct tree_clock clk = fs_clock(fs);
	struct timespec until;
	bool changes = false;
	struct fs_body b;
	int rc;

	if (fs_is_mint(n)) {
		*keep = fs_keep(fs, n, valid, NULL, clk.now);
		return fs_mint_attr(fs, n, st);
	}
	tree_stat(s, n, &fs->cfg.owner, fs->mount_time, st);
	if (n->kind == TREE_EXPIRING || n->kind == TREE_EXPIRED) {
		/* Its listing: the mtime says when the members last changed. */
		changes = tree_view_span(s, &clk, n, &st->st_mtim, &until);
		st->st_ctim = st->st_mtim;
	} else if (tree_is_dynamic(n)) {
		/*
		 * Its size is that of its body now, its mtime when that body
		 * last changed (a new mtime drops what the page cache holds):
		 * a clock file's span, a report's rendering.
		 */
		rc = fs_body(fs, s, n, 0, &b);
		fs_body_release(&b);
		if (rc)
			return rc;
		st->st_size = (off_t)b.len;
		st->st_blocks = (blkcnt_t)((b.len + 511) / 512);
		if (n->kind == TREE_TOKEN_CLOCK)
			changes = tree_clock_span(n, &clk, &st->st_mtim, &until);
		else
			st->st_mtim = b.at;
		st->st_ctim = st->st_mtim;
	}
	*keep = fs_keep(fs, n, valid, changes ? &until : NULL, clk.now);
	return 0;
}

int fs_entry(struct fs *fs, const struct snapshot *s, const struct tree_node *n, double valid,
	     struct fuse_entry_param *e)
{
	struct fs_keep keep = { .entry = 0 };
	int rc;

	memset(e, 0, sizeof(*e));
	e->ino = n->ino;
	e->generation = 1;
	rc = fs_attr(fs, s, n, valid, &e->attr, &keep);
	e->entry_timeout = keep.entry;
	e->attr_timeout = keep.attr;
	return rc;
}

int fs_errno(enum err_kind kind)
{
	switch (kind) {
	case ERR_OK:          return 0;
	case ERR_AUTH:        return EACCES;
	case ERR_TIMEOUT:     return ETIMEDOUT;
	case ERR_REFUSED:     return ECONNREFUSED;
	case ERR_UNREACHABLE: return EHOSTUNREACH;
	case ERR_NOMEM:       return ENOMEM;
	case ERR_INVALID:     return EINVAL;
	case ERR_NOT_FOUND:   return ENOENT;
	case ERR_NET:
	case ERR_TLS:
	case ERR_HTTP:
	case ERR_PROTO:
	case ERR_TOOBIG:
	case ERR_CONFIG:      return EIO;
	}
	return EIO;
}

bool fs_is_mint(const struct tree_node *n)
{
	return n->kind == TREE_NEW || n->kind == TREE_MINT_DIR || n->kind == TREE_MINT_FILE ||
	       n->kind == TREE_MINT_LINK;
}

/* The body of id or token of folder f: "<ID>\n", "../../tokens/<ID>". */
size_t fs_mint_text(const struct minted_info *f, enum tree_mint_part part, char *buf,
			size_t cap)
{
	int len = part == TREE_MINT_ID ? snprintf(buf, cap, "%" PRId64 "\n", f->id) :
		  snprintf(buf, cap, "../../tokens/%" PRId64, f->id);

	return len > 0 && (size_t)len < cap ? (size_t)len : 0;
}

/* Does part exist in folder f?  A token link needs the ID. */
bool fs_mint_has(const struct minted_info *f, enum tree_mint_part part)
{
	return (part != TREE_MINT_ID && part != TREE_MINT_TOKEN) || f->id != MINTED_NO_ID;
}

int fs_mint_attr(struct fs *fs, const struct tree_node *n, struct stat *st)
{
	struct minted_info f;
	char text[64];

	tree_stat(NULL, n, &fs->cfg.owner, fs->mount_time, st);
	if (n->kind == TREE_NEW) {
		if (fs->cfg.minted)
			st->st_mtim = st->st_ctim = minted_changed(fs->cfg.minted, fs->mount_time);
		return 0;
	}
	if (!fs->cfg.minted || !minted_get(fs->cfg.minted, n->seq, &f) || !fs_mint_has(&f, n->part))
		return ENOENT;
	st->st_mtim = st->st_ctim = st->st_atim = f.created;
	switch (n->part) {
	case TREE_MINT_FOLDER:
		st->st_mode = S_IFDIR | 0700;
		break;
	case TREE_MINT_SECRET:
		/* The mounting user's alone; fs_mint_open checks who asks too. */
		st->st_mode = S_IFREG | 0400;
		st->st_size = (off_t)f.secret_len + 1;
		break;
	case TREE_MINT_ID:
		st->st_mode = S_IFREG | (0444 & ~fs->cfg.owner.umask);
		st->st_size = (off_t)fs_mint_text(&f, n->part, text, sizeof(text));
		break;
	case TREE_MINT_TOKEN:
		st->st_mode = S_IFLNK | 0777;
		st->st_size = (off_t)fs_mint_text(&f, n->part, text, sizeof(text));
		break;
	}
	st->st_blocks = (st->st_size + 511) / 512;
	return 0;
}
