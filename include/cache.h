/*
 * The cache layer: everything the fs layer asks of the store goes through
 * here. It forwards metadata calls and stages written files: a file that
 * is written is staged whole in a local file (under staging_dir) and
 * uploaded by one PUT at flush or, past multipart_threshold, by a parallel
 * multipart upload whose parts leave while the file is being written. Reads
 * of unstaged files go through the block cache (blocks.h): shared blocks,
 * a read-ahead window that grows while reads are sequential, several GETs
 * in flight.
 *
 * Keys are passed on every call, not kept: a rename while the file is open
 * changes the key the next flush uploads to.
 */
#ifndef BUCKETFS_CACHE_H
#define BUCKETFS_CACHE_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/uio.h>

#include "store.h"

struct cache_conf {
	const char *staging_dir;
	const char *store_id; /* names the store in staging journals: "s3 URL BUCKET" */
	uint64_t multipart_threshold;
	uint64_t part_size;
	unsigned int upload_threads;
	uint64_t cache_size;	    /* memory for cached blocks */
	uint64_t block_size;	    /* unit of caching and of ranged GETs */
	uint64_t readahead_max;	    /* largest read-ahead window */
	unsigned int fetch_threads; /* parallel read-ahead GETs */
	const char *cache_dir;	    /* disk tier of the block cache; NULL: none */
	uint64_t cache_disk_size;   /* its hard cap */
};

struct cache;
struct cache_file;

/* Returns 0 or -errno with a one-line *why (staging dir unusable, ...). */
int cache_create(struct store *store, const struct cache_conf *conf, struct cache **out,
		 char **why);
/* Upload, in the background, what a killed daemon left unsent in the
 * staging dir for this store (see journal.h). Call once threads may run
 * (after the daemon forks); cache_destroy waits for it. */
int cache_start_recovery(struct cache *c);
void cache_destroy(struct cache *c);
size_t cache_max_key_len(const struct cache *c);
/* Whether the store marks directories with hdi_isfolder objects (store.h). */
bool cache_folder_markers(const struct cache *c);

/* Metadata: as the store interface (see store.h). */
int cache_head(struct cache *c, const char *key, struct store_obj *out);
/* As cache_head, for a lookup: where the store can, the attributes come
 * with the first bytes of the object, and a small file's data is cached,
 * so that reading it next costs no round trip. */
int cache_lookup(struct cache *c, const char *key, struct store_obj *out);
int cache_list(struct cache *c, const char *prefix, const char *delim, const char *token,
	       unsigned int max_keys, struct store_list *out);
int cache_copy(struct cache *c, const char *src, const char *dst, const struct store_meta *meta);
int cache_remove(struct cache *c, const char *key);
/* The store's presigned URL for key (store_ops.presign); -ENOTSUP when the
 * store has none. */
int cache_presign(struct cache *c, const char *key, bool put, unsigned int expires_s, char **url,
		  char **why);
int cache_remove_many(struct cache *c, const char *const *keys, size_t n);
/* Store a small object from memory (markers, symlinks). */
int cache_put_buffer(struct cache *c, const char *key, const struct store_meta *meta,
		     const void *data, size_t len);
/* Read a small whole object into a malloc'd, NUL-terminated buffer. */
int cache_get_buffer(struct cache *c, const char *key, size_t max, char **out, size_t *len);

/*
 * File data. A cache_file is shared by every open of one inode; its own
 * lock serialises its calls, so any thread may call any of these.
 * size and etag are the object's when opened (etag "" if unknown): reads
 * never mix two versions. truncate starts it empty (and dirty, so that
 * even an empty file is uploaded on flush).
 */
int cache_file_open(struct cache *c, const char *key, uint64_t size, const char *etag,
		    bool truncate, struct cache_file **out);

/* Most cached blocks one read holds at once; a longer read bypasses them. */
#define CACHE_VIEW_MAX 64

/*
 * The bytes of one read, where they already lie: in cached blocks, held
 * (kept from eviction) until cache_view_done, or in a buffer of the view's
 * own. So a read is answered from the cache without a copy.
 */
struct cache_view {
	struct iovec iov[CACHE_VIEW_MAX]; /* in file order */
	int n_iov;
	size_t len;		    /* bytes in all: short only at the end of the file */
	void *held[CACHE_VIEW_MAX]; /* the blocks, private */
	size_t n_held;
	char *own;
};

/* An empty view: no bytes, nothing held. */
static inline void cache_view_clear(struct cache_view *v)
{
	v->n_iov = 0;
	v->len = 0;
	v->n_held = 0;
	v->own = NULL;
}

/* [off, off + len) of f, as a view; the caller hands it to cache_view_done
 * once done with the bytes, also after an error. */
int cache_file_view(struct cache_file *f, const char *key, size_t len, uint64_t off,
		    struct cache_view *v);
void cache_view_done(struct cache *c, struct cache_view *v);
/* meta is what the object gets if its upload begins during this write
 * (large files are uploaded while they are written). */
int cache_file_write(struct cache_file *f, const char *key, const struct store_meta *meta,
		     const void *src, size_t len, uint64_t off);
int cache_file_truncate(struct cache_file *f, const char *key, uint64_t size);
/* Load the whole object locally so it stays readable after the object is
 * deleted (unlink of an open file). */
int cache_file_pin(struct cache_file *f, const char *key);
/* Upload if dirty, with meta; on success the data is in the store.
 * meta_changed: the metadata was set explicitly (chmod, utimens) since the
 * file was opened, so it must be exactly meta even for an upload that
 * began while the file was being written. */
int cache_file_flush(struct cache_file *f, const char *key, const struct store_meta *meta,
		     bool meta_changed);
/* Forget local changes without uploading (the file was unlinked). */
void cache_file_discard(struct cache_file *f);
uint64_t cache_file_size(struct cache_file *f);
/* Whether it has changes not yet in the store; never waits for an upload. */
bool cache_file_dirty(struct cache_file *f);
/* Drop the file. Dirty data that could not be uploaded stays on disk in
 * the staging dir, and its path is logged. */
void cache_file_close(struct cache_file *f, const char *key);
/* One more reference to f (NULL passes through), dropped by one more
 * cache_file_close: the last one closes. For using a file outside the lock
 * that keeps its owner from closing it. */
struct cache_file *cache_file_hold(struct cache_file *f);

#endif
