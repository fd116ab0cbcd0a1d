#!/usr/bin/env python3
"""Known-answer vectors for tests/unit/test_azure_auth.c.

Each string-to-sign below is written out by hand from Microsoft's pages
("Authorize with Shared Key", "Create a service SAS", "Create a user
delegation SAS"), not produced by the code under test, and signed with the
standard library only: base64(HMAC-SHA256(base64decode(key), utf8(string))).
The account is azurite's published development account.

    python3 tests/tools/azure_vectors.py            # print the vectors
    python3 tests/tools/azure_vectors.py --sdk DIR  # and cross-check them

With --sdk, DIR holds node_modules with @azure/storage-blob (npm install
@azure/storage-blob, outside the source tree): the same requests are signed
by the SDK's own Shared Key policy and SAS generator, and the x-ms-* header
order is checked against the SDK's compareHeader. Vectors the SDK signs
differently on purpose are marked sdk=False (it folds no whitespace and
keeps only the last of repeated query parameters, and signs Content-Language
before Content-Encoding).
"""
import base64
import calendar
import hashlib
import hmac
import json
import os
import random
import subprocess
import sys
import tempfile
import time
import urllib.parse

ACCOUNT = "devstoreaccount1"
KEY = ("Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/"
       "K1SZFPTOtr/KBHBeksoGMGw==")
DATE = "Wed, 02 Nov 2022 10:00:00 GMT"
VERSION = "2022-11-02"
HOST = "http://127.0.0.1:10000"


def sign(key_b64, text):
    key = base64.b64decode(key_b64, validate=True)
    mac = hmac.new(key, text.encode("utf-8"), hashlib.sha256).digest()
    return base64.b64encode(mac).decode()


def std_lines(verb, content_encoding="", content_language="", content_length="",
              content_md5="", content_type="", date="", if_modified_since="",
              if_match="", if_none_match="", if_unmodified_since="", range_=""):
    """VERB and the eleven standard header values, each followed by \\n."""
    return "".join(v + "\n" for v in (
        verb, content_encoding, content_language, content_length, content_md5,
        content_type, date, if_modified_since, if_match, if_none_match,
        if_unmodified_since, range_))


def utc(s):
    return calendar.timegm(time.strptime(s, "%Y-%m-%dT%H:%M:%SZ"))


def enc(v):
    """Percent-encode all but RFC 3986 unreserved characters."""
    return urllib.parse.quote(v, safe="")


