/*
 * api.h - talking to the 12d Synergy REST API over HTTP(S).  The only
 * module that knows libcurl.  The bearer token lives here, in one place
 * (a struct secret: a page of its own, locked in memory when the system
 * allows, left out of core dumps, wiped when replaced or freed).  Every
 * other copy (libcurl's, of each request) is wiped when freed.
 *
 * Owns: the HTTP client, the bearer token's one copy, the request count.
 * Must not touch: what the list says (pat.h parses it), errno (fs.c chooses it).
 */
#ifndef SYNERGYFS_API_H
#define SYNERGYFS_API_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "err.h"

/* The endpoints, appended to the server's base URL. */
#define API_LIST_PATH "/api/v1/auth/getPersonalAccessTokens"
#define API_GENERATE_PATH "/api/v1/auth/generate-pat"
#define API_DELETE_PATH "/api/v1/auth/delete-pat"

struct api_config {
	const char *base_url;     /* as given by the user; see api_normalize_url */
	const char *token;        /* copied by api_new: the caller should wipe its own */
	long timeout_ms;          /* whole request */
	long connect_timeout_ms;
	const char *cacert;       /* extra CA bundle, or NULL */
	bool insecure;            /* skip TLS verification */
	size_t max_response;      /* largest body accepted, in bytes */
};

struct api;

/*
 * Initialise libcurl, with an allocator that wipes every block libcurl
 * frees; call once before any thread starts.  Returns false on failure.
 */
bool api_global_init(void);

/* Undo api_global_init. */
void api_global_cleanup(void);

/*
 * Check a server base URL: http or https, a host, no user name or password,
 * no query or fragment.  On success *out is the malloc'd base without
 * trailing slashes; on failure ERR_CONFIG with the reason in *e.
 */
enum err_kind api_normalize_url(const char *url, char **out, struct err *e);

/* Is the URL's host a loopback address or localhost? */
bool api_url_is_loopback(const char *url);

/*
 * A client for cfg (base_url already normalised).  Returns NULL with *e set
 * (ERR_NOMEM, ERR_CONFIG) on failure.
 */
struct api *api_new(const struct api_config *cfg, struct err *e);

/*
 * Use token from the next request on (token rotation); the old one is
 * wiped.  Returns ERR_NOMEM (keeping the old token) on failure.
 */
enum err_kind api_set_token(struct api *a, const char *token, struct err *e);

/*
 * End the request in flight within about 50 ms, and fail every later one:
 * for a daemon that is ending.  Safe from any thread, while a request runs.
 * a may be NULL.
 */
void api_abort(struct api *a);

/*
 * Lock the token's page in memory again (best effort): locks do not carry
 * over fork, so call this in the child after daemonizing.
 */
void api_protect_token(struct api *a);

/* Free a, wiping the token.  a may be NULL. */
void api_free(struct api *a);

/*
 * GET the token list (success: 200 only).  A 429, a 5xx or a connection broken mid-answer is
 * tried again (up to 4 tries, backing off from 250 ms or as Retry-After
 * says) as long as the whole stays within the timeout.  On success *body
 * (malloc'd, caller frees) holds *len bytes.  On failure returns the kind (ERR_AUTH for 401/403,
 * ERR_TIMEOUT, ERR_REFUSED, ERR_UNREACHABLE, ERR_TLS, ERR_TOOBIG, ERR_HTTP
 * for other statuses, ERR_NET) with a one-line cause in *e that never
 * contains the token.  Thread-safe; calls are serialised.
 */
enum err_kind api_get_list(struct api *a, char **body, size_t *len, struct err *e);

/*
 * POST generate-pat with body (JSON, from pat_generate_body; sent as
 * Content-Type: application/json), once: never tried again, whatever
 * happens, since a failed POST may have created the token all the same.
 * On success (any 2xx) *answer (malloc'd, NUL-terminated) holds *len bytes:
 * the new token, so the caller wipes it (explicit_bzero over *len bytes)
 * before free.  Every other copy (libcurl's, the receive buffer's) is wiped
 * here.  On failure *answer is NULL and the kind is as api_get_list's
 * (ERR_AUTH for 401/403, ERR_TIMEOUT, ERR_REFUSED, ERR_UNREACHABLE,
 * ERR_TLS, ERR_TOOBIG, ERR_NET, ERR_NOMEM), plus ERR_INVALID for 400,
 * ERR_NOT_FOUND for 404 and ERR_HTTP for any other status (redirects
 * included), with a one-line cause in *e naming the status, never the
 * token nor the answer.  Thread-safe; serialised with every other request.
 */
enum err_kind api_generate(struct api *a, const char *body, char **answer, size_t *len,
			   struct err *e);

/*
 * POST delete-pat?id=<id>, once, with an empty body.  ERR_OK on any 2xx
 * (the answer is dropped); errors as api_generate's: ERR_NOT_FOUND (404)
 * is the server saying it has no token with that ID.
 */
enum err_kind api_delete(struct api *a, int64_t id, struct err *e);

/* libcurl's version line, for --version. */
const char *api_library_version(void);

/* Requests sent so far. */
unsigned long api_requests(struct api *a);

#endif
