#!/bin/sh
# Run the integration tests against one bucketfs binary: real s3rver, the
# SigV4-checking proxy, real FUSE mounts. Needs root and /dev/fuse.
# Usage: tests/integration/run.sh [BINARY] [pytest args...]
set -eu
here=$(cd "$(dirname "$0")" && pwd)
binary=${1:-$here/../../build/bucketfs}
[ $# -gt 0 ] && shift
# Debian's python: python3-boto3 and python3-botocore import only there.
exec /usr/bin/python3 -m pytest -p no:cacheprovider -q -rfE --timeout=600 \
	--bucketfs "$binary" "$here" "$@"
