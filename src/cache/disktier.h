/*
 * The disk tier of the block cache: blocks evicted from memory, one file
 * each under a directory of our own, LRU under a hard cap on the bytes of
 * those files. A block is named like in memory, by object ("key\netag")
 * and index: its file is SHA-256("key\netag\nindex") in hex, in one of 256
 * subdirectories. The file's header repeats the full name, the block size
 * and a digest of the data, all checked on every read, so that a hash
 * collision, a torn or a foreign file is a miss (and deleted), never wrong
 * data. The index of the files lives in memory; it is rebuilt from the
 * directory at create time, so that a remount starts warm.
 *
 * Thread safety: every function may be called from any thread. The tier
 * has its own lock, never held across I/O, so the functions documented
 * "no I/O" may be called under the caller's locks; the others do disk I/O
 * and should not be.
 */
#ifndef BUCKETFS_CACHE_DISKTIER_H
#define BUCKETFS_CACHE_DISKTIER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct disktier;
struct disktier_block; /* a block reserved for writing */

struct disktier_stats {
	uint64_t used;		 /* bytes of block files, headers included */
	uint64_t evicted_blocks; /* deleted to stay under the cap */
};

/*
 * Open (creating it if need be) the tier in dir, holding at most cap bytes
 * of blocks of block_size bytes. Indexes the block files already there,
 * deletes invalid ones and leftovers of interrupted writes, then evicts
 * down to cap. Returns -errno if dir cannot be created or written, and
 * -EBUSY if another process uses it.
 */
int disktier_create(const char *dir, uint64_t cap, size_t block_size, struct disktier **out);
/* Every reserved block must have been written or cancelled. */
void disktier_destroy(struct disktier *d);

/*
 * Claim block idx of obj, len bytes, for disktier_write: NULL if the tier
 * has it already (then it counts as recently used), is writing or deleting
 * it, or it can never fit. No I/O. Each block returned must be passed to
 * exactly one disktier_write or disktier_cancel.
 */
struct disktier_block *disktier_reserve(struct disktier *d, const char *obj, uint64_t idx,
					size_t len);
/*
 * Write the data of a reserved block (len bytes as reserved) and publish
 * it, evicting older blocks to make room. The block becomes readable only
 * once whole under its name, and is dropped instead if its key was
 * forgotten meanwhile. Releases blk whatever the outcome. 0 or -errno.
 */
int disktier_write(struct disktier *d, struct disktier_block *blk, const char *obj,
		   const void *data);
/* Release a reserved block without writing it. No I/O. */
void disktier_cancel(struct disktier *d, struct disktier_block *blk);

/*
 * Read block idx of obj into dst (room for cap bytes): 0 and its length in
 * *len, or -ENOENT if the tier does not have it whole. A file that fails
 * its checks is deleted.
 */
int disktier_load(struct disktier *d, const char *obj, uint64_t idx, void *dst, size_t cap,
		  size_t *len);
/* Whether the tier has block idx of obj, as far as its index knows. No I/O. */
bool disktier_has(struct disktier *d, const char *obj, uint64_t idx);

/*
 * Drop every block of key (all versions), in two steps: disktier_forget
 * (no I/O) makes them unreadable at once and stops writes of them in
 * progress, so that a caller can do it atomically with forgetting the key
 * elsewhere; disktier_sweep then deletes the files.
 */
void disktier_forget(struct disktier *d, const char *key);
void disktier_sweep(struct disktier *d);

/* No I/O. */
void disktier_get_stats(struct disktier *d, struct disktier_stats *out);

#endif
