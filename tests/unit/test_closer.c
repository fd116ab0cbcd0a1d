/* The background senders of async_close: each queued file is sent once
 * however often it is queued while waiting, drain waits for all and counts
 * failures, and a writer waits for room past max_pending. */
#include <check.h>

#include "check_main.h"
#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>
#include <unistd.h>

#include "../../src/fs/closer.h"

struct sends {
	pthread_mutex_t lock;
	pthread_cond_t changed;
	unsigned int count[16];
	unsigned int running;
	bool gate_open; /* sends wait for it */
};

static struct sends *sends_new(bool gate_open)
{
	static struct sends s;

	memset(s.count, 0, sizeof(s.count));
	s.running = 0;
	s.gate_open = gate_open;
	pthread_mutex_init(&s.lock, NULL);
	pthread_cond_init(&s.changed, NULL);
	return &s;
}

static void gate(struct sends *s, bool open)
{
	pthread_mutex_lock(&s->lock);
	s->gate_open = open;
	pthread_cond_broadcast(&s->changed);
	pthread_mutex_unlock(&s->lock);
}

/* Odd inodes fail. */
static int send_one(void *ctx, uint64_t ino)
{
	struct sends *s = ctx;

	pthread_mutex_lock(&s->lock);
	s->running++;
	pthread_cond_broadcast(&s->changed);
	while (!s->gate_open)
		pthread_cond_wait(&s->changed, &s->lock);
	s->count[ino]++;
	s->running--;
	pthread_mutex_unlock(&s->lock);
	return ino % 2 ? -EIO : 0;
}

static void wait_running(struct sends *s, unsigned int n)
{
	pthread_mutex_lock(&s->lock);
	while (s->running < n)
		pthread_cond_wait(&s->changed, &s->lock);
	pthread_mutex_unlock(&s->lock);
}

START_TEST(test_each_file_sent_once_and_failures_counted)
{
	struct sends *s = sends_new(true);
	struct closer *c = closer_create(4, 64, send_one, s);

	for (uint64_t ino = 1; ino <= 10; ino++)
		closer_queue(c, ino);
	ck_assert_uint_eq(closer_drain(c), 5); /* 1, 3, 5, 7, 9 */
	for (int ino = 1; ino <= 10; ino++)
		ck_assert_uint_eq(s->count[ino], 1);
	ck_assert_uint_eq(closer_drain(c), 0); /* counted once */
	closer_destroy(c);
}
END_TEST

START_TEST(test_queued_twice_while_waiting_is_sent_once)
{
	struct sends *s = sends_new(false);
	struct closer *c = closer_create(1, 64, send_one, s);

	closer_queue(c, 2); /* taken by the one thread, held at the gate */
	wait_running(s, 1);
	closer_queue(c, 4);
	closer_queue(c, 4); /* still waiting: not queued again */
	closer_queue(c, 2); /* being sent: queued again, it changed since */
	gate(s, true);
	ck_assert_uint_eq(closer_drain(c), 0);
	ck_assert_uint_eq(s->count[4], 1);
	ck_assert_uint_eq(s->count[2], 2);
	closer_destroy(c);
}
END_TEST

struct waiter {
	struct closer *c;
	bool done;
	pthread_mutex_t lock;
};

static void *wait_room(void *arg)
{
	struct waiter *w = arg;

	closer_wait_room(w->c);
	pthread_mutex_lock(&w->lock);
	w->done = true;
	pthread_mutex_unlock(&w->lock);
	return NULL;
}

START_TEST(test_writer_waits_for_room)
{
	struct sends *s = sends_new(false);
	struct closer *c = closer_create(2, 3, send_one, s);
	struct waiter w = {.c = c, .lock = PTHREAD_MUTEX_INITIALIZER};
	pthread_t t;
	bool done;

	closer_wait_room(c); /* room: returns at once */
	closer_queue(c, 2);
	closer_queue(c, 4);
	closer_queue(c, 6); /* two being sent, one waiting: full */
	wait_running(s, 2);
	pthread_create(&t, NULL, wait_room, &w);
	/* It cannot get room while both sends are held at the gate; this
	 * checks that it has not, not how long it waits. */
	usleep(100 * 1000);
	pthread_mutex_lock(&w.lock);
	done = w.done;
	pthread_mutex_unlock(&w.lock);
	ck_assert(!done);
	gate(s, true);
	pthread_join(t, NULL);
	ck_assert(w.done);
	ck_assert_uint_eq(closer_drain(c), 0);
	closer_destroy(c);
}
END_TEST

/* Fails the first try of each inode. */
static int send_fail_once(void *ctx, uint64_t ino)
{
	struct sends *s = ctx;
	unsigned int n;

	pthread_mutex_lock(&s->lock);
	n = ++s->count[ino];
	pthread_cond_broadcast(&s->changed);
	pthread_mutex_unlock(&s->lock);
	return n == 1 ? -EIO : 0;
}

START_TEST(test_failed_send_is_tried_again)
{
	struct sends *s = sends_new(true);
	struct closer *c = closer_create(1, 64, send_fail_once, s);
	unsigned int tries;

	closer_queue(c, 3);
	ck_assert_uint_eq(closer_drain(c), 1); /* the first try failed */
	/* A retry comes after a few seconds, by itself: wait for it. */
	for (int i = 0; i < 300; i++) {
		pthread_mutex_lock(&s->lock);
		tries = s->count[3];
		pthread_mutex_unlock(&s->lock);
		if (tries == 2)
			break;
		usleep(100 * 1000);
	}
	ck_assert_uint_eq(tries, 2);
	ck_assert_uint_eq(closer_drain(c), 0);
	closer_destroy(c);
	ck_assert_uint_eq(s->count[3], 2); /* and no more */
}
END_TEST

START_TEST(test_destroy_sends_what_is_queued)
{
	struct sends *s = sends_new(true);
	struct closer *c = closer_create(2, 64, send_one, s);

	for (uint64_t ino = 2; ino <= 12; ino += 2)
		closer_queue(c, ino);
	closer_destroy(c);
	for (int ino = 2; ino <= 12; ino += 2)
		ck_assert_uint_eq(s->count[ino], 1);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("closer");
	TCase *tc = tcase_create("queue");

	tcase_set_timeout(tc, 30); /* a retry comes 5 s after its failure */

	tcase_add_test(tc, test_each_file_sent_once_and_failures_counted);
	tcase_add_test(tc, test_queued_twice_while_waiting_is_sent_once);
	tcase_add_test(tc, test_writer_waits_for_room);
	tcase_add_test(tc, test_destroy_sends_what_is_queued);
	tcase_add_test(tc, test_failed_send_is_tried_again);
	suite_add_tcase(s, tc);
	return check_run(s);
}
