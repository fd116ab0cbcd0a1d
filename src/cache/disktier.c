/*
 * The disk tier (see disktier.h). Each block file has an index entry, in
 * one of three states:
 *
 *   WRITING  reserved: its data is on its way to a temp file, then renamed
 *            under its name. Not readable. disktier_forget sets
 *            `forgotten`, which makes the writer delete it, not publish it.
 *   READY    whole under its name; on the LRU, readable.
 *   DOOMED   on the doomed list: the next disktier_sweep unlinks the file,
 *            then frees the entry.
 *
 * An entry stays in the index until its file is gone, and each state has
 * one owner (the writer, the index, the sweeper), so a name is never
 * written by two threads, nor renamed into while being deleted. `used`
 * counts READY and DOOMED files, and WRITING ones once their writer has
 * made room for them: it never exceeds the cap, nor do the files on disk.
 * Readers open READY files without the lock: a file deleted or replaced
 * meanwhile is still read whole (from the inode they opened), or missed.
 */
#include "disktier.h"

#include <dirent.h>
#include <endian.h>
#include <errno.h>
#include <fcntl.h>
#include <openssl/evp.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>
#include <uthash.h>

#include "fsutil.h"
#include "log.h"

#define DT_MAGIC    "bfsblk1\n"
#define DT_NAME_LEN 32			      /* SHA-256 */
#define DT_REL_LEN  (3 + 2 * DT_NAME_LEN + 1) /* "xx/<hex>" */
#define DT_OBJ_MAX  (64u << 10)		      /* longest "key\netag" in a file */

enum dt_state { DT_WRITING, DT_READY, DT_DOOMED };

struct disktier_block {
	UT_hash_handle hh;
	unsigned char name[DT_NAME_LEN]; /* SHA-256("key\netag\nindex") */
	uint64_t key_hash;		 /* for forget: a collision only drops a block too many */
	uint64_t size;			 /* of the file, header included */
	size_t len;			 /* of the data */
	uint64_t idx;
	enum dt_state state;
	bool forgotten;			    /* WRITING: delete, do not publish */
	struct disktier_block *prev, *next; /* READY: LRU, most recent first */
	struct disktier_block *doomed_next; /* DOOMED */
};

/* Each file: this header (little-endian), obj_len bytes of "key\netag",
 * then len bytes of data. */
struct dt_header {
	char magic[8];
	uint64_t obj_len;
	uint64_t block_size; /* blocks of another size cover other ranges */
	uint64_t idx;
	uint64_t len;
	unsigned char sum[DT_NAME_LEN]; /* SHA-256 of the data */
};

struct disktier {
	pthread_mutex_t lock; /* never held across I/O: callers nest it in theirs */
	int dirfd;	      /* flock()ed: one process per directory */
	uint64_t cap;
	size_t block_size;
	struct disktier_block *index;  /* by name; protected by lock, as all below */
	struct disktier_block lru;     /* sentinel */
	struct disktier_block *doomed; /* files to unlink */
	uint64_t used;
	uint64_t evicted_blocks;
	unsigned int tmp_seq; /* temp file names */
	bool warned;	      /* about a failed write, once */
};

static uint64_t fnv1a(const char *s, size_t n)
{
	uint64_t h = 1469598103934665603ULL;

	for (size_t i = 0; i < n; i++) {
		h ^= (unsigned char)s[i];
		h *= 1099511628211ULL;
	}
	return h;
}

/* The key of "key\netag": keys may hold newlines, ETags do not. */
static uint64_t obj_key_hash(const char *obj, size_t obj_len)
{
	const char *nl = memrchr(obj, '\n', obj_len);

	return fnv1a(obj, nl ? (size_t)(nl - obj) : obj_len);
}

