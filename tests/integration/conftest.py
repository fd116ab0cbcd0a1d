"""Fixtures for integration tests: a real s3rver behind the SigV4-checking
proxy, real FUSE mounts of the bucketfs binary under test, and a boto3
client as the independent view of the bucket."""
import base64
import fcntl
import json
import os
import shutil
import socket
import subprocess
import tempfile
import threading
import time
import urllib.request
import uuid

import boto3
import botocore.config
import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
PROXY = os.path.join(ROOT, "tests", "tools", "sigv4_proxy.py")
FAULT_PROXY = os.path.join(ROOT, "tests", "tools", "fault_proxy.py")
AZBLOB = os.path.join(ROOT, "tests", "tools", "azblob.js")
NPM_DIR = os.environ.get("BUCKETFS_NPM_DIR", "/opt/bucketfs-test/npm")
# azurite's documented development account.
AZ_ACCOUNT = "devstoreaccount1"
AZ_KEY = ("Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/"
          "K1SZFPTOtr/KBHBeksoGMGw==")
# What bucketfs signs with. The proxy verifies it, then swaps in s3rver's only
# key id (s3rver does not check V4 signatures), so the secret is distinctive
# enough to grep logs for.
KEY, SECRET = "AKIDBUCKETFSTEST1", "bfs/Secret+Value=9xYzQ7"
S3RVER_KEY = "S3RVER"


