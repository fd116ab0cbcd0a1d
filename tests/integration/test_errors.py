"""Server answers and failures, as the application sees them: retries with
backoff for throttling, 5xx and resets; then EIO; 403 -> EACCES, 404 ->
ENOENT. Faults come from the signature-checking proxy (--faults)."""
import errno
import os
import time

import pytest

from conftest import get_object


@pytest.fixture
def m(mount_factory, bucket, s3):
    s3.put_object(Bucket=bucket, Key="obj", Body=b"payload")
    return mount_factory(bucket, opts=["retries=3"])


def test_throttling_is_retried(m, server):
    server.inject({"method": "GET", "path": "/obj", "status": 503, "code": "SlowDown",
                   "count": 2})
    with open(m.p("obj"), "rb") as f:
        assert f.read() == b"payload"
    assert server.pending_faults() == 0


def test_connection_reset_is_retried(m, server, s3, bucket):
    server.inject({"method": "PUT", "reset": True, "count": 2})
    with open(m.p("new"), "wb") as f:
        f.write(b"despite resets")
    assert server.pending_faults() == 0
    assert get_object(s3, bucket, "new") == b"despite resets"


def test_server_errors_become_eio_after_retries(m, server, s3, bucket):
    server.inject({"method": "GET", "path": "/obj", "status": 500, "code": "InternalError",
                   "count": 100})
    with pytest.raises(OSError) as e:
        with open(m.p("obj"), "rb") as f:
            f.read()
    assert e.value.errno == errno.EIO
    # The lookup's ranged GET is tried once (a HEAD, not faulted, answers
    # instead); each read's GET 4 times (the first try and 3 retries), and
    # the kernel may have issued more than one read.
    tries = 100 - server.pending_faults()
    assert tries >= 5 and (tries - 1) % 4 == 0, tries
    server.inject()
    with open(m.p("obj"), "rb") as f:  # and the mount still serves
        assert f.read() == b"payload"


def test_forbidden_is_eacces(m, server):
    server.inject({"method": "GET", "path": "/obj", "status": 403, "code": "AccessDenied",
                   "count": 100})
    with pytest.raises(PermissionError):
        with open(m.p("obj"), "rb") as f:
            f.read()
    server.inject()


def test_forbidden_upload_is_eacces_and_kept(m, server, s3, bucket):
    server.inject({"method": "PUT", "path": "/denied", "status": 403, "code": "AccessDenied",
                   "count": 100})
    f = open(m.p("denied"), "wb")
    f.write(b"keep me")
    with pytest.raises(PermissionError):
        f.close()
    # release, after close, tries once more; the faults stay until it has
    # given up, or it could race the proxy and bring them back.
    deadline = time.time() + 60
    while "'denied' stays in the mount" not in m.read_log():
        assert time.time() < deadline, m.read_log()
        time.sleep(0.1)
    server.inject()


def test_not_found_is_enoent(m, s3, bucket):
    s3.put_object(Bucket=bucket, Key="large", Body=b"L" * (1 << 20))
    with open(m.p("large"), "rb") as f:
        s3.delete_object(Bucket=bucket, Key="large")
        # The open file is read from the bucket lazily: the object is gone.
        with pytest.raises(OSError) as e:
            f.read()
        assert e.value.errno in (errno.ENOENT, errno.ESTALE)
    # A small file came whole with its lookup: it reads as it was opened.
    with open(m.p("obj"), "rb") as f:
        s3.delete_object(Bucket=bucket, Key="obj")
        assert f.read() == b"payload"
    with pytest.raises(FileNotFoundError):
        os.stat(m.p("never-there"))


def test_requests_pass_the_signature_check(m, server):
    before = server.stats()
    with open(m.p("signed"), "wb") as f:
        f.write(b"x" * 100)
    os.listdir(m.path)
    with open(m.p("signed"), "rb") as f:
        f.read()
    os.rename(m.p("signed"), m.p("signed2"))
    os.unlink(m.p("signed2"))
    after = server.stats()
    assert after["verified"] >= before["verified"] + 5
    assert after["rejected"] == before["rejected"]
