/*
 * The block cache. One lock guards the table, the LRU list and the fetch
 * and spill queues; network and disk I/O always happen outside it. A block
 * is LOADING while the disk tier or a GET fills it (readers that need it
 * wait on `changed`), then READY, or FAILED (handed to its waiters, then
 * dropped so a later read retries). Blocks in use (refs > 0) or loading
 * are never evicted; the LRU holds only idle READY blocks.
 *
 * With a disk tier, an evicted block the tier lacks leaves the table for
 * the spill queue, where a thread of its own (so that disk writes never
 * wait behind GETs) writes it to disk, then frees it. The queue is short
 * (spill_max): an eviction that finds it full waits for the disk, so
 * memory stays within mem_size plus spill_max blocks. A memory
 * miss asks the disk tier before the store. blocks_forget drops a key from
 * both tiers under the lock, so no read that starts after it sees either.
 *
 * The buffers of freed whole blocks are kept as spares (up to spare_max,
 * within 16 MiB) for the next blocks: a fresh 1 MiB buffer costs 256 page
 * faults, which were most of the daemon's CPU in a cold sequential read.
 */
#include "blocks.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <uthash.h>

#include "disktier.h"
#include "log.h"
#include "metrics.h"

#define BLOCKS_MAX_RUN	 8	     /* blocks per prefetch GET */
#define BLOCKS_TOUCHED	 256	     /* remembered random misses */
#define BLOCKS_SPILL_MAX 16	     /* evicted blocks waiting for the disk tier */
#define BLOCKS_SPARE_MAX 16	     /* buffers kept for reuse, at most... */
#define BLOCKS_SPARE_MEM (16u << 20) /* ...and this much memory */

enum block_state { BLOCK_LOADING, BLOCK_READY, BLOCK_FAILED };

struct block_id {
	uint64_t obj; /* hash of "key\netag" */
	uint64_t idx;
};

struct block {
	UT_hash_handle hh;
	struct block_id id;
	char *obj; /* "key\netag": the hash may collide, this may not */
	char *data;
	size_t len; /* valid bytes */
	size_t cap; /* allocated bytes, counted in mem_used */
	enum block_state state;
	int err;
	unsigned int refs;
	bool hashed;		      /* in the table (false once forgotten) */
	struct block *prev, *next;    /* LRU, most recent first; only idle READY blocks */
	struct disktier_block *spill; /* its place on disk, while on the spill queue */
};

struct fetch_job {
	struct fetch_job *next;
	char *key, *etag;
	size_t n;
	struct block *blocks[BLOCKS_MAX_RUN];
};

struct blocks {
	struct store *store;
	struct blocks_conf conf;
	pthread_mutex_t lock;
	pthread_cond_t changed; /* a block left LOADING */
	pthread_cond_t work;	/* a job was queued, or stopping */
	struct block *table;
	struct block lru; /* sentinel */
	uint64_t mem_used;
	struct fetch_job *q_head, *q_tail;
	unsigned int q_len;
	struct disktier *disk;			 /* NULL: no disk tier */
	struct block *spill_q[BLOCKS_SPILL_MAX]; /* a ring, out of table and LRU */
	unsigned int spill_head, spill_len, spill_max;
	pthread_cond_t spill_work; /* a block was spilled, or stopping */
	pthread_cond_t spill_done; /* the spill queue has room, or stopping */
	pthread_t spiller;
	bool spiller_started;
	bool stopping;
	struct block_id touched[BLOCKS_TOUCHED]; /* ring of blocks read at random */
	unsigned int touched_next;
	pthread_t *threads;
	unsigned int n_threads;
	char *spare[BLOCKS_SPARE_MAX]; /* buffers of block_size bytes, for reuse */
	unsigned int n_spare, spare_max;
	struct blocks_stats stats;
};

static uint64_t fnv1a(const char *s)
{
	uint64_t h = 1469598103934665603ULL;

	for (; *s; s++) {
		h ^= (unsigned char)*s;
		h *= 1099511628211ULL;
	}
	return h;
}

static void lru_unlink(struct block *bl)
{
	if (bl->prev) {
		bl->prev->next = bl->next;
		bl->next->prev = bl->prev;
		bl->prev = bl->next = NULL;
	}
}

static void lru_push(struct blocks *b, struct block *bl)
{
	bl->next = b->lru.next;
	bl->prev = &b->lru;
	b->lru.next->prev = bl;
	b->lru.next = bl;
}

