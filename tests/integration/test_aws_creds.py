"""The AWS credential chain against stand-ins for the AWS services
(tests/tools/aws_stub.py: STS, container credentials, IMDSv2, checking
every request exactly): web identity with a token file re-read at every
refresh, container credentials, a profile's assume-role and
credential_process, the instance role; each source shadowing the next;
-o creds= pinning one; temporary credentials that live 4-5 s refreshed
under a long read. The signature proxy in front of s3rver accepts the
stand-ins' credentials only with their session token and only until they
expire, so a request signed with stale or half credentials fails.

Every mount here logs at debug level, and no secret the test handed out or
the stand-ins issued may appear in its log."""
import hashlib
import json
import os
import stat
import subprocess
import time
import uuid

import pytest

from conftest import KEY, ROOT, SECRET, Mount, clean_env, is_mounted, run_bucketfs
from test_mount import one_line_failure

STUB = os.path.join(ROOT, "tests", "tools", "aws_stub.py")
ROLE = "arn:aws:iam::123456789012:role/bucketfs-test"


class AwsStub:
    def __init__(self, tmp, keys_file, args):
        self.record = os.path.join(tmp, f"aws-stub-{uuid.uuid4().hex[:6]}.jsonl")
        self.proc = subprocess.Popen(
            ["/usr/bin/python3", STUB, "--record", self.record, "--keys-file", keys_file,
             "--role-arn", ROLE] + args,
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        line = self.proc.stdout.readline().split()
        assert len(line) == 2 and line[0] == "ready", line
        self.url = f"http://127.0.0.1:{line[1]}"

    def requests(self, kind=None):
        try:
            with open(self.record) as f:
                reqs = [json.loads(line) for line in f]
        except FileNotFoundError:
            return []
        return [r for r in reqs if kind is None or r["kind"] == kind]

    def issued(self, kind=None):
        return [r["issued"] for r in self.requests(kind) if "issued" in r]

    def assert_clean(self):
        bad = [r for r in self.requests() if r.get("mismatch") or r.get("refused")]
        assert not bad, bad

    def secrets(self):
        out = []
        for c in self.issued():
            out += [c["secret"], c["token"]]
        return out

    def close(self):
        self.proc.stdin.close()
        self.proc.wait(timeout=10)


@pytest.fixture
def stub(tmp_path, server):
    stubs = []

    def make(*args):
        s = AwsStub(str(tmp_path), server.keys_file, list(args))
        stubs.append(s)
        return s

    yield make
    for s in stubs:
        s.close()


@pytest.fixture
def home(tmp_path):
    h = tmp_path / "home"
    (h / ".aws").mkdir(parents=True)
    return h


@pytest.fixture
def aws_mount(binary, server, tmp_path, home):
    """A debug-level mount with only the given environment (over a clean
    one: no AWS_* from the machine, IMDS off unless the test turns it on)."""
    mounts = []

    def make(bucket, env, opts=()):
        e = {"HOME": str(home)}
        e.update(env)
        m = Mount(binary, server, bucket, str(tmp_path), creds=False, env=e, opts=opts,
                  log_level="debug")
        mounts.append(m)
        return m

    yield make
    for m in mounts:
        if m.proc.returncode is None:
            m.close()


def round_trip(m, s3, bucket, name):
    with open(m.p(name), "wb") as f:
        f.write(b"via " + name.encode())
    assert s3.get_object(Bucket=bucket, Key=name)["Body"].read() == b"via " + name.encode()
    s3.put_object(Bucket=bucket, Key=name + ".back", Body=b"from boto3")
    with open(m.p(name + ".back"), "rb") as f:
        assert f.read() == b"from boto3"


def assert_no_secrets(m, secrets):
    """Close the mount and check none of the secrets is in its log."""
    m.close()
    log = m.read_log()
    assert "HTTP 200" in log, "the debug log should show requests"
    for s in secrets:
        if s:
            assert s not in log, f"a secret is in the log: {s[:6]}..."
    assert "Signature=" not in log


@pytest.fixture(autouse=True)
def proxy_baseline(server):
    """What the (session-wide) proxy had refused before this test."""
    server.rejected_before = dict(server.stats()["rejected"])


def assert_proxy_clean(server):
    """The proxy refused nothing for bad credentials during this test."""
    rejected = server.stats()["rejected"]
    for code in ("ExpiredToken", "InvalidToken", "SignatureDoesNotMatch", "InvalidAccessKeyId"):
        assert rejected.get(code, 0) == server.rejected_before.get(code, 0), rejected


def write_token(path, text):
    """As kubelet does: the new file replaces the old at once."""
    tmp = str(path) + ".new"
    with open(tmp, "w") as f:
        f.write(text + "\n")
    os.replace(tmp, path)


def web_identity_env(s, token_file, session="bfs-session"):
    return {"AWS_WEB_IDENTITY_TOKEN_FILE": str(token_file), "AWS_ROLE_ARN": ROLE,
            "AWS_ROLE_SESSION_NAME": session, "AWS_ENDPOINT_URL_STS": s.url}


def slow_read(m, name, size, pause=0.5):
    h = hashlib.sha256()
    with open(m.p(name), "rb") as f:
        while True:
            chunk = f.read(1 << 20)
            if not chunk:
                break
            h.update(chunk)
            time.sleep(pause)
    return h.digest()


SLOW = ["readahead_max=0", "cache_size=4M", "block_size=1M", "stat_ttl=0"]


def test_web_identity_refreshed_under_long_read(aws_mount, stub, s3, bucket, server, tmp_path):
    """STS credentials live 4 s; a 16 MiB file read a block at a time over
    ~8 s needs several of them; the token file is rotated half-way and the
    later exchanges carry the new token."""
    token_file = tmp_path / "token"
    first, second = "eyJ.first." + uuid.uuid4().hex, "eyJ.second." + uuid.uuid4().hex
    write_token(token_file, first)
    s = stub("--token-file", str(token_file), "--session-name", "bfs-session",
             "--lifetime", "4")
    body = os.urandom(16 << 20)
    s3.put_object(Bucket=bucket, Key="big", Body=body)
    m = aws_mount(bucket, web_identity_env(s, token_file), opts=SLOW)
    h = hashlib.sha256()
    with open(m.p("big"), "rb") as f:
        for i in range(16):
            if i == 8:
                write_token(token_file, second)
            h.update(f.read(1 << 20))
            time.sleep(0.5)
    assert h.digest() == hashlib.sha256(body).digest()
    round_trip(m, s3, bucket, "wi")
    log = m.read_log()
    assert "credentials from web identity (role " + ROLE in log
    assert_no_secrets(m, s.secrets() + [first, second])
    s.assert_clean()
    reqs = s.requests("sts")
    assert len(reqs) >= 3, len(reqs)
    for r in reqs:
        assert r["form"]["Action"] == "AssumeRoleWithWebIdentity"
        assert r["form"]["WebIdentityToken"] == r["token_file"]
        assert "authorization" not in r["headers"]
    assert reqs[0]["form"]["WebIdentityToken"] == first
    assert reqs[-1]["form"]["WebIdentityToken"] == second
    assert_proxy_clean(server)


def test_container_credentials_token_file(aws_mount, stub, s3, bucket, server, tmp_path):
    """EKS Pod Identity: a full URI and a token file, re-read at every
    refresh."""
    tf = tmp_path / "eks-pod-identity-token"
    t1, t2 = "pod-token-1-" + uuid.uuid4().hex, "pod-token-2-" + uuid.uuid4().hex
    write_token(tf, t1)
    s = stub("--auth-token-file", str(tf), "--lifetime", "4")
    m = aws_mount(bucket, {"AWS_CONTAINER_CREDENTIALS_FULL_URI": s.url + "/v2/credentials/task-1",
                           "AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE": str(tf)},
                  opts=["stat_ttl=0", "list_ttl=0"])
    round_trip(m, s3, bucket, "c1")
    write_token(tf, t2)
    n = len(s.issued())
    end = time.time() + 20
    while len(s.issued()) < n + 2:
        assert time.time() < end
        os.listdir(m.path)
        time.sleep(0.3)
    round_trip(m, s3, bucket, "c2")
    assert_no_secrets(m, s.secrets() + [t1, t2])
    s.assert_clean()
    reqs = s.requests("container")
    assert reqs[0]["headers"]["authorization"] == t1
    assert reqs[-1]["headers"]["authorization"] == t2
    assert_proxy_clean(server)


def test_container_credentials_relative_uri(aws_mount, stub, s3, bucket, server):
    """ECS: a relative URI on the agent's address (moved to the stand-in
    for the test) and a token in the environment."""
    token = "ecs-token-" + uuid.uuid4().hex
    s = stub("--auth-token", token, "--container-path", "/v2/credentials/abc")
    m = aws_mount(bucket, {"AWS_CONTAINER_CREDENTIALS_RELATIVE_URI": "/v2/credentials/abc",
                           "AWS_CONTAINER_AUTHORIZATION_TOKEN": token,
                           "BUCKETFS_TEST_CONTAINER_HOST": s.url})
    round_trip(m, s3, bucket, "ecs")
    assert_no_secrets(m, s.secrets() + [token])
    s.assert_clean()


def test_profile_assume_role(aws_mount, stub, s3, bucket, server, home):
    """role_arn + source_profile: AssumeRole signed with the source
    profile's keys (checked by botocore's signer in the stand-in)."""
    (home / ".aws" / "credentials").write_text(
        f"[base]\naws_access_key_id = {KEY}\naws_secret_access_key = {SECRET}\n")
    (home / ".aws" / "config").write_text(
        f"[profile dev]\nrole_arn = {ROLE}\nsource_profile = base\n"
        "role_session_name = dev-session\nexternal_id = ext-42\n")
    s = stub("--source-key", f"{KEY}:{SECRET}", "--session-name", "dev-session",
             "--external-id", "ext-42", "--lifetime", "4")
    m = aws_mount(bucket, {"AWS_PROFILE": "dev", "AWS_ENDPOINT_URL_STS": s.url},
                  opts=["stat_ttl=0", "list_ttl=0"])
    round_trip(m, s3, bucket, "ar1")
    end = time.time() + 20
    while len(s.issued()) < 3:
        assert time.time() < end
        os.listdir(m.path)
        time.sleep(0.3)
    round_trip(m, s3, bucket, "ar2")
    log = m.read_log()
    assert f"credentials from profile dev (role {ROLE} via profile base)" in log
    assert_no_secrets(m, s.secrets() + [SECRET])
    s.assert_clean()
    assert all(r["form"]["Action"] == "AssumeRole" for r in s.requests("sts"))
    assert_proxy_clean(server)


def write_process(tmp_path, lifetime):
    """A credential_process that hands out the proxy's static keys with an
    expiry, records each run and the environment it got."""
    script = tmp_path / "creds process"
    runs = tmp_path / "runs"
    script.write_text(f"""#!/usr/bin/python3
import json, os, sys, time
from datetime import datetime, timezone
with open({str(runs)!r}, "a") as f:
    f.write(json.dumps({{"argv": sys.argv[1:], "env": dict(os.environ)}}) + "\\n")
exp = datetime.fromtimestamp(time.time() + {lifetime}, timezone.utc)
print(json.dumps({{"Version": 1, "AccessKeyId": {KEY!r}, "SecretAccessKey": {SECRET!r},
                  "Expiration": exp.isoformat()}}))
""")
    script.chmod(0o700)
    return script, runs


def read_runs(runs):
    with open(runs) as f:
        return [json.loads(line) for line in f]


def test_credential_process(aws_mount, s3, bucket, server, home, tmp_path):
    """Run without a shell (a path with a blank, quoted), again before each
    expiry, with our secrets out of its environment even when the
    environment has them (creds=process shadows it)."""
    script, runs = write_process(tmp_path, 4)
    (home / ".aws" / "config").write_text(
        f"[default]\ncredential_process = '{script}' --realm \"U A\"\n")
    m = aws_mount(bucket, {"AWS_ACCESS_KEY_ID": "AKIDENVIRONMENT", "AWS_SECRET_ACCESS_KEY":
                           "env-secret-" + uuid.uuid4().hex, "AWS_SESSION_TOKEN": "env-token"},
                  opts=["creds=process", "stat_ttl=0", "list_ttl=0"])
    round_trip(m, s3, bucket, "p1")
    end = time.time() + 20
    while len(read_runs(runs)) < 3:
        assert time.time() < end
        os.listdir(m.path)
        time.sleep(0.3)
    log = m.read_log()
    assert "credentials from credential_process of profile default" in log
    assert_no_secrets(m, [SECRET])
    for r in read_runs(runs):
        assert r["argv"] == ["--realm", "U A"]
        for var in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"):
            assert var not in r["env"], var
        assert r["env"]["HOME"] == str(home)


def test_imds_v2(aws_mount, stub, s3, bucket, server):
    s = stub("--lifetime", "4")
    m = aws_mount(bucket, {"AWS_EC2_METADATA_DISABLED": "",
                           "AWS_EC2_METADATA_SERVICE_ENDPOINT": s.url + "/"},
                  opts=["stat_ttl=0", "list_ttl=0"])
    round_trip(m, s3, bucket, "i1")
    end = time.time() + 20
    while len(s.issued()) < 3:
        assert time.time() < end
        os.listdir(m.path)
        time.sleep(0.3)
    log = m.read_log()
    assert f"credentials from instance metadata (IMDSv2 at {s.url})" in log
    assert_no_secrets(m, s.secrets() + [r.get("imds_token") for r in s.requests()])
    s.assert_clean()
    reqs = s.requests("imds")
    assert reqs[0]["method"] == "PUT" and reqs[0]["path"] == "/latest/api/token"
    tokens = {r["imds_token"] for r in reqs if "imds_token" in r}
    for r in reqs[1:]:
        if r["method"] == "GET":
            assert r["headers"]["x-aws-ec2-metadata-token"] in tokens
    assert_proxy_clean(server)


def test_refused_credentials_replaced_once(aws_mount, stub, s3, bucket, server):
    """Container credentials number 2 come back already expired for the
    proxy (as S3 would a revoked session): the request they signed is
    refused with ExpiredToken and sent once more with number 3, so nothing
    fails."""
    s = stub("--auth-token", "t", "--lifetime", "4", "--stale", "2")
    m = aws_mount(bucket, {"AWS_CONTAINER_CREDENTIALS_FULL_URI": s.url + "/v2/credentials/task-1",
                           "AWS_CONTAINER_AUTHORIZATION_TOKEN": "t"},
                  opts=["stat_ttl=0", "list_ttl=0"])
    end = time.time() + 30
    n = 0
    while len(s.issued()) < 3 or n < 10:
        assert time.time() < end
        with open(m.p(f"r{n % 4}"), "wb") as f:
            f.write(b"z" * 100)
        assert s3.get_object(Bucket=bucket, Key=f"r{n % 4}")["Body"].read() == b"z" * 100
        n += 1
        time.sleep(0.3)
    log = m.read_log()
    m.close()
    assert "the credentials were refused: once more with new ones" in log, log
    assert server.stats()["rejected"].get("ExpiredToken", 0) > \
        server.rejected_before.get("ExpiredToken", 0)


# ---- the order of the chain: each source shadows the ones after it ----

LEVELS = ["env", "web-identity", "container", "profile", "imds"]


@pytest.mark.parametrize("level", LEVELS)
def test_chain_order(level, aws_mount, stub, s3, bucket, server, home, tmp_path):
    """Every source from `level` on is configured (and works); the one at
    `level` is used and none after it is asked."""
    token_file = tmp_path / "token"
    write_token(token_file, "eyJ.chain." + uuid.uuid4().hex)
    s = stub("--token-file", str(token_file), "--auth-token", "ctr-token")
    env = {"AWS_EC2_METADATA_DISABLED": "", "AWS_EC2_METADATA_SERVICE_ENDPOINT": s.url}
    i = LEVELS.index(level)
    if i <= 0:
        env.update(AWS_ACCESS_KEY_ID=KEY, AWS_SECRET_ACCESS_KEY=SECRET)
    if i <= 1:
        env.update(web_identity_env(s, token_file, "x"))
        env["AWS_ENDPOINT_URL_STS"] = s.url
    if i <= 2:
        env.update(AWS_CONTAINER_CREDENTIALS_FULL_URI=s.url + "/v2/credentials/task-1",
                   AWS_CONTAINER_AUTHORIZATION_TOKEN="ctr-token")
    if i <= 3:
        (home / ".aws" / "credentials").write_text(
            f"[default]\naws_access_key_id = {KEY}\naws_secret_access_key = {SECRET}\n")
    m = aws_mount(bucket, env)
    round_trip(m, s3, bucket, "order")
    log = m.read_log()
    m.close()
    want = {"env": "credentials from environment",
            "web-identity": "credentials from web identity",
            "container": "credentials from container credentials",
            "profile": "credentials from profile default",
            "imds": "credentials from instance metadata"}[level]
    assert want in log, log
    kinds = {r["kind"] for r in s.requests()}
    used = {"env": set(), "web-identity": {"sts"}, "container": {"container"},
            "profile": set(), "imds": {"imds"}}[level]
    assert kinds == used, kinds
    s.assert_clean()


def test_pinned_source_shadows_the_chain(aws_mount, stub, s3, bucket, server):
    """-o creds=imds skips the environment's keys."""
    s = stub()
    m = aws_mount(bucket, {"AWS_ACCESS_KEY_ID": "WRONG", "AWS_SECRET_ACCESS_KEY": "WRONG",
                           "AWS_EC2_METADATA_DISABLED": "",
                           "AWS_EC2_METADATA_SERVICE_ENDPOINT": s.url},
                  opts=["creds=imds"])
    round_trip(m, s3, bucket, "pin")
    m.close()
    assert {r["kind"] for r in s.requests()} == {"imds"}


def mount_fails(binary, server, bucket, mpoint, env, *opts):
    e = clean_env(os.path.dirname(mpoint))
    e.update(env)
    o = ",".join([f"endpoint={server.endpoint}", "retries=1"] + list(opts))
    return run_bucketfs(binary, [f"s3://{bucket}", mpoint, "-o", o], env=e)


def test_pinned_source_missing_fails_in_one_line(binary, server, bucket, mpoint):
    r = mount_fails(binary, server, bucket, mpoint, {}, "creds=web-identity")
    one_line_failure(r, "creds=web-identity: not configured")
    assert not is_mounted(mpoint)


def test_sts_refusal_fails_in_one_line(binary, server, bucket, mpoint, stub, tmp_path):
    token_file = tmp_path / "token"
    write_token(token_file, "eyJ.wrong")
    s = stub("--token-file", str(tmp_path / "other"))
    r = mount_fails(binary, server, bucket, mpoint, web_identity_env(s, token_file))
    line = one_line_failure(r, f"cannot get AWS credentials by web identity (role {ROLE}): "
                               "STS AssumeRoleWithWebIdentity answered HTTP 400 "
                               "InvalidIdentityToken: ")
    assert "eyJ.wrong" not in line


def test_container_plain_http_elsewhere_refused(binary, server, bucket, mpoint):
    r = mount_fails(binary, server, bucket, mpoint,
                    {"AWS_CONTAINER_CREDENTIALS_FULL_URI": "http://192.0.2.1/creds"})
    one_line_failure(r, "AWS_CONTAINER_CREDENTIALS_FULL_URI http://192.0.2.1/creds must be "
                        "https://")


def test_presigned_url_carries_session_token(aws_mount, stub, s3, bucket, server, tmp_path):
    """A URL signed with temporary credentials carries their session token,
    and the signature check accepts it only with it."""
    token_file = tmp_path / "token"
    write_token(token_file, "eyJ.presign." + uuid.uuid4().hex)
    s = stub("--token-file", str(token_file), "--session-name", "bfs-session")
    s3.put_object(Bucket=bucket, Key="shared", Body=b"temporary")
    m = aws_mount(bucket, web_identity_env(s, token_file))
    url = subprocess.run(["getfattr", "-n", "user.bucketfs.url", "--only-values", m.p("shared")],
                         capture_output=True, text=True, check=True).stdout
    m.close()
    assert "X-Amz-Security-Token=" in url
    r = subprocess.run(["curl", "-sS", url], capture_output=True, timeout=60)
    assert r.stdout == b"temporary"
    without = "&".join(p for p in url.split("&") if not p.startswith("X-Amz-Security-Token="))
    r = subprocess.run(["curl", "-sS", "-o", "/dev/null", "-w", "%{http_code}", without],
                       capture_output=True, text=True, timeout=60)
    assert r.stdout == "403"
