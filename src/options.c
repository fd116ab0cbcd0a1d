/*
 * Command line parsing. Done by hand rather than with fuse_opt so that
 * every -o option is classified exactly once: ours, FUSE's (passed on),
 * a mount(8)/fstab generic that means nothing here (dropped), or unknown
 * (an error naming it). The help text is generated from the same table
 * the parser uses, so the two cannot drift apart.
 */
#include "options.h"

#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <pwd.h>
#include <grp.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <unistd.h>

#include "aws_creds.h"
#include "buf.h"
#include "log.h"

enum opt_kind {
	OPT_STR,     /* char * field */
	OPT_FLAG,    /* bool set true */
	OPT_UINT,    /* unsigned int in [min, max] */
	OPT_SIZE,    /* uint64_t with K/M/G suffix */
	OPT_SPECIAL, /* handled in apply_special() */
};

struct opt_def {
	const char *name; /* with trailing '=' when it takes a value */
	enum opt_kind kind;
	size_t off;
	unsigned long long min, max;
	const char *help_arg; /* "URL", NULL for flags */
	const char *help;
};

#define F(field) offsetof(struct bfs_options, field)

static const struct opt_def opt_defs[] = {
	{"endpoint=", OPT_STR, F(endpoint), 0, 0, "URL",
	 "S3 endpoint (default: AWS for the region, or $AWS_ENDPOINT_URL_S3)"},
	{"region=", OPT_STR, F(region), 0, 0, "NAME",
	 "region used for signing (default $AWS_REGION, else us-east-1)"},
	{"path_style", OPT_SPECIAL, 0, 0, 0, NULL,
	 "path-style addressing: ENDPOINT/BUCKET/KEY (default with endpoint=)"},
	{"use_path_request_style", OPT_SPECIAL, 0, 0, 0, NULL, "same as path_style (s3fs name)"},
	{"virtual_hosted", OPT_SPECIAL, 0, 0, 0, NULL,
	 "virtual-hosted addressing: BUCKET.ENDPOINT/KEY (default for AWS)"},
	{"cafile=", OPT_STR, F(cafile), 0, 0, "FILE", "trust the CA certificates in FILE (PEM)"},
	{"ca_bundle=", OPT_STR, F(cafile), 0, 0, "FILE", "same as cafile="},
	{"no_verify_ssl", OPT_FLAG, F(no_verify_ssl), 0, 0, NULL,
	 "do not verify the server's TLS certificate (unsafe)"},
	{"creds=", OPT_SPECIAL, 0, 0, 0, "SOURCE",
	 "AWS credentials only from SOURCE: env, web-identity, container, profile, process, "
	 "imds, passwd or anonymous (default: the chain, see bucketfs(1))"},
	{"profile=", OPT_STR, F(profile), 0, 0, "NAME", "credentials from this AWS profile"},
	{"passwd_file=", OPT_STR, F(passwd_file), 0, 0, "FILE",
	 "credentials from an s3fs password file (mode 600)"},
	{"requester_pays", OPT_FLAG, F(requester_pays), 0, 0, NULL,
	 "S3: the requester pays (x-amz-request-payer)"},
	{"sse=", OPT_STR, F(sse), 0, 0, "ALG",
	 "S3: encrypt objects written with AES256 (SSE-S3) or aws:kms (SSE-KMS)"},
	{"sse_kms_key_id=", OPT_STR, F(sse_kms_key_id), 0, 0, "ID",
	 "S3: the KMS key of sse=aws:kms"},
	{"sse_c_key_file=", OPT_STR, F(sse_c_key_file), 0, 0, "FILE",
	 "S3: SSE-C with the 32-byte key in FILE (raw or base64, mode 600)"},
	{"storage_class=", OPT_STR, F(storage_class), 0, 0, "CLASS",
	 "S3: storage class of objects written (STANDARD_IA, ...)"},
	{"account=", OPT_STR, F(account), 0, 0, "NAME",
	 "Azure storage account (default $AZURE_STORAGE_ACCOUNT)"},
	{"key_file=", OPT_STR, F(key_file), 0, 0, "FILE", "Azure account key from FILE (mode 600)"},
	{"azure_identity=", OPT_SPECIAL, 0, 0, 0, "WHICH",
	 "Entra ID tokens: auto (default), msi (also managed identity) or none"},
	{"retries=", OPT_UINT, F(retries), 0, 100, "N",
	 "retries of a failed request, with backoff (default 5)"},
	{"connect_timeout=", OPT_UINT, F(connect_timeout), 1, 3600, "SECS",
	 "connection timeout (default 10)"},
	{"request_timeout=", OPT_UINT, F(request_timeout), 1, 86400, "SECS",
	 "abort a request that makes no progress for SECS (default 60)"},
	{"multipart_threshold=", OPT_SIZE, F(multipart_threshold), 5ULL << 20, 5ULL << 40, "SIZE",
	 "upload files past this size in parts, while written (default 64M)"},
	{"part_size=", OPT_SIZE, F(part_size), 5ULL << 20, 5ULL << 30, "SIZE",
	 "size of each uploaded part (default 8M)"},
	{"upload_threads=", OPT_UINT, F(upload_threads), 1, 64, "N",
	 "parts uploaded in parallel, all files together (default 8)"},
	{"async_close", OPT_FLAG, F(async_close), 0, 0, NULL,
	 "close() returns once staged, before the upload (fsync and unmount still wait)"},
	{"staging_dir=", OPT_STR, F(staging_dir), 0, 0, "DIR",
	 "where written files are staged until uploaded (default /var/tmp/bucketfs)"},
	{"cache_size=", OPT_SIZE, F(cache_size), 4ULL << 20, 1ULL << 40, "SIZE",
	 "memory for cached blocks of files read (default 256M)"},
	{"block_size=", OPT_SIZE, F(block_size), 64ULL << 10, 64ULL << 20, "SIZE",
	 "unit of caching and of ranged reads (default 1M)"},
	{"readahead_max=", OPT_SIZE, F(readahead_max), 0, 1ULL << 30, "SIZE",
	 "largest read-ahead of a sequential reader (default 64M)"},
	{"fetch_threads=", OPT_UINT, F(fetch_threads), 1, 64, "N",
	 "parallel read-ahead requests (default 8)"},
	{"cache_dir=", OPT_STR, F(cache_dir), 0, 0, "DIR",
	 "keep blocks evicted from memory in DIR, one mount per DIR (default: none)"},
	{"cache_disk_size=", OPT_SIZE, F(cache_disk_size), 16ULL << 20, 1ULL << 50, "SIZE",
	 "bytes of blocks kept in cache_dir (default 4G)"},
	{"stat_ttl=", OPT_UINT, F(stat_ttl), 0, 86400, "SECS",
	 "how long attributes are trusted before asking the store again (default 1)"},
	{"list_ttl=", OPT_UINT, F(list_ttl), 0, 86400, "SECS",
	 "how long a directory listing answers lookups and readdir (default 10; 0: off)"},
	{"list_attrs", OPT_FLAG, F(list_attrs), 0, 0, NULL,
	 "file sizes and times from listings, no HEAD per file (modes, owners: the mount's)"},
	{"url_expires=", OPT_UINT, F(url_expires), 1, 7 * 86400, "SECS",
	 "how long the URL getfattr -n user.bucketfs.url gives lives (default 3600)"},
	{"uid=", OPT_SPECIAL, 0, 0, 0, "UID", "owner of every file (default: the mounting user)"},
	{"gid=", OPT_SPECIAL, 0, 0, 0, "GID", "group of every file (default: the mounting group)"},
	{"umask=", OPT_SPECIAL, 0, 0, 0, "MASK", "permission bits to clear (octal, default 022)"},
	{"file_mode=", OPT_SPECIAL, 0, 0, 0, "MODE",
	 "mode of files without stored mode (octal, default 0666 & ~umask)"},
	{"dir_mode=", OPT_SPECIAL, 0, 0, 0, "MODE",
	 "mode of directories without stored mode (octal, default 0777 & ~umask)"},
	{"ro", OPT_SPECIAL, 0, 0, 0, NULL, "mount read-only"},
	{"rw", OPT_SPECIAL, 0, 0, 0, NULL, "mount read-write (default)"},
	{"allow_other", OPT_SPECIAL, 0, 0, 0, NULL, "let other users use the mount"},
	{"allow_root", OPT_SPECIAL, 0, 0, 0, NULL, "let root use the mount"},
	{"default_permissions", OPT_SPECIAL, 0, 0, 0, NULL,
	 "kernel checks permissions from the modes (always on)"},
	{"fsname=", OPT_SPECIAL, 0, 0, 0, "NAME", "name shown in mount tables (default SOURCE)"},
	{"subtype=", OPT_SPECIAL, 0, 0, 0, "NAME", "type shown as fuse.NAME (default bucketfs)"},
	{"log_level=", OPT_SPECIAL, 0, 0, 0, "LEVEL",
	 "error, warning, notice (default), info or debug"},
	{"metrics=", OPT_STR, F(metrics), 0, 0, "HOST:PORT",
	 "serve Prometheus metrics over HTTP there"},
	{"debug", OPT_SPECIAL, 0, 0, 0, NULL, "same as -d"},
};

