#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""failover_real_node.py - `kubectl delete pod` of the leader on the real nodes (issue #20).

    bench/failover_real_node.py [--env STATE_DIR/env] [--runs 20] [--resolution 1]
        [--json bench/results/failover-real-node-DATE.json] [--keep]

Brings up the real cluster of tests/infra/up.sh --with-node (3 kubelets with containerd on
127.0.0.2-4; or reuses a running one with --env), builds the image (scripts/build-image.sh)
and imports it into the nodes, installs the chart with helm as test_chart_real_node.py does
(3 replicas, one per node, hostNetwork on loopback, the test InfluxDB as sink) with a short
--metric-resolution, then RUNS times:

  - waits until 3 pods are Ready, the Lease has a holder that leads (/status) and has
    written, and both followers have seen it; then sleeps a random fraction of the resolution
    so that the deletions fall at every phase of the scrape grid;
  - `kubectl delete pod LEADER --wait=false` (the kubelet's graceful stop: SIGTERM, the old
    leader finishes its cycle in flight and releases the Lease);
  - measures from the deletion:
      holder: the first Lease event, on a watch opened before the run, naming a holder other
              than the old one and "";
      point:  the moment the new leader's first point is queryable in InfluxDB. The new
              leader's points are told apart by their time. The old leader's release writes
              the Lease with holder "" and renewTime = its clock when it let go (the same
              machine's clock); it has then completed every cycle it started and starts no
              other, so it wrote nothing stamped after that time, and the new leader's
              cycles start on grid ticks after it (the next one when the release fell in
              the interval it leads in, else that interval). So the first point stamped
              after the release's renewTime is the new leader's (without a release event,
              after its acquireTime); the bench polls InfluxDB every --poll s for one (any
              measurement) and takes the wall time it appears.
    "Deletion" is the moment kubectl sent the DELETE: kubectl runs with -v=6, whose log line
    of the response gives its wall time (microseconds) and latency (ms); the API server
    committed the deletion within that latency. A kubectl descheduled before it logs makes
    that time late, so the pod watch's event setting deletionTimestamp (always after the
    commit) is taken when it came earlier. The times from the kubectl command's start (its
    own start-up included) are in the JSON too, and "acquire": the new holder's acquireTime
    in the Lease (its own clock before its update), a lower bound of "holder".
  - counts the intervals without a cluster point across the change (one point per
    resolution is due) and waits for the replacement pod to be Ready.

