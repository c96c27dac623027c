#!/usr/bin/env python3
"""Pod discovery for the local Prometheus (issue #33), python3 stdlib only.

    python3 cluster/pod_sd.py --api https://127.0.0.1:PORT --pki DIR --out targets.json [--every 2]

Debian's Prometheus 2.42 is built without Kubernetes service discovery (Debian does not
package client-go: ``strings /usr/bin/prometheus`` lists no discovery/kubernetes), so this
small process does that one job: it lists the pods carrying ``immutable.dev/release`` through
the API server (as the pods-only user ``immutable-prometheus``) and writes a file_sd target
file, atomically, whenever it changes. Each target carries the very meta labels Prometheus's
own ``kubernetes_sd_configs`` (role ``pod``) would give it, so the relabelling in
cluster/monitoring.py is the one a team's Prometheus with kubernetes_sd uses unchanged.
"""

from __future__ import annotations

import argparse
import json
import os
import ssl
import sys
import time
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

SELECTOR = "immutable.dev/release"


def sanitize(name: str) -> str:
    """Prometheus's label-name sanitizing of a Kubernetes label key."""
    return "".join(c if c.isalnum() or c == "_" else "_" for c in name)


def targets(pods: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One file_sd group per (pod, container port), labelled like kubernetes_sd role=pod."""
    groups = []
    for pod in pods:
        meta, status, spec = pod.get("metadata", {}), pod.get("status", {}), pod.get("spec", {})
        ip = status.get("podIP")
        if not ip:
            continue
        ready = any(c.get("type") == "Ready" and c.get("status") == "True" for c in status.get("conditions", []))
        base = {"__meta_kubernetes_namespace": meta.get("namespace", ""),
                "__meta_kubernetes_pod_name": meta.get("name", ""),
                "__meta_kubernetes_pod_ip": ip,
                "__meta_kubernetes_pod_phase": status.get("phase", ""),
                "__meta_kubernetes_pod_ready": str(ready).lower(),
                "__meta_kubernetes_pod_node_name": spec.get("nodeName", "")}
        for kind in ("label", "annotation"):
            for key, value in (meta.get(f"{kind}s") or {}).items():
                base[f"__meta_kubernetes_pod_{kind}_{sanitize(key)}"] = value
                base[f"__meta_kubernetes_pod_{kind}present_{sanitize(key)}"] = "true"
        for container in spec.get("containers", []):
            for port in container.get("ports", []):
                labels = {**base, "__meta_kubernetes_pod_container_name": container.get("name", ""),
                          "__meta_kubernetes_pod_container_port_name": port.get("name", ""),
                          "__meta_kubernetes_pod_container_port_number": str(port.get("containerPort", "")),
                          "__meta_kubernetes_pod_container_port_protocol": port.get("protocol", "TCP")}
                groups.append({"targets": [f"{ip}:{port.get('containerPort')}"], "labels": labels})
    return sorted(groups, key=lambda g: (g["targets"][0], g["labels"]["__meta_kubernetes_pod_name"]))


def list_pods(api: str, ctx: ssl.SSLContext) -> list[dict[str, Any]]:
    query = urllib.parse.urlencode({"labelSelector": SELECTOR})
    with urllib.request.urlopen(f"{api}/api/v1/pods?{query}", context=ctx, timeout=10) as resp:
        return list(json.loads(resp.read()).get("items", []))


def write_if_changed(out: Path, groups: list[dict[str, Any]]) -> bool:
    text = json.dumps(groups, indent=1, sort_keys=True) + "\n"
    try:
        if out.read_text() == text:
            return False
    except OSError:
        pass
    tmp = out.with_suffix(".tmp")
    tmp.write_text(text)
    os.replace(tmp, out)  # Prometheus never reads half a file
    return True


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--api", required=True)
    ap.add_argument("--pki", required=True, type=Path)
    ap.add_argument("--user", default="immutable-prometheus")
    ap.add_argument("--out", required=True, type=Path)
    ap.add_argument("--every", type=float, default=2.0, help="seconds between two listings")
    args = ap.parse_args(argv)
    ctx = ssl.create_default_context(cafile=str(args.pki / "ca.crt"))
    ctx.load_cert_chain(str(args.pki / f"{args.user}.crt"), str(args.pki / f"{args.user}.key"))
    if not args.out.exists():
        write_if_changed(args.out, [])
    while True:
        try:
            groups = targets(list_pods(args.api, ctx))
            if write_if_changed(args.out, groups):
                print(f"{time.strftime('%H:%M:%S')} {len(groups)} target(s)", flush=True)
        except (OSError, ValueError) as exc:
            # The API server restarting is not a reason to stop: the last targets stay.
            print(f"{time.strftime('%H:%M:%S')} listing pods failed: {exc}", flush=True)
        time.sleep(args.every)


if __name__ == "__main__":
    sys.exit(main())
