/*
 * test_report.c - status and metrics.prom: the Prometheus text format
 * (HELP/TYPE lines, label escaping, values) and the status lines.
 */
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "pat.h"
#include "report.h"
#include "snapshot.h"

static const char body[] = "["
	"{\"UserID\":{\"IDString\":\"1_1\"},\"CreatedOn\":\"2025-03-14T10:53:38.823+08:00\","
	"\"Expiry\":\"2025-09-10T10:53:38.67+08:00\",\"Name\":\"Teams integ\","
	"\"ExpiryReminderState\":0,\"ID\":1},"
	"{\"UserID\":{\"IDString\":\"2_1\"},\"CreatedOn\":\"2025-01-01T00:00:00Z\","
	"\"Expiry\":\"2030-01-01T00:00:00Z\",\"Name\":\"a \\\"quoted\\\" back\\\\slash\\nnew line \\u00e9\","
	"\"ExpiryReminderState\":0,\"ID\":2},"
	"{\"UserID\":{\"IDString\":\"3_1\"},\"CreatedOn\":\"1969-12-31T23:59:58.75Z\","
	"\"Expiry\":\"2030-01-01T00:00:00Z\",\"Name\":\"bad \\u00ff\",\"ExpiryReminderState\":0,\"ID\":3}"
	"]";

/* How many lines of text begin with prefix. */
static size_t count_lines(const char *text, const char *prefix)
{
	size_t n = 0, len = strlen(prefix);

	for (const char *l = text; l && *l; l = strchr(l, '\n'), l = l ? l + 1 : NULL)
		n += strncmp(l, prefix, len) == 0;
	return n;
}

static struct snapshot *build(const char *json)
{
	struct pat_report r;
	struct err e;
	size_t len = strlen(json);
	char *copy = malloc(len ? len : 1);

	if (!copy)
		return NULL;
	memcpy(copy, json, len);
	return snap_parse(copy, len, (struct timespec){ 1764300000, 0 }, NULL, &r, &e);
}

static struct report_info info(void)
{
	struct report_info ri = {
		.url = "http://synergy.example:8080",
		.cache_ttl = 60,
		.expiring_days = 7,
		.now = { 1764300000, 0 }, /* 2025-11-28 */
		.requests = 5,
		.versions_held = 12,
		.lists_kept = 2,
	};

	ri.stats.fetches_ok = 3;
	ri.stats.fetches_failed = 2;
	ri.stats.last_success = (struct timespec){ 1764299990, 500000000 };
	ri.stats.last_attempt = (struct timespec){ 1764299995, 0 };
	ri.stats.stale = 1;
	ri.stats.last_error.kind = ERR_HTTP;
	strcpy(ri.stats.last_error.msg, "HTTP 503 from the server");
	ri.stats.last_result = ri.stats.last_error;
	return ri;
}

/* What a test starts from: a snapshot of a list, or none, and info()'s figures. */
struct fixture {
	struct snapshot *s;
	struct report_info ri;
	size_t len; /* of the last text rendered */
};

/*
 * f with a snapshot of json, or none for NULL.  False, a failed check,
 * when json does not parse.  Undo with teardown either way.
 */
static bool setup(struct fixture *f, const char *json)
{
	f->s = NULL;
	f->ri = info();
	f->len = 0;
	if (!json)
		return true;
	f->s = build(json);
	CHECK(f->s != NULL);
	return f->s != NULL;
}

static void teardown(struct fixture *f)
{
	snap_unref(f->s);
}

/* f's metrics.prom, checked to be there; the caller frees it. */
static char *metrics_of(struct fixture *f)
{
	char *m = report_metrics(f->s, &f->ri, &f->len);

	CHECK(m != NULL);
	return m;
}

/* f's status, checked to be there; the caller frees it. */
static char *status_of(struct fixture *f)
{
	char *t = report_status(f->s, &f->ri, &f->len);

	CHECK(t != NULL);
	return t;
}

#define CHECK_HAS(text, line) do {						\
	check_made++;								\
	if (!strstr((text), (line)))						\
		check_fail(__FILE__, __LINE__, "missing line: %s", (line));	\
} while (0)

