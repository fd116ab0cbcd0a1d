/*
 * The AWS credential chain (see aws_creds.h): which source applies, and
 * the sources that are STS exchanges (web identity, a profile's
 * assume-role). Each source is a refresh.h provider whose secret is the
 * three values joined by newlines, so that one lock-protected string is
 * all a refresh swaps and a signer copies.
 */
#include "aws_creds.h"

#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "json.h"
#include "log.h"
#include "s3_xml.h"

#define STATIC_LIFE_S	(100LL * 365 * 86400)
#define MAX_LIFE_S	(366LL * 86400)
#define ROLE_CHAIN_MAX	4
#define SECRET_MAX_LEN	(64u << 10)
#define IMDS_QUICK_SECS 1

static const struct {
	const char *name;
	enum aws_creds_pin pin;
} pins[] = {
	{"auto", AWS_CREDS_AUTO},
	{"env", AWS_CREDS_ENV},
	{"web-identity", AWS_CREDS_WEB_IDENTITY},
	{"container", AWS_CREDS_CONTAINER},
	{"profile", AWS_CREDS_PROFILE},
	{"process", AWS_CREDS_PROCESS},
	{"imds", AWS_CREDS_IMDS},
	{"passwd", AWS_CREDS_PASSWD},
	{"anonymous", AWS_CREDS_ANONYMOUS},
};

int aws_creds_pin_parse(const char *name, enum aws_creds_pin *out)
{
	for (size_t i = 0; i < sizeof(pins) / sizeof(*pins); i++) {
		if (!strcmp(name, pins[i].name)) {
			*out = pins[i].pin;
			return 0;
		}
	}
	return -EINVAL;
}

static const char *pin_name(enum aws_creds_pin pin)
{
	for (size_t i = 0; i < sizeof(pins) / sizeof(*pins); i++)
		if (pins[i].pin == pin)
			return pins[i].name;
	return "?";
}

const struct refresh_names aws_creds_names = {
	.noun = "AWS credentials",
	.a_noun = "AWS credentials",
};

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

/* ---- encoding, snapshots ---- */

static bool value_ok(const char *s)
{
	if (!s || !*s || strlen(s) > SECRET_MAX_LEN)
		return false;
	for (; *s; s++)
		if ((unsigned char)*s < 0x20 || *s == 0x7f)
			return false;
	return true;
}

int aws_creds_encode(const struct creds *c, char **out)
{
	bool token = c->session_token && *c->session_token;

	if (!value_ok(c->access_key) || !value_ok(c->secret_key) ||
	    (token && !value_ok(c->session_token)))
		return -EINVAL;
	if (asprintf(out, "%s\n%s\n%s", c->access_key, c->secret_key,
		     token ? c->session_token : "") < 0)
		return -ENOMEM;
	return 0;
}

int aws_creds_decode(const char *s, struct creds *out)
{
	const char *nl1 = strchr(s, '\n'), *nl2 = nl1 ? strchr(nl1 + 1, '\n') : NULL;
	char *ak, *sk;
	int rc;

	memset(out, 0, sizeof(*out));
	if (!nl2 || nl1 == s || nl2 == nl1 + 1 || strchr(nl2 + 1, '\n'))
		return -EINVAL;
	ak = strndup(s, (size_t)(nl1 - s));
	sk = strndup(nl1 + 1, (size_t)(nl2 - nl1 - 1));
	rc = ak && sk ? creds_set(out, ak, sk, nl2 + 1, NULL) : -ENOMEM;
	creds_zfree(ak);
	creds_zfree(sk);
	return rc;
}

int aws_creds_get(struct refresh *p, struct creds *out, uint64_t *generation)
{
	struct buf b;
	int rc;

	memset(out, 0, sizeof(*out));
	buf_init(&b, 3 * SECRET_MAX_LEN + 3);
	rc = refresh_get(p, &b, generation);
	if (!rc)
		rc = aws_creds_decode(b.data ? b.data : "", out);
	if (b.data)
		explicit_bzero(b.data, b.len);
	buf_free(&b);
	return rc;
}

