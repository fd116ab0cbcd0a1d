/*
 * FUSE low-level operations over the cache layer.
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
#include "fs.h"

#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/statvfs.h>
#include <unistd.h>
#include <utlist.h>

#include "inode.h"
#include "metrics.h"
#include "closer.h"
#include "dircache.h"
#include "prefetch.h"
#include "log.h"
#include "presign.h"
#include "store_meta.h"

#define FS_NAME_MAX	  255
#define FS_DIRCACHE_NAMES 100000 /* names in all cached listings */
#define FS_CLOSER_PENDING 64	 /* async_close: closed files waiting to be sent */
#define FS_SYMLINK_MAX	  4096
#define FS_EMPTY_MARKER	  ".empty"
#define FS_UNKNOWN_INO	  0xffffffffu /* readdir: the kernel looks entries up itself */

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

static void fs_dir_free(struct fs_dir *d);

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

static struct fs *fs_of(fuse_req_t req)
{
	return fuse_req_userdata(req);
}

static int fs_flush_inode(struct fs *fs, fuse_ino_t ino);

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

static struct timespec fs_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return ts;
}

static void fs_stat_of(struct fs *fs, const struct inode *i, struct stat *st)
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

static void fs_entry_of(struct fs *fs, const struct inode *i, struct fuse_entry_param *e)
{
	memset(e, 0, sizeof(*e));
	e->ino = i->ino;
	e->attr_timeout = fs->conf.stat_ttl;
	e->entry_timeout = fs->conf.stat_ttl;
	fs_stat_of(fs, i, &e->attr);
}

/* Metadata to store with an object, from the inode. fs->lock held. */
static void fs_meta_of(const struct inode *i, struct store_meta *m)
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
static void fs_dir_changed(struct inode *d)
{
	d->mtime = d->ctime = fs_now();
}

static void fs_apply_remote(struct inode *i, const struct fs_remote *r)
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
static void fs_remote_from_head(struct fs *fs, const struct store_obj *obj, struct fs_remote *r)
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
static int fs_split_key(const char *key, struct buf *dkey, struct buf *name)
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
static void fs_listing_change(struct fs *fs, const char *key, mode_t type, bool added)
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
static int fs_dir_object(struct fs *fs, const char *dkey, struct buf *out)
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
static void fs_remote_from_listing(struct fs *fs, const struct dircache_entry *e,
				   struct fs_remote *r)
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
static int fs_stat_key(struct fs *fs, const char *key, bool lookup, struct fs_remote *r)
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

static bool fs_name_ok(const char *name, int *err)
{
	if (strlen(name) > FS_NAME_MAX) {
		*err = ENAMETOOLONG;
		return false;
	}
	return true;
}

/* Key of (parent, name) into out; fs->lock held. Fails ENAMETOOLONG when
 * the key (with room for a directory's '/') is too long for the store. */
static int fs_child_key(struct fs *fs, struct inode *parent, const char *name, struct buf *out)
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
static bool fs_ours_newer(const struct inode *i)
{
	return i->local || i->open_count || (i->file && cache_file_dirty(i->file));
}

static void fs_listing_refresh(struct fs *fs, fuse_ino_t parent, const char *dkey);

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

static void fs_lookup(fuse_req_t req, fuse_ino_t parent, const char *name)
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

static void fs_forget(fuse_req_t req, fuse_ino_t ino, uint64_t nlookup)
{
	struct fs *fs = fs_of(req);

	pthread_mutex_lock(&fs->lock);
	fs_forget_one(fs, ino, nlookup);
	pthread_mutex_unlock(&fs->lock);
	fuse_reply_none(req);
}

static void fs_forget_multi(fuse_req_t req, size_t count, struct fuse_forget_data *forgets)
{
	struct fs *fs = fs_of(req);
	size_t k;

	pthread_mutex_lock(&fs->lock);
	for (k = 0; k < count; k++)
		fs_forget_one(fs, forgets[k].ino, forgets[k].nlookup);
	pthread_mutex_unlock(&fs->lock);
	fuse_reply_none(req);
}

