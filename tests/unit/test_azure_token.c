/*
 * Entra ID tokens: the JSON answers (modelled on the examples of
 * Microsoft's pages "How to use managed identities ... to acquire an
 * access token" (IMDS, numbers as strings) and "OAuth 2.0 client
 * credentials flow" (v2.0 endpoint, numbers, an AADSTS error)), the refresh
 * schedule, form encoding against that page's request bodies, and the
 * provider's state machine over a fake source and a fake clock.
 */
#include <check.h>

#include "check_main.h"
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "azure_creds.h"
#include "azure_token.h"
#include "uri.h"

#define N(a) (sizeof(a) / sizeof((a)[0]))

/* ---- JSON ---- */

static const char imds_answer[] = "{\n"
				  "  \"access_token\": \"eyJ0eXAi.eyJhdWQi.c2ln\",\n"
				  "  \"refresh_token\": \"\",\n"
				  "  \"expires_in\": \"3599\",\n"
				  "  \"expires_on\": \"1506484173\",\n"
				  "  \"not_before\": \"1506480273\",\n"
				  "  \"resource\": \"https://management.azure.com/\",\n"
				  "  \"token_type\": \"Bearer\"\n"
				  "}";

static const char v2_answer[] = "{\r\n  \"token_type\": \"Bearer\",\r\n  \"expires_in\": 3599,\r\n"
				"  \"access_token\": \"eyJ0eXAiOiJKV1Qi.eyJhdWQiOiJo.\"\r\n}";

static const char v2_error[] =
	"{\n"
	"  \"error\": \"invalid_scope\",\n"
	"  \"error_description\": \"AADSTS70011: The provided value for the input parameter "
	"'scope' is not valid. The scope https://foo.microsoft.com/.default is not valid.\\r\\n"
	"Trace ID: 255d1aef-8c98-452f-ac51-23d051240864\\r\\nCorrelation ID: "
	"fb3d2015-bc17-4bb9-bb85-30c5cf1aaaa7\\r\\nTimestamp: 2016-01-09 02:02:12Z\",\n"
	"  \"error_codes\": [\n    70011\n  ],\n"
	"  \"timestamp\": \"2016-01-09 02:02:12Z\",\n"
	"  \"trace_id\": \"255d1aef-8c98-452f-ac51-23d051240864\",\n"
	"  \"correlation_id\": \"fb3d2015-bc17-4bb9-bb85-30c5cf1aaaa7\"\n"
	"}";

START_TEST(test_parse_imds)
{
	struct azure_token_answer a;

	ck_assert_int_eq(azure_token_parse(imds_answer, strlen(imds_answer), &a), 0);
	ck_assert_str_eq(a.access_token, "eyJ0eXAi.eyJhdWQi.c2ln");
	ck_assert_str_eq(a.token_type, "Bearer");
	ck_assert(a.has_expires_in && a.has_expires_on);
	ck_assert_int_eq(a.expires_in, 3599);
	ck_assert_int_eq(a.expires_on, 1506484173);
	ck_assert_ptr_null(a.error);
	azure_token_answer_clear(&a);
	ck_assert_ptr_null(a.access_token);
}
END_TEST

START_TEST(test_parse_v2)
{
	struct azure_token_answer a;

	ck_assert_int_eq(azure_token_parse(v2_answer, strlen(v2_answer), &a), 0);
	ck_assert_str_eq(a.access_token, "eyJ0eXAiOiJKV1Qi.eyJhdWQiOiJo.");
	ck_assert(a.has_expires_in && !a.has_expires_on);
	ck_assert_int_eq(a.expires_in, 3599);
	azure_token_answer_clear(&a);
}
END_TEST

START_TEST(test_parse_error)
{
	struct azure_token_answer a;

	ck_assert_int_eq(azure_token_parse(v2_error, strlen(v2_error), &a), 0);
	ck_assert_ptr_null(a.access_token);
	ck_assert_str_eq(a.error, "invalid_scope");
	ck_assert(!strncmp(a.error_description, "AADSTS70011: The provided value", 31));
	ck_assert_ptr_nonnull(strstr(a.error_description, "not valid.\r\nTrace ID: 255d1aef"));
	azure_token_answer_clear(&a);
}
END_TEST

