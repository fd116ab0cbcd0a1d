"""Load: many readers at once, a big directory listed while it is being
written, a file far larger than the cache written and read back with the
daemon's memory inside its bound, and thousands of requests served by the
same few threads. Every byte is checked."""
import hashlib
import os
import threading
from concurrent.futures import ThreadPoolExecutor

import pytest

from conftest import get_object, peak_rss_mib

MIB = 1 << 20


def digest(path, bs=MIB):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while True:
            b = f.read(bs)
            if not b:
                return h.hexdigest()
            h.update(b)


def test_64_readers_of_one_file_and_of_64_files(mount_factory, s3, bucket):
    one = os.urandom(48 * MIB)
    s3.put_object(Bucket=bucket, Key="one", Body=one)
    many = {f"m/f{i:02d}": os.urandom(MIB + i) for i in range(64)}
    with ThreadPoolExecutor(16) as ex:
        list(ex.map(lambda kv: s3.put_object(Bucket=bucket, Key=kv[0], Body=kv[1]),
                    many.items()))
    m = mount_factory(bucket, opts=["cache_size=32M"])
    want = hashlib.sha256(one).hexdigest()
    with ThreadPoolExecutor(64) as ex:
        got = list(ex.map(lambda _: digest(m.p("one"), bs=(1 << 17)), range(64)))
    assert got == [want] * 64
    with ThreadPoolExecutor(64) as ex:
        got = dict(ex.map(lambda k: (k, digest(m.p(k))), many))
    assert got == {k: hashlib.sha256(v).hexdigest() for k, v in many.items()}


def threads_seen_while(pid, work):
    """The ids of every thread of pid seen while work() runs, looked for as
    often as the machine allows."""
    seen, done = set(), threading.Event()

    def look():
        while not done.is_set():
            seen.update(os.listdir(f"/proc/{pid}/task"))

    t = threading.Thread(target=look)
    t.start()
    try:
        work()
    finally:
        done.set()
        t.join()
    return seen


def test_requests_do_not_cost_a_thread_each(mount_factory, s3, bucket):
    """Reads served from the cache, thousands of requests, are answered by
    the same few FUSE workers. (A worker loop set up wrong starts a thread
    for each request and ends it after: hundreds of threads came and went.)"""
    data = os.urandom(64 * MIB)
    s3.put_object(Bucket=bucket, Key="big", Body=data)
    m = mount_factory(bucket, opts=["cache_size=128M"])
    want = hashlib.sha256(data).hexdigest()
    assert digest(m.p("big")) == want

    def reread():
        for _ in range(4):
            # Out of the kernel's page cache, so that every read is a request.
            with open("/proc/sys/vm/drop_caches", "w") as f:
                f.write("1")
            assert digest(m.p("big"), bs=1 << 17) == want

    seen = threads_seen_while(m.proc.pid, reread)
    # Main, 32 workers at most, fetchers, uploaders, the metrics thread.
    assert len(seen) <= 64, f"{len(seen)} threads"


def test_big_directory_listed_while_written(mount_factory, s3, bucket):
    """10,000 objects arrive (another client's, and 200 through the mount)
    while the mount lists the directory over and over: no listing fails,
    each shows only names that exist, and the last one has them all."""
    m = mount_factory(bucket, opts=["list_ttl=0"])
    os.mkdir(m.p("big"))
    names = [f"n{i:05d}" for i in range(10000)]
    ours = [f"ours{i:03d}" for i in range(200)]
    done = threading.Event()
    seen, errors = [], []

    def lister():
        while not done.is_set():
            try:
                seen.append(set(os.listdir(m.p("big"))))
            except OSError as e:
                errors.append(e)

    def create(n):
        with open(m.p("big", n), "wb") as f:
            f.write(n.encode())

    t = threading.Thread(target=lister)
    t.start()
    with ThreadPoolExecutor(32) as ex:
        list(ex.map(lambda n: s3.put_object(Bucket=bucket, Key=f"big/{n}", Body=n.encode()),
                    names))
        list(ex.map(create, ours))
    done.set()
    t.join()
    assert errors == []
    assert len(seen) >= 2
    for s in seen:
        assert s <= set(names + ours)
    assert sorted(os.listdir(m.p("big"))) == sorted(names + ours)
    with open(m.p("big", "n09999"), "rb") as f:
        assert f.read() == b"n09999"
    assert get_object(s3, bucket, "big/ours199") == b"ours199"


@pytest.mark.skipif("ASAN_OPTIONS" in os.environ,
                    reason="5 GiB under ASan costs minutes and runs no code the 256 MiB "
                           "memory test does not")
def test_5_gib_written_and_read_back_within_memory_bound(mount_factory, s3, bucket, tmp_path):
    """5 GiB through a 64 MiB cache: the bytes come back, and the daemon's
    peak resident memory stays under the cache size plus 64 MiB."""
    m = mount_factory(bucket, opts=["cache_size=64M"])
    block = os.urandom(MIB)
    h = hashlib.sha256()
    with open(m.p("huge"), "wb") as f:
        for i in range(5 * 1024):
            b = block[i % 997:] + block[:i % 997]
            h.update(b)
            f.write(b)
    assert s3.head_object(Bucket=bucket, Key="huge")["ContentLength"] == 5 << 30
    assert digest(m.p("huge"), bs=4 * MIB) == h.hexdigest()
    assert peak_rss_mib(m.proc.pid) <= 64 + 64
