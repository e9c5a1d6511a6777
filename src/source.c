/*
 * source.c - api + pat + snapshot, glued; see source.h.
 */
#include "source.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "pat.h"

static unsigned long hash_str(const char *s)
{
	unsigned long h = 5381;

	while (*s)
		h = h * 33 + (unsigned char)*s++;
	return h;
}

/*
 * Log each line of the reasons (skipped tokens, unreadable fields), only
 * when they differ from last time.
 */
static void report_skipped(struct source *src, const struct pat_report *l)
{
	bool any = l->skipped || l->problems;
	unsigned long h = any ? hash_str(l->warnings) ^ l->skipped ^ (l->problems << 20) : 0;
	const char *p = l->warnings;

	if (h == src->warnings_hash)
		return;
	src->warnings_hash = h;
	while (any && *p) {
		size_t n = strcspn(p, "\n");

		log_warn("%.*s", (int)n, p);
		p += n + (p[n] == '\n');
	}
	if (l->skipped > 0)
		log_warn("%zu token object%s skipped in this list", l->skipped,
			 l->skipped == 1 ? "" : "s");
	if (l->problems > 0)
		log_warn("%zu token%s listed with fields that could not be read", l->problems,
			 l->problems == 1 ? "" : "s");
}

enum err_kind source_fetch(void *ctx, const struct snapshot *prev, struct snapshot **out,
			   struct err *e)
{
	struct source *src = ctx;
	struct pat_report r;
	struct timespec now;
	char *body;
	size_t len;
	enum err_kind rc;

	*out = NULL;
	rc = api_get_list(src->api, &body, &len, e);
	if (rc != ERR_OK)
		return rc;
	clock_gettime(CLOCK_REALTIME, &now);
	*out = snap_parse(body, len, now, prev, &r, e);
	if (!*out)
		return e->kind;
	report_skipped(src, &r);
	return ERR_OK;
}
