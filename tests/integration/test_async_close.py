"""-o async_close: close() returns once the data is staged, uploads follow
in the background, fsync() and unmount still wait for them, and nothing is
lost when the store is away or the daemon is killed."""
import os
import signal
import stat
import time

from conftest import get_object, keys, unmount

OPTS = ["async_close", "multipart_threshold=5M", "part_size=5M"]


def wait_for(pred, what, timeout=60):
    deadline = time.time() + timeout
    while not pred():
        assert time.time() < deadline, what
        time.sleep(0.1)


def test_closed_files_are_sent_and_unmount_waits(mount_factory, s3, bucket):
    m = mount_factory(bucket, opts=OPTS)
    files = {f"d/f{i:02d}": os.urandom(i * 997) for i in range(40)}
    files["d/big"] = os.urandom(12 << 20)  # in parts, past the threshold
    os.mkdir(m.p("d"))
    for k, v in files.items():
        with open(m.p(k), "wb") as f:
            f.write(v)
    # At once, before or while they are sent: the mount shows what was written.
    assert sorted(os.listdir(m.p("d"))) == sorted(k[2:] for k in files)
    for k, v in files.items():
        with open(m.p(k), "rb") as f:
            assert f.read() == v, k
    assert m.close() == 0
    assert keys(s3, bucket, "d/") == ["d/"] + sorted(files)  # and mkdir's marker
    for k, v in files.items():
        assert get_object(s3, bucket, k) == v, k


def test_close_returns_while_the_store_is_away(mount_factory, s3, bucket, server):
    m = mount_factory(bucket, opts=OPTS + ["retries=1"])
    os.listdir(m.path)  # listed: creating a file needs no lookup
    port = server.proxy_port
    server.stop_proxy()
    try:
        with open(m.p("away"), "wb") as f:
            f.write(b"kept until the store is back")  # close() succeeds
        with open(m.p("away"), "rb") as f:
            assert f.read() == b"kept until the store is back"
        # The background upload fails, says so, and keeps the data.
        wait_for(lambda: "upload of 'away'" in m.read_log(), m.read_log())
        assert "the data stays in" in m.read_log()
        assert "away" not in keys(s3, bucket)
    finally:
        server.start_proxy(port)
    # Tried again by itself, a few seconds later, with nothing else to do.
    wait_for(lambda: "away" in keys(s3, bucket), "not sent again")
    assert get_object(s3, bucket, "away") == b"kept until the store is back"
    assert m.close() == 0


def test_unmount_sends_what_failed(mount_factory, s3, bucket, server):
    m = mount_factory(bucket, opts=OPTS + ["retries=1"])
    os.listdir(m.path)
    port = server.proxy_port
    server.stop_proxy()
    try:
        with open(m.p("late"), "wb") as f:
            f.write(b"sent at unmount")
        wait_for(lambda: "upload of 'late'" in m.read_log(), m.read_log())
    finally:
        server.start_proxy(port)
    assert m.close() == 0  # before the retry is due, or after: it is there
    assert get_object(s3, bucket, "late") == b"sent at unmount"


def test_fsync_still_means_uploaded(mount_factory, s3, bucket):
    m = mount_factory(bucket, opts=OPTS)
    fd = os.open(m.p("synced"), os.O_CREAT | os.O_WRONLY, 0o644)
    try:
        os.write(fd, b"first")
        os.fsync(fd)
        assert get_object(s3, bucket, "synced") == b"first"
    finally:
        os.close(fd)


def test_rename_and_unlink_right_after_close(mount_factory, s3, bucket):
    m = mount_factory(bucket, opts=OPTS)
    for name in ("moved", "gone"):
        with open(m.p(name), "wb") as f:
            f.write(name.encode() * 1000)
    os.rename(m.p("moved"), m.p("there"))
    os.unlink(m.p("gone"))
    assert sorted(os.listdir(m.path)) == ["there"]
    assert m.close() == 0
    assert keys(s3, bucket) == ["there"]
    assert get_object(s3, bucket, "there") == b"moved" * 1000


