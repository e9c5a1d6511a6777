/*
 * test_timestamp.c - unit tests for ts_parse(): the forms Synergy sends,
 * the offsets and fractions ISO 8601 allows, and the inputs it must refuse.
 *
 * Expected epochs were computed by hand and cross-checked with
 * `date -u -d <timestamp> +%s`.
 */
#include <stdbool.h>
#include <time.h>

#include "check.h"
#include "timestamp.h"

/* Parse s, expecting success with the given seconds and nanoseconds. */
#define CHECK_TS(s, sec, nsec) do {					\
	struct timespec ts_ = { -7, -7 };				\
	bool ok_ = ts_parse((s), &ts_);					\
	if (!ok_)							\
		check_fail(__FILE__, __LINE__, "ts_parse(\"%s\") failed", (s)); \
	else {								\
		CHECK_EQ_INT(ts_.tv_sec, (sec));			\
		CHECK_EQ_INT(ts_.tv_nsec, (nsec));			\
	}								\
} while (0)

/* Parse s, expecting failure with the output left as it was. */
#define CHECK_TS_BAD(s) do {						\
	struct timespec ts_ = { 12345, 678 };				\
	if (ts_parse((s), &ts_))					\
		check_fail(__FILE__, __LINE__,				\
			   "ts_parse(\"%s\") accepted it as %lld.%09ld", \
			   (s), (long long)ts_.tv_sec, ts_.tv_nsec);	\
	else {								\
		CHECK_EQ_INT(ts_.tv_sec, 12345);			\
		CHECK_EQ_INT(ts_.tv_nsec, 678);				\
	}								\
} while (0)

/* 2025-03-14T02:53:38Z: 20089 days to 2025-01-01, +72 days, +10418 s. */
#define SAMPLE_SEC 1741920818

TEST(public_sample)
{
	CHECK_TS("2025-03-14T10:53:38.823+08:00", SAMPLE_SEC, 823000000);
	CHECK_TS("2025-09-10T10:53:38.67+08:00", 1757472818, 670000000);
	CHECK_TS("2025-04-30T13:21:44.467+08:00", 1745990504, 467000000);
	CHECK_TS("2025-05-02T13:21:44.36+08:00", 1746163304, 360000000);
}

TEST(zone_forms)
{
	CHECK_TS("2025-03-14T02:53:38Z", SAMPLE_SEC, 0);
	CHECK_TS("2025-03-14T02:53:38z", SAMPLE_SEC, 0);
	CHECK_TS("2025-03-14T02:53:38+00:00", SAMPLE_SEC, 0);
	CHECK_TS("2025-03-14T02:53:38-00:00", SAMPLE_SEC, 0);
	CHECK_TS("2025-03-13T21:53:38-05:00", SAMPLE_SEC, 0);
	CHECK_TS("2025-03-14T08:23:38+0530", SAMPLE_SEC, 0);
	CHECK_TS("2025-03-14T08:23:38+05:30", SAMPLE_SEC, 0);
	CHECK_TS("2025-03-14T07:53:38+05", SAMPLE_SEC, 0);
	CHECK_TS("2025-03-13T23:23:38-0330", SAMPLE_SEC, 0);
	CHECK_TS("2025-03-15T02:53:38+23:59", SAMPLE_SEC + 60, 0);
	/* No offset at all means UTC. */
	CHECK_TS("2025-03-14T02:53:38", SAMPLE_SEC, 0);
	CHECK_TS("2025-03-14T02:53:38.5", SAMPLE_SEC, 500000000);
}

TEST(zone_rejects)
{
	CHECK_TS_BAD("2025-03-14T02:53:38+24:00");
	CHECK_TS_BAD("2025-03-14T02:53:38+05:60");
	CHECK_TS_BAD("2025-03-14T02:53:38+5");
	CHECK_TS_BAD("2025-03-14T02:53:38+053");
	CHECK_TS_BAD("2025-03-14T02:53:38+05:3");
	CHECK_TS_BAD("2025-03-14T02:53:38+05:30:00");
	CHECK_TS_BAD("2025-03-14T02:53:38+08:00Z");
	CHECK_TS_BAD("2025-03-14T02:53:38Z+08:00");
	CHECK_TS_BAD("2025-03-14T02:53:38ZZ");
	CHECK_TS_BAD("2025-03-14T02:53:38 +08:00");
	CHECK_TS_BAD("2025-03-14T02:53:38UTC");
	CHECK_TS_BAD("2025-03-14T02:53:38+");
	CHECK_TS_BAD("2025-03-14T02:53:38-");
}

