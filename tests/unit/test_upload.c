/*
 * Write-back policy of the cache layer: parts of a large file leave while
 * it is written, rewritten parts are sent again, a truncated file completes
 * with fewer parts, failures keep the data and are retried, and many files
 * share the upload threads. On an in-memory store that records every call.
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

#define PS	    4096 /* part size */
#define THRESHOLD   (3 * PS)
#define THREADS	    2
#define MAX_OBJECTS 32
#define MAX_PARTS   64

struct mem_object {
	char key[64];
	unsigned char *data;
	size_t len;
	struct store_meta meta;
};

struct store_upload {
	char key[64];
	struct store_meta meta;
	unsigned char *parts[MAX_PARTS];
	size_t part_len[MAX_PARTS];
	bool sending[MAX_PARTS];
};

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t changed = PTHREAD_COND_INITIALIZER;
static struct mem_object objects[MAX_OBJECTS];
static unsigned int parts_sent, begins, completes, aborts, whole_puts, copies;
static unsigned int in_flight, max_in_flight;
static unsigned int fail_part; /* part number that fails, 0 for none */
static bool twice_at_once;

static struct mem_object *object_of(const char *key)
{
	for (int i = 0; i < MAX_OBJECTS; i++)
		if (!strcmp(objects[i].key, key))
			return &objects[i];
	for (int i = 0; i < MAX_OBJECTS; i++)
		if (!objects[i].key[0]) {
			snprintf(objects[i].key, sizeof(objects[i].key), "%s", key);
			return &objects[i];
		}
	return NULL;
}

static void object_set(const char *key, unsigned char *data, size_t len,
		       const struct store_meta *meta)
{
	struct mem_object *o = object_of(key);

	free(o->data);
	o->data = data;
	o->len = len;
	o->meta = meta ? *meta : (struct store_meta){0};
}

static int mem_put(struct store *s, const char *key, const struct store_meta *meta,
		   store_reader_fn read, void *ctx, uint64_t len)
{
	unsigned char *data = malloc(len + 1);

	(void)s;
	ck_assert_int_eq(read(ctx, data, len, 0), (ssize_t)len);
	pthread_mutex_lock(&lock);
	whole_puts++;
	object_set(key, data, len, meta);
	pthread_mutex_unlock(&lock);
	return 0;
}

static int mem_copy(struct store *s, const char *src, const char *dst,
		    const struct store_meta *meta)
{
	(void)s;
	ck_assert_str_eq(src, dst); /* only metadata updates here */
	pthread_mutex_lock(&lock);
	copies++;
	object_of(dst)->meta = *meta;
	pthread_mutex_unlock(&lock);
	return 0;
}

static int mem_begin(struct store *s, const char *key, const struct store_meta *meta,
		     struct store_upload **out)
{
	struct store_upload *u = calloc(1, sizeof(*u));

	(void)s;
	snprintf(u->key, sizeof(u->key), "%s", key);
	u->meta = meta ? *meta : (struct store_meta){0};
	pthread_mutex_lock(&lock);
	begins++;
	pthread_mutex_unlock(&lock);
	*out = u;
	return 0;
}

static int mem_part(struct store *s, struct store_upload *u, unsigned int no, store_reader_fn read,
		    void *ctx, size_t len)
{
	unsigned char *data = malloc(len ? len : 1);
	int rc = 0;

	(void)s;
	ck_assert_uint_ge(no, 1);
	ck_assert_uint_le(no, MAX_PARTS);
	pthread_mutex_lock(&lock);
	if (u->sending[no - 1])
		twice_at_once = true;
	u->sending[no - 1] = true;
	if (++in_flight > max_in_flight)
		max_in_flight = in_flight;
	pthread_mutex_unlock(&lock);
	usleep(2000); /* let other parts overlap, if anything allows them to */
	if (read(ctx, data, len, 0) != (ssize_t)len)
		rc = -EIO;
	pthread_mutex_lock(&lock);
	in_flight--;
	u->sending[no - 1] = false;
	if (no == fail_part)
		rc = -EIO;
	if (!rc) {
		free(u->parts[no - 1]);
		u->parts[no - 1] = data;
		u->part_len[no - 1] = len;
		parts_sent++;
	} else {
		free(data);
	}
	pthread_cond_broadcast(&changed);
	pthread_mutex_unlock(&lock);
	return rc;
}

