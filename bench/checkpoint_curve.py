"""The cost curve of a first ``pulumi up`` with checkpoints on, on the file and the S3 backend.

    .venv/bin/python -m bench.checkpoint_curve --sizes 300,1000 --backends file,s3 --limit 900 [--checkpoints on,off] \\
        --record bench/results/<day>-checkpoint-curve.jsonl
    .venv/bin/python -m bench.checkpoint_curve --summarize bench/results/<day>-checkpoint-curve.jsonl

A DIY backend (``file://``, ``s3://``) saves the whole state after every step of an update
(docs/measurements.md, "Checkpoints"), so step k costs about a + b*k and a first ``up`` of R
resources about a*R + b*R^2/2. For each backend and N this runs the first ``up`` of
bench_scale's program (render mode, N blue-green services) with checkpoints on and samples the
checkpoint the backend holds every ``--interval`` seconds: (elapsed, resources saved, CLI CPU).
A run that completes gives its total; one stopped at ``--limit`` gives the curve so far, and
the least-squares fit of t(k) = a*k + c*k^2 on its samples extrapolates the rest (printed as
such, never as a measurement). ``--checkpoints off`` runs the same ``up`` with
``PULUMI_SKIP_CHECKPOINTS=true`` for the baseline (one save at the end). A run's time is exact
(the wait returns when the update ends); the checkpoint is read between waits. The S3 backend is moto_server on 127.0.0.1
(tests/s3/moto.py), one bucket per stack.
"""

from __future__ import annotations

import argparse
import json
import os
import pathlib
import signal
import subprocess
import tempfile
import time
from contextlib import ExitStack, suppress
from dataclasses import asdict, dataclass, field
from typing import Any

from bench.bench_scale import PULUMI, Project, TreeSampler, make_project

STATE_KEY = ".pulumi/stacks/bench-scale/bench.json"
"""Where a DIY backend keeps the stack's checkpoint (project-scoped layout)."""


@dataclass
class Curve:
    backend: str
    n: int
    checkpoints: bool
    total_resources: int = 0
    completed: bool = False
    seconds: float = 0.0
    cli_cpu_s: float = 0.0
    samples: list[tuple[float, int, float]] = field(default_factory=list)
    """(seconds since the start, resources in the saved checkpoint, CLI CPU seconds so far)"""
    fit: dict[str, float] = field(default_factory=dict)


def saved_resources(project: Project, s3: Any) -> int:
    """How many resources the backend's checkpoint holds now (0 before the first save)."""
    try:
        if s3 is None:
            raw = (project.dir / ".backend" / STATE_KEY).read_bytes()
        else:
            raw = s3.client().get_object(Bucket=project.bucket, Key=STATE_KEY)["Body"].read()
        return len(json.loads(raw)["checkpoint"]["latest"].get("resources") or [])
    except (OSError, KeyError, ValueError, TypeError):
        return 0
    except Exception as e:  # boto's NoSuchKey before the first save
        if type(e).__name__ in ("NoSuchKey", "ClientError"):
            return 0
        raise


def _solve(m: list[list[float]], v: list[float]) -> list[float] | None:
    """Gaussian elimination with partial pivoting (a 3x3 system: no numpy for one fit)."""
    n = len(v)
    rows = [[*m[i], v[i]] for i in range(n)]
    for col in range(n):
        pivot = max(range(col, n), key=lambda r: abs(rows[r][col]))
        if rows[pivot][col] == 0:
            return None
        rows[col], rows[pivot] = rows[pivot], rows[col]
        for r in range(n):
            if r != col:
                f = rows[r][col] / rows[col][col]
                rows[r] = [x - f * y for x, y in zip(rows[r], rows[col], strict=True)]
    return [rows[i][n] / rows[i][i] for i in range(n)]


def fit(samples: list[tuple[float, int, float]]) -> dict[str, float]:
    """Least squares t(k) = t0 + a*k + c*k^2 over the samples with k > 0: t0 is the start before
    the first save (the CLI, the program), a the fixed cost of a step, 2c its cost per resource
    already in the state (the whole state is written at every step)."""
    pts = [(float(k), t) for t, k, _ in samples if k > 0]
    if len(pts) < 4:
        return {}
    powers = [[sum(k ** (i + j) for k, _ in pts) for j in range(3)] for i in range(3)]
    sol = _solve(powers, [sum(k ** i * t for k, t in pts) for i in range(3)])
    if sol is None:
        return {}
    return {"t0_s": sol[0], "a_s_per_step": sol[1], "c_s_per_step2": sol[2]}


def extrapolate(curve_fit: dict[str, float], k: int) -> float:
    return curve_fit["t0_s"] + curve_fit["a_s_per_step"] * k + curve_fit["c_s_per_step2"] * k * k


