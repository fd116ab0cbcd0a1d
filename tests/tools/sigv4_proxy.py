#!/usr/bin/python3
"""A reverse proxy that checks AWS SigV4 header signatures with botocore's
signer (an implementation independent of bucketfs), in front of s3rver,
which checks only that the access key id exists.

  sigv4_proxy.py --listen 127.0.0.1:0 --upstream 127.0.0.1:4568 \\
      [--upstream-key S3RVER] [--allow-anonymous] [--stats FILE] [--faults FILE]

The accepted keys come from SIGV4_PROXY_KEYS="AKID:SECRET[,AKID:SECRET...]"
in the environment, so that no secret shows in ps, and from --keys-file
FILE: JSON lines {"akid", "secret", "token", "expires"} that the credential
stand-ins (aws_stub.py) append as they hand out temporary credentials. A
request signed with one of those must carry exactly its session token
(x-amz-security-token, signed) and arrive before it expires (else 400
ExpiredToken, as AWS answers).

Presigned URLs (the signature in the query: X-Amz-Algorithm, -Credential,
-Date, -Expires, -SignedHeaders, -Signature) are checked the same way,
with botocore's S3SigV4QueryAuth: past X-Amz-Date + X-Amz-Expires one gets
403 AccessDenied "Request has expired", an X-Amz-Expires over 7 days 400
AuthorizationQueryParametersError. A good one is forwarded without its
X-Amz-* query (s3rver takes it as anonymous).

Prints "ready PORT" once listening. A request signed with an unknown key id
gets 403 InvalidAccessKeyId; a signature botocore does not reproduce gets
403 SignatureDoesNotMatch; a body whose SHA-256 differs from
x-amz-content-sha256 gets 400 XAmzContentSHA256Mismatch. Good requests are
forwarded with the key id swapped for --upstream-key.

--record-headers FILE appends a JSON line per request passed on: its kind
("PUT part", "COPY", ...), its x-amz-* headers (but the date, payload hash
and session token) and the names it signed, for tests of what options add.

--faults FILE holds a JSON list of rules, read before each request:
  {"method": "PUT", "path": "substring", "status": 503, "code": "SlowDown",
   "count": 2}              answer with this error `count` times
  {"method": "GET", "reset": true, "count": 1}   close the connection instead
  "headers": {"x-amz-bucket-region": "eu-west-1"} adds headers to the answer
Matching rules are decremented and the file rewritten.

UploadPartCopy, which s3rver lacks (501), is done here with what s3rver
has: a ranged GET of the source (honouring x-amz-copy-source-if-match) and
an UploadPart of its bytes. Its requests count as "PUT part-copy". A fault
rule with "copy": true matches only such requests (to answer 501 as s3rver
would).
"""
import argparse
import fcntl
import hashlib
import hmac
import http.client
import http.server
import json
import os
import re
import sys
import threading
import time
import urllib.parse
from datetime import datetime, timezone

from botocore.auth import S3SigV4Auth, S3SigV4QueryAuth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

AUTH_RE = re.compile(
    r"^AWS4-HMAC-SHA256\s+Credential=([^/,\s]+)/(\d{8})/([^/]+)/([^/]+)/aws4_request\s*,\s*"
    r"SignedHeaders=([^,\s]+)\s*,\s*Signature=([0-9a-f]{64})$")
HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "te", "trailer", "upgrade",
              "proxy-connection"}