def pytest_addoption(parser):
    parser.addoption("--bucketfs", default=os.path.join(ROOT, "build", "bucketfs"),
                     help="the bucketfs binary under test")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(port, proc, what, timeout=30):
    end = time.time() + timeout
    while time.time() < end:
        if proc.poll() is not None:
            raise RuntimeError(f"{what} exited with {proc.returncode}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"{what} did not start listening on {port}")


class S3Server:
    """s3rver on loopback, and the signature-checking proxy in front of it."""

    def __init__(self, workdir):
        self.dir = os.path.join(workdir, "s3rver")
        os.makedirs(self.dir)
        self.port = free_port()
        exe = os.environ.get("S3RVER", "/opt/bucketfs-test/npm/node_modules/.bin/s3rver")
        self.log = open(os.path.join(workdir, "s3rver.log"), "w")
        # s3rver makes continuation tokens with DES, which OpenSSL 3 keeps in
        # its legacy provider: without it every truncated listing is a 500.
        env = dict(os.environ, NODE_OPTIONS="--openssl-legacy-provider")
        self.argv = [exe, "-d", self.dir, "-a", "127.0.0.1", "-p", str(self.port), "--silent"]
        self.proc = subprocess.Popen(self.argv, stdout=self.log, stderr=subprocess.STDOUT,
                                     env=env)
        wait_port(self.port, self.proc, "s3rver")
        self.env = env
        self.stats_file = os.path.join(workdir, "proxy-stats.json")
        self.faults_file = os.path.join(workdir, "proxy-faults.json")
        # Temporary credentials the AWS stand-ins hand out (aws_stub.py).
        self.keys_file = os.path.join(workdir, "proxy-keys.jsonl")
        self.headers_file = os.path.join(workdir, "proxy-headers.jsonl")
        self.proxy_log = open(os.path.join(workdir, "proxy.log"), "w")
        self.proxy = None
        self.start_proxy()

    def start_proxy(self, port=0):
        self.proxy = subprocess.Popen(
            ["/usr/bin/python3", PROXY, "--listen", f"127.0.0.1:{port}",
             "--upstream", f"127.0.0.1:{self.port}", "--upstream-key", S3RVER_KEY,
             "--allow-anonymous", "--stats", self.stats_file, "--faults", self.faults_file,
             "--keys-file", self.keys_file, "--record-headers", self.headers_file],
            stdout=subprocess.PIPE, stderr=self.proxy_log, text=True,
            env=dict(os.environ, SIGV4_PROXY_KEYS=f"{KEY}:{SECRET}"))
        line = self.proxy.stdout.readline().split()
        if len(line) != 2 or line[0] != "ready":
            raise RuntimeError("sigv4 proxy did not start")
        self.proxy_port = int(line[1])
        self.endpoint = f"http://127.0.0.1:{self.proxy_port}"

    def kill_s3rver(self):
        """The server goes away at once, as a crash would take it."""
        self.proc.kill()
        self.proc.wait()

    def start_s3rver(self):
        """s3rver again, on its port, with the data it kept on disk."""
        self.proc = subprocess.Popen(self.argv, stdout=self.log, stderr=subprocess.STDOUT,
                                     env=self.env)
        wait_port(self.port, self.proc, "s3rver")

    def stop_proxy(self):
        self.proxy.terminate()
        self.proxy.wait()

    def stats(self):
        try:
            with open(self.stats_file) as f:
                return json.load(f)
        except FileNotFoundError:
            return {"verified": 0, "rejected": {}, "requests": {}}

    def inject(self, *rules):
        """Make the proxy answer matching requests with errors (see
        sigv4_proxy.py --faults)."""
        tmp = self.faults_file + ".new"
        with open(self.faults_file + ".lock", "a") as lk:  # see take_fault
            fcntl.flock(lk, fcntl.LOCK_EX)
            with open(tmp, "w") as f:
                json.dump(list(rules), f)
            os.replace(tmp, self.faults_file)

    def pending_faults(self):
        try:
            with open(self.faults_file) as f:
                return sum(r.get("count", 0) for r in json.load(f))
        except FileNotFoundError:
            return 0

    def requests(self, kind):
        """How many verified requests of a kind ("PUT part", ...) so far."""
        return self.stats().get("requests", {}).get(kind, 0)

    def close(self):
        self.stop_proxy()
        self.proc.terminate()
        self.proc.wait()


class AzuriteServer:
    """azurite (Microsoft's Blob emulator) on loopback, and a long-lived
    client of Microsoft's SDK (tests/tools/azblob.js serve) as the
    independent view of its containers."""

    def __init__(self, workdir):
        self.dir = os.path.join(workdir, "azurite")
        os.makedirs(self.dir)
        self.port = free_port()
        exe = os.path.join(NPM_DIR, "node_modules", ".bin", "azurite-blob")
        self.log = open(os.path.join(workdir, "azurite.log"), "w")
        # The SDK speaks a newer API version than azurite knows; bucketfs's
        # own version is checked strictly by azure_store_check (meson test
        # --suite azure).
        self.proc = subprocess.Popen(
            [exe, "--blobHost", "127.0.0.1", "--blobPort", str(self.port), "--location",
             self.dir, "--silent", "--disableTelemetry", "--skipApiVersionCheck"],
            stdout=self.log, stderr=subprocess.STDOUT)
        wait_port(self.port, self.proc, "azurite")
        self.endpoint = f"http://127.0.0.1:{self.port}/{AZ_ACCOUNT}"
        env = dict(os.environ, NODE_PATH=os.path.join(NPM_DIR, "node_modules"),
                   AZURE_STORAGE_CONNECTION_STRING=(
                       f"DefaultEndpointsProtocol=http;AccountName={AZ_ACCOUNT};"
                       f"AccountKey={AZ_KEY};BlobEndpoint={self.endpoint};"))
        self.client = subprocess.Popen(["node", AZBLOB, "serve"], stdin=subprocess.PIPE,
                                       stdout=subprocess.PIPE, text=True, env=env)
        self.lock = threading.Lock()

    def call(self, **req):
        with self.lock:
            self.client.stdin.write(json.dumps(req) + "\n")
            self.client.stdin.flush()
            answer = json.loads(self.client.stdout.readline())
        if not answer["ok"]:
            raise RuntimeError(f"azblob {req['op']}: {answer['status']} {answer['error']}")
        return answer

    def close(self):
        self.client.stdin.close()
        self.client.wait()
        self.proc.terminate()
        self.proc.wait()


class S3Store:
    """A fresh bucket, seen through boto3."""
    backend = "s3"

    def __init__(self, server, s3, name=None):
        self.server, self.s3 = server, s3
        self.name = name or "t-" + uuid.uuid4().hex[:12]
        if not name:
            s3.create_bucket(Bucket=self.name)

    @classmethod
    def existing(cls, server, name):
        """A bucket made elsewhere (tests that take `bucket`), to mount."""
        return cls(server, None, name)

    def put(self, key, body, metadata=None):
        self.s3.put_object(Bucket=self.name, Key=key, Body=body, Metadata=metadata or {})

    def get(self, key):
        return get_object(self.s3, self.name, key)

    def head(self, key):
        h = self.s3.head_object(Bucket=self.name, Key=key)
        return {"size": h["ContentLength"], "metadata": h["Metadata"],
                "mtime": h["LastModified"].timestamp()}

    def keys(self, prefix=""):
        return keys(self.s3, self.name, prefix)

    def delete(self, key):
        self.s3.delete_object(Bucket=self.name, Key=key)

    @staticmethod
    def dir_key(path):
        """The object mkdir makes for directory PATH."""
        return path + "/"

    def mount_args(self):
        return (f"s3://{self.name}", [f"endpoint={self.server.endpoint}"],
                {"AWS_ACCESS_KEY_ID": KEY, "AWS_SECRET_ACCESS_KEY": SECRET})


class AzureStore:
    """A fresh container, seen through Microsoft's SDK."""
    backend = "azure"

    def __init__(self, azurite):
        self.az = azurite
        self.name = "t-" + uuid.uuid4().hex[:12]
        self.az.call(op="create", container=self.name)

    def put(self, key, body, metadata=None):
        self.az.call(op="put", container=self.name, key=key,
                     body=base64.b64encode(body).decode(), metadata=metadata or {})

    def get(self, key):
        return base64.b64decode(self.az.call(op="get", container=self.name, key=key)["body"])

    def head(self, key):
        return self.az.call(op="head", container=self.name, key=key)

    def keys(self, prefix=""):
        return sorted(self.az.call(op="list", container=self.name, prefix=prefix)["keys"])

    def delete(self, key):
        self.az.call(op="delete", container=self.name, key=key)

    @staticmethod
    def dir_key(path):
        """The object mkdir makes for directory PATH: blobfuse's kind, a
        blob named like it with metadata hdi_isfolder=true."""
        return path

    def mount_args(self):
        return (f"az://{self.name}", [f"endpoint={self.az.endpoint}"],
                {"AZURE_STORAGE_ACCOUNT": AZ_ACCOUNT, "AZURE_STORAGE_KEY": AZ_KEY})


class FaultProxy:
    """tests/tools/fault_proxy.py in front of a store's endpoint (the SigV4
    proxy's for S3, azurite's for Azure), and the store seen through it:
    mount_args point bucketfs at the fault proxy, everything else is the
    store's own (its independent client bypasses the faults)."""

    def __init__(self, store, log_path):
        self.store = store
        self.upstream = (store.server.proxy_port if store.backend == "s3" else store.az.port)
        self.log = open(log_path, "a")
        self.port = 0
        self.proc = None
        self.start()

    def __getattr__(self, name):
        return getattr(self.store, name)

    def start(self):
        """Start listening, on the port it had before if it had one."""
        self.proc = subprocess.Popen(
            ["/usr/bin/python3", FAULT_PROXY, "--listen", f"127.0.0.1:{self.port}",
             "--upstream", f"127.0.0.1:{self.upstream}"],
            stdout=subprocess.PIPE, stderr=self.log, text=True)
        line = self.proc.stdout.readline().split()
        if len(line) != 2 or line[0] != "ready":
            raise RuntimeError("fault proxy did not start")
        self.port = int(line[1])

    def stop(self):
        """Go away entirely: connections are refused until start()."""
        self.proc.terminate()
        self.proc.wait()

    def control(self, method, rules=None):
        body = json.dumps(rules).encode() if rules is not None else None
        req = urllib.request.Request(f"http://127.0.0.1:{self.port}/__faults__", data=body,
                                     method=method)
        with urllib.request.urlopen(req, timeout=30) as r:
            return json.load(r)

    def inject(self, *rules):
        """Replace the rules (see fault_proxy.py); no rules: no faults."""
        self.control("PUT", list(rules))

    def clear(self):
        """No rules, and an empty request log."""
        self.control("DELETE")

    def pending(self):
        return sum(r.get("count", 1) for r in self.control("GET")["rules"])

    def seen(self, kind, path=""):
        """How many requests of a kind, with path in their URL, came since
        the last clear(); faulted or not."""
        return sum(1 for e in self.control("GET")["log"]
                   if e["kind"] == kind and path in e["path"])

    def mount_args(self):
        source, opts, env = self.store.mount_args()
        here = f"127.0.0.1:{self.port}"
        return source, [o.replace(f"127.0.0.1:{self.upstream}", here) for o in opts], env

    def close(self):
        if self.proc.poll() is None:
            self.stop()
        self.log.close()


@pytest.fixture
def faulty(store, tmp_path):
    """The store behind a fault proxy: mount it to have faults injected."""
    f = FaultProxy(store, str(tmp_path / "fault-proxy.log"))
    yield f
    f.close()


@pytest.fixture(scope="session")
def workdir():
    d = tempfile.mkdtemp(prefix="bucketfs-it-")
    yield d
    shutil.rmtree(d, ignore_errors=True)


@pytest.fixture(scope="session")
def server(workdir):
    s = S3Server(workdir)
    yield s
    s.close()


@pytest.fixture(scope="session")
def azurite(workdir):
    a = AzuriteServer(workdir)
    yield a
    a.close()


@pytest.fixture(params=["s3", "azure"])
def store(request):
    """A fresh bucket or container: tests that take it run on both stores."""
    if request.param == "azure":
        return AzureStore(request.getfixturevalue("azurite"))
    return S3Store(request.getfixturevalue("server"), request.getfixturevalue("s3"))


@pytest.fixture(scope="session")
def binary(request):
    path = os.path.abspath(request.config.getoption("--bucketfs"))
    assert os.access(path, os.X_OK), f"no bucketfs binary at {path}"
    return path


@pytest.fixture
def s3(server):
    """boto3 straight to s3rver: the independent view of the bucket."""
    return boto3.client(
        "s3", endpoint_url=f"http://127.0.0.1:{server.port}", region_name="us-east-1",
        aws_access_key_id=S3RVER_KEY, aws_secret_access_key=S3RVER_KEY,
        config=botocore.config.Config(s3={"addressing_style": "path"},
                                      retries={"max_attempts": 1}))


@pytest.fixture
def bucket(s3):
    name = "t-" + uuid.uuid4().hex[:12]
    s3.create_bucket(Bucket=name)
    return name


def clean_env(home):
    """An environment with no AWS settings from the machine running the tests,
    and no instance role either, should that machine have one."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env["HOME"] = home
    env["AWS_EC2_METADATA_DISABLED"] = "true"
    return env


def is_mounted(path):
    path = os.path.realpath(path)
    with open("/proc/self/mountinfo") as f:
        return any(line.split()[4] == path for line in f)


def unmount(path):
    if is_mounted(path):
        subprocess.run(["fusermount3", "-u", path], check=False)
    end = time.time() + 30
    while is_mounted(path) and time.time() < end:
        time.sleep(0.1)
    if is_mounted(path):
        subprocess.run(["umount", "-l", path], check=False)


SANITIZER_MARKS = ("ERROR: AddressSanitizer", "ERROR: LeakSanitizer", "runtime error:")


class Mount:
    """A bucketfs daemon in the foreground (-f), so that its log and exit
    status are ours to check."""

    def __init__(self, binary, server, bucket, tmp, opts=(), env=None, prefix="",
                 creds=True, log_level="info", mnt_dir=None):
        self.path = os.path.join(mnt_dir or tmp, "mnt-" + uuid.uuid4().hex[:6])
        os.makedirs(self.path)
        self.home = os.path.join(tmp, "home")
        os.makedirs(self.home, exist_ok=True)
        self.staging = os.path.join(tmp, "staging")
        self.log_path = os.path.join(tmp, f"bucketfs-{os.path.basename(self.path)}.log")
        e = clean_env(self.home)
        store = S3Store.existing(server, bucket) if isinstance(bucket, str) else bucket
        source, store_opts, store_env = store.mount_args()
        if creds:
            e.update(store_env)
        e.update(env or {})
        o = store_opts + [f"staging_dir={self.staging}", f"log_level={log_level}",
                          "retries=2"] + list(opts)
        source += f"/{prefix}" if prefix else ""
        self.log = open(self.log_path, "w")
        self.proc = subprocess.Popen([binary, source, self.path, "-f", "-o", ",".join(o)],
                                     env=e, stdout=self.log, stderr=subprocess.STDOUT)
        end = time.time() + 30
        while not is_mounted(self.path):
            if self.proc.poll() is not None:
                raise RuntimeError(f"bucketfs exited {self.proc.returncode}: {self.read_log()}")
            if time.time() > end:
                raise RuntimeError("bucketfs did not mount in 30 s")
            time.sleep(0.05)

    def p(self, *parts):
        return os.path.join(self.path, *parts)

    def read_log(self):
        with open(self.log_path, errors="replace") as f:
            return f.read()

    def close(self, expect_status=0):
        unmount(self.path)
        try:
            rc = self.proc.wait(timeout=120)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            rc = self.proc.wait()
        self.log.close()
        log = self.read_log()
        for mark in SANITIZER_MARKS:
            assert mark not in log, log
        if expect_status is not None:
            assert rc == expect_status, f"bucketfs exited {rc}:\n{log}"
        return rc


@pytest.fixture
def mount_factory(binary, server, tmp_path):
    mounts = []

    def make(bucket, **kw):
        m = Mount(binary, server, bucket, str(tmp_path), **kw)
        mounts.append(m)
        return m

    yield make
    server.inject()
    for m in mounts:
        if m.proc.returncode is None:
            m.close()


@pytest.fixture
def mpoint(tmp_path):
    """An empty mount point, unmounted after the test whatever happened."""
    p = tmp_path / "mp"
    p.mkdir()
    yield str(p)
    unmount(str(p))


@pytest.fixture
def mnt(mount_factory, store):
    """A read-write mount of a fresh bucket or container (tests that take
    it run on both stores)."""
    return mount_factory(store)


def run_bucketfs(binary, args, env=None, timeout=60):
    """Run bucketfs as a user would (it goes to the background on success)."""
    return subprocess.run([binary] + args, env=env, capture_output=True, text=True,
                          timeout=timeout)


def get_object(s3, bucket, key):
    return s3.get_object(Bucket=bucket, Key=key)["Body"].read()


def keys(s3, bucket, prefix=""):
    out = []
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        out += [o["Key"] for o in page.get("Contents", [])]
    return sorted(out)


def peak_rss_mib(pid):
    """The process's peak resident memory so far, in MiB."""
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    raise AssertionError("no VmHWM")
