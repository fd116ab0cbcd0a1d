/*
 * Azure Blob Storage signing: Shared Key request signatures and SAS tokens.
 *
 * The Shared Key string-to-sign (Blob service, 2015-02-21 and later) is
 *   VERB \n Content-Encoding \n Content-Language \n Content-Length \n
 *   Content-MD5 \n Content-Type \n Date \n If-Modified-Since \n If-Match \n
 *   If-None-Match \n If-Unmodified-Since \n Range \n
 *   CanonicalizedHeaders ("name:value\n" each) CanonicalizedResource
 * and a SAS string-to-sign a fixed list of fields joined by '\n'. Both are
 * signed base64(HMAC-SHA256(base64-decoded key, string)). Every string is
 * built in a scratch buffer and appended to the caller's only when complete.
 */
#include "azure_auth.h"

#include <errno.h>
#include <limits.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/sha.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "uri.h"

/* Bound on a string-to-sign or token: far above any real request. */
#define AZURE_STS_MAX (64 * 1024)
/* base64 of a SHA-256 digest, with its NUL. */
#define AZURE_SIG_LEN 45

static char lower(char c)
{
	return (c >= 'A' && c <= 'Z') ? c - 'A' + 'a' : c;
}

/* "Linear whitespace" as the doc has it: CR, LF, spaces and tabs. */
static bool is_lws(char c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

static bool is_b64(char c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
	       c == '+' || c == '/';
}

static bool has(const char *s)
{
	return s && *s;
}

static const char *opt(const char *s)
{
	return s ? s : "";
}

/*
 * Strict base64 with padding. EVP_DecodeBlock alone accepts blanks and '='
 * in the middle; a mistyped key should fail here, not as a 403 later. On
 * success the caller cleanses and frees *key.
 */
static int key_decode(const char *b64, unsigned char **key, size_t *len)
{
	size_t n = strlen(b64), pad = 0;
	unsigned char *k;

	if (!n || n % 4 || n > INT_MAX)
		return -EINVAL;
	if (b64[n - 1] == '=')
		pad = b64[n - 2] == '=' ? 2 : 1;
	for (size_t i = 0; i < n - pad; i++)
		if (!is_b64(b64[i]))
			return -EINVAL;
	k = malloc(n / 4 * 3);
	if (!k)
		return -ENOMEM;
	if (EVP_DecodeBlock(k, (const unsigned char *)b64, (int)n) != (int)(n / 4 * 3)) {
		OPENSSL_cleanse(k, n / 4 * 3);
		free(k);
		return -EINVAL;
	}
	*key = k;
	*len = n / 4 * 3 - pad;
	return 0;
}

/* sig = base64(HMAC-SHA256(base64-decoded key_b64, msg)). */
static int sign(const char *key_b64, const char *msg, size_t len, char sig[AZURE_SIG_LEN])
{
	unsigned char md[SHA256_DIGEST_LENGTH];
	unsigned int mdlen = sizeof(md);
	unsigned char *key;
	size_t klen;
	int rc = key_decode(key_b64, &key, &klen);

	if (rc)
		return rc;
	/* Digest into its own buffer: never HMAC in place. */
	if (HMAC(EVP_sha256(), key, (int)klen, (const unsigned char *)msg, len, md, &mdlen))
		EVP_EncodeBlock((unsigned char *)sig, md, (int)mdlen);
	else
		rc = -EIO;
	OPENSSL_cleanse(key, klen);
	free(key);
	return rc;
}

/* v without leading and trailing linear whitespace, as [*b, *e). */
static void trim(const char *v, const char **b, const char **e)
{
	const char *end;

	v = opt(v);
	while (is_lws(*v))
		v++;
	end = v + strlen(v);
	while (end > v && is_lws(end[-1]))
		end--;
	*b = v;
	*e = end;
}

static int append_trimmed(struct buf *out, const char *v)
{
	const char *b, *e;

	trim(v, &b, &e);
	return buf_append(out, b, (size_t)(e - b));
}

/*
 * Step 4 of the canonicalized headers: trimmed, each run of linear
 * whitespace outside a quoted string replaced by one space. A backslash in
 * a quoted string escapes the next character (RFC 7230 quoted-pair).
 */
static int append_folded(struct buf *out, const char *v)
{
	const char *b, *e;
	bool quoted = false;
	int rc = 0;

	trim(v, &b, &e);
	for (const char *p = b; p < e && !rc; p++) {
		size_t n = 1;

		if (!quoted && is_lws(*p)) {
			/* The run ends before e: trimming left no blank there. */
			while (is_lws(p[1]))
				p++;
			rc = buf_puts(out, " ");
			continue;
		}
		if (*p == '"')
			quoted = !quoted;
		else if (quoted && *p == '\\' && p + 1 < e)
			n = 2;
		rc = buf_append(out, p, n);
		p += n - 1;
	}
	return rc;
}

static int append_lower(struct buf *out, const char *s)
{
	int rc = 0;

	for (; *s && !rc; s++) {
		char c = lower(*s);

		rc = buf_append(out, &c, 1);
	}
	return rc;
}

/* The standard headers, in string-to-sign order. */
static const char *const std_headers[] = {
	"Content-Encoding",
	"Content-Language",
	"Content-Length",
	"Content-MD5",
	"Content-Type",
	"Date",
	"If-Modified-Since",
	"If-Match",
	"If-None-Match",
	"If-Unmodified-Since",
	"Range",
};

static bool is_std(const char *name)
{
	for (size_t i = 0; i < sizeof(std_headers) / sizeof(std_headers[0]); i++)
		if (!strcasecmp(name, std_headers[i]))
			return true;
	return false;
}

static bool is_ms(const char *name)
{
	return !strncasecmp(name, "x-ms-", 5);
}

/* The characters cmp_ms_name() knows how the service orders. */
static bool ms_name_ok(const char *name)
{
	for (; *name; name++) {
		char c = lower(*name);

		if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '_'))
			return false;
	}
	return true;
}

