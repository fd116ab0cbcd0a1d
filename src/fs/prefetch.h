/*
 * Attribute prefetch driven by listings, so that `ls -l` does not cost one
 * serial HEAD per file. opendir hands over the keys it listed; a lookup of
 * one of them keeps the names that follow it in the listing HEADed in
 * parallel, and later lookups take those results. A result is used once
 * and only while fresh (no older than the kernel's own attribute cache
 * would be), so it is never staler than a lookup's own HEAD could be.
 */
#ifndef BUCKETFS_FS_PREFETCH_H
#define BUCKETFS_FS_PREFETCH_H

#include <fuse_lowlevel.h>
#include <stddef.h>

#include "cache.h"

struct prefetch;

struct prefetch *prefetch_create(struct cache *cache);
void prefetch_destroy(struct prefetch *p);

/* dir's listing, in order: object keys of its files. Takes ownership of
 * keys (an array of n malloc'd strings). */
void prefetch_listing(struct prefetch *p, fuse_ino_t dir, char **keys, size_t n);

/* The attributes of key, an entry of dir: 0 with *out from a fresh
 * prefetched HEAD (running a batch of HEADs if key is in dir's listing),
 * -ENOENT when there is nothing to use (then HEAD as usual). */
int prefetch_take(struct prefetch *p, fuse_ino_t dir, const char *key, struct store_obj *out);

/* Forget what is known of key: it was changed through this mount. */
void prefetch_drop(struct prefetch *p, const char *key);

#endif