# --- Shared Key ------------------------------------------------------------
# url/headers describe the request as sent (for the SDK cross-check); sts is
# written by hand from the doc's format.
SHAREDKEY = [
    {   # Get Blob, a byte range, azurite path-style URL: account twice.
        "name": "get_range", "method": "GET",
        "url": HOST + "/devstoreaccount1/photos/2022/a%20b.jpg",
        "headers": {"Range": "bytes=0-1023", "x-ms-date": DATE,
                    "x-ms-version": VERSION},
        "sts": std_lines("GET", range_="bytes=0-1023")
        + "x-ms-date:" + DATE + "\n"
        + "x-ms-version:" + VERSION + "\n"
        + "/devstoreaccount1/devstoreaccount1/photos/2022/a%20b.jpg",
    },
    {   # Put Block: query sorted by name and decoded (%2B %2F %3D).
        "name": "put_block", "method": "PUT",
        "url": HOST + "/devstoreaccount1/photos/big.bin"
        "?comp=block&blockid=AAAAAA%2B%2FAAAAAA%3D%3D",
        "headers": {"Content-Length": "4096",
                    "Content-MD5": "ruPmW0Xpe1hTmdaIWF3seQ==",
                    "Content-Type": "application/octet-stream",
                    "x-ms-date": DATE, "x-ms-version": VERSION,
                    "x-ms-client-request-id":
                        "8d1c1b4e-4e7b-4c2a-9d59-7f0b3c2f6a10"},
        "sts": std_lines("PUT", content_length="4096",
                         content_md5="ruPmW0Xpe1hTmdaIWF3seQ==",
                         content_type="application/octet-stream")
        + "x-ms-client-request-id:8d1c1b4e-4e7b-4c2a-9d59-7f0b3c2f6a10\n"
        + "x-ms-date:" + DATE + "\n"
        + "x-ms-version:" + VERSION + "\n"
        + "/devstoreaccount1/devstoreaccount1/photos/big.bin"
        + "\nblockid:AAAAAA+/AAAAAA==\ncomp:block",
    },
    {   # List Blobs with prefix, delimiter and a continuation marker.
        "name": "list_blobs", "method": "GET",
        "url": HOST + "/devstoreaccount1/photos?restype=container&comp=list"
        "&prefix=a%2F&delimiter=%2F&marker=2%2188%21MDAwMDE2IWEvYi9jLmpwZyEwMDAw"
        "MjghOTk5OS0xMi0zMVQyMzo1OTo1OS45OTk5OTk5WiE-&maxresults=1000"
        "&include=metadata",
        "headers": {"x-ms-date": DATE, "x-ms-version": VERSION},
        "sts": std_lines("GET")
        + "x-ms-date:" + DATE + "\n"
        + "x-ms-version:" + VERSION + "\n"
        + "/devstoreaccount1/devstoreaccount1/photos"
        + "\ncomp:list\ndelimiter:/\ninclude:metadata"
        + "\nmarker:2!88!MDAwMDE2IWEvYi9jLmpwZyEwMDAwMjghOTk5OS0xMi0zMVQyMzo1"
        "OTo1OS45OTk5OTk5WiE-"
        + "\nmaxresults:1000\nprefix:a/\nrestype:container",
    },
    {   # The same listing against Azure proper: virtual host, account once.
        "name": "list_blobs_azure", "method": "GET",
        "url": "https://devstoreaccount1.blob.core.windows.net/photos"
        "?restype=container&comp=list&prefix=a%2F&delimiter=%2F",
        "headers": {"x-ms-date": DATE, "x-ms-version": VERSION},
        "sts": std_lines("GET")
        + "x-ms-date:" + DATE + "\n"
        + "x-ms-version:" + VERSION + "\n"
        + "/devstoreaccount1/photos"
        + "\ncomp:list\ndelimiter:/\nprefix:a/\nrestype:container",
    },
    {   # Put Blob, empty: Content-Length 0 signs as "", values folded
        # (not inside quotes), names lower-cased and in the service's order
        # ('_' before digits). The SDK folds nothing: not cross-checked.
        "name": "put_folded", "method": "PUT", "sdk": False,
        "url": HOST + "/devstoreaccount1/photos/notes.txt",
        "headers": {"Content-Length": "0",
                    "Content-Type": "text/plain; charset=UTF-8",
                    "x-ms-blob-type": "BlockBlob",
                    "x-ms-meta-note": "  hello \t  big\r\n   world  ",
                    "x-ms-meta-quote": 'say  "a   b"  now',
                    "x-ms-meta-a1": "1", "x-ms-meta-A_b": "2",
                    "x-ms-meta-ab": "3", "X-MS-Meta-a2": "4",
                    "x-ms-date": DATE, "x-ms-version": VERSION},
        "sts": std_lines("PUT", content_type="text/plain; charset=UTF-8")
        + "x-ms-blob-type:BlockBlob\n"
        + "x-ms-date:" + DATE + "\n"
        + "x-ms-meta-a_b:2\n"
        + "x-ms-meta-a1:1\n"
        + "x-ms-meta-a2:4\n"
        + "x-ms-meta-ab:3\n"
        + "x-ms-meta-note:hello big world\n"
        + 'x-ms-meta-quote:say "a   b" now\n'
        + "x-ms-version:" + VERSION + "\n"
        + "/devstoreaccount1/devstoreaccount1/photos/notes.txt",
    },
    {   # All eleven standard headers, in the doc's order, values trimmed.
        # A Date sent beside x-ms-date is signed too (so do azurite and the
        # SDKs). The JS SDK swaps Content-Encoding and Content-Language
        # (azurite and the doc do not): not cross-checked.
        "name": "all_std_headers", "method": "PUT", "sdk": False,
        "url": HOST + "/devstoreaccount1/photos/hello.txt",
        "headers": {"Range": "bytes=0-10", "If-Unmodified-Since": "Wed, 02 Nov 2022 09:00:00 GMT",
                    "If-None-Match": "*", "If-Match": '"0x8DABC"',
                    "If-Modified-Since": "Tue, 01 Nov 2022 00:00:00 GMT", "Date": DATE,
                    "Content-Type": "  text/plain ", "Content-MD5": "XrY7u+Ae7tCTyyK7j1rNww==",
                    "Content-Length": "11", "Content-Language": "en-US",
                    "Content-Encoding": "gzip", "x-ms-date": DATE, "x-ms-version": VERSION},
        "sts": std_lines("PUT", content_encoding="gzip", content_language="en-US",
                         content_length="11", content_md5="XrY7u+Ae7tCTyyK7j1rNww==",
                         content_type="text/plain", date=DATE,
                         if_modified_since="Tue, 01 Nov 2022 00:00:00 GMT",
                         if_match='"0x8DABC"', if_none_match="*",
                         if_unmodified_since="Wed, 02 Nov 2022 09:00:00 GMT",
                         range_="bytes=0-10")
        + "x-ms-date:" + DATE + "\n"
        + "x-ms-version:" + VERSION + "\n"
        + "/devstoreaccount1/devstoreaccount1/photos/hello.txt",
    },
    # The doc's own examples (strings verbatim from the page).
    {
        "name": "doc_container_metadata", "method": "GET", "account": "myaccount",
        "url": "http://myaccount.blob.core.windows.net/mycontainer"
        "?restype=container&comp=metadata&timeout=20",
        "headers": {"x-ms-date": "Sun, 11 Oct 2009 21:49:13 GMT",
                    "x-ms-version": "2009-09-19"},
        "sts": "GET\n\n\n\n\n\n\n\n\n\n\n\nx-ms-date:Sun, 11 Oct 2009 21:49:13 GMT"
        "\nx-ms-version:2009-09-19\n/myaccount/mycontainer\ncomp:metadata"
        "\nrestype:container\ntimeout:20",
    },
    {
        "name": "doc_content_length_zero", "method": "PUT", "account": "myaccount",
        "url": "http://myaccount.blob.core.windows.net/mycontainer"
        "?restype=container&timeout=30",
        "headers": {"x-ms-version": "2015-02-21",
                    "x-ms-date": "Fri, 26 Jun 2015 23:39:12 GMT",
                    "Content-Length": "0"},
        "sts": "PUT\n\n\n\n\n\n\n\n\n\n\n\nx-ms-date:Fri, 26 Jun 2015 23:39:12 GMT"
        "\nx-ms-version:2015-02-21\n/myaccount/mycontainer\nrestype:container"
        "\ntimeout:30",
    },
    {   # Repeated parameter: values sorted, comma-joined. The SDK keeps
        # the last one only: not cross-checked.
        "name": "doc_list_include", "method": "GET", "account": "myaccount",
        "sdk": False,
        "url": "http://myaccount.blob.core.windows.net/mycontainer"
        "?restype=container&comp=list&include=snapshots&include=metadata"
        "&include=uncommittedblobs",
        "headers": {"x-ms-date": "Sun, 11 Oct 2009 21:49:13 GMT",
                    "x-ms-version": "2009-09-19"},
        "sts": std_lines("GET")
        + "x-ms-date:Sun, 11 Oct 2009 21:49:13 GMT\nx-ms-version:2009-09-19\n"
        + "/myaccount/mycontainer\ncomp:list"
        "\ninclude:metadata,snapshots,uncommittedblobs\nrestype:container",
    },
]

