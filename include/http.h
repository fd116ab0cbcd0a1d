/*
 * HTTP transport: a pool of libcurl easy handles (each keeps its connections
 * alive between requests), one retry loop with exponential backoff and
 * jitter, and the generic HTTP status -> errno map. Stores build requests
 * and refine errors with their own error codes; nothing above the stores
 * sees HTTP.
 */
#ifndef BUCKETFS_HTTP_H
#define BUCKETFS_HTTP_H

#include <curl/curl.h>
#include <sys/uio.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "buf.h"

struct http_conf {
	const char *cafile; /* NULL: system bundle */
	bool no_verify_ssl;
	unsigned int retries;	      /* retries after the first attempt */
	unsigned int connect_timeout; /* seconds */
	unsigned int request_timeout; /* seconds without any progress */
};

struct http;

struct http_request {
	const char *method; /* "GET", "HEAD", "PUT", "POST", "DELETE" */
	const char *url;
	/* Called before every attempt to (re)build the headers, so signatures
	 * carry the attempt's time. Appends to *headers; returns 0 or -errno. */
	int (*build_headers)(void *ctx, struct curl_slist **headers);
	void *ctx;
	/* Request body, read at an offset so a retry can start over. */
	ssize_t (*read_body)(void *ctx, void *dst, size_t len, uint64_t off);
	void *body_ctx;
	uint64_t body_len;
	bool has_body;
	/* For GET: a successful body is scattered over dst (dst_cnt pieces,
	 * dst_len bytes in all) instead of going to resp->body. When the server
	 * ignores Range and answers 200, skip_on_200 bytes are dropped. */
	const struct iovec *dst;
	int dst_cnt;
	size_t dst_len;
	uint64_t skip_on_200;
	int retries; /* -1: the instance's setting */
};

struct http_response {
	long status;	    /* 0 if no HTTP answer */
	struct buf headers; /* raw "Name: value\r\n" lines of the final answer */
	struct buf body;    /* bounded; error bodies and small documents */
	size_t dst_got;
	char error[CURL_ERROR_SIZE]; /* transport error text when status == 0 */
};

struct http *http_create(const struct http_conf *conf);
void http_destroy(struct http *h);

/* Run req, retrying transport errors, 429 and 5xx with backoff. Returns 0
 * when an HTTP answer arrived (whatever its status), -EIO (or -ETIMEDOUT,
 * -ECONNREFUSED, -EHOSTUNREACH) when none did. resp must be released with
 * http_response_free(). */
int http_execute(struct http *h, const struct http_request *req, struct http_response *resp);
void http_response_free(struct http_response *resp);

/* Value of response header name (case-insensitive), copied into out.
 * Returns false if absent. */
bool http_response_header(const struct http_response *resp, const char *name, char *out,
			  size_t outlen);

/* Generic map for statuses a store did not refine. */
int http_status_errno(long status);

/* True for statuses worth retrying (429, 5xx but 501). */
bool http_status_retryable(long status);

/* Append "name: value" to *headers; the line built on the way is zeroed
 * (values are often secrets). 0 or -ENOMEM. */
int http_add_header(struct curl_slist **headers, const char *name, const char *value);

/* Memory body reader for http_request.read_body; ctx is a struct http_mem. */
struct http_mem {
	const void *data;
	size_t len;
};
ssize_t http_mem_read(void *ctx, void *dst, size_t len, uint64_t off);

#endif
