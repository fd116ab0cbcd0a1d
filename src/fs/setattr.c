/*
 * setattr: chmod, chown, utimens and truncate. Metadata-only changes of a
 * stored object are written at once (a copy onto itself; a directory's
 * marker is rewritten); of an open or unsent file, with its upload.
 */
#include "fs_priv.h"

#include <errno.h>
#include <string.h>

#include "store_meta.h"

/* Persist an inode's metadata now (closed files, directories). */
static int fs_store_meta(struct fs *fs, fuse_ino_t ino)
{
	struct store_meta meta;
	struct inode *i;
	struct buf key;
	bool dir, root;
	int rc;

	buf_init(&key, 8192);
	pthread_mutex_lock(&fs->lock);
	i = inode_get(&fs->table, ino);
	if (!i) {
		pthread_mutex_unlock(&fs->lock);
		return -ENOENT;
	}
	dir = S_ISDIR(i->mode);
	root = i == fs->table.root;
	rc = dir ? inode_dir_key(i, fs->prefix, &key) : inode_key(i, fs->prefix, &key);
	fs_meta_of(i, &meta);
	pthread_mutex_unlock(&fs->lock);
	if (rc)
		goto out;
	if (root && !key.len) {
		rc = 0; /* the bucket root has no object to hold it */
	} else if (dir) {
		/* Markers are empty: rewriting one is cheaper than a copy, and
		 * turns an implicit directory into a marked one. */
		struct buf obj;

		buf_init(&obj, 8192);
		meta.folder = cache_folder_markers(fs->cache);
		rc = fs_dir_object(fs, key.data, &obj);
		if (!rc)
			rc = cache_put_buffer(fs->cache, obj.data, &meta, "", 0);
		buf_free(&obj);
	} else {
		rc = cache_copy(fs->cache, key.data, key.data, &meta);
	}
out:
	buf_free(&key);
	return rc;
}

/* A metadata change the store refused is undone in the mount too, unless
 * another change came meanwhile: the mount shows what the store has, and
 * the same change asked again is tried again. */
static void fs_meta_revert(struct fs *fs, fuse_ino_t ino, const struct store_meta *before,
			   const struct store_meta *after)
{
	struct store_meta now;
	struct inode *i;

	pthread_mutex_lock(&fs->lock);
	i = inode_get(&fs->table, ino);
	if (i)
		fs_meta_of(i, &now);
	if (i && meta_equal(&now, after)) {
		i->mode = before->mode;
		i->mtime = before->mtime;
		i->has_owner = before->has_uid;
		i->uid = before->uid;
		i->gid = before->gid;
	}
	pthread_mutex_unlock(&fs->lock);
}

void fs_setattr(fuse_req_t req, fuse_ino_t ino, struct stat *attr, int to_set,
		struct fuse_file_info *fi)
{
	struct fs *fs = fs_of(req);
	struct cache_file *f = NULL, *tmp = NULL;
	struct inode *i;
	struct store_meta before, after;
	struct stat st;
	struct buf key;
	bool defer;
	int rc = 0;

	(void)fi;
	if (fs->conf.read_only) {
		fuse_reply_err(req, EROFS);
		return;
	}
	buf_init(&key, 8192);
	if (to_set & FUSE_SET_ATTR_SIZE) {
		uint64_t size = 0;
		char etag[80] = "";

		pthread_mutex_lock(&fs->lock);
		i = inode_get(&fs->table, ino);
		if (!i || S_ISDIR(i->mode)) {
			rc = !i ? -ENOENT : -EISDIR;
		} else {
			f = cache_file_hold(i->file); /* a kept file may be sent meanwhile */
			size = i->size;
			memcpy(etag, i->etag, sizeof(etag));
			rc = inode_key(i, fs->prefix, &key);
		}
		pthread_mutex_unlock(&fs->lock);
		if (!rc && !f) {
			/* Not open: stage it for the truncate, upload, drop. */
			rc = cache_file_open(fs->cache, key.data, size, etag, false, &tmp);
			f = tmp;
		}
		if (!rc)
			rc = cache_file_truncate(f, key.data, (uint64_t)attr->st_size);
		if (!rc) {
			pthread_mutex_lock(&fs->lock);
			i = inode_get(&fs->table, ino);
			if (i) {
				i->size = (uint64_t)attr->st_size;
				i->mtime = i->ctime = fs_now();
				if (tmp)
					i->meta_dirty = false;
			}
			pthread_mutex_unlock(&fs->lock);
		}
		if (!rc && tmp) {
			struct store_meta meta;

			pthread_mutex_lock(&fs->lock);
			i = inode_get(&fs->table, ino);
			if (i)
				fs_meta_of(i, &meta);
			pthread_mutex_unlock(&fs->lock);
			rc = i ? cache_file_flush(tmp, key.data, &meta, false) : -ENOENT;
		}
		/* The hold, or the file opened here. */
		cache_file_close(f, key.data ? key.data : "");
		if (rc)
			goto out;
	}

	pthread_mutex_lock(&fs->lock);
	i = inode_get(&fs->table, ino);
	if (!i) {
		pthread_mutex_unlock(&fs->lock);
		rc = -ENOENT;
		goto out;
	}
	fs_meta_of(i, &before);
	if (to_set & FUSE_SET_ATTR_MODE)
		i->mode = (i->mode & S_IFMT) | (attr->st_mode & 07777);
	if (to_set & (FUSE_SET_ATTR_UID | FUSE_SET_ATTR_GID)) {
		if (!i->has_owner) {
			i->uid = fs->conf.uid;
			i->gid = fs->conf.gid;
		}
		if (to_set & FUSE_SET_ATTR_UID)
			i->uid = attr->st_uid;
		if (to_set & FUSE_SET_ATTR_GID)
			i->gid = attr->st_gid;
		i->has_owner = true;
	}
	if (to_set & FUSE_SET_ATTR_MTIME_NOW)
		i->mtime = fs_now();
	else if (to_set & FUSE_SET_ATTR_MTIME)
		i->mtime = attr->st_mtim;
	i->ctime = fs_now();
	fs_meta_of(i, &after);
	/* Open or not yet uploaded: the next flush writes the metadata. */
	defer = i->local || (i->file && cache_file_dirty(i->file));
	if (defer)
		i->meta_dirty = true;
	pthread_mutex_unlock(&fs->lock);

	/* What changes nothing writes nothing: tar chowns and chmods every
	 * directory it made to what it already is. */
	if (!defer && !meta_equal(&before, &after))
		rc = fs_store_meta(fs, ino);
	if (rc)
		fs_meta_revert(fs, ino, &before, &after);
out:
	buf_free(&key);
	if (rc) {
		fuse_reply_err(req, -rc);
		return;
	}
	pthread_mutex_lock(&fs->lock);
	i = inode_get(&fs->table, ino);
	if (i)
		fs_stat_of(fs, i, &st);
	pthread_mutex_unlock(&fs->lock);
	if (!i)
		fuse_reply_err(req, ENOENT);
	else
		fuse_reply_attr(req, &st, fs->conf.stat_ttl);
}
