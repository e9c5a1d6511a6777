/*
 * test_secret.c - unit tests for secret.h: bytes in and out unchanged,
 * the length, the NUL after them, joining two strings, protect and free
 * (NULL included), and a secret larger than a page.
 */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check.h"
#include "secret.h"

TEST(round_trip)
{
	struct secret *s = secret_new("s3cr3t-token", 12);

	CHECK(s != NULL);
	if (!s)
		return;
	CHECK_EQ_STR(secret_data(s), "s3cr3t-token");
	CHECK_EQ_INT(secret_len(s), 12);
	secret_free(s);
}

TEST(only_len_bytes_and_a_nul)
{
	const char src[] = "abcdef";
	struct secret *s = secret_new(src, 3);

	CHECK(s != NULL);
	if (!s)
		return;
	CHECK_EQ_INT(secret_len(s), 3);
	CHECK_EQ_MEM(secret_data(s), 4, "abc", 4);
	CHECK_EQ_INT(strlen(secret_data(s)), 3);
	secret_free(s);
}

TEST(inner_nul_kept)
{
	struct secret *s = secret_new("a\0b", 3);

	CHECK(s != NULL);
	if (!s)
		return;
	CHECK_EQ_INT(secret_len(s), 3);
	CHECK_EQ_MEM(secret_data(s), 4, "a\0b", 4);
	secret_free(s);
}

TEST(empty)
{
	struct secret *s = secret_new(NULL, 0);

	CHECK(s != NULL);
	if (!s)
		return;
	CHECK_EQ_INT(secret_len(s), 0);
	CHECK_EQ_STR(secret_data(s), "");
	secret_free(s);
}

TEST(larger_than_a_page)
{
	size_t n = (size_t)sysconf(_SC_PAGESIZE) * 2 + 5;
	char *src = malloc(n);
	struct secret *s;

	CHECK(src != NULL);
	if (!src)
		return;
	for (size_t i = 0; i < n; i++)
		src[i] = (char)('a' + i % 26);
	s = secret_new(src, n);
	CHECK(s != NULL);
	if (s) {
		CHECK_EQ_INT(secret_len(s), n);
		CHECK_EQ_MEM(secret_data(s), n, src, n);
		CHECK_EQ_INT(secret_data(s)[n], 0);
	}
	secret_free(s);
	free(src);
}

TEST(join)
{
	struct secret *s = secret_join("Authorization: Bearer ", "tok");

	CHECK(s != NULL);
	if (!s)
		return;
	CHECK_EQ_STR(secret_data(s), "Authorization: Bearer tok");
	CHECK_EQ_INT(secret_len(s), 25);
	secret_free(s);
	s = secret_join("", "");
	CHECK(s != NULL);
	if (s)
		CHECK_EQ_STR(secret_data(s), "");
	secret_free(s);
}

/* Protect may be called again (after fork) and leaves the bytes alone. */
TEST(protect_keeps_data)
{
	struct secret *s = secret_new("xyz", 3);

	CHECK(s != NULL);
	if (!s)
		return;
	secret_protect(s);
	secret_protect(s);
	CHECK_EQ_STR(secret_data(s), "xyz");
	CHECK_EQ_INT(secret_len(s), 3);
	secret_free(s);
}

TEST(null_ok)
{
	secret_protect(NULL);
	secret_free(NULL);
	CHECK(1);
}

static const struct check_test tests[] = {
	TEST_CASE(round_trip),
	TEST_CASE(only_len_bytes_and_a_nul),
	TEST_CASE(inner_nul_kept),
	TEST_CASE(empty),
	TEST_CASE(larger_than_a_page),
	TEST_CASE(join),
	TEST_CASE(protect_keeps_data),
	TEST_CASE(null_ok),
};

CHECK_MAIN(tests)
