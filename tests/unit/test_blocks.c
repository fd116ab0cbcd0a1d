/* Block cache policy, on an in-memory store that counts its GETs, with
 * and without a disk tier (in a temp directory, walked to check it). */
#include <check.h>

#include "check_main.h"
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "../../src/cache/blocks.h"

#define BS   4096
#define SIZE (40 * BS + 100)

static unsigned char object[SIZE];
static unsigned int gets;
static uint64_t bytes;
static const char *current_etag = "\"v1\"";
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
/* While closed, GETs of "slow" past its first block wait: a fetch thread
 * held busy. Protected by lock. */
static pthread_cond_t gate = PTHREAD_COND_INITIALIZER;
static bool gate_closed;
static unsigned int gated; /* GETs that waited */

static int mem_get(struct store *s, const char *key, uint64_t off, const struct iovec *dst, int cnt,
		   size_t *got, const char *if_match)
{
	size_t len = 0;

	(void)s;
	for (int i = 0; i < cnt; i++)
		len += dst[i].iov_len;
	pthread_mutex_lock(&lock);
	gets++;
	bytes += len;
	if (gate_closed && !strcmp(key, "slow") && off > 0) {
		gated++;
		while (gate_closed)
			pthread_cond_wait(&gate, &lock);
	}
	pthread_mutex_unlock(&lock);
	if (if_match && strcmp(if_match, current_etag))
		return -ESTALE;
	*got = 0;
	for (int i = 0; i < cnt && off < SIZE; i++) {
		size_t n = SIZE - off < dst[i].iov_len ? SIZE - off : dst[i].iov_len;

		memcpy(dst[i].iov_base, object + off, n);
		off += n;
		*got += n;
	}
	return 0;
}

static const struct store_ops mem_ops = {.name = "mem", .get = mem_get};
static struct store mem = {.ops = &mem_ops};
static struct blocks *b;

static void reset_store(void)
{
	for (size_t i = 0; i < SIZE; i++)
		object[i] = (unsigned char)(i * 7 + i / 251);
	gets = 0;
	bytes = 0;
	current_etag = "\"v1\"";
}

static void setup(void)
{
	reset_store();
	ck_assert_int_eq(blocks_create(&mem,
				       &(struct blocks_conf){.mem_size = 8 * BS,
							     .block_size = BS,
							     .fetch_threads = 2},
				       &b),
			 0);
}

static void teardown(void)
{
	blocks_destroy(b);
}

static void read_key(const char *key, uint64_t off, size_t len, uint64_t ahead, bool random)
{
	unsigned char buf[16 * BS];
	size_t got;

	ck_assert_int_eq(
		blocks_read(b, key, current_etag, SIZE, buf, len, off, ahead, random, &got), 0);
	ck_assert_uint_eq(got, off >= SIZE ? 0 : (SIZE - off < len ? SIZE - off : len));
	ck_assert_int_eq(memcmp(buf, object + off, got), 0);
}

static void read_random(uint64_t off, size_t len, uint64_t ahead, bool random)
{
	read_key("k", off, len, ahead, random);
}

/* A sequential read with `ahead` bytes of read-ahead (0: none). */
static void read_check(uint64_t off, size_t len, uint64_t ahead)
{
	read_random(off, len, ahead, false);
}

START_TEST(test_reads_across_blocks_and_end)
{
	read_check(0, 10, 0);
	read_check(BS - 5, 10, 0);
	read_check(3 * BS + 17, 2 * BS, 0);
	read_check(SIZE - 50, 500, 0);
	read_check(SIZE, 10, 0);
}
END_TEST

START_TEST(test_rereads_hit)
{
	struct blocks_stats st;

	read_check(0, 2 * BS, 0);
	ck_assert_uint_eq(gets, 1); /* one GET for a run of two blocks */
	read_check(100, BS, 0);
	ck_assert_uint_eq(gets, 1);
	blocks_get_stats(b, &st);
	ck_assert_uint_eq(st.misses, 2);
	ck_assert_uint_eq(st.hits, 2);
}
END_TEST

