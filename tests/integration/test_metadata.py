"""Metadata caching: listings answer lookups for list_ttl seconds (so a
create costs its PUT and nothing else), changes made through the mount
show at once, changes made by other clients show once the TTL runs out."""
import errno
import os
import subprocess
import time

import pytest
from conftest import get_object, keys


def counts(server):
    return {k: server.requests(k) for k in ("HEAD", "GET list-type", "PUT")}


def delta(server, before):
    now = counts(server)
    return {k: now[k] - before[k] for k in now}


def test_create_in_new_directory_costs_only_puts(mount_factory, s3, bucket, server):
    mnt = mount_factory(bucket)
    os.mkdir(mnt.p("d"))
    before = counts(server)
    for i in range(20):
        with open(mnt.p("d", f"f{i}"), "wb") as f:
            f.write(b"x" * i)
    d = delta(server, before)
    assert d == {"HEAD": 0, "GET list-type": 0, "PUT": 20}, d
    assert sorted(os.listdir(mnt.p("d"))) == sorted(f"f{i}" for i in range(20))
    assert get_object(s3, bucket, "d/f7") == b"x" * 7


def test_create_in_listed_directory_costs_only_puts(mount_factory, s3, bucket, server):
    mnt = mount_factory(bucket)
    for name in ("e/a", "e/b", "e/sub/c"):
        s3.put_object(Bucket=bucket, Key=name, Body=b"1")
    assert sorted(os.listdir(mnt.p("e"))) == ["a", "b", "sub"]
    before = counts(server)
    for i in range(10):
        with open(mnt.p("e", f"new{i}"), "wb") as f:
            f.write(b"y")
    assert not os.path.exists(mnt.p("e", "absent"))
    d = delta(server, before)
    assert d == {"HEAD": 0, "GET list-type": 0, "PUT": 10}, d
    # A directory from the listing costs one HEAD (its marker), no LIST.
    before = counts(server)
    assert os.path.isdir(mnt.p("e", "sub"))
    assert delta(server, before)["GET list-type"] == 0


def test_creates_past_list_ttl_cost_one_listing(mount_factory, s3, bucket, server):
    """tar writing into a directory for longer than list_ttl: once the
    listing expires, one LIST answers the next lookups, not a GET and a
    LIST per new name; and that LIST sees what others added."""
    # list_ttl counts whole seconds: 3 leaves the refreshed listing at least
    # 2 s, time enough for the creates even on a loaded machine.
    mnt = mount_factory(bucket, opts=["list_ttl=3"])
    os.mkdir(mnt.p("d"))
    for i in range(5):
        with open(mnt.p("d", f"f{i}"), "wb") as f:
            f.write(b"x")
    s3.put_object(Bucket=bucket, Key="d/theirs", Body=b"t")
    held = open(mnt.p("d", "held"), "wb")
    time.sleep(3.2)
    held.write(b"h")
    held.close()  # an upload into the expired listing, before the next lookup
    before = counts(server)
    for i in range(5, 15):
        with open(mnt.p("d", f"f{i}"), "wb") as f:
            f.write(b"x")
    d = delta(server, before)
    assert d["PUT"] == 10 and d["GET list-type"] <= 3 and d["HEAD"] <= 1, d
    try:
        os.close(os.open(mnt.p("d", "theirs"), os.O_CREAT | os.O_EXCL | os.O_WRONLY))
        raise AssertionError("another client's file was not seen")
    except FileExistsError:
        pass
    assert get_object(s3, bucket, "d/theirs") == b"t"


def test_changes_through_the_mount_show_at_once(mount_factory, s3, bucket):
    m = mount_factory(bucket, opts=["list_ttl=3600"])
    os.mkdir(m.p("c"))
    open(m.p("c", "one"), "wb").close()
    assert os.listdir(m.p("c")) == ["one"]
    os.rename(m.p("c", "one"), m.p("c", "two"))
    assert os.listdir(m.p("c")) == ["two"]
    assert not os.path.exists(m.p("c", "one"))
    os.mkdir(m.p("c", "sub"))
    os.rename(m.p("c", "two"), m.p("c", "sub", "three"))
    assert os.listdir(m.p("c", "sub")) == ["three"]
    os.unlink(m.p("c", "sub", "three"))
    os.rmdir(m.p("c", "sub"))
    assert os.listdir(m.p("c")) == []
    assert keys(s3, bucket) == ["c/"]


def test_other_clients_show_after_list_ttl(mount_factory, s3, bucket):
    s3.put_object(Bucket=bucket, Key="x/seed", Body=b"")
    cached = mount_factory(bucket, opts=["list_ttl=3600"])
    short = mount_factory(bucket, opts=["list_ttl=1"])
    off = mount_factory(bucket, opts=["list_ttl=0"])
    for m in (cached, short, off):
        assert os.listdir(m.p("x")) == ["seed"]
    s3.put_object(Bucket=bucket, Key="x/new", Body=b"")
    # Without a listing cache, at once.
    assert os.path.exists(off.p("x", "new"))
    # Within the TTL the listing says it is not there.
    assert not os.path.exists(cached.p("x", "new"))
    assert os.listdir(cached.p("x")) == ["seed"]
    # Past it (and the kernel's own 1 s negative entry), it is.
    time.sleep(2.5)
    assert os.path.exists(short.p("x", "new"))
    assert sorted(os.listdir(short.p("x"))) == ["new", "seed"]


