/*
 * test_tree.c - unit tests for the mount's tree: a snapshot is built from
 * a JSON body (snap_parse) and paths are resolved one
 * component at a time with tree_lookup() from the root, as the kernel
 * would; then attributes, listings, link targets and inode numbers are
 * checked on what was found.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>

#include "buf.h"
#include "check.h"
#include "escape.h"
#include "pat.h"
#include "pat_list.h"
#include "snapshot.h"
#include "tree.h"
#include "tree_diff.h"
#include "when.h"

/* One token object, keys in the order Synergy sends them. */
#define TOK(id, name, created, expiry, state, uid)			\
	"{\"UserID\":{\"_id\":" #uid ",\"_server_id\":1,"		\
	"\"_server_guid\":\"b993c729-bf98-490c-989d-5621e3b48139\","	\
	"\"IDString\":\"" #uid "_1\"},\"CreatedOn\":\"" created "\","	\
	"\"Expiry\":\"" expiry "\",\"Name\":\"" name "\","		\
	"\"ExpiryReminderState\":" #state ",\"ID\":" #id "}"

#define TOK_1 TOK(1, "Teams integ", "2025-03-14T10:53:38.823+08:00", \
		  "2025-09-10T10:53:38.67+08:00", 0, 1)
#define TOK_2 TOK(2, "asddadas", "2025-04-30T13:21:44.467+08:00", \
		  "2025-05-02T13:21:44.36+08:00", 1, 1)

#define L10 "LLLLLLLLLL"
#define L100 L10 L10 L10 L10 L10 L10 L10 L10 L10 L10
#define L300 L100 L100 L100

/* The public sample and the awkward corners, not in ID order. */
static const char body_all[] = "["
	TOK_1 "," TOK_2 ","
	TOK(12, L300, "2025-05-08T08:08:08+08:00", "2026-05-08T08:08:08+08:00", 0, 2) ","
	TOK(3, "Café ☕ Zürich", "2025-06-01T00:00:00Z", "2025-11-28T00:00:00Z", 0, 1) ","
	TOK(4, "ci/cd deploy", "2025-01-02T03:04:05.1234567+00:00",
	    "2025-07-01T03:04:05.1234567+00:00", 0, 1) ","
	TOK(7, "Backup", "2025-02-04T04:05:06.5-05:00", "2025-08-03T04:05:06.5-05:00", 2, 1) ","
	TOK(5, "Backup", "2025-02-03T04:05:06-05:00", "2025-08-02T04:05:06-05:00", 0, 1) ","
	TOK(8, "..", "2025-05-05T05:05:05.05+05:30", "2025-06-05T05:05:05.05+05:30", 0, 1) ","
	TOK(9, "", "2025-05-06T06:06:06+10:00", "2025-06-06T06:06:06+10:00", 0, 1) ","
	TOK(10, "back\\\\slash\\ttab", "2025-05-07T07:07:07.7+08:00",
	    "2025-06-07T07:07:07.7+08:00", 0, 1)
	"]";

static const int64_t all_ids[] = { 1, 2, 3, 4, 5, 7, 8, 9, 10, 12 };
#define NTOK (sizeof(all_ids) / sizeof(all_ids[0]))

static const struct timespec fetched = { 1764300000, 123456789 };
static const struct timespec mount_time = { 1764200000, 5 };
/* The moment lookups are made at: 2025-10-01T00:00:00Z, expiring within 7 days. */
static const struct tree_clock test_clock = { { 1759276800, 0 }, 7 };

/*
 * Parse len bytes of json and build a snapshot fetched at `fetched`,
 * numbered from prev (NULL: a first fetch), with what was skipped in *r;
 * the body is copied into a malloc'd buffer that the snapshot takes over.
 */
static struct snapshot *build_from(const char *json, size_t len, const struct snapshot *prev,
				   struct pat_report *r)
{
	struct snapshot *s;
	struct err e;
	char *body = malloc(len ? len : 1);

	if (!body)
		return NULL;
	memcpy(body, json, len);
	s = snap_parse(body, len, fetched, prev, r, &e);
	if (!s)
		check_fail(__FILE__, __LINE__, "snap_parse: %s", e.msg);
	return s;
}

/* build_from, for a first fetch. */
static struct snapshot *build_report(const char *json, size_t len, struct pat_report *r)
{
	return build_from(json, len, NULL, r);
}

/* build_report, for a list of which nothing may be skipped. */
static struct snapshot *build(const char *json, size_t len)
{
	struct pat_report r;
	struct snapshot *s = build_report(json, len, &r);

	if (s && r.skipped)
		check_fail(__FILE__, __LINE__, "tokens skipped: %s", r.warnings);
	return s;
}

static struct snapshot *build_all(void)
{
	return build(body_all, strlen(body_all));
}

/*
 * Resolve a relative path from the root, one component at a time (split
 * at '/'), as the kernel does.  Returns TREE_FOUND (0) or what the first
 * component that fails found; -1 when the test itself went wrong (no root,
 * a component too long for it).
 */
static int resolve(const struct snapshot *s, const char *path, struct tree_node *out)
{
	struct tree_node cur;
	char comp[1024];

	if (!tree_node(s, TREE_INO_ROOT, &cur))
		return -1;
	while (*path) {
		size_t n = strcspn(path, "/");
		enum tree_found rc;

		if (n >= sizeof(comp))
			return -1;
		memcpy(comp, path, n);
		comp[n] = '\0';
		rc = tree_lookup(s, &test_clock, &cur, comp, &cur);
		if (rc != TREE_FOUND)
			return (int)rc;
		path += n;
		if (*path == '/')
			path++;
	}
	*out = cur;
	return TREE_FOUND;
}

/* What resolve() said, in words. */
static const char *found_name(int rc)
{
	return rc == TREE_FOUND ? "found" : rc == TREE_ABSENT ? "absent" :
	       rc == TREE_NOT_DIR ? "not a folder" : "the test went wrong";
}

/* The inode number of path in s, or 0. */
static uint64_t ino_of(const struct snapshot *s, const char *path)
{
	struct tree_node n;

	return resolve(s, path, &n) == TREE_FOUND ? n.ino : 0;
}

/*
 * Resolve path and stat it for own (NULL: root's, umask 022) at
 * mount_time.  False, the failure recorded at file:line, when not found.
 */
static bool stat_path(const char *file, int line, const struct snapshot *s, const char *path,
		      const struct tree_owner *own, struct tree_node *n, struct stat *st)
{
	static const struct tree_owner root_022 = { .uid = 0, .gid = 0, .umask = 022 };

	if (resolve(s, path, n) != TREE_FOUND) {
		check_fail(file, line, "%s not found", path);
		return false;
	}
	tree_stat(s, n, own ? own : &root_022, mount_time, st);
	return true;
}

/* Resolve path to a regular file and compare its body with want. */
static void check_body(const char *file, int line, const struct snapshot *s,
		       const char *path, const char *want, size_t want_len)
{
	struct tree_node n;
	const char *b;
	char *scratch = NULL;
	size_t len = 0, cap = 0;
	int rc = resolve(s, path, &n);

	if (rc != TREE_FOUND) {
		check_fail(file, line, "%s: %s", path, found_name(rc));
		return;
	}
	b = tree_body(s, &n, &len, &scratch, &cap);
	if (!b) {
		check_fail(file, line, "%s: no body", path);
		return;
	}
	check_mem(file, line, path, b, len, want, want_len);
	/* Only token.json is rendered on demand; the rest is in the snapshot. */
	if ((b == scratch) != (n.kind == TREE_TOKEN_FILE && n.file == SNAP_F_JSON))
		check_fail(file, line, "%s: rendered into the scratch buffer or not as expected", path);
	CHECK_EQ_INT(tree_body_len(s, &n), len);
	free(scratch);
}

#define CHECK_BODY(s, path, want) \
	check_body(__FILE__, __LINE__, (s), (path), (want), strlen(want))

#define CHECK_LOOKUP(s, path, want) do {				\
	struct tree_node n_;						\
	int rc_ = resolve((s), (path), &n_);				\
	if (rc_ != (int)(want))						\
		check_fail(__FILE__, __LINE__, "%s: %s, want %s",	\
			   (path), found_name(rc_), #want);		\
} while (0)

TEST(sample_token_files)
{
	struct snapshot *s = build_all();

	if (!s)
		return;
	CHECK_BODY(s, "tokens/1/expiry", "2025-09-10T10:53:38.67+08:00\n");
	CHECK_BODY(s, "tokens/1/id", "1\n");
	CHECK_BODY(s, "tokens/1/name", "Teams integ\n");
	CHECK_BODY(s, "tokens/1/created_on", "2025-03-14T10:53:38.823+08:00\n");
	CHECK_BODY(s, "tokens/1/expiry_reminder_state", "0\n");
	CHECK_BODY(s, "tokens/1/user_id", "1_1\n");
	CHECK_BODY(s, "tokens/1/token.json", TOK_1 "\n");
	CHECK_BODY(s, "tokens/2/name", "asddadas\n");
	CHECK_BODY(s, "tokens/2/expiry_reminder_state", "1\n");
	CHECK_BODY(s, "tokens/2/token.json", TOK_2 "\n");
	CHECK_BODY(s, "tokens/3/name", "Café ☕ Zürich\n");
	CHECK_BODY(s, "tokens/4/name", "ci/cd deploy\n");
	CHECK_BODY(s, "tokens/9/name", "\n");
	CHECK_BODY(s, "tokens/10/name", "back\\slash\ttab\n");
	CHECK_BODY(s, "tokens/12/name", L300 "\n");
	CHECK_BODY(s, "tokens/12/user_id", "2_1\n");
	CHECK_BODY(s, "tokens/7/expiry_reminder_state", "2\n");
	snap_unref(s);
}

/* Every token file ends in exactly one newline and st_size is its length. */
TEST(every_file_newline_and_size)
{
	struct snapshot *s = build_all();
	char *scratch = NULL;
	size_t cap = 0;

	if (!s)
		return;
	for (size_t i = 0; i < NTOK; i++) {
		for (unsigned f = 0; f < SNAP_NFILES; f++) {
			char path[64];
			struct tree_node n;
			struct stat st;
			const char *b;
			size_t len = 0;

			snprintf(path, sizeof(path), "tokens/%" PRId64 "/%s",
				 all_ids[i], snap_file_names[f]);
			if (!stat_path(__FILE__, __LINE__, s, path, NULL, &n, &st))
				continue;
			CHECK_EQ_INT(n.kind, TREE_TOKEN_FILE);
			CHECK_EQ_INT(n.file, f);
			b = tree_body(s, &n, &len, &scratch, &cap);
			if (!b || len == 0 || b[len - 1] != '\n' ||
			    (len >= 2 && b[len - 2] == '\n'))
				check_fail(__FILE__, __LINE__, "%s does not end in one newline", path);
			if (f == SNAP_F_JSON && b && memchr(b, '\n', len) != b + len - 1)
				check_fail(__FILE__, __LINE__, "%s is not one line", path);
			CHECK_EQ_INT(st.st_size, len);
			CHECK_EQ_INT(st.st_blocks, (len + 511) / 512);
		}
	}
	free(scratch);
	snap_unref(s);
}

TEST(bad_token_paths)
{
	struct snapshot *s = build_all();
	struct tree_node dir, n;

	if (!s)
		return;
	CHECK_LOOKUP(s, "tokens/1", TREE_FOUND);
	CHECK_LOOKUP(s, "tokens/01", TREE_ABSENT);
	CHECK_LOOKUP(s, "tokens/+1", TREE_ABSENT);
	CHECK_LOOKUP(s, "tokens/-1", TREE_ABSENT);
	CHECK_LOOKUP(s, "tokens/1 ", TREE_ABSENT);
	CHECK_LOOKUP(s, "tokens/ 1", TREE_ABSENT);
	CHECK_LOOKUP(s, "tokens/1.0", TREE_ABSENT);
	CHECK_LOOKUP(s, "tokens/0x1", TREE_ABSENT);
	CHECK_LOOKUP(s, "tokens/99", TREE_ABSENT);
	CHECK_LOOKUP(s, "tokens/6", TREE_ABSENT);
	CHECK_LOOKUP(s, "tokens/0", TREE_ABSENT);
	CHECK_LOOKUP(s, "tokens/9007199254740992", TREE_ABSENT);
	CHECK_LOOKUP(s, "tokens/9007199254740993", TREE_ABSENT);
	CHECK_LOOKUP(s, "tokens/18446744073709551617", TREE_ABSENT);
	CHECK_LOOKUP(s, "tokens/99999999999999999999999999999", TREE_ABSENT);
	CHECK_LOOKUP(s, "tokens/Teams integ", TREE_ABSENT);
	CHECK_LOOKUP(s, "tokens/1/nope", TREE_ABSENT);
	CHECK_LOOKUP(s, "tokens/1/ID", TREE_ABSENT);
	CHECK_LOOKUP(s, "nope", TREE_ABSENT);
	CHECK_LOOKUP(s, "Tokens", TREE_ABSENT);
	CHECK_LOOKUP(s, "refresh", TREE_ABSENT); /* no longer in the root */
	/* Looking a name up under anything but a folder. */
	CHECK_LOOKUP(s, "tokens/1/expiry/x", TREE_NOT_DIR);
	CHECK_LOOKUP(s, "tokens/1/token.json/x", TREE_NOT_DIR);
	CHECK_LOOKUP(s, "tokens.json/x", TREE_NOT_DIR);
	CHECK_LOOKUP(s, "by-name/Teams integ/id", TREE_NOT_DIR);
	/* The empty name, looked up directly (resolve() skips it). */
	if (resolve(s, "tokens", &dir) == TREE_FOUND)
		CHECK_EQ_INT(tree_lookup(s, &test_clock, &dir, "", &n), TREE_ABSENT);
	if (resolve(s, "tokens/1", &dir) == TREE_FOUND)
		CHECK_EQ_INT(tree_lookup(s, &test_clock, &dir, "", &n), TREE_ABSENT);
	if (tree_node(s, TREE_INO_ROOT, &dir))
		CHECK_EQ_INT(tree_lookup(s, &test_clock, &dir, "", &n), TREE_ABSENT);
	snap_unref(s);
}

