/* The S3 XML documents: listings, errors, multipart and delete bodies. */
#include <check.h>

#include "check_main.h"
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "s3_xml.h"

#define LEN(s)	 strlen(s)
#define NELEM(a) (sizeof(a) / sizeof((a)[0]))

/* A first ListObjectsV2 page as AWS sends it (delimiter "/"). */
static const char page1[] =
	"<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
	"<ListBucketResult xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">"
	"<Name>bkt</Name><Prefix>d/</Prefix><KeyCount>4</KeyCount><MaxKeys>1000</MaxKeys>"
	"<Delimiter>/</Delimiter><IsTruncated>true</IsTruncated>"
	"<Contents><Key>d/a &amp; b &lt;1&gt;.txt</Key>"
	"<LastModified>2009-10-12T17:50:30.000Z</LastModified>"
	"<ETag>&quot;fba9dede5f27731c9771645a39863328&quot;</ETag><Size>434234</Size>"
	"<StorageClass>STANDARD</StorageClass></Contents>"
	"<Contents><Key>d/ünïcödé €</Key>"
	"<LastModified>2021-01-01T00:00:00Z</LastModified><Size>18446744073709551615</Size>"
	"</Contents>"
	"<CommonPrefixes><Prefix>d/sub/</Prefix></CommonPrefixes>"
	"<CommonPrefixes><Prefix>d/x y/</Prefix></CommonPrefixes>"
	"<NextContinuationToken>1ueGcxLPRx1Tr/XYExHnhbYLgveDs2J/wm36Hy4vbOwM=</"
	"NextContinuationToken>"
	"<StartAfter>d/</StartAfter>"
	"</ListBucketResult>";

START_TEST(test_list_page)
{
	struct store_list l;

	ck_assert_int_eq(s3_xml_parse_list(page1, LEN(page1), &l), 0);
	ck_assert_uint_eq(l.n_objects, 2);
	ck_assert_str_eq(l.objects[0].key, "d/a & b <1>.txt");
	ck_assert_uint_eq(l.objects[0].size, 434234);
	ck_assert_int_eq(l.objects[0].last_modified, 1255369830);
	ck_assert_str_eq(l.objects[0].etag, "\"fba9dede5f27731c9771645a39863328\"");
	ck_assert_str_eq(l.objects[1].key, "d/ünïcödé €");
	ck_assert_uint_eq(l.objects[1].size, UINT64_MAX);
	ck_assert_int_eq(l.objects[1].last_modified, 1609459200);
	ck_assert_str_eq(l.objects[1].etag, "");
	ck_assert_uint_eq(l.n_prefixes, 2);
	ck_assert_str_eq(l.prefixes[0], "d/sub/");
	ck_assert_str_eq(l.prefixes[1], "d/x y/");
	ck_assert_str_eq(l.next_token, "1ueGcxLPRx1Tr/XYExHnhbYLgveDs2J/wm36Hy4vbOwM=");
	store_list_free(&l);
	ck_assert_ptr_null(l.objects);
	ck_assert_ptr_null(l.prefixes);
	ck_assert_ptr_null(l.next_token);
	ck_assert_uint_eq(l.n_objects, 0);
	ck_assert_uint_eq(l.n_prefixes, 0);
	store_list_free(&l); /* twice is harmless */
	store_list_free(NULL);
}
END_TEST

START_TEST(test_list_last_page)
{
	/* No namespace (some S3-compatible stores), a stale token on the last
	 * page, a missing LastModified and a bad one. */
	const char last[] = "<ListBucketResult><IsTruncated>false</IsTruncated>"
			    "<NextContinuationToken>stale</NextContinuationToken>"
			    "<Contents><Key>k</Key><Size>5</Size></Contents>"
			    "<Contents><Key>m</Key><Size>7</Size>"
			    "<LastModified>yesterday</LastModified></Contents>"
			    "</ListBucketResult>";
	struct store_list l;

	ck_assert_int_eq(s3_xml_parse_list(last, LEN(last), &l), 0);
	ck_assert_ptr_null(l.next_token);
	ck_assert_uint_eq(l.n_objects, 2);
	ck_assert_str_eq(l.objects[0].key, "k");
	ck_assert_uint_eq(l.objects[0].size, 5);
	ck_assert_int_eq(l.objects[0].last_modified, 0);
	ck_assert_str_eq(l.objects[1].key, "m");
	ck_assert_uint_eq(l.objects[1].size, 7);
	ck_assert_int_eq(l.objects[1].last_modified, 0);
	ck_assert_uint_eq(l.n_prefixes, 0);
	store_list_free(&l);
}
END_TEST