/* Options mount(8), fstab and systemd add that a FUSE daemon ignores. */
static const char *const dropped_opts[] = {
	"dev",	    "nodev",	"suid",	    "nosuid",	     "exec",	    "noexec",
	"atime",    "noatime",	"relatime", "norelatime",    "strictatime", "nodiratime",
	"diratime", "lazytime", "auto",	    "noauto",	     "user",	    "nouser",
	"users",    "owner",	"group",    "nofail",	     "defaults",    "_netdev",
	"async",    "sync",	"dirsync",  "nostrictatime",
};

static const char *const dropped_prefixes[] = {"x-", "comment="};

static char *why_fmt(const char *fmt, const char *arg)
{
	char *s = NULL;

	if (asprintf(&s, fmt, arg) < 0)
		return NULL;
	return s;
}

/* The decimal number s starts with, and where it ends. */
static int leading_number(const char *s, unsigned long long *v, char **end)
{
	if (!s || !isdigit((unsigned char)*s))
		return -EINVAL;
	errno = 0;
	*v = strtoull(s, end, 10);
	return errno ? -EINVAL : 0;
}

int options_parse_duration(const char *s, uint64_t max, uint64_t *out)
{
	static const char units[] = "smhd";
	static const unsigned long long mul[] = {1, 60, 3600, 86400};
	unsigned long long v;
	const char *u;
	char *end;
	size_t i = 0;

	if (leading_number(s, &v, &end))
		return -EINVAL;
	if (*end) {
		u = strchr(units, *end);
		if (!u || end[1])
			return -EINVAL;
		i = (size_t)(u - units);
	}
	if (!v || v > max / mul[i])
		return -EINVAL;
	*out = v * mul[i];
	return 0;
}

