"""One namespace + N blue-green services on the real engine: how time and memory grow with N.

    .venv/bin/python -m bench.bench_scale                      # N = 100, 300, 1000; render mode
    .venv/bin/python -m bench.bench_scale --sizes 100 --modes render,cluster --json out.json
    .venv/bin/python -m bench.bench_scale --modes cluster --provider /path/to/pulumi-resource-kubernetes  # A/B
    .venv/bin/python -m bench.bench_scale --sizes 100 --backend s3 --no-json-previews  # state on a local S3 server

For each mode (``render``: the provider writes manifests; ``cluster``: a local control plane
started by cluster/local.py, kwok nodes) and each N, on a fresh stack: ``pulumi preview``, the
first ``pulumi up``, then a no-op ``pulumi up`` (both ``--skip-preview``: a user's ``pulumi up``
costs about preview + up). Each step's wall time, and the peak RSS (VmHWM, sampled from /proc
of the CLI's process tree) of the CLI, the Python language host, the program (the Python
process running the components) and the Kubernetes provider. Then the ratios
time(max N)/time(min N) and memory(max N)/memory(min N). Nothing is asserted here:
tests/engine/test_scale.py runs N=100 and checks correctness only.

The machine's load average is printed with each step: on a shared machine it moves the times.
"""

from __future__ import annotations

import argparse
import json
import os
import pathlib
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager, nullcontext
from dataclasses import asdict, dataclass, field
from typing import Any

from immutable_infra import yaml_text

ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "toolchain"))
from pulumi_env import pulumi_env  # noqa: E402

PULUMI = ROOT / ".toolchain" / "bin" / "pulumi"
KUBERNETES_PLUGIN = ROOT / ".toolchain" / "bin" / "pulumi-resource-kubernetes"
"""The toolchain's build of the plugin (the CLI runs the copy installed in PULUMI_HOME from it)."""
CLUSTER_LOCAL = ROOT / "cluster" / "local.py"
PASSPHRASE = "immutable-bench-only-passphrase"
STEPS = ("preview", "first up", "no-op up", "preview --json", "--show-sames")
"""The last two run on the deployed stack (a pull request's preview): what `immutable-ops guard`
and `comment` pay for JSON and for ``--show-sames`` (every unchanged resource in the JSON)."""
ROLES = ("cli", "language host", "program", "provider")

PROGRAM = '''
"""N blue-green services in one namespace (bench/bench_scale.py)."""
import gc
import pulumi
import pulumi_kubernetes as k8s
from immutable_infra import ContainerServiceSpec, start_registrations
from immutable_infra.kubernetes import ContainerService, ServiceNamespace

config = pulumi.Config()
n = config.require_int("services")
namespace = f"scale{n}"  # one per size: sizes can share a cluster without a destroy in between
if config.get_bool("tune_gc"):  # as the example's __main__.py does
    gc.freeze()
    gc.set_threshold(50_000, 20, 100)
kubeconfig = config.get("kubeconfig")
if kubeconfig:
    provider = k8s.Provider("cluster", kubeconfig=kubeconfig)
else:
    provider = k8s.Provider("render", render_yaml_to_directory="build/manifests")


def spec(i):
    return ContainerServiceSpec.model_validate({
        "name": f"svc{i}",
        "image": f"registry.example.com/acme/svc{i}@sha256:" + f"{i:064x}",
        "namespace": namespace,
        "ports": [{"name": "http", "container_port": 8080, "service_port": 80}],
        "env": {"LOG_FORMAT": "json", "INDEX": str(i)},
        "config_files": [{"name": "app.toml", "content": f"index = {i}\\n"}],
        "resources": {"cpu_request": "10m", "cpu_limit": "100m", "memory_request": "16Mi", "memory_limit": "32Mi"},
        "probes": {"liveness": {"http_get": {"path": "/healthz"}}, "readiness": {"http_get": {"path": "/ready"}}},
        "replicas": 2,
        "strategy": "blue-green",
    })


specs = [spec(i) for i in range(n)]
on_provider = pulumi.ResourceOptions(providers=[provider])
ns = ServiceNamespace(namespace, {"spec": {"name": namespace}, "services": specs}, opts=on_provider)
after = pulumi.ResourceOptions(providers=[provider], depends_on=[ns])
releases = {s.name: ContainerService(s.name, {"spec": s}, opts=after).release for s in specs}
pulumi.export("services", len(releases))
if config.get_bool("start_registrations", True):  # as the README's "Scale" says; off for an A/B
    start_registrations()
'''


