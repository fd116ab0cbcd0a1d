/*
 * The cache layer, first form: metadata calls go straight to the store;
 * file data is staged.
 *
 * A cache_file is in one of three states:
 *   remote  - nothing local; reads are ranged GETs through a read-ahead
 *             buffer that doubles while reads stay sequential.
 *   staged  - the whole object is in a local file (fd >= 0, loaded);
 *             reads and writes use it.
 *   dirty   - staged with changes the store has not got; flush uploads
 *             them and returns to staged.
 * The first write or truncate moves remote -> staged (downloading the
 * object unless it is being truncated to zero). A staging file whose
 * upload failed is left on disk when the file is closed, never deleted.
 *
 * Each staging file has a journal record beside it (journal.h) saying
 * whose data it holds and whether the store has it; the file is flock()ed
 * while in use. cache_start_recovery uploads what a killed daemon left.
 *
 * A dirty file larger than multipart_threshold has an upload stream
 * (upload.h): its parts leave while the file is still being written, and
 * flush sends what is left and completes it.
 */
#include "cache.h"

#include <errno.h>
#include <dirent.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "blocks.h"
#include "store_meta.h"
#include "buf.h"
#include "journal.h"
#include "fsutil.h"
#include "log.h"
#include "metrics.h"
#include "upload.h"

#define CACHE_LOAD_CHUNK (8u << 20)

struct cache {
	struct store *store;
	struct cache_conf conf;
	char *staging_dir;
	char *store_id;
	struct blocks *blocks;
	struct uploader *uploader;
	pthread_t recovery;
	bool recovering;
	bool no_part_copy; /* the store answered that it cannot copy parts */
};

struct cache_file {
	struct cache *c;
	unsigned int refs; /* atomic: its opener's, and cache_file_hold's */
	pthread_mutex_t lock;
	int fd;		   /* staging file, -1 while remote; protected by lock */
	char *stage_path;  /* protected by lock */
	bool loaded;	   /* stage holds the whole object; protected by lock */
	bool dirty;	   /* written under lock, atomically: cache_file_dirty reads it without */
	uint64_t size;	   /* protected by lock */
	char etag[80];	   /* version being read while remote; protected by lock */
	uint64_t next_off; /* where a sequential reader reads next; protected by lock */
	uint64_t window;   /* current read-ahead; protected by lock */
	struct upload_stream *stream; /* multipart upload being filled; protected by lock */
	struct store_meta meta;	      /* as of the last write; protected by lock */
	char *journal_key;  /* key in the journal record, NULL if none; protected by lock */
	bool journal_dirty; /* protected by lock */
	/* Partial staging of a large object written in place: the stage holds
	 * only the parts written to (present); the others are the object as
	 * of etag, copied in the store when uploaded. All protected by lock. */
	bool partial;
	uint64_t src_size; /* the object's size when the stage began */
	uint64_t psize;	   /* part size: the unit of staging and upload */
	uint8_t *present;  /* per part of the source */
	unsigned int n_src_parts;
	bool journal_partial; /* the record on disk has the partial map */
};

int cache_create(struct store *store, const struct cache_conf *conf, struct cache **out, char **why)
{
	struct cache *c = calloc(1, sizeof(*c));
	struct buf msg;
	int rc;

	if (!c)
		return -ENOMEM;
	c->store = store;
	c->conf = *conf;
	c->staging_dir = strdup(conf->staging_dir);
	c->store_id = strdup(conf->store_id ? conf->store_id : "");
	if (!c->staging_dir || !c->store_id) {
		free(c->staging_dir);
		free(c->store_id);
		free(c);
		return -ENOMEM;
	}
	c->conf.staging_dir = c->staging_dir;
	rc = fsutil_mkdir_p(c->staging_dir);
	if (!rc && access(c->staging_dir, W_OK | X_OK))
		rc = -errno;
	if (rc) {
		buf_init(&msg, 4096);
		buf_printf(&msg, "cannot use staging directory %s: %s", c->staging_dir,
			   strerror(-rc));
		*why = buf_steal(&msg);
		free(c->staging_dir);
		free(c->store_id);
		free(c);
		return rc;
	}
	rc = blocks_create(store,
			   &(struct blocks_conf){.mem_size = conf->cache_size,
						 .block_size = conf->block_size,
						 .fetch_threads = conf->fetch_threads,
						 .disk_dir = conf->cache_dir,
						 .disk_size = conf->cache_disk_size},
			   &c->blocks);
	if (!rc) {
		rc = uploader_create(store, conf->upload_threads, &c->uploader);
		if (rc)
			blocks_destroy(c->blocks);
	}
	if (rc) {
		if (conf->cache_dir && *conf->cache_dir &&
		    asprintf(why, "cannot use cache directory %s: %s", conf->cache_dir,
			     rc == -EBUSY ? "another bucketfs uses it" : strerror(-rc)) < 0)
			*why = NULL;
		if (!*why)
			*why = strdup("cannot start the block cache");
		free(c->staging_dir);
		free(c->store_id);
		free(c);
		return rc;
	}
	*out = c;
	return 0;
}

