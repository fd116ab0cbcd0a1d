/*
 * Microsoft Entra ID tokens (see azure_token.h).
 *
 * The provider's state, all under its lock: the current token (or none),
 * its generation, when to refresh it (refresh_at) and until when to send it
 * (usable_until), both monotonic ms; whether a thread is fetching
 * (refreshing); and after a failed fetch, the error and the time before
 * which nobody tries again (retry_at, backing off 1 s .. 30 s).
 *
 * A get takes the current token when it is usable and either not yet due
 * for refresh, or already being refreshed, or refreshed in vain a moment
 * ago. Otherwise the caller fetches (dropping the lock meanwhile), unless a
 * fetch is under way, which it waits for when the token is not usable. So
 * while the old token is good a refresh holds up only the request that
 * makes it, no two fetches overlap, and when the source fails the token is
 * used to the end.
 *
 * JSON answers are parsed here, with no dependency: the members needed are
 * a handful of strings and integers at the top of one object, and the
 * parser checks the whole document's structure while skipping the rest.
 */
#include "azure_token.h"

#include <ctype.h>
#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "creds.h"
#include "log.h"
#include "uri.h"

#define JSON_MAX_DEPTH	 32
#define JSON_STRING_MAX	 (1u << 20)
#define TOKEN_MAX_LIFE_S (366LL * 86400)
#define FORM_MAX	 (1u << 20) /* the assertion is a few KiB */
#define RETRY_MIN_MS	 1000
#define RETRY_MAX_MS	 30000
#define IMDS_PATH	 "/metadata/identity/oauth2/token"
#define IMDS_API	 "2018-02-01"
/* IMDS answers 404 or 410 while it is updating: ask again a few times. */
#define IMDS_BUSY_TRIES 4

struct azure_token {
	const struct azure_token_source_ops *ops;
	void *ctx;
	char *what;
	pthread_mutex_t lock;
	pthread_cond_t done;  /* signalled when a fetch ends */
	char *token;	      /* protected by lock; zeroed when replaced */
	size_t token_len;     /* protected by lock */
	uint64_t generation;  /* protected by lock; +1 per token */
	int64_t refresh_at;   /* protected by lock */
	int64_t usable_until; /* protected by lock */
	int64_t retry_at;     /* protected by lock */
	int64_t backoff_ms;   /* protected by lock */
	int last_error;	      /* protected by lock */
	bool refreshing;      /* protected by lock */
};

static void zfree(char *s)
{
	if (s) {
		explicit_bzero(s, strlen(s));
		free(s);
	}
}

static void buf_zfree(struct buf *b)
{
	if (b->data)
		explicit_bzero(b->data, b->len);
	buf_free(b);
}

/* ---- JSON ---- */

struct json {
	const char *p, *end;
};

static void json_ws(struct json *j)
{
	while (j->p < j->end && (*j->p == ' ' || *j->p == '\t' || *j->p == '\n' || *j->p == '\r'))
		j->p++;
}

static int json_hex4(struct json *j, unsigned int *out)
{
	unsigned int v = 0;

	if (j->end - j->p < 4)
		return -EPROTO;
	for (int i = 0; i < 4; i++) {
		char c = *j->p++;

		v <<= 4;
		if (c >= '0' && c <= '9')
			v |= (unsigned int)(c - '0');
		else if (c >= 'a' && c <= 'f')
			v |= (unsigned int)(c - 'a' + 10);
		else if (c >= 'A' && c <= 'F')
			v |= (unsigned int)(c - 'A' + 10);
		else
			return -EPROTO;
	}
	*out = v;
	return 0;
}

static int json_put(struct buf *out, const void *p, size_t n)
{
	int rc;

	if (!out)
		return 0;
	rc = buf_append(out, p, n);
	return rc == -EFBIG ? -EPROTO : rc;
}

/* A \u escape (after the 'u'), surrogate pairs joined, as UTF-8. NUL is
 * refused: values end up as C strings. */
