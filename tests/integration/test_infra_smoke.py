# SPDX-License-Identifier: Apache-2.0
"""Smoke tests proving the tests/infra servers are the real thing: optimistic concurrency on
Leases, RBAC on ServiceAccount tokens, certs from the cluster CA, InfluxQL round trips, and
restarts that keep state (what the chaos tests will rely on)."""

import json
import time

from kpharness import InfluxError, wait_for

LEASES = "/apis/coordination.k8s.io/v1/namespaces/{ns}/leases"


def lease_body(ns, name, holder, resource_version=None):
    meta = {"name": name, "namespace": ns}
    if resource_version is not None:
        meta["resourceVersion"] = resource_version
    return {
        "apiVersion": "coordination.k8s.io/v1",
        "kind": "Lease",
        "metadata": meta,
        "spec": {"holderIdentity": holder, "leaseDurationSeconds": 15},
    }


def test_apiserver_reports_pinned_version(cluster):
    status, body = cluster.api("GET", "/version")
    assert status == 200
    assert body["gitVersion"].startswith("v1.32."), body


def test_lease_update_with_stale_resource_version_conflicts(cluster, namespace):
    # Create with kubectl and the admin kubeconfig.
    cluster.kubectl("create", "-f", "-", input=lease_body(namespace, "kubepulse", "replica-a"))
    out = cluster.kubectl("get", "lease", "kubepulse", "-n", namespace, "-o", "json").stdout
    created = json.loads(out)
    stale_rv = created["metadata"]["resourceVersion"]
    assert created["spec"]["holderIdentity"] == "replica-a"

    # An update carrying the current resourceVersion succeeds and bumps it.
    path = LEASES.format(ns=namespace) + "/kubepulse"
    status, updated = cluster.api("PUT", path, lease_body(namespace, "kubepulse", "replica-b",
                                                          stale_rv))
    assert status == 200, updated
    assert updated["spec"]["holderIdentity"] == "replica-b"
    assert updated["metadata"]["resourceVersion"] != stale_rv

    # The same update again, now stale: the apiserver refuses it.
    status, body = cluster.api("PUT", path, lease_body(namespace, "kubepulse", "replica-c",
                                                       stale_rv))
    assert status == 409, body
    assert body["reason"] == "Conflict"
    _, current = cluster.api("GET", path)
    assert current["spec"]["holderIdentity"] == "replica-b"


def test_token_without_rolebinding_is_forbidden_until_granted(cluster, namespace):
    token = cluster.mint_token("elector", namespace, duration="15m")
    leases = LEASES.format(ns=namespace)
    cluster.api("POST", leases, lease_body(namespace, "held", "someone"))

    status, body = cluster.api("GET", leases, token=token)
    assert status == 403, body
    status, body = cluster.api("GET", leases + "/held", token=token)
    assert status == 403, body
    assert body["reason"] == "Forbidden"

    # Grant get/list on leases in this namespace (an admin action), then the SAME token works.
    cluster.kubectl("create", "role", "lease-reader", "-n", namespace, "--verb=get,list",
                    "--resource=leases.coordination.k8s.io")
    cluster.kubectl("create", "rolebinding", "lease-reader", "-n", namespace,
                    "--role=lease-reader", f"--serviceaccount={namespace}:elector")
    wait_for(lambda: cluster.api("GET", leases, token=token)[0] == 200, timeout=10,
             what="the RoleBinding to take effect")
    status, body = cluster.api("GET", leases + "/held", token=token)
    assert status == 200, body
    assert body["spec"]["holderIdentity"] == "someone"

    # Still no more than granted: no writes, no other namespaces.
    status, _ = cluster.api("PUT", leases + "/held",
                            lease_body(namespace, "held", "elector",
                                       body["metadata"]["resourceVersion"]), token=token)
    assert status == 403
    assert cluster.api("GET", LEASES.format(ns="default"), token=token)[0] == 403


def test_mint_token_rules_grant_exactly_those_rights(cluster, namespace):
    token = cluster.mint_token("collector", namespace,
                               rules=["get,list,watch:pods"],
                               cluster_rules=[{"verbs": ["list"], "resources": ["nodes"]}])
    assert cluster.api("GET", f"/api/v1/namespaces/{namespace}/pods", token=token)[0] == 200
    assert cluster.api("GET", "/api/v1/nodes", token=token)[0] == 200
    assert cluster.api("GET", f"/api/v1/namespaces/{namespace}/secrets", token=token)[0] == 403
    # kubectl as the token holder sees the same rights.
    assert cluster.kubectl("auth", "can-i", "list", "pods", "-n", namespace,
                           token=token).stdout.strip() == "yes"
    assert cluster.kubectl("auth", "can-i", "delete", "nodes", token=token,
                           check=False).stdout.strip() == "no"


