/*
 * fuzz_list.c - fuzz harness for the data path behind every mount:
 * response body -> pat_parse (tests/common/pat_list.c, over pat_each in
 * src/pat.c), and snap_parse (src/snapshot.c) -> the tree (src/tree.c).
 *
 * The input is a response body.  When it parses, the whole tree is walked
 * the way the kernel would: every folder listed with tree_dir_entry, every
 * entry looked up again by name, every inode number resolved back with
 * tree_node, every file read and stat'ed.  Properties: parse results are
 * sorted, unique and account for every array element; entry names are
 * valid Linux names; lookup agrees with the listing; inode numbers are
 * unique and round-trip; st_size equals the body's length; every body is
 * its value plus one newline and says what the token says (tokens.json:
 * the body with its trailing whitespace replaced by one newline); each
 * token has exactly one by-name entry, which decodes back to its name and
 * links to its folder; the members of expiring/ and expired/ at a fixed
 * moment are exactly the tokens they should be, under the same names, and
 * days_left, expired and expiry_epoch say exactly what they should: an
 * oracle here reads each Expiry text on its own (expect_of) and decides;
 * token.json parses back to the same token.  No token is dropped for a
 * field it cannot read: every object with a usable ID is listed, a field
 * is flagged exactly when it does not read, keeps its raw text, and the
 * files derived from an unreadable Expiry say "unknown".
 *
 * pat_parse reads the array one element at a time; one cJSON parse of the
 * whole body is the oracle: the body is accepted or refused alike, in the
 * same words and at the same byte, every element is accounted for, and
 * token.json is what cJSON prints for the token.  Read by two threads,
 * cut at any place, right or wrong, the body gives what one reading gives.
 *
 * Versions: the tree is walked with a gen per token and a list version
 * taken from the input; every file's inode number carries its token's gen
 * and no other gen of it resolves; the same body parsed again and numbered
 * from the first (snap_parse's prev) keeps every gen and the list version, and
 * tree_diff finds nothing to drop.
 */
#include <math.h>
#include <cJSON.h>
#include <errno.h>
#include <stdio.h>
#include <inttypes.h>
#include <stdbool.h>
#include <string.h>

#include "escape.h"
#include "fuzz.h"
#include "pat.h"
#include "pat_list.h"
#include "snapshot.h"
#include "timestamp.h"
#include "tree.h"
#include "tree_diff.h"

static const struct timespec fetched = { 1764300000, 123456789 };
static const struct tree_owner owner = { .uid = 1000, .gid = 1000, .umask = 022 };
/* The moment the clock files and views are judged at: 2025-11-28T03:20:00Z. */
static const struct tree_clock clk = { { 1764300000, 0 }, 7 };

/* What one run has seen so far. */
struct walk {
	const struct snapshot *s;
	const struct pat_list *l;
	unsigned char *linked;  /* per token: by-name entries seen */
	char *scratch;          /* for tree_body */
	size_t scratch_cap;
	size_t in_views;        /* links met in expiring/ and expired/ */
	uint64_t *inos;         /* every inode number met */
	size_t ninos, cap;
};

static bool same_node(const struct tree_node *a, const struct tree_node *b)
{
	return a->ino == b->ino && a->kind == b->kind && a->tok == b->tok &&
	       (a->kind != TREE_TOKEN_FILE || a->file == b->file) &&
	       (a->kind != TREE_TOKEN_CLOCK || a->clock == b->clock) &&
	       (a->kind != TREE_TOKEN_LINK || a->view == b->view);
}

static bool same_time(struct timespec a, struct timespec b)
{
	return a.tv_sec == b.tv_sec && a.tv_nsec == b.tv_nsec;
}

/* A name Linux accepts in a folder listing. */
static void check_entry_name(const char *name)
{
	size_t n = strlen(name);

	FUZZ_CHECK(n >= 1 && n <= ESC_NAME_MAX);
	FUZZ_CHECK(strchr(name, '/') == NULL);
	FUZZ_CHECK(strcmp(name, ".") != 0 && strcmp(name, "..") != 0);
}

/* Does the file body b (len bytes) hold exactly text plus one newline? */
static bool body_is(const char *b, size_t len, const char *text)
{
	size_t n = strlen(text);

	return len == n + 1 && memcmp(b, text, n) == 0 && b[n] == '\n';
}

/*
 * The oracle for the clock: what the clock files and the views must say,
 * computed here from the token's raw Expiry text, not from the code under
 * test.
 */
struct expect {
	bool known;        /* the Expiry reads */
	long long sec;     /* the expiry instant, Unix seconds ... */
	long nsec;         /* ... and nanoseconds */
	bool expired;      /* at clk: the expiry is now or past */
	long long days;    /* days_left: whole days left, rounded down; -1 at the instant */
	bool expiring;     /* in expiring/: not expired, expiry within expiring_days days */
};

/* Nanoseconds between years 0 and 9999 overflow 64 bits. */
__extension__ typedef __int128 wide;

