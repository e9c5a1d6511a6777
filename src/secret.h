/*
 * secret.h - memory for secrets (a bearer token, the header that carries
 * it, a freshly generated token): a copy in an anonymous mapping of its
 * own, locked in memory so it is never swapped out and left out of core
 * dumps (both as far as the system allows), wiped before it is unmapped.
 *
 *   struct secret *s = secret_new("abc", 3);   secret_data(s) -> "abc"
 *   secret_len(s) -> 3;   secret_free(s) wipes the page and unmaps it.
 *
 * Owns: the pages a secret lives in, their locks and their wiping.
 * Must not touch: what a secret means, where it goes (api.c, pat.c decide).
 */
#ifndef SYNERGYFS_SECRET_H
#define SYNERGYFS_SECRET_H

#include <stddef.h>

struct secret;

/*
 * A copy of the len bytes at p, NUL-terminated, in pages of its own:
 * mlock'ed and MADV_DONTDUMP as far as the system allows (a log_debug line
 * when not).  p need not be NUL-terminated and may hold NUL bytes.  NULL
 * when out of memory.  Free with secret_free.
 */
struct secret *secret_new(const char *p, size_t len);

/*
 * The NUL-terminated strings a and b, joined, as secret_new would keep
 * them: for "Authorization: Bearer " and a token without a copy of the
 * token elsewhere.  NULL when out of memory.
 */
struct secret *secret_join(const char *a, const char *b);

/* The secret's bytes, NUL-terminated; valid until secret_free. */
const char *secret_data(const struct secret *s);

/* The number of bytes secret_new was given (the NUL not counted). */
size_t secret_len(const struct secret *s);

/*
 * Lock s's pages in memory and keep them out of core dumps again (best
 * effort): locks do not carry over fork, so call this in the child after
 * daemonizing.  s may be NULL.
 */
void secret_protect(struct secret *s);

/* Wipe s (explicit_bzero), unlock and unmap its pages.  s may be NULL. */
void secret_free(struct secret *s);

#endif
