/*
 * The object store interface: what every backend (S3, Azure Blob) provides
 * and what the cache layer consumes. A store speaks in object keys relative
 * to the bucket (the mount prefix is applied by the caller); it knows nothing
 * of inodes or directories.
 *
 * Every operation returns 0 or a negative errno, already mapped from the
 * remote answer (403 -> -EACCES, 404 -> -ENOENT, ...), after the backend's
 * retries have run out. Every operation may be called from any thread at
 * the same time; backends keep no per-call state in the instance.
 */
#ifndef BUCKETFS_STORE_H
#define BUCKETFS_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <sys/uio.h>
#include <time.h>

/* POSIX attributes kept in object metadata (s3fs's x-amz-meta-* names). */
struct store_meta {
	bool has_mode, has_uid, has_gid, has_mtime;
	mode_t mode; /* full st_mode, type bits included, as s3fs writes it */
	uid_t uid;
	gid_t gid;
	struct timespec mtime;
	/* A directory marker object named like the directory, without '/':
	 * metadata hdi_isfolder=true, as blobfuse and ADLS write them. */
	bool folder;
};

struct store_obj {
	uint64_t size;
	time_t last_modified;
	char etag[80];
	struct store_meta meta;
};

struct store_list_entry {
	char *key; /* full key */
	uint64_t size;
	time_t last_modified;
	char etag[80]; /* "" when the listing has none */
	bool folder;   /* an hdi_isfolder directory marker (listings with metadata) */
	/* The object's metadata came with the listing (Azure's include=metadata):
	 * its attributes need no request of their own. */
	bool has_meta;
	struct store_meta meta;
};

/* One page of a listing; release with store_list_free(). */
struct store_list {
	struct store_list_entry *objects;
	size_t n_objects;
	char **prefixes; /* common prefixes, each ending in the delimiter */
	size_t n_prefixes;
	char *next_token; /* NULL on the last page */
};

void store_list_free(struct store_list *l);

/* A multipart upload in progress (S3 multipart, Azure block list). */
struct store_upload;

/* Callback that fills a request body: copy up to len bytes at offset off
 * into dst and return the count, or -errno. Used to stream large bodies
 * (a staged file) without holding them in memory. */
typedef ssize_t (*store_reader_fn)(void *ctx, void *dst, size_t len, uint64_t off);

struct store;

struct store_ops {
	const char *name;

	/* Attributes of one object. -ENOENT if absent. */
	int (*head)(struct store *s, const char *key, struct store_obj *out);

	/* Read the bytes at off into the cnt buffers of dst, in order (one
	 * ranged GET whatever cnt: blocks of a cache fill in place); *got is
	 * set to the count (short at end of object, 0 past it). -ENOENT if the
	 * object is gone. With if_match (an ETag), -ESTALE if the object is no
	 * longer that version, so that pieces of two versions are never mixed. */
	int (*get)(struct store *s, const char *key, uint64_t off, const struct iovec *dst, int cnt,
		   size_t *got, const char *if_match);

	/* Optional: what head gives, plus the object's first bytes, in one
	 * round trip (a ranged GET): up to len bytes into dst, *got of them.
	 * For lookups that are likely followed by a read of a small file. */
	int (*head_and_read)(struct store *s, const char *key, void *dst, size_t len, size_t *got,
			     struct store_obj *out);

	/* Create or replace an object of len bytes given by read(ctx, ...).
	 * meta may be NULL. On success the object is durable in the store. */
	int (*put)(struct store *s, const char *key, const struct store_meta *meta,
		   store_reader_fn read, void *ctx, uint64_t len);

	/* Server-side copy src -> dst. meta NULL keeps src's metadata, otherwise
	 * replaces it (copying a key onto itself with meta rewrites metadata). */
	int (*copy)(struct store *s, const char *src, const char *dst,
		    const struct store_meta *meta);

	/* Delete one object. Deleting an absent object succeeds. */
	int (*remove)(struct store *s, const char *key);

	/* Delete many objects; absent ones are not an error. May be NULL, in
	 * which case callers loop over remove. */
	int (*remove_many)(struct store *s, const char *const *keys, size_t n);

	/* One page of keys starting with prefix. With delim (usually "/") keys
	 * past the next delimiter roll up into prefixes. token is NULL for the
	 * first page, else the previous page's next_token. max_keys 0 means the
	 * store's default page size. */
	int (*list)(struct store *s, const char *prefix, const char *delim, const char *token,
		    unsigned int max_keys, struct store_list *out);

	/* Multipart upload: begin, add parts (numbered from 1, any order, from
	 * several threads at once; a part sent again replaces the earlier one,
	 * but never send one part twice at the same time), then complete with
	 * parts 1..n_parts, or abort. Both release u, whatever the outcome.
	 * abort may fail on stores that do not support it; callers ignore
	 * that. A part's bytes come from read(ctx, ...), offsets from 0. */
	int (*upload_begin)(struct store *s, const char *key, const struct store_meta *meta,
			    struct store_upload **out);
	int (*upload_part)(struct store *s, struct store_upload *u, unsigned int part_no,
			   store_reader_fn read, void *ctx, size_t len);
	/* Optional: part part_no is bytes [off, off + len) of object src as
	 * of ETag etag, copied in the store (S3 UploadPartCopy), so that a
	 * small change to a large object sends only the parts it touched.
	 * -ESTALE if src is no longer that version; -ENOTSUP where the store
	 * does not do it (the caller then sends the bytes). */
	int (*upload_part_copy)(struct store *s, struct store_upload *u, unsigned int part_no,
				const char *src, const char *etag, uint64_t off, uint64_t len);
	int (*upload_complete)(struct store *s, struct store_upload *u, unsigned int n_parts);
	void (*upload_abort)(struct store *s, struct store_upload *u);

	/* Check at mount time that the bucket exists and that keys under prefix
	 * can be listed with our credentials. On failure returns -errno and a
	 * one-line message for the user in *why (owned by the caller). */
	int (*probe)(struct store *s, const char *prefix, char **why);

	void (*destroy)(struct store *s);

	/*
	 * A URL that lets anyone GET (put: PUT) key for expires_s seconds,
	 * signed with the store's current credentials; *url malloc'd. -EINVAL
	 * with *why when expires_s is beyond what the store allows, -ENOTSUP
	 * with *why when its credentials cannot sign one. May be NULL (no
	 * such URLs). Any thread.
	 */
	int (*presign)(struct store *s, const char *key, bool put, unsigned int expires_s,
		       char **url, char **why);
};

/* The instance: a const ops table and the backend's own state. */
struct store {
	const struct store_ops *ops;
	void *ctx;
	size_t max_key_len;   /* longest key the store accepts (S3: 1024) */
	size_t part_size_min; /* smallest part but the last */
	unsigned int max_parts;
	/* mkdir writes "dir" with hdi_isfolder=true (what blobfuse writes
	 * and reads) rather than a "dir/" marker. */
	bool folder_markers;
};

/* One buffer's worth of ops->get. */
static inline int store_get(struct store *s, const char *key, uint64_t off, void *dst, size_t len,
			    size_t *got, const char *if_match)
{
	struct iovec v = {dst, len};

	return s->ops->get(s, key, off, &v, 1, got, if_match);
}

#endif
