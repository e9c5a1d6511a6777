/*
 * snapshot.c - building and sharing snapshots; see snapshot.h.
 */
#include "snapshot.h"

#include <inttypes.h>
#include <stdio.h>
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
 * Offsets are truncated to 32 bits here: snap_build refuses an arena that
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
 * again when read.  list holds the body p was parsed from.
 */
static void render_token(struct buf *a, const struct pat *p, struct snap_token *t,
			 const char *list, char **json, size_t *json_cap)
{
	char num[32];
	size_t n;

	t->id = p->id;
	t->created = p->created;
	t->expires = p->expires;
	n = (size_t)snprintf(num, sizeof(num), "%" PRId64, p->id);
	set_body(a, t, SNAP_F_ID, num, n, 1);
	set_body(a, t, SNAP_F_NAME, p->name, strlen(p->name), 1);
	set_body(a, t, SNAP_F_CREATED_ON, p->created_on, strlen(p->created_on), 1);
	set_body(a, t, SNAP_F_EXPIRY, p->expiry, strlen(p->expiry), 1);
	n = (size_t)snprintf(num, sizeof(num), "%" PRId64, p->reminder_state);
	set_body(a, t, SNAP_F_REMINDER, num, n, 1);
	set_body(a, t, SNAP_F_USER_ID, p->user_id, strlen(p->user_id), 1);
	n = (size_t)snprintf(num, sizeof(num), "%lld", (long long)p->expires.tv_sec);
	set_body(a, t, SNAP_F_EXPIRY_EPOCH, num, n, 1);
	t->elem_off = (uint32_t)p->elem_off;
	t->elem_len = (uint32_t)p->elem_len;
	n = pat_render_len(list + p->elem_off, p->elem_len, json, json_cap);
	if (n == 0 || n > UINT32_MAX)
		a->failed = true;
	t->body_len[SNAP_F_JSON] = (uint32_t)n;
}

/* qsort context is not portable; sort pairs of (key pointer, index) instead. */
struct keyed {
	const char *key;
	uint32_t idx;
};

static int cmp_keyed(const void *a, const void *b)
{
	const struct keyed *x = a, *y = b;
	int c = strcmp(x->key, y->key);

	return c ? c : (x->idx > y->idx) - (x->idx < y->idx);
}

/*
 * Give every token its by-name entry: names that occur more than once get
 * a "~<ID>" suffix on every copy.  Fills s->by_name sorted by entry name.
 */
static int build_by_name(struct snapshot *s, const struct pat_list *l, struct buf *a)
{
	struct keyed *k = malloc((s->n ? s->n : 1) * sizeof(*k));
	char *esc = NULL, entry[ESC_NAME_MAX + 1];
	size_t esc_cap = 0;
	int ok = 0;

	if (!k)
		goto out;
	for (size_t i = 0; i < s->n; i++)
		k[i] = (struct keyed){ l->v[i].name, (uint32_t)i };
	qsort(k, s->n, sizeof(*k), cmp_keyed);
	for (size_t i = 0; i < s->n; i++) {
		const char *name = k[i].key;
		size_t len = strlen(name), elen;
		int dup = (i > 0 && strcmp(k[i - 1].key, name) == 0) ||
			  (i + 1 < s->n && strcmp(k[i + 1].key, name) == 0);
		struct snap_token *t = &s->tok[k[i].idx];

		if (ESC_BUF_SIZE(len) > esc_cap) {
			char *nb = realloc(esc, ESC_BUF_SIZE(len));

			if (!nb)
				goto out;
			esc = nb;
			esc_cap = ESC_BUF_SIZE(len);
		}
		elen = esc_name(name, len, esc);
		elen = esc_entry(esc, elen, t->id, dup, entry);
		t->link_off = arena_put(a, entry, elen + 1, 0);
		t->link_len = (uint32_t)elen;
	}
	if (a->failed || a->len > UINT32_MAX)
		goto out;
	/* Entry names are final now: sort by them. */
	for (size_t i = 0; i < s->n; i++)
		k[i] = (struct keyed){ a->p + s->tok[i].link_off, (uint32_t)i };
	qsort(k, s->n, sizeof(*k), cmp_keyed);
	for (size_t i = 0; i < s->n; i++)
		s->by_name[i] = k[i].idx;
	ok = 1;
out:
	free(k);
	free(esc);
	return ok;
}

struct snapshot *snap_build(const struct pat_list *l, char *body, size_t len,
			    struct timespec fetched, struct err *e)
{
	struct snapshot *s = calloc(1, sizeof(*s));
	struct buf a = { 0 };
	char *json = NULL;
	size_t json_cap = 0;
	bool too_big = len >= UINT32_MAX; /* token offsets into the list are 32-bit too */

	if (!s || too_big)
		goto fail;
	atomic_init(&s->refs, 1);
	s->fetched = fetched;
	s->n = l->n;
	s->tok = calloc(s->n ? s->n : 1, sizeof(*s->tok));
	s->by_name = calloc(s->n ? s->n : 1, sizeof(*s->by_name));
	if (!s->tok || !s->by_name)
		goto fail;
	/*
	 * tokens.json ends with exactly one newline, like every other file:
	 * whitespace after the JSON value means nothing, so it goes.
	 */
	while (len > 0 && (body[len - 1] == '\n' || body[len - 1] == '\r' ||
			   body[len - 1] == ' ' || body[len - 1] == '\t'))
		len--;
	{
		char *nb = realloc(body, len + 1);

		if (!nb)
			goto fail;
		body = nb;
		body[len++] = '\n';
	}
	s->list = body;
	s->list_len = len;
	body = NULL;
	for (size_t i = 0; i < s->n && !a.failed; i++)
		render_token(&a, &l->v[i], &s->tok[i], s->list, &json, &json_cap);
	if (a.failed || !build_by_name(s, l, &a)) {
		too_big = !a.failed && a.len > UINT32_MAX;
		goto fail;
	}
	s->arena = a.p;
	s->arena_len = a.len;
	free(json);
	return s;
fail:
	free(json);
	free(a.p);
	free(body);
	if (s) {
		free(s->tok);
		free(s->by_name);
		free(s->list);
		free(s);
	}
	if (too_big)
		err_set(e, ERR_TOOBIG, "the view of %zu tokens would pass 4 GiB", l->n);
	else
		err_set(e, ERR_NOMEM, "out of memory building the view of %zu tokens", l->n);
	return NULL;
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
