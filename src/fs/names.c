/*
 * The namespace: mkdir, symlink, readlink, unlink, rmdir and link.
 */
#include "fs_priv.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "prefetch.h"

#define FS_SYMLINK_MAX 4096

/* Create a child inode for a just-made object; replies to req. */
static void fs_reply_new(fuse_req_t req, struct fs *fs, fuse_ino_t parent, const char *name,
			 mode_t mode, uint64_t size)
{
	const struct fuse_ctx *ctx = fuse_req_ctx(req);
	struct fuse_entry_param e;
	struct inode *p, *i;

	pthread_mutex_lock(&fs->lock);
	p = inode_get(&fs->table, parent);
	i = p ? inode_obtain(&fs->table, p, name) : NULL;
	if (!i) {
		pthread_mutex_unlock(&fs->lock);
		fuse_reply_err(req, p ? ENOMEM : ENOENT);
		return;
	}
	i->mode = mode;
	i->size = size;
	i->uid = ctx->uid;
	i->gid = ctx->gid;
	i->has_owner = true;
	i->mtime = i->ctime = fs_now();
	i->attr_time = time(NULL);
	i->unlinked = false;
	i->nlookup++;
	fs_dir_changed(p);
	fs_entry_of(fs, i, &e);
	pthread_mutex_unlock(&fs->lock);
	fuse_reply_entry(req, &e);
}

static void fs_meta_new(fuse_req_t req, mode_t mode, struct store_meta *m)
{
	const struct fuse_ctx *ctx = fuse_req_ctx(req);

	memset(m, 0, sizeof(*m));
	m->has_mode = m->has_uid = m->has_gid = m->has_mtime = true;
	m->mode = mode;
	m->uid = ctx->uid;
	m->gid = ctx->gid;
	m->mtime = fs_now();
}

static int fs_parent_key(struct fs *fs, fuse_ino_t parent, const char *name, struct buf *key)
{
	struct inode *p;
	int err = 0, rc;

	if (!fs_name_ok(name, &err))
		return -err;
	if (fs->conf.read_only)
		return -EROFS;
	pthread_mutex_lock(&fs->lock);
	p = inode_get(&fs->table, parent);
	rc = p ? fs_child_key(fs, p, name, key) : -ENOENT;
	pthread_mutex_unlock(&fs->lock);
	return rc;
}

void fs_mkdir(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode)
{
	struct fs *fs = fs_of(req);
	struct store_meta meta;
	struct buf key, obj;
	int rc;

	buf_init(&key, 8192);
	rc = fs_parent_key(fs, parent, name, &key);
	if (!rc)
		rc = buf_puts(&key, "/");
	buf_init(&obj, 8192);
	if (!rc)
		rc = fs_dir_object(fs, key.data, &obj);
	if (!rc) {
		fs_meta_new(req, S_IFDIR | (mode & 07777), &meta);
		meta.folder = cache_folder_markers(fs->cache);
		rc = cache_put_buffer(fs->cache, obj.data, &meta, "", 0);
	}
	buf_free(&obj);
	if (!rc) {
		/* New and empty: creating files in it needs no lookups. */
		fs_listing_change(fs, key.data, S_IFDIR, true);
		dircache_set_empty(fs->dircache, key.data);
	}
	buf_free(&key);
	if (rc)
		fuse_reply_err(req, -rc);
	else
		fs_reply_new(req, fs, parent, name, S_IFDIR | (mode & 07777), 0);
}

void fs_symlink(fuse_req_t req, const char *link, fuse_ino_t parent, const char *name)
{
	struct fs *fs = fs_of(req);
	struct store_meta meta;
	struct buf key;
	int rc;

	buf_init(&key, 8192);
	rc = fs_parent_key(fs, parent, name, &key);
	if (!rc && strlen(link) >= FS_SYMLINK_MAX)
		rc = -ENAMETOOLONG;
	if (!rc) {
		fs_meta_new(req, S_IFLNK | 0777, &meta);
		rc = cache_put_buffer(fs->cache, key.data, &meta, link, strlen(link));
	}
	if (!rc)
		fs_listing_change(fs, key.data, S_IFREG, true);
	buf_free(&key);
	if (rc)
		fuse_reply_err(req, -rc);
	else
		fs_reply_new(req, fs, parent, name, S_IFLNK | 0777, strlen(link));
}

void fs_readlink(fuse_req_t req, fuse_ino_t ino)
{
	struct fs *fs = fs_of(req);
	struct inode *i;
	struct buf key;
	char *target = NULL;
	size_t len;
	int rc;

	buf_init(&key, 8192);
	pthread_mutex_lock(&fs->lock);
	i = inode_get(&fs->table, ino);
	rc = !i ? -ENOENT : !S_ISLNK(i->mode) ? -EINVAL : inode_key(i, fs->prefix, &key);
	pthread_mutex_unlock(&fs->lock);
	if (!rc)
		rc = cache_get_buffer(fs->cache, key.data, FS_SYMLINK_MAX, &target, &len);
	buf_free(&key);
	if (rc)
		fuse_reply_err(req, -rc);
	else
		fuse_reply_readlink(req, target);
	free(target);
}

/* -ENOTEMPTY unless the directory at dkey holds nothing but its markers
 * (and nothing local under inode d). */
