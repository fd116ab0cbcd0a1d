/*
 * The CSI services: Identity, Node, and ControllerGetCapabilities (none).
 * Publish and unpublish decode, check, decide by classification, mount or
 * unmount, and record.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "buf.h"
#include "catalog.h"
#include "config.h"
#include "csi.pb-c.h"
#include "log.h"
#include "mounts.h"
#include "plugin.h"

/* Every protobuf-c map entry has this shape. */
struct node_map_entry {
	ProtobufCMessage base;
	char *key;
	char *value;
};

static const char *node_map_get(void *entries, size_t n, const char *key)
{
	struct node_map_entry **e = entries;

	for (size_t i = 0; i < n; i++)
		if (e[i]->key && !strcmp(e[i]->key, key))
			return e[i]->value;
	return NULL;
}

static enum grpc_status node_pack(const ProtobufCMessage *m, struct buf *out)
{
	size_t n = protobuf_c_message_get_packed_size(m);
	uint8_t *tmp = malloc(n ? n : 1);

	if (!tmp)
		return GRPC_RESOURCE_EXHAUSTED;
	protobuf_c_message_pack(m, tmp);
	int rc = n ? buf_append(out, tmp, n) : 0;

	free(tmp);
	return rc ? GRPC_RESOURCE_EXHAUSTED : GRPC_OK;
}

static enum grpc_status node_fail(char **msg, enum grpc_status code, char *why)
{
	*msg = why;
	return code;
}

/* ---- Identity ---- */

static enum grpc_status node_plugin_info(void *ctx, const uint8_t *req, size_t len,
					 struct buf *resp, char **msg)
{
	struct plugin *p = ctx;
	Csi__V1__GetPluginInfoResponse r = CSI__V1__GET_PLUGIN_INFO_RESPONSE__INIT;

	(void)req;
	(void)len;
	(void)msg;
	r.name = (char *)p->driver_name;
	r.vendor_version = PACKAGE_VERSION;
	return node_pack(&r.base, resp);
}

/* Empty answers: no capabilities (node-only plugin), Node capabilities none
 * (no staging), Controller none. */
static enum grpc_status node_empty_caps(void *ctx, const uint8_t *req, size_t len, struct buf *resp,
					char **msg)
{
	(void)ctx;
	(void)req;
	(void)len;
	(void)resp;
	(void)msg;
	return GRPC_OK; /* every field empty: zero bytes on the wire */
}

static enum grpc_status node_probe(void *ctx, const uint8_t *req, size_t len, struct buf *resp,
				   char **msg)
{
	Csi__V1__ProbeResponse r = CSI__V1__PROBE_RESPONSE__INIT;
	Csi__V1__BoolValue ready = CSI__V1__BOOL_VALUE__INIT;

	(void)ctx;
	(void)req;
	(void)len;
	(void)msg;
	ready.value = 1;
	r.ready = &ready;
	return node_pack(&r.base, resp);
}

static enum grpc_status node_get_info(void *ctx, const uint8_t *req, size_t len, struct buf *resp,
				      char **msg)
{
	struct plugin *p = ctx;
	Csi__V1__NodeGetInfoResponse r = CSI__V1__NODE_GET_INFO_RESPONSE__INIT;

	(void)req;
	(void)len;
	(void)msg;
	r.node_id = (char *)p->node_id;
	return node_pack(&r.base, resp);
}

/* ---- NodePublishVolume ---- */

struct node_publish {
	struct plugin *p;
	Csi__V1__NodePublishVolumeRequest *req;
	struct volrec rec;
	int pod_rank;
};

static const char *node_ctx(const struct node_publish *np, const char *key)
{
	return node_map_get(np->req->volume_context, np->req->n_volume_context, key);
}

