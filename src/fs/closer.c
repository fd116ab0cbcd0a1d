/*
 * The background uploads of -o async_close: a queue of inode numbers and a
 * pool of threads that send them. One lock guards the queue, the set of
 * queued inodes (so a file closed again before it left is sent once) and
 * the counters. A send that fails is tried again later, after a delay that
 * doubles from CLOSER_RETRY_FIRST up to CLOSER_RETRY_MAX seconds: nobody
 * was told of the failure, so the store coming back must be enough.
 * Threads start at the first queued file: the daemon forks into the
 * background after setting up, and threads do not survive that.
 */
#include "closer.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <time.h>
#include <uthash.h>

#include "log.h"

#define CLOSER_RETRY_FIRST 5   /* seconds */
#define CLOSER_RETRY_MAX   300 /* seconds */

struct closer_item {
	UT_hash_handle hh;
	uint64_t ino;
	struct closer_item *next; /* queue or retry list order */
	time_t due;		  /* on the retry list: when to try again */
	unsigned int delay;	  /* seconds before the last retry; 0: none yet */
};

struct closer {
	pthread_mutex_t lock;
	pthread_cond_t work;	    /* queued, or stopping */
	pthread_cond_t room;	    /* one left the queue or finished */
	struct closer_item *queued; /* by ino */
	struct closer_item *head, *tail;
	struct closer_item *retry; /* failed sends, not queued */
	unsigned int n_queued, n_sending, max_pending, failed;
	unsigned int n_threads, max_threads;
	pthread_t *threads;
	bool stopping;
	int (*send)(void *ctx, uint64_t ino);
	void *ctx;
};

static time_t now_mono(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec;
}

/* Append it to the queue, unless its inode is queued already. Called with
 * the lock held. */
static void enqueue(struct closer *c, struct closer_item *it)
{
	struct closer_item *there;

	HASH_FIND(hh, c->queued, &it->ino, sizeof(it->ino), there);
	if (there) {
		free(it);
		return;
	}
	it->next = NULL;
	HASH_ADD(hh, c->queued, ino, sizeof(it->ino), it);
	if (c->tail)
		c->tail->next = it;
	else
		c->head = it;
	c->tail = it;
	c->n_queued++;
}

/* Queue the retries that are due; returns when the next one is (0: none).
 * Called with the lock held. */
static time_t promote_due(struct closer *c)
{
	struct closer_item **p = &c->retry, *it;
	time_t now = now_mono(), next = 0;

	while ((it = *p)) {
		if (it->due <= now) {
			*p = it->next;
			enqueue(c, it);
		} else {
			if (!next || it->due < next)
				next = it->due;
			p = &it->next;
		}
	}
	return next;
}

static void *closer_worker(void *arg)
{
	struct closer *c = arg;

	pthread_mutex_lock(&c->lock);
	for (;;) {
		time_t next = promote_due(c);
		struct closer_item *it = c->head;
		int rc;

		if (!it) {
			struct timespec until = {.tv_sec = next};

			if (c->stopping)
				break;
			if (next)
				pthread_cond_timedwait(&c->work, &c->lock, &until);
			else
				pthread_cond_wait(&c->work, &c->lock);
			continue;
		}
		c->head = it->next;
		if (!c->head)
			c->tail = NULL;
		HASH_DEL(c->queued, it);
		c->n_queued--;
		c->n_sending++;
		pthread_mutex_unlock(&c->lock);
		rc = c->send(c->ctx, it->ino);
		pthread_mutex_lock(&c->lock);
		c->n_sending--;
		if (rc && !c->stopping) {
			c->failed++;
			it->delay = it->delay ? it->delay * 2 : CLOSER_RETRY_FIRST;
			if (it->delay > CLOSER_RETRY_MAX)
				it->delay = CLOSER_RETRY_MAX;
			it->due = now_mono() + it->delay;
			it->next = c->retry;
			c->retry = it;
		} else {
			c->failed += rc != 0;
			free(it);
		}
		pthread_cond_broadcast(&c->room);
	}
	pthread_mutex_unlock(&c->lock);
	return NULL;
}

struct closer *closer_create(unsigned int threads, unsigned int max_pending,
			     int (*send)(void *ctx, uint64_t ino), void *ctx)
{
	struct closer *c = calloc(1, sizeof(*c));
	pthread_condattr_t attr;

	if (!c)
		return NULL;
	c->threads = calloc(threads ? threads : 1, sizeof(*c->threads));
	if (!c->threads) {
		free(c);
		return NULL;
	}
	pthread_condattr_init(&attr);
	pthread_condattr_setclock(&attr, CLOCK_MONOTONIC); /* retries' due times */
	pthread_mutex_init(&c->lock, NULL);
	pthread_cond_init(&c->work, &attr);
	pthread_cond_init(&c->room, NULL);
	pthread_condattr_destroy(&attr);
	c->max_threads = threads ? threads : 1;
	c->max_pending = max_pending ? max_pending : 1;
	c->send = send;
	c->ctx = ctx;
	return c;
}

void closer_wait_room(struct closer *c)
{
	pthread_mutex_lock(&c->lock);
	while (c->n_queued + c->n_sending >= c->max_pending && c->n_threads && !c->stopping)
		pthread_cond_wait(&c->room, &c->lock);
	pthread_mutex_unlock(&c->lock);
}

void closer_queue(struct closer *c, uint64_t ino)
{
	struct closer_item *it;

	pthread_mutex_lock(&c->lock);
	HASH_FIND(hh, c->queued, &ino, sizeof(ino), it);
	if (!it && !c->stopping && (it = calloc(1, sizeof(*it)))) {
		it->ino = ino;
		enqueue(c, it);
		while (c->n_threads < c->max_threads && c->n_threads < c->n_queued + c->n_sending &&
		       !pthread_create(&c->threads[c->n_threads], NULL, closer_worker, c))
			c->n_threads++;
		if (!c->n_threads)
			log_warn(
				"no thread to upload closed files: they wait for fsync or unmount");
		pthread_cond_signal(&c->work);
	}
	pthread_mutex_unlock(&c->lock);
}

unsigned int closer_drain(struct closer *c)
{
	unsigned int failed;

	pthread_mutex_lock(&c->lock);
	while ((c->n_queued && c->n_threads) || c->n_sending)
		pthread_cond_wait(&c->room, &c->lock);
	failed = c->failed;
	c->failed = 0;
	pthread_mutex_unlock(&c->lock);
	return failed;
}

void closer_destroy(struct closer *c)
{
	struct closer_item *it, *tmp;

	if (!c)
		return;
	closer_drain(c);
	pthread_mutex_lock(&c->lock);
	c->stopping = true;
	pthread_cond_broadcast(&c->work);
	pthread_cond_broadcast(&c->room);
	pthread_mutex_unlock(&c->lock);
	for (unsigned int i = 0; i < c->n_threads; i++)
		pthread_join(c->threads[i], NULL);
	/* Left only if no thread ever started, or failed sends waiting for
	 * a retry: fs_flush_all sends them. */
	HASH_ITER(hh, c->queued, it, tmp)
	{
		HASH_DEL(c->queued, it);
		free(it);
	}
	while ((it = c->retry)) {
		c->retry = it->next;
		free(it);
	}
	pthread_cond_destroy(&c->work);
	pthread_cond_destroy(&c->room);
	pthread_mutex_destroy(&c->lock);
	free(c->threads);
	free(c);
}