/* Weight of a name character when '-' is ignored: '_' < digits < letters. */
static int primary_weight(char c)
{
	c = lower(c);
	if (c == '_')
		return 1;
	if (c >= '0' && c <= '9')
		return 2 + c - '0';
	return 12 + c - 'a';
}

/*
 * The service sorts x-ms-* names with .NET's culture-aware (en-US) compare,
 * not by bytes; the Azure SDKs imitate it (SharedKeyComparator). For the
 * characters ms_name_ok() allows it comes to: compare ignoring '-', '_'
 * before digits before letters; if equal so, the first place where the
 * hyphens differ decides, the name with the hyphen there sorting last.
 */
static int cmp_ms_name(const char *a, const char *b)
{
	const char *x = a, *y = b;

	for (;;) {
		while (*x == '-')
			x++;
		while (*y == '-')
			y++;
		if (!*x || !*y)
			break;
		if (primary_weight(*x) != primary_weight(*y))
			return primary_weight(*x) - primary_weight(*y);
		x++;
		y++;
	}
	if (*x || *y)
		return *x ? 1 : -1;
	/* Equal but for hyphens: walk both until they part. */
	for (x = a, y = b; *x && lower(*x) == lower(*y); x++, y++)
		;
	if (!*x && !*y)
		return 0;
	return *x == '-' ? 1 : -1;
}

static int cmp_ms_header(const void *a, const void *b)
{
	const struct azure_header *x = *(const struct azure_header *const *)a;
	const struct azure_header *y = *(const struct azure_header *const *)b;

	return cmp_ms_name(x->name, y->name);
}

static bool method_ok(const char *m)
{
	if (!has(m))
		return false;
	for (; *m; m++)
		if (*m < 'A' || *m > 'Z')
			return false;
	return true;
}

static bool request_valid(const struct azure_request *r, const char *account)
{
	if (!r || !has(account) || !method_ok(r->method) || !r->path ||
	    (!r->headers && r->n_headers))
		return false;
	for (size_t i = 0; i < r->n_headers; i++) {
		const char *name = r->headers[i].name;

		if (!has(name) || (is_ms(name) && !ms_name_ok(name)))
			return false;
		if (!is_ms(name) && !is_std(name))
			continue;
		/* A signed header twice is a 400 from the service. */
		for (size_t j = 0; j < i; j++)
			if (!strcasecmp(name, r->headers[j].name))
				return false;
	}
	return true;
}

