/*
 * Expiring secrets kept fresh (see refresh.h).
 *
 * The provider's state, all under its lock: the current secret (or none),
 * its generation, when to refresh it (refresh_at) and until when to send it
 * (usable_until), both monotonic ms; whether a thread is fetching
 * (refreshing); and after a failed fetch, the error and the time before
 * which nobody tries again (retry_at, backing off 1 s .. 30 s).
 *
 * A get takes the current secret when it is usable and either not yet due
 * for refresh, or already being refreshed, or refreshed in vain a moment
 * ago. Otherwise the caller fetches (dropping the lock meanwhile), unless a
 * fetch is under way, which it waits for when the secret is not usable. So
 * while the old secret is good a refresh holds up only the request that
 * makes it, no two fetches overlap, and when the source fails the secret is
 * used to the end.
 */
#include "refresh.h"

#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "creds.h"
#include "log.h"

#define RETRY_MIN_MS 1000
#define RETRY_MAX_MS 30000

struct refresh {
	const struct refresh_source_ops *ops;
	void *ctx;
	char *what;
	struct refresh_names names;
	pthread_mutex_t lock;
	pthread_cond_t done;  /* signalled when a fetch ends */
	char *token;	      /* protected by lock; zeroed when replaced */
	size_t token_len;     /* protected by lock */
	uint64_t generation;  /* protected by lock; +1 per secret */
	int64_t refresh_at;   /* protected by lock */
	int64_t usable_until; /* protected by lock */
	int64_t retry_at;     /* protected by lock */
	int64_t backoff_ms;   /* protected by lock */
	int last_error;	      /* protected by lock */
	bool refreshing;      /* protected by lock */
};

void refresh_schedule(int64_t lifetime_ms, int64_t *refresh_ms, int64_t *usable_ms)
{
	int64_t tenth = lifetime_ms / 10;
	int64_t margin = tenth > 300000 ? tenth : 300000;
	int64_t guard = tenth < 60000 ? tenth : 60000;

	if (margin > lifetime_ms / 2)
		margin = lifetime_ms / 2;
	*refresh_ms = lifetime_ms - margin;
	*usable_ms = lifetime_ms - guard;
}

static int64_t mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int64_t tok_now(const struct refresh *t)
{
	return t->ops->now_ms ? t->ops->now_ms(t->ctx) : mono_ms();
}

struct refresh *refresh_create(const struct refresh_source_ops *ops, void *ctx, const char *what,
			       const struct refresh_names *names)
{
	struct refresh *t = calloc(1, sizeof(*t));

	if (t)
		t->what = strdup(what);
	if (!t || !t->what) {
		if (ops->destroy)
			ops->destroy(ctx);
		if (t)
			free(t);
		return NULL;
	}
	t->ops = ops;
	t->names = *names;
	t->ctx = ctx;
	pthread_mutex_init(&t->lock, NULL);
	pthread_cond_init(&t->done, NULL);
	return t;
}

void refresh_destroy(struct refresh *t)
{
	if (!t)
		return;
	if (t->ops->destroy)
		t->ops->destroy(t->ctx);
	creds_zfree(t->token);
	pthread_cond_destroy(&t->done);
	pthread_mutex_destroy(&t->lock);
	free(t->what);
	free(t);
}

const char *refresh_what(const struct refresh *t)
{
	return t->what;
}

/* Fetch and install a token: called and returns with t->lock held, which
 * it drops while fetching. On failure, *why says why (caller frees). */
