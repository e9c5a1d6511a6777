/*
 * fuzz_path.c - fuzz harness for name lookup in the tree (src/tree.c) over
 * one fixed snapshot with awkward names: unicode, '/', duplicates, ".",
 * "..", "", '~', control bytes, invalid UTF-8, 300-byte names, the
 * smallest and largest IDs.
 *
 * The input is a path (up to its first NUL).  It is split at '/' and
 * resolved from the root one component at a time with tree_lookup, as the
 * kernel would, stopping at the first name not found.  Properties: a
 * lookup finds the name, finds it absent, or finds the parent is not a
 * folder (TREE_NOT_DIR exactly when it is not); lookup agrees with the parent's listing (a name resolves if and
 * only if it is listed, to the same node); a resolved node comes back the
 * same from tree_node(ino); "." and ".." and names over 255 bytes never
 * resolve; a resolved file's size is its body's length.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "escape.h"
#include "fuzz.h"
#include "pat.h"
#include "snapshot.h"
#include "tree.h"

#define L10 "LLLLLLLLLL"
#define L100 L10 L10 L10 L10 L10 L10 L10 L10 L10 L10
#define E10 "éééééééééé"
#define E50 E10 E10 E10 E10 E10

/* The tokens of the snapshot: IDs and names (as JSON string contents). */
static const struct {
	int64_t id;
	const char *name;
} tokens[] = {
	{ 1, "Teams integ" }, { 2, "asddadas" }, { 3, "Café ☕ Zürich" },
	{ 4, "ci/cd deploy" }, { 5, "Backup" }, { 7, "Backup" }, { 8, ".." },
	{ 9, "" }, { 10, "back\\\\slash\\ttab" }, { 11, "." },
	{ 12, L100 L100 L100 }, { 13, E50 E50 E50 },
	{ 14, "bell\\u0007 esc\\u001b[31m del\\u007f" }, { 15, "tilde~7" },
	{ 16, "bad \xff\xfe utf8 \xc0\xaf" }, { 17, "tokens" },
	{ 18, "new\\nline" }, { 19, "~" }, { 0, "zero" },
	{ PAT_ID_MAX, "max" },
};
#define NTOKENS (sizeof(tokens) / sizeof(tokens[0]))

/* The one snapshot every input is resolved in; built once, never freed. */
static struct snapshot *snap;

/* Write the list body, as Synergy would send it, into a malloc'd buffer. */
static char *make_body(size_t *len)
{
	size_t cap = 2;
	char *body, *p;

	for (size_t i = 0; i < NTOKENS; i++)
		cap += strlen(tokens[i].name) + 256;
	body = p = malloc(cap);
	FUZZ_CHECK(body != NULL);
	*p++ = '[';
	for (size_t i = 0; i < NTOKENS; i++)
		p += sprintf(p, "%s{\"UserID\":{\"_id\":1,\"IDString\":\"1_1\"},"
			     "\"CreatedOn\":\"2025-03-14T10:53:38.823+08:00\","
			     "\"Expiry\":\"2025-09-10T10:53:38.67+08:00\",\"Name\":\"%s\","
			     "\"ExpiryReminderState\":0,\"ID\":%" PRId64 "}",
			     i ? "," : "", tokens[i].name, tokens[i].id);
	*p++ = ']';
	*len = (size_t)(p - body);
	return body;
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	struct pat_report r;
	struct err e;
	size_t len;
	char *body = make_body(&len);

	snap = snap_parse(body, len, (struct timespec){ 1764300000, 0 }, NULL, &r, &e);
	FUZZ_CHECK(snap != NULL);
	FUZZ_CHECK(snap->n == NTOKENS && r.skipped == 0);
	return 0;
}

static bool same_node(const struct tree_node *a, const struct tree_node *b)
{
	return a->ino == b->ino && a->kind == b->kind && a->tok == b->tok &&
	       (a->kind != TREE_TOKEN_FILE || a->file == b->file) &&
	       (a->kind != TREE_TOKEN_CLOCK || a->clock == b->clock) &&
	       (a->kind != TREE_TOKEN_LINK || a->view == b->view);
}

