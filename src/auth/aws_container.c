/*
 * Container credentials, as ECS tasks and EKS Pod Identity get them: GET
 * AWS_CONTAINER_CREDENTIALS_FULL_URI, or AWS_CONTAINER_CREDENTIALS_RELATIVE_URI
 * on the ECS agent's http://169.254.170.2, with an Authorization header
 * from AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE (re-read at every fetch: EKS
 * rotates it) or AWS_CONTAINER_AUTHORIZATION_TOKEN. A full URI over plain
 * HTTP must name a loopback or the container agents' addresses, as the AWS
 * SDKs require, so that the token never crosses a network in clear.
 *
 * For tests only, BUCKETFS_TEST_CONTAINER_HOST replaces the relative URI's
 * host (the real one is a link-local address nothing here can listen on).
 */
#include "aws_creds.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"

#define ECS_HOST	   "http://169.254.170.2"
#define CONTAINER_BODY_MAX (64u << 10)

struct container {
	struct http *http;
	char *url;
	char *token_file; /* NULL: token, or none */
	char *token;
};

static void container_destroy(void *ctx)
{
	struct container *c = ctx;

	if (!c)
		return;
	http_destroy(c->http);
	free(c->url);
	free(c->token_file);
	creds_zfree(c->token);
	free(c);
}

struct auth_header {
	const char *token;
};

static int container_headers(void *ctx, struct curl_slist **headers)
{
	struct auth_header *a = ctx;

	return a->token ? http_add_header(headers, "Authorization", a->token) : 0;
}

static int container_fetch(void *ctx, char **secret, int64_t *lifetime_s, char **why)
{
	struct container *c = ctx;
	struct auth_header a = {c->token};
	struct http_request req = {.method = "GET",
				   .url = c->url,
				   .build_headers = container_headers,
				   .ctx = &a,
				   .retries = -1};
	struct http_response resp = {0};
	char *token = NULL, *exp = NULL, *cause = NULL;
	struct creds got = {0};
	int rc = 0;

	if (c->token_file) {
		rc = creds_read_token_file(c->token_file, "AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE",
					   &token, why);
		a.token = token;
	}
	if (!rc)
		rc = http_execute(c->http, &req, &resp);
	if (rc && !*why &&
	    asprintf(why, "cannot reach %s: %s", c->url,
		     resp.error[0] ? resp.error : strerror(-rc)) < 0)
		*why = NULL;
	if (rc)
		goto out;
	log_debug("GET %s: HTTP %ld", c->url, resp.status);
	rc = aws_json_creds_parse(resp.body.data ? resp.body.data : "", resp.body.len, false, &got,
				  &exp, &cause);
	if (resp.status != 200 || rc) {
		if (asprintf(why, "%s answered HTTP %ld%s%s", c->url, resp.status,
			     cause ? ": " : "", cause ? cause : "") < 0)
			*why = NULL;
		rc = rc == -ENOMEM ? rc : resp.status >= 400 && resp.status < 500 ? -EACCES : -EIO;
	} else if (aws_creds_lifetime(exp, time(NULL), lifetime_s)) {
		if (asprintf(why, "%s answered an Expiration that is not a future time", c->url) <
		    0)
			*why = NULL;
		rc = -EPROTO;
	} else {
		rc = aws_creds_encode(&got, secret);
	}
out:
	if (resp.body.data)
		explicit_bzero(resp.body.data, resp.body.len);
	http_response_free(&resp);
	creds_clear(&got);
	creds_zfree(token);
	free(exp);
	free(cause);
	return rc;
}

static const struct refresh_source_ops container_ops = {
	.fetch = container_fetch,
	.destroy = container_destroy,
};

/* Plain HTTP only to where the AWS SDKs allow it. */
static bool plain_host_ok(const char *url)
{
	static const char *const ok[] = {"127.",	  "localhost",	    "[::1]",
					 "169.254.170.2", "169.254.170.23", "[fd00:ec2::23]"};
	const char *h = url + 7;
	size_t n = strcspn(h, ":/?#");

	if (*h == '[')
		n = strcspn(h, "]/?#") + 1;
	for (size_t i = 0; i < sizeof(ok) / sizeof(*ok); i++) {
		size_t k = strlen(ok[i]);

		if (ok[i][k - 1] == '.' ? !strncmp(h, ok[i], k) : (n == k && !strncmp(h, ok[i], k)))
			return true;
	}
	return false;
}

int aws_container_create(const struct http_conf *http, struct refresh **out, char **why)
{
	const char *full = getenv("AWS_CONTAINER_CREDENTIALS_FULL_URI");
	const char *rel = getenv("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI");
	const char *file = getenv("AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE");
	const char *token = getenv("AWS_CONTAINER_AUTHORIZATION_TOKEN");
	const char *host = getenv("BUCKETFS_TEST_CONTAINER_HOST");
	struct container *c;
	char *what = NULL;

	if ((!rel || !*rel) && (!full || !*full))
		return -ENOENT;
	c = calloc(1, sizeof(*c));
	if (!c)
		return -ENOMEM;
	/* The relative URI wins, as in the AWS SDKs. */
	if (rel && *rel) {
		if (rel[0] != '/') {
			*why = strdup("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI must start with /");
			container_destroy(c);
			return -EINVAL;
		}
		if (asprintf(&c->url, "%s%s", host && *host ? host : ECS_HOST, rel) < 0)
			c->url = NULL;
	} else {
		if (strncmp(full, "https://", 8) &&
		    (strncmp(full, "http://", 7) || !plain_host_ok(full))) {
			if (asprintf(why,
				     "AWS_CONTAINER_CREDENTIALS_FULL_URI %s must be https://, "
				     "or http:// to a loopback or container agent address",
				     full) < 0)
				*why = NULL;
			container_destroy(c);
			return -EINVAL;
		}
		c->url = strdup(full);
	}
	if (file && *file)
		c->token_file = strdup(file);
	else if (token && *token)
		c->token = strdup(token);
	c->http = http_create(http);
	if (!c->url || !c->http || (file && *file && !c->token_file) ||
	    (!(file && *file) && token && *token && !c->token) ||
	    asprintf(&what, "container credentials (%s)", c->url) < 0) {
		container_destroy(c);
		return -ENOMEM;
	}
	if (c->token && strpbrk(c->token, "\r\n")) {
		*why = strdup("AWS_CONTAINER_AUTHORIZATION_TOKEN holds a line break");
		container_destroy(c);
		free(what);
		return -EINVAL;
	}
	*out = refresh_create(&container_ops, c, what, &aws_creds_names);
	free(what);
	return *out ? 0 : -ENOMEM;
}
