/*
 * report.c - status and metrics.prom; see report.h.
 */
#include "report.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "escape.h"

/* A Unix time with its fraction, as Prometheus reads floats ("1757472818.67"). */
static void put_time(struct buf *b, struct timespec t)
{
	char frac[16];
	size_t n;

	if (t.tv_nsec == 0) {
		buf_printf(b, "%lld", (long long)t.tv_sec);
		return;
	}
	if (t.tv_sec < 0) {
		/* tv_sec is the floor: -1.25 s is stored as -2 + 0.75. */
		t.tv_sec += 1;
		t.tv_nsec = 1000000000L - t.tv_nsec;
		buf_puts(b, t.tv_sec == 0 ? "-" : "");
	}
	n = (size_t)snprintf(frac, sizeof(frac), "%09ld", t.tv_nsec);
	while (n > 1 && frac[n - 1] == '0')
		frac[--n] = '\0';
	buf_printf(b, "%lld.%s", (long long)t.tv_sec, frac);
}

/*
 * A label value: the n bytes at p with backslash, double quote and newline
 * escaped as the text format requires, and bytes that are not UTF-8
 * replaced by U+FFFD so that the file always parses.
 */
static void put_label(struct buf *b, const char *p, size_t n)
{
	const unsigned char *s = (const unsigned char *)p;

	for (size_t i = 0; i < n;) {
		size_t u = esc_utf8_len(s + i, n - i);

		if (u == 0) {
			buf_puts(b, "\xef\xbf\xbd");
			i++;
		} else if (s[i] == '\\') {
			buf_puts(b, "\\\\");
			i++;
		} else if (s[i] == '"') {
			buf_puts(b, "\\\"");
			i++;
		} else if (s[i] == '\n') {
			buf_puts(b, "\\n");
			i++;
		} else {
			buf_add(b, s + i, u);
			i += u;
		}
	}
}

/* {id="1",name="Teams integ",user="1_1"} for token t. */
static void put_labels(struct buf *b, const struct snapshot *s, const struct snap_token *t)
{
	size_t len;
	const char *v;

	buf_printf(b, "{id=\"%" PRId64 "\",name=\"", t->id);
	v = snap_body(s, t, SNAP_F_NAME, &len);
	put_label(b, v, len - 1); /* without the file's newline */
	buf_puts(b, "\",user=\"");
	v = snap_body(s, t, SNAP_F_USER_ID, &len);
	put_label(b, v, len - 1);
	buf_puts(b, "\"}");
}

