/*
 * A multithreaded random tester of the cache layer, in the manner of
 * s3backer's: threads write, read back, rename and remove files at random
 * over a shared in-memory store, each file's content a function of its
 * version, so that every read checks every byte. Operations on one key are
 * serialised as the fs layer serialises them on one inode (a per-key
 * rwlock: readers share, writers and renames exclude); everything below
 * (block cache, read-ahead, staging, part uploads on shared threads) runs
 * concurrently. Built and run under ThreadSanitizer by scripts/check.sh
 * (build-tsan), where it doubles as a race detector.
 */
#include <check.h>

#include "check_main.h"
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cache.h"

#define PS	 4096 /* block and part size */
#define KEYS	 12
#define WORKERS	 6
#define ROUNDS	 100
#define MAX_LEN	 (5 * PS + 333) /* past the multipart threshold */
#define MAX_PART 16

/* The store: objects by key, each with a version-derived ETag. */
struct obj {
	char key[16];
	unsigned char *data; /* NULL: absent */
	size_t len;
	unsigned long version;
};

struct store_upload {
	char key[16];
	unsigned char *parts[MAX_PART];
	size_t part_len[MAX_PART];
};

static pthread_mutex_t store_lock = PTHREAD_MUTEX_INITIALIZER;
static struct obj objs[2 * KEYS];  /* protected by store_lock */
static unsigned long next_version; /* protected by store_lock */

/* Called with store_lock held. */
static struct obj *obj_of(const char *key, bool create)
{
	for (int i = 0; i < 2 * KEYS; i++)
		if (!strcmp(objs[i].key, key))
			return &objs[i];
	for (int i = 0; create && i < 2 * KEYS; i++)
		if (!objs[i].key[0]) {
			snprintf(objs[i].key, sizeof(objs[i].key), "%s", key);
			return &objs[i];
		}
	return NULL;
}

static void etag_of(const struct obj *o, char out[80])
{
	snprintf(out, 80, "\"v%lu\"", o->version);
}

/* Called with store_lock held; takes data. */
static void obj_set(const char *key, unsigned char *data, size_t len)
{
	struct obj *o = obj_of(key, true);

	ck_assert_ptr_nonnull(o);
	free(o->data);
	o->data = data;
	o->len = len;
	o->version = ++next_version;
}

static int mem_head(struct store *s, const char *key, struct store_obj *out)
{
	struct obj *o;
	int rc = -ENOENT;

	(void)s;
	pthread_mutex_lock(&store_lock);
	o = obj_of(key, false);
	if (o && o->data) {
		memset(out, 0, sizeof(*out));
		out->size = o->len;
		etag_of(o, out->etag);
		rc = 0;
	}
	pthread_mutex_unlock(&store_lock);
	return rc;
}

static int mem_get(struct store *s, const char *key, uint64_t off, const struct iovec *dst, int cnt,
		   size_t *got, const char *if_match)
{
	char etag[80];
	struct obj *o;
	int rc = 0;

	(void)s;
	*got = 0;
	pthread_mutex_lock(&store_lock);
	o = obj_of(key, false);
	if (!o || !o->data) {
		rc = -ENOENT;
		goto out;
	}
	etag_of(o, etag);
	if (if_match && *if_match && strcmp(if_match, etag)) {
		rc = -ESTALE;
		goto out;
	}
	for (int i = 0; i < cnt && off < o->len; i++) {
		size_t n = dst[i].iov_len < o->len - off ? dst[i].iov_len : o->len - off;

		memcpy(dst[i].iov_base, o->data + off, n);
		off += n;
		*got += n;
	}
out:
	pthread_mutex_unlock(&store_lock);
	return rc;
}

static int mem_put(struct store *s, const char *key, const struct store_meta *meta,
		   store_reader_fn read, void *ctx, uint64_t len)
{
	unsigned char *data = malloc(len + 1);

	(void)s;
	(void)meta;
	ck_assert_int_eq(read(ctx, data, len, 0), (ssize_t)len);
	pthread_mutex_lock(&store_lock);
	obj_set(key, data, len);
	pthread_mutex_unlock(&store_lock);
	return 0;
}

static int mem_copy(struct store *s, const char *src, const char *dst,
		    const struct store_meta *meta)
{
	unsigned char *data = NULL;
	struct obj *o;
	int rc = 0;

	(void)s;
	(void)meta;
	pthread_mutex_lock(&store_lock);
	o = obj_of(src, false);
	if (!o || !o->data) {
		rc = -ENOENT;
	} else if (strcmp(src, dst)) {
		size_t len = o->len;

		data = malloc(len + 1);
		memcpy(data, o->data, len);
		obj_set(dst, data, len);
	}
	pthread_mutex_unlock(&store_lock);
	return rc;
}

