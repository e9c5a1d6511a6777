/*
 * manage.h - creating and deleting tokens on the server (-o manage): one
 * generate-pat or delete-pat, never retried, then a refresh of the list so
 * that the mount shows the truth, and one log line saying what was done,
 * for whom, and how it went.  Creates and deletes are made one at a time.
 *
 * Owns: the requests that change the server, the new secret until it is
 * held (minted.h) and written to secret_dir, the counts of both.
 * Must not touch: the kernel (fs.c tells it), errno (fs.c chooses it).
 */
#ifndef SYNERGYFS_MANAGE_H
#define SYNERGYFS_MANAGE_H

#include <stdint.h>
#include <sys/types.h>

#include "err.h"

struct api;
struct cache;
struct minted;
struct manage;

struct manage_config {
	struct api *api;        /* outlives the manage */
	struct cache *cache;    /* refreshed after each change */
	struct minted *minted;  /* where created tokens' secrets are held */
	const char *client_id;  /* ClientId of created tokens; copied */
	long days;              /* ExpireInDays of created tokens */
	int secret_dir_fd;      /* -1, or the folder each new secret is also written to */
};

/* Creates and deletes so far. */
struct manage_counts {
	uint64_t creates_ok, creates_failed;
	uint64_t deletes_ok, deletes_failed;
};

/* A manager for cfg, or NULL when memory runs out. */
struct manage *manage_new(const struct manage_config *cfg);

/* Free mg.  mg may be NULL. */
void manage_free(struct manage *mg);

/*
 * Create a token named name (as the server will store it) for the folder
 * seq reserved in minted, at the request of uid.  On success the list is refreshed, the folder shows
 * the token's ID (or MINTED_NO_ID if the list does not show it) and
 * secret, and the secret is in secret_dir.  On failure the folder is
 * dropped, unless the token was made and only writing it to secret_dir
 * failed: then the folder holds the secret and the kind says what failed.
 * Returns the kind with *e set: the server's (api.h: ERR_INVALID,
 * ERR_AUTH, ERR_NOT_FOUND, ERR_TIMEOUT, ...), ERR_PROTO for an answer
 * that is not a secret.
 */
enum err_kind manage_create(struct manage *mg, uint64_t seq, const char *name, uid_t uid,
			    struct err *e);

/*
 * Delete token id at the request of uid: one delete-pat, then a refresh;
 * its folders in new/ go.  Returns the kind with *e set on failure.
 */
enum err_kind manage_delete(struct manage *mg, int64_t id, uid_t uid, struct err *e);

/*
 * Log and count a create (of the folder entry in new/) or a delete (of
 * token id) refused to uid before any request: not the mounting user or
 * root.
 */
void manage_refused(struct manage *mg, const char *entry, int64_t id, uid_t uid);

/* The counts so far. */
struct manage_counts manage_counts(struct manage *mg);

#endif
