"""POSIX operations through a real mount, each checked against the store
through an independent client (boto3 for S3, Microsoft's SDK for Azure
Blob), and the other way round. Every test here runs on both stores."""
import errno
import os
import stat
import subprocess
import tarfile
import time

import pytest



def write(path, data, mode="wb"):
    with open(path, mode) as f:
        f.write(data)


def read(path):
    with open(path, "rb") as f:
        return f.read()


def test_write_then_read_both_ways(mnt, store):
    write(mnt.p("hello.txt"), b"hello world\n")
    # close() returned: the object is in the bucket now, not at unmount.
    assert store.get("hello.txt") == b"hello world\n"
    store.put("from-s3.txt", b"written by boto3")
    assert read(mnt.p("from-s3.txt")) == b"written by boto3"
    assert sorted(os.listdir(mnt.path)) == ["from-s3.txt", "hello.txt"]
    st = os.stat(mnt.p("hello.txt"))
    assert stat.S_ISREG(st.st_mode) and st.st_size == 12


def test_empty_file_is_created(mnt, store):
    open(mnt.p("empty"), "w").close()
    assert store.get("empty") == b""
    assert os.stat(mnt.p("empty")).st_size == 0


def test_readdir_dot_entries_and_attrs(mnt, store):
    store.put("d/f", b"x")
    fd = os.open(mnt.p("d"), os.O_RDONLY | os.O_DIRECTORY)
    try:
        # os.listdir hides . and ..: ask the kernel directly.
        out = subprocess.run(["ls", "-a", mnt.p("d")], capture_output=True, text=True,
                             check=True).stdout.split()
    finally:
        os.close(fd)
    assert out == [".", "..", "f"]
    assert stat.S_ISDIR(os.stat(mnt.p("d")).st_mode)


def test_directory_forms(mnt, store):
    store.put("marker/", b"")
    store.put("dotempty/.empty", b"")
    # s3rver's delimiter listing misses a prefix whose first object is two
    # levels down (it prunes those directories), so give "implicit" one of
    # its own; "implicit/sub" is the deeper implicit directory.
    store.put("implicit/top.txt", b"top")
    store.put("implicit/sub/file.txt", b"data")
    for d in ("marker", "dotempty", "implicit", "implicit/sub"):
        assert stat.S_ISDIR(os.stat(mnt.p(d)).st_mode), d
    assert sorted(os.listdir(mnt.path)) == ["dotempty", "implicit", "marker"]
    assert os.listdir(mnt.p("dotempty")) == []  # .empty is hidden
    assert sorted(os.listdir(mnt.p("implicit"))) == ["sub", "top.txt"]
    assert read(mnt.p("implicit", "sub", "file.txt")) == b"data"


def test_foreign_objects_get_sane_attrs(mnt, store):
    store.put("plain.bin", b"12345")
    lm = store.head("plain.bin")["mtime"]
    st = os.stat(mnt.p("plain.bin"))
    assert stat.S_IMODE(st.st_mode) == 0o644
    assert abs(st.st_mtime - lm) < 2
    assert st.st_uid == os.getuid()


def test_mkdir_writes_marker_and_rmdir(mnt, store):
    os.mkdir(mnt.p("newdir"))
    assert store.dir_key("newdir") in store.keys()
    write(mnt.p("newdir", "f"), b"1")
    with pytest.raises(OSError) as e:
        os.rmdir(mnt.p("newdir"))
    assert e.value.errno == errno.ENOTEMPTY
    with pytest.raises(FileExistsError):
        os.mkdir(mnt.p("newdir"))
    os.unlink(mnt.p("newdir", "f"))
    os.rmdir(mnt.p("newdir"))
    assert store.keys() == []
    assert not os.path.exists(mnt.p("newdir"))


def test_rmdir_of_implicit_dir_not_empty(mnt, store):
    store.put("imp/a", b"")
    with pytest.raises(OSError) as e:
        os.rmdir(mnt.p("imp"))
    assert e.value.errno == errno.ENOTEMPTY


