/* Reading untrusted XML (see xml_util.h). */
#include "xml_util.h"

#include <errno.h>
#include <limits.h>
#include <libxml/parser.h>
#include <stdlib.h>
#include <string.h>

/* NOENT is deliberately absent: entities are never substituted. */
#define XML_UTIL_OPTIONS \
	(XML_PARSE_NONET | XML_PARSE_NOBLANKS | XML_PARSE_NOERROR | XML_PARSE_NOWARNING)

/* libxml2 prints some errors (input in a bad encoding) on stderr whatever
 * the options say: what a store sends must not write into our log. */
static void xml_util_quiet(void *ctx, const char *fmt, ...)
{
	(void)ctx;
	(void)fmt;
}

xmlDocPtr xml_parse(const char *xml, size_t len)
{
	xmlDocPtr doc;

	if (!xml || !len || len > INT_MAX)
		return NULL;
	/* Per thread in libxml2, so set here, by the thread that parses. */
	xmlSetGenericErrorFunc(NULL, xml_util_quiet);
	doc = xmlReadMemory(xml, (int)len, "store.xml", NULL, XML_UTIL_OPTIONS);
	/* With a DTD come declared entities and their expansion tricks. */
	if (doc && (doc->intSubset || doc->extSubset)) {
		xmlFreeDoc(doc);
		return NULL;
	}
	return doc;
}

bool xml_named(xmlNodePtr n, const char *name)
{
	return n && n->type == XML_ELEMENT_NODE && n->name && !strcmp((const char *)n->name, name);
}

xmlNodePtr xml_root_named(xmlDocPtr doc, const char *name)
{
	xmlNodePtr r = doc ? xmlDocGetRootElement(doc) : NULL;

	return xml_named(r, name) ? r : NULL;
}

xmlNodePtr xml_child(xmlNodePtr parent, const char *name)
{
	for (xmlNodePtr c = parent ? parent->children : NULL; c; c = c->next)
		if (xml_named(c, name))
			return c;
	return NULL;
}

static bool is_text(xmlNodePtr c)
{
	return (c->type == XML_TEXT_NODE || c->type == XML_CDATA_SECTION_NODE) && c->content;
}

char *xml_text_of(xmlNodePtr n)
{
	size_t len = 0, off = 0;
	char *s;

	for (xmlNodePtr c = n->children; c; c = c->next)
		if (is_text(c))
			len += strlen((const char *)c->content);
	s = malloc(len + 1);
	if (!s)
		return NULL;
	for (xmlNodePtr c = n->children; c; c = c->next) {
		if (is_text(c)) {
			size_t l = strlen((const char *)c->content);

			memcpy(s + off, c->content, l);
			off += l;
		}
	}
	s[off] = '\0';
	return s;
}

int xml_child_text(xmlNodePtr parent, const char *name, char **out)
{
	xmlNodePtr c = xml_child(parent, name);

	*out = NULL;
	if (!c)
		return 0;
	*out = xml_text_of(c);
	return *out ? 0 : -ENOMEM;
}

int xml_root_fields(const char *xml, size_t len, const char *root, const char *const *names,
		    char **const *outs, size_t n)
{
	xmlDocPtr doc = xml_parse(xml, len);
	xmlNodePtr r = xml_root_named(doc, root);
	int rc = r ? 0 : -EPROTO;

	for (size_t i = 0; i < n; i++)
		if (outs[i])
			*outs[i] = NULL;
	for (size_t i = 0; i < n && !rc; i++)
		if (outs[i])
			rc = xml_child_text(r, names[i], outs[i]);
	xmlFreeDoc(doc);
	for (size_t i = 0; i < n && rc; i++) {
		if (outs[i]) {
			free(*outs[i]);
			*outs[i] = NULL;
		}
	}
	return rc;
}

int xml_parse_u64(const char *s, uint64_t *out)
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

int xml_digits(const char *s, int n)
{
	int v = 0;

	for (int i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -1;
		v = v * 10 + (s[i] - '0');
	}
	return v;
}

int xml_grow(void **arr, size_t *cap, size_t n, size_t elem, size_t first)
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