void cache_destroy(struct cache *c)
{
	struct blocks_stats st;

	if (!c)
		return;
	if (c->recovering)
		pthread_join(c->recovery, NULL);
	blocks_get_stats(c->blocks, &st);
	log_info("block cache: %llu hits, %llu misses, %llu from disk, %llu blocks prefetched, "
		 "%llu evicted, %llu MiB fetched, %llu MiB on disk",
		 (unsigned long long)st.hits, (unsigned long long)st.misses,
		 (unsigned long long)st.disk_hits, (unsigned long long)st.prefetched_blocks,
		 (unsigned long long)st.evicted_blocks,
		 (unsigned long long)(st.fetched_bytes >> 20),
		 (unsigned long long)(st.disk_used >> 20));
	blocks_destroy(c->blocks);
	uploader_destroy(c->uploader);
	free(c->staging_dir);
	free(c->store_id);
	free(c);
}

size_t cache_max_key_len(const struct cache *c)
{
	return c->store->max_key_len;
}

bool cache_folder_markers(const struct cache *c)
{
	return c->store->folder_markers;
}

int cache_head(struct cache *c, const char *key, struct store_obj *out)
{
	return c->store->ops->head(c->store, key, out);
}

/* Bytes read with a lookup: a small file whole, little of a large one. */
#define CACHE_LOOKUP_READ (64u << 10)

int cache_lookup(struct cache *c, const char *key, struct store_obj *out)
{
	struct store *s = c->store;
	size_t got = 0;
	char *data;
	int rc;

	if (!s->ops->head_and_read || !(data = malloc(CACHE_LOOKUP_READ)))
		return cache_head(c, key, out);
	rc = s->ops->head_and_read(s, key, data, CACHE_LOOKUP_READ, &got, out);
	if (!rc && got)
		blocks_offer(c->blocks, key, out->etag, out->size, data, got);
	free(data);
	return rc;
}

int cache_list(struct cache *c, const char *prefix, const char *delim, const char *token,
	       unsigned int max_keys, struct store_list *out)
{
	return c->store->ops->list(c->store, prefix, delim, token, max_keys, out);
}

int cache_copy(struct cache *c, const char *src, const char *dst, const struct store_meta *meta)
{
	blocks_forget(c->blocks, dst);
	return c->store->ops->copy(c->store, src, dst, meta);
}

int cache_remove(struct cache *c, const char *key)
{
	blocks_forget(c->blocks, key);
	return c->store->ops->remove(c->store, key);
}

int cache_presign(struct cache *c, const char *key, bool put, unsigned int expires_s, char **url,
		  char **why)
{
	if (!c->store->ops->presign) {
		*why = strdup("this store cannot sign URLs");
		return -ENOTSUP;
	}
	return c->store->ops->presign(c->store, key, put, expires_s, url, why);
}

int cache_remove_many(struct cache *c, const char *const *keys, size_t n)
{
	size_t i;
	int rc = 0;

	for (i = 0; i < n; i++)
		blocks_forget(c->blocks, keys[i]);
	if (c->store->ops->remove_many)
		return c->store->ops->remove_many(c->store, keys, n);
	for (i = 0; i < n && !rc; i++)
		rc = c->store->ops->remove(c->store, keys[i]);
	return rc;
}

struct cache_mem_ctx {
	const char *data;
	size_t len;
};

static ssize_t cache_mem_read(void *ctx, void *dst, size_t len, uint64_t off)
{
	const struct cache_mem_ctx *m = ctx;

	if (off >= m->len)
		return 0;
	if (len > m->len - off)
		len = m->len - off;
	memcpy(dst, m->data + off, len);
	return (ssize_t)len;
}

int cache_put_buffer(struct cache *c, const char *key, const struct store_meta *meta,
		     const void *data, size_t len)
{
	struct cache_mem_ctx m = {data, len};

	blocks_forget(c->blocks, key);
	return c->store->ops->put(c->store, key, meta, cache_mem_read, &m, len);
}

int cache_get_buffer(struct cache *c, const char *key, size_t max, char **out, size_t *len)
{
	char *p = malloc(max + 1);
	int rc;

	if (!p)
		return -ENOMEM;
	rc = store_get(c->store, key, 0, p, max, len, NULL);
	if (rc) {
		free(p);
		return rc;
	}
	p[*len] = '\0';
	*out = p;
	return 0;
}

/* A file with no stage yet, its one reference its creator's. */
static struct cache_file *cache_file_new(struct cache *c)
{
	struct cache_file *f = calloc(1, sizeof(*f));

	if (!f)
		return NULL;
	f->c = c;
	f->fd = -1;
	f->refs = 1;
	pthread_mutex_init(&f->lock, NULL);
	return f;
}

