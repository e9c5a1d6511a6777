/*
 * secret.c - secrets in locked pages of their own; see secret.h.
 *
 * The mapping holds the struct itself, then the bytes and their NUL:
 *
 *   [ size | len | d a t a \0 | zeros to the end of the last page ]
 *
 * so a secret is one mmap and one munmap, and nothing of it is on the heap.
 */
#include "secret.h"

#include <errno.h>
#include <stdint.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "log.h"

struct secret {
	size_t size;  /* of the whole mapping, this header included */
	size_t len;   /* of data, without its NUL */
	char data[];
};

void secret_protect(struct secret *s)
{
	if (!s)
		return;
	if (mlock(s, s->size) != 0)
		log_debug("a secret's page is not locked in memory (mlock: %s): it may be "
			  "swapped out", strerror(errno));
	if (madvise(s, s->size, MADV_DONTDUMP) != 0)
		log_debug("a secret's page may appear in core dumps (madvise: %s)",
			  strerror(errno));
}

/* Pages for len bytes and a NUL, zeroed and protected; NULL if out of memory. */
static struct secret *secret_alloc(size_t len)
{
	size_t page = (size_t)sysconf(_SC_PAGESIZE), need, size;
	struct secret *s;

	if (len > SIZE_MAX - sizeof(*s) - page)
		return NULL;
	need = sizeof(*s) + len + 1;
	size = (need + page - 1) / page * page;
	s = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (s == MAP_FAILED)
		return NULL;
	s->size = size;
	s->len = len;
	/* Locked before any byte of the secret is written. */
	secret_protect(s);
	return s;
}

struct secret *secret_new(const char *p, size_t len)
{
	struct secret *s = secret_alloc(len);

	if (s && len)
		memcpy(s->data, p, len);
	return s; /* the NUL is there: anonymous pages come zeroed */
}

struct secret *secret_join(const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b);
	struct secret *s = la > SIZE_MAX - lb ? NULL : secret_alloc(la + lb);

	if (!s)
		return NULL;
	memcpy(s->data, a, la);
	memcpy(s->data + la, b, lb);
	return s;
}

const char *secret_data(const struct secret *s)
{
	return s->data;
}

size_t secret_len(const struct secret *s)
{
	return s->len;
}

void secret_free(struct secret *s)
{
	size_t size;

	if (!s)
		return;
	size = s->size;
	explicit_bzero(s, size);
	munlock(s, size);
	munmap(s, size);
}
