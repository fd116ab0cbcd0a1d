/*
 * The Azure Blob store: objects are block blobs of one container, and each
 * store operation is one or a few Blob service REST calls, sent through the
 * HTTP layer (which retries) and authorized in one of four ways fixed at
 * creation: Shared Key (an Authorization header signed on every attempt),
 * a SAS token appended to every URL, a Microsoft Entra ID bearer token
 * (azure_token.h: the current one is taken on every attempt, and a request
 * whose token the service refused is sent once more with a new one), or
 * nothing (a public container). This file is the one place where Azure
 * answers become errno values (az_error()).
 *
 * Blob names are percent-encoded once, with '/' kept, and the Shared Key
 * signature covers the path exactly as sent. POSIX attributes travel as
 * x-ms-meta-{mode,uid,gid,mtime}, with the names and values the S3 backend
 * gives x-amz-meta-*, so one format serves both stores.
 *
 * A multipart upload is a block list: nothing is sent at begin, part N is
 * Put Block with an id made of the upload's random nonce and N (so that
 * two uploads of one blob never take each other's blocks), and completion
 * commits ids 1..n with Put Block List. Uncommitted blocks need no abort:
 * the service drops them at the blob's next commit, or after a week.
 */
#include "azure.h"

#include <errno.h>
#include <inttypes.h>
#include <openssl/crypto.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#include "azure_auth.h"
#include "azure_xml.h"
#include "log.h"
#include "store_call.h"
#include "store_meta.h"
#include "uri.h"

#define AZ_MAX_KEY_LEN	 1024 /* characters of a blob name */
#define AZ_MAX_PARTS	 50000
#define AZ_PART_SIZE_MIN (1u << 20)
/* A pending copy is polled from 100 ms up to every 2 s, for 15 minutes. */
#define AZ_COPY_POLL_MS_MIN 100
#define AZ_COPY_POLL_MS_MAX 2000
#define AZ_COPY_WAIT_S	    900

struct azure {
	struct http *http;
	char *origin;	 /* "scheme://host[:port]" requests go to */
	char *base;	 /* encoded "[/path]/container": every request path's start */
	char *where;	 /* "container 'c' at origin[/path]", for messages */
	char *account;	 /* NULL if not known (anonymous or SAS only) */
	char *container; /* plain */
	char *key;	 /* base64 account key, or NULL; cleansed on destroy */
	char *sas;	 /* token without '?', or NULL */
	/* Entra ID bearer tokens, or NULL. */
	struct refresh *token;
};

struct store_upload {
	char *key;
	struct store_meta meta;
	bool has_meta;
	uint32_t nonce;
	pthread_mutex_t lock;
	bool *sent;	     /* index part_no - 1; protected by lock */
	unsigned int n_sent; /* protected by lock */
};

/* One request and the Content-Length Shared Key signs. */
struct az_call {
	struct store_call c; /* first: the callbacks get &c */
	struct azure *az;
	bool has_body;
	char length[24]; /* Content-Length as curl sends it */
};

static const struct store_call_ops az_call_ops;

static struct azure *az_of(struct store *s)
{
	return s->ctx;
}

/* A call on the container (key NULL) or one of its blobs. */
static int az_call_init(struct az_call *call, struct azure *az, const char *method, const char *key)
{
	const struct store_target to = {
		.ops = &az_call_ops,
		.http = az->http,
		.origin = az->origin,
		.base = az->base,
		.url_secret = az->sas,
		.creds = az->token,
	};

	memset(call, 0, sizeof(*call));
	call->az = az;
	return store_call_init(&call->c, &to, method, key);
}

static void az_call_free(struct az_call *call)
{
	store_call_free(&call->c);
}

/* A header to send (and sign); name and value must outlive the call. */
static int az_call_add(struct az_call *call, const char *name, const char *value)
{
	return store_call_add(&call->c, name, value);
}

static int az_call_query(struct az_call *call, const char *name, const char *value)
{
	return store_call_query(&call->c, name, value);
}

static void az_call_body(struct az_call *call, struct http_request *req, uint64_t len)
{
	call->has_body = true;
	snprintf(call->length, sizeof(call->length), "%" PRIu64, len);
	req->has_body = true;
	req->body_len = len;
}

/* "Authorization: Bearer <token>", the current token; our copy is zeroed
 * once curl has its own. */
static int az_bearer(struct az_call *call, struct curl_slist **headers)
{
	struct curl_slist *n;
	struct buf line;
	int rc;

	buf_init(&line, AZURE_TOKEN_MAX_LEN + 64);
	rc = buf_puts(&line, "Authorization: Bearer ");
	if (!rc)
		rc = refresh_get(call->az->token, &line, &call->c.creds_gen);
	if (!rc) {
		n = curl_slist_append(*headers, line.data);
		if (n)
			*headers = n;
		else
			rc = -ENOMEM;
	}
	if (line.data)
		OPENSSL_cleanse(line.data, line.len);
	buf_free(&line);
	return rc;
}

