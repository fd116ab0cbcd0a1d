/*
 * What the plugin published, kept on disk (0600, in a 0700 directory) so
 * that a restarted plugin can tell an idempotent republish from a
 * conflicting one and can remount what went stale while it was away. A
 * record holds the volume's secrets: the directory is the plugin's alone.
 */
#ifndef BUCKETFS_CSI_VOLSTATE_H
#define BUCKETFS_CSI_VOLSTATE_H

#include <stdbool.h>
#include <stddef.h>

struct kv {
	char *key;
	char *value;
};

struct volrec {
	char *volume_id;
	char *target_path;
	char *catalog; /* catalog name, or NULL for one bucket */
	char *source;  /* one bucket: its SOURCE */
	char *options; /* one bucket: -o list the plugin built (no secrets) */
	bool read_only;
	char *pod_namespace, *pod_name;
	char *pod_level, *volume_level;
	struct kv *secrets;
	size_t n_secrets;
};

/* The hex SHA-256 of a target path: names its files under the state dir. */
char *volstate_key(const char *target);
/* STATE_DIR/volumes/<key>.json */
int volstate_save(const char *state_dir, const struct volrec *r, char **why);
/* -ENOENT when nothing was published at target. */
int volstate_load(const char *state_dir, const char *target, struct volrec *r, char **why);
int volstate_remove(const char *state_dir, const char *target);
/* Call fn for every record (in no order); stops at the first non-zero. */
int volstate_each(const char *state_dir, int (*fn)(void *ctx, struct volrec *r), void *ctx);
/* Same publish parameters apart from secrets (the CSI idempotency rule). */
bool volrec_same(const struct volrec *a, const struct volrec *b);
void volrec_free(struct volrec *r);

#endif
