/*
 * buf.h - a growable byte buffer that remembers whether it ever ran out of
 * memory, so that a sequence of appends needs one check at the end; room
 * for arrays that grow; and the decimal text of an integer.
 *
 * Owns: the bytes appended and whether memory ran out.
 * Must not touch: what the bytes mean.
 */
#ifndef SYNERGYFS_BUF_H
#define SYNERGYFS_BUF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct buf {
	char *p;      /* malloc'd; the caller frees it (or takes it) */
	size_t len, cap;
	bool failed;  /* an allocation failed: the content is incomplete */
};

/* Make room for n more bytes.  Returns false (and sets failed) when memory runs out. */
bool buf_reserve(struct buf *b, size_t n);

/* Append n bytes; returns the offset they start at (meaningless once failed). */
size_t buf_add(struct buf *b, const void *p, size_t n);

/* Append a NUL-terminated string. */
void buf_puts(struct buf *b, const char *s);

/* Append printf-style text (no NUL is counted in len). */
void buf_printf(struct buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/*
 * Room for one more element after the n in v, an array of elem-byte
 * elements with room for *cap: v itself, or v moved to a larger block
 * (the capacity doubles, from 1024; *cap is updated).  NULL when memory
 * runs out, v then unchanged.
 */
void *buf_array_room(void *v, size_t *cap, size_t n, size_t elem);

/* Room for the decimal text of any int64_t and its NUL. */
#define BUF_I64_TEXT 21

/*
 * Write v in decimal, as printf's "%" PRId64 does, and a NUL into out;
 * returns the length.  For the paths that write one per token, where
 * printf's format parsing shows in a profile.
 */
size_t buf_i64(char out[BUF_I64_TEXT], int64_t v);

#endif
