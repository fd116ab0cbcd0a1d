#!/usr/bin/env python3
"""A stand-in for Microsoft Entra ID's token endpoints, for the tests: the
instance metadata service (IMDS, plain HTTP, as on an Azure VM) and the
v2.0 token endpoint of a tenant (HTTPS), both on loopback.

It checks every request exactly as the real services expect it (method,
path, query, headers, form fields, each once) and, for workload identity,
that the client assertion is the federated token file's contents at the
time of the request. A request that passes gets a token; one that does not
gets the error the real service would give (AADSTS codes), and the
mismatch is recorded.

Tokens are unsigned JWTs ("alg": "none") with the claims azurite's basic
OAuth checks (aud https://storage.azure.com, iss https://sts.windows.net/
TENANT/, nbf, iat, exp): azurite does not check signatures, so it accepts
them while they are unexpired, and refuses them after. They live --lifetime
seconds (default 4), so that a test of a few seconds sees several refreshes.

Every request is appended to --record (JSON lines): kind ("imds" or
"entra"), time it started and ended, the check's verdict, the form fields
and the token issued. Those hold secrets: that is the point, the tests grep
bucketfs's log for them.

Usage: entra_stub.py --cert PEM --key PEM --record FILE [options]
Prints "ready HTTP_PORT HTTPS_PORT" once listening.
"""
import argparse
import base64
import json
import math
import os
import ssl
import sys
import threading
import time
import urllib.parse
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

IMDS_PATH = "/metadata/identity/oauth2/token"
RESOURCE = "https://storage.azure.com/"
SCOPE = "https://storage.azure.com/.default"
ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
FORM_TYPE = "application/x-www-form-urlencoded"


def b64url(data):
    return base64.urlsafe_b64encode(json.dumps(data, separators=(",", ":")).encode()
                                    ).rstrip(b"=").decode()


