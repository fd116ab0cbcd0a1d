/* Block cache policy, on an in-memory store that counts its GETs. */
#include <check.h>

#include "check_main.h"
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../../src/cache/blocks.h"

#define BS   4096
#define SIZE (40 * BS + 100)

static unsigned char object[SIZE];
static unsigned int gets;
static uint64_t bytes;
static const char *current_etag = "\"v1\"";
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;

static int mem_get(struct store *s, const char *key, uint64_t off, const struct iovec *dst, int cnt,
		   size_t *got, const char *if_match)
{
	size_t len = 0;

	(void)s;
	(void)key;
	for (int i = 0; i < cnt; i++)
		len += dst[i].iov_len;
	pthread_mutex_lock(&lock);
	gets++;
	bytes += len;
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

static void setup(void)
{
	for (size_t i = 0; i < SIZE; i++)
		object[i] = (unsigned char)(i * 7 + i / 251);
	gets = 0;
	bytes = 0;
	current_etag = "\"v1\"";
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

static void read_random(uint64_t off, size_t len, uint64_t ahead, bool random)
{
	unsigned char buf[16 * BS];
	size_t got;

	ck_assert_int_eq(
		blocks_read(b, "k", current_etag, SIZE, buf, len, off, ahead, random, &got), 0);
	ck_assert_uint_eq(got, off >= SIZE ? 0 : (SIZE - off < len ? SIZE - off : len));
	ck_assert_int_eq(memcmp(buf, object + off, got), 0);
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

int main(void)
{
	Suite *s = suite_create("blocks");
	TCase *tc = tcase_create("policy");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, test_reads_across_blocks_and_end);
	tcase_add_test(tc, test_rereads_hit);
	tcase_add_test(tc, test_memory_capped_lru);
	tcase_add_test(tc, test_new_version_is_refetched);
	tcase_add_test(tc, test_stale_version_fails);
	tcase_add_test(tc, test_forget);
	tcase_add_test(tc, test_random_reads_stay_small);
	tcase_add_test(tc, test_prefetch_fills_ahead);
	tcase_add_test(tc, test_concurrent_readers);
	suite_add_tcase(s, tc);
	return check_run(s);
}
