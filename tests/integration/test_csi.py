"""bucketfs-csi, driven as kubelet drives it: gRPC calls on its unix socket
(Debian's python3-grpcio, messages compiled from src/csi/csi.proto by
protoc), a Kubernetes API stand-in for pod labels and ConfigMaps, real
bucketfs mounts of s3rver buckets and azurite containers."""

import errno
import importlib
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid

import grpc
import pytest

from conftest import SANITIZER_MARKS, S3Store, is_mounted, unmount

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(ROOT, "tests", "tools"))
from kube_stub import KubeStub, make_ca  # noqa: E402

LABEL = "data.statcan.gc.ca/classification"
NS = "team"


@pytest.fixture(scope="session")
def pb(tmp_path_factory):
    """The CSI messages, compiled from our own .proto."""
    out = tmp_path_factory.mktemp("csi_pb")
    subprocess.run(["protoc", f"--proto_path={ROOT}/src/csi", f"--python_out={out}",
                    f"{ROOT}/src/csi/csi.proto"], check=True)
    sys.path.insert(0, str(out))
    return importlib.import_module("csi_pb2")


def wait_for(cond, what, timeout=60):
    end = time.time() + timeout
    while time.time() < end:
        if cond():
            return
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


class Plugin:
    """bucketfs-csi on a socket of its own, with its log in a file."""

    def __init__(self, binary, tmp, pb, kube, catalogs=(), extra=()):
        self.exe = os.path.join(os.path.dirname(binary), "bucketfs-csi")
        self.binary, self.pb, self.kube = binary, pb, kube
        self.sock = os.path.join(tmp, "csi.sock")
        self.state = os.path.join(tmp, "state")
        self.log_path = os.path.join(tmp, "csi.log")
        self.catalogs = list(catalogs)
        self.extra = list(extra)
        self.asan_prefix = os.path.join(tmp, "asan")
        self.proc = None
        self.start()

    def start(self):
        args = [self.exe, f"--endpoint=unix://{self.sock}", "--node-id=node-1",
                f"--bucketfs={self.binary}", f"--state-dir={self.state}",
                f"--kube-api={self.kube.url}", f"--kube-token-file={self.kube.token_file}",
                f"--kube-ca-file={self.kube.ca_file}", "--catalog-interval=1",
                "--log-level=info"] + self.extra
        args += [f"--catalog={c}" for c in self.catalogs]
        self.log = open(self.log_path, "a")
        env = dict(os.environ)
        if "ASAN_OPTIONS" in env:
            # The daemons it starts hand stderr to /dev/null: their reports
            # go to files, checked at teardown.
            env["ASAN_OPTIONS"] += f":log_path={self.asan_prefix}"
        self.proc = subprocess.Popen(args, stdout=self.log, stderr=subprocess.STDOUT, env=env)
        wait_for(lambda: os.path.exists(self.sock) or self.proc.poll() is not None,
                 "the plugin's socket")
        assert self.proc.poll() is None, self.read_log()
        self.channel = grpc.insecure_channel(f"unix://{self.sock}")

    def stop(self, sig=signal.SIGTERM):
        self.channel.close()
        self.proc.send_signal(sig)
        rc = self.proc.wait(timeout=60)
        self.log.close()
        return rc

    def read_log(self):
        with open(self.log_path, errors="replace") as f:
            return f.read()

    def call(self, service, method, request, response_name=None):
        resp = getattr(self.pb, response_name or method + "Response")
        fn = self.channel.unary_unary(f"/csi.v1.{service}/{method}",
                                      request_serializer=lambda m: m.SerializeToString(),
                                      response_deserializer=resp.FromString)
        return fn(request, timeout=120)

    def publish(self, volume_id, target, context, secrets=None, readonly=False, mode=1,
                pod="nb-1", namespace=NS, block=False):
        pb = self.pb
        cap = pb.VolumeCapability(access_mode=pb.VolumeCapability.AccessMode(mode=mode))
        if block:
            cap.block.SetInParent()
        else:
            cap.mount.SetInParent()
        ctx = dict(context)
        if pod:
            ctx.update({"csi.storage.k8s.io/pod.name": pod,
                        "csi.storage.k8s.io/pod.namespace": namespace})
        req = pb.NodePublishVolumeRequest(volume_id=volume_id, target_path=target,
                                          volume_capability=cap, readonly=readonly,
                                          secrets=secrets or {}, volume_context=ctx)
        return self.call("Node", "NodePublishVolume", req)

    def unpublish(self, volume_id, target):
        req = self.pb.NodeUnpublishVolumeRequest(volume_id=volume_id, target_path=target)
        return self.call("Node", "NodeUnpublishVolume", req)