# x-ms-* names in the order the service wants them (its .NET culture-aware
# compare: '-' only breaks ties, '_' before digits before letters).
HEADER_ORDER = [
    "x-ms-a_b", "x-ms-a0", "x-ms-a9", "x-ms-ab", "x-ms-ab-", "x-ms-a-b",
    "x-ms-ac", "x-ms-a-c", "x-ms-b", "x-ms-blob-type", "x-ms-blobz",
    "x-ms-date", "x-ms-meta-a_b", "x-ms-meta-a1", "x-ms-meta-ab",
    "x-ms-version",
]


def service_order_key(name):
    """Python model of the order, to check HEADER_ORDER without the SDK."""
    def w(c):
        return 1 if c == "_" else (2 + ord(c) - 48 if c.isdigit() else 12 + ord(c) - 97)
    primary = [w(c) for c in name.lower() if c != "-"]
    # Ties: at the first position where the hyphens differ, the hyphen
    # sorts last and the end of the name first.
    tie = [200 if c == "-" else 100 for c in name.lower()]
    return (primary, tie)


# --- SAS -------------------------------------------------------------------
def service_sts(sp, st, se, resource, si="", sip="", spr="", sr="b", ses="",
                rscc="", rscd="", rsce="", rscl="", rsct=""):
    # signedPermissions, signedStart, signedExpiry, canonicalizedResource,
    # signedIdentifier, signedIP, signedProtocol, signedVersion,
    # signedResource, signedSnapshotTime, signedEncryptionScope, rscc, rscd,
    # rsce, rscl, rsct (version 2020-12-06 and later).
    return "\n".join([sp, st, se, resource, si, sip, spr, VERSION, sr, "", ses,
                      rscc, rscd, rsce, rscl, rsct])


