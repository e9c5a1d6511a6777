/*
 * test_minted.c - unit tests for the folders of new/ (src/minted.c): a
 * name is reserved once, shows only when filled, lists in seq order from
 * any point, is read as the secret file's bytes, and goes with its secret
 * (by seq, or by the token's ID); numbers are never reused.
 */
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "minted.h"
#include "secret.h"

/* A secret file's bytes as a secret. */
static struct secret *file_of(const char *text)
{
	return secret_new(text, strlen(text));
}

/* What reading folder seq's secret from off (size bytes) gives, into out. */
struct read_out {
	char text[64];
	size_t len;
	int calls;
};

static void collect(void *arg, const char *p, size_t len)
{
	struct read_out *r = arg;

	r->calls++;
	r->len = len;
	if (len)
		memcpy(r->text, p, len);
	r->text[len] = '\0';
}

TEST(reserve_then_fill)
{
	struct minted *m = minted_new();
	struct minted_info f;
	uint64_t a, b, c;

	if (!m)
		return;
	CHECK_EQ_INT(minted_reserve(m, "one", &a), MINTED_RESERVED);
	CHECK_EQ_INT(a, 1);
	/* Reserved, not shown; the name is taken all the same. */
	CHECK(!minted_lookup(m, "one", &f));
	CHECK(!minted_get(m, a, &f));
	CHECK_EQ_INT(minted_count(m), 0);
	CHECK_EQ_INT(minted_reserve(m, "one", &b), MINTED_EXISTS);
	minted_fill(m, a, 41, file_of("s3cret\n"));
	CHECK(minted_lookup(m, "one", &f));
	CHECK_EQ_INT(f.seq, a);
	CHECK_EQ_INT(f.id, 41);
	CHECK_EQ_INT(f.secret_len, 6);
	CHECK_EQ_STR(f.entry, "one");
	CHECK(f.created.tv_sec > 0);
	CHECK_EQ_INT(minted_reserve(m, "one", &b), MINTED_EXISTS);
	/* A dropped reservation frees the name; numbers go on. */
	CHECK_EQ_INT(minted_reserve(m, "two", &b), MINTED_RESERVED);
	CHECK(minted_drop(m, b));
	CHECK(!minted_drop(m, b));
	CHECK_EQ_INT(minted_reserve(m, "two", &c), MINTED_RESERVED);
	CHECK(c > b);
	/* Filling what is not reserved frees the secret given (ASan sees a leak otherwise). */
	minted_fill(m, 999, 1, file_of("x\n"));
	CHECK(!minted_get(m, 999, &f));
	minted_free(m);
}

TEST(read_secret_slices)
{
	struct minted *m = minted_new();
	struct read_out r = { .calls = 0 };
	uint64_t a;

	if (!m || minted_reserve(m, "k", &a) != MINTED_RESERVED)
		goto out;
	CHECK(!minted_read_secret(m, a, 0, 100, collect, &r));
	CHECK_EQ_INT(r.calls, 0);
	minted_fill(m, a, MINTED_NO_ID, file_of("abcdef\n"));
	CHECK(minted_read_secret(m, a, 0, 100, collect, &r));
	CHECK_EQ_STR(r.text, "abcdef\n");
	CHECK(minted_read_secret(m, a, 2, 3, collect, &r));
	CHECK_EQ_STR(r.text, "cde");
	CHECK(minted_read_secret(m, a, 7, 10, collect, &r));
	CHECK_EQ_INT(r.len, 0);
	CHECK(minted_read_secret(m, a, 1000, 10, collect, &r));
	CHECK_EQ_INT(r.len, 0);
	CHECK_EQ_INT(r.calls, 4);
out:
	minted_free(m);
}

TEST(listing_in_seq_order)
{
	static const char *const names[] = { "c", "a", "b", "d" };
	struct minted *m = minted_new();
	struct minted_info f;
	uint64_t seq[4], after = 0;
	char got[32] = "";

	if (!m)
		return;
	for (size_t i = 0; i < 4; i++) {
		CHECK_EQ_INT(minted_reserve(m, names[i], &seq[i]), MINTED_RESERVED);
		if (i != 2)
			minted_fill(m, seq[i], (int64_t)i, file_of("s\n"));
	}
	/* "b" is still being made: not listed. */
	while (minted_next(m, &after, &f))
		strcat(got, f.entry);
	CHECK_EQ_STR(got, "cad");
	/* From the middle on, as a listing resumed at an offset. */
	after = seq[1];
	CHECK(minted_next(m, &after, &f));
	CHECK_EQ_STR(f.entry, "d");
	CHECK(!minted_next(m, &after, &f));
	minted_free(m);
}

TEST(dropped_with_their_token)
{
	struct minted *m = minted_new();
	struct minted_info f;
	struct timespec t0 = { 5, 0 }, before;
	uint64_t a, b, c;

	if (!m)
		return;
	CHECK_EQ_INT(minted_changed(m, t0).tv_sec, 5);
	minted_reserve(m, "a", &a);
	minted_reserve(m, "b", &b);
	minted_reserve(m, "c", &c);
	minted_fill(m, a, 7, file_of("1\n"));
	minted_fill(m, b, 8, file_of("2\n"));
	minted_fill(m, c, 7, file_of("3\n"));
	before = minted_changed(m, t0);
	CHECK(before.tv_sec > 5);
	CHECK_EQ_INT(minted_drop_id(m, 7), 2);
	CHECK_EQ_INT(minted_drop_id(m, 7), 0);
	CHECK(!minted_lookup(m, "a", &f) && !minted_lookup(m, "c", &f));
	CHECK(minted_lookup(m, "b", &f) && f.id == 8);
	CHECK_EQ_INT(minted_count(m), 1);
	minted_free(m);
}

TEST(full)
{
	struct minted *m = minted_new();
	char name[16];
	uint64_t seq;

	if (!m)
		return;
	for (int i = 0; i < MINTED_MAX; i++) {
		snprintf(name, sizeof(name), "n%d", i);
		if (minted_reserve(m, name, &seq) != MINTED_RESERVED) {
			CHECK(!"a reservation below MINTED_MAX failed");
			break;
		}
	}
	CHECK_EQ_INT(minted_reserve(m, "one more", &seq), MINTED_FULL);
	CHECK(minted_drop(m, 1));
	CHECK_EQ_INT(minted_reserve(m, "one more", &seq), MINTED_RESERVED);
	CHECK_EQ_INT(seq, MINTED_MAX + 1);
	minted_free(m);
}

static const struct check_test tests[] = {
	TEST_CASE(reserve_then_fill),
	TEST_CASE(read_secret_slices),
	TEST_CASE(listing_in_seq_order),
	TEST_CASE(dropped_with_their_token),
	TEST_CASE(full),
};

CHECK_MAIN(tests)