static const struct azure_header *find_header(const struct azure_request *r, const char *name)
{
	for (size_t i = 0; i < r->n_headers; i++)
		if (!strcasecmp(r->headers[i].name, name))
			return &r->headers[i];
	return NULL;
}

/* Since 2015-02-21 a zero Content-Length is signed as "". */
static bool is_zero(const char *v)
{
	const char *b, *e;

	trim(v, &b, &e);
	return e - b == 1 && *b == '0';
}

static int append_std_headers(struct buf *out, const struct azure_request *r)
{
	int rc = 0;

	for (size_t i = 0; i < sizeof(std_headers) / sizeof(std_headers[0]) && !rc; i++) {
		const struct azure_header *h = find_header(r, std_headers[i]);
		const char *v = h ? h->value : NULL;

		if (!strcmp(std_headers[i], "Content-Length") && is_zero(v))
			v = NULL;
		rc = append_trimmed(out, v);
		if (!rc)
			rc = buf_puts(out, "\n");
	}
	return rc;
}

static int append_ms_headers(struct buf *out, const struct azure_request *r)
{
	const struct azure_header **h = calloc(r->n_headers ? r->n_headers : 1, sizeof(*h));
	size_t n = 0;
	int rc = 0;

	if (!h)
		return -ENOMEM;
	for (size_t i = 0; i < r->n_headers; i++)
		if (is_ms(r->headers[i].name))
			h[n++] = &r->headers[i];
	qsort(h, n, sizeof(*h), cmp_ms_header);
	for (size_t i = 0; i < n && !rc; i++) {
		rc = append_lower(out, h[i]->name);
		if (!rc)
			rc = buf_puts(out, ":");
		if (!rc)
			rc = append_folded(out, h[i]->value);
		if (!rc)
			rc = buf_puts(out, "\n");
	}
	free(h);
	return rc;
}

struct qparam {
	char *name; /* lower-cased, decoded */
	char *value;
};

static void free_params(struct qparam *p, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		free(p[i].name);
		free(p[i].value);
	}
	free(p);
}

static int cmp_qparam(const void *a, const void *b)
{
	const struct qparam *x = a, *y = b;
	int c = strcmp(x->name, y->name);

	return c ? c : strcmp(x->value, y->value);
}

/* q split at '&' into decoded pairs, sorted by name then value. */
static int parse_query(const char *q, struct qparam **out, size_t *n_out)
{
	struct qparam *p;
	size_t n = 0, cap = 1;

	for (const char *c = q; *c; c++)
		cap += *c == '&';
	p = calloc(cap, sizeof(*p));
	if (!p)
		return -ENOMEM;
	for (const char *s = q; *s;) {
		const char *end = strchrnul(s, '&');
		const char *eq = memchr(s, '=', (size_t)(end - s));

		if (end > s) {
			struct qparam *qp = &p[n++];

			qp->name = strndup(s, (size_t)((eq ? eq : end) - s));
			qp->value = eq ? strndup(eq + 1, (size_t)(end - eq - 1)) : strdup("");
			if (!qp->name || !qp->value) {
				free_params(p, n);
				return -ENOMEM;
			}
			for (char *c = qp->name; *c; c++)
				*c = lower(*c);
			uri_decode(qp->name, false);
			uri_decode(qp->value, false);
		}
		s = *end ? end + 1 : end;
	}
	qsort(p, n, sizeof(*p), cmp_qparam);
	*out = p;
	*n_out = n;
	return 0;
}