/* Free bl, keeping its buffer as a spare when it is a whole block and
 * there is room. Called with the lock held. */
static void block_release(struct blocks *b, struct block *bl)
{
	if (bl->cap == b->conf.block_size && b->n_spare < b->spare_max)
		b->spare[b->n_spare++] = bl->data;
	else
		free(bl->data);
	free(bl->obj);
	free(bl);
}

static void block_free(struct blocks *b, struct block *bl)
{
	lru_unlink(bl);
	if (bl->hashed)
		HASH_DEL(b->table, bl);
	b->mem_used -= bl->cap;
	block_release(b, bl);
}

/* Drop a reference; an idle block goes to the LRU, or away if it failed or
 * was forgotten. Called with the lock held. */
static void block_put(struct blocks *b, struct block *bl)
{
	if (--bl->refs)
		return;
	if (bl->state != BLOCK_READY || !bl->hashed)
		block_free(b, bl);
	else
		lru_push(b, bl);
}

static struct block *block_find(struct blocks *b, const struct block_id *id)
{
	struct block *bl;

	HASH_FIND(hh, b->table, id, sizeof(*id), bl);
	return bl;
}

/* A new LOADING block with one reference, in the table. NULL on ENOMEM. */
static struct block *block_new(struct blocks *b, const struct block_id *id, const char *obj,
			       size_t len)
{
	struct block *bl = calloc(1, sizeof(*bl));

	if (!bl)
		return NULL;
	bl->id = *id;
	bl->obj = strdup(obj);
	if (len == b->conf.block_size && b->n_spare)
		bl->data = b->spare[--b->n_spare];
	else
		bl->data = malloc(len ? len : 1);
	if (!bl->obj || !bl->data) {
		free(bl->obj);
		free(bl->data);
		free(bl);
		return NULL;
	}
	bl->cap = len;
	bl->state = BLOCK_LOADING;
	bl->refs = 1;
	bl->hashed = true;
	b->mem_used += len;
	HASH_ADD(hh, b->table, id, sizeof(bl->id), bl);
	return bl;
}

static size_t block_len(const struct blocks *b, uint64_t size, uint64_t idx)
{
	uint64_t start = idx * b->conf.block_size;

	if (start >= size)
		return 0;
	return size - start < b->conf.block_size ? size - start : b->conf.block_size;
}

/*
 * Fill blocks[0..n) (consecutive, LOADING, referenced by us) with one GET
 * from off, then publish them. Called without the lock.
 */
static void fetch_run(struct blocks *b, const char *key, const char *etag, uint64_t off,
		      struct block **blocks, size_t n)
{
	struct iovec iov[BLOCKS_MAX_RUN] = {{0}};
	size_t got = 0, pos = 0;
	int rc;

	/* One GET straight into the blocks: no buffer beside the cache. */
	for (size_t i = 0; i < n; i++)
		iov[i] = (struct iovec){blocks[i]->data, blocks[i]->cap};
	rc = b->store->ops->get(b->store, key, off, iov, (int)n, &got, etag);

	pthread_mutex_lock(&b->lock);
	for (size_t i = 0; i < n; i++) {
		struct block *bl = blocks[i];

		if (rc) {
			bl->state = BLOCK_FAILED;
			bl->err = rc;
			continue;
		}
		bl->len = got > pos ? (got - pos < bl->cap ? got - pos : bl->cap) : 0;
		pos += bl->cap;
		bl->state = BLOCK_READY;
	}
	if (!rc)
		b->stats.fetched_bytes += got;
	pthread_cond_broadcast(&b->changed);
	pthread_mutex_unlock(&b->lock);
}

/* Fill bl (LOADING, referenced by us) from the disk tier and publish it,
 * if the tier has it. Called without the lock. */
static bool load_from_disk(struct blocks *b, struct block *bl)
{
	size_t len;

	if (!b->disk || disktier_load(b->disk, bl->obj, bl->id.idx, bl->data, bl->cap, &len))
		return false;
	pthread_mutex_lock(&b->lock);
	bl->len = len;
	bl->state = BLOCK_READY;
	b->stats.disk_hits++;
	metrics_add(cache_disk_hits, 1);
	pthread_cond_broadcast(&b->changed);
	pthread_mutex_unlock(&b->lock);
	return true;
}

