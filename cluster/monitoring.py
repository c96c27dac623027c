"""The local cluster's Prometheus (issue #33): per-release metrics of every pod we deploy
(python3 stdlib + openssl; the ``prometheus`` binary from Debian, 2.42).

    python3 cluster/local.py prometheus    # starts it against the running cluster (idempotent)

It runs under the cluster's supervisor (``<state>/pids/prometheus.json``; stopped by
``cluster/local.py stop``), keeps its data in ``<state>/prometheus/`` and listens on
127.0.0.1 only, on a port chosen at start and written to ``<state>/prometheus/address``.

It finds pods through Kubernetes service discovery against the local API server, as a
user of its own (client certificate ``CN=immutable-prometheus``, allowed by RBAC to list and
watch pods, nothing else), and scrapes the pods the ContainerService marks for it
(``prometheus.io/scrape``, ``/port`` and ``/path`` annotations, from the spec's
``monitoring``). Debian's build has no ``kubernetes_sd_configs`` (Debian does not package
client-go), so the discovery is cluster/pod_sd.py, a supervised process of ours that writes a
``file_sd`` target file with the same ``__meta_kubernetes_pod_*`` labels: the relabelling
below is the one a Prometheus with ``kubernetes_sd_configs`` (role ``pod``) uses unchanged
(``relabel_configs``). Relabelling puts these labels on every series:

* ``service``      the pod's ``app.kubernetes.io/name`` (the ContainerService's name)
* ``release``      the pod's ``immutable.dev/release`` (the release id)
* ``environment``  the pod's ``environment`` label if it has one, else this Prometheus's
                   environment (``--environment``, default ``dev``: the local cluster is dev's target)
* ``namespace``, ``pod``

Only pods carrying ``immutable.dev/release`` are scraped (ours). Labels the app itself puts
on a series under the same names (the test app's own ``release`` and ``pod``) are dropped:
the target's labels, which come from the API server, are the truth.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
import pod_sd

PROMETHEUS = "prometheus"
"""Debian's package and binary name (scripts/lib.sh ensure_prometheus installs it)."""
DISCOVERY = "prometheus-pod-sd"
"""The supervised name of cluster/pod_sd.py."""
USER = "immutable-prometheus"
SCRAPE_INTERVAL_SECONDS = 5
"""Short, so an analysis of a few tens of seconds sees several samples; a local machine's cost."""
LABEL_RELEASE = "immutable.dev/release"
LABEL_SERVICE = "app.kubernetes.io/name"

RBAC = [
    {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole",
     "metadata": {"name": USER, "labels": {"app.kubernetes.io/managed-by": "immutable-infra"}},
     "rules": [{"apiGroups": [""], "resources": ["pods"], "verbs": ["get", "list", "watch"]}]},
    {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding",
     "metadata": {"name": USER, "labels": {"app.kubernetes.io/managed-by": "immutable-infra"}},
     "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": USER},
     "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": USER}]},
]
"""Prometheus reads pods, nothing else: not the admin certificate."""


def _meta(label: str, kind: str = "label") -> str:
    """A pod label's (or annotation's) service-discovery meta label (non-alphanumerics become ``_``)."""
    return f"__meta_kubernetes_pod_{kind}_{pod_sd.sanitize(label)}"


def relabel_configs(environment: str) -> list[dict[str, Any]]:
    """The relabelling: the same for kubernetes_sd (role pod) and for cluster/pod_sd.py's file_sd."""
    return [
        # Ours only: running pods of a release, marked for scraping (spec.monitoring).
        {"source_labels": [_meta(LABEL_RELEASE)], "regex": ".+", "action": "keep"},
        {"source_labels": [_meta("prometheus.io/scrape", "annotation")], "regex": "true", "action": "keep"},
        {"source_labels": ["__meta_kubernetes_pod_phase"], "regex": "Running", "action": "keep"},
        # The metrics port and path the spec names (one target per pod: the same labels dedupe).
        {"source_labels": ["__meta_kubernetes_pod_ip", _meta("prometheus.io/port", "annotation")],
         "regex": "(.+);([0-9]+)", "replacement": "$1:$2", "target_label": "__address__"},
        {"source_labels": [_meta("prometheus.io/path", "annotation")], "regex": "(.+)",
         "target_label": "__metrics_path__"},
        {"source_labels": [_meta(LABEL_SERVICE)], "target_label": "service"},
        {"source_labels": [_meta(LABEL_RELEASE)], "target_label": "release"},
        {"target_label": "environment", "replacement": environment},
        {"source_labels": [_meta("environment")], "regex": "(.+)", "target_label": "environment"},
        {"source_labels": ["__meta_kubernetes_namespace"], "target_label": "namespace"},
        {"source_labels": ["__meta_kubernetes_pod_name"], "target_label": "pod"},
    ]