def test_node_cert_from_cluster_ca_authenticates_as_node(cluster):
    crt, key = cluster.issue_cert("smoke-node", "system:node:smoke-node",
                                  orgs=["system:nodes"], sans=["IP:127.0.0.1", "DNS:smoke-node"])
    status, body = cluster.api("POST", "/apis/authentication.k8s.io/v1/selfsubjectreviews",
                               {"apiVersion": "authentication.k8s.io/v1",
                                "kind": "SelfSubjectReview"}, cert=(crt, key))
    assert status == 201, body
    user = body["status"]["userInfo"]
    assert user["username"] == "system:node:smoke-node"
    assert "system:nodes" in user["groups"]


def test_influx_write_then_select(cluster):
    db = f"smoke_{int(time.time() * 1000)}"
    cluster.influx_query(f'CREATE DATABASE "{db}"')
    cluster.influx_write(["cpu,node=node-a,pod=web-1 usage_nanocores=1250000i,ready=true "
                          "1700000000000000000"], db)
    rows = cluster.influx_rows('SELECT "usage_nanocores", "ready" FROM "cpu" '
                               "WHERE \"node\" = 'node-a'", db, epoch="ns")
    assert rows == [{"time": 1700000000000000000, "usage_nanocores": 1250000, "ready": True}]


def test_influx_auth_instance_rejects_anonymous_queries(cluster):
    url, user, password = cluster.influx_auth()
    try:
        cluster.influx_query("SHOW DATABASES", url=url)
    except InfluxError as err:
        assert "401" in str(err)
    else:
        raise AssertionError("anonymous query accepted with auth-enabled = true")
    cluster.influx_query('CREATE DATABASE "authdb"', url=url, auth=(user, password))
    cluster.influx_write("m v=1i 1", "authdb", url=url, auth=(user, password))
    assert cluster.influx_rows("SELECT v FROM m", "authdb", url=url,
                               auth=(user, password)) == [{"time": "1970-01-01T00:00:00.000000001Z",
                                                           "v": 1}]


def test_procs_fixture_stops_processes_by_pid(procs):
    sleeper = procs.start("sleeper", ["sh", "-c", "echo started; exec sleep 300"])
    # (the log's first line is the command itself, so look for whole output lines)
    wait_for(lambda: "started" in sleeper.log().splitlines(), timeout=5, what="sleeper output")
    stubborn = procs.start("stubborn", ["sh", "-c", "trap '' TERM; echo ready; "
                                                    "while :; do sleep 0.1; done"])
    wait_for(lambda: "ready" in stubborn.log().splitlines(), timeout=5, what="stubborn output")
    stubborn.pause()
    assert sleeper.stop() == -15
    assert stubborn.stop(timeout=1) == -9  # ignores TERM: killed after the timeout
    assert not sleeper.alive() and not stubborn.alive()


def test_restarts_keep_state_and_addresses(cluster, namespace):
    """What chaos tests rely on: apiserver, etcd and InfluxDB come back on the same
    address with their data, under a new pid."""
    cluster.kubectl("create", "configmap", "survivor", "-n", namespace, "--from-literal=k=v")
    db = f"restart_{int(time.time() * 1000)}"
    cluster.influx_query(f'CREATE DATABASE "{db}"')
    cluster.influx_write("m v=7i 1", db)
    old = {name: cluster.pid(name) for name in ("etcd", "apiserver", "influx")}
    url = cluster.apiserver

    cluster.control("apiserver", "stop")
    assert cluster.pid("apiserver") is None
    cluster.control("etcd", "kill")
    cluster.control("etcd", "start")
    cluster.control("apiserver", "start")
    cluster.control("influx", "restart")

    for name, pid in old.items():
        assert cluster.pid(name) not in (None, pid), name
    assert cluster.apiserver == url
    out = cluster.kubectl("get", "configmap", "survivor", "-n", namespace,
                          "-o", "jsonpath={.data.k}").stdout
    assert out == "v"
    assert cluster.influx_rows("SELECT v FROM m", db, epoch="ns") == [{"time": 1, "v": 7}]
