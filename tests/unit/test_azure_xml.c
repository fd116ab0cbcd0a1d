/*
 * The Azure Blob XML documents: List Blobs results, Error bodies and the
 * Put Block List body, with RFC 1123 dates and block ids. The az_* pages
 * are azurite 3.35.0's answers, captured verbatim with curl; ms_delimited
 * is the delimited listing example of Microsoft's "Enumerating Blob
 * Resources" page (blob1.txt, blob2.txt, myfolder/, newblob1.txt, then
 * NextMarker newblob2.txt), in the element names List Blobs uses today.
 */
#include <check.h>

#include "check_main.h"
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "azure_xml.h"

#define LEN(s)	 strlen(s)
#define NELEM(a) (sizeof(a) / sizeof((a)[0]))

/* The captures keep their own layout: clang-format would scatter them. */
/* clang-format off */
#define AZ_PROPS(lm, etag, len)                                                                 \
	"<Properties><Creation-Time>" lm "</Creation-Time><Last-Modified>" lm                   \
	"</Last-Modified><Etag>" etag "</Etag><Content-Length>" len "</Content-Length>"         \
	"<Content-Type>application/octet-stream</Content-Type>"                                 \
	"<Content-MD5>XUFAKrxLKna5cZ2REBfFkg==</Content-MD5><BlobType>BlockBlob</BlobType>"     \
	"<LeaseStatus>unlocked</LeaseStatus><LeaseState>available</LeaseState>"                 \
	"<ServerEncrypted>true</ServerEncrypted><AccessTier>Hot</AccessTier>"                   \
	"<AccessTierInferred>true</AccessTierInferred><AccessTierChangeTime>" lm                \
	"</AccessTierChangeTime></Properties>"

#define AZ_LM "Wed, 25 Nov 2026 23:15:54 GMT"
#define AZ_T  1795648554

/* restype=container&comp=list&maxresults=2 over five blobs. */
static const char az_page[] =
	"<?xml version=\"1.0\" encoding=\"UTF-8\" standalone=\"yes\"?><EnumerationResults "
	"ServiceEndpoint=\"http://127.0.0.1:10077/devstoreaccount1\" ContainerName=\"cap\">"
	"<Prefix/><Marker/><MaxResults>2</MaxResults><Blobs>"
	"<Blob><Name>a&amp;b&lt;c&gt;.txt</Name>" AZ_PROPS(AZ_LM, "0x255C5727715C8A0", "5")
	"</Blob>"
	"<Blob><Name>a/1.txt</Name>" AZ_PROPS("Wed, 25 Nov 2026 23:15:53 GMT", "0x1E7CBDEB480EA10",
					      "5")
	"</Blob></Blobs><NextMarker>a/1.txt</NextMarker></EnumerationResults>";

/* ...&delimiter=/: azurite puts the prefixes first. */
static const char az_delimited[] =
	"<?xml version=\"1.0\" encoding=\"UTF-8\" standalone=\"yes\"?><EnumerationResults "
	"ServiceEndpoint=\"http://127.0.0.1:10077/devstoreaccount1\" ContainerName=\"cap\">"
	"<Prefix/><Marker/><MaxResults>5000</MaxResults><Delimiter>/</Delimiter><Blobs>"
	"<BlobPrefix><Name>a/</Name></BlobPrefix><BlobPrefix><Name>b/</Name></BlobPrefix>"
	"<Blob><Name>a&amp;b&lt;c&gt;.txt</Name>" AZ_PROPS(AZ_LM, "0x255C5727715C8A0", "5")
	"</Blob></Blobs><NextMarker/></EnumerationResults>";

/* ...&prefix=b/: a name with a space, non-ASCII letters and a '+'. */
static const char az_unicode[] =
	"<?xml version=\"1.0\" encoding=\"UTF-8\" standalone=\"yes\"?><EnumerationResults "
	"ServiceEndpoint=\"http://127.0.0.1:10077/devstoreaccount1\" ContainerName=\"cap\">"
	"<Prefix>b/</Prefix><Marker/><MaxResults>5000</MaxResults><Blobs>"
	"<Blob><Name>b/ü €+x</Name>" AZ_PROPS(AZ_LM, "0x20809B93150B060", "5")
	"</Blob></Blobs><NextMarker/></EnumerationResults>";