The grid bounds "point": the new leader starts on the first tick after the release (or at
once, in a later interval), so point = holder + (wait for that tick, 0..resolution) + one
scrape cycle + the InfluxDB write. The JSON reports each run's parts: holder, the first
point's grid time after acquireTime (the tick wait; negative when the new leader took the
interval it started in), and the tick -> InfluxDB time.
Prints p50/p99/max; writes every run with --json. Stops and removes what it started
(helm uninstall, down.sh --purge) unless --keep.
"""

import argparse
import http.client
import json
import os
import random
import re
import socket
import subprocess
import sys
import tempfile
import threading
import time
import types
import urllib.parse
from pathlib import Path

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "tests", "integration"))
from failover import pct  # noqa: E402
from run import ROOT, loadavg, save_json  # noqa: E402
from kpharness import Cluster, real_node_cluster, real_nodes_unavailable, wait_for  # noqa: E402
from test_chart_real_node import (CHART, IMAGE_REPO, IMAGE_TAG, IMAGE_TAR, LEASE,  # noqa: E402
                                  NODE_SH, RELEASE, Release, free_port, http_get, install_args,
                                  rfc3339_ns, run, wait_ready)
from test_packaging import Helm  # noqa: E402

DB = "k8s_bench_failover"


def log(msg):
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


class Watch(threading.Thread):
    """A watch of one resource list (path with its query), every event kept with the wall time
    it arrived: events[i] = (wall_s, type, object). Reopens from the last resourceVersion."""

    def __init__(self, cluster, path):
        super().__init__(daemon=True)
        self.cluster, self.path, self.events, self.cond = cluster, path, [], threading.Condition()
        self.rv = None
        self.error = None
        self.conn = None
        self.stopped = False

    def run(self):
        ctx = self.cluster.ssl_context(self.cluster.admin_cert)
        host = urllib.parse.urlsplit(self.cluster.apiserver)
        while not self.stopped:
            sep = "&" if "?" in self.path else "?"
            path = f"{self.path}{sep}watch=true&timeoutSeconds=3600"
            if self.rv:
                path += f"&resourceVersion={self.rv}"
            try:
                self.conn = http.client.HTTPSConnection(host.hostname, host.port, context=ctx,
                                                        timeout=3700)
                self.conn.request("GET", path)
                resp = self.conn.getresponse()
                for line in resp:
                    now = time.time()
                    ev = json.loads(line)
                    if ev["type"] == "ERROR":
                        self.rv = None  # too old: start from now
                        break
                    self.rv = ev["object"]["metadata"]["resourceVersion"]
                    with self.cond:
                        self.events.append((now, ev["type"], ev["object"]))
                        self.cond.notify_all()
            except (OSError, ValueError, http.client.HTTPException) as err:
                self.error = err
                time.sleep(0.2)

    def stop(self):
        """Ends the watch (the API server waits for open watches when it shuts down)."""
        self.stopped = True
        try:
            self.conn.sock.shutdown(socket.SHUT_RDWR)
        except (AttributeError, OSError):
            pass
        self.join(5)

    def wait(self, start, pred, timeout):
        """The first event from index start on with pred(type, obj) true: (wall_s, obj)."""
        deadline = time.monotonic() + timeout
        i = start
        with self.cond:
            while True:
                while i < len(self.events):
                    t, typ, obj = self.events[i]
                    i += 1
                    if pred(typ, obj):
                        return t, obj
                left = deadline - time.monotonic()
                if left <= 0:
                    return None, None
                self.cond.wait(left)


KLOG_DELETE = re.compile(r"^I(\d\d)(\d\d) (\d\d:\d\d:\d\d)(\.\d+)\s+\d+ "
                         r"round_trippers\.go:\d+\] DELETE \S+ (\d+) .* in (\d+) milliseconds$",
                         re.M)


def kubectl_delete(c, pod, ns):
    """`kubectl -v=6 delete pod`: (wall time the DELETE was sent, its latency in s), from
    kubectl's own log line of the response (klog: local time, microseconds; latency in ms)."""
    proc = c.kubectl("-v=6", "delete", "pod", pod, "-n", ns, "--wait=false")
    m = KLOG_DELETE.search(proc.stderr)
    if not m or m.group(5) != "200":
        sys.exit(f"kubectl delete pod {pod}: no 200 DELETE in its log:\n{proc.stderr}")
    year = time.localtime().tm_year
    t = time.mktime(time.strptime(f"{year}{m.group(1)}{m.group(2)} {m.group(3)}",
                                  "%Y%m%d %H:%M:%S")) + float(m.group(4))
    latency = int(m.group(6)) / 1000
    return t - latency, latency


def influx_count_since(c, since_ns, until_ns):
    rows = c.influx_rows(f"SELECT count(value) FROM /.*/ WHERE time >= {since_ns} "
                         f"AND time < {until_ns}", DB)
    return sum(r.get("count", 0) for r in rows)


def first_point_time(c, since_ns):
    rows = c.influx_rows(f'SELECT value FROM /.*/ WHERE time >= {since_ns} '
                         f'ORDER BY time ASC LIMIT 1', DB, epoch="ns")
    return min(r["time"] for r in rows) if rows else None


def cluster_times(c, since_ns, until_ns):
    rows = c.influx_rows(f"SELECT value FROM \"memory/usage\" WHERE type = 'cluster' "
                         f"AND time >= {since_ns} AND time <= {until_ns}", DB, epoch="ns")
    return [r["time"] for r in rows]