START_TEST(test_list_empty)
{
	const char empty[] = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
			     "<ListBucketResult xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">"
			     "<Name>b</Name><Prefix>nothing/</Prefix><KeyCount>0</KeyCount>"
			     "<MaxKeys>1000</MaxKeys><IsTruncated>false</IsTruncated>"
			     "</ListBucketResult>";
	const char bare[] = "<ListBucketResult/>";
	struct store_list l;

	ck_assert_int_eq(s3_xml_parse_list(empty, LEN(empty), &l), 0);
	ck_assert_uint_eq(l.n_objects, 0);
	ck_assert_uint_eq(l.n_prefixes, 0);
	ck_assert_ptr_null(l.objects);
	ck_assert_ptr_null(l.prefixes);
	ck_assert_ptr_null(l.next_token);
	store_list_free(&l);
	ck_assert_int_eq(s3_xml_parse_list(bare, LEN(bare), &l), 0);
	ck_assert_uint_eq(l.n_objects, 0);
	ck_assert_uint_eq(l.n_prefixes, 0);
	ck_assert_ptr_null(l.next_token);
	store_list_free(&l);
}
END_TEST

START_TEST(test_list_text_forms)
{
	/* A prefixed namespace, CDATA, character references and a blank-only
	 * key: all are the same text to us. */
	const char doc[] =
		"<s3:ListBucketResult xmlns:s3=\"http://s3.amazonaws.com/doc/2006-03-01/\">"
		"<s3:Contents><s3:Key><![CDATA[a&b<c]]></s3:Key><s3:Size>1</s3:Size>"
		"</s3:Contents>"
		"<s3:Contents><s3:Key>x&#x41;&#66;&apos;&quot;&#xE9;</s3:Key></s3:Contents>"
		"<s3:Contents><s3:Key> </s3:Key><s3:Size>2</s3:Size></s3:Contents>"
		"<s3:IsTruncated>true</s3:IsTruncated>"
		"<s3:NextContinuationToken>t&amp;k</s3:NextContinuationToken>"
		"</s3:ListBucketResult>";
	struct store_list l;

	ck_assert_int_eq(s3_xml_parse_list(doc, LEN(doc), &l), 0);
	ck_assert_uint_eq(l.n_objects, 3);
	ck_assert_str_eq(l.objects[0].key, "a&b<c");
	ck_assert_uint_eq(l.objects[0].size, 1);
	ck_assert_str_eq(l.objects[1].key, "xAB'\"é");
	ck_assert_uint_eq(l.objects[1].size, 0);
	ck_assert_str_eq(l.objects[2].key, " ");
	ck_assert_uint_eq(l.objects[2].size, 2);
	ck_assert_str_eq(l.next_token, "t&k");
	store_list_free(&l);
}
END_TEST

START_TEST(test_list_malformed)
{
	const char *bad[] = {
		"",
		"not xml at all",
		"<ListBucketResult><Contents><Key>k</Key>",
		"<ListBucketResult><Contents><Key>a&b</Key></Contents></ListBucketResult>",
		"<ListBucketResult><Contents><Key>a&undefined;</Key></Contents></ListBucketResult>",
		"<ListBucketResult></listbucketresult>",
		"<ListBucketResult/><ListBucketResult/>",
		/* well-formed, but not a listing we can use */
		"<ListBucketResult><Contents><Key>k</Key><Size>-3</Size></Contents>"
		"</ListBucketResult>",
		"<ListBucketResult><Contents><Key>k</Key><Size>12x</Size></Contents>"
		"</ListBucketResult>",
		"<ListBucketResult><Contents><Key>k</Key><Size>18446744073709551616</Size>"
		"</Contents></ListBucketResult>",
		"<ListBucketResult><Contents><Size>1</Size></Contents></ListBucketResult>",
		"<ListBucketResult><Contents><Key></Key></Contents></ListBucketResult>",
		"<ListBucketResult><CommonPrefixes></CommonPrefixes></ListBucketResult>",
		"<ListBucketResult><IsTruncated>true</IsTruncated></ListBucketResult>",
	};
	struct store_list l;

	for (size_t i = 0; i < NELEM(bad); i++) {
		ck_assert_msg(s3_xml_parse_list(bad[i], LEN(bad[i]), &l) == -EPROTO, "doc %zu", i);
		ck_assert_ptr_null(l.objects);
		ck_assert_ptr_null(l.prefixes);
		ck_assert_ptr_null(l.next_token);
		ck_assert_uint_eq(l.n_objects, 0);
		ck_assert_uint_eq(l.n_prefixes, 0);
	}
	ck_assert_int_eq(s3_xml_parse_list(NULL, 0, &l), -EPROTO);
	ck_assert_int_eq(s3_xml_parse_list(NULL, 10, &l), -EPROTO);
	/* A length past what libxml2 takes must not be cut to an int. */
	ck_assert_int_eq(s3_xml_parse_list(page1, (size_t)UINT32_MAX + 2, &l), -EPROTO);
}
END_TEST