static void put_header(struct buf *b, const char *name, const char *type, const char *help)
{
	buf_printf(b, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

/*
 * One series per token of the metric name, valued by which; a token whose
 * field behind that value could not be read has no series.
 */
static void put_token_series(struct buf *b, const struct snapshot *s, const char *name,
			     int which, struct timespec now)
{
	for (size_t i = 0; s && i < s->n; i++) {
		const struct snap_token *t = &s->tok[i];

		if (t->problems & (which == 1 ? PAT_CREATED_ON : PAT_EXPIRY))
			continue;
		buf_puts(b, name);
		put_labels(b, s, t);
		buf_puts(b, " ");
		if (which == 0)
			put_time(b, t->expires);
		else if (which == 1)
			put_time(b, t->created);
		else
			buf_puts(b, snap_expired(t, now) ? "1" : "0");
		buf_puts(b, "\n");
	}
}

static char *finish(struct buf *b, size_t *len)
{
	if (b->failed) {
		free(b->p);
		return NULL;
	}
	*len = b->len;
	return b->p ? b->p : calloc(1, 1);
}

char *report_metrics(const struct snapshot *s, const struct report_info *ri, size_t *len)
{
	struct buf b = { 0 };
	struct timespec never = { 0, 0 };

	/* Room for the per-token lines at once: about 3 x 120 bytes a token. */
	buf_reserve(&b, 1024 + (s ? s->n * 400 : 0));
	put_header(&b, "synergy_pat_expiry_timestamp_seconds", "gauge",
		   "Expiry of the personal access token, as Unix time.");
	put_token_series(&b, s, "synergy_pat_expiry_timestamp_seconds", 0, ri->now);
	put_header(&b, "synergy_pat_created_timestamp_seconds", "gauge",
		   "Creation of the personal access token, as Unix time.");
	put_token_series(&b, s, "synergy_pat_created_timestamp_seconds", 1, ri->now);
	put_header(&b, "synergy_pat_expired", "gauge",
		   "1 if the personal access token has expired, else 0.");
	put_token_series(&b, s, "synergy_pat_expired", 2, ri->now);
	put_header(&b, "synergyfs_tokens", "gauge", "Tokens in the list being served.");
	buf_printf(&b, "synergyfs_tokens %zu\n", s ? s->n : 0);
	put_header(&b, "synergy_pat_problems", "gauge",
		   "Tokens listed with a field that could not be read (named in the log).");
	buf_printf(&b, "synergy_pat_problems %zu\n", s ? s->problems : 0);
	put_header(&b, "synergyfs_last_success_timestamp_seconds", "gauge",
		   "When the token list was last fetched successfully, as Unix time (0: never).");
	buf_puts(&b, "synergyfs_last_success_timestamp_seconds ");
	put_time(&b, ri->stats.fetches_ok ? ri->stats.last_success : never);
	buf_puts(&b, "\n");
	put_header(&b, "synergyfs_stale", "gauge",
		   "1 if the last fetch failed and an older list is being served.");
	buf_printf(&b, "synergyfs_stale %d\n", ri->stats.stale ? 1 : 0);
	put_header(&b, "synergyfs_fetch_in_flight", "gauge",
		   "1 while a fetch of the token list is under way.");
	buf_printf(&b, "synergyfs_fetch_in_flight %d\n", ri->stats.fetching ? 1 : 0);
	put_header(&b, "synergyfs_fetches_total", "counter",
		   "Fetches of the token list, by result.");
	buf_printf(&b, "synergyfs_fetches_total{result=\"ok\"} %" PRIu64 "\n", ri->stats.fetches_ok);
	buf_printf(&b, "synergyfs_fetches_total{result=\"error\"} %" PRIu64 "\n",
		   ri->stats.fetches_failed);
	put_header(&b, "synergyfs_token_creates_total", "counter",
		   "Tokens created through the mount (mkdir in new/), by result.");
	buf_printf(&b, "synergyfs_token_creates_total{result=\"ok\"} %" PRIu64 "\n", ri->creates_ok);
	buf_printf(&b, "synergyfs_token_creates_total{result=\"error\"} %" PRIu64 "\n",
		   ri->creates_failed);
	put_header(&b, "synergyfs_token_deletes_total", "counter",
		   "Tokens deleted through the mount (rmdir in tokens/), by result.");
	buf_printf(&b, "synergyfs_token_deletes_total{result=\"ok\"} %" PRIu64 "\n", ri->deletes_ok);
	buf_printf(&b, "synergyfs_token_deletes_total{result=\"error\"} %" PRIu64 "\n",
		   ri->deletes_failed);
	return finish(&b, len);
}

/* "2026-11-28T03:40:00Z", or "never" for a zero time. */
static void put_utc(struct buf *b, struct timespec t)
{
	char s[32];
	struct tm tm;

	if (t.tv_sec == 0 && t.tv_nsec == 0) {
		buf_puts(b, "never");
		return;
	}
	gmtime_r(&t.tv_sec, &tm);
	strftime(s, sizeof(s), "%Y-%m-%dT%H:%M:%SZ", &tm);
	buf_puts(b, s);
}

char *report_status(const struct snapshot *s, const struct report_info *ri, size_t *len)
{
	const struct cache_stats *st = &ri->stats;
	struct buf b = { 0 };
	bool attempted = st->fetches_ok + st->fetches_failed > 0, failing;

	buf_printf(&b, "server: %s\n", ri->url);
	buf_printf(&b, "cache_ttl: %lu\n", ri->cache_ttl);
	buf_printf(&b, "expiring_days: %ld\n", ri->expiring_days);
	buf_puts(&b, "last_attempt: ");
	put_utc(&b, st->last_attempt);
	buf_printf(&b, "\nlast_result: %s\n", !attempted ? "none" :
		   st->last_result.kind == ERR_OK ? "ok" : err_kind_name(st->last_result.kind));
	buf_puts(&b, "last_success: ");
	put_utc(&b, st->fetches_ok ? st->last_success : (struct timespec){ 0, 0 });
	buf_printf(&b, "\nstale: %s\n", st->stale ? "yes" : "no");
	if (st->fetching) {
		buf_puts(&b, "fetching: since ");
		put_utc(&b, st->fetch_started);
		buf_puts(&b, "\n");
	} else {
		buf_puts(&b, "fetching: no\n");
	}
	if (st->next_try.tv_sec) {
		buf_puts(&b, "next_try: ");
		put_utc(&b, st->next_try);
		buf_puts(&b, "\n");
	} else {
		buf_puts(&b, "next_try: when the list is due\n");
	}
	/*
	 * last_error is the failure of the last attempt, so that it reads
	 * "none" again once a fetch succeeds; a failure that a success has
	 * cleared since is previous_error, with its time.
	 */
	failing = attempted && st->last_result.kind != ERR_OK;
	buf_printf(&b, "last_error: %s\n", failing ? st->last_result.msg : "none");
	if (failing || st->last_error.kind == ERR_OK) {
		buf_puts(&b, "previous_error: none\n");
	} else {
		buf_printf(&b, "previous_error: %s (at ", st->last_error.msg);
		put_utc(&b, st->last_failure);
		buf_puts(&b, ")\n");
	}
	buf_printf(&b, "tokens: %zu\n", s ? s->n : 0);
	buf_printf(&b, "tokens_with_problems: %zu\n", s ? s->problems : 0);
	buf_printf(&b, "requests: %lu\n", ri->requests);
	buf_printf(&b, "fetches_ok: %" PRIu64 "\n", st->fetches_ok);
	buf_printf(&b, "fetches_failed: %" PRIu64 "\n", st->fetches_failed);
	buf_printf(&b, "versions_held: %" PRIu64 "\n", ri->versions_held);
	buf_printf(&b, "old_lists_kept: %u\n", ri->lists_kept);
	buf_printf(&b, "creates_ok: %" PRIu64 "\n", ri->creates_ok);
	buf_printf(&b, "creates_failed: %" PRIu64 "\n", ri->creates_failed);
	buf_printf(&b, "deletes_ok: %" PRIu64 "\n", ri->deletes_ok);
	buf_printf(&b, "deletes_failed: %" PRIu64 "\n", ri->deletes_failed);
	return finish(&b, len);
}
