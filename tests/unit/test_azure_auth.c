/*
 * Azure Shared Key and SAS signing against known answers. Each expected
 * string-to-sign is written out by hand from Microsoft's pages ("Authorize
 * with Shared Key", "Create a service SAS", "Create a user delegation SAS";
 * the doc_* cases are the page's own examples, verbatim), and each signature
 * was computed independently by tests/tools/azure_vectors.py with Python's
 * hmac/hashlib/base64 only, using azurite's well-known development account.
 * The same script run with --sdk also cross-checked every vector against
 * the Azure SDK for JavaScript (@azure/storage-blob 12.32: its Shared Key
 * policy, its x-ms-* header comparator and generateBlobSASQueryParameters),
 * except put_folded, all_std_headers and doc_list_include, which that SDK
 * signs differently (it folds no whitespace, swaps Content-Encoding and
 * Content-Language, and keeps only the last repeated parameter).
 */
#include <check.h>

#include "check_main.h"
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "azure_auth.h"

#define ACCOUNT "devstoreaccount1"
#define KEY \
	"Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="
#define DATE	"Wed, 02 Nov 2022 10:00:00 GMT"
#define VERSION "2022-11-02"
#define N(a)	(sizeof(a) / sizeof((a)[0]))
/* The eleven standard header lines when none is sent. */
#define NO_STD "\n\n\n\n\n\n\n\n\n\n\n"
#define MS_STD "x-ms-date:" DATE "\nx-ms-version:" VERSION "\n"
/* A List Blobs continuation marker, as sent and as signed. */
#define MARKER_SENT \
	"2%2188%21MDAwMDE2IWEvYi9jLmpwZyEwMDAwMjghOTk5OS0xMi0zMVQyMzo1OTo1OS45OTk5OTk5WiE-"
#define MARKER	  "2!88!MDAwMDE2IWEvYi9jLmpwZyEwMDAwMjghOTk5OS0xMi0zMVQyMzo1OTo1OS45OTk5OTk5WiE-"
#define DATE_2009 "Sun, 11 Oct 2009 21:49:13 GMT"
#define DATE_2015 "Fri, 26 Jun 2015 23:39:12 GMT"

static const struct azure_header get_range_h[] = {
	{"Host", "127.0.0.1:10000"}, {"User-Agent", "bucketfs/0.1.0"},
	{"x-ms-version", VERSION},   {"Range", "bytes=0-1023"},
	{"x-ms-date", DATE},
};

static const struct azure_header put_block_h[] = {
	{"x-ms-version", VERSION},
	{"Content-Type", "application/octet-stream"},
	{"x-ms-client-request-id", "8d1c1b4e-4e7b-4c2a-9d59-7f0b3c2f6a10"},
	{"Expect", "100-continue"},
	{"Content-MD5", "ruPmW0Xpe1hTmdaIWF3seQ=="},
	{"x-ms-date", DATE},
	{"Content-Length", "4096"},
};

static const struct azure_header ms_only_h[] = {
	{"x-ms-date", DATE},
	{"x-ms-version", VERSION},
};

static const struct azure_header put_folded_h[] = {
	{"x-ms-meta-quote", "say  \"a   b\"  now"},
	{"Content-Length", "0"},
	{"x-ms-version", VERSION},
	{"x-ms-meta-ab", "3"},
	{"X-MS-Meta-a2", "4"},
	{"Content-Type", "text/plain; charset=UTF-8"},
	{"x-ms-meta-a1", "1"},
	{"x-ms-blob-type", "BlockBlob"},
	{"x-ms-meta-A_b", "2"},
	{"x-ms-meta-note", "  hello \t  big\r\n   world  "},
	{"x-ms-date", DATE},
};

static const struct azure_header all_std_h[] = {
	{"Range", "bytes=0-10"},
	{"If-Unmodified-Since", "Wed, 02 Nov 2022 09:00:00 GMT"},
	{"If-None-Match", "*"},
	{"If-Match", "\"0x8DABC\""},
	{"If-Modified-Since", "Tue, 01 Nov 2022 00:00:00 GMT"},
	{"Date", DATE},
	{"Content-Type", "  text/plain "},
	{"Content-MD5", "XrY7u+Ae7tCTyyK7j1rNww=="},
	{"Content-Length", "11"},
	{"Content-Language", "en-US"},
	{"Content-Encoding", "gzip"},
	{"x-ms-date", DATE},
	{"x-ms-version", VERSION},
};

