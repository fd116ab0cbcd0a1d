/*
 * Classification policy: levels are ordered by configuration, lowest first,
 * and a pod may read at or below its level and write only at it. Pure
 * functions, so the rules are unit-tested apart from any mount.
 */
#ifndef BUCKETFS_CSI_POLICY_H
#define BUCKETFS_CSI_POLICY_H

#include <stdbool.h>
#include <stddef.h>

struct levels {
	char **names; /* lowest first */
	size_t n;
};

/* "unclassified,protected-b": at least one name, no empty or repeated one. */
int levels_parse(const char *csv, struct levels *out, char **why);
void levels_free(struct levels *l);
/* The rank of a level name, or -1 if it is not configured. */
int levels_rank(const struct levels *l, const char *name);

enum policy_access {
	POLICY_DENY,	  /* volume above the pod: no read up */
	POLICY_READ_ONLY, /* volume below the pod: no write down */
	POLICY_AS_ASKED,  /* same level */
};

enum policy_access policy_decide(int pod_rank, int volume_rank);
/* A few words for the log: "denied (no read up)", ... */
const char *policy_describe(enum policy_access a);

/* Whether a CSI access mode (VolumeCapability.AccessMode.Mode) only reads. */
bool policy_mode_read_only(int mode);

#endif
