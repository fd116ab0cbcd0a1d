/*
 * bucketfs: parse options, find credentials, check the bucket, stack the
 * layers (S3 store -> cache -> fs), mount, serve, and on the way out upload
 * what is pending. Every failure before the mount is one line on stderr
 * and exit status 1, and leaves nothing mounted.
 */
#include <curl/curl.h>
#include <errno.h>
#include <fuse_lowlevel.h>
#include <libxml/parser.h>
#include <signal.h>
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cache.h"
#include "config.h"
#include "fs.h"
#include "fuse_workers.h"
#include "log.h"
#include "metrics.h"
#include "options.h"
#include "presign.h"
#include "store_open.h"

/* FUSE workers: enough for many requests waiting on the network at once;
 * a few stay idle between bursts (each holds a 1 MiB request buffer). */
#define MAX_WORKERS  32
#define IDLE_WORKERS 8

static int fail(const char *why)
{
	fprintf(stderr, "bucketfs: %s\n", why);
	return 1;
}

static int check_mountpoint(const char *path, char **why)
{
	struct stat st;
	char msg[4200];
	int rc = 0;

	if (stat(path, &st))
		rc = -errno;
	else if (!S_ISDIR(st.st_mode))
		rc = -ENOTDIR;
	if (rc) {
		snprintf(msg, sizeof(msg), "mountpoint %s: %s", path, strerror(-rc));
		*why = strdup(msg);
	}
	return rc;
}

static int serve(struct bfs_options *opts, struct fs *fs, struct cache *cache)
{
	struct buf summary;
	struct fuse_session *se;
	int rc = 1;

	se = fuse_session_new(&opts->fuse_args, &fs_ops, sizeof(fs_ops), fs);
	if (!se)
		return fail("cannot create the FUSE session (see the message above)");
	if (fuse_set_signal_handlers(se)) {
		fail("cannot install signal handlers");
		goto out_destroy;
	}
	if (fuse_session_mount(se, opts->mountpoint)) {
		fail("mount failed (see the message above)");
		goto out_signals;
	}
	log_info("mounted %s on %s", opts->source, opts->mountpoint);
	if (fuse_daemonize(opts->foreground)) {
		fail("cannot go to the background");
		goto out_unmount;
	}
	/* stderr is /dev/null once in the background. */
	if (!opts->foreground)
		log_init(opts->log_level, false);
	if (metrics_start_thread())
		log_err("cannot start the metrics endpoint");
	if (cache_start_recovery(cache))
		log_err("cannot look for data an earlier run left unsent in the staging dir");
	if (opts->single_thread) {
		rc = fuse_session_loop(se);
	} else {
		rc = fuse_workers_run(se, MAX_WORKERS, IDLE_WORKERS);
	}
	/* A signal is how we are asked to stop: not a failure in itself. */
	rc = (rc && rc != SIGTERM && rc != SIGINT && rc != SIGHUP) ? 1 : 0;
out_unmount:
	fuse_session_unmount(se);
out_signals:
	fuse_remove_signal_handlers(se);
out_destroy:
	/* Runs the destroy op, which uploads what is still pending. */
	fuse_session_destroy(se);
	if (fs_failed_at_exit(fs))
		rc = 1;
	summary = (struct buf){0};
	buf_init(&summary, 4096);
	if (!metrics_summary(&summary))
		log_msg(LOG_NOTICE, "unmounted %s: %s", opts->source, summary.data);
	buf_free(&summary);
	return rc;
}