START_TEST(test_memory_capped_lru)
{
	struct blocks_stats st;

	for (int i = 0; i < 30; i++)
		read_check((uint64_t)i * BS, BS, 0);
	blocks_get_stats(b, &st);
	ck_assert_uint_le(st.mem_used, 8 * BS);
	ck_assert_uint_ge(st.evicted_blocks, 22);
	/* The most recent blocks are still there, the oldest are not. */
	gets = 0;
	read_check(29 * BS, BS, 0);
	ck_assert_uint_eq(gets, 0);
	read_check(0, BS, 0);
	ck_assert_uint_eq(gets, 1); /* evicted: fetched again */
}
END_TEST

/* The bytes a view gives, in order, against the object. */
static void view_check(const struct cache_view *v, uint64_t off, size_t len)
{
	size_t pos = 0;

	for (int i = 0; i < v->n_iov; i++) {
		ck_assert_int_eq(memcmp(v->iov[i].iov_base, object + off + pos, v->iov[i].iov_len),
				 0);
		pos += v->iov[i].iov_len;
	}
	ck_assert_uint_eq(pos, len);
	ck_assert_uint_eq(v->len, len);
}

START_TEST(test_view_holds_blocks_in_place)
{
	struct cache_view v, again;
	struct blocks_stats st;

	/* Three blocks, each a piece of the view. */
	ck_assert_int_eq(blocks_view(b, "k", current_etag, SIZE, 2 * BS, BS - 10, 0, false, &v), 0);
	ck_assert_int_eq(v.n_iov, 3);
	view_check(&v, BS - 10, 2 * BS);
	/* Not copies: a second view of them points at the same bytes. */
	ck_assert_int_eq(blocks_view(b, "k", current_etag, SIZE, BS, BS, 0, false, &again), 0);
	ck_assert_int_eq(again.n_iov, 1);
	ck_assert_ptr_eq(again.iov[0].iov_base, v.iov[1].iov_base);
	blocks_view_done(b, &again);
	/* Held blocks outlive a cache's worth of other reads... */
	for (int i = 10; i < 30; i++)
		read_check((uint64_t)i * BS, BS, 0);
	view_check(&v, BS - 10, 2 * BS);
	blocks_view_done(b, &v);
	ck_assert_int_eq(v.n_iov, 0);
	blocks_get_stats(b, &st);
	ck_assert_uint_le(st.mem_used, 8 * BS);
	gets = 0;
	read_check(BS, BS, 0);
	ck_assert_uint_eq(gets, 0);
	/* ...and, once let go, are evicted like any other. */
	for (int i = 10; i < 30; i++)
		read_check((uint64_t)i * BS, BS, 0);
	gets = 0;
	read_check(BS, BS, 0);
	ck_assert_uint_eq(gets, 1);
}
END_TEST

START_TEST(test_view_of_a_bypassing_read_owns_its_bytes)
{
	struct cache_view v;

	/* A small random read of a block not seen before bypasses the cache. */
	ck_assert_int_eq(blocks_view(b, "k", current_etag, SIZE, 100, 7 * BS + 3, 0, true, &v), 0);
	ck_assert_ptr_nonnull(v.own);
	ck_assert_uint_eq(v.n_held, 0);
	view_check(&v, 7 * BS + 3, 100);
	blocks_view_done(b, &v);
	ck_assert_ptr_null(v.own);
	/* At the end of the object, a view is short; past it, empty. */
	ck_assert_int_eq(blocks_view(b, "k", current_etag, SIZE, BS, SIZE - 50, 0, false, &v), 0);
	view_check(&v, SIZE - 50, 50);
	blocks_view_done(b, &v);
	ck_assert_int_eq(blocks_view(b, "k", current_etag, SIZE, BS, SIZE, 0, false, &v), 0);
	ck_assert_int_eq(v.n_iov, 0);
	blocks_view_done(b, &v);
	/* A failed one holds nothing, so that a retry may use it again (the
	 * cache layer's, when the object changed). */
	current_etag = "\"v2\"";
	ck_assert_int_eq(blocks_view(b, "k", "\"v1\"", SIZE, 100, 20 * BS, 0, true, &v), -ESTALE);
	ck_assert_ptr_null(v.own);
	ck_assert_uint_eq(v.n_held, 0);
	ck_assert_int_eq(blocks_view(b, "k", "\"v1\"", SIZE, BS, 0, 0, false, &v), -ESTALE);
	ck_assert_uint_eq(v.n_held, 0);
	ck_assert_int_eq(v.n_iov, 0);
}
END_TEST

