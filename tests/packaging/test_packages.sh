#!/bin/sh
# Packaging test: build the .deb (dpkg-buildpackage, packaging/debian copied
# to debian/) and the RPM (rpmbuild from the `meson dist` tarball), install
# the .deb, mount a bucket of a local s3rver with the installed
# /usr/bin/bucketfs through mount(8), through /etc/fstab and through the
# systemd unit's own command lines, verify the unit, purge the package.
#
# Usage, as root:  tests/packaging/test_packages.sh
#   By default the working tree is packaged as it is. With
#   BUCKETFS_PKG_REV=HEAD (or any commit) that commit's code is packaged with
#   the working tree's packaging/ and tests/packaging/ laid over it.
#   BUCKETFS_PKG_KEEP=1 keeps the work directory (packages, build logs).
# Needs what scripts/install-deps.sh installs and /dev/fuse. Refuses to run
# if bucketfs is already installed in /usr/bin. Leaves nothing behind: the
# package is purged, /etc/fstab restored byte for byte, s3rver stopped.
set -eu

TOP=$(cd "$(dirname "$0")/../.." && pwd)
S3RVER=${S3RVER:-/opt/bucketfs-test/npm/node_modules/.bin/s3rver}
REV=${BUCKETFS_PKG_REV:-}
KEEP=${BUCKETFS_PKG_KEEP:-0}
BUCKET=pkgtest
# mount(8) drops PATH before it runs /sbin/mount.fuse (-> mount.fuse3),
# which runs "bucketfs ..." through /bin/sh, so the shell's default PATH
# finds it: a bucketfs in one of these would shadow the packaged one.
SHADOWS="/usr/local/sbin/bucketfs /usr/local/bin/bucketfs /usr/sbin/bucketfs"
# The environment of mount and of the unit's commands: nothing of ours.
CLEAN_PATH=/usr/sbin:/usr/bin:/sbin:/bin

TMP=""
S3PID=""
DPID=""
INSTALLED=0
FSTAB_SAVED=0
STARTED=$(date +%s)

say() { echo "test_packages: $*"; }
fail() {
	echo "test_packages: FAIL: $*" >&2
	exit 1
}

cleanup() {
	rc=$?
	set +e
	for m in "$TMP/mnt" "$TMP/mnt-fstab" "$TMP/mnt-unit"; do
		[ -n "$TMP" ] && is_mounted "$m" && umount -l "$m"
	done
	[ -n "$DPID" ] && kill "$DPID" 2>/dev/null && wait "$DPID" 2>/dev/null
	[ "$FSTAB_SAVED" = 1 ] && restore_fstab
	if [ "$INSTALLED" = 1 ] && dpkg-query -W bucketfs >/dev/null 2>&1; then
		say "purging the test's bucketfs package"
		apt-get purge -y -qq bucketfs bucketfs-csi >/dev/null 2>&1 ||
			dpkg -P bucketfs-csi bucketfs >/dev/null
	fi
	[ -n "$S3PID" ] && kill "$S3PID" 2>/dev/null && wait "$S3PID" 2>/dev/null
	if [ "$KEEP" = 1 ] && [ -n "$TMP" ]; then
		say "kept $TMP"
	elif [ -n "$TMP" ]; then
		rm -rf "$TMP"
	fi
	if [ "$rc" -eq 0 ]; then
		say "ok ($(($(date +%s) - STARTED)) s)"
	else
		say "FAILED"
	fi
	exit "$rc"
}
trap cleanup EXIT
trap 'exit 129' HUP
trap 'exit 130' INT
trap 'exit 143' TERM

# run NAME CMD...: run CMD with its output in $TMP/NAME.log, shown on failure.
run() {
	name=$1
	shift
	if ! "$@" >"$TMP/$name.log" 2>&1; then
		tail -n 40 "$TMP/$name.log" >&2
		fail "$name: '$*' failed (end of its output above)"
	fi
}

is_mounted() {
	awk -v m="$1" '$2 == m { found = 1 } END { exit !found }' /proc/self/mounts
}

# daemon_pid MNT: the bucketfs process that has MNT among its arguments.
daemon_pid() {
	for d in /proc/[0-9]*; do
		[ "$(cat "$d/comm" 2>/dev/null)" = bucketfs ] || continue
		if tr '\0' '\n' <"$d/cmdline" 2>/dev/null | grep -qxF "$1"; then
			echo "${d#/proc/}"
			return 0
		fi
	done
}

