/*
 * The request scaffolding both store backends share (store_call.h). Which
 * headers go on the wire, in which order and how they are signed is the
 * backend's build_headers to decide; calls keep them in the order added.
 */
#include "store_call.h"

#include <errno.h>
#include <inttypes.h>
#include <openssl/crypto.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "log.h"
#include "uri.h"

int store_call_init(struct store_call *call, const struct store_target *to, const char *method,
		    const char *key)
{
	int rc;

	memset(call, 0, sizeof(*call));
	call->to = *to;
	call->method = method;
	buf_init(&call->path, 16384);
	buf_init(&call->query, 16384);
	rc = buf_puts(&call->path, to->base);
	if (!rc && key) {
		rc = buf_puts(&call->path, "/");
		if (!rc)
			rc = uri_encode(&call->path, key, strlen(key), true);
	}
	return rc;
}

void store_call_free(struct store_call *call)
{
	buf_free(&call->path);
	buf_free(&call->query);
}

int store_call_add(struct store_call *call, const char *name, const char *value)
{
	if (call->n_extra == STORE_CALL_MAX_HEADERS)
		return -E2BIG;
	call->extra[call->n_extra].name = name;
	call->extra[call->n_extra].value = value;
	call->n_extra++;
	return 0;
}

int store_call_query(struct store_call *call, const char *name, const char *value)
{
	int rc = 0;

	if (call->query.len)
		rc = buf_puts(&call->query, "&");
	if (!rc)
		rc = buf_printf(&call->query, "%s=", name);
	if (!rc)
		rc = uri_encode(&call->query, value, strlen(value), false);
	return rc;
}

int store_call_add_meta(struct store_call *call, const struct store_meta *m, const char *prefix)
{
	int rc = 0;

	meta_to_headers(m, prefix, &call->meta);
	for (unsigned int i = 0; i < call->meta.n && !rc; i++)
		rc = store_call_add(call, call->meta.name[i], call->meta.value[i]);
	return rc;
}

/* The URL to send, and the one to log (without to.url_secret). */
static int store_call_urls(const struct store_call *call, struct buf *url, struct buf *shown)
{
	int rc;

	buf_init(url, 65536);
	buf_init(shown, 65536);
	rc = buf_printf(shown, "%s%s", call->to.origin, call->path.data);
	if (!rc && call->query.len)
		rc = buf_printf(shown, "?%s", call->query.data);
	if (!rc)
		rc = buf_puts(url, shown->data);
	if (!rc && call->to.url_secret)
		rc = buf_printf(url, "%c%s", call->query.len ? '&' : '?', call->to.url_secret);
	return rc;
}

int store_call_send(struct store_call *call, struct http_request *req, struct http_response *resp)
{
	const struct store_call_ops *ops = call->to.ops;
	struct timespec t0, t1;
	struct buf url, shown;
	int rc;

	rc = store_call_urls(call, &url, &shown);
	if (rc)
		goto out;
	req->method = call->method;
	req->url = url.data;
	req->build_headers = ops->build_headers;
	req->ctx = call;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	rc = http_execute(call->to.http, req, resp);
	if (!rc && call->to.creds && ops->creds_refused(call, resp)) {
		/* Once: the body is read again from its start. */
		log_info("%s %s: HTTP %ld, %s", call->method, shown.data, resp->status,
			 ops->refused_retry);
		refresh_refused(call->to.creds, call->creds_gen);
		http_response_free(resp);
		rc = http_execute(call->to.http, req, resp);
	}
	clock_gettime(CLOCK_MONOTONIC, &t1);
	if (rc) {
		log_warn("%s %s: %s", call->method, shown.data,
			 resp->error[0] ? resp->error : strerror(-rc));
		/* Retries are spent: to the application this is an I/O error. */
		if (rc != -ENOMEM)
			rc = -EIO;
	} else if (log_enabled(LOG_DEBUG)) {
		log_debug("%s %s: HTTP %ld in %ld ms", call->method, shown.data, resp->status,
			  (long)((t1.tv_sec - t0.tv_sec) * 1000 +
				 (t1.tv_nsec - t0.tv_nsec) / 1000000));
	}
out:
	/* The URL sent may hold a secret. */
	if (url.data)
		OPENSSL_cleanse(url.data, url.len);
	buf_free(&url);
	buf_free(&shown);
	return rc;
}

/* Send call; a failed answer but for status also_ok is mapped. */
static int store_call_exchange(struct store_call *call, struct http_request *req, const char *op,
			       const char *key, long also_ok)
{
	struct http_response resp;
	int rc;

	rc = store_call_send(call, req, &resp);
	if (rc)
		return rc;
	if (!store_answer_ok(&resp) && resp.status != also_ok)
		rc = call->to.ops->error(op, key, &resp);
	http_response_free(&resp);
	return rc;
}

int store_call_run(struct store_call *call, struct http_request *req, const char *op,
		   const char *key)
{
	return store_call_exchange(call, req, op, key, 0);
}

