/*
 * The catalog view daemon: a FUSE filesystem whose root lists the buckets of
 * BASE/view and whose /NAME/... passes through to the bucket's own bucketfs
 * mount at BASE/b/NAME. The view file is re-read when it changes, so the
 * plugin adds and removes buckets under a running pod. A bucket shown
 * read-only refuses writes here as well as in its own mount.
 */
#include "view.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <fuse.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "buf.h"
#include "fuse_workers.h"

struct view_entry {
	char *name;
	bool ro;
};

static struct view {
	char *base;
	char *view_path;
	pthread_mutex_t lock;
	struct timespec mtime;
	struct view_entry *entries;
	size_t n;
} V = {.lock = PTHREAD_MUTEX_INITIALIZER};

/* Re-read the view file if it changed; caller holds V.lock. */
static void view_refresh(void)
{
	struct stat st;
	FILE *f;
	char line[512];

	if (stat(V.view_path, &st) || (st.st_mtim.tv_sec == V.mtime.tv_sec &&
				       st.st_mtim.tv_nsec == V.mtime.tv_nsec && V.entries))
		return;
	f = fopen(V.view_path, "re");
	if (!f)
		return;
	for (size_t i = 0; i < V.n; i++)
		free(V.entries[i].name);
	V.n = 0;
	while (fgets(line, sizeof(line), f)) {
		char *tab = strchr(line, '\t');
		struct view_entry *grown;

		/* "no": a bucket the pod may not see, listed for the plugin. */
		if (!tab || !strncmp(tab + 1, "no", 2) ||
		    !(grown = realloc(V.entries, (V.n + 1) * sizeof(*grown))))
			continue;
		V.entries = grown;
		*tab = '\0';
		grown[V.n].name = strdup(line);
		grown[V.n].ro = !strncmp(tab + 1, "ro", 2);
		if (grown[V.n].name)
			V.n++;
	}
	fclose(f);
	V.mtime = st.st_mtim;
}

/* How a path of ours resolves. */
struct view_path {
	bool root; /* "/" */
	bool top;  /* "/NAME": the bucket's own directory */
	bool ro;   /* the bucket is shown read-only */
	char bucket[256];
	char real[4096]; /* BASE/b/NAME/rest */
};

static int view_resolve(const char *path, struct view_path *vp)
{
	const char *name = path + 1, *rest = strchr(name, '/');
	size_t len = rest ? (size_t)(rest - name) : strlen(name);
	int found = -1;

	memset(vp, 0, sizeof(*vp));
	if (!*name) {
		vp->root = true;
		return 0;
	}
	if (len >= sizeof(vp->bucket))
		return -ENOENT;
	memcpy(vp->bucket, name, len);
	pthread_mutex_lock(&V.lock);
	view_refresh();
	for (size_t i = 0; i < V.n; i++)
		if (!strcmp(V.entries[i].name, vp->bucket)) {
			found = (int)i;
			vp->ro = V.entries[i].ro;
		}
	pthread_mutex_unlock(&V.lock);
	if (found < 0)
		return -ENOENT;
	vp->top = !rest || !rest[1];
	if ((size_t)snprintf(vp->real, sizeof(vp->real), "%s/b/%s%s", V.base, vp->bucket,
			     rest ? rest : "") >= sizeof(vp->real))
		return -ENAMETOOLONG;
	return 0;
}

/* Resolve for a change: the root and the bucket directories themselves are
 * the catalog's, and a read-only bucket refuses. */
static int view_resolve_write(const char *path, struct view_path *vp, bool allow_top)
{
	int rc = view_resolve(path, vp);

	/* A new name at the root would be a new bucket: not ours to make. */
	if (rc == -ENOENT && !strchr(path + 1, '/'))
		return -EPERM;
	if (rc)
		return rc;
	if (vp->root || (vp->top && !allow_top))
		return -EPERM;
	return vp->ro ? -EROFS : 0;
}

static int view_errno(int rc)
{
	return rc < 0 ? -errno : rc;
}

/* Give what a pod's process creates to that process's owner: the bucket
 * mounts below see only us (root). */
static void view_own(const char *real, int fd)
{
	struct fuse_context *ctx = fuse_get_context();

	if (!ctx || ctx->uid == 0)
		return;
	if (fd >= 0 ? fchown(fd, ctx->uid, ctx->gid) : lchown(real, ctx->uid, ctx->gid))
		return; /* the object is there; its owner stays the default */
}

static int view_getattr(const char *path, struct stat *st, struct fuse_file_info *fi)
{
	struct view_path vp;
	int rc;

	if (fi)
		return view_errno(fstat((int)fi->fh, st));
	if ((rc = view_resolve(path, &vp)))
		return rc;
	if (vp.root) {
		memset(st, 0, sizeof(*st));
		st->st_mode = S_IFDIR | 0555;
		st->st_nlink = 2;
		st->st_mtim = V.mtime;
		st->st_ctim = V.mtime;
		return 0;
	}
	return view_errno(lstat(vp.real, st));
}

