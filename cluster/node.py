"""A real node for the local cluster (issue #21): containerd + runc, kubelet, kube-proxy, a CNI bridge.

Used by cluster/local.py (``start --nodes real``). Everything the node keeps lives under the
cluster's state dir: containerd's root, state and sockets, runc's root, kubelet's root and pod
logs, the CNI config and IPAM data. What cannot live there (the host's kernel and fixed paths)
is recorded in ``<state>/node/host-changes.json`` before it is changed, and undone by
``undo_host_changes`` on stop:

* sysctls kubelet, kube-proxy and the CNI bridge set (vm.overcommit_memory, kernel.panic,
  kernel.panic_on_oops, net.ipv4.ip_forward, net.ipv4.conf.all.route_localnet,
  net.bridge.bridge-nf-call-iptables): restored
  to the values they had;
* iptables/ip6tables: ``kube-proxy --cleanup`` removes kube-proxy's rules, then every KUBE-*
  chain that did not exist before start is emptied, unreferenced and deleted;
* the bridge ``immnode0`` and the load-generator veth/netns: deleted;
* mounts: everything mounted below the state dir (kubelet's shared bind mount, volumes,
  overlay rootfs, shm) and the CNI netns bind mounts in /run/netns created while we ran;
* fixed paths kubelet/containerd create (/var/lib/kubelet, /var/log/containers, /run/netns,
  /run/containerd): removed if they did not exist before start;
* cgroups: kubelet runs with ``cgroupRoot: /immutable-node``, so all its cgroups are below
  /sys/fs/cgroup/<controller>/immutable-node; removed bottom-up once the containers are gone.

Only one real node can run per machine (one bridge, fixed kubelet paths): a lock file
/run/immutable-infra-node.json names the state dir that owns it.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

NODE_NAME = "immutable-node"
BRIDGE = "immnode0"
NODE_IP = "10.89.0.1"
POD_CIDR = "10.89.0.0/16"
POD_RANGE = ("10.89.1.1", "10.89.255.254")
CGROUP_ROOT = "immutable-node"
CNI_BIN = Path("/usr/lib/cni")
LOCK = Path("/run/immutable-infra-node.json")
SYSCTLS = ("vm.overcommit_memory", "kernel.panic", "kernel.panic_on_oops", "net.ipv4.ip_forward",
           "net.ipv4.conf.all.route_localnet", "net.bridge.bridge-nf-call-iptables")
BRIDGE_NF = "net.bridge.bridge-nf-call-iptables"
"""1: packets bridged between pods pass iptables, so a pod's answer to a pod that called it through a
ClusterIP (web -> api) is un-NATed by conntrack; 0 and the caller drops the answer."""
NETNS_DIR = "/run/netns"
FIXED_PATHS = ("/var/lib/kubelet", "/var/log/containers", "/var/log/pods", NETNS_DIR, "/run/containerd")
HOST_TOOLS = {"containerd": "containerd", "containerd-shim-runc-v2": "containerd", "runc": "runc",
              "iptables": "iptables", "ip": "iproute2"}
PACKAGES_HINT = "bash -c 'source scripts/lib.sh; ensure_node_packages' (Debian: containerd runc " \
                "containernetworking-plugins iptables)"


class NodeError(Exception):
    pass


def sh(*args: str, check: bool = True, input: str | None = None) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(list(args), capture_output=True, text=True, input=input, timeout=120)
    if check and proc.returncode != 0:
        raise NodeError(f"{' '.join(args)} failed ({proc.returncode}): {proc.stderr.strip() or proc.stdout.strip()}")
    return proc


def missing_host_tools() -> list[str]:
    missing = [f"{tool} (package {pkg})" for tool, pkg in HOST_TOOLS.items() if shutil.which(tool) is None]
    missing += [f"{CNI_BIN}/{p} (package containernetworking-plugins)" for p in ("bridge", "host-local", "loopback")
                if not (CNI_BIN / p).is_file()]
    return missing


def preflight() -> None:
    missing = missing_host_tools()
    if missing:
        raise NodeError(f"a real node needs {', '.join(missing)}: run {PACKAGES_HINT}")
    if os.geteuid() != 0:
        raise NodeError("a real node needs root (containerd, kubelet, iptables, mounts); use --nodes kwok")


# --- the machine-wide lock ----------------------------------------------------------------------

def take_lock(state: Path, owner_alive, reclaim) -> None:  # type: ignore[no-untyped-def]
    """One real node per machine. A lock whose cluster no longer runs is stale and taken over,
    after ``reclaim`` undid what that node left on the host."""
    try:
        held = json.loads(LOCK.read_text())
    except (OSError, ValueError):
        held = None
    if held and held.get("state") != str(state):
        if owner_alive(Path(held["state"])):
            raise NodeError(f"a real node already runs on this machine (state {held['state']}); stop it "
                            f"(IMMUTABLE_CLUSTER_STATE={held['state']} python3 cluster/local.py stop) "
                            "or use --nodes kwok")
        reclaim(Path(held["state"]))
    LOCK.write_text(json.dumps({"state": str(state), "pid": os.getpid()}) + "\n")


def release_lock(state: Path) -> None:
    with contextlib.suppress(OSError, ValueError):
        if json.loads(LOCK.read_text()).get("state") == str(state):
            LOCK.unlink()


# --- host changes: record before, undo after ---------------------------------------------------

def _sysctl_path(key: str) -> Path:
    return Path("/proc/sys") / key.replace(".", "/")


def _chains(cmd: str) -> dict[str, list[str]]:
    """KUBE-* chains per table from `<cmd>-save` (empty when the tool is missing)."""
    out: dict[str, list[str]] = {}
    proc = sh(f"{cmd}-save", check=False)
    table = ""
    for line in proc.stdout.splitlines():
        if line.startswith("*"):
            table = line[1:]
            out.setdefault(table, [])
        elif line.startswith(":KUBE-") or line.startswith(":CNI-"):
            out[table].append(line[1:].split()[0])
    return out


def record_host(node_dir: Path) -> dict[str, Any]:
    """What the host looks like before the node changes it (kept across restarts of the same node)."""
    path = node_dir / "host-changes.json"
    if path.is_file():
        return json.loads(path.read_text())  # type: ignore[no-any-return]
    node_dir.mkdir(parents=True, exist_ok=True)
    before = {
        "sysctls": {k: _sysctl_path(k).read_text().strip() for k in SYSCTLS if _sysctl_path(k).exists()},
        "chains": {cmd: _chains(cmd) for cmd in ("iptables", "ip6tables")},
        "fixed_paths_existed": [p for p in FIXED_PATHS if os.path.lexists(p)],
        "netns_before": sorted(os.listdir(NETNS_DIR)) if os.path.isdir(NETNS_DIR) else [],
        "bridge_existed": Path(f"/sys/class/net/{BRIDGE}").exists(),
        "netns_dir_mounted": _is_mount(NETNS_DIR),
    }
    path.write_text(json.dumps(before, indent=1) + "\n")
    return before


def _mounts_below(prefix: str) -> list[str]:
    out = []
    with open("/proc/self/mountinfo") as fh:
        for line in fh:
            mnt = line.split()[4].replace("\\040", " ")
            if mnt == prefix or mnt.startswith(prefix.rstrip("/") + "/"):
                out.append(mnt)
    return out


def unmount_below(prefix: str) -> int:
    count = 0
    for _ in range(5):  # nested and shared mounts may need a few passes
        mounts = sorted(set(_mounts_below(prefix)), key=len, reverse=True)
        if not mounts:
            break
        for mnt in mounts:
            if sh("umount", mnt, check=False).returncode != 0:
                sh("umount", "-l", mnt, check=False)
            count += 1
    return count


def _remove_new_chains(cmd: str, before: dict[str, list[str]]) -> list[str]:
    removed = []
    now = _chains(cmd)
    for table, chains in now.items():
        new = [c for c in chains if c not in before.get(table, [])]
        if not new:
            continue
        # Rules in other chains that jump to a new chain first, then flush and delete the chains.
        save = sh(f"{cmd}-save", "-t", table, check=False).stdout
        for line in save.splitlines():
            if line.startswith("-A ") and any(f"-j {c}" in line or f"-g {c}" in line for c in new):
                parts = line.split()
                if parts[1] not in new:
                    sh(cmd, "-t", table, "-D", *parts[1:], check=False)
        for c in new:
            sh(cmd, "-t", table, "-F", c, check=False)
        for c in new:
            if sh(cmd, "-t", table, "-X", c, check=False).returncode == 0:
                removed.append(f"{cmd}/{table}/{c}")
    return removed


def _is_mount(path: str) -> bool:
    return path in _mounts_below(path)


def ensure_netns_mount() -> None:
    """``/run/netns`` as a mount of its own (shared) before containerd puts pod network
    namespaces in it, as iproute2 makes it on its first ``ip netns add``. Made later, while pods
    run (any tool's ``ip netns add``, the tests' load generator), that mount hides their
    namespace files: the kubelet can no longer remove them and their pods stay Terminating
    (``unlinkat /var/run/netns/cni-…: device or resource busy``)."""
    os.makedirs(NETNS_DIR, exist_ok=True)
    if not _is_mount(NETNS_DIR):
        sh("mount", "--rbind", NETNS_DIR, NETNS_DIR)
    sh("mount", "--make-rshared", NETNS_DIR)


def ensure_cgroup_root() -> None:
    """kubelet needs its cgroupRoot to exist in every v1 hierarchy; a new cpuset cgroup starts
    with no CPUs and no memory nodes, so it gets its parent's."""
    base = Path("/sys/fs/cgroup")
    for ctrl in sorted(base.iterdir()):
        if ctrl.is_symlink() or not ctrl.is_dir() or not (ctrl / "cgroup.procs").exists():
            continue
        root = ctrl / CGROUP_ROOT
        root.mkdir(exist_ok=True)
        for knob in ("cpuset.cpus", "cpuset.mems"):
            if (root / knob).exists() and not (root / knob).read_text().strip():
                (root / knob).write_text((ctrl / knob).read_text())