static enum grpc_status node_check_request(const Csi__V1__NodePublishVolumeRequest *r, char **msg)
{
	if (!r->volume_id || !*r->volume_id)
		return node_fail(msg, GRPC_INVALID_ARGUMENT, strdup("volume_id is required"));
	if (!r->target_path || r->target_path[0] != '/')
		return node_fail(msg, GRPC_INVALID_ARGUMENT,
				 strdup("target_path is required and must be absolute"));
	if (!r->volume_capability || !r->volume_capability->access_mode)
		return node_fail(msg, GRPC_INVALID_ARGUMENT,
				 strdup("volume_capability with an access_mode is required"));
	if (r->volume_capability->access_type_case != CSI__V1__VOLUME_CAPABILITY__ACCESS_TYPE_MOUNT)
		return node_fail(msg, GRPC_INVALID_ARGUMENT,
				 strdup("only mount volumes are supported (no block access)"));
	return GRPC_OK;
}

/* The pod's level from its label; absent means the lowest level. */
static enum grpc_status node_pod_level(struct node_publish *np, char **msg)
{
	struct plugin *p = np->p;
	const char *ns = node_ctx(np, "csi.storage.k8s.io/pod.namespace");
	const char *pod = node_ctx(np, "csi.storage.k8s.io/pod.name");
	char *label = NULL, *why = NULL;
	int rc;

	if (!ns || !pod)
		return node_fail(msg, GRPC_FAILED_PRECONDITION,
				 strdup("no pod name or namespace in volume_context: set "
					"podInfoOnMount: true in the CSIDriver object"));
	rc = kube_pod_label(&p->kube, ns, pod, p->label_key, &label, &why);
	if (rc) {
		log_err("csi: volume %s: cannot learn the level of pod %s/%s: %s: refused",
			np->req->volume_id, ns, pod, why ? why : strerror(-rc));
		*msg = str_printf("cannot learn the classification of pod %s/%s: %s", ns, pod,
				  why ? why : strerror(-rc));
		free(why);
		return GRPC_UNAVAILABLE;
	}
	free(why);
	np->rec.pod_namespace = strdup(ns);
	np->rec.pod_name = strdup(pod);
	np->rec.pod_level = strdup(label ? label : p->levels.names[0]);
	free(label);
	np->pod_rank = levels_rank(&p->levels, np->rec.pod_level);
	if (np->pod_rank < 0) {
		log_err("csi: volume %s: pod %s/%s has %s=%s, not a configured level: refused",
			np->req->volume_id, ns, pod, p->label_key, np->rec.pod_level);
		return node_fail(msg, GRPC_PERMISSION_DENIED,
				 str_printf("pod %s/%s has %s=%s, which is not a configured level",
					    ns, pod, p->label_key, np->rec.pod_level));
	}
	return GRPC_OK;
}

/* Secrets become the daemon's environment: only its variables. */
static enum grpc_status node_secrets(struct node_publish *np, char **msg)
{
	Csi__V1__NodePublishVolumeRequest *r = np->req;

	np->rec.secrets = calloc(r->n_secrets ? r->n_secrets : 1, sizeof(*np->rec.secrets));
	if (!np->rec.secrets)
		return GRPC_RESOURCE_EXHAUSTED;
	for (size_t i = 0; i < r->n_secrets; i++) {
		const char *k = r->secrets[i]->key, *v = r->secrets[i]->value;

		if (!k || !plugin_secret_key_ok(k))
			return node_fail(msg, GRPC_INVALID_ARGUMENT,
					 str_printf("unknown secret key %s (expected the "
						    "daemon's variables, e.g. AWS_ACCESS_KEY_ID)",
						    k ? k : ""));
		np->rec.secrets[i].key = strdup(k);
		np->rec.secrets[i].value = strdup(v ? v : "");
		np->rec.n_secrets++;
	}
	return GRPC_OK;
}

/* SOURCE, with volume_context's "prefix" as a path below it. */
static char *node_source(const char *source, const char *prefix)
{
	size_t n = strlen(source);

	while (prefix && *prefix == '/')
		prefix++;
	if (!prefix || !*prefix)
		return strdup(source);
	while (n && source[n - 1] == '/')
		n--;
	return str_printf("%.*s/%s", (int)n, source, prefix);
}