def test_errors(mnt, store):
    with pytest.raises(FileNotFoundError):
        open(mnt.p("nope"), "rb")
    write(mnt.p("file"), b"x")
    with pytest.raises(NotADirectoryError):
        os.listdir(mnt.p("file"))
    with pytest.raises(NotADirectoryError):
        open(mnt.p("file", "sub"), "wb")
    os.mkdir(mnt.p("dir"))
    with pytest.raises(IsADirectoryError):
        open(mnt.p("dir"), "wb")
    with pytest.raises(FileExistsError):
        os.open(mnt.p("file"), os.O_CREAT | os.O_EXCL | os.O_WRONLY)
    with pytest.raises(OSError) as e:
        open(mnt.p("x" * 300), "wb")
    assert e.value.errno == errno.ENAMETOOLONG
    with pytest.raises(PermissionError):
        os.link(mnt.p("file"), mnt.p("hard"))


def test_unlink(mnt, store):
    write(mnt.p("gone"), b"bye")
    os.unlink(mnt.p("gone"))
    assert store.keys() == []
    assert not os.path.exists(mnt.p("gone"))
    with pytest.raises(FileNotFoundError):
        os.unlink(mnt.p("gone"))


def test_unlink_open_file_keeps_data_for_the_holder(mnt, store):
    write(mnt.p("held"), b"still here")
    with open(mnt.p("held"), "rb") as f:
        os.unlink(mnt.p("held"))
        assert f.read() == b"still here"
        assert os.fstat(f.fileno()).st_size == 10
    assert store.keys() == []


def test_rename_file_and_over_existing(mnt, store):
    write(mnt.p("a"), b"AAA")
    write(mnt.p("b"), b"BBBB")
    os.rename(mnt.p("a"), mnt.p("c"))
    assert store.keys() == ["b", "c"]
    os.rename(mnt.p("c"), mnt.p("b"))
    assert store.keys() == ["b"]
    assert store.get("b") == b"AAA"
    assert read(mnt.p("b")) == b"AAA"
    assert os.listdir(mnt.path) == ["b"]


def test_rename_directory_tree(mnt, store):
    os.makedirs(mnt.p("src", "deep", "er"))
    write(mnt.p("src", "top"), b"t")
    write(mnt.p("src", "deep", "er", "leaf"), b"leaf")
    store.put("src/foreign", b"f")
    os.rename(mnt.p("src"), mnt.p("dst"))
    d = store.dir_key
    assert store.keys() == sorted([d("dst"), d("dst/deep"), d("dst/deep/er"),
                                   "dst/deep/er/leaf", "dst/foreign", "dst/top"])
    assert read(mnt.p("dst", "deep", "er", "leaf")) == b"leaf"
    assert not os.path.exists(mnt.p("src"))


def test_rename_directory_over_empty_directory(mnt, store):
    os.mkdir(mnt.p("src"))
    write(mnt.p("src", "f"), b"f")
    os.mkdir(mnt.p("dst"))
    os.rename(mnt.p("src"), mnt.p("dst"))
    assert store.keys() == sorted([store.dir_key("dst"), "dst/f"])
    os.mkdir(mnt.p("other"))
    write(mnt.p("other", "g"), b"g")
    with pytest.raises(OSError) as e:
        os.rename(mnt.p("other"), mnt.p("dst"))
    assert e.value.errno == errno.ENOTEMPTY


def test_truncate_grow_and_shrink(mnt, store):
    write(mnt.p("t"), b"0123456789")
    os.truncate(mnt.p("t"), 4)
    assert store.get("t") == b"0123"
    os.truncate(mnt.p("t"), 8)
    assert store.get("t") == b"0123\0\0\0\0"
    with open(mnt.p("t"), "r+b") as f:
        f.truncate(2)
    assert store.get("t") == b"01"
    with open(mnt.p("t"), "wb"):
        pass  # O_TRUNC
    assert store.get("t") == b""


def test_random_writes_and_append_to_existing_object(mnt, store):
    data = bytes(range(256)) * 4096  # 1 MiB
    store.put("obj", data)
    with open(mnt.p("obj"), "r+b") as f:
        f.seek(1000)
        f.write(b"X" * 10)
        f.seek(700000)
        f.write(b"Y" * 5)
    expect = bytearray(data)
    expect[1000:1010] = b"X" * 10
    expect[700000:700005] = b"Y" * 5
    assert store.get("obj") == bytes(expect)
    write(mnt.p("obj"), b"tail", "ab")
    assert store.get("obj") == bytes(expect) + b"tail"
    # A sparse write past the end.
    with open(mnt.p("obj"), "r+b") as f:
        f.seek(len(expect) + 4 + 100)
        f.write(b"Z")
    got = store.get("obj")
    assert got == bytes(expect) + b"tail" + b"\0" * 100 + b"Z"


