/* The listing cache: negative answers, fills voided by concurrent changes,
 * changes applied in place, the bound on names, forgetting subtrees. */
#include <check.h>

#include "check_main.h"
#include <errno.h>
#include <string.h>
#include <sys/stat.h>

#include "../../src/fs/dircache.h"

static const struct dircache_entry file = {.type = S_IFREG, .size = 3};
static const struct dircache_entry dir = {.type = S_IFDIR};

static void fill_dir(struct dircache *dc, const char *dkey, const char *const *names, int n)
{
	struct dircache_fill *f = dircache_begin(dc, dkey);

	ck_assert_ptr_nonnull(f);
	for (int i = 0; i < n; i++)
		ck_assert_int_eq(dircache_fill_add(f, names[i], strlen(names[i]),
						   names[i][0] == 'd' ? &dir : &file),
				 0);
	dircache_commit(dc, f);
}

START_TEST(test_lookup_answers_from_fresh_listing)
{
	struct dircache *dc = dircache_create(60, 100);
	static const char *const names[] = {"a", "b", "dsub"};
	struct dircache_entry e;

	ck_assert_int_eq(dircache_lookup(dc, "x/", "a", &e), -1); /* nothing known */
	fill_dir(dc, "x/", names, 3);
	ck_assert_int_eq(dircache_lookup(dc, "x/", "a", &e), 1);
	ck_assert_uint_eq(e.size, 3);
	ck_assert_int_eq(dircache_lookup(dc, "x/", "dsub", &e), 1);
	ck_assert(S_ISDIR(e.type));
	ck_assert_int_eq(dircache_lookup(dc, "x/", "zzz", &e), 0); /* negative */
	ck_assert_int_eq(dircache_lookup(dc, "y/", "a", &e), -1);
	dircache_destroy(dc);
}
END_TEST

START_TEST(test_first_of_a_name_wins)
{
	struct dircache *dc = dircache_create(60, 100);
	struct dircache_fill *f = dircache_begin(dc, "");
	struct dircache_entry e;

	ck_assert_int_eq(dircache_fill_add(f, "n", 1, &file), 0);
	ck_assert_int_eq(dircache_fill_add(f, "n/", 1, &dir), 0); /* len 1: the name "n" */
	dircache_commit(dc, f);
	ck_assert_int_eq(dircache_lookup(dc, "", "n", &e), 1);
	ck_assert(S_ISREG(e.type));
	dircache_destroy(dc);
}
END_TEST

START_TEST(test_change_during_fill_voids_it)
{
	struct dircache *dc = dircache_create(60, 100);
	struct dircache_fill *f = dircache_begin(dc, "x/");

	ck_assert_int_eq(dircache_fill_add(f, "a", 1, &file), 0);
	/* A file created meanwhile might be missing from the pages read. */
	dircache_add_name(dc, "x/", "late", S_IFREG);
	dircache_commit(dc, f);
	ck_assert_int_eq(dircache_lookup(dc, "x/", "late", NULL), -1);
	dircache_destroy(dc);
}
END_TEST

START_TEST(test_changes_apply_in_place)
{
	struct dircache *dc = dircache_create(60, 100);
	static const char *const names[] = {"a"};

	fill_dir(dc, "x/", names, 1);
	dircache_add_name(dc, "x/", "b", S_IFREG);
	ck_assert_int_eq(dircache_lookup(dc, "x/", "b", NULL), 1);
	dircache_remove_name(dc, "x/", "a");
	ck_assert_int_eq(dircache_lookup(dc, "x/", "a", NULL), 0);
	/* A change to a directory not cached caches nothing. */
	dircache_add_name(dc, "other/", "b", S_IFREG);
	ck_assert_int_eq(dircache_lookup(dc, "other/", "c", NULL), -1);
	dircache_set_empty(dc, "new/");
	ck_assert_int_eq(dircache_lookup(dc, "new/", "c", NULL), 0);
	dircache_destroy(dc);
}
END_TEST

static int count_cb(void *ctx, const char *name, const struct dircache_entry *e)
{
	(void)name;
	(void)e;
	++*(int *)ctx;
	return 0;
}

START_TEST(test_each_and_forget_tree)
{
	struct dircache *dc = dircache_create(60, 100);
	static const char *const names[] = {"a", "b"};
	int n = 0;

	fill_dir(dc, "t/", names, 2);
	fill_dir(dc, "t/u/", names, 2);
	fill_dir(dc, "tu/", names, 2);
	ck_assert_int_eq(dircache_each(dc, "t/u/", count_cb, &n), 0);
	ck_assert_int_eq(n, 2);
	dircache_forget_tree(dc, "t/");
	ck_assert_int_eq(dircache_each(dc, "t/", count_cb, &n), -ENOENT);
	ck_assert_int_eq(dircache_lookup(dc, "t/u/", "a", NULL), -1);
	ck_assert_int_eq(dircache_lookup(dc, "tu/", "a", NULL), 1); /* a sibling, not under */
	dircache_destroy(dc);
}
END_TEST

START_TEST(test_bounded_least_recent_go)
{
	struct dircache *dc = dircache_create(60, 5);
	static const char *const names[] = {"a", "b", "c"};

	fill_dir(dc, "one/", names, 3);
	fill_dir(dc, "two/", names, 2);
	ck_assert_int_eq(dircache_lookup(dc, "one/", "a", NULL), 1); /* one is now recent */
	fill_dir(dc, "three/", names, 2);			     /* 7 > 5: two goes */
	ck_assert_int_eq(dircache_lookup(dc, "two/", "a", NULL), -1);
	ck_assert_int_eq(dircache_lookup(dc, "one/", "a", NULL), 1);
	ck_assert_int_eq(dircache_lookup(dc, "three/", "a", NULL), 1);
	dircache_destroy(dc);
}
END_TEST

START_TEST(test_ttl_zero_is_off)
{
	struct dircache *dc = dircache_create(0, 100);

	ck_assert_ptr_null(dircache_begin(dc, "x/"));
	dircache_set_empty(dc, "x/");
	ck_assert_int_eq(dircache_lookup(dc, "x/", "a", NULL), -1);
	dircache_destroy(dc);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("dircache");
	TCase *tc = tcase_create("policy");

	tcase_add_test(tc, test_lookup_answers_from_fresh_listing);
	tcase_add_test(tc, test_first_of_a_name_wins);
	tcase_add_test(tc, test_change_during_fill_voids_it);
	tcase_add_test(tc, test_changes_apply_in_place);
	tcase_add_test(tc, test_each_and_forget_tree);
	tcase_add_test(tc, test_bounded_least_recent_go);
	tcase_add_test(tc, test_ttl_zero_is_off);
	suite_add_tcase(s, tc);
	return check_run(s);
}
