/*
 * The HTTP transport. Easy handles are pooled: curl_easy_reset() keeps a
 * handle's live connections, so taking a handle from the pool reuses a
 * keep-alive connection to the store. A request is retried, with full
 * jitter exponential backoff, when no answer came (connection refused,
 * reset, timeout) or the answer was 429 or a 5xx other than 501; the body
 * is re-read from offset 0 on each attempt.
 */
#include "http.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "metrics.h"

#define HTTP_POOL_MAX	  64
#define HTTP_BODY_MAX	  (32u << 20) /* largest document we parse */
#define HTTP_HEADERS_MAX  (64u << 10)
#define HTTP_BACKOFF_BASE 200	/* ms */
#define HTTP_BACKOFF_CAP  10000 /* ms */

struct http {
	struct http_conf conf;
	char *cafile;
	pthread_mutex_t lock;
	CURL *idle[HTTP_POOL_MAX]; /* protected by lock */
	unsigned int n_idle;	   /* protected by lock */
};

/* State of one attempt, seen by the curl callbacks. */
struct http_xfer {
	const struct http_request *req;
	struct http_response *resp;
	CURL *curl;
	uint64_t body_off;
	uint64_t skip;
	long status; /* of the current header block */
	int read_error;
	int write_error;
	bool empty_range; /* a 206 for an empty object: whatever follows is not body */
};

struct http *http_create(const struct http_conf *conf)
{
	struct http *h = calloc(1, sizeof(*h));

	if (!h)
		return NULL;
	h->conf = *conf;
	if (conf->cafile) {
		h->cafile = strdup(conf->cafile);
		if (!h->cafile) {
			free(h);
			return NULL;
		}
		h->conf.cafile = h->cafile;
	}
	pthread_mutex_init(&h->lock, NULL);
	return h;
}

void http_destroy(struct http *h)
{
	unsigned int i;

	if (!h)
		return;
	for (i = 0; i < h->n_idle; i++)
		curl_easy_cleanup(h->idle[i]);
	pthread_mutex_destroy(&h->lock);
	free(h->cafile);
	free(h);
}

static CURL *http_handle_get(struct http *h)
{
	CURL *c = NULL;

	pthread_mutex_lock(&h->lock);
	if (h->n_idle)
		c = h->idle[--h->n_idle];
	pthread_mutex_unlock(&h->lock);
	if (c)
		curl_easy_reset(c);
	else
		c = curl_easy_init();
	return c;
}

static void http_handle_put(struct http *h, CURL *c)
{
	pthread_mutex_lock(&h->lock);
	if (h->n_idle < HTTP_POOL_MAX) {
		h->idle[h->n_idle++] = c;
		c = NULL;
	}
	pthread_mutex_unlock(&h->lock);
	if (c)
		curl_easy_cleanup(c);
}

ssize_t http_mem_read(void *ctx, void *dst, size_t len, uint64_t off)
{
	const struct http_mem *m = ctx;
	size_t n;

	if (off >= m->len)
		return 0;
	n = m->len - off;
	if (n > len)
		n = len;
	memcpy(dst, (const char *)m->data + off, n);
	return (ssize_t)n;
}

static size_t http_read_cb(char *dst, size_t size, size_t nmemb, void *userp)
{
	struct http_xfer *x = userp;
	const struct http_request *req = x->req;
	size_t want = size * nmemb;
	ssize_t n;

	if (x->body_off >= req->body_len)
		return 0;
	if (want > req->body_len - x->body_off)
		want = req->body_len - x->body_off;
	n = req->read_body(req->body_ctx, dst, want, x->body_off);
	if (n < 0 || (n == 0 && want)) {
		x->read_error = n < 0 ? (int)n : -EIO;
		return CURL_READFUNC_ABORT;
	}
	x->body_off += (uint64_t)n;
	return (size_t)n;
}

/* curl may rewind the body (redirects, auth retries): support it. */
static int http_seek_cb(void *userp, curl_off_t offset, int origin)
{
	struct http_xfer *x = userp;

	if (origin != SEEK_SET || offset < 0)
		return CURL_SEEKFUNC_CANTSEEK;
	x->body_off = (uint64_t)offset;
	return CURL_SEEKFUNC_OK;
}