def test_list_attrs_ls_l_costs_the_listing_only(mount_factory, s3, bucket, server):
    # list_attrs: ls -l takes sizes and times from the LIST pages; per-file
    # metadata is not read (that is the trade), and nothing is HEADed.
    for i in range(50):
        s3.put_object(Bucket=bucket, Key=f"la/f{i:02d}", Body=b"x" * i,
                      Metadata={"mode": str(0o100600)})
    m = mount_factory(bucket, opts=["list_attrs"])
    assert os.path.isdir(m.p("la"))
    before = counts(server)
    out = subprocess.run(["ls", "-ln", m.p("la")], capture_output=True, text=True,
                         check=True).stdout.splitlines()[1:]
    d = delta(server, before)
    assert d["HEAD"] == 0 and d["GET list-type"] == 1, d
    sizes = {line.split()[-1]: int(line.split()[4]) for line in out}
    assert sizes == {f"f{i:02d}": i for i in range(50)}
    assert all(line.startswith("-rw-r--r--") for line in out)  # the mount's mode
    # A file written here is not shown with the listing's stale size.
    with open(m.p("la", "f07"), "wb") as f:
        f.write(b"longer than before")
    assert os.stat(m.p("la", "f07")).st_size == 18


def test_ls_l_asks_for_labels_and_acls_once(mount_factory, s3, bucket):
    # Only user. attributes exist here. ENOTSUP for the others tells ls -l
    # (and cp -a, tar --xattrs) so, once per mount instead of per file.
    for i in range(20):
        s3.put_object(Bucket=bucket, Key=f"x/f{i:02d}", Body=b"x")
    m = mount_factory(bucket)
    f = m.p("x", "f00")
    for name in ("security.selinux", "system.posix_acl_access", "trusted.x"):
        with pytest.raises(OSError) as e:
            os.getxattr(f, name)
        assert e.value.errno == errno.ENOTSUP, name
    with pytest.raises(OSError) as e:
        os.getxattr(f, "user.nothing")
    assert e.value.errno == errno.ENODATA
    assert os.getxattr(m.path, "user.bucketfs.stats").startswith(b"#")
    out = subprocess.run(["strace", "-f", "-e", "trace=getxattr,lgetxattr", "ls", "-l",
                          m.p("x")], capture_output=True, text=True, check=True)
    assert len(out.stdout.splitlines()) == 21
    calls = [line for line in out.stderr.splitlines() if "getxattr(" in line]
    assert 1 <= len(calls) <= 4, out.stderr


def test_cat_of_small_files_costs_one_request_each(mount_factory, s3, bucket, server):
    # The lookup's ranged GET brings a small file's attributes and data at
    # once: reading it next costs nothing more.
    for i in range(20):
        s3.put_object(Bucket=bucket, Key=f"s/f{i}", Body=f"file {i}\n".encode() * (i + 1),
                      Metadata={"mode": str(0o100640)})
    s3.put_object(Bucket=bucket, Key="s/empty", Body=b"")
    # Long TTLs: the counts must not depend on how fast a loaded machine is.
    m = mount_factory(bucket, opts=["list_ttl=3600", "stat_ttl=3600"])
    assert os.path.isdir(m.p("s"))
    before = counts(server)
    gets = server.requests("GET")
    for i in range(20):
        with open(m.p("s", f"f{i}"), "rb") as f:
            assert f.read() == f"file {i}\n".encode() * (i + 1)
        assert os.stat(m.p("s", f"f{i}")).st_mode & 0o777 == 0o640
    assert delta(server, before) == {"HEAD": 0, "GET list-type": 0, "PUT": 0}
    assert server.requests("GET") - gets == 20
    with open(m.p("s", "empty"), "rb") as f:  # no byte 0 to GET: a HEAD then
        assert f.read() == b""


def test_setattr_that_changes_nothing_writes_nothing(mount_factory, bucket, server):
    """tar chowns and chmods every directory it made to what it already is:
    those cost no request. A real change is written, and one the store
    refuses is undone in the mount, so that asking again tries again."""
    import stat

    m = mount_factory(bucket)
    os.mkdir(m.p("d"), 0o755)
    st = os.stat(m.p("d"))
    before = counts(server)
    os.chown(m.p("d"), st.st_uid, st.st_gid)
    os.chmod(m.p("d"), 0o755)
    assert delta(server, before)["PUT"] == 0
    server.inject({"method": "PUT", "path": "/d/", "status": 403, "code": "AccessDenied",
                   "count": 1})
    with pytest.raises(PermissionError):
        os.chmod(m.p("d"), 0o700)
    server.inject()
    assert stat.S_IMODE(os.stat(m.p("d")).st_mode) == 0o755
    before = counts(server)
    os.chmod(m.p("d"), 0o700)
    assert delta(server, before)["PUT"] == 1
    assert stat.S_IMODE(os.stat(mount_factory(bucket).p("d")).st_mode) == 0o700
