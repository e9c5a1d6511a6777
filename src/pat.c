/*
 * pat.c - JSON to struct pat with cJSON; see pat.h.
 */
#include "pat.h"

#include <cJSON.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "timestamp.h"

/* Append one warning line to l->warnings, keeping what already fits. */
static void warn(struct pat_list *l, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
static void warn(struct pat_list *l, const char *fmt, ...)
{
	size_t used = strlen(l->warnings);
	va_list ap;

	l->skipped++;
	if (used + 2 >= sizeof(l->warnings))
		return;
	if (used)
		l->warnings[used++] = '\n';
	va_start(ap, fmt);
	vsnprintf(l->warnings + used, sizeof(l->warnings) - used, fmt, ap);
	va_end(ap);
}

/* An integral JSON number within [lo, hi], stored in *v. */
static int get_int(const cJSON *obj, const char *key, int64_t lo, int64_t hi, int64_t *v)
{
	const cJSON *it = cJSON_GetObjectItemCaseSensitive(obj, key);
	double d;

	if (!cJSON_IsNumber(it))
		return 0;
	d = it->valuedouble;
	if (d != floor(d) || d < (double)lo || d > (double)hi)
		return 0;
	*v = (int64_t)d;
	return 1;
}

static const char *get_str(const cJSON *obj, const char *key)
{
	const cJSON *it = cJSON_GetObjectItemCaseSensitive(obj, key);

	return cJSON_IsString(it) ? it->valuestring : NULL;
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
	char num[64];
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
		if (d == floor(d) && fabs(d) < 1e18)
			snprintf(num, sizeof(num), "%.0f", d);
		else
			snprintf(num, sizeof(num), "%.17g", d);
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

/* Fill *p from obj; on a bad field return its name, else NULL. */
static const char *parse_one(const cJSON *obj, struct pat *p)
{
	const cJSON *user;

	p->obj = obj;
	if (!get_int(obj, "ID", 0, PAT_ID_MAX, &p->id))
		return "ID";
	if (!(p->name = get_str(obj, "Name")))
		return "Name";
	if (!(p->created_on = get_str(obj, "CreatedOn")) ||
	    !ts_parse(p->created_on, &p->created))
		return "CreatedOn";
	if (!(p->expiry = get_str(obj, "Expiry")) || !ts_parse(p->expiry, &p->expires))
		return "Expiry";
	if (!get_int(obj, "ExpiryReminderState", INT32_MIN, INT32_MAX, &p->reminder_state))
		return "ExpiryReminderState";
	user = cJSON_GetObjectItemCaseSensitive(obj, "UserID");
	if (!cJSON_IsObject(user) || !(p->user_id = get_str(user, "IDString")))
		return "UserID.IDString";
	return NULL;
}

/* Order by ID, then by position in the body, so that the first one wins. */
static int cmp_id_pos(const void *a, const void *b)
{
	const struct pat *x = a, *y = b;

	if (x->id != y->id)
		return x->id < y->id ? -1 : 1;
	return x->index < y->index ? -1 : x->index > y->index;
}

static const char *json_type_name(const cJSON *it)
{
	if (cJSON_IsObject(it))
		return "an object";
	if (cJSON_IsString(it))
		return "a string";
	if (cJSON_IsNumber(it))
		return "a number";
	if (cJSON_IsBool(it))
		return "a boolean";
	if (cJSON_IsNull(it))
		return "null";
	return "something else";
}

enum err_kind pat_parse(const char *body, size_t len, struct pat_list *out,
			struct err *e)
{
	const char *end = NULL;
	cJSON *doc, *it;
	size_t n = 0, w = 0;
	int pos = 0;

	memset(out, 0, sizeof(*out));
	doc = cJSON_ParseWithLengthOpts(body, len, &end, 0);
	if (!doc)
		return err_set(e, ERR_PROTO, "malformed JSON at byte %zu of %zu",
			       end && end >= body ? (size_t)(end - body) : (size_t)0, len);
	out->doc = doc;
	for (; end && (size_t)(end - body) < len; end++)
		if (*end != ' ' && *end != '\t' && *end != '\r' && *end != '\n')
			return err_set(e, ERR_PROTO, "unexpected data after the JSON value at byte %zu",
				       (size_t)(end - body));
	if (!cJSON_IsArray(doc))
		return err_set(e, ERR_PROTO, "expected a JSON array of tokens, got %s",
			       json_type_name(doc));
	cJSON_ArrayForEach(it, doc)
		n++;
	out->v = calloc(n ? n : 1, sizeof(*out->v));
	if (!out->v)
		return err_set(e, ERR_NOMEM, "out of memory for %zu tokens", n);
	cJSON_ArrayForEach(it, doc) {
		struct pat *p = &out->v[out->n];
		const char *bad;

		pos++;
		p->index = (size_t)pos - 1;
		if (!cJSON_IsObject(it)) {
			warn(out, "token #%d skipped: %s, not an object", pos, json_type_name(it));
			continue;
		}
		bad = parse_one(it, p);
		if (!bad && !exact_numbers(it))
			return err_set(e, ERR_NOMEM, "out of memory for token #%d", pos);
		if (bad) {
			int64_t id;

			if (get_int(it, "ID", 0, PAT_ID_MAX, &id))
				warn(out, "token ID %lld skipped: field %s is missing or invalid",
				     (long long)id, bad);
			else
				warn(out, "token #%d skipped: field ID is missing or invalid", pos);
			continue;
		}
		out->n++;
	}
	qsort(out->v, out->n, sizeof(*out->v), cmp_id_pos);
	for (size_t r = 0; r < out->n; r++) {
		if (w > 0 && out->v[w - 1].id == out->v[r].id) {
			warn(out, "token ID %lld skipped: the ID appears more than once; the first is kept",
			     (long long)out->v[r].id);
			continue;
		}
		out->v[w++] = out->v[r];
	}
	out->n = w;
	err_clear(e);
	return ERR_OK;
}

size_t pat_render(const struct pat *p, char **buf, size_t *cap)
{
	cJSON *obj = (cJSON *)p->obj;

	for (;;) {
		/* cJSON asks for 5 bytes of slack beyond the printed text. */
		if (*cap >= 64 && cJSON_PrintPreallocated(obj, *buf, (int)(*cap - 1), 0)) {
			size_t n = strlen(*buf);

			if (n + 1 < *cap) {
				(*buf)[n++] = '\n';
				(*buf)[n] = '\0';
				return n;
			}
		}
		size_t ncap = *cap ? *cap * 2 : 4096;
		char *nb = ncap > (size_t)1 << 30 ? NULL : realloc(*buf, ncap);

		if (!nb)
			return 0;
		*buf = nb;
		*cap = ncap;
	}
}

void pat_list_free(struct pat_list *l)
{
	if (!l)
		return;
	cJSON_Delete(l->doc);
	free(l->v);
	memset(l, 0, sizeof(*l));
}