START_TEST(test_new_version_is_refetched)
{
	read_check(0, BS, 0);
	current_etag = "\"v2\"";
	object[5] ^= 0xff;
	read_check(0, BS, 0);
	ck_assert_uint_eq(gets, 2);
}
END_TEST

START_TEST(test_stale_version_fails)
{
	unsigned char buf[BS];
	size_t got;

	current_etag = "\"v2\"";
	ck_assert_int_eq(blocks_read(b, "k", "\"v1\"", SIZE, buf, BS, 0, 0, false, &got), -ESTALE);
	/* A failed block is not kept: the next read tries again. */
	ck_assert_int_eq(blocks_read(b, "k", "\"v1\"", SIZE, buf, BS, 0, 0, false, &got), -ESTALE);
	ck_assert_uint_eq(gets, 2);
}
END_TEST

START_TEST(test_forget)
{
	read_check(0, BS, 0);
	blocks_forget(b, "k");
	read_check(0, BS, 0);
	ck_assert_uint_eq(gets, 2);
}
END_TEST

START_TEST(test_random_reads_stay_small)
{
	read_random(10 * BS + 8, 100, 0, true);
	ck_assert_uint_eq(bytes, 100); /* just what was asked */
	read_random(10 * BS + 500, 100, 0, true);
	ck_assert_uint_eq(bytes, 100 + BS); /* a second touch caches the block */
	read_random(10 * BS + 900, 100, 0, true);
	ck_assert_uint_eq(bytes, 100 + BS);
}
END_TEST

START_TEST(test_prefetch_fills_ahead)
{
	struct blocks_stats st;

	read_check(0, BS, 4 * BS);
	for (int i = 0; i < 200; i++) {
		blocks_get_stats(b, &st);
		if (st.fetched_bytes >= 5 * BS)
			break;
		usleep(10000);
	}
	ck_assert_uint_ge(st.prefetched_blocks, 4);
	gets = 0;
	read_check(BS, 4 * BS, 0);
	ck_assert_uint_eq(gets, 0);
}
END_TEST

START_TEST(test_sliding_window_sends_whole_runs)
{
	blocks_destroy(b);
	ck_assert_int_eq(blocks_create(&mem,
				       &(struct blocks_conf){.mem_size = 64 * BS,
							     .block_size = BS,
							     .fetch_threads = 2},
				       &b),
			 0);
	/* 41 blocks read one at a time, 16 blocks ahead: one GET per block
	 * as the window slides would be 40; runs of 8 are a handful. */
	for (uint64_t off = 0; off < SIZE; off += BS)
		read_check(off, BS, 16 * BS);
	ck_assert_uint_le(gets, 10);
}
END_TEST

static void *reader(void *arg)
{
	unsigned int seed = (unsigned int)(uintptr_t)arg;

	for (int i = 0; i < 300; i++) {
		uint64_t off = (uint64_t)rand_r(&seed) % SIZE;
		size_t len = (size_t)rand_r(&seed) % (3 * BS) + 1;

		read_random(off, len, (uint64_t)(rand_r(&seed) % 3) * BS, rand_r(&seed) % 2);
	}
	return NULL;
}