/* An empty container. */
static const char az_empty[] =
	"<?xml version=\"1.0\" encoding=\"UTF-8\" standalone=\"yes\"?><EnumerationResults "
	"ServiceEndpoint=\"http://127.0.0.1:10077/devstoreaccount1\" ContainerName=\"cap\">"
	"<Prefix/><Marker/><MaxResults>2</MaxResults><Blobs/><NextMarker/></EnumerationResults>";

/* GET of a missing blob. */
static const char az_not_found[] =
	"<?xml version=\"1.0\" encoding=\"UTF-8\" standalone=\"yes\"?>\n<Error>\n"
	"  <Code>BlobNotFound</Code>\n"
	"  <Message>The specified blob does not exist.\n"
	"RequestId:d5df2ded-7da6-422f-b7f0-21ba868e6a59\n"
	"Time:2026-11-25T23:16:13.827Z</Message>\n</Error>";

#define MS_PROPS(len)                                                           \
	"<Properties><Last-Modified>Thu, 18 Sep 2008 18:41:57 GMT</Last-Modified>" \
	"<Etag>0x8CAE7D55D050B8B</Etag><Content-Length>" len "</Content-Length>"   \
	"<Content-Type>text/plain</Content-Type><BlobType>BlockBlob</BlobType>"    \
	"</Properties>"

static const char ms_delimited[] =
	"<?xml version=\"1.0\" encoding=\"utf-8\"?>\n"
	"<EnumerationResults ServiceEndpoint=\"https://myaccount.blob.core.windows.net/\" "
	"ContainerName=\"mycontainer\">\n"
	"  <MaxResults>4</MaxResults>\n  <Delimiter>/</Delimiter>\n  <Blobs>\n"
	"    <Blob>\n      <Name>blob1.txt</Name>\n      " MS_PROPS("13") "\n    </Blob>\n"
	"    <Blob>\n      <Name>blob2.txt</Name>\n      " MS_PROPS("14") "\n    </Blob>\n"
	"    <BlobPrefix>\n      <Name>myfolder/</Name>\n    </BlobPrefix>\n"
	"    <Blob>\n      <Name>newblob1.txt</Name>\n      " MS_PROPS("15") "\n    </Blob>\n"
	"  </Blobs>\n  <NextMarker>newblob2.txt</NextMarker>\n</EnumerationResults>\n";
/* clang-format on */

START_TEST(test_list_azurite_page)
{
	struct store_list l;

	ck_assert_int_eq(azure_xml_parse_list(az_page, LEN(az_page), &l), 0);
	ck_assert_uint_eq(l.n_objects, 2);
	ck_assert_uint_eq(l.n_prefixes, 0);
	ck_assert_str_eq(l.objects[0].key, "a&b<c>.txt");
	ck_assert_uint_eq(l.objects[0].size, 5);
	ck_assert_int_eq(l.objects[0].last_modified, AZ_T);
	/* Quoted, as the ETag header of Get Blob Properties has it. */
	ck_assert_str_eq(l.objects[0].etag, "\"0x255C5727715C8A0\"");
	ck_assert_str_eq(l.objects[1].key, "a/1.txt");
	ck_assert_int_eq(l.objects[1].last_modified, AZ_T - 1);
	ck_assert_str_eq(l.objects[1].etag, "\"0x1E7CBDEB480EA10\"");
	ck_assert_str_eq(l.next_token, "a/1.txt");
	store_list_free(&l);
	ck_assert_ptr_null(l.objects);
	ck_assert_ptr_null(l.next_token);
}
END_TEST

START_TEST(test_list_azurite_delimited)
{
	struct store_list l;

	ck_assert_int_eq(azure_xml_parse_list(az_delimited, LEN(az_delimited), &l), 0);
	ck_assert_uint_eq(l.n_prefixes, 2);
	ck_assert_str_eq(l.prefixes[0], "a/");
	ck_assert_str_eq(l.prefixes[1], "b/");
	ck_assert_uint_eq(l.n_objects, 1);
	ck_assert_str_eq(l.objects[0].key, "a&b<c>.txt");
	/* <NextMarker/>: the last page. */
	ck_assert_ptr_null(l.next_token);
	store_list_free(&l);
}
END_TEST

