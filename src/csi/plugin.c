/* Per-volume exclusion, the daemon's environment, mounting and healing. */
#include "plugin.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <uthash.h>

#include "buf.h"
#include "catalog.h"
#include "log.h"
#include "mounts.h"

struct plugin_busy {
	UT_hash_handle hh;
	char id[];
};

bool plugin_begin(struct plugin *p, const char *volume_id)
{
	struct plugin_busy *b;
	size_t n = strlen(volume_id);

	pthread_mutex_lock(&p->lock);
	HASH_FIND(hh, p->busy, volume_id, n, b);
	if (!b && (b = calloc(1, sizeof(*b) + n + 1))) {
		memcpy(b->id, volume_id, n + 1);
		HASH_ADD(hh, p->busy, id, n, b);
		pthread_mutex_unlock(&p->lock);
		return true;
	}
	pthread_mutex_unlock(&p->lock);
	return false;
}

void plugin_end(struct plugin *p, const char *volume_id)
{
	struct plugin_busy *b;

	pthread_mutex_lock(&p->lock);
	HASH_FIND(hh, p->busy, volume_id, strlen(volume_id), b);
	if (b) {
		HASH_DEL(p->busy, b);
		free(b);
	}
	pthread_mutex_unlock(&p->lock);
}

static const char *const plugin_secret_keys[] = {
	"AWS_ACCESS_KEY_ID",
	"AWS_SECRET_ACCESS_KEY",
	"AWS_SESSION_TOKEN",
	"AZURE_STORAGE_ACCOUNT",
	"AZURE_STORAGE_KEY",
	"AZURE_STORAGE_SAS_TOKEN",
	"AZURE_STORAGE_CONNECTION_STRING",
	"AZURE_CLIENT_ID",
	"AZURE_TENANT_ID",
	"AZURE_CLIENT_SECRET",
};

bool plugin_secret_key_ok(const char *key)
{
	for (size_t i = 0; i < sizeof(plugin_secret_keys) / sizeof(*plugin_secret_keys); i++)
		if (!strcmp(key, plugin_secret_keys[i]))
			return true;
	return false;
}

/* What the daemon may inherit from us: never our own cloud identity (a
 * volume without secrets must not borrow the plugin's), only what makes
 * it run, and the sanitizers' settings of a test build. */
static const char *const plugin_inherit[] = {"PATH", "TZ", "ASAN_OPTIONS", "UBSAN_OPTIONS",
					     "LSAN_OPTIONS"};

char **plugin_env(const struct plugin *p, const struct kv *secrets, size_t n_secrets)
{
	size_t n_inherit = sizeof(plugin_inherit) / sizeof(*plugin_inherit), n = 0;
	char **env = calloc(n_inherit + n_secrets + 2, sizeof(*env));

	if (!env)
		return NULL;
	for (size_t i = 0; i < n_inherit; i++) {
		const char *v = getenv(plugin_inherit[i]);

		if (v && !(env[n++] = str_printf("%s=%s", plugin_inherit[i], v)))
			goto nomem;
	}
	/* An empty home: no shared AWS or Azure files of the node's. */
	if (!(env[n++] = str_printf("HOME=%s/home", p->state_dir)))
		goto nomem;
	for (size_t i = 0; i < n_secrets; i++)
		if (!(env[n++] = str_printf("%s=%s", secrets[i].key, secrets[i].value)))
			goto nomem;
	return env;
nomem:
	plugin_env_free(env);
	return NULL;
}

void plugin_env_free(char **env)
{
	if (!env)
		return;
	for (char **e = env; *e; e++) {
		explicit_bzero(*e, strlen(*e));
		free(*e);
	}
	free(env);
}

int plugin_mount_bucket(const struct plugin *p, const char *source, const char *target,
			const char *options, const struct kv *secrets, size_t n_secrets, char **why)
{
	char *argv[] = {
		(char *)p->bucketfs, (char *)source, (char *)target, "-o", (char *)options, NULL};
	char **env = plugin_env(p, secrets, n_secrets);
	int rc;

	if (!env)
		return -ENOMEM;
	rc = mounts_run(argv, env, why);
	plugin_env_free(env);
	return rc;
}

int plugin_heal(struct plugin *p, const struct volrec *r, char **why)
{
	bool stale = mounts_is_stale(r->target_path);

	/* The pod is gone while we were away: its unpublish cleans up. */
	if (!stale && access(r->target_path, F_OK))
		return 0;
	if (!stale && mounts_is_mounted(r->target_path))
		return r->catalog ? catalog_reconcile(p, r, why) : 0;
	log_notice("csi: volume %s at %s is %s: mounting it again", r->volume_id, r->target_path,
		   stale ? "stale (its daemon is gone)" : "not mounted");
	if (stale && mounts_unmount(r->target_path, why))
		return -EIO;
	if (r->catalog)
		return catalog_mount(p, r, why);
	return plugin_mount_bucket(p, r->source, r->target_path, r->options, r->secrets,
				   r->n_secrets, why);
}

static int plugin_heal_one(void *ctx, struct volrec *r)
{
	struct plugin *p = ctx;
	char *why = NULL;

	if (!plugin_begin(p, r->volume_id))
		return 0;
	if (plugin_heal(p, r, &why))
		log_err("csi: volume %s at %s: cannot mount it again: %s", r->volume_id,
			r->target_path, why ? why : "unknown error");
	plugin_end(p, r->volume_id);
	free(why);
	return 0;
}

void plugin_heal_all(struct plugin *p)
{
	volstate_each(p->state_dir, plugin_heal_one, p);
}
