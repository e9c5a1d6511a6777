/*
 * editions.c - status and metrics.prom as the kernel holds them; see
 * editions.h.  A few dozen entries at most: a linear search is enough.
 */
#include "editions.h"

#include <stdbool.h>

void editions_init(struct editions *ed)
{
	*ed = (struct editions){ .next = 1 };
	pthread_mutex_init(&ed->lock, NULL);
}

void editions_destroy(struct editions *ed)
{
	for (unsigned i = 0; i < EDITIONS_MAX; i++)
		if (ed->e[i].ino)
			shelf_put(ed->e[i].text);
	pthread_mutex_destroy(&ed->lock);
}

uint64_t editions_add(struct editions *ed, struct shelf_text *text, struct timespec at,
		      uint64_t (*number)(uint64_t version, void *arg), void *arg)
{
	struct edition *free_one = NULL;
	uint64_t ino = 0;

	pthread_mutex_lock(&ed->lock);
	for (unsigned i = 0; i < EDITIONS_MAX; i++) {
		if (ed->e[i].ino && ed->e[i].text == text) {
			ed->e[i].nlookup++;
			ino = ed->e[i].ino;
			break;
		}
		if (!ed->e[i].ino && !free_one)
			free_one = &ed->e[i];
	}
	if (ino) {
		shelf_put(text); /* the edition holds one already */
	} else if (free_one) {
		*free_one = (struct edition){
			.ino = number(ed->next++, arg), .nlookup = 1, .text = text, .at = at,
		};
		ino = free_one->ino;
	} else {
		shelf_put(text);
	}
	pthread_mutex_unlock(&ed->lock);
	return ino;
}

bool editions_forget(struct editions *ed, uint64_t ino, uint64_t nlookup)
{
	struct shelf_text *gone = NULL;
	bool found = false;

	pthread_mutex_lock(&ed->lock);
	for (unsigned i = 0; i < EDITIONS_MAX; i++) {
		if (ed->e[i].ino != ino)
			continue;
		found = true;
		ed->e[i].nlookup -= nlookup < ed->e[i].nlookup ? nlookup : ed->e[i].nlookup;
		if (ed->e[i].nlookup == 0) {
			gone = ed->e[i].text;
			ed->e[i] = (struct edition){ .ino = 0 };
		}
		break;
	}
	pthread_mutex_unlock(&ed->lock);
	shelf_put(gone);
	return found;
}

struct shelf_text *editions_find(struct editions *ed, uint64_t ino, struct timespec *at)
{
	struct shelf_text *t = NULL;

	pthread_mutex_lock(&ed->lock);
	for (unsigned i = 0; i < EDITIONS_MAX; i++) {
		if (ed->e[i].ino == ino) {
			t = ed->e[i].text;
			atomic_fetch_add_explicit(&t->refs, 1, memory_order_relaxed);
			*at = ed->e[i].at;
			break;
		}
	}
	pthread_mutex_unlock(&ed->lock);
	return t;
}
