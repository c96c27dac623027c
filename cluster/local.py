#!/usr/bin/env python3
"""The local Kubernetes control plane: start, stop, status (python3 stdlib + openssl).

    python3 cluster/local.py start     # idempotent; waits for a healthy API server; prints the kubeconfig path
    python3 cluster/local.py status    # exit 0 when every process runs and the API server is ready
    python3 cluster/local.py stop      # stops what start started, removes .state/cluster/
    python3 cluster/local.py env       # `export KUBECONFIG=...` for a shell

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

ORDER = ("etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler", "kwok")
BINARIES = ("etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler", "kwok", "kubectl")
NODES = ("kwok-node-0", "kwok-node-1")
SERVICE_CIDR = "10.96.0.0/16"
POD_CIDR = "10.244.0.1/16"
"""Pod IPs are data only: nothing on this machine routes to them (no kube-proxy, no CNI)."""


def log(msg: str) -> None:
    print(msg, flush=True)


class ClusterError(Exception):
    pass


# --- processes -------------------------------------------------------------------------------

def _start_time(pid: int) -> str | None:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return stat.rsplit(")", 1)[1].split()[19]  # field 22: starttime (clock ticks since boot)


def _exe(pid: int) -> str | None:
    try:
        return os.readlink(f"/proc/{pid}/exe")
    except OSError:
        return None


def _record(name: str) -> dict | None:
    try:
        return json.loads((PIDS / f"{name}.json").read_text())
    except (OSError, ValueError):
        return None


def alive(name: str) -> int | None:
    """The pid of our process ``name`` if it is still the process we started, else None."""
    rec = _record(name)
    if not rec:
        return None
    pid = rec["pid"]
    if _start_time(pid) != rec["start_time"]:
        return None
    exe = _exe(pid)
    if exe is not None and os.path.basename(exe.removesuffix(" (deleted)")) != os.path.basename(rec["binary"]):
        return None
    try:
        with open(f"/proc/{pid}/status") as fh:
            if any(line.startswith("State:") and "Z" in line.split()[1] for line in fh):
                return None  # a zombie is not running
    except OSError:
        return None
    return pid


def spawn(name: str, args: list[str]) -> int:
    LOGS.mkdir(parents=True, exist_ok=True)
    PIDS.mkdir(parents=True, exist_ok=True)
    binary = str(BIN / name)
    with open(LOGS / f"{name}.log", "ab") as out:
        out.write(f"\n--- {time.strftime('%Y-%m-%dT%H:%M:%S')} {' '.join([binary, *args])}\n".encode())
        out.flush()
        proc = subprocess.Popen([binary, *args], stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
                                start_new_session=True, cwd=STATE, env=_child_env())
    start = None
    for _ in range(50):
        start = _start_time(proc.pid)
        if start:
            break
        time.sleep(0.01)
    rec = {"pid": proc.pid, "start_time": start, "binary": binary, "args": args}
    (PIDS / f"{name}.json").write_text(json.dumps(rec, indent=1) + "\n")
    proc.returncode = 0  # detached on purpose: do not warn that it still runs when this object goes
    return proc.pid


def _child_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k in ("PATH", "LANG", "LC_ALL", "TZ")}
    env["HOME"] = str(STATE)  # kwok and kubectl read ~/.kwok, ~/.kube otherwise
    return env


def terminate(name: str, timeout: float = 15.0) -> bool:
    pid = alive(name)
    if pid is None:
        return False
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and alive(name) is not None:
        _reap(pid)
        time.sleep(0.1)
    if alive(name) is not None:
        os.kill(pid, signal.SIGKILL)
        while alive(name) is not None:
            _reap(pid)
            time.sleep(0.05)
    return True


def _reap(pid: int) -> None:
    with contextlib.suppress(ChildProcessError):
        os.waitpid(pid, os.WNOHANG)


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
    openssl("genrsa", "-out", "sa.key", "2048")
    openssl("rsa", "-in", "sa.key", "-pubout", "-out", "sa.pub")
    for f in PKI.iterdir():
        f.chmod(0o600)


def write_kubeconfig(port: int) -> None:
    def b64(name: str) -> str:
        return base64.b64encode((PKI / name).read_bytes()).decode()
    config = {
        "apiVersion": "v1", "kind": "Config", "current-context": "immutable-local",
        "clusters": [{"name": "immutable-local", "cluster": {
            "server": f"https://127.0.0.1:{port}", "certificate-authority-data": b64("ca.crt")}}],
        "users": [{"name": "immutable-admin", "user": {
            "client-certificate-data": b64("admin.crt"), "client-key-data": b64("admin.key")}}],
        "contexts": [{"name": "immutable-local", "context": {
            "cluster": "immutable-local", "user": "immutable-admin", "namespace": "default"}}],
    }
    tmp = KUBECONFIG.with_suffix(".tmp")
    tmp.write_text(json.dumps(config, indent=1) + "\n")  # JSON is YAML
    tmp.chmod(0o600)
    os.replace(tmp, KUBECONFIG)


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
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        dead = [n for n in names if alive(n) is None]
        if dead:
            raise ClusterError(f"{', '.join(dead)} exited while waiting for {what}; last log lines:\n"
                               + "\n".join(_tail(n) for n in dead))
        time.sleep(0.2)
    raise ClusterError(f"timed out after {timeout:.0f}s waiting for {what}; last log lines:\n"
                       + "\n".join(_tail(n) for n in names))


def _tail(name: str, lines: int = 15) -> str:
    try:
        text = (LOGS / f"{name}.log").read_text(errors="replace").splitlines()[-lines:]
    except OSError:
        text = ["(no log)"]
    return f"== {LOGS / (name + '.log')}\n" + "\n".join(text)


def kubectl(*args: str, input: str | None = None, check: bool = True) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run([str(BIN / "kubectl"), "--kubeconfig", str(KUBECONFIG), *args], input=input,
                          capture_output=True, text=True, env=_child_env(), timeout=120)
    if check and proc.returncode != 0:
        raise ClusterError(f"kubectl {' '.join(args)} failed:\n{proc.stdout}{proc.stderr}")
    return proc


# --- commands -------------------------------------------------------------------------------

def missing_binaries() -> list[str]:
    return [b for b in BINARIES if not (BIN / b).is_file()]


def running() -> dict[str, int | None]:
    return {name: alive(name) for name in ORDER}


def healthy() -> bool:
    try:
        ports = json.loads(PORTS.read_text())
    except (OSError, ValueError):
        return False
    return all(running().values()) and api_get(ports["apiserver"], "/readyz")[0] == 200 and KUBECONFIG.is_file()


def start(timeout: float = 120.0) -> int:
    t0 = time.monotonic()
    if healthy():
        log(f"local cluster already running; kubeconfig: {KUBECONFIG}")
        return 0
    missing = missing_binaries()
    if missing:
        raise ClusterError(f"missing {', '.join(missing)} in {BIN}: run python3 cluster/build.py")
    if any(running().values()):
        log("local cluster partly running or unhealthy: stopping it first")
        stop(quiet=True)
    STATE.mkdir(parents=True, exist_ok=True)
    make_pki()
    ports = {"etcd": free_port(), "etcd_peer": free_port(), "apiserver": free_port(), "kwok_node": free_port()}
    PORTS.write_text(json.dumps(ports) + "\n")

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
        "--authorization-mode=RBAC",
        # Default plugins plus, explicitly, the two this project relies on: ValidatingAdmissionPolicy
        # (the exec lock, CONNECT pods/exec|attach|portforward and pods/ephemeralcontainers) and PodSecurity.
        "--enable-admission-plugins=ValidatingAdmissionPolicy,PodSecurity",
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
    ])
    spawn("kube-scheduler", [f"--kubeconfig={KUBECONFIG}", "--leader-elect=false", "--secure-port=0", "--v=1"])
    spawn("kwok", [
        f"--kubeconfig={KUBECONFIG}", f"--config={KWOK_STAGES}", "--manage-all-nodes=false",
        "--manage-nodes-with-annotation-selector=kwok.x-k8s.io/node=fake",
        "--node-ip=127.0.0.1", f"--node-port={ports['kwok_node']}", f"--cidr={POD_CIDR}",
        "--node-lease-duration-seconds=40", "-v=INFO",
    ])
    names = ORDER
    nodes = "\n---\n".join(json.dumps(_node(n)) for n in NODES)
    kubectl("apply", "-f", "-", input=nodes)

    def nodes_ready() -> bool:
        proc = kubectl("get", "nodes", "-o", "json", check=False)
        if proc.returncode != 0:
            return False
        items = json.loads(proc.stdout)["items"]
        return len(items) == len(NODES) and all(
            any(c["type"] == "Ready" and c["status"] == "True" for c in i.get("status", {}).get("conditions", []))
            for i in items)
    wait_for("kwok nodes Ready", nodes_ready, timeout, names)
    # The controller manager must have created the default ServiceAccount before workloads come.
    wait_for("default ServiceAccount", lambda: kubectl("get", "serviceaccount", "default", "-n", "default",
                                                          check=False).returncode == 0, timeout, names)
    log(f"local cluster ready in {time.monotonic() - t0:.1f}s: https://127.0.0.1:{ports['apiserver']} "
        f"(Kubernetes {_server_version()}, nodes {', '.join(NODES)})")
    log(f"kubeconfig: {KUBECONFIG}")
    return 0


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


def stop(quiet: bool = False) -> int:
    stopped = []
    for name in reversed(ORDER):
        if terminate(name):
            stopped.append(name)
    if STATE.exists():
        shutil.rmtree(STATE)
    if not quiet:
        log(f"local cluster stopped ({', '.join(stopped) or 'nothing was running'}); removed {STATE}")
    return 0


def status() -> int:
    procs = running()
    for name, pid in procs.items():
        log(f"{name:<24} {f'running (pid {pid})' if pid else 'not running'}")
    if not any(procs.values()):
        log("local cluster: not running (python3 cluster/local.py start)")
        return 3
    ok = healthy()
    log(f"API server: {'ready' if ok else 'NOT ready'}; kubeconfig: {KUBECONFIG}")
    return 0 if ok else 1


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("command", choices=("start", "stop", "status", "env"))
    ap.add_argument("--timeout", type=float, default=120.0, help="seconds to wait for each component (start)")
    args = ap.parse_args(argv)
    try:
        if args.command == "start":
            return start(args.timeout)
        if args.command == "stop":
            return stop()
        if args.command == "env":
            print(f"export KUBECONFIG={KUBECONFIG}")
            return 0
        return status()
    except ClusterError as exc:
        print(f"\ncluster/local.py {args.command}: FAILED: {exc}", file=sys.stderr, flush=True)
        return 1


if __name__ == "__main__":
    sys.exit(main())