static size_t http_header_cb(char *data, size_t size, size_t nmemb, void *userp)
{
	struct http_xfer *x = userp;
	size_t n = size * nmemb;

	/* A new status line starts a new header block (100-continue). */
	if (n > 5 && strncmp(data, "HTTP/", 5) == 0) {
		buf_reset(&x->resp->headers);
		x->status = strtol(strchr(data, ' ') ? strchr(data, ' ') + 1 : "0", NULL, 10);
		return n;
	}
	if (buf_append(&x->resp->headers, data, n))
		return 0;
	/* s3rver answers a range of an empty object with 206, "bytes 0-0/0"
	 * and a Content-Length of 1, then sends nothing: waiting for that
	 * byte would last until the timeout. Stop at the end of the headers. */
	if (x->status == 206 && n > 14 && !strncasecmp(data, "Content-Range:", 14)) {
		const char *slash = memchr(data, '/', n);

		x->empty_range = slash && slash + 1 < data + n && slash[1] == '0' &&
				 (slash + 2 == data + n || slash[2] == '\r' || slash[2] == '\n');
	}
	if (x->empty_range && n <= 2 && (data[0] == '\r' || data[0] == '\n'))
		return 0;
	return n;
}

/* Copy n bytes into the request's pieces at offset pos of the whole. */
static void http_scatter(const struct http_request *req, size_t pos, const char *src, size_t n)
{
	for (int i = 0; i < req->dst_cnt && n; i++) {
		size_t len = req->dst[i].iov_len, k;

		if (pos >= len) {
			pos -= len;
			continue;
		}
		k = len - pos < n ? len - pos : n;
		memcpy((char *)req->dst[i].iov_base + pos, src, k);
		src += k;
		n -= k;
		pos = 0;
	}
}

static size_t http_write_cb(char *data, size_t size, size_t nmemb, void *userp)
{
	struct http_xfer *x = userp;
	const struct http_request *req = x->req;
	struct http_response *resp = x->resp;
	size_t n = size * nmemb, room;

	if (x->status >= 200 && x->status < 300 && req->dst) {
		size_t consumed = 0;

		if (x->status == 200 && x->skip) {
			consumed = n < x->skip ? n : (size_t)x->skip;
			x->skip -= consumed;
		}
		room = req->dst_len - resp->dst_got;
		if (n - consumed > room) {
			/* The server sent more than we asked for: keep what fits
			 * and stop the transfer; http_execute treats a full dst
			 * as success. */
			http_scatter(req, resp->dst_got, data + consumed, room);
			resp->dst_got += room;
			return 0;
		}
		http_scatter(req, resp->dst_got, data + consumed, n - consumed);
		resp->dst_got += n - consumed;
		return n;
	}
	if (buf_append(&resp->body, data, n)) {
		x->write_error = -EFBIG;
		return 0;
	}
	return n;
}

static int http_curl_errno(CURLcode rc)
{
	switch (rc) {
	case CURLE_COULDNT_CONNECT:
		return -ECONNREFUSED;
	case CURLE_OPERATION_TIMEDOUT:
		return -ETIMEDOUT;
	case CURLE_COULDNT_RESOLVE_HOST:
	case CURLE_COULDNT_RESOLVE_PROXY:
		return -EHOSTUNREACH;
	default:
		return -EIO;
	}
}

/* Errors no retry can cure: TLS trust, bad URLs, our own aborts. */
static bool http_curl_retryable(CURLcode rc)
{
	switch (rc) {
	case CURLE_UNSUPPORTED_PROTOCOL:
	case CURLE_URL_MALFORMAT:
	case CURLE_PEER_FAILED_VERIFICATION:
	case CURLE_SSL_CACERT_BADFILE:
	case CURLE_SSL_CERTPROBLEM:
	case CURLE_ABORTED_BY_CALLBACK:
	case CURLE_READ_ERROR:
	case CURLE_OUT_OF_MEMORY:
		return false;
	default:
		return true;
	}
}