/* store_call_ops.build_headers: Shared Key, a bearer token or nothing. */
static int az_build_headers(void *ctx, struct curl_slist **headers)
{
	struct az_call *call = ctx;
	const struct store_call *c = &call->c;
	struct azure *az = call->az;
	struct azure_header signed_h[STORE_CALL_MAX_HEADERS + 4];
	struct azure_request req;
	struct buf auth;
	char date[30];
	size_t n = 0, i;
	int rc = 0;

	azure_format_rfc1123(time(NULL), date);
	for (i = 0; i < c->n_extra; i++)
		signed_h[n++] = (struct azure_header){c->extra[i].name, c->extra[i].value};
	if (c->range[0])
		signed_h[n++] = (struct azure_header){"x-ms-range", c->range};
	signed_h[n++] = (struct azure_header){"x-ms-date", date};
	signed_h[n++] = (struct azure_header){"x-ms-version", AZURE_API_VERSION};
	for (i = 0; i < n && !rc; i++)
		rc = http_add_header(headers, signed_h[i].name, signed_h[i].value);
	if (!rc && az->token)
		return az_bearer(call, headers);
	if (rc || !az->key)
		return rc;

	/* curl sends the length itself; it is signed all the same. */
	if (call->has_body)
		signed_h[n++] = (struct azure_header){"Content-Length", call->length};
	req = (struct azure_request){
		.method = c->method,
		.path = c->path.data,
		.query = c->query.data,
		.headers = signed_h,
		.n_headers = n,
	};
	buf_init(&auth, 4096);
	rc = azure_sharedkey_authorization(&req, az->account, az->key, &auth);
	if (!rc)
		rc = http_add_header(headers, "Authorization", auth.data);
	OPENSSL_cleanse(auth.data, auth.len);
	buf_free(&auth);
	return rc;
}

/*
 * store_call_ops.creds_refused: whether the service refused the bearer
 * token itself: Azure answers 401 (InvalidAuthenticationInfo, with a
 * WWW-Authenticate challenge) to an expired or revoked token, azurite 403
 * AuthenticationFailed ("Lifetime validation failed. The token is expired.").
 */
static bool az_token_refused(const struct store_call *call, const struct http_response *resp)
{
	char code[64];

	(void)call;
	if (resp->status == 401)
		return true;
	return resp->status == 403 &&
	       http_response_header(resp, "x-ms-error-code", code, sizeof(code)) &&
	       !strcmp(code, "AuthenticationFailed");
}

/* The error code of a failed answer: x-ms-error-code, which every answer
 * carries (a HEAD has no body), else the body's <Code>. Also the message
 * when there is a body. Both malloc'd or NULL. */
static void az_error_code(const struct http_response *resp, char **code, char **message)
{
	char hdr[128];

	*code = NULL;
	*message = NULL;
	if (resp->body.len)
		azure_xml_parse_error(resp->body.data, resp->body.len, code, message, NULL);
	if (http_response_header(resp, "x-ms-error-code", hdr, sizeof(hdr)) && hdr[0]) {
		free(*code);
		*code = strdup(hdr);
	}
}

/* The one map from an Azure answer to errno; logs the cause with the
 * request id, quietly for a plain "not found". */
static int az_error(const char *op, const char *key, const struct http_response *resp)
{
	static const struct store_errno codes[] = {
		{"BlobNotFound", -ENOENT},
		{"ContainerNotFound", -ENOENT},
		{"ResourceNotFound", -ENOENT},
		{"CannotVerifyCopySource", -ENOENT},
		{"AuthenticationFailed", -EACCES},
		{"AuthorizationFailure", -EACCES},
		{"AuthorizationPermissionMismatch", -EACCES},
		{"AuthorizationProtocolMismatch", -EACCES},
		{"AuthorizationResourceTypeMismatch", -EACCES},
		{"AuthorizationServiceMismatch", -EACCES},
		{"AuthorizationSourceIPMismatch", -EACCES},
		{"InsufficientAccountPermissions", -EACCES},
		{"AccountIsDisabled", -EACCES},
		{"ConditionNotMet", -ESTALE},
		{"TargetConditionNotMet", -ESTALE},
		{"SourceConditionNotMet", -ESTALE},
		{"LeaseIdMissing", -EBUSY},
		{"LeaseAlreadyPresent", -EBUSY},
		{"SnapshotsPresent", -EBUSY},
		{"ContainerBeingDeleted", -ENOENT},
		{"InvalidRange", -ERANGE},
		{"RequestBodyTooLarge", -EFBIG},
		{"BlockCountExceedsLimit", -EFBIG},
		{"BlockListTooLong", -EFBIG},
		{"InvalidBlockList", -EIO},
		{"ServerBusy", -EIO},
		{"OperationTimedOut", -EIO},
		{"InternalError", -EIO},
	};
	char *code, *message;
	char id[128] = "";
	int err;

	az_error_code(resp, &code, &message);
	http_response_header(resp, "x-ms-request-id", id, sizeof(id));
	err = store_error("Azure", codes, sizeof(codes) / sizeof(codes[0]), op, key, resp, code,
			  message, id[0] ? id : NULL);
	free(code);
	free(message);
	return err;
}