/*
 * Fill blocks[0..n) (LOADING, ascending, referenced by us) and publish
 * them: from the disk tier where it has them, else with one GET per run of
 * consecutive ones. Returns how many were fetched. Called without the lock.
 */
static size_t fill_blocks(struct blocks *b, const char *key, const char *etag,
			  struct block **blocks, size_t n)
{
	struct block *left[CACHE_VIEW_MAX];
	size_t n_left = 0;

	for (size_t i = 0; i < n; i++)
		if (!load_from_disk(b, blocks[i]))
			left[n_left++] = blocks[i];
	for (size_t i = 0; i < n_left;) {
		size_t j = i + 1;

		while (j < n_left && j - i < BLOCKS_MAX_RUN &&
		       left[j]->id.idx == left[j - 1]->id.idx + 1)
			j++;
		fetch_run(b, key, etag, left[i]->id.idx * b->conf.block_size, &left[i], j - i);
		i = j;
	}
	return n_left;
}

/* Write the oldest spilled block to the disk tier, then free it. Called
 * with the lock held; drops it meanwhile. */
static void run_spill(struct blocks *b)
{
	struct block *bl = b->spill_q[b->spill_head];

	b->spill_head = (b->spill_head + 1) % BLOCKS_SPILL_MAX;
	b->spill_len--;
	pthread_cond_broadcast(&b->spill_done);
	pthread_mutex_unlock(&b->lock);
	disktier_write(b->disk, bl->spill, bl->obj, bl->data);
	pthread_mutex_lock(&b->lock);
	block_release(b, bl);
}

/* Run the oldest prefetch job. Called with the lock held; drops it
 * meanwhile. */
static void run_job(struct blocks *b)
{
	struct fetch_job *j = b->q_head;

	b->q_head = j->next;
	if (!b->q_head)
		b->q_tail = NULL;
	b->q_len--;
	pthread_mutex_unlock(&b->lock);

	fill_blocks(b, j->key, j->etag, j->blocks, j->n);

	pthread_mutex_lock(&b->lock);
	for (size_t i = 0; i < j->n; i++)
		block_put(b, j->blocks[i]);
	free(j->key);
	free(j->etag);
	free(j);
}

static void *fetch_worker(void *arg)
{
	struct blocks *b = arg;

	pthread_mutex_lock(&b->lock);
	for (;;) {
		while (!b->q_head && !b->stopping)
			pthread_cond_wait(&b->work, &b->lock);
		if (b->stopping)
			break;
		run_job(b);
	}
	pthread_mutex_unlock(&b->lock);
	return NULL;
}

static void *spill_worker(void *arg)
{
	struct blocks *b = arg;

	pthread_mutex_lock(&b->lock);
	for (;;) {
		while (!b->spill_len && !b->stopping)
			pthread_cond_wait(&b->spill_work, &b->lock);
		if (b->stopping)
			break;
		run_spill(b);
	}
	pthread_mutex_unlock(&b->lock);
	return NULL;
}

int blocks_create(struct store *store, const struct blocks_conf *conf, struct blocks **out)
{
	struct blocks *b = calloc(1, sizeof(*b));

	if (!b)
		return -ENOMEM;
	b->store = store;
	b->conf = *conf;
	b->lru.next = b->lru.prev = &b->lru;
	pthread_mutex_init(&b->lock, NULL);
	pthread_cond_init(&b->changed, NULL);
	pthread_cond_init(&b->work, NULL);
	pthread_cond_init(&b->spill_work, NULL);
	pthread_cond_init(&b->spill_done, NULL);
	b->conf.disk_dir = NULL; /* the caller's */
	/* Short: a queued block is out of reach of readers until written. */
	b->spill_max = conf->mem_size / conf->block_size / 8;
	if (b->spill_max < 2)
		b->spill_max = 2;
	if (b->spill_max > BLOCKS_SPILL_MAX)
		b->spill_max = BLOCKS_SPILL_MAX;
	/* Spares are outside mem_used: keep them small beside the cap. */
	b->spare_max = BLOCKS_SPARE_MEM / conf->block_size;
	if (b->spare_max > conf->mem_size / conf->block_size / 8)
		b->spare_max = conf->mem_size / conf->block_size / 8;
	if (b->spare_max > BLOCKS_SPARE_MAX)
		b->spare_max = BLOCKS_SPARE_MAX;
	b->threads = calloc(conf->fetch_threads, sizeof(*b->threads));
	if (!b->threads) {
		blocks_destroy(b);
		return -ENOMEM;
	}
	if (conf->disk_dir && *conf->disk_dir) {
		int rc = disktier_create(conf->disk_dir, conf->disk_size, conf->block_size,
					 &b->disk);

		if (rc) {
			blocks_destroy(b);
			return rc;
		}
	}
	*out = b;
	return 0;
}

