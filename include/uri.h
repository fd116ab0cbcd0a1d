/* Percent-encoding as S3 and Azure canonicalise it (RFC 3986 unreserved kept). */
#ifndef BUCKETFS_URI_H
#define BUCKETFS_URI_H

#include <stdbool.h>
#include <stddef.h>

#include "buf.h"

/* Append s[0..n) to out, encoding all but A-Z a-z 0-9 - _ . ~ (and '/' when
 * keep_slash). Returns 0 or -errno from buf_append. */
int uri_encode(struct buf *out, const char *s, size_t n, bool keep_slash);
/* The value of hex digit c, or -1. */
int uri_hexval(char c);
/* Decode %XX escapes (and '+' as space when plus_is_space) in place. */
void uri_decode(char *s, bool plus_is_space);

/* Append "name=value" (after '&' unless out is empty), the value
 * percent-encoded as application/x-www-form-urlencoded allows. */
int uri_form_add(struct buf *out, const char *name, const char *value);

#endif
