"""Helpers for engine tests on a real local control plane (cluster/local.py).

Each test session starts its own cluster in a temp state dir (free ports, own PKI, own
etcd), so it never touches a developer's `.state/cluster`, and stops it at the end.
Watches go straight to the API server (stdlib HTTPS with the cluster's client cert), so
events are seen as the API server emits them, each with its etcd resourceVersion.
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import pathlib
import signal
import ssl
import subprocess
import sys
import threading
import time
import urllib.request
from dataclasses import dataclass, field
from typing import Any

ROOT = pathlib.Path(__file__).resolve().parents[2]
BIN = ROOT / ".toolchain" / "cluster" / "bin"
LOCAL = ROOT / "cluster" / "local.py"
BINARIES = ("etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler", "kwok", "kubectl")
NODE_BINARIES = ("kubelet", "kube-proxy", "registry", "imagetool", "testapp", "pause")


def cluster_missing(real: bool = False) -> str | None:
    missing = [b for b in (*BINARIES, *(NODE_BINARIES if real else ())) if not (BIN / b).is_file()]
    if missing:
        return f"local cluster not built ({', '.join(missing)} missing in {BIN}): run python3 cluster/build.py"
    return None


@dataclass
class Cluster:
    state: pathlib.Path
    start_seconds: float = 0.0

    @property
    def kubeconfig(self) -> pathlib.Path:
        return self.state / "kubeconfig"

    def env(self) -> dict[str, str]:
        # A private registry (free port) next to the private cluster.
        return {**os.environ, "IMMUTABLE_CLUSTER_STATE": str(self.state),
                "IMMUTABLE_REGISTRY_STATE": str(self.state.parent / "registry"), "IMMUTABLE_REGISTRY_PORT": "0"}

    def local(self, command: str, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, str(LOCAL), command, *args], env=self.env(), capture_output=True,
                              text=True, timeout=600)

    def stop(self) -> None:
        """``cluster/local.py stop``, which must pass and remove the state directory."""
        proc = self.local("stop")
        assert proc.returncode == 0, proc.stdout + proc.stderr
        assert not self.state.exists()

    def images(self) -> dict[str, Any]:
        """The local registry's images (registry/local.py push-images): address and tag -> digest."""
        return json.loads((self.state.parent / "registry" / "images.json").read_text())  # type: ignore[no-any-return]

    def testapp_ref(self, tag: str) -> str:
        """The test app at ``tag`` as the ledger names it: pinned by its digest in the local registry."""
        images = self.images()
        return f"{images['address']}/testapp@{images['images'][f'testapp:{tag}']['digest']}"

    def kubectl(self, *args: str, check: bool = True, input: str | None = None,
                timeout: int = 120) -> subprocess.CompletedProcess[str]:
        proc = subprocess.run([str(BIN / "kubectl"), "--kubeconfig", str(self.kubeconfig), *args],
                              capture_output=True, text=True, input=input, timeout=timeout,
                              env={**os.environ, "HOME": str(self.state)})
        if check and proc.returncode != 0:
            raise AssertionError(f"kubectl {' '.join(args)} failed ({proc.returncode}):\n{proc.stdout}{proc.stderr}")
        return proc

    def get(self, *args: str) -> Any:
        return json.loads(self.kubectl("get", *args, "-o", "json").stdout)

    def port(self) -> int:
        return int(json.loads((self.state / "ports.json").read_text())["apiserver"])

    def ssl_context(self) -> ssl.SSLContext:
        pki = self.state / "pki"
        ctx = ssl.create_default_context(cafile=str(pki / "ca.crt"))
        ctx.load_cert_chain(str(pki / "admin.crt"), str(pki / "admin.key"))
        return ctx

    def kubeconfig_for(self, name: str, groups: list[str]) -> pathlib.Path:
        """A kubeconfig for a client certificate (signed by the cluster CA) of user ``name`` in ``groups``.

        Used instead of impersonation (--as-group), which kubectl's WebSocket exec does not carry."""
        pki = self.state / "pki"
        out = self.state / f"{name}.kubeconfig"
        if out.is_file():
            return out
        subj = "".join(f"/O={g}" for g in groups) + f"/CN={name}"
        for cmd in (["req", "-newkey", "rsa:2048", "-nodes", "-keyout", f"{name}.key", "-out", f"{name}.csr", "-subj", subj],
                    ["x509", "-req", "-in", f"{name}.csr", "-CA", "ca.crt", "-CAkey", "ca.key", "-CAcreateserial",
                     "-out", f"{name}.crt", "-days", "1"]):
            subprocess.run(["openssl", *cmd], cwd=pki, check=True, capture_output=True)
        config = json.loads(self.kubeconfig.read_text())
        user = config["users"][0]["user"]
        user["client-certificate-data"] = base64.b64encode((pki / f"{name}.crt").read_bytes()).decode()
        user["client-key-data"] = base64.b64encode((pki / f"{name}.key").read_bytes()).decode()
        out.write_text(json.dumps(config))
        return out

    def watch(self, path: str) -> Watch:
        w = Watch(self, path)
        w.start()
        return w