/*
 * The fetch threads start at the first prefetch or spill, not in
 * blocks_create: the daemon forks into the background after setting up,
 * and threads do not survive a fork. Called with the lock held; false if
 * none could start.
 */
static bool start_threads(struct blocks *b)
{
	while (b->n_threads < b->conf.fetch_threads &&
	       !pthread_create(&b->threads[b->n_threads], NULL, fetch_worker, b))
		b->n_threads++;
	return b->n_threads > 0;
}

/* Started at the first spill: threads do not survive the daemon's fork. */
static bool start_spiller(struct blocks *b)
{
	if (!b->spiller_started)
		b->spiller_started = !pthread_create(&b->spiller, NULL, spill_worker, b);
	return b->spiller_started;
}

/*
 * Move idle block bl from memory to the spill queue, for the spill thread
 * to write to the disk tier. False if it cannot go: no tier, a full queue,
 * no thread, or the tier has it already. Called with the lock held.
 */
static bool spill(struct blocks *b, struct block *bl)
{
	if (!b->disk || b->spill_len == b->spill_max || !start_spiller(b))
		return false;
	bl->spill = disktier_reserve(b->disk, bl->obj, bl->id.idx, bl->len);
	if (!bl->spill)
		return false;
	lru_unlink(bl);
	HASH_DEL(b->table, bl);
	bl->hashed = false;
	b->mem_used -= bl->cap;
	b->spill_q[(b->spill_head + b->spill_len++) % BLOCKS_SPILL_MAX] = bl;
	pthread_cond_signal(&b->spill_work);
	return true;
}

/* Evict idle blocks, oldest first, to the disk tier or away, until `need`
 * more bytes fit under the cap. Returns whether they do. Called with the
 * lock held. */
static bool make_room(struct blocks *b, size_t need)
{
	while (b->mem_used + need > b->conf.mem_size && b->lru.prev != &b->lru) {
		struct block *bl = b->lru.prev;

		/* The spill queue is full: wait for the disk rather than drop
		 * what it would keep (the LRU may change meanwhile: look again). */
		if (b->disk && b->spill_len == b->spill_max && b->spiller_started && !b->stopping &&
		    !disktier_has(b->disk, bl->obj, bl->id.idx)) {
			pthread_cond_wait(&b->spill_done, &b->lock);
			continue;
		}
		if (!spill(b, bl))
			block_free(b, bl);
		b->stats.evicted_blocks++;
	}
	return b->mem_used + need <= b->conf.mem_size;
}

void blocks_destroy(struct blocks *b)
{
	struct block *bl, *tmp;

	if (!b)
		return;
	pthread_mutex_lock(&b->lock);
	b->stopping = true;
	pthread_cond_broadcast(&b->work);
	pthread_cond_broadcast(&b->spill_work);
	pthread_cond_broadcast(&b->spill_done);
	pthread_mutex_unlock(&b->lock);
	for (unsigned int i = 0; i < b->n_threads; i++)
		pthread_join(b->threads[i], NULL);
	if (b->spiller_started)
		pthread_join(b->spiller, NULL);
	/* Jobs never started hold references to LOADING blocks: drop both. */
	while (b->q_head) {
		struct fetch_job *j = b->q_head;

		b->q_head = j->next;
		for (size_t i = 0; i < j->n; i++)
			if (!j->blocks[i]->hashed)
				block_free(b, j->blocks[i]);
		free(j->key);
		free(j->etag);
		free(j);
	}
	while (b->spill_len) {
		bl = b->spill_q[b->spill_head];
		b->spill_head = (b->spill_head + 1) % BLOCKS_SPILL_MAX;
		b->spill_len--;
		disktier_cancel(b->disk, bl->spill);
		block_release(b, bl);
	}
	HASH_ITER(hh, b->table, bl, tmp)
	{
		block_free(b, bl);
	}
	while (b->n_spare)
		free(b->spare[--b->n_spare]);
	disktier_destroy(b->disk);
	free(b->threads);
	pthread_cond_destroy(&b->work);
	pthread_cond_destroy(&b->spill_work);
	pthread_cond_destroy(&b->spill_done);
	pthread_cond_destroy(&b->changed);
	pthread_mutex_destroy(&b->lock);
	free(b);
}