START_TEST(test_list_wrong_root)
{
	const char *docs[] = {
		"<Error><Code>NoSuchBucket</Code></Error>",
		"<ListAllMyBucketsResult><Buckets/></ListAllMyBucketsResult>",
		"<html><body>503 Service Unavailable</body></html>",
		"<Contents><Key>k</Key></Contents>",
	};
	struct store_list l;

	for (size_t i = 0; i < NELEM(docs); i++) {
		ck_assert_msg(s3_xml_parse_list(docs[i], LEN(docs[i]), &l) == -EPROTO, "doc %zu",
			      i);
		ck_assert_ptr_null(l.objects);
		ck_assert_ptr_null(l.next_token);
	}
}
END_TEST

START_TEST(test_list_no_entities)
{
	const char internal[] = "<?xml version=\"1.0\"?><!DOCTYPE x [<!ENTITY e \"EXPANDED\">]>"
				"<ListBucketResult><Contents><Key>a&e;b</Key><Size>1</Size>"
				"</Contents></ListBucketResult>";
	const char external[] = "<?xml version=\"1.0\"?><!DOCTYPE x SYSTEM \"/etc/passwd\">"
				"<ListBucketResult></ListBucketResult>";
	struct store_list l;

	/* S3 never sends a DTD: a body with one is refused outright. */
	ck_assert_int_eq(s3_xml_parse_list(internal, LEN(internal), &l), -EPROTO);
	ck_assert_ptr_null(l.objects);
	ck_assert_int_eq(s3_xml_parse_list(external, LEN(external), &l), -EPROTO);
	ck_assert_ptr_null(l.objects);
}
END_TEST

START_TEST(test_list_truncated_input)
{
	struct store_list l;
	char *copy;

	/* Every prefix of a real page, each in its own exact-size allocation so
	 * that the sanitizers see any read past the end. */
	for (size_t n = 0; n < LEN(page1); n++) {
		copy = malloc(n ? n : 1);
		ck_assert_ptr_nonnull(copy);
		memcpy(copy, page1, n);
		ck_assert_msg(s3_xml_parse_list(copy, n, &l) == -EPROTO, "prefix %zu", n);
		ck_assert_ptr_null(l.objects);
		free(copy);
	}
}
END_TEST

START_TEST(test_list_junk_bytes)
{
	unsigned int seed = 12345;
	struct store_list l;
	char junk[512];

	/* Arbitrary bytes, NULs included: refused, never a crash. */
	for (int round = 0; round < 200; round++) {
		for (size_t i = 0; i < sizeof(junk); i++) {
			seed = seed * 1103515245u + 12345u;
			junk[i] = (char)(seed >> 16);
		}
		ck_assert_int_eq(s3_xml_parse_list(junk, sizeof(junk), &l), -EPROTO);
	}
}
END_TEST

START_TEST(test_error_body)
{
	const char doc[] = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>NoSuchBucket"
			   "</Code><Message>The specified bucket does not exist</Message>"
			   "<BucketName>x</BucketName><RequestId>4442587FB7D0A2F9</RequestId>"
			   "<HostId>vZ5Fv2bq+Ek=</HostId></Error>";
	char *code, *msg, *rid;

	ck_assert_int_eq(s3_xml_parse_error(doc, LEN(doc), &code, &msg, &rid), 0);
	ck_assert_str_eq(code, "NoSuchBucket");
	ck_assert_str_eq(msg, "The specified bucket does not exist");
	ck_assert_str_eq(rid, "4442587FB7D0A2F9");
	free(code);
	free(msg);
	free(rid);
	/* Each output may be skipped. */
	ck_assert_int_eq(s3_xml_parse_error(doc, LEN(doc), NULL, NULL, &rid), 0);
	ck_assert_str_eq(rid, "4442587FB7D0A2F9");
	free(rid);
	ck_assert_int_eq(s3_xml_parse_error(doc, LEN(doc), NULL, NULL, NULL), 0);
}
END_TEST

