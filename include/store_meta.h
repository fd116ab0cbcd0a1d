/*
 * POSIX attributes in object metadata, the way s3fs keeps them: headers
 * PREFIX + "mode", "uid", "gid" (decimal) and "mtime" (seconds, optionally
 * with a fraction), where PREFIX is the store's ("x-amz-meta-",
 * "x-ms-meta-"). One implementation for every backend.
 */
#ifndef BUCKETFS_STORE_META_H
#define BUCKETFS_STORE_META_H

#include "http.h"
#include "store.h"

struct meta_headers {
	unsigned int n;
	char name[5][40];
	char value[5][32];
};

/* The headers for m (none for NULL). A prefix longer than 30 characters
 * is cut: backends pass constants. */
void meta_to_headers(const struct store_meta *m, const char *prefix, struct meta_headers *out);
/* The attributes among resp's headers; absent or malformed ones stay unset. */
void meta_from_headers(const struct http_response *resp, const char *prefix, struct store_meta *m);
/* One metadata item by its name without prefix ("mode", "uid", "gid",
 * "mtime", "hdi_isfolder"), as a listing gives them; others are ignored. */
void meta_set(struct store_meta *m, const char *name, const char *value);
/* Whether a and b carry the same attributes. */
bool meta_equal(const struct store_meta *a, const struct store_meta *b);

#endif
