/*
 * Listing-driven attribute prefetch (see prefetch.h). One lock guards both
 * tables; HEADs run outside it, on a few short-lived threads per batch.
 */
#include "prefetch.h"

#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <uthash.h>

#define PREFETCH_BATCH	   64	/* names HEADed per batch */
#define PREFETCH_THREADS   16	/* HEADs in flight per batch */
#define PREFETCH_FRESH_MS  1000 /* as long as the kernel caches attributes */
#define PREFETCH_LISTING_S 60	/* how long a listing guides prefetches */
#define PREFETCH_MAX_ATTRS 4096 /* results kept, all directories together */

struct attr {
	UT_hash_handle hh;
	char *key;
	struct store_obj obj;
	struct timespec at;
};

struct listing {
	UT_hash_handle hh;
	fuse_ino_t dir;
	char **keys;
	size_t n;
	size_t cursor; /* where the last lookup was found */
	time_t at;
};

struct prefetch {
	struct cache *cache;
	pthread_mutex_t lock;
	struct attr *attrs;
	unsigned int n_attrs;
	struct listing *listings;
};

struct batch {
	struct prefetch *p;
	char **keys;
	struct store_obj *objs;
	int *rcs;
	size_t n;
	pthread_mutex_t lock;
	size_t next; /* protected by lock */
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
	return p;
}

void prefetch_destroy(struct prefetch *p)
{
	struct attr *a, *atmp;
	struct listing *l, *ltmp;

	if (!p)
		return;
	HASH_ITER(hh, p->attrs, a, atmp)
	{
		attr_free(p, a);
	}
	HASH_ITER(hh, p->listings, l, ltmp)
	{
		listing_free(p, l);
	}
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

static void *head_worker(void *arg)
{
	struct batch *b = arg;

	for (;;) {
		size_t i;

		pthread_mutex_lock(&b->lock);
		i = b->next++;
		pthread_mutex_unlock(&b->lock);
		if (i >= b->n)
			return NULL;
		b->rcs[i] = cache_head(b->p->cache, b->keys[i], &b->objs[i]);
	}
}

/* HEAD keys[0..n) in parallel and keep the results. Called unlocked. */
static void run_batch(struct prefetch *p, char **keys, size_t n)
{
	struct batch b = {.p = p, .keys = keys, .n = n};
	pthread_t threads[PREFETCH_THREADS];
	size_t started = 0;
	struct timespec at;

	b.objs = calloc(n, sizeof(*b.objs));
	b.rcs = calloc(n, sizeof(*b.rcs));
	if (!b.objs || !b.rcs)
		goto out;
	pthread_mutex_init(&b.lock, NULL);
	while (started < PREFETCH_THREADS && started < n &&
	       !pthread_create(&threads[started], NULL, head_worker, &b))
		started++;
	if (!started)
		head_worker(&b);
	for (size_t i = 0; i < started; i++)
		pthread_join(threads[i], NULL);
	pthread_mutex_destroy(&b.lock);

	clock_gettime(CLOCK_MONOTONIC, &at);
	pthread_mutex_lock(&p->lock);
	for (size_t i = 0; i < n; i++) {
		struct attr *a;

		if (b.rcs[i] || p->n_attrs >= PREFETCH_MAX_ATTRS)
			continue;
		HASH_FIND_STR(p->attrs, keys[i], a);
		if (a)
			attr_free(p, a);
		a = calloc(1, sizeof(*a));
		if (!a)
			break;
		a->key = keys[i];
		keys[i] = NULL;
		a->obj = b.objs[i];
		a->at = at;
		HASH_ADD_KEYPTR(hh, p->attrs, a->key, strlen(a->key), a);
		p->n_attrs++;
	}
	pthread_mutex_unlock(&p->lock);
out:
	free(b.objs);
	free(b.rcs);
}

/* Take a fresh result for key. Called with the lock held. */
static bool take_locked(struct prefetch *p, const char *key, struct store_obj *out)
{
	struct attr *a;
	bool fresh;

	HASH_FIND_STR(p->attrs, key, a);
	if (!a)
		return false;
	fresh = ms_since(&a->at) < PREFETCH_FRESH_MS;
	if (fresh)
		*out = a->obj;
	attr_free(p, a);
	return fresh;
}

int prefetch_take(struct prefetch *p, fuse_ino_t dir, const char *key, struct store_obj *out)
{
	struct attr *a, *atmp;
	struct listing *l;
	char **batch = NULL;
	size_t pos, n = 0;
	bool found = false;

	pthread_mutex_lock(&p->lock);
	if (take_locked(p, key, out)) {
		pthread_mutex_unlock(&p->lock);
		return 0;
	}
	HASH_FIND(hh, p->listings, &dir, sizeof(dir), l);
	if (!l || time(NULL) - l->at > PREFETCH_LISTING_S || !l->n)
		goto out_unlock;
	/* ls -l looks names up in listing order: search from the last one. */
	for (size_t k = 0; k < l->n && !found; k++) {
		pos = (l->cursor + k) % l->n;
		found = !strcmp(l->keys[pos], key);
	}
	if (!found)
		goto out_unlock;
	l->cursor = pos;
	/* Drop stale results before adding a batch. */
	HASH_ITER(hh, p->attrs, a, atmp)
	{
		if (ms_since(&a->at) >= PREFETCH_FRESH_MS)
			attr_free(p, a);
	}
	batch = calloc(PREFETCH_BATCH, sizeof(*batch));
	for (size_t k = pos; batch && k < l->n && n < PREFETCH_BATCH; k++) {
		HASH_FIND_STR(p->attrs, l->keys[k], a);
		if (!a && (batch[n] = strdup(l->keys[k])))
			n++;
	}
	pthread_mutex_unlock(&p->lock);

	if (n > 1)
		run_batch(p, batch, n);
	for (size_t k = 0; k < n; k++)
		free(batch[k]);
	free(batch);
	if (n <= 1)
		return -ENOENT; /* a lone name: the caller's own HEAD is as good */

	pthread_mutex_lock(&p->lock);
	found = take_locked(p, key, out);
	pthread_mutex_unlock(&p->lock);
	return found ? 0 : -ENOENT;

out_unlock:
	pthread_mutex_unlock(&p->lock);
	return -ENOENT;
}

void prefetch_drop(struct prefetch *p, const char *key)
{
	struct attr *a;

	pthread_mutex_lock(&p->lock);
	HASH_FIND_STR(p->attrs, key, a);
	if (a)
		attr_free(p, a);
	pthread_mutex_unlock(&p->lock);
}
