/*
 * test_pat.c - unit tests for the JSON model: pat_parse() on the public
 * sample, on bodies that are not a token list, and on token objects with
 * each field missing or wrong (listed, flagged, raw text kept); the array scanner's edge cases; pat_render()
 * of one token from its bytes in the body; the generate-pat body written
 * (pat_generate_body) and the new token read from its answer (pat_secret).
 */
#include <cJSON.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>

#include "buf.h"
#include "check.h"
#include "pat.h"
#include "pat_list.h"
#include "secret.h"

#define GUID "b993c729-bf98-490c-989d-5621e3b48139"
#define USER(n) "{\"_id\":" #n ",\"_server_id\":1,\"_server_guid\":\"" GUID "\",\"IDString\":\"" #n "_1\"}"

/* The two tokens of Synergy's documentation, compact, keys in its order. */
#define SAMPLE_1 "{\"UserID\":" USER(1) ",\"CreatedOn\":\"2025-03-14T10:53:38.823+08:00\"," \
	"\"Expiry\":\"2025-09-10T10:53:38.67+08:00\",\"Name\":\"Teams integ\"," \
	"\"ExpiryReminderState\":0,\"ID\":1}"
#define SAMPLE_2 "{\"UserID\":" USER(1) ",\"CreatedOn\":\"2025-04-30T13:21:44.467+08:00\"," \
	"\"Expiry\":\"2025-05-02T13:21:44.36+08:00\",\"Name\":\"asddadas\"," \
	"\"ExpiryReminderState\":1,\"ID\":2}"
#define SAMPLE "[" SAMPLE_1 "," SAMPLE_2 "]"

/* Render token p of body as token.json. */
static size_t render(const char *body, const struct pat *p, char **buf, size_t *cap)
{
	return pat_render(body + p->elem_off, p->elem_len, buf, cap);
}

/* Parse a NUL-terminated body. */
static enum err_kind parse(const char *body, struct pat_list *l, struct err *e)
{
	return pat_parse(body, strlen(body), l, e);
}

/* The raw JSON of each field of a generated token; NULL leaves it out. */
struct fields {
	const char *id, *name, *created, *expiry, *state, *user;
};

static const struct fields good = {
	"7", "\"name\"", "\"2025-03-14T10:53:38.823+08:00\"",
	"\"2025-09-10T10:53:38.67+08:00\"", "0", USER(1),
};

/* Append printf output to buf (of size cap) at *len. */
static void put(char *buf, size_t cap, size_t *len, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
static void put(char *buf, size_t cap, size_t *len, const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(buf + *len, cap - *len, fmt, ap);
	va_end(ap);
	if (n > 0)
		*len += (size_t)n < cap - *len ? (size_t)n : cap - *len - 1;
}

/* Append one token object made of f's fields. */
static void put_token(struct buf *b, const struct fields *f)
{
	const char *sep = "";

	buf_puts(b, "{");
#define FIELD(key, val) do {						\
	if (val) {							\
		buf_printf(b, "%s\"" key "\":%s", sep, val);		\
		sep = ",";						\
	}								\
} while (0)
	FIELD("ID", f->id);
	FIELD("Name", f->name);
	FIELD("CreatedOn", f->created);
	FIELD("Expiry", f->expiry);
	FIELD("ExpiryReminderState", f->state);
	FIELD("UserID", f->user);
#undef FIELD
	buf_puts(b, "}");
}

/* Append the array of the n token objects made of f[0], f[1], ... */
static void put_tokens(struct buf *b, const struct fields *f, size_t n)
{
	buf_puts(b, "[");
	for (size_t i = 0; i < n; i++) {
		buf_puts(b, i ? "," : "");
		put_token(b, &f[i]);
	}
	buf_puts(b, "]");
}

/* pat_parse of the array put_tokens makes of f[0..n); the body is gone after. */
static enum err_kind parse_tokens(const struct fields *f, size_t n, struct pat_list *l,
				  struct err *e)
{
	struct buf b = { 0 };
	enum err_kind rc;

	put_tokens(&b, f, n);
	if (b.failed) {
		memset(l, 0, sizeof(*l));
		rc = err_set(e, ERR_NOMEM, "out of memory for the test body");
	} else {
		rc = pat_parse(b.p, b.len, l, e);
	}
	free(b.p);
	return rc;
}

/* Token got, every field a parse fills in as want has it. */
static void check_token(const struct pat *got, const struct pat *want)
{
	CHECK_EQ_INT(got->id, want->id);
	CHECK_EQ_STR(got->name, want->name);
	CHECK_EQ_STR(got->created_on, want->created_on);
	CHECK_EQ_STR(got->expiry, want->expiry);
	CHECK_EQ_STR(got->user_id, want->user_id);
	CHECK_EQ_INT(got->reminder_state, want->reminder_state);
	CHECK_EQ_INT(got->created.tv_sec, want->created.tv_sec);
	CHECK_EQ_INT(got->created.tv_nsec, want->created.tv_nsec);
	CHECK_EQ_INT(got->expires.tv_sec, want->expires.tv_sec);
	CHECK_EQ_INT(got->expires.tv_nsec, want->expires.tv_nsec);
	CHECK_EQ_INT(got->elem_off, want->elem_off);
	CHECK_EQ_INT(got->elem_len, want->elem_len);
}

TEST(public_sample)
{
	struct pat_list l;
	struct err e;

	CHECK_EQ_INT(parse(SAMPLE, &l, &e), ERR_OK);
	CHECK_EQ_INT(e.kind, ERR_OK);
	CHECK_EQ_STR(e.msg, "");
	CHECK_EQ_INT(l.n, 2);
	CHECK_EQ_INT(l.report.skipped, 0);
	CHECK_EQ_STR(l.report.warnings, "");
	if (l.n == 2) {
		check_token(&l.v[0], &(struct pat){
			.id = 1, .name = "Teams integ", .user_id = "1_1", .reminder_state = 0,
			.created_on = "2025-03-14T10:53:38.823+08:00", .created = { 1741920818, 823000000 },
			.expiry = "2025-09-10T10:53:38.67+08:00", .expires = { 1757472818, 670000000 },
			.elem_off = 1, .elem_len = strlen(SAMPLE_1) });
		check_token(&l.v[1], &(struct pat){
			.id = 2, .name = "asddadas", .user_id = "1_1", .reminder_state = 1,
			.created_on = "2025-04-30T13:21:44.467+08:00", .created = { 1745990504, 467000000 },
			.expiry = "2025-05-02T13:21:44.36+08:00", .expires = { 1746163304, 360000000 },
			.elem_off = strlen(SAMPLE_1) + 2, .elem_len = strlen(SAMPLE_2) });
	}
	pat_list_free(&l);
	CHECK_EQ_INT(l.n, 0);
	CHECK(l.v == NULL);
	pat_list_free(&l);
	pat_list_free(NULL);
}

/* pat.h: "index: position in the body's array, from 0". */
TEST(index_counts_from_zero)
{
	struct pat_list l;

	CHECK_EQ_INT(parse("[" SAMPLE_2 "," SAMPLE_1 "]", &l, NULL), ERR_OK);
	if (l.n == 2) {
		CHECK_EQ_INT(l.v[0].id, 1);
		CHECK_EQ_INT(l.v[0].index, 1);
		CHECK_EQ_INT(l.v[1].id, 2);
		CHECK_EQ_INT(l.v[1].index, 0);
	}
	pat_list_free(&l);
}

/* A body pat_parse must refuse with ERR_PROTO and a message containing word. */
static void check_refused(const char *file, int line, const char *body, size_t len,
			  const char *word)
{
	struct pat_list l;
	struct err e;
	enum err_kind rc = pat_parse(body, len, &l, &e);

	if (rc != ERR_PROTO || e.kind != ERR_PROTO)
		check_fail(file, line, "rc %d, e.kind %d, want ERR_PROTO", rc, e.kind);
	if (!strstr(e.msg, word))
		check_fail(file, line, "message \"%s\" does not mention \"%s\"", e.msg, word);
	if (l.n != 0 || l.report.skipped != 0)
		check_fail(file, line, "list not empty: n %zu, skipped %zu", l.n, l.report.skipped);
	pat_list_free(&l);
}

