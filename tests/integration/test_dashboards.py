# SPDX-License-Identifier: Apache-2.0
"""test_dashboards.py — Heapster's own Grafana dashboards (and ours) against InfluxDB filled by
kubepulse, every panel bucket compared with the truth from the simulator's expected values.

Kubelets whose samples are spread over their housekeeping interval (kubeletsim `-jitter`:
every node, pod and container has its own sample time within a 10 s interval) are scraped by
one kubepulse replica writing to the real InfluxDB of tests/infra. Then every target of
Heapster's grafana/dashboards/cluster.json and pods.json (tests/integration/dashboards/, origin
in the README there) is rendered as Grafana's InfluxDB query builder renders it from the
target's measurement, tags, select and groupBy (the stored `query` text says mean(); the
builder's select says sum(), and the builder's is what runs), and every target of our
charts/kubepulse/files/dashboard.json as its raw query. `$interval` takes the values Grafana
picks for the last 30 minutes, 6 hours and 7 days on a 400, a 1024, a 1280 and a 1920 pixel
wide window (grafana_interval below; at 400 px the 6-hour $interval is 1m, the resolution
itself: the boundary case, one cycle in every bucket). Each bucket InfluxDB returns is
compared with the truth: per scrape cycle, the panel's aggregate over the series it selects
of the values the simulator says a scrape at that time returns (/expected; rates from two
such samples; requests, limits and allocatable from its manifest), averaged over the cycles
whose time falls in the bucket.

Heapster's panels sum every point of a bucket, so they show the truth only when a bucket
holds one point per series: every point of a cycle stamped with the cycle's grid time, and
no more than one cycle per bucket ($interval <= --metric-resolution). Where $interval is
longer (7 days), the test asserts what Heapster's own dashboards show there: the sum of the
bucket's cycles, (cycles in the bucket) x the truth. A compared cycle whose bucket has no
value for a group its truth has is wrong too (Heapster's panels, nullPointMode "connected",
would draw through it unseen). The queries start once kubepulse's sink holds no point: every
point of the compared cycles acknowledged by InfluxDB (or dropped, which the diagnosis names).
docs/metrics.md has the figures.

When buckets are wrong, the message says what the run saw (diagnose below): the compared
cycles as kubepulse logged them (points, duration, how long after their grid time they ended),
its warnings, the sink's losses, whether this simulator's pods and nodes are still in the API
server, and the wrong buckets grouped by the cycles they hold and the measurements they query.

Environment: KP_DASH_RES (the resolution, default 60 s: the default of --metric-resolution);
KP_DASH_KUBEPULSE (another kubepulse binary, to measure an older build). Runtime: about
5 minutes at 60 s.
"""

from __future__ import annotations

import json
import math
import os
import re
import secrets
import time
import urllib.parse
from pathlib import Path

import pytest

from kpharness import REPO_ROOT, wait_for
from test_collector import (Env, cpu_rate, http_json, prom_metrics, quantity, rfc3339_ns,
                            run_env)

