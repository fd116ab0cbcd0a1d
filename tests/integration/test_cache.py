"""The disk tier of the block cache (cache_dir=, cache_disk_size=): blocks
evicted from memory are read back from disk instead of the store, across
remounts too, within the size given; a changed object is never served
from it."""
import os

import pytest

from conftest import unmount

MIB = 1 << 20


def read_uncached(path):
    """Read a file through the mount, past the kernel's page cache."""
    with open(path, "rb") as f:
        os.posix_fadvise(f.fileno(), 0, 0, os.POSIX_FADV_DONTNEED)
        data = b"".join(iter(lambda: f.read(MIB), b""))
        os.posix_fadvise(f.fileno(), 0, 0, os.POSIX_FADV_DONTNEED)
    return data


def disk_bytes(d):
    return sum(os.path.getsize(os.path.join(r, f)) for r, _, fs in os.walk(d) for f in fs)


def test_evicted_blocks_come_back_from_disk(mount_factory, s3, bucket, server, tmp_path):
    data = os.urandom(24 * MIB)
    s3.put_object(Bucket=bucket, Key="obj", Body=data)
    cache = str(tmp_path / "cache")
    # 96 blocks of 256 KiB through 16 of memory: GETs fetch runs of 8.
    opts = ["cache_size=4M", "block_size=256K", f"cache_dir={cache}", "cache_disk_size=64M"]
    m = mount_factory(bucket, opts=opts)
    gets = server.requests("GET")
    assert read_uncached(m.p("obj")) == data
    assert server.requests("GET") - gets >= 10
    gets = server.requests("GET")
    assert read_uncached(m.p("obj")) == data
    assert server.requests("GET") - gets <= 2  # from disk, or still in memory
    m.close()
    # A remount with the same cache_dir starts warm, but for what memory
    # held at unmount (never written to disk).
    m = mount_factory(bucket, opts=opts)
    gets = server.requests("GET")
    assert read_uncached(m.p("obj")) == data
    assert server.requests("GET") - gets <= 4


def test_disk_cap_and_changed_objects(mount_factory, s3, bucket, tmp_path):
    cache = str(tmp_path / "cache")
    m = mount_factory(bucket, opts=["cache_size=4M", f"cache_dir={cache}",
                                    "cache_disk_size=16M"])
    first = os.urandom(40 * MIB)
    s3.put_object(Bucket=bucket, Key="big", Body=first)
    assert read_uncached(m.p("big")) == first
    assert disk_bytes(cache) <= 16 * MIB
    # Another client replaces it (same size): the new ETag misses the disk.
    second = os.urandom(40 * MIB)
    s3.put_object(Bucket=bucket, Key="big", Body=second)
    m.close()
    m = mount_factory(bucket, opts=["cache_size=4M", f"cache_dir={cache}",
                                    "cache_disk_size=16M"])
    assert read_uncached(m.p("big")) == second


def test_cache_dir_in_use_or_unusable_fails_in_one_line(mount_factory, binary, bucket, server,
                                                         mpoint, tmp_path):
    from conftest import KEY, SECRET, clean_env, run_bucketfs
    cache = str(tmp_path / "cache")
    mount_factory(bucket, opts=[f"cache_dir={cache}"])
    env = clean_env(str(tmp_path / "home"))
    env.update(AWS_ACCESS_KEY_ID=KEY, AWS_SECRET_ACCESS_KEY=SECRET)
    r = run_bucketfs(binary, [f"s3://{bucket}", mpoint, "-o",
                              f"endpoint={server.endpoint},cache_dir={cache}"], env=env)
    assert r.returncode == 1 and r.stderr.strip().splitlines() == [
        f"bucketfs: cannot use cache directory {cache}: another bucketfs uses it"], r.stderr
    blocker = tmp_path / "file"
    blocker.write_text("")
    r = run_bucketfs(binary, [f"s3://{bucket}", mpoint, "-o",
                              f"endpoint={server.endpoint},cache_dir={blocker}/sub"], env=env)
    assert r.returncode == 1 and "cannot use cache directory" in r.stderr, r.stderr
    unmount(mpoint)


@pytest.mark.parametrize("size", ["1M", "x"])
def test_bad_cache_disk_size(binary, bucket, server, mpoint, tmp_path, size):
    from conftest import clean_env, run_bucketfs
    r = run_bucketfs(binary, [f"s3://{bucket}", mpoint, "-o",
                              f"endpoint={server.endpoint},cache_disk_size={size}"],
                     env=clean_env(str(tmp_path)))
    assert r.returncode == 1 and "cache_disk_size" in r.stderr, r.stderr