static void http_backoff(unsigned int attempt)
{
	unsigned int ms = HTTP_BACKOFF_BASE;
	unsigned int seed = (unsigned int)time(NULL) ^ (unsigned int)pthread_self() ^ attempt;
	struct timespec ts;

	while (attempt-- > 0 && ms < HTTP_BACKOFF_CAP)
		ms *= 2;
	if (ms > HTTP_BACKOFF_CAP)
		ms = HTTP_BACKOFF_CAP;
	/* Full jitter keeps many threads from retrying in lockstep. */
	ms = ms / 2 + (unsigned int)rand_r(&seed) % (ms / 2 + 1);
	ts.tv_sec = ms / 1000;
	ts.tv_nsec = (long)(ms % 1000) * 1000000L;
	nanosleep(&ts, NULL);
}

static int http_attempt(struct http *h, CURL *c, const struct http_request *req,
			struct http_response *resp, CURLcode *curl_rc)
{
	struct curl_slist *headers = NULL;
	struct http_xfer x = {.req = req, .resp = resp, .curl = c, .skip = req->skip_on_200};
	int rc = 0;

	buf_reset(&resp->headers);
	buf_reset(&resp->body);
	resp->dst_got = 0;
	resp->status = 0;
	resp->error[0] = '\0';

	if (req->build_headers) {
		rc = req->build_headers(req->ctx, &headers);
		if (rc)
			goto out_free_headers;
	}
	/* No 100-continue round trip: it costs a round trip on every PUT. */
	headers = curl_slist_append(headers, "Expect:");

	curl_easy_setopt(c, CURLOPT_URL, req->url);
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, headers);
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c, CURLOPT_ERRORBUFFER, resp->error);
	curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT, (long)h->conf.connect_timeout);
	curl_easy_setopt(c, CURLOPT_LOW_SPEED_LIMIT, 1L);
	curl_easy_setopt(c, CURLOPT_LOW_SPEED_TIME, (long)h->conf.request_timeout);
	curl_easy_setopt(c, CURLOPT_TCP_NODELAY, 1L);
	curl_easy_setopt(c, CURLOPT_TCP_KEEPALIVE, 1L);
	curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, http_header_cb);
	curl_easy_setopt(c, CURLOPT_HEADERDATA, &x);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, http_write_cb);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, &x);
	if (h->conf.cafile)
		curl_easy_setopt(c, CURLOPT_CAINFO, h->conf.cafile);
	if (h->conf.no_verify_ssl) {
		curl_easy_setopt(c, CURLOPT_SSL_VERIFYPEER, 0L);
		curl_easy_setopt(c, CURLOPT_SSL_VERIFYHOST, 0L);
	}

	if (strcmp(req->method, "HEAD") == 0) {
		curl_easy_setopt(c, CURLOPT_NOBODY, 1L);
	} else if (req->has_body) {
		curl_easy_setopt(c, CURLOPT_UPLOAD, 1L);
		curl_easy_setopt(c, CURLOPT_READFUNCTION, http_read_cb);
		curl_easy_setopt(c, CURLOPT_READDATA, &x);
		curl_easy_setopt(c, CURLOPT_SEEKFUNCTION, http_seek_cb);
		curl_easy_setopt(c, CURLOPT_SEEKDATA, &x);
		curl_easy_setopt(c, CURLOPT_INFILESIZE_LARGE, (curl_off_t)req->body_len);
		if (strcmp(req->method, "PUT") != 0)
			curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, req->method);
	} else if (strcmp(req->method, "GET") != 0) {
		curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, req->method);
	}

	*curl_rc = curl_easy_perform(c);
	if (x.read_error) {
		rc = x.read_error;
		goto out_free_headers;
	}
	if (*curl_rc == CURLE_WRITE_ERROR && !x.write_error && req->dst &&
	    (resp->dst_got == req->dst_len || x.empty_range))
		*curl_rc = CURLE_OK;
	if (*curl_rc == CURLE_OK)
		curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &resp->status);
	else if (!resp->error[0])
		snprintf(resp->error, sizeof(resp->error), "%s", curl_easy_strerror(*curl_rc));
	if (x.write_error)
		rc = x.write_error;
out_free_headers:
	curl_slist_free_all(headers);
	return rc;
}

