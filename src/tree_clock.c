/*
 * tree_clock.c - the files of a token's folder that follow the clock
 * (days_left, expired): their bodies at a moment, and the span over which
 * a body holds.  Part of the tree (tree.h declares them).
 */
#include "tree.h"

#include <inttypes.h>
#include <stdio.h>

/* floor(a / b) for b > 0. */
static int64_t floor_div(int64_t a, int64_t b)
{
	return a / b - (a % b < 0);
}

size_t tree_clock_body(const struct tree_node *n, const struct tree_clock *clk,
		       char *buf, size_t cap)
{
	const struct snap_token *t = n->tok;
	int64_t secs, days;
	int len;

	if (n->kind != TREE_TOKEN_CLOCK)
		return 0;
	if (!snap_expiry_known(t)) {
		len = snprintf(buf, cap, "%s\n", SNAP_UNKNOWN);
	} else if (n->clock == TREE_CLOCK_EXPIRED) {
		len = snprintf(buf, cap, "%d\n", snap_expired(t, clk->now) ? 1 : 0);
	} else {
		/* Whole seconds left, rounded down: the fraction never reaches a day. */
		secs = (int64_t)t->expires.tv_sec - (int64_t)clk->now.tv_sec -
		       (t->expires.tv_nsec < clk->now.tv_nsec);
		days = floor_div(secs, 86400);
		/* At the very moment of expiry no time is left, and it is expired. */
		if (days >= 0 && snap_expired(t, clk->now))
			days = -1;
		len = snprintf(buf, cap, "%" PRId64 "\n", days);
	}
	return len > 0 && (size_t)len < cap ? (size_t)len : 0;
}

/* t + days whole days. */
static struct timespec plus_days(struct timespec t, int64_t days)
{
	t.tv_sec += (time_t)(days * 86400);
	return t;
}

bool tree_clock_span(const struct tree_node *n, const struct tree_clock *clk,
		     struct timespec *since, struct timespec *until)
{
	const struct snap_token *t = n->tok;
	int64_t dsec, j;
	long dnsec;

	if (n->kind != TREE_TOKEN_CLOCK)
		return false;
	if (!snap_expiry_known(t)) {
		/* "unknown" for as long as the snapshot lasts. */
		*since = t->created;
		return false;
	}
	if (n->clock == TREE_CLOCK_EXPIRED) {
		if (snap_expired(t, clk->now)) {
			*since = t->expires;
			return false;
		}
		/* 0 since creation; a CreatedOn past the Expiry must still differ. */
		*since = t->created;
		if (snap_expired(t, t->created))
			*since = plus_days(t->expires, -1);
		*until = t->expires;
		return true;
	}
	/*
	 * days_left keeps its value over (E + jD, E + (j + 1)D] for the whole
	 * days j counted from the expiry E (D = one day), except that it turns
	 * to -1 at E itself: it changes just after each bound, and at E.
	 */
	dsec = (int64_t)clk->now.tv_sec - (int64_t)t->expires.tv_sec;
	dnsec = clk->now.tv_nsec - t->expires.tv_nsec;
	if (dnsec < 0) {
		dsec--;
		dnsec += 1000000000L;
	}
	if (dsec == 0 && dnsec == 0)
		j = 0;
	else
		j = floor_div(dsec - (dnsec == 0), 86400);
	*since = plus_days(t->expires, j);
	*until = plus_days(t->expires, j + 1);
	return true;
}