/* The -o list: ours (access, allow_other) then the volume's, where ro/rw
 * of the volume's own are dropped so ours cannot be overridden. */
static char *node_options(struct node_publish *np)
{
	struct buf b;
	const char *extra = node_ctx(np, "options"), *endpoint = node_ctx(np, "endpoint");
	const char *region = node_ctx(np, "region");
	int rc;

	buf_init(&b, 8192);
	rc = buf_printf(&b, "%s,allow_other", np->rec.read_only ? "ro" : "rw");
	if (!rc && endpoint)
		rc = buf_printf(&b, ",endpoint=%s", endpoint);
	if (!rc && region)
		rc = buf_printf(&b, ",region=%s", region);
	if (!rc && extra) {
		char *copy = strdup(extra), *save = NULL;

		for (char *o = copy ? strtok_r(copy, ",", &save) : NULL; o && !rc;
		     o = strtok_r(NULL, ",", &save))
			if (strcmp(o, "ro") && strcmp(o, "rw"))
				rc = buf_printf(&b, ",%s", o);
		free(copy);
	}
	if (rc) {
		buf_free(&b);
		return NULL;
	}
	return buf_steal(&b);
}

/* Mount what the record says at its target, or roll back. */
static enum grpc_status node_mount(struct node_publish *np, char **msg)
{
	struct plugin *p = np->p;
	struct volrec *r = &np->rec;
	bool made = !mkdir(r->target_path, 0750);
	char *why = NULL;
	int rc;

	if (!made && errno != EEXIST)
		return node_fail(
			msg, GRPC_INTERNAL,
			str_printf("cannot create %s: %s", r->target_path, strerror(errno)));
	/* Record first: a plugin killed mid-mount finds and heals it. */
	rc = volstate_save(p->state_dir, r, &why);
	if (!rc)
		rc = r->catalog ? catalog_mount(p, r, &why)
				: plugin_mount_bucket(p, r->source, r->target_path, r->options,
						      r->secrets, r->n_secrets, &why);
	if (!rc)
		return GRPC_OK;
	if (r->catalog) {
		char *ignored = NULL;

		catalog_unmount(p, r, &ignored);
		free(ignored);
	}
	volstate_remove(p->state_dir, r->target_path);
	if (made)
		rmdir(r->target_path);
	log_err("csi: volume %s: mount at %s failed: %s", r->volume_id, r->target_path,
		why ? why : "unknown error");
	return node_fail(msg, GRPC_INTERNAL, why ? why : strdup("mount failed"));
}

/* Idempotency (CSI: same target, same arguments: OK; different: ALREADY_EXISTS),
 * healing a stale mount on the way. */
static enum grpc_status node_existing(struct node_publish *np, bool *done, char **msg)
{
	struct plugin *p = np->p;
	struct volrec old = {0};
	char *why = NULL;
	int rc = volstate_load(p->state_dir, np->rec.target_path, &old, &why);

	*done = false;
	if (rc == -ENOENT) {
		free(why);
		if (mounts_is_mounted(np->rec.target_path))
			return node_fail(msg, GRPC_ALREADY_EXISTS,
					 str_printf("%s is already a mount point of something else",
						    np->rec.target_path));
		return GRPC_OK;
	}
	if (rc)
		return node_fail(msg, GRPC_INTERNAL, why);
	if (!volrec_same(&old, &np->rec)) {
		volrec_free(&old);
		return node_fail(msg, GRPC_ALREADY_EXISTS,
				 str_printf("volume %s is already published at %s with other "
					    "parameters",
					    np->rec.volume_id, np->rec.target_path));
	}
	volrec_free(&old);
	/* Republish (requiresRepublish): fresh secrets kept for healing. */
	if ((rc = volstate_save(p->state_dir, &np->rec, &why)))
		return node_fail(msg, GRPC_INTERNAL, why);
	*done = true;
	if (plugin_heal(p, &np->rec, &why))
		return node_fail(msg, GRPC_INTERNAL, why ? why : strdup("cannot heal the mount"));
	return GRPC_OK;
}