/* Resolve by-name/<name> and check it is a link to ../tokens/<id>. */
static void check_link(const char *file, int line, const struct snapshot *s,
		       const char *name, int64_t id)
{
	char path[512], target[64], want[64];
	struct tree_node n;
	struct tree_owner own = { .uid = 0, .gid = 0, .umask = 022 };
	struct stat st;
	size_t len;
	int rc;

	snprintf(path, sizeof(path), "by-name/%s", name);
	rc = resolve(s, path, &n);
	if (rc != TREE_FOUND) {
		check_fail(file, line, "%s: %s", path, found_name(rc));
		return;
	}
	if (n.kind != TREE_TOKEN_LINK || n.tok->id != id)
		check_fail(file, line, "%s: kind %d, ID %" PRId64 ", want a link to %" PRId64,
			   path, n.kind, n.tok ? n.tok->id : -1, id);
	snprintf(want, sizeof(want), "../tokens/%" PRId64, id);
	len = tree_readlink(&n, target, sizeof(target));
	check_mem(file, line, "tree_readlink", target, len, want, strlen(want));
	tree_stat(s, &n, &own, mount_time, &st);
	if ((size_t)st.st_size != strlen(want))
		check_fail(file, line, "%s: st_size %jd", path, (intmax_t)st.st_size);
}

#define CHECK_LINK(s, name, id) check_link(__FILE__, __LINE__, (s), (name), (id))

TEST(by_name_lookup)
{
	struct snapshot *s = build_all();
	struct tree_node byname, n;
	char long_name[300];

	if (!s)
		return;
	CHECK_LINK(s, "Teams integ", 1);
	CHECK_LINK(s, "asddadas", 2);
	CHECK_LINK(s, "Café ☕ Zürich", 3);
	CHECK_LINK(s, "ci\\x2fcd deploy", 4);
	CHECK_LINK(s, "Backup~5", 5);
	CHECK_LINK(s, "Backup~7", 7);
	CHECK_LINK(s, "\\x2e\\x2e", 8);
	CHECK_LINK(s, "~9", 9);
	CHECK_LINK(s, "back\\x5cslash\\x09tab", 10);
	memset(long_name, 'L', 252);
	strcpy(long_name + 252, "~12");
	CHECK_LINK(s, long_name, 12);

	CHECK_LOOKUP(s, "by-name/Backup", TREE_ABSENT);
	CHECK_LOOKUP(s, "by-name/Backup~6", TREE_ABSENT);
	CHECK_LOOKUP(s, "by-name/Teams integ~1", TREE_ABSENT);
	CHECK_LOOKUP(s, "by-name/teams integ", TREE_ABSENT);
	CHECK_LOOKUP(s, "by-name/" L300, TREE_ABSENT);
	CHECK_LOOKUP(s, "by-name/back\\slash\ttab", TREE_ABSENT);
	/* Looked up directly, so that the '/' stays inside the name. */
	CHECK(tree_node(s, TREE_INO_BYNAME, &byname));
	CHECK_EQ_INT(tree_lookup(s, &test_clock, &byname, "ci/cd deploy", &n), TREE_ABSENT);
	CHECK_EQ_INT(tree_lookup(s, &test_clock, &byname, "..", &n), TREE_ABSENT);
	CHECK_EQ_INT(tree_lookup(s, &test_clock, &byname, ".", &n), TREE_ABSENT);
	CHECK_EQ_INT(tree_lookup(s, &test_clock, &byname, "", &n), TREE_ABSENT);
	CHECK_EQ_INT(tree_lookup(s, &test_clock, &byname, "~", &n), TREE_ABSENT);
	snap_unref(s);
}

TEST(readlink_buffer)
{
	struct snapshot *s = build_all();
	struct tree_node n;
	char buf[32];

	if (!s)
		return;
	if (resolve(s, "by-name/Backup~7", &n) == TREE_FOUND) {
		/* "../tokens/7" is 11 bytes and needs room for its NUL. */
		CHECK_EQ_INT(tree_readlink(&n, buf, 12), 11);
		CHECK_EQ_STR(buf, "../tokens/7");
		CHECK_EQ_INT(tree_readlink(&n, buf, 11), 0);
	} else {
		CHECK(!"by-name/Backup~7 not found");
	}
	if (resolve(s, "tokens/7", &n) == TREE_FOUND)
		CHECK_EQ_INT(tree_readlink(&n, buf, sizeof(buf)), 0);
	if (resolve(s, "tokens/7/name", &n) == TREE_FOUND)
		CHECK_EQ_INT(tree_readlink(&n, buf, sizeof(buf)), 0);
	snap_unref(s);
}

/* by-name/ lists one link per token, sorted, each resolvable by its name. */
TEST(by_name_listing)
{
	struct snapshot *s = build_all();
	struct tree_node dir, child, n;
	int seen[13] = { 0 };
	char buf[TREE_NAME_BUF], prev[256] = "";
	const char *name;
	size_t i;

	if (!s)
		return;
	CHECK(tree_node(s, TREE_INO_BYNAME, &dir));
	CHECK_EQ_INT(tree_dir_count(s, &dir), 2 + NTOK);
	for (i = 2; tree_dir_entry(s, &dir, i, buf, &name, &child); i++) {
		CHECK_EQ_INT(child.kind, TREE_TOKEN_LINK);
		if (child.kind != TREE_TOKEN_LINK)
			continue;
		if (child.tok->id >= 0 && child.tok->id < 13)
			seen[child.tok->id]++;
		if (i > 2 && strcmp(prev, name) >= 0)
			check_fail(__FILE__, __LINE__, "\"%s\" listed after \"%s\"", name, prev);
		snprintf(prev, sizeof(prev), "%s", name);
		if (strchr(name, '/') || strcmp(name, ".") == 0 || strcmp(name, "..") == 0 ||
		    strlen(name) > 255)
			check_fail(__FILE__, __LINE__, "bad entry name \"%s\"", name);
		CHECK_EQ_INT(tree_lookup(s, &test_clock, &dir, name, &n), 0);
		CHECK_EQ_INT(n.ino, child.ino);
	}
	CHECK_EQ_INT(i, 2 + NTOK);
	for (size_t k = 0; k < NTOK; k++)
		CHECK_EQ_INT(seen[all_ids[k]], 1);
	snap_unref(s);
}

TEST(tokens_json)
{
	static const char with_nl[] = "[" TOK_1 "]\n";
	static const char without_nl[] = "[" TOK_1 "]";
	static const char crlf[] = " [" TOK_1 "] \r\n";
	struct snapshot *s;

	s = build_all();
	if (s) {
		char want[sizeof(body_all) + 1];

		memcpy(want, body_all, sizeof(body_all) - 1);
		want[sizeof(body_all) - 1] = '\n';
		check_body(__FILE__, __LINE__, s, "tokens.json", want, sizeof(body_all));
		snap_unref(s);
	}
	s = build(with_nl, strlen(with_nl));
	if (s) {
		CHECK_BODY(s, "tokens.json", with_nl);
		snap_unref(s);
	}
	s = build(without_nl, strlen(without_nl));
	if (s) {
		CHECK_BODY(s, "tokens.json", with_nl);
		snap_unref(s);
	}
	/* Trailing whitespace means nothing in JSON: one newline replaces it. */
	s = build(crlf, strlen(crlf));
	if (s) {
		CHECK_BODY(s, "tokens.json", " [" TOK_1 "]\n");
		snap_unref(s);
	}
	s = build("[]\n\n \t\n", 6);
	if (s) {
		CHECK_BODY(s, "tokens.json", "[]\n");
		snap_unref(s);
	}
	s = build("[]", 2);
	if (s) {
		CHECK_BODY(s, "tokens.json", "[]\n");
		snap_unref(s);
	}
}

/* Check the mode of path with the given umask. */
static void check_mode(const char *file, int line, const struct snapshot *s,
		       const char *path, mode_t umask_, mode_t want)
{
	struct tree_owner own = { .uid = 1234, .gid = 5678, .umask = umask_ };
	struct tree_node n;
	struct stat st;

	if (!stat_path(file, line, s, path, &own, &n, &st))
		return;
	if (st.st_mode != want)
		check_fail(file, line, "%s with umask %03o: mode %06o, want %06o",
			   path, (unsigned)umask_, (unsigned)st.st_mode, (unsigned)want);
	if (st.st_uid != 1234 || st.st_gid != 5678)
		check_fail(file, line, "%s: uid %u gid %u", path,
			   (unsigned)st.st_uid, (unsigned)st.st_gid);
	if (st.st_ino != n.ino)
		check_fail(file, line, "%s: st_ino %ju, node %ju", path,
			   (uintmax_t)st.st_ino, (uintmax_t)n.ino);
}

TEST(modes_and_owner)
{
	static const mode_t masks[] = { 0, 022, 027, 077, 0777 };
	struct snapshot *s = build_all();

	if (!s)
		return;
	for (size_t i = 0; i < sizeof(masks) / sizeof(masks[0]); i++) {
		mode_t m = masks[i], dir = S_IFDIR | (0555 & ~m), reg = S_IFREG | (0444 & ~m);

		check_mode(__FILE__, __LINE__, s, "", m, dir);
		check_mode(__FILE__, __LINE__, s, "tokens", m, dir);
		check_mode(__FILE__, __LINE__, s, "by-name", m, dir);
		check_mode(__FILE__, __LINE__, s, "tokens/1", m, dir);
		check_mode(__FILE__, __LINE__, s, "tokens.json", m, reg);
		check_mode(__FILE__, __LINE__, s, "tokens/1/name", m, reg);
		check_mode(__FILE__, __LINE__, s, "tokens/12/token.json", m, reg);
		check_mode(__FILE__, __LINE__, s, "by-name/Teams integ", m, S_IFLNK | 0777);
	}
	/* Spelled out for the common umask. */
	check_mode(__FILE__, __LINE__, s, "tokens", 022, S_IFDIR | 0555);
	check_mode(__FILE__, __LINE__, s, "tokens/1/id", 022, S_IFREG | 0444);
	check_mode(__FILE__, __LINE__, s, "tokens", 027, S_IFDIR | 0550);
	check_mode(__FILE__, __LINE__, s, "tokens/1/id", 027, S_IFREG | 0440);
	snap_unref(s);
}

/* Check the mtime, ctime and atime of path. */
static void check_time(const char *file, int line, const struct snapshot *s,
		       const char *path, time_t sec, long nsec)
{
	struct tree_node n;
	struct stat st;

	if (!stat_path(file, line, s, path, NULL, &n, &st))
		return;
	if (st.st_mtim.tv_sec != sec || st.st_mtim.tv_nsec != nsec)
		check_fail(file, line, "%s: mtime %jd.%09ld, want %jd.%09ld", path,
			   (intmax_t)st.st_mtim.tv_sec, st.st_mtim.tv_nsec, (intmax_t)sec, nsec);
	if (st.st_ctim.tv_sec != sec || st.st_ctim.tv_nsec != nsec)
		check_fail(file, line, "%s: ctime differs from mtime", path);
}

#define CHECK_TIME(s, path, sec, nsec) \
	check_time(__FILE__, __LINE__, (s), (path), (sec), (nsec))

