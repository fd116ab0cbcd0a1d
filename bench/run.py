#!/usr/bin/python3
"""bucketfs beside s3fs and rclone mount, on the same s3rver, the same
workloads, one table. Not a test: it prints figures, it asserts nothing.

  bench/run.py [--bucketfs build/bucketfs] [--delay-ms 0] [--size-mib 1024]
               [--tools bucketfs,s3fs,rclone,bucketfs-az] [--quick]
               [--workloads read,warm,random,write,ls,cat,create,untar]
               [--bucketfs-opts OPT,...]

Tools: bucketfs, bucketfs-la (bucketfs -o list_attrs), bucketfs-ac (bucketfs
-o async_close: writes timed until stored, like rclone's), s3fs, rclone on
s3rver; bucketfs-az, bucketfs on azurite (the same data, its own limit).

--delay-ms puts a TCP delay line (bench/delayline.c, built on the fly) between the clients
and s3rver, adding that much each way, like a cloud round trip.
Ratios are peer time / bucketfs time: above 1, bucketfs is faster.
"""
import argparse
import base64
import json
import os
import random
import shutil
import socket
import subprocess
import sys
import tarfile
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor

import boto3
import botocore.config

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
S3RVER = os.environ.get("S3RVER", "/opt/bucketfs-test/npm/node_modules/.bin/s3rver")
NPM_DIR = os.environ.get("BUCKETFS_NPM_DIR", "/opt/bucketfs-test/npm")
AZBLOB = os.path.join(ROOT, "tests", "tools", "azblob.js")
# azurite's well-known development account (Microsoft's azurite docs).
AZ_ACCOUNT = "devstoreaccount1"
AZ_KEY = ("Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/"
          "KBHBeksoGMGw==")
KEY = "S3RVER"
BUCKETFS_S3 = ("bucketfs", "bucketfs-la", "bucketfs-ac")
MIB = 1 << 20


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(port):
    for _ in range(200):
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"nothing listens on {port}")


def is_mounted(path):
    with open("/proc/self/mountinfo") as f:
        return any(line.split()[4] == path for line in f)


def delay_line(args, port, procs, work):
    """The address clients use: the server's, or a delay line's before it."""
    if not args.delay_ms:
        return f"127.0.0.1:{port}"
    exe = os.path.join(work, "delayline")
    if not os.path.exists(exe):
        subprocess.run(["cc", "-O2", "-Wall", "-Wextra", "-Werror", "-o", exe,
                        os.path.join(HERE, "delayline.c")], check=True)
    p = subprocess.Popen([exe, "--listen", "127.0.0.1:0", "--upstream", f"127.0.0.1:{port}",
                          "--delay-ms", str(args.delay_ms)],
                         stdout=subprocess.PIPE, text=True)
    procs.append(p)
    return f"127.0.0.1:{p.stdout.readline().split()[1]}"