def _remove_cgroups() -> int:
    count = 0
    base = Path("/sys/fs/cgroup")
    for ctrl in (base.iterdir() if base.is_dir() else []):
        root = ctrl / CGROUP_ROOT
        if not root.is_dir() or root.is_symlink():
            continue
        for dirpath, _dirs, _files in sorted(os.walk(root), key=lambda t: len(t[0]), reverse=True):
            with contextlib.suppress(OSError):
                os.rmdir(dirpath)
                count += 1
    return count


def undo_host_changes(state: Path, kube_proxy: Path | None, log) -> None:  # type: ignore[no-untyped-def]
    node_dir = state / "node"
    try:
        before = json.loads((node_dir / "host-changes.json").read_text())
    except (OSError, ValueError):
        return
    done: list[str] = []
    if kube_proxy is not None and kube_proxy.is_file():
        sh(str(kube_proxy), "--cleanup", "--v=0", check=False)
        done.append("kube-proxy --cleanup")
    for cmd in ("iptables", "ip6tables"):
        removed = _remove_new_chains(cmd, before["chains"].get(cmd, {}))
        if removed:
            done.append(f"{len(removed)} {cmd} chains")
    # CNI network namespaces our containerd created and did not remove (a pod alive at stop).
    if os.path.isdir(NETNS_DIR):
        for ns in sorted(set(os.listdir(NETNS_DIR)) - set(before["netns_before"])):
            if ns.startswith("cni-") or ns.startswith("immlg"):
                sh("umount", f"{NETNS_DIR}/{ns}", check=False)
                with contextlib.suppress(OSError):
                    os.unlink(f"{NETNS_DIR}/{ns}")
                done.append(f"netns {ns}")
    # the node's own mount of /run/netns (ensure_netns_mount), once nothing is mounted in it
    if not before.get("netns_dir_mounted", True) and _mounts_below(NETNS_DIR) == [NETNS_DIR]:
        sh("umount", NETNS_DIR, check=False)
        done.append(f"mount {NETNS_DIR}")
    n = unmount_below(str(state))
    if n:
        done.append(f"{n} mounts below the state dir")
    for link in ("immlg-host",):
        if Path(f"/sys/class/net/{link}").exists():
            sh("ip", "link", "del", link, check=False)
    if not before["bridge_existed"] and Path(f"/sys/class/net/{BRIDGE}").exists():
        sh("ip", "link", "del", BRIDGE, check=False)
        done.append(f"bridge {BRIDGE}")
    n = _remove_cgroups()
    if n:
        done.append(f"{n} cgroups under /{CGROUP_ROOT}")
    for key, value in before["sysctls"].items():
        path = _sysctl_path(key)
        with contextlib.suppress(OSError):
            if path.read_text().strip() != value:
                path.write_text(value + "\n")
                done.append(f"{key}={value}")
    for p in FIXED_PATHS:
        if p not in before["fixed_paths_existed"] and os.path.lexists(p):
            unmount_below(p)
            shutil.rmtree(p, ignore_errors=True)
            done.append(f"removed {p}")
    # containerd 1.6 keeps shim sockets in /run/containerd/s whatever its state dir is.
    (node_dir / "host-changes.json").unlink()
    log(f"host changes undone: {'; '.join(done) or 'none'}")