int fs_dir_empty(struct fs *fs, struct inode *d, const char *dkey)
{
	struct store_list l;
	struct inode *i, *tmp;
	size_t k;
	int rc;

	pthread_mutex_lock(&fs->lock);
	HASH_ITER(hh, fs->table.by_ino, i, tmp)
	{
		if (i->parent == d && i->local && !i->unlinked) {
			pthread_mutex_unlock(&fs->lock);
			return -ENOTEMPTY;
		}
	}
	pthread_mutex_unlock(&fs->lock);

	rc = cache_list(fs->cache, dkey, "/", NULL, 3, &l);
	if (rc)
		return rc;
	if (l.n_prefixes)
		rc = -ENOTEMPTY;
	for (k = 0; k < l.n_objects && !rc; k++) {
		const char *rest = l.objects[k].key + strlen(dkey);

		if (*rest && strcmp(rest, FS_EMPTY_MARKER) != 0)
			rc = -ENOTEMPTY;
	}
	store_list_free(&l);
	return rc;
}

/* The hdi_isfolder object of directory dkey, if the store marks folders
 * so and there is one: 1 with its key in out, 0 if none. A file of the
 * same name is not a marker and stays. */
int fs_folder_object(struct fs *fs, const char *dkey, struct buf *out)
{
	struct store_obj obj;
	int rc;

	if (!cache_folder_markers(fs->cache))
		return 0;
	rc = fs_dir_object(fs, dkey, out);
	if (!rc)
		rc = cache_head(fs->cache, out->data, &obj);
	if (rc == -ENOENT)
		return 0;
	return rc ? rc : obj.meta.folder;
}

/* Remove a directory's markers. */
int fs_dir_remove_markers(struct fs *fs, const char *dkey)
{
	struct buf empty, folder;
	const char *keys[3];
	int rc, n = 2;

	buf_init(&empty, 8192);
	buf_init(&folder, 8192);
	rc = buf_printf(&empty, "%s%s", dkey, FS_EMPTY_MARKER);
	if (!rc && (rc = fs_folder_object(fs, dkey, &folder)) == 1) {
		keys[n++] = folder.data;
		rc = 0;
	}
	if (!rc) {
		keys[0] = dkey;
		keys[1] = empty.data;
		rc = cache_remove_many(fs->cache, keys, n);
	}
	buf_free(&empty);
	buf_free(&folder);
	return rc;
}

/* i left the namespace (unlinked, or replaced by a rename): open handles
 * keep reading it, nothing of it is uploaded again. fs->lock held. */
void fs_gone(struct fs *fs, struct inode *i)
{
	i->unlinked = true;
	i->local = false;
	inode_unhash(&fs->table, i);
	if (i->file)
		cache_file_discard(i->file);
	if (i->file && !i->open_count) {
		/* A kept file: nothing is left to send. Closing a discarded
		 * file only closes and removes its staging file. */
		cache_file_close(i->file, "");
		i->file = NULL;
	}
	inode_maybe_free(&fs->table, i);
}

static void fs_unlink_common(fuse_req_t req, fuse_ino_t parent, const char *name, bool dir)
{
	struct fs *fs = fs_of(req);
	struct cache_file *f = NULL;
	struct inode *p, *i;
	struct buf key;
	fuse_ino_t ino = 0;
	int rc;

	buf_init(&key, 8192);
	rc = fs_parent_key(fs, parent, name, &key);
	if (rc)
		goto out;
	pthread_mutex_lock(&fs->lock);
	p = inode_get(&fs->table, parent);
	i = p ? inode_find(&fs->table, p, name) : NULL;
	if (i) {
		ino = i->ino;
		f = cache_file_hold(i->file); /* a release may close it meanwhile */
		if (dir && !S_ISDIR(i->mode))
			rc = -ENOTDIR;
		else if (!dir && S_ISDIR(i->mode))
			rc = -EISDIR;
	}
	pthread_mutex_unlock(&fs->lock);
	if (rc)
		goto out;

	if (dir) {
		rc = buf_puts(&key, "/");
		if (!rc)
			rc = fs_dir_empty(fs, i, key.data);
		if (!rc)
			rc = fs_dir_remove_markers(fs, key.data);
	} else {
		/* An open file stays readable after unlink, as POSIX says:
		 * keep a local copy before the object goes. */
		if (f)
			rc = cache_file_pin(f, key.data);
		if (!rc)
			rc = cache_remove(fs->cache, key.data);
		prefetch_drop(fs->prefetch, key.data);
	}
	if (rc)
		goto out;
	fs_listing_change(fs, key.data, 0, false);
	if (dir)
		dircache_forget_tree(fs->dircache, key.data);

	pthread_mutex_lock(&fs->lock);
	i = ino ? inode_get(&fs->table, ino) : NULL;
	if (i)
		fs_gone(fs, i);
	p = inode_get(&fs->table, parent);
	if (p)
		fs_dir_changed(p);
	pthread_mutex_unlock(&fs->lock);
out:
	cache_file_close(f, key.data ? key.data : "");
	buf_free(&key);
	fuse_reply_err(req, -rc);
}

void fs_unlink(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	fs_unlink_common(req, parent, name, false);
}

void fs_rmdir(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	fs_unlink_common(req, parent, name, true);
}

void fs_link(fuse_req_t req, fuse_ino_t ino, fuse_ino_t newparent, const char *newname)
{
	(void)ino;
	(void)newparent;
	(void)newname;
	/* Object stores have no second name for one object. */
	fuse_reply_err(req, EPERM);
}