def run_first_up(tmp: pathlib.Path, backend: str, n: int, *, checkpoints: bool, limit: float, interval: float,
                 s3: Any) -> Curve:
    project = make_project(tmp, n, None, skip_checkpoints=not checkpoints, tune_gc=True, s3=s3)
    curve = Curve(backend, n, checkpoints)
    print(f"  {backend} N={n} first up, checkpoints {'on' if checkpoints else 'off'} (limit {limit:.0f} s)", flush=True)
    start = time.perf_counter()
    log = project.dir / "up.log"
    with log.open("w") as out:  # a file, not a pipe: nothing reads it while the update runs
        proc = subprocess.Popen([str(PULUMI), "up", "--yes", "--skip-preview", "--non-interactive", "-s", "bench"],
                                cwd=project.dir, env=project.env, stdout=out, stderr=subprocess.STDOUT,
                                start_new_session=True)
    sampler = TreeSampler(proc.pid)
    sampler.start()
    try:
        while proc.poll() is None and time.perf_counter() - start < limit:
            with suppress(subprocess.TimeoutExpired):  # returns when the update ends: its time is exact
                proc.wait(timeout=min(interval, max(0.1, limit - (time.perf_counter() - start))))
            if checkpoints and proc.poll() is None:
                k = saved_resources(project, s3)
                elapsed = time.perf_counter() - start
                cpu = sampler.cpu_seconds()["cli"]
                curve.samples.append((round(elapsed, 1), k, cpu))
                print(f"    {elapsed:7.1f} s: {k:6d} resources saved, CLI CPU {cpu:7.1f} s", flush=True)
        curve.completed = proc.poll() == 0
        if proc.poll() is None:  # the limit: stop the update (its temporary project goes with it)
            proc.send_signal(signal.SIGINT)
            with suppress(subprocess.TimeoutExpired):
                proc.wait(60)
        elif proc.returncode != 0:
            raise RuntimeError(f"pulumi up failed in {project.dir}: {log.read_text()[-3000:]}")
    finally:
        sampler.done.set()
        sampler.join()
        with suppress(ProcessLookupError):  # the CLI's language host, program and provider too (its session)
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    curve.seconds = round(time.perf_counter() - start, 1)
    curve.cli_cpu_s = sampler.cpu_seconds()["cli"]
    curve.total_resources = saved_resources(project, s3) if curve.completed else 7 * n + 7
    if checkpoints and curve.completed:
        curve.samples.append((curve.seconds, curve.total_resources, curve.cli_cpu_s))
    curve.fit = fit(curve.samples)
    return curve


def describe(c: Curve) -> str:
    head = f"{c.backend:<4} N={c.n:<5} checkpoints {'on ' if c.checkpoints else 'off'}"
    if c.completed:
        return f"{head}: {c.total_resources} resources in {c.seconds:.1f} s, CLI CPU {c.cli_cpu_s:.1f} s (measured)"
    last = c.samples[-1] if c.samples else (c.seconds, 0, c.cli_cpu_s)
    text = f"{head}: stopped at {last[0]:.0f} s with {last[1]} of {c.total_resources} resources saved (measured)"
    if c.fit:
        t0, a, q = c.fit["t0_s"], c.fit["a_s_per_step"], c.fit["c_s_per_step2"]
        total = extrapolate(c.fit, c.total_resources)
        when = f"~{total / 60:.0f} min" if total >= 600 else f"~{total:.0f} s"
        text += (f"; fit t(k) = {t0:.1f} + {a:.4f} k + {q:.3e} k^2 -> all {c.total_resources}: {when} "
                 "(extrapolated)")
    return text


def main(argv: list[str] | None = None) -> list[Curve]:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="300,1000")
    parser.add_argument("--backends", default="file,s3")
    parser.add_argument("--limit", type=float, default=900.0, help="stop a first up after this many seconds")
    parser.add_argument("--interval", type=float, default=15.0, help="seconds between two reads of the checkpoint")
    parser.add_argument("--checkpoints", default="on,off",
                        help="on: checkpoints after every step; off: the --skip-checkpoints baseline (one save)")
    parser.add_argument("--record", type=pathlib.Path, help="append one JSON line per run to this file")
    parser.add_argument("--summarize", type=pathlib.Path, metavar="RECORD",
                        help="run nothing: print the runs recorded in RECORD, fitted again")
    args = parser.parse_args(argv)
    if args.summarize:
        recorded = [Curve(**{**r, "samples": [tuple(s) for s in r["samples"]]})
                    for r in map(json.loads, args.summarize.read_text().splitlines()) if r]
        for c in recorded:
            c.fit = fit(c.samples) if c.checkpoints and not c.completed else c.fit
            print(describe(c))
        return recorded
    curves: list[Curve] = []
    with tempfile.TemporaryDirectory(prefix="bench-ckpt-") as name, ExitStack() as stack:
        tmp = pathlib.Path(name)
        moto = None
        if "s3" in args.backends.split(","):
            from tests.s3.moto import MotoServer
            moto = MotoServer.start(tmp / "moto.log")
            stack.callback(moto.stop)
        for backend in args.backends.split(","):
            for n in (int(s) for s in args.sizes.split(",")):
                runs = [{"on": True, "off": False}[c] for c in args.checkpoints.split(",")]
                for checkpoints in runs:
                    curve = run_first_up(tmp, backend, n, checkpoints=checkpoints, limit=args.limit,
                                         interval=args.interval, s3=moto if backend == "s3" else None)
                    curves.append(curve)
                    print(describe(curve), flush=True)
                    if args.record:
                        with args.record.open("a", encoding="utf-8") as f:
                            f.write(json.dumps(asdict(curve)) + "\n")
    print("\nsummary:")
    for c in curves:
        print(" ", describe(c))
    return curves


if __name__ == "__main__":
    main()
