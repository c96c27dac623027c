#!/usr/bin/env python3
"""The local Kubernetes control plane: start, stop, status (python3 stdlib + openssl).

    python3 cluster/local.py start     # idempotent; waits for a healthy API server; prints the kubeconfig path
    python3 cluster/local.py status    # exit 0 when every process runs and the API server is ready
    python3 cluster/local.py stop      # stops what start started, removes .state/cluster/
    python3 cluster/local.py env       # `export KUBECONFIG=...` for a shell
    python3 cluster/local.py prometheus  # the cluster's Prometheus (cluster/monitoring.py), idempotent

Processes (binaries from cluster/build.py in .toolchain/cluster/bin): etcd, kube-apiserver,
kube-controller-manager, kube-scheduler and kwok, which plays the kubelets of two simulated
nodes (pods become Running/Ready without a container runtime; cluster/kwok-stages.yaml).
Each is recorded in .state/cluster/pids/<name>.json (pid, its /proc start time and binary),
and stop signals only a pid whose start time and executable still match: nothing is ever
killed by name. Everything listens on 127.0.0.1 on free ports chosen at start. The nodes'
addresses are 127.0.0.1 too, so a request the API server forwards to a "kubelet" (exec,
logs) can only reach this machine's loopback.
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import importlib.util
import json
import os
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

CLUSTER_DIR = Path(__file__).resolve().parent
ROOT = CLUSTER_DIR.parent
BIN = ROOT / ".toolchain" / "cluster" / "bin"
STATE = Path(os.environ.get("IMMUTABLE_CLUSTER_STATE", ROOT / ".state" / "cluster"))
KUBECONFIG = STATE / "kubeconfig"
PKI = STATE / "pki"
PIDS = STATE / "pids"
LOGS = STATE / "logs"
PORTS = STATE / "ports.json"
KWOK_STAGES = CLUSTER_DIR / "kwok-stages.yaml"
MODE = STATE / "mode.json"

sys.path.insert(0, str(CLUSTER_DIR))
import monitoring  # noqa: E402
import node  # noqa: E402
from supervisor import Supervisor  # noqa: E402


def _load_registry() -> Any:
    """registry/local.py: the local OCI registry the real node pulls from. By default the project's
    shared one (.state/registry, 127.0.0.1:5000, also Docker's), so image references in a stack's
    ledger stay valid across cluster restarts; tests point IMMUTABLE_REGISTRY_* at a private one."""
    spec = importlib.util.spec_from_file_location("registry_local", ROOT / "registry" / "local.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module

CLIENT_RATE = ("--kube-api-qps=200", "--kube-api-burst=400")
"""The controllers' and the scheduler's API client rate. Their defaults (20 and 50 requests per
second, per controller) protect a shared apiserver; this one serves one user, and at 1,000
services the ReplicaSet controller alone has ~4,000 writes to make (two pods and status updates
per release): over three minutes at 20 per second, longer than everything else in the update."""

CONTROL_PLANE = ("etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler")
NODE_PROCESSES = {"kwok": ("kwok",), "real": ("containerd", "kubelet", "kube-proxy", "kwok", "dns")}
"""In real mode kwok only publishes Ingress addresses (cluster/kwok-ingress-stage.yaml): no node, no pod;
dns (cluster/dns.py) resolves Service names for the pods."""
ORDER = (*CONTROL_PLANE, "containerd", "kubelet", "kube-proxy", "kwok", "dns", monitoring.DISCOVERY, monitoring.PROMETHEUS)
"""Every process start may run, in start order (stop goes in reverse)."""
BINARIES = {"kwok": ("etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler", "kwok", "kubectl"),
            "real": ("etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler", "kubectl", "kubelet",
                     "kube-proxy", "kwok", "registry", "imagetool", "testapp", "pause")}
NODES = ("kwok-node-0", "kwok-node-1")
DEFAULT_NODES = os.environ.get("IMMUTABLE_CLUSTER_NODES", "real")
"""`real`: one real node (containerd, kubelet, kube-proxy; cluster/node.py); `kwok`: two
simulated nodes (cheap, for scale tests; no container runs)."""
SERVICE_CIDR = "10.96.0.0/16"
POD_CIDR = "10.244.0.1/16"
"""Pod IPs are data only: nothing on this machine routes to them (no kube-proxy, no CNI)."""


def log(msg: str) -> None:
    print(msg, flush=True)


class ClusterError(Exception):
    pass


# --- processes (cluster/supervisor.py: pid + start time + binary, nothing killed by name) ------

def _child_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k in ("PATH", "LANG", "LC_ALL", "TZ")}
    env["HOME"] = str(STATE)  # kwok and kubectl read ~/.kwok, ~/.kube otherwise
    return env


SUP = Supervisor(STATE, env=_child_env())


def alive(name: str) -> int | None:
    return SUP.alive(name)


def spawn(name: str, args: list[str], binary: str | None = None) -> int:
    return SUP.spawn(name, binary or str(BIN / name), args)


def terminate(name: str, timeout: float = 15.0) -> bool:
    return SUP.terminate(name, timeout)


def _tail(name: str, lines: int = 15) -> str:
    return SUP.tail(name, lines)


# --- files ----------------------------------------------------------------------------------

def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def openssl(*args: str) -> None:
    proc = subprocess.run(["openssl", *args], capture_output=True, text=True, cwd=PKI)
    if proc.returncode != 0:
        raise ClusterError(f"openssl {' '.join(args)} failed:\n{proc.stderr.strip()}")


def make_pki() -> None:
    if (PKI / "admin.crt").is_file():
        return
    if shutil.which("openssl") is None:
        raise ClusterError("`openssl` is not on PATH (Debian: apt-get install openssl)")
    PKI.mkdir(parents=True, exist_ok=True)
    openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "ca.key", "-out", "ca.crt",
            "-days", "3650", "-subj", "/CN=immutable-infra-local-ca")
    san = "subjectAltName=IP:127.0.0.1,IP:10.96.0.1,DNS:localhost,DNS:kubernetes,DNS:kubernetes.default," \
          "DNS:kubernetes.default.svc,DNS:kubernetes.default.svc.cluster.local"
    for name, subj, ext in (("apiserver", "/CN=kube-apiserver", san),
                            ("admin", "/O=system:masters/CN=immutable-infra-admin", None)):
        openssl("req", "-newkey", "rsa:2048", "-nodes", "-keyout", f"{name}.key", "-out", f"{name}.csr", "-subj", subj)
        extra = ["-extfile", f"{name}.ext"] if ext else []
        if ext:
            (PKI / f"{name}.ext").write_text(ext + "\n")
        openssl("x509", "-req", "-in", f"{name}.csr", "-CA", "ca.crt", "-CAkey", "ca.key", "-CAcreateserial",
                "-out", f"{name}.crt", "-days", "3650", *extra)
    _node_certs()
    openssl("genrsa", "-out", "sa.key", "2048")
    openssl("rsa", "-in", "sa.key", "-pubout", "-out", "sa.pub")
    for f in PKI.iterdir():
        f.chmod(0o600)


def _cert(name: str, subj: str, ext: str | None = None) -> None:
    openssl("req", "-newkey", "rsa:2048", "-nodes", "-keyout", f"{name}.key", "-out", f"{name}.csr", "-subj", subj)
    extra = []
    if ext:
        (PKI / f"{name}.ext").write_text(ext + "\n")
        extra = ["-extfile", f"{name}.ext"]
    openssl("x509", "-req", "-in", f"{name}.csr", "-CA", "ca.crt", "-CAkey", "ca.key", "-CAcreateserial",
            "-out", f"{name}.crt", "-days", "3650", *extra)


def _node_certs() -> None:
    """Certificates of a real node: the API server's client cert towards kubelets (logs, exec),
    the kubelet's client (Node authorizer) and serving certs, kube-proxy's client cert."""
    _cert("apiserver-kubelet-client", "/O=system:masters/CN=kube-apiserver-kubelet-client")
    _cert("kubelet", f"/O=system:nodes/CN=system:node:{node.NODE_NAME}")
    _cert("kubelet-serving", f"/CN={node.NODE_NAME}", f"subjectAltName=IP:{node.NODE_IP},DNS:{node.NODE_NAME}")
    _cert("kube-proxy", "/CN=system:kube-proxy")


def write_kubeconfig(port: int, path: Path = KUBECONFIG, cert: str = "admin") -> None:
    def b64(name: str) -> str:
        return base64.b64encode((PKI / name).read_bytes()).decode()
    config = {
        "apiVersion": "v1", "kind": "Config", "current-context": "immutable-local",
        "clusters": [{"name": "immutable-local", "cluster": {
            "server": f"https://127.0.0.1:{port}", "certificate-authority-data": b64("ca.crt")}}],
        "users": [{"name": "immutable-admin", "user": {
            "client-certificate-data": b64(f"{cert}.crt"), "client-key-data": b64(f"{cert}.key")}}],
        "contexts": [{"name": "immutable-local", "context": {
            "cluster": "immutable-local", "user": "immutable-admin", "namespace": "default"}}],
    }
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(config, indent=1) + "\n")  # JSON is YAML
    tmp.chmod(0o600)
    os.replace(tmp, path)


# --- health ---------------------------------------------------------------------------------

def _ssl_context() -> ssl.SSLContext:
    ctx = ssl.create_default_context(cafile=str(PKI / "ca.crt"))
    ctx.load_cert_chain(str(PKI / "admin.crt"), str(PKI / "admin.key"))
    return ctx


def api_get(port: int, path: str, timeout: float = 3.0) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(f"https://127.0.0.1:{port}{path}", context=_ssl_context(),
                                    timeout=timeout) as resp:
            return resp.status, resp.read().decode(errors="replace")
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode(errors="replace")
    except (OSError, ssl.SSLError) as exc:
        return 0, str(exc)


def etcd_healthy(port: int) -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=2) as resp:
            return bool(json.loads(resp.read()).get("health") == "true")
    except (OSError, ValueError):
        return False


def wait_for(what: str, check, timeout: float, names: tuple[str, ...]) -> None:
    SUP.wait_for(what, check, timeout, names, error=ClusterError)


def kubectl(*args: str, input: str | None = None, check: bool = True) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run([str(BIN / "kubectl"), "--kubeconfig", str(KUBECONFIG), *args], input=input,
                          capture_output=True, text=True, env=_child_env(), timeout=120)
    if check and proc.returncode != 0:
        raise ClusterError(f"kubectl {' '.join(args)} failed:\n{proc.stdout}{proc.stderr}")
    return proc


# --- commands -------------------------------------------------------------------------------

def mode() -> str:
    try:
        return str(json.loads(MODE.read_text())["nodes"])
    except (OSError, ValueError, KeyError):
        return DEFAULT_NODES


def processes(nodes: str) -> tuple[str, ...]:
    return (*CONTROL_PLANE, *NODE_PROCESSES[nodes])


def missing_binaries(nodes: str = "kwok") -> list[str]:
    return [b for b in BINARIES[nodes] if not (BIN / b).is_file()]


def running(nodes: str | None = None) -> dict[str, int | None]:
    return {name: alive(name) for name in processes(nodes or mode())}


def healthy() -> bool:
    try:
        ports = json.loads(PORTS.read_text())
    except (OSError, ValueError):
        return False
    return all(running().values()) and api_get(ports["apiserver"], "/readyz")[0] == 200 and KUBECONFIG.is_file()


def _cluster_alive(state: Path) -> bool:
    """Whether the cluster in ``state`` still runs (its kubelet record matches a live process)."""
    return Supervisor(state).alive("kubelet") is not None


def start(timeout: float = 120.0, nodes: str | None = None) -> int:
    t0 = time.monotonic()
    nodes = nodes or DEFAULT_NODES
    if nodes not in NODE_PROCESSES:
        raise ClusterError(f"--nodes {nodes!r}: want one of {', '.join(NODE_PROCESSES)}")
    if healthy() and mode() == nodes:
        log(f"local cluster already running ({nodes} nodes); kubeconfig: {KUBECONFIG}")
        return 0
    missing = missing_binaries(nodes)
    if missing:
        raise ClusterError(f"missing {', '.join(missing)} in {BIN}: run python3 cluster/build.py"
                           + (" (or start --nodes kwok: needs only python3 cluster/build.py --kwok)"
                              if nodes == "real" else ""))
    if nodes == "real":
        node.preflight()
    if any(alive(n) for n in ORDER) or MODE.exists():
        log("local cluster partly running, unhealthy or in another mode: stopping it first")
        stop(quiet=True)
    STATE.mkdir(parents=True, exist_ok=True)
    MODE.write_text(json.dumps({"nodes": nodes}) + "\n")
    make_pki()
    ports = {"etcd": free_port(), "etcd_peer": free_port(), "apiserver": free_port(), "kwok_node": free_port(),
             "kubelet": free_port(), "kubelet_healthz": free_port(), "kube_proxy_healthz": free_port(),
             "kube_proxy_metrics": free_port()}
    PORTS.write_text(json.dumps(ports) + "\n")
    names = processes(nodes)

    etcd_url = f"http://127.0.0.1:{ports['etcd']}"
    peer_url = f"http://127.0.0.1:{ports['etcd_peer']}"
    spawn("etcd", ["--name=local", f"--data-dir={STATE / 'etcd'}", f"--listen-client-urls={etcd_url}",
                   f"--advertise-client-urls={etcd_url}", f"--listen-peer-urls={peer_url}",
                   f"--initial-advertise-peer-urls={peer_url}", f"--initial-cluster=local={peer_url}",
                   "--unsafe-no-fsync=true", "--quota-backend-bytes=2147483648", "--log-level=warn"])
    wait_for("etcd", lambda: etcd_healthy(ports["etcd"]), timeout, ("etcd",))

    spawn("kube-apiserver", [
        f"--etcd-servers={etcd_url}", "--bind-address=127.0.0.1", "--advertise-address=127.0.0.1",
        f"--secure-port={ports['apiserver']}",
        f"--tls-cert-file={PKI / 'apiserver.crt'}", f"--tls-private-key-file={PKI / 'apiserver.key'}",
        f"--client-ca-file={PKI / 'ca.crt'}",
        f"--service-account-key-file={PKI / 'sa.pub'}", f"--service-account-signing-key-file={PKI / 'sa.key'}",
        "--service-account-issuer=https://kubernetes.default.svc.cluster.local",
        f"--service-cluster-ip-range={SERVICE_CIDR}",
        # Node: a kubelet may only touch its own node and pods (with NodeRestriction admission).
        "--authorization-mode=Node,RBAC",
        # Default plugins plus, explicitly, the two this project relies on: ValidatingAdmissionPolicy
        # (the exec lock, CONNECT pods/exec|attach|portforward and pods/ephemeralcontainers) and PodSecurity.
        "--enable-admission-plugins=ValidatingAdmissionPolicy,PodSecurity,NodeRestriction",
        # logs/exec reach a real kubelet by its InternalIP (its hostname does not resolve), as a client
        # the kubelet's webhook authorizer accepts.
        "--kubelet-preferred-address-types=InternalIP",
        f"--kubelet-client-certificate={PKI / 'apiserver-kubelet-client.crt'}",
        f"--kubelet-client-key={PKI / 'apiserver-kubelet-client.key'}",
        "--endpoint-reconciler-type=none",  # no master Endpoints for a loopback address
        "--allow-privileged=false", "--profiling=false", "--v=1",
    ])
    wait_for("kube-apiserver /readyz", lambda: api_get(ports["apiserver"], "/readyz")[0] == 200, timeout,
             ("etcd", "kube-apiserver"))
    write_kubeconfig(ports["apiserver"])

    spawn("kube-controller-manager", [
        f"--kubeconfig={KUBECONFIG}", "--leader-elect=false", "--secure-port=0",
        f"--service-account-private-key-file={PKI / 'sa.key'}", f"--root-ca-file={PKI / 'ca.crt'}",
        "--use-service-account-credentials=false", f"--service-cluster-ip-range={SERVICE_CIDR}",
        "--controllers=*,-nodeipam,-cloud-node-lifecycle,-service-lb-controller,-route", "--v=1",
        *CLIENT_RATE,
    ])
    spawn("kube-scheduler", [f"--kubeconfig={KUBECONFIG}", "--leader-elect=false", "--secure-port=0", "--v=1",
                             *CLIENT_RATE])
    node_names = start_kwok(ports) if nodes == "kwok" else start_real_node(ports, timeout)

    def nodes_ready() -> bool:
        proc = kubectl("get", "nodes", "-o", "json", check=False)
        if proc.returncode != 0:
            return False
        items = json.loads(proc.stdout)["items"]
        return len(items) == len(node_names) and all(
            any(c["type"] == "Ready" and c["status"] == "True" for c in i.get("status", {}).get("conditions", []))
            for i in items)
    wait_for(f"{nodes} nodes Ready", nodes_ready, timeout, names)
    # The controller manager must have created the default ServiceAccount before workloads come.
    wait_for("default ServiceAccount", lambda: kubectl("get", "serviceaccount", "default", "-n", "default",
                                                          check=False).returncode == 0, timeout, names)
    log(f"local cluster ready in {time.monotonic() - t0:.1f}s: https://127.0.0.1:{ports['apiserver']} "
        f"(Kubernetes {_server_version()}, {nodes} nodes: {', '.join(node_names)})")
    log(f"kubeconfig: {KUBECONFIG}")
    return 0


def start_kwok(ports: dict[str, int]) -> tuple[str, ...]:
    spawn("kwok", [
        f"--kubeconfig={KUBECONFIG}", f"--config={KWOK_STAGES}", "--manage-all-nodes=false",
        "--manage-nodes-with-annotation-selector=kwok.x-k8s.io/node=fake",
        "--node-ip=127.0.0.1", f"--node-port={ports['kwok_node']}", f"--cidr={POD_CIDR}",
        "--node-lease-duration-seconds=40", "-v=INFO",
    ])
    nodes = "\n---\n".join(json.dumps(_node(n)) for n in NODES)
    kubectl("apply", "-f", "-", input=nodes)
    return NODES


def start_real_node(ports: dict[str, int], timeout: float) -> tuple[str, ...]:
    """containerd, kubelet and kube-proxy on the project's bridge; images from the local registry."""
    t0 = time.monotonic()
    node.take_lock(STATE, _cluster_alive, reclaim=_reclaim_dead_node)
    node_dir = STATE / "node"
    node.record_host(node_dir)
    node.ensure_netns_mount()
    registry = _load_registry()
    reg_running = registry.SUP.alive("registry") is not None and registry.serving(registry.address())
    addr = registry.start()
    if not reg_running:
        (node_dir / "started-registry").write_text(str(registry.STATE) + "\n")
    try:
        pushed_to = json.loads((registry.STATE / "images.json").read_text())["address"]
    except (OSError, ValueError, KeyError):
        pushed_to = None
    if pushed_to != addr:  # first start, or the registry came back on another port: refs name the address
        registry.push_images(addr)
    node.ensure_bridge()
    node.ensure_cgroup_root()
    config = node.containerd_config(node_dir, addr)
    sock = node_dir / "containerd" / "containerd.sock"
    spawn("containerd", ["--config", str(config), "--log-level", "warn"], binary=shutil.which("containerd"))
    wait_for("containerd socket", sock.exists, timeout, ("containerd",))
    api = ports["apiserver"]
    write_kubeconfig(api, node_dir / "kubelet.kubeconfig", "kubelet")
    write_kubeconfig(api, node_dir / "kube-proxy.kubeconfig", "kube-proxy")
    kubelet_config = node.kubelet_config(node_dir, PKI, ports["kubelet"], ports["kubelet_healthz"])
    spawn("kubelet", [f"--config={kubelet_config}", f"--kubeconfig={node_dir / 'kubelet.kubeconfig'}",
                      f"--root-dir={node_dir / 'kubelet'}", f"--cert-dir={node_dir / 'kubelet-pki'}",
                      f"--hostname-override={node.NODE_NAME}", f"--node-ip={node.NODE_IP}",
                      "--node-labels=type=real", "--v=1"])
    proxy_config = node.kube_proxy_config(node_dir, node_dir / "kube-proxy.kubeconfig", ports["kube_proxy_healthz"],
                                          ports["kube_proxy_metrics"])
    spawn("kube-proxy", [f"--config={proxy_config}", "--v=1"])
    # Service names resolve in the pods (web calls api.apps.svc.cluster.local): the kubelet's clusterDNS.
    spawn("dns", [str(CLUSTER_DIR / "dns.py"), f"--listen={node.NODE_IP}", f"--api=https://127.0.0.1:{api}",
                  f"--pki={PKI}"], binary=sys.executable)
    spawn("kwok", [f"--kubeconfig={KUBECONFIG}", f"--config={CLUSTER_DIR / 'kwok-ingress-stage.yaml'}",
                   "--manage-all-nodes=false", "--manage-nodes-with-annotation-selector=kwok.x-k8s.io/node=fake",
                   "--node-ip=127.0.0.1", f"--node-port={ports['kwok_node']}", "-v=INFO"])
    log(f"real node processes started in {time.monotonic() - t0:.1f}s (registry {addr})")
    return (node.NODE_NAME,)


def _server_version() -> str:
    ports = json.loads(PORTS.read_text())
    code, body = api_get(ports["apiserver"], "/version")
    return json.loads(body).get("gitVersion", "?") if code == 200 else "?"


def _node(name: str) -> dict:
    capacity = {"cpu": "32", "memory": "256Gi", "pods": "110"}
    return {
        "apiVersion": "v1", "kind": "Node",
        "metadata": {"name": name,
                     "annotations": {"kwok.x-k8s.io/node": "fake", "node.alpha.kubernetes.io/ttl": "0"},
                     "labels": {"type": "kwok", "kubernetes.io/hostname": name, "kubernetes.io/os": "linux",
                                "kubernetes.io/arch": "amd64"}},
        "spec": {},
        "status": {"allocatable": capacity, "capacity": capacity,
                   "addresses": [{"type": "InternalIP", "address": "127.0.0.1"}]},
    }


def _kill_containers(state: Path = STATE) -> None:
    """Containers outlive kubelet and containerd (each has its own shim): kill them through the
    node's containerd, then end the shims that still name its containerd's socket, by pid."""
    sock = state / "node" / "containerd" / "containerd.sock"
    ctr = shutil.which("ctr")
    if Supervisor(state).alive("containerd") and ctr and sock.exists():
        base = [ctr, "--address", str(sock), "-n", "k8s.io"]
        tasks = subprocess.run([*base, "tasks", "ls", "-q"], capture_output=True, text=True, timeout=60).stdout.split()
        for task in tasks:
            subprocess.run([*base, "tasks", "kill", "-s", "SIGKILL", task], capture_output=True, timeout=30)
        for task in tasks:
            subprocess.run([*base, "tasks", "delete", "-f", task], capture_output=True, timeout=30)
    needle = str(sock).encode()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes()
        except OSError:
            continue
        if b"containerd-shim" in cmdline.split(b"\0")[0] and needle in cmdline:
            with contextlib.suppress(ProcessLookupError):
                os.kill(int(entry.name), signal.SIGKILL)


def _reclaim_dead_node(state: Path) -> None:
    """Undo what a real node killed without ``stop`` left on the host (its session ended, the OOM
    killer): its bridge, pod network namespaces, mounts, cgroups and sysctls, from its own record,
    before this node records the host as it was. Otherwise this node would take the leftovers for
    the host's own and leave them behind at its stop. Its state directory stays (its etcd data)."""
    log(f"a real node at {state} was killed without stop: undoing its host changes")
    sup = Supervisor(state)
    for name in reversed(ORDER):
        if name == "containerd":
            _kill_containers(state)
        sup.terminate(name)
    node.undo_host_changes(state, BIN / "kube-proxy", log)
    _stop_registry_it_started(state / "node")


def _stop_registry_it_started(node_dir: Path) -> None:
    """The registry a node started goes with it (one it found running stays)."""
    started = node_dir / "started-registry"
    if not started.is_file():
        return
    ours = os.environ.get("IMMUTABLE_REGISTRY_STATE")
    os.environ["IMMUTABLE_REGISTRY_STATE"] = started.read_text().strip()  # registry/local.py reads it on load
    try:
        _load_registry().stop()
    finally:
        if ours is None:
            os.environ.pop("IMMUTABLE_REGISTRY_STATE")
        else:
            os.environ["IMMUTABLE_REGISTRY_STATE"] = ours
    started.unlink()


def stop(quiet: bool = False) -> int:
    stopped = []
    for name in reversed(ORDER):
        if name == "containerd":
            _kill_containers()
        if terminate(name):
            stopped.append(name)
    node_dir = STATE / "node"
    if node_dir.exists():
        node.undo_host_changes(STATE, BIN / "kube-proxy", log)
        _stop_registry_it_started(node_dir)
        node.release_lock(STATE)
    if STATE.exists():
        node.unmount_below(str(STATE))
        shutil.rmtree(STATE)
    if not quiet:
        log(f"local cluster stopped ({', '.join(stopped) or 'nothing was running'}); removed {STATE}")
    return 0


def prometheus(environment: str, stop_it: bool = False) -> int:
    """Start the cluster's Prometheus (cluster/monitoring.py) against the running cluster, or stop it."""
    if stop_it:
        stopped = [n for n in (monitoring.PROMETHEUS, monitoring.DISCOVERY) if terminate(n)]
        log(f"prometheus stopped ({', '.join(stopped) or 'it was not running'})")
        return 0
    if not healthy():
        raise ClusterError("the local cluster is not running: python3 cluster/local.py start")
    ports = json.loads(PORTS.read_text())
    try:
        monitoring.start(SUP, STATE, ports["apiserver"], kubectl, log, environment)
    except RuntimeError as exc:
        raise ClusterError(str(exc)) from exc
    return 0


def status() -> int:
    procs = running()
    for name, pid in procs.items():
        log(f"{name:<24} {f'running (pid {pid})' if pid else 'not running'}")
    if not any(procs.values()):
        log("local cluster: not running (python3 cluster/local.py start)")
        return 3
    ok = healthy()
    log(f"nodes: {mode()}; API server: {'ready' if ok else 'NOT ready'}; kubeconfig: {KUBECONFIG}")
    return 0 if ok else 1


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("command", choices=("start", "stop", "status", "env", "prometheus"))
    ap.add_argument("--timeout", type=float, default=120.0, help="seconds to wait for each component (start)")
    ap.add_argument("--nodes", choices=tuple(NODE_PROCESSES), default=None,
                    help=f"start: a real node or kwok's simulated ones (default {DEFAULT_NODES}; "
                         "env IMMUTABLE_CLUSTER_NODES)")
    ap.add_argument("--stop", action="store_true", help="prometheus: stop it (the cluster keeps running)")
    ap.add_argument("--environment", default="dev",
                    help="prometheus: the `environment` label of pods that carry none (default dev)")
    args = ap.parse_args(argv)
    try:
        if args.command == "start":
            return start(args.timeout, args.nodes)
        if args.command == "stop":
            return stop()
        if args.command == "prometheus":
            return prometheus(args.environment, args.stop)
        if args.command == "env":
            print(f"export KUBECONFIG={KUBECONFIG}")
            return 0
        return status()
    except (ClusterError, node.NodeError) as exc:
        print(f"\ncluster/local.py {args.command}: FAILED: {exc}", file=sys.stderr, flush=True)
        return 1


if __name__ == "__main__":
    sys.exit(main())
