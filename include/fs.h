/*
 * The filesystem layer: the only code that speaks FUSE. It keeps the inode
 * table (what the kernel has looked up), turns POSIX operations into cache
 * calls and maps nothing itself: errors arrive as -errno and leave as the
 * FUSE reply.
 */
#ifndef BUCKETFS_FS_H
#define BUCKETFS_FS_H

#include <fuse_lowlevel.h>
#include <stdbool.h>
#include <sys/types.h>

#include "cache.h"

struct fs_conf {
	const char *prefix; /* key prefix of the mount root: "" or "a/b/" */
	uid_t uid; /* owner shown for objects without metadata, or for all when force_owner */
	gid_t gid;
	bool force_uid, force_gid;
	mode_t file_mode; /* permission bits for objects without metadata */
	mode_t dir_mode;
	bool read_only;
	unsigned int stat_ttl;	     /* seconds attributes are trusted (kernel and ours) */
	unsigned int list_ttl;	     /* seconds a listing answers lookups; 0: off */
	bool list_attrs;	     /* file attributes from listings, no HEADs */
	bool async_close;	     /* close() returns before the upload */
	unsigned int upload_threads; /* async_close: files sent at once */
	unsigned int url_expires;    /* seconds the user.bucketfs.url URL lives */
};

struct fs;

struct fs *fs_create(struct cache *cache, const struct fs_conf *conf);
/* Upload whatever is still dirty; returns the number of files that could
 * not be uploaded (their data stays in the staging dir). */
int fs_flush_all(struct fs *fs);
/* Files the destroy op (unmount) could not upload; their data is kept. */
int fs_failed_at_exit(const struct fs *fs);
void fs_destroy(struct fs *fs);
extern const struct fuse_lowlevel_ops fs_ops;

#endif