static const struct store_call_ops az_call_ops = {
	.name = "Azure",
	.build_headers = az_build_headers,
	.creds_refused = az_token_refused,
	.refused_retry = "the token was refused: once more with a new one",
	.error = az_error,
};

/* Metadata headers as s3fs writes them (x-ms-meta-*). */
static int az_add_meta(struct az_call *call, const struct store_meta *m)
{
	return store_call_add_meta(&call->c, m, "x-ms-meta-");
}

static bool az_meta_empty(const struct store_meta *m)
{
	return !m->has_mode && !m->has_uid && !m->has_gid && !m->has_mtime;
}

/* Get Blob Properties: the answer is left in resp (to be freed) on 0. */
static int az_properties(struct azure *az, const char *key, struct http_response *resp)
{
	struct http_request req = {.retries = -1};
	struct az_call call;
	int rc;

	rc = az_call_init(&call, az, "HEAD", key);
	if (!rc)
		rc = store_call_send(&call.c, &req, resp);
	if (!rc && !store_answer_ok(resp)) {
		rc = az_error("HEAD", key, resp);
		http_response_free(resp);
	}
	az_call_free(&call);
	return rc;
}

/* A blob's attributes from the headers of Get Blob Properties or Get Blob;
 * a 206's size is the total after the '/' of Content-Range. */
static void az_obj_from_headers(const struct http_response *resp, struct store_obj *out)
{
	char v[128];

	memset(out, 0, sizeof(*out));
	out->size = store_answer_size(resp);
	if (http_response_header(resp, "Last-Modified", v, sizeof(v)) &&
	    azure_parse_rfc1123(v, &out->last_modified))
		out->last_modified = curl_getdate(v, NULL);
	if (out->last_modified < 0)
		out->last_modified = 0;
	http_response_header(resp, "ETag", out->etag, sizeof(out->etag));
	meta_from_headers(resp, "x-ms-meta-", &out->meta);
}

static int az_head(struct store *s, const char *key, struct store_obj *out)
{
	struct http_response resp;
	int rc;

	rc = az_properties(az_of(s), key, &resp);
	if (rc)
		return rc;
	az_obj_from_headers(&resp, out);
	http_response_free(&resp);
	return 0;
}

/* Get Blob of the first len bytes: the properties and metadata come with
 * them, so a lookup followed by a read of a small file is one request. */
static int az_head_and_read(struct store *s, const char *key, void *dst, size_t len, size_t *got,
			    struct store_obj *out)
{
	struct http_response resp;
	struct az_call call;
	int rc;

	*got = 0;
	rc = az_call_init(&call, az_of(s), "GET", key);
	if (!rc)
		rc = store_call_read_first(&call.c, key, dst, len, got, &resp);
	az_call_free(&call);
	if (rc > 0)
		return az_head(s, key, out);
	if (rc)
		return rc;
	az_obj_from_headers(&resp, out);
	if (*got > out->size)
		*got = (size_t)out->size;
	http_response_free(&resp);
	return 0;
}

static int az_get(struct store *s, const char *key, uint64_t off, const struct iovec *dst, int cnt,
		  size_t *got, const char *if_match)
{
	struct az_call call;
	int rc;

	*got = 0;
	rc = az_call_init(&call, az_of(s), "GET", key);
	if (!rc)
		rc = store_call_get(&call.c, key, off, dst, cnt, got, if_match, "If-Match");
	az_call_free(&call);
	return rc;
}

static int az_put(struct store *s, const char *key, const struct store_meta *meta,
		  store_reader_fn read, void *ctx, uint64_t len)
{
	struct http_request req = {.retries = -1, .read_body = read, .body_ctx = ctx};
	struct az_call call;
	int rc;

	rc = az_call_init(&call, az_of(s), "PUT", key);
	if (!rc)
		rc = az_call_add(&call, "x-ms-blob-type", "BlockBlob");
	if (!rc)
		rc = az_add_meta(&call, meta);
	if (!rc) {
		az_call_body(&call, &req, len);
		rc = store_call_run(&call.c, &req, "PUT", key);
	}
	az_call_free(&call);
	return rc;
}

/* Set Blob Metadata: replaces all of key's metadata with meta (none at
 * all when meta holds no field). */