static int digits(const char *s, int n)
{
	int v = 0;

	for (int i = 0; i < n; i++)
		v = v * 10 + (s[i] - '0');
	return v;
}

/* Leap years in 1..y (negative for y < 0: year 0 is a leap year). */
static long long leaps_through(long long y)
{
	long long q4 = y >= 0 ? y / 4 : -((-y + 3) / 4), q100 = y >= 0 ? y / 100 : -((-y + 99) / 100),
		  q400 = y >= 0 ? y / 400 : -((-y + 399) / 400);

	return q4 - q100 + q400;
}

/* Days from 1970-01-01 to y-m-d in the proleptic Gregorian calendar. */
static long long civil_days(long long y, int m, int d)
{
	static const int before[12] = { 0, 31, 59, 90, 120, 151, 181, 212, 243, 273, 304, 334 };
	long long days = (y - 1970) * 365 + before[m - 1] + (d - 1);

	/* Leap years from 1970 through y - 1, or through y after February. */
	long long ly = m > 2 ? y : y - 1;

	return days + leaps_through(ly) - leaps_through(1969);
}

/*
 * The instant in text, which ts_parse accepted, so its shape is
 * "YYYY-MM-DD?HH:MM:SS[.fraction][Z|+hh:mm|-hh:mm|+hhmm|+hh]": read by
 * position, the way a person reads it.
 */
static void expect_instant(const char *t, long long *sec, long *nsec)
{
	size_t i = 19;
	long scale = 100000000, off = 0;

	*sec = civil_days(digits(t, 4), digits(t + 5, 2), digits(t + 8, 2)) * 86400LL +
	       digits(t + 11, 2) * 3600LL + digits(t + 14, 2) * 60LL + digits(t + 17, 2);
	*nsec = 0;
	if (t[i] == '.' || t[i] == ',') {
		for (i++; t[i] >= '0' && t[i] <= '9'; i++, scale /= 10)
			*nsec += (t[i] - '0') * scale;
	}
	if (t[i] == '+' || t[i] == '-') {
		const char *m = t + i + 3 + (t[i + 3] == ':');

		off = digits(t + i + 1, 2) * 3600L + (*m ? digits(m, 2) * 60L : 0);
		*sec -= t[i] == '-' ? -off : off;
	}
}

/* What token p must look like at the moment clk. */
static struct expect expect_of(const struct pat *p)
{
	const long long day_ns = 86400LL * 1000000000LL;
	struct expect x = { .known = !(p->problems & PAT_EXPIRY) };
	wide left; /* nanoseconds from clk to the expiry */

	if (!x.known)
		return x;
	expect_instant(p->expiry, &x.sec, &x.nsec);
	left = ((wide)x.sec - clk.now.tv_sec) * 1000000000 + (x.nsec - clk.now.tv_nsec);
	x.expired = left <= 0;
	if (left == 0)
		x.days = -1;
	else if (left > 0)
		x.days = (long long)(left / day_ns);
	else
		x.days = -(long long)((-left + day_ns - 1) / day_ns);
	x.expiring = left > 0 && left <= (wide)clk.expiring_days * day_ns;
	return x;
}

/* Render token.json back into a one-element list and parse it again. */
static void check_json_body(const struct pat *p, const char *b, size_t len)
{
	struct pat_list again;
	struct err e;
	char *list = malloc(len + 2), *buf = NULL;
	size_t cap = 0, n;

	FUZZ_CHECK(list != NULL);
	FUZZ_CHECK(memchr(b, '\n', len) == b + len - 1); /* one line */
	list[0] = '[';
	memcpy(list + 1, b, len - 1);
	list[len] = ']';
	FUZZ_CHECK(pat_parse(list, len + 1, &again, &e) == ERR_OK);
	FUZZ_CHECK(again.n == 1 && again.report.skipped == 0);
	FUZZ_CHECK(again.v[0].id == p->id && again.v[0].reminder_state == p->reminder_state);
	FUZZ_CHECK(again.v[0].problems == p->problems);
	FUZZ_CHECK(!p->reminder_raw || strcmp(again.v[0].reminder_raw, p->reminder_raw) == 0);
	FUZZ_CHECK(strcmp(again.v[0].name, p->name) == 0);
	FUZZ_CHECK(strcmp(again.v[0].created_on, p->created_on) == 0);
	FUZZ_CHECK(strcmp(again.v[0].expiry, p->expiry) == 0);
	FUZZ_CHECK(strcmp(again.v[0].user_id, p->user_id) == 0);
	/* Rendering what was parsed back gives the same line. */
	n = pat_render(list + again.v[0].elem_off, again.v[0].elem_len, &buf, &cap);
	FUZZ_CHECK(n == len && memcmp(buf, b, len) == 0);
	free(buf);
	free(list);
	pat_list_free(&again);
}

