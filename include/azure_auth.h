/*
 * Azure Blob Storage authorization, pure functions (no I/O, no clock):
 *
 *  - Shared Key: the string-to-sign of "Authorize with Shared Key" (Blob
 *    service, x-ms-version 2016-05-31 or later) and the Authorization header
 *    value "SharedKey account:base64(HMAC-SHA256(key, string-to-sign))".
 *  - Service SAS for a container or a blob, signed version AZURE_SAS_VERSION,
 *    and optionally a user delegation SAS (same fields plus the delegation
 *    key's, signed with the delegation key instead of the account key).
 *
 * Keys are given base64-encoded, exactly as the portal or Get User
 * Delegation Key shows them; anything that is not strict base64 is refused.
 * Every function returns 0 or -errno and appends to out only on success.
 */
#ifndef BUCKETFS_AZURE_AUTH_H
#define BUCKETFS_AZURE_AUTH_H

#include <stddef.h>
#include <time.h>

#include "buf.h"

/* The "sv" every SAS made here carries; the string-to-sign follows it. */
#define AZURE_SAS_VERSION "2022-11-02"

struct azure_header {
	const char *name;  /* any case; never NULL or "" */
	const char *value; /* as sent; NULL is the same as "" */
};

/*
 * One request as it goes on the wire. Pass every header that is sent (the
 * signer picks out the eleven standard ones and all x-ms-* ones and ignores
 * the rest, Host and User-Agent say), each name at most once: the service
 * answers 400 to a repeated one, so the signer refuses it.
 *
 *  - Send x-ms-date rather than Date: a Date header, if passed, is signed.
 *  - Content-Length "0" is signed as "" (rule of version 2015-02-21).
 *  - x-ms-* names may only use A-Z a-z 0-9 '-' '_' (metadata names are C#
 *    identifiers). They are sorted as the service sorts them, a culture-aware
 *    order in which '-' only breaks ties and '_' sorts before digits, not by
 *    bytes: x-ms-meta-a_b comes before x-ms-meta-a1.
 *  - x-ms-* values are signed trimmed, with inner runs of blanks (space, tab,
 *    CR, LF) folded to one space outside double-quoted strings, as the doc
 *    says. Azurite does not fold: do not send values with inner runs.
 */
struct azure_request {
	const char *method; /* upper case: "GET", "PUT", ... */
	/*
	 * The URL path exactly as sent (already percent-encoded), without the
	 * query. With a path-style endpoint (azurite, the emulator:
	 * http://127.0.0.1:10000/devstoreaccount1/c/b) the path itself begins
	 * with the account, "/devstoreaccount1/c/b", and the account is given
	 * separately too, so the canonicalized resource names the account twice:
	 * "/devstoreaccount1/devstoreaccount1/c/b". With the usual virtual host
	 * (https://acct.blob.core.windows.net/c/b) the path is "/c/b" and the
	 * resource "/acct/c/b". "" is taken as "/".
	 */
	const char *path;
	/*
	 * The query as sent, without '?'; NULL or "" if none. Names are
	 * lower-cased, names and values percent-decoded ('+' stays '+': send a
	 * space as %20 and a plus as %2B), sorted, repeated names joined
	 * "name:v1,v2" with the values sorted. A parameter with no '=' is
	 * signed as "name:" (azurite drops it: always send "name=value").
	 */
	const char *query;
	const struct azure_header *headers;
	size_t n_headers;
};

/* The Shared Key string-to-sign for r, for storage account 'account'. */
int azure_sharedkey_string_to_sign(const struct azure_request *r, const char *account,
				   struct buf *out);
/* The Authorization header value "SharedKey account:signature", signed with
 * the base64 account key. -EINVAL for bad input, a key that is not base64
 * included. */
int azure_sharedkey_authorization(const struct azure_request *r, const char *account,
				  const char *key, struct buf *out);

/*
 * The delegation key Get User Delegation Key returned, for a user delegation
 * SAS. Strings as the service returned them; they are signed and sent
 * verbatim. Its Value is the key passed to azure_sas_token().
 */
struct azure_udk {
	const char *object_id; /* SignedOid -> skoid */
	const char *tenant_id; /* SignedTid -> sktid */
	const char *start;     /* SignedStart -> skt, "YYYY-MM-DDThh:mm:ssZ" */
	const char *expiry;    /* SignedExpiry -> ske */
	const char *service;   /* SignedService -> sks, "b" */
	const char *version;   /* SignedVersion -> skv */
};

/*
 * A service SAS (udk NULL, signed with the account key) or a user delegation
 * SAS (udk set, signed with the delegation key) for a container (blob NULL,
 * sr=c) or a blob (sr=b). Optional strings are NULL or "" when absent.
 */
struct azure_sas {
	const char *account;
	const char *container;
	const char *blob; /* plain name, NOT percent-encoded: "dir/a b.txt" */
	/* Letters in the order the service documents (e.g. "racwdl"); required
	 * unless identifier names a stored policy that supplies them. */
	const char *permissions;
	time_t start;		      /* st; 0: none (valid from when it arrives) */
	time_t expiry;		      /* se; required unless identifier is set */
	const char *identifier;	      /* si: a stored access policy (not with udk) */
	const char *ip;		      /* sip: "168.1.5.60" or "168.1.5.60-168.1.5.70" */
	const char *protocol;	      /* spr: "https" or "https,http" */
	const char *encryption_scope; /* ses */
	/* Response header overrides rscc, rscd, rsce, rscl, rsct. */
	const char *cache_control;
	const char *content_disposition;
	const char *content_encoding;
	const char *content_language;
	const char *content_type;
	const struct azure_udk *udk;
};

/* The SAS string-to-sign (the fields joined by '\n', no trailing one). */
int azure_sas_string_to_sign(const struct azure_sas *s, struct buf *out);
/*
 * The SAS token, a query string without '?': sv, spr, st, se, sip, si, ses,
 * the udk fields, sr, sp, rscc..rsct, sig, in the Azure SDK's order, each
 * value percent-encoded (sig carries '+', '/', '='). key is the base64
 * account key, or for a user delegation SAS the delegation key's Value.
 */
int azure_sas_token(const struct azure_sas *s, const char *key, struct buf *out);

#endif
