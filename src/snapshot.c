/*
 * snapshot.c - building and sharing snapshots; see snapshot.h.
 */
#include "snapshot.h"

#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "escape.h"

const char *const snap_file_names[SNAP_NFILES] = {
	[SNAP_F_ID] = "id",
	[SNAP_F_NAME] = "name",
	[SNAP_F_CREATED_ON] = "created_on",
	[SNAP_F_EXPIRY] = "expiry",
	[SNAP_F_REMINDER] = "expiry_reminder_state",
	[SNAP_F_USER_ID] = "user_id",
	[SNAP_F_JSON] = "token.json",
	[SNAP_F_EXPIRY_EPOCH] = "expiry_epoch",
};

/*
 * Append n bytes, then a newline if nl; return the offset they start at.
 * Offsets are truncated to 32 bits here: snap_parse refuses an arena that
 * ends past 4 GiB, so every one that survives is exact.
 */
static uint32_t arena_put(struct buf *a, const char *p, size_t n, int nl)
{
	size_t off = buf_add(a, p, n);

	if (nl)
		buf_add(a, "\n", 1);
	return (uint32_t)off;
}

static void set_body(struct buf *a, struct snap_token *t, enum snap_file f,
		     const char *p, size_t n, int nl)
{
	t->body_off[f] = arena_put(a, p, n, nl);
	t->body_len[f] = (uint32_t)(n + (nl ? 1 : 0));
}

/*
 * Fill t from p, its small files into the arena.  token.json is rendered
 * into the scratch buffer *json only to learn its length: it is rendered
 * again when read.  list holds the body p was parsed from.  A field p
 * could not read keeps its raw text; expiry_epoch of an unreadable Expiry
 * says SNAP_UNKNOWN.
 */
static void render_token(struct buf *a, const struct pat *p, struct snap_token *t,
			 const char *list, char **json, size_t *json_cap)
{
	char num[BUF_I64_TEXT];
	size_t n;

	t->id = p->id;
	t->gen = 0;
	t->created = p->created;
	t->expires = p->expires;
	t->problems = p->problems;
	n = buf_i64(num, p->id);
	set_body(a, t, SNAP_F_ID, num, n, 1);
	set_body(a, t, SNAP_F_NAME, p->name, strlen(p->name), 1);
	set_body(a, t, SNAP_F_CREATED_ON, p->created_on, strlen(p->created_on), 1);
	set_body(a, t, SNAP_F_EXPIRY, p->expiry, strlen(p->expiry), 1);
	if (p->problems & PAT_REMINDER)
		set_body(a, t, SNAP_F_REMINDER, p->reminder_raw, strlen(p->reminder_raw), 1);
	else
		set_body(a, t, SNAP_F_REMINDER, num, buf_i64(num, p->reminder_state), 1);
	set_body(a, t, SNAP_F_USER_ID, p->user_id, strlen(p->user_id), 1);
	if (p->problems & PAT_EXPIRY)
		set_body(a, t, SNAP_F_EXPIRY_EPOCH, SNAP_UNKNOWN, strlen(SNAP_UNKNOWN), 1);
	else
		set_body(a, t, SNAP_F_EXPIRY_EPOCH, num, buf_i64(num, (int64_t)p->expires.tv_sec), 1);
	t->elem_off = (uint32_t)p->elem_off;
	t->elem_len = (uint32_t)p->elem_len;
	n = pat_render_len(list + p->elem_off, p->elem_len, json, json_cap);
	if (n == 0 || n > UINT32_MAX)
		a->failed = true;
	t->body_len[SNAP_F_JSON] = (uint32_t)n;
}

/*
 * qsort context is not portable; sort (key, index) pairs instead.  Keys
 * hold no NUL, so comparing bytes, then lengths, orders them as strcmp.
 */
struct keyed {
	const char *key;
	uint32_t len, idx;
};

static int cmp_keyed(const void *a, const void *b)
{
	const struct keyed *x = a, *y = b;
	int c = memcmp(x->key, y->key, x->len < y->len ? x->len : y->len);

	if (c == 0)
		c = (x->len > y->len) - (x->len < y->len);
	return c ? c : (x->idx > y->idx) - (x->idx < y->idx);
}

static bool same_key(const struct keyed *x, const struct keyed *y)
{
	return x->len == y->len && memcmp(x->key, y->key, x->len) == 0;
}

/*
 * Give every token its by-name entry: names that occur more than once get
 * a "~<ID>" suffix on every copy.  The names are the bodies of the name
 * files in the arena, less their newline.  Fills s->by_name sorted by
 * entry name.
 */