def code_of(fn):
    with pytest.raises(grpc.RpcError) as e:
        fn()
    return e.value.code(), e.value.details()


@pytest.fixture(scope="session")
def api_cert(tmp_path_factory):
    return make_ca(str(tmp_path_factory.mktemp("kube-ca")))


@pytest.fixture
def kube(tmp_path, api_cert):
    token = tmp_path / "sa-token"
    token.write_text("token-one\n")
    k = KubeStub(str(token), *api_cert)
    k.pods[(NS, "nb-1")] = {LABEL: "unclassified"}
    k.pods[(NS, "nb-b")] = {LABEL: "protected-b"}
    k.pods[(NS, "nb-nolabel")] = {"app": "notebook"}
    k.pods[(NS, "nb-odd")] = {LABEL: "top-secret"}
    yield k
    k.close()


@pytest.fixture
def plugin_factory(binary, tmp_path, pb, kube):
    plugins = []

    def make(catalogs=(), extra=()):
        p = Plugin(binary, str(tmp_path), pb, kube, catalogs, extra)
        plugins.append(p)
        return p

    yield make
    for p in plugins:
        if p.proc.poll() is None:
            p.stop()
    # Whatever a failed test left mounted (the daemons then exit).
    for root, dirs, _ in os.walk(str(tmp_path)):
        for d in dirs:
            path = os.path.join(root, d)
            if is_mounted(path):
                unmount(path)
    reports = [p.read_log() for p in plugins]
    for name in os.listdir(str(tmp_path)):
        if name.startswith("asan."):
            with open(os.path.join(str(tmp_path), name), errors="replace") as f:
                reports.append(f.read())
    for log in reports:
        for mark in SANITIZER_MARKS:
            assert mark not in log, log


@pytest.fixture
def plugin(plugin_factory):
    return plugin_factory()


def volume(store, classification="unclassified", **extra):
    source, opts, env = store.mount_args()
    ctx = {"source": source, "options": ",".join(opts + ["retries=2"]),
           "classification": classification}
    ctx.update(extra)
    return ctx, env


def target_of(tmp_path):
    # kubelet makes the parent; the plugin makes the target itself.
    parent = tmp_path / ("pod-" + uuid.uuid4().hex[:6])
    parent.mkdir()
    return str(parent / "mount")


def test_identity_and_capabilities(plugin, pb):
    info = plugin.call("Identity", "GetPluginInfo", pb.GetPluginInfoRequest())
    assert info.name == "bucketfs.csi" and info.vendor_version
    assert plugin.call("Identity", "Probe", pb.ProbeRequest()).ready.value is True
    caps = plugin.call("Identity", "GetPluginCapabilities", pb.GetPluginCapabilitiesRequest())
    assert list(caps.capabilities) == []
    caps = plugin.call("Controller", "ControllerGetCapabilities",
                       pb.ControllerGetCapabilitiesRequest())
    assert list(caps.capabilities) == []
    caps = plugin.call("Node", "NodeGetCapabilities", pb.NodeGetCapabilitiesRequest())
    assert list(caps.capabilities) == []
    assert plugin.call("Node", "NodeGetInfo", pb.NodeGetInfoRequest()).node_id == "node-1"
    code, _ = code_of(lambda: plugin.call("Node", "NodeStageVolume", pb.NodeGetInfoRequest(),
                                          response_name="NodeGetInfoResponse"))
    assert code == grpc.StatusCode.UNIMPLEMENTED


