/*
 * The S3 store: each store operation is one or a few S3 REST calls, signed
 * with SigV4 in the Authorization header (or unsigned for anonymous access)
 * and sent through the HTTP layer, which retries. This file is the one
 * place where S3 answers become errno values (s3_error()).
 *
 * Bodies we upload are streamed and signed as UNSIGNED-PAYLOAD; small XML
 * bodies we build are hashed. Keys are percent-encoded once, as S3 signs
 * them, with '/' kept.
 */
#include "s3.h"

#include <errno.h>
#include <inttypes.h>
#include <openssl/evp.h>
#include <openssl/md5.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "aws_creds.h"
#include "log.h"
#include "s3_xml.h"
#include "sigv4.h"
#include "store_call.h"
#include "store_meta.h"
#include "uri.h"
#include "xml_util.h"

#define S3_EMPTY_SHA256	 "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
#define S3_UNSIGNED	 "UNSIGNED-PAYLOAD"
#define S3_DELETE_BATCH	 1000
#define S3_MAX_KEY_LEN	 1024
#define S3_MAX_PARTS	 10000
#define S3_PART_SIZE_MIN (5u << 20)

struct s3 {
	struct http *http;
	char *origin;	 /* "scheme://host[:port]" requests go to */
	char *host;	 /* Host header as curl sends it, for signing */
	char *path_base; /* "/bucket" path-style, "" virtual-hosted */
	char *bucket;
	char *region;
	/* Where signing keys come from: a snapshot is taken per attempt, so a
	 * refresh never changes them under a request. NULL: anonymous. */
	struct refresh *creds;
	/* Bucket options (s3_conf), immutable after create. */
	bool requester_pays;
	char *sse;
	char *kms_key_id;
	char *storage_class;
	char *ssec_key; /* base64 of the 32-byte SSE-C key; zeroed on destroy */
	char ssec_md5[32];
};

/* What a request does to an object, for the headers the bucket options add. */
enum s3_obj_op {
	S3_OBJ_READ,	  /* GET, HEAD: SSE-C */
	S3_OBJ_WRITE,	  /* PUT, CreateMultipartUpload: SSE-C, SSE, storage class */
	S3_OBJ_PART,	  /* UploadPart: SSE-C */
	S3_OBJ_COPY,	  /* CopyObject: the write's, and SSE-C of the source */
	S3_OBJ_PART_COPY, /* UploadPartCopy: SSE-C of the part and of the source */
};

struct store_upload {
	char *key;
	char *upload_id;
	pthread_mutex_t lock;
	char **etags;	      /* index part_no - 1; protected by lock */
	unsigned int n_etags; /* protected by lock */
};

/* One request and what SigV4 signs of it besides the headers. */
struct s3_call {
	struct store_call c; /* first: the callbacks get &c */
	struct s3 *s3;
	const char *payload_hash;
	char content_md5[32];
};

static const struct store_call_ops s3_call_ops;

static struct s3 *s3_of(struct store *s)
{
	return s->ctx;
}

static int s3_call_add(struct s3_call *call, const char *name, const char *value)
{
	return store_call_add(&call->c, name, value);
}

/* A call on the bucket (key NULL) or one of its objects. */
static int s3_call_init(struct s3_call *call, struct s3 *s3, const char *method, const char *key)
{
	const struct store_target to = {
		.ops = &s3_call_ops,
		.http = s3->http,
		.origin = s3->origin,
		.base = s3->path_base,
		.creds = s3->creds,
	};
	int rc;

	memset(call, 0, sizeof(*call));
	call->s3 = s3;
	call->payload_hash = S3_EMPTY_SHA256;
	rc = store_call_init(&call->c, &to, method, key);
	/* Virtual-hosted, the bucket's path is "/". */
	if (!rc && !key && !s3->path_base[0])
		rc = buf_puts(&call->c.path, "/");
	if (!rc && s3->requester_pays)
		rc = s3_call_add(call, "x-amz-request-payer", "requester");
	return rc;
}

static void s3_call_free(struct s3_call *call)
{
	store_call_free(&call->c);
}

/* The headers the bucket options add to a request on an object. */
static int s3_call_object_opts(struct s3_call *call, enum s3_obj_op op)
{
	struct s3 *s3 = call->s3;
	int rc = 0;

	if (s3->ssec_key) {
		rc = s3_call_add(call, "x-amz-server-side-encryption-customer-algorithm", "AES256")
			     ?: s3_call_add(call, "x-amz-server-side-encryption-customer-key",
					    s3->ssec_key)
			     ?: s3_call_add(call, "x-amz-server-side-encryption-customer-key-md5",
					    s3->ssec_md5);
		if (!rc && (op == S3_OBJ_COPY || op == S3_OBJ_PART_COPY))
			rc = s3_call_add(call,
					 "x-amz-copy-source-server-side-encryption-customer-algorithm",
					 "AES256")
				     ?: s3_call_add(call,
						    "x-amz-copy-source-server-side-encryption-customer-"
						    "key",
						    s3->ssec_key)
				     ?: s3_call_add(call,
						    "x-amz-copy-source-server-side-encryption-customer-"
						    "key-md5",
						    s3->ssec_md5);
	}
	if (rc || (op != S3_OBJ_WRITE && op != S3_OBJ_COPY))
		return rc;
	if (s3->sse)
		rc = s3_call_add(call, "x-amz-server-side-encryption", s3->sse);
	if (!rc && s3->kms_key_id)
		rc = s3_call_add(call, "x-amz-server-side-encryption-aws-kms-key-id",
				 s3->kms_key_id);
	if (!rc && s3->storage_class)
		rc = s3_call_add(call, "x-amz-storage-class", s3->storage_class);
	return rc;
}