int cache_file_open(struct cache *c, const char *key, uint64_t size, const char *etag,
		    bool truncate, struct cache_file **out)
{
	struct cache_file *f = cache_file_new(c);

	(void)key;
	if (!f)
		return -ENOMEM;
	f->size = size;
	snprintf(f->etag, sizeof(f->etag), "%s", etag ? etag : "");
	if (truncate) {
		int rc = cache_file_truncate(f, key, 0);

		if (rc) {
			pthread_mutex_destroy(&f->lock);
			free(f);
			return rc;
		}
	}
	*out = f;
	return 0;
}

/* Create the staging file. Called with f->lock held. */
static int cache_stage_create(struct cache_file *f)
{
	struct buf path;
	int fd;

	if (f->fd >= 0)
		return 0;
	buf_init(&path, 8192);
	if (buf_printf(&path, "%s/stage-XXXXXX", f->c->staging_dir)) {
		buf_free(&path);
		return -ENOMEM;
	}
	fd = mkstemp(path.data);
	if (fd < 0) {
		int rc = -errno;

		log_err("cannot create a staging file in %s: %s", f->c->staging_dir,
			strerror(errno));
		buf_free(&path);
		return rc;
	}
	/* Held while the file is ours: recovery by another daemon sharing
	 * the staging dir leaves it alone. */
	flock(fd, LOCK_EX | LOCK_NB);
	f->fd = fd;
	f->stage_path = buf_steal(&path);
	return 0;
}

/*
 * Keep the journal record in step with the file: rewritten only when the
 * dirty state or the key changes. A record that cannot be written costs
 * only crash safety, so it is a warning. Called with f->lock held.
 */
static void cache_journal(struct cache_file *f, const char *key, bool dirty)
{
	struct journal_rec r = {.store_id = f->c->store_id,
				.dirty = dirty,
				.meta = f->meta,
				.partial = f->partial,
				.src_size = f->src_size,
				.part_size = f->psize,
				.present = f->present,
				.n_present = f->n_src_parts};
	char *k;
	int rc;

	if (!f->stage_path || !key)
		return;
	/* A partial record changes as parts arrive (cache_partial_fill). */
	if (f->journal_key && f->journal_dirty == dirty && !f->partial && !f->journal_partial &&
	    !strcmp(f->journal_key, key))
		return;
	snprintf(r.src_etag, sizeof(r.src_etag), "%s", f->etag);
	k = strdup(key);
	if (!k)
		return;
	r.key = k;
	rc = journal_write(f->stage_path, &r);
	if (rc) {
		log_warn("cannot write the journal of %s ('%s'): %s; its data would not survive a "
			 "crash",
			 f->stage_path, key, strerror(-rc));
		free(k);
		return;
	}
	free(f->journal_key);
	f->journal_key = k;
	f->journal_dirty = dirty;
	f->journal_partial = f->partial;
}

static int cache_partial_fill_all(struct cache_file *f, const char *key);
static int cache_partial_read(struct cache_file *f, const char *key, char *dst, size_t len,
			      uint64_t off, size_t *got);

/* Bring the whole object into the staging file. Called with f->lock held. */
static int cache_stage_load(struct cache_file *f, const char *key)
{
	uint64_t off = 0;
	char *chunk;
	int rc;

	if (f->loaded)
		return 0;
	if (f->partial)
		return cache_partial_fill_all(f, key);
	rc = cache_stage_create(f);
	if (rc)
		return rc;
	chunk = malloc(CACHE_LOAD_CHUNK);
	if (!chunk)
		return -ENOMEM;
	while (off < f->size) {
		size_t want = f->size - off < CACHE_LOAD_CHUNK ? f->size - off : CACHE_LOAD_CHUNK;
		size_t got = 0;

		/* Through the block cache: its read-ahead keeps several GETs
		 * in flight, and blocks already read are not fetched again. */
		rc = blocks_read(f->c->blocks, key, f->etag, f->size, chunk, want, off,
				 f->c->conf.readahead_max, false, &got);
		if (rc)
			break;
		if (got == 0) {
			/* The object shrank behind our back: take what is there. */
			f->size = off;
			break;
		}
		if (pwrite(f->fd, chunk, got, (off_t)off) != (ssize_t)got) {
			rc = -errno ? -errno : -EIO;
			break;
		}
		off += got;
	}
	free(chunk);
	if (rc)
		return rc;
	if (ftruncate(f->fd, (off_t)f->size))
		return -errno;
	f->loaded = true;
	return 0;
}

/*
 * How far to read ahead of a read at off: a window that starts at two
 * blocks and doubles while reads stay sequential (the kernel's own
 * read-ahead sends several reads at once, a little out of order), up to
 * readahead_max; 0 for a random reader. Called with f->lock held.
 */
static uint64_t cache_readahead(struct cache_file *f, uint64_t off, size_t len)
{
	uint64_t bs = f->c->conf.block_size;
	bool sequential = off + bs >= f->next_off && off <= f->next_off + bs;

	if (!sequential)
		f->window = 0;
	else if (!f->window)
		f->window = 2 * bs;
	else if (f->window < f->c->conf.readahead_max)
		f->window *= 2;
	if (f->window > f->c->conf.readahead_max)
		f->window = f->c->conf.readahead_max;
	if (off + len > f->next_off || !sequential)
		f->next_off = off + len;
	return f->window;
}