static void mem_upload_free(struct store_upload *u)
{
	for (int i = 0; i < MAX_PARTS; i++)
		free(u->parts[i]);
	free(u);
}

static int mem_complete(struct store *s, struct store_upload *u, unsigned int n)
{
	size_t len = 0, off = 0;
	unsigned char *data;

	(void)s;
	for (unsigned int i = 0; i < n; i++) {
		ck_assert_ptr_nonnull(u->parts[i]);
		if (i + 1 < n)
			ck_assert_uint_eq(u->part_len[i], PS); /* all but the last are whole */
		len += u->part_len[i];
	}
	data = malloc(len + 1);
	for (unsigned int i = 0; i < n; i++) {
		memcpy(data + off, u->parts[i], u->part_len[i]);
		off += u->part_len[i];
	}
	pthread_mutex_lock(&lock);
	completes++;
	object_set(u->key, data, len, &u->meta);
	pthread_mutex_unlock(&lock);
	mem_upload_free(u);
	return 0;
}

static void mem_abort(struct store *s, struct store_upload *u)
{
	(void)s;
	pthread_mutex_lock(&lock);
	aborts++;
	pthread_mutex_unlock(&lock);
	mem_upload_free(u);
}

static const struct store_ops mem_ops = {.name = "mem",
					 .put = mem_put,
					 .copy = mem_copy,
					 .upload_begin = mem_begin,
					 .upload_part = mem_part,
					 .upload_complete = mem_complete,
					 .upload_abort = mem_abort};
static struct store mem = {.ops = &mem_ops, .max_key_len = 1024, .max_parts = MAX_PARTS};
static struct cache *c;
static char staging[] = "/tmp/bucketfs-test-upload-XXXXXX";
static unsigned char content[12 * PS + 100];
static const struct store_meta meta_0644 = {.has_mode = true, .mode = 0100644};

static void setup(void)
{
	char *why = NULL;

	memset(objects, 0, sizeof(objects));
	parts_sent = begins = completes = aborts = whole_puts = copies = 0;
	in_flight = max_in_flight = 0;
	fail_part = 0;
	twice_at_once = false;
	for (size_t i = 0; i < sizeof(content); i++)
		content[i] = (unsigned char)(i * 13 + i / 4099);
	ck_assert_ptr_nonnull(mkdtemp(staging));
	ck_assert_int_eq(cache_create(&mem,
				      &(struct cache_conf){.staging_dir = staging,
							   .multipart_threshold = THRESHOLD,
							   .part_size = PS,
							   .upload_threads = THREADS,
							   .cache_size = 16 * PS,
							   .block_size = PS,
							   .readahead_max = 4 * PS,
							   .fetch_threads = 1},
				      &c, &why),
			 0);
}

static void teardown(void)
{
	cache_destroy(c);
	rmdir(staging);
	memcpy(staging + strlen(staging) - 6, "XXXXXX", 6);
	for (int i = 0; i < MAX_OBJECTS; i++)
		free(objects[i].data);
	ck_assert(!twice_at_once);
}

static struct cache_file *open_new(const char *key)
{
	struct cache_file *f;

	ck_assert_int_eq(cache_file_open(c, key, 0, "", true, &f), 0);
	return f;
}

/* Write content[from, to) in 1000-byte writes, as a sequential writer does. */
static void write_range(struct cache_file *f, const char *key, size_t from, size_t to)
{
	for (size_t off = from; off < to; off += 1000) {
		size_t n = to - off < 1000 ? to - off : 1000;

		ck_assert_int_eq(cache_file_write(f, key, &meta_0644, content + off, n, off), 0);
	}
}

/* Wait (no deadline: the test case timeout is the backstop) until n parts
 * have arrived. */
static void wait_parts(unsigned int n)
{
	pthread_mutex_lock(&lock);
	while (parts_sent < n)
		pthread_cond_wait(&changed, &lock);
	pthread_mutex_unlock(&lock);
}

static void assert_object(const char *key, const unsigned char *want, size_t len)
{
	struct mem_object *o = object_of(key);

	ck_assert_uint_eq(o->len, len);
	ck_assert_int_eq(memcmp(o->data, want, len), 0);
}