static const struct azure_header doc_2009_h[] = {
	{"x-ms-date", DATE_2009},
	{"x-ms-version", "2009-09-19"},
};

static const struct azure_header doc_2015_h[] = {
	{"x-ms-version", "2015-02-21"},
	{"x-ms-date", DATE_2015},
	{"Content-Length", "0"},
};

struct sk_case {
	const char *name;
	const char *account;
	struct azure_request req;
	const char *sts;
	const char *auth; /* signature from azure_vectors.py */
};

#define REQ(m, p, q, h)                                                             \
	{                                                                           \
		.method = m, .path = p, .query = q, .headers = h, .n_headers = N(h) \
	}

static const struct sk_case sk_cases[] = {
	{"get_range", ACCOUNT,
	 REQ("GET", "/devstoreaccount1/photos/2022/a%20b.jpg", NULL, get_range_h),
	 "GET\n\n\n\n\n\n\n\n\n\n\nbytes=0-1023\n" MS_STD
	 "/devstoreaccount1/devstoreaccount1/photos/2022/a%20b.jpg",
	 "SharedKey devstoreaccount1:OtFNYP0XYhZG34dzDecNAy/40LdIuyzUpitA2AKAmOM="},
	{"put_block", ACCOUNT,
	 REQ("PUT", "/devstoreaccount1/photos/big.bin",
	     "comp=block&blockid=AAAAAA%2B%2FAAAAAA%3D%3D", put_block_h),
	 "PUT\n\n\n4096\nruPmW0Xpe1hTmdaIWF3seQ==\napplication/octet-stream\n\n\n\n\n\n\n"
	 "x-ms-client-request-id:8d1c1b4e-4e7b-4c2a-9d59-7f0b3c2f6a10\n" MS_STD
	 "/devstoreaccount1/devstoreaccount1/photos/big.bin\nblockid:AAAAAA+/AAAAAA==\ncomp:block",
	 "SharedKey devstoreaccount1:44JUgEnhNUYdlvdAnxcy21h+KaTRlAy05uXR3QqSk4E="},
	{"list_blobs", ACCOUNT,
	 REQ("GET", "/devstoreaccount1/photos",
	     "restype=container&comp=list&prefix=a%2F&delimiter=%2F&marker=" MARKER_SENT
	     "&maxresults=1000&include=metadata",
	     ms_only_h),
	 "GET" NO_STD "\n" MS_STD "/devstoreaccount1/devstoreaccount1/photos\ncomp:list"
	 "\ndelimiter:/\ninclude:metadata\nmarker:" MARKER "\nmaxresults:1000\nprefix:a/"
	 "\nrestype:container",
	 "SharedKey devstoreaccount1:m9bkoR0oQAFukiK2jUy4YggpQkYwuBdBbfMwfh//aYQ="},
	/* Virtual-host style, as on Azure proper: the account appears once. */
	{"list_blobs_azure", ACCOUNT,
	 REQ("GET", "/photos", "restype=container&comp=list&prefix=a%2F&delimiter=%2F", ms_only_h),
	 "GET" NO_STD "\n" MS_STD "/devstoreaccount1/photos\ncomp:list\ndelimiter:/\nprefix:a/"
	 "\nrestype:container",
	 "SharedKey devstoreaccount1:yXl5WTJ5MoYyc5NWZSYyU1z6WSlRQDfip2QaKZ/JJlc="},
	/* Content-Length 0 signs as ""; values trimmed and folded except inside
	 * quotes; names lower-cased, '_' before digits as the service sorts. */
	{"put_folded", ACCOUNT, REQ("PUT", "/devstoreaccount1/photos/notes.txt", "", put_folded_h),
	 "PUT\n\n\n\n\ntext/plain; charset=UTF-8\n\n\n\n\n\n\nx-ms-blob-type:BlockBlob\n"
	 "x-ms-date:" DATE "\nx-ms-meta-a_b:2\nx-ms-meta-a1:1\nx-ms-meta-a2:4\nx-ms-meta-ab:3\n"
	 "x-ms-meta-note:hello big world\nx-ms-meta-quote:say \"a   b\" now\n"
	 "x-ms-version:" VERSION "\n/devstoreaccount1/devstoreaccount1/photos/notes.txt",
	 "SharedKey devstoreaccount1:+soVSbTwQX2Cvmm3v+mqXEbRJdRDF2Ykv4pKAmHMS0Q="},
	/* All eleven standard headers in the doc's order (the JS SDK swaps the
	 * first two), trimmed; a Date sent beside x-ms-date is signed too. */
	{"all_std_headers", ACCOUNT,
	 REQ("PUT", "/devstoreaccount1/photos/hello.txt", NULL, all_std_h),
	 "PUT\ngzip\nen-US\n11\nXrY7u+Ae7tCTyyK7j1rNww==\ntext/plain\n" DATE
	 "\nTue, 01 Nov 2022 00:00:00 GMT\n\"0x8DABC\"\n*\nWed, 02 Nov 2022 09:00:00 GMT"
	 "\nbytes=0-10\n" MS_STD "/devstoreaccount1/devstoreaccount1/photos/hello.txt",
	 "SharedKey devstoreaccount1:3bOvLjvV5UWW0j+Z51Eml9CWz4YIvbbcG7i7KuUgnuI="},
	/* The doc's examples; their string-to-sign is verbatim from the page. */
	{"doc_container_metadata", "myaccount",
	 REQ("GET", "/mycontainer", "restype=container&comp=metadata&timeout=20", doc_2009_h),
	 "GET\n\n\n\n\n\n\n\n\n\n\n\nx-ms-date:" DATE_2009 "\nx-ms-version:2009-09-19"
	 "\n/myaccount/mycontainer\ncomp:metadata\nrestype:container\ntimeout:20",
	 "SharedKey myaccount:m649E40iEJ3QQyCg9/WI2Fa9zS+RB/2rEBcLJb0CKs0="},
	{"doc_content_length_zero", "myaccount",
	 REQ("PUT", "/mycontainer", "restype=container&timeout=30", doc_2015_h),
	 "PUT\n\n\n\n\n\n\n\n\n\n\n\nx-ms-date:" DATE_2015 "\nx-ms-version:2015-02-21"
	 "\n/myaccount/mycontainer\nrestype:container\ntimeout:30",
	 "SharedKey myaccount:xGXG0xDZ4LffNUrgvdRqISw8BZe4MJz8EbGZmcCE038="},
	{"doc_list_include", "myaccount",
	 REQ("GET", "/mycontainer",
	     "restype=container&comp=list&include=snapshots&include=metadata"
	     "&include=uncommittedblobs",
	     doc_2009_h),
	 "GET" NO_STD "\nx-ms-date:" DATE_2009 "\nx-ms-version:2009-09-19\n"
	 "/myaccount/mycontainer\ncomp:list\ninclude:metadata,snapshots,uncommittedblobs"
	 "\nrestype:container",
	 "SharedKey myaccount:9Gw4Dh+2NbLSSzeDQjEZp8cMGG9I7Q0LqexPpaYH2PA="},
};