/* "/account/path" then "\nname:value[,value...]" per parameter. */
static int append_resource(struct buf *out, const char *account, const struct azure_request *r)
{
	struct qparam *p;
	size_t n;
	int rc = buf_printf(out, "/%s%s", account, *r->path ? r->path : "/");

	if (rc || !has(r->query))
		return rc;
	rc = parse_query(r->query, &p, &n);
	if (rc)
		return rc;
	for (size_t i = 0; i < n && !rc; i++) {
		if (i && !strcmp(p[i].name, p[i - 1].name))
			rc = buf_printf(out, ",%s", p[i].value);
		else
			rc = buf_printf(out, "\n%s:%s", p[i].name, p[i].value);
	}
	free_params(p, n);
	return rc;
}

static int sharedkey_sts(const struct azure_request *r, const char *account, struct buf *out)
{
	int rc = buf_printf(out, "%s\n", r->method);

	if (!rc)
		rc = append_std_headers(out, r);
	if (!rc)
		rc = append_ms_headers(out, r);
	if (!rc)
		rc = append_resource(out, account, r);
	return rc;
}

int azure_sharedkey_string_to_sign(const struct azure_request *r, const char *account,
				   struct buf *out)
{
	struct buf sts;
	int rc;

	if (!out || !request_valid(r, account))
		return -EINVAL;
	buf_init(&sts, AZURE_STS_MAX);
	rc = sharedkey_sts(r, account, &sts);
	if (!rc)
		rc = buf_append(out, sts.data, sts.len);
	buf_free(&sts);
	return rc;
}

int azure_sharedkey_authorization(const struct azure_request *r, const char *account,
				  const char *key, struct buf *out)
{
	char sig[AZURE_SIG_LEN];
	struct buf sts;
	int rc;

	if (!out || !key || !request_valid(r, account))
		return -EINVAL;
	buf_init(&sts, AZURE_STS_MAX);
	rc = sharedkey_sts(r, account, &sts);
	if (!rc)
		rc = sign(key, sts.data, sts.len, sig);
	if (!rc)
		rc = buf_printf(out, "SharedKey %s:%s", account, sig);
	buf_free(&sts);
	return rc;
}

/* "YYYY-MM-DDThh:mm:ssZ", the form the SDKs sign st and se in. */
static int iso8601(time_t t, char out[21])
{
	struct tm tm;

	if (!gmtime_r(&t, &tm) || strftime(out, 21, "%Y-%m-%dT%H:%M:%SZ", &tm) != 20)
		return -EINVAL;
	return 0;
}

/* Lower-case letters, each at most once; their order is the caller's. */
static bool permissions_ok(const char *p)
{
	for (const char *c = p; *c; c++)
		if (*c < 'a' || *c > 'z' || strchr(c + 1, *c))
			return false;
	return true;
}

static bool udk_valid(const struct azure_udk *k)
{
	return has(k->object_id) && has(k->tenant_id) && has(k->start) && has(k->expiry) &&
	       has(k->service) && has(k->version);
}

static bool sas_valid(const struct azure_sas *s)
{
	if (!s || !has(s->account) || !has(s->container) || (s->blob && !*s->blob))
		return false;
	if (has(s->permissions) && !permissions_ok(s->permissions))
		return false;
	/* A user delegation SAS cannot refer to a stored access policy. */
	if (s->udk && (!udk_valid(s->udk) || has(s->identifier)))
		return false;
	/* Without a stored policy the token itself must say what and until when. */
	return has(s->identifier) || (has(s->permissions) && s->expiry);
}

/* What the string-to-sign and the token share. */
struct sas_fields {
	char st[21];
	char se[21];
	const char *sr;
};

static int sas_prepare(const struct azure_sas *s, struct sas_fields *f)
{
	f->st[0] = f->se[0] = '\0';
	if (s->start && iso8601(s->start, f->st))
		return -EINVAL;
	if (s->expiry && iso8601(s->expiry, f->se))
		return -EINVAL;
	f->sr = s->blob ? "b" : "c";
	return 0;
}

/*
 * Service SAS, version 2020-12-06 and later:
 *   sp st se canonicalizedResource si sip spr sv sr snapshotTime ses
 *   rscc rscd rsce rscl rsct
 * User delegation SAS, 2020-12-06 up to 2025-07-05 (exclusive), si replaced
 * by the key's fields and three we leave empty:
 *   ... canonicalizedResource skoid sktid skt ske sks skv saoid suoid scid
 *   sip spr ...
 * canonicalizedResource is "/blob/account/container[/blob]", not encoded.
 */