/* A buffer of the view's own for len bytes, as its only piece. */
static char *cache_view_own(struct cache_view *v, size_t len)
{
	v->own = malloc(len);
	if (v->own) {
		v->iov[0] = (struct iovec){v->own, 0};
		v->n_iov = 1;
	}
	return v->own;
}

int cache_file_view(struct cache_file *f, const char *key, size_t len, uint64_t off,
		    struct cache_view *v)
{
	char etag[sizeof(f->etag)];
	uint64_t ahead, size;
	int rc = 0, tries = 0;

	cache_view_clear(v);
	pthread_mutex_lock(&f->lock);
	if (off >= f->size || !len)
		goto out;
	if (len > f->size - off)
		len = f->size - off;
	if (f->loaded || f->partial) {
		/* Staged here: read from the staging file. */
		if (!cache_view_own(v, len)) {
			rc = -ENOMEM;
		} else if (f->loaded) {
			ssize_t n = pread(f->fd, v->own, len, (off_t)off);

			rc = n < 0 ? -errno : 0;
			v->len = n < 0 ? 0 : (size_t)n;
		} else {
			rc = cache_partial_read(f, key, v->own, len, off, &v->len);
		}
		v->iov[0].iov_len = v->len;
		goto out;
	}
	for (;;) {
		ahead = cache_readahead(f, off, len);
		memcpy(etag, f->etag, sizeof(etag));
		size = f->size;
		/* Remote reads run unlocked: readers of one file proceed in
		 * parallel and share blocks. */
		pthread_mutex_unlock(&f->lock);
		rc = blocks_view(f->c->blocks, key, etag, size, len, off, ahead, !ahead, v);
		pthread_mutex_lock(&f->lock);
		if (rc != -ESTALE || tries++ || f->loaded)
			break;
		/* The object changed under us: read the new version, as a
		 * fresh open would. */
		struct store_obj obj;

		pthread_mutex_unlock(&f->lock);
		rc = f->c->store->ops->head(f->c->store, key, &obj);
		pthread_mutex_lock(&f->lock);
		if (rc)
			break;
		log_info("'%s' changed while open: reading the new version", key);
		memcpy(f->etag, obj.etag, sizeof(f->etag));
		f->size = obj.size;
		if (off >= f->size)
			break;
		if (len > f->size - off)
			len = f->size - off;
	}
out:
	pthread_mutex_unlock(&f->lock);
	return rc;
}

void cache_view_done(struct cache *c, struct cache_view *v)
{
	blocks_view_done(c->blocks, v);
}

/* The part size for an upload of a file of size bytes. */
static uint64_t cache_part_size(const struct cache *c, uint64_t size)
{
	const struct store *s = c->store;
	uint64_t ps = c->conf.part_size, min_part = (size + s->max_parts - 1) / s->max_parts;

	if (ps < s->part_size_min)
		ps = s->part_size_min;
	/* Grow parts so that the object fits in the store's part count. */
	if (ps < min_part)
		ps = (min_part + (1u << 20) - 1) & ~(uint64_t)((1u << 20) - 1);
	return ps;
}

/* Drop the upload stream, if any. Called with f->lock held. */
static void cache_stream_drop(struct cache_file *f)
{
	if (f->stream)
		upload_stream_abort(f->stream);
	f->stream = NULL;
}

/*
 * After a write of [off, end): once the file is past the multipart
 * threshold, send the parts the writer has finished. A failure here is
 * not the writer's: flush sends the parts again. Called with f->lock held.
 */
static void cache_stream_write(struct cache_file *f, const char *key, const struct store_meta *meta,
			       uint64_t off, uint64_t end)
{
	struct cache *c = f->c;

	if (f->stream) {
		upload_stream_dirty(f->stream, off, end - off);
	} else {
		if (f->size <= c->conf.multipart_threshold)
			return;
		if (upload_stream_begin(c->uploader, key, meta, f->fd, cache_part_size(c, f->size),
					&f->stream))
			return;
		off = 0; /* all of it is new to this upload */
	}
	upload_stream_send(f->stream, off, end);
}

/*
 * Partial staging. A write into a large object that is not staged yet
 * does not download it: the stage starts sparse, a part is brought in
 * only when a write touches it (and only if the write does not cover it),
 * and at upload the untouched parts are copied in the store from the
 * version that was open (UploadPartCopy). A one-byte change to a 10 GiB
 * file moves one part each way. Stores that cannot copy parts get the
 * whole file, as before.
 */
static bool cache_partial_ok(const struct cache_file *f)
{
	const struct cache *c = f->c;

	return !f->loaded && !f->partial && f->fd < 0 && f->etag[0] &&
	       f->size > c->conf.multipart_threshold && c->store->ops->upload_part_copy &&
	       !c->no_part_copy;
}

