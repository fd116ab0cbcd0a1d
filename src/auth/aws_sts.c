/*
 * AWS STS: AssumeRoleWithWebIdentity (unsigned: the web identity token is
 * the proof) and AssumeRole (SigV4-signed with the source profile's keys),
 * as the query API's POST form, answered in XML. The token and the keys
 * are secrets: they go into the request body or signature only.
 */
#include "aws_creds.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "sigv4.h"
#include "uri.h"
#include "xml_util.h"

#define STS_VERSION  "2011-06-15"
#define STS_FORM_MAX (64u << 10) /* web identity tokens are a few KiB */
#define FORM_TYPE    "application/x-www-form-urlencoded; charset=utf-8"

char *aws_sts_endpoint(const char *region)
{
	const char *env = getenv("AWS_ENDPOINT_URL_STS");
	char *s = NULL;

	if (!env || !*env)
		env = getenv("AWS_ENDPOINT_URL");
	if (env && *env)
		return strdup(env);
	if (asprintf(&s, "https://sts.%s.amazonaws.com", region ? region : "us-east-1") < 0)
		return NULL;
	return s;
}

static void trim_in_place(char *s)
{
	size_t n = strlen(s), start = strspn(s, " \t\r\n");

	while (n > start && strchr(" \t\r\n", s[n - 1]))
		n--;
	memmove(s, s + start, n - start);
	s[n - start] = '\0';
}

int aws_sts_parse(const char *xml, size_t len, const char *action, struct creds *out,
		  char **expiration, char **code, char **message)
{
	static const char *const names[] = {"AccessKeyId", "SecretAccessKey", "SessionToken",
					    "Expiration"};
	char *v[4] = {NULL, NULL, NULL, NULL};
	char root[96], result[96];
	xmlDocPtr doc = xml_parse(xml, len);
	xmlNodePtr n;
	int rc = 0;

	memset(out, 0, sizeof(*out));
	*expiration = *code = *message = NULL;
	snprintf(root, sizeof(root), "%sResponse", action);
	snprintf(result, sizeof(result), "%sResult", action);
	n = xml_root_named(doc, "ErrorResponse");
	if (n) {
		n = xml_child(n, "Error");
		if (n)
			rc = xml_child_text(n, "Code", code)
				     ?: xml_child_text(n, "Message", message);
		if (!rc)
			rc = -EACCES;
		goto out;
	}
	n = xml_root_named(doc, root);
	n = n ? xml_child(n, result) : NULL;
	n = n ? xml_child(n, "Credentials") : NULL;
	if (!n) {
		rc = -EPROTO;
		goto out;
	}
	for (size_t i = 0; i < 4 && !rc; i++) {
		rc = xml_child_text(n, names[i], &v[i]);
		if (!rc && v[i])
			trim_in_place(v[i]);
	}
	if (!rc && (!v[0] || !v[1] || !v[2] || !v[3] || !*v[0] || !*v[1] || !*v[2]))
		rc = -EPROTO;
	if (!rc)
		rc = creds_set(out, v[0], v[1], v[2], "STS");
	if (!rc) {
		*expiration = v[3];
		v[3] = NULL;
	}
out:
	for (size_t i = 0; i < 4; i++)
		creds_zfree(v[i]);
	xmlFreeDoc(doc);
	return rc;
}

/* "host[:port]" of a URL, the default port left out as curl does. */
static char *url_host(const char *url)
{
	const char *p = strstr(url, "://");
	size_t n;
	char *h;

	if (!p)
		return NULL;
	p += 3;
	n = strcspn(p, "/?#");
	h = strndup(p, n);
	if (h && !strncmp(url, "https://", 8) && n > 4 && !strcmp(h + n - 4, ":443"))
		h[n - 4] = '\0';
	else if (h && !strncmp(url, "http://", 7) && n > 3 && !strcmp(h + n - 3, ":80"))
		h[n - 3] = '\0';
	return h;
}

struct sts_call {
	const struct aws_sts_request *r;
	const char *url;
	const struct buf *form;
};

