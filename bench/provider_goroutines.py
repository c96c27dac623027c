"""What the Kubernetes provider's goroutines are doing late in a first `up` on the local cluster.

    .venv/bin/python -m bench.provider_goroutines                 # 300 services, dump at 85% created
    .venv/bin/python -m bench.provider_goroutines --services 100 --at 0.5 --dump goroutines.txt

A diagnosis, not a deployment: it starts the local cluster (kwok nodes), runs a first
``pulumi up --parallel 64`` of bench_scale's program, and once a fraction ``--at`` of the
resources are created sends SIGQUIT to the provider, which makes a Go process print every
goroutine's stack and exit (the `up` then fails, and the cluster is stopped). The provider's
stderr is caught by running it through a wrapper on PATH. Prints the goroutines grouped by
state and function, with the provider's peak RSS at that moment.

Why (README, "Scale"): pulumi-kubernetes 4.25 subscribes event handlers to namespace-wide
informers for every object it creates (at least the namespace's Events, plus Pods, ReplicaSets,
Deployments... for a Deployment). A handler sends into the awaiter's channel; once the awaiter
has returned, nothing reads it, and the handler blocks forever, holding its goroutine and the
object it was sending. On 2026-12-01, 300 services, 1,791 of 2,107 resources created: 737 of
the provider's 978 goroutines blocked in those sends (``informers.Factory.Subscribe.func1/2``),
with 64 operations in flight at most. The report and the fix: bench/UPSTREAM.md.
"""

from __future__ import annotations

import argparse
import collections
import os
import pathlib
import re
import signal
import subprocess
import tempfile

from . import bench_scale

PLUGIN = "pulumi-resource-kubernetes"
_HEADER = re.compile(r"^goroutine \d+ .*\[([^\],]+)")


def group(dump: str, depth: int = 4) -> collections.Counter[tuple[str, str]]:
    """(state, the first ``depth`` functions of its stack) -> how many goroutines, from a Go
    traceback (``GOTRACEBACK=all``); runtime frames are kept so that blocking is visible."""
    out: collections.Counter[tuple[str, str]] = collections.Counter()
    for block in re.split(r"\n\s*\n", dump):
        lines = block.strip().splitlines()
        head = _HEADER.match(lines[0]) if lines else None
        if head is None:
            continue
        funcs = [re.sub(r"\([^()]*\)$", "", line.split(" +0x")[0]).rsplit("/", 1)[-1] for line in lines[1:]
                 if line and not line.startswith(("\t", " ", "created by")) and line.endswith(")")]
        out[(head.group(1), " <- ".join(funcs[:depth]))] += 1
    return out


def blocked_in_provider_handlers(groups: collections.Counter[tuple[str, str]]) -> int:
    """Goroutines blocked sending from the provider's informer event handlers."""
    return sum(n for (state, funcs), n in groups.items()
               if state == "chan send" and "informers.Factory.Subscribe.func" in funcs)


def _wrapper(tmp: pathlib.Path, real: pathlib.Path, stderr: pathlib.Path) -> pathlib.Path:
    bin_dir = tmp / "wrap"
    bin_dir.mkdir()
    script = bin_dir / PLUGIN
    script.write_text(f'#!/bin/sh\nexec "{real}" "$@" 2>>"{stderr}"\n')
    script.chmod(0o755)
    return bin_dir


def run(services: int, at: float, provider: pathlib.Path, dump_to: pathlib.Path | None) -> str:
    with tempfile.TemporaryDirectory(prefix="provider-goroutines-") as name:
        tmp = pathlib.Path(name)
        stderr = tmp / "provider.stderr"
        print("starting the local cluster (kwok nodes) ...", flush=True)
        with bench_scale.local_cluster(tmp) as kubeconfig:
            print(f"first `up` of {services} services; the dump comes at {at:.0%} created ...", flush=True)
            project = bench_scale.make_project(tmp, services, kubeconfig, tune_gc=True, skip_checkpoints=True)
            env = dict(project.env)
            bench_scale.use_provider_from(env, _wrapper(tmp, provider, stderr))
            env["GOTRACEBACK"] = "all"
            total = 7 * services + 7  # bench_scale's program: 7 resources per service, 7 more
            proc = subprocess.Popen([str(bench_scale.PULUMI), "up", "--yes", "--skip-preview", "--parallel=64",
                                     "--non-interactive", "-s", "bench"], cwd=project.dir, env=env,
                                    stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
            assert proc.stdout is not None
            created, signalled = 0, ""
            for line in proc.stdout:
                created += " created" in line
                if not signalled and created >= at * total:
                    # Only this `up`'s provider: the CLI's own process tree, as the benchmark samples it.
                    for pid in bench_scale.process_tree(proc.pid):
                        if bench_scale._role(pid) == "provider":
                            signalled += f"provider {pid}: peak RSS {bench_scale._hwm_kb(pid) / 1024:.0f} MB, "
                            os.kill(pid, signal.SIGQUIT)
                    signalled += f"{created} of {total} resources created"
            proc.wait(timeout=600)
        dump = stderr.read_text(errors="replace") if stderr.exists() else ""
        if dump_to is not None:
            dump_to.write_text(dump)
    groups = group(dump)
    lines = [signalled or f"never reached {at:.0%} of {total} created ({created})",
             f"{sum(groups.values())} goroutines; {blocked_in_provider_handlers(groups)} blocked sending from "
             "the provider's informer event handlers"]
    lines += [f"{n:6d}  [{state}] {funcs}" for (state, funcs), n in groups.most_common(12)]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--services", type=int, default=300)
    parser.add_argument("--at", type=float, default=0.85, help="fraction of the resources created before the dump")
    parser.add_argument("--provider", type=pathlib.Path,
                        default=bench_scale.KUBERNETES_PLUGIN,
                        help="the plugin binary to run (default: the toolchain's build)")
    parser.add_argument("--dump", type=pathlib.Path, default=None, help="also keep the whole traceback here")
    args = parser.parse_args(argv)
    if not args.provider.exists():
        raise SystemExit(f"{args.provider} is missing: run python3 toolchain/build.py")
    print(run(args.services, args.at, args.provider.resolve(), args.dump))


if __name__ == "__main__":
    main()
