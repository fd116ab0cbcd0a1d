/*
 * AWS Signature Version 4 (header form), as documented for S3: canonical
 * request, string to sign, signing key chain, Authorization header.
 */
#include "sigv4.h"

#include <errno.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/sha.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <stdio.h>
#include <strings.h>

#include "uri.h"

static void hex(const unsigned char *in, size_t n, char *out)
{
	static const char digits[] = "0123456789abcdef";

	for (size_t i = 0; i < n; i++) {
		out[2 * i] = digits[in[i] >> 4];
		out[2 * i + 1] = digits[in[i] & 15];
	}
	out[2 * n] = '\0';
}

void sigv4_amz_date(time_t t, char out[17])
{
	struct tm tm;

	/* On failure (year past 9999, say) leave "" so signing rejects it. */
	if (!gmtime_r(&t, &tm) || strftime(out, 17, "%Y%m%dT%H%M%SZ", &tm) != 16)
		out[0] = '\0';
}

void sigv4_sha256_hex(const void *data, size_t len, char out[65])
{
	unsigned char md[SHA256_DIGEST_LENGTH];

	SHA256(data, len, md);
	hex(md, sizeof(md), out);
}

static int hmac(const void *key, size_t klen, const void *msg, size_t mlen,
		unsigned char out[SHA256_DIGEST_LENGTH])
{
	unsigned int n = SHA256_DIGEST_LENGTH;

	return HMAC(EVP_sha256(), key, (int)klen, msg, mlen, out, &n) ? 0 : -EIO;
}

static bool is_blank(char c)
{
	return c == ' ' || c == '\t';
}

/* Header value as SigV4 wants it: trimmed, inner runs of blanks folded. */
static int append_trimmed(struct buf *out, const char *v)
{
	bool blank = false;
	int rc = 0;

	while (is_blank(*v))
		v++;
	for (; *v && !rc; v++) {
		if (is_blank(*v)) {
			blank = true;
			continue;
		}
		if (blank)
			rc = buf_puts(out, " ");
		blank = false;
		if (!rc)
			rc = buf_append(out, v, 1);
	}
	return rc;
}

static int append_lower(struct buf *out, const char *s)
{
	int rc = 0;

	for (; *s && !rc; s++) {
		char c = (*s >= 'A' && *s <= 'Z') ? *s - 'A' + 'a' : *s;

		rc = buf_append(out, &c, 1);
	}
	return rc;
}

static int cmp_header(const void *a, const void *b)
{
	const struct sigv4_header *x = *(const struct sigv4_header *const *)a;
	const struct sigv4_header *y = *(const struct sigv4_header *const *)b;

	return strcasecmp(x->name, y->name);
}

struct qpair {
	const char *name;
	size_t nlen;
	const char *value;
	size_t vlen;
};

static int cmp_bytes(const char *a, size_t alen, const char *b, size_t blen)
{
	int c = memcmp(a, b, alen < blen ? alen : blen);

	if (c)
		return c;
	return alen < blen ? -1 : alen > blen;
}

static int cmp_qpair(const void *a, const void *b)
{
	const struct qpair *x = a, *y = b;
	int c = cmp_bytes(x->name, x->nlen, y->name, y->nlen);

	return c ? c : cmp_bytes(x->value, x->vlen, y->value, y->vlen);
}

static int append_canonical_query(struct buf *out, const char *q)
{
	struct qpair *pairs;
	size_t n = 0, cap = 1;
	int rc = 0;

	if (!q || !*q)
		return 0;
	for (const char *p = q; *p; p++)
		cap += *p == '&';
	pairs = calloc(cap, sizeof(*pairs));
	if (!pairs)
		return -ENOMEM;
	for (const char *p = q; *p;) {
		const char *end = strchrnul(p, '&');
		const char *eq = memchr(p, '=', end - p);

		if (end > p) {
			pairs[n].name = p;
			pairs[n].nlen = eq ? (size_t)(eq - p) : (size_t)(end - p);
			pairs[n].value = eq ? eq + 1 : end;
			pairs[n].vlen = eq ? (size_t)(end - eq - 1) : 0;
			n++;
		}
		p = *end ? end + 1 : end;
	}
	qsort(pairs, n, sizeof(*pairs), cmp_qpair);
	for (size_t i = 0; i < n && !rc; i++) {
		if (i)
			rc = buf_puts(out, "&");
		if (!rc)
			rc = buf_append(out, pairs[i].name, pairs[i].nlen);
		if (!rc)
			rc = buf_puts(out, "=");
		if (!rc)
			rc = buf_append(out, pairs[i].value, pairs[i].vlen);
	}
	free(pairs);
	return rc;
}

