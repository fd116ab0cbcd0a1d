/*
 * Process-wide counters: requests by kind, bytes, retries, errors, cache
 * hits and misses. Updated with relaxed atomics from any thread; read as
 * Prometheus text (the metrics= endpoint, the user.bucketfs.stats xattr of
 * the mount's root) and summarised in the log at unmount.
 */
#ifndef BUCKETFS_METRICS_H
#define BUCKETFS_METRICS_H

#include <stdint.h>

#include "buf.h"

enum metrics_method { M_GET, M_HEAD, M_PUT, M_POST, M_DELETE, M_OTHER, M_METHODS };

struct metrics {
	uint64_t requests[M_METHODS]; /* attempts sent, retries included */
	uint64_t retries;
	uint64_t errors; /* requests that failed for good: transport, 403, 5xx */
	uint64_t bytes_down, bytes_up;
	uint64_t cache_hits, cache_misses; /* blocks */
	uint64_t cache_disk_hits;	   /* blocks read from the disk tier */
	uint64_t prefetched_blocks;
	uint64_t uploads, upload_failures; /* files */
};

extern struct metrics metrics;

#define metrics_add(field, n) __atomic_fetch_add(&metrics.field, (n), __ATOMIC_RELAXED)

enum metrics_method metrics_method_of(const char *method);
/* Prometheus text exposition format. */
int metrics_format(struct buf *out);
/* One line for the log. */
int metrics_summary(struct buf *out);

/* Serve metrics_format() over HTTP on addr ("127.0.0.1:9100"): the socket
 * is opened here, before the daemon forks, so that a bad address fails the
 * mount; metrics_start_thread() starts answering after the fork (threads
 * do not survive it). Returns 0 or -errno with *why. */
int metrics_serve(const char *addr, char **why);
int metrics_start_thread(void);
void metrics_stop(void);

#endif
