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
