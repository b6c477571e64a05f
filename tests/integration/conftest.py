# SPDX-License-Identifier: Apache-2.0
"""Pytest fixtures for kubepulse's integration tests: real servers on loopback.

``cluster`` (session): the running test cluster, a kpharness.Cluster. When
``$KP_INFRA_ENV`` names an env file (ctest sets it; its infra_up fixture ran up.sh), that
cluster is used and left running. Otherwise the harness runs tests/infra/up.sh into a
temporary directory and down.sh at the end of the session; ``KP_KEEP_INFRA=1`` keeps the
directory (server logs, data) for a look afterwards, as does a failed start.

``namespace`` (function): a fresh namespace named after the test.

``procs`` (function): a kpharness.ProcessGroup for the processes a test starts; whatever is
still running at the end of the test is stopped by pid. Logs go to
STATE_DIR/procs/TEST-NAME/NAME.log, next to the servers' logs.
"""

import os
import re
import subprocess
import sys
import tempfile

import pytest

from kpharness import INFRA_DIR, Cluster, ProcessGroup


@pytest.fixture(scope="session")
def cluster():
    """The running test cluster (see the module docstring)."""
    env_file = os.environ.get("KP_INFRA_ENV")
    if env_file:
        yield Cluster(env_file)
        return
    state_dir = tempfile.mkdtemp(prefix="kubepulse-infra-")
    started = False
    try:
        # up.sh may build the servers first (minutes when cold): no timeout here.
        up = subprocess.run([str(INFRA_DIR / "up.sh"), state_dir], stdin=subprocess.DEVNULL,
                            stdout=subprocess.PIPE, text=True)
        if up.returncode != 0:
            pytest.fail(f"tests/infra/up.sh {state_dir} failed; server logs kept in {state_dir}",
                        pytrace=False)
        started = True
        yield Cluster(up.stdout.strip().splitlines()[-1])
    finally:
        # Keep the logs when asked to, or when the cluster never came up.
        keep = os.environ.get("KP_KEEP_INFRA") == "1" or not started
        down = [str(INFRA_DIR / "down.sh"), state_dir] + ([] if keep else ["--purge"])
        subprocess.run(down, stdin=subprocess.DEVNULL, check=False)
        if keep:
            print(f"\nkept test cluster state in {state_dir}", file=sys.stderr)


@pytest.fixture
def namespace(cluster, request):
    """A fresh namespace for one test (named after it)."""
    return cluster.create_namespace(request.node.name)


@pytest.fixture
def procs(cluster, request):
    """Processes started by one test, stopped when it ends."""
    test_dir = re.sub(r"[^A-Za-z0-9_.-]+", "_", request.node.name)[:80]
    group = ProcessGroup(cluster.state_dir / "procs" / test_dir)
    yield group
    group.stop_all()
