"""The command line and mount integration: help, version, the three mount(8)
forms, mount options, and every way a mount can fail (one line, exit 1,
nothing left mounted)."""
import os
import shutil
import stat
import subprocess
import time

import pytest

from conftest import KEY, SECRET, clean_env, get_object, is_mounted, keys, run_bucketfs


@pytest.fixture
def env(tmp_path):
    e = clean_env(str(tmp_path / "home"))
    os.makedirs(e["HOME"], exist_ok=True)
    e.update(AWS_ACCESS_KEY_ID=KEY, AWS_SECRET_ACCESS_KEY=SECRET)
    return e


def test_help_and_version(binary):
    r = run_bucketfs(binary, ["--help"])
    assert r.returncode == 0
    assert r.stdout.startswith("usage: bucketfs SOURCE MOUNTPOINT")
    for opt in ("endpoint=", "region=", "path_style", "virtual_hosted", "ro", "uid=", "gid=",
                "umask=", "file_mode=", "dir_mode=", "allow_other", "cafile=", "no_verify_ssl",
                "profile=", "passwd_file="):
        assert f"-o {opt}" in r.stdout, opt
    r = run_bucketfs(binary, ["--version"])
    assert r.returncode == 0 and r.stdout.startswith("bucketfs ")


def one_line_failure(r, expected):
    """The failure contract: exit 1 and exactly one line naming the cause."""
    assert r.returncode == 1, r
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1, r.stderr
    assert lines[0].startswith("bucketfs: "), lines[0]
    assert expected in lines[0], lines[0]
    return lines[0]


def test_unknown_option_named(binary, mpoint, env):
    r = run_bucketfs(binary, ["s3://bkt", mpoint, "-o", "ro,frobnicate=1"], env=env)
    one_line_failure(r, "unknown option 'frobnicate=1'")
    assert not is_mounted(mpoint)


def test_bad_source(binary, mpoint, env):
    r = run_bucketfs(binary, ["gs://bkt", mpoint], env=env)
    one_line_failure(r, "SOURCE 'gs://bkt' is not s3://BUCKET[/PREFIX], az://CONTAINER[/PREFIX] "
                     "or https://ACCOUNT.blob.core.windows.net/CONTAINER[/PREFIX]")


def test_missing_mountpoint(binary, env, server, tmp_path):
    r = run_bucketfs(binary, ["s3://bkt", str(tmp_path / "absent"),
                              "-o", f"endpoint={server.endpoint}"], env=env)
    one_line_failure(r, "No such file or directory")


def test_no_such_bucket(binary, mpoint, env, server):
    t = time.time()
    r = run_bucketfs(binary, ["s3://no-such-bucket", mpoint, "-o", f"endpoint={server.endpoint}"],
                     env=env)
    one_line_failure(r, "bucket 'no-such-bucket' does not exist")
    assert time.time() - t < 30
    assert not is_mounted(mpoint)


def test_wrong_secret_fails_signature_check(binary, mpoint, env, server, bucket):
    env["AWS_SECRET_ACCESS_KEY"] = "not-the-secret"
    r = run_bucketfs(binary, [f"s3://{bucket}", mpoint, "-o", f"endpoint={server.endpoint}"],
                     env=env)
    line = one_line_failure(r, "the secret key does not match access key id")
    assert "not-the-secret" not in line
    assert not is_mounted(mpoint)


def test_unknown_access_key(binary, mpoint, env, server, bucket):
    env["AWS_ACCESS_KEY_ID"] = "AKIDUNKNOWN"
    r = run_bucketfs(binary, [f"s3://{bucket}", mpoint, "-o", f"endpoint={server.endpoint}"],
                     env=env)
    one_line_failure(r, "access key id")


def test_wrong_region_named(binary, mpoint, env, server, bucket):
    # What AWS answers when the bucket lives in another region.
    server.inject({"method": "GET", "status": 301, "code": "PermanentRedirect", "count": 1,
                   "headers": {"x-amz-bucket-region": "eu-west-1"}})
    try:
        r = run_bucketfs(binary, [f"s3://{bucket}", mpoint, "-o",
                                  f"endpoint={server.endpoint},region=us-east-1"], env=env)
    finally:
        server.inject()
    one_line_failure(r, f"bucket '{bucket}' is in region eu-west-1, not us-east-1 "
                        "(use -o region=eu-west-1)")


def test_unreachable_endpoint(binary, mpoint, env):
    from conftest import free_port
    t = time.time()
    r = run_bucketfs(binary, ["s3://bkt", mpoint, "-o",
                              f"endpoint=http://127.0.0.1:{free_port()},retries=1"], env=env)
    one_line_failure(r, "cannot reach")
    assert time.time() - t < 30


def test_unresolvable_endpoint(binary, mpoint, env):
    r = run_bucketfs(binary, ["s3://bkt", mpoint, "-o",
                              "endpoint=http://no-such-host.invalid,retries=0"], env=env)
    one_line_failure(r, "cannot reach")