def test_reads_at_offsets(mnt, store):
    data = os.urandom(3 * 1024 * 1024 + 17)
    store.put("r", data)
    fd = os.open(mnt.p("r"), os.O_RDONLY)
    try:
        for off, n in ((0, 1), (4095, 2), (1 << 20, 65536), (len(data) - 5, 100), (len(data), 9)):
            assert os.pread(fd, n, off) == data[off:off + n]
    finally:
        os.close(fd)
    assert read(mnt.p("r")) == data


def test_symlink_and_readlink(mnt, store):
    os.symlink("target/file.txt", mnt.p("link"))
    assert os.readlink(mnt.p("link")) == "target/file.txt"
    assert stat.S_ISLNK(os.lstat(mnt.p("link")).st_mode)
    assert stat.S_ISLNK(int(store.head("link")["metadata"]["mode"]))
    write(mnt.p("real"), b"real")
    os.symlink("real", mnt.p("l2"))
    assert read(mnt.p("l2")) == b"real"


def test_chmod_chown_utimens_in_s3fs_metadata(mnt, store):
    write(mnt.p("m"), b"meta")
    os.chmod(mnt.p("m"), 0o600)
    os.chown(mnt.p("m"), 1234, 5678)
    os.utime(mnt.p("m"), (1500000000, 1600000000))
    md = store.head("m")["metadata"]
    assert int(md["mode"]) == stat.S_IFREG | 0o600
    assert md["uid"] == "1234" and md["gid"] == "5678"
    assert md["mtime"] == "1600000000"
    assert store.get("m") == b"meta"  # rewriting metadata kept the data
    st = os.stat(mnt.p("m"))
    assert stat.S_IMODE(st.st_mode) == 0o600
    assert (st.st_uid, st.st_gid) == (1234, 5678)
    assert st.st_mtime == 1600000000
    # And s3fs-written metadata is read back the same way.
    store.put("s3fs", b"", metadata={"mode": str(stat.S_IFREG | 0o640), "uid": "42",
                                     "gid": "43", "mtime": "1400000000"})
    st = os.stat(mnt.p("s3fs"))
    assert (stat.S_IMODE(st.st_mode), st.st_uid, st.st_gid, st.st_mtime) == \
        (0o640, 42, 43, 1400000000)


def test_chmod_directory(mnt, store):
    os.mkdir(mnt.p("d"))
    os.chmod(mnt.p("d"), 0o700)
    md = store.head(store.dir_key("d"))["metadata"]
    assert int(md["mode"]) == stat.S_IFDIR | 0o700
    assert stat.S_IMODE(os.stat(mnt.p("d")).st_mode) == 0o700


def test_statfs(mnt):
    st = os.statvfs(mnt.path)
    assert st.f_bsize > 0 and st.f_blocks > 0 and st.f_bavail > 0
    assert st.f_namemax == 255


def test_large_directory_listing(mnt, store):
    # More than one ListObjectsV2 page (1000 keys), with continuation.
    from concurrent.futures import ThreadPoolExecutor
    names = [f"f{i:05d}" for i in range(1105)]
    with ThreadPoolExecutor(16) as ex:
        list(ex.map(lambda n: store.put("big/" + n, b""), names))
    assert sorted(os.listdir(mnt.p("big"))) == names


def test_special_characters_in_names(mnt, store):
    names = ["a b", "plus+sign", "eq=amp&", "ünïcödé", "semi;colon", "q?mark", "hash#",
             "pct%41", "quote'\"", "star*", "tilde~", "brackets[1]", "dollar$"]
    for n in names:
        write(mnt.p(n), n.encode())
    assert sorted(store.keys()) == sorted(names)
    for n in names:
        assert store.get(n) == n.encode()
        assert read(mnt.p(n)) == n.encode()
    assert sorted(os.listdir(mnt.path)) == sorted(names)
    os.mkdir(mnt.p("dir with space"))
    write(mnt.p("dir with space", "x&y"), b"z")
    assert os.listdir(mnt.p("dir with space")) == ["x&y"]