static int az_set_metadata(struct azure *az, const char *key, const struct store_meta *meta)
{
	struct http_request req = {.retries = -1, .read_body = http_mem_read};
	struct http_mem empty = {"", 0};
	struct az_call call;
	int rc;

	req.body_ctx = &empty;
	rc = az_call_init(&call, az, "PUT", key);
	if (!rc)
		rc = az_call_query(&call, "comp", "metadata");
	if (!rc)
		rc = az_add_meta(&call, meta);
	if (!rc) {
		az_call_body(&call, &req, 0);
		rc = store_call_run(&call.c, &req, "SET-METADATA", key);
	}
	az_call_free(&call);
	return rc;
}

static void az_sleep_ms(unsigned int ms)
{
	struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};

	nanosleep(&ts, NULL);
}

/* Best effort: stop a copy we gave up waiting for. */
static void az_copy_abort(struct azure *az, const char *dst, const char *copy_id)
{
	struct http_request req = {.retries = 0, .read_body = http_mem_read};
	struct http_mem empty = {"", 0};
	struct az_call call;

	req.body_ctx = &empty;
	if (!az_call_init(&call, az, "PUT", dst) && !az_call_query(&call, "comp", "copy") &&
	    !az_call_query(&call, "copyid", copy_id) &&
	    !az_call_add(&call, "x-ms-copy-action", "abort")) {
		az_call_body(&call, &req, 0);
		store_call_run(&call.c, &req, "ABORT-COPY", dst);
	}
	az_call_free(&call);
}

/*
 * Wait for a copy the service runs in the background (x-ms-copy-status
 * "pending": other accounts, large blobs; within one account a block blob
 * is usually copied at once) by polling the destination's properties.
 */
static int az_copy_wait(struct azure *az, const char *dst, const char *copy_id)
{
	unsigned int ms = AZ_COPY_POLL_MS_MIN;
	time_t deadline = time(NULL) + AZ_COPY_WAIT_S;
	char status[32], id[128], desc[256];
	struct http_response resp;
	int rc;

	for (;;) {
		az_sleep_ms(ms);
		if (ms < AZ_COPY_POLL_MS_MAX)
			ms *= 2;
		rc = az_properties(az, dst, &resp);
		if (rc)
			return rc;
		if (!http_response_header(&resp, "x-ms-copy-status", status, sizeof(status)))
			status[0] = '\0';
		if (!http_response_header(&resp, "x-ms-copy-id", id, sizeof(id)))
			id[0] = '\0';
		if (!http_response_header(&resp, "x-ms-copy-status-description", desc,
					  sizeof(desc)))
			desc[0] = '\0';
		http_response_free(&resp);
		if (strcmp(id, copy_id)) {
			/* Another copy or write replaced ours: it is not ours to
			 * report on, and ours did not land. */
			log_warn("Azure COPY '%s': overtaken by another write", dst);
			return -ESTALE;
		}
		if (!strcmp(status, "success"))
			return 0;
		if (strcmp(status, "pending")) {
			log_warn("Azure COPY '%s': %s%s%s", dst, status, desc[0] ? ": " : "", desc);
			return -EIO;
		}
		if (time(NULL) > deadline) {
			log_warn("Azure COPY '%s': still pending after %d s, aborted", dst,
				 AZ_COPY_WAIT_S);
			az_copy_abort(az, dst, copy_id);
			return -ETIMEDOUT;
		}
	}
}

static int az_copy(struct store *s, const char *src, const char *dst, const struct store_meta *meta)
{
	struct azure *az = az_of(s);
	struct http_request req = {.retries = -1, .read_body = http_mem_read};
	struct http_mem empty = {"", 0};
	struct http_response resp;
	struct az_call call;
	struct buf source;
	char status[32] = "", copy_id[128] = "";
	int rc;

	/* Onto itself: only the metadata can change, and there is a call for
	 * that; without meta there is nothing to do but check it exists. */
	if (!strcmp(src, dst)) {
		struct store_obj o;

		return meta ? az_set_metadata(az, dst, meta) : az_head(s, src, &o);
	}
	req.body_ctx = &empty;
	buf_init(&source, 65536);
	rc = az_call_init(&call, az, "PUT", dst);
	/* The source is a URL; with a SAS it needs the SAS too. */
	if (!rc)
		rc = buf_printf(&source, "%s%s/", az->origin, az->base);
	if (!rc)
		rc = uri_encode(&source, src, strlen(src), true);
	if (!rc && az->sas)
		rc = buf_printf(&source, "?%s", az->sas);
	if (!rc)
		rc = az_call_add(&call, "x-ms-copy-source", source.data);
	/* With any x-ms-meta-* the copy takes those instead of src's. */
	if (!rc && meta)
		rc = az_add_meta(&call, meta);
	if (rc)
		goto out;
	az_call_body(&call, &req, 0);
	rc = store_call_send(&call.c, &req, &resp);
	if (rc)
		goto out;
	if (!store_answer_ok(&resp)) {
		rc = az_error("COPY", src, &resp);
	} else {
		http_response_header(&resp, "x-ms-copy-status", status, sizeof(status));
		http_response_header(&resp, "x-ms-copy-id", copy_id, sizeof(copy_id));
	}
	http_response_free(&resp);
	if (!rc && !strcmp(status, "pending"))
		rc = az_copy_wait(az, dst, copy_id);
	else if (!rc && strcmp(status, "success"))
		log_debug("Azure COPY '%s': copy status '%s'", dst, status);
	/* No x-ms-meta-* at all means "keep src's": clear them after. */
	if (!rc && meta && az_meta_empty(meta))
		rc = az_set_metadata(az, dst, meta);
out:
	if (source.data)
		OPENSSL_cleanse(source.data, source.len);
	buf_free(&source);
	az_call_free(&call);
	return rc;
}

