/*
 * minted.c - the folders of new/, in an array ordered by seq (numbers only
 * grow, so appending keeps the order).  A few folders are expected at a
 * time: lookups scan.
 */
#include "minted.h"

#include <inttypes.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "secret.h"

struct folder {
	uint64_t seq;
	int64_t id;
	bool shown;            /* filled; before, only reserved */
	bool read;             /* its secret was read at least once */
	struct timespec created;
	char *entry;
	struct secret *body;   /* the secret and a newline, once shown */
};

struct minted {
	pthread_mutex_t lock;
	struct folder *v;
	size_t n, cap;
	uint64_t last_seq;
	struct timespec changed;
};

struct minted *minted_new(void)
{
	struct minted *m = calloc(1, sizeof(*m));

	if (m)
		pthread_mutex_init(&m->lock, NULL);
	return m;
}

static void folder_clear(struct folder *f)
{
	secret_free(f->body);
	free(f->entry);
}

void minted_free(struct minted *m)
{
	if (!m)
		return;
	for (size_t i = 0; i < m->n; i++) {
		struct folder *f = &m->v[i];
		char esc[ESC_NAME_MAX + 1];

		/* No control byte of the name reaches the log. */
		for (size_t j = 0; j < sizeof(esc); j++) {
			unsigned char c = (unsigned char)f->entry[j];

			esc[j] = c && (c < 0x20 || c == 0x7f) ? '?' : (char)c;
			if (!c)
				break;
		}
		if (f->shown && !f->read && f->id != MINTED_NO_ID)
			log_warn("the secret of token %" PRId64 " (new/%s) was never read: it is gone now",
				 f->id, esc);
		else if (f->shown && !f->read)
			log_warn("the secret of the token in new/%s was never read: it is gone now",
				 esc);
		folder_clear(f);
	}
	free(m->v);
	pthread_mutex_destroy(&m->lock);
	free(m);
}

static struct folder *by_seq(struct minted *m, uint64_t seq)
{
	for (size_t i = 0; i < m->n; i++)
		if (m->v[i].seq == seq)
			return &m->v[i];
	return NULL;
}

static struct folder *by_entry(struct minted *m, const char *entry)
{
	for (size_t i = 0; i < m->n; i++)
		if (strcmp(m->v[i].entry, entry) == 0)
			return &m->v[i];
	return NULL;
}

static void touch(struct minted *m)
{
	clock_gettime(CLOCK_REALTIME, &m->changed);
}

enum minted_claim minted_reserve(struct minted *m, const char *entry, uint64_t *seq)
{
	enum minted_claim claim = MINTED_FULL;
	struct folder *f;

	pthread_mutex_lock(&m->lock);
	if (by_entry(m, entry)) {
		claim = MINTED_EXISTS;
		goto out;
	}
	if (m->n == MINTED_MAX)
		goto out;
	if (m->n == m->cap) {
		size_t cap = m->cap ? m->cap * 2 : 8;
		struct folder *v = realloc(m->v, cap * sizeof(*v));

		if (!v)
			goto out;
		m->v = v;
		m->cap = cap;
	}
	f = &m->v[m->n];
	*f = (struct folder){ .seq = m->last_seq + 1, .id = MINTED_NO_ID, .entry = strdup(entry) };
	if (!f->entry)
		goto out;
	m->n++;
	*seq = ++m->last_seq;
	claim = MINTED_RESERVED;
out:
	pthread_mutex_unlock(&m->lock);
	return claim;
}

void minted_fill(struct minted *m, uint64_t seq, int64_t id, struct secret *sec)
{
	struct folder *f;

	pthread_mutex_lock(&m->lock);
	f = by_seq(m, seq);
	if (f && !f->shown) {
		f->id = id;
		f->body = sec;
		f->shown = true;
		clock_gettime(CLOCK_REALTIME, &f->created);
		m->changed = f->created;
		sec = NULL;
	}
	pthread_mutex_unlock(&m->lock);
	secret_free(sec);
}

