/*
 * Listing-driven attribute prefetch (see prefetch.h). One lock guards the
 * tables and the queue; HEADs run outside it on up to PREFETCH_THREADS
 * workers, started as the queue first needs them. Each lookup keeps the
 * next PREFETCH_AHEAD names queued, so the HEADs flow while `ls -l` works
 * through the names, and a lookup waits for its own HEAD alone.
 */
#include "prefetch.h"

#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <uthash.h>

#define PREFETCH_AHEAD	   256	/* names HEADed ahead of the last lookup */
#define PREFETCH_THREADS   64	/* HEADs in flight */
#define PREFETCH_FRESH_MS  1000 /* as long as the kernel caches attributes */
#define PREFETCH_LISTING_S 60	/* how long a listing guides prefetches */
#define PREFETCH_MAX_ATTRS 4096 /* results kept, all directories together */
#define PREFETCH_SWEEP_MS  250	/* how often stale results are looked for */

/* A HEAD queued or in flight (pending), or its result. */
struct attr {
	UT_hash_handle hh;
	char *key;
	bool pending;
	bool dropped; /* pending, and out of the table: its worker frees it */
	int rc;
	struct store_obj obj;
	struct timespec at;
	struct attr *next_queued;
};

struct listing {
	UT_hash_handle hh;
	fuse_ino_t dir;
	char **keys;
	size_t n;
	size_t cursor; /* where the last lookup was found */
	size_t ahead;  /* keys before this one have been queued */
	time_t at;
};

struct prefetch {
	struct cache *cache;
	pthread_mutex_t lock;
	pthread_cond_t work; /* a HEAD was queued, or stop */
	pthread_cond_t done; /* a pending HEAD finished */
	struct attr *attrs;  /* by key */
	unsigned int n_attrs;
	struct attr *queue_head, *queue_tail;
	struct listing *listings;
	pthread_t threads[PREFETCH_THREADS];
	unsigned int n_threads;
	bool stop;
	struct timespec swept;
};

static long ms_since(const struct timespec *t)
{
	struct timespec now;

	clock_gettime(CLOCK_MONOTONIC, &now);
	return (now.tv_sec - t->tv_sec) * 1000 + (now.tv_nsec - t->tv_nsec) / 1000000;
}

static void attr_free(struct prefetch *p, struct attr *a)
{
	HASH_DEL(p->attrs, a);
	p->n_attrs--;
	free(a->key);
	free(a);
}

static void listing_free(struct prefetch *p, struct listing *l)
{
	HASH_DEL(p->listings, l);
	for (size_t i = 0; i < l->n; i++)
		free(l->keys[i]);
	free(l->keys);
	free(l);
}

struct prefetch *prefetch_create(struct cache *cache)
{
	struct prefetch *p = calloc(1, sizeof(*p));

	if (!p)
		return NULL;
	p->cache = cache;
	pthread_mutex_init(&p->lock, NULL);
	pthread_cond_init(&p->work, NULL);
	pthread_cond_init(&p->done, NULL);
	return p;
}

void prefetch_destroy(struct prefetch *p)
{
	struct attr *a, *atmp;
	struct listing *l, *ltmp;

	if (!p)
		return;
	pthread_mutex_lock(&p->lock);
	p->stop = true;
	pthread_cond_broadcast(&p->work);
	pthread_mutex_unlock(&p->lock);
	for (unsigned int i = 0; i < p->n_threads; i++)
		pthread_join(p->threads[i], NULL);
	/* Workers are gone: of what is still queued, the dropped are out of
	 * the table, the rest in it. */
	for (a = p->queue_head; a; a = atmp) {
		atmp = a->next_queued;
		if (a->dropped) {
			free(a->key);
			free(a);
		}
	}
	HASH_ITER(hh, p->attrs, a, atmp)
	{
		attr_free(p, a);
	}
	HASH_ITER(hh, p->listings, l, ltmp)
	{
		listing_free(p, l);
	}
	pthread_cond_destroy(&p->work);
	pthread_cond_destroy(&p->done);
	pthread_mutex_destroy(&p->lock);
	free(p);
}

void prefetch_listing(struct prefetch *p, fuse_ino_t dir, char **keys, size_t n)
{
	struct listing *l, *tmp;
	time_t now = time(NULL);

	pthread_mutex_lock(&p->lock);
	HASH_ITER(hh, p->listings, l, tmp)
	{
		if (l->dir == dir || now - l->at > PREFETCH_LISTING_S)
			listing_free(p, l);
	}
	l = calloc(1, sizeof(*l));
	if (l) {
		l->dir = dir;
		l->keys = keys;
		l->n = n;
		l->at = now;
		HASH_ADD(hh, p->listings, dir, sizeof(l->dir), l);
	}
	pthread_mutex_unlock(&p->lock);
	if (!l) {
		for (size_t i = 0; i < n; i++)
			free(keys[i]);
		free(keys);
	}
}

/* HEAD queued keys, one at a time, until stopped; a dropped key's result
 * is thrown away (it changed through the mount meanwhile). */