/* Content-Type, and for AssumeRole the SigV4 headers of this attempt. */
static int sts_headers(void *ctx, struct curl_slist **headers)
{
	struct sts_call *c = ctx;
	const struct creds *src = c->r->source;
	struct sigv4_header h[4];
	struct sigv4_request req;
	char date[17], hash[65], *host;
	struct buf auth;
	size_t n = 0;
	int rc;

	rc = http_add_header(headers, "Content-Type", FORM_TYPE)
		     ?: http_add_header(headers, "Accept", "*/*");
	if (rc || c->r->web_identity_token)
		return rc;
	host = url_host(c->url);
	if (!host)
		return -ENOMEM;
	sigv4_amz_date(time(NULL), date);
	sigv4_sha256_hex(c->form->data, c->form->len, hash);
	h[n++] = (struct sigv4_header){"host", host};
	h[n++] = (struct sigv4_header){"content-type", FORM_TYPE};
	h[n++] = (struct sigv4_header){"x-amz-date", date};
	if (src->session_token)
		h[n++] = (struct sigv4_header){"x-amz-security-token", src->session_token};
	req = (struct sigv4_request){.method = "POST",
				     .path = "/",
				     .query = NULL,
				     .headers = h,
				     .n_headers = n,
				     .payload_hash = hash,
				     .region = c->r->region ? c->r->region : "us-east-1",
				     .service = "sts",
				     .amz_date = date};
	buf_init(&auth, 4096);
	rc = sigv4_authorization(&req, src->access_key, src->secret_key, &auth);
	if (!rc)
		rc = http_add_header(headers, "Authorization", auth.data)
			     ?: http_add_header(headers, "X-Amz-Date", date);
	if (!rc && src->session_token)
		rc = http_add_header(headers, "X-Amz-Security-Token", src->session_token);
	if (auth.data)
		explicit_bzero(auth.data, auth.len);
	buf_free(&auth);
	free(host);
	return rc;
}

static int sts_form(const struct aws_sts_request *r, struct buf *form)
{
	const char *action = r->web_identity_token ? "AssumeRoleWithWebIdentity" : "AssumeRole";
	char dur[16];
	int rc;

	rc = uri_form_add(form, "Action", action) ?: uri_form_add(form, "Version", STS_VERSION) ?:
	     uri_form_add(form, "RoleArn", r->role_arn) ?:
	     uri_form_add(form, "RoleSessionName", r->session_name);
	if (!rc && r->duration_s) {
		snprintf(dur, sizeof(dur), "%u", r->duration_s);
		rc = uri_form_add(form, "DurationSeconds", dur);
	}
	if (!rc && r->external_id && !r->web_identity_token)
		rc = uri_form_add(form, "ExternalId", r->external_id);
	if (!rc && r->web_identity_token)
		rc = uri_form_add(form, "WebIdentityToken", r->web_identity_token);
	return rc;
}

int aws_sts_assume(struct http *http, const struct aws_sts_request *r, struct creds *out,
		   char **expiration, char **why)
{
	const char *action = r->web_identity_token ? "AssumeRoleWithWebIdentity" : "AssumeRole";
	struct http_response resp = {0};
	struct http_request req = {.method = "POST", .retries = -1};
	char *code = NULL, *message = NULL;
	struct sts_call call;
	struct http_mem mem;
	struct buf form, url;
	int rc;

	buf_init(&form, STS_FORM_MAX);
	buf_init(&url, 4096);
	rc = sts_form(r, &form);
	if (!rc)
		rc = buf_puts(&url, r->endpoint);
	if (!rc && (!url.len || url.data[url.len - 1] != '/'))
		rc = buf_puts(&url, "/");
	if (rc)
		goto out;
	call = (struct sts_call){r, url.data, &form};
	mem = (struct http_mem){form.data, form.len};
	req.url = url.data;
	req.build_headers = sts_headers;
	req.ctx = &call;
	req.read_body = http_mem_read;
	req.body_ctx = &mem;
	req.body_len = form.len;
	req.has_body = true;
	rc = http_execute(http, &req, &resp);
	if (rc) {
		if (asprintf(why, "cannot reach STS at %s: %s", r->endpoint,
			     resp.error[0] ? resp.error : strerror(-rc)) < 0)
			*why = NULL;
		goto out_resp;
	}
	log_debug("POST %s %s: HTTP %ld", r->endpoint, action, resp.status);
	rc = aws_sts_parse(resp.body.data ? resp.body.data : "", resp.body.len, action, out,
			   expiration, &code, &message);
	if (!rc && resp.status != 200)
		rc = -EPROTO;
	if (rc == -EACCES || (rc && resp.status != 200)) {
		if (code)
			log_one_line(code, 100);
		if (message)
			log_one_line(message, 300);
		if (asprintf(why, "STS %s answered HTTP %ld%s%s%s%s", action, resp.status,
			     code ? " " : "", code ? code : "", message ? ": " : "",
			     message ? message : "") < 0)
			*why = NULL;
		rc = resp.status >= 500 ? -EIO : -EACCES;
	} else if (rc == -EPROTO) {
		if (asprintf(why, "STS %s answered HTTP 200 without credentials", action) < 0)
			*why = NULL;
	}
	if (rc)
		creds_clear(out);
out_resp:
	if (resp.body.data)
		explicit_bzero(resp.body.data, resp.body.len);
	http_response_free(&resp);
out:
	free(code);
	free(message);
	if (form.data)
		explicit_bzero(form.data, form.len);
	buf_free(&form);
	buf_free(&url);
	if (rc == -ENOMEM && !*why)
		*why = strdup("out of memory");
	return rc;
}