# check_mount MNT SOURCE: MNT is a fuse.bucketfs mount of SOURCE, served by
# the packaged /usr/bin/bucketfs.
check_mount() {
	line=$(awk -v m="$1" '$2 == m { print $1, $3 }' /proc/self/mounts)
	[ "$line" = "$2 fuse.bucketfs" ] || fail "$1: expected '$2 fuse.bucketfs' in /proc/self/mounts, found '$line'"
	pid=$(daemon_pid "$1")
	exe=$(readlink "/proc/$pid/exe" 2>/dev/null || true)
	[ "$exe" = /usr/bin/bucketfs ] || fail "$1 is served by '$exe' (pid '$pid'), not by /usr/bin/bucketfs"
}

# wait_unmounted MNT: MNT is unmounted and its daemon has exited.
wait_unmounted() {
	for _ in $(seq 100); do
		if ! is_mounted "$1" && [ -z "$(daemon_pid "$1")" ]; then
			return 0
		fi
		sleep 0.2
	done
	fail "$1: still mounted, or its bucketfs still running, 20 s after unmount"
}

clean_env() { env -i PATH="$CLEAN_PATH" HOME="$TMP/home" "$@"; }

s3() {
	AWS_ACCESS_KEY_ID=S3RVER AWS_SECRET_ACCESS_KEY=S3RVER AWS_DEFAULT_REGION=us-east-1 \
		AWS_CONFIG_FILE=/dev/null AWS_SHARED_CREDENTIALS_FILE=/dev/null \
		aws --endpoint-url "$ENDPOINT" s3 "$@"
}

# expect_object KEY TEXT: the bucket, read through the S3 API, holds TEXT at KEY.
expect_object() {
	got=$(s3 cp "s3://$BUCKET/$1" - 2>"$TMP/aws.err") ||
		fail "s3://$BUCKET/$1: not readable through the S3 API: $(cat "$TMP/aws.err")"
	[ "$got" = "$2" ] || fail "s3://$BUCKET/$1 holds '$got', expected '$2'"
}

# write_and_check MNT KEY TEXT: write TEXT to MNT/FILE, find it at KEY in the bucket.
write_and_check() {
	printf '%s\n' "$3" >"$1/$(basename "$2")" || fail "cannot write $1/$(basename "$2")"
	expect_object "$2" "$3"
}

restore_fstab() {
	if [ -f "$TMP/fstab.orig" ]; then
		cat "$TMP/fstab.orig" >/etc/fstab && touch -r "$TMP/fstab.orig" /etc/fstab
	else
		rm -f /etc/fstab
	fi
	FSTAB_SAVED=0
}

# snapshot DEST: the source tree to package, without build directories.
snapshot() {
	mkdir -p "$1"
	if [ -n "$REV" ]; then
		git -C "$TOP" archive "$REV" | tar -C "$1" -xf -
		(cd "$TOP" && tar -cf - packaging tests/packaging) | tar -C "$1" -xf -
	elif git -C "$TOP" rev-parse --git-dir >/dev/null 2>&1; then
		(cd "$TOP" && git ls-files -co --exclude-standard | while IFS= read -r f; do
			if [ -e "$f" ] || [ -L "$f" ]; then printf '%s\n' "$f"; fi
		done | tar -cf - -T -) | tar -C "$1" -xf -
	else
		(cd "$TOP" && tar --exclude='./build*' --exclude=./.demo --exclude=./debian -cf - .) |
			tar -C "$1" -xf -
	fi
}

# ---- preconditions
[ "$(id -u)" = 0 ] || fail "run as root (it installs a package and mounts)"
if [ -e /usr/bin/bucketfs ] || [ -L /usr/bin/bucketfs ]; then
	fail "refusing to run: /usr/bin/bucketfs already exists and is not this test's to replace"
fi
for f in $SHADOWS; do
	if [ -e "$f" ] || [ -L "$f" ]; then
		fail "refusing to run: $f would be run by mount(8) instead of the packaged /usr/bin/bucketfs"
	fi
done
if dpkg-query -W -f='${Status}' bucketfs 2>/dev/null | grep -q 'ok installed'; then
	fail "refusing to run: a bucketfs package is already installed"
fi
for tool in dpkg-buildpackage dh rpmbuild rpmspec meson git aws fusermount3 curl; do
	command -v "$tool" >/dev/null 2>&1 || fail "$tool not found: run scripts/install-deps.sh"
done
[ -x /sbin/mount.fuse3 ] || fail "/sbin/mount.fuse3 not found: install fuse3"
[ -x "$S3RVER" ] || fail "no s3rver at $S3RVER: run scripts/install-deps.sh or set S3RVER"
[ -c /dev/fuse ] || fail "/dev/fuse missing"