int aws_creds_lifetime(const char *exp, time_t now, int64_t *lifetime_s)
{
	char norm[64];
	size_t n;
	time_t t;

	if (!exp || !*exp) {
		*lifetime_s = STATIC_LIFE_S;
		return 0;
	}
	/* "+00:00" is how Python's isoformat() writes UTC: take it as "Z". */
	n = strlen(exp);
	if (n >= sizeof(norm))
		return -EPROTO;
	memcpy(norm, exp, n + 1);
	if (n > 6 && !strcmp(norm + n - 6, "+00:00"))
		strcpy(norm + n - 6, "Z");
	if (s3_parse_iso8601(norm, &t))
		return -EPROTO;
	if (t <= now || t - now > MAX_LIFE_S)
		return -EPROTO;
	*lifetime_s = t - now;
	return 0;
}

int aws_json_creds_parse(const char *json, size_t len, bool process, struct creds *out,
			 char **expiration, char **why)
{
	char *ak = NULL, *sk = NULL, *token = NULL, *code = NULL, *message = NULL;
	bool has_version = false;
	int64_t version = 0;
	const struct json_field fields[] = {
		{"AccessKeyId", JSON_STRING, &ak, NULL, NULL},
		{"SecretAccessKey", JSON_STRING, &sk, NULL, NULL},
		{process ? "SessionToken" : "Token", JSON_STRING, &token, NULL, NULL},
		{"Expiration", JSON_STRING, expiration, NULL, NULL},
		{"Code", JSON_STRING, &code, NULL, NULL},
		{"Message", JSON_STRING, &message, NULL, NULL},
		{"Version", JSON_INT, NULL, &has_version, &version},
	};
	int rc;

	memset(out, 0, sizeof(*out));
	*expiration = NULL;
	rc = json_object_fields(json, len, fields, sizeof(fields) / sizeof(*fields));
	if (rc == -EPROTO)
		*why = strdup("the answer is not a JSON object");
	else if (rc)
		goto out;
	else if (process && (!has_version || version != 1))
		*why = strdup("its output lacks \"Version\": 1"), rc = -EPROTO;
	else if (!ak && !sk && (code || message)) {
		if (code)
			log_one_line(code, 100);
		if (message)
			log_one_line(message, 300);
		*why = why_fmt("%s%s%s", code ? code : "", code && message ? ": " : "",
			       message ? message : "");
		rc = -EACCES;
	} else if (!value_ok(ak) || !value_ok(sk) || (token && *token && !value_ok(token))) {
		*why = strdup("the answer has no usable AccessKeyId and SecretAccessKey");
		rc = -EPROTO;
	} else if (!process && code && strcmp(code, "Success")) {
		log_one_line(code, 60);
		*why = why_fmt("the answer's Code is '%s'", code);
		rc = -EACCES;
	} else {
		rc = creds_set(out, ak, sk, token, NULL);
	}
out:
	creds_zfree(ak);
	creds_zfree(sk);
	creds_zfree(token);
	free(code);
	free(message);
	if (rc) {
		free(*expiration);
		*expiration = NULL;
	}
	return rc;
}

/* ---- static keys ---- */

static int static_fetch(void *ctx, char **secret, int64_t *lifetime_s, char **why)
{
	(void)why;
	*lifetime_s = STATIC_LIFE_S;
	*secret = strdup(ctx);
	return *secret ? 0 : -ENOMEM;
}

static void static_destroy(void *ctx)
{
	creds_zfree(ctx);
}

static const struct refresh_source_ops static_ops = {
	.fetch = static_fetch,
	.destroy = static_destroy,
};

struct refresh *aws_creds_static(const struct creds *c, const char *what)
{
	char *secret = NULL;

