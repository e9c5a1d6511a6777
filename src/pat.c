/*
 * pat.c - JSON to struct pat with cJSON; see pat.h.
 *
 * The array is walked here, one element at a time, the way cJSON's own
 * parse_array walks it (same idea of whitespace, same error positions), and
 * each element is handed to cJSON with the rest of the body after it: cJSON
 * says where the element ends, or where it is broken, in the same bytes and
 * at the same offsets as if it parsed the whole body.  So the body is
 * accepted or refused exactly as one cJSON_Parse of it would, without the
 * tree of every token that costs several times the body in memory.
 *
 * A long body may be read by two threads at once (pat_each_cut): the
 * second starts at a cut found from brackets and quotes alone, and its
 * work counts only if the first, reading element by element, meets the
 * cut exactly; otherwise the first reads on by itself.  cJSON parses on
 * several threads at once under the conditions its README sets for thread
 * safety: no cJSON_GetErrorPtr (where an element ends or breaks comes from
 * return_parse_end), hooks set once before the first parse and never
 * again, no setlocale.  Every parse still stores into cJSON's one global
 * error slot, which nothing here reads.
 */
#include "pat.h"

#include <cJSON.h>
#include <math.h>
#include <pthread.h>
#include <stdalign.h>
#include <stdatomic.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pat_field.h"

/*
 * A walk builds each element's tree and frees it before the next, on one
 * thread: the nodes come from the walk's scratch block, handed out in
 * order and taken back all at once for the next element, not one malloc
 * and one free each (a fifth of a parse's instructions).  Outside a walk,
 * and for what does not fit, cJSON's hooks fall back to malloc and free.
 */
#define SCRATCH_BYTES 16384

struct scratch {
	size_t used;
	alignas(max_align_t) char mem[SCRATCH_BYTES];
};

static _Thread_local struct scratch *scratch; /* the running walk's, or NULL */

static void *scratch_alloc(size_t n)
{
	struct scratch *s = scratch;
	size_t k = (n + alignof(max_align_t) - 1) & ~(alignof(max_align_t) - 1);

	if (s && k >= n && k <= SCRATCH_BYTES - s->used) {
		void *p = s->mem + s->used;

		s->used += k;
		return p;
	}
	return malloc(n);
}

static void scratch_free(void *p)
{
	struct scratch *s = scratch;
	uintptr_t a = (uintptr_t)p, m = s ? (uintptr_t)s->mem : 0;

	if (s && a >= m && a < m + SCRATCH_BYTES)
		return; /* taken back with the rest of the block */
	free(p);
}

static pthread_once_t hooks_set = PTHREAD_ONCE_INIT;

static void set_hooks(void)
{
	cJSON_Hooks h = { .malloc_fn = scratch_alloc, .free_fn = scratch_free };

	cJSON_InitHooks(&h);
}

/* Before any call into cJSON: the hooks are set once, before the first parse. */
static void use_cjson(void)
{
	pthread_once(&hooks_set, set_hooks);
}

/* Append one line to r->warnings, keeping what already fits. */
static void vnote(struct pat_report *r, const char *fmt, va_list ap)
	__attribute__((format(printf, 2, 0)));
static void vnote(struct pat_report *r, const char *fmt, va_list ap)
{
	size_t used = strlen(r->warnings);

	if (used + 2 >= sizeof(r->warnings))
		return;
	if (used)
		r->warnings[used++] = '\n';
	vsnprintf(r->warnings + used, sizeof(r->warnings) - used, fmt, ap);
}