static int s3_call_query(struct s3_call *call, const char *name, const char *value)
{
	return store_call_query(&call->c, name, value);
}

/* store_call_ops.build_headers: SigV4 in the Authorization header. */
static int s3_build_headers(void *ctx, struct curl_slist **headers)
{
	struct s3_call *call = ctx;
	const struct store_call *c = &call->c;
	struct s3 *s3 = call->s3;
	struct sigv4_header signed_h[STORE_CALL_MAX_HEADERS + 4];
	struct sigv4_request req;
	struct creds cr;
	struct buf auth;
	char amz_date[17];
	size_t n = 0, i;
	int rc = 0;

	for (i = 0; i < c->n_extra && !rc; i++)
		rc = http_add_header(headers, c->extra[i].name, c->extra[i].value);
	if (!rc && c->range[0])
		rc = http_add_header(headers, "Range", c->range);
	if (!rc && call->content_md5[0])
		rc = http_add_header(headers, "Content-MD5", call->content_md5);
	if (rc || !s3->creds)
		return rc;
	rc = aws_creds_get(s3->creds, &cr, &call->c.creds_gen);
	if (rc)
		return rc;

	sigv4_amz_date(time(NULL), amz_date);
	signed_h[n++] = (struct sigv4_header){"host", s3->host};
	signed_h[n++] = (struct sigv4_header){"x-amz-content-sha256", call->payload_hash};
	signed_h[n++] = (struct sigv4_header){"x-amz-date", amz_date};
	if (cr.session_token)
		signed_h[n++] = (struct sigv4_header){"x-amz-security-token", cr.session_token};
	for (i = 0; i < c->n_extra; i++)
		signed_h[n++] = (struct sigv4_header){c->extra[i].name, c->extra[i].value};

	req = (struct sigv4_request){
		.method = c->method,
		.path = c->path.data,
		.query = c->query.data,
		.headers = signed_h,
		.n_headers = n,
		.payload_hash = call->payload_hash,
		.region = s3->region,
		.service = "s3",
		.amz_date = amz_date,
	};
	buf_init(&auth, 4096);
	rc = sigv4_authorization(&req, cr.access_key, cr.secret_key, &auth);
	if (!rc)
		rc = http_add_header(headers, "Authorization", auth.data);
	if (!rc)
		rc = http_add_header(headers, "x-amz-date", amz_date);
	if (!rc)
		rc = http_add_header(headers, "x-amz-content-sha256", call->payload_hash);
	if (!rc && cr.session_token)
		rc = http_add_header(headers, "x-amz-security-token", cr.session_token);
	if (auth.data)
		explicit_bzero(auth.data, auth.len);
	buf_free(&auth);
	creds_clear(&cr);
	return rc;
}

/* store_call_ops.creds_refused: whether S3 refused the credentials
 * themselves (expired or revoked session). A HEAD's answer has no body to
 * say so: its 400 is taken as that (else it is the odd SSE-C mismatch, and
 * a second try costs little). */
static bool s3_creds_refused(const struct store_call *call, const struct http_response *resp)
{
	static const char *const codes[] = {"ExpiredToken", "InvalidToken", "TokenRefreshRequired"};
	char *code = NULL;
	bool refused = false;

	if (resp->status != 400 && resp->status != 403)
		return false;
	if (!strcmp(call->method, "HEAD"))
		return resp->status == 400;
	if (!resp->body.len)
		return false;
	if (s3_xml_parse_error(resp->body.data, resp->body.len, &code, NULL, NULL) || !code)
		return false;
	for (size_t i = 0; i < sizeof(codes) / sizeof(*codes); i++)
		refused |= !strcmp(code, codes[i]);
	free(code);
	return refused;
}

/* The one map from an S3 answer to errno; logs the cause with the request
 * id, quietly for a plain "not found". */
static int s3_error(const char *op, const char *key, const struct http_response *resp)
{
	static const struct store_errno codes[] = {
		{"NoSuchKey", -ENOENT},
		{"NoSuchBucket", -ENOENT},
		{"NoSuchUpload", -ENOENT},
		{"AccessDenied", -EACCES},
		{"AllAccessDisabled", -EACCES},
		{"InvalidAccessKeyId", -EACCES},
		{"SignatureDoesNotMatch", -EACCES},
		{"ExpiredToken", -EACCES},
		{"InvalidToken", -EACCES},
		{"RequestTimeTooSkewed", -EACCES},
		{"KeyTooLongError", -ENAMETOOLONG},
		{"EntityTooLarge", -EFBIG},
		{"InvalidRange", -ERANGE},
		{"NotImplemented", -ENOTSUP},
		{"MethodNotAllowed", -ENOTSUP},
		{"PreconditionFailed", -ESTALE},
		{"SlowDown", -EIO},
		{"InternalError", -EIO},
		{"ServiceUnavailable", -EIO},
	};
	char *code = NULL, *message = NULL, *request_id = NULL;
	char hdr_id[128] = "";
	int err;

	if (resp->body.len)
		s3_xml_parse_error(resp->body.data, resp->body.len, &code, &message, &request_id);
	if (!request_id)
		http_response_header(resp, "x-amz-request-id", hdr_id, sizeof(hdr_id));
	err = store_error("S3", codes, sizeof(codes) / sizeof(codes[0]), op, key, resp, code,
			  message, request_id ? request_id : (hdr_id[0] ? hdr_id : NULL));
	free(code);
	free(message);
	free(request_id);
	return err;
}