static int json_unicode(struct json *j, struct buf *out)
{
	unsigned int cp, lo;
	unsigned char u[4];
	size_t n;

	if (json_hex4(j, &cp))
		return -EPROTO;
	if (cp >= 0xd800 && cp <= 0xdbff) {
		if (j->end - j->p < 2 || j->p[0] != '\\' || j->p[1] != 'u')
			return -EPROTO;
		j->p += 2;
		if (json_hex4(j, &lo) || lo < 0xdc00 || lo > 0xdfff)
			return -EPROTO;
		cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
	} else if ((cp >= 0xdc00 && cp <= 0xdfff) || cp == 0) {
		return -EPROTO;
	}
	if (cp < 0x80) {
		u[0] = (unsigned char)cp;
		n = 1;
	} else if (cp < 0x800) {
		u[0] = (unsigned char)(0xc0 | cp >> 6);
		u[1] = (unsigned char)(0x80 | (cp & 0x3f));
		n = 2;
	} else if (cp < 0x10000) {
		u[0] = (unsigned char)(0xe0 | cp >> 12);
		u[1] = (unsigned char)(0x80 | ((cp >> 6) & 0x3f));
		u[2] = (unsigned char)(0x80 | (cp & 0x3f));
		n = 3;
	} else {
		u[0] = (unsigned char)(0xf0 | cp >> 18);
		u[1] = (unsigned char)(0x80 | ((cp >> 12) & 0x3f));
		u[2] = (unsigned char)(0x80 | ((cp >> 6) & 0x3f));
		u[3] = (unsigned char)(0x80 | (cp & 0x3f));
		n = 4;
	}
	return json_put(out, u, n);
}

/* A string at j->p, decoded into out (NULL: only checked). */
static int json_string(struct json *j, struct buf *out)
{
	if (j->p >= j->end || *j->p != '"')
		return -EPROTO;
	j->p++;
	while (j->p < j->end) {
		unsigned char c = (unsigned char)*j->p++;
		int rc;

		if (c == '"')
			return 0;
		if (c < 0x20)
			return -EPROTO;
		if (c == '\\') {
			if (j->p >= j->end)
				return -EPROTO;
			c = (unsigned char)*j->p++;
			switch (c) {
			case '"':
			case '\\':
			case '/':
				break;
			case 'b':
				c = '\b';
				break;
			case 'f':
				c = '\f';
				break;
			case 'n':
				c = '\n';
				break;
			case 'r':
				c = '\r';
				break;
			case 't':
				c = '\t';
				break;
			case 'u':
				rc = json_unicode(j, out);
				if (rc)
					return rc;
				continue;
			default:
				return -EPROTO;
			}
		}
		rc = json_put(out, &c, 1);
		if (rc)
			return rc;
	}
	return -EPROTO;
}

/* A number at j->p, by RFC 8259's grammar; *text and *len say where. */
static int json_number(struct json *j, const char **text, size_t *len)
{
	const char *p = j->p, *end = j->end;

	if (p < end && *p == '-')
		p++;
	if (p < end && *p == '0') {
		p++;
	} else if (p < end && isdigit((unsigned char)*p)) {
		while (p < end && isdigit((unsigned char)*p))
			p++;
	} else {
		return -EPROTO;
	}
	if (p < end && *p == '.') {
		if (++p >= end || !isdigit((unsigned char)*p))
			return -EPROTO;
		while (p < end && isdigit((unsigned char)*p))
			p++;
	}
	if (p < end && (*p == 'e' || *p == 'E')) {
		p++;
		if (p < end && (*p == '+' || *p == '-'))
			p++;
		if (p >= end || !isdigit((unsigned char)*p))
			return -EPROTO;
		while (p < end && isdigit((unsigned char)*p))
			p++;
	}
	*text = j->p;
	*len = (size_t)(p - j->p);
	j->p = p;
	return 0;
}

static int json_literal(struct json *j, const char *word)
{
	size_t n = strlen(word);

	if ((size_t)(j->end - j->p) < n || memcmp(j->p, word, n))
		return -EPROTO;
	j->p += n;
	return 0;
}

static int json_skip_container(struct json *j, int depth);