class State:
    def __init__(self, args):
        pairs = [p for p in os.environ.get("SIGV4_PROXY_KEYS", "").split(",") if p]
        self.keys = dict(k.split(":", 1) for k in pairs)
        self.keys_file = args.keys_file
        self.headers_file = args.record_headers
        self.temporary = {}  # akid -> (secret, token, expires), from keys_file
        self.upstream = args.upstream.rsplit(":", 1)
        self.upstream_key = args.upstream_key
        self.allow_anonymous = args.allow_anonymous
        self.stats_file = args.stats
        self.faults_file = args.faults
        self.lock = threading.Lock()
        self.verified = 0
        self.anonymous = 0
        self.presigned = 0
        self.rejected = {}
        self.faults_injected = 0
        self.kinds = {}

    def count(self, what, kind=None):
        with self.lock:
            if kind:
                self.kinds[kind] = self.kinds.get(kind, 0) + 1
            if what == "verified":
                self.verified += 1
            elif what == "anonymous":
                self.anonymous += 1
            elif what == "presigned":
                self.presigned += 1
            elif what == "fault":
                self.faults_injected += 1
            else:
                self.rejected[what] = self.rejected.get(what, 0) + 1
            if self.stats_file:
                tmp = self.stats_file + ".tmp"
                with open(tmp, "w") as f:
                    json.dump({"verified": self.verified, "anonymous": self.anonymous,
                               "presigned": self.presigned,
                               "rejected": self.rejected,
                               "faults_injected": self.faults_injected,
                               "requests": self.kinds}, f)
                os.replace(tmp, self.stats_file)

    def record_headers(self, method, path, headers):
        if not self.headers_file:
            return
        kind = "COPY" if "x-amz-copy-source" in headers else request_kind(method, path)
        skip = {"x-amz-date", "x-amz-content-sha256", "x-amz-security-token"}
        amz = {k.lower(): v for k, v in headers.items()
               if k.lower().startswith("x-amz-") and k.lower() not in skip}
        m = AUTH_RE.match(headers.get("Authorization", "").strip())
        entry = {"method": method, "kind": kind, "headers": amz,
                 "signed": m.group(5).split(";") if m else []}
        with self.lock:
            with open(self.headers_file, "a") as f:
                f.write(json.dumps(entry) + "\n")

    def lookup(self, akid):
        """(secret, token or None, expiry or None) for a key id, or None."""
        if akid in self.keys:
            return self.keys[akid], None, None
        with self.lock:
            if akid not in self.temporary and self.keys_file:
                try:
                    with open(self.keys_file) as f:
                        for line in f:
                            c = json.loads(line)
                            self.temporary[c["akid"]] = (c["secret"], c["token"],
                                                         c["expires"])
                except (FileNotFoundError, ValueError):
                    pass
            return self.temporary.get(akid)

    def take_fault(self, method, path, copy=False):
        if not self.faults_file:
            return None
        # The lock file keeps the test's own rewrite of the rules (inject)
        # from landing between this read and this write: a cleared rule
        # would come back.
        with self.lock, open(self.faults_file + ".lock", "a") as lk:
            fcntl.flock(lk, fcntl.LOCK_EX)
            try:
                with open(self.faults_file) as f:
                    rules = json.load(f)
            except (FileNotFoundError, ValueError):
                return None
            for r in rules:
                if r.get("count", 0) <= 0:
                    continue
                if r.get("method") and r["method"] != method:
                    continue
                if r.get("path") and r["path"] not in path:
                    continue
                if r.get("copy") and not copy:
                    continue
                r["count"] -= 1
                tmp = self.faults_file + ".tmp"
                with open(tmp, "w") as f:
                    json.dump(rules, f)
                os.replace(tmp, self.faults_file)
                return r
        return None


def s3_error(code, message):
    return (f'<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>{code}</Code>'
            f"<Message>{message}</Message><RequestId>sigv4-proxy</RequestId></Error>").encode()


QUERY_AUTH = ("X-Amz-Algorithm", "X-Amz-Credential", "X-Amz-Date", "X-Amz-Expires",
              "X-Amz-SignedHeaders", "X-Amz-Signature", "X-Amz-Security-Token")


def split_presigned(raw_path):
    """(path without the query auth, {auth params}) of a presigned URL, or
    (raw_path, None)."""
    path, _, query = raw_path.partition("?")
    pairs = urllib.parse.parse_qsl(query, keep_blank_values=True)
    auth = {k: v for k, v in pairs if k in QUERY_AUTH}
    if "X-Amz-Signature" not in auth:
        return raw_path, None
    rest = urllib.parse.urlencode([(k, v) for k, v in pairs if k not in QUERY_AUTH],
                                  quote_via=urllib.parse.quote, safe="-_.~")
    return path + ("?" + rest if rest else ""), auth