START_TEST(test_list_azurite_unicode)
{
	struct store_list l;

	ck_assert_int_eq(azure_xml_parse_list(az_unicode, LEN(az_unicode), &l), 0);
	ck_assert_uint_eq(l.n_objects, 1);
	ck_assert_str_eq(l.objects[0].key, "b/ü €+x");
	ck_assert_str_eq(l.objects[0].etag, "\"0x20809B93150B060\"");
	store_list_free(&l);
}
END_TEST

START_TEST(test_list_azurite_empty)
{
	struct store_list l;

	ck_assert_int_eq(azure_xml_parse_list(az_empty, LEN(az_empty), &l), 0);
	ck_assert_uint_eq(l.n_objects, 0);
	ck_assert_uint_eq(l.n_prefixes, 0);
	ck_assert_ptr_null(l.next_token);
	store_list_free(&l);
}
END_TEST

START_TEST(test_list_microsoft_example)
{
	struct store_list l;

	ck_assert_int_eq(azure_xml_parse_list(ms_delimited, LEN(ms_delimited), &l), 0);
	ck_assert_uint_eq(l.n_objects, 3);
	ck_assert_str_eq(l.objects[0].key, "blob1.txt");
	ck_assert_uint_eq(l.objects[0].size, 13);
	ck_assert_int_eq(l.objects[0].last_modified, 1221763317);
	ck_assert_str_eq(l.objects[0].etag, "\"0x8CAE7D55D050B8B\"");
	ck_assert_str_eq(l.objects[1].key, "blob2.txt");
	ck_assert_str_eq(l.objects[2].key, "newblob1.txt");
	ck_assert_uint_eq(l.objects[2].size, 15);
	ck_assert_uint_eq(l.n_prefixes, 1);
	ck_assert_str_eq(l.prefixes[0], "myfolder/");
	ck_assert_str_eq(l.next_token, "newblob2.txt");
	store_list_free(&l);
}
END_TEST

#define ENUM(blobs)                                                        \
	"<EnumerationResults ContainerName=\"c\"><Blobs>" blobs "</Blobs>" \
	"<NextMarker/></EnumerationResults>"
#define BLOB(name, props) "<Blob>" name "<Properties>" props "</Properties></Blob>"

/* Listings with include=metadata: blobfuse's hdi_isfolder directories. */
START_TEST(test_list_folder_markers)
{
	static const char page[] = ENUM(
		"<Blob><Name>dir</Name><Properties><Content-Length>0</Content-Length></Properties>"
		"<Metadata><hdi_isfolder>true</hdi_isfolder></Metadata></Blob>"
		"<Blob><Name>file</Name><Properties><Content-Length>3</Content-Length></Properties>"
		"<Metadata><hdi_isfolder>false</hdi_isfolder><mode>33188</mode></Metadata></Blob>"
		"<Blob><Name>TRUE</Name><Properties><Content-Length>0</Content-Length></Properties>"
		"<Metadata><hdi_isfolder>True</hdi_isfolder></Metadata></Blob>"
		"<Blob><Name>plain</Name><Properties><Content-Length>1</Content-Length></"
		"Properties>"
		"</Blob>");
	struct store_list l;

	ck_assert_int_eq(azure_xml_parse_list(page, LEN(page), &l), 0);
	ck_assert_uint_eq(l.n_objects, 4);
	ck_assert(l.objects[0].folder);
	ck_assert(!l.objects[1].folder);
	ck_assert(l.objects[2].folder); /* blobfuse compares without case */
	ck_assert(!l.objects[3].folder);
	store_list_free(&l);
}
END_TEST

START_TEST(test_list_encoded_names)
{
	/* Since 2020-02-10 names XML cannot carry come percent-encoded. */
	const char xml[] = "<EnumerationResults><Blobs>"
			   "<Blob><Name Encoded=\"true\">dir%2Fa%EF%BF%BFb%0D</Name>"
			   "<Properties><Content-Length>1</Content-Length></Properties></Blob>"
			   "<Blob><Name Encoded=\"false\">x%41</Name><Properties/></Blob>"
			   "<BlobPrefix><Name Encoded=\"true\">p%20q/</Name></BlobPrefix>"
			   "</Blobs><NextMarker/></EnumerationResults>";
	struct store_list l;

	ck_assert_int_eq(azure_xml_parse_list(xml, LEN(xml), &l), 0);
	ck_assert_uint_eq(l.n_objects, 2);
	ck_assert_str_eq(l.objects[0].key, "dir/a\xEF\xBF\xBF"
					   "b\r");
	ck_assert_str_eq(l.objects[1].key, "x%41");
	ck_assert_str_eq(l.prefixes[0], "p q/");
	store_list_free(&l);
}
END_TEST