/* A stream whose untouched parts come from the source. Called with f->lock. */
static int cache_partial_stream(struct cache_file *f, const char *key,
				const struct store_meta *meta)
{
	int rc = upload_stream_begin(f->c->uploader, key, meta, f->fd, f->psize, &f->stream);

	if (!rc)
		rc = upload_stream_copy_from(f->stream, key, f->etag, f->src_size);
	for (unsigned int k = 0; !rc && k < f->n_src_parts; k++)
		if (f->present[k])
			upload_stream_dirty(f->stream, (uint64_t)k * f->psize, f->psize);
	if (rc)
		cache_stream_drop(f);
	return rc;
}

static void cache_partial_free(struct cache_file *f)
{
	free(f->present);
	f->present = NULL;
	f->n_src_parts = 0;
	f->partial = false;
}

static int cache_partial_begin(struct cache_file *f, const char *key, const struct store_meta *meta)
{
	struct cache *c = f->c;
	int rc = cache_stage_create(f);

	if (rc)
		return rc;
	if (ftruncate(f->fd, (off_t)f->size))
		return -errno;
	f->src_size = f->size;
	f->psize = cache_part_size(c, f->size);
	f->n_src_parts = (unsigned int)((f->size + f->psize - 1) / f->psize);
	f->present = calloc(f->n_src_parts, 1);
	if (!f->present)
		return -ENOMEM;
	f->partial = true;
	rc = cache_partial_stream(f, key, meta);
	if (rc)
		cache_partial_free(f);
	return rc;
}

/* Bring part k of the source into the stage. Called with f->lock held. */
static int cache_partial_fill(struct cache_file *f, const char *key, unsigned int k)
{
	uint64_t off = (uint64_t)k * f->psize, end = off + f->psize;
	char *chunk;
	int rc = 0;

	if (end > f->src_size)
		end = f->src_size;
	chunk = malloc(CACHE_LOAD_CHUNK);
	if (!chunk)
		return -ENOMEM;
	while (!rc && off < end) {
		size_t want = end - off < CACHE_LOAD_CHUNK ? end - off : CACHE_LOAD_CHUNK, got = 0;

		/* No read-ahead: the part is all that is wanted. */
		rc = blocks_read(f->c->blocks, key, f->etag, f->src_size, chunk, want, off, 0,
				 false, &got);
		if (!rc && got != want)
			rc = -ESTALE; /* the source shrank: it is not the version open */
		if (!rc && pwrite(f->fd, chunk, got, (off_t)off) != (ssize_t)got)
			rc = -errno ? -errno : -EIO;
		off += got;
	}
	free(chunk);
	if (rc)
		return rc;
	f->present[k] = 1;
	/* Its bytes are in the stage now: sent, not copied. */
	if (f->stream)
		upload_stream_dirty(f->stream, (uint64_t)k * f->psize, f->psize);
	cache_journal(f, key, true);
	return 0;
}

/* Make the parts a write of [off, end) touches present: filled from the
 * source unless the write covers all the source has of them. The source's
 * last part, if short, is filled before the file grows past it, since its
 * upload will be a whole part. Called with f->lock held. */
static int cache_partial_prepare(struct cache_file *f, const char *key, uint64_t off, uint64_t end)
{
	uint64_t ps = f->psize;
	unsigned int k, last = (unsigned int)((end - 1) / ps);
	int rc = 0;

	for (k = (unsigned int)(off / ps); !rc && k <= last && k < f->n_src_parts; k++) {
		uint64_t p_off = (uint64_t)k * ps, p_end = p_off + ps;

		if (p_end > f->src_size)
			p_end = f->src_size;
		if (f->present[k])
			continue;
		if (off <= p_off && end >= p_end) {
			f->present[k] = 1;
			cache_journal(f, key, true);
		} else {
			rc = cache_partial_fill(f, key, k);
		}
	}
	k = (unsigned int)(f->src_size / ps);
	if (!rc && end > f->src_size && f->src_size % ps && k < f->n_src_parts && !f->present[k])
		rc = cache_partial_fill(f, key, k);
	return rc;
}

/* Leave partial staging: every part in the stage. Called with f->lock. */
static int cache_partial_fill_all(struct cache_file *f, const char *key)
{
	int rc = 0;

	for (unsigned int k = 0; !rc && k < f->n_src_parts; k++)
		if (!f->present[k])
			rc = cache_partial_fill(f, key, k);
	if (rc)
		return rc;
	cache_partial_free(f);
	f->loaded = true;
	cache_journal(f, key, f->dirty);
	return 0;
}

/* Read [off, off + len) of a partial file: parts in the stage from it, the
 * others from the source. Called with f->lock held. */