/* The body of token file n says what the token says. */
static void check_token_file(const struct walk *w, const struct tree_node *n,
			     const char *b, size_t len)
{
	const struct pat *p = &w->l->v[n->tok - w->s->tok];
	char num[32];

	switch (n->file) {
	case SNAP_F_ID:
		snprintf(num, sizeof(num), "%" PRId64, p->id);
		FUZZ_CHECK(body_is(b, len, num));
		break;
	case SNAP_F_NAME:
		FUZZ_CHECK(body_is(b, len, p->name));
		break;
	case SNAP_F_CREATED_ON:
		FUZZ_CHECK(body_is(b, len, p->created_on));
		break;
	case SNAP_F_EXPIRY:
		FUZZ_CHECK(body_is(b, len, p->expiry));
		break;
	case SNAP_F_REMINDER:
		snprintf(num, sizeof(num), "%" PRId64, p->reminder_state);
		FUZZ_CHECK(body_is(b, len, p->problems & PAT_REMINDER ? p->reminder_raw : num));
		break;
	case SNAP_F_USER_ID:
		FUZZ_CHECK(body_is(b, len, p->user_id));
		break;
	case SNAP_F_JSON:
		check_json_body(p, b, len);
		break;
	case SNAP_F_EXPIRY_EPOCH: {
		struct expect x = expect_of(p);

		snprintf(num, sizeof(num), "%lld", x.sec);
		FUZZ_CHECK(body_is(b, len, x.known ? num : "unknown"));
		FUZZ_CHECK(!x.known || (p->expires.tv_sec == x.sec && p->expires.tv_nsec == x.nsec));
		break;
	}
	default:
		FUZZ_CHECK(n->file < SNAP_NFILES); /* always false here */
		break;
	}
}

/* The by-name entry of link n decodes to its token's name and links home. */
static void check_link(struct walk *w, const struct tree_node *n, const char *entry)
{
	size_t idx = (size_t)(n->tok - w->s->tok), dups = 0, elen = strlen(entry);
	const struct pat *p = &w->l->v[idx];
	size_t name_len = strlen(p->name), keep, esc_len, dlen;
	const char *tilde = strchr(entry, '~');
	char target[64], want[64];
	char *esc = malloc(ESC_BUF_SIZE(name_len)), *pre = malloc(elen + 1),
	     *dec = malloc(elen + 1);
	struct tree_node root, tokens, dir;

	FUZZ_CHECK(esc != NULL && pre != NULL && dec != NULL);
	snprintf(want, sizeof(want), "../tokens/%" PRId64, p->id);
	FUZZ_CHECK(tree_readlink(n, target, sizeof(target)) == strlen(want));
	FUZZ_CHECK(strcmp(target, want) == 0);
	FUZZ_CHECK(tree_node(w->s, TREE_INO_ROOT, &root));
	FUZZ_CHECK(tree_lookup(w->s, &clk, &root, "tokens", &tokens) == TREE_FOUND);
	FUZZ_CHECK(tree_lookup(w->s, &clk, &tokens, want + strlen("../tokens/"), &dir) == TREE_FOUND);
	if (n->view != TREE_BYNAME) {
		/* A view's link: the token's by-name entry, judged at clk. */
		bool expired = clk.now.tv_sec > n->tok->expires.tv_sec ||
			       (clk.now.tv_sec == n->tok->expires.tv_sec &&
				clk.now.tv_nsec >= n->tok->expires.tv_nsec);

		FUZZ_CHECK(strcmp(entry, snap_link_name(w->s, n->tok)) == 0);
		FUZZ_CHECK(!(p->problems & PAT_EXPIRY)); /* an unknown expiry is in no view */
		FUZZ_CHECK(expired == (n->view == TREE_EXPIRED));
		w->in_views++;
		goto out;
	}
	w->linked[idx]++;
	FUZZ_CHECK(dir.kind == TREE_TOKEN_DIR && dir.tok == n->tok);

	/* A "~<ID>" suffix exactly when the name is shared, empty or too long. */
	for (size_t i = 0; i < w->l->n; i++)
		dups += strcmp(w->l->v[i].name, p->name) == 0;
	esc_len = esc_name(p->name, name_len, esc);
	FUZZ_CHECK((tilde != NULL) == (dups > 1 || esc_len == 0 || esc_len > ESC_NAME_MAX));
	if (tilde) {
		snprintf(want, sizeof(want), "~%" PRId64, p->id);
		FUZZ_CHECK(strcmp(tilde, want) == 0);
	}
	/* What comes before the suffix decodes to the name, or a prefix of it. */
	keep = tilde ? (size_t)(tilde - entry) : elen;
	memcpy(pre, entry, keep);
	pre[keep] = '\0';
	dlen = esc_unescape(pre, dec);
	FUZZ_CHECK(dlen <= name_len && memcmp(dec, p->name, dlen) == 0);
	/* ... the whole name unless it had to be cut to fit the suffix. */
	FUZZ_CHECK(dlen == name_len || (tilde && esc_len + strlen(tilde) > ESC_NAME_MAX));
out:
	free(esc);
	free(pre);
	free(dec);
}

/*
 * The version in n's inode number: a token's files carry its gen in the
 * top SNAP_GEN_BITS bits and are counted under one key, which s holds;
 * another gen of the same file is not s's; tokens.json is its own key;
 * folders, links and the fixed nodes have no version.
 */