START_TEST(test_error_partial)
{
	const char partial[] = "<Error><Code>SlowDown</Code></Error>";
	const char bare[] = "<Error/>";
	const char empty_code[] = "<Error><Code/><Message>m &amp; n</Message></Error>";
	char *code, *msg, *rid;

	ck_assert_int_eq(s3_xml_parse_error(partial, LEN(partial), &code, &msg, &rid), 0);
	ck_assert_str_eq(code, "SlowDown");
	ck_assert_ptr_null(msg);
	ck_assert_ptr_null(rid);
	free(code);
	ck_assert_int_eq(s3_xml_parse_error(bare, LEN(bare), &code, &msg, &rid), 0);
	ck_assert_ptr_null(code);
	ck_assert_ptr_null(msg);
	ck_assert_ptr_null(rid);
	ck_assert_int_eq(s3_xml_parse_error(empty_code, LEN(empty_code), &code, &msg, &rid), 0);
	ck_assert_str_eq(code, "");
	ck_assert_str_eq(msg, "m & n");
	ck_assert_ptr_null(rid);
	free(code);
	free(msg);
}
END_TEST

START_TEST(test_error_not_error)
{
	const char *docs[] = {"<html/>", "", "<Error><Code>x</Code>", "<Errors/>",
			      "<ListBucketResult/>"};
	char *code = (char *)1, *msg = (char *)1, *rid = (char *)1;

	for (size_t i = 0; i < NELEM(docs); i++) {
		ck_assert_int_eq(s3_xml_parse_error(docs[i], LEN(docs[i]), &code, &msg, &rid),
				 -EPROTO);
		ck_assert_ptr_null(code);
		ck_assert_ptr_null(msg);
		ck_assert_ptr_null(rid);
	}
	ck_assert_int_eq(s3_xml_parse_error(NULL, 0, &code, NULL, NULL), -EPROTO);
	ck_assert_ptr_null(code);
}
END_TEST

START_TEST(test_upload_id)
{
	const char doc[] = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
			   "<InitiateMultipartUploadResult xmlns=\"http://s3.amazonaws.com/doc/"
			   "2006-03-01/\"><Bucket>b</Bucket><Key>k</Key><UploadId>VXBsb2FkIElE"
			   "IGZvciA2aWWpbmcncyBteS1tb3ZpZS5tMnRzIHVwbG9hZA</UploadId>"
			   "</InitiateMultipartUploadResult>";
	const char *bad[] = {"<InitiateMultipartUploadResult/>",
			     "<InitiateMultipartUploadResult><UploadId></UploadId>"
			     "</InitiateMultipartUploadResult>",
			     "<Error><UploadId>x</UploadId></Error>", "<Init", ""};
	char *id;

	ck_assert_int_eq(s3_xml_parse_upload_id(doc, LEN(doc), &id), 0);
	ck_assert_str_eq(id, "VXBsb2FkIElEIGZvciA2aWWpbmcncyBteS1tb3ZpZS5tMnRzIHVwbG9hZA");
	free(id);
	for (size_t i = 0; i < NELEM(bad); i++) {
		id = (char *)1;
		ck_assert_int_eq(s3_xml_parse_upload_id(bad[i], LEN(bad[i]), &id), -EPROTO);
		ck_assert_ptr_null(id);
	}
}
END_TEST

/* Expected values from Python's hashlib: md5(b"part one"), md5(b"part
 * two"), and the MD5 of their 32 bytes. */
START_TEST(test_multipart_etag)
{
	const char *etags[] = {"\"3303e12af474ca11d85ed2966a932992\"",
			       "3EA4E15B91A17DC76052C56CFCDF67A2"};
	const char *bad[] = {"\"3303e12af474ca11d85ed2966a93299\"",
			     "\"3303e12af474ca11d85ed2966a932992",
			     "3303e12af474ca11d85ed2966a93299g", NULL};
	char out[48];

	ck_assert_int_eq(s3_multipart_etag(etags, 2, out), 0);
	ck_assert_str_eq(out, "\"0732917abc3288784e318ac0aab1757a-2\"");
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		ck_assert_int_eq(s3_multipart_etag(&bad[i], 1, out), -EINVAL);
}
END_TEST