TEST(metrics_lines)
{
	struct fixture f;
	char *m;

	if (!setup(&f, body) || !(m = metrics_of(&f)))
		goto out;
	CHECK_EQ_INT(strlen(m), f.len);
	CHECK(f.len > 0 && m[f.len - 1] == '\n');
	CHECK_HAS(m, "# HELP synergy_pat_expiry_timestamp_seconds ");
	CHECK_HAS(m, "# TYPE synergy_pat_expiry_timestamp_seconds gauge\n");
	CHECK_HAS(m, "\nsynergy_pat_expiry_timestamp_seconds{id=\"1\",name=\"Teams integ\",user=\"1_1\"} 1757472818.67\n");
	CHECK_HAS(m, "\nsynergy_pat_created_timestamp_seconds{id=\"1\",name=\"Teams integ\",user=\"1_1\"} 1741920818.823\n");
	CHECK_HAS(m, "\nsynergy_pat_expired{id=\"1\",name=\"Teams integ\",user=\"1_1\"} 1\n");
	CHECK_HAS(m, "\nsynergy_pat_expired{id=\"2\",");
	/* Escapes: backslash, double quote, newline; UTF-8 kept as it is. */
	CHECK_HAS(m, "name=\"a \\\"quoted\\\" back\\\\slash\\nnew line \xc3\xa9\"");
	/* U+00FF arrives as valid UTF-8 (c3 bf) and stays. */
	CHECK_HAS(m, "name=\"bad \xc3\xbf\"");
	/* Before 1970 with a fraction: -1.25. */
	CHECK_HAS(m, "{id=\"3\",name=\"bad \xc3\xbf\",user=\"3_1\"} -1.25\n");
	CHECK_HAS(m, "# TYPE synergyfs_tokens gauge\nsynergyfs_tokens 3\n");
	CHECK_HAS(m, "# TYPE synergy_pat_problems gauge\nsynergy_pat_problems 0\n");
	CHECK_HAS(m, "\nsynergyfs_last_success_timestamp_seconds 1764299990.5\n");
	CHECK_HAS(m, "\nsynergyfs_stale 1\n");
	CHECK_HAS(m, "# TYPE synergyfs_fetches_total counter\n");
	CHECK_HAS(m, "\nsynergyfs_fetches_total{result=\"ok\"} 3\n");
	CHECK_HAS(m, "\nsynergyfs_fetches_total{result=\"error\"} 2\n");
	/* Every metric has HELP and TYPE exactly once. */
	for (const char *p = m; (p = strstr(p, "# TYPE ")); p++) {
		char name[128], line[160];
		size_t types, helps;

		CHECK(sscanf(p, "# TYPE %127s", name) == 1);
		snprintf(line, sizeof(line), "# TYPE %s ", name);
		types = count_lines(m, line);
		snprintf(line, sizeof(line), "# HELP %s ", name);
		helps = count_lines(m, line);
		if (types != 1 || helps != 1)
			check_fail(__FILE__, __LINE__, "%s: %zu TYPE and %zu HELP lines", name,
				   types, helps);
	}
	free(m);
out:
	teardown(&f);
}

TEST(metrics_without_snapshot)
{
	struct fixture f;
	char *m;

	setup(&f, NULL);
	f.ri.stats.fetches_ok = 0;
	m = metrics_of(&f);
	if (!m)
		return;
	CHECK(!strstr(m, "{id="));
	CHECK_HAS(m, "\nsynergyfs_tokens 0\n");
	CHECK_HAS(m, "\nsynergy_pat_problems 0\n");
	CHECK_HAS(m, "\nsynergyfs_last_success_timestamp_seconds 0\n");
	free(m);
}

TEST(label_replaces_invalid_utf8)
{
	/* A name with a raw 0xff byte (not valid UTF-8) and a DEL byte. */
	static const char raw[] = "[{\"UserID\":{\"IDString\":\"1_1\"},"
		"\"CreatedOn\":\"2025-01-01T00:00:00Z\",\"Expiry\":\"2030-01-01T00:00:00Z\","
		"\"Name\":\"x\xffy\",\"ExpiryReminderState\":0,\"ID\":9}]";
	struct fixture f;
	char *m;

	if (!setup(&f, raw))
		return;
	m = report_metrics(f.s, &f.ri, &f.len);
	CHECK(m && strstr(m, "name=\"x\xef\xbf\xbdy\""));
	free(m);
	teardown(&f);
}

TEST(status_lines)
{
	struct fixture f, none;
	char *t;

	if (!setup(&f, body))
		return;
	t = status_of(&f);
	if (t) {
		CHECK_EQ_INT(strlen(t), f.len);
		CHECK_HAS(t, "server: http://synergy.example:8080\n");
		CHECK_HAS(t, "cache_ttl: 60\n");
		CHECK_HAS(t, "last_attempt: 2025-11-28T03:19:55Z\n");
		CHECK_HAS(t, "last_result: http\n");
		CHECK_HAS(t, "last_success: 2025-11-28T03:19:50Z\n");
		CHECK_HAS(t, "stale: yes\n");
		CHECK_HAS(t, "last_error: HTTP 503 from the server\n");
		CHECK_HAS(t, "previous_error: none\n");
		CHECK_HAS(t, "tokens: 3\n");
		CHECK_HAS(t, "tokens_with_problems: 0\n");
		CHECK_HAS(t, "requests: 5\n");
		CHECK_HAS(t, "versions_held: 12\n");
		CHECK_HAS(t, "old_lists_kept: 2\n");
	}
	free(t);
	teardown(&f);
	setup(&none, NULL);
	none.ri.stats = (struct cache_stats){ 0 };
	t = status_of(&none);
	if (t) {
		CHECK_HAS(t, "last_attempt: never\n");
		CHECK_HAS(t, "last_result: none\n");
		CHECK_HAS(t, "last_success: never\n");
		CHECK_HAS(t, "stale: no\n");
		CHECK_HAS(t, "last_error: none\n");
		CHECK_HAS(t, "previous_error: none\n");
		CHECK_HAS(t, "tokens: 0\n");
		CHECK_HAS(t, "tokens_with_problems: 0\n");
	}
	free(t);
}