static int cache_partial_read(struct cache_file *f, const char *key, char *dst, size_t len,
			      uint64_t off, size_t *got)
{
	int rc = 0;

	*got = 0;
	while (!rc && *got < len) {
		uint64_t at = off + *got, k = at / f->psize, p_end = (k + 1) * f->psize;
		size_t n = len - *got, r = 0;

		if (p_end - at < n)
			n = (size_t)(p_end - at);
		if (at >= f->src_size || f->present[k]) {
			ssize_t m = pread(f->fd, dst + *got, n, (off_t)at);

			rc = m < 0 ? -errno : 0;
			r = m < 0 ? 0 : (size_t)m;
		} else {
			if (at + n > f->src_size)
				n = (size_t)(f->src_size - at);
			rc = blocks_read(f->c->blocks, key, f->etag, f->src_size, dst + *got, n, at,
					 0, true, &r);
		}
		if (!rc && !r)
			break;
		*got += r;
	}
	return rc;
}

/* After an upload of a partial file: the store has the whole file, the
 * stage only parts of it. Let it go; reads go to the new version. Called
 * with f->lock held. */
static void cache_partial_release(struct cache_file *f, const char *key)
{
	struct store_obj obj;

	cache_stream_drop(f);
	cache_partial_free(f);
	close(f->fd);
	f->fd = -1;
	unlink(f->stage_path);
	journal_remove(f->stage_path);
	free(f->stage_path);
	f->stage_path = NULL;
	free(f->journal_key);
	f->journal_key = NULL;
	f->journal_partial = false;
	if (!f->c->store->ops->head(f->c->store, key, &obj)) {
		memcpy(f->etag, obj.etag, sizeof(f->etag));
		f->size = obj.size;
	} else {
		f->etag[0] = '\0';
	}
}

int cache_file_write(struct cache_file *f, const char *key, const struct store_meta *meta,
		     const void *src, size_t len, uint64_t off)
{
	ssize_t n;
	int rc;

	pthread_mutex_lock(&f->lock);
	/* A store that cannot copy parts, or a failed start, loads it all. */
	if (cache_partial_ok(f) && cache_partial_begin(f, key, meta))
		log_info("'%s': writing in place needs the whole object first", key);
	if (f->partial)
		rc = len ? cache_partial_prepare(f, key, off, off + len) : 0;
	else
		rc = cache_stage_load(f, key);
	if (rc)
		goto out;
	n = pwrite(f->fd, src, len, (off_t)off);
	if (n < 0) {
		rc = -errno;
		goto out;
	}
	if (off + (uint64_t)n > f->size)
		f->size = off + (uint64_t)n;
	__atomic_store_n(&f->dirty, true, __ATOMIC_RELEASE);
	if (meta)
		f->meta = *meta;
	cache_journal(f, key, true);
	cache_stream_write(f, key, meta, off, off + (uint64_t)n);
out:
	pthread_mutex_unlock(&f->lock);
	return rc;
}

/* Called with f->lock held, or before f is shared. */
static int cache_truncate_locked(struct cache_file *f, const char *key, uint64_t size)
{
	int rc;

	if (size == 0 && f->partial) {
		/* Nothing of the source is left to copy. */
		cache_stream_drop(f);
		cache_partial_free(f);
	}
	if (size == 0) {
		rc = cache_stage_create(f);
		if (!rc) {
			f->loaded = true;
			f->size = 0;
		}
	} else {
		rc = cache_stage_load(f, key);
	}
	if (rc)
		return rc;
	if (ftruncate(f->fd, (off_t)size))
		return -errno;
	if (f->stream)
		upload_stream_dirty(f->stream, size < f->size ? size : f->size,
				    size < f->size ? f->size - size : size - f->size);
	f->size = size;
	__atomic_store_n(&f->dirty, true, __ATOMIC_RELEASE);
	cache_journal(f, key, true);
	return 0;
}

int cache_file_truncate(struct cache_file *f, const char *key, uint64_t size)
{
	int rc;

	pthread_mutex_lock(&f->lock);
	rc = cache_truncate_locked(f, key, size);
	pthread_mutex_unlock(&f->lock);
	return rc;
}

int cache_file_pin(struct cache_file *f, const char *key)
{
	int rc;

	pthread_mutex_lock(&f->lock);
	rc = cache_stage_load(f, key);
	pthread_mutex_unlock(&f->lock);
	return rc;
}

static ssize_t cache_fd_read(void *ctx, void *dst, size_t len, uint64_t off)
{
	const struct cache_file *f = ctx;
	ssize_t n = pread(f->fd, dst, len, (off_t)off);

	return n < 0 ? -errno : n;
}

/* Finish (or start and finish) the file's multipart upload. Called with
 * f->lock held. */