START_TEST(test_list_skips_and_tolerates)
{
	/* Snapshots and soft-deleted blobs are not the blob; a missing size
	 * or date, or an odd date, costs only that field; an Etag already
	 * quoted stays so, one too long for the slot (78 + 2 quotes) is
	 * dropped. */
	const char xml[] =
		"<EnumerationResults><Blobs>"
		"<Blob><Name>snap</Name><Snapshot>2011-03-09T01:42:34.9360000Z</Snapshot>"
		"<Properties/></Blob>"
		"<Blob><Name>gone</Name><Deleted>true</Deleted><Properties/></Blob>"
		"<Blob><Name>kept</Name><Deleted>false</Deleted><Properties><Etag>\"0x1\"</Etag>"
		"<Last-Modified>yesterday</Last-Modified></Properties></Blob>"
		"<Blob><Name>bare</Name><Properties><Etag>0x"
		"0123456789012345678901234567890123456789012345678901234567890123456789012345"
		"</Etag></Properties></Blob>"
		"<Blob><Name>noprops</Name></Blob>"
		"</Blobs><NextMarker/></EnumerationResults>";
	struct store_list l;

	ck_assert_int_eq(azure_xml_parse_list(xml, LEN(xml), &l), 0);
	ck_assert_uint_eq(l.n_objects, 3);
	ck_assert_str_eq(l.objects[0].key, "kept");
	ck_assert_str_eq(l.objects[0].etag, "\"0x1\"");
	ck_assert_int_eq(l.objects[0].last_modified, 0);
	ck_assert_uint_eq(l.objects[0].size, 0);
	ck_assert_str_eq(l.objects[1].key, "bare");
	ck_assert_str_eq(l.objects[1].etag, "");
	ck_assert_str_eq(l.objects[2].key, "noprops");
	store_list_free(&l);
}
END_TEST

START_TEST(test_list_direct_text_only)
{
	/* Comments, processing instructions and child elements inside a leaf
	 * are not part of its text; CDATA is. */
	const char xml[] = ENUM(BLOB("<Name>a<!-- c -->b<?pi x?><i>no</i><![CDATA[<c>]]></Name>",
				     "<Content-Length>4<!-- 2 --></Content-Length>"));
	struct store_list l;

	ck_assert_int_eq(azure_xml_parse_list(xml, LEN(xml), &l), 0);
	ck_assert_uint_eq(l.n_objects, 1);
	ck_assert_str_eq(l.objects[0].key, "ab<c>");
	ck_assert_uint_eq(l.objects[0].size, 4);
	store_list_free(&l);
}
END_TEST

START_TEST(test_list_big_page)
{
	/* More entries than the first allocation: the arrays grow. */
	struct buf b;
	struct store_list l;
	char want[32];

	buf_init(&b, 1u << 20);
	ck_assert_int_eq(buf_puts(&b, "<EnumerationResults><Blobs>"), 0);
	for (int i = 0; i < 300; i++)
		ck_assert_int_eq(buf_printf(&b,
					    "<Blob><Name>k%03d</Name><Properties><Content-Length>%d"
					    "</Content-Length></Properties></Blob>"
					    "<BlobPrefix><Name>p%03d/</Name></BlobPrefix>",
					    i, i, i),
				 0);
	ck_assert_int_eq(buf_puts(&b, "</Blobs><NextMarker>k300</NextMarker></EnumerationResults>"),
			 0);
	ck_assert_int_eq(azure_xml_parse_list(b.data, b.len, &l), 0);
	ck_assert_uint_eq(l.n_objects, 300);
	ck_assert_uint_eq(l.n_prefixes, 300);
	snprintf(want, sizeof(want), "k%03d", 299);
	ck_assert_str_eq(l.objects[299].key, want);
	ck_assert_uint_eq(l.objects[299].size, 299);
	ck_assert_str_eq(l.prefixes[299], "p299/");
	ck_assert_str_eq(l.next_token, "k300");
	store_list_free(&l);
	buf_free(&b);
}
END_TEST

