"""POSIX semantics through a real mount, beyond test_posix.py's round
trips: open flags, O_APPEND, O_EXCL, O_TRUNC, renames and unlinks of open
files, large offsets, times, readdir while the directory changes, the
errno of each refusal; and fio --verify and stress-ng runs under
concurrency. Every test runs on both stores; what object storage cannot
give (hard links, RENAME_EXCHANGE) must fail with a clean errno."""
import ctypes
import errno
import hashlib
import os
import shutil
import stat
import subprocess
import threading
import time

import pytest

from test_posix import read, write

GiB = 1 << 30


def errno_of(fn, *args):
    with pytest.raises(OSError) as e:
        fn(*args)
    return e.value.errno


def test_open_flags(mnt, store):
    write(mnt.p("f"), b"abc")
    fd = os.open(mnt.p("f"), os.O_RDONLY)
    try:
        assert errno_of(os.write, fd, b"x") == errno.EBADF
    finally:
        os.close(fd)
    fd = os.open(mnt.p("f"), os.O_WRONLY)
    try:
        assert errno_of(os.read, fd, 1) == errno.EBADF
    finally:
        os.close(fd)
    # O_CREAT without O_EXCL opens what is there, untouched.
    os.close(os.open(mnt.p("f"), os.O_CREAT | os.O_WRONLY, 0o600))
    assert read(mnt.p("f")) == b"abc"
    assert store.get("f") == b"abc"
    os.mkdir(mnt.p("d"))
    assert errno_of(os.open, mnt.p("f"), os.O_RDONLY | os.O_DIRECTORY) == errno.ENOTDIR
    assert errno_of(os.open, mnt.p("d"), os.O_CREAT | os.O_EXCL | os.O_WRONLY) == errno.EEXIST
    assert errno_of(os.open, mnt.p("d"), os.O_RDWR) == errno.EISDIR
    os.symlink("f", mnt.p("link"))
    assert errno_of(os.open, mnt.p("link"), os.O_RDONLY | os.O_NOFOLLOW) == errno.ELOOP
    assert errno_of(os.open, mnt.p("none", "f"), os.O_CREAT | os.O_WRONLY) == errno.ENOENT


def test_o_append_writes_go_to_the_end(mnt, store):
    write(mnt.p("log"), b"start\n")
    a = os.open(mnt.p("log"), os.O_WRONLY | os.O_APPEND)
    b = os.open(mnt.p("log"), os.O_WRONLY | os.O_APPEND)
    try:
        for i in range(5):
            os.write(a, b"a%d\n" % i)
            os.write(b, b"b%d\n" % i)
        # An explicit position does not move an O_APPEND write.
        os.lseek(a, 0, os.SEEK_SET)
        os.write(a, b"end\n")
    finally:
        os.close(a)
        os.close(b)
    expect = b"start\n" + b"".join(b"a%d\nb%d\n" % (i, i) for i in range(5)) + b"end\n"
    assert read(mnt.p("log")) == expect
    assert store.get("log") == expect