START_TEST(test_concurrent_readers)
{
	pthread_t t[8];

	for (uintptr_t i = 0; i < 8; i++)
		ck_assert_int_eq(pthread_create(&t[i], NULL, reader, (void *)i), 0);
	for (int i = 0; i < 8; i++)
		pthread_join(t[i], NULL);
}
END_TEST

/* The disk tier. */

/* Room for one block file: the block and its header. */
#define FILE_MAX (BS + 128)

static char tmp_dir[64], disk_dir[128];

/* What the disk tier holds, by a walk of its directory: block files (named
 * by 64 hex digits, in a subdirectory) and all else found there. */
static struct {
	unsigned int files, others;
	uint64_t bytes;
	char last[PATH_MAX]; /* one block file */
} disk;

static int walk_entry(const char *path, const struct stat *st, int type, struct FTW *ftw)
{
	const char *name = path + ftw->base;

	if (type != FTW_F || ftw->level != 2)
		return 0;
	if (strlen(name) == 64 && strspn(name, "0123456789abcdef") == 64) {
		disk.files++;
		disk.bytes += (uint64_t)st->st_size;
		snprintf(disk.last, sizeof(disk.last), "%s", path);
	} else {
		disk.others++;
	}
	return 0;
}

static void walk_disk(void)
{
	memset(&disk, 0, sizeof(disk));
	ck_assert_int_eq(nftw(disk_dir, walk_entry, 16, FTW_PHYS), 0);
}

static int open_disk(uint64_t mem_blocks, uint64_t disk_size)
{
	return blocks_create(&mem,
			     &(struct blocks_conf){.mem_size = mem_blocks * BS,
						   .block_size = BS,
						   .fetch_threads = 2,
						   .disk_dir = disk_dir,
						   .disk_size = disk_size},
			     &b);
}

static void setup_disk(void)
{
	char test_dir[sizeof(tmp_dir) + 16];

	reset_store();
	/* Each test a fresh directory, its disk tier a level down (made by
	 * blocks_create). */
	snprintf(test_dir, sizeof(test_dir), "%s/t.XXXXXX", tmp_dir);
	ck_assert_ptr_nonnull(mkdtemp(test_dir));
	snprintf(disk_dir, sizeof(disk_dir), "%s/blocks", test_dir);
	ck_assert_int_eq(open_disk(8, 64 * FILE_MAX), 0);
}

static void teardown_disk(void)
{
	blocks_destroy(b);
}

/* The temp directory of the whole test case is made and removed outside
 * the tests' processes, so that a failed test leaves nothing behind. */
static void make_tmp(void)
{
	snprintf(tmp_dir, sizeof(tmp_dir), "/tmp/test_blocks.XXXXXX");
	if (!mkdtemp(tmp_dir))
		abort();
}

static int remove_entry(const char *path, const struct stat *st, int type, struct FTW *ftw)
{
	(void)st;
	(void)type;
	(void)ftw;
	return remove(path);
}

