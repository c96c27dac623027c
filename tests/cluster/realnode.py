"""The real node shared by every cluster-tier module that runs real pods (one per machine:
cluster/node.py holds a machine-wide lock), and the bounded load generator that measures
traffic through a change.

The node is started once per test session (the ``real`` fixture in tests/cluster/conftest.py)
and stopped at its end, with every host change checked undone. A module that deploys on it
uses its own namespace-scoped workspace and destroys it in its own teardown, so modules do not
see each other's objects.

The load generator (tests/cluster/load.py) runs in a network namespace of our own (veth to the
host, 10.90.0.0/30) and sends requests to a Service's ClusterIP; kube-proxy's iptables rules
carry them to the pods. It is bounded in rate and time (``--max-seconds``) and stops by itself.
"""

from __future__ import annotations

import contextlib
import json
import os
import pathlib
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest

from tests.cluster.kube import Cluster, cluster_missing

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[2] / "cluster"))
from supervisor import Supervisor

NS = "apps"
NETNS = "immlg0"
LOAD = pathlib.Path(__file__).with_name("load.py")
SYSCTLS = ("vm.overcommit_memory", "kernel.panic", "kernel.panic_on_oops", "net.ipv4.ip_forward",
           "net.ipv4.conf.all.route_localnet")
M: dict[str, Any] = {}
"""Measurements of the real-node tests, written to <tmp>/real-node-measurements.json."""


def sysctls() -> dict[str, str]:
    return {k: pathlib.Path("/proc/sys", k.replace(".", "/")).read_text().strip() for k in SYSCTLS}