def udk_sts(sp, st, se, resource, k, sip="", spr="", sr="b"):
    # ... canonicalizedResource, signedKeyObjectId, signedKeyTenantId,
    # signedKeyStart, signedKeyExpiry, signedKeyService, signedKeyVersion,
    # signedAuthorizedUserObjectId, signedUnauthorizedUserObjectId,
    # signedCorrelationId, signedIP, signedProtocol, signedVersion,
    # signedResource, signedSnapshotTime, signedEncryptionScope, rscc, rscd,
    # rsce, rscl, rsct (version 2020-12-06 and later).
    return "\n".join([sp, st, se, resource, k["oid"], k["tid"], k["start"],
                      k["expiry"], k["service"], k["version"], "", "", "", sip,
                      spr, VERSION, sr, "", "", "", "", "", "", ""])


UDK = {"oid": "6d8b5d4a-3f1e-4b8f-9a55-2c5b9a1e0c11",
       "tid": "72f988bf-86f1-41af-91ab-2d7cd011db47",
       "start": "2022-11-02T08:00:00Z", "expiry": "2022-11-03T08:00:00Z",
       "service": "b", "version": VERSION,
       "value": "oIrBdBk3ZVv9FhuxK7JvKuVt7+YwHsGm/Z1XeLxRyp8="}

SAS = [
    {   # Read one blob; name with a space and a '+', signed unencoded.
        # Expiry chosen so that sig carries '+', '/' and '='.
        "name": "blob_read", "container": "photos", "blob": "2022/a b+c.jpg",
        "sp": "r", "st": "2022-11-02T00:00:00Z", "se": "2022-11-03T00:00:07Z",
        "sip": "127.0.0.1", "spr": "https,http",
    },
    {   # List and write a container, no start, response overrides.
        "name": "container_rl", "container": "photos", "sp": "racwdl",
        "se": "2022-12-31T23:59:59Z", "spr": "https",
        "rscd": 'attachment; filename="x y.txt"', "rsct": "text/plain",
    },
    {   # Permissions and expiry from a stored access policy.
        "name": "stored_policy", "container": "photos", "blob": "notes.txt",
        "si": "policy-1",
    },
    {   # User delegation SAS, signed with the delegation key's Value.
        "name": "udk_read", "container": "photos", "blob": "notes.txt",
        "sp": "r", "st": "2022-11-02T09:00:00Z", "se": "2022-11-02T10:00:00Z",
        "spr": "https", "udk": UDK,
    },
]