static const struct store_call_ops s3_call_ops = {
	.name = "S3",
	.build_headers = s3_build_headers,
	.creds_refused = s3_creds_refused,
	.refused_retry = "the credentials were refused: once more with new ones",
	.error = s3_error,
};

/* Whether the answer is a failure, an Error document inside a 200
 * included: CopyObject, UploadPartCopy and CompleteMultipartUpload can fail
 * after their 200 header. */
static bool s3_answer_failed(const struct http_response *resp)
{
	return !store_answer_ok(resp) || (resp->body.data && strstr(resp->body.data, "<Error>"));
}

/* Metadata headers as s3fs writes them. */
static int s3_add_meta(struct s3_call *call, const struct store_meta *m)
{
	return store_call_add_meta(&call->c, m, "x-amz-meta-");
}

/* A HEAD or GET of key, with the bucket options' headers for reading. */
static int s3_read_call(struct s3_call *call, struct s3 *s3, const char *method, const char *key)
{
	int rc;

	rc = s3_call_init(call, s3, method, key);
	if (!rc)
		rc = s3_call_object_opts(call, S3_OBJ_READ);
	return rc;
}

/* What HEAD and GET answers say of the object. */
static void s3_obj_from_headers(const struct http_response *resp, struct store_obj *out)
{
	char v[128];

	memset(out, 0, sizeof(*out));
	/* 206: "bytes 0-N/TOTAL"; 200 (Range ignored): the whole object. */
	out->size = store_answer_size(resp);
	if (http_response_header(resp, "Last-Modified", v, sizeof(v)))
		out->last_modified = curl_getdate(v, NULL);
	http_response_header(resp, "ETag", out->etag, sizeof(out->etag));
	meta_from_headers(resp, "x-amz-meta-", &out->meta);
}

static int s3_head(struct store *s, const char *key, struct store_obj *out)
{
	struct http_request req = {.retries = -1};
	struct http_response resp;
	struct s3_call call;
	int rc;

	rc = s3_read_call(&call, s3_of(s), "HEAD", key);
	if (!rc)
		rc = store_call_send(&call.c, &req, &resp);
	if (rc)
		goto out;
	if (!store_answer_ok(&resp)) {
		rc = s3_error("HEAD", key, &resp);
		goto out_resp;
	}
	s3_obj_from_headers(&resp, out);
out_resp:
	http_response_free(&resp);
out:
	s3_call_free(&call);
	return rc;
}

static int s3_head_and_read(struct store *s, const char *key, void *dst, size_t len, size_t *got,
			    struct store_obj *out)
{
	struct http_response resp;
	struct s3_call call;
	int rc;

	*got = 0;
	rc = s3_read_call(&call, s3_of(s), "GET", key);
	if (!rc)
		rc = store_call_read_first(&call.c, key, dst, len, got, &resp);
	s3_call_free(&call);
	if (rc > 0)
		return s3_head(s, key, out);
	if (rc)
		return rc;
	s3_obj_from_headers(&resp, out);
	if (*got > out->size)
		*got = (size_t)out->size;
	http_response_free(&resp);
	return 0;
}

static int s3_get(struct store *s, const char *key, uint64_t off, const struct iovec *dst, int cnt,
		  size_t *got, const char *if_match)
{
	struct s3_call call;
	int rc;

	*got = 0;
	rc = s3_read_call(&call, s3_of(s), "GET", key);
	if (!rc)
		rc = store_call_get(&call.c, key, off, dst, cnt, got, if_match, "if-match");
	s3_call_free(&call);
	return rc;
}

static int s3_put(struct store *s, const char *key, const struct store_meta *meta,
		  store_reader_fn read, void *ctx, uint64_t len)
{
	struct http_request req = {.retries = -1,
				   .read_body = read,
				   .body_ctx = ctx,
				   .body_len = len,
				   .has_body = true};
	struct s3_call call;
	int rc;

	rc = s3_call_init(&call, s3_of(s), "PUT", key);
	if (!rc)
		rc = s3_add_meta(&call, meta);
	if (!rc)
		rc = s3_call_object_opts(&call, S3_OBJ_WRITE);
	if (len)
		call.payload_hash = S3_UNSIGNED;
	if (!rc)
		rc = store_call_run(&call.c, &req, "PUT", key);
	s3_call_free(&call);
	return rc;
}

/* x-amz-copy-source: "/bucket/src", src encoded into source, which must
 * outlive the call. */
static int s3_call_copy_source(struct s3_call *call, const char *src, struct buf *source)
{
	int rc;

	rc = buf_printf(source, "/%s/", call->s3->bucket);
	if (!rc)
		rc = uri_encode(source, src, strlen(src), true);
	if (!rc)
		rc = s3_call_add(call, "x-amz-copy-source", source->data);
	return rc;
}

static int s3_copy(struct store *s, const char *src, const char *dst, const struct store_meta *meta)
{
	struct s3 *s3 = s3_of(s);
	struct http_request req = {
		.retries = -1, .has_body = true, .body_len = 0, .read_body = http_mem_read};
	struct http_mem empty = {"", 0};
	struct http_response resp;
	struct s3_call call;
	struct buf source;
	int rc;

	req.body_ctx = &empty;
	buf_init(&source, 8192);
	rc = s3_call_init(&call, s3, "PUT", dst);
	if (!rc)
		rc = s3_call_copy_source(&call, src, &source);
	if (!rc)
		rc = s3_call_object_opts(&call, S3_OBJ_COPY);
	if (!rc && meta) {
		rc = s3_call_add(&call, "x-amz-metadata-directive", "REPLACE");
		if (!rc)
			rc = s3_add_meta(&call, meta);
	}
	if (rc)
		goto out;
	rc = store_call_send(&call.c, &req, &resp);
	if (rc)
		goto out;
	if (s3_answer_failed(&resp))
		rc = s3_error("COPY", src, &resp);
	http_response_free(&resp);
out:
	buf_free(&source);
	s3_call_free(&call);
	return rc;
}