def test_tar_round_trip(mnt, store, tmp_path):
    src = tmp_path / "tree"
    for i in range(30):
        d = src / f"d{i % 5}" / f"sub{i % 3}"
        d.mkdir(parents=True, exist_ok=True)
        (d / f"file{i}.txt").write_bytes(os.urandom(i * 1000))
    tarball = tmp_path / "t.tar"
    with tarfile.open(tarball, "w") as t:
        t.add(src, arcname="tree")
    subprocess.run(["tar", "-xf", str(tarball), "-C", mnt.path], check=True)
    # What tar wrote is in the store, as written (read independently).
    for f in src.rglob("*.txt"):
        assert store.get("tree/" + str(f.relative_to(src))) == f.read_bytes(), f
    out = tmp_path / "back.tar"
    subprocess.run(["tar", "-cf", str(out), "-C", mnt.path, "tree"], check=True)
    check = tmp_path / "check"
    check.mkdir()
    subprocess.run(["tar", "-xf", str(out), "-C", str(check)], check=True)
    subprocess.run(["diff", "-r", str(src), str(check / "tree")], check=True)


def test_cp_mv_rm_tools(mnt, store, tmp_path):
    local = tmp_path / "local.bin"
    local.write_bytes(os.urandom(200000))
    subprocess.run(["cp", str(local), mnt.p("copy.bin")], check=True)
    subprocess.run(["mv", mnt.p("copy.bin"), mnt.p("moved.bin")], check=True)
    assert store.get("moved.bin") == local.read_bytes()
    subprocess.run(["cp", "-r", str(tmp_path / "local.bin"), mnt.p("moved.bin")], check=True)
    subprocess.run(["rm", "-rf", mnt.p("moved.bin")], check=True)
    assert store.keys() == []


def test_python_csv_workflow(mnt, store):
    import csv
    with open(mnt.p("data.csv"), "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["a", "b"])
        for i in range(1000):
            w.writerow([i, i * i])
    with open(mnt.p("data.csv"), newline="") as f:
        rows = list(csv.reader(f))
    assert len(rows) == 1001 and rows[-1] == ["999", "998001"]
    assert store.get("data.csv").startswith(b"a,b\r\n0,0\r\n")


def test_changes_by_others_become_visible(mnt, store):
    write(mnt.p("shared"), b"v1")
    assert read(mnt.p("shared")) == b"v1"
    store.put("shared", b"version two")
    time.sleep(2)  # attribute cache lifetime; a behaviour bound, not a timing assertion
    assert read(mnt.p("shared")) == b"version two"
    # Same size, new content: the kernel's cached pages must not be served.
    store.put("shared", b"VERSION TWO")
    time.sleep(2)
    assert read(mnt.p("shared")) == b"VERSION TWO"
    store.delete("shared")
    time.sleep(2)
    assert not os.path.exists(mnt.p("shared"))


def test_warm_reread_and_block_cache(mnt, store):
    data = os.urandom(9 * 1024 * 1024 + 123)
    store.put("blocks", data)
    for _ in range(3):
        assert read(mnt.p("blocks")) == data
    # Concurrent readers of one file share blocks and see the same bytes.
    from concurrent.futures import ThreadPoolExecutor
    with ThreadPoolExecutor(8) as ex:
        assert all(r == data for r in ex.map(lambda _: read(mnt.p("blocks")), range(8)))


def test_ls_l_shows_each_files_own_attributes(mnt, store):
    # ls -l of a listed directory takes attributes HEADed in parallel ahead
    # of its lookups: each file must still show its own size and metadata.
    from concurrent.futures import ThreadPoolExecutor

    def put(i):
        store.put(f"many/f{i:04d}", b"x" * i, metadata={"mode": str(stat.S_IFREG | (0o600 if i % 2 else 0o644)),
                                "uid": str(1000 + i), "gid": "0", "mtime": str(1500000000 + i)})

    with ThreadPoolExecutor(16) as ex:
        list(ex.map(put, range(300)))
    out = subprocess.run(["ls", "-ln", "--time-style=+%s", mnt.p("many")], capture_output=True,
                         text=True, check=True).stdout.splitlines()[1:]
    assert len(out) == 300
    for line in out:
        mode, _, uid, gid, size, mtime, name = line.split()
        i = int(name[1:])
        assert mode == ("-rw-------" if i % 2 else "-rw-r--r--"), line
        assert (int(uid), int(size), int(mtime)) == (1000 + i, i, 1500000000 + i), line
    # A file changed through the mount right after the listing shows the change.
    with open(mnt.p("many", "f0299"), "wb") as f:
        f.write(b"new")
    os.listdir(mnt.p("many"))
    assert os.stat(mnt.p("many", "f0299")).st_size == 3