/* Documents that parse, and what access_token comes out. */
static const struct {
	const char *json, *token;
} good[] = {
	{"{}", NULL},
	{" \t\r\n{ } \n", NULL},
	{"{\"access_token\":\"a\\/b\\\\c\\\"d\"}", "a/b\\c\"d"},
	{"{\"access_token\":\"\\u00e9\\u20ac\"}", "\xc3\xa9\xe2\x82\xac"},
	{"{\"access_token\":\"\\ud83d\\ude00\"}", "\xf0\x9f\x98\x80"},
	{"{\"access_token\":\"\\b\\f\\n\\r\\t\"}", "\b\f\n\r\t"},
	{"{\"x\":[1,-2.5e+3,0.0,true,false,null,{\"y\":[]},\"s\"],\"access_token\":\"t\"}", "t"},
	{"{\"access_token\":\"t\",\"other\":{\"access_token\":\"nested\"}}", "t"},
	{"{\"expires_in\":0,\"access_token\":\"t\"}", "t"},
	{"{\"expires_in\":\"-5\"}", NULL},
	{"{\"access_token\":\"\xc3\xa9\"}", "\xc3\xa9"},
	{"{\"a\":[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[1]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]}",
	 NULL}, /* 32 deep */
};

START_TEST(test_parse_good)
{
	struct azure_token_answer a;

	ck_assert_msg(azure_token_parse(good[_i].json, strlen(good[_i].json), &a) == 0, "%s",
		      good[_i].json);
	if (good[_i].token)
		ck_assert_str_eq(a.access_token, good[_i].token);
	else
		ck_assert_ptr_null(a.access_token);
	azure_token_answer_clear(&a);
}
END_TEST

static const char *const bad[] = {
	"",
	"   ",
	"[]",
	"\"access_token\"",
	"{",
	"{\"access_token\":\"t\"",
	"{\"access_token\":\"t\",}",
	"{,}",
	"{\"access_token\" \"t\"}",
	"{\"access_token\":\"t\"} x",
	"{\"access_token\":\"t\"}{}",
	"{'access_token':'t'}",
	"{\"access_token\":\"unterminated}",
	"{\"access_token\":\"tab\there\"}",
	"{\"access_token\":\"new\nline\"}",
	"{\"access_token\":\"\\x41\"}",
	"{\"access_token\":\"\\u12\"}",
	"{\"access_token\":\"\\u0000\"}",
	"{\"access_token\":\"\\udc00\"}",
	"{\"access_token\":\"\\ud83d\"}",
	"{\"access_token\":\"\\ud83d\\u0041\"}",
	"{\"access_token\":\"a\",\"access_token\":\"b\"}",
	"{\"expires_in\":1,\"expires_in\":2}",
	"{\"access_token\":1}",
	"{\"token_type\":null}",
	"{\"expires_in\":\"12a\"}",
	"{\"expires_in\":\"\"}",
	"{\"expires_in\":1.5}",
	"{\"expires_in\":1e3}",
	"{\"expires_in\":\"1234567890123456\"}",
	"{\"expires_in\":true}",
	"{\"x\":012}",
	"{\"x\":-}",
	"{\"x\":1.}",
	"{\"x\":.5}",
	"{\"x\":1e}",
	"{\"x\":NaN}",
	"{\"x\":tru}",
	"{\"x\":[1,]}",
	"{\"x\":[1 2]}",
	"{\"x\":{\"y\"}}",
	"{\"a\":[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[1]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]}", /* 33 */
};

START_TEST(test_parse_bad)
{
	struct azure_token_answer a;

	ck_assert_msg(azure_token_parse(bad[_i], strlen(bad[_i]), &a) == -EPROTO, "%s", bad[_i]);
	ck_assert_ptr_null(a.access_token);
	ck_assert_ptr_null(a.error);
}
END_TEST

START_TEST(test_parse_embedded_nul)
{
	static const char doc[] = "{\"access_token\":\"a\0b\"}";
	struct azure_token_answer a;

	ck_assert_int_eq(azure_token_parse(doc, sizeof(doc) - 1, &a), -EPROTO);
	/* Only len bytes are read: what follows does not count. */
	ck_assert_int_eq(azure_token_parse("{}garbage", 2, &a), 0);
	azure_token_answer_clear(&a);
}
END_TEST

/* ---- lifetime and schedule ---- */