TMP=$(mktemp -d /tmp/bucketfs-pkg.XXXXXX)
chmod 755 "$TMP" # apt reads the .deb as user _apt
mkdir "$TMP/mnt" "$TMP/mnt-fstab" "$TMP/mnt-unit" "$TMP/home" "$TMP/stage"

# ---- versions agree
VERSION=$(meson introspect --projectinfo "$TOP/meson.build" | sed -n 's/.*"version": "\([^"]*\)".*/\1/p')
[ -n "$VERSION" ] || fail "cannot read the project version from meson.build"
SRC=$TMP/bucketfs-$VERSION
snapshot "$SRC"
DEBVER=$(dpkg-parsechangelog -l "$SRC/packaging/debian/changelog" -S Version)
[ "${DEBVER%-*}" = "$VERSION" ] ||
	fail "packaging/debian/changelog is at $DEBVER, meson.build at $VERSION: add a changelog entry"
RPMVER=$(rpmspec -q --srpm --qf '%{VERSION}\n' "$SRC/packaging/rpm/bucketfs.spec" 2>/dev/null)
[ "$RPMVER" = "$VERSION" ] ||
	fail "packaging/rpm/bucketfs.spec is at '$RPMVER', meson.build at $VERSION"
say "packaging bucketfs $VERSION (${REV:-working tree})"

# ---- meson dist tarball (tested; the RPM's source), from a commit of the snapshot
(cd "$SRC" && git init -q -b main . && git add -A &&
	git -c user.name=test_packages -c user.email=test@localhost -c commit.gpgsign=false \
		commit -q --no-verify -m snapshot) || fail "cannot commit the snapshot for meson dist"
# meson dist builds the tarball, then builds and tests what is in it (unit,
# docs and azure suites): a file missing from git fails here.
run meson-setup meson setup "$TMP/dist" "$SRC"
run meson-dist meson dist -C "$TMP/dist" --formats gztar
TARBALL=$TMP/dist/meson-dist/bucketfs-$VERSION.tar.gz
[ -f "$TARBALL" ] || fail "meson dist made no $TARBALL"

# ---- a. the .deb
say "dpkg-buildpackage"
cp -a "$SRC/packaging/debian" "$SRC/debian"
# shellcheck disable=SC2016
run dpkg-buildpackage sh -c 'cd "$1" && exec dpkg-buildpackage -us -uc -b' sh "$SRC"
DEB=$TMP/bucketfs_${DEBVER}_$(dpkg --print-architecture).deb
[ -f "$DEB" ] || fail "dpkg-buildpackage made no $(basename "$DEB")"
dpkg-deb -c "$DEB" | awk '{ print $6 }' >"$TMP/deb.files"
for f in ./usr/bin/bucketfs ./usr/share/man/man1/bucketfs.1.gz ./lib/systemd/system/bucketfs@.service; do
	grep -qxF "$f" "$TMP/deb.files" || fail "$(basename "$DEB") lacks $f (it has: $(tr '\n' ' ' <"$TMP/deb.files"))"
done
depends=$(dpkg-deb -f "$DEB" Depends)
for d in libfuse3-3 libcurl4 fuse3; do
	echo "$depends" | grep -q "\(^\|, \)$d\( \|,\|$\)" || fail "Depends lacks $d: $depends"
done
CSIDEB=$TMP/bucketfs-csi_${DEBVER}_$(dpkg --print-architecture).deb
[ -f "$CSIDEB" ] || fail "dpkg-buildpackage made no $(basename "$CSIDEB")"
dpkg-deb -c "$CSIDEB" | awk '{ print $6 }' >"$TMP/csideb.files"
for f in ./usr/bin/bucketfs-csi ./usr/share/man/man8/bucketfs-csi.8.gz; do
	grep -qxF "$f" "$TMP/csideb.files" || fail "$(basename "$CSIDEB") lacks $f"
done
depends=$(dpkg-deb -f "$CSIDEB" Depends)
for d in bucketfs libnghttp2-14 libprotobuf-c1 libjson-c5; do
	echo "$depends" | grep -q "\(^\|, \)$d\( \|,\|$\)" || fail "bucketfs-csi Depends lacks $d: $depends"
done

# ---- b. install it
say "apt-get install $(basename "$DEB")"
INSTALLED=1
run apt-install env DEBIAN_FRONTEND=noninteractive apt-get install -y "$DEB" "$CSIDEB"
/usr/bin/bucketfs-csi --version | grep -qxF "bucketfs-csi $VERSION" ||
	fail "/usr/bin/bucketfs-csi --version says '$(/usr/bin/bucketfs-csi --version)'"
