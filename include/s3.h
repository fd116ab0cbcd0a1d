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
};

/* Returns a store, or NULL with a one-line *why. */
struct store *s3_store_create(const struct s3_conf *conf, char **why);

#endif