#define CHECK_REFUSED(body, word) \
	check_refused(__FILE__, __LINE__, (body), strlen(body), (word))

TEST(not_an_array)
{
	CHECK_REFUSED("{\"Message\":\"not a list\"}", "array");
	CHECK_REFUSED("{\"Message\":\"Authorization has been denied for this request.\"}", "array");
	CHECK_REFUSED(SAMPLE_1, "array");
	CHECK_REFUSED("\"tokens\"", "array");
	CHECK_REFUSED("42", "array");
	CHECK_REFUSED("null", "array");
	CHECK_REFUSED("true", "array");
}

TEST(malformed)
{
	CHECK_REFUSED("[{\"ID\":1,\"Name\":", "malformed");
	CHECK_REFUSED("[", "malformed");
	CHECK_REFUSED("", "malformed");
	CHECK_REFUSED("   ", "malformed");
	CHECK_REFUSED("[1,]", "malformed");
	CHECK_REFUSED("[{\"ID\":1}", "malformed");
	CHECK_REFUSED("<html>Service Unavailable</html>", "malformed");
	/* The length counts, not the NUL: a body cut short is malformed. */
	check_refused(__FILE__, __LINE__, SAMPLE, strlen(SAMPLE) - 1, "malformed");
}

TEST(trailing_garbage)
{
	struct pat_list l;

	CHECK_REFUSED("[] x", "after");
	CHECK_REFUSED("[][]", "after");
	CHECK_REFUSED(SAMPLE "{}", "after");
	CHECK_REFUSED(SAMPLE "\n]", "after");
	check_refused(__FILE__, __LINE__, "[]\0", 3, "after");
	/* Whitespace after the array is fine. */
	CHECK_EQ_INT(parse(SAMPLE " \r\n\t\n", &l, NULL), ERR_OK);
	CHECK_EQ_INT(l.n, 2);
	pat_list_free(&l);
}

TEST(empty_array)
{
	static const char *const bodies[] = { "[]", " [ ] \n", "[\n]" };

	for (size_t i = 0; i < sizeof(bodies) / sizeof(bodies[0]); i++) {
		struct pat_list l;
		struct err e;

		CHECK_EQ_INT(parse(bodies[i], &l, &e), ERR_OK);
		CHECK_EQ_INT(e.kind, ERR_OK);
		CHECK_EQ_INT(l.n, 0);
		CHECK_EQ_INT(l.report.skipped, 0);
		CHECK_EQ_STR(l.report.warnings, "");
		pat_list_free(&l);
	}
}

TEST(non_objects_skipped)
{
	struct pat_list l;
	struct err e;

	CHECK_EQ_INT(parse("[1,\"x\",null,true,[]," SAMPLE_2 ",[" SAMPLE_1 "]]", &l, &e), ERR_OK);
	CHECK_EQ_INT(l.n, 1);
	CHECK_EQ_INT(l.report.skipped, 6);
	if (l.n == 1)
		CHECK_EQ_INT(l.v[0].id, 2);
	CHECK(strstr(l.report.warnings, "not an object") != NULL);
	pat_list_free(&l);
}

/*
 * Parse three tokens, IDs 1, 2, 3, with the field at byte offset off of
 * struct fields of token 2 set to value (raw JSON, or NULL to leave it
 * out).  *l holds the result, which the caller frees.
 */
static bool parse_with_field(size_t off, const char *value, struct pat_list *l)
{
	struct fields f[3] = { good, good, good };
	struct err e;

	f[0].id = "1";
	f[1].id = "2";
	f[2].id = "3";
	*(const char **)((char *)&f[1] + off) = value;
	if (parse_tokens(f, 3, l, &e) == ERR_OK)
		return true;
	check_fail(__FILE__, __LINE__, "%s: parse failed: %s", value ? value : "(missing)", e.msg);
	return false;
}

#define MEMBER(m) offsetof(struct fields, m)

/* Without an ID that reads, an object is skipped, and the warning gives its position. */
TEST(bad_id_skipped)
{
	static const char *const bad[] = {
		NULL, "\"2\"", "null", "true", "2.5", "-1", "-2", "9007199254740994", "1e300", "{}",
	};
	struct pat_list l;

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		if (!parse_with_field(MEMBER(id), bad[i], &l))
			continue;
		CHECK_EQ_INT(l.n, 2);
		CHECK_EQ_INT(l.report.skipped, 1);
		CHECK_EQ_INT(l.report.problems, 0);
		CHECK_EQ_STR(l.report.warnings, "token #2 skipped: field ID is missing or invalid");
		pat_list_free(&l);
	}
}

/*
 * A token is never dropped for a field it cannot read: token 2 is listed,
 * the field flagged, holding its raw text, its parsed value 0, and one
 * warning line names the token, the field and why.
 */
TEST(unreadable_fields_listed)
{
	static const struct {
		size_t off;
		const char *value, *raw;
		unsigned bit;
		const char *warning;
	} cases[] = {
#define W(field, got, want) "token ID 2: field " field " cannot be read: " got \
	" where " want " is expected"
		/* Token 2's field set to value: its raw text, and what the warning says it is. */
#define NAME(value, raw, got) { MEMBER(name), value, raw, PAT_NAME, W("Name", got, "a string") }
#define CREATED(value, raw, got) { MEMBER(created), value, raw, PAT_CREATED_ON, \
	W("CreatedOn", got, "an ISO 8601 timestamp") }
#define EXPIRY(value, raw, got) { MEMBER(expiry), value, raw, PAT_EXPIRY, \
	W("Expiry", got, "an ISO 8601 timestamp") }
#define STATE(value, raw, got) { MEMBER(state), value, raw, PAT_REMINDER, \
	W("ExpiryReminderState", got, "a 32-bit integer") }
#define USER_ID(value, raw, got) { MEMBER(user), value, raw, PAT_USER_ID, \
	W("UserID", got, "an object") }
#define ID_STRING(value, raw, got) { MEMBER(user), value, raw, PAT_USER_ID, \
	W("UserID.IDString", got, "a string") }
		NAME(NULL, "", "missing"),
		NAME("5", "5", "a number"),
		NAME("null", "null", "null"),
		NAME("[\"a\"]", "[\"a\"]", "an array"),
		NAME("{ \"a\" : 1 }", "{\"a\":1}", "an object"),
		CREATED(NULL, "", "missing"),
		CREATED("1741920818", "1741920818", "a number"),
		CREATED("\"yesterday\"", "yesterday", "a string"),
		CREATED("\"2025-02-29T10:53:38.823+08:00\"", "2025-02-29T10:53:38.823+08:00",
			"a string"),
		EXPIRY(NULL, "", "missing"),
		EXPIRY("1798761600000", "1798761600000", "a number"),
		EXPIRY("9007199254740993", "9007199254740992", "a number"),
		EXPIRY("\"\"", "", "a string"),
		EXPIRY("\"2027-01-01\"", "2027-01-01", "a string"),
		EXPIRY("\"\\/Date(1798761600000)\\/\"", "/Date(1798761600000)/", "a string"),
		EXPIRY("\"soon\\nish\"", "soon\nish", "a string"),
		STATE(NULL, "", "missing"),
		STATE("\"0\"", "0", "a string"),
		STATE("0.5", "0.5", "a number"),
		STATE("false", "false", "a boolean"),
		STATE("4294967296", "4294967296", "a number"),
		USER_ID(NULL, "", "missing"),
		USER_ID("\"1_1\"", "1_1", "a string"),
		USER_ID("[\"1_1\"]", "[\"1_1\"]", "an array"),
		ID_STRING("{}", "", "missing"),
		ID_STRING("{\"IDString\":5}", "5", "a number"),
		ID_STRING("{\"IDString\":null}", "null", "null"),
