/* Kubernetes API reads over the core's HTTP layer, answers parsed by json-c. */
#include "kube.h"

#include <ctype.h>
#include <errno.h>
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "creds.h"
#include "http.h"

#define KUBE_SA_DIR "/var/run/secrets/kubernetes.io/serviceaccount"

int kube_init(struct kube *k, const char *api, const char *token_file, const char *ca_file,
	      char **why)
{
	struct http_conf conf = {.retries = 3, .connect_timeout = 5, .request_timeout = 10};

	memset(k, 0, sizeof(*k));
	if (api) {
		k->api = strdup(api);
	} else {
		const char *host = getenv("KUBERNETES_SERVICE_HOST");
		const char *port = getenv("KUBERNETES_SERVICE_PORT");

		if (!host || !*host) {
			*why = strdup("not in a cluster (KUBERNETES_SERVICE_HOST is unset) and no "
				      "--kube-api given");
			return -EINVAL;
		}
		/* An IPv6 service address needs brackets in a URL. */
		k->api = str_printf(strchr(host, ':') ? "https://[%s]:%s" : "https://%s:%s", host,
				    port && *port ? port : "443");
	}
	k->token_file = strdup(token_file ? token_file : KUBE_SA_DIR "/token");
	conf.cafile = ca_file ? ca_file : (api ? NULL : KUBE_SA_DIR "/ca.crt");
	k->http = http_create(&conf);
	if (!k->api || !k->token_file || !k->http) {
		kube_free(k);
		return -ENOMEM;
	}
	return 0;
}

void kube_free(struct kube *k)
{
	free(k->api);
	free(k->token_file);
	if (k->http)
		http_destroy(k->http);
	memset(k, 0, sizeof(*k));
}

/* Names are DNS labels or subdomains: nothing that needs escaping in a path. */
static bool kube_name_ok(const char *s)
{
	if (!isalnum((unsigned char)*s) || strlen(s) > 253)
		return false;
	for (; *s; s++)
		if (!islower((unsigned char)*s) && !isdigit((unsigned char)*s) && *s != '-' &&
		    *s != '.')
			return false;
	return true;
}

struct kube_auth {
	char *header; /* "Authorization: Bearer ..." */
};

static int kube_headers(void *ctx, struct curl_slist **headers)
{
	struct kube_auth *a = ctx;
	struct curl_slist *l = curl_slist_append(*headers, "Accept: application/json");

	if (l && a->header)
		l = curl_slist_append(l, a->header);
	if (!l)
		return -ENOMEM;
	*headers = l;
	return 0;
}

/* GET a path of the API and parse the JSON answer. */
static int kube_get(struct kube *k, const char *path, struct json_object **out, char **why)
{
	struct kube_auth auth = {0};
	struct http_response resp = {0};
	struct http_request req = {.method = "GET", .build_headers = kube_headers, .ctx = &auth};
	char *url = NULL, *token = NULL, *tok_why = NULL;
	int rc;

	rc = creds_read_secret_file(k->token_file, "service-account token", false, &token,
				    &tok_why);
	free(tok_why);
	if (rc) {
		*why = str_printf("cannot read the service-account token %s: %s", k->token_file,
				  strerror(-rc));
		return rc;
	}
	token[strcspn(token, "\r\n")] = '\0';
	auth.header = str_printf("Authorization: Bearer %s", token);
	explicit_bzero(token, strlen(token));
	free(token);
	if (!auth.header || !(url = str_printf("%s%s", k->api, path))) {
		rc = -ENOMEM;
		goto out;
	}
	req.url = url;
	rc = http_execute(k->http, &req, &resp);
	if (rc == 0 && resp.status == 404) {
		rc = -ENOENT;
	} else if (rc == 0 && resp.status != 200) {
		rc = resp.status == 401 || resp.status == 403 ? -EACCES : -EIO;
		*why = str_printf("Kubernetes API answered %ld to GET %s", resp.status, path);
	} else if (rc) {
		*why = str_printf("cannot reach the Kubernetes API at %s: %s", k->api,
				  resp.error[0] ? resp.error : strerror(-rc));
	} else if (!(*out = json_tokener_parse(resp.body.data ? resp.body.data : ""))) {
		rc = -EPROTO;
		*why = str_printf("Kubernetes API: GET %s: answer is not JSON", path);
	}
out:
	if (auth.header) {
		explicit_bzero(auth.header, strlen(auth.header));
		free(auth.header);
	}
	free(url);
	http_response_free(&resp);
	return rc;
}

/* obj.a.b[key] as a string, or NULL. */
static const char *kube_string_at(struct json_object *obj, const char *a, const char *b,
				  const char *key)
{
	struct json_object *x;

	if ((a && !json_object_object_get_ex(obj, a, &obj)) ||
	    (b && !json_object_object_get_ex(obj, b, &obj)) ||
	    !json_object_object_get_ex(obj, key, &x) || !json_object_is_type(x, json_type_string))
		return NULL;
	return json_object_get_string(x);
}

static int kube_read_value(struct kube *k, const char *kind, const char *ns, const char *name,
			   const char *a, const char *b, const char *key, char **value, char **why)
{
	struct json_object *obj = NULL;
	char *path = NULL;
	const char *v;
	int rc;

	*value = NULL;
	if (!kube_name_ok(ns) || !kube_name_ok(name)) {
		*why = str_printf("invalid %s name %s/%s", kind, ns, name);
		return -EINVAL;
	}
	if (!(path = str_printf("/api/v1/namespaces/%s/%ss/%s", ns, kind, name)))
		return -ENOMEM;
	rc = kube_get(k, path, &obj, why);
	free(path);
	if (rc == -ENOENT)
		*why = str_printf("no %s %s/%s", kind, ns, name);
	if (rc)
		return rc;
	v = kube_string_at(obj, a, b, key);
	if (v && !(*value = strdup(v)))
		rc = -ENOMEM;
	json_object_put(obj);
	return rc;
}

int kube_pod_label(struct kube *k, const char *ns, const char *name, const char *key, char **value,
		   char **why)
{
	return kube_read_value(k, "pod", ns, name, "metadata", "labels", key, value, why);
}

int kube_configmap_value(struct kube *k, const char *ns, const char *name, const char *key,
			 char **value, char **why)
{
	int rc = kube_read_value(k, "configmap", ns, name, NULL, "data", key, value, why);

	if (!rc && !*value) {
		*why = str_printf("configmap %s/%s has no key %s", ns, name, key);
		rc = -ENOENT;
	}
	return rc;
}