static void check_version(const struct snapshot *s, const struct tree_node *n)
{
	const unsigned shift = 64 - SNAP_GEN_BITS;
	uint64_t key = tree_version_key(n->ino), other;
	struct tree_node back;

	if (n->kind == TREE_TOKEN_FILE || n->kind == TREE_TOKEN_CLOCK) {
		FUZZ_CHECK(n->ino >> shift == n->tok->gen);
		FUZZ_CHECK(key == (n->ino & ~(uint64_t)15) && tree_version_in(s, key));
		other = n->ino ^ ((uint64_t)1 << shift);
		FUZZ_CHECK(!tree_node(s, other, &back));
		FUZZ_CHECK(!tree_version_in(s, tree_version_key(other)));
	} else if (n->kind == TREE_LIST) {
		FUZZ_CHECK(n->ino == tree_list_ino(s) && key == n->ino && tree_version_in(s, key));
	} else {
		FUZZ_CHECK(key == 0 && n->ino >> shift == 0);
	}
}

/*
 * Check node n (met as entry `name`, at `path`) in itself: inode,
 * attributes, body.
 */
static void check_node(struct walk *w, const struct tree_node *n, const char *name,
		       const char *path)
{
	struct tree_node back;
	struct stat st;
	const char *b;
	size_t len = 0;

	fuzz_where = path;
	FUZZ_CHECK(tree_node(w->s, n->ino, &back) && same_node(&back, n));
	check_version(w->s, n);
	if (w->ninos == w->cap) {
		w->cap = w->cap ? 2 * w->cap : 64;
		w->inos = realloc(w->inos, w->cap * sizeof(*w->inos));
		FUZZ_CHECK(w->inos != NULL);
	}
	w->inos[w->ninos++] = n->ino;

	tree_stat(w->s, n, &owner, fetched, &st);
	FUZZ_CHECK(st.st_ino == n->ino && st.st_uid == owner.uid);
	FUZZ_CHECK(same_time(st.st_mtim, n->tok ? n->tok->created : w->s->fetched));
	b = tree_body(w->s, n, &len, &w->scratch, &w->scratch_cap);
	FUZZ_CHECK(tree_body_len(w->s, n) == (b ? len : 0));
	if (tree_is_dir(n)) {
		FUZZ_CHECK(S_ISDIR(st.st_mode) && (st.st_mode & 07777) == 0555);
		FUZZ_CHECK(b == NULL);
	} else if (n->kind == TREE_STATUS || n->kind == TREE_METRICS) {
		/* Rendered by the FUSE layer from more than the snapshot (report.c). */
		FUZZ_CHECK(S_ISREG(st.st_mode) && b == NULL && tree_is_dynamic(n));
	} else if (n->kind == TREE_TOKEN_CLOCK) {
		char cb[32];
		size_t cl = tree_clock_body(n, &clk, cb, sizeof(cb));
		struct expect x = expect_of(&w->l->v[n->tok - w->s->tok]);
		char want[32];

		FUZZ_CHECK(b == NULL && tree_is_dynamic(n));
		if (!x.known)
			snprintf(want, sizeof(want), "unknown");
		else if (n->clock == TREE_CLOCK_EXPIRED)
			snprintf(want, sizeof(want), "%d", x.expired);
		else
			snprintf(want, sizeof(want), "%lld", x.days);
		FUZZ_CHECK(body_is(cb, cl, want));
	} else if (n->kind == TREE_TOKEN_LINK) {
		FUZZ_CHECK(S_ISLNK(st.st_mode) && b == NULL);
		check_link(w, n, name);
		FUZZ_CHECK((size_t)st.st_size == strlen("../tokens/") +
			   (size_t)snprintf(NULL, 0, "%" PRId64, n->tok->id));
	} else {
		FUZZ_CHECK(S_ISREG(st.st_mode) && (st.st_mode & 07777) == 0444);
		FUZZ_CHECK(b != NULL && (size_t)st.st_size == len);
		FUZZ_CHECK(len >= 1 && b[len - 1] == '\n');
		if (n->kind == TREE_LIST)
			FUZZ_CHECK(len == 1 || b[len - 2] != '\n');
		if (n->kind == TREE_TOKEN_FILE)
			check_token_file(w, n, b, len);
	}
}

/*
 * List folder dir (at path; its parent is up), check every entry, and
 * descend.
 */
static void walk_dir(struct walk *w, const struct tree_node *dir, const struct tree_node *up,
		     const char *path);

/*
 * The listing the kernel reads when it opened the folder itself
 * (tree_dir_next): as many entries as the indexed listing, each one found
 * by lookup as the same node, at positions that only grow.
 */
