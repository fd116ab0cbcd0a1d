"""A stand-in for the few Kubernetes API reads bucketfs-csi makes (there is
no cluster here): pods with labels and ConfigMaps, served over HTTPS on
loopback with a certificate of the test's own CA, as an API server serves
them. It checks the bearer token against the token file as it is *now*, as
a real API server checks a rotating projected token, and records every
request."""

import json
import ssl
import subprocess
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


def make_ca(directory):
    """A self-signed certificate for 127.0.0.1: (cert, key) paths; the
    certificate is its own CA."""
    cert, key = f"{directory}/api.crt", f"{directory}/api.key"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
                    "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
                    "-keyout", key, "-out", cert], check=True, capture_output=True)
    return cert, key


class KubeStub:
    def __init__(self, token_file, cert, key):
        self.token_file = token_file
        self.pods = {}        # (namespace, name) -> labels
        self.configmaps = {}  # (namespace, name) -> data
        self.requests = []    # (path, authorization header)
        self.status = None    # answer every request with this status, if set
        stub = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_GET(self):
                auth = self.headers.get("Authorization", "")
                stub.requests.append((self.path, auth))
                with open(stub.token_file) as f:
                    token = f.read().strip()
                if stub.status:
                    return self.answer(stub.status, {"kind": "Status"})
                if auth != f"Bearer {token}":
                    return self.answer(401, {"kind": "Status", "reason": "Unauthorized"})
                parts = self.path.split("/")
                # /api/v1/namespaces/NS/KIND/NAME
                if len(parts) != 7 or parts[1:4] != ["api", "v1", "namespaces"]:
                    return self.answer(404, {"kind": "Status"})
                ns, kind, name = parts[4], parts[5], parts[6]
                if kind == "pods" and (ns, name) in stub.pods:
                    return self.answer(200, {"kind": "Pod", "metadata": {
                        "name": name, "namespace": ns, "labels": stub.pods[(ns, name)]}})
                if kind == "configmaps" and (ns, name) in stub.configmaps:
                    return self.answer(200, {"kind": "ConfigMap", "metadata": {
                        "name": name, "namespace": ns}, "data": stub.configmaps[(ns, name)]})
                return self.answer(404, {"kind": "Status", "reason": "NotFound"})

            def answer(self, status, obj):
                body = json.dumps(obj).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(cert, key)
        self.httpd.socket = ctx.wrap_socket(self.httpd.socket, server_side=True)
        self.ca_file = cert
        self.url = f"https://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()