START_TEST(test_sharedkey_vectors)
{
	const struct sk_case *c = &sk_cases[_i];
	struct buf b;

	buf_init(&b, 4096);
	ck_assert_msg(azure_sharedkey_string_to_sign(&c->req, c->account, &b) == 0, "%s", c->name);
	ck_assert_str_eq(b.data, c->sts);
	buf_reset(&b);
	ck_assert_int_eq(azure_sharedkey_authorization(&c->req, c->account, KEY, &b), 0);
	ck_assert_str_eq(b.data, c->auth);
	buf_free(&b);
}
END_TEST

/* Appends to what is there, so a caller can build "Authorization: ..." */
START_TEST(test_sharedkey_appends)
{
	struct buf b;

	buf_init(&b, 4096);
	ck_assert_int_eq(buf_puts(&b, "Authorization: "), 0);
	ck_assert_int_eq(azure_sharedkey_authorization(&sk_cases[0].req, ACCOUNT, KEY, &b), 0);
	ck_assert_str_eq(b.data, "Authorization: SharedKey devstoreaccount1:"
				 "OtFNYP0XYhZG34dzDecNAy/40LdIuyzUpitA2AKAmOM=");
	buf_free(&b);
}
END_TEST

/* Names in the service's order, checked against the SDK's compareHeader. */
static const char *const header_order[] = {
	"x-ms-a_b",	 "x-ms-a0",	   "x-ms-a9",	   "x-ms-ab",
	"x-ms-ab-",	 "x-ms-a-b",	   "x-ms-ac",	   "x-ms-a-c",
	"x-ms-b",	 "x-ms-blob-type", "x-ms-blobz",   "x-ms-date",
	"x-ms-meta-a_b", "x-ms-meta-a1",   "x-ms-meta-ab", "x-ms-version",
};