static int cache_upload_multipart(struct cache_file *f, const char *key,
				  const struct store_meta *meta, bool meta_changed)
{
	struct cache *c = f->c;
	struct store *s = c->store;
	struct store_meta begun;
	int rc;

	/* A stream for another key (renamed while open) or with parts too
	 * small for the file's size now starts over. */
	if (f->stream && (strcmp(upload_stream_key(f->stream), key) ||
			  f->size > upload_stream_part_size(f->stream) * s->max_parts)) {
		/* Its copies name the old key or part size: start over whole. */
		if (f->partial && (rc = cache_partial_fill_all(f, key)))
			return rc;
		cache_stream_drop(f);
	}
	if (!f->stream) {
		rc = f->partial ? cache_partial_stream(f, key, meta)
				: upload_stream_begin(c->uploader, key, meta, f->fd,
						      cache_part_size(c, f->size), &f->stream);
		if (rc)
			return rc;
	}
	begun = *upload_stream_meta(f->stream);
	rc = upload_stream_finish(&f->stream, f->size);
	if (rc == -ENOTSUP && f->partial) {
		/* The store cannot copy parts (s3rver): send them, now and on. */
		if (!c->no_part_copy)
			log_notice("the store cannot copy parts of objects (UploadPartCopy): "
				   "files written in place are uploaded whole");
		c->no_part_copy = true;
		rc = cache_partial_fill_all(f, key);
		if (!rc && !f->stream)
			rc = upload_stream_begin(c->uploader, key, meta, f->fd, f->psize,
						 &f->stream);
		if (!rc)
			rc = upload_stream_finish(&f->stream, f->size);
	}
	/* The object took its metadata when the upload began; a chmod or
	 * utimens since then is applied now. Writes alone do not count: the
	 * stored mtime is when the upload began, as for S3's Last-Modified. */
	if (!rc && meta && meta_changed && !meta_equal(&begun, meta))
		rc = s->ops->copy(s, key, key, meta);
	return rc;
}

int cache_file_flush(struct cache_file *f, const char *key, const struct store_meta *meta,
		     bool meta_changed)
{
	struct store *s = f->c->store;
	int rc = 0;

	pthread_mutex_lock(&f->lock);
	if (!f->dirty)
		goto out;
	blocks_forget(f->c->blocks, key);
	if (f->size > f->c->conf.multipart_threshold) {
		rc = cache_upload_multipart(f, key, meta, meta_changed);
	} else {
		cache_stream_drop(f); /* truncated below the threshold */
		rc = s->ops->put(s, key, meta, cache_fd_read, f, f->size);
	}
	if (rc) {
		metrics_add(upload_failures, 1);
		log_err("upload of '%s' (%llu bytes) failed: %s; the data stays in %s", key,
			(unsigned long long)f->size, strerror(-rc), f->stage_path);
	} else {
		metrics_add(uploads, 1);
		__atomic_store_n(&f->dirty, false, __ATOMIC_RELEASE);
		if (f->partial)
			cache_partial_release(f, key);
		else
			cache_journal(f, key, false);
	}
out:
	pthread_mutex_unlock(&f->lock);
	return rc;
}

void cache_file_discard(struct cache_file *f)
{
	pthread_mutex_lock(&f->lock);
	cache_stream_drop(f);
	__atomic_store_n(&f->dirty, false, __ATOMIC_RELEASE);
	cache_journal(f, f->journal_key, false);
	pthread_mutex_unlock(&f->lock);
}

uint64_t cache_file_size(struct cache_file *f)
{
	uint64_t size;

	pthread_mutex_lock(&f->lock);
	size = f->size;
	pthread_mutex_unlock(&f->lock);
	return size;
}

/* Without the lock, which an upload holds throughout: callers ask under
 * fs->lock, and must not wait for the network there. An upload in flight
 * counts as dirty. */
bool cache_file_dirty(struct cache_file *f)
{
	return __atomic_load_n(&f->dirty, __ATOMIC_ACQUIRE);
}

struct cache_file *cache_file_hold(struct cache_file *f)
{
	if (f)
		__atomic_add_fetch(&f->refs, 1, __ATOMIC_RELAXED);
	return f;
}

void cache_file_close(struct cache_file *f, const char *key)
{
	if (!f || __atomic_sub_fetch(&f->refs, 1, __ATOMIC_ACQ_REL) > 0)
		return;
	cache_stream_drop(f);
	if (f->fd >= 0) {
		close(f->fd);
		if (f->dirty) {
			log_err("'%s' was not uploaded; its data is kept in %s", key,
				f->stage_path);
		} else {
			unlink(f->stage_path);
			journal_remove(f->stage_path);
		}
	}
	free(f->journal_key);
	free(f->stage_path);
	free(f->present);
	pthread_mutex_destroy(&f->lock);
	free(f);
}

/*
 * Whether the object (version obj) holds exactly the size bytes of the
 * staging file fd: a killed daemon may have finished an upload without
 * living to mark its record clean, and that object, newer than the stage,
 * is not another writer's.
 */
static bool cache_stage_in_store(struct cache *c, const char *key, const struct store_obj *obj,
				 int fd, uint64_t size)
{
	size_t chunk = 4u << 20;
	char *theirs, *ours;
	bool same = obj->size == size;

	if (!same)
		return false;
	theirs = malloc(chunk);
	ours = malloc(chunk);
	same = theirs && ours;
	for (uint64_t off = 0; same && off < size; off += chunk) {
		size_t want = size - off < chunk ? (size_t)(size - off) : chunk, got = 0;

		same = !store_get(c->store, key, off, theirs, want, &got, obj->etag) &&
		       got == want && pread(fd, ours, want, (off_t)off) == (ssize_t)want &&
		       !memcmp(ours, theirs, want);
	}
	free(theirs);
	free(ours);
	return same;
}