#undef NAME
#undef CREATED
#undef EXPIRY
#undef STATE
#undef USER_ID
#undef ID_STRING
#undef W
	};
	struct pat_list l;

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const struct pat *p;
		const char *got;

		if (!parse_with_field(cases[i].off, cases[i].value, &l))
			continue;
		CHECK_EQ_INT(l.n, 3);
		CHECK_EQ_INT(l.report.skipped, 0);
		CHECK_EQ_INT(l.report.problems, 1);
		CHECK_EQ_STR(l.report.warnings, cases[i].warning);
		if (l.n != 3) {
			pat_list_free(&l);
			continue;
		}
		CHECK_EQ_INT(l.v[0].problems, 0);
		CHECK_EQ_INT(l.v[2].problems, 0);
		p = &l.v[1];
		CHECK_EQ_INT(p->id, 2);
		CHECK_EQ_INT(p->problems, cases[i].bit);
		got = cases[i].bit == PAT_NAME ? p->name :
		      cases[i].bit == PAT_CREATED_ON ? p->created_on :
		      cases[i].bit == PAT_EXPIRY ? p->expiry :
		      cases[i].bit == PAT_REMINDER ? p->reminder_raw : p->user_id;
		CHECK_EQ_STR(got, cases[i].raw);
		/* The parsed value is 0; the others read as usual. */
		CHECK_EQ_INT(p->reminder_state, 0);
		CHECK_EQ_INT(p->created.tv_sec, cases[i].bit == PAT_CREATED_ON ? 0 : 1741920818);
		CHECK_EQ_INT(p->expires.tv_sec, cases[i].bit == PAT_EXPIRY ? 0 : 1757472818);
		CHECK_EQ_INT(p->expires.tv_nsec, cases[i].bit == PAT_EXPIRY ? 0 : 670000000);
		if (cases[i].bit != PAT_REMINDER)
			CHECK(p->reminder_raw == NULL);
		pat_list_free(&l);
	}
}

/* Every field of a token may be unreadable: one line each, one token counted. */
TEST(all_fields_unreadable)
{
	static const char body[] = "[{\"ID\":4,\"Name\":1,\"CreatedOn\":null,"
		"\"Expiry\":\"/Date(1798761600000)/\",\"ExpiryReminderState\":\"x\","
		"\"UserID\":7}]";
	struct pat_list l;

	CHECK_EQ_INT(pat_parse(body, sizeof(body) - 1, &l, NULL), ERR_OK);
	CHECK_EQ_INT(l.n, 1);
	CHECK_EQ_INT(l.report.skipped, 0);
	CHECK_EQ_INT(l.report.problems, 1);
	CHECK_EQ_STR(l.report.warnings,
		     "token ID 4: field Name cannot be read: a number where a string is expected\n"
		     "token ID 4: field CreatedOn cannot be read: null where an ISO 8601 timestamp is expected\n"
		     "token ID 4: field Expiry cannot be read: a string where an ISO 8601 timestamp is expected\n"
		     "token ID 4: field ExpiryReminderState cannot be read: a string where a 32-bit integer is expected\n"
		     "token ID 4: field UserID cannot be read: a number where an object is expected");
	if (l.n == 1) {
		const struct pat *p = &l.v[0];

		CHECK_EQ_INT(p->problems, PAT_NAME | PAT_CREATED_ON | PAT_EXPIRY | PAT_REMINDER |
					  PAT_USER_ID);
		CHECK_EQ_STR(p->name, "1");
		CHECK_EQ_STR(p->created_on, "null");
		CHECK_EQ_STR(p->expiry, "/Date(1798761600000)/");
		CHECK_EQ_STR(p->reminder_raw, "x");
		CHECK_EQ_STR(p->user_id, "7");
	}
	pat_list_free(&l);
}

/* Parse one generated token whose ID field is the raw JSON id. */
static enum err_kind parse_one_id(const char *id, struct pat_list *l)
{
	struct fields f = good;

	f.id = id;
	return parse_tokens(&f, 1, l, NULL);
}

TEST(id_range)
{
	static const struct {
		const char *json;
		int64_t id;
	} ok[] = {
		{ "0", 0 },
		{ "1", 1 },
		{ "2.0", 2 },
		{ "1e3", 1000 },
		{ "2147483648", 2147483648LL },
		{ "9007199254740991", 9007199254740991LL },
	};
	struct pat_list l;

	for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
		CHECK_EQ_INT(parse_one_id(ok[i].json, &l), ERR_OK);
		CHECK_EQ_INT(l.n, 1);
		if (l.n == 1)
			CHECK_EQ_INT(l.v[0].id, ok[i].id);
		pat_list_free(&l);
	}
}

/*
 * 2^53 + 1 is not a double: it reads as 2^53 and would be served under an
 * ID the server never sent.  So 2^53 and above (PAT_ID_MAX is 2^53 - 1)
 * must be skipped.
 */
TEST(id_from_2_53_up)
{
	static const char *const bad[] = { "9007199254740992", "9007199254740993" };
	struct pat_list l;

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		CHECK_EQ_INT(parse_one_id(bad[i], &l), ERR_OK);
		CHECK_EQ_INT(l.n, 0);
		pat_list_free(&l);
	}
}

TEST(duplicates_first_wins)
{
	struct fields f[4] = { good, good, good, good };
	struct pat_list l;

	f[0].id = "5", f[0].name = "\"first\"";
	f[1].id = "3", f[1].name = "\"three\"";
	f[2].id = "5", f[2].name = "\"second\"";
	f[3].id = "5", f[3].name = "\"third\"";
	CHECK_EQ_INT(parse_tokens(f, 4, &l, NULL), ERR_OK);
	CHECK_EQ_INT(l.n, 2);
	CHECK_EQ_INT(l.report.skipped, 2);
	if (l.n == 2) {
		CHECK_EQ_INT(l.v[0].id, 3);
		CHECK_EQ_INT(l.v[1].id, 5);
		CHECK_EQ_STR(l.v[1].name, "first");
	}
	CHECK(strstr(l.report.warnings, "ID 5 ") != NULL);
	CHECK(strstr(l.report.warnings, "more than once") != NULL);
	pat_list_free(&l);
}

/*
 * A token with an unreadable field still claims its ID: the first one is
 * kept, as for any repeat, and the second is skipped.
 */
/* Parse two tokens with ID 5 named first and second (raw JSON, NULL: no Name). */
static enum err_kind parse_two_fives(const char *first, const char *second, struct pat_list *l)
{
	struct fields f[2] = { good, good };

	f[0].id = f[1].id = "5";
	f[0].name = first;
	f[1].name = second;
	return parse_tokens(f, 2, l, NULL);
}

TEST(duplicate_after_unreadable)
{
	struct pat_list l;

	CHECK_EQ_INT(parse_two_fives(NULL, "\"valid\"", &l), ERR_OK);
	CHECK_EQ_INT(l.n, 1);
	CHECK_EQ_INT(l.report.skipped, 1);
	CHECK_EQ_INT(l.report.problems, 1);
	if (l.n == 1) {
		CHECK_EQ_STR(l.v[0].name, "");
		CHECK_EQ_INT(l.v[0].problems, PAT_NAME);
	}
	pat_list_free(&l);

	/* The other way round: the repeat dropped is no longer counted as a problem. */
	CHECK_EQ_INT(parse_two_fives("\"valid\"", NULL, &l), ERR_OK);
	CHECK_EQ_INT(l.n, 1);
	CHECK_EQ_INT(l.report.skipped, 1);
	CHECK_EQ_INT(l.report.problems, 0);
	if (l.n == 1)
		CHECK_EQ_STR(l.v[0].name, "valid");
	pat_list_free(&l);
}

TEST(sorted_by_id)
{
	static const char *const ids[] = { "9", "2", "100", "7", "1", "10", "0" };
	static const int64_t want[] = { 0, 1, 2, 7, 9, 10, 100 };
	struct fields f[7];
	struct pat_list l;

	for (size_t i = 0; i < 7; i++) {
		f[i] = good;
		f[i].id = ids[i];
	}
	CHECK_EQ_INT(parse_tokens(f, 7, &l, NULL), ERR_OK);
	CHECK_EQ_INT(l.n, 7);
	for (size_t i = 0; i < l.n && i < 7; i++)
		CHECK_EQ_INT(l.v[i].id, want[i]);
	pat_list_free(&l);
}

