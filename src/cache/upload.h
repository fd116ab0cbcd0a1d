/*
 * Write-back of large files: multipart uploads filled from a staging file
 * while it is being written. Parts go out as soon as the writer has moved
 * past them, on a pool of upload threads shared by every file (so that a
 * hundred files written at once still have only upload_threads parts in
 * flight), and are read from the staging file as they are sent: no part is
 * ever held in memory. A part written again after it was sent is sent
 * again; finishing sends whatever is still dirty, then completes.
 */
#ifndef BUCKETFS_CACHE_UPLOAD_H
#define BUCKETFS_CACHE_UPLOAD_H

#include <stdint.h>

#include "store.h"

struct uploader;
struct upload_stream;

/* Threads start at the first part, not here: the daemon forks after this. */
int uploader_create(struct store *store, unsigned int threads, struct uploader **out);
void uploader_destroy(struct uploader *up);

/* Begin a multipart upload of key whose bytes are read from fd, in parts
 * of part_size (the store's limits are the caller's to respect). meta is
 * copied: it is what the object gets. */
int upload_stream_begin(struct uploader *up, const char *key, const struct store_meta *meta, int fd,
			uint64_t part_size, struct upload_stream **out);
uint64_t upload_stream_part_size(const struct upload_stream *st);
const char *upload_stream_key(const struct upload_stream *st);
/* The metadata the upload was begun with. */
const struct store_meta *upload_stream_meta(const struct upload_stream *st);

/* [off, off + len) of the file changed: the parts it touches are dirty. */
void upload_stream_dirty(struct upload_stream *st, uint64_t off, uint64_t len);
/* The first src_size bytes of the file are, until written, those of object
 * src_key as of etag: finishing copies their parts in the store
 * (store_ops.upload_part_copy) instead of sending them; a part written is
 * sent. Finishing fails with -ENOTSUP if the store cannot copy, -ESTALE if
 * the source changed: the caller then sends the bytes itself. */
int upload_stream_copy_from(struct upload_stream *st, const char *src_key, const char *etag,
			    uint64_t src_size);
/* Queue the dirty parts that end in (off, end]: a writer that wrote up to
 * end is done with them, for now. */
void upload_stream_send(struct upload_stream *st, uint64_t off, uint64_t end);

/* Send every dirty part of a file of `size` bytes, wait for them, and
 * complete the upload. On success the object is in the store and st is
 * freed. On failure st stays usable (parts already sent are kept), unless
 * the store dropped the upload: then *st is freed and set to NULL. */
int upload_stream_finish(struct upload_stream **st, uint64_t size);
/* Wait for parts in flight, abort the upload, free st. */
void upload_stream_abort(struct upload_stream *st);

#endif
