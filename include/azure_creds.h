/*
 * Where Azure Blob credentials come from, first found wins:
 *   -o key_file=FILE     the base64 account key (refused if group/world readable)
 *   a SAS in the SOURCE URL ("https://ACCOUNT.blob.core.windows.net/c?sv=...")
 *   AZURE_STORAGE_CONNECTION_STRING   (AccountName, AccountKey,
 *                        SharedAccessSignature, BlobEndpoint; or
 *                        UseDevelopmentStorage=true for azurite)
 *   AZURE_STORAGE_KEY    the account key
 *   AZURE_STORAGE_SAS_TOKEN
 *   Microsoft Entra ID bearer tokens (azure_token.h), unless azure_identity=none:
 *     workload identity  AZURE_CLIENT_ID, AZURE_TENANT_ID and
 *                        AZURE_FEDERATED_TOKEN_FILE (AKS sets them)
 *     service principal  AZURE_CLIENT_ID, AZURE_TENANT_ID, AZURE_CLIENT_SECRET
 *     (both at AZURE_AUTHORITY_HOST, default login.microsoftonline.com)
 *     managed identity   only with azure_identity=msi: the instance metadata
 *                        endpoint (AZURE_POD_IDENTITY_AUTHORITY_HOST, default
 *                        169.254.169.254), user-assigned if AZURE_CLIENT_ID
 *   else anonymous (a public container).
 * Managed identity is never tried unasked: off Azure, 169.254.169.254 does
 * not answer, and a mount that needs no token would wait for the connect
 * timeout. Half the variables of the first two (a secret without a tenant)
 * is an error rather than a silent anonymous mount.
 * The account is -o account= (or the URL's), else the connection string's,
 * else AZURE_STORAGE_ACCOUNT. Values are secrets: never logged, zeroed when
 * freed.
 */
#ifndef BUCKETFS_AZURE_CREDS_H
#define BUCKETFS_AZURE_CREDS_H

#include "azure_token.h"

/* Whether Entra ID tokens may be used (-o azure_identity=). */
enum azure_identity {
	AZURE_IDENTITY_AUTO = 0, /* workload identity or service principal if set up */
	AZURE_IDENTITY_MSI,	 /* those, else managed identity */
	AZURE_IDENTITY_NONE,	 /* never */
};

struct azure_creds {
	char *account;
	char *key;	    /* base64 account key, or NULL */
	char *sas;	    /* SAS query ("sv=...&sig=..."), or NULL */
	char *endpoint;	    /* a connection string's BlobEndpoint, or NULL */
	const char *source; /* static description for logs */
	/* Entra ID (kind AZURE_TOKEN_NONE: not used); NULL when not set. */
	enum azure_token_kind entra;
	char *client_id;
	char *tenant_id;
	char *client_secret;
	char *token_file;
	char *authority; /* AZURE_AUTHORITY_HOST */
	char *imds;	 /* AZURE_POD_IDENTITY_AUTHORITY_HOST */
};

struct azure_creds_conf {
	const char *account;  /* -o account= or from the URL; NULL if not given */
	const char *key_file; /* -o key_file= */
	const char *sas;      /* from the SOURCE URL */
	enum azure_identity identity;
};

/* The provider configuration for c's Entra ID source (c->entra set). */
void azure_creds_token_conf(const struct azure_creds *c, const struct http_conf *http,
			    struct azure_token_conf *out);

/* Returns 0 or -errno with a one-line *why for the user. */
int azure_creds_resolve(const struct azure_creds_conf *conf, struct azure_creds *out, char **why);

/* Parse a connection string into out (fields it does not name stay as
 * they are). -EINVAL with *why when malformed. */
int azure_creds_from_connection_string(const char *cs, struct azure_creds *out, char **why);

void azure_creds_clear(struct azure_creds *c);

#endif