/* Check and skip any value. */
static int json_skip_value(struct json *j, int depth)
{
	const char *text;
	size_t len;

	json_ws(j);
	if (j->p >= j->end)
		return -EPROTO;
	switch (*j->p) {
	case '"':
		return json_string(j, NULL);
	case '{':
	case '[':
		return json_skip_container(j, depth + 1);
	case 't':
		return json_literal(j, "true");
	case 'f':
		return json_literal(j, "false");
	case 'n':
		return json_literal(j, "null");
	default:
		return json_number(j, &text, &len);
	}
}

static int json_skip_container(struct json *j, int depth)
{
	char close = *j->p == '{' ? '}' : ']';
	int rc;

	if (depth > JSON_MAX_DEPTH)
		return -EPROTO;
	j->p++;
	json_ws(j);
	if (j->p < j->end && *j->p == close) {
		j->p++;
		return 0;
	}
	for (;;) {
		if (close == '}') {
			json_ws(j);
			rc = json_string(j, NULL);
			if (rc)
				return rc;
			json_ws(j);
			if (j->p >= j->end || *j->p != ':')
				return -EPROTO;
			j->p++;
		}
		rc = json_skip_value(j, depth);
		if (rc)
			return rc;
		json_ws(j);
		if (j->p >= j->end)
			return -EPROTO;
		if (*j->p == ',') {
			j->p++;
			continue;
		}
		if (*j->p != close)
			return -EPROTO;
		j->p++;
		return 0;
	}
}

/* A string member's value into *slot (refused if already set). */
static int json_take_string(struct json *j, char **slot)
{
	struct buf b;
	int rc;

	if (*slot)
		return -EPROTO;
	buf_init(&b, JSON_STRING_MAX);
	rc = json_string(j, &b);
	if (!rc)
		*slot = buf_steal(&b);
	buf_zfree(&b);
	return rc;
}

/* An integer member: a JSON integer, or one written as a string of digits
 * (IMDS does that). At most 15 digits, so no overflow. */
static int json_take_int(struct json *j, bool *has, int64_t *out)
{
	struct buf b;
	const char *text;
	size_t len;
	int64_t v = 0;
	int rc;

	if (*has)
		return -EPROTO;
	buf_init(&b, 64);
	if (j->p < j->end && *j->p == '"') {
		rc = json_string(j, &b);
		text = b.data ? b.data : "";
		len = b.len;
	} else {
		rc = json_number(j, &text, &len);
	}
	if (!rc) {
		bool neg = len && text[0] == '-';
		size_t i = neg ? 1 : 0;

		if (len == i || len - i > 15)
			rc = -EPROTO;
		for (; !rc && i < len; i++) {
			if (!isdigit((unsigned char)text[i]))
				rc = -EPROTO;
			else
				v = v * 10 + (text[i] - '0');
		}
		if (!rc) {
			*out = neg ? -v : v;
			*has = true;
		}
	}
	buf_free(&b);
	return rc == -ENOMEM ? rc : rc ? -EPROTO : 0;
}

void azure_token_answer_clear(struct azure_token_answer *a)
{
	zfree(a->access_token);
	zfree(a->token_type);
	zfree(a->error);
	zfree(a->error_description);
	memset(a, 0, sizeof(*a));
}

