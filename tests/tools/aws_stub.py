#!/usr/bin/python3
"""Stand-ins for the AWS credential services, for the tests, on loopback
(plain HTTP, one port): STS (AssumeRoleWithWebIdentity and AssumeRole, the
query API's form POST answered in XML), a container credentials endpoint
(ECS / EKS Pod Identity) and the EC2 instance metadata service (IMDSv2).

Each checks every request exactly as the real service expects it and
records the mismatches:
  STS   POST /, Content-Type application/x-www-form-urlencoded, the form's
        Action, Version, RoleArn (--role-arn), RoleSessionName (--session-name
        if given); AssumeRoleWithWebIdentity: WebIdentityToken equal to the
        --token-file's contents at the time of the request (re-read each
        time), no Authorization; AssumeRole: SigV4 (service sts) checked with
        botocore's signer against --source-key AKID:SECRET[:TOKEN].
  container  GET --container-path, Authorization equal to --auth-token or
        to the --auth-token-file's contents at the time of the request.
  IMDS  PUT /latest/api/token with X-aws-ec2-metadata-token-ttl-seconds, then
        GETs of /latest/meta-data/iam/security-credentials/[ROLE] carrying
        that token in X-aws-ec2-metadata-token; a GET without it is 401.

  Keycloak  POST /realms/REALM/protocol/openid-connect/token, a refresh_token
        grant from client --kc-client-id with --kc-client-secret and the
        current refresh token (--kc-refresh-token, then each one it rotated
        to): a short-lived access token and a new refresh token. Without
        --token-file, STS takes these access tokens as web identity tokens;
        each is also written to --keys-file as a key id with secret "s3",
        as the S3 gateway of seed 002 takes them.

A good request gets fresh credentials living --lifetime seconds (default
5), each (key id, secret, token, expiry) appended to --keys-file as a JSON
line, which sigv4_proxy.py --keys-file reads to accept them until they
expire. Every request is appended to --record (JSON lines): kind, verdict,
what was issued. Those hold secrets: the tests grep bucketfs's log for them.

Prints "ready PORT" once listening; runs until stdin closes.
"""
import argparse
import json
import os
import secrets
import sys
import threading
import time
import urllib.parse
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

FORM_TYPE = "application/x-www-form-urlencoded"
STS_NS = "https://sts.amazonaws.com/doc/2011-06-15/"
IMDS_TOKEN_PATH = "/latest/api/token"
IMDS_ROLES = "/latest/meta-data/iam/security-credentials/"


def read_file(path):
    try:
        with open(path) as f:
            return f.read().strip()
    except OSError:
        return None


class Stub:
    def __init__(self, args):
        self.args = args
        self.lock = threading.Lock()
        self.issued = 0
        self.imds_tokens = set()
        self.kc_refresh = args.kc_refresh_token
        self.kc_access = set()

    def record(self, entry):
        with self.lock:
            with open(self.args.record, "a") as f:
                f.write(json.dumps(entry) + "\n")

    def mint(self, kind):
        with self.lock:
            self.issued += 1
            n = self.issued
        exp = int(time.time()) + self.args.lifetime
        # --stale N: the N'th says it lives, but the proxy takes it as expired,
        # as S3 would a revoked session.
        proxy_exp = int(time.time()) - 10 if n in self.args.stale else exp
        c = {"akid": f"ASIA{kind.upper()[:4]}{n:04d}{secrets.token_hex(4).upper()}",
             "secret": secrets.token_urlsafe(30),
             "token": f"{kind}/{n}/" + secrets.token_urlsafe(60),
             "expires": exp, "n": n}
        with self.lock:
            with open(self.args.keys_file, "a") as f:
                f.write(json.dumps(dict(c, expires=proxy_exp)) + "\n")
        return c


