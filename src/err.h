/*
 * err.h - the small error vocabulary shared by synergyfs's core modules.
 *
 * Core functions report failure as an error kind plus a one-line human
 * message.  Only the FUSE layer turns a kind into an errno (fs_errno()).
 *
 * Owns: the error kinds and their messages.
 * Must not touch: errno: only fs.c turns a kind into one (fs_errno).
 */
#ifndef SYNERGYFS_ERR_H
#define SYNERGYFS_ERR_H

#include <stddef.h>

enum err_kind {
	ERR_OK = 0,
	ERR_AUTH,        /* the server rejected the token (401/403) */
	ERR_TIMEOUT,     /* the request ran out of time */
	ERR_REFUSED,     /* the server refused the connection */
	ERR_UNREACHABLE, /* no route to the server's host or network */
	ERR_NET,         /* any other transport failure (DNS, reset, ...) */
	ERR_TLS,         /* TLS handshake or certificate verification failed */
	ERR_HTTP,        /* the server answered with an unexpected status */
	ERR_INVALID,     /* the server refused a request as invalid (400) */
	ERR_NOT_FOUND,   /* the server has no such thing (404) */
	ERR_PROTO,       /* the body is not what the API documents */
	ERR_TOOBIG,      /* the body exceeds the configured limit */
	ERR_NOMEM,       /* out of memory */
	ERR_CONFIG,      /* bad option, URL or token file */
};

/* An error kind with its one-line message ("" when kind is ERR_OK). */
struct err {
	enum err_kind kind;
	char msg[512];
};

/*
 * Set *e to kind and a printf-style message.  Returns kind, so that
 * `return err_set(e, ERR_PROTO, "...")` reads naturally.  e may be NULL.
 */
enum err_kind err_set(struct err *e, enum err_kind kind, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* Reset *e to ERR_OK with an empty message. */
void err_clear(struct err *e);

/* A short, stable name for kind ("auth", "timeout", ...). */
const char *err_kind_name(enum err_kind kind);

#endif