static int view_readdir(const char *path, void *buf, fuse_fill_dir_t fill, off_t off,
			struct fuse_file_info *fi, enum fuse_readdir_flags flags)
{
	struct view_path vp;
	struct dirent *e;
	DIR *d;
	int rc;

	(void)off;
	(void)fi;
	(void)flags;
	if ((rc = view_resolve(path, &vp)))
		return rc;
	if (vp.root) {
		fill(buf, ".", NULL, 0, 0);
		fill(buf, "..", NULL, 0, 0);
		pthread_mutex_lock(&V.lock);
		view_refresh();
		for (size_t i = 0; i < V.n; i++)
			fill(buf, V.entries[i].name, NULL, 0, 0);
		pthread_mutex_unlock(&V.lock);
		return 0;
	}
	if (!(d = opendir(vp.real)))
		return -errno;
	while ((e = readdir(d))) {
		struct stat st = {.st_ino = e->d_ino, .st_mode = (mode_t)DTTOIF(e->d_type)};

		if (fill(buf, e->d_name, &st, 0, 0))
			break;
	}
	closedir(d);
	return 0;
}

static int view_open(const char *path, struct fuse_file_info *fi)
{
	struct view_path vp;
	bool writes = (fi->flags & O_ACCMODE) != O_RDONLY || (fi->flags & O_TRUNC);
	int rc = writes ? view_resolve_write(path, &vp, false) : view_resolve(path, &vp), fd;

	if (rc)
		return rc;
	fd = open(vp.real, fi->flags & ~O_CREAT);
	if (fd < 0)
		return -errno;
	fi->fh = (uint64_t)fd;
	return 0;
}

static int view_create(const char *path, mode_t mode, struct fuse_file_info *fi)
{
	struct view_path vp;
	int rc = view_resolve_write(path, &vp, false), fd;

	if (rc)
		return rc;
	fd = open(vp.real, fi->flags | O_CREAT, mode);
	if (fd < 0)
		return -errno;
	view_own(vp.real, fd);
	fi->fh = (uint64_t)fd;
	return 0;
}

static int view_read(const char *path, char *buf, size_t size, off_t off, struct fuse_file_info *fi)
{
	ssize_t n = pread((int)fi->fh, buf, size, off);

	(void)path;
	return n < 0 ? -errno : (int)n;
}

static int view_write(const char *path, const char *buf, size_t size, off_t off,
		      struct fuse_file_info *fi)
{
	ssize_t n = pwrite((int)fi->fh, buf, size, off);

	(void)path;
	return n < 0 ? -errno : (int)n;
}

/* close() of a duplicate makes the bucket's mount flush (upload) now and
 * report its error to this close(), as the application expects. */
static int view_flush(const char *path, struct fuse_file_info *fi)
{
	int fd = dup((int)fi->fh);

	(void)path;
	if (fd < 0)
		return -errno;
	return view_errno(close(fd));
}

static int view_release(const char *path, struct fuse_file_info *fi)
{
	(void)path;
	close((int)fi->fh);
	return 0;
}

static int view_fsync(const char *path, int datasync, struct fuse_file_info *fi)
{
	(void)path;
	return view_errno(datasync ? fdatasync((int)fi->fh) : fsync((int)fi->fh));
}

static int view_truncate(const char *path, off_t size, struct fuse_file_info *fi)
{
	struct view_path vp;
	int rc = view_resolve_write(path, &vp, false);

	if (rc)
		return rc;
	return view_errno(fi ? ftruncate((int)fi->fh, size) : truncate(vp.real, size));
}

static int view_unlink(const char *path)
{
	struct view_path vp;
	int rc = view_resolve_write(path, &vp, false);

	return rc ? rc : view_errno(unlink(vp.real));
}

static int view_rmdir(const char *path)
{
	struct view_path vp;
	int rc = view_resolve_write(path, &vp, false);

	return rc ? rc : view_errno(rmdir(vp.real));
}

static int view_mkdir(const char *path, mode_t mode)
{
	struct view_path vp;
	int rc = view_resolve_write(path, &vp, false);

	if (rc || (rc = view_errno(mkdir(vp.real, mode))))
		return rc;
	view_own(vp.real, -1);
	return 0;
}

static int view_symlink(const char *to, const char *path)
{
	struct view_path vp;
	int rc = view_resolve_write(path, &vp, false);

	if (rc || (rc = view_errno(symlink(to, vp.real))))
		return rc;
	view_own(vp.real, -1);
	return 0;
}

static int view_readlink(const char *path, char *buf, size_t size)
{
	struct view_path vp;
	int rc = view_resolve(path, &vp);
	ssize_t n;

	if (rc)
		return rc;
	if (vp.root || size == 0)
		return -EINVAL;
	n = readlink(vp.real, buf, size - 1);
	if (n < 0)
		return -errno;
	buf[n] = '\0';
	return 0;
}