def test_publish_write_read_unpublish(plugin, store, tmp_path, kube):
    """Same level: read-write as asked; what the pod writes is in the bucket
    at close; unpublish unmounts and removes the target, twice over."""
    target = target_of(tmp_path)
    ctx, secrets = volume(store)
    store.put("hello.txt", b"from the bucket")
    plugin.publish("vol-1", target, ctx, secrets)
    assert is_mounted(target)
    with open(os.path.join(target, "hello.txt"), "rb") as f:
        assert f.read() == b"from the bucket"
    with open(os.path.join(target, "out.txt"), "wb") as f:
        f.write(b"from the pod")
    assert store.get("out.txt") == b"from the pod"
    # The pod's label was read with the service-account token.
    assert (f"/api/v1/namespaces/{NS}/pods/nb-1", "Bearer token-one") in kube.requests
    # Idempotent: the same call again is OK and changes nothing.
    plugin.publish("vol-1", target, ctx, secrets)
    plugin.unpublish("vol-1", target)
    assert not is_mounted(target) and not os.path.exists(target)
    plugin.unpublish("vol-1", target)
    log = plugin.read_log()
    assert "vol-1" in log and "as requested (same level)" in log
    for value in secrets.values():
        assert value not in log


def test_read_down_is_read_only(plugin, store, tmp_path):
    """A protected-b pod reads an unclassified bucket, and cannot write it,
    whatever it asked for."""
    target = target_of(tmp_path)
    ctx, secrets = volume(store, "unclassified")
    store.put("data.csv", b"a,b\n1,2\n")
    plugin.publish("vol-down", target, ctx, secrets, pod="nb-b")
    with open(os.path.join(target, "data.csv"), "rb") as f:
        assert f.read() == b"a,b\n1,2\n"
    with pytest.raises(OSError) as e:
        open(os.path.join(target, "new.txt"), "wb")
    assert e.value.errno == errno.EROFS
    assert "read-only (no write down)" in plugin.read_log()
    plugin.unpublish("vol-down", target)


def test_read_up_is_denied(plugin, store, tmp_path):
    target = target_of(tmp_path)
    ctx, secrets = volume(store, "protected-b")
    code, msg = code_of(lambda: plugin.publish("vol-up", target, ctx, secrets, pod="nb-1"))
    assert code == grpc.StatusCode.PERMISSION_DENIED
    assert "protected-b" in msg and "unclassified" in msg
    assert not is_mounted(target) and not os.path.exists(target)
    assert "denied (no read up)" in plugin.read_log()


def test_pod_levels(plugin, store, tmp_path, kube):
    """No label: the lowest level. A label that is no level, no such pod, an
    API that refuses: no mount."""
    ctx, secrets = volume(store, "unclassified")
    target = target_of(tmp_path)
    plugin.publish("vol-nolabel", target, ctx, secrets, pod="nb-nolabel")
    plugin.unpublish("vol-nolabel", target)
    ctx_b, _ = volume(store, "protected-b")
    code, _ = code_of(lambda: plugin.publish("vol-nolabel-b", target, ctx_b, secrets,
                                             pod="nb-nolabel"))
    assert code == grpc.StatusCode.PERMISSION_DENIED
    code, msg = code_of(lambda: plugin.publish("vol-odd", target, ctx, secrets, pod="nb-odd"))
    assert code == grpc.StatusCode.PERMISSION_DENIED and "top-secret" in msg
    code, _ = code_of(lambda: plugin.publish("vol-nopod", target, ctx, secrets, pod="nb-gone"))
    assert code == grpc.StatusCode.UNAVAILABLE
    kube.status = 503
    code, _ = code_of(lambda: plugin.publish("vol-api", target, ctx, secrets))
    assert code == grpc.StatusCode.UNAVAILABLE
    kube.status = None
    code, msg = code_of(lambda: plugin.publish("vol-noinfo", target, ctx, secrets, pod=None))
    assert code == grpc.StatusCode.FAILED_PRECONDITION and "podInfoOnMount" in msg
    assert not os.path.exists(target)


