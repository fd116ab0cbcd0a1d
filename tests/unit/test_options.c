/* Command line parsing: SOURCE forms, defaults, every kind of -o option. */
#include <check.h>

#include "check_main.h"
#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>

#include "options.h"

static struct bfs_options o;
static char *why;

static int parse(const char *first, ...)
{
	char *argv[32] = {"bucketfs"};
	int argc = 1;
	va_list ap;

	va_start(ap, first);
	for (const char *a = first; a && argc < 31; a = va_arg(ap, const char *))
		argv[argc++] = (char *)a;
	va_end(ap);
	options_free(&o);
	free(why);
	why = NULL;
	return options_parse(argc, argv, &o, &why);
}

static void teardown(void)
{
	options_free(&o);
	free(why);
	why = NULL;
}

/* The -o string handed to FUSE. */
static const char *fuse_o(void)
{
	ck_assert_int_ge(o.fuse_args.argc, 3);
	ck_assert_str_eq(o.fuse_args.argv[1], "-o");
	return o.fuse_args.argv[2];
}

START_TEST(test_source_bucket_only)
{
	ck_assert_int_eq(parse("s3://my-bucket", "/tmp", NULL), 0);
	ck_assert_str_eq(o.bucket, "my-bucket");
	ck_assert_str_eq(o.prefix, "");
	ck_assert_str_eq(o.source, "s3://my-bucket");
	ck_assert_str_eq(o.mountpoint, "/tmp");
	ck_assert_int_eq(o.path_style, 0);
	ck_assert_int_eq(o.read_only, 0);
	ck_assert_uint_eq(o.retries, 5);
	ck_assert_uint_eq(o.part_size, 8 << 20);
	ck_assert_uint_eq(o.multipart_threshold, 64 << 20);
	ck_assert_uint_eq(o.umask, 022);
	ck_assert_int_eq(o.log_level, LOG_NOTICE);
	ck_assert_str_eq(fuse_o(), "default_permissions,fsname=s3://my-bucket,subtype=bucketfs");
}
END_TEST

START_TEST(test_source_prefix)
{
	ck_assert_int_eq(parse("s3://bkt/a//b/", "/tmp", NULL), 0);
	ck_assert_str_eq(o.bucket, "bkt");
	ck_assert_str_eq(o.prefix, "a/b/");
	ck_assert_int_eq(parse("s3://bkt/data", "/tmp", NULL), 0);
	ck_assert_str_eq(o.prefix, "data/");
	ck_assert_int_eq(parse("s3://bkt/", "/tmp", NULL), 0);
	ck_assert_str_eq(o.prefix, "");
}
END_TEST

START_TEST(test_source_bad)
{
	ck_assert_int_eq(parse("bkt", "/tmp", NULL), -EINVAL);
	ck_assert_str_eq(why, "SOURCE 'bkt' is not s3://BUCKET[/PREFIX], az://CONTAINER[/PREFIX] "
			      "or https://ACCOUNT.blob.core.windows.net/CONTAINER[/PREFIX]");
	ck_assert_int_eq(parse("az://Upper", "/tmp", NULL), -EINVAL);
	ck_assert_ptr_nonnull(strstr(why, "container names"));
	ck_assert_int_eq(parse("https://example.com/c/x", "/tmp", NULL), -EINVAL);
	ck_assert_int_eq(parse("s3://ab", "/tmp", NULL), -EINVAL);
	ck_assert_ptr_nonnull(strstr(why, "3 to 255"));
	ck_assert_int_eq(parse("s3://b?kt", "/tmp", NULL), -EINVAL);
	ck_assert_int_eq(parse("s3://bkt/a/../b", "/tmp", NULL), -EINVAL);
	ck_assert_int_eq(parse("s3://bkt", NULL), -EINVAL);
	ck_assert_str_eq(why, "missing MOUNTPOINT");
	ck_assert_int_eq(parse(NULL), -EINVAL);
	ck_assert_str_eq(why, "missing SOURCE and MOUNTPOINT");
	ck_assert_int_eq(parse("s3://bkt", "/tmp", "extra", NULL), -EINVAL);
	ck_assert_str_eq(why, "unexpected argument 'extra'");
}
END_TEST

