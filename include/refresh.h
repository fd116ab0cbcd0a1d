/*
 * A secret that expires, kept fresh: Microsoft Entra ID tokens
 * (azure_token.h) and temporary AWS credentials (aws_creds.h).
 *
 * A provider holds at most one secret (opaque bytes), fetched from one
 * source fixed at creation, and refreshed ahead of its expiry
 * (refresh_schedule()) by one thread at a time while the others go on with
 * the current one as long as it is usable. A request the service refused
 * reports it (refresh_refused) so that the next get fetches anew. Secrets
 * are never logged and are zeroed when freed.
 */
#ifndef BUCKETFS_REFRESH_H
#define BUCKETFS_REFRESH_H

#include <stdint.h>

#include "buf.h"

struct refresh;

/* Where a provider gets its secrets: a real source, or a fake in tests. */
struct refresh_source_ops {
	/*
	 * Fetch a secret: *secret (malloc'd NUL-terminated, the caller zeroes
	 * and frees it) and how long it lives from now, in seconds. Returns 0,
	 * or -errno with a one-line *why naming the cause (never a secret).
	 * Called by one thread at a time, without the provider's lock held.
	 * Required.
	 */
	int (*fetch)(void *ctx, char **secret, int64_t *lifetime_s, char **why);
	/* Monotonic milliseconds. NULL: CLOCK_MONOTONIC. */
	int64_t (*now_ms)(void *ctx);
	/* Release ctx. May be NULL. */
	void (*destroy)(void *ctx);
};

/* How messages name the secret: noun "Entra ID token" ("cannot refresh
 * the Entra ID token by WHAT"), a_noun "a Microsoft Entra ID token"
 * ("cannot get a Microsoft Entra ID token by WHAT: CAUSE"). Static. */
struct refresh_names {
	const char *noun;
	const char *a_noun;
};

/* A provider over a source; what names the source in messages ("managed
 * identity", copied). ctx belongs to the provider from here on, even on
 * failure (NULL). Nothing is fetched until refresh_start(). */
struct refresh *refresh_create(const struct refresh_source_ops *ops, void *ctx, const char *what,
			       const struct refresh_names *names);

void refresh_destroy(struct refresh *t);

/* "workload identity (client id ..., tenant ...)": for logs and messages. */
const char *refresh_what(const struct refresh *t);

/* Fetch the first secret now. 0, or -errno with one line in *why: "cannot
 * get <a_noun> by <what>: <cause>". */
int refresh_start(struct refresh *t, char **why);

/*
 * Append the current secret to out, refreshing it first when it is due
 * (or waiting for the thread that does). *generation identifies it for
 * refresh_refused(). Returns 0, or -errno when no usable secret can be had
 * (the cause is logged). Any thread.
 */
int refresh_get(struct refresh *t, struct buf *out, uint64_t *generation);

/* The service refused the secret of this generation (expired, revoked):
 * the next get fetches a new one. A stale generation is ignored, so many
 * requests refused at once cost one fetch. Any thread. */
void refresh_refused(struct refresh *t, uint64_t generation);

/*
 * When a secret that lives lifetime_ms from its fetch should be refreshed,
 * and until when it may still be sent, both in ms after the fetch. Refresh
 * when the time left falls under max(5 min, 10% of the lifetime), but
 * never in the first half of the lifetime (short-lived secrets); stop
 * sending it when under min(1 min, 10%) is left, for clock skew and
 * requests in flight.
 */
void refresh_schedule(int64_t lifetime_ms, int64_t *refresh_ms, int64_t *usable_ms);

#endif
