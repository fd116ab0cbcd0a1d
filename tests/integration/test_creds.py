"""Where credentials come from, and that secrets stay out of argv and logs."""
import os
import subprocess

import pytest

from conftest import KEY, SECRET, clean_env, get_object, is_mounted, run_bucketfs


@pytest.fixture
def home(tmp_path):
    h = tmp_path / "home"
    (h / ".aws").mkdir(parents=True)
    return h


def mount(binary, server, bucket, mpoint, env, *opts):
    o = ",".join([f"endpoint={server.endpoint}"] + list(opts))
    return run_bucketfs(binary, [f"s3://{bucket}", mpoint, "-o", o], env=env)


def assert_works(r, mpoint, s3, bucket):
    assert r.returncode == 0, r.stderr
    with open(os.path.join(mpoint, "probe"), "w") as f:
        f.write("p")
    assert get_object(s3, bucket, "probe") == b"p"


def test_default_profile(binary, server, s3, bucket, mpoint, home):
    (home / ".aws" / "credentials").write_text(
        f"[default]\naws_access_key_id = {KEY}\naws_secret_access_key = {SECRET}\n")
    r = mount(binary, server, bucket, mpoint, clean_env(str(home)))
    assert_works(r, mpoint, s3, bucket)


def test_aws_profile_from_config_file(binary, server, s3, bucket, mpoint, home, tmp_path):
    cfg = tmp_path / "elsewhere.cfg"
    cfg.write_text(f"[profile team]\naws_access_key_id={KEY}\naws_secret_access_key={SECRET}\n")
    env = clean_env(str(home))
    env.update(AWS_PROFILE="team", AWS_CONFIG_FILE=str(cfg))
    assert_works(mount(binary, server, bucket, mpoint, env), mpoint, s3, bucket)


def test_profile_option_and_shared_credentials_file(binary, server, s3, bucket, mpoint, home,
                                                     tmp_path):
    creds = tmp_path / "creds"
    creds.write_text(f"[p]\naws_access_key_id={KEY}\naws_secret_access_key={SECRET}\n")
    env = clean_env(str(home))
    env.update(AWS_SHARED_CREDENTIALS_FILE=str(creds),
               AWS_ACCESS_KEY_ID="WRONG", AWS_SECRET_ACCESS_KEY="WRONG")
    assert_works(mount(binary, server, bucket, mpoint, env, "profile=p"), mpoint, s3, bucket)


def test_session_token_is_signed(binary, server, s3, bucket, mpoint, home):
    env = clean_env(str(home))
    env.update(AWS_ACCESS_KEY_ID=KEY, AWS_SECRET_ACCESS_KEY=SECRET,
               AWS_SESSION_TOKEN="FwoGZXIvYXdzEXAMPLETOKEN")
    assert_works(mount(binary, server, bucket, mpoint, env), mpoint, s3, bucket)


def test_passwd_file_bucket_line(binary, server, s3, bucket, mpoint, home, tmp_path):
    pw = tmp_path / "pw"
    pw.write_text(f"WRONG:WRONG\n{bucket}:{KEY}:{SECRET}\n")
    pw.chmod(0o600)
    r = mount(binary, server, bucket, mpoint, clean_env(str(home)), f"passwd_file={pw}")
    assert_works(r, mpoint, s3, bucket)


def test_home_passwd_s3fs(binary, server, s3, bucket, mpoint, home):
    pw = home / ".passwd-s3fs"
    pw.write_text(f"{KEY}:{SECRET}\n")
    pw.chmod(0o600)
    assert_works(mount(binary, server, bucket, mpoint, clean_env(str(home))), mpoint, s3, bucket)


def test_readable_passwd_file_refused(binary, server, bucket, mpoint, home, tmp_path):
    pw = tmp_path / "pw"
    pw.write_text(f"{KEY}:{SECRET}\n")
    pw.chmod(0o644)
    r = mount(binary, server, bucket, mpoint, clean_env(str(home)), f"passwd_file={pw}")
    assert r.returncode == 1
    assert r.stderr.strip() == \
        f"bucketfs: password file {pw} is readable by group or others (chmod 600 it)"
    assert not is_mounted(mpoint)


def test_anonymous_public_bucket(binary, server, s3, bucket, mpoint, home):
    s3.put_object(Bucket=bucket, Key="public.txt", Body=b"anyone")
    r = mount(binary, server, bucket, mpoint, clean_env(str(home)), "ro")
    assert r.returncode == 0, r.stderr
    with open(os.path.join(mpoint, "public.txt")) as f:
        assert f.read() == "anyone"


def test_secrets_not_in_argv_or_debug_log(mount_factory, bucket, server):
    m = mount_factory(bucket, log_level="debug",
                      env={"AWS_SESSION_TOKEN": "TOKEN-must-not-leak-1234"})
    with open(m.p("f"), "w") as f:
        f.write("x" * 5000)
    with open(m.p("f")) as f:
        f.read()
    os.listdir(m.path)
    with open(f"/proc/{m.proc.pid}/cmdline", "rb") as f:
        cmdline = f.read()
    m.close()
    log = m.read_log()
    assert "GET" in log or "PUT" in log, "the debug log should show requests"
    for secret in (SECRET, "TOKEN-must-not-leak-1234"):
        assert secret.encode() not in cmdline
        assert secret not in log
    assert "Signature=" not in log
    ps = subprocess.run(["ps", "-eo", "args"], capture_output=True, text=True).stdout
    assert SECRET not in ps