int azure_token_parse(const char *json, size_t len, struct azure_token_answer *out)
{
	struct json j = {json, json + len};
	struct buf key;
	int rc = 0;

	memset(out, 0, sizeof(*out));
	buf_init(&key, 4096);
	json_ws(&j);
	if (j.p >= j.end || *j.p != '{') {
		rc = -EPROTO;
		goto out;
	}
	j.p++;
	json_ws(&j);
	if (j.p < j.end && *j.p == '}') {
		j.p++;
		goto out_end;
	}
	for (;;) {
		const char *k;

		json_ws(&j);
		buf_reset(&key);
		rc = json_string(&j, &key);
		if (rc)
			goto out;
		json_ws(&j);
		if (j.p >= j.end || *j.p != ':') {
			rc = -EPROTO;
			goto out;
		}
		j.p++;
		json_ws(&j);
		k = key.data ? key.data : "";
		if (strlen(k) != key.len) /* "\u0000" is refused, but be sure */
			rc = -EPROTO;
		else if (!strcmp(k, "access_token"))
			rc = json_take_string(&j, &out->access_token);
		else if (!strcmp(k, "token_type"))
			rc = json_take_string(&j, &out->token_type);
		else if (!strcmp(k, "error"))
			rc = json_take_string(&j, &out->error);
		else if (!strcmp(k, "error_description"))
			rc = json_take_string(&j, &out->error_description);
		else if (!strcmp(k, "expires_in"))
			rc = json_take_int(&j, &out->has_expires_in, &out->expires_in);
		else if (!strcmp(k, "expires_on"))
			rc = json_take_int(&j, &out->has_expires_on, &out->expires_on);
		else
			rc = json_skip_value(&j, 1);
		if (rc)
			goto out;
		json_ws(&j);
		if (j.p < j.end && *j.p == ',') {
			j.p++;
			continue;
		}
		if (j.p < j.end && *j.p == '}') {
			j.p++;
			break;
		}
		rc = -EPROTO;
		goto out;
	}
out_end:
	json_ws(&j);
	if (j.p != j.end)
		rc = -EPROTO;
out:
	buf_free(&key);
	if (rc)
		azure_token_answer_clear(out);
	return rc;
}

int azure_token_lifetime(const struct azure_token_answer *a, time_t now, int64_t *lifetime_s)
{
	int64_t life;

	if (a->has_expires_in)
		life = a->expires_in;
	else if (a->has_expires_on)
		life = a->expires_on - (int64_t)now;
	else
		return -EPROTO;
	if (life < 1 || life > TOKEN_MAX_LIFE_S)
		return -EPROTO;
	*lifetime_s = life;
	return 0;
}

void azure_token_schedule(int64_t lifetime_ms, int64_t *refresh_ms, int64_t *usable_ms)
{
	int64_t tenth = lifetime_ms / 10;
	int64_t margin = tenth > 300000 ? tenth : 300000;
	int64_t guard = tenth < 60000 ? tenth : 60000;

	if (margin > lifetime_ms / 2)
		margin = lifetime_ms / 2;
	*refresh_ms = lifetime_ms - margin;
	*usable_ms = lifetime_ms - guard;
}

int azure_token_form_add(struct buf *out, const char *name, const char *value)
{
	int rc = 0;

	if (out->len)
		rc = buf_puts(out, "&");
	if (!rc)
		rc = uri_encode(out, name, strlen(name), false);
	if (!rc)
		rc = buf_puts(out, "=");
	if (!rc)
		rc = uri_encode(out, value, strlen(value), false);
	return rc;
}

/* ---- the provider ---- */

static int64_t mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int64_t tok_now(const struct azure_token *t)
{
	return t->ops->now_ms ? t->ops->now_ms(t->ctx) : mono_ms();
}

struct azure_token *azure_token_create_source(const struct azure_token_source_ops *ops, void *ctx,
					      const char *what)
{
	struct azure_token *t = calloc(1, sizeof(*t));

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
	t->ctx = ctx;
	pthread_mutex_init(&t->lock, NULL);
	pthread_cond_init(&t->done, NULL);
	return t;
}

void azure_token_destroy(struct azure_token *t)
{
	if (!t)
		return;
	if (t->ops->destroy)
		t->ops->destroy(t->ctx);
	zfree(t->token);
	pthread_cond_destroy(&t->done);
	pthread_mutex_destroy(&t->lock);
	free(t->what);
	free(t);
}

const char *azure_token_what(const struct azure_token *t)
{
	return t->what;
}

/* Fetch and install a token: called and returns with t->lock held, which
 * it drops while fetching. On failure, *why says why (caller frees). */
