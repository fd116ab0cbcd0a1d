/*
 * Command line and mount options. Parsing is pure (no I/O but reading the
 * arguments) so that it can be unit tested and fuzzed; main.c acts on the
 * result. Everything FUSE itself understands is passed through in
 * opts->fuse_args; mount(8)/fstab generic options that mean nothing to a
 * FUSE daemon (auto, noauto, nofail, _netdev, x-systemd.*, comment=, ...)
 * are accepted and dropped; anything else unknown is an error naming it.
 */
#ifndef BUCKETFS_OPTIONS_H
#define BUCKETFS_OPTIONS_H

#include <fuse_lowlevel.h>
#include <stdio.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

enum bfs_backend { BFS_BACKEND_S3 = 0, BFS_BACKEND_AZURE };

/* -o azure_identity=: which Microsoft Entra ID sources may be used. */
enum bfs_azure_identity {
	BFS_AZURE_IDENTITY_AUTO = 0, /* workload identity, service principal */
	BFS_AZURE_IDENTITY_MSI,	     /* those, then managed identity (IMDS) */
	BFS_AZURE_IDENTITY_NONE,
};

struct bfs_options {
	/* SOURCE, split. "s3://bucket/some/prefix" gives bucket "bucket" and
	 * prefix "some/prefix/" (always ending in '/', or "" for the root);
	 * "az://container/prefix" and "https://ACCOUNT.blob.core.windows.net/
	 * container/prefix[?SAS]" the same for Azure (bucket is the container;
	 * a SAS is moved from source to sas). */
	enum bfs_backend backend;
	char *source; /* as given */
	char *bucket;
	char *prefix;
	char *mountpoint;

	/* Store. */
	char *endpoint; /* "http://127.0.0.1:9000"; NULL means AWS for the region */
	char *region;	/* default "us-east-1" (or AWS_REGION / AWS_DEFAULT_REGION) */
	int path_style; /* 1 path-style, 0 virtual-hosted, -1 not said: path-style
			   when an endpoint is given, else virtual-hosted */
	char *cafile;
	bool no_verify_ssl;
	char *profile;
	char *passwd_file;
	int creds_pin; /* -o creds=: an enum aws_creds_pin; 0 (auto) by default */
	bool requester_pays;
	char *sse; /* "AES256" or "aws:kms" */
	char *sse_kms_key_id;
	char *sse_c_key_file;
	char *storage_class;
	char *account;		      /* Azure storage account (-o account=, or the URL's) */
	char *key_file;		      /* Azure account key file */
	char *sas;		      /* Azure SAS from the SOURCE URL */
	unsigned int retries;	      /* after the first try; default 5 */
	unsigned int connect_timeout; /* seconds; default 10 */
	unsigned int request_timeout; /* seconds without progress; default 60 */
	/* -o azure_identity=; default auto. */
	enum bfs_azure_identity azure_identity;

	/* Writing. */
	uint64_t multipart_threshold; /* default 64 MiB */
	uint64_t part_size;	      /* default 8 MiB */
	unsigned int upload_threads;  /* default 8 */
	bool async_close;	      /* close() returns before the upload */
	char *staging_dir;	      /* default /var/tmp/bucketfs */

	/* Reading. */
	uint64_t cache_size;	    /* memory for cached blocks; default 256 MiB */
	uint64_t block_size;	    /* default 1 MiB */
	uint64_t readahead_max;	    /* default 64 MiB */
	unsigned int fetch_threads; /* default 8 */
	char *cache_dir;	    /* disk tier; NULL for none */
	uint64_t cache_disk_size;   /* default 4 GiB */

	/* Metadata caching, seconds. */
	unsigned int stat_ttl; /* default 1 */
	unsigned int list_ttl; /* default 10 */
	bool list_attrs;       /* attributes from listings alone */

	/* Presigned URLs. */
	unsigned int url_expires; /* seconds user.bucketfs.url lives; default 3600 */

	/* Presentation. */
	bool read_only;
	bool has_uid, has_gid;
	uid_t uid; /* default: the mounting user's */
	gid_t gid;
	mode_t umask;	  /* default 022 */
	mode_t file_mode; /* 0 when not given: 0666 & ~umask */
	mode_t dir_mode;  /* 0 when not given: 0777 & ~umask */
	bool allow_other;

	/* Observability. */
	char *metrics; /* "HOST:PORT" for the Prometheus endpoint, NULL for none */

	/* Process. */
	bool foreground;    /* -f */
	bool debug;	    /* -d: foreground and debug logging */
	bool single_thread; /* -s */
	int log_level;	    /* syslog level; default LOG_NOTICE, -o log_level=debug|info|... */
	bool show_help;
	bool show_version;

	/* What is handed to FUSE: argv[0], then -o options it understands
	 * (allow_other, fsname=, subtype=, ro, default_permissions, ...). */
	struct fuse_args fuse_args;
};

/* Parse argv. Returns 0, or -EINVAL with a one-line message in *why
 * ("unknown option 'foo'", "missing MOUNTPOINT", ...). Also accepts the
 * forms mount.fuse3 produces: "bucketfs#s3://bkt" is not passed to us, but
 * "bucketfs SOURCE MOUNTPOINT -o rw,dev,suid,opts". Defaults are filled in;
 * sizes take K/M/G suffixes (powers of 1024). */
int options_parse(int argc, char **argv, struct bfs_options *opts, char **why);

/* Split a SOURCE ("s3://bucket[/prefix]") into opts->bucket and
 * opts->prefix. -EINVAL with *why when malformed. */
int options_parse_source(struct bfs_options *opts, const char *source, char **why);

/* Parse "3600", "90s", "15m", "12h", "7d" into seconds. -EINVAL if
 * malformed, zero or over max. */
int options_parse_duration(const char *s, uint64_t max, uint64_t *out);

/* Parse "16M", "1G", "4096" into bytes. -EINVAL if malformed. */
int options_parse_size(const char *s, uint64_t *out);

/* The --help text (every option, one per line with its meaning). */
void options_print_help(FILE *out, const char *progname);

void options_free(struct bfs_options *opts);

#endif