TEST(times)
{
	struct snapshot *s = build_all();

	if (!s)
		return;
	CHECK_TIME(s, "", fetched.tv_sec, fetched.tv_nsec);
	CHECK_TIME(s, "tokens", fetched.tv_sec, fetched.tv_nsec);
	CHECK_TIME(s, "by-name", fetched.tv_sec, fetched.tv_nsec);
	CHECK_TIME(s, "tokens.json", fetched.tv_sec, fetched.tv_nsec);
	CHECK_TIME(s, "tokens/1", 1741920818, 823000000);
	for (unsigned f = 0; f < SNAP_NFILES; f++) {
		char path[64];

		snprintf(path, sizeof(path), "tokens/1/%s", snap_file_names[f]);
		CHECK_TIME(s, path, 1741920818, 823000000);
	}
	CHECK_TIME(s, "tokens/2", 1745990504, 467000000);
	CHECK_TIME(s, "tokens/2/expiry", 1745990504, 467000000);
	/* 2025-01-02T03:04:05.1234567Z */
	CHECK_TIME(s, "tokens/4", 1735787045, 123456700);
	CHECK_TIME(s, "tokens/4/token.json", 1735787045, 123456700);
	/* 2025-02-04T04:05:06.5-05:00 */
	CHECK_TIME(s, "tokens/7/name", 1738659906, 500000000);
	snap_unref(s);
}

static void check_nlink(const char *file, int line, const struct snapshot *s,
			const char *path, nlink_t want)
{
	struct tree_node n;
	struct stat st;

	if (!stat_path(file, line, s, path, NULL, &n, &st))
		return;
	if (st.st_nlink != want)
		check_fail(file, line, "%s: nlink %ju, want %ju", path,
			   (uintmax_t)st.st_nlink, (uintmax_t)want);
}

TEST(link_counts)
{
	struct snapshot *s = build_all();

	if (!s)
		return;
	check_nlink(__FILE__, __LINE__, s, "", 7);
	check_nlink(__FILE__, __LINE__, s, "tokens", 2 + NTOK);
	check_nlink(__FILE__, __LINE__, s, "by-name", 2);
	check_nlink(__FILE__, __LINE__, s, "tokens/1", 2);
	check_nlink(__FILE__, __LINE__, s, "tokens/1/name", 1);
	check_nlink(__FILE__, __LINE__, s, "tokens.json", 1);
	check_nlink(__FILE__, __LINE__, s, "by-name/Backup~5", 1);
	snap_unref(s);
}

/* List dir (resolved from path) and compare the names with want[]. */
static void check_listing(const char *file, int line, const struct snapshot *s,
			  const char *path, const char *const *want, size_t nwant,
			  uint64_t parent_ino)
{
	struct tree_node dir, child, n;
	char buf[TREE_NAME_BUF];
	const char *name;
	size_t i;

	if (resolve(s, path, &dir) != TREE_FOUND) {
		check_fail(file, line, "%s not found", path);
		return;
	}
	if (tree_dir_count(s, &dir) != nwant + 2)
		check_fail(file, line, "%s: %zu entries, want %zu", path,
			   tree_dir_count(s, &dir), nwant + 2);
	for (i = 0; tree_dir_entry(s, &dir, i, buf, &name, &child); i++) {
		const char *w = i == 0 ? "." : i == 1 ? ".." : i - 2 < nwant ? want[i - 2] : "(end)";

		if (strcmp(name, w) != 0) {
			check_fail(file, line, "%s entry %zu is \"%s\", want \"%s\"", path, i, name, w);
			continue;
		}
		if (i == 0 && child.ino != dir.ino)
			check_fail(file, line, "%s: \".\" is inode %ju", path, (uintmax_t)child.ino);
		if (i == 1 && child.ino != parent_ino)
			check_fail(file, line, "%s: \"..\" is inode %ju", path, (uintmax_t)child.ino);
		if (i >= 2 && (tree_lookup(s, &test_clock, &dir, name, &n) != TREE_FOUND || n.ino != child.ino ||
			       n.kind != child.kind))
			check_fail(file, line, "%s: entry \"%s\" differs from its lookup", path, name);
	}
	if (i != nwant + 2)
		check_fail(file, line, "%s: listing stopped after %zu entries", path, i);
	if (tree_dir_entry(s, &dir, nwant + 2, buf, &name, &child) ||
	    tree_dir_entry(s, &dir, 1000, buf, &name, &child))
		check_fail(file, line, "%s: entries past the end", path);
}

#define CHECK_LISTING(s, path, parent, ...) do {				\
	static const char *const want_[] = { __VA_ARGS__ };		\
	check_listing(__FILE__, __LINE__, (s), (path), want_,		\
		      sizeof(want_) / sizeof(want_[0]), (parent));	\
} while (0)

TEST(listings)
{
	struct snapshot *s = build_all();
	struct tree_node n, child;
	char buf[TREE_NAME_BUF];
	const char *name;

	if (!s)
		return;
	CHECK_LISTING(s, "", TREE_INO_ROOT, "tokens", "by-name", "expiring", "expired", "new",
		      "tokens.json", "metrics.prom", "status");
	CHECK_LISTING(s, "tokens", TREE_INO_ROOT,
		      "1", "2", "3", "4", "5", "7", "8", "9", "10", "12");
	CHECK_LISTING(s, "tokens/10", TREE_INO_TOKENS,
		      "id", "name", "created_on", "expiry", "expiry_reminder_state",
		      "user_id", "token.json", "expiry_epoch", "days_left", "expired");
	/* Files, links and tokens.json are not folders. */
	if (resolve(s, "tokens/1/id", &n) == TREE_FOUND) {
		CHECK(!tree_is_dir(&n));
		CHECK_EQ_INT(tree_dir_count(s, &n), 0);
		CHECK(!tree_dir_entry(s, &n, 0, buf, &name, &child));
	}
	if (resolve(s, "by-name/~9", &n) == TREE_FOUND) {
		CHECK(!tree_is_dir(&n));
		CHECK(!tree_dir_entry(s, &n, 0, buf, &name, &child));
	}
	if (resolve(s, "tokens.json", &n) == TREE_FOUND)
		CHECK(!tree_is_dir(&n));
	snap_unref(s);
}

/* Every node of s, found by walking the listings from the root. */
struct walk {
	struct tree_node v[256];
	size_t n;
};

static void walk_dir(const struct snapshot *s, const struct tree_node *dir, struct walk *w)
{
	struct tree_node child;
	char buf[TREE_NAME_BUF];
	const char *name;

	for (size_t i = 2; tree_dir_entry(s, dir, i, buf, &name, &child); i++) {
		if (w->n == sizeof(w->v) / sizeof(w->v[0]))
			return;
		w->v[w->n++] = child;
		if (tree_is_dir(&child))
			walk_dir(s, &child, w);
	}
}

static int cmp_ino(const void *a, const void *b)
{
	const struct tree_node *x = a, *y = b;

	return (x->ino > y->ino) - (x->ino < y->ino);
}

TEST(inodes_unique_and_round_trip)
{
	struct snapshot *s = build_all();
	struct walk *w = calloc(1, sizeof(*w));
	struct tree_node n;
	/*
	 * root + its 8 entries + per token: folder, its files (the snapshot's
	 * and the two clock files), by-name link.  The views list nothing here.
	 */
	const size_t want = 9 + NTOK * (2 + SNAP_NFILES + TREE_NCLOCK);

	if (!s || !w)
		goto out;
	/* Versions as after some refreshes, the highest gen among them. */
	for (size_t i = 0; i < s->n; i++)
		s->tok[i].gen = (uint8_t)((i * 29 + 5) % (1u << SNAP_GEN_BITS));
	s->tok[0].gen = (1u << SNAP_GEN_BITS) - 1;
	s->list_ver = 3;
	CHECK(tree_node(s, TREE_INO_ROOT, &w->v[0]));
	w->n = 1;
	walk_dir(s, &w->v[0], w);
	CHECK_EQ_INT(w->n, want);
	for (size_t i = 0; i < w->n; i++) {
		const struct tree_node *a = &w->v[i];

		if (!tree_node(s, a->ino, &n)) {
			check_fail(__FILE__, __LINE__, "inode %ju does not resolve", (uintmax_t)a->ino);
			continue;
		}
		if (n.ino != a->ino || n.kind != a->kind || n.tok != a->tok ||
		    (a->kind == TREE_TOKEN_FILE && n.file != a->file))
			check_fail(__FILE__, __LINE__, "inode %ju resolves to another node",
				   (uintmax_t)a->ino);
		if (a->ino == 0)
			check_fail(__FILE__, __LINE__, "inode 0 used");
	}
	qsort(w->v, w->n, sizeof(w->v[0]), cmp_ino);
	for (size_t i = 1; i < w->n; i++)
		if (w->v[i].ino == w->v[i - 1].ino)
			check_fail(__FILE__, __LINE__, "inode %ju used twice", (uintmax_t)w->v[i].ino);
	/* Numbers that name no node: tokens.json is known by its versioned number only. */
	CHECK(!tree_node(s, 0, &n));
	CHECK(!tree_node(s, TREE_INO_LIST, &n));
	for (uint64_t ino = TREE_INO_NEW + 1; ino < 16; ino++)
		CHECK(!tree_node(s, ino, &n));
	CHECK(tree_node(s, tree_list_ino(s), &n) && n.kind == TREE_LIST);
	if (resolve(s, "tokens/5", &n) == TREE_FOUND) {
		struct tree_node m;
		uint64_t base = n.ino;

		/*
		 * Slots past the clock files and before the three links name
		 * none of the token's nodes: slot 11 numbers the root's
		 * versioned files (tree.h), slot 12 the folders of new/.
		 */
		CHECK(!tree_node(s, base + 11, &m) ||
		      (!m.tok && (m.kind == TREE_LIST || m.kind == TREE_STATUS ||
				  m.kind == TREE_METRICS)));
		CHECK(!tree_node(s, base + 12, &m) || (!m.tok && m.kind >= TREE_MINT_DIR));
		for (uint64_t slot = 13; slot < 16; slot++)
			CHECK(tree_node(s, base + slot, &m) && m.kind == TREE_TOKEN_LINK);
		/* ID 6 is not in the list. */
		CHECK(!tree_node(s, base + 16, &m));
		CHECK(tree_node(s, base + 32, &m));
	}
	CHECK(!tree_node(s, UINT64_MAX, &n));
out:
	free(w);
	snap_unref(s);
}

/* Token id named name, created 2025-01-01, expiring 2026-01-01. */
#define TOK_PLAIN(id, name) TOK(id, name, "2025-01-01T00:00:00Z", "2026-01-01T00:00:00Z", 0, 1)

/* The versions s holds, into buf: "ID:gen" for each token in ID order, then "list:" list_ver. */
static const char *versions_of(const struct snapshot *s, char *buf, size_t cap)
{
	size_t used = 0;

	buf[0] = '\0';
	for (size_t i = 0; i < s->n && used < cap; i++)
		used += (size_t)snprintf(buf + used, cap - used, "%" PRId64 ":%u ", s->tok[i].id,
					 (unsigned)s->tok[i].gen);
	if (used < cap)
		snprintf(buf + used, cap - used, "list:%ju", (uintmax_t)s->list_ver);
	return buf;
}

/* One token at a given version, read back by number (see the worked example in tree.h). */
static uint64_t with_gen(uint64_t ino, unsigned gen)
{
	return (ino & ((UINT64_C(1) << (64 - SNAP_GEN_BITS)) - 1)) |
	       ((uint64_t)gen << (64 - SNAP_GEN_BITS));
}