/*
 * Tokens whose Expiry (2, 3) or CreatedOn (3) cannot be read: counted in
 * status and synergy_pat_problems, and left out of the series of the value
 * that is unknown, so that no alert reads them as expired or as fine.
 */
TEST(unreadable_fields_counted_not_graphed)
{
	static const char json[] = "["
		"{\"UserID\":{\"IDString\":\"1_1\"},\"CreatedOn\":\"2025-01-01T00:00:00Z\","
		"\"Expiry\":\"2030-01-01T00:00:00Z\",\"Name\":\"fine\",\"ExpiryReminderState\":0,\"ID\":1},"
		"{\"UserID\":{\"IDString\":\"1_1\"},\"CreatedOn\":\"2025-01-01T00:00:00Z\","
		"\"Expiry\":\"/Date(1798761600000)/\",\"Name\":\"dotnet\",\"ExpiryReminderState\":0,\"ID\":2},"
		"{\"ID\":3,\"Name\":\"bare\"}]";
	static const char want_metrics[] =
		"# HELP synergy_pat_expiry_timestamp_seconds Expiry of the personal access token, as Unix time.\n"
		"# TYPE synergy_pat_expiry_timestamp_seconds gauge\n"
		"synergy_pat_expiry_timestamp_seconds{id=\"1\",name=\"fine\",user=\"1_1\"} 1893456000\n"
		"# HELP synergy_pat_created_timestamp_seconds Creation of the personal access token, as Unix time.\n"
		"# TYPE synergy_pat_created_timestamp_seconds gauge\n"
		"synergy_pat_created_timestamp_seconds{id=\"1\",name=\"fine\",user=\"1_1\"} 1735689600\n"
		"synergy_pat_created_timestamp_seconds{id=\"2\",name=\"dotnet\",user=\"1_1\"} 1735689600\n"
		"# HELP synergy_pat_expired 1 if the personal access token has expired, else 0.\n"
		"# TYPE synergy_pat_expired gauge\n"
		"synergy_pat_expired{id=\"1\",name=\"fine\",user=\"1_1\"} 0\n"
		"# HELP synergyfs_tokens Tokens in the list being served.\n"
		"# TYPE synergyfs_tokens gauge\n"
		"synergyfs_tokens 3\n"
		"# HELP synergy_pat_problems Tokens listed with a field that could not be read (named in the log).\n"
		"# TYPE synergy_pat_problems gauge\n"
		"synergy_pat_problems 2\n";
	struct fixture f;
	char *m, *t;

	if (!setup(&f, json))
		return;
	m = metrics_of(&f);
	if (m)
		CHECK_EQ_MEM(m, strlen(want_metrics) < f.len ? strlen(want_metrics) : f.len,
			     want_metrics, strlen(want_metrics));
	t = status_of(&f);
	if (t) {
		CHECK_HAS(t, "\ntokens: 3\ntokens_with_problems: 2\n");
	}
	free(m);
	free(t);
	teardown(&f);
}

/* A fetch that succeeds after a failure: last_error is none again. */
TEST(status_after_recovery)
{
	struct fixture f;
	char *t;

	if (!setup(&f, body))
		return;
	f.ri.stats.last_failure = (struct timespec){ 1764299980, 250000000 };
	f.ri.stats.last_result = (struct err){ 0 };
	f.ri.stats.last_success = f.ri.stats.last_attempt;
	f.ri.stats.stale = 0;
	t = status_of(&f);
	if (t) {
		CHECK_HAS(t, "last_result: ok\n");
		CHECK_HAS(t, "stale: no\n");
		CHECK_HAS(t, "\nlast_error: none\n");
		CHECK_HAS(t, "\nprevious_error: HTTP 503 from the server (at 2025-11-28T03:19:40Z)\n");
		CHECK(strstr(t, "last_error: HTTP") == NULL);
	}
	free(t);
	teardown(&f);
}

static const struct check_test tests[] = {
	TEST_CASE(metrics_lines),
	TEST_CASE(metrics_without_snapshot),
	TEST_CASE(label_replaces_invalid_utf8),
	TEST_CASE(status_lines),
	TEST_CASE(unreadable_fields_counted_not_graphed),
	TEST_CASE(status_after_recovery),
};

CHECK_MAIN(tests)