int options_parse_size(const char *s, uint64_t *out)
{
	unsigned long long v, mul = 1;
	char *end;

	if (leading_number(s, &v, &end))
		return -EINVAL;
	switch (toupper((unsigned char)*end)) {
	case 'K':
		mul = 1ULL << 10;
		break;
	case 'M':
		mul = 1ULL << 20;
		break;
	case 'G':
		mul = 1ULL << 30;
		break;
	case 'T':
		mul = 1ULL << 40;
		break;
	case '\0':
		break;
	default:
		return -EINVAL;
	}
	if (*end) {
		end++;
		if (*end == 'i' && end[1] == 'B')
			end += 2;
		else if (*end == 'B')
			end++;
	}
	if (*end || (v && mul > ULLONG_MAX / v))
		return -EINVAL;
	*out = v * mul;
	return 0;
}

static int parse_ull(const char *s, int base, unsigned long long *out)
{
	char *end;

	if (!*s || !isdigit((unsigned char)*s))
		return -EINVAL;
	errno = 0;
	*out = strtoull(s, &end, base);
	return errno || *end ? -EINVAL : 0;
}

/* S3 bucket names, loosely (dots and underscores: older buckets have them). */
static bool bucket_name_ok(const char *p, size_t n)
{
	if (n < 3 || n > 255)
		return false;
	for (size_t i = 0; i < n; i++)
		if (!isalnum((unsigned char)p[i]) && p[i] != '-' && p[i] != '.' && p[i] != '_')
			return false;
	return true;
}

