# SPDX-License-Identifier: Apache-2.0
"""Secrets never leak, and every insecure switch says so at start.

A full run (kubelet simulator, two replicas with a failover between them, a ServiceAccount
token in a token file for the API server and the kubelets, the auth-enabled InfluxDB with a
password from pwFile=) at the highest verbosity, in both log formats: neither the token, nor
its signature, nor the password, nor the Basic credentials built from it appear in any log
line, any /metrics or /status page. A replica given a wrong password must not print that
one either.

Each insecure switch (--kubelet-insecure-tls, sink insecuressl=true, kubeconfig
insecure-skip-tls-verify) logs a warning when kubepulse starts.
"""

from __future__ import annotations

import base64
import re
import secrets
import signal
import time

from kpharness import wait_for
from kpreplicas import KUBEPULSE, http_get
from test_ha_e2e import RES, World, pytestmark  # noqa: F401


def _grep_secrets(texts: dict[str, str], secret_strings: dict[str, str]):
    leaks = []
    for where, text in texts.items():
        for name, s in secret_strings.items():
            if s and s in text:
                leaks.append(f"{name} in {where}")
    return leaks


def test_no_secret_in_logs_metrics_or_status(cluster, procs, namespace, tmp_path):
    url, admin, admin_pw = cluster.influx_auth()
    user, password = "kpsec" + secrets.token_hex(3), "pw-" + secrets.token_hex(12)
    cluster.influx_query(f"CREATE USER \"{user}\" WITH PASSWORD '{password}' "
                         "WITH ALL PRIVILEGES", url=url, auth=(admin, admin_pw))
    pw_file = tmp_path / "influx-password"
    pw_file.write_text(password + "\n")
    pw_file.chmod(0o600)
    world = World(cluster, procs, namespace, tmp_path,
                  sink_extra=f"&user={user}&pwFile={pw_file}", influx_url=url,
                  extra_args=["--v=10"])
    world.extra_args.append(f"--kubelet-token-file={world.token_file}")
    try:
        world.start_sim()
        a = world.start("text", log_format="text")  # klog-style text logs
        leader = wait_for(lambda: a.leading() and a, timeout=20, what="a leads")
        b = world.start("json")
        wrong = tmp_path / "wrong-password"
        wrong_pw = "wrong-" + secrets.token_hex(12)
        wrong.write_text(wrong_pw)
        # On a Lease of its own: it leads there and tries to write with the wrong password.
        c = world.start("wrongpw", sink=f"influxdb:{url}?db={world.db}&user={user}"
                                        f"&pwFile={wrong}", extra=["--lease-name=wrongpw"])
        wait_for(lambda: leader.status()["collector"]["cycles"] >= 2, timeout=4 * RES + 10,
                 what="two cycles")
        pages = {}
        for r in (a, b, c):
            for path in ("/metrics", "/status", "/healthz", "/readyz"):
                pages[f"{r.identity} {path}"] = http_get(r.port, path)[1]
        # Fail over so that the other replica leads too, then collect again.
        leader.signal(signal.SIGTERM)
        assert leader.proc.wait(10) == 0
        new = b
        wait_for(b.leading, timeout=5, what="the json replica to take over")
        wait_for(lambda: new.status()["collector"]["cycles"] >= 2, timeout=4 * RES + 10,
                 what="two cycles of the new leader")
        for r in world.live():
            for path in ("/metrics", "/status"):
                pages[f"{r.identity} {path} (after failover)"] = http_get(r.port, path)[1]
        written = sum(s["pointsWritten"] for s in new.status()["sinks"])
        assert written > 0, new.status()  # the password really was used
        rows = cluster.influx_rows('SELECT count(value) FROM "memory/usage"', world.db,
                                   url=url, auth=(admin, admin_pw))
        assert rows and rows[0]["count"] > 0
        for r in world.live():
            r.signal(signal.SIGTERM)
            r.proc.wait(10)
    finally:
        world.cleanup()

    texts = {f"log of {r.identity}": r.proc.text() for r in world.replicas}
    texts.update(pages)
    assert '"v":' in texts[f"log of {b.identity}"]  # json
    assert re.search(r"^[IWE]\d{4} ", texts[f"log of {a.identity}"], re.M)  # klog text
    # The wrong password was refused, and said so without the password.
    assert re.search(r"401|auth", texts[f"log of {c.identity}"], re.I), texts[f"log of {c.identity}"]
    token = world.token
    secret_strings = {
        "the ServiceAccount token": token,
        "the token's signature": token.rsplit(".", 1)[-1],
        "the InfluxDB password": password,
        "the Basic credentials": base64.b64encode(f"{user}:{password}".encode()).decode(),
        "the wrong password": wrong_pw,
        "the wrong Basic credentials": base64.b64encode(f"{user}:{wrong_pw}".encode()).decode(),
    }
    total = sum(len(t) for t in texts.values())
    leaks = _grep_secrets(texts, secret_strings)
    assert not leaks, leaks
    print(f"\nscanned {len(texts)} logs and pages ({total} bytes) for "
          f"{len(secret_strings)} secret strings: none found")


