/* The S3 backend of the store interface (any S3-compatible endpoint). */
#ifndef BUCKETFS_S3_H
#define BUCKETFS_S3_H

#include <stdbool.h>

#include "refresh.h"
#include "http.h"
#include "store.h"

struct s3_conf {
	const char *endpoint; /* "https://host[:port]"; NULL: AWS for region */
	const char *region;
	const char *bucket;
	bool path_style;
	/* Signing credentials (aws_creds.h), owned by the store from
	 * s3_store_create() on, even when it fails; NULL: anonymous. */
	struct refresh *creds;
	struct http_conf http;
	/* Bucket options, NULL or false when not given. */
	bool requester_pays;	    /* x-amz-request-payer: requester on every request */
	const char *sse;	    /* "AES256" or "aws:kms", for objects we write */
	const char *sse_kms_key_id; /* with aws:kms */
	const char *sse_c_key_file; /* SSE-C: 32 bytes, raw or base64; mode 600 */
	const char *storage_class;  /* x-amz-storage-class of objects we write */
};

/* Returns a store, or NULL with a one-line *why. */
struct store *s3_store_create(const struct s3_conf *conf, char **why);

#endif