def check_key(state, akid, token_sent):
    """(error or None, secret, expiry) for a key id and the token sent with it."""
    known = state.lookup(akid)
    if not known:
        return (403, "InvalidAccessKeyId",
                "The AWS Access Key Id you provided does not exist"), None, None
    secret, token, expires = known
    if token is not None and token_sent != token:
        return (403, "InvalidToken",
                "The provided token is malformed or otherwise invalid."), None, None
    return None, secret, expires


def verify_presigned(state, method, stripped, auth, headers):
    if auth.get("X-Amz-Algorithm") != "AWS4-HMAC-SHA256" or \
            auth.get("X-Amz-SignedHeaders") != "host":
        return 400, "AuthorizationQueryParametersError", "bad X-Amz-Algorithm or -SignedHeaders"
    try:
        akid, date, region, service, term = auth["X-Amz-Credential"].split("/")
        expires = int(auth["X-Amz-Expires"])
        t = datetime.strptime(auth["X-Amz-Date"], "%Y%m%dT%H%M%SZ").replace(
            tzinfo=timezone.utc)
    except (KeyError, ValueError):
        return 400, "AuthorizationQueryParametersError", "malformed query authentication"
    if not 1 <= expires <= 604800:
        return 400, "AuthorizationQueryParametersError", \
            "X-Amz-Expires must be less than a week (in seconds) that is 604800"
    bad, secret, exp = check_key(state, akid, auth.get("X-Amz-Security-Token"))
    if bad:
        return bad
    if time.time() > t.timestamp() + expires or (exp is not None and time.time() >= exp):
        return 403, "AccessDenied", "Request has expired"
    req = AWSRequest(method=method, url=f"http://{headers['host']}{stripped}",
                     headers={"host": headers["host"]}, data=b"")
    req.context["timestamp"] = auth["X-Amz-Date"]
    signer = S3SigV4QueryAuth(Credentials(akid, secret, auth.get("X-Amz-Security-Token")),
                              service, region, expires=expires)
    # add_auth() would sign at the current time: its steps, at X-Amz-Date.
    signer._modify_request_before_signing(req)
    expected = signer.signature(signer.string_to_sign(req, signer.canonical_request(req)), req)
    if not hmac.compare_digest(expected, auth["X-Amz-Signature"]):
        return 403, "SignatureDoesNotMatch", "The request signature we calculated does not match"
    return None


def verify(state, method, raw_path, headers, body):
    """Returns None when the request may go on, else (status, code, message)."""
    auth = headers.get("Authorization")
    stripped, query_auth = split_presigned(raw_path)
    if not auth and query_auth:
        return verify_presigned(state, method, stripped, query_auth, headers)
    if not auth:
        if state.allow_anonymous:
            return None
        return 403, "AccessDenied", "anonymous requests are not allowed here"
    m = AUTH_RE.match(auth.strip())
    if not m:
        return 400, "AuthorizationHeaderMalformed", "malformed Authorization header"
    akid, date, region, service, signed, signature = m.groups()
    bad, secret, expires = check_key(state, akid, headers.get("x-amz-security-token"))
    if bad:
        return bad
    if expires is not None and time.time() >= expires:
        return 400, "ExpiredToken", "The provided token has expired."
    amz_date = headers.get("x-amz-date", "")
    try:
        t = datetime.strptime(amz_date, "%Y%m%dT%H%M%SZ").replace(tzinfo=timezone.utc)
    except ValueError:
        return 403, "AccessDenied", "missing or bad x-amz-date"
    if abs(time.time() - t.timestamp()) > 900:
        return 403, "RequestTimeTooSkewed", "x-amz-date is more than 15 minutes off"
    if not amz_date.startswith(date):
        return 403, "SignatureDoesNotMatch", "credential scope date differs from x-amz-date"
    names = signed.split(";")
    if "host" not in names or "x-amz-content-sha256" not in names:
        return 403, "SignatureDoesNotMatch", "host and x-amz-content-sha256 must be signed"
    if "x-amz-security-token" in headers and "x-amz-security-token" not in names:
        return 403, "SignatureDoesNotMatch", "x-amz-security-token is not signed"
    payload = headers.get("x-amz-content-sha256", "")
    if payload != "UNSIGNED-PAYLOAD" and payload != hashlib.sha256(body).hexdigest():
        return 400, "XAmzContentSHA256Mismatch", "body does not match x-amz-content-sha256"

    # botocore recomputes the signature from what was actually received.
    signed_headers = {}
    for n in names:
        if n not in headers:
            return 403, "SignatureDoesNotMatch", f"signed header {n} is missing"
        signed_headers[n] = ",".join(headers.get_all(n))
    req = AWSRequest(method=method, url=f"http://{headers['host']}{raw_path}",
                     headers=signed_headers, data=b"")
    req.context["timestamp"] = amz_date
    signer = S3SigV4Auth(Credentials(akid, secret,
                                     headers.get("x-amz-security-token")), service, region)
    canonical = signer.canonical_request(req)
    expected = signer.signature(signer.string_to_sign(req, canonical), req)
    if not hmac.compare_digest(expected, signature):
        return 403, "SignatureDoesNotMatch", "The request signature we calculated does not match"
    return None


