/*
 * Streaming multipart write-back (see upload.h).
 *
 * Each part of a stream has a generation, bumped whenever the file changes
 * inside it, and the generation last sent. A part is clean when the two are
 * equal. A part is never in flight twice at once: two uploads of one part
 * number could land in either order, and the store keeps the last.
 */
#include "upload.h"

#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"
#include "metrics.h"

#define UPLOAD_MAX_THREADS 64

struct upload_job {
	struct upload_job *next;
	struct upload_stream *st;
	unsigned int part; /* from 0; the store numbers parts from 1 */
	uint32_t gen;
	size_t len;
	bool copy; /* copy the part from the source object, do not send it */
};

struct uploader {
	struct store *store;
	unsigned int max_threads;
	pthread_mutex_t lock;
	pthread_cond_t work;
	struct upload_job *head, *tail; /* protected by lock */
	pthread_t threads[UPLOAD_MAX_THREADS];
	unsigned int n_threads; /* protected by lock */
	bool stopping;		/* protected by lock */
};

struct upload_part_state {
	uint32_t gen, sent_gen;
	bool inflight; /* queued or being sent */
	bool copy;     /* unchanged from the source object: copied in the store */
	int error;     /* of the last send */
};

struct upload_stream {
	struct uploader *up;
	struct store_upload *u;
	struct store_meta meta;
	char *key; /* for messages */
	int fd;
	uint64_t part_size;
	pthread_mutex_t lock;
	pthread_cond_t idle;
	struct upload_part_state *parts; /* protected by lock */
	unsigned int n_parts;		 /* protected by lock */
	unsigned int inflight;		 /* protected by lock */
	char *src_key;			 /* source of copied parts, or NULL */
	char src_etag[80];
	uint64_t src_size;
};

struct upload_src {
	int fd;
	uint64_t base;
};

static ssize_t upload_src_read(void *ctx, void *dst, size_t len, uint64_t off)
{
	const struct upload_src *src = ctx;
	ssize_t n = pread(src->fd, dst, len, (off_t)(src->base + off));

	return n < 0 ? -errno : n;
}

static void upload_run(struct uploader *up, struct upload_job *job)
{
	struct upload_stream *st = job->st;
	struct upload_src src = {st->fd, (uint64_t)job->part * st->part_size};
	struct upload_part_state *p;
	const struct store_ops *ops = up->store->ops;
	int rc;

	if (!job->copy)
		rc = ops->upload_part(up->store, st->u, job->part + 1, upload_src_read, &src,
				      job->len);
	else if (!ops->upload_part_copy)
		rc = -ENOTSUP;
	else if (src.base + job->len > st->src_size)
		rc = -EINVAL; /* only bytes the source has can be copied */
	else
		rc = ops->upload_part_copy(up->store, st->u, job->part + 1, st->src_key,
					   st->src_etag, src.base, job->len);
	pthread_mutex_lock(&st->lock);
	p = &st->parts[job->part];
	p->inflight = false;
	p->error = rc;
	if (!rc)
		p->sent_gen = job->gen;
	else
		log_info("part %u of '%s' failed: %s (sent again at close)", job->part + 1, st->key,
			 strerror(-rc));
	if (!--st->inflight)
		pthread_cond_broadcast(&st->idle);
	pthread_mutex_unlock(&st->lock);
}

static void *upload_worker(void *arg)
{
	struct uploader *up = arg;
	struct upload_job *job;

	pthread_mutex_lock(&up->lock);
	for (;;) {
		while (!up->head && !up->stopping)
			pthread_cond_wait(&up->work, &up->lock);
		if (!up->head)
			break;
		job = up->head;
		up->head = job->next;
		if (!up->head)
			up->tail = NULL;
		pthread_mutex_unlock(&up->lock);
		upload_run(up, job);
		free(job);
		pthread_mutex_lock(&up->lock);
	}
	pthread_mutex_unlock(&up->lock);
	return NULL;
}

