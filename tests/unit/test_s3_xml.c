/* The S3 XML documents: listings, errors, multipart and delete bodies. */
#include <check.h>

#include "check_main.h"
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "s3_xml.h"

#define LEN(s) strlen(s)

static const char page1[] =
	"<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
	"<ListBucketResult xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">"
	"<Name>bkt</Name><Prefix>d/</Prefix><KeyCount>4</KeyCount><MaxKeys>1000</MaxKeys>"
	"<Delimiter>/</Delimiter><IsTruncated>true</IsTruncated>"
	"<Contents><Key>d/a &amp; b.txt</Key><LastModified>2009-10-12T17:50:30.000Z</LastModified>"
	"<ETag>&quot;fba9dede5f27731c9771645a39863328&quot;</ETag><Size>434234</Size>"
	"<StorageClass>STANDARD</StorageClass></Contents>"
	"<Contents><Key>d/ünïcödé</Key>"
	"<LastModified>2021-01-01T00:00:00Z</LastModified><Size>0</Size></Contents>"
	"<CommonPrefixes><Prefix>d/sub/</Prefix></CommonPrefixes>"
	"<CommonPrefixes><Prefix>d/x y/</Prefix></CommonPrefixes>"
	"<NextContinuationToken>1ueGcxLPRx1Tr/XYExHnhbYLgveDs2J/wm36Hy4vbOwM=</"
	"NextContinuationToken>"
	"</ListBucketResult>";

START_TEST(test_list_page)
{
	struct store_list l;

	ck_assert_int_eq(s3_xml_parse_list(page1, LEN(page1), &l), 0);
	ck_assert_uint_eq(l.n_objects, 2);
	ck_assert_str_eq(l.objects[0].key, "d/a & b.txt");
	ck_assert_uint_eq(l.objects[0].size, 434234);
	ck_assert_int_eq(l.objects[0].last_modified, 1255369830);
	ck_assert_str_eq(l.objects[0].etag, "\"fba9dede5f27731c9771645a39863328\"");
	ck_assert_str_eq(l.objects[1].key, "d/ünïcödé");
	ck_assert_uint_eq(l.objects[1].size, 0);
	ck_assert_int_eq(l.objects[1].last_modified, 1609459200);
	ck_assert_str_eq(l.objects[1].etag, "");
	ck_assert_uint_eq(l.n_prefixes, 2);
	ck_assert_str_eq(l.prefixes[0], "d/sub/");
	ck_assert_str_eq(l.prefixes[1], "d/x y/");
	ck_assert_str_eq(l.next_token, "1ueGcxLPRx1Tr/XYExHnhbYLgveDs2J/wm36Hy4vbOwM=");
	store_list_free(&l);
	ck_assert_ptr_null(l.objects);
}
END_TEST

START_TEST(test_list_last_and_empty)
{
	const char last[] = "<ListBucketResult><IsTruncated>false</IsTruncated>"
			    "<NextContinuationToken>stale</NextContinuationToken>"
			    "<Contents><Key>k</Key><Size>5</Size></Contents></ListBucketResult>";
	const char empty[] = "<ListBucketResult xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">"
			     "<Name>b</Name><KeyCount>0</KeyCount><IsTruncated>false</IsTruncated>"
			     "</ListBucketResult>";
	struct store_list l;

	ck_assert_int_eq(s3_xml_parse_list(last, LEN(last), &l), 0);
	ck_assert_ptr_null(l.next_token);
	ck_assert_uint_eq(l.n_objects, 1);
	ck_assert_int_eq(l.objects[0].last_modified, 0);
	store_list_free(&l);
	ck_assert_int_eq(s3_xml_parse_list(empty, LEN(empty), &l), 0);
	ck_assert_uint_eq(l.n_objects + l.n_prefixes, 0);
	ck_assert_ptr_null(l.next_token);
	store_list_free(&l);
}
END_TEST

START_TEST(test_list_malformed)
{
	const char *bad[] = {
		"",
		"<ListBucketResult><Contents><Key>k</Key>",
		"<Error><Code>NoSuchBucket</Code></Error>",
		"<ListBucketResult><Contents><Key>k</Key><Size>-3</Size></Contents></"
		"ListBucketResult>",
		"<ListBucketResult><IsTruncated>true</IsTruncated></ListBucketResult>",
		"<ListBucketResult><CommonPrefixes></CommonPrefixes></ListBucketResult>",
		"not xml at all",
	};
	struct store_list l;

	for (size_t i = 0; i < sizeof(bad) / sizeof(*bad); i++) {
		ck_assert_int_eq(s3_xml_parse_list(bad[i], LEN(bad[i]), &l), -EPROTO);
		ck_assert_ptr_null(l.objects);
		ck_assert_ptr_null(l.next_token);
	}
	ck_assert_int_eq(s3_xml_parse_list(NULL, 0, &l), -EPROTO);
}
END_TEST

START_TEST(test_list_no_entity_expansion)
{
	const char doc[] = "<?xml version=\"1.0\"?><!DOCTYPE x [<!ENTITY e \"EXPANDED\">]>"
			   "<ListBucketResult><Contents><Key>a&e;b</Key><Size>1</Size></Contents>"
			   "</ListBucketResult>";
	struct store_list l;

	/* S3 never sends a DTD: a body with one is refused outright. */
	ck_assert_int_eq(s3_xml_parse_list(doc, LEN(doc), &l), -EPROTO);
}
END_TEST