def sas_vector(v):
    resource = "/blob/%s/%s" % (ACCOUNT, v["container"])
    if v.get("blob"):
        resource += "/" + v["blob"]
    sr = "b" if v.get("blob") else "c"
    g = v.get
    if g("udk"):
        k = g("udk")
        sts = udk_sts(g("sp", ""), g("st", ""), g("se", ""), resource, k,
                      g("sip", ""), g("spr", ""), sr)
        key = k["value"]
        kf = [("skoid", k["oid"]), ("sktid", k["tid"]), ("skt", k["start"]),
              ("ske", k["expiry"]), ("sks", k["service"]), ("skv", k["version"])]
    else:
        sts = service_sts(g("sp", ""), g("st", ""), g("se", ""), resource,
                          g("si", ""), g("sip", ""), g("spr", ""), sr, g("ses", ""),
                          g("rscc", ""), g("rscd", ""), g("rsce", ""), g("rscl", ""),
                          g("rsct", ""))
        key = KEY
        kf = []
    sig = sign(key, sts)
    params = ([("sv", VERSION), ("spr", g("spr")), ("st", g("st")), ("se", g("se")),
               ("sip", g("sip")), ("si", g("si")), ("ses", g("ses"))] + kf
              + [("sr", sr), ("sp", g("sp")), ("rscc", g("rscc")), ("rscd", g("rscd")),
                 ("rsce", g("rsce")), ("rscl", g("rscl")), ("rsct", g("rsct")),
                 ("sig", sig)])
    token = "&".join("%s=%s" % (n, enc(x)) for n, x in params if x)
    return sts, sig, token


def c_str(s):
    return json.dumps(s)  # ASCII only here: JSON escapes are C escapes


SDK_JS = r"""
const path = require("path");
const dir = process.argv[2];
const req = (m) => require(path.join(dir, "node_modules", m));
const common = req("@azure/storage-common");
const blob = req("@azure/storage-blob");
const pipe = req("@azure/core-rest-pipeline");
const { compareHeader } = require(path.join(dir,
  "node_modules/@azure/storage-common/dist/commonjs/utils/SharedKeyComparator.js"));
const input = JSON.parse(require("fs").readFileSync(0, "utf8"));
(async () => {
  const out = { sharedkey: {}, sas: {}, order: null };
  const realUTC = Date.prototype.toUTCString;
  for (const v of input.sharedkey) {
    // The policy stamps x-ms-date with "now": pin it to the vector's date.
    Date.prototype.toUTCString = () => v.headers["x-ms-date"];
    const r = pipe.createPipelineRequest({ url: v.url, method: v.method,
      headers: pipe.createHttpHeaders(v.headers) });
    const pol = common.storageSharedKeyCredentialPolicy({ accountName: v.account,
      accountKey: Buffer.from(input.key, "base64") });
    await pol.sendRequest(r, async () => ({}));
    out.sharedkey[v.name] = r.headers.get("authorization");
  }
  Date.prototype.toUTCString = realUTC;
  for (const v of input.sas) {
    const perms = v.sp ? (v.blob ? blob.BlobSASPermissions.parse(v.sp)
                                  : blob.ContainerSASPermissions.parse(v.sp)) : undefined;
    const values = { containerName: v.container, blobName: v.blob, permissions: perms,
      startsOn: v.st ? new Date(v.st) : undefined, expiresOn: v.se ? new Date(v.se) : undefined,
      ipRange: v.sip ? { start: v.sip } : undefined, protocol: v.spr, identifier: v.si,
      contentDisposition: v.rscd, contentType: v.rsct, version: input.version };
    let q;
    if (v.udk) {
      const k = { signedObjectId: v.udk.oid, signedTenantId: v.udk.tid,
        signedStartsOn: new Date(v.udk.start), signedExpiresOn: new Date(v.udk.expiry),
        signedService: v.udk.service, signedVersion: v.udk.version, value: v.udk.value };
      q = blob.generateBlobSASQueryParameters(values, k, input.account);
    } else {
      q = blob.generateBlobSASQueryParameters(values,
        new blob.StorageSharedKeyCredential(input.account, input.key));
    }
    out.sas[v.name] = q.toString();
  }
  out.order = input.order.slice().sort(compareHeader);
  out.fuzz = input.fuzz.map((l) => l.slice().sort(compareHeader));
  process.stdout.write(JSON.stringify(out));
})();
"""