/* Azure container names: 3 to 63 lower-case letters, digits and hyphens. */
static bool container_name_ok(const char *p, size_t n)
{
	if (n < 3 || n > 63)
		return false;
	for (size_t i = 0; i < n; i++)
		if (!islower((unsigned char)p[i]) && !isdigit((unsigned char)p[i]) && p[i] != '-')
			return false;
	return true;
}

/*
 * "https://ACCOUNT.blob.core.windows.net/CONTAINER[/PREFIX][?SAS]" (any
 * host of the form ACCOUNT.blob.SUFFIX: sovereign clouds too). Sets the
 * account, the SAS and an endpoint, and returns where CONTAINER starts.
 * options_parse cuts the SAS off opts->source, so that it never reaches
 * fsname or a log.
 */
static const char *azure_url(struct bfs_options *opts, const char *source)
{
	const char *host = source + 8, *path = strchr(host, '/'), *q = strchr(host, '?');
	const char *dot = strchr(host, '.');
	size_t hlen = path ? (size_t)(path - host) : strlen(host);

	if (!dot || dot > host + hlen || strncmp(dot, ".blob.", 6) || !path)
		return NULL;
	free(opts->account);
	opts->account = strndup(host, (size_t)(dot - host));
	if (!opts->endpoint)
		opts->endpoint = strndup(source, (size_t)(path - source));
	if (q) {
		free(opts->sas);
		opts->sas = strdup(q + 1);
	}
	return path;
}

int options_parse_source(struct bfs_options *opts, const char *source, char **why)
{
	const char *p, *slash, *end;
	struct buf prefix;
	size_t blen;

	if (!strncmp(source, "s3://", 5)) {
		opts->backend = BFS_BACKEND_S3;
		p = source + 5;
	} else if (!strncmp(source, "az://", 5)) {
		opts->backend = BFS_BACKEND_AZURE;
		p = source + 5;
	} else if (!strncmp(source, "https://", 8) && (p = azure_url(opts, source))) {
		opts->backend = BFS_BACKEND_AZURE;
		p++;
	} else {
		*why = why_fmt("SOURCE '%s' is not s3://BUCKET[/PREFIX], az://CONTAINER[/PREFIX] "
			       "or https://ACCOUNT.blob.core.windows.net/CONTAINER[/PREFIX]",
			       source);
		return -EINVAL;
	}
	end = p + strcspn(p, opts->backend == BFS_BACKEND_AZURE ? "?" : "");
	slash = memchr(p, '/', (size_t)(end - p));
	blen = slash ? (size_t)(slash - p) : (size_t)(end - p);
	if (opts->backend == BFS_BACKEND_S3 && !bucket_name_ok(p, blen)) {
		*why = why_fmt("SOURCE '%s': bucket names have 3 to 255 letters, digits, '-', "
			       "'.' or '_'",
			       source);
		return -EINVAL;
	}
	if (opts->backend == BFS_BACKEND_AZURE && !container_name_ok(p, blen)) {
		*why = why_fmt("SOURCE '%s': container names have 3 to 63 lower-case letters, "
			       "digits or '-'",
			       source);
		return -EINVAL;
	}
	free(opts->bucket);
	free(opts->prefix);
	opts->bucket = strndup(p, blen);

	/* Collapse repeated slashes; the prefix always ends in one. */
	buf_init(&prefix, 4096);
	if (slash) {
		for (const char *s = slash; s < end;) {
			while (s < end && *s == '/')
				s++;
			const char *e = memchr(s, '/', (size_t)(end - s));

			if (!e)
				e = end;

			if (e == s)
				break;
			if ((e - s == 1 && *s == '.') ||
			    (e - s == 2 && s[0] == '.' && s[1] == '.')) {
				buf_free(&prefix);
				*why = why_fmt(
					"SOURCE '%s': '.' and '..' are not allowed in the prefix",
					source);
				return -EINVAL;
			}
			if (buf_append(&prefix, s, e - s) || buf_puts(&prefix, "/")) {
				buf_free(&prefix);
				*why = why_fmt("SOURCE '%s': prefix too long", source);
				return -EINVAL;
			}
			s = e;
		}
	}
	opts->prefix = buf_steal(&prefix);
	return opts->bucket && opts->prefix ? 0 : -ENOMEM;
}