def test_api_must_be_who_it_says(plugin_factory, store, tmp_path, kube):
    """An API server whose certificate our CA did not sign, or none at all:
    the pod's level is unknown, so nothing is mounted."""
    other_ca, _ = make_ca(str(tmp_path))
    ctx, secrets = volume(store)
    plugin = plugin_factory(extra=[f"--kube-ca-file={other_ca}"])
    target = target_of(tmp_path)
    code, msg = code_of(lambda: plugin.publish("vol-ca", target, ctx, secrets))
    assert code == grpc.StatusCode.UNAVAILABLE, msg
    assert kube.requests == []
    plugin.stop()
    closed = socket.socket()
    closed.bind(("127.0.0.1", 0))
    port = closed.getsockname()[1]
    closed.close()
    plugin = plugin_factory(extra=[f"--kube-api=https://127.0.0.1:{port}"])
    code, msg = code_of(lambda: plugin.publish("vol-down-api", target, ctx, secrets))
    assert code == grpc.StatusCode.UNAVAILABLE and "Kubernetes API" in msg, msg
    assert not os.path.exists(target)


def test_token_is_reread(plugin, store, tmp_path, kube):
    ctx, secrets = volume(store)
    with open(kube.token_file, "w") as f:
        f.write("token-two\n")
    target = target_of(tmp_path)
    plugin.publish("vol-tok", target, ctx, secrets)
    assert kube.requests[-1][1] == "Bearer token-two"
    plugin.unpublish("vol-tok", target)


LEVELS3 = ["unclassified", "protected-a", "protected-b"]


def test_classification_matrix(plugin_factory, server, s3, tmp_path, kube):
    """Every pod level (and no label) x every volume level x read-write or
    read-only request: the answer, and what the real mount lets through."""
    plugin = plugin_factory(extra=["--levels=" + ",".join(LEVELS3)])
    for i, level in enumerate(LEVELS3):
        kube.pods[(NS, f"pod-{i}")] = {LABEL: level}
    kube.pods[(NS, "pod-none")] = {}
    store = S3Store(server, s3)
    source, opts, secrets = store.mount_args()
    escapes = []
    n = 0
    for pod, pod_rank in [("pod-none", 0)] + [(f"pod-{i}", i) for i in range(3)]:
        for vol_rank, vol_level in enumerate(LEVELS3):
            for readonly in (False, True):
                n += 1
                target = target_of(tmp_path)
                ctx = {"source": source, "options": ",".join(opts),
                       "classification": vol_level}
                vid = f"m-{n}"
                case = (pod, vol_level, readonly)
                if vol_rank > pod_rank:
                    code, _ = code_of(lambda: plugin.publish(vid, target, ctx, secrets,
                                                             readonly=readonly, pod=pod))
                    if code != grpc.StatusCode.PERMISSION_DENIED or os.path.exists(target):
                        escapes.append((case, "read up", code))
                    continue
                plugin.publish(vid, target, ctx, secrets, readonly=readonly, pod=pod)
                must_be_ro = readonly or vol_rank < pod_rank
                key = f"{vid}.txt"
                try:
                    with open(os.path.join(target, key), "wb") as f:
                        f.write(b"x")
                    wrote = True
                except OSError as e:
                    assert e.errno == errno.EROFS, (case, e)
                    wrote = False
                if wrote == must_be_ro:
                    escapes.append((case, "wrote" if wrote else "could not write"))
                if wrote and store.get(key) != b"x":
                    escapes.append((case, "write not in the bucket"))
                plugin.unpublish(vid, target)
    assert n == 24
    assert escapes == []
    log = plugin.read_log()
    # Read up: pods of the lowest level (labelled or not) x 2 volumes, the
    # middle pod x 1, each with both requests.
    assert log.count("denied (no read up)") == (2 * 2 + 1) * 2
    assert "pod team/pod-none (unclassified)" in log


def test_two_pods_share_a_bucket(plugin, store, tmp_path):
    """One pod writes through its mount, another reads it through its own;
    a prefix in volume_context is the mount's root."""
    ctx, secrets = volume(store)
    ta, tb = target_of(tmp_path), target_of(tmp_path)
    plugin.publish("vol-share", ta, ctx, secrets, pod="nb-1")
    plugin.publish("vol-share", tb, dict(ctx), secrets, pod="nb-nolabel")
    with open(os.path.join(ta, "shared.txt"), "wb") as f:
        f.write(b"from pod a")
    with open(os.path.join(tb, "shared.txt"), "rb") as f:
        assert f.read() == b"from pod a"
    tp = target_of(tmp_path)
    os.makedirs(os.path.join(ta, "team", "sub"))
    with open(os.path.join(ta, "team", "sub", "f"), "wb") as f:
        f.write(b"deep")
    plugin.publish("vol-prefix", tp, dict(ctx, prefix="team"), secrets)
    assert os.listdir(tp) == ["sub"]
    with open(os.path.join(tp, "sub", "f"), "rb") as f:
        assert f.read() == b"deep"
    for vid, t in (("vol-share", ta), ("vol-share", tb), ("vol-prefix", tp)):
        plugin.unpublish(vid, t)


