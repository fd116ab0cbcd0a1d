/*
 * Parsing and building the XML documents of the S3 REST API, through libxml2.
 * Parsers take untrusted bytes and return 0 or -EPROTO (malformed) /
 * -ENOMEM; outputs are owned by the caller.
 */
#ifndef BUCKETFS_S3_XML_H
#define BUCKETFS_S3_XML_H

#include <stddef.h>
#include <time.h>

#include "buf.h"
#include "store.h"

/* ListObjectsV2 result: Contents (Key, Size, LastModified), CommonPrefixes,
 * NextContinuationToken (only kept when IsTruncated is true). */
int s3_xml_parse_list(const char *xml, size_t len, struct store_list *out);

/* <Error><Code/><Message/><RequestId/></Error>; each out may be NULL to
 * skip; absent elements give NULL. -EPROTO if the body is not an Error. */
int s3_xml_parse_error(const char *xml, size_t len, char **code, char **message, char **request_id);

/* InitiateMultipartUploadResult/UploadId. */
int s3_xml_parse_upload_id(const char *xml, size_t len, char **upload_id);

/* CompleteMultipartUpload body for parts 1..n with the given ETags
 * (as returned by UploadPart, quotes included). */
int s3_xml_build_complete(struct buf *out, const char *const *etags, size_t n);

/* The ETag S3 gives the object that completing these parts makes: the
 * MD5 of the parts' binary MD5s, then "-n", quoted. -EINVAL if an ETag is
 * not a quoted or bare hex MD5. */
int s3_multipart_etag(const char *const *etags, size_t n, char out[48]);

/* Delete (Quiet) body for DeleteObjects; keys are XML-escaped. */
int s3_xml_build_delete(struct buf *out, const char *const *keys, size_t n);

/* DeleteResult: returns the number of <Error> entries in *n_errors, and the
 * first error's Code in *first_code (may be NULL). */
int s3_xml_parse_delete_result(const char *xml, size_t len, size_t *n_errors, char **first_code);

/* ISO 8601 "2009-10-12T17:50:30.000Z" -> time_t (UTC). -EINVAL if bad. */
int s3_parse_iso8601(const char *s, time_t *out);

#endif