static int build_by_name(struct snapshot *s, struct buf *a)
{
	struct keyed *k = malloc((s->n ? s->n : 1) * sizeof(*k));
	unsigned char *dup = malloc(s->n ? s->n : 1);
	char *esc = NULL, entry[ESC_NAME_MAX + 1];
	size_t esc_cap = 0;
	int ok = 0;

	if (!k || !dup)
		goto out;
	for (size_t i = 0; i < s->n; i++) {
		const struct snap_token *t = &s->tok[i];

		k[i] = (struct keyed){ a->p + t->body_off[SNAP_F_NAME],
				       t->body_len[SNAP_F_NAME] - 1, (uint32_t)i };
	}
	qsort(k, s->n, sizeof(*k), cmp_keyed);
	/* Which names repeat: known before the arena grows, which may move it and the keys. */
	for (size_t i = 0; i < s->n; i++)
		dup[i] = (i > 0 && same_key(&k[i - 1], &k[i])) ||
			 (i + 1 < s->n && same_key(&k[i + 1], &k[i]));
	for (size_t i = 0; i < s->n; i++) {
		struct snap_token *t = &s->tok[k[i].idx];
		size_t len = k[i].len, elen;

		if (ESC_BUF_SIZE(len) > esc_cap) {
			char *nb = realloc(esc, ESC_BUF_SIZE(len));

			if (!nb)
				goto out;
			esc = nb;
			esc_cap = ESC_BUF_SIZE(len);
		}
		elen = esc_name(a->p + t->body_off[SNAP_F_NAME], len, esc);
		elen = esc_entry(esc, elen, t->id, dup[i], entry);
		t->link_off = arena_put(a, entry, elen + 1, 0);
		t->link_len = (uint32_t)elen;
	}
	if (a->failed || a->len > UINT32_MAX)
		goto out;
	/* Entry names are final now: sort by them. */
	for (size_t i = 0; i < s->n; i++)
		k[i] = (struct keyed){ a->p + s->tok[i].link_off, s->tok[i].link_len,
				       (uint32_t)i };
	qsort(k, s->n, sizeof(*k), cmp_keyed);
	for (size_t i = 0; i < s->n; i++)
		s->by_name[i] = k[i].idx;
	ok = 1;
out:
	free(k);
	free(dup);
	free(esc);
	return ok;
}

/* Tokens being rendered while pat_each hands them over. */
struct builder {
	const char *list;         /* the body they are parsed from */
	struct snap_token *tok;
	size_t n, cap;
	struct buf a;             /* the arena */
	char *json;               /* scratch for token.json's length */
	size_t json_cap;
	bool too_big;             /* past the 32-bit offsets */
};

/* pat_each's callback: render p at once. */
static bool add_token(void *ctx, const struct pat *p)
{
	struct builder *b = ctx;
	struct snap_token *nt = buf_array_room(b->tok, &b->cap, b->n, sizeof(*b->tok));

	if (!nt)
		return false;
	b->tok = nt;
	render_token(&b->a, p, &b->tok[b->n], b->list, &b->json, &b->json_cap);
	if (b->a.len > UINT32_MAX)
		b->too_big = true;
	if (b->a.failed || b->too_big)
		return false;
	b->n++;
	return true;
}

static void builder_free(struct builder *b)
{
	free(b->tok);
	free(b->a.p);
	free(b->json);
}

/*
 * Append the tokens of more, the second part of the list, to b: their
 * bodies move to the end of b's arena.  more is freed.  False when memory
 * runs out (b->a.failed) or b's arena would pass 4 GiB (b->too_big).
 */
static bool join_builders(struct builder *b, struct builder *more)
{
	size_t shift = b->a.len;
	bool ok = false;

	if (more->n > 0) {
		struct snap_token *nt = realloc(b->tok, (b->n + more->n) * sizeof(*nt));

		if (!nt) {
			b->a.failed = true;
			goto out;
		}
		b->tok = nt;
		b->cap = b->n + more->n;
		for (size_t i = 0; i < more->n; i++) {
			struct snap_token *t = &b->tok[b->n + i];

			*t = more->tok[i];
			for (int f = 0; f < SNAP_NFILES; f++)
				if (f != SNAP_F_JSON)
					t->body_off[f] += (uint32_t)shift;
		}
		b->n += more->n;
		free(more->tok);
		more->tok = NULL;
		buf_add(&b->a, more->a.p, more->a.len);
		if (b->a.len > UINT32_MAX)
			b->too_big = true;
	}
	ok = !b->a.failed && !b->too_big;
out:
	builder_free(more);
	return ok;
}

