#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""influx_e2e.py - kubepulse end to end into the real InfluxDB, steady state, against the null sink.

    bench/influx_e2e.py --nodes 500 --pods 30 --json bench/results/influx-e2e-DATE.json
        [--env STATE/env --sim PID,CONTROL --sim-token FILE --no-register]
        [--defaults] [--sink-opt gzip=true ...] [--kp-arg=--sink-batch-lines=20000 ...]
        [--mode both|real|null] [--cycles 8] [--warmup 2] [--prewarm 3] [--db NAME]

Reuses bench/run.py (servers, simulator, registration, kubepulse's argv, /proc and /metrics
readers; without --env it starts the servers of tests/infra, whose InfluxDB is Debian's 1.6
unless KP_INFLUXD_BIN names another influxd, e.g. tests/infra/influxdb2/build.sh's 1.8.10).
Runs kubepulse as the only replica at 15 s twice on the same simulated cluster: first writing
to the real InfluxDB (a fresh database, into which --prewarm cycles are written first so that
its series exist, as for a collector that has run a while), then to the null sink (which
encodes the same layout and discards it). The sink settings are the chosen ones
(CHOSEN_SINK_OPTS, CHOSEN_KP_ARGS) unless --defaults; --sink-opt and --kp-arg add to them. Per cycle it prints kubepulse's CPU,
points produced / written / dropped, the backlog (points buffered), InfluxDB's own CPU (its
/proc), the lines and requests InfluxDB says it wrote (SHOW STATS, module httpd), and load1.
After the real run it waits for the backlog to drain, stops kubepulse, and counts in InfluxDB
itself (SELECT count(*) GROUP BY time(resolution) over the run's time range) what every
measured cycle stored, against what kubepulse produced in that cycle.

The summary: kubepulse CPU per cycle real / null (the ratio), InfluxDB CPU per point and per
line written, the sustained write rate (points/s, lines/s), the backlog first -> last, and
whether anything was dropped. Use --mode real with few cycles to measure one setting's rate.
"""

import argparse
import json
import os
import subprocess
import sys
import time
import urllib.parse
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import run  # noqa: E402  (bench/run.py: the scale harness)


# The settings that kept N = 500 inside what InfluxDB 1.8 sustained here (docs/benchmarks.md,
# "End to end into InfluxDB 1.8"): Heapster's several-fields-per-line layout (a third of
# InfluxDB's CPU per value), plain bodies on loopback (gzip costs kubepulse CPU and saves
# nothing there), and the usual cut of the scope flags.
CHOSEN_SINK_OPTS = ["withfields=true", "withids=false", "gzip=false"]
CHOSEN_KP_ARGS = ["--metric-deny=cpu/usage,network/rx,network/tx,network/*_errors*,"
                  "memory/*page_faults*,filesystem/inodes*,uptime"]


def log(msg):
    print(f"influx_e2e: {msg}", file=sys.stderr, flush=True)


def influx_query(url, q, db=None, timeout=600, post=False):
    params = {"q": q, "epoch": "ns"}
    if db:
        params["db"] = db
    data = urllib.parse.urlencode(params).encode()
    if post:
        req = urllib.request.Request(f"{url}/query", data=data, method="POST")
    else:
        req = urllib.request.Request(f"{url}/query?{data.decode()}")
    with urllib.request.urlopen(req, timeout=timeout) as r:
        out = json.loads(r.read().decode())
    for res in out.get("results", []):
        if "error" in res:
            raise RuntimeError(f"InfluxDB: {res['error']} ({q})")
    return out


def influx_httpd_stats(url):
    """InfluxDB's own counters of the HTTP write path (SHOW STATS, module httpd), summed."""
    out = influx_query(url, "SHOW STATS FOR 'httpd'")
    tot = {}
    for res in out.get("results", []):
        for s in res.get("series", []):
            for row in s.get("values", []):
                for k, v in zip(s["columns"], row):
                    if isinstance(v, (int, float)):
                        tot[k] = tot.get(k, 0) + v
    return tot


def influx_pid(env):
    with open(os.path.join(env["KP_STATE_DIR"], "influx.pid"), encoding="ascii") as f:
        return int(f.read().split()[0])


def sink_metric(m, name, sink_prefix):
    """Sum of a kubepulse sink metric over the series of the sink whose name starts so."""
    tot = 0.0
    for k, v in m.items():
        if k.startswith(name + "{") and f'sink="{sink_prefix}' in k:
            tot += v
    return tot


def snap(m, kp_pid, sim_pid, ipid, url, sink_prefix):
    s = run.snapshot(m, kp_pid, sim_pid)
    s["dropped"] = sink_metric(m, "kubepulse_sink_points_dropped_total", sink_prefix)
    s["buffered"] = sink_metric(m, "kubepulse_sink_points_buffered", sink_prefix)
    s["buffer_bytes"] = sink_metric(m, "kubepulse_sink_buffer_bytes", sink_prefix)
    s["requests"] = sink_metric(m, "kubepulse_sink_requests_total", sink_prefix)
    s["req_failures"] = sink_metric(m, "kubepulse_sink_request_failures_total", sink_prefix)
    s["retries"] = sink_metric(m, "kubepulse_sink_retries_total", sink_prefix)
    s["sent_bytes"] = sink_metric(m, "kubepulse_sink_sent_bytes_total", sink_prefix)
    s["influx_cpu"] = run.proc_cpu(ipid)
    s["influx_rss"] = run.proc_mem(ipid)[1]
    if url:
        st = influx_httpd_stats(url)
        s["influx_lines"] = st.get("pointsWrittenOK", 0)
        s["influx_write_reqs"] = st.get("writeReq", 0)
        s["influx_write_bytes"] = st.get("writeReqBytes", 0)
        s["influx_lines_dropped"] = st.get("pointsWrittenDropped", 0)
        s["influx_lines_fail"] = st.get("pointsWrittenFail", 0)
    return s


DELTAS = ("cpu", "sim_cpu", "points", "written", "dropped", "failed", "cycles", "wall_sum",
          "influx_cpu", "influx_lines", "influx_write_reqs", "influx_write_bytes",
          "influx_lines_dropped", "influx_lines_fail", "requests", "req_failures", "retries",
          "sent_bytes")


def measure(args, kp, sim_pid, port, ipid, url, sink_prefix, label):
    """Rows of args.cycles steady cycles after args.warmup; one per cycle end."""
    rows, last = [], None
    deadline = time.time() + args.resolution * (args.cycles + args.warmup + 4) + 120
    print(f"# {label}: N={args.nodes} P={args.pods} sink={args.sink} load at start: "
          f"{run.loadavg()}", flush=True)
    print("cycle  ts          cpu_s  points   written  dropped backlog  infl_cpu infl_lines "
          "reqs  load1", flush=True)
    while time.time() < deadline and len(rows) < args.cycles:
        if kp.poll() is not None:
            sys.exit(f"influx_e2e: kubepulse exited ({label})")
        try:
            m = run.scrape_metrics(port, timeout=60)
        except OSError:
            time.sleep(0.2)
            continue
        cycles = m.get("kubepulse_scrape_cycles_total", 0)
        if last is None or cycles == last["cycles"]:
            if last is None and cycles >= args.warmup:
                last = snap(m, kp.pid, sim_pid, ipid, url, sink_prefix)
            time.sleep(0.1)
            continue
        cur = snap(m, kp.pid, sim_pid, ipid, url, sink_prefix)
        d = {k: cur.get(k, 0) - last.get(k, 0) for k in DELTAS}
        # the grid time of the cycle that just ended: its tick is the last multiple of the
        # resolution before the end (cycles last less than one resolution here)
        ts = int(cur["t"] // args.resolution * args.resolution)
        row = {"cycle": int(cur["cycles"]), "ts": ts, "interval_s": cur["t"] - last["t"],
               "wall_s": d["wall_sum"] / max(1, d["cycles"]), "cpu_s": d["cpu"],
               "sim_cpu_s": d["sim_cpu"], "points": d["points"], "written": d["written"],
               "dropped": d["dropped"], "failed": d["failed"], "backlog": cur["buffered"],
               "buffer_bytes": cur["buffer_bytes"], "rss_kib": cur["rss"],
               "hwm_kib": cur["hwm"], "influx_cpu_s": d["influx_cpu"],
               "influx_rss_kib": cur["influx_rss"], "influx_lines": d["influx_lines"],
               "influx_write_reqs": d["influx_write_reqs"],
               "influx_write_bytes": d["influx_write_bytes"],
               "influx_lines_dropped": d["influx_lines_dropped"] + d["influx_lines_fail"],
               "requests": d["requests"], "req_failures": d["req_failures"],
               "retries": d["retries"], "sent_bytes": d["sent_bytes"],
               "load1": float(run.loadavg().split()[0]), "cycles_ended": d["cycles"]}
        rows.append(row)
        print(f"{row['cycle']:5d} {ts:11d} {row['cpu_s']:6.2f} {row['points']:8.0f} "
              f"{row['written']:9.0f} {row['dropped']:7.0f} {row['backlog']:8.0f} "
              f"{row['influx_cpu_s']:8.2f} {row['influx_lines']:9.0f} "
              f"{row['influx_write_reqs']:5.0f} {row['load1']:5.2f}", flush=True)
        last = cur
    return rows, last


def wait_drained(port, sink_prefix, timeout):
    t_end = time.time() + timeout
    m = {}
    while time.time() < t_end:
        m = run.scrape_metrics(port, timeout=60)
        if sink_metric(m, "kubepulse_sink_points_buffered", sink_prefix) == 0:
            return m, True
        time.sleep(0.5)
    return m, False


def count_stored(url, db, t0, t1, resolution):
    """Values stored per cycle (grid time -> count), summed over every field of every
    measurement: InfluxDB's own answer over [t0, t1] (Unix seconds). One query per measurement
    (one over /.*/ holds every series' iterator at once)."""
    out = influx_query(url, "SHOW MEASUREMENTS", db=db)
    names = [v[0] for res in out.get("results", []) for s in res.get("series", [])
             for v in s.get("values", [])]
    per_ts, per_meas = {}, {}
    for name in names:
        q = (f'SELECT count(*) FROM "{name}" WHERE time >= {int(t0)}s AND time <= {int(t1)}s '
             f"GROUP BY time({resolution}s)")
        out = influx_query(url, q, db=db, post=True, timeout=1200)
        for res in out.get("results", []):
            for s in res.get("series", []):
                for row in s.get("values", []):
                    ts = row[0] // 1_000_000_000
                    n = sum(v for v in row[1:] if isinstance(v, (int, float)))
                    per_ts[ts] = per_ts.get(ts, 0) + n
                    per_meas[name] = per_meas.get(name, 0) + n
    return per_ts, per_meas


def summarize(args, rows, label):
    if not rows:
        return {}
    n = len(rows)
    tot = lambda k: sum(r[k] for r in rows)  # noqa: E731
    secs = tot("interval_s")
    s = {"label": label, "cycles": n, "cpu_s_avg": tot("cpu_s") / n,
         "cpu_s_max": max(r["cpu_s"] for r in rows),
         "points_per_cycle": tot("points") / n, "written_per_cycle": tot("written") / n,
         "dropped_total": tot("dropped"), "backlog_first": rows[0]["backlog"],
         "backlog_last": rows[-1]["backlog"], "backlog_max": max(r["backlog"] for r in rows),
         "buffer_bytes_max": max(r["buffer_bytes"] for r in rows),
         "written_points_per_s": tot("written") / secs,
         "influx_lines_per_s": tot("influx_lines") / secs,
         "influx_lines_per_cycle": tot("influx_lines") / n,
         "influx_cpu_s_per_cycle": tot("influx_cpu_s") / n,
         "influx_cores": tot("influx_cpu_s") / secs,
         "influx_write_reqs_per_cycle": tot("influx_write_reqs") / n,
         "sent_bytes_per_cycle": tot("sent_bytes") / n,
         "retries": tot("retries"), "req_failures": tot("req_failures"),
         "sim_cpu_s_avg": tot("sim_cpu_s") / n, "wall_s_avg": tot("wall_s") / n,
         "hwm_kib": max(r["hwm_kib"] for r in rows), "rss_last_kib": rows[-1]["rss_kib"],
         "load1_avg": tot("load1") / n, "load1_min": min(r["load1"] for r in rows),
         "load1_max": max(r["load1"] for r in rows)}
    if tot("written") > 0:
        s["influx_cpu_us_per_point"] = tot("influx_cpu_s") / tot("written") * 1e6
    if tot("influx_lines") > 0:
        s["influx_cpu_us_per_line"] = tot("influx_cpu_s") / tot("influx_lines") * 1e6
    return s


def start_ready(args, env, procs, logdir, token, port):
    """kubepulse started by bench/run.py, once its /metrics answers."""
    kp = run.start_kubepulse(args, env, procs, logdir, token, port)
    for _ in range(100):
        try:
            run.scrape_metrics(port)
            return kp
        except OSError:
            if kp.poll() is not None:
                sys.exit(f"influx_e2e: kubepulse exited (see {logdir}/kubepulse.log)")
            time.sleep(0.1)
    return kp


def run_one(args, env, procs, logdir, token, sim_pid, real):
    """One kubepulse run; returns (summary, rows, verification)."""
    url = env["KP_INFLUX_URL"]
    ipid = influx_pid(env)
    label = "real" if real else "null"
    opts = dict(o.split("=", 1) for o in args.sink_opt)
    if real:
        db = args.db or f"e2e_{time.strftime('%H%M%S')}"
        q = "&".join(f"{k}={v}" for k, v in {"db": db, **opts}.items())
        args.sink = f"influxdb:{url}?{q}"
        prefix = "influxdb"
    else:
        db = None
        q = "&".join(f"{k}={v}" for k, v in opts.items()
                     if k in args.null_opts.split(","))
        args.sink = "null" + (f"?{q}" if q else "")
        prefix = "null"
    if real and args.prewarm:
        # the series first: a collector that has run a while writes to series that exist
        port = run.free_port()
        kp = start_ready(args, env, procs, logdir, token, port)
        log(f"prewarm: {args.prewarm} cycles into {db} to make its series")
        deadline = time.time() + args.resolution * (args.prewarm + 2) + 60
        while time.time() < deadline and kp.poll() is None:
            m = run.scrape_metrics(port, timeout=60)
            if m.get("kubepulse_scrape_cycles_total", 0) >= args.prewarm:
                break
            time.sleep(0.5)
        kp.terminate()
        kp.wait(30)
    port = run.free_port()
    kp = start_ready(args, env, procs, logdir, token, port)
    rows, _ = measure(args, kp, sim_pid, port, ipid, url if real else None, prefix, label)
    s = summarize(args, rows, label)
    s["sink"] = args.sink
    ver = {}
    if real and rows and not args.no_verify:
        m, drained = wait_drained(port, prefix, args.drain_timeout)
        ver["drained"] = drained
        ver["kp_written_total"] = sink_metric(m, "kubepulse_sink_points_written_total", prefix)
        ver["kp_dropped_total"] = sink_metric(m, "kubepulse_sink_points_dropped_total", prefix)
        ver["kp_buffered"] = sink_metric(m, "kubepulse_sink_points_buffered", prefix)
        ver["kp_produced_total"] = m.get("kubepulse_points_produced_total", 0)
        kp.terminate()
        kp.wait(30)
        per_ts, per_meas = count_stored(url, db, rows[0]["ts"], rows[-1]["ts"], args.resolution)
        ver["db"] = db
        ver["measurements"] = len(per_meas)
        ver["per_cycle"] = [{"ts": r["ts"], "produced": r["points"],
                             "stored": per_ts.get(r["ts"], 0)} for r in rows]
        ver["stored_total"] = sum(c["stored"] for c in ver["per_cycle"])
        ver["produced_total"] = sum(c["produced"] for c in ver["per_cycle"])
        ver["all_stored"] = ver["stored_total"] == ver["produced_total"]
        log(f"verify: {ver['stored_total']:.0f} values stored in InfluxDB for the "
            f"{len(rows)} measured cycles, {ver['produced_total']:.0f} produced; kubepulse "
            f"dropped {ver['kp_dropped_total']:.0f} in all; drained {drained}")
        if not args.keep_db and not args.db:
            influx_query(url, f'DROP DATABASE "{db}"', post=True)
    else:
        kp.terminate()
        kp.wait(30)
        if real and not args.keep_db and not args.db:
            influx_query(url, f'DROP DATABASE "{db}"', post=True)
    return s, rows, ver


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--nodes", type=int, default=500)
    ap.add_argument("--pods", type=int, default=30)
    ap.add_argument("--mode", choices=("both", "real", "null"), default="both")
    ap.add_argument("--cycles", type=int, default=8, help="steady cycles measured (default 8)")
    ap.add_argument("--warmup", type=int, default=2)
    ap.add_argument("--resolution", type=int, default=15)
    ap.add_argument("--sink-opt", action="append", default=[],
                    help="KEY=VALUE on the influxdb: URI (gzip=false, withfields=true, ...)")
    ap.add_argument("--null-opts", default="withfields,withids,cluster_name",
                    help="which --sink-opt keys the null sink takes too (same encoding)")
    ap.add_argument("--defaults", action="store_true",
                    help="kubepulse's default sink settings instead of the chosen ones")
    ap.add_argument("--prewarm", type=int, default=3,
                    help="cycles written into the database before the measured run, so that "
                    "its series exist (0: measure from a fresh database)")
    ap.add_argument("--drain-timeout", type=float, default=60)
    ap.add_argument("--db", help="write to this database (default: a fresh one per run); "
                    "one a previous --keep-db run left has its series already (steady state)")
    ap.add_argument("--keep-db", action="store_true", help="do not drop the database at the end")
    ap.add_argument("--no-verify", action="store_true",
                    help="skip the drain and the count in InfluxDB (rate sweeps)")
    ap.add_argument("--concurrency", type=int,
                    help="--kubelet-max-concurrency (default: the daemon's own)")
    ap.add_argument("--pods-max-nodes", type=int, default=1000)
    run.add_bench_args(ap, state="/tmp/kp-e2e", addr_base="127.3.0.1")
    ap.add_argument("--sim", metavar="PID,CONTROL", help="reuse a running simulator")
    ap.add_argument("--sim-token")
    ap.add_argument("--kubelet-ca")
    ap.add_argument("--no-register", action="store_true")
    args = ap.parse_args()
    args.influx, args.no_encode = True, False  # what run.start_kubepulse reads
    if not args.defaults:  # the settings docs/benchmarks.md chose; given ones come after
        args.sink_opt = CHOSEN_SINK_OPTS + args.sink_opt
        args.kp_arg = CHOSEN_KP_ARGS + args.kp_arg

    procs = run.Procs()
    servers = run.BenchServers(args.env, args.state)
    env = servers.env
    out = {"argv": sys.argv, "date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
    try:
        with open(os.path.join(env["KP_STATE_DIR"], "influx.args"), encoding="utf-8") as f:
            out["influxdb"] = f.read().split()[0]  # the binary (1.8.10 reports no version)
        out["commit"] = subprocess.run(["git", "-C", run.ROOT, "rev-parse", "--short", "HEAD"],
                                       capture_output=True, text=True).stdout.strip()
        logdir = os.path.join(env["KP_STATE_DIR"], "bench",
                              f"e2e-{args.nodes}x{args.pods}-{time.strftime('%H%M%S')}")
        os.makedirs(logdir, exist_ok=True)
        sim_pid, _, token = run.sim_registered(args, env, procs, logdir)
        modes = {"both": (True, False), "real": (True,), "null": (False,)}[args.mode]
        for real in modes:
            s, rows, v = run_one(args, env, procs, logdir, token, sim_pid, real)
            out["real" if real else "null"] = {"summary": s, "rows": rows, "verify": v}
        report(out)
        if args.json:
            run.save_json(args.json, out)
    finally:
        procs.stop_all()
        servers.stop()


def report(out):
    r = out.get("real", {}).get("summary")
    n = out.get("null", {}).get("summary")
    v = out.get("real", {}).get("verify", {})
    if r:
        print(f"# real: {r['points_per_cycle']:.0f} points/cycle produced, "
              f"{r['written_per_cycle']:.0f} written ({r['written_points_per_s']:.0f}/s, "
              f"{r['influx_lines_per_s']:.0f} lines/s), dropped {r['dropped_total']:.0f}, "
              f"backlog {r['backlog_first']:.0f} -> {r['backlog_last']:.0f} (max "
              f"{r['backlog_max']:.0f}); kubepulse {r['cpu_s_avg']:.3f} CPU-s/cycle; InfluxDB "
              f"{r['influx_cpu_s_per_cycle']:.2f} CPU-s/cycle = "
              f"{r.get('influx_cpu_us_per_point', 0):.2f} us/point, "
              f"{r.get('influx_cpu_us_per_line', 0):.2f} us/line; load1 {r['load1_avg']:.1f} "
              f"({r['load1_min']:.1f}-{r['load1_max']:.1f})")
    if v:
        print(f"# verify: stored {v['stored_total']:.0f} of {v['produced_total']:.0f} produced "
              f"in the measured cycles (all: {v['all_stored']}); kubepulse dropped "
              f"{v['kp_dropped_total']:.0f}")
    if n:
        print(f"# null: kubepulse {n['cpu_s_avg']:.3f} CPU-s/cycle; load1 {n['load1_avg']:.1f}")
    if r and n:
        out["cpu_ratio_real_null"] = r["cpu_s_avg"] / n["cpu_s_avg"]
        print(f"# kubepulse CPU real/null: {out['cpu_ratio_real_null']:.2f} (target <= 1.3)")


if __name__ == "__main__":
    main()
