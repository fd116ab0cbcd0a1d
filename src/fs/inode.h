/*
 * The inode table: one entry per inode the kernel holds (nlookup > 0), is
 * open, or is the parent of such an entry. Entries are found by number and
 * by (parent, name); an entry's key in the bucket is derived from its
 * parent chain, so renaming a directory is one re-link, not a walk.
 * Everything here is protected by the table lock that the fs layer holds
 * around every call.
 */
#ifndef BUCKETFS_INODE_H
#define BUCKETFS_INODE_H

#include <fuse_lowlevel.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/stat.h>
#include <uthash.h>

#include "buf.h"
#include "cache.h"

struct inode {
	fuse_ino_t ino;
	struct inode *parent;  /* NULL for the root */
	char *name;	       /* "" for the root */
	char *hkey;	       /* "<parent ino>/<name>": the by-name hash key */
	bool hashed;	       /* in the by-name table */
	uint64_t nlookup;      /* kernel references */
	unsigned int children; /* entries whose parent this is */

	/* Attributes (st_mode includes the type). */
	mode_t mode;
	uid_t uid;
	gid_t gid;
	bool has_owner; /* uid/gid came from metadata or a chown */
	uint64_t size;
	struct timespec mtime;
	struct timespec ctime;
	time_t attr_time;     /* when fetched from the store */
	char etag[80];	      /* of the object the attributes describe; "" if unknown */
	char kcache_etag[80]; /* version the kernel may have cached pages of */

	bool local;	 /* created here; the store has not got it yet */
	bool unlinked;	 /* removed from the namespace, may still be open */
	bool meta_dirty; /* mode/owner/times changed, not yet in the store */
	unsigned int open_count;
	/* While open_count > 0; and, closed, while changes whose upload
	 * failed wait in it for the next flush (a "kept" file). */
	struct cache_file *file;

	UT_hash_handle hh;	/* by ino */
	UT_hash_handle hh_name; /* by hkey */
};

struct inode_table {
	struct inode *by_ino;
	struct inode *by_name;
	fuse_ino_t next_ino;
	struct inode *root;
};

int inode_table_init(struct inode_table *t);
void inode_table_free(struct inode_table *t);

struct inode *inode_get(struct inode_table *t, fuse_ino_t ino);
struct inode *inode_find(struct inode_table *t, struct inode *parent, const char *name);
/* Find or create the entry (parent, name). NULL on ENOMEM. */
struct inode *inode_obtain(struct inode_table *t, struct inode *parent, const char *name);
/* Take the entry out of the by-name table (unlink, rename target). */
void inode_unhash(struct inode_table *t, struct inode *i);
/* Move the entry under a new parent and name. 0 or -ENOMEM. */
int inode_move(struct inode_table *t, struct inode *i, struct inode *parent, const char *name);
/* Free the entry and unreferenced ancestors when nothing holds them. */
void inode_maybe_free(struct inode_table *t, struct inode *i);

/* The object key: prefix + names joined by '/'; for a directory, dir_key
 * adds the trailing '/' (the root's dir key is the prefix itself). */
int inode_key(const struct inode *i, const char *prefix, struct buf *out);
int inode_dir_key(const struct inode *i, const char *prefix, struct buf *out);
/* True if anc is i or one of its ancestors. */
bool inode_is_under(const struct inode *i, const struct inode *anc);

#endif
