#!/bin/sh
# Mount a bucket of a real s3rver under valgrind (memcheck), copy files in
# and out, rename, list and remove, unmount; fail on any memory error or
# leak valgrind reports (definite, indirect or possible).
# Usage: tests/valgrind/mount_copy.sh [BINARY]      (root, /dev/fuse)
set -eu
here=$(cd "$(dirname "$0")" && pwd)
binary=${1:-$here/../../build/bucketfs}
s3rver=${S3RVER:-/opt/bucketfs-test/npm/node_modules/.bin/s3rver}
work=$(mktemp -d /tmp/bucketfs-valgrind-XXXXXX)
mnt=$work/mnt
vlog=$work/valgrind.log
s3pid= bfspid=

cleanup() {
	if grep -qs " $mnt " /proc/self/mountinfo; then
		fusermount3 -u "$mnt" 2>/dev/null || umount -l "$mnt" 2>/dev/null || true
	fi
	[ -n "$bfspid" ] && kill "$bfspid" 2>/dev/null
	[ -n "$s3pid" ] && kill "$s3pid" 2>/dev/null
	wait 2>/dev/null
	rm -rf "$work"
}
trap cleanup EXIT INT TERM

mkdir -p "$mnt" "$work/s3" "$work/staging" "$work/home"
port=$(/usr/bin/python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
NODE_OPTIONS=--openssl-legacy-provider "$s3rver" -d "$work/s3" -a 127.0.0.1 -p "$port" \
	--configure-bucket vgbucket --silent >"$work/s3rver.log" 2>&1 &
s3pid=$!
i=0
until curl -sf -o /dev/null "http://127.0.0.1:$port/vgbucket"; do
	i=$((i + 1))
	[ $i -lt 300 ] || { echo "valgrind: s3rver did not start"; exit 1; }
	sleep 0.1
done

env -i PATH="$PATH" HOME="$work/home" AWS_ACCESS_KEY_ID=S3RVER AWS_SECRET_ACCESS_KEY=S3RVER \
	valgrind --quiet --leak-check=full --show-leak-kinds=definite,indirect,possible \
	--errors-for-leak-kinds=definite,indirect,possible --error-exitcode=99 \
	--log-file="$vlog" "$binary" s3://vgbucket "$mnt" -f \
	-o "endpoint=http://127.0.0.1:$port,staging_dir=$work/staging,retries=2" \
	>"$work/bucketfs.log" 2>&1 &
bfspid=$!
i=0
until grep -qs " $mnt " /proc/self/mountinfo; do
	i=$((i + 1))
	kill -0 "$bfspid" 2>/dev/null && [ $i -lt 600 ] ||
		{ echo "valgrind: bucketfs did not mount"; cat "$work/bucketfs.log" "$vlog"; exit 1; }
	sleep 0.1
done

# The scenario: small and multi-block files in and out, a directory, a
# rename, a listing, an overwrite, removals.
head -c 3000000 /dev/urandom >"$work/big"
printf 'small file\n' >"$work/small"
cp "$work/big" "$work/small" "$mnt/"
mkdir "$mnt/dir"
cp "$work/big" "$mnt/dir/copy"
mv "$mnt/small" "$mnt/dir/moved"
ls -lR "$mnt" >/dev/null
cmp "$work/big" "$mnt/big"
cmp "$work/big" "$mnt/dir/copy"
cmp "$work/small" "$mnt/dir/moved"
cp "$mnt/dir/copy" "$work/back"
cmp "$work/big" "$work/back"
printf 'over' >"$mnt/big"
rm "$mnt/dir/copy"
rm -r "$mnt/dir"

fusermount3 -u "$mnt"
rc=0
wait "$bfspid" || rc=$?
bfspid=
if [ $rc -ne 0 ] || [ -s "$vlog" ]; then
	echo "valgrind: bucketfs exited $rc; valgrind says:"
	cat "$vlog"
	tail -20 "$work/bucketfs.log"
	exit 1
fi
echo "valgrind: mount and copy: no memory errors, no leaks"
