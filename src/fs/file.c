/*
 * Open files: open, create, read, write, and the flush, fsync and release
 * that upload them. A successful close() or fsync() means the bytes are
 * in the bucket; a failed upload keeps the file's data in the mount.
 */
#include "fs_priv.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "closer.h"
#include "prefetch.h"
#include "log.h"
#include "store_meta.h"

/* Upload an inode's pending data or metadata. */
int fs_flush_inode(struct fs *fs, fuse_ino_t ino)
{
	struct store_meta meta;
	struct cache_file *f, *kept = NULL;
	struct inode *i;
	struct buf key;
	bool meta_only, uploaded = false;
	int rc;

	buf_init(&key, 8192);
	pthread_mutex_lock(&fs->lock);
	i = inode_get(&fs->table, ino);
	if (!i || i->unlinked || !i->file) {
		pthread_mutex_unlock(&fs->lock);
		return 0;
	}
	/* Held: a release may close the inode's file while this uploads. */
	f = cache_file_hold(i->file);
	rc = inode_key(i, fs->prefix, &key);
	fs_meta_of(i, &meta);
	meta_only = i->meta_dirty;
	pthread_mutex_unlock(&fs->lock);
	if (rc)
		goto out;

	if (cache_file_dirty(f)) {
		rc = cache_file_flush(f, key.data, &meta, meta_only);
		meta_only = false;
		uploaded = true;
	}
	if (!rc && meta_only) {
		rc = cache_copy(fs->cache, key.data, key.data, &meta);
		uploaded = true;
	}
	if (uploaded)
		prefetch_drop(fs->prefetch, key.data);
	while (!rc && uploaded) {
		struct store_meta now;

		pthread_mutex_lock(&fs->lock);
		i = inode_get(&fs->table, ino);
		if (i && i->meta_dirty && (fs_meta_of(i, &now), !meta_equal(&now, &meta))) {
			/* A chmod or touch came while it was sent (after an
			 * async close, say): send that too, not lose it. */
			pthread_mutex_unlock(&fs->lock);
			meta = now;
			rc = cache_copy(fs->cache, key.data, key.data, &meta);
			continue;
		}
		if (i) {
			i->local = false;
			i->meta_dirty = false;
			i->attr_time = time(NULL);
			i->etag[0] = '\0'; /* a new version; its ETag comes with the next HEAD */
			if (!i->open_count && i->file == f) {
				/* A kept file, sent at last: the store has it. */
				i->file = NULL;
				inode_maybe_free(&fs->table, i);
				kept = f;
			}
		}
		pthread_mutex_unlock(&fs->lock);
		if (kept)
			cache_file_close(kept, key.data);
		/* Now in the store: a listing taken before is told. */
		fs_listing_change(fs, key.data, S_IFREG, true);
		break;
	}
out:
	cache_file_close(f, key.data ? key.data : "");
	buf_free(&key);
	return rc;
}

/*
 * Whether the kernel may keep the pages it cached of this file: only when
 * the object is the very version (same ETag) it cached them from, so warm
 * re-reads run at memory speed and a changed object is never served stale.
 */
static bool fs_keep_kernel_cache(struct fs *fs, fuse_ino_t ino)
{
	struct inode *i;
	bool keep = false;

	pthread_mutex_lock(&fs->lock);
	i = inode_get(&fs->table, ino);
	if (i) {
		keep = i->etag[0] && !strcmp(i->etag, i->kcache_etag);
		log_debug("open ino %llu: etag %s, kernel has %s: %s", (unsigned long long)ino,
			  i->etag, i->kcache_etag, keep ? "keep" : "drop");
		memcpy(i->kcache_etag, i->etag, sizeof(i->kcache_etag));
	}
	pthread_mutex_unlock(&fs->lock);
	return keep;
}