/*
 * Make room in b, from the start, for the tokens of len bytes of list and
 * their bodies, as far as a guess from len goes (an element takes at least
 * about 128 bytes; the bodies, about half the list).  Grown by doubling
 * instead, the arrays would be copied at each step, each copy into fresh
 * memory to fault in; room reserved and never used is never touched.
 * Without memory nothing is reserved: the arrays then grow as they go.
 */
static void builder_presize(struct builder *b, size_t len)
{
	size_t n = len / 128 + 1;

	if (b->tok || n > SIZE_MAX / sizeof(*b->tok))
		return;
	b->tok = malloc(n * sizeof(*b->tok));
	if (b->tok)
		b->cap = n;
	if (buf_reserve(&b->a, len / 2 + 1))
		return;
	/* buf_reserve remembers a failure: forget it, the arena grows as it goes. */
	b->a.failed = false;
}

/* Parse the len bytes of b->list into b, on two threads when they are many. */
static enum err_kind parse_list(struct builder *b, size_t len, struct pat_report *r,
				struct err *e)
{
	struct builder more = { .list = b->list };
	void *const ctx[2] = { b, &more };
	struct pat_cut cut;
	enum err_kind rc;
	bool second;

	builder_presize(b, len);
	if (len < SNAP_SPLIT_MIN || !pat_find_cut(b->list, len, len / 2, &cut))
		return pat_each(b->list, len, add_token, b, r, e);
	builder_presize(&more, len - cut.off);
	rc = pat_each_cut(b->list, len, cut, add_token, ctx, &second, r, e);
	if (rc != ERR_OK && second) {
		/* The second part failed: snap_parse says why from b. */
		b->too_big |= more.too_big;
		b->a.failed |= more.a.failed;
	}
	if (rc != ERR_OK || !second) {
		builder_free(&more);
		return rc;
	}
	return join_builders(b, &more) ? ERR_OK : ERR_NOMEM;
}

/* By ID, then by place in the list (the element's offset), so that the first one wins. */
static int cmp_id_place(const void *a, const void *b)
{
	const struct snap_token *x = a, *y = b;

	if (x->id != y->id)
		return x->id < y->id ? -1 : 1;
	return (x->elem_off > y->elem_off) - (x->elem_off < y->elem_off);
}

/* Sort s->tok by ID and drop repeated IDs, each reported in *r. */
static void sort_unique(struct snapshot *s, struct pat_report *r)
{
	size_t w = 0, i = 1;

	/* Servers tend to list by ID: then there is nothing to do. */
	while (i < s->n && s->tok[i - 1].id < s->tok[i].id)
		i++;
	if (i >= s->n)
		return;
	qsort(s->tok, s->n, sizeof(*s->tok), cmp_id_place);
	for (i = 0; i < s->n; i++) {
		if (w > 0 && s->tok[w - 1].id == s->tok[i].id) {
			pat_report_duplicate(r, s->tok[i].id, s->tok[i].problems);
			continue;
		}
		s->tok[w++] = s->tok[i];
	}
	s->n = w;
}

static bool same_time(struct timespec x, struct timespec y)
{
	return x.tv_sec == y.tv_sec && x.tv_nsec == y.tv_nsec;
}

/* Do token x of a and token y of b (same ID) read the same in every file? */
static bool same_token(const struct snapshot *a, const struct snap_token *x,
		       const struct snapshot *b, const struct snap_token *y)
{
	if (!same_time(x->created, y->created) || !same_time(x->expires, y->expires) ||
	    x->problems != y->problems || x->elem_len != y->elem_len ||
	    memcmp(a->list + x->elem_off, b->list + y->elem_off, x->elem_len) != 0)
		return false;
	for (unsigned f = 0; f < SNAP_NFILES; f++) {
		size_t xl, yl;
		const char *xb, *yb;

		if (f == SNAP_F_JSON)
			continue; /* rendered from the token's bytes, compared above */
		xb = snap_body(a, x, (enum snap_file)f, &xl);
		yb = snap_body(b, y, (enum snap_file)f, &yl);
		if (xl != yl || memcmp(xb, yb, xl) != 0)
			return false;
	}
	return true;
}

/*
 * Number the versions of s's files, and its serial, from old, the snapshot
 * it replaces (see snap_parse).
 */
static void carry(struct snapshot *s, const struct snapshot *old)
{
	const unsigned mask = (1u << SNAP_GEN_BITS) - 1;
	size_t i = 0;

	s->serial = old->serial + 1;
	s->list_ver = old->list_ver;
	if (s->list_len != old->list_len || memcmp(s->list, old->list, s->list_len) != 0)
		s->list_ver++;
	for (size_t j = 0; j < s->n; j++) {
		struct snap_token *y = &s->tok[j];

		while (i < old->n && old->tok[i].id < y->id)
			i++;
		if (i < old->n && old->tok[i].id == y->id)
			y->gen = same_token(old, &old->tok[i], s, y) ?
				 old->tok[i].gen : (uint8_t)((old->tok[i].gen + 1u) & mask);
	}
}

