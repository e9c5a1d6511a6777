/*
 * timestamp.c - ISO 8601 parsing without the C library's time zone state;
 * see timestamp.h.
 */
#include "timestamp.h"

#include <stdint.h>

/* Read exactly n decimal digits from *p into *val, advancing *p. */
static bool digits(const char **p, int n, int *val)
{
	int v = 0;

	for (int i = 0; i < n; i++) {
		char c = (*p)[i];

		if (c < '0' || c > '9')
			return false;
		v = v * 10 + (c - '0');
	}
	*p += n;
	*val = v;
	return true;
}

static bool is_leap(int y)
{
	return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

static int days_in_month(int y, int m)
{
	static const int dim[12] = { 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };

	return m == 2 && is_leap(y) ? 29 : dim[m - 1];
}

/* Days since 1970-01-01 of a proleptic Gregorian date (Hinnant's method). */
static int64_t days_from_civil(int64_t y, int m, int d)
{
	y -= m <= 2;
	int64_t era = (y >= 0 ? y : y - 399) / 400;
	int64_t yoe = y - era * 400;
	int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
	int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;

	return era * 146097 + doe - 719468;
}

/* Parse the optional zone designator at p; *offset gets seconds east of UTC. */
static bool parse_zone(const char *p, int *offset)
{
	int sign, hh, mm = 0;

	if (*p == '\0') {
		*offset = 0;
		return true;
	}
	if ((*p == 'Z' || *p == 'z') && p[1] == '\0') {
		*offset = 0;
		return true;
	}
	if (*p != '+' && *p != '-')
		return false;
	sign = *p++ == '-' ? -1 : 1;
	if (!digits(&p, 2, &hh))
		return false;
	/* +hh, +hhmm or +hh:mm; a colon must be followed by the minutes. */
	if (*p == ':') {
		p++;
		if (!digits(&p, 2, &mm))
			return false;
	} else if (*p != '\0' && !digits(&p, 2, &mm)) {
		return false;
	}
	if (*p != '\0' || hh > 23 || mm > 59)
		return false;
	*offset = sign * (hh * 3600 + mm * 60);
	return true;
}

bool ts_parse(const char *s, struct timespec *out)
{
	const char *p = s;
	int y, mo, d, h, mi, sec, offset;
	long nsec = 0;

	if (!s)
		return false;
	if (!digits(&p, 4, &y) || *p++ != '-' || !digits(&p, 2, &mo) ||
	    *p++ != '-' || !digits(&p, 2, &d))
		return false;
	if (*p != 'T' && *p != 't' && *p != ' ')
		return false;
	p++;
	if (!digits(&p, 2, &h) || *p++ != ':' || !digits(&p, 2, &mi) ||
	    *p++ != ':' || !digits(&p, 2, &sec))
		return false;
	if (mo < 1 || mo > 12 || d < 1 || d > days_in_month(y, mo) ||
	    h > 23 || mi > 59 || sec > 60)
		return false;
	if (*p == '.' || *p == ',') {
		long scale = 100000000;

		p++;
		if (*p < '0' || *p > '9')
			return false;
		for (; *p >= '0' && *p <= '9'; p++) {
			nsec += (*p - '0') * scale;
			scale /= 10;
		}
	}
	if (!parse_zone(p, &offset))
		return false;
	out->tv_sec = (time_t)(days_from_civil(y, mo, d) * 86400 +
			       h * 3600 + mi * 60 + sec - offset);
	out->tv_nsec = nsec;
	return true;
}

double ts_seconds(struct timespec from, struct timespec to)
{
	return (double)(to.tv_sec - from.tv_sec) + (double)(to.tv_nsec - from.tv_nsec) / 1e9;
}