static int s3_remove(struct store *s, const char *key)
{
	struct s3_call call;
	int rc;

	rc = s3_call_init(&call, s3_of(s), "DELETE", key);
	if (!rc)
		rc = store_call_delete(&call.c, key);
	s3_call_free(&call);
	return rc;
}

static void s3_md5_base64(const void *data, size_t len, char out[32])
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int mdlen = 0;

	EVP_Digest(data, len, md, &mdlen, EVP_md5(), NULL);
	EVP_EncodeBlock((unsigned char *)out, md, (int)mdlen);
}

static int s3_remove_batch(struct s3 *s3, const char *const *keys, size_t n)
{
	struct http_request req = {.retries = -1, .has_body = true, .read_body = http_mem_read};
	struct http_response resp;
	struct http_mem mem;
	struct s3_call call;
	struct buf body;
	char hash[65];
	size_t n_errors = 0;
	char *first = NULL;
	int rc;

	buf_init(&body, 4u << 20);
	rc = s3_xml_build_delete(&body, keys, n);
	if (rc) {
		buf_free(&body);
		return rc;
	}
	rc = s3_call_init(&call, s3, "POST", NULL);
	if (!rc)
		rc = s3_call_query(&call, "delete", "");
	if (rc)
		goto out;
	sigv4_sha256_hex(body.data, body.len, hash);
	call.payload_hash = hash;
	s3_md5_base64(body.data, body.len, call.content_md5);
	mem = (struct http_mem){body.data, body.len};
	req.body_ctx = &mem;
	req.body_len = body.len;
	rc = store_call_send(&call.c, &req, &resp);
	if (rc)
		goto out;
	if (!store_answer_ok(&resp)) {
		rc = s3_error("DELETE-MANY", keys[0], &resp);
	} else if (s3_xml_parse_delete_result(resp.body.data, resp.body.len, &n_errors, &first) ==
			   0 &&
		   n_errors) {
		log_warn("S3 DeleteObjects: %zu of %zu keys not deleted (%s)", n_errors, n,
			 first ? first : "unknown error");
		rc = strcmp(first ? first : "", "AccessDenied") == 0 ? -EACCES : -EIO;
	}
	free(first);
	http_response_free(&resp);
out:
	s3_call_free(&call);
	buf_free(&body);
	return rc;
}

static int s3_remove_many(struct store *s, const char *const *keys, size_t n)
{
	size_t done;
	int rc = 0;

	for (done = 0; done < n && !rc; done += S3_DELETE_BATCH) {
		size_t batch = n - done < S3_DELETE_BATCH ? n - done : S3_DELETE_BATCH;

		rc = s3_remove_batch(s3_of(s), keys + done, batch);
	}
	return rc;
}

static int s3_list(struct store *s, const char *prefix, const char *delim, const char *token,
		   unsigned int max_keys, struct store_list *out)
{
	struct s3_call call;
	char max[16];
	int rc;

	memset(out, 0, sizeof(*out));
	rc = s3_call_init(&call, s3_of(s), "GET", NULL);
	if (!rc)
		rc = s3_call_query(&call, "list-type", "2");
	if (!rc && prefix && *prefix)
		rc = s3_call_query(&call, "prefix", prefix);
	if (!rc && delim)
		rc = s3_call_query(&call, "delimiter", delim);
	if (!rc && token)
		rc = s3_call_query(&call, "continuation-token", token);
	if (!rc && max_keys) {
		snprintf(max, sizeof(max), "%u", max_keys);
		rc = s3_call_query(&call, "max-keys", max);
	}
	if (!rc)
		rc = store_call_list(&call.c, prefix, s3_xml_parse_list, out);
	s3_call_free(&call);
	return rc;
}

static int s3_upload_begin(struct store *s, const char *key, const struct store_meta *meta,
			   struct store_upload **out)
{
	struct http_request req = {.retries = -1, .has_body = true, .read_body = http_mem_read};
	struct http_mem empty = {"", 0};
	struct http_response resp;
	struct store_upload *u;
	struct s3_call call;
	int rc;

	u = calloc(1, sizeof(*u));
	if (!u)
		return -ENOMEM;
	pthread_mutex_init(&u->lock, NULL);
	req.body_ctx = &empty;
	rc = s3_call_init(&call, s3_of(s), "POST", key);
	if (!rc)
		rc = s3_call_query(&call, "uploads", "");
	if (!rc)
		rc = s3_add_meta(&call, meta);
	if (!rc)
		rc = s3_call_object_opts(&call, S3_OBJ_WRITE);
	if (!rc)
		rc = store_call_send(&call.c, &req, &resp);
	if (rc)
		goto out;
	if (!store_answer_ok(&resp))
		rc = s3_error("CREATE-MULTIPART", key, &resp);
	else
		rc = s3_xml_parse_upload_id(resp.body.data ? resp.body.data : "", resp.body.len,
					    &u->upload_id);
	http_response_free(&resp);
	if (!rc) {
		u->key = strdup(key);
		if (!u->key)
			rc = -ENOMEM;
	}
out:
	s3_call_free(&call);
	if (rc) {
		free(u->upload_id);
		pthread_mutex_destroy(&u->lock);
		free(u);
		return rc;
	}
	*out = u;
	return 0;
}

