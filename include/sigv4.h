/*
 * AWS Signature Version 4, header form, as S3 uses it: the canonical URI is
 * the path exactly as sent (already percent-encoded once, not normalised),
 * the canonical query is the query's name=value pairs sorted, headers are
 * lower-cased, trimmed and sorted. Pure functions: no I/O, no clock.
 */
#ifndef BUCKETFS_SIGV4_H
#define BUCKETFS_SIGV4_H

#include <stddef.h>
#include <time.h>

#include "buf.h"

struct sigv4_header {
	const char *name;  /* any case */
	const char *value; /* leading/trailing blanks trimmed, inner runs folded */
};

struct sigv4_request {
	const char *method;
	const char *path;  /* encoded path as sent, e.g. "/bkt/a%20b" */
	const char *query; /* encoded query as sent, without '?'; NULL or "" if none */
	const struct sigv4_header *headers; /* every header to sign, host and x-amz-date included */
	size_t n_headers;
	const char *payload_hash; /* lower-case hex SHA-256, or "UNSIGNED-PAYLOAD" */
	const char *region;
	const char *service;  /* "s3" */
	const char *amz_date; /* "YYYYMMDDTHHMMSSZ" */
};

/* "YYYYMMDDTHHMMSSZ" for t in UTC. */
void sigv4_amz_date(time_t t, char out[17]);
/* Lower-case hex SHA-256 of data. */
void sigv4_sha256_hex(const void *data, size_t len, char out[65]);

/* Each returns 0 or -errno; out receives the text (appended). */
int sigv4_canonical_request(const struct sigv4_request *r, struct buf *out);
int sigv4_string_to_sign(const struct sigv4_request *r, struct buf *out);
/* The full Authorization header value:
 * "AWS4-HMAC-SHA256 Credential=AKID/20150830/us-east-1/s3/aws4_request,
 *  SignedHeaders=host;x-amz-date,Signature=hex" (commas, no spaces, as AWS shows it) */
int sigv4_authorization(const struct sigv4_request *r, const char *access_key,
			const char *secret_key, struct buf *out);

/* The longest a presigned URL may live: 7 days. */
#define SIGV4_PRESIGN_MAX (7u * 24 * 3600)

/* A request signed in its query (a presigned URL), host the only signed
 * header and the payload unsigned, as S3 documents it. */
struct sigv4_presign {
	const char *method;
	const char *host;
	const char *path;  /* encoded, as sent */
	const char *query; /* the request's own query, encoded; NULL or "" if none */
	const char *region;
	const char *service;
	const char *amz_date; /* when it was signed */
	unsigned int expires; /* seconds, 1 .. SIGV4_PRESIGN_MAX */
	const char *access_key;
	const char *secret_key;
	const char *session_token; /* NULL if none */
};

/* Append the full query of the presigned URL (the request's own, then
 * X-Amz-Algorithm, -Credential, -Date, -Expires, -Security-Token,
 * -SignedHeaders, -Signature). -EINVAL when a field is missing or expires
 * is out of range. */
int sigv4_presign(const struct sigv4_presign *p, struct buf *out);

#endif