static void check_stateless(struct walk *w, const struct tree_node *dir, size_t want)
{
	char buf[TREE_NAME_BUF];
	struct tree_node child, found;
	const char *name;
	uint64_t pos = 0, last = 0;
	size_t n = 0;

	while (tree_dir_next(w->s, &clk, dir, &pos, buf, &name, &child)) {
		FUZZ_CHECK(pos > last);
		last = pos;
		if (n++ >= 2) {
			FUZZ_CHECK(tree_lookup(w->s, &clk, dir, name, &found) == TREE_FOUND);
			FUZZ_CHECK(same_node(&found, &child));
		}
		FUZZ_CHECK(n <= want);
	}
	FUZZ_CHECK(n == want);
}

/*
 * A view (expiring/ or expired/) at the moment clk: each member resolves by
 * name to the same link, in entry-name order; every token not listed is
 * refused by lookup.
 */
static void walk_view(struct walk *w, const struct tree_node *view, const char *path)
{
	uint32_t *idx = malloc((w->s->n + 1) * sizeof(*idx));
	unsigned char *member = calloc(w->s->n + 1, 1);
	char sub[1024], prev[ESC_NAME_MAX + 1] = "";
	struct tree_node child, found;
	const char *name;
	size_t n;
	int len;

	FUZZ_CHECK(idx != NULL && member != NULL);
	n = tree_view_members(w->s, &clk, view, idx);
	check_stateless(w, view, n + 2);
	for (size_t i = 0; i < n; i++) {
		tree_view_entry(w->s, view, idx[i], &name, &child);
		fuzz_where = path;
		member[idx[i]] = 1;
		check_entry_name(name);
		FUZZ_CHECK(i == 0 || strcmp(prev, name) < 0);
		strcpy(prev, name);
		FUZZ_CHECK(child.kind == TREE_TOKEN_LINK && child.view == view->kind);
		FUZZ_CHECK(tree_lookup(w->s, &clk, view, name, &found) == TREE_FOUND);
		FUZZ_CHECK(same_node(&found, &child));
		len = snprintf(sub, sizeof(sub), "%s/%s", path, name);
		FUZZ_CHECK(len > 0 && (size_t)len < sizeof(sub));
		check_node(w, &child, name, sub);
	}
	/* Exactly the tokens the oracle puts there. */
	for (size_t i = 0; i < w->s->n; i++) {
		struct expect x = expect_of(&w->l->v[i]);

		fuzz_where = snap_link_name(w->s, &w->s->tok[i]);
		FUZZ_CHECK(member[i] == (view->kind == TREE_EXPIRED ? x.known && x.expired
								   : x.known && x.expiring));
	}
	for (size_t i = 0; i < w->s->n; i++) {
		fuzz_where = path;
		if (!member[i])
			FUZZ_CHECK(tree_lookup(w->s, &clk, view,
					       snap_link_name(w->s, &w->s->tok[i]), &found) == TREE_ABSENT);
	}
	free(idx);
	free(member);
}

static void walk_dir(struct walk *w, const struct tree_node *dir, const struct tree_node *up,
		     const char *path)
{
	size_t count = tree_dir_count(w->s, dir);
	char buf[TREE_NAME_BUF], prev[ESC_NAME_MAX + 1] = "", sub[1024];
	int64_t prev_id = -1;
	struct tree_node child, found;
	const char *name;

	FUZZ_CHECK(count >= 2);
	check_stateless(w, dir, count);
	for (size_t i = 0; i < count; i++) {
		fuzz_where = path;
		FUZZ_CHECK(tree_dir_entry(w->s, dir, i, buf, &name, &child));
		if (i < 2) {
			FUZZ_CHECK(strcmp(name, i ? ".." : ".") == 0);
			FUZZ_CHECK(same_node(&child, i ? up : dir));
			continue;
		}
		check_entry_name(name);
		FUZZ_CHECK(tree_lookup(w->s, &clk, dir, name, &found) == TREE_FOUND);
		FUZZ_CHECK(same_node(&found, &child));
		/* Listings are sorted: tokens/ by ID, by-name/ by entry name. */
		if (dir->kind == TREE_TOKENS) {
			FUZZ_CHECK(child.tok->id > prev_id);
			prev_id = child.tok->id;
		} else if (dir->kind == TREE_BYNAME) {
			FUZZ_CHECK(i == 2 || strcmp(prev, name) < 0);
			strcpy(prev, name);
		}
		snprintf(sub, sizeof(sub), "%s%s%s", path, strcmp(path, "/") ? "/" : "", name);
		check_node(w, &child, name, sub);
		if (child.kind == TREE_EXPIRING || child.kind == TREE_EXPIRED)
			walk_view(w, &child, sub);
		else if (tree_is_dir(&child))
			walk_dir(w, &child, dir, sub);
	}
	fuzz_where = path;
	FUZZ_CHECK(!tree_dir_entry(w->s, dir, count, buf, &name, &child));
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return (x > y) - (x < y);
}

/* Does cJSON print every number below item as exact_numbers leaves it? */
static bool plain_numbers(const cJSON *item)
{
	for (const cJSON *c = item->child; c; c = c->next) {
		if ((cJSON_IsArray(c) || cJSON_IsObject(c)) && !plain_numbers(c))
			return false;
		if (cJSON_IsNumber(c) && c->valuedouble != (double)c->valueint &&
		    isfinite(c->valuedouble))
			return false;
	}
	return true;
}