class Env:
    """s3rver, the delay line, boto3 straight to s3rver for the setup."""
    mount_env = {}

    def __init__(self, args, work):
        self.work = work
        self.procs = []
        port = self.port = free_port()
        self.procs.append(self.start_server())
        self.direct = f"http://127.0.0.1:{port}"
        self.endpoint = "http://" + delay_line(args, port, self.procs, work)
        self.s3 = boto3.client("s3", endpoint_url=self.direct, region_name="us-east-1",
                               aws_access_key_id=KEY, aws_secret_access_key=KEY,
                               config=botocore.config.Config(
                                   s3={"addressing_style": "path"},
                                   max_pool_connections=32))
        self.passwd = os.path.join(work, "passwd")
        with open(self.passwd, "w") as f:
            f.write(f"{KEY}:{KEY}\n")
        os.chmod(self.passwd, 0o600)

    def start_server(self):
        env = dict(os.environ, NODE_OPTIONS="--openssl-legacy-provider")
        p = subprocess.Popen(
            [S3RVER, "-d", os.path.join(self.work, "s3"), "-a", "127.0.0.1", "-p",
             str(self.port), "--silent"],
            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_port(self.port)
        return p

    def restart_server(self):
        """A fresh s3rver on the same data and port: its CPU per GiB
        written grows over a run (9.4 s, then 10.8, 13.8, 14.4 for four
        1 GiB writes in a row), which would charge later tools for
        earlier ones."""
        self.procs[0].terminate()
        self.procs[0].wait()
        self.procs[0] = self.start_server()

    def close(self):
        for p in self.procs:
            p.terminate()
            p.wait()


class AzureEnv(Env):
    """azurite, the delay line, Microsoft's SDK (tests/tools/azblob.js) for
    the setup and a read SAS for the curl limit."""

    def __init__(self, args, work):
        self.work = work
        self.procs = []
        port = free_port()
        self.procs.append(subprocess.Popen(
            [os.path.join(NPM_DIR, "node_modules", ".bin", "azurite-blob"), "--blobHost",
             "127.0.0.1", "--blobPort", str(port), "--location", os.path.join(work, "az"),
             "--silent", "--disableTelemetry", "--skipApiVersionCheck"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        wait_port(port)
        direct = f"http://127.0.0.1:{port}/{AZ_ACCOUNT}"
        self.endpoint = f"http://{delay_line(args, port, self.procs, work)}/{AZ_ACCOUNT}"
        self.mount_env = {"AZURE_STORAGE_ACCOUNT": AZ_ACCOUNT, "AZURE_STORAGE_KEY": AZ_KEY}
        self.sdk = subprocess.Popen(
            ["node", AZBLOB, "serve"], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
            env=dict(os.environ, NODE_PATH=os.path.join(NPM_DIR, "node_modules"),
                     AZURE_STORAGE_CONNECTION_STRING=(
                         f"DefaultEndpointsProtocol=http;AccountName={AZ_ACCOUNT};"
                         f"AccountKey={AZ_KEY};BlobEndpoint={direct};")))
        self.procs.append(self.sdk)

    def restart_server(self):
        pass  # only bucketfs runs on azurite

    def call(self, **req):
        self.sdk.stdin.write(json.dumps(req) + "\n")
        self.sdk.stdin.flush()
        answer = json.loads(self.sdk.stdout.readline())
        if not answer["ok"]:
            raise RuntimeError(f"azblob {req['op']}: {answer.get('error')}")
        return answer

    def prepare(self, args, container, big):
        self.call(op="create", container=container)
        self.call(op="putfile", container=container, key="big.bin", path=big)
        for i in range(args.list_n if "ls" in args.workloads else 0):
            self.call(op="put", container=container, key=f"many/o{i:05d}",
                      body=base64.b64encode(b"m").decode())
        for i in range(args.small_n if "cat" in args.workloads else 0):
            self.call(op="put", container=container, key=f"small/s{i:05d}",
                      body=base64.b64encode(os.urandom(4096)).decode())
        self.sas = self.call(op="sas", container=container, permissions="r",
                             seconds=86400)["sas"]


def mount_cmd(tool, args, env, bucket, mnt, cache):
    opts = f",{args.bucketfs_opts}" if args.bucketfs_opts else ""
    if tool == "bucketfs-az":
        return [args.bucketfs, f"az://{bucket}", mnt, "-o",
                f"endpoint={env.endpoint},staging_dir={cache}{opts}"]
    if tool in BUCKETFS_S3:
        # bucketfs-la: -o list_attrs, attributes from listings alone;
        # bucketfs-ac: -o async_close, uploads after close() returns.
        opts += {"bucketfs-la": ",list_attrs", "bucketfs-ac": ",async_close"}.get(tool, "")
        return [args.bucketfs, f"s3://{bucket}", mnt, "-o",
                f"endpoint={env.endpoint},passwd_file={env.passwd},staging_dir={cache}{opts}"]
    if tool == "s3fs":
        return ["s3fs", bucket, mnt, "-o",
                f"url={env.endpoint},use_path_request_style,passwd_file={env.passwd},"
                f"use_cache={cache}"]
    if tool == "rclone":
        # Settings through RCLONE_S3_* (see rclone_env): an endpoint's ':'
        # breaks rclone's inline ":s3,endpoint=...:" syntax.
        return ["rclone", "mount", f":s3:{bucket}", mnt, "--daemon", "--vfs-cache-mode",
                "writes", "--cache-dir", cache]
    raise ValueError(tool)


class Mount:
    def __init__(self, tool, args, env, bucket):
        self.env, self.bucket = env, bucket
        self.path = tempfile.mkdtemp(prefix=f"bench-{tool}-", dir=env.work)
        cache = tempfile.mkdtemp(prefix=f"cache-{tool}-", dir=env.work)
        # rclone fails to start on these machines with AWS_CA_BUNDLE set.
        e = {k: v for k, v in os.environ.items() if k != "AWS_CA_BUNDLE"}
        e.update(RCLONE_S3_PROVIDER="Other", RCLONE_S3_ENDPOINT=env.endpoint,
                 RCLONE_S3_ACCESS_KEY_ID=KEY, RCLONE_S3_SECRET_ACCESS_KEY=KEY,
                 RCLONE_S3_FORCE_PATH_STYLE="true")
        e.update(env.mount_env)
        subprocess.run(mount_cmd(tool, args, env, bucket, self.path, cache), check=True, env=e)
        for _ in range(200):
            if is_mounted(self.path):
                break
            time.sleep(0.05)
        else:
            raise RuntimeError(f"{tool} did not mount")

    def p(self, *a):
        return os.path.join(self.path, *a)

    def close(self):
        subprocess.run(["fusermount3", "-u", self.path])
        for _ in range(600):
            if not is_mounted(self.path):
                return
            time.sleep(0.1)


def timed(fn):
    """Seconds fn took, or until the time it returns (see stored)."""
    t = time.monotonic()
    end = fn()
    return (end if isinstance(end, float) else time.monotonic()) - t


def attempt(fn):
    """A workload's time, or None when the tool got it wrong (an error)."""
    try:
        return timed(fn)
    except (OSError, subprocess.CalledProcessError) as e:
        print(f"  failed: {e}", file=sys.stderr)
        return None


def read_all(path, bs=1 << 20):
    with open(path, "rb", buffering=0) as f:
        while f.read(bs):
            pass


def write_file(path, src):
    with open(src, "rb") as s, open(path, "wb") as d:
        shutil.copyfileobj(s, d, 1 << 20)
        d.flush()
        os.fsync(d.fileno())


def random_reads(path, size, n, seed=1):
    rnd = random.Random(seed)
    fd = os.open(path, os.O_RDONLY)
    try:
        for _ in range(n):
            os.pread(fd, 4096, rnd.randrange(0, size - 4096) & ~4095)
    finally:
        os.close(fd)


def create_small(dirpath, n):
    os.makedirs(dirpath, exist_ok=True)
    for i in range(n):
        fd = os.open(os.path.join(dirpath, f"f{i:05d}"), os.O_CREAT | os.O_WRONLY, 0o644)
        os.write(fd, b"x" * 1024)
        os.fsync(fd)
        os.close(fd)


def stored(m, prefix, n, size=None, timeout=3600):
    """Once the bucket holds n objects under prefix (each of size bytes, if
    given), the time the listing that saw them was asked for: a write counts
    when its data is in the bucket (rclone returns from close() before it
    uploads), and s3rver's own time to list is not the tool's."""
    if not hasattr(m.env, "s3"):
        return None  # azurite: only bucketfs runs there, stored at close()
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        asked = time.monotonic()
        objs = [o for page in m.env.s3.get_paginator("list_objects_v2").paginate(
                    Bucket=m.bucket, Prefix=prefix)
                for o in page.get("Contents", []) if not o["Key"].endswith("/")]
        if len(objs) >= n and all(size is None or o["Size"] == size for o in objs):
            return asked
        time.sleep(0.2)
    raise OSError(f"{n} objects under {prefix} not stored after {timeout} s")


def cat_small(dirpath, n):
    for i in range(n):
        with open(os.path.join(dirpath, f"s{i:05d}"), "rb") as f:
            f.read()


def pieces(size, n):
    """size bytes cut into n pieces, the last taking the rest: (offset,
    length) of each."""
    step = size // n
    return [(i * step, size - i * step if i == n - 1 else step) for i in range(n)]


def curl_limit(env, bucket, key, size, parallel=16):
    """The same object by `parallel` ranged GETs at once: what the network
    and server allow."""
    # s3rver serves anonymous requests, azurite a SAS: no signing per request.
    query = f"?{env.sas}" if isinstance(env, AzureEnv) else ""
    procs = [subprocess.Popen(
        ["curl", "-sf", "-o", "/dev/null", "-H", f"Range: bytes={off}-{off + n - 1}",
         f"{env.endpoint}/{bucket}/{key}{query}"]) for off, n in pieces(size, parallel)]
    for p in procs:
        if p.wait():
            raise RuntimeError("curl failed")


def split_parts(src, work, parallel=16):
    """src cut into `parallel` files, for curl_write_limit's parts."""
    parts = []
    with open(src, "rb") as f:
        for i, (_, n) in enumerate(pieces(os.path.getsize(src), parallel)):
            path = os.path.join(work, f"part{i}")
            with open(path, "wb") as p:
                p.write(f.read(n))
            parts.append(path)
    return parts


def curl_write_limit(env, bucket, key, parts):
    """A multipart upload of the same bytes, its parts PUT by parallel curls:
    what the network and server allow for a write, until the object is
    stored (bucketfs's writes are timed until stored too)."""
    up = env.s3.create_multipart_upload(Bucket=bucket, Key=key)["UploadId"]
    procs = [subprocess.Popen(
        ["curl", "-sf", "-o", "/dev/null", "-H", "Expect:", "-w", "%header{etag}", "-T", path,
         f"{env.endpoint}/{bucket}/{key}?partNumber={i + 1}&uploadId={up}"],
        stdout=subprocess.PIPE, text=True) for i, path in enumerate(parts)]
    etags = [p.communicate()[0] for p in procs]
    if any(p.returncode for p in procs) or not all(etags):
        raise RuntimeError("curl failed")
    env.s3.complete_multipart_upload(
        Bucket=bucket, Key=key, UploadId=up,
        MultipartUpload={"Parts": [{"PartNumber": i + 1, "ETag": e}
                                   for i, e in enumerate(etags)]})


def round_trip(env, bucket, n=50):
    """What one small request costs: the median of n sequential 1 KiB PUTs
    and of n GETs of them, by one curl on one kept-alive connection (the
    per-file targets are counted in these)."""
    body = os.path.join(env.work, "rt.bin")
    with open(body, "wb") as f:
        f.write(b"r" * 1024)
    query = f"?{env.sas}" if isinstance(env, AzureEnv) else ""
    urls = [f"{env.endpoint}/{bucket}/rt/{i}{query}" for i in range(n)]
    out = {}
    for kind, per_url in (("PUT", ["-T", body]), ("GET", [])):
        cmd = ["curl", "-sf", "-H", "Expect:", "-w", "%{time_total}\\n"]
        if kind == "PUT" and isinstance(env, AzureEnv):
            cmd += ["-H", "x-ms-blob-type: BlockBlob"]
        for u in urls:
            cmd += per_url + ["-o", "/dev/null", u]
        times = sorted(float(t) for t in subprocess.run(
            cmd, check=True, capture_output=True, text=True).stdout.split())
        out[kind] = times[len(times) // 2]
    return out


def prepare(env, args, bucket):
    s3 = env.s3
    s3.create_bucket(Bucket=bucket)
    big = os.path.join(env.work, "big.bin")
    with open(big, "wb") as f:
        block = os.urandom(MIB)
        for i in range(args.size_mib):
            f.write(block[i % 4096:] + block[:i % 4096])
    s3.upload_file(big, bucket, "big.bin",
                   Config=boto3.s3.transfer.TransferConfig(multipart_threshold=1 << 40))
    # Only what the chosen workloads read (the rest takes minutes to make).
    n_many = args.list_n if "ls" in args.workloads else 0
    n_small = args.small_n if "cat" in args.workloads else 0
    with ThreadPoolExecutor(32) as ex:
        list(ex.map(lambda i: s3.put_object(Bucket=bucket, Key=f"many/o{i:05d}", Body=b"m"),
                    range(n_many)))
        list(ex.map(lambda i: s3.put_object(Bucket=bucket, Key=f"small/s{i:05d}",
                                            Body=os.urandom(4096)), range(n_small)))
    tree = os.path.join(env.work, "tree.tar")
    # A source tree: /usr/include (about 8,000 files), or its linux/ part
    # (about 800) for --quick.
    src = "/usr/include/linux" if args.quick else "/usr/include"
    with tarfile.open(tree, "w") as t:
        t.add(src, arcname="include",
              filter=lambda ti: ti if ti.isdir() or ti.isreg() else None)
    with tarfile.open(tree) as t:
        n_tree = sum(1 for m in t.getmembers() if m.isreg())
    return big, tree, n_tree


# (name, short name for --workloads, what it does given a mount and a tool)
WORKLOADS = [
    ("cold sequential read", "read", lambda a, m, t: read_all(m.p("big.bin"))),
    ("warm re-read", "warm", lambda a, m, t: read_all(m.p("big.bin"))),
    ("1000 random 4 KiB reads", "random",
     lambda a, m, t: random_reads(m.p("big.bin"), a.size_mib * MIB, a.random_n)),
    ("durable sequential write", "write",
     lambda a, m, t: (write_file(m.p(f"w-{t}.bin"), a.big),
                      stored(m, f"w-{t}.bin", 1, a.size_mib * MIB))[1]),
    ("ls -l of the big directory", "ls", lambda a, m, t: subprocess.run(
        ["ls", "-l", m.p("many")], stdout=subprocess.DEVNULL, check=True)),
    ("cat of small files", "cat", lambda a, m, t: cat_small(m.p("small"), a.small_n)),
    ("durable create of small files", "create",
     lambda a, m, t: (create_small(m.p(f"created-{t}"), a.small_n),
                      stored(m, f"created-{t}/", a.small_n, 1024))[1]),
    ("untar of a source tree", "untar", lambda a, m, t: (subprocess.run(
        ["tar", "-xf", a.tree, "-C", m.p(), "--transform", f"s,^include,tree-{t},"],
        check=True, stderr=subprocess.DEVNULL), stored(m, f"tree-{t}/", a.n_tree))[1]),
]


def quiet_restart(env):
    """A quiet disk (see run_tool) and a fresh server, before a timed run."""
    subprocess.run(["sync"], check=True)
    env.restart_server()


def run_tool(tool, args, env, bucket):
    r = {}
    # Each tool starts on a quiet disk: the writeback of what the setup or
    # the last tool wrote would otherwise land on the next one. No
    # drop_caches: a fresh mount starts with a cold page cache anyway, and
    # dropping the machine's would also evict the server's copy of the
    # objects (which the limit reads warm), so that whichever tool ran next
    # made s3rver read from disk: 1.5x its CPU per GiB read.
    quiet_restart(env)
    m = Mount(tool, args, env, bucket)
    try:
        for name, short, fn in WORKLOADS:
            if short in args.workloads:  # warm follows a cold read in the same mount
                r[name] = attempt(lambda: fn(args, m, tool))
    finally:
        m.close()
    return r


def per_file(r, workload, n, one):
    if workload not in r:
        return "  -  "  # not run
    return "error" if r[workload] is None else f"{r[workload] / n / one:5.2f}"


def fmt(v, width):
    return f"{'error':>{width}}" if v is None else f"{v:{width}.2f}"


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--bucketfs", default=os.path.join(ROOT, "build", "bucketfs"))
    ap.add_argument("--bucketfs-opts", default="", help="more -o options for bucketfs")
    ap.add_argument("--delay-ms", type=float, default=0)
    ap.add_argument("--size-mib", type=int, default=1024)
    ap.add_argument("--tools", default="bucketfs,s3fs,rclone")
    ap.add_argument("--quick", action="store_true", help="256 MiB and fewer files")
    ap.add_argument("--workloads", default=",".join(w[1] for w in WORKLOADS),
                    help="a subset, by short name: " + ",".join(w[1] for w in WORKLOADS))
    args = ap.parse_args()
    args.workloads = args.workloads.split(",")
    unknown = set(args.workloads) - {w[1] for w in WORKLOADS}
    if unknown:
        sys.exit(f"bench: no workload {', '.join(sorted(unknown))}")
    args.list_n, args.small_n, args.random_n = 10000, 1000, 1000
    if args.quick:
        args.size_mib, args.list_n, args.small_n, args.random_n = 256, 2000, 200, 300
    tools = args.tools.split(",")
    missing = [t for t in tools if t in ("s3fs", "rclone") and not shutil.which(t)]
    if missing:
        sys.exit(f"bench: {', '.join(missing)} not installed (apt-get install s3fs rclone)")
    work = tempfile.mkdtemp(prefix="bucketfs-bench-", dir="/var/tmp")
    env = Env(args, work)
    try:
        bucket = "bench"
        print(f"preparing: {args.size_mib} MiB object, {args.list_n} objects to list, "
              f"{args.small_n} small files, delay {args.delay_ms} ms each way", flush=True)
        args.big, args.tree, n_tree = prepare(env, args, bucket)
        args.n_tree = n_tree
        quiet_restart(env)  # the limits, too
        limit = timed(lambda: curl_limit(env, bucket, "big.bin", args.size_mib * MIB))
        write_limit = None
        if "write" in args.workloads:
            parts = split_parts(args.big, work)
            quiet_restart(env)
            write_limit = timed(lambda: curl_write_limit(env, bucket, "limit.bin", parts))
            for p in parts:
                os.unlink(p)
        rt = round_trip(env, bucket)
        if "bucketfs-az" in tools:
            print("preparing azurite", flush=True)
            az_env = AzureEnv(args, work)
            env.procs += az_env.procs
            az_env.prepare(args, bucket, args.big)
            az_limit = timed(lambda: curl_limit(az_env, bucket, "big.bin",
                                                args.size_mib * MIB))
        results = {}
        for tool in tools:
            print(f"running {tool}", flush=True)
            results[tool] = run_tool(tool, args, az_env if tool == "bucketfs-az" else env,
                                     bucket)
            for w, v in results[tool].items():  # as it comes: a later tool may fail
                print(f"  {w:32}{fmt(v, 10)}", flush=True)
        print()
        print(f"seconds; ratio = peer time / bucketfs time (above 1: bucketfs faster); "
              f"{args.size_mib} MiB object, untar of {n_tree} files")
        head = f"{'workload':32}" + "".join(f"{t:>12}" for t in tools)
        peers = [t for t in tools if t not in BUCKETFS_S3 + ("bucketfs-az",)]
        if "bucketfs" in tools:
            head += "".join(f"{'vs ' + p:>12}" for p in peers)
        print(head)
        for w in results[tools[0]]:
            line = f"{w:32}" + "".join(fmt(results[t][w], 12) for t in tools)
            if "bucketfs" in tools:
                b = results["bucketfs"][w]
                line += "".join(fmt(results[p][w] / b if b and results[p][w] else None, 12)
                                for p in peers)
            print(line)
        if "rclone" in tools:
            print("rclone mount (--vfs-cache-mode writes) returns from close() before it "
                  "uploads: its writes are timed until the bucket has them.")
        mb = args.size_mib / limit
        print(f"{'limit: 16 parallel curl GETs':32}{limit:10.2f}  ({mb:.0f} MiB/s)")
        if write_limit:
            print(f"{'write limit: 16 curl part PUTs':32}{write_limit:10.2f}  "
                  f"({args.size_mib / write_limit:.0f} MiB/s, until stored)")
        print(f"one request (median of 50 sequential): PUT {rt['PUT'] * 1000:.1f} ms, "
              f"GET {rt['GET'] * 1000:.1f} ms; per file, in those:")
        for t in tools:
            if t != "bucketfs-az":
                create = per_file(results[t], "durable create of small files", args.small_n,
                                  rt["PUT"])
                cat = per_file(results[t], "cat of small files", args.small_n, rt["GET"])
                print(f"  {t:12} create {create}  cat {cat}")
        b = results.get("bucketfs", {}).get("cold sequential read")
        if b:
            print(f"bucketfs cold read: {args.size_mib / b:.0f} MiB/s = {limit / b:.2f} of the "
                  f"limit")
        b = results.get("bucketfs", {}).get("durable sequential write")
        if b and write_limit:
            print(f"bucketfs write: {args.size_mib / b:.0f} MiB/s = {write_limit / b:.2f} of the "
                  f"write limit")
        b = results.get("bucketfs-az", {}).get("cold sequential read")
        if "bucketfs-az" in tools:
            print(f"{'azurite limit: 16 curl GETs':32}{az_limit:10.2f}  "
                  f"({args.size_mib / az_limit:.0f} MiB/s)")
        if b:
            print(f"bucketfs-az cold read: {args.size_mib / b:.0f} MiB/s = {az_limit / b:.2f} "
                  f"of azurite's limit")
    finally:
        env.close()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
