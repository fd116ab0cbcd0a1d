#!/bin/sh
# Run azure_store_check (every operation of the Azure store) against a
# fresh azurite on a free loopback port, then stop azurite and remove its
# data, whatever happens.
#
# Usage: tests/tools/azure_store_check.sh [CHECK_BINARY] [-v]
# Without CHECK_BINARY the program is compiled here from the source tree
# (cc, pkg-config: libcurl, libcrypto, libxml-2.0). azurite is installed
# with npm into ${BUCKETFS_NPM_DIR:-/opt/bucketfs-test/npm} when missing.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/../.." && pwd)
npm_dir=${BUCKETFS_NPM_DIR:-/opt/bucketfs-test/npm}
azurite=$npm_dir/node_modules/.bin/azurite-blob
account=devstoreaccount1
key=Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==

binary=
verbose=
for arg in "$@"; do
	case $arg in
	-v) verbose=-v ;;
	*) binary=$arg ;;
	esac
done

tmp=$(mktemp -d "${TMPDIR:-/tmp}/azure-check.XXXXXX")
pid=
# shellcheck disable=SC2317 # called by the trap
cleanup() {
	if [ -n "$pid" ]; then
		kill "$pid" 2>/dev/null || true
		wait "$pid" 2>/dev/null || true
	fi
	rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

if [ ! -x "$azurite" ]; then
	echo "installing azurite into $npm_dir"
	mkdir -p "$npm_dir"
	(cd "$npm_dir" && npm install --no-audit --no-fund azurite >/dev/null)
fi

if [ -z "$binary" ]; then
	binary=$tmp/azure_store_check
	# shellcheck disable=SC2046 # pkg-config output is meant to split
	cc -std=gnu11 -D_GNU_SOURCE -D_FILE_OFFSET_BITS=64 -Wall -Wextra -Werror -g -O1 \
		-I"$top/include" -o "$binary" "$here/azure_store_check.c" \
		"$top/src/util/buf.c" "$top/src/util/log.c" "$top/src/util/metrics.c" \
		"$top/src/util/uri.c" "$top/src/auth/sharedkey.c" "$top/src/http/http.c" \
		"$top/src/store/store.c" "$top/src/store/azure.c" "$top/src/store/azure_xml.c" \
		$(pkg-config --cflags --libs libcurl libcrypto libxml-2.0) -lpthread
fi

# Port 0: azurite binds a free port and says which. Strict mode (no
# --loose, no --skipApiVersionCheck): our headers and x-ms-version must
# be ones it knows. No telemetry: this machine talks to no one.
mkdir "$tmp/data"
# Made here: the background job below opens it only once it runs.
: >"$tmp/azurite.log"
"$azurite" --blobHost 127.0.0.1 --blobPort 0 --location "$tmp/data" --silent \
	--disableTelemetry >"$tmp/azurite.log" 2>&1 &
pid=$!
port=
i=0
while [ $i -lt 300 ]; do
	port=$(sed -n 's/.*successfully listens on http:\/\/127\.0\.0\.1:\([0-9]*\).*/\1/p' \
		"$tmp/azurite.log")
	[ -n "$port" ] && break
	if ! kill -0 "$pid" 2>/dev/null; then
		break
	fi
	sleep 0.1
	i=$((i + 1))
done
if [ -z "$port" ]; then
	echo "azurite did not start:" >&2
	cat "$tmp/azurite.log" >&2
	exit 1
fi
echo "azurite $("$azurite" --version 2>/dev/null || echo '?') on port $port"

rc=0
"$binary" $verbose "http://127.0.0.1:$port/$account" "$account" "$key" || rc=$?
if [ $rc -ne 0 ]; then
	echo "azure_store_check failed (exit $rc); azurite said:" >&2
	tail -n 20 "$tmp/azurite.log" >&2
fi
exit $rc
