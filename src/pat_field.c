/*
 * pat_field.c - one token object's fields, read with cJSON; see pat_field.h.
 */
#include "pat_field.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#include "timestamp.h"

static const cJSON *item(const cJSON *obj, const char *key)
{
	return cJSON_GetObjectItemCaseSensitive(obj, key);
}

bool pat_get_int(const cJSON *obj, const char *key, int64_t lo, int64_t hi, int64_t *v)
{
	const cJSON *it = item(obj, key);
	double d;

	if (!cJSON_IsNumber(it))
		return false;
	d = it->valuedouble;
	if (d != floor(d) || d < (double)lo || d > (double)hi)
		return false;
	*v = (int64_t)d;
	return true;
}

const char *pat_json_type(const cJSON *it)
{
	if (!it)
		return "missing";
	if (cJSON_IsObject(it))
		return "an object";
	if (cJSON_IsArray(it))
		return "an array";
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

void pat_number_text(double d, char *buf)
{
	if (d == floor(d) && fabs(d) < 1e18)
		snprintf(buf, PAT_NUM_TEXT, "%.0f", d);
	else
		snprintf(buf, PAT_NUM_TEXT, "%.17g", d);
}

/*
 * it's raw text: a string as it is, a finite number exact, else compact JSON
 * as token.json shows it; NULL without memory.
 */
static const char *raw_text(const cJSON *it, struct pat_field_raw *raw)
{
	char *s;

	if (!it)
		return "";
	if (cJSON_IsString(it))
		return it->valuestring;
	/* A number too large for a double is null in token.json (cJSON): so here. */
	if (cJSON_IsNumber(it) && isfinite(it->valuedouble)) {
		s = raw->num[raw->nnum++];
		pat_number_text(it->valuedouble, s);
		return s;
	}
	s = cJSON_PrintUnformatted(it);
	if (s)
		raw->printed[raw->nprinted++] = s;
	return s;
}

/*
 * Field `field` (value it) is not `want`: flag it with bit in p, describe
 * it in raw, and point *text at its raw text.  False when memory runs out.
 */
static bool unreadable(struct pat *p, struct pat_field_raw *raw, unsigned bit,
		       const char *field, const cJSON *it, const char *want, const char **text)
{
	p->problems |= bit;
	raw->bad[raw->nbad++] = (struct pat_bad){ field, pat_json_type(it), want };
	*text = raw_text(it, raw);
	return *text != NULL;
}

/* it as a string, or NULL. */
static const char *str_of(const cJSON *it)
{
	return cJSON_IsString(it) ? it->valuestring : NULL;
}

/* Field key of obj as a timestamp: its text in *text, its instant in *ts. */
static bool read_time(struct pat *p, struct pat_field_raw *raw, unsigned bit,
		      const cJSON *obj, const char *key, const char **text,
		      struct timespec *ts)
{
	const cJSON *it = item(obj, key);

	if ((*text = str_of(it)) && ts_parse(*text, ts))
		return true;
	return unreadable(p, raw, bit, key, it, "an ISO 8601 timestamp", text);
}

bool pat_read_fields(const cJSON *obj, struct pat *p, struct pat_field_raw *raw)
{
	const cJSON *it = item(obj, "Name"), *user;

	if (!(p->name = str_of(it)) &&
	    !unreadable(p, raw, PAT_NAME, "Name", it, "a string", &p->name))
		return false;
	if (!read_time(p, raw, PAT_CREATED_ON, obj, "CreatedOn", &p->created_on, &p->created) ||
	    !read_time(p, raw, PAT_EXPIRY, obj, "Expiry", &p->expiry, &p->expires))
		return false;
	it = item(obj, "ExpiryReminderState");
	if (!pat_get_int(obj, "ExpiryReminderState", INT32_MIN, INT32_MAX, &p->reminder_state) &&
	    !unreadable(p, raw, PAT_REMINDER, "ExpiryReminderState", it, "a 32-bit integer",
			&p->reminder_raw))
		return false;
	user = item(obj, "UserID");
	if (!cJSON_IsObject(user))
		return unreadable(p, raw, PAT_USER_ID, "UserID", user, "an object", &p->user_id);
	it = item(user, "IDString");
	if (!(p->user_id = str_of(it)))
		return unreadable(p, raw, PAT_USER_ID, "UserID.IDString", it, "a string",
				  &p->user_id);
	return true;
}

void pat_field_free(struct pat_field_raw *raw)
{
	for (size_t i = 0; i < raw->nprinted; i++)
		cJSON_free(raw->printed[i]);
	raw->nprinted = 0;
}