static int s3_upload_call(struct s3 *s3, struct s3_call *call, const char *method,
			  struct store_upload *u, unsigned int part_no)
{
	char num[16];
	int rc;

	rc = s3_call_init(call, s3, method, u->key);
	if (!rc && part_no) {
		snprintf(num, sizeof(num), "%u", part_no);
		rc = s3_call_query(call, "partNumber", num);
	}
	if (!rc)
		rc = s3_call_query(call, "uploadId", u->upload_id);
	return rc;
}

/* Remember part part_no's ETag for CompleteMultipartUpload. */
static int s3_upload_record(struct store_upload *u, unsigned int part_no, const char *etag)
{
	int rc = 0;

	pthread_mutex_lock(&u->lock);
	if (part_no > u->n_etags) {
		char **grown = realloc(u->etags, part_no * sizeof(*grown));

		if (!grown) {
			rc = -ENOMEM;
		} else {
			memset(grown + u->n_etags, 0, (part_no - u->n_etags) * sizeof(*grown));
			u->etags = grown;
			u->n_etags = part_no;
		}
	}
	if (!rc) {
		free(u->etags[part_no - 1]);
		u->etags[part_no - 1] = strdup(etag);
		if (!u->etags[part_no - 1])
			rc = -ENOMEM;
	}
	pthread_mutex_unlock(&u->lock);
	return rc;
}

static int s3_upload_part(struct store *s, struct store_upload *u, unsigned int part_no,
			  store_reader_fn read, void *ctx, size_t len)
{
	struct http_request req = {.retries = -1,
				   .has_body = true,
				   .read_body = read,
				   .body_ctx = ctx,
				   .body_len = len};
	struct http_response resp;
	struct s3_call call;
	char etag[128];
	int rc;

	if (part_no == 0 || part_no > S3_MAX_PARTS)
		return -EFBIG;
	rc = s3_upload_call(s3_of(s), &call, "PUT", u, part_no);
	if (!rc)
		rc = s3_call_object_opts(&call, S3_OBJ_PART);
	if (rc)
		goto out;
	call.payload_hash = S3_UNSIGNED;
	rc = store_call_send(&call.c, &req, &resp);
	if (rc)
		goto out;
	if (!store_answer_ok(&resp)) {
		rc = s3_error("UPLOAD-PART", u->key, &resp);
	} else if (!http_response_header(&resp, "ETag", etag, sizeof(etag))) {
		log_warn("S3 UploadPart '%s' #%u: no ETag in the answer", u->key, part_no);
		rc = -EIO;
	}
	http_response_free(&resp);
	if (!rc)
		rc = s3_upload_record(u, part_no, etag);
out:
	s3_call_free(&call);
	return rc;
}

/* UploadPartCopy: the part's bytes are a range of src, as of etag. */
static int s3_upload_part_copy(struct store *s, struct store_upload *u, unsigned int part_no,
			       const char *src, const char *etag, uint64_t off, uint64_t len)
{
	struct s3 *s3 = s3_of(s);
	struct http_request req = {
		.retries = -1, .has_body = true, .body_len = 0, .read_body = http_mem_read};
	struct http_mem empty = {"", 0};
	static const char *const names[] = {"ETag"};
	struct http_response resp;
	struct s3_call call;
	struct buf source;
	char range[64], *part_etag = NULL;
	int rc;

	if (part_no == 0 || part_no > S3_MAX_PARTS || !len)
		return -EINVAL;
	req.body_ctx = &empty;
	buf_init(&source, 8192);
	rc = s3_upload_call(s3, &call, "PUT", u, part_no);
	if (!rc)
		rc = s3_call_copy_source(&call, src, &source);
	snprintf(range, sizeof(range), "bytes=%" PRIu64 "-%" PRIu64, off, off + len - 1);
	if (!rc)
		rc = s3_call_add(&call, "x-amz-copy-source-range", range);
	if (!rc)
		rc = s3_call_add(&call, "x-amz-copy-source-if-match", etag);
	if (!rc)
		rc = s3_call_object_opts(&call, S3_OBJ_PART_COPY);
	if (!rc)
		rc = store_call_send(&call.c, &req, &resp);
	if (rc)
		goto out;
	/* Like CopyObject, it can fail after its 200 header. */
	if (s3_answer_failed(&resp))
		rc = s3_error("UPLOAD-PART-COPY", u->key, &resp);
	else if (xml_root_fields(resp.body.data ? resp.body.data : "", resp.body.len,
				 "CopyPartResult", names, (char **const[]){&part_etag}, 1) ||
		 !part_etag)
		rc = -EPROTO;
	http_response_free(&resp);
	if (!rc)
		rc = s3_upload_record(u, part_no, part_etag);
	free(part_etag);
out:
	buf_free(&source);
	s3_call_free(&call);
	return rc;
}

static void s3_upload_free(struct store_upload *u)
{
	unsigned int i;

	for (i = 0; i < u->n_etags; i++)
		free(u->etags[i]);
	free(u->etags);
	free(u->key);
	free(u->upload_id);
	pthread_mutex_destroy(&u->lock);
	free(u);
}

/*
 * A completion that failed after its retries may have worked on an
 * earlier try whose answer was lost: the retry then finds no such upload
 * (or, from s3rver, an internal error). The object is ours if its ETag is
 * the one S3 gives a multipart object: the MD5 of the parts' MD5s, "-N".
 */
