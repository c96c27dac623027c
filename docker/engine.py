#!/usr/bin/env python3
"""The project's local Docker engine: start, stop, status (python3 stdlib only).

    python3 docker/engine.py start            # idempotent; waits for /_ping; prints the engine's socket
    python3 docker/engine.py host             # unix://.../docker.sock (for DOCKER_HOST)
    python3 docker/engine.py env              # `export DOCKER_HOST=...` for a shell
    python3 docker/engine.py status           # exit 0 when containerd and dockerd run and answer
    python3 docker/engine.py stop [--purge]   # stops what start started; --purge also removes every
                                              # container, network and the data root

Processes: Debian's containerd and dockerd (docker.io 20.10; scripts/lib.sh installs them),
each recorded in <state>/pids/<name>.json (pid, its /proc start time and binary); stop signals
only a pid whose start time and executable still match: nothing is killed by name. State is
project-local: <state> is .state/docker (or $IMMUTABLE_DOCKER_STATE) with the data root, the
engine socket (<state>/docker.sock), containerd's root/state/socket and the logs. Only the
exec root (run-time sockets and network namespaces) lives in /run/immutable-docker-<hash>,
because unix socket paths are limited to 108 bytes. dockerd reads our own daemon.json (never
/etc/docker/daemon.json), has no default bridge (--bridge=none: a container is on a network only
when a network was declared for it) and puts containers under the cgroup /immutable-docker.

What the engine changes on the host (removed by `stop --purge` where it is ours only; it does
not turn on IP forwarding, so it never sets the FORWARD policy to DROP):
bridge interfaces br-<id> of the networks (removed with the networks), iptables chains DOCKER,
DOCKER-USER, DOCKER-ISOLATION-STAGE-1/2 and their jump rules (shared names: removed only when
no other dockerd runs on the machine), the cgroup /immutable-docker in each hierarchy.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import http.client
import json
import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

DOCKER_DIR = Path(__file__).resolve().parent
ROOT = DOCKER_DIR.parent
sys.path.insert(0, str(ROOT / "cluster"))
from supervisor import Supervisor  # noqa: E402

STATE = Path(os.environ.get("IMMUTABLE_DOCKER_STATE", ROOT / ".state" / "docker")).resolve()
PIDS = STATE / "pids"
LOGS = STATE / "logs"
SOCKET = STATE / "docker.sock"
DATA_ROOT = STATE / "data"
CONTAINERD_DIR = STATE / "containerd"
CONTAINERD_SOCKET = CONTAINERD_DIR / "containerd.sock"
DAEMON_JSON = STATE / "daemon.json"
EXEC_ROOT = Path("/run") / f"immutable-docker-{hashlib.sha256(str(STATE).encode()).hexdigest()[:10]}"
CGROUP_PARENT = "immutable-docker"
ADDRESS_POOL = {"base": "10.213.0.0/16", "size": 24}
"""Networks get /24s from here, away from the usual 172.17-31 Docker ranges and 10.88 (CNI)."""
ORDER = ("containerd", "dockerd")
MAX_SOCKET_PATH = 107
DOCKER_CHAINS = {"filter": ("DOCKER", "DOCKER-USER", "DOCKER-ISOLATION-STAGE-1", "DOCKER-ISOLATION-STAGE-2"),
                 "nat": ("DOCKER",)}


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


class EngineError(Exception):
    pass


# --- processes (cluster/supervisor.py: pid + start time + binary, nothing killed by name) ------

def _child_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k in ("PATH", "LANG", "LC_ALL", "TZ")}
    # dockerd runs docker-proxy, runc and iptables from PATH; Debian puts some in sbin.
    env["PATH"] = env.get("PATH", "/usr/bin:/bin") + ":/usr/sbin:/sbin:/usr/local/sbin"
    env["HOME"] = str(STATE)
    return env


SUP = Supervisor(STATE, env=_child_env())


def alive(name: str) -> int | None:
    """The pid of our process ``name`` if it is still the process we started, else None."""
    return SUP.alive(name)


def spawn(name: str, binary: str, args: list[str]) -> int:
    return SUP.spawn(name, binary, args)


def terminate(name: str, timeout: float = 40.0) -> bool:
    return SUP.terminate(name, timeout, log=log)


def _tail(name: str, lines: int = 20) -> str:
    return SUP.tail(name, lines)


# --- the Engine API over the unix socket --------------------------------------------------------

class _UnixConnection(http.client.HTTPConnection):
    def __init__(self, path: Path, timeout: float):
        super().__init__("localhost", timeout=timeout)
        self._path = str(path)

    def connect(self) -> None:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(self.timeout)
        sock.connect(self._path)
        self.sock = sock


def api(method: str, path: str, body: object = None, timeout: float = 30.0) -> tuple[int, object]:
    """One Engine API call on our socket; returns (status, decoded JSON or text)."""
    conn = _UnixConnection(SOCKET, timeout)
    try:
        data = json.dumps(body).encode() if body is not None else None
        conn.request(method, path, body=data, headers={"Content-Type": "application/json"} if data else {})
        resp = conn.getresponse()
        raw = resp.read().decode(errors="replace")
    finally:
        conn.close()
    try:
        return resp.status, json.loads(raw) if raw else None
    except ValueError:
        return resp.status, raw


def ping() -> bool:
    try:
        return api("GET", "/_ping", timeout=3)[0] == 200
    except OSError:
        return False


def containerd_ready() -> bool:
    if not CONTAINERD_SOCKET.exists():
        return False
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
        s.settimeout(2)
        try:
            s.connect(str(CONTAINERD_SOCKET))
        except OSError:
            return False
    return True


def wait_for(what: str, check, timeout: float, names: tuple[str, ...]) -> None:
    SUP.wait_for(what, check, timeout, names, error=EngineError)


# --- commands -------------------------------------------------------------------------------

def binaries() -> dict[str, str]:
    found = {}
    for name in ("containerd", "dockerd", "runc", "iptables"):
        path = shutil.which(name, path=_child_env()["PATH"])
        if path is None:
            raise EngineError(f"`{name}` not found: install Debian's docker.io, containerd, runc and iptables "
                              "(bash -c 'source scripts/lib.sh; ensure_docker_packages')")
        found[name] = path
    return found


def healthy() -> bool:
    return all(alive(n) for n in ORDER) and ping()


def host() -> str:
    return f"unix://{SOCKET}"


def _write_configs() -> None:
    for path in (SOCKET, CONTAINERD_SOCKET):
        if len(str(path)) > MAX_SOCKET_PATH:
            raise EngineError(f"socket path {path} is {len(str(path))} bytes, over the unix limit of "
                              f"{MAX_SOCKET_PATH}: set IMMUTABLE_DOCKER_STATE to a shorter directory")
    for d in (STATE, DATA_ROOT, CONTAINERD_DIR, LOGS, PIDS):
        d.mkdir(parents=True, exist_ok=True)
    STATE.chmod(0o700)  # the socket is root's engine: nobody else may reach it
    EXEC_ROOT.mkdir(mode=0o700, parents=True, exist_ok=True)
    # Only the plugins dockerd needs: no CRI (that is the kubelet's containerd, not this one).
    (CONTAINERD_DIR / "config.toml").write_text("\n".join([
        "version = 2",
        f'root = "{CONTAINERD_DIR / "root"}"',
        f'state = "{EXEC_ROOT / "containerd"}"',
        'disabled_plugins = ["io.containerd.grpc.v1.cri"]',
        "[grpc]",
        f'  address = "{CONTAINERD_SOCKET}"',
        "[ttrpc]",
        f'  address = "{CONTAINERD_SOCKET}.ttrpc"',
        "[debug]",
        '  address = ""',
        "[metrics]",
        '  address = ""',
        "",
    ]))
    DAEMON_JSON.write_text(json.dumps({
        "data-root": str(DATA_ROOT),
        "exec-root": str(EXEC_ROOT),
        "pidfile": str(EXEC_ROOT / "dockerd.pid"),
        "hosts": [host()],
        "containerd": str(CONTAINERD_SOCKET),
        "bridge": "none",
        "iptables": True,
        # Never flip the host's forwarding: when dockerd turns net.ipv4.ip_forward on itself it
        # also sets the FORWARD policy to DROP, which breaks other bridges on this machine (the
        # local cluster's CNI). Published ports go through docker-proxy on loopback and a
        # bridge carries its own containers' traffic, so nothing here needs routing.
        "ip-forward": False,
        "storage-driver": "overlay2",
        "exec-opts": ["native.cgroupdriver=cgroupfs"],
        "cgroup-parent": CGROUP_PARENT,
        "default-address-pools": [ADDRESS_POOL],
        "log-driver": "json-file",
        "log-opts": {"max-size": "10m", "max-file": "2"},
        "live-restore": False,
        # No registry is reachable from here: images come from local builds or the local registry.
        "max-concurrent-downloads": 3,
    }, indent=1) + "\n")


def start(timeout: float = 90.0) -> int:
    t0 = time.monotonic()
    if healthy():
        log(f"docker engine already running: {host()}")
        print(host())
        return 0
    bins = binaries()
    if any(alive(n) for n in ORDER):
        log("docker engine partly running or not answering: stopping it first")
        stop()
    _write_configs()
    spawn("containerd", bins["containerd"], ["--config", str(CONTAINERD_DIR / "config.toml"), "--log-level", "warn"])
    wait_for("containerd", containerd_ready, timeout, ("containerd",))
    spawn("dockerd", bins["dockerd"], ["--config-file", str(DAEMON_JSON), "--group", "root"])
    wait_for("dockerd /_ping", ping, timeout, ORDER)
    _, info = api("GET", "/version")
    version = info.get("Version", "?") if isinstance(info, dict) else "?"
    log(f"docker engine {version} ready in {time.monotonic() - t0:.1f}s: {host()} (data root {DATA_ROOT})")
    print(host())
    return 0


def _remove_everything() -> None:
    """Every container and user network of our engine (nothing else is reachable on this socket)."""
    code, containers = api("GET", "/containers/json?all=1")
    for c in containers if code == 200 and isinstance(containers, list) else []:
        api("DELETE", f"/containers/{c['Id']}?force=1&v=1", timeout=60)
    code, networks = api("GET", "/networks")
    for n in networks if code == 200 and isinstance(networks, list) else []:
        if n["Name"] not in ("bridge", "host", "none"):
            api("DELETE", f"/networks/{n['Id']}")


def _other_dockerd_running() -> bool:
    ours = alive("dockerd")
    for proc in Path("/proc").iterdir():
        if proc.name.isdigit() and int(proc.name) != ours:
            exe = Supervisor.exe(int(proc.name)) or ""
            if os.path.basename(exe.removesuffix(" (deleted)")) == "dockerd":
                return True
    return False


def _remove_iptables_chains() -> None:
    """dockerd leaves its (then empty) chains behind; they have machine-wide names, so they
    are removed only when no other Docker engine runs here."""
    if shutil.which("iptables", path=_child_env()["PATH"]) is None or _other_dockerd_running():
        return
    env = _child_env()

    def ipt(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(["iptables", "-w", *args], capture_output=True, text=True, env=env)
    for source, chain in (("FORWARD", "DOCKER-USER"), ("FORWARD", "DOCKER-ISOLATION-STAGE-1")):
        while ipt("-t", "filter", "-D", source, "-j", chain).returncode == 0:
            pass
    for rule in (["-t", "filter", "-D", "FORWARD", "-o", "docker0", "-j", "DOCKER"],
                 ["-t", "nat", "-D", "PREROUTING", "-m", "addrtype", "--dst-type", "LOCAL", "-j", "DOCKER"],
                 ["-t", "nat", "-D", "OUTPUT", "!", "-d", "127.0.0.0/8", "-m", "addrtype", "--dst-type", "LOCAL",
                  "-j", "DOCKER"]):
        ipt(*rule)
    for table, chains in DOCKER_CHAINS.items():
        for chain in chains:
            ipt("-t", table, "-F", chain)
        for chain in chains:
            ipt("-t", table, "-X", chain)


def _unmount_below(*dirs: Path) -> None:
    """Lazy-unmount whatever the engine left mounted below our directories (deepest first), so
    that removing them never reaches into a mounted file system."""
    prefixes = tuple(str(d) + "/" for d in dirs) + tuple(str(d) for d in dirs)
    try:
        mounts = [line.split()[1] for line in Path("/proc/self/mounts").read_text().splitlines()]
    except OSError:
        return
    for target in sorted({m for m in mounts if m.startswith(prefixes)}, key=len, reverse=True):
        subprocess.run(["umount", "-l", target], capture_output=True)


def _remove_cgroups() -> None:
    base = Path("/sys/fs/cgroup")
    for parent in [base / CGROUP_PARENT, *base.glob(f"*/{CGROUP_PARENT}")]:
        if parent.is_dir():
            for sub in sorted(parent.rglob("*"), key=lambda p: len(str(p)), reverse=True):
                if sub.is_dir():
                    with contextlib.suppress(OSError):
                        sub.rmdir()
            with contextlib.suppress(OSError):
                parent.rmdir()


def stop(purge: bool = False) -> int:
    if purge and alive("dockerd") and ping():
        _remove_everything()
    stopped = [n for n in reversed(ORDER) if terminate(n)]
    _unmount_below(EXEC_ROOT)
    shutil.rmtree(EXEC_ROOT, ignore_errors=True)
    if purge:
        _unmount_below(STATE)
        if STATE.exists():
            shutil.rmtree(STATE)
        _remove_iptables_chains()
        _remove_cgroups()
    log(f"docker engine stopped ({', '.join(stopped) or 'nothing was running'})"
        + (f"; removed {STATE}" if purge else f"; data kept in {STATE} (stop --purge removes it)"))
    return 0


def status() -> int:
    for name in ORDER:
        pid = alive(name)
        log(f"{name:<12} {f'running (pid {pid})' if pid else 'not running'}")
    ok = healthy()
    log(f"engine       {'answering on ' + host() if ok else 'not answering'}")
    return 0 if ok else 1


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    sub.add_parser("start")
    sub.add_parser("status")
    sub.add_parser("host")
    sub.add_parser("env")
    p_stop = sub.add_parser("stop")
    p_stop.add_argument("--purge", action="store_true", help="also remove containers, networks and the data root")
    args = ap.parse_args(argv)
    try:
        if args.cmd == "start":
            return start()
        if args.cmd == "stop":
            return stop(purge=args.purge)
        if args.cmd == "status":
            return status()
        if args.cmd == "host":
            print(host())
            return 0
        print(f"export DOCKER_HOST={host()}")
        return 0
    except EngineError as exc:
        log(f"docker/engine.py {args.cmd}: {exc}")
        return 1


if __name__ == "__main__":
    sys.exit(main())
