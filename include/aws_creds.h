/*
 * AWS credentials from wherever the platform puts them, kept fresh.
 *
 * The chain, in the order the README documents (each source found shadows
 * the ones after it): -o passwd_file=, -o profile= (when given, nothing
 * else is tried), then the environment (AWS_ACCESS_KEY_ID ...), web
 * identity (AWS_WEB_IDENTITY_TOKEN_FILE + AWS_ROLE_ARN, exchanged at STS),
 * container credentials (AWS_CONTAINER_CREDENTIALS_FULL_URI/_RELATIVE_URI),
 * the AWS_PROFILE or default profile (static keys, role_arn +
 * source_profile assume-role, credential_process), the s3fs password
 * files, the EC2 instance role (IMDSv2), else anonymous access.
 * -o creds=SOURCE pins one source.
 *
 * Every source but anonymous becomes a provider (refresh.h) whose secret is
 * the encoded credentials (aws_creds_encode); temporary ones are refreshed
 * ahead of their expiry. Signers take a snapshot with aws_creds_get().
 */
#ifndef BUCKETFS_AWS_CREDS_H
#define BUCKETFS_AWS_CREDS_H

#include <stdbool.h>
#include <stdint.h>
#include <time.h>

#include "creds.h"
#include "http.h"
#include "refresh.h"

/* -o creds= */
enum aws_creds_pin {
	AWS_CREDS_AUTO = 0,
	AWS_CREDS_ENV,
	AWS_CREDS_WEB_IDENTITY,
	AWS_CREDS_CONTAINER,
	AWS_CREDS_PROFILE,
	AWS_CREDS_PROCESS,
	AWS_CREDS_IMDS,
	AWS_CREDS_PASSWD,
	AWS_CREDS_ANONYMOUS,
};

/* How messages name what providers hold. */
extern const struct refresh_names aws_creds_names;

/* The names -o creds= takes, for options.c and messages. */
int aws_creds_pin_parse(const char *name, enum aws_creds_pin *out);

struct aws_creds_conf {
	enum aws_creds_pin pin;
	const char *passwd_file; /* -o passwd_file= */
	const char *profile;	 /* -o profile= */
	const char *bucket;	 /* for bucket:ACCESS:SECRET lines */
	const char *region;	 /* for STS */
	struct http_conf http;	 /* for STS, container credentials, IMDS */
};

/*
 * Walk the chain and fetch the first credentials. *out is a started
 * provider, or NULL for anonymous access; *what names the source for logs
 * ("web identity (role arn:...)"), malloc'd. Returns 0, or -errno with a
 * one-line *why.
 */
int aws_creds_resolve(const struct aws_creds_conf *conf, struct refresh **out, char **what,
		      char **why);

/* A snapshot of the provider's current credentials (out zeroed first; the
 * caller creds_clear()s it) and their generation for refresh_refused().
 * 0 or -errno. Any thread. */
int aws_creds_get(struct refresh *p, struct creds *out, uint64_t *generation);

/* A provider that hands out c forever (static keys), c copied. */
struct refresh *aws_creds_static(const struct creds *c, const char *what);

/* Credentials as one secret string and back: "AKID\nSECRET\nTOKEN".
 * -EINVAL when a value is empty (but the token) or holds a control
 * character. */
int aws_creds_encode(const struct creds *c, char **out);
int aws_creds_decode(const char *s, struct creds *out);

/* Lifetime in seconds of credentials expiring at exp (ISO 8601, "Z" or
 * "+00:00"), seen at now: -EPROTO when unparsable or already past. NULL or
 * "" exp: they do not expire (a century). */
int aws_creds_lifetime(const char *exp, time_t now, int64_t *lifetime_s);

/* Sources, each a file of its own; all return 0 or -errno with *why. */

/* STS (aws_sts.c). */
struct aws_sts_request {
	const char *endpoint;		/* "https://sts.REGION.amazonaws.com" or an override */
	const char *region;		/* for signing AssumeRole */
	const char *role_arn;		/* required */
	const char *session_name;	/* required */
	const char *web_identity_token; /* AssumeRoleWithWebIdentity; else AssumeRole */
	const struct creds *source;	/* AssumeRole: signed with these */
	const char *external_id;	/* AssumeRole, may be NULL */
	unsigned int duration_s;	/* 0: STS's default */
};

/* The STS endpoint for region: AWS_ENDPOINT_URL_STS, AWS_ENDPOINT_URL,
 * else https://sts.REGION.amazonaws.com. malloc'd. */
char *aws_sts_endpoint(const char *region);
int aws_sts_assume(struct http *http, const struct aws_sts_request *r, struct creds *out,
		   char **expiration, char **why);
/* An STS answer: creds and Expiration from <ACTIONResponse>, or *code and
 * *message from <ErrorResponse>. -EPROTO when neither. */
int aws_sts_parse(const char *xml, size_t len, const char *action, struct creds *out,
		  char **expiration, char **code, char **message);

/* Container credentials and IMDS answers, and credential_process output:
 * JSON with AccessKeyId, SecretAccessKey, Token (SessionToken for a
 * process) and Expiration. For a process, Version must be 1. On an error
 * answer (Code/Message and no keys) -EACCES with *why. */
int aws_json_creds_parse(const char *json, size_t len, bool process, struct creds *out,
			 char **expiration, char **why);

/* Container credentials (aws_container.c), from the environment: a
 * provider (not started) in *out. -ENOENT when neither URI variable is
 * set. */
int aws_container_create(const struct http_conf *http, struct refresh **out, char **why);

/* The EC2 instance role by IMDSv2 (aws_imds.c): a started provider in
 * *out. -ENOENT when AWS_EC2_METADATA_DISABLED is true or IMDS cannot be
 * reached. */
int aws_imds_create(const struct http_conf *http, struct refresh **out, char **why);

/* credential_process (aws_process.c): split command as a shell would
 * (quotes, backslashes; no expansion) into a NULL-terminated argv. */
int aws_process_split(const char *command, char ***argv, char **why);
void aws_process_argv_free(char **argv);
/* Its environment: ours without the variables holding secrets it has no
 * use for (AWS keys, tokens, Azure secrets). NULL-terminated, malloc'd. */
char **aws_process_env(char **environ_in);
/* A provider (not started) running command; what names it. */
int aws_process_create(const char *command, const char *what, struct refresh **out, char **why);

#endif
