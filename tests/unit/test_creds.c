/* The static credential sources and their order in the chain
 * (aws_creds_resolve), on files in a scratch HOME. */
#include <check.h>

#include "check_main.h"
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "aws_creds.h"
#include "creds.h"

static char home[64];
static struct creds c;
static char *why;
static char *what;

static void write_file(const char *rel, const char *text, mode_t mode)
{
	char path[256];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", home, rel);
	f = fopen(path, "w");
	ck_assert_ptr_nonnull(f);
	fputs(text, f);
	fclose(f);
	chmod(path, mode);
}

static void setup(void)
{
	char aws[128];

	strcpy(home, "/tmp/bfs-creds-XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(home));
	snprintf(aws, sizeof(aws), "%s/.aws", home);
	mkdir(aws, 0700);
	setenv("HOME", home, 1);
	unsetenv("AWS_ACCESS_KEY_ID");
	unsetenv("AWS_SECRET_ACCESS_KEY");
	unsetenv("AWS_SESSION_TOKEN");
	unsetenv("AWS_PROFILE");
	unsetenv("AWS_SHARED_CREDENTIALS_FILE");
	unsetenv("AWS_CONFIG_FILE");
	unsetenv("AWS_WEB_IDENTITY_TOKEN_FILE");
	unsetenv("AWS_ROLE_ARN");
	unsetenv("AWS_CONTAINER_CREDENTIALS_FULL_URI");
	unsetenv("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI");
	/* Whatever machine runs this, IMDS is not asked. */
	setenv("AWS_EC2_METADATA_DISABLED", "true", 1);
	memset(&c, 0, sizeof(c));
	why = NULL;
	what = NULL;
}

static void teardown(void)
{
	char cmd[128];

	creds_clear(&c);
	free(why);
	free(what);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", home);
	ck_assert_int_eq(system(cmd), 0);
}

static int resolve(const char *passwd_file, const char *profile)
{
	struct aws_creds_conf conf = {
		.passwd_file = passwd_file, .profile = profile, .bucket = "bkt"};
	struct refresh *p = NULL;
	uint64_t gen;
	int rc;

	creds_clear(&c);
	free(why);
	free(what);
	why = what = NULL;
	rc = aws_creds_resolve(&conf, &p, &what, &why);
	if (!rc && p)
		rc = aws_creds_get(p, &c, &gen);
	refresh_destroy(p);
	return rc;
}

START_TEST(test_anonymous_when_nothing)
{
	ck_assert_int_eq(resolve(NULL, NULL), 0);
	ck_assert_ptr_null(c.access_key);
	ck_assert_str_eq(what, "none (anonymous access)");
}
END_TEST

START_TEST(test_environment)
{
	setenv("AWS_ACCESS_KEY_ID", "AKENV", 1);
	setenv("AWS_SECRET_ACCESS_KEY", "SKENV", 1);
	setenv("AWS_SESSION_TOKEN", "TOKENV", 1);
	write_file(".aws/credentials",
		   "[default]\naws_access_key_id=AKFILE\n"
		   "aws_secret_access_key=SKFILE\n",
		   0600);
	ck_assert_int_eq(resolve(NULL, NULL), 0);
	ck_assert_str_eq(c.access_key, "AKENV");
	ck_assert_str_eq(c.secret_key, "SKENV");
	ck_assert_str_eq(c.session_token, "TOKENV");
	ck_assert_str_eq(what, "environment");

	unsetenv("AWS_SECRET_ACCESS_KEY");
	ck_assert_int_eq(resolve(NULL, NULL), -EINVAL);
	ck_assert_str_eq(why, "AWS_ACCESS_KEY_ID is set but AWS_SECRET_ACCESS_KEY is not");
}
END_TEST

START_TEST(test_default_profile_and_config)
{
	write_file(".aws/credentials",
		   "# comment\n[other]\naws_access_key_id = AKO\n"
		   "aws_secret_access_key = SKO\n"
		   "[default]\n  aws_access_key_id = AKD  \n"
		   "aws_secret_access_key=SKD\naws_session_token=TD\n",
		   0600);
	ck_assert_int_eq(resolve(NULL, NULL), 0);
	ck_assert_str_eq(c.access_key, "AKD");
	ck_assert_str_eq(c.secret_key, "SKD");
	ck_assert_str_eq(c.session_token, "TD");

	/* A named profile only in the config file, as "[profile NAME]". */
	write_file(".aws/config",
		   "[profile cfg]\naws_access_key_id=AKC\naws_secret_access_key=SKC\n"
		   "[cfg]\naws_access_key_id=WRONG\n",
		   0644);
	setenv("AWS_PROFILE", "cfg", 1);
	ck_assert_int_eq(resolve(NULL, NULL), 0);
	ck_assert_str_eq(c.access_key, "AKC");
	ck_assert_ptr_null(c.session_token);

	setenv("AWS_PROFILE", "missing", 1);
	ck_assert_int_eq(resolve(NULL, NULL), -EINVAL);
	ck_assert_str_eq(why, "profile 'missing' (AWS_PROFILE) not found in the AWS config files");
}
END_TEST

/* A default profile of settings only does not stop the chain. */
START_TEST(test_profile_without_credentials)
{
	write_file(".aws/config", "[default]\nregion = eu-west-1\n", 0644);
	ck_assert_int_eq(resolve(NULL, NULL), 0);
	ck_assert_str_eq(what, "none (anonymous access)");
	write_file(".passwd-s3fs", "AKS3FS:SKS3FS\n", 0600);
	ck_assert_int_eq(resolve(NULL, NULL), 0);
	ck_assert_str_eq(c.access_key, "AKS3FS");
	/* Named, it must have some. */
	setenv("AWS_PROFILE", "default", 1);
	ck_assert_int_eq(resolve(NULL, NULL), -EINVAL);
	ck_assert_str_eq(why, "profile 'default' has no aws_access_key_id and "
			      "aws_secret_access_key, role_arn or credential_process");
}
END_TEST

START_TEST(test_explicit_profile_and_env_files)
{
	char path[256];

	snprintf(path, sizeof(path), "%s/creds.ini", home);
	write_file("creds.ini",
		   "[p1]\naws_access_key_id=AK1\naws_secret_access_key=SK1\n"
		   "[half]\naws_access_key_id=AKH\n",
		   0600);
	setenv("AWS_SHARED_CREDENTIALS_FILE", path, 1);
	setenv("AWS_ACCESS_KEY_ID", "AKENV", 1);
	setenv("AWS_SECRET_ACCESS_KEY", "SKENV", 1);
	/* -o profile= wins over the environment. */
	ck_assert_int_eq(resolve(NULL, "p1"), 0);
	ck_assert_str_eq(c.access_key, "AK1");
	ck_assert_str_eq(c.secret_key, "SK1");
	ck_assert_int_eq(resolve(NULL, "half"), -EINVAL);
	ck_assert_str_eq(why, "profile 'half' has no aws_access_key_id and aws_secret_access_key, "
			      "role_arn or credential_process");
	ck_assert_int_eq(resolve(NULL, "nope"), -EINVAL);
	ck_assert_str_eq(why, "profile 'nope' not found in the AWS config files");
}
END_TEST

START_TEST(test_passwd_file)
{
	char path[256], msg[512];

	snprintf(path, sizeof(path), "%s/pw", home);
	write_file("pw", "# s3fs\nAKBARE:SKBARE\nother:AKO:SKO\nbkt:AKB:SKB\n", 0600);
	setenv("AWS_ACCESS_KEY_ID", "AKENV", 1);
	setenv("AWS_SECRET_ACCESS_KEY", "SKENV", 1);
	ck_assert_int_eq(resolve(path, NULL), 0);
	ck_assert_str_eq(c.access_key, "AKB"); /* the bucket's line wins */
	ck_assert_str_eq(c.secret_key, "SKB");
	snprintf(msg, sizeof(msg), "password file %s", path);
	ck_assert_str_eq(what, msg);

	write_file("pw", "other:AKO:SKO\nAKBARE:SKBARE\n", 0600);
	ck_assert_int_eq(resolve(path, NULL), 0);
	ck_assert_str_eq(c.access_key, "AKBARE");

	write_file("pw", "AKBARE:SKBARE\n", 0640);
	ck_assert_int_eq(resolve(path, NULL), -EPERM);
	snprintf(msg, sizeof(msg), "password file %s is readable by group or others (chmod 600 it)",
		 path);
	ck_assert_str_eq(why, msg);

	write_file("pw", "other:AKO:SKO\n", 0600);
	ck_assert_int_eq(resolve(path, NULL), -EINVAL);

	snprintf(path, sizeof(path), "%s/absent", home);
	ck_assert_int_eq(resolve(path, NULL), -EINVAL);
	snprintf(msg, sizeof(msg), "password file %s does not exist", path);
	ck_assert_str_eq(why, msg);
}
END_TEST

START_TEST(test_home_passwd_s3fs_after_profiles)
{
	write_file(".passwd-s3fs", "AKS3FS:SKS3FS\n", 0600);
	ck_assert_int_eq(resolve(NULL, NULL), 0);
	ck_assert_str_eq(c.access_key, "AKS3FS");
	write_file(".aws/credentials",
		   "[default]\naws_access_key_id=AKD\naws_secret_access_key=SKD\n", 0600);
	ck_assert_int_eq(resolve(NULL, NULL), 0);
	ck_assert_str_eq(c.access_key, "AKD");
}
END_TEST

START_TEST(test_clear_zeroes)
{
	setenv("AWS_ACCESS_KEY_ID", "AKENV", 1);
	setenv("AWS_SECRET_ACCESS_KEY", "SKENV", 1);
	ck_assert_int_eq(resolve(NULL, NULL), 0);
	creds_clear(&c);
	ck_assert_ptr_null(c.access_key);
	ck_assert_ptr_null(c.secret_key);
	ck_assert_ptr_null(c.source);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("creds");
	TCase *tc = tcase_create("resolve");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_anonymous_when_nothing);
	tcase_add_test(tc, test_environment);
	tcase_add_test(tc, test_default_profile_and_config);
	tcase_add_test(tc, test_profile_without_credentials);
	tcase_add_test(tc, test_explicit_profile_and_env_files);
	tcase_add_test(tc, test_passwd_file);
	tcase_add_test(tc, test_home_passwd_s3fs_after_profiles);
	tcase_add_test(tc, test_clear_zeroes);
	suite_add_tcase(s, tc);
	return check_run(s);
}
