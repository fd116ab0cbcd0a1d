/*
 * libfuse's multi-threaded loop, set up the same way for every FUSE
 * daemon of ours, whichever libfuse API version we build against.
 */
#ifndef BUCKETFS_FUSE_WORKERS_H
#define BUCKETFS_FUSE_WORKERS_H

#include <fuse_lowlevel.h>

/*
 * Serve se with up to max_threads worker threads (libfuse before 3.12
 * has no such limit). Workers stay once started, up to max_idle of them
 * idle: a worker that leaves after each request costs a thread creation
 * per request. Returns what fuse_session_loop_mt returns.
 */
int fuse_workers_run(struct fuse_session *se, unsigned int max_threads, unsigned int max_idle);

#endif
