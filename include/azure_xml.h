/*
 * The XML documents of the Azure Blob REST API, through libxml2: the List
 * Blobs result, the Error body and the Put Block List body, plus the two
 * formats around them (RFC 1123 dates, block ids). Parsers take untrusted
 * bytes and return 0 or -EPROTO (malformed) / -ENOMEM; outputs are owned
 * by the caller.
 */
#ifndef BUCKETFS_AZURE_XML_H
#define BUCKETFS_AZURE_XML_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "buf.h"
#include "store.h"

/*
 * EnumerationResults of List Blobs: Blobs/Blob (Name, Properties/
 * Content-Length, Last-Modified, Etag), Blobs/BlobPrefix/Name and
 * NextMarker (NULL when absent or empty: the last page). A Name with
 * Encoded="true" is percent-decoded. Etags are given quoted, as the ETag
 * header of Get Blob Properties has them ("0x8D..."), so that a listed
 * ETag can serve as If-Match. Snapshots and soft-deleted blobs, which only
 * appear when asked for, are skipped.
 */
int azure_xml_parse_list(const char *xml, size_t len, struct store_list *out);

/* <Error><Code/><Message/><AuthenticationErrorDetail/></Error>; each out
 * may be NULL to skip; absent elements give NULL. Message is cut at its
 * first line (the service appends "RequestId:...\nTime:..."). -EPROTO if
 * the body is not an Error. */
int azure_xml_parse_error(const char *xml, size_t len, char **code, char **message,
			  char **auth_detail);

/* A block id: base64 of "bfs-NNNNNNNN-PPPPPPPP" (the upload's nonce and the
 * part number, both %08x / %08u), AZURE_BLOCK_ID_LEN characters for every
 * part, as a blob's block ids must all have one length. The base64 holds
 * no '=' (21 bytes), but may hold '+' and '/': percent-encode it in a URL. */
#define AZURE_BLOCK_ID_LEN 28
int azure_block_id(uint32_t nonce, unsigned int part_no, char out[AZURE_BLOCK_ID_LEN + 1]);

/* The Put Block List body committing parts 1..n of the upload with that
 * nonce, each as <Latest> (n == 0: an empty blob). -EINVAL past 99999999. */
int azure_xml_build_block_list(struct buf *out, uint32_t nonce, unsigned int n);

/* RFC 1123 "Wed, 25 Nov 2026 23:15:54 GMT" -> time_t. -EINVAL if bad. */
int azure_parse_rfc1123(const char *s, time_t *out);

/* The same format for x-ms-date: out must hold 30 bytes. */
void azure_format_rfc1123(time_t t, char out[30]);

#endif