static bool s3_upload_completed_before(struct store *s, struct store_upload *u,
				       unsigned int n_parts)
{
	struct store_obj obj;
	char want[48];

	if (s3_multipart_etag((const char *const *)u->etags, n_parts, want) ||
	    s3_head(s, u->key, &obj) || strcmp(obj.etag, want))
		return false;
	log_info("S3 multipart '%s': completed by an earlier try whose answer was lost", u->key);
	return true;
}

static int s3_upload_complete(struct store *s, struct store_upload *u, unsigned int n_parts)
{
	struct http_request req = {.retries = -1, .has_body = true, .read_body = http_mem_read};
	struct http_response resp;
	struct http_mem mem;
	struct s3_call call;
	struct buf body;
	char hash[65];
	unsigned int i;
	int rc = 0;

	for (i = 0; i < n_parts; i++) {
		if (i >= u->n_etags || !u->etags[i]) {
			log_err("S3 multipart '%s': part %u missing at completion", u->key, i + 1);
			s3_upload_free(u);
			return -EIO;
		}
	}
	buf_init(&body, 4u << 20);
	rc = s3_xml_build_complete(&body, (const char *const *)u->etags, n_parts);
	if (!rc)
		rc = s3_upload_call(s3_of(s), &call, "POST", u, 0);
	else
		goto out_body;
	if (rc)
		goto out;
	sigv4_sha256_hex(body.data, body.len, hash);
	call.payload_hash = hash;
	mem = (struct http_mem){body.data, body.len};
	req.body_ctx = &mem;
	req.body_len = body.len;
	rc = store_call_send(&call.c, &req, &resp);
	if (!rc) {
		/* Like CopyObject, completion can fail inside a 200. */
		if (s3_answer_failed(&resp))
			rc = s3_error("COMPLETE-MULTIPART", u->key, &resp);
		http_response_free(&resp);
	}
	if ((rc == -ENOENT || rc == -EIO) && s3_upload_completed_before(s, u, n_parts))
		rc = 0;
out:
	s3_call_free(&call);
out_body:
	buf_free(&body);
	s3_upload_free(u);
	return rc;
}

static void s3_upload_abort(struct store *s, struct store_upload *u)
{
	struct http_request req = {.retries = 0};
	struct http_response resp;
	struct s3_call call;

	/* Best effort: some stores (s3rver) do not implement abort; the
	 * bucket's lifecycle rules clean up what is left. */
	if (!s3_upload_call(s3_of(s), &call, "DELETE", u, 0) &&
	    !store_call_send(&call.c, &req, &resp)) {
		if (!store_answer_ok(&resp))
			log_debug("S3 AbortMultipartUpload '%s': HTTP %ld", u->key, resp.status);
		http_response_free(&resp);
	}
	s3_call_free(&call);
	s3_upload_free(u);
}

static int s3_probe(struct store *s, const char *prefix, char **why)
{
	struct s3 *s3 = s3_of(s);
	struct http_request req = {.retries = 1};
	struct http_response resp;
	struct s3_call call;
	char *code = NULL, *message = NULL;
	struct creds c = {0};
	char shown[32];
	uint64_t gen;
	struct buf msg;
	int rc;

	buf_init(&msg, 4096);
	if (s3->creds && aws_creds_get(s3->creds, &c, &gen))
		memset(&c, 0, sizeof(c));
	rc = s3_call_init(&call, s3, "GET", NULL);
	if (!rc)
		rc = s3_call_query(&call, "list-type", "2");
	if (!rc && prefix && *prefix)
		rc = s3_call_query(&call, "prefix", prefix);
	if (!rc)
		rc = s3_call_query(&call, "max-keys", "1");
	if (rc)
		goto out;
	rc = store_call_send(&call.c, &req, &resp);
	if (rc) {
		buf_printf(&msg, "cannot reach %s: %s", s3->origin,
			   resp.error[0] ? resp.error : strerror(-rc));
		goto out;
	}
	if (!store_answer_ok(&resp)) {
		char region[64];

		rc = s3_error("LIST", prefix, &resp);
		if (resp.body.len)
			s3_xml_parse_error(resp.body.data, resp.body.len, &code, &message, NULL);
		/* AWS names the bucket's region when we asked the wrong one. */
		if (http_response_header(&resp, "x-amz-bucket-region", region, sizeof(region)) &&
		    strcmp(region, s3->region))
			buf_printf(&msg, "bucket '%s' is in region %s, not %s (use -o region=%s)",
				   s3->bucket, region, s3->region, region);
		else if (code && strcmp(code, "NoSuchBucket") == 0)
			buf_printf(&msg, "bucket '%s' does not exist at %s", s3->bucket,
				   s3->origin);
		else if (code && strcmp(code, "SignatureDoesNotMatch") == 0)
			buf_printf(&msg,
				   "access to bucket '%s' denied: the secret key does not match "
				   "access key id '%s' (SignatureDoesNotMatch)",
				   s3->bucket, creds_key_id_shown(c.access_key, shown));
		else if (code && strcmp(code, "InvalidAccessKeyId") == 0)
			buf_printf(&msg, "access to bucket '%s' denied: unknown access key id '%s'",
				   s3->bucket, creds_key_id_shown(c.access_key, shown));
		else if (rc == -EACCES)
			buf_printf(&msg, "access to bucket '%s' denied (%s%s%s)%s", s3->bucket,
				   code ? code : "HTTP 403", message ? ": " : "",
				   message ? message : "",
				   s3->creds ? "" : "; no credentials were found");
		else if (rc == -ENOENT)
			buf_printf(&msg, "bucket '%s' does not exist at %s", s3->bucket,
				   s3->origin);
		else
			buf_printf(&msg, "bucket '%s' at %s answered HTTP %ld%s%s", s3->bucket,
				   s3->origin, resp.status, code ? " " : "", code ? code : "");
	} else {
		struct store_list l;

		/* A 200 that is not a listing: probably not an S3 endpoint. */
		rc = s3_xml_parse_list(resp.body.data ? resp.body.data : "", resp.body.len, &l);
		if (rc)
			buf_printf(&msg, "%s did not answer like an S3 service", s3->origin);
		else
			store_list_free(&l);
	}
	http_response_free(&resp);
out:
	free(code);
	free(message);
	s3_call_free(&call);
	creds_clear(&c);
	if (rc) {
		if (!msg.len)
			buf_printf(&msg, "cannot use bucket '%s': %s", s3->bucket, strerror(-rc));
		*why = buf_steal(&msg);
	}
	buf_free(&msg);
	return rc;
}