static void remove_tmp(void)
{
	nftw(tmp_dir, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
}

/* Wait until n blocks went to disk, counting those the cap evicted since:
 * the writes are done by the fetch threads. */
static void wait_disk(unsigned int n)
{
	struct blocks_stats st;

	for (int i = 0; i < 1000; i++) {
		walk_disk();
		blocks_get_stats(b, &st);
		if (disk.files + st.disk_evicted_blocks == n)
			return;
		usleep(2000);
	}
	ck_abort_msg("disk tier: %u files + %llu evicted, want %u", disk.files,
		     (unsigned long long)st.disk_evicted_blocks, n);
}

/* Read blocks [from, to) one at a time, each (past the memory cap of 8)
 * evicting the oldest to disk, and wait for each write. */
static void fill_disk(unsigned int from, unsigned int to)
{
	for (unsigned int i = from; i < to; i++) {
		read_check((uint64_t)i * BS, BS, 0);
		if (i >= 8)
			wait_disk(i - 7);
	}
}

START_TEST(test_disk_serves_evicted)
{
	struct blocks_stats st;

	fill_disk(0, 30);
	walk_disk();
	ck_assert_uint_eq(disk.files, 22); /* 30 read, 8 in memory */
	blocks_get_stats(b, &st);
	ck_assert_uint_eq(st.disk_used, disk.bytes);
	ck_assert_uint_eq(st.disk_hits, 0);
	gets = 0;
	for (unsigned int i = 0; i < 22; i++)
		read_check((uint64_t)i * BS, BS, 0);
	ck_assert_uint_eq(gets, 0);
	blocks_get_stats(b, &st);
	ck_assert_uint_eq(st.disk_hits, 22);
	ck_assert_uint_eq(st.misses, 30); /* the first reads only */
	/* A read across blocks on disk, with read-ahead into more of them. */
	read_check(2 * BS + 100, 3 * BS, 4 * BS);
	ck_assert_uint_eq(gets, 0);
}
END_TEST

START_TEST(test_disk_serves_random_reads)
{
	struct blocks_stats st;

	fill_disk(0, 9); /* block 0 on disk only */
	gets = 0;
	/* Not "never seen": the disk has the block, whole. */
	read_random(100, 50, 0, true);
	ck_assert_uint_eq(gets, 0);
	blocks_get_stats(b, &st);
	ck_assert_uint_eq(st.disk_hits, 1);
}
END_TEST

START_TEST(test_disk_cap)
{
	struct blocks_stats st;

	blocks_destroy(b);
	ck_assert_int_eq(open_disk(8, 5 * FILE_MAX), 0);
	for (unsigned int i = 0; i < 30; i++) {
		read_check((uint64_t)i * BS, BS, 0);
		if (i >= 8)
			wait_disk(i - 7);
		blocks_get_stats(b, &st);
		ck_assert_uint_le(st.disk_used, 5 * FILE_MAX);
		ck_assert_uint_le(disk.bytes, 5 * FILE_MAX);
	}
	walk_disk();
	blocks_get_stats(b, &st);
	ck_assert_uint_eq(disk.files, 5);
	ck_assert_uint_eq(st.disk_evicted_blocks, 17);
	ck_assert_uint_eq(st.disk_used, disk.bytes);
	/* The newest stayed: blocks 17..21 (22..29 are in memory). */
	gets = 0;
	read_check(21 * BS, BS, 0);
	ck_assert_uint_eq(gets, 0);
	read_check(16 * BS, BS, 0);
	ck_assert_uint_eq(gets, 1);
}
END_TEST

START_TEST(test_disk_new_etag_not_served)
{
	struct blocks_stats st;

	fill_disk(0, 9); /* block 0 of "v1" on disk only */
	current_etag = "\"v2\"";
	object[5] ^= 0xff;
	gets = 0;
	read_check(0, BS, 0);
	ck_assert_uint_eq(gets, 1);
	blocks_get_stats(b, &st);
	ck_assert_uint_eq(st.disk_hits, 0);
}
END_TEST

START_TEST(test_disk_forget)
{
	struct blocks_stats st;

	for (unsigned int i = 0; i < 4; i++)
		read_check((uint64_t)i * BS, BS, 0);
	for (unsigned int i = 0; i < 4; i++)
		read_key("k2", (uint64_t)i * BS, BS, 0, false);
	/* Memory is full: each new block sends the oldest to disk. */
	for (unsigned int i = 0; i < 8; i++) {
		read_check((uint64_t)(i + 4) * BS, BS, 0);
		wait_disk(i + 1);
	}
	walk_disk();
	ck_assert_uint_eq(disk.files, 8);
	blocks_forget(b, "k");
	walk_disk();
	ck_assert_uint_eq(disk.files, 4); /* k2's */
	blocks_get_stats(b, &st);
	ck_assert_uint_eq(st.disk_used, disk.bytes);
	gets = 0;
	read_check(0, BS, 0);
	ck_assert_uint_eq(gets, 1);
	read_key("k2", 0, BS, 0, false);
	ck_assert_uint_eq(gets, 1);
}
END_TEST

/* Damage the one block file on disk in one of these ways. */
static void damage(const char *path, int how)
{
	static const char junk[] = "not a block header";
	int fd = open(path, O_WRONLY);

	ck_assert_int_ge(fd, 0);
	if (how == 0) /* the header */
		ck_assert_int_eq(pwrite(fd, junk, sizeof(junk), 0), sizeof(junk));
	else if (how == 1) /* the data */
		ck_assert_int_eq(pwrite(fd, "x", 1, 200), 1);
	else if (how == 2) /* torn */
		ck_assert_int_eq(ftruncate(fd, BS / 2), 0);
	else /* longer */
		ck_assert_int_eq(pwrite(fd, "x", 1, FILE_MAX), 1);
	close(fd);
}

START_TEST(test_disk_damaged_file_not_served)
{
	struct blocks_stats st;
	char path[PATH_MAX];

	fill_disk(0, 9); /* block 0 on disk only */
	walk_disk();
	ck_assert_uint_eq(disk.files, 1);
	snprintf(path, sizeof(path), "%s", disk.last);
	damage(path, _i);
	gets = 0;
	read_check(0, BS, 0);
	ck_assert_uint_eq(gets, 1);
	blocks_get_stats(b, &st);
	ck_assert_uint_eq(st.disk_hits, 0);
	ck_assert_int_eq(access(path, F_OK), -1);
	ck_assert_int_eq(errno, ENOENT);
}
END_TEST

/* Put a file of the given size at path (relative to the disk dir). */
static void put_file(const char *rel, size_t len)
{
	char path[PATH_MAX], buf[64] = "junk";
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", disk_dir, rel);
	f = fopen(path, "w");
	ck_assert_ptr_nonnull(f);
	ck_assert_uint_eq(fwrite(buf, 1, len < sizeof(buf) ? len : sizeof(buf), f),
			  len < sizeof(buf) ? len : sizeof(buf));
	fclose(f);
}

START_TEST(test_disk_warm_restart)
{
	struct blocks_stats st;
	char keep[PATH_MAX];

	fill_disk(0, 30);
	blocks_destroy(b);
	/* Leftovers of a crash, a foreign file in our place, a file not ours. */
	put_file("00/.tmp-7", 10);
	put_file("ab/abababababababababababababababababababababababababababababababab", 60);
	put_file("keep-me", 10);
	ck_assert_int_eq(open_disk(8, 64 * FILE_MAX), 0);
	walk_disk();
	ck_assert_uint_eq(disk.files, 22);
	ck_assert_uint_eq(disk.others, 0);
	snprintf(keep, sizeof(keep), "%s/keep-me", disk_dir);
	ck_assert_int_eq(access(keep, F_OK), 0);
	blocks_get_stats(b, &st);
	ck_assert_uint_eq(st.disk_used, disk.bytes);
	gets = 0;
	for (unsigned int i = 0; i < 22; i++)
		read_check((uint64_t)i * BS, BS, 0);
	ck_assert_uint_eq(gets, 0);

	/* A smaller cap: evicted down to it at create time. */
	blocks_destroy(b);
	ck_assert_int_eq(open_disk(8, 3 * FILE_MAX), 0);
	walk_disk();
	blocks_get_stats(b, &st);
	ck_assert_uint_eq(disk.files, 3);
	ck_assert_uint_le(st.disk_used, 3 * FILE_MAX);
	ck_assert_uint_eq(st.disk_used, disk.bytes);
	ck_assert_uint_ge(st.disk_evicted_blocks, 19);
}
END_TEST

START_TEST(test_disk_other_block_size)
{
	fill_disk(0, 12); /* blocks 0..3 on disk */
	blocks_destroy(b);
	/* Block 1 is now [2 BS, 4 BS): the old one must not stand in. */
	ck_assert_int_eq(blocks_create(&mem,
				       &(struct blocks_conf){.mem_size = 8 * 2 * BS,
							     .block_size = 2 * BS,
							     .fetch_threads = 2,
							     .disk_dir = disk_dir,
							     .disk_size = 64 * FILE_MAX},
				       &b),
			 0);
	walk_disk();
	ck_assert_uint_eq(disk.files, 0);
	gets = 0;
	read_check(2 * BS, 2 * BS, 0);
	ck_assert_uint_eq(gets, 1);
}
END_TEST

START_TEST(test_disk_dir_unusable)
{
	struct blocks *other;
	char path[PATH_MAX + 16];

	/* In use by the fixture's cache. */
	ck_assert_int_eq(blocks_create(&mem,
				       &(struct blocks_conf){.mem_size = 8 * BS,
							     .block_size = BS,
							     .fetch_threads = 1,
							     .disk_dir = disk_dir,
							     .disk_size = FILE_MAX},
				       &other),
			 -EBUSY);
	/* Under a file. */
	put_file("file", 1);
	snprintf(path, sizeof(path), "%s/file/sub", disk_dir);
	ck_assert_int_eq(blocks_create(&mem,
				       &(struct blocks_conf){.mem_size = 8 * BS,
							     .block_size = BS,
							     .fetch_threads = 1,
							     .disk_dir = path,
							     .disk_size = FILE_MAX},
				       &other),
			 -ENOTDIR);
}
END_TEST

/* Where block idx of key (ETag "v1") goes on disk: the documented layout. */
static void block_path(const char *key, unsigned int idx, char path[PATH_MAX])
{
	unsigned char md[32];
	char name[256];
	int n = snprintf(name, sizeof(name), "%s\n\"v1\"\n%u", key, idx);

	ck_assert(EVP_Digest(name, (size_t)n, md, NULL, EVP_sha256(), NULL));
	n = snprintf(path, PATH_MAX, "%s/%02x/", disk_dir, md[0]);
	for (int i = 0; i < 32; i++)
		n += snprintf(path + n, PATH_MAX - (size_t)n, "%02x", md[i]);
}

START_TEST(test_disk_forget_while_spilling)
{
	char k0[PATH_MAX], path[PATH_MAX];
	unsigned int i;

	blocks_destroy(b);
	ck_assert_int_eq(blocks_create(&mem,
				       &(struct blocks_conf){.mem_size = 8 * BS,
							     .block_size = BS,
							     .fetch_threads = 1,
							     .disk_dir = disk_dir,
							     .disk_size = 64 * FILE_MAX},
				       &b),
			 0);
	for (i = 0; i < 4; i++)
		read_check((uint64_t)i * BS, BS, 0);
	/* The one fetch thread stuck in a prefetch of "slow" block 1... */
	pthread_mutex_lock(&lock);
	gate_closed = true;
	pthread_mutex_unlock(&lock);
	read_key("slow", 0, BS, BS, false);
	for (i = 0; i < 1000; i++) {
		pthread_mutex_lock(&lock);
		bool stuck = gated == 1;
		pthread_mutex_unlock(&lock);
		if (stuck)
			break;
		usleep(1000);
	}
	ck_assert_uint_lt(i, 1000);
	/* ... block 0 of "k" waits in the spill queue when it is forgotten. */
	for (i = 4; i < 7; i++)
		read_check((uint64_t)i * BS, BS, 0);
	blocks_forget(b, "k");
	pthread_mutex_lock(&lock);
	gate_closed = false;
	pthread_cond_broadcast(&gate);
	pthread_mutex_unlock(&lock);
	/* Spills are written in order: once a later one is on disk, that of
	 * block 0 was dealt with. */
	for (i = 0; i < 40; i++) {
		read_key("j", (uint64_t)i * BS, BS, 0, false);
		walk_disk();
		if (disk.files)
			break;
		usleep(2000);
	}
	ck_assert_uint_gt(disk.files, 0);
	block_path("k", 0, k0);
	ck_assert_int_eq(access(k0, F_OK), -1);
	/* And that k0 is where it would have been: what is there is named so. */
	for (i = 0; i < 40; i++) {
		block_path("j", i, path);
		if (!strcmp(path, disk.last))
			break;
		block_path("slow", i, path);
		if (!strcmp(path, disk.last))
			break;
	}
	ck_assert_uint_lt(i, 40);
}
END_TEST

static void *forgetter(void *arg)
{
	(void)arg;
	for (int i = 0; i < 50; i++) {
		blocks_forget(b, "k");
		usleep(1000);
	}
	return NULL;
}

START_TEST(test_disk_concurrent_readers)
{
	struct blocks_stats st;
	pthread_t t[9];

	blocks_destroy(b);
	ck_assert_int_eq(open_disk(4, 12 * FILE_MAX), 0);
	for (uintptr_t i = 0; i < 8; i++)
		ck_assert_int_eq(pthread_create(&t[i], NULL, reader, (void *)i), 0);
	ck_assert_int_eq(pthread_create(&t[8], NULL, forgetter, NULL), 0);
	for (int i = 0; i < 9; i++)
		pthread_join(t[i], NULL);
	blocks_get_stats(b, &st);
	ck_assert_uint_gt(st.disk_hits, 0);
	ck_assert_uint_le(st.disk_used, 12 * FILE_MAX);
	/* Once the last spills are written, the index and the disk agree. */
	for (int i = 0; i < 1000; i++) {
		walk_disk();
		blocks_get_stats(b, &st);
		if (disk.bytes == st.disk_used && !disk.others)
			break;
		usleep(2000);
	}
	ck_assert_uint_eq(disk.bytes, st.disk_used);
	ck_assert_uint_le(disk.bytes, 12 * FILE_MAX);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("blocks");
	TCase *tc = tcase_create("policy");
	TCase *td = tcase_create("disk");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, test_reads_across_blocks_and_end);
	tcase_add_test(tc, test_rereads_hit);
	tcase_add_test(tc, test_memory_capped_lru);
	tcase_add_test(tc, test_view_holds_blocks_in_place);
	tcase_add_test(tc, test_view_of_a_bypassing_read_owns_its_bytes);
	tcase_add_test(tc, test_new_version_is_refetched);
	tcase_add_test(tc, test_stale_version_fails);
	tcase_add_test(tc, test_forget);
	tcase_add_test(tc, test_random_reads_stay_small);
	tcase_add_test(tc, test_prefetch_fills_ahead);
	tcase_add_test(tc, test_sliding_window_sends_whole_runs);
	tcase_add_test(tc, test_concurrent_readers);
	suite_add_tcase(s, tc);

	tcase_add_unchecked_fixture(td, make_tmp, remove_tmp);
	tcase_add_checked_fixture(td, setup_disk, teardown_disk);
	tcase_set_timeout(td, 30);
	tcase_add_test(td, test_disk_serves_evicted);
	tcase_add_test(td, test_disk_serves_random_reads);
	tcase_add_test(td, test_disk_cap);
	tcase_add_test(td, test_disk_new_etag_not_served);
	tcase_add_test(td, test_disk_forget);
	tcase_add_test(td, test_disk_forget_while_spilling);
	tcase_add_loop_test(td, test_disk_damaged_file_not_served, 0, 4);
	tcase_add_test(td, test_disk_warm_restart);
	tcase_add_test(td, test_disk_other_block_size);
	tcase_add_test(td, test_disk_dir_unusable);
	tcase_add_test(td, test_disk_concurrent_readers);
	suite_add_tcase(s, td);
	return check_run(s);
}
