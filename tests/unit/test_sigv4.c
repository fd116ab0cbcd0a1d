/* SigV4 against the examples AWS publishes for S3 ("Signature Calculations
 * for the Authorization Header: Transferring Payload in a Single Chunk"). */
#include <check.h>

#include "check_main.h"
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sigv4.h"

#define AK	  "AKIAIOSFODNN7EXAMPLE"
#define SK	  "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
#define EMPTY_SHA "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
#define HOST	  "examplebucket.s3.amazonaws.com"
#define DATE	  "20130524T000000Z"

static char *sign(const char *method, const char *path, const char *query,
		  const struct sigv4_header *h, size_t n, const char *payload)
{
	struct sigv4_request r = {.method = method,
				  .path = path,
				  .query = query,
				  .headers = h,
				  .n_headers = n,
				  .payload_hash = payload,
				  .region = "us-east-1",
				  .service = "s3",
				  .amz_date = DATE};
	struct buf out;

	buf_init(&out, 4096);
	ck_assert_int_eq(sigv4_authorization(&r, AK, SK, &out), 0);
	return buf_steal(&out);
}

static void assert_signature(char *auth, const char *signed_headers, const char *sig)
{
	char expect[512];

	snprintf(expect, sizeof(expect),
		 "AWS4-HMAC-SHA256 Credential=" AK "/20130524/us-east-1/s3/aws4_request,"
		 "SignedHeaders=%s,Signature=%s",
		 signed_headers, sig);
	ck_assert_str_eq(auth, expect);
	free(auth);
}

START_TEST(test_get_object_range)
{
	const struct sigv4_header h[] = {
		{"Host", HOST},
		{"Range", "bytes=0-9"},
		{"x-amz-content-sha256", EMPTY_SHA},
		{"x-amz-date", DATE},
	};
	struct sigv4_request r = {.method = "GET",
				  .path = "/test.txt",
				  .headers = h,
				  .n_headers = 4,
				  .payload_hash = EMPTY_SHA,
				  .region = "us-east-1",
				  .service = "s3",
				  .amz_date = DATE};
	struct buf b;

	buf_init(&b, 4096);
	ck_assert_int_eq(sigv4_canonical_request(&r, &b), 0);
	ck_assert_str_eq(b.data, "GET\n/test.txt\n\nhost:" HOST "\nrange:bytes=0-9\n"
				 "x-amz-content-sha256:" EMPTY_SHA "\nx-amz-date:" DATE "\n\n"
				 "host;range;x-amz-content-sha256;x-amz-date\n" EMPTY_SHA);
	buf_reset(&b);
	ck_assert_int_eq(sigv4_string_to_sign(&r, &b), 0);
	ck_assert_str_eq(b.data,
			 "AWS4-HMAC-SHA256\n" DATE "\n20130524/us-east-1/s3/aws4_request\n"
			 "7344ae5b7ee6c3e7e6b0fe0640412a37625d1fbfff95c48bbb2dc43964946972");
	buf_free(&b);
	assert_signature(sign("GET", "/test.txt", NULL, h, 4, EMPTY_SHA),
			 "host;range;x-amz-content-sha256;x-amz-date",
			 "f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41");
}
END_TEST

START_TEST(test_put_object)
{
	const char *payload = "44ce7dd67c959e0d3524ffac1771dfbba87d2b6b4b4e99e42034a8b803f8b072";
	const struct sigv4_header h[] = {
		{"Date", "Fri, 24 May 2013 00:00:00 GMT"},
		{"Host", HOST},
		{"x-amz-date", DATE},
		{"x-amz-storage-class", "REDUCED_REDUNDANCY"},
		{"x-amz-content-sha256", payload},
	};

	assert_signature(sign("PUT", "/test%24file.text", "", h, 5, payload),
			 "date;host;x-amz-content-sha256;x-amz-date;x-amz-storage-class",
			 "98ad721746da40c64f1a55b78f14c238d841ea1380cd77a1b5971af0ece108bd");
}
END_TEST

START_TEST(test_get_lifecycle)
{
	const struct sigv4_header h[] = {
		{"host", HOST},
		{"x-amz-date", DATE},
		{"x-amz-content-sha256", EMPTY_SHA},
	};

	assert_signature(sign("GET", "/", "lifecycle", h, 3, EMPTY_SHA),
			 "host;x-amz-content-sha256;x-amz-date",
			 "fea454ca298b7da1c68078a5d1bdbfbbe0d65c699e0f91ac7a200a0136783543");
}
END_TEST

START_TEST(test_list_objects)
{
	const struct sigv4_header h[] = {
		{"host", HOST},
		{"x-amz-date", DATE},
		{"x-amz-content-sha256", EMPTY_SHA},
	};

	assert_signature(sign("GET", "/", "max-keys=2&prefix=J", h, 3, EMPTY_SHA),
			 "host;x-amz-content-sha256;x-amz-date",
			 "34b48302e7b5fa45bde8084f4b7868a86f0a534bc59db6670ed5711ef69dc6f7");
	/* The query as sent in any order: the canonical form sorts it. */
	assert_signature(sign("GET", "/", "prefix=J&max-keys=2", h, 3, EMPTY_SHA),
			 "host;x-amz-content-sha256;x-amz-date",
			 "34b48302e7b5fa45bde8084f4b7868a86f0a534bc59db6670ed5711ef69dc6f7");
}
END_TEST