START_TEST(test_lifetime)
{
	struct azure_token_answer a = {0};
	int64_t life = -1;

	ck_assert_int_eq(azure_token_lifetime(&a, 1000, &life), -EPROTO);
	a.has_expires_on = true;
	a.expires_on = 1000 + 3600;
	ck_assert_int_eq(azure_token_lifetime(&a, 1000, &life), 0);
	ck_assert_int_eq(life, 3600);
	/* expires_in wins: it does not depend on our clock. */
	a.has_expires_in = true;
	a.expires_in = 3599;
	ck_assert_int_eq(azure_token_lifetime(&a, 5000, &life), 0);
	ck_assert_int_eq(life, 3599);
	a.expires_in = 0;
	ck_assert_int_eq(azure_token_lifetime(&a, 1000, &life), -EPROTO);
	a.expires_in = -1;
	ck_assert_int_eq(azure_token_lifetime(&a, 1000, &life), -EPROTO);
	a.expires_in = 367LL * 86400;
	ck_assert_int_eq(azure_token_lifetime(&a, 1000, &life), -EPROTO);
	a.has_expires_in = false;
	ck_assert_int_eq(azure_token_lifetime(&a, 1000 + 3600, &life), -EPROTO); /* expired */
}
END_TEST

static const struct {
	int64_t life, refresh, usable;
} sched[] = {
	{86400000, 77760000, 86340000}, /* IMDS, 24 h: refresh with 2.4 h left */
	{3600000, 3240000, 3540000},	/* Entra, 1 h: 6 min left (10% > 5 min) */
	{1800000, 1500000, 1740000},	/* 30 min: 5 min left */
	{600000, 300000, 540000},	/* 10 min: half way */
	{4000, 2000, 3600},		/* the tests' tokens */
	{1000, 500, 900},
};

START_TEST(test_schedule)
{
	int64_t refresh, usable;

	refresh_schedule(sched[_i].life, &refresh, &usable);
	ck_assert_int_eq(refresh, sched[_i].refresh);
	ck_assert_int_eq(usable, sched[_i].usable);
	ck_assert(refresh < usable && usable < sched[_i].life);
}
END_TEST

/* ---- form encoding ---- */

START_TEST(test_form_secret_example)
{
	struct buf b;

	buf_init(&b, 4096);
	ck_assert_int_eq(uri_form_add(&b, "client_id", "535fb089-9ff3-47b6-9bfb-4f1264799865"), 0);
	ck_assert_int_eq(uri_form_add(&b, "scope", "https://graph.microsoft.com/.default"), 0);
	ck_assert_int_eq(uri_form_add(&b, "client_secret", "sampleCredentia1s"), 0);
	ck_assert_int_eq(uri_form_add(&b, "grant_type", "client_credentials"), 0);
	ck_assert_str_eq(b.data, "client_id=535fb089-9ff3-47b6-9bfb-4f1264799865"
				 "&scope=https%3A%2F%2Fgraph.microsoft.com%2F.default"
				 "&client_secret=sampleCredentia1s&grant_type=client_credentials");
	buf_free(&b);
}
END_TEST

START_TEST(test_form_assertion_example)
{
	struct buf b;

	buf_init(&b, 4096);
	ck_assert_int_eq(uri_form_add(&b, "scope", AZURE_TOKEN_SCOPE), 0);
	ck_assert_int_eq(uri_form_add(&b, "client_assertion_type",
				      "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"),
			 0);
	ck_assert_int_eq(uri_form_add(&b, "client_assertion", "eyJhbGci.eyJ.M8U3bSUKKJDEg"), 0);
	ck_assert_str_eq(b.data, "scope=https%3A%2F%2Fstorage.azure.com%2F.default"
				 "&client_assertion_type=urn%3Aietf%3Aparams%3Aoauth%3Aclient-"
				 "assertion-type%3Ajwt-bearer"
				 "&client_assertion=eyJhbGci.eyJ.M8U3bSUKKJDEg");
	buf_free(&b);
}
END_TEST

START_TEST(test_form_special)
{
	struct buf b;

	buf_init(&b, 4096);
	/* Secrets made by the portal hold '~' '.' '_' '-'; others may hold
	 * anything: every byte outside the unreserved set is escaped. */
	ck_assert_int_eq(uri_form_add(&b, "client_secret", "a~b.c_d-e f+g&h=i%j/k\xc3\xa9"), 0);
	ck_assert_int_eq(uri_form_add(&b, "empty", ""), 0);
	ck_assert_str_eq(b.data, "client_secret=a~b.c_d-e%20f%2Bg%26h%3Di%25j%2Fk%C3%A9&empty=");
	buf_free(&b);
}
END_TEST

/* ---- the provider, over a fake source and clock ---- */

