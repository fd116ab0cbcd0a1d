/*
 * The Azure Blob XML documents, through libxml2's tree API, held to the
 * same rules as s3_xml.c: server bodies are untrusted, so they are parsed
 * without network access, DTD loading or entity substitution (a body with
 * a DTD is refused: the service never sends one), and only the text
 * directly inside a leaf element is read. Elements are matched by local
 * name; the Blob service uses no namespace.
 */
#include "azure_xml.h"

#include <errno.h>
#include <limits.h>
#include <libxml/parser.h>
#include <libxml/tree.h>
#include <openssl/evp.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "uri.h"

/* NOENT is deliberately absent: entities are never substituted. */
#define AZ_XML_OPTIONS \
	(XML_PARSE_NONET | XML_PARSE_NOBLANKS | XML_PARSE_NOERROR | XML_PARSE_NOWARNING)

static xmlDocPtr parse(const char *xml, size_t len)
{
	xmlDocPtr doc;

	if (!xml || !len || len > INT_MAX)
		return NULL;
	doc = xmlReadMemory(xml, (int)len, "azure.xml", NULL, AZ_XML_OPTIONS);
	/* With a DTD come declared entities and their expansion tricks. */
	if (doc && (doc->intSubset || doc->extSubset)) {
		xmlFreeDoc(doc);
		return NULL;
	}
	return doc;
}

