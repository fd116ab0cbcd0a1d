/* Azure Blob credentials (see azure_creds.h). */
#include "azure_creds.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "creds.h"

/* azurite's documented development account: public by design. */
#define DEV_ACCOUNT "devstoreaccount1"
#define DEV_KEY \
	"Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="
#define DEV_ENDPOINT "http://127.0.0.1:10000/devstoreaccount1"

static void zfree(char **p)
{
	if (*p) {
		explicit_bzero(*p, strlen(*p));
		free(*p);
		*p = NULL;
	}
}

void azure_creds_clear(struct azure_creds *c)
{
	zfree(&c->account);
	zfree(&c->key);
	zfree(&c->sas);
	zfree(&c->endpoint);
	zfree(&c->client_id);
	zfree(&c->tenant_id);
	zfree(&c->client_secret);
	zfree(&c->token_file);
	zfree(&c->authority);
	zfree(&c->imds);
	c->entra = AZURE_TOKEN_NONE;
	c->source = NULL;
}

/* Replace *slot with a copy of v[0..n). */
static int set(char **slot, const char *v, size_t n)
{
	char *copy = strndup(v, n);

	if (!copy)
		return -ENOMEM;
	zfree(slot);
	*slot = copy;
	return 0;
}

static char *trimmed(const char *s, size_t *len)
{
	size_t n = strlen(s);

	while (n && isspace((unsigned char)*s)) {
		s++;
		n--;
	}
	while (n && isspace((unsigned char)s[n - 1]))
		n--;
	*len = n;
	return (char *)s;
}

int azure_creds_from_connection_string(const char *cs, struct azure_creds *out, char **why)
{
	const char *p = cs;
	int rc = 0;

	while (*p && !rc) {
		const char *end = strchrnul(p, ';'), *eq = memchr(p, '=', (size_t)(end - p));
		size_t nlen, vlen;

		if (end == p) {
			p++;
			continue;
		}
		if (!eq) {
			*why = strdup("AZURE_STORAGE_CONNECTION_STRING: a part is not NAME=VALUE");
			return -EINVAL;
		}
		nlen = (size_t)(eq - p);
		vlen = (size_t)(end - eq - 1);
#define IS(name) (nlen == strlen(name) && !strncasecmp(p, name, nlen))
		if (IS("AccountName"))
			rc = set(&out->account, eq + 1, vlen);
		else if (IS("AccountKey"))
			rc = set(&out->key, eq + 1, vlen);
		else if (IS("SharedAccessSignature"))
			rc = set(&out->sas, eq + 1, vlen);
		else if (IS("BlobEndpoint"))
			rc = set(&out->endpoint, eq + 1, vlen);
		else if (IS("UseDevelopmentStorage") && vlen == 4 &&
			 !strncasecmp(eq + 1, "true", 4))
			rc = set(&out->account, DEV_ACCOUNT, strlen(DEV_ACCOUNT)) ?:
			     set(&out->key, DEV_KEY, strlen(DEV_KEY)) ?:
			     set(&out->endpoint, DEV_ENDPOINT, strlen(DEV_ENDPOINT));
#undef IS
		/* Other parts (EndpointSuffix, DefaultEndpointsProtocol, other
		 * services' endpoints) do not concern blobs here. */
		p = *end ? end + 1 : end;
	}
	return rc;
}

/* The key in a key file: its first line, trimmed. */
static int key_from_file(const char *path, struct azure_creds *out, char **why)
{
	char *text = NULL, *k;
	size_t len;
	int rc = creds_read_secret_file(path, "key file", true, &text, why);

	if (rc == -ENOENT && !*why && asprintf(why, "key file %s does not exist", path) < 0)
		*why = NULL;
	if (rc)
		return rc;
	text[strcspn(text, "\r\n")] = '\0';
	k = trimmed(text, &len);
	if (!len) {
		if (asprintf(why, "key file %s is empty", path) < 0)
			*why = NULL;
		rc = -EINVAL;
	} else {
		rc = set(&out->key, k, len);
	}
	explicit_bzero(text, strlen(text));
	free(text);
	return rc;
}

static const char *env(const char *name)
{
	const char *v = getenv(name);

	return v && *v ? v : NULL;
}

static int set_env(char **slot, const char *name)
{
	const char *v = env(name);

	return v ? set(slot, v, strlen(v)) : 0;
}

/*
 * Entra ID from the environment, in the order of azure_creds.h. Sets
 * out->entra (or leaves it AZURE_TOKEN_NONE for anonymous access).
 */