int http_execute(struct http *h, const struct http_request *req, struct http_response *resp)
{
	unsigned int retries = req->retries >= 0 ? (unsigned int)req->retries : h->conf.retries;
	unsigned int attempt;
	CURLcode curl_rc = CURLE_OK;
	CURL *c;
	int rc = -EIO;

	buf_init(&resp->headers, HTTP_HEADERS_MAX);
	buf_init(&resp->body, HTTP_BODY_MAX);
	c = http_handle_get(h);
	if (!c)
		return -ENOMEM;
	for (attempt = 0;; attempt++) {
		curl_off_t down = 0, up = 0;

		rc = http_attempt(h, c, req, resp, &curl_rc);
		metrics_add(requests[metrics_method_of(req->method)], 1);
		if (!curl_easy_getinfo(c, CURLINFO_SIZE_DOWNLOAD_T, &down))
			metrics_add(bytes_down, (uint64_t)down);
		if (!curl_easy_getinfo(c, CURLINFO_SIZE_UPLOAD_T, &up))
			metrics_add(bytes_up, (uint64_t)up);
		if (rc)
			break;
		if (curl_rc != CURLE_OK) {
			rc = http_curl_errno(curl_rc);
			if (!http_curl_retryable(curl_rc))
				break;
		} else if (!http_status_retryable(resp->status)) {
			break;
		}
		if (attempt >= retries)
			break;
		metrics_add(retries, 1);
		/* The query is never logged: a SAS or a pre-signed URL carries
		 * its signature there. */
		log_info("%s %.*s: %s, retry %u of %u", req->method, (int)strcspn(req->url, "?"),
			 req->url, curl_rc != CURLE_OK ? resp->error : "server busy or failing",
			 attempt + 1, retries);
		http_backoff(attempt);
	}
	if (curl_rc == CURLE_OK && !rc)
		rc = 0;
	if (rc || resp->status == 403 || resp->status >= 500)
		metrics_add(errors, 1);
	if (rc) {
		/* A broken connection must not go back into the pool. */
		curl_easy_cleanup(c);
		return rc;
	}
	http_handle_put(h, c);
	return 0;
}

void http_response_free(struct http_response *resp)
{
	buf_free(&resp->headers);
	buf_free(&resp->body);
}

bool http_response_header(const struct http_response *resp, const char *name, char *out,
			  size_t outlen)
{
	size_t nlen = strlen(name);
	const char *p = resp->headers.data;

	if (!p || !outlen)
		return false;
	while (*p) {
		const char *eol = strchr(p, '\n');
		const char *end = eol ? eol : p + strlen(p);

		if ((size_t)(end - p) > nlen && strncasecmp(p, name, nlen) == 0 && p[nlen] == ':') {
			const char *v = p + nlen + 1;
			size_t n;

			while (v < end && (*v == ' ' || *v == '\t'))
				v++;
			while (end > v && (end[-1] == '\r' || end[-1] == ' ' || end[-1] == '\n'))
				end--;
			n = (size_t)(end - v);
			if (n >= outlen)
				n = outlen - 1;
			memcpy(out, v, n);
			out[n] = '\0';
			return true;
		}
		if (!eol)
			break;
		p = eol + 1;
	}
	return false;
}

bool http_status_retryable(long status)
{
	return status == 429 || (status >= 500 && status != 501);
}

int http_status_errno(long status)
{
	if (status >= 200 && status < 300)
		return 0;
	switch (status) {
	case 400:
		return -EINVAL;
	case 401:
	case 403:
		return -EACCES;
	case 404:
	case 410:
		return -ENOENT;
	case 405:
	case 501:
		return -ENOTSUP;
	case 409:
		return -EBUSY;
	case 412:
		return -ESTALE;
	case 413:
		return -EFBIG;
	case 414:
		return -ENAMETOOLONG;
	case 416:
		return -ERANGE;
	case 507:
		return -ENOSPC;
	default:
		return -EIO;
	}
}

int http_add_header(struct curl_slist **headers, const char *name, const char *value)
{
	struct curl_slist *n = NULL;
	struct buf line;
	int rc;

	buf_init(&line, 65536);
	rc = buf_printf(&line, "%s: %s", name, value);
	if (!rc)
		n = curl_slist_append(*headers, line.data);
	if (!rc && !n)
		rc = -ENOMEM;
	if (n)
		*headers = n;
	if (line.data)
		explicit_bzero(line.data, line.len);
	buf_free(&line);
	return rc;
}
