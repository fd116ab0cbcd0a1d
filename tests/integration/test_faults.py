"""Faults between bucketfs and the store, from tests/tools/fault_proxy.py:
for each fault and each operation (read, write, create, rename, list), on
S3 and on Azure:

- a fault that lasts fewer tries than the retries is invisible to the
  application: the operation succeeds, the bytes are right (checksums
  through the store's own client), and the proxy saw one try per fault
  plus the one that worked;
- a fault that outlasts them reaches the application as EIO after exactly
  retries + 1 tries of each request, nothing acknowledged is lost, and the
  daemon serves the next request.

The proxy counts tries; durations are never asserted."""
import errno
import hashlib
import os
import subprocess
import time

import pytest

RETRIES = 3
# Small timeouts keep stalls short; a long stat_ttl keeps lookups out of
# the requests counted; list_ttl=0 makes every readdir a LIST.
OPTS = [f"retries={RETRIES}", "request_timeout=1", "connect_timeout=1", "stat_ttl=600",
        "list_ttl=0", "block_size=256K"]

FAULTS = {
    "500": {"action": "error", "status": 500, "code": "InternalError"},
    "503-slowdown": {"action": "error", "status": 503, "code": "SlowDown"},
    "reset": {"action": "reset"},
    "reset-mid-body": {"action": "reset", "after": True},
    "truncate": {"action": "truncate"},
    "stall": {"action": "stall", "seconds": 3},
    # The store did the work; the answer was lost on the way back.
    "answer-lost": {"action": "error", "status": 500, "after": True},
}
# Faults that cost a timeout each are injected once, not RETRIES times.
SLOW = {"stall"}
# Faults whose handling is all in the HTTP layer, which both stores share:
# the whole matrix runs on S3, these are left out on Azure to save time.
S3_ONLY = {"500", "reset", "stall"}

READ_SIZE = (1 << 20) + 12345
WRITE_SIZE = (1 << 20) + 777


def data(n, seed):
    out = bytearray()
    block = hashlib.sha256(seed.encode()).digest()
    while len(out) < n:
        block = hashlib.sha256(block).digest()
        out += block
    return bytes(out[:n])


def digest(b):
    return hashlib.sha256(b).hexdigest()


@pytest.fixture
def fm(faulty, mount_factory):
    """A mount through the fault proxy (faulty first: it must outlive the
    mount, whose unmount may still upload)."""
    m = mount_factory(faulty, opts=OPTS)
    m.faults = faulty
    return m


class Op:
    """One operation: prepare() sets the stage without faults, run() is the
    faulted part, check() proves the result through the store's client."""
    kind = None

    def __init__(self, m, store):
        self.m, self.store = m, store

    def prepare(self):
        pass

    def check(self):
        pass

    def check_failed(self):
        """After EIO: nothing that was there is lost."""

    def settle(self):
        """After EIO: wait for whatever the daemon still tries."""

    def run_again(self):
        """The operation once more, faults gone."""
        self.run()


class Read(Op):
    kind = "GET"

    def prepare(self):
        self.body = data(READ_SIZE, "read")
        self.store.put("r/big", self.body)
        os.stat(self.m.p("r", "big"))  # the lookup, before any fault
        self.path = "/r/big"

    def run(self):
        with open(self.m.p("r", "big"), "rb") as f:
            assert digest(f.read()) == digest(self.body)


class Write(Op):
    kind = "PUT"
    path = "/w/new"

    def prepare(self):
        os.mkdir(self.m.p("w"))
        self.body = data(WRITE_SIZE, "write")

    def run(self):
        with open(self.m.p("w", "new"), "wb") as f:
            f.write(self.body)

    def check(self):
        assert digest(self.store.get("w/new")) == digest(self.body)

    def settle(self):
        # release, after close, tries the upload once more, then keeps the
        # file's changes in the mount and says so.
        deadline = time.time() + 60
        while "'w/new' stays in the mount" not in self.m.read_log():
            assert time.time() < deadline, self.m.read_log()
            time.sleep(0.1)


class Create(Write):
    def prepare(self):
        os.mkdir(self.m.p("w"))
        self.body = b""

    def run(self):
        os.close(os.open(self.m.p("w", "new"), os.O_CREAT | os.O_WRONLY | os.O_EXCL, 0o644))

    def run_again(self):
        # The file that failed to upload is still there, to be closed again.
        os.close(os.open(self.m.p("w", "new"), os.O_CREAT | os.O_WRONLY, 0o644))


class Rename(Op):
    kind = "COPY"
    path = "/n/to"

    def prepare(self):
        self.body = data(300000, "rename")
        self.store.put("n/from", self.body)
        os.stat(self.m.p("n", "from"))

    def run(self):
        os.rename(self.m.p("n", "from"), self.m.p("n", "to"))

    def check(self):
        assert digest(self.store.get("n/to")) == digest(self.body)
        assert "n/from" not in self.store.keys("n/")

    def check_failed(self):
        assert digest(self.store.get("n/from")) == digest(self.body)


class List(Op):
    kind = "LIST"
    path = "/"
    names = [f"e{i:03d}" for i in range(30)]

    def prepare(self):
        for n in self.names:
            self.store.put(f"l/{n}", n.encode())
        os.stat(self.m.p("l"))

    def run(self):
        assert sorted(os.listdir(self.m.p("l"))) == self.names


OPS = {"read": Read, "write": Write, "create": Create, "rename": Rename, "list": List}


def tries(m, op):
    return m.faults.seen(op.kind, op.path)


