"""Microsoft Entra ID bearer tokens for Azure Blob: managed identity
(IMDS), workload identity (a federated token file, re-read at every
refresh) and a service principal's secret, refreshed while mounted.

The whole path is real but for Entra ID itself: tests/tools/entra_stub.py
plays IMDS and the token endpoint (checking every request exactly), and
azurite runs over HTTPS with `--oauth basic`, where it refuses any request
whose bearer token is not a JWT with Azure Storage's audience, an Entra
issuer, and a lifetime that covers the request. It does not check
signatures, so the stub's unsigned tokens pass while they are unexpired:
a request sent with a token past its expiry fails, which is what makes
the refresh tests mean something (test_refused_token_replaced_once shows
azurite does refuse one). Tokens live 3 to 6 s here, so each test sees
several refreshes."""
import hashlib
import json
import os
import subprocess
import threading
import time
import uuid

import pytest

from conftest import (AZ_ACCOUNT, AZ_KEY, AZBLOB, NPM_DIR, ROOT, AzureStore, AzuriteServer,
                      Mount, clean_env, free_port, run_bucketfs, wait_port)
from test_azure import write_read
from test_mount import one_line_failure

STUB = os.path.join(ROOT, "tests", "tools", "entra_stub.py")
TENANT = "72f988bf-86f1-41af-91ab-2d7cd011db47"
CLIENT_ID = "0b1e9c4f-1c2d-4e5f-8a9b-0c1d2e3f4a5b"
MSI_CLIENT_ID = "6a1f3c9e-5d2b-4c7a-9e8f-1b2c3d4e5f60"
SECRET = "bfs~Entra.Secret_" + uuid.uuid4().hex
# Every Azure variable bucketfs reads, emptied (it takes empty as unset), so
# that nothing from the machine running the tests leaks in.
AZURE_VARS = ["AZURE_STORAGE_CONNECTION_STRING", "AZURE_STORAGE_KEY", "AZURE_STORAGE_SAS_TOKEN",
              "AZURE_STORAGE_ACCOUNT", "AZURE_CLIENT_ID", "AZURE_TENANT_ID",
              "AZURE_CLIENT_SECRET", "AZURE_FEDERATED_TOKEN_FILE", "AZURE_AUTHORITY_HOST",
              "AZURE_POD_IDENTITY_AUTHORITY_HOST"]
REFUSED = "the token was refused"


@pytest.fixture(scope="module")
def tls(tmp_path_factory):
    """A self-signed certificate for 127.0.0.1: azurite's and the stub's."""
    d = tmp_path_factory.mktemp("tls")
    cert, key = str(d / "cert.pem"), str(d / "key.pem")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", key,
                    "-out", cert, "-days", "2", "-subj", "/CN=127.0.0.1", "-addext",
                    "subjectAltName=IP:127.0.0.1"], check=True, capture_output=True)
    return cert, key


class OAuthAzurite(AzuriteServer):
    """azurite over HTTPS checking bearer tokens (--oauth basic), and the
    SDK client (Shared Key, still accepted) as the independent view."""

    def __init__(self, workdir, cert, key):
        self.dir = os.path.join(workdir, "azurite-oauth")
        os.makedirs(self.dir)
        self.port = free_port()
        exe = os.path.join(NPM_DIR, "node_modules", ".bin", "azurite-blob")
        self.log = open(os.path.join(workdir, "azurite-oauth.log"), "w")
        self.proc = subprocess.Popen(
            [exe, "--blobHost", "127.0.0.1", "--blobPort", str(self.port), "--location",
             self.dir, "--silent", "--disableTelemetry", "--skipApiVersionCheck",
             "--oauth", "basic", "--cert", cert, "--key", key],
            stdout=self.log, stderr=subprocess.STDOUT)
        wait_port(self.port, self.proc, "azurite")
        self.endpoint = f"https://127.0.0.1:{self.port}/{AZ_ACCOUNT}"
        env = dict(os.environ, NODE_PATH=os.path.join(NPM_DIR, "node_modules"),
                   NODE_EXTRA_CA_CERTS=cert,
                   AZURE_STORAGE_CONNECTION_STRING=(
                       f"DefaultEndpointsProtocol=https;AccountName={AZ_ACCOUNT};"
                       f"AccountKey={AZ_KEY};BlobEndpoint={self.endpoint};"))
        self.client = subprocess.Popen(["node", AZBLOB, "serve"], stdin=subprocess.PIPE,
                                       stdout=subprocess.PIPE, text=True, env=env)
        self.lock = threading.Lock()


