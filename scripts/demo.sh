#!/bin/sh
# Install what is needed, build bucketfs, and mount a bucket.
#   scripts/demo.sh                      start a local S3 server (s3rver) with a
#                                        bucket "demo" and mount it on /mnt/bucketfs-demo
#   scripts/demo.sh s3://BUCKET[/PREFIX] [MOUNTPOINT] [-o OPTIONS]
#                                        mount a real bucket (credentials from the
#                                        environment or ~/.aws, see bucketfs(1))
# Stop with: scripts/demo.sh --stop
set -eu
cd "$(dirname "$0")/.."
TOP=$PWD
DEMO=$TOP/.demo
MNT=/mnt/bucketfs-demo
PORT=${DEMO_PORT:-8014}

if [ "${1:-}" = "--stop" ]; then
	fusermount3 -u "$MNT" 2>/dev/null || true
	[ -f "$DEMO/s3rver.pid" ] && kill "$(cat "$DEMO/s3rver.pid")" 2>/dev/null || true
	rm -f "$DEMO/s3rver.pid"
	echo "demo stopped"
	exit 0
fi

scripts/install-deps.sh
NPM_DIR=${BUCKETFS_NPM_DIR:-/opt/bucketfs-test/npm}
[ -f build/build.ninja ] || meson setup build >/dev/null
ninja -C build >/dev/null
echo "built $TOP/build/bucketfs"

if [ $# -gt 0 ]; then
	src=$1
	shift
	[ $# -gt 0 ] && case $1 in -*) ;; *) MNT=$1; shift ;; esac
	mkdir -p "$MNT"
	build/bucketfs "$src" "$MNT" "$@"
	echo "mounted $src on $MNT; unmount with: fusermount3 -u $MNT"
	ls -la "$MNT" | head -20
	exit 0
fi

mkdir -p "$DEMO/data" "$MNT"
fusermount3 -u "$MNT" 2>/dev/null || true
if ! [ -f "$DEMO/s3rver.pid" ] || ! kill -0 "$(cat "$DEMO/s3rver.pid")" 2>/dev/null; then
	# s3rver's listing tokens use DES, in OpenSSL 3's legacy provider.
	NODE_OPTIONS=--openssl-legacy-provider "$NPM_DIR/node_modules/.bin/s3rver" -d "$DEMO/data" -a 127.0.0.1 -p "$PORT" \
		--configure-bucket demo --silent >"$DEMO/s3rver.log" 2>&1 &
	echo $! >"$DEMO/s3rver.pid"
	for _ in $(seq 50); do
		curl -s -o /dev/null "http://127.0.0.1:$PORT/" && break
		sleep 0.2
	done
fi
echo "local S3 server (s3rver) on http://127.0.0.1:$PORT with bucket 'demo'"

AWS_ACCESS_KEY_ID=S3RVER AWS_SECRET_ACCESS_KEY=S3RVER \
	build/bucketfs s3://demo "$MNT" -o endpoint=http://127.0.0.1:$PORT
echo "mounted s3://demo on $MNT"

# Use it like any directory.
mkdir -p "$MNT/notes"
echo "Hello from bucketfs: this file is an object in the bucket 'demo'." >"$MNT/notes/hello.txt"
cp README.md "$MNT/README.md"
ls -la "$MNT" "$MNT/notes"
cat "$MNT/notes/hello.txt"
echo
echo "The same objects through the S3 API:"
AWS_ACCESS_KEY_ID=S3RVER AWS_SECRET_ACCESS_KEY=S3RVER AWS_DEFAULT_REGION=us-east-1 \
	aws --endpoint-url "http://127.0.0.1:$PORT" s3 ls --recursive s3://demo/ || true
echo
echo "Try: ls $MNT; cp somefile $MNT/; and stop with: scripts/demo.sh --stop"
