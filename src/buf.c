/*
 * buf.c - the growable buffer; see buf.h.
 */
#include "buf.h"

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

bool buf_reserve(struct buf *b, size_t n)
{
	size_t cap;
	char *np;

	if (b->failed)
		return false;
	if (b->len + n <= b->cap)
		return true;
	cap = b->cap ? b->cap : 4096;
	while (cap < b->len + n)
		cap *= 2;
	np = realloc(b->p, cap);
	if (!np) {
		b->failed = true;
		return false;
	}
	b->p = np;
	b->cap = cap;
	return true;
}

size_t buf_add(struct buf *b, const void *p, size_t n)
{
	size_t off = b->len;

	if (!buf_reserve(b, n))
		return 0;
	memcpy(b->p + b->len, p, n);
	b->len += n;
	return off;
}

void buf_puts(struct buf *b, const char *s)
{
	buf_add(b, s, strlen(s));
}

void buf_printf(struct buf *b, const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	if (n < 0 || !buf_reserve(b, (size_t)n + 1))
		return;
	va_start(ap, fmt);
	vsnprintf(b->p + b->len, (size_t)n + 1, fmt, ap);
	va_end(ap);
	b->len += (size_t)n;
}

void *buf_array_room(void *v, size_t *cap, size_t n, size_t elem)
{
	size_t ncap = *cap ? *cap * 2 : 1024;

	if (n < *cap)
		return v;
	if (ncap > SIZE_MAX / elem)
		return NULL;
	v = realloc(v, ncap * elem);
	if (v)
		*cap = ncap;
	return v;
}

size_t buf_i64(char out[BUF_I64_TEXT], int64_t v)
{
	/* Negated as unsigned, so that INT64_MIN has a magnitude too. */
	uint64_t u = v < 0 ? -(uint64_t)v : (uint64_t)v;
	char rev[BUF_I64_TEXT];
	size_t n = 0, len = 0;

	do {
		rev[n++] = (char)('0' + u % 10);
		u /= 10;
	} while (u);
	if (v < 0)
		out[len++] = '-';
	while (n)
		out[len++] = rev[--n];
	out[len] = '\0';
	return len;
}