static const char *const bad_lists[] = {
	"",
	"not xml",
	"<EnumerationResults><Blobs>",
	/* An S3 listing, and a List Containers result: no Blobs. */
	"<ListBucketResult><Contents><Key>k</Key></Contents></ListBucketResult>",
	"<EnumerationResults><Containers><Container><Name>c</Name></Container></Containers>"
	"</EnumerationResults>",
	/* The Error document a failed list returns. */
	"<Error><Code>ContainerNotFound</Code></Error>",
	/* Entries naming nothing. */
	ENUM("<Blob><Properties/></Blob>"),
	ENUM("<Blob><Name></Name></Blob>"),
	ENUM("<BlobPrefix/>"),
	ENUM("<BlobPrefix><Name/></BlobPrefix>"),
	ENUM("<Blob><Name Encoded=\"true\">a%00b</Name></Blob>"),
	/* Sizes that are not a plain u64. */
	ENUM(BLOB("<Name>k</Name>", "<Content-Length>-1</Content-Length>")),
	ENUM(BLOB("<Name>k</Name>", "<Content-Length> 5</Content-Length>")),
	ENUM(BLOB("<Name>k</Name>", "<Content-Length>5x</Content-Length>")),
	ENUM(BLOB("<Name>k</Name>", "<Content-Length></Content-Length>")),
	ENUM(BLOB("<Name>k</Name>", "<Content-Length>18446744073709551616</Content-Length>")),
	/* A DTD, even a harmless one: the service never sends one. With an
	 * entity bomb or an external entity. */
	"<!DOCTYPE EnumerationResults>" ENUM(BLOB("<Name>k</Name>", "")),
	"<?xml version=\"1.0\"?><!DOCTYPE e [<!ENTITY a \"aaaaaaaaaa\">"
	"<!ENTITY b \"&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;\">]>" ENUM(BLOB("<Name>&b;</Name>", "")),
	"<?xml version=\"1.0\"?><!DOCTYPE e [<!ENTITY x SYSTEM \"file:///etc/passwd\">]>" ENUM(
		BLOB("<Name>&x;</Name>", "")),
};

START_TEST(test_list_malformed)
{
	struct store_list l;
	const char *xml = bad_lists[_i];

	ck_assert_int_eq(azure_xml_parse_list(xml, LEN(xml), &l), -EPROTO);
	ck_assert_ptr_null(l.objects);
	ck_assert_ptr_null(l.prefixes);
	ck_assert_ptr_null(l.next_token);
	ck_assert_int_eq(azure_xml_parse_list(NULL, 0, &l), -EPROTO);
}
END_TEST

START_TEST(test_error_azurite)
{
	char *code, *message, *detail;

	ck_assert_int_eq(
		azure_xml_parse_error(az_not_found, LEN(az_not_found), &code, &message, &detail),
		0);
	ck_assert_str_eq(code, "BlobNotFound");
	/* The RequestId and Time lines the service appends are cut. */
	ck_assert_str_eq(message, "The specified blob does not exist.");
	ck_assert_ptr_null(detail);
	free(code);
	free(message);
	ck_assert_int_eq(azure_xml_parse_error(az_not_found, LEN(az_not_found), &code, NULL, NULL),
			 0);
	ck_assert_str_eq(code, "BlobNotFound");
	free(code);
}
END_TEST

START_TEST(test_error_auth_detail)
{
	/* The shape of Azure's answer to a bad Shared Key signature. */
	const char xml[] =
		"\xEF\xBB\xBF<?xml version=\"1.0\" encoding=\"utf-8\"?><Error>"
		"<Code>AuthenticationFailed</Code><Message>Server failed to authenticate the "
		"request. Make sure the value of Authorization header is formed correctly "
		"including the signature.\nRequestId:b1f1b6a4-801e-0065-5d2a-7c7a4b000000\n"
		"Time:2024-05-02T10:00:00.0000000Z</Message><AuthenticationErrorDetail>The MAC "
		"signature found in the HTTP request 'abc=' is not the same as any computed "
		"signature. Server used following string to sign: 'GET\n\n'.</"
		"AuthenticationErrorDetail></Error>";
	char *code, *message, *detail;

	ck_assert_int_eq(azure_xml_parse_error(xml, LEN(xml), &code, &message, &detail), 0);
	ck_assert_str_eq(code, "AuthenticationFailed");
	ck_assert_str_eq(message, "Server failed to authenticate the request. Make sure the "
				  "value of Authorization header is formed correctly including "
				  "the signature.");
	ck_assert_ptr_nonnull(strstr(detail, "The MAC signature found"));
	free(code);
	free(message);
	free(detail);
}
END_TEST