static bool is_dropped(const char *o)
{
	for (size_t i = 0; i < sizeof(dropped_opts) / sizeof(*dropped_opts); i++)
		if (!strcmp(o, dropped_opts[i]))
			return true;
	for (size_t i = 0; i < sizeof(dropped_prefixes) / sizeof(*dropped_prefixes); i++)
		if (!strncmp(o, dropped_prefixes[i], strlen(dropped_prefixes[i])))
			return true;
	return false;
}

struct parse_state {
	struct bfs_options *opts;
	struct buf fuse_opts; /* comma-separated, for FUSE */
	bool has_fsname, has_subtype;
};

static int add_fuse_opt(struct parse_state *st, const char *o)
{
	if (st->fuse_opts.len && buf_puts(&st->fuse_opts, ","))
		return -ENOMEM;
	return buf_puts(&st->fuse_opts, o) ? -ENOMEM : 0;
}

static int parse_id(const char *v, bool is_uid, unsigned long long *out)
{
	if (!parse_ull(v, 10, out))
		return *out < UINT_MAX ? 0 : -EINVAL;
	if (is_uid) {
		struct passwd *pw = getpwnam(v);

		if (!pw)
			return -EINVAL;
		*out = pw->pw_uid;
	} else {
		struct group *gr = getgrnam(v);

		if (!gr)
			return -EINVAL;
		*out = gr->gr_gid;
	}
	return 0;
}

static int apply_special(struct parse_state *st, const struct opt_def *d, const char *v, char **why)
{
	struct bfs_options *o = st->opts;
	unsigned long long n;
	const char *name = d->name;

	if (!strcmp(name, "path_style") || !strcmp(name, "use_path_request_style")) {
		o->path_style = 1;
	} else if (!strcmp(name, "virtual_hosted")) {
		o->path_style = 0;
	} else if (!strcmp(name, "uid=") || !strcmp(name, "gid=")) {
		bool is_uid = name[0] == 'u';

		if (parse_id(v, is_uid, &n)) {
			*why = why_fmt(is_uid ? "uid=%s: no such user" : "gid=%s: no such group",
				       v);
			return -EINVAL;
		}
		if (is_uid) {
			o->uid = n;
			o->has_uid = true;
		} else {
			o->gid = n;
			o->has_gid = true;
		}
	} else if (!strcmp(name, "umask=") || !strcmp(name, "file_mode=") ||
		   !strcmp(name, "dir_mode=")) {
		if (parse_ull(v, 8, &n) || n > 07777) {
			*why = why_fmt("%s needs an octal mode such as 022 or 0644", name);
			return -EINVAL;
		}
		if (name[0] == 'u')
			o->umask = n;
		else if (name[0] == 'f')
			o->file_mode = n;
		else
			o->dir_mode = n;
	} else if (!strcmp(name, "ro")) {
		o->read_only = true;
	} else if (!strcmp(name, "rw")) {
		o->read_only = false;
	} else if (!strcmp(name, "allow_other") || !strcmp(name, "allow_root")) {
		if (!strcmp(name, "allow_other"))
			o->allow_other = true;
		return add_fuse_opt(st, name);
	} else if (!strcmp(name, "default_permissions")) {
		/* Always on: see options_parse(). */
	} else if (!strcmp(name, "fsname=") || !strcmp(name, "subtype=")) {
		char *s = NULL;
		int rc;

		if (name[0] == 'f')
			st->has_fsname = true;
		else
			st->has_subtype = true;
		if (asprintf(&s, "%s%s", name, v) < 0)
			return -ENOMEM;
		rc = add_fuse_opt(st, s);
		free(s);
		return rc;
	} else if (!strcmp(name, "log_level=")) {
		int l = log_level_parse(v);

		if (l < 0) {
			*why = why_fmt("log_level=%s: use error, warning, notice, info or debug",
				       v);
			return -EINVAL;
		}
		o->log_level = l;
	} else if (!strcmp(name, "debug")) {
		o->debug = o->foreground = true;
		o->log_level = LOG_DEBUG;
	} else if (!strcmp(name, "creds=")) {
		enum aws_creds_pin pin;

		if (aws_creds_pin_parse(v, &pin) || pin == AWS_CREDS_AUTO) {
			*why = why_fmt(
				"creds=%s: use env, web-identity, container, profile, process, "
				"imds, passwd or anonymous",
				v);
			return -EINVAL;
		}
		o->creds_pin = (int)pin;
	} else if (!strcmp(name, "azure_identity=")) {
		if (!strcmp(v, "auto")) {
			o->azure_identity = BFS_AZURE_IDENTITY_AUTO;
		} else if (!strcmp(v, "msi")) {
			o->azure_identity = BFS_AZURE_IDENTITY_MSI;
		} else if (!strcmp(v, "none")) {
			o->azure_identity = BFS_AZURE_IDENTITY_NONE;
		} else {
			*why = why_fmt("azure_identity=%s: use auto, msi or none", v);
			return -EINVAL;
		}
	}
	return 0;
}