/* Many bad tokens: every one is counted, the warnings stay bounded. */
TEST(many_warnings)
{
	static struct fields f[300];
	static char ids[300][16];
	struct pat_list l;

	for (int i = 0; i < 300; i++) {
		snprintf(ids[i], sizeof(ids[i]), "%d", i);
		f[i] = good;
		f[i].id = ids[i];
		f[i].name = "17";
	}
	CHECK_EQ_INT(parse_tokens(f, 300, &l, NULL), ERR_OK);
	CHECK_EQ_INT(l.n, 300);
	CHECK_EQ_INT(l.report.skipped, 0);
	CHECK_EQ_INT(l.report.problems, 300);
	CHECK(strlen(l.report.warnings) < sizeof(l.report.warnings));
	CHECK(strncmp(l.report.warnings, "token ID 0: field Name ", 23) == 0);
	pat_list_free(&l);
}

TEST(render_one_line)
{
	struct pat_list l;
	char *buf = NULL;
	size_t cap = 0, n;

	CHECK_EQ_INT(parse(SAMPLE, &l, NULL), ERR_OK);
	if (l.n != 2) {
		CHECK_EQ_INT(l.n, 2);
		pat_list_free(&l);
		return;
	}
	/* The sample is compact already, so rendering gives it back. */
	n = render(SAMPLE, &l.v[0], &buf, &cap);
	CHECK_EQ_INT(n, strlen(SAMPLE_1) + 1);
	CHECK_EQ_MEM(buf, n, SAMPLE_1 "\n", strlen(SAMPLE_1) + 1);
	CHECK(cap > n);
	CHECK_EQ_INT(buf[n], '\0');
	/* The buffer is reused for the next token. */
	n = render(SAMPLE, &l.v[1], &buf, &cap);
	CHECK_EQ_MEM(buf, n, SAMPLE_2 "\n", strlen(SAMPLE_2) + 1);
	pat_list_free(&l);
	free(buf);
}

TEST(render_escapes_and_grows)
{
	struct pat_list l;
	size_t cap = 8, n;
	char *buf = malloc(cap), *body;
	struct buf b = { 0 };
	struct fields f[2] = { good, good };
	char name[12000];

	/* A name with a newline, a quote and a backslash, and a long one. */
	memset(name, 'x', sizeof(name));
	name[0] = '"';
	name[sizeof(name) - 2] = '"';
	name[sizeof(name) - 1] = '\0';
	f[0].id = "1", f[0].name = "\"line\\nbreak \\\"quoted\\\" back\\\\slash\"";
	f[1].id = "2", f[1].name = name;
	put_tokens(&b, f, 2);
	body = b.p;
	if (!buf || b.failed) {
		CHECK(buf && !b.failed);
		free(buf);
		free(body);
		return;
	}
	CHECK_EQ_INT(pat_parse(body, b.len, &l, NULL), ERR_OK);
	CHECK_EQ_INT(l.n, 2);
	if (l.n == 2) {
		CHECK_EQ_STR(l.v[0].name, "line\nbreak \"quoted\" back\\slash");
		n = render(body, &l.v[0], &buf, &cap);
		CHECK(n > 0 && buf[n - 1] == '\n');
		CHECK(memchr(buf, '\n', n) == buf + n - 1);
		CHECK(strstr(buf, "\"Name\":\"line\\nbreak \\\"quoted\\\" back\\\\slash\"") != NULL);
		n = render(body, &l.v[1], &buf, &cap);
		CHECK(n > sizeof(name));
		CHECK(cap > n);
		CHECK_EQ_INT(strlen(buf), n);
		CHECK(n > 0 && buf[n - 1] == '\n');
		CHECK(memchr(buf, '\n', n) == buf + n - 1);
	}
	pat_list_free(&l);
	free(buf);
	free(body);
}

TEST(unicode_names)
{
	static const char body[] = "[{\"ID\":3,\"Name\":\"Café ☕ Zürich \xf0\x9f\x98\x80\","
		"\"CreatedOn\":\"2025-06-01T00:00:00Z\",\"Expiry\":\"2025-11-28T00:00:00Z\","
		"\"ExpiryReminderState\":0,\"UserID\":{\"IDString\":\"1_1\"}},"
		"{\"ID\":4,\"Name\":\"Caf\\u00e9 \\u2615 \\ud83d\\ude00\","
		"\"CreatedOn\":\"2025-06-01T00:00:00Z\",\"Expiry\":\"2025-11-28T00:00:00Z\","
		"\"ExpiryReminderState\":0,\"UserID\":{\"IDString\":\"1_1\"}}]";
	struct pat_list l;
	char *buf = NULL;
	size_t cap = 0, n;

	CHECK_EQ_INT(parse(body, &l, NULL), ERR_OK);
	CHECK_EQ_INT(l.n, 2);
	if (l.n == 2) {
		CHECK_EQ_STR(l.v[0].name, "Café ☕ Zürich \xf0\x9f\x98\x80");
		CHECK_EQ_STR(l.v[1].name, "Café ☕ \xf0\x9f\x98\x80");
		n = render(body, &l.v[0], &buf, &cap);
		CHECK(n > 0);
		CHECK(strstr(buf, "\"Name\":\"Café ☕ Zürich \xf0\x9f\x98\x80\"") != NULL);
	}
	pat_list_free(&l);
	free(buf);
}

TEST(ten_thousand_tokens)
{
	const int count = 10000;
	size_t cap = (size_t)count * 300, len = 0;
	char *body = malloc(cap);
	struct pat_list l;
	struct err e;

	if (!body) {
		CHECK(body);
		return;
	}
	put(body, cap, &len, "[");
	for (int i = 0; i < count; i++) {
		/* 7919 is prime, so this visits every ID 1..count once, shuffled. */
		int id = (int)(((long)i * 7919) % count) + 1;

		put(body, cap, &len,
		    "%s{\"UserID\":{\"IDString\":\"%d_1\"},\"CreatedOn\":\"2025-03-14T10:53:38.%03d+08:00\","
		    "\"Expiry\":\"2025-09-10T10:53:38Z\",\"Name\":\"token %d\","
		    "\"ExpiryReminderState\":%d,\"ID\":%d}",
		    i ? "," : "", id % 7, id % 1000, id, id % 3, id);
	}
	put(body, cap, &len, "]");
	CHECK(len < cap - 1);

	CHECK_EQ_INT(pat_parse(body, len, &l, &e), ERR_OK);
	CHECK_EQ_INT(l.n, count);
	CHECK_EQ_INT(l.report.skipped, 0);
	for (size_t i = 0; i < l.n; i++) {
		char name[32], user[16];
		int64_t id = (int64_t)i + 1;
		const struct pat *p = &l.v[i];

		snprintf(name, sizeof(name), "token %" PRId64, id);
		snprintf(user, sizeof(user), "%" PRId64 "_1", id % 7);
		if (p->id != id || strcmp(p->name, name) != 0 || strcmp(p->user_id, user) != 0 ||
		    p->reminder_state != id % 3 || p->created.tv_sec != 1741920818 ||
		    p->created.tv_nsec != (id % 1000) * 1000000) {
			check_fail(__FILE__, __LINE__, "token %zu: ID %" PRId64 ", Name \"%s\"",
				   i, p->id, p->name);
			break;
		}
	}
	pat_list_free(&l);
	free(body);
}

TEST(null_err_allowed)
{
	struct pat_list l;

	CHECK_EQ_INT(parse("{}", &l, NULL), ERR_PROTO);
	pat_list_free(&l);
	CHECK_EQ_INT(parse(SAMPLE, &l, NULL), ERR_OK);
	pat_list_free(&l);
}

