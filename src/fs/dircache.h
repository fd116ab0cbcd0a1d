/*
 * Directory listings kept for list_ttl seconds: the names in a directory,
 * with their type and listed attributes. While a directory's listing is
 * fresh, a name not in it does not exist (the negative cache: creating a
 * file costs no HEAD or LIST), and readdir needs no LIST. Changes made
 * through this mount are applied to the listings as they happen; changes
 * made by other clients show once a listing expires.
 *
 * Directories are named by their key prefix ("a/b/", "" for the bucket
 * root), not by inode, so a listing outlives the kernel's interest in the
 * inode. Total names held are bounded; the least recently used listings go
 * first.
 */
#ifndef BUCKETFS_FS_DIRCACHE_H
#define BUCKETFS_FS_DIRCACHE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <time.h>

#include "store.h"

struct dircache;
struct dircache_fill;

struct dircache_entry {
	mode_t type; /* S_IFREG or S_IFDIR (a common prefix) */
	bool listed; /* size, mtime and etag are the listing's (not a name
			added here, whose attributes are unknown) */
	uint64_t size;
	time_t mtime;
	char etag[80];
	bool has_meta; /* the listing carried the object's metadata too */
	struct store_meta meta;
};

/* ttl 0 disables the cache (every call finds nothing). */
struct dircache *dircache_create(unsigned int ttl, size_t max_names);
void dircache_destroy(struct dircache *dc);

/* Build a listing of dkey: begin before the first LIST request (the
 * listing is as fresh as that moment), add every name, then commit (which
 * replaces any older listing) or abort. A change made through
 * dircache_add_name/remove_name while a fill runs voids the fill. */
struct dircache_fill *dircache_begin(struct dircache *dc, const char *dkey);
int dircache_fill_add(struct dircache_fill *fill, const char *name, size_t len,
		      const struct dircache_entry *e);
void dircache_commit(struct dircache *dc, struct dircache_fill *fill);
void dircache_abort(struct dircache_fill *fill);

/* Record that dkey is an empty directory (just made here). */
void dircache_set_empty(struct dircache *dc, const char *dkey);

/* A listing this small is cheaper to fetch again (one LIST page) than to
 * look names up one by one (a HEAD and a LIST each) once it expires. */
#define DIRCACHE_REFRESH_NAMES 1000

/* 1 with *out (if not NULL) if name is in dkey's fresh listing, 0 if the
 * listing is fresh and name is not in it, -1 if there is no fresh listing,
 * -2 if the listing has just expired and had at most
 * DIRCACHE_REFRESH_NAMES names (worth listing again). */
int dircache_lookup(struct dircache *dc, const char *dkey, const char *name,
		    struct dircache_entry *out);

/* Call fn for each name of dkey's fresh listing (under the cache's lock:
 * fn must not call back into the cache); stops at fn's first non-zero
 * return and returns it. -ENOENT if there is no fresh listing. */
int dircache_each(struct dircache *dc, const char *dkey,
		  int (*fn)(void *ctx, const char *name, const struct dircache_entry *e),
		  void *ctx);

/* A name appeared in or left dkey through this mount. */
void dircache_add_name(struct dircache *dc, const char *dkey, const char *name, mode_t type);
void dircache_remove_name(struct dircache *dc, const char *dkey, const char *name);
/* Forget every listing at or under dkey (a directory was renamed). */
void dircache_forget_tree(struct dircache *dc, const char *dkey);

#endif