int store_call_delete(struct store_call *call, const char *key)
{
	struct http_request req = {.retries = -1};

	return store_call_exchange(call, &req, "DELETE", key, 404);
}

int store_call_get(struct store_call *call, const char *key, uint64_t off, const struct iovec *dst,
		   int cnt, size_t *got, const char *if_match, const char *if_match_name)
{
	struct http_request req = {.retries = -1, .dst = dst, .dst_cnt = cnt, .skip_on_200 = off};
	struct http_response resp;
	size_t len = 0;
	int rc = 0;

	for (int i = 0; i < cnt; i++)
		len += dst[i].iov_len;
	req.dst_len = len;
	*got = 0;
	if (!len)
		return 0;
	snprintf(call->range, sizeof(call->range), "bytes=%" PRIu64 "-%" PRIu64, off,
		 off + len - 1);
	if (if_match && *if_match)
		rc = store_call_add(call, if_match_name, if_match);
	if (!rc)
		rc = store_call_send(call, &req, &resp);
	if (rc)
		return rc;
	if (resp.status == 416) {
		rc = 0; /* at or past the end */
	} else if (!store_answer_ok(&resp)) {
		rc = call->to.ops->error("GET", key, &resp);
	} else {
		char etag[80];

		*got = resp.dst_got;
		/* Some S3-compatible servers ignore If-Match, and pieces of two
		 * versions must never mix: check it ourselves. */
		if (if_match && *if_match &&
		    http_response_header(&resp, "ETag", etag, sizeof(etag)) &&
		    strcmp(etag, if_match)) {
			log_info("%s GET '%s': changed from %s to %s while read",
				 call->to.ops->name, key, if_match, etag);
			*got = 0;
			rc = -ESTALE;
		}
	}
	http_response_free(&resp);
	return rc;
}

int store_call_read_first(struct store_call *call, const char *key, void *dst, size_t len,
			  size_t *got, struct http_response *resp)
{
	struct iovec v = {dst, len};
	struct http_request req = {.retries = 0, .dst = &v, .dst_cnt = 1, .dst_len = len};
	int rc;

	*got = 0;
	snprintf(call->range, sizeof(call->range), "bytes=0-%zu", len ? len - 1 : 0);
	rc = store_call_send(call, &req, resp);
	/* An empty object has no byte 0 (416; s3rver even promises one byte
	 * and sends none), and a busy server deserves the retries HEAD has. */
	if (rc || resp->status == 416 || resp->status == 429 || resp->status >= 500) {
		if (!rc)
			http_response_free(resp);
		return 1;
	}
	if (!store_answer_ok(resp)) {
		rc = call->to.ops->error("GET", key, resp);
		http_response_free(resp);
		return rc;
	}
	*got = resp->dst_got;
	return 0;
}

int store_call_list(struct store_call *call, const char *prefix,
		    int (*parse)(const char *xml, size_t len, struct store_list *out),
		    struct store_list *out)
{
	struct http_request req = {.retries = -1};
	struct http_response resp;
	int rc;

	rc = store_call_send(call, &req, &resp);
	if (rc)
		return rc;
	if (!store_answer_ok(&resp))
		rc = call->to.ops->error("LIST", prefix, &resp);
	else
		rc = parse(resp.body.data ? resp.body.data : "", resp.body.len, out);
	if (rc == -EPROTO)
		log_warn("%s LIST '%s': unreadable listing from the server", call->to.ops->name,
			 prefix ? prefix : "");
	http_response_free(&resp);
	return rc;
}

bool store_answer_ok(const struct http_response *resp)
{
	return resp->status >= 200 && resp->status < 300;
}

uint64_t store_answer_size(const struct http_response *resp)
{
	char v[128];
	const char *slash;

	if (resp->status == 206 && http_response_header(resp, "Content-Range", v, sizeof(v)) &&
	    (slash = strrchr(v, '/')))
		return strtoull(slash + 1, NULL, 10);
	if (http_response_header(resp, "Content-Length", v, sizeof(v)))
		return strtoull(v, NULL, 10);
	return 0;
}

int store_error(const char *store, const struct store_errno *codes, size_t n, const char *op,
		const char *key, const struct http_response *resp, const char *code,
		const char *message, const char *request_id)
{
	int err = http_status_errno(resp->status);

	for (size_t i = 0; code && i < n; i++) {
		if (strcmp(codes[i].code, code) == 0) {
			err = codes[i].err;
			break;
		}
	}
	if (!err)
		err = -EIO; /* an Error document inside a 200 (S3 CopyObject) */
	log_msg(err == -ENOENT ? LOG_DEBUG : LOG_WARNING,
		"%s %s '%s': HTTP %ld %s%s%s (request id %s)", store, op, key ? key : "",
		resp->status, code ? code : "", message ? ": " : "", message ? message : "",
		request_id ? request_id : "none");
	return err;
}