/* Headers sorted by lower-cased name; caller frees. */
static const struct sigv4_header **sorted_headers(const struct sigv4_request *r)
{
	const struct sigv4_header **h = calloc(r->n_headers ? r->n_headers : 1, sizeof(*h));

	if (!h)
		return NULL;
	for (size_t i = 0; i < r->n_headers; i++)
		h[i] = &r->headers[i];
	qsort(h, r->n_headers, sizeof(*h), cmp_header);
	return h;
}

static int append_signed_headers(struct buf *out, const struct sigv4_header **h, size_t n)
{
	int rc = 0;

	for (size_t i = 0; i < n && !rc; i++) {
		if (i)
			rc = buf_puts(out, ";");
		if (!rc)
			rc = append_lower(out, h[i]->name);
	}
	return rc;
}

static bool request_valid(const struct sigv4_request *r)
{
	if (!r || !r->method || !r->path || !r->payload_hash || !r->region || !r->service ||
	    !r->amz_date || strlen(r->amz_date) != 16 || (!r->headers && r->n_headers))
		return false;
	/* A nameless header would crash the sort; refuse it here instead. */
	for (size_t i = 0; i < r->n_headers; i++)
		if (!r->headers[i].name)
			return false;
	return true;
}

int sigv4_canonical_request(const struct sigv4_request *r, struct buf *out)
{
	const struct sigv4_header **h;
	int rc;

	if (!request_valid(r))
		return -EINVAL;
	h = sorted_headers(r);
	if (!h)
		return -ENOMEM;
	rc = buf_printf(out, "%s\n%s\n", r->method, r->path);
	if (!rc)
		rc = append_canonical_query(out, r->query);
	if (!rc)
		rc = buf_puts(out, "\n");
	for (size_t i = 0; i < r->n_headers && !rc; i++) {
		rc = append_lower(out, h[i]->name);
		if (!rc)
			rc = buf_puts(out, ":");
		if (!rc)
			rc = append_trimmed(out, h[i]->value ? h[i]->value : "");
		if (!rc)
			rc = buf_puts(out, "\n");
	}
	if (!rc)
		rc = buf_puts(out, "\n");
	if (!rc)
		rc = append_signed_headers(out, h, r->n_headers);
	if (!rc)
		rc = buf_printf(out, "\n%s", r->payload_hash);
	free(h);
	return rc;
}

int sigv4_string_to_sign(const struct sigv4_request *r, struct buf *out)
{
	struct buf canon;
	char hash[65];
	int rc;

	if (!request_valid(r))
		return -EINVAL;
	buf_init(&canon, 1 << 20);
	rc = sigv4_canonical_request(r, &canon);
	if (!rc) {
		sigv4_sha256_hex(canon.data, canon.len, hash);
		rc = buf_printf(out, "AWS4-HMAC-SHA256\n%s\n%.8s/%s/%s/aws4_request\n%s",
				r->amz_date, r->amz_date, r->region, r->service, hash);
	}
	buf_free(&canon);
	return rc;
}

