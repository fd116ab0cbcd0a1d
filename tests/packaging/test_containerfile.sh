#!/bin/sh
# The plugin image's recipe (packaging/container/Containerfile), checked on
# this Debian 12 without a container runtime or registry (these machines
# have neither): every package it installs exists in Debian 12, its build
# stage's meson and ninja commands build and install from a copy of the
# tree, and its final stage finds what it copies and runs.
# Usage: tests/packaging/test_containerfile.sh (from anywhere, as root)
set -eu
TOP=$(cd "$(dirname "$0")/../.." && pwd)
CF=$TOP/packaging/container/Containerfile
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
fail() {
	echo "test_containerfile: $*"
	exit 1
}

grep -q '^FROM debian:12 AS build$' "$CF" || fail "the build stage is not FROM debian:12"
[ "$(grep -c '^FROM debian:12' "$CF")" = 2 ] || fail "the final stage is not FROM debian:12"

# RUN lines, continuations joined.
sed -e ':a' -e '/\\$/N; s/\\\n//; ta' "$CF" | sed -n 's/^RUN //p' >"$TMP/run"

# Every package of every apt-get install is one of Debian 12's.
for p in $(sed -n 's/.*apt-get install -y --no-install-recommends \([^&]*\)&&.*/\1/p' "$TMP/run"); do
	apt-cache show "$p" >/dev/null 2>&1 || fail "package $p is not in this Debian"
done

# The build stage's commands, with /src, /build and /out moved under $TMP.
mkdir "$TMP/src"
(cd "$TOP" && git ls-files -z | xargs -0 tar -cf - --no-recursion) | tar -C "$TMP/src" -xf -
build=$(grep 'meson setup' "$TMP/run" | sed -e "s|/src|$TMP/src|g; s|/build|$TMP/build|g; s|/out|$TMP/out|g")
[ -n "$build" ] || fail "no meson setup in the build stage"
sh -c "$build" >"$TMP/build.log" 2>&1 || {
	tail -20 "$TMP/build.log"
	fail "the build stage's commands failed"
}

# The final stage's COPY sources, and its entrypoint's --help.
for f in $(sed -n 's/^COPY --from=build \(.*\) \/usr\/bin\/$/\1/p' "$CF"); do
	[ -x "$TMP$f" ] || fail "the build stage does not produce $f"
done
entry=$(sed -n 's/^ENTRYPOINT \["\([^"]*\)"\]$/\1/p' "$CF")
[ -x "$TMP/out$entry" ] || fail "ENTRYPOINT $entry is not in the image"
"$TMP/out$entry" --help | grep -q CSI || fail "$entry --help does not describe the plugin"
echo "test_containerfile: ok (build stage built $(ls "$TMP/out/usr/bin" | tr '\n' ' '))"
