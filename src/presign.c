/*
 * bucketfs presign (see presign.h). Every failure is one line on stderr
 * and exit status 1; the URL alone goes to stdout.
 */
#include "presign.h"

#include <curl/curl.h>
#include <errno.h>
#include <libxml/parser.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/xattr.h>

#include "log.h"
#include "options.h"
#include "store_open.h"

#define MAX_DURATION_S	(366ULL * 86400)
#define DEFAULT_EXPIRES 3600
#define URL_MAX		(64u << 10)

static int fail(const char *fmt, const char *arg)
{
	fputs("bucketfs presign: ", stderr);
	fprintf(stderr, fmt, arg);
	fputc('\n', stderr);
	return 1;
}

/* A file in a mount: its daemon signs. */
static int presign_path(const char *path, const char *expires_arg, bool put, uint64_t expires)
{
	char name[128], *url;
	ssize_t n;

	snprintf(name, sizeof(name), PRESIGN_XATTR_PREFIX "%s.%llu", put ? "put" : "get",
		 (unsigned long long)expires);
	url = malloc(URL_MAX);
	if (!url)
		return fail("%s", "out of memory");
	n = getxattr(path, name, url, URL_MAX - 1);
	if (n < 0) {
		int e = errno;

		free(url);
		if (e == EINVAL)
			return fail("--expires %s is beyond what the store allows (7 days for S3)",
				    expires_arg);
		if (e == ENOTSUP)
			return fail("%s: the mount's credentials cannot sign URLs (anonymous, a "
				    "SAS, or Entra ID)",
				    path);
		if (e == EISDIR)
			return fail("%s is a directory: URLs are for files", path);
		if (e == ENODATA)
			return fail("%s is not a file in a bucketfs mount (nor an s3:// or az:// "
				    "URL)",
				    path);
		fprintf(stderr, "bucketfs presign: %s: %s\n", path, strerror(e));
		return 1;
	}
	url[n] = '\0';
	puts(url);
	free(url);
	return 0;
}

/* An s3:// or az:// URL: sign here, as a mount would. */
static int presign_url(const char *target, const char *mount_opts, bool put, uint64_t expires,
		       const char *expires_arg)
{
	char *args[] = {"bucketfs", (char *)target, "/", "-o", (char *)mount_opts, NULL};
	struct bfs_options opts;
	struct http_conf http;
	struct store *store = NULL;
	char *why = NULL, *id = NULL, *url = NULL, *key;
	int rc = 1;

	if (options_parse(mount_opts ? 5 : 3, args, &opts, &why)) {
		rc = fail("%s", why ? why : "bad arguments");
		goto out;
	}
	key = opts.prefix;
	if (!*key) {
		rc = fail("%s names no object: give BUCKET/KEY", target);
		goto out;
	}
	key[strlen(key) - 1] = '\0';
	if (curl_global_init(CURL_GLOBAL_DEFAULT)) {
		rc = fail("%s", "cannot initialise libcurl");
		goto out;
	}
	xmlInitParser();
	store_open_http_conf(&opts, &http);
	store = store_open(&opts, &http, &id, &why);
	if (!store) {
		rc = fail("%s", why ? why : "cannot open the store");
	} else if (!store->ops->presign) {
		rc = fail("%s", "this store cannot sign URLs");
	} else {
		rc = store->ops->presign(store, key, put, (unsigned int)expires, &url, &why);
		if (rc == -EINVAL && !why)
			rc = fail("--expires %s is beyond what the store allows", expires_arg);
		else if (rc)
			rc = fail("%s", why ? why : strerror(-rc));
		else
			puts(url);
	}
	if (store)
		store->ops->destroy(store);
	xmlCleanupParser();
	curl_global_cleanup();
out:
	free(url);
	free(id);
	free(why);
	options_free(&opts);
	return rc ? 1 : 0;
}

static void usage(FILE *out)
{
	fputs("usage: bucketfs presign TARGET [--put] [--expires DURATION] [-o OPTION,...]\n"
	      "\n"
	      "Print a URL that lets anyone GET (with --put: PUT) one object until it expires.\n"
	      "TARGET is a file in a bucketfs mount (its daemon signs with its credentials),\n"
	      "or s3://BUCKET/KEY or az://CONTAINER/BLOB (signed here with the credentials a\n"
	      "mount would use; -o takes mount options such as endpoint=, region=, creds=).\n"
	      "DURATION: seconds, or a number with s, m, h or d; default 1h; at most 7d for S3.\n",
	      out);
}

int presign_main(int argc, char **argv)
{
	const char *target = NULL, *expires_arg = "1h", *mount_opts = NULL;
	uint64_t expires = DEFAULT_EXPIRES;
	bool put = false;

	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--put")) {
			put = true;
		} else if (!strcmp(argv[i], "--expires") && i + 1 < argc) {
			expires_arg = argv[++i];
			if (options_parse_duration(expires_arg, MAX_DURATION_S, &expires))
				return fail("--expires %s: give seconds, or a number with s, m, h "
					    "or d",
					    expires_arg);
		} else if (!strcmp(argv[i], "-o") && i + 1 < argc) {
			mount_opts = argv[++i];
		} else if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
			usage(stdout);
			return 0;
		} else if (argv[i][0] == '-' || target) {
			return fail("unexpected argument '%s' (see bucketfs presign --help)",
				    argv[i]);
		} else {
			target = argv[i];
		}
	}
	if (!target)
		return fail("%s", "missing TARGET (see bucketfs presign --help)");
	log_init(LOG_ERR, true);
	if (!strncmp(target, "s3://", 5) || !strncmp(target, "az://", 5))
		return presign_url(target, mount_opts, put, expires, expires_arg);
	return presign_path(target, expires_arg, put, expires);
}
