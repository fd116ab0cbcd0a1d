"""Counters at run time: the Prometheus endpoint, the stats xattr of the
root, and the summary logged at unmount."""
import os
import re
import subprocess
import urllib.request

from conftest import KEY, SECRET, clean_env, free_port, run_bucketfs


def counters(text):
    out = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            name, value = line.rsplit(" ", 1)
            out[name] = int(value)
    return out


def test_metrics_endpoint_xattr_and_summary(mount_factory, s3, bucket):
    port = free_port()
    s3.put_object(Bucket=bucket, Key="r", Body=os.urandom(3 << 20))
    m = mount_factory(bucket, opts=[f"metrics=127.0.0.1:{port}"], log_level="notice")
    with open(m.p("w"), "wb") as f:
        f.write(b"x" * 1000)
    with open(m.p("r"), "rb") as f:
        f.read()
    text = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10).read()
    c = counters(text.decode())
    assert c['bucketfs_requests_total{method="PUT"}'] >= 1
    assert c['bucketfs_requests_total{method="GET"}'] >= 1
    assert c["bucketfs_sent_bytes_total"] >= 1000
    assert c["bucketfs_received_bytes_total"] >= 3 << 20
    assert c["bucketfs_uploads_total"] == 1
    assert c["bucketfs_cache_misses_total"] >= 1
    assert "# TYPE bucketfs_retries_total counter" in text.decode()
    # The README's way: curl, and getfattr on the root.
    out = subprocess.run(["curl", "-s", f"127.0.0.1:{port}/metrics"], capture_output=True,
                         text=True, check=True).stdout
    assert counters(out)["bucketfs_uploads_total"] == 1
    out = subprocess.run(["getfattr", "-n", "user.bucketfs.stats", "--only-values", m.path],
                         capture_output=True, text=True, check=True).stdout
    assert counters(out)["bucketfs_uploads_total"] == 1

    x = counters(os.getxattr(m.path, "user.bucketfs.stats").decode())
    assert x['bucketfs_requests_total{method="PUT"}'] >= c['bucketfs_requests_total{method="PUT"}']
    assert "user.bucketfs.stats" in os.listxattr(m.path)
    m.close()
    assert re.search(r"unmounted s3://\S+: \d+ requests .* 1 files uploaded, 0 failed",
                     m.read_log()), m.read_log()


def test_bad_metrics_address_fails_the_mount(binary, server, bucket, tmp_path):
    env = clean_env(str(tmp_path))
    env.update(AWS_ACCESS_KEY_ID=KEY, AWS_SECRET_ACCESS_KEY=SECRET)
    mp = tmp_path / "mp"
    mp.mkdir()
    r = run_bucketfs(binary, [f"s3://{bucket}", str(mp), "-o",
                              f"endpoint={server.endpoint},metrics=nonsense"], env=env)
    assert r.returncode == 1
    assert r.stderr.strip() == "bucketfs: metrics=nonsense: expected HOST:PORT"