static int tok_fetch_locked(struct azure_token *t, char **why)
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
		zfree(token);
		t->last_error = rc;
		t->backoff_ms = t->backoff_ms ? t->backoff_ms * 2 : RETRY_MIN_MS;
		if (t->backoff_ms > RETRY_MAX_MS)
			t->backoff_ms = RETRY_MAX_MS;
		t->retry_at = tok_now(t) + t->backoff_ms;
		if (!*why)
			*why = strdup(strerror(-rc));
		return rc;
	}
	zfree(t->token);
	t->token = token;
	t->token_len = strlen(token);
	t->generation++;
	azure_token_schedule(life_s * 1000, &refresh_ms, &usable_ms);
	t->refresh_at = t0 + refresh_ms;
	t->usable_until = t0 + usable_ms;
	t->retry_at = 0;
	t->backoff_ms = 0;
	t->last_error = 0;
	log_debug("Entra ID token %llu by %s: valid for %lld s, refreshed after %lld s",
		  (unsigned long long)t->generation, t->what, (long long)life_s,
		  (long long)(refresh_ms / 1000));
	return 0;
}

int azure_token_start(struct azure_token *t, char **why)
{
	char *cause = NULL;
	int rc;

	pthread_mutex_lock(&t->lock);
	rc = tok_fetch_locked(t, &cause);
	pthread_mutex_unlock(&t->lock);
	if (rc && asprintf(why, "cannot get a Microsoft Entra ID token by %s: %s", t->what,
			   cause ? cause : strerror(-rc)) < 0)
		*why = NULL;
	free(cause);
	return rc;
}

static bool tok_usable(const struct azure_token *t, int64_t now)
{
	return t->token && now < t->usable_until;
}

int azure_token_get(struct azure_token *t, struct buf *out, uint64_t *generation)
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
		log_warn("cannot refresh the Entra ID token by %s (the current one is good for "
			 "%lld s more): %s",
			 t->what, (long long)((t->usable_until - now) / 1000),
			 why ? why : strerror(-rc));
	else if (rc)
		log_err("cannot get a Microsoft Entra ID token by %s: %s", t->what,
			why ? why : strerror(-rc));
	if (!tok_usable(t, now)) {
		if (!rc) {
			log_warn("Entra ID token by %s expired before it could be used", t->what);
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

void azure_token_refused(struct azure_token *t, uint64_t generation)
{
	pthread_mutex_lock(&t->lock);
	if (t->token && generation == t->generation && t->usable_until) {
		log_info("the service refused Entra ID token %llu by %s: fetching a new one",
			 (unsigned long long)generation, t->what);
		t->usable_until = 0;
		t->refresh_at = 0;
		t->retry_at = 0;
	}
	pthread_mutex_unlock(&t->lock);
}

/* ---- the sources: IMDS and the Entra token endpoint ---- */

struct entra {
	enum azure_token_kind kind;
	struct http *http;
	char *url;   /* with the query for IMDS */
	char *shown; /* url without its query, for messages */
	char *client_id;
	char *client_secret;
	char *token_file;
};

static void entra_destroy(void *ctx)
{
	struct entra *e = ctx;

	if (!e)
		return;
	http_destroy(e->http);
	free(e->url);
	free(e->shown);
	free(e->client_id);
	zfree(e->client_secret);
	free(e->token_file);
	free(e);
}

static int add_header(struct curl_slist **headers, const char *line)
{
	struct curl_slist *n = curl_slist_append(*headers, line);

	if (!n)
		return -ENOMEM;
	*headers = n;
	return 0;
}

static int imds_headers(void *ctx, struct curl_slist **headers)
{
	(void)ctx;
	return add_header(headers, "Metadata: true");
}

static int form_headers(void *ctx, struct curl_slist **headers)
{
	(void)ctx;
	return add_header(headers, "Content-Type: application/x-www-form-urlencoded")
		       ?: add_header(headers, "Accept: application/json");
}

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

/* The federated token, read afresh: kubelet rewrites the file before the
 * token in it expires. */
static int read_assertion(const struct entra *e, char **assertion, char **why)
{
	char *text = NULL;
	size_t start = 0, n;
	int rc;

	rc = creds_read_secret_file(e->token_file, "AZURE_FEDERATED_TOKEN_FILE", false, &text, why);
	if (rc == -ENOENT && !*why)
		*why = why_fmt("AZURE_FEDERATED_TOKEN_FILE %s does not exist", e->token_file);
	if (rc)
		return rc;
	n = strlen(text);
	while (start < n && isspace((unsigned char)text[start]))
		start++;
	while (n > start && isspace((unsigned char)text[n - 1]))
		n--;
	if (n == start) {
		*why = why_fmt("AZURE_FEDERATED_TOKEN_FILE %s is empty", e->token_file);
		rc = -EINVAL;
	} else {
		*assertion = strndup(text + start, n - start);
		if (!*assertion)
			rc = -ENOMEM;
	}
	explicit_bzero(text, strlen(text));
	free(text);
	return rc;
}

static int entra_form(const struct entra *e, struct buf *form, char **why)
{
	char *assertion = NULL;
	int rc;

	rc = azure_token_form_add(form, "client_id", e->client_id) ?:
	     azure_token_form_add(form, "scope", AZURE_TOKEN_SCOPE) ?:
	     azure_token_form_add(form, "grant_type", "client_credentials");
	if (rc)
		return rc;
	if (e->kind == AZURE_TOKEN_CLIENT_SECRET)
		return azure_token_form_add(form, "client_secret", e->client_secret);
	rc = read_assertion(e, &assertion, why);
	if (!rc)
		rc = azure_token_form_add(form, "client_assertion_type",
					  "urn:ietf:params:oauth:client-assertion-type:jwt-bearer")
			     ?: azure_token_form_add(form, "client_assertion", assertion);
	zfree(assertion);
	return rc;
}

/* The first line of s, control characters blanked, at most max bytes. */
static void one_line(char *s, size_t max)
{
	size_t n = strcspn(s, "\r\n");

	if (n > max)
		n = max;
	s[n] = '\0';
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f)
			s[i] = ' ';
}

/* A token may only hold what a header value can carry unquoted. */
static bool token_ok(const char *s)
{
	size_t n = strlen(s);

	if (!n || n > AZURE_TOKEN_MAX_LEN)
		return false;
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)s[i] <= 0x20 || (unsigned char)s[i] >= 0x7f)
			return false;
	return true;
}