static int mem_remove(struct store *s, const char *key)
{
	struct obj *o;

	(void)s;
	pthread_mutex_lock(&store_lock);
	o = obj_of(key, false);
	if (o) {
		free(o->data);
		o->data = NULL;
		o->len = 0;
	}
	pthread_mutex_unlock(&store_lock);
	return 0;
}

static int mem_begin(struct store *s, const char *key, const struct store_meta *meta,
		     struct store_upload **out)
{
	struct store_upload *u = calloc(1, sizeof(*u));

	(void)s;
	(void)meta;
	snprintf(u->key, sizeof(u->key), "%s", key);
	*out = u;
	return 0;
}

static int mem_part(struct store *s, struct store_upload *u, unsigned int no, store_reader_fn read,
		    void *ctx, size_t len)
{
	unsigned char *data = malloc(len + 1);

	(void)s;
	ck_assert_uint_ge(no, 1);
	ck_assert_uint_le(no, MAX_PART);
	if (read(ctx, data, len, 0) != (ssize_t)len) {
		free(data);
		return -EIO;
	}
	/* Parts of one upload may arrive from several threads at once. */
	pthread_mutex_lock(&store_lock);
	free(u->parts[no - 1]);
	u->parts[no - 1] = data;
	u->part_len[no - 1] = len;
	pthread_mutex_unlock(&store_lock);
	return 0;
}

static void mem_upload_free(struct store_upload *u)
{
	for (int i = 0; i < MAX_PART; i++)
		free(u->parts[i]);
	free(u);
}

static int mem_complete(struct store *s, struct store_upload *u, unsigned int n)
{
	unsigned char *data;
	size_t len = 0, off = 0;

	(void)s;
	pthread_mutex_lock(&store_lock);
	for (unsigned int i = 0; i < n; i++) {
		ck_assert_ptr_nonnull(u->parts[i]);
		len += u->part_len[i];
	}
	data = malloc(len + 1);
	for (unsigned int i = 0; i < n; i++) {
		memcpy(data + off, u->parts[i], u->part_len[i]);
		off += u->part_len[i];
	}
	obj_set(u->key, data, len);
	pthread_mutex_unlock(&store_lock);
	mem_upload_free(u);
	return 0;
}

static void mem_abort(struct store *s, struct store_upload *u)
{
	(void)s;
	mem_upload_free(u);
}

static const struct store_ops mem_ops = {.name = "mem",
					 .head = mem_head,
					 .get = mem_get,
					 .put = mem_put,
					 .copy = mem_copy,
					 .remove = mem_remove,
					 .upload_begin = mem_begin,
					 .upload_part = mem_part,
					 .upload_complete = mem_complete,
					 .upload_abort = mem_abort};
static struct store mem = {.ops = &mem_ops, .max_key_len = 1024, .max_parts = MAX_PART};

/* The tester's side: what each key should hold. */
struct slot {
	pthread_rwlock_t lock;
	bool exists; /* protected by lock */
	size_t len;  /* protected by lock */
	unsigned int seed;
};

static struct slot slots[KEYS];
static struct cache *c;
static char staging[] = "/tmp/bucketfs-test-stress-XXXXXX";

static unsigned char byte_of(unsigned int seed, size_t i)
{
	return (unsigned char)(seed * 2654435761u + i * 40503u + (i >> 7));
}

static void key_of(int k, char out[16])
{
	snprintf(out, 16, "f%02d", k);
}

/* Write slot k anew with a fresh seed, in uneven pieces, and flush. */
static void do_write(int k, unsigned int *rnd)
{
	static const struct store_meta meta = {.has_mode = true, .mode = 0100644};
	struct slot *s = &slots[k];
	unsigned char buf[3000];
	struct cache_file *f;
	char key[16];
	size_t len = (size_t)rand_r(rnd) % MAX_LEN, off = 0;
	unsigned int seed = (unsigned int)rand_r(rnd);

	key_of(k, key);
	ck_assert_int_eq(cache_file_open(c, key, 0, "", true, &f), 0);
	while (off < len) {
		size_t n = 1 + (size_t)rand_r(rnd) % sizeof(buf);

		if (n > len - off)
			n = len - off;
		for (size_t i = 0; i < n; i++)
			buf[i] = byte_of(seed, off + i);
		ck_assert_int_eq(cache_file_write(f, key, &meta, buf, n, off), 0);
		off += n;
	}
	ck_assert_int_eq(cache_file_flush(f, key, &meta, false), 0);
	cache_file_close(f, key);
	s->exists = true;
	s->len = len;
	s->seed = seed;
}

/* Read n bytes at off through a view, check them against the slot's
 * contents, and let the view go. Returns how many there were. */
