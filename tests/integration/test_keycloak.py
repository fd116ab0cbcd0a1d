"""packaging/keycloak-credential-process, as a profile's credential_process:
a Keycloak refresh token traded for short-lived access tokens, then (mode
sts) for S3 credentials at STS, or (mode direct) used as the access key id
with the secret "s3", as seed 002's S3 gateway takes them. The stand-in
(tests/tools/aws_stub.py) plays Keycloak and STS; credentials live 4 s, so
the mount runs the script again and again, and Keycloak's rotated refresh
token must be kept each time."""
import os
import stat
import time
import uuid

import pytest

from conftest import ROOT
from test_aws_creds import (ROLE, assert_no_secrets, assert_proxy_clean, aws_mount,  # noqa: F401
                            home, proxy_baseline, round_trip, stub)

SCRIPT = os.path.join(ROOT, "packaging", "keycloak-credential-process")


@pytest.mark.parametrize("mode", ["sts", "direct"])
def test_keycloak_credential_process(mode, aws_mount, stub, s3, bucket, server, home, tmp_path):
    client_secret = "kc-client-" + uuid.uuid4().hex
    refresh = "rt.first." + uuid.uuid4().hex
    s = stub("--kc-client-secret", client_secret, "--kc-refresh-token", refresh,
             "--lifetime", "4")
    cs, rt = tmp_path / "client-secret", tmp_path / "refresh-token"
    cs.write_text(client_secret + "\n")
    rt.write_text(refresh + "\n")
    cs.chmod(0o600)
    rt.chmod(0o600)
    cmd = (f"{SCRIPT} --token-url {s.url}/realms/UA/protocol/openid-connect/token "
           f"--client-id ua --client-secret-file {cs} --refresh-token-file {rt} --mode {mode}")
    if mode == "sts":
        cmd += f" --sts-endpoint {s.url} --role-arn {ROLE}"
    (home / ".aws" / "config").write_text(f"[profile pcai]\ncredential_process = {cmd}\n")
    m = aws_mount(bucket, {}, opts=["profile=pcai", "stat_ttl=0", "list_ttl=0"])
    round_trip(m, s3, bucket, "kc1")
    end = time.time() + 30
    while len(s.requests("keycloak")) < 3:
        assert time.time() < end
        os.listdir(m.path)
        time.sleep(0.3)
    round_trip(m, s3, bucket, "kc2")
    kc = [r["issued_kc"] for r in s.requests("keycloak") if "issued_kc" in r]
    assert_no_secrets(m, [client_secret, refresh] + [k["access"] for k in kc] +
                      [k["refresh"] for k in kc] + s.secrets())
    s.assert_clean()
    assert_proxy_clean(server)
    # The rotated refresh token was kept, privately.
    assert rt.read_text().strip() == kc[-1]["refresh"]
    assert stat.S_IMODE(os.stat(rt).st_mode) == 0o600
    if mode == "sts":
        assert len(s.requests("sts")) >= 3
    else:
        assert s.requests("sts") == []


def test_keycloak_script_refuses_readable_secret(tmp_path):
    import subprocess
    rt = tmp_path / "rt"
    rt.write_text("x\n")
    rt.chmod(0o644)
    r = subprocess.run([SCRIPT, "--token-url", "http://127.0.0.1:9/t", "--refresh-token-file",
                        str(rt), "--mode", "direct"], capture_output=True, text=True)
    assert r.returncode == 1
    assert r.stderr.strip() == (f"keycloak-credential-process: refresh token file {rt} is "
                                "readable by group or others (chmod 600 it)")