/* The inode layout of tree.h: | gen (6 bits) | ID + 1 (54 bits) | slot (4 bits) |. */
TEST(inode_layout)
{
	static const char body[] = "[" TOK_PLAIN(7, "seven") "," TOK_PLAIN(9007199254740991, "max") "]";
	struct snapshot *s = build(body, strlen(body));
	struct tree_node n;
	char v[64];

	if (!s)
		return;
	/* What snap_parse gives, before any refresh. */
	CHECK_EQ_STR(versions_of(s, v, sizeof(v)), "7:0 9007199254740991:0 list:1");
	CHECK_EQ_INT(ino_of(s, "tokens/7/name"), 0x82);
	CHECK_EQ_INT(ino_of(s, "tokens.json"), 0x4b);
	s->tok[0].gen = 2;
	s->tok[1].gen = (1u << SNAP_GEN_BITS) - 1;
	s->list_ver = 5;
	/* tokens/7/name, token at version 2, slot 2; tokens.json at list version 5. */
	CHECK(ino_of(s, "tokens/7/name") == UINT64_C(0x0800000000000082));
	CHECK(ino_of(s, "tokens/7/id") == UINT64_C(0x0800000000000081));
	CHECK(ino_of(s, "tokens/7/days_left") == UINT64_C(0x0800000000000089));
	CHECK_EQ_INT(ino_of(s, "tokens.json"), 0x14b);
	CHECK_EQ_INT(tree_list_ino(s), 0x14b);
	/* status at edition 3: the same slot, told apart from the list by the bits above it. */
	CHECK_EQ_INT(tree_report_ino(TREE_STATUS, 3), 0xdb);
	CHECK(tree_node(s, 0xdb, &n) && n.kind == TREE_STATUS);
	CHECK(tree_node(s, tree_report_ino(TREE_METRICS, 3), &n) && n.kind == TREE_METRICS);
	CHECK(tree_report_ino(TREE_METRICS, 3) != 0xdb && tree_report_ino(TREE_METRICS, 3) != 0x14b);
	/* new/rotated/secret, seq 5: the worked example; seq 0 names nothing. */
	tree_mint_node(5, TREE_MINT_SECRET, &n);
	CHECK_EQ_INT(n.ino, 0x15c);
	CHECK(tree_node(NULL, 0x15c, &n) && n.kind == TREE_MINT_FILE && n.seq == 5 &&
	      n.part == TREE_MINT_SECRET);
	CHECK(tree_node(s, 0x14c, &n) && n.kind == TREE_MINT_DIR && n.seq == 5);
	CHECK(tree_node(s, 0x17c, &n) && n.kind == TREE_MINT_LINK);
	CHECK(!tree_node(s, 0x0c, &n) && !tree_node(s, 0x3c, &n));
	CHECK_EQ_INT(tree_version_key(0x15c), 0);
	/* Folders and links have no version. */
	CHECK_EQ_INT(ino_of(s, "tokens/7"), 0x80);
	CHECK_EQ_INT(ino_of(s, "by-name/seven"), 0x8f);
	/* The largest ID at the largest gen: the fields do not overlap. */
	CHECK(ino_of(s, "tokens/9007199254740991/name") == UINT64_C(0xfe00000000000002));
	CHECK(ino_of(s, "tokens/9007199254740991") == UINT64_C(0x0200000000000000));
	/* Each number resolves, and only at the version s holds. */
	CHECK(tree_node(s, UINT64_C(0x0800000000000082), &n) && n.kind == TREE_TOKEN_FILE &&
	      n.file == SNAP_F_NAME && n.tok->id == 7);
	for (unsigned gen = 0; gen < (1u << SNAP_GEN_BITS); gen++) {
		CHECK(tree_node(s, with_gen(0x82, gen), &n) == (gen == 2));
		CHECK(tree_node(s, with_gen(0x89, gen), &n) == (gen == 2));
		CHECK(tree_node(s, with_gen(UINT64_C(0x0200000000000002), gen), &n) ==
		      (gen == (1u << SNAP_GEN_BITS) - 1));
	}
	/* tokens.json at list version 5 only: not 4, not 6, not the placeholder. */
	CHECK(tree_node(s, 0x14b, &n) && n.kind == TREE_LIST);
	CHECK(!tree_node(s, 0x10b, &n));
	CHECK(!tree_node(s, 0x18b, &n));
	CHECK(!tree_node(s, TREE_INO_LIST, &n));
	/* Version keys: one per version of a token's files; tokens.json's is its number. */
	CHECK(tree_version_key(UINT64_C(0x0800000000000082)) == UINT64_C(0x0800000000000080));
	CHECK(tree_version_key(UINT64_C(0x0800000000000089)) == UINT64_C(0x0800000000000080));
	CHECK(tree_version_key(UINT64_C(0x0800000000000081)) == UINT64_C(0x0800000000000080));
	CHECK_EQ_INT(tree_version_key(0x14b), 0x14b);
	CHECK_EQ_INT(tree_version_key(0xdb), 0); /* report editions are not counted */
	CHECK_EQ_INT(tree_version_key(0x80), 0);
	CHECK_EQ_INT(tree_version_key(0x8f), 0);
	for (uint64_t ino = 0; ino < 16; ino++)
		CHECK_EQ_INT(tree_version_key(ino), 0);
	CHECK(tree_version_in(s, UINT64_C(0x0800000000000080)));
	CHECK(!tree_version_in(s, UINT64_C(0x0400000000000080)));
	CHECK(!tree_version_in(s, 0x80));
	CHECK(tree_version_in(s, UINT64_C(0xfe00000000000000)));
	CHECK(tree_version_in(s, 0x14b));
	CHECK(!tree_version_in(s, 0x10b));
	CHECK(!tree_version_in(s, with_gen(0x90, 0))); /* ID 8: not in the list */
	CHECK(!tree_version_in(NULL, 0x14b));
	CHECK(!tree_version_in(NULL, UINT64_C(0x0800000000000080)));
	snap_unref(s);
}

/* A list of tokens 1, 2 and 3, token 2 as given: its name, CreatedOn, Expiry, state, user. */
#define CARRY_LIST(name, created, expiry, state, uid) \
	"[" TOK_PLAIN(1, "one") "," TOK(2, name, created, expiry, state, uid) "," \
	TOK_PLAIN(3, "three") "]"

#define CARRY_BASE "[" TOK_PLAIN(1, "one") "," TOK_PLAIN(2, "two") "," TOK_PLAIN(3, "three") "]"

/* A snapshot of json numbered from old (snap_parse); NULL if it does not parse. */
static struct snapshot *carried(const char *json, const struct snapshot *old)
{
	struct pat_report r;
	struct snapshot *s = build_from(json, strlen(json), old, &r);

	if (s && r.skipped)
		check_fail(__FILE__, __LINE__, "tokens skipped: %s", r.warnings);
	return s;
}

/* A token keeps its gen while every file reads the same; any change gives the next. */
TEST(carry_numbers_token_versions)
{
	static const char *const changed[] = {
		CARRY_LIST("Two", "2025-01-01T00:00:00Z", "2026-01-01T00:00:00Z", 0, 1),
		CARRY_LIST("two", "2025-01-01T00:00:00.5Z", "2026-01-01T00:00:00Z", 0, 1),
		CARRY_LIST("two", "2025-01-01T00:00:00Z", "2026-01-01T00:00:01Z", 0, 1),
		/* The same instant, written otherwise: expiry reads differently. */
		CARRY_LIST("two", "2025-01-01T00:00:00Z", "2026-01-01T08:00:00+08:00", 0, 1),
		CARRY_LIST("two", "2025-01-01T00:00:00Z", "2026-01-01T00:00:00Z", 1, 1),
		CARRY_LIST("two", "2025-01-01T00:00:00Z", "2026-01-01T00:00:00Z", 0, 2),
	};
	struct snapshot *a = build(CARRY_BASE, strlen(CARRY_BASE)), *b;
	char v[128];

	if (!a)
		return;
	a->tok[0].gen = 5;
	a->tok[1].gen = 7;
	a->tok[2].gen = 0;
	a->list_ver = 9;
	/* The same list: every gen kept, and the list version. */
	b = carried(CARRY_BASE, a);
	if (b) {
		CHECK_EQ_STR(versions_of(b, v, sizeof(v)), "1:5 2:7 3:0 list:9");
		snap_unref(b);
	}
	/* One field of token 2 changed: its gen moves on, the others' stay. */
	for (size_t k = 0; k < sizeof(changed) / sizeof(changed[0]); k++) {
		b = carried(changed[k], a);
		if (!b)
			continue;
		if (strcmp(versions_of(b, v, sizeof(v)), "1:5 2:8 3:0 list:10") != 0)
			check_fail(__FILE__, __LINE__, "change %zu: versions %s", k, v);
		snap_unref(b);
	}
	/* The last gen wraps to 0. */
	a->tok[1].gen = (1u << SNAP_GEN_BITS) - 1;
	b = carried(changed[0], a);
	if (b) {
		CHECK_EQ_STR(versions_of(b, v, sizeof(v)), "1:5 2:0 3:0 list:10");
		snap_unref(b);
	}
	snap_unref(a);
}

/* New tokens start at 0, whatever the ID had before it left; others keep theirs. */
TEST(carry_new_and_returning_tokens)
{
	static const char without_2[] = "[" TOK_PLAIN(1, "one") "," TOK_PLAIN(3, "three") "]";
	static const char more[] = "[" TOK_PLAIN(0, "zero") "," TOK_PLAIN(1, "one") ","
		TOK_PLAIN(2, "two") "," TOK_PLAIN(3, "three") "," TOK_PLAIN(4, "four") "]";
	struct snapshot *a = build(CARRY_BASE, strlen(CARRY_BASE)), *b = NULL, *c = NULL;
	char v[128];

	if (!a)
		return;
	for (size_t i = 0; i < a->n; i++)
		a->tok[i].gen = (uint8_t)(10 + i);
	b = carried(without_2, a);
	if (!b)
		goto out;
	CHECK_EQ_STR(versions_of(b, v, sizeof(v)), "1:10 3:12 list:2");
	/* 2 comes back, 0 and 4 are new: all at 0. */
	c = carried(more, b);
	if (!c)
		goto out;
	CHECK_EQ_STR(versions_of(c, v, sizeof(v)), "0:0 1:10 2:0 3:12 4:0 list:3");
out:
	snap_unref(a);
	snap_unref(b);
	snap_unref(c);
}

/*
 * tokens.json's version follows its bytes: trailing whitespace is not in
 * them, any other difference is, even one that changes no token (the order).
 */
TEST(carry_list_version)
{
	static const char reordered[] =
		"[" TOK_PLAIN(3, "three") "," TOK_PLAIN(1, "one") "," TOK_PLAIN(2, "two") "]";
	struct snapshot *a = build(CARRY_BASE, strlen(CARRY_BASE)), *b;

	if (!a)
		return;
	for (size_t i = 0; i < a->n; i++)
		a->tok[i].gen = 3;
	a->list_ver = 41;
	b = carried(CARRY_BASE "\n \r\n", a);
	if (b) {
		CHECK_EQ_INT(b->list_ver, 41);
		CHECK_EQ_INT(tree_list_ino(b), tree_list_ino(a));
		snap_unref(b);
	}
	b = carried(" " CARRY_BASE, a);
	if (b) {
		CHECK_EQ_INT(b->list_ver, 42);
		snap_unref(b);
	}
	b = carried(reordered, a);
	if (b) {
		CHECK_EQ_INT(b->list_ver, 42);
		CHECK(tree_list_ino(b) != tree_list_ino(a));
		for (size_t i = 0; i < b->n; i++)
			CHECK_EQ_INT(b->tok[i].gen, 3); /* the same tokens: versions kept */
		snap_unref(b);
	}
	snap_unref(a);
}

/* The extremes of the ID range: 0 and 2^53 - 1. */
TEST(extreme_ids)
{
	static const char body[] = "["
		TOK(0, "zero", "2025-03-14T10:53:38.823+08:00", "2025-09-10T10:53:38.67+08:00", 0, 1) ","
		TOK(9007199254740991, "max", "2025-03-14T10:53:38.823+08:00",
		    "2025-09-10T10:53:38.67+08:00", 0, 1) "]";
	struct snapshot *s = build(body, strlen(body));
	struct tree_node n, m;
	char target[64];

	if (!s)
		return;
	CHECK_BODY(s, "tokens/0/name", "zero\n");
	CHECK_BODY(s, "tokens/9007199254740991/name", "max\n");
	CHECK_BODY(s, "tokens/9007199254740991/id", "9007199254740991\n");
	CHECK_LISTING(s, "tokens", TREE_INO_ROOT, "0", "9007199254740991");
	if (resolve(s, "tokens/0", &n) == TREE_FOUND) {
		CHECK(n.ino > TREE_INO_LIST);
		CHECK(tree_node(s, n.ino, &m) && m.kind == TREE_TOKEN_DIR && m.tok->id == 0);
	}
	if (resolve(s, "by-name/max", &n) == TREE_FOUND) {
		CHECK(tree_node(s, n.ino, &m) && m.kind == TREE_TOKEN_LINK);
		CHECK_EQ_INT(tree_readlink(&n, target, sizeof(target)), 26);
		CHECK_EQ_STR(target, "../tokens/9007199254740991");
	} else {
		CHECK(!"by-name/max not found");
	}
	snap_unref(s);
}

/*
 * A repeated ID: the first in the list wins, wherever the two sort, and the
 * other is reported; its name takes no by-name entry.  An object with
 * nothing but its ID is listed, its unreadable fields reported.
 */