def test_reader_modes_and_readonly(plugin, store, tmp_path):
    ctx, secrets = volume(store)
    for i, (mode, readonly) in enumerate([(2, False), (3, False), (1, True)]):
        target = target_of(tmp_path)
        plugin.publish(f"vol-ro{i}", target, ctx, secrets, readonly=readonly, mode=mode)
        with pytest.raises(OSError) as e:
            open(os.path.join(target, "x"), "wb")
        assert e.value.errno == errno.EROFS
        plugin.unpublish(f"vol-ro{i}", target)


def test_invalid_requests(plugin, store, tmp_path):
    ctx, secrets = volume(store)
    target = target_of(tmp_path)
    bad = [
        lambda: plugin.publish("", target, ctx, secrets),
        lambda: plugin.publish("v", "", ctx, secrets),
        lambda: plugin.publish("v", "relative/path", ctx, secrets),
        lambda: plugin.publish("v", target, ctx, secrets, block=True),
        lambda: plugin.publish("v", target, {"classification": "unclassified"}, secrets),
        lambda: plugin.publish("v", target, dict(ctx, classification="nope"), secrets),
        lambda: plugin.publish("v", target, {k: v for k, v in ctx.items()
                                             if k != "classification"}, secrets),
        lambda: plugin.publish("v", target, ctx, dict(secrets, LD_PRELOAD="/x.so")),
        lambda: plugin.unpublish("", target),
        lambda: plugin.unpublish("v", ""),
    ]
    for call in bad:
        code, msg = code_of(call)
        assert code == grpc.StatusCode.INVALID_ARGUMENT, msg
    assert not os.path.exists(target)


def test_inline_volumes_must_name_a_catalog(plugin, store, tmp_path):
    ctx, secrets = volume(store, **{"csi.storage.k8s.io/ephemeral": "true"})
    code, msg = code_of(lambda: plugin.publish("csi-inline", target_of(tmp_path), ctx, secrets))
    assert code == grpc.StatusCode.PERMISSION_DENIED and "catalog" in msg


def test_incompatible_republish(plugin, store, tmp_path):
    ctx, secrets = volume(store)
    target = target_of(tmp_path)
    plugin.publish("vol-a", target, ctx, secrets)
    code, _ = code_of(lambda: plugin.publish("vol-a", target, ctx, secrets, readonly=True))
    assert code == grpc.StatusCode.ALREADY_EXISTS
    code, _ = code_of(lambda: plugin.publish("vol-b", target, ctx, secrets))
    assert code == grpc.StatusCode.ALREADY_EXISTS
    assert is_mounted(target)
    plugin.unpublish("vol-a", target)


def test_mount_failure_is_reported(plugin, server, tmp_path):
    """No such bucket: the daemon's own one-line reason reaches kubelet, and
    nothing is left behind."""
    target = target_of(tmp_path)
    ctx = {"source": "s3://no-such-bucket-here", "classification": "unclassified",
           "options": f"endpoint={server.endpoint},retries=0"}
    code, msg = code_of(lambda: plugin.publish("vol-x", target, ctx,
                                               {"AWS_ACCESS_KEY_ID": "AKIDEXAMPLE",
                                                "AWS_SECRET_ACCESS_KEY": "not-the-secret"}))
    assert code == grpc.StatusCode.INTERNAL and "no-such-bucket-here" in msg, msg
    assert not os.path.exists(target)
    assert "not-the-secret" not in plugin.read_log()


class Stall:
    """A TCP endpoint that accepts and never answers: a mount held in flight."""

    def __init__(self):
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.url = f"http://127.0.0.1:{self.sock.getsockname()[1]}"
        self.conns = []
        threading.Thread(target=self.accept, daemon=True).start()

    def accept(self):
        while True:
            try:
                self.conns.append(self.sock.accept()[0])
            except OSError:
                return

    def close(self):
        for c in self.conns:
            c.close()
        self.sock.close()