struct snapshot *snap_parse(char *body, size_t len, struct timespec fetched,
			    const struct snapshot *prev, struct pat_report *r, struct err *e)
{
	struct snapshot *s = calloc(1, sizeof(*s));
	struct builder b = { 0 };
	enum err_kind rc = ERR_OK;

	memset(r, 0, sizeof(*r));
	if (!s)
		goto fail;
	atomic_init(&s->refs, 1);
	s->fetched = fetched;
	s->serial = 1;
	s->list_ver = 1;
	/* Token offsets into the list are 32-bit too. */
	b.too_big = len >= UINT32_MAX;
	if (b.too_big)
		goto fail;
	/* Room for the newline first: the tokens' offsets are into this buffer. */
	s->list = realloc(body, len + 1);
	if (!s->list)
		goto fail;
	body = NULL;
	b.list = s->list;
	rc = parse_list(&b, len, r, e);
	if (rc != ERR_OK)
		goto fail;
	s->tok = b.tok;
	s->n = b.n;
	b.tok = NULL;
	b.n = 0;
	/*
	 * tokens.json ends with exactly one newline, like every other file:
	 * whitespace after the JSON value means nothing, so it goes.
	 */
	while (len > 0 && (s->list[len - 1] == '\n' || s->list[len - 1] == '\r' ||
			   s->list[len - 1] == ' ' || s->list[len - 1] == '\t'))
		len--;
	s->list[len++] = '\n';
	s->list_len = len;
	sort_unique(s, r);
	for (size_t i = 0; i < s->n; i++)
		s->problems += s->tok[i].problems != 0;
	s->by_name = calloc(s->n ? s->n : 1, sizeof(*s->by_name));
	if (!s->by_name || !build_by_name(s, &b.a)) {
		b.too_big = !b.a.failed && b.a.len > UINT32_MAX;
		goto fail;
	}
	if (s->n < b.cap) {
		/* Give back what the doubling left over. */
		struct snap_token *nt = realloc(s->tok, (s->n ? s->n : 1) * sizeof(*nt));

		if (nt)
			s->tok = nt;
	}
	s->arena = b.a.p;
	s->arena_len = b.a.len;
	free(b.json);
	if (prev)
		carry(s, prev);
	return s;
fail:
	builder_free(&b);
	free(body);
	if (b.too_big)
		err_set(e, ERR_TOOBIG, "the view of %zu tokens would pass 4 GiB", s ? s->n + b.n : 0);
	else if (rc == ERR_OK || b.a.failed)
		err_set(e, ERR_NOMEM, "out of memory building the view of %zu tokens",
			s ? s->n + b.n : 0);
	/* else pat_each has said why: the body is not a list, or memory ran out. */
	snap_unref(s);
	return NULL;
}

size_t snap_bytes(const struct snapshot *s)
{
	return sizeof(*s) + s->n * (sizeof(*s->tok) + sizeof(*s->by_name)) +
	       s->arena_len + s->list_len;
}

struct snapshot *snap_ref(struct snapshot *s)
{
	atomic_fetch_add_explicit(&s->refs, 1, memory_order_relaxed);
	return s;
}

void snap_unref(struct snapshot *s)
{
	if (!s || atomic_fetch_sub_explicit(&s->refs, 1, memory_order_acq_rel) != 1)
		return;
	free(s->tok);
	free(s->by_name);
	free(s->arena);
	free(s->list);
	free(s);
}

const char *snap_token_json(const struct snapshot *s, const struct snap_token *t,
			    size_t *len, char **scratch, size_t *scratch_cap)
{
	size_t n = pat_render(s->list + t->elem_off, t->elem_len, scratch, scratch_cap);

	if (n == 0)
		return NULL;
	*len = n;
	return *scratch;
}

size_t snap_first_id_from(const struct snapshot *s, int64_t id)
{
	size_t lo = 0, hi = s->n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (s->tok[mid].id < id)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

const struct snap_token *snap_find_id(const struct snapshot *s, int64_t id)
{
	size_t i = snap_first_id_from(s, id);

	return i < s->n && s->tok[i].id == id ? &s->tok[i] : NULL;
}

const struct snap_token *snap_find_name(const struct snapshot *s, const char *name)
{
	size_t lo = 0, hi = s->n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		const struct snap_token *t = &s->tok[s->by_name[mid]];
		int c = strcmp(snap_link_name(s, t), name);

		if (c == 0)
			return t;
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return NULL;
}
