/*
 * config.h - the options of a mount, their validation, loading the bearer
 * token from a file or the environment, and opening the folder that secrets
 * of new tokens go to (-o secret_dir).
 *
 * Owns: the options as given and checked, the token until the api takes it,
 * and the secret_dir descriptor until config_free.
 * Must not touch: the network, the mount, the files inside secret_dir
 * (secret_dir.c writes those).
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
#define CONFIG_DEFAULT_NEW_TOKEN_DAYS 30     /* ExpireInDays of a token made with -o manage */
#define CONFIG_DEFAULT_CLIENT_ID "synergyfs"
#define CONFIG_NEW_TOKEN_DAYS_MAX 180        /* the most the server grants */
#define CONFIG_CLIENT_ID_MAX 128             /* bytes, not characters */

/*
 * The options.  The s_* strings are the raw option values as fuse_opt
 * stored them (malloc'd); config_validate turns them into numbers.
 * Start from config_init (or set secret_dir_fd to -1 yourself): a zeroed
 * struct has secret_dir_fd 0, which config_free would close.
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

	int manage;                   /* -o manage: mkdir in new/ makes a token, rmdir revokes */
	char *s_new_token_days;       /* -o new_token_days=N */
	char *client_id;              /* -o client_id=S; after config_validate with manage, never
				       * NULL (CONFIG_DEFAULT_CLIENT_ID when not given) */
	char *secret_dir;             /* -o secret_dir=DIR, as given (before ~ expansion) */
	unsigned long new_token_days; /* ExpireInDays of tokens made: 1..180, default 30 */
	int secret_dir_fd;            /* -1, or secret_dir opened by config_open_secret_dir */

	char *token;            /* the secret, until api has it; see config_drop_token */
};

/*
 * Zero *c and set secret_dir_fd to -1: the state before fuse_opt fills in
 * the strings, and one that config_free may always be given.
 */
void config_init(struct config *c);

/*
 * Parse the numeric options into their fields, applying defaults for the
 * absent ones, and check the rest: client_id non-empty, at most
 * CONFIG_CLIENT_ID_MAX bytes of valid UTF-8 without control characters;
 * new_token_days, client_id and secret_dir only with manage.  With manage
 * and no client_id, sets client_id to a malloc'd CONFIG_DEFAULT_CLIENT_ID
 * (so calling it twice gives the same result).  Leaves secret_dir_fd alone.
 * Returns ERR_CONFIG with a one-line reason on a bad value, ERR_NOMEM.
 */
enum err_kind config_validate(struct config *c, struct err *e);

/*
 * Check and open secret_dir, when given (otherwise leaves secret_dir_fd at
 * -1 and returns ERR_OK).  After ~ expansion as token_file has, and with
 * trailing slashes dropped, it must be a folder itself, not a symlink to one
 * (O_NOFOLLOW on the last component; symlinks above it are followed), owned
 * by the caller (geteuid(); unlike token_file, root's is not accepted too),
 * with no group or other permission bits (mode & 077 == 0).  The checks are
 * made on the opened descriptor (fstat), not the path, so a swap after them
 * changes nothing.  On success sets c->secret_dir_fd to the folder opened
 * O_RDONLY|O_DIRECTORY|O_NOFOLLOW|O_CLOEXEC (O_RDONLY, not O_PATH: the
 * writer fsyncs it); config_free closes it.  Call it once, after
 * config_validate.  Returns ERR_CONFIG with a one-line reason naming the
 * path, what is wrong and the fix ("chmod 700 DIR"), or ERR_NOMEM.
 */
enum err_kind config_open_secret_dir(struct config *c, struct err *e);

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

/*
 * Free every string in c, wiping the token, and close secret_dir_fd unless
 * it is -1 (it is -1 afterwards).
 */
void config_free(struct config *c);

#endif
