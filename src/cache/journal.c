/*
 * Staging file records (see journal.h). The format is line based:
 *
 *   bucketfs-journal 1
 *   store <store id, percent-encoded>
 *   key <key, percent-encoded>
 *   dirty 0|1
 *   mode <n> / uid <n> / gid <n>      (each only when known)
 *   partial <etag> / src_size <n> / part_size <n> / present <hex bitmap>
 *                                     (format 2 only: a partial stage)
 *   end
 *
 * Keys may hold any byte but NUL, newlines included: hence the encoding.
 * A record without its "end" line is treated as not ours.
 */
#include "journal.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "buf.h"
#include "uri.h"

#define JOURNAL_MAGIC	"bucketfs-journal 1"
#define JOURNAL_MAGIC_2 "bucketfs-journal 2"
#define JOURNAL_MAX	(16u << 10)

static int journal_path(const char *stage_path, const char *suffix, struct buf *out)
{
	buf_init(out, 8192);
	return buf_printf(out, "%s.journal%s", stage_path, suffix);
}

static int journal_line(struct buf *b, const char *name, const char *value)
{
	int rc = buf_printf(b, "%s ", name);

	if (!rc)
		rc = uri_encode(b, value, strlen(value), true);
	if (!rc)
		rc = buf_puts(b, "\n");
	return rc;
}