class Stub:
    def __init__(self, args):
        self.args = args
        self.lock = threading.Lock()
        self.issued = 0
        self.stale = set(args.stale)
        self.valid = 0
        self.fail_left = args.fail_count

    def record(self, entry):
        with self.lock:
            with open(self.args.record, "a") as f:
                f.write(json.dumps(entry) + "\n")

    def mint(self, client_id):
        """A token for client_id, and its lifetime in seconds."""
        with self.lock:
            self.issued += 1
            n = self.issued
        now = time.time()
        life = self.args.lifetime
        exp = math.ceil(now + life)
        if n in self.stale:
            # Says it lives `life` seconds, but azurite sees it expired: as a
            # token revoked or cut short would be.
            exp = int(now) - 10
        claims = {
            "aud": "https://storage.azure.com", "iss": f"https://sts.windows.net/{self.args.tenant}/",
            "iat": int(now), "nbf": int(now) - 300, "exp": exp, "appid": client_id or "system",
            "tid": self.args.tenant, "oid": str(uuid.uuid4()), "uti": f"bfs-{n}-{uuid.uuid4().hex}",
        }
        token = b64url({"alg": "none", "typ": "JWT"}) + "." + b64url(claims) + "."
        return n, token, life

    def take_failure(self):
        """Whether to answer this valid request with the injected error:
        --fail-count of them, from the --fail-from'th on."""
        with self.lock:
            self.valid += 1
            if self.valid >= self.args.fail_from and self.fail_left:
                self.fail_left -= 1
                return True
        return False


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    stub = None  # set by main

    def log_message(self, fmt, *args):
        if self.stub.args.verbose:
            sys.stderr.write("entra_stub: " + (fmt % args) + "\n")

    def answer(self, status, body):
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json; charset=utf-8")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def body(self):
        n = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(n) if n else b""

    def do_GET(self):
        self.handle_any("GET")

    def do_POST(self):
        self.handle_any("POST")

    def do_PUT(self):
        self.handle_any("PUT")

    def handle_any(self, method):
        start = time.time()
        body = self.body()
        https = isinstance(self.connection, ssl.SSLSocket)
        path, _, query = self.path.partition("?")
        entry = {"method": method, "path": path, "query": query, "https": https,
                 "start": start}
        if path == IMDS_PATH:
            entry["kind"] = "imds"
            status, answer = self.imds(method, query, body, https, entry)
        else:
            entry["kind"] = "entra"
            status, answer = self.entra(method, path, query, body, https, entry)
        if self.stub.args.delay:
            time.sleep(self.stub.args.delay)
        entry["status"] = status
        entry["end"] = time.time()
        self.stub.record(entry)
        self.answer(status, answer)

    def imds(self, method, query, body, https, entry):
        a = self.stub.args
        want = {"api-version": "2018-02-01", "resource": RESOURCE}
        q = urllib.parse.parse_qs(query, keep_blank_values=True)
        client_id = q.get("client_id", [None])[0]
        if client_id is not None:
            want["client_id"] = client_id
        expect_query = urllib.parse.urlencode(want, quote_via=urllib.parse.quote, safe="")
        why = None
        if https:
            why = "IMDS is plain HTTP"
        elif method != "GET":
            why = f"method {method}"
        elif self.headers.get("Metadata") != "true":
            why = f"Metadata header {self.headers.get('Metadata')!r}"
        elif body:
            why = "a body"
        elif query != expect_query:
            why = f"query {query!r}, expected {expect_query!r}"
        elif any(len(v) != 1 for v in q.values()):
            why = "a repeated parameter"
        entry["client_id"] = client_id
        entry["mismatch"] = why
        if why:
            return 400, {"error": "invalid_request", "error_description": f"stub: {why}"}
        if (client_id or "") not in a.msi_client_id:
            entry["refused"] = "identity"
            return 400, {"error": "invalid_request", "error_description": "Identity not found"}
        if self.stub.take_failure():
            entry["refused"] = "injected"
            return a.fail_status, {"error": a.fail_error,
                                   "error_description": a.fail_description}
        n, token, life = self.stub.mint(client_id)
        now = int(time.time())
        entry.update(issued=n, token=token)
        # IMDS writes its numbers as strings.
        return 200, {"access_token": token, "client_id": client_id or "system-assigned-id",
                     "expires_in": str(life), "expires_on": str(now + life),
                     "ext_expires_in": str(life), "not_before": str(now - 300),
                     "resource": RESOURCE, "token_type": "Bearer"}

    def entra(self, method, path, query, body, https, entry):
        a = self.stub.args
        why = None
        form = {}
        try:
            pairs = urllib.parse.parse_qsl(body.decode(), keep_blank_values=True,
                                           strict_parsing=True) if body else []
        except (ValueError, UnicodeDecodeError) as e:
            pairs, why = [], f"form not parsable: {e}"
        for k, v in pairs:
            if k in form:
                why = why or f"{k} twice"
            form[k] = v
        entry["form"] = form
        ctype = (self.headers.get("Content-Type") or "").split(";")[0].strip()
        if not https:
            why = why or "the token endpoint is HTTPS only"
        elif method != "POST":
            why = why or f"method {method}"
        elif query:
            why = why or f"a query {query!r}"
        elif path != f"/{a.tenant}/oauth2/v2.0/token":
            entry["refused"] = "tenant"
            return 400, {"error": "invalid_request", "error_description":
                         f"AADSTS90002: Tenant '{path.split('/')[1]}' not found.\r\n"
                         f"Trace ID: {uuid.uuid4()}\r\nCorrelation ID: {uuid.uuid4()}",
                         "error_codes": [90002]}
        elif ctype != FORM_TYPE:
            why = why or f"Content-Type {ctype!r}"
        secret_form = {"client_id", "scope", "grant_type", "client_secret"}
        assertion_form = {"client_id", "scope", "grant_type", "client_assertion_type",
                          "client_assertion"}
        if not why and set(form) not in (secret_form, assertion_form):
            why = f"form fields {sorted(form)}"
        if not why and form["scope"] != SCOPE:
            why = f"scope {form['scope']!r}"
        if not why and form["grant_type"] != "client_credentials":
            why = f"grant_type {form['grant_type']!r}"
        if not why and "client_assertion" in form and \
                form["client_assertion_type"] != ASSERTION_TYPE:
            why = f"client_assertion_type {form['client_assertion_type']!r}"
        entry["mismatch"] = why
        if why:
            return 400, {"error": "invalid_request", "error_description": f"stub: {why}",
                         "error_codes": [900144]}
        if form["client_id"] != a.client_id:
            entry["refused"] = "client_id"
            return 400, {"error": "unauthorized_client", "error_description":
                         f"AADSTS700016: Application with identifier '{form['client_id']}' "
                         "was not found in the directory.\r\nTrace ID: x",
                         "error_codes": [700016]}
        if "client_secret" in form:
            if a.secret is None or form["client_secret"] != a.secret:
                entry["refused"] = "secret"
                return 401, {"error": "invalid_client", "error_description":
                             "AADSTS7000215: Invalid client secret provided. Ensure the secret "
                             "being sent in the request is the client secret value, not the "
                             f"client secret ID.\r\nTrace ID: {uuid.uuid4()}\r\n"
                             f"Correlation ID: {uuid.uuid4()}\r\nTimestamp: 2024-01-01 00:00:00Z",
                             "error_codes": [7000215], "trace_id": str(uuid.uuid4())}
        else:
            try:
                with open(a.token_file) as f:
                    current = f.read().strip()
            except OSError:
                current = None
            entry["assertion_file"] = current
            if a.token_file is None or form["client_assertion"] != current:
                entry["refused"] = "assertion"
                return 401, {"error": "invalid_client", "error_description":
                             "AADSTS700213: No matching federated identity record found for "
                             "presented assertion subject.\r\nTrace ID: x",
                             "error_codes": [700213]}
        if self.stub.take_failure():
            entry["refused"] = "injected"
            return a.fail_status, {"error": a.fail_error,
                                   "error_description": a.fail_description}
        n, token, life = self.stub.mint(form["client_id"])
        entry.update(issued=n, token=token)
        return 200, {"token_type": "Bearer", "expires_in": life, "ext_expires_in": life,
                     "access_token": token}


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--cert", required=True)
    p.add_argument("--key", required=True)
    p.add_argument("--record", required=True)
    p.add_argument("--tenant", default="72f988bf-86f1-41af-91ab-2d7cd011db47")
    p.add_argument("--client-id", default="0b1e9c4f-1c2d-4e5f-8a9b-0c1d2e3f4a5b")
    p.add_argument("--secret", default=None, help="the service principal's secret")
    p.add_argument("--token-file", default=None, help="the federated token file")
    p.add_argument("--msi-client-id", action="append", default=[],
                   help="a managed identity IMDS serves ('' for the system-assigned)")
    p.add_argument("--lifetime", type=int, default=4, help="seconds a token lives")
    p.add_argument("--stale", type=int, action="append", default=[],
                   help="issue token number N already expired (for azurite)")
    p.add_argument("--delay", type=float, default=0.0, help="seconds before each answer")
    p.add_argument("--fail-count", type=int, default=0,
                   help="answer N valid requests with --fail-status")
    p.add_argument("--fail-from", type=int, default=1,
                   help="the first valid request (1-based) that --fail-count hits")
    p.add_argument("--fail-status", type=int, default=503)
    p.add_argument("--fail-error", default="temporarily_unavailable")
    p.add_argument("--fail-description", default="AADSTS90033: try again later")
    p.add_argument("--verbose", action="store_true")
    args = p.parse_args()

    Handler.stub = Stub(args)
    plain = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    tls = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(args.cert, args.key)
    tls.socket = ctx.wrap_socket(tls.socket, server_side=True)
    for s in (plain, tls):
        s.daemon_threads = True
        threading.Thread(target=s.serve_forever, daemon=True).start()
    print(f"ready {plain.server_address[1]} {tls.server_address[1]}", flush=True)
    try:
        sys.stdin.read()  # until the test closes our stdin
    except KeyboardInterrupt:
        pass
    os._exit(0)


if __name__ == "__main__":
    main()
