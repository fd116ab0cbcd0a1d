/*
 * The record beside each staging file ("stage-XXXXXX.journal"): which
 * store and key its data belongs to, whether it holds changes the store has
 * not got, and the metadata to upload them with. It is what lets data
 * written but not uploaded outlive a killed daemon: the next mount of the
 * same store with the same staging_dir uploads it (cache_start_recovery).
 *
 * Records are small text files replaced atomically (write, rename), and
 * only when the state changes (clean <-> dirty, a new key), never per write.
 */
#ifndef BUCKETFS_CACHE_JOURNAL_H
#define BUCKETFS_CACHE_JOURNAL_H

#include <stdbool.h>

#include "store.h"

struct journal_rec {
	char *store_id; /* which store, e.g. "s3 https://host bucket" */
	char *key;
	bool dirty;
	struct store_meta meta; /* mtime unused: the staging file's own is used */
	/* A partial stage (cache.c): only the parts marked present hold the
	 * file's bytes; the others are the object as of src_etag. Written
	 * as format 2, which earlier versions leave alone. */
	bool partial;
	char src_etag[80];
	uint64_t src_size, part_size;
	uint8_t *present; /* one per part of the source */
	size_t n_present;
};

/* Write (or replace) the record of the staging file at stage_path. */
int journal_write(const char *stage_path, const struct journal_rec *r);
/* Remove it (the staging file is going away). */
void journal_remove(const char *stage_path);
/* Read the record at journal_path (path of the record itself). -EINVAL
 * for a record that is not one of ours or is cut short. */
int journal_read(const char *journal_path, struct journal_rec *out);
void journal_rec_free(struct journal_rec *r);

#endif