int main(int argc, char **argv)
{
	struct bfs_options opts;
	struct http_conf http = {0};
	struct cache_conf kconf = {0};
	struct fs_conf fconf = {0};
	struct store *store = NULL;
	struct cache *cache = NULL;
	struct fs *fs = NULL;
	char *why = NULL, *store_id = NULL;
	int rc = 1;

	/* Block-sized buffers come and go on many threads: a fixed mmap
	 * threshold hands them back to the system when freed (glibc would
	 * otherwise raise it and keep them in per-thread arenas), and few
	 * arenas keep fragmentation down, so memory stays near cache_size. */
	mallopt(M_MMAP_THRESHOLD, 256 << 10);
	mallopt(M_ARENA_MAX, 4);
	if (argc > 1 && !strcmp(argv[1], "presign"))
		return presign_main(argc - 1, argv + 1);
	if (options_parse(argc, argv, &opts, &why)) {
		fprintf(stderr, "bucketfs: %s (see bucketfs --help)\n", why);
		free(why);
		options_free(&opts);
		return 1;
	}
	if (opts.show_help) {
		options_print_help(stdout, "bucketfs");
		options_free(&opts);
		return 0;
	}
	if (opts.show_version) {
		printf("bucketfs %s\nFUSE library %s\n", PACKAGE_VERSION, fuse_pkgversion());
		options_free(&opts);
		return 0;
	}
	/* Until mounted, a failure is one line: the detail behind it (each
	 * retry, each HTTP answer) shows only at log_level=info or debug. */
	log_init(opts.log_level >= LOG_INFO ? opts.log_level : LOG_ERR, true);

	if (check_mountpoint(opts.mountpoint, &why))
		goto out_why;

	if (curl_global_init(CURL_GLOBAL_DEFAULT)) {
		why = strdup("cannot initialise libcurl");
		goto out_why;
	}
	xmlInitParser();
	store_open_http_conf(&opts, &http);
	store = store_open(&opts, &http, &store_id, &why);
	if (!store)
		goto out_why;
	if (opts.no_verify_ssl)
		log_warn("TLS certificate verification is off (no_verify_ssl)");
	if (store->ops->probe(store, opts.prefix, &why))
		goto out_why;

	kconf.staging_dir = opts.staging_dir;
	kconf.store_id = store_id;
	kconf.multipart_threshold = opts.multipart_threshold;
	kconf.part_size = opts.part_size;
	kconf.upload_threads = opts.upload_threads;
	kconf.cache_size = opts.cache_size;
	kconf.block_size = opts.block_size;
	kconf.readahead_max = opts.readahead_max;
	kconf.fetch_threads = opts.fetch_threads;
	kconf.cache_dir = opts.cache_dir;
	kconf.cache_disk_size = opts.cache_disk_size;
	if (cache_create(store, &kconf, &cache, &why))
		goto out_why;
	if (opts.metrics && metrics_serve(opts.metrics, &why))
		goto out_why;

	fconf.prefix = opts.prefix;
	fconf.uid = opts.uid;
	fconf.gid = opts.gid;
	fconf.force_uid = opts.has_uid;
	fconf.force_gid = opts.has_gid;
	fconf.file_mode = opts.file_mode ? opts.file_mode : 0666 & ~opts.umask;
	fconf.dir_mode = opts.dir_mode ? opts.dir_mode : 0777 & ~opts.umask;
	fconf.read_only = opts.read_only;
	fconf.stat_ttl = opts.stat_ttl;
	fconf.list_ttl = opts.list_ttl;
	fconf.list_attrs = opts.list_attrs;
	fconf.async_close = opts.async_close;
	fconf.upload_threads = opts.upload_threads;
	fconf.url_expires = opts.url_expires;
	log_init(opts.log_level, true);
	fs = fs_create(cache, &fconf);
	if (!fs) {
		why = strdup("out of memory");
		goto out_why;
	}
	rc = serve(&opts, fs, cache);
	goto out;

out_why:
	fail(why ? why : "unknown error");
	rc = 1;
out:
	free(why);
	fs_destroy(fs);
	cache_destroy(cache);
	free(store_id);
	if (store)
		store->ops->destroy(store);
	metrics_stop();
	options_free(&opts);
	xmlCleanupParser();
	curl_global_cleanup();
	return rc;
}