/* Remove m->v[i]; the caller holds the lock. */
static void remove_at(struct minted *m, size_t i)
{
	if (m->v[i].shown)
		touch(m);
	folder_clear(&m->v[i]);
	memmove(&m->v[i], &m->v[i + 1], (m->n - i - 1) * sizeof(m->v[0]));
	m->n--;
}

bool minted_drop(struct minted *m, uint64_t seq)
{
	bool found = false;

	pthread_mutex_lock(&m->lock);
	for (size_t i = 0; i < m->n && !found; i++) {
		if (m->v[i].seq == seq) {
			remove_at(m, i);
			found = true;
		}
	}
	pthread_mutex_unlock(&m->lock);
	return found;
}

size_t minted_drop_id(struct minted *m, int64_t id)
{
	size_t dropped = 0;

	pthread_mutex_lock(&m->lock);
	for (size_t i = m->n; i-- > 0;) {
		if (m->v[i].shown && m->v[i].id == id) {
			remove_at(m, i);
			dropped++;
		}
	}
	pthread_mutex_unlock(&m->lock);
	return dropped;
}

static void info_of(const struct folder *f, struct minted_info *out)
{
	out->seq = f->seq;
	out->id = f->id;
	out->secret_len = secret_len(f->body) - 1;
	out->created = f->created;
	strncpy(out->entry, f->entry, sizeof(out->entry) - 1);
	out->entry[sizeof(out->entry) - 1] = '\0';
}

/* Copy folder f (NULL: none) into out if it is shown; the caller holds the lock. */
static bool shown_info(const struct folder *f, struct minted_info *out)
{
	if (!f || !f->shown)
		return false;
	info_of(f, out);
	return true;
}

bool minted_lookup(struct minted *m, const char *entry, struct minted_info *out)
{
	bool found;

	pthread_mutex_lock(&m->lock);
	found = shown_info(by_entry(m, entry), out);
	pthread_mutex_unlock(&m->lock);
	return found;
}

bool minted_get(struct minted *m, uint64_t seq, struct minted_info *out)
{
	bool found;

	pthread_mutex_lock(&m->lock);
	found = shown_info(by_seq(m, seq), out);
	pthread_mutex_unlock(&m->lock);
	return found;
}

bool minted_next(struct minted *m, uint64_t *after, struct minted_info *out)
{
	bool found = false;

	pthread_mutex_lock(&m->lock);
	/* Folders are in seq order: the first shown one past *after. */
	for (size_t i = 0; i < m->n && !found; i++) {
		if (m->v[i].seq > *after && shown_info(&m->v[i], out)) {
			*after = m->v[i].seq;
			found = true;
		}
	}
	pthread_mutex_unlock(&m->lock);
	return found;
}

struct timespec minted_changed(struct minted *m, struct timespec t0)
{
	struct timespec t;

	pthread_mutex_lock(&m->lock);
	t = m->changed.tv_sec || m->changed.tv_nsec ? m->changed : t0;
	pthread_mutex_unlock(&m->lock);
	return t;
}

bool minted_read_secret(struct minted *m, uint64_t seq, size_t off, size_t size,
			void (*fn)(void *arg, const char *p, size_t len), void *arg)
{
	struct folder *f;
	size_t len;

	pthread_mutex_lock(&m->lock);
	f = by_seq(m, seq);
	if (f && f->shown) {
		len = secret_len(f->body);
		if (off >= len)
			fn(arg, NULL, 0);
		else
			fn(arg, secret_data(f->body) + off, len - off < size ? len - off : size);
		f->read = true;
	}
	pthread_mutex_unlock(&m->lock);
	return f && f->shown;
}

size_t minted_count(struct minted *m)
{
	size_t n = 0;

	pthread_mutex_lock(&m->lock);
	for (size_t i = 0; i < m->n; i++)
		n += m->v[i].shown;
	pthread_mutex_unlock(&m->lock);
	return n;
}