/* Why the answer resp is not a token, in one line. */
static char *entra_refusal(const struct entra *e, const struct http_response *resp,
			   struct azure_token_answer *a, bool parsed)
{
	if (parsed && a->error) {
		one_line(a->error, 100);
		if (a->error_description)
			one_line(a->error_description, 300);
		return why_fmt("%s answered HTTP %ld %s%s%s", e->shown, resp->status, a->error,
			       a->error_description ? ": " : "",
			       a->error_description ? a->error_description : "");
	}
	return why_fmt("%s answered HTTP %ld%s", e->shown, resp->status,
		       parsed ? "" : " (not a JSON object)");
}

static void sleep_s(unsigned int s)
{
	struct timespec ts = {s, 0};

	nanosleep(&ts, NULL);
}

static int entra_fetch(void *ctx, char **token, int64_t *lifetime_s, char **why)
{
	struct entra *e = ctx;
	struct http_request req = {.url = e->url, .retries = -1};
	struct azure_token_answer a = {0};
	struct http_response resp = {0};
	struct http_mem mem;
	struct buf form;
	bool parsed = false;
	int rc, tries = 0;

	buf_init(&form, FORM_MAX);
	if (e->kind == AZURE_TOKEN_MANAGED_IDENTITY) {
		req.method = "GET";
		req.build_headers = imds_headers;
	} else {
		rc = entra_form(e, &form, why);
		if (rc)
			goto out_form;
		mem = (struct http_mem){form.data, form.len};
		req.method = "POST";
		req.build_headers = form_headers;
		req.read_body = http_mem_read;
		req.body_ctx = &mem;
		req.body_len = form.len;
		req.has_body = true;
	}
	for (;;) {
		rc = http_execute(e->http, &req, &resp);
		if (rc || e->kind != AZURE_TOKEN_MANAGED_IDENTITY ||
		    (resp.status != 404 && resp.status != 410) || ++tries >= IMDS_BUSY_TRIES)
			break;
		log_info("GET %s: HTTP %ld (IMDS busy), retry %d of %d", e->shown, resp.status,
			 tries, IMDS_BUSY_TRIES - 1);
		http_response_free(&resp);
		sleep_s(1u << (tries - 1));
	}
	if (rc) {
		*why = why_fmt("cannot reach %s: %s", e->shown,
			       resp.error[0] ? resp.error : strerror(-rc));
		goto out_resp;
	}
	log_debug("%s %s: HTTP %ld", req.method, e->shown, resp.status);
	rc = azure_token_parse(resp.body.data ? resp.body.data : "", resp.body.len, &a);
	if (rc == -ENOMEM)
		goto out_resp;
	parsed = rc == 0;
	if (resp.status != 200) {
		*why = entra_refusal(e, &resp, &a, parsed);
		rc = resp.status >= 400 && resp.status < 500 ? -EACCES : -EIO;
	} else if (!parsed) {
		*why = why_fmt("%s answered HTTP 200 without a JSON object", e->shown);
		rc = -EPROTO;
	} else if (!a.access_token || !token_ok(a.access_token)) {
		*why = why_fmt("%s answered without a usable access_token", e->shown);
		rc = -EPROTO;
	} else if (a.token_type && strcasecmp(a.token_type, "Bearer")) {
		one_line(a.token_type, 40);
		*why = why_fmt("%s answered a token of type '%s', not Bearer", e->shown,
			       a.token_type);
		rc = -EPROTO;
	} else if (azure_token_lifetime(&a, time(NULL), lifetime_s)) {
		*why = why_fmt("%s answered without a plausible expires_in or expires_on",
			       e->shown);
		rc = -EPROTO;
	} else {
		*token = a.access_token;
		a.access_token = NULL;
	}
out_resp:
	buf_zfree(&resp.body);
	http_response_free(&resp);
	azure_token_answer_clear(&a);
out_form:
	buf_zfree(&form);
	if (rc == -ENOMEM && !*why)
		*why = strdup("out of memory");
	return rc;
}