@pytest.mark.parametrize("fault", FAULTS)
@pytest.mark.parametrize("opname", OPS)
def test_fault_is_retried(fm, store, opname, fault):
    if store.backend == "azure" and fault in S3_ONLY:
        pytest.skip("the same transport as on S3: run there")
    op = OPS[opname](fm, store)
    op.prepare()
    count = 1 if fault in SLOW else RETRIES
    fm.faults.clear()
    fm.faults.inject(dict(FAULTS[fault], kind=op.kind, path=op.path, count=count))
    op.run()
    assert fm.faults.pending() == 0
    assert tries(fm, op) >= count + 1
    fm.faults.inject()
    op.check()
    assert fm.proc.poll() is None


@pytest.mark.parametrize("fault", ["500", "reset"])
@pytest.mark.parametrize("opname", OPS)
def test_fault_past_the_retries_is_eio(fm, store, opname, fault):
    op = OPS[opname](fm, store)
    op.prepare()
    fm.faults.clear()
    fm.faults.inject(dict(FAULTS[fault], kind=op.kind, path=op.path, count=1000))
    with pytest.raises(OSError) as e:
        op.run()
    assert e.value.errno == errno.EIO
    op.settle()
    # Each request was tried once and retried RETRIES times, no more (curl
    # itself tries once more a request whose kept-alive connection it finds
    # reset, before any answer).
    n = tries(fm, op)
    fm.faults.inject()
    requests = n // (RETRIES + 1)
    assert requests >= 1 and n - requests * (RETRIES + 1) <= requests, n
    assert f"retry {RETRIES} of {RETRIES}" in fm.read_log()
    op.check_failed()
    # The daemon is up and does the same operation now.
    assert fm.proc.poll() is None
    op.run_again()
    op.check()


def test_failed_upload_stays_the_files_content(fm, store):
    """A file whose upload failed keeps its data in the mount: it reads
    back right, and the next flush (here: unmount) sends it."""
    op = Write(fm, store)
    op.prepare()
    fm.faults.inject(dict(FAULTS["500"], kind="PUT", path=op.path, count=1000))
    with pytest.raises(OSError) as e:
        op.run()
    assert e.value.errno == errno.EIO
    op.settle()
    fm.faults.inject()
    with open(fm.p("w", "new"), "rb") as f:
        assert digest(f.read()) == digest(op.body)
    fm.close()
    op.check()


MULTIPART = ["multipart_threshold=5M", "part_size=5M"]
PART = 5 << 20


@pytest.fixture
def fmp(faulty, mount_factory):
    """A mount through the fault proxy that uploads in 5 MiB parts."""
    m = mount_factory(faulty, opts=OPTS + MULTIPART)
    m.faults = faulty
    return m


@pytest.mark.parametrize("kind,fault", [
    ("part", "500"), ("part", "truncate"), ("part", "answer-lost"),
    ("complete", "503-slowdown"), ("complete", "reset"), ("complete", "answer-lost")])
def test_multipart_fault_is_retried(fmp, store, kind, fault):
    body = data(2 * PART + 4321, "multipart")
    fmp.faults.inject(dict(FAULTS[fault], kind=kind, path="/big", count=RETRIES))
    try:
        with open(fmp.p("big"), "wb") as f:
            f.write(body)
    except OSError as e:
        # A completion that worked, its answer lost, is recognised by the
        # ETag S3 gives multipart objects; s3rver gives a plain MD5 and
        # answers the retries with 500. Then close() says EIO, and the
        # file stays in the mount until a flush sends it again.
        assert (store.backend, kind, fault) == ("s3", "complete", "answer-lost"), e
        assert e.errno == errno.EIO
        fmp.faults.inject()
        with open(fmp.p("big"), "rb") as f:
            assert digest(f.read()) == digest(body)
        fmp.close()
    assert fmp.faults.pending() == 0
    fmp.faults.inject()
    assert digest(store.get("big")) == digest(body)


def wait_for(what, cond, timeout=60):
    deadline = time.time() + timeout
    while not cond():
        assert time.time() < deadline, what
        time.sleep(0.05)


# Writes its stdin's first line of bytes (a count) from SRC to DST, says
# "half", waits for a line, writes the rest and closes. A writer of its
# own: a process that forks while it holds a file on the mount open makes
# the child's close flush it, which would wait out the outage.
WRITER = """
import sys
src, dst, half = sys.argv[1], sys.argv[2], int(sys.argv[3])
body = open(src, "rb").read()
with open(dst, "wb") as f:
    f.write(body[:half])
    print("half", flush=True)
    sys.stdin.readline()
    f.write(body[half:])
print("closed", flush=True)
"""


def test_store_goes_away_mid_multipart_upload(faulty, mount_factory, store, tmp_path):
    """The store vanishes (connections refused; s3rver itself killed) while
    parts go up, and comes back: close() succeeds, the object is whole."""
    m = mount_factory(faulty, opts=OPTS + MULTIPART + ["retries=8"])
    body = data(3 * PART + 99, "outage")
    src = tmp_path / "outage.bin"
    src.write_bytes(body)
    w = subprocess.Popen(["/usr/bin/python3", "-c", WRITER, str(src), m.p("big"),
                          str(PART + 1)], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                         text=True)
    try:
        assert w.stdout.readline() == "half\n"
        wait_for("a part was sent", lambda: faulty.seen("part", "/big") >= 1)
        faulty.stop()
        if store.backend == "s3":
            store.server.kill_s3rver()
        w.stdin.write("go\n")
        w.stdin.flush()
        # Back once bucketfs has been refused and is retrying.
        wait_for("a refused retry", lambda: "Couldn't connect" in m.read_log())
        if store.backend == "s3":
            store.server.start_s3rver()
        faulty.start()
        assert w.stdout.readline() == "closed\n"
    finally:
        w.stdin.close()
        assert w.wait(timeout=120) == 0
    assert digest(store.get("big")) == digest(body)
    assert m.proc.poll() is None