def test_o_excl_has_one_winner(mnt, store):
    wins, losses = [], []

    def create(n):
        try:
            fd = os.open(mnt.p("race"), os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
        except FileExistsError:
            losses.append(n)
            return
        os.write(fd, b"winner %d" % n)
        os.close(fd)
        wins.append(n)

    threads = [threading.Thread(target=create, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(wins) == 1 and len(losses) == 7
    assert store.get("race") == b"winner %d" % wins[0]
    # An object made by another client is there for O_EXCL too.
    store.put("theirs", b"t")
    assert errno_of(os.open, mnt.p("theirs"), os.O_CREAT | os.O_EXCL | os.O_WRONLY) == \
        errno.EEXIST
    assert store.get("theirs") == b"t"


def test_o_trunc_empties_for_every_holder(mnt, store):
    write(mnt.p("t"), b"0123456789")
    with open(mnt.p("t"), "rb") as reader:
        fd = os.open(mnt.p("t"), os.O_WRONLY | os.O_TRUNC)
        try:
            assert os.fstat(fd).st_size == 0
            assert os.fstat(reader.fileno()).st_size == 0
            os.write(fd, b"new")
        finally:
            os.close(fd)
        assert reader.read() == b"new"
    assert store.get("t") == b"new"


def test_rename_errors(mnt, store):
    write(mnt.p("f"), b"f")
    os.mkdir(mnt.p("d"))
    os.mkdir(mnt.p("e"))
    write(mnt.p("e", "x"), b"x")
    assert errno_of(os.rename, mnt.p("f"), mnt.p("d")) == errno.EISDIR
    assert errno_of(os.rename, mnt.p("d"), mnt.p("f")) == errno.ENOTDIR
    assert errno_of(os.rename, mnt.p("d"), mnt.p("d", "sub")) == errno.EINVAL
    assert errno_of(os.rename, mnt.p("missing"), mnt.p("g")) == errno.ENOENT
    assert errno_of(os.rename, mnt.p("d"), mnt.p("e")) == errno.ENOTEMPTY
    os.rename(mnt.p("f"), mnt.p("f"))  # onto itself: nothing happens
    assert store.get("f") == b"f"
    assert sorted(store.keys()) == sorted([store.dir_key("d"), store.dir_key("e"), "e/x", "f"])


RENAME_NOREPLACE, RENAME_EXCHANGE = 1, 2


def renameat2(src, dst, flags):
    libc = ctypes.CDLL(None, use_errno=True)
    rc = libc.renameat2(-100, src.encode(), -100, dst.encode(), flags)  # AT_FDCWD
    if rc:
        e = ctypes.get_errno()
        raise OSError(e, os.strerror(e))


def test_renameat2_flags(mnt, store):
    write(mnt.p("a"), b"A")
    write(mnt.p("b"), b"B")
    assert errno_of(renameat2, mnt.p("a"), mnt.p("b"), RENAME_NOREPLACE) == errno.EEXIST
    # Swapping two objects cannot be atomic on object storage: refused.
    assert errno_of(renameat2, mnt.p("a"), mnt.p("b"), RENAME_EXCHANGE) == errno.EINVAL
    renameat2(mnt.p("a"), mnt.p("c"), RENAME_NOREPLACE)
    assert store.keys() == ["b", "c"]
    assert store.get("c") == b"A"


def test_rename_of_an_open_file_follows_it(mnt, store):
    fd = os.open(mnt.p("old"), os.O_CREAT | os.O_WRONLY, 0o644)
    try:
        os.write(fd, b"first ")
        os.rename(mnt.p("old"), mnt.p("new"))
        os.write(fd, b"second")
    finally:
        os.close(fd)
    assert store.keys() == ["new"]
    assert store.get("new") == b"first second"
    assert read(mnt.p("new")) == b"first second"


def test_unlink_of_a_file_open_for_writing(mnt, store):
    fd = os.open(mnt.p("doomed"), os.O_CREAT | os.O_RDWR, 0o644)
    try:
        os.write(fd, b"written before")
        os.unlink(mnt.p("doomed"))
        # A new file of the same name is another file.
        write(mnt.p("doomed"), b"the new one")
        os.write(fd, b" and after")
        assert os.pread(fd, 100, 0) == b"written before and after"
    finally:
        os.close(fd)
    assert store.keys() == ["doomed"]
    assert store.get("doomed") == b"the new one"


def test_large_offsets_and_sparse_files(mount_factory, store):
    # Kept local until close: a file past multipart_threshold streams its
    # parts while written, holes and all.
    mnt = mount_factory(store, opts=["multipart_threshold=1T"])
    fd = os.open(mnt.p("sparse"), os.O_CREAT | os.O_RDWR, 0o644)
    try:
        off = 5 * GiB + 3  # past 32 bits
        assert os.pwrite(fd, b"far", off) == 3
        assert os.fstat(fd).st_size == off + 3
        assert os.pread(fd, 3, off) == b"far"
        assert os.pread(fd, 4, GiB) == b"\0" * 4
        # Shrunk before it is sent: what goes up is small.
        os.ftruncate(fd, 10)
        os.pwrite(fd, b"end", 1 << 20)
    finally:
        os.close(fd)
    got = store.get("sparse")
    assert len(got) == (1 << 20) + 3
    assert got == b"\0" * (1 << 20) + b"end"
    assert os.stat(mnt.p("sparse")).st_size == (1 << 20) + 3


def test_truncate_of_a_file_open_elsewhere(mnt, store):
    write(mnt.p("t"), bytes(range(200)))
    with open(mnt.p("t"), "rb") as reader:
        os.truncate(mnt.p("t"), 50)
        assert os.fstat(reader.fileno()).st_size == 50
        assert reader.read() == bytes(range(50))
        os.truncate(mnt.p("t"), 100)
        reader.seek(0)
        assert reader.read() == bytes(range(50)) + b"\0" * 50
    assert store.get("t") == bytes(range(50)) + b"\0" * 50


def test_times_follow_changes(mnt, store):
    os.mkdir(mnt.p("d"))
    write(mnt.p("d", "f"), b"1")
    st = os.stat(mnt.p("d", "f"))
    dst = os.stat(mnt.p("d"))
    time.sleep(1.1)  # times in the store have whole seconds
    write(mnt.p("d", "f"), b"2", "ab")
    st2 = os.stat(mnt.p("d", "f"))
    assert st2.st_mtime > st.st_mtime and st2.st_ctime >= st2.st_mtime
    os.chmod(mnt.p("d", "f"), 0o600)
    st3 = os.stat(mnt.p("d", "f"))
    assert st3.st_ctime >= st2.st_ctime and st3.st_mtime == st2.st_mtime
    # A directory's times change with its entries.
    write(mnt.p("d", "g"), b"g")
    dst2 = os.stat(mnt.p("d"))
    assert dst2.st_mtime > dst.st_mtime
    # utimens: exact times, and "now".
    os.utime(mnt.p("d", "f"), ns=(1_500_000_000_123_456_789, 1_400_000_000_987_654_321))
    assert os.stat(mnt.p("d", "f")).st_mtime_ns == 1_400_000_000_987_654_321
    os.utime(mnt.p("d", "f"))
    assert abs(os.stat(mnt.p("d", "f")).st_mtime - time.time()) < 60


def test_chmod_chown_keep_the_type_and_data(mnt, store):
    write(mnt.p("f"), b"data")
    # chown first: Linux clears set-user-ID on chown, even root's.
    os.chown(mnt.p("f"), 1234, 5678)
    os.chmod(mnt.p("f"), 0o4751)
    st = os.stat(mnt.p("f"))
    assert stat.S_ISREG(st.st_mode) and stat.S_IMODE(st.st_mode) == 0o4751
    assert (st.st_uid, st.st_gid) == (1234, 5678)
    assert read(mnt.p("f")) == b"data"
    assert store.get("f") == b"data"
    os.chown(mnt.p("f"), -1, 42)  # -1: unchanged
    assert (os.stat(mnt.p("f")).st_uid, os.stat(mnt.p("f")).st_gid) == (1234, 42)


def test_readdir_while_the_directory_changes(mnt, store):
    names = [f"n{i:03d}" for i in range(120)]
    for n in names:
        store.put(f"d/{n}", b"x")
    keep = set(names[::2])
    seen = []
    with os.scandir(mnt.p("d")) as it:
        for i, e in enumerate(it):
            seen.append(e.name)
            if i < 60:
                # Remove one the walk may not have reached; add new ones.
                os.unlink(mnt.p("d", names[2 * i + 1]))
                write(mnt.p("d", f"new{i:03d}"), b"y")
    # Entries not touched are seen exactly once; nothing is seen twice.
    assert len(seen) == len(set(seen))
    assert keep <= set(seen)
    assert set(os.listdir(mnt.p("d"))) == keep | {f"new{i:03d}" for i in range(60)}


def test_errno_of_each_refusal(mnt, store):
    write(mnt.p("f"), b"f")
    os.mkdir(mnt.p("d"))
    write(mnt.p("d", "x"), b"x")
    assert errno_of(os.mkdir, mnt.p("d")) == errno.EEXIST
    assert errno_of(os.mkdir, mnt.p("f")) == errno.EEXIST
    assert errno_of(os.symlink, "t", mnt.p("f")) == errno.EEXIST
    assert errno_of(os.rmdir, mnt.p("d")) == errno.ENOTEMPTY
    assert errno_of(os.rmdir, mnt.p("f")) == errno.ENOTDIR
    assert errno_of(os.rmdir, mnt.p("missing")) == errno.ENOENT
    assert errno_of(os.unlink, mnt.p("d")) == errno.EISDIR
    assert errno_of(os.stat, mnt.p("f", "x")) == errno.ENOTDIR
    assert errno_of(os.mkdir, mnt.p("missing", "sub")) == errno.ENOENT
    assert errno_of(os.readlink, mnt.p("f")) == errno.EINVAL
    # One name over 255 bytes; a path whose key passes S3's 1024 bytes.
    assert errno_of(os.mkdir, mnt.p("n" * 256)) == errno.ENAMETOOLONG
    deep = mnt.path
    with pytest.raises(OSError) as e:
        for i in range(8):
            deep = os.path.join(deep, f"{i}" * 200)
            os.mkdir(deep)
    assert e.value.errno == errno.ENAMETOOLONG
    # What object storage cannot do is refused cleanly.
    assert errno_of(os.link, mnt.p("f"), mnt.p("hard")) in (errno.EPERM, errno.ENOTSUP)
    assert errno_of(os.mkfifo, mnt.p("fifo")) in (errno.EPERM, errno.ENOTSUP, errno.ENOSYS)
    assert not os.path.exists(mnt.p("hard")) and not os.path.exists(mnt.p("fifo"))


def test_fsync_of_files_and_directories(mnt, store):
    fd = os.open(mnt.p("s"), os.O_CREAT | os.O_WRONLY, 0o644)
    try:
        os.write(fd, b"synced")
        os.fsync(fd)
        assert store.get("s") == b"synced"
        os.fdatasync(fd)
    finally:
        os.close(fd)
    dfd = os.open(mnt.path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(dfd)
    finally:
        os.close(dfd)


@pytest.mark.skipif(not shutil.which("fio"), reason="fio is not installed")
def test_fio_verify_under_concurrency(mnt, store, tmp_path):
    """Four jobs write files with checksummed blocks, at random and in
    order, then read them back through the mount and check every block;
    then the bucket's copies are checked too."""
    out = subprocess.run(
        ["fio", f"--directory={mnt.path}", "--ioengine=psync", "--do_verify=1",
         "--verify_fatal=1", "--verify_state_save=0", "--group_reporting",
         "--name=v", "--numjobs=4", "--size=3m", "--bs=64k", "--rw=randwrite",
         "--verify=crc32c",
         "--name=s", "--numjobs=2", "--size=6m", "--bs=1m", "--rw=write", "--verify=md5"],
        capture_output=True, text=True, timeout=300, cwd=tmp_path)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "verify" not in out.stderr.lower(), out.stderr
    files = sorted(os.listdir(mnt.path))
    assert len(files) == 6
    for name in files:
        assert hashlib.sha256(store.get(name)).digest() == \
            hashlib.sha256(read(mnt.p(name))).digest(), name


@pytest.mark.skipif(not shutil.which("stress-ng"), reason="stress-ng is not installed")
def test_stress_ng_files_and_directories(mnt, store):
    """stress-ng's file and directory stressors, several workers at once,
    each checking what it reads back; the mount must stay sane after."""
    os.mkdir(mnt.p("stress"))
    out = subprocess.run(
        ["stress-ng", "--temp-path", mnt.p("stress"), "--hdd", "2", "--hdd-bytes", "2m",
         "--hdd-write-size", "64k", "--hdd-opts", "wr-seq,rd-seq", "--verify",
         "--dir", "2", "--dir-dirs", "64", "--rename", "1", "--timeout", "10s",
         "--metrics-brief"],
        capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "fail" not in (out.stdout + out.stderr).lower(), out.stdout + out.stderr
    # Each stressor cleans up after itself.
    assert os.listdir(mnt.p("stress")) == []
    with open(mnt.p("after"), "wb") as f:
        f.write(b"still fine")
    assert store.get("after") == b"still fine"
