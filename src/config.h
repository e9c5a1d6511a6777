/*
 * config.h - the options of a mount, their validation, and loading the
 * bearer token from a file or the environment.
 *
 * Owns: the options as given and checked, and the token until the api takes it.
 * Must not touch: the network, the mount.
 */
#ifndef SYNERGYFS_CONFIG_H
#define SYNERGYFS_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "err.h"

/* Defaults, also shown by --help. */
#define CONFIG_DEFAULT_TTL 60
#define CONFIG_DEFAULT_TIMEOUT 30
#define CONFIG_DEFAULT_CONNECT_TIMEOUT 10
#define CONFIG_DEFAULT_MAX_RESPONSE (64u << 20)
#define CONFIG_DEFAULT_EXPIRING_DAYS 7
#define CONFIG_DEFAULT_REFRESH_WAIT 1

/*
 * The options.  The s_* strings are the raw option values as fuse_opt
 * stored them (malloc'd); config_validate turns them into numbers.
 */
struct config {
	char *url;              /* the URL argument */
	char *token_file;
	char *cacert;
	int insecure;
	char *s_cache_ttl, *s_timeout, *s_connect_timeout, *s_max_response;
	char *s_uid, *s_gid, *s_umask, *s_expiring_days, *s_refresh_wait;

	unsigned long cache_ttl, timeout, connect_timeout, max_response, expiring_days;
	unsigned long refresh_wait; /* seconds an access waits for a due refresh */
	uid_t uid;
	gid_t gid;
	mode_t umask;

	char *token;            /* the secret, until api has it; see config_drop_token */
};

/*
 * Parse the numeric options into their fields, applying defaults for the
 * absent ones.  Returns ERR_CONFIG with a one-line reason on a bad value.
 */
enum err_kind config_validate(struct config *c, struct err *e);

/*
 * Load the token into c->token: from token_file (which must be a regular
 * file or a symlink to one, not accessible by group or others, owned by the
 * caller or root; a FIFO, device or socket is refused without blocking on
 * it) or else from
 * SYNERGY_TOKEN (whose value is then wiped and removed from the
 * environment).  Surrounding whitespace is trimmed; the token must be
 * non-empty printable ASCII.  Returns ERR_CONFIG with a reason that never
 * contains the token.
 */
enum err_kind config_load_token(struct config *c, struct err *e);

/*
 * Wipe and free c->token (its only copy outside the HTTP client, once that
 * has taken it) and set it to NULL.
 */
void config_drop_token(struct config *c);

/* Free every string in c, wiping the token. */
void config_free(struct config *c);

#endif