	if (aws_creds_encode(c, &secret))
		return NULL;
	return refresh_create(&static_ops, secret, what, &aws_creds_names);
}

/* ---- STS sources: web identity, a profile's assume-role ---- */

struct sts_source {
	struct http *http;
	char *endpoint;
	char *region;
	char *role_arn;
	char *session_name;
	char *external_id;
	unsigned int duration_s;
	char *token_file;      /* web identity: re-read at every fetch */
	struct refresh *inner; /* assume-role: the source profile's keys */
};

static void sts_destroy(void *ctx)
{
	struct sts_source *s = ctx;

	if (!s)
		return;
	http_destroy(s->http);
	free(s->endpoint);
	free(s->region);
	free(s->role_arn);
	free(s->session_name);
	free(s->external_id);
	free(s->token_file);
	refresh_destroy(s->inner);
	free(s);
}

static int sts_fetch(void *ctx, char **secret, int64_t *lifetime_s, char **why)
{
	struct sts_source *s = ctx;
	struct aws_sts_request r = {.endpoint = s->endpoint,
				    .region = s->region,
				    .role_arn = s->role_arn,
				    .session_name = s->session_name,
				    .external_id = s->external_id,
				    .duration_s = s->duration_s};
	struct creds src = {0}, got = {0};
	char *token = NULL, *exp = NULL;
	uint64_t gen;
	int rc;

	if (s->token_file) {
		rc = creds_read_token_file(s->token_file, "web identity token file", &token, why);
		r.web_identity_token = token;
	} else {
		rc = aws_creds_get(s->inner, &src, &gen);
		if (rc)
			*why = why_fmt("no credentials from %s", refresh_what(s->inner));
		r.source = &src;
	}
	if (!rc)
		rc = aws_sts_assume(s->http, &r, &got, &exp, why);
	if (!rc && aws_creds_lifetime(exp, time(NULL), lifetime_s)) {
		*why = why_fmt("STS answered an Expiration that is not a future time: '%.40s'",
			       exp);
		rc = -EPROTO;
	}
	if (!rc)
		rc = aws_creds_encode(&got, secret);
	creds_clear(&src);
	creds_clear(&got);
	creds_zfree(token);
	free(exp);
	return rc;
}

static const struct refresh_source_ops sts_ops = {
	.fetch = sts_fetch,
	.destroy = sts_destroy,
};

static char *session_name(const char *given)
{
	char *s = NULL;

	if (given && *given)
		return strdup(given);
	if (asprintf(&s, "bucketfs-%lld", (long long)time(NULL)) < 0)
		return NULL;
	return s;
}

/* An STS source; inner (owned from here on, even on failure) for
 * assume-role, token_file for web identity. */
static int sts_create(const struct aws_creds_conf *conf, const char *role_arn,
		      const char *given_session, const char *external_id, const char *duration,
		      const char *token_file, struct refresh *inner, const char *what,
		      struct refresh **out, char **why)
{
	struct sts_source *s = calloc(1, sizeof(*s));
	unsigned long d = 0;
	char *end;

	if (!s) {
		refresh_destroy(inner);
		return -ENOMEM;
	}
	s->inner = inner;
	if (duration && *duration) {
		d = strtoul(duration, &end, 10);
		if (*end || d < 900 || d > 43200) {
			*why = why_fmt("duration_seconds '%s' is not a number from 900 to 43200",
				       duration);
			sts_destroy(s);
			return -EINVAL;
		}
	}
	s->duration_s = (unsigned int)d;
	s->endpoint = aws_sts_endpoint(conf->region);
	s->region = strdup(conf->region ? conf->region : "us-east-1");
	s->role_arn = strdup(role_arn);
	s->session_name = session_name(given_session);
	s->external_id = external_id ? strdup(external_id) : NULL;
	s->token_file = token_file ? strdup(token_file) : NULL;
	s->http = http_create(&conf->http);
	if (!s->endpoint || !s->region || !s->role_arn || !s->session_name || !s->http ||
	    (external_id && !s->external_id) || (token_file && !s->token_file)) {
		sts_destroy(s);
		return -ENOMEM;
	}
	*out = refresh_create(&sts_ops, s, what, &aws_creds_names);
	return *out ? 0 : -ENOMEM;
}

