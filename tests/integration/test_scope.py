# SPDX-License-Identifier: Apache-2.0
"""Scope controls end to end: one kubepulse replica against the real kube-apiserver, the kubelet
simulator and the real InfluxDB, first writing everything, then with --node-selector,
--namespace-exclude and --metric-deny. What is checked, against what InfluxDB stored
(SHOW SERIES) and what the API server itself selects (`kubectl get -l`, its own label
selector implementation):

- the scoped replica caches exactly the nodes the API server returns for the selector (the
  selector goes to the node LIST/WATCH), and writes series for those nodes only;
- its pod series are exactly the API server's pods on those nodes outside the excluded
  namespaces; no ns series of an excluded namespace;
- no measurement matches the deny patterns; every other metric of the full run is there;
- the series count (SHOW SERIES CARDINALITY) drops, and the figures are printed.
"""

from __future__ import annotations

import json
import re
import signal
from fnmatch import fnmatch

import pytest

from kpharness import wait_for
from kpreplicas import KUBEPULSE, World, log

SELECTOR = "topology.kubernetes.io/zone=zone-a"
EXCLUDE = ["ns-0", "ns-1"]
DENY = ["network/*", "filesystem/inodes*"]


def series(cluster, db: str) -> list[tuple[str, dict]]:
    """(measurement, tags) of every series of db, from SHOW SERIES."""
    out = []
    for row in cluster.influx_rows("SHOW SERIES", db):
        parts = re.split(r"(?<!\\),", row["key"])
        tags = {}
        for p in parts[1:]:
            k, _, v = p.partition("=")
            tags[k] = re.sub(r"\\(.)", r"\1", v)
        out.append((parts[0].replace("\\", ""), tags))
    return out


def cardinality(cluster, db: str) -> int:
    rows = cluster.influx_rows(f'SHOW SERIES EXACT CARDINALITY ON "{db}"')
    return int(sum(r.get("count", 0) for r in rows))


def run(world: World, name: str, db: str, extra=()) -> dict:
    """One replica writing to db until 3 cycles are stored; returns its last /status."""
    sink = f"influxdb:{world.cluster.influx_url}?db={db}"
    r = world.start(name, sink=sink, extra=extra)
    leader = world.leader(timeout=30)
    assert leader is r

    def stored():
        st = r.status()
        s = st["sinks"][0]
        return st if st["collector"]["cycles"] >= 3 and s["pointsWritten"] > 0 and \
            s["pointsBuffered"] == 0 else None
    st = wait_for(stored, timeout=60, interval=0.5, what=f"{name}: 3 cycles stored")
    r.signal(signal.SIGTERM)
    wait_for(lambda: not r.alive(), timeout=20, what=f"{name} exits")
    return st


def test_scope_filters_series(cluster, procs, namespace, tmp_path):
    if not KUBEPULSE.exists():
        pytest.skip(f"{KUBEPULSE} not built")
    w = World(cluster, procs, namespace, tmp_path, res=2.0)
    w.start_sim(nodes=6, pods=10)
    try:
        prefix = w.db.replace("_", "-") + "-"
        full_db, scoped_db = w.db, w.db + "_scoped"
        run(w, "all", full_db)
        st = run(w, "scoped", scoped_db, extra=[
            f"--node-selector={SELECTOR}", f"--namespace-exclude={','.join(EXCLUDE)}",
            f"--metric-deny={','.join(DENY)}"])

        # The API server's answers to the same selector are the oracle.
        selected = json.loads(cluster.kubectl("get", "nodes", "-l", SELECTOR, "-o",
                                              "json").stdout)["items"]
        assert st["collector"]["nodesCached"] == len(selected), st["collector"]
        ours = {n["metadata"]["name"] for n in selected if n["metadata"]["name"]
                .startswith(prefix)}
        all_ours = {n["metadata"]["name"] for n in json.loads(cluster.kubectl(
            "get", "nodes", "-o", "json").stdout)["items"]
            if n["metadata"]["name"].startswith(prefix)}
        assert 0 < len(ours) < len(all_ours), (ours, all_ours)
        pods = json.loads(cluster.kubectl("get", "pods", "-A", "-o", "json").stdout)["items"]
        want_pods = {(p["metadata"]["namespace"], p["metadata"]["name"]) for p in pods
                     if p["spec"].get("nodeName") in ours
                     and p["metadata"]["namespace"] not in EXCLUDE}
        assert want_pods

        full, scoped = series(cluster, full_db), series(cluster, scoped_db)
        full = [(m, t) for m, t in full if t.get("nodename", prefix).startswith(prefix)]
        scoped = [(m, t) for m, t in scoped if t.get("nodename", prefix).startswith(prefix)]
        # the full run had every node, namespace and metric the scoped one leaves out
        assert {t["nodename"] for _, t in full if "nodename" in t} == all_ours
        assert {t["namespace_name"] for _, t in full if "namespace_name" in t} >= set(EXCLUDE)
        assert any(fnmatch(m, d) for m, _ in full for d in DENY)

        assert {t["nodename"] for _, t in scoped if "nodename" in t} == ours
        got_pods = {(t["namespace_name"], t["pod_name"]) for m, t in scoped
                    if t.get("type") == "pod"}
        assert got_pods == want_pods
        assert not [t for _, t in scoped if t.get("namespace_name") in EXCLUDE]
        measurements = {m for m, _ in scoped}
        assert not [m for m in measurements if any(fnmatch(m, d) for d in DENY)]
        assert measurements == {m for m, _ in full if not any(fnmatch(m, d) for d in DENY)}

        n_full, n_scoped = cardinality(cluster, full_db), cardinality(cluster, scoped_db)
        log(f"series: {n_full} without scope, {n_scoped} with {SELECTOR}, "
            f"exclude {EXCLUDE}, deny {DENY} (of these nodes: {len(full)}, {len(scoped)})")
        assert len(scoped) < len(full) and n_scoped < n_full
    finally:
        w.cleanup()