/*
 * A token is never dropped for a field it cannot read: every object of the
 * array whose ID reads (an integer in [0, PAT_ID_MAX]) is in l.
 */
static void check_all_ids_listed(const cJSON *doc, const struct pat_list *l)
{
	const cJSON *it;

	cJSON_ArrayForEach(it, doc) {
		const cJSON *id = cJSON_GetObjectItemCaseSensitive(it, "ID");
		double d = cJSON_IsNumber(id) ? id->valuedouble : -1;
		bool found = false;

		if (!cJSON_IsObject(it) || d != floor(d) || d < 0 || d > (double)PAT_ID_MAX)
			continue;
		for (size_t i = 0; i < l->n && !found; i++)
			found = l->v[i].id == (int64_t)d;
		FUZZ_CHECK(found);
	}
}

/*
 * pat_parse's answer (rc, *e, *l) for body against one cJSON parse of the
 * whole body, the way pat_parse once worked.
 */
static void check_against_cjson(const char *body, size_t size, enum err_kind rc,
				const struct err *e, const struct pat_list *l)
{
	const char *end = NULL;
	cJSON *doc = cJSON_ParseWithLengthOpts(body, size, &end, 0);
	char want[128], *buf = NULL;
	size_t at, cap = 0;

	if (rc == ERR_NOMEM)
		goto out;
	if (!doc) {
		snprintf(want, sizeof(want), "malformed JSON at byte %zu of %zu",
			 end && end >= body ? (size_t)(end - body) : (size_t)0, size);
		FUZZ_CHECK(rc == ERR_PROTO && strcmp(e->msg, want) == 0);
		goto out;
	}
	for (at = (size_t)(end - body); at < size && body[at] && strchr(" \t\r\n", body[at]); at++)
		;
	if (at < size) {
		snprintf(want, sizeof(want), "unexpected data after the JSON value at byte %zu", at);
		FUZZ_CHECK(rc == ERR_PROTO && strcmp(e->msg, want) == 0);
	} else if (!cJSON_IsArray(doc)) {
		FUZZ_CHECK(rc == ERR_PROTO);
		FUZZ_CHECK(strncmp(e->msg, "expected a JSON array of tokens, got ", 37) == 0);
	} else {
		FUZZ_CHECK(rc == ERR_OK);
		FUZZ_CHECK(l->n + l->report.skipped == (size_t)cJSON_GetArraySize(doc));
		check_all_ids_listed(doc, l);
		for (size_t i = 0; i < l->n; i++) {
			const struct pat *p = &l->v[i];
			cJSON *it = cJSON_GetArrayItem(doc, (int)p->index);
			char *printed;
			size_t n;

			FUZZ_CHECK(it != NULL && cJSON_IsObject(it));
			if (!plain_numbers(it))
				continue;
			printed = cJSON_PrintUnformatted(it);
			FUZZ_CHECK(printed != NULL);
			n = pat_render(body + p->elem_off, p->elem_len, &buf, &cap);
			FUZZ_CHECK(n == strlen(printed) + 1 && memcmp(buf, printed, n - 1) == 0);
			cJSON_free(printed);
		}
	}
out:
	free(buf);
	cJSON_Delete(doc);
}

/* Properties of a successful pat_parse alone. */
static void check_list(const struct pat_list *l)
{
	size_t problems = 0;

	for (size_t i = 0; i < l->n; i++) {
		const struct pat *p = &l->v[i];
		struct timespec t;

		FUZZ_CHECK(p->id >= 0 && p->id <= PAT_ID_MAX);
		FUZZ_CHECK(i == 0 || l->v[i - 1].id < p->id);
		FUZZ_CHECK(p->name && p->created_on && p->expiry && p->user_id);
		/* A timestamp is flagged exactly when its text does not read; then it is 0. */
		FUZZ_CHECK(ts_parse(p->created_on, &t) == !(p->problems & PAT_CREATED_ON));
		FUZZ_CHECK(same_time(p->problems & PAT_CREATED_ON ? (struct timespec){ 0, 0 } : t,
				     p->created));
		FUZZ_CHECK(ts_parse(p->expiry, &t) == !(p->problems & PAT_EXPIRY));
		FUZZ_CHECK(same_time(p->problems & PAT_EXPIRY ? (struct timespec){ 0, 0 } : t,
				     p->expires));
		FUZZ_CHECK(p->reminder_state >= INT32_MIN && p->reminder_state <= INT32_MAX);
		FUZZ_CHECK(!(p->problems & PAT_REMINDER) == !p->reminder_raw);
		FUZZ_CHECK(!(p->problems & PAT_REMINDER) || p->reminder_state == 0);
		FUZZ_CHECK(p->problems < (1u << PAT_NFIELDS));
		problems += p->problems != 0;
	}
	/* The report counts them too, not the repeats of their IDs it dropped. */
	FUZZ_CHECK(l->report.problems == problems);
}