def test_one_operation_per_volume_and_concurrent_calls(plugin, pb, tmp_path):
    """While a publish hangs on a slow store: a second call for the same
    volume is ABORTED, other calls are served, and the secret is in the
    daemon's environment, not its command line."""
    stall = Stall()
    target = target_of(tmp_path)
    ctx = {"source": "s3://slow-bucket", "classification": "unclassified",
           "options": f"endpoint={stall.url},retries=0,request_timeout=20"}
    secrets = {"AWS_ACCESS_KEY_ID": "AKIDSTALL", "AWS_SECRET_ACCESS_KEY": "stall-secret-value"}
    result = {}

    def first():
        try:
            plugin.publish("vol-slow", target, ctx, secrets)
            result["code"] = grpc.StatusCode.OK
        except grpc.RpcError as e:
            result["code"] = e.code()

    t = threading.Thread(target=first)
    t.start()
    wait_for(lambda: stall.conns, "the mount to reach the store")
    code, _ = code_of(lambda: plugin.publish("vol-slow", target, ctx, secrets))
    assert code == grpc.StatusCode.ABORTED
    code, _ = code_of(lambda: plugin.unpublish("vol-slow", target))
    assert code == grpc.StatusCode.ABORTED
    assert plugin.call("Identity", "Probe", pb.ProbeRequest()).ready.value is True
    daemons = [pid for pid in os.listdir("/proc") if pid.isdigit() and
               target.encode() in open(f"/proc/{pid}/cmdline", "rb").read()]
    assert daemons
    for pid in daemons:
        assert b"stall-secret-value" not in open(f"/proc/{pid}/cmdline", "rb").read()
        assert b"AWS_SECRET_ACCESS_KEY=stall-secret-value" in open(f"/proc/{pid}/environ",
                                                                    "rb").read()
    stall.close()
    t.join(timeout=120)
    assert result["code"] == grpc.StatusCode.INTERNAL
    assert not os.path.exists(target)


def daemon_pid(target):
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            argv = open(f"/proc/{pid}/cmdline", "rb").read().split(b"\0")
        except OSError:
            continue
        if target.encode() in argv and b"view" not in argv[1:2]:
            return int(pid)
    return None


def stale(path):
    try:
        os.stat(path)
        return False
    except OSError as e:
        return e.errno == errno.ENOTCONN


def test_mounts_outlive_the_plugin_and_heal(plugin_factory, store, tmp_path):
    """The daemons outlive a plugin restart; a daemon that died is mounted
    again when the plugin starts, and at a republish."""
    plugin = plugin_factory()
    ctx, secrets = volume(store)
    store.put("keep.txt", b"still here")
    target = target_of(tmp_path)
    plugin.publish("vol-h", target, ctx, secrets)
    plugin.stop(signal.SIGKILL)
    with open(os.path.join(target, "keep.txt"), "rb") as f:
        assert f.read() == b"still here"

    os.kill(daemon_pid(target), signal.SIGKILL)
    wait_for(lambda: stale(target), "the mount to go stale")
    plugin.start()
    wait_for(lambda: not stale(target) and is_mounted(target), "the plugin to heal the mount")
    with open(os.path.join(target, "keep.txt"), "rb") as f:
        assert f.read() == b"still here"

    os.kill(daemon_pid(target), signal.SIGKILL)
    wait_for(lambda: stale(target), "the mount to go stale")
    plugin.publish("vol-h", target, ctx, secrets)  # requiresRepublish
    with open(os.path.join(target, "keep.txt"), "rb") as f:
        assert f.read() == b"still here"
    assert "stale (its daemon is gone)" in plugin.read_log()
    plugin.unpublish("vol-h", target)
    assert not is_mounted(target)


# ---- catalog ("automount") volumes ----

def write_catalog(path, entries):
    tmp = path + ".new"
    with open(tmp, "w") as f:
        json.dump({"buckets": entries}, f)
    os.replace(tmp, path)


