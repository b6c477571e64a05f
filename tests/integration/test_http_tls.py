# SPDX-License-Identifier: Apache-2.0
"""The HTTP client's shared TLS material (src/http_tls.c) against the real kube-apiserver of
tests/infra, driven through tests/tools/kpkube.c.

The CA, client certificate and key are parsed once per configuration and installed into each
connection by reference; curl no longer sees them. These tests pin what must not change:
verification still fails against a wrong CA and on a host-name mismatch (VERIFYPEER and
VERIFYHOST on, no system bundle slipped in), the client certificate is still presented (the
apiserver authenticates by it), and a kept connection made with one client certificate is not
reused once the credentials rotate to another (curl matches connections by options it can see;
the entry's name in CURLOPT_CAPATH is what tells them apart).
"""

from __future__ import annotations

import base64
import json
import os
import socket
import subprocess
import time
from pathlib import Path

import pytest

from test_kube_client import kpkube, kpkube_one  # the same kpkube runner

BUILD_DIR = Path(os.environ.get("KP_BUILD_DIR", Path(__file__).resolve().parents[2] / "build"))
KPKUBE = BUILD_DIR / "tests" / "integration" / "kpkube"
SELF_REVIEW = '{"apiVersion":"authentication.k8s.io/v1","kind":"SelfSubjectReview"}'


@pytest.fixture(scope="module", autouse=True)
def _kpkube_built():
    if not KPKUBE.exists():
        pytest.fail(f"{KPKUBE} is missing: build the kpkube target first", pytrace=False)


def kubeconfig(path: Path, server: str, cluster: dict, user: dict) -> Path:
    cfg = {"apiVersion": "v1", "kind": "Config", "current-context": "c",
           "clusters": [{"name": "k", "cluster": {"server": server, **cluster}}],
           "users": [{"name": "u", "user": user}],
           "contexts": [{"name": "c", "context": {"cluster": "k", "user": "u"}}]}
    path.write_text(json.dumps(cfg, indent=1))
    return path


def b64(path) -> str:
    return base64.b64encode(Path(path).read_bytes()).decode()


def username(kc: Path) -> str:
    r = kpkube_one("--kubeconfig", kc, "request", "POST",
                   "/apis/authentication.k8s.io/v1/selfsubjectreviews", SELF_REVIEW)
    assert r["status"] == 201, r
    return r["body"]["status"]["userInfo"]["username"]


def wrong_ca(tmp_path: Path) -> Path:
    """A CA the apiserver's certificate does not chain to."""
    crt, key = tmp_path / "wrong-ca.crt", tmp_path / "wrong-ca.key"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                    "ec_paramgen_curve:P-256", "-nodes", "-subj", "/CN=kp-wrong-ca", "-days", "1",
                    "-keyout", str(key), "-out", str(crt)], check=True, capture_output=True)
    return crt


def user_files(cluster) -> dict:
    crt, key = cluster.admin_cert
    return {"client-certificate": crt, "client-key": key}


def user_inline(cluster) -> dict:
    crt, key = cluster.admin_cert
    return {"client-certificate-data": b64(crt), "client-key-data": b64(key)}


def alias_of_loopback() -> str | None:
    """A host name that resolves to 127.0.0.1 but is not in the apiserver certificate's SANs
    (localhost is)."""
    for name in (socket.gethostname(), "vm", "runsc"):
        try:
            if name and name != "localhost" and socket.gethostbyname(name) == "127.0.0.1":
                return name
        except OSError:
            continue
    return None


# ---- verification ---------------------------------------------------------------------------

@pytest.mark.parametrize("form", ["file", "inline"])
def test_wrong_ca_fails(cluster, tmp_path, form):
    ca = wrong_ca(tmp_path)
    ca_opt = ({"certificate-authority": str(ca)} if form == "file"
              else {"certificate-authority-data": b64(ca)})
    user = user_files(cluster) if form == "file" else user_inline(cluster)
    kc = kubeconfig(tmp_path / "wrong.yaml", cluster.apiserver, ca_opt, user)
    r = kpkube_one("--kubeconfig", kc, "get", "/version")
    assert r["status"] == 0 and r["http_error"] == "tls", r
    assert "certificate" in r["error"], r
    # the same material with the right CA works: only the CA made the difference
    good = ({"certificate-authority": cluster.ca_cert} if form == "file"
            else {"certificate-authority-data": b64(cluster.ca_cert)})
    kc = kubeconfig(tmp_path / "good.yaml", cluster.apiserver, good, user)
    assert kpkube_one("--kubeconfig", kc, "get", "/version")["status"] == 200


