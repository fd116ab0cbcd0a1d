/*
 * The Azure Blob XML documents. Server bodies are untrusted and read
 * through xml_util.h, as S3's are; the Blob service uses no namespace.
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
#include <strings.h>

#include "store_meta.h"
#include "uri.h"
#include "xml_util.h"

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
	d = xml_digits(s + 5, 2);
	y = xml_digits(s + 12, 4);
	h = xml_digits(s + 17, 2);
	mi = xml_digits(s + 20, 2);
	sec = xml_digits(s + 23, 2);
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

/*
 * A blob or prefix Name. Since 2020-02-10 a name holding characters XML
 * cannot carry comes as <Name Encoded="true"> with the name percent-
 * encoded. An empty name, or one that decodes to hold a NUL, names nothing.
 */
static int name_of(xmlNodePtr parent, char **out)
{
	xmlNodePtr n = xml_child(parent, "Name");
	bool encoded = false;
	char *s;

	*out = NULL;
	if (!n)
		return -EPROTO;
	s = xml_text_of(n);
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
	xmlNodePtr del = xml_child(blob, "Deleted");
	bool live = !xml_child(blob, "Snapshot");

	if (live && del) {
		char *t = xml_text_of(del);

		live = !t || strcmp(t, "true");
		free(t);
	}
	return live;
}

/* <Metadata><mode>..</mode>..<hdi_isfolder>true</hdi_isfolder></Metadata>:
 * our listings always ask for it (include=metadata), so a blob without
 * the element has none. */
static void read_metadata(xmlNodePtr blob, struct store_list_entry *e)
{
	xmlNodePtr meta = xml_child(blob, "Metadata");

	e->has_meta = true;
	for (xmlNodePtr n = meta ? meta->children : NULL; n; n = n->next) {
		char *t;

		if (n->type != XML_ELEMENT_NODE || !(t = xml_text_of(n)))
			continue;
		meta_set(&e->meta, (const char *)n->name, t);
		free(t);
	}
	e->folder = e->meta.folder;
}

static int add_object(struct store_list *out, size_t *cap, xmlNodePtr blob)
{
	struct store_list_entry e = {0};
	xmlNodePtr props = xml_child(blob, "Properties");
	char *size = NULL, *lm = NULL, *etag = NULL;
	int rc;

	rc = xml_grow((void **)&out->objects, cap, out->n_objects, sizeof(*out->objects), 64);
	if (!rc)
		rc = name_of(blob, &e.key);
	if (!rc)
		rc = xml_child_text(props, "Content-Length", &size);
	if (!rc)
		rc = xml_child_text(props, "Last-Modified", &lm);
	if (!rc)
		rc = xml_child_text(props, "Etag", &etag);
	if (!rc && size && xml_parse_u64(size, &e.size))
		rc = -EPROTO;
	if (!rc)
		read_metadata(blob, &e);
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

	rc = xml_grow((void **)&out->prefixes, cap, out->n_prefixes, sizeof(*out->prefixes), 16);
	if (!rc)
		rc = name_of(bp, &p);
	if (rc)
		return rc;
	out->prefixes[out->n_prefixes++] = p;
	return 0;
}

int azure_xml_parse_list(const char *xml, size_t len, struct store_list *out)
{
	xmlDocPtr doc = xml_parse(xml, len);
	xmlNodePtr root = xml_root_named(doc, "EnumerationResults");
	xmlNodePtr blobs = xml_child(root, "Blobs");
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
		if (xml_named(c, "Blob") && is_live(c))
			rc = add_object(out, &ocap, c);
		else if (xml_named(c, "BlobPrefix"))
			rc = add_prefix(out, &pcap, c);
	}
	if (!rc)
		rc = xml_child_text(root, "NextMarker", &marker);
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
	char **const outs[] = {code, message, auth_detail};
	static const char *const names[] = {"Code", "Message", "AuthenticationErrorDetail"};
	int rc = xml_root_fields(xml, len, "Error", names, outs, 3);

	if (rc)
		return rc;
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
