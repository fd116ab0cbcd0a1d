/*
 * The EC2 instance role through IMDSv2: PUT /latest/api/token for a
 * session token (kept and reused until near its TTL), GET the role name
 * from /latest/meta-data/iam/security-credentials/, then that role's
 * credentials, both with the session token in X-aws-ec2-metadata-token.
 * No IMDSv1 fallback: a token-less GET is what IMDSv2 exists to stop.
 * AWS_EC2_METADATA_SERVICE_ENDPOINT moves it, AWS_EC2_METADATA_DISABLED
 * turns it off, as in the AWS SDKs.
 */
#include "aws_creds.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "log.h"

#define IMDS_DEFAULT   "http://169.254.169.254"
#define IMDS_TOKEN     "/latest/api/token"
#define IMDS_ROLES     "/latest/meta-data/iam/security-credentials/"
#define IMDS_TTL_S     21600
#define IMDS_TTL       "21600"
#define IMDS_TTL_SLACK 60

struct imds {
	struct http *http;
	char *base;  /* without a trailing '/' */
	char *token; /* IMDSv2 session token; only the fetching thread uses it */
	time_t token_until;
	char *role;
};

static void imds_destroy(void *ctx)
{
	struct imds *m = ctx;

	if (!m)
		return;
	http_destroy(m->http);
	free(m->base);
	creds_zfree(m->token);
	free(m->role);
	free(m);
}

struct imds_call {
	const char *token; /* NULL: the token PUT itself */
};

static int imds_headers(void *ctx, struct curl_slist **headers)
{
	struct imds_call *c = ctx;

	if (c->token)
		return http_add_header(headers, "X-aws-ec2-metadata-token", c->token);
	return http_add_header(headers, "X-aws-ec2-metadata-token-ttl-seconds", IMDS_TTL);
}

/* One call: *body gets the answer of a 200 (malloc'd). */
static int imds_call(struct imds *m, const char *method, const char *path, char **body, char **why)
{
	struct imds_call c = {strcmp(method, "PUT") ? m->token : NULL};
	struct http_request req = {
		.method = method, .build_headers = imds_headers, .ctx = &c, .retries = -1};
	struct http_response resp = {0};
	struct http_mem empty = {"", 0};
	char *url = NULL;
	int rc;

	if (asprintf(&url, "%s%s", m->base, path) < 0)
		return -ENOMEM;
	req.url = url;
	if (!strcmp(method, "PUT")) {
		req.read_body = http_mem_read;
		req.body_ctx = &empty;
		req.has_body = true;
	}
	rc = http_execute(m->http, &req, &resp);
	if (rc) {
		if (asprintf(why, "cannot reach IMDS at %s: %s", m->base,
			     resp.error[0] ? resp.error : strerror(-rc)) < 0)
			*why = NULL;
		rc = -ENOENT;
	} else if (resp.status != 200) {
		if (asprintf(why, "IMDS %s %s answered HTTP %ld", method, path, resp.status) < 0)
			*why = NULL;
		rc = resp.status == 404 ? -ENOENT : -EACCES;
	} else {
		log_debug("%s %s: HTTP 200", method, url);
		*body = strdup(resp.body.data ? resp.body.data : "");
		if (!*body)
			rc = -ENOMEM;
	}
	if (resp.body.data)
		explicit_bzero(resp.body.data, resp.body.len);
	http_response_free(&resp);
	free(url);
	return rc;
}

/* A session token that lasts a while yet. */
static int imds_session(struct imds *m, char **why)
{
	char *token = NULL;
	int rc;

	if (m->token && time(NULL) < m->token_until)
		return 0;
	rc = imds_call(m, "PUT", IMDS_TOKEN, &token, why);
	if (rc)
		return rc;
	if (!*token || strpbrk(token, "\r\n")) {
		creds_zfree(token);
		*why = strdup("IMDS answered an empty session token");
		return -EPROTO;
	}
	creds_zfree(m->token);
	m->token = token;
	m->token_until = time(NULL) + IMDS_TTL_S - IMDS_TTL_SLACK;
	return 0;
}

static int imds_fetch(void *ctx, char **secret, int64_t *lifetime_s, char **why)
{
	struct imds *m = ctx;
	char *roles = NULL, *body = NULL, *exp = NULL, *cause = NULL, *path = NULL;
	struct creds got = {0};
	int rc;

	rc = imds_session(m, why);
	if (!rc && !m->role) {
		rc = imds_call(m, "GET", IMDS_ROLES, &roles, why);
		if (!rc) {
			roles[strcspn(roles, "\r\n")] = '\0';
			if (!*roles || strchr(roles, '/')) {
				*why = strdup("IMDS lists no instance role");
				rc = -ENOENT;
			} else {
				m->role = roles;
				roles = NULL;
			}
		}
	}
	if (!rc && asprintf(&path, "%s%s", IMDS_ROLES, m->role) < 0)
		rc = -ENOMEM;
	if (!rc)
		rc = imds_call(m, "GET", path, &body, why);
	if (rc == -EACCES) {
		/* The session token may have been revoked: a new one next time. */
		creds_zfree(m->token);
		m->token = NULL;
	}
	if (!rc) {
		rc = aws_json_creds_parse(body, strlen(body), false, &got, &exp, &cause);
		if (rc && asprintf(why, "IMDS credentials of role %s: %s", m->role,
				   cause ? cause : strerror(-rc)) < 0)
			*why = NULL;
	}
	if (!rc && aws_creds_lifetime(exp, time(NULL), lifetime_s)) {
		*why = strdup("IMDS answered an Expiration that is not a future time");
		rc = -EPROTO;
	}
	if (!rc)
		rc = aws_creds_encode(&got, secret);
	creds_clear(&got);
	creds_zfree(body);
	free(roles);
	free(path);
	free(exp);
	free(cause);
	return rc;
}

static const struct refresh_source_ops imds_ops = {
	.fetch = imds_fetch,
	.destroy = imds_destroy,
};

int aws_imds_create(const struct http_conf *http, struct refresh **out, char **why)
{
	const char *off = getenv("AWS_EC2_METADATA_DISABLED");
	const char *ep = getenv("AWS_EC2_METADATA_SERVICE_ENDPOINT");
	struct imds *m;
	char *what = NULL;
	size_t n;
	int rc;

	if (off && !strcasecmp(off, "true")) {
		*why = strdup("AWS_EC2_METADATA_DISABLED is true");
		return -ENOENT;
	}
	m = calloc(1, sizeof(*m));
	if (!m)
		return -ENOMEM;
	m->base = strdup(ep && *ep ? ep : IMDS_DEFAULT);
	m->http = http_create(http);
	if (!m->base || !m->http) {
		imds_destroy(m);
		return -ENOMEM;
	}
	n = strlen(m->base);
	while (n && m->base[n - 1] == '/')
		m->base[--n] = '\0';
	/* Whether there is an IMDS at all: the chain goes on without one. */
	rc = imds_session(m, why);
	if (rc) {
		imds_destroy(m);
		return rc;
	}
	if (asprintf(&what, "instance metadata (IMDSv2 at %s)", m->base) < 0) {
		imds_destroy(m);
		return -ENOMEM;
	}
	*out = refresh_create(&imds_ops, m, what, &aws_creds_names);
	free(what);
	return *out ? 0 : -ENOMEM;
}