static void assert_order(const size_t *perm)
{
	struct azure_header h[N(header_order)];
	struct azure_request r = {.method = "GET", .path = "/", .headers = h, .n_headers = N(h)};
	struct buf b, want;

	for (size_t i = 0; i < N(h); i++)
		h[i] = (struct azure_header){header_order[perm[i]], "v"};
	buf_init(&b, 4096);
	buf_init(&want, 4096);
	ck_assert_int_eq(buf_puts(&want, "GET" NO_STD "\n"), 0);
	for (size_t i = 0; i < N(h); i++)
		ck_assert_int_eq(buf_printf(&want, "%s:v\n", header_order[i]), 0);
	ck_assert_int_eq(buf_puts(&want, "/a/"), 0);
	ck_assert_int_eq(azure_sharedkey_string_to_sign(&r, "a", &b), 0);
	ck_assert_str_eq(b.data, want.data);
	buf_free(&b);
	buf_free(&want);
}

START_TEST(test_header_order)
{
	size_t perm[N(header_order)];

	for (size_t i = 0; i < N(perm); i++)
		perm[i] = N(perm) - 1 - i;
	assert_order(perm);
	for (size_t i = 0; i < N(perm); i++)
		perm[i] = (i * 7 + 3) % N(perm); /* 7 is prime to 16: a permutation */
	assert_order(perm);
}
END_TEST

static void assert_resource(const char *path, const char *query, const char *resource)
{
	struct azure_request r = {.method = "GET", .path = path, .query = query};
	struct buf b;

	buf_init(&b, 4096);
	ck_assert_int_eq(azure_sharedkey_string_to_sign(&r, "acct", &b), 0);
	ck_assert_str_eq(b.data + strlen("GET" NO_STD "\n"), resource);
	buf_free(&b);
}

START_TEST(test_resource_details)
{
	assert_resource("", NULL, "/acct/");
	assert_resource("/", "comp=list", "/acct/\ncomp:list");
	/* Names lower-cased, values kept; empty pieces skipped; no '=' is "". */
	assert_resource("/c", "Comp=List&&RESTYPE=container&flag",
			"/acct/c\ncomp:List\nflag:\nrestype:container");
	/* Decoded once; '+' is not a space; repeated values sorted. */
	assert_resource("/c/a%2Bb", "p=a%20b+c&x=2&x=1&x=10", "/acct/c/a%2Bb\np:a b+c\nx:1,10,2");
	assert_resource("/c", "n=%zz%4", "/acct/c\nn:%zz%4");
}
END_TEST