static char *obj_name(const char *key, const char *etag)
{
	char *s = NULL;

	if (asprintf(&s, "%s\n%s", key, etag ? etag : "") < 0)
		return NULL;
	return s;
}

/* Hand j to the fetch threads. Called with the lock held. */
static void queue_job(struct blocks *b, struct fetch_job *j)
{
	if (b->q_tail)
		b->q_tail->next = j;
	else
		b->q_head = j;
	b->q_tail = j;
	b->q_len++;
	pthread_cond_signal(&b->work);
}

/* Queue GETs for the missing blocks in [first, last], runs of up to
 * BLOCKS_MAX_RUN, while memory and the queue allow. Called with the lock. */
static void prefetch_locked(struct blocks *b, const char *key, const char *etag, const char *obj,
			    uint64_t obj_hash, uint64_t size, uint64_t first, uint64_t last)
{
	struct fetch_job *j = NULL;
	uint64_t tail = 0;

	if (!b->n_threads && !start_threads(b))
		return;
	/* A window sliding block by block would send one-block GETs: while
	 * plenty is ahead already, leave a short run at its far end for when
	 * it has grown to a whole job (or reaches the end of the object). */
	while (tail < BLOCKS_MAX_RUN && tail <= last - first &&
	       !block_find(b, &(struct block_id){obj_hash, last - tail}))
		tail++;
	if (tail < BLOCKS_MAX_RUN && last - first + 1 >= 2 * BLOCKS_MAX_RUN &&
	    block_len(b, size, last + 1))
		last -= tail;
	for (uint64_t idx = first; idx <= last; idx++) {
		struct block_id id = {obj_hash, idx};
		size_t len = block_len(b, size, idx);
		struct block *bl;

		if (!len)
			break;
		bl = block_find(b, &id);
		if (bl || j == NULL || j->n == BLOCKS_MAX_RUN) {
			if (j) {
				queue_job(b, j);
				j = NULL;
			}
			if (bl)
				continue;
			/* Enough queued: the next read will queue more. */
			if (b->q_len >= 2 * b->n_threads || !make_room(b, len))
				return;
			j = calloc(1, sizeof(*j));
			if (!j)
				return;
			j->key = strdup(key);
			j->etag = etag ? strdup(etag) : NULL;
			if (!j->key || (etag && !j->etag)) {
				free(j->key);
				free(j->etag);
				free(j);
				return;
			}
		} else if (!make_room(b, len)) {
			break;
		}
		bl = block_new(b, &id, obj, len);
		if (!bl)
			break;
		j->blocks[j->n++] = bl;
		b->stats.prefetched_blocks++;
		metrics_add(prefetched_blocks, 1);
	}
	if (j && j->n) {
		queue_job(b, j);
	} else if (j) {
		free(j->key);
		free(j->etag);
		free(j);
	}
}

/*
 * Whether a read of blocks [first, last] with no read-ahead should bypass
 * the cache: some block is in neither tier and was not read at random
 * before. Remembers the blocks for next time. Called with the lock held.
 */
static bool random_miss(struct blocks *b, const char *obj, uint64_t obj_hash, uint64_t first,
			uint64_t last)
{
	bool missing = false, seen = false;

	for (uint64_t idx = first; idx <= last; idx++) {
		struct block_id id = {obj_hash, idx};

		if (block_find(b, &id) || (b->disk && disktier_has(b->disk, obj, idx)))
			continue;
		missing = true;
		for (unsigned int i = 0; i < BLOCKS_TOUCHED && !seen; i++)
			seen = b->touched[i].obj == obj_hash && b->touched[i].idx == idx;
		if (!seen) {
			b->touched[b->touched_next] = id;
			b->touched_next = (b->touched_next + 1) % BLOCKS_TOUCHED;
		}
	}
	return missing && !seen;
}

/* [off, off + len) of key straight from the store, past the cache: into
 * dst, or else into a buffer of the view's own. */
