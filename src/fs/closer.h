/*
 * Uploads of closed files in the background (-o async_close): close()
 * returns once the data is staged on disk (journaled, so a killed daemon
 * sends it at the next mount), and a pool of threads sends each file the
 * way close() would have. fsync() still waits for its file; unmount waits
 * for them all. At most `max_pending` files wait at once: a writer beyond
 * that waits at close() for room, so staging stays bounded.
 */
#ifndef BUCKETFS_FS_CLOSER_H
#define BUCKETFS_FS_CLOSER_H

#include <stdint.h>

struct closer;

/* send(ctx, ino) uploads one file: 0 or -errno (a failure is kept in the
 * mount by its caller, as a failed close() would be). */
struct closer *closer_create(unsigned int threads, unsigned int max_pending,
			     int (*send)(void *ctx, uint64_t ino), void *ctx);

/* Wait until one more file may be queued. */
void closer_wait_room(struct closer *c);

/* Queue ino to be sent (once, however often it is queued meanwhile). */
void closer_queue(struct closer *c, uint64_t ino);

/* Wait until everything queued was sent; returns the number of sends that
 * failed since the last call. */
unsigned int closer_drain(struct closer *c);

/* Drain, then stop the threads. */
void closer_destroy(struct closer *c);

#endif