static int tok_fetch_locked(struct refresh *t, char **why)
{
	char *token = NULL;
	int64_t life_s = 0, t0, refresh_ms, usable_ms;
	int rc;

	*why = NULL;
	t->refreshing = true;
	t0 = tok_now(t);
	pthread_mutex_unlock(&t->lock);
	rc = t->ops->fetch(t->ctx, &token, &life_s, why);
	if (!rc && (life_s < 1 || !token))
		rc = -EPROTO;
	pthread_mutex_lock(&t->lock);
	t->refreshing = false;
	pthread_cond_broadcast(&t->done);
	if (rc) {
		creds_zfree(token);
		t->last_error = rc;
		t->backoff_ms = t->backoff_ms ? t->backoff_ms * 2 : RETRY_MIN_MS;
		if (t->backoff_ms > RETRY_MAX_MS)
			t->backoff_ms = RETRY_MAX_MS;
		t->retry_at = tok_now(t) + t->backoff_ms;
		if (!*why)
			*why = strdup(strerror(-rc));
		return rc;
	}
	creds_zfree(t->token);
	t->token = token;
	t->token_len = strlen(token);
	t->generation++;
	refresh_schedule(life_s * 1000, &refresh_ms, &usable_ms);
	t->refresh_at = t0 + refresh_ms;
	t->usable_until = t0 + usable_ms;
	t->retry_at = 0;
	t->backoff_ms = 0;
	t->last_error = 0;
	log_debug("%s %llu by %s: valid for %lld s, refreshed after %lld s", t->names.noun,
		  (unsigned long long)t->generation, t->what, (long long)life_s,
		  (long long)(refresh_ms / 1000));
	return 0;
}

int refresh_start(struct refresh *t, char **why)
{
	char *cause = NULL;
	int rc;

	pthread_mutex_lock(&t->lock);
	rc = tok_fetch_locked(t, &cause);
	pthread_mutex_unlock(&t->lock);
	if (rc && asprintf(why, "cannot get %s by %s: %s", t->names.a_noun, t->what,
			   cause ? cause : strerror(-rc)) < 0)
		*why = NULL;
	free(cause);
	return rc;
}

static bool tok_usable(const struct refresh *t, int64_t now)
{
	return t->token && now < t->usable_until;
}

int refresh_get(struct refresh *t, struct buf *out, uint64_t *generation)
{
	char *why = NULL;
	int64_t now;
	int rc;

	pthread_mutex_lock(&t->lock);
	for (;;) {
		now = tok_now(t);
		if (tok_usable(t, now) &&
		    (now < t->refresh_at || t->refreshing || now < t->retry_at))
			goto out_copy;
		if (!t->refreshing)
			break;
		/* Not usable: wait for the thread that fetches. */
		pthread_cond_wait(&t->done, &t->lock);
	}
	if (!tok_usable(t, now) && now < t->retry_at) {
		/* A fetch failed a moment ago: fail fast until the backoff ends. */
		rc = t->last_error ? t->last_error : -EIO;
		goto out;
	}
	rc = tok_fetch_locked(t, &why);
	now = tok_now(t);
	if (rc && tok_usable(t, now))
		log_warn(
			"cannot refresh the %s by %s (the current one is good for %lld s more): %s",
			t->names.noun, t->what, (long long)((t->usable_until - now) / 1000),
			why ? why : strerror(-rc));
	else if (rc)
		log_err("cannot get %s by %s: %s", t->names.a_noun, t->what,
			why ? why : strerror(-rc));
	if (!tok_usable(t, now)) {
		if (!rc) {
			log_warn("%s by %s expired before it could be used", t->names.noun,
				 t->what);
			rc = -ETIMEDOUT;
		}
		goto out;
	}
out_copy:
	*generation = t->generation;
	rc = buf_append(out, t->token, t->token_len);
out:
	pthread_mutex_unlock(&t->lock);
	free(why);
	return rc;
}

void refresh_refused(struct refresh *t, uint64_t generation)
{
	pthread_mutex_lock(&t->lock);
	if (t->token && generation == t->generation && t->usable_until) {
		log_info("the service refused %s %llu by %s: fetching a new one", t->names.noun,
			 (unsigned long long)generation, t->what);
		t->usable_until = 0;
		t->refresh_at = 0;
		t->retry_at = 0;
	}
	pthread_mutex_unlock(&t->lock);
}