START_TEST(test_small_file_is_one_put)
{
	struct cache_file *f = open_new("small");

	write_range(f, "small", 0, THRESHOLD);
	ck_assert_int_eq(cache_file_flush(f, "small", &meta_0644, false), 0);
	cache_file_close(f, "small");
	ck_assert_uint_eq(whole_puts, 1);
	ck_assert_uint_eq(begins, 0);
	assert_object("small", content, THRESHOLD);
}
END_TEST

START_TEST(test_parts_leave_while_writing)
{
	struct cache_file *f = open_new("big");

	write_range(f, "big", 0, 10 * PS + 100);
	/* Before any flush, all ten whole parts are on their way. */
	ck_assert_uint_eq(begins, 1);
	wait_parts(10);
	ck_assert_int_eq(cache_file_flush(f, "big", &meta_0644, false), 0);
	ck_assert_uint_eq(parts_sent, 11); /* the short last one at flush */
	ck_assert_uint_eq(completes, 1);
	ck_assert(!cache_file_dirty(f));
	cache_file_close(f, "big");
	assert_object("big", content, 10 * PS + 100);
	ck_assert_uint_le(max_in_flight, THREADS);
}
END_TEST

START_TEST(test_rewritten_part_is_sent_again)
{
	struct cache_file *f = open_new("k");
	unsigned char want[10 * PS];
	static const unsigned char patch[] = "patched";

	write_range(f, "k", 0, 10 * PS);
	wait_parts(10);
	memcpy(want, content, sizeof(want));
	memcpy(want + 2 * PS + 10, patch, sizeof(patch));
	ck_assert_int_eq(cache_file_write(f, "k", &meta_0644, patch, sizeof(patch), 2 * PS + 10),
			 0);
	ck_assert_int_eq(cache_file_flush(f, "k", &meta_0644, false), 0);
	ck_assert_uint_eq(parts_sent, 11); /* part 3 only, again */
	cache_file_close(f, "k");
	assert_object("k", want, sizeof(want));
}
END_TEST

START_TEST(test_truncate_completes_with_fewer_parts)
{
	struct cache_file *f = open_new("t");

	write_range(f, "t", 0, 10 * PS);
	ck_assert_int_eq(cache_file_truncate(f, "t", 5 * PS + 7), 0);
	ck_assert_int_eq(cache_file_flush(f, "t", &meta_0644, false), 0);
	cache_file_close(f, "t");
	assert_object("t", content, 5 * PS + 7);
}
END_TEST

START_TEST(test_shrunk_below_threshold_is_put)
{
	struct cache_file *f = open_new("s");

	write_range(f, "s", 0, 10 * PS);
	ck_assert_int_eq(cache_file_truncate(f, "s", 100), 0);
	ck_assert_int_eq(cache_file_flush(f, "s", &meta_0644, false), 0);
	cache_file_close(f, "s");
	ck_assert_uint_eq(aborts, 1);
	ck_assert_uint_eq(completes, 0);
	ck_assert_uint_eq(whole_puts, 1);
	assert_object("s", content, 100);
}
END_TEST

START_TEST(test_failed_part_keeps_data_and_is_retried)
{
	struct cache_file *f = open_new("f");
	unsigned int before;

	fail_part = 4;
	write_range(f, "f", 0, 8 * PS);
	ck_assert_int_eq(cache_file_flush(f, "f", &meta_0644, false), -EIO);
	ck_assert(cache_file_dirty(f));
	ck_assert_uint_eq(completes, 0);
	before = parts_sent;
	fail_part = 0;
	ck_assert_int_eq(cache_file_flush(f, "f", &meta_0644, false), 0);
	ck_assert_uint_eq(parts_sent, before + 1); /* the failed part alone */
	cache_file_close(f, "f");
	assert_object("f", content, 8 * PS);
}
END_TEST

/* Files in the staging dir: a stage file lives as long as its cache_file. */
static int staged_files(void)
{
	char cmd[128];
	int n = -1;
	FILE *p;

	snprintf(cmd, sizeof(cmd), "ls -A %s | wc -l", staging);
	p = popen(cmd, "r");
	ck_assert_ptr_nonnull(p);
	ck_assert_int_eq(fscanf(p, "%d", &n), 1);
	pclose(p);
	return n;
}

