# SPDX-License-Identifier: Apache-2.0
"""kubepulse's log lines are klog's and component-base's, byte for byte (issue #18).

The same records (data/log_records.jsonl: every value type, Go's string quoting, multi-line
values and messages, errors with and without key/values, V levels) are written by kubepulse's
log API (tests/tools/kplogemit) and by klog and component-base's JSON logger themselves
(tests/infra/klogfmt, built from the pinned modules by tests/infra/build-klogfmt.sh). The
outputs must be equal byte for byte, apart from the fields that differ by nature, whose shape
must match: in text the header's date, time, pid and file:line; in JSON "ts" (milliseconds
since the epoch, a float) and "caller" (dir/file:line).

klog has no structured warning call: klogfmt writes a warning as klog.InfoS does, and our
line must differ from it only in its severity letter (W instead of I).
"""

from __future__ import annotations

import json
import os
import re
import resource
import signal
import subprocess
import time
from pathlib import Path

import pytest

from kpharness import INFRA_DIR
from kpreplicas import BUILD_DIR

RECORDS = Path(__file__).parent / "data" / "log_records.jsonl"
EMIT = BUILD_DIR / "tests" / "tools" / "kplogemit"
HEADER = re.compile(r"^([IWE])(\d\d)(\d\d) (\d\d):(\d\d):(\d\d)\.(\d{6}) {1,7}(\d+) "
                    r"([\w.-]+):(\d+)\] ", re.M)

pytestmark = pytest.mark.skipif(not EMIT.exists(), reason=f"{EMIT} not built")


def klogfmt() -> str:
    out = subprocess.run([str(INFRA_DIR / "build-klogfmt.sh")], check=True, capture_output=True,
                         text=True, timeout=900).stdout.strip()
    return out.splitlines()[-1]


def run(argv: list[str]) -> tuple[str, int]:
    """stderr (where both write) and the pid that wrote it."""
    p = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    out, err = p.communicate(timeout=60)
    assert p.returncode == 0, (argv, err.decode(errors="replace"))
    assert out == b"", out
    return err.decode(), p.pid


def records() -> list[dict]:
    return [json.loads(line) for line in RECORDS.read_text().splitlines()]


def check_headers(text: str, pid: int, what: str) -> list[str]:
    """Shape of every header; returns the severity letters in order."""
    now = time.localtime()
    sevs = []
    for m in HEADER.finditer(text):
        sev, mo, day, hh, mi, ss, _, p, _, line = m.groups()
        assert (int(mo), int(day)) == (now.tm_mon, now.tm_mday) or abs(int(day) - now.tm_mday) <= 1, \
            (what, m.group(0))
        assert int(hh) < 24 and int(mi) < 60 and int(ss) < 61, (what, m.group(0))
        assert int(p) == pid, (what, m.group(0), pid)
        assert int(line) > 0
        sevs.append(sev)
    return sevs


def test_text_is_klogs():
    go = klogfmt()
    ours, our_pid = run([str(EMIT), "text", str(RECORDS)])
    theirs, their_pid = run([go, "-format=text", f"-records={RECORDS}"])
    recs = records()
    our_sev = check_headers(ours, our_pid, "kubepulse")
    their_sev = check_headers(theirs, their_pid, "klog")
    assert len(our_sev) == len(their_sev) == len(recs)
    for rec, a, b in zip(recs, our_sev, their_sev):
        want = {"info": "I", "warning": "W", "error": "E"}[rec["sev"]]
        assert a == want, (rec, a)
        assert b == ("I" if want == "W" else want), (rec, b)
    # Apart from the header's fields, every byte is the same.
    mask = lambda text: HEADER.sub("HEADER] ", text)  # noqa: E731
    assert mask(ours) == mask(theirs), "\n".join(
        f"ours:   {a!r}\nklog:   {b!r}" for a, b in zip(mask(ours).splitlines(),
                                                      mask(theirs).splitlines()) if a != b)
    # The multi-line values really were written as klog's blocks.
    assert '\tline two\n >' in ours and 'block=<\n\tline one\n' in ours