static int view_bypass(struct blocks *b, const char *key, const char *etag, size_t len,
		       uint64_t off, struct cache_view *v, char *dst)
{
	size_t got = 0;
	int rc;

	if (!dst) {
		dst = v->own = malloc(len);
		if (!dst)
			return -ENOMEM;
	}
	rc = store_get(b->store, key, off, dst, len, &got, etag);
	if (rc) {
		/* A view holds nothing after an error: a retry may reuse it. */
		free(v->own);
		v->own = NULL;
	} else if (got) {
		v->iov[0] = (struct iovec){dst, got};
		v->n_iov = 1;
		v->len = got;
	}
	return rc;
}

/*
 * blocks_view, with dst (if not NULL) for what bypasses the cache. Blocks
 * that are not cached are fetched (one GET for a run of them), then
 * prefetches of up to `ahead` bytes after the range are queued.
 */
static int view_into(struct blocks *b, const char *key, const char *etag, uint64_t size, size_t len,
		     uint64_t off, uint64_t ahead, bool random, struct cache_view *v, char *dst)
{
	const size_t bs = b->conf.block_size;
	struct block *held[CACHE_VIEW_MAX], *mine[CACHE_VIEW_MAX];
	size_t n_held = 0, n_mine = 0, fetched = 0;
	uint64_t first, last, obj_hash;
	char *obj;
	int rc = 0;

	cache_view_clear(v);
	if (off >= size || !len)
		return 0;
	if (len > size - off)
		len = size - off;
	first = off / bs;
	last = (off + len - 1) / bs;
	if (last - first >= CACHE_VIEW_MAX) {
		/* Larger than we pin at once: read it straight through. */
		return view_bypass(b, key, etag, len, off, v, dst);
	}
	obj = obj_name(key, etag);
	if (!obj)
		return -ENOMEM;
	obj_hash = fnv1a(obj);

	pthread_mutex_lock(&b->lock);
	if (random && random_miss(b, obj, obj_hash, first, last)) {
		/* A small random read of blocks not seen before: fetch just what
		 * was asked. A second read of the same block caches it whole. */
		b->stats.misses++;
		pthread_mutex_unlock(&b->lock);
		free(obj);
		metrics_add(cache_misses, 1);
		return view_bypass(b, key, etag, len, off, v, dst);
	}
	for (uint64_t idx = first; idx <= last && !rc; idx++) {
		struct block_id id = {obj_hash, idx};
		struct block *bl = block_find(b, &id);

		if (bl && strcmp(bl->obj, obj)) {
			rc = -EEXIST; /* a hash collision: bypass the cache */
			break;
		}
		if (bl) {
			if (!bl->refs)
				lru_unlink(bl);
			bl->refs++;
			b->stats.hits++;
			metrics_add(cache_hits, 1);
		} else {
			make_room(b, block_len(b, size, idx));
			bl = block_new(b, &id, obj, block_len(b, size, idx));
			if (!bl) {
				rc = -ENOMEM;
				break;
			}
			mine[n_mine++] = bl;
		}
		held[n_held++] = bl;
	}
	if (rc) {
		/* Others may already wait on blocks we will not fetch. */
		for (size_t i = 0; i < n_mine; i++) {
			mine[i]->state = BLOCK_FAILED;
			mine[i]->err = rc;
		}
		pthread_cond_broadcast(&b->changed);
	}
	pthread_mutex_unlock(&b->lock);

	if (!rc)
		fetched = fill_blocks(b, key, etag, mine, n_mine);

	pthread_mutex_lock(&b->lock);
	b->stats.misses += fetched;
	metrics_add(cache_misses, fetched);
	for (size_t i = 0; i < n_held && !rc; i++) {
		struct block *bl = held[i];
		uint64_t bstart = bl->id.idx * bs;
		uint64_t from = off > bstart ? off - bstart : 0;
		uint64_t to = off + len - bstart < bs ? off + len - bstart : bs;

		while (bl->state == BLOCK_LOADING)
			pthread_cond_wait(&b->changed, &b->lock);
		if (bl->state == BLOCK_FAILED) {
			rc = bl->err;
			break;
		}
		if (to > bl->len)
			to = bl->len;
		if (from < to) {
			v->iov[v->n_iov++] = (struct iovec){bl->data + from, to - from};
			v->len = bstart + to - off;
		}
		if (bl->len < bl->cap)
			break; /* the object ended early */
	}
	if (rc) {
		for (size_t i = 0; i < n_held; i++)
			block_put(b, held[i]);
		cache_view_clear(v);
	} else {
		/* Held until blocks_view_done: eviction passes them by. */
		memcpy(v->held, held, n_held * sizeof(*held));
		v->n_held = n_held;
	}
	if (!rc && ahead && last + 1 < (size + bs - 1) / bs) {
		uint64_t stop = (off + len + ahead - 1) / bs;

		prefetch_locked(b, key, etag, obj, obj_hash, size, last + 1, stop);
	}
	pthread_mutex_unlock(&b->lock);
	free(obj);
	if (rc == -EEXIST)
		return view_bypass(b, key, etag, len, off, v, dst);
	return rc;
}