static void note(struct pat_report *r, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
static void note(struct pat_report *r, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vnote(r, fmt, ap);
	va_end(ap);
}

/* Count one element as skipped in r, and say why. */
static void warn(struct pat_report *r, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
static void warn(struct pat_report *r, const char *fmt, ...)
{
	va_list ap;

	r->skipped++;
	va_start(ap, fmt);
	vnote(r, fmt, ap);
	va_end(ap);
}

void pat_report_duplicate(struct pat_report *r, int64_t id, unsigned problems)
{
	r->problems -= problems != 0;
	warn(r, "token ID %lld skipped: the ID appears more than once; the first is kept",
	     (long long)id);
}

/*
 * cJSON prints a number that is not a 32-bit integer with 15 significant
 * digits when that reads back "close enough", so ID 9007199254740991
 * would come out of token.json as 9.00719925474099e+15.  Replace every
 * such number below item by a raw node holding an exact rendering.
 * Returns 0 when memory runs out.
 */
static int exact_numbers(cJSON *item)
{
	char num[PAT_NUM_TEXT];
	cJSON *child, *next, *raw;

	for (child = item->child; child; child = next) {
		double d = child->valuedouble;

		next = child->next;
		if (cJSON_IsArray(child) || cJSON_IsObject(child)) {
			if (!exact_numbers(child))
				return 0;
			continue;
		}
		if (!cJSON_IsNumber(child) || d == (double)child->valueint || !isfinite(d))
			continue;
		pat_number_text(d, num);
		raw = cJSON_CreateRaw(num);
		/* Replacing by pointer keeps the place, not the key: copy it. */
		if (raw && child->string && !(raw->string = strdup(child->string))) {
			cJSON_Delete(raw);
			raw = NULL;
		}
		if (!raw || !cJSON_ReplaceItemViaPointer(item, child, raw)) {
			cJSON_Delete(raw);
			return 0;
		}
	}
	return 1;
}

/*
 * cJSON's whitespace, skipped from off as its buffer_skip_whitespace does:
 * every byte up to 32 counts, and running into the end leaves off on the
 * last byte.  Mirrored, quirk included, so that errors are reported at the
 * very byte a parse of the whole body reports them at.
 */
static size_t skip_ws(const char *body, size_t len, size_t off)
{
	if (off >= len)
		return off;
	while (off < len && (unsigned char)body[off] <= 32)
		off++;
	return off == len ? off - 1 : off;
}

/*
 * The first '[' or '{' in body[from, to) that opens the element's
 * CJSON_NESTING_LIMIT-th level, or (size_t)-1.  cJSON alone lets an element
 * nest one level deeper than it can inside the array, so that limit is
 * applied here.  Only bytes cJSON has already read as JSON are looked at:
 * strings end at the first quote not escaped, brackets match.
 */
static size_t too_deep(const char *body, size_t from, size_t to)
{
	size_t depth = 0;
	bool in_str = false;

	/* Fewer bytes than the limit cannot hold that many opening brackets. */
	if (to - from < CJSON_NESTING_LIMIT)
		return (size_t)-1;
	for (size_t i = from; i < to; i++) {
		char c = body[i];

		if (in_str) {
			if (c == '\\')
				i++;
			else if (c == '"')
				in_str = false;
		} else if (c == '"') {
			in_str = true;
		} else if (c == '[' || c == '{') {
			if (++depth >= CJSON_NESTING_LIMIT)
				return i;
		} else if ((c == ']' || c == '}') && depth > 0) {
			depth--;
		}
	}
	return (size_t)-1;
}

/*
 * Parse the element of the array at body[*off], which is not whitespace.
 * Returns it, with *off moved past it; or NULL with *off at the byte where
 * the body stops being JSON.
 */
static cJSON *parse_elem(const char *body, size_t len, size_t *off)
{
	const char *end = NULL;
	size_t start = *off, stop, deep;
	cJSON *it;

	/*
	 * cJSON skips a byte order mark at the start of what it is given; in
	 * the middle of the body it is simply not JSON.
	 */
	if (len - start > 4 && memcmp(body + start, "\xEF\xBB\xBF", 3) == 0)
		return NULL;
	it = cJSON_ParseWithLengthOpts(body + start, len - start, &end, 0);
	stop = end && end >= body + start ? (size_t)(end - body) : start;
	/* On failure, the byte at stop was read too. */
	deep = too_deep(body, start, it ? stop : (stop < len ? stop + 1 : len));
	if (deep != (size_t)-1) {
		cJSON_Delete(it);
		*off = deep;
		return NULL;
	}
	*off = stop;
	return it;
}

/*
 * Where the array opens, as cJSON starts reading: the offset of its '['
 * after a byte order mark, then whitespace; len when the body is no array.
 */
static size_t array_open(const char *body, size_t len)
{
	size_t off = len > 4 && memcmp(body, "\xEF\xBB\xBF", 3) == 0 ? 3 : 0;

	off = skip_ws(body, len, off);
	return off < len && body[off] == '[' ? off : len;
}

/*
 * A body that is not an array: parse it whole, only to say what is wrong
 * with it, in the words the parse has always used.
 */
static enum err_kind refuse_whole(const char *body, size_t len, struct err *e)
{
	const char *end = NULL;
	cJSON *doc = cJSON_ParseWithLengthOpts(body, len, &end, 0);
	enum err_kind rc;

	if (!doc)
		return err_set(e, ERR_PROTO, "malformed JSON at byte %zu of %zu",
			       end && end >= body ? (size_t)(end - body) : (size_t)0, len);
	for (; end && (size_t)(end - body) < len; end++) {
		if (*end != ' ' && *end != '\t' && *end != '\r' && *end != '\n') {
			cJSON_Delete(doc);
			return err_set(e, ERR_PROTO, "unexpected data after the JSON value at byte %zu",
				       (size_t)(end - body));
		}
	}
	rc = err_set(e, ERR_PROTO, "expected a JSON array of tokens, got %s", pat_json_type(doc));
	cJSON_Delete(doc);
	return rc;
}

/*
 * Take element it, number pos (from 0), at body[off, off + n): hand it to
 * fn if it is an object with a usable ID, else say why not in r.  Each
 * field fn gets flagged as unreadable is described in r.  Returns fn's
 * answer (false: out of memory), true for an element skipped.
 */
static bool take_elem(const cJSON *it, size_t pos, size_t off, size_t n, pat_fn fn,
		      void *ctx, struct pat_report *r)
{
	struct pat p = { .index = pos, .elem_off = off, .elem_len = n };
	struct pat_field_raw raw = { .nbad = 0 };
	bool ok;

	if (!cJSON_IsObject(it)) {
		warn(r, "token #%zu skipped: %s, not an object", pos + 1, pat_json_type(it));
		return true;
	}
	if (!pat_get_int(it, "ID", 0, PAT_ID_MAX, &p.id)) {
		warn(r, "token #%zu skipped: field ID is missing or invalid", pos + 1);
		return true;
	}
	ok = pat_read_fields(it, &p, &raw);
	for (size_t i = 0; ok && i < raw.nbad; i++)
		note(r, "token ID %lld: field %s cannot be read: %s where %s is expected",
		     (long long)p.id, raw.bad[i].field, raw.bad[i].got, raw.bad[i].want);
	r->problems += ok && raw.nbad > 0;
	ok = ok && fn(ctx, &p);
	pat_field_free(&raw);
	return ok;
}

/* The error for a body that stops being JSON at byte off. */
static enum err_kind malformed(size_t off, size_t len, struct err *e)
{
	return err_set(e, ERR_PROTO, "malformed JSON at byte %zu of %zu",
		       off < len ? off : len - 1, len);
}

/* After the array's closing bracket at body[off], only whitespace may follow. */
static enum err_kind after_array(const char *body, size_t len, size_t off, struct err *e)
{
	for (off++; off < len; off++) {
		if (body[off] != ' ' && body[off] != '\t' && body[off] != '\r' && body[off] != '\n')
			return err_set(e, ERR_PROTO,
				       "unexpected data after the JSON value at byte %zu", off);
	}
	err_clear(e);
	return ERR_OK;
}

/* One reading of the array, from some element on. */
struct walk {
	const char *body;
	size_t len;
	pat_fn fn;
	void *ctx;
	struct pat_report *r;
	struct err *e;
	size_t off, pos;       /* the next element: its place (whitespace may lead) and number */
	size_t stop, stop_pos; /* a cut: the element stop_pos starts at stop (SIZE_MAX: none) */
	atomic_bool *quit;     /* the second part's walk gives up once this is set */
	bool second;           /* this walk reads the second part */
	bool stopped;          /* the walk reached the cut and left the rest */
};

/*
 * Read the array from w->off, a place after '[' or ',' where an element
 * must follow, to the closing bracket and what comes after it: each valid
 * token goes to fn, each other element is described in w->r.  A walk with
 * a cut returns early, ERR_OK with w->stopped set, where the element the
 * cut names begins.  If an element begins past the cut's place instead, or
 * the cut's place holds a different element, the cut was not between two
 * elements: the walk sets *w->quit and reads on to the end by itself.
 */
static enum err_kind walk_elems(struct walk *w)
{
	const char *body = w->body;
	size_t len = w->len, off = w->off;

	for (;; w->pos++) {
		size_t start = skip_ws(body, len, off);
		cJSON *it;
		bool ok;

		if (start >= w->stop) {
			if (start == w->stop && w->pos == w->stop_pos) {
				w->stopped = true;
				return ERR_OK;
			}
			w->stop = SIZE_MAX;
			atomic_store(w->quit, true);
		}
		if (w->second && atomic_load_explicit(w->quit, memory_order_relaxed))
			return ERR_OK; /* its result is not wanted */
		off = start;
		scratch->used = 0; /* the trees before are all freed */
		it = parse_elem(body, len, &off);
		if (!it)
			return malformed(off, len, w->e);
		ok = take_elem(it, w->pos, start, off - start, w->fn, w->ctx, w->r);
		cJSON_Delete(it);
		if (!ok)
			return err_set(w->e, ERR_NOMEM, "out of memory for token #%zu", w->pos + 1);
		off = skip_ws(body, len, off);
		if (off >= len || body[off] != ',')
			break;
		off++;
	}
	if (off >= len || body[off] != ']')
		return malformed(off, len, w->e);
	return after_array(body, len, off, w->e);
}

/* walk_elems, its trees built in a scratch block of this thread's. */
static enum err_kind walk(struct walk *w)
{
	struct scratch s = { .used = 0 };
	enum err_kind rc;

	scratch = &s;
	rc = walk_elems(w);
	scratch = NULL;
	return rc;
}

/* Add the report of the array's second part to r, as one walk of both parts would have. */
static void join_reports(struct pat_report *r, const struct pat_report *more)
{
	const char *line = more->warnings;

	while (*line) {
		size_t n = strcspn(line, "\n");

		note(r, "%.*s", (int)n, line);
		line += n + (line[n] == '\n');
	}
	r->skipped += more->skipped;
	r->problems += more->problems;
}

/* The second part of a cut array, read on a thread of its own. */
struct part {
	struct walk w;
	struct pat_report r;
	struct err e;
	enum err_kind rc;
};

static void *read_part(void *arg)
{
	struct part *p = arg;

	p->rc = walk(&p->w);
	return NULL;
}

/*
 * Read the body's array, every element to fn: on this thread alone (cut
 * NULL: pat_each), or with the elements from the cut on read by a second
 * thread at the same time, their tokens handed to fn with ctx[1], all
 * others with ctx[0] (pat_each_cut).
 */
static enum err_kind read_array(const char *body, size_t len, const struct pat_cut *cut,
				pat_fn fn, void *const ctx[2], bool *second,
				struct pat_report *r, struct err *e)
{
	atomic_bool quit = false;
	struct walk w = { .body = body, .len = len, .fn = fn, .ctx = ctx[0], .r = r, .e = e,
			  .stop = SIZE_MAX, .quit = &quit };
	struct part part;
	pthread_t thread;
	bool running = false;
	size_t off;
	enum err_kind rc;

	*second = false;
	memset(r, 0, sizeof(*r));
	use_cjson();
	off = array_open(body, len);
	if (off == len)
		return refuse_whole(body, len, e);

	/* The array, read as cJSON's parse_array reads it. */
	off = skip_ws(body, len, off + 1);
	if (off < len && body[off] == ']')
		return after_array(body, len, off, e);
	if (off >= len)
		return malformed(len - 1, len, e);
	w.off = off;
	if (cut && cut->off > off && cut->off < len && cut->pos > 0) {
		part = (struct part){ .w = w };
		part.w.fn = fn;
		part.w.ctx = ctx[1];
		part.w.r = &part.r;
		part.w.e = &part.e;
		part.w.off = cut->off;
		part.w.pos = cut->pos;
		part.w.second = true;
		running = pthread_create(&thread, NULL, read_part, &part) == 0;
		if (running) {
			w.stop = cut->off;
			w.stop_pos = cut->pos;
		}
	}
	rc = walk(&w);
	if (!running)
		return rc;
	if (!w.stopped)
		atomic_store(&quit, true);
	pthread_join(thread, NULL);
	if (!w.stopped)
		return rc; /* the first walk failed, or read everything itself */
	*second = true;
	join_reports(r, &part.r);
	*e = part.e;
	return part.rc;
}

enum err_kind pat_each(const char *body, size_t len, pat_fn fn, void *ctx,
		       struct pat_report *r, struct err *e)
{
	void *const ctxs[2] = { ctx, NULL };
	bool second;

	return read_array(body, len, NULL, fn, ctxs, &second, r, e);
}

enum err_kind pat_each_cut(const char *body, size_t len, struct pat_cut cut, pat_fn fn,
			   void *const ctx[2], bool *second, struct pat_report *r,
			   struct err *e)
{
	return read_array(body, len, &cut, fn, ctx, second, r, e);
}

bool pat_find_cut(const char *body, size_t len, size_t from, struct pat_cut *cut)
{
	size_t i = array_open(body, len), depth = 0, pos = 0;

	if (i == len)
		return false;
	for (i++; i < len;) {
		char c = body[i];

		if (c == '"') {
			/* A quote ends the string unless an odd run of backslashes escapes it. */
			size_t open = i, k = i + 1, run;

			for (;;) {
				const char *q = memchr(body + k, '"', len - k);

				if (!q)
					return false;
				k = (size_t)(q - body);
				for (run = 0; k - run - 1 > open && body[k - run - 1] == '\\'; run++)
					;
				if (run % 2 == 0)
					break;
				k++;
			}
			i = k + 1;
		} else if (c == '[' || c == '{') {
			depth++;
			i++;
		} else if (c == ']' || c == '}') {
			if (depth-- == 0)
				return false; /* the array ended */
			i++;
		} else if (c == ',' && depth == 0) {
			pos++;
			i = skip_ws(body, len, i + 1);
			if (i >= from) {
				cut->off = i;
				cut->pos = pos;
				return true;
			}
		} else {
			i++;
		}
	}
	return false;
}

/*
 * Is elem (JSON that cJSON accepts) byte for byte what pat_render prints
 * for it?  cJSON reads and prints unchanged: any byte of a string but a
 * backslash or a control character, the literals, the punctuation without
 * whitespace, and an integer of up to 15 digits without a leading zero
 * (which %1.15g and exact_numbers both print digit for digit).  Anything
 * else may come out differently, so it is not vouched for.
 */
static bool verbatim(const char *p, size_t n)
{
	size_t i = 0;

	while (i < n) {
		unsigned char c = (unsigned char)p[i];

		if (c == '"') {
			/* Strings are most of a body: find the end, then check it in one sweep. */
			const char *q = memchr(p + i + 1, '"', n - i - 1);
			size_t end = q ? (size_t)(q - p) : n;
			unsigned bad = 0;

			for (size_t k = i + 1; k < end; k++)
				bad |= (p[k] == '\\') | ((unsigned char)p[k] < 32);
			if (bad)
				return false;
			i = end + 1;
		} else if (c == '-' || (c >= '0' && c <= '9')) {
			size_t first = i + (c == '-'), digits;

			for (i = first; i < n && p[i] >= '0' && p[i] <= '9'; i++)
				;
			digits = i - first;
			if (digits == 0 || digits > 15 || (p[first] == '0' && digits > 1))
				return false;
			if (i < n && (p[i] == '.' || p[i] == 'e' || p[i] == 'E'))
				return false;
		} else if (c <= 32) {
			return false;
		} else {
			i++;
		}
	}
	return true;
}

/* Make *buf hold at least need bytes; false when memory runs out. */
static bool grow(char **buf, size_t *cap, size_t need)
{
	size_t ncap = *cap ? *cap : 4096;
	char *nb;

	if (need <= *cap)
		return true;
	while (ncap < need)
		ncap *= 2;
	nb = ncap > (size_t)1 << 30 ? NULL : realloc(*buf, ncap);
	if (!nb)
		return false;
	*buf = nb;
	*cap = ncap;
	return true;
}

size_t pat_render(const char *elem, size_t elem_len, char **buf, size_t *cap)
{
	size_t n = 0;
	cJSON *obj;

	use_cjson();
	/* The common case: the server sent it compact already, as cJSON prints it. */
	if (verbatim(elem, elem_len)) {
		if (!grow(buf, cap, elem_len + 2))
			return 0;
		memcpy(*buf, elem, elem_len);
		(*buf)[elem_len] = '\n';
		(*buf)[elem_len + 1] = '\0';
		return elem_len + 1;
	}
	obj = cJSON_ParseWithLength(elem, elem_len);
	if (!obj || !exact_numbers(obj))
		goto out;
	for (;;) {
		/* cJSON asks for 5 bytes of slack beyond the printed text. */
		if (*cap >= 64 && cJSON_PrintPreallocated(obj, *buf, (int)(*cap - 1), 0)) {
			n = strlen(*buf);
			if (n + 1 < *cap) {
				(*buf)[n++] = '\n';
				(*buf)[n] = '\0';
				break;
			}
			n = 0;
		}
		if (!grow(buf, cap, *cap ? *cap * 2 : 4096))
			break;
	}
out:
	cJSON_Delete(obj);
	return n;
}

size_t pat_render_len(const char *elem, size_t elem_len, char **buf, size_t *cap)
{
	return verbatim(elem, elem_len) ? elem_len + 1 : pat_render(elem, elem_len, buf, cap);
}
