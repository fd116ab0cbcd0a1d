/*
 * Directory listings with a time to live (see dircache.h). One lock; every
 * call is short and does no I/O.
 */
#include "dircache.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <uthash.h>

struct dc_name {
	UT_hash_handle hh;
	struct dircache_entry e;
	char name[];
};

struct dc_dir {
	UT_hash_handle hh;
	char *dkey;
	time_t fetched;
	struct dc_name *names;
	size_t n_names;
	struct dc_dir *prev, *next; /* LRU, most recent first */
};

struct dircache {
	pthread_mutex_t lock;
	unsigned int ttl;
	size_t max_names;
	size_t n_names;	  /* in all listings */
	uint64_t changes; /* bumped by every add/remove: voids fills in flight */
	struct dc_dir *dirs;
	struct dc_dir lru; /* sentinel */
};

struct dircache_fill {
	char *dkey;
	time_t started;
	uint64_t changes;
	struct dc_name *names;
	size_t n_names;
};

struct dircache *dircache_create(unsigned int ttl, size_t max_names)
{
	struct dircache *dc = calloc(1, sizeof(*dc));

	if (!dc)
		return NULL;
	pthread_mutex_init(&dc->lock, NULL);
	dc->ttl = ttl;
	dc->max_names = max_names;
	dc->lru.prev = dc->lru.next = &dc->lru;
	return dc;
}

static void names_free(struct dc_name **names)
{
	struct dc_name *n, *tmp;

	HASH_ITER(hh, *names, n, tmp)
	{
		HASH_DEL(*names, n);
		free(n);
	}
}

/* Called with the lock held. */
static void dir_free(struct dircache *dc, struct dc_dir *d)
{
	HASH_DEL(dc->dirs, d);
	d->prev->next = d->next;
	d->next->prev = d->prev;
	dc->n_names -= d->n_names;
	names_free(&d->names);
	free(d->dkey);
	free(d);
}

void dircache_destroy(struct dircache *dc)
{
	if (!dc)
		return;
	while (dc->lru.next != &dc->lru)
		dir_free(dc, dc->lru.next);
	pthread_mutex_destroy(&dc->lock);
	free(dc);
}

static struct dc_name *name_new(const char *name, size_t len, const struct dircache_entry *e)
{
	struct dc_name *n = malloc(sizeof(*n) + len + 1);

	if (!n)
		return NULL;
	memset(n, 0, sizeof(*n));
	n->e = *e;
	memcpy(n->name, name, len);
	n->name[len] = '\0';
	return n;
}

/* The fresh listing of dkey, made most recent. An expired one is dropped
 * by a lookup, which learns its size in *expired; other callers leave it
 * for that lookup to find (a file uploaded in between must not hide it).
 * Called with the lock held. */
static struct dc_dir *dir_fresh_or_expired(struct dircache *dc, const char *dkey, ssize_t *expired)
{
	struct dc_dir *d;

	HASH_FIND_STR(dc->dirs, dkey, d);
	if (!d)
		return NULL;
	if (time(NULL) - d->fetched >= (time_t)dc->ttl) {
		if (expired) {
			*expired = (ssize_t)d->n_names;
			dir_free(dc, d);
		}
		return NULL;
	}
	d->prev->next = d->next;
	d->next->prev = d->prev;
	d->next = dc->lru.next;
	d->prev = &dc->lru;
	dc->lru.next->prev = d;
	dc->lru.next = d;
	return d;
}

static struct dc_dir *dir_fresh(struct dircache *dc, const char *dkey)
{
	return dir_fresh_or_expired(dc, dkey, NULL);
}

/* Install a listing of dkey holding names, replacing any older one. Takes
 * names in all cases. Called with the lock held. */
static void dir_install(struct dircache *dc, const char *dkey, time_t fetched,
			struct dc_name *names, size_t n_names)
{
	struct dc_dir *d, *old;

	HASH_FIND_STR(dc->dirs, dkey, old);
	if (old)
		dir_free(dc, old);
	d = calloc(1, sizeof(*d));
	if (!d || !(d->dkey = strdup(dkey))) {
		free(d);
		names_free(&names);
		return;
	}
	d->fetched = fetched;
	d->names = names;
	d->n_names = n_names;
	HASH_ADD_KEYPTR(hh, dc->dirs, d->dkey, strlen(d->dkey), d);
	d->next = dc->lru.next;
	d->prev = &dc->lru;
	dc->lru.next->prev = d;
	dc->lru.next = d;
	dc->n_names += n_names;
	/* Over the bound: the least recently used listings go, this one last. */
	while (dc->n_names > dc->max_names && dc->lru.prev != d)
		dir_free(dc, dc->lru.prev);
	if (dc->n_names > dc->max_names)
		dir_free(dc, d);
}

struct dircache_fill *dircache_begin(struct dircache *dc, const char *dkey)
{
	struct dircache_fill *fill;

