/*
 * Microsoft Entra ID access tokens for Azure Blob Storage, kept fresh.
 *
 * A token provider holds at most one token, fetched from one source fixed
 * at creation:
 *   managed identity    GET {imds}/metadata/identity/oauth2/token (Metadata: true)
 *   workload identity   POST {authority}{tenant}/oauth2/v2.0/token with the
 *                       federated token file's contents as client_assertion
 *                       (re-read at every fetch: kubelet rotates the file)
 *   service principal   the same endpoint with client_secret
 * and kept fresh by the generic provider (refresh.h). Tokens, secrets and
 * assertions are never logged and are zeroed when freed.
 */
#ifndef BUCKETFS_AZURE_TOKEN_H
#define BUCKETFS_AZURE_TOKEN_H

#include <stdbool.h>
#include <stdint.h>
#include <time.h>

#include "buf.h"
#include "http.h"
#include "refresh.h"

#define AZURE_TOKEN_RESOURCE  "https://storage.azure.com/"
#define AZURE_TOKEN_SCOPE     "https://storage.azure.com/.default"
#define AZURE_TOKEN_IMDS      "http://169.254.169.254"
#define AZURE_TOKEN_AUTHORITY "https://login.microsoftonline.com/"
#define AZURE_TOKEN_MAX_LEN   (32u << 10) /* longest access token accepted */

enum azure_token_kind {
	AZURE_TOKEN_NONE = 0,
	AZURE_TOKEN_MANAGED_IDENTITY,
	AZURE_TOKEN_WORKLOAD_IDENTITY,
	AZURE_TOKEN_CLIENT_SECRET,
};

struct azure_token_conf {
	enum azure_token_kind kind;
	/* Managed identity: a user-assigned identity's client id, NULL for the
	 * system-assigned one. Otherwise the application's; required. */
	const char *client_id;
	const char *tenant_id;	   /* workload identity, service principal */
	const char *client_secret; /* service principal */
	const char *token_file;	   /* workload identity */
	const char *authority;	   /* https URL; NULL: AZURE_TOKEN_AUTHORITY */
	const char *imds;	   /* base URL; NULL: AZURE_TOKEN_IMDS */
	struct http_conf http;
};

/* A provider (refresh.h) of tokens from conf's source (its strings are
 * copied), or NULL with a one-line *why. Nothing is sent until
 * refresh_start(). */
struct refresh *azure_token_create(const struct azure_token_conf *conf, char **why);

/* Pure parts, exposed for unit tests. */

/* The members of a token endpoint's JSON answer that matter here. */
struct azure_token_answer {
	char *access_token;
	char *token_type;
	char *error;
	char *error_description;
	bool has_expires_in, has_expires_on;
	int64_t expires_in; /* seconds from now; a number, or digits in a string (IMDS) */
	int64_t expires_on; /* seconds since the epoch; likewise */
};

/* Parse a JSON object (strictly: RFC 8259, nesting at most 32 deep, no
 * duplicate of the members above). 0, -EPROTO when malformed, -ENOMEM. */
int azure_token_parse(const char *json, size_t len, struct azure_token_answer *out);

/* Zero and free the strings. */
void azure_token_answer_clear(struct azure_token_answer *a);

/* The token's lifetime from an answer received at wall time now: expires_in,
 * else expires_on - now. -EPROTO when missing or implausible (under 1 s or
 * over a year). */
int azure_token_lifetime(const struct azure_token_answer *a, time_t now, int64_t *lifetime_s);

#endif