/* Attach a cache_file to i (opening one if it has none). */
static int fs_open_file(struct fs *fs, fuse_ino_t ino, bool truncate)
{
	struct cache_file *f = NULL;
	struct inode *i;
	struct buf key;
	char etag[80];
	uint64_t size;
	int rc;

	buf_init(&key, 8192);
	pthread_mutex_lock(&fs->lock);
	i = inode_get(&fs->table, ino);
	if (!i) {
		pthread_mutex_unlock(&fs->lock);
		buf_free(&key);
		return -ENOENT;
	}
	if (i->file) {
		i->open_count++;
		f = i->file;
		rc = truncate ? inode_key(i, fs->prefix, &key) : 0;
		pthread_mutex_unlock(&fs->lock);
		if (truncate && !rc)
			rc = cache_file_truncate(f, key.data, 0);
		goto out_truncated;
	}
	size = i->size;
	memcpy(etag, i->etag, sizeof(etag));
	rc = inode_key(i, fs->prefix, &key);
	pthread_mutex_unlock(&fs->lock);
	if (!rc)
		rc = cache_file_open(fs->cache, key.data, size, etag, truncate, &f);
	if (rc)
		goto out;

	pthread_mutex_lock(&fs->lock);
	i = inode_get(&fs->table, ino);
	if (!i) {
		rc = -ENOENT;
	} else if (i->file) {
		/* Another open won the race: use its file. */
		i->open_count++;
		pthread_mutex_unlock(&fs->lock);
		cache_file_close(f, key.data);
		f = i->file;
		if (truncate)
			rc = cache_file_truncate(f, key.data, 0);
		goto out_truncated;
	} else {
		i->file = f;
		i->open_count++;
		f = NULL;
	}
	pthread_mutex_unlock(&fs->lock);
	if (f)
		cache_file_close(f, key.data);
	if (rc)
		goto out;
	/* An O_TRUNC open: the file is empty now, whatever the store said. */
	goto out_truncated;

out_truncated:
	if (!rc && truncate) {
		pthread_mutex_lock(&fs->lock);
		i = inode_get(&fs->table, ino);
		if (i) {
			i->size = 0;
			i->mtime = i->ctime = fs_now();
		}
		pthread_mutex_unlock(&fs->lock);
	}
out:
	buf_free(&key);
	return rc;
}

/* Whether i's open file holds data the store lacks, or (async_close, where
 * the upload sends it) metadata. Called with fs->lock held. */
static bool fs_file_unsent(const struct fs *fs, const struct inode *i)
{
	return i->file && (cache_file_dirty(i->file) || (fs->closer && i->meta_dirty));
}

/* The last close of ino: its file state goes, unless it has changes not
 * uploaded, which keep it in the mount. Returns whether changes are left
 * to send (async_close: also those of a file still open elsewhere). */
static bool fs_release_file(struct fs *fs, fuse_ino_t ino)
{
	struct cache_file *f = NULL;
	bool unsent = false;
	struct inode *i;
	struct buf key;

	buf_init(&key, 8192);
	pthread_mutex_lock(&fs->lock);
	i = inode_get(&fs->table, ino);
	if (i && i->open_count && --i->open_count == 0) {
		f = i->file;
		inode_key(i, fs->prefix, &key);
		if (!i->unlinked && fs_file_unsent(fs, i)) {
			/* Not sent yet (async_close), or the upload failed: the
			 * staged data stays the file's content, in the mount,
			 * until a flush sends it. */
			if (!fs->closer)
				log_warn("'%s' stays in the mount with changes not uploaded; "
					 "the next close, fsync or unmount sends them",
					 key.data ? key.data : "");
			f = NULL;
			unsent = true;
		} else {
			i->file = NULL;
			if (i->unlinked && f)
				cache_file_discard(f);
			inode_maybe_free(&fs->table, i);
		}
	} else if (fs->closer && i && i->file && !i->unlinked) {
		/* Open elsewhere: what was written so far goes now, as a
		 * close() would have sent it (a clean file is a no-op). */
		unsent = true;
	}
	pthread_mutex_unlock(&fs->lock);
	if (f)
		cache_file_close(f, key.data ? key.data : "");
	buf_free(&key);
	return unsent;
}