def test_half_credentials(binary, mpoint, env, server):
    del env["AWS_SECRET_ACCESS_KEY"]
    r = run_bucketfs(binary, ["s3://bkt", mpoint, "-o", f"endpoint={server.endpoint}"], env=env)
    one_line_failure(r, "AWS_ACCESS_KEY_ID is set but AWS_SECRET_ACCESS_KEY is not")


def test_bad_option_value(binary, mpoint, env):
    r = run_bucketfs(binary, ["s3://bkt", mpoint, "-o", "part_size=1K"], env=env)
    one_line_failure(r, "part_size=1K")
    r = run_bucketfs(binary, ["s3://bkt", mpoint, "-o", "uid=nosuchuserxyz"], env=env)
    one_line_failure(r, "no such user")


def test_daemon_mode_and_unmount(binary, mpoint, env, server, s3, bucket):
    # In the background (after fork) too, reads use read-ahead threads.
    data = os.urandom(20 << 20)
    s3.put_object(Bucket=bucket, Key="big", Body=data)
    r = run_bucketfs(binary, [f"s3://{bucket}", mpoint, "-o", f"endpoint={server.endpoint}"],
                     env=env)
    assert r.returncode == 0, r.stderr
    assert is_mounted(mpoint)
    with open(os.path.join(mpoint, "big"), "rb") as f:
        assert f.read() == data
    with open(os.path.join(mpoint, "f"), "w") as f:
        f.write("daemon")
    subprocess.run(["umount", mpoint], check=True)
    assert get_object(s3, bucket, "f") == b"daemon"


@pytest.fixture
def installed(binary):
    """mount(8) runs mount.fuse3 with a fixed PATH: put bucketfs on it."""
    link = "/usr/local/bin/bucketfs"
    if os.path.lexists(link) and os.path.realpath(link) != binary:
        pytest.skip(f"{link} exists and is not the binary under test")
    created = not os.path.lexists(link)
    if created:
        os.symlink(binary, link)
    yield
    if created:
        os.unlink(link)


def write_creds_file(tmp_path):
    p = tmp_path / "passwd"
    p.write_text(f"{KEY}:{SECRET}\n")
    p.chmod(0o600)
    return str(p)


def test_mount_t_fuse_bucketfs(installed, mpoint, server, s3, bucket, tmp_path):
    pw = write_creds_file(tmp_path)
    subprocess.run(["mount", "-t", "fuse.bucketfs", f"s3://{bucket}", mpoint, "-o",
                    f"endpoint={server.endpoint},passwd_file={pw},"
                    f"staging_dir={tmp_path}/stage,noatime,nodev"],
                   check=True, env=clean_env(str(tmp_path)))
    with open("/proc/self/mounts") as f:
        line = next(l for l in f if l.split()[1] == mpoint)
    assert line.split()[0] == f"s3://{bucket}" and line.split()[2] == "fuse.bucketfs"
    with open(os.path.join(mpoint, "via-mount"), "w") as f:
        f.write("mount -t")
    subprocess.run(["umount", mpoint], check=True)
    assert get_object(s3, bucket, "via-mount") == b"mount -t"


def test_mount_t_fuse_hash_form(installed, mpoint, server, s3, bucket, tmp_path):
    pw = write_creds_file(tmp_path)
    s3.put_object(Bucket=bucket, Key="seen", Body=b"yes")
    subprocess.run(["mount", "-t", "fuse", f"bucketfs#s3://{bucket}", mpoint, "-o",
                    f"endpoint={server.endpoint},passwd_file={pw},ro"],
                   check=True, env=clean_env(str(tmp_path)))
    with open(os.path.join(mpoint, "seen")) as f:
        assert f.read() == "yes"
    with pytest.raises(OSError):
        open(os.path.join(mpoint, "new"), "w")
    subprocess.run(["umount", mpoint], check=True)


def test_fstab_line(installed, mpoint, server, s3, bucket, tmp_path):
    pw = write_creds_file(tmp_path)
    s3.put_object(Bucket=bucket, Key="from-fstab", Body=b"ok")
    fstab = tmp_path / "fstab"
    fstab.write_text(
        "# test fstab\n"
        f"s3://{bucket} {mpoint} fuse.bucketfs "
        f"_netdev,nofail,noauto,x-systemd.automount,endpoint={server.endpoint},"
        f"passwd_file={pw},allow_other 0 0\n")
    subprocess.run(["mount", "-T", str(fstab), mpoint], check=True,
                   env=clean_env(str(tmp_path)))
    with open(os.path.join(mpoint, "from-fstab")) as f:
        assert f.read() == "ok"
    subprocess.run(["umount", mpoint], check=True)


