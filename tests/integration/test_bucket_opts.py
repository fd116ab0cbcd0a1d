"""Bucket options (requester pays, SSE-S3, SSE-KMS, SSE-C, storage class)
and network settings: the headers must arrive, signed, on exactly the
requests S3 wants them on, as the signature proxy records them (s3rver
itself ignores them); a bad value or a readable SSE-C key file fails the
mount in one line; proxies from the environment are used."""
import base64
import hashlib
import json
import os

import pytest

from conftest import KEY, SECRET, clean_env, free_port, is_mounted, run_bucketfs
from test_mount import one_line_failure

SSE_C = "x-amz-server-side-encryption-customer-key"


def recorded(server):
    try:
        with open(server.headers_file) as f:
            return [json.loads(line) for line in f]
    except FileNotFoundError:
        return []


def exercise(m):
    """A small write, a multipart write, reads, a rename (copy)."""
    with open(m.p("small"), "wb") as f:
        f.write(b"s" * 1000)
    big = os.urandom(11 << 20)
    with open(m.p("big"), "wb") as f:
        f.write(big)
    with open(m.p("small"), "rb") as f:
        assert f.read() == b"s" * 1000
    os.rename(m.p("small"), m.p("moved"))
    with open(m.p("big"), "rb") as f:
        assert hashlib.sha256(f.read()).digest() == hashlib.sha256(big).digest()


def kinds_with(reqs, header, value=None):
    return {r["kind"] for r in reqs
            if header in r["headers"] and (value is None or r["headers"][header] == value)}


def run(mount_factory, server, bucket, opts):
    start = len(recorded(server))
    m = mount_factory(bucket, opts=["part_size=5M", "multipart_threshold=5M", "stat_ttl=0",
                                    "cache_size=8M", "block_size=1M"] + opts)
    exercise(m)
    m.close()
    return recorded(server)[start:]


def test_requester_pays_on_every_request(mount_factory, server, bucket):
    reqs = run(mount_factory, server, bucket, ["requester_pays"])
    assert reqs
    assert all(r["headers"].get("x-amz-request-payer") == "requester" for r in reqs), reqs
    assert all("x-amz-request-payer" in r["signed"] for r in reqs)


def test_sse_s3_and_storage_class_on_writes(mount_factory, server, bucket):
    reqs = run(mount_factory, server, bucket, ["sse=AES256", "storage_class=STANDARD_IA"])
    writes = {"PUT", "POST uploads", "COPY"}
    assert kinds_with(reqs, "x-amz-server-side-encryption", "AES256") == writes
    assert kinds_with(reqs, "x-amz-storage-class", "STANDARD_IA") == writes
    assert all("x-amz-server-side-encryption" in r["signed"]
               for r in reqs if r["kind"] in writes)


def test_sse_kms_key(mount_factory, server, bucket):
    key_id = "arn:aws:kms:us-east-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab"
    reqs = run(mount_factory, server, bucket, ["sse=aws:kms", f"sse_kms_key_id={key_id}"])
    writes = {"PUT", "POST uploads", "COPY"}
    assert kinds_with(reqs, "x-amz-server-side-encryption", "aws:kms") == writes
    assert kinds_with(reqs, "x-amz-server-side-encryption-aws-kms-key-id", key_id) == writes


@pytest.mark.parametrize("form", ["raw", "base64"])
def test_sse_c_on_object_requests(form, mount_factory, server, bucket, tmp_path):
    key = b"\0" + os.urandom(30) + b"\n"  # binary: NUL and newline bytes are key too
    kf = tmp_path / "ssec.key"
    kf.write_bytes(key if form == "raw" else base64.b64encode(key) + b"\n")
    kf.chmod(0o600)
    reqs = run(mount_factory, server, bucket, [f"sse_c_key_file={kf}"])
    b64 = base64.b64encode(key).decode()
    md5 = base64.b64encode(hashlib.md5(key).digest()).decode()
    with_key = kinds_with(reqs, SSE_C, b64)
    # GET, HEAD, PUT, UploadPart, CreateMultipartUpload, Copy: all that
    # touch object data; not listings, deletes or CompleteMultipartUpload.
    assert {"GET", "PUT", "PUT part", "POST uploads", "COPY"} <= with_key, with_key
    assert not with_key & {"GET list-type", "DELETE", "POST uploadId"}, with_key
    assert kinds_with(reqs, SSE_C + "-md5", md5) == with_key
    assert kinds_with(reqs, "x-amz-copy-source-server-side-encryption-customer-key",
                      b64) == {"COPY"}


def test_sse_c_key_file_refused_when_readable(binary, server, bucket, mpoint, tmp_path):
    kf = tmp_path / "ssec.key"
    kf.write_bytes(os.urandom(32))
    kf.chmod(0o644)
    env = clean_env(str(tmp_path))
    env.update(AWS_ACCESS_KEY_ID=KEY, AWS_SECRET_ACCESS_KEY=SECRET)
    r = run_bucketfs(binary, [f"s3://{bucket}", mpoint, "-o",
                              f"endpoint={server.endpoint},sse_c_key_file={kf}"], env=env)
    one_line_failure(r, f"SSE-C key file {kf} is readable by group or others (chmod 600 it)")
    assert not is_mounted(mpoint)


@pytest.mark.parametrize("opts,msg", [
    ("sse=AES128", "sse= takes AES256 (SSE-S3) or aws:kms (SSE-KMS)"),
    ("sse=AES256,sse_kms_key_id=k", "sse_kms_key_id= goes with sse=aws:kms"),
    ("storage_class=cold storage", "storage_class= takes a name"),
])
def test_bad_bucket_options(binary, server, bucket, mpoint, tmp_path, opts, msg):
    env = clean_env(str(tmp_path))
    env.update(AWS_ACCESS_KEY_ID=KEY, AWS_SECRET_ACCESS_KEY=SECRET)
    r = run_bucketfs(binary, [f"s3://{bucket}", mpoint, "-o",
                              f"endpoint={server.endpoint},{opts}"], env=env)
    one_line_failure(r, msg)


def test_proxy_from_environment(binary, server, bucket, mpoint, tmp_path):
    """libcurl's proxy variables are honoured: a dead proxy fails the
    mount, and NO_PROXY lets it through again."""
    dead = free_port()
    env = clean_env(str(tmp_path))
    env.update(AWS_ACCESS_KEY_ID=KEY, AWS_SECRET_ACCESS_KEY=SECRET,
               http_proxy=f"http://127.0.0.1:{dead}")
    args = [f"s3://{bucket}", mpoint, "-o", f"endpoint={server.endpoint},retries=0"]
    r = run_bucketfs(binary, args, env=env)
    # curl went for the proxy's port, not the endpoint's.
    one_line_failure(r, f"cannot reach {server.endpoint}: Failed to connect to 127.0.0.1 "
                        f"port {dead}")
    env["NO_PROXY"] = "127.0.0.1"
    r = run_bucketfs(binary, args, env=env)
    assert r.returncode == 0, r.stderr
    assert is_mounted(mpoint)


def test_ca_bundle_and_no_verify_ssl_warning(mount_factory, server, bucket):
    m = mount_factory(bucket, opts=["no_verify_ssl", "ca_bundle=/etc/ssl/certs/ca-certificates.crt"])
    os.listdir(m.path)
    m.close()
    assert "TLS certificate verification is off (no_verify_ssl)" in m.read_log()
