# SPDX-License-Identifier: Apache-2.0
"""test_heapster_database.py - kubepulse writes into the database Heapster filled (issue #16,
"Heapster's database"), against the real InfluxDB of tests/infra:

- a database created as Heapster's sink creates it (CREATE DATABASE db WITH NAME "default")
  and pre-filled with one point per measurement in Heapster's exact field types
  (data/heapster_metric_types.tsv, from Heapster's metrics/core/metrics.go) takes every point
  of kubepulse's cycles: nothing rejected, each measurement keeps one field type, Heapster's;
  the same with Heapster's withfields=true layout (measurement "cpu", field "usage_rate");
- kubepulse's own database is created as Heapster's: a default retention policy "default",
  forever (or retention=D long);
- the four tags Heapster's sink never wrote (pod_id, namespace_id, hostname, host_id) are
  not written, unless withids=true.

Runtime: about half a minute.
"""

from __future__ import annotations

import re
import secrets
import time
import urllib.request
from pathlib import Path

import pytest

from kpharness import InfluxError, wait_for
from test_heapster_flags import KUBEPULSE, admin_kubeconfig, running_sims

DATA = Path(__file__).parent / "data" / "heapster_metric_types.tsv"
PREFIX, BASE = "kphd-", "127.1.43.1"  # apart from other tests' simulators
IDS = {"pod_id", "namespace_id", "hostname", "host_id"}


def heapster_types() -> dict[str, str]:
    out = {}
    for line in DATA.read_text().splitlines():
        if line and not line.startswith("#"):
            name, t = line.split("\t")
            out[name] = t
    return out


@pytest.fixture(scope="module")
def sims(cluster):
    yield from running_sims(cluster, "test_heapster_db", tls=(PREFIX, BASE), http=None)


def run_kubepulse(cluster, procs, tmp_path, name: str, sink_opts: str):
    kc = admin_kubeconfig(cluster, tmp_path / f"kc-{name}")
    sink = f"--sink=influxdb:{cluster.env['KP_INFLUX_URL']}?{sink_opts}"
    # a fresh log per run: the same test run again appends to the same directory
    return procs.start(f"{name}-{secrets.token_hex(3)}", [KUBEPULSE, "--kubeconfig", kc, "--leader-elect=false",
                              "--listen=127.0.0.1:0", "--metric-resolution=2s",
                              "--kubelet-timeout=1s", "--sink-batch-lines=500", sink])


def status_metrics(proc) -> dict[str, float]:
    port = wait_for(lambda: re.search(r"status server listening.* port=(\d+)", proc.log()),
                    timeout=20, what="status server").group(1)
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as r:
        text = r.read().decode()
    return {k: float(v) for k, v in (l.rsplit(" ", 1) for l in text.splitlines()
                                      if l and not l.startswith("#"))}


def field_types(cluster, db: str) -> dict[str, set[str]]:
    out: dict[str, set[str]] = {}
    for res in cluster.influx_query("SHOW FIELD KEYS", db).get("results", []):
        for series in res.get("series", []):
            out[series["name"]] = {f"{k}:{t}" for k, t in series["values"]}
    return out


def tag_keys(cluster, db: str, measurement: str) -> set[str]:
    rows = cluster.influx_rows(f'SHOW TAG KEYS FROM "{measurement}"', db)
    return {r["tagKey"] for r in rows}


def wait_node_points(cluster, db: str, since_ns: int):
    """Both simulated nodes' node-level cpu/usage_rate, written after since_ns."""
    def ready():
        try:
            rows = cluster.influx_rows(
            f'SELECT "value", "nodename" FROM "cpu/usage_rate" WHERE "type" = \'node\' AND '
                f'"nodename" =~ /^{PREFIX}/ AND time > {since_ns}', db)
        except InfluxError:  # the database is not created yet
            return None
        return rows if len({r["nodename"] for r in rows}) == 2 else None
    return wait_for(ready, timeout=30, interval=0.5, what="kubepulse's node points")


def assert_nothing_rejected(kp):
    m = status_metrics(kp)
    rejected = [v for k, v in m.items()
                if k.startswith("kubepulse_sink_points_dropped_total") and 'reason="rejected"' in k]
    written = [v for k, v in m.items() if k.startswith("kubepulse_sink_points_written_total")]
    assert rejected == [0] and written and written[0] > 0, {
        k: v for k, v in m.items() if k.startswith("kubepulse_sink_points")}
    assert "field type conflict" not in kp.log()


