/*
 * fuzz_timestamp.c - fuzz harness for ts_parse (src/timestamp.c).
 *
 * The input, as a NUL-terminated string, goes to ts_parse.  A failure must
 * leave the result untouched.  A success must give nanoseconds in
 * [0, 1e9), the fraction's first nine digits as nanoseconds, an offset
 * applied in the right direction (the same text with "Z" instead of the
 * offset is offset seconds later), the same value again when written back
 * as "YYYY-MM-DDTHH:MM:SS.nnnnnnnnnZ" with gmtime_r (years 0..9999), and
 * no success once a stray byte is appended.
 */
#include <stdbool.h>
#include <string.h>
#include <time.h>

#include "fuzz.h"
#include "timestamp.h"

/* The longest input tried; timestamps are short, the rest is noise. */
#define MAX_INPUT 256

static bool is_digit(char c)
{
	return c >= '0' && c <= '9';
}

/*
 * Split a string that ts_parse accepted: the first nine fraction digits as
 * nanoseconds in *nsec, where the zone starts in *zone, and the zone's
 * offset in seconds east of UTC in *offset.  Written independently of
 * timestamp.c, from the syntax in timestamp.h.
 */
static void split(const char *s, long *nsec, size_t *zone, long *offset)
{
	size_t i = 19; /* past "YYYY-MM-DDTHH:MM:SS" */
	long scale = 100000000;

	*nsec = 0;
	if (s[i] == '.' || s[i] == ',') {
		for (i++; is_digit(s[i]); i++) {
			*nsec += (s[i] - '0') * scale;
			scale /= 10;
		}
	}
	*zone = i;
	*offset = 0;
	if (s[i] == '+' || s[i] == '-') {
		long hh = (s[i + 1] - '0') * 10 + (s[i + 2] - '0'), mm = 0;
		size_t m = s[i + 3] == ':' ? i + 4 : i + 3;

		if (s[m] != '\0')
			mm = (s[m] - '0') * 10 + (s[m + 1] - '0');
		*offset = (hh * 3600 + mm * 60) * (s[i] == '-' ? -1 : 1);
	}
}

/* Write t back in UTC with nine fraction digits and parse that again. */
static void check_round_trip(const struct timespec *t)
{
	struct tm tm;
	struct timespec again = { 0, -1 };
	char text[64];

	FUZZ_CHECK(gmtime_r(&t->tv_sec, &tm) != NULL);
	if (tm.tm_year + 1900 < 0 || tm.tm_year + 1900 > 9999)
		return;
	snprintf(text, sizeof(text), "%04d-%02d-%02dT%02d:%02d:%02d.%09ldZ",
		 tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour,
		 tm.tm_min, tm.tm_sec, (long)t->tv_nsec);
	FUZZ_CHECK(ts_parse(text, &again));
	FUZZ_CHECK(again.tv_sec == t->tv_sec && again.tv_nsec == t->tv_nsec);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char s[MAX_INPUT + 2], z[MAX_INPUT + 2];
	struct timespec t = { 12345, 678 }, tz;
	long nsec, offset;
	size_t zone, len;

	if (size > MAX_INPUT)
		return 0;
	memcpy(s, data, size);
	s[size] = '\0';
	if (!ts_parse(s, &t)) {
		FUZZ_CHECK(t.tv_sec == 12345 && t.tv_nsec == 678);
		return 0;
	}
	FUZZ_CHECK(t.tv_nsec >= 0 && t.tv_nsec < 1000000000);
	len = strlen(s); /* an input with a NUL in it ends there */
	FUZZ_CHECK(len >= 19);
	split(s, &nsec, &zone, &offset);
	FUZZ_CHECK(t.tv_nsec == nsec);

	/* The same wall-clock time in UTC is offset seconds later. */
	memcpy(z, s, zone);
	strcpy(z + zone, "Z");
	FUZZ_CHECK(ts_parse(z, &tz));
	FUZZ_CHECK(tz.tv_nsec == t.tv_nsec && tz.tv_sec - offset == t.tv_sec);

	check_round_trip(&t);

	/* The whole string must be consumed: one more byte spoils it. */
	memcpy(z, s, len);
	strcpy(z + len, "x");
	FUZZ_CHECK(!ts_parse(z, &tz));
	return 0;
}
