/*
 * Private to src/fs: the fs context, the types the operations share,
 * and the functions one file of the FUSE layer calls in another.
 */
#ifndef BUCKETFS_FS_PRIV_H
#define BUCKETFS_FS_PRIV_H

#include <fuse_lowlevel.h>
#include <pthread.h>
#include <stdbool.h>
#include <sys/stat.h>

#include "buf.h"
#include "cache.h"
#include "dircache.h"
#include "fs.h"
#include "inode.h"
#include "store.h"

#define FS_NAME_MAX	255
#define FS_EMPTY_MARKER ".empty"

struct fs {
	struct cache *cache;
	struct prefetch *prefetch; /* attributes HEADed ahead of ls -l */
	struct dircache *dircache; /* listings: negative lookups, readdir */
	struct closer *closer;	   /* async_close: uploads after close(); else NULL */
	int failed_at_exit;	   /* files not uploaded by the destroy op */
	struct fs_conf conf;
	char *prefix;
	time_t mount_time;
	pthread_mutex_t lock;
	struct inode_table table; /* protected by lock */
	struct fs_dir *dirs_open; /* protected by lock; freed at exit if never released */
};

/* An open directory: the listing taken at opendir. */
struct fs_dirent {
	char *name;
	mode_t type;
};

struct fs_dir {
	struct fs_dirent *ents;
	size_t n, cap;
	char *dkey;		    /* the directory's key, for attributes from its listing */
	struct fs_dir *prev, *next; /* in fs->dirs_open */
};

/* What the store says a key is. */
struct fs_remote {
	mode_t mode;
	bool has_owner;
	uid_t uid;
	gid_t gid;
	uint64_t size;
	struct timespec mtime;
	char etag[80];
};

static inline struct fs *fs_of(fuse_req_t req)
{
	return fuse_req_userdata(req);
}

/* attrs.c */
struct timespec fs_now(void);
void fs_stat_of(struct fs *fs, const struct inode *i, struct stat *st);
void fs_entry_of(struct fs *fs, const struct inode *i, struct fuse_entry_param *e);
void fs_meta_of(const struct inode *i, struct store_meta *m);
void fs_dir_changed(struct inode *d);
void fs_apply_remote(struct inode *i, const struct fs_remote *r);
void fs_remote_from_head(struct fs *fs, const struct store_obj *obj, struct fs_remote *r);
int fs_split_key(const char *key, struct buf *dkey, struct buf *name);
void fs_listing_change(struct fs *fs, const char *key, mode_t type, bool added);
int fs_dir_object(struct fs *fs, const char *dkey, struct buf *out);
void fs_remote_from_listing(struct fs *fs, const struct dircache_entry *e, struct fs_remote *r);
int fs_stat_key(struct fs *fs, const char *key, bool lookup, struct fs_remote *r);
bool fs_name_ok(const char *name, int *err);
int fs_child_key(struct fs *fs, struct inode *parent, const char *name, struct buf *out);
bool fs_ours_newer(const struct inode *i);

/* lookup.c */
void fs_lookup(fuse_req_t req, fuse_ino_t parent, const char *name);
void fs_forget(fuse_req_t req, fuse_ino_t ino, uint64_t nlookup);
void fs_forget_multi(fuse_req_t req, size_t count, struct fuse_forget_data *forgets);
void fs_getattr(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi);

/* file.c */
int fs_flush_inode(struct fs *fs, fuse_ino_t ino);
void fs_open(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi);
void fs_create_file(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode,
		    struct fuse_file_info *fi);
void fs_read(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off, struct fuse_file_info *fi);
void fs_write(fuse_req_t req, fuse_ino_t ino, const char *data, size_t size, off_t off,
	      struct fuse_file_info *fi);
void fs_flush(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi);
void fs_fsync(fuse_req_t req, fuse_ino_t ino, int datasync, struct fuse_file_info *fi);
void fs_release(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi);
int fs_flush_under(struct fs *fs, struct inode *d);

/* setattr.c */
void fs_setattr(fuse_req_t req, fuse_ino_t ino, struct stat *attr, int to_set,
		struct fuse_file_info *fi);

/* names.c */
void fs_mkdir(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode);
void fs_symlink(fuse_req_t req, const char *link, fuse_ino_t parent, const char *name);
void fs_readlink(fuse_req_t req, fuse_ino_t ino);
int fs_dir_empty(struct fs *fs, struct inode *d, const char *dkey);
int fs_folder_object(struct fs *fs, const char *dkey, struct buf *out);
int fs_dir_remove_markers(struct fs *fs, const char *dkey);
void fs_gone(struct fs *fs, struct inode *i);
void fs_unlink(fuse_req_t req, fuse_ino_t parent, const char *name);
void fs_rmdir(fuse_req_t req, fuse_ino_t parent, const char *name);
void fs_link(fuse_req_t req, fuse_ino_t ino, fuse_ino_t newparent, const char *newname);

/* rename.c */
void fs_rename(fuse_req_t req, fuse_ino_t parent, const char *name, fuse_ino_t newparent,
	       const char *newname, unsigned int flags);

/* readdir.c */
void fs_dir_free(struct fs_dir *d);
void fs_listing_refresh(struct fs *fs, fuse_ino_t parent, const char *dkey);
void fs_opendir(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi);
void fs_readdir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off, struct fuse_file_info *fi);
void fs_readdirplus(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
		    struct fuse_file_info *fi);
void fs_releasedir(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi);

/* xattr.c */
void fs_getxattr(fuse_req_t req, fuse_ino_t ino, const char *name, size_t size);
void fs_listxattr(fuse_req_t req, fuse_ino_t ino, size_t size);

#endif