START_TEST(test_canonical_details)
{
	const struct sigv4_header h[] = {
		{"X-Amz-Meta-Note", "  a   b\t c  "},
		{"host", "h"},
	};
	struct sigv4_request r = {.method = "GET",
				  .path = "/b/k%20x",
				  .query = "b=2&a=&b=1&c",
				  .headers = h,
				  .n_headers = 2,
				  .payload_hash = "UNSIGNED-PAYLOAD",
				  .region = "r",
				  .service = "s3",
				  .amz_date = DATE};
	struct buf b;

	buf_init(&b, 4096);
	ck_assert_int_eq(sigv4_canonical_request(&r, &b), 0);
	ck_assert_str_eq(b.data, "GET\n/b/k%20x\na=&b=1&b=2&c=\nhost:h\nx-amz-meta-note:a b c\n\n"
				 "host;x-amz-meta-note\nUNSIGNED-PAYLOAD");
	buf_free(&b);
}
END_TEST

START_TEST(test_invalid)
{
	const struct sigv4_header h[] = {{"host", "h"}, {NULL, "v"}};
	struct sigv4_request r = {.method = "GET",
				  .path = "/",
				  .headers = h,
				  .n_headers = 1,
				  .payload_hash = EMPTY_SHA,
				  .region = "r",
				  .service = "s3",
				  .amz_date = DATE};
	struct buf b;

	buf_init(&b, 4096);
	ck_assert_int_eq(sigv4_authorization(&r, NULL, SK, &b), -EINVAL);
	ck_assert_int_eq(sigv4_authorization(&r, AK, NULL, &b), -EINVAL);
	r.n_headers = 2; /* the nameless one */
	ck_assert_int_eq(sigv4_canonical_request(&r, &b), -EINVAL);
	r.n_headers = 1;
	r.amz_date = "20130524";
	ck_assert_int_eq(sigv4_string_to_sign(&r, &b), -EINVAL);
	r.amz_date = DATE;
	r.method = NULL;
	ck_assert_int_eq(sigv4_canonical_request(&r, &b), -EINVAL);
	ck_assert_int_eq(sigv4_string_to_sign(&r, &b), -EINVAL);
	ck_assert_int_eq(sigv4_authorization(&r, AK, SK, &b), -EINVAL);
	ck_assert_ptr_null(b.data); /* nothing appended on refusal */
	buf_free(&b);
	/* A full output buffer reports -EFBIG rather than truncating. */
	r.method = "GET";
	buf_init(&b, 8);
	ck_assert_int_eq(sigv4_authorization(&r, AK, SK, &b), -EFBIG);
	buf_free(&b);
}
END_TEST

START_TEST(test_helpers)
{
	char d[17], h[65];

	sigv4_amz_date(0, d);
	ck_assert_str_eq(d, "19700101T000000Z");
	sigv4_amz_date(1369353600, d);
	ck_assert_str_eq(d, DATE);
	sigv4_sha256_hex("", 0, h);
	ck_assert_str_eq(h, EMPTY_SHA);
	sigv4_sha256_hex("abc", 3, h);
	ck_assert_str_eq(h, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}
END_TEST

/* "Authenticating Requests: Using Query Parameters (AWS Signature Version
 * 4)", the example: a GET of examplebucket/test.txt valid for 86400 s. */
START_TEST(test_presigned_url_example)
{
	struct sigv4_presign p = {.method = "GET",
				  .host = "examplebucket.s3.amazonaws.com",
				  .path = "/test.txt",
				  .region = "us-east-1",
				  .service = "s3",
				  .amz_date = "20130524T000000Z",
				  .expires = 86400,
				  .access_key = "AKIAIOSFODNN7EXAMPLE",
				  .secret_key = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"};
	struct buf q;

	buf_init(&q, 8192);
	ck_assert_int_eq(sigv4_presign(&p, &q), 0);
	ck_assert_str_eq(
		q.data,
		"X-Amz-Algorithm=AWS4-HMAC-SHA256"
		"&X-Amz-Credential=AKIAIOSFODNN7EXAMPLE%2F20130524%2Fus-east-1%2Fs3%2Faws4_request"
		"&X-Amz-Date=20130524T000000Z&X-Amz-Expires=86400&X-Amz-SignedHeaders=host"
		"&X-Amz-Signature="
		"aeeed9bbccd4d02ee5c0109b86d86835f995330da4c265957d157751f604d404");
	/* A session token is part of what is signed. */
	buf_reset(&q);
	p.session_token = "tok/en=";
	ck_assert_int_eq(sigv4_presign(&p, &q), 0);
	ck_assert_ptr_nonnull(strstr(q.data, "&X-Amz-Security-Token=tok%2Fen%3D&"));
	ck_assert_ptr_null(
		strstr(q.data, "aeeed9bbccd4d02ee5c0109b86d86835f995330da4c265957d1577"));
	/* Seven days at most, as S3 takes them. */
	buf_reset(&q);
	p.expires = SIGV4_PRESIGN_MAX + 1;
	ck_assert_int_eq(sigv4_presign(&p, &q), -EINVAL);
	p.expires = 0;
	ck_assert_int_eq(sigv4_presign(&p, &q), -EINVAL);
	buf_free(&q);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("sigv4");
	TCase *tc = tcase_create("aws-examples");

	tcase_add_test(tc, test_get_object_range);
	tcase_add_test(tc, test_put_object);
	tcase_add_test(tc, test_get_lifecycle);
	tcase_add_test(tc, test_list_objects);
	tcase_add_test(tc, test_canonical_details);
	tcase_add_test(tc, test_invalid);
	tcase_add_test(tc, test_helpers);
	tcase_add_test(tc, test_presigned_url_example);
	suite_add_tcase(s, tc);
	return check_run(s);
}