static int entra_from_env(enum azure_identity identity, struct azure_creds *out, char **why)
{
	bool id = env("AZURE_CLIENT_ID"), tenant = env("AZURE_TENANT_ID");
	bool file = env("AZURE_FEDERATED_TOKEN_FILE"), secret = env("AZURE_CLIENT_SECRET");
	int rc;

	if (identity == AZURE_IDENTITY_NONE)
		return 0;
	if (id && tenant && file) {
		out->entra = AZURE_TOKEN_WORKLOAD_IDENTITY;
		out->source = "workload identity (AZURE_FEDERATED_TOKEN_FILE)";
	} else if (id && tenant && secret) {
		out->entra = AZURE_TOKEN_CLIENT_SECRET;
		out->source = "service principal (AZURE_CLIENT_SECRET)";
	} else if ((file || secret) && identity != AZURE_IDENTITY_MSI) {
		/* Half set up: say so, rather than mount anonymously. */
		if (asprintf(why, "%s is set but %s is not",
			     file ? "AZURE_FEDERATED_TOKEN_FILE" : "AZURE_CLIENT_SECRET",
			     id ? "AZURE_TENANT_ID" : "AZURE_CLIENT_ID") < 0)
			*why = NULL;
		return -EINVAL;
	} else if (identity == AZURE_IDENTITY_MSI) {
		out->entra = AZURE_TOKEN_MANAGED_IDENTITY;
		out->source = "managed identity (azure_identity=msi)";
	} else {
		return 0;
	}
	rc = set_env(&out->client_id, "AZURE_CLIENT_ID");
	if (rc || out->entra == AZURE_TOKEN_MANAGED_IDENTITY)
		return rc ?: set_env(&out->imds, "AZURE_POD_IDENTITY_AUTHORITY_HOST");
	rc = set_env(&out->tenant_id, "AZURE_TENANT_ID");
	if (!rc)
		rc = set_env(&out->authority, "AZURE_AUTHORITY_HOST");
	if (!rc && out->entra == AZURE_TOKEN_WORKLOAD_IDENTITY)
		rc = set_env(&out->token_file, "AZURE_FEDERATED_TOKEN_FILE");
	else if (!rc)
		rc = set_env(&out->client_secret, "AZURE_CLIENT_SECRET");
	return rc;
}

void azure_creds_token_conf(const struct azure_creds *c, const struct http_conf *http,
			    struct azure_token_conf *out)
{
	*out = (struct azure_token_conf){
		.kind = c->entra,
		.client_id = c->client_id,
		.tenant_id = c->tenant_id,
		.client_secret = c->client_secret,
		.token_file = c->token_file,
		.authority = c->authority,
		.imds = c->imds,
		.http = *http,
	};
}

int azure_creds_resolve(const struct azure_creds_conf *conf, struct azure_creds *out, char **why)
{
	const char *cs = env("AZURE_STORAGE_CONNECTION_STRING"), *v;
	int rc = 0;

	memset(out, 0, sizeof(*out));
	if (conf->key_file) {
		rc = key_from_file(conf->key_file, out, why);
		out->source = "key_file";
	} else if (conf->sas) {
		rc = set(&out->sas, conf->sas, strlen(conf->sas));
		out->source = "the SAS in SOURCE";
	} else if (cs) {
		rc = azure_creds_from_connection_string(cs, out, why);
		out->source = "AZURE_STORAGE_CONNECTION_STRING";
	} else if ((v = env("AZURE_STORAGE_KEY"))) {
		rc = set(&out->key, v, strlen(v));
		out->source = "AZURE_STORAGE_KEY";
	} else if ((v = env("AZURE_STORAGE_SAS_TOKEN"))) {
		rc = set(&out->sas, v[0] == '?' ? v + 1 : v, strlen(v[0] == '?' ? v + 1 : v));
		out->source = "AZURE_STORAGE_SAS_TOKEN";
	} else {
		out->source = "nowhere (anonymous)";
		rc = entra_from_env(conf->identity, out, why);
	}
	/* The account said on the command line wins over the environment's. */
	if (!rc && conf->account)
		rc = set(&out->account, conf->account, strlen(conf->account));
	if (!rc && !out->account && (v = env("AZURE_STORAGE_ACCOUNT")))
		rc = set(&out->account, v, strlen(v));
	if (rc) {
		if (!*why && rc == -ENOMEM)
			*why = strdup("out of memory");
		azure_creds_clear(out);
	}
	return rc;
}
