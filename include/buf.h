/*
 * A growing byte buffer with a hard maximum, as curl's dynbuf: every buffer
 * that grows from remote input is bounded when it is created, so a hostile
 * or broken server cannot make us allocate without limit.
 */
#ifndef BUCKETFS_BUF_H
#define BUCKETFS_BUF_H

#include <stdarg.h>
#include <stddef.h>

struct buf {
	char *data; /* NUL-terminated when non-NULL */
	size_t len;
	size_t cap;
	size_t max; /* largest len allowed */
};

void buf_init(struct buf *b, size_t max);
/* Append n bytes. Returns 0, -ENOMEM, or -EFBIG past b->max. */
int buf_append(struct buf *b, const void *p, size_t n);
int buf_puts(struct buf *b, const char *s);
int buf_printf(struct buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void buf_reset(struct buf *b);
/* Take ownership of the contents (never NULL on success: "" for empty). */
char *buf_steal(struct buf *b);
void buf_free(struct buf *b);

/* asprintf that returns the string, or NULL when out of memory: for the
 * one-line *why messages built everywhere. */
char *str_printf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#endif