START_TEST(test_source_azure)
{
	ck_assert_int_eq(parse("az://my-container/a//b", "/tmp", "-o", "account=acct", NULL), 0);
	ck_assert_int_eq(o.backend, BFS_BACKEND_AZURE);
	ck_assert_str_eq(o.bucket, "my-container");
	ck_assert_str_eq(o.prefix, "a/b/");
	ck_assert_str_eq(o.account, "acct");
	ck_assert_ptr_null(o.endpoint);
	ck_assert_ptr_null(o.sas);
	/* The URL form: account and endpoint from the host; the SAS never
	 * stays in the source, which becomes fsname. */
	ck_assert_int_eq(parse("https://acct2.blob.core.windows.net/data/p?sv=2022-11-02&sig=S%2F",
			       "/tmp", NULL),
			 0);
	ck_assert_int_eq(o.backend, BFS_BACKEND_AZURE);
	ck_assert_str_eq(o.account, "acct2");
	ck_assert_str_eq(o.endpoint, "https://acct2.blob.core.windows.net");
	ck_assert_str_eq(o.bucket, "data");
	ck_assert_str_eq(o.prefix, "p/");
	ck_assert_str_eq(o.sas, "sv=2022-11-02&sig=S%2F");
	ck_assert_str_eq(o.source, "https://acct2.blob.core.windows.net/data/p");
	ck_assert_ptr_null(strstr(fuse_o(), "sig="));
	ck_assert_int_eq(parse("https://acct2.blob.core.windows.net/data", "/tmp", NULL), 0);
	ck_assert_str_eq(o.prefix, "");
	ck_assert_ptr_null(o.sas);
}
END_TEST

START_TEST(test_store_options)
{
	ck_assert_int_eq(parse("s3://bkt", "/tmp", "-o",
			       "endpoint=http://127.0.0.1:9000,region=eu-west-1,cafile=/x.pem",
			       NULL),
			 0);
	ck_assert_str_eq(o.endpoint, "http://127.0.0.1:9000");
	ck_assert_str_eq(o.region, "eu-west-1");
	ck_assert_str_eq(o.cafile, "/x.pem");
	ck_assert_int_eq(o.path_style, 1); /* default with an endpoint */
	ck_assert_int_eq(parse("s3://bkt", "/tmp", "-oendpoint=http://h,virtual_hosted", NULL), 0);
	ck_assert_int_eq(o.path_style, 0);
	ck_assert_int_eq(parse("s3://bkt", "/tmp", "-o", "use_path_request_style", NULL), 0);
	ck_assert_int_eq(o.path_style, 1);
	ck_assert_int_eq(
		parse("s3://bkt", "/tmp", "-o", "no_verify_ssl,profile=p,passwd_file=/f", NULL), 0);
	ck_assert(o.no_verify_ssl);
	ck_assert_str_eq(o.profile, "p");
	ck_assert_str_eq(o.passwd_file, "/f");
}
END_TEST