int blocks_view(struct blocks *b, const char *key, const char *etag, uint64_t size, size_t len,
		uint64_t off, uint64_t ahead, bool random, struct cache_view *v)
{
	return view_into(b, key, etag, size, len, off, ahead, random, v, NULL);
}

void blocks_view_done(struct blocks *b, struct cache_view *v)
{
	if (v->n_held) {
		pthread_mutex_lock(&b->lock);
		for (size_t i = 0; i < v->n_held; i++)
			block_put(b, v->held[i]);
		pthread_mutex_unlock(&b->lock);
	}
	free(v->own);
	cache_view_clear(v);
}

int blocks_read(struct blocks *b, const char *key, const char *etag, uint64_t size, void *dst,
		size_t len, uint64_t off, uint64_t ahead, bool random, size_t *got)
{
	struct cache_view v;
	int rc = view_into(b, key, etag, size, len, off, ahead, random, &v, dst);

	/* Copied out of the blocks without the lock: readers of other
	 * blocks do not wait for it. */
	*got = 0;
	if (!rc && v.n_held)
		for (int i = 0; i < v.n_iov; i++) {
			memcpy((char *)dst + *got, v.iov[i].iov_base, v.iov[i].iov_len);
			*got += v.iov[i].iov_len;
		}
	else if (!rc)
		*got = v.len;
	blocks_view_done(b, &v);
	return rc;
}

void blocks_offer(struct blocks *b, const char *key, const char *etag, uint64_t size,
		  const void *data, size_t len)
{
	size_t need = block_len(b, size, 0);
	struct block_id id;
	struct block *bl;
	char *obj;

	if (!need || len < need || !etag || !*etag)
		return;
	obj = obj_name(key, etag);
	if (!obj)
		return;
	id = (struct block_id){fnv1a(obj), 0};
	pthread_mutex_lock(&b->lock);
	if (!block_find(b, &id) && make_room(b, need) && (bl = block_new(b, &id, obj, need))) {
		memcpy(bl->data, data, need);
		bl->len = need;
		bl->state = BLOCK_READY;
		block_put(b, bl);
	}
	pthread_mutex_unlock(&b->lock);
	free(obj);
}

void blocks_forget(struct blocks *b, const char *key)
{
	size_t klen = strlen(key);
	struct block *bl, *tmp;

	pthread_mutex_lock(&b->lock);
	HASH_ITER(hh, b->table, bl, tmp)
	{
		if (strncmp(bl->obj, key, klen) || bl->obj[klen] != '\n')
			continue;
		if (bl->refs) {
			/* In use: unhash now, free at the last block_put. */
			HASH_DEL(b->table, bl);
			bl->hashed = false;
		} else {
			block_free(b, bl);
		}
	}
	/* Under the lock: a read that misses memory from now on misses the
	 * disk too, and spilled blocks of key are not published. */
	if (b->disk)
		disktier_forget(b->disk, key);
	pthread_mutex_unlock(&b->lock);
	if (b->disk)
		disktier_sweep(b->disk);
}

void blocks_get_stats(struct blocks *b, struct blocks_stats *out)
{
	pthread_mutex_lock(&b->lock);
	*out = b->stats;
	out->mem_used = b->mem_used;
	pthread_mutex_unlock(&b->lock);
	if (b->disk) {
		struct disktier_stats ds;

		disktier_get_stats(b->disk, &ds);
		out->disk_used = ds.used;
		out->disk_evicted_blocks = ds.evicted_blocks;
	}
}

size_t blocks_block_size(const struct blocks *b)
{
	return b->conf.block_size;
}