START_TEST(test_error_malformed)
{
	char *code = (char *)"x", *message = (char *)"x";

	ck_assert_int_eq(azure_xml_parse_error(az_empty, LEN(az_empty), &code, &message, NULL),
			 -EPROTO);
	ck_assert_ptr_null(code);
	ck_assert_ptr_null(message);
	ck_assert_int_eq(azure_xml_parse_error("<Error>", 7, &code, NULL, NULL), -EPROTO);
	ck_assert_int_eq(azure_xml_parse_error(NULL, 0, &code, NULL, NULL), -EPROTO);
	ck_assert_int_eq(azure_xml_parse_error("<Error/>", 8, &code, &message, NULL), 0);
	ck_assert_ptr_null(code);
	ck_assert_ptr_null(message);
}
END_TEST

static const struct {
	const char *s;
	long long t; /* -1: refused */
} dates[] = {
	{"Wed, 25 Nov 2026 23:15:54 GMT", 1795648554},
	{"Thu, 18 Sep 2008 18:41:57 GMT", 1221763317},
	{"Thu, 01 Jan 1970 00:00:00 GMT", 0},
	{"Thu, 29 Feb 2024 12:00:00 GMT", 1709208000},
	{"Sat, 31 Dec 2016 23:59:60 GMT", 1483228800}, /* a leap second rolls over */
	{"Tue, 29 Feb 2023 12:00:00 GMT", -1},
	{"Wed, 31 Apr 2026 00:00:00 GMT", -1},
	{"Wed, 00 Nov 2026 23:15:54 GMT", -1},
	{"Wed, 25 Nov 2026 24:00:00 GMT", -1},
	{"Wed, 25 Nov 2026 23:60:00 GMT", -1},
	{"Wed, 25 Nov 2026 23:15:61 GMT", -1},
	{"Wed, 25 nov 2026 23:15:54 GMT", -1},
	{"Wed, 25 Now 2026 23:15:54 GMT", -1},
	{"Wen, 25 Nov 2026 23:15:54 GMT", -1},
	{"Wed, 25 Nov 2026 23:15:54 UTC", -1},
	{"Wed, 25 Nov 2026 23:15:54 GMT ", -1},
	{"Wed, 25 Nov 2026 23:15:54", -1},
	{"Wed,  5 Nov 2026 23:15:54 GMT", -1},
	{"Wed, 25 Nov 2026 23:15:+4 GMT", -1},
	{"Wed 25 Nov 2026 23:15:54 GMT ", -1},
	{"2026-11-25T23:15:54Z", -1},
	{"", -1},
};

START_TEST(test_rfc1123_parse)
{
	time_t t = 12345;
	int rc = azure_parse_rfc1123(dates[_i].s, &t);

	if (dates[_i].t < 0) {
		ck_assert_msg(rc == -EINVAL, "'%s' accepted", dates[_i].s);
		ck_assert_int_eq(t, 12345);
	} else {
		ck_assert_msg(rc == 0, "'%s' refused", dates[_i].s);
		ck_assert_int_eq(t, dates[_i].t);
	}
}
END_TEST

START_TEST(test_rfc1123_format)
{
	static const struct {
		time_t t;
		const char *s;
	} cases[] = {
		{0, "Thu, 01 Jan 1970 00:00:00 GMT"},
		{1700000000, "Tue, 14 Nov 2023 22:13:20 GMT"},
		{1709208000, "Thu, 29 Feb 2024 12:00:00 GMT"},
		{253402300799, "Fri, 31 Dec 9999 23:59:59 GMT"},
	};
	char out[30];
	time_t back;

	for (size_t i = 0; i < NELEM(cases); i++) {
		azure_format_rfc1123(cases[i].t, out);
		ck_assert_str_eq(out, cases[i].s);
		ck_assert_int_eq(azure_parse_rfc1123(out, &back), 0);
		ck_assert_int_eq(back, cases[i].t);
	}
	ck_assert_int_eq(azure_parse_rfc1123(NULL, &back), -EINVAL);
}
END_TEST