/* ---- the chain ---- */

static int from_env(struct refresh **out, char **what, char **why)
{
	struct creds c;
	int rc = creds_from_env(&c, why);

	if (rc)
		return rc;
	*out = aws_creds_static(&c, "environment");
	*what = strdup("environment");
	creds_clear(&c);
	return *out && *what ? 0 : -ENOMEM;
}

static int from_web_identity(const struct aws_creds_conf *conf, struct refresh **out, char **what,
			     char **why)
{
	const char *file = getenv("AWS_WEB_IDENTITY_TOKEN_FILE");
	const char *role = getenv("AWS_ROLE_ARN");

	if ((!file || !*file) && (!role || !*role))
		return -ENOENT;
	if (!file || !*file || !role || !*role) {
		*why = strdup(file && *file ? "AWS_WEB_IDENTITY_TOKEN_FILE is set but AWS_ROLE_ARN "
					      "is not"
					    : "AWS_ROLE_ARN is set but AWS_WEB_IDENTITY_TOKEN_FILE "
					      "is not");
		return -EINVAL;
	}
	*what = why_fmt("web identity (role %s)", role);
	if (!*what)
		return -ENOMEM;
	return sts_create(conf, role, getenv("AWS_ROLE_SESSION_NAME"), NULL, NULL, file, NULL,
			  *what, out, why);
}

static int from_profile(const struct aws_creds_conf *conf, const char *name, bool process_only,
			int depth, struct refresh **out, char **what, char **why);

/* role_arn + source_profile: the source's credentials, exchanged at STS. */
static int from_assume_role(const struct aws_creds_conf *conf, const char *name,
			    const struct creds_profile *p, int depth, struct refresh **out,
			    char **what, char **why)
{
	struct refresh *inner = NULL;
	char *inner_what = NULL;
	int rc;

	if (depth >= ROLE_CHAIN_MAX) {
		*why = why_fmt("profile '%s': source_profile chain longer than %d", name,
			       ROLE_CHAIN_MAX);
		return -ELOOP;
	}
	if (!strcmp(p->source_profile, name)) {
		/* A profile that is its own source uses its static keys. */
		struct creds c;

		if (!p->ak || !p->sk) {
			*why = why_fmt("profile '%s' is its own source_profile but has no keys",
				       name);
			return -EINVAL;
		}
		rc = creds_set(&c, p->ak, p->sk, p->token, NULL);
		if (rc)
			return rc;
		inner = aws_creds_static(&c, name);
		creds_clear(&c);
		if (!inner)
			return -ENOMEM;
	} else {
		rc = from_profile(conf, p->source_profile, false, depth + 1, &inner, &inner_what,
				  why);
		if (rc == -ENOENT) {
			free(*why);
			*why = why_fmt("profile '%s': source_profile '%s' not found or without "
				       "credentials",
				       name, p->source_profile);
		}
		if (rc)
			return rc;
		free(inner_what);
	}
	*what = why_fmt("profile %s (role %s via profile %s)", name, p->role_arn,
			p->source_profile);
	if (!*what) {
		refresh_destroy(inner);
		return -ENOMEM;
	}
	return sts_create(conf, p->role_arn, p->role_session_name, p->external_id,
			  p->duration_seconds, NULL, inner, *what, out, why);
}

/*
 * A profile, in the order the AWS CLI takes its settings: role_arn with
 * source_profile (or with web_identity_token_file), static keys,
 * credential_process. -ENOENT when the profile does not exist, or has no
 * credentials (with process_only: no credential_process), *why saying so
 * in that case.
 */