static int block_name(const char *obj, uint64_t idx, unsigned char name[DT_NAME_LEN])
{
	size_t max = strlen(obj) + 24;
	char *s = malloc(max);
	int n, rc = 0;

	if (!s)
		return -ENOMEM;
	n = snprintf(s, max, "%s\n%llu", obj, (unsigned long long)idx);
	if (!EVP_Digest(s, (size_t)n, name, NULL, EVP_sha256(), NULL))
		rc = -ENOMEM;
	free(s);
	return rc;
}

static char *put_hex(char *p, unsigned char byte)
{
	static const char hex[] = "0123456789abcdef";

	*p++ = hex[byte >> 4];
	*p++ = hex[byte & 15];
	return p;
}

/* The file's path relative to the directory: "xx/<64 hex digits>", xx
 * the first byte. */
static void block_rel(const unsigned char name[DT_NAME_LEN], char rel[DT_REL_LEN])
{
	char *p = put_hex(rel, name[0]);

	*p++ = '/';
	for (int i = 0; i < DT_NAME_LEN; i++)
		p = put_hex(p, name[i]);
	*p = '\0';
}

static bool data_sum(const void *data, size_t len, unsigned char sum[DT_NAME_LEN])
{
	return EVP_Digest(data, len, sum, NULL, EVP_sha256(), NULL);
}

static void lru_unlink(struct disktier_block *e)
{
	if (e->prev) {
		e->prev->next = e->next;
		e->next->prev = e->prev;
		e->prev = e->next = NULL;
	}
}

static void lru_push(struct disktier *d, struct disktier_block *e)
{
	e->next = d->lru.next;
	e->prev = &d->lru;
	d->lru.next->prev = e;
	d->lru.next = e;
}

static struct disktier_block *find(struct disktier *d, const unsigned char name[DT_NAME_LEN])
{
	struct disktier_block *e;

	HASH_FIND(hh, d->index, name, DT_NAME_LEN, e);
	return e;
}

/* Hand e's file to the next sweep. Called with the lock held. */
static void doom(struct disktier *d, struct disktier_block *e)
{
	lru_unlink(e);
	e->state = DT_DOOMED;
	e->doomed_next = d->doomed;
	d->doomed = e;
}

void disktier_sweep(struct disktier *d)
{
	struct disktier_block *list, *e, *next;
	char rel[DT_REL_LEN];

	pthread_mutex_lock(&d->lock);
	list = d->doomed;
	d->doomed = NULL;
	pthread_mutex_unlock(&d->lock);
	if (!list)
		return;
	for (e = list; e; e = e->doomed_next) {
		block_rel(e->name, rel);
		unlinkat(d->dirfd, rel, 0);
	}
	/* Only now may the names be reserved again. */
	pthread_mutex_lock(&d->lock);
	for (e = list; e; e = next) {
		next = e->doomed_next;
		HASH_DEL(d->index, e);
		d->used -= e->size;
		free(e);
	}
	pthread_mutex_unlock(&d->lock);
}

/* Count size more bytes in `used`, evicting the oldest blocks until they
 * fit. -ENOSPC if they cannot: the rest is being written or deleted. */
static int charge(struct disktier *d, uint64_t size)
{
	for (;;) {
		pthread_mutex_lock(&d->lock);
		if (d->used + size <= d->cap) {
			d->used += size;
			pthread_mutex_unlock(&d->lock);
			return 0;
		}
		if (d->lru.prev == &d->lru) {
			pthread_mutex_unlock(&d->lock);
			return -ENOSPC;
		}
		doom(d, d->lru.prev);
		d->evicted_blocks++;
		pthread_mutex_unlock(&d->lock);
		disktier_sweep(d);
	}
}

static void header_fill(const struct disktier *d, struct dt_header *h,
			const struct disktier_block *blk, size_t obj_len)
{
	memcpy(h->magic, DT_MAGIC, sizeof(h->magic));
	h->obj_len = htole64(obj_len);
	h->block_size = htole64(d->block_size);
	h->idx = htole64(blk->idx);
	h->len = htole64(blk->len);
}

/* Whether h, as read from a file of size bytes, is one of ours (it is
 * turned to host order). */