int journal_write(const char *stage_path, const struct journal_rec *r)
{
	struct buf body, path, tmp;
	int fd = -1, rc;

	buf_init(&body, JOURNAL_MAX);
	rc = journal_path(stage_path, "", &path);
	if (!rc)
		rc = journal_path(stage_path, ".tmp", &tmp);
	if (!rc)
		rc = buf_printf(&body, "%s\n", r->partial ? JOURNAL_MAGIC_2 : JOURNAL_MAGIC);
	if (!rc)
		rc = journal_line(&body, "store", r->store_id);
	if (!rc)
		rc = journal_line(&body, "key", r->key);
	if (!rc)
		rc = buf_printf(&body, "dirty %d\n", r->dirty ? 1 : 0);
	if (!rc && r->meta.has_mode)
		rc = buf_printf(&body, "mode %u\n", (unsigned int)r->meta.mode);
	if (!rc && r->meta.has_uid)
		rc = buf_printf(&body, "uid %u\n", (unsigned int)r->meta.uid);
	if (!rc && r->meta.has_gid)
		rc = buf_printf(&body, "gid %u\n", (unsigned int)r->meta.gid);
	if (!rc && r->partial) {
		rc = journal_line(&body, "partial", r->src_etag);
		if (!rc)
			rc = buf_printf(&body, "src_size %llu\npart_size %llu\npresent ",
					(unsigned long long)r->src_size,
					(unsigned long long)r->part_size);
		for (size_t i = 0; !rc && i < r->n_present; i += 4) {
			unsigned int nib = 0;

			for (size_t b = 0; b < 4 && i + b < r->n_present; b++)
				nib |= (r->present[i + b] ? 1u : 0u) << b;
			rc = buf_printf(&body, "%x", nib);
		}
		if (!rc)
			rc = buf_puts(&body, "\n");
	}
	if (!rc)
		rc = buf_puts(&body, "end\n");
	if (!rc) {
		fd = open(tmp.data, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
		if (fd < 0 || write(fd, body.data, body.len) != (ssize_t)body.len)
			rc = -errno ? -errno : -EIO;
		if (fd >= 0 && close(fd) && !rc)
			rc = -errno;
		/* rename: a reader sees the old record or the new, never half. */
		if (!rc && rename(tmp.data, path.data))
			rc = -errno;
		if (rc)
			unlink(tmp.data);
	}
	buf_free(&body);
	buf_free(&path);
	buf_free(&tmp);
	return rc;
}

void journal_remove(const char *stage_path)
{
	struct buf path;

	if (!journal_path(stage_path, "", &path))
		unlink(path.data);
	buf_free(&path);
}

void journal_rec_free(struct journal_rec *r)
{
	free(r->store_id);
	free(r->key);
	free(r->present);
	memset(r, 0, sizeof(*r));
}

/* Parse one "name value" line into r. Returns 1 at "end", 0 to go on. */
static int journal_parse_line(char *line, struct journal_rec *r)
{
	char *value = strchr(line, ' ');
	unsigned long n;
	char *end;

	if (!strcmp(line, "end"))
		return 1;
	if (!value)
		return -EINVAL;
	*value++ = '\0';
	if (!strcmp(line, "store") || !strcmp(line, "key")) {
		char **slot = line[0] == 's' ? &r->store_id : &r->key;

		if (*slot)
			return -EINVAL;
		uri_decode(value, false);
		*slot = strdup(value);
		return *slot ? 0 : -ENOMEM;
	}
	if (!strcmp(line, "partial")) {
		uri_decode(value, false);
		if (strlen(value) >= sizeof(r->src_etag))
			return -EINVAL;
		strcpy(r->src_etag, value);
		r->partial = true;
		return 0;
	}
	if (!strcmp(line, "present")) {
		size_t len = strlen(value);

		free(r->present);
		r->present = calloc(len * 4 + 1, 1);
		if (!r->present)
			return -ENOMEM;
		for (size_t i = 0; i < len; i++) {
			const char *hex = "0123456789abcdef", *d = strchr(hex, value[i]);

			if (!d || !*d)
				return -EINVAL;
			for (int b = 0; b < 4; b++)
				r->present[i * 4 + b] = (uint8_t)(((d - hex) >> b) & 1);
		}
		r->n_present = len * 4;
		return 0;
	}
	if (!strcmp(line, "src_size") || !strcmp(line, "part_size")) {
		unsigned long long v;

		errno = 0;
		v = strtoull(value, &end, 10);
		if (errno || end == value || *end)
			return -EINVAL;
		*(line[0] == 's' ? &r->src_size : &r->part_size) = v;
		return 0;
	}
	errno = 0;
	n = strtoul(value, &end, 10);
	if (errno || end == value || *end || n > 0xffffffffUL)
		return -EINVAL;
	if (!strcmp(line, "dirty")) {
		r->dirty = n != 0;
	} else if (!strcmp(line, "mode")) {
		r->meta.has_mode = true;
		r->meta.mode = (mode_t)n;
	} else if (!strcmp(line, "uid")) {
		r->meta.has_uid = true;
		r->meta.uid = (uid_t)n;
	} else if (!strcmp(line, "gid")) {
		r->meta.has_gid = true;
		r->meta.gid = (gid_t)n;
	}
	/* Unknown names are skipped: a later version may add some. */
	return 0;
}

int journal_read(const char *journal_path, struct journal_rec *out)
{
	char data[JOURNAL_MAX + 1], *line, *save = NULL;
	int fd = open(journal_path, O_RDONLY | O_CLOEXEC), rc = -EINVAL, done = 0;
	ssize_t n;

	memset(out, 0, sizeof(*out));
	if (fd < 0)
		return -errno;
	n = read(fd, data, JOURNAL_MAX);
	close(fd);
	if (n <= 0 || n == JOURNAL_MAX)
		return -EINVAL;
	data[n] = '\0';
	line = strtok_r(data, "\n", &save);
	if (!line || (strcmp(line, JOURNAL_MAGIC) && strcmp(line, JOURNAL_MAGIC_2)))
		return -EINVAL;
	bool v2 = !strcmp(line, JOURNAL_MAGIC_2);

	while (!done && (line = strtok_r(NULL, "\n", &save))) {
		done = journal_parse_line(line, out);
		if (done < 0)
			break;
	}
	/* Format 2 is a partial stage: without its map the data means nothing. */
	if (done == 1 && out->store_id && out->key &&
	    (!v2 || (out->partial && out->part_size && out->present)))
		rc = 0;
	else if (done < 0)
		rc = done;
	if (rc)
		journal_rec_free(out);
	return rc;
}