/* Walk the whole tree of snapshot s, built from list l and body data. */
static void check_snapshot(const struct snapshot *s, const struct pat_list *l,
			   const uint8_t *data, size_t size)
{
	struct walk w = { .s = s, .l = l };
	struct tree_node root, n;
	size_t len;
	const char *b;

	size_t problems = 0;

	FUZZ_CHECK(s->n == l->n);
	for (size_t i = 0; i < s->n; i++) {
		FUZZ_CHECK(s->tok[i].id == l->v[i].id && s->tok[i].problems == l->v[i].problems);
		problems += l->v[i].problems != 0;
	}
	FUZZ_CHECK(s->problems == problems);
	w.linked = calloc(s->n + 1, 1);
	FUZZ_CHECK(w.linked != NULL);
	FUZZ_CHECK(tree_node(s, TREE_INO_ROOT, &root) && root.kind == TREE_ROOT);
	check_node(&w, &root, "", "/");
	walk_dir(&w, &root, &root, "/");

	/* tokens.json is the body as fetched, trailing whitespace replaced by one newline. */
	fuzz_where = NULL;
	FUZZ_CHECK(tree_node(s, tree_list_ino(s), &n) && n.kind == TREE_LIST);
	b = tree_body(s, &n, &len, &w.scratch, &w.scratch_cap);
	{
		size_t keep = size;

		while (keep > 0 && strchr(" \t\r\n", data[keep - 1]) && data[keep - 1])
			keep--;
		FUZZ_CHECK(b && len == keep + 1 && memcmp(b, data, keep) == 0 && b[keep] == '\n');
	}

	for (size_t i = 0; i < s->n; i++) {
		uint64_t base = (uint64_t)(s->tok[i].id + 1) << 4;

		FUZZ_CHECK(w.linked[i] == 1);
		/* Slots 11 and 12 name none of its nodes (11: the root's versioned files, 12: new/'s). */
		FUZZ_CHECK(!tree_node(s, base | 11, &n) ||
			   (!n.tok && (n.kind == TREE_LIST || n.kind == TREE_STATUS ||
				       n.kind == TREE_METRICS)));
		FUZZ_CHECK(!tree_node(s, base | 12, &n) ||
			   (!n.tok && n.kind >= TREE_MINT_DIR && n.kind <= TREE_MINT_LINK));
		for (unsigned slot = 13; slot < 16; slot++)
			FUZZ_CHECK(tree_node(s, base | slot, &n) && n.kind == TREE_TOKEN_LINK);
	}
	/*
	 * The root and its 8 entries + per token: folder, its files and clock
	 * files, by-name link + the links in the views.
	 */
	FUZZ_CHECK(w.ninos == 9 + s->n * (SNAP_NFILES + TREE_NCLOCK + 2) + w.in_views);
	qsort(w.inos, w.ninos, sizeof(*w.inos), cmp_u64);
	for (size_t i = 1; i < w.ninos; i++)
		FUZZ_CHECK(w.inos[i - 1] < w.inos[i]);
	/* The fixed nodes; tokens.json's placeholder number never resolves. */
	for (uint64_t ino = 0; ino < 16; ino++)
		FUZZ_CHECK(tree_node(s, ino, &n) ==
			   (ino >= 1 && ino <= TREE_INO_NEW && ino != TREE_INO_LIST));
	free(w.inos);
	free(w.linked);
	free(w.scratch);
}

/* What tree_diff reported: entries, and nodes whose content changed. */
struct diff_count {
	size_t entries, changed;
};

static void count_node(void *ctx, uint64_t ino, bool content)
{
	((struct diff_count *)ctx)->changed += content;
}

static void count_entry(void *ctx, uint64_t parent, const char *name, size_t len)
{
	((struct diff_count *)ctx)->entries++;
}

/*
 * Versions for s as if it had been refreshed many times: a gen per token
 * and a list version, taken from the input, so that the walk meets every
 * bit of the inode layout.
 */
static void number_versions(struct snapshot *s, const uint8_t *data, size_t size)
{
	for (size_t i = 0; i < s->n; i++)
		s->tok[i].gen = (uint8_t)((data[i % size] + i) & ((1u << SNAP_GEN_BITS) - 1));
	s->list_ver = 1 + size % 251;
}

/*
 * The same body fetched again, numbered from s (snap_parse), keeps every
 * version: nothing for the kernel to drop.
 */