static int apply_one(struct parse_state *st, const char *o, char **why)
{
	const char *eq = strchr(o, '=');
	size_t nlen = eq ? (size_t)(eq - o) + 1 : strlen(o);
	const struct opt_def *d = NULL;
	char *base = (char *)st->opts;
	unsigned long long n;
	uint64_t sz;

	if (!*o)
		return 0;
	for (size_t i = 0; i < sizeof(opt_defs) / sizeof(*opt_defs); i++) {
		if (strlen(opt_defs[i].name) == nlen && !strncmp(o, opt_defs[i].name, nlen)) {
			d = &opt_defs[i];
			break;
		}
	}
	if (!d) {
		if (is_dropped(o))
			return 0;
		if (!eq) {
			/* "endpoint" without a value: name the problem precisely. */
			for (size_t i = 0; i < sizeof(opt_defs) / sizeof(*opt_defs); i++) {
				const char *dn = opt_defs[i].name;

				if (!strncmp(o, dn, nlen) && dn[nlen] == '=' && !dn[nlen + 1]) {
					*why = why_fmt("option '%s' needs a value", o);
					return -EINVAL;
				}
			}
		}
		*why = why_fmt("unknown option '%s'", o);
		return -EINVAL;
	}
	switch (d->kind) {
	case OPT_STR: {
		char **field = (char **)(base + d->off);

		if (!eq[1]) {
			*why = why_fmt("option '%s' needs a value", o);
			return -EINVAL;
		}
		free(*field);
		*field = strdup(eq + 1);
		return *field ? 0 : -ENOMEM;
	}
	case OPT_FLAG:
		*(bool *)(base + d->off) = true;
		return 0;
	case OPT_UINT:
		if (parse_ull(eq + 1, 10, &n) || n < d->min || n > d->max) {
			char msg[160];

			snprintf(msg, sizeof(msg), "%%s: expected a number from %llu to %llu",
				 d->min, d->max);
			*why = why_fmt(msg, o);
			return -EINVAL;
		}
		*(unsigned int *)(base + d->off) = n;
		return 0;
	case OPT_SIZE:
		if (options_parse_size(eq + 1, &sz) || sz < d->min || sz > d->max) {
			char msg[160];

			snprintf(msg, sizeof(msg), "%%s: expected a size from %lluK to %lluG",
				 d->min >> 10, d->max >> 30);
			*why = why_fmt(msg, o);
			return -EINVAL;
		}
		*(uint64_t *)(base + d->off) = sz;
		return 0;
	case OPT_SPECIAL:
		if (eq && !eq[1]) {
			*why = why_fmt("option '%s' needs a value", o);
			return -EINVAL;
		}
		return apply_special(st, d, eq ? eq + 1 : NULL, why);
	}
	return 0;
}

/* Split an -o argument on commas; "\," is a literal comma, as in fuse_opt. */
static int apply_opt_list(struct parse_state *st, const char *list, char **why)
{
	char *copy = strdup(list), *w, *start;
	int rc = 0;

	if (!copy)
		return -ENOMEM;
	start = w = copy;
	for (const char *r = list;; r++) {
		if (*r == '\\' && r[1]) {
			*w++ = *++r;
		} else if (*r == ',' || !*r) {
			*w = '\0';
			rc = apply_one(st, start, why);
			if (rc || !*r)
				break;
			start = ++w;
		} else {
			*w++ = *r;
		}
	}
	free(copy);
	return rc;
}