# --- process-tree memory -------------------------------------------------------------------------

def _role(pid: int) -> str | None:
    try:
        argv = pathlib.Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return None
    exe = os.path.basename(argv[0].decode(errors="replace")) if argv and argv[0] else ""
    if exe == "pulumi":
        return "cli"
    if exe.startswith("pulumi-language-python"):
        return "language host"
    if exe.startswith("pulumi-resource-kubernetes"):
        return "provider"
    if exe.startswith("python"):
        return "program"
    return None


def _children() -> dict[int, list[int]]:
    out: dict[int, list[int]] = {}
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            stat = pathlib.Path(f"/proc/{entry.name}/stat").read_text()
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        out.setdefault(ppid, []).append(int(entry.name))
    return out


_TICKS = os.sysconf("SC_CLK_TCK")


def _cpu_seconds(pid: int) -> float:
    """User + system CPU time of one process so far."""
    try:
        fields = pathlib.Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / _TICKS


def process_tree(root: int) -> list[int]:
    """``root`` and its descendants, as they are now."""
    children = _children()
    out, todo = [], [root]
    while todo:
        pid = todo.pop()
        out.append(pid)
        todo += children.get(pid, [])
    return out


def _hwm_kb(pid: int) -> int:
    try:
        for line in pathlib.Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


class TreeSampler(threading.Thread):
    """Peak RSS by role over a process tree: the high-water mark (VmHWM) of each process, last
    seen before it exited (sampled every ``interval`` s), summed per role."""

    def __init__(self, root: int, interval: float = 0.25) -> None:
        super().__init__(daemon=True)
        self.root, self.interval = root, interval
        self.hwm: dict[int, tuple[str, int]] = {}
        self.cpu: dict[int, tuple[str, float]] = {}
        self.done = threading.Event()

    def run(self) -> None:
        while not self.done.is_set():
            for pid in process_tree(self.root):
                role = _role(pid)
                kb = _hwm_kb(pid)
                if role and kb:
                    self.hwm[pid] = (role, max(kb, self.hwm.get(pid, (role, 0))[1]))
                    self.cpu[pid] = (role, max(_cpu_seconds(pid), self.cpu.get(pid, (role, 0.0))[1]))
            self.done.wait(self.interval)

    def cpu_seconds(self) -> dict[str, float]:
        """CPU seconds by role (as last sampled: a process's final ``interval`` may be missed)."""
        out = dict.fromkeys(ROLES, 0.0)
        for role, seconds in self.cpu.values():
            out[role] += seconds
        return {k: round(v, 1) for k, v in out.items()}

    def peaks_mb(self) -> dict[str, float]:
        out = dict.fromkeys(ROLES, 0.0)
        for role, kb in self.hwm.values():
            out[role] += kb / 1024
        return {k: round(v, 1) for k, v in out.items()}


# --- running the CLI -----------------------------------------------------------------------------

@dataclass
class StepResult:
    mode: str
    n: int
    step: str
    seconds: float
    rss_mb: dict[str, float]
    cpu_s: dict[str, float]
    load_before: float
    load_after: float
    resources: dict[str, int] = field(default_factory=dict)