static enum grpc_status node_publish_volume(struct node_publish *np, char **msg)
{
	struct plugin *p = np->p;
	Csi__V1__NodePublishVolumeRequest *r = np->req;
	const char *catalog = node_ctx(np, "catalog"), *source = node_ctx(np, "source");
	const char *ephemeral = node_ctx(np, "csi.storage.k8s.io/ephemeral");
	enum grpc_status st;
	bool done;

	if (!catalog && !source)
		return node_fail(
			msg, GRPC_INVALID_ARGUMENT,
			strdup("volume_context needs \"source\" (a bucket) or \"catalog\""));
	/* A pod spec cannot vouch for a bucket's classification: inline
	 * volumes may only name an administrator's catalog. */
	if (!catalog && ephemeral && !strcmp(ephemeral, "true"))
		return node_fail(msg, GRPC_PERMISSION_DENIED,
				 strdup("inline (ephemeral) volumes must name a catalog"));
	np->rec.volume_id = strdup(r->volume_id);
	np->rec.target_path = strdup(r->target_path);
	if ((st = node_pod_level(np, msg)) || (st = node_secrets(np, msg)))
		return st;
	np->rec.read_only =
		r->readonly || policy_mode_read_only((int)r->volume_capability->access_mode->mode);
	if (catalog) {
		bool known = false;

		for (size_t i = 0; i < p->n_catalogs; i++)
			known = known || !strcmp(p->catalogs[i].name, catalog);
		if (!known)
			return node_fail(msg, GRPC_INVALID_ARGUMENT,
					 str_printf("no catalog named %s is configured", catalog));
		np->rec.catalog = strdup(catalog);
		np->rec.volume_level = strdup(np->rec.pod_level);
		log_notice("csi: volume %s pod %s/%s (%s): catalog %s at %s%s", r->volume_id,
			   np->rec.pod_namespace, np->rec.pod_name, np->rec.pod_level, catalog,
			   r->target_path, np->rec.read_only ? ", read-only" : "");
	} else {
		const char *level = node_ctx(np, "classification");
		int rank = level ? levels_rank(&p->levels, level) : -1;
		enum policy_access a;

		if (rank < 0)
			return node_fail(msg, GRPC_INVALID_ARGUMENT,
					 str_printf("volume_context \"classification\" %s%s is not "
						    "a configured level",
						    level ? "=" : "is missing",
						    level ? level : ""));
		a = policy_decide(np->pod_rank, rank);
		log_notice("csi: volume %s pod %s/%s (%s) volume (%s): %s", r->volume_id,
			   np->rec.pod_namespace, np->rec.pod_name, np->rec.pod_level, level,
			   policy_describe(a));
		if (a == POLICY_DENY)
			return node_fail(msg, GRPC_PERMISSION_DENIED,
					 str_printf("volume %s is %s, above pod %s/%s (%s)",
						    r->volume_id, level, np->rec.pod_namespace,
						    np->rec.pod_name, np->rec.pod_level));
		np->rec.read_only = np->rec.read_only || a == POLICY_READ_ONLY;
		np->rec.volume_level = strdup(level);
		np->rec.source = node_source(source, node_ctx(np, "prefix"));
		if (!(np->rec.options = node_options(np)))
			return GRPC_RESOURCE_EXHAUSTED;
	}
	if ((st = node_existing(np, &done, msg)) || done)
		return st;
	return node_mount(np, msg);
}