START_TEST(test_sharedkey_invalid)
{
	/* Wrong length, '=' not at the end, blanks, characters of other alphabets. */
	static const char *const bad_keys[] = {
		"",	 "QQ=",	 "QUJDR", KEY "\n", "Q=Q=", "QQ=A",	"====",
		"QUJ\n", " QUJ", "QU*D",  "QU-D",   "QU_D", "QUJD    ",
	};
	struct azure_header h[] = {{"x-ms-date", DATE}, {"Range", "bytes=0-1"}, {NULL, "v"}};
	struct azure_request r = {.method = "GET", .path = "/c/b", .headers = h, .n_headers = 2};
	struct buf b;

	buf_init(&b, 4096);
	ck_assert_int_eq(azure_sharedkey_authorization(NULL, ACCOUNT, KEY, &b), -EINVAL);
	ck_assert_int_eq(azure_sharedkey_authorization(&r, NULL, KEY, &b), -EINVAL);
	ck_assert_int_eq(azure_sharedkey_authorization(&r, "", KEY, &b), -EINVAL);
	ck_assert_int_eq(azure_sharedkey_authorization(&r, ACCOUNT, NULL, &b), -EINVAL);
	ck_assert_int_eq(azure_sharedkey_authorization(&r, ACCOUNT, KEY, NULL), -EINVAL);
	ck_assert_int_eq(azure_sharedkey_string_to_sign(NULL, ACCOUNT, &b), -EINVAL);
	ck_assert_int_eq(azure_sharedkey_string_to_sign(&r, NULL, &b), -EINVAL);
	for (size_t i = 0; i < N(bad_keys); i++)
		ck_assert_msg(azure_sharedkey_authorization(&r, ACCOUNT, bad_keys[i], &b) ==
				      -EINVAL,
			      "key %zu accepted", i);
	/* A short key that is valid base64 is a key. */
	ck_assert_int_eq(azure_sharedkey_authorization(&r, ACCOUNT, "QQ==", &b), 0);
	buf_free(&b);
	buf_init(&b, 4096);

	r.n_headers = 3; /* the nameless one */
	ck_assert_int_eq(azure_sharedkey_string_to_sign(&r, ACCOUNT, &b), -EINVAL);
	h[2].name = "";
	ck_assert_int_eq(azure_sharedkey_authorization(&r, ACCOUNT, KEY, &b), -EINVAL);
	h[2].name = "x-ms-meta-a.b"; /* a character the service order is not known for */
	ck_assert_int_eq(azure_sharedkey_string_to_sign(&r, ACCOUNT, &b), -EINVAL);
	h[2].name = "RANGE"; /* signed twice */
	ck_assert_int_eq(azure_sharedkey_string_to_sign(&r, ACCOUNT, &b), -EINVAL);
	h[2].name = "X-MS-Date";
	ck_assert_int_eq(azure_sharedkey_string_to_sign(&r, ACCOUNT, &b), -EINVAL);
	r.n_headers = 2;
	r.headers = NULL;
	ck_assert_int_eq(azure_sharedkey_string_to_sign(&r, ACCOUNT, &b), -EINVAL);
	r.headers = h;
	r.method = NULL;
	ck_assert_int_eq(azure_sharedkey_string_to_sign(&r, ACCOUNT, &b), -EINVAL);
	r.method = "get";
	ck_assert_int_eq(azure_sharedkey_string_to_sign(&r, ACCOUNT, &b), -EINVAL);
	r.method = "GET";
	r.path = NULL;
	ck_assert_int_eq(azure_sharedkey_string_to_sign(&r, ACCOUNT, &b), -EINVAL);
	ck_assert_ptr_null(b.data); /* nothing appended on refusal */
	buf_free(&b);

	/* Unsigned headers may repeat; a full buffer is -EFBIG, not truncation. */
	r.path = "/c/b";
	h[2] = (struct azure_header){"Accept", "*/*"};
	h[1] = (struct azure_header){"accept", "*/*"};
	r.n_headers = 3;
	buf_init(&b, 8);
	ck_assert_int_eq(azure_sharedkey_authorization(&r, ACCOUNT, KEY, &b), -EFBIG);
	ck_assert_ptr_null(b.data);
	buf_free(&b);
}
END_TEST

static const struct azure_udk udk = {
	.object_id = "6d8b5d4a-3f1e-4b8f-9a55-2c5b9a1e0c11",
	.tenant_id = "72f988bf-86f1-41af-91ab-2d7cd011db47",
	.start = "2022-11-02T08:00:00Z",
	.expiry = "2022-11-03T08:00:00Z",
	.service = "b",
	.version = VERSION,
};
#define UDK_VALUE "oIrBdBk3ZVv9FhuxK7JvKuVt7+YwHsGm/Z1XeLxRyp8="

struct sas_case {
	const char *name;
	struct azure_sas sas;
	const char *key;
	const char *sts;
	const char *token;
};

