"""What only Azure Blob has: its ways to authenticate, and its mount
failures, each one plain line. (Every POSIX test runs on Azure too: see
the `store` fixture.)"""
import os

from conftest import AZ_ACCOUNT, AZ_KEY, AzureStore, clean_env, run_bucketfs
from test_mount import one_line_failure


def azure_env(home, **extra):
    e = clean_env(home)
    e.update(extra)
    return e


def write_read(m, store, name):
    with open(m.p(name), "wb") as f:
        f.write(b"via " + name.encode())
    assert store.get(name) == b"via " + name.encode()
    store.put(name + ".back", b"from the SDK")
    with open(m.p(name + ".back"), "rb") as f:
        assert f.read() == b"from the SDK"


def mount_with(mount_factory, store, env, opts=()):
    return mount_factory(store, creds=False, env=env,
                         opts=[f"endpoint={store.az.endpoint}"] + list(opts))


def test_sas_token(mount_factory, azurite, tmp_path):
    store = AzureStore(azurite)
    sas = azurite.call(op="sas", container=store.name)["sas"]
    m = mount_with(mount_factory, store,
                   {"AZURE_STORAGE_ACCOUNT": AZ_ACCOUNT, "AZURE_STORAGE_SAS_TOKEN": sas})
    write_read(m, store, "sas")
    m.close()
    assert "sig=" not in m.read_log()


def test_connection_string(mount_factory, azurite):
    store = AzureStore(azurite)
    cs = (f"DefaultEndpointsProtocol=http;AccountName={AZ_ACCOUNT};AccountKey={AZ_KEY};"
          f"BlobEndpoint={azurite.endpoint};")
    m = mount_factory(store, creds=False, env={"AZURE_STORAGE_CONNECTION_STRING": cs},
                      opts=[])
    write_read(m, store, "cs")


def test_key_file(mount_factory, azurite, tmp_path):
    store = AzureStore(azurite)
    kf = tmp_path / "key"
    kf.write_text(AZ_KEY + "\n")
    kf.chmod(0o600)
    m = mount_with(mount_factory, store, {"AZURE_STORAGE_ACCOUNT": AZ_ACCOUNT},
                   opts=[f"key_file={kf}"])
    write_read(m, store, "kf")


def test_key_file_readable_by_others_refused(binary, mpoint, azurite, tmp_path):
    store = AzureStore(azurite)
    kf = tmp_path / "key"
    kf.write_text(AZ_KEY)
    kf.chmod(0o644)
    r = run_bucketfs(binary, [f"az://{store.name}", mpoint, "-o",
                              f"endpoint={azurite.endpoint},account={AZ_ACCOUNT},key_file={kf}"],
                     env=azure_env(str(tmp_path)))
    one_line_failure(r, f"key file {kf} is readable by group or others (chmod 600 it)")


def test_wrong_key_fails_in_one_line(binary, mpoint, azurite, tmp_path):
    store = AzureStore(azurite)
    bad = "QUJD" + AZ_KEY[4:]
    r = run_bucketfs(binary, [f"az://{store.name}", mpoint, "-o", f"endpoint={azurite.endpoint}"],
                     env=azure_env(str(tmp_path), AZURE_STORAGE_ACCOUNT=AZ_ACCOUNT,
                                   AZURE_STORAGE_KEY=bad))
    line = one_line_failure(r, "the account key does not match")
    assert bad not in line and AZ_KEY not in line


def test_no_such_container_fails_in_one_line(binary, mpoint, azurite, tmp_path):
    r = run_bucketfs(binary, ["az://no-such-container", mpoint, "-o",
                              f"endpoint={azurite.endpoint}"],
                     env=azure_env(str(tmp_path), AZURE_STORAGE_ACCOUNT=AZ_ACCOUNT,
                                   AZURE_STORAGE_KEY=AZ_KEY))
    one_line_failure(r, "no-such-container")


def test_no_account_fails_in_one_line(binary, mpoint, tmp_path):
    r = run_bucketfs(binary, ["az://somecontainer", mpoint], env=azure_env(str(tmp_path)))
    one_line_failure(r, "no storage account: give -o account=NAME or set AZURE_STORAGE_ACCOUNT")


def test_expired_sas_fails_in_one_line(binary, mpoint, azurite, tmp_path):
    store = AzureStore(azurite)
    sas = azurite.call(op="sas", container=store.name, seconds=-60)["sas"]
    r = run_bucketfs(binary, [f"az://{store.name}", mpoint, "-o", f"endpoint={azurite.endpoint}"],
                     env=azure_env(str(tmp_path), AZURE_STORAGE_ACCOUNT=AZ_ACCOUNT,
                                   AZURE_STORAGE_SAS_TOKEN=sas))
    line = one_line_failure(r, store.name)
    assert "sig=" not in line
    assert not os.path.ismount(mpoint)