/* Paths are resolved at this moment: 2025-11-28T03:20:00Z, a week's warning. */
static const struct tree_clock clk = { { 1764300000, 0 }, 7 };

/* Find name among the entries of folder dir (not "." and ".."). */
static bool listed(const struct tree_node *dir, const char *name, struct tree_node *out)
{
	char buf[TREE_NAME_BUF];
	const char *entry;
	uint32_t idx[64];
	size_t n;

	if (dir->kind == TREE_EXPIRING || dir->kind == TREE_EXPIRED) {
		FUZZ_CHECK(snap->n <= 64);
		n = tree_view_members(snap, &clk, dir, idx);
		for (size_t i = 0; i < n; i++) {
			tree_view_entry(snap, dir, idx[i], &entry, out);
			if (strcmp(entry, name) == 0)
				return true;
		}
		return false;
	}
	for (size_t i = 2; tree_dir_entry(snap, dir, i, buf, &entry, out); i++)
		if (strcmp(entry, name) == 0)
			return true;
	return false;
}

/* Look comp up in cur and check the answer; returns tree_lookup's. */
static enum tree_found step(const struct tree_node *cur, const char *comp, struct tree_node *next)
{
	struct tree_node back, in_list;
	enum tree_found rc = tree_lookup(snap, &clk, cur, comp, next);
	bool is_listed = tree_is_dir(cur) && listed(cur, comp, &in_list);

	FUZZ_CHECK(rc == TREE_FOUND || rc == TREE_ABSENT || rc == TREE_NOT_DIR);
	FUZZ_CHECK((rc == TREE_NOT_DIR) == !tree_is_dir(cur));
	FUZZ_CHECK((rc == TREE_FOUND) == is_listed);
	if (rc != TREE_FOUND)
		return rc;
	FUZZ_CHECK(same_node(next, &in_list));
	FUZZ_CHECK(strlen(comp) <= ESC_NAME_MAX);
	FUZZ_CHECK(strcmp(comp, ".") != 0 && strcmp(comp, "..") != 0);
	FUZZ_CHECK(tree_node(snap, next->ino, &back) && same_node(&back, next));
	return TREE_FOUND;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *path = malloc(size + 1), *p, *scratch = NULL;
	struct tree_node cur, next;
	struct tree_owner own = { .umask = 0 };
	struct stat st;
	size_t len, cap = 0;

	FUZZ_CHECK(path != NULL);
	memcpy(path, data, size);
	path[size] = '\0';
	FUZZ_CHECK(tree_node(snap, TREE_INO_ROOT, &cur));
	for (p = path; *p;) {
		size_t n = strcspn(p, "/");
		char save = p[n];

		if (n == 0) { /* "//" and a leading or trailing '/' */
			p++;
			continue;
		}
		p[n] = '\0';
		if (step(&cur, p, &next) != TREE_FOUND)
			goto out;
		cur = next;
		p[n] = save;
		p += n;
	}
	/* Resolved: its attributes match what it is. */
	tree_stat(snap, &cur, &own, (struct timespec){ 0, 0 }, &st);
	FUZZ_CHECK(st.st_ino == cur.ino);
	if (tree_is_dir(&cur)) {
		FUZZ_CHECK(S_ISDIR(st.st_mode));
	} else if (cur.kind == TREE_TOKEN_LINK) {
		FUZZ_CHECK(S_ISLNK(st.st_mode) && st.st_size > 0);
	} else if (tree_is_dynamic(&cur)) {
		/* Rendered at read time (clock files, status, metrics). */
		FUZZ_CHECK(S_ISREG(st.st_mode) &&
			   tree_body(snap, &cur, &len, &scratch, &cap) == NULL);
	} else {
		FUZZ_CHECK(S_ISREG(st.st_mode) &&
			   tree_body(snap, &cur, &len, &scratch, &cap) != NULL);
		FUZZ_CHECK((size_t)st.st_size == len);
	}
out:
	free(scratch);
	free(path);
	return 0;
}
