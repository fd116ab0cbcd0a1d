/* Catalog volumes: parse the catalog, keep each pod's view in step with it. */
#include "catalog.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "buf.h"
#include "creds.h"
#include "fsutil.h"
#include "log.h"
#include "mounts.h"
#include "plugin.h"

static const char *catalog_str(struct json_object *o, const char *key)
{
	struct json_object *v;

	if (!json_object_object_get_ex(o, key, &v) || !json_object_is_type(v, json_type_string))
		return NULL;
	return json_object_get_string(v);
}

/* A directory name the view can show: no separators, dot names or controls. */
static bool catalog_name_ok(const char *s)
{
	if (!*s || strlen(s) > 255 || !strcmp(s, ".") || !strcmp(s, ".."))
		return false;
	for (; *s; s++)
		if (*s == '/' || (unsigned char)*s < 0x20)
			return false;
	return true;
}

static int catalog_bucket_parse(struct json_object *o, size_t i, struct catalog_bucket *b,
				char **why)
{
	const char *name = catalog_str(o, "name"), *src = catalog_str(o, "source"),
		   *cls = catalog_str(o, "classification"), *opt = catalog_str(o, "options"),
		   *sec = catalog_str(o, "secrets_file");
	struct json_object *ns;

	if (!name || !catalog_name_ok(name)) {
		*why = str_printf("catalog entry %zu: missing or unusable \"name\"", i + 1);
		return -EINVAL;
	}
	if (!src || !cls) {
		*why = str_printf(
			"catalog entry %s: \"source\" and \"classification\" are required", name);
		return -EINVAL;
	}
	b->name = strdup(name);
	b->source = strdup(src);
	b->classification = strdup(cls);
	b->options = opt ? strdup(opt) : NULL;
	b->secrets_file = sec ? strdup(sec) : NULL;
	if (json_object_object_get_ex(o, "namespaces", &ns) &&
	    json_object_is_type(ns, json_type_array)) {
		size_t n = json_object_array_length(ns);

		b->namespaces = calloc(n ? n : 1, sizeof(*b->namespaces));
		for (size_t k = 0; b->namespaces && k < n; k++) {
			struct json_object *x = json_object_array_get_idx(ns, k);

			if (json_object_is_type(x, json_type_string))
				b->namespaces[b->n_namespaces++] =
					strdup(json_object_get_string(x));
		}
	}
	return 0;
}

int catalog_parse(const char *text, struct catalog *c, char **why)
{
	struct json_object *o = json_tokener_parse(text), *list;
	int rc = 0;

	memset(c, 0, sizeof(*c));
	if (!o || !json_object_object_get_ex(o, "buckets", &list) ||
	    !json_object_is_type(list, json_type_array)) {
		*why = strdup("catalog is not JSON of the form {\"buckets\": [...]}");
		json_object_put(o);
		return -EINVAL;
	}
	size_t n = json_object_array_length(list);

	c->buckets = calloc(n ? n : 1, sizeof(*c->buckets));
	if (!c->buckets)
		rc = -ENOMEM;
	for (size_t i = 0; !rc && i < n; i++) {
		struct json_object *e = json_object_array_get_idx(list, i);

		if (!json_object_is_type(e, json_type_object)) {
			*why = str_printf("catalog entry %zu is not an object", i + 1);
			rc = -EINVAL;
			break;
		}
		rc = catalog_bucket_parse(e, i, &c->buckets[c->n], why);
		c->n++;
		for (size_t k = 0; !rc && k + 1 < c->n; k++)
			if (!strcmp(c->buckets[k].name, c->buckets[c->n - 1].name)) {
				*why = str_printf("catalog names %s twice", c->buckets[k].name);
				rc = -EINVAL;
			}
	}
	json_object_put(o);
	if (rc)
		catalog_free(c);
	return rc;
}

void catalog_free(struct catalog *c)
{
	for (size_t i = 0; i < c->n; i++) {
		struct catalog_bucket *b = &c->buckets[i];

		free(b->name);
		free(b->source);
		free(b->classification);
		free(b->options);
		free(b->secrets_file);
		for (size_t k = 0; k < b->n_namespaces; k++)
			free(b->namespaces[k]);
		free(b->namespaces);
	}
	free(c->buckets);
	memset(c, 0, sizeof(*c));
}

bool catalog_namespace_ok(const struct catalog_bucket *b, const char *ns)
{
	for (size_t i = 0; i < b->n_namespaces; i++)
		if (!strcmp(b->namespaces[i], "*") || !strcmp(b->namespaces[i], ns))
			return true;
	return false;
}

