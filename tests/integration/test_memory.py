"""Resident memory stays within the cache size plus 64 MiB, whatever the
workload: a read many times the cache, and a hundred files written at once
(large enough to go up in parts)."""
import hashlib
import os
import subprocess
import threading

import pytest

from conftest import peak_rss_mib

CACHE_MIB = 32
SLACK_MIB = 64


def sanitized(binary):
    # ASan's shadow memory and quarantine are not ours to bound.
    out = subprocess.run(["ldd", binary], capture_output=True, text=True).stdout
    return "libasan" in out


def test_memory_bound(mount_factory, binary, bucket):
    if sanitized(binary):
        pytest.skip("memory is not bounded under AddressSanitizer")
    opts = [f"cache_size={CACHE_MIB}M", "multipart_threshold=5M", "part_size=5M"]
    w = mount_factory(bucket, opts=opts)
    # A 256 MiB object written through the mount: it streams up in parts.
    chunk = os.urandom(1 << 20)
    h = hashlib.sha256()
    with open(w.p("big"), "wb") as f:
        for i in range(256):
            block = chunk[i:] + chunk[:i]
            f.write(block)
            h.update(block)

    # A hundred writers at once, 6 MiB each (two parts).
    errors = []

    def writer(n):
        try:
            data = bytes([n]) * (6 << 20)
            with open(w.p(f"w{n}"), "wb") as f:
                for off in range(0, len(data), 1 << 20):
                    f.write(data[off:off + (1 << 20)])
        except OSError as e:
            errors.append(e)

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(100)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    peak_w = peak_rss_mib(w.proc.pid)

    # A fresh mount reads the big object back: 8 times its cache.
    r = mount_factory(bucket, opts=opts)
    g = hashlib.sha256()
    with open(r.p("big"), "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            g.update(block)
    assert g.hexdigest() == h.hexdigest()
    with open(r.p("w42"), "rb") as f:
        assert f.read() == bytes([42]) * (6 << 20)
    peak_r = peak_rss_mib(r.proc.pid)

    limit = CACHE_MIB + SLACK_MIB
    print(f"peak RSS: writer {peak_w:.0f} MiB, reader {peak_r:.0f} MiB (limit {limit})")
    assert peak_w <= limit, f"writer mount peaked at {peak_w:.0f} MiB"
    assert peak_r <= limit, f"reader mount peaked at {peak_r:.0f} MiB"
