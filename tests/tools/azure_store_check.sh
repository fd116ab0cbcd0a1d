#!/bin/sh
# Run azure_store_check (every operation of the Azure store) against a
# fresh azurite on a free loopback port, then stop azurite and remove its
# data, whatever happens.
#
# Usage: tests/tools/azure_store_check.sh CHECK_BINARY [-v]
# CHECK_BINARY is meson's (build/tests/azure_store_check; `meson test
# --suite azure` passes it). azurite is installed with npm into
# ${BUCKETFS_NPM_DIR:-/opt/bucketfs-test/npm} when missing.
set -eu
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
if [ -z "$binary" ]; then
	echo "usage: $0 CHECK_BINARY [-v] (meson builds it: tests/azure_store_check)" >&2
	exit 2
fi

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