static int from_profile(const struct aws_creds_conf *conf, const char *name, bool process_only,
			int depth, struct refresh **out, char **what, char **why)
{
	struct creds_profile p;
	int rc;

	rc = creds_profile_read(name, &p, why);
	if (rc)
		return rc;
	if (process_only) {
		rc = -ENOENT;
	} else if (p.role_arn && p.source_profile) {
		rc = from_assume_role(conf, name, &p, depth, out, what, why);
		goto out;
	} else if (p.role_arn && p.web_identity_token_file) {
		*what = why_fmt("profile %s (web identity, role %s)", name, p.role_arn);
		rc = *what ? sts_create(conf, p.role_arn, p.role_session_name, NULL,
					p.duration_seconds, p.web_identity_token_file, NULL, *what,
					out, why)
			   : -ENOMEM;
		goto out;
	} else if (p.role_arn) {
		*why = why_fmt("profile '%s' has role_arn but no source_profile (credential_source "
			       "is not supported)",
			       name);
		rc = -EINVAL;
		goto out;
	} else if (p.ak && *p.ak && p.sk && *p.sk) {
		struct creds c;

		rc = creds_set(&c, p.ak, p.sk, p.token, NULL);
		if (!rc) {
			*what = why_fmt("profile %s", name);
			*out = aws_creds_static(&c, *what ? *what : "profile");
			rc = *what && *out ? 0 : -ENOMEM;
		}
		creds_clear(&c);
		goto out;
	} else {
		rc = -ENOENT;
	}
	if (p.credential_process && *p.credential_process) {
		*what = why_fmt("credential_process of profile %s", name);
		rc = *what ? aws_process_create(p.credential_process, *what, out, why) : -ENOMEM;
	} else if (process_only) {
		*why = why_fmt("profile '%s' has no credential_process", name);
		rc = -ENOENT;
	} else {
		/* A profile of settings only (a region): the chain goes on. */
		*why = why_fmt("profile '%s' has no aws_access_key_id and aws_secret_access_key, "
			       "role_arn or credential_process",
			       name);
		rc = -ENOENT;
	}
out:
	creds_profile_clear(&p);
	return rc;
}

static int from_passwd(const struct aws_creds_conf *conf, const char *path, struct refresh **out,
		       char **what, char **why)
{
	struct creds c;
	int rc = creds_from_passwd_file(path, conf->bucket, &c, why);

	if (rc)
		return rc;
	*what = why_fmt("password file %s", path);
	*out = *what ? aws_creds_static(&c, *what) : NULL;
	creds_clear(&c);
	return *out ? 0 : -ENOMEM;
}

/* The profile the chain uses: AWS_PROFILE (which must exist) or default. */
static const char *chain_profile(bool *named)
{
	const char *p = getenv("AWS_PROFILE");

	*named = p && *p;
	return *named ? p : "default";
}

/* The s3fs password files: ~/.passwd-s3fs, /etc/passwd-s3fs. */
static int from_s3fs_files(const struct aws_creds_conf *conf, struct refresh **out, char **what,
			   char **why)
{
	const char *home = getenv("HOME");
	char path[4096];
	int rc;

	snprintf(path, sizeof(path), "%s/.passwd-s3fs", home && *home ? home : "/root");
	rc = from_passwd(conf, path, out, what, why);
	if (rc != -ENOENT)
		return rc;
	return from_passwd(conf, "/etc/passwd-s3fs", out, what, why);
}

/* One source, pinned or as a step of the chain. -ENOENT: not configured. */
static int from_source(const struct aws_creds_conf *conf, enum aws_creds_pin src, bool pinned,
		       struct refresh **out, char **what, char **why)
{
	struct http_conf quick = conf->http;
	const char *profile;
	bool named = false;
	int rc;