/* "+hh:" is none of the documented forms (+hh:mm, +hhmm, +hh). */
TEST(zone_rejects_dangling_colon)
{
	CHECK_TS_BAD("2025-03-14T02:53:38+05:");
	CHECK_TS_BAD("2025-03-14T02:53:38.823-08:");
}

TEST(fraction_digits)
{
	static const struct {
		const char *s;
		long nsec;
	} cases[] = {
		{ "2025-03-14T02:53:38Z", 0 },
		{ "2025-03-14T02:53:38.1Z", 100000000 },
		{ "2025-03-14T02:53:38.12Z", 120000000 },
		{ "2025-03-14T02:53:38.123Z", 123000000 },
		{ "2025-03-14T02:53:38.1234Z", 123400000 },
		{ "2025-03-14T02:53:38.12345Z", 123450000 },
		{ "2025-03-14T02:53:38.123456Z", 123456000 },
		{ "2025-03-14T02:53:38.1234567Z", 123456700 },
		{ "2025-03-14T02:53:38.12345678Z", 123456780 },
		{ "2025-03-14T02:53:38.123456789Z", 123456789 },
		{ "2025-03-14T02:53:38.1234567891Z", 123456789 },
		{ "2025-03-14T02:53:38.99999999999999999999Z", 999999999 },
		{ "2025-03-14T02:53:38.000000000000000000001Z", 0 },
		{ "2025-03-14T02:53:38.0Z", 0 },
		{ "2025-03-14T02:53:38,5Z", 500000000 },
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		CHECK_TS(cases[i].s, SAMPLE_SEC, cases[i].nsec);
	/* .NET's seven digits, as Synergy may send them, with an offset. */
	CHECK_TS("2025-01-02T03:04:05.1234567+00:00", 1735787045, 123456700);
	CHECK_TS("2025-01-02T11:04:05.9999999+08:00", 1735787045, 999999900);
	/* Ten digits: the tenth is dropped, not rounded. */
	CHECK_TS("2025-01-02T03:04:05.1234567891Z", 1735787045, 123456789);
	CHECK_TS("2025-01-02T03:04:05.1234567899Z", 1735787045, 123456789);
	CHECK_TS_BAD("2025-03-14T02:53:38.Z");
	CHECK_TS_BAD("2025-03-14T02:53:38.");
	CHECK_TS_BAD("2025-03-14T02:53:38..5Z");
	CHECK_TS_BAD("2025-03-14T02:53:38.5.5Z");
	CHECK_TS_BAD("2025-03-14T02:53:38.-5Z");
}

TEST(calendar)
{
	CHECK_TS("1970-01-01T00:00:00Z", 0, 0);
	CHECK_TS("2024-02-29T12:00:00Z", 1709208000, 0);
	CHECK_TS("2000-02-29T00:00:00Z", 951782400, 0);
	CHECK_TS("2025-12-31T23:59:59Z", 1767225599, 0);
	CHECK_TS("2026-01-01T00:00:00+00:00", 1767225600, 0);
	CHECK_TS_BAD("2025-02-29T12:00:00Z");
	CHECK_TS_BAD("1900-02-29T00:00:00Z");
	CHECK_TS_BAD("2025-04-31T00:00:00Z");
	CHECK_TS_BAD("2025-13-01T00:00:00Z");
	CHECK_TS_BAD("2025-00-10T00:00:00Z");
	CHECK_TS_BAD("2025-01-32T00:00:00Z");
	CHECK_TS_BAD("2025-01-00T00:00:00Z");
	CHECK_TS_BAD("2025-01-01T24:00:00Z");
	CHECK_TS_BAD("2025-01-01T23:60:00Z");
	CHECK_TS_BAD("2025-01-01T23:59:61Z");
}

TEST(before_1970)
{
	CHECK_TS("1969-12-31T23:59:59Z", -1, 0);
	CHECK_TS("1969-12-31T23:59:59.5Z", -1, 500000000);
	CHECK_TS("1970-01-01T07:59:59+08:00", -1, 0);
	CHECK_TS("1900-01-01T00:00:00Z", -2208988800LL, 0);
	CHECK_TS("1960-06-15T08:30:00+02:00", -301253400, 0);
	/* Year 0 exists in the proleptic Gregorian calendar and is a leap year. */
	CHECK_TS("0000-03-01T00:00:00Z", -62162035200LL, 0);
	CHECK_TS("0000-02-29T00:00:00Z", -62162121600LL, 0);
}

TEST(separators)
{
	CHECK_TS("2025-03-14t10:53:38.823+08:00", SAMPLE_SEC, 823000000);
	CHECK_TS("2025-03-14 10:53:38.823+08:00", SAMPLE_SEC, 823000000);
	CHECK_TS_BAD("2025-03-14_10:53:38.823+08:00");
	CHECK_TS_BAD("2025-03-1410:53:38.823+08:00");
	CHECK_TS_BAD("2025/03/14T10:53:38Z");
	CHECK_TS_BAD("2025-03-14T10.53.38Z");
}

TEST(truncated_and_garbage)
{
	CHECK_TS_BAD("2025-03-14T10:53");
	CHECK_TS_BAD("2025-03-14T10:53Z");
	CHECK_TS_BAD("2025-03-14T10:53+08:00");
	CHECK_TS_BAD("2025-03-14T10:53:3");
	CHECK_TS_BAD("2025-03-14T");
	CHECK_TS_BAD("2025-03-14");
	CHECK_TS_BAD("2025");
	CHECK_TS_BAD("");
	CHECK_TS_BAD("T");
	CHECK_TS_BAD("25-03-14T10:53:38Z");
	CHECK_TS_BAD("2025-3-14T10:53:38Z");
	CHECK_TS_BAD("2025-03-14T1:53:38Z");
	CHECK_TS_BAD("+2025-03-14T10:53:38Z");
	CHECK_TS_BAD(" 2025-03-14T10:53:38Z");
	CHECK_TS_BAD("2025-03-14T10:53:38Z ");
	CHECK_TS_BAD("2025-03-14T10:53:38.823+08:00x");
	CHECK_TS_BAD("2025-03-14T10:53:38.823+08:00\n");
	CHECK_TS_BAD("2025-03-14T10:53:38garbage");
	CHECK_TS_BAD("20a5-03-14T10:53:38Z");
}

TEST(null_input)
{
	struct timespec ts = { 12345, 678 };

	CHECK(!ts_parse(NULL, &ts));
	CHECK_EQ_INT(ts.tv_sec, 12345);
	CHECK_EQ_INT(ts.tv_nsec, 678);
}

/* Every prefix of a valid timestamp that is not itself valid is refused. */
TEST(every_prefix)
{
	static const char full[] = "2025-03-14T10:53:38.823+08:00";
	char buf[sizeof(full)];

	for (size_t n = 0; n < sizeof(full) - 1; n++) {
		struct timespec ts = { 12345, 678 };
		bool ok;

		memcpy(buf, full, n);
		buf[n] = '\0';
		if (n == 27)
			continue; /* "...+08:" has its own test above */
		ok = ts_parse(buf, &ts);
		/* Only "...:38", "...:38.8", "...:38.82", "...:38.823", "...+08" and "...+08:00" are whole. */
		if (n == 19 || n == 21 || n == 22 || n == 23 || n == 26)
			CHECK(ok);
		else if (ok)
			check_fail(__FILE__, __LINE__, "prefix \"%s\" accepted", buf);
		if (!ok) {
			CHECK_EQ_INT(ts.tv_sec, 12345);
			CHECK_EQ_INT(ts.tv_nsec, 678);
		}
	}
}

TEST(seconds_between)
{
	struct timespec a = { 100, 900000000 }, b = { 102, 100000000 };

	CHECK(ts_seconds(a, b) > 1.1999 && ts_seconds(a, b) < 1.2001);
	CHECK(ts_seconds(b, a) < -1.1999 && ts_seconds(b, a) > -1.2001);
	CHECK(ts_seconds(a, a) == 0);
}

static const struct check_test tests[] = {
	TEST_CASE(public_sample),
	TEST_CASE(zone_forms),
	TEST_CASE(zone_rejects),
	TEST_CASE(zone_rejects_dangling_colon),
	TEST_CASE(fraction_digits),
	TEST_CASE(calendar),
	TEST_CASE(before_1970),
	TEST_CASE(separators),
	TEST_CASE(truncated_and_garbage),
	TEST_CASE(null_input),
	TEST_CASE(every_prefix),
	TEST_CASE(seconds_between),
};

CHECK_MAIN(tests)
