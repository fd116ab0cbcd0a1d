#!/bin/sh
# Build the libFuzzer targets (clang, ASan+UBSan) in their own build dir and
# run each for a while, from its seed corpus in fuzz/corpus/TARGET. New
# inputs go to the build dir, never into the repository.
# Usage: fuzz/run.sh [TARGET...]     (FUZZ_SECONDS=20 per target)
set -eu
cd "$(dirname "$0")/.."
dir=${FUZZ_BUILD_DIR:-build-fuzz}
seconds=${FUZZ_SECONDS:-20}
san="-fsanitize=address,undefined -fno-sanitize-recover=undefined"

if [ ! -f "$dir/build.ninja" ]; then
	CC=clang meson setup "$dir" -Dtests=false -Dbuildtype=debug -Db_lundef=false \
		-Dc_args="-fsanitize=fuzzer-no-link $san" -Dc_link_args="$san" >/dev/null
fi
ninja -C "$dir" libbucketfs-core.a libbucketfs-csi-core.a >/dev/null
# shellcheck disable=SC2046
set -- ${*:-$(cd fuzz && ls fuzz_*.c | sed 's/^fuzz_//; s/\.c$//')}
deps=$(pkg-config --cflags --libs libxml-2.0 libcurl libcrypto fuse3)
export ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1
status=0
for t in "$@"; do
	# bucketfs-csi's targets: its library and its generated messages too.
	csi=""
	case $t in csi_*)
		csi="-Isrc/csi $dir/libbucketfs-csi-core.a $(pkg-config --cflags --libs libnghttp2 libprotobuf-c json-c)" ;;
	esac
	# shellcheck disable=SC2086
	clang -g -O1 -D_GNU_SOURCE -D_FILE_OFFSET_BITS=64 -DFUSE_USE_VERSION=35 \
		-fsanitize=fuzzer $san -Iinclude -I"$dir" "fuzz/fuzz_$t.c" $csi \
		"$dir/libbucketfs-core.a" $deps -lpthread -o "$dir/fuzz_$t"
	mkdir -p "$dir/corpus-$t"
	if "$dir/fuzz_$t" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 \
		-artifact_prefix="$dir/crash-$t-" "$dir/corpus-$t" "fuzz/corpus/$t" \
		>"$dir/fuzz_$t.log" 2>&1; then
		echo "fuzz $t: ok ($(grep -c . "$dir/fuzz_$t.log") log lines, corpus" \
			"$(ls "$dir/corpus-$t" | wc -l))"
	else
		echo "fuzz $t: FAILED, see $dir/fuzz_$t.log and $dir/crash-$t-*"
		grep -A30 "ERROR\|runtime error" "$dir/fuzz_$t.log" | head -60
		status=1
	fi
done
exit $status
