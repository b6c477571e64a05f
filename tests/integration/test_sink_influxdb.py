# SPDX-License-Identifier: Apache-2.0
"""test_sink_influxdb.py - the influxdb/influxdb2 sinks against real InfluxDB servers.

Self-contained: each test module starts its own influxd processes (Debian's 1.6 for v1, with
and without auth; 1.8.10 from tests/infra/influxdb2/build.sh for the v2 write API) in a temp
dir on free loopback ports, and stops them by pid. Points go through tests/tools/kpsinkwrite,
which drives the real sink and the real HTTP client on a libev loop.
"""
import base64
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import time
import urllib.parse
import urllib.request
from pathlib import Path

import pytest

BUILD = Path(os.environ.get("KP_BUILD_DIR", "build"))
SOURCE = Path(os.environ.get("KP_SOURCE_DIR", Path(__file__).resolve().parents[2]))
KPSINKWRITE = BUILD / "tests" / "tools" / "kpsinkwrite"
INFLUXD = shutil.which("influxd")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Influx:
    """One influxd in its own directory, on fixed ports kept across restarts."""

    def __init__(self, binary, root: Path, name: str, auth=False):
        self.binary, self.dir, self.auth = binary, root / name, auth
        self.dir.mkdir(parents=True)
        self.port, rpc = free_port(), free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.conf = self.dir / "influxdb.conf"
        self.conf.write_text(f"""reporting-enabled = false
bind-address = "127.0.0.1:{rpc}"
[meta]
  dir = "{self.dir}/meta"
[data]
  dir = "{self.dir}/data"
  wal-dir = "{self.dir}/wal"
  query-log-enabled = false
[http]
  bind-address = "127.0.0.1:{self.port}"
  auth-enabled = {"true" if auth else "false"}
  log-enabled = false
  flux-enabled = false
""")
        self.proc = None
        self.start()
        if auth:
            self.admin = ("kpadmin", "adminpw")
            self.query(f"CREATE USER kpadmin WITH PASSWORD 'adminpw' WITH ALL PRIVILEGES",
                       auth=False)

    def start(self):
        log = open(self.dir / "influxd.log", "ab")
        self.proc = subprocess.Popen([self.binary, "run", "-config", str(self.conf)],
                                     stdout=log, stderr=subprocess.STDOUT)
        deadline = time.time() + 30
        while time.time() < deadline:
            try:
                urllib.request.urlopen(self.url + "/ping", timeout=1)
                return
            except OSError:
                time.sleep(0.1)
        raise RuntimeError(f"influxd did not start: {self.dir}/influxd.log")

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None

    def query(self, q, db=None, auth=True, epoch=None):
        params = {"q": q}
        if db:
            params["db"] = db
        if epoch:
            params["epoch"] = epoch
        req = urllib.request.Request(self.url + "/query",
                                     data=urllib.parse.urlencode(params).encode(), method="POST")
        if self.auth and auth:
            cred = base64.b64encode(":".join(self.admin).encode()).decode()
            req.add_header("Authorization", "Basic " + cred)
        with urllib.request.urlopen(req, timeout=10) as r:
            return json.loads(r.read())

    def count(self, db, measurement="memory/usage"):
        res = self.query(f'SELECT count("value") FROM "{measurement}"', db)["results"][0]
        return res["series"][0]["values"][0][1] if "series" in res else 0


@pytest.fixture(scope="module")
def servers(tmp_path_factory):
    if not INFLUXD:
        pytest.skip("influxd not installed (tests/infra/install-deps.sh)")
    if not KPSINKWRITE.exists():
        pytest.skip(f"{KPSINKWRITE} not built")
    root = tmp_path_factory.mktemp("influx")
    started = []
    try:
        s = {"v1": Influx(INFLUXD, root, "v1")}
        started.append(s["v1"])
        s["auth"] = Influx(INFLUXD, root, "auth", auth=True)
        started.append(s["auth"])
        yield s
    finally:
        for i in started:
            i.stop()


def sinkwrite(sink, *args, timeout=300, **kw):
    argv = [str(KPSINKWRITE), "--sink", sink, *map(str, args)]
    p = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, **kw)
    assert p.stdout, p.stderr
    return json.loads(p.stdout.strip().splitlines()[-1]), p.stderr, p.returncode