static void set_defaults(struct bfs_options *o)
{
	const char *env;

	memset(o, 0, sizeof(*o));
	o->path_style = -1;
	o->retries = 5;
	o->connect_timeout = 10;
	o->request_timeout = 60;
	o->multipart_threshold = 64ULL << 20;
	/* The AWS CLI's choice: 8 MiB parts, several at once. */
	o->part_size = 8ULL << 20;
	o->upload_threads = 8;
	o->cache_size = 256ULL << 20;
	o->block_size = 1ULL << 20;
	o->readahead_max = 64ULL << 20;
	o->fetch_threads = 8;
	o->cache_disk_size = 4ULL << 30;
	o->stat_ttl = 1;
	o->list_ttl = 10;
	o->url_expires = 3600;
	o->umask = 022;
	o->log_level = LOG_NOTICE;
	o->uid = getuid();
	o->gid = getgid();
	env = getenv("AWS_REGION");
	if (!env || !*env)
		env = getenv("AWS_DEFAULT_REGION");
	o->region = strdup(env && *env ? env : "us-east-1");
	env = getenv("AWS_ENDPOINT_URL_S3");
	if (!env || !*env)
		env = getenv("AWS_ENDPOINT_URL");
	if (env && *env)
		o->endpoint = strdup(env);
	o->staging_dir = strdup("/var/tmp/bucketfs");
}

/* fsname= goes through FUSE's own comma splitting: escape what it splits on. */
static int add_fsname(struct parse_state *st, const char *source)
{
	struct buf b;
	int rc;

	buf_init(&b, 8192);
	rc = buf_puts(&b, "fsname=");
	for (const char *s = source; !rc && *s; s++) {
		if (*s == ',' || *s == '\\')
			rc = buf_puts(&b, "\\");
		if (!rc)
			rc = buf_append(&b, s, 1);
	}
	if (!rc)
		rc = add_fuse_opt(st, b.data);
	buf_free(&b);
	return rc;
}

int options_parse(int argc, char **argv, struct bfs_options *opts, char **why)
{
	struct parse_state st = {.opts = opts};
	const char *positional[2] = {NULL, NULL};
	int n_pos = 0, rc = 0;

	*why = NULL;
	set_defaults(opts);
	buf_init(&st.fuse_opts, 1 << 16);

	for (int i = 1; i < argc && !rc; i++) {
		const char *a = argv[i];

		if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
			opts->show_help = true;
		} else if (!strcmp(a, "-V") || !strcmp(a, "--version")) {
			opts->show_version = true;
		} else if (!strcmp(a, "-f")) {
			opts->foreground = true;
		} else if (!strcmp(a, "-d")) {
			opts->debug = opts->foreground = true;
			opts->log_level = LOG_DEBUG;
		} else if (!strcmp(a, "-s")) {
			opts->single_thread = true;
		} else if (!strcmp(a, "-o")) {
			if (i + 1 >= argc) {
				*why = strdup("option '-o' needs an argument");
				rc = -EINVAL;
			} else {
				rc = apply_opt_list(&st, argv[++i], why);
			}
		} else if (!strncmp(a, "-o", 2)) {
			rc = apply_opt_list(&st, a + 2, why);
		} else if (a[0] == '-' && a[1]) {
			*why = why_fmt("unknown option '%s'", a);
			rc = -EINVAL;
		} else if (n_pos < 2) {
			positional[n_pos++] = a;
		} else {
			*why = why_fmt("unexpected argument '%s'", a);
			rc = -EINVAL;
		}
	}
	if (rc || opts->show_help || opts->show_version)
		goto out;

	if (!positional[0]) {
		*why = strdup("missing SOURCE and MOUNTPOINT");
		rc = -EINVAL;
		goto out;
	}
	if (!positional[1]) {
		*why = strdup("missing MOUNTPOINT");
		rc = -EINVAL;
		goto out;
	}
	opts->source = strdup(positional[0]);
	opts->mountpoint = realpath(positional[1], NULL);
	if (!opts->mountpoint)
		opts->mountpoint = strdup(positional[1]);
	rc = options_parse_source(opts, opts->source, why);
	if (rc)
		goto out;
	if (opts->sas)
		opts->source[strcspn(opts->source, "?")] = '\0';
	if (opts->path_style < 0)
		opts->path_style = opts->endpoint ? 1 : 0;
	if (opts->multipart_threshold < opts->part_size)
		opts->multipart_threshold = opts->part_size;
	if (opts->cache_size < 4 * opts->block_size) {
		*why = strdup("cache_size must hold at least 4 blocks of block_size");
		rc = -EINVAL;
		goto out;
	}

	/* The kernel enforces the modes we report: with allow_other, that is
	 * what keeps one user out of another's files. */
	rc = add_fuse_opt(&st, "default_permissions");
	if (!rc && opts->read_only)
		rc = add_fuse_opt(&st, "ro");
	if (!rc && !st.has_fsname)
		rc = add_fsname(&st, opts->source);
	if (!rc && !st.has_subtype)
		rc = add_fuse_opt(&st, "subtype=bucketfs");
	if (!rc && (fuse_opt_add_arg(&opts->fuse_args, argv[0]) ||
		    fuse_opt_add_arg(&opts->fuse_args, "-o") ||
		    fuse_opt_add_arg(&opts->fuse_args, st.fuse_opts.data)))
		rc = -ENOMEM;
	if (!rc && opts->debug && fuse_opt_add_arg(&opts->fuse_args, "-d"))
		rc = -ENOMEM;
