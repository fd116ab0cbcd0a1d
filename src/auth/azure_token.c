/*
 * Microsoft Entra ID tokens (see azure_token.h): the sources, and their
 * JSON answers (json.h). The provider that keeps them fresh is refresh.c.
 */
#include "azure_token.h"

#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "creds.h"
#include "json.h"
#include "log.h"
#include "uri.h"

#define TOKEN_MAX_LIFE_S (366LL * 86400)
#define FORM_MAX	 (1u << 20) /* the assertion is a few KiB */
#define IMDS_PATH	 "/metadata/identity/oauth2/token"
#define IMDS_API	 "2018-02-01"
/* IMDS answers 404 or 410 while it is updating: ask again a few times. */
#define IMDS_BUSY_TRIES 4

static void buf_zfree(struct buf *b)
{
	if (b->data)
		explicit_bzero(b->data, b->len);
	buf_free(b);
}

void azure_token_answer_clear(struct azure_token_answer *a)
{
	creds_zfree(a->access_token);
	creds_zfree(a->token_type);
	creds_zfree(a->error);
	creds_zfree(a->error_description);
	memset(a, 0, sizeof(*a));
}

int azure_token_parse(const char *json, size_t len, struct azure_token_answer *out)
{
	const struct json_field fields[] = {
		{"access_token", JSON_STRING, &out->access_token, NULL, NULL},
		{"token_type", JSON_STRING, &out->token_type, NULL, NULL},
		{"error", JSON_STRING, &out->error, NULL, NULL},
		{"error_description", JSON_STRING, &out->error_description, NULL, NULL},
		{"expires_in", JSON_INT, NULL, &out->has_expires_in, &out->expires_in},
		{"expires_on", JSON_INT, NULL, &out->has_expires_on, &out->expires_on},
	};
	int rc;

	memset(out, 0, sizeof(*out));
	rc = json_object_fields(json, len, fields, sizeof(fields) / sizeof(*fields));
	if (rc)
		azure_token_answer_clear(out);
	return rc;
}

int azure_token_lifetime(const struct azure_token_answer *a, time_t now, int64_t *lifetime_s)
{
	int64_t life;

	if (a->has_expires_in)
		life = a->expires_in;
	else if (a->has_expires_on)
		life = a->expires_on - (int64_t)now;
	else
		return -EPROTO;
	if (life < 1 || life > TOKEN_MAX_LIFE_S)
		return -EPROTO;
	*lifetime_s = life;
	return 0;
}

/* ---- the sources: IMDS and the Entra token endpoint ---- */

struct entra {
	enum azure_token_kind kind;
	struct http *http;
	char *url;   /* with the query for IMDS */
	char *shown; /* url without its query, for messages */
	char *client_id;
	char *client_secret;
	char *token_file;
};

static void entra_destroy(void *ctx)
{
	struct entra *e = ctx;

	if (!e)
		return;
	http_destroy(e->http);
	free(e->url);
	free(e->shown);
	free(e->client_id);
	creds_zfree(e->client_secret);
	free(e->token_file);
	free(e);
}

static int imds_headers(void *ctx, struct curl_slist **headers)
{
	(void)ctx;
	return http_add_header(headers, "Metadata", "true");
}

static int form_headers(void *ctx, struct curl_slist **headers)
{
	(void)ctx;
	return http_add_header(headers, "Content-Type", "application/x-www-form-urlencoded")
		       ?: http_add_header(headers, "Accept", "application/json");
}

static char *why_fmt(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static char *why_fmt(const char *fmt, ...)
{
	va_list ap;
	char *s;

	va_start(ap, fmt);
	if (vasprintf(&s, fmt, ap) < 0)
		s = NULL;
	va_end(ap);
	return s;
}

static int entra_form(const struct entra *e, struct buf *form, char **why)
{
	char *assertion = NULL;
	int rc;

	rc = uri_form_add(form, "client_id", e->client_id) ?:
	     uri_form_add(form, "scope", AZURE_TOKEN_SCOPE) ?:
	     uri_form_add(form, "grant_type", "client_credentials");
	if (rc)
		return rc;
	if (e->kind == AZURE_TOKEN_CLIENT_SECRET)
		return uri_form_add(form, "client_secret", e->client_secret);
	rc = creds_read_token_file(e->token_file, "AZURE_FEDERATED_TOKEN_FILE", &assertion, why);
	if (!rc)
		rc = uri_form_add(form, "client_assertion_type",
				  "urn:ietf:params:oauth:client-assertion-type:jwt-bearer")
			     ?: uri_form_add(form, "client_assertion", assertion);
	creds_zfree(assertion);
	return rc;
}

/* A token may only hold what a header value can carry unquoted. */
static bool token_ok(const char *s)
{
	size_t n = strlen(s);

	if (!n || n > AZURE_TOKEN_MAX_LEN)
		return false;
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)s[i] <= 0x20 || (unsigned char)s[i] >= 0x7f)
			return false;
	return true;
}

