#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""register.py — register kubeletsim's simulated nodes and pods in a real API server.

Reads the simulator's manifest (a file from -manifest, or GET /manifest from the control
endpoint) and, with kubectl, creates what a kubelet would have: one Node per simulated node
(status.addresses InternalIP/Hostname, daemonEndpoints.kubeletEndpoint.Port, capacity and
allocatable matching the simulator, Ready condition) and one Pod per simulated pod
(spec.nodeName set, containers with the simulator's images and requests/limits, status
Running). Status is written through the status subresource with server-side apply. Pods need
a "default" ServiceAccount in their namespace (the ServiceAccount admission plugin checks it
even with automounting off), so the namespaces and their default ServiceAccounts are applied
first.

Objects go to kubectl in chunks (--chunk objects per call) from --parallel concurrent kubectl
processes: 10 nodes x 30 pods take a few seconds, 1,000 nodes x 30 pods a few minutes.

With --control, the UIDs the API server gave the pods are posted back to the simulator
(POST /pod-uids), so /stats/summary reports the real UIDs from then on.

Environment: KP_KUBECTL (default: kubectl on PATH), KP_KUBECONFIG (default: kubectl's own).

    register.py --control 127.0.0.1:PORT            # register everything, sync UIDs
    register.py --manifest m.json --no-pods          # only the nodes
    register.py --manifest m.json --dry-run /tmp/d   # write the objects, call nothing
    register.py --control 127.0.0.1:PORT --delete    # remove what a run registered
"""

import argparse
import concurrent.futures
import json
import os
import subprocess
import sys
import threading
import time
import urllib.request

FIELD_MANAGER = "kubeletsim"
SIM_LABEL = "kubepulse.io/sim"


def log(msg):
    print(f"register: {msg}", file=sys.stderr, flush=True)


def load_manifest(args):
    if args.manifest:
        with open(args.manifest, encoding="utf-8") as f:
            return json.load(f)
    with urllib.request.urlopen(f"http://{args.control}/manifest", timeout=300) as resp:
        return json.load(resp)


class Kubectl:
    def __init__(self, args):
        self.bin = args.kubectl or os.environ.get("KP_KUBECTL") or "kubectl"
        self.kubeconfig = args.kubeconfig or os.environ.get("KP_KUBECONFIG")
        self.dry_run = args.dry_run
        self.calls = 0
        self.lock = threading.Lock()

    def run(self, argv, stdin=None, what=""):
        cmd = [self.bin] + (["--kubeconfig", self.kubeconfig] if self.kubeconfig else []) + argv
        if self.dry_run:
            os.makedirs(self.dry_run, exist_ok=True)
            with self.lock:
                self.calls += 1
                n = self.calls
            path = os.path.join(self.dry_run, f"{n:05d}-{what or 'call'}.json")
            with open(path, "w", encoding="utf-8") as f:
                json.dump({"argv": cmd, "input": json.loads(stdin) if stdin else None}, f, indent=1)
            return ""
        proc = subprocess.run(cmd, input=stdin, capture_output=True, text=True)
        if proc.returncode != 0:
            raise RuntimeError(f"{' '.join(cmd)} failed ({proc.returncode}):\n{proc.stderr.strip()}")
        return proc.stdout

    def apply(self, objs, subresource=None, what=""):
        doc = json.dumps({"apiVersion": "v1", "kind": "List", "items": objs})
        argv = ["apply", "--server-side", "--force-conflicts",
                f"--field-manager={FIELD_MANAGER}", "-f", "-", "-o", "name"]
        if subresource:
            argv.append(f"--subresource={subresource}")
        self.run(argv, stdin=doc, what=what)


def chunks(items, n):
    for i in range(0, len(items), n):
        yield items[i:i + n]


def apply_all(kc, objs, args, subresource=None, what=""):
    """Apply objs in chunks from up to args.parallel kubectl processes."""
    if not objs:
        return
    parts = list(chunks(objs, args.chunk))
    with concurrent.futures.ThreadPoolExecutor(max_workers=args.parallel) as pool:
        futures = [pool.submit(kc.apply, p, subresource, what) for p in parts]
        for f in concurrent.futures.as_completed(futures):
            f.result()  # re-raise the first failure


# ---- object builders ---------------------------------------------------------------------


def node_object(n):
    return {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {"name": n["name"], "labels": n["labels"]},
        "spec": {},
    }


def node_status(n, now):
    cond = lambda t, s, reason, msg: {  # noqa: E731
        "type": t, "status": s, "reason": reason, "message": msg,
        "lastHeartbeatTime": now, "lastTransitionTime": n["bootTime"],
    }
    return {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {"name": n["name"]},
        "status": {
            "capacity": n["capacity"],
            "allocatable": n["allocatable"],
            "addresses": [
                {"type": "InternalIP", "address": n["address"]},
                {"type": "Hostname", "address": n["hostname"]},
            ],
            "daemonEndpoints": {"kubeletEndpoint": {"Port": n["port"]}},
            "conditions": [
                cond("MemoryPressure", "False", "KubeletHasSufficientMemory", "kubelet has sufficient memory available"),
                cond("DiskPressure", "False", "KubeletHasNoDiskPressure", "kubelet has no disk pressure"),
                cond("PIDPressure", "False", "KubeletHasSufficientPID", "kubelet has sufficient PID available"),
                cond("Ready", "True", "KubeletReady", "kubelet is posting ready status (kubeletsim)"),
            ],
            "nodeInfo": {
                "machineID": f"{n['index']:032x}",
                "systemUUID": f"{n['index']:08x}-0000-4000-8000-000000000000",
                "bootID": f"{n['index']:08x}-b007-4000-8000-000000000000",
                "kernelVersion": "6.1.0-kubeletsim",
                "osImage": "kubeletsim",
                "containerRuntimeVersion": "containerd://1.7.0",
                "kubeletVersion": "v1.32.0-kubeletsim",
                "kubeProxyVersion": "",
                "operatingSystem": "linux",
                "architecture": "amd64",
            },
        },
    }


def pod_object(n, p):
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": p["name"], "namespace": p["namespace"], "labels": p["labels"]},
        "spec": {
            "nodeName": n["name"],
            "automountServiceAccountToken": False,
            "terminationGracePeriodSeconds": 0,
            "containers": [
                {"name": c["name"], "image": c["image"], "resources": c["resources"]}
                for c in p["containers"]
            ],
        },
    }


def pod_status(n, j, p):
    pod_ip = f"10.{64 + n['index'] // 256 % 64}.{n['index'] % 256}.{j % 250 + 2}"
    ready = lambda t: {"type": t, "status": "True", "lastTransitionTime": p["startTime"]}  # noqa: E731
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": p["name"], "namespace": p["namespace"]},
        "status": {
            "phase": "Running",
            "conditions": [ready("PodScheduled"), ready("Initialized"),
                           ready("ContainersReady"), ready("Ready")],
            "hostIP": n["address"],
            "hostIPs": [{"ip": n["address"]}],
            "podIP": pod_ip,
            "podIPs": [{"ip": pod_ip}],
            "startTime": p["startTime"],
            "containerStatuses": [
                {
                    "name": c["name"],
                    "image": c["image"],
                    "imageID": c["image"],
                    "containerID": f"containerd://{n['index']:016x}{j:08x}{k:040x}",
                    "ready": True,
                    "started": True,
                    "restartCount": 0,
                    "state": {"running": {"startedAt": c["startTime"]}},
                }
                for k, c in enumerate(p["containers"])
            ],
        },
    }


def namespace_objects(namespaces):
    objs = []
    for ns in sorted(namespaces):
        objs.append({"apiVersion": "v1", "kind": "Namespace",
                     "metadata": {"name": ns, "labels": {SIM_LABEL: "true"}}})
    for ns in sorted(namespaces):
        objs.append({"apiVersion": "v1", "kind": "ServiceAccount",
                     "metadata": {"name": "default", "namespace": ns}})
    return objs


# ---- actions -----------------------------------------------------------------------------


def registrable_pods(manifest):
    for n in manifest["nodes"]:
        for j, p in enumerate(n["pods"]):
            if p.get("registrable", True):
                yield n, j, p


def register(kc, manifest, args):
    t0 = time.monotonic()
    now = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    nodes = manifest["nodes"]
    pods = list(registrable_pods(manifest)) if not args.no_pods else []

    if pods:
        # Namespaces and ServiceAccounts first, in one call, in order.
        kc.apply(namespace_objects({p["namespace"] for _, _, p in pods}), what="namespaces")
    apply_all(kc, [node_object(n) for n in nodes], args, what="nodes")
    apply_all(kc, [node_status(n, now) for n in nodes], args, "status", what="node-status")
    log(f"{len(nodes)} nodes registered in {time.monotonic() - t0:.1f}s")
    if not pods:
        return
    apply_all(kc, [pod_object(n, p) for n, _, p in pods], args, what="pods")
    if not args.no_status:
        apply_all(kc, [pod_status(n, j, p) for n, j, p in pods], args, "status", what="pod-status")
    log(f"{len(pods)} pods registered in {time.monotonic() - t0:.1f}s")
    if args.control and not args.dry_run:
        sync_uids(kc, args)


def sync_uids(kc, args):
    out = kc.run(["get", "pods", "--all-namespaces", "-l", f"{SIM_LABEL}=true", "--chunk-size=2000",
                  "-o", "custom-columns=NS:.metadata.namespace,NAME:.metadata.name,UID:.metadata.uid",
                  "--no-headers"])
    uids = {}
    for line in out.splitlines():
        fields = line.split()
        if len(fields) == 3:
            uids[f"{fields[0]}/{fields[1]}"] = fields[2]
    req = urllib.request.Request(f"http://{args.control}/pod-uids", method="POST",
                                 data=json.dumps(uids).encode(),
                                 headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=120) as resp:
        res = json.load(resp)
    log(f"posted {res.get('updated')} pod UIDs to the simulator")


def delete(kc, manifest, args):
    t0 = time.monotonic()
    by_ns: dict[str, list[str]] = {}
    for _, _, p in registrable_pods(manifest):
        by_ns.setdefault(p["namespace"], []).append(p["name"])
    calls = []
    if not args.no_pods:
        # Only this manifest's pods, by name: every simulator puts its pods in the same
        # namespaces (ns-0..) with the same label, so a label selector would also delete the
        # pods of another simulator registered in the same API server (a test running beside
        # this one loses its pods' specs mid-run). No kubelet will ever confirm a graceful
        # deletion: force it.
        calls += [["delete", "pods", "-n", ns, "--grace-period=0", "--force",
                   "--ignore-not-found", "--wait=false"] + part
                  for ns, names in sorted(by_ns.items()) for part in chunks(names, args.chunk)]
    names = [n["name"] for n in manifest["nodes"]]
    calls += [["delete", "node", "--ignore-not-found", "--wait=false"] + part
              for part in chunks(names, args.chunk)]
    with concurrent.futures.ThreadPoolExecutor(max_workers=args.parallel) as pool:
        futures = [pool.submit(kc.run, argv, None, "delete") for argv in calls]
        for f in concurrent.futures.as_completed(futures):
            f.result()
    log(f"deleted {len(names)} nodes and the simulated pods in {time.monotonic() - t0:.1f}s")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    src = ap.add_mutually_exclusive_group(required=True)
    src.add_argument("--manifest", help="manifest file written by kubeletsim -manifest")
    src.add_argument("--control", help="kubeletsim control address HOST:PORT (also syncs UIDs)")
    ap.add_argument("--kubectl", help="kubectl binary (default: $KP_KUBECTL or kubectl)")
    ap.add_argument("--kubeconfig", help="kubeconfig (default: $KP_KUBECONFIG)")
    ap.add_argument("--no-pods", action="store_true", help="register nodes only")
    ap.add_argument("--no-status", action="store_true", help="leave pod status empty (Pending)")
    ap.add_argument("--parallel", type=int, default=4, help="concurrent kubectl processes")
    ap.add_argument("--chunk", type=int, default=500, help="objects per kubectl call")
    ap.add_argument("--delete", action="store_true", help="delete the nodes and pods instead")
    ap.add_argument("--dry-run", metavar="DIR", help="write each kubectl call's argv and input to DIR")
    args = ap.parse_args()
    if args.parallel < 1 or args.chunk < 1:
        ap.error("--parallel and --chunk must be >= 1")
    manifest = load_manifest(args)
    kc = Kubectl(args)
    try:
        if args.delete:
            delete(kc, manifest, args)
        else:
            register(kc, manifest, args)
    except RuntimeError as e:
        log(str(e))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