def test_writes_into_heapsters_database(sims, cluster, procs, tmp_path):
    db = f"hs_{secrets.token_hex(3)}"
    cluster.influx_query(f'CREATE DATABASE "{db}" WITH NAME "default"')  # Heapster's query
    types = heapster_types()
    then = time.time_ns() - 3600 * 10**9
    lines = []
    for i, (name, t) in enumerate(sorted(types.items())):
        value = f"{i + 1}i" if t == "int" else f"{i + 1}.5"
        lines.append(f"{name},cluster_name=default,nodename=heapster-node,type=node "
                     f"value={value} {then}")
    cluster.influx_write(lines, db)
    since = time.time_ns()
    kp = run_kubepulse(cluster, procs, tmp_path, "kp-heapster-db", f"db={db}")
    rows = wait_node_points(cluster, db, since)
    assert all(isinstance(r["value"], int) for r in rows), rows
    time.sleep(2.5)  # a few more cycles: every measurement written, filesystem ones too
    assert_nothing_rejected(kp)
    got = field_types(cluster, db)
    written = [n for n in got if cluster.influx_rows(
        f'SELECT count("value") FROM "{n}" WHERE time > {since}', db)]
    assert len(written) >= 20, written
    for name in written:
        assert name in types, f"{name}: a measurement Heapster never wrote"
        want = "value:integer" if types[name] == "int" else "value:float"
        assert got[name] == {want}, (name, got[name])
    # Heapster's retention policy stays the default one, and kubepulse wrote into it
    rps = cluster.influx_rows("SHOW RETENTION POLICIES", db)
    assert [(r["name"], r["default"]) for r in rps] == [("default", True)], rps


def test_creates_heapsters_retention_policy_and_drops_its_four_tags(sims, cluster, procs,
                                                                     tmp_path):
    db, db_ids, db_rp = (f"{p}_{secrets.token_hex(3)}" for p in ("kpnew", "kpids", "kprp"))
    since = time.time_ns()
    run_kubepulse(cluster, procs, tmp_path, "kp-new-db", f"db={db}")
    run_kubepulse(cluster, procs, tmp_path, "kp-withids", f"db={db_ids}&withids=true")
    run_kubepulse(cluster, procs, tmp_path, "kp-retention", f"db={db_rp}&retention=2h")
    for d in (db, db_ids, db_rp):
        wait_node_points(cluster, d, since)
    rps = {d: cluster.influx_rows("SHOW RETENTION POLICIES", d) for d in (db, db_rp)}
    assert [(r["name"], r["duration"], r["default"]) for r in rps[db]] == [
        ("default", "0s", True)], rps[db]
    assert [(r["name"], r["duration"], r["default"]) for r in rps[db_rp]] == [
        ("default", "2h0m0s", True)], rps[db_rp]
    for measurement in ("cpu/usage_rate", "memory/usage", "filesystem/usage"):
        keys = tag_keys(cluster, db, measurement)
        assert keys and not keys & IDS, (measurement, keys)
        assert {"cluster_name", "nodename", "type"} <= keys
    keys = tag_keys(cluster, db_ids, "cpu/usage_rate")
    # host_id is a Node's spec.providerID, which the simulated Nodes do not have
    assert IDS - {"host_id"} <= keys, keys


def test_writes_into_heapsters_withfields_database(sims, cluster, procs, tmp_path):
    """Heapster's withfields=true layout: measurement "cpu", field "usage_rate" (its sink split
    the metric name at the first '/'; "uptime" kept the field "value")."""
    db = f"hsf_{secrets.token_hex(3)}"
    cluster.influx_query(f'CREATE DATABASE "{db}" WITH NAME "default"')
    groups: dict[str, dict[str, str]] = {}
    for name, t in heapster_types().items():
        meas, _, field = name.partition("/")
        groups.setdefault(meas, {})[field or "value"] = t
    then = time.time_ns() - 3600 * 10**9
    lines = []
    for meas, fields in sorted(groups.items()):
        vals = ",".join(f"{f}={'7i' if t == 'int' else '7.5'}" for f, t in sorted(fields.items()))
        lines.append(f"{meas},cluster_name=default,nodename=heapster-node,type=node {vals} {then}")
    cluster.influx_write(lines, db)
    since = time.time_ns()
    kp = run_kubepulse(cluster, procs, tmp_path, "kp-heapster-wf", f"db={db}&withfields=true")

    def ready():
        try:
            rows = cluster.influx_rows(
                f'SELECT "usage_rate", "nodename" FROM "cpu" WHERE "type" = \'node\' AND '
                f'"nodename" =~ /^{PREFIX}/ AND time > {since}', db)
        except InfluxError:
            return None
        return rows if len({r["nodename"] for r in rows}) == 2 else None
    rows = wait_for(ready, timeout=30, interval=0.5, what="kubepulse's grouped node points")
    assert all(isinstance(r["usage_rate"], int) for r in rows), rows
    time.sleep(2.5)
    assert_nothing_rejected(kp)
    got = field_types(cluster, db)
    for meas, fields in got.items():
        want = {f"{f}:{'integer' if t == 'int' else 'float'}"
                for f, t in groups.get(meas, {}).items()}
        assert fields <= want, (meas, fields - want)