static void *head_worker(void *arg)
{
	struct prefetch *p = arg;

	pthread_mutex_lock(&p->lock);
	for (;;) {
		struct attr *a;
		struct store_obj obj;
		int rc;

		while (!p->stop && !p->queue_head)
			pthread_cond_wait(&p->work, &p->lock);
		if (p->stop)
			break;
		a = p->queue_head;
		p->queue_head = a->next_queued;
		if (!p->queue_head)
			p->queue_tail = NULL;
		pthread_mutex_unlock(&p->lock);
		rc = cache_head(p->cache, a->key, &obj);
		pthread_mutex_lock(&p->lock);
		if (a->dropped) {
			free(a->key);
			free(a);
		} else {
			a->pending = false;
			a->rc = rc;
			a->obj = obj;
			clock_gettime(CLOCK_MONOTONIC, &a->at);
		}
		pthread_cond_broadcast(&p->done);
	}
	pthread_mutex_unlock(&p->lock);
	return NULL;
}

/* Queue a HEAD of key, starting a worker if all are busy. Lock held. */
static void enqueue_locked(struct prefetch *p, const char *key)
{
	struct attr *a = calloc(1, sizeof(*a));

	if (!a || !(a->key = strdup(key))) {
		free(a);
		return;
	}
	a->pending = true;
	HASH_ADD_KEYPTR(hh, p->attrs, a->key, strlen(a->key), a);
	p->n_attrs++;
	if (p->queue_tail)
		p->queue_tail->next_queued = a;
	else
		p->queue_head = a;
	p->queue_tail = a;
	if (p->n_threads < PREFETCH_THREADS &&
	    !pthread_create(&p->threads[p->n_threads], NULL, head_worker, p))
		p->n_threads++;
	pthread_cond_signal(&p->work);
}

/* Forget results older than a lookup's own HEAD would be. Lock held. */
static void sweep_locked(struct prefetch *p)
{
	struct attr *a, *atmp;

	if (ms_since(&p->swept) < PREFETCH_SWEEP_MS && p->n_attrs < PREFETCH_MAX_ATTRS)
		return;
	clock_gettime(CLOCK_MONOTONIC, &p->swept);
	HASH_ITER(hh, p->attrs, a, atmp)
	{
		if (!a->pending && ms_since(&a->at) >= PREFETCH_FRESH_MS)
			attr_free(p, a);
	}
}

/* Keep the names after the one at pos queued, PREFETCH_AHEAD of them.
 * Lock held. */
static void queue_ahead_locked(struct prefetch *p, struct listing *l, size_t pos)
{
	size_t k = l->ahead;

	sweep_locked(p);
	for (; k < l->n && k <= pos + PREFETCH_AHEAD && p->n_attrs < PREFETCH_MAX_ATTRS; k++) {
		struct attr *a;

		HASH_FIND_STR(p->attrs, l->keys[k], a);
		if (!a)
			enqueue_locked(p, l->keys[k]);
	}
	l->ahead = k;
}

int prefetch_take(struct prefetch *p, fuse_ino_t dir, const char *key, struct store_obj *out)
{
	struct listing *l;
	struct attr *a;
	size_t pos = 0;
	bool found = false;
	int rc = -ENOENT;

	pthread_mutex_lock(&p->lock);
	HASH_FIND(hh, p->listings, &dir, sizeof(dir), l);
	if (l && time(NULL) - l->at <= PREFETCH_LISTING_S) {
		/* ls -l looks names up in listing order: search from the last one. */
		for (size_t k = 0; k < l->n && !found; k++) {
			pos = (l->cursor + k) % l->n;
			found = !strcmp(l->keys[pos], key);
		}
	}
	if (found) {
		/* Before waiting: the next names go out while this one comes. */
		l->cursor = pos;
		if (l->ahead <= pos || l->ahead > pos + PREFETCH_AHEAD + 1)
			l->ahead = pos + 1; /* a jump: the window starts over here */
		queue_ahead_locked(p, l, pos);
	}
	for (;;) {
		HASH_FIND_STR(p->attrs, key, a);
		if (!a || !a->pending)
			break;
		pthread_cond_wait(&p->done, &p->lock);
	}
	if (a) {
		/* Used once; an error is the lookup's own HEAD to find again. */
		if (!a->rc && ms_since(&a->at) < PREFETCH_FRESH_MS) {
			*out = a->obj;
			rc = 0;
		}
		attr_free(p, a);
	}
	pthread_mutex_unlock(&p->lock);
	return rc;
}

void prefetch_drop(struct prefetch *p, const char *key)
{
	struct attr *a;

	pthread_mutex_lock(&p->lock);
	HASH_FIND_STR(p->attrs, key, a);
	if (a && a->pending) {
		/* Its worker has it: out of the table now, freed when done. */
		HASH_DEL(p->attrs, a);
		p->n_attrs--;
		a->dropped = true;
	} else if (a) {
		attr_free(p, a);
	}
	pthread_mutex_unlock(&p->lock);
}