/* token.json keeps large IDs exact (cJSON alone would print 9.00719925474099e+15). */
TEST(render_large_numbers_exactly)
{
	static const char body[] = "[{\"ID\":9007199254740991,\"Name\":\"max\","
		"\"CreatedOn\":\"2025-01-01T00:00:00Z\",\"Expiry\":\"2025-01-01T00:00:00Z\","
		"\"ExpiryReminderState\":0,\"UserID\":{\"IDString\":\"1_1\",\"_id\":4294967296},"
		"\"Extra\":[0.1,1e300,-2147483649]}]";
	struct pat_list l;
	char *buf = NULL;
	size_t cap = 0, n;

	CHECK_EQ_INT(pat_parse(body, strlen(body), &l, NULL), ERR_OK);
	CHECK_EQ_INT(l.n, 1);
	if (l.n == 1) {
		n = render(body, &l.v[0], &buf, &cap);
		CHECK(n > 0);
		CHECK(buf && strstr(buf, "\"ID\":9007199254740991"));
		CHECK(buf && strstr(buf, "\"_id\":4294967296"));
		CHECK(buf && strstr(buf, "0.10000000000000001"));
		CHECK(buf && strstr(buf, "-2147483649"));
		CHECK(buf && strstr(buf, "1.0000000000000001e+300"));
	}
	free(buf);
	pat_list_free(&l);
}

/* The rest of a valid token, after its ID. */
#define REST "\"Name\":\"n\",\"CreatedOn\":\"2025-06-01T00:00:00Z\"," \
	"\"Expiry\":\"2025-11-28T00:00:00Z\",\"ExpiryReminderState\":0," \
	"\"UserID\":{\"IDString\":\"1_1\"}"

/* Check that body (len bytes) is refused with exactly the message msg. */
static void check_msg(const char *file, int line, const char *body, size_t len, const char *msg)
{
	struct pat_list l;
	struct err e;

	if (pat_parse(body, len, &l, &e) != ERR_PROTO || strcmp(e.msg, msg) != 0)
		check_fail(file, line, "got \"%s\", want \"%s\"", e.msg, msg);
	if (l.n != 0 || l.report.skipped != 0 || l.report.warnings[0] != '\0')
		check_fail(file, line, "list not empty: n %zu, skipped %zu", l.n, l.report.skipped);
	pat_list_free(&l);
}

#define CHECK_MSG(body, msg) check_msg(__FILE__, __LINE__, (body), sizeof(body) - 1, (msg))

/*
 * The array is read one element at a time, but refused at the very byte a
 * parse of the whole body with cJSON refuses it at (these messages are the
 * ones pat_parse gave when it did that parse).
 */
TEST(scanner_refuses_like_cjson)
{
	CHECK_MSG("[1,]", "malformed JSON at byte 3 of 4");
	CHECK_MSG("[{}{}]", "malformed JSON at byte 3 of 6");
	CHECK_MSG("[", "malformed JSON at byte 0 of 1");
	CHECK_MSG("[{\"a\":1}", "malformed JSON at byte 7 of 8");
	CHECK_MSG("[1,   ", "malformed JSON at byte 5 of 6");
	CHECK_MSG("[1 2]", "malformed JSON at byte 3 of 5");
	CHECK_MSG("[,1]", "malformed JSON at byte 1 of 4");
	CHECK_MSG("[\"abc", "malformed JSON at byte 2 of 5");
	CHECK_MSG("[\"ab\\", "malformed JSON at byte 2 of 5");
	CHECK_MSG("[{\"ID\":1,\"Name\":\"\\q\"}]", "malformed JSON at byte 17 of 22");
	/* A byte order mark counts only before the array, not inside it. */
	CHECK_MSG("[\xEF\xBB\xBF{}, 1]", "malformed JSON at byte 1 of 10");
	CHECK_MSG("[] x", "unexpected data after the JSON value at byte 3");
	CHECK_MSG("[1],", "unexpected data after the JSON value at byte 3");
	CHECK_MSG("[]]", "unexpected data after the JSON value at byte 2");
}

/* What cJSON takes for whitespace (any byte up to 32) may sit between elements. */
TEST(scanner_whitespace_everywhere)
{
	static const char body[] = " \n[ \t{ \"ID\" : 1 , " REST " }\x01\r\n, \x1f {\"ID\":2," REST "}\n]\n ";
	static const char bom[] = "\xEF\xBB\xBF[1]";
	static const char nul[] = "[1,\0 2]";
	struct pat_list l;

	CHECK_EQ_INT(pat_parse(body, sizeof(body) - 1, &l, NULL), ERR_OK);
	CHECK_EQ_INT(l.n, 2);
	if (l.n == 2) {
		CHECK_EQ_INT(l.v[0].elem_off, 5);
		CHECK_EQ_MEM(body + l.v[0].elem_off, l.v[0].elem_len,
			     "{ \"ID\" : 1 , " REST " }", strlen("{ \"ID\" : 1 , " REST " }"));
		CHECK_EQ_MEM(body + l.v[1].elem_off, l.v[1].elem_len,
			     "{\"ID\":2," REST "}", strlen("{\"ID\":2," REST "}"));
	}
	pat_list_free(&l);
	CHECK_EQ_INT(pat_parse(bom, sizeof(bom) - 1, &l, NULL), ERR_OK);
	CHECK_EQ_INT(l.report.skipped, 1);
	pat_list_free(&l);
	CHECK_EQ_INT(pat_parse(nul, sizeof(nul) - 1, &l, NULL), ERR_OK);
	CHECK_EQ_INT(l.report.skipped, 2);
	pat_list_free(&l);
}

/* Brackets, commas and escaped quotes in strings do not end an element. */
TEST(scanner_strings_and_nesting)
{
	static const char body[] = "[{\"ID\":1,\"Name\":\"a],[{\\\"b\\\",}\",\"CreatedOn\":"
		"\"2025-06-01T00:00:00Z\",\"Expiry\":\"2025-11-28T00:00:00Z\","
		"\"ExpiryReminderState\":0,\"UserID\":{\"IDString\":\"1_1\"}},"
		"{\"ID\":2," REST ",\"X\":[[1,{\"a\":[]}],{},\"]\"]},[\"}\",[]]]";
	struct pat_list l;

	CHECK_EQ_INT(pat_parse(body, sizeof(body) - 1, &l, NULL), ERR_OK);
	CHECK_EQ_INT(l.n, 2);
	CHECK_EQ_INT(l.report.skipped, 1);
	if (l.n == 2) {
		CHECK_EQ_STR(l.v[0].name, "a],[{\"b\",}");
		CHECK_EQ_INT(body[l.v[0].elem_off + l.v[0].elem_len], ',');
		CHECK_EQ_INT(l.v[1].index, 1);
		CHECK_EQ_MEM(body + l.v[1].elem_off + l.v[1].elem_len - 2, 2, "]}", 2);
	}
	pat_list_free(&l);
}

/*
 * cJSON refuses an array nested 1000 deep, the body's own array included:
 * an element may nest 999 levels, not 1000, although cJSON would take 1000
 * from the element alone.
 */
TEST(scanner_nesting_limit)
{
	size_t n = 2 * 1001 + 2, k = 0;
	char *body = malloc(n);
	struct pat_list l;
	struct err e;

	if (!body) {
		CHECK(body);
		return;
	}
	body[k++] = '[';
	for (int i = 0; i < 999; i++)
		body[k++] = '[';
	for (int i = 0; i < 999; i++)
		body[k++] = ']';
	body[k++] = ']';
	CHECK_EQ_INT(pat_parse(body, k, &l, NULL), ERR_OK);
	CHECK_EQ_INT(l.report.skipped, 1);
	pat_list_free(&l);

	k = 0;
	body[k++] = '[';
	for (int i = 0; i < 1000; i++)
		body[k++] = '[';
	for (int i = 0; i < 1000; i++)
		body[k++] = ']';
	body[k++] = ']';
	CHECK_EQ_INT(pat_parse(body, k, &l, &e), ERR_PROTO);
	CHECK_EQ_STR(e.msg, "malformed JSON at byte 1000 of 2002");
	pat_list_free(&l);
	/* An error before the level too deep is the one reported. */
	memcpy(body + 1, "[1 ", 3);
	CHECK_EQ_INT(pat_parse(body, k, &l, &e), ERR_PROTO);
	CHECK_EQ_STR(e.msg, "malformed JSON at byte 4 of 2002");
	pat_list_free(&l);
	free(body);
}

/*
 * Elements whose trees outgrow the walk's scratch block (a 40,000-byte
 * name; 600 extra fields) are parsed from malloc past it, and freed so:
 * the tokens around them come out whole (ASan and valgrind see the frees).
 */
