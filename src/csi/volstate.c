/* Publish records as small JSON files, written atomically. */
#include "volstate.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <json-c/json.h>
#include <openssl/sha.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "buf.h"
#include "creds.h"
#include "fsutil.h"

char *volstate_key(const char *target)
{
	unsigned char md[SHA256_DIGEST_LENGTH];
	char hex[2 * SHA256_DIGEST_LENGTH + 1];

	SHA256((const unsigned char *)target, strlen(target), md);
	for (size_t i = 0; i < sizeof(md); i++)
		snprintf(hex + 2 * i, 3, "%02x", md[i]);
	return strdup(hex);
}

static char *volstate_path(const char *state_dir, const char *target)
{
	char *key = volstate_key(target), *path = NULL;

	if (key)
		path = str_printf("%s/volumes/%s.json", state_dir, key);
	free(key);
	return path;
}

static void volstate_put(struct json_object *o, const char *key, const char *v)
{
	if (v)
		json_object_object_add(o, key, json_object_new_string(v));
}

int volstate_save(const char *state_dir, const struct volrec *r, char **why)
{
	struct json_object *o = json_object_new_object(), *sec = json_object_new_object();
	char *path = volstate_path(state_dir, r->target_path), *dir = NULL, *tmp = NULL;
	const char *text;
	int fd = -1, rc = -ENOMEM;

	if (!o || !sec || !path || !(dir = str_printf("%s/volumes", state_dir)) ||
	    !(tmp = str_printf("%s.tmp", path)))
		goto out;
	volstate_put(o, "volume_id", r->volume_id);
	volstate_put(o, "target_path", r->target_path);
	volstate_put(o, "catalog", r->catalog);
	volstate_put(o, "source", r->source);
	volstate_put(o, "options", r->options);
	json_object_object_add(o, "read_only", json_object_new_boolean(r->read_only));
	volstate_put(o, "pod_namespace", r->pod_namespace);
	volstate_put(o, "pod_name", r->pod_name);
	volstate_put(o, "pod_level", r->pod_level);
	volstate_put(o, "volume_level", r->volume_level);
	for (size_t i = 0; i < r->n_secrets; i++)
		volstate_put(sec, r->secrets[i].key, r->secrets[i].value);
	json_object_object_add(o, "secrets", sec);
	sec = NULL;
	text = json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN);
	rc = fsutil_mkdir_p(dir);
	if (!rc) {
		fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
		if (fd < 0 || write(fd, text, strlen(text)) != (ssize_t)strlen(text) || fsync(fd) ||
		    rename(tmp, path))
			rc = -errno;
	}
	if (rc)
		*why = str_printf("cannot record the volume in %s: %s", dir, strerror(-rc));
out:
	if (fd >= 0)
		close(fd);
	if (rc && tmp)
		unlink(tmp);
	json_object_put(sec);
	json_object_put(o);
	free(path);
	free(dir);
	free(tmp);
	return rc;
}

static char *volstate_get(struct json_object *o, const char *key)
{
	struct json_object *v;

	if (!json_object_object_get_ex(o, key, &v) || !json_object_is_type(v, json_type_string))
		return NULL;
	return strdup(json_object_get_string(v));
}

static int volstate_parse(const char *text, struct volrec *r)
{
	struct json_object *o = json_tokener_parse(text), *v;

	memset(r, 0, sizeof(*r));
	if (!o)
		return -EPROTO;
	r->volume_id = volstate_get(o, "volume_id");
	r->target_path = volstate_get(o, "target_path");
	r->catalog = volstate_get(o, "catalog");
	r->source = volstate_get(o, "source");
	r->options = volstate_get(o, "options");
	r->read_only = json_object_object_get_ex(o, "read_only", &v) && json_object_get_boolean(v);
	r->pod_namespace = volstate_get(o, "pod_namespace");
	r->pod_name = volstate_get(o, "pod_name");
	r->pod_level = volstate_get(o, "pod_level");
	r->volume_level = volstate_get(o, "volume_level");
	if (json_object_object_get_ex(o, "secrets", &v) &&
	    json_object_is_type(v, json_type_object)) {
		size_t n = (size_t)json_object_object_length(v);

		r->secrets = calloc(n ? n : 1, sizeof(*r->secrets));
		json_object_object_foreach(v, key, val)
		{
			if (r->secrets && json_object_is_type(val, json_type_string)) {
				r->secrets[r->n_secrets].key = strdup(key);
				r->secrets[r->n_secrets++].value =
					strdup(json_object_get_string(val));
			}
		}
	}
	json_object_put(o);
	if (!r->volume_id || !r->target_path) {
		volrec_free(r);
		return -EPROTO;
	}
	return 0;
}

static int volstate_load_file(const char *path, struct volrec *r, char **why)
{
	char *text = NULL;
	int rc = creds_read_secret_file(path, "volume record", true, &text, why);

	if (rc)
		return rc;
	rc = volstate_parse(text, r);
	if (rc)
		*why = str_printf("volume record %s is damaged", path);
	explicit_bzero(text, strlen(text));
	free(text);
	return rc;
}

int volstate_load(const char *state_dir, const char *target, struct volrec *r, char **why)
{
	char *path = volstate_path(state_dir, target);
	int rc;

	if (!path)
		return -ENOMEM;
	rc = volstate_load_file(path, r, why);
	free(path);
	return rc;
}

int volstate_remove(const char *state_dir, const char *target)
{
	char *path = volstate_path(state_dir, target);
	int rc = 0;

	if (!path)
		return -ENOMEM;
	if (unlink(path) && errno != ENOENT)
		rc = -errno;
	free(path);
	return rc;
}

int volstate_each(const char *state_dir, int (*fn)(void *ctx, struct volrec *r), void *ctx)
{
	char *dir = str_printf("%s/volumes", state_dir);
	DIR *d = dir ? opendir(dir) : NULL;
	struct dirent *e;
	int rc = 0;

	while (d && !rc && (e = readdir(d))) {
		size_t n = strlen(e->d_name);
		struct volrec r;
		char *path, *why = NULL;

		if (n < 6 || strcmp(e->d_name + n - 5, ".json"))
			continue;
		path = str_printf("%s/%s", dir, e->d_name);
		if (path && !volstate_load_file(path, &r, &why)) {
			rc = fn(ctx, &r);
			volrec_free(&r);
		}
		free(why);
		free(path);
	}
	if (d)
		closedir(d);
	free(dir);
	return rc;
}

static bool volstate_eq(const char *a, const char *b)
{
	return (!a && !b) || (a && b && !strcmp(a, b));
}

bool volrec_same(const struct volrec *a, const struct volrec *b)
{
	return volstate_eq(a->volume_id, b->volume_id) &&
	       volstate_eq(a->target_path, b->target_path) && volstate_eq(a->catalog, b->catalog) &&
	       volstate_eq(a->source, b->source) && volstate_eq(a->options, b->options) &&
	       a->read_only == b->read_only;
}

void volrec_free(struct volrec *r)
{
	free(r->volume_id);
	free(r->target_path);
	free(r->catalog);
	free(r->source);
	free(r->options);
	free(r->pod_namespace);
	free(r->pod_name);
	free(r->pod_level);
	free(r->volume_level);
	for (size_t i = 0; i < r->n_secrets; i++) {
		free(r->secrets[i].key);
		creds_zfree(r->secrets[i].value);
	}
	free(r->secrets);
	memset(r, 0, sizeof(*r));
}