def test_killed_before_sending_loses_nothing(mount_factory, s3, bucket, server):
    m = mount_factory(bucket, opts=OPTS + ["retries=1"])
    os.listdir(m.path)
    port = server.proxy_port
    server.stop_proxy()
    data = {f"k{i}": os.urandom(3000 + i) for i in range(5)}
    try:
        for k, v in data.items():
            with open(m.p(k), "wb") as f:
                f.write(v)
    finally:
        m.proc.send_signal(signal.SIGKILL)
        m.proc.wait()
        unmount(m.path)
        server.start_proxy(port)
    assert keys(s3, bucket) == []
    mount_factory(bucket)  # same staging dir: it sends what the dead one left
    wait_for(lambda: keys(s3, bucket) == sorted(data), "not recovered")
    for k, v in data.items():
        assert get_object(s3, bucket, k) == v, k


def test_close_sends_while_the_file_is_open_elsewhere(mount_factory, s3, bucket):
    m = mount_factory(bucket, opts=OPTS)
    reader = open(m.p("shared"), "wb")  # another open of the same file
    try:
        with open(m.p("shared"), "r+b") as w:
            w.write(b"sent at this close")
        wait_for(lambda: "shared" in keys(s3, bucket) and
                 get_object(s3, bucket, "shared") == b"sent at this close", "not sent")
    finally:
        reader.close()
    assert m.close() == 0


def test_times_and_mode_set_while_sending_are_kept(faulty, mount_factory):
    m = mount_factory(faulty, opts=OPTS)
    os.listdir(m.path)
    # The upload is held at the proxy (then cut: the retry sends it) while
    # the file's time and mode change after close, as rsync does.
    faulty.inject({"kind": "PUT", "path": "late-meta", "action": "stall", "seconds": 3})
    with open(m.p("late-meta"), "wb") as f:
        f.write(b"x" * 1000)
    wait_for(lambda: faulty.seen("PUT", "late-meta") >= 1, "upload not started")
    os.utime(m.p("late-meta"), (1000000000, 1000000000))
    os.chmod(m.p("late-meta"), 0o600)
    assert m.close() == 0
    st = os.stat(mount_factory(faulty).p("late-meta"))
    assert (st.st_mtime, stat.S_IMODE(st.st_mode)) == (1000000000, 0o600)


def test_reading_never_waits_behind_pending_uploads(faulty, mount_factory):
    """A close that sends nothing (of a file read, here) never waits for
    room among the pending uploads, even when 64 are held up: only writers
    do."""
    import threading

    m = mount_factory(faulty, opts=OPTS)
    with open(m.p("r"), "wb") as f:
        f.write(b"read me")
        f.flush()
        os.fsync(f.fileno())  # sent: no upload ends after the listing
    os.listdir(m.path)  # listed: creating a file needs no lookup
    reading = open(m.p("r"), "rb")
    assert reading.read() == b"read me"
    faulty.inject({"kind": "PUT", "path": "/w", "action": "stall", "seconds": 10,
                   "count": 64})
    closed = threading.Event()
    t = threading.Thread(target=lambda: (reading.close(), closed.set()))
    try:
        for i in range(64):  # as many as may be pending (FS_CLOSER_PENDING)
            with open(m.p(f"w{i:02d}"), "wb") as f:
                f.write(b"w")
        t.start()
        assert closed.wait(5), "a read-only close waited for the uploads"
    finally:
        faulty.inject()
        if not t.is_alive() and not closed.is_set():
            reading.close()
    t.join()
    assert m.close() == 0  # the held ones failed, and are sent again
    m = mount_factory(faulty)
    assert sorted(n for n in os.listdir(m.path) if n.startswith("w")) == \
        [f"w{i:02d}" for i in range(64)]