int catalog_load(struct plugin *p, const char *name, struct catalog *c, char **why)
{
	const struct catalog_conf *conf = NULL;
	char *text = NULL;
	int rc;

	for (size_t i = 0; i < p->n_catalogs; i++)
		if (!strcmp(p->catalogs[i].name, name))
			conf = &p->catalogs[i];
	if (!conf) {
		*why = str_printf("no catalog named %s is configured", name);
		return -ENOENT;
	}
	if (!strncmp(conf->location, "configmap:", 10)) {
		char ns[254], cm[254], key[254];

		if (sscanf(conf->location + 10, "%253[^/]/%253[^/]/%253s", ns, cm, key) != 3) {
			*why = str_printf("catalog %s: expected configmap:NAMESPACE/NAME/KEY",
					  name);
			return -EINVAL;
		}
		rc = kube_configmap_value(&p->kube, ns, cm, key, &text, why);
	} else {
		rc = creds_read_secret_file(conf->location, "catalog", false, &text, why);
		if (rc == -ENOENT)
			*why = str_printf("catalog %s: no file %s", name, conf->location);
	}
	if (rc)
		return rc;
	rc = catalog_parse(text, c, why);
	free(text);
	return rc;
}

/* STATE/catalog/<key of target>[/SUFFIX] */
static char *catalog_dir(const struct plugin *p, const struct volrec *r, const char *suffix)
{
	char *key = volstate_key(r->target_path), *dir = NULL;

	if (key)
		dir = str_printf("%s/catalog/%s%s", p->state_dir, key, suffix);
	free(key);
	return dir;
}

/* The view file: "NAME\tro", "NAME\trw" per bucket shown, "NAME\tno" per
 * bucket denied (so a decision is logged once, when it changes). */
enum catalog_access { CATALOG_NO, CATALOG_RO, CATALOG_RW };
static const char *const catalog_access_names[] = {"no", "ro", "rw"};

struct catalog_view {
	char **names;
	enum catalog_access *access;
	size_t n;
};

static void catalog_view_free(struct catalog_view *v)
{
	for (size_t i = 0; i < v->n; i++)
		free(v->names[i]);
	free(v->names);
	free(v->access);
	memset(v, 0, sizeof(*v));
}

static int catalog_view_add(struct catalog_view *v, const char *name, enum catalog_access a)
{
	char **names = realloc(v->names, (v->n + 1) * sizeof(*names));
	enum catalog_access *access =
		names ? realloc(v->access, (v->n + 1) * sizeof(*access)) : NULL;

	if (names)
		v->names = names;
	if (!access)
		return -ENOMEM;
	v->access = access;
	if (!(v->names[v->n] = strdup(name)))
		return -ENOMEM;
	v->access[v->n++] = a;
	return 0;
}

static int catalog_view_find(const struct catalog_view *v, const char *name)
{
	for (size_t i = 0; i < v->n; i++)
		if (!strcmp(v->names[i], name))
			return (int)i;
	return -1;
}

static void catalog_view_read(const char *path, struct catalog_view *v)
{
	FILE *f = fopen(path, "re");
	char line[512];

	memset(v, 0, sizeof(*v));
	while (f && fgets(line, sizeof(line), f)) {
		char *tab = strchr(line, '\t');

		if (!tab)
			continue;
		*tab = '\0';
		for (int a = CATALOG_NO; a <= CATALOG_RW; a++)
			if (!strncmp(tab + 1, catalog_access_names[a], 2))
				catalog_view_add(v, line, (enum catalog_access)a);
	}
	if (f)
		fclose(f);
}

static int catalog_view_write(const char *path, const struct catalog_view *v)
{
	char *tmp = str_printf("%s.tmp", path);
	FILE *f = tmp ? fopen(tmp, "we") : NULL;
	int rc = 0;

	if (!f) {
		free(tmp);
		return -errno;
	}
	for (size_t i = 0; i < v->n; i++)
		fprintf(f, "%s\t%s\n", v->names[i], catalog_access_names[v->access[i]]);
	if (fclose(f) || rename(tmp, path))
		rc = -errno;
	free(tmp);
	return rc;
}