int uploader_create(struct store *store, unsigned int threads, struct uploader **out)
{
	struct uploader *up = calloc(1, sizeof(*up));

	if (!up)
		return -ENOMEM;
	up->store = store;
	up->max_threads = threads < 1			 ? 1
			  : threads > UPLOAD_MAX_THREADS ? UPLOAD_MAX_THREADS
							 : threads;
	pthread_mutex_init(&up->lock, NULL);
	pthread_cond_init(&up->work, NULL);
	*out = up;
	return 0;
}

void uploader_destroy(struct uploader *up)
{
	struct upload_job *job;
	unsigned int i;

	if (!up)
		return;
	pthread_mutex_lock(&up->lock);
	up->stopping = true;
	pthread_cond_broadcast(&up->work);
	pthread_mutex_unlock(&up->lock);
	for (i = 0; i < up->n_threads; i++)
		pthread_join(up->threads[i], NULL);
	/* Streams are finished or aborted before this; nothing should be left. */
	while ((job = up->head)) {
		up->head = job->next;
		free(job);
	}
	pthread_cond_destroy(&up->work);
	pthread_mutex_destroy(&up->lock);
	free(up);
}

/* Grow the part table to n parts; new parts are dirty. Called with st->lock. */
static int upload_grow(struct upload_stream *st, unsigned int n)
{
	struct upload_part_state *grown;
	unsigned int cap = st->n_parts;

	if (n <= st->n_parts)
		return 0;
	grown = realloc(st->parts, n * sizeof(*grown));
	if (!grown)
		return -ENOMEM;
	for (; cap < n; cap++)
		grown[cap] = (struct upload_part_state){.gen = 1};
	st->parts = grown;
	st->n_parts = n;
	return 0;
}

/* Queue part k of len bytes. Called with st->lock held. */
static int upload_queue(struct upload_stream *st, unsigned int k, size_t len)
{
	struct uploader *up = st->up;
	struct upload_job *job = malloc(sizeof(*job));

	if (!job)
		return -ENOMEM;
	*job = (struct upload_job){.st = st,
				   .part = k,
				   .gen = st->parts[k].gen,
				   .len = len,
				   .copy = st->parts[k].copy};
	st->parts[k].inflight = true;
	st->inflight++;
	pthread_mutex_lock(&up->lock);
	if (up->tail)
		up->tail->next = job;
	else
		up->head = job;
	up->tail = job;
	/* Started at the first part: threads do not survive the daemon's fork. */
	while (up->n_threads < up->max_threads &&
	       !pthread_create(&up->threads[up->n_threads], NULL, upload_worker, up))
		up->n_threads++;
	pthread_cond_signal(&up->work);
	pthread_mutex_unlock(&up->lock);
	return 0;
}

int upload_stream_begin(struct uploader *up, const char *key, const struct store_meta *meta, int fd,
			uint64_t part_size, struct upload_stream **out)
{
	struct upload_stream *st = calloc(1, sizeof(*st));
	int rc;

	if (!st || !(st->key = strdup(key))) {
		free(st);
		return -ENOMEM;
	}
	rc = up->store->ops->upload_begin(up->store, key, meta, &st->u);
	if (rc) {
		free(st->key);
		free(st);
		return rc;
	}
	st->up = up;
	if (meta)
		st->meta = *meta;
	st->fd = fd;
	st->part_size = part_size;
	pthread_mutex_init(&st->lock, NULL);
	pthread_cond_init(&st->idle, NULL);
	*out = st;
	return 0;
}

uint64_t upload_stream_part_size(const struct upload_stream *st)
{
	return st->part_size;
}

const char *upload_stream_key(const struct upload_stream *st)
{
	return st->key;
}

const struct store_meta *upload_stream_meta(const struct upload_stream *st)
{
	return &st->meta;
}

void upload_stream_dirty(struct upload_stream *st, uint64_t off, uint64_t len)
{
	uint64_t first = off / st->part_size, end;
	unsigned int k;

	if (!len)
		return;
	end = (off + len - 1) / st->part_size + 1;
	pthread_mutex_lock(&st->lock);
	/* Parts past the table are dirty already (new parts start dirty);
	 * past the store's limit, finish starts over with bigger parts. */
	if (first < st->n_parts)
		for (k = (unsigned int)first; k < st->n_parts && k < end; k++) {
			st->parts[k].gen++;
			st->parts[k].copy = false; /* its bytes are the file's now */
		}
	pthread_mutex_unlock(&st->lock);
}