static int s3_presign(struct store *s, const char *key, bool put, unsigned int expires_s,
		      char **url, char **why)
{
	struct s3 *s3 = s3_of(s);
	struct sigv4_presign p = {.method = put ? "PUT" : "GET",
				  .host = s3->host,
				  .region = s3->region,
				  .service = "s3",
				  .expires = expires_s};
	struct s3_call call;
	struct creds c = {0};
	struct buf u;
	char date[17];
	uint64_t gen;
	int rc;

	if (!expires_s || expires_s > SIGV4_PRESIGN_MAX) {
		*why = strdup("S3 URLs expire within 7 days at most (SigV4's limit)");
		return -EINVAL;
	}
	if (!s3->creds) {
		*why = strdup("an anonymous mount cannot sign URLs");
		return -ENOTSUP;
	}
	rc = aws_creds_get(s3->creds, &c, &gen);
	if (rc)
		return rc;
	buf_init(&u, 65536);
	rc = s3_call_init(&call, s3, p.method, key);
	sigv4_amz_date(time(NULL), date);
	p.path = call.c.path.data;
	p.amz_date = date;
	p.access_key = c.access_key;
	p.secret_key = c.secret_key;
	p.session_token = c.session_token;
	if (!rc)
		rc = buf_printf(&u, "%s%s?", s3->origin, call.c.path.data) ?: sigv4_presign(&p, &u);
	if (!rc)
		*url = buf_steal(&u);
	buf_free(&u);
	s3_call_free(&call);
	creds_clear(&c);
	return rc;
}

static void s3_free(struct store *s, struct s3 *s3)
{
	if (s3) {
		http_destroy(s3->http);
		refresh_destroy(s3->creds);
		free(s3->sse);
		free(s3->kms_key_id);
		free(s3->storage_class);
		creds_zfree(s3->ssec_key);
		free(s3->origin);
		free(s3->host);
		free(s3->path_base);
		free(s3->bucket);
		free(s3->region);
		free(s3);
	}
	free(s);
}

static void s3_destroy(struct store *s)
{
	s3_free(s, s3_of(s));
}

static const struct store_ops s3_ops = {
	.name = "s3",
	.head = s3_head,
	.get = s3_get,
	.head_and_read = s3_head_and_read,
	.put = s3_put,
	.copy = s3_copy,
	.remove = s3_remove,
	.remove_many = s3_remove_many,
	.list = s3_list,
	.upload_begin = s3_upload_begin,
	.upload_part = s3_upload_part,
	.upload_part_copy = s3_upload_part_copy,
	.upload_complete = s3_upload_complete,
	.upload_abort = s3_upload_abort,
	.probe = s3_probe,
	.destroy = s3_destroy,
	.presign = s3_presign,
};

/* Split "scheme://host[:port][/path]" into origin, Host value and path. */
static int s3_parse_endpoint(struct s3 *s3, const char *endpoint, bool path_style, char **why)
{
	const char *hp, *slash;
	struct buf origin, host, base;
	bool https;
	int rc = 0;

	https = strncmp(endpoint, "https://", 8) == 0;
	if (!https && strncmp(endpoint, "http://", 7) != 0) {
		buf_init(&origin, 1024);
		buf_printf(&origin, "endpoint must start with http:// or https://: '%s'", endpoint);
		*why = buf_steal(&origin);
		return -EINVAL;
	}
	hp = endpoint + (https ? 8 : 7);
	slash = strchr(hp, '/');
	buf_init(&origin, 4096);
	buf_init(&host, 4096);
	buf_init(&base, 4096);
	if (!path_style)
		rc = buf_printf(&host, "%s.", s3->bucket);
	if (!rc)
		rc = buf_append(&host, hp, slash ? (size_t)(slash - hp) : strlen(hp));
	/* curl leaves the default port out of Host; so must the signature. */
	if (!rc && host.len > 3 && https && strcmp(host.data + host.len - 4, ":443") == 0)
		host.data[host.len -= 4] = '\0';
	if (!rc && host.len > 2 && !https && strcmp(host.data + host.len - 3, ":80") == 0)
		host.data[host.len -= 3] = '\0';
	if (!rc)
		rc = buf_printf(&origin, "%s://%s", https ? "https" : "http", host.data);
	if (!rc && slash && slash[1]) {
		rc = buf_puts(&base, slash);
		while (!rc && base.len && base.data[base.len - 1] == '/')
			base.data[--base.len] = '\0';
	}
	if (!rc && path_style)
		rc = buf_printf(&base, "/%s", s3->bucket);
	if (rc) {
		buf_free(&origin);
		buf_free(&host);
		buf_free(&base);
		return rc;
	}
	s3->origin = buf_steal(&origin);
	s3->host = buf_steal(&host);
	s3->path_base = buf_steal(&base);
	return 0;
}