TEST(repeated_id_first_wins)
{
	static const char json[] = "["
		TOK(5, "first", "2025-02-03T04:05:06Z", "2025-08-02T04:05:06Z", 0, 1) ","
		TOK(3, "other", "2025-02-03T04:05:06Z", "2025-08-02T04:05:06Z", 0, 1) ","
		"{\"ID\":4},"
		TOK(5, "second", "2025-02-03T04:05:06Z", "2025-08-02T04:05:06Z", 0, 1) "]";
	struct pat_report r;
	struct snapshot *s = build_report(json, sizeof(json) - 1, &r);
	const struct snap_token *t;

	if (!s)
		return;
	CHECK_EQ_INT(s->n, 3);
	CHECK(s->tok[0].id == 3 && s->tok[1].id == 4 && s->tok[2].id == 5);
	CHECK_EQ_INT(r.skipped, 1);
	CHECK_EQ_INT(r.problems, 1);
	CHECK_EQ_INT(s->problems, 1);
	CHECK(strstr(r.warnings, "token ID 4: field Name cannot be read: missing") != NULL);
	CHECK(strstr(r.warnings, "token ID 5 skipped: the ID appears more than once") != NULL);
	t = snap_find_id(s, 5);
	if (t) {
		size_t n;
		const char *b = snap_body(s, t, SNAP_F_NAME, &n);

		CHECK(n == 6 && memcmp(b, "first\n", 6) == 0);
	}
	CHECK(snap_find_name(s, "first") == t);
	CHECK(snap_find_name(s, "second") == NULL);
	CHECK(snap_find_name(s, "other") == snap_find_id(s, 3));
	snap_unref(s);
}

/*
 * A list in ID order is taken as it comes, but for a repeat right after
 * the first (still dropped, the first still winning); a list out of order
 * is sorted.
 */
TEST(lists_in_id_order_and_not)
{
	static const char *const lists[] = {
		"[" TOK(1, "a", "2025-02-03T04:05:06Z", "2025-08-02T04:05:06Z", 0, 1) ","
		    TOK(2, "b", "2025-02-03T04:05:06Z", "2025-08-02T04:05:06Z", 0, 1) ","
		    TOK(7, "c", "2025-02-03T04:05:06Z", "2025-08-02T04:05:06Z", 0, 1) "]",
		"[" TOK(1, "a", "2025-02-03T04:05:06Z", "2025-08-02T04:05:06Z", 0, 1) ","
		    TOK(2, "b", "2025-02-03T04:05:06Z", "2025-08-02T04:05:06Z", 0, 1) ","
		    TOK(7, "c", "2025-02-03T04:05:06Z", "2025-08-02T04:05:06Z", 0, 1) ","
		    TOK(7, "d", "2025-02-03T04:05:06Z", "2025-08-02T04:05:06Z", 0, 1) "]",
		"[" TOK(7, "c", "2025-02-03T04:05:06Z", "2025-08-02T04:05:06Z", 0, 1) ","
		    TOK(2, "b", "2025-02-03T04:05:06Z", "2025-08-02T04:05:06Z", 0, 1) ","
		    TOK(1, "a", "2025-02-03T04:05:06Z", "2025-08-02T04:05:06Z", 0, 1) "]",
	};

	for (size_t k = 0; k < sizeof(lists) / sizeof(lists[0]); k++) {
		struct pat_report r;
		struct snapshot *s = build_report(lists[k], strlen(lists[k]), &r);
		const struct snap_token *t;
		size_t n;

		if (!s)
			return;
		CHECK_EQ_INT(s->n, 3);
		CHECK(s->tok[0].id == 1 && s->tok[1].id == 2 && s->tok[2].id == 7);
		CHECK_EQ_INT(r.skipped, k == 1);
		t = snap_find_id(s, 7);
		CHECK(t && memcmp(snap_body(s, t, SNAP_F_NAME, &n), "c\n", 2) == 0 && n == 2);
		CHECK(snap_find_name(s, "d") == NULL);
		snap_unref(s);
	}
}

/* Writes element i of a generated list of n (see make_list). */
typedef void put_elem_fn(struct buf *b, int i, int n);

/*
 * The JSON array of n elements, element i written by put, in a malloc'd
 * buffer of *len bytes (not NUL-terminated); NULL when memory runs out.
 */
static char *make_list(int n, put_elem_fn *put, size_t *len)
{
	struct buf b = { 0 };

	buf_puts(&b, "[");
	for (int i = 0; i < n; i++) {
		buf_puts(&b, i ? "," : "");
		put(&b, i, n);
	}
	buf_puts(&b, "]");
	if (b.failed) {
		free(b.p);
		return NULL;
	}
	*len = b.len;
	return b.p;
}

/* Names of 60 slashes and a number below 100. */
#define SLASHES 60

/* Token i + 1, named SLASHES slashes and (i + 1) % 100. */
static void put_slashed(struct buf *b, int i, int n)
{
	buf_printf(b, "{\"ID\":%d,\"Name\":\"%.*s%d\",\"CreatedOn\":\"2025-01-01T00:00:00Z\","
		   "\"Expiry\":\"2026-01-01T00:00:00Z\","
		   "\"ExpiryReminderState\":0,\"UserID\":{\"IDString\":\"1_1\"}}",
		   i + 1, SLASHES, "////////////////////////////////////////////////////////////",
		   (i + 1) % 100);
}

/*
 * Many by-name entries longer than their names ('/' escapes to four
 * bytes): the arena grows, and moves, while they are written.  Each entry
 * still decodes to its own token's name, and repeated names get suffixes.
 */
TEST(by_name_entries_while_the_arena_moves)
{
	enum { N = 300 };
	char slashes[SLASHES + 1], name[SLASHES + 16];
	size_t len = 0;
	char *json = make_list(N, put_slashed, &len);
	struct pat_report r;
	struct snapshot *s;

	CHECK(json != NULL);
	if (!json)
		return;
	memset(slashes, '/', SLASHES);
	slashes[SLASHES] = '\0';
	s = build_report(json, len, &r);
	free(json);
	CHECK(s != NULL);
	if (!s)
		return;
	CHECK_EQ_INT(s->n, N);
	CHECK_EQ_INT(r.skipped, 0);
	for (size_t i = 0; i < s->n; i++) {
		const struct snap_token *t = &s->tok[i];
		const char *link = snap_link_name(s, t);
		char decoded[ESC_NAME_MAX + 1];
		const char *tilde = strrchr(link, '~');
		char *cut = strndup(link, tilde ? (size_t)(tilde - link) : strlen(link));

		snprintf(name, sizeof(name), "%s%d", slashes, (int)(t->id % 100));
		CHECK(cut != NULL && strlen(cut) < sizeof(decoded));
		if (cut) {
			esc_unescape(cut, decoded);
			CHECK_EQ_STR(decoded, name);
		}
		free(cut);
		CHECK(tilde != NULL); /* every name is there three times */
		CHECK(snap_find_name(s, link) == t);
	}
	snap_unref(s);
}

/*
 * Element i of n: IDs 1..n shuffled (1009 is prime), every 97th repeating
 * one from afar, every 131st with a Name that is no string; names repeat.
 */
static void put_mixed(struct buf *b, int i, int n)
{
	int id = (int)(((long)i * 1009) % n) + 1;

	if (i % 97 == 50)
		id = (int)(((long)(n - 1 - i) * 1009) % n) + 1;
	if (i % 131 == 7) {
		buf_printf(b, "{\"ID\":%d,\"Name\":%d}", id, i);
		return;
	}
	buf_printf(b, "{\"ID\":%d,\"Name\":\"tok/%.*s%d\","
		   "\"CreatedOn\":\"2025-01-01T00:00:%02d.%dZ\","
		   "\"Expiry\":\"2026-0%d-01T00:00:00+08:00\",\"ExpiryReminderState\":%d,"
		   "\"UserID\":{\"IDString\":\"%d_1\"}}",
		   id, i % 40, "........................................", i % 500, i % 60, i,
		   1 + i % 9, i % 3, i % 11);
}

/*
 * A list long enough to be read by two threads gives the snapshot that one
 * reading gives (pat_parse is the oracle): the same tokens, every body, the
 * same by-name entries, the same report.  Repeated IDs and names and
 * invalid objects sit on both sides of the cut.
 */
TEST(long_list_read_by_two_threads)
{
	size_t len = 0;
	char *json = make_list(3000, put_mixed, &len), *scratch = NULL, *want = NULL;
	size_t scratch_cap = 0, want_cap = 0;
	struct pat_list l = { 0 };
	struct pat_report r;
	struct pat_cut cut;
	struct snapshot *s = NULL;
	struct err e;

	CHECK(json != NULL);
	if (!json)
		goto out;
	CHECK(len >= SNAP_SPLIT_MIN);
	CHECK(pat_find_cut(json, len, len / 2, &cut));
	CHECK_EQ_INT(pat_parse(json, len, &l, &e), ERR_OK);
	s = build_report(json, len, &r);
	CHECK(s != NULL);
	if (!s)
		goto out;
	CHECK(l.report.problems > 20 && l.report.skipped > 25);
	CHECK_EQ_INT(r.skipped, l.report.skipped);
	CHECK_EQ_INT(r.problems, l.report.problems);
	CHECK_EQ_STR(r.warnings, l.report.warnings);
	CHECK_EQ_INT(s->n, l.n);
	for (size_t i = 0; i < s->n && i < l.n; i++) {
		const struct snap_token *t = &s->tok[i];
		const struct pat *p = &l.v[i];
		char num[3][32];
		const char *text[SNAP_NFILES] = {
			[SNAP_F_ID] = num[0], [SNAP_F_NAME] = p->name,
			[SNAP_F_CREATED_ON] = p->created_on, [SNAP_F_EXPIRY] = p->expiry,
			[SNAP_F_REMINDER] = num[1], [SNAP_F_USER_ID] = p->user_id,
			[SNAP_F_EXPIRY_EPOCH] = num[2],
		};
		const char *got;
		size_t n, wn;

		CHECK(t->id == p->id && t->elem_off == p->elem_off);
		snprintf(num[0], sizeof(num[0]), "%" PRId64, p->id);
		snprintf(num[1], sizeof(num[1]), "%s", p->reminder_raw ? p->reminder_raw : "");
		if (!p->reminder_raw)
			snprintf(num[1], sizeof(num[1]), "%" PRId64, p->reminder_state);
		snprintf(num[2], sizeof(num[2]), "%lld", (long long)p->expires.tv_sec);
		if (p->problems & PAT_EXPIRY)
			snprintf(num[2], sizeof(num[2]), "unknown");
		for (int f = 0; f < SNAP_NFILES; f++) {
			if (f == SNAP_F_JSON)
				continue;
			got = snap_body(s, t, (enum snap_file)f, &n);
			if (n != strlen(text[f]) + 1 || memcmp(got, text[f], n - 1) != 0 ||
			    got[n - 1] != '\n') {
				check_fail(__FILE__, __LINE__, "token %" PRId64 " %s: \"%.*s\", not \"%s\"",
					   p->id, snap_file_names[f], (int)n, got, text[f]);
				break;
			}
		}
		got = snap_token_json(s, t, &n, &scratch, &scratch_cap);
		wn = pat_render(json + p->elem_off, p->elem_len, &want, &want_cap);
		CHECK(got && n == wn && memcmp(got, want, n) == 0);
		/* Names repeat: each entry is unique and finds its own token. */
		CHECK(snap_find_name(s, snap_link_name(s, t)) == t);
	}
	snap_unref(s);
out:
	pat_list_free(&l);
	free(scratch);
	free(want);
	free(json);
}

/* Before the first fetch only the fixed nodes exist. */
TEST(no_snapshot)
{
	struct tree_owner own = { .uid = 1, .gid = 2, .umask = 022 };
	struct tree_node root, n, child;
	struct stat st;
	char buf[TREE_NAME_BUF];
	const char *name;
	size_t len = 99;

	CHECK(tree_node(NULL, TREE_INO_ROOT, &root));
	CHECK_EQ_INT(root.kind, TREE_ROOT);
	CHECK(tree_node(NULL, TREE_INO_TOKENS, &n) && n.kind == TREE_TOKENS);
	CHECK(tree_node(NULL, TREE_INO_BYNAME, &n) && n.kind == TREE_BYNAME);
	/* tokens.json is listed under its placeholder number, which never resolves. */
	CHECK_EQ_INT(tree_list_ino(NULL), TREE_INO_LIST);
	CHECK(!tree_node(NULL, TREE_INO_LIST, &n));
	CHECK(resolve(NULL, "tokens.json", &n) == TREE_FOUND && n.kind == TREE_LIST &&
	      n.ino == TREE_INO_LIST);
	CHECK(!tree_node(NULL, 0, &n));
	CHECK(!tree_node(NULL, 16, &n));
	CHECK(!tree_node(NULL, (2 << 4) | 1, &n));
	CHECK_LOOKUP(NULL, "tokens", 0);
	CHECK_LOOKUP(NULL, "by-name", 0);
	CHECK_LOOKUP(NULL, "tokens.json", 0);
	CHECK_LOOKUP(NULL, "tokens/1", TREE_ABSENT);
	CHECK_LOOKUP(NULL, "tokens/0", TREE_ABSENT);
	CHECK_LOOKUP(NULL, "by-name/Teams integ", TREE_ABSENT);
	CHECK_EQ_INT(tree_dir_count(NULL, &root), 10);
	if (tree_node(NULL, TREE_INO_TOKENS, &n)) {
		CHECK_EQ_INT(tree_dir_count(NULL, &n), 2);
		CHECK(!tree_dir_entry(NULL, &n, 2, buf, &name, &child));
		tree_stat(NULL, &n, &own, mount_time, &st);
		CHECK_EQ_INT(st.st_nlink, 2);
		CHECK_EQ_INT(st.st_mtim.tv_sec, mount_time.tv_sec);
		CHECK_EQ_INT(st.st_mtim.tv_nsec, mount_time.tv_nsec);
	}
	tree_stat(NULL, &root, &own, mount_time, &st);
	CHECK_EQ_INT(st.st_mode, S_IFDIR | 0555);
	CHECK_EQ_INT(st.st_uid, 1);
	CHECK_EQ_INT(st.st_gid, 2);
	CHECK_EQ_INT(st.st_mtim.tv_sec, mount_time.tv_sec);
	if (resolve(NULL, "tokens.json", &n) == TREE_FOUND) {
		char *scratch = NULL;
		size_t cap = 0;

		CHECK(tree_body(NULL, &n, &len, &scratch, &cap) == NULL);
		CHECK(scratch == NULL);
		CHECK_EQ_INT(tree_body_len(NULL, &n), 0);
		tree_stat(NULL, &n, &own, mount_time, &st);
		CHECK_EQ_INT(st.st_size, 0);
		CHECK_EQ_INT(st.st_mode, S_IFREG | 0444);
	}
}