TEST(elements_past_the_scratch_block)
{
	struct buf b = { 0 };
	struct pat_list l;
	struct err e;

	buf_puts(&b, "[" SAMPLE_1 ",{\"UserID\":" USER(2) ",\"CreatedOn\":\"2025-01-01T00:00:00Z\","
		 "\"Expiry\":\"2030-01-01T00:00:00Z\",\"ExpiryReminderState\":0,\"ID\":7,\"Name\":\"");
	for (int i = 0; i < 40000; i++)
		buf_add(&b, i % 100 == 99 ? "\\n" : "n", i % 100 == 99 ? 2 : 1);
	buf_puts(&b, "\"},{\"UserID\":" USER(3) ",\"CreatedOn\":\"2025-01-01T00:00:00Z\","
		 "\"Expiry\":\"2030-01-01T00:00:00Z\",\"ExpiryReminderState\":2,\"ID\":8,"
		 "\"Name\":\"wide\"");
	for (int i = 0; i < 600; i++)
		buf_printf(&b, ",\"extra field %d\":[%d,\"%d\"]", i, i, i);
	buf_puts(&b, "}," SAMPLE_2 "]");
	if (b.failed) {
		CHECK(!b.failed);
		free(b.p);
		return;
	}
	CHECK_EQ_INT(pat_parse(b.p, b.len, &l, &e), ERR_OK);
	CHECK_EQ_INT(l.n, 4);
	if (l.n == 4) {
		size_t n = strlen(l.v[2].name);

		CHECK_EQ_INT(l.v[0].id, 1);
		CHECK_EQ_STR(l.v[0].name, "Teams integ");
		CHECK_EQ_INT(l.v[1].id, 2);
		CHECK_EQ_STR(l.v[1].name, "asddadas");
		CHECK_EQ_INT(l.v[2].id, 7);
		CHECK_EQ_INT(n, 40000);
		CHECK(n == 40000 && l.v[2].name[98] == 'n' && l.v[2].name[99] == '\n' &&
		      l.v[2].name[39999] == '\n');
		CHECK_EQ_INT(l.v[3].id, 8);
		CHECK_EQ_STR(l.v[3].name, "wide");
		CHECK_EQ_INT(l.v[3].reminder_state, 2);
		CHECK_EQ_STR(l.v[3].user_id, "3_1");
	}
	pat_list_free(&l);
	free(b.p);
}

/*
 * token.json rendered on demand from the token's bytes is what rendering
 * the parsed object gave (these lines are what pat_render printed when it
 * kept the whole document): whitespace dropped, escapes normalised,
 * numbers exact.  The compact case comes back byte for byte.
 */
TEST(render_on_demand_as_before)
{
	static const struct {
		const char *body, *want;
	} cases[] = {
		{ "[{ \"ID\" : 1 ,\n" REST " }]", "{\"ID\":1," REST "}\n" },
		{ "[{\"ID\":1," REST ",\"X\":[[1,{\"a\":[]}],{},\"]\"]}]",
		  "{\"ID\":1," REST ",\"X\":[[1,{\"a\":[]}],{},\"]\"]}\n" },
		{ "[{\"ID\":1," REST ",\"X\":[1.0,1e3,0.1,1e300,-0,4294967296,12345678901234567,"
		  "-2147483649,007,1E2,-5,999999999999999]}]",
		  "{\"ID\":1," REST ",\"X\":[1,1000,0.10000000000000001,1.0000000000000001e+300,-0,"
		  "4294967296,12345678901234568,-2147483649,7,100,-5,999999999999999]}\n" },
		{ "[{\"ID\":1," REST ",\"X\":\"\\/ \\u00e9 \\t \\\" \\\\ \\u0001 \\b\"}]",
		  "{\"ID\":1," REST ",\"X\":\"/ é \\t \\\" \\\\ \\u0001 \\b\"}\n" },
		{ "[{\"ID\":1,\"Name\":\"a],[{\\\"b\\\",}\",\"CreatedOn\":\"2025-06-01T00:00:00Z\","
		  "\"Expiry\":\"2025-11-28T00:00:00Z\",\"ExpiryReminderState\":0,"
		  "\"UserID\":{\"IDString\":\"1_1\"}}]",
		  "{\"ID\":1,\"Name\":\"a],[{\\\"b\\\",}\",\"CreatedOn\":\"2025-06-01T00:00:00Z\","
		  "\"Expiry\":\"2025-11-28T00:00:00Z\",\"ExpiryReminderState\":0,"
		  "\"UserID\":{\"IDString\":\"1_1\"}}\n" },
	};
	char *buf = NULL;
	size_t cap = 0;

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct pat_list l;
		size_t n;

		CHECK_EQ_INT(parse(cases[i].body, &l, NULL), ERR_OK);
		CHECK_EQ_INT(l.n, 1);
		if (l.n == 1) {
			n = render(cases[i].body, &l.v[0], &buf, &cap);
			CHECK_EQ_MEM(buf, n, cases[i].want, strlen(cases[i].want));
			CHECK_EQ_INT(buf[n], '\0');
		}
		pat_list_free(&l);
	}
	free(buf);
}

/* Every token pat_each hands over, one line each, for comparing two readings. */
struct seen {
	FILE *f;
	char *text;
	size_t len;
};

static void seen_open(struct seen *s)
{
	s->text = NULL;
	s->f = open_memstream(&s->text, &s->len);
}

static const char *seen_close(struct seen *s)
{
	if (s->f)
		fclose(s->f);
	s->f = NULL;
	return s->text ? s->text : "";
}

static bool see(void *ctx, const struct pat *p)
{
	struct seen *s = ctx;

	fprintf(s->f, "#%zu @%zu+%zu ID %" PRId64 " %s|%s|%s|%s %" PRId64 " %lld.%09ld\n",
		p->index, p->elem_off, p->elem_len, p->id, p->name, p->created_on, p->expiry,
		p->user_id, p->reminder_state, (long long)p->expires.tv_sec, p->expires.tv_nsec);
	return true;
}

/*
 * pat_each_cut with this cut agrees with pat_each on body: the same tokens
 * in the same order, the same report, the same error.  Returns *second.
 */
static bool cut_agrees(const char *file, int line, const char *body, size_t len,
		       struct pat_cut cut)
{
	struct seen one, two[2];
	void *const ctx[2] = { &two[0], &two[1] };
	struct pat_report r1, r2;
	struct err e1, e2;
	enum err_kind rc1, rc2;
	bool second;
	char *both;

	seen_open(&one);
	seen_open(&two[0]);
	seen_open(&two[1]);
	rc1 = pat_each(body, len, see, &one, &r1, &e1);
	rc2 = pat_each_cut(body, len, cut, see, ctx, &second, &r2, &e2);
	seen_close(&one);
	seen_close(&two[0]);
	seen_close(&two[1]);
	if (asprintf(&both, "%s%s", two[0].text, second ? two[1].text : "") < 0)
		both = NULL;
	if (rc1 != rc2 || strcmp(e1.msg, e2.msg) != 0 || r1.skipped != r2.skipped ||
	    strcmp(r1.warnings, r2.warnings) != 0 || !both || strcmp(one.text, both) != 0)
		check_fail(file, line, "cut at byte %zu, element %zu: rc %d/%d \"%s\"/\"%s\", "
			   "skipped %zu/%zu, tokens\n%s---\n%s", cut.off, cut.pos, rc1, rc2,
			   e1.msg, e2.msg, r1.skipped, r2.skipped, one.text, both ? both : "");
	free(both);
	free(one.text);
	free(two[0].text);
	free(two[1].text);
	return second;
}

/* A body with tokens, invalid elements, a repeated ID, and strings that look like elements. */
#define CUT_BODY "[" \
	"{\"ID\":5,\"Name\":\"a},{\\\"b\\\\\",\"CreatedOn\":\"2025-06-01T00:00:00Z\"," \
	"\"Expiry\":\"2025-11-28T00:00:00Z\",\"ExpiryReminderState\":0," \
	"\"UserID\":{\"IDString\":\"1_1\"}}, 17 ,{\"ID\":3," REST ",\"X\":[{},[\",\"]]}," \
	"\n{\"ID\":5," REST "},{\"Name\":\"no ID\"},{\"ID\":9," REST "}]\n"

