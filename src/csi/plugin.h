/*
 * The node plugin's state shared by its gRPC handlers and its catalog
 * watcher: configuration, the Kubernetes client, and which volumes have an
 * operation in flight (the CSI rule: one at a time per volume).
 */
#ifndef BUCKETFS_CSI_PLUGIN_H
#define BUCKETFS_CSI_PLUGIN_H

#include <pthread.h>
#include <stdbool.h>

#include "grpc.h"
#include "kube.h"
#include "policy.h"
#include "volstate.h"

struct catalog_conf {
	char *name;
	char *location; /* a file path, or "configmap:NS/NAME/KEY" */
};

struct plugin {
	const char *driver_name;
	const char *node_id;
	const char *bucketfs;  /* the daemon binary */
	const char *self;      /* this binary, for the catalog view daemon */
	const char *state_dir; /* records, catalog mount points */
	const char *label_key; /* pod label holding its classification */
	struct levels levels;
	struct kube kube;
	struct catalog_conf *catalogs;
	size_t n_catalogs;
	unsigned int catalog_interval; /* seconds between catalog re-reads */

	pthread_mutex_t lock;
	struct plugin_busy *busy; /* volume ids with an operation in flight */
	pthread_cond_t wake;	  /* the catalog watcher's sleep */
	pthread_t watcher;
	bool watching, stopping;
};

/* Claim a volume for one operation; false if another holds it. */
bool plugin_begin(struct plugin *p, const char *volume_id);
void plugin_end(struct plugin *p, const char *volume_id);

/* Secret keys a volume may carry: the daemon's environment variables. */
bool plugin_secret_key_ok(const char *key);
/* The daemon's environment: a fixed base plus the secrets (NULL-ended,
 * free with plugin_env_free). */
char **plugin_env(const struct plugin *p, const struct kv *secrets, size_t n_secrets);
void plugin_env_free(char **env);

/* Mount one bucket with bucketfs (read-only when asked). */
int plugin_mount_bucket(const struct plugin *p, const char *source, const char *target,
			const char *options, const struct kv *secrets, size_t n_secrets,
			char **why);

/* Bring every recorded volume back whose daemon died (at start-up). */
void plugin_heal_all(struct plugin *p);
/* Bring one recorded volume back if it is stale or unmounted. */
int plugin_heal(struct plugin *p, const struct volrec *r, char **why);

extern const struct grpc_method plugin_methods[];
extern const size_t plugin_n_methods;

#endif