/*
 * Upload what a killed daemon left in one staging file, unless it is not
 * ours (another store), still in use (flock()ed by a live daemon), or
 * the object changed in the store after the file was last written: then
 * the data stays where it is and the log says so.
 */
static void cache_recover_one(struct cache *c, const char *stage, const char *jpath)
{
	struct journal_rec r;
	struct cache_file *f;
	struct store_obj obj;
	struct store_meta meta;
	struct stat st;
	int fd, rc;

	if (journal_read(jpath, &r))
		return;
	if (strcmp(r.store_id, c->store_id))
		goto out;
	fd = open(stage, O_RDWR | O_CLOEXEC);
	if (fd < 0) {
		if (errno == ENOENT)
			unlink(jpath); /* a record without its data: nothing to do */
		goto out;
	}
	if (flock(fd, LOCK_EX | LOCK_NB) || fstat(fd, &st)) {
		close(fd);
		goto out;
	}
	if (!r.dirty) {
		/* The store has it: what is left is a copy. */
		unlink(stage);
		unlink(jpath);
		close(fd);
		goto out;
	}
	rc = c->store->ops->head(c->store, r.key, &obj);
	/* A partial stage has only the parts written: the rest must still be
	 * the version it was written over, to be copied from. */
	if (r.partial && (rc || strcmp(obj.etag, r.src_etag) || obj.size != r.src_size ||
			  r.n_present * r.part_size < r.src_size)) {
		log_err("'%s' changed in the bucket after an earlier run left changes to parts of "
			"it unsent; they are not uploaded, and are kept in %s (see its .journal "
			"for which parts)",
			r.key, stage);
		close(fd);
		goto out;
	}
	if (rc == 0 && obj.last_modified > st.st_mtime && !r.partial &&
	    cache_stage_in_store(c, r.key, &obj, fd, (uint64_t)st.st_size)) {
		log_info("'%s' was uploaded by an earlier run that did not live to say so", r.key);
		unlink(stage);
		unlink(jpath);
		close(fd);
		goto out;
	}
	if (rc == 0 && obj.last_modified > st.st_mtime) {
		log_err("'%s' changed in the bucket after an earlier run left changes to it "
			"unsent; they are not uploaded, and are kept in %s",
			r.key, stage);
		close(fd);
		goto out;
	}
	if (rc && rc != -ENOENT) {
		log_err("cannot check '%s' to upload what an earlier run left (%s): kept in %s",
			r.key, strerror(-rc), stage);
		close(fd);
		goto out;
	}
	f = cache_file_new(c);
	if (!f || !(f->stage_path = strdup(stage))) {
		if (f)
			cache_file_close(f, r.key);
		close(fd);
		goto out;
	}
	f->fd = fd;
	f->loaded = true;
	__atomic_store_n(&f->dirty, true, __ATOMIC_RELEASE);
	f->size = (uint64_t)st.st_size;
	f->meta = r.meta;
	if (r.partial) {
		f->loaded = false;
		f->partial = true;
		memcpy(f->etag, r.src_etag, sizeof(f->etag));
		f->src_size = r.src_size;
		f->psize = r.part_size;
		f->n_src_parts = (unsigned int)((r.src_size + r.part_size - 1) / r.part_size);
		f->present = r.present; /* at least n_src_parts, checked above */
		r.present = NULL;
	}
	meta = r.meta;
	meta.has_mtime = true;
	meta.mtime = st.st_mtim;
	rc = cache_file_flush(f, r.key, &meta, false);
	if (!rc)
		log_notice("uploaded '%s' (%llu bytes), left unsent by an earlier run", r.key,
			   (unsigned long long)f->size);
	cache_file_close(f, r.key);
out:
	journal_rec_free(&r);
}

static void *cache_recover_main(void *arg)
{
	struct cache *c = arg;
	static const char suffix[] = ".journal";
	struct dirent *e;
	DIR *d = opendir(c->staging_dir);

	if (!d)
		return NULL;
	while ((e = readdir(d))) {
		size_t len = strlen(e->d_name);
		struct buf stage, jpath;

		if (strncmp(e->d_name, "stage-", 6) || len <= sizeof(suffix) - 1 ||
		    strcmp(e->d_name + len - (sizeof(suffix) - 1), suffix))
			continue;
		buf_init(&stage, 8192);
		buf_init(&jpath, 8192);
		if (!buf_printf(&jpath, "%s/%s", c->staging_dir, e->d_name) &&
		    !buf_append(&stage, jpath.data, jpath.len - (sizeof(suffix) - 1)))
			cache_recover_one(c, stage.data, jpath.data);
		buf_free(&stage);
		buf_free(&jpath);
	}
	closedir(d);
	return NULL;
}

int cache_start_recovery(struct cache *c)
{
	if (c->recovering)
		return 0;
	if (pthread_create(&c->recovery, NULL, cache_recover_main, c))
		return -EAGAIN;
	c->recovering = true;
	return 0;
}