def sinkwrite_through_outage(inf, sink, *args, up_for, down_for, timeout):
    """kpsinkwrite SINK ARGS while InfluxDB inf is stopped after up_for seconds and started
    again down_for seconds later: its final stats and its stderr."""
    argv = [str(KPSINKWRITE), "--sink", sink, *map(str, args)]
    p = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        time.sleep(up_for)
        inf.stop()
        time.sleep(down_for)
        inf.start()
        out, err = p.communicate(timeout=timeout)
    finally:
        if p.poll() is None:
            p.kill()
    return json.loads(out.strip().splitlines()[-1]), err


def q(s):
    return urllib.parse.quote(s, safe="")


HOSTILE = ["a,b c", "k=v", 'q"uote', "back\\slash", "\\,", "ünï ☃", "=,= ,\\\"", " lead",
           "tab\there", "#hash"]


def test_round_trip_every_measurement_and_hostile_tags(servers, tmp_path):
    inf = servers["v1"]
    sys_path = str(SOURCE / "src" / "include")
    names = _metric_names()
    now = time.time_ns()
    lines = []
    for i, name in enumerate(names):
        h = HOSTILE[i % len(HOSTILE)]
        lines.append(f"{name}\t{now + i}\t{i}\tpod_name={q(h)}\tnamespace_name={q('ns ' + h)}")
    f = tmp_path / "points.tsv"
    f.write_text("\n".join(lines) + "\n")
    st, err, rc = sinkwrite(f"influxdb:{inf.url}?db=rt&cluster_name=c%2C1", "--points", f)
    assert rc == 0 and st["points_written"] == len(names), err
    for i, name in enumerate(names):
        h = HOSTILE[i % len(HOSTILE)]
        res = inf.query(f'SELECT * FROM "{name}"', "rt")["results"][0]["series"][0]
        row = dict(zip(res["columns"], res["values"][0]))
        assert row["pod_name"] == h and row["namespace_name"] == "ns " + h, row
        assert row["cluster_name"] == "c,1"
        assert row["value"] == i
    assert "sys_path" and sys_path


def _metric_names():
    text = (SOURCE / "src" / "include" / "metric.h").read_text()
    import re
    return re.findall(r'X\(\w+, "([^"]+)"', text)


def test_withfields_layout(servers):
    inf = servers["v1"]
    st, err, rc = sinkwrite(f"influxdb:{inf.url}?db=wf&withfields=true", "--gen", 50)
    assert rc == 0 and st["points_written"] == 50, err
    res = inf.query('SELECT count("usage") FROM "memory"', "wf")["results"][0]
    assert res["series"][0]["values"][0][1] == 50


def test_outage_60s_every_buffered_point_arrives(servers):
    inf = servers["v1"]
    st, err = sinkwrite_through_outage(
        inf, f"influxdb:{inf.url}?db=outage", "--gen", 1000, "--cycles", 80, "--interval", 1,
        "--timeout", 2, "--flush-timeout", 120, "--batch-lines", 500,
        up_for=8, down_for=60, timeout=240)
    assert st["flush"] == "ok", err
    assert st["points_written"] == 80_000 and sum(st["dropped"].values()) == 0, st
    assert inf.count("outage") == 80_000
    assert err.count("InfluxDB write failed; retrying") <= 2, err  # once per episode


def test_tiny_buffer_drop_counter_equals_missing(servers):
    inf = servers["v1"]
    inf.query('CREATE DATABASE "tiny"')
    st, err = sinkwrite_through_outage(
        inf, f"influxdb:{inf.url}?db=tiny", "--gen", 1000, "--cycles", 12, "--interval", 0.5,
        "--timeout", 2, "--buffer-size", "3000points", "--flush-timeout", 60,
        up_for=1.2, down_for=6, timeout=120)
    dropped = st["dropped"]["buffer_full"]
    assert dropped > 0, st
    stored = inf.count("tiny")
    assert stored == st["points_written"]
    assert stored + dropped == 12_000, (stored, st)
    assert err.count("sink buffer full") == 1, err
    # When writes succeed again, one line says how many points went and their sample times:
    # every point missing from InfluxDB lies in that range.
    over = [ln for ln in err.splitlines() if "sink buffer drained after an overflow" in ln]
    assert len(over) == 1, err
    fields = dict(re.findall(r'(\w+)=("[^"]*"|\S+)', over[0]))
    assert int(fields["points"]) == dropped, over[0]
    first, last = int(fields["first_sample_ns"]), int(fields["last_sample_ns"])
    res = inf.query('SELECT "value" FROM "memory/usage"', "tiny", epoch="ns")["results"][0]
    have = {row[0] for row in res["series"][0]["values"]}
    assert len(have) == stored
    ts0 = min(have | {first})
    sent = {ts0 + k * 1000 for k in range(12_000)}  # kpsinkwrite: 1,000 ns apart
    missing = sent - have
    assert len(missing) == dropped, (len(missing), dropped)
    assert first == min(missing) and max(missing) <= last, (first, last, min(missing),
                                                             max(missing))