@pytest.fixture
def catalog_buckets(server, s3, tmp_path):
    """Three buckets and a secrets file for them."""
    names = {}
    for b in ("std", "prob", "other"):
        names[b] = "c-" + b + "-" + uuid.uuid4().hex[:8]
        s3.create_bucket(Bucket=names[b])
        s3.put_object(Bucket=names[b], Key="README", Body=f"this is {b}".encode())
    secrets = tmp_path / "catalog.env"
    _, _, env = S3Store.existing(server, names["std"]).mount_args()
    secrets.write_text("".join(f"{k}={v}\n" for k, v in env.items()))
    secrets.chmod(0o600)
    opts = f"endpoint={server.endpoint},retries=2"

    def entry(key, classification, namespaces=("*",), name=None):
        return {"name": name or key, "source": f"s3://{names[key]}", "options": opts,
                "classification": classification, "namespaces": list(namespaces),
                "secrets_file": str(secrets)}

    return names, entry


def test_catalog_volume(plugin_factory, catalog_buckets, tmp_path, s3):
    names, entry = catalog_buckets
    catalog = str(tmp_path / "catalog.json")
    write_catalog(catalog, [entry("std", "unclassified"), entry("prob", "protected-b"),
                            entry("other", "unclassified", namespaces=["elsewhere"])])
    plugin = plugin_factory(catalogs=[f"main={catalog}"])
    ctx = {"catalog": "main", "csi.storage.k8s.io/ephemeral": "true"}

    # A protected-b pod: its own bucket read-write, the unclassified one
    # read-only, another namespace's not at all.
    tb = target_of(tmp_path)
    plugin.publish("csi-b", tb, ctx, pod="nb-b")
    assert sorted(os.listdir(tb)) == ["prob", "std"]
    with open(os.path.join(tb, "std", "README"), "rb") as f:
        assert f.read() == b"this is std"
    with pytest.raises(OSError) as e:
        open(os.path.join(tb, "std", "x"), "wb")
    assert e.value.errno == errno.EROFS
    with open(os.path.join(tb, "prob", "result.txt"), "wb") as f:
        f.write(b"written through the catalog")
    got = s3.get_object(Bucket=names["prob"], Key="result.txt")["Body"].read()
    assert got == b"written through the catalog"
    with pytest.raises(OSError) as e:
        os.rename(os.path.join(tb, "prob", "result.txt"), os.path.join(tb, "std", "r"))
    assert e.value.errno in (errno.EXDEV, errno.EROFS)
    with pytest.raises(OSError) as e:
        os.mkdir(os.path.join(tb, "newbucket"))
    assert e.value.errno == errno.EPERM

    # An unclassified pod: the unclassified bucket, read-write; no prob.
    tu = target_of(tmp_path)
    plugin.publish("csi-u", tu, ctx, pod="nb-1")
    assert os.listdir(tu) == ["std"]
    with open(os.path.join(tu, "std", "fromu.txt"), "wb") as f:
        f.write(b"u")
    assert s3.get_object(Bucket=names["std"], Key="fromu.txt")["Body"].read() == b"u"

    # The catalog changes under running pods: a bucket appears, one goes.
    write_catalog(catalog, [entry("prob", "protected-b"),
                            entry("other", "unclassified", name="shared")])
    wait_for(lambda: sorted(os.listdir(tb)) == ["prob", "shared"], "the new view (pod b)")
    wait_for(lambda: os.listdir(tu) == ["shared"], "the new view (pod u)")
    with open(os.path.join(tu, "shared", "README"), "rb") as f:
        assert f.read() == b"this is other"
    log = plugin.read_log()
    assert "catalog bucket prob (protected-b): denied (no read up)" in log
    assert "catalog bucket std is no longer shown" in log

    # The plugin restarts; the views and their buckets stay.
    plugin.stop()
    assert sorted(os.listdir(tb)) == ["prob", "shared"]
    plugin.start()
    plugin.unpublish("csi-b", tb)
    plugin.unpublish("csi-u", tu)
    assert not os.path.exists(tb) and not os.path.exists(tu)
    leftover = [line for line in open("/proc/self/mountinfo")
                if plugin.state in line]
    assert leftover == []