[ -x /usr/bin/bucketfs ] || fail "/usr/bin/bucketfs not installed"
/usr/bin/bucketfs --version | grep -qxF "bucketfs $VERSION" ||
	fail "/usr/bin/bucketfs --version says '$(/usr/bin/bucketfs --version | head -n 1)', expected bucketfs $VERSION"

# ---- c. mount with the installed binary: mount -t, /etc/fstab
PORT=$(/usr/bin/python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
ENDPOINT=http://127.0.0.1:$PORT
mkdir "$TMP/s3rver"
# s3rver's listing tokens use DES, which OpenSSL 3 keeps in its legacy provider.
NODE_OPTIONS=--openssl-legacy-provider "$S3RVER" -d "$TMP/s3rver" -a 127.0.0.1 -p "$PORT" \
	--configure-bucket "$BUCKET" --silent >"$TMP/s3rver.log" 2>&1 &
S3PID=$!
for _ in $(seq 100); do
	curl -s -o /dev/null "$ENDPOINT/" && break
	kill -0 "$S3PID" 2>/dev/null || fail "s3rver exited: $(cat "$TMP/s3rver.log")"
	sleep 0.2
done
curl -s -o /dev/null "$ENDPOINT/" || fail "s3rver is not answering on $ENDPOINT"
printf 'S3RVER:S3RVER\n' >"$TMP/passwd"
chmod 600 "$TMP/passwd"
OPTS=endpoint=$ENDPOINT,passwd_file=$TMP/passwd,staging_dir=$TMP/stage

say "mount -t fuse.bucketfs"
printf 'put through the S3 API\n' >"$TMP/seed"
s3 cp "$TMP/seed" "s3://$BUCKET/seed.txt" >/dev/null 2>"$TMP/aws.err" ||
	fail "cannot put an object through the S3 API: $(cat "$TMP/aws.err")"
MNT=$TMP/mnt
run mount-t clean_env \
	mount -t fuse.bucketfs "s3://$BUCKET" "$MNT" -o "$OPTS,noatime,nodev"
check_mount "$MNT" "s3://$BUCKET"
[ "$(cat "$MNT/seed.txt")" = "put through the S3 API" ] || fail "$MNT/seed.txt does not read back"
write_and_check "$MNT" via-mount-t.txt "written through mount -t fuse.bucketfs"
run umount umount "$MNT"
wait_unmounted "$MNT"

say "/etc/fstab"
MNT=$TMP/mnt-fstab
if [ -e /etc/fstab ]; then cp -p /etc/fstab "$TMP/fstab.orig"; fi
FSTAB_SAVED=1
if [ -s /etc/fstab ] && [ -n "$(tail -c 1 /etc/fstab)" ]; then echo >>/etc/fstab; fi
printf '%s\n' "s3://$BUCKET/team $MNT fuse.bucketfs _netdev,nofail,noauto,x-systemd.automount,$OPTS 0 0" >>/etc/fstab
run mount-fstab clean_env mount "$MNT"
check_mount "$MNT" "s3://$BUCKET/team"
write_and_check "$MNT" team/via-fstab.txt "written through an /etc/fstab line"
run umount umount "$MNT"
wait_unmounted "$MNT"
restore_fstab
if [ -f "$TMP/fstab.orig" ]; then
	cmp -s "$TMP/fstab.orig" /etc/fstab || fail "/etc/fstab differs from before the test"
fi

# ---- d. the systemd unit
UNIT=/lib/systemd/system/bucketfs@.service
if command -v systemd-analyze >/dev/null 2>&1; then
	# Outside a systemd machine (a container) verify may not work at all:
	# try a trivial unit first, and skip only if that fails too.
	mkdir "$TMP/units"
	printf '[Service]\nExecStart=/bin/true\n' >"$TMP/units/trivial.service"
	if systemd-analyze verify "$TMP/units/trivial.service" >"$TMP/verify.log" 2>&1; then
		say "systemd-analyze verify $UNIT"
		run systemd-verify systemd-analyze verify "$UNIT"
	else
		say "SKIP systemd-analyze verify: it cannot verify even a trivial unit here ($(head -n 1 "$TMP/verify.log"))"
	fi
else
	say "SKIP systemd-analyze verify: no systemd-analyze"
fi
# What systemd would run for bucketfs@MNT.service, run by hand: ExecStart
# with a .conf like /etc/bucketfs/INSTANCE.conf must mount in the
# foreground, ExecStop must unmount, and the daemon must then exit 0 (so
# that Restart=on-failure does not restart it).
say "the unit's ExecStart and ExecStop"
MNT=$TMP/mnt-unit
exec_line() { sed -n "s/^$1=[-@:+!]*//p" "$UNIT" | sed "s|%f|$MNT|g"; }
start=$(exec_line ExecStart)
stop=$(exec_line ExecStop)
if [ -z "$start" ] || [ -z "$stop" ]; then fail "$UNIT: no ExecStart= or ExecStop="; fi
grep -qxF 'EnvironmentFile=/etc/bucketfs/%i.conf' "$UNIT" || fail "$UNIT: EnvironmentFile is not /etc/bucketfs/%i.conf"
printf 'BUCKETFS_SOURCE=s3://%s/unit\nBUCKETFS_OPTIONS=%s\n' "$BUCKET" "$OPTS" >"$TMP/unit.conf"
(
	set -a
	# shellcheck disable=SC1091
	. "$TMP/unit.conf"
	eval "exec env -i PATH=$CLEAN_PATH HOME=$TMP/home $start"
) >"$TMP/unit.log" 2>&1 &
DPID=$!
for _ in $(seq 100); do
	is_mounted "$MNT" && break
	kill -0 "$DPID" 2>/dev/null || fail "ExecStart ($start) exited: $(cat "$TMP/unit.log")"
	sleep 0.1
done
check_mount "$MNT" "s3://$BUCKET/unit"
write_and_check "$MNT" unit/via-unit.txt "written through the unit's ExecStart"
run unit-stop sh -c "$stop"
for _ in $(seq 150); do
	kill -0 "$DPID" 2>/dev/null || break
	sleep 0.2
done
kill -0 "$DPID" 2>/dev/null && fail "bucketfs -f still running 30 s after ExecStop ($stop)"
status=0
wait "$DPID" || status=$?
DPID=""
[ "$status" = 0 ] || fail "bucketfs -f exited $status after ExecStop ($stop): $(cat "$TMP/unit.log")"
is_mounted "$MNT" && fail "$MNT still mounted after ExecStop"

# ---- e. purge
say "apt-get purge bucketfs"
run apt-purge env DEBIAN_FRONTEND=noninteractive apt-get purge -y bucketfs bucketfs-csi
INSTALLED=0
for f in /usr/bin/bucketfs /usr/bin/bucketfs-csi "$UNIT" /usr/share/man/man1/bucketfs.1.gz; do
	[ -e "$f" ] && fail "$f is still there after purge"
done
dpkg-query -W -f='${Status}' bucketfs 2>/dev/null | grep -q 'ok installed' && fail "bucketfs still installed after purge"

# ---- f. the RPM, from the meson dist tarball
say "rpmbuild"
mkdir -p "$TMP/rpm/tmp"
run rpmbuild rpmbuild -bb --nodeps --define "_topdir $TMP/rpm" --define "_tmppath $TMP/rpm/tmp" \
	--define "_sourcedir $(dirname "$TARBALL")" "$SRC/packaging/rpm/bucketfs.spec"
RPM=$(find "$TMP/rpm/RPMS" -name "bucketfs-$VERSION-*.rpm" ! -name '*debug*' | head -n 1)
[ -n "$RPM" ] || fail "rpmbuild made no bucketfs-$VERSION RPM: $(find "$TMP/rpm/RPMS" -type f)"
rpm -qlp "$RPM" >"$TMP/rpm.files" 2>/dev/null
for f in /usr/bin/bucketfs /usr/lib/systemd/system/bucketfs@.service; do
	grep -qxF "$f" "$TMP/rpm.files" || fail "$(basename "$RPM") lacks $f (it has: $(tr '\n' ' ' <"$TMP/rpm.files"))"
done
grep -q '^/usr/share/man/man1/bucketfs\.1' "$TMP/rpm.files" || fail "$(basename "$RPM") lacks the man page"
rpm -qp --requires "$RPM" 2>/dev/null | grep -qx 'fuse3' || fail "$(basename "$RPM") does not require fuse3"
CSIRPM=$(find "$TMP/rpm/RPMS" -name "bucketfs-csi-$VERSION-*.rpm" ! -name '*debug*' | head -n 1)
[ -n "$CSIRPM" ] || fail "rpmbuild made no bucketfs-csi RPM"
rpm -qlp "$CSIRPM" 2>/dev/null | grep -qxF /usr/bin/bucketfs-csi || fail "$(basename "$CSIRPM") lacks /usr/bin/bucketfs-csi"