# --- network ----------------------------------------------------------------------------------

def ensure_bridge() -> None:
    """The project's bridge with the node's address: the node IP may not be loopback (kubelet)."""
    if not Path(f"/sys/class/net/{BRIDGE}").exists():
        sh("ip", "link", "add", BRIDGE, "type", "bridge")
    addrs = sh("ip", "-o", "-4", "addr", "show", "dev", BRIDGE).stdout
    if f" {NODE_IP}/" not in addrs:
        sh("ip", "addr", "add", f"{NODE_IP}/16", "dev", BRIDGE)
    sh("ip", "link", "set", BRIDGE, "up")
    if not _sysctl_path(BRIDGE_NF).exists():
        sh("modprobe", "br_netfilter", check=False)  # absent in some containers: then the warning below
    if _sysctl_path(BRIDGE_NF).exists():
        _sysctl_path(BRIDGE_NF).write_text("1\n")
    else:
        print(f"warning: {BRIDGE_NF} is missing (kernel module br_netfilter): a pod calling another pod "
              "through a Service gets no answer", file=sys.stderr, flush=True)


def write_cni_config(node_dir: Path) -> Path:
    conf_dir = node_dir / "cni" / "net.d"
    conf_dir.mkdir(parents=True, exist_ok=True)
    conflist = {
        "cniVersion": "0.4.0", "name": "immutable-node",
        "plugins": [
            {"type": "bridge", "bridge": BRIDGE, "isGateway": True, "ipMasq": False, "hairpinMode": True,
             "ipam": {"type": "host-local", "dataDir": str(node_dir / "cni" / "ipam"),
                      "ranges": [[{"subnet": POD_CIDR, "rangeStart": POD_RANGE[0], "rangeEnd": POD_RANGE[1],
                                   "gateway": NODE_IP}]],
                      "routes": [{"dst": "0.0.0.0/0"}]}},
            {"type": "portmap", "capabilities": {"portMappings": True}, "snat": True},
        ],
    }
    (conf_dir / "10-immutable-node.conflist").write_text(json.dumps(conflist, indent=1) + "\n")
    return conf_dir