TEST(refcounts)
{
	struct snapshot *s = build_all();
	struct snapshot *r;

	if (!s)
		return;
	CHECK_EQ_INT(atomic_load(&s->refs), 1);
	r = snap_ref(s);
	CHECK(r == s);
	CHECK_EQ_INT(atomic_load(&s->refs), 2);
	snap_ref(s);
	CHECK_EQ_INT(atomic_load(&s->refs), 3);
	snap_unref(s);
	snap_unref(s);
	CHECK_EQ_INT(atomic_load(&s->refs), 1);
	CHECK_EQ_INT(s->n, NTOK);
	snap_unref(s);  /* the last one frees it: valgrind watches */
	snap_unref(NULL);
}

/* The body of a clock file at path, at the moment clk. */
static void check_clock(const char *file, int line, const struct snapshot *s,
			const struct tree_clock *clk, const char *path, const char *want)
{
	struct tree_node n;
	char buf[32];
	size_t len;

	if (resolve(s, path, &n) != TREE_FOUND || n.kind != TREE_TOKEN_CLOCK) {
		check_fail(file, line, "%s: not a clock file", path);
		return;
	}
	len = tree_clock_body(&n, clk, buf, sizeof(buf));
	if (len != strlen(want) || memcmp(buf, want, len) != 0)
		check_fail(file, line, "%s: \"%.*s\", want \"%s\"", path, (int)len, buf, want);
}

/* The members of a view at the moment clk, as entry names joined by ','. */
static void check_view(const char *file, int line, const struct snapshot *s,
		       const struct tree_clock *clk, uint64_t view_ino, const char *want)
{
	uint32_t idx[16];
	char got[512] = "";
	struct tree_node view, child;
	const char *name;
	size_t n;

	tree_node(s, view_ino, &view);
	n = tree_view_members(s, clk, &view, idx);
	for (size_t i = 0; i < n; i++) {
		tree_view_entry(s, &view, idx[i], &name, &child);
		if (child.kind != TREE_TOKEN_LINK || child.view != view.kind)
			check_fail(file, line, "%s: not a link of its view", name);
		strcat(got, i ? "," : "");
		strcat(got, name);
	}
	if (strcmp(got, want) != 0)
		check_fail(file, line, "view %ju: \"%s\", want \"%s\"", (uintmax_t)view_ino, got, want);
}

/*
 * Tokens whose Expiry (or other fields) cannot be read are listed: each
 * such field's file holds the raw text, what derives from the Expiry says
 * "unknown", they are in no view at any moment, their clock files never
 * change, and an unreadable CreatedOn gives the Unix epoch as mtime.
 */
TEST(unreadable_fields)
{
	static const char body[] = "["
		TOK(1, "gone", "2025-01-01T00:00:00Z", "2025-09-30T23:59:59Z", 0, 1) ","
		TOK(2, "dotnet", "2025-01-01T00:00:00Z", "\\/Date(1798761600000)\\/", 0, 1) ","
		TOK(3, "soon", "2025-01-01T00:00:00Z", "soon", 0, 1) ","
		"{\"ID\":4,\"Name\":\"number\",\"CreatedOn\":\"2025-13-01\",\"Expiry\":1798761600000,"
		"\"ExpiryReminderState\":\"x\",\"UserID\":{\"IDString\":\"1_1\"}}" ","
		TOK(5, "day", "2025-01-01T00:00:00Z", "2025-10-02T00:00:00Z", 0, 1) "]";
	struct pat_report r;
	struct snapshot *s = build_report(body, strlen(body), &r);
	struct tree_clock t = test_clock, ever[] = {
		{ { 0, 0 }, 7 }, test_clock, { { 1798761600, 0 }, 7 }, { { 4102444800, 0 }, 100000 },
	};
	struct timespec since, until = { 42, 0 };
	struct tree_node n;
	struct stat st;

	if (!s)
		return;
	CHECK_EQ_INT(s->n, 5);
	CHECK_EQ_INT(s->problems, 3);
	CHECK_EQ_INT(r.skipped, 0);
	CHECK_EQ_INT(r.problems, 3);
	CHECK_BODY(s, "tokens/2/expiry", "/Date(1798761600000)/\n");
	CHECK_BODY(s, "tokens/2/expiry_epoch", "unknown\n");
	CHECK_BODY(s, "tokens/2/created_on", "2025-01-01T00:00:00Z\n");
	/* token.json keeps the value, as cJSON prints it ("\/" is "/"). */
	CHECK_BODY(s, "tokens/2/token.json", TOK(2, "dotnet", "2025-01-01T00:00:00Z",
						  "/Date(1798761600000)/", 0, 1) "\n");
	CHECK_BODY(s, "tokens/3/expiry", "soon\n");
	CHECK_BODY(s, "tokens/4/expiry", "1798761600000\n");
	CHECK_BODY(s, "tokens/4/expiry_epoch", "unknown\n");
	CHECK_BODY(s, "tokens/4/created_on", "2025-13-01\n");
	CHECK_BODY(s, "tokens/4/expiry_reminder_state", "x\n");
	CHECK_BODY(s, "tokens/4/name", "number\n");
	CHECK_BODY(s, "tokens/5/expiry_epoch", "1759363200\n");
	check_clock(__FILE__, __LINE__, s, &t, "tokens/2/days_left", "unknown\n");
	check_clock(__FILE__, __LINE__, s, &t, "tokens/2/expired", "unknown\n");
	check_clock(__FILE__, __LINE__, s, &t, "tokens/4/expired", "unknown\n");
	check_clock(__FILE__, __LINE__, s, &t, "tokens/5/days_left", "1\n");
	check_clock(__FILE__, __LINE__, s, &t, "tokens/5/expired", "0\n");
	for (size_t i = 0; i < sizeof(ever) / sizeof(ever[0]); i++) {
		CHECK_EQ_INT(resolve(s, "expired/dotnet", &n), TREE_ABSENT);
		CHECK_EQ_INT(resolve(s, "expiring/soon", &n), TREE_ABSENT);
		check_clock(__FILE__, __LINE__, s, &ever[i], "tokens/3/expired", "unknown\n");
	}
	check_view(__FILE__, __LINE__, s, &ever[0], TREE_INO_EXPIRED, "");
	check_view(__FILE__, __LINE__, s, &ever[0], TREE_INO_EXPIRING, "");
	check_view(__FILE__, __LINE__, s, &t, TREE_INO_EXPIRED, "gone");
	check_view(__FILE__, __LINE__, s, &t, TREE_INO_EXPIRING, "day");
	check_view(__FILE__, __LINE__, s, &ever[3], TREE_INO_EXPIRED, "day,gone");
	check_view(__FILE__, __LINE__, s, &ever[3], TREE_INO_EXPIRING, "");
	CHECK_EQ_INT(resolve(s, "by-name/dotnet", &n), 0);
	/* "unknown" never turns into anything else: no span ends. */
	if (resolve(s, "tokens/2/days_left", &n) == TREE_FOUND) {
		CHECK(!tree_clock_span(&n, &t, &since, &until));
		CHECK_EQ_INT(since.tv_sec, 1735689600);
		CHECK_EQ_INT(until.tv_sec, 42);
	}
	/* The views change only with the expiries that read: token 5's, in 7 days. */
	tree_node(s, TREE_INO_EXPIRED, &n);
	CHECK(tree_view_span(s, &t, &n, &since, &until));
	CHECK_EQ_INT(since.tv_sec, fetched.tv_sec);
	CHECK_EQ_INT(until.tv_sec, 1759363200);
	/* An unreadable CreatedOn: the files' mtime is the Unix epoch. */
	if (resolve(s, "tokens/4/name", &n) == TREE_FOUND) {
		tree_stat(s, &n, &(struct tree_owner){ .umask = 022 }, fetched, &st);
		CHECK_EQ_INT(st.st_mtim.tv_sec, 0);
		CHECK_EQ_INT(st.st_mtim.tv_nsec, 0);
	}
	snap_unref(s);
}

/*
 * Tokens around the moment T = 2025-10-01T00:00:00Z: one expired a second
 * ago, one expires in half a day, one in exactly 7 days, one in 8 days.
 */
TEST(clock_files_and_views)
{
	static const char body[] = "["
		TOK(1, "gone", "2025-01-01T00:00:00Z", "2025-09-30T23:59:59Z", 0, 1) ","
		TOK(2, "soon", "2025-01-01T00:00:00Z", "2025-10-01T12:00:00Z", 0, 1) ","
		TOK(3, "week", "2025-01-01T00:00:00Z", "2025-10-08T00:00:00Z", 0, 1) ","
		TOK(4, "later", "2025-01-01T00:00:00Z", "2025-10-09T00:00:00.5Z", 0, 1) ","
		TOK(5, "soon", "2025-01-01T00:00:00Z", "2025-10-01T00:00:00.25Z", 0, 1) "]";
	struct snapshot *s = build(body, strlen(body));
	struct tree_clock t = test_clock, later = test_clock;
	struct tree_node n;

	if (!s)
		return;
	CHECK_BODY(s, "tokens/1/expiry_epoch", "1759276799\n");
	CHECK_BODY(s, "tokens/4/expiry_epoch", "1759968000\n");
	check_clock(__FILE__, __LINE__, s, &t, "tokens/1/expired", "1\n");
	check_clock(__FILE__, __LINE__, s, &t, "tokens/1/days_left", "-1\n");
	check_clock(__FILE__, __LINE__, s, &t, "tokens/2/expired", "0\n");
	check_clock(__FILE__, __LINE__, s, &t, "tokens/2/days_left", "0\n");
	check_clock(__FILE__, __LINE__, s, &t, "tokens/3/days_left", "7\n");
	check_clock(__FILE__, __LINE__, s, &t, "tokens/4/days_left", "8\n");
	/* A quarter second before its expiry, token 5 has not expired... */
	check_clock(__FILE__, __LINE__, s, &t, "tokens/5/expired", "0\n");
	check_clock(__FILE__, __LINE__, s, &t, "tokens/5/days_left", "0\n");
	/* ...and at the very nanosecond it has. */
	later.now.tv_nsec = 250000000;
	check_clock(__FILE__, __LINE__, s, &later, "tokens/5/expired", "1\n");
	check_clock(__FILE__, __LINE__, s, &later, "tokens/5/days_left", "-1\n");
	/* Views: same entry names as by-name (the two "soon" are told apart). */
	check_view(__FILE__, __LINE__, s, &t, TREE_INO_EXPIRED, "gone");
	check_view(__FILE__, __LINE__, s, &t, TREE_INO_EXPIRING, "soon~2,soon~5,week");
	check_view(__FILE__, __LINE__, s, &later, TREE_INO_EXPIRED, "gone,soon~5");
	check_view(__FILE__, __LINE__, s, &later, TREE_INO_EXPIRING, "soon~2,week");
	t.expiring_days = 0;
	check_view(__FILE__, __LINE__, s, &t, TREE_INO_EXPIRING, "");
	t.expiring_days = 30;
	check_view(__FILE__, __LINE__, s, &t, TREE_INO_EXPIRING, "later,soon~2,soon~5,week");
	/* Lookups in views follow the same clock; the link points at the token. */
	CHECK_LOOKUP(s, "expired/gone", 0);
	CHECK_LOOKUP(s, "expired/week", TREE_ABSENT);
	CHECK_LOOKUP(s, "expiring/week", 0);
	CHECK_LOOKUP(s, "expiring/gone", TREE_ABSENT);
	CHECK_LOOKUP(s, "expiring/later", TREE_ABSENT);
	if (resolve(s, "expiring/week", &n) == TREE_FOUND) {
		char target[64];

		CHECK_EQ_INT(tree_readlink(&n, target, sizeof(target)), 11);
		CHECK_EQ_STR(target, "../tokens/3");
		CHECK(n.ino != 0);
	}
	CHECK(resolve(s, "status", &n) == TREE_FOUND && tree_is_dynamic(&n));
	CHECK(resolve(s, "metrics.prom", &n) == TREE_FOUND && tree_is_dynamic(&n));
	snap_unref(s);
}

