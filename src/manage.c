/*
 * manage.c - creating and deleting tokens.  One change at a time (a lock
 * held from the request to the refresh after it), which is what lets a
 * create find its token in the list: the highest ID with its name that
 * the list before did not have.  The server answers generate-pat with the
 * secret only.
 */
#include "manage.h"

#include <inttypes.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api.h"
#include "cache.h"
#include "escape.h"
#include "log.h"
#include "minted.h"
#include "pat.h"
#include "secret.h"
#include "secret_dir.h"
#include "snapshot.h"

struct manage {
	struct manage_config cfg;
	pthread_mutex_t lock;        /* one change at a time; guards counts */
	struct manage_counts counts;
};

struct manage *manage_new(const struct manage_config *cfg)
{
	struct manage *mg = calloc(1, sizeof(*mg));

	if (!mg)
		return NULL;
	mg->cfg = *cfg;
	mg->cfg.client_id = strdup(cfg->client_id);
	if (!mg->cfg.client_id) {
		free(mg);
		return NULL;
	}
	pthread_mutex_init(&mg->lock, NULL);
	return mg;
}

void manage_free(struct manage *mg)
{
	if (!mg)
		return;
	free((char *)mg->cfg.client_id);
	pthread_mutex_destroy(&mg->lock);
	free(mg);
}

struct manage_counts manage_counts(struct manage *mg)
{
	struct manage_counts c;

	pthread_mutex_lock(&mg->lock);
	c = mg->counts;
	pthread_mutex_unlock(&mg->lock);
	return c;
}

/*
 * May a request that failed so have been carried out?  Its answer may
 * have been lost on the way back (a timeout, a broken connection), or be
 * one we cannot read, or the server failed after acting.
 */
static bool maybe_done(enum err_kind kind)
{
	return kind == ERR_TIMEOUT || kind == ERR_NET || kind == ERR_PROTO ||
	       kind == ERR_TOOBIG || kind == ERR_HTTP;
}

/* Fetch the list after a change (or a change that may have happened); log a failure. */
static void refresh(struct manage *mg)
{
	struct err e;

	err_clear(&e);
	if (cache_refresh(mg->cfg.cache, &e) != ERR_OK)
		log_warn("the list could not be fetched after the change: %s", e.msg);
}

/* Is token t of s named name? */
static bool named(const struct snapshot *s, const struct snap_token *t, const char *name)
{
	size_t len;
	const char *body = snap_body(s, t, SNAP_F_NAME, &len);

	/* The name file is the name and a newline. */
	return len == strlen(name) + 1 && memcmp(body, name, len - 1) == 0;
}

/* The highest ID named name in after and not in before (may be NULL), or MINTED_NO_ID. */
static int64_t new_id(const struct snapshot *before, const struct snapshot *after,
		      const char *name)
{
	if (!after)
		return MINTED_NO_ID;
	for (size_t i = after->n; i-- > 0;) {
		const struct snap_token *t = &after->tok[i];

		if (named(after, t, name) && !(before && snap_find_id(before, t->id)))
			return t->id;
	}
	return MINTED_NO_ID;
}

/* Ask the server for a token named name; its secret in *sec. */
static enum err_kind generate(struct manage *mg, const char *name, struct secret **sec,
			      struct err *e)
{
	char *body = pat_generate_body(mg->cfg.client_id, name, mg->cfg.days), *answer = NULL;
	enum err_kind kind;
	size_t len = 0;

	if (!body)
		return err_set(e, ERR_NOMEM, "out of memory");
	kind = api_generate(mg->cfg.api, body, &answer, &len, e);
	free(body);
	if (kind != ERR_OK)
		return kind;
	kind = pat_secret(answer, len, sec, e);
	explicit_bzero(answer, len);
	free(answer);
	return kind;
}

/* Write the new secret to secret_dir, as DIR/<ID> (DIR/unknown-<seq> without an ID). */
static enum err_kind keep_on_disk(struct manage *mg, uint64_t seq, int64_t id,
				  const struct secret *sec, struct err *e)
{
	char file[48];

	if (mg->cfg.secret_dir_fd < 0)
		return ERR_OK;
	if (id == MINTED_NO_ID)
		snprintf(file, sizeof(file), "unknown-%" PRIu64, seq);
	else
		snprintf(file, sizeof(file), "%" PRId64, id);
	return secret_dir_write(mg->cfg.secret_dir_fd, file, secret_data(sec), secret_len(sec), e);
}

/* The token's name escaped as in by-name/ (no control bytes reach the log), in buf. */
static const char *shown(const char *name, char *buf)
{
	esc_name(name, strnlen(name, ESC_NAME_MAX), buf);
	return buf;
}

