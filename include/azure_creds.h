/*
 * Where Azure Blob credentials come from, first found wins:
 *   -o key_file=FILE     the base64 account key (refused if group/world readable)
 *   a SAS in the SOURCE URL ("https://ACCOUNT.blob.core.windows.net/c?sv=...")
 *   AZURE_STORAGE_CONNECTION_STRING   (AccountName, AccountKey,
 *                        SharedAccessSignature, BlobEndpoint; or
 *                        UseDevelopmentStorage=true for azurite)
 *   AZURE_STORAGE_KEY    the account key
 *   AZURE_STORAGE_SAS_TOKEN
 *   else anonymous (a public container).
 * The account is -o account= (or the URL's), else the connection string's,
 * else AZURE_STORAGE_ACCOUNT. Values are secrets: never logged, zeroed when
 * freed.
 */
#ifndef BUCKETFS_AZURE_CREDS_H
#define BUCKETFS_AZURE_CREDS_H

struct azure_creds {
	char *account;
	char *key;	    /* base64 account key, or NULL */
	char *sas;	    /* SAS query ("sv=...&sig=..."), or NULL */
	char *endpoint;	    /* a connection string's BlobEndpoint, or NULL */
	const char *source; /* static description for logs */
};

struct azure_creds_conf {
	const char *account;  /* -o account= or from the URL; NULL if not given */
	const char *key_file; /* -o key_file= */
	const char *sas;      /* from the SOURCE URL */
};

/* Returns 0 or -errno with a one-line *why for the user. */
int azure_creds_resolve(const struct azure_creds_conf *conf, struct azure_creds *out, char **why);

/* Parse a connection string into out (fields it does not name stay as
 * they are). -EINVAL with *why when malformed. */
int azure_creds_from_connection_string(const char *cs, struct azure_creds *out, char **why);

void azure_creds_clear(struct azure_creds *c);

#endif
