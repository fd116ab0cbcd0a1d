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


def test_changed_object_keeps_the_data_and_says_so(mount_factory, s3, bucket):
    m = mount_factory(bucket)
    f = open(m.p("contested"), "wb")
    f.write(b"ours, never sent")
    f.flush()
    kill(m, f)
    time.sleep(1.1)  # Last-Modified has one-second resolution
    s3.put_object(Bucket=bucket, Key="contested", Body=b"theirs")
    again = mount_factory(bucket)
    wait_for(lambda: "changed in the bucket" in again.read_log(), "no report")
    assert get_object(s3, bucket, "contested") == b"theirs"
    kept = [n for n in stage_files(again) if not n.endswith(".journal")]
    assert len(kept) == 1
    with open(os.path.join(again.staging, kept[0]), "rb") as k:
        assert k.read() == b"ours, never sent"


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