/* The hex signature of r by secret_key. */
static int signature_hex(const struct sigv4_request *r, const char *secret_key, char sig_hex[65])
{
	/* Two keys in turn: each HMAC reads one and writes the other, never in place. */
	unsigned char k[2][SHA256_DIGEST_LENGTH], sig[SHA256_DIGEST_LENGTH];
	struct buf sts, seed;
	int rc;

	buf_init(&sts, 1 << 20);
	buf_init(&seed, 4096);
	rc = sigv4_string_to_sign(r, &sts);
	if (!rc)
		rc = buf_printf(&seed, "AWS4%s", secret_key);
	/* kSigning = HMAC(HMAC(HMAC(HMAC("AWS4" + secret, date), region), service),
	 * "aws4_request") */
	if (!rc)
		rc = hmac(seed.data, seed.len, r->amz_date, 8, k[0]);
	if (!rc)
		rc = hmac(k[0], sizeof(k[0]), r->region, strlen(r->region), k[1]);
	if (!rc)
		rc = hmac(k[1], sizeof(k[1]), r->service, strlen(r->service), k[0]);
	if (!rc)
		rc = hmac(k[0], sizeof(k[0]), "aws4_request", 12, k[1]);
	if (!rc)
		rc = hmac(k[1], sizeof(k[1]), sts.data, sts.len, sig);
	if (!rc)
		hex(sig, sizeof(sig), sig_hex);
	/* The derived keys sign anything for this day and region: wipe them. */
	OPENSSL_cleanse(k, sizeof(k));
	OPENSSL_cleanse(sig, sizeof(sig));
	if (seed.data)
		OPENSSL_cleanse(seed.data, seed.len);
	buf_free(&seed);
	buf_free(&sts);
	return rc;
}

int sigv4_authorization(const struct sigv4_request *r, const char *access_key,
			const char *secret_key, struct buf *out)
{
	const struct sigv4_header **h = NULL;
	char sig_hex[65];
	int rc;

	if (!request_valid(r) || !access_key || !secret_key)
		return -EINVAL;
	rc = signature_hex(r, secret_key, sig_hex);
	if (!rc) {
		h = sorted_headers(r);
		rc = h ? 0 : -ENOMEM;
	}
	if (!rc)
		rc = buf_printf(
			out,
			"AWS4-HMAC-SHA256 Credential=%s/%.8s/%s/%s/aws4_request,SignedHeaders=",
			access_key, r->amz_date, r->region, r->service);
	if (!rc)
		rc = append_signed_headers(out, h, r->n_headers);
	if (!rc)
		rc = buf_printf(out, ",Signature=%s", sig_hex);
	free(h);
	return rc;
}

/* "&name=value", value encoded. */
static int query_add(struct buf *q, const char *name, const char *value)
{
	int rc = buf_printf(q, "%s%s=", q->len ? "&" : "", name);

	return rc ?: uri_encode(q, value, strlen(value), false);
}

int sigv4_presign(const struct sigv4_presign *p, struct buf *out)
{
	struct sigv4_header host = {"host", p->host};
	struct sigv4_request r = {.method = p->method,
				  .path = p->path,
				  .headers = &host,
				  .n_headers = 1,
				  .payload_hash = "UNSIGNED-PAYLOAD",
				  .region = p->region,
				  .service = p->service,
				  .amz_date = p->amz_date};
	struct buf q, cred;
	char expires[16], sig_hex[65];
	int rc;

	if (!p->host || !p->access_key || !p->secret_key || !p->amz_date ||
	    strlen(p->amz_date) != 16 || !p->region || !p->service || !p->expires ||
	    p->expires > SIGV4_PRESIGN_MAX)
		return -EINVAL;
	buf_init(&q, 65536);
	buf_init(&cred, 4096);
	snprintf(expires, sizeof(expires), "%u", p->expires);
	rc = buf_printf(&cred, "%s/%.8s/%s/%s/aws4_request", p->access_key, p->amz_date, p->region,
			p->service);
	if (!rc && p->query && *p->query)
		rc = buf_puts(&q, p->query);
	if (!rc)
		rc = query_add(&q, "X-Amz-Algorithm", "AWS4-HMAC-SHA256") ?:
		     query_add(&q, "X-Amz-Credential", cred.data) ?:
		     query_add(&q, "X-Amz-Date", p->amz_date) ?:
		     query_add(&q, "X-Amz-Expires", expires);
	if (!rc && p->session_token)
		rc = query_add(&q, "X-Amz-Security-Token", p->session_token);
	if (!rc)
		rc = query_add(&q, "X-Amz-SignedHeaders", "host");
	r.query = q.data;
	if (!rc)
		rc = signature_hex(&r, p->secret_key, sig_hex);
	if (!rc)
		rc = buf_puts(out, q.data) ?: buf_printf(out, "&X-Amz-Signature=%s", sig_hex);
	buf_free(&q);
	buf_free(&cred);
	return rc;
}
