/* POSIX attributes in object metadata (see store_meta.h). */
#include "store_meta.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static void add(struct meta_headers *out, const char *prefix, const char *name, const char *fmt,
		long long v)
{
	snprintf(out->name[out->n], sizeof(out->name[0]), "%.30s%s", prefix, name);
	snprintf(out->value[out->n], sizeof(out->value[0]), fmt, v);
	out->n++;
}

void meta_to_headers(const struct store_meta *m, const char *prefix, struct meta_headers *out)
{
	out->n = 0;
	if (!m)
		return;
	if (m->has_mode)
		add(out, prefix, "mode", "%lld", (long long)m->mode);
	if (m->has_uid)
		add(out, prefix, "uid", "%lld", (long long)m->uid);
	if (m->has_gid)
		add(out, prefix, "gid", "%lld", (long long)m->gid);
	/* Whole seconds: what s3fs 1.90 reads back. */
	if (m->has_mtime)
		add(out, prefix, "mtime", "%lld", (long long)m->mtime.tv_sec);
	if (m->folder) {
		snprintf(out->name[out->n], sizeof(out->name[0]), "%.27shdi_isfolder", prefix);
		snprintf(out->value[out->n], sizeof(out->value[0]), "true");
		out->n++;
	}
}

/* Digits, then the end or a '.' (mtime's fraction). */
static bool parse_ull(const char *s, unsigned long long *out)
{
	char *end;

	if (*s < '0' || *s > '9')
		return false;
	errno = 0;
	*out = strtoull(s, &end, 10);
	return !errno && (*end == '\0' || *end == '.');
}

void meta_set(struct store_meta *m, const char *name, const char *value)
{
	unsigned long long n;

	if (!strcasecmp(name, "hdi_isfolder")) {
		m->folder = !strcasecmp(value, "true");
		return;
	}
	if (!parse_ull(value, &n))
		return;
	if (!strcasecmp(name, "mode")) {
		m->has_mode = true;
		m->mode = (mode_t)n;
	} else if (!strcasecmp(name, "uid")) {
		m->has_uid = true;
		m->uid = (uid_t)n;
	} else if (!strcasecmp(name, "gid")) {
		m->has_gid = true;
		m->gid = (gid_t)n;
	} else if (!strcasecmp(name, "mtime")) {
		const char *dot = strchr(value, '.');

		m->has_mtime = true;
		m->mtime.tv_sec = (time_t)n;
		m->mtime.tv_nsec = 0;
		if (dot) {
			/* "sec.frac": take up to nine digits of fraction. */
			long ns = 0;
			int digits = 0;

			for (dot++; *dot >= '0' && *dot <= '9' && digits < 9; dot++, digits++)
				ns = ns * 10 + (*dot - '0');
			for (; digits < 9; digits++)
				ns *= 10;
			m->mtime.tv_nsec = ns;
		}
	}
}

void meta_from_headers(const struct http_response *resp, const char *prefix, struct store_meta *m)
{
	static const char *const names[] = {"mode", "uid", "gid", "mtime", "hdi_isfolder"};
	char v[64], name[64];

	memset(m, 0, sizeof(*m));
	for (size_t i = 0; i < sizeof(names) / sizeof(*names); i++) {
		snprintf(name, sizeof(name), "%.30s%s", prefix, names[i]);
		if (http_response_header(resp, name, v, sizeof(v)))
			meta_set(m, names[i], v);
	}
}

bool meta_equal(const struct store_meta *a, const struct store_meta *b)
{
	return a->has_mode == b->has_mode && a->has_uid == b->has_uid && a->has_gid == b->has_gid &&
	       a->has_mtime == b->has_mtime && (!a->has_mode || a->mode == b->mode) &&
	       (!a->has_uid || a->uid == b->uid) && (!a->has_gid || a->gid == b->gid) &&
	       (!a->has_mtime ||
		(a->mtime.tv_sec == b->mtime.tv_sec && a->mtime.tv_nsec == b->mtime.tv_nsec));
}