static const struct sas_case sas_cases[] = {
	/* Expiry chosen so that sig carries '+', '/' and '='. */
	{"blob_read",
	 {.account = ACCOUNT,
	  .container = "photos",
	  .blob = "2022/a b+c.jpg",
	  .permissions = "r",
	  .start = 1667347200,	/* 2022-11-02T00:00:00Z */
	  .expiry = 1667433607, /* 2022-11-03T00:00:07Z */
	  .ip = "127.0.0.1",
	  .protocol = "https,http"},
	 KEY,
	 "r\n2022-11-02T00:00:00Z\n2022-11-03T00:00:07Z\n/blob/devstoreaccount1/photos/2022/a "
	 "b+c.jpg"
	 "\n\n127.0.0.1\nhttps,http\n2022-11-02\nb\n\n\n\n\n\n\n",
	 "sv=2022-11-02&spr=https%2Chttp&st=2022-11-02T00%3A00%3A00Z&se=2022-11-03T00%3A00%3A07Z"
	 "&sip=127.0.0.1&sr=b&sp=r&sig=H7i%2B5pv69NNaLB%2FliyegrZZP%2BzzwWjv7HofMRyW4fyI%3D"},
	{"container_rl",
	 {.account = ACCOUNT,
	  .container = "photos",
	  .permissions = "racwdl",
	  .expiry = 1672531199, /* 2022-12-31T23:59:59Z */
	  .protocol = "https",
	  .content_disposition = "attachment; filename=\"x y.txt\"",
	  .content_type = "text/plain"},
	 KEY,
	 "racwdl\n\n2022-12-31T23:59:59Z\n/blob/devstoreaccount1/"
	 "photos\n\n\nhttps\n2022-11-02\nc\n\n"
	 "\n\nattachment; filename=\"x y.txt\"\n\n\ntext/plain",
	 "sv=2022-11-02&spr=https&se=2022-12-31T23%3A59%3A59Z&sr=c&sp=racwdl"
	 "&rscd=attachment%3B%20filename%3D%22x%20y.txt%22&rsct=text%2Fplain"
	 "&sig=GvCHJrbItzJAMq32bSkmB9%2BOkS1FL3n8k7cNA0BmA4g%3D"},
	{"stored_policy",
	 {.account = ACCOUNT, .container = "photos", .blob = "notes.txt", .identifier = "policy-1"},
	 KEY,
	 "\n\n\n/blob/devstoreaccount1/photos/notes.txt\npolicy-1\n\n\n2022-11-02\nb\n\n\n\n\n\n\n",
	 "sv=2022-11-02&si=policy-1&sr=b&sig=Mzsi2bjEzySazglVS5qa501X5XGjd3BGrxeB8vVzYrs%3D"},
	{"udk_read",
	 {.account = ACCOUNT,
	  .container = "photos",
	  .blob = "notes.txt",
	  .permissions = "r",
	  .start = 1667379600,	/* 2022-11-02T09:00:00Z */
	  .expiry = 1667383200, /* 2022-11-02T10:00:00Z */
	  .protocol = "https",
	  .udk = &udk},
	 UDK_VALUE,
	 "r\n2022-11-02T09:00:00Z\n2022-11-02T10:00:00Z\n/blob/devstoreaccount1/photos/notes.txt\n"
	 "6d8b5d4a-3f1e-4b8f-9a55-2c5b9a1e0c11\n72f988bf-86f1-41af-91ab-2d7cd011db47\n"
	 "2022-11-02T08:00:00Z\n2022-11-03T08:00:00Z\nb\n2022-11-02\n\n\n\n\nhttps\n2022-11-02\nb"
	 "\n\n\n\n\n\n\n",
	 "sv=2022-11-02&spr=https&st=2022-11-02T09%3A00%3A00Z&se=2022-11-02T10%3A00%3A00Z"
	 "&skoid=6d8b5d4a-3f1e-4b8f-9a55-2c5b9a1e0c11&sktid=72f988bf-86f1-41af-91ab-2d7cd011db47"
	 "&skt=2022-11-02T08%3A00%3A00Z&ske=2022-11-03T08%3A00%3A00Z&sks=b&skv=2022-11-02&sr=b&sp=r"
	 "&sig=EMwNycUSiE%2Bu5VRomhxhmti%2BjOMgGeF96V9Fp21Ou%2F4%3D"},
};

START_TEST(test_sas_vectors)
{
	const struct sas_case *c = &sas_cases[_i];
	struct buf b;

	buf_init(&b, 4096);
	ck_assert_msg(azure_sas_string_to_sign(&c->sas, &b) == 0, "%s", c->name);
	ck_assert_str_eq(b.data, c->sts);
	buf_reset(&b);
	ck_assert_int_eq(azure_sas_token(&c->sas, c->key, &b), 0);
	ck_assert_str_eq(b.data, c->token);
	buf_free(&b);
}
END_TEST

