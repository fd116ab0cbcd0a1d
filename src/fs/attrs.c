/*
 * What the store says a key is, turned into inode attributes and back:
 * HEADs, listings and the directory cache, for lookups and stats.
 */
#include "fs_priv.h"

#include <errno.h>
#include <string.h>

struct timespec fs_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return ts;
}

void fs_stat_of(struct fs *fs, const struct inode *i, struct stat *st)
{
	memset(st, 0, sizeof(*st));
	st->st_ino = i->ino;
	st->st_mode = i->mode;
	st->st_nlink = S_ISDIR(i->mode) ? 2 : 1;
	st->st_uid = fs->conf.force_uid || !i->has_owner ? fs->conf.uid : i->uid;
	st->st_gid = fs->conf.force_gid || !i->has_owner ? fs->conf.gid : i->gid;
	st->st_size = (off_t)i->size;
	st->st_blksize = 4096;
	st->st_blocks = (blkcnt_t)((i->size + 511) / 512);
	st->st_mtim = i->mtime;
	st->st_atim = i->mtime;
	st->st_ctim = i->ctime.tv_sec ? i->ctime : i->mtime;
}

void fs_entry_of(struct fs *fs, const struct inode *i, struct fuse_entry_param *e)
{
	memset(e, 0, sizeof(*e));
	e->ino = i->ino;
	e->attr_timeout = fs->conf.stat_ttl;
	e->entry_timeout = fs->conf.stat_ttl;
	fs_stat_of(fs, i, &e->attr);
}

/* Metadata to store with an object, from the inode. fs->lock held. */
void fs_meta_of(const struct inode *i, struct store_meta *m)
{
	memset(m, 0, sizeof(*m));
	m->has_mode = true;
	m->mode = i->mode;
	m->has_mtime = true;
	m->mtime = i->mtime;
	if (i->has_owner) {
		m->has_uid = m->has_gid = true;
		m->uid = i->uid;
		m->gid = i->gid;
	}
}

/* An entry came or went: the directory's times move, as on a local disk.
 * Called with fs->lock held. */
void fs_dir_changed(struct inode *d)
{
	d->mtime = d->ctime = fs_now();
}

void fs_apply_remote(struct inode *i, const struct fs_remote *r)
{
	i->mode = r->mode;
	i->size = r->size;
	/* A directory's time in the store is its marker's, written once:
	 * changes to its entries made here are later. */
	if (!S_ISDIR(i->mode) || r->mtime.tv_sec > i->mtime.tv_sec) {
		i->mtime = r->mtime;
		i->ctime = r->mtime;
	}
	i->has_owner = r->has_owner;
	i->uid = r->uid;
	i->gid = r->gid;
	i->attr_time = time(NULL);
	memcpy(i->etag, r->etag, sizeof(i->etag));
}

/* Attributes from metadata, with mount defaults where it is silent. */
static void fs_remote_from_obj(struct fs *fs, const struct store_obj *o, mode_t type,
			       struct fs_remote *r)
{
	const struct store_meta *m = &o->meta;

	memset(r, 0, sizeof(*r));
	memcpy(r->etag, o->etag, sizeof(r->etag));
	r->size = S_ISDIR(type) ? 0 : o->size;
	r->mode = type | (S_ISDIR(type) ? fs->conf.dir_mode : fs->conf.file_mode);
	if (m->has_mode) {
		/* Keep the stored type when it has one (symlinks); a marker
		 * object is a directory whatever its mode says. */
		mode_t t = m->mode & S_IFMT;

		if (S_ISDIR(type) || !t)
			t = type;
		r->mode = t | (m->mode & 07777);
	}
	if (m->has_uid && m->has_gid) {
		r->has_owner = true;
		r->uid = m->uid;
		r->gid = m->gid;
	}
	if (m->has_mtime)
		r->mtime = m->mtime;
	else
		r->mtime.tv_sec = o->last_modified ? o->last_modified : fs->mount_time;
}

/* Attributes of an object found by HEAD. */
void fs_remote_from_head(struct fs *fs, const struct store_obj *obj, struct fs_remote *r)
{
	mode_t type = S_IFREG;

	/* Old-style (s3fs) and hdi_isfolder directory objects without '/'. */
	if (obj->meta.folder || (obj->meta.has_mode && S_ISDIR(obj->meta.mode)))
		type = S_IFDIR;
	else if (obj->meta.has_mode && S_ISLNK(obj->meta.mode))
		type = S_IFLNK;
	fs_remote_from_obj(fs, obj, type, r);
}

/* Resolve a key: an object, else a directory in any of its three forms.
 * A lookup (the kernel is likely to open what it finds) reads a small
 * file's data with its attributes. */
static int fs_stat_remote(struct fs *fs, const char *key, bool lookup, struct fs_remote *r)
{
	struct store_obj obj;
	struct store_list l;
	struct buf dkey;
	int rc;

	rc = lookup ? cache_lookup(fs->cache, key, &obj) : cache_head(fs->cache, key, &obj);
	if (rc == 0) {
		fs_remote_from_head(fs, &obj, r);
		return 0;
	}
	if (rc != -ENOENT)
		return rc;

	buf_init(&dkey, 8192);
	rc = buf_printf(&dkey, "%s/", key);
	if (rc)
		goto out;
	rc = cache_list(fs->cache, dkey.data, "/", NULL, 1, &l);
	if (rc)
		goto out;
	if (!l.n_objects && !l.n_prefixes) {
		rc = -ENOENT;
	} else {
		memset(&obj, 0, sizeof(obj));
		if (l.n_objects) {
			obj.last_modified = l.objects[0].last_modified;
			/* A marker may carry our metadata. */
			if (strcmp(l.objects[0].key, dkey.data) == 0)
				cache_head(fs->cache, dkey.data, &obj);
		}
		fs_remote_from_obj(fs, &obj, S_IFDIR, r);
	}
	store_list_free(&l);
out:
	buf_free(&dkey);
	return rc;
}

