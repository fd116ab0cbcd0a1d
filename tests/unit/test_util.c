/* The bounded buffer and percent-encoding helpers. */
#include <check.h>

#include "check_main.h"
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "buf.h"
#include "store_meta.h"
#include "uri.h"
#include "xml_util.h"

START_TEST(test_buf_grows_and_bounds)
{
	struct buf b;

	buf_init(&b, 8);
	ck_assert_int_eq(buf_puts(&b, "abc"), 0);
	ck_assert_int_eq(buf_printf(&b, "%d", 42), 0);
	ck_assert_str_eq(b.data, "abc42");
	ck_assert_uint_eq(b.len, 5);
	ck_assert_int_eq(buf_puts(&b, "6789"), -EFBIG);
	ck_assert_str_eq(b.data, "abc42"); /* unchanged on failure */
	ck_assert_int_eq(buf_puts(&b, "678"), 0);
	ck_assert_uint_eq(b.len, 8);
	buf_reset(&b);
	ck_assert_uint_eq(b.len, 0);
	ck_assert_str_eq(b.data, "");
	buf_free(&b);
	ck_assert_ptr_null(b.data);
}
END_TEST

START_TEST(test_buf_steal)
{
	struct buf b;
	char *s;

	buf_init(&b, 100);
	s = buf_steal(&b);
	ck_assert_str_eq(s, "");
	free(s);
	ck_assert_int_eq(buf_append(&b, "x\0y", 3), 0);
	s = buf_steal(&b);
	ck_assert_int_eq(memcmp(s, "x\0y", 4), 0);
	ck_assert_ptr_null(b.data);
	ck_assert_uint_eq(b.len, 0);
	free(s);
	buf_free(&b);
}
END_TEST

START_TEST(test_uri_encode)
{
	struct buf b;
	const char key[] = "a b/c+d=e&f~_.-ü$";

	buf_init(&b, 1024);
	ck_assert_int_eq(uri_encode(&b, key, strlen(key), true), 0);
	ck_assert_str_eq(b.data, "a%20b/c%2Bd%3De%26f~_.-%C3%BC%24");
	buf_reset(&b);
	ck_assert_int_eq(uri_encode(&b, key, strlen(key), false), 0);
	ck_assert_str_eq(b.data, "a%20b%2Fc%2Bd%3De%26f~_.-%C3%BC%24");
	buf_reset(&b);
	ck_assert_int_eq(uri_encode(&b, "x\0y", 3, false), 0);
	ck_assert_str_eq(b.data, "x%00y");
	buf_free(&b);
}
END_TEST

START_TEST(test_uri_decode)
{
	char s1[] = "a%20b%2Fc+d%zz%4";
	char s2[] = "a+b%2b";

	uri_decode(s1, false);
	ck_assert_str_eq(s1, "a b/c+d%zz%4");
	uri_decode(s2, true);
	ck_assert_str_eq(s2, "a b+");
}
END_TEST

/* The s3fs metadata codec, and blobfuse's folder flag, both ways. */
START_TEST(test_meta_codec)
{
	struct store_meta m = {.has_mode = true, .mode = 040755, .folder = true};
	struct http_response resp = {0};
	struct meta_headers h;
	struct store_meta back;

	meta_to_headers(&m, "x-ms-meta-", &h);
	ck_assert_uint_eq(h.n, 2);
	ck_assert_str_eq(h.name[1], "x-ms-meta-hdi_isfolder");
	ck_assert_str_eq(h.value[1], "true");
	buf_init(&resp.headers, 4096);
	for (unsigned int i = 0; i < h.n; i++)
		buf_printf(&resp.headers, "%s: %s\r\n", h.name[i], h.value[i]);
	meta_from_headers(&resp, "x-ms-meta-", &back);
	ck_assert(back.folder && back.has_mode && back.mode == 040755);
	buf_reset(&resp.headers);
	buf_puts(&resp.headers, "x-ms-meta-hdi_isfolder: false\r\nx-ms-meta-uid: 7\r\n");
	meta_from_headers(&resp, "x-ms-meta-", &back);
	ck_assert(!back.folder && back.has_uid && back.uid == 7);
	buf_free(&resp.headers);
}
END_TEST

/* A body in an encoding libxml2 cannot read is refused without a word on
 * stderr (the daemon's log): libxml2 prints such errors unless told not
 * to, whatever the parse options say. Found by fuzz/fuzz_xml_root_fields. */
START_TEST(test_bad_encoding_is_quiet)
{
	static const char doc[] = "<?xml version=\"1.0\" encoding=\"UTF8-\"?>\n"
				  "<Error><Code>x</Code><Message>\xe1ge</Message></Error>";
	static const char *const names[] = {"Code"};
	char *code = NULL, **const outs[] = {&code};
	char log[] = "/tmp/bucketfs-test-util-XXXXXX";
	int fd = mkstemp(log), saved = dup(2);

	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(dup2(fd, 2), 2);
	xml_root_fields(doc, sizeof(doc) - 1, "Error", names, outs, 1);
	fflush(stderr);
	dup2(saved, 2);
	close(saved);
	ck_assert_int_eq(lseek(fd, 0, SEEK_END), 0);
	close(fd);
	unlink(log);
	free(code);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("util");
	TCase *tc = tcase_create("util");

	tcase_add_test(tc, test_buf_grows_and_bounds);
	tcase_add_test(tc, test_buf_steal);
	tcase_add_test(tc, test_uri_encode);
	tcase_add_test(tc, test_uri_decode);
	tcase_add_test(tc, test_meta_codec);
	tcase_add_test(tc, test_bad_encoding_is_quiet);
	suite_add_tcase(s, tc);
	return check_run(s);
}