/* sig is base64: its '+', '/' and '=' must reach the server encoded. */
START_TEST(test_sas_sig_encoding)
{
	struct buf b;
	const char *sig;

	buf_init(&b, 4096);
	ck_assert_int_eq(azure_sas_token(&sas_cases[0].sas, KEY, &b), 0);
	sig = strstr(b.data, "&sig=");
	ck_assert_ptr_nonnull(sig);
	ck_assert_str_eq(sig + 5, "H7i%2B5pv69NNaLB%2FliyegrZZP%2BzzwWjv7HofMRyW4fyI%3D");
	ck_assert_ptr_null(strpbrk(sig + 5, "+/="));
	/* Another key, another signature. */
	buf_reset(&b);
	ck_assert_int_eq(azure_sas_token(&sas_cases[0].sas, UDK_VALUE, &b), 0);
	ck_assert_ptr_null(strstr(b.data, "H7i%2B5pv69NNaLB"));
	buf_free(&b);
}
END_TEST

START_TEST(test_sas_invalid)
{
	struct azure_udk k = udk;
	struct azure_sas s = sas_cases[0].sas;
	struct buf b;

	buf_init(&b, 4096);
	ck_assert_int_eq(azure_sas_token(NULL, KEY, &b), -EINVAL);
	ck_assert_int_eq(azure_sas_token(&s, NULL, &b), -EINVAL);
	ck_assert_int_eq(azure_sas_token(&s, KEY, NULL), -EINVAL);
	ck_assert_int_eq(azure_sas_string_to_sign(NULL, &b), -EINVAL);
	ck_assert_int_eq(azure_sas_token(&s, "not base64!", &b), -EINVAL);
	ck_assert_int_eq(azure_sas_token(&s, "QUJD=", &b), -EINVAL);
	s.account = NULL;
	ck_assert_int_eq(azure_sas_token(&s, KEY, &b), -EINVAL);
	s.account = ACCOUNT;
	s.container = "";
	ck_assert_int_eq(azure_sas_string_to_sign(&s, &b), -EINVAL);
	s.container = "photos";
	s.blob = "";
	ck_assert_int_eq(azure_sas_token(&s, KEY, &b), -EINVAL);
	s.blob = "x";
	s.permissions = NULL; /* and no stored policy to supply them */
	ck_assert_int_eq(azure_sas_token(&s, KEY, &b), -EINVAL);
	s.permissions = "rr";
	ck_assert_int_eq(azure_sas_token(&s, KEY, &b), -EINVAL);
	s.permissions = "R";
	ck_assert_int_eq(azure_sas_token(&s, KEY, &b), -EINVAL);
	s.permissions = "r";
	s.expiry = 0;
	ck_assert_int_eq(azure_sas_string_to_sign(&s, &b), -EINVAL);
	s.expiry = (time_t)INT64_MAX; /* no calendar date */
	ck_assert_int_eq(azure_sas_token(&s, KEY, &b), -EINVAL);
	s.expiry = 1667433607;
	s.udk = &k;
	s.identifier = "policy-1"; /* not with a delegation key */
	ck_assert_int_eq(azure_sas_token(&s, UDK_VALUE, &b), -EINVAL);
	s.identifier = NULL;
	k.tenant_id = NULL;
	ck_assert_int_eq(azure_sas_token(&s, UDK_VALUE, &b), -EINVAL);
	k.tenant_id = "";
	ck_assert_int_eq(azure_sas_string_to_sign(&s, &b), -EINVAL);
	ck_assert_ptr_null(b.data); /* nothing appended on refusal */
	k.tenant_id = udk.tenant_id;
	ck_assert_int_eq(azure_sas_token(&s, UDK_VALUE, &b), 0);
	buf_free(&b);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("azure_auth");
	TCase *sk = tcase_create("sharedkey");
	TCase *sas = tcase_create("sas");

	tcase_add_loop_test(sk, test_sharedkey_vectors, 0, N(sk_cases));
	tcase_add_test(sk, test_sharedkey_appends);
	tcase_add_test(sk, test_header_order);
	tcase_add_test(sk, test_resource_details);
	tcase_add_test(sk, test_sharedkey_invalid);
	tcase_add_loop_test(sas, test_sas_vectors, 0, N(sas_cases));
	tcase_add_test(sas, test_sas_sig_encoding);
	tcase_add_test(sas, test_sas_invalid);
	suite_add_tcase(s, sk);
	suite_add_tcase(s, sas);
	return check_run(s);
}