/* Split a key ("a/b/c", or "a/b/c/" for a directory) into its directory's
 * key ("a/b/") and its name ("c"). */
int fs_split_key(const char *key, struct buf *dkey, struct buf *name)
{
	size_t len = strlen(key);
	const char *slash;

	if (len && key[len - 1] == '/')
		len--;
	slash = memrchr(key, '/', len);
	if (slash) {
		int rc = buf_append(dkey, key, (size_t)(slash - key) + 1);

		if (rc)
			return rc;
		return buf_append(name, slash + 1, len - (size_t)(slash - key) - 1);
	}
	return buf_append(name, key, len) ? -ENOMEM : buf_puts(dkey, "");
}

/* A change made through this mount, applied to the cached listing of key's
 * directory: key was added (as type) or removed. */
void fs_listing_change(struct fs *fs, const char *key, mode_t type, bool added)
{
	struct buf dkey, name;

	buf_init(&dkey, 8192);
	buf_init(&name, 8192);
	if (fs_split_key(key, &dkey, &name)) {
		/* Out of memory: forgetting is always safe. */
		dircache_forget_tree(fs->dircache, "");
	} else if (added) {
		dircache_add_name(fs->dircache, dkey.data, name.data, type);
	} else {
		dircache_remove_name(fs->dircache, dkey.data, name.data);
	}
	buf_free(&dkey);
	buf_free(&name);
}

/* The object that marks directory dkey ("a/b/") and holds its metadata:
 * "a/b/", or "a/b" with hdi_isfolder on stores that mark folders so. */
int fs_dir_object(struct fs *fs, const char *dkey, struct buf *out)
{
	size_t n = strlen(dkey);

	if (cache_folder_markers(fs->cache) && n > 1 && dkey[n - 1] == '/')
		n--;
	buf_reset(out);
	return buf_append(out, dkey, n);
}

/* A directory known from a listing: its marker's metadata if it has one. */
static int fs_stat_dir(struct fs *fs, const char *key, struct fs_remote *r)
{
	struct store_obj obj;
	struct buf dkey, dobj;
	int rc;

	buf_init(&dkey, 8192);
	buf_init(&dobj, 8192);
	rc = buf_printf(&dkey, "%s/", key);
	if (!rc)
		rc = fs_dir_object(fs, dkey.data, &dobj);
	if (!rc)
		rc = cache_head(fs->cache, dobj.data, &obj);
	if (rc == -ENOENT) {
		memset(&obj, 0, sizeof(obj)); /* implicit: a prefix without a marker */
		rc = 0;
	}
	if (!rc)
		fs_remote_from_obj(fs, &obj, S_IFDIR, r);
	buf_free(&dkey);
	buf_free(&dobj);
	return rc;
}

/* Attributes from a listing alone (list_attrs): the mount's modes and
 * owner, the listed size, Last-Modified and ETag. */
void fs_remote_from_listing(struct fs *fs, const struct dircache_entry *e, struct fs_remote *r)
{
	struct store_obj obj = {.size = e->size, .last_modified = e->mtime};

	memcpy(obj.etag, e->etag, sizeof(obj.etag));
	if (e->has_meta)
		obj.meta = e->meta;
	fs_remote_from_obj(fs, &obj, S_ISDIR(e->type) ? S_IFDIR : S_IFREG, r);
}

/* Resolve a key, asking the cached listing of its directory first: a name
 * not in a fresh listing does not exist, and a directory in one needs no
 * LIST; with list_attrs, a listed file or directory needs no request. */
int fs_stat_key(struct fs *fs, const char *key, bool lookup, struct fs_remote *r)
{
	struct dircache_entry e;
	struct buf dkey, name;
	int hit = -1;

	buf_init(&dkey, 8192);
	buf_init(&name, 8192);
	if (!fs_split_key(key, &dkey, &name))
		hit = dircache_lookup(fs->dircache, dkey.data, name.data, &e);
	buf_free(&dkey);
	buf_free(&name);
	if (hit == 0)
		return -ENOENT;
	/* A listing with the metadata (Azure's) is as good as a HEAD. */
	if (hit == 1 && ((fs->conf.list_attrs && (e.listed || S_ISDIR(e.type))) ||
			 (e.has_meta && (e.listed || e.meta.folder)))) {
		fs_remote_from_listing(fs, &e, r);
		return 0;
	}
	if (hit == 1 && S_ISDIR(e.type))
		return fs_stat_dir(fs, key, r);
	return fs_stat_remote(fs, key, lookup, r);
}

bool fs_name_ok(const char *name, int *err)
{
	if (strlen(name) > FS_NAME_MAX) {
		*err = ENAMETOOLONG;
		return false;
	}
	return true;
}

/* Key of (parent, name) into out; fs->lock held. Fails ENAMETOOLONG when
 * the key (with room for a directory's '/') is too long for the store. */
int fs_child_key(struct fs *fs, struct inode *parent, const char *name, struct buf *out)
{
	int rc = inode_dir_key(parent, fs->prefix, out);

	if (!rc)
		rc = buf_puts(out, name);
	if (!rc && out->len + 1 > cache_max_key_len(fs->cache))
		rc = -ENAMETOOLONG;
	return rc;
}

/* Whether the inode's attributes are newer than the store's: created
 * here, open, or kept with changes not yet uploaded. Called with fs->lock
 * held. */
bool fs_ours_newer(const struct inode *i)
{
	return i->local || i->open_count || (i->file && cache_file_dirty(i->file));
}