void fs_open(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct fs *fs = fs_of(req);
	bool truncate = (fi->flags & O_TRUNC) && (fi->flags & O_ACCMODE) != O_RDONLY;
	int rc;

	if (fs->conf.read_only && (fi->flags & O_ACCMODE) != O_RDONLY) {
		fuse_reply_err(req, EROFS);
		return;
	}
	rc = fs_open_file(fs, ino, truncate);
	if (rc) {
		fuse_reply_err(req, -rc);
		return;
	}
	fi->keep_cache = fs_keep_kernel_cache(fs, ino);
	fuse_reply_open(req, fi);
}

void fs_create_file(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode,
		    struct fuse_file_info *fi)
{
	struct fs *fs = fs_of(req);
	const struct fuse_ctx *ctx = fuse_req_ctx(req);
	struct fuse_entry_param e;
	struct cache_file *f;
	struct inode *p, *i;
	struct buf key;
	int err = 0, rc;

	if (!fs_name_ok(name, &err)) {
		fuse_reply_err(req, err);
		return;
	}
	if (fs->conf.read_only) {
		fuse_reply_err(req, EROFS);
		return;
	}
	buf_init(&key, 8192);
	pthread_mutex_lock(&fs->lock);
	p = inode_get(&fs->table, parent);
	rc = p ? fs_child_key(fs, p, name, &key) : -ENOENT;
	pthread_mutex_unlock(&fs->lock);
	if (!rc)
		rc = cache_file_open(fs->cache, key.data, 0, "", true, &f);
	if (rc)
		goto out;

	pthread_mutex_lock(&fs->lock);
	p = inode_get(&fs->table, parent);
	i = p ? inode_obtain(&fs->table, p, name) : NULL;
	if (!i || i->file) {
		/* Gone, out of memory, or created and opened meanwhile. */
		rc = !p ? -ENOENT : !i ? -ENOMEM : -EEXIST;
		pthread_mutex_unlock(&fs->lock);
		cache_file_discard(f);
		cache_file_close(f, key.data);
		goto out;
	}
	i->mode = S_IFREG | (mode & 07777);
	i->uid = ctx->uid;
	i->gid = ctx->gid;
	i->has_owner = true;
	i->size = 0;
	i->mtime = i->ctime = fs_now();
	i->local = true;
	i->unlinked = false;
	i->file = f;
	i->open_count++;
	i->nlookup++;
	fs_dir_changed(p);
	fs_entry_of(fs, i, &e);
	pthread_mutex_unlock(&fs->lock);
	fs_listing_change(fs, key.data, S_IFREG, true);
	buf_free(&key);
	fi->keep_cache = 0;
	fuse_reply_create(req, &e, fi);
	return;
out:
	buf_free(&key);
	fuse_reply_err(req, -rc);
}

/* An open inode's file and key, and its metadata if meta is not NULL. */
static struct cache_file *fs_file_key(struct fs *fs, fuse_ino_t ino, struct buf *key,
				      struct store_meta *meta)
{
	struct cache_file *f = NULL;
	struct inode *i;

	pthread_mutex_lock(&fs->lock);
	i = inode_get(&fs->table, ino);
	if (i && i->file && !inode_key(i, fs->prefix, key)) {
		f = i->file;
		if (meta)
			fs_meta_of(i, meta);
	}
	pthread_mutex_unlock(&fs->lock);
	return f;
}

void fs_read(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off, struct fuse_file_info *fi)
{
	struct fs *fs = fs_of(req);
	struct cache_view v;
	struct cache_file *f;
	struct buf key;
	int rc;

	(void)fi;
	buf_init(&key, 8192);
	f = fs_file_key(fs, ino, &key, NULL);
	if (!f) {
		buf_free(&key);
		fuse_reply_err(req, EBADF);
		return;
	}
	rc = cache_file_view(f, key.data, size, (uint64_t)off, &v);
	buf_free(&key);
	/* Straight from the cached blocks to the kernel: no copy here. */
	if (rc)
		fuse_reply_err(req, -rc);
	else if (v.n_iov == 1) /* most reads: within one block */
		fuse_reply_buf(req, v.iov[0].iov_base, v.len);
	else
		fuse_reply_iov(req, v.iov, v.n_iov);
	cache_view_done(fs->cache, &v);
}