def sh(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(list(args), capture_output=True, text=True, timeout=60)
    if check and proc.returncode != 0:
        raise AssertionError(f"{' '.join(args)}: {proc.stderr}")
    return proc


def start_real_node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    """Start the real node, yield it, stop it and check every host change undone."""
    reason = cluster_missing(real=True)
    if reason:
        if os.environ.get("CI"):
            pytest.fail(reason)  # never a silent skip in CI: scripts/test.sh builds everything first
        pytest.skip(reason)
    before = sysctls()
    netns_mounted = netns_dir_is_a_mount()
    killed = start_and_kill(tmp_path_factory)
    c = Cluster(tmp_path_factory.mktemp("real") / "state")
    t0 = time.monotonic()
    proc = c.local("start", "--nodes", "real")
    M["real_cluster_start_seconds"] = round(time.monotonic() - t0, 1)
    if proc.returncode != 0:
        c.local("stop")  # a start that failed after the control plane came up must not leave it running
        pytest.fail(f"cluster/local.py start --nodes real failed:\n{proc.stdout}\n{proc.stderr}")
    # The session's node took the killed node's lock and undid that node's host changes first:
    # the checks at its stop below (no bridge, sysctls as before) would fail on the leftovers.
    assert f"a real node at {killed.state} was killed without stop" in proc.stdout, proc.stdout
    discard(killed)
    # /run/netns is a mount of its own before any pod: an `ip netns add` while pods run (the load
    # generator's, make_netns) would otherwise hide their namespaces and strand them Terminating.
    assert netns_dir_is_a_mount()
    M["image_build_push_seconds"] = c.images()["build_push_seconds"]
    try:
        yield c
    finally:
        c.stop()
        # Host changes are undone: sysctls as before, no bridge, no kubelet cgroups, no lock.
        assert sysctls() == before, (before, sysctls())
        assert netns_dir_is_a_mount() == netns_mounted
        assert not pathlib.Path("/sys/class/net/immnode0").exists()
        assert not list(pathlib.Path("/sys/fs/cgroup").glob("*/immutable-node"))
        assert not pathlib.Path("/run/immutable-infra-node.json").exists()
        assert "KUBE-" not in sh("iptables-save").stdout


def netns_dir_is_a_mount() -> bool:
    return any(line.split()[4] == "/run/netns" for line in pathlib.Path("/proc/self/mountinfo").read_text().splitlines())


def start_and_kill(tmp_path_factory: pytest.TempPathFactory) -> Cluster:
    """A real node killed without ``stop``, as when the session that started it ends (main's CI
    once failed on the bridge such a node left behind). Its processes get SIGKILL; what it changed
    on the host stays for the next node to undo."""
    killed = Cluster(tmp_path_factory.mktemp("killed") / "state")
    proc = killed.local("start", "--nodes", "real")
    if proc.returncode != 0:
        killed.local("stop")
        pytest.fail(f"cluster/local.py start --nodes real failed:\n{proc.stdout}\n{proc.stderr}")
    assert pathlib.Path("/sys/class/net/immnode0").exists()
    sup = Supervisor(killed.state)
    for rec in sorted((killed.state / "pids").glob("*.json")):
        pid = sup.alive(rec.stem)
        if pid is not None:
            os.kill(pid, signal.SIGKILL)
    return killed


def discard(killed: Cluster) -> None:
    """Remove a killed node's state directory, leaving the registry (the session's node uses it)."""
    for line in reversed(pathlib.Path("/proc/self/mounts").read_text().splitlines()):
        point = line.split()[1]
        if point.startswith(str(killed.state)):
            sh("umount", "-l", point, check=False)
    shutil.rmtree(killed.state)


def make_netns(real: Cluster) -> Iterator[str]:
    """A network namespace of our own for the load generator: veth to the host, routed to the cluster."""
    sh("ip", "netns", "add", NETNS)
    try:
        sh("ip", "link", "add", "immlg-host", "type", "veth", "peer", "name", "immlg-ns")
        sh("ip", "link", "set", "immlg-ns", "netns", NETNS)
        sh("ip", "addr", "add", "10.90.0.1/30", "dev", "immlg-host")
        sh("ip", "link", "set", "immlg-host", "up")
        for cmd in (["ip", "addr", "add", "10.90.0.2/30", "dev", "immlg-ns"], ["ip", "link", "set", "immlg-ns", "up"],
                    ["ip", "link", "set", "lo", "up"], ["ip", "route", "add", "default", "via", "10.90.0.1"]):
            sh("ip", "netns", "exec", NETNS, *cmd)
        # Routing from the namespace to the Service addresses (recorded and restored by cluster stop).
        pathlib.Path("/proc/sys/net/ipv4/ip_forward").write_text("1\n")
        yield NETNS
    finally:
        sh("ip", "link", "del", "immlg-host", check=False)
        sh("ip", "netns", "del", NETNS, check=False)


# --- traffic -------------------------------------------------------------------------------------

@dataclass
class Load:
    name: str
    out: pathlib.Path
    records: list[dict[str, Any]] = field(default_factory=list)

    def read(self) -> list[dict[str, Any]]:
        recs = [json.loads(line) for line in self.out.read_text().splitlines() if line.strip()]
        return sorted(recs, key=lambda r: r["t"])

    @property
    def failed(self) -> list[dict[str, Any]]:
        return [r for r in self.records if r.get("error") or r.get("status") != 200]

    @property
    def versions(self) -> list[str]:
        return [str(r.get("version")) for r in self.records if not (r.get("error") or r.get("status") != 200)]

    def cutover(self, old: str, new: str) -> dict[str, float | None]:
        """First answer of ``new``, last answer of ``old`` (Unix seconds) and how long both answered."""
        first_new = next((r["t"] for r in self.records if r.get("version") == new), None)
        last_old = max((r["t"] for r in self.records if r.get("version") == old), default=None)
        overlap = round(last_old - first_new, 2) if first_new and last_old and last_old > first_new else 0.0
        return {"first_new": first_new, "last_old": last_old, "overlap_seconds": overlap}

    def summary(self) -> dict[str, Any]:
        counts: dict[str, int] = {}
        for v in self.versions:
            counts[v] = counts.get(v, 0) + 1
        return {"requests": len(self.records), "failed": len(self.failed), "answers_by_version": counts,
                "failures": [f"{r.get('status')} {r.get('error', '')}"[:120] for r in self.failed[:5]]}


def wall(monotonic: float) -> float:
    """A watch event's time (time.monotonic) on the load generator's clock (time.time)."""
    return monotonic + (time.time() - time.monotonic())


def cluster_ip(real: Cluster, service: str, namespace: str = NS) -> str:
    svc = real.get("service", service, "-n", namespace)
    return f"http://{svc['spec']['clusterIP']}:{svc['spec']['ports'][0]['port']}/"


def wait_answering(real: Cluster, service: str, *, timeout: float = 60, namespace: str = NS) -> None:
    """Until ``service`` answers from the load generator's netns. A Service's first endpoints
    reach kube-proxy's rules a moment after ``pulumi up`` returns (the provider waits for the
    endpoints, not for kube-proxy), and until then the address refuses connections: a test
    that puts traffic on a stack it has only just created waits here first."""
    url = cluster_ip(real, service, namespace)
    probe = f"import urllib.request; urllib.request.urlopen({url!r}, timeout=2).read()"
    deadline = time.monotonic() + timeout
    while True:
        proc = subprocess.run(["ip", "netns", "exec", NETNS, sys.executable, "-c", probe],
                              capture_output=True, text=True, timeout=30)
        if proc.returncode == 0:
            return
        assert time.monotonic() < deadline, f"{service} ({url}) did not answer within {timeout:.0f} s: {proc.stderr[-500:]}"
        time.sleep(0.5)


def settle(load: Load, *, tail: int = 20, timeout: float = 30) -> None:
    """Keep the traffic on after the change until its last ``tail`` answers come from one version
    (at most ``timeout`` s): a replaced pod drains its open connections for a few seconds after
    the rollout is done, so the answers just after ``up`` can still mix both versions."""
    load.records = load.read()
    since = len(load.versions)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        time.sleep(0.5)
        load.records = load.read()
        recent = load.versions[since:]
        if len(recent) >= tail and len(set(recent[-tail:])) == 1:
            return


@contextlib.contextmanager
def traffic(real: Cluster, service: str, name: str, tmp: pathlib.Path, rate: float = 40,
            namespace: str = NS) -> Iterator[Load]:
    out, stop = tmp / f"{name}.jsonl", tmp / f"{name}.stop"
    out.unlink(missing_ok=True)
    stop.unlink(missing_ok=True)
    url = cluster_ip(real, service, namespace)
    proc = subprocess.Popen(["ip", "netns", "exec", NETNS, sys.executable, str(LOAD), "--url", url,
                             "--out", str(out), "--stop-file", str(stop), "--rate", str(rate), "--max-seconds", "600"],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    load = Load(name, out)
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and (not out.exists() or len(out.read_text().splitlines()) < 20):
            assert proc.poll() is None, proc.stdout.read() if proc.stdout else ""
            time.sleep(0.2)
        load.records = load.read()
        assert len(load.records) >= 20 and not load.failed, f"{name}: no clean traffic before the change: {load.summary()}"
        yield load
        settle(load)
    finally:
        stop.touch()
        proc.wait(30)
        load.records = load.read()
        M[f"traffic_{name}"] = load.summary()