static void check_carry_same(const struct snapshot *s, const uint8_t *data, size_t size)
{
	static const struct tree_diff_ops ops = { count_node, count_entry };
	struct diff_count d = { 0, 0 };
	char *body = malloc(size ? size : 1);
	struct snapshot *again;
	struct tree_node n;
	struct pat_report r;
	struct err e;

	fuzz_where = "snap_parse from prev";
	FUZZ_CHECK(body != NULL);
	memcpy(body, data, size);
	again = snap_parse(body, size, fetched, s, &r, &e); /* takes body */
	if (!again) {
		FUZZ_CHECK(e.kind == ERR_NOMEM);
		return;
	}
	FUZZ_CHECK(again->n == s->n && again->list_ver == s->list_ver);
	FUZZ_CHECK(again->serial == s->serial + 1);
	for (size_t i = 0; i < s->n; i++)
		FUZZ_CHECK(again->tok[i].id == s->tok[i].id && again->tok[i].gen == s->tok[i].gen);
	tree_diff(s, again, &ops, &d);
	FUZZ_CHECK(d.entries == 0 && d.changed == 0);
	/* Another version of the list: a number of its own, which s does not resolve. */
	again->list_ver++;
	FUZZ_CHECK(tree_list_ino(again) != tree_list_ino(s));
	FUZZ_CHECK(!tree_node(s, tree_list_ino(again), &n) && !tree_node(again, tree_list_ino(s), &n));
	FUZZ_CHECK(!tree_version_in(s, tree_list_ino(again)));
	FUZZ_CHECK(tree_node(again, tree_list_ino(again), &n) && n.kind == TREE_LIST);
	snap_unref(again);
}

/* Every token pat_each hands over, one line each, for comparing two readings. */
static bool see(void *ctx, const struct pat *p)
{
	fprintf(ctx, "#%zu @%zu+%zu ID %" PRId64 " %s|%s|%s|%s %" PRId64 " %s %x\n", p->index,
		p->elem_off, p->elem_len, p->id, p->name, p->created_on, p->expiry, p->user_id,
		p->reminder_state, p->reminder_raw ? p->reminder_raw : "-", p->problems);
	return true;
}

/*
 * pat_each_cut at cut gives what pat_each gives: the same tokens in the
 * same order, the same report and error.
 */
static void check_cut(const char *body, size_t size, struct pat_cut cut)
{
	char *one = NULL, *two[2] = { NULL, NULL };
	size_t n1, n2[2];
	FILE *f1 = open_memstream(&one, &n1);
	FILE *f2[2] = { open_memstream(&two[0], &n2[0]), open_memstream(&two[1], &n2[1]) };
	void *const ctx[2] = { f2[0], f2[1] };
	struct pat_report r1, r2;
	struct err e1, e2;
	enum err_kind rc1, rc2;
	bool second;

	FUZZ_CHECK(f1 && f2[0] && f2[1]);
	rc1 = pat_each(body, size, see, f1, &r1, &e1);
	rc2 = pat_each_cut(body, size, cut, see, ctx, &second, &r2, &e2);
	fclose(f1);
	fclose(f2[0]);
	fclose(f2[1]);
	FUZZ_CHECK(rc1 == rc2 && strcmp(e1.msg, e2.msg) == 0);
	FUZZ_CHECK(r1.skipped == r2.skipped && strcmp(r1.warnings, r2.warnings) == 0);
	FUZZ_CHECK(r1.problems == r2.problems);
	FUZZ_CHECK(strncmp(one, two[0], n2[0]) == 0);
	FUZZ_CHECK(second ? strcmp(one + n2[0], two[1]) == 0 : n1 == n2[0]);
	free(one);
	free(two[0]);
	free(two[1]);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct pat_list l;
	struct pat_report r;
	struct snapshot *s;
	struct err e, se;
	char *body = malloc(size ? size : 1);
	enum err_kind rc;

	fuzz_where = NULL;
	FUZZ_CHECK(body != NULL);
	memcpy(body, data, size);
	rc = pat_parse(body, size, &l, &e);
	check_against_cjson(body, size, rc, &e, &l);
	/* Two threads give what one gives: at the cut found, and at any other place. */
	{
		struct pat_cut cut;

		if (pat_find_cut(body, size, size / 2, &cut))
			check_cut(body, size, cut);
		if (size >= 3)
			check_cut(body, size, (struct pat_cut){ ((size_t)data[0] << 8 | data[1]) % (size + 1),
								data[2] % 8 });
	}
	/* The snapshot parses on its own, as the daemon does: it must agree. */
	s = snap_parse(body, size, fetched, NULL, &r, &se); /* takes body */
	if (rc != ERR_OK) {
		FUZZ_CHECK(e.kind == ERR_PROTO || e.kind == ERR_NOMEM);
		FUZZ_CHECK(l.n == 0 && l.report.skipped == 0 && e.msg[0] != '\0');
		FUZZ_CHECK(s == NULL && se.kind == e.kind && strcmp(se.msg, e.msg) == 0);
		goto out;
	}
	check_list(&l);
	if (!s) {
		FUZZ_CHECK(se.kind == ERR_NOMEM);
		goto out;
	}
	FUZZ_CHECK(r.skipped == l.report.skipped && strcmp(r.warnings, l.report.warnings) == 0);
	FUZZ_CHECK(r.problems == l.report.problems);
	FUZZ_CHECK(s->list_ver == 1 && s->serial == 1);
	for (size_t i = 0; i < s->n; i++)
		FUZZ_CHECK(s->tok[i].gen == 0);
	if (size)
		number_versions(s, data, size);
	check_snapshot(s, &l, data, size);
	check_carry_same(s, data, size);
	snap_unref(s);
out:
	pat_list_free(&l);
	return 0;
}