def iso(t):
    return datetime.fromtimestamp(t, timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    stub = None

    def log_message(self, fmt, *args):
        pass

    def send(self, status, body, ctype):
        data = body.encode()
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def body(self):
        n = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(n) if n else b""

    def handle_any(self):
        method = self.command
        body = self.body()
        path = self.path.partition("?")[0]
        entry = {"method": method, "path": self.path, "start": time.time(),
                 "headers": {k.lower(): v for k, v in self.headers.items()}}
        if path.endswith("/protocol/openid-connect/token"):
            entry["kind"] = "keycloak"
            status, text, ctype = self.keycloak(method, body, entry)
        elif path == "/" and method == "POST":
            entry["kind"] = "sts"
            status, text, ctype = self.sts(body, entry)
        elif path.startswith("/latest/"):
            entry["kind"] = "imds"
            status, text, ctype = self.imds(method, path, body, entry)
        else:
            entry["kind"] = "container"
            status, text, ctype = self.container(method, path, body, entry)
        entry["status"] = status
        entry["end"] = time.time()
        self.stub.record(entry)
        self.send(status, text, ctype)

    do_GET = do_POST = do_PUT = handle_any

    # ---- STS ----

    def sts_error(self, status, code, message):
        return status, (f'<ErrorResponse xmlns="{STS_NS}"><Error><Type>Sender</Type>'
                        f"<Code>{code}</Code><Message>{message}</Message></Error>"
                        f"<RequestId>stub</RequestId></ErrorResponse>"), "text/xml"

    def sigv4_ok(self, body):
        a = self.stub.args
        parts = a.source_key.split(":")
        auth = self.headers.get("Authorization", "")
        if not auth.startswith("AWS4-HMAC-SHA256 Credential=" + parts[0] + "/"):
            return "Authorization not by the source key"
        scope = auth.split("Credential=")[1].split(",")[0].split("/")
        if scope[3] != "sts":
            return f"signed for service {scope[3]}"
        signed = auth.split("SignedHeaders=")[1].split(",")[0].split(";")
        token = self.headers.get("X-Amz-Security-Token")
        if (token or None) != (parts[2] if len(parts) > 2 else None):
            return "session token of the source key missing or wrong"
        if token and "x-amz-security-token" not in signed:
            return "x-amz-security-token not signed"
        headers = {n: self.headers[n] for n in signed if n in self.headers}
        req = AWSRequest(method="POST", url=f"http://{self.headers['host']}/", data=body,
                         headers=headers)
        req.context["timestamp"] = self.headers.get("X-Amz-Date", "")
        signer = SigV4Auth(Credentials(parts[0], parts[1], token), "sts", scope[2])
        expected = signer.signature(signer.string_to_sign(req, signer.canonical_request(req)),
                                    req)
        if expected != auth.split("Signature=")[1]:
            return "signature does not match"
        return None

    def sts(self, body, entry):
        a = self.stub.args
        ctype = (self.headers.get("Content-Type") or "").split(";")[0].strip()
        try:
            pairs = urllib.parse.parse_qsl(body.decode(), keep_blank_values=True,
                                           strict_parsing=True)
        except (ValueError, UnicodeDecodeError):
            pairs = []
        form = dict(pairs)
        entry["form"] = form
        why = None
        action = form.get("Action")
        if len(form) != len(pairs):
            why = "a form field twice"
        elif ctype != FORM_TYPE:
            why = f"Content-Type {ctype!r}"
        elif form.get("Version") != "2011-06-15":
            why = f"Version {form.get('Version')!r}"
        elif action not in ("AssumeRoleWithWebIdentity", "AssumeRole"):
            why = f"Action {action!r}"
        elif not form.get("RoleSessionName"):
            why = "no RoleSessionName"
        elif a.session_name and form["RoleSessionName"] != a.session_name:
            why = f"RoleSessionName {form['RoleSessionName']!r}"
        elif action == "AssumeRoleWithWebIdentity":
            allowed = {"Action", "Version", "RoleArn", "RoleSessionName", "WebIdentityToken",
                       "DurationSeconds"}
            if set(form) - allowed:
                why = f"fields {sorted(set(form) - allowed)}"
            elif "Authorization" in self.headers:
                why = "AssumeRoleWithWebIdentity is not signed"
        else:
            allowed = {"Action", "Version", "RoleArn", "RoleSessionName", "ExternalId",
                       "DurationSeconds"}
            if set(form) - allowed:
                why = f"fields {sorted(set(form) - allowed)}"
            elif not a.source_key:
                why = "no --source-key"
            else:
                why = self.sigv4_ok(body)
        if not why and a.external_id is not None and \
                form.get("ExternalId") != a.external_id and action == "AssumeRole":
            why = f"ExternalId {form.get('ExternalId')!r}"
        entry["mismatch"] = why
        if why:
            return self.sts_error(400, "InvalidParameterValue", f"stub: {why}")
        if form["RoleArn"] != a.role_arn:
            entry["refused"] = "role"
            return self.sts_error(403, "AccessDenied",
                                  f"Not authorized to perform sts:{action}")
        if action == "AssumeRoleWithWebIdentity":
            current = read_file(a.token_file) if a.token_file else None
            entry["token_file"] = current
            with self.stub.lock:
                from_kc = not a.token_file and form.get("WebIdentityToken") in self.stub.kc_access
            if form.get("WebIdentityToken") != current and not from_kc:
                entry["refused"] = "token"
                return self.sts_error(400, "InvalidIdentityToken",
                                      "Couldn't retrieve verification key from your identity "
                                      "provider,  please reference AssumeRoleWithWebIdentity "
                                      "documentation for requirements")
        c = self.stub.mint("sts")
        entry["issued"] = c
        return 200, (f'<{action}Response xmlns="{STS_NS}"><{action}Result>'
                     f"<Credentials><AccessKeyId>{c['akid']}</AccessKeyId>"
                     f"<SecretAccessKey>{c['secret']}</SecretAccessKey>"
                     f"<SessionToken>{c['token']}</SessionToken>"
                     f"<Expiration>{iso(c['expires'])}</Expiration></Credentials>"
                     f"<AssumedRoleUser><Arn>{a.role_arn}/x</Arn><AssumedRoleId>AROA:x"
                     f"</AssumedRoleId></AssumedRoleUser></{action}Result>"
                     f"<ResponseMetadata><RequestId>stub-{c['n']}</RequestId>"
                     f"</ResponseMetadata></{action}Response>"), "text/xml"

    # ---- Keycloak ----

    def keycloak(self, method, body, entry):
        a = self.stub.args
        ctype = (self.headers.get("Content-Type") or "").split(";")[0].strip()
        form = dict(urllib.parse.parse_qsl(body.decode(), keep_blank_values=True))
        entry["form"] = form
        why = None
        if method != "POST" or ctype != FORM_TYPE:
            why = f"{method} {ctype!r}"
        elif form.get("grant_type") != "refresh_token":
            why = f"grant_type {form.get('grant_type')!r}"
        elif form.get("client_id") != a.kc_client_id:
            why = f"client_id {form.get('client_id')!r}"
        elif form.get("client_secret") != a.kc_client_secret:
            why = "client_secret"
        entry["mismatch"] = why
        if why:
            return 400, json.dumps({"error": "invalid_client"}), "application/json"
        with self.stub.lock:
            if form.get("refresh_token") != self.stub.kc_refresh:
                entry["refused"] = "refresh token"
                return 400, json.dumps({"error": "invalid_grant",
                                        "error_description": "Invalid refresh token"}), \
                    "application/json"
            access = "kc." + secrets.token_urlsafe(40)
            self.stub.kc_access.add(access)
            self.stub.kc_refresh = "rt." + secrets.token_urlsafe(30)
            refresh = self.stub.kc_refresh
        exp = int(time.time()) + a.lifetime
        with self.stub.lock:
            with open(a.keys_file, "a") as f:
                f.write(json.dumps({"akid": access, "secret": "s3", "token": None,
                                    "expires": exp}) + "\n")
        entry["issued_kc"] = {"access": access, "refresh": refresh}
        return 200, json.dumps({"access_token": access, "expires_in": a.lifetime,
                                "refresh_expires_in": 1800, "refresh_token": refresh,
                                "token_type": "Bearer", "scope": "openid"}), \
            "application/json"

    # ---- container credentials ----

    def container(self, method, path, body, entry):
        a = self.stub.args
        why = None
        if method != "GET":
            why = f"method {method}"
        elif body:
            why = "a body"
        elif path != a.container_path:
            why = f"path {path!r}"
        entry["mismatch"] = why
        if why:
            return 400, json.dumps({"Code": "InvalidRequest", "Message": why}), \
                "application/json"
        want = read_file(a.auth_token_file) if a.auth_token_file else a.auth_token
        got = self.headers.get("Authorization")
        entry["auth_expected"] = want
        if want != got:
            entry["refused"] = "auth"
            return 401, json.dumps({"Code": "AccessDeniedException",
                                    "Message": "Authorization token is not valid"}), \
                "application/json"
        c = self.stub.mint("ctr")
        entry["issued"] = c
        return 200, json.dumps({"AccessKeyId": c["akid"], "SecretAccessKey": c["secret"],
                                "Token": c["token"], "Expiration": iso(c["expires"]),
                                "RoleArn": a.role_arn}), "application/json"

    # ---- IMDSv2 ----

    def imds(self, method, path, body, entry):
        a = self.stub.args
        if path == IMDS_TOKEN_PATH:
            ttl = self.headers.get("X-aws-ec2-metadata-token-ttl-seconds")
            why = None
            if method != "PUT":
                why = f"method {method}"
            elif not ttl or not ttl.isdigit() or not 1 <= int(ttl) <= 21600:
                why = f"ttl header {ttl!r}"
            elif "X-Forwarded-For" in self.headers:
                why = "X-Forwarded-For"
            entry["mismatch"] = why
            if why:
                return 400, "", "text/plain"
            token = "imds-" + secrets.token_urlsafe(32)
            with self.stub.lock:
                self.stub.imds_tokens.add(token)
            entry["imds_token"] = token
            return 200, token, "text/plain"
        why = None
        if method != "GET":
            why = f"method {method}"
        entry["mismatch"] = why
        if why:
            return 400, "", "text/plain"
        token = self.headers.get("X-aws-ec2-metadata-token")
        with self.stub.lock:
            known = token in self.stub.imds_tokens
        if not known:
            entry["refused"] = "imds token"
            return 401, "", "text/plain"
        if path == IMDS_ROLES:
            return 200, a.imds_role, "text/plain"
        if path != IMDS_ROLES + a.imds_role:
            return 404, "", "text/plain"
        c = self.stub.mint("imds")
        entry["issued"] = c
        return 200, json.dumps({"Code": "Success", "LastUpdated": iso(time.time()),
                                "Type": "AWS-HMAC", "AccessKeyId": c["akid"],
                                "SecretAccessKey": c["secret"], "Token": c["token"],
                                "Expiration": iso(c["expires"])}, indent=2), "text/plain"


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--record", required=True)
    p.add_argument("--keys-file", required=True)
    p.add_argument("--role-arn", default="arn:aws:iam::123456789012:role/bucketfs-test")
    p.add_argument("--session-name", default=None)
    p.add_argument("--token-file", default=None, help="the web identity token file")
    p.add_argument("--source-key", default=None, help="AKID:SECRET[:TOKEN] for AssumeRole")
    p.add_argument("--external-id", default=None)
    p.add_argument("--container-path", default="/v2/credentials/task-1")
    p.add_argument("--auth-token", default=None)
    p.add_argument("--auth-token-file", default=None)
    p.add_argument("--imds-role", default="bucketfs-instance-role")
    p.add_argument("--kc-client-id", default="ua")
    p.add_argument("--kc-client-secret", default=None)
    p.add_argument("--kc-refresh-token", default=None)
    p.add_argument("--stale", type=int, action="append", default=[],
                   help="credentials number N are refused by the proxy as expired")
    p.add_argument("--lifetime", type=int, default=5, help="seconds credentials live")
    args = p.parse_args()
    Handler.stub = Stub(args)
    srv = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    srv.daemon_threads = True
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    print(f"ready {srv.server_address[1]}", flush=True)
    try:
        sys.stdin.read()
    except KeyboardInterrupt:
        pass
    os._exit(0)


if __name__ == "__main__":
    main()