def test_field_type_conflict_rejected_once(servers, tmp_path):
    inf = servers["v1"]
    inf.query('CREATE DATABASE "conflict"')
    now = time.time_ns()
    req = urllib.request.Request(
        f"{inf.url}/write?db=conflict",
        data=f'memory/usage,pod_name=x value="a string" {now}\n'.encode(), method="POST")
    urllib.request.urlopen(req, timeout=5)
    f = tmp_path / "p.tsv"
    f.write_text("".join(f"memory/usage\t{now + i + 1}\t{i}\tpod_name=x\n" for i in range(10)))
    st, err, rc = sinkwrite(f"influxdb:{inf.url}?db=conflict", "--points", f)
    assert st["points_rejected"] == 10 and st["points_written"] == 0, st
    assert st["requests"] == 1, st  # not retried
    assert err.count("InfluxDB rejected points") == 1, err
    assert "field type conflict" in err


def test_wrong_password_one_error_no_storm(servers):
    inf = servers["auth"]
    st, err, rc = sinkwrite(f"influxdb:{inf.url}?db=k8s&user=kpadmin&pw=wrong", "--gen", 10,
                            "--flush-timeout", 15)
    assert rc == 2 and st["flush"] == "timeout"
    assert st["auth_failures"] >= 1 and st["requests"] <= 3, st  # long backoff
    assert err.count("refused the credentials") == 1, err
    assert "wrong" not in err  # the password never reaches the log
    assert st["points_buffered"] == 10


def test_missing_database_without_rights(servers, tmp_path):
    inf = servers["auth"]
    inf.query("CREATE USER plain WITH PASSWORD 'plainpw'")
    pwfile = tmp_path / "pw"
    pwfile.write_text("plainpw\n")
    st, err, rc = sinkwrite(f"influxdb:{inf.url}?db=nodb&user=plain&pwFile={pwfile}", "--gen", 5,
                            "--flush-timeout", 15)
    assert rc == 2
    assert "not allowed to create the InfluxDB database" in err
    assert err.count("database does not exist") == 1, err
    assert st["not_found"] >= 1 and st["requests"] <= 3, st
    assert "plainpw" not in err


def test_auth_ok_with_password_from_env(servers):
    inf = servers["auth"]
    env = dict(os.environ, KP_TEST_PW="adminpw")
    st, err, rc = sinkwrite(f"influxdb:{inf.url}?db=authok&user=kpadmin&pwEnv=KP_TEST_PW",
                            "--gen", 20, env=env)
    assert rc == 0 and st["points_written"] == 20, err
    assert inf.count("authok") == 20


@pytest.fixture(scope="module")
def influx18(tmp_path_factory):
    try:
        binary = subprocess.run([str(SOURCE / "tests/infra/influxdb2/build.sh")],
                                capture_output=True, text=True, check=True,
                                timeout=1500).stdout.strip()
    except (subprocess.CalledProcessError, subprocess.TimeoutExpired) as e:
        pytest.skip(f"cannot build InfluxDB 1.8.10: {e}")
    inf = Influx(binary, tmp_path_factory.mktemp("influx18"), "v18", auth=True)
    yield inf
    inf.stop()


def test_influxdb2_sink_v2_write_api(influx18, tmp_path):
    inf = influx18
    inf.query('CREATE DATABASE "v2db"')
    tok = tmp_path / "token"
    tok.write_text("kpadmin:adminpw\n")  # 1.8's v2 API takes user:password as the token
    st, err, rc = sinkwrite(f"influxdb2:{inf.url}?org=any&bucket=v2db/autogen&tokenFile={tok}",
                            "--gen", 100)
    assert rc == 0 and st["points_written"] == 100, err
    assert inf.count("v2db") == 100
    assert "adminpw" not in err
    bad = tmp_path / "bad"
    bad.write_text("kpadmin:nope\n")
    st, err, rc = sinkwrite(f"influxdb2:{inf.url}?org=any&bucket=v2db&tokenFile={bad}",
                            "--gen", 3, "--flush-timeout", 5)
    assert rc == 2 and st["auth_failures"] >= 1