/* Why the answer resp is not a token, in one line. */
static char *entra_refusal(const struct entra *e, const struct http_response *resp,
			   struct azure_token_answer *a, bool parsed)
{
	if (parsed && a->error) {
		log_one_line(a->error, 100);
		if (a->error_description)
			log_one_line(a->error_description, 300);
		return why_fmt("%s answered HTTP %ld %s%s%s", e->shown, resp->status, a->error,
			       a->error_description ? ": " : "",
			       a->error_description ? a->error_description : "");
	}
	return why_fmt("%s answered HTTP %ld%s", e->shown, resp->status,
		       parsed ? "" : " (not a JSON object)");
}

static void sleep_s(unsigned int s)
{
	struct timespec ts = {s, 0};

	nanosleep(&ts, NULL);
}

static int entra_fetch(void *ctx, char **token, int64_t *lifetime_s, char **why)
{
	struct entra *e = ctx;
	struct http_request req = {.url = e->url, .retries = -1};
	struct azure_token_answer a = {0};
	struct http_response resp = {0};
	struct http_mem mem;
	struct buf form;
	bool parsed = false;
	int rc, tries = 0;

	buf_init(&form, FORM_MAX);
	if (e->kind == AZURE_TOKEN_MANAGED_IDENTITY) {
		req.method = "GET";
		req.build_headers = imds_headers;
	} else {
		rc = entra_form(e, &form, why);
		if (rc)
			goto out_form;
		mem = (struct http_mem){form.data, form.len};
		req.method = "POST";
		req.build_headers = form_headers;
		req.read_body = http_mem_read;
		req.body_ctx = &mem;
		req.body_len = form.len;
		req.has_body = true;
	}
	for (;;) {
		rc = http_execute(e->http, &req, &resp);
		if (rc || e->kind != AZURE_TOKEN_MANAGED_IDENTITY ||
		    (resp.status != 404 && resp.status != 410) || ++tries >= IMDS_BUSY_TRIES)
			break;
		log_info("GET %s: HTTP %ld (IMDS busy), retry %d of %d", e->shown, resp.status,
			 tries, IMDS_BUSY_TRIES - 1);
		http_response_free(&resp);
		sleep_s(1u << (tries - 1));
	}
	if (rc) {
		*why = why_fmt("cannot reach %s: %s", e->shown,
			       resp.error[0] ? resp.error : strerror(-rc));
		goto out_resp;
	}
	log_debug("%s %s: HTTP %ld", req.method, e->shown, resp.status);
	rc = azure_token_parse(resp.body.data ? resp.body.data : "", resp.body.len, &a);
	if (rc == -ENOMEM)
		goto out_resp;
	parsed = rc == 0;
	if (resp.status != 200) {
		*why = entra_refusal(e, &resp, &a, parsed);
		rc = resp.status >= 400 && resp.status < 500 ? -EACCES : -EIO;
	} else if (!parsed) {
		*why = why_fmt("%s answered HTTP 200 without a JSON object", e->shown);
		rc = -EPROTO;
	} else if (!a.access_token || !token_ok(a.access_token)) {
		*why = why_fmt("%s answered without a usable access_token", e->shown);
		rc = -EPROTO;
	} else if (a.token_type && strcasecmp(a.token_type, "Bearer")) {
		log_one_line(a.token_type, 40);
		*why = why_fmt("%s answered a token of type '%s', not Bearer", e->shown,
			       a.token_type);
		rc = -EPROTO;
	} else if (azure_token_lifetime(&a, time(NULL), lifetime_s)) {
		*why = why_fmt("%s answered without a plausible expires_in or expires_on",
			       e->shown);
		rc = -EPROTO;
	} else {
		*token = a.access_token;
		a.access_token = NULL;
	}
out_resp:
	buf_zfree(&resp.body);
	http_response_free(&resp);
	azure_token_answer_clear(&a);
out_form:
	buf_zfree(&form);
	if (rc == -ENOMEM && !*why)
		*why = strdup("out of memory");
	return rc;
}

static const struct refresh_names entra_names = {
	.noun = "Entra ID token",
	.a_noun = "a Microsoft Entra ID token",
};

static const struct refresh_source_ops entra_ops = {
	.fetch = entra_fetch,
	.now_ms = NULL,
	.destroy = entra_destroy,
};

/* Tenants are GUIDs or domain names: nothing that could change the URL. */
static bool tenant_ok(const char *t)
{
	size_t n = strlen(t);

	if (!n || n > 253)
		return false;
	for (size_t i = 0; i < n; i++)
		if (!isalnum((unsigned char)t[i]) && t[i] != '-' && t[i] != '.')
			return false;
	return t[0] != '.';
}

/* https://HOST[/path]/ from AZURE_AUTHORITY_HOST's forms (a bare host name
 * means https, as the Azure SDKs take it). */