def _warned(proc, pattern: str) -> bool:
    return any(re.search(pattern, line) and re.match(r"^(W\d{4} |\{.*\"level\":\"warning\")",
                                                     line)
               for line in proc.log().splitlines())


def test_insecure_switches_warn_at_start(cluster, procs, namespace, tmp_path):
    cert, key = cluster.admin_cert
    insecure_kc = cluster.write_kubeconfig(tmp_path / "insecure.kubeconfig",
                                           {"client-certificate": cert, "client-key": key},
                                           verify=False)
    common = [str(KUBEPULSE), f"--lease-namespace={namespace}", "--listen=127.0.0.1:0"]
    cases = {
        "kubelet-insecure-tls": (
            [f"--kubeconfig={cluster.kubeconfig}", "--kubelet-insecure-tls",
             f"--sink=influxdb:{cluster.influx_url}?db=k8s_sec"],
            r"TLS verification of kubelets is off"),
        "insecuressl": (
            [f"--kubeconfig={cluster.kubeconfig}",
             f"--sink=influxdb:{cluster.influx_url}?db=k8s_sec&insecuressl=true"],
            r"TLS certificate verification is off for this sink"),
        "insecure-skip-tls-verify": (
            [f"--kubeconfig={insecure_kc}", f"--sink=influxdb:{cluster.influx_url}?db=k8s_sec"],
            r"TLS verification of the API server is off"),
    }
    started = {name: (procs.start(f"insecure-{name}", [*common, *argv, f"--identity={name}"]),
                      pattern) for name, (argv, pattern) in cases.items()}
    for name, (proc, pattern) in started.items():
        wait_for(lambda: _warned(proc, pattern) or not proc.alive(), timeout=15,
                 what=f"the {name} warning")
        assert _warned(proc, pattern), f"{name}: no warning:\n{proc.log()}"
        # ...at start: before the status server is up and the election begins.
        lines = proc.log().splitlines()
        warn_at = next(i for i, line in enumerate(lines) if re.search(pattern, line))
        later = [i for i, line in enumerate(lines) if "starting leader election" in line]
        assert not later or warn_at < later[0], lines
    # And a replica without any of them warns about none.
    plain = procs.start("secure", [*common, f"--kubeconfig={cluster.kubeconfig}",
                                   f"--sink=influxdb:{cluster.influx_url}?db=k8s_sec",
                                   "--identity=secure"])
    wait_for(lambda: "starting leader election" in plain.log(), timeout=15, what="start")
    time.sleep(0.5)
    assert not re.search(r"verification (of \w+ )?(of the API server )?is off|is off for this",
                         plain.log()), plain.log()
