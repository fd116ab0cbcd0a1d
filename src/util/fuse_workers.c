#include "fuse_workers.h"

int fuse_workers_run(struct fuse_session *se, unsigned int max_threads, unsigned int max_idle)
{
#if FUSE_USE_VERSION >= FUSE_MAKE_VERSION(3, 12)
	struct fuse_loop_config *lc = fuse_loop_cfg_create();
	int rc;

	if (!lc)
		return -1;
	fuse_loop_cfg_set_clone_fd(lc, 0);
	fuse_loop_cfg_set_max_threads(lc, max_threads);
	fuse_loop_cfg_set_idle_threads(lc, max_idle);
	rc = fuse_session_loop_mt(se, lc);
	fuse_loop_cfg_destroy(lc);
	return rc;
#else
	/* The version 3.2 configuration: nothing else may be passed there. */
	struct fuse_loop_config lc = {.clone_fd = 0, .max_idle_threads = max_idle};

	(void)max_threads;
	return fuse_session_loop_mt(se, &lc);
#endif
}