static bool named(xmlNodePtr n, const char *name)
{
	return n && n->type == XML_ELEMENT_NODE && n->name && !strcmp((const char *)n->name, name);
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

/* The text and CDATA directly inside n, malloc'd ("" when empty); NULL
 * means out of memory. Nothing else counts, so no entity is expanded. */
static char *text_of(xmlNodePtr n)
{
	size_t len = 0, off = 0;
	char *s;

	for (xmlNodePtr c = n->children; c; c = c->next)
		if ((c->type == XML_TEXT_NODE || c->type == XML_CDATA_SECTION_NODE) && c->content)
			len += strlen((const char *)c->content);
	s = malloc(len + 1);
	if (!s)
		return NULL;
	for (xmlNodePtr c = n->children; c; c = c->next) {
		if ((c->type == XML_TEXT_NODE || c->type == XML_CDATA_SECTION_NODE) && c->content) {
			size_t l = strlen((const char *)c->content);

			memcpy(s + off, c->content, l);
			off += l;
		}
	}
	s[off] = '\0';
	return s;
}

/* *out: text of the first child of that name, NULL if none; the return
 * value tells absence from lack of memory. */
static int child_text(xmlNodePtr parent, const char *name, char **out)
{
	xmlNodePtr c = child(parent, name);

	*out = NULL;
	if (!c)
		return 0;
	*out = text_of(c);
	return *out ? 0 : -ENOMEM;
}

static int parse_u64(const char *s, uint64_t *out)
{
	uint64_t v = 0;

	if (!*s)
		return -EPROTO;
	for (; *s; s++) {
		unsigned int dig = (unsigned char)*s - '0';

		if (dig > 9 || v > (UINT64_MAX - dig) / 10)
			return -EPROTO;
		v = v * 10 + dig;
	}
	*out = v;
	return 0;
}

/* Exactly n digits, no sign or blank as strtol would allow. */
static int digits(const char *s, int n)
{
	int v = 0;

	for (int i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -1;
		v = v * 10 + (s[i] - '0');
	}
	return v;
}

static const char wdays[7][4] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
static const char months[12][4] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
				   "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};

int azure_parse_rfc1123(const char *s, time_t *out)
{
	static const int mdays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
	struct tm tm = {0};
	int d, mo = -1, y, h, mi, sec;
	bool leap;

	/* "Wed, 25 Nov 2026 23:15:54 GMT": fixed width, hand-parsed rather
	 * than strptime, which is locale-dependent and lenient. The weekday
	 * is checked for form only. */
	if (!s || !out || strlen(s) != 29 || s[3] != ',' || s[4] != ' ' || s[7] != ' ' ||
	    s[11] != ' ' || s[16] != ' ' || s[19] != ':' || s[22] != ':' || strcmp(s + 25, " GMT"))
		return -EINVAL;
	for (d = 0; d < 7 && strncmp(s, wdays[d], 3); d++)
		;
	if (d == 7)
		return -EINVAL;
	for (int i = 0; i < 12; i++)
		if (!strncmp(s + 8, months[i], 3))
			mo = i;
	d = digits(s + 5, 2);
	y = digits(s + 12, 4);
	h = digits(s + 17, 2);
	mi = digits(s + 20, 2);
	sec = digits(s + 23, 2);
	if (mo < 0 || d < 1 || y < 0 || h < 0 || h > 23 || mi < 0 || mi > 59 || sec < 0 || sec > 60)
		return -EINVAL;
	leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
	if (d > mdays[mo] + (mo == 1 && leap))
		return -EINVAL;
	tm.tm_year = y - 1900;
	tm.tm_mon = mo;
	tm.tm_mday = d;
	tm.tm_hour = h;
	tm.tm_min = mi;
	tm.tm_sec = sec;
	*out = timegm(&tm);
	return 0;
}

void azure_format_rfc1123(time_t t, char out[30])
{
	struct tm tm = {0};

	/* By hand: strftime's %a and %b follow the locale. The modulos only
	 * tell the compiler each field's width. */
	if (!gmtime_r(&t, &tm))
		memset(&tm, 0, sizeof(tm));
	snprintf(out, 30, "%.3s, %02u %.3s %04u %02u:%02u:%02u GMT",
		 wdays[(unsigned int)tm.tm_wday % 7], (unsigned int)tm.tm_mday % 100,
		 months[(unsigned int)tm.tm_mon % 12], (unsigned int)(tm.tm_year + 1900) % 10000,
		 (unsigned int)tm.tm_hour % 100, (unsigned int)tm.tm_min % 100,
		 (unsigned int)tm.tm_sec % 100);
}

/* Make room for one more element in a doubling array. */
static int grow(void **arr, size_t *cap, size_t n, size_t elem, size_t first)
{
	size_t ncap;
	void *p;

	if (n < *cap)
		return 0;
	ncap = *cap ? *cap * 2 : first;
	if (ncap < *cap || ncap > SIZE_MAX / elem)
		return -ENOMEM;
	p = realloc(*arr, ncap * elem);
	if (!p)
		return -ENOMEM;
	*arr = p;
	*cap = ncap;
	return 0;
}

/*
 * A blob or prefix Name. Since 2020-02-10 a name holding characters XML
 * cannot carry comes as <Name Encoded="true"> with the name percent-
 * encoded. An empty name, or one that decodes to hold a NUL, names nothing.
 */
static int name_of(xmlNodePtr parent, char **out)
{
	xmlNodePtr n = child(parent, "Name");
	bool encoded = false;
	char *s;

	*out = NULL;
	if (!n)
		return -EPROTO;
	s = text_of(n);
	if (!s)
		return -ENOMEM;
	for (xmlAttrPtr a = n->properties; a; a = a->next) {
		xmlNodePtr v = a->children;

		/* Plain text only, as for elements. */
		if (a->name && !strcmp((const char *)a->name, "Encoded") && v &&
		    v->type == XML_TEXT_NODE && !v->next && v->content)
			encoded = !strcmp((const char *)v->content, "true");
	}
	if (encoded) {
		/* A %00 would end the name early: refuse rather than cut. */
		if (strstr(s, "%00"))
			s[0] = '\0';
		else
			uri_decode(s, false);
	}
	if (!*s) {
		free(s);
		return -EPROTO;
	}
	*out = s;
	return 0;
}

/* Skip what is not a live blob: snapshots and soft-deleted blobs. */
static bool is_live(xmlNodePtr blob)
{
	xmlNodePtr del = child(blob, "Deleted");
	bool live = !child(blob, "Snapshot");

	if (live && del) {
		char *t = text_of(del);

		live = !t || strcmp(t, "true");
		free(t);
	}
	return live;
}

static int add_object(struct store_list *out, size_t *cap, xmlNodePtr blob)
{
	struct store_list_entry e = {0};
	xmlNodePtr props = child(blob, "Properties");
	char *size = NULL, *lm = NULL, *etag = NULL;
	int rc;

	rc = grow((void **)&out->objects, cap, out->n_objects, sizeof(*out->objects), 64);
	if (!rc)
		rc = name_of(blob, &e.key);
	if (!rc)
		rc = child_text(props, "Content-Length", &size);
	if (!rc)
		rc = child_text(props, "Last-Modified", &lm);
	if (!rc)
		rc = child_text(props, "Etag", &etag);
	if (!rc && size && parse_u64(size, &e.size))
		rc = -EPROTO;
	/* A missing or odd date only costs us the mtime, not the listing. */
	if (!lm || azure_parse_rfc1123(lm, &e.last_modified))
		e.last_modified = 0;
	/* The listing's Etag is bare (0x8D...), the ETag header quoted: quote
	 * it, so both compare equal. One too long for the slot is dropped. */
	if (etag && *etag) {
		bool quoted = etag[0] == '"';

		if (strlen(etag) + (quoted ? 0 : 2) < sizeof(e.etag))
			snprintf(e.etag, sizeof(e.etag), quoted ? "%s" : "\"%s\"", etag);
	}
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

static int add_prefix(struct store_list *out, size_t *cap, xmlNodePtr bp)
{
	char *p;
	int rc;

	rc = grow((void **)&out->prefixes, cap, out->n_prefixes, sizeof(*out->prefixes), 16);
	if (!rc)
		rc = name_of(bp, &p);
	if (rc)
		return rc;
	out->prefixes[out->n_prefixes++] = p;
	return 0;
}

int azure_xml_parse_list(const char *xml, size_t len, struct store_list *out)
{
	xmlDocPtr doc = parse(xml, len);
	xmlNodePtr root = root_named(doc, "EnumerationResults");
	xmlNodePtr blobs = child(root, "Blobs");
	size_t ocap = 0, pcap = 0;
	char *marker = NULL;
	int rc = 0;

	memset(out, 0, sizeof(*out));
	/* An empty container still has <Blobs/>: without it this is not a
	 * blob listing (a container listing, say). */
	if (!root || !blobs) {
		xmlFreeDoc(doc);
		return -EPROTO;
	}
	for (xmlNodePtr c = blobs->children; c && !rc; c = c->next) {
		if (named(c, "Blob") && is_live(c))
			rc = add_object(out, &ocap, c);
		else if (named(c, "BlobPrefix"))
			rc = add_prefix(out, &pcap, c);
	}
	if (!rc)
		rc = child_text(root, "NextMarker", &marker);
	xmlFreeDoc(doc);
	if (!rc && marker && *marker) {
		out->next_token = marker;
		marker = NULL;
	}
	free(marker);
	if (rc)
		store_list_free(out);
	return rc;
}

int azure_xml_parse_error(const char *xml, size_t len, char **code, char **message,
			  char **auth_detail)
{
	char **outs[] = {code, message, auth_detail};
	static const char *const names[] = {"Code", "Message", "AuthenticationErrorDetail"};
	xmlDocPtr doc = parse(xml, len);
	xmlNodePtr root = root_named(doc, "Error");
	int rc = root ? 0 : -EPROTO;

	for (size_t i = 0; i < 3; i++)
		if (outs[i])
			*outs[i] = NULL;
	for (size_t i = 0; i < 3 && !rc; i++)
		if (outs[i])
			rc = child_text(root, names[i], outs[i]);
	xmlFreeDoc(doc);
	if (rc) {
		for (size_t i = 0; i < 3; i++) {
			if (outs[i]) {
				free(*outs[i]);
				*outs[i] = NULL;
			}
		}
		return rc;
	}
	/* "The specified blob does not exist.\nRequestId:...\nTime:..." */
	if (message && *message)
		(*message)[strcspn(*message, "\r\n")] = '\0';
	return 0;
}

int azure_block_id(uint32_t nonce, unsigned int part_no, char out[AZURE_BLOCK_ID_LEN + 1])
{
	char raw[32];

	if (part_no > 99999999u)
		return -EINVAL;
	snprintf(raw, sizeof(raw), "bfs-%08x-%08u", (unsigned int)nonce, part_no);
	/* 21 bytes make 28 base64 characters, no padding. */
	EVP_EncodeBlock((unsigned char *)out, (const unsigned char *)raw, 21);
	return 0;
}

int azure_xml_build_block_list(struct buf *out, uint32_t nonce, unsigned int n)
{
	char id[AZURE_BLOCK_ID_LEN + 1];
	int rc;

	if (n > 99999999u)
		return -EINVAL;
	rc = buf_puts(out, "<?xml version=\"1.0\" encoding=\"utf-8\"?><BlockList>");
	for (unsigned int i = 1; i <= n && !rc; i++) {
		azure_block_id(nonce, i, id);
		/* base64 needs no XML escaping. */
		rc = buf_printf(out, "<Latest>%s</Latest>", id);
	}
	if (!rc)
		rc = buf_puts(out, "</BlockList>");
	return rc;
}
