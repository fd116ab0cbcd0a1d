/*
 * Extended attributes: the counters on the root, and presigned URLs.
 */
#include "fs_priv.h"

#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "metrics.h"
#include "log.h"
#include "presign.h"
#include "store_meta.h"

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
void fs_getxattr(fuse_req_t req, fuse_ino_t ino, const char *name, size_t size)
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

void fs_listxattr(fuse_req_t req, fuse_ino_t ino, size_t size)
{
	/* user.bucketfs.url is not listed: cp -a and rsync -X would copy it. */
	static const char names[] = FS_STATS_XATTR;

	fs_reply_xattr(req, names, ino == FUSE_ROOT_ID ? sizeof(names) : 0, size);
}