def test_blobfuse_folders(mount_factory, azurite):
    """Directories as blobfuse and ADLS write them (a blob named like the
    directory, metadata hdi_isfolder=true) read as directories, empty or
    not; mkdir writes one, as seen through Microsoft's SDK; rmdir and
    rename take it along."""
    store = AzureStore(azurite)
    store.put("bf", b"", metadata={"hdi_isfolder": "true"})
    store.put("bf/inside.txt", b"blobfuse wrote this")
    store.put("bf-empty", b"", metadata={"hdi_isfolder": "true"})
    store.put("plain", b"a file, not a folder", metadata={"hdi_isfolder": "false"})
    m = mount_factory(store)
    assert sorted(os.listdir(m.path)) == ["bf", "bf-empty", "plain"]
    assert os.path.isdir(m.p("bf")) and os.path.isdir(m.p("bf-empty"))
    assert os.path.isfile(m.p("plain"))
    assert os.listdir(m.p("bf-empty")) == []
    with open(m.p("bf", "inside.txt"), "rb") as f:
        assert f.read() == b"blobfuse wrote this"

    os.mkdir(m.p("made"))
    assert store.head("made")["metadata"]["hdi_isfolder"] == "true"
    assert "made/" not in store.keys()
    with open(m.p("made", "f"), "wb") as f:
        f.write(b"x")
    os.rename(m.p("made"), m.p("moved"))
    assert store.keys() == ["bf", "bf-empty", "bf/inside.txt", "moved", "moved/f", "plain"]
    assert store.head("moved")["metadata"]["hdi_isfolder"] == "true"
    os.unlink(m.p("moved", "f"))
    os.rmdir(m.p("moved"))
    os.rmdir(m.p("bf-empty"))
    assert store.keys() == ["bf", "bf/inside.txt", "plain"]
    # A second mount, which has cached nothing, sees the same tree.
    m2 = mount_factory(store)
    assert sorted(os.listdir(m2.path)) == ["bf", "plain"]
    assert os.path.isdir(m2.p("bf"))


def test_small_file_lookup_and_read_is_one_request(mount_factory, azurite):
    """On Azure too the lookup is a ranged Get Blob: attributes and a small
    file's data at once, so cat costs one request (counted by bucketfs's
    own counters: azurite keeps none)."""
    from test_metrics import counters
    store = AzureStore(azurite)
    for i in range(10):
        store.put(f"s/f{i}", f"file {i}\n".encode() * (i + 1), metadata={"mode": "33184"})
    store.put("s/empty", b"")
    m = mount_factory(store, opts=["list_ttl=3600", "stat_ttl=3600"])
    assert os.path.isdir(m.p("s"))

    def requests():
        c = counters(os.getxattr(m.path, "user.bucketfs.stats").decode())
        return {k.split('"')[1]: v for k, v in c.items()
                if k.startswith("bucketfs_requests_total{")}

    before = requests()
    for i in range(10):
        with open(m.p("s", f"f{i}"), "rb") as f:
            assert f.read() == f"file {i}\n".encode() * (i + 1)
        assert os.stat(m.p("s", f"f{i}")).st_mode & 0o777 == 0o640
    with open(m.p("s", "empty"), "rb") as f:
        assert f.read() == b""
    after = requests()
    delta = {k: after.get(k, 0) - before.get(k, 0) for k in after}
    # One GET per file; the empty blob's 416 answer costs a HEAD more.
    assert delta.get("GET", 0) == 11 and delta.get("HEAD", 0) == 1, delta


def test_listing_carries_attributes(mount_factory, azurite):
    """Azure listings bring each blob's metadata: ls -l costs the List Blobs
    page and nothing per file, and shows the stored modes, owners and
    times (as a HEAD would)."""
    from test_metrics import counters
    store = AzureStore(azurite)
    for i in range(30):
        store.put(f"d/f{i:02d}", b"x" * i, metadata={
            "mode": str(0o100600 if i % 2 else 0o100644), "uid": "1234", "gid": "99",
            "mtime": "1500000000"})
    store.put("d/plain", b"no metadata")
    store.put("d/sub", b"", metadata={"hdi_isfolder": "true", "mode": str(0o40700)})
    m = mount_factory(store)

    def requests():
        c = counters(os.getxattr(m.path, "user.bucketfs.stats").decode())
        return {k.split('"')[1]: v for k, v in c.items()
                if k.startswith("bucketfs_requests_total{")}

    assert os.path.isdir(m.p("d"))
    before = requests()
    names = sorted(os.listdir(m.p("d")))
    sts = {n: os.lstat(m.p("d", n)) for n in names}
    after = requests()
    assert names == [f"f{i:02d}" for i in range(30)] + ["plain", "sub"]
    for i in range(30):
        st = sts[f"f{i:02d}"]
        assert (st.st_mode, st.st_uid, st.st_gid, st.st_size, int(st.st_mtime)) == \
            (0o100600 if i % 2 else 0o100644, 1234, 99, i, 1500000000)
    assert sts["sub"].st_mode == 0o40700
    assert sts["plain"].st_size == 11
    delta = {k: after.get(k, 0) - before.get(k, 0) for k in after}
    assert delta.get("HEAD", 0) == 0 and delta.get("GET", 0) == 1, delta
