/*
 * The S3 XML documents, through libxml2's tree API. Server bodies are
 * untrusted: parsed without network access, DTD loading or entity
 * substitution, and every element is matched by local name so that the
 * S3 namespace (or its absence, on some compatible stores) does not matter.
 */
#include "s3_xml.h"

#include <errno.h>
#include <inttypes.h>
#include <libxml/parser.h>
#include <libxml/tree.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#define S3_NS "http://s3.amazonaws.com/doc/2006-03-01/"

static xmlDocPtr parse(const char *xml, size_t len)
{
	xmlDocPtr doc;

	if (!xml || !len || len > INT32_MAX)
		return NULL;
	doc = xmlReadMemory(xml, (int)len, "s3.xml", NULL,
			    XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING);
	/* S3 never sends a DTD; one can only be an attempt at entity tricks. */
	if (doc && (doc->intSubset || doc->extSubset)) {
		xmlFreeDoc(doc);
		return NULL;
	}
	return doc;
}

static bool named(xmlNodePtr n, const char *name)
{
	return n && n->type == XML_ELEMENT_NODE && !strcmp((const char *)n->name, name);
}

static xmlNodePtr root_named(xmlDocPtr doc, const char *name)
{
	xmlNodePtr r = doc ? xmlDocGetRootElement(doc) : NULL;

	return named(r, name) ? r : NULL;
}

static xmlNodePtr child(xmlNodePtr parent, const char *name)
{
	for (xmlNodePtr c = parent ? parent->children : NULL; c; c = c->next)
		if (named(c, name))
			return c;
	return NULL;
}

/* The text of an element, malloc'd ("" when empty); NULL only for ENOMEM. */
static char *text_of(xmlNodePtr n)
{
	xmlChar *t = xmlNodeGetContent(n);
	char *s = strdup(t ? (const char *)t : "");

	xmlFree(t);
	return s;
}

static char *child_text(xmlNodePtr parent, const char *name)
{
	xmlNodePtr c = child(parent, name);

	return c ? text_of(c) : NULL;
}

int s3_parse_iso8601(const char *s, time_t *out)
{
	struct tm tm = {0};
	const char *p;

	if (!s)
		return -EINVAL;
	p = strptime(s, "%Y-%m-%dT%H:%M:%S", &tm);
	if (!p)
		return -EINVAL;
	if (*p == '.') {
		p++;
		while (*p >= '0' && *p <= '9')
			p++;
	}
	if (strcmp(p, "Z") && strcmp(p, "+00:00"))
		return -EINVAL;
	*out = timegm(&tm);
	return 0;
}

static int parse_u64(const char *s, uint64_t *out)
{
	char *end;

	if (!s || *s < '0' || *s > '9')
		return -EPROTO;
	errno = 0;
	*out = strtoull(s, &end, 10);
	return errno || *end ? -EPROTO : 0;
}

static int add_object(struct store_list *out, size_t *cap, xmlNodePtr c)
{
	struct store_list_entry *e;
	char *key, *size, *lm, *etag;
	int rc = 0;

	if (out->n_objects == *cap) {
		size_t ncap = *cap ? *cap * 2 : 64;
		void *p = realloc(out->objects, ncap * sizeof(*out->objects));

		if (!p)
			return -ENOMEM;
		out->objects = p;
		*cap = ncap;
	}
	key = child_text(c, "Key");
	if (!key)
		return -EPROTO;
	e = &out->objects[out->n_objects];
	memset(e, 0, sizeof(*e));
	size = child_text(c, "Size");
	lm = child_text(c, "LastModified");
	etag = child_text(c, "ETag");
	if (etag && strlen(etag) < sizeof(e->etag))
		strcpy(e->etag, etag);
	free(etag);
	if (size && parse_u64(size, &e->size))
		rc = -EPROTO;
	if (lm && s3_parse_iso8601(lm, &e->last_modified))
		e->last_modified = 0;
	free(size);
	free(lm);
	if (rc) {
		free(key);
		return rc;
	}
	e->key = key;
	out->n_objects++;
	return 0;
}

static int add_prefix(struct store_list *out, size_t *cap, xmlNodePtr c)
{
	char *p = child_text(c, "Prefix");

	if (!p)
		return -EPROTO;
	if (out->n_prefixes == *cap) {
		size_t ncap = *cap ? *cap * 2 : 16;
		void *np = realloc(out->prefixes, ncap * sizeof(*out->prefixes));

		if (!np) {
			free(p);
			return -ENOMEM;
		}
		out->prefixes = np;
		*cap = ncap;
	}
	out->prefixes[out->n_prefixes++] = p;
	return 0;
}