	if (!dc->ttl)
		return NULL;
	fill = calloc(1, sizeof(*fill));
	if (!fill || !(fill->dkey = strdup(dkey))) {
		free(fill);
		return NULL;
	}
	fill->started = time(NULL);
	pthread_mutex_lock(&dc->lock);
	fill->changes = dc->changes;
	pthread_mutex_unlock(&dc->lock);
	return fill;
}

int dircache_fill_add(struct dircache_fill *fill, const char *name, size_t len,
		      const struct dircache_entry *e)
{
	struct dc_name *n;

	if (!fill)
		return 0;
	HASH_FIND(hh, fill->names, name, len, n);
	if (n)
		return 0; /* a file and a prefix of one name: the first (the file) wins */
	n = name_new(name, len, e);
	if (!n)
		return -ENOMEM;
	HASH_ADD(hh, fill->names, name[0], len, n);
	fill->n_names++;
	return 0;
}

void dircache_abort(struct dircache_fill *fill)
{
	if (!fill)
		return;
	names_free(&fill->names);
	free(fill->dkey);
	free(fill);
}

void dircache_commit(struct dircache *dc, struct dircache_fill *fill)
{
	if (!fill)
		return;
	pthread_mutex_lock(&dc->lock);
	if (fill->changes == dc->changes) {
		dir_install(dc, fill->dkey, fill->started, fill->names, fill->n_names);
		fill->names = NULL;
	}
	pthread_mutex_unlock(&dc->lock);
	dircache_abort(fill);
}

void dircache_set_empty(struct dircache *dc, const char *dkey)
{
	if (!dc->ttl)
		return;
	pthread_mutex_lock(&dc->lock);
	dc->changes++;
	dir_install(dc, dkey, time(NULL), NULL, 0);
	pthread_mutex_unlock(&dc->lock);
}

int dircache_lookup(struct dircache *dc, const char *dkey, const char *name,
		    struct dircache_entry *out)
{
	struct dc_name *n = NULL;
	struct dc_dir *d;
	ssize_t expired = -1;
	int rc = -1;

	pthread_mutex_lock(&dc->lock);
	d = dir_fresh_or_expired(dc, dkey, &expired);
	if (d) {
		HASH_FIND_STR(d->names, name, n);
		if (n && out)
			*out = n->e;
		rc = n ? 1 : 0;
	} else if (expired >= 0 && (size_t)expired <= DIRCACHE_REFRESH_NAMES) {
		rc = -2;
	}
	pthread_mutex_unlock(&dc->lock);
	return rc;
}

int dircache_each(struct dircache *dc, const char *dkey,
		  int (*fn)(void *ctx, const char *name, const struct dircache_entry *e), void *ctx)
{
	struct dc_name *n, *tmp;
	struct dc_dir *d;
	int rc = -ENOENT;

	pthread_mutex_lock(&dc->lock);
	d = dir_fresh(dc, dkey);
	if (d) {
		rc = 0;
		HASH_ITER(hh, d->names, n, tmp)
		{
			rc = fn(ctx, n->name, &n->e);
			if (rc)
				break;
		}
	}
	pthread_mutex_unlock(&dc->lock);
	return rc;
}

void dircache_add_name(struct dircache *dc, const char *dkey, const char *name, mode_t type)
{
	struct dircache_entry e = {.type = type, .mtime = time(NULL)};
	struct dc_name *n;
	struct dc_dir *d;

	pthread_mutex_lock(&dc->lock);
	dc->changes++;
	d = dir_fresh(dc, dkey);
	if (d) {
		HASH_FIND_STR(d->names, name, n);
		if (n) {
			n->e = e;
		} else if ((n = name_new(name, strlen(name), &e))) {
			HASH_ADD(hh, d->names, name[0], strlen(n->name), n);
			d->n_names++;
			dc->n_names++;
		} else {
			dir_free(dc, d); /* out of memory: forget rather than lie */
		}
	}
	pthread_mutex_unlock(&dc->lock);
}

void dircache_remove_name(struct dircache *dc, const char *dkey, const char *name)
{
	struct dc_name *n;
	struct dc_dir *d;

	pthread_mutex_lock(&dc->lock);
	dc->changes++;
	d = dir_fresh(dc, dkey);
	if (d) {
		HASH_FIND_STR(d->names, name, n);
		if (n) {
			HASH_DEL(d->names, n);
			free(n);
			d->n_names--;
			dc->n_names--;
		}
	}
	pthread_mutex_unlock(&dc->lock);
}

void dircache_forget_tree(struct dircache *dc, const char *dkey)
{
	size_t len = strlen(dkey);
	struct dc_dir *d, *tmp;

	pthread_mutex_lock(&dc->lock);
	dc->changes++;
	HASH_ITER(hh, dc->dirs, d, tmp)
	{
		if (!strncmp(d->dkey, dkey, len))
			dir_free(dc, d);
	}
	pthread_mutex_unlock(&dc->lock);
}
