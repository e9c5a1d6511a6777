/*
 * pat_field.h - reading the fields of one token object, inside the pat
 * module (the only other file that may include it is pat.c).  A field that
 * cannot be read does not cost the token its place: its raw text is kept
 * and the field is flagged.
 *
 * Owns: one object's fields read into a struct pat, and why one failed.
 * Must not touch: the array around the object, the report (pat.c's).
 *
 *   {"ID":7,"Name":"ci","Expiry":"/Date(1798761600000)/",...}
 *   -> id 7, name "ci", expiry "/Date(1798761600000)/", problems PAT_EXPIRY,
 *      expires {0, 0}, and bad[0] = { "Expiry", "a string",
 *      "an ISO 8601 timestamp" }
 */
#ifndef SYNERGYFS_PAT_FIELD_H
#define SYNERGYFS_PAT_FIELD_H

#include <cJSON.h>
#include <stdbool.h>
#include <stdint.h>

#include "pat.h"

/* Room for the text of any JSON number, as pat_number_text writes it. */
#define PAT_NUM_TEXT 32

/* One field that could not be read: "Expiry", "a number", "an ISO 8601 timestamp". */
struct pat_bad {
	const char *field; /* its key, "UserID.IDString" for the nested one */
	const char *got;   /* what the value is: json_type_name's words, or "missing" */
	const char *want;  /* what was expected instead */
};

/*
 * What pat_read_fields found wrong, and the raw texts it had to print for
 * values that are not strings: they live until pat_field_free.  Start it
 * zeroed.
 */
struct pat_field_raw {
	struct pat_bad bad[PAT_NFIELDS];
	size_t nbad;
	char num[PAT_NFIELDS][PAT_NUM_TEXT]; /* numbers, exact */
	char *printed[PAT_NFIELDS];          /* anything else, from cJSON_PrintUnformatted */
	size_t nnum, nprinted;
};

/*
 * Fill every field of *p but the ID (and the places) from obj, a JSON
 * object; *p starts zeroed.  A field that cannot be read gets its raw text
 * (a string as it is, another value as compact JSON, "" when missing), its
 * bit in p->problems, its parsed value left 0, and an entry in raw->bad.
 * p's strings point into obj or raw.  False when memory runs out.
 */
bool pat_read_fields(const cJSON *obj, struct pat *p, struct pat_field_raw *raw);

/* Free what pat_read_fields printed into raw. */
void pat_field_free(struct pat_field_raw *raw);

/* An integral JSON number of obj's key within [lo, hi], stored in *v. */
bool pat_get_int(const cJSON *obj, const char *key, int64_t lo, int64_t hi, int64_t *v);

/* "an object", "a string", ... for it; "missing" for NULL. */
const char *pat_json_type(const cJSON *it);

/*
 * d as text that reads back as the same double: "%.0f" for integers below
 * 10^18 (every digit, where cJSON would write 9.00719925474099e+15), else
 * "%.17g".  buf holds PAT_NUM_TEXT bytes.
 */
void pat_number_text(double d, char *buf);

#endif
