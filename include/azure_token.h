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
 * and refreshed ahead of its expiry (azure_token_schedule()) by one thread
 * at a time, while the others go on with the current token as long as it
 * is usable; a request the service refused reports it (azure_token_refused)
 * so that the next get fetches a new one. Tokens, secrets and assertions are
 * never logged and are zeroed when freed.
 */
#ifndef BUCKETFS_AZURE_TOKEN_H
#define BUCKETFS_AZURE_TOKEN_H

#include <stdbool.h>
#include <stdint.h>
#include <time.h>

#include "buf.h"
#include "http.h"

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

struct azure_token;

/* Where a provider gets its tokens: the real sources above, or a fake in
 * tests. */
struct azure_token_source_ops {
	/*
	 * Fetch a token: *token (malloc'd, the caller zeroes and frees it) and
	 * how long it lives from now, in seconds. Returns 0, or -errno with a
	 * one-line *why naming the cause (never a secret). Called by one thread
	 * at a time, without the provider's lock held. Required.
	 */
	int (*fetch)(void *ctx, char **token, int64_t *lifetime_s, char **why);
	/* Monotonic milliseconds. NULL: CLOCK_MONOTONIC. */
	int64_t (*now_ms)(void *ctx);
	/* Release ctx. May be NULL. */
	void (*destroy)(void *ctx);
};

/* A provider for conf (its strings are copied), or NULL with a one-line
 * *why. Nothing is sent until azure_token_start(). */
struct azure_token *azure_token_create(const struct azure_token_conf *conf, char **why);

/* A provider over any source; what names it in messages ("managed
 * identity", copied). ctx belongs to the provider from here on, even on
 * failure (NULL). */
struct azure_token *azure_token_create_source(const struct azure_token_source_ops *ops, void *ctx,
					      const char *what);

void azure_token_destroy(struct azure_token *t);

/* "workload identity (client id ..., tenant ...)": for logs and messages. */
const char *azure_token_what(const struct azure_token *t);

/* Fetch the first token now. 0, or -errno with one line in *why: "cannot
 * get a Microsoft Entra ID token by <source>: <cause>". */
int azure_token_start(struct azure_token *t, char **why);

/*
 * Append the current token to out, refreshing it first when it is due
 * (or waiting for the thread that does). *generation identifies the token
 * for azure_token_refused(). Returns 0, or -errno when no usable token can
 * be had (the cause is logged). Any thread.
 */
int azure_token_get(struct azure_token *t, struct buf *out, uint64_t *generation);

/* The service refused the token of this generation (expired, revoked):
 * the next get fetches a new one. A stale generation is ignored, so many
 * requests refused at once cost one fetch. Any thread. */
void azure_token_refused(struct azure_token *t, uint64_t generation);

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

/*
 * When a token that lives lifetime_ms from its fetch should be refreshed,
 * and until when it may still be sent, both in ms after the fetch. Refresh
 * when the time left falls under max(5 min, 10% of the lifetime), but
 * never in the first half of the lifetime (short-lived tokens); stop
 * sending it when under min(1 min, 10%) is left, for clock skew and
 * requests in flight.
 */
void azure_token_schedule(int64_t lifetime_ms, int64_t *refresh_ms, int64_t *usable_ms);

/* Append "name=value" (after '&' unless out is empty), the value
 * percent-encoded as application/x-www-form-urlencoded allows. */
int azure_token_form_add(struct buf *out, const char *name, const char *value);

#endif
