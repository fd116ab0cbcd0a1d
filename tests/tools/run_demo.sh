#!/bin/sh
# The README's first command, as a newcomer runs it: scripts/demo.sh builds,
# starts a local S3 server, mounts it and writes through the mount; the
# objects must then be in the bucket (the demo lists them through the AWS
# CLI). Then scripts/demo.sh --stop must unmount.
set -eu
cd "$(dirname "$0")/../.."
MNT=/mnt/bucketfs-demo
port=$(/usr/bin/python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
out=$(mktemp)
trap 'scripts/demo.sh --stop >/dev/null 2>&1 || true; rm -f "$out"' EXIT
if ! DEMO_PORT=$port scripts/demo.sh >"$out" 2>&1; then
	cat "$out"
	echo "run_demo: scripts/demo.sh failed"
	exit 1
fi
grep -q "mounted s3://demo on $MNT" "$out" || { cat "$out"; echo "run_demo: no mount"; exit 1; }
# The AWS CLI's listing, printed by the demo: the bucket has both files.
for key in notes/hello.txt README.md; do
	grep -q " $key\$" "$out" || { cat "$out"; echo "run_demo: $key not in the bucket"; exit 1; }
done
scripts/demo.sh --stop >/dev/null
if grep -q " $MNT " /proc/self/mountinfo; then
	echo "run_demo: $MNT still mounted after --stop"
	exit 1
fi
echo "run_demo: ok"