/*
 * The cut is found where an element begins, whatever the strings hold, and
 * pat_each_cut gives what pat_each gives at any cut, right or wrong.
 */
TEST(cut_any_place_agrees)
{
	static const char body[] = CUT_BODY;
	size_t len = sizeof(body) - 1, used = 0, starts[8], n = 0;
	struct pat_cut cut;

	for (size_t from = 0; from <= len; from++) {
		if (!pat_find_cut(body, len, from, &cut))
			continue;
		CHECK(cut.off >= from && cut.pos >= 1);
		if (n == 0 || starts[n - 1] != cut.off) {
			if (n < 8)
				starts[n++] = cut.off;
		}
		/* The cut found is right: the second thread's part is used. */
		CHECK(cut_agrees(__FILE__, __LINE__, body, len, cut));
	}
	/* Elements 1 to 5 begin after a comma at the array's level, and nowhere else. */
	CHECK_EQ_INT(n, 5);
	for (size_t i = 0; i < n; i++) {
		CHECK(body[starts[i]] == '{' || body[starts[i]] == '1');
		CHECK(pat_find_cut(body, len, starts[i], &cut) && cut.off == starts[i] &&
		      cut.pos == i + 1);
	}
	/* Any other place or number is a wrong cut: noticed, and the result is the same. */
	for (size_t off = 0; off <= len + 1; off++) {
		for (size_t pos = 0; pos < 7; pos++) {
			bool right = false;

			for (size_t i = 0; i < n; i++)
				right |= starts[i] == off && pos == i + 1;
			cut = (struct pat_cut){ off, pos };
			if (cut_agrees(__FILE__, __LINE__, body, len, cut) != right)
				check_fail(__FILE__, __LINE__, "cut at byte %zu, element %zu: "
					   "second part %s", off, pos, right ? "dropped" : "used");
			used += right;
		}
	}
	CHECK_EQ_INT(used, 5);
}

/* An error on either side of the cut is the one pat_each reports, at the same byte. */
TEST(cut_errors_agree)
{
	static const char *const bodies[] = {
		"[{\"ID\":1," REST "},{\"ID\":2," REST "} x,{\"ID\":3," REST "}]",
		"[{\"ID\":1," REST "},{\"ID\":2," REST "},{\"ID\":3," REST "}] x",
		"[{\"ID\":1," REST "},{\"ID\":2," REST "},{\"ID\":3," REST "},]",
		"[{\"ID\":1," REST "},{\"ID\":2," REST "},{\"ID\":3," REST "}",
		"[{\"ID\":1,\"Name\":\"\\q\"},{\"ID\":2," REST "},{\"ID\":3," REST "}]",
		"[{\"ID\":1," REST "},{\"ID\":2," REST "},{\"ID\":3,\"Name\":\"\\q\"}]",
	};

	for (size_t b = 0; b < sizeof(bodies) / sizeof(*bodies); b++) {
		size_t len = strlen(bodies[b]);

		for (size_t off = 0; off <= len; off++) {
			struct pat_cut cut;

			if (pat_find_cut(bodies[b], len, off, &cut))
				cut_agrees(__FILE__, __LINE__, bodies[b], len, cut);
			for (size_t pos = 1; pos < 4; pos++)
				cut_agrees(__FILE__, __LINE__, bodies[b], len,
					   (struct pat_cut){ off, pos });
		}
	}
}

/* Warnings from both parts read as one walk's: in order, cut to the same length. */
TEST(cut_many_warnings)
{
	size_t cap = 64 * 1024, len = 0;
	char *body = malloc(cap);
	struct pat_cut cut;

	if (!body) {
		CHECK(body);
		return;
	}
	put(body, cap, &len, "[");
	for (int i = 0; i < 200; i++)
		put(body, cap, &len, "%s{\"ID\":%d%s}", i ? "," : "", i, i % 3 ? ",\"Name\":1" : "," REST);
	put(body, cap, &len, "]");
	for (size_t from = 1; from < len; from += 97) {
		if (!pat_find_cut(body, len, from, &cut))
			continue;
		CHECK(cut_agrees(__FILE__, __LINE__, body, len, cut));
	}
	free(body);
}

/* No place to cut: one element, none, or no array at all. */
TEST(cut_none)
{
	struct pat_cut cut;

	CHECK(!pat_find_cut("[]", 2, 0, &cut));
	CHECK(!pat_find_cut("[{\"a\":[1,2],\"b\":\",\"}]", 20, 0, &cut));
	CHECK(!pat_find_cut("{\"a\":1,\"b\":2}", 13, 0, &cut));
	CHECK(!pat_find_cut("[1,2]", 5, 4, &cut));
	CHECK(pat_find_cut("[1,2]", 5, 3, &cut) && cut.off == 3 && cut.pos == 1);
	CHECK(pat_find_cut("\xEF\xBB\xBF [1, \n2]", 12, 0, &cut) && cut.off == 9 && cut.pos == 1);
}

/* The body as the API documents it, byte for byte. */
TEST(generate_body_plain)
{
	char *b = pat_generate_body("app", "ci", 30);

	CHECK_EQ_STR(b, "{\"ClientId\":\"app\",\"Name\":\"ci\",\"ExpireInDays\":30}");
	free(b);
	b = pat_generate_body("", "", 0);
	CHECK_EQ_STR(b, "{\"ClientId\":\"\",\"Name\":\"\",\"ExpireInDays\":0}");
	free(b);
	b = pat_generate_body("c", "n", -1);
	CHECK_EQ_STR(b, "{\"ClientId\":\"c\",\"Name\":\"n\",\"ExpireInDays\":-1}");
	free(b);
}

/* body, parsed by cJSON, has exactly these three fields. */
static void check_body_fields(const char *file, int line, const char *body, const char *client,
			      const char *name, double days)
{
	cJSON *j = body ? cJSON_Parse(body) : NULL;
	const cJSON *c = cJSON_GetObjectItemCaseSensitive(j, "ClientId");
	const cJSON *n = cJSON_GetObjectItemCaseSensitive(j, "Name");
	const cJSON *d = cJSON_GetObjectItemCaseSensitive(j, "ExpireInDays");

	check_made++;
	if (!cJSON_IsObject(j) || cJSON_GetArraySize(j) != 3 || !cJSON_IsString(c) ||
	    !cJSON_IsString(n) || !cJSON_IsNumber(d) || strcmp(c->valuestring, client) != 0 ||
	    strcmp(n->valuestring, name) != 0 || d->valuedouble != days)
		check_fail(file, line, "body %s does not parse back to %s / %s / %g",
			   body ? body : "NULL", client, name, days);
	cJSON_Delete(j);
}

/* Quotes, backslashes, control characters, '/' and UTF-8 all come back as they went in. */
TEST(generate_body_escapes)
{
	static const struct {
		const char *client, *name, *expect; /* expect: the Name as written, or NULL */
	} cases[] = {
		{ "app", "say \"hi\"", "\"say \\\"hi\\\"\"" },
		{ "app", "back\\slash", "\"back\\\\slash\"" },
		{ "app", "ci/cd deploy", "\"ci/cd deploy\"" },
		{ "app", "Caf\xc3\xa9 \xe2\x98\x95 Z\xc3\xbcrich", "\"Caf\xc3\xa9 \xe2\x98\x95 Z\xc3\xbcrich\"" },
		{ "app", "tab\there\nnl\x01\x1f", "\"tab\\u0009here\\u000anl\\u0001\\u001f\"" },
		{ "a\"b\\c/d", "\xf0\x9f\x94\x91 key", NULL },
		{ "app", "\x7f del", "\"\x7f del\"" },
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char *b = pat_generate_body(cases[i].client, cases[i].name, 180);

		check_body_fields(__FILE__, __LINE__, b, cases[i].client, cases[i].name, 180);
		if (b && cases[i].expect)
			CHECK(strstr(b, cases[i].expect) != NULL);
		free(b);
	}
}