@pytest.fixture(scope="module")
def oauth_azurite(tmp_path_factory, tls):
    a = OAuthAzurite(str(tmp_path_factory.mktemp("az")), *tls)
    yield a
    a.close()


class EntraStub:
    def __init__(self, tmp, cert, key, args):
        self.record = os.path.join(tmp, f"stub-{uuid.uuid4().hex[:6]}.jsonl")
        self.proc = subprocess.Popen(
            ["/usr/bin/python3", STUB, "--cert", cert, "--key", key, "--record", self.record,
             "--tenant", TENANT, "--client-id", CLIENT_ID] + args,
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        line = self.proc.stdout.readline().split()
        assert len(line) == 3 and line[0] == "ready", line
        self.http_port, self.https_port = int(line[1]), int(line[2])
        self.imds = f"http://127.0.0.1:{self.http_port}"
        self.authority = f"https://127.0.0.1:{self.https_port}/"

    def requests(self):
        try:
            with open(self.record) as f:
                return [json.loads(line) for line in f]
        except FileNotFoundError:
            return []

    def tokens(self):
        return [r["token"] for r in self.requests() if "token" in r]

    def issued(self):
        return len(self.tokens())

    def assert_clean(self):
        """No request the real service would have refused as malformed."""
        bad = [r for r in self.requests() if r.get("mismatch")]
        assert not bad, bad

    def wait_issued(self, n, timeout=30, poke=None):
        end = time.time() + timeout
        while self.issued() < n:
            assert time.time() < end, f"{self.issued()} tokens issued, waited for {n}"
            if poke:
                poke()
            time.sleep(0.2)

    def close(self):
        self.proc.stdin.close()
        self.proc.wait(timeout=10)


@pytest.fixture
def stub(tmp_path, tls):
    stubs = []

    def make(*args):
        s = EntraStub(str(tmp_path), *tls, list(args))
        stubs.append(s)
        return s

    yield make
    for s in stubs:
        s.close()


def azure_env(**kw):
    e = {v: "" for v in AZURE_VARS}
    e["AZURE_STORAGE_ACCOUNT"] = AZ_ACCOUNT
    e.update(kw)
    return e


def sp_env(s, secret=SECRET):
    return azure_env(AZURE_CLIENT_ID=CLIENT_ID, AZURE_TENANT_ID=TENANT,
                     AZURE_CLIENT_SECRET=secret, AZURE_AUTHORITY_HOST=s.authority)


def wi_env(s, token_file):
    return azure_env(AZURE_CLIENT_ID=CLIENT_ID, AZURE_TENANT_ID=TENANT,
                     AZURE_FEDERATED_TOKEN_FILE=str(token_file),
                     AZURE_AUTHORITY_HOST=s.authority)


def msi_env(s, client_id=""):
    return azure_env(AZURE_POD_IDENTITY_AUTHORITY_HOST=s.imds, AZURE_CLIENT_ID=client_id)


@pytest.fixture
def entra_mount(binary, tmp_path, tls):
    """Mount a container of the OAuth azurite with only the given env."""
    mounts = []

    def make(store, env, opts=(), log_level="info"):
        m = Mount(binary, None, store, str(tmp_path), creds=False, env=env,
                  opts=[f"cafile={tls[0]}"] + list(opts), log_level=log_level)
        mounts.append(m)
        return m

    yield make
    for m in mounts:
        if m.proc.returncode is None:
            m.close()


def mount_fails(binary, mpoint, store, env, tls, opts=()):
    o = ",".join([f"endpoint={store.az.endpoint}", f"cafile={tls[0]}", "retries=1"] + list(opts))
    e = clean_env(os.path.dirname(mpoint))
    e.update(env)
    return run_bucketfs(binary, [f"az://{store.name}", mpoint, "-o", o], env=e)


def write_token_file(path, text):
    """As kubelet does: the new file replaces the old one at once."""
    tmp = str(path) + ".new"
    with open(tmp, "w") as f:
        f.write(text + "\n")
    os.replace(tmp, path)


def test_managed_identity_system_assigned(entra_mount, oauth_azurite, stub):
    s = stub("--msi-client-id", "")
    store = AzureStore(oauth_azurite)
    m = entra_mount(store, msi_env(s), opts=["azure_identity=msi"])
    write_read(m, store, "msi")
    m.close()
    s.assert_clean()
    reqs = s.requests()
    assert reqs and all(r["kind"] == "imds" and r["client_id"] is None for r in reqs), reqs
    assert "Azure credentials from managed identity" in m.read_log()
    assert REFUSED not in m.read_log()


def test_managed_identity_user_assigned(entra_mount, oauth_azurite, stub):
    s = stub("--msi-client-id", MSI_CLIENT_ID)
    store = AzureStore(oauth_azurite)
    m = entra_mount(store, msi_env(s, MSI_CLIENT_ID), opts=["azure_identity=msi"])
    write_read(m, store, "uami")
    m.close()
    s.assert_clean()
    reqs = s.requests()
    assert reqs and all(r["client_id"] == MSI_CLIENT_ID and "issued" in r for r in reqs), reqs


def test_managed_identity_unknown_fails_in_one_line(binary, mpoint, oauth_azurite, stub, tls):
    s = stub("--msi-client-id", MSI_CLIENT_ID)
    store = AzureStore(oauth_azurite)
    r = mount_fails(binary, mpoint, store, msi_env(s, CLIENT_ID), tls, ["azure_identity=msi"])
    line = one_line_failure(r, f"cannot get a Microsoft Entra ID token by managed identity "
                               f"(client id {CLIENT_ID}): {s.imds}/metadata/identity/oauth2/"
                               f"token answered HTTP 400 invalid_request: Identity not found")
    assert "api-version" not in line
    s.assert_clean()


def test_managed_identity_unreachable_fails_in_one_line(binary, mpoint, oauth_azurite, tls):
    store = AzureStore(oauth_azurite)
    imds = f"http://127.0.0.1:{free_port()}"
    r = mount_fails(binary, mpoint, store, azure_env(AZURE_POD_IDENTITY_AUTHORITY_HOST=imds),
                    tls, ["azure_identity=msi"])
    one_line_failure(r, f"cannot get a Microsoft Entra ID token by managed identity "
                        f"(system-assigned): cannot reach {imds}/metadata/identity/oauth2/token")


def test_managed_identity_not_tried_unasked(binary, mpoint, oauth_azurite, stub, tls):
    """Without azure_identity=msi, IMDS is never asked: the mount is
    anonymous (and fails on this private container, at once)."""
    s = stub("--msi-client-id", "")
    store = AzureStore(oauth_azurite)
    t0 = time.time()
    r = mount_fails(binary, mpoint, store, msi_env(s), tls)
    one_line_failure(r, "denied: it needs credentials")
    assert time.time() - t0 < 10
    assert s.requests() == []


def test_identity_none_ignores_entra_variables(binary, mpoint, oauth_azurite, stub, tls):
    s = stub("--secret", SECRET)
    store = AzureStore(oauth_azurite)
    r = mount_fails(binary, mpoint, store, sp_env(s), tls, ["azure_identity=none"])
    one_line_failure(r, "denied: it needs credentials")
    assert s.requests() == []


def test_service_principal(entra_mount, oauth_azurite, stub):
    s = stub("--secret", SECRET)
    store = AzureStore(oauth_azurite)
    m = entra_mount(store, sp_env(s))
    write_read(m, store, "sp")
    # Rename is Copy Blob, whose source in the same account the bearer
    # token authorizes too.
    os.rename(m.p("sp"), m.p("sp.moved"))
    assert store.get("sp.moved") == b"via sp"
    m.close()
    s.assert_clean()
    reqs = s.requests()
    assert reqs and all(r["kind"] == "entra" and r["https"] and "issued" in r for r in reqs)
    assert all(r["form"]["client_secret"] == SECRET for r in reqs)
    assert "Azure credentials from service principal" in m.read_log()


def test_workload_identity_rereads_token_file(entra_mount, oauth_azurite, stub, tmp_path):
    token_file = tmp_path / "azure-identity-token"
    first, second = "eyJ.first." + uuid.uuid4().hex, "eyJ.second." + uuid.uuid4().hex
    write_token_file(token_file, first)
    s = stub("--token-file", str(token_file), "--lifetime", "3")
    store = AzureStore(oauth_azurite)
    m = entra_mount(store, wi_env(s, token_file), opts=["list_ttl=0"])
    write_read(m, store, "wi1")
    n = s.issued()
    write_token_file(token_file, second)
    rotated = time.time()
    # Keep the mount busy until two refreshes happened after the rotation.
    s.wait_issued(n + 2, poke=lambda: os.listdir(m.path))
    write_read(m, store, "wi2")
    m.close()
    s.assert_clean()
    reqs = s.requests()
    assert not [r for r in reqs if r.get("refused")], reqs
    for r in reqs:
        assert r["form"]["client_assertion"] == r["assertion_file"]
        assert r["form"]["client_id"] == CLIENT_ID
    seen = [r["form"]["client_assertion"] for r in reqs]
    assert seen[0] == first and seen[-1] == second, seen
    assert all(a == second for r, a in zip(reqs, seen) if r["start"] > rotated + 0.1)
    assert REFUSED not in m.read_log()


def test_refresh_during_long_read(entra_mount, oauth_azurite, stub):
    """A file read slowly over ~10 s, a block at a time, with tokens living
    4 s: every GET goes out with an unexpired token (azurite would refuse
    any other), refreshed ahead of expiry, never through a refusal."""
    s = stub("--secret", SECRET, "--lifetime", "4")
    store = AzureStore(oauth_azurite)
    body = os.urandom(16 << 20)
    store.put("big", body)
    m = entra_mount(store, sp_env(s),
                    opts=["readahead_max=0", "cache_size=4M", "block_size=1M", "stat_ttl=0"])
    start = s.issued()
    h = hashlib.sha256()
    with open(m.p("big"), "rb") as f:
        while True:
            chunk = f.read(1 << 20)
            if not chunk:
                break
            h.update(chunk)
            time.sleep(0.6)
    assert h.digest() == hashlib.sha256(body).digest()
    log = m.read_log()
    m.close()
    assert s.issued() - start >= 3, s.issued()
    assert REFUSED not in log
    s.assert_clean()


def test_one_refresh_at_a_time(entra_mount, oauth_azurite, stub):
    """Eight threads read and write for ~9 s while tokens (3 s) are renewed
    slowly (the stub takes 0.5 s to answer): token requests never overlap,
    no operation fails, and there is about one token per refresh period."""
    s = stub("--secret", SECRET, "--lifetime", "3", "--delay", "0.5")
    store = AzureStore(oauth_azurite)
    for i in range(8):
        store.put(f"f{i}", b"x" * 4096 * (i + 1))
    m = entra_mount(store, sp_env(s), opts=["stat_ttl=0", "list_ttl=0"])
    errors = []
    stop = time.time() + 9

    def worker(i):
        try:
            n = 0
            while time.time() < stop:
                with open(m.p(f"f{i}"), "rb") as f:
                    assert f.read() == b"x" * 4096 * (i + 1)
                with open(m.p(f"w{i}-{n % 3}"), "wb") as f:
                    f.write(b"y" * 1000)
                n += 1
        except Exception as e:  # noqa: BLE001 - reported below
            errors.append(repr(e))

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    log = m.read_log()
    m.close()
    assert not errors, errors
    reqs = sorted(s.requests(), key=lambda r: r["start"])
    for a, b in zip(reqs, reqs[1:]):
        assert b["start"] >= a["end"] - 0.01, (a, b)
    # A refresh every ~1.5 s over ~9 s, and the first: not one per request.
    assert 4 <= len(reqs) <= 10, len(reqs)
    assert REFUSED not in log
    s.assert_clean()


def test_refused_token_replaced_once(entra_mount, oauth_azurite, stub):
    """Token 2 comes back already expired for azurite (as a revoked one
    would): the request it was sent with is refused, and sent once more with
    token 3, so nothing fails. This also shows azurite does check expiry."""
    s = stub("--secret", SECRET, "--lifetime", "4", "--stale", "2")
    store = AzureStore(oauth_azurite)
    m = entra_mount(store, sp_env(s), opts=["stat_ttl=0", "list_ttl=0"])
    end = time.time() + 30
    n = 0
    while s.issued() < 3 or n < 10:
        assert time.time() < end
        with open(m.p(f"r{n % 4}"), "wb") as f:
            f.write(b"z" * 100)
        assert store.get(f"r{n % 4}") == b"z" * 100
        n += 1
        time.sleep(0.3)
    log = m.read_log()
    m.close()
    assert REFUSED in log, log


def test_refresh_failure_keeps_current_token(entra_mount, oauth_azurite, stub):
    """The token endpoint fails the first refresh (503): the current token
    is used on while it lasts, and the next try, a second later, succeeds."""
    s = stub("--secret", SECRET, "--lifetime", "6", "--fail-from", "2", "--fail-count", "1")
    store = AzureStore(oauth_azurite)
    m = entra_mount(store, sp_env(s), opts=["stat_ttl=0", "list_ttl=0", "retries=0"])
    end = time.time() + 30
    while s.issued() < 3:
        assert time.time() < end
        os.listdir(m.path)
        time.sleep(0.2)
    log = m.read_log()
    m.close()
    assert "cannot refresh the Entra ID token" in log, log
    assert "HTTP 503 temporarily_unavailable" in log
    assert REFUSED not in log


def test_token_refused_at_mount_fails_in_one_line(binary, mpoint, oauth_azurite, stub, tls):
    """Tokens the service will not take (both already expired for azurite):
    after the one retry with a new token, the mount fails naming the source."""
    s = stub("--secret", SECRET, "--stale", "1", "--stale", "2")
    store = AzureStore(oauth_azurite)
    r = mount_fails(binary, mpoint, store, sp_env(s), tls)
    one_line_failure(r, f"access to container '{store.name}' at {oauth_azurite.endpoint} denied: "
                        f"the Entra ID token by service principal (client id {CLIENT_ID}, "
                        f"tenant {TENANT}) was refused (AuthenticationFailed")
    assert s.issued() == 2


def test_bad_secret_fails_in_one_line(binary, mpoint, oauth_azurite, stub, tls):
    s = stub("--secret", SECRET)
    store = AzureStore(oauth_azurite)
    wrong = "bfs~Wrong.Secret_" + uuid.uuid4().hex
    r = mount_fails(binary, mpoint, store, sp_env(s, secret=wrong), tls)
    line = one_line_failure(
        r, f"cannot get a Microsoft Entra ID token by service principal (client id {CLIENT_ID}, "
           f"tenant {TENANT}): {s.authority}{TENANT}/oauth2/v2.0/token answered HTTP 401 "
           f"invalid_client: AADSTS7000215: Invalid client secret provided.")
    assert wrong not in r.stderr and SECRET not in r.stderr
    assert "Trace ID" not in line
    s.assert_clean()
    assert [q["refused"] for q in s.requests()] == ["secret"]


def test_bad_assertion_fails_in_one_line(binary, mpoint, oauth_azurite, stub, tls, tmp_path):
    ours, theirs = tmp_path / "ours", tmp_path / "theirs"
    write_token_file(ours, "eyJ.ours." + uuid.uuid4().hex)
    write_token_file(theirs, "eyJ.theirs." + uuid.uuid4().hex)
    s = stub("--token-file", str(theirs))
    store = AzureStore(oauth_azurite)
    r = mount_fails(binary, mpoint, store, wi_env(s, ours), tls)
    one_line_failure(r, "by workload identity (client id "
                        f"{CLIENT_ID}, tenant {TENANT}): {s.authority}{TENANT}/oauth2/v2.0/token "
                        "answered HTTP 401 invalid_client: AADSTS700213")
    assert ours.read_text().strip() not in r.stderr


def test_missing_token_file_fails_in_one_line(binary, mpoint, oauth_azurite, stub, tls, tmp_path):
    s = stub()
    store = AzureStore(oauth_azurite)
    r = mount_fails(binary, mpoint, store, wi_env(s, tmp_path / "nope"), tls)
    one_line_failure(r, f"AZURE_FEDERATED_TOKEN_FILE {tmp_path / 'nope'} does not exist")
    assert s.requests() == []


def test_half_configured_fails_in_one_line(binary, mpoint, oauth_azurite, tls):
    store = AzureStore(oauth_azurite)
    r = mount_fails(binary, mpoint, store,
                    azure_env(AZURE_CLIENT_ID=CLIENT_ID, AZURE_CLIENT_SECRET=SECRET), tls)
    one_line_failure(r, "AZURE_CLIENT_SECRET is set but AZURE_TENANT_ID is not")


def test_plain_http_authority_refused(binary, mpoint, oauth_azurite, stub, tls):
    s = stub("--secret", SECRET)
    store = AzureStore(oauth_azurite)
    env = sp_env(s)
    env["AZURE_AUTHORITY_HOST"] = f"http://127.0.0.1:{s.https_port}/"
    r = mount_fails(binary, mpoint, store, env, tls)
    one_line_failure(r, "AZURE_AUTHORITY_HOST must be an https:// URL")
    assert s.requests() == []


def test_no_secret_in_debug_log(entra_mount, oauth_azurite, stub, tmp_path):
    """At log_level=debug, through refreshes, refusals and both Entra
    sources, the log holds no secret, assertion or token."""
    token_file = tmp_path / "token"
    assertion = "eyJ.assertion." + uuid.uuid4().hex
    write_token_file(token_file, assertion)
    store = AzureStore(oauth_azurite)
    logs, tokens = [], []
    sp = stub("--secret", SECRET, "--lifetime", "3", "--stale", "2")
    wi = stub("--token-file", str(token_file), "--lifetime", "3")
    for s, env in ((sp, sp_env(sp)), (wi, wi_env(wi, token_file))):
        m = entra_mount(store, env, opts=["stat_ttl=0", "list_ttl=0"], log_level="debug")
        write_read(m, store, "dbg")
        s.wait_issued(3, poke=lambda: os.listdir(m.path))
        write_read(m, store, "dbg2")
        logs.append(m.read_log())
        m.close()
        tokens += s.tokens()
    log = "\n".join(logs)
    assert "Entra ID token 3 by" in log  # debug logging was on
    assert SECRET not in log
    assert assertion not in log
    assert "Bearer" not in log
    for t in tokens:
        assert t.split(".")[1] not in log  # the claims: unique to each token