struct fake {
	pthread_mutex_t lock;
	int64_t now;	  /* ms; protected by lock */
	int fetches;	  /* protected by lock */
	int in_fetch;	  /* protected by lock */
	int max_in_fetch; /* protected by lock */
	int fail;	  /* fail the next N fetches; protected by lock */
	int64_t life_s;
	unsigned int delay_us;
};

static int64_t fake_now(void *ctx)
{
	struct fake *f = ctx;
	int64_t now;

	pthread_mutex_lock(&f->lock);
	now = f->now;
	pthread_mutex_unlock(&f->lock);
	return now;
}

static void fake_set(struct fake *f, int64_t now)
{
	pthread_mutex_lock(&f->lock);
	f->now = now;
	pthread_mutex_unlock(&f->lock);
}

static int fake_fetch(void *ctx, char **token, int64_t *lifetime_s, char **why)
{
	struct fake *f = ctx;
	int n, fail;

	pthread_mutex_lock(&f->lock);
	n = ++f->fetches;
	fail = f->fail > 0;
	if (fail)
		f->fail--;
	if (++f->in_fetch > f->max_in_fetch)
		f->max_in_fetch = f->in_fetch;
	pthread_mutex_unlock(&f->lock);
	if (f->delay_us)
		usleep(f->delay_us);
	pthread_mutex_lock(&f->lock);
	f->in_fetch--;
	pthread_mutex_unlock(&f->lock);
	if (fail) {
		*why = strdup("boom");
		return -EACCES;
	}
	if (asprintf(token, "token-%d", n) < 0)
		return -ENOMEM;
	*lifetime_s = f->life_s;
	return 0;
}

static const struct refresh_names fake_names = {"Entra ID token", "a Microsoft Entra ID token"};

static const struct refresh_source_ops fake_ops = {
	.fetch = fake_fetch,
	.now_ms = fake_now,
	.destroy = NULL,
};

static struct fake fk;

static struct refresh *fake_provider(int64_t life_s)
{
	memset(&fk, 0, sizeof(fk));
	pthread_mutex_init(&fk.lock, NULL);
	fk.now = 1000000;
	fk.life_s = life_s;
	return refresh_create(&fake_ops, &fk, "fake", &fake_names);
}

/* The token get() hands out now ("" on error), and its generation. */
static int get(struct refresh *t, char *out, size_t len, uint64_t *gen)
{
	struct buf b;
	int rc;

	buf_init(&b, 4096);
	rc = refresh_get(t, &b, gen);
	snprintf(out, len, "%s", rc || !b.data ? "" : b.data);
	buf_free(&b);
	return rc;
}

START_TEST(test_provider_refresh_ahead)
{
	struct refresh *t = fake_provider(3600);
	char tok[64], *why = NULL;
	uint64_t gen, gen1;

	ck_assert_int_eq(refresh_start(t, &why), 0);
	ck_assert_int_eq(fk.fetches, 1);
	ck_assert_int_eq(get(t, tok, sizeof(tok), &gen1), 0);
	ck_assert_str_eq(tok, "token-1");
	/* Until 6 min before expiry (54 min in), the token is just used. */
	fake_set(&fk, 1000000 + 3240000 - 1);
	ck_assert_int_eq(get(t, tok, sizeof(tok), &gen), 0);
	ck_assert_str_eq(tok, "token-1");
	ck_assert_int_eq(fk.fetches, 1);
	ck_assert(gen == gen1);
	/* Then the next get refreshes it. */
	fake_set(&fk, 1000000 + 3240000);
	ck_assert_int_eq(get(t, tok, sizeof(tok), &gen), 0);
	ck_assert_str_eq(tok, "token-2");
	ck_assert_int_eq(fk.fetches, 2);
	ck_assert(gen != gen1);
	ck_assert_int_eq(get(t, tok, sizeof(tok), &gen), 0);
	ck_assert_int_eq(fk.fetches, 2);
	refresh_destroy(t);
}
END_TEST