static int az_remove(struct store *s, const char *key)
{
	struct az_call call;
	int rc;

	rc = az_call_init(&call, az_of(s), "DELETE", key);
	if (!rc)
		rc = store_call_delete(&call.c, key);
	az_call_free(&call);
	return rc;
}

/* List Blobs, max 0 for the service's default (5000). */
static int az_list_call(struct az_call *call, struct azure *az, const char *prefix,
			const char *delim, const char *marker, unsigned int max)
{
	char num[16];
	int rc;

	rc = az_call_init(call, az, "GET", NULL);
	if (!rc)
		rc = az_call_query(call, "restype", "container");
	if (!rc)
		rc = az_call_query(call, "comp", "list");
	if (!rc && prefix && *prefix)
		rc = az_call_query(call, "prefix", prefix);
	if (!rc && delim && *delim)
		rc = az_call_query(call, "delimiter", delim);
	/* Metadata, for blobfuse's hdi_isfolder directory markers. */
	if (!rc)
		rc = az_call_query(call, "include", "metadata");
	if (!rc && marker && *marker)
		rc = az_call_query(call, "marker", marker);
	if (!rc && max) {
		snprintf(num, sizeof(num), "%u", max > 5000 ? 5000 : max);
		rc = az_call_query(call, "maxresults", num);
	}
	return rc;
}

static int az_list(struct store *s, const char *prefix, const char *delim, const char *token,
		   unsigned int max_keys, struct store_list *out)
{
	struct az_call call;
	int rc;

	memset(out, 0, sizeof(*out));
	rc = az_list_call(&call, az_of(s), prefix, delim, token, max_keys);
	if (!rc)
		rc = store_call_list(&call.c, prefix, azure_xml_parse_list, out);
	az_call_free(&call);
	return rc;
}

static void az_upload_free(struct store_upload *u)
{
	free(u->sent);
	free(u->key);
	pthread_mutex_destroy(&u->lock);
	free(u);
}

static int az_upload_begin(struct store *s, const char *key, const struct store_meta *meta,
			   struct store_upload **out)
{
	struct store_upload *u;

	(void)s;
	u = calloc(1, sizeof(*u));
	if (!u)
		return -ENOMEM;
	u->key = strdup(key);
	if (!u->key) {
		free(u);
		return -ENOMEM;
	}
	if (meta) {
		u->meta = *meta;
		u->has_meta = true;
	}
	/* Not secret, only distinct: a clock fallback does if getrandom fails. */
	if (getrandom(&u->nonce, sizeof(u->nonce), GRND_NONBLOCK) != sizeof(u->nonce)) {
		struct timespec ts;

		clock_gettime(CLOCK_REALTIME, &ts);
		u->nonce = (uint32_t)ts.tv_nsec ^ (uint32_t)ts.tv_sec ^ (uint32_t)(uintptr_t)u;
	}
	pthread_mutex_init(&u->lock, NULL);
	*out = u;
	return 0;
}

/* Note part_no as sent. */
static int az_upload_mark(struct store_upload *u, unsigned int part_no)
{
	int rc = 0;

	pthread_mutex_lock(&u->lock);
	if (part_no > u->n_sent) {
		bool *grown = realloc(u->sent, part_no * sizeof(*grown));

		if (!grown) {
			rc = -ENOMEM;
		} else {
			memset(grown + u->n_sent, 0, (part_no - u->n_sent) * sizeof(*grown));
			u->sent = grown;
			u->n_sent = part_no;
		}
	}
	if (!rc)
		u->sent[part_no - 1] = true;
	pthread_mutex_unlock(&u->lock);
	return rc;
}

static int az_upload_part(struct store *s, struct store_upload *u, unsigned int part_no,
			  store_reader_fn read, void *ctx, size_t len)
{
	struct http_request req = {.retries = -1, .read_body = read, .body_ctx = ctx};
	struct az_call call;
	char id[AZURE_BLOCK_ID_LEN + 1];
	int rc;

	if (part_no == 0 || part_no > AZ_MAX_PARTS)
		return -EFBIG;
	azure_block_id(u->nonce, part_no, id);
	rc = az_call_init(&call, az_of(s), "PUT", u->key);
	if (!rc)
		rc = az_call_query(&call, "comp", "block");
	if (!rc)
		rc = az_call_query(&call, "blockid", id);
	if (!rc) {
		az_call_body(&call, &req, len);
		rc = store_call_run(&call.c, &req, "PUT-BLOCK", u->key);
	}
	if (!rc)
		rc = az_upload_mark(u, part_no);
	az_call_free(&call);
	return rc;
}

