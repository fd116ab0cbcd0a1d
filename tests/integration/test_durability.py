"""What close(), fsync() and unmount promise: the bytes are in the bucket,
and a failed upload reaches the application with its data kept on disk."""
import errno
import hashlib
import os
import re
import signal
import time

import pytest

from conftest import get_object, keys


def test_close_means_uploaded(mnt, store):
    for i in range(5):
        with open(mnt.p(f"f{i}"), "wb") as f:
            f.write(b"x" * (i * 1000))
        assert store.get(f"f{i}") == b"x" * (i * 1000)


def test_fsync_means_uploaded(mnt, store):
    fd = os.open(mnt.p("synced"), os.O_CREAT | os.O_WRONLY, 0o644)
    try:
        os.write(fd, b"first")
        os.fsync(fd)
        assert store.get("synced") == b"first"
        os.write(fd, b" second")
        os.fdatasync(fd)
        assert store.get("synced") == b"first second"
    finally:
        os.close(fd)


def test_large_file_multipart(mount_factory, s3, bucket, server):
    # Over 100 MiB: uploaded in parts (default part size 8 MiB), in parallel.
    # (s3rver gives multipart objects a plain MD5 ETag: count the parts at
    # the proxy instead.)
    mnt = mount_factory(bucket)
    parts = server.requests("PUT part")
    chunk = os.urandom(1 << 20)
    h = hashlib.sha256()
    with open(mnt.p("big.bin"), "wb") as f:
        for i in range(110):
            block = chunk[i:] + chunk[:i]
            f.write(block)
            h.update(block)
    head = s3.head_object(Bucket=bucket, Key="big.bin")
    assert head["ContentLength"] == 110 << 20
    assert server.requests("PUT part") - parts == 14  # 14 parts of 8 MiB
    body = s3.get_object(Bucket=bucket, Key="big.bin")["Body"]
    g = hashlib.sha256()
    for part in iter(lambda: body.read(1 << 20), b""):
        g.update(part)
    assert g.hexdigest() == h.hexdigest()
    # And back through the mount.
    r = hashlib.sha256()
    with open(mnt.p("big.bin"), "rb") as f:
        for part in iter(lambda: f.read(1 << 20), b""):
            r.update(part)
    assert r.hexdigest() == h.hexdigest()


def test_small_parts_option(mount_factory, s3, bucket, server):
    m = mount_factory(bucket, opts=["multipart_threshold=5M", "part_size=5M",
                                    "upload_threads=2"])
    data = os.urandom(12 << 20)
    parts = server.requests("PUT part")
    with open(m.p("f"), "wb") as f:
        f.write(data)
    assert server.requests("PUT part") - parts == 3
    assert get_object(s3, bucket, "f") == data


def test_parts_leave_while_writing(mount_factory, s3, bucket, server):
    # A large file streams out while it is written: parts are in the bucket
    # before close, and a part written again is sent again.
    m = mount_factory(bucket, opts=["multipart_threshold=5M", "part_size=5M"])
    data = bytearray(os.urandom(30 << 20))
    parts = server.requests("PUT part")
    with open(m.p("stream"), "wb") as f:
        f.write(data)
        f.flush()
        deadline = time.time() + 60
        while server.requests("PUT part") - parts < 6 and time.time() < deadline:
            time.sleep(0.1)
        assert server.requests("PUT part") - parts == 6, "parts did not leave before close"
        patch = os.urandom(4096)
        f.seek((7 << 20) + 5)
        f.write(patch)
        data[(7 << 20) + 5:(7 << 20) + 5 + 4096] = patch
    assert server.requests("PUT part") - parts == 7  # part 2, again
    assert get_object(s3, bucket, "stream") == bytes(data)


def test_failed_upload_reported_and_kept(mount_factory, server, s3, bucket):
    m = mount_factory(bucket, opts=["retries=1"])
    f = open(m.p("precious"), "wb")
    f.write(b"do not lose me")
    port = server.proxy_port
    server.stop_proxy()
    try:
        with pytest.raises(OSError) as e:
            f.close()
        assert e.value.errno == errno.EIO
        # release, which follows close, tries once more: keep the store
        # away until it has given up too, keeping the file in the mount.
        deadline = time.time() + 60
        while "'precious' stays in the mount" not in m.read_log():
            assert time.time() < deadline, m.read_log()
            time.sleep(0.1)
    finally:
        server.start_proxy(port)
    assert "precious" not in keys(s3, bucket)
    # The data is kept on disk, and the log says where.
    log = m.read_log()
    kept = [re.search(r"(/\S*/staging/\S+)", l) for l in log.splitlines()
            if "'precious'" in l and "failed" in l]
    assert kept and kept[0], log
    path = kept[0].group(1).rstrip(".,:;")
    with open(path, "rb") as k:
        assert k.read() == b"do not lose me"
    # The mount still works once the server is back.
    with open(m.p("after"), "wb") as g:
        g.write(b"ok")
    assert get_object(s3, bucket, "after") == b"ok"


def sigterm_with_open(m, fd):
    """Stop the daemon with SIGTERM while fd is open in its mount, then
    close fd (the mount may be gone by then)."""
    m.proc.send_signal(signal.SIGTERM)
    m.proc.wait(timeout=60)
    try:
        os.close(fd)
    except OSError:
        pass


def test_sigterm_uploads_open_files(mount_factory, s3, bucket):
    m = mount_factory(bucket)
    fd = os.open(m.p("open-at-exit"), os.O_CREAT | os.O_WRONLY, 0o644)
    os.write(fd, b"written, never closed")
    sigterm_with_open(m, fd)
    assert m.close() == 0
    assert get_object(s3, bucket, "open-at-exit") == b"written, never closed"


def test_exit_with_a_directory_open_frees_its_listing(mount_factory, bucket):
    """The kernel drops a releasedir still queued when the mount goes away
    (a directory closed just before unmount); the daemon frees the listing
    itself. The sanitizer build's leak check in close() is what fails."""
    m = mount_factory(bucket)
    os.mkdir(m.p("d"))
    with open(m.p("d", "f"), "wb") as f:
        f.write(b"x")
    dfd = os.open(m.p("d"), os.O_RDONLY | os.O_DIRECTORY)
    assert os.listdir(dfd) == ["f"]
    sigterm_with_open(m, dfd)
    assert m.close() == 0


def test_unmount_uploads_and_exits_cleanly(mount_factory, s3, bucket):
    m = mount_factory(bucket)
    with open(m.p("a"), "wb") as f:
        f.write(b"a" * 100000)
    m.close()
    assert get_object(s3, bucket, "a") == b"a" * 100000


def test_many_concurrent_writers(mnt, store):
    from concurrent.futures import ThreadPoolExecutor

    def work(i):
        data = os.urandom(1000 + i * 7919)
        with open(mnt.p(f"w{i:03d}"), "wb") as f:
            f.write(data)
        return hashlib.md5(data).hexdigest()

    with ThreadPoolExecutor(16) as ex:
        sums = list(ex.map(work, range(64)))
    for i, s in enumerate(sums):
        assert hashlib.md5(store.get(f"w{i:03d}")).hexdigest() == s
