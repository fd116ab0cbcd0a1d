/* Azure credential sources: their order, connection strings, key files. */
#include <check.h>

#include "check_main.h"
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "azure_creds.h"

static struct azure_creds c;
static char *why;

static void setup(void)
{
	unsetenv("AZURE_STORAGE_CONNECTION_STRING");
	unsetenv("AZURE_STORAGE_KEY");
	unsetenv("AZURE_STORAGE_SAS_TOKEN");
	unsetenv("AZURE_STORAGE_ACCOUNT");
	/* Entra settings of a developer's shell must not change the order. */
	unsetenv("AZURE_CLIENT_ID");
	unsetenv("AZURE_TENANT_ID");
	unsetenv("AZURE_CLIENT_SECRET");
	unsetenv("AZURE_FEDERATED_TOKEN_FILE");
	memset(&c, 0, sizeof(c));
	why = NULL;
}

static void teardown(void)
{
	azure_creds_clear(&c);
	free(why);
}

START_TEST(test_connection_string)
{
	ck_assert_int_eq(azure_creds_from_connection_string(
				 "DefaultEndpointsProtocol=https;AccountName=acct;AccountKey=a2V5;"
				 "EndpointSuffix=core.windows.net;BlobEndpoint=http://h:1/acct;",
				 &c, &why),
			 0);
	ck_assert_str_eq(c.account, "acct");
	ck_assert_str_eq(c.key, "a2V5");
	ck_assert_str_eq(c.endpoint, "http://h:1/acct");
	ck_assert_ptr_null(c.sas);
	azure_creds_clear(&c);
	/* A SAS holds '=' of its own; only the first one splits. */
	ck_assert_int_eq(azure_creds_from_connection_string(
				 "BlobEndpoint=https://a.blob.core.windows.net;"
				 "SharedAccessSignature=sv=2022-11-02&sig=ab%2Bc%3D",
				 &c, &why),
			 0);
	ck_assert_str_eq(c.sas, "sv=2022-11-02&sig=ab%2Bc%3D");
	azure_creds_clear(&c);
	ck_assert_int_eq(azure_creds_from_connection_string("UseDevelopmentStorage=true", &c, &why),
			 0);
	ck_assert_str_eq(c.account, "devstoreaccount1");
	ck_assert_str_eq(c.endpoint, "http://127.0.0.1:10000/devstoreaccount1");
	ck_assert_ptr_nonnull(c.key);
	azure_creds_clear(&c);
	ck_assert_int_eq(azure_creds_from_connection_string("AccountName", &c, &why), -EINVAL);
	ck_assert_ptr_nonnull(why);
}
END_TEST

START_TEST(test_order)
{
	struct azure_creds_conf conf = {0};

	/* Nothing: anonymous, account from the environment. */
	setenv("AZURE_STORAGE_ACCOUNT", "envacct", 1);
	ck_assert_int_eq(azure_creds_resolve(&conf, &c, &why), 0);
	ck_assert_ptr_null(c.key);
	ck_assert_ptr_null(c.sas);
	ck_assert_str_eq(c.account, "envacct");
	azure_creds_clear(&c);
	/* The SAS token is shadowed by the key, the key by a connection string. */
	setenv("AZURE_STORAGE_SAS_TOKEN", "?sv=1&sig=x", 1);
	ck_assert_int_eq(azure_creds_resolve(&conf, &c, &why), 0);
	ck_assert_str_eq(c.sas, "sv=1&sig=x");
	azure_creds_clear(&c);
	setenv("AZURE_STORAGE_KEY", "a2V5", 1);
	ck_assert_int_eq(azure_creds_resolve(&conf, &c, &why), 0);
	ck_assert_str_eq(c.key, "a2V5");
	ck_assert_ptr_null(c.sas);
	azure_creds_clear(&c);
	setenv("AZURE_STORAGE_CONNECTION_STRING", "AccountName=csacct;AccountKey=Y3M=", 1);
	ck_assert_int_eq(azure_creds_resolve(&conf, &c, &why), 0);
	ck_assert_str_eq(c.key, "Y3M=");
	ck_assert_str_eq(c.account, "csacct");
	azure_creds_clear(&c);
	/* A SAS in the URL shadows them all; -o account= wins over the rest. */
	conf.sas = "sv=2&sig=url";
	conf.account = "optacct";
	ck_assert_int_eq(azure_creds_resolve(&conf, &c, &why), 0);
	ck_assert_str_eq(c.sas, "sv=2&sig=url");
	ck_assert_ptr_null(c.key);
	ck_assert_str_eq(c.account, "optacct");
}
END_TEST

START_TEST(test_key_file)
{
	char path[] = "/tmp/bucketfs-azkey-XXXXXX";
	struct azure_creds_conf conf = {.key_file = path};
	int fd = mkstemp(path);

	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(write(fd, "  a2V5  \nignored\n", 17), 17);
	close(fd);
	setenv("AZURE_STORAGE_KEY", "ZW52", 1);
	ck_assert_int_eq(azure_creds_resolve(&conf, &c, &why), 0);
	ck_assert_str_eq(c.key, "a2V5");
	azure_creds_clear(&c);
	chmod(path, 0640);
	ck_assert_int_eq(azure_creds_resolve(&conf, &c, &why), -EPERM);
	ck_assert_ptr_nonnull(strstr(why, "is readable by group or others"));
	free(why);
	why = NULL;
	unlink(path);
	ck_assert_int_eq(azure_creds_resolve(&conf, &c, &why), -ENOENT);
	ck_assert_ptr_nonnull(strstr(why, "does not exist"));
}
END_TEST

int main(void)
{
	Suite *s = suite_create("azure_creds");
	TCase *tc = tcase_create("sources");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_connection_string);
	tcase_add_test(tc, test_order);
	tcase_add_test(tc, test_key_file);
	suite_add_tcase(s, tc);
	return check_run(s);
}