int upload_stream_copy_from(struct upload_stream *st, const char *src_key, const char *etag,
			    uint64_t src_size)
{
	unsigned int n = (unsigned int)((src_size + st->part_size - 1) / st->part_size), k;
	int rc;

	free(st->src_key);
	if (!(st->src_key = strdup(src_key)))
		return -ENOMEM;
	snprintf(st->src_etag, sizeof(st->src_etag), "%s", etag);
	st->src_size = src_size;
	pthread_mutex_lock(&st->lock);
	rc = upload_grow(st, n);
	for (k = 0; !rc && k < n; k++)
		st->parts[k].copy = true;
	pthread_mutex_unlock(&st->lock);
	return rc;
}

void upload_stream_send(struct upload_stream *st, uint64_t off, uint64_t end)
{
	unsigned int max = st->up->store->max_parts, k;
	uint64_t last = end / st->part_size; /* parts below this one are whole */

	if (last > max)
		last = max;
	pthread_mutex_lock(&st->lock);
	if (upload_grow(st, (unsigned int)last))
		goto out;
	for (k = (unsigned int)(off / st->part_size); k < last; k++) {
		struct upload_part_state *p = &st->parts[k];

		if (!p->inflight && p->sent_gen != p->gen && upload_queue(st, k, st->part_size))
			break;
	}
out:
	pthread_mutex_unlock(&st->lock);
}

static void upload_stream_free(struct upload_stream *st)
{
	pthread_cond_destroy(&st->idle);
	pthread_mutex_destroy(&st->lock);
	free(st->parts);
	free(st->key);
	free(st->src_key);
	free(st);
}

int upload_stream_finish(struct upload_stream **stp, uint64_t size)
{
	struct upload_stream *st = *stp;
	struct store *s = st->up->store;
	uint64_t n64 = size ? (size - 1) / st->part_size + 1 : 1;
	unsigned int n = (unsigned int)n64, k, queued, round;
	int rc;

	if (n64 > s->max_parts)
		return -EFBIG;
	pthread_mutex_lock(&st->lock);
	rc = upload_grow(st, n);
	/* Round 0 sends what is dirty, parts that failed in the background
	 * included; a part that fails in a later round fails the finish.
	 * Failures of parts past the end (truncated away) do not matter. */
	for (round = 0; !rc; round++) {
		while (st->inflight)
			pthread_cond_wait(&st->idle, &st->lock);
		for (k = queued = 0; k < n && !rc; k++) {
			struct upload_part_state *p = &st->parts[k];
			uint64_t off = (uint64_t)k * st->part_size;

			if (p->sent_gen == p->gen)
				continue;
			if (round && p->error) {
				rc = p->error;
				break;
			}
			rc = upload_queue(st, k,
					  size - off < st->part_size ? size - off : st->part_size);
			queued++;
		}
		if (!queued)
			break;
	}
	while (st->inflight)
		pthread_cond_wait(&st->idle, &st->lock);
	pthread_mutex_unlock(&st->lock);
	if (rc)
		return rc;
	/* The store releases the upload whether completion worked or not. */
	rc = s->ops->upload_complete(s, st->u, n);
	upload_stream_free(st);
	*stp = NULL;
	return rc;
}

void upload_stream_abort(struct upload_stream *st)
{
	struct uploader *up = st->up;
	struct upload_job **pp, *job;

	pthread_mutex_lock(&st->lock);
	/* Jobs not yet started are dropped; those being sent are waited for. */
	pthread_mutex_lock(&up->lock);
	up->tail = NULL;
	for (pp = &up->head; (job = *pp);) {
		if (job->st == st) {
			*pp = job->next;
			st->parts[job->part].inflight = false;
			st->inflight--;
			free(job);
		} else {
			up->tail = job;
			pp = &job->next;
		}
	}
	pthread_mutex_unlock(&up->lock);
	while (st->inflight)
		pthread_cond_wait(&st->idle, &st->lock);
	pthread_mutex_unlock(&st->lock);
	up->store->ops->upload_abort(up->store, st->u);
	upload_stream_free(st);
}