out:
	buf_free(&st.fuse_opts);
	if (rc && !*why)
		*why = strdup("out of memory");
	return rc;
}

void options_print_help(FILE *out, const char *progname)
{
	fprintf(out,
		"usage: %s SOURCE MOUNTPOINT [-o OPTION[,OPTION...]] [-f] [-d] [-s]\n"
		"       %s presign TARGET [--put] [--expires DURATION] [-o OPTION,...]\n"
		"\n"
		"Mount an S3 bucket (or a prefix of one) as a directory.\n"
		"SOURCE is s3://BUCKET or s3://BUCKET/PREFIX.\n"
		"\n"
		"general options:\n"
		"    -h, --help                  print this help and exit\n"
		"    -V, --version               print the version and exit\n"
		"    -f                          stay in the foreground\n"
		"    -d                          debug: foreground, debug logging and FUSE "
		"tracing\n"
		"    -s                          serve requests on one thread\n"
		"    -o OPTION[,OPTION...]       mount options, below\n"
		"\n"
		"mount options:\n",
		progname, progname);
	for (size_t i = 0; i < sizeof(opt_defs) / sizeof(*opt_defs); i++) {
		const struct opt_def *d = &opt_defs[i];
		char left[64];

		snprintf(left, sizeof(left), "%s%s", d->name, d->help_arg ? d->help_arg : "");
		fprintf(out, "    -o %-26s %s\n", left, d->help);
	}
	fprintf(out, "\n"
		     "Generic mount options (dev, suid, exec, noatime, _netdev, nofail,\n"
		     "x-systemd.*, ...) are accepted and ignored. AWS credentials come\n"
		     "from passwd_file=, profile=, else the first of: AWS_ACCESS_KEY_ID/\n"
		     "AWS_SECRET_ACCESS_KEY, web identity (AWS_WEB_IDENTITY_TOKEN_FILE,\n"
		     "AWS_ROLE_ARN), container credentials (AWS_CONTAINER_CREDENTIALS_*),\n"
		     "AWS_PROFILE or the default profile in ~/.aws (keys, role_arn +\n"
		     "source_profile, credential_process), ~/.passwd-s3fs, /etc/passwd-s3fs,\n"
		     "the EC2 instance role (IMDSv2), else anonymous access. See bucketfs(1).\n");
}

void options_free(struct bfs_options *opts)
{
	free(opts->source);
	free(opts->bucket);
	free(opts->prefix);
	free(opts->mountpoint);
	free(opts->endpoint);
	free(opts->region);
	free(opts->cafile);
	free(opts->sse);
	free(opts->sse_kms_key_id);
	free(opts->sse_c_key_file);
	free(opts->storage_class);
	free(opts->profile);
	free(opts->passwd_file);
	free(opts->staging_dir);
	free(opts->cache_dir);
	free(opts->metrics);
	free(opts->account);
	free(opts->key_file);
	if (opts->sas)
		explicit_bzero(opts->sas, strlen(opts->sas));
	free(opts->sas);
	fuse_opt_free_args(&opts->fuse_args);
	memset(opts, 0, sizeof(*opts));
}