# --- configs ----------------------------------------------------------------------------------

def containerd_config(node_dir: Path, registry: str) -> Path:
    cd = node_dir / "containerd"
    cd.mkdir(parents=True, exist_ok=True)
    conf_dir = write_cni_config(node_dir)
    q = json.dumps  # TOML basic strings are JSON strings
    text = f"""version = 2
root = {q(str(cd / 'root'))}
state = {q(str(cd / 'state'))}
disabled_plugins = ["io.containerd.snapshotter.v1.btrfs", "io.containerd.snapshotter.v1.zfs",
  "io.containerd.snapshotter.v1.devmapper", "io.containerd.snapshotter.v1.aufs",
  "io.containerd.tracing.processor.v1.otlp", "io.containerd.internal.v1.tracing"]

[grpc]
  address = {q(str(cd / 'containerd.sock'))}
[ttrpc]
  address = {q(str(cd / 'containerd.sock.ttrpc'))}
[debug]
  address = ""
[metrics]
  address = ""

[plugins."io.containerd.grpc.v1.cri"]
  # The sandbox image is our own (cluster/pause), pushed to the local registry: nothing from the internet.
  sandbox_image = {q(f'{registry}/pause:local')}
  # Root here lacks CAP_SYS_RESOURCE: the sandbox's oom_score_adj -998 makes runc fail
  # ("can't get final child's PID from pipe: EOF") unless it is clamped to our own.
  restrict_oom_score_adj = true
  disable_apparmor = true
  enable_selinux = false
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
        SystemdCgroup = false
        Root = {q(str(cd / 'runc'))}
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = {q(str(CNI_BIN))}
    conf_dir = {q(str(conf_dir))}
  [plugins."io.containerd.grpc.v1.cri".registry.mirrors.{q(registry)}]
    endpoint = [{q('http://' + registry)}]
"""
    path = cd / "config.toml"
    path.write_text(text)
    return path