START_TEST(test_provider_failed_refresh_keeps_token)
{
	struct refresh *t = fake_provider(3600);
	char tok[64], *why = NULL;
	uint64_t gen;

	ck_assert_int_eq(refresh_start(t, &why), 0);
	fake_set(&fk, 1000000 + 3300000);
	fk.fail = 2;
	/* The refresh fails: the current token is still good, and used. */
	ck_assert_int_eq(get(t, tok, sizeof(tok), &gen), 0);
	ck_assert_str_eq(tok, "token-1");
	ck_assert_int_eq(fk.fetches, 2);
	/* Not asked again before the backoff (1 s) ends... */
	fake_set(&fk, 1000000 + 3300999);
	ck_assert_int_eq(get(t, tok, sizeof(tok), &gen), 0);
	ck_assert_int_eq(fk.fetches, 2);
	/* ...then it fails again, and the backoff doubles. */
	fake_set(&fk, 1000000 + 3301000);
	ck_assert_int_eq(get(t, tok, sizeof(tok), &gen), 0);
	ck_assert_str_eq(tok, "token-1");
	ck_assert_int_eq(fk.fetches, 3);
	fake_set(&fk, 1000000 + 3302999);
	ck_assert_int_eq(get(t, tok, sizeof(tok), &gen), 0);
	ck_assert_int_eq(fk.fetches, 3);
	fake_set(&fk, 1000000 + 3303000);
	ck_assert_int_eq(get(t, tok, sizeof(tok), &gen), 0);
	ck_assert_str_eq(tok, "token-4");
	refresh_destroy(t);
}
END_TEST

START_TEST(test_provider_expired_fails_fast)
{
	struct refresh *t = fake_provider(3600);
	char tok[64], *why = NULL;
	uint64_t gen;

	ck_assert_int_eq(refresh_start(t, &why), 0);
	/* Past the last minute: the token is not sent any more. */
	fake_set(&fk, 1000000 + 3540000);
	fk.fail = 1;
	ck_assert_int_eq(get(t, tok, sizeof(tok), &gen), -EACCES);
	ck_assert_str_eq(tok, "");
	ck_assert_int_eq(fk.fetches, 2);
	/* Within the backoff, the error comes back without a fetch. */
	ck_assert_int_eq(get(t, tok, sizeof(tok), &gen), -EACCES);
	ck_assert_int_eq(fk.fetches, 2);
	fake_set(&fk, 1000000 + 3541000);
	ck_assert_int_eq(get(t, tok, sizeof(tok), &gen), 0);
	ck_assert_str_eq(tok, "token-3");
	refresh_destroy(t);
}
END_TEST

START_TEST(test_provider_refused)
{
	struct refresh *t = fake_provider(3600);
	char tok[64], *why = NULL;
	uint64_t gen1, gen2, gen;

	ck_assert_int_eq(refresh_start(t, &why), 0);
	ck_assert_int_eq(get(t, tok, sizeof(tok), &gen1), 0);
	refresh_refused(t, gen1);
	refresh_refused(t, gen1); /* many requests refused at once */
	ck_assert_int_eq(get(t, tok, sizeof(tok), &gen2), 0);
	ck_assert_str_eq(tok, "token-2");
	ck_assert_int_eq(fk.fetches, 2);
	/* A late report about the old token changes nothing. */
	refresh_refused(t, gen1);
	ck_assert_int_eq(get(t, tok, sizeof(tok), &gen), 0);
	ck_assert_str_eq(tok, "token-2");
	ck_assert(gen == gen2);
	ck_assert_int_eq(fk.fetches, 2);
	refresh_destroy(t);
}
END_TEST

START_TEST(test_provider_start_message)
{
	struct refresh *t = fake_provider(3600);
	char *why = NULL;

	fk.fail = 1;
	ck_assert_int_eq(refresh_start(t, &why), -EACCES);
	ck_assert_str_eq(why, "cannot get a Microsoft Entra ID token by fake: boom");
	free(why);
	refresh_destroy(t);
}
END_TEST

struct racer {
	struct refresh *t;
	char tok[64];
	int rc;
};

static void *race(void *arg)
{
	struct racer *r = arg;
	uint64_t gen;

	r->rc = get(r->t, r->tok, sizeof(r->tok), &gen);
	return NULL;
}

/* Sixteen threads need a token at once: one fetch, by one thread. */
static void run_race(int64_t now, const char *want_any, int want_fetches)
{
	struct refresh *t = fake_provider(3600);
	struct racer r[16];
	pthread_t th[16];
	char *why = NULL;
	int i;

	ck_assert_int_eq(refresh_start(t, &why), 0);
	fake_set(&fk, now);
	fk.delay_us = 100000;
	for (i = 0; i < 16; i++) {
		r[i].t = t;
		pthread_create(&th[i], NULL, race, &r[i]);
	}
	for (i = 0; i < 16; i++) {
		pthread_join(th[i], NULL);
		ck_assert_int_eq(r[i].rc, 0);
		if (want_any)
			ck_assert_str_eq(r[i].tok, want_any);
		else
			ck_assert(!strcmp(r[i].tok, "token-1") || !strcmp(r[i].tok, "token-2"));
	}
	ck_assert_int_eq(fk.fetches, want_fetches);
	ck_assert_int_eq(fk.max_in_fetch, 1);
	refresh_destroy(t);
}

