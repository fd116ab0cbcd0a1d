/* The main() every Check unit test shares: run one suite, fail the
 * process when a test fails. */
#ifndef BUCKETFS_CHECK_MAIN_H
#define BUCKETFS_CHECK_MAIN_H

#include <check.h>

static inline int check_run(Suite *s)
{
	SRunner *sr = srunner_create(s);
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? 1 : 0;
}

#endif