static bool header_valid(const struct disktier *d, struct dt_header *h, uint64_t size)
{
	if (size < sizeof(*h) || memcmp(h->magic, DT_MAGIC, sizeof(h->magic)))
		return false;
	h->obj_len = le64toh(h->obj_len);
	h->block_size = le64toh(h->block_size);
	h->idx = le64toh(h->idx);
	h->len = le64toh(h->len);
	return h->block_size == d->block_size && h->obj_len <= DT_OBJ_MAX &&
	       h->len <= d->block_size && size == sizeof(*h) + h->obj_len + h->len;
}

static int write_file(struct disktier *d, const struct disktier_block *blk, const char *obj,
		      const void *data, const char *path)
{
	size_t obj_len = strlen(obj);
	struct dt_header h;
	struct iovec iov[3] = {{&h, sizeof(h)}, {(void *)obj, obj_len}, {(void *)data, blk->len}};
	ssize_t n;
	int fd, rc = 0;

	header_fill(d, &h, blk, obj_len);
	if (!data_sum(data, blk->len, h.sum))
		return -ENOMEM;
	fd = openat(d->dirfd, path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (fd < 0)
		return -errno;
	n = writev(fd, iov, 3);
	if (n < 0)
		rc = -errno;
	else if ((uint64_t)n != blk->size)
		rc = -ENOSPC;
	if (close(fd) && !rc)
		rc = -errno;
	return rc;
}

static void write_failed(struct disktier *d, int rc)
{
	bool first;

	pthread_mutex_lock(&d->lock);
	first = !d->warned;
	d->warned = true;
	pthread_mutex_unlock(&d->lock);
	log_msg(first ? LOG_WARNING : LOG_DEBUG, "disk cache: cannot write a block: %s",
		strerror(-rc));
}

struct disktier_block *disktier_reserve(struct disktier *d, const char *obj, uint64_t idx,
					size_t len)
{
	size_t obj_len = strlen(obj);
	struct disktier_block *blk, *old;

	if (obj_len > DT_OBJ_MAX || sizeof(struct dt_header) + obj_len + len > d->cap)
		return NULL;
	blk = calloc(1, sizeof(*blk));
	if (!blk || block_name(obj, idx, blk->name)) {
		free(blk);
		return NULL;
	}
	blk->key_hash = obj_key_hash(obj, obj_len);
	blk->size = sizeof(struct dt_header) + obj_len + len;
	blk->len = len;
	blk->idx = idx;
	blk->state = DT_WRITING;
	pthread_mutex_lock(&d->lock);
	old = find(d, blk->name);
	if (old && old->state == DT_READY) {
		lru_unlink(old);
		lru_push(d, old);
	}
	if (!old)
		HASH_ADD(hh, d->index, name, DT_NAME_LEN, blk);
	pthread_mutex_unlock(&d->lock);
	if (old) {
		free(blk);
		return NULL;
	}
	return blk;
}

void disktier_cancel(struct disktier *d, struct disktier_block *blk)
{
	pthread_mutex_lock(&d->lock);
	HASH_DEL(d->index, blk);
	pthread_mutex_unlock(&d->lock);
	free(blk);
}

int disktier_write(struct disktier *d, struct disktier_block *blk, const char *obj,
		   const void *data)
{
	char rel[DT_REL_LEN], tmp[32];
	int rc = charge(d, blk->size);

	if (rc) {
		disktier_cancel(d, blk);
		return rc;
	}
	block_rel(blk->name, rel);
	/* Beside its name, so that a crash leaves a temp file for the next
	 * scan to delete, never half a block under the name. */
	snprintf(tmp, sizeof(tmp), "%.3s.tmp-%u", rel,
		 __atomic_fetch_add(&d->tmp_seq, 1, __ATOMIC_RELAXED));
	rc = write_file(d, blk, obj, data, tmp);
	if (!rc && renameat(d->dirfd, tmp, d->dirfd, rel))
		rc = -errno;
	if (rc) {
		unlinkat(d->dirfd, tmp, 0);
		write_failed(d, rc);
		pthread_mutex_lock(&d->lock);
		HASH_DEL(d->index, blk);
		d->used -= blk->size;
		pthread_mutex_unlock(&d->lock);
		free(blk);
		return rc;
	}
	pthread_mutex_lock(&d->lock);
	if (blk->forgotten) {
		doom(d, blk);
		pthread_mutex_unlock(&d->lock);
		disktier_sweep(d);
		return 0;
	}
	blk->state = DT_READY;
	lru_push(d, blk);
	pthread_mutex_unlock(&d->lock);
	return 0;
}

/* Read the open file of block idx of obj into dst: 0, or -EBADMSG if it
 * is not that block, whole and intact. */
static int read_file(const struct disktier *d, int fd, const char *obj, uint64_t idx, void *dst,
		     size_t cap, size_t *len)
{
	size_t obj_len = strlen(obj);
	unsigned char sum[DT_NAME_LEN], spare;
	struct dt_header h = {.len = 0}; /* a short read leaves no garbage */
	char *name = malloc(obj_len + 1);
	/* One more byte than the longest valid file: a longer one shows. */
	struct iovec iov[4] = {{&h, sizeof(h)}, {name, obj_len}, {dst, cap}, {&spare, 1}};
	ssize_t n;
	int rc = -EBADMSG;

	if (!name)
		return -ENOMEM;
	n = preadv(fd, iov, 4, 0);
	if (n < 0)
		rc = -errno;
	else if (header_valid(d, &h, (uint64_t)n) && h.obj_len == obj_len && h.idx == idx &&
		 h.len <= cap && !memcmp(name, obj, obj_len) && data_sum(dst, h.len, sum) &&
		 !memcmp(sum, h.sum, sizeof(sum)))
		rc = 0;
	if (!rc)
		*len = h.len;
	free(name);
	return rc;
}

/* The file of a READY entry is missing or bad: drop the entry. */
static void discard(struct disktier *d, const unsigned char name[DT_NAME_LEN])
{
	struct disktier_block *e;

	pthread_mutex_lock(&d->lock);
	e = find(d, name);
	if (e && e->state == DT_READY)
		doom(d, e);
	pthread_mutex_unlock(&d->lock);
	disktier_sweep(d);
}

int disktier_load(struct disktier *d, const char *obj, uint64_t idx, void *dst, size_t cap,
		  size_t *len)
{
	unsigned char name[DT_NAME_LEN];
	char rel[DT_REL_LEN];
	struct disktier_block *e;
	bool ready;
	int fd, rc;

	if (block_name(obj, idx, name))
		return -ENOENT;
	pthread_mutex_lock(&d->lock);
	e = find(d, name);
	ready = e && e->state == DT_READY;
	if (ready) {
		lru_unlink(e);
		lru_push(d, e);
	}
	pthread_mutex_unlock(&d->lock);
	if (!ready)
		return -ENOENT;
	block_rel(name, rel);
	fd = openat(d->dirfd, rel, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
	if (fd < 0) {
		discard(d, name);
		return -ENOENT;
	}
	rc = read_file(d, fd, obj, idx, dst, cap, len);
	if (!rc)
		futimens(fd, NULL); /* the LRU order outlives a remount */
	close(fd);
	if (rc && rc != -ENOMEM) {
		log_info("disk cache: deleting damaged block file %s", rel);
		discard(d, name);
	}
	return rc ? -ENOENT : 0;
}

bool disktier_has(struct disktier *d, const char *obj, uint64_t idx)
{
	unsigned char name[DT_NAME_LEN];
	struct disktier_block *e;
	bool ready;

	if (block_name(obj, idx, name))
		return false;
	pthread_mutex_lock(&d->lock);
	e = find(d, name);
	ready = e && e->state == DT_READY;
	pthread_mutex_unlock(&d->lock);
	return ready;
}

void disktier_forget(struct disktier *d, const char *key)
{
	uint64_t h = fnv1a(key, strlen(key));
	struct disktier_block *e, *tmp;

	pthread_mutex_lock(&d->lock);
	HASH_ITER(hh, d->index, e, tmp)
	{
		if (e->key_hash != h)
			continue;
		if (e->state == DT_WRITING)
			e->forgotten = true;
		else if (e->state == DT_READY)
			doom(d, e);
	}
	pthread_mutex_unlock(&d->lock);
}

void disktier_get_stats(struct disktier *d, struct disktier_stats *out)
{
	pthread_mutex_lock(&d->lock);
	out->used = d->used;
	out->evicted_blocks = d->evicted_blocks;
	pthread_mutex_unlock(&d->lock);
}

/* Block files found at create time, to be put on the LRU oldest first. */
struct scan {
	struct scan_item {
		struct disktier_block *blk;
		struct timespec mtime;
	} * items;
	size_t n, cap;
};

static int scan_add(struct scan *sc, struct disktier_block *blk, const struct stat *st)
{
	if (sc->n == sc->cap) {
		size_t cap = sc->cap ? 2 * sc->cap : 256;
		struct scan_item *p = realloc(sc->items, cap * sizeof(*p));

		if (!p)
			return -ENOMEM;
		sc->items = p;
		sc->cap = cap;
	}
	sc->items[sc->n++] = (struct scan_item){blk, st->st_mtim};
	return 0;
}

static int by_mtime(const void *a, const void *b)
{
	const struct timespec *x = &((const struct scan_item *)a)->mtime;
	const struct timespec *y = &((const struct scan_item *)b)->mtime;

	if (x->tv_sec != y->tv_sec)
		return x->tv_sec < y->tv_sec ? -1 : 1;
	return x->tv_nsec < y->tv_nsec ? -1 : x->tv_nsec > y->tv_nsec;
}

/*
 * The entry of block file fname in subdirectory sub, open as fd, or NULL
 * if it is not a block of ours under its right name. Checks the header
 * only: reading all the data would make a mount as slow as the cache is
 * large; disktier_load checks the rest.
 */
static struct disktier_block *scan_entry(const struct disktier *d, int fd, unsigned int sub,
					 const char *fname, const struct stat *st)
{
	struct disktier_block *blk = NULL;
	unsigned char name[DT_NAME_LEN];
	char rel[DT_REL_LEN], *obj;
	struct dt_header h;

	if (!S_ISREG(st->st_mode) || pread(fd, &h, sizeof(h), 0) != sizeof(h) ||
	    !header_valid(d, &h, (uint64_t)st->st_size))
		return NULL;
	obj = malloc(h.obj_len + 1);
	if (!obj)
		return NULL;
	if (pread(fd, obj, h.obj_len, sizeof(h)) != (ssize_t)h.obj_len ||
	    memchr(obj, '\0', h.obj_len))
		goto out_free_obj;
	obj[h.obj_len] = '\0';
	if (block_name(obj, h.idx, name))
		goto out_free_obj;
	block_rel(name, rel);
	if (name[0] != sub || strcmp(rel + 3, fname))
		goto out_free_obj;
	blk = calloc(1, sizeof(*blk));
	if (!blk)
		goto out_free_obj;
	memcpy(blk->name, name, sizeof(name));
	blk->key_hash = obj_key_hash(obj, h.obj_len);
	blk->size = (uint64_t)st->st_size;
	blk->len = h.len;
	blk->idx = h.idx;
	blk->state = DT_READY;
out_free_obj:
	free(obj);
	return blk;
}

/* Index fname of subdirectory sub if it is a valid block file, else
 * delete it: a temp file left by a crash, a torn or a foreign file. */
static int scan_file(struct disktier *d, int subfd, unsigned int sub, const char *fname,
		     struct scan *sc)
{
	struct disktier_block *blk = NULL;
	struct stat st;
	int fd = openat(subfd, fname, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);

	if (fd >= 0 && !fstat(fd, &st))
		blk = scan_entry(d, fd, sub, fname, &st);
	if (fd >= 0)
		close(fd);
	if (!blk) {
		unlinkat(subfd, fname, 0);
		return 0;
	}
	if (scan_add(sc, blk, &st)) {
		free(blk);
		return -ENOMEM;
	}
	HASH_ADD(hh, d->index, name, DT_NAME_LEN, blk);
	d->used += blk->size;
	return 0;
}

static int scan_subdir(struct disktier *d, unsigned int sub, struct scan *sc)
{
	char sname[3] = {0};
	DIR *dir;
	int fd, rc = 0;

	put_hex(sname, (unsigned char)sub);
	if (mkdirat(d->dirfd, sname, 0700) && errno != EEXIST)
		return -errno;
	fd = openat(d->dirfd, sname, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	dir = fdopendir(fd);
	if (!dir) {
		rc = -errno;
		close(fd);
		return rc;
	}
	while (!rc) {
		struct dirent *de = readdir(dir);

		if (!de)
			break;
		if (strcmp(de->d_name, ".") && strcmp(de->d_name, ".."))
			rc = scan_file(d, fd, sub, de->d_name, sc);
	}
	closedir(dir);
	return rc;
}

/* Index the block files of the 256 subdirectories (creating them), least
 * recently used (by mtime) last on the LRU. Called before any sharing. */
static int scan(struct disktier *d)
{
	struct scan sc = {0};
	int rc = 0;

	for (unsigned int sub = 0; sub < 256 && !rc; sub++)
		rc = scan_subdir(d, sub, &sc);
	if (sc.n)
		qsort(sc.items, sc.n, sizeof(*sc.items), by_mtime);
	for (size_t i = 0; i < sc.n; i++)
		lru_push(d, sc.items[i].blk);
	free(sc.items);
	return rc;
}

/* Create dir if need be, take it for this process alone, and check that
 * files can be created in it (a read-only mount fails here, not later). */
static int open_dir(struct disktier *d, const char *dir)
{
	int rc = fsutil_mkdir_p(dir), fd;

	if (rc)
		return rc;
	d->dirfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (d->dirfd < 0)
		return -errno;
	if (flock(d->dirfd, LOCK_EX | LOCK_NB))
		return errno == EWOULDBLOCK ? -EBUSY : -errno;
	fd = openat(d->dirfd, ".probe", O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0)
		return -errno;
	close(fd);
	return unlinkat(d->dirfd, ".probe", 0) ? -errno : 0;
}

int disktier_create(const char *dir, uint64_t cap, size_t block_size, struct disktier **out)
{
	struct disktier *d = calloc(1, sizeof(*d));
	int rc;

	if (!d)
		return -ENOMEM;
	pthread_mutex_init(&d->lock, NULL);
	d->dirfd = -1;
	d->cap = cap;
	d->block_size = block_size;
	d->lru.next = d->lru.prev = &d->lru;
	rc = open_dir(d, dir);
	if (!rc)
		rc = scan(d);
	if (rc) {
		disktier_destroy(d);
		return rc;
	}
	charge(d, 0); /* evicts down to the cap, which may have shrunk */
	log_info("disk cache %s: %u blocks, %llu MiB", dir, HASH_COUNT(d->index),
		 (unsigned long long)(d->used >> 20));
	*out = d;
	return 0;
}

void disktier_destroy(struct disktier *d)
{
	struct disktier_block *e, *tmp;

	if (!d)
		return;
	disktier_sweep(d);
	HASH_ITER(hh, d->index, e, tmp)
	{
		HASH_DEL(d->index, e);
		free(e);
	}
	if (d->dirfd >= 0)
		close(d->dirfd);
	pthread_mutex_destroy(&d->lock);
	free(d);
}
