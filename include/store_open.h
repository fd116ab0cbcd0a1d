/*
 * The store a bucketfs_options names, with its credentials: what a mount
 * and `bucketfs presign` on an s3:// or az:// URL both need.
 */
#ifndef BUCKETFS_STORE_OPEN_H
#define BUCKETFS_STORE_OPEN_H

#include "http.h"
#include "options.h"
#include "store.h"

/* The HTTP settings of opts. */
void store_open_http_conf(const struct bfs_options *opts, struct http_conf *out);

/* The S3 or Azure store for opts (not yet probed), and *id naming it in
 * staging journals. NULL with a one-line *why. */
struct store *store_open(const struct bfs_options *opts, const struct http_conf *http, char **id,
			 char **why);

#endif
