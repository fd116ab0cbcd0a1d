/* The catalog view daemon (see view.c). */
#ifndef BUCKETFS_CSI_VIEW_H
#define BUCKETFS_CSI_VIEW_H

#include <stdbool.h>

/* Mount the view of BASE at TARGET and serve it; returns the exit code. */
int view_main(const char *base, const char *target, bool foreground);

#endif
