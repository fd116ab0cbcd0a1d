/* bucketfs-csi's pure parts: classification levels and the read-down,
 * no-write-down rule; catalog parsing; grpc-message encoding; publish
 * records and the idempotency comparison. */
#include <check.h>

#include "check_main.h"
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "catalog.h"
#include "grpc.h"
#include "policy.h"
#include "volstate.h"

START_TEST(test_levels_parse_and_rank)
{
	struct levels l;
	char *why = NULL;

	ck_assert_int_eq(levels_parse("unclassified,protected-a,protected-b", &l, &why), 0);
	ck_assert_uint_eq(l.n, 3);
	ck_assert_int_eq(levels_rank(&l, "unclassified"), 0);
	ck_assert_int_eq(levels_rank(&l, "protected-b"), 2);
	ck_assert_int_eq(levels_rank(&l, "Protected-B"), -1);
	ck_assert_int_eq(levels_rank(&l, "secret"), -1);
	levels_free(&l);

	ck_assert_int_eq(levels_parse("a,,b", &l, &why), -EINVAL);
	ck_assert_ptr_nonnull(strstr(why, "empty"));
	free(why);
	why = NULL;
	ck_assert_int_eq(levels_parse("a,b,a", &l, &why), -EINVAL);
	ck_assert_ptr_nonnull(strstr(why, "twice"));
	free(why);
	why = NULL;
	ck_assert_int_eq(levels_parse("", &l, &why), -EINVAL);
	free(why);
}
END_TEST

START_TEST(test_read_down_no_write_down)
{
	ck_assert_int_eq(policy_decide(1, 2), POLICY_DENY);	 /* read up */
	ck_assert_int_eq(policy_decide(1, 0), POLICY_READ_ONLY); /* write down */
	ck_assert_int_eq(policy_decide(1, 1), POLICY_AS_ASKED);
	ck_assert_int_eq(policy_decide(0, 0), POLICY_AS_ASKED);
	ck_assert_str_eq(policy_describe(POLICY_DENY), "denied (no read up)");
	ck_assert_str_eq(policy_describe(POLICY_READ_ONLY), "read-only (no write down)");
	/* CSI access modes: only the two READER_ONLY ones read only. */
	for (int mode = 0; mode <= 7; mode++)
		ck_assert(policy_mode_read_only(mode) == (mode == 2 || mode == 3));
}
END_TEST

START_TEST(test_catalog_parse)
{
	struct catalog c;
	char *why = NULL;
	const char *text = "{\"buckets\": ["
			   "{\"name\": \"std\", \"source\": \"s3://std\", \"classification\": "
			   "\"unclassified\", \"namespaces\": [\"*\"], \"options\": \"region=ca\"},"
			   "{\"name\": \"prob\", \"source\": \"az://prob\", \"classification\": "
			   "\"protected-b\", \"namespaces\": [\"team-a\", \"team-b\"], "
			   "\"secrets_file\": \"/etc/x.env\"},"
			   "{\"name\": \"hidden\", \"source\": \"s3://h\", \"classification\": "
			   "\"unclassified\"}]}";

	ck_assert_int_eq(catalog_parse(text, &c, &why), 0);
	ck_assert_uint_eq(c.n, 3);
	ck_assert_str_eq(c.buckets[0].name, "std");
	ck_assert_str_eq(c.buckets[0].options, "region=ca");
	ck_assert_ptr_null(c.buckets[0].secrets_file);
	ck_assert_str_eq(c.buckets[1].source, "az://prob");
	ck_assert_str_eq(c.buckets[1].secrets_file, "/etc/x.env");
	ck_assert(catalog_namespace_ok(&c.buckets[0], "anyone"));
	ck_assert(catalog_namespace_ok(&c.buckets[1], "team-b"));
	ck_assert(!catalog_namespace_ok(&c.buckets[1], "team-c"));
	/* No namespaces listed: nobody sees it. */
	ck_assert(!catalog_namespace_ok(&c.buckets[2], "team-a"));
	catalog_free(&c);
}
END_TEST