static int view_rename(const char *from, const char *to, unsigned int flags)
{
	struct view_path a, b;
	int rc = view_resolve_write(from, &a, false);

	if (rc || (rc = view_resolve_write(to, &b, false)))
		return rc;
	if (strcmp(a.bucket, b.bucket))
		return -EXDEV; /* two buckets: mv copies, as across filesystems */
	return view_errno(renameat2(AT_FDCWD, a.real, AT_FDCWD, b.real, flags));
}

static int view_link(const char *from, const char *to)
{
	(void)from;
	(void)to;
	return -EPERM; /* object stores have no hard links */
}

static int view_chmod(const char *path, mode_t mode, struct fuse_file_info *fi)
{
	struct view_path vp;
	int rc = view_resolve_write(path, &vp, false);

	if (rc)
		return rc;
	return view_errno(fi ? fchmod((int)fi->fh, mode) : chmod(vp.real, mode));
}

static int view_chown(const char *path, uid_t uid, gid_t gid, struct fuse_file_info *fi)
{
	struct view_path vp;
	int rc = view_resolve_write(path, &vp, false);

	if (rc)
		return rc;
	return view_errno(fi ? fchown((int)fi->fh, uid, gid) : lchown(vp.real, uid, gid));
}

static int view_utimens(const char *path, const struct timespec tv[2], struct fuse_file_info *fi)
{
	struct view_path vp;
	int rc = view_resolve_write(path, &vp, false);

	if (rc)
		return rc;
	return view_errno(fi ? futimens((int)fi->fh, tv)
			     : utimensat(AT_FDCWD, vp.real, tv, AT_SYMLINK_NOFOLLOW));
}

static int view_statfs(const char *path, struct statvfs *st)
{
	struct view_path vp;
	int rc = view_resolve(path, &vp);

	if (rc)
		return rc;
	return view_errno(statvfs(vp.root ? V.base : vp.real, st));
}

static int view_getxattr(const char *path, const char *name, char *value, size_t size)
{
	struct view_path vp;
	int rc = view_resolve(path, &vp);
	ssize_t n;

	if (rc)
		return rc;
	if (vp.root)
		return -ENODATA;
	n = lgetxattr(vp.real, name, value, size);
	return n < 0 ? -errno : (int)n;
}

static int view_listxattr(const char *path, char *list, size_t size)
{
	struct view_path vp;
	int rc = view_resolve(path, &vp);
	ssize_t n;

	if (rc)
		return rc;
	if (vp.root)
		return 0;
	n = llistxattr(vp.real, list, size);
	return n < 0 ? -errno : (int)n;
}

static void *view_init(struct fuse_conn_info *conn, struct fuse_config *cfg)
{
	(void)conn;
	/* The bucket mounts below keep their own caches and timeouts; ours
	 * stay short so a bucket leaving the view is seen at once. */
	cfg->entry_timeout = 1;
	cfg->attr_timeout = 1;
	cfg->negative_timeout = 0;
	cfg->use_ino = 0;
	return NULL;
}

static const struct fuse_operations view_ops = {
	.init = view_init,
	.getattr = view_getattr,
	.readdir = view_readdir,
	.open = view_open,
	.create = view_create,
	.read = view_read,
	.write = view_write,
	.flush = view_flush,
	.release = view_release,
	.fsync = view_fsync,
	.truncate = view_truncate,
	.unlink = view_unlink,
	.rmdir = view_rmdir,
	.mkdir = view_mkdir,
	.symlink = view_symlink,
	.readlink = view_readlink,
	.rename = view_rename,
	.link = view_link,
	.chmod = view_chmod,
	.chown = view_chown,
	.utimens = view_utimens,
	.statfs = view_statfs,
	.getxattr = view_getxattr,
	.listxattr = view_listxattr,
};

int view_main(const char *base, const char *target, bool foreground)
{
	char *args[] = {"bucketfs-csi", "-o",
			"allow_other,default_permissions,fsname=bucketfs-catalog,subtype=bucketfs",
			NULL};
	struct fuse_args fa = FUSE_ARGS_INIT(3, args);
	struct fuse *f;
	int rc = 1;

	V.base = strdup(base);
	V.view_path = str_printf("%s/view", base);
	if (!V.base || !V.view_path)
		return 1;
	pthread_mutex_lock(&V.lock);
	view_refresh();
	pthread_mutex_unlock(&V.lock);
	f = fuse_new(&fa, &view_ops, sizeof(view_ops), NULL);
	if (!f) {
		fprintf(stderr, "bucketfs-csi view: cannot set up FUSE\n");
		return 1;
	}
	if (fuse_mount(f, target)) {
		fprintf(stderr, "bucketfs-csi view: cannot mount %s\n", target);
		fuse_destroy(f);
		return 1;
	}
	if (!fuse_daemonize(foreground) && !fuse_set_signal_handlers(fuse_get_session(f))) {
		/* The view sets no "remember": the session loop is all of
		 * fuse_loop_mt it needs. */
		rc = fuse_workers_run(fuse_get_session(f), 10, 10) ? 1 : 0;
		fuse_remove_signal_handlers(fuse_get_session(f));
	}
	fuse_unmount(f);
	fuse_destroy(f);
	fuse_opt_free_args(&fa);
	return rc;
}
