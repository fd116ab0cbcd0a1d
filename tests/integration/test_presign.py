"""Presigned URLs: `getfattr -n user.bucketfs.url` on a file of a mount,
and `bucketfs presign` on a file of a mount or an s3:// / az:// URL,
fetched with plain curl. On S3 they go through the signature proxy, which
checks query signatures with botocore's S3SigV4QueryAuth and refuses them
past X-Amz-Expires (s3rver checks neither); azurite checks SAS signatures
and expiry itself."""
import subprocess
import time
import uuid

from conftest import AZ_ACCOUNT, AZ_KEY, KEY, SECRET, AzureStore, S3Store, clean_env


def curl(url, *args):
    return subprocess.run(["curl", "-sS", "-o", "-", "-w", "\n%{http_code}", *args, url],
                           capture_output=True, timeout=60)


def fetch(url, *args):
    r = curl(url, *args)
    body, _, code = r.stdout.rpartition(b"\n")
    return int(code), body


def url_xattr(path):
    r = subprocess.run(["getfattr", "-n", "user.bucketfs.url", "--only-values", path],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    return r.stdout


def presign(binary, target, *args, env=None):
    return subprocess.run([binary, "presign", target, *args], capture_output=True, text=True,
                          env=env, timeout=60)


def test_s3_url_xattr_and_presign(mount_factory, s3, bucket, server, binary):
    body = b"shared " + uuid.uuid4().bytes * 1000
    s3.put_object(Bucket=bucket, Key="dir/a b+c.bin", Body=body)
    m = mount_factory(bucket, opts=["url_expires=600"])
    url = url_xattr(m.p("dir", "a b+c.bin"))
    assert "X-Amz-Expires=600" in url and SECRET not in url
    assert fetch(url) == (200, body)
    before = server.stats().get("presigned", 0)
    # PUT: a new object through a URL from the mount.
    with open(m.p("dir", "new"), "wb") as f:
        f.write(b"placeholder")
    r = presign(binary, m.p("dir", "new"), "--put", "--expires", "5m")
    assert r.returncode == 0, r.stderr
    put_url = r.stdout.strip()
    assert "X-Amz-Expires=300" in put_url
    code, _ = fetch(put_url, "-X", "PUT", "--data-binary", "from curl")
    assert code == 200
    assert s3.get_object(Bucket=bucket, Key="dir/new")["Body"].read() == b"from curl"
    assert server.stats()["presigned"] >= before + 1
    # A GET URL does not allow a PUT: the method is signed.
    code, _ = fetch(url, "-X", "PUT", "--data-binary", "x")
    assert code == 403
    # Directories have no URL.
    r = presign(binary, m.p("dir"))
    assert r.returncode == 1 and "is a directory" in r.stderr


def test_s3_expired_and_too_long(mount_factory, s3, bucket, server, binary):
    s3.put_object(Bucket=bucket, Key="k", Body=b"soon gone")
    m = mount_factory(bucket)
    # X-Amz-Date has whole seconds: a URL for 1 s may live for less than
    # one, shorter than a loaded sanitizer build takes to fetch it.
    r = presign(binary, m.p("k"), "--expires", "4")
    assert r.returncode == 0, r.stderr
    url = r.stdout.strip()
    assert fetch(url) == (200, b"soon gone")
    time.sleep(5.5)
    code, body = fetch(url)
    assert code == 403 and b"Request has expired" in body
    r = presign(binary, m.p("k"), "--expires", "8d")
    assert r.returncode == 1
    assert r.stderr.strip() == ("bucketfs presign: --expires 8d is beyond what the store allows "
                                "(7 days for S3)")
    r = presign(binary, m.p("k"), "--expires", "7d")
    assert r.returncode == 0 and "X-Amz-Expires=604800" in r.stdout


def test_s3_presign_url_target(binary, server, s3, bucket, tmp_path):
    s3.put_object(Bucket=bucket, Key="p/q.txt", Body=b"no mount needed")
    env = clean_env(str(tmp_path))
    env.update(AWS_ACCESS_KEY_ID=KEY, AWS_SECRET_ACCESS_KEY=SECRET)
    r = presign(binary, f"s3://{bucket}/p/q.txt", "-o", f"endpoint={server.endpoint}",
                env=env)
    assert r.returncode == 0, r.stderr
    assert fetch(r.stdout.strip()) == (200, b"no mount needed")
    r = presign(binary, f"s3://{bucket}/p/q.txt", "--expires", "604801", "-o",
                f"endpoint={server.endpoint}", env=env)
    assert r.returncode == 1
    assert r.stderr.strip() == ("bucketfs presign: S3 URLs expire within 7 days at most "
                                "(SigV4's limit)")
    r = presign(binary, f"s3://{bucket}", "-o", f"endpoint={server.endpoint}", env=env)
    assert r.returncode == 1 and "names no object" in r.stderr


def test_not_in_a_mount(binary, tmp_path):
    f = tmp_path / "plain"
    f.write_text("x")
    r = presign(binary, str(f))
    assert r.returncode == 1
    assert r.stderr.strip() == (f"bucketfs presign: {f} is not a file in a bucketfs mount "
                                "(nor an s3:// or az:// URL)")


def test_anonymous_mount_cannot_sign(mount_factory, s3, bucket, binary):
    s3.put_object(Bucket=bucket, Key="pub", Body=b"p")
    m = mount_factory(bucket, creds=False, opts=["ro"])
    r = presign(binary, m.p("pub"))
    assert r.returncode == 1 and "cannot sign URLs" in r.stderr


def test_azure_url_xattr_and_presign(mount_factory, azurite, binary, tmp_path):
    store = AzureStore(azurite)
    store.put("d/blob one", b"azure bytes")
    m = mount_factory(store, opts=["url_expires=120"])
    url = url_xattr(m.p("d", "blob one"))
    assert "sig=" in url and AZ_KEY not in url
    assert fetch(url) == (200, b"azure bytes")
    with open(m.p("d", "up"), "wb") as f:
        f.write(b"placeholder")
    r = presign(binary, m.p("d", "up"), "--put")
    assert r.returncode == 0, r.stderr
    code, _ = fetch(r.stdout.strip(), "-X", "PUT", "-H", "x-ms-blob-type: BlockBlob",
                    "--data-binary", "via SAS")
    assert code == 201
    assert store.get("d/up") == b"via SAS"
    # Expired: azurite refuses it.
    r = presign(binary, m.p("d", "blob one"), "--expires", "1")
    url = r.stdout.strip()
    time.sleep(2.5)
    code, _ = fetch(url)
    assert code == 403
    # az:// with the account key from the environment.
    env = clean_env(str(tmp_path))
    env.update(AZURE_STORAGE_ACCOUNT=AZ_ACCOUNT, AZURE_STORAGE_KEY=AZ_KEY)
    r = presign(binary, f"az://{store.name}/d/blob one", "-o", f"endpoint={azurite.endpoint}",
                env=env)
    assert r.returncode == 0, r.stderr
    assert fetch(r.stdout.strip()) == (200, b"azure bytes")