/* The SSE-C key from its file: 32 bytes, raw or in base64. */
static int s3_ssec_key(struct s3 *s3, const char *path, char **why)
{
	unsigned char key[48], md[EVP_MAX_MD_SIZE];
	unsigned int mdlen = 0;
	char *text = NULL, b64[64];
	size_t n;
	int len, rc;

	rc = creds_read_secret_bytes(path, "SSE-C key file", true, &text, &n, why);
	if (rc == -ENOENT && !*why && asprintf(why, "SSE-C key file %s does not exist", path) < 0)
		*why = NULL;
	if (rc)
		return rc == -ENOENT ? -EINVAL : rc;
	len = -1;
	if (n == 32) {
		memcpy(key, text, 32);
		len = 32;
	} else {
		while (n && (text[n - 1] == '\n' || text[n - 1] == '\r'))
			n--;
		/* 32 bytes are 44 base64 characters, one '=' of padding. */
		if (n == 44 && text[43] == '=' && text[42] != '=' &&
		    EVP_DecodeBlock(key, (unsigned char *)text, 44) == 33)
			len = 32;
	}
	explicit_bzero(text, n);
	free(text);
	if (len != 32) {
		if (asprintf(why, "SSE-C key file %s must hold a 32-byte key, raw or in base64",
			     path) < 0)
			*why = NULL;
		explicit_bzero(key, sizeof(key));
		return -EINVAL;
	}
	EVP_EncodeBlock((unsigned char *)b64, key, 32);
	EVP_Digest(key, 32, md, &mdlen, EVP_md5(), NULL);
	EVP_EncodeBlock((unsigned char *)s3->ssec_md5, md, (int)mdlen);
	explicit_bzero(key, sizeof(key));
	s3->ssec_key = strdup(b64);
	explicit_bzero(b64, sizeof(b64));
	return s3->ssec_key ? 0 : -ENOMEM;
}

/* requester_pays, sse=, sse_kms_key_id=, sse_c_key_file=, storage_class=. */
static int s3_bucket_opts(struct s3 *s3, const struct s3_conf *conf, char **why)
{
	const char *sc = conf->storage_class;

	s3->requester_pays = conf->requester_pays;
	if (conf->sse && strcmp(conf->sse, "AES256") && strcmp(conf->sse, "aws:kms")) {
		*why = strdup("sse= takes AES256 (SSE-S3) or aws:kms (SSE-KMS)");
		return -EINVAL;
	}
	if (conf->sse_kms_key_id && (!conf->sse || strcmp(conf->sse, "aws:kms"))) {
		*why = strdup("sse_kms_key_id= goes with sse=aws:kms");
		return -EINVAL;
	}
	if (conf->sse && conf->sse_c_key_file) {
		*why = strdup("sse= and sse_c_key_file= exclude each other");
		return -EINVAL;
	}
	for (const char *p = sc; p && *p; p++) {
		if (!((*p >= 'A' && *p <= 'Z') || *p == '_')) {
			*why = strdup(
				"storage_class= takes a name such as STANDARD_IA or GLACIER_IR");
			return -EINVAL;
		}
	}
	if ((conf->sse && !(s3->sse = strdup(conf->sse))) ||
	    (conf->sse_kms_key_id && !(s3->kms_key_id = strdup(conf->sse_kms_key_id))) ||
	    (sc && !(s3->storage_class = strdup(sc))))
		return -ENOMEM;
	return conf->sse_c_key_file ? s3_ssec_key(s3, conf->sse_c_key_file, why) : 0;
}

struct store *s3_store_create(const struct s3_conf *conf, char **why)
{
	struct store *s = calloc(1, sizeof(*s));
	struct s3 *s3 = calloc(1, sizeof(*s3));
	struct buf ep;
	int rc;

	buf_init(&ep, 1024);
	if (!s || !s3) {
		refresh_destroy(conf->creds);
		goto out_nomem;
	}
	s3->creds = conf->creds;
	rc = s3_bucket_opts(s3, conf, why);
	if (rc == -ENOMEM)
		goto out_nomem;
	if (rc)
		goto out_free;
	s3->bucket = strdup(conf->bucket);
	s3->region = strdup(conf->region ? conf->region : "us-east-1");
	if (!s3->bucket || !s3->region)
		goto out_nomem;
	if (conf->endpoint)
		rc = buf_puts(&ep, conf->endpoint);
	else
		rc = buf_printf(&ep, "https://s3.%s.amazonaws.com", s3->region);
	if (rc)
		goto out_nomem;
	rc = s3_parse_endpoint(s3, ep.data, conf->path_style, why);
	if (rc)
		goto out_free;
	s3->http = http_create(&conf->http);
	if (!s3->http)
		goto out_nomem;
	buf_free(&ep);
	s->ops = &s3_ops;
	s->ctx = s3;
	s->max_key_len = S3_MAX_KEY_LEN;
	s->part_size_min = S3_PART_SIZE_MIN;
	s->max_parts = S3_MAX_PARTS;
	return s;

out_nomem:
	*why = strdup("out of memory");
out_free:
	buf_free(&ep);
	s3_free(s, s3);
	return NULL;
}