BUILD_DIR = Path(os.environ.get("KP_BUILD_DIR", REPO_ROOT / "build"))
KUBEPULSE = Path(os.environ.get("KP_DASH_KUBEPULSE", BUILD_DIR / "src" / "kubepulse"))
RES = int(os.environ.get("KP_DASH_RES", "60"))
SAMPLE, JITTER = 10, 9  # the simulated kubelets' housekeeping interval and sample spread
NODES, PODS = 4, 3
PREFIX = "kpdash-"
ADDR_BASE = "127.1.12.1"
# grid cycles compared: at least three, and a minute's worth so that a resolution shorter than
# Grafana's bucket puts two cycles in some bucket whatever the start
CYCLES = max(3, 60 // RES + 1)
DASHBOARDS = REPO_ROOT / "tests" / "integration" / "dashboards"
OURS = REPO_ROOT / "charts" / "kubepulse" / "files" / "dashboard.json"
RANGES_MS = {"30m": 30 * 60_000, "6h": 6 * 3_600_000, "7d": 7 * 86_400_000}
# browser window widths, pixels: 400 (a phone held upright; any width from 241 to 480 px gives
# 1-minute buckets at 6 hours) and three desktop ones
WINDOWS = (400, 1024, 1280, 1920)


# ---- what Grafana does ---------------------------------------------------------------------

# Grafana's roundInterval (public/app/core/utils/kbn.ts; rangeutil.ts in later versions): the
# raw interval (range / data points), in ms, rounded to a "nice" one: (below, becomes).
_ROUND = [(10, 1), (15, 10), (35, 20), (75, 50), (150, 100), (350, 200), (750, 500),
          (1500, 1000), (3500, 2000), (7500, 5000), (12500, 10000), (17500, 15000),
          (25000, 20000), (45000, 30000), (90000, 60000), (210000, 120000), (450000, 300000),
          (750000, 600000), (1050000, 900000), (1500000, 1200000), (2700000, 1800000),
          (5400000, 3600000), (9000000, 7200000), (16200000, 10800000),
          (32400000, 21600000), (86400000, 43200000), (604800000, 86400000)]


def grafana_interval(range_ms: int, points: int) -> int:
    """kbn.calculateInterval with no minimum interval (neither the panels nor Heapster's
    datasource set one): roundInterval(range / points), in ms."""
    raw = range_ms / points
    return next((to for below, to in _ROUND if raw < below), 604800000)


def hms(ms: int) -> str:
    """kbn.secondsToHms for the intervals above: the form $interval takes in the query."""
    s = ms // 1000
    for unit, n in (("d", 86400), ("h", 3600), ("m", 60)):
        if s >= n and s % n == 0:
            return f"{s // n}{unit}"
    return f"{s}s" if s else f"{ms}ms"


def heapster_points(panel: dict, window: int) -> int:
    """Grafana 5.0.4 (Heapster's grafana image): maxDataPoints, else the window's width times
    the panel's span/12 (metrics_panel_ctrl.updateTimeRange)."""
    return panel.get("maxDataPoints") or math.ceil(window * panel.get("span", 12) / 12)


def ours_points(panel: dict, window: int) -> int:
    """Grafana 7+ (our dashboard's timeseries panels): the panel's width in pixels, the
    window's share by gridPos.w of 24 columns."""
    return panel.get("maxDataPoints") or math.ceil(window * panel["gridPos"]["w"] / 24)


def render_builder(t: dict) -> str:
    """Grafana's InfluxQueryModel.render (influx_query_model.ts) of a builder target, before
    template variables: SELECT parts, FROM, the tag conditions in parentheses, $timeFilter,
    GROUP BY parts (fill joined with a space, the others with a comma)."""
    selects = []
    for parts in t["select"]:
        text = ""
        for p in parts:
            if p["type"] == "field":
                text = f'"{p["params"][0]}"'
            elif p["type"] in ("sum", "mean", "max", "min", "last", "count") and not p["params"]:
                text = f'{p["type"]}({text})'
            else:
                raise AssertionError(f"select part not rendered here: {p}")
        selects.append(text)
    q = f'SELECT {", ".join(selects)} FROM "{t["measurement"]}" WHERE '
    conds = []
    for i, tag in enumerate(t.get("tags", [])):
        op = tag.get("operator") or ("=~" if re.fullmatch(r"/.*/", tag["value"]) else "=")
        value = tag["value"] if op in ("=~", "!~") else "'" + tag["value"] + "'"
        conds.append(("" if i == 0 else tag.get("condition", "AND") + " ")
                     + f'"{tag["key"]}" {op} {value}')
    if conds:
        q += "(" + " ".join(conds) + ") AND "
    q += "$timeFilter"
    group = ""
    for i, g in enumerate(t.get("groupBy", [])):
        if i:
            group += " " if g["type"] == "fill" else ", "
        group += {"time": lambda p: f"time({p[0]})", "tag": lambda p: f'"{p[0]}"',
                  "fill": lambda p: f"fill({p[0]})"}[g["type"]](g["params"])
    if group:
        q += " GROUP BY " + group
    return q


# ---- the queries of the three dashboards ---------------------------------------------------

class Query:
    """One target at one $interval: the InfluxQL that runs, and what it computes (parsed back
    from it for the truth): measurement, tag conditions, per-time aggregate over series
    (sum, mean or last), the tags grouped by, a constant divisor."""

    def __init__(self, dashboard, panel, text, interval_ms, label):
        self.dashboard, self.panel, self.text = dashboard, panel, text
        self.interval_ms, self.label = interval_ms, label
        m = re.fullmatch(
            r'SELECT sum\("v"\)( / (\d+))? FROM \(SELECT mean\("value"\) AS "v" FROM "([^"]+)" '
            r'WHERE (.*) AND \$timeFilter GROUP BY time\(\S+\)((?:, "\w+")*)\) WHERE \$timeFilter '
            r'GROUP BY time\(\S+\)((?:, "\w+")*) fill\(null\)', text)
        if m:  # ours: the mean of each series over the bucket, then their sum
            self.agg, self.div, self.measurement = "sum", int(m.group(2) or 1), m.group(3)
            where, self.group = m.group(4), re.findall(r'"(\w+)"', m.group(6))
        else:
            m = re.fullmatch(
                r'SELECT (sum|mean|last)\("value"\)( / (\d+))? FROM "([^"]+)" WHERE \(?(.*?)\)? '
                r'AND \$timeFilter GROUP BY time\(\S+\)((?:, "\w+")*) fill\(null\)', text)
            assert m, f"query not understood here: {text}"
            self.agg, self.div, self.measurement = m.group(1), int(m.group(3) or 1), m.group(4)
            where, self.group = m.group(5), re.findall(r'"(\w+)"', m.group(6))
        self.conds = []
        for c in re.split(r"\s+AND\s+", where):
            cm = re.fullmatch(r'"(\w+)" (=|=~) (?:\'(.*)\'|/(.*)/)', c.strip())
            assert cm, f"condition not understood here: {c!r} in {text}"
            self.conds.append((cm.group(1), cm.group(2), cm.group(3) or cm.group(4)))

    def selects(self, tags: dict) -> bool:
        for key, op, value in self.conds:
            have = tags.get(key)
            if have is None:
                return False
            if op == "=" and have != value:
                return False
            if op == "=~" and not re.search(value, have):
                return False
        return True


def dashboard_queries(node: str, namespace: str, pod: str) -> list[Query]:
    """Every target of the three dashboards at every $interval of RANGES_MS x WINDOWS."""
    out: dict[tuple, Query] = {}

    def add(dash, panel, text, points):
        for rng, range_ms in RANGES_MS.items():
            for window in WINDOWS:
                iv = grafana_interval(range_ms, points(panel, window))
                q = text.replace("$__interval", hms(iv)).replace("$interval", hms(iv))
                key = (dash, q)
                if key not in out:
                    out[key] = Query(dash, panel["title"], q, iv, f"{rng}@{window}px")

    for name in ("heapster-cluster.json", "heapster-pods.json"):
        d = json.loads((DASHBOARDS / name).read_text())["dashboard"]
        for row in d["rows"]:
            for panel in row["panels"]:
                for t in panel.get("targets", []):
                    # non-multi variables are substituted as they are, regex or not
                    text = (render_builder(t).replace("$nodename", node)
                            .replace("$namespace", namespace).replace("$podname", pod))
                    add(name, panel, text, heapster_points)
    d = json.loads(OURS.read_text())
    for panel in d["panels"]:
        for t in panel.get("targets", []):
            assert t.get("rawQuery"), panel["title"]
            # include-all variables at "All" take their allValue
            text = (t["query"].replace("$node", ".*").replace("$namespace", ".*")
                    .replace("$pod", ".*"))
            add("ours", panel, text, ours_points)
    return list(out.values())


# ---- the truth -------------------------------------------------------------------------------

def net_rate(now: dict, prev: dict, key: str) -> float:
    dt = (rfc3339_ns(now["time"]) - rfc3339_ns(prev["time"])) / 1e9
    return (now[key] - prev[key]) / dt


def sample_ns(st: dict) -> int:
    for g in ("cpu", "memory", "network"):
        if st.get(g, {}).get("time"):
            return rfc3339_ns(st[g]["time"])
    raise AssertionError("no sample time")


class Truth:
    """The points a cycle at grid time ts should hold, from the simulator: [(measurement,
    tags, value)] per cycle, computed once per ts."""

    def __init__(self, e: Env):
        self.e = e
        self.cache: dict[int, list] = {}

    def specs(self, node_idx: int) -> dict:
        out = {}
        for p in self.e.manifest["nodes"][node_idx]["pods"]:
            for c in p["containers"]:
                r = c["resources"]
                out[(p["namespace"], p["name"], c["name"])] = {
                    "cpu/request": quantity(r["requests"].get("cpu", "0"), True),
                    "cpu/limit": quantity((r.get("limits") or {}).get("cpu", "0"), True),
                    "memory/request": quantity(r["requests"].get("memory", "0"), False),
                    "memory/limit": quantity((r.get("limits") or {}).get("memory", "0"), False),
                }
        return out

    def points(self, ts: int) -> list:
        if ts not in self.cache:
            pts = []
            for idx in range(NODES):
                pts += self.node_points(idx, ts)
            ns_rate: dict[str, int] = {}
            for m, tags, v in pts:
                if m == "cpu/usage_rate" and tags["type"] == "pod":
                    ns_rate[tags["namespace_name"]] = ns_rate.get(tags["namespace_name"], 0) + v
            for ns, v in ns_rate.items():
                pts.append(("cpu/usage_rate", {"type": "ns", "namespace_name": ns}, v))
            pts.append(("cpu/usage_rate", {"type": "cluster"}, sum(ns_rate.values())))
            self.cache[ts] = pts
        return self.cache[ts]

    def node_points(self, idx: int, ts: int) -> list:
        e = self.e
        node = e.node_names[idx]
        man = e.manifest["nodes"][idx]
        exp, prev = e.expected(node, ts), e.expected(node, ts - RES)
        specs = self.specs(idx)
        pts = []
        nt = {"type": "node", "nodename": node}
        n = exp["node"]
        rate = cpu_rate(n["cpu"], prev["node"]["cpu"])
        cpu_alloc = quantity(man["allocatable"]["cpu"], True)
        mem_alloc = quantity(man["allocatable"]["memory"], False)
        node_sum = {k: 0 for k in ("cpu/request", "cpu/limit", "memory/request", "memory/limit")}
        for s in specs.values():
            for k in node_sum:
                node_sum[k] += s[k]
        pts += [("cpu/usage_rate", nt, rate), ("memory/usage", nt, n["memory"]["usageBytes"]),
                ("memory/working_set", nt, n["memory"]["workingSetBytes"]),
                ("network/rx_rate", nt, net_rate(n["network"], prev["node"]["network"], "rxBytes")),
                ("network/tx_rate", nt, net_rate(n["network"], prev["node"]["network"], "txBytes")),
                ("cpu/node_allocatable", nt, cpu_alloc), ("memory/node_allocatable", nt, mem_alloc),
                ("cpu/node_utilization", nt, rate / cpu_alloc),
                ("memory/node_utilization", nt, n["memory"]["usageBytes"] / mem_alloc)]
        pts += [(k, nt, v) for k, v in node_sum.items()]
        fst = {**nt, "resource_id": "/"}
        pts += [("filesystem/usage", fst, n["fs"]["usedBytes"]),
                ("filesystem/limit", fst, n["fs"]["capacityBytes"])]
        prev_pods = {p["podRef"]["uid"]: p for p in prev["pods"]}
        for p in exp["pods"]:
            ref = p["podRef"]
            pp = prev_pods[ref["uid"]]
            pt = {"type": "pod", "nodename": node, "namespace_name": ref["namespace"],
                  "pod_name": ref["name"]}
            pts += [("cpu/usage_rate", pt, cpu_rate(p["cpu"], pp["cpu"])),
                    ("memory/working_set", pt, p["memory"]["workingSetBytes"]),
                    ("network/rx_rate", pt, net_rate(p["network"], pp["network"], "rxBytes")),
                    ("network/tx_rate", pt, net_rate(p["network"], pp["network"], "txBytes"))]
            for vol in p.get("volume", []):
                vt = {**pt, "resource_id": "Volume:" + vol["name"]}
                pts += [("filesystem/usage", vt, vol["usedBytes"]),
                        ("filesystem/limit", vt, vol["capacityBytes"])]
            prev_c = {c["name"]: c for c in pp["containers"]}
            for c in p["containers"]:
                ct = {**pt, "type": "pod_container", "container_name": c["name"]}
                start = rfc3339_ns(c["startTime"])
                pts += [("cpu/usage_rate", ct, cpu_rate(c["cpu"], prev_c[c["name"]]["cpu"])),
                        ("memory/usage", ct, c["memory"]["usageBytes"]),
                        ("memory/working_set", ct, c["memory"]["workingSetBytes"]),
                        ("uptime", ct, (sample_ns(c) - start) // 10**6)]
                pts += [(k, ct, v) for k, v in
                        specs[(ref["namespace"], ref["name"], c["name"])].items()]
                for rid, fs in (("/", c["rootfs"]), ("logs", c["logs"])):
                    ft = {**ct, "resource_id": rid}
                    pts += [("filesystem/usage", ft, fs["usedBytes"]),
                            ("filesystem/limit", ft, fs["capacityBytes"])]
        return pts


def truth_of(q: Query, truth: Truth, cycles: list[int]) -> dict:
    """{group tag values: value} of the panel's aggregate over the cycles given (grid times)."""
    per_group: dict[tuple, list] = {}
    for ts in cycles:
        groups: dict[tuple, list] = {}
        for m, tags, v in truth.points(ts):
            if m == q.measurement and q.selects(tags):
                groups.setdefault(tuple(tags.get(g, "") for g in q.group), []).append(v)
        for g, vals in groups.items():
            agg = sum(vals) if q.agg == "sum" else sum(vals) / len(vals)
            per_group.setdefault(g, []).append(agg / q.div)
    if q.agg == "last":
        return {g: vals[-1] for g, vals in per_group.items()}
    return {g: sum(vals) / len(vals) for g, vals in per_group.items()}


# ---- what went wrong, when buckets are wrong ----------------------------------------------

CYCLE_LINE = re.compile(r'^[IWE]\d{4} (\d\d):(\d\d):(\d\d\.\d+) .*"cycle done" cycle_ts=(\d+) '
                        r'seconds=([0-9.e+-]+) points=(\d+)', re.M)


def sink_gauge(metrics: dict[str, float], name: str) -> float:
    """A family's value summed over its label sets (one per sink)."""
    return sum(v for k, v in metrics.items() if k == name or k.startswith(name + "{"))


def cycle_log(log: str) -> dict[int, list[dict]]:
    """{grid time: [{end, seconds, points}]} of every completed cycle: end is how long after
    its grid time the cycle ended (from the log's local time of day: modulo 15 minutes, which
    every time zone's offset is a multiple of), seconds its duration."""
    out: dict[int, list[dict]] = {}
    for m in CYCLE_LINE.finditer(log):
        ts = int(m.group(4))
        tod = int(m.group(1)) * 3600 + int(m.group(2)) * 60 + float(m.group(3))
        out.setdefault(ts, []).append({"end": (tod - ts) % 900,
                                       "seconds": float(m.group(5)), "points": int(m.group(6))})
    return out


def diagnose(e: "DashEnv", done: list[int], wrong: list[tuple]) -> str:
    """What the run saw that can make buckets wrong, each fact with the cycles it touches:
    the compared cycles as kubepulse logged them (stamped once each, consecutive, the same
    number of points, ended before the kubelets' next sample), its warnings, the sink's
    losses, this simulator's nodes and pods still in the API server; then the wrong buckets
    grouped by the cycles they hold and the measurements they query."""
    out = []
    log = e.kp.log()
    cycles = cycle_log(log)
    points = sorted({c["points"] for ts in done for c in cycles.get(ts, [])})
    for ts in done:
        for c in cycles.get(ts, []):
            facts = []
            if len(cycles[ts]) > 1:
                facts.append(f"stamped {len(cycles[ts])} times (a second term's first cycle?)")
            if len(points) > 1 and c["points"] != max(points):
                facts.append(f"fewer points than the other cycles ({max(points)}): series missing")
            if c["end"] >= SAMPLE:
                facts.append(f"ended {c['end']:.1f} s after its grid time: a scrape started "
                             f"{SAMPLE} s or more after it saw the kubelets' next sample")
            out.append(f"cycle {time.strftime('%H:%M:%S', time.gmtime(ts))} ({ts}): "
                       f"{c['points']} points, {c['seconds']:.2f} s, ended +{c['end']:.2f} s"
                       + ("; " + "; ".join(facts) if facts else ""))
    gaps = [(a, b) for a, b in zip(done, done[1:]) if b - a != RES]
    if gaps:
        out.append(f"compared cycles not one resolution apart (ticks skipped): {gaps}")
    warns = [ln for ln in log.splitlines() if re.match(r"[WE]\d{4} ", ln)]
    if warns:
        out.append(f"kubepulse logged {len(warns)} warnings/errors, the first:")
        out += ["    " + ln[:300] for ln in warns[:10]]
    port = re.search(r"status server listening.* port=(\d+)", log)
    if port:
        try:
            m = prom_metrics(f"http://127.0.0.1:{port.group(1)}")
            losses = {k: v for k, v in m.items() if v and re.match(
                r"kubepulse_(sink_points_dropped_total|sink_request_failures_total|"
                r"sink_points_buffered|nodes_failed_total|scrape_cycles_skipped_total)", k)}
            out.append(f"sink and scrape losses (/metrics): {losses or 'none'}")
        except OSError as err:
            out.append(f"/metrics not read: {err}")
    try:
        items = json.loads(e.cluster.kubectl("get", "pods", "-A", "-l", "kubepulse.io/sim=true",
                                             "-o", "json").stdout)["items"]
        have = {(p["metadata"]["namespace"], p["metadata"]["name"]) for p in items}
        want = {(p["namespace"], p["name"]) for n in e.manifest["nodes"] for p in n["pods"]
                if p.get("registrable", True)}
        gone = sorted(want - have)
        nodes = set(e.cluster.kubectl("get", "nodes", "-o", "name").stdout.split())
        gone_nodes = [n for n in e.node_names if f"node/{n}" not in nodes]
        if gone or gone_nodes:
            out.append(f"missing from the API server now: {len(gone)} of {len(want)} pods "
                       f"{gone[:4]}, nodes {gone_nodes} (deleted by someone else: their "
                       f"requests and limits are no longer known)")
    except Exception as err:  # noqa: BLE001 — a diagnosis must not hide the failure
        out.append(f"API server not read: {err}")
    by_cycles: dict[tuple, list] = {}
    for cyc, measurement, line in wrong:
        by_cycles.setdefault(cyc, []).append((measurement, line))
    for cyc, items in sorted(by_cycles.items()):
        ms = sorted({m for m, _ in items})
        out.append(f"{len(items)} wrong buckets hold cycle(s) "
                   f"{[time.strftime('%H:%M:%S', time.gmtime(t)) for t in cyc]}: "
                   f"measurements {ms}; e.g. {items[0][1].splitlines()[0]}")
    return "\n".join(out)


# ---- the test --------------------------------------------------------------------------------

class DashEnv(Env):
    def start_sim(self):
        super().start_sim(NODES, PODS, PREFIX, ADDR_BASE, SAMPLE, ["-jitter", f"{JITTER}s"])

    def start_kubepulse(self):
        self.db = f"kpdash_{secrets.token_hex(4)}"
        self.cluster.influx_query(f'CREATE DATABASE "{self.db}"')
        argv = [KUBEPULSE, "--kubeconfig", self.cluster.kubeconfig,
                "--lease-namespace", "default", "--lease-name", f"kpdash-{secrets.token_hex(3)}",
                f"--sink=influxdb:{self.cluster.influx_url}?db={self.db}",
                f"--metric-resolution={RES}s", "--kubelet-timeout=5s",
                "--kubelet-token-file", self.token, "--listen", "127.0.0.1:0", "--v=1"]
        self.kp = self.procs.start("kubepulse", argv)


@pytest.fixture(scope="module")
def denv(cluster, tmp_path_factory):
    yield from run_env(DashEnv, KUBEPULSE, cluster, tmp_path_factory, "test_dashboards")


def influx_buckets(e: DashEnv, q: Query, t0_ms: int, t1_ms: int) -> dict:
    """{(group tag values, bucket start ms): value} of the non-null buckets."""
    text = q.text.replace("$timeFilter", f"time >= {t0_ms}ms and time <= {t1_ms}ms")
    out = {}
    for res in e.cluster.influx_query(text, e.db, epoch="ms").get("results", []):
        for series in res.get("series", []):
            tags = series.get("tags") or {}
            g = tuple(tags.get(k, "") for k in q.group)
            for t, v in series["values"]:
                if v is not None:
                    out[(g, t)] = v
    return out


def test_dashboards_show_the_truth(denv):
    e = denv
    start = time.time()
    # grid cycles after the first tick: the term's first cycle has no rates, and the first
    # tick's may have none either (its kubelet samples may not have advanced since)
    def cycles():
        done = [int(m.group(1)) for m in re.finditer(r'"cycle done" cycle_ts=(\d+)', e.kp.log())]
        done = [ts for ts in done if ts > start][1:]
        return done[:CYCLES] if len(done) > CYCLES else None  # one more: the sink has flushed
    done = wait_for(cycles, timeout=(CYCLES + 4) * RES + 30, interval=0.5,
                    what=f"{CYCLES} grid cycles")
    # every point of the compared cycles acknowledged or dropped before any query: the sink
    # writes a batch once a second, and after a failed write waits up to 30 s to retry
    status = wait_for(lambda: re.search(r"status server listening.* port=(\d+)", e.kp.log()),
                      timeout=30, what="status server")
    base = f"http://127.0.0.1:{status.group(1)}"
    wait_for(lambda: not sink_gauge(prom_metrics(base), "kubepulse_sink_points_buffered"),
             timeout=120, interval=0.2, what="the sink to deliver every point")
    # Heapster's cluster panels sum every node: the API server must hold only ours
    rows = e.cluster.influx_rows('SHOW TAG VALUES FROM "uptime" WITH KEY = "nodename"', e.db)
    assert sorted(r["value"] for r in rows) == sorted(e.node_names), "other nodes registered"
    node, pod = e.node_names[1], e.manifest["nodes"][1]["pods"][1]
    queries = dashboard_queries(node, pod["namespace"], pod["name"])
    truth = Truth(e)
    # the compared span: the grid cycles' points (and, from a build that stamps sample
    # times, those samples, up to JITTER before their cycle)
    t0_ms = (done[0] - JITTER - 1) * 1000
    t1_ms = (done[-1] + RES - JITTER - 1) * 1000
    stats: dict[tuple, list] = {}
    wrong = []
    missing = 0
    for q in queries:
        got = influx_buckets(e, q, t0_ms, t1_ms)
        assert got, f"{q.dashboard} {q.panel}: no data: {q.text}"
        # every compared cycle has a value in its bucket for every group its truth has: a
        # cycle whose points never arrived, or a series left out, is a bucket without a value,
        # which Heapster's panels (nullPointMode "connected") draw through without a sign
        for ts in done:
            b = ts * 1000 // q.interval_ms * q.interval_ms
            for g, want in truth_of(q, truth, [ts]).items():
                if (g, b) not in got:
                    missing += 1
                    wrong.append(((ts,), q.measurement,
                                  f"{q.dashboard} '{q.panel}' {q.label} "
                                  f"$interval={hms(q.interval_ms)} group={g} bucket={b}: "
                                  f"no value, truth {want} (cycle {ts})\n    {q.text}"))
        for (g, b), v in sorted(got.items()):
            in_bucket = [ts for ts in done if b <= ts * 1000 < b + q.interval_ms]
            if not in_bucket:  # points away from every cycle's time: the cycle they belong to
                in_bucket = [next(ts for ts in range(b // 1000 // RES * RES, 2**40, RES)
                                  if ts * 1000 >= b)]
            want = truth_of(q, truth, in_bucket).get(g)
            # Heapster's sum over a bucket longer than the resolution adds its cycles up
            heapster_sum = q.dashboard != "ours" and q.agg == "sum"
            factor = len(in_bucket) if heapster_sum else 1
            ok = want is not None and (abs(v - want) <= 0.05 * abs(want) if want
                                       else abs(v) < 1e-9)
            as_heapster = want is not None and abs(v - factor * want) <= 1e-6 * abs(factor * want)
            s = stats.setdefault((q.dashboard, q.label.split("@")[0]), [0, 0])
            s[0] += ok
            s[1] += 1
            expect_truth = not heapster_sum or q.interval_ms <= RES * 1000
            if (expect_truth and not ok) or (not expect_truth and not as_heapster):
                wrong.append((tuple(in_bucket), q.measurement,
                              f"{q.dashboard} '{q.panel}' {q.label} $interval={hms(q.interval_ms)} "
                              f"group={g} bucket={b}: got {v}, truth {want} "
                              f"(x{factor}){'' if expect_truth else ' as Heapster sums'}\n"
                              f"    {q.text}"))
    print(f"\nresolution {RES}s, samples spread over {JITTER}s of {SAMPLE}s, {KUBEPULSE}:")
    for (dash, rng), (ok, n) in sorted(stats.items()):
        print(f"  {dash:22} {rng:4} {ok:5} of {n:5} panel buckets within 5 % of the truth")
    print(f"  {missing} buckets without a value where a compared cycle has a true one")
    assert not wrong, (f"{len(wrong)} buckets wrong. What the run saw:\n{diagnose(e, done, wrong)}"
                       "\nThe first wrong buckets:\n" + "\n".join(w[2] for w in wrong[:20]))