START_TEST(test_build_complete)
{
	const char *etags[] = {"\"a54357aff0632cce46d942af68356b38\"", "\"0c78aef8\""};
	struct buf b;

	buf_init(&b, 1 << 16);
	ck_assert_int_eq(s3_xml_build_complete(&b, etags, 2), 0);
	ck_assert_str_eq(
		b.data,
		"<CompleteMultipartUpload xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">"
		"<Part><PartNumber>1</PartNumber><ETag>&quot;a54357aff0632cce46d942af68356b38"
		"&quot;</ETag></Part><Part><PartNumber>2</PartNumber><ETag>&quot;0c78aef8"
		"&quot;</ETag></Part></CompleteMultipartUpload>");
	ck_assert_uint_eq(b.len, strlen(b.data));
	buf_free(&b);

	/* The body must fit the buffer's bound, or the call fails. */
	buf_init(&b, 32);
	ck_assert_int_eq(s3_xml_build_complete(&b, etags, 2), -EFBIG);
	buf_free(&b);
}
END_TEST

START_TEST(test_build_delete)
{
	const char *keys[] = {"a&b", "<x>/'q\"", "ctl\x01\t\r\n\x1f", "été plain"};
	struct buf b;

	buf_init(&b, 1 << 16);
	ck_assert_int_eq(s3_xml_build_delete(&b, keys, NELEM(keys)), 0);
	ck_assert_str_eq(b.data, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>"
				 "<Delete xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">"
				 "<Quiet>true</Quiet>"
				 "<Object><Key>a&amp;b</Key></Object>"
				 "<Object><Key>&lt;x&gt;/&apos;q&quot;</Key></Object>"
				 "<Object><Key>ctl&#x1;&#x9;&#xD;&#xA;&#x1F;</Key></Object>"
				 "<Object><Key>été plain</Key></Object>"
				 "</Delete>");
	buf_free(&b);
}
END_TEST

START_TEST(test_build_delete_roundtrip)
{
	/* What we escape, libxml2 reads back as the same key: CR included,
	 * which a raw byte would not survive. (Other control characters are
	 * XML 1.1 only, so libxml2 cannot stand in for S3 on those.) */
	const char *keys[] = {"d/a & b <c> 'd' \"e\"\r\n\t.txt"};
	struct store_list l;
	struct buf b, doc;
	const char *k, *end;

	buf_init(&b, 1 << 16);
	buf_init(&doc, 1 << 16);
	ck_assert_int_eq(s3_xml_build_delete(&b, keys, 1), 0);
	/* Recast the <Key> element as a listing to read it through the parser. */
	k = strstr(b.data, "<Key>");
	end = strstr(b.data, "</Object>");
	ck_assert_ptr_nonnull(k);
	ck_assert_ptr_nonnull(end);
	ck_assert_int_eq(buf_puts(&doc, "<ListBucketResult><Contents>"), 0);
	ck_assert_int_eq(buf_append(&doc, k, (size_t)(end - k)), 0);
	ck_assert_int_eq(buf_puts(&doc, "</Contents></ListBucketResult>"), 0);
	ck_assert_int_eq(s3_xml_parse_list(doc.data, doc.len, &l), 0);
	ck_assert_uint_eq(l.n_objects, 1);
	ck_assert_str_eq(l.objects[0].key, keys[0]);
	store_list_free(&l);
	buf_free(&doc);
	buf_free(&b);
}
END_TEST

START_TEST(test_delete_result)
{
	const char ok[] = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
			  "<DeleteResult xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">"
			  "</DeleteResult>";
	const char errs[] = "<DeleteResult xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">"
			    "<Deleted><Key>a</Key></Deleted>"
			    "<Error><Key>b</Key><Code>AccessDenied</Code><Message>Access Denied"
			    "</Message></Error>"
			    "<Error><Key>c</Key><Code>InternalError</Code></Error></DeleteResult>";
	const char nocode[] = "<DeleteResult><Error><Key>b</Key></Error></DeleteResult>";
	size_t n = 99;
	char *code = (char *)1;

	ck_assert_int_eq(s3_xml_parse_delete_result(ok, LEN(ok), &n, &code), 0);
	ck_assert_uint_eq(n, 0);
	ck_assert_ptr_null(code);
	ck_assert_int_eq(s3_xml_parse_delete_result(errs, LEN(errs), &n, &code), 0);
	ck_assert_uint_eq(n, 2);
	ck_assert_str_eq(code, "AccessDenied");
	free(code);
	ck_assert_int_eq(s3_xml_parse_delete_result(errs, LEN(errs), &n, NULL), 0);
	ck_assert_uint_eq(n, 2);
	ck_assert_int_eq(s3_xml_parse_delete_result(nocode, LEN(nocode), &n, &code), 0);
	ck_assert_uint_eq(n, 1);
	ck_assert_ptr_null(code);
	n = 99;
	code = (char *)1;
	ck_assert_int_eq(s3_xml_parse_delete_result("<x/>", 4, &n, &code), -EPROTO);
	ck_assert_uint_eq(n, 0);
	ck_assert_ptr_null(code);
	ck_assert_int_eq(s3_xml_parse_delete_result("<DeleteResult>", 14, &n, &code), -EPROTO);
	ck_assert_ptr_null(code);
	ck_assert_int_eq(s3_xml_parse_delete_result(NULL, 0, &n, &code), -EPROTO);
	ck_assert_ptr_null(code);
}
END_TEST