def config(targets_file: Path, environment: str, interval: int = SCRAPE_INTERVAL_SECONDS) -> dict[str, Any]:
    """prometheus.yml (as a dict; JSON is YAML) for the local cluster."""
    return {
        "global": {"scrape_interval": f"{interval}s", "scrape_timeout": f"{max(1, interval - 1)}s",
                   "evaluation_interval": f"{interval}s"},
        "scrape_configs": [{
            "job_name": "pods",
            "metrics_path": "/metrics",
            # cluster/pod_sd.py rewrites the file on every change; the refresh is a fallback.
            "file_sd_configs": [{"files": [str(targets_file)], "refresh_interval": "5s"}],
            "relabel_configs": relabel_configs(environment),
            # The app's own labels of the same names (exported_release, exported_pod after the
            # clash) would only repeat or contradict the target's: dropped.
            "metric_relabel_configs": [{"regex": "exported_.*", "action": "labeldrop"}],
        }],
    }


def binary() -> str | None:
    return shutil.which(PROMETHEUS)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def ready(address: str, timeout: float = 2.0) -> bool:
    try:
        with urllib.request.urlopen(f"{address}/-/ready", timeout=timeout) as resp:
            return bool(resp.status == 200)
    except OSError:
        return False


def address(state: Path) -> str | None:
    try:
        return (state / "prometheus" / "address").read_text().strip() or None
    except OSError:
        return None


def client_cert(pki: Path) -> None:
    """``CN=immutable-prometheus``, signed by the cluster's CA (once per cluster)."""
    if (pki / f"{USER}.crt").is_file():
        return
    for args in (["req", "-newkey", "rsa:2048", "-nodes", "-keyout", f"{USER}.key", "-out", f"{USER}.csr",
                  "-subj", f"/CN={USER}"],
                 ["x509", "-req", "-in", f"{USER}.csr", "-CA", "ca.crt", "-CAkey", "ca.key", "-CAcreateserial",
                  "-out", f"{USER}.crt", "-days", "3650"]):
        proc = subprocess.run(["openssl", *args], capture_output=True, text=True, cwd=pki, timeout=60)
        if proc.returncode != 0:
            raise RuntimeError(f"openssl {' '.join(args)} failed: {proc.stderr.strip()}")
    for name in (f"{USER}.key", f"{USER}.crt"):
        (pki / name).chmod(0o600)


def start(sup: Any, state: Path, api_port: int, kubectl: Any, log: Any, environment: str = "dev",
          timeout: float = 60.0) -> str:
    """Start Prometheus for the cluster in ``state`` (idempotent); returns its address."""
    t0 = time.monotonic()
    current = address(state)
    if sup.alive(PROMETHEUS) is not None and sup.alive(DISCOVERY) is not None and current and ready(current):
        log(f"prometheus already running: {current}")
        return current
    exe = binary()
    if exe is None:
        raise RuntimeError("`prometheus` is not installed: bash -c 'source scripts/lib.sh; ensure_prometheus' "
                           "(Debian package prometheus)")
    sup.terminate(PROMETHEUS)  # a dead or unready one from before
    sup.terminate(DISCOVERY)
    pki = state / "pki"
    client_cert(pki)
    kubectl("apply", "-f", "-", input="\n---\n".join(json.dumps(r) for r in RBAC))
    home = state / "prometheus"
    (home / "data").mkdir(parents=True, exist_ok=True)
    targets = home / "targets.json"
    # The real path of the interpreter: the supervisor matches a pid's executable by its name.
    python = os.path.realpath(sys.executable)
    sup.spawn(DISCOVERY, python, [str(Path(__file__).with_name("pod_sd.py")), f"--api=https://127.0.0.1:{api_port}",
                                  f"--pki={pki}", f"--user={USER}", f"--out={targets}"])
    cfg = home / "prometheus.yml"
    cfg.write_text(json.dumps(config(targets, environment), indent=1) + "\n")
    addr = f"http://127.0.0.1:{_free_port()}"
    sup.spawn(PROMETHEUS, exe, [
        f"--config.file={cfg}", f"--storage.tsdb.path={home / 'data'}",
        f"--web.listen-address={addr.removeprefix('http://')}",
        "--storage.tsdb.retention.time=2d",  # a local cluster's history; nothing long-lived here
        "--log.level=warn",
    ])
    deadline = time.monotonic() + timeout
    while not ready(addr):
        for name in (DISCOVERY, PROMETHEUS):
            if sup.alive(name) is None:
                raise RuntimeError(f"{name} exited at start:\n{sup.tail(name)}")
        if time.monotonic() > deadline:
            raise RuntimeError(f"prometheus not ready after {timeout:.0f}s:\n{sup.tail(PROMETHEUS)}")
        time.sleep(0.2)
    (home / "address").write_text(addr + "\n")
    log(f"prometheus ready in {time.monotonic() - t0:.1f}s: {addr} (scraping pods every {SCRAPE_INTERVAL_SECONDS}s)")
    return addr