static int az_upload_complete(struct store *s, struct store_upload *u, unsigned int n_parts)
{
	struct http_request req = {.retries = -1, .read_body = http_mem_read};
	struct http_mem mem;
	struct az_call call;
	struct buf body;
	int rc = 0;

	/* Commit only what this upload sent: a part that failed or was never
	 * sent would make the service answer InvalidBlockList, less clearly. */
	pthread_mutex_lock(&u->lock);
	for (unsigned int i = 0; i < n_parts && !rc; i++) {
		if (i >= u->n_sent || !u->sent[i]) {
			log_err("Azure block list '%s': part %u missing at completion", u->key,
				i + 1);
			rc = -EIO;
		}
	}
	pthread_mutex_unlock(&u->lock);
	if (rc) {
		az_upload_free(u);
		return rc;
	}
	buf_init(&body, 4u << 20);
	rc = azure_xml_build_block_list(&body, u->nonce, n_parts);
	if (rc)
		goto out_body;
	rc = az_call_init(&call, az_of(s), "PUT", u->key);
	if (!rc)
		rc = az_call_query(&call, "comp", "blocklist");
	if (!rc)
		rc = az_add_meta(&call, u->has_meta ? &u->meta : NULL);
	if (rc)
		goto out;
	mem = (struct http_mem){body.data, body.len};
	req.body_ctx = &mem;
	az_call_body(&call, &req, body.len);
	rc = store_call_run(&call.c, &req, "PUT-BLOCK-LIST", u->key);
out:
	az_call_free(&call);
out_body:
	buf_free(&body);
	az_upload_free(u);
	return rc;
}

static void az_upload_abort(struct store *s, struct store_upload *u)
{
	(void)s;
	/* Nothing to send: uncommitted blocks are dropped by the service. */
	az_upload_free(u);
}

/* The message for a failed probe answer. */
static void az_probe_message(struct azure *az, const struct http_response *resp, int err,
			     struct buf *msg)
{
	char *code, *message;

	az_error_code(resp, &code, &message);
	/*
	 * A bad signature is AuthenticationFailed on Azure; azurite says
	 * AuthorizationFailure, with Azure's AuthenticationFailed message. A
	 * refused bearer token is InvalidAuthenticationInfo on Azure (401).
	 */
	if (code && (!strcmp(code, "AuthenticationFailed") ||
		     (az->token && !strcmp(code, "InvalidAuthenticationInfo")) ||
		     (!strcmp(code, "AuthorizationFailure") && message &&
		      !strncmp(message, "Server failed to authenticate", 29)))) {
		if (az->token)
			buf_printf(msg,
				   "access to %s denied: the Entra ID token by %s was refused "
				   "(%s%s%s)",
				   az->where, refresh_what(az->token), code, message ? ": " : "",
				   message ? message : "");
		else if (az->key)
			buf_printf(msg,
				   "access to %s denied: the account key does not match account "
				   "'%s' (%s)",
				   az->where, az->account, code);
		else if (az->sas)
			buf_printf(msg, "access to %s denied: the SAS token is not valid (%s%s%s)",
				   az->where, code, message ? ": " : "", message ? message : "");
		else
			buf_printf(msg, "access to %s denied: it needs credentials (%s)", az->where,
				   code);
	} else if (code && !strcmp(code, "ContainerNotFound")) {
		buf_printf(msg, "%s does not exist", az->where);
	} else if (code && !strcmp(code, "ResourceNotFound") && !az->key && !az->sas &&
		   !az->token) {
		/* What anonymous access to a private container gets. */
		buf_printf(msg, "%s does not exist or is not public (no key or SAS given)",
			   az->where);
	} else if (err == -EACCES) {
		buf_printf(msg, "access to %s denied (%s%s%s)%s", az->where,
			   code ? code : "HTTP 403", message ? ": " : "", message ? message : "",
			   az->key || az->sas ? ""
			   : az->token	      ? "; the identity needs a role such as Storage Blob "
						"Data Contributor"
					      : "; no key or SAS given");
	} else if (err == -ENOENT) {
		buf_printf(msg, "%s does not exist", az->where);
	} else {
		buf_printf(msg, "%s answered HTTP %ld%s%s", az->where, resp->status,
			   code ? " " : "", code ? code : "");
	}
	free(code);
	free(message);
}