@dataclass
class Project:
    dir: pathlib.Path
    env: dict[str, str]
    bucket: str | None = None
    """The stack's bucket on the local S3 server (``--backend s3``); None on a file backend."""

    def pulumi(self, *args: str, timeout: int = 3600) -> tuple[float, TreeSampler, subprocess.CompletedProcess[str]]:
        start = time.perf_counter()
        proc = subprocess.Popen([str(PULUMI), *args, "--non-interactive"], cwd=self.dir, env=self.env,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        sampler = TreeSampler(proc.pid)
        sampler.start()
        try:
            stdout, stderr = proc.communicate(timeout=timeout)
        finally:
            sampler.done.set()
            sampler.join()
        seconds = time.perf_counter() - start
        done = subprocess.CompletedProcess(proc.args, proc.returncode, stdout, stderr)
        if proc.returncode != 0:
            raise RuntimeError(f"pulumi {' '.join(args)} failed in {self.dir}:\n{stdout[-4000:]}\n{stderr[-3000:]}")
        return seconds, sampler, done

    def last_update_changes(self) -> dict[str, int]:
        _, _, proc = self.pulumi("stack", "history", "--json", "-s", "bench")
        history = json.loads(proc.stdout)
        return dict(history[0].get("resourceChanges") or {})


def use_provider_from(env: dict[str, str], bin_dir: pathlib.Path) -> None:
    """Make the CLI run the Kubernetes plugin in ``bin_dir`` instead of the one installed in
    PULUMI_HOME (an A/B against another build of it): a plugin on PATH is an "ambient" plugin,
    which the project's environment otherwise ignores."""
    env["PATH"] = f"{bin_dir}{os.pathsep}{env['PATH']}"
    env["PULUMI_IGNORE_AMBIENT_PLUGINS"] = "false"


def make_project(tmp: pathlib.Path, n: int, kubeconfig: pathlib.Path | None, *,
                 skip_checkpoints: bool = False, tune_gc: bool = False, start_registrations: bool = True,
                 provider: pathlib.Path | None = None, s3: Any = None) -> Project:
    project = pathlib.Path(tempfile.mkdtemp(prefix=f"scale-{n}-", dir=tmp))  # one per mode and size
    (project / "__main__.py").write_text(PROGRAM)
    meta = {"name": "bench-scale", "runtime": {"name": "python",
                                               "options": {"toolchain": "pip", "virtualenv": sys.prefix}}}
    (project / "Pulumi.yaml").write_text(yaml_text.dump(meta))
    bucket = None
    if s3 is None:
        backend = project / ".backend"
        backend.mkdir()
        env = pulumi_env(ROOT, backend_url=backend.as_uri())
    else:  # the local S3 server (tests/s3/moto.py), one bucket per stack
        from tests.s3.moto import AWS_DROP, AWS_ENV
        bucket = project.name.lower().replace("_", "-")
        s3.create_bucket(bucket)
        base = {k: v for k, v in os.environ.items() if k not in AWS_DROP} | AWS_ENV
        env = pulumi_env(ROOT, backend_url=s3.backend_url(bucket), base=base)
    env["PULUMI_CONFIG_PASSPHRASE"] = PASSPHRASE
    env.pop("PULUMI_CONFIG_PASSPHRASE_FILE", None)
    if skip_checkpoints:
        # The file backend rewrites the whole state after every step of an update: O(N) per
        # step, O(N^2) per update. This saves it once at the end (lost if the CLI dies mid-way).
        env["PULUMI_SKIP_CHECKPOINTS"] = "true"
    if provider is not None:
        bin_dir = project / ".provider-bin"
        bin_dir.mkdir()
        (bin_dir / "pulumi-resource-kubernetes").symlink_to(provider.resolve())
        use_provider_from(env, bin_dir)
    p = Project(project, env, bucket)
    p.pulumi("stack", "init", "bench", "--secrets-provider", "passphrase")
    p.pulumi("config", "set", "services", str(n), "-s", "bench")
    if kubeconfig is not None:
        p.pulumi("config", "set", "kubeconfig", str(kubeconfig), "-s", "bench")
    if tune_gc:
        p.pulumi("config", "set", "tune_gc", "true", "-s", "bench")
    if not start_registrations:
        p.pulumi("config", "set", "start_registrations", "false", "-s", "bench")
    return p


def run_size(tmp: pathlib.Path, mode: str, n: int, *, kubeconfig: pathlib.Path | None,
             parallel: int | None, keep: bool = False, json_previews: bool = True, skip_checkpoints: bool = False,
             record: pathlib.Path | None = None, tune_gc: bool = False,
             start_registrations: bool = True, provider: pathlib.Path | None = None,
             s3: Any = None, settle_limit: float = 180.0) -> tuple[list[StepResult], Project]:
    project = make_project(tmp, n, kubeconfig, skip_checkpoints=skip_checkpoints, tune_gc=tune_gc,
                           start_registrations=start_registrations, provider=provider, s3=s3)
    extra = [f"--parallel={parallel}"] if parallel else []
    commands = {"preview": ["preview", *extra], "first up": ["up", "--yes", "--skip-preview", *extra],
                "no-op up": ["up", "--yes", "--skip-preview", *extra], "preview --json": ["preview", "--json", *extra],
                "--show-sames": ["preview", "--json", "--show-sames", *extra]}
    out = []
    for step in STEPS if json_previews else STEPS[:3]:
        _settle(limit=settle_limit)
        load_before = os.getloadavg()[0]
        print(f"  {mode} N={n} {step} ... (load {load_before:.1f})", flush=True)
        seconds, sampler, proc = project.pulumi(*commands[step], "-s", "bench")
        rss = sampler.peaks_mb()
        result = StepResult(mode, n, step, round(seconds, 2), rss, sampler.cpu_seconds(), round(load_before, 1),
                            round(os.getloadavg()[0], 1))
        if step in ("first up", "no-op up"):
            result.resources = project.last_update_changes()
        elif "--json" in commands[step]:
            data = json.loads(proc.stdout)
            result.resources = {"json_bytes": len(proc.stdout), "steps": len(data.get("steps", []))}
        print(f"    {seconds:.1f}s  rss MB {rss}  cpu s {result.cpu_s}  {result.resources}", flush=True)
        out.append(result)
        if record is not None:  # one JSON line per step, as it happens (a long run may be cut short)
            with record.open("a", encoding="utf-8") as f:
                f.write(json.dumps({**asdict(result), "backend": "file" if s3 is None else "s3",
                                    "skip_checkpoints": skip_checkpoints, "tune_gc": tune_gc,
                                    "start_registrations": start_registrations,
                                    "provider": str(provider or "installed")}) + "\n")
    if not keep:  # on a cluster the objects stay (their namespace is per size) until it stops
        shutil.rmtree(project.dir / "build", ignore_errors=True)
    return out, project


def _settle(below: float = 1.5, limit: float = 180.0) -> None:
    """Start each step on a settled machine: after a first `up` against a cluster the control
    plane is still busy with the pods it just created (load ~11 on two cores), and the next step
    would measure that instead of itself. Waits until the 1-minute load is below ``below``, at
    most ``limit`` seconds, and says so."""
    start = time.monotonic()
    while os.getloadavg()[0] >= below and time.monotonic() - start < limit:
        time.sleep(5)
    waited = time.monotonic() - start
    if waited >= 5:
        print(f"    (waited {waited:.0f}s for the load to settle: {os.getloadavg()[0]:.1f})", flush=True)


def _add_nodes(kubeconfig: pathlib.Path, count: int) -> None:
    """More kwok nodes: the local cluster has two of 110 pods each, the sizes here run up to
    (100 + 300 + 1000) x 2 pods at once. Same shape as cluster/local.py's, which kwok runs."""
    capacity = {"cpu": "32", "memory": "256Gi", "pods": "110"}
    items = [{"apiVersion": "v1", "kind": "Node",
              "metadata": {"name": f"kwok-scale-{i}",
                           "annotations": {"kwok.x-k8s.io/node": "fake", "node.alpha.kubernetes.io/ttl": "0"},
                           "labels": {"type": "kwok", "kubernetes.io/hostname": f"kwok-scale-{i}",
                                      "kubernetes.io/os": "linux", "kubernetes.io/arch": "amd64"}},
              "spec": {}, "status": {"allocatable": capacity, "capacity": capacity,
                                     "addresses": [{"type": "InternalIP", "address": "127.0.0.1"}]}}
             for i in range(count)]
    subprocess.run([str(ROOT / ".toolchain" / "cluster" / "bin" / "kubectl"), "--kubeconfig", str(kubeconfig),
                    "apply", "-f", "-"], input=json.dumps({"apiVersion": "v1", "kind": "List", "items": items}),
                   check=True, capture_output=True, text=True, timeout=120)


@contextmanager
def local_cluster(tmp: pathlib.Path) -> Iterator[pathlib.Path]:
    state = tmp / "cluster-state"
    env = {**os.environ, "IMMUTABLE_CLUSTER_STATE": str(state)}
    # kwok nodes: 2,000 pods are scheduled and marked Ready, none runs (a real node would try).
    start = subprocess.run([sys.executable, str(CLUSTER_LOCAL), "start", "--nodes", "kwok"], env=env,
                           capture_output=True, text=True, timeout=600)
    if start.returncode != 0:
        raise RuntimeError(f"cluster/local.py start failed:\n{start.stdout}\n{start.stderr}")
    try:
        _add_nodes(state / "kubeconfig", count=30)
        yield state / "kubeconfig"
    finally:
        subprocess.run([sys.executable, str(CLUSTER_LOCAL), "stop"], env=env, capture_output=True, text=True,
                       timeout=600)


# --- the table -----------------------------------------------------------------------------------

def table(results: list[StepResult]) -> str:
    lines = [f"{'mode':<8} {'N':>5} {'step':<14} {'wall s':>8} {'cli MB':>7} {'lang MB':>8} {'prog MB':>8} "
             f"{'prov MB':>8} {'cpu s cli/lang/prog/prov':>25} {'load':>10}  changes"]
    for r in results:
        lines.append(f"{r.mode:<8} {r.n:>5} {r.step:<14} {r.seconds:>8.1f} {r.rss_mb['cli']:>7.0f} "
                     f"{r.rss_mb['language host']:>8.0f} {r.rss_mb['program']:>8.0f} {r.rss_mb['provider']:>8.0f} "
                     f"{'/'.join(f'{r.cpu_s[k]:.0f}' for k in ROLES):>25} "
                     f"{r.load_before:>4.1f}-{r.load_after:<4.1f}  {r.resources or ''}")
    return "\n".join(lines)


def ratios(results: list[StepResult]) -> list[dict[str, Any]]:
    """time(max N)/time(min N) and peak memory (max over roles of the whole tree) ratios."""
    out = []
    for mode in sorted({r.mode for r in results}):
        sizes = sorted({r.n for r in results if r.mode == mode})
        if len(sizes) < 2:
            continue
        lo, hi = sizes[0], sizes[-1]
        for step in STEPS:
            a = next((r for r in results if (r.mode, r.n, r.step) == (mode, lo, step)), None)
            b = next((r for r in results if (r.mode, r.n, r.step) == (mode, hi, step)), None)
            if a is None or b is None:
                continue
            total_a, total_b = sum(a.rss_mb.values()), sum(b.rss_mb.values())
            out.append({"mode": mode, "step": step, "sizes": f"{hi}/{lo}",
                        "time_ratio": round(b.seconds / a.seconds, 2),
                        "memory_ratio": round(total_b / total_a, 2) if total_a else None,
                        "memory_ratio_by_role": {k: round(b.rss_mb[k] / a.rss_mb[k], 2) if a.rss_mb[k] else None
                                                 for k in ROLES}})
    return out


def main(argv: list[str] | None = None) -> list[StepResult]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="100,300,1000")
    parser.add_argument("--modes", default="render", help="render,cluster")
    parser.add_argument("--parallel", type=int, default=None, help="pulumi --parallel (default: the engine's)")
    parser.add_argument("--no-json-previews", action="store_true", help="skip the two JSON previews")
    parser.add_argument("--json", type=pathlib.Path, default=None, help="also write the results here")
    parser.add_argument("--record", type=pathlib.Path, default=None, help="append one JSON line per step here")
    parser.add_argument("--tune-gc", action="store_true", help="the program freezes the GC's view of imports and "
                        "collects less often (as the example's __main__.py does)")
    parser.add_argument("--skip-checkpoints", action="store_true",
                        help="PULUMI_SKIP_CHECKPOINTS=true: state saved once at the end of an update, not after each step")
    parser.add_argument("--no-start-registrations", action="store_true",
                        help="leave out the program's last line, start_registrations() (for an A/B: the SDK then "
                             "rescans every pending output each time one resolves)")
    parser.add_argument("--provider", type=pathlib.Path, default=None,
                        help="run this pulumi-resource-kubernetes binary instead of the installed one (an A/B "
                        "against another build, e.g. with a fix meant for upstream: bench/UPSTREAM.md)")
    parser.add_argument("--backend", choices=("file", "s3"), default="file",
                        help="the stacks' backend: a file:// directory, or s3:// on a local moto_server "
                        "(tests/s3/moto.py, 127.0.0.1) to compare the checkpoint cost of the two")
    parser.add_argument("--settle-limit", type=float, default=180.0,
                        help="wait at most this long (s) before each step for the load to settle")
    args = parser.parse_args(argv)
    if args.provider is not None and not args.provider.is_file():
        raise SystemExit(f"--provider {args.provider}: no such file")
    if not PULUMI.exists():
        raise SystemExit(f"{PULUMI} is missing: run python3 toolchain/build.py")
    sizes = [int(s) for s in args.sizes.split(",")]
    results: list[StepResult] = []
    print(f"machine: {os.cpu_count()} CPUs, load {os.getloadavg()}, "
          f"{os.sysconf('SC_PAGE_SIZE') * os.sysconf('SC_PHYS_PAGES') / 2**30:.1f} GiB RAM", flush=True)
    options: dict[str, Any] = {
        "parallel": args.parallel, "skip_checkpoints": args.skip_checkpoints, "record": args.record,
        "tune_gc": args.tune_gc, "json_previews": not args.no_json_previews,
        "start_registrations": not args.no_start_registrations, "provider": args.provider,
        "settle_limit": args.settle_limit}
    with tempfile.TemporaryDirectory(prefix="bench-scale-") as name, ExitStack() as stack:
        tmp = pathlib.Path(name)
        if args.backend == "s3":
            from tests.s3.moto import MotoServer
            moto = MotoServer.start(tmp / "moto.log")
            stack.callback(moto.stop)
            options["s3"] = moto
        for mode in args.modes.split(","):
            with local_cluster(tmp) if mode == "cluster" else nullcontext() as kubeconfig:
                for n in sizes:
                    results += run_size(tmp, mode, n, kubeconfig=kubeconfig, **options)[0]
    print()
    print(table(results))
    rs = ratios(results)
    for r in rs:
        print(f"{r['mode']:<8} {r['step']:<14} N {r['sizes']}: time x{r['time_ratio']}, memory x{r['memory_ratio']} "
              f"(by role {r['memory_ratio_by_role']})")
    if args.json:
        args.json.write_text(json.dumps({"provider": str(args.provider or "installed"), "backend": args.backend,
                                         "skip_checkpoints": args.skip_checkpoints,
                                         "results": [asdict(r) for r in results], "ratios": rs}, indent=1) + "\n")
    return results


if __name__ == "__main__":
    main()