def test_mount_t_failure_is_reported(installed, mpoint, server, tmp_path):
    r = subprocess.run(["mount", "-t", "fuse.bucketfs", "s3://no-such-bucket", mpoint, "-o",
                        f"endpoint={server.endpoint}"],
                       capture_output=True, text=True, env=clean_env(str(tmp_path)))
    assert r.returncode != 0
    assert "bucket 'no-such-bucket' does not exist" in r.stderr
    assert not is_mounted(mpoint)


def test_read_only(mount_factory, s3, bucket):
    s3.put_object(Bucket=bucket, Key="f", Body=b"data")
    m = mount_factory(bucket, opts=["ro"])
    with open(m.p("f"), "rb") as f:
        assert f.read() == b"data"
    for op in (lambda: open(m.p("new"), "wb"), lambda: os.unlink(m.p("f")),
               lambda: os.mkdir(m.p("d")), lambda: open(m.p("f"), "ab")):
        with pytest.raises(OSError) as e:
            op()
        assert e.value.errno == 30  # EROFS
    assert keys(s3, bucket) == ["f"]


def test_prefix_is_the_root(mount_factory, s3, bucket):
    s3.put_object(Bucket=bucket, Key="outside", Body=b"o")
    s3.put_object(Bucket=bucket, Key="team/data/inside", Body=b"i")
    m = mount_factory(bucket, prefix="team/data")
    assert os.listdir(m.path) == ["inside"]
    with open(m.p("new"), "w") as f:
        f.write("n")
    os.mkdir(m.p("sub"))
    assert keys(s3, bucket) == ["outside", "team/data/inside", "team/data/new", "team/data/sub/"]


def test_prefix_that_does_not_exist_yet(mount_factory, s3, bucket):
    m = mount_factory(bucket, prefix="fresh")
    assert os.listdir(m.path) == []
    with open(m.p("x"), "w") as f:
        f.write("x")
    assert keys(s3, bucket) == ["fresh/x"]


def test_uid_gid_umask(mount_factory, s3, bucket):
    s3.put_object(Bucket=bucket, Key="d/f", Body=b"x")
    m = mount_factory(bucket, opts=["uid=1001", "gid=1002", "umask=027"])
    st = os.stat(m.p("d", "f"))
    assert (st.st_uid, st.st_gid, stat.S_IMODE(st.st_mode)) == (1001, 1002, 0o640)
    st = os.stat(m.p("d"))
    assert stat.S_IMODE(st.st_mode) == 0o750
    st = os.stat(m.path)
    assert (st.st_uid, st.st_gid) == (1001, 1002)


def test_file_and_dir_modes(mount_factory, s3, bucket):
    s3.put_object(Bucket=bucket, Key="d/f", Body=b"x")
    m = mount_factory(bucket, opts=["file_mode=0600", "dir_mode=0711"])
    assert stat.S_IMODE(os.stat(m.p("d", "f")).st_mode) == 0o600
    assert stat.S_IMODE(os.stat(m.p("d")).st_mode) == 0o711


@pytest.fixture
def open_dir():
    """A directory other users can reach (pytest's tmp_path is 0700).
    Tests name it before mount_factory, so that it outlives the mount."""
    import tempfile
    d = tempfile.mkdtemp(prefix="bucketfs-open-")
    os.chmod(d, 0o755)
    yield d
    shutil.rmtree(d, ignore_errors=True)


def test_allow_other_and_permissions(open_dir, mount_factory, s3, bucket):
    s3.put_object(Bucket=bucket, Key="public", Body=b"pub")
    m = mount_factory(bucket, opts=["allow_other", "umask=022"], mnt_dir=open_dir)
    with open(m.p("private"), "w") as f:
        f.write("secret")
    os.chmod(m.p("private"), 0o600)
    as_nobody = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"]
    r = subprocess.run(as_nobody + ["cat", m.p("public")], capture_output=True, text=True)
    assert r.returncode == 0 and r.stdout == "pub"
    r = subprocess.run(as_nobody + ["cat", m.p("private")], capture_output=True, text=True)
    assert r.returncode != 0 and "Permission denied" in r.stderr
    r = subprocess.run(as_nobody + ["touch", m.p("newfile")], capture_output=True, text=True)
    assert r.returncode != 0  # the root directory is 0755 root's


def test_without_allow_other_others_are_kept_out(open_dir, mount_factory, bucket):
    m = mount_factory(bucket, mnt_dir=open_dir)
    r = subprocess.run(["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups",
                        "ls", m.path], capture_output=True, text=True)
    assert r.returncode != 0 and "Permission denied" in r.stderr


def test_key_too_long(mnt):
    d = mnt.path
    for i in range(5):
        d = os.path.join(d, chr(ord("a") + i) * 200)
        os.mkdir(d)
    with pytest.raises(OSError) as e:
        open(os.path.join(d, "f" * 40), "w")
    assert e.value.errno == 36  # ENAMETOOLONG: the key would pass 1,024 bytes