/* A long name: the buffer is sized for the worst case, every byte escaped. */
TEST(generate_body_long_name)
{
	char name[3001];
	char *b;

	for (size_t i = 0; i < sizeof(name) - 1; i++)
		name[i] = "\"\\\x01/"[i % 4];
	name[sizeof(name) - 1] = '\0';
	b = pat_generate_body(name, name, 2147483648L);
	check_body_fields(__FILE__, __LINE__, b, name, name, 2147483648.0);
	CHECK(b && strstr(b, "\"ExpireInDays\":2147483648}") != NULL);
	free(b);
}

/* pat_secret on a NUL-terminated answer: the token, or NULL with *kind. */
static struct secret *secret_of(const char *answer, enum err_kind *kind, struct err *e)
{
	struct secret *s = (struct secret *)1;

	err_clear(e);
	*kind = pat_secret(answer, strlen(answer), &s, e);
	return s;
}

TEST(secret_good)
{
	static const struct {
		const char *answer, *token;
	} cases[] = {
		{ "\"PGWLLRftXBCu366UEvRZm085J90Bh-puXP2txHt3Kdg\"",
		  "PGWLLRftXBCu366UEvRZm085J90Bh-puXP2txHt3Kdg" },
		{ "\"abc\"\n", "abc" },
		{ " \t\r\n\"abc\" \t\r\n", "abc" },
		{ "\"ab\\u002fc\"", "ab/c" },
		{ "\"ab\\/c\"", "ab/c" },
		{ "\"\\u0041\\u007E\\u007e\"", "A~~" },
		{ "\"q\\\"b\\\\s\"", "q\"b\\s" },
		{ "\"x\"", "x" },
		{ "\"a+b=\"", "a+b=" },
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct err e;
		enum err_kind k;
		struct secret *s = secret_of(cases[i].answer, &k, &e);

		CHECK_EQ_INT(k, ERR_OK);
		CHECK(s != NULL);
		if (k != ERR_OK || !s) {
			printf("# answer %zu: %s\n", i, e.msg);
			continue;
		}
		CHECK_EQ_STR(secret_data(s), cases[i].token);
		CHECK_EQ_INT(secret_len(s), strlen(cases[i].token));
		secret_free(s);
	}
}

/* Not a string, or not a usable token: ERR_PROTO, and the message quotes none of it. */
TEST(secret_refused)
{
	static const char *const answers[] = {
		"",                         /* empty body */
		" \n ",                     /* only whitespace */
		"\"\"",                     /* empty string */
		"{\"Token\":\"QZXW\"}",     /* object */
		"[\"QZXW\"]",               /* array */
		"12345",                    /* number */
		"null",                     /* null */
		"true",                     /* boolean */
		"QZXW",                     /* not JSON */
		"\"QZXW",                   /* truncated */
		"\"QZXW\\",                 /* truncated in an escape */
		"\"QZXW\\u00",              /* truncated in a \u escape */
		"\"QZXW\" x",               /* more after it */
		"\"QZXW\"\"QZXW\"",         /* two strings */
		"\"QZXW\"\x0b",             /* not JSON whitespace after */
		"\"QZ\x01XW\"",             /* raw control character */
		"\"QZ\tXW\"",               /* raw tab */
		"\"QZ\\nXW\"",              /* escaped newline */
		"\"QZ\\u0007XW\"",          /* escaped bell */
		"\"QZ\\u0000XW\"",          /* escaped NUL */
		"\"QZ XW\"",                /* space */
		"\"QZ\x7fXW\"",             /* DEL */
		"\"QZ\xc3\xa9XW\"",         /* UTF-8 */
		"\"QZ\\u00e9XW\"",          /* escaped non-ASCII */
		"\"QZ\\ud83d\\udd11XW\"",   /* surrogate pair */
		"\"QZ\\xXW\"",              /* invalid escape */
		"\"QZ\\u12G4XW\"",          /* bad hex */
		"\xef\xbb\xbf\"QZXW\"",     /* byte order mark */
	};

	for (size_t i = 0; i < sizeof(answers) / sizeof(answers[0]); i++) {
		struct err e;
		enum err_kind k;
		struct secret *s = secret_of(answers[i], &k, &e);

		CHECK_EQ_INT(k, ERR_PROTO);
		CHECK(s == NULL);
		CHECK(e.kind == ERR_PROTO && e.msg[0] != '\0');
		CHECK(strstr(e.msg, "QZ") == NULL && strchr(e.msg, '\n') == NULL);
		if (k != ERR_PROTO)
			printf("# answer %zu accepted\n", i);
		secret_free(s);
	}
}

/* A token of PAT_SECRET_MAX bytes is taken, one byte more is not. */
TEST(secret_longest)
{
	char *body = malloc(PAT_SECRET_MAX + 4);
	struct secret *s = NULL;
	struct err e;

	if (!body)
		return;
	body[0] = '"';
	memset(body + 1, 'a', PAT_SECRET_MAX + 1);
	body[PAT_SECRET_MAX + 1] = '"';
	CHECK_EQ_INT(pat_secret(body, PAT_SECRET_MAX + 2, &s, &e), ERR_OK);
	CHECK(s && secret_len(s) == PAT_SECRET_MAX);
	secret_free(s);
	s = NULL;
	body[PAT_SECRET_MAX + 1] = 'a';
	body[PAT_SECRET_MAX + 2] = '"';
	CHECK_EQ_INT(pat_secret(body, PAT_SECRET_MAX + 3, &s, &e), ERR_PROTO);
	CHECK(s == NULL && strstr(e.msg, "aaaa") == NULL);
	free(body);
}

/* The length counts, not a NUL: bytes after len are not read, a NUL inside is refused. */
TEST(secret_bounded_by_len)
{
	struct secret *s = NULL;
	struct err e;

	CHECK_EQ_INT(pat_secret("\"abc\"junk", 5, &s, &e), ERR_OK);
	CHECK(s && strcmp(secret_data(s), "abc") == 0);
	secret_free(s);
	CHECK_EQ_INT(pat_secret("\"abc\"", 4, &s, &e), ERR_PROTO);
	CHECK(s == NULL);
	CHECK_EQ_INT(pat_secret("\"a\0c\"", 5, &s, &e), ERR_PROTO);
	CHECK(s == NULL);
	CHECK_EQ_INT(pat_secret("\"abc\"\0", 6, &s, &e), ERR_PROTO);
	CHECK(s == NULL);
}

static const struct check_test tests[] = {
	TEST_CASE(public_sample),
	TEST_CASE(index_counts_from_zero),
	TEST_CASE(not_an_array),
	TEST_CASE(malformed),
	TEST_CASE(trailing_garbage),
	TEST_CASE(empty_array),
	TEST_CASE(non_objects_skipped),
	TEST_CASE(bad_id_skipped),
	TEST_CASE(unreadable_fields_listed),
	TEST_CASE(all_fields_unreadable),
	TEST_CASE(id_range),
	TEST_CASE(id_from_2_53_up),
	TEST_CASE(duplicates_first_wins),
	TEST_CASE(duplicate_after_unreadable),
	TEST_CASE(sorted_by_id),
	TEST_CASE(many_warnings),
	TEST_CASE(render_one_line),
	TEST_CASE(render_escapes_and_grows),
	TEST_CASE(unicode_names),
	TEST_CASE(ten_thousand_tokens),
	TEST_CASE(null_err_allowed),
	TEST_CASE(render_large_numbers_exactly),
	TEST_CASE(scanner_refuses_like_cjson),
	TEST_CASE(scanner_whitespace_everywhere),
	TEST_CASE(scanner_strings_and_nesting),
	TEST_CASE(scanner_nesting_limit),
	TEST_CASE(elements_past_the_scratch_block),
	TEST_CASE(render_on_demand_as_before),
	TEST_CASE(cut_any_place_agrees),
	TEST_CASE(cut_errors_agree),
	TEST_CASE(cut_many_warnings),
	TEST_CASE(cut_none),
	TEST_CASE(generate_body_plain),
	TEST_CASE(generate_body_escapes),
	TEST_CASE(generate_body_long_name),
	TEST_CASE(secret_good),
	TEST_CASE(secret_refused),
	TEST_CASE(secret_longest),
	TEST_CASE(secret_bounded_by_len),
};

CHECK_MAIN(tests)