def test_host_name_mismatch_fails(cluster, tmp_path):
    ca = {"certificate-authority": cluster.ca_cert}
    # tls-server-name: the name verified is not in the certificate
    kc = kubeconfig(tmp_path / "sni.yaml", cluster.apiserver,
                    {**ca, "tls-server-name": "not-the-apiserver.example"}, user_files(cluster))
    r = kpkube_one("--kubeconfig", kc, "get", "/version")
    assert r["status"] == 0 and r["http_error"] == "tls", r
    # the URL's own host: a loopback alias outside the SANs
    alias = alias_of_loopback()
    if alias is None:
        pytest.skip("no host name other than localhost resolves to 127.0.0.1 here")
    server = cluster.apiserver.replace("127.0.0.1", alias)
    kc = kubeconfig(tmp_path / "alias.yaml", server, ca, user_files(cluster))
    r = kpkube_one("--kubeconfig", kc, "get", "/version")
    assert r["status"] == 0 and r["http_error"] == "tls", r
    assert alias in r["error"], r  # curl: "... does not match target host name 'ALIAS'"
    # localhost is in the SANs: the same configuration verifies
    kc = kubeconfig(tmp_path / "lh.yaml", cluster.apiserver.replace("127.0.0.1", "localhost"),
                    ca, user_files(cluster))
    assert kpkube_one("--kubeconfig", kc, "get", "/version")["status"] == 200


# ---- the client certificate -----------------------------------------------------------------

def test_client_certificate_is_presented(cluster, tmp_path):
    ca = {"certificate-authority": cluster.ca_cert}
    for form, user in (("file", user_files(cluster)), ("inline", user_inline(cluster))):
        kc = kubeconfig(tmp_path / f"{form}.yaml", cluster.apiserver, ca, user)
        assert username(kc) == "kubepulse-admin", form
    crt, key = cluster.issue_cert("kp-tls-other", "kp-tls-other")
    kc = kubeconfig(tmp_path / "other.yaml", cluster.apiserver, ca,
                    {"client-certificate": crt, "client-key": key})
    assert username(kc) == "kp-tls-other"
    # a key that does not belong to the certificate: a TLS error that says so, no request
    kc = kubeconfig(tmp_path / "mismatch.yaml", cluster.apiserver, ca,
                    {"client-certificate": crt, "client-key": cluster.admin_cert[1]})
    r = kpkube_one("--kubeconfig", kc, "get", "/version")
    assert r["http_error"] == "tls" and "does not match the client certificate" in r["error"], r
    assert "PRIVATE KEY" not in r["error"]


def test_rotated_client_certificate_is_not_sent_on_the_old_connection(cluster, tmp_path):
    """An exec plugin hands out certificate A (system:masters), then B (no rights). The
    connection made with A is still kept alive when B arrives; reusing it would authenticate
    the second request as A (200). It must go out on a new connection with B (403)."""
    a_crt, a_key = cluster.issue_cert("kp-tls-rot-a", "kp-tls-rot-a", orgs=["system:masters"])
    b_crt, b_key = cluster.issue_cert("kp-tls-rot-b", "kp-tls-rot-b")
    runs = tmp_path / "runs"
    runs.write_text("")
    plugin = tmp_path / "plugin.py"
    plugin.write_text(f"""#!/usr/bin/env python3
import json, time
from pathlib import Path
runs = Path({str(runs)!r})
n = len(runs.read_text().splitlines())
runs.write_text(runs.read_text() + "run\\n")
crt, key = ({a_crt!r}, {a_key!r}) if n == 0 else ({b_crt!r}, {b_key!r})
exp = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() + 1))
print(json.dumps({{"apiVersion": "client.authentication.k8s.io/v1", "kind": "ExecCredential",
                  "status": {{"clientCertificateData": Path(crt).read_text(),
                             "clientKeyData": Path(key).read_text(),
                             "expirationTimestamp": exp}}}}))
""")
    plugin.chmod(0o755)
    kc = kubeconfig(tmp_path / "exec.yaml", cluster.apiserver,
                    {"certificate-authority": cluster.ca_cert},
                    {"exec": {"apiVersion": "client.authentication.k8s.io/v1",
                              "command": str(plugin)}})
    t0 = time.monotonic()
    lines = kpkube("--kubeconfig", kc, "poll", "/api/v1/namespaces/default", 2, 2.5)
    assert time.monotonic() - t0 < 30
    assert runs.read_text().count("run") == 2, "the plugin ran once per credential"
    assert [l["status"] for l in lines] == [200, 403], lines
    assert "kp-tls-rot-b" in lines[1]["error"], lines[1]
