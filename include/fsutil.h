/* Small helpers for the local file system (staging and cache directories). */
#ifndef BUCKETFS_FSUTIL_H
#define BUCKETFS_FSUTIL_H

/* mkdir -p with mode 0700 for what it creates. 0 or -errno. */
int fsutil_mkdir_p(const char *path);

#endif