static const struct azure_token_source_ops entra_ops = {
	.fetch = entra_fetch,
	.now_ms = NULL,
	.destroy = entra_destroy,
};

/* Tenants are GUIDs or domain names: nothing that could change the URL. */
static bool tenant_ok(const char *t)
{
	size_t n = strlen(t);

	if (!n || n > 253)
		return false;
	for (size_t i = 0; i < n; i++)
		if (!isalnum((unsigned char)t[i]) && t[i] != '-' && t[i] != '.')
			return false;
	return t[0] != '.';
}

/* https://HOST[/path]/ from AZURE_AUTHORITY_HOST's forms (a bare host name
 * means https, as the Azure SDKs take it). */
static int authority_url(const char *a, struct buf *out, char **why)
{
	const char *sep = strstr(a, "://");
	int rc;

	if (sep && strncmp(a, "https://", 8)) {
		*why = why_fmt("AZURE_AUTHORITY_HOST must be an https:// URL: '%s'", a);
		return -EINVAL;
	}
	rc = sep ? buf_puts(out, a) : buf_printf(out, "https://%s", a);
	if (!rc && (!out->len || out->data[out->len - 1] != '/'))
		rc = buf_puts(out, "/");
	if (!rc &&
	    (strchr(out->data + 8, '?') || strchr(out->data + 8, '#') || out->data[8] == '/')) {
		*why = why_fmt("AZURE_AUTHORITY_HOST is not a URL: '%s'", a);
		return -EINVAL;
	}
	return rc;
}

