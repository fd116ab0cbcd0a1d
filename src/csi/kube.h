/*
 * The few Kubernetes API reads the plugin needs: a pod's label and a
 * ConfigMap's key, with the plugin's service-account token (re-read on
 * every call, since projected tokens rotate).
 */
#ifndef BUCKETFS_CSI_KUBE_H
#define BUCKETFS_CSI_KUBE_H

struct http;

struct kube {
	char *api;	  /* "https://10.0.0.1:443" */
	char *token_file; /* bearer token, re-read per call */
	struct http *http;
};

/* In-cluster defaults (KUBERNETES_SERVICE_HOST/PORT, the service-account
 * token and CA), each overridable; NULL arguments take the default. */
int kube_init(struct kube *k, const char *api, const char *token_file, const char *ca_file,
	      char **why);
void kube_free(struct kube *k);

/* The value of label KEY on pod NS/NAME: 0 with *value NULL when the pod has
 * no such label; -ENOENT for no such pod; another -errno with *why. */
int kube_pod_label(struct kube *k, const char *ns, const char *name, const char *key, char **value,
		   char **why);

/* The text under KEY in ConfigMap NS/NAME's data. */
int kube_configmap_value(struct kube *k, const char *ns, const char *name, const char *key,
			 char **value, char **why);

#endif
