#!/bin/sh
# Run every test: unit tests and integration tests (real s3rver, real FUSE
# mounts) on a normal build and on an ASan+UBSan build, a TSan stress test,
# a valgrind mount, short fuzzing runs, plus format checks.
# Usage: scripts/check.sh            (from the repository root, as root)
set -eu
cd "$(dirname "$0")/.."

scripts/install-deps.sh
NPM_DIR=${BUCKETFS_NPM_DIR:-/opt/bucketfs-test/npm}
export S3RVER="$NPM_DIR/node_modules/.bin/s3rver"

status=0
step() { echo; echo "==== $*"; }

step "format (clang-format)"
if ! clang-format --dry-run --Werror $(git ls-files '*.c' '*.h' 2>/dev/null || find src include tests -name '*.[ch]'); then
	echo "format: run clang-format -i on the files above"
	status=1
fi

for variant in build build-asan; do
	if [ "$variant" = build-asan ]; then
		opts="-Db_sanitize=address,undefined -Db_lundef=false -Dbuildtype=debug"
		export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1
		export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
	else
		opts=""
	fi
	step "$variant: configure and compile"
	if [ ! -f "$variant/build.ninja" ]; then
		# shellcheck disable=SC2086
		meson setup "$variant" $opts >/dev/null
	fi
	ninja -C "$variant" >/dev/null

	step "$variant: unit tests"
	meson test -C "$variant" --suite unit --suite docs --suite azure --print-errorlogs ||
		status=1

	step "$variant: integration tests"
	tests/integration/run.sh "$PWD/$variant/bucketfs" || status=1
done

step "tsan: multithreaded cache stress test"
if [ ! -f build-tsan/build.ninja ]; then
	meson setup build-tsan -Db_sanitize=thread -Db_lundef=false -Dbuildtype=debug >/dev/null
fi
ninja -C build-tsan tests/test_stress >/dev/null
TSAN_OPTIONS=halt_on_error=1 meson test -C build-tsan --no-rebuild --print-errorlogs stress ||
	status=1

step "valgrind: mount and copy, no leaks"
tests/valgrind/mount_copy.sh "$PWD/build/bucketfs" || status=1

step "fuzz: each libFuzzer target for ${FUZZ_SECONDS:-20} s"
fuzz/run.sh || status=1

step "packages (.deb, RPM, systemd unit)"
tests/packaging/test_packages.sh || status=1
tests/packaging/test_containerfile.sh || status=1

step "demo (the README's first command)"
tests/tools/run_demo.sh || status=1

step "result"
if [ $status -eq 0 ]; then echo "all test groups passed"; else echo "some tests FAILED"; fi
exit $status