def kubelet_config(node_dir: Path, pki: Path, port: int, healthz_port: int) -> Path:
    config = {
        "apiVersion": "kubelet.config.k8s.io/v1beta1", "kind": "KubeletConfiguration",
        "address": NODE_IP, "port": port, "readOnlyPort": 0,
        "healthzBindAddress": "127.0.0.1", "healthzPort": healthz_port,
        "authentication": {"anonymous": {"enabled": False}, "webhook": {"enabled": True},
                           "x509": {"clientCAFile": str(pki / "ca.crt")}},
        "authorization": {"mode": "Webhook"},
        "tlsCertFile": str(pki / "kubelet-serving.crt"), "tlsPrivateKeyFile": str(pki / "kubelet-serving.key"),
        "cgroupDriver": "cgroupfs", "cgroupRoot": f"/{CGROUP_ROOT}", "cgroupsPerQOS": True,
        "failSwapOn": False, "failCgroupV1": False,
        "containerRuntimeEndpoint": f"unix://{node_dir / 'containerd' / 'containerd.sock'}",
        "podLogsDir": str(node_dir / "pod-logs"),
        # Keep the locally built images: no image GC, and eviction only when really out of space.
        "imageGCHighThresholdPercent": 100, "imageGCLowThresholdPercent": 99,
        "evictionHard": {"memory.available": "50Mi", "nodefs.available": "1%", "imagefs.available": "1%",
                         "nodefs.inodesFree": "1%"},
        "serializeImagePulls": False, "registerNode": True, "clusterDomain": "cluster.local",
        "clusterDNS": [NODE_IP],  # cluster/dns.py: Service names -> ClusterIPs
        "resolvConf": "/etc/resolv.conf", "enforceNodeAllocatable": ["pods"],
        # Fast reactions for tests: status and pod-lifecycle events promptly.
        "nodeStatusUpdateFrequency": "4s", "syncFrequency": "10s", "fileCheckFrequency": "10s",
        "shutdownGracePeriod": "0s", "maxPods": 60,
    }
    path = node_dir / "kubelet-config.json"
    path.write_text(json.dumps(config, indent=1) + "\n")
    return path


def kube_proxy_config(node_dir: Path, kubeconfig: Path, healthz_port: int, metrics_port: int) -> Path:
    config = {
        "apiVersion": "kubeproxy.config.k8s.io/v1alpha1", "kind": "KubeProxyConfiguration",
        "clientConnection": {"kubeconfig": str(kubeconfig)},
        "mode": "iptables", "hostnameOverride": NODE_NAME, "bindAddress": NODE_IP,
        "healthzBindAddress": f"127.0.0.1:{healthz_port}", "metricsBindAddress": f"127.0.0.1:{metrics_port}",
        "clusterCIDR": POD_CIDR,
        # NodePorts answer on loopback only: the load generator's 127.0.0.1 targets.
        "nodePortAddresses": ["127.0.0.0/8"],
        # Leave the host's conntrack tables as they are (0 = do not touch).
        "conntrack": {"maxPerCore": 0, "min": 0, "tcpEstablishedTimeout": "0s", "tcpCloseWaitTimeout": "0s"},
        # Apply endpoint changes at once: the swap's cutover is what we measure.
        "iptables": {"minSyncPeriod": "0s", "syncPeriod": "30s", "masqueradeAll": False},
    }
    path = node_dir / "kube-proxy-config.json"
    path.write_text(json.dumps(config, indent=1) + "\n")
    return path


def wait(check, timeout: float, what: str) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.2)
    raise NodeError(f"timed out after {timeout:.0f}s waiting for {what}")
