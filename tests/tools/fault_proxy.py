#!/usr/bin/python3
"""A fault-injecting HTTP reverse proxy for the integration tests: it sits
between bucketfs and a store (the SigV4 proxy in front of s3rver, or
azurite) and passes requests through unchanged, except those a rule picks.

  fault_proxy.py --listen 127.0.0.1:0 --upstream 127.0.0.1:PORT

Prints "ready PORT" once listening. The test drives it over HTTP on the same
port, at a path no bucket or account can have:

  PUT  /__faults__   a JSON list of rules (replaces the rules; [] clears)
  GET  /__faults__   {"rules": [...], "log": [...]}: the rules with their
                     counts left, and every request seen since the last
                     DELETE: {"kind", "method", "path", "fault", "status"}
  DELETE /__faults__ clears the rules and the log

A rule picks requests by "kind" (GET HEAD PUT DELETE LIST part initiate
complete COPY, or "*"), an optional "path" substring and a "skip" count
(let that many matching requests through first), and applies to "count" of
them (default 1) one "action":

  error     answer "status" (500) with an error document of "code"
            (InternalError) instead of forwarding; with "after": true,
            forward first, so the store did the work and the client is told
            it failed
  reset     close the connection with a TCP RST without answering; with
            "after": true, forward first and reset after the headers and
            half the answer's body
  truncate  cut a body in half: an upload's (read half, then reset) or,
            for a request without one, the answer's (forward, send the
            headers and half the body, then close)
  stall     hold the request "seconds" (default 30) without a byte, then
            close; with "after": true, forward first and stall after the
            headers and half the body
An answer without a body that is to be cut (reset or stall "after", or
truncate) is not sent at all: the store did the work, the client never
hears of it.
"""
import argparse
import http.client
import json
import socket
import struct
import threading
import time
from urllib.parse import parse_qs, urlsplit

import sigv4_proxy

CONTROL = "/__faults__"
HOP_BY_HOP = sigv4_proxy.HOP_BY_HOP


def request_kind(method, path, headers):
    """The store operation a request is, for S3 and Azure alike."""
    q = parse_qs(urlsplit(path).query, keep_blank_values=True)
    comp = q.get("comp", [""])[0]
    if method == "GET" and ("list-type" in q or comp == "list"):
        return "LIST"
    if method == "PUT" and ("partNumber" in q or comp == "block"):
        return "part"
    if method == "POST" and "uploads" in q:
        return "initiate"
    if (method == "POST" and "uploadId" in q) or (method == "PUT" and comp == "blocklist"):
        return "complete"
    if method == "PUT" and ("x-amz-copy-source" in headers or "x-ms-copy-source" in headers):
        return "COPY"
    if method == "POST" and "delete" in q:
        return "DELETE"
    return method


def error_body(code):
    # S3's and Azure's error documents share this shape.
    return (f'<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>{code}</Code>'
            f"<Message>injected fault</Message><RequestId>fault-proxy</RequestId>"
            f"</Error>").encode()


class State:
    def __init__(self, upstream):
        self.upstream = upstream
        self.lock = threading.Lock()
        self.rules = []
        self.log = []

    def take(self, kind, path):
        """The rule that applies to this request, if any (its count spent)."""
        with self.lock:
            for r in self.rules:
                if r.get("count", 1) <= 0:
                    continue
                if r.get("kind", "*") not in ("*", kind):
                    continue
                if r.get("path") and r["path"] not in path:
                    continue
                if r.get("skip", 0) > 0:
                    r["skip"] -= 1
                    continue
                r["count"] = r.get("count", 1) - 1
                return dict(r)
        return None

    def record(self, entry):
        with self.lock:
            self.log.append(entry)