static int entra_urls(struct entra *e, const struct azure_token_conf *conf, char **why)
{
	struct buf url;
	size_t shown_len;
	int rc;

	buf_init(&url, 8192);
	if (conf->kind == AZURE_TOKEN_MANAGED_IDENTITY) {
		const char *base = conf->imds ? conf->imds : AZURE_TOKEN_IMDS;
		size_t n = strlen(base);

		while (n && base[n - 1] == '/')
			n--;
		if (strncmp(base, "http://", 7) && strncmp(base, "https://", 8)) {
			*why = why_fmt("AZURE_POD_IDENTITY_AUTHORITY_HOST must be an http:// or "
				       "https:// URL: '%s'",
				       base);
			buf_free(&url);
			return -EINVAL;
		}
		rc = buf_append(&url, base, n) ?: buf_puts(&url, IMDS_PATH);
		shown_len = url.len;
		if (!rc)
			rc = buf_puts(&url, "?api-version=" IMDS_API "&resource=")
				     ?: uri_encode(&url, AZURE_TOKEN_RESOURCE,
						   strlen(AZURE_TOKEN_RESOURCE), false);
		if (!rc && conf->client_id)
			rc = buf_puts(&url, "&client_id=")
				     ?: uri_encode(&url, conf->client_id, strlen(conf->client_id),
						   false);
	} else {
		rc = authority_url(conf->authority ? conf->authority : AZURE_TOKEN_AUTHORITY, &url,
				   why);
		if (rc) {
			buf_free(&url);
			return rc;
		}
		rc = buf_printf(&url, "%s/oauth2/v2.0/token", conf->tenant_id);
		shown_len = url.len;
	}
	if (!rc) {
		e->shown = strndup(url.data, shown_len);
		e->url = buf_steal(&url);
		if (!e->shown || !e->url)
			rc = -ENOMEM;
	}
	buf_free(&url);
	return rc;
}

struct azure_token *azure_token_create(const struct azure_token_conf *conf, char **why)
{
	struct entra *e = calloc(1, sizeof(*e));
	struct azure_token *t;
	char *what = NULL;
	int rc = -ENOMEM;

	*why = NULL;
	if (!e)
		goto out_nomem;
	e->kind = conf->kind;
	switch (conf->kind) {
	case AZURE_TOKEN_MANAGED_IDENTITY:
		if (conf->client_id)
			rc = asprintf(&what, "managed identity (client id %s)", conf->client_id);
		else
			rc = asprintf(&what, "managed identity (system-assigned)");
		break;
	case AZURE_TOKEN_WORKLOAD_IDENTITY:
	case AZURE_TOKEN_CLIENT_SECRET:
		if (!conf->client_id || !*conf->client_id || !conf->tenant_id ||
		    (conf->kind == AZURE_TOKEN_CLIENT_SECRET
			     ? !conf->client_secret || !*conf->client_secret
			     : !conf->token_file || !*conf->token_file)) {
			*why = strdup("Entra ID credentials: the client id, tenant or secret is "
				      "missing");
			goto out_free;
		}
		if (!tenant_ok(conf->tenant_id)) {
			*why = why_fmt("AZURE_TENANT_ID '%s' is not a tenant id or domain name",
				       conf->tenant_id);
			goto out_free;
		}
		rc = asprintf(&what, "%s (client id %s, tenant %s)",
			      conf->kind == AZURE_TOKEN_CLIENT_SECRET ? "service principal"
								      : "workload identity",
			      conf->client_id, conf->tenant_id);
		break;
	default:
		*why = strdup("no Entra ID credential source");
		goto out_free;
	}
	if (rc < 0) {
		what = NULL;
		goto out_nomem;
	}
	rc = entra_urls(e, conf, why);
	if (rc == -EINVAL)
		goto out_free;
	if (rc)
		goto out_nomem;
	if (conf->client_id && !(e->client_id = strdup(conf->client_id)))
		goto out_nomem;
	if (conf->kind == AZURE_TOKEN_CLIENT_SECRET &&
	    !(e->client_secret = strdup(conf->client_secret)))
		goto out_nomem;
	if (conf->kind == AZURE_TOKEN_WORKLOAD_IDENTITY &&
	    !(e->token_file = strdup(conf->token_file)))
		goto out_nomem;
	e->http = http_create(&conf->http);
	if (!e->http)
		goto out_nomem;
	t = azure_token_create_source(&entra_ops, e, what);
	free(what);
	if (!t)
		*why = strdup("out of memory");
	return t;

out_nomem:
	*why = strdup("out of memory");
out_free:
	free(what);
	entra_destroy(e);
	return NULL;
}