START_TEST(test_provider_one_fetch_when_expired)
{
	/* The token is unusable: everyone waits for the one fetch. */
	run_race(1000000 + 3600000, "token-2", 2);
}
END_TEST

START_TEST(test_provider_one_fetch_when_due)
{
	/* Due but usable: one thread refreshes, the others go on with the
	 * current token meanwhile. */
	run_race(1000000 + 3300000, NULL, 2);
}
END_TEST

/* ---- configuration ---- */

static const struct {
	struct azure_token_conf conf;
	const char *why;
} confs[] = {
	{{.kind = AZURE_TOKEN_CLIENT_SECRET,
	  .client_id = "c",
	  .tenant_id = "a/b",
	  .client_secret = "s"},
	 "AZURE_TENANT_ID 'a/b' is not a tenant id or domain name"},
	{{.kind = AZURE_TOKEN_CLIENT_SECRET, .client_id = "c", .tenant_id = "t"},
	 "Entra ID credentials: the client id, tenant or secret is missing"},
	{{.kind = AZURE_TOKEN_WORKLOAD_IDENTITY, .client_id = "c", .tenant_id = "t"},
	 "Entra ID credentials: the client id, tenant or secret is missing"},
	{{.kind = AZURE_TOKEN_CLIENT_SECRET,
	  .client_id = "c",
	  .tenant_id = "t",
	  .client_secret = "s",
	  .authority = "http://login.example/"},
	 "AZURE_AUTHORITY_HOST must be an https:// URL: 'http://login.example/'"},
	{{.kind = AZURE_TOKEN_CLIENT_SECRET,
	  .client_id = "c",
	  .tenant_id = "t",
	  .client_secret = "s",
	  .authority = "https://login.example/?x"},
	 "AZURE_AUTHORITY_HOST is not a URL: 'https://login.example/?x'"},
	{{.kind = AZURE_TOKEN_MANAGED_IDENTITY, .imds = "169.254.169.254"},
	 "AZURE_POD_IDENTITY_AUTHORITY_HOST must be an http:// or https:// URL: "
	 "'169.254.169.254'"},
	{{.kind = AZURE_TOKEN_MANAGED_IDENTITY, .client_id = "u"}, NULL},
	{{.kind = AZURE_TOKEN_CLIENT_SECRET,
	  .client_id = "c",
	  .tenant_id = "contoso.onmicrosoft.com",
	  .client_secret = "s",
	  .authority = "login.microsoftonline.us"},
	 NULL},
};

START_TEST(test_create)
{
	struct refresh *t;
	char *why = NULL;

	t = azure_token_create(&confs[_i].conf, &why);
	if (confs[_i].why) {
		ck_assert_ptr_null(t);
		ck_assert_str_eq(why, confs[_i].why);
	} else {
		ck_assert_ptr_nonnull(t);
		ck_assert_ptr_null(why);
	}
	free(why);
	refresh_destroy(t);
}
END_TEST

START_TEST(test_what)
{
	struct azure_token_conf c = {.kind = AZURE_TOKEN_WORKLOAD_IDENTITY,
				     .client_id = "cid",
				     .tenant_id = "tid",
				     .token_file = "/f"};
	struct refresh *t;
	char *why = NULL;

	t = azure_token_create(&c, &why);
	ck_assert_str_eq(refresh_what(t), "workload identity (client id cid, tenant tid)");
	refresh_destroy(t);
	c = (struct azure_token_conf){.kind = AZURE_TOKEN_MANAGED_IDENTITY};
	t = azure_token_create(&c, &why);
	ck_assert_str_eq(refresh_what(t), "managed identity (system-assigned)");
	refresh_destroy(t);
}
END_TEST

/* ---- where the credentials come from (azure_creds.h's order) ---- */

static const char *const entra_vars[] = {
	"AZURE_STORAGE_CONNECTION_STRING",
	"AZURE_STORAGE_KEY",
	"AZURE_STORAGE_SAS_TOKEN",
	"AZURE_STORAGE_ACCOUNT",
	"AZURE_CLIENT_ID",
	"AZURE_TENANT_ID",
	"AZURE_CLIENT_SECRET",
	"AZURE_FEDERATED_TOKEN_FILE",
	"AZURE_AUTHORITY_HOST",
	"AZURE_POD_IDENTITY_AUTHORITY_HOST",
};

