#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""mkimage.py - write a one-layer container image as a `docker save` archive, without a daemon
or a registry, for `ctr -n k8s.io images import` (tests/infra/node.sh).

  mkimage.py OUT.tar NAME:TAG [--file SRC:DEST[:MODE]]... [--link DEST:TARGET]...
             [--entrypoint JSON] [--cmd JSON] [--user UID]

The layer holds exactly the given files (and their parent directories) with fixed owners and
timestamps, so the same inputs give the same image digest. The image is linux/amd64.
"""
import argparse
import hashlib
import io
import json
import os
import tarfile

EPOCH = 0


def add_dirs(tar, seen, path):
    parts = path.strip("/").split("/")[:-1]
    for i in range(len(parts)):
        d = "/".join(parts[: i + 1])
        if d in seen:
            continue
        seen.add(d)
        info = tarfile.TarInfo(d)
        info.type, info.mode, info.mtime = tarfile.DIRTYPE, 0o755, EPOCH
        tar.addfile(info)


def build_layer(files, links):
    buf = io.BytesIO()
    seen = set()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for src, dest, mode in files:
            add_dirs(tar, seen, dest)
            with open(src, "rb") as f:
                data = f.read()
            info = tarfile.TarInfo(dest.strip("/"))
            info.size, info.mode, info.mtime = len(data), mode, EPOCH
            tar.addfile(info, io.BytesIO(data))
        for dest, target in links:
            add_dirs(tar, seen, dest)
            info = tarfile.TarInfo(dest.strip("/"))
            info.type, info.linkname, info.mode, info.mtime = tarfile.SYMTYPE, target, 0o777, EPOCH
            tar.addfile(info)
        # /tmp is writable for programs that want it (the pods' root may be read-only).
        for d in ("tmp", "etc"):
            if d not in seen:
                info = tarfile.TarInfo(d)
                info.type, info.mtime = tarfile.DIRTYPE, EPOCH
                info.mode = 0o1777 if d == "tmp" else 0o755
                tar.addfile(info)
    return buf.getvalue()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("out")
    ap.add_argument("name")
    ap.add_argument("--file", action="append", default=[])
    ap.add_argument("--link", action="append", default=[])
    ap.add_argument("--entrypoint")
    ap.add_argument("--cmd")
    ap.add_argument("--user")
    a = ap.parse_args()
    files = []
    for spec in a.file:
        parts = spec.split(":")
        mode = int(parts[2], 8) if len(parts) > 2 else 0o755
        files.append((parts[0], parts[1], mode))
    links = [tuple(spec.split(":", 1)) for spec in a.link]
    layer = build_layer(files, links)
    diff_id = "sha256:" + hashlib.sha256(layer).hexdigest()
    config = {
        "architecture": "amd64",
        "os": "linux",
        "created": "1970-01-01T00:00:00Z",
        "config": {"Env": ["PATH=/bin"], "WorkingDir": "/"},
        "rootfs": {"type": "layers", "diff_ids": [diff_id]},
        "history": [{"created": "1970-01-01T00:00:00Z", "created_by": "tests/infra/node/mkimage.py"}],
    }
    if a.entrypoint:
        config["config"]["Entrypoint"] = json.loads(a.entrypoint)
    if a.cmd:
        config["config"]["Cmd"] = json.loads(a.cmd)
    if a.user:
        config["config"]["User"] = a.user
    config_bytes = json.dumps(config, sort_keys=True, separators=(",", ":")).encode()
    config_name = hashlib.sha256(config_bytes).hexdigest() + ".json"
    layer_name = diff_id[len("sha256:"):] + "/layer.tar"
    manifest = [{"Config": config_name, "RepoTags": [a.name], "Layers": [layer_name]}]
    tmp = a.out + ".tmp"
    with tarfile.open(tmp, mode="w", format=tarfile.PAX_FORMAT) as out:
        for name, data in ((config_name, config_bytes), (layer_name, layer),
                           ("manifest.json", json.dumps(manifest).encode())):
            info = tarfile.TarInfo(name)
            info.size, info.mode, info.mtime = len(data), 0o644, EPOCH
            out.addfile(info, io.BytesIO(data))
    os.replace(tmp, a.out)


if __name__ == "__main__":
    main()