static int ts_cmp(struct timespec a, struct timespec b)
{
	if (a.tv_sec != b.tv_sec)
		return a.tv_sec < b.tv_sec ? -1 : 1;
	return (a.tv_nsec > b.tv_nsec) - (a.tv_nsec < b.tv_nsec);
}

/*
 * What kernel_cache relies on: a clock file's body is the same at any two
 * moments with the same span start (its mtime), and stays so up to the span
 * end (until which the kernel may keep it).  Checked at instants around
 * every day boundary and the expiry, to the nanosecond.
 */
TEST(clock_spans)
{
	static const char body[] = "["
		TOK(1, "a", "2025-01-01T00:00:00Z", "2025-10-03T06:00:00.25Z", 0, 1) ","
		TOK(2, "b", "2025-12-01T00:00:00Z", "2025-10-02T00:00:00Z", 0, 1) "]";
	static const long long offsets[] = { -1, 0, 1, 500000000 };
	struct snapshot *s = build(body, strlen(body));
	struct timespec at[200], since[200], until[200];
	char bodies[200][32];
	const char *const paths[] = { "tokens/1/days_left", "tokens/1/expired",
				      "tokens/2/days_left", "tokens/2/expired" };

	if (!s)
		return;
	for (size_t p = 0; p < 4; p++) {
		struct tree_node n;
		size_t k = 0;

		if (resolve(s, paths[p], &n) != TREE_FOUND)
			continue;
		for (int d = -3; d <= 3; d++)
			for (size_t o = 0; o < 4; o++)
				at[k++] = ts_add_ns(n.tok->expires,
						    d * 86400LL * 1000000000LL + offsets[o]);
		for (size_t i = 0; i < k; i++) {
			struct tree_clock c = { at[i], 7 };
			struct tree_clock end = c;
			char after[32];
			bool changes = tree_clock_span(&n, &c, &since[i], &until[i]);

			tree_clock_body(&n, &c, bodies[i], sizeof(bodies[i]));
			if (!changes) {
				until[i] = ts_add_ns(at[i], 1000LL * 86400 * 1000000000LL);
				continue;
			}
			CHECK(ts_cmp(at[i], until[i]) <= 0);
			/* The same body up to the end of the span, another just after. */
			end.now = until[i];
			tree_clock_body(&n, &end, after, sizeof(after));
			if (ts_cmp(until[i], n.tok->expires) != 0)
				CHECK_EQ_STR(after, bodies[i]);
			end.now = ts_add_ns(until[i], 1);
			tree_clock_body(&n, &end, after, sizeof(after));
			if (strcmp(after, bodies[i]) == 0)
				check_fail(__FILE__, __LINE__, "%s at %lld.%09ld: no change after the span",
					   paths[p], (long long)at[i].tv_sec, at[i].tv_nsec);
		}
		for (size_t i = 0; i < k; i++)
			for (size_t j = 0; j < k; j++)
				if (ts_cmp(since[i], since[j]) == 0 && strcmp(bodies[i], bodies[j]) != 0)
					check_fail(__FILE__, __LINE__, "%s: one mtime, two bodies (%s, %s)",
						   paths[p], bodies[i], bodies[j]);
	}
	snap_unref(s);
}

/* What tree_diff reported, as text lines "node INO 0|1" and "entry PARENT NAME". */
struct diff_log {
	char text[16384];
};

static void log_node(void *ctx, uint64_t ino, bool content)
{
	struct diff_log *d = ctx;
	size_t used = strlen(d->text);

	snprintf(d->text + used, sizeof(d->text) - used, "node %ju %d\n", (uintmax_t)ino,
		 content);
}

static void log_entry(void *ctx, uint64_t parent, const char *name, size_t len)
{
	struct diff_log *d = ctx;
	size_t used = strlen(d->text);

	snprintf(d->text + used, sizeof(d->text) - used, "entry %ju %.*s\n", (uintmax_t)parent,
		 (int)len, name);
}

/* Is line (without its newline) one of the lines of d? */
static bool logged(const struct diff_log *d, const char *line)
{
	size_t n = strlen(line);

	for (const char *p = d->text; (p = strstr(p, line)) != NULL; p++)
		if ((p == d->text || p[-1] == '\n') && p[n] == '\n')
			return true;
	return false;
}

/* The names of a token folder's files: the snapshot's, then the clock's. */
static const char *token_file_name(unsigned i)
{
	static const char *const clock_files[TREE_NCLOCK] = { "days_left", "expired" };

	return i < SNAP_NFILES ? snap_file_names[i] : clock_files[i - SNAP_NFILES];
}

/* How many of the files of folder dir were reported as entries to look up again. */
static unsigned files_reported(const struct diff_log *d, uint64_t dir)
{
	unsigned n = 0;
	char line[128];

	for (unsigned i = 0; i < SNAP_NFILES + TREE_NCLOCK; i++) {
		snprintf(line, sizeof(line), "entry %ju %s", (uintmax_t)dir, token_file_name(i));
		n += logged(d, line);
	}
	return n;
}

/* Lines of d that name a node of the token whose folder is dir (any slot or gen). */
static unsigned lines_about(const struct diff_log *d, uint64_t dir)
{
	const uint64_t id_mask = ((UINT64_C(1) << (64 - SNAP_GEN_BITS)) - 1) & ~UINT64_C(15);
	unsigned n = 0;

	for (const char *p = d->text; *p; p = strchr(p, '\n') + 1) {
		uintmax_t ino;

		if ((sscanf(p, "node %ju", &ino) == 1 || sscanf(p, "entry %ju", &ino) == 1) &&
		    ino >= 16 && (ino & id_mask) == dir)
			n++;
	}
	return n;
}

/* Nodes reported with a version (a token's files, tokens.json): there should be none. */
static unsigned versioned_nodes(const struct diff_log *d)
{
	unsigned n = 0;

	for (const char *p = d->text; *p; p = strchr(p, '\n') + 1) {
		uintmax_t ino;

		if (sscanf(p, "node %ju", &ino) == 1 && tree_version_key(ino) != 0)
			n++;
	}
	return n;
}

/*
 * One refresh: 2 renamed (same length), 3 gone, 9 new, 4's expiry moved,
 * 5's creation moved, 1 as it was.  A token with any file changed has a new
 * version: its file names are reported under its folder (their numbers
 * change) and the folder's listing; no file is reported by number.
 */
TEST(diff_reports_what_changed)
{
	static const char before[] = "["
		TOK(1, "same", "2025-01-01T00:00:00Z", "2026-01-01T00:00:00Z", 0, 1) ","
		TOK(2, "old name", "2025-01-01T00:00:00Z", "2026-01-01T00:00:00Z", 0, 1) ","
		TOK(3, "leaving", "2025-01-01T00:00:00Z", "2026-01-01T00:00:00Z", 0, 1) ","
		TOK(4, "moved", "2025-01-01T00:00:00Z", "2026-01-01T00:00:00Z", 0, 1) ","
		TOK(5, "born", "2025-01-01T00:00:00Z", "2026-01-01T00:00:00Z", 0, 1) "]";
	static const char after[] = "["
		TOK(1, "same", "2025-01-01T00:00:00Z", "2026-01-01T00:00:00Z", 0, 1) ","
		TOK(2, "new name", "2025-01-01T00:00:00Z", "2026-01-01T00:00:00Z", 0, 1) ","
		TOK(4, "moved", "2025-01-01T00:00:00Z", "2026-02-01T00:00:00Z", 0, 1) ","
		TOK(5, "born", "2025-01-02T00:00:00Z", "2026-01-01T00:00:00Z", 0, 1) ","
		TOK(9, "arrived", "2025-01-01T00:00:00Z", "2026-01-01T00:00:00Z", 0, 1) "]";
	static const struct tree_diff_ops ops = { log_node, log_entry };
	struct snapshot *a = build(before, strlen(before));
	struct snapshot *b = a ? carried(after, a) : NULL, *c = b ? carried(after, b) : NULL;
	struct diff_log *d = calloc(1, sizeof(*d));
	struct tree_node n;
	char line[128];
	uint64_t dir;

	if (!a || !b || !c || !d)
		goto out;
	CHECK_EQ_STR(versions_of(b, line, sizeof(line)), "1:0 2:1 4:1 5:1 9:0 list:2");
	CHECK(a->serial == 1 && b->serial == 2 && c->serial == 3);
	tree_diff(a, b, &ops, d);
#define LOGGED(...) do {						\
		snprintf(line, sizeof(line), __VA_ARGS__);		\
		if (!logged(d, line))					\
			check_fail(__FILE__, __LINE__, "not reported: %s", line); \
	} while (0)
#define NOT_LOGGED(...) do {						\
		snprintf(line, sizeof(line), __VA_ARGS__);		\
		if (logged(d, line))					\
			check_fail(__FILE__, __LINE__, "reported: %s", line); \
	} while (0)
	CHECK_EQ_INT(versioned_nodes(d), 0);
	/* 2: a new version, and its by-name entries; its links are as they were. */
	dir = ino_of(a, "tokens/2");
	CHECK_EQ_INT(files_reported(d, dir), SNAP_NFILES + TREE_NCLOCK);
	LOGGED("node %ju 1", (uintmax_t)dir);
	NOT_LOGGED("node %ju 1", (uintmax_t)(dir | 15));
	LOGGED("entry %d old name", TREE_INO_BYNAME);
	LOGGED("entry %d new name", TREE_INO_BYNAME);
	LOGGED("entry %d old name", TREE_INO_EXPIRING);
	LOGGED("entry %d new name", TREE_INO_EXPIRED);
	/* 3: gone: its names, its folder and links, and its files' names. */
	dir = ino_of(a, "tokens/3");
	LOGGED("entry %d 3", TREE_INO_TOKENS);
	LOGGED("entry %d leaving", TREE_INO_BYNAME);
	LOGGED("entry %d leaving", TREE_INO_EXPIRING);
	LOGGED("entry %d leaving", TREE_INO_EXPIRED);
	LOGGED("node %ju 1", (uintmax_t)dir);
	for (unsigned slot = 13; slot < 16; slot++)
		LOGGED("node %ju 1", (uintmax_t)(dir | slot));
	CHECK_EQ_INT(files_reported(d, dir), SNAP_NFILES + TREE_NCLOCK);
	/* 9: new names only; it had no files to look up again. */
	LOGGED("entry %d 9", TREE_INO_TOKENS);
	LOGGED("entry %d arrived", TREE_INO_BYNAME);
	CHECK_EQ_INT(files_reported(d, ino_of(b, "tokens/9")), 0);
	/* 4: the expiry: a new version, not the name, nor the links. */
	dir = ino_of(a, "tokens/4");
	CHECK_EQ_INT(files_reported(d, dir), SNAP_NFILES + TREE_NCLOCK);
	LOGGED("node %ju 1", (uintmax_t)dir);
	NOT_LOGGED("entry %d moved", TREE_INO_BYNAME);
	NOT_LOGGED("node %ju 1", (uintmax_t)(dir | 13));
	/* 5: created moved: a new version, and the links' mtimes. */
	dir = ino_of(a, "tokens/5");
	CHECK_EQ_INT(files_reported(d, dir), SNAP_NFILES + TREE_NCLOCK);
	for (unsigned slot = 13; slot < 16; slot++)
		LOGGED("node %ju 1", (uintmax_t)(dir | slot));
	NOT_LOGGED("entry %d born", TREE_INO_BYNAME);
	/* 1: nothing at all. */
	NOT_LOGGED("entry %d 1", TREE_INO_TOKENS);
	CHECK_EQ_INT(lines_about(d, ino_of(a, "tokens/1")), 0);
	/* The listings changed; tokens.json has a new number, in the root's listing. */
	LOGGED("node %d 1", TREE_INO_TOKENS);
	LOGGED("node %d 1", TREE_INO_BYNAME);
	LOGGED("entry %d tokens.json", TREE_INO_ROOT);
	LOGGED("node %d 1", TREE_INO_ROOT);
	NOT_LOGGED("node %d 1", TREE_INO_LIST);
	NOT_LOGGED("node %d 0", TREE_INO_LIST);
	/* The numbers: changed files have new ones, the rest keep theirs. */
	CHECK(ino_of(a, "tokens/2/name") != ino_of(b, "tokens/2/name"));
	CHECK(!tree_node(b, ino_of(a, "tokens/2/name"), &n));
	CHECK(!tree_node(a, ino_of(b, "tokens/4/days_left"), &n));
	CHECK_EQ_INT(ino_of(a, "tokens/2"), ino_of(b, "tokens/2"));
	CHECK_EQ_INT(ino_of(a, "tokens/1/name"), ino_of(b, "tokens/1/name"));
	CHECK_EQ_INT(ino_of(a, "tokens.json"), tree_list_ino(a));
	CHECK_EQ_INT(ino_of(b, "tokens.json"), tree_list_ino(b));
	CHECK(!tree_node(b, tree_list_ino(a), &n));
	/* The same list again: every version kept, attributes only (the fetch time). */
	CHECK_EQ_STR(versions_of(c, line, sizeof(line)), "1:0 2:1 4:1 5:1 9:0 list:2");
	d->text[0] = '\0';
	tree_diff(b, c, &ops, d);
	CHECK(strstr(d->text, "entry") == NULL);
	CHECK(strstr(d->text, " 1\n") == NULL);
	LOGGED("node %d 0", TREE_INO_ROOT);
	LOGGED("node %d 0", TREE_INO_TOKENS);
