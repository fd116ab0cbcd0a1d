/*
 * Reading untrusted XML (store listings and error bodies), the one way both
 * stores do it: libxml2's tree API without network access, DTD loading or
 * entity substitution (a document with a DTD is refused: neither S3 nor
 * Azure sends one), elements matched by local name whatever their
 * namespace, and only the text directly inside a leaf element read.
 */
#ifndef BUCKETFS_XML_UTIL_H
#define BUCKETFS_XML_UTIL_H

#include <libxml/tree.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* NULL for a malformed document, one with a DTD, or an empty one. */
xmlDocPtr xml_parse(const char *xml, size_t len);
bool xml_named(xmlNodePtr n, const char *name);
xmlNodePtr xml_root_named(xmlDocPtr doc, const char *name);
/* The first child element of that name, or NULL. */
xmlNodePtr xml_child(xmlNodePtr parent, const char *name);
/* The text and CDATA directly inside n, malloc'd ("" when empty); NULL
 * means out of memory. Nothing else counts, so no entity is expanded. */
char *xml_text_of(xmlNodePtr n);
/* *out: the text of the first child of that name, NULL if there is none;
 * the return value (0 or -ENOMEM) tells absence from lack of memory. */
int xml_child_text(xmlNodePtr parent, const char *name, char **out);
/* Parse a document whose root is named root, and set *outs[i] to the
 * text of its child names[i] (NULL if absent; outs[i] NULL: not wanted).
 * -EPROTO if the document or its root is not there, -ENOMEM; on error
 * every *outs[i] is NULL. */
int xml_root_fields(const char *xml, size_t len, const char *root, const char *const *names,
		    char **const *outs, size_t n);
/* Decimal digits only, no sign or blank; -EPROTO otherwise or on overflow. */
int xml_parse_u64(const char *s, uint64_t *out);
/* Exactly n digits as a number, or -1. */
int xml_digits(const char *s, int n);
/* Make room for element n of a doubling array of elem-sized elements
 * (first: the first capacity). 0 or -ENOMEM. */
int xml_grow(void **arr, size_t *cap, size_t n, size_t elem, size_t first);

#endif