class Handler(sigv4_proxy.Handler):
    """The SigV4 proxy's request reading; its own answering."""

    def send_all(self, status, headers, body, reason=None, length=None):
        self.send_response(status, reason)
        for k, v in headers:
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(body) if length is None else length))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def reset(self):
        """Close with RST: SO_LINGER on, timeout 0."""
        self.close_connection = True
        self.wfile.flush()
        self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                                   struct.pack("ii", 1, 0))
        self.connection.close()

    def control(self, state, body):
        with state.lock:
            if self.command == "PUT":
                state.rules = json.loads(body or b"[]")
            elif self.command == "DELETE":
                state.rules, state.log = [], []
            answer = json.dumps({"rules": state.rules, "log": state.log}).encode()
        self.send_all(200, [("Content-Type", "application/json")], answer)

    def handle_any(self):
        state = self.server.state
        if self.path.startswith(CONTROL):
            self.control(state, self.read_body())
            return
        kind = request_kind(self.command, self.path, self.headers)
        rule = state.take(kind, self.path)
        action = rule.get("action", "error") if rule else None
        entry = {"kind": kind, "method": self.command, "path": self.path, "fault": action,
                 "status": None}
        state.record(entry)
        length = int(self.headers.get("Content-Length") or 0)
        if action == "truncate" and length:
            # An upload cut in the middle: half the body, then the end.
            self.rfile.read(length // 2)
            self.reset()
            return
        body = self.read_body()
        if rule and not rule.get("after") and action in ("error", "reset", "stall"):
            if action == "error":
                entry["status"] = rule.get("status", 500)
                code = rule.get("code", "InternalError")
                self.send_all(entry["status"], [("Content-Type", "application/xml"),
                                                ("x-ms-error-code", code)], error_body(code))
            elif action == "reset":
                self.reset()
            else:
                time.sleep(rule.get("seconds", 30))
                self.close_connection = True
            return
        answer = self.forward(state, body)
        if answer is None:
            entry["status"] = 502
            self.send_all(502, [], error_body("BadGateway"))
            return
        status, reason, headers, data, length = answer
        entry["status"] = status
        if not rule:
            self.send_all(status, headers, data, reason, length)
            if len(data) < length and self.command != "HEAD":
                self.close_connection = True
        elif action == "error":
            entry["status"] = rule.get("status", 500)
            code = rule.get("code", "InternalError")
            self.send_all(entry["status"], [("Content-Type", "application/xml"),
                                            ("x-ms-error-code", code)], error_body(code))
        elif not data or self.command == "HEAD":
            # No body to cut: the answer is lost whole, after the work.
            if action == "reset":
                self.reset()
            elif action == "stall":
                time.sleep(rule.get("seconds", 30))
            self.close_connection = True
        else:
            # Headers promising the whole body, then half of it.
            self.send_response(status, reason)
            for k, v in headers:
                self.send_header(k, v)
            self.send_header("Content-Length", str(length))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(data[:len(data) // 2])
            self.wfile.flush()
            if action == "reset":
                self.reset()
            elif action == "stall":
                time.sleep(rule.get("seconds", 30))
            self.close_connection = True

    def forward(self, state, body):
        """(status, reason, headers, body, Content-Length) of the upstream
        answer (a HEAD's length is the object's), or None."""
        headers = {k: v for k, v in self.headers.items()
                   if k.lower() not in HOP_BY_HOP and k.lower() != "content-length"}
        headers["Content-Length"] = str(len(body))
        headers["Connection"] = "close"
        conn = http.client.HTTPConnection(*state.upstream, timeout=300)
        try:
            conn.putrequest(self.command, self.path, skip_host=True, skip_accept_encoding=True)
            for k, v in headers.items():
                conn.putheader(k, v)
            conn.endheaders(body if body else None)
            resp = conn.getresponse()
            try:
                data = b"" if self.command == "HEAD" else resp.read()
            except http.client.IncompleteRead as e:
                # Passed on as it came (s3rver promises a byte of an empty
                # object's range and sends none).
                data = e.partial
            out = [(k, v) for k, v in resp.getheaders()
                   if k.lower() not in HOP_BY_HOP and k.lower() != "content-length"]
            length = len(data)
            if resp.getheader("Content-Length") is not None:
                length = int(resp.getheader("Content-Length"))
            return resp.status, resp.reason, out, data, length
        except (http.client.HTTPException, OSError):
            return None
        finally:
            conn.close()

    do_GET = do_PUT = do_POST = do_DELETE = do_HEAD = handle_any


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--listen", required=True)
    ap.add_argument("--upstream", required=True)
    args = ap.parse_args()
    host, port = args.listen.rsplit(":", 1)
    up_host, up_port = args.upstream.rsplit(":", 1)
    srv = sigv4_proxy.Server((host, int(port)), Handler)
    srv.state = State((up_host, int(up_port)))
    print(f"ready {srv.server_address[1]}", flush=True)
    srv.serve_forever()


if __name__ == "__main__":
    main()