static void clear_env(void)
{
	for (size_t i = 0; i < N(entra_vars); i++)
		unsetenv(entra_vars[i]);
}

static const struct {
	const char *env; /* NAME=VALUE;... */
	enum azure_identity identity;
	enum azure_token_kind kind;
	int rc;
	const char *why;
} orders[] = {
	{"", AZURE_IDENTITY_AUTO, AZURE_TOKEN_NONE, 0, NULL},
	{"", AZURE_IDENTITY_MSI, AZURE_TOKEN_MANAGED_IDENTITY, 0, NULL},
	{"AZURE_CLIENT_ID=c", AZURE_IDENTITY_AUTO, AZURE_TOKEN_NONE, 0, NULL},
	{"AZURE_CLIENT_ID=c", AZURE_IDENTITY_MSI, AZURE_TOKEN_MANAGED_IDENTITY, 0, NULL},
	{"AZURE_CLIENT_ID=c;AZURE_TENANT_ID=t;AZURE_CLIENT_SECRET=s", AZURE_IDENTITY_AUTO,
	 AZURE_TOKEN_CLIENT_SECRET, 0, NULL},
	{"AZURE_CLIENT_ID=c;AZURE_TENANT_ID=t;AZURE_CLIENT_SECRET=s", AZURE_IDENTITY_MSI,
	 AZURE_TOKEN_CLIENT_SECRET, 0, NULL},
	{"AZURE_CLIENT_ID=c;AZURE_TENANT_ID=t;AZURE_CLIENT_SECRET=s", AZURE_IDENTITY_NONE,
	 AZURE_TOKEN_NONE, 0, NULL},
	/* Workload identity first: AKS may leave a secret around too. */
	{"AZURE_CLIENT_ID=c;AZURE_TENANT_ID=t;AZURE_CLIENT_SECRET=s;AZURE_FEDERATED_TOKEN_FILE=/f",
	 AZURE_IDENTITY_AUTO, AZURE_TOKEN_WORKLOAD_IDENTITY, 0, NULL},
	/* Keys and SAS tokens come first. */
	{"AZURE_STORAGE_KEY=a2V5;AZURE_CLIENT_ID=c;AZURE_TENANT_ID=t;AZURE_CLIENT_SECRET=s",
	 AZURE_IDENTITY_MSI, AZURE_TOKEN_NONE, 0, NULL},
	{"AZURE_STORAGE_SAS_TOKEN=sv=1;AZURE_CLIENT_ID=c;AZURE_TENANT_ID=t;"
	 "AZURE_FEDERATED_TOKEN_FILE=/f",
	 AZURE_IDENTITY_AUTO, AZURE_TOKEN_NONE, 0, NULL},
	/* Half set up. */
	{"AZURE_CLIENT_ID=c;AZURE_CLIENT_SECRET=s", AZURE_IDENTITY_AUTO, AZURE_TOKEN_NONE, -EINVAL,
	 "AZURE_CLIENT_SECRET is set but AZURE_TENANT_ID is not"},
	{"AZURE_TENANT_ID=t;AZURE_FEDERATED_TOKEN_FILE=/f", AZURE_IDENTITY_AUTO, AZURE_TOKEN_NONE,
	 -EINVAL, "AZURE_FEDERATED_TOKEN_FILE is set but AZURE_CLIENT_ID is not"},
	{"AZURE_CLIENT_ID=c;AZURE_CLIENT_SECRET=s", AZURE_IDENTITY_MSI,
	 AZURE_TOKEN_MANAGED_IDENTITY, 0, NULL},
	/* Empty means unset. */
	{"AZURE_CLIENT_ID=c;AZURE_TENANT_ID=t;AZURE_CLIENT_SECRET=", AZURE_IDENTITY_AUTO,
	 AZURE_TOKEN_NONE, 0, NULL},
};

