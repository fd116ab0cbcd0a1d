/*
 * Catalog volumes ("automount"): one mount whose root holds a directory
 * per bucket the pod may see, from a catalog the administrator keeps (a
 * file, or a ConfigMap key). Each bucket is its own bucketfs mount under
 * the plugin's state dir; a view daemon (view.c) shows the allowed ones at
 * the pod's target. The watcher re-reads catalogs, so a bucket added or
 * removed appears or disappears in running pods.
 */
#ifndef BUCKETFS_CSI_CATALOG_H
#define BUCKETFS_CSI_CATALOG_H

#include <stdbool.h>
#include <stddef.h>

struct plugin;
struct volrec;

struct catalog_bucket {
	char *name;	      /* directory name at the root of the mount */
	char *source;	      /* bucketfs SOURCE */
	char *classification; /* a configured level */
	char *options;	      /* extra -o options, or NULL */
	char *secrets_file;   /* KEY=VALUE lines (0600), or NULL */
	char **namespaces;    /* who may see it; "*" for all */
	size_t n_namespaces;
};

struct catalog {
	struct catalog_bucket *buckets;
	size_t n;
};

/* {"buckets": [{"name", "source", "classification", "namespaces",
 * "options", "secrets_file"}]}: every name unique and usable as a
 * directory name. */
int catalog_parse(const char *text, struct catalog *c, char **why);
void catalog_free(struct catalog *c);
bool catalog_namespace_ok(const struct catalog_bucket *b, const char *ns);

/* Read the catalog configured under NAME. */
int catalog_load(struct plugin *p, const char *name, struct catalog *c, char **why);

/* Mount a recorded catalog volume: its buckets, then the view. */
int catalog_mount(struct plugin *p, const struct volrec *r, char **why);
/* Make the view match the catalog now (mount new buckets, drop gone ones). */
int catalog_reconcile(struct plugin *p, const struct volrec *r, char **why);
/* Unmount the view and every bucket under it. */
int catalog_unmount(struct plugin *p, const struct volrec *r, char **why);
/* Re-read catalogs every p->catalog_interval seconds on a thread. */
int catalog_watch_start(struct plugin *p);
void catalog_watch_stop(struct plugin *p);

#endif
