"""Writes in place into a large object move only the parts they touch: the
part is fetched, changed and sent; the untouched parts are copied in the
store (UploadPartCopy, which the signature proxy carries out with s3rver's
own requests, since s3rver has none). Counted at the proxy, checked
against the bucket's bytes."""
import os
import signal
import time

from conftest import get_object, unmount
from test_metrics import counters

MIB = 1 << 20
OPTS = ["multipart_threshold=5M", "part_size=5M"]


def counts(server):
    r = server.stats().get("requests", {})
    return {k: r.get(k, 0) for k in ("PUT part", "PUT part-copy", "PUT", "GET")}


def delta(server, before):
    now = counts(server)
    return {k: now[k] - before[k] for k in now}


def received(m):
    c = counters(os.getxattr(m.path, "user.bucketfs.stats").decode())
    return c["bucketfs_received_bytes_total"]


def big_object(s3, bucket, key, size):
    data = bytearray(os.urandom(size))
    s3.put_object(Bucket=bucket, Key=key, Body=bytes(data))
    return data


def test_one_byte_changes_one_part(mount_factory, s3, bucket, server):
    data = big_object(s3, bucket, "big", 40 * MIB)  # 8 parts of 5 MiB
    m = mount_factory(bucket, opts=OPTS)
    assert os.path.getsize(m.p("big")) == 40 * MIB
    before, got = counts(server), received(m)
    with open(m.p("big"), "r+b") as f:
        f.seek(22 * MIB + 5)
        f.write(b"X")
        data[22 * MIB + 5] = ord("X")
    d = delta(server, before)
    assert d["PUT part"] == 1 and d["PUT part-copy"] == 7, d
    # Fetched: the one part the write fell in, not the object.
    assert received(m) - got <= 6 * MIB
    assert get_object(s3, bucket, "big") == data
    # Read back through the mount: the new version.
    with open(m.p("big"), "rb") as f:
        assert f.read() == data


def test_reads_while_partly_staged(mount_factory, s3, bucket):
    """Before close, reads mix staged parts and the object's."""
    data = big_object(s3, bucket, "mixed", 23 * MIB)
    m = mount_factory(bucket, opts=OPTS)
    with open(m.p("mixed"), "r+b") as f:
        f.seek(6 * MIB)
        f.write(b"A" * (5 * MIB))  # parts 1 and 2, neither whole
        data[6 * MIB:11 * MIB] = b"A" * (5 * MIB)
        f.seek(20 * MIB - 3)
        f.write(b"edge")  # across the boundary of parts 4 and 5 (the short last)
        data[20 * MIB - 3:20 * MIB + 1] = b"edge"
        f.seek(0)
        assert f.read() == data
        with open(m.p("mixed"), "rb") as g:
            assert g.read() == data
    assert get_object(s3, bucket, "mixed") == data


def test_growing_past_the_end(mount_factory, s3, bucket, server):
    """The source's short last part is filled before the file grows past
    it: that part is whole in the new object."""
    data = big_object(s3, bucket, "grow", 12 * MIB)  # parts 5 + 5 + 2 MiB
    m = mount_factory(bucket, opts=OPTS)
    before = counts(server)
    with open(m.p("grow"), "r+b") as f:
        f.seek(14 * MIB)
        f.write(b"tail")
    data += bytes(2 * MIB) + b"tail"
    assert get_object(s3, bucket, "grow") == data
    d = delta(server, before)
    assert d["PUT part-copy"] == 2 and d["PUT part"] == 1, d


def test_store_without_part_copy(mount_factory, s3, bucket, server):
    """A store that answers UploadPartCopy with 501 (as s3rver itself
    does) gets the whole file: the data is right, and later files go
    straight to whole uploads."""
    data = big_object(s3, bucket, "nocopy", 20 * MIB)
    other = big_object(s3, bucket, "nocopy2", 20 * MIB)
    m = mount_factory(bucket, opts=OPTS)
    server.inject({"method": "PUT", "copy": True, "status": 501, "code": "NotImplemented",
                   "count": 100})
    with open(m.p("nocopy"), "r+b") as f:
        f.write(b"first")
    data[:5] = b"first"
    assert get_object(s3, bucket, "nocopy") == data
    before = counts(server)
    with open(m.p("nocopy2"), "r+b") as f:
        f.write(b"again")
    other[:5] = b"again"
    assert get_object(s3, bucket, "nocopy2") == other
    d = delta(server, before)
    assert d["PUT part-copy"] == 0 and d["PUT part"] == 4, d
    assert "cannot copy parts" in m.read_log()
    server.inject()


def test_source_changed_before_close(mount_factory, s3, bucket):
    """Another client replaces the object while it is open for writing: the
    copies would mix two versions, so close fails and the change is kept."""
    big_object(s3, bucket, "raced", 20 * MIB)
    m = mount_factory(bucket, opts=OPTS)
    f = open(m.p("raced"), "r+b")
    f.write(b"mine")
    f.flush()
    theirs = os.urandom(20 * MIB)
    s3.put_object(Bucket=bucket, Key="raced", Body=theirs)
    try:
        f.close()
        closed = True
    except OSError:
        closed = False
    assert not closed
    assert get_object(s3, bucket, "raced") == theirs  # not overwritten half-way
    # Unmount tries once more, cannot, and says so: the change stays on disk.
    assert m.close(expect_status=1) == 1
    assert get_object(s3, bucket, "raced") == theirs
    assert "the data stays in" in m.read_log()


def test_killed_while_partly_staged(mount_factory, s3, bucket):
    """kill -9 with a partial stage: the next mount copies the untouched
    parts from the same version and uploads the written one."""
    data = big_object(s3, bucket, "crash", 20 * MIB)
    m = mount_factory(bucket, opts=OPTS)
    f = open(m.p("crash"), "r+b")
    f.seek(7 * MIB)
    f.write(b"survives")
    f.flush()
    data[7 * MIB:7 * MIB + 8] = b"survives"
    m.proc.send_signal(signal.SIGKILL)
    m.proc.wait()
    try:
        f.close()
    except OSError:
        pass
    unmount(m.path)
    again = mount_factory(bucket, opts=OPTS)
    # Read the object once the upload is done: s3rver replaces it whole,
    # and a GET racing that would be cut short.
    deadline = time.time() + 60
    while "left unsent by an earlier run" not in again.read_log():
        assert time.time() < deadline, again.read_log()
        time.sleep(0.2)
    assert get_object(s3, bucket, "crash") == data