/* KEY=VALUE lines of a bucket's secrets file. */
static int catalog_secrets(const char *path, struct kv **out, size_t *n, char **why)
{
	char *text = NULL, *save = NULL;
	int rc = creds_read_secret_file(path, "secrets file", true, &text, why);

	*out = NULL;
	*n = 0;
	if (rc) {
		if (rc == -ENOENT)
			*why = str_printf("no secrets file %s", path);
		return rc;
	}
	for (char *l = strtok_r(text, "\n", &save); l && !rc; l = strtok_r(NULL, "\n", &save)) {
		char *eq = strchr(l, '=');

		if (!eq || *l == '#')
			continue;
		*eq = '\0';
		if (!plugin_secret_key_ok(l)) {
			*why = str_printf("secrets file %s: unknown key %s", path, l);
			rc = -EINVAL;
			break;
		}
		struct kv *grown = realloc(*out, (*n + 1) * sizeof(*grown));

		if (!grown) {
			rc = -ENOMEM;
			break;
		}
		*out = grown;
		grown[*n].key = strdup(l);
		grown[*n].value = strdup(eq + 1);
		(*n)++;
	}
	explicit_bzero(text, strlen(text));
	free(text);
	return rc;
}

static void catalog_secrets_free(struct kv *s, size_t n)
{
	struct volrec r = {.secrets = s, .n_secrets = n};

	volrec_free(&r);
}

static int catalog_mount_bucket(struct plugin *p, const struct catalog_bucket *b, const char *mp,
				bool ro, char **why)
{
	struct kv *secrets = NULL;
	size_t n = 0;
	char *opts;
	int rc;

	if (b->secrets_file && (rc = catalog_secrets(b->secrets_file, &secrets, &n, why)))
		return rc;
	opts = str_printf("%s%s%s", ro ? "ro" : "rw", b->options ? "," : "",
			  b->options ? b->options : "");
	rc = fsutil_mkdir_p(mp);
	if (!rc && opts)
		rc = plugin_mount_bucket(p, b->source, mp, opts, secrets, n, why);
	else if (!rc)
		rc = -ENOMEM;
	free(opts);
	catalog_secrets_free(secrets, n);
	return rc;
}

static void catalog_drop_bucket(const char *mp)
{
	char *why = NULL;

	if (mounts_unmount(mp, &why))
		log_err("csi: %s", why);
	else
		rmdir(mp);
	free(why);
}

int catalog_reconcile(struct plugin *p, const struct volrec *r, char **why)
{
	char *base = catalog_dir(p, r, ""), *view_path = catalog_dir(p, r, "/view");
	struct catalog_view prev, next = {0};
	struct catalog c;
	int pod_rank = levels_rank(&p->levels, r->pod_level ? r->pod_level : ""), rc;

	if (!base || !view_path) {
		rc = -ENOMEM;
		goto out_paths;
	}
	rc = catalog_load(p, r->catalog, &c, why);
	if (rc)
		goto out_paths;
	catalog_view_read(view_path, &prev);
	for (size_t i = 0; i < c.n; i++) {
		const struct catalog_bucket *b = &c.buckets[i];
		int rank = levels_rank(&p->levels, b->classification), was;
		enum policy_access a;
		enum catalog_access now;
		char *mp, *mwhy = NULL;
		bool ro;

		if (!catalog_namespace_ok(b, r->pod_namespace))
			continue;
		if (rank < 0) {
			log_warn("csi: catalog %s: bucket %s has classification %s, not a "
				 "configured "
				 "level: not shown",
				 r->catalog, b->name, b->classification);
			continue;
		}
		a = policy_decide(pod_rank, rank);
		ro = a == POLICY_READ_ONLY || r->read_only;
		now = a == POLICY_DENY ? CATALOG_NO : ro ? CATALOG_RO : CATALOG_RW;
		was = catalog_view_find(&prev, b->name);
		if (was < 0 || prev.access[was] != now)
			log_notice("csi: volume %s pod %s/%s (%s): catalog bucket %s (%s): %s%s",
				   r->volume_id, r->pod_namespace, r->pod_name, r->pod_level,
				   b->name, b->classification, policy_describe(a),
				   a == POLICY_AS_ASKED && ro ? ", read-only volume" : "");
		if (now == CATALOG_NO) {
			if ((rc = catalog_view_add(&next, b->name, now)))
				break;
			continue;
		}
		mp = str_printf("%s/b/%s", base, b->name);
		if (!mp) {
			rc = -ENOMEM;
			break;
		}
		if (was < 0 || prev.access[was] != now || mounts_is_stale(mp) ||
		    !mounts_is_mounted(mp)) {
			if (mounts_is_mounted(mp))
				catalog_drop_bucket(mp);
			if (catalog_mount_bucket(p, b, mp, ro, &mwhy)) {
				log_err("csi: volume %s: catalog bucket %s: %s", r->volume_id,
					b->name, mwhy ? mwhy : "cannot mount");
				free(mwhy);
				free(mp);
				continue;
			}
		}
		free(mp);
		if ((rc = catalog_view_add(&next, b->name, now)))
			break;
	}
	/* Show the new view before unmounting what left it. */
	if (!rc && (rc = catalog_view_write(view_path, &next)))
		*why = str_printf("cannot write %s: %s", view_path, strerror(-rc));
	for (size_t i = 0; !rc && i < prev.n; i++) {
		int now = catalog_view_find(&next, prev.names[i]);

		if (prev.access[i] == CATALOG_NO || (now >= 0 && next.access[now] != CATALOG_NO))
			continue;
		char *mp = str_printf("%s/b/%s", base, prev.names[i]);

		log_notice("csi: volume %s: catalog bucket %s is no longer shown", r->volume_id,
			   prev.names[i]);
		if (mp)
			catalog_drop_bucket(mp);
		free(mp);
	}
	catalog_view_free(&prev);
	catalog_view_free(&next);
	catalog_free(&c);
out_paths:
	free(base);
	free(view_path);
	return rc;
}