def request_kind(method, path):
    """"PUT part", "POST uploads", "GET list-type", "PUT" ...: for tests that
    check which S3 operations were used."""
    query = path.partition("?")[2]
    names = [q.partition("=")[0] for q in query.split("&") if q]
    for n in ("partNumber", "uploads", "uploadId", "delete", "list-type"):
        if n in names:
            return f"{method} {'part' if n == 'partNumber' else n}"
    return method


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, fmt, *args):
        pass

    def read_body(self):
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            parts = []
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip(), 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    return b"".join(parts)
                parts.append(self.rfile.read(size))
                self.rfile.readline()
        n = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(n) if n else b""

    def reply(self, status, body, extra=()):
        self.send_response(status)
        self.send_header("Content-Type", "application/xml")
        self.send_header("Content-Length", str(len(body)))
        for k, v in extra:
            self.send_header(k, v)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def handle_any(self):
        state = self.server.state
        body = self.read_body()
        copy = (self.command == "PUT" and "x-amz-copy-source" in self.headers and
                "partNumber=" in self.path)
        fault = state.take_fault(self.command, self.path, copy)
        if fault:
            state.count("fault")
            if fault.get("reset"):
                self.close_connection = True
                self.connection.shutdown(2)
                return
            self.reply(fault.get("status", 500),
                       s3_error(fault.get("code", "InternalError"), "injected fault"),
                       fault.get("headers", {}).items())
            return
        bad = verify(state, self.command, self.path, self.headers, body)
        if bad:
            status, code, message = bad
            state.count(code)
            sys.stderr.write(f"rejected {self.command} {self.path}: {code}: {message}\n")
            self.reply(status, s3_error(code, message))
            return
        stripped, query_auth = split_presigned(self.path)
        if query_auth and "Authorization" not in self.headers:
            self.path = stripped
            state.count("presigned", request_kind(self.command, self.path))
            self.forward(state, body)
            return
        kind = request_kind(self.command, self.path) + ("-copy" if copy else "")
        state.count("verified" if "Authorization" in self.headers else "anonymous", kind)
        state.record_headers(self.command, self.path, self.headers)
        if copy:
            self.part_copy(state)
        else:
            self.forward(state, body)

    def upstream(self, state, method, path, headers, body=None):
        conn = http.client.HTTPConnection(state.upstream[0], int(state.upstream[1]),
                                          timeout=300)
        try:
            conn.request(method, path, body=body, headers=dict(headers, Connection="close"))
            resp = conn.getresponse()
            return resp.status, dict((k.lower(), v) for k, v in resp.getheaders()), resp.read()
        finally:
            conn.close()

    def part_copy(self, state):
        """UploadPartCopy by a ranged GET and an UploadPart (anonymous:
        s3rver allows it)."""
        src = urllib.parse.unquote(self.headers["x-amz-copy-source"])
        src = "/" + urllib.parse.quote(src.lstrip("/"))
        headers = {}
        if self.headers.get("x-amz-copy-source-range"):
            headers["Range"] = self.headers["x-amz-copy-source-range"]
        status, h, data = self.upstream(state, "GET", src, headers)
        if status == 404:
            return self.reply(404, s3_error("NoSuchKey", "no such copy source"))
        if status not in (200, 206):
            return self.reply(status, s3_error("InternalError", "copy source unreadable"))
        want = self.headers.get("x-amz-copy-source-if-match")
        if want and h.get("etag") != want:
            return self.reply(412, s3_error("PreconditionFailed", "copy source changed"))
        status, h, _ = self.upstream(state, "PUT", self.path,
                                     {"Content-Length": str(len(data))}, data)
        if status != 200:
            return self.reply(status, s3_error("InternalError", "part upload failed"))
        self.reply(200, (f'<?xml version="1.0" encoding="UTF-8"?><CopyPartResult>'
                         f'<LastModified>2026-01-01T00:00:00.000Z</LastModified>'
                         f'<ETag>{h.get("etag", "")}</ETag></CopyPartResult>').encode())

    def forward(self, state, body):
        headers = {}
        for k, v in self.headers.items():
            if k.lower() in HOP_BY_HOP or k.lower() == "content-length":
                continue
            if k.lower() == "authorization" and state.upstream_key:
                v = re.sub(r"Credential=[^/]+/", f"Credential={state.upstream_key}/", v)
            headers[k] = v
        headers["Content-Length"] = str(len(body))
        # A fresh upstream connection for every request, closed after it:
        # a request sent on a kept-alive connection just as s3rver times it
        # out can leave s3rver half-handling it, and a PUT so cut short has
        # been seen to leave an empty object behind the retried, complete
        # one. One request, one connection: no such race.
        headers["Connection"] = "close"
        conn = http.client.HTTPConnection(state.upstream[0], int(state.upstream[1]),
                                          timeout=300)
        try:
            conn.putrequest(self.command, self.path, skip_host=True, skip_accept_encoding=True)
            for k, v in headers.items():
                conn.putheader(k, v)
            conn.endheaders(body if body else None)
            resp = conn.getresponse()
        except (http.client.HTTPException, OSError):
            conn.close()
            self.reply(502, s3_error("BadGateway", "upstream failed"))
            return
        try:
            self.send_response(resp.status, resp.reason)
            length = resp.getheader("Content-Length")
            for k, v in resp.getheaders():
                if k.lower() in HOP_BY_HOP or k.lower() == "content-length":
                    continue
                self.send_header(k, v)
            if self.command == "HEAD" or resp.status in (204, 304):
                if length is not None:
                    self.send_header("Content-Length", length)
                self.end_headers()
                resp.read()
                return
            if length is not None:
                self.send_header("Content-Length", length)
                self.end_headers()
                remaining = int(length)
                while remaining > 0:
                    chunk = resp.read(min(remaining, 1 << 20))
                    if not chunk:
                        break
                    self.wfile.write(chunk)
                    remaining -= len(chunk)
            else:
                data = resp.read()
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)
        finally:
            conn.close()

    do_GET = do_PUT = do_POST = do_DELETE = do_HEAD = handle_any


class Server(http.server.ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--listen", required=True)
    ap.add_argument("--upstream", required=True)
    ap.add_argument("--upstream-key")
    ap.add_argument("--allow-anonymous", action="store_true")
    ap.add_argument("--stats")
    ap.add_argument("--faults")
    ap.add_argument("--keys-file")
    ap.add_argument("--record-headers")
    args = ap.parse_args()
    host, port = args.listen.rsplit(":", 1)
    srv = Server((host, int(port)), Handler)
    srv.state = State(args)
    print(f"ready {srv.server_address[1]}", flush=True)
    srv.serve_forever()


if __name__ == "__main__":
    main()