START_TEST(test_held_file_outlives_its_close)
{
	struct cache_file *f = open_new("held");

	write_range(f, "held", 0, 1000);
	ck_assert_ptr_eq(cache_file_hold(f), f);
	ck_assert_int_gt(staged_files(), 0);
	cache_file_close(f, "held"); /* the opener's: the holder still uses it */
	ck_assert_int_gt(staged_files(), 0);
	ck_assert_int_eq(cache_file_flush(f, "held", &meta_0644, false), 0);
	cache_file_close(f, "held"); /* the last: the clean stage goes */
	ck_assert_int_eq(staged_files(), 0);
	assert_object("held", content, 1000);
	ck_assert_ptr_null(cache_file_hold(NULL));
	cache_file_close(NULL, "none");
}
END_TEST

START_TEST(test_rename_while_open_starts_over)
{
	struct cache_file *f = open_new("old");

	write_range(f, "old", 0, 6 * PS);
	ck_assert_int_eq(cache_file_flush(f, "new", &meta_0644, false), 0);
	cache_file_close(f, "new");
	ck_assert_uint_eq(aborts, 1);
	ck_assert_uint_eq(object_of("old")->len, 0);
	assert_object("new", content, 6 * PS);
}
END_TEST

START_TEST(test_metadata_set_while_open_is_applied)
{
	struct store_meta m = {.has_mode = true, .mode = 0100600};
	struct cache_file *f = open_new("m");

	write_range(f, "m", 0, 6 * PS);
	/* Writes alone keep the metadata the upload began with... */
	ck_assert_int_eq(cache_file_flush(f, "m", &m, false), 0);
	ck_assert_uint_eq(copies, 0);
	ck_assert_uint_eq(object_of("m")->meta.mode, 0100644);
	/* ...a chmod since then is applied after completion. */
	write_range(f, "m", 0, 6 * PS);
	ck_assert_int_eq(cache_file_flush(f, "m", &m, true), 0);
	ck_assert_uint_eq(copies, 1);
	ck_assert_uint_eq(object_of("m")->meta.mode, 0100600);
	cache_file_close(f, "m");
}
END_TEST

struct writer_arg {
	char key[16];
	int rc;
};

static void *writer(void *p)
{
	struct writer_arg *a = p;
	struct cache_file *f;

	a->rc = cache_file_open(c, a->key, 0, "", true, &f);
	if (a->rc)
		return NULL;
	for (size_t off = 0; off < 8 * PS && !a->rc; off += PS)
		a->rc = cache_file_write(f, a->key, &meta_0644, content + off, PS, off);
	if (!a->rc)
		a->rc = cache_file_flush(f, a->key, &meta_0644, false);
	cache_file_close(f, a->key);
	return NULL;
}

START_TEST(test_many_files_share_the_threads)
{
	struct writer_arg args[20];
	pthread_t t[20];

	for (int i = 0; i < 20; i++) {
		snprintf(args[i].key, sizeof(args[i].key), "w%d", i);
		ck_assert_int_eq(pthread_create(&t[i], NULL, writer, &args[i]), 0);
	}
	for (int i = 0; i < 20; i++) {
		pthread_join(t[i], NULL);
		ck_assert_int_eq(args[i].rc, 0);
		assert_object(args[i].key, content, 8 * PS);
	}
	ck_assert_uint_eq(completes, 20);
	ck_assert_uint_le(max_in_flight, THREADS);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("upload");
	TCase *tc = tcase_create("write-back");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, test_small_file_is_one_put);
	tcase_add_test(tc, test_parts_leave_while_writing);
	tcase_add_test(tc, test_rewritten_part_is_sent_again);
	tcase_add_test(tc, test_truncate_completes_with_fewer_parts);
	tcase_add_test(tc, test_shrunk_below_threshold_is_put);
	tcase_add_test(tc, test_failed_part_keeps_data_and_is_retried);
	tcase_add_test(tc, test_held_file_outlives_its_close);
	tcase_add_test(tc, test_rename_while_open_starts_over);
	tcase_add_test(tc, test_metadata_set_while_open_is_applied);
	tcase_add_test(tc, test_many_files_share_the_threads);
	suite_add_tcase(s, tc);
	return check_run(s);
}
