"""A daemon killed with SIGKILL loses nothing: what was written but not yet
uploaded is uploaded by the next mount of the same bucket with the same
staging dir, or kept and reported if the object changed meanwhile."""
import os
import signal
import subprocess
import sys
import time

from conftest import get_object, keys, unmount


def kill(m, *files):
    m.proc.send_signal(signal.SIGKILL)
    m.proc.wait()
    for f in files:  # held open, they would keep the dead mount busy
        try:
            f.close()
        except OSError:
            pass  # ENOTCONN: its daemon is gone
    unmount(m.path)


def wait_for(pred, what, timeout=60):
    deadline = time.time() + timeout
    while not pred():
        assert time.time() < deadline, what
        time.sleep(0.1)


def stage_files(m):
    return sorted(os.listdir(m.staging)) if os.path.isdir(m.staging) else []


# Between a write and the kill, these tests start no process: a child
# closes the descriptors it inherits, and each close flushes (uploads).
def test_unsent_data_is_uploaded_by_the_next_mount(mount_factory, s3, bucket):
    m = mount_factory(bucket, opts=["multipart_threshold=5M", "part_size=5M"])
    small = os.urandom(5000)
    big = os.urandom(12 << 20)  # past the threshold: parts were on their way
    fs = open(m.p("small"), "wb")
    fs.write(small)
    fs.flush()
    fb = open(m.p("big"), "wb")
    fb.write(big)
    fb.flush()
    kill(m, fs, fb)
    assert keys(s3, bucket) == []
    assert len(stage_files(m)) == 4  # two files, two journal records

    again = mount_factory(bucket)
    wait_for(lambda: sorted(keys(s3, bucket)) == ["big", "small"], "not recovered")
    wait_for(lambda: stage_files(again) == [], "staging files left")
    assert get_object(s3, bucket, "small") == small
    assert get_object(s3, bucket, "big") == big
    log = again.read_log()
    assert "uploaded 'small' (5000 bytes), left unsent by an earlier run" in log, log


def test_acknowledged_data_is_not_sent_again(mount_factory, s3, bucket, server):
    m = mount_factory(bucket)
    f = open(m.p("synced"), "wb")
    f.write(b"in the bucket")
    f.flush()
    os.fsync(f.fileno())
    kill(m, f)
    puts = server.requests("PUT")
    again = mount_factory(bucket)
    wait_for(lambda: stage_files(again) == [], "the clean copy was not removed")
    assert server.requests("PUT") == puts
    assert get_object(s3, bucket, "synced") == b"in the bucket"


def staged_then_put(mount_factory, s3, bucket, key, ours, theirs):
    """A daemon killed with ours staged for key; then theirs lands in the
    bucket, newer than the staged file."""
    m = mount_factory(bucket)
    f = open(m.p(key), "wb")
    f.write(ours)
    f.flush()
    kill(m, f)
    time.sleep(1.1)  # Last-Modified has one-second resolution
    s3.put_object(Bucket=bucket, Key=key, Body=theirs)


def test_changed_object_keeps_the_data_and_says_so(mount_factory, s3, bucket):
    staged_then_put(mount_factory, s3, bucket, "contested", b"ours, never sent", b"theirs")
    again = mount_factory(bucket)
    wait_for(lambda: "changed in the bucket" in again.read_log(), "no report")
    assert get_object(s3, bucket, "contested") == b"theirs"
    kept = [n for n in stage_files(again) if not n.endswith(".journal")]
    assert len(kept) == 1
    with open(os.path.join(again.staging, kept[0]), "rb") as k:
        assert k.read() == b"ours, never sent"


def test_upload_finished_but_not_recorded_is_no_conflict(mount_factory, s3, bucket, server):
    """The daemon died after the object arrived but before its record said
    so: the newer object is our own data, not another writer's change."""
    staged_then_put(mount_factory, s3, bucket, "arrived", b"ours, and in the bucket",
                    b"ours, and in the bucket")
    puts = server.requests("PUT")
    again = mount_factory(bucket)
    wait_for(lambda: stage_files(again) == [], "the stage was not removed")
    log = again.read_log()
    assert "changed in the bucket" not in log, log
    assert "uploaded by an earlier run that did not live to say so" in log, log
    assert server.requests("PUT") == puts


WRITER = """
import sys
f = open(sys.argv[1], "wb")
f.write(b"still being written")
f.flush()
print("written", flush=True)
sys.stdin.read()
f.close()
"""


