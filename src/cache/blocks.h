/*
 * The block cache: fixed-size blocks of remote objects, in memory, with LRU
 * eviction under a hard cap. A block is named by object key, ETag and
 * index, so a changed object (new ETag) never gets an old block. Reads of
 * missing blocks are ranged GETs; prefetch requests fill blocks ahead of a
 * sequential reader on a pool of fetch threads, several GETs in flight.
 * Optionally, blocks evicted from memory go to a bounded disk tier (see
 * disktier.h), which a memory miss asks before the store.
 */
#ifndef BUCKETFS_CACHE_BLOCKS_H
#define BUCKETFS_CACHE_BLOCKS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cache.h"
#include "store.h"

struct blocks_conf {
	uint64_t mem_size; /* hard cap on cached block bytes */
	size_t block_size;
	unsigned int fetch_threads; /* parallel prefetch GETs and disk writes */
	const char *disk_dir;	    /* the disk tier's directory; NULL or "": none */
	uint64_t disk_size;	    /* hard cap on the bytes of its block files */
};

struct blocks_stats {
	uint64_t hits, misses; /* blocks */
	uint64_t fetched_bytes;
	uint64_t prefetched_blocks;
	uint64_t evicted_blocks; /* from memory */
	uint64_t mem_used;
	uint64_t disk_hits; /* blocks read from the disk tier instead of the store */
	uint64_t disk_used;
	uint64_t disk_evicted_blocks;
};

struct blocks;

/* -errno if the disk tier cannot be used (disk_dir cannot be created or
 * written; -EBUSY: another process uses it): the caller says so. */
int blocks_create(struct store *store, const struct blocks_conf *conf, struct blocks **out);
void blocks_destroy(struct blocks *b);

/*
 * Copy [off, off + len) of object (key, etag) of the given size into dst,
 * from cached blocks or by fetching the missing ones (one GET for a run of
 * them). Then queue prefetches of up to `ahead` bytes after the range.
 * A random reader (random) whose blocks are missing and were not read
 * before gets just the bytes asked for, uncached: small random reads do
 * not pull whole blocks. *got is short only at the end of the object.
 * Any thread may call this.
 */
int blocks_read(struct blocks *b, const char *key, const char *etag, uint64_t size, void *dst,
		size_t len, uint64_t off, uint64_t ahead, bool random, size_t *got);

/* As blocks_read, but the bytes are left where they lie, in a view (see
 * cache.h) to hand to blocks_view_done. A read that bypasses the cache
 * fills a buffer of the view's own. After an error the view holds
 * nothing. */
int blocks_view(struct blocks *b, const char *key, const char *etag, uint64_t size, size_t len,
		uint64_t off, uint64_t ahead, bool random, struct cache_view *v);
void blocks_view_done(struct blocks *b, struct cache_view *v);

/* Offer the first len bytes of object (key, etag) of the given size, read
 * anyway (with its attributes): kept as block 0 if they are all of it (or
 * all of block 0) and memory allows. */
void blocks_offer(struct blocks *b, const char *key, const char *etag, uint64_t size,
		  const void *data, size_t len);

/* Drop every cached block of key (all versions), in memory and on disk:
 * it was overwritten, renamed or deleted through us. */
void blocks_forget(struct blocks *b, const char *key);

void blocks_get_stats(struct blocks *b, struct blocks_stats *out);
size_t blocks_block_size(const struct blocks *b);

#endif