START_TEST(test_block_ids)
{
	char id[AZURE_BLOCK_ID_LEN + 1], id2[AZURE_BLOCK_ID_LEN + 1];

	/* base64("bfs-12345678-00000001"), by Python's base64 module. */
	ck_assert_int_eq(azure_block_id(0x12345678, 1, id), 0);
	ck_assert_str_eq(id, "YmZzLTEyMzQ1Njc4LTAwMDAwMDAx");
	ck_assert_int_eq(azure_block_id(0xffffffff, 99999999, id), 0);
	ck_assert_str_eq(id, "YmZzLWZmZmZmZmZmLTk5OTk5OTk5");
	ck_assert_int_eq(azure_block_id(0, 50000, id), 0);
	ck_assert_str_eq(id, "YmZzLTAwMDAwMDAwLTAwMDUwMDAw");
	/* One length for every part of every upload; distinct ids. */
	for (unsigned int p = 1; p <= 50000; p += 997) {
		ck_assert_int_eq(azure_block_id(0xabcdef01, p, id), 0);
		ck_assert_uint_eq(strlen(id), AZURE_BLOCK_ID_LEN);
		ck_assert_int_eq(azure_block_id(0xabcdef01, p + 1, id2), 0);
		ck_assert_str_ne(id, id2);
		ck_assert_int_eq(azure_block_id(0xabcdef02, p, id2), 0);
		ck_assert_str_ne(id, id2);
	}
	ck_assert_int_eq(azure_block_id(1, 100000000, id), -EINVAL);
}
END_TEST

START_TEST(test_block_list)
{
	struct buf b;

	buf_init(&b, 1u << 20);
	ck_assert_int_eq(azure_xml_build_block_list(&b, 0x12345678, 2), 0);
	ck_assert_str_eq(b.data, "<?xml version=\"1.0\" encoding=\"utf-8\"?><BlockList>"
				 "<Latest>YmZzLTEyMzQ1Njc4LTAwMDAwMDAx</Latest>"
				 "<Latest>YmZzLTEyMzQ1Njc4LTAwMDAwMDAy</Latest></BlockList>");
	buf_reset(&b);
	ck_assert_int_eq(azure_xml_build_block_list(&b, 7, 0), 0);
	ck_assert_str_eq(b.data,
			 "<?xml version=\"1.0\" encoding=\"utf-8\"?><BlockList></BlockList>");
	buf_reset(&b);
	ck_assert_int_eq(azure_xml_build_block_list(&b, 7, 100000000), -EINVAL);
	/* 50000 parts fit the 4 MiB bound azure.c gives the body. */
	buf_free(&b);
	buf_init(&b, 4u << 20);
	ck_assert_int_eq(azure_xml_build_block_list(&b, 7, 50000), 0);
	ck_assert_uint_lt(b.len, 4u << 20);
	buf_free(&b);
	/* A bound too small is reported, not overrun. */
	buf_init(&b, 100);
	ck_assert_int_eq(azure_xml_build_block_list(&b, 7, 3), -EFBIG);
	buf_free(&b);
}
END_TEST

static Suite *azure_xml_suite(void)
{
	Suite *s = suite_create("azure_xml");
	TCase *t = tcase_create("list");

	tcase_add_test(t, test_list_azurite_page);
	tcase_add_test(t, test_list_folder_markers);
	tcase_add_test(t, test_list_azurite_delimited);
	tcase_add_test(t, test_list_azurite_unicode);
	tcase_add_test(t, test_list_azurite_empty);
	tcase_add_test(t, test_list_microsoft_example);
	tcase_add_test(t, test_list_encoded_names);
	tcase_add_test(t, test_list_skips_and_tolerates);
	tcase_add_test(t, test_list_direct_text_only);
	tcase_add_test(t, test_list_big_page);
	tcase_add_loop_test(t, test_list_malformed, 0, NELEM(bad_lists));
	suite_add_tcase(s, t);
	t = tcase_create("error");
	tcase_add_test(t, test_error_azurite);
	tcase_add_test(t, test_error_auth_detail);
	tcase_add_test(t, test_error_malformed);
	suite_add_tcase(s, t);
	t = tcase_create("formats");
	tcase_add_loop_test(t, test_rfc1123_parse, 0, NELEM(dates));
	tcase_add_test(t, test_rfc1123_format);
	tcase_add_test(t, test_block_ids);
	tcase_add_test(t, test_block_list);
	suite_add_tcase(s, t);
	return s;
}

int main(void)
{
	return check_run(azure_xml_suite());
}