def test_catalog_from_configmap(plugin_factory, catalog_buckets, tmp_path, kube):
    names, entry = catalog_buckets
    kube.configmaps[("bucketfs", "catalog")] = {
        "catalog.json": json.dumps({"buckets": [entry("std", "unclassified")]})}
    plugin = plugin_factory(catalogs=["cm=configmap:bucketfs/catalog/catalog.json"])
    target = target_of(tmp_path)
    plugin.publish("csi-cm", target, {"catalog": "cm"}, pod="nb-1")
    assert os.listdir(target) == ["std"]
    kube.configmaps[("bucketfs", "catalog")]["catalog.json"] = json.dumps({"buckets": [
        entry("std", "unclassified"), entry("other", "unclassified")]})
    wait_for(lambda: sorted(os.listdir(target)) == ["other", "std"], "the ConfigMap's change")
    code, msg = code_of(lambda: plugin.publish("csi-nocat", target_of(tmp_path),
                                               {"catalog": "nope"}, pod="nb-1"))
    assert code == grpc.StatusCode.INVALID_ARGUMENT and "nope" in msg
    plugin.unpublish("csi-cm", target)


def test_manifests_agree_with_the_plugin(binary, tmp_path, pb, kube):
    """The Kubernetes manifests: the driver name kubelet is told is the one
    the plugin answers with, pod info is on, the plugin's arguments (with
    the example catalog ConfigMap) start it, and its role can read pods."""
    import yaml
    docs = {}
    for name in ("csidriver", "rbac", "daemonset", "examples"):
        with open(os.path.join(ROOT, "packaging", "kubernetes", name + ".yaml")) as f:
            docs[name] = [d for d in yaml.safe_load_all(f) if d]
    driver = docs["csidriver"][0]
    assert driver["spec"]["podInfoOnMount"] is True
    assert driver["spec"]["requiresRepublish"] is True
    ds = docs["daemonset"][0]["spec"]["template"]["spec"]
    registrar, plugin_c = ds["containers"]
    assert (f"--kubelet-registration-path=/var/lib/kubelet/plugins/"
            f"{driver['metadata']['name']}/csi.sock") in registrar["args"]
    role = next(d for d in docs["rbac"] if d["kind"] == "ClusterRole")
    assert {"resources": ["pods"], "verbs": ["get"], "apiGroups": [""]} in role["rules"]
    cm = next(d for d in docs["examples"] if d["kind"] == "ConfigMap")
    kube.configmaps[(cm["metadata"]["namespace"], cm["metadata"]["name"])] = cm["data"]
    for d in docs["examples"]:
        if d["kind"] == "PersistentVolume":
            assert d["spec"]["csi"]["driver"] == driver["metadata"]["name"]
            level = d["spec"]["csi"]["volumeAttributes"]["classification"]
            assert d["metadata"]["labels"][LABEL] == level
        if d["kind"] == "Pod":
            assert d["spec"]["volumes"][0]["csi"]["volumeAttributes"]["catalog"] == "default"
    with open(os.path.join(ROOT, "packaging", "kubernetes", "kustomization.yaml")) as f:
        kust = yaml.safe_load(f)
    assert sorted(kust["resources"]) == ["csidriver.yaml", "daemonset.yaml", "rbac.yaml"]

    sock = str(tmp_path / "csi.sock")
    log = open(tmp_path / "csi.log", "w")
    proc = subprocess.Popen(
        [os.path.join(os.path.dirname(binary), "bucketfs-csi")] + plugin_c["args"] +
        [f"--state-dir={tmp_path}/state", f"--kube-api={kube.url}",
         f"--kube-token-file={kube.token_file}", f"--kube-ca-file={kube.ca_file}"],
        env=dict(os.environ, CSI_ENDPOINT=f"unix://{sock}", NODE_ID="node-7"),
        stdout=log, stderr=subprocess.STDOUT)
    try:
        wait_for(lambda: os.path.exists(sock) or proc.poll() is not None, "the socket")
        assert proc.poll() is None
        with grpc.insecure_channel(f"unix://{sock}") as ch:
            info = ch.unary_unary("/csi.v1.Identity/GetPluginInfo",
                                  request_serializer=lambda m: m.SerializeToString(),
                                  response_deserializer=pb.GetPluginInfoResponse.FromString)
            assert info(pb.GetPluginInfoRequest(), timeout=30).name == \
                driver["metadata"]["name"]
    finally:
        proc.terminate()
        assert proc.wait(timeout=60) == 0
