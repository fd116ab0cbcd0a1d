/*
 * One request of a store backend (S3, Azure Blob) and what is the same in
 * both around it: the encoded path and query, the headers to send, how it
 * is sent (URL, the one retry with fresh credentials when the service
 * refused them, the log lines), the map from the service's error codes to
 * errno and the handling of answers that mean the same in both stores.
 *
 * What differs stays in the backend, behind struct store_call_ops: signing
 * and the header names it adds, which answers mean refused credentials,
 * and its error-code table. A backend's own call struct starts with a
 * struct store_call, so that the callbacks get to it from the call.
 */
#ifndef BUCKETFS_STORE_CALL_H
#define BUCKETFS_STORE_CALL_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/uio.h>

#include "buf.h"
#include "http.h"
#include "refresh.h"
#include "store.h"
#include "store_meta.h"

/* Headers a call may add (bucket options, metadata, conditions). */
#define STORE_CALL_MAX_HEADERS 24

struct store_call;

/* What a backend does its own way; a static table per backend. */
struct store_call_ops {
	const char *name; /* how log lines name the store: "S3", "Azure" */
	/* http_request.build_headers: ctx is the struct store_call. Adds the
	 * call's headers and signs them, again on every attempt. Required. */
	int (*build_headers)(void *ctx, struct curl_slist **headers);
	/* Whether the answer says the service refused the renewable
	 * credentials (store_target.creds) themselves, so that fresh ones may
	 * do. Only asked when there are such credentials. Required. */
	bool (*creds_refused)(const struct store_call *call, const struct http_response *resp);
	/* What the retry after a refusal logs, after "METHOD URL: HTTP N, ". */
	const char *refused_retry;
	/* The one map from a failed answer to -errno; logs the cause. op
	 * names the operation ("GET"), key may be NULL. Required. */
	int (*error)(const char *op, const char *key, const struct http_response *resp);
};

/* What a call needs of its backend instance; every pointer outlives it. */
struct store_target {
	const struct store_call_ops *ops;
	struct http *http;
	const char *origin;	/* "scheme://host[:port]" requests go to */
	const char *base;	/* encoded start of every request path */
	const char *url_secret; /* query appended to every URL sent, never logged
				   (an Azure SAS); NULL: none */
	struct refresh *creds;	/* credentials the service may refuse and we
				   renew; NULL: none */
};

/* A header to send; name and value must outlive the call. */
struct store_header {
	const char *name;
	const char *value;
};

/* One request, rebuilt into headers (and signed) on every attempt. */
struct store_call {
	struct store_target to;
	const char *method;
	struct buf path;  /* encoded */
	struct buf query; /* encoded, no '?', without to.url_secret */
	struct store_header extra[STORE_CALL_MAX_HEADERS];
	size_t n_extra;
	struct meta_headers meta; /* what store_call_add_meta() points headers at */
	char range[64];		  /* "bytes=A-B", for the backend's range header, or "" */
	uint64_t creds_gen;	  /* of the credentials the last attempt carried */
};

/* A call on to.base (key NULL) or on the object key below it. Release
 * with store_call_free() whatever it returns. */
int store_call_init(struct store_call *call, const struct store_target *to, const char *method,
		    const char *key);
void store_call_free(struct store_call *call);

/* Add a header, after those added before. 0 or -E2BIG. */
int store_call_add(struct store_call *call, const char *name, const char *value);

/* Append "&name=value" to the query, value encoded: always with '=', as
 * azurite drops a bare name from what it signs. */
int store_call_query(struct store_call *call, const char *name, const char *value);

/* Metadata headers as s3fs writes them, prefix + "mode" and so on (none
 * for m NULL); they live in the call. Once per call. */
int store_call_add_meta(struct store_call *call, const struct store_meta *m, const char *prefix);

/* Send call with req (method, URL and headers are set from the call).
 * 0 with an answer in resp (any status; release it), or -errno when none
 * came after the retries: -EIO, or -ENOMEM. */
int store_call_send(struct store_call *call, struct http_request *req, struct http_response *resp);

/* Send call and map a failed answer with ops->error(op, key): for calls
 * whose answer says nothing but its status. 0 or -errno. */
int store_call_run(struct store_call *call, struct http_request *req, const char *op,
		   const char *key);

/* Send a DELETE of key: an object already absent (404) is no error. */
int store_call_delete(struct store_call *call, const char *key);

/*
 * Send call as a GET of bytes [off, off + the length of dst) of key into
 * the cnt buffers of dst, with if_match (an ETag, or NULL) in header
 * if_match_name. *got: the bytes read, 0 past the end. -ESTALE when the
 * object is no longer if_match.
 */
int store_call_get(struct store_call *call, const char *key, uint64_t off, const struct iovec *dst,
		   int cnt, size_t *got, const char *if_match, const char *if_match_name);

/*
 * Send call as a GET of the first len bytes of key into dst, without
 * retries. 0 with a 2xx answer in resp (release it) and *got bytes; 1 when
 * a HEAD, which retries, should answer instead; -errno for a failed answer
 * (mapped and released).
 */
int store_call_read_first(struct store_call *call, const char *key, void *dst, size_t len,
			  size_t *got, struct http_response *resp);

/* Send a List call on prefix and parse the answer into out with parse. */
int store_call_list(struct store_call *call, const char *prefix,
		    int (*parse)(const char *xml, size_t len, struct store_list *out),
		    struct store_list *out);

/* Whether the answer is a success (2xx). */
bool store_answer_ok(const struct http_response *resp);

/* The object's size from a HEAD or GET answer: a 206's total after the
 * '/' of Content-Range, else Content-Length; 0 if neither. */
uint64_t store_answer_size(const struct http_response *resp);

/* A service error code and the errno it stands for. */
struct store_errno {
	const char *code;
	int err;
};

/*
 * The errno of a failed answer: code's in codes (n entries), else the
 * status's, -EIO for an error inside a 2xx. Logs it as "STORE op 'key':
 * HTTP N code: message (request id ID)", quietly for -ENOENT. code,
 * message and request_id may be NULL (request_id: "none").
 */
int store_error(const char *store, const struct store_errno *codes, size_t n, const char *op,
		const char *key, const struct http_response *resp, const char *code,
		const char *message, const char *request_id);

#endif