@dataclass
class Event:
    t: float
    type: str
    obj: dict[str, Any]

    @property
    def rv(self) -> int:
        return int(self.obj["metadata"]["resourceVersion"])

    @property
    def name(self) -> str:
        return str(self.obj["metadata"]["name"])


@dataclass
class Watch:
    """A background watch (list + watch from that resourceVersion) recording every event."""

    cluster: Cluster
    path: str
    events: list[Event] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None
    _ready: threading.Event = field(default_factory=threading.Event)
    error: str | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        if not self._ready.wait(30):
            raise AssertionError(f"watch {self.path} did not start: {self.error}")

    def _url(self, query: str) -> str:
        sep = "&" if "?" in self.path else "?"
        return f"https://127.0.0.1:{self.cluster.port()}{self.path}{sep}{query}"

    def _run(self) -> None:
        ctx = self.cluster.ssl_context()
        try:
            with urllib.request.urlopen(self._url(""), context=ctx, timeout=30) as resp:
                listing = json.loads(resp.read())
            now = time.monotonic()
            for item in listing.get("items", []):
                self.events.append(Event(now, "ADDED", item))
            rv = listing["metadata"]["resourceVersion"]
            self._ready.set()
            while not self._stop.is_set():
                url = self._url(f"watch=1&resourceVersion={rv}&timeoutSeconds=30&allowWatchBookmarks=false")
                with urllib.request.urlopen(url, context=ctx, timeout=40) as resp:
                    for line in resp:
                        if self._stop.is_set():
                            break
                        ev = json.loads(line)
                        if ev["type"] == "ERROR":
                            raise RuntimeError(json.dumps(ev))
                        self.events.append(Event(time.monotonic(), ev["type"], ev["object"]))
                        rv = ev["object"]["metadata"]["resourceVersion"]
        except Exception as exc:  # recorded; the test asserts on it
            if not self._stop.is_set():
                self.error = f"{type(exc).__name__}: {exc}"
            self._ready.set()

    def stop(self) -> list[Event]:
        time.sleep(0.5)  # let in-flight events arrive
        self._stop.set()
        assert self.error is None, f"watch {self.path} failed: {self.error}"
        return list(self.events)


def ready_endpoint_timeline(events: list[Event]) -> list[tuple[float, int, int]]:
    """(time, resourceVersion, ready endpoints) after each EndpointSlice event of one Service."""
    slices: dict[str, dict[str, Any]] = {}
    out = []
    for ev in events:
        if ev.type == "DELETED":
            slices.pop(ev.name, None)
        else:
            slices[ev.name] = ev.obj
        ready = sum(1 for s in slices.values() for e in (s.get("endpoints") or [])
                    if (e.get("conditions") or {}).get("ready"))
        out.append((ev.t, ev.rv, ready))
    return out


def kill_plugins_left_in(project: pathlib.Path) -> None:
    """A killed CLI's plugins (language host, provider) run in process groups of their own and
    outlive it: end those a test started, recognised by their working directory (the test's own
    workspace), by pid."""
    for entry in pathlib.Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cwd = os.readlink(entry / "cwd")
        except OSError:
            continue
        if cwd == str(project) and int(entry.name) != os.getpid():
            with contextlib.suppress(ProcessLookupError):
                os.kill(int(entry.name), signal.SIGKILL)