static enum grpc_status node_publish(void *ctx, const uint8_t *req, size_t len, struct buf *resp,
				     char **msg)
{
	struct node_publish np = {.p = ctx};
	enum grpc_status st;

	(void)resp; /* the answer is empty */
	np.req = csi__v1__node_publish_volume_request__unpack(NULL, len, req);
	if (!np.req)
		return node_fail(msg, GRPC_INVALID_ARGUMENT,
				 strdup("cannot decode NodePublishVolumeRequest"));
	st = node_check_request(np.req, msg);
	if (!st && !plugin_begin(np.p, np.req->volume_id))
		st = node_fail(
			msg, GRPC_ABORTED,
			str_printf("an operation on volume %s is in progress", np.req->volume_id));
	else if (!st) {
		st = node_publish_volume(&np, msg);
		plugin_end(np.p, np.req->volume_id);
	}
	volrec_free(&np.rec);
	/* The request holds secrets: zero them before protobuf-c frees. */
	for (size_t i = 0; i < np.req->n_secrets; i++)
		if (np.req->secrets[i]->value)
			explicit_bzero(np.req->secrets[i]->value,
				       strlen(np.req->secrets[i]->value));
	csi__v1__node_publish_volume_request__free_unpacked(np.req, NULL);
	return st;
}

/* ---- NodeUnpublishVolume ---- */

static enum grpc_status node_unpublish_volume(struct plugin *p, const char *volume_id,
					      const char *target, char **msg)
{
	struct volrec rec = {0};
	char *why = NULL;
	int rc = volstate_load(p->state_dir, target, &rec, &why);

	if (rc && rc != -ENOENT)
		return node_fail(msg, GRPC_INTERNAL, why);
	free(why);
	why = NULL;
	if (!rc && strcmp(rec.volume_id, volume_id)) {
		volrec_free(&rec);
		return node_fail(msg, GRPC_NOT_FOUND,
				 str_printf("%s holds another volume than %s", target, volume_id));
	}
	rc = !rc && rec.catalog ? catalog_unmount(p, &rec, &why) : mounts_unmount(target, &why);
	if (!rc) {
		if (rmdir(target) && errno != ENOENT)
			log_warn("csi: cannot remove %s: %s", target, strerror(errno));
		volstate_remove(p->state_dir, target);
		log_notice("csi: volume %s unpublished from %s", volume_id, target);
	}
	volrec_free(&rec);
	return rc ? node_fail(msg, GRPC_INTERNAL, why) : GRPC_OK;
}

static enum grpc_status node_unpublish(void *ctx, const uint8_t *req, size_t len, struct buf *resp,
				       char **msg)
{
	struct plugin *p = ctx;
	Csi__V1__NodeUnpublishVolumeRequest *r;
	enum grpc_status st;

	(void)resp;
	r = csi__v1__node_unpublish_volume_request__unpack(NULL, len, req);
	if (!r)
		return node_fail(msg, GRPC_INVALID_ARGUMENT,
				 strdup("cannot decode NodeUnpublishVolumeRequest"));
	if (!r->volume_id || !*r->volume_id)
		st = node_fail(msg, GRPC_INVALID_ARGUMENT, strdup("volume_id is required"));
	else if (!r->target_path || r->target_path[0] != '/')
		st = node_fail(msg, GRPC_INVALID_ARGUMENT,
			       strdup("target_path is required and must be absolute"));
	else if (!plugin_begin(p, r->volume_id))
		st = node_fail(
			msg, GRPC_ABORTED,
			str_printf("an operation on volume %s is in progress", r->volume_id));
	else {
		st = node_unpublish_volume(p, r->volume_id, r->target_path, msg);
		plugin_end(p, r->volume_id);
	}
	csi__v1__node_unpublish_volume_request__free_unpacked(r, NULL);
	return st;
}

const struct grpc_method plugin_methods[] = {
	{"/csi.v1.Identity/GetPluginInfo", node_plugin_info},
	{"/csi.v1.Identity/GetPluginCapabilities", node_empty_caps},
	{"/csi.v1.Identity/Probe", node_probe},
	{"/csi.v1.Controller/ControllerGetCapabilities", node_empty_caps},
	{"/csi.v1.Node/NodeGetCapabilities", node_empty_caps},
	{"/csi.v1.Node/NodeGetInfo", node_get_info},
	{"/csi.v1.Node/NodePublishVolume", node_publish},
	{"/csi.v1.Node/NodeUnpublishVolume", node_unpublish},
};
const size_t plugin_n_methods = sizeof(plugin_methods) / sizeof(*plugin_methods);