static int authority_url(const char *a, struct buf *out, char **why)
{
	const char *sep = strstr(a, "://");
	int rc;

	if (sep && strncmp(a, "https://", 8)) {
		*why = why_fmt("AZURE_AUTHORITY_HOST must be an https:// URL: '%s'", a);
		return -EINVAL;
	}
	rc = sep ? buf_puts(out, a) : buf_printf(out, "https://%s", a);
	if (!rc && (!out->len || out->data[out->len - 1] != '/'))
		rc = buf_puts(out, "/");
	if (!rc &&
	    (strchr(out->data + 8, '?') || strchr(out->data + 8, '#') || out->data[8] == '/')) {
		*why = why_fmt("AZURE_AUTHORITY_HOST is not a URL: '%s'", a);
		return -EINVAL;
	}
	return rc;
}

static int entra_urls(struct entra *e, const struct azure_token_conf *conf, char **why)
{
	struct buf url;
	size_t shown_len;
	int rc;

	buf_init(&url, 8192);
	if (conf->kind == AZURE_TOKEN_MANAGED_IDENTITY) {
		const char *base = conf->imds ? conf->imds : AZURE_TOKEN_IMDS;
		size_t n = strlen(base);

		while (n && base[n - 1] == '/')
			n--;
		if (strncmp(base, "http://", 7) && strncmp(base, "https://", 8)) {
			*why = why_fmt("AZURE_POD_IDENTITY_AUTHORITY_HOST must be an http:// or "
				       "https:// URL: '%s'",
				       base);
			buf_free(&url);
			return -EINVAL;
		}
		rc = buf_append(&url, base, n) ?: buf_puts(&url, IMDS_PATH);
		shown_len = url.len;
		if (!rc)
			rc = buf_puts(&url, "?api-version=" IMDS_API "&resource=")
				     ?: uri_encode(&url, AZURE_TOKEN_RESOURCE,
						   strlen(AZURE_TOKEN_RESOURCE), false);
		if (!rc && conf->client_id)
			rc = buf_puts(&url, "&client_id=")
				     ?: uri_encode(&url, conf->client_id, strlen(conf->client_id),
						   false);
	} else {
		rc = authority_url(conf->authority ? conf->authority : AZURE_TOKEN_AUTHORITY, &url,
				   why);
		if (rc) {
			buf_free(&url);
			return rc;
		}
		rc = buf_printf(&url, "%s/oauth2/v2.0/token", conf->tenant_id);
		shown_len = url.len;
	}
	if (!rc) {
		e->shown = strndup(url.data, shown_len);
		e->url = buf_steal(&url);
		if (!e->shown || !e->url)
			rc = -ENOMEM;
	}
	buf_free(&url);
	return rc;
}

struct refresh *azure_token_create(const struct azure_token_conf *conf, char **why)
{
	struct entra *e = calloc(1, sizeof(*e));
	struct refresh *t;
	char *what = NULL;
	int rc = -ENOMEM;

	*why = NULL;
	if (!e)
		goto out_nomem;
	e->kind = conf->kind;
	switch (conf->kind) {
	case AZURE_TOKEN_MANAGED_IDENTITY:
		if (conf->client_id)
			rc = asprintf(&what, "managed identity (client id %s)", conf->client_id);
		else
			rc = asprintf(&what, "managed identity (system-assigned)");
		break;
	case AZURE_TOKEN_WORKLOAD_IDENTITY:
	case AZURE_TOKEN_CLIENT_SECRET:
		if (!conf->client_id || !*conf->client_id || !conf->tenant_id ||
		    (conf->kind == AZURE_TOKEN_CLIENT_SECRET
			     ? !conf->client_secret || !*conf->client_secret
			     : !conf->token_file || !*conf->token_file)) {
			*why = strdup("Entra ID credentials: the client id, tenant or secret is "
				      "missing");
			goto out_free;
		}
		if (!tenant_ok(conf->tenant_id)) {
			*why = why_fmt("AZURE_TENANT_ID '%s' is not a tenant id or domain name",
				       conf->tenant_id);
			goto out_free;
		}
		rc = asprintf(&what, "%s (client id %s, tenant %s)",
			      conf->kind == AZURE_TOKEN_CLIENT_SECRET ? "service principal"
								      : "workload identity",
			      conf->client_id, conf->tenant_id);
		break;
	default:
		*why = strdup("no Entra ID credential source");
		goto out_free;
	}
	if (rc < 0) {
		what = NULL;
		goto out_nomem;
	}
	rc = entra_urls(e, conf, why);
	if (rc == -EINVAL)
		goto out_free;
	if (rc)
		goto out_nomem;
	if (conf->client_id && !(e->client_id = strdup(conf->client_id)))
		goto out_nomem;
	if (conf->kind == AZURE_TOKEN_CLIENT_SECRET &&
	    !(e->client_secret = strdup(conf->client_secret)))
		goto out_nomem;
	if (conf->kind == AZURE_TOKEN_WORKLOAD_IDENTITY &&
	    !(e->token_file = strdup(conf->token_file)))
		goto out_nomem;
	e->http = http_create(&conf->http);
	if (!e->http)
		goto out_nomem;
	t = refresh_create(&entra_ops, e, what, &entra_names);
	free(what);
	if (!t)
		*why = strdup("out of memory");
	return t;

out_nomem:
	*why = strdup("out of memory");
out_free:
	free(what);
	entra_destroy(e);
	return NULL;
}
