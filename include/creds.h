/*
 * AWS credentials, and the static sources of them: the environment, the
 * shared config files' profiles, s3fs password files (the chain that
 * orders every source is aws_creds.h). Values are secrets: they are never
 * logged, and creds_clear() zeroes them before freeing.
 */
#ifndef BUCKETFS_CREDS_H
#define BUCKETFS_CREDS_H

#include <stdbool.h>
#include <stddef.h>

struct creds {
	char *access_key; /* NULL for anonymous access */
	char *secret_key;
	char *session_token; /* may be NULL */
	const char *source;  /* static description for logs: "environment", ... */
};

/* AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY / AWS_SESSION_TOKEN.
 * Returns 0, -ENOENT if unset, -EINVAL (with *why) if only half is set. */
int creds_from_env(struct creds *out, char **why);

/* A profile from the shared credentials file (default ~/.aws/credentials,
 * or AWS_SHARED_CREDENTIALS_FILE), then the config file (~/.aws/config or
 * AWS_CONFIG_FILE, where sections are "[profile NAME]" except "[default]").
 * Returns 0, -ENOENT if no such profile in either, -EINVAL with *why when
 * the profile lacks a key. */
int creds_from_profile(const char *profile, struct creds *out, char **why);

/* A profile's settings, from the shared credentials file and then the
 * config file (a key the first sets is kept). Strings are NULL when
 * absent; all are zeroed when cleared. */
struct creds_profile {
	bool found;
	char *ak, *sk, *token;
	char *role_arn, *source_profile, *role_session_name, *external_id;
	char *duration_seconds;
	char *credential_process;
	char *web_identity_token_file;
};

/* 0, -ENOENT when neither file has the profile, -errno with *why when a
 * file cannot be read. */
int creds_profile_read(const char *profile, struct creds_profile *out, char **why);
void creds_profile_clear(struct creds_profile *p);

/* An s3fs password file: lines "ACCESS:SECRET" or "BUCKET:ACCESS:SECRET";
 * '#' comments and blank lines ignored; a bucket line for our bucket wins
 * over a bare line. Refused with -EPERM and *why if the file is readable by
 * group or others. -ENOENT if the file does not exist. */
int creds_from_passwd_file(const char *path, const char *bucket, struct creds *out, char **why);

/* Read a whole secret-bearing file into *text (free it zeroed). With
 * check_mode, refuse (-EPERM) one that group or others can read, as s3fs
 * does: "<what> PATH is readable by group or others (chmod 600 it)".
 * -ENOENT (no *why) if it does not exist. */
int creds_read_secret_file(const char *path, const char *what, bool check_mode, char **text,
			   char **why);

/* A file holding one token (web identity, Entra federated, container
 * authorization), read afresh at each use since kubelet rewrites such
 * files; surrounding blanks dropped. Not checked for mode: kubelet makes
 * projected tokens 0644. -ENOENT, -EINVAL (empty, or a line break inside)
 * with *why naming "<what> PATH". */
int creds_read_token_file(const char *path, const char *what, char **token, char **why);

/* Set out to copies of the keys (token may be NULL or ""). 0 or -ENOMEM. */
int creds_set(struct creds *out, const char *ak, const char *sk, const char *token,
	      const char *source);

/* An access key id as logs and messages show it: whole up to 24
 * characters (AWS key ids have 20), a longer one cut to its ends
 * ("kc.n...16Zl"), since some S3 gateways take a bearer token as the key
 * id (seed 002). out: 32 bytes. */
const char *creds_key_id_shown(const char *akid, char out[32]);

/* Zero a string and free it (NULL is fine). */
void creds_zfree(char *s);

/* The same for binary contents (a key that may hold NUL bytes): *data
 * (NUL-terminated too) and its length. */
int creds_read_secret_bytes(const char *path, const char *what, bool check_mode, char **data,
			    size_t *len, char **why);

/* Zero and free every field. */
void creds_clear(struct creds *c);

#endif