def test_other_buckets_and_live_files_are_left_alone(mount_factory, s3, bucket):
    s3.create_bucket(Bucket=bucket + "-other")
    live = mount_factory(bucket)
    # The writer is a process of its own: a descriptor of ours would be
    # closed (flushed, so uploaded) in every child we start.
    w = subprocess.Popen([sys.executable, "-c", WRITER, live.p("open")],
                         stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert w.stdout.readline() == "written\n"
        # More daemons on the same staging dir: one of another bucket, one
        # of the same bucket while the first is alive.
        other = mount_factory(bucket + "-other")
        same = mount_factory(bucket)
        time.sleep(1)
        assert keys(s3, bucket + "-other") == []
        assert keys(s3, bucket) == []
        assert "earlier run" not in other.read_log() + same.read_log()
    finally:
        w.communicate("")
    assert w.returncode == 0
    assert get_object(s3, bucket, "open") == b"still being written"


# A writer of its own: file i of writer w has content(w, i), written in
# 64 KiB pieces; after close() (and for every third file fsync()) returns,
# its name goes to the ack file, so what the test reads there was
# acknowledged to an application.
LOAD_WRITER = """
import os, random, sys
mnt, w, acks = sys.argv[1], int(sys.argv[2]), sys.argv[3]
def content(i):
    n = (12 << 20) if i % 4 == 3 else random.Random(f"n{w}/{i}").randrange(1, 300000)
    return random.Random(f"{w}/{i}").randbytes(n)
os.makedirs(os.path.join(mnt, f"w{w}"), exist_ok=True)
with open(acks, "a") as ack:
    for i in range(10000):
        data, name = content(i), f"w{w}/f{i:04d}"
        try:
            fd = os.open(os.path.join(mnt, name), os.O_WRONLY | os.O_CREAT | os.O_TRUNC)
            for off in range(0, len(data), 65536):
                os.write(fd, data[off:off + 65536])
            if i % 3 == 0:
                os.fsync(fd)
            os.close(fd)
        except OSError:
            sys.exit(0)  # the daemon is gone
        ack.write(name + "\\n")
        ack.flush()
"""

# A reader of objects larger than the memory cache, so that blocks are on
# their way to the disk tier when the daemon dies.
LOAD_READER = """
import os, sys
while True:
    for p in sys.argv[1:]:
        try:
            with open(p, "rb") as f:
                os.posix_fadvise(f.fileno(), 0, 0, os.POSIX_FADV_DONTNEED)
                while f.read(1 << 20):
                    pass
        except OSError:
            sys.exit(0)
"""


def load_content(w, i):
    import random
    n = (12 << 20) if i % 4 == 3 else random.Random(f"n{w}/{i}").randrange(1, 300000)
    return random.Random(f"{w}/{i}").randbytes(n)


def test_kill_under_load_with_the_disk_cache(mount_factory, s3, bucket, tmp_path):
    """SIGKILL while 4 writers and 2 readers are busy, the disk tier on:
    every acknowledged file is in the bucket whole, every other file is
    either absent, or what was written of it and reported, and the disk
    tier (one of its blocks damaged meanwhile) serves no wrong byte."""
    seeds = {f"seed/{k}": os.urandom(8 << 20) for k in range(3)}
    for k, v in seeds.items():
        s3.put_object(Bucket=bucket, Key=k, Body=v)
    cache = str(tmp_path / "cache")
    opts = ["cache_size=4M", "block_size=256K", f"cache_dir={cache}", "cache_disk_size=64M",
            "multipart_threshold=5M", "part_size=5M"]
    m = mount_factory(bucket, opts=opts)
    acks = str(tmp_path / "acks")
    procs = [subprocess.Popen([sys.executable, "-c", LOAD_WRITER, m.path, str(w), acks])
             for w in range(4)]
    procs += [subprocess.Popen([sys.executable, "-c", LOAD_READER] +
                               [m.p(k) for k in sorted(seeds)]) for _ in range(2)]

    def acked():
        if not os.path.exists(acks):
            return []
        with open(acks) as f:
            return [n for n in f.read().split("\n") if n]
    # Until several files of each kind are in, a big one among them.
    wait_for(lambda: len(acked()) >= 24 and any(n.endswith(("3", "7")) for n in acked()),
             "the writers made no progress", timeout=120)
    m.proc.send_signal(signal.SIGKILL)
    m.proc.wait()
    for p in procs:
        try:
            p.wait(timeout=60)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()
    unmount(m.path)
    done = acked()
    # Damage the data of one block the tier holds: its checksum must catch it.
    blocks = [os.path.join(r, f) for r, _, fs in os.walk(cache) for f in fs
              if len(f) == 64]
    assert blocks, "the disk tier held nothing"
    with open(blocks[0], "r+b") as f:
        f.seek(-1, os.SEEK_END)
        last = f.read(1)
        f.seek(-1, os.SEEK_END)
        f.write(bytes([last[0] ^ 0xFF]))

    again = mount_factory(bucket, opts=opts)
    wait_for(lambda: [n for n in stage_files(again) if not n.endswith(".journal")] == [],
             "staging files left")
    log = again.read_log()
    for name in done:
        w, i = int(name[1:name.index("/")]), int(name[-4:])
        assert get_object(s3, bucket, name) == load_content(w, i), name
    for name in [k for k in keys(s3, bucket, "w") if not k.endswith("/")]:
        w, i = int(name[1:name.index("/")]), int(name[-4:])
        got, want = get_object(s3, bucket, name), load_content(w, i)
        assert want.startswith(got), f"{name}: not what was written"
        if len(got) < len(want):  # cut short by the kill: recovered, and said so
            assert f"uploaded '{name}' ({len(got)} bytes), left unsent" in log, name
    for k, v in seeds.items():
        assert read_uncached(again.p(k)) == v, k


def read_uncached(path):
    with open(path, "rb") as f:
        os.posix_fadvise(f.fileno(), 0, 0, os.POSIX_FADV_DONTNEED)
        return b"".join(iter(lambda: f.read(1 << 20), b""))