def settled(rel, res):
    """(leader pod, {pod: points its sink has written}) once 3 pods are Ready, the holder
    leads and has written, and both followers are ready and name it; else None."""
    pods = rel.ready_pods()
    if len(pods) != 3 or len(rel.pods()) != 3:
        return None
    holder = rel.holder()
    by_name = {p["metadata"]["name"]: p for p in pods}
    if holder not in by_name:
        return None
    try:
        st = {n: rel.status(p) for n, p in by_name.items()}
    except (AssertionError, OSError, ValueError):
        return None
    lead = st[holder]
    if not lead["leading"] or lead["sinks"][0]["pointsWritten"] < 1:
        return None
    if not all(s["ready"] and s["holder"] == holder and not s["leading"]
               for n, s in st.items() if n != holder):
        return None
    return by_name[holder], {n: s["sinks"][0]["pointsWritten"] for n, s in st.items()}


def one_run(i, args, rel, leases, pods):
    c, res = rel.cluster, args.resolution
    leader, written_before = wait_for(lambda: settled(rel, res), timeout=180, interval=0.2,
                         what="3 Ready pods, a writing leader and followers that see it")
    old = leader["metadata"]["name"]
    time.sleep(random.uniform(0, res))  # delete at every phase of the grid
    lease_i, pod_i = len(leases.events), len(pods.events)
    load1 = float(loadavg().split()[0])
    t_cmd = time.time()
    t_sent, del_latency = kubectl_delete(c, old, rel.ns)
    t_event, _ = pods.wait(pod_i, lambda typ, o: o["metadata"]["name"] == old and
                           o["metadata"].get("deletionTimestamp"), 10)
    if t_event is None:
        sys.exit(f"run {i}: no watch event set deletionTimestamp on {old}")
    # kubectl stamps its log line when it writes it: descheduled after the response, its
    # "sent" comes out late; the watch event always follows the commit. The earlier of both.
    t_del = min(t_sent, t_event)
    t_hold, lease = leases.wait(lease_i, lambda typ, o: o["spec"].get("holderIdentity")
                                not in (None, "", old), 60)
    if t_hold is None:
        sys.exit(f"run {i}: no new holder within 60 s of deleting {old}")
    new = lease["spec"]["holderIdentity"]
    acquire_ns = rfc3339_ns(lease["spec"]["acquireTime"])
    # The old leader's release (holder "", renewTime = its clock when it let go): it wrote
    # nothing stamped after it, and the new leader nothing stamped before the next tick after
    # it. Without a release event (a leader that could not release), acquireTime bounds it.
    release = next((o for _, _, o in leases.events[lease_i:]
                    if o["spec"].get("holderIdentity", "") == "" and o["spec"].get("renewTime")),
                   None)
    bound_ns = rfc3339_ns(release["spec"]["renewTime"]) + 1 if release else acquire_ns
    until_ns = bound_ns + int(60e9)
    t_point = None
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if influx_count_since(c, bound_ns, until_ns) > 0:
            t_point = time.time()
            break
        time.sleep(args.poll)
    if t_point is None:
        sys.exit(f"run {i}: no point after the old leader's release within 60 s")
    first_ns = first_point_time(c, bound_ns)
    # Cross-check: what the new leader's sink counts as written brackets what InfluxDB holds
    # from the bound on (the old leader wrote nothing there).
    new_pod = next((p for p in rel.pods() if p["metadata"]["name"] == new), None)
    written_a = rel.status(new_pod)["sinks"][0]["pointsWritten"] if new_pod else None
    in_influx = influx_count_since(c, bound_ns, until_ns)
    written_b = rel.status(new_pod)["sinks"][0]["pointsWritten"] if new_pod else None
    # Intervals without a cluster point across the change.
    time.sleep(res + 1)
    times = cluster_times(c, int((t_del - 4 * res) * 1e9), first_ns + int(res * 1e9))
    missing = sum((b - a) // int(res * 1e9) - 1 for a, b in zip(times, times[1:]))
    t_ready = wait_for(lambda: (lambda ps: time.time() if len(ps) == 3 and old not in {
        p["metadata"]["name"] for p in ps} else None)(rel.ready_pods()), timeout=120,
        interval=0.1, what="the replacement pod Ready")
    r = {"run": i, "old": old, "new": new, "load1": load1,
         "delete_cmd_to_request_s": t_sent - t_cmd, "delete_request_latency_s": del_latency,
         "delete_sent_to_pod_event_s": t_event - t_sent,
         "holder_s": t_hold - t_del, "point_s": t_point - t_del,
         "holder_from_cmd_s": t_hold - t_cmd, "point_from_cmd_s": t_point - t_cmd,
         "acquire_after_delete_s": acquire_ns / 1e9 - t_del,
         "released": release is not None,
         "release_after_delete_s": (bound_ns - 1) / 1e9 - t_del if release else None,
         "tick_wait_s": (first_ns - acquire_ns) / 1e9,
         "tick_to_influx_s": t_point - first_ns / 1e9,
         "first_point_grid_time_ns": first_ns, "cluster_points_missing": missing,
         "new_leader_written_before": written_before.get(new),
         "new_leader_written_then": [written_a, written_b],
         "influx_points_after_bound": in_influx,
         "replacement_ready_s": t_ready - t_del}
    log(f"run {i:2d}: {old} -> {new}: holder {r['holder_s']:.3f}s, first point "
        f"{r['point_s']:.3f}s (tick wait {r['tick_wait_s']:.3f}s, tick->InfluxDB "
        f"{r['tick_to_influx_s']:.3f}s), missing {missing}, points after the release "
        f"{written_a} <= {in_influx} <= {written_b}, replacement Ready "
        f"{r['replacement_ready_s']:.1f}s, load1 {load1:.2f}")
    return r


def summary(runs, key):
    xs = [r[key] for r in runs if r[key] is not None]
    if not xs:
        return None
    return {"p50": pct(xs, 50), "p99": pct(xs, 99), "max": max(xs), "min": min(xs),
            "n": len(xs)}


def bench(args, c):
    env = c.reload_env()
    t0 = time.monotonic()
    run([os.path.join(ROOT, "scripts", "build-image.sh"), "--output", IMAGE_TAR], timeout=3600)
    run([NODE_SH, "import", c.state_dir, IMAGE_TAR], timeout=600)
    log(f"image built and imported in {time.monotonic() - t0:.1f}s")
    out = run([os.path.join(ROOT, "scripts", "build-helm.sh")])
    helm = Helm(out.stdout.strip().splitlines()[-1],
                Path(tempfile.mkdtemp(prefix="kp-helm-")), c.kubeconfig)
    for old in json.loads(helm.run("list", "-A", "-o", "json").stdout):
        if old["name"] == RELEASE:  # a release an earlier --keep run left
            log(f"helm uninstall {RELEASE} in {old['namespace']} (left by an earlier run)")
            helm.run("uninstall", RELEASE, "--namespace", old["namespace"], "--wait",
                     timeout=180)
    ns = c.create_namespace("kpbench")
    c.influx_query(f'CREATE DATABASE "{DB}"')
    port = free_port()
    rel = Release(c, helm, ns, port)
    res = args.resolution
    helm.run("install", RELEASE, CHART, "--namespace", ns,
             *install_args(c, port, "--set", f"metricResolution={res:g}s",
                           "--set", f"kubelet.timeout={args.kubelet_timeout}", db=DB))
    leases = Watch(c, f"/apis/coordination.k8s.io/v1/namespaces/{ns}/leases?"
                   f"fieldSelector=metadata.name%3D{LEASE}")
    pods = Watch(c, f"/api/v1/namespaces/{ns}/pods?labelSelector=" +
                 urllib.parse.quote(f"app.kubernetes.io/instance={RELEASE}"))
    try:
        wait_ready(rel, 3, timeout=120)
        leases.start()
        pods.start()
        time.sleep(1)
        log(f"release in {ns}: resolution {res:g}s, {args.runs} runs, load {loadavg()}")
        runs = [one_run(i, args, rel, leases, pods) for i in range(args.runs)]
    finally:
        for w in (leases, pods):
            if w.is_alive():
                w.stop()
        if not args.keep:
            helm.run("uninstall", RELEASE, "--namespace", ns, "--wait", check=False,
                     timeout=180)
    commit = subprocess.run(["git", "-C", ROOT, "rev-parse", "--short", "HEAD"],
                            capture_output=True, text=True).stdout.strip()
    image_id = open(f"{IMAGE_TAR}.id", encoding="utf-8").read().strip() \
        if os.path.exists(f"{IMAGE_TAR}.id") else None
    out = {"bench": "failover-real-node", "commit": commit, "image": f"{IMAGE_REPO}:{IMAGE_TAG}",
           "image_id": image_id, "argv": sys.argv, "date": time.strftime("%Y-%m-%dT%H:%M:%SZ",
                                                                         time.gmtime()),
           "resolution_s": res, "kubelet_timeout": args.kubelet_timeout,
           "poll_s": args.poll, "nodes": int(env["KP_NODES"]), "replicas": 3,
           "load1_avg": sum(r["load1"] for r in runs) / len(runs),
           "load1_max": max(r["load1"] for r in runs)}
    for key in ("holder_s", "point_s", "holder_from_cmd_s", "point_from_cmd_s",
                "tick_wait_s", "tick_to_influx_s", "delete_cmd_to_request_s",
                "delete_request_latency_s", "delete_sent_to_pod_event_s",
                "acquire_after_delete_s", "release_after_delete_s",
                "replacement_ready_s"):
        out[key] = summary(runs, key)
    out["cluster_points_missing_total"] = sum(r["cluster_points_missing"] for r in runs)
    out["runs_released"] = sum(1 for r in runs if r["released"])
    out["runs_influx_bracketed"] = sum(
        1 for r in runs if None not in r["new_leader_written_then"] and
        r["new_leader_written_then"][0] <= r["influx_points_after_bound"] <=
        r["new_leader_written_then"][1])
    out["runs"] = runs
    for key, what in (("holder_s", "deletion -> new holder (Lease watch event)"),
                      ("acquire_after_delete_s", "deletion -> new holder's acquireTime"),
                      ("point_s", "deletion -> new leader's first point in InfluxDB"),
                      ("holder_from_cmd_s", "kubectl start -> new holder"),
                      ("point_from_cmd_s", "kubectl start -> first point"),
                      ("tick_to_influx_s", "grid tick -> point in InfluxDB")):
        s = out[key]
        print(f"# {what}: p50 {s['p50']:.3f}s p99 {s['p99']:.3f}s max {s['max']:.3f}s "
              f"min {s['min']:.3f}s (n={s['n']})")
    print(f"# resolution {res:g}s, intervals missing {out['cluster_points_missing_total']}, "
          f"InfluxDB count after the release within the new leader's written count in "
          f"{out['runs_influx_bracketed']}/{len(runs)} runs, "
          f"load1 avg {out['load1_avg']:.2f} max {out['load1_max']:.2f}, commit {commit}")
    if args.json:
        save_json(args.json, out)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--env", help="reuse a running cluster with nodes (STATE_DIR/env)")
    ap.add_argument("--runs", type=int, default=20)
    ap.add_argument("--resolution", type=float, default=1.0,
                    help="--metric-resolution of the release, seconds (default 1)")
    ap.add_argument("--kubelet-timeout", default="800ms")
    ap.add_argument("--poll", type=float, default=0.02, help="InfluxDB poll interval, s")
    ap.add_argument("--keep", action="store_true", help="leave the release (and cluster)")
    ap.add_argument("--json")
    args = ap.parse_args()
    if args.env:
        bench(args, Cluster(args.env))
        return
    why = real_nodes_unavailable()
    if why:
        sys.exit(f"failover_real_node: this machine cannot run the nodes: {why}")
    if args.keep:
        os.environ["KP_KEEP_INFRA"] = "1"
    session = types.SimpleNamespace(testsfailed=0)
    with real_node_cluster(session, "bench-failover-real-node") as c:
        try:
            bench(args, c)
        except BaseException:
            session.testsfailed = 1  # keep the logs
            raise


if __name__ == "__main__":
    main()
