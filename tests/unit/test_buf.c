/*
 * test_buf.c - buf_i64 against printf, at the edges of int64_t and on a
 * spread of values of every length and sign.
 */
#include <inttypes.h>
#include <stdio.h>

#include "buf.h"
#include "check.h"

/* One value: the same text as "%" PRId64, its length, a NUL after it. */
static void same_as_printf(int64_t v)
{
	char want[32], got[BUF_I64_TEXT + 1];
	int wlen = snprintf(want, sizeof(want), "%" PRId64, v);
	size_t len;

	got[BUF_I64_TEXT] = 'x'; /* not to be written: one past the room */
	len = buf_i64(got, v);
	CHECK_EQ_INT(len, wlen);
	if (len < BUF_I64_TEXT) {
		CHECK_EQ_STR(got, want);
		CHECK_EQ_INT(got[len], '\0');
	}
	CHECK_EQ_INT(got[BUF_I64_TEXT], 'x');
}

TEST(edges)
{
	static const int64_t v[] = {
		0, 1, -1, 9, 10, -9, -10, 99, 100, -100,
		INT32_MAX, INT32_MIN, (int64_t)INT32_MAX + 1, (int64_t)INT32_MIN - 1,
		9007199254740991, -9007199254740991, /* the exact range of a double */
		INT64_MAX, INT64_MIN, INT64_MAX - 1, INT64_MIN + 1,
	};

	for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++)
		same_as_printf(v[i]);
}

TEST(every_length)
{
	/* 10^k - 1, 10^k and 10^k + 1, with both signs, for k up to 18. */
	int64_t p = 1;

	for (int k = 0;; k++) {
		for (int64_t d = -1; d <= 1; d++) {
			same_as_printf(p + d);
			same_as_printf(-(p + d));
		}
		if (k == 18)
			break; /* 10^19 is past INT64_MAX */
		p *= 10;
	}
}

TEST(spread)
{
	/* A linear congruential walk over all 64 bits, shifted to every width. */
	uint64_t x = 88172645463325252u;

	for (int i = 0; i < 200000; i++) {
		x = x * 6364136223846793005u + 1442695040888963407u;
		same_as_printf((int64_t)x >> (i % 64));
	}
}

static const struct check_test tests[] = {
	TEST_CASE(edges),
	TEST_CASE(every_length),
	TEST_CASE(spread),
};

CHECK_MAIN(tests)