START_TEST(test_catalog_refuses)
{
	static const char *const bad[] = {
		"not json",
		"{\"items\": []}",
		"{\"buckets\": [1]}",
		"{\"buckets\": [{\"source\": \"s3://x\", \"classification\": \"u\"}]}",
		"{\"buckets\": [{\"name\": \"../up\", \"source\": \"s3://x\", "
		"\"classification\": \"u\"}]}",
		"{\"buckets\": [{\"name\": \"..\", \"source\": \"s3://x\", \"classification\": "
		"\"u\"}]}",
		"{\"buckets\": [{\"name\": \"a\", \"classification\": \"u\"}]}",
		"{\"buckets\": [{\"name\": \"a\", \"source\": \"s3://x\"}]}",
		"{\"buckets\": [{\"name\": \"a\", \"source\": \"s3://x\", \"classification\": "
		"\"u\"}, {\"name\": \"a\", \"source\": \"s3://y\", \"classification\": \"u\"}]}",
	};

	for (size_t i = 0; i < sizeof(bad) / sizeof(*bad); i++) {
		struct catalog c;
		char *why = NULL;

		ck_assert_msg(catalog_parse(bad[i], &c, &why) < 0, "accepted: %s", bad[i]);
		ck_assert_ptr_nonnull(why);
		free(why);
	}
}
END_TEST

START_TEST(test_grpc_message_encoding)
{
	char *s = grpc_percent_encode("no such bucket: 100% \xc3\xa9\n");

	ck_assert_str_eq(s, "no such bucket: 100%25 %C3%A9%0A");
	free(s);
}
END_TEST

START_TEST(test_volstate_round_trip)
{
	char dir[] = "/tmp/csi-state-XXXXXX";
	struct kv secrets[] = {{"AWS_ACCESS_KEY_ID", "AKID"}, {"AWS_SECRET_ACCESS_KEY", "s3cr3t"}};
	struct volrec r = {.volume_id = "vol-1",
			   .target_path = "/var/lib/kubelet/pods/x/mount",
			   .source = "s3://b",
			   .options = "ro,allow_other",
			   .read_only = true,
			   .pod_namespace = "team",
			   .pod_name = "nb",
			   .pod_level = "protected-b",
			   .volume_level = "unclassified",
			   .secrets = secrets,
			   .n_secrets = 2};
	struct volrec back, other;
	char *why = NULL, *key, *path;
	struct stat st;

	ck_assert_ptr_nonnull(mkdtemp(dir));
	ck_assert_int_eq(volstate_save(dir, &r, &why), 0);
	key = volstate_key(r.target_path);
	path = malloc(strlen(dir) + strlen(key) + 32);
	sprintf(path, "%s/volumes/%s.json", dir, key);
	/* It holds secrets: the owner's alone. */
	ck_assert_int_eq(stat(path, &st), 0);
	ck_assert_int_eq(st.st_mode & 0777, 0600);
	ck_assert_int_eq(volstate_load(dir, r.target_path, &back, &why), 0);
	ck_assert(volrec_same(&r, &back));
	ck_assert_str_eq(back.pod_level, "protected-b");
	ck_assert_uint_eq(back.n_secrets, 2);
	ck_assert_str_eq(back.secrets[1].value, "s3cr3t");
	/* Other secrets are the same publish; other access is not. */
	other = r;
	other.n_secrets = 0;
	ck_assert(volrec_same(&other, &back));
	other.read_only = false;
	ck_assert(!volrec_same(&other, &back));
	volrec_free(&back);
	ck_assert_int_eq(volstate_remove(dir, r.target_path), 0);
	ck_assert_int_eq(volstate_load(dir, r.target_path, &back, &why), -ENOENT);
	free(why);
	free(key);
	sprintf(path, "%s/volumes", dir);
	rmdir(path);
	rmdir(dir);
	free(path);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("csi");
	TCase *tc = tcase_create("pure");

	tcase_add_test(tc, test_levels_parse_and_rank);
	tcase_add_test(tc, test_read_down_no_write_down);
	tcase_add_test(tc, test_catalog_parse);
	tcase_add_test(tc, test_catalog_refuses);
	tcase_add_test(tc, test_grpc_message_encoding);
	tcase_add_test(tc, test_volstate_round_trip);
	suite_add_tcase(s, tc);
	return check_run(s);
}