START_TEST(test_error_body)
{
	const char doc[] =
		"<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>NoSuchBucket"
		"</Code><Message>The specified bucket does not exist</Message>"
		"<BucketName>x</BucketName><RequestId>4442587FB7D0A2F9</RequestId></Error>";
	const char partial[] = "<Error><Code>SlowDown</Code></Error>";
	char *code, *msg, *rid;

	ck_assert_int_eq(s3_xml_parse_error(doc, LEN(doc), &code, &msg, &rid), 0);
	ck_assert_str_eq(code, "NoSuchBucket");
	ck_assert_str_eq(msg, "The specified bucket does not exist");
	ck_assert_str_eq(rid, "4442587FB7D0A2F9");
	free(code);
	free(msg);
	free(rid);
	ck_assert_int_eq(s3_xml_parse_error(partial, LEN(partial), &code, &msg, NULL), 0);
	ck_assert_str_eq(code, "SlowDown");
	ck_assert_ptr_null(msg);
	free(code);
	ck_assert_int_eq(s3_xml_parse_error("<html/>", 7, &code, NULL, NULL), -EPROTO);
	ck_assert_ptr_null(code);
}
END_TEST

START_TEST(test_upload_id)
{
	const char doc[] = "<InitiateMultipartUploadResult xmlns=\"http://s3.amazonaws.com/doc/"
			   "2006-03-01/\"><Bucket>b</Bucket><Key>k</Key><UploadId>VXBsb2FkIElE"
			   "</UploadId></InitiateMultipartUploadResult>";
	const char none[] = "<InitiateMultipartUploadResult/>";
	char *id;

	ck_assert_int_eq(s3_xml_parse_upload_id(doc, LEN(doc), &id), 0);
	ck_assert_str_eq(id, "VXBsb2FkIElE");
	free(id);
	ck_assert_int_eq(s3_xml_parse_upload_id(none, LEN(none), &id), -EPROTO);
	ck_assert_ptr_null(id);
}
END_TEST

START_TEST(test_build_bodies)
{
	const char *etags[] = {"\"a54357aff0632cce46d942af68356b38\"", "\"0c78aef8\""};
	const char *keys[] = {"a&b", "<x>/'q\"", "ctl\x01"};
	struct buf b;

	buf_init(&b, 1 << 16);
	ck_assert_int_eq(s3_xml_build_complete(&b, etags, 2), 0);
	ck_assert_str_eq(
		b.data,
		"<CompleteMultipartUpload xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">"
		"<Part><PartNumber>1</PartNumber><ETag>&quot;a54357aff0632cce46d942af68356b38"
		"&quot;</ETag></Part><Part><PartNumber>2</PartNumber><ETag>&quot;0c78aef8"
		"&quot;</ETag></Part></CompleteMultipartUpload>");
	buf_reset(&b);
	ck_assert_int_eq(s3_xml_build_delete(&b, keys, 3), 0);
	ck_assert_str_eq(b.data, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>"
				 "<Delete xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">"
				 "<Quiet>true</Quiet><Object><Key>a&amp;b</Key></Object>"
				 "<Object><Key>&lt;x&gt;/&apos;q&quot;</Key></Object>"
				 "<Object><Key>ctl&#x1;</Key></Object></Delete>");
	buf_free(&b);
}
END_TEST

START_TEST(test_delete_result)
{
	const char ok[] = "<DeleteResult xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">"
			  "</DeleteResult>";
	const char errs[] = "<DeleteResult><Deleted><Key>a</Key></Deleted>"
			    "<Error><Key>b</Key><Code>AccessDenied</Code></Error>"
			    "<Error><Key>c</Key><Code>InternalError</Code></Error></DeleteResult>";
	size_t n;
	char *code;

	ck_assert_int_eq(s3_xml_parse_delete_result(ok, LEN(ok), &n, &code), 0);
	ck_assert_uint_eq(n, 0);
	ck_assert_ptr_null(code);
	ck_assert_int_eq(s3_xml_parse_delete_result(errs, LEN(errs), &n, &code), 0);
	ck_assert_uint_eq(n, 2);
	ck_assert_str_eq(code, "AccessDenied");
	free(code);
	ck_assert_int_eq(s3_xml_parse_delete_result("<x/>", 4, &n, NULL), -EPROTO);
}
END_TEST

START_TEST(test_iso8601)
{
	time_t t;

	ck_assert_int_eq(s3_parse_iso8601("2009-10-12T17:50:30.000Z", &t), 0);
	ck_assert_int_eq(t, 1255369830);
	ck_assert_int_eq(s3_parse_iso8601("2009-10-12T17:50:30Z", &t), 0);
	ck_assert_int_eq(t, 1255369830);
	ck_assert_int_eq(s3_parse_iso8601("2009-10-12", &t), -EINVAL);
	ck_assert_int_eq(s3_parse_iso8601("2009-10-12T17:50:30.000+05:00", &t), -EINVAL);
	ck_assert_int_eq(s3_parse_iso8601("garbage", &t), -EINVAL);
	ck_assert_int_eq(s3_parse_iso8601(NULL, &t), -EINVAL);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("s3_xml");
	TCase *tc = tcase_create("xml");

	tcase_add_test(tc, test_list_page);
	tcase_add_test(tc, test_list_last_and_empty);
	tcase_add_test(tc, test_list_malformed);
	tcase_add_test(tc, test_list_no_entity_expansion);
	tcase_add_test(tc, test_error_body);
	tcase_add_test(tc, test_upload_id);
	tcase_add_test(tc, test_build_bodies);
	tcase_add_test(tc, test_delete_result);
	tcase_add_test(tc, test_iso8601);
	suite_add_tcase(s, tc);
	return check_run(s);
}
