/* The Azure Blob Storage backend of the store interface (block blobs). */
#ifndef BUCKETFS_AZURE_H
#define BUCKETFS_AZURE_H

#include <stdbool.h>

#include "azure_token.h"
#include "http.h"
#include "store.h"

/* The x-ms-version every request carries (bearer tokens need 2017-11-09 or
 * later). */
#define AZURE_API_VERSION "2021-08-06"

struct azure_conf {
	const char *account; /* storage account; required unless endpoint is set
				and no key is given */
	const char *container;
	/*
	 * "scheme://host[:port][/path]"; NULL: https://ACCOUNT.blob.core.windows.net.
	 * A path is kept in front of every request path, as azurite's
	 * path-style http://127.0.0.1:10000/devstoreaccount1 needs.
	 */
	const char *endpoint;
	/* Authorization, one at most: the base64 account key (Shared Key), a
	 * SAS token ("sv=...&sig=...", a leading '?' is ignored) appended to
	 * every request, or Microsoft Entra ID bearer tokens from the source
	 * entra describes (kind AZURE_TOKEN_NONE or NULL: none); none of them:
	 * anonymous, for a public container. */
	const char *key;
	const char *sas;
	const struct azure_token_conf *entra;
	struct http_conf http; /* cafile, no_verify_ssl, retries, timeouts */
};

/* Returns a store, or NULL with a one-line *why (owned by the caller). All
 * strings of conf are copied. Nothing is sent: probe gets the first token
 * and checks access. */
struct store *azure_store_create(const struct azure_conf *conf, char **why);

#endif