def test_json_is_component_bases():
    go = klogfmt()
    t0 = time.time() * 1000
    ours, _ = run([str(EMIT), "json", str(RECORDS)])
    theirs, _ = run([go, "-format=json", f"-records={RECORDS}"])
    t1 = time.time() * 1000
    a, b = ours.splitlines(), theirs.splitlines()
    assert len(a) == len(b) == len(records())
    lead = re.compile(r'^\{"ts":(\d+\.?\d*),"caller":"([^"/]+/[^"/]+:\d+)",')
    for x, y in zip(a, b):
        mx, my = lead.match(x), lead.match(y)
        assert mx and my, (x, y)
        for m in (mx, my):
            assert t0 - 1000 <= float(m.group(1)) <= t1 + 1000, m.group(0)  # milliseconds
        json.loads(x)
        assert x[mx.end():] == y[my.end():], f"\nours:           {x}\ncomponent-base: {y}"
    # The keys component-base writes, and no others: ts, caller, msg, v (info), err (error).
    for x, rec in zip(a, records()):
        keys = list(json.loads(x))
        extra = [k for k, _, _ in rec["kv"]] + (["err"] if "err" in rec else [])
        base = ["ts", "caller", "msg"] + ([] if rec["sev"] == "error" else ["v"])
        assert sorted(keys) == sorted(base + extra), (keys, rec)


def test_daemon_uses_err_and_the_kubernetes_flag_names(tmp_path):
    """The daemon itself: --logging-format=json (and the alias --log-format), an error
    record's err key, --vmodule raising one file's verbosity."""
    kp = BUILD_DIR / "src" / "kubepulse"
    missing = tmp_path / "missing-kubeconfig"
    for flag in ("--logging-format=json", "--log-format=json"):
        p = subprocess.run([str(kp), f"--kubeconfig={missing}", flag, "--sink=null",
                            "--listen=127.0.0.1:0"], capture_output=True, text=True, timeout=30)
        lines = [json.loads(x) for x in p.stderr.splitlines() if x.startswith("{")]
        err = [x for x in lines if x["msg"] == "cannot start"]
        assert err and "err" in err[0] and "v" not in err[0], p.stderr
        assert str(missing) in err[0]["err"]
        assert all("level" not in x and "error" not in x for x in lines), p.stderr


def start_lines(cluster, extra: list[str]) -> str:
    """stderr of a replica from its start until its status server listens, with a soft
    RLIMIT_NOFILE below the hard one (so that it logs raising it, at V 1)."""
    kp = BUILD_DIR / "src" / "kubepulse"

    def low_nofile():
        soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(1024, hard) - 1, hard))
    p = subprocess.Popen([str(kp), f"--kubeconfig={cluster.kubeconfig}", "--sink=null",
                          "--lease-namespace=default", f"--lease-name=logfmt-{os.getpid()}",
                          "--listen=127.0.0.1:0", *extra], stderr=subprocess.PIPE, text=True,
                         preexec_fn=low_nofile)
    lines = []
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            line = p.stderr.readline()
            if not line:
                break
            lines.append(line)
            if "status server listening" in line:
                break
    finally:
        p.send_signal(signal.SIGTERM)
        p.wait(15)
    text = "".join(lines)
    assert "status server listening" in text, text
    return text


def test_vmodule_raises_one_files_verbosity(cluster):
    """--vmodule as klog takes it: a file's name without .c, or a glob of it; the V 1 line
    of daemon_status.c appears only when a pattern names that file."""
    line = re.compile(r' daemon_status\.c:\d+\] "raised the open-file limit" from=\d+ to=\d+$',
                      re.M)
    assert not line.search(start_lines(cluster, []))
    assert not line.search(start_lines(cluster, ["--vmodule=daemon=1"]))
    assert line.search(start_lines(cluster, ["--vmodule=daemon_status=1"]))
    assert line.search(start_lines(cluster, ["--vmodule=x=3,daemon_*=1"]))
    assert line.search(start_lines(cluster, ["--v=1"]))