	switch (src) {
	case AWS_CREDS_ENV:
		return from_env(out, what, why);
	case AWS_CREDS_WEB_IDENTITY:
		return from_web_identity(conf, out, what, why);
	case AWS_CREDS_CONTAINER:
		rc = aws_container_create(&conf->http, out, why);
		if (!rc)
			*what = strdup(refresh_what(*out));
		return rc;
	case AWS_CREDS_PROFILE:
	case AWS_CREDS_PROCESS:
		profile = conf->profile ? conf->profile : chain_profile(&named);
		named |= conf->profile != NULL;
		rc = from_profile(conf, profile, src == AWS_CREDS_PROCESS, 0, out, what, why);
		if (rc == -ENOENT && (named || pinned) && !*why)
			*why = why_fmt("profile '%s'%s not found in the AWS config files", profile,
				       conf->profile	       ? ""
				       : getenv("AWS_PROFILE") ? " (AWS_PROFILE)"
							       : "");
		if (rc == -ENOENT && (named || pinned))
			rc = -EINVAL;
		return rc;
	case AWS_CREDS_PASSWD:
		if (conf->passwd_file) {
			rc = from_passwd(conf, conf->passwd_file, out, what, why);
			if (rc == -ENOENT)
				*why = why_fmt("password file %s does not exist",
					       conf->passwd_file);
			return rc == -ENOENT ? -EINVAL : rc;
		}
		return from_s3fs_files(conf, out, what, why);
	case AWS_CREDS_IMDS:
		/* In the chain, a machine without IMDS must not hold the mount up:
		 * one quick try, as the AWS SDKs make. */
		if (!pinned) {
			quick.connect_timeout = IMDS_QUICK_SECS;
			quick.request_timeout = IMDS_QUICK_SECS;
			quick.retries = 0;
		}
		rc = aws_imds_create(&quick, out, why);
		if (!rc)
			*what = strdup(refresh_what(*out));
		return rc;
	default:
		return -ENOENT;
	}
}

int aws_creds_resolve(const struct aws_creds_conf *conf, struct refresh **out, char **what,
		      char **why)
{
	static const enum aws_creds_pin chain[] = {
		AWS_CREDS_ENV,	   AWS_CREDS_WEB_IDENTITY, AWS_CREDS_CONTAINER,
		AWS_CREDS_PROFILE, AWS_CREDS_PASSWD,	   AWS_CREDS_IMDS,
	};
	enum aws_creds_pin pin = conf->pin;
	char *cause = NULL;
	int rc = -ENOENT;

	*out = NULL;
	*what = NULL;
	*why = NULL;
	/* An explicit file or profile is a pin. */
	if (pin == AWS_CREDS_AUTO && conf->passwd_file)
		pin = AWS_CREDS_PASSWD;
	else if (pin == AWS_CREDS_AUTO && conf->profile)
		pin = AWS_CREDS_PROFILE;
	if (pin == AWS_CREDS_ANONYMOUS) {
		rc = 0;
	} else if (pin != AWS_CREDS_AUTO) {
		rc = from_source(conf, pin, true, out, what, &cause);
		if (rc == -ENOENT && !cause)
			cause = strdup("not configured");
	} else {
		for (size_t i = 0; i < sizeof(chain) / sizeof(*chain) && rc == -ENOENT; i++) {
			free(cause);
			cause = NULL;
			rc = from_source(conf, chain[i], false, out, what, &cause);
		}
		if (rc == -ENOENT) {
			free(cause);
			cause = NULL;
			rc = 0;
		}
	}
	if (!rc && *out)
		rc = refresh_start(*out, &cause);
	if (rc) {
		refresh_destroy(*out);
		*out = NULL;
		free(*what);
		*what = NULL;
		if (conf->pin != AWS_CREDS_AUTO)
			*why = why_fmt("creds=%s: %s", pin_name(pin),
				       cause ? cause : strerror(-rc));
		else
			*why = cause ? strdup(cause) : strdup(strerror(-rc));
	} else if (!*out) {
		*what = strdup("none (anonymous access)");
	}
	free(cause);
	return rc;
}
