/*
 * The S3 XML documents. Server bodies are untrusted and read through
 * xml_util.h; elements are matched by local name so that the S3 namespace,
 * a prefixed form of it, or its absence on some compatible stores, all
 * read the same.
 */
#include "s3_xml.h"

#include <errno.h>
#include <limits.h>
#include <libxml/parser.h>
#include <libxml/tree.h>
#include <openssl/evp.h>
#include <openssl/md5.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "uri.h"
#include "xml_util.h"

#define S3_NS "http://s3.amazonaws.com/doc/2006-03-01/"

static bool leap(int y)
{
	return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

int s3_parse_iso8601(const char *s, time_t *out)
{
	static const int mdays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
	struct tm tm = {0};
	int y, mo, d, h, mi, sec;
	const char *p;

	/* Hand-parsed rather than strptime, which takes blanks, one-digit
	 * fields and out-of-range days that timegm would silently roll. */
	if (!s || !out || strnlen(s, 20) < 20 || s[4] != '-' || s[7] != '-' || s[10] != 'T' ||
	    s[13] != ':' || s[16] != ':')
		return -EINVAL;
	y = xml_digits(s, 4);
	mo = xml_digits(s + 5, 2);
	d = xml_digits(s + 8, 2);
	h = xml_digits(s + 11, 2);
	mi = xml_digits(s + 14, 2);
	sec = xml_digits(s + 17, 2);
	if (y < 0 || mo < 1 || mo > 12 || d < 1 || h < 0 || h > 23 || mi < 0 || mi > 59 ||
	    sec < 0 || sec > 60)
		return -EINVAL;
	if (d > mdays[mo - 1] + (mo == 2 && leap(y)))
		return -EINVAL;
	p = s + 19;
	if (*p == '.') {
		/* Fractional seconds: at least one digit, dropped. */
		if (p[1] < '0' || p[1] > '9')
			return -EINVAL;
		for (p++; *p >= '0' && *p <= '9'; p++)
			;
	}
	if (p[0] != 'Z' || p[1] != '\0')
		return -EINVAL;
	tm.tm_year = y - 1900;
	tm.tm_mon = mo - 1;
	tm.tm_mday = d;
	tm.tm_hour = h;
	tm.tm_min = mi;
	tm.tm_sec = sec;
	*out = timegm(&tm);
	return 0;
}

static int add_object(struct store_list *out, size_t *cap, xmlNodePtr c)
{
	struct store_list_entry e = {0};
	char *size = NULL, *lm = NULL, *etag = NULL;
	int rc;

	rc = xml_grow((void **)&out->objects, cap, out->n_objects, sizeof(*out->objects), 64);
	if (!rc)
		rc = xml_child_text(c, "Key", &e.key);
	/* S3 keys are never empty; an entry without one names nothing. */
	if (!rc && (!e.key || !*e.key))
		rc = -EPROTO;
	if (!rc)
		rc = xml_child_text(c, "Size", &size);
	if (!rc)
		rc = xml_child_text(c, "LastModified", &lm);
	if (!rc)
		rc = xml_child_text(c, "ETag", &etag);
	if (!rc && size && xml_parse_u64(size, &e.size))
		rc = -EPROTO;
	/* A missing or odd date only costs us the mtime, not the listing. */
	if (!lm || s3_parse_iso8601(lm, &e.last_modified))
		e.last_modified = 0;
	/* An ETag too long for the slot is dropped, never cut short. */
	if (etag && strlen(etag) < sizeof(e.etag))
		memcpy(e.etag, etag, strlen(etag) + 1);
	free(size);
	free(lm);
	free(etag);
	if (rc) {
		free(e.key);
		return rc;
	}
	out->objects[out->n_objects++] = e;
	return 0;
}

static int add_prefix(struct store_list *out, size_t *cap, xmlNodePtr c)
{
	char *p;
	int rc;

	rc = xml_grow((void **)&out->prefixes, cap, out->n_prefixes, sizeof(*out->prefixes), 16);
	if (!rc)
		rc = xml_child_text(c, "Prefix", &p);
	if (rc)
		return rc;
	if (!p || !*p) {
		free(p);
		return -EPROTO;
	}
	out->prefixes[out->n_prefixes++] = p;
	return 0;
}

int s3_xml_parse_list(const char *xml, size_t len, struct store_list *out)
{
	xmlDocPtr doc = xml_parse(xml, len);
	xmlNodePtr root = xml_root_named(doc, "ListBucketResult");
	size_t ocap = 0, pcap = 0;
	bool truncated = false;
	char *token = NULL;
	int rc = 0;

	memset(out, 0, sizeof(*out));
	if (!root) {
		xmlFreeDoc(doc);
		return -EPROTO;
	}
	for (xmlNodePtr c = root->children; c && !rc; c = c->next) {
		if (xml_named(c, "Contents")) {
			rc = add_object(out, &ocap, c);
		} else if (xml_named(c, "CommonPrefixes")) {
			rc = add_prefix(out, &pcap, c);
		} else if (xml_named(c, "IsTruncated")) {
			char *t = xml_text_of(c);

			if (!t)
				rc = -ENOMEM;
			truncated = t && !strcmp(t, "true");
			free(t);
		} else if (xml_named(c, "NextContinuationToken") && !token) {
			token = xml_text_of(c);
			if (!token)
				rc = -ENOMEM;
		}
	}
	xmlFreeDoc(doc);
	if (!rc && truncated) {
		/* A truncated page without a token would have us list forever. */
		if (!token || !*token)
			rc = -EPROTO;
		out->next_token = token;
		token = NULL;
	}
	/* On the last page a token, if any, is stale: it is not handed out. */
	free(token);
	if (rc)
		store_list_free(out);
	return rc;
}

int s3_xml_parse_error(const char *xml, size_t len, char **code, char **message, char **request_id)
{
	char **const outs[] = {code, message, request_id};
	static const char *const names[] = {"Code", "Message", "RequestId"};

	return xml_root_fields(xml, len, "Error", names, outs, 3);
}

int s3_xml_parse_upload_id(const char *xml, size_t len, char **upload_id)
{
	xmlDocPtr doc = xml_parse(xml, len);
	xmlNodePtr root = xml_root_named(doc, "InitiateMultipartUploadResult");
	char *id = NULL;
	int rc = root ? xml_child_text(root, "UploadId", &id) : -EPROTO;

	xmlFreeDoc(doc);
	*upload_id = NULL;
	if (!rc && (!id || !*id))
		rc = -EPROTO;
	if (rc) {
		free(id);
		return rc;
	}
	*upload_id = id;
	return 0;
}

/*
 * XML character data. Control characters go out as numeric references, as
 * S3 asks for keys: a raw CR would be read back as LF by any XML parser.
 */
static int append_escaped(struct buf *out, const char *s)
{
	const char *run = s;
	int rc = 0;

	for (; *s && !rc; s++) {
		unsigned char c = *s;
		const char *ent = NULL;

		switch (c) {
		case '&':
			ent = "&amp;";
			break;
		case '<':
			ent = "&lt;";
			break;
		case '>':
			ent = "&gt;";
			break;
		case '"':
			ent = "&quot;";
			break;
		case '\'':
			ent = "&apos;";
			break;
		default:
			if (c >= 0x20)
				continue;
		}
		/* Plain bytes are copied by runs, not one call each. */
		rc = buf_append(out, run, (size_t)(s - run));
		if (!rc)
			rc = ent ? buf_puts(out, ent) : buf_printf(out, "&#x%X;", c);
		run = s + 1;
	}
	if (!rc)
		rc = buf_append(out, run, (size_t)(s - run));
	return rc;
}

int s3_xml_build_complete(struct buf *out, const char *const *etags, size_t n)
{
	int rc;

	if (n && !etags)
		return -EINVAL;
	rc = buf_puts(out, "<CompleteMultipartUpload xmlns=\"" S3_NS "\">");
	for (size_t i = 0; i < n && !rc; i++) {
		if (!etags[i])
			return -EINVAL;
		rc = buf_printf(out, "<Part><PartNumber>%zu</PartNumber><ETag>", i + 1);
		if (!rc)
			rc = append_escaped(out, etags[i]);
		if (!rc)
			rc = buf_puts(out, "</ETag></Part>");
	}
	if (!rc)
		rc = buf_puts(out, "</CompleteMultipartUpload>");
	return rc;
}

/* A part's ETag ("hex" or hex) as the 16 bytes of its MD5. */
static int etag_md5(const char *etag, unsigned char md[MD5_DIGEST_LENGTH])
{
	bool quoted = etag[0] == '"';
	const char *hex = etag + quoted;

	for (int k = 0; k < MD5_DIGEST_LENGTH; k++) {
		int hi = uri_hexval(hex[2 * k]), lo = hi < 0 ? -1 : uri_hexval(hex[2 * k + 1]);

		if (lo < 0)
			return -EINVAL;
		md[k] = (unsigned char)(hi << 4 | lo);
	}
	hex += 2 * MD5_DIGEST_LENGTH;
	return strcmp(hex, quoted ? "\"" : "") ? -EINVAL : 0;
}

int s3_multipart_etag(const char *const *etags, size_t n, char out[48])
{
	unsigned char md[MD5_DIGEST_LENGTH], part[MD5_DIGEST_LENGTH];
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	unsigned int mdlen = 0;
	int rc = 0;

	if (!ctx || !EVP_DigestInit_ex(ctx, EVP_md5(), NULL))
		rc = -ENOMEM;
	for (size_t i = 0; i < n && !rc; i++) {
		rc = etags[i] ? etag_md5(etags[i], part) : -EINVAL;
		if (!rc && !EVP_DigestUpdate(ctx, part, sizeof(part)))
			rc = -ENOMEM;
	}
	if (!rc && !EVP_DigestFinal_ex(ctx, md, &mdlen))
		rc = -ENOMEM;
	EVP_MD_CTX_free(ctx);
	if (rc)
		return rc;
	out[0] = '"';
	for (unsigned int k = 0; k < mdlen; k++)
		snprintf(out + 1 + 2 * k, 3, "%02x", md[k]);
	snprintf(out + 1 + 2 * mdlen, 48 - 1 - 2 * mdlen, "-%zu\"", n);
	return 0;
}

int s3_xml_build_delete(struct buf *out, const char *const *keys, size_t n)
{
	int rc;

	if (n && !keys)
		return -EINVAL;
	rc = buf_puts(out, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>"
			   "<Delete xmlns=\"" S3_NS "\"><Quiet>true</Quiet>");
	for (size_t i = 0; i < n && !rc; i++) {
		if (!keys[i])
			return -EINVAL;
		rc = buf_puts(out, "<Object><Key>");
		if (!rc)
			rc = append_escaped(out, keys[i]);
		if (!rc)
			rc = buf_puts(out, "</Key></Object>");
	}
	if (!rc)
		rc = buf_puts(out, "</Delete>");
	return rc;
}

int s3_xml_parse_delete_result(const char *xml, size_t len, size_t *n_errors, char **first_code)
{
	xmlDocPtr doc = xml_parse(xml, len);
	xmlNodePtr root = xml_root_named(doc, "DeleteResult");
	size_t n = 0;
	int rc = root ? 0 : -EPROTO;

	if (first_code)
		*first_code = NULL;
	for (xmlNodePtr c = root ? root->children : NULL; c && !rc; c = c->next) {
		if (!xml_named(c, "Error"))
			continue;
		if (!n && first_code)
			rc = xml_child_text(c, "Code", first_code);
		n++;
	}
	xmlFreeDoc(doc);
	if (rc && first_code) {
		free(*first_code);
		*first_code = NULL;
	}
	if (n_errors)
		*n_errors = rc ? 0 : n;
	return rc;
}
