/*
 * The store the options name, with its credentials (see store_open.h).
 */
#include "store_open.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "aws_creds.h"
#include "azure.h"
#include "azure_creds.h"
#include "log.h"
#include "s3.h"

void store_open_http_conf(const struct bfs_options *opts, struct http_conf *out)
{
	*out = (struct http_conf){.cafile = opts->cafile,
				  .no_verify_ssl = opts->no_verify_ssl,
				  .retries = opts->retries,
				  .connect_timeout = opts->connect_timeout,
				  .request_timeout = opts->request_timeout};
}

/* The S3 store for opts, and *id naming it in staging journals. */
static struct store *s3_store(const struct bfs_options *opts, const struct http_conf *http,
			      char **id, char **why)
{
	struct aws_creds_conf cconf = {.pin = (enum aws_creds_pin)opts->creds_pin,
				       .passwd_file = opts->passwd_file,
				       .profile = opts->profile,
				       .bucket = opts->bucket,
				       .region = opts->region,
				       .http = *http};
	struct s3_conf sconf = {.endpoint = opts->endpoint,
				.region = opts->region,
				.bucket = opts->bucket,
				.path_style = opts->path_style != 0,
				.http = *http,
				.requester_pays = opts->requester_pays,
				.sse = opts->sse,
				.sse_kms_key_id = opts->sse_kms_key_id,
				.sse_c_key_file = opts->sse_c_key_file,
				.storage_class = opts->storage_class};
	struct creds c = {0};
	struct store *store;
	char *what = NULL, shown[32];
	uint64_t gen;

	if (aws_creds_resolve(&cconf, &sconf.creds, &what, why))
		return NULL;
	if (sconf.creds && aws_creds_get(sconf.creds, &c, &gen))
		memset(&c, 0, sizeof(c));
	log_info("credentials from %s%s%s", what, c.access_key ? ", access key id " : "",
		 c.access_key ? creds_key_id_shown(c.access_key, shown) : "");
	creds_clear(&c);
	free(what);
	store = s3_store_create(&sconf, why);
	if (store &&
	    asprintf(id, "s3 %s %s", opts->endpoint ? opts->endpoint : "aws", opts->bucket) < 0) {
		store->ops->destroy(store);
		*why = strdup("out of memory");
		return NULL;
	}
	return store;
}

/* The Azure Blob store for opts, and *id naming it in staging journals. */
static struct store *azure_store(const struct bfs_options *opts, const struct http_conf *http,
				 char **id, char **why)
{
	struct azure_creds_conf cconf = {
		.account = opts->account, .key_file = opts->key_file, .sas = opts->sas};
	struct azure_conf aconf = {.container = opts->bucket, .http = *http};
	struct azure_token_conf tconf;
	struct azure_creds creds;
	struct store *store = NULL;

	if (opts->azure_identity == BFS_AZURE_IDENTITY_MSI)
		cconf.identity = AZURE_IDENTITY_MSI;
	else if (opts->azure_identity == BFS_AZURE_IDENTITY_NONE)
		cconf.identity = AZURE_IDENTITY_NONE;
	if (azure_creds_resolve(&cconf, &creds, why))
		return NULL;
	log_info("Azure credentials from %s%s%s", creds.source, creds.account ? ", account " : "",
		 creds.account ? creds.account : "");
	aconf.account = creds.account;
	aconf.endpoint = opts->endpoint ? opts->endpoint : creds.endpoint;
	aconf.key = creds.key;
	aconf.sas = creds.sas;
	if (creds.entra != AZURE_TOKEN_NONE) {
		azure_creds_token_conf(&creds, http, &tconf);
		aconf.entra = &tconf;
	}
	if (!aconf.account && !aconf.endpoint)
		*why = strdup("no storage account: give -o account=NAME or set "
			      "AZURE_STORAGE_ACCOUNT");
	else
		store = azure_store_create(&aconf, why);
	if (store && asprintf(id, "az %s %s %s", aconf.endpoint ? aconf.endpoint : "azure",
			      aconf.account ? aconf.account : "", opts->bucket) < 0) {
		store->ops->destroy(store);
		store = NULL;
		*why = strdup("out of memory");
	}
	azure_creds_clear(&creds);
	return store;
}

struct store *store_open(const struct bfs_options *opts, const struct http_conf *http, char **id,
			 char **why)
{
	return opts->backend == BFS_BACKEND_AZURE ? azure_store(opts, http, id, why)
						  : s3_store(opts, http, id, why);
}