enum err_kind manage_create(struct manage *mg, uint64_t seq, const char *name, uid_t uid,
			    struct err *e)
{
	char esc[ESC_BUF_SIZE(ESC_NAME_MAX)];
	struct secret *sec = NULL, *file;
	struct snapshot *before, *after;
	enum err_kind kind;
	int64_t id;

	shown(name, esc);
	pthread_mutex_lock(&mg->lock);
	before = cache_peek(mg->cfg.cache, NULL);
	kind = generate(mg, name, &sec, e);
	if (kind != ERR_OK) {
		mg->counts.creates_failed++;
		if (maybe_done(kind)) {
			log_warn("create \"%s\" by uid %u: failed: %s; the token may have been "
				 "created: the list is fetched again to show it", esc, (unsigned)uid,
				 e->msg);
			refresh(mg);
		} else {
			log_warn("create \"%s\" by uid %u: failed: %s", esc, (unsigned)uid, e->msg);
		}
		minted_drop(mg->cfg.minted, seq);
		goto out;
	}
	refresh(mg);
	after = cache_peek(mg->cfg.cache, NULL);
	id = new_id(before, after, name);
	snap_unref(after);
	/* The secret file's bytes: the secret and a newline. */
	file = secret_join(secret_data(sec), "\n");
	if (!file) {
		/* The one copy there is must not be lost: hold it as it is. */
		log_error("create \"%s\" by uid %u: out of memory while keeping the secret",
			  esc, (unsigned)uid);
		file = sec;
		sec = NULL;
	}
	kind = keep_on_disk(mg, seq, id, sec ? sec : file, e);
	minted_fill(mg->cfg.minted, seq, id, file);
	if (kind == ERR_OK)
		mg->counts.creates_ok++;
	else
		mg->counts.creates_failed++;
	if (kind != ERR_OK)
		log_error("create \"%s\" (ID %" PRId64 ") by uid %u: created, but the secret could "
			  "not be written to secret_dir (%s): it is held in new/ only", esc, id,
			  (unsigned)uid, e->msg);
	else if (id == MINTED_NO_ID)
		log_warn("create \"%s\" by uid %u: ok, but the list does not show it yet: its ID "
			 "is not known", esc, (unsigned)uid);
	else
		log_info("create \"%s\" (ID %" PRId64 ") by uid %u: ok", esc, id, (unsigned)uid);
out:
	pthread_mutex_unlock(&mg->lock);
	secret_free(sec);
	snap_unref(before);
	return kind;
}

void manage_refused(struct manage *mg, const char *entry, int64_t id, uid_t uid)
{
	char esc[ESC_BUF_SIZE(ESC_NAME_MAX)];

	pthread_mutex_lock(&mg->lock);
	if (entry) {
		mg->counts.creates_failed++;
		log_warn("create \"%s\" by uid %u: refused: only the mounting user and root "
			 "may create tokens", shown(entry, esc), (unsigned)uid);
	} else {
		mg->counts.deletes_failed++;
		log_warn("delete ID %" PRId64 " by uid %u: refused: only the mounting user and "
			 "root may delete tokens", id, (unsigned)uid);
	}
	pthread_mutex_unlock(&mg->lock);
}

enum err_kind manage_delete(struct manage *mg, int64_t id, uid_t uid, struct err *e)
{
	char esc[ESC_BUF_SIZE(ESC_NAME_MAX)] = "";
	const struct snap_token *t;
	struct snapshot *s;
	enum err_kind kind;
	size_t len = 0;

	pthread_mutex_lock(&mg->lock);
	s = cache_peek(mg->cfg.cache, NULL);
	t = s ? snap_find_id(s, id) : NULL;
	if (t) {
		const char *name = snap_body(s, t, SNAP_F_NAME, &len);

		/* The name file ends in a newline. */
		esc_name(name, len - 1 < ESC_NAME_MAX ? len - 1 : ESC_NAME_MAX, esc);
	}
	snap_unref(s);
	kind = api_delete(mg->cfg.api, id, e);
	if (kind == ERR_OK) {
		mg->counts.deletes_ok++;
		refresh(mg);
		minted_drop_id(mg->cfg.minted, id);
		log_info("delete ID %" PRId64 " (\"%s\") by uid %u: ok", id, esc, (unsigned)uid);
	} else {
		mg->counts.deletes_failed++;
		log_warn("delete ID %" PRId64 " (\"%s\") by uid %u: failed: %s%s", id, esc,
			 (unsigned)uid, e->msg,
			 maybe_done(kind) ? "; it may have been deleted: the list is fetched again" : "");
		if (maybe_done(kind))
			refresh(mg);
	}
	pthread_mutex_unlock(&mg->lock);
	return kind;
}
