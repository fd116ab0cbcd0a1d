/* Staging journal records: what survives a killed daemon, read back as it
 * was written; partial stages (format 2) with their part map, refused
 * without it. */
#include <check.h>

#include "check_main.h"
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../../src/cache/journal.h"

static char dir[] = "/tmp/journal-test-XXXXXX";

static void setup(void)
{
	ck_assert_ptr_nonnull(mkdtemp(dir));
}

static void teardown(void)
{
	char cmd[128];

	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	ck_assert_int_eq(system(cmd), 0);
	strcpy(dir, "/tmp/journal-test-XXXXXX");
}

START_TEST(test_round_trip)
{
	struct journal_rec w = {
		.store_id = "s3 http://h bucket",
		.key = "dir/a file\nwith a newline",
		.dirty = true,
		.meta = {.has_mode = true, .mode = 0100640, .has_uid = true, .uid = 7}};
	struct journal_rec r;
	char stage[128], jpath[160];

	snprintf(stage, sizeof(stage), "%s/stage-1", dir);
	snprintf(jpath, sizeof(jpath), "%s.journal", stage);
	ck_assert_int_eq(journal_write(stage, &w), 0);
	ck_assert_int_eq(journal_read(jpath, &r), 0);
	ck_assert_str_eq(r.store_id, w.store_id);
	ck_assert_str_eq(r.key, w.key);
	ck_assert(r.dirty && !r.partial);
	ck_assert(r.meta.has_mode && r.meta.mode == 0100640 && r.meta.uid == 7 && !r.meta.has_gid);
	journal_rec_free(&r);
}
END_TEST

START_TEST(test_partial_round_trip)
{
	uint8_t present[9] = {0, 1, 0, 0, 1, 1, 0, 0, 1};
	struct journal_rec w = {.store_id = "s3 x b",
				.key = "big",
				.dirty = true,
				.partial = true,
				.src_etag = "\"9b2cf535f27731c974343645a3985328\"",
				.src_size = 42ULL << 30,
				.part_size = 8 << 20,
				.present = present,
				.n_present = 9};
	struct journal_rec r;
	char stage[128], jpath[160];
	FILE *f;
	char line[64];

	snprintf(stage, sizeof(stage), "%s/stage-2", dir);
	snprintf(jpath, sizeof(jpath), "%s.journal", stage);
	ck_assert_int_eq(journal_write(stage, &w), 0);
	/* Format 2: versions that know only 1 leave it alone. */
	f = fopen(jpath, "r");
	ck_assert_ptr_nonnull(fgets(line, sizeof(line), f));
	fclose(f);
	ck_assert_str_eq(line, "bucketfs-journal 2\n");
	ck_assert_int_eq(journal_read(jpath, &r), 0);
	ck_assert(r.partial);
	ck_assert_str_eq(r.src_etag, w.src_etag);
	ck_assert_uint_eq(r.src_size, w.src_size);
	ck_assert_uint_eq(r.part_size, w.part_size);
	ck_assert_uint_ge(r.n_present, 9);
	for (int i = 0; i < 9; i++)
		ck_assert_uint_eq(r.present[i], present[i]);
	journal_rec_free(&r);

	/* A format 2 record without its map means nothing: not ours. */
	f = fopen(jpath, "w");
	fputs("bucketfs-journal 2\nstore s3%20x%20b\nkey big\ndirty 1\nend\n", f);
	fclose(f);
	ck_assert_int_eq(journal_read(jpath, &r), -EINVAL);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("journal");
	TCase *tc = tcase_create("records");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_round_trip);
	tcase_add_test(tc, test_partial_round_trip);
	suite_add_tcase(s, tc);
	return check_run(s);
}