def sdk_check(sdk_dir, vectors, sas):
    rnd = random.Random(1)
    alphabet = "ab01_-"
    fuzz = [["x-ms-" + "".join(rnd.choice(alphabet) for _ in range(rnd.randint(1, 5)))
             for _ in range(30)] for _ in range(200)]
    fuzz = [sorted(set(l)) for l in fuzz]
    inp = {"key": KEY, "account": ACCOUNT, "version": VERSION,
           "sharedkey": [dict(v, account=v.get("account", ACCOUNT))
                         for v in vectors if v.get("sdk", True)],
           "sas": SAS, "order": list(reversed(HEADER_ORDER)), "fuzz": fuzz}
    with tempfile.NamedTemporaryFile("w", suffix=".js", delete=False) as f:
        f.write(SDK_JS)
    try:
        res = subprocess.run(["node", f.name, os.path.abspath(sdk_dir)],
                             input=json.dumps(inp), capture_output=True, text=True,
                             check=True)
    finally:
        os.unlink(f.name)
    out = json.loads(res.stdout)
    bad = 0
    for v in inp["sharedkey"]:
        want = "SharedKey %s:%s" % (v["account"], sign(KEY, v["sts"]))
        ok = out["sharedkey"][v["name"]] == want
        bad += not ok
        print("sdk sharedkey %-26s %s" % (v["name"], "ok" if ok else "MISMATCH"))
    for v in SAS:
        ok = out["sas"][v["name"]] == sas[v["name"]][2]
        bad += not ok
        print("sdk sas       %-26s %s" % (v["name"], "ok" if ok else "MISMATCH"))
    ok = out["order"] == HEADER_ORDER
    bad += not ok
    print("sdk header order                         %s" % ("ok" if ok else "MISMATCH"))
    fz = sum(a != sorted(l, key=service_order_key) for a, l in zip(out["fuzz"], fuzz))
    bad += fz != 0
    print("sdk order model, %d random lists       %s"
          % (len(fuzz), "ok" if not fz else "MISMATCH"))
    return bad


def main():
    assert sorted(HEADER_ORDER[::-1], key=service_order_key) == HEADER_ORDER
    for v in SHAREDKEY:
        acct = v.get("account", ACCOUNT)
        print("/* %s */" % v["name"])
        print("sts  %s" % c_str(v["sts"]))
        print("auth \"SharedKey %s:%s\"" % (acct, sign(KEY, v["sts"])))
    sas = {}
    for v in SAS:
        sas[v["name"]] = sas_vector(v)
        sts, sig, token = sas[v["name"]]
        print("/* sas %s */" % v["name"])
        print("sts   %s" % c_str(sts))
        print("sig   %s" % sig)
        print("token %s" % c_str(token))
        for t in ("st", "se"):
            if v.get(t):
                print("%-5s %d /* %s */" % (t, utc(v[t]), v[t]))
    sig = sas["blob_read"][1]
    assert "+" in sig and "/" in sig and "=" in sig, sig
    if len(sys.argv) == 3 and sys.argv[1] == "--sdk":
        return 1 if sdk_check(sys.argv[2], SHAREDKEY, sas) else 0
    return 0


if __name__ == "__main__":
    sys.exit(main())