#undef LOGGED
#undef NOT_LOGGED
out:
	free(d);
	snap_unref(a);
	snap_unref(b);
	snap_unref(c);
}

/* Names listed by tree_dir_next from *pos, n at most, joined by ','. */
static void list_from(const struct snapshot *s, const struct tree_clock *clk, uint64_t dir_ino,
		      uint64_t *pos, size_t n, char *out, size_t cap)
{
	char buf[TREE_NAME_BUF];
	struct tree_node dir, child;
	const char *name;

	tree_node(s, dir_ino, &dir);
	for (size_t i = 0; i < n && tree_dir_next(s, clk, &dir, pos, buf, &name, &child); i++) {
		size_t used = strlen(out);

		snprintf(out + used, cap - used, "%s%s", used ? "," : "", name);
	}
}

/* A listing that goes on in a newer snapshot neither repeats nor skips. */
TEST(listing_positions_outlive_snapshots)
{
	static const char before[] = "["
		TOK(1, "a", "2025-01-01T00:00:00Z", "2026-01-01T00:00:00Z", 0, 1) ","
		TOK(3, "c", "2025-01-01T00:00:00Z", "2026-01-01T00:00:00Z", 0, 1) ","
		TOK(5, "e", "2025-01-01T00:00:00Z", "2025-09-01T00:00:00Z", 0, 1) ","
		TOK(8, "h", "2025-01-01T00:00:00Z", "2025-10-03T00:00:00Z", 0, 1) "]";
	static const char after[] = "["
		TOK(1, "a", "2025-01-01T00:00:00Z", "2026-01-01T00:00:00Z", 0, 1) ","
		TOK(4, "d", "2025-01-01T00:00:00Z", "2026-01-01T00:00:00Z", 0, 1) ","
		TOK(6, "f", "2025-01-01T00:00:00Z", "2025-09-01T00:00:00Z", 0, 1) ","
		TOK(8, "h", "2025-01-01T00:00:00Z", "2025-10-03T00:00:00Z", 0, 1) "]";
	struct snapshot *a = build(before, strlen(before)), *b = build(after, strlen(after));
	char out[256] = "";
	uint64_t pos = 0;

	if (!a || !b)
		goto out;
	/* ".", "..", 1 and 3 from the first, the rest from the second. */
	list_from(a, &test_clock, TREE_INO_TOKENS, &pos, 4, out, sizeof(out));
	list_from(b, &test_clock, TREE_INO_TOKENS, &pos, 99, out, sizeof(out));
	CHECK_EQ_STR(out, ".,..,1,3,4,6,8");
	out[0] = '\0';
	pos = 0;
	list_from(a, &test_clock, TREE_INO_BYNAME, &pos, 3, out, sizeof(out));
	list_from(b, &test_clock, TREE_INO_BYNAME, &pos, 99, out, sizeof(out));
	CHECK_EQ_STR(out, ".,..,a,d,f,h");
	/* Views list their members only: expired 5 and 6, expiring 8. */
	out[0] = '\0';
	pos = 0;
	list_from(a, &test_clock, TREE_INO_EXPIRED, &pos, 99, out, sizeof(out));
	CHECK_EQ_STR(out, ".,..,e");
	out[0] = '\0';
	pos = 0;
	list_from(b, &test_clock, TREE_INO_EXPIRING, &pos, 99, out, sizeof(out));
	CHECK_EQ_STR(out, ".,..,h");
	/* Fixed folders list by index, as tree_dir_entry does. */
	out[0] = '\0';
	pos = 0;
	list_from(a, &test_clock, TREE_INO_ROOT, &pos, 99, out, sizeof(out));
	CHECK_EQ_STR(out, ".,..,tokens,by-name,expiring,expired,new,tokens.json,metrics.prom,status");
out:
	snap_unref(a);
	snap_unref(b);
}

/*
 * The cursor: offsets of a keyed folder carry the tag of their snapshot
 * (the worked example of tree.h), and a listing resumed from one goes on
 * after the last token listed, whichever snapshot it resumes in.
 */
TEST(cursor_offsets_name_their_snapshot)
{
	static const char body[] = "[" TOK_PLAIN(5, "five") "," TOK_PLAIN(41, "forty-one") ","
		TOK_PLAIN(50, "fifty") "]";
	static const char later[] = "[" TOK_PLAIN(5, "five") "," TOK_PLAIN(42, "forty-two") ","
		TOK_PLAIN(50, "fifty") "]";
	struct snapshot *s[8] = { NULL };
	struct tree_node tokens, root, child;
	struct tree_cursor cur;
	char buf[TREE_NAME_BUF];
	const char *name;
	uint64_t off, at41 = 0;
	int n = 0;

	/* Snapshots 1 to 7 of body, then 8 of later. */
	s[0] = build(body, strlen(body));
	for (int i = 1; i < 8 && s[i - 1]; i++)
		s[i] = carried(i < 7 ? body : later, s[i - 1]);
	if (!s[7])
		goto out;
	CHECK_EQ_INT(s[6]->serial, 7);
	tree_node(s[6], TREE_INO_TOKENS, &tokens);
	tree_node(s[6], TREE_INO_ROOT, &root);
	tree_cursor_open(&cur, s[6], &test_clock, &tokens, 0);
	while (tree_cursor_next(&cur, buf, &name, &child, &off)) {
		n++;
		if (n <= 2)
			CHECK_EQ_INT(off, n); /* "." and ".." carry no tag */
		if (strcmp(name, "41") == 0)
			at41 = off;
	}
	CHECK_EQ_INT(n, 5);
	CHECK(at41 == UINT64_C(0x01c000000000002c));
	CHECK(tree_cursor_in(s[6], &tokens, at41));
	CHECK(!tree_cursor_in(s[7], &tokens, at41));
	CHECK(tree_cursor_in(s[7], &tokens, 2));
	CHECK(tree_cursor_in(s[7], &root, at41)); /* the root is not keyed */
	/* Resumed in snapshot 8, where 41 is gone: after it, 42 and 50. */
	tree_cursor_open(&cur, s[7], &test_clock, &tokens, at41);
	CHECK(tree_cursor_next(&cur, buf, &name, &child, &off));
	CHECK_EQ_STR(name, "42");
	CHECK(off == ((UINT64_C(8) << 54) | (42 + 3)));
	CHECK(tree_cursor_next(&cur, buf, &name, &child, &off));
	CHECK_EQ_STR(name, "50");
	CHECK(!tree_cursor_next(&cur, buf, &name, &child, &off));
	/* The root's offsets are plain indexes. */
	tree_cursor_open(&cur, s[7], &test_clock, &root, 2);
	CHECK(tree_cursor_next(&cur, buf, &name, &child, &off));
	CHECK_EQ_STR(name, "tokens");
	CHECK_EQ_INT(off, 3);
out:
	for (int i = 0; i < 8; i++)
		snap_unref(s[i]);
}

/* A view's mtime never stands for two sets of members; the set holds until the span ends. */
TEST(view_spans)
{
	static const char body[] = "["
		TOK(1, "a", "2025-01-01T00:00:00Z", "2025-11-28T03:20:10Z", 0, 1) ","
		TOK(2, "b", "2025-01-01T00:00:00Z", "2025-12-05T03:20:05Z", 0, 1) ","
		TOK(3, "c", "2025-01-01T00:00:00Z", "2025-11-28T03:20:00.5Z", 0, 1) "]";
	struct snapshot *s = build(body, strlen(body));
	const uint64_t views[] = { TREE_INO_EXPIRING, TREE_INO_EXPIRED };

	if (!s)
		return;
	for (size_t v = 0; v < 2; v++) {
		struct timespec since[64], until[64];
		char members[64][64];
		struct tree_node view;
		size_t k = 0;

		tree_node(s, views[v], &view);
		/* Every bound (an expiry, or 7 days before it), give or take 1 ns. */
		struct timespec at[3 * 6 + 1];
		size_t na = 0;

		for (size_t t = 0; t < s->n; t++) {
			for (int w = 0; w < 2; w++) {
				struct timespec bound = s->tok[t].expires;

				bound.tv_sec -= w * 7 * 86400;
				for (long long ns = -1; ns <= 1; ns++) {
					struct timespec x = ts_add_ns(bound, ns);

					if (ts_cmp(x, fetched) >= 0 && na < sizeof(at) / sizeof(at[0]))
						at[na++] = x;
				}
			}
		}
		at[na++] = fetched;
		for (size_t a = 0; a < na; a++) {
			/* The moments a snapshot is served at: from its fetch on. */
			struct tree_clock c = { at[a], 7 }, at_end;
			uint32_t idx[4];
			size_t n;
			bool changes;

			changes = tree_view_span(s, &c, &view, &since[k], &until[k]);
			n = tree_view_members(s, &c, &view, idx);
			for (size_t i = 0; i < n; i++)
				members[k][i] = (char)('a' + idx[i]);
			members[k][n] = '\0';
			CHECK(ts_cmp(since[k], c.now) <= 0);
			if (changes) {
				char later[8] = "";

				CHECK(ts_cmp(c.now, until[k]) < 0);
				at_end = c;
				at_end.now = ts_add_ns(until[k], -1);
				n = tree_view_members(s, &at_end, &view, idx);
				for (size_t i = 0; i < n; i++)
					later[i] = (char)('a' + idx[i]);
				later[n] = '\0';
				CHECK_EQ_STR(later, members[k]);
			}
			k++;
		}
		for (size_t i = 0; i < k; i++)
			for (size_t j = 0; j < k; j++)
				if (ts_cmp(since[i], since[j]) == 0 && strcmp(members[i], members[j]) != 0)
					check_fail(__FILE__, __LINE__, "view %ju: one mtime, members %s and %s",
						   (uintmax_t)views[v], members[i], members[j]);
	}
	snap_unref(s);
}

static const struct check_test tests[] = {
	TEST_CASE(sample_token_files),
	TEST_CASE(every_file_newline_and_size),
	TEST_CASE(bad_token_paths),
	TEST_CASE(by_name_lookup),
	TEST_CASE(readlink_buffer),
	TEST_CASE(by_name_listing),
	TEST_CASE(tokens_json),
	TEST_CASE(modes_and_owner),
	TEST_CASE(times),
	TEST_CASE(link_counts),
	TEST_CASE(listings),
	TEST_CASE(inodes_unique_and_round_trip),
	TEST_CASE(inode_layout),
	TEST_CASE(carry_numbers_token_versions),
	TEST_CASE(carry_new_and_returning_tokens),
	TEST_CASE(carry_list_version),
	TEST_CASE(extreme_ids),
	TEST_CASE(repeated_id_first_wins),
	TEST_CASE(lists_in_id_order_and_not),
	TEST_CASE(by_name_entries_while_the_arena_moves),
	TEST_CASE(long_list_read_by_two_threads),
	TEST_CASE(no_snapshot),
	TEST_CASE(refcounts),
	TEST_CASE(clock_files_and_views),
	TEST_CASE(clock_spans),
	TEST_CASE(diff_reports_what_changed),
	TEST_CASE(listing_positions_outlive_snapshots),
	TEST_CASE(cursor_offsets_name_their_snapshot),
	TEST_CASE(view_spans),
	TEST_CASE(unreadable_fields),
};

CHECK_MAIN(tests)