static int az_probe(struct store *s, const char *prefix, char **why)
{
	struct azure *az = az_of(s);
	struct http_request req = {.retries = 1};
	struct http_response resp;
	struct az_call call;
	struct buf msg;
	int rc;

	if (az->token) {
		rc = refresh_start(az->token, why);
		if (rc) {
			if (!*why)
				*why = strdup("cannot get a Microsoft Entra ID token");
			return rc;
		}
	}
	buf_init(&msg, 4096);
	rc = az_list_call(&call, az, prefix, NULL, NULL, 1);
	if (rc)
		goto out;
	rc = store_call_send(&call.c, &req, &resp);
	if (rc) {
		buf_printf(&msg, "cannot reach %s: %s", az->origin,
			   resp.error[0] ? resp.error : strerror(-rc));
		goto out;
	}
	if (!store_answer_ok(&resp)) {
		rc = az_error("LIST", prefix, &resp);
		az_probe_message(az, &resp, rc, &msg);
	} else {
		struct store_list l;

		/* A 200 that is not a listing: probably not a Blob endpoint. */
		rc = azure_xml_parse_list(resp.body.data ? resp.body.data : "", resp.body.len, &l);
		if (rc)
			buf_printf(&msg, "%s did not answer like an Azure Blob service",
				   az->origin);
		else
			store_list_free(&l);
	}
	http_response_free(&resp);
out:
	az_call_free(&call);
	if (rc) {
		if (!msg.len)
			buf_printf(&msg, "cannot use %s: %s", az->where, strerror(-rc));
		*why = buf_steal(&msg);
	}
	buf_free(&msg);
	return rc;
}

static void az_free(struct store *s, struct azure *az)
{
	if (az) {
		refresh_destroy(az->token);
		http_destroy(az->http);
		if (az->key)
			OPENSSL_cleanse(az->key, strlen(az->key));
		if (az->sas)
			OPENSSL_cleanse(az->sas, strlen(az->sas));
		free(az->key);
		free(az->sas);
		free(az->origin);
		free(az->base);
		free(az->where);
		free(az->account);
		free(az->container);
		free(az);
	}
	free(s);
}

static void az_destroy(struct store *s)
{
	az_free(s, az_of(s));
}

/* A service SAS signed with the account key: what a URL for anyone can
 * carry. A SAS mount's token and Entra ID tokens cannot make one (a user
 * delegation SAS would need the delegation key: not done). */
static int az_presign(struct store *s, const char *key, bool put, unsigned int expires_s,
		      char **url, char **why)
{
	struct azure *az = az_of(s);
	struct azure_sas sas = {.account = az->account,
				.container = az->container,
				.blob = key,
				.permissions = put ? "cw" : "r",
				.expiry = time(NULL) + expires_s};
	struct az_call call;
	struct buf u;
	int rc;

	if (!az->key || !az->account) {
		*why = strdup("only a mount with the account key can sign URLs");
		return -ENOTSUP;
	}
	buf_init(&u, 65536);
	rc = az_call_init(&call, az, put ? "PUT" : "GET", key);
	if (!rc)
		rc = buf_printf(&u, "%s%s?", az->origin, call.c.path.data)
			     ?: azure_sas_token(&sas, az->key, &u);
	if (!rc)
		*url = buf_steal(&u);
	buf_free(&u);
	az_call_free(&call);
	return rc;
}

static const struct store_ops azure_ops = {
	.name = "azure",
	.head = az_head,
	.head_and_read = az_head_and_read,
	.get = az_get,
	.put = az_put,
	.copy = az_copy,
	.remove = az_remove,
	.remove_many = NULL, /* Blob Batch is not worth it: callers loop */
	.list = az_list,
	.upload_begin = az_upload_begin,
	.upload_part = az_upload_part,
	.upload_complete = az_upload_complete,
	.upload_abort = az_upload_abort,
	.probe = az_probe,
	.destroy = az_destroy,
	.presign = az_presign,
};

static char *az_why(const char *fmt, const char *arg)
{
	struct buf b;

	buf_init(&b, 4096);
	if (buf_printf(&b, fmt, arg)) {
		buf_free(&b);
		return strdup("out of memory");
	}
	return buf_steal(&b);
}

/* Split "scheme://host[:port][/path]" into origin and base (path, then
 * the container), and name the container for messages. */