START_TEST(test_creds_order)
{
	struct azure_creds_conf conf = {.identity = orders[_i].identity};
	struct azure_creds c;
	char env[512], *p, *why = NULL;
	int rc;

	clear_env();
	snprintf(env, sizeof(env), "%s", orders[_i].env);
	for (p = env; *p;) {
		char *end = strchrnul(p, ';'), *eq = strchr(p, '=');
		bool last = !*end;

		*end = '\0';
		*eq = '\0';
		setenv(p, eq + 1, 1);
		p = last ? end : end + 1;
	}
	rc = azure_creds_resolve(&conf, &c, &why);
	ck_assert_int_eq(rc, orders[_i].rc);
	if (orders[_i].why) {
		ck_assert_str_eq(why, orders[_i].why);
		free(why);
		return;
	}
	ck_assert_int_eq(c.entra, orders[_i].kind);
	azure_creds_clear(&c);
}
END_TEST

START_TEST(test_creds_fields)
{
	struct azure_creds_conf conf = {.identity = AZURE_IDENTITY_MSI};
	struct azure_token_conf tc;
	struct http_conf http = {.retries = 3};
	struct azure_creds c;
	char *why = NULL;

	clear_env();
	setenv("AZURE_CLIENT_ID", "cid", 1);
	setenv("AZURE_TENANT_ID", "tid", 1);
	setenv("AZURE_FEDERATED_TOKEN_FILE", "/var/run/secrets/token", 1);
	setenv("AZURE_AUTHORITY_HOST", "https://login.microsoftonline.us/", 1);
	setenv("AZURE_POD_IDENTITY_AUTHORITY_HOST", "http://10.0.0.1:2579", 1);
	ck_assert_int_eq(azure_creds_resolve(&conf, &c, &why), 0);
	azure_creds_token_conf(&c, &http, &tc);
	ck_assert_int_eq(tc.kind, AZURE_TOKEN_WORKLOAD_IDENTITY);
	ck_assert_str_eq(tc.client_id, "cid");
	ck_assert_str_eq(tc.tenant_id, "tid");
	ck_assert_str_eq(tc.token_file, "/var/run/secrets/token");
	ck_assert_str_eq(tc.authority, "https://login.microsoftonline.us/");
	ck_assert_ptr_null(tc.client_secret);
	ck_assert_ptr_null(tc.imds);
	ck_assert_int_eq(tc.http.retries, 3);
	azure_creds_clear(&c);
	ck_assert_ptr_null(c.client_id);

	unsetenv("AZURE_TENANT_ID");
	ck_assert_int_eq(azure_creds_resolve(&conf, &c, &why), 0);
	azure_creds_token_conf(&c, &http, &tc);
	ck_assert_int_eq(tc.kind, AZURE_TOKEN_MANAGED_IDENTITY);
	ck_assert_str_eq(tc.client_id, "cid");
	ck_assert_str_eq(tc.imds, "http://10.0.0.1:2579");
	ck_assert_ptr_null(tc.token_file);
	azure_creds_clear(&c);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("azure_token");
	TCase *json = tcase_create("json");
	TCase *policy = tcase_create("policy");
	TCase *form = tcase_create("form");
	TCase *prov = tcase_create("provider");
	TCase *creds = tcase_create("creds");

	tcase_add_test(json, test_parse_imds);
	tcase_add_test(json, test_parse_v2);
	tcase_add_test(json, test_parse_error);
	tcase_add_loop_test(json, test_parse_good, 0, N(good));
	tcase_add_loop_test(json, test_parse_bad, 0, N(bad));
	tcase_add_test(json, test_parse_embedded_nul);
	tcase_add_test(policy, test_lifetime);
	tcase_add_loop_test(policy, test_schedule, 0, N(sched));
	tcase_add_test(form, test_form_secret_example);
	tcase_add_test(form, test_form_assertion_example);
	tcase_add_test(form, test_form_special);
	tcase_add_test(prov, test_provider_refresh_ahead);
	tcase_add_test(prov, test_provider_failed_refresh_keeps_token);
	tcase_add_test(prov, test_provider_expired_fails_fast);
	tcase_add_test(prov, test_provider_refused);
	tcase_add_test(prov, test_provider_start_message);
	tcase_add_test(prov, test_provider_one_fetch_when_expired);
	tcase_add_test(prov, test_provider_one_fetch_when_due);
	tcase_add_loop_test(prov, test_create, 0, N(confs));
	tcase_add_test(prov, test_what);
	suite_add_tcase(s, json);
	suite_add_tcase(s, policy);
	suite_add_tcase(s, form);
	tcase_add_loop_test(creds, test_creds_order, 0, N(orders));
	tcase_add_test(creds, test_creds_fields);
	suite_add_tcase(s, prov);
	suite_add_tcase(s, creds);
	return check_run(s);
}