START_TEST(test_iso8601)
{
	time_t t;

	ck_assert_int_eq(s3_parse_iso8601("2009-10-12T17:50:30.000Z", &t), 0);
	ck_assert_int_eq(t, 1255369830);
	t = 0;
	ck_assert_int_eq(s3_parse_iso8601("2009-10-12T17:50:30Z", &t), 0);
	ck_assert_int_eq(t, 1255369830);
	ck_assert_int_eq(s3_parse_iso8601("2009-10-12T17:50:30.5Z", &t), 0);
	ck_assert_int_eq(t, 1255369830);
	ck_assert_int_eq(s3_parse_iso8601("2024-02-29T23:59:59.999999Z", &t), 0);
	ck_assert_int_eq(t, 1709251199);
	ck_assert_int_eq(s3_parse_iso8601("1970-01-01T00:00:00Z", &t), 0);
	ck_assert_int_eq(t, 0);
}
END_TEST

START_TEST(test_iso8601_bad)
{
	const char *bad[] = {
		"",
		"garbage",
		"2009-10-12",
		"2009-10-12T17:50:30",
		"2009-10-12T17:50:30.000",
		"2009-10-12T17:50:30.Z",
		"2009-10-12T17:50:30.000+05:00",
		"2009-10-12T17:50:30.000Z ",
		" 2009-10-12T17:50:30Z",
		"2009-10-12 17:50:30Z",
		"2009-1-12T17:50:30Z",
		"2009-13-12T17:50:30Z",
		"2009-00-12T17:50:30Z",
		"2009-10-00T17:50:30Z",
		"2009-10-32T17:50:30Z",
		"2023-02-29T00:00:00Z",
		"2009-10-12T24:00:00Z",
		"2009-10-12T17:60:30Z",
		"2009-10-12T17:50:61Z",
		"+009-10-12T17:50:30Z",
	};
	time_t t = 42;

	for (size_t i = 0; i < NELEM(bad); i++) {
		ck_assert_msg(s3_parse_iso8601(bad[i], &t) == -EINVAL, "'%s'", bad[i]);
		ck_assert_int_eq(t, 42); /* untouched on failure */
	}
	ck_assert_int_eq(s3_parse_iso8601(NULL, &t), -EINVAL);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("s3_xml");
	TCase *list = tcase_create("list");
	TCase *other = tcase_create("other");

	tcase_add_test(list, test_list_page);
	tcase_add_test(list, test_list_last_page);
	tcase_add_test(list, test_list_empty);
	tcase_add_test(list, test_list_text_forms);
	tcase_add_test(list, test_list_malformed);
	tcase_add_test(list, test_list_wrong_root);
	tcase_add_test(list, test_list_no_entities);
	tcase_add_test(list, test_list_truncated_input);
	tcase_add_test(list, test_list_junk_bytes);
	suite_add_tcase(s, list);
	tcase_add_test(other, test_error_body);
	tcase_add_test(other, test_error_partial);
	tcase_add_test(other, test_error_not_error);
	tcase_add_test(other, test_upload_id);
	tcase_add_test(other, test_build_complete);
	tcase_add_test(other, test_multipart_etag);
	tcase_add_test(other, test_build_delete);
	tcase_add_test(other, test_build_delete_roundtrip);
	tcase_add_test(other, test_delete_result);
	tcase_add_test(other, test_iso8601);
	tcase_add_test(other, test_iso8601_bad);
	suite_add_tcase(s, other);
	return check_run(s);
}
