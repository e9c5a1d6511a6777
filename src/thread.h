/*
 * thread.h - starting the daemon's own threads (the cache's fetches, the
 * notifier, the prefetcher): they take no signals, which are for the
 * threads that serve requests and the one that waits for them (main.c).
 *
 * Owns: nothing past the call.
 * Must not touch: what the threads do.
 */
#ifndef SYNERGYFS_THREAD_H
#define SYNERGYFS_THREAD_H

#include <pthread.h>

/* pthread_create(t, NULL, fn, arg) with every signal blocked in the new thread. */
int thread_start(pthread_t *t, void *(*fn)(void *), void *arg);

#endif
