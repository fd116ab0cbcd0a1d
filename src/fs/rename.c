/*
 * rename: a file is copied and deleted; a directory, each key under it.
 */
#include "fs_priv.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "store_meta.h"

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

void fs_rename(fuse_req_t req, fuse_ino_t parent, const char *name, fuse_ino_t newparent,
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