static int sas_sts(const struct azure_sas *s, const struct sas_fields *f, struct buf *out)
{
	const struct azure_udk *k = s->udk;
	int rc = buf_printf(out, "%s\n%s\n%s\n/blob/%s/%s%s%s\n", opt(s->permissions), f->st, f->se,
			    s->account, s->container, s->blob ? "/" : "", opt(s->blob));

	if (!rc && k)
		rc = buf_printf(out, "%s\n%s\n%s\n%s\n%s\n%s\n\n\n\n", k->object_id, k->tenant_id,
				k->start, k->expiry, k->service, k->version);
	else if (!rc)
		rc = buf_printf(out, "%s\n", opt(s->identifier));
	/* The empty field after sr is the snapshot time: no snapshot SAS here. */
	if (!rc)
		rc = buf_printf(out, "%s\n%s\n%s\n%s\n\n%s\n%s\n%s\n%s\n%s\n%s", opt(s->ip),
				opt(s->protocol), AZURE_SAS_VERSION, f->sr,
				opt(s->encryption_scope), opt(s->cache_control),
				opt(s->content_disposition), opt(s->content_encoding),
				opt(s->content_language), opt(s->content_type));
	return rc;
}

int azure_sas_string_to_sign(const struct azure_sas *s, struct buf *out)
{
	struct sas_fields f;
	struct buf sts;
	int rc;

	if (!out || !sas_valid(s) || sas_prepare(s, &f))
		return -EINVAL;
	buf_init(&sts, AZURE_STS_MAX);
	rc = sas_sts(s, &f, &sts);
	if (!rc)
		rc = buf_append(out, sts.data, sts.len);
	buf_free(&sts);
	return rc;
}

struct sas_param {
	const char *name;
	const char *value; /* NULL or "": left out */
};

static int append_params(struct buf *out, const struct sas_param *p, size_t n)
{
	int rc = 0;

	for (size_t i = 0; i < n && !rc; i++) {
		if (!has(p[i].value))
			continue;
		rc = buf_printf(out, "%s%s=", out->len ? "&" : "", p[i].name);
		if (!rc)
			rc = uri_encode(out, p[i].value, strlen(p[i].value), false);
	}
	return rc;
}

int azure_sas_token(const struct azure_sas *s, const char *key, struct buf *out)
{
	static const struct azure_udk none;
	const struct azure_udk *k;
	char sig[AZURE_SIG_LEN];
	struct sas_fields f;
	struct buf sts, tok;
	int rc;

	if (!out || !key || !sas_valid(s) || sas_prepare(s, &f))
		return -EINVAL;
	k = s->udk ? s->udk : &none;
	buf_init(&sts, AZURE_STS_MAX);
	buf_init(&tok, AZURE_STS_MAX);
	rc = sas_sts(s, &f, &sts);
	if (!rc)
		rc = sign(key, sts.data, sts.len, sig);
	if (!rc) {
		const struct sas_param p[] = {
			{"sv", AZURE_SAS_VERSION},
			{"spr", s->protocol},
			{"st", f.st},
			{"se", f.se},
			{"sip", s->ip},
			{"si", s->identifier},
			{"ses", s->encryption_scope},
			{"skoid", k->object_id},
			{"sktid", k->tenant_id},
			{"skt", k->start},
			{"ske", k->expiry},
			{"sks", k->service},
			{"skv", k->version},
			{"sr", f.sr},
			{"sp", s->permissions},
			{"rscc", s->cache_control},
			{"rscd", s->content_disposition},
			{"rsce", s->content_encoding},
			{"rscl", s->content_language},
			{"rsct", s->content_type},
			{"sig", sig},
		};

		rc = append_params(&tok, p, sizeof(p) / sizeof(p[0]));
	}
	if (!rc)
		rc = buf_append(out, tok.data, tok.len);
	buf_free(&tok);
	buf_free(&sts);
	return rc;
}