int s3_xml_parse_list(const char *xml, size_t len, struct store_list *out)
{
	xmlDocPtr doc = parse(xml, len);
	xmlNodePtr root = root_named(doc, "ListBucketResult");
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
		if (named(c, "Contents")) {
			rc = add_object(out, &ocap, c);
		} else if (named(c, "CommonPrefixes")) {
			rc = add_prefix(out, &pcap, c);
		} else if (named(c, "IsTruncated")) {
			char *t = text_of(c);

			truncated = t && !strcmp(t, "true");
			free(t);
		} else if (named(c, "NextContinuationToken") && !token) {
			token = text_of(c);
			rc = token ? 0 : -ENOMEM;
		}
	}
	xmlFreeDoc(doc);
	if (!rc && truncated) {
		/* A truncated page without a token would make us loop forever. */
		if (!token || !*token)
			rc = -EPROTO;
		out->next_token = token;
		token = NULL;
	}
	free(token);
	if (rc)
		store_list_free(out);
	return rc;
}

int s3_xml_parse_error(const char *xml, size_t len, char **code, char **message, char **request_id)
{
	xmlDocPtr doc = parse(xml, len);
	xmlNodePtr root = root_named(doc, "Error");

	if (code)
		*code = NULL;
	if (message)
		*message = NULL;
	if (request_id)
		*request_id = NULL;
	if (!root) {
		xmlFreeDoc(doc);
		return -EPROTO;
	}
	if (code)
		*code = child_text(root, "Code");
	if (message)
		*message = child_text(root, "Message");
	if (request_id)
		*request_id = child_text(root, "RequestId");
	xmlFreeDoc(doc);
	return 0;
}

int s3_xml_parse_upload_id(const char *xml, size_t len, char **upload_id)
{
	xmlDocPtr doc = parse(xml, len);
	xmlNodePtr root = root_named(doc, "InitiateMultipartUploadResult");
	char *id = root ? child_text(root, "UploadId") : NULL;

	xmlFreeDoc(doc);
	*upload_id = NULL;
	if (!id || !*id) {
		free(id);
		return -EPROTO;
	}
	*upload_id = id;
	return 0;
}

/* XML character data; control characters as numeric references. */
static int append_escaped(struct buf *out, const char *s)
{
	int rc = 0;

	for (; *s && !rc; s++) {
		unsigned char c = *s;

		switch (c) {
		case '&':
			rc = buf_puts(out, "&amp;");
			break;
		case '<':
			rc = buf_puts(out, "&lt;");
			break;
		case '>':
			rc = buf_puts(out, "&gt;");
			break;
		case '"':
			rc = buf_puts(out, "&quot;");
			break;
		case '\'':
			rc = buf_puts(out, "&apos;");
			break;
		default:
			if (c < 0x20)
				rc = buf_printf(out, "&#x%X;", c);
			else
				rc = buf_append(out, s, 1);
		}
	}
	return rc;
}

int s3_xml_build_complete(struct buf *out, const char *const *etags, size_t n)
{
	int rc = buf_puts(out, "<CompleteMultipartUpload xmlns=\"" S3_NS "\">");

	for (size_t i = 0; i < n && !rc; i++) {
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

int s3_xml_build_delete(struct buf *out, const char *const *keys, size_t n)
{
	int rc = buf_puts(out, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>"
			       "<Delete xmlns=\"" S3_NS "\"><Quiet>true</Quiet>");

	for (size_t i = 0; i < n && !rc; i++) {
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
	xmlDocPtr doc = parse(xml, len);
	xmlNodePtr root = root_named(doc, "DeleteResult");
	int rc = 0;

	*n_errors = 0;
	if (first_code)
		*first_code = NULL;
	if (!root) {
		xmlFreeDoc(doc);
		return -EPROTO;
	}
	for (xmlNodePtr c = root->children; c; c = c->next) {
		if (!named(c, "Error"))
			continue;
		if (!*n_errors && first_code)
			*first_code = child_text(c, "Code");
		(*n_errors)++;
	}
	xmlFreeDoc(doc);
	return rc;
}