START_TEST(test_numbers_and_sizes)
{
	uint64_t sz;

	ck_assert_int_eq(options_parse_size("4096", &sz), 0);
	ck_assert_uint_eq(sz, 4096);
	ck_assert_int_eq(options_parse_size("16M", &sz), 0);
	ck_assert_uint_eq(sz, 16 << 20);
	ck_assert_int_eq(options_parse_size("2GiB", &sz), 0);
	ck_assert_uint_eq(sz, 2ULL << 30);
	ck_assert_int_eq(options_parse_size("1k", &sz), 0);
	ck_assert_uint_eq(sz, 1024);
	ck_assert_int_eq(options_parse_size("", &sz), -EINVAL);
	ck_assert_int_eq(options_parse_size("12Q", &sz), -EINVAL);
	ck_assert_int_eq(options_parse_size("-1", &sz), -EINVAL);
	ck_assert_int_eq(options_parse_size("99999999999999T", &sz), -EINVAL);
	ck_assert_int_eq(options_parse_duration("3600", 86400, &sz), 0);
	ck_assert_int_eq(sz, 3600);
	ck_assert_int_eq(options_parse_duration("15m", 86400, &sz), 0);
	ck_assert_int_eq(sz, 900);
	ck_assert_int_eq(options_parse_duration("7d", 7 * 86400, &sz), 0);
	ck_assert_int_eq(sz, 604800);
	ck_assert_int_eq(options_parse_duration("8d", 7 * 86400, &sz), -EINVAL);
	ck_assert_int_eq(options_parse_duration("0s", 86400, &sz), -EINVAL);
	ck_assert_int_eq(options_parse_duration("1hh", 86400, &sz), -EINVAL);
	ck_assert_int_eq(options_parse_duration("1w", 86400, &sz), -EINVAL);

	ck_assert_int_eq(
		parse("s3://bkt", "/tmp", "-o", "part_size=8M,retries=0,upload_threads=8", NULL),
		0);
	ck_assert_uint_eq(o.part_size, 8 << 20);
	ck_assert_uint_eq(o.retries, 0);
	ck_assert_uint_eq(o.upload_threads, 8);
	ck_assert_int_eq(parse("s3://bkt", "/tmp", "-o", "part_size=1M", NULL), -EINVAL);
	ck_assert_str_eq(why, "part_size=1M: expected a size from 5120K to 5G");
	ck_assert_int_eq(parse("s3://bkt", "/tmp", "-o", "retries=many", NULL), -EINVAL);
	ck_assert_int_eq(parse("s3://bkt", "/tmp", "-o", "upload_threads=0", NULL), -EINVAL);
	ck_assert_int_eq(parse("s3://bkt", "/tmp", NULL), 0);
	ck_assert_uint_eq(o.cache_size, 256 << 20);
	ck_assert_uint_eq(o.block_size, 1 << 20);
	ck_assert_uint_eq(o.readahead_max, 64 << 20);
	ck_assert_uint_eq(o.fetch_threads, 8);
	ck_assert_int_eq(parse("s3://bkt", "/tmp", "-o",
			       "cache_size=1G,block_size=4M,readahead_max=0", NULL),
			 0);
	ck_assert_uint_eq(o.cache_size, 1 << 30);
	ck_assert_uint_eq(o.readahead_max, 0);
	ck_assert_int_eq(parse("s3://bkt", "/tmp", "-o", "cache_size=8M,block_size=4M", NULL),
			 -EINVAL);
	ck_assert_str_eq(why, "cache_size must hold at least 4 blocks of block_size");
}
END_TEST

START_TEST(test_presentation)
{
	ck_assert_int_eq(parse("s3://bkt", "/tmp", "-o", "uid=1000,gid=0,umask=027", NULL), 0);
	ck_assert(o.has_uid && o.has_gid);
	ck_assert_uint_eq(o.uid, 1000);
	ck_assert_uint_eq(o.gid, 0);
	ck_assert_uint_eq(o.umask, 027);
	ck_assert_int_eq(
		parse("s3://bkt", "/tmp", "-o", "uid=root,file_mode=0640,dir_mode=750", NULL), 0);
	ck_assert_uint_eq(o.uid, 0);
	ck_assert_uint_eq(o.file_mode, 0640);
	ck_assert_uint_eq(o.dir_mode, 0750);
	ck_assert_int_eq(parse("s3://bkt", "/tmp", "-o", "umask=999", NULL), -EINVAL);
	ck_assert_int_eq(parse("s3://bkt", "/tmp", "-o", "uid=no-such-user-xyz", NULL), -EINVAL);
	ck_assert_str_eq(why, "uid=no-such-user-xyz: no such user");
	ck_assert_int_eq(parse("s3://bkt", "/tmp", "-o", "ro,allow_other", NULL), 0);
	ck_assert(o.read_only && o.allow_other);
	ck_assert_str_eq(fuse_o(),
			 "allow_other,default_permissions,ro,fsname=s3://bkt,subtype=bucketfs");
}
END_TEST

/* What mount.fuse3 and fstab hand us must be accepted. */
START_TEST(test_mount_helper_generics)
{
	ck_assert_int_eq(parse("s3://bkt", "/tmp", "-o",
			       "rw,dev,suid,nofail,_netdev,noauto,x-systemd.automount,"
			       "comment=x,defaults,noatime,relatime,exec,user,users",
			       NULL),
			 0);
	ck_assert(!o.read_only);
	ck_assert_str_eq(fuse_o(), "default_permissions,fsname=s3://bkt,subtype=bucketfs");
	ck_assert_int_eq(parse("s3://bkt", "/tmp", "-o", "rw,ro", NULL), 0);
	ck_assert(o.read_only);
}
END_TEST