static size_t view_check(struct cache *c, struct cache_file *f, const char *key, unsigned int seed,
			 size_t n, size_t off)
{
	struct cache_view v;
	size_t got = 0;

	ck_assert_int_eq(cache_file_view(f, key, n, off, &v), 0);
	for (int j = 0; j < v.n_iov; j++) {
		const unsigned char *p = v.iov[j].iov_base;

		for (size_t i = 0; i < v.iov[j].iov_len; i++)
			ck_assert_uint_eq(p[i], byte_of(seed, off + got + i));
		got += v.iov[j].iov_len;
	}
	ck_assert_uint_eq(got, v.len);
	cache_view_done(c, &v);
	return got;
}

/* Read slot k through the cache in uneven pieces; check every byte. */
static void do_read(int k, unsigned int *rnd)
{
	struct slot *s = &slots[k];
	struct store_obj obj;
	struct cache_file *f;
	char key[16];
	size_t off = 0, got;

	key_of(k, key);
	if (!s->exists) {
		ck_assert_int_eq(cache_head(c, key, &obj), -ENOENT);
		return;
	}
	ck_assert_int_eq(cache_head(c, key, &obj), 0);
	ck_assert_uint_eq(obj.size, s->len);
	ck_assert_int_eq(cache_file_open(c, key, obj.size, obj.etag, false, &f), 0);
	while (off < s->len) {
		size_t n = 1 + (size_t)rand_r(rnd) % 5000;

		got = view_check(c, f, key, s->seed, n, off);
		ck_assert_uint_gt(got, 0);
		off += got;
	}
	ck_assert_uint_eq(view_check(c, f, key, s->seed, 10, off), 0);
	cache_file_close(f, key);
}

/* Rename slot a over slot b, as the fs layer does (copy, then remove). */
static void do_rename(int a, int b)
{
	char ka[16], kb[16];

	key_of(a, ka);
	key_of(b, kb);
	if (!slots[a].exists)
		return;
	ck_assert_int_eq(cache_copy(c, ka, kb, NULL), 0);
	ck_assert_int_eq(cache_remove(c, ka), 0);
	slots[b].exists = true;
	slots[b].len = slots[a].len;
	slots[b].seed = slots[a].seed;
	slots[a].exists = false;
}

static void *worker(void *arg)
{
	unsigned int rnd = (unsigned int)(uintptr_t)arg * 7919u + 1;

	for (int r = 0; r < ROUNDS; r++) {
		int k = rand_r(&rnd) % KEYS, op = rand_r(&rnd) % 10;

		if (op < 5) {
			pthread_rwlock_rdlock(&slots[k].lock);
			do_read(k, &rnd);
			pthread_rwlock_unlock(&slots[k].lock);
		} else if (op < 8) {
			pthread_rwlock_wrlock(&slots[k].lock);
			do_write(k, &rnd);
			pthread_rwlock_unlock(&slots[k].lock);
		} else {
			int j = rand_r(&rnd) % KEYS, lo = k < j ? k : j, hi = k < j ? j : k;

			if (j == k)
				continue;
			/* In key order, so that two renames cannot deadlock. */
			pthread_rwlock_wrlock(&slots[lo].lock);
			pthread_rwlock_wrlock(&slots[hi].lock);
			do_rename(k, j);
			pthread_rwlock_unlock(&slots[hi].lock);
			pthread_rwlock_unlock(&slots[lo].lock);
		}
	}
	return NULL;
}

START_TEST(test_random_concurrent_ops_keep_content)
{
	pthread_t t[WORKERS];
	char *why = NULL;

	ck_assert_ptr_nonnull(mkdtemp(staging));
	for (int k = 0; k < KEYS; k++)
		pthread_rwlock_init(&slots[k].lock, NULL);
	ck_assert_int_eq(cache_create(&mem,
				      &(struct cache_conf){.staging_dir = staging,
							   .multipart_threshold = 2 * PS,
							   .part_size = PS,
							   .upload_threads = 3,
							   .cache_size = 8 * PS,
							   .block_size = PS,
							   .readahead_max = 4 * PS,
							   .fetch_threads = 2},
				      &c, &why),
			 0);
	for (int i = 0; i < WORKERS; i++)
		ck_assert_int_eq(pthread_create(&t[i], NULL, worker, (void *)(uintptr_t)i), 0);
	for (int i = 0; i < WORKERS; i++)
		pthread_join(t[i], NULL);
	/* Finally, each key once more, alone. */
	for (int k = 0; k < KEYS; k++) {
		unsigned int rnd = (unsigned int)k;

		do_read(k, &rnd);
	}
	cache_destroy(c);
	ck_assert_int_eq(rmdir(staging), 0); /* nothing left staged */
	for (int i = 0; i < 2 * KEYS; i++)
		free(objs[i].data);
}
END_TEST

static Suite *stress_suite(void)
{
	Suite *s = suite_create("stress");
	TCase *tc = tcase_create("stress");

	tcase_set_timeout(tc, 240);
	tcase_add_test(tc, test_random_concurrent_ops_keep_content);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return check_run(stress_suite());
}