static void fs_getattr(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
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

/* Upload an inode's pending data or metadata. */
static int fs_flush_inode(struct fs *fs, fuse_ino_t ino)
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

static void fs_open(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
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

static void fs_create_file(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode,
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

static void fs_read(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
		    struct fuse_file_info *fi)
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

static void fs_write(fuse_req_t req, fuse_ino_t ino, const char *data, size_t size, off_t off,
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

static void fs_flush(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
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

static void fs_fsync(fuse_req_t req, fuse_ino_t ino, int datasync, struct fuse_file_info *fi)
{
	(void)datasync;
	(void)fi;
	fuse_reply_err(req, -fs_flush_inode(fs_of(req), ino));
}

static void fs_release(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
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

static void fs_setattr(fuse_req_t req, fuse_ino_t ino, struct stat *attr, int to_set,
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

static void fs_mkdir(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode)
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

static void fs_symlink(fuse_req_t req, const char *link, fuse_ino_t parent, const char *name)
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

static void fs_readlink(fuse_req_t req, fuse_ino_t ino)
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
static int fs_dir_empty(struct fs *fs, struct inode *d, const char *dkey)
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
static int fs_folder_object(struct fs *fs, const char *dkey, struct buf *out)
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
static int fs_dir_remove_markers(struct fs *fs, const char *dkey)
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
static void fs_gone(struct fs *fs, struct inode *i)
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

static void fs_unlink(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	fs_unlink_common(req, parent, name, false);
}

static void fs_rmdir(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	fs_unlink_common(req, parent, name, true);
}

/* Upload everything pending under directory d (or everything, d NULL). */
static int fs_flush_under(struct fs *fs, struct inode *d)
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

/* Copy every key under src_dir to dst_dir, then delete the sources. */
static int fs_rename_tree(struct fs *fs, const char *src_dir, const char *dst_dir)
{
	char **keys = NULL;
	size_t n = 0, cap = 0, k;
	char *token = NULL;
	struct buf dst;
	int rc = 0;

	do {
		struct store_list l;

		rc = cache_list(fs->cache, src_dir, NULL, token, 0, &l);
		free(token);
		token = NULL;
		if (rc)
			break;
		for (k = 0; k < l.n_objects && !rc; k++) {
			if (n == cap) {
				char **grown = realloc(keys, (cap ? cap * 2 : 64) * sizeof(*grown));

				if (!grown) {
					rc = -ENOMEM;
					break;
				}
				keys = grown;
				cap = cap ? cap * 2 : 64;
			}
			keys[n] = strdup(l.objects[k].key);
			if (!keys[n])
				rc = -ENOMEM;
			else
				n++;
		}
		if (!rc && l.next_token) {
			token = strdup(l.next_token);
			if (!token)
				rc = -ENOMEM;
		}
		store_list_free(&l);
	} while (!rc && token);

	/* The directory's own hdi_isfolder object sits beside the tree. */
	buf_init(&dst, 8192);
	if (!rc && (rc = fs_folder_object(fs, src_dir, &dst)) == 1) {
		char **grown = realloc(keys, (n + 1) * sizeof(*grown));

		rc = 0;
		if (!grown || !(grown[n] = strdup(dst.data)))
			rc = -ENOMEM;
		if (grown)
			keys = grown;
		if (!rc)
			n++;
	}
	for (k = 0; k < n && !rc; k++) {
		buf_reset(&dst);
		if (strlen(keys[k]) < strlen(src_dir))
			rc = fs_dir_object(fs, dst_dir, &dst);
		else
			rc = buf_printf(&dst, "%s%s", dst_dir, keys[k] + strlen(src_dir));
		if (!rc && dst.len > cache_max_key_len(fs->cache))
			rc = -ENAMETOOLONG;
		if (!rc)
			rc = cache_copy(fs->cache, keys[k], dst.data, NULL);
	}
	buf_free(&dst);
	/* Only once every copy is in place do the originals go: a failure
	 * half way leaves both trees, never neither. */
	if (!rc && n)
		rc = cache_remove_many(fs->cache, (const char *const *)keys, n);
	for (k = 0; k < n; k++)
		free(keys[k]);
	free(keys);
	return rc;
}

static void fs_rename(fuse_req_t req, fuse_ino_t parent, const char *name, fuse_ino_t newparent,
		      const char *newname, unsigned int flags)
{
	struct fs *fs = fs_of(req);
	struct inode *p, *np, *src, *dst;
	struct buf skey, dkey;
	fuse_ino_t src_ino = 0, dst_ino = 0;
	bool dir = false, dst_exists = false, dst_dir = false;
	int err = 0, rc = 0;

	if (flags & RENAME_EXCHANGE) {
		fuse_reply_err(req, EINVAL);
		return;
	}
	if (!fs_name_ok(newname, &err)) {
		fuse_reply_err(req, err);
		return;
	}
	if (fs->conf.read_only) {
		fuse_reply_err(req, EROFS);
		return;
	}
	buf_init(&skey, 8192);
	buf_init(&dkey, 8192);
	pthread_mutex_lock(&fs->lock);
	p = inode_get(&fs->table, parent);
	np = inode_get(&fs->table, newparent);
	src = p ? inode_find(&fs->table, p, name) : NULL;
	dst = np ? inode_find(&fs->table, np, newname) : NULL;
	if (!src || !np) {
		rc = -ENOENT;
	} else {
		src_ino = src->ino;
		dir = S_ISDIR(src->mode);
		if (dir && inode_is_under(np, src))
			rc = -EINVAL; /* into itself */
		if (dst) {
			dst_ino = dst->ino;
			dst_exists = true;
			dst_dir = S_ISDIR(dst->mode);
		}
		if (!rc)
			rc = fs_child_key(fs, p, name, &skey);
		if (!rc)
			rc = fs_child_key(fs, np, newname, &dkey);
	}
	pthread_mutex_unlock(&fs->lock);
	if (rc)
		goto out;
	if (!dst_exists) {
		struct fs_remote r;

		rc = fs_stat_key(fs, dkey.data, false, &r);
		if (rc == 0) {
			dst_exists = true;
			dst_dir = S_ISDIR(r.mode);
		} else if (rc != -ENOENT) {
			goto out;
		}
		rc = 0;
	}
	if (dst_exists && (flags & RENAME_NOREPLACE)) {
		rc = -EEXIST;
		goto out;
	}
	if (dst_exists && dir && !dst_dir) {
		rc = -ENOTDIR;
		goto out;
	}
	if (dst_exists && !dir && dst_dir) {
		rc = -EISDIR;
		goto out;
	}

	if (dir) {
		rc = buf_puts(&skey, "/");
		if (!rc)
			rc = buf_puts(&dkey, "/");
		if (!rc && dst_exists) {
			rc = fs_dir_empty(fs, dst, dkey.data);
			if (!rc)
				rc = fs_dir_remove_markers(fs, dkey.data);
		}
		if (!rc) {
			pthread_mutex_lock(&fs->lock);
			src = inode_get(&fs->table, src_ino);
			pthread_mutex_unlock(&fs->lock);
			rc = src ? fs_flush_under(fs, src) : -ENOENT;
		}
		if (!rc)
			rc = fs_rename_tree(fs, skey.data, dkey.data);
	} else {
		/* Whatever is pending goes to the old name first, so the copy
		 * carries it. */
		rc = fs_flush_inode(fs, src_ino);
		if (!rc)
			rc = cache_copy(fs->cache, skey.data, dkey.data, NULL);
		if (!rc)
			rc = cache_remove(fs->cache, skey.data);
	}
	if (rc)
		goto out;
	fs_listing_change(fs, skey.data, 0, false);
	fs_listing_change(fs, dkey.data, dir ? S_IFDIR : S_IFREG, true);
	if (dir) {
		dircache_forget_tree(fs->dircache, skey.data);
		dircache_forget_tree(fs->dircache, dkey.data);
	}

	pthread_mutex_lock(&fs->lock);
	dst = dst_ino ? inode_get(&fs->table, dst_ino) : NULL;
	if (dst)
		fs_gone(fs, dst);
	src = inode_get(&fs->table, src_ino);
	np = inode_get(&fs->table, newparent);
	if (src && np) {
		p = inode_get(&fs->table, parent);
		if (p)
			fs_dir_changed(p);
		fs_dir_changed(np);
		rc = inode_move(&fs->table, src, np, newname);
		src->ctime = fs_now();
	}
	pthread_mutex_unlock(&fs->lock);
out:
	buf_free(&skey);
	buf_free(&dkey);
	fuse_reply_err(req, -rc);
}

static void fs_link(fuse_req_t req, fuse_ino_t ino, fuse_ino_t newparent, const char *newname)
{
	(void)ino;
	(void)newparent;
	(void)newname;
	/* Object stores have no second name for one object. */
	fuse_reply_err(req, EPERM);
}

static void fs_dir_free(struct fs_dir *d)
{
	size_t k;

	for (k = 0; k < d->n; k++)
		free(d->ents[k].name);
	free(d->ents);
	free(d->dkey);
	free(d);
}

static int fs_dir_add(struct fs_dir *d, const char *name, size_t len, mode_t type)
{
	if (d->n == d->cap) {
		size_t cap = d->cap ? d->cap * 2 : 64;
		struct fs_dirent *grown = realloc(d->ents, cap * sizeof(*grown));

		if (!grown)
			return -ENOMEM;
		d->ents = grown;
		d->cap = cap;
	}
	d->ents[d->n].name = strndup(name, len);
	if (!d->ents[d->n].name)
		return -ENOMEM;
	d->ents[d->n].type = type;
	d->n++;
	return 0;
}

/* Names in a listing that are not entries: the marker itself, .empty,
 * and keys that would make empty or slash-bearing names. */
static bool fs_dir_skip(const char *name, size_t len)
{
	return len == 0 ||
	       (len == strlen(FS_EMPTY_MARKER) && memcmp(name, FS_EMPTY_MARKER, len) == 0);
}

struct fs_seen {
	UT_hash_handle hh;
	char name[];
};

static int fs_dir_add_once(struct fs_dir *d, struct fs_seen **seen, const char *name, size_t len,
			   mode_t type)
{
	struct fs_seen *s;

	HASH_FIND(hh, *seen, name, len, s);
	if (s)
		return 0;
	s = malloc(sizeof(*s) + len + 1);
	if (!s)
		return -ENOMEM;
	memcpy(s->name, name, len);
	s->name[len] = '\0';
	HASH_ADD_KEYPTR(hh, *seen, s->name, len, s);
	return fs_dir_add(d, name, len, type);
}

/* Names gathered for an open directory, and the keys of its files (kept
 * for attribute prefetch: best effort, ENOMEM just skips one). */
struct fs_listing {
	struct fs_dir *d;
	struct fs_seen *seen;
	const char *dkey;
	char **files;
	size_t n_files, cap_files;
};

/* Free the file keys gathered, when no prefetch takes them. */
static void fs_listing_free_files(struct fs_listing *ls)
{
	for (size_t k = 0; k < ls->n_files; k++)
		free(ls->files[k]);
	free(ls->files);
	ls->files = NULL;
	ls->n_files = ls->cap_files = 0;
}

static void fs_listing_file(struct fs_listing *ls, const char *name)
{
	if (ls->n_files == ls->cap_files) {
		char **grown = realloc(ls->files, (ls->cap_files * 2 + 64) * sizeof(*grown));

		if (!grown)
			return;
		ls->files = grown;
		ls->cap_files = ls->cap_files * 2 + 64;
	}
	if (asprintf(&ls->files[ls->n_files], "%s%s", ls->dkey, name) >= 0)
		ls->n_files++;
}

/* A name of the listing; files whose attributes it lacks are HEADed ahead
 * of ls -l (prefetch). */
static int fs_listing_add(struct fs_listing *ls, const char *name, size_t len, mode_t type,
			  bool has_meta)
{
	int rc = fs_dir_add_once(ls->d, &ls->seen, name, len, type);

	if (!rc && S_ISREG(type) && !name[len] && !has_meta)
		fs_listing_file(ls, name);
	return rc;
}

static int fs_listing_add_cached(void *ctx, const char *name, const struct dircache_entry *e)
{
	return fs_listing_add(ctx, name, strlen(name), e->type, e->has_meta);
}

/* List dkey from the store into ls, and into fill for the cache. */
static int fs_listing_fetch(struct fs *fs, struct fs_listing *ls, struct dircache_fill *fill)
{
	size_t k, plen = strlen(ls->dkey);
	char *token = NULL;
	int rc = 0;

	while (!rc) {
		struct store_list l;

		rc = cache_list(fs->cache, ls->dkey, "/", token, 0, &l);
		free(token);
		token = NULL;
		if (rc)
			break;
		/* Objects first: a file and a directory of one name show as
		 * the file, as lookup resolves them. */
		for (k = 0; k < l.n_objects && !rc; k++) {
			const struct store_list_entry *o = &l.objects[k];
			const char *name = o->key + plen;
			struct dircache_entry e = {.type = o->folder ? S_IFDIR : S_IFREG,
						   .listed = !o->folder,
						   .size = o->folder ? 0 : o->size,
						   .mtime = o->last_modified,
						   .has_meta = o->has_meta,
						   .meta = o->meta};

			if (fs_dir_skip(name, strlen(name)) || strchr(name, '/'))
				continue;
			if (!o->folder)
				memcpy(e.etag, o->etag, sizeof(e.etag));
			rc = fs_listing_add(ls, name, strlen(name), e.type, o->has_meta);
			if (!rc)
				rc = dircache_fill_add(fill, name, strlen(name), &e);
		}
		for (k = 0; k < l.n_prefixes && !rc; k++) {
			const char *name = l.prefixes[k] + plen;
			size_t len = strlen(name);

			if (len && name[len - 1] == '/')
				len--;
			if (!len || memchr(name, '/', len))
				continue;
			rc = fs_listing_add(ls, name, len, S_IFDIR, false);
			if (!rc)
				rc = dircache_fill_add(fill, name, len,
						       &(struct dircache_entry){.type = S_IFDIR});
		}
		if (!rc && l.next_token) {
			token = strdup(l.next_token);
			if (!token)
				rc = -ENOMEM;
		}
		store_list_free(&l);
		if (!token)
			break;
	}
	return rc;
}

/* The names of directory ino (key ls->dkey) into ls: from its fresh
 * listing, else listed from the store into the cache, with the files
 * created here and not uploaded yet. */
static int fs_listing_gather(struct fs *fs, fuse_ino_t ino, struct fs_listing *ls)
{
	struct dircache_fill *fill = NULL;
	struct fs_seen *s, *stmp;
	struct inode *di, *i, *tmp;
	int rc;

	/* A fresh listing answers without a request. */
	rc = dircache_each(fs->dircache, ls->dkey, fs_listing_add_cached, ls);
	if (rc == -ENOENT) {
		fill = dircache_begin(fs->dircache, ls->dkey);
		rc = fs_listing_fetch(fs, ls, fill);
	}
	/* Files created here and not uploaded yet. */
	pthread_mutex_lock(&fs->lock);
	di = inode_get(&fs->table, ino);
	HASH_ITER(hh, fs->table.by_ino, i, tmp)
	{
		if (rc || !di || i->parent != di || !i->local || i->unlinked)
			continue;
		rc = fs_dir_add_once(ls->d, &ls->seen, i->name, strlen(i->name), i->mode & S_IFMT);
		if (!rc)
			rc = dircache_fill_add(fill, i->name, strlen(i->name),
					       &(struct dircache_entry){.type = i->mode & S_IFMT});
	}
	pthread_mutex_unlock(&fs->lock);
	if (rc)
		dircache_abort(fill);
	else
		dircache_commit(fs->dircache, fill);
	HASH_ITER(hh, ls->seen, s, stmp)
	{
		HASH_DEL(ls->seen, s);
		free(s);
	}
	return rc;
}

/* List directory parent (key dkey) again into the cache, for lookups. */
static void fs_listing_refresh(struct fs *fs, fuse_ino_t parent, const char *dkey)
{
	struct fs_listing ls = {.dkey = dkey};

	ls.d = calloc(1, sizeof(*ls.d));
	if (!ls.d)
		return;
	fs_listing_gather(fs, parent, &ls); /* failed: lookups ask the store */
	fs_listing_free_files(&ls);
	fs_dir_free(ls.d);
}

static void fs_opendir(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct fs *fs = fs_of(req);
	struct fs_listing ls = {0};
	struct inode *di;
	struct buf dkey;
	int rc;

	buf_init(&dkey, 8192);
	ls.d = calloc(1, sizeof(*ls.d));
	if (!ls.d) {
		fuse_reply_err(req, ENOMEM);
		return;
	}
	pthread_mutex_lock(&fs->lock);
	di = inode_get(&fs->table, ino);
	rc = !di ? -ENOENT : !S_ISDIR(di->mode) ? -ENOTDIR : inode_dir_key(di, fs->prefix, &dkey);
	pthread_mutex_unlock(&fs->lock);
	ls.dkey = dkey.data;
	if (!rc)
		rc = fs_dir_add(ls.d, ".", 1, S_IFDIR);
	if (!rc)
		rc = fs_dir_add(ls.d, "..", 2, S_IFDIR);
	if (!rc)
		rc = fs_listing_gather(fs, ino, &ls);
	/* With list_attrs the listing has the attributes: no HEADs to run. */
	if (fs->conf.list_attrs)
		fs_listing_free_files(&ls);
	else
		prefetch_listing(fs->prefetch, ino, ls.files, ls.n_files);
	if (!rc && !(ls.d->dkey = buf_steal(&dkey)))
		rc = -ENOMEM;
	buf_free(&dkey);
	if (rc) {
		fs_dir_free(ls.d);
		fuse_reply_err(req, -rc);
		return;
	}
	/* The kernel drops a releasedir still queued at unmount. */
	pthread_mutex_lock(&fs->lock);
	DL_APPEND(fs->dirs_open, ls.d);
	pthread_mutex_unlock(&fs->lock);
	fi->fh = (uint64_t)(uintptr_t)ls.d;
	fuse_reply_open(req, fi);
}

static void fs_readdir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
		       struct fuse_file_info *fi)
{
	struct fs_dir *d = (struct fs_dir *)(uintptr_t)fi->fh;
	char *out = malloc(size ? size : 1);
	size_t pos = 0, k;

	(void)ino;
	if (!out) {
		fuse_reply_err(req, ENOMEM);
		return;
	}
	for (k = (size_t)off; k < d->n; k++) {
		struct stat st = {.st_ino = FS_UNKNOWN_INO, .st_mode = d->ents[k].type};
		size_t n = fuse_add_direntry(req, out + pos, size - pos, d->ents[k].name, &st,
					     (off_t)(k + 1));

		if (n > size - pos)
			break;
		pos += n;
	}
	fuse_reply_buf(req, out, pos);
	free(out);
}

/*
 * The entry of a listed name for readdirplus: from an inode we hold, or
 * from the listing when it carries attributes (Azure, or list_attrs);
 * otherwise none (ino 0), and the kernel looks the name up itself. The
 * lookup count is the caller's to take, once the entry fits. fs->lock held.
 */
static void fs_plus_entry(struct fs *fs, fuse_ino_t parent, const struct fs_dir *d,
			  const struct fs_dirent *de, struct fuse_entry_param *e)
{
	struct inode *p = inode_get(&fs->table, parent), *i;
	struct dircache_entry c;
	struct fs_remote r;

	memset(e, 0, sizeof(*e));
	e->attr.st_ino = FS_UNKNOWN_INO;
	e->attr.st_mode = de->type;
	if (!p || !strcmp(de->name, ".") || !strcmp(de->name, ".."))
		return;
	i = inode_find(&fs->table, p, de->name);
	if (i && (i->local || i->open_count)) {
		fs_entry_of(fs, i, e);
		return;
	}
	if (dircache_lookup(fs->dircache, d->dkey, de->name, &c) != 1 ||
	    !((fs->conf.list_attrs && (c.listed || S_ISDIR(c.type))) ||
	      (c.has_meta && (c.listed || c.meta.folder))))
		return;
	fs_remote_from_listing(fs, &c, &r);
	i = inode_obtain(&fs->table, p, de->name);
	if (!i)
		return;
	if (!i->local && !i->open_count)
		fs_apply_remote(i, &r);
	fs_entry_of(fs, i, e);
}

/* readdir with attributes: ls -l needs no lookup per name where the
 * listing had them. */
static void fs_readdirplus(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
			   struct fuse_file_info *fi)
{
	struct fs *fs = fs_of(req);
	struct fs_dir *d = (struct fs_dir *)(uintptr_t)fi->fh;
	char *out = malloc(size ? size : 1);
	size_t pos = 0, k;

	if (!out) {
		fuse_reply_err(req, ENOMEM);
		return;
	}
	pthread_mutex_lock(&fs->lock);
	for (k = (size_t)off; k < d->n; k++) {
		struct fuse_entry_param e;
		size_t n;

		fs_plus_entry(fs, ino, d, &d->ents[k], &e);
		n = fuse_add_direntry_plus(req, out + pos, size - pos, d->ents[k].name, &e,
					   (off_t)(k + 1));
		if (n > size - pos)
			break;
		pos += n;
		/* In the reply: the kernel holds a lookup of it now. */
		if (e.ino) {
			struct inode *i = inode_get(&fs->table, e.ino);

			if (i)
				i->nlookup++;
		}
	}
	pthread_mutex_unlock(&fs->lock);
	fuse_reply_buf(req, out, pos);
	free(out);
}

static void fs_releasedir(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct fs *fs = fs_of(req);
	struct fs_dir *d = (struct fs_dir *)(uintptr_t)fi->fh;

	(void)ino;
	pthread_mutex_lock(&fs->lock);
	DL_DELETE(fs->dirs_open, d);
	pthread_mutex_unlock(&fs->lock);
	fs_dir_free(d);
	fuse_reply_err(req, 0);
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

#define FS_STATS_XATTR "user.bucketfs.stats"

static void fs_reply_xattr(fuse_req_t req, const char *value, size_t len, size_t size)
{
	if (!size)
		fuse_reply_xattr(req, len);
	else if (size < len)
		fuse_reply_err(req, ERANGE);
	else
		fuse_reply_buf(req, value, len);
}

/*
 * A presigned URL for a file: user.bucketfs.url (GET, url_expires=), or
 * user.bucketfs.presign.{get,put}.SECONDS for `bucketfs presign`. Errors
 * are what that command tells apart: EINVAL (expiry beyond the store's
 * limit), ENOTSUP (credentials that cannot sign), EISDIR, ENODATA.
 */
static void fs_url_xattr(fuse_req_t req, fuse_ino_t ino, const char *name, size_t size)
{
	struct fs *fs = fs_of(req);
	const char *spec = NULL;
	unsigned long long secs = fs->conf.url_expires;
	char *url = NULL, *why = NULL, *end;
	bool put = false;
	struct inode *i;
	struct buf key;
	int rc;

	if (!strncmp(name, PRESIGN_XATTR_PREFIX, strlen(PRESIGN_XATTR_PREFIX))) {
		spec = name + strlen(PRESIGN_XATTR_PREFIX);
		put = !strncmp(spec, "put.", 4);
		if (!put && strncmp(spec, "get.", 4)) {
			fuse_reply_err(req, ENODATA);
			return;
		}
		errno = 0;
		secs = strtoull(spec + 4, &end, 10);
		if (errno || *end || !secs || secs > UINT_MAX) {
			fuse_reply_err(req, EINVAL);
			return;
		}
	}
	buf_init(&key, 8192);
	pthread_mutex_lock(&fs->lock);
	i = inode_get(&fs->table, ino);
	rc = !i ? -ENOENT : S_ISDIR(i->mode) ? -EISDIR : inode_key(i, fs->prefix, &key);
	pthread_mutex_unlock(&fs->lock);
	if (!rc)
		rc = cache_presign(fs->cache, key.data, put, (unsigned int)secs, &url, &why);
	if (rc && why)
		log_info("URL for %s: %s", key.data ? key.data : "?", why);
	if (rc)
		fuse_reply_err(req, -rc);
	else
		fs_reply_xattr(req, url, strlen(url), size);
	free(url);
	free(why);
	buf_free(&key);
}

/*
 * The root carries the counters, readable with getfattr -n user.bucketfs.stats.
 * Other namespaces (security., system., trusted.) are not kept: ENOTSUP
 * says so, and ls -l then stops asking for SELinux labels and ACLs on this
 * mount, where ENODATA cost it two round trips to the daemon per file.
 */
static void fs_getxattr(fuse_req_t req, fuse_ino_t ino, const char *name, size_t size)
{
	struct buf b;

	if (strncmp(name, "user.", 5)) {
		fuse_reply_err(req, ENOTSUP);
		return;
	}
	if (!strcmp(name, PRESIGN_URL_XATTR) ||
	    !strncmp(name, PRESIGN_XATTR_PREFIX, strlen(PRESIGN_XATTR_PREFIX))) {
		fs_url_xattr(req, ino, name, size);
		return;
	}
	if (ino != FUSE_ROOT_ID || strcmp(name, FS_STATS_XATTR)) {
		fuse_reply_err(req, ENODATA);
		return;
	}
	buf_init(&b, 1 << 20);
	if (metrics_format(&b))
		fuse_reply_err(req, ENOMEM);
	else
		fs_reply_xattr(req, b.data, b.len, size);
	buf_free(&b);
}

static void fs_listxattr(fuse_req_t req, fuse_ino_t ino, size_t size)
{
	/* user.bucketfs.url is not listed: cp -a and rsync -X would copy it. */
	static const char names[] = FS_STATS_XATTR;

	fs_reply_xattr(req, names, ino == FUSE_ROOT_ID ? sizeof(names) : 0, size);
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
