/*
 * Directory listings: opendir takes the listing (cached in the dircache,
 * with the attributes a listing gives), readdir and readdirplus page
 * through it, and ls -l's HEADs start ahead of the kernel's lookups.
 */
#include "fs_priv.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <utlist.h>

#include "prefetch.h"
#include "store_meta.h"

#define FS_UNKNOWN_INO 0xffffffffu /* readdir: the kernel looks entries up itself */

void fs_dir_free(struct fs_dir *d)
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
void fs_listing_refresh(struct fs *fs, fuse_ino_t parent, const char *dkey)
{
	struct fs_listing ls = {.dkey = dkey};

	ls.d = calloc(1, sizeof(*ls.d));
	if (!ls.d)
		return;
	fs_listing_gather(fs, parent, &ls); /* failed: lookups ask the store */
	fs_listing_free_files(&ls);
	fs_dir_free(ls.d);
}

void fs_opendir(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
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

void fs_readdir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off, struct fuse_file_info *fi)
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
void fs_readdirplus(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
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

void fs_releasedir(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
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
