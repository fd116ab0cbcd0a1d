/*
 * Mount points on the node: is a path mounted, is its daemon gone, run a
 * mount helper with exactly the environment we give it, unmount.
 */
#ifndef BUCKETFS_CSI_MOUNTS_H
#define BUCKETFS_CSI_MOUNTS_H

#include <stdbool.h>

/* Whether PATH is a mount point now (/proc/self/mountinfo). */
bool mounts_is_mounted(const char *path);
/* Mounted, but its FUSE daemon is gone ("Transport endpoint is not
 * connected"). */
bool mounts_is_stale(const char *path);
/* Run argv[0] with argv and exactly env (secrets go there, never in argv);
 * 0 when it exits 0, else -EIO with *why its last line on stderr. */
int mounts_run(char *const argv[], char *const env[], char **why);
/* Unmount PATH (lazily if it is busy); 0 when it is not mounted. */
int mounts_unmount(const char *path, char **why);

#endif
