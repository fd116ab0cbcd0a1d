/*
 * Lookups, getattr and forget: the kernel's view of names and inodes,
 * answered from the inode table, the directory cache, prefetched HEADs
 * or the store.
 */
#include "fs_priv.h"

#include <errno.h>
#include <string.h>

#include "prefetch.h"

/* Before a lookup of key in directory parent: a small listing that has
 * just expired is listed again, so that this lookup and those that follow
 * (tar creating a file every few ms for minutes) cost one LIST between
 * them, not a HEAD and a LIST each. */
static void fs_lookup_refresh(struct fs *fs, fuse_ino_t parent, const char *key)
{
	struct buf dkey, name;

	buf_init(&dkey, 8192);
	buf_init(&name, 8192);
	if (!fs_split_key(key, &dkey, &name) &&
	    dircache_lookup(fs->dircache, dkey.data, name.data, NULL) == -2)
		fs_listing_refresh(fs, parent, dkey.data);
	buf_free(&dkey);
	buf_free(&name);
}

void fs_lookup(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	struct fs *fs = fs_of(req);
	struct fuse_entry_param e;
	struct fs_remote r;
	struct inode *p, *i;
	struct buf key;
	int err = 0, rc;

	if (!fs_name_ok(name, &err)) {
		fuse_reply_err(req, err);
		return;
	}
	buf_init(&key, 8192);
	pthread_mutex_lock(&fs->lock);
	p = inode_get(&fs->table, parent);
	if (!p) {
		rc = -ENOENT;
		goto out_unlock;
	}
	i = inode_find(&fs->table, p, name);
	if (i && fs_ours_newer(i)) {
		/* Ours is newer than the store's. */
		i->nlookup++;
		fs_entry_of(fs, i, &e);
		pthread_mutex_unlock(&fs->lock);
		fuse_reply_entry(req, &e);
		buf_free(&key);
		return;
	}
	rc = fs_child_key(fs, p, name, &key);
	pthread_mutex_unlock(&fs->lock);
	if (rc)
		goto out;

	struct store_obj obj;

	fs_lookup_refresh(fs, parent, key.data);
	if (prefetch_take(fs->prefetch, parent, key.data, &obj) == 0)
		fs_remote_from_head(fs, &obj, &r);
	else
		rc = fs_stat_key(fs, key.data, true, &r);
	if (rc)
		goto out;

	pthread_mutex_lock(&fs->lock);
	p = inode_get(&fs->table, parent);
	i = p ? inode_obtain(&fs->table, p, name) : NULL;
	if (!i) {
		rc = p ? -ENOMEM : -ENOENT;
		goto out_unlock;
	}
	if (!fs_ours_newer(i))
		fs_apply_remote(i, &r);
	i->nlookup++;
	fs_entry_of(fs, i, &e);
	pthread_mutex_unlock(&fs->lock);
	buf_free(&key);
	fuse_reply_entry(req, &e);
	return;

out_unlock:
	pthread_mutex_unlock(&fs->lock);
out:
	buf_free(&key);
	if (rc == -ENOENT) {
		/* A negative entry the kernel may cache briefly. */
		memset(&e, 0, sizeof(e));
		e.entry_timeout = fs->conf.stat_ttl;
		fuse_reply_entry(req, &e);
		return;
	}
	fuse_reply_err(req, -rc);
}

static void fs_forget_one(struct fs *fs, fuse_ino_t ino, uint64_t n)
{
	struct inode *i = inode_get(&fs->table, ino);

	if (!i || i == fs->table.root)
		return;
	i->nlookup = i->nlookup > n ? i->nlookup - n : 0;
	inode_maybe_free(&fs->table, i);
}

void fs_forget(fuse_req_t req, fuse_ino_t ino, uint64_t nlookup)
{
	struct fs *fs = fs_of(req);

	pthread_mutex_lock(&fs->lock);
	fs_forget_one(fs, ino, nlookup);
	pthread_mutex_unlock(&fs->lock);
	fuse_reply_none(req);
}

void fs_forget_multi(fuse_req_t req, size_t count, struct fuse_forget_data *forgets)
{
	struct fs *fs = fs_of(req);
	size_t k;

	pthread_mutex_lock(&fs->lock);
	for (k = 0; k < count; k++)
		fs_forget_one(fs, forgets[k].ino, forgets[k].nlookup);
	pthread_mutex_unlock(&fs->lock);
	fuse_reply_none(req);
}

void fs_getattr(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct fs *fs = fs_of(req);
	struct fs_remote r;
	struct inode *i;
	struct stat st;
	struct buf key;
	int rc = 0;

	(void)fi;
	buf_init(&key, 8192);
	pthread_mutex_lock(&fs->lock);
	i = inode_get(&fs->table, ino);
	if (!i) {
		rc = -ENOENT;
		goto out_unlock;
	}
	/* Refresh a closed file's attributes once the kernel's copy expired,
	 * so changes made by other clients show. */
	if (!S_ISDIR(i->mode) && !fs_ours_newer(i) && !i->unlinked &&
	    time(NULL) - i->attr_time >= (time_t)fs->conf.stat_ttl) {
		rc = inode_key(i, fs->prefix, &key);
		pthread_mutex_unlock(&fs->lock);
		if (!rc)
			rc = fs_stat_key(fs, key.data, false, &r);
		pthread_mutex_lock(&fs->lock);
		i = inode_get(&fs->table, ino);
		if (!i)
			rc = -ENOENT;
		if (rc)
			goto out_unlock;
		if (!fs_ours_newer(i) && !i->unlinked)
			fs_apply_remote(i, &r);
	}
	fs_stat_of(fs, i, &st);
out_unlock:
	pthread_mutex_unlock(&fs->lock);
	buf_free(&key);
	if (rc)
		fuse_reply_err(req, -rc);
	else
		fuse_reply_attr(req, &st, fs->conf.stat_ttl);
}
