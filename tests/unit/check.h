/*
 * check.h - a tiny header-only TAP harness for the unit tests.
 *
 * A test is a function declared with TEST(name).  Inside it, CHECK() and
 * the CHECK_EQ_*() macros record a failure (with file:line and the values
 * compared) and carry on.  A program lists its tests in a table and hands
 * it to CHECK_MAIN(), which prints TAP: the plan, one "ok"/"not ok" line
 * per test, and the failures as "# ..." diagnostics before each "not ok".
 * The exit status is non-zero when any test failed.  The last line counts
 * the checks made ("# 123 checks"), so that a change to a test's set-up can
 * be seen to leave every check in place.
 *
 * Checks are not thread-safe: call them from the main thread only.
 */
#ifndef SYNERGYFS_CHECK_H
#define SYNERGYFS_CHECK_H

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#define TEST(name) static void name(void)

struct check_test {
	const char *name;
	void (*fn)(void);
};

/* One table entry; the function's name is the TAP description. */
#define TEST_CASE(fn) { #fn, fn }

/* Failures of the running test; after this many, only count them. */
#define CHECK_MAX_REPORTS 20
static unsigned check_failures;
static unsigned long check_made; /* checks run, passed or failed, in every test */

static inline void check_fail(const char *file, int line, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static inline void check_fail(const char *file, int line, const char *fmt, ...)
{
	va_list ap;

	if (++check_failures > CHECK_MAX_REPORTS) {
		if (check_failures == CHECK_MAX_REPORTS + 1)
			printf("# (further failures of this test not shown)\n");
		return;
	}
	printf("# %s:%d: ", file, line);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	putchar('\n');
}

/* Print n bytes of p quoted, with unprintable bytes as \xNN; long ones cut. */
static inline void check_quote(const char *p, size_t n)
{
	const size_t max = 120;

	if (!p) {
		fputs("NULL", stdout);
		return;
	}
	putchar('"');
	for (size_t i = 0; i < n && i < max; i++) {
		unsigned char c = (unsigned char)p[i];

		if (c == '"' || c == '\\')
			printf("\\%c", c);
		else if (c < 0x20 || c >= 0x7f)
			printf("\\x%02x", c);
		else
			putchar(c);
	}
	putchar('"');
	if (n > max)
		printf("... (%zu bytes)", n);
}

static inline void check_mem(const char *file, int line, const char *expr,
			     const void *p, size_t n, const void *q, size_t m)
{
	check_made++;
	if (p && q && n == m && memcmp(p, q, n) == 0)
		return;
	if (!p && !q)
		return;
	check_fail(file, line, "%s", expr);
	if (check_failures > CHECK_MAX_REPORTS)
		return;
	fputs("#   got:      ", stdout);
	check_quote(p, n);
	fputs("\n#   expected: ", stdout);
	check_quote(q, m);
	putchar('\n');
}

#define CHECK(cond) do {						\
	check_made++;							\
	if (!(cond))							\
		check_fail(__FILE__, __LINE__, "%s", #cond);		\
} while (0)

#define CHECK_EQ_INT(a, b) do {						\
	intmax_t a_ = (intmax_t)(a), b_ = (intmax_t)(b);		\
	check_made++;							\
	if (a_ != b_)							\
		check_fail(__FILE__, __LINE__, "%s == %s: %jd != %jd",	\
			   #a, #b, a_, b_);				\
} while (0)

#define CHECK_EQ_STR(a, b) do {						\
	const char *a_ = (a), *b_ = (b);				\
	check_mem(__FILE__, __LINE__, #a " == " #b, a_,			\
		  a_ ? strlen(a_) : 0, b_, b_ ? strlen(b_) : 0);	\
} while (0)

#define CHECK_EQ_MEM(p, n, q, m)					\
	check_mem(__FILE__, __LINE__, #p " == " #q, (p), (n), (q), (m))

/* Run every test of the table, print TAP, return the exit status. */
static inline int check_run(const struct check_test *t, size_t n)
{
	unsigned failed = 0;

	printf("1..%zu\n", n);
	for (size_t i = 0; i < n; i++) {
		check_failures = 0;
		fflush(stdout);
		t[i].fn();
		if (check_failures)
			failed++;
		printf("%sok %zu - %s\n", check_failures ? "not " : "", i + 1, t[i].name);
		fflush(stdout);
	}
	if (failed)
		printf("# %u of %zu tests failed\n", failed, n);
	printf("# %lu checks\n", check_made);
	return failed ? 1 : 0;
}

#define CHECK_MAIN(table)						\
	int main(void)							\
	{								\
		return check_run(table, sizeof(table) / sizeof(table[0])); \
	}

#endif
