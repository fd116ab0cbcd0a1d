/*
 * FUSE low-level operations over the cache layer: the only code that
 * speaks FUSE. This file holds the context, init and destroy, statfs and
 * the operations table; the operations are in lookup.c, file.c,
 * setattr.c, names.c, rename.c, readdir.c and xattr.c, and attrs.c turns
 * what the store says into inode attributes.
 *
 * Directories are what users of S3 consoles expect: a "dir/" marker
 * object, a "dir/.empty" marker (hidden), or just a common prefix of other
 * keys. mkdir writes a "dir/" marker. POSIX attributes live in object
 * metadata under s3fs's names so that both tools read each other's files.
 *
 * Locking: fs->lock protects the inode table and every inode field. It is
 * never held across a store call: operations copy the keys they need,
 * drop the lock, talk to the store, and retake it to record the result.
 */
#include "fs_priv.h"

#include <stdlib.h>
#include <string.h>
#include <sys/statvfs.h>
#include <unistd.h>
#include <utlist.h>

#include "closer.h"
#include "prefetch.h"
#include "log.h"

#define FS_DIRCACHE_NAMES 100000 /* names in all cached listings */
#define FS_CLOSER_PENDING 64	 /* async_close: closed files waiting to be sent */

/* async_close: send a closed file, as its close() would have. A failure
 * (logged with where the data is kept) leaves it in the mount for the
 * next fsync or the unmount. */
static int fs_send_closed(void *ctx, uint64_t ino)
{
	return fs_flush_inode(ctx, (fuse_ino_t)ino);
}

struct fs *fs_create(struct cache *cache, const struct fs_conf *conf)
{
	struct fs *fs = calloc(1, sizeof(*fs));

	if (!fs)
		return NULL;
	fs->cache = cache;
	fs->conf = *conf;
	fs->prefix = strdup(conf->prefix ? conf->prefix : "");
	fs->prefetch = prefetch_create(cache);
	fs->dircache = dircache_create(conf->list_ttl, FS_DIRCACHE_NAMES);
	if (conf->async_close)
		fs->closer =
			closer_create(conf->upload_threads, FS_CLOSER_PENDING, fs_send_closed, fs);
	if (!fs->prefix || !fs->prefetch || !fs->dircache || (conf->async_close && !fs->closer) ||
	    inode_table_init(&fs->table)) {
		closer_destroy(fs->closer);
		dircache_destroy(fs->dircache);
		prefetch_destroy(fs->prefetch);
		free(fs->prefix);
		free(fs);
		return NULL;
	}
	fs->conf.prefix = fs->prefix;
	fs->mount_time = time(NULL);
	fs->table.root->mode = S_IFDIR | conf->dir_mode;
	fs->table.root->mtime.tv_sec = fs->mount_time;
	fs->table.root->ctime.tv_sec = fs->mount_time;
	pthread_mutex_init(&fs->lock, NULL);
	return fs;
}

void fs_destroy(struct fs *fs)
{
	struct inode *i, *tmp;

	if (!fs)
		return;
	closer_destroy(fs->closer);
	/* Files still open at exit (SIGTERM, lazy unmount) were flushed by the
	 * destroy op; closing them keeps the data of any that failed. */
	HASH_ITER(hh, fs->table.by_ino, i, tmp)
	{
		struct buf key;

		if (!i->file)
			continue;
		buf_init(&key, 8192);
		inode_key(i, fs->prefix, &key);
		if (i->unlinked)
			cache_file_discard(i->file);
		cache_file_close(i->file, key.data ? key.data : "");
		i->file = NULL;
		buf_free(&key);
	}
	inode_table_free(&fs->table);
	while (fs->dirs_open) {
		struct fs_dir *d = fs->dirs_open;

		DL_DELETE(fs->dirs_open, d);
		fs_dir_free(d);
	}
	prefetch_destroy(fs->prefetch);
	dircache_destroy(fs->dircache);
	pthread_mutex_destroy(&fs->lock);
	free(fs->prefix);
	free(fs);
}

static void fs_statfs(fuse_req_t req, fuse_ino_t ino)
{
	struct statvfs st;

	(void)ino;
	/* A bucket has no fixed size: report plenty, as s3fs does, so that
	 * tools checking free space go ahead. */
	memset(&st, 0, sizeof(st));
	st.f_bsize = 4096;
	st.f_frsize = 4096;
	st.f_blocks = (fsblkcnt_t)1 << 40;
	st.f_bfree = st.f_blocks;
	st.f_bavail = st.f_blocks;
	st.f_files = (fsfilcnt_t)1 << 32;
	st.f_ffree = st.f_files;
	st.f_favail = st.f_files;
	st.f_namemax = FS_NAME_MAX;
	fuse_reply_statfs(req, &st);
}

static void fs_init(void *userdata, struct fuse_conn_info *conn)
{
	(void)userdata;
	/* Writes go straight to us: a close() that returns has our answer. */
	conn->want &= ~FUSE_CAP_WRITEBACK_CACHE;
	if (conn->capable & FUSE_CAP_ASYNC_READ)
		conn->want |= FUSE_CAP_ASYNC_READ;
	/* Attributes with the names, where listings have them. */
	if (conn->capable & FUSE_CAP_READDIRPLUS)
		conn->want |= FUSE_CAP_READDIRPLUS;
	conn->want &= ~FUSE_CAP_READDIRPLUS_AUTO;
}

static void fs_destroy_op(void *userdata)
{
	struct fs *fs = userdata;
	int failed;

	/* Uploads of closed files first; what failed there is sent again. */
	if (fs->closer)
		closer_drain(fs->closer);
	failed = fs_flush_all(fs);

	fs->failed_at_exit = failed;
	if (failed)
		log_err("%d file(s) could not be uploaded at unmount; their data is kept in the "
			"staging directory",
			failed);
}

const struct fuse_lowlevel_ops fs_ops = {
	.init = fs_init,
	.destroy = fs_destroy_op,
	.getxattr = fs_getxattr,
	.listxattr = fs_listxattr,
	.lookup = fs_lookup,
	.forget = fs_forget,
	.forget_multi = fs_forget_multi,
	.getattr = fs_getattr,
	.setattr = fs_setattr,
	.readlink = fs_readlink,
	.mkdir = fs_mkdir,
	.unlink = fs_unlink,
	.rmdir = fs_rmdir,
	.symlink = fs_symlink,
	.rename = fs_rename,
	.link = fs_link,
	.open = fs_open,
	.read = fs_read,
	.write = fs_write,
	.flush = fs_flush,
	.release = fs_release,
	.fsync = fs_fsync,
	.opendir = fs_opendir,
	.readdir = fs_readdir,
	.readdirplus = fs_readdirplus,
	.releasedir = fs_releasedir,
	.statfs = fs_statfs,
	.create = fs_create_file,
};
