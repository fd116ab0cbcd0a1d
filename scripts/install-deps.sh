#!/bin/sh
# Install what bucketfs needs to build and to run its tests, on Debian 12.
# Idempotent: quick when everything is already there.
set -eu

APT_PACKAGES="meson ninja-build pkg-config gcc clang libfuse3-dev fuse3 libcurl4-openssl-dev
libssl-dev libxml2-dev uthash-dev check python3-pytest python3-pytest-timeout
python3-botocore python3-boto3 awscli attr strace curl ca-certificates clang-format
debhelper dpkg-dev rpm libnghttp2-dev libprotobuf-c-dev protobuf-c-compiler libjson-c-dev
python3-grpcio python3-protobuf protobuf-compiler fio stress-ng"
NPM_DIR=${BUCKETFS_NPM_DIR:-/opt/bucketfs-test/npm}

missing=""
for p in $APT_PACKAGES; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" ||
		missing="$missing $p"
done
# Node.js: Debian's nodejs + npm, unless a node with npm is already there
# (NodeSource's nodejs ships npm itself and conflicts with Debian's npm).
command -v node >/dev/null 2>&1 || missing="$missing nodejs"
command -v npm >/dev/null 2>&1 || missing="$missing npm"
if [ -n "$missing" ]; then
	echo "install-deps: apt packages:$missing"
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -qq
	# shellcheck disable=SC2086
	apt-get install -y -qq --no-install-recommends $missing >/dev/null
fi

# azurite, and Microsoft's SDK as the tests' independent Azure client.
if [ ! -x "$NPM_DIR/node_modules/.bin/azurite-blob" ] ||
	[ ! -d "$NPM_DIR/node_modules/@azure/storage-blob" ]; then
	echo "install-deps: npm azurite and @azure/storage-blob into $NPM_DIR"
	mkdir -p "$NPM_DIR"
	(cd "$NPM_DIR" && npm install --no-audit --no-fund --silent azurite@3 \
		@azure/storage-blob@12 >/dev/null)
fi
if [ ! -x "$NPM_DIR/node_modules/.bin/s3rver" ]; then
	echo "install-deps: npm s3rver into $NPM_DIR"
	mkdir -p "$NPM_DIR"
	(cd "$NPM_DIR" && npm install --no-audit --no-fund --silent s3rver@3.7 >/dev/null)
fi
echo "install-deps: ok"