START_TEST(test_unknown_and_missing_values)
{
	ck_assert_int_eq(parse("s3://bkt", "/tmp", "-o", "ro,bogus", NULL), -EINVAL);
	ck_assert_str_eq(why, "unknown option 'bogus'");
	ck_assert_int_eq(parse("s3://bkt", "/tmp", "-o", "endpoint", NULL), -EINVAL);
	ck_assert_str_eq(why, "option 'endpoint' needs a value");
	ck_assert_int_eq(parse("s3://bkt", "/tmp", "-o", "endpoint=", NULL), -EINVAL);
	ck_assert_str_eq(why, "option 'endpoint=' needs a value");
	ck_assert_int_eq(parse("s3://bkt", "/tmp", "--frobnicate", NULL), -EINVAL);
	ck_assert_str_eq(why, "unknown option '--frobnicate'");
	ck_assert_int_eq(parse("s3://bkt", "/tmp", "-o", NULL), -EINVAL);
	ck_assert_str_eq(why, "option '-o' needs an argument");
	ck_assert_int_eq(parse("s3://bkt", "/tmp", "-o", "log_level=loud", NULL), -EINVAL);
}
END_TEST

START_TEST(test_flags_help_version)
{
	ck_assert_int_eq(parse("--help", NULL), 0);
	ck_assert(o.show_help);
	ck_assert_int_eq(parse("-V", NULL), 0);
	ck_assert(o.show_version);
	ck_assert_int_eq(parse("s3://bkt", "/tmp", "-d", NULL), 0);
	ck_assert(o.debug && o.foreground);
	ck_assert_int_eq(o.log_level, LOG_DEBUG);
	ck_assert_str_eq(o.fuse_args.argv[3], "-d");
	ck_assert_int_eq(parse("-f", "-s", "s3://bkt", "/tmp", "-o", "log_level=info", NULL), 0);
	ck_assert(o.foreground && o.single_thread && !o.debug);
	ck_assert_int_eq(o.log_level, LOG_INFO);
}
END_TEST

START_TEST(test_escapes_and_fsname)
{
	ck_assert_int_eq(
		parse("s3://bkt", "/tmp", "-o", "endpoint=http://h/a\\,b,fsname=mine", NULL), 0);
	ck_assert_str_eq(o.endpoint, "http://h/a,b");
	ck_assert_str_eq(fuse_o(), "fsname=mine,default_permissions,subtype=bucketfs");
}
END_TEST

START_TEST(test_environment_defaults)
{
	setenv("AWS_REGION", "ca-central-1", 1);
	setenv("AWS_ENDPOINT_URL_S3", "http://127.0.0.1:1", 1);
	ck_assert_int_eq(parse("s3://bkt", "/tmp", NULL), 0);
	ck_assert_str_eq(o.region, "ca-central-1");
	ck_assert_str_eq(o.endpoint, "http://127.0.0.1:1");
	ck_assert_int_eq(o.path_style, 1);
	ck_assert_int_eq(parse("s3://bkt", "/tmp", "-o", "region=us-west-2", NULL), 0);
	ck_assert_str_eq(o.region, "us-west-2");
	unsetenv("AWS_REGION");
	unsetenv("AWS_ENDPOINT_URL_S3");
}
END_TEST

START_TEST(test_help_lists_options)
{
	char *text = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&text, &len);

	options_print_help(f, "bucketfs");
	fclose(f);
	ck_assert_ptr_nonnull(strstr(text, "usage: bucketfs SOURCE MOUNTPOINT"));
	ck_assert_ptr_nonnull(strstr(text, "-o endpoint=URL"));
	ck_assert_ptr_nonnull(strstr(text, "-o passwd_file=FILE"));
	ck_assert_ptr_nonnull(strstr(text, "-o allow_other"));
	free(text);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("options");
	TCase *tc = tcase_create("parse");

	unsetenv("AWS_REGION");
	unsetenv("AWS_DEFAULT_REGION");
	unsetenv("AWS_ENDPOINT_URL");
	unsetenv("AWS_ENDPOINT_URL_S3");
	tcase_add_checked_fixture(tc, NULL, teardown);
	tcase_add_test(tc, test_source_bucket_only);
	tcase_add_test(tc, test_source_prefix);
	tcase_add_test(tc, test_source_bad);
	tcase_add_test(tc, test_source_azure);
	tcase_add_test(tc, test_store_options);
	tcase_add_test(tc, test_numbers_and_sizes);
	tcase_add_test(tc, test_presentation);
	tcase_add_test(tc, test_mount_helper_generics);
	tcase_add_test(tc, test_unknown_and_missing_values);
	tcase_add_test(tc, test_flags_help_version);
	tcase_add_test(tc, test_escapes_and_fsname);
	tcase_add_test(tc, test_environment_defaults);
	tcase_add_test(tc, test_help_lists_options);
	suite_add_tcase(s, tc);
	return check_run(s);
}