static int az_parse_endpoint(struct azure *az, const char *endpoint, char **why)
{
	const char *hp, *slash;
	struct buf origin, base, where;
	size_t scheme, plen;
	int rc;

	hp = strstr(endpoint, "://");
	scheme = hp ? (size_t)(hp - endpoint) : 0;
	if (!(scheme == 4 && !strncmp(endpoint, "http", 4)) &&
	    !(scheme == 5 && !strncmp(endpoint, "https", 5))) {
		*why = az_why("endpoint must start with http:// or https://: '%s'", endpoint);
		return -EINVAL;
	}
	hp += 3;
	slash = strchr(hp, '/');
	if (!*hp || slash == hp || strchr(endpoint, '?') || strchr(endpoint, '#')) {
		*why = az_why("endpoint must be scheme://host[:port][/path]: '%s'", endpoint);
		return -EINVAL;
	}
	plen = slash ? strlen(slash) : 0;
	while (plen && slash[plen - 1] == '/')
		plen--;
	buf_init(&origin, 4096);
	buf_init(&base, 4096);
	buf_init(&where, 8192);
	rc = buf_append(&origin, endpoint, slash ? (size_t)(slash - endpoint) : strlen(endpoint));
	if (!rc && plen)
		rc = buf_append(&base, slash, plen);
	if (!rc)
		rc = buf_puts(&base, "/");
	if (!rc)
		rc = uri_encode(&base, az->container, strlen(az->container), false);
	if (!rc)
		rc = buf_printf(&where, "container '%s' at %s", az->container, origin.data);
	if (!rc && plen)
		rc = buf_append(&where, slash, plen);
	if (rc) {
		buf_free(&origin);
		buf_free(&base);
		buf_free(&where);
		return rc;
	}
	az->origin = buf_steal(&origin);
	az->base = buf_steal(&base);
	az->where = buf_steal(&where);
	return 0;
}

/* The rules of container names, so that a typo fails here, not as a 400. */
static bool az_container_ok(const char *c)
{
	size_t n = strlen(c);

	if (n < 3 || n > 63 || c[0] == '-' || c[n - 1] == '-')
		return false;
	for (size_t i = 0; i < n; i++) {
		if (!((c[i] >= 'a' && c[i] <= 'z') || (c[i] >= '0' && c[i] <= '9') || c[i] == '-'))
			return false;
		if (c[i] == '-' && c[i + 1] == '-')
			return false;
	}
	return true;
}

/* Sign a dummy request, so that a key that is not base64 fails here. */
static bool az_key_ok(const char *account, const char *key)
{
	struct azure_request r = {.method = "GET", .path = "/"};
	struct buf out;
	int rc;

	buf_init(&out, 4096);
	rc = azure_sharedkey_authorization(&r, account, key, &out);
	buf_free(&out);
	return rc == 0;
}

struct store *azure_store_create(const struct azure_conf *conf, char **why)
{
	struct store *s = calloc(1, sizeof(*s));
	struct azure *az = calloc(1, sizeof(*az));
	const char *sas = conf->sas;
	struct buf ep;
	int rc;

	*why = NULL;
	buf_init(&ep, 4096);
	if (!s || !az)
		goto out_nomem;
	if (!conf->container || !az_container_ok(conf->container)) {
		*why = az_why("'%s' is not a valid container name (3-63 of a-z 0-9 and single "
			      "'-' inside)",
			      conf->container ? conf->container : "");
		goto out_free;
	}
	if (conf->key && sas) {
		*why = strdup("give an account key or a SAS token, not both");
		goto out_free;
	}
	if ((conf->key || sas) && conf->entra && conf->entra->kind != AZURE_TOKEN_NONE) {
		*why = strdup("give an account key, a SAS token or Entra ID credentials, not two");
		goto out_free;
	}
	if ((conf->key || !conf->endpoint) && (!conf->account || !*conf->account)) {
		*why = strdup("the Azure storage account name is missing");
		goto out_free;
	}
	if (conf->key && !az_key_ok(conf->account, conf->key)) {
		*why = strdup("the Azure account key is not valid base64");
		goto out_free;
	}
	if (sas && *sas == '?')
		sas++;
	az->container = strdup(conf->container);
	az->account = conf->account ? strdup(conf->account) : NULL;
	az->key = conf->key ? strdup(conf->key) : NULL;
	az->sas = sas && *sas ? strdup(sas) : NULL;
	if (!az->container || (conf->account && !az->account) || (conf->key && !az->key) ||
	    (sas && *sas && !az->sas))
		goto out_nomem;
	if (conf->endpoint)
		rc = buf_puts(&ep, conf->endpoint);
	else
		rc = buf_printf(&ep, "https://%s.blob.core.windows.net", conf->account);
	if (rc)
		goto out_nomem;
	rc = az_parse_endpoint(az, ep.data, why);
	if (rc == -EINVAL)
		goto out_free;
	if (rc)
		goto out_nomem;
	az->http = http_create(&conf->http);
	if (!az->http)
		goto out_nomem;
	if (conf->entra && conf->entra->kind != AZURE_TOKEN_NONE) {
		az->token = azure_token_create(conf->entra, why);
		if (!az->token)
			goto out_free;
	}
	buf_free(&ep);
	s->ops = &azure_ops;
	s->ctx = az;
	s->max_key_len = AZ_MAX_KEY_LEN;
	s->part_size_min = AZ_PART_SIZE_MIN;
	s->max_parts = AZ_MAX_PARTS;
	s->folder_markers = true;
	return s;

out_nomem:
	*why = strdup("out of memory");
out_free:
	buf_free(&ep);
	az_free(s, az);
	return NULL;
}