int catalog_mount(struct plugin *p, const struct volrec *r, char **why)
{
	char *base = catalog_dir(p, r, ""), *buckets = catalog_dir(p, r, "/b");
	int rc = -ENOMEM;

	if (base && buckets && !(rc = fsutil_mkdir_p(buckets)) &&
	    !(rc = catalog_reconcile(p, r, why))) {
		char *argv[] = {(char *)p->self, "view", base, r->target_path, NULL};
		char **env = plugin_env(p, NULL, 0);

		rc = env ? mounts_run(argv, env, why) : -ENOMEM;
		plugin_env_free(env);
	}
	free(base);
	free(buckets);
	return rc;
}

int catalog_unmount(struct plugin *p, const struct volrec *r, char **why)
{
	char *base = catalog_dir(p, r, ""), *buckets = catalog_dir(p, r, "/b");
	char *view = catalog_dir(p, r, "/view");
	DIR *d;
	struct dirent *e;
	int rc = mounts_unmount(r->target_path, why);

	if (rc || !base || !buckets || !view)
		goto out;
	/* Every bucket mount left under the volume, shown or not. */
	d = opendir(buckets);
	while (d && (e = readdir(d))) {
		if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
			continue;
		char *mp = str_printf("%s/%s", buckets, e->d_name);

		if (mp)
			catalog_drop_bucket(mp);
		free(mp);
	}
	if (d)
		closedir(d);
	unlink(view);
	rmdir(buckets);
	rmdir(base);
out:
	free(base);
	free(buckets);
	free(view);
	return rc;
}

static int catalog_watch_one(void *ctx, struct volrec *r)
{
	struct plugin *p = ctx;
	char *why = NULL;

	if (!r->catalog || !plugin_begin(p, r->volume_id))
		return 0;
	if (plugin_heal(p, r, &why))
		log_err("csi: volume %s: catalog %s: %s", r->volume_id, r->catalog,
			why ? why : "cannot update the view");
	plugin_end(p, r->volume_id);
	free(why);
	return 0;
}

static void *catalog_watch_thread(void *arg)
{
	struct plugin *p = arg;

	pthread_mutex_lock(&p->lock);
	while (!p->stopping) {
		struct timespec t;

		clock_gettime(CLOCK_REALTIME, &t);
		t.tv_sec += p->catalog_interval;
		if (pthread_cond_timedwait(&p->wake, &p->lock, &t) != ETIMEDOUT)
			continue;
		pthread_mutex_unlock(&p->lock);
		volstate_each(p->state_dir, catalog_watch_one, p);
		pthread_mutex_lock(&p->lock);
	}
	pthread_mutex_unlock(&p->lock);
	return NULL;
}

int catalog_watch_start(struct plugin *p)
{
	int rc = pthread_create(&p->watcher, NULL, catalog_watch_thread, p);

	p->watching = !rc;
	return -rc;
}

void catalog_watch_stop(struct plugin *p)
{
	if (!p->watching)
		return;
	pthread_mutex_lock(&p->lock);
	p->stopping = true;
	pthread_cond_broadcast(&p->wake);
	pthread_mutex_unlock(&p->lock);
	pthread_join(p->watcher, NULL);
	p->watching = false;
}