void fs_write(fuse_req_t req, fuse_ino_t ino, const char *data, size_t size, off_t off,
	      struct fuse_file_info *fi)
{
	struct fs *fs = fs_of(req);
	struct store_meta meta;
	struct cache_file *f;
	struct inode *i;
	struct buf key;
	int rc;

	(void)fi;
	buf_init(&key, 8192);
	f = fs_file_key(fs, ino, &key, &meta);
	rc = f ? cache_file_write(f, key.data, &meta, data, size, (uint64_t)off) : -EBADF;
	buf_free(&key);
	if (rc) {
		fuse_reply_err(req, -rc);
		return;
	}
	pthread_mutex_lock(&fs->lock);
	i = inode_get(&fs->table, ino);
	if (i) {
		if ((uint64_t)off + size > i->size)
			i->size = (uint64_t)off + size;
		i->mtime = i->ctime = fs_now();
	}
	pthread_mutex_unlock(&fs->lock);
	fuse_reply_write(req, size);
}

void fs_flush(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct fs *fs = fs_of(req);
	struct inode *i;
	bool unsent;

	(void)fi;
	if (fs->closer) {
		/* async_close: the release queues the upload. A close with
		 * nothing to send never waits, even while uploads fail. */
		pthread_mutex_lock(&fs->lock);
		i = inode_get(&fs->table, ino);
		unsent = i && fs_file_unsent(fs, i);
		pthread_mutex_unlock(&fs->lock);
		if (unsent)
			closer_wait_room(fs->closer);
		fuse_reply_err(req, 0);
		return;
	}
	fuse_reply_err(req, -fs_flush_inode(fs, ino));
}

void fs_fsync(fuse_req_t req, fuse_ino_t ino, int datasync, struct fuse_file_info *fi)
{
	(void)datasync;
	(void)fi;
	fuse_reply_err(req, -fs_flush_inode(fs_of(req), ino));
}

void fs_release(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct fs *fs = fs_of(req);

	(void)fi;
	if (fs->closer) {
		if (fs_release_file(fs, ino))
			closer_queue(fs->closer, ino);
		fuse_reply_err(req, 0);
		return;
	}
	/* close() already flushed; this catches writes through mmap and
	 * descriptors closed without a flush. */
	fs_flush_inode(fs, ino);
	fs_release_file(fs, ino);
	fuse_reply_err(req, 0);
}

/* Upload everything pending under directory d (or everything, d NULL). */
int fs_flush_under(struct fs *fs, struct inode *d)
{
	fuse_ino_t *inos = NULL;
	size_t n = 0, cap = 0, k;
	struct inode *i, *tmp;
	int rc = 0, failed = 0;

	pthread_mutex_lock(&fs->lock);
	HASH_ITER(hh, fs->table.by_ino, i, tmp)
	{
		if (!i->file || i->unlinked || (d && !inode_is_under(i, d)))
			continue;
		if (n == cap) {
			fuse_ino_t *grown = realloc(inos, (cap ? cap * 2 : 16) * sizeof(*grown));

			if (!grown) {
				rc = -ENOMEM;
				break;
			}
			inos = grown;
			cap = cap ? cap * 2 : 16;
		}
		inos[n++] = i->ino;
	}
	pthread_mutex_unlock(&fs->lock);
	for (k = 0; k < n; k++) {
		int r = fs_flush_inode(fs, inos[k]);

		if (r) {
			failed++;
			if (!rc)
				rc = r;
		}
	}
	free(inos);
	return d ? rc : failed;
}

int fs_flush_all(struct fs *fs)
{
	return fs_flush_under(fs, NULL);
}

int fs_failed_at_exit(const struct fs *fs)
{
	return fs->failed_at_exit;
}
